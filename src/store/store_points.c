/*
 * store_points.c - the store's point writes: validation, upsert (with the
 * index adds spread over threads for large batches) and delete, shared by
 * the API (logged) and WAL replay (store_replay.c, not logged).
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
 *      ones DEAD (or, for a point in a sealed segment, a tombstone set
 *      there: segment.c), id hash updated (no allocation, cannot fail);
 *   6. remove the replaced labels from the index in one batch and recycle
 *      their slots (a failure here only leaves invisible "zombie" labels that
 *      the next write retries);
 *   7. after the collection's mutex is released, wake the snapshot thread if
 *      the WAL has passed its threshold (ak_store_maybe_snapshot) or the
 *      tail its seal size (ak_store_maybe_seal); the write does not wait
 *      for the snapshot or the sealing.
 * Readers (search, get, count, scroll) hold the collection's read lock and
 * wait only for step 5.  Recovery replays WAL records with the same code
 * minus step 4.
 */
#include "store/store_int.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

akidb_status ak_store_check_vector(const ak_coll *c, const char *what, const char *id,
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

static int cmp_prep_id(const void *a, const void *b)
{
    const ak_prep *x = *(ak_prep *const *)a, *y = *(ak_prep *const *)b;
    size_t n = x->id_len < y->id_len ? x->id_len : y->id_len;
    int r = memcmp(x->id, y->id, n);
    return r ? r : (x->id_len > y->id_len) - (x->id_len < y->id_len);
}

akidb_status ak_store_check_dups(const ak_coll *c, ak_prep *p, size_t n)
{
    if (n < 2)
        return AKIDB_OK;
    ak_prep **idx = ak_malloc(n * sizeof *idx);
    if (!idx)
        return ak_coll_oom(c);
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

/* An index accepts concurrent adds, so many adds are spread over a few
 * threads, each taking every T-th item (store_int.h, ak_store_add_spread). */
typedef struct spread_job {
    ak_add_fn add;
    void *ctx;
    size_t n, start, step;
    akidb_status st;
    char msg[512];
} spread_job;

static void *spread_worker(void *arg)
{
    spread_job *j = arg;
    j->st = AKIDB_OK;
    for (size_t i = j->start; i < j->n; i += j->step) {
        akidb_status st = j->add(j->ctx, i);
        if (st != AKIDB_OK) {
            j->st = st;
            snprintf(j->msg, sizeof j->msg, "%s", akidb_last_error());
            break;
        }
    }
    return NULL;
}

#define ADD_THREADS_MAX 8
#define ADD_PARALLEL_MIN 256
#define ADD_WARM 1024   /* an index smaller than this grows one add at a time */

akidb_status ak_store_add_spread(size_t n, size_t have, ak_add_fn add, void *ctx)
{
    /* The first nodes of a graph are added in order: threads racing into an
     * almost empty graph leave it poorly connected (every new tail sealed
     * into a segment, and every merged segment, starts one). */
    size_t warm = have < ADD_WARM ? (n < ADD_WARM - have ? n : ADD_WARM - have) : 0;
    spread_job w = { add, ctx, warm, 0, 1, AKIDB_OK, "" };
    spread_worker(&w);
    if (w.st != AKIDB_OK)
        return ak_fail(w.st, "%s", w.msg);
    static long ncpu;
    if (!ncpu) {
        long k = sysconf(_SC_NPROCESSORS_ONLN);
        ncpu = k < 1 ? 1 : k;
    }
    size_t t = n - warm >= ADD_PARALLEL_MIN ? (size_t)ncpu : 1;
    if (t > ADD_THREADS_MAX)
        t = ADD_THREADS_MAX;
    spread_job jobs[ADD_THREADS_MAX];
    pthread_t th[ADD_THREADS_MAX];
    bool started[ADD_THREADS_MAX] = { false };
    for (size_t i = 0; i < t; i++)
        jobs[i] = (spread_job){ add, ctx, n, warm + i, t, AKIDB_OK, "" };
    for (size_t i = 1; i < t; i++)
        started[i] = pthread_create(&th[i], NULL, spread_worker, &jobs[i]) == 0;
    spread_worker(&jobs[0]);
    for (size_t i = 1; i < t; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            spread_worker(&jobs[i]);   /* no thread: its share is done here */
    }
    for (size_t i = 0; i < t; i++)
        if (jobs[i].st != AKIDB_OK)
            return ak_fail(jobs[i].st, "%s", jobs[i].msg);
    return AKIDB_OK;
}

typedef struct {
    ak_coll *c;
    ak_prep *p;
} upsert_adds;

static akidb_status upsert_add(void *ctx, size_t i)
{
    upsert_adds *u = ctx;
    ak_prep *p = &u->p[i];
    akidb_status st = ak_index_add(&u->c->index, p->label, p->vec);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "collection '%s/%s': point '%s'", u->c->tenant, u->c->name,
                              p->id);
    u->c->slots[p->label].in_index = true;
    return AKIDB_OK;
}

/* Applies a prepared batch (writer mutex held).  rec: the WAL record to log
 * (NULL during replay). */
akidb_status ak_store_apply_upsert(akidb_store *s, ak_coll *c, ak_prep *p, size_t n,
                                 const ak_buf *rec)
{
    ak_coll_retry_zombies(c);
    /* Slot growth and label allocation change n_slots: under the lock. */
    pthread_rwlock_wrlock(&c->rw);
    akidb_status st = ak_coll_reserve(c, n);
    for (size_t i = 0; st == AKIDB_OK && i < n; i++) {
        p[i].label = ak_coll_take_label(c);
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
            ak_coll_slot_clear(sl);
            st = ak_coll_oom(c);
            break;
        }
    }
    for (size_t i = filled + (st != AKIDB_OK); i < n; i++)
        ak_coll_give_label(c, p[i].label);   /* taken but never filled */
    if (st != AKIDB_OK && filled < n) {
        ak_coll_give_label(c, p[filled].label);
    }
    if (st == AKIDB_OK) {
        upsert_adds u = { c, p };
        st = ak_store_add_spread(n, ak_index_count(&c->index), upsert_add, &u);
        added = n;   /* rollback consults in_index per slot */
    }
    if (st == AKIDB_OK && rec)
        st = ak_store_log_record(s, AK_WAL_UPSERT, rec);
    if (st != AKIDB_OK) {
        /* Roll back: nothing was published. */
        uint32_t *undo = ak_malloc((added ? added : 1) * sizeof *undo);
        for (size_t i = 0; i < filled; i++)
            ak_coll_slot_clear(&c->slots[p[i].label]);
        size_t nu = 0;
        for (size_t i = 0; i < filled; i++) {
            uint32_t l = p[i].label;
            if (!c->slots[l].in_index)
                ak_coll_give_label(c, l);
            else if (undo)
                undo[nu++] = l;
            else
                c->zombies[c->n_zombies++] = l;
        }
        akidb_status keep = st;
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", akidb_last_error());
        ak_coll_retire_labels(c, undo, nu);
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
            ak_coll_ht_remove(c, o);
            atomic_store_explicit(&c->slots[o].state, SLOT_DEAD, memory_order_release);
            c->n_live--;
            if (old)
                old[n_old++] = o;
            else
                c->zombies[c->n_zombies++] = o;
        } else if (c->n_segs) {
            ak_seg_tombstone(c, p[i].id, p[i].id_len);   /* replaced in a sealed segment */
        }
        c->tail_bytes += p[i].id_len + p[i].text_len + (size_t)c->dim * 4 + 16;
        c->slots[l].payload = p[i].payload;
        p[i].payload = NULL;
        ak_coll_ht_insert(c, l);
        atomic_store_explicit(&c->slots[l].state, SLOT_LIVE, memory_order_release);
        c->n_live++;
    }
    pthread_rwlock_unlock(&c->rw);
    if (!old) {
        for (size_t i = 0; i < c->n_zombies; i++)
            ak_coll_slot_clear(&c->slots[c->zombies[i]]);
    }
    for (size_t i = 0; i < n_old; i++)
        ak_coll_slot_clear(&c->slots[old[i]]);
    ak_coll_retire_labels(c, old, n_old);
    ak_free(old);
    return AKIDB_OK;
}

