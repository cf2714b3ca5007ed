/*
 * encode.c - akidb_tokenizer_encode: text -> ids exactly as Hugging Face
 * tokenizers' encode(text, add_special_tokens=True) with right truncation.
 *
 * Pipeline (as the Rust library): split the raw text at added tokens whose
 * normalized flag is false; normalise each piece in between; split it at
 * added tokens whose flag is true; pre-tokenise (whitespace removed, each
 * punctuation character alone); WordPiece each word; put the result inside
 * the single-sequence template.  Truncation keeps the first
 * max_tokens - (template specials) pieces.
 *
 * Cost stays linear: pieces of text are normalised in chunks of a few
 * thousand characters cut at ASCII whitespace (every step is per character
 * there, so the result is the same as for the whole text), and the work stops
 * once the truncated result is known to be full.
 */
#include "tok_internal.h"
#include "unicode.h"

#include <string.h>

#define CHUNK_CPS 4096  /* code points normalised at a time */

typedef struct enc {
    const akidb_tokenizer *tok;
    akidb_tokens *toks;
    size_t limit;          /* pieces kept (SIZE_MAX: no truncation)          */
    size_t pieces;         /* pieces produced so far                         */
    bool stopped;          /* result known to exceed the limit               */
    uint32_t *na, *nb;     /* normaliser scratch                             */
    size_t cna, cnb;
    char *w;               /* UTF-8 of the current word                      */
    size_t cw;
    size_t *woff;          /* byte offset of each character of the word      */
    size_t cwoff;
    int32_t *sub;          /* ids of the current word's pieces               */
    size_t csub;
} enc;

static akidb_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return AKIDB_OK;
    size_t nc = *cap ? *cap : 16, bytes;
    while (nc < need)
        nc *= 2;
    if (ak_mul_overflow(nc, elem, &bytes))
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
    void *np = ak_realloc(*p, bytes);
    if (!np)
        return ak_fail(AKIDB_ENOMEM, "out of memory tokenizing a text");
    *p = np;
    *cap = nc;
    return AKIDB_OK;
}

/* Adds one piece of sequence A. */
static akidb_status emit(enc *e, int32_t id)
{
    if (e->pieces >= e->limit) {
        e->pieces++;
        e->stopped = true;
        return AKIDB_OK;
    }
    akidb_tokens *t = e->toks;
    size_t at = e->tok->n_pre + e->pieces;
    akidb_status st = grow((void **)&t->ids, &t->cap, at + 1 + e->tok->n_post,
                           sizeof *t->ids);
    if (st != AKIDB_OK)
        return st;
    t->ids[at] = id;
    e->pieces++;
    return AKIDB_OK;
}

static akidb_status emit_unk(enc *e)
{
    if (e->tok->unk_id < 0)
        return ak_fail(AKIDB_EFORMAT, "tokenizer: unk token '%s' is not in the vocabulary",
                       e->tok->unk_token);
    return emit(e, e->tok->unk_id);
}

/* WordPiece: greedy longest-match-first over the word w[0..n). */
static akidb_status wordpiece(enc *e, const uint32_t *w, size_t n)
{
    const akidb_tokenizer *tok = e->tok;
    if (n > tok->max_chars)
        return emit_unk(e);
    akidb_status st;
    if ((st = grow((void **)&e->w, &e->cw, n * 4 + 1, 1)) != AKIDB_OK ||
        (st = grow((void **)&e->woff, &e->cwoff, n + 1, sizeof *e->woff)) != AKIDB_OK ||
        (st = grow((void **)&e->sub, &e->csub, n, sizeof *e->sub)) != AKIDB_OK)
        return st;
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        e->woff[i] = b;
        b += (size_t)ak_utf8_encode(w[i], e->w + b);
    }
    e->woff[n] = b;

    size_t nsub = 0, start = 0;
    size_t maxlen = tok->vocab.max_len;
    while (start < n) {
        size_t plen = start ? tok->prefix_len : 0;
        /* Nothing longer than the longest vocabulary entry can match: start
         * from the last end that fits (binary search over the offsets). */
        size_t end = n;
        if (plen > maxlen) {
            end = start;
        } else if (e->woff[n] - e->woff[start] + plen > maxlen) {
            size_t lo = start, hi = n;  /* largest end with bytes + plen <= max */
            while (lo < hi) {
                size_t mid = lo + (hi - lo + 1) / 2;
                if (e->woff[mid] - e->woff[start] + plen <= maxlen)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            end = lo;
        }
        int32_t id = -1;
        for (; end > start; end--) {
            id = ak_vocab_get2(&tok->vocab, tok->prefix, plen, e->w + e->woff[start],
                               e->woff[end] - e->woff[start]);
            if (id >= 0)
                break;
        }
        if (id < 0)
            return emit_unk(e);
        e->sub[nsub++] = id;
        start = end;
    }
    for (size_t i = 0; i < nsub && !e->stopped; i++)
        if ((st = emit(e, e->sub[i])) != AKIDB_OK)
            return st;
    return AKIDB_OK;
}

