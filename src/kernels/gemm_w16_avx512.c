/*
 * gemm_w16_avx512.c - AVX-512F instantiation of the bf16-weight GEMM in
 * fp32 (w16_tmpl.h): 6 rows x 64 columns, 24 zmm accumulators; the widened
 * weight pairs take one shift or one AND each.  The path for bf16 weights
 * on AVX-512 CPUs without AVX512_BF16 (and for the weight-only bf16 mode on
 * all of them).  This file alone is compiled with -mavx512f -mfma (see
 * CMakeLists.txt); it runs only after cpu.c has found AVX-512F.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define AKW_SUFFIX avx512
#define AKW_VL 16
#define AKW_MR 6
#define AKW_NV 4
#include "kernels/w16_tmpl.h"
#endif
