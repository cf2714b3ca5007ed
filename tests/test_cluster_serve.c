/*
 * test_cluster_serve.c - `akidb serve --cluster` end to end: akidb servers
 * started in-process (ak_server_start with the cluster fields of
 * ak_server_config) on nats-server -js processes (tests/natsrun.h), driven
 * over real HTTP with the vector routes (no embedding model):
 *
 *   two_full       2 nodes holding both of 2 shards: writes through one
 *                  node are read and searched on the other, deletes the
 *                  other way; bad input is a 400 and appends nothing
 *                  and a node's applied numbers reach the others with its
 *                  heartbeats
 *   wrong_settings a node started with other shard or replica counts than
 *                  the cluster's is refused before any stream is made
 *   trimmed        streams with --log-max-age: once the records aged out, a
 *                  node on an empty folder answers /ready 503 trimmed
 *   three_partial  3 nodes, 3 shards, one shard each: a search on any node
 *                  equals an exact search of one local store holding the
 *                  same points (ids and scores); get by id answers every
 *                  id from any node, in request order; scroll / count
 *                  answer 409 naming the held shards; a stopped node's shard is
 *                  searched on another holder, and with none left searches
 *                  fail with a 503 naming it
 *   auth_fanout    with API keys: a search sent on carries the caller's
 *                  key; the internal route refuses a request without one
 *   trio_kill      3 clustered nats-servers, shards of 3 replicas, one
 *                  server SIGKILLed during ingest: every acknowledged point
 *                  is found afterwards on every node
 *
 * Exits 77 (skipped) without nats-server.
 */
#include "common/common.h"
#include "natsrun.h"
#include "server/srvtest.h"

#include "akidb_store.h"
#include "server/server.h"
#include "cluster/jlog.h"

#include <math.h>
#include <pthread.h>

/* ---- akidb nodes ----------------------------------------------------------- */

typedef struct node {
    ak_server *s;
    char *dir;
    int port;
    char id[16];
    const char *key;   /* sent with every request (NULL: none) */
} node;

static const char *g_admin_key;   /* AKIDB_ADMIN_KEY of the nodes started next */

/* The configuration of a node of cluster name on nats (n->dir set). */
static ak_server_config node_config(node *n, const char *nats, const char *name, unsigned shards,
                                    unsigned replicas, const char *hold)
{
    ak_server_config c;
    ak_server_config_defaults(&c);
    c.data_dir = n->dir;
    c.port = 0;
    c.auth = g_admin_key ? 1 : 0;
    c.admin_key = g_admin_key;
    n->key = g_admin_key;
    c.scan_models_dir = 0;
    c.sync_none = 1;
    c.handler_threads = 8;
    c.drain_timeout_s = 2;
    c.cluster = nats;
    c.cluster_name = name;
    c.cluster_shards = shards;
    c.cluster_replicas = replicas;
    c.node_id = n->id;
    c.hold_shards = hold;
    return c;
}

/* Starts an akidb node of cluster name on nats with shards and hold. */
static bool node_up(node *n, const char *nats, const char *name, const char *id, unsigned shards,
                    unsigned replicas, const char *hold)
{
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", id);
    n->dir = st_tmpdir("cl");
    ak_server_config c = node_config(n, nats, name, shards, replicas, hold);
    /* a nats-server cluster that just elected its meta leader may not place
     * streams of 3 replicas yet ("no suitable peers"): tried again */
    akidb_status st;
    for (double until = ak_now() + 20;; usleep(500 * 1000)) {
        st = ak_server_start(&c, &n->s);
        if (st == AKIDB_OK || ak_now() > until)
            break;
        fprintf(stderr, "  node %s: %s (trying again)\n", id, akidb_last_error());
    }
    if (st != AKIDB_OK)
        return false;
    n->port = ak_server_port(n->s);
    for (double until = ak_now() + 20; ak_now() < until;) {
        st_resp r = st_http(n->port, "GET", "/ready", NULL, NULL, 0);
        long status = r.status;
        st_resp_free(&r);
        if (status == 200)
            return true;
        usleep(50 * 1000);
    }
    fprintf(stderr, "  node %s: not ready in 20 s\n", id);
    return false;
}

static void node_down(node *n)
{
    if (n->s)
        ak_server_stop(n->s);
    n->s = NULL;
    st_rmtree(n->dir);
    n->dir = NULL;
}

static st_resp req(node *n, const char *m, const char *path, const char *body)
{
    return st_http(n->port, m, path, n->key, body, -1);
}