void ak_store_free_preps(ak_prep *p, size_t n)
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
    akidb_status st = ak_store_get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    if (n == 0 || n > AK_STORE_MAX_BATCH) {
        ak_coll_unref(c);
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': a batch must have 1 to %u points, not %zu",
                       tenant, collection, AK_STORE_MAX_BATCH, n);
    }
    ak_json_init();
    ak_prep *p = ak_calloc(n, sizeof *p);
    ak_buf rec = { 0 };
    if (!p) {
        st = ak_coll_oom(c);
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
        if ((st = ak_store_check_vector(c, "point", in->id, in->vector, dims ? dims[i] : c->dim)) != AKIDB_OK)
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
    if ((st = ak_store_check_dups(c, p, n)) != AKIDB_OK)
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
        st = ak_coll_oom(c);
        goto out;
    }
    pthread_mutex_lock(&c->wmu);
    if (c->dead)
        st = ak_fail(AKIDB_ENOENT, "collection '%s' not found in tenant '%s'", collection, tenant);
    else
        st = ak_store_apply_upsert(s, c, p, n, &rec);
    pthread_mutex_unlock(&c->wmu);
out:
    ak_store_free_preps(p, n);
    ak_buf_free(&rec);
    if (st == AKIDB_OK)
        ak_store_maybe_seal(s, c);
    ak_coll_unref(c);
    if (st == AKIDB_OK)
        ak_store_maybe_snapshot(s);
    return st;
}

