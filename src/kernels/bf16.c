/*
 * bf16.c - the reduced-precision (bfloat16) linear layers: weight packing,
 * activation conversion, a portable GEMM and the choice of the fastest GEMM
 * the CPU has (the AVX512_BF16 one in gemm_bf16_avx512.c).
 *
 * Why bf16: weights and activations rounded to 8 significant bits with fp32
 * accumulation keep BERT embeddings within cosine ~0.9999 of fp32 while the
 * weights take half the memory and AVX512_BF16's VDPBF16PS does two
 * multiply-adds per lane where fp32 FMA does one.  The portable kernel gives
 * the same arithmetic (bf16 products summed in fp32) on any machine: the
 * bf16 weights widened to fp32 in registers (w16_tmpl.h), which on AVX-512
 * and AVX2 runs at about the fp32 GEMM's speed.  Those kernels with fp32
 * activations serve the weight-only mode (ak_gemm_w16_for): bf16 weights
 * in memory, fp32 arithmetic, results equal to the fp32 GEMM's on the same
 * weights.
 *
 * Layout: panels of 16 output columns as in the fp32 packing, with k padded
 * to an even count and taken in pairs: for each pair (2p, 2p+1) the panel
 * holds 16 x {W[j][2p], W[j][2p+1]}, i.e. 32 bf16 = one 512-bit vector, the
 * operand order VDPBF16PS expects.  Activations are converted to bf16 rows
 * (even length, zero padded), so a pair is one 32-bit broadcast.
 */
#include "kernels/kernels.h"

#include <string.h>

uint16_t ak_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);   /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);           /* round to nearest even */
    return (uint16_t)(u >> 16);
}

size_t ak_pack_bf16_elems(size_t n, size_t k)
{
    return (n + AK_PANEL - 1) / AK_PANEL * AK_PANEL * ((k + 1) & ~(size_t)1);
}

/* ak_f32_to_bf16 without the NaN case, for the packing loops (weights and
 * activations are finite). */
static inline uint16_t f2bf(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

void ak_pack_nt_bf16(size_t n, size_t k, const float *w, size_t ldw, uint16_t *wp)
{
    const size_t k2 = (k + 1) & ~(size_t)1, np = (n + AK_PANEL - 1) / AK_PANEL;
    for (size_t p = 0; p < np; p++) {
        uint16_t *dst = wp + p * k2 * AK_PANEL;
        for (size_t c = 0; c < AK_PANEL; c++) {
            size_t j = p * AK_PANEL + c;
            uint16_t *d = dst + c * 2;
            if (j >= n) {
                for (size_t q = 0; q < k2; q++)
                    d[(q / 2) * 2 * AK_PANEL + (q & 1)] = 0;
                continue;
            }
            const float *row = w + j * ldw;
            for (size_t q = 0; q + 1 < k; q += 2) {
                d[(q / 2) * 2 * AK_PANEL] = f2bf(row[q]);
                d[(q / 2) * 2 * AK_PANEL + 1] = f2bf(row[q + 1]);
            }
            if (k & 1) {
                d[(k / 2) * 2 * AK_PANEL] = f2bf(row[k - 1]);
                d[(k / 2) * 2 * AK_PANEL + 1] = 0;
            }
        }
    }
}

void ak_pack_kn_bf16(size_t k, size_t n, const float *b, size_t ldb, uint16_t *wp)
{
    const size_t k2 = (k + 1) & ~(size_t)1, np = (n + AK_PANEL - 1) / AK_PANEL;
    for (size_t p = 0; p < np; p++) {
        uint16_t *dst = wp + p * k2 * AK_PANEL;
        for (size_t q = 0; q < k2; q++) {
            const float *row = b + q * ldb + p * AK_PANEL;
            uint16_t *d = dst + (q / 2) * 2 * AK_PANEL + (q & 1);
            size_t cols = q < k ? (n - p * AK_PANEL < AK_PANEL ? n - p * AK_PANEL : AK_PANEL) : 0;
            for (size_t c = 0; c < cols; c++)
                d[2 * c] = f2bf(row[c]);
            for (size_t c = cols; c < AK_PANEL; c++)
                d[2 * c] = 0;
        }
    }
}

static size_t pad_panel(size_t n)
{
    return (n + AK_PANEL - 1) / AK_PANEL * AK_PANEL;
}

size_t ak_attention_scratch_bf16(size_t s, size_t hd)
{
    /* ak_attention_masked's layout: scores of one block of rows, then K and
     * V packed as bf16, then bf16 rows of Q or P */
    size_t s2 = (s + 1) & ~(size_t)1, h2 = (hd + 1) & ~(size_t)1;
    size_t rows = s < AK_ATT_ROWS ? s : AK_ATT_ROWS;
    size_t halves = pad_panel(s) * h2 + pad_panel(hd) * s2 + rows * (s2 > h2 ? s2 : h2);
    return rows * pad_panel(s) + (halves + 1) / 2 + 32;
}

void ak_attention_head_bf16(const ak_ops *ops, ak_gemm_bf16_fn gemm, size_t s, size_t hd,
                            float scale, const float *q, const float *k, const float *v,
                            size_t ld, float *ctx, size_t ldc, float *scratch)
{
    ak_attention_masked(ops, gemm, NULL, s, hd, scale, q, k, v, ld, ctx, ldc, scratch);
}

void ak_bf16_rows(size_t m, size_t k, const float *x, size_t ldx, uint16_t *xb)
{
    const size_t k2 = (k + 1) & ~(size_t)1;
    for (size_t i = 0; i < m; i++) {
        for (size_t q = 0; q < k; q++)
            xb[i * k2 + q] = ak_f32_to_bf16(x[i * ldx + q]);
        if (k2 > k)
            xb[i * k2 + k] = 0;
    }
}

/* The portable bf16-weight GEMMs (w16_tmpl.h) in generic 4-float vectors:
 * 4 x 8 tiles on x86 (16 SSE registers), 6 x 16 on AArch64 (32 NEON). */
#define AKW_SUFFIX portable
#define AKW_VL 4
#if defined(__aarch64__)
#define AKW_MR 6
#define AKW_NV 4
#else
#define AKW_MR 4
#define AKW_NV 2
#endif
#include "kernels/w16_tmpl.h"

ak_gemm_bf16_fn ak_gemm_bf16_for(const ak_kernels *kt)
{
#if defined(__x86_64__) || defined(_M_X64)
    if (kt->path == AKIDB_KERNELS_AVX512 && ak_cpu_get()->avx512_bf16)
        return ak_gemm_bf16_avx512;
    if (kt->path == AKIDB_KERNELS_AVX512)
        return ak_gemm_w16r_avx512;
    if (kt->path == AKIDB_KERNELS_AVX2)
        return ak_gemm_w16r_avx2;
#endif
    (void)kt;
    return ak_gemm_w16r_portable;
}

ak_gemm_bf16_fn ak_gemm_w16_for(const ak_kernels *kt)
{
#if defined(__x86_64__) || defined(_M_X64)
    if (kt->path == AKIDB_KERNELS_AVX512)
        return ak_gemm_w16_avx512;
    if (kt->path == AKIDB_KERNELS_AVX2)
        return ak_gemm_w16_avx2;
#endif
    (void)kt;
    return ak_gemm_w16_portable;
}
