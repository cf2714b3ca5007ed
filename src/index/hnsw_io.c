/*
 * hnsw_io.c - serialisation of an ak_hnsw (save to a buffer or a file
 * descriptor, the latter through the file-I/O layer src/common/fileio.c;
 * load back) and the graph validator.
 *
 * The format (documented in index.h) is the in-memory layout written out
 * array by array, so saving is a few large sequential writes and loading a
 * few copies; a trailing 64-bit checksum covers every byte.  The loader
 * trusts nothing: it checks the checksum first, then every size against the
 * bytes present before using it, every label for uniqueness, every link
 * target for range/level/liveness, and the entry point, and reports the
 * first problem as AKIDB_ECORRUPT.  The validator runs the same structural
 * checks on a live index (tests call it after every kind of mutation).
 * SQ8 (sq8.c) adds its settings in header bytes that were reserved and its
 * code rows after the links; an image without SQ8 is byte for byte the
 * image of before, so old files load as they always did.
 */
#include "index/hnsw_internal.h"

#include "common/fileio.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the index file format is written for little-endian hosts"
#endif

#define HDR_SIZE 96u
/* the kind's magic, "AKHNSW\0\1" (hnsw_kind.c) */
#define MAGIC (ak_index_hnsw.magic)
#define FORMAT_VERSION 1u
/* Quantisation flags at header offset 68 (index.h). */
#define QF_SQ8 1u
#define QF_SQ8_CODES 2u

/* ---- checksum (streaming) ---------------------------------------------------
 * Four 64-bit lanes each absorb one little-endian 8-byte word per 32-byte
 * block by lane = rotl((lane ^ word) * K2, 29); the lanes are combined, the
 * remaining words and bytes folded in one at a time, the length mixed in and
 * the result avalanched.  Not cryptographic: it detects corruption. */
typedef struct hstate {
    uint64_t l[4];
    unsigned char buf[32];
    size_t nbuf;
    uint64_t total;
} hstate;

static const uint64_t K1 = 0x9E3779B97F4A7C15ull, K2 = 0xC2B2AE3D27D4EB4Full;
static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static void h_init(hstate *s, uint64_t seed)
{
    s->l[0] = seed ^ K1;
    s->l[1] = seed ^ K2;
    s->l[2] = seed + K1;
    s->l[3] = seed - K2;
    s->nbuf = 0;
    s->total = 0;
}

static inline void h_block(hstate *s, const unsigned char *p)
{
    for (int j = 0; j < 4; j++) {
        uint64_t w;
        memcpy(&w, p + 8 * j, 8);
        s->l[j] = rotl64((s->l[j] ^ w) * K2, 29);
    }
}

static void h_update(hstate *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->total += len;
    if (s->nbuf) {
        size_t t = 32 - s->nbuf;
        if (t > len) t = len;
        memcpy(s->buf + s->nbuf, p, t);
        s->nbuf += t;
        p += t;
        len -= t;
        if (s->nbuf < 32)
            return;
        h_block(s, s->buf);
        s->nbuf = 0;
    }
    for (; len >= 32; p += 32, len -= 32)
        h_block(s, p);
    memcpy(s->buf, p, len);
    s->nbuf = len;
}

static uint64_t h_final(const hstate *s)
{
    uint64_t h = rotl64(s->l[0], 1) + rotl64(s->l[1], 7) + rotl64(s->l[2], 12) + rotl64(s->l[3], 18);
    size_t i = 0;
    for (; i + 8 <= s->nbuf; i += 8) {
        uint64_t w;
        memcpy(&w, s->buf + i, 8);
        h = rotl64((h ^ w) * K1, 31) * K2;
    }
    for (; i < s->nbuf; i++)
        h = rotl64((h ^ s->buf[i]) * K1, 11);
    h ^= s->total;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 33;
    return h;
}

uint64_t ak_index_hash64(const void *data, size_t len, uint64_t seed)
{
    hstate s;
    h_init(&s, seed);
    h_update(&s, data, len);
    return h_final(&s);
}

/* ---- writer ----------------------------------------------------------------- */

typedef struct writer {
    unsigned char *out;   /* buffer mode: destination */
    size_t pos;
    int fd;               /* fd mode */
    unsigned char chunk[1 << 16];
    size_t nchunk;
    hstate hs;
    akidb_status err;
} writer;

