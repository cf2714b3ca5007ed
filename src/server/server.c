/*
 * server.c - life cycle of the REST server and its HTTP layer on
 * libmicrohttpd: configuration checks, opening the store, the key registry
 * and the models, the listener, and the drain on stop.
 *
 * HTTP model: one thread per connection (MHD_USE_THREAD_PER_CONNECTION).
 * Embedding requests block their thread while the batcher works, and many
 * blocked requests are exactly what lets the batcher build large batches;
 * a thread pool would instead stall every connection sharing a blocked
 * thread.  max_connections bounds the threads.  Bodies are collected up to
 * body_limit: a Content-Length above it is refused with 413 before the body
 * is read, a chunked body that grows past it is discarded and answered 413.
 */
#include "server/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef AK_HAVE_STORE
#include "store/filter.h"
#endif

void ak_server_config_defaults(ak_server_config *c)
{
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->scan_models_dir = 1;
    c->auth = -1;
    c->body_limit = 16u << 20;
    c->max_batch_tokens = 16384;
    c->max_batch_texts = 256;
    c->max_request_texts = 2048;
    c->max_queue_texts = 100000;
    c->max_connections = 512;
    c->embed_workers = 1;
    c->embed_threads = 0;
    c->drain_timeout_s = 30;
    c->listen = 1;
}

int ak_server_port(const ak_server *s) { return s->port; }
int ak_server_auth_on(const ak_server *s) { return s->auth_on; }
const char *ak_server_generated_key(const ak_server *s) { return s->generated_key; }

/* ---- HTTP layer ---------------------------------------------------------- */

typedef struct conn_req {
    char *body;
    size_t len, cap;
    bool too_large;
    bool responded;              /* 413 already queued on the first call     */
    char *query;
    size_t qlen, qcap;
} conn_req;

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
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

static void send_too_large(ak_server *s, struct MHD_Connection *conn, const char *method)
{
    ak_http_resp r;
    memset(&r, 0, sizeof r);
    char msg[200];
    int n = snprintf(msg, sizeof msg,
                     "{\"error\":{\"code\":\"payload_too_large\",\"message\":"
                     "\"the request body exceeds the limit of %zu bytes\"}}",
                     s->cfg.body_limit);
    r.body = ak_strdup(msg);
    r.len = r.body ? (size_t)n : 0;
    r.status = 413;
    r.content_type = "application/json";
    ak_metrics_request(s->metrics, "body_limit", strcmp(method, "POST") == 0 ? "POST" : "OTHER",
                       413, 0);
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
        *con_cls = r;
        atomic_fetch_add(&s->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno == ERANGE || v > s->cfg.body_limit) {
                r->too_large = true;
                r->responded = true;
                send_too_large(s, conn, method);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_large)
            return MHD_YES;
        if (r->len + n > s->cfg.body_limit) {
            r->too_large = true;
            ak_free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
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
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->too_large) {
        /* A response was queued on the first call unless the body came
         * without a Content-Length (chunked). */
        if (!r->responded)
            send_too_large(s, conn, method);
        r->responded = true;
        return MHD_YES;
    }
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, r);
    ak_http_req req = {
        .method = method,
        .path = url,
        .query = r->query,
        .authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION),
        .api_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-Key"),
        .body = r->body,
        .body_len = r->len,
    };
    ak_http_resp resp;
    ak_server_dispatch(s, &req, &resp);
    if (resp.status >= 500 && resp.status != 503)
        fprintf(s->log, "akidb serve: %s %s -> %d %.*s\n", method, url, resp.status,
                (int)(resp.len > 300 ? 300 : resp.len), resp.body ? resp.body : "");
    return send_resp(s, conn, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    ak_server *s = cls;
    conn_req *r = *con_cls;
    if (!r)
        return;
    ak_free(r->body);
    ak_free(r->query);
    ak_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

static akidb_status resolve(const char *host, int port, struct sockaddr_storage *ss,
                            socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res)
        return ak_fail(AKIDB_EINVAL, "cannot resolve host '%s': %s", host, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return AKIDB_OK;
}

static akidb_status mkdir_p(const char *dir)
{
    char *p = ak_strdup(dir);
    if (!p)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    for (char *q = p + 1; ; q++) {
        if (*q == '/' || *q == '\0') {
            char save = *q;
            *q = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                akidb_status st = ak_fail(AKIDB_EIO, "cannot create %s: %s", p, strerror(errno));
                ak_free(p);
                return st;
            }
            *q = save;
            if (!save)
                break;
        }
    }
    ak_free(p);
    return AKIDB_OK;
}

/* ---- start / stop ----------------------------------------------------------- */

#ifdef AK_HAVE_STORE
static void store_log(void *ctx, akidb_log_level level, const char *msg)
{
    ak_server *s = ctx;
    fprintf(s->log, "akidb serve: store%s: %s\n",
            level == AKIDB_LOG_ERROR ? " error" : level == AKIDB_LOG_WARN ? " warning" : "",
            msg);
}
#endif

