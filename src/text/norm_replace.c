/*
 * norm_replace.c - Hugging Face's Replace normalizer: every match of pattern
 * ({"String": s} matched literally, or {"Regex": r} in Oniguruma syntax) is
 * replaced by content (Gemma turns ' ' into '▁' this way).  Matches are the
 * Rust library's (onig find_iter), so an empty match inserts content too.
 * pattern and content are required.  Not per-character: a match may span
 * the places where the encoder would cut the text.
 */
#include "regex.h"
#include "tok_offsets.h"

#include <stdio.h>

extern const ak_norm_kind ak_norm_replace;

typedef struct rep_nz {
    ak_normalizer base;
    ak_regex *re;
    uint32_t *content;
    size_t n_content;
} rep_nz;

typedef struct rep_call {
    const rep_nz *r;
    const uint32_t *in;
    ak_cpbuf *out;
    size_t prev;
} rep_call;

static akidb_status on_match(void *ctx, size_t s, size_t e)
{
    rep_call *c = ctx;
    akidb_status st = ak_cpbuf_push(c->out, c->in + c->prev, s - c->prev);
    if (st == AKIDB_OK)
        st = ak_cpbuf_push(c->out, c->r->content, c->r->n_content);
    c->prev = e;
    return st;
}

static akidb_status rep_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                              ak_tok_scratch *scr, ak_cpbuf *out)
{
    (void)scr;
    if (n == 0)
        return AKIDB_OK;   /* Rust: an empty text has no matches, not even empty ones */
    rep_call c = {.r = (const rep_nz *)nz, .in = in, .out = out, .prev = 0};
    akidb_status st = ak_regex_each(c.r->re, in, n, on_match, &c);
    if (st == AKIDB_OK)
        st = ak_cpbuf_push(out, in + c.prev, n - c.prev);
    return st;
}

/* Offsets (tok_offsets.h): kept characters keep their index; the
 * replacement of a match takes the index of the match's last character (of
 * the character before an empty match; -1 at the start), as Rust's replace
 * inserts it after removing the match. */
typedef struct rep_src_call {
    rep_call c;
    ak_idbuf *src;
} rep_src_call;

static akidb_status on_match_src(void *ctx, size_t s, size_t e)
{
    rep_src_call *c = ctx;
    akidb_status st = ak_idbuf_reserve(c->src, (s - c->c.prev) + c->c.r->n_content);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = c->c.prev; i < s; i++)
        c->src->v[c->src->n++] = (int32_t)i;
    int32_t at = e > s ? (int32_t)e - 1 : (int32_t)s - 1;
    for (size_t i = 0; i < c->c.r->n_content; i++)
        c->src->v[c->src->n++] = at;
    return on_match(&c->c, s, e);
}

akidb_status ak_norm_replace_src(const ak_normalizer *nz, const uint32_t *in, size_t n,
                                 ak_cpbuf *out, ak_idbuf *src)
{
    if (n == 0)
        return AKIDB_OK;
    rep_src_call c = {{.r = (const rep_nz *)nz, .in = in, .out = out, .prev = 0}, src};
    akidb_status st = ak_regex_each(c.c.r->re, in, n, on_match_src, &c);
    if (st == AKIDB_OK)
        st = ak_idbuf_reserve(src, n - c.c.prev);
    for (size_t i = c.c.prev; st == AKIDB_OK && i < n; i++)
        src->v[src->n++] = (int32_t)i;
    if (st == AKIDB_OK)
        st = ak_cpbuf_push(out, in + c.c.prev, n - c.c.prev);
    return st;
}

static void rep_free(ak_normalizer *nz)
{
    rep_nz *r = (rep_nz *)nz;
    if (!r)
        return;
    ak_regex_free(r->re);
    ak_free(r->content);
    ak_free(r);
}

/* content as code points (JSON strings are valid UTF-8). */
static akidb_status decode_content(rep_nz *r, const json_t *cj, const ak_tok_load *ld)
{
    const char *str = json_string_value(cj);
    size_t len = json_string_length(cj);
    r->content = ak_malloc((len + 1) * sizeof *r->content);
    if (!r->content)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", ld->origin);
    size_t k = 0;
    for (size_t i = 0; i < len;)
        i += (size_t)ak_utf8_decode((const unsigned char *)str + i, &r->content[k++]);
    r->n_content = k;
    return AKIDB_OK;
}

static akidb_status rep_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    const char *pat, *content;
    bool is_regex;
    akidb_status st = ak_tj_pattern(j, "pattern", &pat, &is_regex, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_require(j, "content", ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_str(j, "content", NULL, &content, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    rep_nz *r = ak_calloc(1, sizeof *r);
    if (!r)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", ld->origin);
    r->base.kind = &ak_norm_replace;
    char field[256];
    snprintf(field, sizeof field, "%spattern.%s", ld->path ? ld->path : "",
             is_regex ? "Regex" : "String");
    const json_t *pj = json_object_get(json_object_get(j, "pattern"),
                                       is_regex ? "Regex" : "String");
    st = ak_regex_compile(pat, json_string_length(pj), !is_regex, ld->origin, field, &r->re);
    if (st == AKIDB_OK)
        st = decode_content(r, json_object_get(j, "content"), ld);
    if (st != AKIDB_OK) {
        rep_free(&r->base);
        return st;
    }
    *out = &r->base;
    return AKIDB_OK;
}

const ak_norm_kind ak_norm_replace = {
    .type = "Replace",
    .from_json = rep_from_json,
    .apply = rep_apply,
    .free = rep_free,
    .per_char = false,
};