static bool is_punct(uint32_t c)
{
    if (c < 128)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    return (aku_flags(c) & AKU_PUNCT) != 0;
}

/* BertPreTokenizer: whitespace separates words and is dropped; each
 * punctuation character is a word of its own. */
static akidb_status pretokenize(enc *e, const uint32_t *s, size_t n)
{
    akidb_status st;
    if (!e->tok->pretok_bert)
        return n ? wordpiece(e, s, n) : AKIDB_OK;
    size_t word = 0;
    for (size_t i = 0; i < n && !e->stopped; i++) {
        uint32_t c = s[i];
        bool ws = c == ' ' || (aku_flags(c) & AKU_WSPACE);
        if (!ws && !is_punct(c))
            continue;
        if (i > word && (st = wordpiece(e, s + word, i - word)) != AKIDB_OK)
            return st;
        if (!ws && !e->stopped && (st = wordpiece(e, s + i, 1)) != AKIDB_OK)
            return st;
        word = i + 1;
    }
    if (n > word && !e->stopped)
        return wordpiece(e, s + word, n - word);
    return AKIDB_OK;
}

/* Finds the leftmost-longest match of m in s[from..n) whose single_word
 * condition holds; [*ms, *me) is the match widened by lstrip (not below
 * floor, the end of the previous match) and rstrip. */
