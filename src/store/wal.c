/*
 * wal.c - CRC32C, the byte codec and the write-ahead log of the store:
 * segment scanning for recovery (detects torn and damaged records by CRC and
 * LSN), appending with group commit (one fsync serves every thread that
 * appended before it started), and segment rotation for snapshots.
 *
 * Why our own log instead of an embedded database: the store's state is an
 * in-memory table plus an index (an HNSW graph) that must be snapshotted as one blob
 * anyway; a sequential log of whole batches gives one write + one fsync per
 * batch, the cheapest durable write there is, and keeps every on-disk byte
 * documented in docs/FORMAT.md.
 */
#include "store/wal.h"

#include "common/cpu.h"
#include "common/fileio.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- CRC32C ------------------------------------------------------------- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__)
static bool crc_hw;
#endif

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
#if defined(__x86_64__)
    crc_hw = ak_cpu_get()->sse42;
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *p,
                                                              size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t ak_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc_sse42(c, p, len);
#endif
    while (len >= 8) {
        uint32_t lo = c ^ ak_get_u32(p), hi = ak_get_u32(p + 4);
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^
            crc_table[5][(lo >> 16) & 0xFF] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return ~c;
}

/* ---- buffer --------------------------------------------------------------- */

void ak_buf_free(ak_buf *b)
{
    ak_free(b->p);
    memset(b, 0, sizeof *b);
}