static void w_flush(writer *w)
{
    if (!w->err && w->nchunk)
        w->err = ak_io_write_all(w->fd, w->chunk, w->nchunk, "HNSW index");
    w->nchunk = 0;
}

static void w_put(writer *w, const void *data, size_t n, bool hash)
{
    if (w->err)
        return;
    if (hash)
        h_update(&w->hs, data, n);
    if (w->out) {
        memcpy(w->out + w->pos, data, n);
        w->pos += n;
        return;
    }
    const unsigned char *p = data;
    while (n) {
        size_t t = sizeof w->chunk - w->nchunk;
        if (t > n) t = n;
        memcpy(w->chunk + w->nchunk, p, t);
        w->nchunk += t;
        p += t;
        n -= t;
        w->pos += t;
        if (w->nchunk == sizeof w->chunk)
            w_flush(w);
    }
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static size_t pad4(size_t n) { return (4 - (n & 3)) & 3; }

static size_t size_locked(const ak_hnsw *h)
{
    size_t n = h->n_slots;
    size_t b = HDR_SIZE + n * 4 + n + pad4(n);
    b += n * h->dim * sizeof(float);
    b += n * (1 + h->M0) * sizeof(uint32_t);
    for (uint32_t s = 0; s < h->n_slots; s++)
        if (h->state[s] == SLOT_LIVE)
            b += (size_t)h->level[s] * (1 + h->M) * sizeof(uint32_t);
    if (h->sq.trained)
        b += n * h->dim;
    return b + 8;
}

/* One link list of cap ids as stored: the count, its ids, and zeros for
 * the words past the count (never read; stale ids from earlier lists or
 * uninitialised memory would otherwise make two images of the same graph
 * differ). */
static void put_links(writer *w, const uint32_t *l, uint32_t cap)
{
    static const uint32_t zeros[2 * AK_HNSW_MAX_M] = { 0 };
    uint32_t c = l[0] <= cap ? l[0] : cap;
    w_put(w, l, (1 + (size_t)c) * sizeof *l, true);
    if (c < cap)
        w_put(w, zeros, (size_t)(cap - c) * sizeof *l, true);
}

static void serialize(const ak_hnsw *h, writer *w, size_t total)
{
    unsigned char hd[HDR_SIZE];
    memset(hd, 0, sizeof hd);
    memcpy(hd, MAGIC, 8);
    put32(hd + 8, FORMAT_VERSION);
    put32(hd + 12, HDR_SIZE);
    put64(hd + 16, total);
    put32(hd + 24, h->dim);
    put32(hd + 28, (uint32_t)h->metric);
    put32(hd + 32, h->M);
    put32(hd + 36, h->efc);
    put64(hd + 40, h->rng);
    put32(hd + 48, h->n_slots);
    put32(hd + 52, h->count);
    put32(hd + 56, h->ep);
    put32(hd + 60, (uint32_t)(int32_t)h->max_level);
    put32(hd + 64, 0);
    if (h->sq.on) {
        put32(hd + 68, QF_SQ8 | (h->sq.trained ? QF_SQ8_CODES : 0));
        memcpy(hd + 72, &h->sq.quantile, 4);
        if (h->sq.trained) {
            memcpy(hd + 76, &h->sq.lo, 4);
            memcpy(hd + 80, &h->sq.step, 4);
        }
    }
    h_init(&w->hs, 0);
    w_put(w, hd, sizeof hd, true);
    uint32_t n = h->n_slots;
    /* labels: a pending slot (add in progress) cannot exist, adds are gated */
    for (uint32_t s = 0; s < n; s++) {
        uint32_t lab = h->state[s] == SLOT_LIVE ? h->slot_label[s] : AK_NONE;
        unsigned char b[4];
        put32(b, lab);
        w_put(w, b, 4, true);
    }
    for (uint32_t s = 0; s < n; s++) {
        uint8_t lv = h->state[s] == SLOT_LIVE ? h->level[s] : 0;
        w_put(w, &lv, 1, true);
    }
    static const unsigned char zero[4] = { 0 };
    w_put(w, zero, pad4(n), true);
    w_put(w, h->vecs, (size_t)n * h->dim * sizeof(float), true);
    for (uint32_t s = 0; s < n; s++)
        put_links(w, ak_links(h, s, 0), h->M0);
    for (uint32_t s = 0; s < n; s++)
        if (h->state[s] == SLOT_LIVE)
            for (int l = 1; l <= h->level[s]; l++)
                put_links(w, ak_links(h, s, l), h->M);
    if (h->sq.trained)   /* free slots' rows are zero (ak_sq8_wipe_slot) */
        w_put(w, h->sq.codes, (size_t)n * h->dim, true);
    unsigned char tr[8];
    put64(tr, h_final(&w->hs));
    w_put(w, tr, 8, false);
}

static void lock_for_save(const ak_hnsw *h)
{
    pthread_rwlock_wrlock((pthread_rwlock_t *)&h->gate);
    pthread_rwlock_rdlock((pthread_rwlock_t *)&h->lock);
}

static void unlock_for_save(const ak_hnsw *h)
{
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->lock);
    pthread_rwlock_unlock((pthread_rwlock_t *)&h->gate);
}

