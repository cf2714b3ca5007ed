/*
 * rate.c - HTTP/1.1 load client for `akidb serve` benchmarks (bench/load/run.sh).
 *
 * Sends POST requests whose bodies are the lines of a file (cycled) over a
 * few keep-alive connections to one loopback host, in one of two modes:
 *
 *   open loop  (--rate R > 0): request i is due at t0 + i / R.  A due request
 *              goes out on the first idle connection; when all are busy it
 *              waits in a FIFO.  Latency is measured from the DUE time, not
 *              from the moment it was written, so a slow server cannot hide
 *              its stalls by slowing the client down (no coordinated
 *              omission).
 *   closed loop (--rate 0): every connection sends its next request as soon
 *              as the previous answer is complete; measures throughput:
 *              answers per second between the end of the warm-up and the
 *              end of sending, an answer whose request straddles either
 *              end counting for the share of its time inside.
 *
 * Requests due during the first --warmup seconds are sent but not counted.
 * After the last due time the client waits up to --timeout seconds for the
 * answers still out; those are counted as timeouts.  Percentiles use linear
 * interpolation between order statistics (rank p/100 * (n - 1)).  When an
 * answer holds "FIELD":<number> (--server-field, default latency_ms: the
 * handler time the search routes report; duration_ms for /api/v1/embed),
 * its percentiles are reported too.  Also reported: the largest number of
 * requests that waited for a free connection (backlog) and the latest a
 * request went out after its due time (send lag, also as a distribution:
 * the client's own share of the latency).  --timeline FILE writes
 * one line per second of due time: second, requests, P50, P99, max (ms).
 *
 * Output: one JSON object on stdout.
 *
 *   cc -O2 -o rate bench/load/rate.c -lm
 *   rate --port 8080 --path /api/v1/collections/c/search --bodies q.jsonl \
 *        --rate 100 --duration 30 --warmup 3 --connections 8
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256

typedef struct {
    char *data;
    size_t len;
} req_t;

typedef struct {
    int fd;
    bool busy;
    double due;          /* due time of the request in flight        */
    double lag;          /* written this late after its due time (s)  */
    double sent_at;      /* when its first byte was handed out        */
    bool counted;        /* not a warm-up request                     */
    size_t req, woff;    /* request index, bytes written              */
    char *rbuf;
    size_t rlen, rcap;
} conn_t;

typedef struct {
    double due;
    bool counted;
} pend_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *msg)
{
    fprintf(stderr, "rate: %s: %s\n", msg, strerror(errno));
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "rate: out of memory\n");
        exit(1);
    }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    double r = p / 100.0 * (double)(n - 1);
    size_t i = (size_t)r;
    if (i + 1 >= n)
        return v[n - 1];
    return v[i] + (r - (double)i) * (v[i + 1] - v[i]);
}

static void print_dist(const char *name, double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    if (n == 0) {
        printf("\"%s\": {\"n\": 0}", name);
        return;
    }
    printf("\"%s\": {\"n\": %zu, \"mean\": %.3f, \"p50\": %.3f, \"p90\": %.3f, \"p95\": %.3f, "
           "\"p99\": %.3f, \"p999\": %.3f, \"max\": %.3f}",
           name, n, sum / n, pct(v, n, 50), pct(v, n, 90), pct(v, n, 95), pct(v, n, 99),
           pct(v, n, 99.9), v[n - 1]);
}

static struct sockaddr_in g_addr;

static int connect_one(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof g_addr) != 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* Returns 0 while the answer is incomplete, else the total length of the
 * answer in buf (NUL-terminated at len); *status gets the HTTP status,
 * *close_after whether the server will close the connection.  -1: malformed. */
