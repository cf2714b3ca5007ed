/*
 * postproc.c - reduces tokenizer.json's "post_processor" to one template
 * (tok_parts.h, ak_template): the list of sequence and special-token items a
 * single text, and a pair of texts, become when special tokens are added.
 *
 * The Rust library post-processes a list of encodings: it first gives
 * encoding i the type id i (A = 0, B = 1), then each processor rewrites the
 * list, and the result is concatenated.  The template is computed by running
 * that same rewriting on symbolic encodings (lists of items), once for one
 * sequence and once for a pair:
 *   BertProcessing     [CLS]:0 + e0 + [SEP]:0, and e_i + [SEP]:1 (i > 0);
 *   RobertaProcessing  every type id becomes 0; <s> + e0 + </s>, and
 *                      </s> + e_i + </s> (i > 0);
 *   TemplateProcessing picks "single" for 1 encoding, "pair" for 2 (Rust
 *                      stops on any other count); each Sequence piece is a
 *                      copy of encoding A or B with all its type ids set, each
 *                      SpecialToken piece an encoding of its ids;
 *   ByteLevel          changes offsets only;
 *   Sequence           applies its processors in order.
 * No post_processor gives A:0 (single) and A:0 B:1 (pair), as Rust.
 * specials_single / specials_pair are Rust's added_tokens(is_pair), the sum
 * over the processors (what truncation reserves), not a count of the result.
 *
 * The template is the one of encoding WITH special tokens (Rust's
 * add_special_tokens = true).  Rust reads a post_processor as the first of
 * RobertaProcessing, BertProcessing, ByteLevel, TemplateProcessing, Sequence
 * whose fields parse, looking at "type" only for ByteLevel and Sequence; so
 * does this loader (see apply()).
 *
 * Where Rust accepts a file and then panics while encoding (a template piece
 * naming a special token that special_tokens lacks, a single template using
 * sequence B, a template given neither 1 nor 2 encodings), loading fails
 * here instead.  The string form of pieces ("$A:0", "[CLS]") exists only in
 * the Rust builders: tokenizer.json holds the object form, and Rust rejects
 * strings there, as this loader does.
 */
#include "tok_parts.h"

#include <stdio.h>
#include <string.h>

#define PP_MAX_DEPTH 32       /* nested Sequence processors            */
#define PP_MAX_ITEMS 4096     /* items of one template                 */

/* A symbolic encoding: its items; special items point into the pool. */
typedef struct enc {
    ak_tpl_item *v;
    size_t n, cap;
} enc;

typedef struct encs {
    enc *v;
    size_t n, cap;
} encs;

typedef struct pp_ctx {
    const char *origin;
    size_t bound;
    int32_t **pool;          /* id arrays of the special tokens (owned) */
    size_t n_pool, cap_pool;
    encs st[2];              /* 0: one sequence, 1: a pair              */
    size_t added[2];
    bool dry;                /* only check the JSON, change no state    */
    bool trim, trim_aps;     /* trim_offsets / add_prefix_space (offsets) */
} pp_ctx;

static akidb_status oom(const pp_ctx *c)
{
    return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the post_processor", c->origin);
}

static akidb_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return AKIDB_OK;
    size_t nc = *cap ? *cap * 2 : 4, bytes;
    while (nc < need)
        nc *= 2;
    if (ak_mul_overflow(nc, elem, &bytes))
        return AKIDB_ENOMEM;
    void *np = ak_realloc(*p, bytes);
    if (!np)
        return AKIDB_ENOMEM;
    *p = np;
    *cap = nc;
    return AKIDB_OK;
}

static void encs_free(encs *l)
{
    for (size_t i = 0; i < l->n; i++)
        ak_free(l->v[i].v);
    ak_free(l->v);
    memset(l, 0, sizeof *l);
}

static akidb_status enc_add(pp_ctx *c, enc *e, ak_tpl_item it)
{
    if (e->n >= PP_MAX_ITEMS)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: post_processor: the template grows past %d items", c->origin,
                       PP_MAX_ITEMS);
    if (grow((void **)&e->v, &e->cap, e->n + 1, sizeof *e->v))
        return oom(c);
    e->v[e->n++] = it;
    return AKIDB_OK;
}

