/*
 * added.c - added tokens (tokenizer.json "added_tokens"): found in the text
 * before the model runs, as Hugging Face tokenizers' AddedVocabulary does.
 * Tokens with normalized = false are matched in the raw text, the others in
 * the normalised text; matching is leftmost-longest, with the single_word,
 * lstrip and rstrip rules of the Rust library.
 */
#include "tok_internal.h"
#include "unicode.h"

#include <stdlib.h>
#include <string.h>

static int cmp_added(const void *pa, const void *pb)
{
    const ak_added *a = pa, *b = pb;
    if (a->cps[0] != b->cps[0])
        return a->cps[0] < b->cps[0] ? -1 : 1;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return 0;
}

void ak_matcher_free(ak_matcher *m)
{
    for (size_t i = 0; i < m->n; i++)
        ak_free(m->tok[i].cps);
    ak_free(m->tok);
    memset(m, 0, sizeof *m);
}

/* Adds one token (content cps[0..n)) to m. */
static akidb_status add_one(ak_matcher *m, const ak_added_spec *s, const uint32_t *cps,
                            size_t n, const char *origin)
{
    ak_added *t = &m->tok[m->n];
    t->cps = ak_malloc(n * sizeof *t->cps);
    if (!t->cps)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    memcpy(t->cps, cps, n * sizeof *t->cps);
    t->n = n;
    t->id = s->id;
    t->single_word = s->single_word;
    t->lstrip = s->lstrip;
    t->rstrip = s->rstrip;
    m->n++;
    m->first_bloom |= 1ull << (cps[0] & 63);
    return AKIDB_OK;
}

akidb_status ak_added_build(akidb_tokenizer *tok, const ak_added_spec *specs, size_t n,
                            const char *origin)
{
    if (n == 0)
        return AKIDB_OK;
    tok->raw.tok = ak_calloc(n, sizeof *tok->raw.tok);
    tok->norm_m.tok = ak_calloc(n, sizeof *tok->norm_m.tok);
    if (!tok->raw.tok || !tok->norm_m.tok)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    ak_cpbuf dec = {0}, a = {0}, b = {0};
    ak_tok_scratch scr = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        const ak_added_spec *s = &specs[i];
        size_t blen = strlen(s->content);
        dec.n = 0;
        if (blen == 0 || (st = ak_cpbuf_reserve(&dec, blen)) != AKIDB_OK)
            continue;
        for (size_t k = 0; k < blen;)
            k += (size_t)ak_utf8_decode((const unsigned char *)s->content + k,
                                        &dec.v[dec.n++]);
        const ak_cpbuf *cps = &dec;
        if (s->normalized && tok->n_norm &&
            (st = ak_tok_normalize(tok, dec.v, dec.n, &scr, &a, &b, &cps)) != AKIDB_OK)
            break;
        if (cps->n)
            st = add_one(s->normalized ? &tok->norm_m : &tok->raw, s, cps->v, cps->n, origin);
    }
    ak_cpbuf_free(&dec);
    ak_cpbuf_free(&a);
    ak_cpbuf_free(&b);
    ak_tok_scratch_free(&scr);
    if (st != AKIDB_OK)
        return st;
    qsort(tok->raw.tok, tok->raw.n, sizeof *tok->raw.tok, cmp_added);
    qsort(tok->norm_m.tok, tok->norm_m.n, sizeof *tok->norm_m.tok, cmp_added);
    return AKIDB_OK;
}

/* The longest token of m that starts at s[p], or NULL. */
static const ak_added *longest_at(const ak_matcher *m, const uint32_t *s, size_t n, size_t p)
{
    uint32_t c = s[p];
    size_t lo = 0, hi = m->n;  /* first token whose first cp >= c */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->tok[mid].cps[0] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k < m->n && m->tok[k].cps[0] == c; k++) {
        const ak_added *a = &m->tok[k];
        if (a->n <= n - p && memcmp(a->cps, s + p, a->n * sizeof *s) == 0)
            return a;
    }
    return NULL;
}

bool ak_added_next(const ak_matcher *m, const uint32_t *s, size_t n, size_t from,
                   size_t floor, size_t *ms, size_t *me, int32_t *id)
{
    size_t p = from;
    while (p < n) {
        if (!((m->first_bloom >> (s[p] & 63)) & 1)) {
            p++;
            continue;
        }
        const ak_added *hit = longest_at(m, s, n, p);
        if (!hit) {
            p++;
            continue;
        }
        size_t end = p + hit->n;
        if (hit->single_word &&
            ((p > 0 && (aku_flags(s[p - 1]) & AKU_WORD)) ||
             (end < n && (aku_flags(s[end]) & AKU_WORD)))) {
            p = end;
            continue;
        }
        size_t st = p;
        if (hit->lstrip)
            while (st > floor && (aku_flags(s[st - 1]) & AKU_WSPACE))
                st--;
        if (hit->rstrip)
            while (end < n && (aku_flags(s[end]) & AKU_WSPACE))
                end++;
        *ms = st;
        *me = end;
        *id = hit->id;
        return true;
    }
    return false;
}
