/*
 * route.h - the server's one route table.
 *
 * Every HTTP route is one row: methods, a path pattern, the least role it
 * needs, a handler, flags.  Routes come in families (akidb's own, OpenAI,
 * Qdrant, TEI, operations, ...), one file each; a family has its rows and
 * the error shape its clients expect.  routes.c lists the families, one line
 * each, and matches a request against them; router.c authenticates, checks
 * the role, parses the JSON body when the route wants it, calls the handler
 * and records the metrics under the route's pattern.
 *
 * Adding a route family: a file src/server/routes_<name>.c defining
 * `const ak_route_family ak_routes_<name>` (declared below), one line in
 * routes.c's table, the file in src/server/CMakeLists.txt.
 */
#ifndef AKIDB_SERVER_ROUTE_H
#define AKIDB_SERVER_ROUTE_H

#include "server/internal.h"

typedef void (*ak_route_fn)(ak_ctx *c);

enum {
    AK_RT_ANY_PHASE = 1u,   /* answers while the server starts (health ...)   */
    AK_RT_JSON = 2u,        /* the body must be a JSON object: parsed into
                               c->body before the handler (400 otherwise)    */
};

typedef struct ak_route {
    const char *methods;    /* "GET", "POST", "GET|HEAD", "PUT|POST" ...      */
    /* "/api/v1/collections/{name}/points/{id}": literal segments and
     * {params}; a param matches one whole path segment (percent-decoded),
     * found in c->param[] in order.  Patterns are matched in table order:
     * put a literal segment before a param in the same place. */
    const char *pattern;
    ak_role role;           /* least role; AK_ROLE_NONE: no key needed       */
    ak_route_fn fn;
    unsigned flags;         /* AK_RT_*                                       */
} ak_route;

/* Writes an error answer in a family's shape (status, a short code such as
 * "not_found", a message for people). */
typedef void (*ak_route_error_fn)(ak_ctx *c, int status, const char *code, const char *msg);

typedef struct ak_route_family {
    const char *name;
    const ak_route *routes;
    size_t n;
    ak_route_error_fn error;   /* NULL: akidb's {"error":{"code","message"}} */
} ak_route_family;

#define AK_ROUTES(arr) (arr), (sizeof(arr) / sizeof *(arr))

extern const ak_route_family ak_routes_ops;         /* router.c: health, ready, info, metrics */
extern const ak_route_family ak_routes_embed;       /* routes_embed.c: /api/v1/embed */
extern const ak_route_family ak_routes_openai;      /* routes_embed.c: /v1/embeddings, /v1/models */
extern const ak_route_family ak_routes_admin;       /* routes_admin.c: keys, tenants */
extern const ak_route_family ak_routes_collections; /* routes_coll.c: /api/v1/collections... */
extern const ak_route_family ak_routes_points;      /* routes_points.c: .../{name}/points, search... */
extern const ak_route_family ak_routes_tei;         /* routes_tei.c: TEI /embed, /rerank ... */
extern const ak_route_family ak_routes_qdrant;      /* routes_qdrant.c: Qdrant /collections... */

extern const ak_route_family ak_routes_console;     /* routes_console.c: the web console, GET / */
extern const ak_route_family ak_routes_openapi;     /* routes_openapi.c: GET /openapi.json */
#ifdef AKIDB_HAVE_CLUSTER
extern const ak_route_family ak_routes_cluster;     /* routes_cluster.c: /cluster/v1/... */
#endif

/* The table of families, in matching order; returns their count. */
size_t ak_route_families(const ak_route_family *const **out);

/* Finds the route of c->req (method and c->seg), filling c->route,
 * c->family and c->param.  Returns 0 when found, 404 when no pattern
 * matches the path, 405 when patterns match but none takes the method
 * (c->family is then the family of the first that matched, for the error
 * shape, and *allow lists the methods that would). */
int ak_route_find(ak_ctx *c, char *allow, size_t allow_cap);

#endif /* AKIDB_SERVER_ROUTE_H */
