/*
 * vocab.c - string pool + open-addressing hash table mapping tokens to ids
 * (see vocab.h for why the key comes in two parts).
 */
#include "vocab.h"

#include <string.h>

/* FNV-1a over two byte strings, then a final avalanche so that the low bits
 * used for the slot index depend on every input byte. */
static uint64_t hash2(const char *a, size_t an, const char *b, size_t bn)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < an; i++)
        h = (h ^ (unsigned char)a[i]) * 0x100000001b3ull;
    for (size_t i = 0; i < bn; i++)
        h = (h ^ (unsigned char)b[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

akidb_status ak_vocab_init(ak_vocab *v, size_t max_entries, size_t pool_hint)
{
    memset(v, 0, sizeof *v);
    if (max_entries > UINT32_MAX / 4)
        return ak_fail(AKIDB_ETOOLONG, "vocabulary of %zu entries is too large", max_entries);
    size_t nslots = 16;
    while (nslots < max_entries * 2)
        nslots <<= 1;
    v->cap = max_entries ? max_entries : 1;
    v->pool_cap = pool_hint + 16;
    v->off = ak_malloc(v->cap * sizeof *v->off);
    v->len = ak_malloc(v->cap * sizeof *v->len);
    v->id = ak_malloc(v->cap * sizeof *v->id);
    v->slots = ak_calloc(nslots, sizeof *v->slots);
    v->pool = ak_malloc(v->pool_cap);
    v->mask = nslots - 1;
    if (!v->off || !v->len || !v->id || !v->slots || !v->pool) {
        ak_vocab_free(v);
        return ak_fail(AKIDB_ENOMEM, "out of memory for a vocabulary of %zu entries",
                       max_entries);
    }
    return AKIDB_OK;
}

static bool key_eq(const ak_vocab *v, uint32_t e, const char *a, size_t an, const char *b,
                   size_t bn)
{
    if (v->len[e] != an + bn)
        return false;
    const char *k = v->pool + v->off[e];
    return memcmp(k, a, an) == 0 && memcmp(k + an, b, bn) == 0;
}

akidb_status ak_vocab_put(ak_vocab *v, const char *s, size_t n, int32_t id)
{
    if (n > UINT32_MAX / 2)
        return ak_fail(AKIDB_ETOOLONG, "token of %zu bytes is too long", n);
    size_t i = hash2(s, n, "", 0) & v->mask;
    while (v->slots[i]) {
        uint32_t e = v->slots[i] - 1;
        if (key_eq(v, e, s, n, "", 0)) {
            v->id[e] = id;
            return AKIDB_OK;
        }
        i = (i + 1) & v->mask;
    }
    AK_ASSERT(v->n < v->cap);
    if (v->pool_len + n + 1 > v->pool_cap) {
        size_t nc = v->pool_cap * 2 > v->pool_len + n + 1 ? v->pool_cap * 2
                                                           : v->pool_len + n + 1;
        if (nc > UINT32_MAX)
            return ak_fail(AKIDB_ETOOLONG, "vocabulary text exceeds 4 GiB");
        char *np = ak_realloc(v->pool, nc);
        if (!np)
            return ak_fail(AKIDB_ENOMEM, "out of memory for vocabulary text");
        v->pool = np;
        v->pool_cap = nc;
    }
    memcpy(v->pool + v->pool_len, s, n);
    v->pool[v->pool_len + n] = '\0';
    v->off[v->n] = (uint32_t)v->pool_len;
    v->len[v->n] = (uint32_t)n;
    v->id[v->n] = id;
    v->pool_len += n + 1;
    v->slots[i] = (uint32_t)++v->n;
    if (n > v->max_len)
        v->max_len = n;
    return AKIDB_OK;
}

int32_t ak_vocab_get2(const ak_vocab *v, const char *a, size_t an, const char *b,
                      size_t bn)
{
    if (!v->slots)
        return -1;
    size_t i = hash2(a, an, b, bn) & v->mask;
    while (v->slots[i]) {
        uint32_t e = v->slots[i] - 1;
        if (key_eq(v, e, a, an, b, bn))
            return v->id[e];
        i = (i + 1) & v->mask;
    }
    return -1;
}

void ak_vocab_free(ak_vocab *v)
{
    ak_free(v->pool);
    ak_free(v->off);
    ak_free(v->len);
    ak_free(v->id);
    ak_free(v->slots);
    memset(v, 0, sizeof *v);
}
