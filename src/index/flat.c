/*
 * flat.c - the "flat" member of the index kind table (kinds.c): the vectors
 * of one dimension and metric in one row-major array, searched exactly
 * (brute force), plus the same scan over a caller's plain array
 * (ak_exact_search_array, the ground truth of the recall tests and
 * benchmarks).
 *
 * Why a kind without a graph: exact search is the reference every
 * approximate index is measured against, and for a few thousand vectors a
 * scan beats building and walking a graph.  It shares nothing with the
 * graph's internals, so it can check them.
 *
 * Layout: rows 0..n-1 hold the live vectors (a removal moves the last row
 * into the hole, so the array stays dense), labels[row] their labels, and
 * an open-addressing table maps a label to its row.  Scores, result order
 * (best first, ties by smaller label) and errors are those of the HNSW
 * index (index.h, "Scores"); under cosine, vectors and queries are
 * normalised.  Top-k is a max-heap of k entries; for L2, once k results are
 * held, each further distance uses the bounded kernel against the worst of
 * them (ak_dist_bounded_fn), with the outcome of a full evaluation.
 *
 * Concurrency: one rwlock; searches and reads share it, add / remove /
 * nothing else take it exclusively (adds are serialised, which is fine for
 * the small sets this kind is for).  The image format is in index.h.
 */
#include "index/index.h"

#include "common/fileio.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FLAT_VERSION 1u
#define FLAT_HDR 48u
#define NO_ROW 0xFFFFFFFFu

typedef struct flat {
    uint32_t dim;
    ak_metric metric;
    bool neg;                    /* internal distance = -dot               */
    ak_dist_fn dist;
    ak_dist_bounded_fn distb;    /* L2 only                                */
    float *vecs;                 /* cap x dim                              */
    uint32_t *labels;            /* cap                                    */
    uint32_t n, cap;
    uint32_t *map;               /* row, or NO_ROW; size mask + 1          */
    uint32_t mask;
    pthread_rwlock_t lock;
} flat;

/* ---- top-k -------------------------------------------------------------------- */

typedef struct fpair {
    float d;
    uint32_t label;
} fpair;

typedef struct topk {
    fpair *hp;                   /* max-heap on (d, label): worst on top */
    size_t n, k;
} topk;

static bool worse(fpair a, fpair b)
{
    return a.d > b.d || (a.d == b.d && a.label > b.label);
}

static void heap_push(topk *t, fpair v)
{
    size_t i = t->n++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!worse(v, t->hp[p]))
            break;
        t->hp[i] = t->hp[p];
        i = p;
    }
    t->hp[i] = v;
}

static void heap_pop(topk *t)
{
    fpair v = t->hp[--t->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && worse(t->hp[c + 1], t->hp[c]))
            c++;
        if (!worse(t->hp[c], v))
            break;
        t->hp[i] = t->hp[c];
        i = c;
    }
    t->hp[i] = v;
}

/* Bound below which a distance can still enter (just above the worst held
 * one, so ties come back exact and the label tie-break sees them). */
static float topk_bound(const topk *t)
{
    return t->n < t->k ? INFINITY : nextafterf(t->hp[0].d, INFINITY);
}

static void topk_offer(topk *t, float d, uint32_t label)
{
    fpair v = { d, label };
    if (t->n < t->k) {
        heap_push(t, v);
    } else if (worse(t->hp[0], v)) {
        heap_pop(t);
        heap_push(t, v);
    }
}

static int cmp_pair(const void *a, const void *b)
{
    const fpair *x = a, *y = b;
    return worse(*x, *y) - worse(*y, *x);
}

/* Sorts the held results best first into out; scores from distances. */
static size_t topk_emit(topk *t, bool neg, ak_hit *out)
{
    qsort(t->hp, t->n, sizeof *t->hp, cmp_pair);
    for (size_t i = 0; i < t->n; i++) {
        out[i].label = t->hp[i].label;
        out[i].score = neg ? -t->hp[i].d : t->hp[i].d;
    }
    return t->n;
}

