/*
 * model_bpe.c - the "BPE" model kind of tokenizer.json, with the semantics of
 * Hugging Face tokenizers (Rust) models::bpe, which sentence-transformers
 * runs: GPT-2 / Qwen byte-level vocabularies, Gemma and Llama sentencepiece
 * vocabularies with byte fallback, and the rarer options (subword prefix,
 * end-of-word suffix, fused unknowns, ignore_merges).
 *
 * A word (code points, already pre-tokenized) becomes one symbol per
 * character, looked up with the continuing_subword_prefix on every character
 * but the first and the end_of_word_suffix on the last; an unknown character
 * becomes its UTF-8 bytes as <0xNN> tokens (byte_fallback, when all of them
 * exist) or the unknown token.  Then merges apply by rank, lowest first, ties
 * to the leftmost, through a heap of candidate pairs on a linked list of
 * symbols, so a word of n characters costs O(n log n): a pre-tokenizer that
 * splits only on spaces (Gemma) hands over whole space-free runs.
 *
 * Entries in the heap may go stale as their neighbours merge; like Rust, an
 * entry is taken when its left symbol is alive, has a right neighbour, and
 * the pair now there merges into the entry's token (the check compares the
 * result token only, not the rank, and this file keeps that rule).
 *
 * Merges live in one open-addressing table keyed by (left id, right id) ->
 * (rank, merged id): 16 bytes a slot, no allocation per merge; loading
 * resolves the merges' tokens in the vocabulary in prefetched batches (Gemma
 * 3 has 515k merges), reading model.vocab and model.merges straight from the
 * text of tokenizer.json when the loader found their spans (json_scan.h).
 */
#include "tok_parts.h"
#include "json_scan.h"

#include <stdio.h>
#include <string.h>

/* Ids beyond the vocabulary size a model.vocab may use (holes are allowed,
 * within reason: the id -> token table is allocated up to the largest id). */
#define BPE_ID_SLACK ((size_t)1 << 20)

extern const ak_tok_model_kind ak_model_bpe;

typedef struct bpe_slot {
    uint32_t a, b;       /* pair of ids; a == UINT32_MAX: empty slot          */
    uint32_t rank;       /* index in model.merges (later duplicates win)      */
    int32_t id;          /* id of the merged token                            */
} bpe_slot;

typedef struct ak_bpe {
    ak_tok_model base;
    bpe_slot *slots;
    size_t mask;              /* slots - 1                                    */
    size_t n_merges;
    char *prefix, *suffix;    /* "" when absent                               */
    size_t prefix_len, suffix_len;
    int32_t *rank_id;         /* merged id of each rank                       */
    uint64_t *chars;          /* single-character tokens: cp << 32 | id;
                               * UINT64_MAX = empty slot                       */
    size_t chars_mask;
    char *unk_token;          /* NULL when absent (unknown chars dropped)     */
    bool fuse_unk, byte_fallback, ignore_merges;
    int32_t byte_id[256];     /* id of "<0xNN>", -1 when absent               */
} ak_bpe;

/* ---- merge table ---------------------------------------------------------- */

static size_t pair_hash(uint32_t a, uint32_t b)
{
    uint64_t h = ((uint64_t)a << 32 | b) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return (size_t)h;
}

static const bpe_slot *merge_find(const ak_bpe *m, int32_t a, int32_t b)
{
    size_t i = pair_hash((uint32_t)a, (uint32_t)b) & m->mask;
    for (;;) {
        const bpe_slot *s = &m->slots[i];
        if (s->a == UINT32_MAX)
            return NULL;
        if (s->a == (uint32_t)a && s->b == (uint32_t)b)
            return s;
        i = (i + 1) & m->mask;
    }
}

/* Records pair (a, b) -> (rank, id); a repeated pair takes the later rank,
 * as collecting Rust's merge list into a map does. */
static void merge_put(ak_bpe *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    size_t i = pair_hash((uint32_t)a, (uint32_t)b) & m->mask;
    while (m->slots[i].a != UINT32_MAX &&
           !(m->slots[i].a == (uint32_t)a && m->slots[i].b == (uint32_t)b))
        i = (i + 1) & m->mask;
    m->slots[i] = (bpe_slot){(uint32_t)a, (uint32_t)b, rank, id};
}

static akidb_status merges_alloc(ak_bpe *m, size_t n, const char *origin)
{
    size_t cap = 16;
    while (cap < n + n / 2 + 1) {     /* load <= 2/3 */
        if (cap > SIZE_MAX / 2 / sizeof *m->slots)
            return ak_fail(AKIDB_ETOOLONG, "%s: %zu merges are too many", origin, n);
        cap <<= 1;
    }
    m->slots = ak_table_alloc(cap * sizeof *m->slots, 0xff);
    if (!m->slots)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory for %zu merges", origin, n);
    m->mask = cap - 1;
    return AKIDB_OK;
}

