/*
 * http.c - the server's HTTP layer on libmicrohttpd.
 *
 * Connections do not cost a thread.  A few event threads (epoll, one per
 * core up to 4, MHD's thread pool) read requests and write responses for
 * every connection.  A complete request is handed to a bounded pool of
 * request workers (workq.c) and its connection is suspended meanwhile, so a
 * request that blocks (an embedding waiting for its batch - many such
 * requests waiting together is what makes large batches - or a write
 * waiting for fsync) never stalls the connections that share its event
 * thread.  When every worker is busy and the queue is full the request is
 * answered 503 with Retry-After at once, never queued without bound.
 *
 * Limits a client cannot stretch: the connection count (and optionally the
 * count per client address), an idle timeout, deadlines for a request's
 * headers and for its body that trickling bytes do not reset (deadline.c:
 * the phases are marked below, in on_request, on_completed and
 * on_connection), the body size per route (a
 * Content-Length above it is refused with 413 before the body is read; a
 * chunked body that grows past it is answered 413 at once, see take_body;
 * routes
 * whose work grows with the body - searches, filters - have a smaller
 * limit than the bulk ones), and
 * framing that a proxy could read differently - two Content-Length values,
 * Content-Length with Transfer-Encoding, a transfer coding other than
 * chunked - refused with 400 before the body is read.
 */
#include "server/deadline.h"
#include "server/internal.h"
#include "server/workq.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { REQ_READING, REQ_RUNNING, REQ_DONE };

typedef struct conn_req {
    ak_server *srv;
    struct MHD_Connection *conn;
    char *body;
    size_t len, cap;
    bool too_large;
    bool responded;              /* an early response (400 / 413) is queued  */
    bool answered_raw;           /* a 413 went out on the socket mid-body    */
    size_t discarded;            /* body bytes dropped since                 */
    size_t limit;                /* body bytes this route accepts            */
    char *query;
    size_t qlen, qcap;
    ak_http_req req;             /* what the worker dispatches               */
    atomic_int state;            /* REQ_*                                    */
    ak_http_resp resp;           /* the worker's answer                      */
    ak_dl_conn *dl;              /* the connection's deadlines, or NULL      */
} conn_req;

/* The connection's deadline record (on_connection), or NULL. */
static ak_dl_conn *dl_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);   /* the router decodes each path segment itself */
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    ak_server *s = cls;
    fprintf(s->log, "akidb serve: http: ");
    vfprintf(s->log, fmt, ap);
}

static void free_body(void *p) { ak_free(p); }

static enum MHD_Result send_resp(ak_server *s, struct MHD_Connection *conn, ak_http_resp *r)
{
    struct MHD_Response *mr =
        MHD_create_response_from_buffer_with_free_callback(r->len, r->body, free_body);
    if (!mr) {
        ak_http_resp_clear(r);
        return MHD_NO;
    }
    r->body = NULL;   /* owned by the response now */
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    if (r->retry_after > 0) {
        char b[16];
        snprintf(b, sizeof b, "%d", r->retry_after);
        MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, b);
    }
    /* While draining, close keep-alive connections after their current
     * request so the drain ends. */
    if (atomic_load(&s->draining))
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    if (r->www_authenticate)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"akidb\"");
    if (r->cache_control)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, r->cache_control);
    if (r->vary_accept)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_VARY, "Accept");
    if (r->csp) {
        MHD_add_response_header(mr, "Content-Security-Policy", r->csp);
        MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(mr, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(mr, "X-Frame-Options", "DENY");
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* An error answer of the HTTP layer itself (before routing), in the
 * routes' JSON shape; the metrics count it under route. */
static void error_resp(ak_server *s, ak_http_resp *r, const char *method, const char *route,
                       int status, const char *code, int retry_after, const char *msg)
{
    memset(r, 0, sizeof *r);
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text) {
        r->body = ak_strdup(text);
        r->len = r->body ? strlen(r->body) : 0;
        ak_json_free_str(text);
    }
    r->status = status;
    r->retry_after = retry_after;
    r->content_type = "application/json";
    ak_metrics_request(s->metrics, route, strcmp(method, "POST") == 0 ? "POST" : "OTHER", status,
                       0);
}

/* Queues such an answer. */
static void send_early(ak_server *s, struct MHD_Connection *conn, const char *method,
                       const char *route, int status, const char *code, const char *fmt, ...)
    AK_PRINTF(7, 8);
static void send_early(ak_server *s, struct MHD_Connection *conn, const char *method,
                       const char *route, int status, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ak_http_resp r;
    error_resp(s, &r, method, route, status, code, 0, msg);
    send_resp(s, conn, &r);
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    conn_req *r = cls;
    size_t kl = strlen(key), vl = value ? strlen(value) : 0;
    size_t need = r->qlen + kl + vl + 3;
    if (need > r->qcap) {
        size_t cap = need * 2;
        char *q = ak_realloc(r->query, cap);
        if (!q)
            return MHD_NO;
        r->query = q;
        r->qcap = cap;
    }
    if (r->qlen)
        r->query[r->qlen++] = '&';
    memcpy(r->query + r->qlen, key, kl);
    r->qlen += kl;
    if (value) {
        r->query[r->qlen++] = '=';
        memcpy(r->query + r->qlen, value, vl);
        r->qlen += vl;
    }
    r->query[r->qlen] = '\0';
    return MHD_YES;
}

/* ---- framing checks --------------------------------------------------------- */

typedef struct framing {
    int n_cl, n_te;
    const char *cl, *te;
    bool cl_conflict, cl_bad;
} framing;

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    framing *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        if (!value || !*value || strspn(value, "0123456789") != strlen(value))
            f->cl_bad = true;
        if (f->n_cl++ && (!f->cl || !value || strcmp(f->cl, value) != 0))
            f->cl_conflict = true;
        f->cl = value;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->n_te++;
        f->te = value;
    }
    return MHD_YES;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The body limit of the route of method + url: body_limit for the routes
 * that carry data in bulk (upserts and inserts of akidb and Qdrant, texts
 * to embed or rerank of akidb, OpenAI and TEI), query_body_limit for the
 * rest (searches, filters, ids, management), whose work grows with the
 * body: such a request is refused before its body is read or parsed. */
