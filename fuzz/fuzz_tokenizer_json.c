/*
 * fuzz_tokenizer_json.c - libFuzzer target: the tokenizer.json loader on
 * arbitrary bytes must either build a tokenizer or fail with a status, never
 * crash or leak.  A tokenizer that loads is also used once, so that what the
 * loader accepted is exercised by the encoder.
 */
#include "akidb.h"
#include "text/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    akidb_tokenizer *tok = NULL;
    if (ak_tokenizer_from_json((const char *)data, size, "fuzz.json", &tok) != AKIDB_OK)
        return 0;
    static const char text[] = "Hello, [CLS] w\xC3\xB6rld! \xE4\xBD\xA0\xE5\xA5\xBD ab##c";
    akidb_tokens t = {0};
    akidb_tokenizer_encode(tok, text, sizeof text - 1, 0, &t);
    akidb_tokenizer_encode(tok, text, sizeof text - 1, 4, &t);
    for (size_t i = 0; i < t.n; i++)
        (void)akidb_tokenizer_id_to_token(tok, t.ids[i]);
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
    return 0;
}
