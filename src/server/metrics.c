/*
 * metrics.c - Prometheus metrics of the server: a request counter and
 * latency histogram per (route, method, status), the connections the HTTP
 * deadlines dropped (deadline.c), plus named histograms that other parts
 * register (embedding batch sizes and tokens).  One mutex guards
 * everything: updates are a few additions, far cheaper than the requests
 * they describe.  Rendering follows the Prometheus text format 0.0.4.
 */
#include "server/internal.h"

#include <stdio.h>
#include <string.h>

#define AK_REQ_SERIES_MAX 512
#define AK_HIST_MAX 32

static const double lat_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                    0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define LAT_N (sizeof lat_bounds / sizeof lat_bounds[0])

typedef struct req_series {
    char route[64];
    char method[8];
    int status;
    uint64_t count;
    uint64_t buckets[LAT_N + 1];
    double sum;
} req_series;

struct ak_hist {
    char name[64];
    char help[128];
    char labels[128];
    double *bounds;
    size_t n;
    uint64_t *buckets;            /* n + 1, last is +Inf (not cumulative)    */
    uint64_t count;
    double sum;
    pthread_mutex_t *mu;
};

struct ak_metrics {
    pthread_mutex_t mu;
    req_series *series;
    size_t n_series;
    uint64_t dropped;
    uint64_t deadline_header, deadline_body;   /* connections cut, by phase */
    ak_hist hists[AK_HIST_MAX];
    size_t n_hists;
};

/* ---- growable text buffer ---------------------------------------------- */

void ak_tbuf_printf(ak_tbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t want = b->len + (size_t)n + 1;
        size_t cap = b->cap ? b->cap : 256;
        while (cap < want)
            cap *= 2;
        char *p = ak_realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

void ak_tbuf_free(ak_tbuf *b)
{
    ak_free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- registry ---------------------------------------------------------- */

ak_metrics *ak_metrics_new(void)
{
    ak_metrics *m = ak_calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->series = ak_calloc(AK_REQ_SERIES_MAX, sizeof *m->series);
    if (!m->series) {
        ak_free(m);
        return NULL;
    }
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void ak_metrics_free(ak_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_hists; i++) {
        ak_free(m->hists[i].bounds);
        ak_free(m->hists[i].buckets);
    }
    ak_free(m->series);
    pthread_mutex_destroy(&m->mu);
    ak_free(m);
}

static size_t bucket_of(const double *bounds, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    return i;
}

void ak_metrics_request(ak_metrics *m, const char *route, const char *method,
                        int status, double seconds)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    req_series *s = NULL;
    for (size_t i = 0; i < m->n_series; i++) {
        req_series *t = &m->series[i];
        if (t->status == status && strcmp(t->route, route) == 0 &&
            strcmp(t->method, method) == 0) {
            s = t;
            break;
        }
    }
    if (!s && m->n_series < AK_REQ_SERIES_MAX) {
        s = &m->series[m->n_series++];
        snprintf(s->route, sizeof s->route, "%s", route);
        snprintf(s->method, sizeof s->method, "%s", method);
        s->status = status;
    }
    if (s) {
        s->count++;
        s->buckets[bucket_of(lat_bounds, LAT_N, seconds)]++;
        s->sum += seconds;
    } else {
        m->dropped++;
    }
    pthread_mutex_unlock(&m->mu);
}

void ak_metrics_deadline_drops(ak_metrics *m, uint64_t header, uint64_t body)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->deadline_header += header;
    m->deadline_body += body;
    pthread_mutex_unlock(&m->mu);
}

