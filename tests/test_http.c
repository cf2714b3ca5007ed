/*
 * test_http.c - the HTTP layer under hostile clients (src/server/http.c,
 * workq.c, the key rules of router.c), over real sockets on 127.0.0.1:
 *
 *   framing        conflicting Content-Length, Content-Length with
 *                  Transfer-Encoding, unknown transfer codings, bodies over
 *                  the limit: refused before the body is read (the client
 *                  sends no body and still gets its answer)
 *   chunk_oversize a chunk announcing more than the body limit (7fffffffffff)
 *                  gets 413 as soon as its data passes the limit, not at the
 *                  idle timeout, and a client that keeps sending is cut off
 *   idle_crowd     many idle and half-sent connections do not lock out a
 *                  new client (connections cost no thread)
 *   per_ip_cap     the per-address cap closes connections past it
 *   idle_timeout   a silent connection is closed after the idle timeout
 *   key_rules      one whitespace rule for both key headers; an overlong
 *                  key and a non-Bearer Authorization are named as such
 *   workq_bound    the request queue refuses past its bound and runs every
 *                  queued job on stop
 *   overload_503   with one request worker and one waiting slot, a burst of
 *                  slow requests gets 503 with Retry-After, never a hang
 *   disk_full      a write the disk refuses answers 507, /ready turns 503
 *                  "disk_full" until a write succeeds again, reads go on,
 *                  and nothing acknowledged is lost
 *   openapi        GET /openapi.json lists every route of the table, and every
 *                  operation it lists is routed (no "no route" 404, no 405)
 *   recovering     while the store replays a large WAL the server already
 *                  answers: /health 200, /ready 503 with the replay's
 *                  progress, other routes 503 "starting"; then all 200
 *
 * AKIDB_TEST_QUICK=1 (sanitizer and emulated runs) shrinks the crowd.
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "server/server.h"
#include "server/srvtest.h"
#include "server/srvbare.h"
#include "server/workq.h"
#include "akidb_store.h"
#include "common/fileio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>

typedef st_srv srv;

/* Starts a server without models on an ephemeral port; cfg tweaks applied
 * by the caller through adjust (may be NULL). */
static bool srv_up(srv *f, void (*adjust)(ak_server_config *c), const char *admin_key)
{
    ak_server_config c;
    st_srv_config(&c);
    c.admin_key = admin_key;
    if (adjust)
        adjust(&c);
    return st_srv_start(f, "http", NULL, &c);
}

static void srv_down(srv *f) { st_srv_down(f); }

static int conn_open(int port) { return st_conn_open(port); }

static bool send_all(int fd, const char *p, size_t n) { return st_send_all(fd, p, n); }

/* Reads until the peer closes, a whole response (by Content-Length) is
 * in, or timeout_ms passes.  Returns the bytes read (NUL-terminated, in
 * buf); *closed tells whether the peer closed. */
static size_t read_resp(int fd, char *buf, size_t cap, int timeout_ms, bool *closed)
{
    size_t n = 0;
    *closed = false;
    double until = ak_now() + timeout_ms / 1000.0;
    while (n + 1 < cap) {
        int left = (int)((until - ak_now()) * 1000);
        if (left <= 0)
            break;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, left) <= 0)
            break;
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k <= 0) {
            *closed = true;
            break;
        }
        n += (size_t)k;
        buf[n] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (end && cl && cl < end && (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10) <= n)
            break;
    }
    buf[n] = '\0';
    return n;
}

/* One request over a new connection: the status line's code, the body in
 * body (may be NULL). */
static int exchange(int port, const char *req, size_t len, char *body, size_t cap)
{
    int fd = conn_open(port);
    if (fd < 0)
        return -1;
    char buf[8192];
    bool closed;
    int code = -1;
    if (send_all(fd, req, len) && read_resp(fd, buf, sizeof buf, 10000, &closed) > 12 &&
        strncmp(buf, "HTTP/1.1 ", 9) == 0) {
        code = atoi(buf + 9);
        const char *b = strstr(buf, "\r\n\r\n");
        if (body && cap)
            snprintf(body, cap, "%s", b ? b + 4 : "");
    }
    close(fd);
    return code;
}

#define POST_HEAD "POST /api/v1/collections HTTP/1.1\r\nHost: t\r\n"