/* Appends a new encoding (a copy of src's items when src != NULL). */
static akidb_status encs_add(pp_ctx *c, encs *l, const enc *src)
{
    if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v))
        return oom(c);
    enc *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    for (size_t i = 0; src && i < src->n; i++) {
        akidb_status st = enc_add(c, e, src->v[i]);
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

static ak_tpl_item special(const int32_t *ids, size_t n, uint32_t type_id)
{
    return (ak_tpl_item){.seq = -1, .type_id = type_id, .ids = (int32_t *)ids, .n_ids = n};
}

/* Inserts `it` at the front of e. */
static akidb_status enc_prepend(pp_ctx *c, enc *e, ak_tpl_item it)
{
    akidb_status st = enc_add(c, e, it);
    if (st == AKIDB_OK) {
        memmove(e->v + 1, e->v, (e->n - 1) * sizeof *e->v);
        e->v[0] = it;
    }
    return st;
}

/* ---- JSON readers ------------------------------------------------------------ */

/* Reads an id: an integer in [0, bound). */
static akidb_status read_id(pp_ctx *c, const json_t *v, const char *f, int32_t *out)
{
    if (!json_is_integer(v))
        return ak_tj_bad_type(c->origin, f, "an integer id", v);
    json_int_t id = json_integer_value(v);
    if (id < 0 || (unsigned long long)id >= c->bound || id > INT32_MAX)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: id %lld is out of range [0, %zu)", c->origin, f,
                       (long long)id, c->bound);
    *out = (int32_t)id;
    return AKIDB_OK;
}

/* Hands the id array p (from ak_malloc) to the pool, which frees it. */
static akidb_status pool_own(pp_ctx *c, int32_t *p)
{
    if (grow((void **)&c->pool, &c->cap_pool, c->n_pool + 1, sizeof *c->pool)) {
        ak_free(p);
        return oom(c);
    }
    c->pool[c->n_pool++] = p;
    return AKIDB_OK;
}

/* A [token, id] pair of BertProcessing / RobertaProcessing. */
static akidb_status read_tok_id(pp_ctx *c, const json_t *pp, const char *path,
                                const char *key, int32_t **id)
{
    char f[320];
    snprintf(f, sizeof f, "%.240s%s", path, key);
    const json_t *v = json_object_get(pp, key);
    if (!v)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing", c->origin, f);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)))
        return ak_tj_bad_type(c->origin, f, "a [token, id] pair", v);
    int32_t x = 0;
    akidb_status st = read_id(c, json_array_get(v, 1), f, &x);
    if (st != AKIDB_OK)
        return st;
    if (!(*id = ak_malloc(sizeof **id)))
        return oom(c);
    **id = x;
    return pool_own(c, *id);
}

/* Reads a required unsigned 32-bit type_id. */
static akidb_status read_type_id(pp_ctx *c, const json_t *obj, const char *f,
                                 uint32_t *out)
{
    long long x;
    if (!json_object_get(obj, "type_id"))
        return ak_fail(AKIDB_EFORMAT, "%s: %s.type_id: missing", c->origin, f);
    char p[320];
    snprintf(p, sizeof p, "%.240s.", f);
    akidb_status st = ak_tj_int(obj, "type_id", 0, 0, UINT32_MAX, &x, c->origin, p);
    *out = (uint32_t)x;
    return st;
}

/* A required boolean (Rust refuses null and absent ones). */
static akidb_status read_bool(pp_ctx *c, const json_t *obj, const char *path, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    char f[320];
    snprintf(f, sizeof f, "%.240s%s", path, key);
    if (!v)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing", c->origin, f);
    if (!json_is_boolean(v))
        return ak_tj_bad_type(c->origin, f, "a boolean", v);
    return AKIDB_OK;
}

/* ---- BertProcessing, RobertaProcessing --------------------------------------- */

