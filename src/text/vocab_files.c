/*
 * vocab_files.c - a byte-level BPE folder without tokenizer.json (vocab.json
 * + merges.txt): builds the tokenizer.json tree transformers' GPT2Converter
 * or Qwen2Converter writes for it and loads it through the common path
 * (ak_tokenizer_from_tree).  vocab_files.h says which rules are followed.
 */
#include "vocab_files.h"

#include "tok_parts.h"

#include <stdio.h>
#include <string.h>

typedef enum bpe_class { CLASS_GPT2, CLASS_QWEN2 } bpe_class;

/* Qwen2Converter's Split pattern (also in the Hub's Qwen2 / Qwen3 files). */
static const char QWEN2_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static akidb_status nomem(const char *origin)
{
    return ak_fail(AKIDB_ENOMEM, "%s: out of memory", origin);
}

/* ---- merges.txt ---------------------------------------------------------- */

/* Python's str.isspace, which str.split() and str.strip() use. */
static bool py_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

/* Next whitespace-separated field of s[*pos..end) (valid UTF-8); false at
 * the end. */
static bool next_field(const char *s, size_t end, size_t *pos, size_t *fs, size_t *fl)
{
    size_t p = *pos, start = SIZE_MAX;
    while (p < end) {
        uint32_t c;
        int k = ak_utf8_decode((const unsigned char *)s + p, &c);
        if (py_space(c)) {
            if (start != SIZE_MAX)
                break;
        } else if (start == SIZE_MAX) {
            start = p;
        }
        p += (size_t)k;
    }
    *pos = p;
    if (start == SIZE_MAX)
        return false;
    *fs = start;
    *fl = p - start;
    return true;
}

/* Adds the merge of line s[b..e) (physical line `line`) to out unless the
 * pair is already there; the line must split into exactly two tokens. */
static akidb_status add_merge(const char *s, size_t b, size_t e, size_t line, json_t *seen,
                              json_t *out, const char *origin)
{
    size_t pos = b, fs[3], fl[3];
    int n = 0;
    while (n < 3 && next_field(s, e, &pos, &fs[n], &fl[n]))
        n++;
    if (n != 2)
        return ak_fail(AKIDB_EFORMAT, "%s: merges.txt line %zu: expected two tokens, found %s",
                       origin, line, n < 2 ? (n ? "one" : "none") : "more");
    char *key = ak_malloc(fl[0] + fl[1] + 2);
    if (!key)
        return nomem(origin);
    memcpy(key, s + fs[0], fl[0]);
    key[fl[0]] = ' ';
    memcpy(key + fl[0] + 1, s + fs[1], fl[1]);
    key[fl[0] + fl[1] + 1] = '\0';
    akidb_status st = AKIDB_OK;
    if (!json_object_get(seen, key)) {
        json_t *pair = json_pack("[s#s#]", s + fs[0], (int)fl[0], s + fs[1], (int)fl[1]);
        if (!pair || json_object_set_new(seen, key, json_true()) ||
            json_array_append_new(out, pair))
            st = nomem(origin);
    }
    ak_free(key);
    return st;
}

/* True when s[b..e) is empty after Python's strip(). */
static bool blank(const char *s, size_t b, size_t e)
{
    size_t pos = b, fs, fl;
    return !next_field(s, e, &pos, &fs, &fl);
}

/* Reads merges.txt the way the class's slow tokenizer does (universal
 * newlines in both).  GPT2Tokenizer: text.split("\n")[1:-1], so the first
 * line always goes, and so does the last piece (empty after a final newline,
 * else the last line).  Qwen2Tokenizer: every line stripped, a first line
 * starting with "#version:" and blank lines skipped. */
