/*
 * encode.c - akidb_tokenizer_encode / _encode_pair: text -> ids exactly as
 * Hugging Face tokenizers' encode(text, add_special_tokens=True).
 *
 * Pipeline (as the Rust library): split the raw text at added tokens whose
 * normalized flag is false; normalise each piece in between; split it at
 * added tokens whose flag is true; run the pre-tokenizers over each
 * remaining piece; run the model over each word; put the result inside the
 * template (post-processor) after truncation.
 *
 * Cost stays linear and bounded by the truncation: the work stops once the
 * sequence holds more pieces than can be kept.  For BERT-like pipelines
 * (per-character normalizers, whitespace-splitting pre-tokenizer) long pieces
 * are normalised in chunks cut at ASCII whitespace, which gives the same
 * result, so a huge text truncated to 512 tokens costs a few chunks.
 *
 * akidb_tokenizer_encode_offsets runs the same driver with an ak_offs
 * (tok_offsets.h): every step then also carries the input bytes behind each
 * code point, and each piece id gets its span.  Without it (enc.off NULL)
 * nothing of that runs.
 */
#include "tok_internal.h"
#include "tok_offsets.h"
#include "unicode.h"

#include <string.h>

#define CHUNK_CPS 4096  /* code points normalised at a time when chunkable */

/* The state of encoding one sequence. */
typedef struct enc {
    const akidb_tokenizer *tok;
    ak_idbuf ids;          /* the sequence's pieces (no template specials)   */
    size_t limit;          /* pieces that can be kept                        */
    bool stopped;          /* more than limit pieces: the rest is not needed */
    ak_tok_scratch scr;
    ak_cpbuf raw;          /* the text as code points                        */
    ak_cpbuf na, nb;       /* normalizer buffers                             */
    ak_splits sa, sb;      /* pre-tokenizer buffers                          */
    ak_offs *off;          /* spans wanted: the ranges of every step         */
} enc;

static void enc_free(enc *e)
{
    ak_idbuf_free(&e->ids);
    ak_tok_scratch_free(&e->scr);
    ak_cpbuf_free(&e->raw);
    ak_cpbuf_free(&e->na);
    ak_cpbuf_free(&e->nb);
    ak_splits_free(&e->sa);
    ak_splits_free(&e->sb);
}

static void check_full(enc *e)
{
    if (e->ids.n > e->limit)
        e->stopped = true;
}

/* An added token; al[0..n) are the ranges of its code points (offsets). */
static akidb_status emit(enc *e, int32_t id, const ak_span *al, size_t n)
{
    akidb_status st = ak_idbuf_push(&e->ids, id);
    if (st == AKIDB_OK && e->off)
        st = ak_spanbuf_push(&e->off->spans, n ? (ak_span){al[0].s, al[n - 1].e}
                                                : (ak_span){0, 0});
    check_full(e);
    return st;
}

akidb_status ak_tok_normalize(const akidb_tokenizer *tok, const uint32_t *in, size_t n,
                              ak_tok_scratch *scr, ak_cpbuf *a, ak_cpbuf *b,
                              const ak_cpbuf **out)
{
    const uint32_t *src = in;
    size_t len = n;
    ak_cpbuf *dst = a;
    akidb_status st = AKIDB_OK;
    if (tok->n_norm == 0) {
        a->n = 0;
        st = ak_cpbuf_push(a, in, n);
    }
    for (size_t i = 0; i < tok->n_norm && st == AKIDB_OK; i++) {
        dst = (i % 2 == 0) ? a : b;
        dst->n = 0;
        st = tok->norm[i]->kind->apply(tok->norm[i], src, len, scr, dst);
        src = dst->v;
        len = dst->n;
    }
    *out = dst;
    return st;
}

/* words() with offsets: the ranges al[0..n) of s follow the pieces
 * through the pre-tokenizers, and each word's ids get their spans. */