/* The status of one request (the body is printed when it is not want). */
static long status_of(node *n, const char *m, const char *path, const char *body, long want)
{
    st_resp r = req(n, m, path, body);
    long s = r.status;
    if (s != want)
        fprintf(stderr, "  %s %s on %s: %ld %s\n", m, path, n->id, s, r.body ? r.body : "");
    st_resp_free(&r);
    return s;
}

/* Sum over the shards of cluster name's write log of their last sequence
 * numbers, as the nats-server reports them. */
static long long log_total(const char *nats, const char *name, unsigned shards)
{
    ak_jlog_opts o = {.servers = nats, .name = name, .shards = shards, .replicas = 1};
    ak_jlog *l = NULL;
    if (ak_jlog_open(&o, &l) != AKIDB_OK)
        return -1;
    long long total = 0;
    for (unsigned k = 0; k < shards && total >= 0; k++) {
        uint64_t first, last;
        if (ak_jlog_bounds(l, k, &first, &last) == AKIDB_OK)
            total += (long long)last;
        else
            total = -1;
    }
    ak_jlog_close(l);
    return total;
}

/* ---- points ---------------------------------------------------------------- */

#define DIM 8

static void point_vec(unsigned i, float *v)
{
    uint32_t x = i * 2654435761u + 12345u;
    for (int d = 0; d < DIM; d++) {
        x = x * 1664525u + 1013904223u;
        v[d] = (float)((double)(x >> 8) / (double)(1u << 24) * 2.0 - 1.0);
    }
}

