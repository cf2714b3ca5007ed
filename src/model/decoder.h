/*
 * decoder.h - the pre-norm RoPE Transformer of the decoder-style embedding
 * families (Qwen3-Embedding now; the Llama / Qwen2 / Mistral layout in
 * general), as encoder.h's ak_enc is for BERT-style encoders: a family
 * gives its config reader, tensor names and hyper-parameters, and the
 * forward pass is shared.
 *
 * Per layer (Hugging Face's Qwen3DecoderLayer / LlamaDecoderLayer, eval):
 *   h = RMSNorm(x); q, k, v = h Wq^T, h Wk^T, h Wv^T (one fused GEMM);
 *   per head q = RMSNorm(q), k = RMSNorm(k) (Qwen3's q_norm / k_norm, when
 *   the spec names them); RoPE on q and k; attention (causal or
 *   bidirectional, grouped-query: n_kv_heads K / V heads serve n_heads
 *   query heads); x = x + ctx Wo^T;
 *   h = RMSNorm(x); x = x + (act(h Wgate^T) * (h Wup^T)) Wdown^T
 * then a final RMSNorm.  Gemma 3 adds an RMSNorm of each sublayer's output
 * before its residual add (post_attention / post_feedforward_layernorm,
 * when the spec names them), (1 + w) gains, a scaled embedding, the
 * attention scale hp.attn_scale, and local layers (hp.local_layers) that
 * see a window (hp.window) and rotate with rope_theta_local.  The
 * embedding table stays in the weights' mapping in its stored dtype (bf16
 * for the released checkpoints) and is read a row per token.  Biases are not implemented (attention_bias false); the
 * family's config reader refuses them.
 */
#ifndef AKIDB_DECODER_H
#define AKIDB_DECODER_H

#include "model/blocks.h"

/* Per-layer tensors, in the order of ak_dec_spec.lw. */
enum {
    AK_DEC_Q, AK_DEC_K, AK_DEC_V, AK_DEC_O, AK_DEC_QNORM, AK_DEC_KNORM,
    AK_DEC_LN1, AK_DEC_LN2, AK_DEC_GATE, AK_DEC_UP, AK_DEC_DOWN,
    AK_DEC_POST_ATTN, AK_DEC_POST_MLP,   /* Gemma's norms of the sublayer outputs */
    AK_DEC_NAMES
};

/* LlamaDecoderLayer's names, which Qwen2 / Qwen3 / Mistral keep (q_norm and
 * k_norm exist in Qwen3 only: a family without them sets those to NULL). */
#define AK_DEC_LLAMA_LAYER                                                        \
    "self_attn.q_proj.weight", "self_attn.k_proj.weight",                         \
    "self_attn.v_proj.weight", "self_attn.o_proj.weight",                         \
    "self_attn.q_norm.weight", "self_attn.k_norm.weight",                         \
    "input_layernorm.weight", "post_attention_layernorm.weight",                  \
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"

typedef struct ak_dec_spec {
    const char *prefix;        /* Hub prefix, also tried ("model." of *ForCausalLM) */
    const char *word;          /* embedding table [vocab x hidden] */
    const char *norm;          /* final RMSNorm */
    const char *layer;         /* prefix of layer i's names, "%zu" for i */
    const char *lw[AK_DEC_NAMES];   /* NULL: the model has no such tensor */
    /* Gemma: every RMSNorm gain is (1 + w), computed in float32 at load;
     * the embedding rows are multiplied by sqrt(hidden) rounded to the
     * table's stored dtype (Gemma3TextScaledWordEmbedding) */
    int gain_plus1, embed_scale;
} ak_dec_spec;

/* The family functions of a decoder model (impl is an ak_dec).  hp gives
 * hidden, n_layers, n_heads, n_kv_heads, head_dim, intermediate, vocab,
 * act (of the gate), ln_eps (RMSNorm's), rope_theta and causal; and, when
 * set, attn_scale, window, rope_theta_local and local_layers. */
akidb_status ak_dec_load(const char *dir, const ak_hparams *hp, int prec,
                         const ak_dec_spec *spec, void **impl, ak_dtype *dtype);
size_t ak_dec_batch_rows(const void *impl);
size_t ak_dec_scratch_bytes(const void *impl, size_t rows, size_t max_len, int nt);
akidb_status ak_dec_forward(const void *impl, const ak_seqs *s, ak_pool *pool, int nt,
                            ak_arena *ar, float **hidden);
void ak_dec_free(void *impl);

#endif /* AKIDB_DECODER_H */