static akidb_status words_al(enc *e, const uint32_t *s, const ak_span *al, size_t n, bool at0)
{
    const akidb_tokenizer *tok = e->tok;
    ak_offs *o = e->off;
    ak_splits *cur = &e->sa, *next = &e->sb;
    ak_spanbuf *cal = &o->sa, *nal = &o->sb;
    ak_splits_clear(cur);
    akidb_status st = ak_splits_push(cur, s, n, at0);
    if (st == AKIDB_OK && (st = ak_spanbuf_reserve(cal, n + 1)) == AKIDB_OK)
        memcpy(cal->v, al, n * sizeof *al);
    for (size_t p = 0; p < tok->n_pre && st == AKIDB_OK; p++) {
        const ak_pretok *pt = tok->pre[p];
        ak_splits_clear(next);
        for (size_t i = 0; i < cur->n && st == AKIDB_OK; i++) {
            if (!cur->v[i].len)
                continue;
            size_t k0 = next->n;
            const uint32_t *ps = cur->text.v + cur->v[i].off;
            st = pt->kind->split(pt, ps, cur->v[i].len, cur->v[i].at0, &e->scr, next);
            if (st == AKIDB_OK)
                st = ak_offs_pretok(o, pt, ps, cal->v + cur->v[i].off, cur->v[i].len, next, k0,
                                    nal);
        }
        ak_splits *t = cur;
        cur = next;
        next = t;
        ak_spanbuf *ta = cal;
        cal = nal;
        nal = ta;
    }
    const ak_tok_model *m = tok->model;
    for (size_t i = 0; i < cur->n && !e->stopped && st == AKIDB_OK; i++) {
        if (!cur->v[i].len)
            continue;
        size_t i0 = e->ids.n;
        const uint32_t *w = cur->text.v + cur->v[i].off;
        if ((st = m->kind->tokenize(m, w, cur->v[i].len, &e->scr, &e->ids)) == AKIDB_OK)
            st = ak_offs_model(o, m, w, cal->v + cur->v[i].off, cur->v[i].len, e->ids.v + i0,
                               e->ids.n - i0);
        check_full(e);
    }
    return st;
}

/* Pre-tokenizes s[0..n) and runs the model over each word (al: the ranges
 * of s when offsets are wanted). */
static akidb_status words(enc *e, const uint32_t *s, const ak_span *al, size_t n, bool at0)
{
    const akidb_tokenizer *tok = e->tok;
    akidb_status st = AKIDB_OK;
    if (n == 0)
        return AKIDB_OK;
    if (e->off)
        return words_al(e, s, al, n, at0);
    ak_splits *cur = &e->sa, *next = &e->sb;
    ak_splits_clear(cur);
    if ((st = ak_splits_push(cur, s, n, at0)) != AKIDB_OK)
        return st;
    for (size_t p = 0; p < tok->n_pre; p++) {
        const ak_pretok *pt = tok->pre[p];
        ak_splits_clear(next);
        for (size_t i = 0; i < cur->n && st == AKIDB_OK; i++)
            if (cur->v[i].len)
                st = pt->kind->split(pt, cur->text.v + cur->v[i].off, cur->v[i].len,
                                     cur->v[i].at0, &e->scr, next);
        if (st != AKIDB_OK)
            return st;
        ak_splits *t = cur;
        cur = next;
        next = t;
    }
    const ak_tok_model *m = tok->model;
    for (size_t i = 0; i < cur->n && !e->stopped; i++) {
        if (!cur->v[i].len)
            continue;
        if ((st = m->kind->tokenize(m, cur->text.v + cur->v[i].off, cur->v[i].len, &e->scr,
                                    &e->ids)) != AKIDB_OK)
            return st;
        check_full(e);
    }
    return AKIDB_OK;
}

/* Normalised text: cut out the added tokens matched on it, tokenize the rest. */
static akidb_status split_normalized(enc *e, const uint32_t *s, const ak_span *al, size_t n,
                                     bool at0)
{
    const ak_matcher *m = &e->tok->norm_m;
    if (m->n == 0)
        return words(e, s, al, n, at0);
    size_t pos = 0, ms, me;
    int32_t id;
    akidb_status st;
    while (!e->stopped && ak_added_next(m, s, n, pos, pos, &ms, &me, &id)) {
        if ((st = words(e, s + pos, al ? al + pos : NULL, ms - pos, at0 && pos == 0)) !=
            AKIDB_OK)
            return st;
        if (!e->stopped && (st = emit(e, id, al ? al + ms : NULL, me - ms)) != AKIDB_OK)
            return st;
        pos = me;
    }
    return e->stopped ? AKIDB_OK
                      : words(e, s + pos, al ? al + pos : NULL, n - pos, at0 && pos == 0);
}

