/*
 * fuzz_filter.c - libFuzzer target for the payload filter language: parses
 * arbitrary bytes as a filter and, when that succeeds, matches it against a
 * few fixed payloads.  Must never crash, leak or read out of bounds.
 */
#include "store/filter.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *pays[3];
    if (!pays[0]) {
        ak_json_init();
        pays[0] = json_loads("{\"a\":1,\"b\":\"x\",\"tags\":[\"r\",2,null],\"n\":{\"x\":true}}", 0, NULL);
        pays[1] = json_loads("{}", 0, NULL);
        pays[2] = NULL;
    }
    ak_filter *f = NULL;
    if (ak_filter_parse((const char *)data, size, &f) == AKIDB_OK) {
        for (int i = 0; i < 3; i++)
            (void)ak_filter_match(f, pays[i]);
        ak_filter_free(f);
    }
    return 0;
}
