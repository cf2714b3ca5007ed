/*
 * tokenizer.c - loading AkiDB's WordPiece tokenizer from a Hugging Face model
 * folder: tokenizer.json (the fast tokenizer's full description), or, when a
 * folder has none, vocab.txt + tokenizer_config.json +
 * special_tokens_map.json, built the way transformers converts a slow
 * BertTokenizer.  Only the pieces BERT-style models use are accepted; any
 * other component type is refused by name so that no model is silently
 * tokenized differently from Hugging Face.
 */
#include "tok_internal.h"
#include "unicode.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- small JSON helpers (origin = file name for messages) ---------------- */

static const char *type_name(const json_t *v)
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

static akidb_status bad_type(const char *origin, const char *field, const char *want,
                             const json_t *got)
{
    return ak_fail(AKIDB_EFORMAT, "%s: %s: expected %s, found %s", origin, field, want,
                   got ? type_name(got) : "nothing");
}

/* Boolean field: absent or null gives def. */
static akidb_status opt_bool(const json_t *obj, const char *key, bool def, bool *out,
                             const char *origin, const char *path)
{
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v || json_is_null(v))
        return AKIDB_OK;
    if (!json_is_boolean(v)) {
        char f[160];
        snprintf(f, sizeof f, "%s%s", path, key);
        return bad_type(origin, f, "a boolean", v);
    }
    *out = json_is_true(v);
    return AKIDB_OK;
}

/* String field: absent or null gives def (may be NULL). */
static akidb_status opt_str(const json_t *obj, const char *key, const char *def,
                            const char **out, const char *origin, const char *path)
{
    json_t *v = json_object_get(obj, key);
    *out = def;
    if (!v || json_is_null(v))
        return AKIDB_OK;
    if (!json_is_string(v)) {
        char f[160];
        snprintf(f, sizeof f, "%s%s", path, key);
        return bad_type(origin, f, "a string", v);
    }
    *out = json_string_value(v);
    return AKIDB_OK;
}

/* Parses len bytes of JSON; EFORMAT names origin, line and column. */
static akidb_status parse_json(const char *text, size_t len, const char *origin,
                               json_t **out)
{
    json_error_t err;
    *out = json_loadb(text, len, 0, &err);
    if (*out)
        return AKIDB_OK;
    if (json_error_code(&err) == json_error_out_of_memory)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory parsing JSON", origin);
    return ak_fail(AKIDB_EFORMAT, "%s: malformed JSON at line %d column %d: %s", origin,
                   err.line, err.column, err.text);
}

/* ---- building ------------------------------------------------------------ */

static akidb_tokenizer *tok_new(void)
{
    akidb_tokenizer *tok = ak_calloc(1, sizeof *tok);
    if (tok)
        tok->unk_id = -1;
    return tok;
}

static void matcher_free(ak_matcher *m)
{
    for (size_t i = 0; i < m->n; i++)
        ak_free(m->tok[i].cps);
    ak_free(m->tok);
    memset(m, 0, sizeof *m);
}

void akidb_tokenizer_free(akidb_tokenizer *tok)
{
    if (!tok)
        return;
    ak_vocab_free(&tok->vocab);
    ak_free(tok->id_tok);
    ak_free(tok->added_pool);
    ak_free(tok->unk_token);
    ak_free(tok->prefix);
    matcher_free(&tok->raw);
    matcher_free(&tok->norm);
    ak_free(tok->tpl_pre);
    ak_free(tok->tpl_post);
    ak_free(tok);
}

static akidb_status oom(const char *origin)
{
    return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
}

static akidb_status set_wordpiece(akidb_tokenizer *tok, const char *unk, const char *prefix,
                                  size_t max_chars, const char *origin)
{
    tok->unk_token = ak_strdup(unk);
    tok->prefix = ak_strdup(prefix);
    if (!tok->unk_token || !tok->prefix)
        return oom(origin);
    tok->prefix_len = strlen(prefix);
    tok->max_chars = max_chars;
    tok->unk_id = ak_vocab_get2(&tok->vocab, unk, strlen(unk), "", 0);
    return AKIDB_OK;
}

/* Largest id accepted: ids index a table, so a stray huge id must not make
 * the loader allocate gigabytes. */
