/*
 * dec_common.h - what the decoder kinds (dec_*.c) share: a growable byte
 * string, UTF-8 stepping over byte strings that may hold NULs, Rust's
 * str::replace, a per-token rewrite loop, and readers of the required fields
 * of a decoder's JSON object with the Rust library's rules.  Defined in
 * dec_common.c (but for the WordPiece cleanup, in dec_wordpiece.c).
 *
 * Token strings are (pointer, length) pairs throughout: a decoded U+0000
 * (ByteLevel's byte 0, <0x00> of ByteFallback) is an ordinary character.
 */
#ifndef AK_TEXT_DEC_COMMON_H
#define AK_TEXT_DEC_COMMON_H

#include "tok_parts.h"

/* ENOMEM with the decoders' message. */
akidb_status ak_dec_oom(void);

/* A growable byte string; v[n] is always a NUL once anything was put. */
typedef struct ak_dbuf {
    char *v;
    size_t n, cap;
} ak_dbuf;

akidb_status ak_dbuf_put(ak_dbuf *b, const char *s, size_t n);
/* Makes the buffer hold "" (allocated), keeping its memory. */
akidb_status ak_dbuf_reset(ak_dbuf *b);
void ak_dbuf_free(ak_dbuf *b);

/* Length in bytes of the UTF-8 character at s[0] (s[0..n), n >= 1); a byte
 * that does not start a complete character counts as one. */
size_t ak_dec_u8_len(const char *s, size_t n);
/* Code point of the character s[0..k) measured by ak_dec_u8_len (a lone byte
 * gives a value above U+10FFFF, equal to no real character). */
uint32_t ak_dec_u8_cp(const char *s, size_t k);

/* Appends s[0..n) with every occurrence of pat[0..pn) replaced by rep[0..rn),
 * as Rust's str::replace (leftmost, non-overlapping; an empty pat matches at
 * every character boundary, both ends included). */
akidb_status ak_dec_str_replace(ak_dbuf *out, const char *s, size_t n, const char *pat,
                                size_t pn, const char *rep, size_t rn);

/* Rewrites every token of *toks through fn, which appends the new text of
 * token i to out (an emptied buffer). */
typedef akidb_status (*ak_dec_map_fn)(const ak_decoder *d, const ak_strs *toks, size_t i,
                                      ak_dbuf *out);
akidb_status ak_dec_map(const ak_decoder *d, ak_strs *toks, ak_dec_map_fn fn);

/* ---- JSON fields (messages name ld->origin and the field) ---------------- */

/* EFORMAT unless j is an object. */
akidb_status ak_dec_need_object(const json_t *j, const ak_tok_load *ld);
/* EFORMAT: the required field key is absent. */
akidb_status ak_dec_missing(const ak_tok_load *ld, const char *key);
/* A required string field, copied into *out (ak_free it), *len bytes. */
akidb_status ak_dec_req_str(const json_t *j, const char *key, const ak_tok_load *ld,
                            char **out, size_t *len);
akidb_status ak_dec_req_bool(const json_t *j, const char *key, const ak_tok_load *ld,
                             bool *out);
/* A required field holding exactly one character (Rust's char). */
akidb_status ak_dec_req_char(const json_t *j, const char *key, const ak_tok_load *ld,
                             uint32_t *cp);

/* Rust's wordpiece::cleanup on *s (spaces before punctuation and English
 * contractions removed), in place; tmp is scratch.  Defined in
 * dec_wordpiece.c, used by WordPiece and CTC. */
akidb_status ak_dec_wordpiece_cleanup(ak_dbuf *s, ak_dbuf *tmp);

/* free of kinds whose instance is one ak_calloc'd block. */
void ak_dec_plain_free(ak_decoder *d);

#endif /* AK_TEXT_DEC_COMMON_H */