static akidb_status apply_bert(pp_ctx *c, const json_t *pp, const char *path, bool roberta)
{
    int32_t *sep, *cls;
    akidb_status st;
    if ((st = read_tok_id(c, pp, path, "sep", &sep)) ||
        (st = read_tok_id(c, pp, path, "cls", &cls)))
        return st;
    if (roberta && ((st = read_bool(c, pp, path, "trim_offsets")) ||
                    (st = read_bool(c, pp, path, "add_prefix_space"))))
        return st;
    if (c->dry)
        return AKIDB_OK;
    if (roberta && json_is_true(json_object_get(pp, "trim_offsets"))) {
        c->trim = true;
        c->trim_aps = json_is_true(json_object_get(pp, "add_prefix_space"));
    }
    for (int s = 0; s < 2; s++) {
        encs *l = &c->st[s];
        for (size_t i = 0; i < l->n; i++) {
            enc *e = &l->v[i];
            if (roberta)
                for (size_t k = 0; k < e->n; k++)
                    e->v[k].type_id = 0;
            if (i == 0)
                st = enc_prepend(c, e, special(cls, 1, 0));
            else if (roberta)
                st = enc_prepend(c, e, special(sep, 1, 0));
            if (st == AKIDB_OK)
                st = enc_add(c, e, special(sep, 1, roberta || i == 0 ? 0 : 1));
            if (st != AKIDB_OK)
                return st;
        }
        c->added[s] += s == 0 ? 2 : roberta ? 4 : 3;
    }
    return AKIDB_OK;
}

/* ---- TemplateProcessing -------------------------------------------------------- */

typedef struct tpl_special {
    const char *name;
    int32_t *ids;            /* pooled */
    size_t n;
} tpl_special;

/* Reads special_tokens: name -> {"id": s, "ids": [...], "tokens": [...]} (all
 * three required, as Rust; templates look tokens up by the map's keys). */
static akidb_status read_specials(pp_ctx *c, const json_t *map, const char *path,
                                  tpl_special **out, size_t *n_out)
{
    char f[320];
    snprintf(f, sizeof f, "%.240sspecial_tokens", path);
    if (!map)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing", c->origin, f);
    if (!json_is_object(map))
        return ak_tj_bad_type(c->origin, f, "an object", map);
    size_t n = json_object_size(map), k = 0;
    tpl_special *sp = ak_calloc(n ? n : 1, sizeof *sp);
    if (!sp)
        return oom(c);
    *out = sp;
    const char *name;
    json_t *def;
    json_object_foreach((json_t *)map, name, def) {
        snprintf(f, sizeof f, "%.240sspecial_tokens[\"%.40s\"]", path, name);
        json_t *ids = json_is_object(def) ? json_object_get(def, "ids") : NULL;
        json_t *toks = json_is_object(def) ? json_object_get(def, "tokens") : NULL;
        if (!json_is_object(def))
            return ak_tj_bad_type(c->origin, f, "an object", def);
        if (!json_is_array(ids))
            return ak_tj_bad_type(c->origin, f, "an \"ids\" array", ids);
        if (!json_is_array(toks))
            return ak_tj_bad_type(c->origin, f, "a \"tokens\" array", toks);
        for (size_t i = 0; i < json_array_size(toks); i++)
            if (!json_is_string(json_array_get(toks, i)))
                return ak_tj_bad_type(c->origin, f, "\"tokens\" of strings",
                                      json_array_get(toks, i));
        if (!json_is_string(json_object_get(def, "id")))
            return ak_tj_bad_type(c->origin, f, "an \"id\" string", json_object_get(def, "id"));
        size_t m = json_array_size(ids);
        int32_t *v = ak_malloc((m ? m : 1) * sizeof *v);
        akidb_status st = v ? pool_own(c, v) : oom(c);
        char g[320];
        snprintf(g, sizeof g, "%.240s.ids", f);
        for (size_t i = 0; i < m && st == AKIDB_OK; i++)
            st = read_id(c, json_array_get(ids, i), g, &v[i]);
        if (st != AKIDB_OK)
            return st;
        sp[k++] = (tpl_special){.name = name, .ids = v, .n = m};
    }
    *n_out = k;
    return AKIDB_OK;
}

/* One piece of a template: {"Sequence": {"id": "A"|"B", "type_id": n}} or
 * {"SpecialToken": {"id": name, "type_id": n}}. */
