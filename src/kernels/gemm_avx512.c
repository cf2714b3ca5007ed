/*
 * gemm_avx512.c - AVX-512F instantiation of the GEMM template (gemm_tmpl.h).
 * This file alone is compiled with -mavx512f -mfma (see CMakeLists.txt); its
 * code runs only after cpu.c has checked the CPU and the OS (ZMM state in
 * XCR0) support AVX-512F.  Block 4 x 4: 16 accumulators of 32 zmm registers.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define AKG_NAME ak_gemm_nt_avx512
#define AKG_V __m512
#define AKG_VL 16
#define AKG_MR 4
#define AKG_NR 4
#define AKG_ZERO() _mm512_setzero_ps()
#define AKG_LOAD(p) _mm512_loadu_ps(p)
#define AKG_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define AKG_HSUM(v) _mm512_reduce_add_ps(v)
#include "kernels/gemm_tmpl.h"

/* packed micro-kernel 6 x 64: 24 accumulators + 4 W vectors + 1 broadcast */
#define AKK_SUFFIX avx512
#define AKK_VL 16
#define AKK_MR 6
#define AKK_NV 4
#include "kernels/kern_tmpl.h"
#endif