/* An upsert body of points first .. first+n-1 ("p<i>", payload {"i":i}). */
static char *upsert_body(unsigned first, unsigned n)
{
    json_t *pts = json_array();
    for (unsigned i = first; i < first + n; i++) {
        float v[DIM];
        point_vec(i, v);
        json_t *vj = json_array();
        for (int d = 0; d < DIM; d++)
            json_array_append_new(vj, json_real(v[d]));
        char id[16];
        snprintf(id, sizeof id, "p%u", i);
        json_array_append_new(pts, json_pack("{s:s,s:o,s:{s:i}}", "id", id, "vector", vj,
                                             "payload", "i", (int)i));
    }
    json_t *b = json_pack("{s:o}", "points", pts);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static char *search_body(const float *q, size_t top_k)
{
    json_t *vj = json_array();
    for (int d = 0; d < DIM; d++)
        json_array_append_new(vj, json_real(q[d]));
    json_t *b = json_pack("{s:o,s:I,s:b}", "vector", vj, "top_k", (json_int_t)top_k, "exact", 1);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static long long count_on(node *n, const char *coll)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/collections/%s/count", coll);
    st_resp r = req(n, "GET", path, NULL);
    long long c = r.status == 200 ? json_integer_value(json_object_get(r.json, "count")) : -1;
    st_resp_free(&r);
    return c;
}

/* Waits up to 10 s until node n counts want points in coll. */
static long long wait_count(node *n, const char *coll, long long want)
{
    long long c = -1;
    for (double until = ak_now() + 10; ak_now() < until; usleep(30 * 1000))
        if ((c = count_on(n, coll)) == want)
            break;
    return c;
}

/* ---- the cases ------------------------------------------------------------- */

static char g_nats[64];

AKT_TEST(two_full)
{
    node a, b;
    AKT_TRUE(node_up(&a, g_nats, "tfull", "na", 2, 1, "all"));
    AKT_TRUE(node_up(&b, g_nats, "tfull", "nb", 2, 1, NULL));
    AKT_EQ_INT(status_of(&a, "POST", "/api/v1/collections",
                         "{\"name\":\"c\",\"dimension\":8,\"metric\":\"l2\"}", 201),
               201);
    char *body = upsert_body(0, 40);
    AKT_EQ_INT(status_of(&a, "POST", "/api/v1/collections/c/points", body, 200), 200);
    free(body);
    /* the writer reads its own writes at once */
    AKT_EQ_INT(count_on(&a, "c"), 40);
    /* the other node once its replicas applied them */
    AKT_EQ_INT(wait_count(&b, "c", 40), 40);
    st_resp r = req(&b, "GET", "/api/v1/collections/c/points/p7", NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "payload"), "i")), 7);
    st_resp_free(&r);
    /* the same search on both nodes */
    float q[DIM];
    point_vec(1000, q);
    char *sb = search_body(q, 5);
    st_resp ra = req(&a, "POST", "/api/v1/collections/c/search", sb);
    st_resp rb = req(&b, "POST", "/api/v1/collections/c/search", sb);
    free(sb);
    AKT_EQ_INT(ra.status, 200);
    AKT_EQ_INT(rb.status, 200);
    json_t *ha = json_object_get(ra.json, "hits"), *hb = json_object_get(rb.json, "hits");
    AKT_EQ_INT(json_array_size(ha), 5);
    AKT_EQ_INT(json_array_size(hb), 5);
    for (size_t i = 0; i < 5; i++)
        AKT_EQ_STR(json_string_value(json_object_get(json_array_get(ha, i), "id")),
                   json_string_value(json_object_get(json_array_get(hb, i), "id")));
    st_resp_free(&ra);
    st_resp_free(&rb);
    /* the collection exists on b too */
    AKT_EQ_INT(status_of(&b, "POST", "/api/v1/collections",
                         "{\"name\":\"c\",\"dimension\":8,\"metric\":\"l2\"}", 409),
               409);
    /* delete through b, visible on a */
    AKT_EQ_INT(status_of(&b, "POST", "/api/v1/collections/c/points/delete",
                         "{\"ids\":[\"p1\",\"p2\",\"p3\"]}", 200),
               200);
    AKT_EQ_INT(count_on(&b, "c"), 37);
    AKT_EQ_INT(wait_count(&a, "c", 37), 37);
    AKT_EQ_INT(status_of(&a, "GET", "/api/v1/collections/c/points/p2", NULL, 404), 404);

    /* bad input: a 400 as on one node, and nothing appended */
    long long before = log_total(g_nats, "tfull", 2);
    AKT_TRUE(before > 0);
    AKT_EQ_INT(status_of(&a, "POST", "/api/v1/collections/c/points",
                         "{\"points\":[{\"id\":\"x\",\"vector\":[1,2,3]}]}", 400),
               400);
    r = req(&a, "POST", "/api/v1/collections/c/points",
            "{\"points\":[{\"id\":\"x\",\"vector\":[1,2,3,4,5,6,7,8]},"
            "{\"id\":\"x\",\"vector\":[1,2,3,4,5,6,7,9]}]}");
    AKT_EQ_INT(r.status, 400);
    AKT_CONTAINS(r.body, "twice");
    st_resp_free(&r);
    AKT_EQ_INT(status_of(&b, "POST", "/api/v1/collections/nope/points",
                         "{\"points\":[{\"id\":\"x\",\"vector\":[1,2,3,4,5,6,7,8]}]}", 404),
               404);
    AKT_EQ_INT(status_of(&b, "POST", "/api/v1/collections/c/points/delete",
                         "{\"ids\":[\"p9\"]}", 200),
               200);   /* a good write after the bad ones: exactly one more record */
    AKT_EQ_INT(log_total(g_nats, "tfull", 2), before + 1);
    AKT_EQ_INT(wait_count(&a, "c", 36), 36);

    /* a's applied numbers reach b with a's heartbeats (every 10/3 s), with
     * no read of a's status */
    long long total = log_total(g_nats, "tfull", 2), seen = -1;
    for (double until = ak_now() + 10; ak_now() < until && seen != total; usleep(100 * 1000)) {
        r = req(&b, "GET", "/cluster/v1/status", NULL);
        json_t *mem = json_object_get(r.json, "members");
        for (size_t i = 0; i < json_array_size(mem); i++) {
            json_t *m = json_array_get(mem, i);
            if (strcmp(json_string_value(json_object_get(m, "id")), "na") != 0)
                continue;
            json_t *ap = json_object_get(m, "applied");
            seen = 0;
            for (size_t j = 0; j < json_array_size(ap); j++)
                seen += json_integer_value(json_array_get(ap, j));
        }
        st_resp_free(&r);
    }
    AKT_EQ_INT(seen, total);

    /* the status route */
    r = req(&b, "GET", "/cluster/v1/status", NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "node")), "nb");
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "held")), 2);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "members")), 2);
    st_resp_free(&r);
    node_down(&b);
    node_down(&a);
}

/* 1 when shard k of cluster name's write log has a stream. */
static int stream_exists(const char *nats, const char *name, unsigned k)
{
    ak_jlog_opts o = {.servers = nats, .name = name, .shards = k + 1, .replicas = 1,
                      .timeout_s = 3};
    ak_jlog *l = NULL;
    akidb_status st = ak_jlog_open(&o, &l);
    ak_jlog_close(l);
    if (st == AKIDB_OK)
        return 1;
    return st == AKIDB_ENOENT && strstr(akidb_last_error(), "does not exist") ? 0 : -1;
}