size_t ak_hnsw_serialized_size(const ak_hnsw *h)
{
    AK_ASSERT(h);
    lock_for_save(h);
    size_t n = size_locked(h);
    unlock_for_save(h);
    return n;
}

akidb_status ak_hnsw_save_buf(const ak_hnsw *h, void **buf, size_t *len)
{
    AK_ASSERT(h && buf && len);
    lock_for_save(h);
    size_t total = size_locked(h);
    writer *w = ak_calloc(1, sizeof *w);
    unsigned char *out = ak_malloc(total);
    if (!w || !out) {
        unlock_for_save(h);
        ak_free(w);
        ak_free(out);
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for a %zu-byte image", total);
    }
    w->out = out;
    serialize(h, w, total);
    unlock_for_save(h);
    AK_ASSERT(w->pos == total);
    ak_free(w);
    *buf = out;
    *len = total;
    return AKIDB_OK;
}

akidb_status ak_hnsw_save_fd(const ak_hnsw *h, int fd)
{
    AK_ASSERT(h && fd >= 0);
    writer *w = ak_calloc(1, sizeof *w);
    if (!w)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory");
    w->fd = fd;
    lock_for_save(h);
    size_t total = size_locked(h);
    serialize(h, w, total);
    if (!w->err)
        w_flush(w);
    unlock_for_save(h);
    akidb_status st = w->err;
    ak_free(w);
    return st;
}

/* ---- loader ----------------------------------------------------------------- */

#define CORRUPT(...) ak_fail(AKIDB_ECORRUPT, "hnsw image: " __VA_ARGS__)

/* An image's header and where its parts start, checked against len. */
typedef struct img {
    const unsigned char *p;
    uint64_t total;
    ak_hnsw_params prm;
    uint32_t n, count, ep, M0;
    int32_t maxl;
    uint64_t fixed;                          /* bytes of everything but upper links */
    uint64_t codes;                          /* bytes of SQ8 code rows (0: none) */
    float lo, step;                          /* SQ8 bounds when codes is not 0 */
    const unsigned char *lab, *lev, *vec, *l0, *up;
} img;

/* The quantisation settings at header bytes 68..83 into prm and m (m->codes
 * is 1 when code rows follow the links, m->lo and m->step their bounds). */
static akidb_status img_quant(const unsigned char *p, ak_hnsw_params *prm, img *m)
{
    uint32_t flags = get32(p + 68);
    float q, lo, step;
    memcpy(&q, p + 72, 4);
    memcpy(&lo, p + 76, 4);
    memcpy(&step, p + 80, 4);
    m->codes = 0;
    if (flags & ~(QF_SQ8 | QF_SQ8_CODES) || (flags == QF_SQ8_CODES))
        return CORRUPT("quantisation flags 0x%x unknown", flags);
    if (!flags) {
        for (int i = 72; i < 84; i++)
            if (p[i])
                return CORRUPT("quantisation byte %d is not zero without quantisation", i);
        return AKIDB_OK;
    }
    if (!(q >= 0.5f && q <= 1.0f))
        return CORRUPT("SQ8 quantile %g outside 0.5..1", (double)q);
    if (flags & QF_SQ8_CODES) {
        if (!isfinite(lo) || !(step > 0) || !isfinite(step))
            return CORRUPT("SQ8 bounds lo %g step %g invalid", (double)lo, (double)step);
        m->codes = 1;
    } else if (lo != 0 || step != 0) {
        return CORRUPT("SQ8 bounds set without code rows");
    }
    prm->quant = AK_QUANT_SQ8;
    prm->quantile = q;
    m->lo = lo;
    m->step = step;
    return AKIDB_OK;
}