static long answer_len(const char *buf, size_t len, int *status, bool *close_after,
                       size_t *body_off)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t hlen = (size_t)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(buf + 9);
    *close_after = false;
    long clen = -1;
    bool chunked = false;
    for (const char *p = memchr(buf, '\n', hlen); p && p < end; p = memchr(p, '\n', end - p)) {
        p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = strtol(p + 15, NULL, 10);
        else if (strncasecmp(p, "Transfer-Encoding:", 18) == 0 && strstr(p, "chunked") &&
                 strstr(p, "chunked") < end)
            chunked = true;
        else if (strncasecmp(p, "Connection:", 11) == 0) {
            const char *q = p + 11;
            while (*q == ' ')
                q++;
            if (strncasecmp(q, "close", 5) == 0)
                *close_after = true;
        }
    }
    *body_off = hlen;
    if (chunked) {
        size_t off = hlen;
        for (;;) {
            const char *nl = memmem(buf + off, len - off, "\r\n", 2);
            if (!nl)
                return 0;
            long sz = strtol(buf + off, NULL, 16);
            off = (size_t)(nl - buf) + 2;
            if (sz == 0) {
                /* trailers end with an empty line */
                const char *e2 = memmem(buf + off - 2, len - (off - 2), "\r\n\r\n", 4);
                return e2 ? (long)((e2 - buf) + 4) : 0;
            }
            if (len < off + (size_t)sz + 2)
                return 0;
            off += (size_t)sz + 2;
        }
    }
    if (clen < 0)
        clen = 0;
    return len >= hlen + (size_t)clen ? (long)(hlen + (size_t)clen) : 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: rate --port N --path P --bodies FILE [--host 127.0.0.1] [--rate R]\n"
            "            [--duration S] [--warmup S] [--connections C] [--timeout S]\n"
            "            [--max-requests N] [--header 'Name: value']\n"
            "            [--server-field NAME] [--timeline FILE]\n"
            "  --rate R     requests per second, open loop; 0 = closed loop (default 100)\n"
            "  --duration S seconds of sending, warm-up included (default 30)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = NULL, *bodies = NULL, *header = NULL;
    const char *field = "latency_ms", *timeline = NULL;
    int port = 0, nconn = 8;
    double rate = 100, duration = 30, warmup = 0, timeout = 10;
    long max_requests = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--path")) path = v;
        else if (!strcmp(a, "--bodies")) bodies = v;
        else if (!strcmp(a, "--header")) header = v;
        else if (!strcmp(a, "--server-field")) field = v;
        else if (!strcmp(a, "--timeline")) timeline = v;
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--warmup")) warmup = atof(v);
        else if (!strcmp(a, "--timeout")) timeout = atof(v);
        else if (!strcmp(a, "--connections")) nconn = atoi(v);
        else if (!strcmp(a, "--max-requests")) max_requests = atol(v);
        else usage();
        i++;
    }
    if (!path || !bodies || port <= 0 || nconn < 1 || nconn > MAX_CONNS || rate < 0 ||
        duration <= 0 || warmup < 0 || warmup >= duration)
        usage();
    memset(&g_addr, 0, sizeof g_addr);
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &g_addr.sin_addr) != 1) {
        fprintf(stderr, "rate: --host must be an IPv4 address\n");
        return 2;
    }

    /* requests: one per non-empty line of the bodies file, built once */
    FILE *f = fopen(bodies, "rb");
    if (!f)
        die(bodies);
    req_t *reqs = NULL;
    size_t nreq = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t ll;
    while ((ll = getline(&line, &lcap, f)) > 0) {
        while (ll > 0 && (line[ll - 1] == '\n' || line[ll - 1] == '\r'))
            ll--;
        if (ll == 0)
            continue;
        if (nreq == cap)
            reqs = xrealloc(reqs, (cap = cap ? cap * 2 : 256) * sizeof *reqs);
        char *r = NULL;
        int n = asprintf(&r,
                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                         "%s%sContent-Length: %zd\r\n\r\n%.*s",
                         path, host, port, header ? header : "", header ? "\r\n" : "", ll,
                         (int)ll, line);
        if (n < 0)
            die("asprintf");
        reqs[nreq].data = r;
        reqs[nreq++].len = (size_t)n;
    }
    fclose(f);
    free(line);
    if (nreq == 0) {
        fprintf(stderr, "rate: %s has no bodies\n", bodies);
        return 2;
    }

    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    conn_t conns[MAX_CONNS];
    memset(conns, 0, sizeof conns);
    for (int i = 0; i < nconn; i++)
        conns[i].fd = connect_one();

    size_t cap_lat = 1024, n_lat = 0, n_srv = 0;
    double *lat = xrealloc(NULL, cap_lat * sizeof *lat);
    double *srv = xrealloc(NULL, cap_lat * sizeof *srv);
    double *when = xrealloc(NULL, cap_lat * sizeof *when);   /* due time - t0 */
    double *lags = xrealloc(NULL, cap_lat * sizeof *lags);
    char key[128];
    snprintf(key, sizeof key, "\"%s\":", field);
    size_t key_len = strlen(key);
    long sent = 0, done_counted = 0, ok = 0, non2xx = 0, reconnects = 0, due_counted = 0;
    long first_bad_status = 0;
    size_t next_body = 0, max_backlog = 0;
    pend_t *pend = NULL;
    size_t pend_head = 0, pend_len = 0, pend_cap = 0;
    double max_send_lag = 0, work_in_window = 0;

    const double t0 = now_s() + 0.05;
    const double t_end = t0 + duration, t_warm = t0 + warmup;
    long scheduled = 0; /* open loop: requests made due so far */
    double t_count_end = t_end;
    bool stop_sending = false;

    for (;;) {
        double t = now_s();
        if (!stop_sending && (t >= t_end || (max_requests > 0 && sent >= max_requests)))
            stop_sending = true;
        /* open loop: move due requests into the FIFO */
        if (rate > 0 && !stop_sending) {
            while (true) {
                double due = t0 + (double)scheduled / rate;
                if (due > t || due >= t_end)
                    break;
                if (pend_len == pend_cap) {
                    size_t nc = pend_cap ? pend_cap * 2 : 64;
                    pend_t *np = xrealloc(NULL, nc * sizeof *np);
                    for (size_t k = 0; k < pend_len; k++)
                        np[k] = pend[(pend_head + k) % pend_cap];
                    free(pend);
                    pend = np, pend_cap = nc, pend_head = 0;
                }
                pend[(pend_head + pend_len++) % pend_cap] = (pend_t){due, due >= t_warm};
                if (due >= t_warm)
                    due_counted++;
                scheduled++;
            }
            if (pend_len > max_backlog)
                max_backlog = pend_len;
        }
        /* hand requests to idle connections */
        for (int i = 0; i < nconn; i++) {
            conn_t *c = &conns[i];
            if (c->busy)
                continue;
            if (rate > 0) {
                if (pend_len == 0)
                    break;
                pend_t p = pend[pend_head];
                pend_head = (pend_head + 1) % pend_cap;
                pend_len--;
                c->due = p.due, c->counted = p.counted;
                c->lag = t - p.due;
                if (t - p.due > max_send_lag)
                    max_send_lag = t - p.due;
            } else {
                if (stop_sending)
                    break;
                c->due = t, c->counted = t >= t_warm;
                c->lag = 0;
                if (c->counted)
                    due_counted++;
            }
            c->busy = true;
            c->sent_at = t;
            c->req = next_body;
            next_body = (next_body + 1) % nreq;
            c->woff = 0;
            c->rlen = 0;
            sent++;
        }
        bool any_busy = false;
        for (int i = 0; i < nconn; i++)
            any_busy |= conns[i].busy;
        if (stop_sending && !any_busy && pend_len == 0)
            break;
        if (stop_sending && t > t_end + timeout)
            break;

        struct pollfd pf[MAX_CONNS];
        for (int i = 0; i < nconn; i++) {
            conn_t *c = &conns[i];
            pf[i].fd = c->fd;
            pf[i].events = POLLIN;
            if (c->busy && c->woff < reqs[c->req].len)
                pf[i].events |= POLLOUT;
            pf[i].revents = 0;
        }
        /* Sleep until the next due time (nanosecond timeout, timer slack
         * set to 1 ns at start) or until a socket is ready. */
        double w = 0.05;
        if (rate > 0 && !stop_sending) {
            w = t0 + (double)scheduled / rate - now_s();
            if (w < 0)
                w = 0;
            if (w > 0.05)
                w = 0.05;
        }
        struct timespec ts = {(time_t)w, (long)((w - (double)(time_t)w) * 1e9)};
        int pr = ppoll(pf, (nfds_t)nconn, &ts, NULL);
        if (pr < 0 && errno != EINTR)
            die("poll");
        for (int i = 0; pr > 0 && i < nconn; i++) {
            conn_t *c = &conns[i];
            if (!pf[i].revents)
                continue;
            bool broken = false;
            if ((pf[i].revents & POLLOUT) && c->busy) {
                req_t *r = &reqs[c->req];
                ssize_t w = send(c->fd, r->data + c->woff, r->len - c->woff, MSG_NOSIGNAL);
                if (w > 0)
                    c->woff += (size_t)w;
                else if (w < 0 && errno != EAGAIN && errno != EINTR)
                    broken = true;
            }
            if (!broken && (pf[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                for (;;) {
                    if (c->rcap - c->rlen < 65536)
                        c->rbuf = xrealloc(c->rbuf, c->rcap = c->rcap * 2 + 65536);
                    /* one byte kept for a terminating NUL, so that the
                     * string functions below stop inside the buffer */
                    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen - 1, 0);
                    if (n > 0) {
                        c->rlen += (size_t)n;
                        c->rbuf[c->rlen] = '\0';
                        continue;
                    }
                    if (n == 0 || (errno != EAGAIN && errno != EINTR))
                        broken = true;
                    break;
                }
                if (c->busy && c->rlen > 0) {
                    int status = 0;
                    bool close_after = false;
                    size_t body_off = 0;
                    long al = answer_len(c->rbuf, c->rlen, &status, &close_after, &body_off);
                    if (al < 0) {
                        fprintf(stderr, "rate: malformed answer\n");
                        return 1;
                    }
                    if (al > 0) {
                        double tn = now_s();
                        /* closed-loop throughput: each answer counts for
                         * the share of its time inside [t_warm, t_end] */
                        double lo = c->sent_at > t_warm ? c->sent_at : t_warm;
                        double hi = tn < t_end ? tn : t_end;
                        if (hi > lo && tn > c->sent_at)
                            work_in_window += (hi - lo) / (tn - c->sent_at);
                        if (c->counted) {
                            done_counted++;
                            if (n_lat == cap_lat) {
                                cap_lat *= 2;
                                lat = xrealloc(lat, cap_lat * sizeof *lat);
                                srv = xrealloc(srv, cap_lat * sizeof *srv);
                                when = xrealloc(when, cap_lat * sizeof *when);
                                lags = xrealloc(lags, cap_lat * sizeof *lags);
                            }
                            when[n_lat] = c->due - t0;
                            lags[n_lat] = c->lag * 1000.0;
                            lat[n_lat++] = (tn - c->due) * 1000.0;
                            if (status >= 200 && status < 300) {
                                ok++;
                                const char *b = c->rbuf + body_off;
                                const char *k = memmem(b, (size_t)al - body_off, key, key_len);
                                if (k)
                                    srv[n_srv++] = strtod(k + key_len, NULL);
                            } else {
                                non2xx++;
                                if (!first_bad_status) {
                                    first_bad_status = status;
                                    fprintf(stderr, "rate: HTTP %d: %.*s\n", status,
                                            (int)((size_t)al - body_off > 300
                                                      ? 300 : (size_t)al - body_off),
                                            c->rbuf + body_off);
                                }
                            }
                        }
                        c->busy = false;
                        memmove(c->rbuf, c->rbuf + al, c->rlen - (size_t)al);
                        c->rlen -= (size_t)al;
                        c->rbuf[c->rlen] = '\0';
                        if (close_after)
                            broken = true;
                        t_count_end = tn;
                    }
                }
            }
            if (broken) {
                /* the server closed: a request in flight is lost (counted
                 * as a timeout); reconnect for the next ones */
                close(c->fd);
                c->fd = connect_one();
                c->busy = false;
                c->rlen = 0;
                reconnects++;
            }
        }
    }
    double t_stop = now_s();
    (void)t_stop;

    if (timeline) {
        FILE *tf = fopen(timeline, "w");
        if (!tf)
            die(timeline);
        int secs = (int)ceil(duration) + 1;
        double *tmp = xrealloc(NULL, (n_lat ? n_lat : 1) * sizeof *tmp);
        for (int sec = 0; sec < secs; sec++) {
            size_t m = 0;
            for (size_t i = 0; i < n_lat; i++)
                if (when[i] >= sec && when[i] < sec + 1)
                    tmp[m++] = lat[i];
            if (m == 0)
                continue;
            qsort(tmp, m, sizeof *tmp, cmp_double);
            fprintf(tf, "%d %zu %.3f %.3f %.3f\n", sec, m, pct(tmp, m, 50), pct(tmp, m, 99),
                    tmp[m - 1]);
        }
        free(tmp);
        fclose(tf);
    }
    /* open loop: answers of the requests due after the warm-up over the
     * measured time; closed loop: answers (shares, see above) per second of
     * the window between the warm-up and the end of sending */
    double achieved = rate > 0 ? (double)done_counted / (duration - warmup)
                               : work_in_window / (duration - warmup);
    (void)t_count_end;
    printf("{\"mode\": \"%s\", \"path\": \"%s\", \"rate\": %.3f, \"connections\": %d, "
           "\"duration_s\": %.3f, \"warmup_s\": %.3f, \"bodies\": %zu,\n",
           rate > 0 ? "open" : "closed", path, rate, nconn, duration, warmup, nreq);
    printf(" \"requests\": %ld, \"completed\": %ld, \"ok\": %ld, \"non2xx\": %ld, "
           "\"timeouts\": %ld, \"reconnects\": %ld, \"achieved_rps\": %.3f, "
           "\"max_backlog\": %zu, \"max_send_lag_ms\": %.3f,\n",
           due_counted, done_counted, ok, non2xx, due_counted - done_counted, reconnects,
           achieved, max_backlog, max_send_lag * 1000.0);
    printf(" ");
    print_dist("latency_ms", lat, n_lat);
    printf(",\n ");
    print_dist("server_latency_ms", srv, n_srv);
    printf(",\n ");
    print_dist("send_lag_ms", lags, n_lat);
    printf("}\n");
    return non2xx || due_counted != done_counted ? 3 : 0;
}
