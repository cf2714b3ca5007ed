/*
 * routes_cluster.c - the routes nodes of a cluster call on each other and
 * operators read (built with the cluster library only):
 *
 *   POST /cluster/v1/search   a search answered from this node's store
 *                             alone (the shards it holds), never sent on:
 *                             the other end of fanout.h's wire format.
 *                             Same role as a search (reader); the body's
 *                             tenant must be the key's.
 *   POST /cluster/v1/get      points by id from this node's store alone,
 *                             the same way (fanout.h's get request)
 *   GET  /cluster/v1/status   this node: id, URL, shards held, how far
 *                             each is applied, the live members (404 when
 *                             the server runs on its own).
 */
#include "server/route.h"
#include "server/dataplane.h"

#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)

#include "cluster/fanout.h"

#include <string.h>

/* False (and a 403) when the body's tenant is not the key's. */
static bool tenant_ok(ak_ctx *c, const char *tenant)
{
    if (strcmp(tenant, c->id.tenant) == 0)
        return true;
    ak_reply_error(c, 403, "forbidden", "the key belongs to tenant '%s', not '%s'",
                   c->id.tenant, tenant);
    return false;
}

/* Answers the points of a local search or get (st its status) in the
 * wire format, and frees them. */
static void reply_points(ak_ctx *c, akidb_status st, akidb_points *pts)
{
    char *json = NULL;
    if (st == AKIDB_OK)
        st = ak_fanout_reply_json(pts, &json);
    akidb_points_free(pts);
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    ak_reply_raw(c->resp, 200, json, strlen(json), "application/json");
}

static void cluster_search(ak_ctx *c)
{
    ak_fanout_req r;
    akidb_status st = ak_fanout_req_parse(c->req->body ? c->req->body : "", c->req->body_len, &r);
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    akidb_points pts = {0};
    if (tenant_ok(c, r.tenant)) {
        st = akidb_search(c->srv->store, r.tenant, r.collection, &r.req, &pts);
        reply_points(c, st, &pts);
    }
    ak_fanout_req_free(&r);
}

static void cluster_get(ak_ctx *c)
{
    ak_fanout_get g;
    akidb_status st = ak_fanout_get_parse(c->req->body ? c->req->body : "", c->req->body_len, &g);
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    akidb_points pts = {0};
    if (tenant_ok(c, g.tenant)) {
        st = akidb_points_get(c->srv->store, g.tenant, g.collection, (const char *const *)g.ids,
                              g.n, g.with, &pts);
        reply_points(c, st, &pts);
    }
    ak_fanout_get_free(&g);
}

static void cluster_status(ak_ctx *c)
{
    if (c->srv->dp == &ak_dp_local) {
        ak_reply_error(c, 404, "not_found",
                       "this server is not in a cluster (akidb serve --cluster NATS_URLS)");
        return;
    }
    ak_reply_json(c, 200, ak_dp_cluster_status(c->srv->dp_ctx));
}

static const ak_route routes[] = {
    { "POST", AK_FANOUT_PATH, AK_ROLE_READER, cluster_search, 0 },
    { "POST", AK_FANOUT_GET_PATH, AK_ROLE_READER, cluster_get, 0 },
    { "GET", "/cluster/v1/status", AK_ROLE_READER, cluster_status, 0 },
};

const ak_route_family ak_routes_cluster = { "cluster", AK_ROUTES(routes), NULL };

#endif