akidb_status ak_server_start(const ak_server_config *cfg, ak_server **out)
{
    *out = NULL;
    if (!cfg->data_dir || !cfg->data_dir[0])
        return ak_fail(AKIDB_EINVAL, "a data directory is required (--data DIR)");
    if (cfg->port < 0 || cfg->port > 65535)
        return ak_fail(AKIDB_EINVAL, "port %d is out of range", cfg->port);
    if (cfg->body_limit < 1024)
        return ak_fail(AKIDB_EINVAL, "the body limit must be at least 1024 bytes");
    ak_server *s = ak_calloc(1, sizeof *s);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->log = cfg->log ? cfg->log : stderr;
    s->started = ak_now();
    s->data_dir = ak_strdup(cfg->data_dir);
    s->host = ak_strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->cfg.data_dir = s->data_dir;
    s->cfg.host = s->host;
    s->cfg.models = NULL;   /* only valid during start */
    s->cfg.n_models = 0;
    s->cfg.admin_key = NULL;
    akidb_status st = AKIDB_OK;
    if (!s->data_dir || !s->host) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    st = resolve(s->host, cfg->port, &ss, &sslen);
    if (st != AKIDB_OK)
        goto fail;
    bool loop = is_loopback((struct sockaddr *)&ss);
    if (cfg->auth == 0 && cfg->admin_key) {
        st = ak_fail(AKIDB_EINVAL, "AKIDB_ADMIN_KEY is set but auth is off; "
                                   "unset it or use --auth on");
        goto fail;
    }
    if (cfg->auth == 0 && !loop) {
        st = ak_fail(AKIDB_EINVAL, "binding %s (not loopback) requires auth on", s->host);
        goto fail;
    }
    s->auth_on = cfg->auth == 1 || (cfg->auth < 0 && (cfg->admin_key || !loop));

    st = mkdir_p(s->data_dir);
    if (st != AKIDB_OK)
        goto fail;
    s->metrics = ak_metrics_new();
    if (!s->metrics) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto fail;
    }
#ifdef AK_HAVE_STORE
    ak_json_init();
    {
        char *sdir = ak_path_join(s->data_dir, "store");
        if (!sdir) {
            st = ak_fail(AKIDB_ENOMEM, "out of memory");
            goto fail;
        }
        akidb_store_opts so = AKIDB_STORE_OPTS_INIT;
        so.sync = cfg->sync_none ? AKIDB_SYNC_NONE : AKIDB_SYNC_FULL;
        so.log = store_log;
        so.log_ctx = s;
        st = akidb_store_open(sdir, &so, &s->store);
        ak_free(sdir);
        if (st != AKIDB_OK) {
            ak_fail_prefix(st, "store");
            goto fail;
        }
        st = akidb_tenant_create(s->store, AK_DEFAULT_TENANT);
        if (st == AKIDB_EEXIST)
            st = AKIDB_OK;
        if (st != AKIDB_OK)
            goto fail;
    }
#endif
    st = ak_auth_open(s->data_dir, &s->auth);
    if (st != AKIDB_OK)
        goto fail;
    if (s->auth_on) {
        st = ak_auth_bootstrap(s->auth, cfg->admin_key, &s->generated_key);
        if (st != AKIDB_OK)
            goto fail;
    }
    st = ak_models_open(cfg, s->metrics, &s->models);
    if (st != AKIDB_OK)
        goto fail;

    if (cfg->listen) {
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
        if (ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        struct MHD_Daemon *d = MHD_start_daemon(
            flags, (uint16_t)cfg->port, NULL, NULL, on_request, s,
            MHD_OPTION_EXTERNAL_LOGGER, log_mhd, s,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->max_connections ? cfg->max_connections : 512),
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
            MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
            MHD_OPTION_END);
        if (!d) {
            st = ak_fail(AKIDB_EIO, "cannot listen on %s port %d (in use, or not allowed)",
                         s->host, cfg->port);
            goto fail;
        }
        s->daemon = d;
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = di ? di->port : cfg->port;
    }
    *out = s;
    return AKIDB_OK;

fail:
    {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", akidb_last_error());
        ak_server_stop(s);
        ak_fail(st, "%s", msg);
    }
    return st;
}

akidb_status ak_server_stop(ak_server *s)
{
    if (!s)
        return AKIDB_OK;
    atomic_store(&s->draining, 1);
    if (s->daemon) {
        struct MHD_Daemon *d = s->daemon;
        MHD_socket lfd = MHD_quiesce_daemon(d);
        double until = ak_now() + s->cfg.drain_timeout_s;
        while (atomic_load(&s->in_flight) > 0 && ak_now() < until)
            usleep(10000);
        MHD_stop_daemon(d);
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
        s->daemon = NULL;
    }
    ak_models_close(s->models);
    akidb_status st = AKIDB_OK;
#ifdef AK_HAVE_STORE
    if (s->store)
        st = akidb_store_close(s->store);
#endif
    ak_auth_close(s->auth);
    ak_metrics_free(s->metrics);
    if (s->generated_key) {
        memset(s->generated_key, 0, strlen(s->generated_key));
        ak_free(s->generated_key);
    }
    ak_free(s->data_dir);
    ak_free(s->host);
    ak_free(s);
    return st;
}
