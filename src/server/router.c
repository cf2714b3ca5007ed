/*
 * router.c - turns one HTTP request into one JSON response: splits and
 * percent-decodes the path, finds the route, authenticates the key, parses
 * the body, calls the route handler and records metrics.  It never touches
 * a socket (http.c does), so the fuzz target and unit tests can drive it
 * directly, and every failure becomes {"error":{"code","message"}} with a
 * fitting status instead of a crash.
 */
#include "server/internal.h"
#include "common/cpu.h"
#include "index/index.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void ak_http_resp_clear(ak_http_resp *r)
{
    ak_free(r->body);
    r->body = NULL;
    r->len = 0;
}

static void set_body(ak_http_resp *r, int status, char *text, size_t len,
                     const char *ctype)
{
    ak_free(r->body);
    r->status = status;
    r->body = text;
    r->len = len;
    r->content_type = ctype;
}

/* Last-resort body when even building an error failed. */
static void reply_oom(ak_http_resp *r)
{
    static const char msg[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    char *p = ak_malloc(sizeof msg);
    if (p)
        memcpy(p, msg, sizeof msg);
    set_body(r, 500, p, p ? sizeof msg - 1 : 0, "application/json");
}

void ak_reply_json(ak_ctx *c, int status, json_t *j)
{
    if (!j) {
        reply_oom(c->resp);
        return;
    }
    size_t need = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(9));
    char *p = need ? ak_malloc(need + 1) : NULL;
    if (!p) {
        json_decref(j);
        reply_oom(c->resp);
        return;
    }
    size_t got = json_dumpb(j, p, need, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(j);
    p[got] = '\0';
    set_body(c->resp, status, p, got, "application/json");
}

void ak_reply_error(ak_ctx *c, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages may quote user input: keep them valid UTF-8 for JSON. */
    size_t bad;
    if (!ak_utf8_valid(msg, strlen(msg), &bad))
        msg[bad] = '\0';
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    ak_reply_json(c, status, j);
    if (status == 401)
        c->resp->www_authenticate = 1;
    if (status == 503)
        c->resp->retry_after = 1;
}

void ak_reply_status(ak_ctx *c, akidb_status st)
{
    const char *msg = akidb_last_error();
    if (!msg[0])
        msg = akidb_strerror(st);
    switch (st) {
    case AKIDB_EINVAL: ak_reply_error(c, 400, "invalid_request", "%s", msg); break;
    case AKIDB_EFORMAT: ak_reply_error(c, 400, "invalid_request", "%s", msg); break;
    case AKIDB_EUTF8: ak_reply_error(c, 400, "invalid_utf8", "%s", msg); break;
    case AKIDB_ETOOLONG: ak_reply_error(c, 400, "text_too_long", "%s", msg); break;
    case AKIDB_EDIM: ak_reply_error(c, 400, "dimension_mismatch", "%s", msg); break;
    case AKIDB_ERANGE: ak_reply_error(c, 400, "out_of_range", "%s", msg); break;
    case AKIDB_EUNSUPPORTED: ak_reply_error(c, 400, "unsupported", "%s", msg); break;
    case AKIDB_ENOENT: ak_reply_error(c, 404, "not_found", "%s", msg); break;
    case AKIDB_EEXIST: ak_reply_error(c, 409, "already_exists", "%s", msg); break;
    case AKIDB_EAUTH: ak_reply_error(c, 401, "unauthorized", "%s", msg); break;
    case AKIDB_EPERM: ak_reply_error(c, 403, "forbidden", "%s", msg); break;
    case AKIDB_EBUSY: ak_reply_error(c, 503, "overloaded", "%s", msg); break;
    default: ak_reply_error(c, 500, "internal", "%s: %s", akidb_status_name(st), msg); break;
    }
}

bool ak_need_body(ak_ctx *c)
{
    if (c->body)
        return true;
    const ak_http_req *r = c->req;
    if (!r->body || r->body_len == 0) {
        ak_reply_error(c, 400, "invalid_json", "the request needs a JSON object body");
        return false;
    }
    size_t bad;
    if (!ak_utf8_valid(r->body, r->body_len, &bad)) {
        ak_reply_error(c, 400, "invalid_utf8", "the body is not valid UTF-8 (byte %zu)", bad);
        return false;
    }
    json_error_t err;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        ak_reply_error(c, 400, "invalid_json", "malformed JSON at line %d, column %d: %s",
                       err.line, err.column, err.text);
        return false;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        ak_reply_error(c, 400, "invalid_json", "the body must be a JSON object");
        return false;
    }
    c->body = j;
    return true;
}

bool ak_need_role(ak_ctx *c, ak_role r)
{
    if (c->id.role >= r)
        return true;
    ak_reply_error(c, 403, "forbidden", "this key has role '%s'; the request needs '%s'",
                   ak_role_name(c->id.role), ak_role_name(r));
    return false;
}

