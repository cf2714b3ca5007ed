/*
 * kern_tmpl.h - the packed-weight GEMM micro-kernels and the vectorised
 * element-wise operations (GELU, SiLU, gated products, softmax, layer norm,
 * RMSNorm), written once with GCC
 * vector extensions and instantiated per instruction set.
 *
 * Why one template: the register-blocked algorithm and the polynomial maths
 * are the same on AVX-512, AVX2, NEON and the portable path; only the vector
 * width and the register budget differ.  Each gemm_<isa>.c defines, then
 * includes this header once (compiled with that ISA's flags and
 * -ffp-contract=fast, so a*b+c becomes one FMA where the ISA has it):
 *   AKK_SUFFIX   name suffix (avx512, avx2, neon, scalar)
 *   AKK_VL       float lanes of one vector (4, 8 or 16; divides 16)
 *   AKK_MR       rows of X per micro-tile (<= 8)
 *   AKK_NV       vectors of output columns per micro-tile (<= 4)
 * and gets ak_gemm_p_<suffix> and ak_ops_<suffix> (see kernels.h).
 *
 * GEMM: Y[m x n] = X[m x k] * W^T (+ bias) with W prepacked by ak_pack_nt in
 * panels of 16 columns (for each k, 16 consecutive floats).  The micro-tile
 * keeps AKK_MR x AKK_NV vector accumulators in registers; each step over k
 * loads AKK_NV vectors of W and broadcasts AKK_MR floats of X.  k is cut into
 * blocks of KC (W block in L2), columns into blocks of NC.  Every output
 * element is one sequential FMA chain over k in the same order whatever the
 * tile, the row position or the thread, so results do not depend on how the
 * work is split (tests compare thread counts bit for bit).
 *
 * Element-wise operations process whole vectors; a tail shorter than a
 * vector is copied into a padded vector and goes through the same code, so
 * an element's result never depends on its position either.
 */
#ifndef AKK_SUFFIX
#error "define AKK_SUFFIX, AKK_VL, AKK_MR, AKK_NV before including kern_tmpl.h"
#endif

#include <math.h>
#include <string.h>

#define AKK_CAT2_(a, b) a##_##b
#define AKK_CAT_(a, b) AKK_CAT2_(a, b)
#define AKK_FN(name) AKK_CAT_(name, AKK_SUFFIX)

typedef float akv __attribute__((vector_size(AKK_VL * 4)));
typedef float akvu __attribute__((vector_size(AKK_VL * 4), aligned(4), may_alias));
typedef int32_t akvi __attribute__((vector_size(AKK_VL * 4)));

#define AKK_INLINE static inline __attribute__((always_inline))
#define AKK_KC 512
#define AKK_NC 256

AKK_INLINE akv v_load(const float *p) { return *(const akvu *)p; }
AKK_INLINE void v_store(float *p, akv v) { *(akvu *)p = v; }
/* A broadcast written as a vector literal: (akv){0} + a would cost a float
 * add per lane set (0 + a is not a, for a = -0), and those adds compete
 * with the GEMM's FMAs for the same ports. */
#if AKK_VL == 16
#define AKK_SPLAT_(a) { a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a }
#elif AKK_VL == 8
#define AKK_SPLAT_(a) { a, a, a, a, a, a, a, a }
#elif AKK_VL == 4
#define AKK_SPLAT_(a) { a, a, a, a }
#else
#error "AKK_VL must be 4, 8 or 16"
#endif
AKK_INLINE akv v_set1(float a) { return (akv)AKK_SPLAT_(a); }
AKK_INLINE akv v_sel(akvi m, akv a, akv b)   /* m ? a : b per lane */
{
    return (akv)(((akvi)a & m) | ((akvi)b & ~m));
}
AKK_INLINE akv v_min(akv a, akv b) { return v_sel(a < b, a, b); }
AKK_INLINE akv v_max(akv a, akv b) { return v_sel(a > b, a, b); }
AKK_INLINE float v_hsum(akv v)
{
    float s = 0.0f;
    for (int i = 0; i < AKK_VL; i++)
        s += v[i];
    return s;
}
AKK_INLINE float v_hmax(akv v)
{
    float s = v[0];
    for (int i = 1; i < AKK_VL; i++)
        s = v[i] > s ? v[i] : s;
    return s;
}

