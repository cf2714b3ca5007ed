/*
 * spm_model.c - a sentencepiece model file (.model) as a tokenizer.  The
 * file is a ModelProto protobuf, read here straight from the wire format
 * (varints, fixed32 and length-delimited fields; every length checked, so a
 * truncated or hostile file is an EFORMAT naming the field, never a read
 * past the end).  From it this file builds the tokenizer.json tree that
 * transformers' converters (convert_slow_tokenizer.py) write for the model -
 * XLM-R's fairseq ids, T5's extra ids, the generic converter, Llama's BPE -
 * and hands it to ak_tokenizer_from_tree, so the model runs through the same
 * parts as a tokenizer.json would.
 *
 * The normalizer is the one transformers' SpmConverter writes today:
 * [Precompiled], Strip(right), Replace(" {2,}" -> "▁").  (Older versions
 * wrote Precompiled, Replace(" {2,}" -> " "); the two differ only on
 * trailing spaces, where this one agrees with sentencepiece.)
 *
 * One choice differs from the generic converter: the Unigram model's
 * byte_fallback follows the file's trainer_spec.byte_fallback (the converter
 * drops it with a warning for XLM-R / T5 classes), so that the ids are those
 * sentencepiece itself gives for such a model.
 */
#include "spm_model.h"

#include "tok_parts.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define META "\xE2\x96\x81"     /* U+2581, sentencepiece's space */

enum { PIECE_NORMAL = 1, PIECE_UNKNOWN = 2, PIECE_CONTROL = 3, PIECE_USER = 4,
       PIECE_UNUSED = 5, PIECE_BYTE = 6 };
enum { ROUTE_XLMR, ROUTE_T5, ROUTE_GENERIC, ROUTE_LLAMA };

typedef struct spm_piece {
    const char *s;          /* into the file's bytes, not NUL-terminated       */
    size_t len;
    float score;
    int type;
} spm_piece;

typedef struct spm_proto {
    spm_piece *pieces;
    size_t n, cap;
    long long model_type;   /* 1 unigram, 2 BPE, 3 word, 4 char                */
    long long unk_id;
    bool byte_fallback;
    const unsigned char *charsmap;
    size_t charsmap_len;
} spm_proto;

/* ---- protobuf wire format ------------------------------------------------- */

typedef struct pb_reader {
    const unsigned char *p, *end;
    const char *origin;
    const char *msg;        /* message name for messages: "", "trainer_spec." */
} pb_reader;

typedef struct pb_field {
    uint32_t num;
    int wt;                 /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32         */
    uint64_t v;             /* varint / fixed value                            */
    const unsigned char *data;
    size_t len;             /* wt 2                                            */
} pb_field;

