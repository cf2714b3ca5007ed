/*
 * pack.c - rearranges weight matrices into the panel layout of the packed
 * GEMM (see kernels.h, AK_PANEL): for each group of 16 output columns, the
 * 16 weights of every k index lie next to each other, so the micro-kernels
 * read W with unit-stride vector loads and no transposition in the hot loop.
 *
 * Why at load time: packing reads W once; the forward pass then reuses the
 * packed copy for every call.  Packing is also used per call for the small
 * K and V blocks of attention.
 */
#include "kernels/kernels.h"

#include <string.h>

size_t ak_pack_floats(size_t n, size_t k)
{
    return (n + AK_PANEL - 1) / AK_PANEL * AK_PANEL * k;
}

void ak_pack_nt(size_t n, size_t k, const float *w, size_t ldw, float *wp)
{
    size_t np = (n + AK_PANEL - 1) / AK_PANEL;
    for (size_t p = 0; p < np; p++) {
        float *dst = wp + p * k * AK_PANEL;
        size_t j0 = p * AK_PANEL, cols = n - j0 < AK_PANEL ? n - j0 : AK_PANEL;
        if (cols < AK_PANEL)
            memset(dst, 0, k * AK_PANEL * sizeof *dst);
        /* blocks of 16 k values keep reads and writes within a few lines */
        for (size_t k0 = 0; k0 < k; k0 += 16) {
            size_t k1 = k0 + 16 < k ? k0 + 16 : k;
            for (size_t c = 0; c < cols; c++) {
                const float *src = w + (j0 + c) * ldw;
                for (size_t q = k0; q < k1; q++)
                    dst[q * AK_PANEL + c] = src[q];
            }
        }
    }
}

void ak_pack_kn(size_t k, size_t n, const float *b, size_t ldb, float *wp)
{
    size_t np = (n + AK_PANEL - 1) / AK_PANEL;
    for (size_t p = 0; p < np; p++) {
        float *dst = wp + p * k * AK_PANEL;
        size_t j0 = p * AK_PANEL, cols = n - j0 < AK_PANEL ? n - j0 : AK_PANEL;
        for (size_t q = 0; q < k; q++) {
            memcpy(dst + q * AK_PANEL, b + q * ldb + j0, cols * sizeof *dst);
            if (cols < AK_PANEL)
                memset(dst + q * AK_PANEL + cols, 0, (AK_PANEL - cols) * sizeof *dst);
        }
    }
}
