/*
 * test_tok_post.c - checks the tokenizer's post-processors (reduced to one
 * template, src/text/postproc.c) and decoders (src/text/dec_*.c) against
 * results of the Hugging Face tokenizers library itself, recorded by
 * tests/ref/decode_ref.mjs in tests/golden/decode_*.jsonl and
 * tests/golden/post_templates.jsonl; plus the cases Rust panics on, bad
 * input, and out-of-memory handling.
 *
 * Data come from $AKIDB_SRC/tests (AKIDB_SRC defaults to the working
 * directory, which ctest sets to the source root).
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "text/tok_parts.h"

#include <jansson.h>

extern const ak_decoder_kind ak_dec_bytelevel, ak_dec_metaspace, ak_dec_wordpiece,
    ak_dec_byte_fallback, ak_dec_fuse, ak_dec_strip, ak_dec_replace, ak_dec_bpe, ak_dec_ctc;

static const ak_decoder_kind *const KINDS[] = {
    &ak_dec_bytelevel, &ak_dec_metaspace, &ak_dec_wordpiece, &ak_dec_byte_fallback,
    &ak_dec_fuse,      &ak_dec_strip,     &ak_dec_replace,   &ak_dec_bpe,
    &ak_dec_ctc,
};

static char *src_path(const char *rel)
{
    const char *src = getenv("AKIDB_SRC");
    char *p = ak_path_join(src && *src ? src : ".", rel);
    AKT_TRUE(p != NULL);
    return p;
}

/* The lines of a JSONL golden, parsed (free with free_rows). */
typedef struct rows {
    json_t **v;
    size_t n;
} rows;

static rows read_rows(const char *rel)
{
    char *path = src_path(rel), *data = NULL;
    size_t len;
    akidb_status st = ak_read_file(path, (size_t)64 << 20, &data, &len);
    if (st != AKIDB_OK)
        fprintf(stderr, "  cannot read %s: %s\n", path, akidb_last_error());
    ak_free(path);
    AKT_OK(st);
    rows r = {0};
    r.v = malloc((len / 2 + 1) * sizeof *r.v);
    AKT_TRUE(r.v != NULL);
    for (size_t i = 0, start = 0; i < len; i++) {
        if (data[i] != '\n')
            continue;
        json_error_t err;
        json_t *j = json_loadb(data + start, i - start, JSON_ALLOW_NUL, &err);
        if (!j)
            fprintf(stderr, "  %s: bad line %zu: %s\n", rel, r.n + 1, err.text);
        AKT_TRUE(j != NULL);
        r.v[r.n++] = j;
        start = i + 1;
    }
    ak_free(data);
    AKT_TRUE(r.n > 0);
    return r;
}

static void free_rows(rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->v[i]);
    free(r->v);
}

/* ---- decoders -------------------------------------------------------------- */

typedef struct chain {
    ak_decoder *d[16];
    size_t n;
} chain;

static void chain_free(chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        c->d[i]->kind->free(c->d[i]);
    c->n = 0;
}

/* Builds the kinds of a decoder, a Sequence flattened as the loader does. */
static akidb_status chain_build(const json_t *dec, const char *origin, chain *c)
{
    const char *type = json_string_value(json_object_get(dec, "type"));
    if (type && strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *sub;
        json_array_foreach(json_object_get(dec, "decoders"), i, sub) {
            akidb_status st = chain_build(sub, origin, c);
            if (st != AKIDB_OK)
                return st;
        }
        return AKIDB_OK;
    }
    for (size_t k = 0; type && k < sizeof KINDS / sizeof KINDS[0]; k++)
        if (strcmp(KINDS[k]->type, type) == 0) {
            AKT_TRUE(c->n < 16);
            ak_tok_load ld = {.origin = origin, .path = "decoder."};
            ak_decoder *d = NULL;
            akidb_status st = KINDS[k]->from_json(dec, &ld, &d);
            if (st == AKIDB_OK)
                c->d[c->n++] = d;
            return st;
        }
    return ak_fail(AKIDB_EUNSUPPORTED, "%s: decoder type '%s' unknown here", origin,
                   type ? type : "(none)");
}