static bool pb_varint(pb_reader *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int s = 0; s < 64 && r->p < r->end; s += 7) {
        unsigned char c = *r->p++;
        x |= (uint64_t)(c & 0x7F) << s;
        if (c < 0x80) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Reads the next field; *more is false at the end of the message. */
static akidb_status pb_next(pb_reader *r, pb_field *f, bool *more)
{
    *more = r->p < r->end;
    if (!*more)
        return AKIDB_OK;
    uint64_t key;
    if (!pb_varint(r, &key))
        return ak_fail(AKIDB_EFORMAT, "%s: %s: truncated field key (not a sentencepiece "
                       "model?)", r->origin, *r->msg ? r->msg : "ModelProto");
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    if (f->num == 0 || key >> 32)
        return ak_fail(AKIDB_EFORMAT, "%s: %sfield %llu: invalid field number (not a "
                       "sentencepiece model?)", r->origin, r->msg,
                       (unsigned long long)(key >> 3));
    size_t left;
    switch (f->wt) {
    case 0:
        if (!pb_varint(r, &f->v))
            goto truncated;
        return AKIDB_OK;
    case 1:
    case 5:
        left = (size_t)(r->end - r->p);
        if (left < (f->wt == 1 ? 8u : 4u))
            goto truncated;
        f->v = 0;
        for (int i = (f->wt == 1 ? 7 : 3); i >= 0; i--)
            f->v = f->v << 8 | r->p[i];
        r->p += f->wt == 1 ? 8 : 4;
        return AKIDB_OK;
    case 2:
        if (!pb_varint(r, &f->v) || f->v > (uint64_t)(r->end - r->p))
            goto truncated;
        f->data = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return AKIDB_OK;
    default:
        return ak_fail(AKIDB_EFORMAT, "%s: %sfield %u: unsupported wire type %d (not a "
                       "sentencepiece model?)", r->origin, r->msg, f->num, f->wt);
    }
truncated:
    return ak_fail(AKIDB_EFORMAT, "%s: %sfield %u: truncated (the file ends inside it)",
                   r->origin, r->msg, f->num);
}

static akidb_status pb_want(const pb_reader *r, const pb_field *f, int wt, const char *name)
{
    if (f->wt == wt)
        return AKIDB_OK;
    return ak_fail(AKIDB_EFORMAT, "%s: %s%s: wrong wire type %d (expected %d)", r->origin,
                   r->msg, name, f->wt, wt);
}

/* ---- ModelProto ------------------------------------------------------------ */

static akidb_status parse_piece(spm_proto *m, const unsigned char *d, size_t n,
                                const char *origin)
{
    char msg[48];
    snprintf(msg, sizeof msg, "pieces[%zu].", m->n);
    pb_reader r = {d, d + n, origin, msg};
    spm_piece pc = {.s = "", .len = 0, .score = 0.0f, .type = PIECE_NORMAL};
    pb_field f = {0};
    bool more;
    akidb_status st;
    while ((st = pb_next(&r, &f, &more)) == AKIDB_OK && more) {
        if (f.num == 1) {
            if ((st = pb_want(&r, &f, 2, "piece")))
                return st;
            pc.s = (const char *)f.data;
            pc.len = f.len;
        } else if (f.num == 2) {
            if ((st = pb_want(&r, &f, 5, "score")))
                return st;
            uint32_t bits = (uint32_t)f.v;
            memcpy(&pc.score, &bits, sizeof pc.score);
        } else if (f.num == 3) {
            if ((st = pb_want(&r, &f, 0, "type")))
                return st;
            if (f.v >= 1 && f.v <= 6)      /* unknown values stay NORMAL (proto2) */
                pc.type = (int)f.v;
        }
    }
    if (st != AKIDB_OK)
        return st;
    size_t bad;
    if (!ak_utf8_valid(pc.s, pc.len, &bad))
        return ak_fail(AKIDB_EFORMAT, "%s: %spiece: not UTF-8 (byte %zu)", origin, msg, bad);
    if (!isfinite(pc.score))
        return ak_fail(AKIDB_EFORMAT, "%s: %sscore: not a finite number", origin, msg);
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        spm_piece *np = ak_realloc(m->pieces, nc * sizeof *np);
        if (!np)
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
        m->pieces = np;
        m->cap = nc;
    }
    m->pieces[m->n++] = pc;
    return AKIDB_OK;
}

static akidb_status parse_trainer(spm_proto *m, const unsigned char *d, size_t n,
                                  const char *origin)
{
    pb_reader r = {d, d + n, origin, "trainer_spec."};
    pb_field f = {0};
    bool more;
    akidb_status st;
    while ((st = pb_next(&r, &f, &more)) == AKIDB_OK && more) {
        const char *name = f.num == 3 ? "model_type" : f.num == 35 ? "byte_fallback"
                         : f.num == 40 ? "unk_id" : NULL;
        if (!name)
            continue;
        if ((st = pb_want(&r, &f, 0, name)))
            return st;
        if (f.num == 3)
            m->model_type = (long long)f.v;
        else if (f.num == 35)
            m->byte_fallback = f.v != 0;
        else
            m->unk_id = (long long)(int32_t)(uint32_t)f.v;    /* int32 on the wire */
    }
    return st;
}

static akidb_status parse_normalizer(spm_proto *m, const unsigned char *d, size_t n,
                                     const char *origin)
{
    pb_reader r = {d, d + n, origin, "normalizer_spec."};
    pb_field f = {0};
    bool more;
    akidb_status st;
    while ((st = pb_next(&r, &f, &more)) == AKIDB_OK && more) {
        if (f.num != 2)
            continue;
        if ((st = pb_want(&r, &f, 2, "precompiled_charsmap")))
            return st;
        m->charsmap = f.data;
        m->charsmap_len = f.len;
    }
    return st;
}

