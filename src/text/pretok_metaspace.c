/*
 * pretok_metaspace.c - Hugging Face's Metaspace pre-tokenizer (SentencePiece
 * style models: T5, Llama 2, XLM-R ...): every ASCII space becomes the
 * replacement character (U+2581 "▁" in practice), one is prepended to the
 * split as prepend_scheme says, and with split (default true) the text is
 * cut before each replacement character (MergedWithNext).
 *
 * Fields as the Rust library reads them: replacement is required (one
 * character); prepend_scheme "always" (default), "first" (only a split that
 * begins the original text) or "never"; the legacy add_prefix_space: false
 * is accepted only with prepend_scheme "never".
 */
#include "regex.h"
#include "tok_offsets.h"

#include <string.h>

extern const ak_pretok_kind ak_pretok_metaspace;

typedef enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER } prepend_scheme;

typedef struct ms_pt {
    ak_pretok base;
    uint32_t repl;
    prepend_scheme scheme;
    bool split;
} ms_pt;

static bool is_repl(uint32_t c, const void *ctx)
{
    return c == *(const uint32_t *)ctx;
}

static akidb_status ms_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                             ak_tok_scratch *scr, ak_splits *out)
{
    const ms_pt *ms = (const ms_pt *)p;
    size_t bytes;
    if (ak_mul_overflow(n + 1, sizeof *s, &bytes))
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
    uint32_t *t = ak_tok_scratch_get(scr, 0, bytes);
    if (!t)
        return AKIDB_ENOMEM;
    bool starts = n > 0 && (s[0] == ' ' || s[0] == ms->repl);
    bool prepend = !starts && (ms->scheme == PREPEND_ALWAYS ||
                               (ms->scheme == PREPEND_FIRST && at0));
    size_t k = 0;
    if (prepend)
        t[k++] = ms->repl;
    for (size_t i = 0; i < n; i++)
        t[k++] = s[i] == ' ' ? ms->repl : s[i];
    if (!ms->split)
        return ak_splits_push(out, t, k, at0);
    return ak_char_split(t, k, is_repl, &ms->repl, AK_SPLIT_MERGED_WITH_NEXT, at0, out);
}

uint32_t ak_pretok_metaspace_repl(const ak_pretok *p)
{
    return ((const ms_pt *)p)->repl;
}

static void ms_free(ak_pretok *p)
{
    ak_free(p);
}

static akidb_status ms_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    uint32_t repl;
    const char *scheme;
    bool split, aps;
    akidb_status st = ak_tj_char(j, "replacement", &repl, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_str(j, "prepend_scheme", "always", &scheme, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_bool(j, "split", true, &split, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_bool(j, "add_prefix_space", true, &aps, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    prepend_scheme ps;
    if (strcmp(scheme, "always") == 0)
        ps = PREPEND_ALWAYS;
    else if (strcmp(scheme, "first") == 0)
        ps = PREPEND_FIRST;
    else if (strcmp(scheme, "never") == 0)
        ps = PREPEND_NEVER;
    else
        return ak_fail(AKIDB_EFORMAT, "%s: %sprepend_scheme: unknown value \"%s\" (expected "
                       "first, never or always)", ld->origin, ld->path ? ld->path : "",
                       scheme);
    if (!aps && ps != PREPEND_NEVER)
        return ak_fail(AKIDB_EFORMAT, "%s: %sadd_prefix_space: false does not match "
                       "prepend_scheme \"%s\"", ld->origin, ld->path ? ld->path : "", scheme);
    ms_pt *ms = ak_calloc(1, sizeof *ms);
    if (!ms)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", ld->origin);
    ms->base.kind = &ak_pretok_metaspace;
    ms->repl = repl;
    ms->scheme = ps;
    ms->split = split;
    *out = &ms->base;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_metaspace = {
    .type = "Metaspace",
    .from_json = ms_from_json,
    .split = ms_split,
    .free = ms_free,
};
