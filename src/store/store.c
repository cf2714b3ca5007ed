/*
 * store.c - AkiDB's durable store: catalog of tenants and collections, the
 * per-collection point table (id hash, slots reused after deletes), open and
 * close; point writes are in store_points.c, reads and search in
 * store_read.c, recovery from the WAL tail in store_replay.c, snapshots and
 * the thread that takes them in snapshot.c, the copy in an S3 bucket and the
 * restore from it in backup.c.
 */
#include "store/store_int.h"

#include "store/backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HT_EMPTY UINT32_MAX
#define HT_TOMB (UINT32_MAX - 1)

/* ---- logging -------------------------------------------------------------- */

void ak_store_log(akidb_store *s, akidb_log_level lvl, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->opts.log)
        s->opts.log(s->opts.log_ctx, lvl, msg);
    else
        fprintf(stderr, "akidb: %s: %s\n",
                lvl == AKIDB_LOG_ERROR ? "error" : lvl == AKIDB_LOG_WARN ? "warning" : "info",
                msg);
}

/* ---- names and metrics --------------------------------------------------------- */

const char *akidb_metric_name(akidb_metric m)
{
    switch (m) {
    case AKIDB_METRIC_COSINE: return "cosine";
    case AKIDB_METRIC_L2: return "l2";
    case AKIDB_METRIC_DOT: return "dot";
    }
    return "unknown";
}

akidb_status akidb_metric_parse(const char *name, akidb_metric *out)
{
    AK_ASSERT(name && out);
    ak_metric m;
    if (!ak_metric_parse(name, &m))
        return ak_fail(AKIDB_EINVAL, "unknown metric '%s' (cosine, l2, dot)", name);
    *out = (akidb_metric)m;
    return AKIDB_OK;
}

const char *akidb_quantization_name(akidb_quantization q)
{
    switch (q) {
    case AKIDB_QUANT_NONE: return "none";
    case AKIDB_QUANT_SQ8: return "sq8";
    }
    return NULL;
}

static akidb_status check_name(const char *what, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > AKIDB_STORE_NAME_MAX)
        return ak_fail(AKIDB_EINVAL, "%s name '%.80s' must have 1 to %d bytes", what, name,
                       AKIDB_STORE_NAME_MAX);
    if (name[0] == '.')
        return ak_fail(AKIDB_EINVAL, "%s name '%s' must not start with '.'", what, name);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.'))
            return ak_fail(AKIDB_EINVAL,
                           "%s name '%.80s': byte %zu is not one of [A-Za-z0-9_.-]", what,
                           name, i);
    }
    return AKIDB_OK;
}

void akidb_names_free(akidb_names *names)
{
    if (!names)
        return;
    for (size_t i = 0; i < names->n; i++)
        ak_free(names->names[i]);
    ak_free(names->names);
    names->names = NULL;
    names->n = 0;
}

void akidb_points_free(akidb_points *pts)
{
    if (!pts)
        return;
    for (size_t i = 0; i < pts->n; i++) {
        ak_free(pts->items[i].id);
        ak_free(pts->items[i].text);
        ak_free(pts->items[i].payload);
        ak_free(pts->items[i].vector);
    }
    ak_free(pts->items);
    ak_free(pts->next_cursor);
    memset(pts, 0, sizeof *pts);
}

/* ---- collections: table and hash ------------------------------------------------ */