static akidb_status parse_model(spm_proto *m, const unsigned char *d, size_t n,
                                const char *origin)
{
    memset(m, 0, sizeof *m);
    m->model_type = 1;
    pb_reader r = {d, d + n, origin, ""};
    pb_field f = {0};
    bool more;
    akidb_status st;
    while ((st = pb_next(&r, &f, &more)) == AKIDB_OK && more) {
        const char *name = f.num == 1 ? "pieces" : f.num == 2 ? "trainer_spec"
                         : f.num == 3 ? "normalizer_spec" : NULL;
        if (!name)
            continue;
        if ((st = pb_want(&r, &f, 2, name)))
            return st;
        if (f.num == 1)
            st = parse_piece(m, f.data, f.len, origin);
        else if (f.num == 2)
            st = parse_trainer(m, f.data, f.len, origin);
        else
            st = parse_normalizer(m, f.data, f.len, origin);
        if (st != AKIDB_OK)
            return st;
    }
    if (st != AKIDB_OK)
        return st;
    if (m->n == 0)
        return ak_fail(AKIDB_EFORMAT, "%s: pieces: none (not a sentencepiece model?)", origin);
    if (m->model_type != 1 && m->model_type != 2)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: trainer_spec.model_type: %lld (%s) is not "
                       "supported (UNIGRAM and BPE are)", origin, m->model_type,
                       m->model_type == 3 ? "WORD" : m->model_type == 4 ? "CHAR" : "unknown");
    if (m->unk_id < 0 || (size_t)m->unk_id >= m->n)
        return ak_fail(AKIDB_EFORMAT, "%s: trainer_spec.unk_id: %lld is outside the %zu "
                       "pieces", origin, m->unk_id, m->n);
    return AKIDB_OK;
}

/* ---- tree building ------------------------------------------------------------
 * Every value is attached to its parent as soon as it is made, so a failure
 * anywhere only has to return false: freeing the root frees everything. */

/* Attaches v under key (object parent) or at the end (key NULL: array). */
static bool attach(json_t *parent, const char *key, json_t *v)
{
    if (!v)
        return false;
    if (!parent) {
        json_decref(v);
        return false;
    }
    return (key ? json_object_set_new(parent, key, v) : json_array_append_new(parent, v)) == 0;
}

static json_t *new_in(json_t *parent, const char *key, json_t *v)
{
    return attach(parent, key, v) ? v : NULL;
}

static bool set_str(json_t *o, const char *key, const char *s)
{
    return attach(o, key, json_string(s));
}

static bool set_strn(json_t *o, const char *key, const char *s, size_t n)
{
    return attach(o, key, json_stringn(s, n));
}

/* A new object {"type": type} under parent. */
static json_t *part_in(json_t *parent, const char *key, const char *type)
{
    json_t *o = new_in(parent, key, json_object());
    return o && set_str(o, "type", type) ? o : NULL;
}

static char *base64(const unsigned char *d, size_t n)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = ak_malloc((n + 2) / 3 * 4 + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t x = (uint32_t)d[i] << 16;
        if (i + 1 < n) x |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) x |= d[i + 2];
        o[k++] = A[x >> 18 & 63];
        o[k++] = A[x >> 12 & 63];
        o[k++] = i + 1 < n ? A[x >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? A[x & 63] : '=';
    }
    o[k] = '\0';
    return o;
}

/* One vocabulary entry of the converted model. */
typedef struct conv_tok {
    const char *s;
    size_t len;
    double score;
    int type;               /* piece type; PIECE_CONTROL for converter tokens   */
    bool lstrip;
} conv_tok;

/* The converted model: its route (converter), vocabulary and options. */
typedef struct conv {
    int route;
    conv_tok *v;
    size_t n;
    int32_t unk_id;
    const char *prepend;    /* Metaspace prepend_scheme                         */
    bool legacy, prefix;    /* tokenizer_config legacy, add_prefix_space        */
    long long extra_ids;    /* T5                                               */
    char *extra_pool;
} conv;