/* ---- FMA peak --------------------------------------------------------------
 * iters steps of 12 independent vector multiply-add chains (more than the
 * FMA latency times the FMA ports of any core this runs on, so the chains
 * keep every port busy): the most float FLOPs per second this path can
 * issue, the yardstick `akidb bench gemm` measures the GEMM against.
 * 2 * 12 * AKK_VL FLOPs per step.  Returns a value that depends on every
 * chain, so none is optimised away. */
static float AKK_FN(fma_peak)(size_t iters)
{
    akv a[12];
    const akv m = v_set1(0.9999999f), c = v_set1(1e-7f);
    for (int r = 0; r < 12; r++)
        a[r] = v_set1(0.001f * (float)(r + 1));
    for (size_t i = 0; i < iters; i++) {
        a[0] = a[0] * m + c;
        a[1] = a[1] * m + c;
        a[2] = a[2] * m + c;
        a[3] = a[3] * m + c;
        a[4] = a[4] * m + c;
        a[5] = a[5] * m + c;
        a[6] = a[6] * m + c;
        a[7] = a[7] * m + c;
        a[8] = a[8] * m + c;
        a[9] = a[9] * m + c;
        a[10] = a[10] * m + c;
        a[11] = a[11] * m + c;
    }
    akv s = a[0];
    for (int r = 1; r < 12; r++)
        s += a[r];
    return v_hsum(s);
}

/* ---- GEMM micro-kernel --------------------------------------------------- */

AKK_INLINE void AKK_FN(tile)(const int MR_, const int NV_, size_t kc,
                             const float *a, size_t lda, const float *w,
                             size_t k, size_t j, size_t pc, const float *bias,
                             float *y, size_t ldy, size_t nr, int first)
{
    const float *bp[4];
    for (int c = 0; c < NV_; c++) {
        size_t col = j + (size_t)c * AKK_VL;
        bp[c] = w + (col / 16) * k * 16 + pc * 16 + col % 16;
    }
    akv acc[8][4];
    for (int r = 0; r < MR_; r++)
        for (int c = 0; c < NV_; c++)
            acc[r][c] = (akv){ 0 };
#pragma GCC unroll 2
    for (size_t p = 0; p < kc; p++) {
        akv b[4];
        for (int c = 0; c < NV_; c++)
            b[c] = v_load(bp[c] + p * 16);
        for (int r = 0; r < MR_; r++) {
            akv av = v_set1(a[(size_t)r * lda + p]);
            for (int c = 0; c < NV_; c++)
                acc[r][c] += av * b[c];
        }
    }
    if (nr == (size_t)NV_ * AKK_VL) {
        for (int r = 0; r < MR_; r++) {
            float *yr = y + (size_t)r * ldy;
            for (int c = 0; c < NV_; c++) {
                akv v = acc[r][c];
                if (!first)
                    v = v_load(yr + c * AKK_VL) + v;
                else if (bias)
                    v = v + v_load(bias + c * AKK_VL);
                v_store(yr + c * AKK_VL, v);
            }
        }
        return;
    }
    /* partial tile: same sums, stored element by element */
    for (int r = 0; r < MR_; r++) {
        float tmp[4 * AKK_VL] = { 0 };
        for (int c = 0; c < NV_; c++)
            v_store(tmp + c * AKK_VL, acc[r][c]);
        float *yr = y + (size_t)r * ldy;
        for (size_t q = 0; q < nr; q++) {
            if (!first)
                yr[q] = yr[q] + tmp[q];
            else
                yr[q] = bias ? tmp[q] + bias[q] : tmp[q];
        }
    }
}