/* ---- loading --------------------------------------------------------------- */

/* Where model.merges is read from: the jansson array, or its span in the
 * text (json_scan.h), element by element. */
typedef struct merge_src {
    const json_t *arr;        /* the tree's array, when not from a span       */
    const ak_tok_spans *spans;
    ak_js_cur cur;            /* from a span: at the next element             */
    ak_js_buf buf;            /* decoded strings with escapes (one batch)     */
    size_t n;                 /* elements                                     */
    bool pairs;               /* ["a", "b"] elements, else "a b"              */
} merge_src;

/* One merge while its tokens are resolved. */
typedef struct merge_item {
    size_t i;                 /* index in model.merges                        */
    const char *a, *b;
    size_t an, bn;
    size_t a_off, b_off;      /* SIZE_MAX, or the offset of a / b in the
                               * source's buffer (which may move until the
                               * batch is complete)                            */
    uint64_t h[3];            /* hashes of a, b, a + b without the prefix     */
    int32_t ia, ib, id;
} merge_item;

/* The string form "a b": exactly one space, as Rust's split(' ') into two
 * parts.  *skip is set for "#version" lines, which Rust filters out before
 * ranking. */
static akidb_status split_merge(const char *s, size_t n, size_t i, const char *origin,
                                const char *path, merge_item *it, bool *skip)
{
    *skip = n >= 8 && memcmp(s, "#version", 8) == 0;
    if (*skip)
        return AKIDB_OK;
    const char *sp = memchr(s, ' ', n);
    if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
        return ak_fail(AKIDB_EFORMAT,
                       "%s: %smerges[%zu]: \"%.*s\" is not two tokens separated by one space",
                       origin, path, i, n < 60 ? (int)n : 60, s);
    it->a = s;
    it->an = (size_t)(sp - s);
    it->b = sp + 1;
    it->bn = n - it->an - 1;
    return AKIDB_OK;
}

/* Reads merges[i] (the next element) into it. */
static akidb_status merge_next(merge_src *src, size_t i, const char *origin, const char *path,
                               merge_item *it, bool *skip)
{
    *skip = false;
    it->a_off = it->b_off = SIZE_MAX;
    if (!src->spans) {
        const json_t *e = json_array_get(src->arr, i);
        if (!src->pairs)
            return split_merge(json_string_value(e), json_string_length(e), i, origin, path,
                               it, skip);
        const json_t *a = json_array_get(e, 0), *b = json_array_get(e, 1);
        it->a = json_string_value(a);
        it->an = json_string_length(a);
        it->b = json_string_value(b);
        it->bn = json_string_length(b);
        return AKIDB_OK;
    }
    ak_js_cur *c = &src->cur;
    ak_js_str s;
    akidb_status st;
    bool more = ak_js_more(c);
    AK_ASSERT(more);                /* the scanner counted the elements */
    if (!src->pairs) {
        if ((st = ak_js_string(c, &src->buf, &s)) != AKIDB_OK ||
            (st = split_merge(s.s, s.n, i, origin, path, it, skip)) != AKIDB_OK)
            return st;
        if (s.off != SIZE_MAX) {
            it->a_off = s.off;
            it->b_off = s.off + (size_t)(it->b - s.s);
        }
        return AKIDB_OK;
    }
    ak_js_enter(c);
    for (int k = 0; k < 2; k++) {
        more = ak_js_more(c);
        AK_ASSERT(more);
        if ((st = ak_js_string(c, &src->buf, &s)) != AKIDB_OK)
            return st;
        *(k ? &it->b : &it->a) = s.s;
        *(k ? &it->bn : &it->an) = s.n;
        *(k ? &it->b_off : &it->a_off) = s.off;
    }
    more = ak_js_more(c);           /* passes the ']' */
    AK_ASSERT(!more);
    return AKIDB_OK;
}

/* What merges[i] is, for a message about its form. */
static const char *merge_form(const merge_src *src, size_t i)
{
    if (!src->spans) {
        const json_t *e = json_array_get(src->arr, i);
        return json_is_array(e) ? (json_array_size(e) == 2 ? "a pair with a non-string"
                                                           : "an array of another size")
                                : ak_tj_type_name(e);
    }
    ak_js_cur c;
    ak_js_open(&c, src->spans, &src->spans->merges);
    for (size_t k = 0; ak_js_more(&c) && k < i; k++)
        ak_js_skip(&c);
    if (ak_js_type(&c) != AK_JS_ARRAY)
        return ak_js_type_name(&c);
    size_t n = 0;
    for (ak_js_enter(&c); ak_js_more(&c); n++)
        ak_js_skip(&c);
    return n == 2 ? "a pair with a non-string" : "an array of another size";
}

