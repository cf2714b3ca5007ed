/*
 * tok_internal.h - the layout of akidb_tokenizer, shared by the loaders
 * (tokenizer.c) and the encoder (encode.c).  Every pointer is owned by the
 * tokenizer and released by akidb_tokenizer_free.
 */
#ifndef AK_TEXT_TOK_INTERNAL_H
#define AK_TEXT_TOK_INTERNAL_H

#include "tokenizer.h"
#include "vocab.h"

/* Normaliser steps, applied in order to the code points of a text. */
typedef enum ak_norm_op {
    AK_NORM_CLEAN,     /* BertNormalizer clean_text                          */
    AK_NORM_CHINESE,   /* BertNormalizer handle_chinese_chars                */
    AK_NORM_STRIP,     /* BertNormalizer strip_accents: NFD, then drop Mn    */
    AK_NORM_NFD,       /* NFD normalizer                                     */
    AK_NORM_LOWER      /* lowercase (BertNormalizer / Lowercase normalizer)  */
} ak_norm_op;

#define AK_NORM_MAX_OPS 32

/* One added token (tokenizer.json "added_tokens"). */
typedef struct ak_added {
    uint32_t *cps;       /* content as code points (normalised if normalized) */
    size_t n;            /* code points                                       */
    int32_t id;
    bool single_word, lstrip, rstrip;
} ak_added;

/* Added tokens matched on one kind of text (raw or normalised), sorted by
 * first code point, longest first, for leftmost-longest matching. */
typedef struct ak_matcher {
    ak_added *tok;
    size_t n;
    uint64_t first_bloom;  /* bit (first cp & 63) set for each token         */
} ak_matcher;

struct akidb_tokenizer {
    ak_vocab vocab;            /* model vocabulary                            */
    const char **id_tok;       /* id -> token string (NULL for holes)         */
    size_t vocab_size;         /* max id + 1 over vocab and added tokens       */
    char *added_pool;          /* strings of the added tokens                 */
    int32_t unk_id;            /* -1 if unk_token is not in the vocabulary    */
    char *unk_token;
    char *prefix;              /* continuing_subword_prefix                   */
    size_t prefix_len;
    size_t max_chars;          /* max_input_chars_per_word                    */
    ak_norm_op ops[AK_NORM_MAX_OPS];
    int n_ops;
    bool pretok_bert;          /* BertPreTokenizer; false: no pre-tokeniser   */
    ak_matcher raw;            /* added tokens with normalized = false        */
    ak_matcher norm;           /* added tokens with normalized = true         */
    int32_t *tpl_pre, *tpl_post; /* special ids before / after $A             */
    size_t n_pre, n_post;
};

/* Applies the tokenizer's normaliser steps to in[0..n) and returns the result
 * in *out (n_out code points).  a and b are caller-owned scratch buffers
 * (capacities *ca, *cb) grown with ak_realloc; *out points into one of them.
 * Returns OK or ENOMEM. */
akidb_status ak_normalize(const akidb_tokenizer *tok, const uint32_t *in, size_t n,
                          uint32_t **a, size_t *ca, uint32_t **b, size_t *cb,
                          const uint32_t **out, size_t *n_out);

#endif /* AK_TEXT_TOK_INTERNAL_H */