typedef void (*AKK_FN(tilefn))(size_t kc, const float *a, size_t lda,
                                const float *w, size_t k, size_t j, size_t pc,
                                const float *bias, float *y, size_t ldy,
                                size_t nr, int first);

#define AKK_DEF_(R, C)                                                        \
    static void AKK_FN(t##R##C)(size_t kc, const float *a, size_t lda,        \
                                const float *w, size_t k, size_t j, size_t pc, \
                                const float *bias, float *y, size_t ldy,      \
                                size_t nr, int first)                         \
    {                                                                         \
        AKK_FN(tile)(R, C, kc, a, lda, w, k, j, pc, bias, y, ldy, nr, first); \
    }
#define AKK_ROW_(R) AKK_DEF_(R, 1) AKK_DEF_(R, 2) AKK_DEF_(R, 3) AKK_DEF_(R, 4)
AKK_ROW_(1) AKK_ROW_(2) AKK_ROW_(3) AKK_ROW_(4)
AKK_ROW_(5) AKK_ROW_(6) AKK_ROW_(7) AKK_ROW_(8)
#define AKK_TROW_(R) { AKK_FN(t##R##1), AKK_FN(t##R##2), AKK_FN(t##R##3), AKK_FN(t##R##4) }
static const AKK_FN(tilefn) AKK_FN(tiles)[8][4] = {
    AKK_TROW_(1), AKK_TROW_(2), AKK_TROW_(3), AKK_TROW_(4),
    AKK_TROW_(5), AKK_TROW_(6), AKK_TROW_(7), AKK_TROW_(8),
};

/* Contract: see ak_gemm_p_fn in kernels.h. */
void AKK_FN(ak_gemm_p)(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const float *wp, const float *bias, float *y, size_t ldy,
                       size_t n0, size_t n1)
{
    const size_t NR = (size_t)AKK_VL * AKK_NV;
    const size_t NC = (AKK_NC / NR ? AKK_NC / NR : 1) * NR;
    if (n1 > n)
        n1 = n;
    if (m == 0 || n0 >= n1)
        return;
    if (k == 0) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = n0; j < n1; j++)
                y[i * ldy + j] = bias ? bias[j] : 0.0f;
        return;
    }
    for (size_t pc = 0; pc < k; pc += AKK_KC) {
        size_t kc = k - pc < AKK_KC ? k - pc : AKK_KC;
        int first = pc == 0;
        for (size_t jc = n0; jc < n1; jc += NC) {
            size_t je = jc + NC < n1 ? jc + NC : n1;
            for (size_t i = 0; i < m; i += AKK_MR) {
                size_t mr = m - i < AKK_MR ? m - i : AKK_MR;
                const float *xi = x + i * ldx + pc;
                float *yi = y + i * ldy;
                for (size_t j = jc; j < je; j += NR) {
                    size_t nr = je - j < NR ? je - j : NR;
                    size_t nv = (nr + AKK_VL - 1) / AKK_VL;
                    AKK_FN(tiles)[mr - 1][nv - 1](kc, xi, ldx, wp, k, j, pc,
                                                 bias ? bias + j : NULL, yi + j,
                                                 ldy, nr, first);
                }
            }
        }
    }
}

/* ---- element-wise maths ---------------------------------------------------- */

/* exp(a + b) for |b| small next to the range of a: the reduction
 * r = a - n ln2 + b keeps a's bits exact (Cody-Waite split of ln 2), so a
 * large a known as the sum of two floats loses nothing.  Results below
 * e^-87.3 are clamped to about 1e-38, above e^88 to about 1.7e38. */
