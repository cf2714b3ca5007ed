/*
 * hnsw_alloc.c - the graph's memory: the label -> slot map (open
 * addressing), creation and growth of the vector and link arrays (asking
 * for transparent huge pages, see hnsw.c's header for why), freeing, the
 * random level of a new node, and the per-thread search scratch.  The
 * algorithms that use them are in hnsw.c.
 */
#include "index/hnsw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define RDLOCK(h) pthread_rwlock_rdlock((pthread_rwlock_t *)&(h)->lock)
#define WRLOCK(h) pthread_rwlock_wrlock((pthread_rwlock_t *)&(h)->lock)
#define UNLOCK(h) pthread_rwlock_unlock((pthread_rwlock_t *)&(h)->lock)
#define AMU(h) ((pthread_mutex_t *)&(h)->alloc_mu)

/* ---- label map ------------------------------------------------------------ */

static inline uint32_t lhash(uint32_t label)
{
    uint32_t x = label * 0x9E3779B1u;
    return x ^ (x >> 15);
}

uint32_t ak_lmap_get(const ak_hnsw *h, uint32_t label)
{
    if (!h->lmap)
        return AK_NONE;
    for (uint32_t i = lhash(label) & h->lmap_mask;; i = (i + 1) & h->lmap_mask) {
        const ak_lmap_ent *e = &h->lmap[i];
        if (e->slot == AK_NONE)
            return AK_NONE;
        if (e->label == label)
            return e->slot;
    }
}

static void lmap_insert_raw(ak_lmap_ent *t, uint32_t mask, uint32_t label, uint32_t slot)
{
    uint32_t i = lhash(label) & mask;
    while (t[i].slot != AK_NONE && t[i].label != label)
        i = (i + 1) & mask;
    t[i].label = label;
    t[i].slot = slot;
}

akidb_status ak_lmap_reserve(ak_hnsw *h, uint32_t n)
{
    uint64_t need = ((uint64_t)h->lmap_n + n) * 2;
    uint64_t size = h->lmap ? (uint64_t)h->lmap_mask + 1 : 0;
    if (size >= need && size >= 16)
        return AKIDB_OK;
    uint64_t ns = size ? size : 16;
    while (ns < need)
        ns *= 2;
    if (ns > (1ull << 32))
        return ak_fail(AKIDB_ENOMEM, "hnsw: label map too large");
    ak_lmap_ent *t = ak_malloc((size_t)ns * sizeof *t);
    if (!t)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory growing the label map");
    for (uint64_t i = 0; i < ns; i++)
        t[i].slot = AK_NONE, t[i].label = 0;
    uint32_t mask = (uint32_t)(ns - 1);
    for (uint64_t i = 0; i < size; i++)
        if (h->lmap[i].slot != AK_NONE)
            lmap_insert_raw(t, mask, h->lmap[i].label, h->lmap[i].slot);
    ak_free(h->lmap);
    h->lmap = t;
    h->lmap_mask = mask;
    return AKIDB_OK;
}

void ak_lmap_put(ak_hnsw *h, uint32_t label, uint32_t slot)
{
    AK_ASSERT(h->lmap && ((uint64_t)h->lmap_n + 1) * 2 <= (uint64_t)h->lmap_mask + 1);
    lmap_insert_raw(h->lmap, h->lmap_mask, label, slot);
    h->lmap_n++;
}

void ak_lmap_del(ak_hnsw *h, uint32_t label)
{
    uint32_t mask = h->lmap_mask, i = lhash(label) & mask;
    for (;; i = (i + 1) & mask) {
        if (h->lmap[i].slot == AK_NONE)
            return;
        if (h->lmap[i].label == label)
            break;
    }
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (h->lmap[j].slot == AK_NONE)
            break;
        uint32_t k = lhash(h->lmap[j].label) & mask;
        /* move j into the hole at i unless its home k lies cyclically in (i, j] */
        bool in_range = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!in_range) {
            h->lmap[i] = h->lmap[j];
            i = j;
        }
    }
    h->lmap[i].slot = AK_NONE;
    h->lmap_n--;
}

