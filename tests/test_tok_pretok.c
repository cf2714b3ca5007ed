/*
 * test_tok_pretok.c - checks the pre-tokenizers (Split, ByteLevel,
 * Metaspace, Whitespace, WhitespaceSplit, Punctuation, Digits,
 * UnicodeScripts, CharDelimiterSplit), the Replace normalizer and the regex
 * layer under them against goldens made by the Rust Hugging Face tokenizers
 * library (tests/ref/pretok_ref.mjs over the configurations of
 * tests/data/pretok_configs.json), plus hand-checked cases of every
 * behavior, malformed fields, 1 MB inputs, concurrent matching and
 * out-of-memory handling.
 *
 * Sequence is composed here (each part applied to every split of the one
 * before), the way the Rust library's Sequence runs its parts.  Data come
 * from $AKIDB_SRC/tests (AKIDB_SRC defaults to the working directory, which
 * ctest sets to the source root).
 */
#include "akt.h"
#include "akt_data.h"
#include "akidb.h"
#include "common/common.h"
#include "text/regex.h"
#include "text/tok_parts.h"

#include <jansson.h>
#include <pthread.h>

extern const ak_pretok_kind ak_pretok_split, ak_pretok_bytelevel, ak_pretok_metaspace,
    ak_pretok_whitespace, ak_pretok_whitespace_split, ak_pretok_punctuation,
    ak_pretok_digits, ak_pretok_unicode_scripts, ak_pretok_char_delimiter_split;
extern const ak_norm_kind ak_norm_replace;

static const ak_pretok_kind *const kinds[] = {
    &ak_pretok_split, &ak_pretok_bytelevel, &ak_pretok_metaspace,
    &ak_pretok_whitespace, &ak_pretok_whitespace_split, &ak_pretok_punctuation,
    &ak_pretok_digits, &ak_pretok_unicode_scripts, &ak_pretok_char_delimiter_split,
};

/* ---- helpers ------------------------------------------------------------- */

static char *src_path(const char *rel)
{
    const char *src = getenv("AKIDB_SRC");
    char *p = ak_path_join(src && *src ? src : ".", rel);
    AKT_TRUE(p != NULL);
    return p;
}

static json_t *load_json(const char *rel)
{
    char *path = src_path(rel);
    json_error_t err;
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, &err);
    if (!j)
        fprintf(stderr, "  %s:%d: %s\n", path, err.line, err.text);
    free(path);
    AKT_TRUE(j != NULL);
    return j;
}

/* The JSON values of a file, one per line; blank lines and # comments are
 * skipped.  strings: each must be a string (a corpus). */
static void read_lines(const char *rel, json_t *into, bool strings)
{
    size_t n;
    char *data = akt_data_read(rel, &n);
    AKT_TRUE(data != NULL);
    for (char *line = data, *end; line < data + n; line = end + 1) {
        end = memchr(line, '\n', (size_t)(data + n - line));
        if (!end)
            end = data + n;
        if (end == line || line[0] == '#')
            continue;
        json_error_t err;
        json_t *s = json_loadb(line, (size_t)(end - line), JSON_DECODE_ANY | JSON_ALLOW_NUL,
                               &err);
        AKT_TRUE(s && (!strings || json_is_string(s)));
        json_array_append_new(into, s);
    }
    ak_free(data);
}

static void read_corpus(const char *rel, json_t *into)
{
    read_lines(rel, into, true);
}

typedef struct cps {
    uint32_t *v;
    size_t n;
} cps;

static cps to_cps(const char *s, size_t len)
{
    size_t bad;
    AKT_TRUE(ak_utf8_valid(s, len, &bad));
    cps c = {malloc((len + 1) * sizeof(uint32_t)), 0};
    for (size_t i = 0; i < len;)
        i += (size_t)ak_utf8_decode((const unsigned char *)s + i, &c.v[c.n++]);
    return c;
}

static char *to_utf8(const uint32_t *v, size_t n, size_t *len)
{
    char *s = malloc(4 * n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)ak_utf8_encode(v[i], s + k);
    s[k] = 0;
    *len = k;
    return s;
}

/* A pre-tokenizer as a list of parts (a Sequence is flattened). */
#define MAX_PARTS 8
typedef struct chain {
    ak_pretok *p[MAX_PARTS];
    int n;
} chain;

static const ak_pretok_kind *find_kind(const char *type)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i]->type, type) == 0)
            return kinds[i];
    return NULL;
}

