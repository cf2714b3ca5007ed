/*
 * model_unigram.c - the "Unigram" model kind of tokenizer.json (XLM-R, T5,
 * ALBERT, mBART and every sentencepiece unigram vocabulary), with the
 * semantics of Hugging Face tokenizers (Rust) models::unigram, which
 * sentence-transformers runs:
 *
 *   - Viterbi over the UTF-8 bytes of the word: at each character start every
 *     vocabulary piece that begins there (found by walking a byte trie) offers
 *     a path "best score so far + piece score"; the best path to each end wins,
 *     a later candidate only when strictly better (so ties keep the earlier
 *     start, then the shorter piece).  This is Rust's encode_optimized, scores
 *     in double precision.
 *   - A character that starts no one-character piece also gets an unknown
 *     node scored min(score) - 10; without an unk_id that node is an error
 *     when it would be taken, as Rust's MissingUnkId.
 *   - Consecutive nodes with the unknown id are fused into one token (Rust
 *     always fuses for Unigram); a fused string that is a vocabulary piece
 *     takes that piece's id, otherwise byte_fallback turns it into <0xNN>
 *     pieces when all of them exist, otherwise it is the unknown id.
 *
 * The trie is built once at load by an MSD radix sort of the pieces, level by
 * level, so that the children of a node are contiguous and sorted by byte:
 * 11 bytes a node, no allocation per node, O(total bytes) to build.  XLM-R's
 * 250k pieces make about a million nodes.  The root has a direct 256-entry
 * table because nearly every lookup starts there.
 */
#include "tok_parts.h"
#include "json_scan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

extern const ak_tok_model_kind ak_model_unigram;

#define UNK_PENALTY 10.0

typedef struct uni_trie {
    uint32_t *first;        /* index of the first child                       */
    uint16_t *nchild;       /* number of children (<= 256)                    */
    uint8_t *label;         /* byte on the edge into the node                 */
    int32_t *id;            /* piece ending at the node, -1 if none            */
    size_t n, cap;
    uint32_t root[256];     /* child of the root per byte, 0 if none           */
} uni_trie;

typedef struct ak_unigram {
    ak_tok_model base;
    double *score;          /* per id                                          */
    double min_score;
    bool byte_fallback;
    int32_t byte_id[256];   /* id of "<0xNN>", -1 when absent                  */
    uni_trie trie;
} ak_unigram;

/* ---- trie ----------------------------------------------------------------- */

static void trie_free(uni_trie *t)
{
    ak_table_free(t->first);
    ak_table_free(t->nchild);
    ak_table_free(t->label);
    ak_table_free(t->id);
    memset(t, 0, sizeof *t);
}

/* One piece while the trie is built. */
typedef struct trie_key {
    const unsigned char *s;
    uint32_t len;
    int32_t id;
} trie_key;

/* A node still to expand: its pieces are keys[lo, hi), all sharing the first
 * depth bytes. */
typedef struct trie_item {
    uint32_t node, lo, hi, depth;
} trie_item;

typedef struct trie_build {
    trie_key *keys, *tmp;
    trie_item *stack;
    size_t top, cap;
} trie_build;

static akidb_status trie_resize(uni_trie *t, size_t nc, const char *origin)
{
    if (nc > UINT32_MAX)
        return ak_fail(AKIDB_ETOOLONG, "%s: model.vocab: too many trie nodes", origin);
    uni_trie nt = *t;
    nt.first = ak_table_alloc(nc * sizeof *nt.first, -1);
    nt.nchild = ak_table_alloc(nc * sizeof *nt.nchild, -1);
    nt.label = ak_table_alloc(nc, -1);
    nt.id = ak_table_alloc(nc * sizeof *nt.id, -1);
    if (!nt.first || !nt.nchild || !nt.label || !nt.id) {
        ak_table_free(nt.first);
        ak_table_free(nt.nchild);
        ak_table_free(nt.label);
        ak_table_free(nt.id);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    }
    if (t->n) {
        memcpy(nt.first, t->first, t->n * sizeof *nt.first);
        memcpy(nt.nchild, t->nchild, t->n * sizeof *nt.nchild);
        memcpy(nt.label, t->label, t->n);
        memcpy(nt.id, t->id, t->n * sizeof *nt.id);
    }
    ak_table_free(t->first);
    ak_table_free(t->nchild);
    ak_table_free(t->label);
    ak_table_free(t->id);
    nt.cap = nc;
    *t = nt;
    return AKIDB_OK;
}