static bool ascii_space(uint32_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Normalises and tokenizes raw[from..to), a piece between raw added tokens. */
static akidb_status process_piece(enc *e, size_t from, size_t to)
{
    const uint32_t *raw = e->raw.v;
    size_t pos = from;
    while (pos < to && !e->stopped) {
        size_t cend = to;
        if (e->tok->chunkable && to - pos > CHUNK_CPS) {
            cend = pos + CHUNK_CPS;
            while (cend < to && !ascii_space(raw[cend]))
                cend++;
        }
        const ak_cpbuf *norm;
        const ak_span *nal = NULL;
        akidb_status st =
            e->off ? ak_offs_normalize(e->tok, e->off, raw + pos, e->off->raw.v + pos,
                                       cend - pos, e->off->raw.v[from].s, &e->scr, &e->na,
                                       &e->nb, &norm, &nal)
                   : ak_tok_normalize(e->tok, raw + pos, cend - pos, &e->scr, &e->na, &e->nb,
                                      &norm);
        if (st != AKIDB_OK ||
            (st = split_normalized(e, norm->v, nal, norm->n, pos == 0)) != AKIDB_OK)
            return st;
        pos = cend;
    }
    return AKIDB_OK;
}

/* Tokenizes one text into e->ids (at most a little over e->limit pieces). */
static akidb_status encode_seq(enc *e, const char *text, size_t len)
{
    size_t bad;
    if (len && !ak_utf8_valid(text, len, &bad))
        return ak_fail(AKIDB_EUTF8, "text: invalid UTF-8 at byte offset %zu", bad);
    e->raw.n = 0;
    akidb_status st = ak_cpbuf_reserve(&e->raw, len + 1);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < len;)
        i += (size_t)ak_utf8_decode((const unsigned char *)text + i, &e->raw.v[e->raw.n++]);
    if (e->off && (st = ak_offs_text(e->off, text, len)) != AKIDB_OK)
        return st;
    const ak_matcher *m = &e->tok->raw;
    size_t n = e->raw.n, pos = 0, ms, me;
    int32_t id;
    while (!e->stopped && m->n && ak_added_next(m, e->raw.v, n, pos, pos, &ms, &me, &id)) {
        if ((st = process_piece(e, pos, ms)) != AKIDB_OK)
            return st;
        if (!e->stopped &&
            (st = emit(e, id, e->off ? e->off->raw.v + ms : NULL, me - ms)) != AKIDB_OK)
            return st;
        pos = me;
    }
    if (!e->stopped)
        st = process_piece(e, pos, n);
    return st;
}

/* ---- template --------------------------------------------------------------- */

static akidb_status reserve_out(akidb_tokens *t, size_t need)
{
    if (need <= t->cap && t->type_ids)
        return AKIDB_OK;
    size_t nc = t->cap > 64 ? t->cap : 64;
    while (nc < need)
        nc *= 2;
    int32_t *ids = ak_realloc(t->ids, nc * sizeof *ids);
    if (ids)
        t->ids = ids;
    uint32_t *types = ak_realloc(t->type_ids, nc * sizeof *types);
    if (types)
        t->type_ids = types;
    if (!ids || !types)
        return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", need);
    t->cap = nc;
    return AKIDB_OK;
}

/* Writes the template form (single: b == NULL) with a[0..na) and b[0..nb).
 * The loader always gives an explicit template (Rust's identity one when the
 * file has no post-processor); a sequence the template does not name is
 * dropped, as in Rust. */
static akidb_status apply_template(const akidb_tokenizer *tok, const int32_t *a, size_t na,
                                   const int32_t *b, size_t nb, akidb_tokens *out)
{
    const ak_tpl_item *items = b ? tok->tpl.pair : tok->tpl.single;
    size_t n_items = b ? tok->tpl.n_pair : tok->tpl.n_single, need = 0;
    for (size_t i = 0; i < n_items; i++)
        need += items[i].seq < 0 ? items[i].n_ids : items[i].seq == 0 ? na : nb;
    akidb_status st = reserve_out(out, need + 1);
    if (st != AKIDB_OK)
        return st;
    size_t k = 0;
    for (size_t i = 0; i < n_items; i++) {
        const ak_tpl_item *it = &items[i];
        const int32_t *src = it->seq < 0 ? it->ids : it->seq == 0 ? a : b;
        size_t cnt = it->seq < 0 ? it->n_ids : it->seq == 0 ? na : nb;
        if (!cnt)
            continue;
        memcpy(out->ids + k, src, cnt * sizeof *src);
        for (size_t t = 0; t < cnt; t++)
            out->type_ids[k + t] = it->type_id;
        k += cnt;
    }
    out->n = k;
    return AKIDB_OK;
}

void akidb_tokens_free(akidb_tokens *toks)
{
    AK_ASSERT(toks);
    ak_free(toks->ids);
    ak_free(toks->type_ids);
    memset(toks, 0, sizeof *toks);
}

