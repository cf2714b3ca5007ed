/*
 * hnsw.c - Hierarchical Navigable Small World graph: build, search (plain
 * and filtered), removal with reclamation.
 *
 * The graph follows Malkov & Yashunin's HNSW: every node gets a random level
 * (geometric, factor 1/ln M); level 0 keeps up to 2M links per node, upper
 * levels M.  Inserting greedily descends from the entry point, runs a beam
 * search of width ef_construction on each level the node lives on, keeps M
 * neighbours chosen by the diversity heuristic (a candidate is kept only if
 * it is closer to the new node than to every neighbour already kept), and
 * links back, re-running the heuristic on a neighbour whose list is full.
 *
 * Layout (lean, cache-friendly): vectors are one contiguous float32 array,
 * level-0 links a fixed (1 + 2M)-word array per slot next to each other,
 * upper levels one small allocation per node that has them.  Labels map to
 * slots through an open-addressing table, so labels may be any uint32.
 * The vector and level-0 link arrays ask for transparent huge pages
 * (advise_huge, hnsw_alloc.c): a query touches a few hundred vectors spread over the
 * whole array, which with 4 KiB pages is a TLB miss per vector.
 *
 * Search speed (measured against hnswlib in bench/ann/, numbers in
 * docs/PERFORMANCE.md): a query is bound by memory traffic, not by
 * arithmetic, so the search loop is built to move fewer bytes and keep more
 * of them in flight, without changing a single result:
 *   - L2 distances use the bounded kernel: a neighbour that cannot beat the
 *     current worst result stops being summed part-way (distance.c explains
 *     why the outcome is exactly that of a full evaluation);
 *   - neighbours are evaluated up to eight at a time with the group kernels,
 *     whose interleaved streams keep more memory reads in flight; the
 *     results are then tested in list order against the bound as it
 *     evolves, as one-by-one code would;
 *   - the visited set is a bitset with a touched-word list (7.5 KB for 60k
 *     slots), which stays in L1/L2 where the old 2-byte epoch stamps missed;
 *   - the first line of every unvisited neighbour and its state byte are
 *     prefetched as soon as the neighbour list is read.
 *
 * Concurrency (see index.h): searches and adds share a pthread rwlock in
 * read mode; an add allocates its slot under a small mutex, then links under
 * striped per-node mutexes while link words are stored with release and read
 * with acquire semantics, so concurrent readers see valid ids.  Growth,
 * removal and inserts that raise the top level take the write lock.
 *
 * Removal is real: the removed node's in-links are found with one scan of
 * the link arrays, each affected node is re-linked by running the heuristic
 * over its remaining neighbours plus the removed node's neighbours, the slot
 * is wiped and pushed on a free list that later adds pop first.  So the
 * graph never keeps tombstones and never needs a rebuild.
 */
#include "index/hnsw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AK_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#else
#define AK_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#endif

static inline uint32_t ld32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void st32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint8_t ld8(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void st8(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static inline uint32_t max_links(const ak_hnsw *h, int level) { return level == 0 ? h->M0 : h->M; }

#define RDLOCK(h) pthread_rwlock_rdlock((pthread_rwlock_t *)&(h)->lock)
#define WRLOCK(h) pthread_rwlock_wrlock((pthread_rwlock_t *)&(h)->lock)
#define UNLOCK(h) pthread_rwlock_unlock((pthread_rwlock_t *)&(h)->lock)
#define AMU(h) ((pthread_mutex_t *)&(h)->alloc_mu)

/* ---- heaps ---------------------------------------------------------------- */

static inline void minheap_push(ak_pair *hp, size_t *n, ak_pair v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) >> 1;
        if (hp[p].d <= v.d)
            break;
        hp[i] = hp[p];
        i = p;
    }
    hp[i] = v;
}

static inline void minheap_pop(ak_pair *hp, size_t *n)
{
    ak_pair v = hp[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && hp[c + 1].d < hp[c].d)
            c++;
        if (hp[c].d >= v.d)
            break;
        hp[i] = hp[c];
        i = c;
    }
    if (m)
        hp[i] = v;
}

void ak_maxheap_push(ak_pair *hp, size_t *n, ak_pair v)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) >> 1;
        if (hp[p].d >= v.d)
            break;
        hp[i] = hp[p];
        i = p;
    }
    hp[i] = v;
}

void ak_maxheap_pop(ak_pair *hp, size_t *n)
{
    ak_pair v = hp[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && hp[c + 1].d > hp[c].d)
            c++;
        if (hp[c].d <= v.d)
            break;
        hp[i] = hp[c];
        i = c;
    }
    if (m)
        hp[i] = v;
}