static size_t id_bound(size_t n_entries)
{
    return n_entries * 2 + 4096;
}

/* An added token being collected before the matchers are built. */
typedef struct added_spec {
    const char *content;
    int32_t id;
    bool single_word, lstrip, rstrip, normalized;
} added_spec;

static int cmp_added(const void *pa, const void *pb)
{
    const ak_added *a = pa, *b = pb;
    if (a->cps[0] != b->cps[0])
        return a->cps[0] < b->cps[0] ? -1 : 1;
    if (a->n != b->n)
        return a->n > b->n ? -1 : 1;
    return 0;
}

/* Builds tok->raw and tok->norm from specs (tok->ops must be set: contents
 * of normalized tokens are matched in their normalised form). */
static akidb_status build_matchers(akidb_tokenizer *tok, const added_spec *specs, size_t n,
                                   const char *origin)
{
    akidb_status st = AKIDB_OK;
    uint32_t *a = NULL, *b = NULL, *dec = NULL;
    size_t ca = 0, cb = 0;
    if (n == 0)
        return AKIDB_OK;
    tok->raw.tok = ak_calloc(n, sizeof *tok->raw.tok);
    tok->norm.tok = ak_calloc(n, sizeof *tok->norm.tok);
    if (!tok->raw.tok || !tok->norm.tok)
        return oom(origin);
    for (size_t i = 0; i < n; i++) {
        const added_spec *s = &specs[i];
        size_t blen = strlen(s->content);
        if (blen == 0)
            continue;
        ak_free(dec);
        dec = ak_malloc((blen + 1) * sizeof *dec);
        if (!dec) {
            st = oom(origin);
            goto out;
        }
        size_t nc = 0;
        for (size_t k = 0; k < blen;)
            k += (size_t)ak_utf8_decode((const unsigned char *)s->content + k, &dec[nc++]);
        const uint32_t *cps = dec;
        size_t ncps = nc;
        if (s->normalized &&
            (st = ak_normalize(tok, dec, nc, &a, &ca, &b, &cb, &cps, &ncps)) != AKIDB_OK)
            goto out;
        if (ncps == 0)
            continue;
        ak_matcher *m = s->normalized ? &tok->norm : &tok->raw;
        ak_added *t = &m->tok[m->n];
        t->cps = ak_malloc(ncps * sizeof *t->cps);
        if (!t->cps) {
            st = oom(origin);
            goto out;
        }
        memcpy(t->cps, cps, ncps * sizeof *t->cps);
        t->n = ncps;
        t->id = s->id;
        t->single_word = s->single_word;
        t->lstrip = s->lstrip;
        t->rstrip = s->rstrip;
        m->n++;
        m->first_bloom |= 1ull << (cps[0] & 63);
    }
    qsort(tok->raw.tok, tok->raw.n, sizeof *tok->raw.tok, cmp_added);
    qsort(tok->norm.tok, tok->norm.n, sizeof *tok->norm.tok, cmp_added);
out:
    ak_free(a);
    ak_free(b);
    ak_free(dec);
    return st;
}

/* id -> token table over the vocabulary and the added tokens (an added
 * token's string wins for its id, as in Hugging Face's id_to_token).  The
 * added tokens' strings are copied into tok->added_pool. */
static akidb_status build_id_table(akidb_tokenizer *tok, const added_spec *specs,
                                   size_t n_specs, const char *origin)
{
    size_t size = 0, pool = 0;
    for (size_t i = 0; i < tok->vocab.n; i++)
        if ((size_t)tok->vocab.id[i] + 1 > size)
            size = (size_t)tok->vocab.id[i] + 1;
    for (size_t i = 0; i < n_specs; i++) {
        if ((size_t)specs[i].id + 1 > size)
            size = (size_t)specs[i].id + 1;
        pool += strlen(specs[i].content) + 1;
    }
    tok->vocab_size = size;
    tok->id_tok = ak_calloc(size ? size : 1, sizeof *tok->id_tok);
    tok->added_pool = ak_malloc(pool);
    if (!tok->id_tok || !tok->added_pool)
        return oom(origin);
    for (size_t i = 0; i < tok->vocab.n; i++)
        tok->id_tok[tok->vocab.id[i]] = tok->vocab.pool + tok->vocab.off[i];
    char *p = tok->added_pool;
    for (size_t i = 0; i < n_specs; i++) {
        size_t l = strlen(specs[i].content) + 1;
        memcpy(p, specs[i].content, l);
        tok->id_tok[specs[i].id] = p;
        p += l;
    }
    return AKIDB_OK;
}

