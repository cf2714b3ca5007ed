/*
 * jlog.h - a sharded, replicated write log on NATS JetStream: the log the
 * cluster's shards write through (docs/ARCHITECTURE.md, "Write log").
 *
 * Why JetStream: a replicated log needs consensus, and consensus is the
 * part a database should not write again.  JetStream (nats-server -js)
 * keeps each stream in a Raft group of its replicas, stores a message on a
 * quorum before it acknowledges it, elects a new leader when one dies, and
 * drops a retried publish with the same message id inside its duplicate
 * window.  Debian ships the server (nats-server) and the C client
 * (libnats-dev), which reconnects on its own to any server of the cluster.
 *
 * Layout: shard k of a log named NAME is the stream NAME_k on the subject
 * NAME.k, file storage, `replicas` copies, duplicate window `dup_window_s`.
 * One stream per shard, so the cluster places each shard's replicas and
 * leader on its own and a shard's stream sequence numbers are dense (1, 2,
 * 3 ... with no other shard's messages between them): a replica that has
 * applied up to n resumes from n + 1.
 *
 * Guarantees: ak_jlog_append returns AKIDB_OK only after the shard's stream
 * leader has stored the record on a quorum of its replicas, with the
 * record's sequence number; a retry with the same msg_id inside the window
 * returns the first sequence number and stores nothing.  ak_jlog_read
 * delivers a shard's records in sequence order, each exactly once per call,
 * from any sequence number on, up to the last one stored when the call
 * began.
 *
 * Failures of servers: every call keeps trying for up to timeout_s while
 * the cluster recovers (the client reconnects to another server, the
 * stream elects a new leader, which takes 4..9 s on nats-server 2.9), then
 * fails.  An append that failed was not acknowledged: it may or may not be
 * stored; retried with the same msg_id inside the window it is stored once.
 *
 * Errors: every failure returns a status and a message naming the
 * operation, the stream and the reason (the server's JetStream error text
 * when it sent one): no server reachable or no quorum in time: AKIDB_EIO;
 * a stream that exists with another shape (subjects, replicas, storage):
 * AKIDB_EEXIST; bad options: AKIDB_EINVAL.
 *
 * A handle may be used by several threads at once (the NATS connection is
 * thread-safe); reads of one shard are best kept to one thread.
 */
#ifndef AKIDB_CLUSTER_JLOG_H
#define AKIDB_CLUSTER_JLOG_H

#include "common/common.h"

typedef struct ak_jlog ak_jlog;

typedef struct ak_jlog_opts {
    const char *servers;      /* "nats://h1:4222,nats://h2:4222"; NULL: 127.0.0.1:4222 */
    const char *name;         /* log name: streams NAME_k, subjects NAME.k
                                 ([A-Za-z0-9_-], 1..32 bytes)                   */
    unsigned shards;          /* 1..1024                                         */
    unsigned replicas;        /* copies of each shard's stream, 1..5             */
    double timeout_s;         /* how long one call keeps trying while the cluster
                                 recovers (a read: without a record); 0: 15 s   */
    double dup_window_s;      /* duplicate window of msg ids; 0: 120 s           */
    int create;               /* 1: create the streams that are missing          */
    double max_age_s;         /* records older than this are dropped; 0: never   */
    int64_t max_bytes;        /* the oldest records past this size per stream
                                 are dropped; 0: no limit.  With create, a stream
                                 that exists gets these limits too               */
} ak_jlog_opts;

/* Connects and checks (or, with create, makes) every shard's stream. */
akidb_status ak_jlog_open(const ak_jlog_opts *o, ak_jlog **out);
void ak_jlog_close(ak_jlog *l);

/* Appends one record of len bytes (1 .. 1 MiB) to shard; *seq (may be NULL)
 * is its sequence number in the shard.  msg_id (NULL: none) makes a retry
 * idempotent: *dup (may be NULL) says a record with that id was stored
 * already and *seq is its number. */
akidb_status ak_jlog_append(ak_jlog *l, unsigned shard, const void *data, size_t len,
                            const char *msg_id, uint64_t *seq, int *dup);

/* The sequence number of shard's last record (0: none) and of its first
 * still stored (1 unless the stream was trimmed). */
akidb_status ak_jlog_bounds(ak_jlog *l, unsigned shard, uint64_t *first, uint64_t *last);

/* One shard's state as its stream's servers report it. */
typedef struct ak_jlog_shard_info {
    uint64_t first, last;     /* as ak_jlog_bounds                                */
    char leader[64];          /* the server leading the stream; "" while none     */
    unsigned replicas;        /* copies the stream is configured with             */
    unsigned current;         /* servers holding every acknowledged record, the
                                 leader included (replicas when all are caught up) */
} ak_jlog_shard_info;

akidb_status ak_jlog_info(ak_jlog *l, unsigned shard, ak_jlog_shard_info *out);

/* Called with each record in order; a status other than AKIDB_OK stops the
 * read and is returned by ak_jlog_read. */
typedef akidb_status (*ak_jlog_fn)(void *arg, unsigned shard, uint64_t seq, const void *data,
                                   size_t len);

/* Reads shard's records from sequence number from (>= 1) to the last one
 * stored when the call began, calling fn for each; *next (may be NULL) is
 * the sequence number to read from next time.  AKIDB_ENOENT when records
 * from `from` on are no longer stored (the stream was trimmed past them). */
akidb_status ak_jlog_read(ak_jlog *l, unsigned shard, uint64_t from, ak_jlog_fn fn, void *arg,
                          uint64_t *next);

/* A watch of a shard: fn(arg, shard, seq) is called for each record stored
 * in the shard after the watch began, with its sequence number, soon after
 * the stream stored it (a push consumer of the stream that delivers the
 * records' headers only, so a watch costs no copy of the data).  It runs on
 * a thread of the client library and must not block.  A wake-up, not a
 * read: records may be announced late or, while the cluster recovers, not
 * at all, so a watcher still reads with ak_jlog_read and looks at
 * ak_jlog_bounds now and then.  ak_jlog_watch_stop returns once no call of
 * fn is running or will be made; stop every watch before ak_jlog_close. */
typedef void (*ak_jlog_watch_fn)(void *arg, unsigned shard, uint64_t seq);
typedef struct ak_jlog_watch ak_jlog_watch;

akidb_status ak_jlog_watch_start(ak_jlog *l, unsigned shard, ak_jlog_watch_fn fn, void *arg,
                                 ak_jlog_watch **out);
void ak_jlog_watch_stop(ak_jlog_watch *w);

#endif /* AKIDB_CLUSTER_JLOG_H */