bool ak_json_bool(ak_ctx *c, json_t *obj, const char *key, int def, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return true;
    }
    if (!json_is_boolean(v)) {
        ak_reply_error(c, 400, "invalid_request", "\"%s\" must be true or false", key);
        return false;
    }
    *out = json_is_true(v);
    return true;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; '+' stays '+' (paths) unless
 * plus_space.  NULL for a bad escape, a NUL byte or ENOMEM. */
static char *pct_decode(const char *s, size_t n, bool plus_space)
{
    char *o = ak_malloc(n + 1);
    if (!o)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n) {
                ak_free(o);
                return NULL;
            }
            int a = hexval((unsigned char)s[i + 1]), b = hexval((unsigned char)s[i + 2]);
            if (a < 0 || b < 0 || (a == 0 && b == 0)) {
                ak_free(o);
                return NULL;
            }
            o[w++] = (char)(a * 16 + b);
            i += 2;
        } else if (ch == '+' && plus_space) {
            o[w++] = ' ';
        } else if (ch == '\0') {
            ak_free(o);
            return NULL;
        } else {
            o[w++] = ch;
        }
    }
    o[w] = '\0';
    return o;
}

const char *ak_query_arg(ak_ctx *c, const char *key, char *buf, size_t cap)
{
    const char *q = c->req->query;
    size_t klen = strlen(key);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
            char *v = pct_decode(q + klen + 1, len - klen - 1, true);
            if (!v || strlen(v) >= cap) {
                ak_free(v);
                return NULL;
            }
            memcpy(buf, v, strlen(v) + 1);
            ak_free(v);
            return buf;
        }
        if (len == klen && strncmp(q, key, klen) == 0) {
            buf[0] = '\0';
            return buf;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* Splits path into decoded segments.  Returns false for a malformed path. */
static bool split_path(ak_ctx *c, const char *path)
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
        char *s = pct_decode(p, len, false);
        if (!s)
            return false;
        c->seg[c->nseg++] = s;
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

static bool seg_is(const ak_ctx *c, size_t i, const char *s)
{
    return i < c->nseg && strcmp(c->seg[i], s) == 0;
}

static bool method_is(const ak_ctx *c, const char *m)
{
    return strcmp(c->req->method, m) == 0;
}

static void route_health(ak_ctx *c)
{
    if (!method_is(c, "GET") && !method_is(c, "HEAD")) {
        ak_reply_error(c, 405, "method_not_allowed", "use GET");
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:s,s:s}", "status", "ok", "version",
                                    AKIDB_VERSION_STRING));
}

/* GET /info: the version and the CPU-feature table (common/cpu.h) with the
 * instruction-set paths the kernels and the index run. */
static void route_info(ak_ctx *c)
{
    if (!method_is(c, "GET") && !method_is(c, "HEAD")) {
        ak_reply_error(c, 405, "method_not_allowed", "use GET");
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:s,s:o,s:s,s:s}", "version", AKIDB_VERSION_STRING, "cpu",
                                    ak_cpu_json(), "kernels",
                                    akidb_kernels_name(akidb_kernels_active()), "index",
                                    akidb_kernels_name(ak_dist_path())));
}

static void route_ready(ak_ctx *c)
{
    if (!method_is(c, "GET") && !method_is(c, "HEAD")) {
        ak_reply_error(c, 405, "method_not_allowed", "use GET");
        return;
    }
    ak_server *s = c->srv;
    if (atomic_load(&s->draining)) {
        ak_reply_error(c, 503, "draining", "the server is shutting down");
        return;
    }
    int phase = atomic_load(&s->phase);
    if (phase == AK_PHASE_STORE) {
        uint64_t done = atomic_load(&s->rec_done), total = atomic_load(&s->rec_total);
        ak_reply_json(c, 503, json_pack("{s:s,s:s,s:I,s:I,s:f}", "status", "recovering", "phase",
                                        atomic_load(&s->rec_wal) ? "wal" : "snapshot", "done_bytes",
                                        (json_int_t)done, "total_bytes", (json_int_t)total,
                                        "progress", total ? (double)done / (double)total : 0.0));
        c->resp->retry_after = 1;
        return;
    }
    if (phase == AK_PHASE_MODELS) {
        ak_reply_json(c, 503, json_pack("{s:s}", "status", "loading_models"));
        c->resp->retry_after = 1;
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:s,s:I,s:b,s:b}", "status", "ready", "models",
                                    (json_int_t)ak_models_count(s->models), "store",
                                    s->store != NULL, "auth", s->auth_on));
}

