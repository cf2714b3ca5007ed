/*
 * fam_bert.c - the BERT family (model_type "bert"): Hugging Face BertModel
 * as sentence-transformers runs it.
 *
 * Config: BertConfig's fields (ak_cfg_bertlike); positions 0..S-1, so the
 * longest sequence is max_position_embeddings.  Tensors: BertModel's names,
 * also under the "bert." prefix of BertFor* checkpoints, LayerNorm
 * gamma/beta accepted.  The forward is the shared post-LayerNorm encoder
 * (encoder.c): embeddings (word + token type: 0, or the pair's segment for a
 * cross-encoder) + position, LayerNorm, then per layer self-attention,
 * dense + residual + LayerNorm, GELU MLP + residual + LayerNorm.
 */
#include "model/blocks.h"

static akidb_status bert_config(const ak_cfg *c, ak_hparams *hp)
{
    akidb_status st = ak_cfg_bertlike(c, hp);
    if (st == AKIDB_OK)
        hp->max_tokens = hp->max_positions;
    return st;
}

static const ak_enc_spec bert_spec = {
    .prefix = "bert.",
    .word = "embeddings.word_embeddings.weight",
    .pos = "embeddings.position_embeddings.weight",
    .type = "embeddings.token_type_embeddings.weight",
    .ln_w = "embeddings.LayerNorm.weight",
    .ln_b = "embeddings.LayerNorm.bias",
    .layer = "encoder.layer.%zu.",
    .lw = { AK_ENC_BERT_LAYER },
    .positions = NULL,
};

static akidb_status bert_load(const char *dir, const ak_hparams *hp, int prec, void **impl,
                              ak_dtype *dtype)
{
    return ak_enc_load(dir, hp, prec, &bert_spec, impl, dtype);
}

const ak_family ak_family_bert = {
    .model_type = "bert",
    .archs = "Bert",
    .config = bert_config,
    .load = bert_load,
    .batch_rows = ak_enc_batch_rows,
    .scratch_bytes = ak_enc_scratch_bytes,
    .forward = ak_enc_forward,
    .free = ak_enc_free,
};