static akidb_status read_merges(const char *s, size_t len, bpe_class cls, const char *origin,
                                json_t *out)
{
    size_t bad;
    if (!ak_utf8_valid(s, len, &bad))
        return ak_fail(AKIDB_EUTF8, "%s: merges.txt: invalid UTF-8 at byte offset %zu", origin,
                       bad);
    if (memchr(s, '\0', len))
        return ak_fail(AKIDB_EFORMAT, "%s: merges.txt: NUL byte", origin);
    json_t *seen = json_object();
    if (!seen)
        return nomem(origin);
    akidb_status st = AKIDB_OK;
    size_t line = 0;
    for (size_t p = 0; st == AKIDB_OK && p <= len; line++) {
        size_t e = p;
        while (e < len && s[e] != '\n' && s[e] != '\r')
            e++;
        size_t next = e < len && s[e] == '\r' && e + 1 < len && s[e + 1] == '\n' ? e + 2 : e + 1;
        bool last_piece = e == len;
        if (cls == CLASS_GPT2) {
            if (line > 0 && !last_piece)
                st = add_merge(s, p, e, line + 1, seen, out, origin);
        } else if (p < len) {
            size_t fs, fl, pos = p;
            bool version = line == 0 && next_field(s, e, &pos, &fs, &fl) && fl >= 9 &&
                           memcmp(s + fs, "#version:", 9) == 0;
            if (!version && !blank(s, p, e))
                st = add_merge(s, p, e, line + 1, seen, out, origin);
        }
        p = next;
    }
    json_decref(seen);
    return st;
}

/* ---- configuration --------------------------------------------------------- */

static bool class_named(const char *name, bpe_class *cls)
{
    static const struct {
        const char *name;
        bpe_class cls;
    } NAMES[] = {
        {"GPT2Tokenizer", CLASS_GPT2},  {"GPT2TokenizerFast", CLASS_GPT2},
        {"gpt2", CLASS_GPT2},           {"Qwen2Tokenizer", CLASS_QWEN2},
        {"Qwen2TokenizerFast", CLASS_QWEN2}, {"qwen2", CLASS_QWEN2},
        {"qwen2_moe", CLASS_QWEN2},     {"qwen3", CLASS_QWEN2},
        {"qwen3_moe", CLASS_QWEN2},
    };
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
        if (strcmp(name, NAMES[i].name) == 0) {
            *cls = NAMES[i].cls;
            return true;
        }
    return false;
}

/* The converter: tokenizer_config.json's tokenizer_class, else config.json's
 * model_type (as AutoTokenizer maps it). */
static akidb_status pick_class(const json_t *cfg, const json_t *mcfg, const char *origin,
                               bpe_class *cls)
{
    const char *name = NULL, *what = NULL;
    akidb_status st;
    if (cfg && (st = ak_tj_str(cfg, "tokenizer_class", NULL, &name, origin,
                               "tokenizer_config.json: ")) != AKIDB_OK)
        return st;
    what = "tokenizer_class";
    if (!name && mcfg) {
        if ((st = ak_tj_str(mcfg, "model_type", NULL, &name, origin, "config.json: ")) !=
            AKIDB_OK)
            return st;
        what = "model_type";
    }
    if (!name)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: vocab.json + merges.txt without a tokenizer_class "
                       "(tokenizer_config.json) or model_type (config.json): the converter "
                       "is unknown",
                       origin);
    if (!class_named(name, cls))
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: %s %s: only GPT2Tokenizer and Qwen2Tokenizer folders load from "
                       "vocab.json + merges.txt",
                       origin, what, name);
    return AKIDB_OK;
}

enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, SP_N };
static const char *const SPECIAL_KEYS[SP_N] = {"bos_token", "eos_token", "unk_token",
                                               "sep_token", "pad_token", "cls_token",
                                               "mask_token"};

/* The value of special token setting k: special_tokens_map.json over
 * tokenizer_config.json over the class default.  *v is the setting (a string
 * or an AddedToken object), or NULL with *eot set for the default
 * "<|endoftext|>", or NULL alone for none. */