static uint64_t hash_id(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

ak_coll *ak_coll_new(const char *tenant, const char *name, uint32_t dim,
                     akidb_metric metric, const char *model, uint32_t M, uint32_t efc)
{
    ak_coll *c = ak_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (model && !(c->model = ak_strdup(model))) {
        ak_free(c);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->dim = dim;
    c->metric = metric;
    c->M = M;
    c->efc = efc;
    pthread_mutex_init(&c->wmu, NULL);
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->rw, &a);
    pthread_rwlockattr_destroy(&a);
    return c;
}

void ak_coll_slot_clear(pslot *s)
{
    ak_free(s->id);
    ak_free(s->text);
    if (s->payload)
        json_decref(s->payload);
    s->id = NULL;
    s->text = NULL;
    s->payload = NULL;
    s->id_len = 0;
}

void ak_coll_unref(ak_coll *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    for (uint32_t i = 0; i < c->n_slots; i++)
        ak_coll_slot_clear(&c->slots[i]);
    ak_free(c->slots);
    ak_free(c->free_labels);
    ak_free(c->ht);
    ak_free(c->zombies);
    ak_free(c->model);
    ak_index_free(&c->index);
    for (size_t i = 0; i < c->n_segs; i++)
        ak_segment_unref(c->segs[i]);
    ak_free(c->segs);
    pthread_mutex_destroy(&c->wmu);
    pthread_rwlock_destroy(&c->rw);
    ak_free(c);
}

uint32_t ak_coll_find(const ak_coll *c, const char *id, size_t len)
{
    if (!c->ht_cap)
        return AK_NO_LABEL;
    size_t mask = c->ht_cap - 1;
    for (size_t i = hash_id(id, len) & mask;; i = (i + 1) & mask) {
        uint32_t l = c->ht[i];
        if (l == HT_EMPTY)
            return AK_NO_LABEL;
        if (l != HT_TOMB && c->slots[l].id_len == len && memcmp(c->slots[l].id, id, len) == 0)
            return l;
    }
}

void ak_coll_ht_insert(ak_coll *c, uint32_t label)
{
    size_t mask = c->ht_cap - 1;
    const pslot *s = &c->slots[label];
    for (size_t i = hash_id(s->id, s->id_len) & mask;; i = (i + 1) & mask) {
        if (c->ht[i] == HT_EMPTY || c->ht[i] == HT_TOMB) {
            if (c->ht[i] == HT_EMPTY)
                c->ht_used++;
            c->ht[i] = label;
            return;
        }
    }
}

void ak_coll_ht_remove(ak_coll *c, uint32_t label)
{
    size_t mask = c->ht_cap - 1;
    const pslot *s = &c->slots[label];
    for (size_t i = hash_id(s->id, s->id_len) & mask;; i = (i + 1) & mask) {
        if (c->ht[i] == HT_EMPTY)
            return;
        if (c->ht[i] == label) {
            c->ht[i] = HT_TOMB;
            return;
        }
    }
}

akidb_status ak_coll_oom(const ak_coll *c)
{
    return ak_fail(AKIDB_ENOMEM, "collection '%s/%s': out of memory", c->tenant, c->name);
}

akidb_status ak_coll_reserve(ak_coll *c, size_t n)
{
    /* Slots: at most n new ones beyond the free list. */
    size_t need = (size_t)c->n_slots + n;
    if (need > (size_t)AK_INDEX_MAX_LABEL)
        return ak_fail(AKIDB_ERANGE, "collection '%s/%s': too many points", c->tenant, c->name);
    if (need > c->cap_slots) {
        size_t cap = c->cap_slots ? c->cap_slots : 64;
        while (cap < need)
            cap *= 2;
        pslot *p = ak_realloc(c->slots, cap * sizeof *p);
        if (!p)
            return ak_coll_oom(c);
        memset(p + c->cap_slots, 0, (cap - c->cap_slots) * sizeof *p);
        c->slots = p;
        c->cap_slots = (uint32_t)cap;
    }
    /* Free list and zombie list must take every slot without allocating. */
    if (c->cap_free < c->cap_slots) {
        uint32_t *f = ak_realloc(c->free_labels, (size_t)c->cap_slots * sizeof *f);
        if (!f)
            return ak_coll_oom(c);
        c->free_labels = f;
        c->cap_free = c->cap_slots;
    }
    if (c->cap_zombies < c->cap_slots) {
        uint32_t *z = ak_realloc(c->zombies, (size_t)c->cap_slots * sizeof *z);
        if (!z)
            return ak_coll_oom(c);
        c->zombies = z;
        c->cap_zombies = c->cap_slots;
    }
    /* Hash: keep (used + n) below 70% of capacity. */
    size_t want = c->ht_used + n;
    if (want * 10 >= c->ht_cap * 7) {
        size_t cap = 64;
        while ((c->n_live + n) * 10 >= cap * 5)
            cap *= 2;
        uint32_t *old = c->ht;
        size_t old_cap = c->ht_cap;
        uint32_t *h = ak_malloc(cap * sizeof *h);
        if (!h)
            return ak_coll_oom(c);
        memset(h, 0xFF, cap * sizeof *h);
        c->ht = h;
        c->ht_cap = cap;
        c->ht_used = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i] != HT_EMPTY && old[i] != HT_TOMB)
                ak_coll_ht_insert(c, old[i]);
        ak_free(old);
    }
    return AKIDB_OK;
}