AKT_TEST(framing)
{
    srv f;
    AKT_TRUE(srv_up(&f, NULL, NULL));
    char body[1024];
    static const struct {
        const char *req;
        int code;
        const char *says;
    } cases[] = {
        { POST_HEAD "Content-Length: 2\r\nContent-Length: 3\r\n\r\n", 400,
          "conflicting Content-Length" },
        { POST_HEAD "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
          "both Content-Length and Transfer-Encoding" },
        { POST_HEAD "Transfer-Encoding: gzip, chunked\r\n\r\n", 400,
          "unsupported Transfer-Encoding 'gzip, chunked'" },
        { POST_HEAD "Transfer-Encoding: identity\r\n\r\n", 400, "unsupported Transfer-Encoding" },
        { POST_HEAD "Content-Length: 99999999999\r\n\r\n", 413, "exceeds the limit" },
        { POST_HEAD "Content-Length: 99999999999999999999999\r\n\r\n", 413, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int code = exchange(f.port, cases[i].req, strlen(cases[i].req), body, sizeof body);
        if (code != cases[i].code)
            fprintf(stderr, "  case %zu: got %d %s\n", i, code, body);
        AKT_EQ_INT(code, cases[i].code);
        if (cases[i].says)
            AKT_CONTAINS(body, cases[i].says);
    }
    /* per route: a search body over the query limit (1 MiB) is refused
     * from its Content-Length alone, an upsert of that size is read */
    const char *search = "POST /api/v1/collections/c/search HTTP/1.1\r\nHost: t\r\n"
                         "Content-Length: 12500000\r\n\r\n";
    AKT_EQ_INT(exchange(f.port, search, strlen(search), body, sizeof body), 413);
    AKT_CONTAINS(body, "limit of 1048576 bytes for this route");
    size_t ul = 1500000;
    char *up = malloc(ul + 256);
    int un = snprintf(up, 256, "POST /api/v1/collections/c/points HTTP/1.1\r\nHost: t\r\n"
                               "Content-Length: %zu\r\n\r\n", ul);
    memset(up + un, ' ', ul);
    AKT_EQ_INT(exchange(f.port, up, (size_t)un + ul, body, sizeof body), 400);
    AKT_CONTAINS(body, "JSON");
    /* so is a Qdrant upsert (PUT), while its get-by-ids (POST) is a query */
    un = snprintf(up, 256, "PUT /collections/c/points HTTP/1.1\r\nHost: t\r\n"
                           "Content-Length: %zu\r\n\r\n", ul);
    memset(up + un, ' ', ul);
    int code = exchange(f.port, up, (size_t)un + ul, body, sizeof body);
    AKT_TRUE(code != 413 && code >= 400 && code < 500);
    un = snprintf(up, 256, "POST /collections/c/points HTTP/1.1\r\nHost: t\r\n"
                           "Content-Length: %zu\r\n\r\n", ul);
    AKT_EQ_INT(exchange(f.port, up, (size_t)un, body, sizeof body), 413);
    free(up);
    /* the same length twice is one length; a valid chunked body works */
    const char *same = POST_HEAD "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}";
    AKT_EQ_INT(exchange(f.port, same, strlen(same), body, sizeof body), 400);
    AKT_CONTAINS(body, "(a string) is required");   /* reached the route */
    const char *chunked = POST_HEAD "Transfer-Encoding: chunked\r\n\r\n"
                                    "1a\r\n{\"name\":\"c\",\"dimension\":3}\r\n0\r\n\r\n";
    AKT_EQ_INT(exchange(f.port, chunked, strlen(chunked), body, sizeof body), 201);
    srv_down(&f);
}

static void small_body(ak_server_config *c) { c->body_limit = 1u << 20; }

/* a chunked body (no length announced) growing past the limit is
 * discarded as it comes and answered 413 */
AKT_TEST(framing_small_limit)
{
    srv f;
    AKT_TRUE(srv_up(&f, small_body, NULL));
    char body[512];
    size_t big = (2u << 20) + 64;
    char *req = malloc(big);
    int n = snprintf(req, big, POST_HEAD "Transfer-Encoding: chunked\r\n\r\n");
    while ((size_t)n + 70000 < big)
        n += snprintf(req + n, big - (size_t)n, "10000\r\n%065536d\r\n", 0);
    n += snprintf(req + n, big - (size_t)n, "0\r\n\r\n");
    AKT_EQ_INT(exchange(f.port, req, (size_t)n, body, sizeof body), 413);
    AKT_CONTAINS(body, "1048576 bytes");
    free(req);
    srv_down(&f);
}

/* a chunk size below 2^64 but far past the body limit: MHD waits for the
 * chunk's data, and the data past the limit is answered 413 at once */
AKT_TEST(chunk_oversize)
{
    srv f;
    AKT_TRUE(srv_up(&f, small_body, NULL));
    int fd = conn_open(f.port);
    AKT_TRUE(fd >= 0);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const char *head = POST_HEAD "Transfer-Encoding: chunked\r\n\r\n7fffffffffff\r\n";
    size_t blk = 64 << 10, sent = 0;
    char *data = malloc(blk);
    memset(data, 'x', blk);
    double t0 = ak_now();
    AKT_TRUE(send_all(fd, head, strlen(head)));
    while (sent < (1u << 20) + blk && send_all(fd, data, blk))
        sent += blk;
    char buf[2048];
    bool closed;
    size_t n = read_resp(fd, buf, sizeof buf, 3000, &closed);
    double took = ak_now() - t0;
    fprintf(stderr, "  %zu bytes of a 7fffffffffff-byte chunk sent: %.3f s to \"%.12s\"\n", sent,
            took, n ? buf : "(nothing)");
    AKT_TRUE(n > 12);
    AKT_TRUE(strncmp(buf, "HTTP/1.1 413", 12) == 0);
    AKT_CONTAINS(buf, "1048576 bytes");
    AKT_CONTAINS(buf, "Connection: close");
    AKT_TRUE(took < 2.5);
    /* still sending: the server reads at most as much again, then closes */
    size_t more = 0;
    while (more < (16u << 20) && send_all(fd, data, blk))
        more += blk;
    fprintf(stderr, "  then cut off after %zu more bytes\n", more);
    AKT_TRUE(more < (16u << 20));
    close(fd);
    free(data);
    /* the server is fine: a valid chunked request right after */
    const char *ok = POST_HEAD "Transfer-Encoding: chunked\r\n\r\n"
                               "1a\r\n{\"name\":\"c\",\"dimension\":3}\r\n0\r\n\r\n";
    char body[512];
    AKT_EQ_INT(exchange(f.port, ok, strlen(ok), body, sizeof body), 201);
    srv_down(&f);
}

AKT_TEST(idle_crowd)
{
    /* more connections than one process could hold as threads at the old
     * cap of 512: idle ones, and ones stuck halfway through their headers */
    size_t want = st_quick() ? 300 : 2000;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * want + 256 && rl.rlim_max >= 2 * want + 256) {
        rl.rlim_cur = 2 * want + 256;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < 2 * want + 256)
        want = (rl.rlim_cur - 256) / 2;
    srv f;
    AKT_TRUE(srv_up(&f, NULL, NULL));
    int *fds = malloc(want * sizeof *fds);
    size_t open_n = 0;
    for (size_t i = 0; i < want; i++) {
        fds[i] = conn_open(f.port);
        if (fds[i] < 0)
            break;
        open_n++;
        if (i % 2)
            send_all(fds[i], "GET /health HTTP/1.1\r\nHo", 24);   /* never finished */
    }
    AKT_EQ_INT(open_n, want);
    fprintf(stderr, "  %zu connections held open\n", open_n);
    /* a new client still gets every answer */
    for (int k = 0; k < 20; k++) {
        st_resp r = st_http(f.port, "GET", "/health", NULL, NULL, -1);
        AKT_EQ_INT(r.status, 200);
        st_resp_free(&r);
    }
    st_resp r = st_http(f.port, "POST", "/api/v1/collections", NULL,
                        "{\"name\":\"x\",\"dimension\":2}", -1);
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    /* and the crowd is still connected (nothing was reset to make room) */
    size_t alive = 0;
    for (size_t i = 0; i < open_n; i++) {
        struct pollfd p = { .fd = fds[i], .events = POLLIN };
        alive += poll(&p, 1, 0) == 0;
    }
    AKT_EQ_INT(alive, open_n);
    for (size_t i = 0; i < open_n; i++)
        close(fds[i]);
    free(fds);
    srv_down(&f);
}