static akidb_status special_value(const json_t *cfg, const json_t *smap, bpe_class cls, int k,
                                  const char *origin, const json_t **v, bool *eot)
{
    const json_t *srcs[2] = {smap, cfg};
    const char *files[2] = {"special_tokens_map.json", "tokenizer_config.json"};
    *v = NULL;
    *eot = false;
    for (int s = 0; s < 2; s++) {
        const json_t *x = srcs[s] ? json_object_get(srcs[s], SPECIAL_KEYS[k]) : NULL;
        if (!x)
            continue;
        if (!json_is_null(x) && !json_is_string(x) &&
            !(json_is_object(x) && json_is_string(json_object_get(x, "content")))) {
            char f[96];
            snprintf(f, sizeof f, "%s: %s", files[s], SPECIAL_KEYS[k]);
            return ak_tj_bad_type(origin, f, "a string or {\"content\": ...}", x);
        }
        *v = json_is_null(x) ? NULL : x;
        return AKIDB_OK;
    }
    *eot = cls == CLASS_GPT2 ? (k == SP_BOS || k == SP_EOS || k == SP_UNK)
                             : (k == SP_EOS || k == SP_UNK || k == SP_PAD);
    return AKIDB_OK;
}

/* The content of a special token setting (string or AddedToken object). */
static const char *content_of(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v)
                             : json_string_value(json_object_get(v, "content"));
}

/* ---- added tokens ------------------------------------------------------------ */

typedef struct added_ctx {
    const json_t *vocab;
    json_int_t vocab_size;    /* entries of vocab.json (Rust: get_vocab_size) */
    json_int_t max_id;        /* largest id given to an added token, or -1    */
    json_t *list;             /* added_tokens                                 */
    json_t *by_content;       /* content -> id                                */
    const char *origin;
} added_ctx;

static bool flag(const json_t *o, const char *key, bool def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* Adds one token (a string, or an AddedToken object with "content"), unless
 * its content is already added, with the id Hugging Face tokenizers gives:
 * its vocabulary id, else the next one after the vocabulary / the last. */
static akidb_status add_token(added_ctx *c, const json_t *tok, bool special)
{
    const char *content = content_of(tok);
    if (json_object_get(c->by_content, content))
        return AKIDB_OK;
    if (json_is_object(tok))
        special = special || flag(tok, "special", false);
    const json_t *vid = json_object_get(c->vocab, content);
    json_int_t id;
    if (json_is_integer(vid))
        id = json_integer_value(vid);
    else if (c->max_id < 0)
        id = c->vocab_size;
    else
        id = c->max_id >= c->vocab_size || c->vocab_size == 0 ? c->max_id + 1 : c->vocab_size;
    if (id > c->max_id)
        c->max_id = id;
    bool obj = json_is_object(tok);
    json_t *e = json_pack("{s:I,s:s,s:b,s:b,s:b,s:b,s:b}", "id", id, "content", content,
                          "single_word", obj && flag(tok, "single_word", false), "lstrip",
                          obj && flag(tok, "lstrip", false), "rstrip",
                          obj && flag(tok, "rstrip", false), "normalized",
                          obj ? flag(tok, "normalized", !special) : !special, "special",
                          special);
    if (!e || json_array_append_new(c->list, e) ||
        json_object_set_new(c->by_content, content, json_integer(id)))
        return nomem(c->origin);
    return AKIDB_OK;
}

/* tokenizer_config.json added_tokens_decoder, in id order. */
static akidb_status add_decoder_tokens(added_ctx *c, const json_t *cfg, const json_t *specials)
{
    const json_t *dec = cfg ? json_object_get(cfg, "added_tokens_decoder") : NULL;
    if (!dec || json_is_null(dec))
        return AKIDB_OK;
    if (!json_is_object(dec))
        return ak_tj_bad_type(c->origin, "tokenizer_config.json: added_tokens_decoder",
                              "an object", dec);
    size_t n = json_object_size(dec), k = 0;
    struct ent {
        long long id;
        const json_t *tok;
    } *ents = ak_malloc((n ? n : 1) * sizeof *ents);
    if (!ents)
        return nomem(c->origin);
    const char *key;
    json_t *val;
    akidb_status st = AKIDB_OK;
    json_object_foreach((json_t *)dec, key, val) {
        char *end;
        long long id = strtoll(key, &end, 10);
        if (*key == '\0' || *end != '\0' || !json_is_object(val) ||
            !json_is_string(json_object_get(val, "content"))) {
            st = ak_fail(AKIDB_EFORMAT,
                         "%s: tokenizer_config.json: added_tokens_decoder[\"%.40s\"]: expected "
                         "an integer key and an object with \"content\"",
                         c->origin, key);
            break;
        }
        ents[k++] = (struct ent){id, val};
    }
    /* insertion sort by id: the lists are short */
    for (size_t i = 1; st == AKIDB_OK && i < k; i++)
        for (size_t j = i; j > 0 && ents[j - 1].id > ents[j].id; j--) {
            struct ent t = ents[j];
            ents[j] = ents[j - 1];
            ents[j - 1] = t;
        }
    for (size_t i = 0; st == AKIDB_OK && i < k; i++) {
        const char *content = json_string_value(json_object_get(ents[i].tok, "content"));
        st = add_token(c, ents[i].tok, json_object_get(specials, content) != NULL);
    }
    ak_free(ents);
    return st;
}

/* The special tokens in the order of transformers' all_special_tokens
 * (bos, eos, unk, sep, pad, cls, mask, additional_special_tokens) into
 * list; their contents into the set specials. */
static akidb_status collect_specials(const json_t *cfg, const json_t *smap, bpe_class cls,
                                     const char *origin, json_t *list, json_t *specials)
{
    akidb_status st;
    for (int k = 0; k < SP_N; k++) {
        const json_t *v;
        bool eot;
        if ((st = special_value(cfg, smap, cls, k, origin, &v, &eot)) != AKIDB_OK)
            return st;
        if ((v && json_array_append(list, (json_t *)v)) ||
            (eot && json_array_append_new(list, json_string("<|endoftext|>"))))
            return nomem(origin);
    }
    const json_t *extra = smap ? json_object_get(smap, "additional_special_tokens") : NULL;
    if (!extra && cfg)
        extra = json_object_get(cfg, "additional_special_tokens");
    if (extra && !json_is_null(extra)) {
        if (!json_is_array(extra))
            return ak_tj_bad_type(origin, "additional_special_tokens", "an array", extra);
        size_t i;
        json_t *x;
        json_array_foreach(extra, i, x) {
            if (!json_is_string(x) &&
                !(json_is_object(x) && json_is_string(json_object_get(x, "content"))))
                return ak_tj_bad_type(origin, "additional_special_tokens[]",
                                      "a string or {\"content\": ...}", x);
            if (json_array_append(list, x))
                return nomem(origin);
        }
    }
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        if (json_object_set_new(specials, content_of(x), json_true()))
            return nomem(origin);
    }
    return AKIDB_OK;
}

