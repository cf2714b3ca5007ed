/*
 * dec_misc.c - the per-token rewriting decoders of Hugging Face tokenizers
 * (Rust): Replace (a String or Regex pattern), BPEDecoder (the end-of-word
 * suffix becomes a space), Strip (cut a character from both ends) and CTC
 * (speech models: duplicates collapse, the pad token goes).
 *
 * Rust's behaviours, kept on purpose (tests/ref/decode_ref.mjs records them
 * from the Rust library itself):
 *   - str::replace with an empty pattern inserts the replacement at every
 *     character boundary, both ends included ("ab" -> "XaXbX");
 *   - Replace turns an empty token into an empty string even for an empty
 *     pattern (its find_matches reports no match in "");
 *   - Strip panics in Rust when the cuts overlap (a token made only of
 *     `content`, shorter than start + stop); here it gives "".
 * A Regex pattern of Replace goes through regex.h (Oniguruma's semantics on
 * PCRE2).
 */
#include "dec_common.h"
#include "regex.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

extern const ak_decoder_kind ak_dec_strip, ak_dec_replace, ak_dec_bpe, ak_dec_ctc;

/* ---- BPEDecoder and Replace --------------------------------------------------- */

typedef struct dec_repl {
    ak_decoder base;
    char *pat, *content;   /* Replace: pattern, content; BPEDecoder: suffix   */
    size_t pat_len, content_len;
    ak_regex *re;          /* Replace with a Regex pattern                    */
} dec_repl;

static akidb_status bpe_map(const ak_decoder *d, const ak_strs *toks, size_t i, ak_dbuf *out)
{
    const dec_repl *r = (const dec_repl *)d;
    const char *sep = i + 1 == toks->n ? "" : " ";
    return ak_dec_str_replace(out, toks->v[i], toks->len[i], r->pat, r->pat_len, sep,
                              strlen(sep));
}

static akidb_status bpe_decode(const ak_decoder *d, ak_strs *toks)
{
    return ak_dec_map(d, toks, bpe_map);
}

/* A String pattern: Rust runs the escaped string through its regex engine,
 * which finds what str::replace finds, except that an empty token stays
 * empty. */
static akidb_status repl_map(const ak_decoder *d, const ak_strs *toks, size_t i, ak_dbuf *out)
{
    const dec_repl *r = (const dec_repl *)d;
    if (toks->len[i] == 0)
        return AKIDB_OK;
    return ak_dec_str_replace(out, toks->v[i], toks->len[i], r->pat, r->pat_len, r->content,
                              r->content_len);
}

/* A Regex pattern: the matches in s[0..n) (Oniguruma's find_iter, through
 * regex.h) become content, the text between them is kept. */
static akidb_status regex_map(const dec_repl *r, const char *s, size_t n, ak_tok_scratch *scr,
                              ak_dbuf *out)
{
    size_t nc = 0, b1, b2;
    if (ak_mul_overflow(n + 1, sizeof(uint32_t), &b1) ||
        ak_mul_overflow(n + 1, sizeof(size_t), &b2))
        return ak_dec_oom();
    /* slots 0 and 1 hold the pieces (regex.h) */
    uint32_t *cps = ak_tok_scratch_get(scr, 2, b1);
    size_t *at = ak_tok_scratch_get(scr, 3, b2);   /* byte offset of code point i */
    if (!cps || !at)
        return AKIDB_ENOMEM;
    for (size_t i = 0; i < n;) {
        size_t k = ak_dec_u8_len(s + i, n - i);
        at[nc] = i;
        cps[nc++] = ak_dec_u8_cp(s + i, k);
        i += k;
    }
    at[nc] = n;
    const ak_piece *pc;
    size_t np;
    akidb_status st = ak_regex_pieces(r->re, cps, nc, false, scr, 0, &pc, &np);
    for (size_t p = 0; p < np && st == AKIDB_OK; p++)
        st = pc[p].match ? ak_dbuf_put(out, r->content, r->content_len)
                         : ak_dbuf_put(out, s + at[pc[p].s], at[pc[p].e] - at[pc[p].s]);
    return st;
}

static akidb_status repl_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_repl *r = (const dec_repl *)d;
    if (!r->re)
        return ak_dec_map(d, toks, repl_map);
    ak_tok_scratch scr = {0};
    ak_dbuf b = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++)
        if ((st = ak_dbuf_reset(&b)) == AKIDB_OK &&
            (st = regex_map(r, toks->v[i], toks->len[i], &scr, &b)) == AKIDB_OK)
            st = ak_strs_set(toks, i, b.v, b.n);
    ak_tok_scratch_free(&scr);
    ak_dbuf_free(&b);
    return st;
}