static void route_metrics(ak_ctx *c)
{
    if (!method_is(c, "GET")) {
        ak_reply_error(c, 405, "method_not_allowed", "use GET");
        return;
    }
    ak_server *s = c->srv;
    ak_tbuf b = {0};
    ak_metrics_render(s->metrics, &b);
    if (atomic_load(&s->phase) == AK_PHASE_READY) {
        ak_models_render(s->models, &b);
        ak_store_metrics(s, &b);
    }
    ak_tbuf_printf(&b, "# HELP akidb_http_in_flight Requests being handled.\n"
                      "# TYPE akidb_http_in_flight gauge\nakidb_http_in_flight %ld\n"
                      "# HELP akidb_uptime_seconds Seconds since the server started.\n"
                      "# TYPE akidb_uptime_seconds gauge\nakidb_uptime_seconds %.3f\n"
                      "# HELP akidb_build_info Version of the running server.\n"
                      "# TYPE akidb_build_info gauge\nakidb_build_info{version=\"%s\"} 1\n",
                  atomic_load(&s->in_flight), ak_now() - s->started, AKIDB_VERSION_STRING);
    if (b.oom) {
        ak_tbuf_free(&b);
        reply_oom(c->resp);
        return;
    }
    set_body(c->resp, 200, b.p, b.len, "text/plain; version=0.0.4; charset=utf-8");
}

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
    const char *route = "unmatched";

    if (!split_path(&c, req->path)) {
        ak_reply_error(&c, 400, "invalid_request", "malformed request path");
        goto done;
    }
    if (c.nseg == 1 && seg_is(&c, 0, "health")) {
        route = "/health";
        route_health(&c);
        goto done;
    }
    if (c.nseg == 1 && seg_is(&c, 0, "info")) {
        route = "/info";
        route_info(&c);
        goto done;
    }
    if (c.nseg == 1 && seg_is(&c, 0, "ready")) {
        route = "/ready";
        route_ready(&c);
        goto done;
    }
    if (c.nseg == 1 && seg_is(&c, 0, "metrics")) {
        route = "/metrics";
        route_metrics(&c);
        goto done;
    }
    if (atomic_load(&s->phase) != AK_PHASE_READY) {
        ak_reply_error(&c, 503, "starting", "the server is starting (%s); see /ready",
                       atomic_load(&s->phase) == AK_PHASE_STORE ? "the store is recovering"
                                                                : "loading models");
        resp->retry_after = 1;
        goto done;
    }
    bool is_v1 = c.nseg == 2 && seg_is(&c, 0, "v1");
    bool is_api = c.nseg >= 3 && seg_is(&c, 0, "api") && seg_is(&c, 1, "v1");
    if (!is_v1 && !is_api) {
        ak_reply_error(&c, 404, "not_found", "no route for %s %s", req->method, req->path);
        goto done;
    }
    if (is_v1 && seg_is(&c, 1, "embeddings"))
        route = "/v1/embeddings";
    else if (is_v1 && seg_is(&c, 1, "models"))
        route = "/v1/models";
    else if (is_api && c.nseg == 3 && seg_is(&c, 2, "embed"))
        route = "/api/v1/embed";
    else if (is_api && seg_is(&c, 2, "keys") && c.nseg <= 4)
        route = c.nseg == 3 ? "/api/v1/keys" : "/api/v1/keys/{id}";
    else if (is_api && seg_is(&c, 2, "tenants") && c.nseg <= 4)
        route = c.nseg == 3 ? "/api/v1/tenants" : "/api/v1/tenants/{name}";
    else if (is_api && seg_is(&c, 2, "collections"))
        route = "/api/v1/collections";
    else {
        ak_reply_error(&c, 404, "not_found", "no route for %s %s", req->method, req->path);
        goto done;
    }
    if (!authenticate(&c))
        goto done;
    if (strcmp(route, "/v1/embeddings") == 0) {
        ak_route_oai_embeddings(&c);
    } else if (strcmp(route, "/v1/models") == 0) {
        ak_route_oai_models(&c);
    } else if (strcmp(route, "/api/v1/embed") == 0) {
        ak_route_embed(&c);
    } else if (strncmp(route, "/api/v1/keys", 12) == 0) {
        ak_route_keys(&c);
    } else if (strncmp(route, "/api/v1/tenants", 15) == 0) {
        ak_route_tenants(&c);
    } else {
        if (!ak_route_collections(&c, &route))
            ak_reply_error(&c, 404, "not_found", "no route for %s %s", req->method,
                           req->path);
    }

done:
    if (!resp->body)
        reply_oom(resp);
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS"};
    const char *mlabel = "OTHER";
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(req->method, known[i]) == 0)
            mlabel = known[i];
    ak_metrics_request(s->metrics, route, mlabel, resp->status, ak_now() - c.t0);
    for (size_t i = 0; i < c.nseg; i++)
        ak_free(c.seg[i]);
    json_decref(c.body);
}