AKK_INLINE akv v_exp2(akv a, akv b)
{
    const float LOG2E = 1.44269504088896341f;
    const float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    const float MAGIC = 12582912.0f;   /* 1.5 * 2^23: rounds to integer */
    a = v_min(v_max(a, -87.3f - b), 88.3f - b);   /* a + b in range */
    akv nf = ((a + b) * LOG2E + MAGIC) - MAGIC;
    akv r = (a - nf * LN2_HI) + b;
    r = r - nf * LN2_LO;
    /* |r| <= ~0.35 (more when clamped, where the result no longer matters) */
    akv p = v_set1(1.0f / 5040.0f);
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    akvi ni = __builtin_convertvector(nf, akvi);
    akv scale = (akv)((ni + 127) << 23);
    return p * scale;
}

/* Phi(x) = P(N(0,1) <= x) = erfc(-x / sqrt 2) / 2, relative error ~1e-6
 * everywhere (also far in the lower tail).  erfc(z) for z >= 0 is
 * t exp(-z^2 + P(t)), t = 1 / (1 + z/2), P a degree-11 least-squares fit made
 * for this project; z^2 is carried as hi + lo (Veltkamp split). */
AKK_INLINE akv v_phi(akv x)
{
    akv zs = x * -0.70710678118654752f;        /* -x / sqrt 2 */
    akvi neg = zs < 0.0f;                        /* x > 0 */
    akv z = v_sel(neg, -zs, zs);
    akv t = 1.0f / (1.0f + 0.5f * z);
    akv p = v_set1(-1.047282010e-01f);
    p = p * t + 5.214553961e-01f;
    p = p * t - 8.876106800e-01f;
    p = p * t + 2.504259863e-01f;
    p = p * t + 1.032017630e+00f;
    p = p * t - 1.264941778e+00f;
    p = p * t + 5.452423835e-01f;
    p = p * t - 3.342692927e-01f;
    p = p * t + 1.404721090e-01f;
    p = p * t + 3.668043390e-01f;
    p = p * t + 1.000667799e+00f;
    p = p * t - 1.265535707e+00f;
    akv hi = z * z;
    akv c = z * 4097.0f;
    akv zh = c - (c - z), zl = z - zh;
    akv lo = ((zh * zh - hi) + 2.0f * zh * zl) + zl * zl;
    akv e = t * v_exp2(-hi, p - lo);            /* erfc(z) */
    akv h = 0.5f * e;
    return v_sel(neg, 1.0f - h, h);
}

AKK_INLINE akv v_gelu(akv x) { return x * v_phi(x); }

/* x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): the tanh form of GELU
 * without the cancellation of 1 + tanh for negative x. */
AKK_INLINE akv v_gelu_tanh(akv x)
{
    akv u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + v_exp2(-2.0f * u, (akv){ 0 }));
}

AKK_INLINE akv v_relu(akv x) { return v_max(x, (akv){ 0 }); }

/* x * sigmoid(x) as torch's silu computes it, x / (1 + e^-x); e^-x clamped
 * to ~1.7e38 keeps large negative x at ~0 without overflow. */
AKK_INLINE akv v_silu(akv x) { return x / (1.0f + v_exp2(-x, (akv){ 0 })); }

#define AKK_MAP_(fname, vfn)                                                   \
    static void AKK_FN(fname)(float *x, size_t n)                              \
    {                                                                          \
        size_t i = 0;                                                          \
        for (; i + AKK_VL <= n; i += AKK_VL)                                   \
            v_store(x + i, vfn(v_load(x + i)));                                \
        if (i < n) {                                                           \
            float t[AKK_VL] = { 0 };                                           \
            memcpy(t, x + i, (n - i) * sizeof *t);                             \
            v_store(t, vfn(v_load(t)));                                        \
            memcpy(x + i, t, (n - i) * sizeof *t);                             \
        }                                                                      \
    }
AKK_MAP_(gelu, v_gelu)
AKK_MAP_(gelu_tanh, v_gelu_tanh)
AKK_MAP_(relu, v_relu)
AKK_MAP_(silu, v_silu)