static akidb_status read_piece(pp_ctx *c, const json_t *item, const char *f,
                               const tpl_special *sp, size_t n_sp, bool single,
                               ak_tpl_item *out)
{
    const json_t *seq = json_object_get(item, "Sequence");
    const json_t *tok = json_object_get(item, "SpecialToken");
    if (!json_is_object(item))
        return ak_tj_bad_type(c->origin, f,
                              "an object {\"Sequence\": ...} or {\"SpecialToken\": ...}", item);
    if (json_object_size(item) != 1 || (!seq && !tok))
        return ak_fail(AKIDB_EFORMAT,
                       "%s: %s: expected one key, \"Sequence\" or \"SpecialToken\", found %zu keys",
                       c->origin, f, json_object_size(item));
    char g[320];
    snprintf(g, sizeof g, "%.240s.%s", f, seq ? "Sequence" : "SpecialToken");
    const json_t *body = seq ? seq : tok;
    if (!json_is_object(body))
        return ak_tj_bad_type(c->origin, g, "an object", body);
    const json_t *id = json_object_get(body, "id");
    if (!json_is_string(id))
        return ak_tj_bad_type(c->origin, g, "an \"id\" string", id);
    const char *name = json_string_value(id);
    uint32_t type_id = 0;
    akidb_status st = read_type_id(c, body, g, &type_id);
    if (st != AKIDB_OK)
        return st;
    if (seq) {
        if (strcmp(name, "A") != 0 && strcmp(name, "B") != 0)
            return ak_fail(AKIDB_EFORMAT, "%s: %s.id: '%.40s' is neither \"A\" nor \"B\"",
                           c->origin, g, name);
        if (single && name[0] == 'B')
            return ak_fail(AKIDB_EFORMAT,
                           "%s: %s: the single template uses sequence B (Rust panics on it)",
                           c->origin, g);
        *out = (ak_tpl_item){.seq = name[0] - 'A', .type_id = type_id};
        return AKIDB_OK;
    }
    for (size_t i = 0; i < n_sp; i++)
        if (strcmp(sp[i].name, name) == 0) {
            *out = special(sp[i].ids, sp[i].n, type_id);
            return AKIDB_OK;
        }
    return ak_fail(AKIDB_EFORMAT, "%s: %s.id: special token '%.40s' is not in special_tokens",
                   c->origin, g, name);
}

/* Reads the "single" or "pair" template into *t (items; free t->v). */
static akidb_status read_template(pp_ctx *c, const json_t *pp, const char *path,
                                  const char *key, const tpl_special *sp, size_t n_sp,
                                  enc *t)
{
    char f[320];
    snprintf(f, sizeof f, "%.240s%s", path, key);
    const json_t *arr = json_object_get(pp, key);
    if (!arr)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing", c->origin, f);
    if (!json_is_array(arr))
        return ak_tj_bad_type(c->origin, f, "an array of pieces", arr);
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        char g[320];
        ak_tpl_item it;
        snprintf(g, sizeof g, "%.240s[%zu]", f, i);
        akidb_status st = read_piece(c, item, g, sp, n_sp, key[0] == 's', &it);
        if (st == AKIDB_OK)
            st = enc_add(c, t, it);
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

/* Rewrites one encoding list through template t (chosen by the caller). */
static akidb_status template_apply(pp_ctx *c, encs *l, const enc *t, const char *f)
{
    encs out = {0};
    akidb_status st = AKIDB_OK;
    for (size_t p = 0; p < t->n && st == AKIDB_OK; p++) {
        const ak_tpl_item *it = &t->v[p];
        if (it->seq < 0) {
            if ((st = encs_add(c, &out, NULL)) == AKIDB_OK)
                st = enc_add(c, &out.v[out.n - 1], *it);
            continue;
        }
        if ((size_t)it->seq >= l->n) {
            st = ak_fail(AKIDB_EUNSUPPORTED,
                         "%s: %s[%zu]: sequence %c does not exist here (Rust panics on it)",
                         c->origin, f, p, 'A' + it->seq);
            break;
        }
        if ((st = encs_add(c, &out, &l->v[it->seq])) == AKIDB_OK) {
            enc *e = &out.v[out.n - 1];
            for (size_t k = 0; k < e->n; k++)
                e->v[k].type_id = it->type_id;
        }
    }
    if (st == AKIDB_OK) {
        encs_free(l);
        *l = out;
    } else {
        encs_free(&out);
    }
    return st;
}

static size_t count_specials(const enc *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].seq < 0)
            n += t->v[i].n_ids;
    return n;
}

