/*
 * distance.c - dot product and squared L2 kernels for the vector index, with
 * runtime dispatch between a portable scalar path, AVX2+FMA, AVX-512F and
 * NEON.
 *
 * Why this shape: the index spends almost all of its time here (one call per
 * visited graph node), so each path keeps several independent accumulators
 * to hide FMA latency and handles the tail without a scalar loop where the
 * ISA allows it (AVX-512 masked loads).  The x86 paths are compiled with
 * per-function target attributes, so the library itself needs no -m flags
 * and runs on any x86-64; the path is the one common/cpu.h picks for the
 * whole program (AKIDB_KERNELS, else the best the CPU has), or forced for
 * tests with ak_dist_select.
 *
 * Squared L2 also comes in a bounded form (ak_l2_bounded_get): the search
 * only needs a distance when it beats the current worst result, and most
 * neighbours a graph search looks at do not, so the kernel checks its
 * partial sum every 128 floats and stops once it reaches the bound.  Partial
 * sums of squares only grow (each FMA adds a non-negative term, and float
 * rounding is monotone), and the check reduces the accumulators with the
 * same expression as the final sum, so a stopped kernel's answer is <= the
 * full one: "reject" decisions are exactly those of the full kernel.  The
 * plain L2 kernel is the bounded one with an infinite bound (same
 * arithmetic, so both agree to the bit when the bounded one finishes).
 *
 * The pair and group forms (ak_l2_bounded2_get, ak_l2_bounded_multi_get,
 * ak_dot2_get, ak_dot_multi_get) compute distances from one query to two,
 * or up to eight, vectors read as interleaved streams.  A graph search is
 * bound by memory latency, not arithmetic: one 3 KB vector at a time
 * leaves the core waiting for each line; with eight streams in flight the
 * AVX-512 kernel takes ~1.25x less time per 3 KB vector than with two on
 * the benchmark machine (bench/ann/group_kernels.c measures it).  Each
 * vector's arithmetic is that of the single kernel, so the results are
 * bit-identical to single calls.  On AVX-512 and AVX2 that arithmetic
 * uses two accumulators per vector, so eight (AVX-512) or four (AVX2)
 * vectors' sums fit in the registers; NEON and scalar groups are pairs.
 */
#include "index/index.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define AK_X86 1
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* ---- scalar ------------------------------------------------------------- */

