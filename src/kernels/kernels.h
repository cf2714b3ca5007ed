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
#include "common/cpu.h"

/* Y[m x n] = X[m x k] * W^T + b, W being [n x k] row-major as PyTorch stores
 * nn.Linear weights.  bias may be NULL (no bias).  Y must not alias X or W.
 * Any of m, n, k may be 0 (k == 0 gives Y = b, or 0). */
typedef void (*ak_gemm_nt_fn)(size_t m, size_t n, size_t k,
                              const float *x, size_t ldx,
                              const float *w, size_t ldw,
                              const float *bias, float *y, size_t ldy);

typedef enum ak_act {
    AK_ACT_GELU = 0,    /* x/2 * (1 + erf(x/sqrt 2)), HF "gelu"           */
    AK_ACT_GELU_TANH,   /* tanh approximation, "gelu_new" / "gelu_pytorch_tanh" */
    AK_ACT_RELU,
    AK_ACT_SILU         /* x * sigmoid(x), HF "silu" / "swish" (SwiGLU gates) */
} ak_act;

/* ---- prepacked GEMM ---------------------------------------------------------
 * Weights are packed once (at model load) into panels of AK_PANEL columns:
 * panel p holds, for each k index in order, the AK_PANEL values
 * W[p*AK_PANEL + 0 .. AK_PANEL-1][k] (zero beyond n).  The layout is the same
 * for every kernel path, so a model packed once runs on any path. */
#define AK_PANEL 16

/* Floats of a packed [n x k] matrix: round_up(n, AK_PANEL) * k. */
size_t ak_pack_floats(size_t n, size_t k);

/* Packs W [n x k] row-major (nn.Linear layout, row stride ldw) into wp
 * (ak_pack_floats(n, k) floats; 64-byte alignment is best). */
void ak_pack_nt(size_t n, size_t k, const float *w, size_t ldw, float *wp);

/* Packs B [k x n] row-major (row stride ldb), i.e. the product X * B, into
 * the same panel layout as ak_pack_nt of B^T. */
void ak_pack_kn(size_t k, size_t n, const float *b, size_t ldb, float *wp);

/* Columns [n0, n1) of Y[m x n] = X[m x k] * W^T + bias, W packed by
 * ak_pack_nt (n, k).  n0 is a multiple of AK_PANEL; n1 is clamped to n.
 * bias may be NULL.  Other columns of Y are not touched (several threads may
 * fill disjoint column ranges of one Y at once).  Each element's value does
 * not depend on m, n0, n1 or its position. */
typedef void (*ak_gemm_p_fn)(size_t m, size_t n, size_t k, const float *x,
                             size_t ldx, const float *wp, const float *bias,
                             float *y, size_t ldy, size_t n0, size_t n1);

/* The vectorised operations of one path (instantiated from kern_tmpl.h). */
typedef struct ak_ops {
    ak_gemm_p_fn gemm_p;
    /* in place activation of n contiguous floats */
    void (*act)(float *x, size_t n, ak_act act);
    /* in place softmax(scale * x) of rows rows of n floats (stride ld) */
    void (*softmax)(float *x, size_t rows, size_t n, size_t ld, float scale);
    /* x = LayerNorm(x + res) per row (res may be NULL), as ak_add_layernorm */
    void (*layernorm)(float *x, const float *res, size_t rows, size_t n,
                      size_t ld, const float *g, const float *b, float eps);
    size_t nr, mr;   /* micro-tile: columns, rows */
    /* per row: x = x + res (res may be NULL), then y = g * (x / sqrt(mean(x^2)
     * + eps)), as ak_rmsnorm (y may be x or res; g NULL: a gain of 1) */
    void (*rmsnorm)(float *y, float *x, const float *res, size_t rows, size_t n,
                    size_t ld, const float *g, float eps);
    /* y = act(g) * u over n floats (y may alias g or u): gated MLPs */
    void (*gate)(float *y, const float *g, const float *u, size_t n, ak_act act);
    /* iters steps of 12 independent FMA chains of fma_lanes floats: the
     * path's peak FLOP rate (2 * 12 * fma_lanes FLOPs a step), for
     * benchmarks; returns a value depending on every chain */
    float (*fma_peak)(size_t iters);
    size_t fma_lanes;
} ak_ops;