/* A node started with other settings than the cluster's is refused by the
 * membership's config check before the write log made any stream. */
AKT_TEST(wrong_settings)
{
    node a;
    AKT_TRUE(node_up(&a, g_nats, "twrong", "wa", 2, 1, "all"));
    AKT_EQ_INT(stream_exists(g_nats, "twrong", 1), 1);
    AKT_EQ_INT(stream_exists(g_nats, "twrong", 2), 0);
    node b = {0};
    snprintf(b.id, sizeof b.id, "wb");
    b.dir = st_tmpdir("cl");
    ak_server_config c = node_config(&b, g_nats, "twrong", 4, 1, "all");
    AKT_EQ_INT(ak_server_start(&c, &b.s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "2 shards");
    AKT_CONTAINS(akidb_last_error(), "4 shards");
    AKT_TRUE(b.s == NULL);
    AKT_EQ_INT(stream_exists(g_nats, "twrong", 2), 0);
    AKT_EQ_INT(stream_exists(g_nats, "twrong", 3), 0);
    /* the replica count is checked the same way */
    c = node_config(&b, g_nats, "twrong", 2, 3, "all");
    AKT_EQ_INT(ak_server_start(&c, &b.s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "3 replicas");
    /* the refused nodes left no member behind: a still answers alone */
    st_resp r = req(&a, "GET", "/cluster/v1/status", NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "members")), 1);
    st_resp_free(&r);
    node_down(&b);
    node_down(&a);
}

/* Streams with a maximum age: records older than it are dropped; a node
 * that starts empty afterwards cannot catch up from the log and says so on
 * /ready (503 trimmed, naming the shard), while the node that applied
 * everything stays ready. */
AKT_TEST(trimmed)
{
    node a = {0}, c = {0};
    snprintf(a.id, sizeof a.id, "ta");
    a.dir = st_tmpdir("cl");
    ak_server_config ca = node_config(&a, g_nats, "ttrim", 2, 1, "all");
    ca.cluster_log_max_age_s = 1;
    AKT_OK(ak_server_start(&ca, &a.s));
    a.port = ak_server_port(a.s);
    AKT_EQ_INT(status_of(&a, "POST", "/api/v1/collections",
                         "{\"name\":\"c\",\"dimension\":8,\"metric\":\"l2\"}", 201),
               201);
    char *body = upsert_body(0, 20);
    AKT_EQ_INT(status_of(&a, "POST", "/api/v1/collections/c/points", body, 200), 200);
    free(body);
    AKT_EQ_INT(count_on(&a, "c"), 20);
    /* the records age out of both streams */
    ak_jlog_opts o = {.servers = g_nats, .name = "ttrim", .shards = 2, .replicas = 1};
    ak_jlog *l = NULL;
    AKT_OK(ak_jlog_open(&o, &l));
    uint64_t first[2] = {0, 0}, last[2] = {0, 0};
    for (double until = ak_now() + 10; ak_now() < until; usleep(100 * 1000)) {
        AKT_OK(ak_jlog_bounds(l, 0, &first[0], &last[0]));
        AKT_OK(ak_jlog_bounds(l, 1, &first[1], &last[1]));
        if (first[0] > last[0] && first[1] > last[1])
            break;
    }
    ak_jlog_close(l);
    AKT_TRUE(last[0] > 0 && first[0] == last[0] + 1);
    AKT_TRUE(last[1] > 0 && first[1] == last[1] + 1);
    /* a node on an empty folder: 503 trimmed, naming a shard */
    snprintf(c.id, sizeof c.id, "tc");
    c.dir = st_tmpdir("cl");
    ak_server_config cc = node_config(&c, g_nats, "ttrim", 2, 1, "all");
    AKT_OK(ak_server_start(&cc, &c.s));
    c.port = ak_server_port(c.s);
    st_resp r = {0};
    for (double until = ak_now() + 10; ak_now() < until; usleep(50 * 1000)) {
        st_resp_free(&r);
        r = st_http(c.port, "GET", "/ready", NULL, NULL, 0);
        if (r.status == 503 && strcmp(json_string_value(json_object_get(r.json, "status")),
                                      "trimmed") == 0)
            break;
    }
    AKT_EQ_INT(r.status, 503);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "status")), "trimmed");
    AKT_CONTAINS(json_string_value(json_object_get(r.json, "message")), "shard ");
    AKT_CONTAINS(json_string_value(json_object_get(r.json, "message")), "trimmed");
    st_resp_free(&r);
    /* a, which applied everything, stays ready */
    r = st_http(a.port, "GET", "/ready", NULL, NULL, 0);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    node_down(&c);
    node_down(&a);
}