static size_t route_body_limit(const ak_server *s, const char *method, const char *url)
{
    const char *q = strchr(url, '?');
    char path[256];
    snprintf(path, sizeof path, "%.*s", (int)(q ? (size_t)(q - url) : strlen(url)), url);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    static const char *const texts[] = { "/api/v1/embed", "/v1/embeddings", "/embed",
                                         "/embed_all", "/rerank", "/similarity", "/tokenize" };
    bool bulk = (strncmp(path, "/api/v1/collections/", 20) == 0 &&
                 (ends_with(path, "/points") || ends_with(path, "/insert"))) ||
                (strncmp(path, "/collections/", 13) == 0 && strcmp(method, "PUT") == 0 &&
                 (ends_with(path, "/points") || ends_with(path, "/points/payload")));
    for (size_t i = 0; !bulk && i < sizeof texts / sizeof *texts; i++)
        bulk = strcmp(path, texts[i]) == 0;
    size_t small = s->cfg.query_body_limit ? s->cfg.query_body_limit : s->cfg.body_limit;
    return bulk || small > s->cfg.body_limit ? s->cfg.body_limit : small;
}

/* Checks the request's framing headers; false after queueing a 400 (or 413
 * for a Content-Length over the route's body limit, r->limit). */
static bool framing_ok(ak_server *s, struct MHD_Connection *conn, const char *method,
                       const conn_req *r)
{
    framing f;
    memset(&f, 0, sizeof f);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &f);
    const char *bad = NULL;
    char why[160];
    if (f.cl_conflict)
        bad = "conflicting Content-Length headers";
    else if (f.cl_bad)
        bad = "Content-Length is not a decimal number";
    else if (f.n_cl && f.n_te)
        bad = "both Content-Length and Transfer-Encoding are present";
    else if (f.n_te > 1 || (f.n_te && (!f.te || strcasecmp(f.te, "chunked") != 0))) {
        snprintf(why, sizeof why, "unsupported Transfer-Encoding '%.64s' (only chunked)",
                 f.te ? f.te : "");
        bad = why;
    }
    if (bad) {
        send_early(s, conn, method, "framing", 400, "invalid_request", "%s", bad);
        return false;
    }
    if (f.n_cl) {
        errno = 0;
        unsigned long long v = strtoull(f.cl, NULL, 10);
        if (errno == ERANGE || v > r->limit) {
            send_early(s, conn, method, "body_limit", 413, "payload_too_large",
                       "the request body exceeds the limit of %zu bytes for this route",
                       r->limit);
            return false;
        }
    }
    return true;
}

/* ---- requests ------------------------------------------------------------------ */

void (*ak_http_dispatch_hook)(const ak_http_req *req);

/* A request worker: dispatches, then wakes the connection, whose event
 * thread sends the answer (on_request, state REQ_DONE). */