/* Distance of row vector v to q as the heap orders it (lower is better). */
static inline float row_dist(ak_dist_fn f, ak_dist_bounded_fn fb, bool neg, const float *v,
                             const float *q, size_t dim, float bound)
{
    if (fb)
        return fb(v, q, dim, bound);
    float d = f(v, q, dim);
    return neg ? -d : d;
}

/* ---- ground truth over a plain array ---------------------------------------------- */

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
    topk t = { NULL, 0, k < n ? k : n };
    if (!(t.hp = ak_malloc((t.k + 1) * sizeof *t.hp)))
        return ak_fail(AKIDB_ENOMEM, "exact search: out of memory");
    for (size_t i = 0; i < n; i++)
        topk_offer(&t, row_dist(f, fb, !l2, vectors + i * dim, query, dim, topk_bound(&t)),
                   (uint32_t)i);
    *n_out = topk_emit(&t, !l2, out);
    ak_free(t.hp);
    return AKIDB_OK;
}

/* ---- label map ----------------------------------------------------------------- */

static inline uint32_t home(const flat *f, uint32_t label)
{
    return (uint32_t)(((uint64_t)label * 0x9E3779B97F4A7C15ull) >> 32) & f->mask;
}

/* Position in map of label, or of the empty entry where it would go. */
static uint32_t map_pos(const flat *f, uint32_t label)
{
    uint32_t i = home(f, label);
    while (f->map[i] != NO_ROW && f->labels[f->map[i]] != label)
        i = (i + 1) & f->mask;
    return i;
}

static uint32_t row_of(const flat *f, uint32_t label)
{
    return f->map ? f->map[map_pos(f, label)] : NO_ROW;
}

/* Removes the entry at i (backward-shift deletion keeps probes unbroken). */
static void map_del_at(flat *f, uint32_t i)
{
    for (uint32_t j = i;;) {
        j = (j + 1) & f->mask;
        if (f->map[j] == NO_ROW)
            break;
        uint32_t h = home(f, f->labels[f->map[j]]);
        /* entry j may move to i if its home is not in (i, j] cyclically */
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (!stays) {
            f->map[i] = f->map[j];
            i = j;
        }
    }
    f->map[i] = NO_ROW;
}

/* Makes room for n rows (arrays and a map at most half full). */
static akidb_status reserve(flat *f, size_t n)
{
    if (n > (size_t)AK_INDEX_MAX_LABEL + 1)
        return ak_fail(AKIDB_ERANGE, "flat index: more than %u vectors", AK_INDEX_MAX_LABEL);
    if (n > f->cap) {
        size_t cap = f->cap ? f->cap : 64;
        while (cap < n)
            cap *= 2;
        float *v = ak_malloc_aligned(cap * f->dim * sizeof *v, 64);
        uint32_t *l = ak_realloc(f->labels, cap * sizeof *l);
        if (!v || !l) {
            ak_free_aligned(v);
            if (l)
                f->labels = l;
            return ak_fail(AKIDB_ENOMEM, "flat index: out of memory for %zu vectors", cap);
        }
        if (f->n)
            memcpy(v, f->vecs, (size_t)f->n * f->dim * sizeof *v);
        ak_free_aligned(f->vecs);
        f->vecs = v;
        f->labels = l;
        f->cap = (uint32_t)(cap < 0xFFFFFFFFull ? cap : 0xFFFFFFFFull);
    }
    size_t want = 64;
    while (want < 2 * n)
        want *= 2;
    if (f->map && want <= (size_t)f->mask + 1)
        return AKIDB_OK;
    uint32_t *m = ak_malloc(want * sizeof *m);
    if (!m)
        return ak_fail(AKIDB_ENOMEM, "flat index: out of memory for the label map");
    memset(m, 0xFF, want * sizeof *m);
    ak_free(f->map);
    f->map = m;
    f->mask = (uint32_t)(want - 1);
    for (uint32_t r = 0; r < f->n; r++)
        f->map[map_pos(f, f->labels[r])] = r;
    return AKIDB_OK;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void flat_free(void *impl)
{
    flat *f = impl;
    if (!f)
        return;
    ak_free_aligned(f->vecs);
    ak_free(f->labels);
    ak_free(f->map);
    pthread_rwlock_destroy(&f->lock);
    ak_free(f);
}

static akidb_status flat_new(uint32_t dim, ak_metric metric, size_t capacity, flat **out)
{
    if (dim < 1 || dim > AK_HNSW_MAX_DIM)
        return ak_fail(AKIDB_EINVAL, "flat index: dimension %u is outside 1..%u", dim,
                       AK_HNSW_MAX_DIM);
    if (!ak_metric_name(metric))
        return ak_fail(AKIDB_EINVAL, "flat index: unknown metric %d", (int)metric);
    flat *f = ak_calloc(1, sizeof *f);
    if (!f)
        return ak_fail(AKIDB_ENOMEM, "flat index: out of memory");
    f->dim = dim;
    f->metric = metric;
    f->neg = metric != AK_METRIC_L2;
    f->dist = ak_dist_get(ak_dist_path(), f->neg ? AK_METRIC_DOT : AK_METRIC_L2);
    f->distb = f->neg ? NULL : ak_l2_bounded_get(ak_dist_path());
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&f->lock, &a);
    pthread_rwlockattr_destroy(&a);
    akidb_status st = reserve(f, capacity);
    if (st != AKIDB_OK) {
        flat_free(f);
        return st;
    }
    *out = f;
    return AKIDB_OK;
}

