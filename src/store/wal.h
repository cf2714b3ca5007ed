/*
 * wal.h - the store's write-ahead log and the little-endian byte codec shared
 * by the log and the snapshot files.  The formats are described byte by byte
 * in docs/FORMAT.md.
 *
 * The log is a series of segment files "wal-<16 hex digits>.log" in the store
 * directory; the number is the sequence number (LSN) of the first record of
 * the segment.  Each record carries its LSN and a CRC32C, so a reader can tell
 * a torn tail (crash while appending) from a valid record.
 */
#ifndef AKIDB_STORE_WAL_H
#define AKIDB_STORE_WAL_H

#include "common/common.h"

#include <pthread.h>

/* ---- CRC32C ------------------------------------------------------------- */

/* CRC-32C (Castagnoli, reflected, init/xorout 0xFFFFFFFF) of len bytes,
 * continuing from crc (pass 0 to start). */
uint32_t ak_crc32c(uint32_t crc, const void *data, size_t len);

/* ---- growable byte buffer ----------------------------------------------- */

typedef struct ak_buf {
    uint8_t *p;
    size_t n, cap;
    bool oom;       /* an append failed; the content is incomplete */
} ak_buf;

void ak_buf_free(ak_buf *b);
/* Appends; on allocation failure sets b->oom and ignores later appends. */
void ak_buf_put(ak_buf *b, const void *data, size_t n);
void ak_buf_u8(ak_buf *b, uint8_t v);
void ak_buf_u16(ak_buf *b, uint16_t v);
void ak_buf_u32(ak_buf *b, uint32_t v);
void ak_buf_u64(ak_buf *b, uint64_t v);
/* u8 length + bytes (len <= 255) / u32 length + bytes. */
void ak_buf_str8(ak_buf *b, const char *s, size_t len);
void ak_buf_str32(ak_buf *b, const char *s, size_t len);
/* Reserves room for n more bytes; false (and oom set) on failure. */
bool ak_buf_reserve(ak_buf *b, size_t n);

/* Bounds-checked little-endian reader.  Any read past the end sets bad and
 * returns zeros; check bad once at the end of a record. */
typedef struct ak_rd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
} ak_rd;

uint8_t ak_rd_u8(ak_rd *r);
uint16_t ak_rd_u16(ak_rd *r);
uint32_t ak_rd_u32(ak_rd *r);
uint64_t ak_rd_u64(ak_rd *r);
/* Returns a pointer to the next n bytes (NULL and bad set if fewer remain). */
const uint8_t *ak_rd_bytes(ak_rd *r, size_t n);
/* u8 / u32 length-prefixed string; *len gets its length. */
const char *ak_rd_str8(ak_rd *r, size_t *len);
const char *ak_rd_str32(ak_rd *r, size_t *len);

static inline void ak_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void ak_put_u64(uint8_t *p, uint64_t v)
{
    ak_put_u32(p, (uint32_t)v);
    ak_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t ak_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t ak_get_u64(const uint8_t *p)
{
    return (uint64_t)ak_get_u32(p) | (uint64_t)ak_get_u32(p + 4) << 32;
}

/* ---- record types -------------------------------------------------------- */

enum {
    AK_WAL_TENANT_CREATE = 1,
    AK_WAL_TENANT_DELETE = 2,
    AK_WAL_COLL_CREATE = 3,
    AK_WAL_COLL_DELETE = 4,
    AK_WAL_UPSERT = 5,
    AK_WAL_DELETE = 6
};

#define AK_WAL_MAGIC "AKIDBWAL"
#define AK_WAL_VERSION 1u
#define AK_WAL_HEADER_SIZE 32u
#define AK_WAL_REC_HEADER 20u
#define AK_WAL_REC_MAX (512u << 20)   /* largest record body accepted */

/* ---- scanning ------------------------------------------------------------ */

/* Called for each valid record; a non-OK return stops the scan with it. */
typedef akidb_status (*ak_wal_rec_fn)(void *ctx, uint64_t lsn, uint8_t type,
                                      const uint8_t *body, size_t len);

typedef struct ak_wal_scan {
    uint64_t start_lsn;    /* from the segment header                       */
    uint64_t next_lsn;     /* LSN after the last valid record               */
    size_t valid_end;      /* byte offset just after the last valid record  */
    size_t n_records;
    bool damaged;          /* stopped at a bad record before the end        */
    bool resync;           /* a valid record exists after the damage, i.e.
                              damage inside the log rather than a torn tail */
    char why[160];         /* what was wrong at valid_end                   */
} ak_wal_scan;

/* Scans a segment image (len bytes, name for messages).  Header problems
 * return AKIDB_EFORMAT (wrong magic or version) or AKIDB_ECORRUPT naming the
 * file and offset.  Record problems do not fail: the scan stops, fills
 * res->damaged / why / valid_end and returns AKIDB_OK.  Records with LSN <
 * skip_below are checked but not passed to fn. */
akidb_status ak_wal_scan_buf(const uint8_t *buf, size_t len, const char *name,
                             uint64_t skip_below, ak_wal_rec_fn fn, void *ctx,
                             ak_wal_scan *res);

/* Encodes a segment header for start_lsn into out[AK_WAL_HEADER_SIZE]. */
void ak_wal_encode_header(uint8_t *out, uint64_t start_lsn);

/* ---- appending ------------------------------------------------------------ */

typedef struct ak_wal ak_wal;

/* Opens the log for appending in dir.  If path names an existing segment
 * (its valid length end_off, next record next_lsn), appends there; else
 * creates a new segment starting at next_lsn.  sync: fsync on ak_wal_sync. */
akidb_status ak_wal_open(const char *dir, const char *path, size_t end_off,
                         uint64_t next_lsn, bool sync, ak_wal **out);
void ak_wal_close(ak_wal *w);

/* Appends one record (not yet durable); *lsn receives its LSN.  On a write
 * error (AKIDB_ENOSPC for a full disk, else AKIDB_EIO) the segment is cut
 * back to its previous length and the log stays usable; if that fails too
 * the log refuses further writes until reopened (the message says so). */
akidb_status ak_wal_append(ak_wal *w, uint8_t type, const void *body, size_t len,
                           uint64_t *lsn);

/* Makes every record up to lsn durable (group commit: one fsync covers all
 * records appended by any thread before it started).  An fsync failure
 * poisons the log: this and later appends, syncs and rotations fail with its
 * status (AKIDB_ENOSPC or AKIDB_EIO) and a message saying to reopen. */
akidb_status ak_wal_sync(ak_wal *w, uint64_t lsn);

/* Syncs the current segment and starts a new one; *start_lsn receives the
 * LSN of the new segment's first record.  Old segments stay on disk.  If the
 * new segment cannot be finished it is removed again and the current one
 * stays in use; if even the removal cannot be made durable the log is
 * poisoned as above. */
akidb_status ak_wal_rotate(ak_wal *w, uint64_t *start_lsn);

/* Bytes in the current segment, and the last LSN appended (0 if none). */
uint64_t ak_wal_bytes(ak_wal *w);
uint64_t ak_wal_last_lsn(ak_wal *w);

/* Name of the segment file for start_lsn: "wal-%016llx.log" into buf[32]. */
void ak_wal_segment_name(char *buf, uint64_t start_lsn);

#endif
