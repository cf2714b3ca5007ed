/*
 * rope.h - rotary position embeddings (RoPE) as Hugging Face computes them,
 * shared by every family that rotates queries and keys instead of adding a
 * position table: Qwen3, Gemma 3, ModernBERT, NomicBERT and GTE (each gives
 * its own base, ModernBERT / Gemma 3 one base per layer kind, GTE an NTK
 * scaled one, NomicBERT a rotated fraction of each head).
 *
 * Why a file of its own: the numbers must match PyTorch's float32 recipe to
 * the last bit that matters (inv_freq = 1 / base^(2i/d) in float32, angle =
 * float32(position) * inv_freq rounded to float32, then cos / sin), and one
 * copy per family would drift.  Convention: the "rotate_half" (GPT-NeoX)
 * layout of Llama / Qwen / Gemma, where element i pairs with i + d/2, not
 * the interleaved GPT-J one.
 */
#ifndef AKIDB_ROPE_H
#define AKIDB_ROPE_H

#include "common/common.h"

#define AK_ROPE_MAX_DIM 1024   /* rotated dims of a head, at most */

typedef struct ak_rope {
    size_t dim;                           /* rotated dims (even): head_dim */
    float inv_freq[AK_ROPE_MAX_DIM / 2];  /* 1 / base^(2i / dim), float32 */
} ak_rope;

/* Frequencies of dim rotated dims (even, 2..AK_ROPE_MAX_DIM) with base
 * theta (> 0), the "default" rope_type: no scaling. */
void ak_rope_init(ak_rope *r, size_t dim, double theta);

/* GTE's fixed NTK scaling (rope_scaling {"type": "ntk", "factor": f}, f > 1,
 * NTKScalingRotaryEmbedding without mixed_b): the base becomes theta * f
 * and every frequency is divided by f^(2/dim) again, so
 * inv_freq[i] = 1 / (theta f)^(2i/dim) / f^(2/dim), each step in float32. */
void ak_rope_init_ntk(ak_rope *r, size_t dim, double theta, double factor);

/* Floats of the cos / sin table of n positions. */
size_t ak_rope_table_floats(const ak_rope *r, size_t n);

/* Rows [p0, p1) of the table of positions 0, 1, ...: row p holds
 * cos(p * inv_freq[i]) for i < dim/2, then sin(p * inv_freq[i]). */
void ak_rope_table(const ak_rope *r, size_t p0, size_t p1, float *tab);

/* Rotates x[0..dim) of one head at the position whose table row is row:
 * x = x * cos + rotate_half(x) * sin, in float32 with PyTorch's rounding
 * order (no fused multiply-add; see CMakeLists.txt). */
void ak_rope_apply(const ak_rope *r, const float *row, float *x);

/* ak_rope_apply on n heads of r->dim floats each, stored one after the
 * other from x (the query or key columns of one token row). */
void ak_rope_apply_heads(const ak_rope *r, const float *row, float *x, size_t n);

#endif /* AKIDB_ROPE_H */