/* Takes a label for a new point (reserve first). */
uint32_t ak_coll_take_label(ak_coll *c)
{
    if (c->n_free)
        return c->free_labels[--c->n_free];
    return c->n_slots++;
}

/* Returns a label to the free list (slot data already cleared, not in index). */
void ak_coll_give_label(ak_coll *c, uint32_t l)
{
    atomic_store_explicit(&c->slots[l].state, SLOT_FREE, memory_order_release);
    c->free_labels[c->n_free++] = l;
}

/* Removes labels (already invisible, data cleared) from the index; those that
 * cannot be removed now become zombies, retried by the next write. */
void ak_coll_retire_labels(ak_coll *c, const uint32_t *labels, size_t n)
{
    if (!n)
        return;
    akidb_status st = ak_index_remove_batch(&c->index, labels, n, NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t l = labels[i];
        if (st == AKIDB_OK || !ak_index_contains(&c->index, l)) {
            c->slots[l].in_index = false;
            ak_coll_give_label(c, l);
        } else {
            c->zombies[c->n_zombies++] = l;
        }
    }
}

void ak_coll_retry_zombies(ak_coll *c)
{
    if (!c->n_zombies)
        return;
    size_t n = c->n_zombies;
    uint32_t *tmp = ak_malloc(n * sizeof *tmp);
    if (!tmp)
        return;
    memcpy(tmp, c->zombies, n * sizeof *tmp);
    c->n_zombies = 0;
    ak_coll_retire_labels(c, tmp, n);
    ak_free(tmp);
}

/* ---- catalog ------------------------------------------------------------------- */

ak_tenant *ak_store_find_tenant(akidb_store *s, const char *name)
{
    for (size_t i = 0; i < s->n_tenants; i++)
        if (strcmp(s->tenants[i]->name, name) == 0)
            return s->tenants[i];
    return NULL;
}

static ak_coll *tenant_find_coll(const ak_tenant *t, const char *name, size_t *idx)
{
    for (size_t i = 0; i < t->n_colls; i++)
        if (strcmp(t->colls[i]->name, name) == 0) {
            if (idx)
                *idx = i;
            return t->colls[i];
        }
    return NULL;
}

