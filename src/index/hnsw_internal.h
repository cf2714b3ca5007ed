/*
 * hnsw_internal.h - the ak_hnsw structure and helpers shared by the HNSW
 * source files (hnsw.c: build/search/remove, hnsw_alloc.c: memory and label
 * map, hnsw_io.c: save/load/validate, hnsw_kind.c: brute force over the
 * graph's vectors and the "hnsw" member of the index kind table, sq8.c:
 * int8 scalar quantisation).  Private to the hnsw member of src/index/.
 *
 * Why one struct in a header: the loader builds the same in-memory layout
 * that the builder grows, and the validator walks it; keeping the layout in
 * one place keeps them in agreement.
 */
#ifndef AKIDB_HNSW_INTERNAL_H
#define AKIDB_HNSW_INTERNAL_H

#include "index/index.h"
#include "index/sq8.h"

#include <pthread.h>

#define AK_NONE 0xFFFFFFFFu
#define AK_NSTRIPE 1024u

enum { SLOT_FREE = 0, SLOT_PENDING = 1, SLOT_LIVE = 2, SLOT_REMOVING = 3 };

/* (distance, slot) pair used by heaps and result lists; lower d is better. */
typedef struct ak_pair {
    float d;
    uint32_t id;
} ak_pair;

/* Per-search scratch: a visited bitset and heap buffers.  Kept in a pool on
 * the index so searches allocate nothing in the steady state.
 *
 * Visited set: one bit per slot (cap / 8 bytes: 7.5 KB for 60k slots, so it
 * stays in L1/L2 while the search streams vectors through the cache, where
 * a 2-byte epoch stamp per slot kept missing), plus the list of words made
 * non-zero, so resetting costs only what the last traversal touched. */
typedef struct ak_scratch {
    uint64_t *vis;         /* visited bits, vis_cap / 64 words */
    uint32_t *vis_words;   /* indices of the non-zero words of vis */
    uint32_t vis_cap;      /* slots covered (a multiple of 64) */
    uint32_t n_vis_words;
    ak_pair *cand, *res, *tmp;
    size_t cand_cap, res_cap, tmp_cap;
    float *q;          /* normalised query copy (dim floats) */
    int8_t *qs;        /* SQ8: the query's two code rows (2 x dim bytes),
                          else NULL */
    size_t nd, max_nd; /* a search's points examined and its budget
                          (0: none); nd > max_nd stops it          */
    struct ak_scratch *next;
} ak_scratch;

/* label -> slot, open addressing, linear probing, backward-shift delete;
 * an entry with slot == AK_NONE is empty. */
typedef struct ak_lmap_ent {
    uint32_t label, slot;
} ak_lmap_ent;

struct ak_hnsw {
    uint32_t dim, M, M0, efc;
    ak_metric metric;
    double mult;
    uint64_t rng;
    ak_dist_fn dist;       /* l2sq or dot kernel */
    ak_dist_bounded_fn distb; /* bounded l2sq kernel (L2 only), else NULL */
    ak_dist_boundedm_fn distbm; /* its group form (L2 only), else NULL */
    ak_distm_fn dotm;      /* group dot kernel (cosine/dot only), else NULL */
    bool neg;              /* internal distance = -dot */

    uint32_t cap;          /* allocated slots */
    uint32_t n_slots;      /* high watermark of used slots */
    float *vecs;           /* cap * dim, 64-byte aligned */
    uint32_t *links0;      /* cap * (1 + M0) */
    uint32_t **upper;      /* cap; level L node: L * (1 + M) words */
    uint8_t *level;        /* cap */
    uint8_t *state;        /* cap */
    uint32_t *slot_label;  /* cap */

    ak_lmap_ent *lmap;     /* label map */
    uint32_t lmap_mask;    /* size - 1 (size power of two) */
    uint32_t lmap_n;

    uint32_t *free_slots;
    uint32_t n_free, free_cap;

    uint32_t count;        /* live labels */
    uint32_t ep;           /* entry slot or AK_NONE */
    int max_level;         /* -1 if empty */

    pthread_rwlock_t lock;   /* read: search/add, write: grow/remove/top insert */
    pthread_rwlock_t gate;   /* read: add, write: save (blocks adds only) */
    pthread_mutex_t alloc_mu;/* slot allocation, label map, count, rng */
    pthread_mutex_t node_mu[AK_NSTRIPE];
    pthread_mutex_t pool_mu;
    ak_scratch *pool;
    size_t pool_bytes;

