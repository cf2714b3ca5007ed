/*
 * store_int.h - private structures of the store shared by store.c (catalog,
 * point table, open and close), store_points.c (the write path),
 * store_read.c (get, scroll, count, search), store_replay.c (recovery from
 * the WAL), snapshot.c (snapshot files and the snapshot thread) and
 * segment.c (sealed segments: sealing, files, tombstones, compaction) and
 * backup.c (the bucket copy).  Locking rules are stated next to each
 * field; see the header comment of store_points.c for the write path.
 */
#ifndef AKIDB_STORE_INT_H
#define AKIDB_STORE_INT_H

#include "akidb_store.h"
#include "common/common.h"
#include "index/index.h"
#include "store/filter.h"
#include "store/wal.h"

#include <pthread.h>
#include <stdatomic.h>

enum { SLOT_FREE = 0, SLOT_PENDING = 1, SLOT_LIVE = 2, SLOT_DEAD = 3 };

#define AK_NO_LABEL UINT32_MAX

/* One point slot; the slot number is the point's label in the index.
 * state is read by searches without the collection lock (atomic); the other
 * fields of a LIVE slot never change while it is LIVE. */
typedef struct pslot {
    _Atomic uint8_t state;
    uint8_t id_len;
    bool in_index;      /* label is in the index (writer only)               */
    char *id;
    char *text;         /* NUL-terminated, or NULL                           */
    json_t *payload;    /* JSON object, or NULL                              */
} pslot;

struct ak_segment;

typedef struct ak_coll {
    atomic_int refs;
    char tenant[AKIDB_STORE_NAME_MAX + 1];
    char name[AKIDB_STORE_NAME_MAX + 1];
    uint32_t dim;
    akidb_metric metric;
    char *model;                 /* NULL if none                              */
    uint32_t M, efc;
    akidb_quantization quant;    /* of every index of the collection; its     */
    float quantile;              /* quantile (0 without quantisation)         */

    pthread_mutex_t wmu;         /* serialises writers of this collection     */
    pthread_rwlock_t rw;         /* write side: table mutation only           */
    bool dead;                   /* deleted (set under wmu)                   */

    ak_index index;              /* through its kind's table (index.h)       */
    pslot *slots;                /* [n_slots], grows under rw write lock      */
    uint32_t n_slots, cap_slots;
    uint32_t *free_labels;       /* writer only                               */
    uint32_t n_free, cap_free;
    uint32_t *ht;                /* open addressing: label, or EMPTY / TOMB   */
    size_t ht_cap, ht_used;      /* ht_used counts tombstones too             */
    size_t n_live;
    uint32_t *zombies;           /* DEAD labels still in the index (writer)   */
    size_t n_zombies, cap_zombies;

    /* The fields above are the mutable tail (or, in a sealed segment's
     * frozen table, what the tail held when it was sealed).  Sealed
     * segments (segment.c), oldest first: the array changes only with wmu
     * and the rw write lock held; a point id is live in at most one of the
     * tail and the segments. */
    struct ak_segment **segs;
    size_t n_segs, cap_segs;
    size_t seg_live;             /* live points in segments (rw write lock)   */
    uint64_t tail_bytes;         /* bytes ingested into the tail (writer)     */
} ak_coll;

/* A sealed segment: a table and index frozen when the tail was sealed or
 * built by a compaction, never written again, and its tombstones (points
 * since replaced or deleted).  Reads hold the collection's read lock;
 * tombstones are set with the writer mutex and the rw write lock held. */
typedef struct ak_segment {
    atomic_int refs;
    uint64_t seq;                /* the number of its file, seg-<seq>.akseg   */
    ak_coll *t;                  /* the frozen table and index (read-only)    */
    uint8_t *tomb;               /* [t->n_slots]: 1 = tombstoned              */
    size_t n_tomb;
    bool durable;                /* file written and fsynced (snap_mu)        */
    uint64_t file_size;
} ak_segment;