ak_hist *ak_metrics_hist(ak_metrics *m, const char *name, const char *help,
                         const char *labels, const double *bounds, size_t n)
{
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->mu);
    ak_hist *h = NULL;
    if (m->n_hists < AK_HIST_MAX) {
        h = &m->hists[m->n_hists];
        memset(h, 0, sizeof *h);
        h->bounds = ak_malloc(n * sizeof *bounds);
        h->buckets = ak_calloc(n + 1, sizeof *h->buckets);
        if (!h->bounds || !h->buckets) {
            ak_free(h->bounds);
            ak_free(h->buckets);
            h = NULL;
        } else {
            memcpy(h->bounds, bounds, n * sizeof *bounds);
            h->n = n;
            snprintf(h->name, sizeof h->name, "%s", name);
            snprintf(h->help, sizeof h->help, "%s", help);
            snprintf(h->labels, sizeof h->labels, "%s", labels ? labels : "");
            h->mu = &m->mu;
            m->n_hists++;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return h;
}

void ak_hist_observe(ak_hist *h, double v)
{
    if (!h)
        return;
    pthread_mutex_lock(h->mu);
    h->buckets[bucket_of(h->bounds, h->n, v)]++;
    h->count++;
    h->sum += v;
    pthread_mutex_unlock(h->mu);
}

/* Writes one histogram's series; labels is "" or `k="v",...` without
 * braces. */
static void render_hist(ak_tbuf *out, const char *name, const char *labels,
                        const double *bounds, size_t n, const uint64_t *buckets,
                        uint64_t count, double sum)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += buckets[i];
        ak_tbuf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep,
                      bounds[i], (unsigned long long)cum);
    }
    cum += buckets[n];
    ak_tbuf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                  (unsigned long long)cum);
    if (labels[0]) {
        ak_tbuf_printf(out, "%s_sum{%s} %.9g\n", name, labels, sum);
        ak_tbuf_printf(out, "%s_count{%s} %llu\n", name, labels, (unsigned long long)count);
    } else {
        ak_tbuf_printf(out, "%s_sum %.9g\n", name, sum);
        ak_tbuf_printf(out, "%s_count %llu\n", name, (unsigned long long)count);
    }
}

void ak_metrics_render(ak_metrics *m, ak_tbuf *out)
{
    pthread_mutex_lock(&m->mu);
    ak_tbuf_printf(out, "# HELP akidb_http_requests_total HTTP requests by route, method and status.\n"
                       "# TYPE akidb_http_requests_total counter\n");
    for (size_t i = 0; i < m->n_series; i++) {
        req_series *s = &m->series[i];
        ak_tbuf_printf(out, "akidb_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
                      s->route, s->method, s->status, (unsigned long long)s->count);
    }
    ak_tbuf_printf(out, "# HELP akidb_http_request_duration_seconds Time from the request's first byte to its response.\n"
                       "# TYPE akidb_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < m->n_series; i++) {
        req_series *s = &m->series[i];
        char labels[128];
        snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%d\"",
                 s->route, s->method, s->status);
        render_hist(out, "akidb_http_request_duration_seconds", labels, lat_bounds,
                    LAT_N, s->buckets, s->count, s->sum);
    }
    ak_tbuf_printf(out, "# HELP akidb_http_series_dropped_total Requests not counted because the series table is full.\n"
                       "# TYPE akidb_http_series_dropped_total counter\n"
                       "akidb_http_series_dropped_total %llu\n",
                  (unsigned long long)m->dropped);
    ak_tbuf_printf(out, "# HELP akidb_http_deadline_drops_total Connections closed because a request's headers or body did not arrive within --header-timeout / --body-timeout.\n"
                       "# TYPE akidb_http_deadline_drops_total counter\n"
                       "akidb_http_deadline_drops_total{phase=\"header\"} %llu\n"
                       "akidb_http_deadline_drops_total{phase=\"body\"} %llu\n",
                  (unsigned long long)m->deadline_header, (unsigned long long)m->deadline_body);
    /* Histograms registered under one name share HELP/TYPE lines. */
    for (size_t i = 0; i < m->n_hists; i++) {
        ak_hist *h = &m->hists[i];
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (strcmp(m->hists[j].name, h->name) == 0)
                first = false;
        if (!first)
            continue;
        ak_tbuf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
        for (size_t j = i; j < m->n_hists; j++) {
            ak_hist *g = &m->hists[j];
            if (strcmp(g->name, h->name) != 0)
                continue;
            render_hist(out, g->name, g->labels, g->bounds, g->n, g->buckets,
                        g->count, g->sum);
        }
    }
    pthread_mutex_unlock(&m->mu);
}