static akidb_status chain_load(const json_t *j, chain *out)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    AKT_TRUE(type != NULL);
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(j, "pretokenizers"), i, e) {
            akidb_status st = chain_load(e, out);
            if (st != AKIDB_OK)
                return st;
        }
        return AKIDB_OK;
    }
    const ak_pretok_kind *k = find_kind(type);
    AKT_TRUE(k != NULL);
    AKT_TRUE(out->n < MAX_PARTS);
    ak_tok_load ld = {.origin = "test.json", .path = "pre_tokenizer."};
    akidb_status st = k->from_json(j, &ld, &out->p[out->n]);
    if (st == AKIDB_OK)
        out->n++;
    return st;
}

static void chain_free(chain *p)
{
    for (int i = 0; i < p->n; i++)
        p->p[i]->kind->free(p->p[i]);
    p->n = 0;
}

/* Runs every part over every split; the result is in *res. */
static akidb_status chain_run(const chain *p, const uint32_t *s, size_t n, ak_tok_scratch *scr,
                             ak_splits *res)
{
    ak_splits a = {0}, b = {0};
    akidb_status st = AKIDB_OK;
    if (n > 0)
        st = ak_splits_push(&a, s, n, true);
    for (int k = 0; k < p->n && st == AKIDB_OK; k++) {
        ak_splits_clear(&b);
        for (size_t i = 0; i < a.n && st == AKIDB_OK; i++)
            if (a.v[i].len > 0)
                st = p->p[k]->kind->split(p->p[k], a.text.v + a.v[i].off, a.v[i].len,
                                          a.v[i].at0, scr, &b);
        ak_splits t = a;
        a = b;
        b = t;
    }
    ak_splits_free(&b);
    *res = a;
    return st;
}

/* The splits of text under the pre-tokenizer j, as a JSON array. */
static json_t *pretok_json(const json_t *j, const char *text, size_t len)
{
    chain p = {0};
    AKT_OK(chain_load(j, &p));
    cps c = to_cps(text, len);
    ak_tok_scratch scr = {0};
    ak_splits res;
    AKT_OK(chain_run(&p, c.v, c.n, &scr, &res));
    json_t *arr = json_array();
    for (size_t i = 0; i < res.n; i++) {
        if (res.v[i].len == 0)
            continue;
        size_t ul;
        char *u = to_utf8(res.text.v + res.v[i].off, res.v[i].len, &ul);
        json_array_append_new(arr, json_stringn(u, ul));
        free(u);
    }
    ak_splits_free(&res);
    ak_tok_scratch_free(&scr);
    free(c.v);
    chain_free(&p);
    return arr;
}

static json_t *parse(const char *s)
{
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    if (!j)
        fprintf(stderr, "  bad test JSON: %s\n", err.text);
    AKT_TRUE(j != NULL);
    return j;
}

/* Pre-tokenizes text with the JSON config and compares with the expected
 * JSON array. */
static void check(const char *cfg, const char *text, const char *want)
{
    json_t *j = parse(cfg), *w = parse(want);
    json_t *got = pretok_json(j, text, strlen(text));
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY);
        fprintf(stderr, "  %s on \"%s\":\n    got  %s\n    want %s\n", cfg, text, g, want);
        free(g);
    }
    AKT_TRUE(json_equal(got, w));
    json_decref(got);
    json_decref(w);
    json_decref(j);
}

static akidb_status load_norm(const char *cfg, ak_normalizer **out)
{
    json_t *j = parse(cfg);
    ak_tok_load ld = {.origin = "test.json", .path = "normalizer."};
    akidb_status st = ak_norm_replace.from_json(j, &ld, out);
    json_decref(j);
    return st;
}

static char *normalize(const ak_normalizer *nz, const char *text, size_t len, size_t *olen)
{
    cps c = to_cps(text, len);
    ak_cpbuf out = {0};
    ak_tok_scratch scr = {0};
    AKT_OK(nz->kind->apply(nz, c.v, c.n, &scr, &out));
    char *s = to_utf8(out.v, out.n, olen);
    ak_cpbuf_free(&out);
    ak_tok_scratch_free(&scr);
    free(c.v);
    return s;
}

static void check_norm(const char *cfg, const char *text, const char *want)
{
    ak_normalizer *nz = NULL;
    AKT_OK(load_norm(cfg, &nz));
    size_t len;
    char *got = normalize(nz, text, strlen(text), &len);
    AKT_EQ_STR(got, want);
    free(got);
    nz->kind->free(nz);
}

/* Loading cfg fails with status want and a message holding every needle. */
static void check_bad(const char *cfg, akidb_status want, const char *n1, const char *n2)
{
    json_t *j = parse(cfg);
    chain p = {0};
    akidb_status st = chain_load(j, &p);
    chain_free(&p);
    json_decref(j);
    AKT_STATUS(st, want);
    AKT_CONTAINS(akidb_last_error(), n1);
    if (n2)
        AKT_CONTAINS(akidb_last_error(), n2);
}

/* ---- every behavior, by hand (the Rust library's documented examples) ---- */

