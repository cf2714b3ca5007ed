/*
 * fuzz_tok_bpe.c - libFuzzer target: encoding arbitrary bytes with three
 * small BPE tokenizers, loaded once from the fixtures (found from any
 * working directory, see fuzz_data.h):
 *   qwen2     - tests/data/bpe/qwen2, a vocab.json + merges.txt folder
 *               through the Qwen2 converter (NFC, the Qwen split regex,
 *               ByteLevel, added tokens); most bytes have no token;
 *   gpt2-full - the tests/data/bpe/gpt2 vocabulary and merges with the 256
 *               symbols of the byte alphabet added, as a GPT-2 style
 *               tokenizer.json built here: every text has a tokenization;
 *   llama     - tests/data/spm/llama/tokenizer.model through the Llama
 *               converter: BPE with byte_fallback, <s> before the text.
 * Every input is checked against the encoder's contract (fuzz_tok_check.h)
 * on all three.  Decoding is checked too where the pipeline makes it
 * lossless: gpt2-full gives back the text exactly; llama does for texts
 * without "<" (no added token can match) and without U+2581 (the
 * sentencepiece space symbol, which decodes to a space).
 */
#include "fuzz_tok_check.h"
#include "text/spm_model.h"
#include "text/tokenizer.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_tok toks[3] = {
    {.name = "qwen2", .head = 0, .tail = 0},
    {.name = "gpt2-full", .head = 0, .tail = 0},
    {.name = "llama", .head = 1, .tail = 0},
};

static void die_load(const char *what)
{
    fprintf(stderr, "fuzz_tok_bpe: %s: %s\n", what, akidb_last_error());
    abort();
}

/* The character GPT-2's byte alphabet gives byte b, as UTF-8 in buf. */
static void byte_char(unsigned b, char buf[8])
{
    unsigned cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
        unsigned k = 0;
        for (unsigned x = 0; x < b; x++)
            if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174))
                k++;
        cp = 256 + k;
    }
    buf[ak_utf8_encode(cp, buf)] = 0;
}

/* The GPT-2 fixture with the whole byte alphabet, as a tokenizer.json. */
static void load_gpt2_full(void)
{
    char path[4096];
    ak_json_init();   /* jansson on the accounted allocator: json_dumps' text is ak_free'd */
    ft_path(path, sizeof path, "tests/data/bpe/gpt2/vocab.json");
    json_error_t err;
    json_t *vocab = json_load_file(path, 0, &err);
    if (!vocab)
        die_load(path);
    json_int_t next = 0;
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v)
        if (json_integer_value(v) >= next)
            next = json_integer_value(v) + 1;
    for (unsigned b = 0; b < 256; b++) {
        char c[8];
        byte_char(b, c);
        if (!json_object_get(vocab, c))
            json_object_set_new(vocab, c, json_integer(next++));
    }
    ft_path(path, sizeof path, "tests/data/bpe/gpt2/merges.txt");
    FILE *f = fopen(path, "r");
    if (!f)
        die_load(path);
    json_t *merges = json_array();
    char line[256];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] && line[0] != '#')
            json_array_append_new(merges, json_string(line));
    }
    fclose(f);
    json_t *bl = json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                           "trim_offsets", 1, "use_regex", 1);
    json_t *root = json_pack(
        "{s:s, s:[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}], s:n, s:O, s:O, s:O,"
        " s:{s:s, s:n, s:n, s:s, s:s, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "added_tokens", "id", (int)json_integer_value(
            json_object_get(vocab, "<|endoftext|>")), "content", "<|endoftext|>",
        "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 1, "special", 1,
        "normalizer", "pre_tokenizer", bl, "post_processor", bl, "decoder", bl, "model",
        "type", "BPE", "dropout", "unk_token", "continuing_subword_prefix", "",
        "end_of_word_suffix", "", "fuse_unk", 0, "byte_fallback", 0, "vocab", vocab, "merges",
        merges);
    json_decref(bl);
    if (!root)
        die_load("gpt2-full: building tokenizer.json");
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text || ak_tokenizer_from_json(text, strlen(text), "gpt2-full.json", &toks[1].tok) !=
                     AKIDB_OK)
        die_load("gpt2-full");
    ak_free(text);
}

static void load_once(void)
{
    if (toks[0].tok)
        return;
    char path[4096];
    ft_path(path, sizeof path, "tests/data/bpe/qwen2");
    if (akidb_tokenizer_load(path, &toks[0].tok) != AKIDB_OK)
        die_load(path);
    load_gpt2_full();
    ft_path(path, sizeof path, "tests/data/spm/llama/tokenizer.model");
    if (ak_tokenizer_from_spm(path, NULL, &toks[2].tok) != AKIDB_OK)
        die_load(path);
    for (size_t i = 0; i < 3; i++)
        ft_setup(&toks[i]);
}

/* decode(the text's ids) must give the text back. */
static void check_round_trip(const ft_tok *t, const akidb_tokens *full, const uint8_t *data,
                             size_t size)
{
    char *back = NULL;
    size_t len = 0;
    if (akidb_tokenizer_decode(t->tok, full->ids + t->head, full->n - t->head - t->tail, 0,
                               &back, &len) != AKIDB_OK)
        FT_DIE("%s: decode: %s", t->name, akidb_last_error());
    if (len != size || memcmp(back, data, size) != 0)
        FT_DIE("%s: decode gave %zu bytes \"%.*s\" for the %zu bytes \"%.*s\"", t->name, len,
               (int)len, back, size, (int)size, (const char *)data);
    akidb_string_free(back);
}

static bool has(const uint8_t *data, size_t size, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_once();
    for (size_t i = 0; i < 3; i++) {
        akidb_tokens full = {0};
        bool valid = ft_check(&toks[i], data, size, &full);
        if (valid && i == 1)
            check_round_trip(&toks[i], &full, data, size);
        if (valid && i == 2 && !has(data, size, "<") && !has(data, size, "\xE2\x96\x81"))
            check_round_trip(&toks[i], &full, data, size);
        akidb_tokens_free(&full);
    }
    return 0;
}