typedef struct ak_tenant {
    char name[AKIDB_STORE_NAME_MAX + 1];
    ak_coll **colls;
    size_t n_colls, cap_colls;
} ak_tenant;

struct akidb_store {
    char *dir;
    akidb_store_opts opts;
    int lock_fd;
    pthread_rwlock_t cat;        /* catalog readers vs catalog mutation       */
    pthread_mutex_t cat_wmu;     /* catalog writers; a snapshot while it
                                    rotates the WAL and copies the catalog   */
    pthread_mutex_t snap_mu;     /* one snapshot at a time                    */
    ak_tenant **tenants;
    size_t n_tenants, cap_tenants;
    ak_wal *wal;
    _Atomic uint64_t snap_lsn;   /* written under snap_mu                     */

    /* The snapshot thread (snapshot.c): started by open, stopped by close. */
    pthread_t bg;
    bool bg_started;
    pthread_mutex_t bg_mu;       /* the fields below                          */
    pthread_cond_t bg_cv;        /* wakes the thread; signals its progress    */
    bool bg_wanted;              /* a write saw the WAL past the threshold    */
    bool bg_stop, bg_running;
    uint64_t bg_done, bg_failed; /* background snapshots finished / failed    */
    akidb_status bg_err;         /* the last one's failure, AKIDB_OK after a
                                    success                                  */
    char bg_msg[256];
    struct timespec bg_retry_at; /* after a failure: not before (monotonic)   */
    unsigned bg_backoff_ms;
    bool bg_in_snapshot;         /* under snap_mu: the running snapshot is the
                                    thread's (test hook stages are called)   */

    struct ak_backup *backup;    /* the object-storage tier (backup.c), or NULL */

    /* Sealed segments (segment.c). */
    _Atomic uint64_t seg_seq;    /* next segment file number                  */
    bool bg_seal;                /* under bg_mu: a tail passed its seal size  */
    _Atomic uint64_t seg_sealed, seg_compacted, seg_bytes_written;
};

/* ---- shared helpers (store.c) ---- */
void ak_store_log(akidb_store *s, akidb_log_level lvl, const char *fmt, ...) AK_PRINTF(3, 4);
ak_coll *ak_coll_new(const char *tenant, const char *name, uint32_t dim,
                     akidb_metric metric, const char *model, uint32_t M, uint32_t efc);
void ak_coll_unref(ak_coll *c);
/* Creates c's (empty) index of the default kind, quantised as c->quant
 * says. */
akidb_status ak_coll_make_index(ak_coll *c);
/* Grows slots / hash table / free list for n more points (wrlock held or
 * collection private). */
akidb_status ak_coll_reserve(ak_coll *c, size_t n);
/* Hash table on the point id. */
uint32_t ak_coll_find(const ak_coll *c, const char *id, size_t len);
void ak_coll_ht_insert(ak_coll *c, uint32_t label);
/* Removes label's id from the id hash (a tombstone). */
void ak_coll_ht_remove(ak_coll *c, uint32_t label);
/* Frees a slot's id, text and payload. */
void ak_coll_slot_clear(pslot *s);
/* Takes a label for a new point (ak_coll_reserve first). */
uint32_t ak_coll_take_label(ak_coll *c);
/* Returns a label to the free list (slot data already cleared, not in the
 * index). */
void ak_coll_give_label(ak_coll *c, uint32_t l);
/* Removes labels (already invisible, data cleared) from the index; those
 * that cannot be removed now become zombies, retried by the next write. */
void ak_coll_retire_labels(ak_coll *c, const uint32_t *labels, size_t n);
void ak_coll_retry_zombies(ak_coll *c);
/* Logs a record durably (nothing during replay, when s->wal is NULL). */
akidb_status ak_store_log_record(akidb_store *s, uint8_t type, const ak_buf *b);
ak_tenant *ak_store_find_tenant(akidb_store *s, const char *name);
/* Adds a tenant / collection to the catalog (caller holds what is needed). */
akidb_status ak_store_add_tenant(akidb_store *s, const char *name, ak_tenant **out);
akidb_status ak_tenant_add_coll(ak_tenant *t, ak_coll *c);
void ak_tenant_free(ak_tenant *t);