static float dot_scalar(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

/* Shared body of the scalar squared L2: 4 accumulators, partial sum checked
 * against bound every 128 floats (see the file comment for why a stopped
 * result is never below the full one). */
static inline float l2_scalar_body(const float *a, const float *b, size_t n, float bound,
                                   int check)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    while (i + 4 <= n) {
        size_t stop = i + 128 < n ? i + 128 : n;
        for (; i + 4 <= stop; i += 4) {
            float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
            float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
            s0 += d0 * d0;
            s1 += d1 * d1;
            s2 += d2 * d2;
            s3 += d3 * d3;
        }
        if (check) {
            float p = (s0 + s1) + (s2 + s3);
            if (p >= bound)
                return p;
        }
    }
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

static float l2_scalar(const float *a, const float *b, size_t n)
{
    return l2_scalar_body(a, b, n, INFINITY, 0);
}

static float l2b_scalar(const float *a, const float *b, size_t n, float bound)
{
    return l2_scalar_body(a, b, n, bound, 1);
}

/* Pair form of the scalar bounded kernel (no interleaving to gain here). */
static void l2b2_scalar(const float *a, const float *b0, const float *b1, size_t n,
                        float bound, float *out)
{
    out[0] = l2_scalar_body(a, b0, n, bound, 1);
    out[1] = l2_scalar_body(a, b1, n, bound, 1);
}

/* ---- AVX2 + FMA ----------------------------------------------------------- */
#ifdef AK_X86
#define AK_AVX2 __attribute__((target("avx2,fma")))
#define AK_AVX512 __attribute__((target("avx512f")))

AK_AVX2 static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* Dot products on AVX2, in the shape of the AVX-512 ones below: two
 * accumulators per vector (floats i..i+7 and i+8..i+15 of each 16-float
 * step), an 8-float step into the first, one horizontal sum, then a scalar
 * remainder; so one, two or four vectors read together give bit-identical
 * results, and four vectors' sums fit in the 16 registers. */
AK_AVX2 static inline __attribute__((always_inline)) void
dot_256_lanes(const float *a, const float *const *bv, size_t m, size_t n, float *out, const int L)
{
    const float *b[4];
    __m256 s0[4], s1[4];
    for (int j = 0; j < L; j++) {
        b[j] = (size_t)j < m ? bv[j] : a;
        s0[j] = _mm256_setzero_ps();
        s1[j] = _mm256_setzero_ps();
    }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a0 = _mm256_loadu_ps(a + i), a1 = _mm256_loadu_ps(a + i + 8);
        for (int j = 0; j < L; j++) {
            s0[j] = _mm256_fmadd_ps(a0, _mm256_loadu_ps(b[j] + i), s0[j]);
            s1[j] = _mm256_fmadd_ps(a1, _mm256_loadu_ps(b[j] + i + 8), s1[j]);
        }
    }
    size_t i8 = i + 8 <= n ? i + 8 : i;
    if (i8 != i) {
        __m256 ai = _mm256_loadu_ps(a + i);
        for (int j = 0; j < L; j++)
            s0[j] = _mm256_fmadd_ps(ai, _mm256_loadu_ps(b[j] + i), s0[j]);
    }
    for (int j = 0; j < L && (size_t)j < m; j++) {
        float r = hsum256(_mm256_add_ps(s0[j], s1[j]));
        for (size_t t = i8; t < n; t++)
            r += a[t] * b[j][t];
        out[j] = r;
    }
}

AK_AVX2 static float dot_avx2(const float *a, const float *b, size_t n)
{
    float r;
    dot_256_lanes(a, &b, 1, n, &r, 1);
    return r;
}

/* Two dot products of a with b0 and b1, loads interleaved; each result is
 * bit-identical to dot_avx2. */
AK_AVX2 static void dot2_avx2(const float *a, const float *b0, const float *b1, size_t n,
                              float *out)
{
    const float *b[2] = { b0, b1 };
    dot_256_lanes(a, b, 2, n, out, 2);
}

AK_AVX2 static void dotm_avx2(const float *a, const float *const *b, size_t m, size_t n,
                              float *out)
{
    for (size_t j = 0; j < m; j += 4) {
        size_t r = m - j < 4 ? m - j : 4;
        if (r <= 2)
            dot_256_lanes(a, b + j, r, n, out + j, 2);
        else
            dot_256_lanes(a, b + j, r, n, out + j, 4);
    }
}

/* Where the bounded kernels test their partial sum: after p floats when p
 * is a multiple of 128 and at least one more full step of `step` floats
 * remains (testing just before the end saves nothing). */
static inline int l2_check_at(size_t p, size_t n, size_t step)
{
    return (p & 127) == 0 && p + step <= n;
}

/* Bounded squared-L2 sums of m <= L vectors read as L interleaved streams
 * (L is a compile-time constant at each use).  More independent streams
 * keep more cache-line fills in flight (see the file header for the
 * measured gain).  A lane whose partial sum reaches bound at a check stores it and is
 * pointed at `a` itself (already in L1), so it costs no more memory
 * traffic; lanes past m start that way.  Every lane runs exactly the step,
 * check and tail sequence of the path's single kernel, so each result equals
 * the single kernel's bit for bit. */
