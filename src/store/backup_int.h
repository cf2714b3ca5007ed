/*
 * backup_int.h - what backup.c (the shipping thread and the restore) and
 * backup_manifest.c (object names, digests, the manifest's JSON) share:
 * the backup state and the manifest as read or written.  Layout of the
 * bucket and the manifest: docs/FORMAT.md.
 */
#ifndef AKIDB_STORE_BACKUP_INT_H
#define AKIDB_STORE_BACKUP_INT_H

#include "store/backup.h"

#include "objstore/objstore.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define BK_FORMAT 1
#define BK_MANIFEST_MAX (16u << 20)
#define BK_BACKOFF_FIRST_MS 500u
#define BK_BACKOFF_MAX_MS 30000u
#define BK_MARKER "RESTORING"

/* One object the manifest names. */
typedef struct bk_obj {
    uint64_t lsn, size;
    uint64_t last;              /* segments: the last record in the object */
    char sha[65];
} bk_obj;

/* Kinds of objects (the values of the former bool "snap" kept). */
enum { BK_WAL = 0, BK_SNAP = 1, BK_SEG = 2 };

typedef struct bk_manifest {
    bool has_snap;
    bk_obj snap;
    bk_obj *wal;
    size_t n_wal;
    bk_obj *seg;                /* sealed segment files; lsn: their number */
    size_t n_seg;
    uint64_t last_lsn;          /* last WAL record the objects hold (0: none) */
} bk_manifest;

struct ak_backup {
    ak_s3 *s3;
    char *bucket, *prefix;      /* prefix "" or ending in '/' */
    char *rprefix;              /* opts.restore_prefix the same way; NULL: none */
    int interval_ms;
    bool read_only;

    pthread_t th;
    bool started;
    pthread_mutex_t mu;         /* the fields below */
    pthread_cond_t cv;
    bool stop, final, kick;
    akidb_status err;
    char msg[256];
    uint64_t uploads, manifests, failures, snap_lsn, shipped_lsn;
    unsigned backoff_ms;
    struct timespec retry_at, next_tail;

    /* the shipping thread's own */
    bk_manifest cur;            /* what the bucket's manifest says */
    bool have_cur, swept;
    bool again;                 /* a file of the folder vanished during a round */
};

/* ---- backup_manifest.c ---- */

/* The file name of an object of kind snap (BK_*) and number lsn, and its
 * key under the prefix. */
void bk_snap_name(char *buf, size_t cap, uint64_t lsn);
void bk_obj_name(char *buf, size_t cap, int snap, uint64_t lsn);
void bk_obj_key(const ak_backup *b, char *buf, size_t cap, int snap, uint64_t lsn);
/* SHA-256 (lower-case hex) of n bytes; of the first limit bytes of a file
 * (all of it when shorter), its size read into *size. */
akidb_status bk_sha_buf(const void *p, size_t n, char out[65]);
akidb_status bk_sha_file(const char *path, uint64_t limit, uint64_t *size, char out[65]);
void bk_manifest_free(bk_manifest *m);
bool bk_obj_equal(const bk_obj *a, const bk_obj *b);
bool bk_manifest_equal(const bk_manifest *a, const bk_manifest *b);
/* The manifest as JSON text (ak_free); parsed from text (AKIDB_ECORRUPT /
 * AKIDB_EFORMAT naming what is wrong). */
akidb_status bk_manifest_dump(const ak_backup *b, const bk_manifest *m, char **out);
akidb_status bk_manifest_parse(const ak_backup *b, const char *txt, size_t len, bk_manifest *m);

#endif