/* Deletes ids (writer mutex held); rec NULL during replay. */
akidb_status ak_store_apply_delete(akidb_store *s, ak_coll *c, const char *const *ids,
                                 const size_t *lens, size_t n, size_t *n_deleted)
{
    ak_coll_retry_zombies(c);
    uint32_t *labels = ak_malloc((n ? n : 1) * sizeof *labels);
    if (!labels)
        return ak_coll_oom(c);
    /* ids live in sealed segments: tombstoned (index into ids, deduplicated) */
    size_t *in_seg = c->n_segs ? ak_malloc((n ? n : 1) * sizeof *in_seg) : NULL;
    if (c->n_segs && !in_seg) {
        ak_free(labels);
        return ak_coll_oom(c);
    }
    size_t m = 0, ms = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = ak_coll_find(c, ids[i], lens[i]);
        if (l == AK_NO_LABEL) {
            size_t g;
            uint32_t gl;
            if (in_seg && lens[i] <= AKIDB_POINT_ID_MAX && ak_seg_find(c, ids[i], lens[i], &g, &gl)) {
                bool dup = false;
                for (size_t j = 0; j < ms && !dup; j++)
                    dup = lens[in_seg[j]] == lens[i] && memcmp(ids[in_seg[j]], ids[i], lens[i]) == 0;
                if (!dup)
                    in_seg[ms++] = i;
            }
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < m && !dup; j++)   /* batches are small; fine */
            dup = labels[j] == l;
        if (!dup && m < n)
            labels[m++] = l;
    }
    if (n_deleted)
        *n_deleted = m + ms;
    akidb_status st = AKIDB_OK;
    if (m + ms && s->wal) {
        ak_buf b = { 0 };
        ak_buf_str8(&b, c->tenant, strlen(c->tenant));
        ak_buf_str8(&b, c->name, strlen(c->name));
        ak_buf_u32(&b, (uint32_t)(m + ms));
        for (size_t i = 0; i < m; i++)
            ak_buf_str8(&b, c->slots[labels[i]].id, c->slots[labels[i]].id_len);
        for (size_t i = 0; i < ms; i++)
            ak_buf_str8(&b, ids[in_seg[i]], lens[in_seg[i]]);
        st = ak_store_log_record(s, AK_WAL_DELETE, &b);
        ak_buf_free(&b);
    }
    if (st != AKIDB_OK || !(m + ms)) {
        ak_free(labels);
        ak_free(in_seg);
        return st;
    }
    pthread_rwlock_wrlock(&c->rw);
    for (size_t i = 0; i < m; i++) {
        ak_coll_ht_remove(c, labels[i]);
        atomic_store_explicit(&c->slots[labels[i]].state, SLOT_DEAD, memory_order_release);
        c->n_live--;
    }
    for (size_t i = 0; i < ms; i++)
        ak_seg_tombstone(c, ids[in_seg[i]], lens[in_seg[i]]);
    pthread_rwlock_unlock(&c->rw);
    ak_free(in_seg);
    for (size_t i = 0; i < m; i++)
        ak_coll_slot_clear(&c->slots[labels[i]]);
    ak_coll_retire_labels(c, labels, m);
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
    akidb_status st = ak_store_get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    if (n > AK_STORE_MAX_BATCH) {
        ak_coll_unref(c);
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': at most %u ids per delete", tenant,
                       collection, AK_STORE_MAX_BATCH);
    }
    size_t *lens = ak_malloc((n ? n : 1) * sizeof *lens);
    if (!lens) {
        st = ak_coll_oom(c);
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
            st = ak_store_apply_delete(s, c, ids, lens, n, n_deleted);
        pthread_mutex_unlock(&c->wmu);
    }
    ak_free(lens);
    ak_coll_unref(c);
    if (st == AKIDB_OK)
        ak_store_maybe_snapshot(s);
    return st;
}
