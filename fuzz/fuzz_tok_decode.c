/*
 * fuzz_tok_decode.c - libFuzzer target: arbitrary id arrays through
 * akidb_tokenizer_decode (src/text/decode.c and the decoders,
 * src/text/dec_*.c).  Tokenizers, loaded once (from the source folder, see
 * fuzz_data.h):
 *   qwen2 (tests/data/bpe/qwen2: ByteLevel), llama (tests/data/spm/llama:
 *   Replace, ByteFallback, Fuse, Strip), xlmr and ident_bytes
 *   (tests/data/spm: Metaspace), minilm (tests/data/minilm: WordPiece with
 *   cleanup), and one tokenizer.json per entry of `chains` below, each a
 *   decoder chain over the small vocabulary `zoo_vocab` (byte tokens,
 *   sentencepiece and GPT-2 spaces, ## and </w> pieces, CTC pads).
 * Input: byte 0 picks the tokenizer, byte 1 bit 0 skip_special_tokens, the
 * rest little-endian 16-bit values mapped onto ids -2 .. vocab size + 1 (so
 * unknown and negative ids occur).  Checked: the call succeeds, *len is the
 * NUL-terminated length written, and the text is valid UTF-8 (as the Rust
 * library's decode always returns a String: bytes that do not form UTF-8
 * become U+FFFD).
 */
#include "akidb.h"
#include "common/common.h"
#include "text/spm_model.h"
#include "text/tokenizer.h"
#include "fuzz_data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char zoo_vocab[] =
    "{\"<pad>\":0,\"<unk>\":1,\"<s>\":2,\"|\":3,\"<0x00>\":4,\"<0x41>\":5,\"<0xC3>\":6,"
    "\"<0xA9>\":7,\"<0xE2>\":8,\"<0x96>\":9,\"<0x81>\":10,\"<0xFF>\":11,\"<0x20>\":12,"
    "\"\\u2581\":13,\"\\u2581a\":14,\"a\":15,\"b\":16,\"##b\":17,\"##\":18,\"</w>\":19,"
    "\"a</w>\":20,\" \":21,\"  \":22,\"\\u0120\":23,\"\\u0120a\":24,\"\\u00e9\":25,"
    "\"\\u0109\":26,\".\":27,\"'s\":28,\"n't\":29,\"?\":30,\"\\u2581\\u2581\":31,"
    "\"##\\u00e9\":32,\"\\u00c3\":33,\"\\u00a9\":34,\"do\":35,\",\":36,\"<0x0A>\":37,"
    "\"\\ud83d\\ude00\":38,\"\\u2581<0x41>\":39}";

static const char *const chains[] = {
    "{\"type\":\"BPEDecoder\",\"suffix\":\"</w>\"}",
    "{\"type\":\"CTC\",\"pad_token\":\"<pad>\",\"word_delimiter_token\":\"|\",\"cleanup\":true}",
    "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":"
    "\"\\u2581\"},\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
    "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":1}]}",
    "{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true}",
    "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\","
    "\"split\":true}",
    "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
    "\"use_regex\":true}",
    "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"ByteFallback\"},{\"type\":"
    "\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\",\"split\":false},"
    "{\"type\":\"Strip\",\"content\":\"a\",\"start\":2,\"stop\":3},{\"type\":\"Replace\","
    "\"pattern\":{\"Regex\":\"\\\\s+\"},\"content\":\"_\"}]}",
    "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"CTC\",\"pad_token\":\"<pad>\","
    "\"word_delimiter_token\":\"\\u2581\",\"cleanup\":false},{\"type\":\"ByteLevel\","
    "\"add_prefix_space\":false,\"trim_offsets\":false},{\"type\":\"Fuse\"}]}",
};

#define N_CHAINS (sizeof chains / sizeof *chains)
#define N_FIXED 5
#define N_TOKS (N_FIXED + N_CHAINS)

static akidb_tokenizer *toks[N_TOKS];

static void die_load(const char *what)
{
    fprintf(stderr, "fuzz_tok_decode: %s: %s\n", what, akidb_last_error());
    abort();
}

static void path_of(char *buf, size_t n, const char *rel)
{
    fz_data_path(buf, n, rel);
}

static void load_once(void)
{
    if (toks[0])
        return;
    char path[4096];
    static const char *const dirs[] = {"tests/data/bpe/qwen2", "tests/data/minilm"};
    for (size_t i = 0; i < 2; i++) {
        path_of(path, sizeof path, dirs[i]);
        if (akidb_tokenizer_load(path, &toks[i]) != AKIDB_OK)
            die_load(path);
    }
    static const char *const spm[] = {"tests/data/spm/llama/tokenizer.model",
                                      "tests/data/spm/xlmr/sentencepiece.bpe.model",
                                      "tests/data/spm/ident_bytes/tokenizer.model"};
    for (size_t i = 0; i < 3; i++) {
        path_of(path, sizeof path, spm[i]);
        if (ak_tokenizer_from_spm(path, NULL, &toks[2 + i]) != AKIDB_OK)
            die_load(path);
    }
    for (size_t i = 0; i < N_CHAINS; i++) {
        char json[4096];
        int n = snprintf(json, sizeof json,
                         "{\"model\":{\"type\":\"BPE\",\"vocab\":%s,\"merges\":[]},"
                         "\"added_tokens\":[{\"id\":2,\"content\":\"<s>\",\"single_word\":false,"
                         "\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
                         "\"special\":true}],\"decoder\":%s}",
                         zoo_vocab, chains[i]);
        if (n < 0 || (size_t)n >= sizeof json)
            abort();
        char name[32];
        snprintf(name, sizeof name, "chain%zu.json", i);
        if (ak_tokenizer_from_json(json, (size_t)n, name, &toks[N_FIXED + i]) != AKIDB_OK)
            die_load(name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_once();
    if (size < 2)
        return 0;
    const akidb_tokenizer *tok = toks[data[0] % N_TOKS];
    int skip = data[1] & 1;
    size_t n = (size - 2) / 2;
    size_t vs = akidb_tokenizer_vocab_size(tok);
    int32_t *ids = ak_malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned v = data[2 + 2 * i] | (unsigned)data[3 + 2 * i] << 8;
        ids[i] = (int32_t)(v % (vs + 4)) - 2;
    }
    char *text = NULL;
    size_t len = 0, bad;
    if (akidb_tokenizer_decode(tok, ids, n, skip, &text, &len) != AKIDB_OK) {
        fprintf(stderr, "fuzz_tok_decode: %s\n", akidb_last_error());
        abort();
    }
    if (!text || text[len] != 0) {
        fprintf(stderr, "fuzz_tok_decode: the text is not NUL-terminated at *len\n");
        abort();
    }
    if (!ak_utf8_valid(text, len, &bad)) {
        fprintf(stderr, "fuzz_tok_decode: malformed UTF-8 at byte %zu of %zu\n", bad, len);
        abort();
    }
    akidb_string_free(text);
    ak_free(ids);
    return 0;
}
