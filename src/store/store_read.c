/*
 * store_read.c - the store's read side: points by id, scroll in id order,
 * count, and search through the collection's index (ak_index_search, any
 * kind) with payload filters; all under
 * the collection's read lock, seeing only LIVE slots (see store.c for the
 * write path that publishes them).
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
        return ak_coll_oom(c);
    if ((with & AKIDB_WITH_TEXT) && sl->text && !(o->text = ak_strdup(sl->text)))
        return ak_coll_oom(c);
    if ((with & AKIDB_WITH_PAYLOAD) && sl->payload &&
        !(o->payload = json_dumps(sl->payload, JSON_COMPACT)))
        return ak_coll_oom(c);
    if (with & AKIDB_WITH_VECTOR) {
        if (!(o->vector = ak_malloc((size_t)c->dim * sizeof(float))))
            return ak_coll_oom(c);
        akidb_status st = ak_index_get_vector(&c->index, l, o->vector);
        if (st != AKIDB_OK)
            return ak_fail_prefix(st, "collection '%s/%s': point '%s'", c->tenant, c->name, o->id);
    }
    return AKIDB_OK;
}

static akidb_status out_alloc(const ak_coll *c, akidb_points *out, size_t n)
{
    memset(out, 0, sizeof *out);
    out->items = ak_calloc(n ? n : 1, sizeof *out->items);
    return out->items ? AKIDB_OK : ak_coll_oom(c);
}

akidb_status akidb_points_get(akidb_store *s, const char *tenant, const char *collection,
                              const char *const *ids, size_t n, unsigned with, akidb_points *out)
{
    AK_ASSERT(out && (ids || n == 0));
    memset(out, 0, sizeof *out);
    ak_coll *c;
    akidb_status st = ak_store_get_coll(s, tenant, collection, &c);
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

/* The filter on slot l: its payload, and its id for "$id" conditions. */
static inline bool slot_match(const ak_filter *f, const ak_coll *c, uint32_t l)
{
    return ak_filter_match_point(f, c->slots[l].id, c->slots[l].id_len, c->slots[l].payload);
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
    if ((st = ak_store_get_coll(s, tenant, collection, &c)) != AKIDB_OK) {
        ak_filter_free(f);
        return st;
    }
    pthread_rwlock_rdlock(&c->rw);
    if (!f) {
        *count = c->n_live;
    } else {
        uint64_t k = 0;
        for (uint32_t l = 0; l < c->n_slots; l++)
            if (slot_live(c, l) && slot_match(f, c, l))
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
    if (limit < 1 || limit > AK_STORE_MAX_SCROLL)
        return ak_fail(AKIDB_EINVAL, "scroll limit %zu is outside 1..%u", limit, AK_STORE_MAX_SCROLL);
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
    if ((st = ak_store_get_coll(s, tenant, collection, &c)) != AKIDB_OK) {
        ak_filter_free(f);
        return st;
    }
    ak_json_init();
    uint32_t *h = ak_malloc((limit + 1) * sizeof *h);
    if (!h) {
        st = ak_coll_oom(c);
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
        if (f && !slot_match(f, c, l))
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
            st = ak_coll_oom(c);
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
    return !a->f || slot_match(a->f, a->c, label);
}

#define FULL_EVAL_MAX 50000u     /* evaluate filters on every point below this */
#define SAMPLE_N 2000u

akidb_status akidb_search(akidb_store *s, const char *tenant, const char *collection,
                          const akidb_search_req *req, akidb_points *out)
{
    AK_ASSERT(req && out && (req->vector || req->dim == 0));
    memset(out, 0, sizeof *out);
    ak_coll *c;
    akidb_status st = ak_store_get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    ak_filter *f = NULL;
    ak_hit *hits = NULL;
    uint32_t *labels = NULL;
    if (req->top_k < 1 || req->top_k > AK_STORE_MAX_TOPK) {
        st = ak_fail(AKIDB_EINVAL, "search in '%s/%s': top_k %zu is outside 1..%u", tenant,
                     collection, req->top_k, AK_STORE_MAX_TOPK);
        goto done;
    }
    if ((st = ak_store_check_vector(c, "search", "query", req->vector, req->dim)) != AKIDB_OK)
        goto done;
    if ((st = parse_filter_opt(req->filter_json, &f)) != AKIDB_OK)
        goto done;
    ak_json_init();
    size_t k = req->top_k;
    size_t ef = req->ef ? req->ef : (4 * k > 128 ? 4 * k : 128);
    if (ef < k)
        ef = k;
    if (!(hits = ak_malloc(k * sizeof *hits))) {
        st = ak_coll_oom(c);
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
        ak_search_opts so = { 0 };
        so.accept = accept_live;
        so.ctx = &ac;
        so.strategy = AK_SEARCH_EXACT;
        st = ak_index_search(&c->index, req->vector, k, &so, hits, &nh);
    } else if (!f) {
        ak_search_opts so = { 0 };
        so.ef = ef;
        so.accept = accept_live;
        so.ctx = &ac;
        so.strategy = AK_SEARCH_GRAPH;
        st = ak_index_search(&c->index, req->vector, k, &so, hits, &nh);
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
                hit += slot_match(f, c, l);
            }
            sel = seen ? (double)hit / (double)seen : 1.0;
            full = sel * (double)live <= (double)exact_thr * 4;
        } else {
            sel = 1.0;
        }
        if (full) {
            labels = ak_malloc((size_t)c->n_slots * sizeof *labels);
            if (!labels) {
                st = ak_coll_oom(c);
            } else {
                for (uint32_t l = 0; l < c->n_slots; l++)
                    if (slot_live(c, l) && slot_match(f, c, l))
                        labels[matches++] = l;
                sel = (double)matches / (double)live;
            }
        }
        if (st != AKIDB_OK) {
            /* fallthrough to unlock */
        } else if (full && (matches <= exact_thr * 4 || sel < 0.05)) {
            ak_search_opts so = { 0 };
            so.labels = labels;
            so.n_labels = matches;
            st = ak_index_search(&c->index, req->vector, k, &so, hits, &nh);
        } else {
            ak_search_opts so = { 0 };
            so.ef = ef;
            so.accept = accept_live;
            so.ctx = &ac;
            so.selectivity = sel > 0 ? sel : 1e-6;
            so.strategy = AK_SEARCH_AUTO;
            st = ak_index_search(&c->index, req->vector, k, &so, hits, &nh);
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