static void cap_five(ak_server_config *c) { c->max_connections_per_ip = 5; }

AKT_TEST(per_ip_cap)
{
    srv f;
    AKT_TRUE(srv_up(&f, cap_five, NULL));
    const char *get = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    char buf[1024];
    bool closed;
    size_t n;
    /* five kept-alive connections, each answered once, so the server has
     * accepted and counted all five before the sixth arrives (the pool's
     * threads accept in parallel: an unanswered fifth could be taken after
     * the sixth and be the one refused) */
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = conn_open(f.port);
        AKT_TRUE(fds[i] >= 0);
        AKT_TRUE(send_all(fds[i], get, strlen(get)));
        n = read_resp(fds[i], buf, sizeof buf, 10000, &closed);
        AKT_TRUE(n > 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0);
    }
    /* the sixth from the same address is closed without an answer */
    int extra = conn_open(f.port);
    AKT_TRUE(extra >= 0);
    send_all(extra, get, strlen(get));
    n = read_resp(extra, buf, sizeof buf, 10000, &closed);
    AKT_TRUE(closed);
    AKT_EQ_INT(n, 0);
    close(extra);
    /* below the cap everything works */
    AKT_TRUE(send_all(fds[0], get, strlen(get)));
    n = read_resp(fds[0], buf, sizeof buf, 10000, &closed);
    AKT_TRUE(n > 12 && strncmp(buf, "HTTP/1.1 200", 12) == 0);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    srv_down(&f);
}