    ak_sq8 sq;               /* int8 quantisation (sq8.h); sq.on false: none */
};

static inline uint32_t *ak_links(const ak_hnsw *h, uint32_t slot, int level)
{
    if (level == 0)
        return h->links0 + (size_t)slot * (1 + h->M0);
    return h->upper[slot] + (size_t)(level - 1) * (1 + h->M);
}

static inline const float *ak_vec(const ak_hnsw *h, uint32_t slot)
{
    return h->vecs + (size_t)slot * h->dim;
}

static inline float ak_distance(const ak_hnsw *h, const float *a, const float *b)
{
    float d = h->dist(a, b, h->dim);
    return h->neg ? -d : d;
}

/* Internal distance from a to b when it is below bound; otherwise any value
 * >= bound (the L2 kernel may stop early, see ak_dist_bounded_fn).  Use it
 * where only "is it closer than bound" matters. */
static inline float ak_distance_below(const ak_hnsw *h, const float *a, const float *b,
                                      float bound)
{
    if (h->distb)
        return h->distb(a, b, h->dim, bound);
    return ak_distance(h, a, b);
}

/* Most slots ak_distance_group_below takes at once. */
#define AK_GROUP 8

/* Internal distances from a to the vectors of slots ids[0..m) (1 <= m <=
 * AK_GROUP) into dd, each as ak_distance_below with the same bound would
 * give; the vectors are read as interleaved streams (see
 * ak_dist_boundedm_fn), which is what makes a group faster than m calls. */
static inline void ak_distance_group_below(const ak_hnsw *h, const float *a,
                                           const uint32_t *ids, uint32_t m, float bound,
                                           float *dd)
{
    const float *b[AK_GROUP];
    for (uint32_t j = 0; j < m; j++)
        b[j] = ak_vec(h, ids[j]);
    if (h->distbm) {
        h->distbm(a, b, m, h->dim, bound, dd);
        return;
    }
    h->dotm(a, b, m, h->dim, dd); /* dot products have no bounded form */
    for (uint32_t j = 0; j < m; j++)
        dd[j] = -dd[j];
}

/* What a search compares nodes with: the float query, and when the walk
 * runs on int8 codes, the query coded for them (sq8.h). */
typedef struct ak_query {
    const float *v;
    const ak_sq8q *sq;    /* NULL: float distances */
} ak_query;

/* Internal (lower is better) int8 distance from q to slot's code row:
 * -(q.x) for cosine / dot, |q|^2 + |x|^2 - 2 q.x (at least 0) for L2, with
 * q.x ~ c0 + k0 * sum(u * s0) + k1 * sum(u * s1) (index.h, "Quantisation"). */
static inline float ak_sq8_from_sums(const ak_hnsw *h, const ak_sq8q *q, uint32_t slot,
                                     const int32_t *dot)
{
    float qx = q->c0 + q->k0 * (float)dot[0] + q->k1 * (float)dot[1];
    if (!h->sq.sqn)
        return -qx;
    float d = q->qn + h->sq.sqn[slot] - 2.0f * qx;
    return d > 0 ? d : 0;
}

static inline float ak_sq8_distance(const ak_hnsw *h, const ak_sq8q *q, uint32_t slot)
{
    int32_t dot[2];
    h->sq.dot(h->sq.codes + (size_t)slot * h->dim, q->s0, q->s1, h->dim, dot);
    return ak_sq8_from_sums(h, q, slot, dot);
}

/* The first byte a distance from q to slot reads (for prefetching). */
static inline const void *ak_query_row(const ak_hnsw *h, const ak_query *q, uint32_t slot)
{
    if (q->sq)
        return h->sq.codes + (size_t)slot * h->dim;
    return ak_vec(h, slot);
}

/* Internal distance from q to slot, float or int8 as q says. */
static inline float ak_query_distance(const ak_hnsw *h, const ak_query *q, uint32_t slot)
{
    return q->sq ? ak_sq8_distance(h, q->sq, slot) : ak_distance(h, q->v, ak_vec(h, slot));
}

