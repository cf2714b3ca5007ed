/*
 * vocab_txt.c - a BERT folder without tokenizer.json: vocab.txt (one token per
 * line, id = line index, universal newlines) with the optional
 * tokenizer_config.json and special_tokens_map.json.  Builds the
 * tokenizer.json tree transformers' BertConverter writes for such a folder -
 * BertNormalizer, BertPreTokenizer, WordPiece, the [CLS] $A [SEP] template,
 * the WordPiece decoder, the special tokens as added tokens - and loads it
 * through the common path (ak_tokenizer_from_tree).
 */
#include "tok_parts.h"
#include "tokenizer.h"

#include <string.h>

/* A special token setting: a string or an object with "content". */
static const char *special_str(const json_t *v)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

enum { SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_N };
static const char *const SPECIAL_KEYS[SP_N] = {"unk_token", "sep_token", "pad_token",
                                               "cls_token", "mask_token"};
static const char *const SPECIAL_DEFAULTS[SP_N] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]",
                                                   "[MASK]"};

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

/* vocab.txt -> {token: line index} (a later duplicate line wins, as in
 * transformers' load_vocab). */
static akidb_status read_vocab(const char *vocab, size_t vlen, const char *origin,
                               json_t *out)
{
    size_t bad;
    if (!ak_utf8_valid(vocab, vlen, &bad))
        return ak_fail(AKIDB_EUTF8, "%s: invalid UTF-8 at byte offset %zu", origin, bad);
    if (memchr(vocab, '\0', vlen))
        return ak_fail(AKIDB_EFORMAT, "%s: NUL byte in the vocabulary", origin);
    size_t ll;
    json_int_t id = 0;
    char *tmp = NULL;
    for (size_t p = 0; p < vlen; id++) {
        size_t np = next_line(vocab, vlen, p, &ll);
        if (id > INT32_MAX)
            return ak_fail(AKIDB_ETOOLONG, "%s: too many lines", origin);
        char *t = ak_realloc(tmp, ll + 1);
        if (!t) {
            ak_free(tmp);
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
        }
        tmp = t;
        memcpy(t, vocab + p, ll);
        t[ll] = 0;
        if (json_object_set_new(out, t, json_integer(id))) {
            ak_free(tmp);
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
        }
        p = np;
    }
    ak_free(tmp);
    return AKIDB_OK;
}

/* Reads the special token names and the BasicTokenizer options. */
static akidb_status read_config(const json_t *cfg, const json_t *smap, const char *names[SP_N],
                                json_t *norm, const char *origin)
{
    const json_t *srcs[2] = {cfg, smap};
    for (int k = 0; k < SP_N; k++)
        names[k] = SPECIAL_DEFAULTS[k];
    for (int s = 0; s < 2; s++) {
        if (!srcs[s])
            continue;
        if (!json_is_object(srcs[s]))
            return ak_tj_bad_type(origin, s ? "special_tokens_map.json" : "tokenizer_config.json",
                                  "an object", srcs[s]);
        for (int k = 0; k < SP_N; k++) {
            json_t *v = json_object_get(srcs[s], SPECIAL_KEYS[k]);
            if (v && !json_is_null(v)) {
                if (!special_str(v))
                    return ak_tj_bad_type(origin, SPECIAL_KEYS[k], "a string", v);
                names[k] = special_str(v);
            }
        }
    }
    bool lower = true, chinese = true, strip = true;
    const char *path = "tokenizer_config.json: ";
    akidb_status st;
    if (cfg && ((st = ak_tj_bool(cfg, "do_lower_case", true, &lower, origin, path)) ||
                (st = ak_tj_bool(cfg, "tokenize_chinese_chars", true, &chinese, origin, path)) ||
                (st = ak_tj_bool(cfg, "strip_accents", lower, &strip, origin, path))))
        return st;
    if (!cfg)
        strip = lower;
    if (json_object_set_new(norm, "type", json_string("BertNormalizer")) ||
        json_object_set_new(norm, "clean_text", json_true()) ||
        json_object_set_new(norm, "handle_chinese_chars", json_boolean(chinese)) ||
        json_object_set_new(norm, "strip_accents", json_boolean(strip)) ||
        json_object_set_new(norm, "lowercase", json_boolean(lower)))
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
    return AKIDB_OK;
}

static json_t *tpl_item(const char *kind, const char *id, int type_id)
{
    return json_pack("{s:{s:s,s:i}}", kind, "id", id, "type_id", type_id);
}

