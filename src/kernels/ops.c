/*
 * ops.c - the non-GEMM operations of a Transformer forward pass (layer
 * norm, RMSNorm, activations, gated products, row softmax, masked
 * multi-head attention) as entry points that dispatch to the active path's
 * vectorised versions (kern_tmpl.h).
 *
 * Formulas follow PyTorch's definitions (biased variance in layer norm,
 * erf-form GELU, max-subtracted softmax, Hugging Face's RMSNorm order) so
 * that results stay within float rounding of the reference.  Attention
 * works per head on one sequence at its own length: K_h and V_h are packed
 * into the GEMM panel layout, the scores are never padded to a batch
 * length, and queries go in blocks of AK_ATT_ROWS rows, so the scratch stays
 * AK_ATT_ROWS x s floats and a causal or sliding-window mask skips the keys
 * a block cannot see in both products (bidirectional attention gives the
 * same bits as one unblocked pass: every element is the same FMA chain).
 */
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

void ak_layernorm(float *x, size_t rows, size_t n, size_t ld,
                  const float *gamma, const float *beta, float eps)
{
    AK_ASSERT(n > 0);
    ak_kernels_get()->ops->layernorm(x, NULL, rows, n, ld, gamma, beta, eps);
}

void ak_add_layernorm(float *x, const float *res, size_t rows, size_t n,
                      size_t ld, const float *gamma, const float *beta,
                      float eps)
{
    AK_ASSERT(n > 0);
    ak_kernels_get()->ops->layernorm(x, res, rows, n, ld, gamma, beta, eps);
}

void ak_rmsnorm(float *y, float *x, const float *res, size_t rows, size_t n, size_t ld,
                const float *g, float eps)
{
    AK_ASSERT(n > 0);
    ak_kernels_get()->ops->rmsnorm(y, x, res, rows, n, ld, g, eps);
}

void ak_activation(float *x, size_t n, ak_act act)
{
    ak_kernels_get()->ops->act(x, n, act);
}

void ak_gate(float *y, const float *g, const float *u, size_t n, ak_act act)
{
    ak_kernels_get()->ops->gate(y, g, u, n, act);
}

void ak_softmax_rows(float *x, size_t rows, size_t n, size_t ld)
{
    AK_ASSERT(n > 0);
    ak_kernels_get()->ops->softmax(x, rows, n, ld, 1.0f);
}

static size_t pad_panel(size_t n)
{
    return (n + AK_PANEL - 1) / AK_PANEL * AK_PANEL;
}

static size_t att_rows(size_t s)
{
    return s < AK_ATT_ROWS ? s : AK_ATT_ROWS;
}

size_t ak_attention_scratch(size_t s, size_t head_dim)
{
    return pad_panel(s) * head_dim + s * pad_panel(head_dim) + att_rows(s) * pad_panel(s);
}

/* The scratch of ak_attention_masked split into packed K, packed V (either
 * precision) and the scores of one block of rows. */
typedef struct att_buf {
    float *kp, *vp, *p;
    uint16_t *kh, *vh, *xb;
} att_buf;

static void att_split(int bf16, size_t s, size_t hd, float *scratch, att_buf *b)
{
    const size_t sp = pad_panel(s), s2 = (s + 1) & ~(size_t)1, h2 = (hd + 1) & ~(size_t)1;
    memset(b, 0, sizeof *b);
    b->p = scratch;                                /* [rows x s] scores, stride sp */
    if (!bf16) {
        b->kp = b->p + att_rows(s) * sp;           /* K packed as W [s x hd] */
        b->vp = b->kp + sp * hd;                   /* V rows packed as B [<= s x hd] */
        return;
    }
    b->kh = (uint16_t *)(b->p + att_rows(s) * sp); /* K as bf16 W [s x hd] */
    b->vh = b->kh + sp * h2;                       /* V rows as bf16 B */
    b->xb = b->vh + pad_panel(hd) * s2;            /* rows of Q or P as bf16 */
}

/* Scores of rows [r0, r1) over key columns [c0, c1), then the masked
 * softmax of each row over its visible keys (bias: scale * score +
 * bias[j - i] first); the other columns of [c0, c1) weigh 0. */
