/*
 * dp_cluster_bk.h - a cluster node's copy in the bucket (`akidb serve
 * --cluster ... --s3-bucket B`), and a node rebuilt from another node's
 * copy (`--bootstrap-from NODE_ID`).  docs/CLUSTER.md "Bootstrap from the
 * bucket".
 *
 * Layout: node N's store is backed up under <prefix>/N/ (the store's
 * backup tier, akidb_store.h), and beside it the object
 * <prefix>/N/cluster-applied holds how far N's replicas had applied each
 * shard (the DIR/cluster/applied format, replica.h).  That object is only
 * replaced once the bucket holds every store record those numbers stand
 * for: the numbers are read first, then the store's last_lsn L, and the
 * object is written once backup_shipped_lsn >= L.  So a node restored
 * from N's copy, which reads cluster-applied before N's manifest, never
 * skips a record its restored store lacks; records it holds and replays
 * again are applied idempotently (crec.h).
 *
 * Start of a node on an empty data folder (no store files): the
 * cluster-applied object of the node it restores from (--bootstrap-from,
 * else itself) becomes DIR/cluster/applied, then the store restores from
 * that node's prefix, and the replicas go on from there.
 */
#ifndef AKIDB_SERVER_DP_CLUSTER_BK_H
#define AKIDB_SERVER_DP_CLUSTER_BK_H

#include "server/internal.h"

#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)

#include "cluster/replica.h"

/* The store's backup options of a cluster node, with the strings they
 * point to. */
typedef struct ak_cluster_bk_opts {
    akidb_backup_opts o;
    char *prefix, *restore_prefix;
} ak_cluster_bk_opts;

/* Before the store opens: fills out from s->cfg (prefix <prefix>/<id>) and,
 * on an empty data folder, downloads the applied numbers of the node it
 * restores from to DIR/cluster/applied (AKIDB_ENOENT naming the key when
 * --bootstrap-from names a node whose copy has none). */
akidb_status ak_cluster_bk_prepare(ak_server *s, ak_cluster_bk_opts *out);
void ak_cluster_bk_opts_free(ak_cluster_bk_opts *o);

/* The thread that uploads <prefix>/<id>/cluster-applied (see above). */
typedef struct ak_cluster_bk ak_cluster_bk;
akidb_status ak_cluster_bk_start(ak_server *s, ak_replica *rep, const char *node_id,
                                 ak_cluster_bk **out);
/* Stops the thread (before the replicas stop); NULL-safe. */
void ak_cluster_bk_stop(ak_cluster_bk *b);

/* dp_cluster.c: the node id of --node-id (or the host name) into id. */
akidb_status ak_dp_cluster_node_id(const char *cfg, char *id, size_t cap);

#endif
#endif /* AKIDB_SERVER_DP_CLUSTER_BK_H */
