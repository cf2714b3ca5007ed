/*
 * akidb_store.h - public C API of AkiDB's durable vector store.
 *
 * A store is a directory holding tenants; a tenant holds collections; a
 * collection holds points.  A point is a string id (1..128 bytes), a float
 * vector of the collection's dimension, an optional UTF-8 text and an optional
 * JSON object payload.  Every acknowledged write (a call that returned
 * AKIDB_OK) is in the write-ahead log and fsync'ed, so it survives a crash of
 * the process or the machine; reopening the directory recovers it.
 *
 * Conventions (as in akidb.h)
 *   - Handles are opaque.  akidb_store_open pairs with akidb_store_close;
 *     every result object returned to the caller has its own *_free function.
 *   - Failures return an akidb_status; akidb_last_error() on the same thread
 *     then names what was wrong (tenant, collection, point id, field, file and
 *     byte offset).  NULL where a pointer is required aborts (contract bug).
 *   - Thread safety: one akidb_store handle may be used by any number of
 *     threads at once.  Searches, gets, counts and scrolls of a collection
 *     run concurrently with each other and only wait for writers while a
 *     write is being applied in memory (never during its fsync).  Writes to
 *     one collection are serialised; writes to different collections proceed
 *     in parallel and share fsyncs (group commit).
 *   - Names of tenants and collections: 1..64 bytes of [A-Za-z0-9_.-], not
 *     starting with '.'.
 *   - A full disk fails writes, snapshots and close with AKIDB_ENOSPC (other
 *     write errors: AKIDB_EIO), naming the file; nothing acknowledged is
 *     lost.  After a failed fsync of the log every later write fails with a
 *     message saying to reopen the store, which recovers every acknowledged
 *     write; after other failures writes succeed again once there is room.
 *
 * Scores (akidb_hit.score, higher is always better):
 *   cosine  cosine similarity of the query and the point, in [-1, 1]
 *   dot     inner product of the query and the point
 *   l2      negated squared Euclidean distance, -(sum (q_i - p_i)^2), <= 0
 * Results are ordered by decreasing score (order among equal scores is
 * unspecified).  Under cosine, vectors returned are the stored unit-length
 * ones.
 *
 * Filters are JSON documents; the language is described in
 * src/store/filter.c and docs/API.md.  In short:
 *   {"field": value}                    equality (string, number, bool, null)
 *   {"field": {"in": [v1, v2]}}         membership
 *   {"field": {"gt": 1, "lte": 5}}      numeric range (gt, gte, lt, lte)
 *   {"field": {"exists": true}}         presence
 *   {"field": {"empty": true}}          absent, null or []
 *   {"field": {"except": [v1, v2]}}     a non-null value none of these
 *   {"$id": {"in": ["p1", "p2"]}}       the point's id
 *   {"and": [f...]}, {"or": [f...]}, {"not": f}; several keys in one object
 *   are and-ed.  "field" may be a dotted path into nested objects ("a.b").
 */
#ifndef AKIDB_STORE_H
#define AKIDB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "akidb.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct akidb_store akidb_store;

/* Limits. */
#define AKIDB_STORE_NAME_MAX      64      /* tenant / collection name bytes  */
#define AKIDB_POINT_ID_MAX        128     /* point id bytes                  */
#define AKIDB_DIM_MAX             4096    /* largest vector dimension        */
#define AKIDB_MODEL_NAME_MAX      256     /* bound model name bytes          */
#define AKIDB_TEXT_MAX            (1u << 20)  /* text bytes per point        */
#define AKIDB_PAYLOAD_MAX         (1u << 20)  /* payload JSON bytes per point */
#define AKIDB_BATCH_BYTES_MAX     (256u << 20) /* encoded bytes per batch    */
#define AKIDB_SEARCH_TOPK_MAX     10000   /* top_k of one search             */
#define AKIDB_SEARCH_EF_MAX       10000   /* ef (HNSW beam) of one search    */
#define AKIDB_SEARCH_BUDGET_DEFAULT 1000000 /* points one search may examine
                                             (opts.search_budget)          */

/* ------------------------------------------------------------------------ */
/* Opening and closing                                                       */
/* ------------------------------------------------------------------------ */