/* An exact search of one local store holding points 0..n-1. */
static void reference(const char *dir, unsigned n, const float *q, size_t k, akidb_points *out)
{
    akidb_store *st;
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.sync = AKIDB_SYNC_NONE;
    AKT_OK(akidb_store_open(dir, &o, &st));
    AKT_OK(akidb_tenant_create(st, "default"));
    akidb_collection_opts co = {.dim = DIM, .metric = AKIDB_METRIC_L2};
    AKT_OK(akidb_collection_create(st, "default", "c", &co));
    float *v = malloc(n * DIM * sizeof *v);
    char (*ids)[16] = malloc(n * sizeof *ids);
    akidb_point_in *in = calloc(n, sizeof *in);
    for (unsigned i = 0; i < n; i++) {
        point_vec(i, v + i * DIM);
        snprintf(ids[i], sizeof ids[i], "p%u", i);
        in[i].id = ids[i];
        in[i].vector = v + i * DIM;
    }
    AKT_OK(akidb_points_upsert(st, "default", "c", in, NULL, n));
    akidb_search_req sr = {.vector = q, .dim = DIM, .top_k = k, .exact = true};
    AKT_OK(akidb_search(st, "default", "c", &sr, out));
    akidb_store_close(st);
    free(v);
    free(ids);
    free(in);
}

/* 1 when node n's search for q gives ref's ids and scores. */
static bool same_hits(node *n, const float *q, const akidb_points *ref, bool verbose)
{
    char *sb = search_body(q, ref->n);
    st_resp r = req(n, "POST", "/api/v1/collections/c/search", sb);
    free(sb);
    json_t *h = json_object_get(r.json, "hits");
    bool ok = r.status == 200 && json_array_size(h) == ref->n;
    for (size_t i = 0; ok && i < ref->n; i++) {
        json_t *e = json_array_get(h, i);
        double s = json_number_value(json_object_get(e, "score"));
        ok = strcmp(json_string_value(json_object_get(e, "id")), ref->items[i].id) == 0 &&
             fabs(s - ref->items[i].score) <= 1e-5 * (1 + fabs(s));
    }
    if (!ok && verbose)
        fprintf(stderr, "  search on %s: %ld %s\n", n->id, r.status, r.body ? r.body : "");
    st_resp_free(&r);
    return ok;
}

