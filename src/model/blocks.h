/*
 * blocks.h - the building blocks model families share, so that a family
 * file holds only what is its own (config fields, tensor names, position
 * rule) and no copy of a forward pass:
 *
 *   ak_weights   tensor lookup with and without the Hub prefix, shape check
 *                against config.json, F16/BF16 converted to float
 *   ak_lin       a linear layer packed once for the compute precision
 *                (f32 panels, bf16, int8) and its column-split GEMM
 *   ak_fwd       per-forward context: kernel path, thread pool, per-thread
 *                scratch of the reduced-precision GEMMs and of attention
 *   attention    one (sequence, head) task; no padding, hence no padding
 *                mask; causal / sliding-window masks and grouped-query
 *                heads for the decoder families (ak_attend_layer)
 *   pooling      sentence-transformers Pooling + Normalize of one sequence
 *   ak_embed_seqs  the batch driver around any family's forward: groups,
 *                data-parallel split across threads, pooling
 *   ak_enc       the post-LayerNorm Transformer encoder (BERT, DistilBERT,
 *                RoBERTa, MPNet...): embeddings + LayerNorm, then per layer
 *                fused QKV, attention (with MPNet's relative position bias
 *                if the family names one), output + residual + LayerNorm,
 *                GELU/ReLU MLP + residual + LayerNorm (encoder.c)
 */
#ifndef AKIDB_BLOCKS_H
#define AKIDB_BLOCKS_H

#include "model/family.h"

#include <stdatomic.h>

/* ---- weights ---------------------------------------------------------------- */

typedef struct ak_weights {
    const char *dir;      /* for messages; valid while loading */
    const char *prefix;   /* Hub prefix tried after the bare name ("bert."), or NULL */
    ak_st_set set;        /* the mappings the views point into */
    float **owned;        /* converted copies */
    const void **src;     /* [cap] the mapped bytes each copy was made from */
    size_t n_owned, cap;
} ak_weights;

/* Opens the safetensors of dir (ak_st_set_open); room for max_owned
 * converted copies. */
akidb_status ak_weights_open(ak_weights *w, const char *dir, const char *prefix,
                             size_t max_owned);
/* Float view of tensor name (also prefix+name, and LayerNorm.gamma/beta for
 * LayerNorm.weight/bias) of shape [d0] (d1 == 0) or [d0, d1].  EFORMAT
 * naming the tensor when absent, EDIM naming file, tensor and both shapes. */
akidb_status ak_weights_get(ak_weights *w, const char *name, size_t d0, size_t d1,
                            const float **out);
/* Stored dtype of tensor name (with the prefix rule); F32 if absent. */
ak_dtype ak_weights_dtype(const ak_weights *w, const char *name);
/* Frees the converted copy p if there is one (a packed copy replaced it)
 * and drops the resident pages of the mapped tensor p was read from, so a
 * load holds about one tensor of the file at a time. */
void ak_weights_drop(ak_weights *w, const float *p);
/* Drops the mappings' resident pages (clean; they fault back on use). */
void ak_weights_release(ak_weights *w);

/* A [rows x cols] table left in the mapping in its stored dtype (F32, F16,
 * BF16, F64) and read a row at a time: a decoder's word embeddings
 * (151669 x 4096 for Qwen3-8B) stay bf16 and unconverted. */
typedef struct ak_table {
    const uint8_t *data;
    ak_dtype dtype;
    size_t rows, cols;
} ak_table;
/* The table tensor name of shape [d0, d1] (name rules and failures as
 * ak_weights_get; EUNSUPPORTED for a dtype that is not a float). */
akidb_status ak_weights_table(ak_weights *w, const char *name, size_t d0, size_t d1,
                              ak_table *out);
/* Row r of t as floats into dst (t->cols floats), exactly. */
void ak_table_row(const ak_table *t, size_t r, float *dst);
void ak_weights_close(ak_weights *w);

/* ---- packed linear layers ----------------------------------------------------- */

typedef struct ak_qmat {   /* int8-packed matrix, per-column scales and sums */
    const int8_t *w;
    const float *s;
    const int32_t *cs;
} ak_qmat;

/* y [M x n] = x [M x k] * W^T + bias, W packed in one of three forms. */
typedef struct ak_lin {
    size_t n, k;
    const float *p;        /* f32 (ak_pack_nt), or NULL */
    const uint16_t *h;     /* bf16 (ak_pack_nt_bf16), or NULL */
    ak_qmat q;             /* int8 (ak_pack_nt_i8), w NULL if not */
    const float *bias;     /* [n] or NULL */
} ak_lin;

/* Bytes (a multiple of 64) the packed [n x k] matrix takes at precision prec
 * (0 f32, 1 bf16, 2 int8, 3 bf16 weights computed in f32: AK_PREC_W16). */