#define AK_L2_LANES(attr, name, acc, vec, W, load, zero, step, sum, tail, MAXL)            \
    attr static inline __attribute__((always_inline)) void                                \
    name(const float *a, const float *const *bv, size_t m, size_t n, float bound,         \
         float *out, const int L)                                                         \
    {                                                                                     \
        const float *b[MAXL];                                                             \
        acc s[MAXL];                                                                      \
        unsigned live = (1u << m) - 1u;                                                   \
        for (int j = 0; j < L; j++) {                                                     \
            b[j] = (size_t)j < m ? bv[j] : a;                                             \
            s[j].s0 = zero();                                                             \
            s[j].s1 = zero();                                                             \
        }                                                                                 \
        size_t i = 0;                                                                     \
        for (; i + 2 * W <= n; i += 2 * W) {                                              \
            vec a0 = load(a + i), a1 = load(a + i + W);                                   \
            for (int j = 0; j < L; j++)                                                   \
                step(&s[j], a0, a1, b[j] + i);                                            \
            if (l2_check_at(i + 2 * W, n, 2 * W)) {                                       \
                for (int j = 0; j < L; j++) {                                             \
                    if (!((live >> j) & 1))                                               \
                        continue;                                                         \
                    float p = sum(&s[j]);                                                 \
                    if (p >= bound) {                                                     \
                        out[j] = p;                                                       \
                        live &= ~(1u << j);                                               \
                        b[j] = a;                                                         \
                    }                                                                     \
                }                                                                         \
                if (!live)                                                                \
                    return;                                                               \
            }                                                                             \
        }                                                                                 \
        for (int j = 0; j < L; j++)                                                       \
            if ((live >> j) & 1)                                                          \
                out[j] = tail(a, b[j], n, i, s[j]);                                       \
    }

/* Squared L2 on AVX2, shaped like the dot products above: two
 * accumulators per vector (16-float steps), an 8-float step into the
 * first, one horizontal sum, a scalar remainder; the bound is checked every
 * 128 floats. */
typedef struct l2acc256 {
    __m256 s0, s1;
} l2acc256;

AK_AVX2 static inline __attribute__((always_inline)) void
l2_256_step(l2acc256 *s, __m256 a0, __m256 a1, const float *b)
{
    __m256 d0 = _mm256_sub_ps(a0, _mm256_loadu_ps(b));
    __m256 d1 = _mm256_sub_ps(a1, _mm256_loadu_ps(b + 8));
    s->s0 = _mm256_fmadd_ps(d0, d0, s->s0);
    s->s1 = _mm256_fmadd_ps(d1, d1, s->s1);
}

AK_AVX2 static inline __attribute__((always_inline)) float l2_256_sum(const l2acc256 *s)
{
    return hsum256(_mm256_add_ps(s->s0, s->s1));
}

/* The end of one sum after the 16-float steps: floats i..n (i + 16 > n). */
AK_AVX2 static inline __attribute__((always_inline)) float
l2_256_tail(const float *a, const float *b, size_t n, size_t i, l2acc256 s)
{
    if (i + 8 <= n) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s.s0 = _mm256_fmadd_ps(d, d, s.s0);
        i += 8;
    }
    float r = l2_256_sum(&s);
    for (; i < n; i++) {
        float d = a[i] - b[i];
        r += d * d;
    }
    return r;
}

AK_L2_LANES(AK_AVX2, l2_256_lanes, l2acc256, __m256, 8, _mm256_loadu_ps, _mm256_setzero_ps,
            l2_256_step, l2_256_sum, l2_256_tail, 4)

AK_AVX2 static float l2_avx2(const float *a, const float *b, size_t n)
{
    float r;
    l2_256_lanes(a, &b, 1, n, INFINITY, &r, 1);
    return r;
}

AK_AVX2 static float l2b_avx2(const float *a, const float *b, size_t n, float bound)
{
    float r;
    l2_256_lanes(a, &b, 1, n, bound, &r, 1);
    return r;
}

/* Two bounded squared-L2 sums (a-b0, a-b1) interleaved: each vector's
 * arithmetic is exactly that of l2b_avx2, but both memory streams are in
 * flight at once. */
