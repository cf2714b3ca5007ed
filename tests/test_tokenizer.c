/*
 * test_tokenizer.c - checks AkiDB's tokenizer (src/text) against reference
 * ids made by an independent engine (tests/ref/tokenize_ref.mjs over
 * tests/data/tokenizer_corpus.txt, one golden file per normaliser variant in
 * tests/data/tokenizer_variants.json), plus the vocab.txt fallback,
 * truncation, the Rust-specific Unicode rules, added-token options, error
 * reporting, huge inputs and out-of-memory handling.
 *
 * Data come from $AKIDB_SRC/tests (AKIDB_SRC defaults to the working
 * directory, which ctest sets to the source root).
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <unistd.h>

static char *src_path(const char *rel)
{
    const char *src = getenv("AKIDB_SRC");
    char *p = ak_path_join(src && *src ? src : ".", rel);
    AKT_TRUE(p != NULL);
    return p;
}

static char *slurp(const char *rel, size_t *len)
{
    char *path = src_path(rel), *data = NULL;
    akidb_status st = ak_read_file(path, (size_t)1 << 30, &data, len);
    if (st != AKIDB_OK)
        fprintf(stderr, "  cannot read %s: %s\n", path, akidb_last_error());
    ak_free(path);
    AKT_OK(st);
    return data;
}

/* The MiniLM tokenizer.json with fields of its normalizer replaced by the
 * variant's (tests/data/tokenizer_variants.json). */
static akidb_tokenizer *load_variant(const char *variant)
{
    size_t n, nv;
    char *text = slurp("tests/data/minilm/tokenizer.json", &n);
    char *vars = slurp("tests/data/tokenizer_variants.json", &nv);
    json_t *root = json_loadb(text, n, 0, NULL), *vroot = json_loadb(vars, nv, 0, NULL);
    AKT_TRUE(root && vroot);
    json_t *over = json_object_get(vroot, variant);
    AKT_TRUE(over != NULL);
    AKT_EQ_INT(json_object_update(json_object_get(root, "normalizer"), over), 0);
    char *dumped = json_dumps(root, JSON_COMPACT);
    AKT_TRUE(dumped != NULL);
    akidb_tokenizer *tok = NULL;
    AKT_OK(ak_tokenizer_from_json(dumped, strlen(dumped), variant, &tok));
    free(dumped);
    json_decref(root);
    json_decref(vroot);
    ak_free(text);
    ak_free(vars);
    return tok;
}

/* Corpus lines: split on '\n'; a final newline ends the last line. */
typedef struct lines {
    char *data;
    char **line;
    size_t *len;
    size_t n;
} lines;

static lines read_lines(const char *rel)
{
    lines L = {0};
    size_t n;
    L.data = slurp(rel, &n);
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += L.data[i] == '\n';
    L.line = malloc(cap * sizeof *L.line);
    L.len = malloc(cap * sizeof *L.len);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n && start == n)
            break;
        if (i == n || L.data[i] == '\n') {
            L.line[L.n] = L.data + start;
            L.len[L.n++] = i - start;
            start = i + 1;
        }
    }
    return L;
}

static void free_lines(lines *L)
{
    ak_free(L->data);
    free(L->line);
    free(L->len);
}

static void print_ids(const char *what, const int32_t *ids, size_t n)
{
    fprintf(stderr, "    %s (%zu):", what, n);
    for (size_t i = 0; i < n && i < 40; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, n > 40 ? " ...\n" : "\n");
}