/* Tells which encoding model.merges uses: all pairs of strings (also an empty
 * list) or all strings, as Rust's untagged enum accepts.  The first element
 * sets the form; the first element that breaks it is reported. */
static akidb_status merges_kind(merge_src *src, const char *origin, const char *path)
{
    size_t n = src->n, i;
    if (!src->spans) {
        src->pairs = n == 0 || !json_is_string(json_array_get(src->arr, 0));
        for (i = 0; i < n; i++) {
            const json_t *e = json_array_get(src->arr, i);
            bool ok = src->pairs ? json_is_array(e) && json_array_size(e) == 2 &&
                                       json_is_string(json_array_get(e, 0)) &&
                                       json_is_string(json_array_get(e, 1))
                                 : json_is_string(e);
            if (!ok)
                break;
        }
    } else {
        /* the scanner noted element 0's shape and the first that differs */
        const ak_js_span *sp = &src->spans->merges;
        const uint32_t str = AK_JS_SHAPE(AK_JS_STRING, 0, 0, 0),
                       pair = AK_JS_SHAPE(AK_JS_ARRAY, 2, AK_JS_STRING, AK_JS_STRING);
        src->pairs = n == 0 || sp->shape0 != str;
        i = n == 0 || sp->shape0 == str || sp->shape0 == pair ? sp->other : 0;
    }
    if (i == n)
        return AKIDB_OK;
    const char *want = !src->pairs ? "a string \"a b\" like merges[0]"
                       : i > 0     ? "a pair [\"a\", \"b\"] of strings like merges[0]"
                                   : "a string \"a b\" or a pair [\"a\", \"b\"] of strings";
    return ak_fail(AKIDB_EFORMAT, "%s: %smerges[%zu]: expected %s, found %s", origin, path, i,
                   want, merge_form(src, i));
}

/* ---- merges ------------------------------------------------------------------ */

/* Each merge costs three vocabulary lookups (left, right and merged token),
 * 1.5 million for Gemma 3, and they miss the cache: merges are resolved in
 * batches whose vocabulary slots, then key strings, are prefetched first, so
 * that the misses overlap. */
#define MERGE_BATCH 32

/* Resolves the ids of one batch (slots prefetched by the caller) and reports
 * the first merge, in list order, whose tokens are not in the vocabulary. */
static akidb_status resolve_batch(const ak_bpe *m, merge_item *q, size_t nq,
                                  const char *origin, const char *path)
{
    const ak_vocab *v = &m->base.vocab;
    size_t pl = m->prefix_len;
    for (size_t k = 0; k < nq; k++) {
        merge_item *it = &q[k];
        it->ia = ak_vocab_find(v, it->h[0], it->a, it->an, "", 0);
        it->ib = ak_vocab_find(v, it->h[1], it->b, it->bn, "", 0);
        if (it->ia < 0 || it->ib < 0) {
            const char *t = it->ia < 0 ? it->a : it->b;
            size_t tn = it->ia < 0 ? it->an : it->bn;
            return ak_fail(AKIDB_EFORMAT,
                           "%s: %smerges[%zu]: token \"%.*s\" is not in %svocab "
                           "(MergeTokenOutOfVocabulary)",
                           origin, path, it->i, tn < 60 ? (int)tn : 60, t, path);
        }
        if (it->bn < pl)
            return ak_fail(AKIDB_EFORMAT,
                           "%s: %smerges[%zu]: token \"%.*s\" is shorter than "
                           "%scontinuing_subword_prefix",
                           origin, path, it->i, (int)it->bn, it->b, path);
        /* Rust drops prefix_len bytes of the right token, prefix or not. */
        it->id = ak_vocab_find(v, it->h[2], it->a, it->an, it->b + pl, it->bn - pl);
        if (it->id < 0)
            return ak_fail(AKIDB_EFORMAT,
                           "%s: %smerges[%zu]: merged token \"%.*s%.*s\" is not in %svocab "
                           "(MergeTokenOutOfVocabulary)",
                           origin, path, it->i, (int)(it->an < 60 ? it->an : 60), it->a,
                           (int)(it->bn - pl < 60 ? it->bn - pl : 60), it->b + pl, path);
        __builtin_prefetch(&m->slots[pair_hash((uint32_t)it->ia, (uint32_t)it->ib) & m->mask]);
    }
    return AKIDB_OK;
}

