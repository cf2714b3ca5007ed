/*
 * tok_internal.h - the layout of akidb_tokenizer, shared by the loader
 * (tokenizer.c), the added-token matcher (added.c), the encoder (encode.c)
 * and the decoder (decode.c).  Every pointer is owned by the tokenizer and
 * released by akidb_tokenizer_free.
 */
#ifndef AK_TEXT_TOK_INTERNAL_H
#define AK_TEXT_TOK_INTERNAL_H

#include "tok_parts.h"
#include "tokenizer.h"

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

/* An added token as read from the file, before the matchers are built. */
typedef struct ak_added_spec {
    const char *content;
    int32_t id;
    bool single_word, lstrip, rstrip, normalized, special;
} ak_added_spec;

struct akidb_tokenizer {
    ak_tok_model *model;
    ak_normalizer **norm;      /* Sequence flattened, in order                */
    size_t n_norm;
    ak_pretok **pre;
    size_t n_pre;
    ak_decoder **dec;
    size_t n_dec;
    ak_template tpl;
    bool chunkable;            /* text may be cut at ASCII whitespace before
                                * normalising (per-character normalizers and
                                * a whitespace-splitting pre-tokenizer)       */
    const char **id_tok;       /* id -> token over model and added tokens     */
    uint8_t *special;          /* per id: 1 for special added tokens          */
    size_t vocab_size;         /* max id + 1                                  */
    char *added_pool;          /* strings of the added tokens                 */
    int32_t *added_ids;        /* ids of the added tokens, file order         */
    size_t n_added;
    ak_matcher raw;            /* added tokens with normalized = false        */
    ak_matcher norm_m;         /* added tokens with normalized = true         */
};

/* Runs the normalizer chain over in[0..n); the result is left in *out (which
 * points at a or b, both caller-owned). */
akidb_status ak_tok_normalize(const akidb_tokenizer *tok, const uint32_t *in, size_t n,
                              ak_tok_scratch *scr, ak_cpbuf *a, ak_cpbuf *b,
                              const ak_cpbuf **out);

/* added.c: builds tok->raw / tok->norm_m from specs (the normalizer chain
 * must be loaded: normalized contents are matched in normalised form). */
akidb_status ak_added_build(akidb_tokenizer *tok, const ak_added_spec *specs, size_t n,
                            const char *origin);
void ak_matcher_free(ak_matcher *m);
/* Leftmost-longest match of m in s[from..n) whose single_word condition
 * holds; [*ms, *me) is the match widened by lstrip (not below floor) and
 * rstrip. */
bool ak_added_next(const ak_matcher *m, const uint32_t *s, size_t n, size_t from,
                   size_t floor, size_t *ms, size_t *me, int32_t *id);

#endif /* AK_TEXT_TOK_INTERNAL_H */