static akidb_status chain_run(const chain *c, ak_strs *toks)
{
    for (size_t i = 0; i < c->n; i++) {
        akidb_status st = c->d[i]->kind->decode(c->d[i], toks);
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

static void strs_from_json(const json_t *arr, ak_strs *out)
{
    size_t i;
    json_t *t;
    json_array_foreach(arr, i, t)
        AKT_OK(ak_strs_push(out, json_string_value(t), json_string_length(t)));
}

/* Checks one golden line; returns false (after printing it) on a mismatch. */
static bool check_decode_row(const json_t *row)
{
    const char *name = json_string_value(json_object_get(row, "name"));
    const json_t *dec = json_object_get(row, "decoder");
    chain c = {0};
    akidb_status st = chain_build(dec, name, &c);
    if (json_object_get(row, "error")) {
        chain_free(&c);
        if (st == AKIDB_EFORMAT && strstr(akidb_last_error(), name))
            return true;
        fprintf(stderr, "  %s: Rust refuses it (%s); here status %d: %s\n", name,
                json_string_value(json_object_get(row, "error")), st, akidb_last_error());
        return false;
    }
    if (st != AKIDB_OK) {
        fprintf(stderr, "  %s: cannot build: %s\n", name, akidb_last_error());
        return false;
    }
    ak_strs toks = {0};
    strs_from_json(json_object_get(row, "tokens"), &toks);
    size_t n_in = toks.n;
    st = chain_run(&c, &toks);
    chain_free(&c);
    bool ok = st == AKIDB_OK;
    if (ok && json_is_true(json_object_get(row, "panics"))) {
        ok = toks.n == n_in;   /* Rust panics; here each token is cut, never fails */
    } else if (ok) {   /* the chain, and the text it joins to (both may hold NULs) */
        const json_t *want = json_object_get(row, "chain"), *jt = json_object_get(row, "text");
        const char *text = json_string_value(jt);
        size_t text_len = json_string_length(jt), at = 0;
        ok = toks.n == json_array_size(want);
        for (size_t i = 0; ok && i < toks.n; i++) {
            const json_t *w = json_array_get(want, i);
            ok = toks.len[i] == json_string_length(w) &&
                 memcmp(toks.v[i], json_string_value(w), toks.len[i]) == 0 &&
                 toks.len[i] <= text_len - at && memcmp(text + at, toks.v[i], toks.len[i]) == 0;
            at += toks.len[i];
        }
        ok = ok && at == text_len;
    }
    if (!ok) {
        char *w = json_dumps(json_object_get(row, "chain"), JSON_COMPACT);
        fprintf(stderr, "  %s: status %d, want chain %s, got %zu:", name, st, w, toks.n);
        for (size_t i = 0; i < toks.n; i++) {
            json_t *g = json_stringn_nocheck(toks.v[i], toks.len[i]);
            char *gs = json_dumps(g, JSON_ENCODE_ANY);
            fprintf(stderr, " %s", gs ? gs : "(not UTF-8)");
            free(gs);
            json_decref(g);
        }
        fprintf(stderr, "\n");
        free(w);
    }
    ak_strs_free(&toks);
    return ok;
}

static void check_decode_golden(const char *rel)
{
    rows r = read_rows(rel);
    size_t bad = 0;
    for (size_t i = 0; i < r.n; i++)
        bad += !check_decode_row(r.v[i]);
    fprintf(stderr, "  %s: %zu lines, %zu differ\n", rel, r.n, bad);
    free_rows(&r);
    AKT_EQ_INT(bad, 0);
}

AKT_TEST(decode_bytelevel_qwen3) { check_decode_golden("tests/golden/decode_bytelevel.jsonl"); }
AKT_TEST(decode_gemma3) { check_decode_golden("tests/golden/decode_gemma.jsonl"); }
AKT_TEST(decode_every_kind) { check_decode_golden("tests/golden/decode_misc.jsonl"); }

/* Joins the entries of s into buf (cap bytes, NUL-terminated, cut to fit);
 * returns the joined length. */
static size_t join_strs(const ak_strs *s, char *buf, size_t cap)
{
    size_t at = 0;
    for (size_t i = 0; i < s->n; i++) {
        size_t k = s->len[i] < cap - 1 - at ? s->len[i] : cap - 1 - at;
        memcpy(buf + at, s->v[i], k);
        at += k;
    }
    buf[at] = 0;
    return at;
}

/* Decodes toks through a decoder given as JSON text; returns the joined
 * result in buf and its length in *len (len may be NULL). */
static akidb_status decode_text_n(const char *dec_json, const char *const *toks, size_t n,
                                  char *buf, size_t cap, size_t *len)
{
    json_t *dec = json_loads(dec_json, JSON_ALLOW_NUL, NULL);
    AKT_TRUE(dec != NULL);
    chain c = {0};
    ak_strs s = {0};
    akidb_status st = chain_build(dec, "test.json", &c);
    for (size_t i = 0; i < n && st == AKIDB_OK; i++)
        st = ak_strs_push(&s, toks[i], strlen(toks[i]));
    if (st == AKIDB_OK)
        st = chain_run(&c, &s);
    buf[0] = 0;
    size_t k = st == AKIDB_OK ? join_strs(&s, buf, cap) : 0;
    if (len)
        *len = k;
    ak_strs_free(&s);
    chain_free(&c);
    json_decref(dec);
    return st;
}

static akidb_status decode_text(const char *dec_json, const char *const *toks, size_t n,
                                char *buf, size_t cap)
{
    return decode_text_n(dec_json, toks, n, buf, cap, NULL);
}

/* A decoded U+0000 is a character like any other: it ends neither its token
 * nor the text (the goldens hold Rust's results on such tokens too). */
AKT_TEST(decoders_keep_nul)
{
    static const char *const bl[] = {"a\xC4\x80" "b", "\xC4\x80"};   /* U+0100 is byte 0 */
    static const char *const fb[] = {"<0x00>", "\xE2\x96\x81x", "<0x00>", "<0x00>"};
    char out[64];
    size_t n;
    AKT_OK(decode_text_n("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                         "\"trim_offsets\":true}", bl, 2, out, sizeof out, &n));
    AKT_EQ_INT(n, 4);
    AKT_TRUE(memcmp(out, "a\0b\0", 4) == 0);
    /* Gemma's chain plus Strip of U+0000 at both ends */
    AKT_OK(decode_text_n("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\","
                         "\"pattern\":{\"String\":\"\\u2581\"},\"content\":\" \"},"
                         "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"}]}",
                         fb, 4, out, sizeof out, &n));
    AKT_EQ_INT(n, 5);
    AKT_TRUE(memcmp(out, "\0 x\0\0", 5) == 0);
    AKT_OK(decode_text_n("{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},"
                         "{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\"\\u0000\","
                         "\"start\":1,\"stop\":1}]}",
                         fb, 4, out, sizeof out, &n));
    AKT_EQ_INT(n, 5);   /* "\xE2\x96\x81x\0": one NUL cut at each end */
    AKT_TRUE(memcmp(out, "\xE2\x96\x81x\0", 5) == 0);
}

