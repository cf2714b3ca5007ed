/*
 * store.c - AkiDB's durable store: catalog of tenants and collections, the
 * per-collection point table (id hash, slots reused after deletes), writes
 * through the write-ahead log, search through the HNSW index with payload
 * filters, and recovery (snapshot + WAL tail) on open.
 *
 * Write path of a point batch (one collection):
 *   1. validate and encode outside any lock (vectors, ids, payload JSON);
 *   2. take the collection's writer mutex (writers of one collection are
 *      serialised so that log order equals apply order);
 *   3. reserve table room (brief write lock), fill new PENDING slots and add
 *      their vectors to the index - invisible to readers, which only accept
 *      LIVE slots; any failure here is rolled back and nothing was logged;
 *   4. append one WAL record for the whole batch and fsync (group commit with
 *      other collections) - the write is now durable;
 *   5. publish under the collection's write lock: new slots LIVE, replaced
 *      ones DEAD, id hash updated (no allocation, cannot fail);
 *   6. remove the replaced labels from the index in one batch and recycle
 *      their slots (a failure here only leaves invisible "zombie" labels that
 *      the next write retries).
 * Readers (search, get, count, scroll) hold the collection's read lock and
 * wait only for step 5.  Recovery replays WAL records with the same code
 * minus step 4.
 */
#include "store/store_int.h"

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
#define MAX_BATCH 100000u
#define MAX_TOPK 10000u
#define MAX_SCROLL 10000u

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

static void slot_clear(pslot *s)
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
        slot_clear(&c->slots[i]);
    ak_free(c->slots);
    ak_free(c->free_labels);
    ak_free(c->ht);
    ak_free(c->zombies);
    ak_free(c->model);
    ak_hnsw_free(c->index);
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

static void ht_remove(ak_coll *c, uint32_t label)
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

static akidb_status coll_oom(const ak_coll *c)
{
    return ak_fail(AKIDB_ENOMEM, "collection '%s/%s': out of memory", c->tenant, c->name);
}

