/*
 * gemm_neon.c - AArch64 Advanced SIMD instantiation of the GEMM template
 * (gemm_tmpl.h).  NEON is part of the AArch64 base architecture, so no run
 * time check is needed; on other machines this file compiles to nothing.
 */
#include "kernels/kernels.h"

#ifdef __aarch64__
#include <arm_neon.h>

#define AKG_NAME ak_gemm_nt_neon
#define AKG_V float32x4_t
#define AKG_VL 4
#define AKG_MR 4
#define AKG_NR 4
#define AKG_ZERO() vdupq_n_f32(0.0f)
#define AKG_LOAD(p) vld1q_f32(p)
#define AKG_FMA(a, b, c) vfmaq_f32((c), (a), (b))
#define AKG_HSUM(v) vaddvq_f32(v)
#include "kernels/gemm_tmpl.h"

/* packed micro-kernel 6 x 16: 24 accumulators + 4 W vectors + 1 broadcast */
#define AKK_SUFFIX neon
#define AKK_VL 4
#define AKK_MR 6
#define AKK_NV 4
#include "kernels/kern_tmpl.h"
#endif