static bool reserve_ptrs(void ***arr, size_t *cap, size_t n)
{
    if (n <= *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 8;
    while (c < n)
        c *= 2;
    void **p = ak_realloc(*arr, c * sizeof *p);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

akidb_status ak_store_add_tenant(akidb_store *s, const char *name, ak_tenant **out)
{
    ak_tenant *t = ak_calloc(1, sizeof *t);
    if (!t || !reserve_ptrs((void ***)&s->tenants, &s->cap_tenants, s->n_tenants + 1)) {
        ak_free(t);
        return ak_fail(AKIDB_ENOMEM, "tenant '%s': out of memory", name);
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    s->tenants[s->n_tenants++] = t;
    if (out)
        *out = t;
    return AKIDB_OK;
}

akidb_status ak_tenant_add_coll(ak_tenant *t, ak_coll *c)
{
    if (!reserve_ptrs((void ***)&t->colls, &t->cap_colls, t->n_colls + 1))
        return ak_fail(AKIDB_ENOMEM, "collection '%s/%s': out of memory", t->name, c->name);
    t->colls[t->n_colls++] = c;
    return AKIDB_OK;
}

void ak_tenant_free(ak_tenant *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_colls; i++)
        ak_coll_unref(t->colls[i]);
    ak_free(t->colls);
    ak_free(t);
}

static void remove_tenant_at(akidb_store *s, size_t i)
{
    memmove(&s->tenants[i], &s->tenants[i + 1], (s->n_tenants - i - 1) * sizeof *s->tenants);
    s->n_tenants--;
}

/* Looks up a collection and takes a reference. */
akidb_status ak_store_get_coll(akidb_store *s, const char *tenant, const char *name,
                             ak_coll **out)
{
    AK_ASSERT(s && tenant && name && out);
    pthread_rwlock_rdlock(&s->cat);
    ak_tenant *t = ak_store_find_tenant(s, tenant);
    ak_coll *c = t ? tenant_find_coll(t, name, NULL) : NULL;
    if (c)
        atomic_fetch_add(&c->refs, 1);
    pthread_rwlock_unlock(&s->cat);
    if (!t)
        return ak_fail(AKIDB_ENOENT, "tenant '%.80s' not found", tenant);
    if (!c)
        return ak_fail(AKIDB_ENOENT, "collection '%.80s' not found in tenant '%s'", name,
                       tenant);
    *out = c;
    return AKIDB_OK;
}

/* Logs a record durably (no-op during replay, when s->wal is NULL). */
akidb_status ak_store_log_record(akidb_store *s, uint8_t type, const ak_buf *b)
{
    if (!s->wal)
        return AKIDB_OK;
    if (b->oom)
        return ak_fail(AKIDB_ENOMEM, "WAL record: out of memory");
    uint64_t lsn;
    akidb_status st = ak_wal_append(s->wal, type, b->p, b->n, &lsn);
    if (st == AKIDB_OK)
        st = ak_wal_sync(s->wal, lsn);
    return st;
}

/* Tenant ops, shared by the API (with logging) and replay (without). */
akidb_status ak_store_tenant_create_impl(akidb_store *s, const char *name, bool replay)
{
    akidb_status st = check_name("tenant", name);
    if (st != AKIDB_OK)
        return st;
    pthread_mutex_lock(&s->cat_wmu);
    ak_tenant *t = ak_store_find_tenant(s, name);
    if (t && !replay) {
        pthread_mutex_unlock(&s->cat_wmu);
        return ak_fail(AKIDB_EEXIST, "tenant '%s' already exists", name);
    }
    if (!reserve_ptrs((void ***)&s->tenants, &s->cap_tenants, s->n_tenants + 1)) {
        pthread_mutex_unlock(&s->cat_wmu);
        return ak_fail(AKIDB_ENOMEM, "tenant '%s': out of memory", name);
    }
    ak_buf b = { 0 };
    ak_buf_str8(&b, name, strlen(name));
    st = ak_store_log_record(s, AK_WAL_TENANT_CREATE, &b);
    ak_buf_free(&b);
    if (st == AKIDB_OK) {
        pthread_rwlock_wrlock(&s->cat);
        if (t) { /* replay: creation resets the tenant */
            for (size_t i = 0; i < s->n_tenants; i++)
                if (s->tenants[i] == t)
                    remove_tenant_at(s, i);
            ak_tenant_free(t);
        }
        st = ak_store_add_tenant(s, name, NULL);
        pthread_rwlock_unlock(&s->cat);
    }
    pthread_mutex_unlock(&s->cat_wmu);
    return st;
}

static void kill_coll(ak_coll *c)
{
    pthread_mutex_lock(&c->wmu);
    c->dead = true;
    pthread_mutex_unlock(&c->wmu);
}

akidb_status ak_store_tenant_delete_impl(akidb_store *s, const char *name, bool replay)
{
    pthread_mutex_lock(&s->cat_wmu);
    ak_tenant *t = ak_store_find_tenant(s, name);
    if (!t) {
        pthread_mutex_unlock(&s->cat_wmu);
        return replay ? AKIDB_OK : ak_fail(AKIDB_ENOENT, "tenant '%.80s' not found", name);
    }
    ak_buf b = { 0 };
    ak_buf_str8(&b, name, strlen(name));
    akidb_status st = ak_store_log_record(s, AK_WAL_TENANT_DELETE, &b);
    ak_buf_free(&b);
    if (st == AKIDB_OK) {
        pthread_rwlock_wrlock(&s->cat);
        for (size_t i = 0; i < s->n_tenants; i++)
            if (s->tenants[i] == t)
                remove_tenant_at(s, i);
        pthread_rwlock_unlock(&s->cat);
        for (size_t i = 0; i < t->n_colls; i++)
            kill_coll(t->colls[i]);
        ak_tenant_free(t);
    }
    pthread_mutex_unlock(&s->cat_wmu);
    return st;
}

akidb_status akidb_tenant_create(akidb_store *s, const char *tenant)
{
    AK_ASSERT(s && tenant);
    return ak_store_tenant_create_impl(s, tenant, false);
}

akidb_status akidb_tenant_delete(akidb_store *s, const char *tenant)
{
    AK_ASSERT(s && tenant);
    return ak_store_tenant_delete_impl(s, tenant, false);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *tenant_name(const void *arr, size_t i)
{
    return ((ak_tenant *const *)arr)[i]->name;
}

static const char *coll_name(const void *arr, size_t i)
{
    return ((ak_coll *const *)arr)[i]->name;
}

/* Fills out (zeroed by the caller) with sorted copies of the names of the n
 * objects of arr, name_of(arr, i) giving the i-th.  On failure out is
 * freed. */
static akidb_status names_fill(akidb_names *out, const void *arr, size_t n,
                               const char *(*name_of)(const void *arr, size_t i))
{
    out->names = ak_calloc(n + 1, sizeof *out->names);
    if (!out->names)
        return ak_fail(AKIDB_ENOMEM, "out of memory listing names");
    for (size_t i = 0; i < n; i++) {
        char *d = ak_strdup(name_of(arr, i));
        if (!d) {
            akidb_names_free(out);
            return ak_fail(AKIDB_ENOMEM, "out of memory listing names");
        }
        out->names[out->n++] = d;
    }
    qsort(out->names, out->n, sizeof *out->names, cmp_str);
    return AKIDB_OK;
}

akidb_status akidb_tenant_list(akidb_store *s, akidb_names *out)
{
    AK_ASSERT(s && out);
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&s->cat);
    akidb_status st = names_fill(out, s->tenants, s->n_tenants, tenant_name);
    pthread_rwlock_unlock(&s->cat);
    return st;
}

/* ---- collections ------------------------------------------------------------------- */

/* The record of a collection create (docs/FORMAT.md): the quantisation
 * settings follow the model only for a quantised collection, so the record
 * of any other is the one written before quantisation existed. */
static void encode_coll_create(ak_buf *b, const ak_coll *c)
{
    ak_buf_str8(b, c->tenant, strlen(c->tenant));
    ak_buf_str8(b, c->name, strlen(c->name));
    ak_buf_u32(b, c->dim);
    ak_buf_u8(b, (uint8_t)c->metric);
    ak_buf_u32(b, c->M);
    ak_buf_u32(b, c->efc);
    size_t ml = c->model ? strlen(c->model) : 0;
    ak_buf_u16(b, (uint16_t)ml);
    ak_buf_put(b, c->model, ml);
    if (c->quant != AKIDB_QUANT_NONE) {
        uint32_t q;
        memcpy(&q, &c->quantile, 4);
        ak_buf_u8(b, (uint8_t)c->quant);
        ak_buf_u32(b, q);
    }
}

/* Creates the index of a collection (the default kind, "hnsw"). */
akidb_status ak_coll_make_index(ak_coll *c)
{
    ak_index_params p = { 0 };
    p.dim = c->dim;
    p.metric = (ak_metric)c->metric;
    p.M = c->M;
    p.ef_construction = c->efc;
    p.seed = hash_id(c->name, strlen(c->name)) ^ 0x5eedull;
    p.capacity = 0;
    p.quant = c->quant == AKIDB_QUANT_SQ8 ? AK_QUANT_SQ8 : AK_QUANT_NONE;
    p.quantile = c->quantile;
    akidb_status st = ak_index_create(NULL, &p, &c->index);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "collection '%s/%s'", c->tenant, c->name);
    return AKIDB_OK;
}

akidb_status ak_store_coll_create_impl(akidb_store *s, const char *tenant, const char *name,
                                     const akidb_collection_opts *o, bool replay)
{
    akidb_status st;
    if ((st = check_name("tenant", tenant)) != AKIDB_OK ||
        (st = check_name("collection", name)) != AKIDB_OK)
        return st;
    if (o->dim < 1 || o->dim > AKIDB_DIM_MAX)
        return ak_fail(AKIDB_ERANGE, "collection '%s/%s': dimension %u is outside 1..%d", tenant,
                       name, o->dim, AKIDB_DIM_MAX);
    if ((unsigned)o->metric > AKIDB_METRIC_DOT)
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': unknown metric %d", tenant, name,
                       (int)o->metric);
    uint32_t M = o->hnsw_m ? o->hnsw_m : 16, efc = o->hnsw_ef_construction ? o->hnsw_ef_construction : 200;
    if (M < 2 || M > 128)
        return ak_fail(AKIDB_ERANGE, "collection '%s/%s': hnsw M %u is outside 2..128", tenant,
                       name, M);
    if (efc < 4 || efc > 4096)
        return ak_fail(AKIDB_ERANGE, "collection '%s/%s': hnsw ef_construction %u is outside 4..4096",
                       tenant, name, efc);
    const char *model = o->model && o->model[0] ? o->model : NULL;
    if (model && (strlen(model) > AKIDB_MODEL_NAME_MAX || !ak_utf8_valid(model, strlen(model), NULL)))
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': model name must be valid UTF-8 of at most %d bytes",
                       tenant, name, AKIDB_MODEL_NAME_MAX);
    if (!akidb_quantization_name(o->quantization))
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': unknown quantization %d", tenant, name,
                       (int)o->quantization);
    float quantile = o->quantization == AKIDB_QUANT_SQ8 && o->quantile == 0
                         ? AK_SQ8_QUANTILE_DEFAULT
                         : o->quantile;
    if (o->quantization == AKIDB_QUANT_NONE ? quantile != 0
                                            : !(quantile >= 0.5f && quantile <= 1.0f))
        return ak_fail(AKIDB_ERANGE, "collection '%s/%s': quantile %g is outside 0.5..1%s",
                       tenant, name, (double)quantile,
                       o->quantization == AKIDB_QUANT_NONE ? " or set without quantization" : "");

    pthread_mutex_lock(&s->cat_wmu);
    ak_tenant *t = ak_store_find_tenant(s, tenant);
    ak_coll *old = NULL;
    size_t old_idx = 0;
    if (!t) {
        pthread_mutex_unlock(&s->cat_wmu);
        if (replay)
            return AKIDB_OK;
        return ak_fail(AKIDB_ENOENT, "tenant '%.80s' not found", tenant);
    }
    old = tenant_find_coll(t, name, &old_idx);
    if (old && !replay) {
        pthread_mutex_unlock(&s->cat_wmu);
        return ak_fail(AKIDB_EEXIST, "collection '%s' already exists in tenant '%s'", name, tenant);
    }
    ak_coll *c = ak_coll_new(tenant, name, o->dim, o->metric, model, M, efc);
    if (!c) {
        pthread_mutex_unlock(&s->cat_wmu);
        return ak_fail(AKIDB_ENOMEM, "collection '%s/%s': out of memory", tenant, name);
    }
    c->quant = o->quantization;
    c->quantile = quantile;
    st = ak_coll_make_index(c);
    if (st == AKIDB_OK && !reserve_ptrs((void ***)&t->colls, &t->cap_colls, t->n_colls + 1))
        st = ak_coll_oom(c);
    if (st == AKIDB_OK) {
        ak_buf b = { 0 };
        encode_coll_create(&b, c);
        st = ak_store_log_record(s, AK_WAL_COLL_CREATE, &b);
        ak_buf_free(&b);
    }
    if (st != AKIDB_OK) {
        ak_coll_unref(c);
        pthread_mutex_unlock(&s->cat_wmu);
        return st;
    }
    pthread_rwlock_wrlock(&s->cat);
    if (old)
        t->colls[old_idx] = c;   /* replay: creation resets the collection */
    else
        t->colls[t->n_colls++] = c;
    pthread_rwlock_unlock(&s->cat);
    if (old) {
        kill_coll(old);
        ak_coll_unref(old);
    }
    pthread_mutex_unlock(&s->cat_wmu);
    return AKIDB_OK;
}