static void timeout_one(ak_server_config *c) { c->idle_timeout_s = 1; }

AKT_TEST(idle_timeout)
{
    srv f;
    AKT_TRUE(srv_up(&f, timeout_one, NULL));
    int fd = conn_open(f.port);
    AKT_TRUE(fd >= 0);
    send_all(fd, "GET /hea", 8);
    char buf[256];
    bool closed;
    double t0 = ak_now();
    read_resp(fd, buf, sizeof buf, 20000, &closed);
    AKT_TRUE(closed);   /* the server gave up on it, long before 20 s */
    fprintf(stderr, "  closed after %.1f s of silence (timeout 1 s)\n", ak_now() - t0);
    close(fd);
    srv_down(&f);
}

#define ADMIN "ak_test_admin_key_0123456789"

AKT_TEST(key_rules)
{
    srv f;
    AKT_TRUE(srv_up(&f, NULL, ADMIN));
    char body[1024];
    static const struct {
        const char *hdr;
        int code;
        const char *says;
    } cases[] = {
        { "Authorization: Bearer " ADMIN "\r\n", 200, NULL },
        { "Authorization: Bearer " ADMIN " \t\r\n", 200, NULL },
        { "Authorization: bearer \t " ADMIN "\r\n", 200, NULL },
        { "X-API-Key: " ADMIN "\r\n", 200, NULL },
        { "X-API-Key:  \t" ADMIN " \r\n", 200, NULL },
        { "api-key: " ADMIN "\r\n", 200, NULL },
        { "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n", 401, "must be 'Bearer" },
        { "Authorization: Bearer " ADMIN "x\r\n", 401, "invalid API key" },
        { "Authorization: Bearer \r\n", 401, "is required" },
        { "", 401, "is required" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char req[1024];
        int n = snprintf(req, sizeof req,
                         "GET /api/v1/collections HTTP/1.1\r\nHost: t\r\n%s\r\n", cases[i].hdr);
        int code = exchange(f.port, req, (size_t)n, body, sizeof body);
        if (code != cases[i].code)
            fprintf(stderr, "  case %zu (%s): got %d %s\n", i, cases[i].hdr, code, body);
        AKT_EQ_INT(code, cases[i].code);
        if (cases[i].says)
            AKT_CONTAINS(body, cases[i].says);
    }
    /* a 10 KB key is named as too long, in either header */
    size_t kl = 10240;
    char *req = malloc(kl + 256);
    for (int h = 0; h < 2; h++) {
        int n = snprintf(req, kl + 256, "GET /api/v1/collections HTTP/1.1\r\nHost: t\r\n%s",
                         h ? "X-API-Key: " : "Authorization: Bearer ");
        memset(req + n, 'k', kl);
        n += (int)kl;
        n += snprintf(req + n, 64, "\r\n\r\n");
        AKT_EQ_INT(exchange(f.port, req, (size_t)n, body, sizeof body), 401);
        AKT_CONTAINS(body, "longer than 255 bytes");
    }
    free(req);
    srv_down(&f);
}

/* ---- the bounded queue ---------------------------------------------------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int ran;
} gate;

static void gated_job(void *job, void *ctx)
{
    (void)job;
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    g->ran++;
    pthread_mutex_unlock(&g->mu);
}

AKT_TEST(workq_bound)
{
    gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };
    ak_workq *q = NULL;
    AKT_OK(ak_workq_start(1, 2, gated_job, &g, &q));
    AKT_TRUE(ak_workq_submit(q, NULL));   /* taken by the worker, which blocks */
    for (int i = 0; i < 200 && ak_workq_running(q) == 0; i++)
        usleep(10000);
    AKT_EQ_INT(ak_workq_running(q), 1);
    AKT_TRUE(ak_workq_submit(q, NULL));
    AKT_TRUE(ak_workq_submit(q, NULL));
    AKT_EQ_INT(ak_workq_pending(q), 2);
    AKT_FALSE(ak_workq_submit(q, NULL));   /* the bound */
    pthread_mutex_lock(&g.mu);
    g.open = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    ak_workq_stop(q);   /* runs what was queued */
    AKT_EQ_INT(g.ran, 3);
    /* out of memory at start is a status, not a crash */
    ak_alloc_fail_after(0);
    AKT_STATUS(ak_workq_start(2, 4, gated_job, &g, &q), AKIDB_ENOMEM);
    ak_alloc_fail_after(-1);
}