/* The [CLS] $A [SEP] / [CLS] $A [SEP] $B [SEP] template. */
static json_t *bert_template(const char *cls, json_int_t cls_id, const char *sep,
                             json_int_t sep_id)
{
    json_t *single = json_pack("[o,o,o]", tpl_item("SpecialToken", cls, 0),
                               tpl_item("Sequence", "A", 0), tpl_item("SpecialToken", sep, 0));
    json_t *pair = json_pack("[o,o,o,o,o]", tpl_item("SpecialToken", cls, 0),
                             tpl_item("Sequence", "A", 0), tpl_item("SpecialToken", sep, 0),
                             tpl_item("Sequence", "B", 1), tpl_item("SpecialToken", sep, 1));
    json_t *specials = json_pack("{s:{s:s,s:[I],s:[s]},s:{s:s,s:[I],s:[s]}}", cls, "id", cls,
                                 "ids", cls_id, "tokens", cls, sep, "id", sep, "ids", sep_id,
                                 "tokens", sep);
    return json_pack("{s:s,s:o,s:o,s:o}", "type", "TemplateProcessing", "single", single,
                     "pair", pair, "special_tokens", specials);
}

static akidb_status build_tree(const char *vocab, size_t vlen, const json_t *cfg,
                               const json_t *smap, const char *origin, json_t *root)
{
    json_t *v = json_object(), *norm = json_object(), *added = json_array();
    /* root owns each at once, so every exit frees them */
    if (json_object_set_new(root, "vocab_", v) || json_object_set_new(root, "normalizer", norm) ||
        json_object_set_new(root, "added_tokens", added))
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
    const char *names[SP_N];
    akidb_status st;
    if ((st = read_vocab(vocab, vlen, origin, v)) ||
        (st = read_config(cfg, smap, names, norm, origin)))
        return st;
    json_t *cls = json_object_get(v, names[SP_CLS]), *sep = json_object_get(v, names[SP_SEP]);
    if (!cls || !sep)
        return ak_fail(AKIDB_EFORMAT, "%s: the vocabulary lacks '%s' or '%s'", origin,
                       names[SP_CLS], names[SP_SEP]);
    for (int k = 0; k < SP_N; k++) {
        json_t *id = json_object_get(v, names[k]);
        if (id && json_array_append_new(added, json_pack("{s:O,s:s,s:b,s:b}", "id", id,
                                                         "content", names[k], "special", 1,
                                                         "normalized", 0)))
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
    }
    int bad = 0;
    bad |= json_object_set_new(root, "post_processor",
                               bert_template(names[SP_CLS], json_integer_value(cls),
                                             names[SP_SEP], json_integer_value(sep)));
    bad |= json_object_set_new(root, "pre_tokenizer",
                               json_pack("{s:s}", "type", "BertPreTokenizer"));
    bad |= json_object_set_new(root, "decoder", json_pack("{s:s,s:s,s:b}", "type", "WordPiece",
                                                          "prefix", "##", "cleanup", 1));
    bad |= json_object_set_new(root, "model",
                               json_pack("{s:s,s:O,s:s,s:s,s:i}", "type", "WordPiece", "vocab",
                                         v, "unk_token", names[SP_UNK],
                                         "continuing_subword_prefix", "##",
                                         "max_input_chars_per_word", 100));
    json_object_del(root, "vocab_");
    if (bad || json_array_size(added) == 0)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
    return AKIDB_OK;
}

akidb_status ak_tokenizer_from_vocab(const char *vocab, size_t vocab_len,
                                     const char *config_json, size_t config_len,
                                     const char *special_json, size_t special_len,
                                     const char *origin, akidb_tokenizer **out)
{
    AK_ASSERT(vocab && origin && out);
    *out = NULL;
    json_t *cfg = NULL, *smap = NULL, *root = json_object();
    akidb_status st = AKIDB_OK;
    if (!root) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
        goto out;
    }
    if (config_json &&
        (st = ak_tok_parse_json(config_json, config_len, "tokenizer_config.json", &cfg)))
        goto out;
    if (special_json &&
        (st = ak_tok_parse_json(special_json, special_len, "special_tokens_map.json", &smap)))
        goto out;
    if ((st = build_tree(vocab, vocab_len, cfg, smap, origin, root)) == AKIDB_OK)
        st = ak_tokenizer_from_tree(root, origin, out);
out:
    json_decref(cfg);
    json_decref(smap);
    json_decref(root);
    return st;
}
