/*
 * bert.h - private model internals: the parsed configuration of a model
 * folder, the BERT weights, the forward pass and pooling.
 *
 * Why separate from model.c: the forward pass is usable (and tested) on
 * token ids directly, without a tokenizer, and the configuration parser is
 * testable without weights.
 */
#ifndef AKIDB_BERT_H
#define AKIDB_BERT_H

#include "common/common.h"
#include "kernels/kernels.h"
#include "model/safetensors.h"

/* config.json of a Hugging Face BERT model. */
typedef struct ak_bert_config {
    size_t hidden, n_layers, n_heads, intermediate, max_positions,
           type_vocab, vocab;
    ak_act act;
    float ln_eps;
} ak_bert_config;

/* The sentence-transformers pipeline around the transformer. */
typedef struct ak_st_pipeline {
    char *transformer_dir;   /* folder holding config.json and weights */
    akidb_pooling pooling;   /* never DEFAULT */
    int normalize;           /* 0 or 1 */
    size_t max_seq_length;   /* 0 if no file said */
} ak_st_pipeline;

/* Parses path (a config.json) into cfg.  EUNSUPPORTED for other model types
 * or position embedding types / activations, EFORMAT for missing or invalid
 * fields; messages name the file and the field. */
akidb_status ak_bert_config_load(const char *path, ak_bert_config *cfg);

/* Reads the sentence-transformers files of dir (modules.json, the Pooling
 * module's config.json, sentence_bert_config.json).  Without modules.json:
 * transformer_dir = dir, mean pooling, no normalisation, max_seq_length 0.
 * Modules other than Transformer, Pooling and Normalize (e.g. Dense) give
 * EUNSUPPORTED, as do pooling modes that combine several vectors. */
akidb_status ak_pipeline_load(const char *dir, ak_st_pipeline *p);
void ak_pipeline_free(ak_st_pipeline *p);

/* model_max_length of dir/tokenizer_config.json into *out; 0 if the file or
 * the field is absent or says "unlimited".  Fails on unreadable/bad JSON. */
akidb_status ak_tokenizer_max_length(const char *dir, size_t *out);

/* An int8-packed weight matrix with its per-column scales and sums. */
typedef struct ak_qmat {
    const int8_t *w;
    const float *s;
    const int32_t *cs;
} ak_qmat;

typedef struct ak_bert_layer {
    const float *wq, *bq, *wk, *bk, *wv, *bv;   /* [H x H], [H] */
    const float *wo, *bo;                         /* attention output dense */
    const float *ln1_g, *ln1_b;                   /* attention output LayerNorm */
    const float *wi, *bi;                         /* [I x H], [I] */
    const float *wout, *bout;                     /* [H x I], [H] */
    const float *ln2_g, *ln2_b;                   /* output LayerNorm */
    /* packed copies (ak_pack_nt) made at load; the forward uses only these.
     * The raw matrix views above are not valid after ak_bert_load. */
    const float *p_qkv, *b_qkv;                   /* [3H x H] Q,K,V fused, [3H] */
    const float *p_o, *p_i, *p_out;               /* [H x H], [I x H], [H x I] */
    /* bf16 mode: the same matrices packed by ak_pack_nt_bf16 (p_* NULL) */
    const uint16_t *h_qkv, *h_o, *h_i, *h_out;
    /* int8 mode: quantised by ak_pack_nt_i8 (p_* NULL) */
    ak_qmat q_qkv, q_o, q_i, q_out;
} ak_bert_layer;

typedef struct ak_bert {
    ak_bert_config cfg;
    ak_st_set weights;              /* mappings the views point into */
    const float *word, *pos, *type; /* [V x H], [P x H], [T x H] */
    const float *emb_ln_g, *emb_ln_b;
    ak_bert_layer *layers;
    float **owned;                  /* converted copies to free */
    size_t n_owned;
    ak_dtype dtype;                 /* dtype of the word embeddings on disk */
    float *packed;                  /* one aligned block: every p_* and b_qkv */
    uint16_t *packed_h;             /* bf16 mode: every h_* */
    int8_t *packed_q;               /* int8 mode: every q_*.w */
    float *packed_qs;               /* int8 mode: scales, then column sums */
    int bf16;                       /* linear layers in bf16 */
    int int8;                       /* linear layers in int8 */
} ak_bert;

/* Opens the weights in dir (see ak_st_set_open), finds every tensor with or
 * without the "bert." prefix (LayerNorm.gamma/beta accepted for weight/bias),
 * checks each shape against cfg, and converts non-F32 or unaligned tensors to
 * float.  On failure *b is left empty. */
akidb_status ak_bert_load(const char *dir, const ak_bert_config *cfg, ak_bert *b);
/* Same, with the precision of the linear layers: 0 f32, 1 bf16 (packed
 * only as bf16, see ak_gemm_bf16_fn), 2 int8 (see ak_gemm_i8_fn). */
akidb_status ak_bert_load_ex(const char *dir, const ak_bert_config *cfg, int prec,
                             ak_bert *b);
void ak_bert_free(ak_bert *b);

/* Bytes of arena scratch one ak_bert_forward of s tokens allocates at most
 * (rough upper bound used to size the arena's first block). */
size_t ak_bert_scratch_bytes(const ak_bert *b, size_t s);

/* Runs the encoder on ids[0..s) (s >= 1, s <= max_positions, every id <
 * vocab: the caller checks) and writes the pooled, optionally L2-normalised
 * vector of cfg.hidden floats to out.  Scratch comes from arena.  Returns
 * ENOMEM only. */
akidb_status ak_bert_embed(const ak_bert *b, const int32_t *ids, size_t s,
                           akidb_pooling pooling, int normalize, ak_arena *arena,
                           float *out);

/* Embeds n texts (ids[i] of lens[i] tokens, each as for ak_bert_embed)
 * together: their token rows are concatenated into one GEMM M dimension
 * (attention stays per text), on up to nt threads of pool (pool may be NULL:
 * one thread).  out receives n * hidden floats.  Scratch (activations of up
 * to ak_bert_batch_rows rows, one attention scratch per thread) comes from
 * arena, allocated before the threads start.  Results are bit-identical for
 * every nt and batch composition.  Returns ENOMEM only. */
akidb_status ak_bert_embed_batch(const ak_bert *b, size_t n,
                                 const int32_t *const *ids, const size_t *lens,
                                 akidb_pooling pooling, int normalize,
                                 ak_pool *pool, int nt, ak_arena *arena,
                                 float *out);

/* Token rows one ak_bert_embed_batch pass holds at most (a text longer than
 * this still runs alone).  Callers group texts up to this many tokens. */
size_t ak_bert_batch_rows(const ak_bert *b);

/* Same, but stores the last hidden state [s x hidden] (before pooling) in
 * hidden_out when non-NULL.  For tests. */
akidb_status ak_bert_forward(const ak_bert *b, const int32_t *ids, size_t s,
                             ak_arena *arena, float **hidden_out);

/* The BERT inside a loaded model (for tests and tools of this module). */
const ak_bert *ak_model_bert(const akidb_model *m);

#endif /* AKIDB_BERT_H */