static akidb_status added_tokens(const json_t *vocab, const json_t *cfg, const json_t *smap,
                                 bpe_class cls, const char *origin, json_t *out)
{
    json_t *list = json_array(), *specials = json_object(), *by_content = json_object();
    added_ctx c = {vocab, (json_int_t)json_object_size(vocab), -1, out, by_content, origin};
    akidb_status st = !list || !specials || !by_content ? nomem(origin) : AKIDB_OK;
    if (st == AKIDB_OK)
        st = collect_specials(cfg, smap, cls, origin, list, specials);
    if (st == AKIDB_OK)
        st = add_decoder_tokens(&c, cfg, specials);
    size_t i;
    json_t *x;
    if (st == AKIDB_OK)
        json_array_foreach(list, i, x) {
            if ((st = add_token(&c, x, true)) != AKIDB_OK)
                break;
        }
    json_decref(list);
    json_decref(specials);
    json_decref(by_content);
    return st;
}

/* ---- the tree ---------------------------------------------------------------- */

static json_t *bytelevel(bool add_prefix_space, bool trim_offsets, bool use_regex)
{
    return json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space",
                     add_prefix_space, "trim_offsets", trim_offsets, "use_regex", use_regex);
}

/* GPT2Converter's post-processor: the "<bos> $A" / "<bos> $A $B" template
 * when add_bos_token, else ByteLevel(trim_offsets=False). */