AKT_TEST(split_behaviors)
{
    const char *t = "the-final--countdown";
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Removed\","
          "\"invert\":false}", t, "[\"the\",\"final\",\"countdown\"]");
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Isolated\","
          "\"invert\":false}", t, "[\"the\",\"-\",\"final\",\"-\",\"-\",\"countdown\"]");
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":"
          "\"MergedWithPrevious\",\"invert\":false}", t,
          "[\"the-\",\"final-\",\"-\",\"countdown\"]");
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":"
          "\"MergedWithNext\",\"invert\":false}", t, "[\"the\",\"-final\",\"-\",\"-countdown\"]");
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"Contiguous\","
          "\"invert\":false}", t, "[\"the\",\"-\",\"final\",\"--\",\"countdown\"]");
    /* invert: the words match, the gaps are the delimiters */
    check("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},\"behavior\":\"Removed\","
          "\"invert\":true}", "Hey, man!", "[\"Hey\",\"man\"]");
    check("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},\"behavior\":"
          "\"MergedWithPrevious\",\"invert\":true}", "Hey, man!", "[\"Hey, \",\"man!\"]");
    /* a String pattern is literal; an empty one matches between characters */
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\".*\"},\"behavior\":\"Isolated\","
          "\"invert\":false}", "a.*b", "[\"a\",\".*\",\"b\"]");
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\"\"},\"behavior\":\"Removed\","
          "\"invert\":true}", "ab", "[]");
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\"\"},\"behavior\":\"Isolated\","
          "\"invert\":false}", "ab", "[\"a\",\"b\"]");
    /* onig's empty-match rule: "b*" on "abb a" matches "", "bb", "", "" */
    check("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"b*\"},\"behavior\":\"Contiguous\","
          "\"invert\":false}", "abb a", "[\"a\",\"bb\",\" \",\"a\"]");
    /* Gemma 3 */
    check("{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":"
          "\"MergedWithPrevious\",\"invert\":false}", "Hello  big world ",
          "[\"Hello \",\" \",\"big \",\"world \"]");
}

AKT_TEST(split_real_patterns)
{
    static const char qwen[] =
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|"
        "[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|"
        "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false}";
    check(qwen, "Hello   world's 123 \xc2\xa0x\r\n\ty",
          "[\"Hello\",\"  \",\" world\",\"'s\",\" \",\"1\",\"2\",\"3\",\" \",\"\xc2\xa0x\",\"\\r\\n\","
          "\"\\ty\"]");
    check(qwen, "I'M DON'T 'ſ", "[\"I\",\"'M\",\" DON\",\"'T\",\" '\",\"ſ\"]");
    static const char llama3[] =
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|"
        "[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|"
        "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false}";
    check(llama3, "1234567 ab", "[\"123\",\"456\",\"7\",\" ab\"]");
}

AKT_TEST(bytelevel)
{
    static const char gpt2[] = "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                               "\"trim_offsets\":true}";
    check(gpt2, "Hello my friend, how is your day going?",
          "[\"\xc4\xa0Hello\",\"\xc4\xa0my\",\"\xc4\xa0" "friend\",\",\",\"\xc4\xa0how\","
          "\"\xc4\xa0is\",\"\xc4\xa0your\",\"\xc4\xa0" "day\",\"\xc4\xa0going\",\"?\"]");
    /* a split already starting with a space gets none; bytes are mapped */
    check(gpt2, " caf\xc3\xa9\n", "[\"\xc4\xa0" "caf\xc3\x83\xc2\xa9\",\"\xc4\x8a\"]");
    check("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,"
          "\"use_regex\":false}", "a b\xe2\x82\xac",
          "[\"a\xc4\xa0" "b\xc3\xa2\xc4\xa4\xc2\xac\"]");
    /* every byte: the 68 non-printable ones take U+0100..U+0143 in order */
    check("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":false,"
          "\"use_regex\":false}", "\x01\x7f\xc2\xad",
          "[\"\xc4\x81\xc4\xa1\xc3\x82\xc5\x83\"]");
}

AKT_TEST(metaspace)
{
    static const char ms[] = "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\"}";
    check(ms, "Hey   friend!", "[\"\xe2\x96\x81Hey\",\"\xe2\x96\x81\",\"\xe2\x96\x81\","
                              "\"\xe2\x96\x81" "friend!\"]");
    check(ms, "\xe2\x96\x81" "a", "[\"\xe2\x96\x81" "a\"]");
    check("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"never\"}",
          "a b ", "[\"a\",\"_b\",\"_\"]");
    check("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"split\":false}", "a b",
          "[\"_a_b\"]");
    /* "first": only the split that starts the original text */
    check("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
          "{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"first\"}]}",
          "Hey friend", "[\"_Hey\",\"friend\"]");
    check("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
          "{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"first\"}]}",
          " Hey friend", "[\"Hey\",\"friend\"]");
    check("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":true,"
          "\"prepend_scheme\":\"never\"}", "a", "[\"a\"]");
}