/* Compares every corpus line of one variant with its golden file. */
static void check_variant(const char *variant)
{
    akidb_tokenizer *tok = load_variant(variant);
    lines L = read_lines("tests/data/tokenizer_corpus.txt");
    char gpath[128];
    snprintf(gpath, sizeof gpath, "tests/golden/tokens_%s.jsonl", variant);
    lines G = read_lines(gpath);
    AKT_EQ_INT(G.n, L.n);
    akidb_tokens t = {0}, full = {0};
    for (size_t i = 0; i < L.n; i++) {
        json_error_t err;
        json_t *g = json_loadb(G.line[i], G.len[i], 0, &err);
        AKT_TRUE(g != NULL);
        json_t *ids = json_object_get(g, "ids");
        size_t want_full = (size_t)json_integer_value(json_object_get(g, "n_full"));
        size_t nw = json_array_size(ids);
        int32_t *want = malloc((nw + 1) * sizeof *want);
        for (size_t k = 0; k < nw; k++)
            want[k] = (int32_t)json_integer_value(json_array_get(ids, k));
        json_decref(g);
        AKT_OK(akidb_tokenizer_encode(tok, L.line[i], L.len[i], 256, &t));
        AKT_OK(akidb_tokenizer_encode(tok, L.line[i], L.len[i], 0, &full));
        bool same = t.n == nw && memcmp(t.ids, want, nw * sizeof *want) == 0;
        bool full_ok = full.n == want_full && full.n_full == want_full &&
                       (want_full > 256 ? t.n_full > 256 : t.n_full == want_full);
        if (!same || !full_ok) {
            fprintf(stderr, "  %s line %zu differs: \"%.*s\"\n", variant, i + 1,
                    (int)(L.len[i] > 300 ? 300 : L.len[i]), L.line[i]);
            print_ids("want", want, nw);
            print_ids("got ", t.ids, t.n);
            fprintf(stderr, "    n_full want %zu, got %zu (untruncated n %zu)\n", want_full,
                    t.n_full, full.n);
        }
        free(want);
        AKT_TRUE(same);
        AKT_TRUE(full_ok);
    }
    akidb_tokens_free(&t);
    akidb_tokens_free(&full);
    free_lines(&L);
    free_lines(&G);
    akidb_tokenizer_free(tok);
}

AKT_TEST(golden_minilm) { check_variant("minilm"); }
AKT_TEST(golden_cased) { check_variant("minilm_cased"); }
AKT_TEST(golden_strip) { check_variant("minilm_strip"); }
AKT_TEST(golden_keepaccents) { check_variant("minilm_keepaccents"); }
AKT_TEST(golden_nochinese) { check_variant("minilm_nochinese"); }

static akidb_tokenizer *load_minilm(void)
{
    char *dir = src_path("tests/data/minilm");
    akidb_tokenizer *tok = NULL;
    AKT_OK(akidb_tokenizer_load(dir, &tok));
    ak_free(dir);
    return tok;
}

/* Encodes a NUL-terminated text without truncation. */
static akidb_tokens enc(const akidb_tokenizer *tok, const char *s)
{
    akidb_tokens t = {0};
    AKT_OK(akidb_tokenizer_encode(tok, s, strlen(s), 0, &t));
    return t;
}

/* Token strings of the ids, joined by spaces, without [CLS]/[SEP]. */
static const char *pieces(const akidb_tokenizer *tok, const char *s)
{
    static char buf[1024];
    akidb_tokens t = enc(tok, s);
    buf[0] = '\0';
    for (size_t i = 1; i + 1 < t.n; i++) {
        const char *p = akidb_tokenizer_id_to_token(tok, t.ids[i]);
        AKT_TRUE(p != NULL);
        if (i > 1)
            strncat(buf, " ", sizeof buf - strlen(buf) - 1);
        strncat(buf, p, sizeof buf - strlen(buf) - 1);
    }
    akidb_tokens_free(&t);
    return buf;
}

AKT_TEST(basics)
{
    akidb_tokenizer *tok = load_minilm();
    AKT_EQ_INT(akidb_tokenizer_vocab_size(tok), 30522);
    AKT_EQ_STR(akidb_tokenizer_id_to_token(tok, 101), "[CLS]");
    AKT_EQ_STR(akidb_tokenizer_id_to_token(tok, 0), "[PAD]");
    AKT_TRUE(akidb_tokenizer_id_to_token(tok, -1) == NULL);
    AKT_TRUE(akidb_tokenizer_id_to_token(tok, 30522) == NULL);
    AKT_EQ_STR(pieces(tok, "Hello, World!"), "hello , world !");
    AKT_EQ_STR(pieces(tok, "unaffable"), "una ##ffa ##ble");
    AKT_EQ_STR(pieces(tok, ""), "");
    akidb_tokens t = enc(tok, "");
    AKT_EQ_INT(t.n, 2);
    AKT_EQ_INT(t.ids[0], 101);
    AKT_EQ_INT(t.ids[1], 102);
    AKT_EQ_INT(t.n_full, 2);
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
}