/* ---- creation, growth ----------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int ak_hnsw_random_level(ak_hnsw *h)
{
    double u = ((double)(splitmix(&h->rng) >> 11) + 0.5) * 0x1p-53;
    double l = -log(u) * h->mult;
    return l >= AK_HNSW_MAX_LEVEL ? AK_HNSW_MAX_LEVEL : (int)l;
}

akidb_status ak_hnsw_alloc_empty(const ak_hnsw_params *p, ak_hnsw **out)
{
    AK_ASSERT(p && out);
    uint32_t M = p->M ? p->M : 16;
    if (p->dim < 1 || p->dim > AK_HNSW_MAX_DIM)
        return ak_fail(AKIDB_EINVAL, "hnsw: dim %u out of range 1..%u", p->dim, AK_HNSW_MAX_DIM);
    if (M < 2 || M > AK_HNSW_MAX_M)
        return ak_fail(AKIDB_EINVAL, "hnsw: M %u out of range 2..%u", M, AK_HNSW_MAX_M);
    if (!ak_metric_name(p->metric))
        return ak_fail(AKIDB_EINVAL, "hnsw: unknown metric %d", (int)p->metric);
    ak_hnsw *h = ak_calloc(1, sizeof *h);
    if (!h)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory");
    akidb_status st = ak_sq8_init(h, p);
    if (st) {
        ak_free(h);
        return st;
    }
    h->dim = p->dim;
    h->M = M;
    h->M0 = 2 * M;
    h->efc = p->ef_construction ? p->ef_construction : 200;
    if (h->efc > 1u << 20)
        h->efc = 1u << 20;
    h->metric = p->metric;
    h->mult = 1.0 / log((double)M);
    h->rng = p->seed;
    h->neg = p->metric != AK_METRIC_L2;
    h->dist = ak_dist_get(ak_dist_path(), h->neg ? AK_METRIC_DOT : AK_METRIC_L2);
    h->distb = h->neg ? NULL : ak_l2_bounded_get(ak_dist_path());
    h->distbm = h->neg ? NULL : ak_l2_bounded_multi_get(ak_dist_path());
    h->dotm = h->neg ? ak_dot_multi_get(ak_dist_path()) : NULL;
    h->ep = AK_NONE;
    h->max_level = -1;
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->lock, &ra);
    pthread_rwlock_init(&h->gate, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&h->alloc_mu, NULL);
    pthread_mutex_init(&h->pool_mu, NULL);
    for (uint32_t i = 0; i < AK_NSTRIPE; i++)
        pthread_mutex_init(&h->node_mu[i], NULL);
    *out = h;
    return AKIDB_OK;
}

/* Arrays at least this large are placed on 2 MiB boundaries and marked for
 * transparent huge pages. */
#define AK_HUGE_PAGE ((size_t)2 << 20)

/* Asks the kernel to back the 2 MiB-aligned part of [p, p + n) with
 * transparent huge pages (a hint: ignored where THP is off or unsupported).
 * Why: a search touches a few hundred vectors scattered over the whole
 * array; with 4 KiB pages nearly each one costs a TLB miss and a page walk,
 * and the hardware prefetcher stops at every 4 KiB boundary inside a
 * vector.  Call it before the memory is first touched. */
