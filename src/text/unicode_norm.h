/*
 * unicode_norm.h - the Unicode normalization forms NFD, NFC, NFKD and NFKC
 * (UAX #15) over code point arrays, in linear time.  The data are those of
 * the crate Hugging Face tokenizers normalises with
 * (unicode-normalization-alignments 0.1.12, Unicode 9.0.0; see
 * tools/gen_unicode.py), so code points assigned later pass unchanged.
 */
#ifndef AK_TEXT_UNICODE_NORM_H
#define AK_TEXT_UNICODE_NORM_H

#include "tok_parts.h"
#include "unicode.h"

typedef enum aku_nform { AKU_NFD, AKU_NFC, AKU_NFKD, AKU_NFKC } aku_nform;

/* Full compatibility decomposition of cp (Hangul included) into out.
 * Returns the count, 1 with out[0] == cp when cp does not decompose. */
int aku_kdecompose(uint32_t cp, uint32_t out[AKU_KDECOMP_MAX]);

/* Primary composite of a + b (canonical composition, Hangul included), or 0
 * when the pair does not compose. */
uint32_t aku_compose(uint32_t a, uint32_t b);

/* Puts s[0..n) into canonical order: each run of non-starters sorted by
 * combining class, stably.  `tmp` has room for n code points (used only by
 * runs longer than 32). */
void aku_canonical_order(uint32_t *s, size_t n, uint32_t *tmp);

/* Canonical composition of the decomposed, canonically ordered s[0..n) in
 * place; returns the new length. */
size_t aku_compose_run(uint32_t *s, size_t n);

/* Appends the normalization form `form` of in[0..n) to out. */
akidb_status aku_normalize(aku_nform form, const uint32_t *in, size_t n, ak_cpbuf *out);

#endif /* AK_TEXT_UNICODE_NORM_H */
