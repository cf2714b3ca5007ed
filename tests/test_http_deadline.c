/*
 * test_http_deadline.c - the header and body deadlines of the HTTP layer
 * (src/server/deadline.c, http.c) over raw sockets on 127.0.0.1.  Bytes
 * trickling in reset libmicrohttpd's idle timeout (30 s here), so without
 * the deadlines every trickling connection below would stay open:
 *
 *   header_trickle   a client sending a header byte every 200 ms with
 *                    --header-timeout 1 is closed, unanswered, well before
 *                    the idle timeout; counted under phase="header"
 *   in_time          headers sent in pieces within the deadline are
 *                    answered; a keep-alive connection idle past the header
 *                    deadline (within the idle timeout) serves its next
 *                    request, while a fresh connection silent as long is
 *                    closed
 *   keepalive_trickle  after an answer, a keep-alive connection trickling
 *                    its next request's headers is cut once the idle
 *                    timeout (3 s here) has passed since the answer
 *   body_trickle     a Content-Length body and a chunked body sent a byte
 *                    every 200 ms with --body-timeout 1 are cut; counted
 *                    under phase="body"
 *   slow_request     a search whose handler takes 3 s (longer than both
 *                    deadlines together) is answered, not cut
 *   off              with both deadlines 0 a trickling client keeps its
 *                    connection (the idle timeout alone applies)
 *
 * The bounds are generous (10 s to be cut where the deadline is 1 s): this
 * checks behaviour, not timing.
 */
#include "akt.h"
#include "akidb.h"
#include "common/common.h"
#include "server/internal.h"
#include "server/server.h"
#include "server/srvtest.h"
#include "server/srvbare.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

typedef st_srv srv;

static bool srv_up(srv *f, unsigned header_s, unsigned body_s, unsigned idle_s)
{
    ak_server_config c;
    st_srv_config(&c);
    c.idle_timeout_s = idle_s;
    c.header_timeout_s = header_s;
    c.body_timeout_s = body_s;
    return st_srv_start(f, "deadline", NULL, &c);
}

static void srv_down(srv *f) { st_srv_down(f); }

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int conn_open(int port) { return st_conn_open(port); }

static bool send_str(int fd, const char *p) { return st_send_all(fd, p, strlen(p)); }

/* Waits up to ms for the peer: 1 when it closed (or reset) the connection,
 * 0 when nothing came, -1 when it sent bytes (an answer). */
static int peer_closed(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, ms) <= 0)
        return 0;
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return 1;
    return k > 0 ? -1 : 0;
}

/* A trickling client: sends prefix, then one byte of `drip` every 200 ms
 * (cycling), until the server closes the connection or max_s passes.
 * Returns the seconds it stayed open (-1: connect failed); *answered
 * tells whether the server sent anything instead of closing. */
static double trickle(int port, const char *prefix, const char *drip, double max_s,
                      bool *answered)
{
    *answered = false;
    int fd = conn_open(port);
    if (fd < 0)
        return -1;
    double t0 = ak_now();
    bool ok = send_str(fd, prefix);
    size_t i = 0, nd = strlen(drip);
    while (ok && ak_now() - t0 < max_s) {
        int st = peer_closed(fd, 200);
        if (st != 0) {
            *answered = st < 0;
            break;
        }
        char c[2] = { drip[i++ % nd], '\0' };
        ok = send_str(fd, c);
    }
    double took = ak_now() - t0;
    close(fd);
    return took;
}

/* The value of the metric line starting with `series` (e.g.
 * akidb_http_deadline_drops_total{phase="header"}), -1 when absent. */
static long metric(const srv *f, const char *series)
{
    st_resp r = st_http(f->port, "GET", "/metrics", NULL, NULL, -1);
    long v = -1;
    const char *p = r.body ? strstr(r.body, series) : NULL;
    if (p)
        v = strtol(p + strlen(series), NULL, 10);
    st_resp_free(&r);
    return v;
}

#define DROPS_HEADER "akidb_http_deadline_drops_total{phase=\"header\"} "
#define DROPS_BODY "akidb_http_deadline_drops_total{phase=\"body\"} "

AKT_TEST(header_trickle)
{
    srv f;
    AKT_TRUE(srv_up(&f, 1, 60, 30));
    AKT_EQ_INT(metric(&f, DROPS_HEADER), 0);
    bool answered;
    double took = trickle(f.port, "GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ", "x", 20,
                          &answered);
    fprintf(stderr, "  a header trickle (1 byte / 200 ms) ended after %.2f s "
                    "(header deadline 1 s)\n", took);
    AKT_FALSE(answered);
    AKT_TRUE(took > 0);
    AKT_LE(took, 10);
    AKT_EQ_INT(metric(&f, DROPS_HEADER), 1);
    AKT_EQ_INT(metric(&f, DROPS_BODY), 0);
    srv_down(&f);
}

/* Reads one answer on a keep-alive connection; its status or -1. */
static int read_status(int fd, int ms)
{
    char buf[4096];
    size_t n = 0;
    double until = ak_now() + ms / 1000.0;
    while (n + 1 < sizeof buf && ak_now() < until) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strcasestr(buf, "\r\nContent-Length:");
        if (end && cl && cl < end && (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10) <= n)
            return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : -1;
    }
    return -1;
}