/* ---- the converters' vocabularies ------------------------------------------ */

static akidb_status conv_vocab(const spm_proto *m, conv *c, const char *origin)
{
    static const char *const FAIRSEQ[4] = {"<s>", "<pad>", "</s>", "<unk>"};
    size_t extra = c->route == ROUTE_T5 ? (size_t)c->extra_ids : 0;
    if (c->route == ROUTE_XLMR && m->n < 3)
        return ak_fail(AKIDB_EFORMAT, "%s: pieces: %zu pieces, XLM-R needs <unk> <s> </s> "
                       "first", origin, m->n);
    c->v = ak_calloc(m->n + extra + 2, sizeof *c->v);
    c->extra_pool = ak_malloc(extra * 24 + 1);
    if (!c->v || !c->extra_pool)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    size_t from = 0;
    c->unk_id = (int32_t)m->unk_id;
    if (c->route == ROUTE_XLMR) {
        for (int i = 0; i < 4; i++)
            c->v[c->n++] = (conv_tok){FAIRSEQ[i], strlen(FAIRSEQ[i]), 0.0, PIECE_CONTROL, false};
        from = 3;
        c->unk_id = 3;
    }
    for (size_t i = from; i < m->n; i++) {
        const spm_piece *p = &m->pieces[i];
        c->v[c->n++] = (conv_tok){p->s, p->len, (double)p->score, p->type, false};
    }
    if (c->route == ROUTE_XLMR)
        c->v[c->n++] = (conv_tok){"<mask>", 6, 0.0, PIECE_CONTROL, true};
    char *q = c->extra_pool;
    for (size_t i = extra; i-- > 0;) {
        int k = snprintf(q, 24, "<extra_id_%zu>", i);
        c->v[c->n++] = (conv_tok){q, (size_t)k, 0.0, PIECE_CONTROL, false};
        q += k + 1;
    }
    return AKIDB_OK;
}

/* "added_tokens": the converter's added pieces (control and unknown pieces
 * special, user-defined ones not), in id order. */
/* "added_tokens": the converter's added pieces (control and unknown pieces
 * special, user-defined ones not), in id order. */
static bool added_tokens(json_t *root, const conv *c)
{
    json_t *arr = new_in(root, "added_tokens", json_array());
    if (!arr)
        return false;
    for (size_t i = 0; i < c->n; i++) {
        const conv_tok *t = &c->v[i];
        if (t->type != PIECE_CONTROL && t->type != PIECE_UNKNOWN && t->type != PIECE_USER)
            continue;
        json_t *o = new_in(arr, NULL, json_object());
        if (!o || !attach(o, "id", json_integer((json_int_t)i)) ||
            !set_strn(o, "content", t->s, t->len) ||
            !attach(o, "single_word", json_false()) ||
            !attach(o, "lstrip", json_boolean(t->lstrip)) ||
            !attach(o, "rstrip", json_false()) || !attach(o, "normalized", json_false()) ||
            !attach(o, "special", json_boolean(t->type != PIECE_USER)))
            return false;
    }
    return true;
}

static bool unigram_model(json_t *root, const conv *c, const spm_proto *m)
{
    json_t *o = part_in(root, "model", "Unigram");
    json_t *vocab = o && attach(o, "unk_id", json_integer(c->unk_id))
                        ? new_in(o, "vocab", json_array()) : NULL;
    if (!vocab || !attach(o, "byte_fallback", json_boolean(m->byte_fallback)))
        return false;
    for (size_t i = 0; i < c->n; i++) {
        json_t *e = new_in(vocab, NULL, json_array());
        if (!e || !set_strn(e, NULL, c->v[i].s, c->v[i].len) ||
            !attach(e, NULL, json_real(c->v[i].score)))
            return false;
    }
    return true;
}

/* ---- Llama: BPE merges from the piece scores ------------------------------- */

typedef struct merge_rec {
    int32_t l, r;           /* ids of the two halves                            */
    double score;           /* score of the merged piece                        */
    size_t seq;             /* order of discovery (the stable sort's tie-break) */
} merge_rec;