AKT_TEST(three_partial)
{
    node n[3];
    const char *hold[3] = {"0", "1", "2"};
    char id[8];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "n%d", i);
        AKT_TRUE(node_up(&n[i], g_nats, "tpart", id, 3, 1, hold[i]));
    }
    AKT_EQ_INT(status_of(&n[0], "POST", "/api/v1/collections",
                         "{\"name\":\"c\",\"dimension\":8,\"metric\":\"l2\"}", 201),
               201);
    /* the collection reached every node (creates go to every shard) */
    for (double until = ak_now() + 10; ak_now() < until; usleep(30 * 1000)) {
        st_resp r = req(&n[1], "GET", "/api/v1/collections/c", NULL);
        long s = r.status;
        st_resp_free(&r);
        if (s == 200)
            break;
    }
    enum { N = 90 };
    char *body = upsert_body(0, N);
    AKT_EQ_INT(status_of(&n[1], "POST", "/api/v1/collections/c/points", body, 200), 200);
    free(body);

    char *rdir = st_tmpdir("clref");
    float q[DIM];
    point_vec(777, q);
    akidb_points ref = {0};
    reference(rdir, N, q, 10, &ref);
    AKT_EQ_INT(ref.n, 10);
    /* every node answers as the single store, once the others applied */
    for (int i = 0; i < 3; i++) {
        bool ok = false;
        for (double until = ak_now() + 10; !ok && ak_now() < until; usleep(50 * 1000))
            ok = same_hits(&n[i], q, &ref, false);
        AKT_TRUE(same_hits(&n[i], q, &ref, true));
    }
    /* a node answers /cluster/v1/search from its own shard alone */
    st_resp r = req(&n[0], "POST", "/cluster/v1/search",
                    "{\"tenant\":\"default\",\"collection\":\"c\",\"vector\":[0,0,0,0,0,0,0,0],"
                    "\"top_k\":100,\"exact\":true}");
    AKT_EQ_INT(r.status, 200);
    size_t own = json_array_size(json_object_get(r.json, "hits"));
    AKT_TRUE(own > 0 && own < N);
    st_resp_free(&r);
    /* another tenant's search is refused */
    AKT_EQ_INT(status_of(&n[0], "POST", "/cluster/v1/search",
                         "{\"tenant\":\"other\",\"collection\":\"c\",\"vector\":[0,0,0,0,0,0,0,1],"
                         "\"top_k\":1}",
                         403),
               403);
    /* get by id on any node: the ids of other shards come from their
     * holders, in the order asked, missing ids left out */
    for (int i = 0; i < 3; i++) {
        for (unsigned p = 0; p < 6; p++) {
            char path[64];
            snprintf(path, sizeof path, "/api/v1/collections/c/points/p%u", p);
            r = req(&n[i], "GET", path, NULL);
            AKT_EQ_INT(r.status, 200);
            AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "payload"),
                                                          "i")),
                       p);
            st_resp_free(&r);
        }
        r = req(&n[i], "POST", "/api/v1/collections/c/points/get",
                "{\"ids\":[\"p7\",\"p3\",\"nope\",\"p88\",\"p0\",\"p3\",\"p41\"]}");
        AKT_EQ_INT(r.status, 200);
        json_t *pts = json_object_get(r.json, "points");
        const char *want[] = {"p7", "p3", "p88", "p0", "p41"};
        AKT_EQ_INT(json_array_size(pts), 5);
        for (size_t k = 0; k < 5 && k < json_array_size(pts); k++)
            AKT_EQ_STR(json_string_value(json_object_get(json_array_get(pts, k), "id")),
                       want[k]);
        st_resp_free(&r);
        AKT_EQ_INT(status_of(&n[i], "GET", "/api/v1/collections/c/points/nope", NULL, 404),
                   404);
    }
    /* the internal get answers from the node's own shard alone */
    r = req(&n[0], "POST", "/cluster/v1/get",
            "{\"tenant\":\"default\",\"collection\":\"c\",\"ids\":[\"p0\",\"p1\",\"p2\","
            "\"p3\",\"p4\",\"p5\",\"p6\",\"p7\"],\"with\":0}");
    AKT_EQ_INT(r.status, 200);
    own = json_array_size(json_object_get(r.json, "hits"));
    AKT_TRUE(own < 8);
    st_resp_free(&r);
    AKT_EQ_INT(status_of(&n[0], "POST", "/cluster/v1/get",
                         "{\"tenant\":\"default\",\"collection\":\"c\",\"ids\":[]}", 400),
               400);
    /* scroll / count: 409 naming the shards held */
    r = req(&n[2], "POST", "/api/v1/collections/c/count", "{}");
    AKT_EQ_INT(r.status, 409);
    AKT_EQ_STR(st_err_code(&r), "partial_node");
    AKT_CONTAINS(r.body, "holds shards 2 of 3");
    st_resp_free(&r);
    AKT_EQ_INT(status_of(&n[0], "GET", "/api/v1/collections/c/count", NULL, 409), 409);
    AKT_EQ_INT(status_of(&n[1], "POST", "/api/v1/collections/c/scroll", "{}", 409), 409);

    /* a second holder of shard 2 (ready once it applied the shard's log)
     * answers for it when node 2 stops */
    node extra;
    AKT_TRUE(node_up(&extra, g_nats, "tpart", "n3", 3, 1, "2"));
    node_down(&n[2]);
    for (int i = 0; i < 2; i++)
        AKT_TRUE(same_hits(&n[i], q, &ref, true));
    /* and when it stops too, searches fail with a 503 naming shard 2 */
    node_down(&extra);
    char *sb = search_body(q, 10);
    r = req(&n[0], "POST", "/api/v1/collections/c/search", sb);
    AKT_EQ_INT(r.status, 503);
    AKT_CONTAINS(r.body, "shard 2");
    st_resp_free(&r);
    free(sb);
    akidb_points_free(&ref);
    st_rmtree(rdir);
    node_down(&n[1]);
    node_down(&n[0]);
}

