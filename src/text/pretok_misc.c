/*
 * pretok_misc.c - the small pre-tokenizers of Hugging Face tokenizers, each a
 * fixed rule over characters:
 *
 *   Whitespace          words of \w characters and runs of other
 *                       non-space characters (the Rust regex \w+|[^\w\s]+);
 *                       whitespace is dropped
 *   WhitespaceSplit     cut at whitespace (White_Space), which is dropped
 *   Punctuation         each punctuation character (ASCII punctuation or
 *                       Unicode P*) is a delimiter; behavior (default
 *                       Isolated) says what becomes of it
 *   Digits              runs of numeric characters (Rust's char::is_numeric:
 *                       N*) apart; individual_digits: each one alone
 *   UnicodeScripts      cut where the Unicode script changes (Rust's rule:
 *                       Hiragana, Katakana and U+30FC count as Han; ' ' and
 *                       unassigned code points join either side; whatever
 *                       precedes the first character of a script is dropped)
 *   CharDelimiterSplit  cut at one character, which is dropped
 *
 * Character classes come from unicode.h (the data sets the Rust library
 * uses); Digits' N* comes from the regex engine's tables.
 */
#include "regex.h"
#include "unicode.h"

#include <string.h>

extern const ak_pretok_kind ak_pretok_whitespace;
extern const ak_pretok_kind ak_pretok_whitespace_split;
extern const ak_pretok_kind ak_pretok_punctuation;
extern const ak_pretok_kind ak_pretok_digits;
extern const ak_pretok_kind ak_pretok_unicode_scripts;
extern const ak_pretok_kind ak_pretok_char_delimiter_split;

static bool is_space(uint32_t c, const void *ctx)
{
    (void)ctx;
    return (aku_flags(c) & AKU_WSPACE) != 0;
}

/* Rust: char::is_ascii_punctuation(c) || unicode_categories is_punctuation(c). */
static bool is_punct(uint32_t c, const void *ctx)
{
    (void)ctx;
    if (c < 128)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    return (aku_flags(c) & AKU_PUNCT) != 0;
}

static bool is_char(uint32_t c, const void *ctx)
{
    return c == *(const uint32_t *)ctx;
}

/* ---- stateless kinds ----------------------------------------------------- */

static void no_free(ak_pretok *p)
{
    (void)p;   /* the shared static instance */
}

static akidb_status ws_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                             ak_tok_scratch *scr, ak_splits *out)
{
    (void)p;
    (void)scr;
    akidb_status st = AKIDB_OK;
    size_t i = 0;
    while (i < n && st == AKIDB_OK) {
        unsigned f = aku_flags(s[i]);
        if (f & AKU_WORD) {
            size_t j = i + 1;
            while (j < n && (aku_flags(s[j]) & AKU_WORD))
                j++;
            st = ak_splits_push(out, s + i, j - i, at0 && i == 0);
            i = j;
        } else if (f & AKU_WSPACE) {
            i++;
        } else {
            size_t j = i + 1;
            while (j < n && !(aku_flags(s[j]) & (AKU_WORD | AKU_WSPACE)))
                j++;
            st = ak_splits_push(out, s + i, j - i, at0 && i == 0);
            i = j;
        }
    }
    return st;
}

static akidb_status ws_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    (void)j;
    (void)ld;
    static const ak_pretok one = {&ak_pretok_whitespace};
    *out = (ak_pretok *)&one;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_whitespace = {
    .type = "Whitespace",
    .from_json = ws_from_json,
    .split = ws_split,
    .free = no_free,
};

static akidb_status wss_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                              ak_tok_scratch *scr, ak_splits *out)
{
    (void)p;
    (void)scr;
    return ak_char_split(s, n, is_space, NULL, AK_SPLIT_REMOVED, at0, out);
}

static akidb_status wss_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    (void)j;
    (void)ld;
    static const ak_pretok one = {&ak_pretok_whitespace_split};
    *out = (ak_pretok *)&one;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_whitespace_split = {
    .type = "WhitespaceSplit",
    .from_json = wss_from_json,
    .split = wss_split,
    .free = no_free,
};

/* ---- UnicodeScripts ------------------------------------------------------ */

#define SCRIPT_ANY (-1)

/* Rust's fixed_script: the SentencePiece rules on top of the Script table. */
static int fixed_script(uint32_t c)
{
    if (c == 0x30FC)
        return AKU_SCRIPT_HAN;
    if (c == ' ')
        return SCRIPT_ANY;
    int sc = aku_script(c);
    if (sc == AKU_SCRIPT_UNKNOWN)
        return SCRIPT_ANY;   /* Rust's table: unlisted code points are Any */
    if (sc == AKU_SCRIPT_HIRAGANA || sc == AKU_SCRIPT_KATAKANA)
        return AKU_SCRIPT_HAN;
    return sc;
}