extern const ak_ops ak_ops_scalar, ak_ops_avx2, ak_ops_avx512, ak_ops_neon;

typedef struct ak_kernels {
    akidb_kernel_path path;   /* never AUTO */
    const char *name;
    ak_gemm_nt_fn gemm_nt;    /* unpacked "dot" GEMM (reference, small uses) */
    const ak_ops *ops;        /* packed GEMM and vectorised operations */
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

/* RMSNorm of pre-norm Transformers (Llama, Qwen, Gemma, ModernBERT...), for
 * each of rows rows of n floats (row stride ld, shared by y, x and res):
 * when res is not NULL, x = x + res first (the residual stream, updated in
 * place); then y = g * (x * rsqrt(mean(x^2) + eps)), the order of Hugging
 * Face's LlamaRMSNorm / Qwen3RMSNorm in float32.  y may be x or res (each
 * row's sum is complete before its y is written).  g NULL: gain
 * 1.  Gemma's (1 + w) gain is the caller's g = 1 + w (float32 as Gemma
 * computes it).  The sum of squares is accumulated in double. */
void ak_rmsnorm(float *y, float *x, const float *res, size_t rows, size_t n, size_t ld,
                const float *g, float eps);

/* In place activation of n contiguous floats. */
void ak_activation(float *x, size_t n, ak_act act);

/* y = act(g) * u elementwise (SwiGLU with AK_ACT_SILU, GeGLU with a GELU). */
void ak_gate(float *y, const float *g, const float *u, size_t n, ak_act act);

/* In place softmax of each of rows rows of n floats (row stride ld), with the
 * row maximum subtracted first.  n >= 1. */
void ak_softmax_rows(float *x, size_t rows, size_t n, size_t ld);

/* Which keys each query of a sequence of s tokens sees: key j is visible to
 * query i iff (!causal || j <= i) && (window == 0 || |i - j| < window).
 * Encoders: bidirectional (NULL or all zero); decoders: causal; sliding
 * window layers (Mistral, Gemma 3, ModernBERT's local layers) add window,
 * in this one convention (ModernBERT's local_attention L is window L/2 + 1). */
typedef struct ak_att_mask {
    int causal;
    size_t window;
} ak_att_mask;

/* Keys [*lo, *hi) that query i of s sees under mask m (NULL: all).  Both
 * bounds are non-decreasing in i, and lo <= i < hi. */
static inline void ak_att_keys(const ak_att_mask *m, size_t s, size_t i, size_t *lo,
                               size_t *hi)
{
    *lo = 0;
    *hi = s;
    if (!m)
        return;
    if (m->causal)
        *hi = i + 1;
    if (m->window) {
        if (i + 1 > m->window)
            *lo = i + 1 - m->window;
        if (!m->causal && i + m->window < s)
            *hi = i + m->window;
    }
}

/* Query rows of one block of the blocked attention (bounds the scores
 * scratch to AK_ATT_ROWS x s floats whatever the length). */
#define AK_ATT_ROWS 128

/* Floats of scratch ak_attention needs for s tokens and head_dim. */
size_t ak_attention_scratch(size_t s, size_t head_dim);

/* One head of attention: ctx = softmax(scale * Q K^T) V for Q, K, V of
 * [s x hd] (row stride ld), ctx row stride ldc, with the given path's ops;
 * scratch holds ak_attention_scratch(s, hd) floats. */
void ak_attention_head(const ak_ops *ops, size_t s, size_t hd, float scale,
                       const float *q, const float *k, const float *v,
                       size_t ld, float *ctx, size_t ldc, float *scratch);

/* Multi-head self-attention of one sequence without mask:
 * for each head h, ctx_h = softmax(Q_h K_h^T * scale) V_h, where Q_h is the
 * [s x head_dim] column slice h*head_dim.. of q (row stride ld), likewise
 * K_h and V_h; ctx has row stride ldc.  scratch holds
 * ak_attention_scratch(s, head_dim) floats.  Uses the active GEMM. */
void ak_attention(size_t s, size_t n_heads, size_t head_dim, float scale,
                  const float *q, const float *k, const float *v, size_t ld,
                  float *ctx, size_t ldc, float *scratch);

/* ---- thread pool (pool.c) ------------------------------------------------ */

typedef struct ak_pool ak_pool;
typedef void (*ak_pool_fn)(void *arg, int tid, int nt);

/* Starts a pool for n_threads threads: n_threads - 1 persistent workers plus
 * the thread that calls ak_pool_run.  NULL on ENOMEM; if some threads cannot
 * be created the pool is smaller (ak_pool_size). */
ak_pool *ak_pool_new(int n_threads);
/* Stops and joins the workers; NULL is fine. */
void ak_pool_free(ak_pool *p);
/* Threads a run can use (1 for NULL). */
int ak_pool_size(const ak_pool *p);
/* Runs fn(arg, tid, nt) on nt = min(n, size) threads (tid 0 is the caller,
 * workers take tids 1 .. nt - 1 in the order they start) and returns when
 * every thread has returned.  p may be NULL (nt = 1).  One
 * run at a time per pool: the caller serialises. */
void ak_pool_run(ak_pool *p, int n, ak_pool_fn fn, void *arg);
/* The same with workers optional: fn runs on the caller (tid 0) and on those
 * of nt - 1 workers that are free to start it before the caller's fn
 * returns; the call returns when they have returned.  For an fn that shares
 * its work through ak_task lists and never calls ak_pool_barrier. */
void ak_pool_run_any(ak_pool *p, int n, ak_pool_fn fn, void *arg);
/* Inside a run: waits until all nt threads of the run have arrived.  No-op
 * for p NULL or nt 1.  A run whose fn calls it waits for every worker. */
void ak_pool_barrier(ak_pool *p, int nt);

/* A shared list of n work items (0 .. n-1) inside a run, zeroed before the
 * run: each thread takes the next item until none is left, then waits until
 * every item is done.  Under ak_pool_run_any a worker that is asleep or
 * preempted when the run starts may never join it and the caller does its
 * share: a busy machine slows the run down by the items a preempted worker
 * holds, not by all of that worker's share as with barriers and a static
 * split.
 *
 *   for (size_t i = ak_task_next(t); i < n; i = ak_task_next(t)) {
 *       work(i);
 *       ak_task_done(t);
 *   }
 *   ak_task_wait(t, n);
 */
typedef struct ak_task {
    _Atomic size_t next;   /* the next item to take */
    _Atomic size_t done;   /* items finished */
} ak_task;
size_t ak_task_next(ak_task *t);
void ak_task_done(ak_task *t);
/* Returns when n items are done (their writes visible to the caller). */
void ak_task_wait(ak_task *t, size_t n);

/* ---- reduced precision: bf16 linear layers (bf16.c) -------------------------
 * Weights packed as bf16 in panels of AK_PANEL columns with k padded to even
 * and interleaved in pairs (see bf16.c); activations rounded to bf16 per call;
 * products summed in fp32. */

/* f to bfloat16, rounded to nearest even (NaN stays NaN). */
uint16_t ak_f32_to_bf16(float f);
/* Elements (uint16_t) of a bf16-packed [n x k] matrix. */
size_t ak_pack_bf16_elems(size_t n, size_t k);
/* Packs W [n x k] (row stride ldw) as bf16 into wp. */
void ak_pack_nt_bf16(size_t n, size_t k, const float *w, size_t ldw, uint16_t *wp);
/* Rows of x [m x k] as bf16 into xb [m x round_up(k, 2)] (pad 0). */
void ak_bf16_rows(size_t m, size_t k, const float *x, size_t ldx, uint16_t *xb);

/* Columns [n0, n1) of Y = bf16(X) * bf16(W)^T + bias, W packed by
 * ak_pack_nt_bf16; contract otherwise as ak_gemm_p_fn.  xb is scratch of
 * m * round_up(k, 2) uint16_t (private to the calling thread). */
typedef void (*ak_gemm_bf16_fn)(size_t m, size_t n, size_t k, const float *x,
                                size_t ldx, const uint16_t *wp,
                                const float *bias, float *y, size_t ldy,
                                size_t n0, size_t n1, uint16_t *xb);
/* Packs B [k x n] (row stride ldb; the product X * B) as bf16 in the layout
 * of ak_pack_nt_bf16 of B^T. */
void ak_pack_kn_bf16(size_t k, size_t n, const float *b, size_t ldb, uint16_t *wp);

/* ak_attention_head with both products in bf16 (scores and softmax stay
 * fp32) through gemm; scratch holds ak_attention_scratch_bf16(s, hd) floats
 * (64-byte aligned). */
size_t ak_attention_scratch_bf16(size_t s, size_t hd);
void ak_attention_head_bf16(const ak_ops *ops, ak_gemm_bf16_fn gemm, size_t s, size_t hd, float scale, const float *q,
                            const float *k, const float *v, size_t ld, float *ctx,
                            size_t ldc, float *scratch);

/* One head of masked attention, in blocks of AK_ATT_ROWS queries: for each
 * block, scores = Q K^T over the keys the block's rows see, a softmax of
 * scale * scores over each row's visible keys (others weigh 0), ctx = P V
 * over those keys only.  gemm NULL: fp32 products with ops->gemm_p (scratch
 * ak_attention_scratch floats); else both products in bf16 through gemm
 * (scratch ak_attention_scratch_bf16 floats).  mask NULL: bidirectional.
 * Q, K, V [s x hd] with row stride ld, ctx row stride ldc.  For GQA the
 * caller passes the K / V columns of the query head's group. */
void ak_attention_masked(const ak_ops *ops, ak_gemm_bf16_fn gemm, const ak_att_mask *mask,
                         size_t s, size_t hd, float scale, const float *q, const float *k,
                         const float *v, size_t ld, float *ctx, size_t ldc, float *scratch);

/* ak_attention_masked with an additive relative position bias (MPNet, T5):
 * the score of key j for query i is scale * (q_i . k_j) + bias[j - i]
 * before the softmax, so bias points at relative position 0 of a table
 * that holds positions -(s - 1) .. s - 1.  bias NULL: ak_attention_masked. */
void ak_attention_biased(const ak_ops *ops, ak_gemm_bf16_fn gemm, const ak_att_mask *mask,
                         const float *bias, size_t s, size_t hd, float scale, const float *q,
                         const float *k, const float *v, size_t ld, float *ctx, size_t ldc,
                         float *scratch);

/* The bf16 GEMM to use with path kt: AVX512_BF16 where kt is the AVX-512
 * path and the CPU has the instructions, else the path's _w16r_ kernel. */
ak_gemm_bf16_fn ak_gemm_bf16_for(const ak_kernels *kt);
void ak_gemm_bf16_avx512(size_t m, size_t n, size_t k, const float *x,
                         size_t ldx, const uint16_t *wp, const float *bias,
                         float *y, size_t ldy, size_t n0, size_t n1,
                         uint16_t *xb);

/* Weight-only bf16: columns [n0, n1) of Y = X * W^T + bias in fp32, W
 * packed by ak_pack_nt_bf16 and widened to fp32 in registers (w16_tmpl.h);
 * equal bit for bit to ops->gemm_p of the same path on ak_pack_nt of the
 * bf16 weights.  ak_gemm_bf16_fn's type; xb is not used (may be NULL). */
ak_gemm_bf16_fn ak_gemm_w16_for(const ak_kernels *kt);
/* The same kernels per ISA; the _w16r_ ones round X to bf16 first (the bf16
 * GEMM where the CPU has no AVX512_BF16). */
void ak_gemm_w16_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                        const uint16_t *wp, const float *bias, float *y, size_t ldy,
                        size_t n0, size_t n1, uint16_t *xb);
