/*
 * test_unicode.c - checks the Unicode layer of the tokenizer (src/text
 * unicode*.c, norm_unicode.c, norm_simple.c) against goldens written by
 * tests/ref/unicode_ref.mjs from independent sources:
 *   unicode_norm.txt       Unicode's NormalizationTest (Unicode 9.0 lines, the
 *                          data of Hugging Face tokenizers' crate), all four
 *                          forms, plus: every code point no kept line lists
 *                          is left unchanged by all four;
 *   unicode_graphemes.txt  ICU's extended grapheme clusters (Unicode 17.0);
 *   unicode_scripts.txt    the Script table of tokenizers' UnicodeScripts;
 *   unicode_simple.jsonl   Lowercase / Strip / StripAccents / Prepend / NF*
 *                          outputs of @huggingface/tokenizers, with the Rust
 *                          library's rule where the JS port differs.
 * Also: per_char of the NF kinds (normalising pieces cut at ASCII
 * whitespace = normalising the whole), long runs of marks, Hangul edge
 * cases, option errors and out-of-memory handling.
 */
#include "akt.h"
#include "akt_data.h"
#include "akidb.h"
#include "common/common.h"
#include "text/tok_parts.h"
#include "text/unicode.h"
#include "text/unicode_norm.h"

#include <jansson.h>

extern const ak_norm_kind ak_norm_nfc, ak_norm_nfd, ak_norm_nfkc, ak_norm_nfkd,
    ak_norm_lowercase, ak_norm_strip, ak_norm_strip_accents, ak_norm_prepend;

static const ak_norm_kind *const KINDS[] = {
    &ak_norm_nfc, &ak_norm_nfd, &ak_norm_nfkc, &ak_norm_nfkd, &ak_norm_lowercase,
    &ak_norm_strip, &ak_norm_strip_accents, &ak_norm_prepend,
};

static char *slurp(const char *rel, size_t *len)
{
    char *data = akt_data_read(rel, len);
    AKT_TRUE(data != NULL);
    return data;
}