akidb_status akidb_collection_create(akidb_store *s, const char *tenant, const char *name,
                                     const akidb_collection_opts *opts)
{
    AK_ASSERT(s && tenant && name && opts);
    return ak_store_coll_create_impl(s, tenant, name, opts, false);
}

akidb_status ak_store_coll_delete_impl(akidb_store *s, const char *tenant, const char *name,
                                     bool replay)
{
    pthread_mutex_lock(&s->cat_wmu);
    ak_tenant *t = ak_store_find_tenant(s, tenant);
    size_t idx = 0;
    ak_coll *c = t ? tenant_find_coll(t, name, &idx) : NULL;
    if (!c) {
        pthread_mutex_unlock(&s->cat_wmu);
        if (replay)
            return AKIDB_OK;
        if (!t)
            return ak_fail(AKIDB_ENOENT, "tenant '%.80s' not found", tenant);
        return ak_fail(AKIDB_ENOENT, "collection '%.80s' not found in tenant '%s'", name, tenant);
    }
    pthread_mutex_lock(&c->wmu);
    ak_buf b = { 0 };
    ak_buf_str8(&b, tenant, strlen(tenant));
    ak_buf_str8(&b, name, strlen(name));
    akidb_status st = ak_store_log_record(s, AK_WAL_COLL_DELETE, &b);
    ak_buf_free(&b);
    if (st == AKIDB_OK) {
        pthread_rwlock_wrlock(&s->cat);
        memmove(&t->colls[idx], &t->colls[idx + 1], (t->n_colls - idx - 1) * sizeof *t->colls);
        t->n_colls--;
        pthread_rwlock_unlock(&s->cat);
        c->dead = true;
    }
    pthread_mutex_unlock(&c->wmu);
    if (st == AKIDB_OK)
        ak_coll_unref(c);
    pthread_mutex_unlock(&s->cat_wmu);
    return st;
}

