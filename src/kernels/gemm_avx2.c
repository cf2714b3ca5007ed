/*
 * gemm_avx2.c - AVX2 + FMA instantiation of the GEMM template (gemm_tmpl.h).
 * This file alone is compiled with -mavx2 -mfma (see CMakeLists.txt); its
 * code runs only after cpu.c has checked the CPU and the OS support AVX.
 * Block 4 x 3: 12 accumulators + 3 W vectors + 1 X vector = 16 ymm registers.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

static inline __attribute__((always_inline)) float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define AKG_NAME ak_gemm_nt_avx2
#define AKG_V __m256
#define AKG_VL 8
#define AKG_MR 4
#define AKG_NR 3
#define AKG_ZERO() _mm256_setzero_ps()
#define AKG_LOAD(p) _mm256_loadu_ps(p)
#define AKG_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define AKG_HSUM(v) hsum256(v)
#include "kernels/gemm_tmpl.h"

/* packed micro-kernel 6 x 16: 12 accumulators + 2 W vectors + 1 broadcast */
#define AKK_SUFFIX avx2
#define AKK_VL 8
#define AKK_MR 6
#define AKK_NV 2
#include "kernels/kern_tmpl.h"
#endif