AKT_TEST(small_kinds)
{
    check("{\"type\":\"Whitespace\"}", "Hey man!  How are you?!", 
          "[\"Hey\",\"man\",\"!\",\"How\",\"are\",\"you\",\"?!\"]");
    check("{\"type\":\"Whitespace\"}", "caf\xc3\xa9 e\xcc\x81t\xc3\xa9_x \xc2\xb2",
          "[\"caf\xc3\xa9\",\"e\xcc\x81t\xc3\xa9_x\",\"\xc2\xb2\"]");
    check("{\"type\":\"WhitespaceSplit\"}", "Hey man!\xe3\x80\x80x\xc2\x85y",
          "[\"Hey\",\"man!\",\"x\",\"y\"]");
    check("{\"type\":\"Punctuation\"}", "Hey friend!     How are you?!?",
          "[\"Hey friend\",\"!\",\"     How are you\",\"?\",\"!\",\"?\"]");
    check("{\"type\":\"Punctuation\",\"behavior\":\"Contiguous\"}", "a?!b\xe2\x80\x94",
          "[\"a\",\"?!\",\"b\",\"\xe2\x80\x94\"]");
    check("{\"type\":\"Digits\",\"individual_digits\":false}", "Hey 123 friend!",
          "[\"Hey \",\"123\",\" friend!\"]");
    check("{\"type\":\"Digits\",\"individual_digits\":true}", "Hey 123 \xc2\xbd",
          "[\"Hey \",\"1\",\"2\",\"3\",\" \",\"\xc2\xbd\"]");
    check("{\"type\":\"UnicodeScripts\"}", "\xe3\x81\xa9\xe3\x81\x93\xe3\x81\xa7\xe7\x94\x9f"
          "\xe3\x82\x8c\xe3\x80\x82Yes", "[\"\xe3\x81\xa9\xe3\x81\x93\xe3\x81\xa7\xe7\x94\x9f"
          "\xe3\x82\x8c\",\"\xe3\x80\x82\",\"Yes\"]");
    check("{\"type\":\"UnicodeScripts\"}", "Apples are \xe3\x82\x8a\xe3\x82\x93\xe3\x81\x94 "
          "\xe6\x9e\x97\xe6\xaa\x8e", "[\"Apples are \",\"\xe3\x82\x8a\xe3\x82\x93\xe3\x81\x94 "
          "\xe6\x9e\x97\xe6\xaa\x8e\"]");
    /* Rust drops what precedes the first character of a script */
    check("{\"type\":\"UnicodeScripts\"}", "  ab", "[\"ab\"]");
    check("{\"type\":\"UnicodeScripts\"}", "   ", "[]");
    check("{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"-\"}", "-a--b-",
          "[\"a\",\"b\"]");
}

AKT_TEST(replace_normalizer)
{
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"String\":\"''\"},\"content\":\"\\\"\"}",
               "This is a ''test''", "This is a \"test\"");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":"
               "\"\xe2\x96\x81\"}", " a b ", "\xe2\x96\x81" "a\xe2\x96\x81" "b\xe2\x96\x81");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\" \"}",
               "a \t\n b", "a b");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"b*\"},\"content\":\"_\"}",
               "a b", "_a_ _");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"String\":\"\"},\"content\":\"_\"}",
               "ab", "_a_b_");
    check_norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"x\"},\"content\":\"\"}",
               "axbx", "ab");
    AKT_FALSE(ak_norm_replace.per_char);
}

/* ---- the regex layer: Oniguruma's meanings where PCRE2's differ --------- */

static void check_re(const char *pat, const char *text, const char *want)
{
    json_t *cfg = json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex",
                            pat, "behavior", "Isolated", "invert", 0);
    char *s = json_dumps(cfg, 0);
    check(s, text, want);
    free(s);
    json_decref(cfg);
}

