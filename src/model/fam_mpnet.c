/*
 * fam_mpnet.c - the MPNet family (model_type "mpnet": Hugging Face
 * MPNetModel, MPNetForMaskedLM, ...; all-mpnet-base-v2 and the other
 * sentence-transformers MPNet embedders).
 *
 * MPNet is BERT's post-LayerNorm encoder (encoder.c) with three
 * differences:
 *   - embeddings are word + position, then LayerNorm: no token-type table;
 *     position ids are RoBERTa's (padding_idx + 1 + the running count of
 *     non-padding tokens, a padding token keeping padding_idx), with
 *     padding_idx fixed at 1 by the model code whatever pad_token_id says,
 *     so the 514-row table of the released checkpoints holds 512 tokens;
 *   - the attention projections are attention.attn.q / k / v / o and the
 *     attention's LayerNorm is attention.LayerNorm;
 *   - one relative position bias for all layers,
 *     encoder.relative_attention_bias.weight [relative_attention_num_buckets
 *     x num_attention_heads], is added to every layer's scaled attention
 *     scores: key j of query i reads the row of the T5-style bidirectional
 *     bucket of j - i.  The model code always buckets into 32 (16 per
 *     direction: 8 exact distances, then 8 logarithmic ones up to distance
 *     128) whatever the config says, so a config with fewer than 32 buckets
 *     cannot run and is refused; rows past 32 are never read.  The bucket
 *     positions are 0..n-1, not the padded position ids.
 * Tensors: MPNetModel's names, also under the "mpnet." prefix of MPNetFor*
 * checkpoints.
 */
#include "model/blocks.h"

#include <math.h>

#define MPNET_BUCKETS 32         /* compute_position_bias's num_buckets */
#define MPNET_MAX_DISTANCE 128   /* relative_position_bucket's max_distance */
#define MPNET_PAD 1              /* MPNetEmbeddings' padding_idx */

static akidb_status mpnet_config(const ak_cfg *c, ak_hparams *hp)
{
    akidb_status st = ak_cfg_bertlike(c, hp);
    if (st == AKIDB_OK)
        st = ak_cfg_size(c, "relative_attention_num_buckets", MPNET_BUCKETS, 1 << 16,
                         &hp->rel_buckets);
    if (st != AKIDB_OK)
        return st;
    if (hp->rel_buckets < MPNET_BUCKETS)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: relative_attention_num_buckets %zu is fewer than the %d buckets "
                       "MPNet's attention reads", ak_cfg_path(c), hp->rel_buckets,
                       MPNET_BUCKETS);
    if (hp->max_positions <= MPNET_PAD + 1)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: max_position_embeddings %zu leaves no position after padding_idx "
                       "%d (positions start at padding_idx + 1)", ak_cfg_path(c),
                       hp->max_positions, MPNET_PAD);
    hp->type_vocab = 0;   /* MPNet has no token types */
    hp->pad_id = MPNET_PAD;
    hp->max_tokens = hp->max_positions - MPNET_PAD - 1;
    return AKIDB_OK;
}

/* create_position_ids_from_input_ids with padding_idx 1. */
static void mpnet_positions(const ak_hparams *hp, const int32_t *ids, size_t n, int32_t *pos)
{
    int32_t p = hp->pad_id;
    for (size_t i = 0; i < n; i++)
        pos[i] = ids[i] == hp->pad_id ? hp->pad_id : ++p;
}

/* relative_position_bucket(j - i, 32, 128): keys after the query take the
 * upper 16 buckets; distances under 8 have a bucket each, longer ones 8 +
 * trunc(log(n / 8) / log(16) * 8) up to 15, in float as PyTorch computes
 * it (log(64 / 8) / log(16) * 8 must come out 6, not 5.99...). */
static size_t mpnet_bucket(long rel)
{
    const long half = MPNET_BUCKETS / 2, exact = half / 2;
    size_t b = rel > 0 ? (size_t)half : 0;
    long n = rel < 0 ? -rel : rel;
    if (n < exact)
        return b + (size_t)n;
    const float den = (float)log((double)MPNET_MAX_DISTANCE / (double)exact);
    float v = logf((float)n / (float)exact) / den * (float)(half - exact);
    long large = exact + (long)v;
    return b + (size_t)(large < half - 1 ? large : half - 1);
}

static const ak_enc_spec mpnet_spec = {
    .prefix = "mpnet.",
    .word = "embeddings.word_embeddings.weight",
    .pos = "embeddings.position_embeddings.weight",
    .type = NULL,
    .ln_w = "embeddings.LayerNorm.weight",
    .ln_b = "embeddings.LayerNorm.bias",
    .layer = "encoder.layer.%zu.",
    .lw = {
        "attention.attn.q.weight", "attention.attn.q.bias",
        "attention.attn.k.weight", "attention.attn.k.bias",
        "attention.attn.v.weight", "attention.attn.v.bias",
        "attention.attn.o.weight", "attention.attn.o.bias",
        "attention.LayerNorm.weight", "attention.LayerNorm.bias",
        "intermediate.dense.weight", "intermediate.dense.bias",
        "output.dense.weight", "output.dense.bias",
        "output.LayerNorm.weight", "output.LayerNorm.bias",
    },
    .positions = mpnet_positions,
    .rel_bias = "encoder.relative_attention_bias.weight",
    .rel_bucket = mpnet_bucket,
};

static akidb_status mpnet_load(const char *dir, const ak_hparams *hp, int prec, void **impl,
                               ak_dtype *dtype)
{
    return ak_enc_load(dir, hp, prec, &mpnet_spec, impl, dtype);
}

const ak_family ak_family_mpnet = {
    .model_type = "mpnet",
    .archs = "MPNet",
    .config = mpnet_config,
    .load = mpnet_load,
    .batch_rows = ak_enc_batch_rows,
    .scratch_bytes = ak_enc_scratch_bytes,
    .forward = ak_enc_forward,
    .free = ak_enc_free,
};