/* Reads the next batch of merges (from *i on), hashes it and prefetches its
 * slots; a malformed merge ends the batch and is returned in *bad, to be
 * reported after the merges before it have been checked. */
static size_t fill_batch(const ak_bpe *m, merge_src *src, size_t *i, merge_item *q,
                         const char *origin, const char *path, akidb_status *bad)
{
    const ak_vocab *v = &m->base.vocab;
    size_t nq = 0, pl = m->prefix_len;
    *bad = AKIDB_OK;
    src->buf.n = 0;
    for (; *i < src->n && nq < MERGE_BATCH; (*i)++) {
        merge_item *it = &q[nq];
        bool skip;
        if ((*bad = merge_next(src, *i, origin, path, it, &skip)) != AKIDB_OK)
            break;
        if (skip)
            continue;
        it->i = *i;
        it->h[0] = ak_vocab_hash2(it->a, it->an, "", 0);
        it->h[1] = ak_vocab_hash2(it->b, it->bn, "", 0);
        it->h[2] = it->bn < pl ? 0 : ak_vocab_hash2(it->a, it->an, it->b + pl, it->bn - pl);
        for (int k = 0; k < 3; k++)
            ak_vocab_prefetch(v, it->h[k]);
        nq++;
    }
    if (*bad != AKIDB_OK)
        (*i)++;
    for (size_t k = 0; k < nq; k++) {   /* decoded strings: the buffer is final */
        if (q[k].a_off != SIZE_MAX)
            q[k].a = src->buf.v + q[k].a_off;
        if (q[k].b_off != SIZE_MAX)
            q[k].b = src->buf.v + q[k].b_off;
    }
    return nq;
}

static akidb_status merges_table(ak_bpe *m, merge_src *src, const char *origin,
                                 const char *path)
{
    const ak_vocab *v = &m->base.vocab;
    size_t i = 0;
    uint32_t rank = 0;
    merge_item q[MERGE_BATCH];
    while (i < src->n) {
        akidb_status bad;
        size_t nq = fill_batch(m, src, &i, q, origin, path, &bad);
        for (size_t k = 0; k < nq; k++) {   /* the strings to compare */
            ak_vocab_prefetch_key(v, q[k].h[0], q[k].an);
            ak_vocab_prefetch_key(v, q[k].h[1], q[k].bn);
            ak_vocab_prefetch_key(v, q[k].h[2], q[k].an + q[k].bn - m->prefix_len);
        }
        akidb_status st = resolve_batch(m, q, nq, origin, path);
        if (st != AKIDB_OK)
            return st;
        for (size_t k = 0; k < nq; k++) {
            merge_put(m, q[k].ia, q[k].ib, rank, q[k].id);
            m->rank_id[rank++] = q[k].id;
        }
        if (bad != AKIDB_OK)
            return bad;
    }
    m->n_merges = rank;
    return AKIDB_OK;
}

/* model.merges: the array merges of the tree, or its span when spans has
 * one. */
static akidb_status load_merges(ak_bpe *m, const json_t *merges, const ak_tok_spans *spans,
                                const char *origin, const char *path)
{
    merge_src src = {.arr = merges};
    if (spans && spans->merges.len && spans->merges.open == '[') {
        src.spans = spans;
        src.n = spans->merges.count;
        ak_js_open(&src.cur, spans, &spans->merges);
    } else if (!json_is_array(merges)) {
        char f[160];
        snprintf(f, sizeof f, "%smerges", path);
        return ak_tj_bad_type(origin, f, "an array", merges);
    } else {
        src.n = json_array_size(merges);
    }
    akidb_status st = merges_kind(&src, origin, path);
    if (st != AKIDB_OK)
        return st;
    size_t n = src.n;
    if (n >= UINT32_MAX)
        return ak_fail(AKIDB_ETOOLONG, "%s: %smerges: too many merges", origin, path);
    if ((st = merges_alloc(m, n, origin)) != AKIDB_OK)
        return st;
    m->rank_id = ak_table_alloc((n ? n : 1) * sizeof *m->rank_id, -1);
    if (!m->rank_id)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory for %zu merges", origin, n);
    st = merges_table(m, &src, origin, path);
    ak_js_buf_free(&src.buf);
    return st;
}

/* ---- single characters ----------------------------------------------------- */

/* Words are looked up character by character first; the tokens that are one
 * code point get a small table of their own (8 bytes a slot). */