akidb_status akidb_tokenizer_encode(const akidb_tokenizer *tok, const char *text,
                                    size_t len, size_t max_tokens, akidb_tokens *toks)
{
    AK_ASSERT(tok && toks && (text || len == 0));
    toks->n = 0;
    toks->n_full = 0;
    size_t n_spec = tok->tpl.specials_single;
    if (max_tokens && max_tokens < n_spec)
        return ak_fail(AKIDB_EINVAL,
                       "max_tokens %zu is less than the %zu special tokens of the template",
                       max_tokens, n_spec);
    enc e = {.tok = tok, .limit = max_tokens ? max_tokens - n_spec : SIZE_MAX};
    akidb_status st = encode_seq(&e, text, len);
    if (st == AKIDB_OK) {
        size_t kept = e.ids.n < e.limit ? e.ids.n : e.limit;
        st = apply_template(tok, e.ids.v, kept, NULL, 0, toks);
        toks->n_full = n_spec + e.ids.n;
    }
    enc_free(&e);
    if (st != AKIDB_OK)
        toks->n = toks->n_full = 0;
    return st;
}

void akidb_spans_free(akidb_spans *spans)
{
    AK_ASSERT(spans);
    ak_free(spans->v);
    memset(spans, 0, sizeof *spans);
}

/* Leading (dir 1) or trailing (dir -1) code points of token string t that
 * are ByteLevel's space character or whitespace. */
static size_t space_run(const char *t, int dir)
{
    uint32_t cps[64];
    size_t n = 0, k = 0;
    for (size_t i = 0; t[i] && n < 64;)
        i += (size_t)ak_utf8_decode((const unsigned char *)t + i, &cps[n++]);
    while (k < n) {
        uint32_t c = cps[dir > 0 ? k : n - 1 - k];
        if (c != 0x120 && !(aku_flags(c) & AKU_WSPACE))
            break;
        k++;
    }
    return k;
}

/* trim_offsets of a ByteLevel / RobertaProcessing post-processor (Rust's
 * process_offsets), over the sequence's kept spans: a token's leading and
 * trailing spaces leave its span (counted one byte each, as Rust counts
 * them), except the one space a prefix-space pre-tokenizer added in front
 * of the first token. */
static void trim_spans(const akidb_tokenizer *tok, const int32_t *ids, ak_span *sp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *t = ids[i] >= 0 && (size_t)ids[i] < tok->vocab_size ? tok->id_tok[ids[i]]
                                                                        : NULL;
        if (!t)
            continue;
        size_t lead = space_run(t, 1), trail = space_run(t, -1);
        if (lead) {
            if ((i == 0 || sp[i].s == 0) && tok->tpl.trim_prefix_space && lead == 1)
                lead = 0;
            sp[i].s = sp[i].s + lead < sp[i].e ? sp[i].s + lead : sp[i].e;
        }
        if (trail && sp[i].e >= trail)
            sp[i].e = sp[i].e - trail > sp[i].s ? sp[i].e - trail : sp[i].s;
    }
}

/* The spans of the single template around the sequence's first na piece
 * spans (the template's own ids get {0, 0, special}). */
static akidb_status template_spans(const akidb_tokenizer *tok, const ak_span *seq, size_t na,
                                   akidb_spans *out)
{
    size_t need = na;
    for (size_t i = 0; i < tok->tpl.n_single; i++)
        need += tok->tpl.single[i].seq < 0 ? tok->tpl.single[i].n_ids : 0;
    if (need + 1 > out->cap) {
        size_t bytes;
        if (ak_mul_overflow(need + 1, sizeof *out->v, &bytes))
            return ak_fail(AKIDB_ENOMEM, "out of memory for %zu token spans", need);
        akidb_span *v = ak_realloc(out->v, bytes);
        if (!v)
            return ak_fail(AKIDB_ENOMEM, "out of memory for %zu token spans", need);
        out->v = v;
        out->cap = need + 1;
    }
    size_t k = 0;
    for (size_t i = 0; i < tok->tpl.n_single; i++) {
        const ak_tpl_item *it = &tok->tpl.single[i];
        if (it->seq < 0)
            for (size_t t = 0; t < it->n_ids; t++)
                out->v[k++] = (akidb_span){0, 0, 1};
        else if (it->seq == 0)
            for (size_t t = 0; t < na; t++)
                out->v[k++] = (akidb_span){seq[t].s, seq[t].e, 0};
    }
    out->n = k;
    return AKIDB_OK;
}