AKT_TEST(regex_dialect)
{
    check_re("\\s+", "a\xc2\x85" "b\xe1\xa0\x8e" "c", "[\"a\",\"\xc2\x85\",\"b\xe1\xa0\x8e" "c\"]");
    check_re("[^\\S]+", "a\xe1\xa0\x8e b", "[\"a\xe1\xa0\x8e\",\" \",\"b\"]");
    check_re("\\w+", "\xc2\xb2x e\xcc\x81 a\xe2\x80\xbf" "b",
             "[\"\xc2\xb2x\",\" \",\"e\xcc\x81\",\" \",\"a\xe2\x80\xbf" "b\"]");
    check_re("[\\w]+", "\xc2\xb2x", "[\"\xc2\xb2\",\"x\"]");
    check_re("\\bx", "\xc2\xb2x x", "[\"\xc2\xb2x \",\"x\"]");
    check_re("\\h+", "xaFg09", "[\"x\",\"aF\",\"g\",\"09\"]");
    check_re("\\u0041", "zAz", "[\"z\",\"A\",\"z\"]");
    check_re("a{,2}", "aaaa", "[\"aa\",\"aa\"]");
    check_re("(?m).+", "ab\ncd", "[\"ab\\ncd\"]");
    check_re("^a|b$", "a\nab\nb", "[\"a\",\"\\n\",\"a\",\"b\",\"\\n\",\"b\"]");
    check_re("\\p{Han}+", "\xe3\x80\x81\xe6\x9c\xac", "[\"\xe3\x80\x81\",\"\xe6\x9c\xac\"]");
    check_re("[[:space:]]+", "a \xe1\xa0\x8e", "[\"a\",\" \",\"\xe1\xa0\x8e\"]");
}

/* Rust's find_matches: pieces cover the subject, empty matches included. */
AKT_TEST(regex_pieces)
{
    ak_regex *re = NULL;
    AKT_OK(ak_regex_compile("b*", 2, false, "o", "f", &re));
    cps c = to_cps("abb a", 5);
    ak_tok_scratch scr = {0};
    const ak_piece *p;
    size_t np;
    AKT_OK(ak_regex_pieces(re, c.v, c.n, false, &scr, 0, &p, &np));
    /* "" at 0, "a", "bb", " ", "" at 4, "a", "" at 5 */
    static const size_t want[][3] = {{0, 0, 1}, {0, 1, 0}, {1, 3, 1}, {3, 4, 0},
                                     {4, 4, 1}, {4, 5, 0}, {5, 5, 1}};
    AKT_EQ_INT(np, 7);
    for (size_t i = 0; i < np; i++) {
        AKT_EQ_INT(p[i].s, want[i][0]);
        AKT_EQ_INT(p[i].e, want[i][1]);
        AKT_EQ_INT(p[i].match, want[i][2]);
    }
    AKT_OK(ak_regex_pieces(re, c.v, c.n, true, &scr, 0, &p, &np));
    AKT_EQ_INT(np, 7);
    AKT_FALSE(p[0].match);
    AKT_TRUE(p[1].match);
    AKT_OK(ak_regex_pieces(re, c.v, 0, false, &scr, 0, &p, &np));
    AKT_EQ_INT(np, 1);
    AKT_EQ_INT(p[0].e, 0);
    AKT_FALSE(p[0].match);
    ak_tok_scratch_free(&scr);
    free(c.v);
    ak_regex_free(re);
}

/* ---- malformed configurations -------------------------------------------- */

AKT_TEST(bad_fields)
{
    check_bad("{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"isolated\","
              "\"invert\":false}", AKIDB_EFORMAT, "pre_tokenizer.behavior", "\"isolated\"");
    check_bad("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(ab\"},\"behavior\":\"Isolated\","
              "\"invert\":false}", AKIDB_EFORMAT, "pre_tokenizer.pattern.Regex",
              "missing closing parenthesis");
    check_bad("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{Nope}\"},\"behavior\":"
              "\"Isolated\",\"invert\":false}", AKIDB_EFORMAT, "test.json", "unknown property");
    check_bad("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[a-z&&[^x]]\"},\"behavior\":"
              "\"Isolated\",\"invert\":false}", AKIDB_EUNSUPPORTED, "pattern.Regex", "&&");
    check_bad("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[[:alpha:]]\"},\"behavior\":"
              "\"Isolated\",\"invert\":false}", AKIDB_EUNSUPPORTED, "POSIX", NULL);
    check_bad("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[\\\\W]\"},\"behavior\":"
              "\"Isolated\",\"invert\":false}", AKIDB_EUNSUPPORTED, "\\W", NULL);
    check_bad("{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Isolated\"}",
              AKIDB_EFORMAT, "pre_tokenizer.invert", "missing");
    check_bad("{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"invert\":false}",
              AKIDB_EFORMAT, "pre_tokenizer.behavior", "missing");
    check_bad("{\"type\":\"Split\",\"pattern\":\" \",\"behavior\":\"Isolated\","
              "\"invert\":false}", AKIDB_EFORMAT, "pre_tokenizer.pattern", NULL);
    check_bad("{\"type\":\"Split\",\"pattern\":{\"Foo\":\" \"},\"behavior\":\"Isolated\","
              "\"invert\":false}", AKIDB_EFORMAT, "pre_tokenizer.pattern", NULL);
    check_bad("{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Isolated\","
              "\"invert\":\"no\"}", AKIDB_EFORMAT, "pre_tokenizer.invert", "boolean");
    check_bad("{\"type\":\"ByteLevel\",\"add_prefix_space\":true}", AKIDB_EFORMAT,
              "pre_tokenizer.trim_offsets", "missing");
    check_bad("{\"type\":\"ByteLevel\",\"add_prefix_space\":1,\"trim_offsets\":true}",
              AKIDB_EFORMAT, "pre_tokenizer.add_prefix_space", NULL);
    check_bad("{\"type\":\"Metaspace\"}", AKIDB_EFORMAT, "pre_tokenizer.replacement",
              "missing");
    check_bad("{\"type\":\"Metaspace\",\"replacement\":\"ab\"}", AKIDB_EFORMAT,
              "pre_tokenizer.replacement", "single character");
    check_bad("{\"type\":\"Metaspace\",\"replacement\":\"\"}", AKIDB_EFORMAT,
              "pre_tokenizer.replacement", NULL);
    check_bad("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"First\"}",
              AKIDB_EFORMAT, "pre_tokenizer.prepend_scheme", "\"First\"");
    check_bad("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false}",
              AKIDB_EFORMAT, "add_prefix_space", NULL);
    check_bad("{\"type\":\"Punctuation\",\"behavior\":\"Bad\"}", AKIDB_EFORMAT,
              "pre_tokenizer.behavior", "\"Bad\"");
    check_bad("{\"type\":\"Digits\"}", AKIDB_EFORMAT, "pre_tokenizer.individual_digits",
              "missing");
    check_bad("{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"ab\"}", AKIDB_EFORMAT,
              "pre_tokenizer.delimiter", NULL);
    check_bad("{\"type\":\"CharDelimiterSplit\"}", AKIDB_EFORMAT, "pre_tokenizer.delimiter",
              "missing");

    ak_normalizer *nz = NULL;
    AKT_STATUS(load_norm("{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"}}", &nz),
               AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "normalizer.content");
    AKT_STATUS(load_norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a)\"},"
                         "\"content\":\"\"}", &nz), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "normalizer.pattern.Regex");
    AKT_CONTAINS(akidb_last_error(), "unmatched closing parenthesis");
}

