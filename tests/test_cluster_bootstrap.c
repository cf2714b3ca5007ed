/*
 * test_cluster_bootstrap.c - a cluster node rebuilt from another node's copy
 * in the bucket (`akidb serve --cluster ... --s3-bucket B --bootstrap-from
 * ID`, src/server/dp_cluster_bk.c): akidb servers started in-process on a
 * nats-server -js process (tests/natsrun.h) and s3rver (tests/s3rver.h),
 * driven over HTTP:
 *
 *   bootstrap  node A ingests with its copy under <prefix>/A/ and uploads
 *              its replicas' applied numbers beside it (only numbers its
 *              shipped WAL covers); the streams are purged through the
 *              NATS API and A writes more; node B on an empty folder with
 *              --bootstrap-from A restores A's copy and numbers, replays
 *              what the streams still hold, ends with every point, and
 *              backs up under <prefix>/B/; node C on an empty folder
 *              without it answers /ready 503 trimmed naming a shard
 *
 * Exits 77 (skipped) without nats-server or s3rver (node and
 * tests/ref/node_modules, or $AKIDB_TOKREF_DIR).
 */
#include "common/common.h"
#include "natsrun.h"
#include "s3rver.h"
#include "server/srvtest.h"

#include "akidb_store.h"
#include "cluster/jlog.h"
#include "objstore/objstore.h"
#include "server/server.h"

#define BUCKET "akb"
#define PREFIX "cl"
#define DIM 8

static akt_s3rver s3 = { -1, 0, -1, "" };
static char g_nats[64], g_ep[64];
static akidb_backup_opts g_bk = AKIDB_BACKUP_OPTS_INIT;

typedef struct node {
    ak_server *s;
    char *dir;
    int port;
    char id[16];
} node;

/* Starts node id of cluster "tboot" (2 shards, all held) on an empty
 * folder, with the bucket and bootstrap_from (NULL: none). */
static akidb_status node_start(node *n, const char *id, const char *bootstrap_from)
{
    memset(n, 0, sizeof *n);
    snprintf(n->id, sizeof n->id, "%s", id);
    n->dir = st_tmpdir("clb");
    ak_server_config c;
    ak_server_config_defaults(&c);
    c.data_dir = n->dir;
    c.port = 0;
    c.auth = 0;
    c.scan_models_dir = 0;
    c.sync_none = 1;
    c.handler_threads = 8;
    c.drain_timeout_s = 2;
    c.cluster = g_nats;
    c.cluster_name = "tboot";
    c.cluster_shards = 2;
    c.cluster_replicas = 1;
    c.node_id = n->id;
    c.store_backup = &g_bk;
    c.bootstrap_from = bootstrap_from;
    akidb_status st = ak_server_start(&c, &n->s);
    if (st == AKIDB_OK)
        n->port = ak_server_port(n->s);
    return st;
}

static void node_down(node *n)
{
    if (n->s)
        ak_server_stop(n->s);
    n->s = NULL;
    st_rmtree(n->dir);
    n->dir = NULL;
}

/* /ready's status and its "status" field (into word). */
static long ready_of(node *n, char *word, size_t cap)
{
    st_resp r = st_http(n->port, "GET", "/ready", NULL, NULL, 0);
    long s = r.status;
    const char *w = json_string_value(json_object_get(r.json, "status"));
    snprintf(word, cap, "%s", w ? w : "");
    st_resp_free(&r);
    return s;
}

static bool wait_ready(node *n, double wait_s)
{
    char w[64];
    for (double until = ak_now() + wait_s; ak_now() < until; usleep(50 * 1000))
        if (ready_of(n, w, sizeof w) == 200)
            return true;
    return false;
}

static char *upsert_body(unsigned first, unsigned n)
{
    json_t *pts = json_array();
    for (unsigned i = first; i < first + n; i++) {
        json_t *vj = json_array();
        for (int d = 0; d < DIM; d++)
            json_array_append_new(vj, json_real((double)((i * 7 + (unsigned)d * 3) % 17) + 1));
        char id[16];
        snprintf(id, sizeof id, "p%u", i);
        json_array_append_new(pts, json_pack("{s:s,s:o}", "id", id, "vector", vj));
    }
    json_t *b = json_pack("{s:o}", "points", pts);
    char *s = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return s;
}