/* ---- shared between store.c, store_read.c and store_replay.c ---- */
#define AK_STORE_MAX_BATCH 100000u
#define AK_STORE_MAX_TOPK 10000u
#define AK_STORE_MAX_SCROLL 10000u

/* One point of a write batch, validated and encoded outside the locks. */
typedef struct ak_prep {
    const char *id;
    size_t id_len;
    const float *vec;
    const char *text;
    size_t text_len;
    json_t *payload;     /* owned until moved into a slot */
    uint32_t label;      /* new slot */
} ak_prep;

/* A file of the store folder with the number in its name (WAL segments,
 * snapshots). */
typedef struct ak_seg {
    uint64_t lsn;
    char *name;
} ak_seg;

akidb_status ak_coll_oom(const ak_coll *c);
/* The collection tenant/name with a reference (ak_coll_unref it). */
akidb_status ak_store_get_coll(akidb_store *s, const char *tenant, const char *name,
                               ak_coll **out);
/* The catalog changes; replay 1: applying a WAL record (nothing is logged). */
akidb_status ak_store_tenant_create_impl(akidb_store *s, const char *name, bool replay);
akidb_status ak_store_tenant_delete_impl(akidb_store *s, const char *name, bool replay);
akidb_status ak_store_coll_create_impl(akidb_store *s, const char *tenant, const char *name,
                                       const akidb_collection_opts *o, bool replay);
akidb_status ak_store_coll_delete_impl(akidb_store *s, const char *tenant, const char *name,
                                       bool replay);
/* A vector of the collection's dimension, finite, non-zero under cosine. */
akidb_status ak_store_check_vector(const ak_coll *c, const char *what, const char *id,
                                   const float *v, uint32_t dim);
/* EINVAL naming an id that occurs twice in p[0..n). */
akidb_status ak_store_check_dups(const ak_coll *c, ak_prep *p, size_t n);

/* Adds item i of n to an index through add(ctx, i) (store_points.c): the
 * first items one after another while the index holds fewer than 1024
 * (have: how many it holds now), the rest spread over up to 8 threads
 * (the index takes concurrent adds) when there are 256 or more.  Stops at
 * the first failure and returns it with its message.  Used by upserts and
 * by the merges of compaction (segment.c). */
typedef akidb_status (*ak_add_fn)(void *ctx, size_t i);
akidb_status ak_store_add_spread(size_t n, size_t have, ak_add_fn add, void *ctx);
/* Steps 3-6 of the write path (store_points.c's header); rec NULL: replay. */
akidb_status ak_store_apply_upsert(akidb_store *s, ak_coll *c, ak_prep *p, size_t n,
                                   const ak_buf *rec);
akidb_status ak_store_apply_delete(akidb_store *s, ak_coll *c, const char *const *ids,
                                   const size_t *lens, size_t n, size_t *n_deleted);
void ak_store_free_preps(ak_prep *p, size_t n);

/* ---- store_replay.c ---- */
/* The files dir/<prefix><number><suffix>, sorted by number. */
akidb_status ak_store_list_files(const char *dir, const char *prefix, const char *suffix,
                                 ak_seg **out, size_t *n);
void ak_store_free_segs(ak_seg *v, size_t n);
/* Removes the temporary files an interrupted snapshot left. */
void ak_store_remove_tmp_files(akidb_store *s);
/* Replays the WAL segments after snap_lsn and opens the log for appending. */
akidb_status ak_store_recover_wal(akidb_store *s, uint64_t snap_lsn);
/* A progress report to opts.progress (phase "snapshot" or "wal"). */
void ak_store_report(const akidb_store *s, const char *phase, uint64_t done, uint64_t total);