static int merge_cmp(const void *a, const void *b)
{
    const merge_rec *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int local_cmp(const void *a, const void *b)
{
    const merge_rec *x = a, *y = b;
    if (x->l != y->l)
        return x->l < y->l ? -1 : 1;
    return (x->r > y->r) - (x->r < y->r);
}

/* transformers' SentencePieceExtractor.extract(vocab_scores): every split of
 * every piece (at character boundaries) whose halves are both pieces, ordered
 * by the halves' ids within a piece, then by the merged piece's score, high
 * first (a stable sort, so earlier pieces win ties). */
static akidb_status llama_merges(const conv *c, const ak_vocab *ids, merge_rec **out,
                                 size_t *n_out, const char *origin)
{
    size_t n = 0, cap = 1024;
    merge_rec *v = ak_malloc(cap * sizeof *v);
    if (!v)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    for (size_t i = 0; i < c->n; i++) {
        const conv_tok *t = &c->v[i];
        size_t start = n;
        for (size_t k = 1; k < t->len; k++) {
            if (((unsigned char)t->s[k] & 0xC0) == 0x80)
                continue;
            int32_t l = ak_vocab_get2(ids, t->s, k, "", 0);
            int32_t r = l >= 0 ? ak_vocab_get2(ids, t->s + k, t->len - k, "", 0) : -1;
            if (r < 0)
                continue;
            if (n == cap) {
                merge_rec *nv = ak_realloc(v, cap * 2 * sizeof *v);
                if (!nv) {
                    ak_free(v);
                    return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer",
                                   origin);
                }
                v = nv;
                cap *= 2;
            }
            v[n++] = (merge_rec){l, r, t->score, 0};
        }
        qsort(v + start, n - start, sizeof *v, local_cmp);
        for (size_t k = start; k < n; k++)
            v[k].seq = k;
    }
    qsort(v, n, sizeof *v, merge_cmp);
    *out = v;
    *n_out = n;
    return AKIDB_OK;
}


/* Llama's BPE model: vocab piece -> id and the derived merges.  Pieces must
 * be unique (sentencepiece refuses such a model too) and NUL-free (they are
 * JSON object keys). */
static akidb_status bpe_model(json_t *root, const conv *c, const char *origin)
{
    ak_vocab ids;
    merge_rec *mr = NULL;
    size_t nm = 0;
    akidb_status st = ak_vocab_init(&ids, c->n, 0);
    for (size_t i = 0; st == AKIDB_OK && i < c->n; i++) {
        if (ak_vocab_get2(&ids, c->v[i].s, c->v[i].len, "", 0) >= 0 ||
            memchr(c->v[i].s, 0, c->v[i].len))
            st = ak_fail(AKIDB_EFORMAT, "%s: pieces[%zu]: piece \"%.40s\" is repeated or "
                         "holds a NUL", origin, i, c->v[i].s);
        else
            st = ak_vocab_put(&ids, c->v[i].s, c->v[i].len, (int32_t)i);
    }
    if (st == AKIDB_OK)
        st = llama_merges(c, &ids, &mr, &nm, origin);
    if (st == AKIDB_OK) {
        const conv_tok *u = &c->v[c->unk_id];
        json_t *o = part_in(root, "model", "BPE"), *vocab = NULL, *merges = NULL;
        bool ok = o && attach(o, "dropout", json_null()) &&
                  set_strn(o, "unk_token", u->s, u->len) &&
                  attach(o, "continuing_subword_prefix", json_null()) &&
                  attach(o, "end_of_word_suffix", json_null()) &&
                  attach(o, "fuse_unk", json_true()) && attach(o, "byte_fallback", json_true()) &&
                  attach(o, "ignore_merges", json_false()) &&
                  (vocab = new_in(o, "vocab", json_object())) &&
                  (merges = new_in(o, "merges", json_array()));
        for (size_t i = 0; ok && i < c->n; i++) {
            char *key = ak_strndup(c->v[i].s, c->v[i].len);
            ok = key && attach(vocab, key, json_integer((json_int_t)i));
            ak_free(key);
        }
        for (size_t i = 0; ok && i < nm; i++) {
            const conv_tok *l = &c->v[mr[i].l], *r = &c->v[mr[i].r];
            json_t *pair = new_in(merges, NULL, json_array());
            ok = pair && set_strn(pair, NULL, l->s, l->len) && set_strn(pair, NULL, r->s, r->len);
        }
        if (!ok)
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    }
    ak_free(mr);
    ak_vocab_free(&ids);
    return st;
}