static akidb_status gpt2_post(const json_t *cfg, const json_t *smap, const json_t *added,
                              const char *origin, json_t **pp)
{
    bool add_bos = false, eot;
    const json_t *bos;
    akidb_status st;
    *pp = NULL;
    if (cfg && (st = ak_tj_bool(cfg, "add_bos_token", false, &add_bos, origin,
                                "tokenizer_config.json: ")) != AKIDB_OK)
        return st;
    if ((st = special_value(cfg, smap, CLASS_GPT2, SP_BOS, origin, &bos, &eot)) != AKIDB_OK)
        return st;
    const char *b = bos ? content_of(bos) : eot ? "<|endoftext|>" : NULL;
    json_int_t id = -1;
    size_t i;
    json_t *x;
    json_array_foreach(added, i, x) {
        if (b && strcmp(content_of(x), b) == 0)
            id = json_integer_value(json_object_get(x, "id"));
    }
    if (!add_bos || id < 0)
        *pp = bytelevel(true, false, true);
    else
        *pp = json_pack("{s:s,s:[{s:{s:s,s:i}},{s:{s:s,s:i}}],"
                        "s:[{s:{s:s,s:i}},{s:{s:s,s:i}},{s:{s:s,s:i}}],"
                        "s:{s:{s:s,s:[I],s:[s]}}}",
                        "type", "TemplateProcessing", "single", "SpecialToken", "id", b,
                        "type_id", 0, "Sequence", "id", "A", "type_id", 0, "pair",
                        "SpecialToken", "id", b, "type_id", 0, "Sequence", "id", "A",
                        "type_id", 0, "Sequence", "id", "B", "type_id", 1, "special_tokens", b,
                        "id", b, "ids", id, "tokens", b);
    return *pp ? AKIDB_OK : nomem(origin);
}

/* The class's normalizer, pre-tokenizer, post-processor and decoder. */
static akidb_status pipeline(json_t *root, bpe_class cls, const json_t *cfg,
                             const json_t *smap, const char *origin)
{
    json_t *pre, *pp = NULL, *norm = json_null();
    akidb_status st = AKIDB_OK;
    if (cls == CLASS_GPT2) {
        bool aps = false;
        if (cfg && (st = ak_tj_bool(cfg, "add_prefix_space", false, &aps, origin,
                                    "tokenizer_config.json: ")) != AKIDB_OK)
            return st;
        pre = bytelevel(aps, true, true);
        st = gpt2_post(cfg, smap, json_object_get(root, "added_tokens"), origin, &pp);
    } else {
        norm = json_pack("{s:s}", "type", "NFC");
        pre = json_pack("{s:s,s:[{s:s,s:{s:s},s:s,s:b},o]}", "type", "Sequence",
                        "pretokenizers", "type", "Split", "pattern", "Regex", QWEN2_REGEX,
                        "behavior", "Isolated", "invert", 0, bytelevel(false, true, false));
        pp = bytelevel(true, false, true);
    }
    /* each set_new takes its value, even when it fails */
    int bad = 0;
    bad |= json_object_set_new(root, "normalizer", norm);
    bad |= json_object_set_new(root, "pre_tokenizer", pre);
    bad |= json_object_set_new(root, "post_processor", pp);
    bad |= json_object_set_new(root, "decoder", bytelevel(true, true, true));
    if (st == AKIDB_OK && bad)
        st = nomem(origin);
    return st;
}

static akidb_status parse_opt(const char *text, size_t len, const char *origin,
                              const char *name, json_t **out)
{
    *out = NULL;
    if (!text)
        return AKIDB_OK;
    char full[512];
    snprintf(full, sizeof full, "%s/%s", origin, name);
    akidb_status st = ak_tok_parse_json(text, len, full, out);
    if (st == AKIDB_OK && !json_is_object(*out))
        st = ak_tj_bad_type(full, "top level", "an object", *out);
    return st;
}

