/*
 * w16_tmpl.h - the GEMM on bf16 weight panels (ak_pack_nt_bf16) computed in
 * fp32: each pair of packed weights is widened to two fp32 vectors in
 * registers (a bf16 value is the top half of an fp32: the even element of a
 * 32-bit pair shifted left by 16, the odd one with the low half cleared) and
 * multiplied into fp32 accumulators with ordinary FMAs.  Written once with
 * GCC vector extensions and instantiated per instruction set
 * (gemm_w16_avx512.c, gemm_w16_avx2.c, and bf16.c for the portable one).
 *
 * Why: weights stay bf16 in memory (half of fp32) on CPUs without
 * AVX512_BF16, at fp32 speed: the bandwidth saved on W pays for the two
 * integer operations per pair.  With fp32 activations the result equals
 * the fp32 packed GEMM (kern_tmpl.h) on the widened weights bit for bit:
 * the same k blocks of KC (512, kern_tmpl.h's AKK_KC), the same FMA chain
 * per output element in k order, the same bias and block sums.  The
 * rounding variant rounds the activations to bf16 first (to nearest even,
 * as ak_f32_to_bf16), the bf16 mode's arithmetic on CPUs without
 * VDPBF16PS.
 *
 * The including file defines, then includes this header once:
 *   AKW_SUFFIX   name suffix (avx512, avx2, portable)
 *   AKW_VL       float lanes of one vector (4, 8 or 16; divides 16)
 *   AKW_MR       rows of X per micro-tile (<= 8)
 *   AKW_NV       vectors of output columns per micro-tile (<= 4)
 * and gets ak_gemm_w16_<suffix> (fp32 activations) and ak_gemm_w16r_<suffix>
 * (activations rounded to bf16), both of type ak_gemm_bf16_fn (xb unused).
 */
#ifndef AKW_SUFFIX
#error "define AKW_SUFFIX, AKW_VL, AKW_MR, AKW_NV before including w16_tmpl.h"
#endif

#include <string.h>

#define AKW_CAT2_(a, b) a##_##b
#define AKW_CAT_(a, b) AKW_CAT2_(a, b)
#define AKW_FN(name) AKW_CAT_(name, AKW_SUFFIX)
#define AKW_INLINE static inline __attribute__((always_inline))
#define AKW_KC 512   /* k per block: kern_tmpl.h's AKK_KC */
#define AKW_NC 256   /* columns per block */

typedef float akw_v __attribute__((vector_size(AKW_VL * 4)));
typedef float akw_vu __attribute__((vector_size(AKW_VL * 4), aligned(4), may_alias));
typedef uint32_t akw_u __attribute__((vector_size(AKW_VL * 4)));
typedef uint32_t akw_uu __attribute__((vector_size(AKW_VL * 4), aligned(2), may_alias));

AKW_INLINE akw_v AKW_FN(w_lo)(const uint16_t *p)   /* even k of AKW_VL pairs */
{
    akw_u u = *(const akw_uu *)p;
    return (akw_v)(u << 16);
}

AKW_INLINE akw_v AKW_FN(w_hi)(const uint16_t *p)   /* odd k of AKW_VL pairs */
{
    akw_u u = *(const akw_uu *)p;
    return (akw_v)(u & 0xFFFF0000u);
}

#if AKW_VL == 16
#define AKW_SPLAT_(a) { a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a }
#elif AKW_VL == 8
#define AKW_SPLAT_(a) { a, a, a, a, a, a, a, a }
#elif AKW_VL == 4
#define AKW_SPLAT_(a) { a, a, a, a }
#else
#error "AKW_VL must be 4, 8 or 16"
#endif
AKW_INLINE akw_v AKW_FN(set1)(float a)
{
    return (akw_v)AKW_SPLAT_(a);
}

/* The micro-tile: rows [0, MR_) of a (row stride AKW_KC, kc values) times
 * NV_ vectors of columns from j, pairs [pp, pp + kc / 2) of the panels. */
