/*
 * test_server_limits.c - the server's search limits and its readiness
 * about the store, over real HTTP on 127.0.0.1 (src/server/routes_*.c,
 * qdrant_search.c, routes_ops.c):
 *
 *   search_limits      top_k / limit and ef / hnsw_ef past their limits get
 *                      400 naming the limit on every search route (AkiDB's
 *                      /search and /query, Qdrant's /points/search,
 *                      /points/query and their batches)
 *   search_budget      a server started with a small search budget answers
 *                      an exact search over more points 400 naming the
 *                      budget (both APIs), and still answers one that fits
 *   ready_snapshot     /ready is 503 "snapshot_failing" with the reason
 *                      while the store's background snapshot fails (an
 *                      injected ENOSPC), and 200 again once one succeeds
 *   store_options      the server's sealed-segment settings (akidb serve
 *                      --seal-points, --seal-bytes, --compact-*) reach the
 *                      store: with seal_points 50, points written over HTTP
 *                      are sealed into segments at a snapshot
 */
#include "akt.h"
#include "akidb.h"
#include "akidb_store.h"
#include "common/common.h"
#include "common/fileio.h"
#include "server/internal.h"
#include "server/server.h"
#include "server/srvtest.h"
#include "server/srvbare.h"
#include "store/store_int.h"

#include <errno.h>
#include <time.h>

typedef st_srv srv;

static void (*srv_adjust)(ak_server_config *c);   /* more settings, or NULL */

static bool srv_up(srv *f, size_t budget)
{
    ak_server_config c;
    st_srv_config(&c);
    c.search_budget = budget;
    if (srv_adjust)
        srv_adjust(&c);
    return st_srv_start(f, "limits", NULL, &c);
}

static void srv_down(srv *f) { st_srv_down(f); }

/* One request; checks the status and that the body says `says`. */
static void expect(const srv *f, const char *method, const char *path, const char *body,
                   long status, const char *says)
{
    st_resp r = st_http(f->port, method, path, NULL, body, -1);
    if (r.status != status || (says && (!r.body || !strstr(r.body, says))))
        fprintf(stderr, "  %s %s %s -> %ld %s\n", method, path, body ? body : "", r.status,
                r.body ? r.body : "");
    AKT_EQ_INT(r.status, status);
    if (says)
        AKT_CONTAINS(r.body ? r.body : "", says);
    st_resp_free(&r);
}

/* Collections "a" (AkiDB) and "q" (Qdrant) of dimension 2 with n points. */
static void fill(const srv *f, size_t n)
{
    expect(f, "POST", "/api/v1/collections", "{\"name\":\"a\",\"dimension\":2,\"metric\":\"l2\"}",
           201, NULL);
    expect(f, "PUT", "/collections/q", "{\"vectors\":{\"size\":2,\"distance\":\"Euclid\"}}", 200,
           NULL);
    size_t cap = n * 64 + 64;
    char *a = malloc(cap), *q = malloc(cap);
    size_t la = (size_t)snprintf(a, cap, "{\"points\":["), lq = (size_t)snprintf(q, cap, "{\"points\":[");
    for (size_t i = 0; i < n; i++) {
        la += (size_t)snprintf(a + la, cap - la, "%s{\"id\":\"p%zu\",\"vector\":[%zu,%zu]}",
                               i ? "," : "", i, i % 37, i % 11);
        lq += (size_t)snprintf(q + lq, cap - lq, "%s{\"id\":%zu,\"vector\":[%zu,%zu]}",
                               i ? "," : "", i + 1, i % 37, i % 11);
    }
    snprintf(a + la, cap - la, "]}");
    snprintf(q + lq, cap - lq, "]}");
    expect(f, "POST", "/api/v1/collections/a/points", a, 200, NULL);
    expect(f, "PUT", "/collections/q/points?wait=true", q, 200, NULL);
    free(a);
    free(q);
}

