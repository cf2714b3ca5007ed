/*
 * routes.c - the table of route families (one line each) and the matcher
 * that finds a request's route in it (see route.h).
 */
#include "server/route.h"

#include <stdio.h>
#include <string.h>

static const ak_route_family *const families[] = {
    &ak_routes_console,   /* first: GET / is the console for browsers */
    &ak_routes_ops,
    &ak_routes_openai,
    &ak_routes_embed,
    &ak_routes_admin,
    &ak_routes_collections,
    &ak_routes_points,
    &ak_routes_tei,
    &ak_routes_qdrant,
    &ak_routes_openapi,
#ifdef AKIDB_HAVE_CLUSTER
    &ak_routes_cluster,
#endif
};

size_t ak_route_families(const ak_route_family *const **out)
{
    *out = families;
    return sizeof families / sizeof *families;
}

/* Splits path into decoded segments.  Returns false for a malformed path. */
bool ak_split_path(ak_ctx *c, const char *path)
{
    if (!path || path[0] != '/')
        return false;
    const char *p = path + 1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0) {            /* "//" or a trailing "/": ignore */
            if (!slash)
                break;
            p = slash + 1;
            continue;
        }
        if (c->nseg == sizeof c->seg / sizeof c->seg[0])
            return false;
        char *s = ak_pct_decode(p, len, false);
        if (!s)
            return false;
        c->seg[c->nseg++] = s;
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

/* True if method is one of methods ("GET|HEAD"). */
static bool method_in(const char *method, const char *methods)
{
    size_t n = strlen(method);
    for (const char *p = methods; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, method, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

/* Matches c->seg against pattern; fills c->param on success. */
static bool path_matches(ak_ctx *c, const char *pattern)
{
    size_t i = 0, np = 0;
    const char *p = pattern;
    while (*p == '/')
        p++;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (i >= c->nseg)
            return false;
        if (p[0] == '{') {
            if (np == sizeof c->param / sizeof *c->param)
                return false;
            c->param[np++] = c->seg[i];
        } else if (strlen(c->seg[i]) != len || strncmp(c->seg[i], p, len) != 0) {
            return false;
        }
        i++;
        p = slash ? slash + 1 : p + len;
    }
    if (i != c->nseg)
        return false;
    c->nparam = np;
    return true;
}

int ak_route_find(ak_ctx *c, char *allow, size_t allow_cap)
{
    const ak_route_family *first = NULL;
    size_t used = 0;
    if (allow_cap)
        allow[0] = '\0';
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        const ak_route_family *fam = families[f];
        for (size_t r = 0; r < fam->n; r++) {
            const ak_route *rt = &fam->routes[r];
            if (!path_matches(c, rt->pattern))
                continue;
            if (method_in(c->req->method, rt->methods)) {
                c->route = rt;
                c->family = fam;
                return 0;
            }
            if (!first)
                first = fam;
            int k = snprintf(allow + used, allow_cap > used ? allow_cap - used : 0, "%s%s",
                             used ? "|" : "", rt->methods);
            if (k > 0 && used + (size_t)k < allow_cap)
                used += (size_t)k;
        }
    }
    c->nparam = 0;
    if (!first)
        return 404;
    c->family = first;
    return 405;
}
