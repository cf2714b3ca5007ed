/*
 * vocab.c - string pool + open-addressing hash table mapping tokens to ids
 * (see vocab.h for the layout and why the key comes in two parts).
 *
 * The hash reads the key 8 bytes at a time (a key in two parts is first
 * copied together when it is short, as nearly every token is) and ends with
 * a full avalanche, so that the slot index (its low bits) depends on every
 * byte.
 */
#include "vocab.h"

#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *ak_table_alloc(size_t bytes, int fill)
{
    void *p;
    if (bytes < HUGE_PAGE) {
        p = ak_malloc(bytes);
    } else {
        size_t n = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
        p = ak_malloc_aligned(n, HUGE_PAGE);
#ifdef MADV_HUGEPAGE
        if (p)
            (void)madvise(p, n, MADV_HUGEPAGE);   /* advice only */
#endif
    }
    if (p && fill >= 0)
        memset(p, fill, bytes);
    return p;
}

void ak_table_free(void *p)
{
    ak_free_aligned(p);
}

#define K1 0x9e3779b97f4a7c15ull
#define K2 0xff51afd7ed558ccdull
#define K3 0xc4ceb9fe1a85ec53ull

static inline uint64_t rotl(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

static inline uint64_t mix_word(uint64_t h, uint64_t w)
{
    return rotl(h ^ (w * K1), 29) * K3;
}

static inline uint64_t finish(uint64_t h)
{
    h ^= h >> 33;
    h *= K2;
    h ^= h >> 33;
    h *= K3;
    h ^= h >> 33;
    return h;
}

/* The hash of p[0..n) (contiguous). */
static uint64_t hash_mem(const char *p, size_t n)
{
    uint64_t h = (uint64_t)n * K2, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = mix_word(h, w);
    }
    if (n) {
        w = 0;
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)p[i] << (8 * i);
        h = mix_word(h, w);
    }
    return finish(h);
}

uint64_t ak_vocab_hash2(const char *a, size_t an, const char *b, size_t bn)
{
    if (bn == 0)
        return hash_mem(a, an);
    if (an == 0)
        return hash_mem(b, bn);
    char buf[128];
    if (an + bn <= sizeof buf) {
        memcpy(buf, a, an);
        memcpy(buf + an, b, bn);
        return hash_mem(buf, an + bn);
    }
    /* A long key: the same words, gathered a byte at a time. */
    size_t n = an + bn;
    uint64_t h = (uint64_t)n * K2, w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(i < an ? a[i] : b[i - an]);
        w |= (uint64_t)c << (8 * (i & 7));
        if ((i & 7) == 7) {
            h = mix_word(h, w);
            w = 0;
        }
    }
    if (n & 7)
        h = mix_word(h, w);
    return finish(h);
}

akidb_status ak_vocab_init(ak_vocab *v, size_t max_entries, size_t pool_hint)
{
    memset(v, 0, sizeof *v);
    if (max_entries > UINT32_MAX / 16 || pool_hint > UINT32_MAX / 2)
        return ak_fail(AKIDB_ETOOLONG, "vocabulary of %zu entries is too large", max_entries);
    size_t nslots = 16;
    while (nslots < max_entries + max_entries / 2 + 1)   /* load <= 2/3 */
        nslots <<= 1;
    v->max_n = max_entries ? max_entries : 1;
    v->pool_cap = pool_hint + max_entries * AK_VOCAB_KEY_OVERHEAD + 16;
    v->slots = ak_table_alloc(nslots * sizeof *v->slots, 0xff);   /* id -1: empty */
    v->pool = ak_table_alloc(v->pool_cap, -1);
    v->mask = nslots - 1;
    if (!v->slots || !v->pool) {
        ak_vocab_free(v);
        return ak_fail(AKIDB_ENOMEM, "out of memory for a vocabulary of %zu entries",
                       max_entries);
    }
    return AKIDB_OK;
}

/* The head of the key a + b (see ak_vocab_slot). */
static inline uint64_t head2(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an + bn, m = n < 7 ? n : 7;
    uint64_t h = 0;
    for (size_t i = 0; i < m; i++)
        h |= (uint64_t)(unsigned char)(i < an ? a[i] : b[i - an]) << (8 * i);
    uint64_t lb = n <= 7 ? n : 0x80 | (n < 127 ? n : 127);
    return h | lb << 56;
}

/* The bytes from `from` on of the key a + b equal k[from ..]. */
static inline bool rest_eq(const char *k, size_t from, const char *a, size_t an,
                           const char *b, size_t bn)
{
    if (from < an && memcmp(k + from, a + from, an - from) != 0)
        return false;
    size_t bf = from > an ? from - an : 0;
    return bf >= bn || memcmp(k + an + bf, b + bf, bn - bf) == 0;
}