static void AKK_FN(activation)(float *x, size_t n, ak_act act)
{
    switch (act) {
    case AK_ACT_GELU: AKK_FN(gelu)(x, n); break;
    case AK_ACT_GELU_TANH: AKK_FN(gelu_tanh)(x, n); break;
    case AK_ACT_RELU: AKK_FN(relu)(x, n); break;
    case AK_ACT_SILU: AKK_FN(silu)(x, n); break;
    }
}

/* y = act(g) * u, vector by vector (a tail goes through a padded vector). */
#define AKK_GATE_(fname, vfn)                                                  \
    static void AKK_FN(fname)(float *y, const float *g, const float *u, size_t n) \
    {                                                                          \
        size_t i = 0;                                                          \
        for (; i + AKK_VL <= n; i += AKK_VL)                                   \
            v_store(y + i, vfn(v_load(g + i)) * v_load(u + i));                \
        if (i < n) {                                                           \
            float t[AKK_VL] = { 0 }, w[AKK_VL] = { 0 };                        \
            memcpy(t, g + i, (n - i) * sizeof *t);                             \
            memcpy(w, u + i, (n - i) * sizeof *w);                             \
            v_store(t, vfn(v_load(t)) * v_load(w));                            \
            memcpy(y + i, t, (n - i) * sizeof *t);                             \
        }                                                                      \
    }
AKK_GATE_(gate_gelu, v_gelu)
AKK_GATE_(gate_gelu_tanh, v_gelu_tanh)
AKK_GATE_(gate_relu, v_relu)
AKK_GATE_(gate_silu, v_silu)

static void AKK_FN(gate)(float *y, const float *g, const float *u, size_t n, ak_act act)
{
    switch (act) {
    case AK_ACT_GELU: AKK_FN(gate_gelu)(y, g, u, n); break;
    case AK_ACT_GELU_TANH: AKK_FN(gate_gelu_tanh)(y, g, u, n); break;
    case AK_ACT_RELU: AKK_FN(gate_relu)(y, g, u, n); break;
    case AK_ACT_SILU: AKK_FN(gate_silu)(y, g, u, n); break;
    }
}

/* Loads the tail [i, n) of x into a vector, other lanes = fill. */
AKK_INLINE akv v_tail(const float *x, size_t i, size_t n, float fill)
{
    float t[AKK_VL];
    for (int q = 0; q < AKK_VL; q++)
        t[q] = i + (size_t)q < n ? x[i + q] : fill;
    return v_load(t);
}

static void AKK_FN(softmax)(float *x, size_t rows, size_t n, size_t ld, float scale)
{
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * ld;
        akv mv = v_set1(-INFINITY);
        size_t i = 0;
        for (; i + AKK_VL <= n; i += AKK_VL)
            mv = v_max(mv, v_load(xr + i));
        if (i < n)
            mv = v_max(mv, v_tail(xr, i, n, -INFINITY));
        akv m = v_set1(v_hmax(mv)), sv = (akv){ 0 };
        for (i = 0; i + AKK_VL <= n; i += AKK_VL) {
            akv e = v_exp2((v_load(xr + i) - m) * scale, (akv){ 0 });
            v_store(xr + i, e);
            sv += e;
        }
        if (i < n) {
            float t[AKK_VL];
            akv e = v_exp2((v_tail(xr, i, n, 0.0f) - m) * scale, (akv){ 0 });
            v_store(t, e);
            for (size_t q = 0; i + q < n; q++) {
                xr[i + q] = t[q];
                sv[q] += t[q];
            }
        }
        float inv = (float)(1.0 / (double)v_hsum(sv));
        for (i = 0; i + AKK_VL <= n; i += AKK_VL)
            v_store(xr + i, v_load(xr + i) * inv);
        for (; i < n; i++)
            xr[i] *= inv;
    }
}