/* ak_distance_group_below for a query: float distances as there, or int8
 * distances (computed in full; the bound is not needed to save work on
 * rows four times shorter) with the group kernel, whose interleaved row
 * streams keep more reads in flight, as the float group kernels do.  The
 * group's rows are prefetched whole first: of group or single kernel, with
 * or without the prefetch, this was the fastest in bench ann, by a few
 * percent (docs/PERFORMANCE.md). */
static inline void ak_query_group_below(const ak_hnsw *h, const ak_query *q, const uint32_t *ids,
                                        uint32_t m, float bound, float *dd)
{
    if (!q->sq) {
        ak_distance_group_below(h, q->v, ids, m, bound, dd);
        return;
    }
    const uint8_t *rows[AK_GROUP];
    int32_t sums[2 * AK_GROUP];
    for (uint32_t j = 0; j < m; j++) {
        rows[j] = h->sq.codes + (size_t)ids[j] * h->dim;
        for (uint32_t o = 64; o < h->dim; o += 64)   /* the walk fetched line 0 */
            __builtin_prefetch(rows[j] + o, 0, 3);
    }
    h->sq.dotm(rows, m, q->sq->s0, q->sq->s1, h->dim, sums);
    for (uint32_t j = 0; j < m; j++)
        dd[j] = ak_sq8_from_sums(h, q->sq, ids[j], sums + 2 * j);
}

static inline float ak_score(const ak_hnsw *h, float d)
{
    return h->neg ? -d : d;
}

/* Clears the visited set (only the words the last traversal touched).
 * Every traversal starts with it. */
static inline void ak_visit_reset(ak_scratch *s)
{
    for (uint32_t i = 0; i < s->n_vis_words; i++)
        s->vis[s->vis_words[i]] = 0;
    s->n_vis_words = 0;
}

/* Marks slot x (< s->vis_cap) visited; true if it was not visited yet. */
static inline bool ak_visit(ak_scratch *s, uint32_t x)
{
    uint64_t *w = &s->vis[x >> 6], m = (uint64_t)1 << (x & 63), v = *w;
    if (v & m)
        return false;
    if (!v)
        s->vis_words[s->n_vis_words++] = x >> 6;
    *w = v | m;
    return true;
}

/* True if slot x (< s->vis_cap) is marked visited. */
static inline bool ak_visited(const ak_scratch *s, uint32_t x)
{
    return (s->vis[x >> 6] >> (x & 63)) & 1;
}

/* Shared helpers (hnsw.c). */
akidb_status ak_hnsw_alloc_empty(const ak_hnsw_params *p, ak_hnsw **out);
akidb_status ak_hnsw_grow(ak_hnsw *h, uint32_t new_cap);
uint32_t ak_lmap_get(const ak_hnsw *h, uint32_t label);
akidb_status ak_lmap_reserve(ak_hnsw *h, uint32_t n);
void ak_lmap_put(ak_hnsw *h, uint32_t label, uint32_t slot);
ak_scratch *ak_scratch_get(const ak_hnsw *h);
void ak_scratch_put(const ak_hnsw *h, ak_scratch *s);
/* Prepares the query: copies and normalises (cosine) into s->q; EINVAL if
 * not finite. */
akidb_status ak_prepare_query(const ak_hnsw *h, ak_scratch *s, const float *q,
                              const float **out);
/* Sorts pairs by (d, label) and writes hits. */
void ak_emit_hits(const ak_hnsw *h, ak_pair *p, size_t n, ak_hit *out);
/* Max-heap helpers on pairs (worst on top) for top-k selection. */
void ak_maxheap_push(ak_pair *hp, size_t *n, ak_pair v);
void ak_maxheap_pop(ak_pair *hp, size_t *n);
bool ak_scratch_reserve(ak_pair **buf, size_t *cap, size_t need);

/* hnsw_kind.c: exact scan with the read lock held and scratch s ready. */
akidb_status ak_exact_locked(const ak_hnsw *h, ak_scratch *s, const float *q, size_t k,
                             ak_filter_fn accept, void *ctx, ak_hit *out, size_t *n_out);

/* hnsw_alloc.c: removes label from the label map; the level of a new node
 * (geometric, factor 1 / ln M). */
void ak_lmap_del(ak_hnsw *h, uint32_t label);
int ak_hnsw_random_level(ak_hnsw *h);

#endif