/* Next line of a NUL-terminated buffer (advances *p; NULL at the end). */
static char *next_line(char **p)
{
    if (!**p)
        return NULL;
    char *s = *p, *e = strchr(s, '\n');
    if (e) {
        *e = 0;
        *p = e + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

/* Hex code points of s up to `end` (or a ';' / NUL) into out; returns the count. */
static size_t parse_hex(const char *s, uint32_t *out, size_t max, const char **end)
{
    size_t n = 0;
    while (*s && *s != ';') {
        char *e;
        unsigned long v = strtoul(s, &e, 16);
        if (e == s) {
            s++;
            continue;
        }
        AKT_TRUE(n < max);
        out[n++] = (uint32_t)v;
        s = e;
    }
    if (end)
        *end = s;
    return n;
}

static bool same(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static void print_cps(const char *what, const uint32_t *s, size_t n)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < n && i < 24; i++)
        fprintf(stderr, " %04X", s[i]);
    fprintf(stderr, n > 24 ? " ...\n" : "\n");
}

/* ---- normalization forms ------------------------------------------------- */

static const char *const FORM_NAMES[] = {"NFD", "NFC", "NFKD", "NFKC"};

/* True when form(in) == want; prints the difference otherwise. */
static bool check_form(aku_nform form, const uint32_t *in, size_t n, const uint32_t *want,
                       size_t nw, ak_cpbuf *buf)
{
    buf->n = 0;
    AKT_OK(aku_normalize(form, in, n, buf));
    if (same(buf->v, buf->n, want, nw))
        return true;
    fprintf(stderr, "  %s differs\n", FORM_NAMES[form]);
    print_cps("input", in, n);
    print_cps("got", buf->v, buf->n);
    print_cps("want", want, nw);
    return false;
}

enum { MAXF = 64 };

/* One NormalizationTest line: c[0..5) with lengths n[]. */
static size_t check_norm_line(uint32_t c[5][MAXF], const size_t n[5], ak_cpbuf *buf)
{
    size_t bad = 0;
    for (int k = 0; k < 5; k++) {
        /* NFC: c2 == NFC(c1..c3), c4 == NFC(c4, c5); NFD likewise with c3 / c5. */
        int nfc = k < 3 ? 1 : 3, nfd = k < 3 ? 2 : 4;
        bad += !check_form(AKU_NFC, c[k], n[k], c[nfc], n[nfc], buf);
        bad += !check_form(AKU_NFD, c[k], n[k], c[nfd], n[nfd], buf);
        bad += !check_form(AKU_NFKC, c[k], n[k], c[3], n[3], buf);
        bad += !check_form(AKU_NFKD, c[k], n[k], c[4], n[4], buf);
    }
    return bad;
}

AKT_TEST(normalization_test)
{
    size_t len, lines = 0, bad = 0;
    char *data = slurp("tests/golden/unicode_norm.txt", &len), *p = data, *line;
    uint8_t *listed = calloc(0x110000, 1);
    AKT_TRUE(listed != NULL);
    ak_cpbuf buf = {0};
    int part = -1;
    while ((line = next_line(&p)) != NULL) {
        if (line[0] == '#' || !line[0])
            continue;
        if (line[0] == '@') {
            part = atoi(line + 5);
            continue;
        }
        uint32_t c[5][MAXF];
        size_t n[5];
        const char *s = line;
        for (int k = 0; k < 5; k++) {
            n[k] = parse_hex(s, c[k], MAXF, &s);
            if (n[k] == 0 && k > 0) {   /* empty: same as the field before */
                n[k] = n[k - 1];
                memcpy(c[k], c[k - 1], n[k] * sizeof c[k][0]);
            }
            AKT_TRUE(*s == ';' || (k == 4 && *s == 0));
            s += *s == ';';
        }
        if (part == 1 && n[0] == 1)
            listed[c[0][0]] = 1;
        bad += check_norm_line(c, n, &buf);
        lines++;
        if (bad > 20)
            break;
    }
    AKT_EQ_INT(bad, 0);
    AKT_GE(lines, 18000);
    /* Every code point Part 1 does not list (unassigned in Unicode 9.0, or
     * normalising to itself) is unchanged by all four forms. */
    for (uint32_t cp = 0; cp < 0x110000 && bad < 20; cp++) {
        if (listed[cp] || (cp >= 0xD800 && cp < 0xE000))
            continue;
        for (int f = 0; f < 4; f++)
            bad += !check_form((aku_nform)f, &cp, 1, &cp, 1, &buf);
    }
    AKT_EQ_INT(bad, 0);
    ak_cpbuf_free(&buf);
    free(listed);
    ak_free(data);
}

/* Hangul: algorithmic (de)composition, including U+11A7, which is no
 * trailing consonant and must not compose. */
AKT_TEST(hangul)
{
    AKT_EQ_INT(aku_compose(0x1100, 0x1161), 0xAC00);
    AKT_EQ_INT(aku_compose(0xAC00, 0x11A8), 0xAC01);
    AKT_EQ_INT(aku_compose(0xAC00, 0x11A7), 0);
    AKT_EQ_INT(aku_compose(0xAC01, 0x11A8), 0);     /* LVT + T */
    AKT_EQ_INT(aku_compose(0x1100, 0x1100), 0);
    AKT_EQ_INT(aku_compose('e', 0x301), 0xE9);
    AKT_EQ_INT(aku_compose(0xE9, 0x301), 0);
    ak_cpbuf buf = {0};
    uint32_t in1[] = {0x1100, 0x1161, 0x11A7}, want1[] = {0xAC00, 0x11A7};
    AKT_TRUE(check_form(AKU_NFC, in1, 3, want1, 2, &buf));
    uint32_t in2[] = {0x1100, 0x1161, 0x11A8, 0x11A8}, want2[] = {0xAC01, 0x11A8};
    AKT_TRUE(check_form(AKU_NFC, in2, 4, want2, 2, &buf));
    uint32_t in3[] = {0xD7A3}, want3[] = {0x1112, 0x1175, 0x11C2};
    AKT_TRUE(check_form(AKU_NFD, in3, 1, want3, 3, &buf));
    /* A mark between L and V blocks their composition (V is a starter
     * after a non-starter). */
    uint32_t in4[] = {0x1100, 0x0301, 0x1161};
    AKT_TRUE(check_form(AKU_NFC, in4, 3, in4, 3, &buf));
    ak_cpbuf_free(&buf);
}

/* Naive stable sort of each non-starter run, for comparison. */
static void naive_order(uint32_t *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0; j--) {
            unsigned a = aku_ccc(s[j - 1]), b = aku_ccc(s[j]);
            if (a == 0 || b == 0 || a <= b)
                break;
            uint32_t t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    }
}