/* How many of ids[0..n) node nd finds in collection c. */
static size_t found_on(node *nd, char (*ids)[16], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(ids[i]));
    json_t *b = json_pack("{s:o}", "ids", a);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    st_resp r = req(nd, "POST", "/api/v1/collections/c/points/get", body);
    free(body);
    size_t got = r.status == 200 ? json_array_size(json_object_get(r.json, "points")) : 0;
    st_resp_free(&r);
    return got;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct killer {
    int victim;
    double after_s;
} killer;

static void *killer_main(void *arg)
{
    killer *k = arg;
    usleep((useconds_t)(k->after_s * 1e6));
    nsrv_stop(&trio[k->victim], SIGKILL);
    return NULL;
}

AKT_TEST(trio_kill)
{
    char all[256];
    AKT_TRUE(trio_up(all, sizeof all));
    for (int i = 0; i < 3; i++)
        AKT_TRUE(meta_ready(trio[i].url, 20));
    /* until the servers place a stream of 3 replicas (short tries) */
    ak_jlog_opts wo = {.servers = all, .name = "warm", .shards = 1, .replicas = 3,
                       .timeout_s = 2, .create = 1};
    ak_jlog *warm = NULL;
    for (double until = ak_now() + 30; !warm && ak_now() < until;)
        if (ak_jlog_open(&wo, &warm) != AKIDB_OK)
            usleep(200 * 1000);
    AKT_TRUE(warm != NULL);
    ak_jlog_close(warm);
    node a, b;
    AKT_TRUE(node_up(&a, all, "tkill", "ka", 2, 3, "all"));
    AKT_TRUE(node_up(&b, all, "tkill", "kb", 2, 3, "all"));
    AKT_EQ_INT(status_of(&a, "POST", "/api/v1/collections",
                         "{\"name\":\"c\",\"dimension\":8,\"metric\":\"l2\"}", 201),
               201);
    enum { BATCHES = 16, PER = 10 };
    static char acked[BATCHES * PER][16];
    size_t n_acked = 0;
    killer k = {trio_index("n0"), 0.1};
    pthread_t t;
    double t0 = ak_now();
    AKT_EQ_INT(pthread_create(&t, NULL, killer_main, &k), 0);
    for (unsigned i = 0; i < BATCHES; i++) {
        char *body = upsert_body(i * PER, PER);
        double tb = ak_now();
        st_resp r = req(&a, "POST", "/api/v1/collections/c/points", body);
        if (ak_now() - tb > 1)
            fprintf(stderr, "  batch %u took %.1f s\n", i, ak_now() - tb);
        free(body);
        if (r.status == 200)
            for (unsigned j = 0; j < PER; j++)
                snprintf(acked[n_acked++], 16, "p%u", i * PER + j);
        else
            fprintf(stderr, "  batch %u not acknowledged: %ld %s\n", i, r.status,
                    r.body ? r.body : "");
        st_resp_free(&r);
    }
    pthread_join(t, NULL);
    fprintf(stderr, "  %zu of %d points acknowledged in %.1f s\n", n_acked, BATCHES * PER,
            ak_now() - t0);
    AKT_TRUE(n_acked >= PER);
    node *nodes[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        size_t got = 0;
        for (double until = ak_now() + 30; ak_now() < until; usleep(100 * 1000))
            if ((got = found_on(nodes[i], acked, n_acked)) == n_acked)
                break;
        AKT_EQ_INT(got, n_acked);
    }
    /* writes after the kill, one server still down: each waits for the
     * local replica, which must not stall on the dead server */
    enum { LAT_N = 60 };
    double lat[LAT_N];
    for (unsigned i = 0; i < LAT_N; i++) {
        char *body = upsert_body(10000 + i, 1);
        double tb = ak_now();
        st_resp r = req(&a, "POST", "/api/v1/collections/c/points", body);
        lat[i] = ak_now() - tb;
        free(body);
        AKT_EQ_INT(r.status, 200);
        st_resp_free(&r);
    }
    qsort(lat, LAT_N, sizeof *lat, cmp_double);
    fprintf(stderr, "  write latency after the kill: p50 %.3f s, p99 %.3f s, max %.3f s\n",
            lat[LAT_N / 2], lat[LAT_N * 99 / 100], lat[LAT_N - 1]);
    AKT_LE(lat[LAT_N / 2], 0.25);
    AKT_LE(lat[LAT_N - 3], 1.0);   /* a stream's election may still hold up two */
    /* node b stops (keeping its folder), another nats-server is killed and
     * restarted, b starts again on its folder: ready within seconds */
    ak_server_stop(b.s);
    b.s = NULL;
    int other = (trio_index("n0") + 1) % 3;
    nsrv_stop(&trio[other], SIGKILL);
    AKT_TRUE(trio_start(other));
    double tr = ak_now();
    ak_server_config c = node_config(&b, all, "tkill", 2, 3, "all");
    AKT_OK(ak_server_start(&c, &b.s));
    b.port = ak_server_port(b.s);
    long ready = 0;
    for (double until = ak_now() + 30; ak_now() < until && ready != 200; usleep(50 * 1000)) {
        st_resp r = st_http(b.port, "GET", "/ready", NULL, NULL, 0);
        ready = r.status;
        st_resp_free(&r);
    }
    fprintf(stderr, "  node b restarted: ready after %.2f s\n", ak_now() - tr);
    AKT_EQ_INT(ready, 200);
    AKT_LE(ak_now() - tr, 10);
    node_down(&b);
    node_down(&a);
}