static void run_request(void *job, void *ctx)
{
    (void)ctx;
    conn_req *r = job;
    ak_server *s = r->srv;
    if (ak_http_dispatch_hook)
        ak_http_dispatch_hook(&r->req);
    ak_server_dispatch(s, &r->req, &r->resp);
    if (r->resp.status >= 500 && r->resp.status != 503)
        fprintf(s->log, "akidb serve: %s %s -> %d %.*s\n", r->req.method, r->req.path,
                r->resp.status, (int)(r->resp.len > 300 ? 300 : r->resp.len),
                r->resp.body ? r->resp.body : "");
    atomic_store(&r->state, REQ_DONE);
    MHD_resume_connection(r->conn);
}

/* Answers 413 on the connection's socket while its chunked body is being
 * received.  libmicrohttpd (0.9.x) queues a response only before the body
 * or after all of it, and a chunked body announces its size only in chunk
 * headers that MHD parses without telling the application; so an oversize
 * chunk (e.g. "7fffffffffff") would otherwise be read to its end before
 * the 413.  Nothing else has been written on the socket (MHD writes only
 * when a response is queued, and this is its event thread), so the answer
 * goes out whole; "Connection: close" and the caller ends the connection.
 * False when the socket did not take it. */
static bool answer_413_now(ak_server *s, conn_req *r, const char *method)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    char msg[160];
    snprintf(msg, sizeof msg, "the request body exceeds the limit of %zu bytes for this route",
             r->limit);
    ak_http_resp er;
    error_resp(s, &er, method, "body_limit", 413, "payload_too_large", 0, msg);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n", er.len);
    bool ok = er.body && hn > 0 &&
              send(ci->connect_fd, head, (size_t)hn, MSG_NOSIGNAL | MSG_DONTWAIT) == hn &&
              send(ci->connect_fd, er.body, er.len, MSG_NOSIGNAL | MSG_DONTWAIT) ==
                  (ssize_t)er.len;
    ak_http_resp_clear(&er);
    return ok;
}

/* Collects one more piece of the body.  Past the route's limit (only a
 * chunked body gets there: a Content-Length over it was refused before the
 * body) the 413 goes out at once; the rest of the body is then read and
 * dropped up to as much again (so that a client still sending gets the
 * answer, not a reset), and past that the connection is closed. */
static enum MHD_Result take_body(ak_server *s, conn_req *r, const char *method, const char *data,
                                 size_t n)
{
    if (r->answered_raw) {
        r->discarded += n;
        return r->discarded > r->limit ? MHD_NO : MHD_YES;
    }
    if (r->too_large)
        return MHD_YES;
    if (r->len + n > r->limit) {
        r->too_large = true;
        ak_free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        if (!answer_413_now(s, r, method))
            return MHD_NO;
        r->answered_raw = r->responded = true;
        return MHD_YES;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = ak_realloc(r->body, cap);
        if (!b)
            return MHD_NO;
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    ak_server *s = cls;
    conn_req *r = *con_cls;
    if (!r) {
        r = ak_calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = s;
        r->conn = conn;
        *con_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        r->limit = route_body_limit(s, method, url);
        /* the headers are in: the body's clock starts */
        r->dl = dl_of(conn);
        if (framing_ok(s, conn, method, r)) {
            ak_dl_body(s->deadlines, r->dl);
        } else {
            r->responded = r->too_large = true;   /* the body is not read */
            ak_dl_handled(s->deadlines, r->dl);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return take_body(s, r, method, upload_data, n);
    }
    /* The body is in: no deadline while the request runs and its answer
     * goes out (a long search is not cut). */
    ak_dl_handled(s->deadlines, r->dl);
    if (r->answered_raw)
        return MHD_NO;   /* the body ended after its 413: close */
    if (r->responded)
        return MHD_YES;
    if (r->too_large) {   /* a chunked body outgrew the limit */
        r->responded = true;
        send_early(s, conn, method, "body_limit", 413, "payload_too_large",
                   "the request body exceeds the limit of %zu bytes for this route", r->limit);
        return MHD_YES;
    }
    int state = atomic_load(&r->state);
    if (state == REQ_DONE) {
        r->responded = true;
        return send_resp(s, conn, &r->resp);
    }
    if (state == REQ_RUNNING)
        return MHD_YES;
    if (r->query == NULL)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, r);
    /* X-API-Key, or api-key as Qdrant's clients send it */
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-Key");
    if (!key)
        key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "api-key");
    r->req = (ak_http_req){
        .method = method,
        .path = url,
        .query = r->query,
        .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION),
        .api_key = key,
        .body = r->body,
        .body_len = r->len,
        .accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT),
    };
    atomic_store(&r->state, REQ_RUNNING);
    MHD_suspend_connection(conn);
    if (!ak_workq_submit(s->workq, r)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "every request worker is busy and %zu requests wait; retry shortly",
                 s->cfg.max_pending);
        error_resp(s, &r->resp, method, "overloaded", 503, "overloaded", 1, msg);
        atomic_store(&r->state, REQ_DONE);
        MHD_resume_connection(conn);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    ak_server *s = cls;
    /* a keep-alive connection's next request has its own header clock */
    ak_dl_next(s->deadlines, dl_of(conn));
    conn_req *r = *con_cls;
    if (!r)
        return;
    ak_http_resp_clear(&r->resp);
    ak_free(r->body);
    ak_free(r->query);
    ak_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