AKT_TEST(strip_where_rust_panics)
{
    static const char *const toks[] = {"   ", "", "  x  ", " "};
    char out[64];
    AKT_OK(decode_text("{\"type\":\"Strip\",\"content\":\" \",\"start\":2,\"stop\":2}", toks, 4,
                       out, sizeof out));
    AKT_EQ_STR(out, "x");
    AKT_OK(decode_text("{\"type\":\"Strip\",\"content\":\" \",\"start\":0,\"stop\":9}", toks, 4,
                       out, sizeof out));
    AKT_EQ_STR(out, "  x");
}

AKT_TEST(decoder_bad_input)
{
    static const char *const bad[] = {
        "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":\"1\"}",
        "{\"type\":\"Metaspace\",\"replacement\":7}",
        "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"split\":\"yes\"}",
        "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"add_prefix_space\":\"no\"}",
        "{\"type\":\"CTC\",\"pad_token\":\"<pad>\",\"word_delimiter_token\":1,\"cleanup\":true}",
        "{\"type\":\"Replace\",\"pattern\":\"a\",\"content\":\"b\"}",
        "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\",\"Regex\":\"b\"},\"content\":\"b\"}",
        "{\"type\":\"BPEDecoder\",\"suffix\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *dec = json_loads(bad[i], 0, NULL);
        AKT_TRUE(dec != NULL);
        chain c = {0};
        akidb_status st = chain_build(dec, "bad.json", &c);
        if (st != AKIDB_EFORMAT)
            fprintf(stderr, "  case %zu: %s\n", i, bad[i]);
        AKT_EQ_INT(st, AKIDB_EFORMAT);
        AKT_CONTAINS(akidb_last_error(), "bad.json: decoder.");
        chain_free(&c);
        json_decref(dec);
    }
    /* a kind given something other than an object */
    json_t *arr = json_array();
    ak_tok_load ld = {.origin = "bad.json", .path = "decoder.decoders[1]."};
    ak_decoder *d = NULL;
    for (size_t k = 0; k < sizeof KINDS / sizeof KINDS[0]; k++) {
        AKT_STATUS(KINDS[k]->from_json(arr, &ld, &d), AKIDB_EFORMAT);
        AKT_CONTAINS(akidb_last_error(), "decoder.decoders[1]");
    }
    json_decref(arr);
}