static akidb_status add_op(akidb_tokenizer *tok, ak_norm_op op, const char *origin)
{
    if (tok->n_ops >= AK_NORM_MAX_OPS)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: normalizer: more than %d steps", origin,
                       AK_NORM_MAX_OPS);
    tok->ops[tok->n_ops++] = op;
    return AKIDB_OK;
}

/* The steps of a BertNormalizer, in the Rust library's order. */
static akidb_status bert_ops(akidb_tokenizer *tok, bool clean, bool chinese, bool strip,
                             bool lower, const char *origin)
{
    akidb_status st = AKIDB_OK;
    if (clean && (st = add_op(tok, AK_NORM_CLEAN, origin)) != AKIDB_OK)
        return st;
    if (chinese && (st = add_op(tok, AK_NORM_CHINESE, origin)) != AKIDB_OK)
        return st;
    if (strip && (st = add_op(tok, AK_NORM_STRIP, origin)) != AKIDB_OK)
        return st;
    if (lower && (st = add_op(tok, AK_NORM_LOWER, origin)) != AKIDB_OK)
        return st;
    return st;
}

static akidb_status parse_normalizer(akidb_tokenizer *tok, const json_t *n, const char *origin,
                                     int depth)
{
    if (!n || json_is_null(n))
        return AKIDB_OK;
    if (!json_is_object(n))
        return bad_type(origin, "normalizer", "an object", n);
    const char *type;
    akidb_status st = opt_str(n, "type", NULL, &type, origin, "normalizer.");
    if (st != AKIDB_OK)
        return st;
    if (!type)
        return ak_fail(AKIDB_EFORMAT, "%s: normalizer: missing \"type\"", origin);
    if (strcmp(type, "BertNormalizer") == 0) {
        bool clean, chinese, lower, strip;
        /* strip_accents null or absent: follow lowercase, as HF does */
        if ((st = opt_bool(n, "clean_text", true, &clean, origin, "normalizer.")) ||
            (st = opt_bool(n, "handle_chinese_chars", true, &chinese, origin, "normalizer.")) ||
            (st = opt_bool(n, "lowercase", true, &lower, origin, "normalizer.")) ||
            (st = opt_bool(n, "strip_accents", lower, &strip, origin, "normalizer.")))
            return st;
        return bert_ops(tok, clean, chinese, strip, lower, origin);
    }
    if (strcmp(type, "NFD") == 0)
        return add_op(tok, AK_NORM_NFD, origin);
    if (strcmp(type, "Lowercase") == 0)
        return add_op(tok, AK_NORM_LOWER, origin);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(n, "normalizers");
        if (!json_is_array(list))
            return bad_type(origin, "normalizer.normalizers", "an array", list);
        if (depth > 8)
            return ak_fail(AKIDB_EUNSUPPORTED, "%s: normalizer: Sequence nested too deeply",
                           origin);
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            if ((st = parse_normalizer(tok, item, origin, depth + 1)) != AKIDB_OK)
                return st;
        }
        return AKIDB_OK;
    }
    return ak_fail(AKIDB_EUNSUPPORTED, "%s: normalizer type '%s' is not supported", origin,
                   type);
}