akidb_status ak_coll_reserve(ak_coll *c, size_t n)
{
    /* Slots: at most n new ones beyond the free list. */
    size_t need = (size_t)c->n_slots + n;
    if (need > (size_t)AK_HNSW_MAX_LABEL)
        return ak_fail(AKIDB_ERANGE, "collection '%s/%s': too many points", c->tenant, c->name);
    if (need > c->cap_slots) {
        size_t cap = c->cap_slots ? c->cap_slots : 64;
        while (cap < need)
            cap *= 2;
        pslot *p = ak_realloc(c->slots, cap * sizeof *p);
        if (!p)
            return coll_oom(c);
        memset(p + c->cap_slots, 0, (cap - c->cap_slots) * sizeof *p);
        c->slots = p;
        c->cap_slots = (uint32_t)cap;
    }
    /* Free list and zombie list must take every slot without allocating. */
    if (c->cap_free < c->cap_slots) {
        uint32_t *f = ak_realloc(c->free_labels, (size_t)c->cap_slots * sizeof *f);
        if (!f)
            return coll_oom(c);
        c->free_labels = f;
        c->cap_free = c->cap_slots;
    }
    if (c->cap_zombies < c->cap_slots) {
        uint32_t *z = ak_realloc(c->zombies, (size_t)c->cap_slots * sizeof *z);
        if (!z)
            return coll_oom(c);
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
            return coll_oom(c);
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
static uint32_t take_label(ak_coll *c)
{
    if (c->n_free)
        return c->free_labels[--c->n_free];
    return c->n_slots++;
}

/* Returns a label to the free list (slot data already cleared, not in index). */
static void give_label(ak_coll *c, uint32_t l)
{
    atomic_store_explicit(&c->slots[l].state, SLOT_FREE, memory_order_release);
    c->free_labels[c->n_free++] = l;
}

/* Removes labels (already invisible, data cleared) from the index; those that
 * cannot be removed now become zombies, retried by the next write. */
static void retire_labels(ak_coll *c, const uint32_t *labels, size_t n)
{
    if (!n)
        return;
    akidb_status st = ak_hnsw_remove_batch(c->index, labels, n, NULL);
    for (size_t i = 0; i < n; i++) {
        uint32_t l = labels[i];
        if (st == AKIDB_OK || !ak_hnsw_contains(c->index, l)) {
            c->slots[l].in_index = false;
            give_label(c, l);
        } else {
            c->zombies[c->n_zombies++] = l;
        }
    }
}

static void retry_zombies(ak_coll *c)
{
    if (!c->n_zombies)
        return;
    size_t n = c->n_zombies;
    uint32_t *tmp = ak_malloc(n * sizeof *tmp);
    if (!tmp)
        return;
    memcpy(tmp, c->zombies, n * sizeof *tmp);
    c->n_zombies = 0;
    retire_labels(c, tmp, n);
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
static akidb_status get_coll(akidb_store *s, const char *tenant, const char *name,
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
static akidb_status log_record(akidb_store *s, uint8_t type, const ak_buf *b)
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

static void maybe_snapshot(akidb_store *s);

/* Tenant ops, shared by the API (with logging) and replay (without). */
static akidb_status tenant_create_impl(akidb_store *s, const char *name, bool replay)
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
    st = log_record(s, AK_WAL_TENANT_CREATE, &b);
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

static akidb_status tenant_delete_impl(akidb_store *s, const char *name, bool replay)
{
    pthread_mutex_lock(&s->cat_wmu);
    ak_tenant *t = ak_store_find_tenant(s, name);
    if (!t) {
        pthread_mutex_unlock(&s->cat_wmu);
        return replay ? AKIDB_OK : ak_fail(AKIDB_ENOENT, "tenant '%.80s' not found", name);
    }
    ak_buf b = { 0 };
    ak_buf_str8(&b, name, strlen(name));
    akidb_status st = log_record(s, AK_WAL_TENANT_DELETE, &b);
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
    return tenant_create_impl(s, tenant, false);
}

akidb_status akidb_tenant_delete(akidb_store *s, const char *tenant)
{
    AK_ASSERT(s && tenant);
    return tenant_delete_impl(s, tenant, false);
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

static void encode_coll_create(ak_buf *b, const char *tenant, const char *name, uint32_t dim,
                               akidb_metric metric, uint32_t M, uint32_t efc, const char *model)
{
    ak_buf_str8(b, tenant, strlen(tenant));
    ak_buf_str8(b, name, strlen(name));
    ak_buf_u32(b, dim);
    ak_buf_u8(b, (uint8_t)metric);
    ak_buf_u32(b, M);
    ak_buf_u32(b, efc);
    size_t ml = model ? strlen(model) : 0;
    ak_buf_u16(b, (uint16_t)ml);
    ak_buf_put(b, model, ml);
}

/* Creates the HNSW index of a collection. */
static akidb_status coll_make_index(ak_coll *c)
{
    ak_hnsw_params p = { 0 };
    p.dim = c->dim;
    p.metric = (ak_metric)c->metric;
    p.M = c->M;
    p.ef_construction = c->efc;
    p.seed = hash_id(c->name, strlen(c->name)) ^ 0x5eedull;
    p.capacity = 0;
    akidb_status st = ak_hnsw_create(&p, &c->index);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "collection '%s/%s'", c->tenant, c->name);
    return AKIDB_OK;
}

static akidb_status coll_create_impl(akidb_store *s, const char *tenant, const char *name,
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
    st = coll_make_index(c);
    if (st == AKIDB_OK && !reserve_ptrs((void ***)&t->colls, &t->cap_colls, t->n_colls + 1))
        st = coll_oom(c);
    if (st == AKIDB_OK) {
        ak_buf b = { 0 };
        encode_coll_create(&b, tenant, name, o->dim, o->metric, M, efc, model);
        st = log_record(s, AK_WAL_COLL_CREATE, &b);
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
    return coll_create_impl(s, tenant, name, opts, false);
}

static akidb_status coll_delete_impl(akidb_store *s, const char *tenant, const char *name,
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
    akidb_status st = log_record(s, AK_WAL_COLL_DELETE, &b);
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
    return coll_delete_impl(s, tenant, name, false);
}

akidb_status akidb_collection_get_info(akidb_store *s, const char *tenant, const char *name,
                                       akidb_collection_info *info)
{
    AK_ASSERT(info);
    ak_coll *c;
    akidb_status st = get_coll(s, tenant, name, &c);
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
    pthread_rwlock_rdlock(&c->rw);
    info->n_points = c->n_live;
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

/* ---- points: validation and upsert ---------------------------------------------------- */

static akidb_status check_id(const ak_coll *c, const char *id, size_t len)
{
    if (len == 0 || len > AKIDB_POINT_ID_MAX)
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': point id '%.40s%s' must have 1 to %d bytes",
                       c->tenant, c->name, id, len > 40 ? "..." : "", AKIDB_POINT_ID_MAX);
    size_t bad;
    if (!ak_utf8_valid(id, len, &bad))
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': point id is not valid UTF-8 (byte %zu)",
                       c->tenant, c->name, bad);
    return AKIDB_OK;
}

static akidb_status check_vector(const ak_coll *c, const char *what, const char *id,
                                 const float *v, uint32_t dim)
{
    if (dim != c->dim)
        return ak_fail(AKIDB_EDIM, "collection '%s/%s': %s '%s': vector has %u dimensions, the collection %u",
                       c->tenant, c->name, what, id, dim, c->dim);
    double norm = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(v[i]))
            return ak_fail(AKIDB_EINVAL, "collection '%s/%s': %s '%s': vector element %u is %s",
                           c->tenant, c->name, what, id, i, isnan(v[i]) ? "NaN" : "infinite");
        norm += (double)v[i] * v[i];
    }
    if (c->metric == AKIDB_METRIC_COSINE && !(norm > 0))
        return ak_fail(AKIDB_EINVAL,
                       "collection '%s/%s': %s '%s': zero vector has no direction under cosine",
                       c->tenant, c->name, what, id);
    return AKIDB_OK;
}

/* A point prepared for applying: validated, payload parsed. */
typedef struct prep {
    const char *id;
    size_t id_len;
    const float *vec;
    const char *text;
    size_t text_len;
    json_t *payload;     /* owned until moved into a slot */
    uint32_t label;      /* new slot */
} prep;

static int cmp_prep_id(const void *a, const void *b)
{
    const prep *x = *(prep *const *)a, *y = *(prep *const *)b;
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int r = memcmp(x->id, y->id, n);
    return r ? r : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

static akidb_status check_dups(const ak_coll *c, prep *p, size_t n)
{
    if (n < 2)
        return AKIDB_OK;
    prep **idx = ak_malloc(n * sizeof *idx);
    if (!idx)
        return coll_oom(c);
    for (size_t i = 0; i < n; i++)
        idx[i] = &p[i];
    qsort(idx, n, sizeof *idx, cmp_prep_id);
    akidb_status st = AKIDB_OK;
    for (size_t i = 1; i < n; i++)
        if (cmp_prep_id(&idx[i - 1], &idx[i]) == 0) {
            st = ak_fail(AKIDB_EINVAL, "collection '%s/%s': point id '%s' occurs twice in the batch",
                         c->tenant, c->name, idx[i]->id);
            break;
        }
    ak_free(idx);
    return st;
}

/* ---- parallel index adds ---------------------------------------------------------- */

/* The index accepts concurrent adds, so large batches are inserted by a few
 * threads, each taking every T-th point. */
typedef struct add_job {
    ak_coll *c;
    prep *p;
    size_t n, start, step;
    akidb_status st;
    char msg[512];
} add_job;

static void *add_worker(void *arg)
{
    add_job *j = arg;
    j->st = AKIDB_OK;
    for (size_t i = j->start; i < j->n; i += j->step) {
        akidb_status st = ak_hnsw_add(j->c->index, j->p[i].label, j->p[i].vec);
        if (st != AKIDB_OK) {
            ak_fail_prefix(st, "collection '%s/%s': point '%s'", j->c->tenant, j->c->name, j->p[i].id);
            j->st = st;
            snprintf(j->msg, sizeof j->msg, "%s", akidb_last_error());
            break;
        }
        j->c->slots[j->p[i].label].in_index = true;
    }
    return NULL;
}

#define ADD_THREADS_MAX 8
#define ADD_PARALLEL_MIN 256

static akidb_status add_parallel(ak_coll *c, prep *p, size_t n)
{
    static long ncpu;
    if (!ncpu) {
        long k = sysconf(_SC_NPROCESSORS_ONLN);
        ncpu = k < 1 ? 1 : k;
    }
    size_t t = n >= ADD_PARALLEL_MIN ? (size_t)ncpu : 1;
    if (t > ADD_THREADS_MAX)
        t = ADD_THREADS_MAX;
    add_job jobs[ADD_THREADS_MAX];
    pthread_t th[ADD_THREADS_MAX];
    size_t started = 1;
    for (size_t i = 0; i < t; i++)
        jobs[i] = (add_job){ c, p, n, i, t, AKIDB_OK, "" };
    for (size_t i = 1; i < t; i++) {
        if (pthread_create(&th[i], NULL, add_worker, &jobs[i]) != 0)
            break;
        started++;
    }
    /* Points of threads that could not start are added here. */
    for (size_t i = started; i < t; i++)
        jobs[i].start = n;
    if (started < t) {
        jobs[0].step = 1;
        jobs[0].n = n;
        /* fall back: thread 0 does everything not yet taken by a started thread */
        for (size_t i = 1; i < started; i++)
            pthread_join(th[i], NULL);
        started = 1;
        for (size_t k = 0; k < n; k++)
            if (!c->slots[p[k].label].in_index) {
                akidb_status st = ak_hnsw_add(c->index, p[k].label, p[k].vec);
                if (st != AKIDB_OK)
                    return ak_fail_prefix(st, "collection '%s/%s': point '%s'", c->tenant, c->name, p[k].id);
                c->slots[p[k].label].in_index = true;
            }
        return AKIDB_OK;
    }
    add_worker(&jobs[0]);
    for (size_t i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < t; i++)
        if (jobs[i].st != AKIDB_OK)
            return ak_fail(jobs[i].st, "%s", jobs[i].msg);
    return AKIDB_OK;
}

/* Applies a prepared batch (writer mutex held).  rec: the WAL record to log
 * (NULL during replay). */
static akidb_status apply_upsert(akidb_store *s, ak_coll *c, prep *p, size_t n,
                                 const ak_buf *rec)
{
    retry_zombies(c);
    /* Slot growth and label allocation change n_slots: under the lock. */
    pthread_rwlock_wrlock(&c->rw);
    akidb_status st = ak_coll_reserve(c, n);
    for (size_t i = 0; st == AKIDB_OK && i < n; i++) {
        p[i].label = take_label(c);
        atomic_store_explicit(&c->slots[p[i].label].state, SLOT_PENDING, memory_order_release);
    }
    pthread_rwlock_unlock(&c->rw);
    if (st != AKIDB_OK)
        return st;
    size_t filled = 0, added = 0;
    for (; filled < n; filled++) {
        uint32_t l = p[filled].label;
        pslot *sl = &c->slots[l];
        sl->id = ak_strndup(p[filled].id, p[filled].id_len);
        sl->id_len = (uint8_t)p[filled].id_len;
        sl->text = p[filled].text ? ak_strndup(p[filled].text, p[filled].text_len) : NULL;
        if (!sl->id || (p[filled].text && !sl->text)) {
            slot_clear(sl);
            st = coll_oom(c);
            break;
        }
    }
    for (size_t i = filled + (st != AKIDB_OK); i < n; i++)
        give_label(c, p[i].label);   /* taken but never filled */
    if (st != AKIDB_OK && filled < n) {
        give_label(c, p[filled].label);
    }
    if (st == AKIDB_OK) {
        st = add_parallel(c, p, n);
        added = n;   /* rollback consults in_index per slot */
    }
    if (st == AKIDB_OK && rec)
        st = log_record(s, AK_WAL_UPSERT, rec);
    if (st != AKIDB_OK) {
        /* Roll back: nothing was published. */
        uint32_t *undo = ak_malloc((added ? added : 1) * sizeof *undo);
        for (size_t i = 0; i < filled; i++)
            slot_clear(&c->slots[p[i].label]);
        size_t nu = 0;
        for (size_t i = 0; i < filled; i++) {
            uint32_t l = p[i].label;
            if (!c->slots[l].in_index)
                give_label(c, l);
            else if (undo)
                undo[nu++] = l;
            else
                c->zombies[c->n_zombies++] = l;
        }
        akidb_status keep = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", akidb_last_error());
        retire_labels(c, undo, nu);
        ak_free(undo);
        ak_fail(keep, "%s", msg);
        return keep;
    }
    /* Durable: publish. */
    uint32_t *old = ak_malloc(n * sizeof *old);
    size_t n_old = 0;
    pthread_rwlock_wrlock(&c->rw);
    for (size_t i = 0; i < n; i++) {
        uint32_t l = p[i].label;
        uint32_t o = ak_coll_find(c, p[i].id, p[i].id_len);
        if (o != AK_NO_LABEL) {
            ht_remove(c, o);
            atomic_store_explicit(&c->slots[o].state, SLOT_DEAD, memory_order_release);
            c->n_live--;
            if (old)
                old[n_old++] = o;
            else
                c->zombies[c->n_zombies++] = o;
        }
        c->slots[l].payload = p[i].payload;
        p[i].payload = NULL;
        ak_coll_ht_insert(c, l);
        atomic_store_explicit(&c->slots[l].state, SLOT_LIVE, memory_order_release);
        c->n_live++;
    }
    pthread_rwlock_unlock(&c->rw);
    if (!old) {
        for (size_t i = 0; i < c->n_zombies; i++)
            slot_clear(&c->slots[c->zombies[i]]);
    }
    for (size_t i = 0; i < n_old; i++)
        slot_clear(&c->slots[old[i]]);
    retire_labels(c, old, n_old);
    ak_free(old);
    return AKIDB_OK;
}

static void free_preps(prep *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++)
        if (p[i].payload)
            json_decref(p[i].payload);
    ak_free(p);
}

akidb_status akidb_points_upsert(akidb_store *s, const char *tenant, const char *collection,
                                 const akidb_point_in *points, const uint32_t *dims, size_t n)
{
    AK_ASSERT(s && tenant && collection && (points || n == 0));
    ak_coll *c;
    akidb_status st = get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    if (n == 0 || n > MAX_BATCH) {
        ak_coll_unref(c);
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': a batch must have 1 to %u points, not %zu",
                       tenant, collection, MAX_BATCH, n);
    }
    ak_json_init();
    prep *p = ak_calloc(n, sizeof *p);
    ak_buf rec = { 0 };
    if (!p) {
        st = coll_oom(c);
        goto out;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const akidb_point_in *in = &points[i];
        AK_ASSERT(in->id && in->vector);
        p[i].id = in->id;
        p[i].id_len = strlen(in->id);
        if ((st = check_id(c, in->id, p[i].id_len)) != AKIDB_OK)
            goto out;
        if ((st = check_vector(c, "point", in->id, in->vector, dims ? dims[i] : c->dim)) != AKIDB_OK)
            goto out;
        p[i].vec = in->vector;
        if (in->text) {
            p[i].text = in->text;
            p[i].text_len = strlen(in->text);
            size_t bad;
            if (p[i].text_len > AKIDB_TEXT_MAX) {
                st = ak_fail(AKIDB_ETOOLONG, "collection '%s/%s': point '%s': text of %zu bytes exceeds %u",
                             tenant, collection, in->id, p[i].text_len, AKIDB_TEXT_MAX);
                goto out;
            }
            if (!ak_utf8_valid(in->text, p[i].text_len, &bad)) {
                st = ak_fail(AKIDB_EUTF8, "collection '%s/%s': point '%s': text is not valid UTF-8 at byte %zu",
                             tenant, collection, in->id, bad);
                goto out;
            }
        }
        if (in->payload) {
            size_t pl = strlen(in->payload);
            char what[200];
            snprintf(what, sizeof what, "collection '%s/%s': point '%s'", tenant, collection, in->id);
            if (pl > AKIDB_PAYLOAD_MAX) {
                st = ak_fail(AKIDB_ETOOLONG, "%s: payload of %zu bytes exceeds %u", what, pl,
                             AKIDB_PAYLOAD_MAX);
                goto out;
            }
            if ((st = ak_payload_parse(in->payload, pl, what, &p[i].payload)) != AKIDB_OK)
                goto out;
            bytes += pl;
        }
        bytes += p[i].id_len + p[i].text_len + (size_t)c->dim * 4 + 16;
    }
    if (bytes > AKIDB_BATCH_BYTES_MAX) {
        st = ak_fail(AKIDB_ETOOLONG, "collection '%s/%s': batch of about %zu bytes exceeds %u; split it",
                     tenant, collection, bytes, AKIDB_BATCH_BYTES_MAX);
        goto out;
    }
    if ((st = check_dups(c, p, n)) != AKIDB_OK)
        goto out;
    /* Encode the WAL record. */
    ak_buf_reserve(&rec, bytes + 256);
    ak_buf_str8(&rec, tenant, strlen(tenant));
    ak_buf_str8(&rec, collection, strlen(collection));
    ak_buf_u32(&rec, c->dim);
    ak_buf_u32(&rec, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const akidb_point_in *in = &points[i];
        ak_buf_str8(&rec, p[i].id, p[i].id_len);
        ak_buf_u8(&rec, (uint8_t)((in->text ? 1 : 0) | (in->payload ? 2 : 0)));
        ak_buf_put(&rec, p[i].vec, (size_t)c->dim * 4);  /* little-endian hosts */
        if (in->text)
            ak_buf_str32(&rec, in->text, p[i].text_len);
        if (in->payload)
            ak_buf_str32(&rec, in->payload, strlen(in->payload));
    }
    if (rec.oom) {
        st = coll_oom(c);
        goto out;
    }
    pthread_mutex_lock(&c->wmu);
    if (c->dead)
        st = ak_fail(AKIDB_ENOENT, "collection '%s' not found in tenant '%s'", collection, tenant);
    else
        st = apply_upsert(s, c, p, n, &rec);
    pthread_mutex_unlock(&c->wmu);
out:
    free_preps(p, n);
    ak_buf_free(&rec);
    ak_coll_unref(c);
    if (st == AKIDB_OK)
        maybe_snapshot(s);
    return st;
}

/* Deletes ids (writer mutex held); rec NULL during replay. */
static akidb_status apply_delete(akidb_store *s, ak_coll *c, const char *const *ids,
                                 const size_t *lens, size_t n, size_t *n_deleted)
{
    retry_zombies(c);
    uint32_t *labels = ak_malloc((n ? n : 1) * sizeof *labels);
    if (!labels)
        return coll_oom(c);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = ak_coll_find(c, ids[i], lens[i]);
        if (l == AK_NO_LABEL)
            continue;
        bool dup = false;
        for (size_t j = 0; j < m && !dup; j++)   /* batches are small; fine */
            dup = labels[j] == l;
        if (!dup && m < n)
            labels[m++] = l;
    }
    if (n_deleted)
        *n_deleted = m;
    akidb_status st = AKIDB_OK;
    if (m && s->wal) {
        ak_buf b = { 0 };
        ak_buf_str8(&b, c->tenant, strlen(c->tenant));
        ak_buf_str8(&b, c->name, strlen(c->name));
        ak_buf_u32(&b, (uint32_t)m);
        for (size_t i = 0; i < m; i++)
            ak_buf_str8(&b, c->slots[labels[i]].id, c->slots[labels[i]].id_len);
        st = log_record(s, AK_WAL_DELETE, &b);
        ak_buf_free(&b);
    }
    if (st != AKIDB_OK || !m) {
        ak_free(labels);
        return st;
    }
    pthread_rwlock_wrlock(&c->rw);
    for (size_t i = 0; i < m; i++) {
        ht_remove(c, labels[i]);
        atomic_store_explicit(&c->slots[labels[i]].state, SLOT_DEAD, memory_order_release);
        c->n_live--;
    }
    pthread_rwlock_unlock(&c->rw);
    for (size_t i = 0; i < m; i++)
        slot_clear(&c->slots[labels[i]]);
    retire_labels(c, labels, m);
    ak_free(labels);
    return AKIDB_OK;
}

