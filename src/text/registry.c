/*
 * registry.c - the one list of tokenizer part kinds.  The loader
 * (tokenizer.c) looks a kind up here by the "type" string of tokenizer.json;
 * each kind lives in a file of its own (named in the comments).  To add a
 * kind: write its file, declare its table below, and list it in its array.
 */
#include "tok_parts.h"

#include <stdio.h>
#include <string.h>

/* models */
extern const ak_tok_model_kind ak_model_wordpiece;      /* model_wordpiece.c */
extern const ak_tok_model_kind ak_model_bpe;            /* model_bpe.c */
extern const ak_tok_model_kind ak_model_unigram;        /* model_unigram.c */

/* normalizers */
extern const ak_norm_kind ak_norm_bert;                 /* norm_bert.c */
extern const ak_norm_kind ak_norm_nfc, ak_norm_nfd,     /* norm_unicode.c */
    ak_norm_nfkc, ak_norm_nfkd;
extern const ak_norm_kind ak_norm_lowercase,            /* norm_simple.c */
    ak_norm_strip, ak_norm_strip_accents, ak_norm_prepend;
extern const ak_norm_kind ak_norm_replace;              /* norm_replace.c */
extern const ak_norm_kind ak_norm_precompiled;          /* norm_precompiled.c */

/* pre-tokenizers */
extern const ak_pretok_kind ak_pretok_bert;             /* pretok_bert.c */
extern const ak_pretok_kind ak_pretok_bytelevel;        /* pretok_bytelevel.c */
extern const ak_pretok_kind ak_pretok_metaspace;        /* pretok_metaspace.c */
extern const ak_pretok_kind ak_pretok_split;            /* pretok_split.c */
extern const ak_pretok_kind ak_pretok_whitespace,       /* pretok_misc.c */
    ak_pretok_whitespace_split, ak_pretok_punctuation, ak_pretok_digits,
    ak_pretok_unicode_scripts, ak_pretok_char_delimiter_split;

/* decoders */
extern const ak_decoder_kind ak_dec_bytelevel;          /* dec_bytelevel.c */
extern const ak_decoder_kind ak_dec_metaspace;          /* dec_metaspace.c */
extern const ak_decoder_kind ak_dec_wordpiece;          /* dec_wordpiece.c */
extern const ak_decoder_kind ak_dec_byte_fallback,      /* dec_bytes.c */
    ak_dec_fuse;
extern const ak_decoder_kind ak_dec_strip,              /* dec_misc.c */
    ak_dec_replace, ak_dec_bpe, ak_dec_ctc;

static const ak_tok_model_kind *const MODELS[] = {
    &ak_model_wordpiece, &ak_model_bpe, &ak_model_unigram,
};

static const ak_norm_kind *const NORMS[] = {
    &ak_norm_bert, &ak_norm_nfc, &ak_norm_nfd, &ak_norm_nfkc, &ak_norm_nfkd,
    &ak_norm_lowercase, &ak_norm_strip, &ak_norm_strip_accents, &ak_norm_prepend,
    &ak_norm_replace, &ak_norm_precompiled,
};

static const ak_pretok_kind *const PRETOKS[] = {
    &ak_pretok_bert, &ak_pretok_bytelevel, &ak_pretok_metaspace, &ak_pretok_split,
    &ak_pretok_whitespace, &ak_pretok_whitespace_split, &ak_pretok_punctuation,
    &ak_pretok_digits, &ak_pretok_unicode_scripts, &ak_pretok_char_delimiter_split,
};

static const ak_decoder_kind *const DECODERS[] = {
    &ak_dec_bytelevel, &ak_dec_metaspace, &ak_dec_wordpiece, &ak_dec_byte_fallback,
    &ak_dec_fuse, &ak_dec_strip, &ak_dec_replace, &ak_dec_bpe, &ak_dec_ctc,
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every kind table starts with its type string, so one lookup serves all. */
#define FIND(arr, type)                                                        \
    do {                                                                       \
        for (size_t i_ = 0; i_ < COUNT(arr); i_++)                             \
            if ((arr)[i_] && strcmp((arr)[i_]->type, (type)) == 0)             \
                return (arr)[i_];                                              \
        return NULL;                                                           \
    } while (0)

/* Writes "A, B, C" of a table into buf. */
#define NAMES(arr, buf, n)                                                     \
    do {                                                                       \
        size_t o_ = 0;                                                         \
        if (n)                                                                 \
            (buf)[0] = 0;                                                      \
        for (size_t i_ = 0; i_ < COUNT(arr); i_++)                             \
            if ((arr)[i_] && o_ < (n))                                         \
                o_ += (size_t)snprintf((buf) + o_, (n) - o_, "%s%s",           \
                                       o_ ? ", " : "", (arr)[i_]->type);       \
        return (buf);                                                          \
    } while (0)

const ak_tok_model_kind *ak_tok_find_model(const char *type) { FIND(MODELS, type); }
const ak_norm_kind *ak_tok_find_norm(const char *type) { FIND(NORMS, type); }
const ak_pretok_kind *ak_tok_find_pretok(const char *type) { FIND(PRETOKS, type); }
const ak_decoder_kind *ak_tok_find_decoder(const char *type) { FIND(DECODERS, type); }

const char *ak_tok_model_names(char *buf, size_t n) { NAMES(MODELS, buf, n); }
const char *ak_tok_norm_names(char *buf, size_t n) { NAMES(NORMS, buf, n); }
const char *ak_tok_pretok_names(char *buf, size_t n) { NAMES(PRETOKS, buf, n); }
const char *ak_tok_decoder_names(char *buf, size_t n) { NAMES(DECODERS, buf, n); }