static void AKK_FN(layernorm_row)(float *x, const float *res, size_t n,
                                  const float *g, const float *b, float eps)
{
    size_t nv = n - n % AKK_VL, i;
    if (res) {
        for (i = 0; i < nv; i += AKK_VL)
            v_store(x + i, v_load(x + i) + v_load(res + i));
        for (; i < n; i++)
            x[i] = x[i] + res[i];
    }
    akv s = (akv){ 0 };
    for (i = 0; i < nv; i += AKK_VL)
        s += v_load(x + i);
    double sum = v_hsum(s);
    for (; i < n; i++)
        sum += x[i];
    float mean = (float)(sum / (double)n);
    akv mv = v_set1(mean);
    s = (akv){ 0 };
    for (i = 0; i < nv; i += AKK_VL) {
        akv d = v_load(x + i) - mv;
        s += d * d;
    }
    double var = v_hsum(s);
    for (; i < n; i++)
        var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= (double)n;
    float rstd = (float)(1.0 / sqrt(var + (double)eps));
    for (i = 0; i < nv; i += AKK_VL)
        v_store(x + i, ((v_load(x + i) - mv) * rstd) * v_load(g + i) + v_load(b + i));
    for (; i < n; i++)
        x[i] = ((x[i] - mean) * rstd) * g[i] + b[i];
}

static void AKK_FN(layernorm)(float *x, const float *res, size_t rows, size_t n,
                              size_t ld, const float *g, const float *b, float eps)
{
    for (size_t r = 0; r < rows; r++)
        AKK_FN(layernorm_row)(x + r * ld, res ? res + r * ld : NULL, n, g, b, eps);
}

/* RMSNorm of one row (see ak_rmsnorm): the residual added in float, the
 * sum of squares in vector lanes then double, y = g * (x * rstd). */
static void AKK_FN(rmsnorm_row)(float *y, float *x, const float *res, size_t n,
                                const float *g, float eps)
{
    size_t nv = n - n % AKK_VL, i;
    if (res) {
        for (i = 0; i < nv; i += AKK_VL)
            v_store(x + i, v_load(x + i) + v_load(res + i));
        for (; i < n; i++)
            x[i] = x[i] + res[i];
    }
    akv s = (akv){ 0 };
    for (i = 0; i < nv; i += AKK_VL) {
        akv v = v_load(x + i);
        s += v * v;
    }
    double ss = v_hsum(s);
    for (; i < n; i++)
        ss += (double)x[i] * x[i];
    float rstd = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    if (g) {
        for (i = 0; i < nv; i += AKK_VL)
            v_store(y + i, v_load(g + i) * (v_load(x + i) * rstd));
        for (; i < n; i++)
            y[i] = g[i] * (x[i] * rstd);
    } else {
        for (i = 0; i < nv; i += AKK_VL)
            v_store(y + i, v_load(x + i) * rstd);
        for (; i < n; i++)
            y[i] = x[i] * rstd;
    }
}

static void AKK_FN(rmsnorm)(float *y, float *x, const float *res, size_t rows, size_t n,
                            size_t ld, const float *g, float eps)
{
    for (size_t r = 0; r < rows; r++)
        AKK_FN(rmsnorm_row)(y + r * ld, x + r * ld, res ? res + r * ld : NULL, n, g, eps);
}

/* Contract: see ak_ops in kernels.h. */
const ak_ops AKK_FN(ak_ops) = {
    .gemm_p = AKK_FN(ak_gemm_p),
    .act = AKK_FN(activation),
    .softmax = AKK_FN(softmax),
    .layernorm = AKK_FN(layernorm),
    .nr = (size_t)AKK_VL * AKK_NV,
    .mr = AKK_MR,
    .rmsnorm = AKK_FN(rmsnorm),
    .gate = AKK_FN(gate),
    .fma_peak = AKK_FN(fma_peak),
    .fma_lanes = AKK_VL,
};

#undef AKK_DEF_
#undef AKK_ROW_
#undef AKK_TROW_
#undef AKK_MAP_
#undef AKK_GATE_