/* Magic, version, sizes, checksum, reserved bytes and the parameters. */
static akidb_status img_header(const unsigned char *p, size_t len, img *m)
{
    if (len < HDR_SIZE + 8)
        return CORRUPT("truncated: %zu bytes, header needs %u", len, HDR_SIZE + 8);
    if (memcmp(p, MAGIC, 8) != 0)
        return CORRUPT("bad magic");
    uint32_t version = get32(p + 8);
    if (version != FORMAT_VERSION)
        return CORRUPT("unsupported version %u", version);
    if (get32(p + 12) != HDR_SIZE)
        return CORRUPT("header size %u, expected %u", get32(p + 12), HDR_SIZE);
    uint64_t total = get64(p + 16);
    if (total > len)
        return CORRUPT("truncated: total size %llu, only %zu bytes present",
                       (unsigned long long)total, len);
    if (total < HDR_SIZE + 8)
        return CORRUPT("total size %llu too small", (unsigned long long)total);
    uint64_t sum = ak_index_hash64(p, (size_t)total - 8, 0);
    if (sum != get64(p + total - 8))
        return CORRUPT("checksum mismatch");
    for (int i = 84; i < (int)HDR_SIZE; i++)
        if (p[i])
            return CORRUPT("reserved header byte %d is not zero", i);
    ak_hnsw_params prm = { 0 };
    akidb_status st = img_quant(p, &prm, m);
    if (st)
        return st;
    prm.dim = get32(p + 24);
    prm.metric = (ak_metric)get32(p + 28);
    prm.M = get32(p + 32);
    prm.ef_construction = get32(p + 36);
    if (prm.dim < 1 || prm.dim > AK_HNSW_MAX_DIM)
        return CORRUPT("dim %u out of range", prm.dim);
    if (get32(p + 28) > 2)
        return CORRUPT("metric %u unknown", get32(p + 28));
    if (prm.M < 2 || prm.M > AK_HNSW_MAX_M)
        return CORRUPT("M %u out of range", prm.M);
    if (prm.ef_construction == 0)
        return CORRUPT("ef_construction is 0");
    uint32_t n = get32(p + 48), count = get32(p + 52);
    if (count > n)
        return CORRUPT("count %u > slots %u", count, n);
    uint32_t M0 = 2 * prm.M;
    /* fixed part, in 64-bit arithmetic: n < 2^32, dim <= 2^16 */
    uint64_t codes = m->codes ? (uint64_t)n * prm.dim : 0;
    uint64_t fixed = (uint64_t)HDR_SIZE + (uint64_t)n * 5 + pad4(n) +
                     (uint64_t)n * prm.dim * 4 + (uint64_t)n * (1 + M0) * 4 + codes + 8;
    if (fixed > total)
        return CORRUPT("%u slots need %llu bytes, total is %llu", n,
                       (unsigned long long)fixed, (unsigned long long)total);
    prm.capacity = n;
    *m = (img){ .p = p, .total = total, .prm = prm, .n = n, .count = count,
                .ep = get32(p + 56), .M0 = M0, .maxl = (int32_t)get32(p + 60), .fixed = fixed,
                .codes = codes, .lo = m->lo, .step = m->step };
    m->lab = p + HDR_SIZE;
    m->lev = m->lab + (size_t)n * 4;
    m->vec = m->lev + n + pad4(n);
    m->l0 = m->vec + (size_t)n * prm.dim * 4;
    m->up = m->l0 + (size_t)n * (1 + M0) * 4;
    return AKIDB_OK;
}

/* Levels and labels: free slots at level 0, the used ones counted, the
 * layout's size and the entry point consistent with them. */