/* Slot of the key a + b (hash h), or the empty slot where it would go. */
static inline size_t probe(const ak_vocab *v, uint64_t h, const char *a, size_t an,
                           const char *b, size_t bn)
{
    uint64_t head = head2(a, an, b, bn);
    size_t n = an + bn;
    for (size_t i = h & v->mask;; i = (i + 1) & v->mask) {
        const ak_vocab_slot *s = &v->slots[i];
        if (s->id < 0)
            return i;
        if (s->head != head)
            continue;
        if (n <= 7)
            return i;                      /* the head is the whole key */
        uint32_t len;
        memcpy(&len, v->pool + s->off - 8, 4);
        if (len == n && rest_eq(v->pool + s->off, 7, a, an, b, bn))
            return i;
    }
}

static akidb_status insert(ak_vocab *v, size_t i, const char *s, size_t n, int32_t id)
{
    AK_ASSERT(v->n < v->max_n && id >= 0);
    size_t need = v->pool_len + n + AK_VOCAB_KEY_OVERHEAD;
    if (need > v->pool_cap) {
        size_t nc = v->pool_cap * 2 > need ? v->pool_cap * 2 : need;
        if (nc > UINT32_MAX)
            nc = UINT32_MAX;
        if (need > nc)
            return ak_fail(AKIDB_ETOOLONG, "vocabulary text exceeds 4 GiB");
        char *np = ak_table_alloc(nc, -1);
        if (!np)
            return ak_fail(AKIDB_ENOMEM, "out of memory for vocabulary text");
        memcpy(np, v->pool, v->pool_len);
        ak_table_free(v->pool);
        v->pool = np;
        v->pool_cap = nc;
    }
    char *e = v->pool + v->pool_len;
    uint32_t len = (uint32_t)n;
    memcpy(e, &len, 4);
    memcpy(e + 4, &id, 4);
    memcpy(e + 8, s, n);
    e[8 + n] = '\0';
    v->slots[i] = (ak_vocab_slot){head2(s, n, "", 0), id, (uint32_t)(v->pool_len + 8)};
    v->pool_len = need;
    v->n++;
    if (n > v->max_len)
        v->max_len = n;
    return AKIDB_OK;
}

/* Adds s -> id (h: its hash), or finds s: *slot is its slot either way. */
static akidb_status add(ak_vocab *v, uint64_t h, const char *s, size_t n, int32_t id,
                        size_t *slot, bool *added)
{
    *added = false;
    if (n > UINT32_MAX / 2)
        return ak_fail(AKIDB_ETOOLONG, "token of %zu bytes is too long", n);
    size_t i = probe(v, h, s, n, "", 0);
    *slot = i;
    if (v->slots[i].id >= 0)
        return AKIDB_OK;
    *added = true;
    return insert(v, i, s, n, id);
}

akidb_status ak_vocab_add_hashed(ak_vocab *v, uint64_t h, const char *s, size_t n,
                                 int32_t id, int32_t *old)
{
    size_t i = 0;
    bool added;
    akidb_status st = add(v, h, s, n, id, &i, &added);
    *old = st == AKIDB_OK && !added ? v->slots[i].id : -1;
    return st;
}

akidb_status ak_vocab_add(ak_vocab *v, const char *s, size_t n, int32_t id, int32_t *old)
{
    return ak_vocab_add_hashed(v, hash_mem(s, n), s, n, id, old);
}

akidb_status ak_vocab_put(ak_vocab *v, const char *s, size_t n, int32_t id)
{
    size_t i = 0;
    bool added;
    AK_ASSERT(id >= 0);
    akidb_status st = add(v, hash_mem(s, n), s, n, id, &i, &added);
    if (st == AKIDB_OK && !added) {
        v->slots[i].id = id;
        memcpy(v->pool + v->slots[i].off - 4, &id, 4);
    }
    return st;
}

int32_t ak_vocab_find(const ak_vocab *v, uint64_t h, const char *a, size_t an,
                      const char *b, size_t bn)
{
    if (!v->slots)
        return -1;
    return v->slots[probe(v, h, a, an, b, bn)].id;
}

int32_t ak_vocab_get2(const ak_vocab *v, const char *a, size_t an, const char *b,
                      size_t bn)
{
    if (!v->slots)
        return -1;
    return ak_vocab_find(v, ak_vocab_hash2(a, an, b, bn), a, an, b, bn);
}

void ak_vocab_free(ak_vocab *v)
{
    ak_table_free(v->pool);
    ak_table_free(v->slots);
    memset(v, 0, sizeof *v);
}