AK_AVX2 static void l2b2_avx2(const float *a, const float *b0, const float *b1, size_t n,
                              float bound, float *out)
{
    const float *b[2] = { b0, b1 };
    l2_256_lanes(a, b, 2, n, bound, out, 2);
}

AK_AVX2 static void l2bm_avx2(const float *a, const float *const *b, size_t m, size_t n,
                              float bound, float *out)
{
    for (size_t j = 0; j < m; j += 4) {
        size_t r = m - j < 4 ? m - j : 4;
        if (r <= 2)
            l2_256_lanes(a, b + j, r, n, bound, out + j, 2);
        else
            l2_256_lanes(a, b + j, r, n, bound, out + j, 4);
    }
}

/* ---- AVX-512F ------------------------------------------------------------ */

/* Dot products on AVX-512, in the same shape as the squared L2 below: two
 * accumulators per vector (floats i..i+15 and i+16..i+31 of each 32-float
 * step), a 16-float step into the first and a masked remainder into the
 * second, one horizontal sum; so one, two or eight vectors read together
 * give bit-identical results, and eight vectors' sums fit in registers. */
AK_AVX512 static inline __attribute__((always_inline)) void
dot_512_lanes(const float *a, const float *const *bv, size_t m, size_t n, float *out, const int L)
{
    const float *b[8];
    __m512 s0[8], s1[8];
    for (int j = 0; j < L; j++) {
        b[j] = (size_t)j < m ? bv[j] : a;
        s0[j] = _mm512_setzero_ps();
        s1[j] = _mm512_setzero_ps();
    }
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 a0 = _mm512_loadu_ps(a + i), a1 = _mm512_loadu_ps(a + i + 16);
        for (int j = 0; j < L; j++) {
            s0[j] = _mm512_fmadd_ps(a0, _mm512_loadu_ps(b[j] + i), s0[j]);
            s1[j] = _mm512_fmadd_ps(a1, _mm512_loadu_ps(b[j] + i + 16), s1[j]);
        }
    }
    if (i + 16 <= n) {
        __m512 ai = _mm512_loadu_ps(a + i);
        for (int j = 0; j < L; j++)
            s0[j] = _mm512_fmadd_ps(ai, _mm512_loadu_ps(b[j] + i), s0[j]);
        i += 16;
    }
    if (i < n) {
        __mmask16 mk = (__mmask16)((1u << (n - i)) - 1u);
        __m512 ai = _mm512_maskz_loadu_ps(mk, a + i);
        for (int j = 0; j < L; j++)
            s1[j] = _mm512_fmadd_ps(ai, _mm512_maskz_loadu_ps(mk, b[j] + i), s1[j]);
    }
    for (int j = 0; j < L && (size_t)j < m; j++)
        out[j] = _mm512_reduce_add_ps(_mm512_add_ps(s0[j], s1[j]));
}

AK_AVX512 static float dot_avx512(const float *a, const float *b, size_t n)
{
    float r;
    dot_512_lanes(a, &b, 1, n, &r, 1);
    return r;
}

/* Two dot products, loads interleaved; bit-identical to dot_avx512 each. */
AK_AVX512 static void dot2_avx512(const float *a, const float *b0, const float *b1, size_t n,
                                  float *out)
{
    const float *b[2] = { b0, b1 };
    dot_512_lanes(a, b, 2, n, out, 2);
}

AK_AVX512 static void dotm_avx512(const float *a, const float *const *b, size_t m, size_t n,
                                  float *out)
{
    if (m <= 2)
        dot_512_lanes(a, b, m, n, out, 2);
    else if (m <= 4)
        dot_512_lanes(a, b, m, n, out, 4);
    else
        dot_512_lanes(a, b, m, n, out, 8);
}

/* Squared L2 on AVX-512.  One accumulation scheme serves the single,
 * bounded and group kernels, so they agree bit for bit on every pair:
 * two accumulators per vector (floats i..i+15 and i+16..i+31 of each
 * 32-float step), a 16-float step into the first and a masked remainder
 * into the second at the end, then one horizontal sum.  Two accumulators
 * (not four) so that eight vectors' sums fit in registers at once. */