/* ---- normalizer, pre-tokenizer, post-processor, decoder -------------------- */

static bool replace_in(json_t *parent, const char *kind, const char *pat, const char *content)
{
    json_t *o = part_in(parent, NULL, "Replace");
    json_t *p = o ? new_in(o, "pattern", json_object()) : NULL;
    return p && set_str(p, kind, pat) && set_str(o, "content", content);
}

/* SpmConverter.normalizer: [Precompiled], Strip(right), Replace(" {2,}", "▁");
 * LlamaConverter: legacy Prepend("▁") (with add_prefix_space), Replace(" ",
 * "▁"); none when not legacy. */
static bool normalizer(json_t *root, const conv *c, const spm_proto *m)
{
    if (c->route == ROUTE_LLAMA && !c->legacy)
        return attach(root, "normalizer", json_null());
    json_t *seq = part_in(root, "normalizer", "Sequence");
    json_t *list = seq ? new_in(seq, "normalizers", json_array()) : NULL;
    if (!list)
        return false;
    if (c->route == ROUTE_LLAMA) {
        json_t *pre = c->prefix ? part_in(list, NULL, "Prepend") : NULL;
        return (!c->prefix || (pre && set_str(pre, "prepend", META))) &&
               replace_in(list, "String", " ", META);
    }
    if (m->charsmap_len) {
        json_t *pc = part_in(list, NULL, "Precompiled");
        char *b = pc ? base64(m->charsmap, m->charsmap_len) : NULL;
        bool ok = b && set_str(pc, "precompiled_charsmap", b);
        ak_free(b);
        if (!ok)
            return false;
    }
    json_t *strip = part_in(list, NULL, "Strip");
    return strip && attach(strip, "strip_left", json_false()) &&
           attach(strip, "strip_right", json_true()) &&
           replace_in(list, "Regex", " {2,}", META);
}

/* Metaspace (pre-tokenizer or decoder); Llama's non-legacy one does not
 * split. */
static bool metaspace(json_t *root, const char *key, const conv *c)
{
    json_t *o = part_in(root, key, "Metaspace");
    return o && set_str(o, "replacement", META) && set_str(o, "prepend_scheme", c->prepend) &&
           attach(o, "split", json_boolean(c->route != ROUTE_LLAMA));
}

/* Llama: Replace("▁", " "), ByteFallback, Fuse, and Strip(" ", 1, 0) with
 * add_prefix_space. */
static bool llama_decoder(json_t *root, const conv *c)
{
    json_t *seq = part_in(root, "decoder", "Sequence");
    json_t *list = seq ? new_in(seq, "decoders", json_array()) : NULL;
    json_t *strip = NULL;
    return list && replace_in(list, "String", META, " ") &&
           part_in(list, NULL, "ByteFallback") && part_in(list, NULL, "Fuse") &&
           (!c->prefix ||
            ((strip = part_in(list, NULL, "Strip")) && set_str(strip, "content", " ") &&
             attach(strip, "start", json_integer(1)) && attach(strip, "stop", json_integer(0))));
}

/* Template items from words "<s>", "$A", "$B:1" (":N" is the type id). */
static bool tpl_list(json_t *o, const char *key, const char *const *words)
{
    json_t *arr = new_in(o, key, json_array());
    for (size_t i = 0; arr && words[i]; i++) {
        char w[16];
        snprintf(w, sizeof w, "%s", words[i]);
        char *colon = strchr(w, ':');
        int type_id = colon ? colon[1] - '0' : 0;
        if (colon)
            *colon = '\0';
        bool seq = w[0] == '$';
        json_t *item = new_in(arr, NULL, json_object());
        json_t *in = item ? new_in(item, seq ? "Sequence" : "SpecialToken", json_object()) : NULL;
        if (!in || !set_str(in, "id", seq ? w + 1 : w) ||
            !attach(in, "type_id", json_integer(type_id)))
            return false;
    }
    return arr != NULL;
}