/* A connection starts or ends.  libmicrohttpd reports the end
 * (MHD_CONNECTION_NOTIFY_CLOSED) before it closes the socket, so the
 * deadline sweeper, which shuts sockets down only while their record
 * exists, never reaches a closed or reused descriptor. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ak_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? ak_dl_open(s->deadlines, ci->connect_fd) : NULL;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        ak_dl_close(s->deadlines, *socket_context);
        *socket_context = NULL;
    }
}

/* ---- listener ------------------------------------------------------------------ */

/* Raises the open-file limit towards what max_connections needs; returns
 * the connection count the limit allows. */
static size_t fit_fd_limit(ak_server *s, size_t want)
{
    const size_t spare = 128;   /* store files, models, the listener, logs */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want + spare) {
        rlim_t need = (rlim_t)(want + spare);
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want + spare) {
        size_t fit = rl.rlim_cur > 2 * spare ? (size_t)rl.rlim_cur - spare : spare;
        fprintf(s->log,
                "akidb serve: the open-file limit (%llu) allows %zu connections, not %zu\n",
                (unsigned long long)rl.rlim_cur, fit, want);
        return fit;
    }
    return want;
}

akidb_status ak_http_listen(ak_server *s, const struct sockaddr *sa)
{
    const ak_server_config *cfg = &s->cfg;
    akidb_status st = ak_workq_start(cfg->handler_threads, cfg->max_pending, run_request, s,
                                     &s->workq);
    if (st != AKIDB_OK)
        return st;
    /* a keep-alive connection may idle between requests as long as the
     * idle timeout allows */
    double next_s = cfg->idle_timeout_s > cfg->header_timeout_s ? cfg->idle_timeout_s
                                                                 : cfg->header_timeout_s;
    st = ak_deadlines_start(cfg->header_timeout_s, cfg->body_timeout_s, next_s, s->metrics,
                            &s->deadlines);
    if (st != AKIDB_OK) {
        ak_workq_stop(s->workq);
        s->workq = NULL;
        return st;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned evthreads = cfg->http_threads > 0 ? (unsigned)cfg->http_threads
                         : cores > 4           ? 4u
                         : cores > 0           ? (unsigned)cores
                                               : 1u;
    size_t conns = fit_fd_limit(s, cfg->max_connections);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (sa->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, s,
        MHD_OPTION_SOCK_ADDR, sa,
        MHD_OPTION_THREAD_POOL_SIZE, evthreads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_END);
    if (!d) {
        ak_workq_stop(s->workq);
        s->workq = NULL;
        ak_deadlines_stop(s->deadlines);
        s->deadlines = NULL;
        return ak_fail(AKIDB_EIO, "cannot listen on %s port %d (in use, or not allowed)",
                       s->host, cfg->port);
    }
    s->daemon = d;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    return AKIDB_OK;
}

void ak_http_close(ak_server *s)
{
    struct MHD_Daemon *d = s->daemon;
    if (!d) {
        ak_workq_stop(s->workq);
        s->workq = NULL;
        ak_deadlines_stop(s->deadlines);
        s->deadlines = NULL;
        return;
    }
    MHD_socket lfd = MHD_quiesce_daemon(d);
    double until = ak_now() + s->cfg.drain_timeout_s;
    while (atomic_load(&s->in_flight) > 0 && ak_now() < until)
        usleep(10000);
    /* Requests still queued run now (each resumes its connection), so no
     * connection is left suspended when the daemon stops. */
    ak_workq_stop(s->workq);
    s->workq = NULL;
    MHD_stop_daemon(d);
    /* every connection is closed now, its record freed */
    ak_deadlines_stop(s->deadlines);
    s->deadlines = NULL;
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    s->daemon = NULL;
}