#define AK_PREC_W16 3
size_t ak_lin_bytes(int prec, size_t n, size_t k);
/* Packs W [n x k] (row-major) into mem (ak_lin_bytes, 64-byte aligned). */
void ak_lin_pack(ak_lin *l, int prec, size_t n, size_t k, const float *w, void *mem);

/* ---- forward context ------------------------------------------------------------ */

typedef struct ak_fwd {
    const ak_ops *ops;
    ak_pool *pool;            /* NULL: one thread */
    int nt;
    size_t rows;              /* M of every GEMM */
    ak_gemm_bf16_fn gemm_h;   /* bf16 mode */
    ak_gemm_i8_fn gemm_q;     /* int8 mode */
    ak_gemm_bf16_fn att_h;    /* bf16 / int8 modes: attention products in bf16 */
    void **xb;                /* [nt] reduced-precision GEMM scratch */
    float **att;              /* [nt] attention scratch */
    const size_t *row0;       /* [s->n] first row of each sequence */
    _Atomic size_t *next;     /* [layers] next attention task of each layer */
} ak_fwd;

/* What every family's forward starts with: f set up for the s->rows rows of
 * s (head size hd, largest GEMM depth kmax) on nt threads of pool (nt
 * clamped to 1 .. the pool's size) at precision prec, with the first row of
 * each sequence and one attention task counter per layer at 0 (n_layers of
 * them), everything from ar.  ENOMEM only. */
akidb_status ak_fwd_begin(ak_fwd *f, int prec, const ak_seqs *s, size_t n_layers, size_t hd,
                          size_t kmax, ak_pool *pool, int nt, ak_arena *ar);
/* Index of the sequence of s holding row r (s as given to ak_fwd_begin). */
size_t ak_fwd_seq_of(const ak_fwd *f, const ak_seqs *s, size_t r);
/* Bytes ak_fwd_begin takes from the arena at most, beside row0 and next
 * (which the families count with their rows and layers). */
size_t ak_fwd_scratch_bytes(int prec, size_t rows, size_t max_len, size_t hd, size_t kmax,
                            int nt);
/* Columns [*n0, *n1) of n for thread tid, in whole micro-tiles. */
void ak_split_cols(const ak_fwd *f, size_t n, int tid, size_t *n0, size_t *n1);
/* Rows [*r0, *r1) of rows for thread tid. */
void ak_split_rows(const ak_fwd *f, size_t rows, int tid, size_t *r0, size_t *r1);
/* Columns [n0, n1) of y = x * W^T + bias for all f->rows rows. */
void ak_lin_cols(const ak_fwd *f, int tid, const ak_lin *l, const float *x, float *y,
                 size_t n0, size_t n1);
/* One head of one sequence of s tokens: ctx = softmax(scale * Q K^T) V, Q/K/V
 * [s x hd] with row stride ld, ctx row stride ldc. */
void ak_attend(const ak_fwd *f, int tid, size_t s, size_t hd, float scale, const float *q,
               const float *k, const float *v, size_t ld, float *ctx, size_t ldc);

/* Where one layer's attention finds its heads: Q, K and V as column blocks
 * of one [rows x ld] buffer (a fused projection), n_heads query heads and
 * n_kv_heads key / value heads of hd columns (grouped-query attention:
 * query head h reads K / V head h / (n_heads / n_kv_heads), Hugging Face's
 * repeat_kv), the context written at column h * hd of rows of stride ldc. */
typedef struct ak_att_layout {
    size_t n_heads, n_kv_heads, hd;
    size_t ld, q_off, k_off, v_off, ldc;
    float scale;
    ak_att_mask mask;   /* bidirectional, causal, sliding window */
} ak_att_layout;

/* The attention of every (sequence, query head) of s in layer layer;
 * thread tid takes tasks from the layer's counter f->next[layer] until none
 * is left.  Each task runs on the precision of f (bf16 products in the
 * reduced modes). */
void ak_attend_layer(const ak_fwd *f, int tid, const ak_seqs *s, size_t layer,
                     const ak_att_layout *a, const float *qkv, float *ctx);

/* ---- pooling and the batch driver ----------------------------------------------- */

/* Pools the hidden states x [s x H] of one sequence (sentence-transformers
 * Pooling: mean, CLS, max, mean / sqrt(s), last token, position-weighted
 * mean) and L2-normalises when asked (Normalize, eps 1e-12) into out. */
void ak_pool_seq(const float *x, size_t s, size_t H, akidb_pooling pooling, int normalize,
                 float *out);