static long long count_on(node *n)
{
    st_resp r = st_http(n->port, "GET", "/api/v1/collections/c/count", NULL, NULL, 0);
    long long c = r.status == 200 ? json_integer_value(json_object_get(r.json, "count")) : -1;
    st_resp_free(&r);
    return c;
}

static ak_s3 *client(void)
{
    ak_s3_config c = AK_S3_CONFIG_INIT;
    c.endpoint = g_ep;
    c.region = "us-east-1";
    c.bucket = BUCKET;
    c.access_key = "S3RVER";
    c.secret_key = "S3RVER";
    ak_s3 *s = NULL;
    return ak_s3_open(&c, &s) == AKIDB_OK ? s : NULL;
}

/* The sum of the numbers in the object key ("shard k n" lines); -1 when
 * it is not there. */
static long long applied_sum(ak_s3 *s, const char *key)
{
    void *data = NULL;
    size_t len = 0;
    if (ak_s3_get(s, key, 1 << 20, &data, &len) != AKIDB_OK) {
        ak_clear_error();
        return -1;
    }
    long long sum = 0;
    char *save = NULL;
    for (char *l = strtok_r(data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        unsigned k;
        unsigned long long n;
        if (sscanf(l, "shard %u %llu", &k, &n) == 2)
            sum += (long long)n;
    }
    ak_free(data);
    return sum;
}

/* The last sequence numbers of the two shards' streams, summed. */
static long long log_last(void)
{
    ak_jlog_opts o = { .servers = g_nats, .name = "tboot", .shards = 2, .replicas = 1 };
    ak_jlog *l = NULL;
    if (ak_jlog_open(&o, &l) != AKIDB_OK)
        return -1;
    long long sum = 0;
    for (unsigned k = 0; k < 2; k++) {
        uint64_t first, last;
        sum = ak_jlog_bounds(l, k, &first, &last) == AKIDB_OK && sum >= 0 ? sum + (long long)last
                                                                           : -1;
    }
    ak_jlog_close(l);
    return sum;
}

/* Drops every record of both streams (sequence numbers go on). */
static bool purge_streams(void)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, g_nats);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&js, nc, NULL);
    for (unsigned k = 0; k < 2 && s == NATS_OK; k++) {
        char name[32];
        snprintf(name, sizeof name, "tboot_%u", k);
        s = js_PurgeStream(js, name, NULL, NULL);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return s == NATS_OK;
}

