/*
 * members.h - who is in a cluster and which shards each node holds, kept in
 * JetStream's key-value store (a bucket KV_akidb_NAME on the same
 * nats-server cluster as the write log), so a cluster needs no second
 * service.  docs/CLUSTER.md "Membership and the shard map".
 *
 * Keys:
 *   config          {"shards":S,"replicas":R}: written once by the first
 *                   node (create-if-absent); every later node checks that
 *                   its own settings agree, else AKIDB_EINVAL naming both.
 *   node.<id>       {"id":...,"url":"http://host:port","shards":[...],
 *                    "applied":[seq per held shard],"time":unix seconds}:
 *                   rewritten by the node every ttl/3 seconds (the applied
 *                   numbers as opts.progress reports them then); a node whose
 *                   key is older than ttl (or deleted on leave) is not live.
 *
 * The bucket has the write log's replica count, so membership survives
 * what the log survives.
 */
#ifndef AKIDB_CLUSTER_MEMBERS_H
#define AKIDB_CLUSTER_MEMBERS_H

#include "common/common.h"

#define AK_MEMBERS_ID_MAX 63
#define AK_MEMBERS_URL_MAX 255

typedef struct ak_members ak_members;

/* Asked by the heartbeat thread right before each heartbeat: fills
 * applied[i] (how far held[i] of the options is applied); entries left
 * alone keep the value last published.  Runs on the heartbeat thread, so
 * it must be quick and must not call ak_members_* on the same handle. */
typedef void (*ak_members_progress_fn)(void *ctx, uint64_t *applied, size_t n);

typedef struct ak_members_opts {
    const char *servers;      /* as ak_jlog_opts.servers                         */
    const char *name;         /* cluster name, as ak_jlog_opts.name              */
    unsigned shards;          /* 1..1024                                         */
    unsigned replicas;        /* 1..5                                            */
    const char *node_id;      /* [A-Za-z0-9_-], 1..AK_MEMBERS_ID_MAX bytes        */
    const char *url;          /* where other nodes reach this one's HTTP API     */
    const unsigned *held;     /* shards this node holds (n_held of them)         */
    size_t n_held;
    double ttl_s;             /* 0: 10 s                                          */
    double timeout_s;         /* per call while the cluster recovers; 0: 15 s    */
    ak_members_progress_fn progress; /* NULL: only ak_members_set_applied      */
    void *progress_ctx;
} ak_members_opts;

/* Connects, creates the bucket and the config key when missing (checks
 * them otherwise), writes this node's key and starts its heartbeat. */
akidb_status ak_members_join(const ak_members_opts *o, ak_members **out);

/* Deletes this node's key (best effort), stops the heartbeat, frees m. */
void ak_members_leave(ak_members *m);

/* Published with the next heartbeat: how far each held shard is applied
 * (applied[i] belongs to held[i] of the options).  With opts.progress the
 * numbers are also asked for before every heartbeat. */
void ak_members_set_applied(ak_members *m, const uint64_t *applied, size_t n);

typedef struct ak_member {
    char id[AK_MEMBERS_ID_MAX + 1];
    char url[AK_MEMBERS_URL_MAX + 1];
    unsigned *shards;         /* held shards                                     */
    uint64_t *applied;        /* per held shard                                  */
    size_t n_shards;
    double age_s;             /* since its last heartbeat                        */
    int self;                 /* 1 for this node                                 */
} ak_member;

typedef struct ak_member_list {
    ak_member *items;
    size_t n;
} ak_member_list;

/* The live nodes (this one included), ordered by id.  Served from a watch
 * of the bucket, so it costs no round trip. */
akidb_status ak_members_list(ak_members *m, ak_member_list *out);
void ak_member_list_free(ak_member_list *l);

#endif /* AKIDB_CLUSTER_MEMBERS_H */
