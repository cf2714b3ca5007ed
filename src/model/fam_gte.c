/*
 * fam_gte.c - Alibaba's GTE v1.5 / mGTE encoders (model_type "new";
 * NewModel, NewForMaskedLM ...: gte-base-en-v1.5, gte-large-en-v1.5,
 * gte-multilingual-base) as sentence-transformers runs them with the
 * Alibaba-NLP/new-impl model code.
 *
 * The shared rotary post-norm encoder (rotenc.c) with GTE's pieces: word
 * embeddings (+ token types when type_vocab_size > 0) then LayerNorm, no
 * position table (position_embedding_type "rope"); RoPE over whole heads
 * with rope_theta, and rope_scaling {"type": "ntk", "factor": f} as
 * NTKScalingRotaryEmbedding computes it (base theta * f, every frequency
 * divided by f^(2/head_dim) again; rope.c); fused qkv_proj and o_proj with
 * biases; attn_ln / mlp_ln after the residuals; up_gate_proj without bias
 * whose first intermediate_size rows are "up" and the rest the gate:
 * act(gate) * up, then down_proj with bias.
 *
 * Config: NewConfig's fields and defaults.  Refused, never approximated:
 * position_embedding_type "absolute", layer_norm_type "rms_norm",
 * pack_qkv false (separate q / k / v tensors), logn_attention_scale true,
 * rope_scaling types other than "ntk", an NTK factor below 1 (the model
 * code then rescales by the padded batch length) and its "mixed_b" variant.
 * Tensors: NewModel's names, also under "new." (NewFor* checkpoints).
 */
#include "model/rotenc.h"

#include "model/rope.h"

#include <string.h>

/* rope_scaling: null, or {"type": "ntk", "factor": f >= 1} without mixed_b. */
static akidb_status gte_rope_scaling(const ak_cfg *c, ak_hparams *hp)
{
    ak_cfg *rs;
    akidb_status st = ak_cfg_object(c, "rope_scaling", &rs);
    if (st != AKIDB_OK || !rs)
        return st;
    const char *path = ak_cfg_path(rs), *type;
    float factor = 0;
    if ((st = ak_cfg_str(rs, "type", NULL, &type)) != AKIDB_OK)
        goto out;
    if (!type) {
        st = ak_fail(AKIDB_EFORMAT, "%s: no \"type\"", path);
        goto out;
    }
    if (strcmp(type, "ntk") != 0) {
        st = ak_fail(AKIDB_EUNSUPPORTED, "%s: type '%.40s' is not supported (only 'ntk')",
                     path, type);
        goto out;
    }
    if ((st = ak_cfg_float(rs, "factor", 0.0, 0.0, 1e6, &factor)) != AKIDB_OK)
        goto out;
    if (!ak_cfg_has(rs, "factor"))
        st = ak_fail(AKIDB_EFORMAT, "%s: no \"factor\"", path);
    else if (factor < 1.0f)
        st = ak_fail(AKIDB_EUNSUPPORTED,
                     "%s: factor %g below 1 is not supported (the NTK scaling then depends "
                     "on the padded batch length)", path, (double)factor);
    else if (ak_cfg_has(rs, "mixed_b"))
        st = ak_fail(AKIDB_EUNSUPPORTED, "%s: mixed_b (mixed NTK scaling) is not supported",
                     path);
    else
        hp->rope_ntk = factor > 1.0f ? factor : 0.0f;
out:
    ak_cfg_close(rs);
    return st;
}

/* The features AkiDB does not implement, refused by name. */
static akidb_status gte_unsupported(const ak_cfg *c)
{
    const char *path = ak_cfg_path(c), *pet, *lnt;
    int pack = 1, logn = 0;
    akidb_status st;
    if ((st = ak_cfg_str(c, "position_embedding_type", "rope", &pet)) ||
        (st = ak_cfg_str(c, "layer_norm_type", "layer_norm", &lnt)) ||
        (st = ak_cfg_bool(c, "pack_qkv", 1, &pack)) ||
        (st = ak_cfg_bool(c, "logn_attention_scale", 0, &logn)))
        return st;
    if (strcmp(pet, "rope") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: position_embedding_type '%.40s' is not supported (only 'rope')",
                       path, pet);
    if (strcmp(lnt, "layer_norm") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: layer_norm_type '%.40s' is not supported (only 'layer_norm')",
                       path, lnt);
    if (!pack)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: pack_qkv false (separate q_proj / k_proj / v_proj) is not "
                       "supported", path);
    if (logn)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: logn_attention_scale true is not supported",
                       path);
    return AKIDB_OK;
}

