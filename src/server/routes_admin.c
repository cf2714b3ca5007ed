/*
 * routes_admin.c - administration routes, admin role only: API keys
 * (/api/v1/keys) and tenants (/api/v1/tenants).  Admin keys manage keys and
 * tenants server-wide; data routes stay scoped to the key's own tenant.
 */
#include "server/internal.h"

#include <string.h>

static bool tenant_exists(ak_ctx *c, const char *tenant)
{
#ifdef AK_HAVE_STORE
    akidb_names names = {0};
    if (akidb_tenant_list(c->srv->store, &names) != AKIDB_OK)
        return false;
    bool found = false;
    for (size_t i = 0; i < names.n; i++)
        if (strcmp(names.names[i], tenant) == 0)
            found = true;
    akidb_names_free(&names);
    return found;
#else
    return strcmp(tenant, AK_DEFAULT_TENANT) == 0;
#endif
}

void ak_route_keys(ak_ctx *c)
{
    if (!ak_need_role(c, AK_ROLE_ADMIN))
        return;
    ak_auth *a = c->srv->auth;
    const char *m = c->req->method;
    if (c->nseg == 3 && strcmp(m, "POST") == 0) {
        if (!ak_need_body(c))
            return;
        const char *tenant = c->id.tenant, *role = NULL, *label = NULL;
        if (json_unpack(c->body, "{s?s,s:s,s?s}", "tenant", &tenant, "role", &role, "label",
                        &label) != 0) {
            ak_reply_error(c, 400, "invalid_request",
                           "expected {\"role\": \"reader\"|\"writer\"|\"admin\", "
                           "\"tenant\"?: string, \"label\"?: string}");
            return;
        }
        ak_role r = ak_role_parse(role);
        if (r == AK_ROLE_NONE) {
            ak_reply_error(c, 400, "invalid_request",
                           "\"role\" must be \"reader\", \"writer\" or \"admin\"");
            return;
        }
        if (!tenant_exists(c, tenant)) {
            ak_reply_error(c, 404, "tenant_not_found", "no tenant named '%s'", tenant);
            return;
        }
        char *secret;
        json_t *info;
        akidb_status st = ak_auth_key_create(a, tenant, r, label, &secret, &info);
        if (st != AKIDB_OK) {
            ak_reply_status(c, st);
            return;
        }
        json_object_set_new(info, "key", json_string(secret));
        memset(secret, 0, strlen(secret));
        ak_free(secret);
        ak_reply_json(c, 201, info);
        return;
    }
    if (c->nseg == 3 && strcmp(m, "GET") == 0) {
        char buf[AK_TENANT_MAX + 1];
        const char *tenant = ak_query_arg(c, "tenant", buf, sizeof buf);
        json_t *keys = ak_auth_key_list(a, tenant);
        ak_reply_json(c, 200, keys ? json_pack("{s:o}", "keys", keys) : NULL);
        return;
    }
    if (c->nseg == 4 && strcmp(m, "DELETE") == 0) {
        akidb_status st = ak_auth_key_delete(a, c->seg[3]);
        if (st == AKIDB_ENOENT) {
            ak_reply_error(c, 404, "key_not_found", "no key with id '%s'", c->seg[3]);
            return;
        }
        if (st != AKIDB_OK) {
            ak_reply_status(c, st);
            return;
        }
        ak_reply_json(c, 200, json_pack("{s:s,s:b}", "id", c->seg[3], "deleted", 1));
        return;
    }
    ak_reply_error(c, 405, "method_not_allowed",
                   "use POST or GET /api/v1/keys, DELETE /api/v1/keys/{id}");
}

void ak_route_tenants(ak_ctx *c)
{
    if (!ak_need_role(c, AK_ROLE_ADMIN))
        return;
#ifndef AK_HAVE_STORE
    ak_reply_error(c, 501, "unsupported", "this build has no store");
#else
    akidb_store *store = c->srv->store;
    const char *m = c->req->method;
    if (c->nseg == 3 && strcmp(m, "POST") == 0) {
        if (!ak_need_body(c))
            return;
        const char *name = NULL;
        if (json_unpack(c->body, "{s:s}", "name", &name) != 0) {
            ak_reply_error(c, 400, "invalid_request", "expected {\"name\": string}");
            return;
        }
        akidb_status st = akidb_tenant_create(store, name);
        if (st == AKIDB_EEXIST) {
            ak_reply_error(c, 409, "already_exists", "tenant '%s' exists", name);
            return;
        }
        if (st != AKIDB_OK) {
            ak_reply_status(c, st);
            return;
        }
        ak_reply_json(c, 201, json_pack("{s:s}", "name", name));
        return;
    }
    if (c->nseg == 3 && strcmp(m, "GET") == 0) {
        akidb_names names = {0};
        akidb_status st = akidb_tenant_list(store, &names);
        if (st != AKIDB_OK) {
            ak_reply_status(c, st);
            return;
        }
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < names.n; i++)
            if (json_array_append_new(arr, json_pack("{s:s}", "name", names.names[i])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        akidb_names_free(&names);
        ak_reply_json(c, 200, arr ? json_pack("{s:o}", "tenants", arr) : NULL);
        return;
    }
    if (c->nseg == 4 && strcmp(m, "GET") == 0) {
        const char *t = c->seg[3];
        akidb_names names = {0};
        akidb_status st = akidb_collection_list(store, t, &names);
        if (st == AKIDB_ENOENT || (st == AKIDB_EINVAL && !tenant_exists(c, t))) {
            ak_reply_error(c, 404, "tenant_not_found", "no tenant named '%s'", t);
            return;
        }
        if (st != AKIDB_OK) {
            ak_reply_status(c, st);
            return;
        }
        size_t n = names.n;
        akidb_names_free(&names);
        json_t *keys = ak_auth_key_list(c->srv->auth, t);
        size_t nk = keys ? json_array_size(keys) : 0;
        json_decref(keys);
        ak_reply_json(c, 200, json_pack("{s:s,s:I,s:I}", "name", t, "collections",
                                        (json_int_t)n, "keys", (json_int_t)nk));
        return;
    }
    if (c->nseg == 4 && strcmp(m, "DELETE") == 0) {
        const char *t = c->seg[3];
        if (strcmp(t, AK_DEFAULT_TENANT) == 0) {
            ak_reply_error(c, 400, "invalid_request", "the default tenant cannot be deleted");
            return;
        }
        akidb_status st = akidb_tenant_delete(store, t);
        if (st == AKIDB_ENOENT || (st == AKIDB_EINVAL && !tenant_exists(c, t))) {
            ak_reply_error(c, 404, "tenant_not_found", "no tenant named '%s'", t);
            return;
        }
        if (st != AKIDB_OK) {
            ak_reply_status(c, st);
            return;
        }
        size_t nk = 0;
        st = ak_auth_delete_tenant_keys(c->srv->auth, t, &nk);
        if (st != AKIDB_OK) {
            ak_reply_status(c, st);
            return;
        }
        ak_reply_json(c, 200, json_pack("{s:s,s:b,s:I}", "name", t, "deleted", 1,
                                        "keys_deleted", (json_int_t)nk));
        return;
    }
    ak_reply_error(c, 405, "method_not_allowed",
                   "use POST or GET /api/v1/tenants, GET or DELETE /api/v1/tenants/{name}");
#endif
}
