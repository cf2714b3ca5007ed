/*
 * pretok_bert.c - Hugging Face's BertPreTokenizer: whitespace separates words
 * and is dropped; each punctuation character (Unicode P* or ASCII
 * punctuation, as the Rust library's is_bert_punc) is a word of its own.
 */
#include "tok_parts.h"
#include "unicode.h"

extern const ak_pretok_kind ak_pretok_bert;

static bool is_punct(uint32_t c)
{
    if (c < 128)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    return (aku_flags(c) & AKU_PUNCT) != 0;
}

static akidb_status bp_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                             ak_tok_scratch *scr, ak_splits *out)
{
    (void)p;
    (void)scr;
    akidb_status st = AKIDB_OK;
    size_t word = 0;
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        uint32_t c = s[i];
        bool ws = c == ' ' || (aku_flags(c) & AKU_WSPACE);
        if (!ws && !is_punct(c))
            continue;
        if (i > word)
            st = ak_splits_push(out, s + word, i - word, at0 && word == 0);
        if (!ws && st == AKIDB_OK)
            st = ak_splits_push(out, s + i, 1, at0 && i == 0);
        word = i + 1;
    }
    if (n > word && st == AKIDB_OK)
        st = ak_splits_push(out, s + word, n - word, at0 && word == 0);
    return st;
}

static akidb_status bp_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    (void)j;
    static const ak_pretok one = {&ak_pretok_bert};
    (void)ld;
    *out = (ak_pretok *)&one;
    return AKIDB_OK;
}

static void bp_free(ak_pretok *p)
{
    (void)p;   /* stateless: the shared static instance */
}

const ak_pretok_kind ak_pretok_bert = {
    .type = "BertPreTokenizer",
    .from_json = bp_from_json,
    .split = bp_split,
    .free = bp_free,
};