/* ---- overload through HTTP -------------------------------------------------- */

static char *g_model_dir;

static void one_worker(ak_server_config *c)
{
    static ak_model_spec spec;
    spec.name = "tiny";
    spec.dir = g_model_dir;
    c->models = &spec;
    c->n_models = 1;
    c->handler_threads = 1;
    c->max_pending = 1;
    c->embed_threads = 1;
}

typedef struct burst {
    int port;
    const char *body;
    long status;
    char retry_after[16];
} burst;

static void *burst_one(void *arg)
{
    burst *b = arg;
    st_resp r = st_http(b->port, "POST", "/api/v1/embed", NULL, b->body, -1);
    b->status = r.status;
    snprintf(b->retry_after, sizeof b->retry_after, "%s", r.retry_after);
    st_resp_free(&r);
    return NULL;
}

AKT_TEST(overload_503)
{
    char *mdir = st_tmpdir("http_model");
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny", mdir);
    AKT_EQ_INT(st_stage_model(path, 0), 0);
    g_model_dir = path;
    srv f;
    AKT_TRUE(srv_up(&f, one_worker, NULL));
    /* requests of many long texts keep the one worker busy for a while */
    size_t nt = 256, tl = 400;
    char *body = malloc(nt * (tl + 4) + 64);
    size_t n = (size_t)sprintf(body, "{\"texts\":[");
    for (size_t i = 0; i < nt; i++) {
        body[n++] = i ? ',' : ' ';
        body[n++] = '"';
        for (size_t k = 0; k < tl; k++)
            body[n++] = "abcdefgh ijk"[(i + k) % 12];
        body[n++] = '"';
    }
    sprintf(body + n, "]}");
    enum { N = 12 };
    burst b[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        b[i] = (burst){ .port = f.port, .body = body };
        pthread_create(&th[i], NULL, burst_one, &b[i]);
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        AKT_TRUE(b[i].status == 200 || b[i].status == 503);
        ok += b[i].status == 200;
        if (b[i].status == 503) {
            busy++;
            AKT_EQ_INT(atoi(b[i].retry_after), 1);
        }
    }
    fprintf(stderr, "  %d answered, %d told to retry\n", ok, busy);
    AKT_TRUE(ok >= 1);
    AKT_TRUE(busy >= 1);
    free(body);
    srv_down(&f);
    st_rmtree(mdir);
}

/* ---- a full disk --------------------------------------------------------------- */