static akidb_status img_slots(const img *m)
{
    uint64_t upper_words = 0;
    uint32_t used_slots = 0;
    int top = -1;
    for (uint32_t s = 0; s < m->n; s++) {
        uint32_t L = m->lev[s];
        uint32_t lb = get32(m->lab + 4 * (size_t)s);
        if (lb == AK_NONE) {
            if (L)
                return CORRUPT("free slot %u has level %u", s, L);
            continue;
        }
        used_slots++;
        if (L > AK_HNSW_MAX_LEVEL)
            return CORRUPT("slot %u level %u > %d", s, L, AK_HNSW_MAX_LEVEL);
        if ((int)L > top)
            top = (int)L;
        upper_words += (uint64_t)L * (1 + m->prm.M);
    }
    if (used_slots != m->count)
        return CORRUPT("count %u but %u slots are used", m->count, used_slots);
    if (m->fixed + upper_words * 4 != m->total)
        return CORRUPT("total size %llu, layout needs %llu", (unsigned long long)m->total,
                       (unsigned long long)(m->fixed + upper_words * 4));
    if (m->codes)   /* the code rows: the last m->codes bytes before the checksum */
        for (uint32_t s = 0; s < m->n; s++) {
            if (get32(m->lab + 4 * (size_t)s) != AK_NONE)
                continue;
            const unsigned char *row = m->p + m->total - 8 - m->codes + (size_t)s * m->prm.dim;
            for (uint32_t i = 0; i < m->prm.dim; i++)
                if (row[i])
                    return CORRUPT("free slot %u has SQ8 codes", s);
        }
    uint32_t ep = m->ep;
    if (m->count == 0 ? (ep != AK_NONE || m->maxl != -1)
                      : (ep >= m->n || get32(m->lab + 4 * (size_t)ep) == AK_NONE ||
                         m->maxl != top || m->lev[ep] != (uint32_t)top))
        return CORRUPT("entry point %u / max level %d inconsistent", ep, m->maxl);
    return AKIDB_OK;
}

/* Copies the image's slots, labels and links into h (made for it). */
static akidb_status img_fill(const img *m, ak_hnsw *h)
{
    const uint32_t n = m->n;
    h->rng = get64(m->p + 40);
    h->n_slots = n;
    memcpy(h->vecs, m->vec, (size_t)n * m->prm.dim * 4);
    memcpy(h->links0, m->l0, (size_t)n * (1 + m->M0) * 4);
    uint32_t nfree = n - m->count;
    if (nfree) {
        h->free_slots = ak_malloc((size_t)nfree * sizeof(uint32_t));
        if (!h->free_slots)
            return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory loading");
        h->free_cap = nfree;
    }
    for (uint32_t s = n; s-- > 0;) {
        uint32_t lb = get32(m->lab + 4 * (size_t)s);
        if (lb == AK_NONE) {
            h->free_slots[h->n_free++] = s;
            continue;
        }
        if (lb > AK_HNSW_MAX_LABEL || ak_lmap_get(h, lb) != AK_NONE)
            return CORRUPT("slot %u: label %u duplicate or out of range", s, lb);
        ak_lmap_put(h, lb, s);
        h->slot_label[s] = lb;
        h->level[s] = m->lev[s];
        h->state[s] = SLOT_LIVE;
    }
    /* upper links, in slot order */
    const unsigned char *q = m->up;
    for (uint32_t s = 0; s < n; s++) {
        if (h->state[s] != SLOT_LIVE || h->level[s] == 0)
            continue;
        size_t words = (size_t)h->level[s] * (1 + m->prm.M);
        h->upper[s] = ak_malloc(words * 4);
        if (!h->upper[s])
            return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory loading");
        memcpy(h->upper[s], q, words * 4);
        q += words * 4;
    }
    if (m->codes) {
        memcpy(h->sq.codes, m->p + m->total - 8 - m->codes, (size_t)m->codes);
        h->sq.lo = m->lo;
        h->sq.step = m->step;
        h->sq.trained = true;
    }
    h->count = m->count;
    h->ep = m->ep;
    h->max_level = m->maxl;
    return AKIDB_OK;
}

