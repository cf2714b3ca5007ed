/*
 * gemm_w16_avx2.c - AVX2 + FMA instantiation of the bf16-weight GEMM in
 * fp32 (w16_tmpl.h): 6 rows x 16 columns, 12 ymm accumulators, 2 widened
 * weight vectors and a broadcast.  This file alone is compiled with -mavx2
 * -mfma (see CMakeLists.txt); it runs only after cpu.c has found AVX2.
 */
#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define AKW_SUFFIX avx2
#define AKW_VL 8
#define AKW_MR 6
#define AKW_NV 2
#include "kernels/w16_tmpl.h"
#endif
