/*
 * tok_common.c - the small pieces every tokenizer part shares (declared in
 * tok_parts.h): growable code point / id / string buffers, per-call scratch
 * slots, split lists, tokenizer.json field readers with uniform messages, and
 * the vocabulary half of a model (token -> id map and id -> token table).
 */
#include "tok_parts.h"
#include "json_scan.h"

#include <stdio.h>
#include <string.h>

/* ---- growable buffers ---------------------------------------------------- */

/* Grows *p (capacity *cap elements of elem bytes) to hold need elements. */
static akidb_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return AKIDB_OK;
    size_t nc = *cap ? *cap : 16, bytes;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
        nc *= 2;
    }
    if (ak_mul_overflow(nc, elem, &bytes))
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
    void *np = ak_realloc(*p, bytes);
    if (!np)
        return ak_fail(AKIDB_ENOMEM, "out of memory tokenizing a text");
    *p = np;
    *cap = nc;
    return AKIDB_OK;
}

akidb_status ak_cpbuf_reserve(ak_cpbuf *b, size_t more)
{
    if (more > SIZE_MAX - b->n)
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
    return grow((void **)&b->v, &b->cap, b->n + more, sizeof *b->v);
}

akidb_status ak_idbuf_reserve(ak_idbuf *b, size_t more)
{
    if (more > SIZE_MAX - b->n)
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
    return grow((void **)&b->v, &b->cap, b->n + more, sizeof *b->v);
}

akidb_status ak_cpbuf_push(ak_cpbuf *b, const uint32_t *cps, size_t n)
{
    akidb_status st = ak_cpbuf_reserve(b, n);
    if (st != AKIDB_OK)
        return st;
    if (n)
        memcpy(b->v + b->n, cps, n * sizeof *cps);
    b->n += n;
    return AKIDB_OK;
}

akidb_status ak_idbuf_push(ak_idbuf *b, int32_t id)
{
    if (b->n == b->cap) {
        akidb_status st = ak_idbuf_reserve(b, 1);
        if (st != AKIDB_OK)
            return st;
    }
    b->v[b->n++] = id;
    return AKIDB_OK;
}

void ak_cpbuf_free(ak_cpbuf *b)
{
    ak_free(b->v);
    memset(b, 0, sizeof *b);
}

void ak_idbuf_free(ak_idbuf *b)
{
    ak_free(b->v);
    memset(b, 0, sizeof *b);
}

/* ---- scratch ------------------------------------------------------------- */

void *ak_tok_scratch_get(ak_tok_scratch *s, unsigned slot, size_t bytes)
{
    AK_ASSERT(slot < AK_TOK_SCRATCH_SLOTS);
    if (bytes > s->cap[slot]) {
        size_t nc = s->cap[slot] ? s->cap[slot] : 256;
        while (nc < bytes) {
            if (nc > SIZE_MAX / 2) {
                ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
                return NULL;
            }
            nc *= 2;
        }
        void *p = ak_realloc(s->p[slot], nc);
        if (!p) {
            ak_fail(AKIDB_ENOMEM, "out of memory tokenizing a text");
            return NULL;
        }
        s->p[slot] = p;
        s->cap[slot] = nc;
    }
    return s->p[slot];
}

void ak_tok_scratch_free(ak_tok_scratch *s)
{
    for (unsigned i = 0; i < AK_TOK_SCRATCH_SLOTS; i++)
        ak_free(s->p[i]);
    memset(s, 0, sizeof *s);
}

/* ---- split lists --------------------------------------------------------- */

akidb_status ak_splits_push(ak_splits *s, const uint32_t *cps, size_t n, bool at0)
{
    akidb_status st = grow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v);
    if (st != AKIDB_OK)
        return st;
    size_t off = s->text.n;
    if ((st = ak_cpbuf_push(&s->text, cps, n)) != AKIDB_OK)
        return st;
    s->v[s->n++] = (ak_split){.off = off, .len = n, .at0 = at0};
    return AKIDB_OK;
}