static akidb_status flat_create(const ak_index_params *p, void **out)
{
    AK_ASSERT(p && out);
    flat *f;
    akidb_status st = flat_new(p->dim, p->metric, p->capacity, &f);
    if (st == AKIDB_OK)
        *out = f;
    return st;
}

static ak_index_params flat_params(const void *impl)
{
    const flat *f = impl;
    ak_index_params p = { 0 };
    p.dim = f->dim;
    p.metric = f->metric;
    p.capacity = f->cap;
    return p;
}

/* ---- writes --------------------------------------------------------------------------- */

static akidb_status flat_add(void *impl, uint32_t label, const float *vec)
{
    flat *f = impl;
    AK_ASSERT(f && vec);
    if (label > AK_INDEX_MAX_LABEL)
        return ak_fail(AKIDB_EINVAL, "flat index: label %u is above %u", label, AK_INDEX_MAX_LABEL);
    for (uint32_t i = 0; i < f->dim; i++)
        if (!isfinite(vec[i]))
            return ak_fail(AKIDB_EINVAL, "flat index: vector element %u is not finite", i);
    pthread_rwlock_wrlock(&f->lock);
    akidb_status st = AKIDB_OK;
    if (row_of(f, label) != NO_ROW)
        st = ak_fail(AKIDB_EEXIST, "flat index: label %u is present", label);
    else
        st = reserve(f, (size_t)f->n + 1);
    if (st == AKIDB_OK) {
        uint32_t r = f->n++;
        float *v = f->vecs + (size_t)r * f->dim;
        memcpy(v, vec, f->dim * sizeof *v);
        if (f->metric == AK_METRIC_COSINE)
            ak_vec_normalize(v, f->dim);
        f->labels[r] = label;
        f->map[map_pos(f, label)] = r;
    }
    pthread_rwlock_unlock(&f->lock);
    return st;
}

static akidb_status flat_remove_batch(void *impl, const uint32_t *labels, size_t n,
                                      size_t *n_removed)
{
    flat *f = impl;
    AK_ASSERT(f && (labels || n == 0));
    size_t done = 0;
    pthread_rwlock_wrlock(&f->lock);
    for (size_t i = 0; i < n && f->map; i++) {
        uint32_t pos = map_pos(f, labels[i]), r = f->map[pos];
        if (r == NO_ROW)
            continue;
        map_del_at(f, pos);
        uint32_t last = --f->n;
        if (r != last) {
            /* the last row fills the hole */
            f->map[map_pos(f, f->labels[last])] = r;
            f->labels[r] = f->labels[last];
            memcpy(f->vecs + (size_t)r * f->dim, f->vecs + (size_t)last * f->dim,
                   f->dim * sizeof(float));
        }
        done++;
    }
    pthread_rwlock_unlock(&f->lock);
    if (n_removed)
        *n_removed = done;
    return AKIDB_OK;
}

