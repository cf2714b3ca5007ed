/*
 * sq8.c - int8 scalar quantisation (SQ8) of an HNSW index: fixing the
 * bounds from a quantile of the values, coding vectors and queries,
 * rescoring a walk's candidates with the float vectors, and the arrays
 * behind it.  index.h ("Quantisation") states the rule and the distance
 * formulas; sq8_kernels.c has the integer kernel.
 *
 * Why this shape: a graph search reads a few hundred vectors scattered
 * over memory, so its cost is the bytes it moves.  One byte per component
 * instead of four lets a walk touch a quarter of the memory, and rescoring
 * the few candidates it ends with (with the float vectors, which stay in
 * memory) makes the returned scores exact.  One (lo, step) pair for the
 * whole index, as Qdrant's scalar quantisation has, keeps the distance a
 * single integer dot product plus two multiply-adds; a quantile instead of
 * the minimum and maximum keeps a few outlying values from stretching the
 * range that every other value is coded in.
 *
 * When the bounds are fixed: at the add that brings the index to
 * AK_SQ8_TRAIN_N vectors (ak_sq8_maybe_train).  From then on they are
 * never recomputed, so the code of a vector never changes - the image on
 * disk, the codes in memory and every later add agree.  The values are the
 * components of the vectors present then (at most SAMPLE_MAX of them, taken
 * by a fixed stride, so the bounds do not depend on memory or timing).
 */
#include "index/hnsw_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_MAX ((size_t)1 << 22) /* values the quantiles are taken from */

/* ---- state --------------------------------------------------------------- */

akidb_status ak_sq8_init(ak_hnsw *h, const ak_index_params *p)
{
    memset(&h->sq, 0, sizeof h->sq);
    if (p->quant == AK_QUANT_NONE)
        return AKIDB_OK;
    if (p->quant != AK_QUANT_SQ8)
        return ak_fail(AKIDB_EINVAL, "hnsw: quantisation kind %d unknown", (int)p->quant);
    float q = p->quantile == 0 ? AK_SQ8_QUANTILE_DEFAULT : p->quantile;
    if (!(q >= 0.5f && q <= 1.0f))
        return ak_fail(AKIDB_EINVAL, "hnsw: SQ8 quantile %g is outside 0.5..1", (double)q);
    h->sq.on = true;
    h->sq.quantile = q;
    ak_sq8_isa isa = ak_sq8_isa_for(ak_dist_path());
    h->sq.dot = ak_sq8_dot_get(isa);
    h->sq.dotm = ak_sq8_dotm_get(isa);
    return AKIDB_OK;
}

akidb_status ak_sq8_grow(ak_hnsw *h, uint32_t new_cap)
{
    if (!h->sq.on || new_cap <= h->cap)
        return AKIDB_OK;
    size_t old = (size_t)h->cap * h->dim, nb = (size_t)new_cap * h->dim;
    uint8_t *c = ak_realloc(h->sq.codes, nb);
    if (!c)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for %u SQ8 code rows", new_cap);
    h->sq.codes = c;
    memset(c + old, 0, nb - old);
    if (h->metric == AK_METRIC_L2) {
        float *n = ak_realloc(h->sq.sqn, (size_t)new_cap * sizeof *n);
        if (!n)
            return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for %u SQ8 norms", new_cap);
        h->sq.sqn = n;
        memset(n + h->cap, 0, (size_t)(new_cap - h->cap) * sizeof *n);
    }
    return AKIDB_OK;
}

void ak_sq8_free(ak_hnsw *h)
{
    ak_free(h->sq.codes);
    ak_free(h->sq.sqn);
    h->sq.codes = NULL;
    h->sq.sqn = NULL;
}

size_t ak_sq8_memory(const ak_hnsw *h)
{
    if (!h->sq.on)
        return 0;
    return (size_t)h->cap * h->dim + (h->sq.sqn ? (size_t)h->cap * sizeof(float) : 0);
}

size_t ak_hnsw_quant_memory(const ak_hnsw *h)
{
    pthread_rwlock_rdlock((pthread_rwlock_t *)&h->lock);
    size_t b = ak_sq8_memory(h);
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->lock);
    return b;
}

/* ---- coding -------------------------------------------------------------- */

/* The code of x: round((x - lo) / step), clamped to 0..255 (in double, so a
 * wide range cannot overflow). */
static inline uint8_t code_of(double x, double lo, double inv)
{
    double t = (x - lo) * inv;
    if (!(t > 0))
        return 0;
    if (t >= 255)
        return 255;
    return (uint8_t)(t + 0.5);
}