AKT_TEST(search_limits)
{
    srv f;
    AKT_TRUE(srv_up(&f, 0));
    fill(&f, 20);
    const char *as = "/api/v1/collections/a/search", *aq = "/api/v1/collections/a/query";
    expect(&f, "POST", as, "{\"vector\":[1,2],\"top_k\":10001}", 400, "from 1 to 10000");
    expect(&f, "POST", as, "{\"vector\":[1,2],\"ef\":10001}", 400, "must be an integer from 1 to 10000");
    expect(&f, "POST", as, "{\"vector\":[1,2],\"top_k\":10000,\"ef\":10000}", 200, "\"p0\"");
    expect(&f, "POST", aq, "{\"query_vector\":[1,2],\"top_k\":10001}", 400, "from 1 to 10000");
    expect(&f, "POST", aq, "{\"query_vector\":[1,2],\"ef\":10001}", 400, "from 1 to 10000");
    const char *qs = "/collections/q/points/search", *qq = "/collections/q/points/query";
    expect(&f, "POST", qs, "{\"vector\":[1,2],\"limit\":10001}", 400, "from 1 to 10000");
    expect(&f, "POST", qs, "{\"vector\":[1,2],\"params\":{\"hnsw_ef\":10001}}", 400,
           "hnsw_ef\\\" must be an integer from 1 to 10000");
    expect(&f, "POST", qs, "{\"vector\":[1,2],\"limit\":9000,\"offset\":1001}", 400,
           "offset + limit must be at most 10000");
    expect(&f, "POST", qq, "{\"query\":[1,2],\"limit\":10001}", 400, "from 1 to 10000");
    expect(&f, "POST", qq, "{\"query\":[1,2],\"params\":{\"hnsw_ef\":20000}}", 400,
           "from 1 to 10000");
    expect(&f, "POST", "/collections/q/points/search/batch",
           "{\"searches\":[{\"vector\":[1,2],\"limit\":10001}]}", 400, "from 1 to 10000");
    expect(&f, "POST", "/collections/q/points/query/batch",
           "{\"searches\":[{\"query\":[1,2],\"params\":{\"hnsw_ef\":10001}}]}", 400,
           "from 1 to 10000");
    expect(&f, "POST", qq, "{\"query\":[1,2],\"limit\":3,\"params\":{\"hnsw_ef\":10000}}", 200,
           "\"points\"");
    srv_down(&f);
}

AKT_TEST(search_budget)
{
    srv f;
    AKT_TRUE(srv_up(&f, 1000));
    fill(&f, 1500);
    expect(&f, "POST", "/api/v1/collections/a/search", "{\"vector\":[1,2],\"exact\":true}", 400,
           "search budget of 1000 points");
    expect(&f, "POST", "/collections/q/points/search",
           "{\"vector\":[1,2],\"params\":{\"exact\":true}}", 400,
           "search budget of 1000 points");
    /* an HNSW search of a few points fits */
    expect(&f, "POST", "/api/v1/collections/a/search", "{\"vector\":[1,2],\"top_k\":3,\"ef\":16}",
           200, "\"hits\"");
    srv_down(&f);
}

/* ---- /ready while the background snapshot fails ---------------------------------- */

static void fail_hook(akidb_store *s, const char *stage)
{
    (void)s;
    if (strcmp(stage, "rotated") == 0)
        ak_io_fail_after(0, ENOSPC);   /* the disk is full from here on */
}

/* Writes points until the store's snapshot thread has finished `want`
 * snapshots (false after 30 s). */