void ak_gemm_w16r_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                         const uint16_t *wp, const float *bias, float *y, size_t ldy,
                         size_t n0, size_t n1, uint16_t *xb);
void ak_gemm_w16_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                      const uint16_t *wp, const float *bias, float *y, size_t ldy,
                      size_t n0, size_t n1, uint16_t *xb);
void ak_gemm_w16r_avx2(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const uint16_t *wp, const float *bias, float *y, size_t ldy,
                       size_t n0, size_t n1, uint16_t *xb);
void ak_gemm_w16_portable(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                          const uint16_t *wp, const float *bias, float *y, size_t ldy,
                          size_t n0, size_t n1, uint16_t *xb);
void ak_gemm_w16r_portable(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                           const uint16_t *wp, const float *bias, float *y, size_t ldy,
                           size_t n0, size_t n1, uint16_t *xb);

/* ---- reduced precision: int8 linear layers (int8.c) -------------------------
 * Weights quantised per output column (symmetric s8, scale ws, column sums),
 * packed in panels of AK_PANEL columns with k padded to a multiple of 4 and
 * grouped by 4; activations quantised per row per call (asymmetric u8). */

/* Bytes of an int8-packed [n x k] matrix. */
size_t ak_pack_i8_bytes(size_t n, size_t k);
/* Quantises and packs W [n x k] (row stride ldw) into wp; ws and colsum
 * receive round_up(n, AK_PANEL) entries (1 and 0 beyond n). */
