/*
 * fam_qwen3.c - the Qwen3 family (model_type "qwen3"; Qwen3Model,
 * Qwen3ForCausalLM): Qwen3-Embedding 0.6B / 4B / 8B as sentence-transformers
 * runs them (last-token pooling, normalisation, query prompts: the pipeline
 * files, not this file).
 *
 * The shared pre-norm decoder (decoder.c) with Qwen3's pieces: causal
 * attention, grouped-query heads (num_key_value_heads), head_dim from the
 * config (128 in every release, unrelated to hidden / heads), per-head
 * RMSNorm of q and k before RoPE, SwiGLU MLP, RMSNorm everywhere.
 *
 * Config: Qwen3Config's fields and defaults (head_dim 128, rope_theta 1e4,
 * rms_norm_eps 1e-6, hidden_act silu, max_position_embeddings 32768);
 * num_key_value_heads is required (Qwen3Config's default of 32 would be a
 * guess).  Refused, never approximated: attention_bias true, a sliding
 * window (use_sliding_window true, or "sliding_attention" in layer_types),
 * rope_scaling of any type but "default" (YaRN, linear, dynamic...).
 * tie_word_embeddings does not matter: an embedding model has no LM head.
 * Tensors: Qwen3Model's names, also under "model." (Qwen3ForCausalLM).
 */
#include "model/decoder.h"

#include "model/rope.h"

#include <string.h>

/* rope_scaling: null, or {"rope_type" (or the older "type"): "default"}. */
static akidb_status check_rope_scaling(const ak_cfg *c)
{
    const char *rt, *ty;
    akidb_status st;
    if ((st = ak_cfg_member_str(c, "rope_scaling", "rope_type", &rt)) ||
        (st = ak_cfg_member_str(c, "rope_scaling", "type", &ty)))
        return st;
    if (!ak_cfg_has(c, "rope_scaling"))
        return AKIDB_OK;
    const char *t = rt ? rt : ty;
    if (!t)
        return ak_fail(AKIDB_EFORMAT, "%s: rope_scaling has no \"rope_type\"", ak_cfg_path(c));
    if (strcmp(t, "default") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: rope_scaling type '%.40s' is not supported (only null / 'default')",
                       ak_cfg_path(c), t);
    return AKIDB_OK;
}

/* The features AkiDB does not implement, refused by name. */
static akidb_status check_unsupported(const ak_cfg *c)
{
    const char *path = ak_cfg_path(c), *act, *lt;
    int bias = 0, sw = 0;
    akidb_status st;
    if ((st = ak_cfg_bool(c, "attention_bias", 0, &bias)) ||
        (st = ak_cfg_bool(c, "use_sliding_window", 0, &sw)) ||
        (st = ak_cfg_str(c, "hidden_act", "silu", &act)) || (st = check_rope_scaling(c)))
        return st;
    if (bias)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: attention_bias true is not supported", path);
    if (sw)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: use_sliding_window true (sliding-window attention) is not "
                       "supported", path);
    for (size_t i = 0; (lt = ak_cfg_str_at(c, "layer_types", i)); i++)
        if (strcmp(lt, "full_attention") != 0)
            return ak_fail(AKIDB_EUNSUPPORTED,
                           "%s: layer_types[%zu] '%.40s' is not supported (only "
                           "'full_attention')", path, i, lt);
    if (strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: hidden_act '%.60s' is not supported (silu)",
                       path, act);
    return AKIDB_OK;
}

static akidb_status qwen3_config(const ak_cfg *c, ak_hparams *hp)
{
    const char *path = ak_cfg_path(c);
    akidb_status st;
    if ((st = ak_cfg_size(c, "hidden_size", 0, 1 << 16, &hp->hidden)) ||
        (st = ak_cfg_size(c, "num_hidden_layers", 0, 1024, &hp->n_layers)) ||
        (st = ak_cfg_size(c, "num_attention_heads", 0, 4096, &hp->n_heads)) ||
        (st = ak_cfg_size(c, "num_key_value_heads", 0, 4096, &hp->n_kv_heads)) ||
        (st = ak_cfg_size(c, "head_dim", 128, AK_ROPE_MAX_DIM, &hp->head_dim)) ||
        (st = ak_cfg_size(c, "intermediate_size", 0, 1 << 18, &hp->intermediate)) ||
        (st = ak_cfg_size(c, "vocab_size", 0, (size_t)1 << 24, &hp->vocab)) ||
        (st = ak_cfg_size(c, "max_position_embeddings", 32768, (size_t)1 << 24,
                          &hp->max_positions)) ||
        (st = ak_cfg_float(c, "rms_norm_eps", 1e-6, 0.0, 1.0, &hp->ln_eps)) ||
        (st = ak_cfg_float(c, "rope_theta", 10000.0, 1.0, 1e12, &hp->rope_theta)) ||
        (st = check_unsupported(c)))
        return st;
    if (hp->n_heads % hp->n_kv_heads != 0)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: num_attention_heads %zu is not a multiple of num_key_value_heads "
                       "%zu", path, hp->n_heads, hp->n_kv_heads);
    if (hp->head_dim % 2 != 0)
        return ak_fail(AKIDB_EFORMAT, "%s: head_dim %zu is odd (RoPE rotates pairs)", path,
                       hp->head_dim);
    hp->act = AK_ACT_SILU;
    hp->causal = 1;
    hp->max_tokens = hp->max_positions;
    return AKIDB_OK;
}

static const ak_dec_spec qwen3_spec = {
    .prefix = "model.",
    .word = "embed_tokens.weight",
    .norm = "norm.weight",
    .layer = "layers.%zu.",
    .lw = { AK_DEC_LLAMA_LAYER },
};

static akidb_status qwen3_load(const char *dir, const ak_hparams *hp, int prec, void **impl,
                               ak_dtype *dtype)
{
    return ak_dec_load(dir, hp, prec, &qwen3_spec, impl, dtype);
}

const ak_family ak_family_qwen3 = {
    .model_type = "qwen3",
    .archs = "Qwen3",
    .config = qwen3_config,
    .load = qwen3_load,
    .batch_rows = ak_dec_batch_rows,
    .scratch_bytes = ak_dec_scratch_bytes,
    .forward = ak_dec_forward,
    .free = ak_dec_free,
};