/* TemplateProcessing with the special tokens sp[0..nsp) at ids id[]. */
static bool template(json_t *root, const char *const *single, const char *const *pair,
                     const char *const *sp, const int32_t *id, size_t nsp)
{
    json_t *o = part_in(root, "post_processor", "TemplateProcessing");
    json_t *specials = o && tpl_list(o, "single", single) && tpl_list(o, "pair", pair)
                           ? new_in(o, "special_tokens", json_object()) : NULL;
    if (!specials)
        return false;
    for (size_t i = 0; i < nsp; i++) {
        json_t *e = new_in(specials, sp[i], json_object()), *ids = NULL, *toks = NULL;
        if (!e || !set_str(e, "id", sp[i]) || !(ids = new_in(e, "ids", json_array())) ||
            !attach(ids, NULL, json_integer(id[i])) ||
            !(toks = new_in(e, "tokens", json_array())) || !set_str(toks, NULL, sp[i]))
            return false;
    }
    return true;
}

static int32_t conv_id(const conv *c, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].len == n && memcmp(c->v[i].s, s, n) == 0)
            return (int32_t)i;
    return -1;
}

static bool post_processor(json_t *root, const conv *c)
{
    static const char *const XS[] = {"<s>", "$A", "</s>", NULL};
    static const char *const XP[] = {"<s>", "$A", "</s>", "</s>", "$B", "</s>", NULL};
    static const char *const TS[] = {"$A", "</s>", NULL};
    static const char *const TP[] = {"$A", "</s>", "$B", "</s>", NULL};
    static const char *const LS[] = {"<s>", "$A", NULL};
    static const char *const LP[] = {"<s>", "$A", "<s>:1", "$B:1", NULL};
    static const char *const BOTH[] = {"<s>", "</s>"};
    int32_t bos = conv_id(c, "<s>"), eos = conv_id(c, "</s>");
    if (c->route == ROUTE_XLMR) {
        int32_t ids[2] = {bos, eos};
        return template(root, XS, XP, BOTH, ids, 2);
    }
    if (c->route == ROUTE_T5 && eos >= 0)
        return template(root, TS, TP, BOTH + 1, &eos, 1);
    if (c->route == ROUTE_LLAMA && bos >= 0)
        return template(root, LS, LP, BOTH, &bos, 1);
    return attach(root, "post_processor", json_null());
}

/* ---- assembling the tree ---------------------------------------------------- */