/* Runs of marks, short and long (the long ones take the counting sort), in
 * every form; and a huge run, which must stay linear. */
AKT_TEST(long_mark_runs)
{
    static const uint32_t marks[] = {0x301, 0x323, 0x327, 0x334, 0x5B0, 0x651, 0x300,
                                     0x316, 0x345, 0x1DCE, 0x308, 0x331};
    enum { N = 300 };
    uint32_t in[N + 2], want[N + 2];
    ak_cpbuf buf = {0};
    unsigned seed = 7;
    for (size_t len = 2; len <= N; len = len * 3 / 2) {
        in[0] = 'a';
        for (size_t i = 1; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            in[i] = marks[(seed >> 16) % (sizeof marks / sizeof marks[0])];
        }
        in[len] = 'b';
        memcpy(want, in, (len + 1) * sizeof *in);
        naive_order(want, len + 1);
        AKT_TRUE(check_form(AKU_NFD, in, len + 1, want, len + 1, &buf));
        /* NFC = composition of the ordered run; it is idempotent and its
         * NFD is the same NFD. */
        buf.n = 0;
        AKT_OK(aku_normalize(AKU_NFC, in, len + 1, &buf));
        ak_cpbuf again = {0}, back = {0};
        AKT_OK(aku_normalize(AKU_NFC, buf.v, buf.n, &again));
        AKT_TRUE(same(buf.v, buf.n, again.v, again.n));
        AKT_OK(aku_normalize(AKU_NFD, buf.v, buf.n, &back));
        AKT_TRUE(same(back.v, back.n, want, len + 1));
        ak_cpbuf_free(&again);
        ak_cpbuf_free(&back);
    }
    size_t big = (size_t)1 << 21;
    uint32_t *huge = malloc(big * sizeof *huge);
    AKT_TRUE(huge != NULL);
    huge[0] = 'e';
    for (size_t i = 1; i < big; i++)
        huge[i] = (i & 1) ? 0x301 : 0x323;
    buf.n = 0;
    AKT_OK(aku_normalize(AKU_NFC, huge, big, &buf));
    AKT_EQ_INT(buf.n, big - 1);
    /* e + dot below composes; the other dots below, then the acutes, stay
     * (no precomposed e with dot below and acute). */
    AKT_EQ_INT(buf.v[0], 0x1EB9);
    AKT_EQ_INT(buf.v[1], 0x323);
    AKT_EQ_INT(buf.v[big / 2 - 2], 0x323);
    AKT_EQ_INT(buf.v[big / 2 - 1], 0x301);
    AKT_EQ_INT(buf.v[big - 2], 0x301);
    free(huge);
    ak_cpbuf_free(&buf);
}

/* The NF kinds are per_char: forms of pieces cut at ASCII whitespace, joined,
 * equal the form of the whole text (random texts over the golden's code
 * points and whitespace). */