static int cmp_pair(const void *a, const void *b)
{
    const ak_pair *x = a, *y = b;
    if (x->d < y->d) return -1;
    if (x->d > y->d) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void sort_pairs(ak_pair *p, size_t n)
{
    if (n < 24) {
        for (size_t i = 1; i < n; i++) {
            ak_pair v = p[i];
            size_t j = i;
            while (j > 0 && cmp_pair(&p[j - 1], &v) > 0) {
                p[j] = p[j - 1];
                j--;
            }
            p[j] = v;
        }
    } else {
        qsort(p, n, sizeof *p, cmp_pair);
    }
}

/* ---- queries -------------------------------------------------------------- */

akidb_status ak_prepare_query(const ak_hnsw *h, ak_scratch *s, const float *q,
                              const float **out)
{
    for (uint32_t i = 0; i < h->dim; i++)
        if (!isfinite(q[i]))
            return ak_fail(AKIDB_EINVAL, "hnsw: query component %u is not finite", i);
    if (h->metric == AK_METRIC_COSINE) {
        memcpy(s->q, q, (size_t)h->dim * sizeof(float));
        ak_vec_normalize(s->q, h->dim);
        *out = s->q;
    } else {
        *out = q;
    }
    return AKIDB_OK;
}

void ak_emit_hits(const ak_hnsw *h, ak_pair *p, size_t n, ak_hit *out)
{
    /* replace slot ids by labels so ties sort by label */
    for (size_t i = 0; i < n; i++)
        p[i].id = h->slot_label[p[i].id];
    sort_pairs(p, n);
    for (size_t i = 0; i < n; i++) {
        out[i].label = p[i].id;
        out[i].score = ak_score(h, p[i].d);
    }
}

/* Greedy walk on one upper level: moves *cur to the closest neighbour while
 * that improves the distance.  Neighbours are taken in list order, up to
 * AK_GROUP at a time with the group kernel: all get the bound in force
 * before the group, and each is then tested against the bound as updated
 * by the ones before it, which is exactly what one-by-one evaluation
 * decides (the bound only falls, so a distance cut short at the old bound
 * is also rejected at the new one). */
static void greedy(const ak_hnsw *h, const ak_query *q, int level, uint32_t *cur, float *curd,
                   size_t *nd)
{
    bool changed = true;
    uint32_t ids[AK_HNSW_MAX_M];
    while (changed) {
        changed = false;
        const uint32_t *lk = ak_links(h, *cur, level);
        uint32_t cnt = ld32(lk), nn = 0;
        if (cnt > h->M) cnt = h->M;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t x = ld32(lk + 1 + i);
            if (x >= h->cap) continue;
            ids[nn++] = x;
            AK_PREFETCH(ak_query_row(h, q, x));
        }
        *nd += nn;
        for (uint32_t i = 0; i < nn;) {
            uint32_t nb = nn - i < AK_GROUP ? nn - i : AK_GROUP;
            float dd[AK_GROUP];
            ak_query_group_below(h, q, ids + i, nb, *curd, dd);
            for (uint32_t j = 0; j < nb; j++) {
                if (dd[j] < *curd) {
                    *curd = dd[j];
                    *cur = ids[i + j];
                    changed = true;
                }
            }
            i += nb;
        }
    }
}

/* Beam search on one level from entry ep.  Leaves up to ef results in
 * s->res (max-heap, worst on top) and returns their number.  With
 * for_query, only LIVE nodes accepted by the filter become results (all
 * nodes are traversed); otherwise LIVE and PENDING nodes do, except
 * `exclude`.  Counts the vectors it compares in s->nd and stops (results
 * so far kept) once that passes s->max_nd when set.  Returns SIZE_MAX on
 * allocation failure. */