/* Resizes the node arrays to hold need nodes (the first n kept), in memory
 * from ak_table_alloc: building XLM-R's trie writes a million nodes, and
 * page faults would cost more than the build. */
static akidb_status trie_grow(uni_trie *t, size_t need, const char *origin)
{
    if (need <= t->cap && t->cap)
        return AKIDB_OK;
    size_t nc = t->cap ? t->cap : need;
    while (nc < need)
        nc *= 2;
    return trie_resize(t, nc, origin);
}

/* Appends a node (no children yet) and returns its index. */
static uint32_t trie_add(uni_trie *t, uint8_t label)
{
    uint32_t x = (uint32_t)t->n++;
    t->label[x] = label;
    t->first[x] = 0;
    t->nchild[x] = 0;
    t->id[x] = -1;
    return x;
}

static inline int key_byte(const trie_key *k, uint32_t d)
{
    return d < k->len ? k->s[d] : -1;
}

/* Sorts keys[lo, hi) by the byte at depth d (a piece ending there first):
 * insertion sort for the many small ranges, counting sort for large ones. */
static void sort_range(trie_build *b, uint32_t lo, uint32_t hi, uint32_t d)
{
    trie_key *k = b->keys;
    if (hi - lo <= 32) {
        for (uint32_t i = lo + 1; i < hi; i++) {
            trie_key e = k[i];
            int c = key_byte(&e, d);
            uint32_t j = i;
            for (; j > lo && key_byte(&k[j - 1], d) > c; j--)
                k[j] = k[j - 1];
            k[j] = e;
        }
        return;
    }
    size_t pos[257] = {0};
    for (uint32_t i = lo; i < hi; i++)
        pos[key_byte(&k[i], d) + 1]++;
    size_t acc = lo;
    for (int c = 0; c <= 256; c++) {
        size_t n = pos[c];
        pos[c] = acc;
        acc += n;
    }
    for (uint32_t i = lo; i < hi; i++)
        b->tmp[pos[key_byte(&k[i], d) + 1]++] = k[i];
    memcpy(k + lo, b->tmp + lo, (hi - lo) * sizeof *k);
}

static akidb_status push_item(trie_build *b, trie_item it, const char *origin)
{
    if (b->top == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        trie_item *p = ak_realloc(b->stack, nc * sizeof *p);
        if (!p)
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
        b->stack = p;
        b->cap = nc;
    }
    b->stack[b->top++] = it;
    return AKIDB_OK;
}

/* Expands one node: marks the piece ending there and appends its children
 * (sorted by byte, contiguous).  A single remaining piece becomes a chain of
 * nodes at once; larger groups are pushed to be expanded in turn (depth
 * first, so a group's keys stay in cache). */
static akidb_status trie_expand(uni_trie *t, trie_build *b, trie_item it, const char *origin)
{
    uint32_t lo = it.lo, hi = it.hi, d = it.depth, node = it.node;
    akidb_status st;
    if (hi - lo == 1) {
        const trie_key *k = &b->keys[lo];
        if ((st = trie_grow(t, t->n + (k->len - d), origin)) != AKIDB_OK)
            return st;
        for (; d < k->len; d++) {
            uint32_t x = trie_add(t, k->s[d]);
            t->first[node] = x;
            t->nchild[node] = 1;
            node = x;
        }
        t->id[node] = k->id;
        return AKIDB_OK;
    }
    sort_range(b, lo, hi, d);
    if (key_byte(&b->keys[lo], d) < 0)
        t->id[node] = b->keys[lo++].id;        /* unique: duplicates are refused */
    size_t kids = 0;
    for (uint32_t i = lo; i < hi; i++)
        kids += i == lo || key_byte(&b->keys[i], d) != key_byte(&b->keys[i - 1], d);
    if (!kids)
        return AKIDB_OK;
    if ((st = trie_grow(t, t->n + kids, origin)) != AKIDB_OK)
        return st;
    t->first[node] = (uint32_t)t->n;
    t->nchild[node] = (uint16_t)kids;
    for (uint32_t i = lo; i < hi;) {
        int c = key_byte(&b->keys[i], d);
        uint32_t j = i + 1;
        while (j < hi && key_byte(&b->keys[j], d) == c)
            j++;
        uint32_t x = trie_add(t, (uint8_t)c);
        if ((st = push_item(b, (trie_item){x, i, j, d + 1}, origin)) != AKIDB_OK)
            return st;
        i = j;
    }
    return AKIDB_OK;
}

