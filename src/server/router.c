/*
 * router.c - turns one HTTP request into one answer: splits and
 * percent-decodes the path, finds the route in the table (routes.c), answers
 * 503 while the server starts (except the operations routes), authenticates
 * the key, checks the route's role, parses the JSON body when the route
 * wants it, calls the handler and records metrics under the route's
 * pattern.  It never touches a socket (http.c does), so the fuzz target and
 * unit tests can drive it directly, and every failure becomes an error in
 * the route family's shape with a fitting status instead of a crash.
 */
#include "server/route.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum { KEY_NONE, KEY_OK, KEY_NOT_BEARER, KEY_TOO_LONG };

/* Copies v[0..n) without the spaces and tabs around it (one rule for every
 * header that carries a key) into buf; KEY_TOO_LONG if it does not fit. */
static int trimmed_key(const char *v, size_t n, char *buf, size_t cap)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return KEY_NONE;
    if (n >= cap)
        return KEY_TOO_LONG;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return KEY_OK;
}

/* The key presented by "Authorization: Bearer KEY" or "X-API-Key: KEY"
 * (Authorization wins when both are sent). */
static int presented_key(const ak_http_req *r, char *buf, size_t cap)
{
    if (r->authorization) {
        const char *a = r->authorization;
        while (*a == ' ' || *a == '\t')
            a++;
        if (strncasecmp(a, "Bearer", 6) != 0 || (a[6] != ' ' && a[6] != '\t'))
            return *a ? KEY_NOT_BEARER : KEY_NONE;
        a += 6;
        return trimmed_key(a, strlen(a), buf, cap);
    }
    if (r->api_key)
        return trimmed_key(r->api_key, strlen(r->api_key), buf, cap);
    return KEY_NONE;
}

static bool authenticate(ak_ctx *c)
{
    ak_server *s = c->srv;
    if (!s->auth_on) {
        snprintf(c->id.tenant, sizeof c->id.tenant, "%s", AK_DEFAULT_TENANT);
        c->id.role = AK_ROLE_ADMIN;
        return true;
    }
    char buf[256];
    switch (presented_key(c->req, buf, sizeof buf)) {
    case KEY_NONE:
        ak_reply_error(c, 401, "unauthorized",
                       "an API key is required: send 'Authorization: Bearer ak_...'");
        return false;
    case KEY_NOT_BEARER:
        ak_reply_error(c, 401, "unauthorized",
                       "the Authorization header must be 'Bearer <API key>'");
        return false;
    case KEY_TOO_LONG:
        ak_reply_error(c, 401, "unauthorized", "invalid API key (longer than %zu bytes)",
                       sizeof buf - 1);
        return false;
    default:
        break;
    }
    if (ak_auth_check(s->auth, buf, &c->id) != AKIDB_OK) {
        ak_reply_error(c, 401, "unauthorized", "invalid API key");
        return false;
    }
    return true;
}

void ak_server_dispatch(ak_server *s, const ak_http_req *req, ak_http_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    ak_ctx c;
    memset(&c, 0, sizeof c);
    c.srv = s;
    c.req = req;
    c.resp = resp;
    c.t0 = ak_now();
    const char *label = "unmatched";
    char allow[128];

    if (!ak_split_path(&c, req->path)) {
        ak_reply_error(&c, 400, "invalid_request", "malformed request path");
        goto done;
    }
    int found = ak_route_find(&c, allow, sizeof allow);
    if (found == 404) {
        ak_reply_error(&c, 404, "not_found", "no route for %s %s", req->method, req->path);
        goto done;
    }
    if (found == 405) {
        ak_reply_error(&c, 405, "method_not_allowed", "%s %s: use %s", req->method, req->path,
                       allow);
        goto done;
    }
    const ak_route *rt = c.route;
    label = rt->pattern;
    if (!(rt->flags & AK_RT_ANY_PHASE) && atomic_load(&s->phase) != AK_PHASE_READY) {
        ak_reply_error(&c, 503, "starting", "the server is starting (%s); see /ready",
                       atomic_load(&s->phase) == AK_PHASE_STORE ? "the store is recovering"
                                                                : "loading models");
        goto done;
    }
    if (rt->role != AK_ROLE_NONE && (!authenticate(&c) || !ak_need_role(&c, rt->role)))
        goto done;
    if ((rt->flags & AK_RT_JSON) && !ak_need_body(&c))
        goto done;
    rt->fn(&c);
    /* a write that succeeded shows the disk takes writes again */
    if (rt->role >= AK_ROLE_WRITER && resp->status < 300)
        atomic_store(&s->disk_full, 0);

done:
    if (!resp->body)
        ak_reply_oom(resp);
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS"};
    const char *mlabel = "OTHER";
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(req->method, known[i]) == 0)
            mlabel = known[i];
    ak_metrics_request(s->metrics, label, mlabel, resp->status, ak_now() - c.t0);
    for (size_t i = 0; i < c.nseg; i++)
        ak_free(c.seg[i]);
    json_decref(c.body);
}