static size_t search_layer(const ak_hnsw *h, ak_scratch *s, const ak_query *q, uint32_t ep,
                           int level, size_t ef, bool for_query, ak_filter_fn accept,
                           void *ctx, uint32_t exclude)
{
    ak_visit_reset(s);
    uint32_t maxl = max_links(h, level);
    size_t nres = 0, ncand = 0;
    if (!ak_scratch_reserve(&s->res, &s->res_cap, ef + 2) ||
        !ak_scratch_reserve(&s->cand, &s->cand_cap, ef + maxl + 2))
        return SIZE_MAX;
    ak_pair *res = s->res;
    if (exclude != AK_NONE)
        ak_visit(s, exclude);
    ak_visit(s, ep);
    float d0 = ak_query_distance(h, q, ep);
    float lb = INFINITY;
    {
        uint8_t stt = ld8(&h->state[ep]);
        bool ok = for_query ? (stt == SLOT_LIVE && (!accept || accept(h->slot_label[ep], ctx)))
                            : ((stt == SLOT_LIVE || stt == SLOT_PENDING) && ep != exclude);
        if (ok) {
            ak_maxheap_push(res, &nres, (ak_pair){ d0, ep });
            lb = d0;
        }
    }
    minheap_push(s->cand, &ncand, (ak_pair){ d0, ep });
    s->nd++;
    uint32_t ids[2 * AK_HNSW_MAX_M];
    while (ncand) {
        ak_pair c = s->cand[0];
        if ((c.d > lb && nres >= ef) || (s->max_nd && s->nd > s->max_nd))
            break;
        minheap_pop(s->cand, &ncand);
        const uint32_t *lk = ak_links(h, c.id, level);
        uint32_t cnt = ld32(lk);
        if (cnt > maxl) cnt = maxl;
        uint32_t nn = 0;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t x = ld32(lk + 1 + i);
            if (x >= s->vis_cap || !ak_visit(s, x))
                continue;
            ids[nn++] = x;
            AK_PREFETCH(ak_query_row(h, q, x));
            AK_PREFETCH(&h->state[x]);
        }
        if (ncand) {
            /* next candidate's links are likely read next */
            AK_PREFETCH(ak_links(h, s->cand[0].id, level));
        }
        if (!ak_scratch_reserve(&s->cand, &s->cand_cap, ncand + nn + 1))
            return SIZE_MAX;
        s->nd += nn;
        /* distances up to AK_GROUP at a time (group kernels, see
         * distance.c): all get the bound in force before the group, then
         * each is tested in list order against the current bound.  That is
         * exactly the one-by-one outcome: once the heap is full its worst
         * distance only falls, so a distance cut short at the older bound
         * fails the newer one too, and while it is not full the bound is
         * infinite (nothing is cut) */
        for (uint32_t i = 0; i < nn;) {
            uint32_t nb = nn - i < AK_GROUP ? nn - i : AK_GROUP;
            float bound = nres < ef ? INFINITY : lb;
            float dd[AK_GROUP];
            ak_query_group_below(h, q, ids + i, nb, bound, dd);
            for (uint32_t j = 0; j < nb; j++) {
                uint32_t x = ids[i + j];
                float d = dd[j];
                if (!(nres < ef || d < lb))
                    continue;
                minheap_push(s->cand, &ncand, (ak_pair){ d, x });
                uint8_t stt = ld8(&h->state[x]);
                bool ok = for_query ? (stt == SLOT_LIVE && (!accept || accept(h->slot_label[x], ctx)))
                                    : (stt == SLOT_LIVE || stt == SLOT_PENDING);
                if (ok) {
                    ak_maxheap_push(res, &nres, (ak_pair){ d, x });
                    if (nres > ef)
                        ak_maxheap_pop(res, &nres);
                    lb = res[0].d;
                }
            }
            i += nb;
        }
    }
    return nres;
}

/* Diversity heuristic: c[0..n) sorted by distance to the base node; keeps
 * up to m entries in c[0..ret) (in order), each closer to the base than to
 * every entry kept before it. */
static size_t heuristic(const ak_hnsw *h, ak_pair *c, size_t n, size_t m)
{
    size_t sel = 0;
    for (size_t i = 0; i < n && sel < m; i++) {
        const float *vi = ak_vec(h, c[i].id);
        bool ok = true;
        for (size_t j = 0; j < sel; j++) {
            if (ak_distance_below(h, vi, ak_vec(h, c[j].id), c[i].d) < c[i].d) {
                ok = false;
                break;
            }
        }
        if (ok)
            c[sel++] = c[i];
    }
    return sel;
}

/* Writes ids of c[0..n) as the link list of slot at level (caller holds the
 * node's stripe lock or the write lock). */
static void write_links(ak_hnsw *h, uint32_t slot, int level, const ak_pair *c, size_t n)
{
    uint32_t *lk = ak_links(h, slot, level);
    for (size_t i = 0; i < n; i++)
        st32(lk + 1 + i, c[i].id);
    st32(lk, (uint32_t)n);
}

static inline pthread_mutex_t *stripe(ak_hnsw *h, uint32_t slot)
{
    return &h->node_mu[slot & (AK_NSTRIPE - 1)];
}

/* Adds a link nb -> x at level, pruning nb's list with the heuristic when
 * it is full. */