static akidb_status parse_pretokenizer(akidb_tokenizer *tok, const json_t *p,
                                       const char *origin)
{
    if (!p || json_is_null(p)) {
        tok->pretok_bert = false;
        return AKIDB_OK;
    }
    if (!json_is_object(p))
        return bad_type(origin, "pre_tokenizer", "an object", p);
    const char *type;
    akidb_status st = opt_str(p, "type", NULL, &type, origin, "pre_tokenizer.");
    if (st != AKIDB_OK)
        return st;
    if (!type)
        return ak_fail(AKIDB_EFORMAT, "%s: pre_tokenizer: missing \"type\"", origin);
    if (strcmp(type, "BertPreTokenizer") == 0) {
        tok->pretok_bert = true;
        return AKIDB_OK;
    }
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(p, "pretokenizers");
        if (!json_is_array(list))
            return bad_type(origin, "pre_tokenizer.pretokenizers", "an array", list);
        if (json_array_size(list) == 1) {
            json_t *only = json_array_get(list, 0);
            const char *t2 = NULL;
            if (json_is_object(only))
                opt_str(only, "type", NULL, &t2, origin, "pre_tokenizer.pretokenizers[0].");
            if (t2 && strcmp(t2, "BertPreTokenizer") == 0) {
                tok->pretok_bert = true;
                return AKIDB_OK;
            }
        }
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: pre_tokenizer: only a Sequence of one BertPreTokenizer is supported",
                       origin);
    }
    return ak_fail(AKIDB_EUNSUPPORTED, "%s: pre_tokenizer type '%s' is not supported", origin,
                   type);
}

/* Appends ids to a growable template list. */
static akidb_status tpl_append(int32_t **list, size_t *n, const int32_t *ids, size_t k,
                               const char *origin)
{
    if (k == 0)
        return AKIDB_OK;
    if (*n + k > 64)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: post_processor: more than 64 special tokens",
                       origin);
    int32_t *p = ak_realloc(*list, (*n + k) * sizeof *p);
    if (!p)
        return oom(origin);
    memcpy(p + *n, ids, k * sizeof *p);
    *list = p;
    *n += k;
    return AKIDB_OK;
}

/* Reads an id that must be an integer in [0, bound). */
static akidb_status get_id(const json_t *v, size_t bound, const char *origin,
                           const char *field, int32_t *out)
{
    if (!json_is_integer(v))
        return bad_type(origin, field, "an integer id", v);
    json_int_t id = json_integer_value(v);
    if (id < 0 || (uint64_t)id >= bound || id > INT32_MAX)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: id %lld is out of range", origin, field,
                       (long long)id);
    *out = (int32_t)id;
    return AKIDB_OK;
}

static akidb_status parse_template(akidb_tokenizer *tok, const json_t *pp, size_t bound,
                                   const char *origin)
{
    json_t *single = json_object_get(pp, "single");
    json_t *specials = json_object_get(pp, "special_tokens");
    if (!json_is_array(single))
        return bad_type(origin, "post_processor.single", "an array", single);
    if (specials && !json_is_object(specials))
        return bad_type(origin, "post_processor.special_tokens", "an object", specials);
    bool seen_a = false;
    size_t i;
    json_t *item;
    akidb_status st;
    json_array_foreach(single, i, item) {
        char f[96];
        snprintf(f, sizeof f, "post_processor.single[%zu]", i);
        if (!json_is_object(item))
            return bad_type(origin, f, "an object", item);
        json_t *sp = json_object_get(item, "SpecialToken");
        json_t *seq = json_object_get(item, "Sequence");
        if (seq) {
            const char *sid;
            if (!json_is_object(seq))
                return bad_type(origin, f, "an object", seq);
            if ((st = opt_str(seq, "id", NULL, &sid, origin, "post_processor.single[].Sequence.")))
                return st;
            if (!sid || strcmp(sid, "A") != 0 || seen_a)
                return ak_fail(AKIDB_EUNSUPPORTED,
                               "%s: %s: the single template must hold sequence A once", origin, f);
            seen_a = true;
            continue;
        }
        if (!json_is_object(sp))
            return ak_fail(AKIDB_EFORMAT, "%s: %s: expected SpecialToken or Sequence", origin, f);
        const char *name;
        if ((st = opt_str(sp, "id", NULL, &name, origin, "post_processor.single[].SpecialToken.")))
            return st;
        if (!name)
            return ak_fail(AKIDB_EFORMAT, "%s: %s.SpecialToken: missing \"id\"", origin, f);
        json_t *def = specials ? json_object_get(specials, name) : NULL;
        json_t *ids = json_is_object(def) ? json_object_get(def, "ids") : NULL;
        if (!json_is_array(ids))
            return ak_fail(AKIDB_EFORMAT,
                           "%s: post_processor.special_tokens: '%s' has no \"ids\" array",
                           origin, name);
        size_t k;
        json_t *idv;
        json_array_foreach(ids, k, idv) {
            int32_t id = 0;
            if ((st = get_id(idv, bound, origin, "post_processor.special_tokens[].ids", &id)) ||
                (st = seen_a ? tpl_append(&tok->tpl_post, &tok->n_post, &id, 1, origin)
                             : tpl_append(&tok->tpl_pre, &tok->n_pre, &id, 1, origin)))
                return st;
        }
    }
    if (!seen_a)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: post_processor.single: no sequence A", origin);
    return AKIDB_OK;
}