AKT_TEST(nf_per_char)
{
    size_t len;
    char *data = slurp("tests/golden/unicode_norm.txt", &len), *p = data, *line;
    uint32_t *pool = malloc(len * sizeof *pool);
    AKT_TRUE(pool != NULL);
    size_t np = 0;
    while ((line = next_line(&p)) != NULL)
        if (line[0] != '#' && line[0] != '@')
            np += parse_hex(line, pool + np, len - np, NULL);
    AKT_GE(np, 10000);
    static const uint32_t ws[] = {' ', '\t', '\n', '\r', 0x0B, 0x0C};
    const ak_norm_kind *nf[] = {&ak_norm_nfc, &ak_norm_nfd, &ak_norm_nfkc, &ak_norm_nfkd};
    ak_cpbuf whole = {0}, pieces = {0};
    ak_tok_scratch scr = {0};
    unsigned seed = 99;
    size_t bad = 0;
    for (int t = 0; t < 4000 && bad < 5; t++) {
        uint32_t text[40];
        size_t n = 1 + t % 40;
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 8;
            text[i] = r % 5 == 0 ? ws[r % 6] : pool[(r / 5) % np];
        }
        for (int f = 0; f < 4; f++) {
            const ak_norm_kind *k = nf[f];
            ak_normalizer *nz = NULL;
            ak_tok_load ld = {"test", "normalizer.", NULL};
            AKT_TRUE(k->per_char);
            AKT_OK(k->from_json(NULL, &ld, &nz));
            whole.n = pieces.n = 0;
            AKT_OK(k->apply(nz, text, n, &scr, &whole));
            for (size_t a = 0, b = 0; a < n; a = b) {
                while (b < n && text[b] > ' ')
                    b++;
                if (b < n)
                    b++;                /* the piece keeps its whitespace */
                ak_cpbuf part = {0};
                AKT_OK(k->apply(nz, text + a, b - a, &scr, &part));
                AKT_OK(ak_cpbuf_push(&pieces, part.v, part.n));
                ak_cpbuf_free(&part);
            }
            if (!same(whole.v, whole.n, pieces.v, pieces.n)) {
                fprintf(stderr, "  %s differs cut at whitespace\n", k->type);
                print_cps("text", text, n);
                bad++;
            }
            k->free(nz);
        }
    }
    AKT_EQ_INT(bad, 0);
    ak_cpbuf_free(&whole);
    ak_cpbuf_free(&pieces);
    ak_tok_scratch_free(&scr);
    free(pool);
    ak_free(data);
}

/* ---- graphemes and scripts ----------------------------------------------- */

AKT_TEST(graphemes)
{
    size_t len, lines = 0, bad = 0;
    char *data = slurp("tests/golden/unicode_graphemes.txt", &len), *p = data, *line;
    while ((line = next_line(&p)) != NULL) {
        if (line[0] == '#' || !line[0])
            continue;
        uint32_t s[64], lens[64];
        const char *rest;
        size_t n = parse_hex(line, s, 64, &rest);
        AKT_TRUE(*rest == ';');
        size_t nl = 0;
        for (char *q = (char *)rest + 1, *e; *q; q = e) {
            lens[nl] = (uint32_t)strtoul(q, &e, 10);
            if (e == q)
                break;
            AKT_TRUE(nl < 63);
            nl++;
        }
        size_t i = 0, k = 0;
        bool ok = true;
        while (i < n && ok) {
            size_t e = aku_grapheme_end(s, n, i);
            ok = k < nl && e > i && e - i == lens[k];
            i = e;
            k++;
        }
        if (!ok || k != nl) {
            fprintf(stderr, "  clusters differ (want lengths %s)\n", rest + 1);
            print_cps("text", s, n);
            bad++;
        }
        lines++;
    }
    AKT_EQ_INT(bad, 0);
    AKT_GE(lines, 3000);
    uint32_t crlf[] = {'a', '\r', '\n', 'b'};
    AKT_EQ_INT(aku_grapheme_end(crlf, 4, 0), 1);
    AKT_EQ_INT(aku_grapheme_end(crlf, 4, 1), 3);
    AKT_EQ_INT(aku_grapheme_end(crlf, 4, 3), 4);
    AKT_EQ_INT(aku_grapheme_end(crlf, 4, 4), 4);
    uint32_t flags[] = {0x1F1EF, 0x1F1F5, 0x1F1FA, 0x1F1F8, 0x1F1EB};
    AKT_EQ_INT(aku_grapheme_end(flags, 5, 0), 2);
    AKT_EQ_INT(aku_grapheme_end(flags, 5, 2), 4);
    AKT_EQ_INT(aku_grapheme_end(flags, 5, 4), 5);
    ak_free(data);
}

/* aku_script equals tokenizers' UnicodeScripts table on every code point
 * (its CamelCase names are our names without '_'; its "Any" is Unknown). */