static bool next_match(const ak_matcher *m, const uint32_t *s, size_t n, size_t from,
                       size_t floor, size_t *ms, size_t *me, int32_t *id)
{
    size_t p = from;
    while (p < n) {
        uint32_t c = s[p];
        if (!((m->first_bloom >> (c & 63)) & 1)) {
            p++;
            continue;
        }
        size_t lo = 0, hi = m->n;  /* first token whose first cp >= c */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (m->tok[mid].cps[0] < c)
                lo = mid + 1;
            else
                hi = mid;
        }
        const ak_added *hit = NULL;
        for (size_t k = lo; k < m->n && m->tok[k].cps[0] == c; k++) {
            const ak_added *a = &m->tok[k];
            if (a->n <= n - p && memcmp(a->cps, s + p, a->n * sizeof *s) == 0) {
                hit = a;
                break;
            }
        }
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

/* Pre-tokenises normalised text, cutting out added tokens matched on it. */
static akidb_status split_normalized(enc *e, const uint32_t *s, size_t n)
{
    const ak_matcher *m = &e->tok->norm;
    if (m->n == 0)
        return pretokenize(e, s, n);
    size_t pos = 0, ms, me;
    int32_t id;
    akidb_status st;
    while (!e->stopped && next_match(m, s, n, pos, pos, &ms, &me, &id)) {
        if ((st = pretokenize(e, s + pos, ms - pos)) != AKIDB_OK)
            return st;
        if (!e->stopped && (st = emit(e, id)) != AKIDB_OK)
            return st;
        pos = me;
    }
    return e->stopped ? AKIDB_OK : pretokenize(e, s + pos, n - pos);
}

static bool ascii_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Normalises and tokenises raw[from..to), a piece between raw added tokens. */
static akidb_status process_piece(enc *e, const uint32_t *raw, size_t from, size_t to)
{
    size_t pos = from;
    while (pos < to && !e->stopped) {
        size_t cend = to;
        /* Normalised added tokens may span whitespace: no chunks then. */
        if (e->tok->norm.n == 0 && to - pos > CHUNK_CPS) {
            cend = pos + CHUNK_CPS;
            while (cend < to && !ascii_space(raw[cend]))
                cend++;
        }
        const uint32_t *norm;
        size_t nn;
        akidb_status st = ak_normalize(e->tok, raw + pos, cend - pos, &e->na, &e->cna,
                                       &e->nb, &e->cnb, &norm, &nn);
        if (st != AKIDB_OK)
            return st;
        if ((st = split_normalized(e, norm, nn)) != AKIDB_OK)
            return st;
        pos = cend;
    }
    return AKIDB_OK;
}

void akidb_tokens_free(akidb_tokens *toks)
{
    AK_ASSERT(toks);
    ak_free(toks->ids);
    memset(toks, 0, sizeof *toks);
}

akidb_status akidb_tokenizer_encode(const akidb_tokenizer *tok, const char *text,
                                    size_t len, size_t max_tokens, akidb_tokens *toks)
{
    AK_ASSERT(tok && toks && (text || len == 0));
    toks->n = 0;
    toks->n_full = 0;
    size_t bad;
    if (len && !ak_utf8_valid(text, len, &bad))
        return ak_fail(AKIDB_EUTF8, "text: invalid UTF-8 at byte offset %zu", bad);
    size_t n_spec = tok->n_pre + tok->n_post;
    if (max_tokens && max_tokens < n_spec)
        return ak_fail(AKIDB_EINVAL,
                       "max_tokens %zu is less than the %zu special tokens of the template",
                       max_tokens, n_spec);

    enc e = {.tok = tok, .toks = toks, .limit = max_tokens ? max_tokens - n_spec : SIZE_MAX};
    akidb_status st = grow((void **)&toks->ids, &toks->cap, n_spec + 64, sizeof *toks->ids);
    uint32_t *raw = NULL;
    if (st != AKIDB_OK)
        goto out;
    size_t raw_bytes;
    if (!ak_mul_overflow(len + 1, sizeof *raw, &raw_bytes))
        raw = ak_malloc(raw_bytes);
    if (!raw) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory for a text of %zu bytes", len);
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < len;)
        i += (size_t)ak_utf8_decode((const unsigned char *)text + i, &raw[n++]);

    if (tok->n_pre)
        memcpy(toks->ids, tok->tpl_pre, tok->n_pre * sizeof *toks->ids);
    size_t pos = 0, ms, me;
    int32_t id;
    while (!e.stopped && tok->raw.n && next_match(&tok->raw, raw, n, pos, pos, &ms, &me, &id)) {
        if ((st = process_piece(&e, raw, pos, ms)) != AKIDB_OK)
            goto out;
        if (!e.stopped && (st = emit(&e, id)) != AKIDB_OK)
            goto out;
        pos = me;
    }
    if (!e.stopped && (st = process_piece(&e, raw, pos, n)) != AKIDB_OK)
        goto out;

    size_t kept = e.pieces < e.limit ? e.pieces : e.limit;
    if ((st = grow((void **)&toks->ids, &toks->cap, n_spec + kept, sizeof *toks->ids)) !=
        AKIDB_OK)
        goto out;
    if (tok->n_post)
        memcpy(toks->ids + tok->n_pre + kept, tok->tpl_post, tok->n_post * sizeof *toks->ids);
    toks->n = n_spec + kept;
    toks->n_full = n_spec + e.pieces;
out:
    ak_free(raw);
    ak_free(e.na);
    ak_free(e.nb);
    ak_free(e.w);
    ak_free(e.woff);
    ak_free(e.sub);
    if (st != AKIDB_OK) {
        toks->n = 0;
        toks->n_full = 0;
    }
    return st;
}
