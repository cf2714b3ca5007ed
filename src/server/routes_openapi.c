/*
 * routes_openapi.c - GET /openapi.json: an OpenAPI 3 document of every
 * route, generated from the route table itself (routes.c), so a route
 * cannot exist undocumented or be documented without existing: each row
 * becomes an operation of its path with the method, the path parameters,
 * its family as the tag, whether it needs an API key and which role, and
 * whether it takes a JSON body.  The meaning of each route's fields is in
 * docs/API.md.
 */
#include "server/route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The path parameters of pattern ("{name}" ...) as OpenAPI parameter
 * objects. */
static json_t *path_params(const char *pattern)
{
    json_t *a = json_array();
    for (const char *p = strchr(pattern, '{'); a && p; p = strchr(p + 1, '{')) {
        const char *e = strchr(p, '}');
        if (!e)
            break;
        json_t *o = json_pack("{s:s%,s:s,s:b,s:{s:s}}", "name", p + 1, (size_t)(e - p - 1),
                              "in", "path", "required", 1, "schema", "type", "string");
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* One operation object for route r of family f. */
static json_t *operation(const ak_route_family *f, const ak_route *r)
{
    char summary[160];
    snprintf(summary, sizeof summary, "%s %s", f->name, r->pattern);
    json_t *op = json_pack("{s:s,s:[s],s:o,s:{s:{s:s}}}", "summary", summary, "tags", f->name,
                           "parameters", path_params(r->pattern), "responses", "default",
                           "description", "JSON answer; errors in the family's shape");
    if (!op)
        return NULL;
    if (r->role != AK_ROLE_NONE) {
        json_object_set_new(op, "security", json_pack("[{s:[]},{s:[]}]", "bearer", "apiKey"));
        json_object_set_new(op, "x-akidb-role", json_string(ak_role_name(r->role)));
    }
    if (r->flags & AK_RT_JSON)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/json", "schema", "type", "object"));
    return op;
}

static void route_openapi(ak_ctx *c)
{
    json_t *paths = json_object();
    const ak_route_family *const *fams;
    size_t nf = ak_route_families(&fams);
    for (size_t f = 0; paths && f < nf; f++) {
        for (size_t i = 0; i < fams[f]->n; i++) {
            const ak_route *r = &fams[f]->routes[i];
            json_t *item = json_object_get(paths, r->pattern);
            if (!item) {
                item = json_object();
                if (!item || json_object_set_new(paths, r->pattern, item) != 0) {
                    json_decref(paths);
                    paths = NULL;
                    break;
                }
            }
            char m[16];
            for (const char *p = r->methods; *p;) {   /* "GET|HEAD": one operation each */
                size_t len = strcspn(p, "|");
                snprintf(m, sizeof m, "%.*s", (int)len, p);
                for (char *q = m; *q; q++)
                    *q = (char)(*q >= 'A' && *q <= 'Z' ? *q - 'A' + 'a' : *q);
                if (!json_object_get(item, m))   /* the first row of a path + method wins */
                    json_object_set_new(item, m, operation(fams[f], r));
                p += len + (p[len] == '|');
            }
        }
    }
    ak_reply_json(c, 200,
                  paths ? json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:{s:{s:{s:s,s:s},s:{s:s,s:s,s:s}}}}",
                                    "openapi", "3.0.3", "info", "title", "AkiDB", "version",
                                    AKIDB_VERSION_STRING, "description",
                                    "Every route of akidb serve, from its route table; fields "
                                    "and errors: docs/API.md",
                                    "paths", paths, "components", "securitySchemes", "bearer",
                                    "type", "http", "scheme", "bearer", "apiKey", "type",
                                    "apiKey", "in", "header", "name", "X-API-Key")
                        : NULL);
}

static const ak_route routes[] = {
    { "GET", "/openapi.json", AK_ROLE_NONE, route_openapi, AK_RT_ANY_PHASE },
};

const ak_route_family ak_routes_openapi = { "openapi", AK_ROUTES(routes), NULL };