AKT_TEST(disk_full)
{
    srv f;
    AKT_TRUE(srv_up(&f, NULL, NULL));
    st_resp r = st_http(f.port, "POST", "/api/v1/collections", NULL,
                        "{\"name\":\"d\",\"dimension\":2,\"metric\":\"l2\"}", -1);
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    const char *p1 = "{\"points\":[{\"id\":\"a\",\"vector\":[1,2]}]}";
    const char *p2 = "{\"points\":[{\"id\":\"b\",\"vector\":[3,4]}]}";
    r = st_http(f.port, "POST", "/api/v1/collections/d/points", NULL, p1, -1);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    /* the disk fills up: every write call of the file layer fails */
    ak_io_fail_after(0, ENOSPC);
    r = st_http(f.port, "POST", "/api/v1/collections/d/points", NULL, p2, -1);
    AKT_EQ_INT(r.status, 507);
    AKT_EQ_STR(st_err_code(&r), "insufficient_storage");
    st_resp_free(&r);
    r = st_http(f.port, "GET", "/ready", NULL, NULL, -1);
    AKT_EQ_INT(r.status, 503);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "status")), "disk_full");
    st_resp_free(&r);
    r = st_http(f.port, "POST", "/api/v1/collections/d/search", NULL,
                "{\"vector\":[1,2],\"top_k\":5}", -1);
    AKT_EQ_INT(r.status, 200);   /* reads go on */
    st_resp_free(&r);
    /* space again: writes work (the WAL may ask for a reopen: then 5xx
     * names it, and the acknowledged point survives the restart below) */
    ak_io_fail_after(-1, 0);
    r = st_http(f.port, "POST", "/api/v1/collections/d/points", NULL, p2, -1);
    bool wrote = r.status == 200;
    if (!wrote)
        fprintf(stderr, "  after the disk freed: %ld %s\n", r.status, r.body);
    st_resp_free(&r);
    r = st_http(f.port, "GET", "/ready", NULL, NULL, -1);
    AKT_EQ_INT(r.status, wrote ? 200 : 503);
    st_resp_free(&r);
    /* restart: "a" (acknowledged) is there */
    char *data = f.data;
    f.data = NULL;
    AKT_OK(ak_server_stop(f.s));
    srv g;
    memset(&g, 0, sizeof g);
    ak_server_config c;
    ak_server_config_defaults(&c);
    c.data_dir = data;
    c.port = 0;
    c.scan_models_dir = 0;
    c.sync_none = 1;
    c.log = st_quiet_log();
    AKT_OK(ak_server_start(&c, &g.s));
    g.port = ak_server_port(g.s);
    r = st_http(g.port, "GET", "/api/v1/collections/d/points/a", NULL, NULL, -1);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(g.s));
    st_rmtree(data);
}

/* ---- the OpenAPI document ------------------------------------------------------ */

AKT_TEST(openapi)
{
    srv f;
    AKT_TRUE(srv_up(&f, NULL, NULL));
    st_resp r = st_http(f.port, "GET", "/openapi.json", NULL, NULL, -1);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "openapi")), "3.0.3");
    json_t *paths = json_object_get(r.json, "paths");
    AKT_TRUE(json_object_size(paths) >= 40);
    const char *path;
    json_t *item;
    size_t ops = 0;
    json_object_foreach(paths, path, item) {
        char real[256];
        size_t w = 0;
        for (const char *p = path; *p && w + 2 < sizeof real; p++) {
            if (*p == '{') {   /* a parameter: any segment */
                real[w++] = 'x';
                while (*p && *p != '}')
                    p++;
            } else {
                real[w++] = *p;
            }
        }
        real[w] = '\0';
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op) {
            char m[16];
            snprintf(m, sizeof m, "%s", method);
            for (char *q = m; *q; q++)
                *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 'a' + 'A' : *q);
            bool body = strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0;
            st_resp a = st_http(f.port, m, real, NULL, body ? "{}" : NULL, -1);
            if (a.status == 405 || (a.body && strstr(a.body, "no route for")))
                fprintf(stderr, "  %s %s (from %s): %ld %s\n", m, real, path, a.status, a.body);
            AKT_TRUE(a.status != 405 && !(a.body && strstr(a.body, "no route for")));
            st_resp_free(&a);
            ops++;
        }
    }
    fprintf(stderr, "  %zu paths, %zu operations, each routed\n", json_object_size(paths), ops);
    st_resp_free(&r);
    srv_down(&f);
}

/* ---- recovery ------------------------------------------------------------------ */

typedef struct starter {
    ak_server_config cfg;
    ak_server *s;
    akidb_status st;
    volatile int done;
} starter;