/* ---- snapshot.c ---- */
/* Loads a snapshot file into the (empty) store catalog. */
akidb_status ak_snapshot_load(akidb_store *s, const char *path, uint64_t *lsn);
/* The store's snapshot thread: its state set up (open, before anything can
 * fail), started (open, after recovery), stopped after the snapshot in
 * progress (close; idempotent), and stopped and torn down (store_free). */
void ak_snapshot_thread_init(akidb_store *s);
akidb_status ak_snapshot_thread_start(akidb_store *s);
void ak_snapshot_thread_stop(akidb_store *s);
void ak_snapshot_thread_destroy(akidb_store *s);
/* After an acknowledged write: wakes the snapshot thread if the WAL has
 * passed opts.snapshot_wal_bytes.  Never waits for the snapshot. */
void ak_store_maybe_snapshot(akidb_store *s);
/* Test hook: when set, the snapshot thread calls it at the stages of its
 * snapshots: "rotated" (new WAL segment started, catalog copied, nothing of
 * the file written yet) and "written" (every section written to the
 * temporary file, not yet made durable or renamed).  Writes proceed while
 * it blocks. */
extern void (*ak_store_snapshot_hook)(akidb_store *s, const char *stage);

/* Writes c's COLLECTION and INDEX sections to fd at *off (advanced). */
akidb_status ak_snap_write_table(int fd, const char *path, uint64_t *off, ak_coll *c);
/* Reads a COLLECTION section (body at off, len bytes) and the INDEX section
 * after it into a new collection (no tenant, no segments); *next: the
 * offset after the index. */
akidb_status ak_snap_load_table(const char *path, const uint8_t *base, size_t size, uint64_t off,
                                uint64_t len, ak_coll **out, uint64_t *next);

/* ---- segment.c ---- */
void ak_segment_unref(ak_segment *g);
/* Tombstones id in the segment where it is live (writer mutex and rw write
 * lock held); false if no segment holds it. */
bool ak_seg_tombstone(ak_coll *c, const char *id, size_t len);
/* The segment and label where id is live, or false. */
bool ak_seg_find(const ak_coll *c, const char *id, size_t len, size_t *seg, uint32_t *label);
/* After a write to c (writer mutex released): asks the snapshot thread to
 * seal c's tail when it has passed the seal size. */
void ak_store_maybe_seal(akidb_store *s, ak_coll *c);
/* The snapshot's segment step for collection c (snapshot thread or
 * akidb_store_snapshot, snap_mu held): seals the tail if it is large
 * enough, compacts, and writes the files of segments not yet on disk. */
akidb_status ak_seg_prepare(akidb_store *s, ak_coll *c);
/* The SEGMENTS section of c (writer mutex held) into b. */
void ak_seg_encode(const ak_coll *c, ak_buf *b);
/* Loads the segments a SEGMENTS section names (body, len) into c. */
akidb_status ak_seg_load_section(akidb_store *s, ak_coll *c, const char *path, uint64_t off,
                                 const uint8_t *body, uint64_t len);
/* After open's recovery: removes segment files no collection names and
 * sets the next file number. */
void ak_seg_after_open(akidb_store *s);
/* After a durable snapshot: removes the segment files other than the n it
 * names (seqs). */
void ak_seg_remove_unnamed(akidb_store *s, const uint64_t *seqs, size_t n);
/* Test hook: called by the snapshot thread at "sealed" (tail swapped, file
 * not yet written), "segment-written" and "compacting" (sources chosen and
 * their tombstones copied, merged segment not yet built); writes proceed
 * while it blocks. */
extern void (*ak_store_segment_hook)(akidb_store *s, const char *stage);

#define AK_SNAP_MAGIC "AKIDBSNP"
#define AK_SNAP_VERSION 1u
#define AK_SNAP_HEADER_SIZE 64u
enum {
    AK_SEC_TENANT = 1,
    AK_SEC_COLLECTION = 2,
    AK_SEC_INDEX = 3,
    AK_SEC_SEGMENTS = 4,
    AK_SEC_END = 0x454E4421u
};
#define AK_SEG_MAGIC "AKIDBSEG"
#define AK_SEG_VERSION 1u

#endif