AKT_TEST(decoder_out_of_memory)
{
    static const char *const toks[] = {"<0x41>", "\xe2\x96\x81hi", "<0xE2>", "<0x82>", "Ġx",
                                       "##y", "<pad>", "<pad>", "a|b", "</w>z"};
    static const char *const decs[] = {
        "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":"
        "\"\\u2581\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
        "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":1}]}",
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true}",
        "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"WordPiece\",\"prefix\":\"##\","
        "\"cleanup\":true},{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\"}]}",
        "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"CTC\",\"pad_token\":\"<pad>\","
        "\"word_delimiter_token\":\"|\",\"cleanup\":true},{\"type\":\"BPEDecoder\","
        "\"suffix\":\"</w>\"}]}",
        "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"Regex\":"
        "\"[a-z]+\"},\"content\":\"_\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\"<\"},"
        "\"content\":\"[\"}]}",
    };
    for (size_t k = 0; k < sizeof decs / sizeof decs[0]; k++) {
        char want[256], got[256];
        AKT_OK(decode_text(decs[k], toks, 10, want, sizeof want));
        json_t *dec = json_loads(decs[k], 0, NULL);
        akidb_status st = AKIDB_ENOMEM;
        long fails = 0;
        for (long n = 0; st != AKIDB_OK && n < 10000; n++) {
            chain c = {0};
            ak_strs s = {0};
            ak_alloc_fail_after(n);
            st = chain_build(dec, "oom.json", &c);
            for (size_t i = 0; i < 10 && st == AKIDB_OK; i++)
                st = ak_strs_push(&s, toks[i], strlen(toks[i]));
            if (st == AKIDB_OK)
                st = chain_run(&c, &s);
            ak_alloc_fail_after(-1);
            if (st != AKIDB_OK) {
                AKT_EQ_INT(st, AKIDB_ENOMEM);
                fails++;
            } else {
                join_strs(&s, got, sizeof got);
                AKT_EQ_STR(got, want);
            }
            ak_strs_free(&s);
            chain_free(&c);
        }
        AKT_OK(st);
        AKT_TRUE(fails > 0);
        json_decref(dec);
    }
}

/* ---- post-processors ----------------------------------------------------------- */

#define BOUND ((size_t)1 << 20)

static const int32_t SEQ_A[] = {900000, 900001, 900002}, SEQ_B[] = {900100, 900101};

/* Expands a template for the golden's sequences A and B into ids / types. */
static size_t expand(const ak_tpl_item *t, size_t n, int32_t *ids, uint32_t *types)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t *src = t[i].seq < 0 ? t[i].ids : t[i].seq == 0 ? SEQ_A : SEQ_B;
        size_t m = t[i].seq < 0 ? t[i].n_ids : t[i].seq == 0 ? 3 : 2;
        for (size_t j = 0; j < m && k < 256; j++, k++) {
            ids[k] = src[j];
            types[k] = t[i].type_id;
        }
    }
    return k;
}