AKT_TEST(scripts)
{
    size_t len, bad = 0;
    char *data = slurp("tests/golden/unicode_scripts.txt", &len), *p = data, *line;
    char (*want)[32] = calloc(0x110000, sizeof *want);
    AKT_TRUE(want != NULL);
    while ((line = next_line(&p)) != NULL) {
        if (line[0] == '#' || !line[0])
            continue;
        unsigned lo, hi;
        char name[32];
        AKT_EQ_INT(sscanf(line, "%x %x %31s", &lo, &hi, name), 3);
        AKT_TRUE(lo <= hi && hi < 0x110000);
        for (unsigned c = lo; c <= hi; c++)
            strcpy(want[c], name);
    }
    for (uint32_t cp = 0; cp < 0x110000 && bad < 10; cp++) {
        int s = aku_script(cp);
        AKT_TRUE(s >= 0 && s < AKU_SCRIPT_COUNT);
        char got[32];
        size_t o = 0;
        for (const char *q = s ? aku_script_names[s] : "Any"; *q && o < 31; q++)
            if (*q != '_')
                got[o++] = *q;
        got[o] = 0;
        const char *w = want[cp][0] ? want[cp] : "Any";
        if (strcmp(got, w) != 0) {
            fprintf(stderr, "  U+%04X: script %s, want %s\n", cp, got, w);
            bad++;
        }
    }
    AKT_EQ_INT(bad, 0);
    AKT_EQ_INT(aku_script('A'), AKU_SCRIPT_LATIN);
    AKT_EQ_INT(aku_script(' '), AKU_SCRIPT_COMMON);
    AKT_EQ_INT(aku_script(0x301), AKU_SCRIPT_INHERITED);
    AKT_EQ_INT(aku_script(0x4E00), AKU_SCRIPT_HAN);
    AKT_EQ_INT(aku_script(0x3042), AKU_SCRIPT_HIRAGANA);
    AKT_EQ_INT(aku_script(0x30A2), AKU_SCRIPT_KATAKANA);
    AKT_EQ_INT(aku_script(0xAC00), AKU_SCRIPT_HANGUL);
    AKT_EQ_INT(aku_script(0x0E01), AKU_SCRIPT_THAI);
    AKT_EQ_INT(aku_script(0x10FFFF), AKU_SCRIPT_UNKNOWN);
    AKT_EQ_INT(aku_script(0x110000), AKU_SCRIPT_UNKNOWN);
    free(want);
    ak_free(data);
}

/* ---- the simple kinds ---------------------------------------------------- */

static size_t utf8_to_cps(const char *s, size_t n, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;)
        i += (size_t)ak_utf8_decode((const unsigned char *)s + i, &out[k++]);
    return k;
}

static const ak_norm_kind *kind_of(const char *type)
{
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strcmp(KINDS[i]->type, type) == 0)
            return KINDS[i];
    return NULL;
}

AKT_TEST(simple_kinds)
{
    size_t len, cases = 0, bad = 0;
    char *data = slurp("tests/golden/unicode_simple.jsonl", &len), *p = data, *line;
    ak_tok_scratch scr = {0};
    ak_cpbuf out = {0};
    ak_tok_load ld = {"test", "normalizer.", NULL};
    while ((line = next_line(&p)) != NULL) {
        if (!line[0])
            continue;
        json_t *rec = json_loads(line, 0, NULL);
        AKT_TRUE(rec != NULL);
        json_t *cfg = json_object_get(rec, "normalizer");
        const ak_norm_kind *k = kind_of(json_string_value(json_object_get(cfg, "type")));
        AKT_TRUE(k != NULL);
        json_t *in = json_object_get(rec, "input"), *want = json_object_get(rec, "output");
        uint32_t a[256], b[256];
        AKT_TRUE(json_string_length(in) < 256 && json_string_length(want) < 256);
        size_t na = utf8_to_cps(json_string_value(in), json_string_length(in), a);
        size_t nb = utf8_to_cps(json_string_value(want), json_string_length(want), b);
        ak_normalizer *nz = NULL;
        AKT_OK(k->from_json(cfg, &ld, &nz));
        out.n = 0;
        AKT_OK(k->apply(nz, a, na, &scr, &out));
        if (!same(out.v, out.n, b, nb)) {
            fprintf(stderr, "  %s\n", line);
            print_cps("got", out.v, out.n);
            bad++;
        }
        k->free(nz);
        json_decref(rec);
        cases++;
    }
    AKT_EQ_INT(bad, 0);
    AKT_GE(cases, 100);
    AKT_TRUE(!ak_norm_strip.per_char && !ak_norm_prepend.per_char);
    AKT_TRUE(ak_norm_lowercase.per_char && ak_norm_strip_accents.per_char);
    ak_cpbuf_free(&out);
    ak_tok_scratch_free(&scr);
    ak_free(data);
}