/* ---- reads ------------------------------------------------------------------------------ */

static bool flat_contains(const void *impl, uint32_t label)
{
    flat *f = (flat *)impl;
    pthread_rwlock_rdlock(&f->lock);
    bool has = row_of(f, label) != NO_ROW;
    pthread_rwlock_unlock(&f->lock);
    return has;
}

static akidb_status flat_get_vector(const void *impl, uint32_t label, float *out)
{
    flat *f = (flat *)impl;
    AK_ASSERT(out);
    pthread_rwlock_rdlock(&f->lock);
    uint32_t r = row_of(f, label);
    if (r != NO_ROW)
        memcpy(out, f->vecs + (size_t)r * f->dim, f->dim * sizeof *out);
    pthread_rwlock_unlock(&f->lock);
    if (r == NO_ROW)
        return ak_fail(AKIDB_ENOENT, "flat index: label %u is absent", label);
    return AKIDB_OK;
}

static size_t flat_count(const void *impl)
{
    flat *f = (flat *)impl;
    pthread_rwlock_rdlock(&f->lock);
    size_t n = f->n;
    pthread_rwlock_unlock(&f->lock);
    return n;
}

static size_t flat_memory(const void *impl)
{
    flat *f = (flat *)impl;
    pthread_rwlock_rdlock(&f->lock);
    size_t b = sizeof *f + (size_t)f->cap * (f->dim * sizeof(float) + sizeof(uint32_t)) +
               (f->map ? ((size_t)f->mask + 1) * sizeof(uint32_t) : 0);
    pthread_rwlock_unlock(&f->lock);
    return b;
}

/* Exact search with the read lock held; q prepared.  Every row passed (or
 * listed label) counts as one point examined against o->max_visits. */
static akidb_status search_locked(const flat *f, const float *q, const ak_search_opts *o,
                                  topk *t)
{
    size_t n = o->labels ? o->n_labels : f->n;
    if (o->visits)
        *o->visits = o->max_visits && n > o->max_visits ? 0 : n;
    if (o->max_visits && n > o->max_visits)
        return ak_fail(AKIDB_ERANGE, "flat index: a search over %zu points is past its budget "
                       "of %zu", n, o->max_visits);
    if (!o->labels) {
        for (uint32_t r = 0; r < f->n; r++) {
            if (o->accept && !o->accept(f->labels[r], o->ctx))
                continue;
            topk_offer(t, row_dist(f->dist, f->distb, f->neg, f->vecs + (size_t)r * f->dim, q,
                                   f->dim, topk_bound(t)),
                       f->labels[r]);
        }
        return AKIDB_OK;
    }
    /* candidates: each row once, however often its label is listed */
    uint64_t *seen = ak_calloc(((size_t)f->n + 63) / 64 + 1, sizeof *seen);
    if (!seen)
        return ak_fail(AKIDB_ENOMEM, "flat index: out of memory for a search");
    for (size_t i = 0; i < o->n_labels; i++) {
        uint32_t r = row_of(f, o->labels[i]);
        if (r == NO_ROW || (seen[r >> 6] >> (r & 63) & 1))
            continue;
        seen[r >> 6] |= (uint64_t)1 << (r & 63);
        topk_offer(t, row_dist(f->dist, f->distb, f->neg, f->vecs + (size_t)r * f->dim, q, f->dim,
                               topk_bound(t)),
                   f->labels[r]);
    }
    ak_free(seen);
    return AKIDB_OK;
}