static void link_back(ak_hnsw *h, uint32_t nb, uint32_t x, int level)
{
    uint32_t maxl = max_links(h, level);
    pthread_mutex_t *mu = stripe(h, nb);
    pthread_mutex_lock(mu);
    uint32_t *lk = ak_links(h, nb, level);
    uint32_t cnt = ld32(lk);
    if (cnt > maxl) cnt = maxl;
    for (uint32_t i = 0; i < cnt; i++)
        if (ld32(lk + 1 + i) == x) {
            pthread_mutex_unlock(mu);
            return;
        }
    if (cnt < maxl) {
        st32(lk + 1 + cnt, x);
        st32(lk, cnt + 1);
    } else {
        ak_pair c[2 * AK_HNSW_MAX_M + 1];
        const float *v = ak_vec(h, nb);
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t y = ld32(lk + 1 + i);
            c[i] = (ak_pair){ ak_distance(h, v, ak_vec(h, y)), y };
        }
        c[cnt] = (ak_pair){ ak_distance(h, v, ak_vec(h, x)), x };
        sort_pairs(c, cnt + 1);
        size_t n = heuristic(h, c, cnt + 1, maxl);
        write_links(h, nb, level, c, n);
    }
    pthread_mutex_unlock(mu);
}

/* Phases 2-3 of an add: finds neighbours of slot on each of its levels and
 * links both ways.  Caller holds the read lock (level <= max_level) or the
 * write lock (the node may become the entry point). */
static akidb_status insert_node(ak_hnsw *h, ak_scratch *s, uint32_t slot, bool exclusive)
{
    int L = h->level[slot];
    if (h->ep == AK_NONE) {
        AK_ASSERT(exclusive);
        h->ep = slot;
        h->max_level = L;
        return AKIDB_OK;
    }
    const ak_query q = { ak_vec(h, slot), NULL };
    uint32_t cur = h->ep;
    int top = h->max_level;
    float curd = ak_query_distance(h, &q, cur);
    size_t nd = 0;
    for (int l = top; l > L; l--)
        greedy(h, &q, l, &cur, &curd, &nd);
    for (int l = (L < top ? L : top); l >= 0; l--) {
        size_t n = search_layer(h, s, &q, cur, l, h->efc, false, NULL, NULL, slot);
        if (n == SIZE_MAX)
            return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory while inserting");
        ak_pair *r = s->res;
        sort_pairs(r, n);
        if (n)
            cur = r[0].id;
        size_t m = heuristic(h, r, n, h->M);
        pthread_mutex_lock(stripe(h, slot));
        write_links(h, slot, l, r, m);
        pthread_mutex_unlock(stripe(h, slot));
        for (size_t i = 0; i < m; i++)
            link_back(h, r[i].id, slot, l);
    }
    if (L > top) {
        AK_ASSERT(exclusive);
        h->ep = slot;
        h->max_level = L;
    }
    return AKIDB_OK;
}

/* Makes room for `extra` more entries on the free list. */
static akidb_status reserve_free(ak_hnsw *h, uint64_t extra)
{
    uint64_t need = (uint64_t)h->n_free + extra;
    if (need <= h->free_cap)
        return AKIDB_OK;
    uint64_t nc = h->free_cap ? h->free_cap : 16;
    while (nc < need)
        nc *= 2;
    if (nc > 0xFFFFFFFFull)
        nc = 0xFFFFFFFFull;
    uint32_t *f = ak_realloc(h->free_slots, (size_t)nc * sizeof *f);
    if (!f)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for the free list");
    h->free_slots = f;
    h->free_cap = (uint32_t)nc;
    return AKIDB_OK;
}

/* Picks a new entry point (the live node of highest level) after the old one
 * went away (write lock held). */
static void reelect_entry(ak_hnsw *h)
{
    h->ep = AK_NONE;
    h->max_level = -1;
    for (uint32_t x = 0; x < h->n_slots; x++)
        if (h->state[x] == SLOT_LIVE && (int)h->level[x] > h->max_level) {
            h->max_level = h->level[x];
            h->ep = x;
        }
}

/* Returns slot, holding label, to the free list with nothing left of it:
 * links, upper levels, vector, label mapping (write lock held, room on the
 * free list reserved). */
static void wipe_slot(ak_hnsw *h, uint32_t slot, uint32_t label)
{
    ak_free(h->upper[slot]);
    h->upper[slot] = NULL;
    h->links0[(size_t)slot * (1 + h->M0)] = 0;
    h->level[slot] = 0;
    memset(h->vecs + (size_t)slot * h->dim, 0, (size_t)h->dim * sizeof(float));
    ak_sq8_wipe_slot(h, slot);
    h->state[slot] = SLOT_FREE;
    h->slot_label[slot] = AK_NONE;
    ak_lmap_del(h, label);
    AK_ASSERT(h->n_free < h->free_cap);
    h->free_slots[h->n_free++] = slot;
}

/* Undoes a failed insert (write lock held): removes every link to slot,
 * wipes it and returns it to the free list (room reserved at allocation). */