static bool same_as(const json_t *want, const ak_tpl_item *t, size_t n)
{
    int32_t ids[256];
    uint32_t types[256];
    size_t k = expand(t, n, ids, types);
    const json_t *wi = json_object_get(want, "ids"), *wt = json_object_get(want, "type_ids");
    bool ok = json_array_size(wi) == k && json_array_size(wt) == k;
    for (size_t i = 0; ok && i < k; i++)
        ok = json_integer_value(json_array_get(wi, i)) == ids[i] &&
             json_integer_value(json_array_get(wt, i)) == types[i];
    if (!ok) {
        char *w = json_dumps(want, JSON_COMPACT);
        fprintf(stderr, "    want %s\n    got ", w);
        for (size_t i = 0; i < k; i++)
            fprintf(stderr, " %d:%u", ids[i], types[i]);
        fprintf(stderr, "\n");
        free(w);
    }
    return ok;
}

static bool check_post_row(const json_t *row)
{
    const char *name = json_string_value(json_object_get(row, "name"));
    ak_tok_load ld = {.origin = name, .path = "post_processor."};
    ak_template t;
    akidb_status st = ak_template_from_json(json_object_get(row, "post_processor"), &ld,
                                            BOUND, &t);
    bool ok;
    if (json_object_get(row, "error")) {
        ok = (st == AKIDB_EFORMAT || st == AKIDB_EUNSUPPORTED) &&
             strstr(akidb_last_error(), name) != NULL;
        if (!ok)
            fprintf(stderr, "  %s: Rust refuses it; here status %d\n", name, st);
        else
            fprintf(stderr, "    %s: %s\n", name, akidb_last_error());
        return ok;
    }
    if (st != AKIDB_OK) {
        fprintf(stderr, "  %s: %s\n", name, akidb_last_error());
        return false;
    }
    const json_t *as = json_object_get(row, "added_single"), *ap = json_object_get(row, "added_pair");
    ok = same_as(json_object_get(row, "single"), t.single, t.n_single) &&
         same_as(json_object_get(row, "pair"), t.pair, t.n_pair) &&
         (json_is_null(as) || (size_t)json_integer_value(as) == t.specials_single) &&
         (json_is_null(ap) || (size_t)json_integer_value(ap) == t.specials_pair);
    if (!ok)
        fprintf(stderr, "  %s differs (specials %zu / %zu)\n", name, t.specials_single,
                t.specials_pair);
    ak_template_free(&t);
    return ok;
}

AKT_TEST(post_processors_golden)
{
    rows r = read_rows("tests/golden/post_templates.jsonl");
    size_t bad = 0;
    for (size_t i = 0; i < r.n; i++)
        bad += !check_post_row(r.v[i]);
    fprintf(stderr, "  %zu post-processors, %zu differ\n", r.n, bad);
    free_rows(&r);
    AKT_EQ_INT(bad, 0);
}

/* The MiniLM tokenizer.json's own post_processor (BERT's template). */
AKT_TEST(post_minilm_file)
{
    char *path = src_path("tests/data/minilm/tokenizer.json");
    json_t *root = json_load_file(path, 0, NULL);
    ak_free(path);
    AKT_TRUE(root != NULL);
    ak_tok_load ld = {.origin = "minilm/tokenizer.json", .path = "post_processor."};
    ak_template t;
    AKT_OK(ak_template_from_json(json_object_get(root, "post_processor"), &ld, 30522, &t));
    AKT_EQ_INT(t.n_single, 3);
    AKT_EQ_INT(t.single[0].seq, -1);
    AKT_EQ_INT(t.single[0].n_ids, 1);
    AKT_EQ_INT(t.single[0].ids[0], 101);
    AKT_EQ_INT(t.single[1].seq, 0);
    AKT_EQ_INT(t.single[2].ids[0], 102);
    AKT_EQ_INT(t.n_pair, 5);
    AKT_EQ_INT(t.pair[3].seq, 1);
    AKT_EQ_INT(t.pair[3].type_id, 1);
    AKT_EQ_INT(t.pair[4].type_id, 1);
    AKT_EQ_INT(t.specials_single, 2);
    AKT_EQ_INT(t.specials_pair, 3);
    ak_template_free(&t);
    /* the ids are checked against the vocabulary size */
    AKT_STATUS(ak_template_from_json(json_object_get(root, "post_processor"), &ld, 102, &t),
               AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "minilm/tokenizer.json: post_processor.special_tokens");
    AKT_CONTAINS(akidb_last_error(), "102");
    json_decref(root);
}