void ak_splits_clear(ak_splits *s)
{
    s->n = 0;
    s->text.n = 0;
}

void ak_splits_free(ak_splits *s)
{
    ak_cpbuf_free(&s->text);
    ak_free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- JSON fields ---------------------------------------------------------- */

const char *ak_tj_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

akidb_status ak_tj_bad_type(const char *origin, const char *field, const char *want,
                            const json_t *got)
{
    return ak_fail(AKIDB_EFORMAT, "%s: %s: expected %s, found %s", origin, field, want,
                   got ? ak_tj_type_name(got) : "nothing");
}

/* The value of key, NULL when absent or null; *f receives "path key". */
static const json_t *field(const json_t *obj, const char *key, const char *path, char *f,
                           size_t fn)
{
    snprintf(f, fn, "%s%s", path ? path : "", key);
    json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

akidb_status ak_tj_bool(const json_t *obj, const char *key, bool def, bool *out,
                        const char *origin, const char *path)
{
    char f[192];
    const json_t *v = field(obj, key, path, f, sizeof f);
    *out = def;
    if (!v)
        return AKIDB_OK;
    if (!json_is_boolean(v))
        return ak_tj_bad_type(origin, f, "a boolean", v);
    *out = json_is_true(v);
    return AKIDB_OK;
}

akidb_status ak_tj_str(const json_t *obj, const char *key, const char *def,
                       const char **out, const char *origin, const char *path)
{
    char f[192];
    const json_t *v = field(obj, key, path, f, sizeof f);
    *out = def;
    if (!v)
        return AKIDB_OK;
    if (!json_is_string(v))
        return ak_tj_bad_type(origin, f, "a string", v);
    *out = json_string_value(v);
    return AKIDB_OK;
}

akidb_status ak_tj_int(const json_t *obj, const char *key, long long def, long long lo,
                       long long hi, long long *out, const char *origin, const char *path)
{
    char f[192];
    const json_t *v = field(obj, key, path, f, sizeof f);
    *out = def;
    if (!v)
        return AKIDB_OK;
    if (!json_is_integer(v))
        return ak_tj_bad_type(origin, f, "an integer", v);
    long long x = json_integer_value(v);
    if (x < lo || x > hi)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: %lld is out of range [%lld, %lld]", origin, f,
                       x, lo, hi);
    *out = x;
    return AKIDB_OK;
}

akidb_status ak_tj_pattern(const json_t *obj, const char *key, const char **s,
                           bool *is_regex, const char *origin, const char *path)
{
    char f[192];
    const json_t *v = field(obj, key, path, f, sizeof f);
    *s = NULL;
    *is_regex = false;
    if (!v)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing", origin, f);
    if (!json_is_object(v))
        return ak_tj_bad_type(origin, f, "an object {\"String\": ...} or {\"Regex\": ...}", v);
    const json_t *str = json_object_get(v, "String"), *re = json_object_get(v, "Regex");
    if ((str != NULL) == (re != NULL))
        return ak_fail(AKIDB_EFORMAT, "%s: %s: expected exactly one of \"String\" or \"Regex\"",
                       origin, f);
    const json_t *x = str ? str : re;
    if (!json_is_string(x))
        return ak_tj_bad_type(origin, f, "a string pattern", x);
    *s = json_string_value(x);
    *is_regex = re != NULL;
    return AKIDB_OK;
}

/* ---- the vocabulary half of a model -------------------------------------- */

akidb_status ak_tok_model_vocab_from_json(ak_tok_model *m, const json_t *vocab,
                                          size_t bound, const char *origin,
                                          const char *field_name)
{
    if (!json_is_object(vocab))
        return ak_tj_bad_type(origin, field_name, "an object", vocab);
    size_t n = json_object_size(vocab), text = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)vocab, key, val) text += strlen(key);
    akidb_status st = ak_vocab_init(&m->vocab, n, text);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s", origin);
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val))
            return ak_fail(AKIDB_EFORMAT, "%s: %s: token '%.40s' has %s, not an integer id",
                           origin, field_name, key, ak_tj_type_name(val));
        json_int_t id = json_integer_value(val);
        if (id < 0 || (size_t)id >= bound || id > INT32_MAX)
            return ak_fail(AKIDB_EFORMAT, "%s: %s: id %lld of token '%.40s' is out of range",
                           origin, field_name, (long long)id, key);
        if ((st = ak_vocab_put(&m->vocab, key, strlen(key), (int32_t)id)) != AKIDB_OK)
            return ak_fail_prefix(st, "%s", origin);
    }
    return ak_tok_model_index(m, origin);
}

