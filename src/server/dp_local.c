/*
 * dp_local.c - the local data plane (dataplane.h): every write and search
 * goes straight to the node's own store.  Also the helpers the routes call
 * the data plane through (credentials for searches sent on, the 409 of a
 * node that holds only some shards).
 */
#include "server/dataplane.h"

#ifdef AK_HAVE_STORE

#include <stdio.h>
#include <string.h>

static akidb_status local_tenant_create(void *dp, const char *tenant)
{
    return akidb_tenant_create(dp, tenant);
}

static akidb_status local_tenant_delete(void *dp, const char *tenant)
{
    return akidb_tenant_delete(dp, tenant);
}

static akidb_status local_coll_create(void *dp, const char *tenant, const char *name,
                                      const akidb_collection_opts *o)
{
    return akidb_collection_create(dp, tenant, name, o);
}

static akidb_status local_coll_delete(void *dp, const char *tenant, const char *name)
{
    return akidb_collection_delete(dp, tenant, name);
}

static akidb_status local_upsert(void *dp, const char *tenant, const char *coll,
                                 const akidb_point_in *pts, const uint32_t *dims, size_t n)
{
    return akidb_points_upsert(dp, tenant, coll, pts, dims, n);
}

static akidb_status local_del(void *dp, const char *tenant, const char *coll,
                              const char *const *ids, size_t n, size_t *n_deleted)
{
    return akidb_points_delete(dp, tenant, coll, ids, n, n_deleted);
}

static akidb_status local_search(void *dp, const char *auth, const char *tenant,
                                 const char *coll, const akidb_search_req *req,
                                 akidb_points *out)
{
    (void)auth;
    return akidb_search(dp, tenant, coll, req, out);
}

static akidb_status local_get(void *dp, const char *auth, const char *tenant, const char *coll,
                              const char *const *ids, size_t n, unsigned with,
                              akidb_points *out)
{
    (void)auth;
    return akidb_points_get(dp, tenant, coll, ids, n, with, out);
}

static akidb_status local_reads(void *dp)
{
    (void)dp;
    return AKIDB_OK;
}

const ak_dataplane ak_dp_local = {
    "local",         local_tenant_create, local_tenant_delete, local_coll_create,
    local_coll_delete, local_upsert,      local_del,           local_search,
    local_get,         local_reads,
};

/* The caller's credentials as one header line for the nodes a request is
 * sent on to (NULL when it has none). */
static const char *auth_line(ak_ctx *c, char *buf, size_t cap)
{
    if (c->req && c->req->authorization) {
        snprintf(buf, cap, "Authorization: %s", c->req->authorization);
        return buf;
    }
    if (c->req && c->req->api_key) {
        snprintf(buf, cap, "X-API-Key: %s", c->req->api_key);
        return buf;
    }
    return NULL;
}

akidb_status ak_dp_search(ak_ctx *c, const char *coll, const akidb_search_req *req,
                          akidb_points *out)
{
    char auth[320];
    return c->srv->dp->search(c->srv->dp_ctx, auth_line(c, auth, sizeof auth), c->id.tenant,
                              coll, req, out);
}

akidb_status ak_dp_get(ak_ctx *c, const char *coll, const char *const *ids, size_t n,
                       unsigned with, akidb_points *out)
{
    char auth[320];
    return c->srv->dp->get(c->srv->dp_ctx, auth_line(c, auth, sizeof auth), c->id.tenant, coll,
                           ids, n, with, out);
}

bool ak_dp_reads_ok(ak_ctx *c)
{
    if (c->srv->dp->reads(c->srv->dp_ctx) == AKIDB_OK)
        return true;
    ak_reply_error(c, 409, "partial_node", "%s", akidb_last_error());
    return false;
}

#endif /* AK_HAVE_STORE */