static akidb_status gte_config(const ak_cfg *c, ak_hparams *hp)
{
    const char *path = ak_cfg_path(c);
    long types = 1;
    akidb_status st;
    if ((st = ak_cfg_size(c, "hidden_size", 768, 1 << 16, &hp->hidden)) ||
        (st = ak_cfg_size(c, "num_hidden_layers", 12, 1024, &hp->n_layers)) ||
        (st = ak_cfg_size(c, "num_attention_heads", 12, 4096, &hp->n_heads)) ||
        (st = ak_cfg_size(c, "intermediate_size", 3072, 1 << 18, &hp->intermediate)) ||
        (st = ak_cfg_size(c, "vocab_size", 30528, (size_t)1 << 24, &hp->vocab)) ||
        (st = ak_cfg_size(c, "max_position_embeddings", 2048, (size_t)1 << 24,
                          &hp->max_positions)) ||
        (st = ak_cfg_int(c, "type_vocab_size", 1, 0, 1 << 16, &types)) ||
        (st = ak_cfg_float(c, "layer_norm_eps", 1e-12, 0.0, 1.0, &hp->ln_eps)) ||
        (st = ak_cfg_float(c, "rope_theta", 10000.0, 1.0, 1e12, &hp->rope_theta)) ||
        (st = ak_cfg_act(c, "hidden_act", "gelu", &hp->act)) ||
        (st = ak_cfg_heads_divide(c, "hidden_size", hp->hidden, "num_attention_heads",
                                  hp->n_heads)) ||
        (st = gte_unsupported(c)) || (st = gte_rope_scaling(c, hp)))
        return st;
    size_t hd = hp->hidden / hp->n_heads;
    if (hd % 2 != 0 || hd > AK_ROPE_MAX_DIM)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: head width %zu (hidden_size / num_attention_heads) is odd or above "
                       "%d (RoPE rotates pairs)", path, hd, AK_ROPE_MAX_DIM);
    hp->type_vocab = (size_t)types;
    hp->attn_bias = 1;      /* qkv_proj, o_proj */
    hp->mlp_up_bias = 0;    /* up_gate_proj */
    hp->mlp_down_bias = 1;  /* down_proj */
    hp->max_tokens = hp->max_positions;
    return AKIDB_OK;
}

static const ak_renc_spec gte_spec = {
    .prefix = "new.",
    .word = "embeddings.word_embeddings.weight",
    .type = "embeddings.token_type_embeddings.weight",
    .ln_w = "embeddings.LayerNorm.weight",
    .ln_b = "embeddings.LayerNorm.bias",
    .layer = "encoder.layer.%zu.",
    .lw = {
        [AK_RENC_QKV] = "attention.qkv_proj.weight",
        [AK_RENC_QKV_B] = "attention.qkv_proj.bias",
        [AK_RENC_O] = "attention.o_proj.weight",
        [AK_RENC_O_B] = "attention.o_proj.bias",
        [AK_RENC_LN1_W] = "attn_ln.weight",
        [AK_RENC_LN1_B] = "attn_ln.bias",
        [AK_RENC_UP] = "mlp.up_gate_proj.weight",
        [AK_RENC_DOWN] = "mlp.down_proj.weight",
        [AK_RENC_DOWN_B] = "mlp.down_proj.bias",
        [AK_RENC_LN2_W] = "mlp_ln.weight",
        [AK_RENC_LN2_B] = "mlp_ln.bias",
    },
    .up_gate = 1,
};

static akidb_status gte_load(const char *dir, const ak_hparams *hp, int prec, void **impl,
                             ak_dtype *dtype)
{
    return ak_renc_load(dir, hp, prec, &gte_spec, impl, dtype);
}

const ak_family ak_family_gte = {
    .model_type = "new",
    .archs = "New",
    .config = gte_config,
    .load = gte_load,
    .batch_rows = ak_renc_batch_rows,
    .scratch_bytes = ak_renc_scratch_bytes,
    .forward = ak_renc_forward,
    .free = ak_renc_free,
};