akidb_status akidb_points_delete(akidb_store *s, const char *tenant, const char *collection,
                                 const char *const *ids, size_t n, size_t *n_deleted)
{
    AK_ASSERT(s && tenant && collection && (ids || n == 0));
    if (n_deleted)
        *n_deleted = 0;
    ak_coll *c;
    akidb_status st = get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    if (n > MAX_BATCH) {
        ak_coll_unref(c);
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': at most %u ids per delete", tenant,
                       collection, MAX_BATCH);
    }
    size_t *lens = ak_malloc((n ? n : 1) * sizeof *lens);
    if (!lens) {
        st = coll_oom(c);
    } else {
        for (size_t i = 0; i < n; i++) {
            AK_ASSERT(ids[i]);
            lens[i] = strlen(ids[i]);
            if (lens[i] > AKIDB_POINT_ID_MAX)
                lens[i] = AKIDB_POINT_ID_MAX + 1;   /* cannot match */
        }
        pthread_mutex_lock(&c->wmu);
        if (c->dead)
            st = ak_fail(AKIDB_ENOENT, "collection '%s' not found in tenant '%s'", collection, tenant);
        else
            st = apply_delete(s, c, ids, lens, n, n_deleted);
        pthread_mutex_unlock(&c->wmu);
    }
    ak_free(lens);
    ak_coll_unref(c);
    if (st == AKIDB_OK)
        maybe_snapshot(s);
    return st;
}

