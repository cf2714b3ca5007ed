/*
 * fuzz_pretok.c - libFuzzer target: the regex layer and the pre-tokenizers
 * on arbitrary input.  The first byte picks what runs:
 *   even: the bytes up to the first NUL are a Split regex (Oniguruma syntax),
 *         compiled and run with the behavior the first byte selects on the
 *         rest as text; a pattern may be refused with a status, never crash;
 *   odd:  one of the fixed configurations (Qwen3, GPT-2, Metaspace, the
 *         small kinds, Replace) on the rest as text.
 * Text that is not UTF-8 is skipped (the encoder rejects it before this
 * layer).  Checked on every input: Isolated and Contiguous splits put back
 * together give the text; Removed, Merged* splits are pieces of it in
 * order; ByteLevel without its regex yields one character per UTF-8 byte.
 */
#include "akidb.h"
#include "common/common.h"
#include "text/regex.h"
#include "text/tok_parts.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const ak_pretok_kind ak_pretok_split, ak_pretok_bytelevel, ak_pretok_metaspace,
    ak_pretok_whitespace, ak_pretok_whitespace_split, ak_pretok_punctuation,
    ak_pretok_digits, ak_pretok_unicode_scripts, ak_pretok_char_delimiter_split;
extern const ak_norm_kind ak_norm_replace;

static const struct {
    const ak_pretok_kind *kind;
    const char *json;
} fixed[] = {
    {&ak_pretok_split,
     "{\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?"
     "\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
     "\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false}"},
    {&ak_pretok_bytelevel, "{\"add_prefix_space\":true,\"trim_offsets\":true}"},
    {&ak_pretok_bytelevel,
     "{\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}"},
    {&ak_pretok_metaspace, "{\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\"}"},
    {&ak_pretok_whitespace, "{}"},
    {&ak_pretok_whitespace_split, "{}"},
    {&ak_pretok_punctuation, "{\"behavior\":\"MergedWithNext\"}"},
    {&ak_pretok_digits, "{\"individual_digits\":false}"},
    {&ak_pretok_unicode_scripts, "{}"},
    {&ak_pretok_char_delimiter_split, "{\"delimiter\":\" \"}"},
    {&ak_pretok_split,
     "{\"pattern\":{\"String\":\" \"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}"},
};

static const char *const behaviors[] = {
    "Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous",
};

/* Checks the splits against the text for the behavior (see the header). */
static void check_splits(const ak_splits *res, const uint32_t *s, size_t n, int behavior,
                         bool rewrites)
{
    if (rewrites)
        return;
    size_t pos = 0;
    for (size_t i = 0; i < res->n; i++) {
        const uint32_t *p = res->text.v + res->v[i].off;
        size_t len = res->v[i].len;
        if (behavior == 1 || behavior == 4) {   /* Isolated, Contiguous: exact cover */
            if (pos + len > n || memcmp(p, s + pos, len * sizeof *s) != 0)
                abort();
            pos += len;
            continue;
        }
        /* the next occurrence at or after pos */
        bool found = false;
        for (size_t k = pos; k + len <= n && !found; k++)
            if (memcmp(p, s + k, len * sizeof *s) == 0) {
                pos = k + len;
                found = true;
            }
        if (!found)
            abort();
    }
    if ((behavior == 1 || behavior == 4) && pos != n)
        abort();
}

static void run(const ak_pretok *p, const uint32_t *s, size_t n, int behavior, bool rewrites)
{
    ak_tok_scratch scr = {0};
    ak_splits res = {0};
    akidb_status st = n ? p->kind->split(p, s, n, true, &scr, &res) : AKIDB_OK;
    if (st != AKIDB_OK)
        abort();
    check_splits(&res, s, n, behavior, rewrites);
    ak_splits_free(&res);
    ak_tok_scratch_free(&scr);
}

static void fuzz_regex(const uint8_t *data, size_t size, const uint32_t *s, size_t n,
                       uint8_t sel)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    int behavior = (sel >> 1) % 5;
    bool invert = (sel >> 4) & 1;
    json_t *pat = json_stringn((const char *)data, plen);
    if (!pat)
        return;   /* not UTF-8 */
    json_t *j = json_pack("{s:{s:o}, s:s, s:b}", "pattern", "Regex", pat, "behavior",
                          behaviors[behavior], "invert", invert);
    ak_tok_load ld = {.origin = "fuzz.json", .path = "pre_tokenizer."};
    ak_pretok *p = NULL;
    if (j && ak_pretok_split.from_json(j, &ld, &p) == AKIDB_OK) {
        run(p, s, n, behavior, false);
        p->kind->free(p);
    }
    json_decref(j);
}

static void fuzz_fixed(const uint32_t *s, size_t n, uint8_t sel)
{
    size_t k = (sel >> 1) % (sizeof fixed / sizeof fixed[0] + 1);
    ak_tok_load ld = {.origin = "fuzz.json", .path = "x."};
    if (k == sizeof fixed / sizeof fixed[0]) {
        json_t *j = json_loads("{\"pattern\":{\"Regex\":\"\\\\s+|b*\"},\"content\":\"<>\"}", 0,
                               NULL);
        ak_normalizer *nz = NULL;
        if (!j || ak_norm_replace.from_json(j, &ld, &nz) != AKIDB_OK)
            abort();
        ak_cpbuf out = {0};
        ak_tok_scratch scr = {0};
        if (nz->kind->apply(nz, s, n, &scr, &out) != AKIDB_OK)
            abort();
        ak_cpbuf_free(&out);
        ak_tok_scratch_free(&scr);
        nz->kind->free(nz);
        json_decref(j);
        return;
    }
    json_t *j = json_loads(fixed[k].json, 0, NULL);
    ak_pretok *p = NULL;
    if (!j || fixed[k].kind->from_json(j, &ld, &p) != AKIDB_OK)
        abort();
    bool rewrites = fixed[k].kind == &ak_pretok_bytelevel ||
                    fixed[k].kind == &ak_pretok_metaspace;
    int behavior = k == 0 ? 1 : 0;   /* Qwen3 Split: Isolated; others: pieces */
    run(p, s, n, behavior, rewrites);
    if (k == 2 && n) {   /* ByteLevel without regex: one character per byte */
        ak_tok_scratch scr = {0};
        ak_splits res = {0};
        if (p->kind->split(p, s, n, true, &scr, &res) != AKIDB_OK || res.n != 1)
            abort();
        size_t bytes = 0;
        char u[4];
        for (size_t i = 0; i < n; i++)
            bytes += (size_t)ak_utf8_encode(s[i], u);
        if (res.v[0].len != bytes)
            abort();
        ak_splits_free(&res);
        ak_tok_scratch_free(&scr);
    }
    p->kind->free(p);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;
    /* the text: after the pattern's NUL (regex mode) or everything */
    const uint8_t *text = data;
    size_t tlen = size;
    if (!(sel & 1)) {
        const uint8_t *nul = memchr(data, 0, size);
        if (!nul)
            return 0;
        text = nul + 1;
        tlen = size - (size_t)(text - data);
    }
    size_t bad;
    if (!ak_utf8_valid((const char *)text, tlen, &bad))
        return 0;
    uint32_t *s = malloc((tlen + 1) * sizeof *s);
    if (!s)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < tlen;)
        i += (size_t)ak_utf8_decode(text + i, &s[n++]);
    if (sel & 1)
        fuzz_fixed(s, n, sel);
    else
        fuzz_regex(data, size, s, n, sel);
    free(s);
    return 0;
}