static akidb_status flat_search(const void *impl, const float *query, size_t k,
                                const ak_search_opts *opts, ak_hit *out, size_t *n_out)
{
    flat *f = (flat *)impl;
    AK_ASSERT(f && query && n_out && (out || k == 0));
    *n_out = 0;
    if (k == 0)
        return AKIDB_OK;
    ak_search_opts o = { 0 };
    if (opts)
        o = *opts;
    for (uint32_t i = 0; i < f->dim; i++)
        if (!isfinite(query[i]))
            return ak_fail(AKIDB_EINVAL, "flat index: query element %u is not finite", i);
    float *q = ak_malloc(f->dim * sizeof *q);
    topk t = { NULL, 0, k };
    if (q)
        t.hp = ak_malloc((k + 1) * sizeof *t.hp);
    if (!q || !t.hp) {
        ak_free(q);
        return ak_fail(AKIDB_ENOMEM, "flat index: out of memory for a search");
    }
    memcpy(q, query, f->dim * sizeof *q);
    if (f->metric == AK_METRIC_COSINE)
        ak_vec_normalize(q, f->dim);
    pthread_rwlock_rdlock(&f->lock);
    akidb_status st = search_locked(f, q, &o, &t);
    pthread_rwlock_unlock(&f->lock);
    if (st == AKIDB_OK)
        *n_out = topk_emit(&t, f->neg, out);
    ak_free(t.hp);
    ak_free(q);
    return st;
}

static akidb_status flat_validate(const void *impl, bool strict)
{
    flat *f = (flat *)impl;
    (void)strict;   /* nothing can be unreachable without a graph */
    akidb_status st = AKIDB_OK;
    pthread_rwlock_rdlock(&f->lock);
    size_t in_map = 0;
    for (uint32_t i = 0; f->map && i <= f->mask; i++)
        in_map += f->map[i] != NO_ROW;
    if (in_map != f->n)
        st = ak_fail(AKIDB_ECORRUPT, "flat index: the label map holds %zu labels, the rows %u",
                     in_map, f->n);
    for (uint32_t r = 0; st == AKIDB_OK && r < f->n; r++) {
        if (f->labels[r] > AK_INDEX_MAX_LABEL || row_of(f, f->labels[r]) != r)
            st = ak_fail(AKIDB_ECORRUPT, "flat index: row %u (label %u) is not mapped to itself",
                         r, f->labels[r]);
        for (uint32_t i = 0; st == AKIDB_OK && i < f->dim; i++)
            if (!isfinite(f->vecs[(size_t)r * f->dim + i]))
                st = ak_fail(AKIDB_ECORRUPT, "flat index: row %u element %u is not finite", r, i);
    }
    pthread_rwlock_unlock(&f->lock);
    return st;
}

/* ---- image ---------------------------------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }   /* little-endian hosts */
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* The checksum runs over the header, the labels and the vectors in turn. */
static uint64_t chain(uint64_t sum, const void *p, size_t n)
{
    return n ? ak_index_hash64(p, n, sum) : sum;
}

static size_t image_size(uint32_t dim, uint32_t n)
{
    return FLAT_HDR + (size_t)n * 4 + (size_t)n * dim * 4 + 8;
}

static size_t flat_serialized_size(const void *impl)
{
    flat *f = (flat *)impl;
    pthread_rwlock_rdlock(&f->lock);
    size_t n = image_size(f->dim, f->n);
    pthread_rwlock_unlock(&f->lock);
    return n;
}

static akidb_status flat_save_fd(const void *impl, int fd)
{
    flat *f = (flat *)impl;
    AK_ASSERT(f && fd >= 0);
    pthread_rwlock_rdlock(&f->lock);
    uint8_t h[FLAT_HDR] = { 0 };
    memcpy(h, ak_index_flat.magic, 8);
    put32(h + 8, FLAT_VERSION);
    put32(h + 12, FLAT_HDR);
    put64(h + 16, image_size(f->dim, f->n));
    put32(h + 24, f->dim);
    put32(h + 28, (uint32_t)f->metric);
    put32(h + 32, f->n);
    size_t nl = (size_t)f->n * 4, nv = (size_t)f->n * f->dim * 4;
    uint64_t sum = chain(chain(chain(0, h, sizeof h), f->labels, nl), f->vecs, nv);
    uint8_t tr[8];
    put64(tr, sum);
    akidb_status st = ak_io_write_all(fd, h, sizeof h, "flat index");
    if (st == AKIDB_OK && nl)
        st = ak_io_write_all(fd, f->labels, nl, "flat index");
    if (st == AKIDB_OK && nv)
        st = ak_io_write_all(fd, f->vecs, nv, "flat index");
    if (st == AKIDB_OK)
        st = ak_io_write_all(fd, tr, sizeof tr, "flat index");
    pthread_rwlock_unlock(&f->lock);
    return st;
}

