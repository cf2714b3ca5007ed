/*
 * fuzz_tokenize.c - libFuzzer target: encoding arbitrary bytes with the
 * all-MiniLM-L6-v2 tokenizer (tests/data/minilm, loaded once, found from
 * any working directory: fuzz_data.h).  Checks the
 * encoder's contract on every input: malformed UTF-8 is EUTF8, otherwise the
 * ids are in the vocabulary, truncation keeps [CLS] ... [SEP] within the
 * limit, and the truncated ids are a prefix of the full ones.
 */
#include "akidb.h"
#include "fuzz_data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static akidb_tokenizer *tok;

static void load_once(void)
{
    if (tok)
        return;
    char dir[4096];
    fz_data_path(dir, sizeof dir, "tests/data/minilm");
    if (akidb_tokenizer_load(dir, &tok) != AKIDB_OK) {
        fprintf(stderr, "fuzz_tokenize: %s\n", akidb_last_error());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_once();
    akidb_tokens full = {0}, cut = {0};
    akidb_status st = akidb_tokenizer_encode(tok, (const char *)data, size, 0, &full);
    if (st != AKIDB_OK) {
        if (st != AKIDB_EUTF8)
            abort();
        return 0;
    }
    size_t vs = akidb_tokenizer_vocab_size(tok);
    for (size_t i = 0; i < full.n; i++)
        if (full.ids[i] < 0 || (size_t)full.ids[i] >= vs)
            abort();
    size_t max = 2 + size % 7;
    if (akidb_tokenizer_encode(tok, (const char *)data, size, max, &cut) != AKIDB_OK)
        abort();
    if (cut.n > max || cut.n < 2 || cut.ids[0] != 101 || cut.ids[cut.n - 1] != 102)
        abort();
    if (full.n <= max ? cut.n != full.n : cut.n != max)
        abort();
    if (memcmp(cut.ids, full.ids, (cut.n - 1) * sizeof *cut.ids) != 0)
        abort();
    akidb_tokens_free(&full);
    akidb_tokens_free(&cut);
    return 0;
}