/* ---- reading ------------------------------------------------------------------------- */

/* Fills one output point from a LIVE slot (read lock held). */
static akidb_status fill_point(const ak_coll *c, uint32_t l, unsigned with, float score,
                               akidb_point *o)
{
    const pslot *sl = &c->slots[l];
    memset(o, 0, sizeof *o);
    o->score = score;
    o->dim = c->dim;
    if (!(o->id = ak_strndup(sl->id, sl->id_len)))
        return coll_oom(c);
    if ((with & AKIDB_WITH_TEXT) && sl->text && !(o->text = ak_strdup(sl->text)))
        return coll_oom(c);
    if ((with & AKIDB_WITH_PAYLOAD) && sl->payload &&
        !(o->payload = json_dumps(sl->payload, JSON_COMPACT)))
        return coll_oom(c);
    if (with & AKIDB_WITH_VECTOR) {
        if (!(o->vector = ak_malloc((size_t)c->dim * sizeof(float))))
            return coll_oom(c);
        akidb_status st = ak_hnsw_get_vector(c->index, l, o->vector);
        if (st != AKIDB_OK)
            return ak_fail_prefix(st, "collection '%s/%s': point '%s'", c->tenant, c->name, o->id);
    }
    return AKIDB_OK;
}

static akidb_status out_alloc(const ak_coll *c, akidb_points *out, size_t n)
{
    memset(out, 0, sizeof *out);
    out->items = ak_calloc(n ? n : 1, sizeof *out->items);
    return out->items ? AKIDB_OK : coll_oom(c);
}

akidb_status akidb_points_get(akidb_store *s, const char *tenant, const char *collection,
                              const char *const *ids, size_t n, unsigned with, akidb_points *out)
{
    AK_ASSERT(out && (ids || n == 0));
    memset(out, 0, sizeof *out);
    ak_coll *c;
    akidb_status st = get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    if ((st = out_alloc(c, out, n)) != AKIDB_OK) {
        ak_coll_unref(c);
        return st;
    }
    ak_json_init();
    pthread_rwlock_rdlock(&c->rw);
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        AK_ASSERT(ids[i]);
        size_t len = strlen(ids[i]);
        uint32_t l = len <= AKIDB_POINT_ID_MAX ? ak_coll_find(c, ids[i], len) : AK_NO_LABEL;
        if (l == AK_NO_LABEL)
            continue;
        st = fill_point(c, l, with, 0, &out->items[out->n++]);
    }
    pthread_rwlock_unlock(&c->rw);
    ak_coll_unref(c);
    if (st != AKIDB_OK)
        akidb_points_free(out);
    return st;
}

static akidb_status parse_filter_opt(const char *json, ak_filter **f)
{
    *f = NULL;
    if (!json)
        return AKIDB_OK;
    akidb_status st = ak_filter_parse(json, strlen(json), f);
    if (st == AKIDB_OK && ak_filter_is_true(*f)) {
        ak_filter_free(*f);
        *f = NULL;
    }
    return st;
}

static inline bool slot_live(const ak_coll *c, uint32_t l)
{
    return l < c->n_slots &&
           atomic_load_explicit(&c->slots[l].state, memory_order_acquire) == SLOT_LIVE;
}

akidb_status akidb_points_count(akidb_store *s, const char *tenant, const char *collection,
                                const char *filter_json, uint64_t *count)
{
    AK_ASSERT(count);
    *count = 0;
    ak_filter *f;
    akidb_status st = parse_filter_opt(filter_json, &f);
    if (st != AKIDB_OK)
        return st;
    ak_coll *c;
    if ((st = get_coll(s, tenant, collection, &c)) != AKIDB_OK) {
        ak_filter_free(f);
        return st;
    }
    pthread_rwlock_rdlock(&c->rw);
    if (!f) {
        *count = c->n_live;
    } else {
        uint64_t k = 0;
        for (uint32_t l = 0; l < c->n_slots; l++)
            if (slot_live(c, l) && ak_filter_match(f, c->slots[l].payload))
                k++;
        *count = k;
    }
    pthread_rwlock_unlock(&c->rw);
    ak_coll_unref(c);
    ak_filter_free(f);
    return AKIDB_OK;
}