typedef struct l2acc512 {
    __m512 s0, s1;
} l2acc512;

AK_AVX512 static inline __attribute__((always_inline)) void
l2_512_step(l2acc512 *s, __m512 a0, __m512 a1, const float *b)
{
    __m512 d0 = _mm512_sub_ps(a0, _mm512_loadu_ps(b));
    __m512 d1 = _mm512_sub_ps(a1, _mm512_loadu_ps(b + 16));
    s->s0 = _mm512_fmadd_ps(d0, d0, s->s0);
    s->s1 = _mm512_fmadd_ps(d1, d1, s->s1);
}

AK_AVX512 static inline __attribute__((always_inline)) float l2_512_sum(const l2acc512 *s)
{
    return _mm512_reduce_add_ps(_mm512_add_ps(s->s0, s->s1));
}

/* The end of one sum after the 32-float steps: floats i..n (i + 32 > n). */
AK_AVX512 static inline __attribute__((always_inline)) float
l2_512_tail(const float *a, const float *b, size_t n, size_t i, l2acc512 s)
{
    if (i + 16 <= n) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s.s0 = _mm512_fmadd_ps(d, d, s.s0);
        i += 16;
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s.s1 = _mm512_fmadd_ps(d, d, s.s1);
    }
    return l2_512_sum(&s);
}

AK_L2_LANES(AK_AVX512, l2_512_lanes, l2acc512, __m512, 16, _mm512_loadu_ps, _mm512_setzero_ps,
            l2_512_step, l2_512_sum, l2_512_tail, 8)

AK_AVX512 static float l2_avx512(const float *a, const float *b, size_t n)
{
    float r;
    l2_512_lanes(a, &b, 1, n, INFINITY, &r, 1);
    return r;
}

AK_AVX512 static float l2b_avx512(const float *a, const float *b, size_t n, float bound)
{
    float r;
    l2_512_lanes(a, &b, 1, n, bound, &r, 1);
    return r;
}

/* Two bounded squared-L2 sums interleaved (see l2b2_avx2). */
AK_AVX512 static void l2b2_avx512(const float *a, const float *b0, const float *b1, size_t n,
                                  float bound, float *out)
{
    const float *b[2] = { b0, b1 };
    l2_512_lanes(a, b, 2, n, bound, out, 2);
}

AK_AVX512 static void l2bm_avx512(const float *a, const float *const *b, size_t m, size_t n,
                                  float bound, float *out)
{
    if (m <= 2)
        l2_512_lanes(a, b, m, n, bound, out, 2);
    else if (m <= 4)
        l2_512_lanes(a, b, m, n, bound, out, 4);
    else
        l2_512_lanes(a, b, m, n, bound, out, 8);
}
#endif /* AK_X86 */