/* Vectors finite, free slots linkless, every link valid. */
static akidb_status img_check_links(const img *m, const ak_hnsw *h)
{
    for (uint32_t s = 0; s < m->n; s++) {
        if (h->state[s] != SLOT_LIVE) {
            if (ak_links(h, s, 0)[0] != 0)
                return CORRUPT("free slot %u has links", s);
            continue;
        }
        const float *v = ak_vec(h, s);
        for (uint32_t i = 0; i < m->prm.dim; i++)
            if (!isfinite(v[i]))
                return CORRUPT("slot %u: vector component %u not finite", s, i);
        for (int l = 0; l <= h->level[s]; l++) {
            const uint32_t *lk = ak_links(h, s, l);
            uint32_t maxc = l ? m->prm.M : m->M0;
            if (lk[0] > maxc)
                return CORRUPT("slot %u level %d: %u links > %u", s, l, lk[0], maxc);
            for (uint32_t i = 0; i < lk[0]; i++) {
                uint32_t t = lk[1 + i];
                if (t >= m->n || t == s || h->state[t] != SLOT_LIVE || h->level[t] < l)
                    return CORRUPT("slot %u level %d: bad link target %u", s, l, t);
            }
        }
    }
    return AKIDB_OK;
}

akidb_status ak_hnsw_load_buf(const void *buf, size_t len, ak_hnsw **out, size_t *used)
{
    AK_ASSERT((buf || len == 0) && out);
    img m;
    akidb_status st;
    if ((st = img_header(buf, len, &m)) || (st = img_slots(&m)))
        return st;
    ak_hnsw *h;
    if ((st = ak_hnsw_alloc_empty(&m.prm, &h)))
        return st;
    if ((st = ak_hnsw_grow(h, m.n ? m.n : 16)) || (st = ak_lmap_reserve(h, m.count)) ||
        (st = img_fill(&m, h)) || (st = img_check_links(&m, h))) {
        ak_hnsw_free(h);
        return st;
    }
    ak_sq8_after_load(h);
    if (used)
        *used = (size_t)m.total;
    *out = h;
    return AKIDB_OK;
}

static akidb_status read_full(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ak_fail(AKIDB_EIO, "hnsw: read failed: %s", strerror(errno));
        }
        if (r == 0)
            return CORRUPT("truncated: unexpected end of file");
        p += r;
        n -= (size_t)r;
    }
    return AKIDB_OK;
}

akidb_status ak_hnsw_load_fd(int fd, ak_hnsw **out)
{
    AK_ASSERT(fd >= 0 && out);
    unsigned char hd[HDR_SIZE];
    akidb_status st = read_full(fd, hd, sizeof hd);
    if (st)
        return st;
    if (memcmp(hd, MAGIC, 8) != 0)
        return CORRUPT("bad magic");
    uint64_t total = get64(hd + 16);
    /* cheap upper bound before allocating: slots x (vector + all links) */
    uint64_t n = get32(hd + 48), dim = get32(hd + 24), M = get32(hd + 32);
    if (dim < 1 || dim > AK_HNSW_MAX_DIM || M < 2 || M > AK_HNSW_MAX_M)
        return CORRUPT("dim %llu / M %llu out of range", (unsigned long long)dim,
                       (unsigned long long)M);
    uint64_t bound = HDR_SIZE + 8 + n * (5 + 3 + dim * 5 + (1 + 2 * M) * 4 +
                                         (uint64_t)AK_HNSW_MAX_LEVEL * (1 + M) * 4);
    if (total < HDR_SIZE + 8 || total > bound || total > (uint64_t)SIZE_MAX)
        return CORRUPT("total size %llu implausible", (unsigned long long)total);
    unsigned char *buf = ak_malloc((size_t)total);
    if (!buf)
        return ak_fail(AKIDB_ENOMEM, "hnsw: out of memory for a %llu-byte image",
                       (unsigned long long)total);
    memcpy(buf, hd, sizeof hd);
    st = read_full(fd, buf + sizeof hd, (size_t)total - sizeof hd);
    if (!st)
        st = ak_hnsw_load_buf(buf, (size_t)total, out, NULL);
    ak_free(buf);
    return st;
}

/* ---- validator ---------------------------------------------------------------- */