static akidb_status apply_template(pp_ctx *c, const json_t *pp, const char *path)
{
    tpl_special *sp = NULL;
    size_t n_sp = 0;
    enc t[2] = {{0}, {0}};   /* single, pair */
    akidb_status st;
    if ((st = read_specials(c, json_object_get(pp, "special_tokens"), path, &sp, &n_sp)) ||
        (st = read_template(c, pp, path, "single", sp, n_sp, &t[0])) ||
        (st = read_template(c, pp, path, "pair", sp, n_sp, &t[1])) || c->dry)
        goto out;
    for (int s = 0; s < 2 && st == AKIDB_OK; s++) {
        encs *l = &c->st[s];
        char f[320];
        if (l->n != 1 && l->n != 2) {
            st = ak_fail(AKIDB_EUNSUPPORTED,
                         "%s: %s: TemplateProcessing after a processor that left %zu encodings "
                         "(Rust handles only 1 or 2)",
                         c->origin, path[0] ? path : "post_processor", l->n);
            break;
        }
        snprintf(f, sizeof f, "%.240s%s", path, l->n == 1 ? "single" : "pair");
        st = template_apply(c, l, &t[l->n - 1], f);
        c->added[s] += count_specials(&t[s]);
    }
out:
    ak_free(sp);
    ak_free(t[0].v);
    ak_free(t[1].v);
    return st;
}

/* ---- the processor tree ---------------------------------------------------------- */

static akidb_status apply(pp_ctx *c, const json_t *pp, const char *path, int depth);

static akidb_status apply_sequence(pp_ctx *c, const json_t *pp, const char *path, int depth)
{
    char f[320];
    snprintf(f, sizeof f, "%.240sprocessors", path);
    const json_t *arr = json_object_get(pp, "processors");
    if (!arr)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: missing", c->origin, f);
    if (!json_is_array(arr))
        return ak_tj_bad_type(c->origin, f, "an array", arr);
    if (depth >= PP_MAX_DEPTH)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: %s: Sequence nested deeper than %d", c->origin,
                       f, PP_MAX_DEPTH);
    size_t i;
    json_t *sub;
    json_array_foreach(arr, i, sub) {
        char g[320];
        snprintf(g, sizeof g, "%.240s[%zu].", f, i);
        akidb_status st = apply(c, sub, g, depth + 1);
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

static akidb_status apply_bytelevel(pp_ctx *c, const json_t *pp, const char *path)
{
    bool b;
    akidb_status st;
    if ((st = read_bool(c, pp, path, "add_prefix_space")) ||
        (st = read_bool(c, pp, path, "trim_offsets")))
        return st;
    if (!c->dry && json_is_true(json_object_get(pp, "trim_offsets"))) {
        c->trim = true;
        c->trim_aps = json_is_true(json_object_get(pp, "add_prefix_space"));
    }
    return ak_tj_bool(pp, "use_regex", true, &b, c->origin, path);   /* offsets only */
}

enum { K_ROBERTA, K_BERT, K_BYTELEVEL, K_TEMPLATE, K_SEQUENCE, K_COUNT };

static const char *const KIND_TYPE[K_COUNT] = {
    "RobertaProcessing", "BertProcessing", "ByteLevel", "TemplateProcessing", "Sequence",
};

static akidb_status apply_kind(pp_ctx *c, int k, const json_t *pp, const char *path,
                               int depth)
{
    switch (k) {
    case K_ROBERTA: return apply_bert(c, pp, path, true);
    case K_BERT: return apply_bert(c, pp, path, false);
    case K_BYTELEVEL: return apply_bytelevel(c, pp, path);
    case K_TEMPLATE: return apply_template(c, pp, path);
    default: return apply_sequence(c, pp, path, depth);
    }
}

/* Rust reads a post-processor as the first of RobertaProcessing,
 * BertProcessing, ByteLevel, TemplateProcessing, Sequence whose fields it
 * holds; only ByteLevel and Sequence check "type" (so a "BertProcessing"
 * with trim_offsets and add_prefix_space is a RobertaProcessing, and a
 * "RobertaProcessing" without them a BertProcessing).  When none fits, the
 * message is that of the kind "type" names.
 * path: "post_processor." or "post_processor.processors[1]." */
static akidb_status apply(pp_ctx *c, const json_t *pp, const char *path, int depth)
{
    char f[320];
    snprintf(f, sizeof f, "%.*s", (int)strlen(path) - 1, path);
    if (!json_is_object(pp))
        return ak_tj_bad_type(c->origin, f, "an object", pp);
    const json_t *tv = json_object_get(pp, "type");
    const char *type = json_is_string(tv) ? json_string_value(tv) : NULL;
    bool dry = c->dry;
    akidb_status st = AKIDB_EFORMAT, named_st = AKIDB_OK;
    char named_msg[512];   /* the failure of the kind "type" names */
    int k;
    for (k = 0; k < K_COUNT; k++) {
        bool named = type && strcmp(type, KIND_TYPE[k]) == 0;
        if ((k == K_BYTELEVEL || k == K_SEQUENCE) && !named)
            continue;
        c->dry = true;
        st = apply_kind(c, k, pp, path, depth);
        c->dry = dry;
        if (st == AKIDB_OK || st == AKIDB_ENOMEM)
            break;
        if (named) {
            named_st = st;
            snprintf(named_msg, sizeof named_msg, "%s", akidb_last_error());
        }
    }
    if (st == AKIDB_ENOMEM)
        return st;
    if (st == AKIDB_OK) {
        ak_clear_error();
        return dry ? AKIDB_OK : apply_kind(c, k, pp, path, depth);
    }
    if (named_st != AKIDB_OK)
        return ak_fail(named_st, "%s", named_msg);
    if (!type)
        return tv ? ak_tj_bad_type(c->origin, f, "a \"type\" string", tv)
                  : ak_fail(AKIDB_EFORMAT, "%s: %stype: missing", c->origin, path);
    return ak_fail(AKIDB_EUNSUPPORTED,
                   "%s: %stype: post-processor '%.60s' is not supported (supported: "
                   "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)",
                   c->origin, path, type);
}

/* Concatenates the encodings of l into one owned item array. */
static akidb_status flatten(pp_ctx *c, const encs *l, ak_tpl_item **out, size_t *n_out)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += l->v[i].n;
    ak_tpl_item *v = ak_calloc(n ? n : 1, sizeof *v);
    if (!v)
        return oom(c);
    *out = v;
    *n_out = 0;
    for (size_t i = 0; i < l->n; i++)
        for (size_t k = 0; k < l->v[i].n; k++) {
            ak_tpl_item it = l->v[i].v[k];
            if (it.seq < 0) {
                int32_t *ids = ak_malloc((it.n_ids ? it.n_ids : 1) * sizeof *ids);
                if (!ids)
                    return oom(c);
                if (it.n_ids)
                    memcpy(ids, it.ids, it.n_ids * sizeof *ids);
                it.ids = ids;
            }
            v[(*n_out)++] = it;
        }
    return AKIDB_OK;
}

