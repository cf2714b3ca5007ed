/*
 * pretok_split.c - Hugging Face's Split pre-tokenizer: cuts each split at the
 * matches of a pattern ({"String": s}, matched literally, or {"Regex": r},
 * Oniguruma syntax) and keeps, drops or attaches the matches as `behavior`
 * says; `invert` makes the matches the words and the gaps the delimiters.
 * pattern, behavior and invert are all required, as in the Rust library.
 */
#include "regex.h"

#include <stdio.h>

extern const ak_pretok_kind ak_pretok_split;

typedef struct split_pt {
    ak_pretok base;
    ak_regex *re;
    ak_split_behavior behavior;
    bool invert;
} split_pt;

static akidb_status sp_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                             ak_tok_scratch *scr, ak_splits *out)
{
    (void)scr;
    const split_pt *sp = (const split_pt *)p;
    return ak_regex_split(sp->re, s, n, sp->invert, sp->behavior, at0, out);
}

static void sp_free(ak_pretok *p)
{
    split_pt *sp = (split_pt *)p;
    if (!sp)
        return;
    ak_regex_free(sp->re);
    ak_free(sp);
}

static akidb_status sp_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    const char *pat, *beh;
    bool is_regex, invert;
    akidb_status st = ak_tj_pattern(j, "pattern", &pat, &is_regex, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_require(j, "behavior", ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_str(j, "behavior", NULL, &beh, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_require(j, "invert", ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_bool(j, "invert", false, &invert, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    split_pt *sp = ak_calloc(1, sizeof *sp);
    if (!sp)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", ld->origin);
    sp->base.kind = &ak_pretok_split;
    sp->invert = invert;
    char field[256];
    snprintf(field, sizeof field, "%spattern.%s", ld->path ? ld->path : "",
             is_regex ? "Regex" : "String");
    st = ak_split_behavior_parse(beh, &sp->behavior, ld->origin, ld->path, "behavior");
    if (st == AKIDB_OK) {
        const json_t *pj = json_object_get(json_object_get(j, "pattern"),
                                           is_regex ? "Regex" : "String");
        st = ak_regex_compile(pat, json_string_length(pj), !is_regex, ld->origin, field,
                              &sp->re);
    }
    if (st != AKIDB_OK) {
        sp_free(&sp->base);
        return st;
    }
    *out = &sp->base;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_split = {
    .type = "Split",
    .from_json = sp_from_json,
    .split = sp_split,
    .free = sp_free,
};