static akidb_status trie_build_all(uni_trie *t, const ak_vocab *v, const char *origin)
{
    trie_build b = {0};
    size_t n = v->n;
    akidb_status st = AKIDB_OK;
    b.keys = ak_table_alloc((n ? n : 1) * sizeof *b.keys, -1);
    b.tmp = ak_table_alloc((n ? n : 1) * sizeof *b.tmp, -1);
    if (!b.keys || !b.tmp)
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    size_t bound = 1, k = 0, pos = 0, len;  /* nodes: at most one per byte, + root */
    const char *key;
    int32_t id;
    while (ak_vocab_next(v, &pos, &key, &len, &id))
        bound += len;
    if (st == AKIDB_OK)
        st = trie_grow(t, bound, origin);
    if (st == AKIDB_OK) {
        for (pos = 0; ak_vocab_next(v, &pos, &key, &len, &id);)
            b.keys[k++] = (trie_key){(const unsigned char *)key, (uint32_t)len, id};
        AK_ASSERT(k == n);
        trie_add(t, 0);
        st = push_item(&b, (trie_item){0, 0, (uint32_t)n, 0}, origin);
    }
    while (st == AKIDB_OK && b.top > 0)
        st = trie_expand(t, &b, b.stack[--b.top], origin);
    /* The unused end of the bound is never touched, so it takes no memory
     * (ak_table_alloc leaves it unfaulted); it is not copied away. */
    if (st == AKIDB_OK) {
        memset(t->root, 0, sizeof t->root);
        for (uint32_t j = t->first[0]; j < t->first[0] + t->nchild[0]; j++)
            t->root[t->label[j]] = j;
    }
    ak_table_free(b.keys);
    ak_table_free(b.tmp);
    ak_free(b.stack);
    return st;
}