AKT_TEST(in_time)
{
    srv f;
    AKT_TRUE(srv_up(&f, 2, 60, 30));
    int fd = conn_open(f.port);
    AKT_TRUE(fd >= 0);
    /* the headers in three pieces, 150 ms apart: within the deadline */
    AKT_TRUE(send_str(fd, "GET /health HTTP/1.1\r\n"));
    sleep_ms(150);
    AKT_TRUE(send_str(fd, "Host: t\r\n"));
    sleep_ms(150);
    AKT_TRUE(send_str(fd, "Accept: */*\r\n\r\n"));
    AKT_EQ_INT(read_status(fd, 5000), 200);
    /* idle past the header deadline, within the idle timeout: the
     * keep-alive connection serves its next request; a fresh connection
     * that stayed silent as long is closed */
    int fresh = conn_open(f.port);
    AKT_TRUE(fresh >= 0);
    sleep_ms(3000);
    AKT_EQ_INT(peer_closed(fresh, 5000), 1);
    close(fresh);
    AKT_TRUE(send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"));
    AKT_EQ_INT(read_status(fd, 5000), 200);
    close(fd);
    AKT_EQ_INT(metric(&f, DROPS_HEADER), 1);
    srv_down(&f);
}

AKT_TEST(keepalive_trickle)
{
    srv f;
    AKT_TRUE(srv_up(&f, 1, 60, 3));
    int fd = conn_open(f.port);
    AKT_TRUE(fd >= 0);
    AKT_TRUE(send_str(fd, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n"));
    AKT_EQ_INT(read_status(fd, 5000), 200);
    double t0 = ak_now();
    static const char next[] = "GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    int st = 0;
    for (size_t i = 0; st == 0 && ak_now() - t0 < 20; i++) {
        char c[2] = { i < sizeof next - 1 ? next[i] : 'x', '\0' };
        if (!send_str(fd, c))
            break;
        st = peer_closed(fd, 200);
    }
    double took = ak_now() - t0;
    close(fd);
    fprintf(stderr, "  a keep-alive trickle ended after %.2f s (idle timeout 3 s)\n", took);
    AKT_EQ_INT(st, 1);
    AKT_LE(took, 10);
    AKT_EQ_INT(metric(&f, DROPS_HEADER), 1);
    srv_down(&f);
}

AKT_TEST(body_trickle)
{
    srv f;
    AKT_TRUE(srv_up(&f, 1, 1, 30));
    bool answered;
    double took = trickle(f.port,
                          "POST /api/v1/collections/a/search HTTP/1.1\r\nHost: t\r\n"
                          "Content-Length: 200\r\n\r\n{\"vector\":[",
                          "1,", 20, &answered);
    fprintf(stderr, "  a body trickle (1 byte / 200 ms) ended after %.2f s "
                    "(body deadline 1 s)\n", took);
    AKT_FALSE(answered);
    AKT_TRUE(took > 0);
    AKT_LE(took, 10);
    /* chunked: one-byte chunks */
    took = trickle(f.port,
                   "POST /api/v1/collections/a/search HTTP/1.1\r\nHost: t\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n",
                   "1\r\n \r\n", 20, &answered);
    fprintf(stderr, "  a chunked body trickle ended after %.2f s\n", took);
    AKT_FALSE(answered);
    AKT_TRUE(took > 0);
    AKT_LE(took, 10);
    AKT_EQ_INT(metric(&f, DROPS_BODY), 2);
    AKT_EQ_INT(metric(&f, DROPS_HEADER), 0);
    srv_down(&f);
}

static void slow_search(const ak_http_req *req)
{
    if (strstr(req->path, "/search"))
        sleep_ms(3000);
}

AKT_TEST(slow_request)
{
    srv f;
    AKT_TRUE(srv_up(&f, 1, 1, 30));
    st_resp r = st_http(f.port, "POST", "/api/v1/collections", NULL,
                        "{\"name\":\"a\",\"dimension\":2,\"metric\":\"l2\"}", -1);
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = st_http(f.port, "POST", "/api/v1/collections/a/points", NULL,
                "{\"points\":[{\"id\":\"p\",\"vector\":[1,2]}]}", -1);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    ak_http_dispatch_hook = slow_search;
    double t0 = ak_now();
    r = st_http(f.port, "POST", "/api/v1/collections/a/search", NULL,
                "{\"vector\":[1,2],\"top_k\":1}", -1);
    double took = ak_now() - t0;
    ak_http_dispatch_hook = NULL;
    fprintf(stderr, "  a 3 s search with 1 s deadlines: %ld after %.2f s\n", r.status, took);
    AKT_EQ_INT(r.status, 200);
    AKT_CONTAINS(r.body ? r.body : "", "\"p\"");
    AKT_GE(took, 3);
    st_resp_free(&r);
    AKT_EQ_INT(metric(&f, DROPS_HEADER), 0);
    AKT_EQ_INT(metric(&f, DROPS_BODY), 0);
    srv_down(&f);
}

AKT_TEST(off)
{
    srv f;
    AKT_TRUE(srv_up(&f, 0, 0, 30));
    bool answered;
    double took = trickle(f.port, "GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ", "x", 2.5,
                          &answered);
    AKT_FALSE(answered);
    AKT_GE(took, 2.5);   /* still open when the client gave up */
    AKT_EQ_INT(metric(&f, DROPS_HEADER), 0);
    srv_down(&f);
}

AKT_MAIN(AKT_REG(header_trickle), AKT_REG(in_time), AKT_REG(keepalive_trickle),
         AKT_REG(body_trickle),
         AKT_REG(slow_request), AKT_REG(off))
