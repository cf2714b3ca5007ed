/*
 * fam_roberta.c - the RoBERTa family: model_type "roberta", "xlm-roberta"
 * and "camembert" (Hugging Face RobertaModel, XLMRobertaModel and
 * CamembertModel, which are the same code under three names).
 *
 * BERT's modules and tensor names (also under the "roberta." prefix of
 * *For* checkpoints) and the shared post-LayerNorm encoder; what differs is
 * the position ids.  RoBERTa numbers tokens from padding_idx + 1
 * (pad_token_id, 1 in every released checkpoint), and a token equal to the
 * padding id keeps position padding_idx without advancing the count
 * (create_position_ids_from_input_ids).  So a table of
 * max_position_embeddings rows (514, 8194 for bge-m3) holds sequences of
 * max_position_embeddings - padding_idx - 1 tokens (512, 8192).  The
 * token-type table has type_vocab_size rows (1 in released checkpoints);
 * row 0 is added as in BERT.
 */
#include "model/blocks.h"

static akidb_status roberta_config(const ak_cfg *c, ak_hparams *hp)
{
    akidb_status st = ak_cfg_bertlike(c, hp);
    if (st != AKIDB_OK)
        return st;
    long pad = 1;
    if ((st = ak_cfg_int(c, "pad_token_id", 1, 0, (long)hp->vocab - 1, &pad)) != AKIDB_OK)
        return st;
    if ((size_t)pad + 1 >= hp->max_positions)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: max_position_embeddings %zu leaves no position after "
                       "pad_token_id %ld (positions start at pad_token_id + 1)",
                       ak_cfg_path(c), hp->max_positions, pad);
    hp->pad_id = (int32_t)pad;
    hp->max_tokens = hp->max_positions - (size_t)pad - 1;
    return AKIDB_OK;
}

/* create_position_ids_from_input_ids: padding_idx + the running count of
 * non-padding tokens, padding_idx for padding tokens. */
static void roberta_positions(const ak_hparams *hp, const int32_t *ids, size_t n,
                              int32_t *pos)
{
    int32_t p = hp->pad_id;
    for (size_t i = 0; i < n; i++)
        pos[i] = ids[i] == hp->pad_id ? hp->pad_id : ++p;
}

static const ak_enc_spec roberta_spec = {
    .prefix = "roberta.",
    .word = "embeddings.word_embeddings.weight",
    .pos = "embeddings.position_embeddings.weight",
    .type = "embeddings.token_type_embeddings.weight",
    .ln_w = "embeddings.LayerNorm.weight",
    .ln_b = "embeddings.LayerNorm.bias",
    .layer = "encoder.layer.%zu.",
    .lw = { AK_ENC_BERT_LAYER },
    .positions = roberta_positions,
};

static akidb_status roberta_load(const char *dir, const ak_hparams *hp, int prec, void **impl,
                                 ak_dtype *dtype)
{
    return ak_enc_load(dir, hp, prec, &roberta_spec, impl, dtype);
}

const ak_family ak_family_roberta = {
    .model_type = "roberta xlm-roberta camembert",
    .archs = "Roberta XLMRoberta Camembert",
    .config = roberta_config,
    .load = roberta_load,
    .batch_rows = ak_enc_batch_rows,
    .scratch_bytes = ak_enc_scratch_bytes,
    .forward = ak_enc_forward,
    .free = ak_enc_free,
};
