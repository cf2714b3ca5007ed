/*
 * hnsw_kind.c - the "hnsw" member of the index kind table (kinds.c): its
 * method table, adapting the ak_hnsw_* functions to the table's signatures,
 * and its exact entries - brute-force k-nearest search over the graph's own
 * vectors, all of them (optionally filtered) or a caller-given list of
 * labels.
 *
 * Why exact search lives with the graph: the graph owns the only copy of
 * the vectors, and exact search over them is what the graph search switches
 * to when a filter matches few points (ak_hnsw_search_ex, AK_SEARCH_AUTO)
 * and what the store uses for small collections.  Top-k is kept in a
 * max-heap of k entries, so memory is O(k).  For L2, once k results are held
 * each further distance is computed with the bounded kernel against the
 * worst of them (see ak_dist_bounded_fn): a vector that cannot enter the top
 * k is dropped after part of its components, with the same outcome as a
 * full evaluation.
 */
#include "index/hnsw_internal.h"

#include <math.h>
#include <string.h>

/* ---- exact search over the graph's vectors ---------------------------------- */

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
        if (++s->nd > s->max_nd && s->max_nd)
            return ak_fail(AKIDB_ERANGE, "hnsw: the exact search examined %zu points, past its "
                           "budget of %zu", s->nd, s->max_nd);
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

/* ---- the method table ---------------------------------------------------------- */

static akidb_status m_create(const ak_index_params *p, void **out)
{
    return ak_hnsw_create(p, (ak_hnsw **)out);
}

static void m_free(void *impl)
{
    ak_hnsw_free(impl);
}

static ak_index_params m_params(const void *impl)
{
    return ak_hnsw_get_params(impl);
}

static akidb_status m_add(void *impl, uint32_t label, const float *vec)
{
    return ak_hnsw_add(impl, label, vec);
}

static akidb_status m_remove_batch(void *impl, const uint32_t *labels, size_t n, size_t *n_removed)
{
    return ak_hnsw_remove_batch(impl, labels, n, n_removed);
}

static bool m_contains(const void *impl, uint32_t label)
{
    return ak_hnsw_contains(impl, label);
}

static akidb_status m_get_vector(const void *impl, uint32_t label, float *out)
{
    return ak_hnsw_get_vector(impl, label, out);
}

static size_t m_count(const void *impl)
{
    return ak_hnsw_count(impl);
}

static size_t m_memory(const void *impl)
{
    return ak_hnsw_memory(impl);
}

static akidb_status m_search(const void *impl, const float *query, size_t k,
                             const ak_search_opts *opts, ak_hit *out, size_t *n_out)
{
    return ak_hnsw_search_ex(impl, query, k, opts, out, n_out);
}

static size_t m_serialized_size(const void *impl)
{
    return ak_hnsw_serialized_size(impl);
}

static akidb_status m_save_fd(const void *impl, int fd)
{
    return ak_hnsw_save_fd(impl, fd);
}

static akidb_status m_load_buf(const void *buf, size_t len, void **out, size_t *used)
{
    return ak_hnsw_load_buf(buf, len, (ak_hnsw **)out, used);
}

static akidb_status m_validate(const void *impl, bool strict)
{
    return ak_hnsw_validate(impl, strict);
}

const ak_index_kind ak_index_hnsw = {
    .name = "hnsw",
    .magic = { 'A', 'K', 'H', 'N', 'S', 'W', 0, 1 },
    .create = m_create,
    .free = m_free,
    .params = m_params,
    .add = m_add,
    .remove_batch = m_remove_batch,
    .contains = m_contains,
    .get_vector = m_get_vector,
    .count = m_count,
    .memory = m_memory,
    .search = m_search,
    .serialized_size = m_serialized_size,
    .save_fd = m_save_fd,
    .load_buf = m_load_buf,
    .validate = m_validate,
};
