/*
 * fam_gemma3.c - the Gemma 3 text family (model_type "gemma3_text";
 * Gemma3TextModel, Gemma3ForCausalLM): EmbeddingGemma-300m as
 * sentence-transformers runs it (mean pooling, Dense projections and
 * normalisation are the pipeline files' business, not this file's).
 *
 * The shared pre-norm decoder (decoder.c) with Gemma 3's pieces, after
 * Hugging Face's Gemma3TextModel in eval mode:
 *   - the embedding times sqrt(hidden_size), that factor taken in the
 *     embedding's dtype (a bf16 table gets sqrt(768) = 27.75);
 *   - RMSNorm with a (1 + w) gain in float32, four per layer: before and
 *     after attention, before and after the MLP (the "after" ones norm the
 *     sublayer's output before its residual add), per-head q_norm / k_norm,
 *     and a final norm;
 *   - grouped-query attention (num_key_value_heads; head_dim from the
 *     config), scores scaled by query_pre_attn_scalar^-0.5;
 *   - causal attention, or bidirectional when use_bidirectional_attention
 *     (EmbeddingGemma);
 *   - local layers ("sliding_attention" in layer_types, else every layer
 *     but each sliding_window_pattern-th) see a window and rotate with
 *     rope_local_base_freq; global ones see everything and rotate with
 *     rope_theta.  Causal: keys i - sliding_window < j <= i.
 *     Bidirectional: Gemma3TextConfig turns sliding_window into
 *     sliding_window / 2 + 1 (integer division) and the mask keeps
 *     |i - j| < that, so EmbeddingGemma's 512 sees 256 tokens either side;
 *   - a gated MLP, act(gate) * up, with hidden_activation
 *     (gelu_pytorch_tanh).
 *
 * Config: Gemma3TextConfig's defaults where the released models share them
 * (head_dim 256, rms_norm_eps 1e-6, rope_theta 1e6, rope_local_base_freq
 * 1e4, query_pre_attn_scalar 256, sliding_window 4096, vocab_size 262208,
 * max_position_embeddings 131072); the widths, layer and head counts are
 * required.  rope_parameters (the newer spelling: per layer kind
 * {"rope_type": "default", "rope_theta": base}) replaces the two bases.
 * Refused, never approximated: attn_logit_softcapping (tanh-capped scores),
 * attention_bias, rope types other than "default" (Gemma 3 4B's linear
 * scaling), layer kinds other than the two.  final_logit_softcapping only
 * caps the language-model logits, which an embedder never computes.
 * Tensors: Gemma3TextModel's names, also under "model." (Gemma3ForCausalLM).
 */
#include "model/decoder.h"

#include "model/rope.h"

#include <math.h>
#include <string.h>

/* The rope_type (or older "type") of the rope object r must be "default". */
static akidb_status rope_default(const ak_cfg *r)
{
    const char *rt = NULL, *ty = NULL;
    akidb_status st;
    if ((st = ak_cfg_str(r, "rope_type", NULL, &rt)) || (st = ak_cfg_str(r, "type", NULL, &ty)))
        return st;
    const char *t = rt ? rt : ty;
    if (t && strcmp(t, "default") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: rope type '%.40s' is not supported (only 'default')",
                       ak_cfg_path(r), t);
    return AKIDB_OK;
}

/* rope_theta and rope_local_base_freq, or rope_parameters' bases; a
 * rope_scaling or rope_parameters entry of another type is refused. */