/* Child of node k along byte c, 0 if none (0 is the root, never a child). */
static inline uint32_t trie_child(const uni_trie *t, uint32_t k, unsigned char c)
{
    if (k == 0)
        return t->root[c];
    uint32_t lo = t->first[k], hi = lo + t->nchild[k];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (t->label[mid] < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->first[k] + t->nchild[k] && t->label[lo] == c ? lo : 0;
}

/* ---- loading --------------------------------------------------------------- */

static void uni_free(ak_tok_model *base)
{
    if (!base)
        return;
    ak_unigram *m = (ak_unigram *)base;
    ak_tok_model_base_free(&m->base);
    ak_table_free(m->score);
    trie_free(&m->trie);
    ak_free(m);
}

/* Adds piece i with its score. */
static akidb_status add_piece(ak_unigram *m, size_t i, const char *s, size_t len, double sc,
                              const char *origin, const char *path)
{
    int32_t old;
    akidb_status st = ak_vocab_add(&m->base.vocab, s, len, (int32_t)i, &old);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s", origin);
    if (old >= 0)                           /* ids are indices */
        return ak_fail(AKIDB_EFORMAT, "%s: %svocab[%zu]: piece \"%.*s\" repeats %svocab[%d]",
                       origin, path, i, len < 40 ? (int)len : 40, s, path, (int)old);
    m->score[i] = sc;
    if (sc < m->min_score)
        m->min_score = sc;
    return AKIDB_OK;
}

/* Sizes the vocabulary and the scores for n pieces of text bytes. */
static akidb_status vocab_alloc(ak_unigram *m, size_t n, size_t text, const char *origin,
                                const char *path)
{
    if (n == 0)
        return ak_fail(AKIDB_EFORMAT, "%s: %svocab: empty (Unigram needs at least one piece)",
                       origin, path);
    if (n > (size_t)INT32_MAX / 4)
        return ak_fail(AKIDB_ETOOLONG, "%s: %svocab: %zu pieces are too many", origin, path, n);
    akidb_status st = ak_vocab_init(&m->base.vocab, n, text);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s", origin);
    if (!(m->score = ak_table_alloc(n * sizeof *m->score, -1)))
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    m->min_score = INFINITY;
    return AKIDB_OK;
}

/* Reads model.vocab ([[piece, score], ...]) of the tree into the vocabulary
 * and scores. */
static akidb_status load_vocab(ak_unigram *m, const json_t *vocab, const char *origin,
                               const char *path)
{
    if (!vocab)
        return ak_fail(AKIDB_EFORMAT, "%s: %svocab: missing", origin, path);
    if (!json_is_array(vocab))
        return ak_fail(AKIDB_EFORMAT, "%s: %svocab: expected an array of [piece, score], "
                       "found %s", origin, path, ak_tj_type_name(vocab));
    size_t n = json_array_size(vocab), text = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(vocab, i);
        const json_t *p = json_array_get(e, 0), *s = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(p))
            return ak_fail(AKIDB_EFORMAT, "%s: %svocab[%zu]: expected [piece, score]",
                           origin, path, i);
        if (!json_is_number(s))
            return ak_fail(AKIDB_EFORMAT, "%s: %svocab[%zu]: score of \"%.40s\" is %s, "
                           "not a number", origin, path, i, json_string_value(p),
                           ak_tj_type_name(s));
        text += json_string_length(p);
    }
    akidb_status st = vocab_alloc(m, n, text, origin, path);
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        const json_t *e = json_array_get(vocab, i);
        const json_t *p = json_array_get(e, 0);
        st = add_piece(m, i, json_string_value(p), json_string_length(p),
                       json_number_value(json_array_get(e, 1)), origin, path);
    }
    return st != AKIDB_OK ? st : ak_tok_model_index(&m->base, origin);
}

/* The message for vocab[i] of the span, which is not [piece, score]. */
static akidb_status span_bad_entry(const ak_tok_spans *t, size_t i, const char *origin,
                                   const char *path)
{
    ak_js_cur c;
    ak_js_open(&c, t, &t->vocab);
    for (size_t k = 0; ak_js_more(&c) && k < i; k++)
        ak_js_skip(&c);
    if (ak_js_type(&c) == AK_JS_ARRAY) {
        ak_js_enter(&c);
        if (ak_js_more(&c) && ak_js_type(&c) == AK_JS_STRING) {
            ak_js_buf b = {0};
            ak_js_str p;
            akidb_status st = ak_js_string(&c, &b, &p);
            bool two = st == AKIDB_OK && ak_js_more(&c);
            ak_js_cur score = c;
            if (two) {
                ak_js_skip(&c);
                two = !ak_js_more(&c);
            }
            if (two)
                st = ak_fail(AKIDB_EFORMAT, "%s: %svocab[%zu]: score of \"%.*s\" is %s, "
                             "not a number", origin, path, i, p.n < 40 ? (int)p.n : 40, p.s,
                             ak_js_type_name(&score));
            ak_js_buf_free(&b);
            if (st != AKIDB_OK)
                return st;
        }
    }
    return ak_fail(AKIDB_EFORMAT, "%s: %svocab[%zu]: expected [piece, score]", origin, path, i);
}

