/*
 * gemm_scalar.c - portable C instantiation of the GEMM template (gemm_tmpl.h).
 * Runs on every machine and is the reference the SIMD paths are tested
 * against besides the double-precision one in the tests.
 */
#include "kernels/kernels.h"

#define AKG_NAME ak_gemm_nt_scalar
#define AKG_V float
#define AKG_VL 1
#define AKG_MR 4
#define AKG_NR 4
#define AKG_ZERO() 0.0f
#define AKG_LOAD(p) (*(p))
#define AKG_FMA(a, b, c) ((a) * (b) + (c))
#define AKG_HSUM(v) (v)
#include "kernels/gemm_tmpl.h"

/* packed micro-kernel 4 x 8 in generic 4-float vectors (GCC vector
 * extensions: plain scalar code where the target has no SIMD) */
#define AKK_SUFFIX scalar
#define AKK_VL 4
#define AKK_MR 4
#define AKK_NV 2
#include "kernels/kern_tmpl.h"