AKT_TEST(bootstrap)
{
    ak_s3 *s3c = client();
    AKT_TRUE(s3c != NULL);
    node a;
    AKT_OK(node_start(&a, "A", NULL));
    AKT_TRUE(wait_ready(&a, 20));
    st_resp r = st_http(a.port, "POST", "/api/v1/collections", NULL,
                        "{\"name\":\"c\",\"dimension\":8,\"metric\":\"l2\"}", -1);
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    char *body = upsert_body(0, 50);
    r = st_http(a.port, "POST", "/api/v1/collections/c/points", NULL, body, -1);
    free(body);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    /* A's applied numbers reach the bucket once its WAL copy covers them */
    long long want = log_last(), got = -1;
    AKT_TRUE(want > 0);
    for (double until = ak_now() + 20; ak_now() < until && got != want; usleep(100 * 1000))
        got = applied_sum(s3c, PREFIX "/A/cluster-applied");
    AKT_EQ_INT(got, want);
    ak_s3_stat hs;
    AKT_OK(ak_s3_head(s3c, PREFIX "/A/MANIFEST", &hs));
    /* the streams lose their records; A writes on */
    AKT_TRUE(purge_streams());
    body = upsert_body(50, 10);
    r = st_http(a.port, "POST", "/api/v1/collections/c/points", NULL, body, -1);
    free(body);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    AKT_EQ_INT(count_on(&a), 60);

    /* B: A's copy and numbers, then the streams from there */
    node b;
    AKT_OK(node_start(&b, "B", "A"));
    AKT_TRUE(wait_ready(&b, 20));
    AKT_EQ_INT(count_on(&b), 60);
    r = st_http(b.port, "GET", "/api/v1/collections/c/points/p55", NULL, NULL, 0);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = st_http(b.port, "GET", "/api/v1/collections/c/points/p3", NULL, NULL, 0);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    /* and backs itself up under its own prefix, numbers included */
    got = -1;
    want = log_last();
    for (double until = ak_now() + 20; ak_now() < until && got != want; usleep(100 * 1000))
        got = applied_sum(s3c, PREFIX "/B/cluster-applied");
    AKT_EQ_INT(got, want);
    AKT_OK(ak_s3_head(s3c, PREFIX "/B/MANIFEST", &hs));
    /* a write through B reaches A */
    body = upsert_body(60, 5);
    r = st_http(b.port, "POST", "/api/v1/collections/c/points", NULL, body, -1);
    free(body);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    long long ca = -1;
    for (double until = ak_now() + 10; ak_now() < until && ca != 65; usleep(50 * 1000))
        ca = count_on(&a);
    AKT_EQ_INT(ca, 65);

    /* C: empty folder, no bootstrap: the streams no longer hold shard
     * records from 1, so /ready says trimmed */
    node c;
    AKT_OK(node_start(&c, "C", NULL));
    char word[64] = "";
    long st = 0;
    for (double until = ak_now() + 15; ak_now() < until; usleep(50 * 1000))
        if ((st = ready_of(&c, word, sizeof word)) == 503 && strcmp(word, "trimmed") == 0)
            break;
    AKT_EQ_INT(st, 503);
    AKT_EQ_STR(word, "trimmed");
    r = st_http(c.port, "GET", "/ready", NULL, NULL, 0);
    AKT_CONTAINS(json_string_value(json_object_get(r.json, "message")), "shard ");
    AKT_CONTAINS(json_string_value(json_object_get(r.json, "message")), "--bootstrap-from");
    st_resp_free(&r);

    /* --bootstrap-from a node with no copy: refused, naming the key */
    node d;
    AKT_EQ_INT(node_start(&d, "D", "nobody"), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), PREFIX "/nobody/cluster-applied");
    node_down(&d);
    node_down(&c);
    node_down(&b);
    node_down(&a);
    ak_s3_close(s3c);
}

int main(int argc, char **argv)
{
    (void)trio_up, (void)trio_index;   /* natsrun.h's trio: not used here */
    if (!natsrun_have()) {
        fprintf(stderr, "nats-server not found: skipped\n");
        return 77;
    }
    const char *why = akt_s3rver_missing(&s3);
    if (why) {
        fprintf(stderr, "skipped: %s\n", why);
        return 77;
    }
    if (!natsrun_begin("clboot"))
        return 1;
    if (!akt_s3rver_start(&s3, BUCKET, "akidb_clb_"))
        return 1;
    snprintf(g_ep, sizeof g_ep, "http://127.0.0.1:%d", s3.port);
    g_bk.bucket = BUCKET;
    g_bk.prefix = PREFIX;
    g_bk.endpoint = g_ep;
    g_bk.region = "us-east-1";
    g_bk.access_key = "S3RVER";
    g_bk.secret_key = "S3RVER";
    g_bk.tail_interval_ms = 200;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int ports[2];
    static nsrv one;
    if (!free_ports(2, ports))
        return 1;
    nsrv_init(&one, "s0", ports[0], ports[1]);
    if (!nsrv_start(&one, NULL) || !meta_ready(one.url, 15)) {
        fprintf(stderr, "nats-server did not start\n");
        natsrun_end(1);
        akt_s3rver_stop(&s3);
        return 1;
    }
    snprintf(g_nats, sizeof g_nats, "%s", one.url);
    static const akt_case cases[] = { AKT_REG(bootstrap) };
    int rc = akt_run(cases, sizeof cases / sizeof *cases, argc, argv);
    natsrun_end(rc);
    akt_s3rver_stop(&s3);
    curl_global_cleanup();
    return rc;
}