/* Reads model.vocab from its span in the text. */
static akidb_status load_vocab_span(ak_unigram *m, const ak_tok_spans *t, const char *origin,
                                    const char *path)
{
    const ak_js_span *sp = &t->vocab;
    size_t n = sp->count;
    const uint32_t want = AK_JS_SHAPE(AK_JS_ARRAY, 2, AK_JS_STRING, AK_JS_NUMBER);
    size_t bad = sp->shape0 == want ? sp->other : 0;
    if (n && bad < n)
        return span_bad_entry(t, bad, origin, path);
    akidb_status st = vocab_alloc(m, n, sp->str_bytes, origin, path);
    ak_js_cur c;
    ak_js_buf buf = {0};
    ak_js_open(&c, t, sp);
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        ak_js_str p;
        bool more = ak_js_more(&c);
        AK_ASSERT(more);                /* the scanner counted them */
        ak_js_enter(&c);
        more = ak_js_more(&c);
        buf.n = 0;
        if ((st = ak_js_string(&c, &buf, &p)) != AKIDB_OK)
            break;
        more = ak_js_more(&c);
        double sc = ak_js_number(&c);
        more = ak_js_more(&c);          /* passes the ']' */
        (void)more;
        st = add_piece(m, i, p.s, p.n, sc, origin, path);
    }
    ak_js_buf_free(&buf);
    return st != AKIDB_OK ? st : ak_tok_model_index(&m->base, origin);
}

static akidb_status load_options(ak_unigram *m, const json_t *model, const char *origin,
                                 const char *path)
{
    long long unk;
    akidb_status st = ak_tj_int(model, "unk_id", -1, 0, (long long)m->base.n_ids - 1, &unk,
                                origin, path);
    if (st != AKIDB_OK)
        return st;
    m->base.unk_id = (int32_t)unk;
    if ((st = ak_tj_bool(model, "byte_fallback", false, &m->byte_fallback, origin, path)))
        return st;
    for (int b = 0; b < 256; b++) {
        char code[8];
        snprintf(code, sizeof code, "<0x%02X>", b);
        m->byte_id[b] = ak_tok_model_id(&m->base, code, 6);
    }
    return AKIDB_OK;
}

static akidb_status uni_from_json(const json_t *model, const ak_tok_load *ld,
                                  ak_tok_model **out)
{
    const char *origin = ld->origin, *path = ld->path ? ld->path : "model.";
    *out = NULL;
    if (!json_is_object(model))
        return ak_tj_bad_type(origin, "model", "an object", model);
    ak_unigram *m = ak_calloc(1, sizeof *m);
    if (!m)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    m->base.kind = &ak_model_unigram;
    m->base.unk_id = -1;
    const ak_tok_spans *t = ld->spans;
    akidb_status st = t && t->vocab.len && t->vocab.open == '['
                          ? load_vocab_span(m, t, origin, path)
                          : load_vocab(m, json_object_get(model, "vocab"), origin, path);
    if (st == AKIDB_OK)
        st = load_options(m, model, origin, path);
    if (st == AKIDB_OK)
        st = trie_build_all(&m->trie, &m->base.vocab, origin);
    if (st != AKIDB_OK) {
        uni_free(&m->base);
        return st;
    }
    *out = &m->base;
    return AKIDB_OK;
}

/* ---- encoding -------------------------------------------------------------- */

enum { SLOT_TEXT, SLOT_BEST, SLOT_PATH };

typedef struct best_node {
    double score;           /* best path score ending here                      */
    int32_t start;          /* byte where its last token starts; -1: none yet    */
    int32_t id;
} best_node;

typedef struct tok_span {   /* one token of the best path (fused when unknown)   */
    int32_t start, end, id;
} tok_span;

static inline void offer(best_node *t, int32_t start, double score, int32_t id)
{
    if (t->start < 0 || score > t->score) {
        t->score = score;
        t->start = start;
        t->id = id;
    }
}

