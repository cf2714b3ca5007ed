/*
 * fuzz_tok_unigram.c - libFuzzer target: encoding arbitrary bytes with the
 * sentencepiece Unigram tokenizers of tests/data/spm, converted once by
 * ak_tokenizer_from_spm (found from any working directory, fuzz_data.h):
 *   xlmr        - XLM-R style (sentencepiece.bpe.model): the Precompiled
 *                 nmt_nfkc charsmap, Metaspace, <s> A </s>;
 *   t5          - T5 style (spiece.model): the same charsmap, A </s>;
 *   ident_bytes - the generic converter on an identity-normalised model with
 *                 byte fallback.
 * Every input is checked against the encoder's contract (fuzz_tok_check.h)
 * on all three, and decoding the result must succeed and give UTF-8.
 */
#include "fuzz_tok_check.h"
#include "text/spm_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ft_tok toks[3] = {
    {.name = "xlmr", .head = 1, .tail = 1},
    {.name = "t5", .head = 0, .tail = 1},
    {.name = "ident_bytes", .head = 0, .tail = 0},
};
static const char *const files[3] = {
    "tests/data/spm/xlmr/sentencepiece.bpe.model",
    "tests/data/spm/t5/spiece.model",
    "tests/data/spm/ident_bytes/tokenizer.model",
};

static void load_once(void)
{
    if (toks[0].tok)
        return;
    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        ft_path(path, sizeof path, files[i]);
        if (ak_tokenizer_from_spm(path, NULL, &toks[i].tok) != AKIDB_OK) {
            fprintf(stderr, "fuzz_tok_unigram: %s\n", akidb_last_error());
            abort();
        }
        ft_setup(&toks[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_once();
    for (size_t i = 0; i < 3; i++) {
        akidb_tokens full = {0};
        if (ft_check(&toks[i], data, size, &full)) {
            char *back = NULL;
            size_t len = 0, bad;
            if (akidb_tokenizer_decode(toks[i].tok, full.ids, full.n, (int)(size & 1), &back,
                                       &len) != AKIDB_OK)
                FT_DIE("%s: decode: %s", toks[i].name, akidb_last_error());
            if (!ak_utf8_valid(back, len, &bad))
                FT_DIE("%s: decode gave malformed UTF-8 at %zu", toks[i].name, bad);
            akidb_string_free(back);
        }
        akidb_tokens_free(&full);
    }
    return 0;
}