/* One member of model.vocab read from its span. */
typedef struct vocab_item {
    ak_js_str k;
    long long id;
    uint64_t h;
    const char *at;           /* where the member starts, for messages        */
} vocab_item;

/* Vocabulary insertions miss the cache (Gemma 3: 262k keys): members are
 * read, hashed and their slots prefetched in batches, then added. */
#define VOCAB_BATCH 32

/* Reads up to VOCAB_BATCH members into q; a malformed member ends the batch
 * and its error is left in *bad, to be reported once the members before it
 * are added.  *end: the object is read to its end. */
static size_t vocab_batch(ak_tok_model *m, ak_js_cur *c, ak_js_buf *buf, vocab_item *q,
                          size_t bound, const char *origin, const char *field_name,
                          akidb_status *bad, bool *end)
{
    size_t nq = 0;
    *bad = AKIDB_OK;
    *end = false;
    buf->n = 0;
    while (nq < VOCAB_BATCH && !(*end = !ak_js_more(c))) {
        vocab_item *it = &q[nq];
        it->at = c->p;
        if ((*bad = ak_js_key(c, buf, &it->k)) != AKIDB_OK)
            break;
        int kn = it->k.n < 40 ? (int)it->k.n : 40;
        if (!ak_js_is_integer(c)) {
            *bad = ak_fail(AKIDB_EFORMAT, "%s: %s: token '%.*s' has %s, not an integer id",
                           origin, field_name, kn, it->k.s, ak_js_type_name(c));
            break;
        }
        it->id = ak_js_integer(c);
        if (it->id < 0 || (unsigned long long)it->id >= bound || it->id > INT32_MAX) {
            *bad = ak_fail(AKIDB_EFORMAT, "%s: %s: id %lld of token '%.*s' is out of range",
                           origin, field_name, it->id, kn, it->k.s);
            break;
        }
        it->h = ak_vocab_hash2(it->k.s, it->k.n, "", 0);
        ak_vocab_prefetch(&m->vocab, it->h);
        nq++;
    }
    for (size_t k = 0; k < nq; k++)     /* decoded keys: the buffer is final */
        if (q[k].k.off != SIZE_MAX)
            q[k].k.s = buf->v + q[k].k.off;
    return nq;
}