akidb_status akidb_collection_delete(akidb_store *s, const char *tenant, const char *name)
{
    AK_ASSERT(s && tenant && name);
    return ak_store_coll_delete_impl(s, tenant, name, false);
}

akidb_status akidb_collection_get_info(akidb_store *s, const char *tenant, const char *name,
                                       akidb_collection_info *info)
{
    AK_ASSERT(info);
    ak_coll *c;
    akidb_status st = ak_store_get_coll(s, tenant, name, &c);
    if (st != AKIDB_OK)
        return st;
    memset(info, 0, sizeof *info);
    snprintf(info->tenant, sizeof info->tenant, "%s", c->tenant);
    snprintf(info->name, sizeof info->name, "%s", c->name);
    info->dim = c->dim;
    info->metric = c->metric;
    snprintf(info->model, sizeof info->model, "%s", c->model ? c->model : "");
    info->hnsw_m = c->M;
    info->hnsw_ef_construction = c->efc;
    info->quantization = c->quant;
    info->quantile = c->quantile;
    pthread_rwlock_rdlock(&c->rw);
    info->n_points = c->n_live + c->seg_live;
    pthread_rwlock_unlock(&c->rw);
    ak_coll_unref(c);
    return AKIDB_OK;
}

akidb_status akidb_collection_list(akidb_store *s, const char *tenant, akidb_names *out)
{
    AK_ASSERT(s && tenant && out);
    memset(out, 0, sizeof *out);
    akidb_status st;
    pthread_rwlock_rdlock(&s->cat);
    ak_tenant *t = ak_store_find_tenant(s, tenant);
    if (!t)
        st = ak_fail(AKIDB_ENOENT, "tenant '%.80s' not found", tenant);
    else
        st = names_fill(out, t->colls, t->n_colls, coll_name);
    pthread_rwlock_unlock(&s->cat);
    return st;
}