/* ---- NEON ---------------------------------------------------------------- */
#ifdef __aarch64__
static float dot_neon(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Shared body of the NEON squared L2 (4 x 4 lanes, bound checked every 128
 * floats). */
static inline float l2_neon_body(const float *a, const float *b, size_t n, float bound,
                                 int check)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    while (i + 16 <= n) {
        size_t stop = i + 128 < n ? i + 128 : n;
        for (; i + 16 <= stop; i += 16) {
            float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
            float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
            float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
            float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
            s0 = vfmaq_f32(s0, d0, d0);
            s1 = vfmaq_f32(s1, d1, d1);
            s2 = vfmaq_f32(s2, d2, d2);
            s3 = vfmaq_f32(s3, d3, d3);
        }
        if (check) {
            float p = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
            if (p >= bound)
                return p;
        }
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        s0 = vfmaq_f32(s0, d, d);
    }
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

static float l2_neon(const float *a, const float *b, size_t n)
{
    return l2_neon_body(a, b, n, INFINITY, 0);
}

static float l2b_neon(const float *a, const float *b, size_t n, float bound)
{
    return l2_neon_body(a, b, n, bound, 1);
}

/* Pair form of the NEON bounded kernel (two plain calls). */
static void l2b2_neon(const float *a, const float *b0, const float *b1, size_t n,
                      float bound, float *out)
{
    out[0] = l2_neon_body(a, b0, n, bound, 1);
    out[1] = l2_neon_body(a, b1, n, bound, 1);
}
#endif

/* ---- dispatch ------------------------------------------------------------ */

static akidb_kernel_path g_path = AKIDB_KERNELS_SCALAR;
static ak_dist_fn g_dot = dot_scalar, g_l2 = l2_scalar;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* Pair form of any single kernel: two plain calls. */
static void dot2_scalar(const float *a, const float *b0, const float *b1, size_t n, float *out)
{
    out[0] = dot_scalar(a, b0, n);
    out[1] = dot_scalar(a, b1, n);
}

#ifdef __aarch64__
static void dot2_neon(const float *a, const float *b0, const float *b1, size_t n, float *out)
{
    out[0] = dot_neon(a, b0, n);
    out[1] = dot_neon(a, b1, n);
}
#endif

/* Group forms of a path without a wider kernel: pairs, then a single. */
#define AK_GROUP_FROM_PAIRS(name, single, pair, BOUND_PARAM, BOUND_ARG)                 \
    static void name(const float *a, const float *const *b, size_t m,                   \
                     size_t n BOUND_PARAM, float *out)                                  \
    {                                                                                   \
        size_t j = 0;                                                                   \
        for (; j + 1 < m; j += 2)                                                       \
            pair(a, b[j], b[j + 1], n BOUND_ARG, out + j);                              \
        if (j < m)                                                                      \
            out[j] = single(a, b[j], n BOUND_ARG);                                      \
    }
#define AK_WITH_BOUND , float bound
#define AK_BOUND , bound
#define AK_NOTHING
AK_GROUP_FROM_PAIRS(l2bm_scalar, l2b_scalar, l2b2_scalar, AK_WITH_BOUND, AK_BOUND)
AK_GROUP_FROM_PAIRS(dotm_scalar, dot_scalar, dot2_scalar, AK_NOTHING, AK_NOTHING)
#ifdef __aarch64__
AK_GROUP_FROM_PAIRS(l2bm_neon, l2b_neon, l2b2_neon, AK_WITH_BOUND, AK_BOUND)
AK_GROUP_FROM_PAIRS(dotm_neon, dot_neon, dot2_neon, AK_NOTHING, AK_NOTHING)
#endif

/* Every kernel of one path. */
typedef struct dist_set {
    ak_dist_fn l2, dot;
    ak_dist_bounded_fn l2b;
    ak_dist_bounded2_fn l2b2;
    ak_dist2_fn dot2;
    ak_dist_boundedm_fn l2bm;
    ak_distm_fn dotm;
} dist_set;

/* The kernels of path (AUTO: the best supported one); NULL if this build
 * or this CPU cannot run it. */
static const dist_set *path_set(akidb_kernel_path path)
{
    static const dist_set scalar = { l2_scalar, dot_scalar, l2b_scalar, l2b2_scalar,
                                     dot2_scalar, l2bm_scalar, dotm_scalar };
#ifdef AK_X86
    static const dist_set avx2 = { l2_avx2, dot_avx2, l2b_avx2, l2b2_avx2,
                                   dot2_avx2, l2bm_avx2, dotm_avx2 };
    static const dist_set avx512 = { l2_avx512, dot_avx512, l2b_avx512, l2b2_avx512,
                                     dot2_avx512, l2bm_avx512, dotm_avx512 };
#endif
#ifdef __aarch64__
    static const dist_set neon = { l2_neon, dot_neon, l2b_neon, l2b2_neon,
                                   dot2_neon, l2bm_neon, dotm_neon };
#endif
    if (path == AKIDB_KERNELS_AUTO)
        path = ak_cpu_auto_path(NULL);
    if (!ak_cpu_path_usable(path))
        return NULL;
    switch (path) {
    case AKIDB_KERNELS_SCALAR: return &scalar;
#ifdef AK_X86
    case AKIDB_KERNELS_AVX2: return &avx2;
    case AKIDB_KERNELS_AVX512: return &avx512;
#endif
#ifdef __aarch64__
    case AKIDB_KERNELS_NEON: return &neon;
#endif
    default: return NULL;
    }
}

ak_dist_fn ak_dist_get(akidb_kernel_path path, ak_metric kind)
{
    const dist_set *k = path_set(path);
    return k ? (kind == AK_METRIC_L2 ? k->l2 : k->dot) : NULL;
}

/* The public getters: one field of the path's set each. */
#define AK_DIST_GETTER(type, name, field)         \
    type name(akidb_kernel_path path)                       \
    {                                             \
        const dist_set *k = path_set(path);       \
        return k ? k->field : NULL;               \
    }
AK_DIST_GETTER(ak_dist_bounded_fn, ak_l2_bounded_get, l2b)
AK_DIST_GETTER(ak_dist_bounded2_fn, ak_l2_bounded2_get, l2b2)
AK_DIST_GETTER(ak_dist2_fn, ak_dot2_get, dot2)
AK_DIST_GETTER(ak_dist_boundedm_fn, ak_l2_bounded_multi_get, l2bm)
AK_DIST_GETTER(ak_distm_fn, ak_dot_multi_get, dotm)

static void set_path(akidb_kernel_path p)
{
    g_dot = ak_dist_get(p, AK_METRIC_DOT);
    g_l2 = ak_dist_get(p, AK_METRIC_L2);
    __atomic_store_n(&g_path, p, __ATOMIC_RELEASE);
}

static void init_once(void)
{
    set_path(ak_cpu_auto_path(NULL));
}

akidb_status ak_dist_select(akidb_kernel_path path)
{
    pthread_once(&g_once, init_once);
    if (!ak_cpu_path_usable(path))
        return ak_fail(AKIDB_EUNSUPPORTED, "instruction-set path %s is not supported here",
                       akidb_kernels_name(path));
    pthread_mutex_lock(&g_mu);
    set_path(path == AKIDB_KERNELS_AUTO ? ak_cpu_auto_path(NULL) : path);
    pthread_mutex_unlock(&g_mu);
    return AKIDB_OK;
}

akidb_kernel_path ak_dist_path(void)
{
    pthread_once(&g_once, init_once);
    return __atomic_load_n(&g_path, __ATOMIC_ACQUIRE);
}

float ak_dot(const float *a, const float *b, size_t n)
{
    return ak_dist_get(ak_dist_path(), AK_METRIC_DOT)(a, b, n);
}

float ak_l2sq(const float *a, const float *b, size_t n)
{
    return ak_dist_get(ak_dist_path(), AK_METRIC_L2)(a, b, n);
}

bool ak_vec_normalize(float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    if (!(s > 0) || !isfinite(s))
        return false;
    float inv = (float)(1.0 / sqrt(s));
    for (size_t i = 0; i < n; i++)
        v[i] *= inv;
    return true;
}

const char *ak_metric_name(ak_metric m)
{
    switch (m) {
    case AK_METRIC_COSINE: return "cosine";
    case AK_METRIC_L2: return "l2";
    case AK_METRIC_DOT: return "dot";
    }
    return NULL;
}

bool ak_metric_parse(const char *s, ak_metric *out)
{
    if (!s) return false;
    if (strcmp(s, "cosine") == 0) *out = AK_METRIC_COSINE;
    else if (strcmp(s, "l2") == 0 || strcmp(s, "euclid") == 0) *out = AK_METRIC_L2;
    else if (strcmp(s, "dot") == 0 || strcmp(s, "ip") == 0) *out = AK_METRIC_DOT;
    else return false;
    return true;
}