akidb_status ak_tok_model_vocab_from_span(ak_tok_model *m, const ak_tok_spans *t,
                                          size_t bound, const char *origin,
                                          const char *field_name)
{
    const ak_js_span *sp = &t->vocab;
    AK_ASSERT(sp->len && sp->open == '{');
    akidb_status st = ak_vocab_init(&m->vocab, sp->count, sp->str_bytes);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s", origin);
    ak_js_cur c;
    ak_js_buf buf = {0};
    vocab_item q[VOCAB_BATCH];
    bool end = false;
    ak_js_open(&c, t, sp);
    while (st == AKIDB_OK && !end) {
        akidb_status bad;
        size_t nq = vocab_batch(m, &c, &buf, q, bound, origin, field_name, &bad, &end);
        for (size_t k = 0; k < nq && st == AKIDB_OK; k++) {
            int32_t old;
            const vocab_item *it = &q[k];
            if ((st = ak_vocab_add_hashed(&m->vocab, it->h, it->k.s, it->k.n, (int32_t)it->id,
                                          &old)) != AKIDB_OK) {
                st = ak_fail_prefix(st, "%s", origin);
            } else if (old >= 0) {
                int line, col;
                ak_js_line_col(t->text, t->len, (size_t)(it->at - t->text), &line, &col);
                st = ak_fail(AKIDB_EFORMAT, "%s: %s: duplicate token '%.*s' (ids %d and %lld; "
                             "line %d column %d)", origin, field_name,
                             it->k.n < 40 ? (int)it->k.n : 40, it->k.s, (int)old, it->id, line,
                             col);
            }
        }
        if (st == AKIDB_OK)
            st = bad;
    }
    ak_js_buf_free(&buf);
    return st != AKIDB_OK ? st : ak_tok_model_index(m, origin);
}

akidb_status ak_tok_model_index(ak_tok_model *m, const char *origin)
{
    const ak_vocab *v = &m->vocab;
    size_t size = 0, pos = 0, len;
    const char *tok;
    int32_t id;
    while (ak_vocab_next(v, &pos, &tok, &len, &id))
        if ((size_t)id + 1 > size)
            size = (size_t)id + 1;
    ak_table_free(m->id_tok);
    m->id_tok = ak_table_alloc((size ? size : 1) * sizeof *m->id_tok, 0);
    if (!m->id_tok)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    m->n_ids = size;
    for (pos = 0; ak_vocab_next(v, &pos, &tok, &len, &id);) {
        if (m->id_tok[id])
            return ak_fail(AKIDB_EFORMAT, "%s: model.vocab: tokens '%.40s' and '%.40s' share id %d",
                           origin, m->id_tok[id], tok, (int)id);
        m->id_tok[id] = tok;
    }
    return AKIDB_OK;
}

void ak_tok_model_base_free(ak_tok_model *m)
{
    ak_vocab_free(&m->vocab);
    ak_table_free(m->id_tok);
    m->id_tok = NULL;
    m->n_ids = 0;
}

int32_t ak_tok_model_id(const ak_tok_model *m, const char *s, size_t n)
{
    return ak_vocab_get2(&m->vocab, s, n, "", 0);
}

/* ---- token string lists (decoders) ---------------------------------------- */

akidb_status ak_strs_push(ak_strs *s, const char *str, size_t len)
{
    if (s->n == s->cap) {   /* v and len grow together; cap changes once both did */
        size_t vcap = s->cap, lcap = s->cap;
        if (grow((void **)&s->v, &vcap, s->n + 1, sizeof *s->v) != AKIDB_OK ||
            grow((void **)&s->len, &lcap, vcap, sizeof *s->len) != AKIDB_OK)
            return ak_fail(AKIDB_ENOMEM, "out of memory decoding tokens");
        s->cap = vcap;
    }
    char *copy = ak_strndup(str, len);
    if (!copy)
        return ak_fail(AKIDB_ENOMEM, "out of memory decoding tokens");
    s->v[s->n] = copy;
    s->len[s->n++] = len;
    return AKIDB_OK;
}

akidb_status ak_strs_set(ak_strs *s, size_t i, const char *str, size_t len)
{
    AK_ASSERT(i < s->n);
    char *copy = ak_strndup(str, len);
    if (!copy)
        return ak_fail(AKIDB_ENOMEM, "out of memory decoding tokens");
    ak_free(s->v[i]);
    s->v[i] = copy;
    s->len[i] = len;
    return AKIDB_OK;
}

void ak_strs_move(ak_strs *dst, ak_strs *src)
{
    ak_strs_free(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

void ak_strs_free(ak_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        ak_free(s->v[i]);
    ak_free(s->v);
    ak_free(s->len);
    memset(s, 0, sizeof *s);
}
