/*
 * ops.c - the non-GEMM operations of a BERT forward pass (layer norm,
 * activations, row softmax, unmasked multi-head attention) as entry points
 * that dispatch to the active path's vectorised versions (kern_tmpl.h).
 *
 * Formulas follow PyTorch's definitions (biased variance in layer norm,
 * erf-form GELU, max-subtracted softmax) so that results stay within float
 * rounding of the reference.  Attention works per head on one sequence at
 * its own length: K_h and V_h are packed into the GEMM panel layout, the
 * [s x s] scores are never padded to a batch length.
 */
#include "kernels/kernels.h"

#include <math.h>

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

void ak_activation(float *x, size_t n, ak_act act)
{
    ak_kernels_get()->ops->act(x, n, act);
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

size_t ak_attention_scratch(size_t s, size_t head_dim)
{
    return pad_panel(s) * head_dim + s * pad_panel(head_dim) + s * pad_panel(s);
}

void ak_attention_head(const ak_ops *ops, size_t s, size_t hd, float scale,
                       const float *q, const float *k, const float *v,
                       size_t ld, float *ctx, size_t ldc, float *scratch)
{
    if (s == 0)
        return;
    const size_t sp = pad_panel(s);
    float *kp = scratch;                 /* K_h packed: [s x hd] as W */
    float *vp = kp + sp * hd;            /* V_h packed: [s x hd] as B */
    float *p = vp + s * pad_panel(hd);   /* [s x s] scores, row stride sp */
    ak_pack_nt(s, hd, k, ld, kp);
    ops->gemm_p(s, s, hd, q, ld, kp, NULL, p, sp, 0, s);
    ops->softmax(p, s, s, sp, scale);
    ak_pack_kn(s, hd, v, ld, vp);
    ops->gemm_p(s, hd, s, p, sp, vp, NULL, ctx, ldc, 0, hd);
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