static akidb_status build_tree(const json_t *vocab, const char *merges, size_t merges_len,
                               const json_t *cfg, const json_t *smap, const json_t *mcfg,
                               const char *origin, json_t *root)
{
    bpe_class cls = CLASS_GPT2;
    akidb_status st = pick_class(cfg, mcfg, origin, &cls);
    if (st != AKIDB_OK)
        return st;
    json_t *added = json_array(), *mlist = json_array();
    /* root takes each value at once, so that every exit frees them */
    if (json_object_set_new(root, "version", json_string("1.0")) ||
        json_object_set_new(root, "added_tokens", added) ||
        json_object_set_new(root, "model_merges_", mlist))
        return nomem(origin);
    json_t *model = json_pack("{s:s,s:n,s:n,s:s,s:s,s:b,s:b,s:b,s:O,s:O}", "type", "BPE",
                              "dropout", "unk_token", "continuing_subword_prefix", "",
                              "end_of_word_suffix", "", "fuse_unk", 0, "byte_fallback", 0,
                              "ignore_merges", 0, "vocab", vocab, "merges", mlist);
    json_object_del(root, "model_merges_");
    if (json_object_set_new(root, "model", model))
        return nomem(origin);
    if ((st = read_merges(merges, merges_len, cls, origin, mlist)) != AKIDB_OK ||
        (st = added_tokens(vocab, cfg, smap, cls, origin, added)) != AKIDB_OK)
        return st;
    return pipeline(root, cls, cfg, smap, origin);
}

akidb_status ak_bpe_files_tree(const char *vocab, size_t vocab_len, const char *merges,
                               size_t merges_len, const char *config, size_t config_len,
                               const char *smap, size_t smap_len, const char *model_config,
                               size_t model_config_len, const char *origin, json_t **tree)
{
    AK_ASSERT(vocab && merges && origin && tree);
    *tree = NULL;
    json_t *v = NULL, *cfg = NULL, *sm = NULL, *mcfg = NULL, *root = NULL;
    akidb_status st;
    if ((st = parse_opt(vocab, vocab_len, origin, "vocab.json", &v)) != AKIDB_OK ||
        (st = parse_opt(config, config_len, origin, "tokenizer_config.json", &cfg)) != AKIDB_OK ||
        (st = parse_opt(smap, smap_len, origin, "special_tokens_map.json", &sm)) != AKIDB_OK ||
        (st = parse_opt(model_config, model_config_len, origin, "config.json", &mcfg)) !=
            AKIDB_OK)
        goto out;
    if (!(root = json_object())) {
        st = nomem(origin);
        goto out;
    }
    if ((st = build_tree(v, merges, merges_len, cfg, sm, mcfg, origin, root)) == AKIDB_OK) {
        *tree = root;
        root = NULL;
    }
out:
    json_decref(v);
    json_decref(cfg);
    json_decref(sm);
    json_decref(mcfg);
    json_decref(root);
    return st;
}

akidb_status ak_tokenizer_from_vocab_merges(const char *dir, bool *found,
                                            akidb_tokenizer **out)
{
    static const char *const NAMES[5] = {"vocab.json", "merges.txt", "tokenizer_config.json",
                                         "special_tokens_map.json", "config.json"};
    char *path[5] = {0}, *data[5] = {0};
    size_t len[5] = {0};
    json_t *tree = NULL;
    *out = NULL;
    *found = false;
    akidb_status st = ak_tok_read_optional(dir, NAMES[0], &path[0], &data[0], &len[0]);
    if (st != AKIDB_OK || !data[0])
        goto out;
    *found = true;
    for (int i = 1; i < 5 && st == AKIDB_OK; i++)
        st = ak_tok_read_optional(dir, NAMES[i], &path[i], &data[i], &len[i]);
    if (st == AKIDB_OK && !data[1])
        st = ak_fail(AKIDB_ENOENT, "%s: vocab.json without merges.txt", dir);
    if (st == AKIDB_OK)
        st = ak_bpe_files_tree(data[0], len[0], data[1], len[1], data[2], len[2], data[3],
                               len[3], data[4], len[4], dir, &tree);
    if (st == AKIDB_OK)
        st = ak_tokenizer_from_tree(tree, dir, out);
out:
    json_decref(tree);
    for (int i = 0; i < 5; i++) {
        ak_free(path[i]);
        ak_free(data[i]);
    }
    return st;
}