static void rollback_slot(ak_hnsw *h, uint32_t slot, uint32_t label)
{
    for (uint32_t x = 0; x < h->n_slots; x++) {
        if (x == slot || (h->state[x] != SLOT_LIVE && h->state[x] != SLOT_PENDING))
            continue;
        for (int l = 0; l <= h->level[x]; l++) {
            uint32_t *lk = ak_links(h, x, l);
            uint32_t k = 0;
            for (uint32_t i = 0; i < lk[0]; i++)
                if (lk[1 + i] != slot)
                    lk[1 + k++] = lk[1 + i];
            lk[0] = k;
        }
    }
    if (h->ep == slot)
        reelect_entry(h); /* slot is PENDING, so not a candidate */
    wipe_slot(h, slot, label);
}

akidb_status ak_hnsw_add(ak_hnsw *h, uint32_t label, const float *vec)
{
    AK_ASSERT(h && vec);
    if (label > AK_HNSW_MAX_LABEL)
        return ak_fail(AKIDB_EINVAL, "hnsw: label %u out of range", label);
    for (uint32_t i = 0; i < h->dim; i++)
        if (!isfinite(vec[i]))
            return ak_fail(AKIDB_EINVAL, "hnsw: vector component %u is not finite", i);
    akidb_status st = AKIDB_OK;
    pthread_rwlock_rdlock(&h->gate);
    uint32_t slot;
    int L;
    for (;;) {
        RDLOCK(h);
        pthread_mutex_lock(AMU(h));
        if (ak_lmap_get(h, label) != AK_NONE) {
            pthread_mutex_unlock(AMU(h));
            UNLOCK(h);
            pthread_rwlock_unlock(&h->gate);
            return ak_fail(AKIDB_EEXIST, "hnsw: label %u already present", label);
        }
        if (h->n_free || h->n_slots < h->cap)
            break;
        pthread_mutex_unlock(AMU(h));
        UNLOCK(h);
        WRLOCK(h);
        if (h->n_slots >= h->cap && !h->n_free) {
            uint64_t nc = (uint64_t)h->cap + h->cap / 2 + 16;
            if (nc > (uint64_t)AK_HNSW_MAX_LABEL + 1) nc = (uint64_t)AK_HNSW_MAX_LABEL + 1;
            if (nc <= h->cap)
                st = ak_fail(AKIDB_ENOMEM, "hnsw: index full");
            else
                st = ak_hnsw_grow(h, (uint32_t)nc);
        }
        UNLOCK(h);
        if (st) {
            pthread_rwlock_unlock(&h->gate);
            return st;
        }
    }
    /* read lock + alloc_mu held, a slot is available */
    if ((st = ak_lmap_reserve(h, 1)) || (st = reserve_free(h, 1)))
        goto fail_locked;
    L = ak_hnsw_random_level(h);
    slot = h->n_free ? h->free_slots[h->n_free - 1] : h->n_slots;
    if (L > 0) {
        size_t words = (size_t)L * (1 + h->M);
        uint32_t *up = ak_malloc(words * sizeof *up);
        if (!up) {
            st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for upper links");
            goto fail_locked;
        }
        for (int l = 0; l < L; l++)
            up[(size_t)l * (1 + h->M)] = 0;
        h->upper[slot] = up;
    }
    if (h->n_free) h->n_free--;
    else __atomic_store_n(&h->n_slots, h->n_slots + 1, __ATOMIC_RELAXED);
    ak_lmap_put(h, label, slot);
    h->slot_label[slot] = label;
    h->level[slot] = (uint8_t)L;
    h->links0[(size_t)slot * (1 + h->M0)] = 0;
    st8(&h->state[slot], SLOT_PENDING);
    pthread_mutex_unlock(AMU(h));

    float *v = h->vecs + (size_t)slot * h->dim;
    memcpy(v, vec, (size_t)h->dim * sizeof(float));
    if (h->metric == AK_METRIC_COSINE)
        ak_vec_normalize(v, h->dim);
    ak_sq8_code_slot(h, slot);

    bool exclusive = false;
    if (L > h->max_level) {
        UNLOCK(h);
        WRLOCK(h);
        exclusive = true;
    }
    ak_scratch *s = ak_scratch_get(h);
    if (!s)
        st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for search scratch");
    else
        st = insert_node(h, s, slot, exclusive || h->ep == AK_NONE);
    ak_scratch_put(h, s);
    if (st) {
        /* links written so far may point at slot: drop them (no allocation,
         * so the rollback itself cannot fail) and give the slot back */
        if (!exclusive) {
            UNLOCK(h);
            WRLOCK(h);
        }
        rollback_slot(h, slot, label);
        UNLOCK(h);
        pthread_rwlock_unlock(&h->gate);
        return st;
    }
    pthread_mutex_lock(AMU(h));
    st8(&h->state[slot], SLOT_LIVE);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(AMU(h));
    UNLOCK(h);
    pthread_rwlock_unlock(&h->gate);
    ak_sq8_maybe_train(h);
    return AKIDB_OK;

fail_locked:
    pthread_mutex_unlock(AMU(h));
    UNLOCK(h);
    pthread_rwlock_unlock(&h->gate);
    return st;
}