static akidb_status template_of(const char *pp_json, ak_template *t)
{
    json_t *pp = json_loads(pp_json, 0, NULL);
    AKT_TRUE(pp != NULL);
    ak_tok_load ld = {.origin = "x.json", .path = "post_processor."};
    akidb_status st = ak_template_from_json(pp, &ld, 1000, t);
    json_decref(pp);
    return st;
}

AKT_TEST(post_null_is_identity)
{
    ak_template t;
    ak_tok_load ld = {.origin = "x.json", .path = "post_processor."};
    AKT_OK(ak_template_from_json(NULL, &ld, 10, &t));
    AKT_EQ_INT(t.n_single, 1);
    AKT_EQ_INT(t.single[0].seq, 0);
    AKT_EQ_INT(t.n_pair, 2);
    AKT_EQ_INT(t.pair[1].seq, 1);
    AKT_EQ_INT(t.pair[1].type_id, 1);
    AKT_EQ_INT(t.specials_single + t.specials_pair, 0);
    ak_template_free(&t);
    json_t *null = json_null();
    AKT_OK(ak_template_from_json(null, &ld, 10, &t));
    AKT_EQ_INT(t.n_single, 1);
    ak_template_free(&t);
    json_decref(null);
}

#define TPL(single, pair, specials)                                                    \
    "{\"type\":\"TemplateProcessing\",\"single\":[" single "],\"pair\":[" pair       \
    "],\"special_tokens\":{" specials "}}"
#define SA "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}"
#define SB "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}"
#define ST(name) "{\"SpecialToken\":{\"id\":\"" name "\",\"type_id\":0}}"
#define DEF(name, ids) "\"" name "\":{\"id\":\"" name "\",\"ids\":[" ids "],\"tokens\":[]}"

/* What Rust accepts when loading but panics on while encoding, and bad
 * values; each message names the file and the field. */
