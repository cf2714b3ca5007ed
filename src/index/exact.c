/*
 * exact.c - brute-force k-nearest search: over every live vector of an
 * index (optionally filtered), over a caller-given list of labels, and over
 * a plain array of vectors (ground truth for tests and benchmarks).
 *
 * Why: exact search is the reference that recall is measured against, and
 * the right strategy when a filter matches only a few points - scanning a
 * few thousand vectors beats walking a graph whose matches are sparse.
 * Top-k is kept in a max-heap of k entries, so memory is O(k).  For L2,
 * once k results are held each further distance is computed with the
 * bounded kernel against the worst of them (see ak_dist_bounded_fn): a
 * vector that cannot enter the top k is dropped after part of its
 * components, with the same outcome as a full evaluation.
 */
#include "index/hnsw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exact scan with the read lock held and scratch s ready. */
akidb_status ak_exact_locked(const ak_hnsw *h, ak_scratch *s, const float *q, size_t k,
                             ak_filter_fn accept, void *ctx, ak_hit *out, size_t *n_out);

akidb_status ak_exact_locked(const ak_hnsw *h, ak_scratch *s, const float *q, size_t k,
                             ak_filter_fn accept, void *ctx, ak_hit *out, size_t *n_out)
{
    size_t n = 0;
    if (!ak_scratch_reserve(&s->res, &s->res_cap, k + 1))
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for exact search");
    ak_pair *hp = s->res;
    uint32_t ns = __atomic_load_n(&h->n_slots, __ATOMIC_RELAXED);
    for (uint32_t x = 0; x < ns; x++) {
        if (__atomic_load_n(&h->state[x], __ATOMIC_ACQUIRE) != SLOT_LIVE)
            continue;
        if (accept && !accept(h->slot_label[x], ctx))
            continue;
        /* just above the worst held distance, so ties come back exact
         * and the label tie-break below still sees them */
        float bound = n < k ? INFINITY : nextafterf(hp[0].d, INFINITY);
        float d = ak_distance_below(h, q, ak_vec(h, x), bound);
        if (n < k) {
            ak_maxheap_push(hp, &n, (ak_pair){ d, x });
        } else if (d < hp[0].d || (d == hp[0].d && h->slot_label[x] < h->slot_label[hp[0].id])) {
            ak_maxheap_pop(hp, &n);
            ak_maxheap_push(hp, &n, (ak_pair){ d, x });
        }
    }
    ak_emit_hits(h, hp, n, out);
    *n_out = n;
    return AKIDB_OK;
}

akidb_status ak_exact_search(const ak_hnsw *h, const float *query, size_t k,
                             ak_filter_fn accept, void *ctx, ak_hit *out,
                             size_t *n_out)
{
    AK_ASSERT(h && query && n_out && (out || k == 0));
    *n_out = 0;
    if (k == 0)
        return AKIDB_OK;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&h->lock);
    akidb_status st;
    const float *q;
    ak_scratch *s = ak_scratch_get(h);
    if (!s)
        st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for search scratch");
    else if (!(st = ak_prepare_query(h, s, query, &q)))
        st = ak_exact_locked(h, s, q, k, accept, ctx, out, n_out);
    ak_scratch_put(h, s);
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->lock);
    return st;
}

akidb_status ak_exact_search_labels(const ak_hnsw *h, const float *query,
                                    size_t k, const uint32_t *labels,
                                    size_t n_labels, ak_hit *out,
                                    size_t *n_out)
{
    AK_ASSERT(h && query && n_out && (out || k == 0) && (labels || n_labels == 0));
    *n_out = 0;
    if (k == 0)
        return AKIDB_OK;
    pthread_rwlock_rdlock((pthread_rwlock_t *)&h->lock);
    akidb_status st;
    const float *q;
    ak_scratch *s = ak_scratch_get(h);
    if (!s) {
        st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for search scratch");
    } else if (!(st = ak_prepare_query(h, s, query, &q))) {
        if (!ak_scratch_reserve(&s->res, &s->res_cap, k + 1)) {
            st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for exact search");
        } else {
            ak_visit_reset(s);
            ak_pair *hp = s->res;
            size_t n = 0;
            pthread_mutex_lock((pthread_mutex_t *)&h->alloc_mu);
            for (size_t i = 0; i < n_labels; i++) {
                uint32_t x = ak_lmap_get(h, labels[i]);
                if (x == AK_NONE || h->state[x] != SLOT_LIVE || !ak_visit(s, x))
                    continue;
                float d = ak_distance(h, q, ak_vec(h, x));
                if (n < k) {
                    ak_maxheap_push(hp, &n, (ak_pair){ d, x });
                } else if (d < hp[0].d || (d == hp[0].d && labels[i] < h->slot_label[hp[0].id])) {
                    ak_maxheap_pop(hp, &n);
                    ak_maxheap_push(hp, &n, (ak_pair){ d, x });
                }
            }
            pthread_mutex_unlock((pthread_mutex_t *)&h->alloc_mu);
            ak_emit_hits(h, hp, n, out);
            *n_out = n;
        }
    }
    ak_scratch_put(h, s);
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->lock);
    return st;
}

static int cmp_row(const void *a, const void *b)
{
    const ak_pair *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

akidb_status ak_exact_search_array(const float *vectors, size_t n, size_t dim,
                                   ak_metric metric, const float *query,
                                   size_t k, ak_hit *out, size_t *n_out)
{
    AK_ASSERT((vectors || n == 0) && query && n_out && (out || k == 0));
    *n_out = 0;
    if (k == 0 || n == 0)
        return AKIDB_OK;
    if (n > 0xFFFFFFFFull)
        return ak_fail(AKIDB_EINVAL, "exact search: too many vectors");
    bool l2 = metric == AK_METRIC_L2;
    ak_dist_fn f = ak_dist_get(ak_dist_path(), l2 ? AK_METRIC_L2 : AK_METRIC_DOT);
    ak_dist_bounded_fn fb = l2 ? ak_l2_bounded_get(ak_dist_path()) : NULL;
    size_t kk = k < n ? k : n;
    ak_pair *hp = ak_malloc((kk + 1) * sizeof *hp);
    if (!hp)
        return ak_fail(AKIDB_ENOMEM, "exact search: out of memory");
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float d;
        if (fb)
            d = fb(vectors + i * dim, query, dim, m < kk ? INFINITY : hp[0].d);
        else
            d = f(vectors + i * dim, query, dim);
        if (!l2) d = -d;
        if (m < kk) {
            ak_maxheap_push(hp, &m, (ak_pair){ d, (uint32_t)i });
        } else if (d < hp[0].d) {
            ak_maxheap_pop(hp, &m);
            ak_maxheap_push(hp, &m, (ak_pair){ d, (uint32_t)i });
        }
    }
    /* sort ascending by (d, row) */
    qsort(hp, m, sizeof *hp, cmp_row);
    for (size_t i = 0; i < m; i++) {
        out[i].label = hp[i].id;
        out[i].score = l2 ? hp[i].d : -hp[i].d;
    }
    *n_out = m;
    ak_free(hp);
    return AKIDB_OK;
}