/* BertProcessing: {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]}. */
static akidb_status parse_bert_processing(akidb_tokenizer *tok, const json_t *pp,
                                          size_t bound, const char *origin)
{
    static const char *const keys[2] = {"cls", "sep"};
    for (int k = 0; k < 2; k++) {
        char f[64];
        snprintf(f, sizeof f, "post_processor.%s", keys[k]);
        json_t *pair = json_object_get(pp, keys[k]);
        if (!json_is_array(pair) || json_array_size(pair) != 2)
            return bad_type(origin, f, "a [token, id] pair", pair);
        int32_t id = 0;
        akidb_status st = get_id(json_array_get(pair, 1), bound, origin, f, &id);
        if (st == AKIDB_OK)
            st = k == 0 ? tpl_append(&tok->tpl_pre, &tok->n_pre, &id, 1, origin)
                        : tpl_append(&tok->tpl_post, &tok->n_post, &id, 1, origin);
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

static akidb_status parse_post_processor(akidb_tokenizer *tok, const json_t *pp, size_t bound,
                                         const char *origin)
{
    if (!pp || json_is_null(pp))
        return AKIDB_OK;
    if (!json_is_object(pp))
        return bad_type(origin, "post_processor", "an object", pp);
    const char *type;
    akidb_status st = opt_str(pp, "type", NULL, &type, origin, "post_processor.");
    if (st != AKIDB_OK)
        return st;
    if (!type)
        return ak_fail(AKIDB_EFORMAT, "%s: post_processor: missing \"type\"", origin);
    if (strcmp(type, "TemplateProcessing") == 0)
        return parse_template(tok, pp, bound, origin);
    if (strcmp(type, "BertProcessing") == 0)
        return parse_bert_processing(tok, pp, bound, origin);
    return ak_fail(AKIDB_EUNSUPPORTED, "%s: post_processor type '%s' is not supported", origin,
                   type);
}

static akidb_status parse_added(const json_t *list, size_t bound, const char *origin,
                                added_spec **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!list || json_is_null(list))
        return AKIDB_OK;
    if (!json_is_array(list))
        return bad_type(origin, "added_tokens", "an array", list);
    size_t n = json_array_size(list);
    added_spec *specs = ak_calloc(n ? n : 1, sizeof *specs);
    if (!specs)
        return oom(origin);
    size_t i;
    json_t *item;
    akidb_status st = AKIDB_OK;
    json_array_foreach(list, i, item) {
        char f[64];
        snprintf(f, sizeof f, "added_tokens[%zu]", i);
        added_spec *s = &specs[i];
        bool special;
        if (!json_is_object(item)) {
            st = bad_type(origin, f, "an object", item);
            break;
        }
        if ((st = get_id(json_object_get(item, "id"), bound, origin, f, &s->id)) ||
            (st = opt_str(item, "content", NULL, &s->content, origin, "added_tokens[].")) ||
            (st = opt_bool(item, "special", false, &special, origin, "added_tokens[].")) ||
            (st = opt_bool(item, "single_word", false, &s->single_word, origin, "added_tokens[].")) ||
            (st = opt_bool(item, "lstrip", false, &s->lstrip, origin, "added_tokens[].")) ||
            (st = opt_bool(item, "rstrip", false, &s->rstrip, origin, "added_tokens[].")) ||
            (st = opt_bool(item, "normalized", !special, &s->normalized, origin, "added_tokens[].")))
            break;
        if (!s->content) {
            st = ak_fail(AKIDB_EFORMAT, "%s: %s: missing \"content\"", origin, f);
            break;
        }
    }
    if (st != AKIDB_OK) {
        ak_free(specs);
        return st;
    }
    *out = specs;
    *n_out = n;
    return AKIDB_OK;
}

/* The tail shared by both loaders: added tokens, id table. */
static akidb_status finish(akidb_tokenizer *tok, const added_spec *specs, size_t n,
                           const char *origin)
{
    akidb_status st = build_matchers(tok, specs, n, origin);
    if (st == AKIDB_OK)
        st = build_id_table(tok, specs, n, origin);
    return st;
}

static akidb_status from_json_tree(akidb_tokenizer *tok, const json_t *root, const char *origin)
{
    akidb_status st;
    if (!json_is_object(root))
        return bad_type(origin, "top level", "an object", root);
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model))
        return bad_type(origin, "model", "an object", model);
    const char *type;
    if ((st = opt_str(model, "type", NULL, &type, origin, "model.")))
        return st;
    if (!type)
        return ak_fail(AKIDB_EFORMAT, "%s: model: missing \"type\"", origin);
    if (strcmp(type, "WordPiece") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: model type '%s' is not supported (only WordPiece)",
                       origin, type);
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_object(vocab))
        return bad_type(origin, "model.vocab", "an object", vocab);
    json_t *added_list = json_object_get(root, "added_tokens");
    size_t n_vocab = json_object_size(vocab);
    size_t bound = id_bound(n_vocab + (json_is_array(added_list) ? json_array_size(added_list) : 0));

    size_t text = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)vocab, key, val) text += strlen(key) + 1;
    if ((st = ak_vocab_init(&tok->vocab, n_vocab, text)) != AKIDB_OK)
        return ak_fail_prefix(st, "%s", origin);
    json_object_foreach((json_t *)vocab, key, val) {
        int32_t id = 0;
        if (!json_is_integer(val))
            return ak_fail(AKIDB_EFORMAT, "%s: model.vocab: token '%.40s' has %s, not an integer id",
                           origin, key, type_name(val));
        if ((st = get_id(val, bound, origin, "model.vocab", &id)) ||
            (st = ak_vocab_put(&tok->vocab, key, strlen(key), id)))
            return st == AKIDB_ENOMEM ? oom(origin) : st;
    }

    const char *unk, *prefix;
    json_t *mc = json_object_get(model, "max_input_chars_per_word");
    size_t max_chars = 100;
    if (mc && !json_is_null(mc)) {
        if (!json_is_integer(mc) || json_integer_value(mc) < 0)
            return bad_type(origin, "model.max_input_chars_per_word", "a non-negative integer", mc);
        max_chars = (size_t)json_integer_value(mc);
    }
    if ((st = opt_str(model, "unk_token", "[UNK]", &unk, origin, "model.")) ||
        (st = opt_str(model, "continuing_subword_prefix", "##", &prefix, origin, "model.")) ||
        (st = set_wordpiece(tok, unk, prefix, max_chars, origin)) ||
        (st = parse_normalizer(tok, json_object_get(root, "normalizer"), origin, 0)) ||
        (st = parse_pretokenizer(tok, json_object_get(root, "pre_tokenizer"), origin)) ||
        (st = parse_post_processor(tok, json_object_get(root, "post_processor"), bound, origin)))
        return st;
    added_spec *specs;
    size_t n_specs;
    if ((st = parse_added(added_list, bound, origin, &specs, &n_specs)) != AKIDB_OK)
        return st;
    st = finish(tok, specs, n_specs, origin);
    ak_free(specs);
    return st;
}