/* ---- removal -------------------------------------------------------------- */

akidb_status ak_hnsw_remove_batch(ak_hnsw *h, const uint32_t *labels, size_t n,
                                  size_t *n_removed)
{
    AK_ASSERT(h && (labels || n == 0));
    if (n_removed) *n_removed = 0;
    akidb_status st = AKIDB_OK;
    WRLOCK(h);
    /* reserve the free list first: after marking, nothing may fail */
    if ((st = reserve_free(h, n < h->count ? n : h->count))) {
        UNLOCK(h);
        return st;
    }
    ak_scratch *s = ak_scratch_get(h);
    if (!s || !ak_scratch_reserve(&s->tmp, &s->tmp_cap, 256)) {
        ak_scratch_put(h, s);
        UNLOCK(h);
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for removal scratch");
    }
    size_t nrem = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t slot = ak_lmap_get(h, labels[i]);
        if (slot == AK_NONE || h->state[slot] != SLOT_LIVE)
            continue;
        h->state[slot] = SLOT_REMOVING;
        nrem++;
    }
    if (!nrem)
        goto done;
    /* unlink and repair, level by level */
    for (int l = h->max_level; l >= 0; l--) {
        uint32_t maxl = max_links(h, l);
        for (uint32_t x = 0; x < h->n_slots; x++) {
            if (h->state[x] != SLOT_LIVE || h->level[x] < l)
                continue;
            uint32_t *lk = ak_links(h, x, l);
            uint32_t cnt = lk[0];
            bool hit = false;
            for (uint32_t i = 0; i < cnt && !hit; i++)
                hit = h->state[lk[1 + i]] != SLOT_LIVE;
            if (!hit)
                continue;
            ak_visit_reset(s);
            ak_visit(s, x);
            size_t nc = 0;
            const float *vx = ak_vec(h, x);
            for (int pass = 0; pass < 2; pass++) {
                for (uint32_t i = 0; i < cnt; i++) {
                    uint32_t y = lk[1 + i];
                    if (pass == 0) {
                        if (h->state[y] != SLOT_LIVE || !ak_visit(s, y))
                            continue;
                        if (!ak_scratch_reserve(&s->tmp, &s->tmp_cap, nc + 1))
                            goto oom;
                        s->tmp[nc++] = (ak_pair){ ak_distance(h, vx, ak_vec(h, y)), y };
                    } else if (h->state[y] == SLOT_REMOVING) {
                        const uint32_t *lr = ak_links(h, y, l);
                        for (uint32_t j = 0; j < lr[0]; j++) {
                            uint32_t z = lr[1 + j];
                            if (h->state[z] != SLOT_LIVE || !ak_visit(s, z))
                                continue;
                            if (!ak_scratch_reserve(&s->tmp, &s->tmp_cap, nc + 1))
                                goto oom;
                            s->tmp[nc++] = (ak_pair){ ak_distance(h, vx, ak_vec(h, z)), z };
                        }
                    }
                }
            }
            sort_pairs(s->tmp, nc);
            size_t m = heuristic(h, s->tmp, nc, maxl);
            write_links(h, x, l, s->tmp, m);
            continue;
        oom:
            /* cannot gather candidates: just drop the dead links */
            {
                uint32_t k = 0;
                for (uint32_t i = 0; i < cnt; i++)
                    if (h->state[lk[1 + i]] == SLOT_LIVE)
                        lk[1 + k++] = lk[1 + i];
                lk[0] = k;
            }
        }
    }
    /* wipe removed slots */
    for (size_t i = 0; i < n; i++) {
        uint32_t slot = ak_lmap_get(h, labels[i]);
        if (slot == AK_NONE || h->state[slot] != SLOT_REMOVING)
            continue;
        wipe_slot(h, slot, labels[i]);
        h->count--;
    }
    if (h->ep != AK_NONE && h->state[h->ep] != SLOT_LIVE)
        reelect_entry(h);
done:
    ak_scratch_put(h, s);
    UNLOCK(h);
    if (n_removed) *n_removed = nrem;
    return st;
}