/* Behaviours of the Rust library that the JS reference does not share. */
AKT_TEST(rust_unicode_rules)
{
    akidb_tokenizer *tok = load_minilm();
    /* strip accents, then lowercase, each code point alone */
    AKT_EQ_STR(pieces(tok, "\xC4\xB0stanbul"), "istanbul");           /* İ */
    AKT_EQ_STR(pieces(tok, "\xCE\xA3"), "\xCF\x83");                  /* Σ -> σ */
    AKT_EQ_STR(pieces(tok, "\xCE\xBF\xCE\xA3"), "\xCE\xBF ##\xCF\x83"); /* οΣ: no ς */
    /* CJK outside the BMP is padded: 𠀀x -> [UNK] x */
    AKT_EQ_STR(pieces(tok, "\xF0\xA0\x80\x80x"), "[UNK] x");
    /* private use: only listed code points count as control */
    AKT_EQ_STR(pieces(tok, "a\xEE\x80\x80" "b"), "ab");               /* U+E000 removed */
    AKT_EQ_STR(pieces(tok, "a\xEE\x80\x81" "b"), "[UNK]");            /* U+E001 kept */
    /* U+2E43 (Po, Unicode 9.0) is not punctuation for the Unicode 8.0
     * tables: it stays inside the word */
    AKT_EQ_STR(pieces(tok, "a\xE2\xB9\x83" "b"), "[UNK]");
    AKT_EQ_STR(pieces(tok, "a\xE2\xB8\xBB" "b"), "a [UNK] b");          /* U+2E3B (8.0) */
    /* U+0085 and VT are control (removed), not whitespace */
    AKT_EQ_STR(pieces(tok, "a\xC2\x85" "b\x0B" "c"), "abc");
    /* Hangul syllables decompose to jamo under strip_accents */
    akidb_tokens a = enc(tok, "\xEA\xB0\x80"), b = enc(tok, "\xE1\x84\x80\xE1\x85\xA1");
    AKT_EQ_INT(a.n, b.n);
    AKT_TRUE(memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
    akidb_tokens_free(&a);
    akidb_tokens_free(&b);
    akidb_tokenizer_free(tok);
}

AKT_TEST(clean_text_off)
{
    size_t n;
    char *text = slurp("tests/data/minilm/tokenizer.json", &n);
    json_t *root = json_loadb(text, n, 0, NULL);
    json_object_set_new(json_object_get(root, "normalizer"), "clean_text", json_false());
    char *d = json_dumps(root, JSON_COMPACT);
    akidb_tokenizer *tok = NULL;
    AKT_OK(ak_tokenizer_from_json(d, strlen(d), "noclean", &tok));
    AKT_EQ_STR(pieces(tok, "a\xE2\x80\x8B" "b"), "[UNK]");      /* U+200B stays */
    AKT_EQ_STR(pieces(tok, "a\tb\xC2\xA0" "c"), "a b c");       /* still whitespace */
    akidb_tokenizer_free(tok);
    free(d);
    json_decref(root);
    ak_free(text);
}

/* Makes a temporary copy of the MiniLM folder without tokenizer.json. */
static char *vocab_only_dir(void)
{
    char tmpl[] = "/tmp/akidb_tok_XXXXXX";
    char *dir = mkdtemp(tmpl);
    AKT_TRUE(dir != NULL);
    static const char *const files[] = {"vocab.txt", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    for (int i = 0; i < 3; i++) {
        char rel[128];
        size_t n;
        snprintf(rel, sizeof rel, "tests/data/minilm/%s", files[i]);
        char *data = slurp(rel, &n);
        char *p = ak_path_join(dir, files[i]);
        FILE *f = fopen(p, "wb");
        AKT_TRUE(f != NULL);
        AKT_EQ_INT(fwrite(data, 1, n, f), n);
        fclose(f);
        ak_free(p);
        ak_free(data);
    }
    return ak_strdup(dir);
}

static void remove_dir(const char *dir)
{
    static const char *const files[] = {"vocab.txt", "tokenizer_config.json",
                                        "special_tokens_map.json", "tokenizer.json"};
    for (int i = 0; i < 4; i++) {
        char *p = ak_path_join(dir, files[i]);
        unlink(p);
        ak_free(p);
    }
    rmdir(dir);
}

AKT_TEST(vocab_txt_fallback)
{
    char *dir = vocab_only_dir();
    akidb_tokenizer *vt = NULL, *tj = load_minilm();
    AKT_OK(akidb_tokenizer_load(dir, &vt));
    AKT_EQ_INT(akidb_tokenizer_vocab_size(vt), akidb_tokenizer_vocab_size(tj));
    lines L = read_lines("tests/data/tokenizer_corpus.txt");
    akidb_tokens a = {0}, b = {0};
    for (size_t i = 0; i < L.n; i++) {
        AKT_OK(akidb_tokenizer_encode(vt, L.line[i], L.len[i], 256, &a));
        AKT_OK(akidb_tokenizer_encode(tj, L.line[i], L.len[i], 256, &b));
        if (a.n != b.n || memcmp(a.ids, b.ids, a.n * sizeof *a.ids) != 0)
            fprintf(stderr, "  line %zu differs: \"%.*s\"\n", i + 1, (int)L.len[i], L.line[i]);
        AKT_EQ_INT(a.n, b.n);
        AKT_TRUE(memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
        AKT_EQ_INT(a.n_full, b.n_full);
    }
    akidb_tokens_free(&a);
    akidb_tokens_free(&b);
    free_lines(&L);
    akidb_tokenizer_free(vt);
    akidb_tokenizer_free(tj);
    remove_dir(dir);
    ak_free(dir);
}

AKT_TEST(truncation)
{
    akidb_tokenizer *tok = load_minilm();
    const char *s = "one two three four five six seven eight nine ten eleven twelve";
    akidb_tokens t = {0};
    AKT_OK(akidb_tokenizer_encode(tok, s, strlen(s), 10, &t));
    AKT_EQ_INT(t.n, 10);
    AKT_TRUE(t.n_full > 10);  /* counting stops once the result is full */
    AKT_EQ_INT(t.ids[0], 101);
    AKT_EQ_INT(t.ids[9], 102);
    AKT_EQ_STR(akidb_tokenizer_id_to_token(tok, t.ids[8]), "eight");
    AKT_OK(akidb_tokenizer_encode(tok, s, strlen(s), 2, &t));
    AKT_EQ_INT(t.n, 2);
    AKT_EQ_INT(t.ids[1], 102);
    AKT_OK(akidb_tokenizer_encode(tok, s, strlen(s), 14, &t));
    AKT_EQ_INT(t.n, 14);
    AKT_EQ_INT(t.n_full, 14);
    AKT_STATUS(akidb_tokenizer_encode(tok, s, strlen(s), 1, &t), AKIDB_EINVAL);
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
}

AKT_TEST(bad_text)
{
    akidb_tokenizer *tok = load_minilm();
    akidb_tokens t = {0};
    AKT_STATUS(akidb_tokenizer_encode(tok, "abc\xFF" "def", 7, 0, &t), AKIDB_EUTF8);
    AKT_CONTAINS(akidb_last_error(), "offset 3");
    AKT_STATUS(akidb_tokenizer_encode(tok, "ab\xED\xA0\x80", 5, 0, &t), AKIDB_EUTF8);
    AKT_CONTAINS(akidb_last_error(), "offset 2");
    AKT_STATUS(akidb_tokenizer_encode(tok, "\xC3", 1, 0, &t), AKIDB_EUTF8);
    AKT_EQ_INT(t.n, 0);
    /* NUL bytes are removed like other control characters */
    akidb_tokens a = {0}, b = enc(tok, "hello world");
    AKT_OK(akidb_tokenizer_encode(tok, "hel\0lo world\0", 13, 0, &a));
    AKT_EQ_INT(a.n, b.n);
    AKT_TRUE(memcmp(a.ids, b.ids, a.n * sizeof *a.ids) == 0);
    akidb_tokens_free(&a);
    akidb_tokens_free(&b);
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
}

AKT_TEST(huge_line)
{
    akidb_tokenizer *tok = load_minilm();
    size_t n = (size_t)1 << 20;
    char *s = malloc(n);
    for (size_t i = 0; i < n; i++)
        s[i] = "ab cd, \xC3\xA9 "[i % 10];
    s[n - 1] = ' ';
    akidb_tokens t = {0};
    double t0 = ak_now();
    AKT_OK(akidb_tokenizer_encode(tok, s, n, 256, &t));
    double dt = ak_now() - t0;
    AKT_EQ_INT(t.n, 256);
    AKT_TRUE(t.n_full > 256);
    AKT_EQ_INT(t.ids[255], 102);
    /* The work stopped early: a few thousand pieces were counted, not the
     * 600,000 the whole line gives (speed itself is measured in bench/). */
    AKT_LE(t.n_full, 20000);
    fprintf(stderr, "  1 MB line truncated to 256: %.1f ms\n", dt * 1e3);
    /* one 1 MB word, and 1 MB of punctuation, untruncated */
    memset(s, 'x', n);
    AKT_OK(akidb_tokenizer_encode(tok, s, n, 0, &t));
    AKT_EQ_INT(t.n, 3);
    AKT_EQ_INT(t.ids[1], 100);
    memset(s, '!', n);
    t0 = ak_now();
    AKT_OK(akidb_tokenizer_encode(tok, s, n, 0, &t));
    AKT_EQ_INT(t.n, n + 2);
    AKT_OK(akidb_tokenizer_encode(tok, s, n, 256, &t));
    AKT_EQ_INT(t.n, 256);
    /* a long run of combining marks stays linear */
    for (size_t i = 0; i + 4 <= n; i += 4)
        memcpy(s + i, i % 8 ? "\xCC\x81\xCC\x96" : "a\xCC\x96 ", 4);
    AKT_OK(akidb_tokenizer_encode(tok, s, n, 0, &t));
    fprintf(stderr, "  1 MB of punctuation and of combining marks: %.1f ms\n",
            (ak_now() - t0) * 1e3);
    free(s);
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
}

/* A small tokenizer exercising added-token options. */
static const char *TINY =
    "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\","
    " \"continuing_subword_prefix\": \"##\", \"max_input_chars_per_word\": 5,"
    " \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, \"[SEP]\": 2, \"a\": 3, \"b\": 4,"
    "  \"##b\": 5, \"ab\": 6, \"!\": 7, \"c\": 8, \"##c\": 9}},"
    " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
    "   {\"type\": \"BertNormalizer\", \"lowercase\": true}]},"
    " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
    " \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 1],"
    "   \"sep\": [\"[SEP]\", 2]},"
    " \"added_tokens\": ["
    "  {\"id\": 10, \"content\": \"<m>\", \"single_word\": true, \"lstrip\": false,"
    "   \"rstrip\": false, \"normalized\": false, \"special\": true},"
    "  {\"id\": 11, \"content\": \"<s>\", \"lstrip\": true, \"rstrip\": true,"
    "   \"normalized\": false, \"special\": true},"
    "  {\"id\": 12, \"content\": \"CAB\", \"normalized\": true, \"special\": false}]}";

static void expect_ids(const akidb_tokenizer *tok, const char *s, const int32_t *want,
                       size_t n)
{
    akidb_tokens t = enc(tok, s);
    if (t.n != n || memcmp(t.ids, want, n * sizeof *want) != 0) {
        fprintf(stderr, "  text \"%s\"\n", s);
        print_ids("want", want, n);
        print_ids("got ", t.ids, t.n);
    }
    AKT_EQ_INT(t.n, n);
    AKT_TRUE(memcmp(t.ids, want, n * sizeof *want) == 0);
    akidb_tokens_free(&t);
}
#define EXPECT(tok, s, ...)                                                   \
    do {                                                                      \
        static const int32_t w_[] = {__VA_ARGS__};                            \
        expect_ids(tok, s, w_, sizeof w_ / sizeof w_[0]);                     \
    } while (0)

AKT_TEST(added_tokens)
{
    akidb_tokenizer *tok = NULL;
    AKT_OK(ak_tokenizer_from_json(TINY, strlen(TINY), "tiny", &tok));
    AKT_EQ_INT(akidb_tokenizer_vocab_size(tok), 13);
    AKT_EQ_STR(akidb_tokenizer_id_to_token(tok, 12), "CAB");
    EXPECT(tok, "ab", 1, 6, 2);
    EXPECT(tok, "abbb", 1, 6, 5, 5, 2);
    EXPECT(tok, "abbbbb", 1, 0, 2);             /* > 5 chars */
    EXPECT(tok, "A!b", 1, 3, 7, 4, 2);
    EXPECT(tok, "a <m> b", 1, 3, 10, 4, 2);     /* single word */
    EXPECT(tok, "a<m> b", 1, 3, 0, 0, 0, 4, 2); /* glued: not matched, < m > */
    EXPECT(tok, "a  <s>  b", 1, 3, 11, 4, 2);   /* lstrip/rstrip */
    EXPECT(tok, "a<s>b", 1, 3, 11, 4, 2);
    EXPECT(tok, "xcab!", 1, 0, 12, 7, 2);       /* normalised "cab" matches inside a word */
    EXPECT(tok, "b CAB a", 1, 4, 12, 3, 2);     /* matched after lowercasing */
    EXPECT(tok, "b cab a", 1, 4, 12, 3, 2);
    akidb_tokenizer_free(tok);
}

/* Writes text to dir/name. */
static void put_file(const char *dir, const char *name, const char *text)
{
    char *p = ak_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    AKT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
    ak_free(p);
}

static void expect_json_error(const char *json, akidb_status want, const char *needle)
{
    akidb_tokenizer *tok = NULL;
    akidb_status st = ak_tokenizer_from_json(json, strlen(json), "x/tokenizer.json", &tok);
    if (st != want)
        fprintf(stderr, "  json: %s\n", json);
    AKT_STATUS(st, want);
    AKT_TRUE(tok == NULL);
    AKT_CONTAINS(akidb_last_error(), "x/tokenizer.json");
    AKT_CONTAINS(akidb_last_error(), needle);
}

AKT_TEST(load_errors)
{
    akidb_tokenizer *tok = (akidb_tokenizer *)1;
    AKT_STATUS(akidb_tokenizer_load("/nonexistent/akidb/model", &tok), AKIDB_ENOENT);
    AKT_TRUE(tok == NULL);
    AKT_CONTAINS(akidb_last_error(), "/nonexistent/akidb/model");

    char tmpl[] = "/tmp/akidb_tok_XXXXXX";
    char *dir = mkdtemp(tmpl);
    AKT_TRUE(dir != NULL);
    AKT_STATUS(akidb_tokenizer_load(dir, &tok), AKIDB_ENOENT);
    put_file(dir, "tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {");
    AKT_STATUS(akidb_tokenizer_load(dir, &tok), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "tokenizer.json");
    AKT_CONTAINS(akidb_last_error(), dir);
    char *p = ak_path_join(dir, "tokenizer.json");
    unlink(p);
    ak_free(p);
    put_file(dir, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    put_file(dir, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    AKT_STATUS(akidb_tokenizer_load(dir, &tok), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "do_lower_case");
    put_file(dir, "tokenizer_config.json", "{\"do_lower_case\": true");
    AKT_STATUS(akidb_tokenizer_load(dir, &tok), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "tokenizer_config.json");
    put_file(dir, "tokenizer_config.json", "{\"do_lower_case\": true}");
    AKT_OK(akidb_tokenizer_load(dir, &tok));
    EXPECT(tok, "Hello [CLS]", 2, 4, 2, 3);
    akidb_tokenizer_free(tok);
    put_file(dir, "vocab.txt", "[PAD]\r\n[UNK]\r\n\xFF\r\n");
    AKT_STATUS(akidb_tokenizer_load(dir, &tok), AKIDB_EUTF8);
    remove_dir(dir);

    expect_json_error("[1, 2]", AKIDB_EFORMAT, "top level");
    expect_json_error("{\"model\": 3}", AKIDB_EFORMAT, "model");
    expect_json_error("{\"model\": {\"type\": \"WordLevelX\", \"vocab\": {}}}", AKIDB_EUNSUPPORTED,
                      "model type 'WordLevelX' is not supported (supported: WordPiece");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": []}}", AKIDB_EFORMAT,
                      "model.vocab: expected an object");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": \"1\"}}}",
                      AKIDB_EFORMAT, "model.vocab");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 99999999}}}",
                      AKIDB_EFORMAT, "out of range");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0},"
                      " \"unk_token\": 5}}", AKIDB_EFORMAT, "model.unk_token");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"normalizer\": {\"type\": \"NFKX\"}}", AKIDB_EUNSUPPORTED,
                      "normalizer type 'NFKX' is not supported (supported: ");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": 1}}",
                      AKIDB_EFORMAT, "normalizer.lowercase");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": "
                      "[{\"type\": \"BertPreTokenizer\"}, {\"type\": \"ByteLevelX\"}]}}",
                      AKIDB_EUNSUPPORTED, "pre_tokenizer type 'ByteLevelX'");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"post_processor\": {\"type\": \"RobertaProcessingX\"}}",
                      AKIDB_EUNSUPPORTED, "RobertaProcessingX");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"X\"}]}}",
                      AKIDB_EUNSUPPORTED, "decoder type 'X'");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"a\": 1}}}",
                      AKIDB_EFORMAT, "duplicate");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0, \"b\": 0}}}",
                      AKIDB_EFORMAT, "share id 0");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                      "[{\"SpecialToken\": {\"id\": \"[X]\", \"type_id\": 0}},"
                      " {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],"
                      " \"special_tokens\": {}}}", AKIDB_EFORMAT, "[X]");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"added_tokens\": [{\"id\": 0}]}", AKIDB_EFORMAT, "content");
    expect_json_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}},"
                      " \"added_tokens\": {}}", AKIDB_EFORMAT, "added_tokens");
}

