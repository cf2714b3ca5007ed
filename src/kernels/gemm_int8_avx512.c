/*
 * gemm_int8_avx512.c - the int8 GEMM on AVX512_VNNI (VPDPBUSD: 16 lanes x 4
 * u8 * s8 products summed into int32).  Same blocking as the fp32
 * micro-kernel (6 rows x 64 columns, 24 zmm accumulators); weights in the
 * 4-interleaved panels of int8.c, activations quantised per row per call.
 * The int32 sums are exact, so the result does not depend on the blocking.
 * Compiled with -mavx512vnni; runs only after cpu.c has found it.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include <string.h>

#define NC 256

typedef int v16si __attribute__((vector_size(64)));

static inline __attribute__((always_inline)) void
tile(const int MR_, const int NV_, size_t kg, const uint8_t *xq, size_t k4,
     const int8_t *wp, size_t j, const float *xs, const int32_t *zp, const float *ws,
     const int32_t *colsum, const float *bias, float *y, size_t ldy, size_t nr)
{
    const int8_t *bp[4];
    for (int c = 0; c < NV_; c++)
        bp[c] = wp + ((j + (size_t)c * 16) / 16) * k4 * 16;
    v16si acc[6][4];   /* one element type for all accesses keeps GCC's
                          scalar replacement (registers, no spills) working */
    for (int r = 0; r < MR_; r++)
        for (int c = 0; c < NV_; c++)
            acc[r][c] = (v16si){ 0 };
#pragma GCC unroll 2
    for (size_t g = 0; g < kg; g++) {
        __m512i b[4];
        for (int c = 0; c < NV_; c++)
            b[c] = _mm512_loadu_si512((const void *)(bp[c] + g * 64));
        for (int r = 0; r < MR_; r++) {
            int32_t quad;
            memcpy(&quad, xq + (size_t)r * k4 + 4 * g, sizeof quad);
            __m512i av = _mm512_set1_epi32(quad);
            for (int c = 0; c < NV_; c++)
                acc[r][c] = (v16si)_mm512_dpbusd_epi32((__m512i)acc[r][c], av, b[c]);
        }
    }
    /* constant trip counts (no break) keep acc in registers */
    for (int c = 0; c < NV_; c++) {
        size_t c0 = (size_t)c * 16;
        __mmask16 mk = c0 >= nr ? 0 : nr - c0 >= 16 ? (__mmask16)0xFFFF
                                                    : (__mmask16)((1u << (nr - c0)) - 1);
        __m512i cs = _mm512_maskz_loadu_epi32(mk, colsum + c0);
        __m512 wsv = _mm512_maskz_loadu_ps(mk, ws + c0);
        __m512 bv = bias ? _mm512_maskz_loadu_ps(mk, bias + c0) : _mm512_setzero_ps();
        for (int r = 0; r < MR_; r++) {
            __m512i t = _mm512_sub_epi32((__m512i)acc[r][c],
                                         _mm512_mullo_epi32(cs, _mm512_set1_epi32(zp[r])));
            __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(wsv, _mm512_set1_ps(xs[r])), bv);
            _mm512_mask_storeu_ps(y + (size_t)r * ldy + c0, mk, v);
        }
    }
}

typedef void (*tilefn)(size_t kg, const uint8_t *xq, size_t k4, const int8_t *wp, size_t j,
                       const float *xs, const int32_t *zp, const float *ws,
                       const int32_t *colsum, const float *bias, float *y, size_t ldy,
                       size_t nr);
#define DEF_(R, C)                                                                       \
    static void t##R##C(size_t kg, const uint8_t *xq, size_t k4, const int8_t *wp,       \
                        size_t j, const float *xs, const int32_t *zp, const float *ws,   \
                        const int32_t *colsum, const float *bias, float *y, size_t ldy,  \
                        size_t nr)                                                       \
    {                                                                                    \
        tile(R, C, kg, xq, k4, wp, j, xs, zp, ws, colsum, bias, y, ldy, nr);             \
    }
#define ROW_(R) DEF_(R, 1) DEF_(R, 2) DEF_(R, 3) DEF_(R, 4)
ROW_(1) ROW_(2) ROW_(3) ROW_(4) ROW_(5) ROW_(6)
#define TROW_(R) { t##R##1, t##R##2, t##R##3, t##R##4 }
static const tilefn tiles[6][4] = { TROW_(1), TROW_(2), TROW_(3), TROW_(4), TROW_(5), TROW_(6) };

/* ak_quant_rows_u8 with AVX-512 (same arithmetic: scale from the row's
 * range including 0, round half up of x / s + zp, clamp to [0, 255]). */
static void quant_rows(size_t m, size_t k, const float *x, size_t ldx, uint8_t *xq,
                       float *xs, int32_t *zp)
{
    const size_t k4 = (k + 3) & ~(size_t)3;
    for (size_t i = 0; i < m; i++) {
        const float *xr = x + i * ldx;
        __m512 mnv = _mm512_setzero_ps(), mxv = _mm512_setzero_ps();
        size_t q = 0;
        for (; q + 16 <= k; q += 16) {
            __m512 v = _mm512_loadu_ps(xr + q);
            mnv = _mm512_min_ps(mnv, v);
            mxv = _mm512_max_ps(mxv, v);
        }
        float mn = _mm512_reduce_min_ps(mnv), mx = _mm512_reduce_max_ps(mxv);
        for (; q < k; q++) {
            mn = xr[q] < mn ? xr[q] : mn;
            mx = xr[q] > mx ? xr[q] : mx;
        }
        float s, inv;
        int32_t z;
        ak_quant_u8_params(mn, mx, &s, &inv, &z);
        uint8_t *d = xq + i * k4;
        const __m512 invv = _mm512_set1_ps(inv), off = _mm512_set1_ps((float)z + 0.5f);
        const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(255.0f);
        for (q = 0; q + 16 <= k; q += 16) {
            __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(xr + q), invv, off);
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            _mm_storeu_si128((__m128i *)(d + q), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(v)));
        }
        for (; q < k; q++) {
            float v = xr[q] * inv + ((float)z + 0.5f);
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            d[q] = (uint8_t)(int32_t)v;
        }
        for (q = k; q < k4; q++)
            d[q] = (uint8_t)z;
        xs[i] = s;
        zp[i] = z;
    }
}

/* Contract: see ak_gemm_i8_fn in kernels.h. */
void ak_gemm_i8_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const int8_t *wp, const float *ws, const int32_t *colsum,
                       const float *bias, float *y, size_t ldy, size_t n0, size_t n1,
                       void *scratch)
{
    const size_t k4 = (k + 3) & ~(size_t)3;
    if (n1 > n)
        n1 = n;
    if (m == 0 || n0 >= n1)
        return;
    uint8_t *xq;
    float *xs;
    int32_t *zp;
    ak_gemm_i8_scratch_split(scratch, m, k, &xq, &xs, &zp);
    quant_rows(m, k, x, ldx, xq, xs, zp);
    for (size_t jc = n0; jc < n1; jc += NC) {
        size_t je = jc + NC < n1 ? jc + NC : n1;
        for (size_t i = 0; i < m; i += 6) {
            size_t mr = m - i < 6 ? m - i : 6;
            for (size_t j = jc; j < je; j += 64) {
                size_t nr = je - j < 64 ? je - j : 64;
                tiles[mr - 1][(nr + 15) / 16 - 1](k4 / 4, xq + i * k4, k4, wp, j, xs + i, zp + i,
                                                  ws + j, colsum + j, bias ? bias + j : NULL,
                                                  y + i * ldy + j, ldy, nr);
            }
        }
    }
}
#endif
