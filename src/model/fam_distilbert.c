/*
 * fam_distilbert.c - the DistilBERT family (model_type "distilbert"):
 * Hugging Face DistilBertModel as sentence-transformers runs it.
 *
 * The same post-LayerNorm encoder as BERT (encoder.c) under other names:
 * no token-type table (embeddings = word + position, then LayerNorm), and
 * LayerNorm eps fixed at 1e-12 by the model code (the config has no field
 * for it).  Config fields are DistilBertConfig's own: dim, n_layers, n_heads,
 * hidden_dim, activation.  sinusoidal_pos_embds true is refused: the
 * position table is then not a learned one, and nothing here checks that a
 * stored table holds the sinusoids the model code would make.  Tensors:
 * DistilBertModel's names, also under the "distilbert." prefix of
 * DistilBertFor* checkpoints.
 */
#include "model/blocks.h"

static akidb_status distilbert_config(const ak_cfg *c, ak_hparams *hp)
{
    akidb_status st;
    int sinusoidal = 0;
    if ((st = ak_cfg_size(c, "dim", 0, 1 << 16, &hp->hidden)) ||
        (st = ak_cfg_size(c, "n_layers", 0, 1024, &hp->n_layers)) ||
        (st = ak_cfg_size(c, "n_heads", 0, 4096, &hp->n_heads)) ||
        (st = ak_cfg_size(c, "hidden_dim", 0, 1 << 18, &hp->intermediate)) ||
        (st = ak_cfg_size(c, "max_position_embeddings", 0, 1 << 20, &hp->max_positions)) ||
        (st = ak_cfg_size(c, "vocab_size", 0, (size_t)1 << 24, &hp->vocab)) ||
        (st = ak_cfg_heads_divide(c, "dim", hp->hidden, "n_heads", hp->n_heads)) ||
        (st = ak_cfg_act(c, "activation", "gelu", &hp->act)) ||
        (st = ak_cfg_bool(c, "sinusoidal_pos_embds", 0, &sinusoidal)))
        return st;
    if (sinusoidal)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: sinusoidal_pos_embds true is not supported (only learned positions)",
                       ak_cfg_path(c));
    hp->type_vocab = 0;
    hp->ln_eps = 1e-12f;   /* nn.LayerNorm(dim, eps=1e-12) in DistilBERT's code */
    hp->max_tokens = hp->max_positions;
    return AKIDB_OK;
}

static const ak_enc_spec distilbert_spec = {
    .prefix = "distilbert.",
    .word = "embeddings.word_embeddings.weight",
    .pos = "embeddings.position_embeddings.weight",
    .type = NULL,
    .ln_w = "embeddings.LayerNorm.weight",
    .ln_b = "embeddings.LayerNorm.bias",
    .layer = "transformer.layer.%zu.",
    .lw = {
        "attention.q_lin.weight", "attention.q_lin.bias",
        "attention.k_lin.weight", "attention.k_lin.bias",
        "attention.v_lin.weight", "attention.v_lin.bias",
        "attention.out_lin.weight", "attention.out_lin.bias",
        "sa_layer_norm.weight", "sa_layer_norm.bias",
        "ffn.lin1.weight", "ffn.lin1.bias",
        "ffn.lin2.weight", "ffn.lin2.bias",
        "output_layer_norm.weight", "output_layer_norm.bias",
    },
    .positions = NULL,
};

static akidb_status distilbert_load(const char *dir, const ak_hparams *hp, int prec,
                                    void **impl, ak_dtype *dtype)
{
    return ak_enc_load(dir, hp, prec, &distilbert_spec, impl, dtype);
}

const ak_family ak_family_distilbert = {
    .model_type = "distilbert",
    .archs = "DistilBert",
    .config = distilbert_config,
    .load = distilbert_load,
    .batch_rows = ak_enc_batch_rows,
    .scratch_bytes = ak_enc_scratch_bytes,
    .forward = ak_enc_forward,
    .free = ak_enc_free,
};