static int utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Fills best[0..len] with the best path ending at each byte. */
static akidb_status viterbi(const ak_unigram *m, const unsigned char *s, size_t len,
                            best_node *best)
{
    const uni_trie *t = &m->trie;
    const double unk_score = m->min_score - UNK_PENALTY;
    for (size_t i = 0; i <= len; i++)
        best[i] = (best_node){0.0, -1, 0};
    size_t at = 0;
    while (at < len) {
        const double here = best[at].score;
        size_t mblen = (size_t)utf8_len(s[at]);
        if (mblen > len - at)
            mblen = len - at;
        bool single = false;
        uint32_t k = 0;
        for (size_t j = at; j < len; j++) {
            if (!(k = trie_child(t, k, s[j])))
                break;
            int32_t id = t->id[k];
            if (id < 0)
                continue;
            offer(&best[j + 1], (int32_t)at, m->score[id] + here, id);
            if (j + 1 - at == mblen)
                single = true;
        }
        if (!single) {
            best_node *tg = &best[at + mblen];
            double cand = unk_score + here;
            if (tg->start < 0 || cand > tg->score) {
                if (m->base.unk_id < 0)
                    return ak_fail(AKIDB_EFORMAT, "tokenizer model: the text has a character "
                                   "outside the Unigram vocabulary and the model has no "
                                   "unk_id");
                offer(tg, (int32_t)at, cand, m->base.unk_id);
            }
        }
        at += mblen;
    }
    return AKIDB_OK;
}

/* Walks the best path back from the end into spans (last token first),
 * fusing runs of unknown-id nodes; returns the number of spans. */
static size_t backtrack(const ak_unigram *m, const best_node *best, size_t len,
                        tok_span *sp)
{
    size_t ns = 0;
    bool in_run = false;
    int32_t end = (int32_t)len;
    while (end > 0) {
        const best_node *b = &best[end];
        AK_ASSERT(b->start >= 0 && b->start < end);
        bool unk = b->id == m->base.unk_id;
        if (unk && in_run) {
            sp[ns - 1].start = b->start;
        } else {
            sp[ns++] = (tok_span){b->start, end, b->id};
            in_run = unk;
        }
        end = b->start;
    }
    return ns;
}

static akidb_status emit(const ak_unigram *m, const unsigned char *s, const tok_span *sp,
                         bool run, ak_idbuf *out)
{
    if (!run)
        return ak_idbuf_push(out, sp->id);
    const char *p = (const char *)s + sp->start;
    size_t n = (size_t)(sp->end - sp->start);
    int32_t id = ak_tok_model_id(&m->base, p, n);
    if (id >= 0)
        return ak_idbuf_push(out, id);
    if (m->byte_fallback) {
        size_t b = 0;
        while (b < n && m->byte_id[(unsigned char)p[b]] >= 0)
            b++;
        if (b == n) {
            akidb_status st = ak_idbuf_reserve(out, n);
            if (st != AKIDB_OK)
                return st;
            for (b = 0; b < n; b++)
                out->v[out->n++] = m->byte_id[(unsigned char)p[b]];
            return AKIDB_OK;
        }
    }
    return ak_idbuf_push(out, m->base.unk_id);
}

static akidb_status uni_tokenize(const ak_tok_model *base, const uint32_t *w, size_t n,
                                 ak_tok_scratch *scr, ak_idbuf *out)
{
    const ak_unigram *m = (const ak_unigram *)base;
    AK_ASSERT(n >= 1);
    if (n > (size_t)INT32_MAX / 8)
        return ak_fail(AKIDB_ETOOLONG, "word of %zu characters is too long to tokenize", n);
    unsigned char *s = ak_tok_scratch_get(scr, SLOT_TEXT, n * 4);
    if (!s)
        return AKIDB_ENOMEM;
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)ak_utf8_encode(w[i], (char *)s + len);
    best_node *best = ak_tok_scratch_get(scr, SLOT_BEST, (len + 1) * sizeof *best);
    tok_span *sp = best ? ak_tok_scratch_get(scr, SLOT_PATH, len * sizeof *sp) : NULL;
    if (!sp)
        return AKIDB_ENOMEM;
    akidb_status st = viterbi(m, s, len, best);
    if (st != AKIDB_OK)
        return st;
    size_t ns = backtrack(m, best, len, sp);
    for (size_t i = ns; i-- > 0 && st == AKIDB_OK;)
        st = emit(m, s, &sp[i], sp[i].id == m->base.unk_id, out);
    return st;
}

const ak_tok_model_kind ak_model_unigram = {
    .type = "Unigram",
    .from_json = uni_from_json,
    .tokenize = uni_tokenize,
    .free = uni_free,
};