static void *start_thread(void *arg)
{
    starter *t = arg;
    t->st = ak_server_start(&t->cfg, &t->s);
    __atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t l = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

AKT_TEST(recovering)
{
    /* a store whose WAL holds many batches and no snapshot */
    char *data = st_tmpdir("http_rec");
    char sdir[1024];
    snprintf(sdir, sizeof sdir, "%s/store", data);
    akidb_store_opts so = AKIDB_STORE_OPTS_INIT;
    so.sync = AKIDB_SYNC_NONE;
    so.no_snapshot_on_close = true;
    so.snapshot_wal_bytes = UINT64_MAX;
    akidb_store *st = NULL;
    AKT_OK(akidb_store_open(sdir, &so, &st));
    AKT_OK(akidb_tenant_create(st, "default"));
    akidb_collection_opts co = { .dim = 64, .metric = AKIDB_METRIC_L2 };
    AKT_OK(akidb_collection_create(st, "default", "big", &co));
    size_t batches = st_quick() ? 6 : 16, per = 500;
    float *vec = malloc(per * 64 * sizeof *vec);
    akidb_point_in *pts = calloc(per, sizeof *pts);
    char (*ids)[24] = malloc(per * sizeof *ids);
    unsigned seed = 7;
    for (size_t b = 0; b < batches; b++) {
        for (size_t i = 0; i < per; i++) {
            for (size_t d = 0; d < 64; d++)
                vec[i * 64 + d] = (float)(rand_r(&seed) % 1000) / 1000.0f;
            snprintf(ids[i], sizeof ids[i], "p%zu", b * per + i);
            pts[i] = (akidb_point_in){ .id = ids[i], .vector = vec + i * 64 };
        }
        AKT_OK(akidb_points_upsert(st, "default", "big", pts, NULL, per));
    }
    AKT_OK(akidb_store_close(st));
    free(vec);
    free(pts);
    free(ids);

    starter t;
    memset(&t, 0, sizeof t);
    ak_server_config_defaults(&t.cfg);
    t.cfg.data_dir = data;
    t.cfg.port = free_port();
    t.cfg.scan_models_dir = 0;
    t.cfg.sync_none = 1;
    t.cfg.log = st_quiet_log();
    pthread_t th;
    double t0 = ak_now();
    pthread_create(&th, NULL, start_thread, &t);
    int seen_recovering = 0, seen_starting = 0, polls = 0;
    while (!__atomic_load_n(&t.done, __ATOMIC_ACQUIRE)) {
        st_resp r = st_http(t.cfg.port, "GET", "/ready", NULL, NULL, -1);
        if (r.curl_error == 0) {   /* (before the listener is up: refused) */
            polls++;
            if (r.status == 503) {
                const char *status = json_string_value(json_object_get(r.json, "status"));
                AKT_TRUE(status != NULL);
                if (status && strcmp(status, "recovering") == 0) {
                    seen_recovering++;
                    json_t *tb = json_object_get(r.json, "total_bytes");
                    json_t *db = json_object_get(r.json, "done_bytes");
                    AKT_TRUE(json_integer_value(db) <= json_integer_value(tb));
                    AKT_EQ_INT(atoi(r.retry_after), 1);
                }
                st_resp h = st_http(t.cfg.port, "GET", "/health", NULL, NULL, -1);
                AKT_EQ_INT(h.status, 200);
                st_resp_free(&h);
                st_resp c = st_http(t.cfg.port, "GET", "/api/v1/collections", NULL, NULL, -1);
                if (c.status == 503 && strcmp(st_err_code(&c), "starting") == 0)
                    seen_starting++;
                AKT_TRUE(c.status == 503 || c.status == 200);
                st_resp_free(&c);
            } else {
                AKT_EQ_INT(r.status, 200);
            }
        }
        st_resp_free(&r);
        usleep(20000);
    }
    pthread_join(th, NULL);
    double took = ak_now() - t0;
    AKT_OK(t.st);
    fprintf(stderr, "  start took %.2f s: %d /ready polls answered, %d said recovering, "
            "%d routes said starting\n", took, polls, seen_recovering, seen_starting);
    if (took > 1.0) {   /* long enough that the listener must have answered */
        AKT_TRUE(seen_recovering > 0);
        AKT_TRUE(seen_starting > 0);
    }
    st_resp r = st_http(t.cfg.port, "GET", "/ready", NULL, NULL, -1);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = st_http(t.cfg.port, "GET", "/api/v1/collections/big", NULL, NULL, -1);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), batches * per);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(t.s));
    st_rmtree(data);
}

AKT_MAIN(AKT_REG(framing), AKT_REG(framing_small_limit), AKT_REG(chunk_oversize),
         AKT_REG(idle_crowd),
         AKT_REG(per_ip_cap), AKT_REG(idle_timeout), AKT_REG(key_rules), AKT_REG(workq_bound),
         AKT_REG(overload_503), AKT_REG(disk_full), AKT_REG(openapi), AKT_REG(recovering))