akidb_status ak_tokenizer_from_json(const char *json, size_t len, const char *origin,
                                    akidb_tokenizer **out)
{
    AK_ASSERT(json && origin && out);
    *out = NULL;
    json_t *root;
    akidb_status st = parse_json(json, len, origin, &root);
    if (st != AKIDB_OK)
        return st;
    akidb_tokenizer *tok = tok_new();
    if (!tok) {
        json_decref(root);
        return oom(origin);
    }
    st = from_json_tree(tok, root, origin);
    json_decref(root);
    if (st != AKIDB_OK) {
        akidb_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return AKIDB_OK;
}

/* ---- vocab.txt ----------------------------------------------------------- */

/* A special token setting of tokenizer_config.json / special_tokens_map.json:
 * a string or an object with "content". */
static const char *special_str(const json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

static const char *const SPECIAL_KEYS[5] = {"unk_token", "sep_token", "pad_token",
                                            "cls_token", "mask_token"};
static const char *const SPECIAL_DEFAULTS[5] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};

/* Splits text into lines the way Python's universal newlines do. */
static size_t next_line(const char *s, size_t len, size_t pos, size_t *line_len)
{
    size_t e = pos;
    while (e < len && s[e] != '\n' && s[e] != '\r')
        e++;
    *line_len = e - pos;
    if (e < len && s[e] == '\r' && e + 1 < len && s[e + 1] == '\n')
        return e + 2;
    return e < len ? e + 1 : e;
}

static akidb_status from_vocab_parts(akidb_tokenizer *tok, const char *vocab, size_t vlen,
                                     const json_t *cfg, const json_t *smap, const char *origin)
{
    akidb_status st;
    size_t bad;
    if (!ak_utf8_valid(vocab, vlen, &bad))
        return ak_fail(AKIDB_EUTF8, "%s: invalid UTF-8 at byte offset %zu", origin, bad);
    if (memchr(vocab, '\0', vlen))
        return ak_fail(AKIDB_EFORMAT, "%s: NUL byte in the vocabulary", origin);
    size_t lines = 0, ll;
    for (size_t p = 0; p < vlen; p = next_line(vocab, vlen, p, &ll))
        lines++;
    if (lines > INT32_MAX)
        return ak_fail(AKIDB_ETOOLONG, "%s: too many lines", origin);
    if ((st = ak_vocab_init(&tok->vocab, lines, vlen)) != AKIDB_OK)
        return ak_fail_prefix(st, "%s", origin);
    int32_t id = 0;
    for (size_t p = 0; p < vlen; id++) {
        size_t np = next_line(vocab, vlen, p, &ll);
        if ((st = ak_vocab_put(&tok->vocab, vocab + p, ll, id)) != AKIDB_OK)
            return st == AKIDB_ENOMEM ? oom(origin) : st;
        p = np;
    }

    bool lower = true, chinese = true, strip;
    const char *names[5];
    for (int k = 0; k < 5; k++)
        names[k] = SPECIAL_DEFAULTS[k];
    const json_t *srcs[2] = {cfg, smap};
    for (int s = 0; s < 2; s++) {
        if (!srcs[s])
            continue;
        if (!json_is_object(srcs[s]))
            return bad_type(origin, s ? "special_tokens_map.json" : "tokenizer_config.json",
                            "an object", srcs[s]);
        for (int k = 0; k < 5; k++) {
            json_t *v = json_object_get(srcs[s], SPECIAL_KEYS[k]);
            if (v && !json_is_null(v)) {
                if (!special_str(v))
                    return bad_type(origin, SPECIAL_KEYS[k], "a string", v);
                names[k] = special_str(v);
            }
        }
    }
    if (cfg) {
        if ((st = opt_bool(cfg, "do_lower_case", true, &lower, origin, "tokenizer_config.json: ")) ||
            (st = opt_bool(cfg, "tokenize_chinese_chars", true, &chinese, origin,
                           "tokenizer_config.json: ")))
            return st;
    }
    strip = lower;
    if (cfg && (st = opt_bool(cfg, "strip_accents", lower, &strip, origin,
                              "tokenizer_config.json: ")))
        return st;
    if ((st = bert_ops(tok, true, chinese, strip, lower, origin)) != AKIDB_OK)
        return st;
    tok->pretok_bert = true;
    if ((st = set_wordpiece(tok, names[0], "##", 100, origin)) != AKIDB_OK)
        return st;

    int32_t cls = ak_vocab_get2(&tok->vocab, names[3], strlen(names[3]), "", 0);
    int32_t sep = ak_vocab_get2(&tok->vocab, names[1], strlen(names[1]), "", 0);
    if (cls < 0 || sep < 0)
        return ak_fail(AKIDB_EFORMAT, "%s: the vocabulary lacks '%s' or '%s'", origin, names[3],
                       names[1]);
    if ((st = tpl_append(&tok->tpl_pre, &tok->n_pre, &cls, 1, origin)) ||
        (st = tpl_append(&tok->tpl_post, &tok->n_post, &sep, 1, origin)))
        return st;

    /* The special tokens become added tokens matched in the raw text. */
    added_spec specs[5];
    size_t n = 0;
    for (int k = 0; k < 5; k++) {
        int32_t sid = ak_vocab_get2(&tok->vocab, names[k], strlen(names[k]), "", 0);
        if (sid < 0)
            continue;
        specs[n] = (added_spec){.content = names[k], .id = sid};
        n++;
    }
    return finish(tok, specs, n, origin);
}

akidb_status ak_tokenizer_from_vocab(const char *vocab, size_t vocab_len,
                                     const char *config_json, size_t config_len,
                                     const char *special_json, size_t special_len,
                                     const char *origin, akidb_tokenizer **out)
{
    AK_ASSERT(vocab && origin && out);
    *out = NULL;
    json_t *cfg = NULL, *smap = NULL;
    akidb_status st = AKIDB_OK;
    akidb_tokenizer *tok = NULL;
    if (config_json && (st = parse_json(config_json, config_len, "tokenizer_config.json", &cfg)))
        goto out;
    if (special_json &&
        (st = parse_json(special_json, special_len, "special_tokens_map.json", &smap)))
        goto out;
    if (!(tok = tok_new())) {
        st = oom(origin);
        goto out;
    }
    st = from_vocab_parts(tok, vocab, vocab_len, cfg, smap, origin);
out:
    json_decref(cfg);
    json_decref(smap);
    if (st != AKIDB_OK) {
        akidb_tokenizer_free(tok);
        return st;
    }
    *out = tok;
    return AKIDB_OK;
}

/* ---- public -------------------------------------------------------------- */

/* Reads dir/name if it exists: *data NULL when absent. */
static akidb_status read_optional(const char *dir, const char *name, char **path, char **data,
                                  size_t *len)
{
    *data = NULL;
    *len = 0;
    *path = ak_path_join(dir, name);
    if (!*path)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (!ak_file_exists(*path))
        return AKIDB_OK;
    return ak_read_file(*path, AK_TOK_MAX_FILE, data, len);
}

akidb_status akidb_tokenizer_load(const char *dir, akidb_tokenizer **out)
{
    AK_ASSERT(dir && out);
    *out = NULL;
    char *p_json = NULL, *p_vocab = NULL, *p_cfg = NULL, *p_map = NULL;
    char *json = NULL, *vocab = NULL, *cfg = NULL, *map = NULL;
    size_t n_json, n_vocab, n_cfg, n_map;
    akidb_status st = read_optional(dir, "tokenizer.json", &p_json, &json, &n_json);
    if (st != AKIDB_OK)
        goto out;
    if (json) {
        st = ak_tokenizer_from_json(json, n_json, p_json, out);
        goto out;
    }
    if ((st = read_optional(dir, "vocab.txt", &p_vocab, &vocab, &n_vocab)) != AKIDB_OK)
        goto out;
    if (!vocab) {
        st = ak_fail(AKIDB_ENOENT, "%s: no tokenizer.json or vocab.txt", dir);
        goto out;
    }
    if ((st = read_optional(dir, "tokenizer_config.json", &p_cfg, &cfg, &n_cfg)) ||
        (st = read_optional(dir, "special_tokens_map.json", &p_map, &map, &n_map)))
        goto out;
    st = ak_tokenizer_from_vocab(vocab, n_vocab, cfg, n_cfg, map, n_map, "vocab.txt", out);
    if (st != AKIDB_OK)
        ak_fail_prefix(st, "%s", dir);
out:
    ak_free(p_json);
    ak_free(p_vocab);
    ak_free(p_cfg);
    ak_free(p_map);
    ak_free(json);
    ak_free(vocab);
    ak_free(cfg);
    ak_free(map);
    return st;
}

size_t akidb_tokenizer_vocab_size(const akidb_tokenizer *tok)
{
    AK_ASSERT(tok);
    return tok->vocab_size;
}

const char *akidb_tokenizer_id_to_token(const akidb_tokenizer *tok, int32_t id)
{
    AK_ASSERT(tok);
    if (id < 0 || (size_t)id >= tok->vocab_size)
        return NULL;
    return tok->id_tok[id];
}