static void code_row(const ak_hnsw *h, uint32_t slot)
{
    const float *v = ak_vec(h, slot);
    uint8_t *u = h->sq.codes + (size_t)slot * h->dim;
    double lo = h->sq.lo, inv = 1.0 / h->sq.step;
    for (uint32_t i = 0; i < h->dim; i++)
        u[i] = code_of(v[i], lo, inv);
}

static float sqnorm(const float *v, uint32_t n)
{
    double s = 0;
    for (uint32_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return (float)s;
}

void ak_sq8_code_slot(ak_hnsw *h, uint32_t slot)
{
    if (!h->sq.on)
        return;
    if (h->sq.sqn)
        h->sq.sqn[slot] = sqnorm(ak_vec(h, slot), h->dim);
    if (h->sq.trained)
        code_row(h, slot);
}

void ak_sq8_wipe_slot(ak_hnsw *h, uint32_t slot)
{
    if (!h->sq.on)
        return;
    memset(h->sq.codes + (size_t)slot * h->dim, 0, h->dim);
    if (h->sq.sqn)
        h->sq.sqn[slot] = 0;
}

void ak_sq8_after_load(ak_hnsw *h)
{
    if (!h->sq.sqn)
        return;
    for (uint32_t s = 0; s < h->n_slots; s++)
        if (h->state[s] == SLOT_LIVE)
            h->sq.sqn[s] = sqnorm(ak_vec(h, s), h->dim);
}

/* ---- fixing the bounds --------------------------------------------------- */

/* Rearranges v[0..n) (n > 0, finite) so that the value of rank r is found
 * and returns it: quickselect with a median-of-three pivot and a three-way
 * partition (runs of equal values, common in quantised or sparse data,
 * end in the middle part at once). */
static float select_rank(float *v, size_t n, size_t r)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi];
        float p = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        /* [lo, lt) < p, [lt, i) == p, (gt, hi] > p; p occurs in the range,
         * so gt never passes below lo */
        size_t lt = lo, i = lo, gt = hi;
        while (i <= gt) {
            float x = v[i];
            if (x < p) {
                v[i++] = v[lt];
                v[lt++] = x;
            } else if (x > p) {
                v[i] = v[gt];
                v[gt--] = x;
            } else {
                i++;
            }
        }
        if (r < lt)
            hi = lt - 1;
        else if (r > gt)
            lo = gt + 1;
        else
            return p;
    }
    return v[lo];
}

/* Fixes the bounds from the live vectors and codes every slot that holds
 * a vector (write lock held: every PENDING slot's vector is copied, as an
 * add copies it under the read lock it took the slot with). */
static akidb_status train_locked(ak_hnsw *h)
{
    size_t live = 0;
    for (uint32_t s = 0; s < h->n_slots; s++)
        live += h->state[s] == SLOT_LIVE;
    size_t total = live * h->dim, stride = (total + SAMPLE_MAX - 1) / SAMPLE_MAX;
    if (!total)
        return AKIDB_OK;
    size_t n = (total + stride - 1) / stride, k = 0, at = 0;
    float *v = ak_malloc(n * sizeof *v);
    if (!v)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory fixing the SQ8 bounds");
    for (uint32_t s = 0; s < h->n_slots; s++) {
        if (h->state[s] != SLOT_LIVE)
            continue;
        const float *x = ak_vec(h, s);
        for (; at < h->dim && k < n; at += stride)
            v[k++] = x[at];
        if (k == n)
            break;
        at -= h->dim;   /* where the next sample falls in the next vector */
    }
    /* the ranks (1 - q) / 2 and (1 + q) / 2 of the k values (q = 1: the
     * minimum and the maximum) */
    double q = h->sq.quantile, last = (double)(k - 1);
    float lo = select_rank(v, k, (size_t)floor((1.0 - q) / 2 * last));
    float hi = select_rank(v, k, (size_t)ceil((1.0 + q) / 2 * last));
    ak_free(v);
    double step = ((double)hi - lo) / 255.0;
    if (!(step > 0) || !isfinite(step) || !((float)step > 0))
        step = 1.0;   /* every value alike: any positive step codes them */
    h->sq.lo = lo;
    h->sq.step = (float)step;
    /* PENDING too: an add that let go of the read lock to take the write
     * lock (a new top level) has copied its vector but found no bounds */
    for (uint32_t s = 0; s < h->n_slots; s++)
        if (h->state[s] == SLOT_LIVE || h->state[s] == SLOT_PENDING)
            code_row(h, s);
    __atomic_store_n(&h->sq.trained, true, __ATOMIC_RELEASE);
    return AKIDB_OK;
}