static size_t char_slot(uint32_t cp, size_t mask)
{
    return (size_t)(((uint64_t)cp * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

/* The code point of a vocabulary key that is exactly one character. */
static bool one_char(const char *key, size_t len, uint32_t *cp)
{
    return len >= 1 && len <= 4 &&
           (size_t)ak_utf8_decode((const unsigned char *)key, cp) == len;
}

static akidb_status chars_build(ak_bpe *m, const char *origin)
{
    const ak_vocab *v = &m->base.vocab;
    size_t count = 0, cap = 16, pos = 0, len;
    const char *key;
    int32_t id;
    uint32_t cp;
    while (ak_vocab_next(v, &pos, &key, &len, &id))
        count += one_char(key, len, &cp);
    while (cap < 2 * count)
        cap <<= 1;
    m->chars = ak_malloc(cap * sizeof *m->chars);
    if (!m->chars)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    memset(m->chars, 0xff, cap * sizeof *m->chars);
    m->chars_mask = cap - 1;
    for (pos = 0; ak_vocab_next(v, &pos, &key, &len, &id);) {
        if (!one_char(key, len, &cp))
            continue;
        size_t i = char_slot(cp, m->chars_mask);
        while (m->chars[i] != UINT64_MAX)
            i = (i + 1) & m->chars_mask;
        m->chars[i] = (uint64_t)cp << 32 | (uint32_t)id;
    }
    return AKIDB_OK;
}

static int32_t char_id(const ak_bpe *m, uint32_t cp)
{
    for (size_t i = char_slot(cp, m->chars_mask); m->chars[i] != UINT64_MAX;
         i = (i + 1) & m->chars_mask)
        if ((uint32_t)(m->chars[i] >> 32) == cp)
            return (int32_t)(uint32_t)m->chars[i];
    return -1;
}

/* model.dropout: null or 0 (no dropout) load; other values in [0, 1] are
 * EUNSUPPORTED (encoding must be deterministic); the rest EFORMAT, as Rust's
 * InvalidDropout. */
static akidb_status check_dropout(const json_t *model, const char *origin, const char *path)
{
    const json_t *d = json_object_get(model, "dropout");
    if (!d || json_is_null(d))
        return AKIDB_OK;
    char f[160];
    snprintf(f, sizeof f, "%sdropout", path);
    if (!json_is_number(d))
        return ak_tj_bad_type(origin, f, "a number or null", d);
    double p = json_number_value(d);
    if (!(p >= 0.0 && p <= 1.0))
        return ak_fail(AKIDB_EFORMAT, "%s: %s: %g is not in [0, 1]", origin, f, p);
    if (p != 0.0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: %s: BPE dropout %g is not supported (encoding is deterministic); "
                       "set it to null", origin, f, p);
    return AKIDB_OK;
}

static akidb_status dup_opt(const char *s, char **out, size_t *len, const char *origin)
{
    *out = ak_strdup(s ? s : "");
    if (!*out)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    if (len)
        *len = strlen(*out);
    return AKIDB_OK;
}

/* Scalar options and the derived tables (unknown token, <0xNN> ids). */
static akidb_status load_options(ak_bpe *m, const json_t *model, const char *origin,
                                 const char *path)
{
    const char *prefix, *suffix, *unk;
    akidb_status st;
    if ((st = check_dropout(model, origin, path)) != AKIDB_OK ||
        (st = ak_tj_str(model, "unk_token", NULL, &unk, origin, path)) != AKIDB_OK ||
        (st = ak_tj_str(model, "continuing_subword_prefix", NULL, &prefix, origin, path)) !=
            AKIDB_OK ||
        (st = ak_tj_str(model, "end_of_word_suffix", NULL, &suffix, origin, path)) !=
            AKIDB_OK ||
        (st = ak_tj_bool(model, "fuse_unk", false, &m->fuse_unk, origin, path)) != AKIDB_OK ||
        (st = ak_tj_bool(model, "byte_fallback", false, &m->byte_fallback, origin, path)) !=
            AKIDB_OK ||
        (st = ak_tj_bool(model, "ignore_merges", false, &m->ignore_merges, origin, path)) !=
            AKIDB_OK)
        return st;
    if ((st = dup_opt(prefix, &m->prefix, &m->prefix_len, origin)) != AKIDB_OK ||
        (st = dup_opt(suffix, &m->suffix, &m->suffix_len, origin)) != AKIDB_OK)
        return st;
    if (unk && (st = dup_opt(unk, &m->unk_token, NULL, origin)) != AKIDB_OK)
        return st;
    return AKIDB_OK;
}

static void fill_tables(ak_bpe *m)
{
    m->base.unk_id = m->unk_token ? ak_tok_model_id(&m->base, m->unk_token,
                                                    strlen(m->unk_token))
                                  : -1;
    for (int b = 0; b < 256; b++) {
        char code[8];
        snprintf(code, sizeof code, "<0x%02X>", b);
        m->byte_id[b] = ak_tok_model_id(&m->base, code, 6);
    }
}

static void bpe_free(ak_tok_model *base)
{
    if (!base)
        return;
    ak_bpe *m = (ak_bpe *)base;
    ak_tok_model_base_free(&m->base);
    ak_table_free(m->slots);
    ak_table_free(m->rank_id);
    ak_free(m->chars);
    ak_free(m->prefix);
    ak_free(m->suffix);
    ak_free(m->unk_token);
    ak_free(m);
}

static akidb_status bpe_from_json(const json_t *model, const ak_tok_load *ld,
                                  ak_tok_model **out)
{
    const char *origin = ld->origin, *path = ld->path ? ld->path : "model.";
    const ak_tok_spans *spans = ld->spans;
    *out = NULL;
    if (!json_is_object(model))
        return ak_tj_bad_type(origin, "model", "an object", model);
    const json_t *vocab = json_object_get(model, "vocab");
    const json_t *merges = json_object_get(model, "merges");
    char f[160];
    snprintf(f, sizeof f, "%s%s", path, !vocab ? "vocab" : "merges");
    if (!vocab || !merges)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing (BPE needs vocab and merges)", origin, f);
    bool vspan = spans && spans->vocab.len && spans->vocab.open == '{';
    ak_bpe *m = ak_calloc(1, sizeof *m);
    if (!m)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    m->base.kind = &ak_model_bpe;
    m->base.unk_id = -1;
    akidb_status st = load_options(m, model, origin, path);
    if (st == AKIDB_OK) {
        snprintf(f, sizeof f, "%svocab", path);
        size_t n = vspan ? spans->vocab.count : json_is_object(vocab) ? json_object_size(vocab) : 0;
        size_t bound = n + BPE_ID_SLACK < (size_t)INT32_MAX ? n + BPE_ID_SLACK
                                                           : (size_t)INT32_MAX;
        st = vspan ? ak_tok_model_vocab_from_span(&m->base, spans, bound, origin, f)
                   : ak_tok_model_vocab_from_json(&m->base, vocab, bound, origin, f);
    }
    if (st == AKIDB_OK)
        st = load_merges(m, merges, spans, origin, path);
    if (st == AKIDB_OK)
        st = chars_build(m, origin);
    if (st != AKIDB_OK) {
        bpe_free(&m->base);
        return st;
    }
    fill_tables(m);
    *out = &m->base;
    return AKIDB_OK;
}

/* ---- encoding -------------------------------------------------------------- */

/* Scratch slots of one tokenize call. */
enum { SLOT_SYM, SLOT_HEAP, SLOT_TEXT };

typedef struct bpe_sym {
    int32_t id;
    int32_t prev, next;       /* neighbours' indices; -1 at the ends          */
    int32_t alive;            /* 0 once merged into its left neighbour        */
} bpe_sym;

/* The queue holds candidate merges of sym[pos] with its right neighbour as
 * keys rank << 32 | pos, so that integer order is Rust's order (rank, then
 * position); the merged id is rank_id[rank].  It is a 4-ary min-heap: on long
 * words the heap outgrows the caches and half the depth of a binary heap
 * means half the misses. */
typedef struct bpe_word {
    bpe_sym *sym;
    size_t n, cap;
    uint64_t *heap;
    size_t hn, hcap;
    ak_tok_scratch *scr;
} bpe_word;

static akidb_status sym_add(bpe_word *w, int32_t id)
{
    if (w->n == w->cap) {
        if (w->n >= (size_t)INT32_MAX / 2)
            return ak_fail(AKIDB_ETOOLONG, "word too long to tokenize");
        size_t nc = w->cap * 2;
        w->sym = ak_tok_scratch_get(w->scr, SLOT_SYM, nc * sizeof *w->sym);
        if (!w->sym)
            return AKIDB_ENOMEM;
        w->cap = nc;
    }
    w->sym[w->n] = (bpe_sym){id, (int32_t)w->n - 1, -1, 1};
    if (w->n)
        w->sym[w->n - 1].next = (int32_t)w->n;
    w->n++;
    return AKIDB_OK;
}

static akidb_status heap_room(bpe_word *w, size_t need)
{
    if (need <= w->hcap)
        return AKIDB_OK;
    size_t nc = w->hcap ? w->hcap : 64;
    while (nc < need)
        nc *= 2;
    w->heap = ak_tok_scratch_get(w->scr, SLOT_HEAP, nc * sizeof *w->heap);
    if (!w->heap)
        return AKIDB_ENOMEM;
    w->hcap = nc;
    return AKIDB_OK;
}

/* Places key at hole i and moves it down to its place. */
static void sift_down(uint64_t *h, size_t n, size_t i, uint64_t key)
{
    for (;;) {
        size_t c = 4 * i + 1;
        if (c >= n)
            break;
        size_t end = c + 4 < n ? c + 4 : n, best = c;
        for (size_t j = c + 1; j < end; j++)
            if (h[j] < h[best])
                best = j;
        if (h[best] >= key)
            break;
        h[i] = h[best];
        i = best;
    }
    h[i] = key;
}

static akidb_status heap_push(bpe_word *w, uint64_t key)
{
    akidb_status st = heap_room(w, w->hn + 1);
    if (st != AKIDB_OK)
        return st;
    size_t i = w->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 4;
        if (w->heap[p] <= key)
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = key;
    return AKIDB_OK;
}

static uint64_t heap_pop(bpe_word *w)
{
    uint64_t top = w->heap[0], last = w->heap[--w->hn];
    if (w->hn)
        sift_down(w->heap, w->hn, 0, last);
    return top;
}

/* Key of the merge of sym[pos] with its right neighbour; false if none. */
static bool pair_key(const ak_bpe *m, const bpe_word *w, int32_t pos, uint64_t *key)
{
    int32_t nx = w->sym[pos].next;
    if (nx < 0)
        return false;
    const bpe_slot *s = merge_find(m, w->sym[pos].id, w->sym[nx].id);
    if (!s)
        return false;
    *key = (uint64_t)s->rank << 32 | (uint32_t)pos;
    return true;
}

static akidb_status push_pair(const ak_bpe *m, bpe_word *w, int32_t pos)
{
    uint64_t key;
    return pair_key(m, w, pos, &key) ? heap_push(w, key) : AKIDB_OK;
}

/* Rust's merge_all: the initial pairs are heapified at once, then the best
 * candidate is taken until none is left.  A candidate is stale (skipped)
 * when its left symbol was merged away, has no right neighbour any more, or
 * the pair there no longer merges into the candidate's token. */
static akidb_status merge_all(const ak_bpe *m, bpe_word *w)
{
    akidb_status st = heap_room(w, w->n);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i + 1 < w->n; i++)
        if (pair_key(m, w, (int32_t)i, &w->heap[w->hn]))
            w->hn++;
    for (size_t i = w->hn / 4 + 1; i-- > 0;)
        if (i < w->hn)
            sift_down(w->heap, w->hn, i, w->heap[i]);
    while (w->hn) {
        uint64_t key = heap_pop(w);
        uint32_t pos = (uint32_t)key;
        int32_t id = m->rank_id[key >> 32];
        bpe_sym *cur = &w->sym[pos];
        if (!cur->alive || cur->next < 0)
            continue;
        int32_t rpos = cur->next;
        const bpe_slot *s = merge_find(m, cur->id, w->sym[rpos].id);
        if (!s || s->id != id)
            continue;
        cur->id = id;
        cur->next = w->sym[rpos].next;
        w->sym[rpos].alive = 0;
        if (cur->next >= 0)
            w->sym[cur->next].prev = (int32_t)pos;
        if (cur->prev >= 0 && (st = push_pair(m, w, cur->prev)) != AKIDB_OK)
            return st;
        if ((st = push_pair(m, w, (int32_t)pos)) != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

/* UTF-8 of w[0..n) into the text slot; NULL after ak_fail(ENOMEM). */
static char *word_utf8(ak_tok_scratch *scr, const uint32_t *w, size_t n, size_t *len)
{
    char *t = ak_tok_scratch_get(scr, SLOT_TEXT, n * 4 + 1);
    if (!t)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)ak_utf8_encode(w[i], t + k);
    *len = k;
    return t;
}

/* The unknown token's id, or an error when unk_token names no vocabulary
 * entry (Rust fails the encode call the same way, UnkTokenOutOfVocabulary). */
static akidb_status unk_id(const ak_bpe *m, int32_t *id)
{
    *id = m->base.unk_id;
    if (*id < 0)
        return ak_fail(AKIDB_EFORMAT,
                       "tokenizer model: unk_token \"%.60s\" is not in the vocabulary",
                       m->unk_token);
    return AKIDB_OK;
}

/* Writes character i of a word of n as the string Rust looks up (prefix on
 * all but the first, suffix on the last) into buf; returns its length. */
static size_t char_string(const ak_bpe *m, uint32_t cp, size_t i, size_t n, char *buf)
{
    size_t k = 0;
    if (i > 0) {
        memcpy(buf, m->prefix, m->prefix_len);
        k = m->prefix_len;
    }
    k += (size_t)ak_utf8_encode(cp, buf + k);
    if (i + 1 == n) {
        memcpy(buf + k, m->suffix, m->suffix_len);
        k += m->suffix_len;
    }
    return k;
}

/* Appends the <0xNN> tokens of buf[0..k); false (nothing added) unless every
 * byte has one. */
static akidb_status add_bytes(const ak_bpe *m, bpe_word *wd, const char *buf, size_t k,
                              bool *done)
{
    *done = false;
    for (size_t b = 0; b < k; b++)
        if (m->byte_id[(unsigned char)buf[b]] < 0)
            return AKIDB_OK;
    for (size_t b = 0; b < k; b++) {
        akidb_status st = sym_add(wd, m->byte_id[(unsigned char)buf[b]]);
        if (st != AKIDB_OK)
            return st;
    }
    *done = true;
    return AKIDB_OK;
}

/* Rust's merge_word before merging: one symbol per character, or its
 * <0xNN> bytes, or the (possibly fused) unknown token.  As in Rust, a pending
 * unknown token is written out only before the next known character or at
 * the end, so byte-fallback tokens in between come before it. */
static akidb_status initial_symbols(const ak_bpe *m, const uint32_t *w, size_t n,
                                    bpe_word *wd, char *buf)
{
    bool pending = false;
    int32_t pend_id = -1;
    akidb_status st;
    for (size_t i = 0; i < n; i++) {
        bool plain = (i == 0 || m->prefix_len == 0) && (i + 1 < n || m->suffix_len == 0);
        size_t k = plain ? 0 : char_string(m, w[i], i, n, buf);
        int32_t id = plain ? char_id(m, w[i]) : ak_vocab_get2(&m->base.vocab, buf, k, "", 0);
        if (id >= 0) {
            if (pending && (st = sym_add(wd, pend_id)) != AKIDB_OK)
                return st;
            pending = false;
            if ((st = sym_add(wd, id)) != AKIDB_OK)
                return st;
            continue;
        }
        if (m->byte_fallback) {
            bool done;
            if (plain)
                k = char_string(m, w[i], i, n, buf);
            if ((st = add_bytes(m, wd, buf, k, &done)) != AKIDB_OK)
                return st;
            if (done)
                continue;
        }
        if (!m->unk_token)
            continue;                        /* dropped, as in Rust */
        if (pending && m->fuse_unk)
            continue;
        if (pending && (st = sym_add(wd, pend_id)) != AKIDB_OK)
            return st;
        if ((st = unk_id(m, &pend_id)) != AKIDB_OK)
            return st;
        pending = true;
    }
    if (pending && (st = sym_add(wd, pend_id)) != AKIDB_OK)
        return st;
    return AKIDB_OK;
}

static akidb_status bpe_tokenize(const ak_tok_model *base, const uint32_t *w, size_t n,
                                 ak_tok_scratch *scr, ak_idbuf *out)
{
    const ak_bpe *m = (const ak_bpe *)base;
    AK_ASSERT(n >= 1);
    if (n > (size_t)INT32_MAX / 8)
        return ak_fail(AKIDB_ETOOLONG, "word of %zu characters is too long to tokenize", n);
    size_t len;
    char *text;
    if (m->ignore_merges) {
        if (!(text = word_utf8(scr, w, n, &len)))
            return AKIDB_ENOMEM;
        int32_t id = ak_vocab_get2(&m->base.vocab, text, len, "", 0);
        if (id >= 0)
            return ak_idbuf_push(out, id);
    }
    char *buf = ak_tok_scratch_get(scr, SLOT_TEXT, m->prefix_len + 4 + m->suffix_len + 1);
    if (!buf)
        return AKIDB_ENOMEM;
    bpe_word wd = {.scr = scr, .cap = n < 16 ? 16 : n};
    if (!(wd.sym = ak_tok_scratch_get(scr, SLOT_SYM, wd.cap * sizeof *wd.sym)))
        return AKIDB_ENOMEM;
    akidb_status st = initial_symbols(m, w, n, &wd, buf);
    if (st == AKIDB_OK)
        st = merge_all(m, &wd);
    if (st != AKIDB_OK)
        return st;
    size_t alive = 0;
    for (size_t i = 0; i < wd.n; i++)
        alive += (size_t)wd.sym[i].alive;
    if ((st = ak_idbuf_reserve(out, alive)) != AKIDB_OK)
        return st;
    for (size_t i = 0; i < wd.n; i++)
        if (wd.sym[i].alive)
            out->v[out->n++] = wd.sym[i].id;
    return AKIDB_OK;
}

const ak_tok_model_kind ak_model_bpe = {
    .type = "BPE",
    .from_json = bpe_from_json,
    .tokenize = bpe_tokenize,
    .free = bpe_free,
};
