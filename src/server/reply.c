/*
 * reply.c - building answers for route handlers: JSON bodies, errors in the
 * shape of the route's family (akidb's {"error":{"code","message"}} unless
 * the family gives its own), status mapping, the JSON body and role checks,
 * query arguments and percent-decoding.  Shared by every route family, so
 * no route file depends on the router.
 */
#include "server/route.h"

#include <stdio.h>
#include <string.h>

void ak_http_resp_clear(ak_http_resp *r)
{
    ak_free(r->body);
    r->body = NULL;
    r->len = 0;
}

void ak_reply_raw(ak_http_resp *r, int status, char *text, size_t len, const char *ctype)
{
    ak_free(r->body);
    r->status = status;
    r->body = text;
    r->len = len;
    r->content_type = ctype;
}

void ak_reply_oom(ak_http_resp *r)
{
    static const char msg[] =
        "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    char *p = ak_malloc(sizeof msg);
    if (p)
        memcpy(p, msg, sizeof msg);
    ak_reply_raw(r, 500, p, p ? sizeof msg - 1 : 0, "application/json");
}

void ak_reply_json(ak_ctx *c, int status, json_t *j)
{
    if (!j) {
        ak_reply_oom(c->resp);
        return;
    }
    size_t need = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_REAL_PRECISION(9));
    char *p = need ? ak_malloc(need + 1) : NULL;
    if (!p) {
        json_decref(j);
        ak_reply_oom(c->resp);
        return;
    }
    size_t got = json_dumpb(j, p, need, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(j);
    p[got] = '\0';
    ak_reply_raw(c->resp, status, p, got, "application/json");
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
    if (c->family && c->family->error) {
        c->family->error(c, status, code, msg);
    } else {
        json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
        ak_reply_json(c, status, j);
    }
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
    case AKIDB_ENOSPC:
        /* /ready says so until a write succeeds again (router.c) */
        atomic_store(&c->srv->disk_full, 1);
        ak_reply_error(c, 507, "insufficient_storage", "%s", msg);
        break;
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

char *ak_pct_decode(const char *s, size_t n, bool plus_space)
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
            char *v = ak_pct_decode(q + klen + 1, len - klen - 1, true);
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

