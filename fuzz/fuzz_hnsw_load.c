/*
 * fuzz_hnsw_load.c - libFuzzer target for the HNSW image loader
 * (ak_hnsw_load_buf).  The loader must reject every malformed image with a
 * clean error and never crash, read out of bounds or leak.
 *
 * Input: byte 0 selects the mode, the rest is the image.  Mode bit 0 set:
 * the trailing checksum is recomputed before loading, so mutations reach the
 * structural checks behind it (counts, offsets, labels, link targets, entry
 * point) instead of stopping at "checksum mismatch".  An image that loads is
 * validated, searched and saved again.
 */
#include "index/index.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fuzzer entry point: always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    size_t len = size - 1;
    unsigned char *img = malloc(len ? len : 1);
    if (!img)
        return 0;
    memcpy(img, data + 1, len);
    if ((mode & 1) && len >= 96 + 8) {
        uint64_t total;
        memcpy(&total, img + 16, 8);
        if (total >= 16 && total <= len) {
            uint64_t s = ak_index_hash64(img, (size_t)total - 8, 0);
            memcpy(img + total - 8, &s, 8);
        }
    }
    ak_hnsw *h = NULL;
    if (ak_hnsw_load_buf(img, len, &h, NULL) == AKIDB_OK) {
        if (ak_hnsw_validate(h, false) != AKIDB_OK)
            abort(); /* the loader accepted what the validator rejects */
        ak_hnsw_params p = ak_hnsw_get_params(h);
        float *q = calloc(p.dim, sizeof *q);
        if (q) {
            q[0] = 1.0f;
            ak_hit hits[8];
            size_t n;
            ak_hnsw_search(h, q, 8, 16, NULL, NULL, hits, &n);
            ak_exact_search(h, q, 8, NULL, NULL, hits, &n);
            free(q);
        }
        void *buf;
        size_t blen;
        if (ak_hnsw_save_buf(h, &buf, &blen) == AKIDB_OK)
            ak_free(buf);
        ak_hnsw_free(h);
    }
    free(img);
    return 0;
}