static bool write_until_snapshots(const srv *f, akidb_store *st, uint64_t want, int *next)
{
    double until = ak_now() + 30;
    akidb_store_stats ss;
    akidb_store_get_stats(st, &ss);
    while (ss.snapshots_background < want && ak_now() < until) {
        if (!ss.snapshot_running) {
            char body[2048];
            size_t n = (size_t)snprintf(body, sizeof body, "{\"points\":[");
            for (int i = 0; i < 20; i++, (*next)++)
                n += (size_t)snprintf(body + n, sizeof body - n,
                                      "%s{\"id\":\"w%d\",\"vector\":[%d,1]}", i ? "," : "",
                                      *next, *next % 100);
            snprintf(body + n, sizeof body - n, "]}");
            st_resp r = st_http(f->port, "POST", "/api/v1/collections/a/points", NULL, body, -1);
            st_resp_free(&r);
        }
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
        akidb_store_get_stats(st, &ss);
    }
    return ss.snapshots_background >= want;
}

AKT_TEST(ready_snapshot)
{
    srv f;
    AKT_TRUE(srv_up(&f, 0));
    fill(&f, 5);
    akidb_store *st = f.s->store;
    st->opts.snapshot_wal_bytes = 16u << 10;
    expect(&f, "GET", "/ready", NULL, 200, "\"ready\"");
    ak_store_snapshot_hook = fail_hook;
    int next = 0;
    AKT_TRUE(write_until_snapshots(&f, st, 1, &next));
    ak_io_fail_after(-1, 0);
    ak_store_snapshot_hook = NULL;
    st_resp r = st_http(f.port, "GET", "/ready", NULL, NULL, -1);
    AKT_EQ_INT(r.status, 503);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "status")), "snapshot_failing");
    const char *msg = json_string_value(json_object_get(r.json, "message"));
    AKT_CONTAINS(msg ? msg : "", "ENOSPC");
    AKT_CONTAINS(msg ? msg : "", f.data);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "snapshots_failed")), 1);
    AKT_EQ_INT(atoi(r.retry_after), 5);
    st_resp_free(&r);
    /* reads and writes go on meanwhile */
    expect(&f, "POST", "/api/v1/collections/a/search", "{\"vector\":[1,2],\"top_k\":2}", 200,
           "\"hits\"");
    /* after the back-off (1 s) the next crossing retries, and succeeds */
    struct timespec ts = { 1, 200 * 1000000L };
    nanosleep(&ts, NULL);
    AKT_TRUE(write_until_snapshots(&f, st, 2, &next));
    akidb_store_stats ss;
    akidb_store_get_stats(st, &ss);
    AKT_EQ_INT(ss.snapshot_status, AKIDB_OK);
    expect(&f, "GET", "/ready", NULL, 200, "\"ready\"");
    srv_down(&f);
}

/* ---- the store's segment settings ---------------------------------------------- */

static void seal_small(ak_server_config *c)
{
    c->seal_points = 50;
    c->seal_bytes = 1u << 20;
    c->compact_max_segments = 100;
    c->compact_tomb_share = 0.9;
}

AKT_TEST(store_options)
{
    srv f;
    srv_adjust = seal_small;
    bool up = srv_up(&f, 0);
    srv_adjust = NULL;
    AKT_TRUE(up);
    akidb_store *st = f.s->store;
    AKT_EQ_INT(st->opts.seal_points, 50);
    AKT_EQ_INT(st->opts.seal_bytes, 1u << 20);
    AKT_EQ_INT(st->opts.compact_max_segments, 100);
    AKT_NEAR(st->opts.compact_tomb_share, 0.9, 1e-12);
    fill(&f, 120);   /* 120 points in each of two collections */
    AKT_OK(akidb_store_snapshot(st));
    akidb_store_stats ss;
    akidb_store_get_stats(st, &ss);
    AKT_GE(ss.segments, 2);
    expect(&f, "POST", "/api/v1/collections/a/search", "{\"vector\":[1,2],\"top_k\":2}", 200,
           "\"hits\"");
    srv_down(&f);
}

AKT_MAIN(AKT_REG(search_limits), AKT_REG(search_budget), AKT_REG(ready_snapshot),
         AKT_REG(store_options))