bool ak_buf_reserve(ak_buf *b, size_t n)
{
    if (b->oom)
        return false;
    if (b->cap - b->n >= n)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    uint8_t *p = ak_realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void ak_buf_put(ak_buf *b, const void *data, size_t n)
{
    if (!ak_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->n, data, n);
    b->n += n;
}

void ak_buf_u8(ak_buf *b, uint8_t v) { ak_buf_put(b, &v, 1); }

void ak_buf_u16(ak_buf *b, uint16_t v)
{
    uint8_t t[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    ak_buf_put(b, t, 2);
}

void ak_buf_u32(ak_buf *b, uint32_t v)
{
    uint8_t t[4];
    ak_put_u32(t, v);
    ak_buf_put(b, t, 4);
}

void ak_buf_u64(ak_buf *b, uint64_t v)
{
    uint8_t t[8];
    ak_put_u64(t, v);
    ak_buf_put(b, t, 8);
}

void ak_buf_str8(ak_buf *b, const char *s, size_t len)
{
    AK_ASSERT(len <= 255);
    ak_buf_u8(b, (uint8_t)len);
    ak_buf_put(b, s, len);
}

void ak_buf_str32(ak_buf *b, const char *s, size_t len)
{
    AK_ASSERT(len <= UINT32_MAX);
    ak_buf_u32(b, (uint32_t)len);
    ak_buf_put(b, s, len);
}

/* ---- reader ---------------------------------------------------------------- */

const uint8_t *ak_rd_bytes(ak_rd *r, size_t n)
{
    if (r->bad || r->n - r->off < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t ak_rd_u8(ak_rd *r)
{
    const uint8_t *p = ak_rd_bytes(r, 1);
    return p ? p[0] : 0;
}

uint16_t ak_rd_u16(ak_rd *r)
{
    const uint8_t *p = ak_rd_bytes(r, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t ak_rd_u32(ak_rd *r)
{
    const uint8_t *p = ak_rd_bytes(r, 4);
    return p ? ak_get_u32(p) : 0;
}

uint64_t ak_rd_u64(ak_rd *r)
{
    const uint8_t *p = ak_rd_bytes(r, 8);
    return p ? ak_get_u64(p) : 0;
}

const char *ak_rd_str8(ak_rd *r, size_t *len)
{
    *len = ak_rd_u8(r);
    return (const char *)ak_rd_bytes(r, *len);
}

const char *ak_rd_str32(ak_rd *r, size_t *len)
{
    *len = ak_rd_u32(r);
    return (const char *)ak_rd_bytes(r, *len);
}

/* ---- segment format --------------------------------------------------------
 * Header (32 bytes): magic "AKIDBWAL", u32 version, u32 header size, u64
 * start LSN, u32 reserved (0), u32 CRC32C of bytes 0..27.
 * Record: u32 body length, u32 CRC32C of bytes 8..(20+len), u8 type,
 * 3 reserved zero bytes, u64 LSN, body. */

void ak_wal_encode_header(uint8_t *out, uint64_t start_lsn)
{
    memset(out, 0, AK_WAL_HEADER_SIZE);
    memcpy(out, AK_WAL_MAGIC, 8);
    ak_put_u32(out + 8, AK_WAL_VERSION);
    ak_put_u32(out + 12, AK_WAL_HEADER_SIZE);
    ak_put_u64(out + 16, start_lsn);
    ak_put_u32(out + 28, ak_crc32c(0, out, 28));
}

void ak_wal_segment_name(char *buf, uint64_t start_lsn)
{
    snprintf(buf, 32, "wal-%016llx.log", (unsigned long long)start_lsn);
}

/* Checks the record at off; returns its total size or 0 (why filled). */
static size_t check_record(const uint8_t *buf, size_t len, size_t off, uint64_t want_lsn,
                           char *why, size_t why_len)
{
    size_t left = len - off;
    if (left < AK_WAL_REC_HEADER) {
        snprintf(why, why_len, "incomplete record header (%zu of %u bytes)", left,
                 AK_WAL_REC_HEADER);
        return 0;
    }
    const uint8_t *h = buf + off;
    uint32_t blen = ak_get_u32(h);
    if (blen > AK_WAL_REC_MAX) {
        snprintf(why, why_len, "record length %u exceeds the limit", blen);
        return 0;
    }
    if (left - AK_WAL_REC_HEADER < blen) {
        snprintf(why, why_len, "incomplete record (%zu of %zu bytes)", left,
                 (size_t)blen + AK_WAL_REC_HEADER);
        return 0;
    }
    uint32_t crc = ak_crc32c(0, h + 8, AK_WAL_REC_HEADER - 8 + (size_t)blen);
    if (crc != ak_get_u32(h + 4)) {
        snprintf(why, why_len, "record checksum mismatch");
        return 0;
    }
    uint64_t lsn = ak_get_u64(h + 12);
    if (want_lsn && lsn != want_lsn) {
        snprintf(why, why_len, "record sequence number %llu, expected %llu",
                 (unsigned long long)lsn, (unsigned long long)want_lsn);
        return 0;
    }
    if (h[8] < AK_WAL_TENANT_CREATE || h[8] > AK_WAL_DELETE || h[9] || h[10] || h[11]) {
        snprintf(why, why_len, "unknown record type %u", h[8]);
        return 0;
    }
    return AK_WAL_REC_HEADER + blen;
}

akidb_status ak_wal_scan_buf(const uint8_t *buf, size_t len, const char *name,
                             uint64_t skip_below, ak_wal_rec_fn fn, void *ctx,
                             ak_wal_scan *res)
{
    memset(res, 0, sizeof *res);
    if (len < 8 || memcmp(buf, AK_WAL_MAGIC, 8) != 0)
        return ak_fail(AKIDB_EFORMAT, "%s: offset 0: not an AkiDB WAL segment (bad magic)",
                       name);
    if (len < AK_WAL_HEADER_SIZE)
        return ak_fail(AKIDB_ECORRUPT, "%s: offset %zu: truncated segment header", name, len);
    if (ak_get_u32(buf + 8) != AK_WAL_VERSION)
        return ak_fail(AKIDB_EFORMAT, "%s: offset 8: unsupported WAL version %u (want %u)",
                       name, ak_get_u32(buf + 8), AK_WAL_VERSION);
    if (ak_get_u32(buf + 28) != ak_crc32c(0, buf, 28) ||
        ak_get_u32(buf + 12) != AK_WAL_HEADER_SIZE)
        return ak_fail(AKIDB_ECORRUPT, "%s: offset 0: segment header checksum mismatch", name);
    res->start_lsn = ak_get_u64(buf + 16);
    if (res->start_lsn == 0)
        return ak_fail(AKIDB_ECORRUPT, "%s: offset 16: start sequence number 0", name);
    uint64_t lsn = res->start_lsn;
    size_t off = AK_WAL_HEADER_SIZE;
    while (off < len) {
        size_t sz = check_record(buf, len, off, lsn, res->why, sizeof res->why);
        if (!sz) {
            res->damaged = true;
            /* Is there a valid later record?  Then this is damage inside the
             * log, not a torn tail. */
            char tmp[160];
            for (size_t o = off + 1; o + AK_WAL_REC_HEADER <= len; o++) {
                uint64_t l2 = ak_get_u64(buf + o + 12);
                if (l2 <= lsn || l2 - lsn > (1u << 30))
                    continue;
                if (check_record(buf, len, o, l2, tmp, sizeof tmp)) {
                    res->resync = true;
                    break;
                }
            }
            break;
        }
        if (lsn >= skip_below && fn) {
            akidb_status st = fn(ctx, lsn, buf[off + 8], buf + off + AK_WAL_REC_HEADER,
                                 sz - AK_WAL_REC_HEADER);
            if (st != AKIDB_OK)
                return ak_fail_prefix(st, "%s: offset %zu: record %llu", name, off,
                                      (unsigned long long)lsn);
        }
        off += sz;
        lsn++;
        res->n_records++;
    }
    res->valid_end = off;
    res->next_lsn = lsn;
    return AKIDB_OK;
}

/* ---- appending ----------------------------------------------------------------
 * Failures.  Every record <= synced_lsn is durable and was acknowledged;
 * nothing else was.  A failed append whose partial bytes were cut off again
 * (ftruncate back to the end of the last whole record) leaves the segment as
 * it was, so the log stays usable: that record was never acknowledged, and
 * the next append can succeed once the disk has room.  Everything else marks
 * the log broken and it refuses every later append and sync until the store
 * is reopened (recovery then replays what reached the disk):
 *   - a failed fdatasync: the kernel may have dropped the dirty pages, so a
 *     retry that succeeds would not prove the records are on disk;
 *   - an append whose partial record could not be cut off;
 *   - a rotation whose new segment was created but could not be removed
 *     again durably (a stale empty segment would not fit after later records
 *     of the old one).
 * A rotation that fails before creating its segment changes nothing. */

struct ak_wal {
    pthread_mutex_t mu;        /* append state                               */
    pthread_mutex_t sync_mu;   /* one fsync at a time; rotation              */
    char *dir;
    char *path;                /* the current segment                        */
    int fd;
    uint64_t size;             /* bytes in the current segment               */
    uint64_t next_lsn;
    uint64_t synced_lsn;       /* every record <= this is durable            */
    bool sync;
    akidb_status broken;       /* AKIDB_OK, or the status of the failure     */
    char why[512];             /* ... and its message                        */
};

/* Marks the log broken with the current failure (w->mu held). */
static void set_broken(ak_wal *w, akidb_status st)
{
    if (w->broken != AKIDB_OK)
        return;
    w->broken = st;
    snprintf(w->why, sizeof w->why, "%s", akidb_last_error());
}

/* The failure returned to every append after the log broke (w->mu held). */
static akidb_status broken_fail(ak_wal *w)
{
    return ak_fail(w->broken, "WAL: the log takes no more writes after an earlier failure "
                   "(%s); reopen the store", w->why);
}

/* Creates a segment file with its header, durable (file and directory).
 * *created tells whether the file may exist after a failure. */
static akidb_status create_segment(ak_wal *w, uint64_t start_lsn, int *fd_out,
                                   char **path_out, bool *created)
{
    char name[32];
    ak_wal_segment_name(name, start_lsn);
    *created = false;
    char *path = ak_path_join(w->dir, name);
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "WAL: out of memory");
    int fd;
    akidb_status st = ak_io_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd);
    if (st != AKIDB_OK) {
        if (ak_file_exists(path))
            *created = true;
        else
            ak_free(path);
        if (*created)
            *path_out = path;
        return st;
    }
    *created = true;
    uint8_t hdr[AK_WAL_HEADER_SIZE];
    ak_wal_encode_header(hdr, start_lsn);
    st = ak_io_write_all(fd, hdr, sizeof hdr, path);
    if (st == AKIDB_OK && w->sync)
        st = ak_io_fdatasync(fd, path);
    if (st == AKIDB_OK && w->sync)
        st = ak_io_fsync_dir(w->dir);
    *path_out = path;
    if (st != AKIDB_OK) {
        close(fd);
        return st;
    }
    *fd_out = fd;
    return AKIDB_OK;
}

/* Removes a segment create_segment failed to finish; false if that could not
 * be made durable (the message then names why). */
static bool remove_segment(ak_wal *w, const char *path)
{
    char keep[1024];
    snprintf(keep, sizeof keep, "%s", akidb_last_error());
    bool ok = ak_io_unlink(path) == AKIDB_OK && (!w->sync || ak_io_fsync_dir(w->dir) == AKIDB_OK);
    if (ok)
        ak_fail(AKIDB_OK, "%s", keep);
    else
        ak_fail_prefix(AKIDB_EIO, "%s; removing the unfinished segment failed too", keep);
    return ok;
}

akidb_status ak_wal_open(const char *dir, const char *path, size_t end_off,
                         uint64_t next_lsn, bool sync, ak_wal **out)
{
    *out = NULL;
    ak_wal *w = ak_calloc(1, sizeof *w);
    if (!w || !(w->dir = ak_strdup(dir))) {
        ak_free(w);
        return ak_fail(AKIDB_ENOMEM, "WAL: out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->sync_mu, NULL);
    w->sync = sync;
    w->next_lsn = next_lsn;
    w->synced_lsn = next_lsn - 1;
    w->fd = -1;
    akidb_status st;
    if (path) {
        if (!(w->path = ak_strdup(path))) {
            st = ak_fail(AKIDB_ENOMEM, "WAL: out of memory");
            goto fail;
        }
        st = ak_io_open(path, O_WRONLY, 0, &w->fd);
        if (st == AKIDB_OK)
            st = ak_io_seek(w->fd, end_off, path);
        if (st != AKIDB_OK)
            goto fail;
        w->size = end_off;
    } else {
        bool created;
        st = create_segment(w, next_lsn, &w->fd, &w->path, &created);
        if (st != AKIDB_OK) {
            /* A partial segment is removed by the next recovery if not here. */
            if (created)
                ak_io_unlink(w->path);
            goto fail;
        }
        w->size = AK_WAL_HEADER_SIZE;
    }
    *out = w;
    return AKIDB_OK;
fail:
    ak_wal_close(w);
    return st;
}

void ak_wal_close(ak_wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        if (w->sync && w->broken == AKIDB_OK) {
            /* Every acknowledged record is already durable; this only
             * shortens recovery, so its failure must not hide the caller's. */
            char keep[1024];
            snprintf(keep, sizeof keep, "%s", akidb_last_error());
            ak_io_fdatasync(w->fd, w->path);
            ak_fail(AKIDB_OK, "%s", keep);
        }
        close(w->fd);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->sync_mu);
    ak_free(w->dir);
    ak_free(w->path);
    ak_free(w);
}

akidb_status ak_wal_append(ak_wal *w, uint8_t type, const void *body, size_t len,
                           uint64_t *lsn)
{
    if (len > AK_WAL_REC_MAX)
        return ak_fail(AKIDB_ETOOLONG, "WAL: record of %zu bytes exceeds the limit of %u",
                       len, AK_WAL_REC_MAX);
    uint8_t h[AK_WAL_REC_HEADER];
    pthread_mutex_lock(&w->mu);
    if (w->broken != AKIDB_OK) {
        akidb_status st = broken_fail(w);
        pthread_mutex_unlock(&w->mu);
        return st;
    }
    uint64_t l = w->next_lsn;
    ak_put_u32(h, (uint32_t)len);
    h[8] = type;
    h[9] = h[10] = h[11] = 0;
    ak_put_u64(h + 12, l);
    uint32_t crc = ak_crc32c(0, h + 8, AK_WAL_REC_HEADER - 8);
    crc = ak_crc32c(crc, body, len);
    ak_put_u32(h + 4, crc);
    struct iovec iov[2] = { { h, sizeof h }, { (void *)body, len } };
    akidb_status st = ak_io_writev_all(w->fd, iov, 2, w->path);
    if (st != AKIDB_OK) {
        ak_fail_prefix(st, "WAL: record %llu (%zu bytes)", (unsigned long long)l,
                       sizeof h + len);
        /* Cut the partial record so later records do not follow garbage. */
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", akidb_last_error());
        if (ak_io_truncate(w->fd, w->size, w->path) == AKIDB_OK) {
            ak_fail(st, "%s", keep);
        } else {
            char cut[512];
            snprintf(cut, sizeof cut, "%s", akidb_last_error());
            ak_fail(st, "%s; cutting the partial record failed too (%s)", keep, cut);
            set_broken(w, st);
            ak_fail(st, "%s; reopen the store", w->why);
        }
        pthread_mutex_unlock(&w->mu);
        return st;
    }
    w->size += sizeof h + len;
    w->next_lsn = l + 1;
    pthread_mutex_unlock(&w->mu);
    *lsn = l;
    return AKIDB_OK;
}

akidb_status ak_wal_sync(ak_wal *w, uint64_t lsn)
{
    pthread_mutex_lock(&w->sync_mu);
    if (w->synced_lsn >= lsn) {
        pthread_mutex_unlock(&w->sync_mu);
        return AKIDB_OK;
    }
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->next_lsn - 1;
    int fd = w->fd;
    akidb_status st = w->broken != AKIDB_OK ? broken_fail(w) : AKIDB_OK;
    pthread_mutex_unlock(&w->mu);
    if (st == AKIDB_OK && w->sync)
        st = ak_io_fdatasync(fd, w->path);   /* rotation is excluded by sync_mu */
    if (st != AKIDB_OK) {
        pthread_mutex_lock(&w->mu);
        if (w->broken == AKIDB_OK) {
            ak_fail_prefix(st, "WAL");
            set_broken(w, st);
            ak_fail(st, "%s; the log takes no more writes until the store is reopened",
                    w->why);
        }
        pthread_mutex_unlock(&w->mu);
        pthread_mutex_unlock(&w->sync_mu);
        return st;
    }
    w->synced_lsn = target;
    pthread_mutex_unlock(&w->sync_mu);
    return AKIDB_OK;
}

akidb_status ak_wal_rotate(ak_wal *w, uint64_t *start_lsn)
{
    pthread_mutex_lock(&w->sync_mu);
    pthread_mutex_lock(&w->mu);
    akidb_status st = AKIDB_OK;
    if (w->broken != AKIDB_OK) {
        st = broken_fail(w);
        goto out;
    }
    if (w->sync && (st = ak_io_fdatasync(w->fd, w->path)) != AKIDB_OK) {
        ak_fail_prefix(st, "WAL");
        set_broken(w, st);
        ak_fail(st, "%s; the log takes no more writes until the store is reopened", w->why);
        goto out;
    }
    w->synced_lsn = w->next_lsn - 1;
    int fd = -1;
    char *path = NULL;
    bool created;
    st = create_segment(w, w->next_lsn, &fd, &path, &created);
    if (st != AKIDB_OK) {
        ak_fail_prefix(st, "WAL: new segment");
        if (created && !remove_segment(w, path)) {
            set_broken(w, st);
            ak_fail(st, "%s; reopen the store", w->why);
        }
        ak_free(path);
        goto out;
    }
    close(w->fd);
    ak_free(w->path);
    w->fd = fd;
    w->path = path;
    w->size = AK_WAL_HEADER_SIZE;
    *start_lsn = w->next_lsn;
out:
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_unlock(&w->sync_mu);
    return st;
}

uint64_t ak_wal_bytes(ak_wal *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->size;
    pthread_mutex_unlock(&w->mu);
    return n;
}

uint64_t ak_wal_last_lsn(ak_wal *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->next_lsn - 1;
    pthread_mutex_unlock(&w->mu);
    return n;
}