/* ak_pool_seq with the first skip tokens masked out as sentence-transformers
 * masks a prompt under include_prompt false: no part of the mean, max,
 * weighted mean (the others keep their position weights) or last token;
 * CLS still takes token 0.  With every token masked: mean and weighted mean
 * 0, max -1e9, last token 0. */
void ak_pool_seq_skip(const float *x, size_t s, size_t H, akidb_pooling pooling,
                      size_t skip, int normalize, float *out);

/* Embeds n sequences with a loaded family model: groups of up to
 * f->batch_rows rows through f->forward, on up to nt threads of pool (many
 * sequences: each thread its own share; few: the threads split each
 * forward), then pooling.  out: n * hp->hidden floats.  Bit-identical for
 * every nt and grouping.  ENOMEM only. */
akidb_status ak_embed_seqs(const ak_family *f, const void *impl, const ak_hparams *hp,
                           size_t n, const int32_t *const *ids, const size_t *lens,
                           akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                           ak_arena *ar, float *out);
/* ak_embed_seqs with the token types of each sequence (ak_seqs.types; NULL:
 * all 0), as a cross-encoder's pairs need them. */
akidb_status ak_embed_seqs_typed(const ak_family *f, const void *impl, const ak_hparams *hp,
                                 size_t n, const int32_t *const *ids,
                                 const uint32_t *const *types, const size_t *lens,
                                 akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                                 ak_arena *ar, float *out);
/* ak_embed_seqs_typed pooling with ak_pool_seq_skip's skip. */
akidb_status ak_embed_seqs_skip(const ak_family *f, const void *impl, const ak_hparams *hp,
                                size_t n, const int32_t *const *ids,
                                const uint32_t *const *types, const size_t *lens, size_t skip,
                                akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                                ak_arena *ar, float *out);

/* ---- the post-LayerNorm Transformer encoder (encoder.c) ------------------------- */

/* Per-layer tensors, in the order of ak_enc_spec.lw. */
enum {
    AK_ENC_QW, AK_ENC_QB, AK_ENC_KW, AK_ENC_KB, AK_ENC_VW, AK_ENC_VB,
    AK_ENC_OW, AK_ENC_OB, AK_ENC_LN1W, AK_ENC_LN1B, AK_ENC_IW, AK_ENC_IB,
    AK_ENC_OUTW, AK_ENC_OUTB, AK_ENC_LN2W, AK_ENC_LN2B, AK_ENC_NAMES
};

/* BertLayer's tensor names, which RobertaLayer and its copies keep. */
#define AK_ENC_BERT_LAYER                                                         \
    "attention.self.query.weight", "attention.self.query.bias",                   \
    "attention.self.key.weight", "attention.self.key.bias",                       \
    "attention.self.value.weight", "attention.self.value.bias",                   \
    "attention.output.dense.weight", "attention.output.dense.bias",               \
    "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",       \
    "intermediate.dense.weight", "intermediate.dense.bias",                       \
    "output.dense.weight", "output.dense.bias",                                   \
    "output.LayerNorm.weight", "output.LayerNorm.bias"

/* What a family tells the encoder: its tensor names and position rule. */
typedef struct ak_enc_spec {
    const char *prefix;        /* Hub prefix, also tried ("bert.") */
    const char *word, *pos;    /* embedding tables */
    const char *type;          /* token-type table; NULL: none */
    const char *ln_w, *ln_b;   /* embedding LayerNorm */
    const char *layer;         /* prefix of layer i's names, "%zu" for i */
    const char *lw[AK_ENC_NAMES];
    /* Position ids of the tokens ids[0..n) into pos; NULL: 0..n-1.  Each
     * must be < max_positions for n <= max_tokens. */
    void (*positions)(const ak_hparams *hp, const int32_t *ids, size_t n, int32_t *pos);
    /* A relative position bias shared by every layer (MPNet), or NULL: the
     * tensor rel_bias [hp->rel_buckets x n_heads]; the score of key j for
     * query i in head h gets row rel_bucket(j - i), column h added after the
     * scale.  rel_bucket must be < rel_buckets for |j - i| < max_tokens. */
    const char *rel_bias;
    size_t (*rel_bucket)(long rel);
} ak_enc_spec;

/* The family functions of an encoder model (impl is an ak_enc). */
akidb_status ak_enc_load(const char *dir, const ak_hparams *hp, int prec,
                         const ak_enc_spec *spec, void **impl, ak_dtype *dtype);
size_t ak_enc_batch_rows(const void *impl);
size_t ak_enc_scratch_bytes(const void *impl, size_t rows, size_t max_len, int nt);
akidb_status ak_enc_forward(const void *impl, const ak_seqs *s, ak_pool *pool, int nt,
                            ak_arena *ar, float **hidden);
void ak_enc_free(void *impl);

#endif /* AKIDB_BLOCKS_H */