AKW_INLINE void AKW_FN(tile)(const int MR_, const int NV_, size_t kc, const float *a,
                             const uint16_t *wp, size_t k2, size_t j, size_t pp,
                             const float *bias, float *y, size_t ldy, size_t nr, int first)
{
    const uint16_t *bp[4];
    for (int c = 0; c < NV_; c++) {
        size_t col = j + (size_t)c * AKW_VL;
        bp[c] = wp + (col / 16) * k2 * 16 + pp * 32 + (col % 16) * 2;
    }
    akw_v acc[8][4];
    for (int r = 0; r < MR_; r++)
        for (int c = 0; c < NV_; c++)
            acc[r][c] = (akw_v){ 0 };
    const size_t kp = kc / 2;
    for (size_t p = 0; p < kp; p++) {
        akw_v b[4];
        for (int c = 0; c < NV_; c++)
            b[c] = AKW_FN(w_lo)(bp[c] + p * 32);
        for (int r = 0; r < MR_; r++) {
            akw_v av = AKW_FN(set1)(a[(size_t)r * AKW_KC + 2 * p]);
            for (int c = 0; c < NV_; c++)
                acc[r][c] += av * b[c];
        }
        for (int c = 0; c < NV_; c++)
            b[c] = AKW_FN(w_hi)(bp[c] + p * 32);
        for (int r = 0; r < MR_; r++) {
            akw_v av = AKW_FN(set1)(a[(size_t)r * AKW_KC + 2 * p + 1]);
            for (int c = 0; c < NV_; c++)
                acc[r][c] += av * b[c];
        }
    }
    if (kc & 1) {   /* odd k: the last pair's even half only */
        for (int r = 0; r < MR_; r++) {
            akw_v av = AKW_FN(set1)(a[(size_t)r * AKW_KC + kc - 1]);
            for (int c = 0; c < NV_; c++)
                acc[r][c] += av * AKW_FN(w_lo)(bp[c] + kp * 32);
        }
    }
    if (nr == (size_t)NV_ * AKW_VL) {
        for (int r = 0; r < MR_; r++) {
            float *yr = y + (size_t)r * ldy;
            for (int c = 0; c < NV_; c++) {
                akw_v v = acc[r][c];
                if (!first)
                    v = *(const akw_vu *)(yr + c * AKW_VL) + v;
                else if (bias)
                    v = v + *(const akw_vu *)(bias + c * AKW_VL);
                *(akw_vu *)(yr + c * AKW_VL) = v;
            }
        }
        return;
    }
    for (int r = 0; r < MR_; r++) {   /* partial tile: same sums, one by one */
        float tmp[4 * AKW_VL];
        memset(tmp, 0, sizeof tmp);
        for (int c = 0; c < NV_; c++)
            *(akw_vu *)(tmp + c * AKW_VL) = acc[r][c];
        float *yr = y + (size_t)r * ldy;
        for (size_t q = 0; q < nr; q++) {
            if (!first)
                yr[q] = yr[q] + tmp[q];
            else
                yr[q] = bias ? tmp[q] + bias[q] : tmp[q];
        }
    }
}

typedef void (*AKW_FN(tilefn))(size_t kc, const float *a, const uint16_t *wp, size_t k2,
                               size_t j, size_t pp, const float *bias, float *y, size_t ldy,
                               size_t nr, int first);
#define AKW_DEF_(R, C)                                                                   \
    static void AKW_FN(t##R##C)(size_t kc, const float *a, const uint16_t *wp, size_t k2, \
                                size_t j, size_t pp, const float *bias, float *y,         \
                                size_t ldy, size_t nr, int first)                         \
    {                                                                                    \
        AKW_FN(tile)(R, C, kc, a, wp, k2, j, pp, bias, y, ldy, nr, first);               \
    }
