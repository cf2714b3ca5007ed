/*
 * routes_console.c - the web console: `GET /` from a browser answers the
 * console's page, `GET /console/{file}` its script and style sheet.  The
 * files live in src/server/console/ and are compiled into the binary
 * (console_embed.cmake), so the console needs nothing on disk and fetches
 * nothing from elsewhere: its script talks only to this server's own REST
 * routes, with the API key the user types (kept in sessionStorage).
 *
 * `GET /` is shared: a browser (its Accept header prefers text/html) gets
 * the page; any other client (Qdrant's, curl) gets what the Qdrant family
 * answers there, {"title", "version"}.  This family comes first in the
 * table (routes.c), so its handler makes that choice and hands other
 * clients to the Qdrant family's own `GET /` row.
 *
 * Console answers carry a strict Content-Security-Policy (scripts, styles
 * and connections from this origin only, no inline code, no framing).
 */
#include "server/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Defined by the C source that console_embed.cmake generates. */
extern const size_t ak_console_count;
extern const char *const ak_console_name[];
extern const unsigned char *const ak_console_data[];
extern const size_t ak_console_size[];

static const char console_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/* The q of one Accept item's parameters (";q=0.8"); 1 when absent. */
static double accept_q(const char *params, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (params[i] != ';')
            continue;
        size_t j = i + 1;
        while (j < n && (params[j] == ' ' || params[j] == '\t'))
            j++;
        if (j + 1 < n && (params[j] == 'q' || params[j] == 'Q') && params[j + 1] == '=') {
            char num[16];
            size_t k = 0;
            for (j += 2; j < n && params[j] != ';' && k + 1 < sizeof num; j++)
                num[k++] = params[j];
            num[k] = '\0';
            double q = strtod(num, NULL);
            return q < 0 ? 0 : q > 1 ? 1 : q;
        }
    }
    return 1;
}

/* Whether an Accept header prefers HTML to JSON: text/html (or XHTML) is
 * listed with q > 0 and at least the q of application/json.  A missing
 * header or a bare wildcard does not. */
static bool wants_html(const char *accept)
{
    if (!accept)
        return false;
    double html = 0, json = 0;
    const char *p = accept;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p;
        size_t n = len;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        size_t tlen = strcspn(s, ";,");
        if (tlen > n)
            tlen = n;
        while (tlen && (s[tlen - 1] == ' ' || s[tlen - 1] == '\t'))
            tlen--;
        double q = accept_q(s, n);
        if ((tlen == 9 && strncasecmp(s, "text/html", 9) == 0) ||
            (tlen == 21 && strncasecmp(s, "application/xhtml+xml", 21) == 0)) {
            if (q > html)
                html = q;
        } else if (tlen == 16 && strncasecmp(s, "application/json", 16) == 0) {
            if (q > json)
                json = q;
        }
        p += len + (p[len] == ',');
    }
    return html > 0 && html >= json;
}

/* The Content-Type of a console file, by its extension. */
static const char *file_type(const char *name)
{
    static const char *const types[][2] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".json", "application/json" },
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

/* Answers console file name; false when there is none of that name. */
static bool send_file(ak_ctx *c, const char *name)
{
    for (size_t i = 0; i < ak_console_count; i++) {
        if (strcmp(ak_console_name[i], name) != 0)
            continue;
        size_t n = ak_console_size[i];
        char *p = ak_malloc(n + 1);
        if (!p) {
            ak_reply_oom(c->resp);
            return true;
        }
        memcpy(p, ak_console_data[i], n + 1);
        ak_reply_raw(c->resp, 200, p, n, file_type(name));
        /* the files change only with the binary: revalidate, never go stale */
        c->resp->cache_control = "no-cache";
        c->resp->csp = console_csp;
        return true;
    }
    return false;
}

/* GET /: the console for a browser, the Qdrant family's answer otherwise. */
static void console_root(ak_ctx *c)
{
    if (wants_html(c->req->accept)) {
        if (!send_file(c, "index.html"))
            ak_reply_error(c, 500, "internal", "the console's index.html is not in this build");
        c->resp->vary_accept = 1;
        return;
    }
    for (size_t i = 0; i < ak_routes_qdrant.n; i++) {
        const ak_route *rt = &ak_routes_qdrant.routes[i];
        if (strcmp(rt->pattern, "/") == 0 && strstr(rt->methods, "GET") &&
            rt->role == AK_ROLE_NONE) {
            c->route = rt;
            c->family = &ak_routes_qdrant;
            rt->fn(c);
            c->resp->vary_accept = 1;
            return;
        }
    }
    /* a build without the Qdrant routes */
    ak_reply_json(c, 200, json_pack("{s:s,s:s}", "title", "akidb", "version",
                                    AKIDB_VERSION_STRING));
    c->resp->vary_accept = 1;
}

/* GET /console/{file} */
static void console_file(ak_ctx *c)
{
    const char *name = c->param[0];
    if (!send_file(c, name))
        ak_reply_error(c, 404, "not_found", "the console has no file '%.64s'", name);
}

static const ak_route routes[] = {
    { "GET", "/", AK_ROLE_NONE, console_root, 0 },
    { "GET", "/console/{file}", AK_ROLE_NONE, console_file, AK_RT_ANY_PHASE },
};

const ak_route_family ak_routes_console = { "console", AK_ROUTES(routes), NULL };
