/*
 * ops.c - the non-GEMM operations of a BERT forward pass: layer norm,
 * activations, row softmax and unmasked multi-head attention.
 *
 * Why portable C for all paths: these are memory-bound and a small share of
 * the run time next to the GEMMs; the compiler's auto-vectorisation is enough
 * for now.  Formulas follow PyTorch's definitions exactly (biased variance in
 * layer norm, erf-form GELU, max-subtracted softmax) so that results stay
 * within float rounding of the reference.
 */
#include "kernels/kernels.h"

#include <math.h>

static void layernorm_row(float *x, size_t n, const float *gamma,
                          const float *beta, float eps)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    double mean = sum / (double)n;
    double var = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - mean;
        var += d * d;
    }
    var /= (double)n;
    double rstd = 1.0 / sqrt(var + (double)eps);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(((double)x[i] - mean) * rstd) * gamma[i] + beta[i];
}

void ak_layernorm(float *x, size_t rows, size_t n, size_t ld,
                  const float *gamma, const float *beta, float eps)
{
    AK_ASSERT(n > 0);
    for (size_t r = 0; r < rows; r++)
        layernorm_row(x + r * ld, n, gamma, beta, eps);
}

void ak_add_layernorm(float *x, const float *res, size_t rows, size_t n,
                      size_t ld, const float *gamma, const float *beta,
                      float eps)
{
    AK_ASSERT(n > 0);
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * ld;
        const float *rr = res + r * ld;
        for (size_t i = 0; i < n; i++)
            xr[i] += rr[i];
        layernorm_row(xr, n, gamma, beta, eps);
    }
}

void ak_activation(float *x, size_t n, ak_act act)
{
    switch (act) {
    case AK_ACT_GELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] * 0.5f * (1.0f + erff(x[i] * (float)M_SQRT1_2));
        break;
    case AK_ACT_GELU_TANH: {
        const float c = 0.7978845608028654f; /* sqrt(2/pi) */
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
        }
        break;
    }
    case AK_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    }
}

void ak_softmax_rows(float *x, size_t rows, size_t n, size_t ld)
{
    AK_ASSERT(n > 0);
    for (size_t r = 0; r < rows; r++) {
        float *xr = x + r * ld;
        float mx = xr[0];
        for (size_t i = 1; i < n; i++)
            mx = xr[i] > mx ? xr[i] : mx;
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
            xr[i] = expf(xr[i] - mx);
            sum += xr[i];
        }
        float inv = (float)(1.0 / sum);
        for (size_t i = 0; i < n; i++)
            xr[i] *= inv;
    }
}

size_t ak_attention_scratch(size_t s, size_t head_dim)
{
    return s * s + head_dim * s;
}

void ak_attention(size_t s, size_t n_heads, size_t head_dim, float scale,
                  const float *q, const float *k, const float *v, size_t ld,
                  float *ctx, size_t ldc, float *scratch)
{
    if (s == 0)
        return;
    const ak_kernels *kt = ak_kernels_get();
    float *p = scratch;              /* [s x s] scores, then probabilities */
    float *vt = scratch + s * s;     /* [head_dim x s] V_h transposed */
    for (size_t h = 0; h < n_heads; h++) {
        size_t off = h * head_dim;
        kt->gemm_nt(s, s, head_dim, q + off, ld, k + off, ld, NULL, p, s);
        for (size_t i = 0; i < s * s; i++)
            p[i] *= scale;
        ak_softmax_rows(p, s, s, s);
        for (size_t t = 0; t < s; t++)
            for (size_t d = 0; d < head_dim; d++)
                vt[d * s + t] = v[t * ld + off + d];
        kt->gemm_nt(s, head_dim, s, p, s, vt, s, NULL, ctx + off, ldc);
    }
}
