/*
 * gemm_bf16_avx512.c - the bf16 GEMM on AVX512_BF16 (VDPBF16PS): each
 * instruction multiplies 16 lanes of bf16 pairs and adds both products to
 * fp32 accumulators.  Same blocking as the fp32 micro-kernel (6 rows x 64
 * columns, 24 zmm accumulators); weights in the pair-interleaved panels of
 * bf16.c, activations converted per call with VCVTNE2PS2BF16.  Compiled with
 * -mavx512bf16; runs only after cpu.c has found the instructions.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#define KP_BLOCK 256   /* k pairs per block: 64 KiB of one W panel */
#define NC 256         /* columns per block */

static inline __attribute__((always_inline)) void
tile(const int MR_, const int NV_, size_t kp, const uint16_t *xb, size_t k2,
     const uint16_t *wp, size_t j, size_t pp, const float *bias, float *y,
     size_t ldy, size_t nr, int first)
{
    const uint16_t *bp[4];
    for (int c = 0; c < NV_; c++) {
        size_t col = j + (size_t)c * 16;
        bp[c] = wp + (col / 16) * k2 * 16 + pp * 32;
    }
    const uint16_t *a = xb + 2 * pp;
    __m512 acc[6][4];
    for (int r = 0; r < MR_; r++)
        for (int c = 0; c < NV_; c++)
            acc[r][c] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (size_t p = 0; p < kp; p++) {
        __m512i b[4];
        for (int c = 0; c < NV_; c++)
            b[c] = _mm512_loadu_si512((const void *)(bp[c] + p * 32));
        for (int r = 0; r < MR_; r++) {
            int32_t pair;
            memcpy(&pair, a + (size_t)r * k2 + 2 * p, sizeof pair);
            __m512i av = _mm512_set1_epi32(pair);
            for (int c = 0; c < NV_; c++)
                acc[r][c] = _mm512_dpbf16_ps(acc[r][c], (__m512bh)av, (__m512bh)b[c]);
        }
    }
    for (int r = 0; r < MR_; r++) {
        float *yr = y + (size_t)r * ldy;
        for (int c = 0; c < NV_; c++) {   /* no break: acc stays in registers */
            size_t c0 = (size_t)c * 16;
            __mmask16 mk = c0 >= nr ? 0 : nr - c0 >= 16 ? (__mmask16)0xFFFF
                                                        : (__mmask16)((1u << (nr - c0)) - 1);
            __m512 v = acc[r][c];
            if (!first)
                v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, yr + c0), v);
            else if (bias)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mk, bias + c0));
            _mm512_mask_storeu_ps(yr + c0, mk, v);
        }
    }
}

typedef void (*tilefn)(size_t kp, const uint16_t *xb, size_t k2, const uint16_t *wp,
                       size_t j, size_t pp, const float *bias, float *y, size_t ldy,
                       size_t nr, int first);
#define DEF_(R, C)                                                                     \
    static void t##R##C(size_t kp, const uint16_t *xb, size_t k2, const uint16_t *wp,  \
                        size_t j, size_t pp, const float *bias, float *y, size_t ldy,  \
                        size_t nr, int first)                                          \
    {                                                                                  \
        tile(R, C, kp, xb, k2, wp, j, pp, bias, y, ldy, nr, first);                    \
    }
#define ROW_(R) DEF_(R, 1) DEF_(R, 2) DEF_(R, 3) DEF_(R, 4)
ROW_(1) ROW_(2) ROW_(3) ROW_(4) ROW_(5) ROW_(6)
#define TROW_(R) { t##R##1, t##R##2, t##R##3, t##R##4 }
static const tilefn tiles[6][4] = { TROW_(1), TROW_(2), TROW_(3), TROW_(4), TROW_(5), TROW_(6) };

/* Rows of x as bf16, rounded to nearest even, k padded to even with 0. */
static void to_bf16(size_t m, size_t k, const float *x, size_t ldx, uint16_t *xb)
{
    const size_t k2 = (k + 1) & ~(size_t)1;
    for (size_t i = 0; i < m; i++) {
        const float *xr = x + i * ldx;
        uint16_t *d = xb + i * k2;
        size_t q = 0;
        for (; q + 32 <= k; q += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + q + 16), _mm512_loadu_ps(xr + q));
            _mm512_storeu_si512((void *)(d + q), (__m512i)v);
        }
        for (; q < k; q++)
            d[q] = ak_f32_to_bf16(xr[q]);
        if (k2 > k)
            d[k] = 0;
    }
}

/* Contract: see ak_gemm_bf16_fn in kernels.h. */
void ak_gemm_bf16_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                         const uint16_t *wp, const float *bias, float *y, size_t ldy,
                         size_t n0, size_t n1, uint16_t *xb)
{
    const size_t k2 = (k + 1) & ~(size_t)1, kpairs = k2 / 2;
    if (n1 > n)
        n1 = n;
    if (m == 0 || n0 >= n1)
        return;
    to_bf16(m, k, x, ldx, xb);
    for (size_t pp = 0; pp < kpairs || pp == 0; pp += KP_BLOCK) {
        size_t kp = kpairs - pp < KP_BLOCK ? kpairs - pp : KP_BLOCK;
        int first = pp == 0;
        for (size_t jc = n0; jc < n1; jc += NC) {
            size_t je = jc + NC < n1 ? jc + NC : n1;
            for (size_t i = 0; i < m; i += 6) {
                size_t mr = m - i < 6 ? m - i : 6;
                for (size_t j = jc; j < je; j += 64) {
                    size_t nr = je - j < 64 ? je - j : 64;
                    tiles[mr - 1][(nr + 15) / 16 - 1](kp, xb + i * k2, k2, wp, j, pp,
                                                      bias ? bias + j : NULL, y + i * ldy + j,
                                                      ldy, nr, first);
                }
            }
        }
        if (kpairs == 0)
            break;
    }
}
#endif
