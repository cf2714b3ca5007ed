/*
 * routes_admin.c - administration routes, admin role only: API keys
 * (/api/v1/keys) and tenants (/api/v1/tenants).  Admin keys manage keys and
 * tenants server-wide; data routes stay scoped to the key's own tenant.
 */
#include "server/route.h"
#include "server/dataplane.h"

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

static void key_create(ak_ctx *c)
{
    ak_auth *a = c->srv->auth;
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
}

static void key_list(ak_ctx *c)
{
    ak_auth *a = c->srv->auth;
    char buf[AK_TENANT_MAX + 1];
    const char *tenant = ak_query_arg(c, "tenant", buf, sizeof buf);
    json_t *keys = ak_auth_key_list(a, tenant);
    ak_reply_json(c, 200, keys ? json_pack("{s:o}", "keys", keys) : NULL);
}

static void key_delete(ak_ctx *c)
{
    ak_auth *a = c->srv->auth;
    akidb_status st = ak_auth_key_delete(a, c->param[0]);
    if (st == AKIDB_ENOENT) {
        ak_reply_error(c, 404, "key_not_found", "no key with id '%s'", c->param[0]);
        return;
    }
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:s,s:b}", "id", c->param[0], "deleted", 1));
}

#ifdef AK_HAVE_STORE
static void tenant_create(ak_ctx *c)
{
    if (!ak_need_body(c))
        return;
    const char *name = NULL;
    if (json_unpack(c->body, "{s:s}", "name", &name) != 0) {
        ak_reply_error(c, 400, "invalid_request", "expected {\"name\": string}");
        return;
    }
    akidb_status st = c->srv->dp->tenant_create(c->srv->dp_ctx, name);
    if (st == AKIDB_EEXIST) {
        ak_reply_error(c, 409, "already_exists", "tenant '%s' exists", name);
        return;
    }
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    ak_reply_json(c, 201, json_pack("{s:s}", "name", name));
}

static void tenant_list(ak_ctx *c)
{
    akidb_store *store = c->srv->store;
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
}

static void tenant_get(ak_ctx *c)
{
    akidb_store *store = c->srv->store;
    const char *t = c->param[0];
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
}

static void tenant_delete(ak_ctx *c)
{
    const char *t = c->param[0];
    if (strcmp(t, AK_DEFAULT_TENANT) == 0) {
        ak_reply_error(c, 400, "invalid_request", "the default tenant cannot be deleted");
        return;
    }
    akidb_status st = c->srv->dp->tenant_delete(c->srv->dp_ctx, t);
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
}
#endif

static const ak_route routes[] = {
    { "POST", "/api/v1/keys", AK_ROLE_ADMIN, key_create, AK_RT_JSON },
    { "GET", "/api/v1/keys", AK_ROLE_ADMIN, key_list, 0 },
    { "DELETE", "/api/v1/keys/{id}", AK_ROLE_ADMIN, key_delete, 0 },
#ifdef AK_HAVE_STORE
    { "POST", "/api/v1/tenants", AK_ROLE_ADMIN, tenant_create, AK_RT_JSON },
    { "GET", "/api/v1/tenants", AK_ROLE_ADMIN, tenant_list, 0 },
    { "GET", "/api/v1/tenants/{name}", AK_ROLE_ADMIN, tenant_get, 0 },
    { "DELETE", "/api/v1/tenants/{name}", AK_ROLE_ADMIN, tenant_delete, 0 },
#endif
};

const ak_route_family ak_routes_admin = { "admin", AK_ROUTES(routes), NULL };