static akidb_status build_tree(const conv *c, const spm_proto *m, const char *origin,
                               json_t **out)
{
    json_t *root = json_object();
    *out = NULL;
    bool llama = c->route == ROUTE_LLAMA;
    bool ok = root && set_str(root, "version", "1.0") &&
              attach(root, "truncation", json_null()) && attach(root, "padding", json_null()) &&
              added_tokens(root, c) && normalizer(root, c, m) &&
              (llama && c->legacy ? attach(root, "pre_tokenizer", json_null())
                                  : metaspace(root, "pre_tokenizer", c)) &&
              post_processor(root, c) &&
              (llama ? llama_decoder(root, c) : metaspace(root, "decoder", c));
    akidb_status st = AKIDB_OK;
    if (ok && llama)
        st = bpe_model(root, c, origin);
    else if (ok)
        ok = unigram_model(root, c, m);
    if (st == AKIDB_OK && !ok)
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    if (st != AKIDB_OK) {
        json_decref(root);
        return st;
    }
    *out = root;
    return AKIDB_OK;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Picks the converter and its options from tokenizer_config.json (class,
 * legacy, add_prefix_space, extra_ids) and the file name. */
static akidb_status choose_route(const spm_proto *m, const char *config, size_t config_len,
                                 const char *origin, conv *c)
{
    json_t *cfg = NULL;
    const char *cls = "", *name = base_name(origin);
    bool legacy = true, prefix = true;
    long long extra = 100;
    akidb_status st = AKIDB_OK;
    if (config) {
        if ((st = ak_tok_parse_json(config, config_len, "tokenizer_config.json", &cfg)))
            return st;
        const char *f = "tokenizer_config.json";
        if ((st = ak_tj_str(cfg, "tokenizer_class", "", &cls, f, "")) ||
            (st = ak_tj_bool(cfg, "legacy", true, &legacy, f, "")) ||
            (st = ak_tj_bool(cfg, "add_prefix_space", true, &prefix, f, "")) ||
            (st = ak_tj_int(cfg, "extra_ids", 100, 0, 100000, &extra, f, "")))
            goto out;
    }
    if (has_prefix(cls, "XLMRobertaTokenizer"))
        c->route = ROUTE_XLMR;
    else if (has_prefix(cls, "T5Tokenizer"))
        c->route = ROUTE_T5;
    else if (has_prefix(cls, "LlamaTokenizer") || has_prefix(cls, "CodeLlamaTokenizer"))
        c->route = ROUTE_LLAMA;
    else if (*cls)
        c->route = ROUTE_GENERIC;
    else if (strcmp(name, "sentencepiece.bpe.model") == 0)
        c->route = ROUTE_XLMR;
    else if (strcmp(name, "spiece.model") == 0)
        c->route = ROUTE_T5;
    else
        c->route = ROUTE_GENERIC;
    if (m->model_type == 2 && c->route != ROUTE_LLAMA) {
        if (*cls && c->route != ROUTE_GENERIC) {
            st = ak_fail(AKIDB_EUNSUPPORTED, "%s: a BPE sentencepiece model for %s is not "
                         "supported", origin, cls);
            goto out;
        }
        c->route = ROUTE_LLAMA;
    } else if (m->model_type == 1 && c->route == ROUTE_LLAMA) {
        st = ak_fail(AKIDB_EUNSUPPORTED, "%s: %s with a unigram sentencepiece model is not "
                     "supported", origin, cls);
        goto out;
    }
    c->extra_ids = extra;
    c->legacy = legacy;
    c->prefix = prefix;
    /* XLMRobertaTokenizer has neither option; the others follow
     * _get_prepend_scheme */
    c->prepend = c->route == ROUTE_XLMR ? "always" : !prefix ? "never"
               : legacy && c->route != ROUTE_LLAMA ? "always" : "first";
out:
    json_decref(cfg);
    return st;
}

akidb_status ak_tokenizer_from_spm_bytes(const unsigned char *data, size_t len,
                                         const char *config, size_t config_len,
                                         const char *origin, akidb_tokenizer **out)
{
    AK_ASSERT(out && origin);
    *out = NULL;
    ak_json_init();
    spm_proto m;
    conv c = {0};
    json_t *tree = NULL;
    akidb_status st = parse_model(&m, data, len, origin);
    if (st == AKIDB_OK)
        st = choose_route(&m, config, config_len, origin, &c);
    if (st == AKIDB_OK)
        st = conv_vocab(&m, &c, origin);
    if (st == AKIDB_OK)
        st = build_tree(&c, &m, origin, &tree);
    if (st == AKIDB_OK)
        st = ak_tokenizer_from_tree(tree, origin, out);
    json_decref(tree);
    ak_free(c.v);
    ak_free(c.extra_pool);
    ak_free(m.pieces);
    return st;
}

akidb_status ak_tokenizer_from_spm(const char *path, const char *dir, akidb_tokenizer **out)
{
    AK_ASSERT(path && out);
    *out = NULL;
    char *data = NULL, *cfg = NULL, *cfg_path = NULL;
    size_t len = 0, cfg_len = 0;
    akidb_status st = ak_read_file(path, AK_TOK_MAX_FILE, &data, &len);
    if (st == AKIDB_OK && dir)
        st = ak_tok_read_optional(dir, "tokenizer_config.json", &cfg_path, &cfg, &cfg_len);
    if (st == AKIDB_OK)
        st = ak_tokenizer_from_spm_bytes((const unsigned char *)data, len, cfg, cfg_len, path,
                                         out);
    ak_free(data);
    ak_free(cfg);
    ak_free(cfg_path);
    return st;
}