AKT_TEST(post_bad_input)
{
    static const struct {
        const char *json;
        akidb_status st;
        const char *msg;
    } cases[] = {
        {TPL(ST("[CLS]") "," SA, SA "," SB, DEF("[SEP]", "1")), AKIDB_EFORMAT,
         "post_processor.single[0].SpecialToken.id: special token '[CLS]' is not in"},
        {TPL(SA, SA "," SB "," ST("<x>"), ""), AKIDB_EFORMAT, "'<x>' is not in special_tokens"},
        {TPL(SA "," SB, SA "," SB, ""), AKIDB_EFORMAT, "single[1].Sequence: the single template"},
        {TPL(SA, SA "," SB, DEF("X", "1000")), AKIDB_EFORMAT,
         "special_tokens[\"X\"].ids: id 1000 is out of range [0, 1000)"},
        {"{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",5000],\"cls\":[\"[CLS]\",1]}",
         AKIDB_EFORMAT, "post_processor.sep: id 5000 is out of range"},
        {"{\"type\":\"Nope\"}", AKIDB_EUNSUPPORTED,
         "post_processor.type: post-processor 'Nope' is not supported (supported: "
         "TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence)"},
        {"{\"single\":[]}", AKIDB_EFORMAT, "post_processor.type: missing"},
        {"[1]", AKIDB_EFORMAT, "post_processor: expected an object"},
        {"{\"type\":\"Sequence\",\"processors\":[{\"type\":\"Bad\"}]}", AKIDB_EUNSUPPORTED,
         "post_processor.processors[0].type: post-processor 'Bad'"},
        {"{\"type\":\"Sequence\",\"processors\":[" TPL(ST("X") "," SA "," ST("X"), SA "," SB,
                                                       DEF("X", "1"))
         "," TPL(SA, SA "," SB, "") "]}",
         AKIDB_EUNSUPPORTED, "left 3 encodings"},
        {TPL("\"$A:0\"", SA "," SB, ""), AKIDB_EFORMAT,
         "single[0]: expected an object {\"Sequence\": ...} or {\"SpecialToken\": ...}"},
        {TPL(SA, SA "," SB "," "{}", ""), AKIDB_EFORMAT,
         "pair[2]: expected one key, \"Sequence\" or \"SpecialToken\", found 0 keys"},
        {TPL(SA, SA "," SB, "\"X\":{\"id\":\"X\",\"ids\":[1]}"), AKIDB_EFORMAT,
         "special_tokens[\"X\"]: expected a \"tokens\" array"},
        {"{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\"],"
         "\"trim_offsets\":true,\"add_prefix_space\":true}",
         AKIDB_EFORMAT, "post_processor.cls: expected a [token, id] pair"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ak_template t;
        akidb_status st = template_of(cases[i].json, &t);
        if (st != cases[i].st || !strstr(akidb_last_error(), cases[i].msg))
            fprintf(stderr, "  case %zu: status %d: %s\n", i, st, akidb_last_error());
        AKT_EQ_INT(st, cases[i].st);
        AKT_CONTAINS(akidb_last_error(), "x.json: ");
        AKT_CONTAINS(akidb_last_error(), cases[i].msg);
        AKT_EQ_INT(t.n_single + t.n_pair, 0);
    }
    /* nested Sequences past the depth limit */
    char deep[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "{\"type\":\"Sequence\",\"processors\":[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]}");
    ak_template t;
    AKT_STATUS(template_of(deep, &t), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "nested deeper than");
    /* as deep as allowed, with a processor at the bottom */
    deep[0] = 0;
    for (int i = 0; i < 32; i++)
        strcat(deep, "{\"type\":\"Sequence\",\"processors\":[");
    strcat(deep, "{\"type\":\"BertProcessing\",\"sep\":[\"s\",2],\"cls\":[\"c\",1]}");
    for (int i = 0; i < 32; i++)
        strcat(deep, "]}");
    AKT_OK(template_of(deep, &t));
    AKT_EQ_INT(t.n_single, 3);
    AKT_EQ_INT(t.specials_pair, 3);
    ak_template_free(&t);
}

AKT_TEST(post_out_of_memory)
{
    const char *pp =
        "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"RobertaProcessing\",\"sep\":[\"s\","
        "2],\"cls\":[\"c\",0],\"trim_offsets\":true,\"add_prefix_space\":true}," TPL(
            ST("X") "," SA, SB "," ST("X") "," SA, DEF("X", "5,6")) "]}";
    ak_template want, t;
    AKT_OK(template_of(pp, &want));
    json_t *j = json_loads(pp, 0, NULL);
    ak_tok_load ld = {.origin = "x.json", .path = "post_processor."};
    akidb_status st = AKIDB_ENOMEM;
    long fails = 0;
    for (long n = 0; st != AKIDB_OK && n < 10000; n++) {
        ak_alloc_fail_after(n);
        st = ak_template_from_json(j, &ld, 1000, &t);
        ak_alloc_fail_after(-1);
        if (st != AKIDB_OK) {
            AKT_EQ_INT(st, AKIDB_ENOMEM);
            fails++;
        }
    }
    AKT_OK(st);
    AKT_TRUE(fails > 0);
    AKT_EQ_INT(t.n_pair, want.n_pair);
    AKT_EQ_INT(t.specials_pair, want.specials_pair);
    ak_template_free(&t);
    ak_template_free(&want);
    json_decref(j);
}

AKT_MAIN(AKT_REG(decode_bytelevel_qwen3), AKT_REG(decode_gemma3), AKT_REG(decode_every_kind),
         AKT_REG(strip_where_rust_panics), AKT_REG(decoders_keep_nul),
         AKT_REG(decoder_bad_input), AKT_REG(decoder_out_of_memory), AKT_REG(post_processors_golden),
         AKT_REG(post_minilm_file), AKT_REG(post_null_is_identity), AKT_REG(post_bad_input),
         AKT_REG(post_out_of_memory))