static void store_free(akidb_store *s)
{
    ak_backup_free(s);
    ak_snapshot_thread_destroy(s);
    for (size_t i = 0; i < s->n_tenants; i++)
        ak_tenant_free(s->tenants[i]);
    ak_free(s->tenants);
    ak_wal_close(s->wal);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    pthread_rwlock_destroy(&s->cat);
    pthread_mutex_destroy(&s->cat_wmu);
    pthread_mutex_destroy(&s->snap_mu);
    ak_free(s->dir);
    ak_free(s);
}

akidb_status akidb_store_open(const char *dir, const akidb_store_opts *opts, akidb_store **out)
{
    AK_ASSERT(dir && out);
    *out = NULL;
    ak_json_init();
    akidb_store *s = ak_calloc(1, sizeof *s);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    s->lock_fd = -1;
    if (opts)
        s->opts = *opts;
    pthread_rwlock_init(&s->cat, NULL);
    pthread_mutex_init(&s->cat_wmu, NULL);
    pthread_mutex_init(&s->snap_mu, NULL);
    ak_snapshot_thread_init(s);
    akidb_status st = AKIDB_OK;
    if (!(s->dir = ak_strdup(dir))) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        st = ak_fail(AKIDB_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
        goto fail;
    }
    char *lp = ak_path_join(dir, "LOCK");
    if (!lp) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    s->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        st = ak_fail(AKIDB_EIO, "%s: %s", lp, strerror(errno));
        ak_free(lp);
        goto fail;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        st = ak_fail(errno == EWOULDBLOCK ? AKIDB_EBUSY : AKIDB_EIO,
                     "%s: store is open in another process or handle (%s)", lp, strerror(errno));
        ak_free(lp);
        goto fail;
    }
    ak_free(lp);
    ak_store_remove_tmp_files(s);
    /* An empty folder with a bucket configured is restored from it. */
    if ((st = ak_backup_open(s)) != AKIDB_OK || (st = ak_backup_restore(s)) != AKIDB_OK)
        goto fail;

    /* Newest snapshot. */
    ak_seg *snaps;
    size_t n_snaps;
    if ((st = ak_store_list_files(dir, "snap-", ".akdb", &snaps, &n_snaps)) != AKIDB_OK)
        goto fail;
    uint64_t snap_lsn = 1;
    if (n_snaps) {
        struct stat sb;
        uint64_t size = stat(snaps[n_snaps - 1].name, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        ak_store_report(s, "snapshot", 0, size);
        st = ak_snapshot_load(s, snaps[n_snaps - 1].name, &snap_lsn);
        if (st == AKIDB_OK)
            ak_store_report(s, "snapshot", size, size);
        if (st == AKIDB_OK)
            for (size_t i = 0; i + 1 < n_snaps; i++)
                unlink(snaps[i].name);
    }
    ak_store_free_segs(snaps, n_snaps);
    if (st != AKIDB_OK)
        goto fail;
    s->snap_lsn = snap_lsn;
    ak_seg_after_open(s);
    if ((st = ak_store_recover_wal(s, snap_lsn)) != AKIDB_OK)
        goto fail;
    if ((st = ak_snapshot_thread_start(s)) != AKIDB_OK || (st = ak_backup_start(s)) != AKIDB_OK)
        goto fail;
    *out = s;
    return AKIDB_OK;
fail:
    store_free(s);
    return st;
}