static void advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    uintptr_t a = ((uintptr_t)p + AK_HUGE_PAGE - 1) & ~(uintptr_t)(AK_HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(AK_HUGE_PAGE - 1);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

akidb_status ak_hnsw_grow(ak_hnsw *h, uint32_t new_cap)
{
    if (new_cap <= h->cap)
        return AKIDB_OK;
    size_t vbytes, lbytes;
    if (ak_mul_overflow((size_t)new_cap, (size_t)h->dim * sizeof(float), &vbytes) ||
        ak_mul_overflow((size_t)new_cap, (size_t)(1 + h->M0) * sizeof(uint32_t), &lbytes))
        return ak_fail(AKIDB_ENOMEM, "hnsw: capacity %u too large", new_cap);
    bool huge = vbytes >= 2 * AK_HUGE_PAGE;
    float *v = ak_malloc_aligned(vbytes ? vbytes : 64, huge ? AK_HUGE_PAGE : 64);
    if (!v)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for %u vectors", new_cap);
    if (huge)
        advise_huge(v, vbytes);
    uint32_t *l0 = ak_realloc(h->links0, lbytes);
    if (!l0) goto oom;
    h->links0 = l0;
    if (lbytes >= 2 * AK_HUGE_PAGE)
        advise_huge(l0, lbytes);
    uint32_t **up = ak_realloc(h->upper, (size_t)new_cap * sizeof *up);
    if (!up) goto oom;
    h->upper = up;
    uint8_t *lv = ak_realloc(h->level, new_cap);
    if (!lv) goto oom;
    h->level = lv;
    uint8_t *stt = ak_realloc(h->state, new_cap);
    if (!stt) goto oom;
    h->state = stt;
    uint32_t *sl = ak_realloc(h->slot_label, (size_t)new_cap * sizeof *sl);
    if (!sl) goto oom;
    h->slot_label = sl;
    if (ak_sq8_grow(h, new_cap)) goto oom;
    if (h->vecs)
        memcpy(v, h->vecs, (size_t)h->cap * h->dim * sizeof(float));
    memset(v + (size_t)h->cap * h->dim, 0, (size_t)(new_cap - h->cap) * h->dim * sizeof(float));
    ak_free_aligned(h->vecs);
    h->vecs = v;
    for (uint32_t s = h->cap; s < new_cap; s++) {
        h->links0[(size_t)s * (1 + h->M0)] = 0;
        h->upper[s] = NULL;
        h->level[s] = 0;
        h->state[s] = SLOT_FREE;
        h->slot_label[s] = AK_NONE;
    }
    h->cap = new_cap;
    return AKIDB_OK;
oom:
    ak_free_aligned(v);
    return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory growing to %u slots", new_cap);
}

akidb_status ak_hnsw_create(const ak_hnsw_params *p, ak_hnsw **out)
{
    ak_hnsw *h;
    akidb_status st = ak_hnsw_alloc_empty(p, &h);
    if (st)
        return st;
    size_t c = p->capacity ? p->capacity : 64;
    if (c > AK_HNSW_MAX_LABEL)
        c = AK_HNSW_MAX_LABEL;
    if ((st = ak_hnsw_grow(h, (uint32_t)c)) || (st = ak_lmap_reserve(h, (uint32_t)(c < 1024 ? c : 1024)))) {
        ak_hnsw_free(h);
        return st;
    }
    *out = h;
    return AKIDB_OK;
}

void ak_hnsw_free(ak_hnsw *h)
{
    if (!h)
        return;
    if (h->upper)
        for (uint32_t s = 0; s < h->cap; s++)
            ak_free(h->upper[s]);
    ak_free(h->upper);
    ak_free_aligned(h->vecs);
    ak_free(h->links0);
    ak_free(h->level);
    ak_free(h->state);
    ak_free(h->slot_label);
    ak_free(h->lmap);
    ak_free(h->free_slots);
    ak_sq8_free(h);
    for (ak_scratch *s = h->pool, *n; s; s = n) {
        n = s->next;
        ak_free(s->vis);
        ak_free(s->vis_words);
        ak_free(s->cand);
        ak_free(s->res);
        ak_free(s->tmp);
        ak_free(s->q);
        ak_free(s->qs);
        ak_free(s);
    }
    pthread_rwlock_destroy(&h->lock);
    pthread_rwlock_destroy(&h->gate);
    pthread_mutex_destroy(&h->alloc_mu);
    pthread_mutex_destroy(&h->pool_mu);
    for (uint32_t i = 0; i < AK_NSTRIPE; i++)
        pthread_mutex_destroy(&h->node_mu[i]);
    ak_free(h);
}

ak_hnsw_params ak_hnsw_get_params(const ak_hnsw *h)
{
    AK_ASSERT(h);
    ak_hnsw_params p = { h->dim, h->metric, h->M, h->efc, 0, h->cap,
                         h->sq.on ? AK_QUANT_SQ8 : AK_QUANT_NONE, h->sq.on ? h->sq.quantile : 0 };
    return p;
}

/* ---- scratch -------------------------------------------------------------- */

bool ak_scratch_reserve(ak_pair **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return true;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    ak_pair *b = ak_realloc(*buf, nc * sizeof *b);
    if (!b)
        return false;
    *buf = b;
    *cap = nc;
    return true;
}

ak_scratch *ak_scratch_get(const ak_hnsw *hc)
{
    ak_hnsw *h = (ak_hnsw *)hc;
    pthread_mutex_lock(&h->pool_mu);
    ak_scratch *s = h->pool;
    if (s)
        h->pool = s->next;
    pthread_mutex_unlock(&h->pool_mu);
    if (!s) {
        s = ak_calloc(1, sizeof *s);
        if (!s)
            return NULL;
        s->q = ak_malloc((size_t)h->dim * sizeof(float));
        s->qs = h->sq.on ? ak_malloc(2 * (size_t)h->dim) : NULL;
        if (!s->q || (h->sq.on && !s->qs)) {
            ak_free(s->q);
            ak_free(s);
            return NULL;
        }
        pthread_mutex_lock(&h->pool_mu);
        h->pool_bytes += sizeof *s + (size_t)h->dim * (sizeof(float) + (h->sq.on ? 2 : 0));
        pthread_mutex_unlock(&h->pool_mu);
    }
    if (s->vis_cap < h->cap) {
        uint32_t nw = (uint32_t)(((uint64_t)h->cap + 63) / 64), ow = s->vis_cap / 64;
        uint64_t *v = ak_realloc(s->vis, (size_t)nw * sizeof *v);
        if (v)
            s->vis = v;
        uint32_t *vw = v ? ak_realloc(s->vis_words, (size_t)nw * sizeof *vw) : NULL;
        if (!vw) {
            ak_scratch_put(h, s);
            return NULL;
        }
        s->vis_words = vw;
        memset(v + ow, 0, (size_t)(nw - ow) * sizeof *v);
        pthread_mutex_lock(&h->pool_mu);
        h->pool_bytes += (size_t)(nw - ow) * (sizeof *v + sizeof *vw);
        pthread_mutex_unlock(&h->pool_mu);
        s->vis_cap = nw * 64;
    }
    s->nd = 0;
    s->max_nd = 0;   /* a search sets its own budget */
    return s;
}

void ak_scratch_put(const ak_hnsw *hc, ak_scratch *s)
{
    ak_hnsw *h = (ak_hnsw *)hc;
    if (!s)
        return;
    pthread_mutex_lock(&h->pool_mu);
    s->next = h->pool;
    h->pool = s;
    pthread_mutex_unlock(&h->pool_mu);
}