#define AKW_ROW_(R) AKW_DEF_(R, 1) AKW_DEF_(R, 2) AKW_DEF_(R, 3) AKW_DEF_(R, 4)
AKW_ROW_(1) AKW_ROW_(2) AKW_ROW_(3) AKW_ROW_(4)
AKW_ROW_(5) AKW_ROW_(6) AKW_ROW_(7) AKW_ROW_(8)
#define AKW_TROW_(R) { AKW_FN(t##R##1), AKW_FN(t##R##2), AKW_FN(t##R##3), AKW_FN(t##R##4) }
static const AKW_FN(tilefn) AKW_FN(tiles)[8][4] = {
    AKW_TROW_(1), AKW_TROW_(2), AKW_TROW_(3), AKW_TROW_(4),
    AKW_TROW_(5), AKW_TROW_(6), AKW_TROW_(7), AKW_TROW_(8),
};

/* Rows [0, mr) x columns [0, kc) of x into a (row stride AKW_KC), rounded
 * to bf16 values when rnd (NaN stays NaN, as ak_f32_to_bf16). */
AKW_INLINE void AKW_FN(load_a)(size_t mr, size_t kc, const float *x, size_t ldx, float *a,
                               int rnd)
{
    for (size_t r = 0; r < mr; r++) {
        const float *xr = x + r * ldx;
        float *ar = a + r * AKW_KC;
        if (!rnd) {
            memcpy(ar, xr, kc * sizeof *ar);
            continue;
        }
        for (size_t q = 0; q < kc; q++) {
            uint32_t u;
            memcpy(&u, &xr[q], sizeof u);
            if ((u & 0x7FFFFFFFu) > 0x7F800000u)
                u |= 0x00400000u;                   /* quiet NaN */
            else
                u += 0x7FFFu + ((u >> 16) & 1u);    /* to nearest even */
            u &= 0xFFFF0000u;
            memcpy(&ar[q], &u, sizeof u);
        }
    }
}

AKW_INLINE void AKW_FN(gemm)(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                             const uint16_t *wp, const float *bias, float *y, size_t ldy,
                             size_t n0, size_t n1, int rnd)
{
    const size_t NR = (size_t)AKW_VL * AKW_NV, k2 = (k + 1) & ~(size_t)1;
    const size_t NC = (AKW_NC / NR ? AKW_NC / NR : 1) * NR;
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
    float a[AKW_MR * AKW_KC] __attribute__((aligned(64)));
    for (size_t pc = 0; pc < k; pc += AKW_KC) {
        size_t kc = k - pc < AKW_KC ? k - pc : AKW_KC;
        int first = pc == 0;
        for (size_t jc = n0; jc < n1; jc += NC) {
            size_t je = jc + NC < n1 ? jc + NC : n1;
            for (size_t i = 0; i < m; i += AKW_MR) {
                size_t mr = m - i < AKW_MR ? m - i : AKW_MR;
                AKW_FN(load_a)(mr, kc, x + i * ldx + pc, ldx, a, rnd);
                float *yi = y + i * ldy;
                for (size_t j = jc; j < je; j += NR) {
                    size_t nr = je - j < NR ? je - j : NR;
                    size_t nv = (nr + AKW_VL - 1) / AKW_VL;
                    AKW_FN(tiles)[mr - 1][nv - 1](kc, a, wp, k2, j, pc / 2,
                                                  bias ? bias + j : NULL, yi + j, ldy, nr,
                                                  first);
                }
            }
        }
    }
}

/* Contract: see ak_gemm_bf16_fn in kernels.h (xb unused). */
void AKW_FN(ak_gemm_w16)(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                         const uint16_t *wp, const float *bias, float *y, size_t ldy,
                         size_t n0, size_t n1, uint16_t *xb)
{
    (void)xb;
    AKW_FN(gemm)(m, n, k, x, ldx, wp, bias, y, ldy, n0, n1, 0);
}

void AKW_FN(ak_gemm_w16r)(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                          const uint16_t *wp, const float *bias, float *y, size_t ldy,
                          size_t n0, size_t n1, uint16_t *xb)
{
    (void)xb;
    AKW_FN(gemm)(m, n, k, x, ldx, wp, bias, y, ldy, n0, n1, 1);
}

#undef AKW_SPLAT_
#undef AKW_TROW_
#undef AKW_ROW_
#undef AKW_DEF_
#undef AKW_NC
#undef AKW_KC
#undef AKW_INLINE
#undef AKW_FN
#undef AKW_CAT_
#undef AKW_CAT2_