static void repl_free(ak_decoder *d)
{
    if (!d)
        return;
    if (((dec_repl *)d)->re)
        ak_regex_free(((dec_repl *)d)->re);
    ak_free(((dec_repl *)d)->pat);
    ak_free(((dec_repl *)d)->content);
    ak_free(d);
}

static akidb_status repl_new(const ak_decoder_kind *kind, const char *pat, size_t pn,
                             const char *content, size_t cn, ak_decoder **out)
{
    dec_repl *d = ak_calloc(1, sizeof *d);
    if (!d || !(d->pat = ak_strndup(pat, pn)) || !(d->content = ak_strndup(content, cn))) {
        repl_free(d ? &d->base : NULL);
        return ak_dec_oom();
    }
    d->base.kind = kind;
    d->pat_len = pn;
    d->content_len = cn;
    *out = &d->base;
    return AKIDB_OK;
}

static akidb_status bpe_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    const char *suffix;
    akidb_status st;
    if ((st = ak_dec_need_object(j, ld)) ||
        (st = ak_tj_str(j, "suffix", NULL, &suffix, ld->origin, ld->path)))
        return st;
    if (!suffix)
        return ak_dec_missing(ld, "suffix");
    return repl_new(&ak_dec_bpe, suffix, json_string_length(json_object_get(j, "suffix")), "",
                    0, out);
}

static akidb_status repl_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    const char *pat, *content;
    bool is_regex;
    akidb_status st;
    if ((st = ak_dec_need_object(j, ld)) ||
        (st = ak_tj_pattern(j, "pattern", &pat, &is_regex, ld->origin, ld->path)) ||
        (st = ak_tj_str(j, "content", NULL, &content, ld->origin, ld->path)))
        return st;
    if (!content)
        return ak_dec_missing(ld, "content");
    /* the pattern's string, its length counted by jansson (it may hold NULs) */
    size_t pn = json_string_length(
        json_object_get(json_object_get(j, "pattern"), is_regex ? "Regex" : "String"));
    size_t cn = json_string_length(json_object_get(j, "content"));
    if ((st = repl_new(&ak_dec_replace, pat, pn, content, cn, out)) != AKIDB_OK || !is_regex)
        return st;
    char f[192];
    snprintf(f, sizeof f, "%.160spattern", ld->path);
    dec_repl *r = (dec_repl *)*out;
    if ((st = ak_regex_compile(pat, pn, false, ld->origin, f, &r->re)) != AKIDB_OK) {
        repl_free(*out);
        *out = NULL;
    }
    return st;
}

/* ---- Strip -------------------------------------------------------------------- */

typedef struct dec_strip {
    ak_decoder base;
    uint32_t content;
    size_t start, stop;
} dec_strip;

/* Byte offset where the trailing run of content in s[0..n) starts, keeping at
 * most `stop` characters of it; n when there is none. */
static size_t strip_trail(const dec_strip *sp, const char *s, size_t n)
{
    size_t trail = n, run = 0, i;
    for (i = 0; i < n;) {
        size_t k = ak_dec_u8_len(s + i, n - i);
        if (ak_dec_u8_cp(s + i, k) == sp->content) {
            if (run++ == 0)
                trail = i;
        } else {
            run = 0;
            trail = n;
        }
        i += k;
    }
    for (i = trail; run > sp->stop;) {   /* keep only the last `stop` of the run */
        i += ak_dec_u8_len(s + i, n - i);
        run--;
        trail = i;
    }
    return trail;
}

static akidb_status strip_map(const ak_decoder *d, const ak_strs *toks, size_t t, ak_dbuf *out)
{
    const dec_strip *sp = (const dec_strip *)d;
    const char *s = toks->v[t];
    size_t n = toks->len[t], lead = 0, nchars = 0;
    /* byte offset after the leading run (at most `start` characters) */
    for (size_t i = 0; i < n && nchars < sp->start;) {
        size_t k = ak_dec_u8_len(s + i, n - i);
        if (ak_dec_u8_cp(s + i, k) != sp->content)
            break;
        i += k;
        nchars++;
        lead = i;
    }
    size_t trail = sp->stop > 0 ? strip_trail(sp, s, n) : n;
    if (lead >= trail)   /* the cuts meet or overlap (Rust panics on overlap) */
        return AKIDB_OK;
    return ak_dbuf_put(out, s + lead, trail - lead);
}

