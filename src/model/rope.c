/*
 * rope.c - rotary position embeddings (see rope.h).
 *
 * Hugging Face's default RoPE (Qwen3RotaryEmbedding, LlamaRotaryEmbedding):
 *   inv_freq = 1.0 / (base ** (arange(0, dim, 2).float() / dim))   float32
 *   freqs    = inv_freq @ position_ids.float()                      float32
 *   emb      = cat(freqs, freqs); cos = emb.cos(); sin = emb.sin()
 *   q_embed  = q * cos + rotate_half(q) * sin, rotate_half(x) = cat(-x2, x1)
 * Each float32 step is reproduced here: the power and the cos / sin are
 * taken in double and rounded once (PyTorch's are within an ulp of that),
 * the reciprocal and the angle are float32 operations.  Compiled with
 * -ffp-contract=off so that q * cos + r * sin rounds both products as
 * PyTorch's separate kernels do.
 */
#include "model/rope.h"

#include <math.h>

void ak_rope_init(ak_rope *r, size_t dim, double theta)
{
    AK_ASSERT(dim >= 2 && dim % 2 == 0 && dim <= AK_ROPE_MAX_DIM && theta > 0);
    r->dim = dim;
    for (size_t i = 0; i < dim / 2; i++) {
        float e = (float)(2 * i) / (float)dim;
        float p = (float)pow(theta, (double)e);
        r->inv_freq[i] = 1.0f / p;
    }
}

void ak_rope_init_ntk(ak_rope *r, size_t dim, double theta, double factor)
{
    AK_ASSERT(factor > 0);
    ak_rope_init(r, dim, theta * factor);
    float div = (float)pow(factor, 2.0 / (double)dim);
    for (size_t i = 0; i < dim / 2; i++)
        r->inv_freq[i] = r->inv_freq[i] / div;
}

size_t ak_rope_table_floats(const ak_rope *r, size_t n)
{
    return n * r->dim;
}

void ak_rope_table(const ak_rope *r, size_t p0, size_t p1, float *tab)
{
    const size_t h = r->dim / 2;
    for (size_t p = p0; p < p1; p++) {
        float *row = tab + p * r->dim;
        for (size_t i = 0; i < h; i++) {
            float a = (float)p * r->inv_freq[i];
            row[i] = (float)cos((double)a);
            row[h + i] = (float)sin((double)a);
        }
    }
}

void ak_rope_apply(const ak_rope *r, const float *row, float *x)
{
    const size_t h = r->dim / 2;
    const float *c = row, *s = row + h;
    for (size_t i = 0; i < h; i++) {
        float x1 = x[i], x2 = x[h + i];
        float a = x1 * c[i], b = -x2 * s[i];
        float d = x2 * c[i], e = x1 * s[i];
        x[i] = a + b;
        x[h + i] = d + e;
    }
}

void ak_rope_apply_heads(const ak_rope *r, const float *row, float *x, size_t n)
{
    for (size_t h = 0; h < n; h++)
        ak_rope_apply(r, row, x + h * r->dim);
}