akidb_status akidb_tokenizer_encode_offsets(const akidb_tokenizer *tok, const char *text,
                                            size_t len, size_t max_tokens,
                                            akidb_tokens *toks, akidb_spans *spans)
{
    AK_ASSERT(tok && toks && spans && (text || len == 0));
    toks->n = 0;
    toks->n_full = 0;
    spans->n = 0;
    size_t n_spec = tok->tpl.specials_single;
    if (max_tokens && max_tokens < n_spec)
        return ak_fail(AKIDB_EINVAL,
                       "max_tokens %zu is less than the %zu special tokens of the template",
                       max_tokens, n_spec);
    ak_offs off = {0};
    enc e = {.tok = tok, .limit = max_tokens ? max_tokens - n_spec : SIZE_MAX, .off = &off};
    akidb_status st = encode_seq(&e, text, len);
    if (st == AKIDB_OK) {
        AK_ASSERT(off.spans.n == e.ids.n);
        size_t kept = e.ids.n < e.limit ? e.ids.n : e.limit;
        st = apply_template(tok, e.ids.v, kept, NULL, 0, toks);
        if (tok->tpl.trim_offsets)
            trim_spans(tok, e.ids.v, off.spans.v, kept);
        if (st == AKIDB_OK)
            st = template_spans(tok, off.spans.v, kept, spans);
        toks->n_full = n_spec + e.ids.n;
    }
    enc_free(&e);
    ak_offs_free(&off);
    if (st != AKIDB_OK)
        toks->n = toks->n_full = spans->n = 0;
    return st;
}

/* Lengths to keep of a pair (n1, n2 pieces) within budget, as the Rust
 * library's truncate_encodings. */
static akidb_status pair_cut(size_t n1, size_t n2, size_t budget, akidb_truncation how,
                             size_t *k1, size_t *k2)
{
    *k1 = n1;
    *k2 = n2;
    if (n1 + n2 <= budget)
        return AKIDB_OK;
    size_t excess = n1 + n2 - budget;
    if (how == AKIDB_TRUNC_ONLY_FIRST || how == AKIDB_TRUNC_ONLY_SECOND) {
        size_t *k = how == AKIDB_TRUNC_ONLY_FIRST ? k1 : k2;
        if (*k <= excess)
            return ak_fail(AKIDB_ETOOLONG,
                           "the %s text (%zu tokens) is too short to remove the %zu tokens "
                           "over max_tokens", how == AKIDB_TRUNC_ONLY_FIRST ? "first" : "second",
                           *k, excess);
        *k -= excess;
        return AKIDB_OK;
    }
    bool swap = n1 > n2;
    size_t s = swap ? n2 : n1, l = swap ? n1 : n2;   /* shorter, longer */
    l = s > budget ? s : (s > budget - s ? s : budget - s);
    if (s + l > budget) {
        s = budget / 2;
        l = s + budget % 2;
    }
    *k1 = swap ? l : s;
    *k2 = swap ? s : l;
    return AKIDB_OK;
}

akidb_status akidb_tokenizer_encode_pair(const akidb_tokenizer *tok, const char *a,
                                         size_t a_len, const char *b, size_t b_len,
                                         size_t max_tokens, akidb_truncation strategy,
                                         akidb_tokens *toks)
{
    AK_ASSERT(tok && toks && (a || a_len == 0) && (b || b_len == 0));
    toks->n = 0;
    toks->n_full = 0;
    size_t n_spec = tok->tpl.specials_pair;
    if (max_tokens && max_tokens < n_spec)
        return ak_fail(AKIDB_EINVAL,
                       "max_tokens %zu is less than the %zu special tokens of the pair template",
                       max_tokens, n_spec);
    size_t budget = max_tokens ? max_tokens - n_spec : SIZE_MAX;
    /* Both sides are counted in full: when both exceed the budget, which one
     * is longer still decides who gets the odd token. */
    enc ea = {.tok = tok, .limit = SIZE_MAX}, eb = {.tok = tok, .limit = SIZE_MAX};
    akidb_status st = encode_seq(&ea, a, a_len);
    if (st == AKIDB_OK)
        st = encode_seq(&eb, b, b_len);
    size_t k1 = 0, k2 = 0;
    if (st == AKIDB_OK && max_tokens)
        st = pair_cut(ea.ids.n, eb.ids.n, budget, strategy, &k1, &k2);
    else if (st == AKIDB_OK) {
        k1 = ea.ids.n;
        k2 = eb.ids.n;
    }
    if (st == AKIDB_OK) {
        static const int32_t none[1] = {0};
        st = apply_template(tok, ea.ids.v ? ea.ids.v : none, k1, eb.ids.v ? eb.ids.v : none,
                            k2, toks);
        toks->n_full = n_spec + ea.ids.n + eb.ids.n;
    }
    enc_free(&ea);
    enc_free(&eb);
    if (st != AKIDB_OK)
        toks->n = toks->n_full = 0;
    return st;
}
