/*
 * kernels.h - private interface of AkiDB's CPU kernels: the linear-layer GEMM
 * in one implementation per instruction set (chosen at run time), and the
 * element-wise and attention operations of a BERT forward pass.
 *
 * Why a dispatch table: one portable binary must run on any x86-64 or AArch64
 * machine and still use AVX2 / AVX-512 / NEON where present.  Each ISA's GEMM
 * lives in its own file compiled with that ISA's flags; only code reached
 * through the table after a CPU check ever executes those instructions.
 *
 * Conventions: all matrices are row-major float32 with an explicit leading
 * dimension (elements between the starts of consecutive rows).
 */
#ifndef AKIDB_KERNELS_H
#define AKIDB_KERNELS_H

#include "common/common.h"

/* Y[m x n] = X[m x k] * W^T + b, W being [n x k] row-major as PyTorch stores
 * nn.Linear weights.  bias may be NULL (no bias).  Y must not alias X or W.
 * Any of m, n, k may be 0 (k == 0 gives Y = b, or 0). */
typedef void (*ak_gemm_nt_fn)(size_t m, size_t n, size_t k,
                              const float *x, size_t ldx,
                              const float *w, size_t ldw,
                              const float *bias, float *y, size_t ldy);

typedef struct ak_kernels {
    akidb_kernel_path path;   /* never AUTO */
    const char *name;
    ak_gemm_nt_fn gemm_nt;
} ak_kernels;

/* The table of the active path (resolved on first use from AKIDB_KERNELS or
 * the CPU).  Never NULL; stays valid for the life of the process. */
const ak_kernels *ak_kernels_get(void);

/* The table of one specific path, or NULL if this build or CPU lacks it.
 * AUTO gives the best available path.  For tests and benchmarks. */
const ak_kernels *ak_kernels_for(akidb_kernel_path path);

/* Best path the CPU and the build support (never AUTO). */
akidb_kernel_path ak_kernels_best(void);

/* GEMM through the active table; same contract as ak_gemm_nt_fn. */
void ak_gemm_nt(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                const float *w, size_t ldw, const float *bias, float *y,
                size_t ldy);

/* Per-ISA GEMM implementations (defined only where built). */
void ak_gemm_nt_scalar(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const float *w, size_t ldw, const float *bias, float *y,
                       size_t ldy);
void ak_gemm_nt_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                     const float *w, size_t ldw, const float *bias, float *y,
                     size_t ldy);
void ak_gemm_nt_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const float *w, size_t ldw, const float *bias, float *y,
                       size_t ldy);
void ak_gemm_nt_neon(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                     const float *w, size_t ldw, const float *bias, float *y,
                     size_t ldy);

/* ---- element-wise operations (portable C, used by every path) ----------- */

/* In place, for each of rows rows of n floats (row stride ld):
 * x = (x - mean) / sqrt(var + eps) * gamma + beta, with the biased variance as
 * torch.nn.LayerNorm computes it.  Statistics are accumulated in double. */
void ak_layernorm(float *x, size_t rows, size_t n, size_t ld,
                  const float *gamma, const float *beta, float eps);

/* Same, on (x + r): x = LayerNorm(x + r).  r has the same layout as x. */
void ak_add_layernorm(float *x, const float *r, size_t rows, size_t n,
                      size_t ld, const float *gamma, const float *beta,
                      float eps);

typedef enum ak_act {
    AK_ACT_GELU = 0,    /* x/2 * (1 + erf(x/sqrt 2)), HF "gelu"           */
    AK_ACT_GELU_TANH,   /* tanh approximation, "gelu_new" / "gelu_pytorch_tanh" */
    AK_ACT_RELU
} ak_act;

/* In place activation of n contiguous floats. */
void ak_activation(float *x, size_t n, ak_act act);

/* In place softmax of each of rows rows of n floats (row stride ld), with the
 * row maximum subtracted first.  n >= 1. */
void ak_softmax_rows(float *x, size_t rows, size_t n, size_t ld);

/* Floats of scratch ak_attention needs for s tokens and head_dim. */
size_t ak_attention_scratch(size_t s, size_t head_dim);

/* Multi-head self-attention of one sequence without mask:
 * for each head h, ctx_h = softmax(Q_h K_h^T * scale) V_h, where Q_h is the
 * [s x head_dim] column slice h*head_dim.. of q (row stride ld), likewise
 * K_h and V_h; ctx has row stride ldc.  scratch holds
 * ak_attention_scratch(s, head_dim) floats.  Uses the active GEMM. */
void ak_attention(size_t s, size_t n_heads, size_t head_dim, float scale,
                  const float *q, const float *k, const float *v, size_t ld,
                  float *ctx, size_t ldc, float *scratch);

#endif /* AKIDB_KERNELS_H */