akidb_status akidb_store_close(akidb_store *s)
{
    if (!s)
        return AKIDB_OK;
    akidb_status st = AKIDB_OK;
    ak_snapshot_thread_stop(s);   /* after the snapshot it may be writing */
    if (!s->opts.no_snapshot_on_close && ak_wal_last_lsn(s->wal) >= atomic_load(&s->snap_lsn))
        st = akidb_store_snapshot(s);
    ak_backup_stop(s);   /* its last round ships the final snapshot, or the tail */
    store_free(s);
    return st;
}

void akidb_store_get_stats(akidb_store *s, akidb_store_stats *st)
{
    AK_ASSERT(s && st);
    memset(st, 0, sizeof *st);
    st->wal_bytes = ak_wal_bytes(s->wal);
    st->last_lsn = ak_wal_last_lsn(s->wal);
    st->snapshot_lsn = atomic_load(&s->snap_lsn);
    pthread_mutex_lock(&s->bg_mu);
    st->snapshot_running = s->bg_running;
    st->snapshots_background = s->bg_done;
    st->snapshots_failed = s->bg_failed;
    st->snapshot_status = s->bg_err;
    snprintf(st->snapshot_error, sizeof st->snapshot_error, "%s", s->bg_msg);
    pthread_mutex_unlock(&s->bg_mu);
    ak_backup_stats(s, st);
    st->segments_sealed = atomic_load(&s->seg_sealed);
    st->segments_compacted = atomic_load(&s->seg_compacted);
    st->segment_bytes_written = atomic_load(&s->seg_bytes_written);
    pthread_rwlock_rdlock(&s->cat);
    st->n_tenants = s->n_tenants;
    for (size_t i = 0; i < s->n_tenants; i++) {
        st->n_collections += s->tenants[i]->n_colls;
        for (size_t j = 0; j < s->tenants[i]->n_colls; j++) {
            ak_coll *c = s->tenants[i]->colls[j];
            pthread_rwlock_rdlock(&c->rw);
            st->segments += c->n_segs;
            pthread_rwlock_unlock(&c->rw);
        }
    }
    pthread_rwlock_unlock(&s->cat);
}