static int id_cmp(const pslot *a, const pslot *b)
{
    size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int r = memcmp(a->id, b->id, n);
    return r ? r : (a->id_len > b->id_len) - (a->id_len < b->id_len);
}

/* Max-heap of labels by id (largest on top) for scroll. */
static void heap_sift_down(const ak_coll *c, uint32_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && id_cmp(&c->slots[h[l]], &c->slots[h[m]]) > 0)
            m = l;
        if (r < n && id_cmp(&c->slots[h[r]], &c->slots[h[m]]) > 0)
            m = r;
        if (m == i)
            return;
        uint32_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_sift_up(const ak_coll *c, uint32_t *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (id_cmp(&c->slots[h[i]], &c->slots[h[p]]) <= 0)
            return;
        uint32_t t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void sort_labels_by_id(const ak_coll *c, uint32_t *h, size_t n)
{
    /* Heap sort in place (ascending), avoiding qsort's global context. */
    for (size_t end = n; end > 1; end--) {
        uint32_t t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        heap_sift_down(c, h, end - 1, 0);
    }
}

akidb_status akidb_points_scroll(akidb_store *s, const char *tenant, const char *collection,
                                 const char *cursor, size_t limit, const char *filter_json,
                                 unsigned with, akidb_points *out)
{
    AK_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > MAX_SCROLL)
        return ak_fail(AKIDB_EINVAL, "scroll limit %zu is outside 1..%u", limit, MAX_SCROLL);
    size_t cur_len = cursor ? strlen(cursor) : 0;
    if (cursor && cur_len > AKIDB_POINT_ID_MAX)
        return ak_fail(AKIDB_EINVAL, "invalid scroll cursor");
    pslot cur = { 0 };
    cur.id = (char *)cursor;
    cur.id_len = (uint8_t)cur_len;
    ak_filter *f;
    akidb_status st = parse_filter_opt(filter_json, &f);
    if (st != AKIDB_OK)
        return st;
    ak_coll *c;
    if ((st = get_coll(s, tenant, collection, &c)) != AKIDB_OK) {
        ak_filter_free(f);
        return st;
    }
    ak_json_init();
    uint32_t *h = ak_malloc((limit + 1) * sizeof *h);
    if (!h) {
        st = coll_oom(c);
        goto done;
    }
    pthread_rwlock_rdlock(&c->rw);
    size_t n = 0;
    bool more = false;
    for (uint32_t l = 0; l < c->n_slots; l++) {
        if (!slot_live(c, l))
            continue;
        if (cursor && id_cmp(&c->slots[l], &cur) <= 0)
            continue;
        if (f && !ak_filter_match(f, c->slots[l].payload))
            continue;
        if (n < limit) {
            h[n++] = l;
            heap_sift_up(c, h, n - 1);
        } else {
            more = true;
            if (id_cmp(&c->slots[l], &c->slots[h[0]]) < 0) {
                h[0] = l;
                heap_sift_down(c, h, n, 0);
            }
        }
    }
    sort_labels_by_id(c, h, n);
    st = out_alloc(c, out, n);
    for (size_t i = 0; st == AKIDB_OK && i < n; i++)
        st = fill_point(c, h[i], with, 0, &out->items[out->n++]);
    if (st == AKIDB_OK && more && n) {
        const pslot *last = &c->slots[h[n - 1]];
        if (!(out->next_cursor = ak_strndup(last->id, last->id_len)))
            st = coll_oom(c);
    }
    pthread_rwlock_unlock(&c->rw);
done:
    ak_free(h);
    ak_coll_unref(c);
    ak_filter_free(f);
    if (st != AKIDB_OK)
        akidb_points_free(out);
    return st;
}

/* ---- search ---------------------------------------------------------------------------------- */

typedef struct accept_ctx {
    const ak_coll *c;
    const ak_filter *f;
} accept_ctx;

static bool accept_live(uint32_t label, void *ctx)
{
    const accept_ctx *a = ctx;
    if (!slot_live(a->c, label))
        return false;
    return !a->f || ak_filter_match(a->f, a->c->slots[label].payload);
}

#define FULL_EVAL_MAX 50000u     /* evaluate filters on every point below this */
#define SAMPLE_N 2000u

akidb_status akidb_search(akidb_store *s, const char *tenant, const char *collection,
                          const akidb_search_req *req, akidb_points *out)
{
    AK_ASSERT(req && out && (req->vector || req->dim == 0));
    memset(out, 0, sizeof *out);
    ak_coll *c;
    akidb_status st = get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    ak_filter *f = NULL;
    ak_hit *hits = NULL;
    uint32_t *labels = NULL;
    if (req->top_k < 1 || req->top_k > MAX_TOPK) {
        st = ak_fail(AKIDB_EINVAL, "search in '%s/%s': top_k %zu is outside 1..%u", tenant,
                     collection, req->top_k, MAX_TOPK);
        goto done;
    }
    if ((st = check_vector(c, "search", "query", req->vector, req->dim)) != AKIDB_OK)
        goto done;
    if ((st = parse_filter_opt(req->filter_json, &f)) != AKIDB_OK)
        goto done;
    ak_json_init();
    size_t k = req->top_k;
    size_t ef = req->ef ? req->ef : (4 * k > 128 ? 4 * k : 128);
    if (ef < k)
        ef = k;
    if (!(hits = ak_malloc(k * sizeof *hits))) {
        st = coll_oom(c);
        goto done;
    }
    size_t exact_thr = s->opts.exact_threshold ? s->opts.exact_threshold : 2048;
    accept_ctx ac = { c, f };
    size_t nh = 0;
    pthread_rwlock_rdlock(&c->rw);
    size_t live = c->n_live;
    if (live == 0) {
        /* nothing */
    } else if (req->exact || live < exact_thr) {
        st = ak_exact_search(c->index, req->vector, k, accept_live, &ac, hits, &nh);
    } else if (!f) {
        ak_search_opts so = { 0 };
        so.ef = ef;
        so.accept = accept_live;
        so.ctx = &ac;
        so.strategy = AK_SEARCH_GRAPH;
        st = ak_hnsw_search_ex(c->index, req->vector, k, &so, hits, &nh);
    } else {
        /* Estimate selectivity: every point when affordable, else a sample. */
        double sel;
        size_t matches = 0;
        bool full = c->n_slots <= FULL_EVAL_MAX;
        if (!full) {
            uint64_t x = 0x9E3779B97F4A7C15ull ^ live;
            size_t seen = 0, hit = 0;
            for (size_t i = 0; i < SAMPLE_N * 4 && seen < SAMPLE_N; i++) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                uint32_t l = (uint32_t)(x % c->n_slots);
                if (!slot_live(c, l))
                    continue;
                seen++;
                hit += ak_filter_match(f, c->slots[l].payload);
            }
            sel = seen ? (double)hit / (double)seen : 1.0;
            full = sel * (double)live <= (double)exact_thr * 4;
        } else {
            sel = 1.0;
        }
        if (full) {
            labels = ak_malloc((size_t)c->n_slots * sizeof *labels);
            if (!labels) {
                st = coll_oom(c);
            } else {
                for (uint32_t l = 0; l < c->n_slots; l++)
                    if (slot_live(c, l) && ak_filter_match(f, c->slots[l].payload))
                        labels[matches++] = l;
                sel = (double)matches / (double)live;
            }
        }
        if (st != AKIDB_OK) {
            /* fallthrough to unlock */
        } else if (full && (matches <= exact_thr * 4 || sel < 0.05)) {
            st = ak_exact_search_labels(c->index, req->vector, k, labels, matches, hits, &nh);
        } else {
            ak_search_opts so = { 0 };
            so.ef = ef;
            so.accept = accept_live;
            so.ctx = &ac;
            so.selectivity = sel > 0 ? sel : 1e-6;
            so.strategy = AK_SEARCH_AUTO;
            st = ak_hnsw_search_ex(c->index, req->vector, k, &so, hits, &nh);
        }
    }
    if (st == AKIDB_OK)
        st = out_alloc(c, out, nh);
    for (size_t i = 0; st == AKIDB_OK && i < nh; i++) {
        if (!slot_live(c, hits[i].label))
            continue;    /* cannot happen: accept filtered it */
        float score = c->metric == AKIDB_METRIC_L2 ? -hits[i].score : hits[i].score;
        st = fill_point(c, hits[i].label, req->with, score, &out->items[out->n++]);
    }
    pthread_rwlock_unlock(&c->rw);
    if (st != AKIDB_OK) {
        akidb_points_free(out);
        ak_fail_prefix(st, "search in '%s/%s'", tenant, collection);
    }