#define CORRUPT(...) ak_fail(AKIDB_ECORRUPT, "flat index image: " __VA_ARGS__)

static akidb_status flat_load_buf(const void *buf, size_t len, void **out, size_t *used)
{
    AK_ASSERT((buf || len == 0) && out);
    const uint8_t *p = buf;
    if (len < FLAT_HDR + 8)
        return CORRUPT("truncated: %zu bytes, the header needs %u", len, FLAT_HDR + 8);
    if (memcmp(p, ak_index_flat.magic, 8) != 0)
        return CORRUPT("bad magic");
    if (get32(p + 8) != FLAT_VERSION)
        return CORRUPT("unsupported version %u", get32(p + 8));
    if (get32(p + 12) != FLAT_HDR)
        return CORRUPT("header size %u, expected %u", get32(p + 12), FLAT_HDR);
    uint32_t dim = get32(p + 24), metric = get32(p + 28), n = get32(p + 32);
    uint64_t total = get64(p + 16);
    if (dim < 1 || dim > AK_HNSW_MAX_DIM)
        return CORRUPT("dimension %u is outside 1..%u", dim, AK_HNSW_MAX_DIM);
    if (!ak_metric_name((ak_metric)metric))
        return CORRUPT("unknown metric %u", metric);
    for (int i = 36; i < (int)FLAT_HDR; i++)
        if (p[i])
            return CORRUPT("reserved header byte %d is not zero", i);
    /* n <= 2^32 and dim <= 2^16: the size cannot overflow 64 bits */
    if (total != image_size(dim, n))
        return CORRUPT("total size %llu does not match %u vectors of dimension %u",
                       (unsigned long long)total, n, dim);
    if (total > len)
        return CORRUPT("truncated: %zu bytes of %llu", len, (unsigned long long)total);
    const uint8_t *lab = p + FLAT_HDR, *vec = lab + (size_t)n * 4;
    uint64_t sum = chain(chain(chain(0, p, FLAT_HDR), lab, (size_t)n * 4), vec, (size_t)n * dim * 4);
    if (sum != get64(p + total - 8))
        return CORRUPT("checksum mismatch");
    flat *f;
    akidb_status st = flat_new(dim, (ak_metric)metric, n, &f);
    if (st != AKIDB_OK)
        return st;
    if (n)
        memcpy(f->vecs, vec, (size_t)n * dim * 4);
    for (uint32_t r = 0; r < n && st == AKIDB_OK; r++) {
        uint32_t l = get32(lab + (size_t)r * 4);
        for (uint32_t i = 0; i < dim && st == AKIDB_OK; i++)
            if (!isfinite(f->vecs[(size_t)r * dim + i]))
                st = CORRUPT("vector %u element %u is not finite", r, i);
        if (st != AKIDB_OK)
            break;
        uint32_t pos = map_pos(f, l);
        if (l > AK_INDEX_MAX_LABEL || f->map[pos] != NO_ROW) {
            st = CORRUPT("label %u of row %u is %s", l, r,
                         l > AK_INDEX_MAX_LABEL ? "out of range" : "a duplicate");
            break;
        }
        f->labels[r] = l;
        f->map[pos] = r;
        f->n = r + 1;
    }
    if (st != AKIDB_OK) {
        flat_free(f);
        return st;
    }
    *out = f;
    if (used)
        *used = (size_t)total;
    return AKIDB_OK;
}

const ak_index_kind ak_index_flat = {
    .name = "flat",
    .magic = { 'A', 'K', 'F', 'L', 'A', 'T', 0, 1 },
    .create = flat_create,
    .free = flat_free,
    .params = flat_params,
    .add = flat_add,
    .remove_batch = flat_remove_batch,
    .contains = flat_contains,
    .get_vector = flat_get_vector,
    .count = flat_count,
    .memory = flat_memory,
    .search = flat_search,
    .serialized_size = flat_serialized_size,
    .save_fd = flat_save_fd,
    .load_buf = flat_load_buf,
    .validate = flat_validate,
};