akidb_status ak_hnsw_validate(const ak_hnsw *h, bool strict)
{
    AK_ASSERT(h);
    lock_for_save(h);
    akidb_status st = AKIDB_OK;
    uint32_t live = 0, n = h->n_slots;
    int top = -1;
    if (n > h->cap) {
        st = CORRUPT("n_slots %u > cap %u", n, h->cap);
        goto out;
    }
    for (uint32_t s = 0; s < n && !st; s++) {
        uint8_t stt = h->state[s];
        if (stt == SLOT_FREE) {
            if (h->links0[(size_t)s * (1 + h->M0)] || h->upper[s] || h->slot_label[s] != AK_NONE)
                st = CORRUPT("free slot %u not wiped", s);
            for (uint32_t i = 0; h->sq.on && !st && i < h->dim; i++)
                if (h->sq.codes[(size_t)s * h->dim + i])
                    st = CORRUPT("free slot %u has SQ8 codes", s);
            continue;
        }
        if (stt != SLOT_LIVE) {
            st = CORRUPT("slot %u in transient state %u", s, stt);
            break;
        }
        live++;
        if (h->level[s] > top)
            top = h->level[s];
        if (ak_lmap_get(h, h->slot_label[s]) != s) {
            st = CORRUPT("slot %u: label %u does not map back", s, h->slot_label[s]);
            break;
        }
        if (h->level[s] > 0 && !h->upper[s]) {
            st = CORRUPT("slot %u: level %u without upper links", s, h->level[s]);
            break;
        }
        for (int l = 0; l <= h->level[s] && !st; l++) {
            const uint32_t *lk = ak_links(h, s, l);
            if (lk[0] > (l ? h->M : h->M0)) {
                st = CORRUPT("slot %u level %d: %u links", s, l, lk[0]);
                break;
            }
            for (uint32_t i = 0; i < lk[0]; i++) {
                uint32_t t = lk[1 + i];
                if (t >= n || t == s || h->state[t] != SLOT_LIVE || h->level[t] < l) {
                    st = CORRUPT("slot %u level %d: link to %u (dangling, removed or too low)",
                                 s, l, t);
                    break;
                }
            }
        }
    }
    if (st)
        goto out;
    if (live != h->count || h->lmap_n != live) {
        st = CORRUPT("count %u, live slots %u, label map %u", h->count, live, h->lmap_n);
        goto out;
    }
    for (uint32_t i = 0; i < h->n_free; i++)
        if (h->free_slots[i] >= n || h->state[h->free_slots[i]] != SLOT_FREE) {
            st = CORRUPT("free list entry %u is not a free slot", h->free_slots[i]);
            goto out;
        }
    if (live == 0) {
        if (h->ep != AK_NONE || h->max_level != -1)
            st = CORRUPT("empty index with entry point %u", h->ep);
        goto out;
    }
    if (h->ep >= n || h->state[h->ep] != SLOT_LIVE || h->max_level != top ||
        h->level[h->ep] != top) {
        st = CORRUPT("entry point %u (level %d) not a live node at top level %d", h->ep,
                     h->max_level, top);
        goto out;
    }
    /* reachability at level 0 */
    {
        uint32_t *queue = ak_malloc((size_t)n * sizeof *queue);
        uint8_t *seen = ak_calloc(n, 1);
        if (!queue || !seen) {
            ak_free(queue);
            ak_free(seen);
            st = ak_fail(AKIDB_ENOMEM, "hnsw: out of memory validating");
            goto out;
        }
        size_t qh = 0, qt = 0;
        queue[qt++] = h->ep;
        seen[h->ep] = 1;
        while (qh < qt) {
            uint32_t x = queue[qh++];
            const uint32_t *lk = ak_links(h, x, 0);
            for (uint32_t i = 0; i < lk[0]; i++)
                if (!seen[lk[1 + i]]) {
                    seen[lk[1 + i]] = 1;
                    queue[qt++] = lk[1 + i];
                }
        }
        ak_free(queue);
        ak_free(seen);
        if (strict && qt != live)
            st = CORRUPT("%zu of %u live nodes unreachable from the entry point", live - qt, live);
    }
out:
    unlock_for_save(h);
    return st;
}
