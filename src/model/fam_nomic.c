/*
 * fam_nomic.c - NomicBERT (model_type "nomic_bert"; NomicBertModel,
 * NomicBertForPreTraining ...: nomic-embed-text v1 / v1.5, nomic-bert-2048)
 * as sentence-transformers runs it with the nomic-ai/nomic-bert-2048 model
 * code.
 *
 * The shared rotary post-norm encoder (rotenc.c) with NomicBERT's pieces:
 * word (+ token type) embeddings then emb_ln, no position table; one Wqkv
 * projection, RoPE (rotate_half layout) over the first rotary_emb_fraction
 * of every head with base rotary_emb_base; out_proj; norm1 / norm2 after the
 * residuals (prenorm false); a gated MLP fc11 (up) and fc12 (gate):
 * fc2(fc11(x) * act(fc12(x))), SiLU for "swiglu", GELU for "geglu".  The
 * MLP width is n_inner (else 8 n_embd / 3) rounded up to a multiple of 256,
 * as NomciBertGatedMLP sizes it; the vocabulary is padded up to
 * pad_vocab_size_multiple.
 *
 * Config: NomicBertConfig's fields over GPT2Config's defaults (n_embd,
 * n_layer, n_head, n_inner, n_positions, layer_norm_epsilon, vocab_size,
 * activation_function ...); qkv_proj_bias governs Wqkv and out_proj,
 * mlp_fc1_bias fc11 / fc12, mlp_fc2_bias fc2.  Refused, never
 * approximated: prenorm true, rotary_emb_interleaved true (GPT-J pairs),
 * rotary_emb_fraction 0 (a learned position table), rotary_head_dim true,
 * num_heads_kv unlike n_head, norm_mlp true, mixture-of-experts layers,
 * activations other than swiglu / geglu, and rotary_scaling_factor (dynamic
 * NTK, also NomicBertConfig's default 1.0 when the field is absent) where
 * n_positions exceeds max_trained_positions, past which it would rescale by
 * the padded batch length; below that it changes nothing.
 * Tensors: NomicBertModel's names, also under "bert." (NomicBertFor*).
 */
#include "model/rotenc.h"

#include "model/rope.h"

#include <math.h>
#include <string.h>

/* activation_function: the gated kinds AkiDB implements. */
static akidb_status nomic_act(const ak_cfg *c, ak_hparams *hp)
{
    const char *act;
    akidb_status st = ak_cfg_str(c, "activation_function", "gelu_new", &act);
    if (st != AKIDB_OK)
        return st;
    if (strcmp(act, "swiglu") == 0)
        hp->act = AK_ACT_SILU;
    else if (strcmp(act, "geglu") == 0)
        hp->act = AK_ACT_GELU;
    else
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: activation_function '%.40s' is not supported (swiglu, geglu)",
                       ak_cfg_path(c), act);
    return AKIDB_OK;
}

/* rotary_emb_fraction, rotary_emb_base, and the rotary options refused. */
static akidb_status nomic_rotary(const ak_cfg *c, ak_hparams *hp)
{
    const char *path = ak_cfg_path(c);
    float frac;
    int inter = 0, head_dim_bug = 0;
    akidb_status st;
    if ((st = ak_cfg_float(c, "rotary_emb_fraction", 0.0, 0.0, 1.0 + 1e-9, &frac)) ||
        (st = ak_cfg_float(c, "rotary_emb_base", 1000.0, 1.0, 1e12, &hp->rope_theta)) ||
        (st = ak_cfg_bool(c, "rotary_emb_interleaved", 0, &inter)) ||
        (st = ak_cfg_bool(c, "rotary_head_dim", 0, &head_dim_bug)))
        return st;
    if (frac <= 0.0f)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: rotary_emb_fraction 0 (a learned position table) is not supported",
                       path);
    if (inter)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: rotary_emb_interleaved true is not supported (only rotate_half)",
                       path);
    if (head_dim_bug)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: rotary_head_dim true is not supported", path);
    if (ak_cfg_has(c, "rotary_emb_scale_base"))
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: rotary_emb_scale_base is not supported", path);
    size_t hd = hp->hidden / hp->n_heads;
    double rd = (double)frac * (double)hd;
    hp->rope_dim = (size_t)llround(rd);
    if (fabs(rd - (double)hp->rope_dim) > 1e-6 || hp->rope_dim % 2 != 0 ||
        hp->rope_dim < 2 || hp->rope_dim > AK_ROPE_MAX_DIM)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: rotary_emb_fraction %g of a %zu-wide head is not an even number "
                       "of dims in [2, %d]", path, (double)frac, hd, AK_ROPE_MAX_DIM);
    return AKIDB_OK;
}