done:
    ak_free(labels);
    ak_free(hits);
    ak_filter_free(f);
    ak_coll_unref(c);
    return st;
}

/* ---- replay ------------------------------------------------------------------------------------ */

typedef struct replay_ctx {
    akidb_store *s;
    size_t applied, skipped;
    uint64_t done, total, reported;   /* bytes replayed / to replay (progress) */
} replay_ctx;

static void report(const akidb_store *s, const char *phase, uint64_t done, uint64_t total)
{
    if (s->opts.progress)
        s->opts.progress(s->opts.progress_ctx, phase, done, total);
}

static akidb_status bad_rec(const char *what)
{
    return ak_fail(AKIDB_ECORRUPT, "malformed record body: %s", what);
}

static akidb_status replay_upsert(replay_ctx *rc, ak_rd *r)
{
    size_t tl, nl;
    const char *t = ak_rd_str8(r, &tl), *nm = ak_rd_str8(r, &nl);
    uint32_t dim = ak_rd_u32(r), n = ak_rd_u32(r);
    if (r->bad || dim < 1 || dim > AKIDB_DIM_MAX || n < 1 || n > MAX_BATCH)
        return bad_rec("upsert header");
    char tn[AKIDB_STORE_NAME_MAX + 1], cn[AKIDB_STORE_NAME_MAX + 1];
    if (tl > AKIDB_STORE_NAME_MAX || nl > AKIDB_STORE_NAME_MAX)
        return bad_rec("name too long");
    memcpy(tn, t, tl);
    tn[tl] = 0;
    memcpy(cn, nm, nl);
    cn[nl] = 0;
    ak_coll *c;
    if (get_coll(rc->s, tn, cn, &c) != AKIDB_OK) {
        rc->skipped++;   /* deleted later in the log */
        return AKIDB_OK;
    }
    akidb_status st = AKIDB_OK;
    prep *p = ak_calloc(n, sizeof *p);
    float *vecs = ak_malloc((size_t)n * dim * sizeof(float));
    char **strs = ak_calloc((size_t)n * 2, sizeof *strs);
    if (!p || !vecs || !strs) {
        st = coll_oom(c);
        goto out;
    }
    for (uint32_t i = 0; i < n && st == AKIDB_OK; i++) {
        size_t il;
        const char *id = ak_rd_str8(r, &il);
        uint8_t flags = ak_rd_u8(r);
        const uint8_t *v = ak_rd_bytes(r, (size_t)dim * 4);
        if (r->bad || il == 0 || il > AKIDB_POINT_ID_MAX || (flags & ~3u)) {
            st = bad_rec("upsert point");
            break;
        }
        memcpy(vecs + (size_t)i * dim, v, (size_t)dim * 4);
        if (!(strs[2 * i] = ak_strndup(id, il))) {
            st = coll_oom(c);
            break;
        }
        p[i].id = strs[2 * i];
        p[i].id_len = il;
        p[i].vec = vecs + (size_t)i * dim;
        if (flags & 1) {
            size_t xl;
            const char *x = ak_rd_str32(r, &xl);
            if (r->bad || xl > AKIDB_TEXT_MAX || !ak_utf8_valid(x, xl, NULL) || memchr(x, 0, xl)) {
                st = bad_rec("upsert text");
                break;
            }
            if (!(strs[2 * i + 1] = ak_strndup(x, xl))) {
                st = coll_oom(c);
                break;
            }
            p[i].text = strs[2 * i + 1];
            p[i].text_len = xl;
        }
        if (flags & 2) {
            size_t pl;
            const char *pj = ak_rd_str32(r, &pl);
            if (r->bad) {
                st = bad_rec("upsert payload");
                break;
            }
            st = ak_payload_parse(pj, pl, "payload", &p[i].payload);
            if (st == AKIDB_EINVAL)
                st = bad_rec("upsert payload JSON");
        }
    }
    if (st == AKIDB_OK && r->off != r->n)
        st = bad_rec("trailing bytes after upsert");
    if (st == AKIDB_OK && dim != c->dim) {
        rc->skipped++;   /* the collection was recreated with another dimension */
        goto out;
    }
    for (uint32_t i = 0; i < n && st == AKIDB_OK; i++) {
        st = check_vector(c, "point", p[i].id, p[i].vec, dim);
        if (st != AKIDB_OK)
            st = ak_fail_prefix(AKIDB_ECORRUPT, "invalid vector in upsert");
    }
    if (st == AKIDB_OK)
        st = check_dups(c, p, n);
    if (st == AKIDB_EINVAL)
        st = ak_fail_prefix(AKIDB_ECORRUPT, "invalid upsert");
    if (st == AKIDB_OK) {
        pthread_mutex_lock(&c->wmu);
        st = apply_upsert(rc->s, c, p, n, NULL);
        pthread_mutex_unlock(&c->wmu);
        rc->applied++;
    }
out:
    free_preps(p, p ? n : 0);
    if (strs)
        for (size_t i = 0; i < (size_t)n * 2; i++)
            ak_free(strs[i]);
    ak_free(strs);
    ak_free(vecs);
    ak_coll_unref(c);
    return st;
}