AKT_TEST(regex_api_errors)
{
    ak_regex *re = NULL;
    AKT_STATUS(ak_regex_compile("\xff", 1, false, "o", "f", &re), AKIDB_EUTF8);
    AKT_TRUE(re == NULL);
    AKT_OK(ak_regex_compile("a", 1, false, "o", "f", &re));
    AKT_EQ_STR(ak_regex_source(re), "a");
    ak_splits out = {0};
    uint32_t bad[] = {'a', 0xD800, 'a'};
    AKT_STATUS(ak_regex_split(re, bad, 3, false, AK_SPLIT_ISOLATED, true, &out),
               AKIDB_EINVAL);
    uint32_t big[] = {0x110000};
    AKT_STATUS(ak_regex_split(re, big, 1, false, AK_SPLIT_ISOLATED, true, &out),
               AKIDB_EINVAL);
    ak_splits_free(&out);
    ak_regex_free(re);
    ak_regex_free(NULL);
}

/* ---- goldens from the Rust library ---------------------------------------- */

static int compare_golden(const char *name, const json_t *part, bool is_norm,
                          const json_t *texts)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/golden/pretok_%s.jsonl", name);
    json_t *want = json_array();
    read_lines(rel, want, false);
    AKT_EQ_INT(json_array_size(want), json_array_size(texts));
    int bad = 0;
    ak_normalizer *nz = NULL;
    if (is_norm) {
        ak_tok_load ld = {.origin = "test.json", .path = "normalizer."};
        AKT_OK(ak_norm_replace.from_json(part, &ld, &nz));
    }
    for (size_t i = 0; i < json_array_size(texts); i++) {
        const json_t *t = json_array_get(texts, i), *w = json_array_get(want, i);
        json_t *got;
        if (is_norm) {
            size_t len;
            char *s = normalize(nz, json_string_value(t), json_string_length(t), &len);
            got = json_stringn(s, len);
            free(s);
        } else {
            got = pretok_json(part, json_string_value(t), json_string_length(t));
        }
        if (!json_equal(got, w)) {
            if (bad++ < 3) {
                char *g = json_dumps(got, JSON_ENCODE_ANY), *e = json_dumps(w, JSON_ENCODE_ANY);
                fprintf(stderr, "  %s text %zu:\n    got  %s\n    want %s\n", name, i, g, e);
                free(g);
                free(e);
            }
        }
        json_decref(got);
    }
    if (nz)
        nz->kind->free(nz);
    json_decref(want);
    if (bad)
        fprintf(stderr, "  %s: %d of %zu texts differ\n", name, bad, json_array_size(texts));
    return bad;
}

