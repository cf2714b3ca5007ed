/*
 * unicode.h - character lookups for the tokenizer: class flags, canonical
 * combining class, canonical decomposition (NFD) and lowercase, over the
 * tables tools/gen_unicode.py generates.  Kept apart from the tokenizer so the
 * data can be regenerated and tested on its own.
 */
#ifndef AK_TEXT_UNICODE_H
#define AK_TEXT_UNICODE_H

#include <stdbool.h>
#include <stdint.h>

#include "unicode_tables.h"

/* Class flags of cp (AKU_CONTROL | AKU_WSPACE | ...); 0 for code points in no
 * class, including anything above U+10FFFF. */
unsigned aku_flags(uint32_t cp);

/* Canonical combining class of cp (0 for starters and unknown code points). */
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

#endif /* AK_TEXT_UNICODE_H */