static akidb_status replay_delete(replay_ctx *rc, ak_rd *r)
{
    size_t tl, nl;
    const char *t = ak_rd_str8(r, &tl), *nm = ak_rd_str8(r, &nl);
    uint32_t n = ak_rd_u32(r);
    if (r->bad || n > MAX_BATCH || tl > AKIDB_STORE_NAME_MAX || nl > AKIDB_STORE_NAME_MAX)
        return bad_rec("delete header");
    const char **ids = ak_calloc(n ? n : 1, sizeof *ids);
    size_t *lens = ak_calloc(n ? n : 1, sizeof *lens);
    akidb_status st = AKIDB_OK;
    if (!ids || !lens)
        st = ak_fail(AKIDB_ENOMEM, "replay: out of memory");
    for (uint32_t i = 0; st == AKIDB_OK && i < n; i++) {
        ids[i] = ak_rd_str8(r, &lens[i]);
        if (r->bad || lens[i] == 0)
            st = bad_rec("delete id");
    }
    if (st == AKIDB_OK && r->off != r->n)
        st = bad_rec("trailing bytes after delete");
    if (st == AKIDB_OK) {
        char tn[AKIDB_STORE_NAME_MAX + 1], cn[AKIDB_STORE_NAME_MAX + 1];
        memcpy(tn, t, tl);
        tn[tl] = 0;
        memcpy(cn, nm, nl);
        cn[nl] = 0;
        ak_coll *c;
        if (get_coll(rc->s, tn, cn, &c) == AKIDB_OK) {
            pthread_mutex_lock(&c->wmu);
            st = apply_delete(rc->s, c, ids, lens, n, NULL);
            pthread_mutex_unlock(&c->wmu);
            ak_coll_unref(c);
            rc->applied++;
        } else {
            rc->skipped++;
        }
    }
    ak_free(ids);
    ak_free(lens);
    return st;
}

static akidb_status read_name(ak_rd *r, char *out)
{
    size_t l;
    const char *p = ak_rd_str8(r, &l);
    if (r->bad || l == 0 || l > AKIDB_STORE_NAME_MAX || memchr(p, 0, l))
        return bad_rec("name");
    memcpy(out, p, l);
    out[l] = 0;
    return AKIDB_OK;
}

static akidb_status replay_rec(void *ctx, uint64_t lsn, uint8_t type, const uint8_t *body,
                               size_t len)
{
    replay_ctx *rc = ctx;
    rc->done += AK_WAL_REC_HEADER + len;
    if (rc->done - rc->reported >= (1u << 20)) {
        rc->reported = rc->done;
        report(rc->s, "wal", rc->done, rc->total);
    }
    ak_rd r = { body, len, 0, false };
    char t[AKIDB_STORE_NAME_MAX + 1], n[AKIDB_STORE_NAME_MAX + 1];
    akidb_status st;
    switch (type) {
    case AK_WAL_TENANT_CREATE:
    case AK_WAL_TENANT_DELETE:
        if ((st = read_name(&r, t)) != AKIDB_OK)
            return st;
        if (r.off != r.n)
            return bad_rec("trailing bytes");
        rc->applied++;
        st = type == AK_WAL_TENANT_CREATE ? tenant_create_impl(rc->s, t, true)
                                          : tenant_delete_impl(rc->s, t, true);
        return st == AKIDB_EINVAL ? ak_fail_prefix(AKIDB_ECORRUPT, "bad tenant") : st;
    case AK_WAL_COLL_CREATE: {
        if ((st = read_name(&r, t)) != AKIDB_OK || (st = read_name(&r, n)) != AKIDB_OK)
            return st;
        akidb_collection_opts o = { 0 };
        o.dim = ak_rd_u32(&r);
        o.metric = (akidb_metric)ak_rd_u8(&r);
        o.hnsw_m = ak_rd_u32(&r);
        o.hnsw_ef_construction = ak_rd_u32(&r);
        size_t ml = ak_rd_u16(&r);
        const uint8_t *m = ak_rd_bytes(&r, ml);
        if (r.bad || r.off != r.n || ml > AKIDB_MODEL_NAME_MAX || (m && memchr(m, 0, ml)))
            return bad_rec("collection create");
        char model[AKIDB_MODEL_NAME_MAX + 1];
        memcpy(model, m ? (const char *)m : "", ml);
        model[ml] = 0;
        o.model = model;
        rc->applied++;
        st = coll_create_impl(rc->s, t, n, &o, true);
        if (st == AKIDB_EINVAL || st == AKIDB_ERANGE)
            return ak_fail_prefix(AKIDB_ECORRUPT, "bad collection");
        return st;
    }
    case AK_WAL_COLL_DELETE:
        if ((st = read_name(&r, t)) != AKIDB_OK || (st = read_name(&r, n)) != AKIDB_OK)
            return st;
        if (r.off != r.n)
            return bad_rec("trailing bytes");
        rc->applied++;
        return coll_delete_impl(rc->s, t, n, true);
    case AK_WAL_UPSERT:
        return replay_upsert(rc, &r);
    case AK_WAL_DELETE:
        return replay_delete(rc, &r);
    }
    (void)lsn;
    return bad_rec("unknown type");
}

/* ---- open / close ------------------------------------------------------------------------------- */

typedef struct seg {
    uint64_t lsn;
    char *name;
} seg;

static int cmp_seg(const void *a, const void *b)
{
    const seg *x = a, *y = b;
    return (x->lsn > y->lsn) - (x->lsn < y->lsn);
}

static void free_segs(seg *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ak_free(v[i].name);
    ak_free(v);
}

/* Lists files "<prefix><16 hex><suffix>" in dir, sorted by number. */
static akidb_status list_files(const char *dir, const char *prefix, const char *suffix, seg **out,
                               size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ak_fail(AKIDB_EIO, "%s: %s", dir, strerror(errno));
    seg *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    size_t pl = strlen(prefix), sl = strlen(suffix);
    akidb_status st = AKIDB_OK;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l != pl + 16 + sl || strncmp(e->d_name, prefix, pl) != 0 ||
            strcmp(e->d_name + pl + 16, suffix) != 0)
            continue;
        char hex[17];
        memcpy(hex, e->d_name + pl, 16);
        hex[16] = 0;
        char *end;
        uint64_t lsn = strtoull(hex, &end, 16);
        if (*end)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            seg *nv = ak_realloc(v, cap * sizeof *v);
            if (!nv) {
                st = ak_fail(AKIDB_ENOMEM, "listing %s: out of memory", dir);
                break;
            }
            v = nv;
        }
        v[n].lsn = lsn;
        if (!(v[n].name = ak_path_join(dir, e->d_name))) {
            st = ak_fail(AKIDB_ENOMEM, "listing %s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (st != AKIDB_OK) {
        free_segs(v, n);
        return st;
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_seg);
    *out = v;
    *n_out = n;
    return AKIDB_OK;
}

static void remove_tmp_files(akidb_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0 && strncmp(e->d_name, "snap-", 5) == 0) {
            char *p = ak_path_join(s->dir, e->d_name);
            if (p) {
                unlink(p);
                ak_store_log(s, AKIDB_LOG_INFO, "%s: removed unfinished snapshot", p);
            }
            ak_free(p);
        }
    }
    closedir(d);
}