static void att_scores(const ak_ops *ops, ak_gemm_bf16_fn gemm, const ak_att_mask *mask,
                       const float *bias, const att_buf *b, size_t s, size_t hd,
                       float scale, const float *q, size_t ld, size_t r0, size_t r1, size_t c0,
                       size_t c1)
{
    const size_t sp = pad_panel(s);
    if (gemm)
        gemm(r1 - r0, s, hd, q + r0 * ld, ld, b->kh, NULL, b->p, sp, c0, c1, b->xb);
    else
        ops->gemm_p(r1 - r0, s, hd, q + r0 * ld, ld, b->kp, NULL, b->p, sp, c0, c1);
    for (size_t i = r0; i < r1; i++) {
        float *row = b->p + (i - r0) * sp;
        size_t lo, hi;
        ak_att_keys(mask, s, i, &lo, &hi);
        for (size_t j = c0; j < lo; j++)
            row[j] = 0.0f;
        if (bias) {   /* scaled scores plus the bias of each relative position */
            for (size_t j = lo; j < hi; j++)
                row[j] = row[j] * scale + bias[(ptrdiff_t)j - (ptrdiff_t)i];
            ops->softmax(row + lo, 1, hi - lo, sp, 1.0f);
        } else {
            ops->softmax(row + lo, 1, hi - lo, sp, scale);
        }
        for (size_t j = hi; j < c1; j++)
            row[j] = 0.0f;
    }
}

void ak_attention_biased(const ak_ops *ops, ak_gemm_bf16_fn gemm, const ak_att_mask *mask,
                         const float *bias, size_t s, size_t hd, float scale, const float *q,
                         const float *k, const float *v, size_t ld, float *ctx, size_t ldc,
                         float *scratch)
{
    if (s == 0)
        return;
    const size_t sp = pad_panel(s), R = att_rows(s);
    att_buf b;
    att_split(gemm != NULL, s, hd, scratch, &b);
    if (gemm)
        ak_pack_nt_bf16(s, hd, k, ld, b.kh);
    else
        ak_pack_nt(s, hd, k, ld, b.kp);
    size_t vc0 = 0, vc1 = 0;   /* rows of V packed now */
    for (size_t r0 = 0; r0 < s; r0 += R) {
        const size_t r1 = r0 + R < s ? r0 + R : s;
        size_t c0, c1, lo, hi;
        ak_att_keys(mask, s, r0, &c0, &hi);
        ak_att_keys(mask, s, r1 - 1, &lo, &c1);
        c0 = c0 / AK_PANEL * AK_PANEL;   /* column ranges start on a panel */
        att_scores(ops, gemm, mask, bias, &b, s, hd, scale, q, ld, r0, r1, c0, c1);
        if (c0 != vc0 || c1 != vc1) {   /* V rows [c0, c1) as the product's B */
            if (gemm)
                ak_pack_kn_bf16(c1 - c0, hd, v + c0 * ld, ld, b.vh);
            else
                ak_pack_kn(c1 - c0, hd, v + c0 * ld, ld, b.vp);
            vc0 = c0;
            vc1 = c1;
        }
        if (gemm)
            gemm(r1 - r0, hd, c1 - c0, b.p + c0, sp, b.vh, NULL, ctx + r0 * ldc, ldc, 0, hd,
                 b.xb);
        else
            ops->gemm_p(r1 - r0, hd, c1 - c0, b.p + c0, sp, b.vp, NULL, ctx + r0 * ldc, ldc,
                        0, hd);
    }
}

void ak_attention_masked(const ak_ops *ops, ak_gemm_bf16_fn gemm, const ak_att_mask *mask,
                         size_t s, size_t hd, float scale, const float *q, const float *k,
                         const float *v, size_t ld, float *ctx, size_t ldc, float *scratch)
{
    ak_attention_biased(ops, gemm, mask, NULL, s, hd, scale, q, k, v, ld, ctx, ldc, scratch);
}

void ak_attention_head(const ak_ops *ops, size_t s, size_t hd, float scale,
                       const float *q, const float *k, const float *v,
                       size_t ld, float *ctx, size_t ldc, float *scratch)
{
    ak_attention_masked(ops, NULL, NULL, s, hd, scale, q, k, v, ld, ctx, ldc, scratch);
}

void ak_attention(size_t s, size_t n_heads, size_t head_dim, float scale,
                  const float *q, const float *k, const float *v, size_t ld,
                  float *ctx, size_t ldc, float *scratch)
{
    const ak_ops *ops = ak_kernels_get()->ops;
    for (size_t h = 0; h < n_heads; h++) {
        size_t off = h * head_dim;
        ak_attention_head(ops, s, head_dim, scale, q + off, k + off, v + off, ld,
                          ctx + off, ldc, scratch);
    }
}