/* Every allocation failure during load and encode is a clean ENOMEM. */
AKT_TEST(out_of_memory)
{
    size_t n;
    char *json = slurp("tests/data/minilm/tokenizer.json", &n);
    const char *texts[] = {"Hello, World! [CLS] caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD " ,
                           "supercalifragilistic\xCC\x81\xCC\x96\xCC\x81 x"};
    bool done = false;
    long i;
    for (i = 0; !done && i < 100000; i++) {
        akidb_tokenizer *tok = NULL;
        akidb_tokens t = {0};
        ak_alloc_fail_after(i);
        akidb_status st = ak_tokenizer_from_json(json, n, "tokenizer.json", &tok);
        if (st == AKIDB_OK) {
            for (int k = 0; k < 2 && st == AKIDB_OK; k++)
                st = akidb_tokenizer_encode(tok, texts[k], strlen(texts[k]), 0, &t);
            if (st == AKIDB_OK)
                st = akidb_tokenizer_encode(tok, TINY, strlen(TINY), 8, &t);
        }
        done = ak_alloc_injected_failures() == 0;
        ak_alloc_fail_after(-1);
        if (st != AKIDB_OK && st != AKIDB_ENOMEM)
            fprintf(stderr, "  step %ld: %s\n", i, akidb_last_error());
        AKT_TRUE(st == AKIDB_OK || st == AKIDB_ENOMEM);
        AKT_TRUE(done ? st == AKIDB_OK : st == AKIDB_ENOMEM);
        akidb_tokens_free(&t);
        akidb_tokenizer_free(tok);
    }
    AKT_TRUE(done);
    fprintf(stderr, "  %ld allocation points checked\n", i);
    ak_free(json);
}

AKT_MAIN(AKT_REG(golden_minilm), AKT_REG(golden_cased), AKT_REG(golden_strip),
         AKT_REG(golden_keepaccents), AKT_REG(golden_nochinese), AKT_REG(basics),
         AKT_REG(rust_unicode_rules), AKT_REG(clean_text_off), AKT_REG(vocab_txt_fallback),
         AKT_REG(truncation), AKT_REG(bad_text), AKT_REG(huge_line), AKT_REG(added_tokens),
         AKT_REG(load_errors), AKT_REG(out_of_memory))