akidb_status ak_template_from_json(const json_t *pp, const ak_tok_load *ld,
                                   size_t id_bound, ak_template *out)
{
    memset(out, 0, sizeof *out);
    pp_ctx c = {.origin = ld->origin, .bound = id_bound};
    akidb_status st = AKIDB_OK;
    /* what Rust's process() starts from: encoding i has type id i */
    for (int s = 0; s < 2 && st == AKIDB_OK; s++)
        for (int i = 0; i <= s && st == AKIDB_OK; i++)
            if ((st = encs_add(&c, &c.st[s], NULL)) == AKIDB_OK)
                st = enc_add(&c, &c.st[s].v[i],
                             (ak_tpl_item){.seq = i, .type_id = (uint32_t)i});
    if (st == AKIDB_OK && pp && !json_is_null(pp))
        st = apply(&c, pp, ld->path && ld->path[0] ? ld->path : "post_processor.", 0);
    if (st == AKIDB_OK && (st = flatten(&c, &c.st[0], &out->single, &out->n_single)) == AKIDB_OK)
        st = flatten(&c, &c.st[1], &out->pair, &out->n_pair);
    out->specials_single = c.added[0];
    out->specials_pair = c.added[1];
    out->trim_offsets = c.trim;
    out->trim_prefix_space = c.trim_aps;
    for (size_t i = 0; i < c.n_pool; i++)
        ak_free(c.pool[i]);
    ak_free(c.pool);
    encs_free(&c.st[0]);
    encs_free(&c.st[1]);
    if (st != AKIDB_OK)
        ak_template_free(out);
    return st;
}

void ak_template_free(ak_template *t)
{
    for (size_t i = 0; t->single && i < t->n_single; i++)
        if (t->single[i].seq < 0)
            ak_free(t->single[i].ids);
    for (size_t i = 0; t->pair && i < t->n_pair; i++)
        if (t->pair[i].seq < 0)
            ak_free(t->pair[i].ids);
    ak_free(t->single);
    ak_free(t->pair);
    memset(t, 0, sizeof *t);
}