/* Fields whose features are not implemented, refused by name. */
static akidb_status nomic_unsupported(const ak_cfg *c, const ak_hparams *hp)
{
    const char *path = ak_cfg_path(c);
    int prenorm = 0, norm_mlp = 0;
    long kv = 0, moe = 0;
    size_t trained;
    akidb_status st;
    if ((st = ak_cfg_bool(c, "prenorm", 0, &prenorm)) ||
        (st = ak_cfg_bool(c, "norm_mlp", 0, &norm_mlp)) ||
        (st = ak_cfg_int(c, "num_heads_kv", (long)hp->n_heads, 1, 4096, &kv)) ||
        (st = ak_cfg_int(c, "moe_every_n_layers", 0, 0, 1 << 20, &moe)) ||
        (st = ak_cfg_size(c, "max_trained_positions", 2048, (size_t)1 << 24, &trained)))
        return st;
    if (prenorm)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: prenorm true is not supported", path);
    if (norm_mlp)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: norm_mlp true is not supported", path);
    if ((size_t)kv != hp->n_heads)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: num_heads_kv %ld unlike n_head %zu is not supported", path, kv,
                       hp->n_heads);
    if (moe > 0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: moe_every_n_layers %ld (mixture-of-experts layers) is not "
                       "supported", path, moe);
    /* rotary_scaling_factor: NomicBertConfig's 1.0 when absent; null or 0:
     * none.  Dynamic NTK leaves the frequencies alone up to
     * max_trained_positions, so it matters only past that. */
    float rsf = 1.0f;
    if (ak_cfg_present(c, "rotary_scaling_factor") &&
        (st = ak_cfg_float(c, "rotary_scaling_factor", 0.0, -1e6, 1e6, &rsf)))
        return st;
    if (rsf != 0.0f && hp->max_positions > trained)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: rotary_scaling_factor %g (dynamic NTK scaling past "
                       "max_trained_positions %zu, up to n_positions %zu) is not supported; "
                       "null turns it off", path, (double)rsf, trained, hp->max_positions);
    return AKIDB_OK;
}

static akidb_status nomic_config(const ak_cfg *c, ak_hparams *hp)
{
    const char *path = ak_cfg_path(c);
    size_t inner = 0, pad = 1;
    long types = 2;
    akidb_status st;
    if ((st = ak_cfg_size(c, "n_embd", 768, 1 << 16, &hp->hidden)) ||
        (st = ak_cfg_size(c, "n_layer", 12, 1024, &hp->n_layers)) ||
        (st = ak_cfg_size(c, "n_head", 12, 4096, &hp->n_heads)) ||
        (st = ak_cfg_heads_divide(c, "n_embd", hp->hidden, "n_head", hp->n_heads)) ||
        (ak_cfg_has(c, "n_inner") && (st = ak_cfg_size(c, "n_inner", 0, 1 << 18, &inner))) ||
        (st = ak_cfg_size(c, "vocab_size", 50257, (size_t)1 << 24, &hp->vocab)) ||
        (st = ak_cfg_size(c, "pad_vocab_size_multiple", 1, 1 << 16, &pad)) ||
        (st = ak_cfg_size(c, "n_positions", 1024, (size_t)1 << 24, &hp->max_positions)) ||
        (st = ak_cfg_int(c, "type_vocab_size", 2, 0, 1 << 16, &types)) ||
        (st = ak_cfg_float(c, "layer_norm_epsilon", 1e-5, 0.0, 1.0, &hp->ln_eps)) ||
        (st = ak_cfg_bool(c, "qkv_proj_bias", 1, &hp->attn_bias)) ||
        (st = ak_cfg_bool(c, "mlp_fc1_bias", 1, &hp->mlp_up_bias)) ||
        (st = ak_cfg_bool(c, "mlp_fc2_bias", 1, &hp->mlp_down_bias)) ||
        (st = nomic_act(c, hp)) || (st = nomic_rotary(c, hp)) ||
        (st = nomic_unsupported(c, hp)))
        return st;
    if (!inner)   /* int(8 * in_features / 3) */
        inner = (size_t)(8.0 * (double)hp->hidden / 3.0);
    hp->intermediate = (inner + 255) / 256 * 256;
    if (hp->vocab % pad)
        hp->vocab += pad - hp->vocab % pad;
    if (hp->vocab > (size_t)1 << 24)
        return ak_fail(AKIDB_EFORMAT, "%s: vocab_size padded to %zu is too large", path,
                       hp->vocab);
    hp->type_vocab = (size_t)types;
    hp->max_tokens = hp->max_positions;
    return AKIDB_OK;
}

static const ak_renc_spec nomic_spec = {
    .prefix = "bert.",
    .word = "embeddings.word_embeddings.weight",
    .type = "embeddings.token_type_embeddings.weight",
    .ln_w = "emb_ln.weight",
    .ln_b = "emb_ln.bias",
    .layer = "encoder.layers.%zu.",
    .lw = {
        [AK_RENC_QKV] = "attn.Wqkv.weight",
        [AK_RENC_QKV_B] = "attn.Wqkv.bias",
        [AK_RENC_O] = "attn.out_proj.weight",
        [AK_RENC_O_B] = "attn.out_proj.bias",
        [AK_RENC_LN1_W] = "norm1.weight",
        [AK_RENC_LN1_B] = "norm1.bias",
        [AK_RENC_UP] = "mlp.fc11.weight",
        [AK_RENC_UP_B] = "mlp.fc11.bias",
        [AK_RENC_GATE] = "mlp.fc12.weight",
        [AK_RENC_GATE_B] = "mlp.fc12.bias",
        [AK_RENC_DOWN] = "mlp.fc2.weight",
        [AK_RENC_DOWN_B] = "mlp.fc2.bias",
        [AK_RENC_LN2_W] = "norm2.weight",
        [AK_RENC_LN2_B] = "norm2.bias",
    },
    .up_gate = 0,
};

static akidb_status nomic_load(const char *dir, const ak_hparams *hp, int prec, void **impl,
                               ak_dtype *dtype)
{
    return ak_renc_load(dir, hp, prec, &nomic_spec, impl, dtype);
}

const ak_family ak_family_nomic = {
    .model_type = "nomic_bert",
    .archs = "NomicBert",
    .config = nomic_config,
    .load = nomic_load,
    .batch_rows = ak_renc_batch_rows,
    .scratch_bytes = ak_renc_scratch_bytes,
    .forward = ak_renc_forward,
    .free = ak_renc_free,
};
