/*
 * int8.c - the int8 linear layers: weight quantisation and packing, the
 * per-row dynamic quantisation of activations, a portable GEMM, and the
 * choice of the AVX512_VNNI GEMM (gemm_int8_avx512.c) where the CPU has it.
 *
 * Why int8: VPDPBUSD multiplies 64 u8 x s8 pairs per instruction, four times
 * the multiply-adds of an fp32 FMA, and the weights take a quarter of the
 * memory.  Quantisation: each weight row (output column j) symmetric,
 * w ~ ws[j] * wq, wq in [-127, 127]; each activation row i asymmetric with
 * 0 exactly representable, x ~ xs[i] * (xq - zp[i]), xq in [0, 255].  Then
 *     y[i][j] = xs[i] * ws[j] * (sum_k xq wq - zp[i] * sum_k wq) + b[j]
 * with the sums exact in int32 and the column sums precomputed at packing.
 *
 * Layout: panels of 16 output columns (as fp32), k padded to a multiple of 4
 * and taken in groups of 4: for each group the panel holds 16 x 4 int8
 * (column-major within the group) = 64 bytes, one 512-bit vector.
 */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

size_t ak_pack_i8_bytes(size_t n, size_t k)
{
    return (n + AK_PANEL - 1) / AK_PANEL * AK_PANEL * ((k + 3) & ~(size_t)3);
}

void ak_pack_nt_i8(size_t n, size_t k, const float *w, size_t ldw, int8_t *wp,
                   float *ws, int32_t *colsum)
{
    const size_t k4 = (k + 3) & ~(size_t)3, np = (n + AK_PANEL - 1) / AK_PANEL;
    for (size_t p = 0; p < np; p++) {
        int8_t *dst = wp + p * k4 * AK_PANEL;
        for (size_t c = 0; c < AK_PANEL; c++) {
            size_t j = p * AK_PANEL + c;
            float amax = 0.0f;
            for (size_t q = 0; j < n && q < k; q++)
                amax = fabsf(w[j * ldw + q]) > amax ? fabsf(w[j * ldw + q]) : amax;
            float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
            int32_t sum = 0;
            for (size_t q = 0; q < k4; q++) {
                long v = j < n && q < k ? lrintf(w[j * ldw + q] * inv) : 0;
                v = v > 127 ? 127 : v < -127 ? -127 : v;
                dst[(q / 4) * 4 * AK_PANEL + c * 4 + (q & 3)] = (int8_t)v;
                sum += (int32_t)v;
            }
            ws[j] = s;
            colsum[j] = sum;
        }
    }
}

void ak_quant_rows_u8(size_t m, size_t k, const float *x, size_t ldx, uint8_t *xq,
                      float *xs, int32_t *zp)
{
    const size_t k4 = (k + 3) & ~(size_t)3;
    for (size_t i = 0; i < m; i++) {
        const float *xr = x + i * ldx;
        float mn = 0.0f, mx = 0.0f;
        for (size_t q = 0; q < k; q++) {
            mn = xr[q] < mn ? xr[q] : mn;
            mx = xr[q] > mx ? xr[q] : mx;
        }
        float s, inv;
        int32_t z;
        ak_quant_u8_params(mn, mx, &s, &inv, &z);
        uint8_t *d = xq + i * k4;
        const float off = (float)z + 0.5f;   /* round half up, then clamp */
        for (size_t q = 0; q < k; q++) {
            float v = xr[q] * inv + off;
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            d[q] = (uint8_t)(int32_t)v;
        }
        for (size_t q = k; q < k4; q++)
            d[q] = (uint8_t)z;   /* times a zero weight: adds nothing */
        xs[i] = s;
        zp[i] = z;
    }
}

/* Portable kernel: one panel of 16 columns x one row at a time. */
static void gemm_i8_portable(size_t m, size_t n, size_t k, const float *x, size_t ldx,
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
    ak_quant_rows_u8(m, k, x, ldx, xq, xs, zp);
    for (size_t i = 0; i < m; i++) {
        const uint8_t *xr = xq + i * k4;
        for (size_t j = n0; j < n1; j += AK_PANEL) {
            const int8_t *pan = wp + (j / AK_PANEL) * k4 * AK_PANEL;
            int32_t acc[AK_PANEL] = { 0 };
            for (size_t g = 0; g < k4 / 4; g++)
                for (size_t c = 0; c < AK_PANEL; c++)
                    for (int e = 0; e < 4; e++)
                        acc[c] += (int32_t)xr[g * 4 + e] * pan[g * 4 * AK_PANEL + c * 4 + e];
            size_t cols = n1 - j < AK_PANEL ? n1 - j : AK_PANEL;
            for (size_t c = 0; c < cols; c++) {
                float v = (float)(acc[c] - zp[i] * colsum[j + c]) * (xs[i] * ws[j + c]);
                y[i * ldy + j + c] = bias ? v + bias[j + c] : v;
            }
        }
    }
}

/* Scratch layout: xq, padded to 64 bytes, then xs, then zp. */
static size_t i8_xq_bytes(size_t m, size_t k)
{
    return (m * ((k + 3) & ~(size_t)3) + 63) & ~(size_t)63;
}

void ak_gemm_i8_scratch_split(void *scratch, size_t m, size_t k, uint8_t **xq, float **xs,
                              int32_t **zp)
{
    *xq = scratch;
    *xs = (float *)(*xq + i8_xq_bytes(m, k));
    *zp = (int32_t *)(*xs + m);
}

size_t ak_gemm_i8_scratch(size_t m, size_t k)
{
    return i8_xq_bytes(m, k) + m * 8 + 64;
}

ak_gemm_i8_fn ak_gemm_i8_for(const ak_kernels *kt)
{
#if defined(__x86_64__) || defined(_M_X64)
    if (kt->path == AKIDB_KERNELS_AVX512 && ak_cpu_get()->avx512_vnni)
        return ak_gemm_i8_avx512;
#endif
    (void)kt;
    return gemm_i8_portable;
}
