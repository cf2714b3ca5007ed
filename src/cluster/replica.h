/*
 * replica.h - a node's replicas of a cluster's shards: one thread per held
 * shard reads the shard's write log (jlog.h) in sequence order and applies
 * each record (crec.h) to the node's local store.
 *
 * The shard's stream is the source of truth; the local store (its WAL and
 * snapshots) is a cache of it.  How far each shard was applied is kept in
 * DIR/cluster/applied (replaced atomically through the file-I/O layer,
 * after the store made the applied records durable), so a restarted node
 * resumes from there.  Because applying is idempotent (crec.h), a crash
 * between a store write and the file's update only re-applies a few
 * records.
 *
 * Latency: a record appended to a shard is applied on every live replica
 * within milliseconds on loopback (no polling interval on the hot path);
 * ak_replica_wait lets a caller that appended a record wait until this
 * node applied it (read-your-writes).
 */
#ifndef AKIDB_CLUSTER_REPLICA_H
#define AKIDB_CLUSTER_REPLICA_H

#include "cluster/jlog.h"
#include "akidb_store.h"

typedef struct ak_replica ak_replica;

typedef struct ak_replica_opts {
    ak_jlog *log;             /* the cluster's write log (stays the caller's)  */
    akidb_store *store;       /* where records are applied (caller's)          */
    const char *dir;          /* data folder: DIR/cluster/applied              */
    const unsigned *shards;   /* the shards this node holds                    */
    size_t n_shards;
    akidb_log_fn log_fn;      /* skipped records and read failures; may be NULL */
    void *log_ctx;
} ak_replica_opts;

/* Loads DIR/cluster/applied (absent: every shard from 1) and starts one
 * applying thread per held shard.  Returns at once; ak_replica_caught_up
 * says when the backlog is applied. */
akidb_status ak_replica_start(const ak_replica_opts *o, ak_replica **out);

/* Stops the threads, saves how far each shard was applied, frees r. */
void ak_replica_stop(ak_replica *r);

/* Waits until shard's records up to seq are applied on this node:
 * AKIDB_OK, AKIDB_EBUSY (naming the shard, the sequence and how far it got)
 * after timeout_s, AKIDB_EINVAL for a shard this
 * node does not hold. */
akidb_status ak_replica_wait(ak_replica *r, unsigned shard, uint64_t seq, double timeout_s);

typedef struct ak_replica_shard_stats {
    unsigned shard;
    uint64_t applied;         /* last sequence number applied                */
    uint64_t last;            /* last one the stream held when last asked    */
    uint64_t skipped;         /* records that failed to apply (logged)       */
    akidb_status status;      /* last read failure (AKIDB_OK when none)      */
} ak_replica_shard_stats;

/* Fills out[0 .. min(n, held)-1]; returns how many shards are held. */
size_t ak_replica_stats(ak_replica *r, ak_replica_shard_stats *out, size_t n);

/* 1 when every held shard has applied what its stream held at start (and
 * the stream was reachable since); /ready waits for it. */
int ak_replica_caught_up(ak_replica *r);

#endif /* AKIDB_CLUSTER_REPLICA_H */