/* With keys: the caller's key goes with the searches sent on (every node
 * has the same admin key), and the internal route wants one too. */
AKT_TEST(auth_fanout)
{
    node n[2];
    g_admin_key = "ak_cluster_test_admin_key_0123";
    bool up = node_up(&n[0], g_nats, "tauth", "a0", 2, 1, "0") &&
              node_up(&n[1], g_nats, "tauth", "a1", 2, 1, "1");
    g_admin_key = NULL;
    AKT_TRUE(up);
    AKT_EQ_INT(status_of(&n[0], "POST", "/api/v1/collections",
                         "{\"name\":\"c\",\"dimension\":8,\"metric\":\"l2\"}", 201),
               201);
    for (double until = ak_now() + 10; ak_now() < until; usleep(30 * 1000)) {
        st_resp r = req(&n[1], "GET", "/api/v1/collections/c", NULL);
        long s = r.status;
        st_resp_free(&r);
        if (s == 200)
            break;
    }
    enum { N = 30 };
    char *body = upsert_body(0, N);
    AKT_EQ_INT(status_of(&n[1], "POST", "/api/v1/collections/c/points", body, 200), 200);
    free(body);
    float q[DIM];
    point_vec(5, q);
    char *sb = search_body(q, N);
    size_t hits = 0;
    for (double until = ak_now() + 10; hits != N && ak_now() < until; usleep(50 * 1000)) {
        st_resp r = req(&n[0], "POST", "/api/v1/collections/c/search", sb);
        hits = r.status == 200 ? json_array_size(json_object_get(r.json, "hits")) : 0;
        if (r.status != 200)
            fprintf(stderr, "  search: %ld %s\n", r.status, r.body ? r.body : "");
        st_resp_free(&r);
    }
    AKT_EQ_INT(hits, N);   /* both shards: n0's own and n1's through the key */
    /* no key: 401, on the search and on the internal route */
    st_resp r = st_http(n[0].port, "POST", "/api/v1/collections/c/search", NULL, sb, -1);
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);
    r = st_http(n[1].port, "POST", "/cluster/v1/search", NULL,
                "{\"tenant\":\"default\",\"collection\":\"c\",\"vector\":[0,0,0,0,0,0,0,1],"
                "\"top_k\":1}",
                -1);
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);
    free(sb);
    node_down(&n[1]);
    node_down(&n[0]);
}

int main(int argc, char **argv)
{
    if (!natsrun_have()) {
        fprintf(stderr, "nats-server not found: skipped\n");
        return 77;
    }
    if (!natsrun_begin("clserve"))
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int ports[2];
    static nsrv one;
    if (!free_ports(2, ports))
        return 1;
    nsrv_init(&one, "s0", ports[0], ports[1]);
    if (!nsrv_start(&one, NULL) || !meta_ready(one.url, 15)) {
        fprintf(stderr, "nats-server did not start\n");
        natsrun_end(1);
        return 1;
    }
    snprintf(g_nats, sizeof g_nats, "%s", one.url);
    static const akt_case cases[] = {AKT_REG(two_full), AKT_REG(wrong_settings), AKT_REG(trimmed),
                                     AKT_REG(three_partial),
                                     AKT_REG(auth_fanout), AKT_REG(trio_kill)};
    int rc = akt_run(cases, sizeof cases / sizeof *cases, argc, argv);
    natsrun_end(rc);
    curl_global_cleanup();
    return rc;
}