static akidb_status us_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                             ak_tok_scratch *scr, ak_splits *out)
{
    (void)p;
    (void)scr;
    /* A cut before every character whose script differs from the last
     * non-Any script seen, the first such character included; pieces run
     * from cut to cut and the last one to the end. */
    akidb_status st = AKIDB_OK;
    int last = SCRIPT_ANY;
    bool cut = false;
    size_t start = 0;
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        int sc = fixed_script(s[i]);
        if (sc == SCRIPT_ANY)
            continue;
        if (sc != last) {
            if (cut)
                st = ak_splits_push(out, s + start, i - start, at0 && start == 0);
            cut = true;
            start = i;
        }
        last = sc;
    }
    if (cut && st == AKIDB_OK)
        st = ak_splits_push(out, s + start, n - start, at0 && start == 0);
    return st;
}

static akidb_status us_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    (void)j;
    (void)ld;
    static const ak_pretok one = {&ak_pretok_unicode_scripts};
    *out = (ak_pretok *)&one;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_unicode_scripts = {
    .type = "UnicodeScripts",
    .from_json = us_from_json,
    .split = us_split,
    .free = no_free,
};

/* ---- kinds with a parameter ---------------------------------------------- */

typedef struct param_pt {
    ak_pretok base;
    ak_split_behavior behavior;   /* Punctuation                         */
    uint32_t delim;               /* CharDelimiterSplit                  */
    ak_regex *re;                 /* Digits: \p{N}+ or \p{N}             */
} param_pt;

static void param_free(ak_pretok *p)
{
    param_pt *pp = (param_pt *)p;
    if (!pp)
        return;
    ak_regex_free(pp->re);
    ak_free(pp);
}

static akidb_status param_new(const ak_pretok_kind *kind, const ak_tok_load *ld,
                              param_pt **out)
{
    *out = ak_calloc(1, sizeof **out);
    if (!*out)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", ld->origin);
    (*out)->base.kind = kind;
    return AKIDB_OK;
}

static akidb_status punct_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                                ak_tok_scratch *scr, ak_splits *out)
{
    (void)scr;
    return ak_char_split(s, n, is_punct, NULL, ((const param_pt *)p)->behavior, at0, out);
}

static akidb_status punct_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    const char *beh;
    ak_split_behavior b;
    akidb_status st = ak_tj_str(j, "behavior", "Isolated", &beh, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_split_behavior_parse(beh, &b, ld->origin, ld->path, "behavior");
    param_pt *pp = NULL;
    if (st == AKIDB_OK)
        st = param_new(&ak_pretok_punctuation, ld, &pp);
    if (st != AKIDB_OK)
        return st;
    pp->behavior = b;
    *out = &pp->base;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_punctuation = {
    .type = "Punctuation",
    .from_json = punct_from_json,
    .split = punct_split,
    .free = param_free,
};

static akidb_status digits_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                                 ak_tok_scratch *scr, ak_splits *out)
{
    (void)scr;
    /* Rust: split(is_numeric, Contiguous or Isolated) == Isolated split at
     * the matches of \p{N}+ or \p{N} */
    return ak_regex_split(((const param_pt *)p)->re, s, n, false, AK_SPLIT_ISOLATED, at0,
                          out);
}

static akidb_status digits_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    bool each;
    akidb_status st = ak_tj_require(j, "individual_digits", ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_bool(j, "individual_digits", false, &each, ld->origin, ld->path);
    param_pt *pp = NULL;
    if (st == AKIDB_OK)
        st = param_new(&ak_pretok_digits, ld, &pp);
    if (st != AKIDB_OK)
        return st;
    const char *pat = each ? "\\p{N}" : "\\p{N}+";
    st = ak_regex_compile(pat, strlen(pat), false, ld->origin, "Digits", &pp->re);
    if (st != AKIDB_OK) {
        param_free(&pp->base);
        return st;
    }
    *out = &pp->base;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_digits = {
    .type = "Digits",
    .from_json = digits_from_json,
    .split = digits_split,
    .free = param_free,
};

static akidb_status cds_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                              ak_tok_scratch *scr, ak_splits *out)
{
    (void)scr;
    const param_pt *pp = (const param_pt *)p;
    return ak_char_split(s, n, is_char, &pp->delim, AK_SPLIT_REMOVED, at0, out);
}

static akidb_status cds_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    uint32_t d;
    akidb_status st = ak_tj_char(j, "delimiter", &d, ld->origin, ld->path);
    param_pt *pp = NULL;
    if (st == AKIDB_OK)
        st = param_new(&ak_pretok_char_delimiter_split, ld, &pp);
    if (st != AKIDB_OK)
        return st;
    pp->delim = d;
    *out = &pp->base;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_char_delimiter_split = {
    .type = "CharDelimiterSplit",
    .from_json = cds_from_json,
    .split = cds_split,
    .free = param_free,
};