static akidb_status read_rope(const ak_cfg *c, ak_hparams *hp)
{
    static const char *kinds[2] = { "full_attention", "sliding_attention" };
    float *theta[2] = { &hp->rope_theta, &hp->rope_theta_local };
    ak_cfg *rs = NULL, *rp = NULL, *k = NULL;
    akidb_status st;
    if ((st = ak_cfg_float(c, "rope_theta", 1e6, 1.0, 1e12, &hp->rope_theta)) ||
        (st = ak_cfg_float(c, "rope_local_base_freq", 1e4, 1.0, 1e12, &hp->rope_theta_local)))
        return st;
    st = ak_cfg_object(c, "rope_scaling", &rs);
    if (st == AKIDB_OK && rs)
        st = rope_default(rs);
    if (st == AKIDB_OK)
        st = ak_cfg_object(c, "rope_parameters", &rp);
    for (int i = 0; i < 2 && st == AKIDB_OK && rp; i++) {
        if ((st = ak_cfg_object(rp, kinds[i], &k)) != AKIDB_OK || !k)
            continue;
        if ((st = rope_default(k)) == AKIDB_OK)
            st = ak_cfg_float(k, "rope_theta", *theta[i], 1.0, 1e12, theta[i]);
        ak_cfg_close(k);
        k = NULL;
    }
    ak_cfg_close(rs);
    ak_cfg_close(rp);
    return st;
}

/* Which layers are local: layer_types when given (one entry per layer),
 * else every layer but each sliding_window_pattern-th, as
 * Gemma3TextConfig derives it (the "_sliding_window_pattern" it writes
 * back is not what it reads). */
static akidb_status read_layer_kinds(const ak_cfg *c, ak_hparams *hp)
{
    const char *path = ak_cfg_path(c), *lt;
    size_t L = hp->n_layers, n = 0, pattern;
    akidb_status st;
    memset(hp->local_layers, 0, sizeof hp->local_layers);
    if (ak_cfg_has(c, "layer_types")) {
        for (; (lt = ak_cfg_str_at(c, "layer_types", n)); n++) {
            if (n >= L)
                break;
            if (strcmp(lt, "sliding_attention") == 0)
                hp->local_layers[n / 64] |= (uint64_t)1 << (n % 64);
            else if (strcmp(lt, "full_attention") != 0)
                return ak_fail(AKIDB_EUNSUPPORTED,
                               "%s: layer_types[%zu] '%.40s' is not supported "
                               "('sliding_attention' or 'full_attention')", path, n, lt);
        }
        if (n != L || ak_cfg_str_at(c, "layer_types", L))
            return ak_fail(AKIDB_EFORMAT,
                           "%s: layer_types must list %zu layer kinds (num_hidden_layers) as "
                           "strings", path, L);
        return AKIDB_OK;
    }
    if ((st = ak_cfg_size(c, "sliding_window_pattern", 6, 1 << 20, &pattern)))
        return st;
    for (size_t l = 0; l < L; l++)
        if ((l + 1) % pattern != 0)
            hp->local_layers[l / 64] |= (uint64_t)1 << (l % 64);
    return AKIDB_OK;
}

/* The features AkiDB does not implement, refused by name. */
static akidb_status check_unsupported(const ak_cfg *c)
{
    const char *path = ak_cfg_path(c);
    int bias = 0;
    akidb_status st;
    if ((st = ak_cfg_bool(c, "attention_bias", 0, &bias)))
        return st;
    if (bias)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: attention_bias true is not supported", path);
    if (ak_cfg_has(c, "attn_logit_softcapping"))
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: attn_logit_softcapping (tanh-capped attention scores) is not "
                       "supported; only null", path);
    return AKIDB_OK;
}