void ak_pack_nt_i8(size_t n, size_t k, const float *w, size_t ldw, int8_t *wp,
                   float *ws, int32_t *colsum);
/* Quantises rows of x [m x k]: xq [m x round_up(k, 4)] (pad = zero point),
 * x ~ xs[i] * (xq - zp[i]). */
void ak_quant_rows_u8(size_t m, size_t k, const float *x, size_t ldx, uint8_t *xq,
                      float *xs, int32_t *zp);
/* Scale s (and 1 / s) and zero point z of the u8 quantisation of a row
 * whose range, widened to include 0, is [mn, mx]: x ~ s * (q - z).  Every
 * path derives them here, so all quantise a row alike. */
static inline void ak_quant_u8_params(float mn, float mx, float *s, float *inv, int32_t *z)
{
    *s = mx > mn ? (mx - mn) / 255.0f : 1.0f;
    *inv = 1.0f / *s;
    int32_t zz = (int32_t)(-mn * *inv + 0.5f);
    *z = zz < 0 ? 0 : zz > 255 ? 255 : zz;
}
/* Bytes of scratch an int8 GEMM of m rows and depth k needs. */
size_t ak_gemm_i8_scratch(size_t m, size_t k);
/* Splits such a scratch block into the quantised rows xq [m x round_up(k,
 * 4)], their scales xs [m] and zero points zp [m]. */
void ak_gemm_i8_scratch_split(void *scratch, size_t m, size_t k, uint8_t **xq, float **xs,
                              int32_t **zp);

/* Columns [n0, n1) of Y = dequant(quant(X) * Wq^T) + bias, W packed by
 * ak_pack_nt_i8; contract otherwise as ak_gemm_p_fn.  scratch holds
 * ak_gemm_i8_scratch(m, k) bytes private to the calling thread, 64-byte
 * aligned. */
typedef void (*ak_gemm_i8_fn)(size_t m, size_t n, size_t k, const float *x,
                              size_t ldx, const int8_t *wp, const float *ws,
                              const int32_t *colsum, const float *bias,
                              float *y, size_t ldy, size_t n0, size_t n1,
                              void *scratch);
/* AVX512_VNNI GEMM where kt is the AVX-512 path and the CPU has VNNI, else
 * the portable one. */
ak_gemm_i8_fn ak_gemm_i8_for(const ak_kernels *kt);
void ak_gemm_i8_avx512(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                       const int8_t *wp, const float *ws, const int32_t *colsum,
                       const float *bias, float *y, size_t ldy, size_t n0,
                       size_t n1, void *scratch);

#endif /* AKIDB_KERNELS_H */