akidb_status ak_hnsw_remove(ak_hnsw *h, uint32_t label)
{
    AK_ASSERT(h);
    RDLOCK(h);
    pthread_mutex_lock(AMU(h));
    uint32_t slot = ak_lmap_get(h, label);
    uint8_t stt = slot == AK_NONE ? SLOT_FREE : h->state[slot];
    pthread_mutex_unlock(AMU(h));
    UNLOCK(h);
    if (slot == AK_NONE)
        return ak_fail(AKIDB_ENOENT, "hnsw: label %u not present", label);
    if (stt == SLOT_PENDING)
        return ak_fail(AKIDB_EBUSY, "hnsw: label %u is being added", label);
    size_t n;
    akidb_status st = ak_hnsw_remove_batch(h, &label, 1, &n);
    if (st)
        return st;
    if (n == 0)
        return ak_fail(AKIDB_ENOENT, "hnsw: label %u not present", label);
    return AKIDB_OK;
}

/* ---- lookups ---------------------------------------------------------------- */

bool ak_hnsw_contains(const ak_hnsw *h, uint32_t label)
{
    AK_ASSERT(h);
    RDLOCK(h);
    pthread_mutex_lock(AMU(h));
    uint32_t slot = ak_lmap_get(h, label);
    bool r = slot != AK_NONE && h->state[slot] == SLOT_LIVE;
    pthread_mutex_unlock(AMU(h));
    UNLOCK(h);
    return r;
}

akidb_status ak_hnsw_get_vector(const ak_hnsw *h, uint32_t label, float *out)
{
    AK_ASSERT(h && out);
    RDLOCK(h);
    pthread_mutex_lock(AMU(h));
    uint32_t slot = ak_lmap_get(h, label);
    bool ok = slot != AK_NONE && h->state[slot] == SLOT_LIVE;
    pthread_mutex_unlock(AMU(h));
    if (ok)
        memcpy(out, ak_vec(h, slot), (size_t)h->dim * sizeof(float));
    UNLOCK(h);
    if (!ok)
        return ak_fail(AKIDB_ENOENT, "hnsw: label %u not present", label);
    return AKIDB_OK;
}

size_t ak_hnsw_count(const ak_hnsw *h)
{
    AK_ASSERT(h);
    pthread_mutex_lock(AMU(h));
    size_t c = h->count;
    pthread_mutex_unlock(AMU(h));
    return c;
}

size_t ak_hnsw_memory(const ak_hnsw *h)
{
    AK_ASSERT(h);
    RDLOCK(h);
    size_t b = sizeof *h;
    b += (size_t)h->cap * h->dim * sizeof(float);
    b += (size_t)h->cap * (1 + h->M0) * sizeof(uint32_t);
    b += (size_t)h->cap * (sizeof(uint32_t *) + 2 + sizeof(uint32_t));
    for (uint32_t s = 0; s < h->n_slots; s++)
        if (h->upper[s])
            b += (size_t)h->level[s] * (1 + h->M) * sizeof(uint32_t);
    b += h->lmap ? ((size_t)h->lmap_mask + 1) * sizeof(ak_lmap_ent) : 0;
    b += (size_t)h->free_cap * sizeof(uint32_t);
    b += ak_sq8_memory(h);
    pthread_mutex_lock((pthread_mutex_t *)&h->pool_mu);
    b += h->pool_bytes;
    pthread_mutex_unlock((pthread_mutex_t *)&h->pool_mu);
    UNLOCK(h);
    return b;
}

size_t ak_hnsw_raw_bytes(const ak_hnsw *h)
{
    AK_ASSERT(h);
    RDLOCK(h);
    size_t b = 0;
    for (uint32_t s = 0; s < h->n_slots; s++) {
        if (h->state[s] != SLOT_LIVE)
            continue;
        b += (size_t)h->dim * (sizeof(float) + (h->sq.on ? 1 : 0));
        b += (size_t)(1 + h->M0) * sizeof(uint32_t);
        b += (size_t)h->level[s] * (1 + h->M) * sizeof(uint32_t);
    }
    UNLOCK(h);
    return b;
}

/* ---- search ----------------------------------------------------------------- */

/* Share of live labels accepted by the filter, from a strided sample. */
static double estimate_selectivity(const ak_hnsw *h, ak_filter_fn accept, void *ctx)
{
    uint32_t n = __atomic_load_n(&h->n_slots, __ATOMIC_RELAXED), probes = 0, hits = 0;
    if (!n)
        return 1.0;
    uint32_t step = n / 256 ? n / 256 : 1;
    for (uint32_t x = 0; x < n && probes < 256; x += step) {
        if (ld8(&h->state[x]) != SLOT_LIVE)
            continue;
        probes++;
        hits += accept(h->slot_label[x], ctx) ? 1 : 0;
    }
    return probes ? (hits + 0.5) / (probes + 1.0) : 1.0;
}