/* Replays WAL segments after the snapshot and opens the log for appending. */
static akidb_status recover_wal(akidb_store *s, uint64_t snap_lsn)
{
    seg *v;
    size_t n;
    akidb_status st = list_files(s->dir, "wal-", ".log", &v, &n);
    if (st != AKIDB_OK)
        return st;
    /* First segment to read: the last one starting at or before snap_lsn. */
    size_t first = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].lsn <= snap_lsn)
            first = i;
    uint64_t next = snap_lsn;
    const char *append_path = NULL;
    size_t append_off = 0;
    replay_ctx rc = { s, 0, 0, 0, 0, 0 };
    for (size_t j = first; j < n; j++) {
        struct stat sb;
        if (stat(v[j].name, &sb) == 0 && sb.st_size > AK_WAL_HEADER_SIZE)
            rc.total += (uint64_t)sb.st_size - AK_WAL_HEADER_SIZE;
    }
    report(s, "wal", 0, rc.total);
    size_t i;
    for (i = first; i < n; i++) {
        bool last = i + 1 == n;
        char *data = NULL;
        size_t len = 0;
        st = ak_read_file(v[i].name, (size_t)1 << 40, &data, &len);
        if (st != AKIDB_OK)
            break;
        if (last && len < AK_WAL_HEADER_SIZE) {
            /* Crash while creating the segment: nothing was logged in it. */
            ak_store_log(s, AKIDB_LOG_WARN, "%s: incomplete segment header (%zu bytes) removed",
                         v[i].name, len);
            ak_free(data);
            unlink(v[i].name);
            break;
        }
        ak_wal_scan sc;
        st = ak_wal_scan_buf((const uint8_t *)data, len, v[i].name, snap_lsn, replay_rec, &rc, &sc);
        ak_free(data);
        if (st != AKIDB_OK)
            break;
        if (i > first && sc.start_lsn != next) {
            st = ak_fail(AKIDB_ECORRUPT, "%s: offset 16: segment starts at record %llu, expected %llu",
                         v[i].name, (unsigned long long)sc.start_lsn, (unsigned long long)next);
            break;
        }
        if (i == first && sc.start_lsn > snap_lsn) {
            st = ak_fail(AKIDB_ECORRUPT,
                         "%s: offset 16: segment starts at record %llu but records from %llu are needed",
                         v[i].name, (unsigned long long)sc.start_lsn, (unsigned long long)snap_lsn);
            break;
        }
        if (sc.next_lsn > next)
            next = sc.next_lsn;
        if (sc.damaged) {
            bool tail = last && !sc.resync;
            if (!tail && !s->opts.wal_cut_on_corruption) {
                st = ak_fail(AKIDB_ECORRUPT,
                             "%s: offset %zu: %s, and valid data follows; the log is damaged "
                             "(open with wal_cut_on_corruption to drop the rest)",
                             v[i].name, sc.valid_end, sc.why);
                break;
            }
            ak_store_log(s, AKIDB_LOG_WARN, "%s: offset %zu: %s; log cut there (%zu bytes dropped%s)",
                         v[i].name, sc.valid_end, sc.why, len - sc.valid_end,
                         last ? "" : ", later segments removed");
            if (truncate(v[i].name, (off_t)sc.valid_end) != 0) {
                st = ak_fail(AKIDB_EIO, "%s: truncate: %s", v[i].name, strerror(errno));
                break;
            }
            for (size_t j = i + 1; j < n; j++)
                unlink(v[j].name);
            append_path = v[i].name;
            append_off = sc.valid_end;
            i = n;
            break;
        }
        if (last) {
            append_path = v[i].name;
            append_off = len;
        }
    }
    if (st == AKIDB_OK) {
        if (next < snap_lsn)
            next = snap_lsn;
        if (next == 0)
            next = 1;
        if (append_path && append_off >= AK_WAL_HEADER_SIZE)
            st = ak_wal_open(s->dir, append_path, append_off, next, s->opts.sync == AKIDB_SYNC_FULL,
                             &s->wal);
        else
            st = ak_wal_open(s->dir, NULL, 0, next, s->opts.sync == AKIDB_SYNC_FULL, &s->wal);
    }
    if (st == AKIDB_OK)
        report(s, "wal", rc.total, rc.total);
    if (st == AKIDB_OK && (rc.applied || rc.skipped))
        ak_store_log(s, AKIDB_LOG_INFO, "%s: replayed %zu WAL records (%zu for deleted collections)",
                     s->dir, rc.applied + rc.skipped, rc.skipped);
    /* Segments wholly before the snapshot are no longer needed. */
    if (st == AKIDB_OK)
        for (size_t j = 0; j < first; j++)
            unlink(v[j].name);
    free_segs(v, n);
    return st;
}

static void store_free(akidb_store *s)
{
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
    remove_tmp_files(s);

    /* Newest snapshot. */
    seg *snaps;
    size_t n_snaps;
    if ((st = list_files(dir, "snap-", ".akdb", &snaps, &n_snaps)) != AKIDB_OK)
        goto fail;
    uint64_t snap_lsn = 1;
    if (n_snaps) {
        struct stat sb;
        uint64_t size = stat(snaps[n_snaps - 1].name, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        report(s, "snapshot", 0, size);
        st = ak_snapshot_load(s, snaps[n_snaps - 1].name, &snap_lsn);
        if (st == AKIDB_OK)
            report(s, "snapshot", size, size);
        if (st == AKIDB_OK)
            for (size_t i = 0; i + 1 < n_snaps; i++)
                unlink(snaps[i].name);
    }
    free_segs(snaps, n_snaps);
    if (st != AKIDB_OK)
        goto fail;
    s->snap_lsn = snap_lsn;
    if ((st = recover_wal(s, snap_lsn)) != AKIDB_OK)
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
    if (!s->opts.no_snapshot_on_close && ak_wal_last_lsn(s->wal) >= s->snap_lsn)
        st = akidb_store_snapshot(s);
    store_free(s);
    return st;
}

akidb_status akidb_store_snapshot(akidb_store *s)
{
    AK_ASSERT(s);
    pthread_mutex_lock(&s->snap_mu);
    atomic_store(&s->snapshot_busy, true);
    pthread_mutex_lock(&s->cat_wmu);
    uint64_t lsn;
    akidb_status st = ak_wal_rotate(s->wal, &lsn);
    if (st == AKIDB_OK)
        st = ak_snapshot_write(s, lsn);
    pthread_mutex_unlock(&s->cat_wmu);
    if (st == AKIDB_OK) {
        s->snap_lsn = lsn;
        /* Older snapshots and segments are superseded. */
        seg *v;
        size_t n;
        if (list_files(s->dir, "snap-", ".akdb", &v, &n) == AKIDB_OK) {
            for (size_t i = 0; i < n; i++)
                if (v[i].lsn < lsn)
                    unlink(v[i].name);
            free_segs(v, n);
        }
        if (list_files(s->dir, "wal-", ".log", &v, &n) == AKIDB_OK) {
            for (size_t i = 0; i < n; i++)
                if (v[i].lsn < lsn)
                    unlink(v[i].name);
            free_segs(v, n);
        }
    }
    atomic_store(&s->snapshot_busy, false);
    pthread_mutex_unlock(&s->snap_mu);
    return st;
}

static void maybe_snapshot(akidb_store *s)
{
    uint64_t lim = s->opts.snapshot_wal_bytes ? s->opts.snapshot_wal_bytes : (64ull << 20);
    if (lim == UINT64_MAX || atomic_load(&s->snapshot_busy) || ak_wal_bytes(s->wal) < lim)
        return;
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", akidb_last_error());
    if (akidb_store_snapshot(s) != AKIDB_OK)
        ak_store_log(s, AKIDB_LOG_ERROR, "automatic snapshot failed: %s", akidb_last_error());
    ak_fail(AKIDB_OK, "%s", saved);
}

void akidb_store_get_stats(akidb_store *s, akidb_store_stats *st)
{
    AK_ASSERT(s && st);
    memset(st, 0, sizeof *st);
    st->wal_bytes = ak_wal_bytes(s->wal);
    st->last_lsn = ak_wal_last_lsn(s->wal);
    pthread_mutex_lock(&s->snap_mu);
    st->snapshot_lsn = s->snap_lsn;
    pthread_mutex_unlock(&s->snap_mu);
    pthread_rwlock_rdlock(&s->cat);
    st->n_tenants = s->n_tenants;
    for (size_t i = 0; i < s->n_tenants; i++)
        st->n_collections += s->tenants[i]->n_colls;
    pthread_rwlock_unlock(&s->cat);
}