static akidb_status gemma3_config(const ak_cfg *c, ak_hparams *hp)
{
    const char *path = ak_cfg_path(c);
    size_t sw;
    float qpas;
    int bidir = 0;
    akidb_status st;
    if ((st = ak_cfg_size(c, "hidden_size", 0, 1 << 16, &hp->hidden)) ||
        (st = ak_cfg_size(c, "num_hidden_layers", 0, AK_HP_MAX_LISTED, &hp->n_layers)) ||
        (st = ak_cfg_size(c, "num_attention_heads", 0, 4096, &hp->n_heads)) ||
        (st = ak_cfg_size(c, "num_key_value_heads", 0, 4096, &hp->n_kv_heads)) ||
        (st = ak_cfg_size(c, "head_dim", 256, AK_ROPE_MAX_DIM, &hp->head_dim)) ||
        (st = ak_cfg_size(c, "intermediate_size", 0, 1 << 18, &hp->intermediate)) ||
        (st = ak_cfg_size(c, "vocab_size", 262208, (size_t)1 << 24, &hp->vocab)) ||
        (st = ak_cfg_size(c, "max_position_embeddings", 131072, (size_t)1 << 24,
                          &hp->max_positions)) ||
        (st = ak_cfg_float(c, "rms_norm_eps", 1e-6, 0.0, 1.0, &hp->ln_eps)) ||
        (st = ak_cfg_float(c, "query_pre_attn_scalar", 256, 1e-6, 1e9, &qpas)) ||
        (st = ak_cfg_size(c, "sliding_window", 4096, (size_t)1 << 24, &sw)) ||
        (st = ak_cfg_bool(c, "use_bidirectional_attention", 0, &bidir)) ||
        (st = ak_cfg_act(c, "hidden_activation", "gelu_pytorch_tanh", &hp->act)) ||
        (st = check_unsupported(c)) || (st = read_rope(c, hp)) ||
        (st = read_layer_kinds(c, hp)))
        return st;
    if (hp->n_heads % hp->n_kv_heads != 0)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: num_attention_heads %zu is not a multiple of num_key_value_heads "
                       "%zu", path, hp->n_heads, hp->n_kv_heads);
    if (hp->head_dim % 2 != 0)
        return ak_fail(AKIDB_EFORMAT, "%s: head_dim %zu is odd (RoPE rotates pairs)", path,
                       hp->head_dim);
    hp->attn_scale = (float)(1.0 / sqrt((double)qpas));
    hp->causal = !bidir;
    hp->window = bidir ? sw / 2 + 1 : sw;
    hp->max_tokens = hp->max_positions;
    return AKIDB_OK;
}

static const ak_dec_spec gemma3_spec = {
    .prefix = "model.",
    .word = "embed_tokens.weight",
    .norm = "norm.weight",
    .layer = "layers.%zu.",
    .lw = {
        [AK_DEC_Q] = "self_attn.q_proj.weight",
        [AK_DEC_K] = "self_attn.k_proj.weight",
        [AK_DEC_V] = "self_attn.v_proj.weight",
        [AK_DEC_O] = "self_attn.o_proj.weight",
        [AK_DEC_QNORM] = "self_attn.q_norm.weight",
        [AK_DEC_KNORM] = "self_attn.k_norm.weight",
        [AK_DEC_LN1] = "input_layernorm.weight",
        [AK_DEC_LN2] = "pre_feedforward_layernorm.weight",
        [AK_DEC_GATE] = "mlp.gate_proj.weight",
        [AK_DEC_UP] = "mlp.up_proj.weight",
        [AK_DEC_DOWN] = "mlp.down_proj.weight",
        [AK_DEC_POST_ATTN] = "post_attention_layernorm.weight",
        [AK_DEC_POST_MLP] = "post_feedforward_layernorm.weight",
    },
    .gain_plus1 = 1,
    .embed_scale = 1,
};

static akidb_status gemma3_load(const char *dir, const ak_hparams *hp, int prec, void **impl,
                                ak_dtype *dtype)
{
    return ak_dec_load(dir, hp, prec, &gemma3_spec, impl, dtype);
}

const ak_family ak_family_gemma3 = {
    .model_type = "gemma3_text",
    .archs = "Gemma3Text",
    .config = gemma3_config,
    .load = gemma3_load,
    .batch_rows = ak_dec_batch_rows,
    .scratch_bytes = ak_dec_scratch_bytes,
    .forward = ak_dec_forward,
    .free = ak_dec_free,
};