static void golden_section(const json_t *cfg, const char *section, bool is_norm,
                           const json_t *texts)
{
    const char *name;
    json_t *part;
    int bad = 0, n = 0;
    json_object_foreach(json_object_get(cfg, section), name, part) {
        bad += compare_golden(name, part, is_norm, texts) != 0;
        n++;
    }
    fprintf(stderr, "  %s: %d configurations, %zu texts each\n", section, n,
            json_array_size(texts));
    AKT_EQ_INT(bad, 0);
}

AKT_TEST(goldens)
{
    json_t *cfg = load_json("tests/data/pretok_configs.json");
    json_t *texts = json_array(), *small = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(cfg, "corpora"), i, c)
        read_corpus(json_string_value(c), texts);
    read_corpus(json_string_value(json_object_get(cfg, "small_corpus")), small);
    golden_section(cfg, "pre_tokenizers", false, texts);
    golden_section(cfg, "pre_tokenizers_small", false, small);
    golden_section(cfg, "normalizers", true, texts);
    json_decref(texts);
    json_decref(small);
    json_decref(cfg);
}

/* ---- size, threads, memory ------------------------------------------------ */

static const char qwen_seq[] =
    "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
    "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| ?[^\\\\s"
    "\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":"
    "\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"trim_offsets\":false,\"use_regex\":false}]}";

/* 1 MB texts of one repeated unit each, through every kind: runs, not timed
 * against a limit (a quadratic path would take minutes).  Checks that the
 * splits cover the text where the kind keeps everything. */
AKT_TEST(one_megabyte)
{
    static const char *units[] = {
        " ", "a", "7", "'", "\r\n", "ab ", "\xe6\xbc\xa2", "\xe2\x96\x81", "!?",
        ("Hello, w\xc3\xb6rld! 123 \xd0\x9f\xd1\x80\xd0\xb8 \xe6\xbc\xa2\xe5\xad\x97 "
         "\xf0\x9f\x98\x80\t\r\n"),
    };
    static const char *cfgs[] = {
        qwen_seq,
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true}",
        "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\"}",
        "{\"type\":\"Whitespace\"}",
        "{\"type\":\"Punctuation\",\"behavior\":\"MergedWithNext\"}",
        "{\"type\":\"Digits\",\"individual_digits\":false}",
        "{\"type\":\"UnicodeScripts\"}",
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+(?!\\\\S)|\\\\s*[\\\\r\\\\n]+\"},"
        "\"behavior\":\"Contiguous\",\"invert\":false}",
    };
    const size_t target = (size_t)1 << 20;
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        size_t ul = strlen(units[u]), reps = target / ul;
        char *text = malloc(reps * ul + 1);
        for (size_t r = 0; r < reps; r++)
            memcpy(text + r * ul, units[u], ul);
        cps c = to_cps(text, reps * ul);
        for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
            json_t *j = parse(cfgs[k]);
            chain p = {0};
            AKT_OK(chain_load(j, &p));
            ak_tok_scratch scr = {0};
            ak_splits res;
            double t0 = ak_now();
            AKT_OK(chain_run(&p, c.v, c.n, &scr, &res));
            double dt = ak_now() - t0;
            if (k == 0 || k == 7) {   /* Isolated / Contiguous keep every code point */
                size_t total = 0;
                for (size_t i = 0; i < res.n; i++)
                    total += res.v[i].len;
                AKT_TRUE(total >= c.n);
            }
            if (dt > 1.0)
                fprintf(stderr, "  unit %zu config %zu: %.2f s for %zu splits\n", u, k, dt,
                        res.n);
            ak_splits_free(&res);
            ak_tok_scratch_free(&scr);
            chain_free(&p);
            json_decref(j);
        }
        ak_normalizer *nz = NULL;
        AKT_OK(load_norm("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},"
                         "\"content\":\"\xe2\x96\x81\"}", &nz));
        ak_cpbuf out = {0};
        ak_tok_scratch scr = {0};
        AKT_OK(nz->kind->apply(nz, c.v, c.n, &scr, &out));
        AKT_LE_INT(out.n, c.n);
        ak_cpbuf_free(&out);
        ak_tok_scratch_free(&scr);
        nz->kind->free(nz);
        free(c.v);
        free(text);
    }
}

typedef struct thr {
    const ak_pretok *p;
    const cps *texts;
    size_t n;
    size_t *counts;   /* splits per text */
    int ok;
} thr;

static void *thr_run(void *arg)
{
    thr *t = arg;
    ak_tok_scratch scr = {0};
    t->ok = 1;
    for (int round = 0; round < 4; round++)
        for (size_t i = 0; i < t->n; i++) {
            ak_splits out = {0};
            if (t->p->kind->split(t->p, t->texts[i].v, t->texts[i].n, true, &scr, &out) !=
                AKIDB_OK)
                t->ok = 0;
            else if (round == 0)
                t->counts[i] = out.n;
            else if (t->counts[i] != out.n)
                t->ok = 0;
            ak_splits_free(&out);
        }
    ak_tok_scratch_free(&scr);
    return NULL;
}