/* Malformed options name the file and the field. */
AKT_TEST(option_errors)
{
    static const struct {
        const ak_norm_kind *kind;
        const char *json, *field;
    } cases[] = {
        {&ak_norm_strip, "{\"type\":\"Strip\",\"strip_right\":true}", "normalizer.strip_left"},
        {&ak_norm_strip, "{\"type\":\"Strip\",\"strip_left\":1,\"strip_right\":true}",
         "normalizer.strip_left"},
        {&ak_norm_strip, "{\"type\":\"Strip\",\"strip_left\":true}", "normalizer.strip_right"},
        {&ak_norm_prepend, "{\"type\":\"Prepend\"}", "normalizer.prepend"},
        {&ak_norm_prepend, "{\"type\":\"Prepend\",\"prepend\":[1]}", "normalizer.prepend"},
    };
    ak_tok_load ld = {"tok.json", "normalizer.", NULL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        AKT_TRUE(j != NULL);
        ak_normalizer *nz = NULL;
        AKT_STATUS(cases[i].kind->from_json(j, &ld, &nz), AKIDB_EFORMAT);
        AKT_CONTAINS(akidb_last_error(), "tok.json");
        AKT_CONTAINS(akidb_last_error(), cases[i].field);
        json_decref(j);
    }
    /* Prepend keeps a "prepend" with several code points and NULs. */
    json_t *j = json_loads("{\"type\":\"Prepend\",\"prepend\":\"a\\u0000\\u00e9\"}",
                         JSON_ALLOW_NUL, NULL);
    ak_normalizer *nz = NULL;
    AKT_OK(ak_norm_prepend.from_json(j, &ld, &nz));
    ak_cpbuf out = {0};
    uint32_t x = 'x';
    AKT_OK(ak_norm_prepend.apply(nz, &x, 1, NULL, &out));
    uint32_t want[] = {'a', 0, 0xE9, 'x'};
    AKT_TRUE(same(out.v, out.n, want, 4));
    ak_norm_prepend.free(nz);
    ak_cpbuf_free(&out);
    json_decref(j);
}

/* Every allocation failure while loading or applying is a clean ENOMEM. */
AKT_TEST(out_of_memory)
{
    json_t *cfg[] = {
        json_loads("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}", 0, NULL),
        json_loads("{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"}", 0, NULL),
    };
    uint32_t text[300];
    for (size_t i = 0; i < 300; i++)
        text[i] = i % 3 == 0 ? 0xFB01 : i % 3 == 1 ? 0x1E0B : 0x323;   /* fi, ḋ, dot below */
    size_t kinds = sizeof KINDS / sizeof KINDS[0];
    for (size_t ki = 0; ki < kinds; ki++) {
        const ak_norm_kind *k = KINDS[ki];
        json_t *j = k == &ak_norm_strip ? cfg[0] : k == &ak_norm_prepend ? cfg[1] : NULL;
        bool done = false;
        for (long i = 0; !done && i < 1000; i++) {
            ak_normalizer *nz = NULL;
            ak_cpbuf out = {0};
            ak_tok_load ld = {"tok.json", "normalizer.", NULL};
            ak_alloc_fail_after(i);
            akidb_status st = k->from_json(j, &ld, &nz);
            if (st == AKIDB_OK)
                st = k->apply(nz, text, 300, NULL, &out);
            done = ak_alloc_injected_failures() == 0;
            ak_alloc_fail_after(-1);
            AKT_TRUE(done ? st == AKIDB_OK : st == AKIDB_ENOMEM);
            if (nz)
                k->free(nz);
            ak_cpbuf_free(&out);
        }
        AKT_TRUE(done);
    }
    json_decref(cfg[0]);
    json_decref(cfg[1]);
}

AKT_MAIN(AKT_REG(normalization_test), AKT_REG(hangul), AKT_REG(long_mark_runs),
         AKT_REG(nf_per_char), AKT_REG(graphemes), AKT_REG(scripts), AKT_REG(simple_kinds),
         AKT_REG(option_errors), AKT_REG(out_of_memory))