static akidb_status strip_decode(const ak_decoder *d, ak_strs *toks)
{
    return ak_dec_map(d, toks, strip_map);
}

static akidb_status strip_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    uint32_t cp;
    long long start, stop;
    akidb_status st;
    if ((st = ak_dec_need_object(j, ld)) || (st = ak_dec_req_char(j, "content", ld, &cp)))
        return st;
    if (!json_object_get(j, "start"))
        return ak_dec_missing(ld, "start");
    if (!json_object_get(j, "stop"))
        return ak_dec_missing(ld, "stop");
    if ((st = ak_tj_int(j, "start", -1, 0, LLONG_MAX, &start, ld->origin, ld->path)) ||
        (st = ak_tj_int(j, "stop", -1, 0, LLONG_MAX, &stop, ld->origin, ld->path)))
        return st;
    if (start < 0 || stop < 0)
        return ak_dec_missing(ld, start < 0 ? "start" : "stop");
    dec_strip *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_dec_oom();
    d->base.kind = &ak_dec_strip;
    d->content = cp;
    d->start = (size_t)start;
    d->stop = (size_t)stop;
    *out = &d->base;
    return AKIDB_OK;
}

/* ---- CTC ------------------------------------------------------------------------- */

typedef struct dec_ctc {
    ak_decoder base;
    char *pad, *delim;
    size_t pad_len, delim_len;
    bool cleanup;
} dec_ctc;

/* Rust: consecutive duplicates collapse; the pad token is deleted; with
 * cleanup, WordPiece's cleanup runs and the word delimiter becomes a space;
 * tokens left empty are dropped. */
static akidb_status ctc_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_ctc *c = (const dec_ctc *)d;
    ak_strs out = {0};
    ak_dbuf a = {0}, b = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++) {
        const char *s = toks->v[i];
        size_t n = toks->len[i];
        if (i > 0 && n == toks->len[i - 1] && memcmp(s, toks->v[i - 1], n) == 0)
            continue;
        if ((st = ak_dbuf_reset(&a)) ||
            (st = ak_dec_str_replace(&a, s, n, c->pad, c->pad_len, "", 0)))
            break;
        if (c->cleanup) {
            if ((st = ak_dec_wordpiece_cleanup(&a, &b)) || (st = ak_dbuf_reset(&b)) ||
                (st = ak_dec_str_replace(&b, a.v, a.n, c->delim, c->delim_len, " ", 1)))
                break;
            ak_dbuf x = a;
            a = b;
            b = x;
        }
        if (a.n)
            st = ak_strs_push(&out, a.v, a.n);
    }
    if (st == AKIDB_OK)
        ak_strs_move(toks, &out);
    ak_strs_free(&out);
    ak_dbuf_free(&a);
    ak_dbuf_free(&b);
    return st;
}

static void ctc_free(ak_decoder *d)
{
    if (!d)
        return;
    ak_free(((dec_ctc *)d)->pad);
    ak_free(((dec_ctc *)d)->delim);
    ak_free(d);
}

static akidb_status ctc_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    dec_ctc *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_dec_oom();
    d->base.kind = &ak_dec_ctc;
    akidb_status st;
    if ((st = ak_dec_need_object(j, ld)) ||
        (st = ak_dec_req_str(j, "pad_token", ld, &d->pad, &d->pad_len)) ||
        (st = ak_dec_req_str(j, "word_delimiter_token", ld, &d->delim, &d->delim_len)) ||
        (st = ak_dec_req_bool(j, "cleanup", ld, &d->cleanup))) {
        ctc_free(&d->base);
        return st;
    }
    *out = &d->base;
    return AKIDB_OK;
}

/* ---- the kinds --------------------------------------------------------------------- */

const ak_decoder_kind ak_dec_strip = {"Strip", strip_from_json, strip_decode, ak_dec_plain_free};
const ak_decoder_kind ak_dec_replace = {"Replace", repl_from_json, repl_decode, repl_free};
const ak_decoder_kind ak_dec_bpe = {"BPEDecoder", bpe_from_json, bpe_decode, repl_free};
const ak_decoder_kind ak_dec_ctc = {"CTC", ctc_from_json, ctc_decode, ctc_free};
