/*
 * classify.h - the heads of rerankers, one interface for every kind of
 * reranker (ak_rerank_kind), one file per kind, and the id-level reranking
 * entry point (rerank.c).
 *
 * Why a head apart from the families: a reranker is a family's transformer
 * plus a small head on one row of its last hidden states.  The family runs
 * the transformer exactly as for embeddings, through the same batching and
 * threads (pooling picks the row); the head turns those rows into logits.
 * Two kinds exist:
 *
 *   ak_rerank_seqcls (classify.c)  cross-encoders with a *ForSequence-
 *       Classification head on the first token (BERT, RoBERTa / XLM-R /
 *       CamemBERT, DistilBERT, MPNet, GTE "new", NomicBERT) or, for
 *       ModernBERT, the first token or the mean of the pair's tokens, pairs
 *       through the tokenizer's pair template;
 *   ak_rerank_lm (rerank_lm.c)     causal language models asked a yes / no
 *       question (Qwen3-Reranker, Qwen3ForCausalLM): the pair in a fixed
 *       prompt, the score from the LM head's "yes" and "no" rows at the last
 *       token.
 *
 * rerank.c tries the kinds in order at load; the first that recognises the
 * folder owns the head.  model.c and the families know nothing of them.
 */
#ifndef AKIDB_CLASSIFY_H
#define AKIDB_CLASSIFY_H

#include "model/family.h"

/* What a kind reads to decide whether a folder is its own. */
typedef struct ak_rerank_src {
    const char *tdir;              /* folder of config.json and the weights */
    const ak_family *fam;          /* the base model's family ... */
    const ak_hparams *hp;          /* ... and hyper-parameters */
    size_t max_seq;                /* the max_seq_length load option, 0: none */
    const akidb_tokenizer *tok;    /* the model's tokenizer, NULL when loaded
                                      for token ids only */
    int as_reranker;               /* akidb_model_opts.reranker */
    const char *dir;               /* the model folder */
    const char *score_dir;         /* its CrossEncoder LogitScore module's
                                      folder (modules.json), or NULL */
} ak_rerank_src;

/* One kind of reranker head.  impl: the kind's loaded head. */
typedef struct ak_rerank_kind {
    const char *name;
    /* Loads the head when the folder is of this kind (*out NULL and AKIDB_OK
     * when it is not); fails naming the file and field or tensor when it is
     * but something is wrong. */
    akidb_status (*load)(const ak_rerank_src *src, void **out);
    void (*free)(void *impl);
    size_t (*labels)(const void *impl);                  /* outputs per pair */
    const char *(*label)(const void *impl, size_t i);    /* NULL past the end */
    size_t (*max_tokens)(const void *impl);              /* default pair length */
    int (*uses_types)(const void *impl);                 /* token type ids fed */
    /* The activation akidb_rerank's DEFAULT means (never DEFAULT). */
    akidb_status (*activation)(const void *impl, akidb_rerank_activation *out);
    akidb_pooling row;             /* the hidden row the head reads */
    /* The row of a loaded head where it depends on the folder (ModernBERT's
     * classifier_pooling "mean"); NULL: row. */
    akidb_pooling (*row_of)(const void *impl);
    /* Encodes document di against the query under o into tk (at most max
     * ids; akidb_rerank checks them against the model). */
    akidb_status (*encode)(const void *impl, const akidb_tokenizer *tok,
                           const akidb_rerank_opts *o, size_t max, const char *q, size_t qlen,
                           const char *d, size_t dlen, size_t di, akidb_tokens *tk);
    /* How many leading ids of a pair the head's row depends on (the rest
     * are dropped before the model runs); NULL: all. */
    size_t (*used_len)(const void *impl, const int32_t *ids, size_t n);
    /* logits [n x labels] of the rows [n x hidden].  ENOMEM only. */
    akidb_status (*apply)(const void *impl, size_t n, const float *rows, float *logits);
} ak_rerank_kind;

extern const ak_rerank_kind ak_rerank_seqcls, ak_rerank_lm;

/* A loaded head: its kind and the kind's state (rerank.c). */
struct ak_head {
    const ak_rerank_kind *kind;
    void *impl;
};

/* Loads the head of src's folder with the first kind that recognises it;
 * *out = NULL (and AKIDB_OK) when none does (an embedding model). */
akidb_status ak_head_load(const ak_rerank_src *src, ak_head **out);
void ak_head_free(ak_head *h);

/* The kind's answers for h (see ak_rerank_kind). */
size_t ak_head_labels(const ak_head *h);
const char *ak_head_label(const ak_head *h, size_t i);
size_t ak_head_max_tokens(const ak_head *h);
int ak_head_uses_types(const ak_head *h);
akidb_status ak_head_activation(const ak_head *h, akidb_rerank_activation *out);
akidb_status ak_head_apply(const ak_head *h, size_t n, const float *rows, float *logits);

/* akidb_rerank on token ids (rerank.c): n pairs ids[i][0..lens[i]) with
 * the tokenizer's token types types[i] (or NULL: all 0; used only when the
 * head says so), each of 1 .. the model's max_tokens ids (for a causal-LM
 * head: the whole prompt).  opts as for akidb_rerank (max_tokens,
 * truncation and instruction have no effect).  scores: n * num_labels
 * floats. */
akidb_status ak_model_rerank_ids(const akidb_model *m, size_t n, const int32_t *const *ids,
                                 const uint32_t *const *types, const size_t *lens,
                                 const akidb_rerank_opts *opts, float *scores);

#endif /* AKIDB_CLASSIFY_H */