/* Log levels passed to akidb_log_fn. */
typedef enum akidb_log_level {
    AKIDB_LOG_INFO = 0,
    AKIDB_LOG_WARN = 1,
    AKIDB_LOG_ERROR = 2
} akidb_log_level;

/* Receives recovery and maintenance messages such as "wal-....log: torn
 * record at offset 4096 cut (38 bytes dropped)".  May be called from any
 * thread that uses the store; must not call back into the store. */
typedef void (*akidb_log_fn)(void *ctx, akidb_log_level level, const char *msg);

/* Recovery progress, reported by akidb_store_open from its own thread:
 * phase "snapshot" (loading the newest snapshot; done and total are bytes of
 * its file) then "wal" (replaying the log after it; bytes of records
 * replayed and bytes of the segments to replay).  Called at the start and
 * end of each phase and about every MiB in between; keep it cheap. */
typedef void (*akidb_progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

typedef enum akidb_sync_mode {
    AKIDB_SYNC_FULL = 0,   /* fsync the WAL before acknowledging (default)   */
    AKIDB_SYNC_NONE = 1    /* never fsync: for tests and bulk loads only; a
                              machine crash may lose acknowledged writes     */
} akidb_sync_mode;

/* The object-storage tier: the store's snapshots and WAL copied to an
 * S3-compatible bucket (AWS S3, MinIO, Ceph RGW, ...), from which a store
 * opened on an empty folder restores itself.  Layout and manifest:
 * docs/FORMAT.md; design and what a restore can lose: docs/ARCHITECTURE.md.
 *
 * Shipping runs on a thread of its own: no write waits for the bucket.
 * After each snapshot the snapshot file goes to <prefix>snap-<L>.akdb, each
 * sealed segment file not yet shipped to <prefix>seg-<N>.akseg (once: they
 * never change), each WAL segment closed since goes to <prefix>wal-<L>.log,
 * and then
 * <prefix>MANIFEST is replaced (written last: it only ever names objects
 * that are in the bucket); objects it no longer names are deleted after it.
 * Every tail_interval_ms the valid records of the open WAL segment go up too
 * (the same key, growing), and the manifest with them.  A restore brings
 * back what the manifest names: writes acknowledged after the last shipped
 * tail (at most tail_interval_ms plus the upload time, or everything since
 * the last snapshot with tail_interval_ms 0) are not in it.  A failing
 * bucket is logged, reported by akidb_store_get_stats (backup_*) and
 * retried with back-off (0.5 s doubling to 30 s); the store works on.
 *
 * Restore: akidb_store_open on a folder with no snapshot and no WAL
 * segment downloads the manifest's snapshot and segments (size and SHA-256
 * checked: a damaged object is AKIDB_ECORRUPT naming its key) and then opens
 * them as usual.  A bucket without a manifest gives an empty store; a bucket
 * that cannot be read fails the open (so that an empty store never replaces
 * the bucket's manifest).  A folder holding data is never overwritten.
 * One store per bucket and prefix.
 *
 * Credentials and any field left NULL come from the environment and the AWS
 * CLI files as the AWS CLI finds them: AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, the profile AWS_PROFILE (or
 * "default") of ~/.aws/credentials and ~/.aws/config. */
typedef struct akidb_backup_opts {
    const char *bucket;          /* required                                 */
    const char *prefix;          /* key prefix, e.g. "node1" (a '/' is added
                                    between it and the names); NULL / "": the
                                    bucket's root                            */
    const char *endpoint;        /* "http://127.0.0.1:9000"; NULL: as above,
                                    else AWS's endpoint of the region        */
    const char *region;          /* NULL: as above, else us-east-1           */
    const char *profile;         /* NULL: $AWS_PROFILE, else "default"       */
    const char *access_key;      /* NULL: as above                           */
    const char *secret_key;
    int tail_interval_ms;        /* ship the open WAL segment's tail this
                                    often; 0: only closed segments (rotation
                                    at each snapshot); AKIDB_BACKUP_OPTS_INIT
                                    sets 5000                                */
    bool read_only;              /* restore only, never write to the bucket
                                    (a copy for inspection or tests)         */
    const char *restore_prefix;  /* an empty folder is restored from this
                                    prefix instead of `prefix` (a cluster
                                    node rebuilt from another node's copy);
                                    shipping still goes to `prefix`.  NULL:
                                    `prefix`                                 */
} akidb_backup_opts;

#define AKIDB_BACKUP_OPTS_INIT { NULL, NULL, NULL, NULL, NULL, NULL, NULL, 5000, false, NULL }

typedef struct akidb_store_opts {
    akidb_sync_mode sync;        /* default AKIDB_SYNC_FULL                    */
    uint64_t snapshot_wal_bytes; /* the store's snapshot thread writes a
                                    snapshot once the WAL passes this size
                                    (the write that crossed it does not
                                    wait); 0: 64 MiB; UINT64_MAX: never auto */
    bool no_snapshot_on_close;   /* default false: close writes a snapshot
                                    when the WAL holds records               */
    bool wal_cut_on_corruption;  /* default false: a corrupt record that is
                                    followed by valid records (damage inside
                                    the log, not a torn tail) fails the open
                                    with AKIDB_ECORRUPT; true cuts the log
                                    there instead and logs what was dropped  */
    size_t exact_threshold;      /* collections with fewer live points are
                                    searched exactly; 0: 2048                 */
    akidb_log_fn log;            /* NULL: messages go to stderr              */
    void *log_ctx;
    akidb_progress_fn progress;  /* NULL: no progress reports                */
    void *progress_ctx;
    const akidb_backup_opts *backup; /* NULL: no object-storage tier; read
                                    during akidb_store_open only            */
    size_t search_budget;        /* the most points one search examines
                                    (vectors compared with the query, and
                                    points a filtered scan tests); see
                                    akidb_search; 0: AKIDB_SEARCH_BUDGET_DEFAULT */
    /* Sealed segments (docs/ARCHITECTURE.md, "Segments"): a collection's
     * mutable tail is sealed into an immutable segment file by the
     * snapshot thread once it holds seal_points points or seal_bytes bytes
     * (no write waits for it); snapshots then rewrite only the tail. */
    uint64_t seal_points;        /* 0: 262144; UINT64_MAX: never seal         */
    uint64_t seal_bytes;         /* 0: 256 MiB of ingested vectors and data   */
    size_t compact_max_segments; /* more segments than this: the smallest are
                                    merged; 0: 8                              */
    double compact_tomb_share;   /* a segment with this share of its points
                                    tombstoned is rewritten; 0: 0.3           */
} akidb_store_opts;

/* Defaults (all zero). */
#define AKIDB_STORE_OPTS_INIT { AKIDB_SYNC_FULL, 0, false, false, 0, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0 }

/* Opens the store in directory dir, creating the directory (one level) if it
 * does not exist, and recovers it: loads the newest snapshot, replays the WAL
 * tail after it, cuts a torn WAL tail (logging the file and offset).  opts may
 * be NULL.  Only one process may hold a store open: AKIDB_EBUSY otherwise.
 * Fails with AKIDB_ECORRUPT naming file and offset when a snapshot or the
 * body of the WAL is damaged, AKIDB_EFORMAT for a file of another format or
 * version, AKIDB_EIO for system errors, AKIDB_ENOMEM. */
akidb_status akidb_store_open(const char *dir, const akidb_store_opts *opts,
                              akidb_store **out);

/* Closes the store: waits for nothing of the callers (they must have
 * finished using it) but for a background snapshot in progress, writes a
 * snapshot unless opts.no_snapshot_on_close, releases everything.
 * Returns the status of that final snapshot (the store is closed and freed
 * in any case).  NULL is allowed and returns AKIDB_OK. */
akidb_status akidb_store_close(akidb_store *store);

/* Writes a snapshot of every collection (the mutable tail's points and
 * serialised index, and the list of the collection's sealed segments with
 * their tombstones; a tail past opts.seal_points / seal_bytes is sealed
 * into a new segment file first) atomically and starts a new WAL segment;
 * older snapshots and WAL segments are removed.  Writes go on meanwhile (into the new segment): catalog
 * changes wait only while the WAL is rotated, point writes to a collection
 * only while that collection is copied into the file. */
akidb_status akidb_store_snapshot(akidb_store *store);

/* Store-wide statistics. */
typedef struct akidb_store_stats {
    uint64_t wal_bytes;        /* bytes in the current WAL segment          */
    uint64_t last_lsn;         /* sequence number of the last WAL record    */
    uint64_t snapshot_lsn;     /* WAL records before this are in the snapshot */
    size_t n_tenants, n_collections;
    /* The snapshot thread (automatic snapshots, opts.snapshot_wal_bytes): */
    bool snapshot_running;          /* writing one now                      */
    uint64_t snapshots_background;  /* finished since open (ok or failed)   */
    uint64_t snapshots_failed;      /* of which failed                      */
    akidb_status snapshot_status;   /* the last one's failure (AKIDB_OK once
                                       one succeeds again); retried with
                                       back-off, the WAL keeps every record */
    char snapshot_error[256];       /* its message, "" when OK              */
    /* The object-storage tier (opts.backup): */
    bool backup_enabled;
    uint64_t backup_snapshot_lsn;   /* the snapshot the bucket's manifest
                                       names (0: none yet)                  */
    uint64_t backup_shipped_lsn;    /* last WAL record in the bucket (0: none) */
    uint64_t backup_uploads;        /* objects uploaded since open          */
    uint64_t backup_manifests;      /* manifests written since open         */
    uint64_t backup_failures;       /* shipping rounds that failed          */
    akidb_status backup_status;     /* the last round's failure (AKIDB_OK
                                       once one succeeds again)             */
    char backup_error[256];         /* its message, "" when OK              */
    /* Sealed segments: */
    uint64_t segments;              /* segments of every collection now     */
    uint64_t segments_sealed;       /* tails sealed since open              */
    uint64_t segments_compacted;    /* merged segments written since open   */
    uint64_t segment_bytes_written; /* bytes of segment files written       */
} akidb_store_stats;
void akidb_store_get_stats(akidb_store *store, akidb_store_stats *stats);

/* ------------------------------------------------------------------------ */
/* Tenants                                                                   */
/* ------------------------------------------------------------------------ */

/* A list of names; free with akidb_names_free. */
typedef struct akidb_names {
    char **names;
    size_t n;
} akidb_names;
void akidb_names_free(akidb_names *names);

/* Creates a tenant.  AKIDB_EEXIST if it exists, AKIDB_EINVAL for a bad name. */
akidb_status akidb_tenant_create(akidb_store *store, const char *tenant);
/* Deletes a tenant with all its collections.  AKIDB_ENOENT if absent. */
akidb_status akidb_tenant_delete(akidb_store *store, const char *tenant);
/* Lists tenants in byte order of their names into *out (caller frees). */
akidb_status akidb_tenant_list(akidb_store *store, akidb_names *out);

/* ------------------------------------------------------------------------ */
/* Collections                                                               */
/* ------------------------------------------------------------------------ */

typedef enum akidb_metric {
    AKIDB_METRIC_COSINE = 0,
    AKIDB_METRIC_L2 = 1,
    AKIDB_METRIC_DOT = 2
} akidb_metric;

/* "cosine", "l2", "dot". */
const char *akidb_metric_name(akidb_metric m);
/* Parses a metric name (also "euclid"/"ip" aliases); AKIDB_EINVAL otherwise. */
akidb_status akidb_metric_parse(const char *name, akidb_metric *out);

/* Quantisation of a collection's vectors for its HNSW search. */
typedef enum akidb_quantization {
    AKIDB_QUANT_NONE = 0,
    AKIDB_QUANT_SQ8 = 1    /* int8 scalar quantisation (Qdrant's "scalar",
                              "type": "int8"): the graph is walked on one
                              byte per component and the candidates are
                              rescored with the float vectors, which stay
                              in memory; see akidb_search_req            */
} akidb_quantization;

/* "none", "sq8"; NULL for an unknown value. */
const char *akidb_quantization_name(akidb_quantization q);

typedef struct akidb_collection_opts {
    uint32_t dim;              /* 1..4096, required                         */
    akidb_metric metric;       /* default cosine                            */
    const char *model;         /* bound embedding model name, or NULL       */
    uint32_t hnsw_m;           /* 0: 16 (range 2..128)                      */
    uint32_t hnsw_ef_construction; /* 0: 200 (range 4..4096)                */
    akidb_quantization quantization; /* default none                        */
    float quantile;            /* SQ8: share of the values the codes cover
                                  exactly, 0.5..1 (the rest are clamped);
                                  0: 1, the whole range (as Qdrant
                                  without a quantile).  The bounds are
                                  fixed from the
                                  first 1024 vectors of each index (the
                                  mutable tail, each sealed or merged
                                  segment) and never change after        */
} akidb_collection_opts;

typedef struct akidb_collection_info {
    char tenant[AKIDB_STORE_NAME_MAX + 1];
    char name[AKIDB_STORE_NAME_MAX + 1];
    uint32_t dim;
    akidb_metric metric;
    char model[AKIDB_MODEL_NAME_MAX + 1];   /* "" when none is bound       */
    uint32_t hnsw_m, hnsw_ef_construction;
    uint64_t n_points;                       /* live points                 */
    akidb_quantization quantization;
    float quantile;                          /* SQ8: the one in force       */
} akidb_collection_info;

/* Creates a collection.  AKIDB_ENOENT if the tenant is absent, AKIDB_EEXIST
 * if the name is taken in the tenant, AKIDB_EINVAL / AKIDB_ERANGE for bad
 * names or parameters. */
akidb_status akidb_collection_create(akidb_store *store, const char *tenant,
                                     const char *name,
                                     const akidb_collection_opts *opts);
/* Deletes a collection and its points.  AKIDB_ENOENT if absent. */
akidb_status akidb_collection_delete(akidb_store *store, const char *tenant,
                                     const char *name);
/* Fills *info.  AKIDB_ENOENT if the tenant or collection is absent. */
akidb_status akidb_collection_get_info(akidb_store *store, const char *tenant,
                                       const char *name,
                                       akidb_collection_info *info);
/* Lists the collection names of a tenant in byte order (caller frees). */
akidb_status akidb_collection_list(akidb_store *store, const char *tenant,
                                   akidb_names *out);

/* ------------------------------------------------------------------------ */
/* Points                                                                    */
/* ------------------------------------------------------------------------ */

/* One point to write.  All memory stays the caller's. */
typedef struct akidb_point_in {
    const char *id;        /* 1..128 bytes, NUL-terminated                    */
    const float *vector;   /* dim floats: finite; non-zero under cosine       */
    const char *text;      /* optional UTF-8 text, NULL for none              */
    const char *payload;   /* optional JSON object text, NULL for none        */
} akidb_point_in;

/* Inserts or replaces n points (1..100000) as one atomic group: one WAL
 * record and one fsync; either all are applied or none.  A point id that
 * occurs twice in one batch is AKIDB_EINVAL.  Vector errors name the point:
 * AKIDB_EDIM for a wrong dimension (when dims is given), AKIDB_EINVAL for
 * NaN/Inf or a zero vector under cosine; bad payload JSON is AKIDB_EINVAL
 * naming the point and the JSON error position.  dims may be NULL (every
 * vector has the collection's dimension); otherwise dims[i] is the length of
 * points[i].vector and must equal it. */
akidb_status akidb_points_upsert(akidb_store *store, const char *tenant,
                                 const char *collection,
                                 const akidb_point_in *points,
                                 const uint32_t *dims, size_t n);

/* Deletes points by id; ids that do not exist are ignored.  *n_deleted
 * (optional) receives how many existed.  One WAL record, one fsync. */
akidb_status akidb_points_delete(akidb_store *store, const char *tenant,
                                 const char *collection,
                                 const char *const *ids, size_t n,
                                 size_t *n_deleted);

/* What to return with points and hits. */
enum {
    AKIDB_WITH_PAYLOAD = 1u << 0,
    AKIDB_WITH_TEXT = 1u << 1,
    AKIDB_WITH_VECTOR = 1u << 2
};

/* A point returned to the caller.  Fields not requested are NULL. */
typedef struct akidb_point {
    char *id;
    float score;           /* hits only; 0 elsewhere                          */
    char *text;            /* NULL if none or not requested                   */
    char *payload;         /* compact JSON text, NULL if none / not requested */
    float *vector;         /* dim floats, NULL if not requested               */
    uint32_t dim;
} akidb_point;

/* A list of points (get, scroll, search).  Free with akidb_points_free. */
typedef struct akidb_points {
    akidb_point *items;
    size_t n;
    char *next_cursor;     /* scroll only: pass to the next call, NULL at end */
    size_t examined;       /* search only: the points it examined (its work,
                              at most opts.search_budget)                    */
} akidb_points;
void akidb_points_free(akidb_points *pts);

/* Gets points by id, in the order of ids; missing ids are skipped.  with is
 * a mask of AKIDB_WITH_*. */
akidb_status akidb_points_get(akidb_store *store, const char *tenant,
                              const char *collection, const char *const *ids,
                              size_t n, unsigned with, akidb_points *out);

/* Counts live points, those matching filter_json when it is not NULL. */
akidb_status akidb_points_count(akidb_store *store, const char *tenant,
                                const char *collection, const char *filter_json,
                                uint64_t *count);

/* Pages through the points in id order - ids that are unsigned decimal
 * integers (no leading zero) by value first, then the others in byte order,
 * as Qdrant orders integer and UUID point ids: up to limit
 * (1..10000) points with ids after cursor (NULL: from the start), matching
 * filter_json if it is not NULL.  out->next_cursor is NULL on the last page.
 * A cursor is an opaque string; writes between calls never make a scroll
 * return an id twice. */
akidb_status akidb_points_scroll(akidb_store *store, const char *tenant,
                                 const char *collection, const char *cursor,
                                 size_t limit, const char *filter_json,
                                 unsigned with, akidb_points *out);

typedef struct akidb_search_req {
    const float *vector;     /* query vector                                 */
    uint32_t dim;            /* its length; must equal the collection's      */
    size_t top_k;            /* 1..AKIDB_SEARCH_TOPK_MAX                      */
    size_t ef;               /* HNSW beam width, 0..AKIDB_SEARCH_EF_MAX;
                                0: max(128, 4 * top_k)                        */
    const char *filter_json; /* NULL: no filter                              */
    bool exact;              /* true: exact scan instead of HNSW             */
    unsigned with;           /* AKIDB_WITH_* mask                            */
    /* An SQ8 collection (other collections ignore these).  By default an
     * HNSW search walks the graph on the int8 codes and rescores all ef
     * candidates it ends with using the float vectors, so the scores are
     * exact float scores.  Exact scans never use the codes. */
    bool quant_ignore;       /* walk on the float vectors                   */
    bool quant_no_rescore;   /* no rescoring: the scores are the int8
                                approximations (not exact)                 */
    double quant_oversampling; /* 0, or 1..100: rescore the best
                                ceil(oversampling x top_k) candidates (ef
                                raised to that, at most
                                max(AKIDB_SEARCH_EF_MAX, top_k)) instead of
                                all ef                                      */
} akidb_search_req;

/* Searches a collection.  Small collections (fewer than
 * opts.exact_threshold live points), exact requests and filters that match
 * few points are answered by an exact scan; others by HNSW, filter-aware.
 * out->items has up to top_k hits by decreasing score.
 *
 * Work budget: a search examines at most opts.search_budget points
 * (out->examined says how many it did).  An HNSW walk that reaches its
 * share (a selective filter makes the walk long) stops and the search
 * finishes as an exact scan over the points that pass the filter, whose
 * top_k is exact; when that scan does not fit in what is left either (or an
 * exact scan is asked of more points than the budget), the search fails
 * with AKIDB_ERANGE naming the budget.  A top_k or ef over its limit is
 * AKIDB_EINVAL naming the limit. */
akidb_status akidb_search(akidb_store *store, const char *tenant,
                          const char *collection, const akidb_search_req *req,
                          akidb_points *out);

/* Checks that filter_json is a valid filter; AKIDB_EINVAL with a message
 * naming the offending part otherwise. */
akidb_status akidb_filter_validate(const char *filter_json);

#ifdef __cplusplus
}
#endif

#endif /* AKIDB_STORE_H */
