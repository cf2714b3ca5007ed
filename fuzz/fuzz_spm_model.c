/*
 * fuzz_spm_model.c - libFuzzer target: the sentencepiece .model loader
 * (src/text/spm_model.c: the ModelProto protobuf, the converters and the
 * Precompiled charsmap they carry over) on arbitrary bytes.  It must build a
 * tokenizer or fail with a status, never crash or leak.  A tokenizer that
 * loads is used once (encode, a truncated encode, decode), so that what the
 * loader accepted is exercised by the pipeline.
 *
 * The first byte picks the converter (its value mod 6: the file name and
 * tokenizer_config.json the loader sees, table `routes`); the rest is the
 * .model file.  The seeds in fuzz/corpus/fuzz_spm_model/ are that byte and
 * small models trained with Debian's spm_train on a few English lines:
 *   uni:       --model_type=unigram --vocab_size=40 --normalization_rule_name=identity
 *   uni_rules: the same with --normalization_rule_tsv (A->a, B->b, U+FF01->!,
 *              U+3000->space: a small Precompiled charsmap)
 *   bpe_bf:    --model_type=bpe --vocab_size=300 --byte_fallback=true
 * (all with --hard_vocab_limit=false), and a truncated one.
 */
#include "akidb.h"
#include "text/spm_model.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct {
    const char *origin, *config;
} routes[6] = {
    {"sentencepiece.bpe.model", NULL},
    {"spiece.model", NULL},
    {"tokenizer.model", NULL},
    {"tokenizer.model", "{\"tokenizer_class\": \"LlamaTokenizer\", \"legacy\": false}"},
    {"tokenizer.model",
     "{\"tokenizer_class\": \"LlamaTokenizer\", \"add_prefix_space\": false}"},
    {"spiece.model", "{\"tokenizer_class\": \"T5Tokenizer\", \"extra_ids\": 3}"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned r = data[0] % 6;
    const char *cfg = routes[r].config;
    akidb_tokenizer *tok = NULL;
    if (ak_tokenizer_from_spm_bytes(data + 1, size - 1, cfg, cfg ? strlen(cfg) : 0,
                                    routes[r].origin, &tok) != AKIDB_OK)
        return 0;
    static const char text[] = "Hello  <s> w\xC3\xB6rld!\xEF\xBC\x81 \xE4\xBD\xA0\xE5\xA5\xBD "
                               "\xE2\x96\x81x\tAB 12345 \xF0\x9F\x98\x80";
    akidb_tokens t = {0};
    if (akidb_tokenizer_encode(tok, text, sizeof text - 1, 0, &t) == AKIDB_OK) {
        char *back = NULL;
        if (akidb_tokenizer_decode(tok, t.ids, t.n, 0, &back, NULL) == AKIDB_OK)
            akidb_string_free(back);
    }
    akidb_tokenizer_encode(tok, text, sizeof text - 1, 5, &t);
    for (size_t i = 0; i < t.n; i++)
        (void)akidb_tokenizer_id_to_token(tok, t.ids[i]);
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
    return 0;
}
