/*
 * unicode.h - character lookups for the tokenizer: class flags, canonical
 * combining class, canonical decomposition (NFD), lowercase, extended
 * grapheme clusters and the Script property, over the tables
 * tools/gen_unicode.py generates (that script says which Unicode version each
 * table has and why).  Kept apart from the tokenizer so the data can be
 * regenerated and tested on its own.  The normalization forms are in
 * unicode_norm.h.
 */
#ifndef AK_TEXT_UNICODE_H
#define AK_TEXT_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "unicode_tables.h"

/* Class flags of cp (AKU_CONTROL | AKU_WSPACE | ...); 0 for code points in no
 * class, including anything above U+10FFFF. */
unsigned aku_flags(uint32_t cp);

/* Canonical combining class of cp (0 for starters and unknown code points).
 * Unicode 9.0 data, as Hugging Face tokenizers' normalisation crate. */
unsigned aku_ccc(uint32_t cp);

/* Full canonical decomposition of cp into out (room for AKU_DECOMP_MAX code
 * points), Hangul syllables included.  Returns the number written, 1 with
 * out[0] == cp when cp does not decompose. */
#define AKU_DECOMP_MAX 4
int aku_decompose(uint32_t cp, uint32_t out[AKU_DECOMP_MAX]);

/* Full lowercase mapping of a lone cp (no context, as Rust's
 * char::to_lowercase) into out (room for AKU_LOWER_MAX).  Returns the count. */
#define AKU_LOWER_MAX 3
int aku_lower(uint32_t cp, uint32_t out[AKU_LOWER_MAX]);

/* True for the CJK ideograph blocks Hugging Face's BertNormalizer pads with
 * spaces (its exact ranges, including its U+2B920 start of Extension E). */
bool aku_is_chinese(uint32_t cp);

/* End (exclusive) of the extended grapheme cluster of s[0..n) that begins at
 * index i < n (n when i >= n).  UAX #29 rules and data of Unicode 17.0.0, as
 * Rust's unicode-segmentation 1.13 (the release current Hugging Face
 * tokenizers builds resolve), GB9c (Indic conjuncts) and GB11 (emoji ZWJ
 * sequences) included. */
size_t aku_grapheme_end(const uint32_t *s, size_t n, size_t i);

/* Unicode Script property of cp as a small integer (AKU_SCRIPT_* values in
 * unicode_tables.h, names in aku_script_names; AKU_SCRIPT_UNKNOWN = 0 for
 * unassigned).  Unicode 9.0 data: exactly the table of Hugging Face
 * tokenizers' UnicodeScripts pre-tokenizer, whose "Any" is UNKNOWN. */
int aku_script(uint32_t cp);

#endif /* AK_TEXT_UNICODE_H */
