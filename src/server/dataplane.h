/*
 * dataplane.h - the server's data plane as a method table: the writes and
 * the search the routes perform, behind one struct of function pointers
 * (the way SQLite's VFS or io_methods are tables of methods), so that the
 * same routes run on a single node or in a cluster.
 *
 *   dp_local.c    every method goes straight to the local store (a single
 *                 node; also the cluster's answers to peers' searches)
 *   dp_cluster.c  writes become records of the cluster's write log, the
 *                 search covers every shard through the nodes holding
 *                 them (built only with the cluster library:
 *                 AKIDB_HAVE_CLUSTER)
 *
 * Every method returns an akidb_status with the message set through
 * ak_fail, as the store does, so the routes map failures to answers as
 * before (ak_reply_status, ak_coll_store_err).  Search and get by id
 * reach every shard; scroll and count stay on the local store, and `reads`
 * says whether the local store can answer them in full.
 */
#ifndef AKIDB_SERVER_DATAPLANE_H
#define AKIDB_SERVER_DATAPLANE_H

#include "server/internal.h"

#ifdef AK_HAVE_STORE

typedef struct ak_dataplane {
    const char *name;   /* "local", "cluster" */
    akidb_status (*tenant_create)(void *dp, const char *tenant);
    akidb_status (*tenant_delete)(void *dp, const char *tenant);
    akidb_status (*coll_create)(void *dp, const char *tenant, const char *name,
                                const akidb_collection_opts *o);
    akidb_status (*coll_delete)(void *dp, const char *tenant, const char *name);
    /* As akidb_points_upsert. */
    akidb_status (*upsert)(void *dp, const char *tenant, const char *coll,
                           const akidb_point_in *pts, const uint32_t *dims, size_t n);
    /* As akidb_points_delete (*n_deleted may be an estimate: dp_cluster.c). */
    akidb_status (*del)(void *dp, const char *tenant, const char *coll, const char *const *ids,
                        size_t n, size_t *n_deleted);
    /* As akidb_search; auth is the caller's credentials as one header line
     * ("Authorization: Bearer ...") for searches sent on to other nodes, or
     * NULL. */
    akidb_status (*search)(void *dp, const char *auth, const char *tenant, const char *coll,
                           const akidb_search_req *req, akidb_points *out);
    /* As akidb_points_get (auth as for search): the points of ids this node
     * does not hold are asked of nodes that do. */
    akidb_status (*get)(void *dp, const char *auth, const char *tenant, const char *coll,
                        const char *const *ids, size_t n, unsigned with, akidb_points *out);
    /* AKIDB_OK when the local store holds every point (scroll and count may
     * read it); otherwise a failure whose message says what this node
     * holds. */
    akidb_status (*reads)(void *dp);
} ak_dataplane;

/* The local data plane: ctx is the akidb_store. */
extern const ak_dataplane ak_dp_local;

/* Searches through c->srv's data plane with c's credentials. */
akidb_status ak_dp_search(ak_ctx *c, const char *coll, const akidb_search_req *req,
                          akidb_points *out);

/* Gets points by id through c->srv's data plane with c's credentials. */
akidb_status ak_dp_get(ak_ctx *c, const char *coll, const char *const *ids, size_t n,
                       unsigned with, akidb_points *out);

/* True when scroll / count may be answered from the local store;
 * otherwise answers 409 ("partial_node") saying what this node holds and
 * returns false. */
bool ak_dp_reads_ok(ak_ctx *c);

#ifdef AKIDB_HAVE_CLUSTER
/* dp_cluster.c: joins the cluster named by s->cfg (write log, membership,
 * replicas of the held shards), in that order; sets s->dp and s->dp_ctx. */
akidb_status ak_dp_cluster_open(ak_server *s);
/* Leaves the cluster in the reverse order; NULL-safe. */
void ak_dp_cluster_close(void *dp_ctx);
/* /ready: 1 when every held shard applied its backlog; else 0 with the
 * reason in why. */
int ak_dp_cluster_ready(void *dp_ctx, char *why, size_t cap);
/* (returns -1, with why naming the shard, when a held shard's next record
 * was trimmed from its stream: the node cannot catch up from the log) */
/* GET /cluster/v1/status's body (a new object; NULL on ENOMEM). */
json_t *ak_dp_cluster_status(void *dp_ctx);
#endif

#endif /* AK_HAVE_STORE */

#endif /* AKIDB_SERVER_DATAPLANE_H */