akidb_status ak_hnsw_search_ex(const ak_hnsw *h, const float *query, size_t k,
                               const ak_search_opts *opts, ak_hit *out,
                               size_t *n_out)
{
    AK_ASSERT(h && query && n_out && (out || k == 0));
    *n_out = 0;
    if (k == 0)
        return AKIDB_OK;
    ak_search_opts o = { 0 };
    if (opts)
        o = *opts;
    if (o.labels) {
        if (o.visits)
            *o.visits = o.max_visits && o.n_labels > o.max_visits ? 0 : o.n_labels;
        if (o.max_visits && o.n_labels > o.max_visits)
            return ak_fail(AKIDB_ERANGE, "hnsw: %zu candidates are past the search budget of %zu",
                           o.n_labels, o.max_visits);
        return ak_exact_search_labels(h, query, k, o.labels, o.n_labels, out, n_out);
    }
    size_t ef = o.ef ? o.ef : (k > 64 ? k : 64);
    if (ef < k)
        ef = k;
    akidb_status st = AKIDB_OK;
    RDLOCK(h);
    ak_scratch *s = ak_scratch_get(h);
    const float *q;
    if (!s) {
        st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for search scratch");
        goto out;
    }
    s->max_nd = o.max_visits;
    if ((st = ak_prepare_query(h, s, query, &q)))
        goto out;
    if (h->ep == AK_NONE)
        goto out;
    int strategy = o.strategy;
    double sel = 1.0;
    if (o.accept) {
        sel = o.selectivity > 0 && o.selectivity <= 1 ? o.selectivity
                                                      : estimate_selectivity(h, o.accept, o.ctx);
        /* filter-aware traversal needs a wider beam as matches thin out */
        double w = 1.0 / sqrt(sel);
        if (w > 8) w = 8;
        ef = (size_t)(ef * w);
        if (strategy == AK_SEARCH_AUTO) {
            /* costs in distance evaluations: exact = matches + filter calls,
             * graph ~ a few times ef per accepted share */
            double cnt = __atomic_load_n(&h->count, __ATOMIC_RELAXED);
            double exact_cost = sel * cnt + 0.05 * cnt;
            double graph_cost = 12.0 * (double)ef / sel;
            if (exact_cost <= graph_cost)
                strategy = AK_SEARCH_EXACT;
        }
    }
    if (strategy == AK_SEARCH_EXACT) {
        st = ak_exact_locked(h, s, q, k, o.accept, o.ctx, out, n_out);
        goto out;
    }
    /* SQ8 with codes: walk on int8 distances, keep `keep` candidates and
     * rescore them with the float vectors (index.h, "Quantisation") */
    ak_sq8q cq;
    ak_query qq = { q, NULL };
    size_t keep = k;
    bool rescore = false;
    if (h->sq.trained && !o.quant_ignore) {
        ak_sq8_query(h, s, q, &cq);
        qq.sq = &cq;
        if (!o.quant_no_rescore) {
            rescore = true;
            keep = o.oversampling >= 1 ? (size_t)ceil(o.oversampling * (double)k) : ef;
            keep = keep < k ? k : keep;
            ef = ef < keep ? keep : ef;
        }
    }
    uint32_t cur = h->ep;
    float curd = ak_query_distance(h, &qq, cur);
    size_t nd = 1;
    for (int l = h->max_level; l > 0; l--)
        greedy(h, &qq, l, &cur, &curd, &nd);
    s->nd = nd;
    size_t n = search_layer(h, s, &qq, cur, 0, ef, true, o.accept, o.ctx, AK_NONE);
    if (n == SIZE_MAX) {
        st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory during search");
        goto out;
    }
    if (s->max_nd && s->nd > s->max_nd) {
        st = ak_fail(AKIDB_ERANGE, "hnsw: the search examined %zu points, past its budget of %zu",
                     s->nd, s->max_nd);
        goto out;
    }
    while (n > keep)
        ak_maxheap_pop(s->res, &n);
    if (rescore) {
        ak_sq8_rescore(h, s, q, n, k, out, n_out);
        goto out;
    }
    ak_emit_hits(h, s->res, n, out);
    *n_out = n;
out:
    if (o.visits)
        *o.visits = s ? s->nd : 0;
    ak_scratch_put(h, s);
    UNLOCK(h);
    return st;
}

akidb_status ak_hnsw_search(const ak_hnsw *h, const float *query, size_t k,
                            size_t ef, ak_filter_fn accept, void *ctx,
                            ak_hit *out, size_t *n_out)
{
    ak_search_opts o = { .ef = ef, .accept = accept, .ctx = ctx };
    return ak_hnsw_search_ex(h, query, k, &o, out, n_out);
}