/* One compiled regex matched by four threads at once gives each the same
 * splits as one thread alone. */
AKT_TEST(threads_share_a_regex)
{
    json_t *texts = json_array();
    read_corpus("tests/data/tok_multilingual.txt", texts);
    size_t n = json_array_size(texts);
    cps *tv = calloc(n, sizeof *tv);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *t = json_array_get(texts, i);
        if (json_string_length(t) > 0)
            tv[m++] = to_cps(json_string_value(t), json_string_length(t));
    }
    json_t *j = parse(qwen_seq);
    chain p = {0};
    AKT_OK(chain_load(j, &p));
    thr ref = {p.p[0], tv, m, calloc(m, sizeof(size_t)), 0};
    thr_run(&ref);
    AKT_TRUE(ref.ok);
    thr t[4];
    pthread_t id[4];
    for (int k = 0; k < 4; k++) {
        t[k] = (thr){p.p[0], tv, m, calloc(m, sizeof(size_t)), 0};
        AKT_EQ_INT(pthread_create(&id[k], NULL, thr_run, &t[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(id[k], NULL);
        AKT_TRUE(t[k].ok);
        AKT_EQ_INT(memcmp(t[k].counts, ref.counts, m * sizeof(size_t)), 0);
        free(t[k].counts);
    }
    free(ref.counts);
    chain_free(&p);
    json_decref(j);
    for (size_t i = 0; i < m; i++)
        free(tv[i].v);
    free(tv);
    json_decref(texts);
}

/* Every allocation of loading and running fails in turn: each failure is
 * ENOMEM with nothing leaked (the sanitizer build checks leaks). */
AKT_TEST(out_of_memory)
{
    static const char *cfgs[] = {
        qwen_seq,
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true}",
        "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Metaspace\",\"replacement\":"
        "\"_\"},{\"type\":\"Punctuation\",\"behavior\":\"MergedWithPrevious\"},{\"type\":"
        "\"Digits\",\"individual_digits\":true},{\"type\":\"UnicodeScripts\"},"
        "{\"type\":\"Whitespace\"},{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"x\"}]}",
    };
    const char *text = "Hello w\xc3\xb6rld, it's 2024!\r\n \xe6\xbc\xa2\xe5\xad\x97 x";
    cps c = to_cps(text, strlen(text));
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        json_t *j = parse(cfgs[k]);
        for (long fail = 0;; fail++) {
            chain p = {0};
            ak_tok_scratch scr = {0};
            ak_splits res = {0};
            ak_alloc_fail_after(fail);
            akidb_status st = chain_load(j, &p);
            if (st == AKIDB_OK)
                st = chain_run(&p, c.v, c.n, &scr, &res);
            long injected = ak_alloc_injected_failures();
            ak_alloc_fail_after(-1);
            ak_splits_free(&res);
            ak_tok_scratch_free(&scr);
            chain_free(&p);
            if (injected == 0) {
                AKT_OK(st);
                break;
            }
            AKT_STATUS(st, AKIDB_ENOMEM);
        }
        json_decref(j);
    }
    for (long fail = 0;; fail++) {
        ak_normalizer *nz = NULL;
        ak_cpbuf out = {0};
        ak_tok_scratch scr = {0};
        json_t *j = parse("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"\\\\s+\"},"
                          "\"content\":\"\xe2\x96\x81\"}");
        ak_tok_load ld = {.origin = "test.json", .path = "normalizer."};
        ak_alloc_fail_after(fail);
        akidb_status st = ak_norm_replace.from_json(j, &ld, &nz);
        if (st == AKIDB_OK)
            st = nz->kind->apply(nz, c.v, c.n, &scr, &out);
        long injected = ak_alloc_injected_failures();
        ak_alloc_fail_after(-1);
        if (nz)
            nz->kind->free(nz);
        ak_cpbuf_free(&out);
        ak_tok_scratch_free(&scr);
        json_decref(j);
        if (injected == 0) {
            AKT_OK(st);
            break;
        }
        AKT_STATUS(st, AKIDB_ENOMEM);
    }
    free(c.v);
}

AKT_MAIN(AKT_REG(split_behaviors), AKT_REG(split_real_patterns), AKT_REG(bytelevel),
         AKT_REG(metaspace), AKT_REG(small_kinds), AKT_REG(replace_normalizer),
         AKT_REG(regex_dialect), AKT_REG(regex_pieces), AKT_REG(bad_fields), AKT_REG(regex_api_errors),
         AKT_REG(goldens), AKT_REG(one_megabyte), AKT_REG(threads_share_a_regex),
         AKT_REG(out_of_memory))