void ak_sq8_maybe_train(ak_hnsw *h)
{
    if (!h->sq.on || __atomic_load_n(&h->sq.trained, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&h->count, __ATOMIC_RELAXED) < AK_SQ8_TRAIN_N)
        return;
    pthread_rwlock_wrlock(&h->lock);
    if (!h->sq.trained && h->count >= AK_SQ8_TRAIN_N)
        (void)train_locked(h);   /* out of memory: the next add retries */
    pthread_rwlock_unlock(&h->lock);
}

/* ---- queries ------------------------------------------------------------- */

/* The code of t (|t| <= 127.5 up to rounding): round half away from zero,
 * clamped to -127..127. */
static inline int8_t qcode(double t)
{
    long r = (long)(t < 0 ? t - 0.5 : t + 0.5);
    return (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
}

void ak_sq8_query(const ak_hnsw *h, ak_scratch *s, const float *q, ak_sq8q *out)
{
    double mx = 0, qn = 0, sum = 0;
    for (uint32_t i = 0; i < h->dim; i++) {
        double a = fabs((double)q[i]);
        mx = a > mx ? a : mx;
        qn += (double)q[i] * q[i];
    }
    /* q' = b0 * s0 + b1 * s1: s0 the coarse codes, s1 their rounding
     * error (at most b0 / 2) coded with b1 = b0 / 254 */
    double b0 = mx > 0 ? mx / 127.0 : 1.0, b1 = b0 / 254.0;
    int8_t *s0 = s->qs, *s1 = s->qs + h->dim;
    for (uint32_t i = 0; i < h->dim; i++) {
        s0[i] = qcode((double)q[i] / b0);
        s1[i] = qcode(((double)q[i] - b0 * s0[i]) / b1);
        sum += b0 * s0[i] + b1 * s1[i];
    }
    out->s0 = s0;
    out->s1 = s1;
    out->k0 = (float)(h->sq.step * b0);
    out->k1 = (float)(h->sq.step * b1);
    out->c0 = (float)(h->sq.lo * sum);
    out->qn = (float)qn;
}

/* (distance, label) pairs, best first, ties by smaller label. */
static int cmp_hit_pair(const void *a, const void *b)
{
    const ak_pair *x = a, *y = b;
    if (x->d < y->d) return -1;
    if (x->d > y->d) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The k best held as a max-heap on (distance, label): worst on top. */
static void top_sift_down(ak_pair *t, size_t n, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && cmp_hit_pair(&t[c + 1], &t[c]) > 0)
            c++;
        if (cmp_hit_pair(&t[c], &t[i]) <= 0)
            return;
        ak_pair x = t[i];
        t[i] = t[c];
        t[c] = x;
        i = c;
    }
}

static void top_offer(ak_pair *t, size_t *n, size_t k, ak_pair v)
{
    if (*n < k) {
        size_t i = (*n)++;
        t[i] = v;
        while (i > 0 && cmp_hit_pair(&t[(i - 1) / 2], &t[i]) < 0) {
            ak_pair x = t[i];
            t[i] = t[(i - 1) / 2];
            t[(i - 1) / 2] = x;
            i = (i - 1) / 2;
        }
    } else if (cmp_hit_pair(&v, &t[0]) < 0) {
        t[0] = v;
        top_sift_down(t, *n, 0);
    }
}

/* The candidates are rescored best-by-int8 first, eight at a time with the
 * group kernel; for L2 each group gets the bound just above the k-th best
 * float distance so far (as the exact scan does), so a candidate that can
 * no longer enter the top k stops being read part-way. */
void ak_sq8_rescore(const ak_hnsw *h, ak_scratch *s, const float *q, size_t n, size_t k,
                    ak_hit *out, size_t *n_out)
{
    ak_pair *p = s->res, *top = s->cand;   /* the walk is done with both */
    size_t nt = 0;
    qsort(p, n, sizeof *p, cmp_hit_pair);
    for (size_t i = 0; i < n;) {
        uint32_t ids[AK_GROUP], m = n - i < AK_GROUP ? (uint32_t)(n - i) : AK_GROUP;
        float dd[AK_GROUP];
        for (uint32_t j = 0; j < m; j++)
            ids[j] = p[i + j].id;
        float bound = nt < k ? INFINITY : nextafterf(top[0].d, INFINITY);
        ak_distance_group_below(h, q, ids, m, bound, dd);
        for (uint32_t j = 0; j < m; j++)
            if (dd[j] < bound)
                top_offer(top, &nt, k, (ak_pair){ dd[j], h->slot_label[ids[j]] });
        i += m;
    }
    s->nd += n;
    qsort(top, nt, sizeof *top, cmp_hit_pair);
    for (size_t i = 0; i < nt; i++) {
        out[i].label = top[i].id;
        out[i].score = ak_score(h, top[i].d);
    }
    *n_out = nt;
}
