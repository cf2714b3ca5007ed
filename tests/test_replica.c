/*
 * test_replica.c - replicas applying the cluster's shard streams to local
 * stores (src/cluster/replica.c), against nats-server -js on loopback:
 *
 *   apply     a writer appends records to two shards (the catalog to both,
 *             each point to the shard of its id); a replica holding both
 *             applies them: the same content as the records applied in
 *             order to a reference store; waits for a sequence number
 *             (time-out: AKIDB_EBUSY naming how far it got); a damaged
 *             record is skipped and counted; the latency from append to
 *             applied over 200 records (printed); stopped, its store
 *             reopened and restarted it applies only the records after the
 *             saved numbers (the store's WAL grows by exactly those); a
 *             second replica on an empty folder catches up to the same
 *             content
 *   trimmed   a stream purged past what a new replica needs: AKIDB_ENOENT
 *             in its stats, logged, never caught up
 *   outage    the server goes away under a running replica (the read
 *             failure is in its stats; the replica stops and starts again
 *             meanwhile) and comes back: applying resumes
 *   cluster   three clustered servers, a shard of three replicas whose
 *             stream leader is killed (SIGKILL) while the writer appends;
 *             the replica applies every acknowledged record once
 *
 * Exits 77 (skip) when nats-server is not installed.
 */
#include "akt.h"
#include "cluster/replica.h"
#include "crec_util.h"
#include "natsrun.h"

#include <pthread.h>

#define DIM 8

static nsrv one;
static char tmp[128];

/* ---- what the replicas log ------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static cu_str logged;

static void log_fn(void *ctx, akidb_log_level lv, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "  [replica %s] %s\n", lv == AKIDB_LOG_ERROR ? "error" :
                                           lv == AKIDB_LOG_WARN ? "warn" : "info", msg);
    pthread_mutex_lock(&log_mu);
    cu_add(&logged, "%s\n", msg);
    pthread_mutex_unlock(&log_mu);
}

static bool logged_has(const char *s)
{
    pthread_mutex_lock(&log_mu);
    bool has = logged.s && strstr(logged.s, s);
    pthread_mutex_unlock(&log_mu);
    return has;
}

/* ---- helpers ------------------------------------------------------------- */

static ak_jlog *open_log(const char *servers, const char *name, unsigned shards,
                         unsigned replicas, double timeout_s)
{
    ak_jlog_opts o = { .servers = servers, .name = name, .shards = shards,
                       .replicas = replicas, .create = 1, .timeout_s = timeout_s };
    double until = ak_now() + 30;
    ak_jlog *l = NULL;
    akidb_status st;
    while ((st = ak_jlog_open(&o, &l)) != AKIDB_OK && ak_now() < until)
        usleep(200 * 1000);
    if (st != AKIDB_OK)
        fprintf(stderr, "  open log %s: %s\n", name, akidb_last_error());
    return l;
}

static akidb_store *open_store(const char *name)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    akidb_store *s = NULL;
    if (akidb_store_open(dir, NULL, &s) != AKIDB_OK)
        fprintf(stderr, "  open store %s: %s\n", dir, akidb_last_error());
    return s;
}

static ak_replica *start(ak_jlog *l, akidb_store *s, const char *name, const unsigned *shards,
                         size_t n)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    ak_replica_opts o = { .log = l, .store = s, .dir = dir, .shards = shards,
                          .n_shards = n, .log_fn = log_fn };
    ak_replica *r = NULL;
    if (ak_replica_start(&o, &r) != AKIDB_OK)
        fprintf(stderr, "  replica %s: %s\n", name, akidb_last_error());
    return r;
}

/* Appends e to shard (with msg id, so retried across a lost leader),
 * applies it to ref (NULL: none) and frees it; the record's number, 0 on
 * failure. */
static uint64_t put(ak_jlog *l, unsigned shard, cu_rec e, akidb_store *ref)
{
    static unsigned long counter;
    char id[64];
    snprintf(id, sizeof id, "w%d-%lu", (int)getpid(), ++counter);
    uint64_t seq = 0;
    akidb_status st = ak_jlog_append(l, shard, e.buf, e.len, id, &seq, NULL);
    if (st != AKIDB_OK)
        fprintf(stderr, "  append to shard %u: %s\n", shard, akidb_last_error());
    else if (ref)
        cu_apply(ref, &e);
    ak_free(e.buf);
    return st == AKIDB_OK ? seq : 0;
}

/* The catalog (tenant t, collection t/c) to every shard. */
static bool put_catalog(ak_jlog *l, unsigned shards, uint64_t *last, akidb_store *ref)
{
    for (unsigned k = 0; k < shards; k++) {
        last[k] = put(l, k, cu_tenant(AK_CREC_TENANT_CREATE, "t"), ref);
        last[k] = put(l, k, cu_coll(AK_CREC_COLL_CREATE, "t", "c", DIM, NULL), ref);
        if (!last[k])
            return false;
    }
    return true;
}

/* Upserts point "<prefix><i>" (version ver) to its shard. */
static bool put_point(ak_jlog *l, unsigned shards, const char *prefix, int i, unsigned ver,
                      uint64_t *last, akidb_store *ref)
{
    char id[32];
    snprintf(id, sizeof id, "%s%d", prefix, i);
    unsigned k = ak_crec_shard_of(id, shards);
    return (last[k] = put(l, k, cu_upsert("t", "c", id, ver, DIM), ref)) != 0;
}

static bool same_content(akidb_store *a, akidb_store *b)
{
    char *x = cu_dump(a), *y = cu_dump(b);
    bool same = x && y && strcmp(x, y) == 0;
    if (!same)
        fprintf(stderr, "  content differs:\n%s\n---\n%s\n", x ? x : "(null)", y ? y : "(null)");
    free(x);
    free(y);
    return same;
}

static bool wait_caught_up(ak_replica *r, double wait_s)
{
    double until = ak_now() + wait_s;
    while (!ak_replica_caught_up(r) && ak_now() < until)
        usleep(10 * 1000);
    return ak_replica_caught_up(r);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- tests ------------------------------------------------------------- */

/* Appends 200 points one at a time, each waited for; prints the latency
 * quantiles; p50 of append -> applied under 50 ms (a wake-up, not a poll). */
static void latency(ak_jlog *l, ak_replica *r, uint64_t *last, akidb_store *ref)
{
    enum { N = 200 };
    double total[N], after[N];
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "lat%d", i);
        unsigned k = ak_crec_shard_of(id, 2);
        double t0 = ak_now();
        last[k] = put(l, k, cu_upsert("t", "c", id, 1, DIM), ref);
        AKT_TRUE(last[k] > 0);
        double t1 = ak_now();
        AKT_OK(ak_replica_wait(r, k, last[k], 5));
        double t2 = ak_now();
        total[i] = t2 - t0;
        after[i] = t2 - t1;
    }
    qsort(total, N, sizeof *total, cmp_double);
    qsort(after, N, sizeof *after, cmp_double);
    printf("replica latency over %d records: append+apply p50 %.2f ms, max %.2f ms; "
           "acknowledged -> applied p50 %.2f ms, p90 %.2f ms, max %.2f ms\n",
           N, total[N / 2] * 1e3, total[N - 1] * 1e3, after[N / 2] * 1e3, after[N * 9 / 10] * 1e3,
           after[N - 1] * 1e3);
    fflush(stdout);
    AKT_LE(after[N / 2], 0.05);
}

static uint64_t wal_lsn(akidb_store *s)
{
    akidb_store_stats st;
    akidb_store_get_stats(s, &st);
    return st.last_lsn;
}

/* Stops r, reopens store a, writes 20 new points, restarts: the store's
 * WAL grows by exactly those 20 records. */
static void restart(ak_jlog *l, ak_replica **r, akidb_store **a, uint64_t *last, akidb_store *ref)
{
    const unsigned both[2] = { 0, 1 };
    char path[300], *text = NULL, want[64];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/a/cluster/applied", tmp);
    /* saved within ~200 ms of the last record, while running, and at stop */
    usleep(500 * 1000);
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            ak_replica_stop(*r);
        AKT_OK(ak_read_file(path, 4096, &text, &len));
        AKT_TRUE(strncmp(text, "akidb-applied 1\n", 16) == 0);
        for (unsigned k = 0; k < 2; k++) {
            snprintf(want, sizeof want, "shard %u %llu\n", k, (unsigned long long)last[k]);
            AKT_CONTAINS(text, want);
        }
        ak_free(text);
    }
    AKT_OK(akidb_store_close(*a));
    *a = open_store("a");
    AKT_TRUE(*a != NULL);
    uint64_t lsn0 = wal_lsn(*a);
    for (int i = 0; i < 20; i++)
        AKT_TRUE(put_point(l, 2, "new", i, 3, last, ref));
    *r = start(l, *a, "a", both, 2);
    AKT_TRUE(*r != NULL);
    for (unsigned k = 0; k < 2; k++)
        AKT_OK(ak_replica_wait(*r, k, last[k], 10));
    AKT_TRUE(wait_caught_up(*r, 5));
    AKT_EQ_INT(wal_lsn(*a) - lsn0, 20);
    AKT_TRUE(same_content(*a, ref));
}

AKT_TEST(apply)
{
    ak_jlog *l = open_log(one.url, "r1", 2, 1, 10);
    AKT_TRUE(l != NULL);
    akidb_store *ref = open_store("ref"), *a = open_store("a");
    AKT_TRUE(ref && a);
    uint64_t last[2] = { 0, 0 };
    AKT_TRUE(put_catalog(l, 2, last, ref));
    for (int i = 0; i < 300; i++)
        AKT_TRUE(put_point(l, 2, "p", i % 150, (unsigned)(i / 150), last, ref));
    for (int i = 0; i < 150; i += 5) {
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        unsigned k = ak_crec_shard_of(id, 2);
        AKT_TRUE((last[k] = put(l, k, cu_delete("t", "c", id), ref)) != 0);
    }
    const unsigned both[2] = { 0, 1 };
    ak_replica *r = start(l, a, "a", both, 2);
    AKT_TRUE(r != NULL);
    for (unsigned k = 0; k < 2; k++)
        AKT_OK(ak_replica_wait(r, k, last[k], 30));
    AKT_TRUE(wait_caught_up(r, 5));
    AKT_TRUE(same_content(a, ref));
    ak_replica_shard_stats ss[3];
    AKT_EQ_INT(ak_replica_stats(r, ss, 3), 2);
    for (unsigned k = 0; k < 2; k++) {
        AKT_EQ_INT(ss[k].shard, k);
        AKT_EQ_INT(ss[k].applied, last[k]);
        AKT_EQ_INT(ss[k].last, last[k]);
        AKT_EQ_INT(ss[k].skipped, 0);
        AKT_EQ_INT(ss[k].status, AKIDB_OK);
    }
    /* a sequence number not (yet) in the log: a bounded wait, named */
    double t0 = ak_now();
    AKT_STATUS(ak_replica_wait(r, 1, last[1] + 50, 0.3), AKIDB_EBUSY);
    AKT_GE(ak_now() - t0, 0.29);
    char want[96];
    snprintf(want, sizeof want, "applied up to %llu", (unsigned long long)last[1]);
    AKT_CONTAINS(akidb_last_error(), want);
    AKT_CONTAINS(akidb_last_error(), "shard 1");
    AKT_STATUS(ak_replica_wait(r, 5, 1, 1), AKIDB_EINVAL);
    /* a damaged record: logged, counted, passed over */
    uint64_t bad = 0;
    AKT_OK(ak_jlog_append(l, 0, "AKCL\x01\x05junk", 10, NULL, &bad, NULL));
    last[0] = bad;
    AKT_TRUE(put_point(l, 2, "after", 0, 1, last, ref));
    AKT_TRUE(put_point(l, 2, "after", 1, 1, last, ref));
    for (unsigned k = 0; k < 2; k++)
        AKT_OK(ak_replica_wait(r, k, last[k], 10));
    ak_replica_stats(r, ss, 2);
    AKT_EQ_INT(ss[0].skipped, 1);
    snprintf(want, sizeof want, "shard 0 record %llu skipped", (unsigned long long)bad);
    AKT_TRUE(logged_has(want));
    latency(l, r, last, ref);
    AKT_TRUE(same_content(a, ref));
    restart(l, &r, &a, last, ref);
    /* a second replica on an empty folder: the same content */
    akidb_store *b = open_store("b");
    AKT_TRUE(b != NULL);
    t0 = ak_now();
    ak_replica *rb = start(l, b, "b", both, 2);
    AKT_TRUE(rb != NULL);
    AKT_TRUE(wait_caught_up(rb, 30));
    fprintf(stderr, "  a second replica caught up in %.2f s\n", ak_now() - t0);
    AKT_TRUE(same_content(b, a));
    ak_replica_stop(rb);
    ak_replica_stop(r);
    akidb_store_close(b);
    akidb_store_close(a);
    akidb_store_close(ref);
    ak_jlog_close(l);
}

/* Purges stream NAME_0 through url (every record gone, numbers go on). */
static bool purge(const char *url, const char *stream)
{
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        return false;
    char subj[128];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.PURGE.%s", stream);
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, nc, subj, "", 5000);
    bool ok = s == NATS_OK && strstr(natsMsg_GetData(reply), "\"success\":true");
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);
    return ok;
}

AKT_TEST(trimmed)
{
    ak_jlog *l = open_log(one.url, "r2", 1, 1, 10);
    AKT_TRUE(l != NULL);
    uint64_t last[1];
    AKT_TRUE(put_catalog(l, 1, last, NULL));
    AKT_TRUE(purge(one.url, "r2_0"));
    AKT_TRUE(put_point(l, 1, "p", 1, 1, last, NULL));
    akidb_store *s = open_store("trim");
    AKT_TRUE(s != NULL);
    const unsigned zero[1] = { 0 };
    ak_replica *r = start(l, s, "trim", zero, 1);
    AKT_TRUE(r != NULL);
    ak_replica_shard_stats ss;
    double until = ak_now() + 10;
    do {
        usleep(20 * 1000);
        ak_replica_stats(r, &ss, 1);
    } while (ss.status != AKIDB_ENOENT && ak_now() < until);
    AKT_EQ_INT(ss.status, AKIDB_ENOENT);
    AKT_EQ_INT(ss.applied, 0);
    AKT_TRUE(logged_has("trimmed"));
    AKT_FALSE(ak_replica_caught_up(r));
    AKT_STATUS(ak_replica_wait(r, 0, last[0], 0.2), AKIDB_EBUSY);
    AKT_CONTAINS(akidb_last_error(), "ENOENT");
    ak_replica_stop(r);
    akidb_store_close(s);
    ak_jlog_close(l);
}

AKT_TEST(outage)
{
    ak_jlog *l = open_log(one.url, "r3", 1, 1, 1);
    AKT_TRUE(l != NULL);
    akidb_store *ref = open_store("oref"), *s = open_store("out");
    AKT_TRUE(ref && s);
    uint64_t last[1];
    AKT_TRUE(put_catalog(l, 1, last, ref));
    const unsigned zero[1] = { 0 };
    ak_replica *r = start(l, s, "out", zero, 1);
    AKT_TRUE(r != NULL);
    for (int i = 0; i < 5; i++)
        AKT_TRUE(put_point(l, 1, "p", i, 1, last, ref));
    AKT_OK(ak_replica_wait(r, 0, last[0], 10));
    nsrv_stop(&one, SIGTERM);
    ak_replica_shard_stats ss;
    double until = ak_now() + 10;
    do {
        usleep(50 * 1000);
        ak_replica_stats(r, &ss, 1);
    } while (ss.status == AKIDB_OK && ak_now() < until);
    AKT_EQ_INT(ss.status, AKIDB_EIO);
    /* a replica stops in bounded time while the log is away, and a new one
     * starts without it */
    double t0 = ak_now();
    ak_replica_stop(r);
    fprintf(stderr, "  stopped in %.2f s with the server away\n", ak_now() - t0);
    AKT_LE(ak_now() - t0, 5);
    r = start(l, s, "out", zero, 1);
    AKT_TRUE(r != NULL);
    AKT_FALSE(ak_replica_caught_up(r));
    AKT_TRUE(nsrv_start(&one, NULL));
    /* appends wait for the reconnect (they carry ids); the replica resumes */
    until = ak_now() + 20;
    uint64_t seq = 0;
    while (!(seq = put(l, 0, cu_upsert("t", "c", "back", 1, DIM), NULL)) && ak_now() < until)
        usleep(200 * 1000);
    AKT_TRUE(seq > 0);
    cu_rec e = cu_upsert("t", "c", "back", 1, DIM);
    AKT_OK(cu_apply(ref, &e));
    ak_free(e.buf);
    last[0] = seq;
    for (int i = 5; i < 10; i++)
        AKT_TRUE(put_point(l, 1, "p", i, 1, last, ref));
    AKT_OK(ak_replica_wait(r, 0, last[0], 20));
    ak_replica_stats(r, &ss, 1);
    AKT_EQ_INT(ss.status, AKIDB_OK);
    AKT_TRUE(same_content(s, ref));
    ak_replica_stop(r);
    akidb_store_close(s);
    akidb_store_close(ref);
    ak_jlog_close(l);
}

AKT_TEST(cluster)
{
    char all[256];
    AKT_TRUE(trio_up(all, sizeof all));
    AKT_TRUE(meta_ready(trio[0].url, 30));
    ak_jlog *l = open_log(all, "r4", 1, 3, 30);
    AKT_TRUE(l != NULL);
    akidb_store *ref = open_store("cref"), *s = open_store("clu");
    AKT_TRUE(ref && s);
    uint64_t last[1];
    AKT_TRUE(put_catalog(l, 1, last, ref));
    const unsigned zero[1] = { 0 };
    ak_replica *r = start(l, s, "clu", zero, 1);
    AKT_TRUE(r != NULL);
    for (int i = 0; i < 200; i++)
        AKT_TRUE(put_point(l, 1, "p", i, 1, last, ref));
    ak_jlog_shard_info in;
    AKT_OK(ak_jlog_info(l, 0, &in));
    int v = trio_index(in.leader);
    AKT_TRUE(v >= 0);
    double t0 = ak_now();
    nsrv_stop(&trio[v], SIGKILL);
    for (int i = 200; i < 400; i++)
        AKT_TRUE(put_point(l, 1, "p", i, 1, last, ref));
    fprintf(stderr, "  stream leader %s killed; 200 more appends took %.2f s\n", trio[v].name,
            ak_now() - t0);
    AKT_OK(ak_replica_wait(r, 0, last[0], 60));
    fprintf(stderr, "  replica applied all %llu records %.2f s after the kill\n",
            (unsigned long long)last[0], ak_now() - t0);
    AKT_TRUE(same_content(s, ref));
    /* the killed server back and current: records are again applied
     * within milliseconds (the watch is made again once it missed records) */
    AKT_TRUE(trio_start(v));
    double until = ak_now() + 30;
    while ((ak_jlog_info(l, 0, &in) != AKIDB_OK || in.current < 3) && ak_now() < until)
        usleep(200 * 1000);
    AKT_EQ_INT(in.current, 3);
    enum { N = 50 };
    double lat[N];
    for (int i = 0; i < N; i++) {
        AKT_TRUE(put_point(l, 1, "q", i, 1, last, ref));
        t0 = ak_now();
        AKT_OK(ak_replica_wait(r, 0, last[0], 10));
        lat[i] = ak_now() - t0;
    }
    qsort(lat, N, sizeof *lat, cmp_double);
    fprintf(stderr, "  after the kill: acknowledged -> applied p50 %.2f ms, max %.2f ms\n",
            lat[N / 2] * 1e3, lat[N - 1] * 1e3);
    AKT_LE(lat[N / 2], 0.05);
    AKT_TRUE(same_content(s, ref));
    ak_replica_stop(r);
    akidb_store_close(s);
    akidb_store_close(ref);
    ak_jlog_close(l);
}

int main(int argc, char **argv)
{
    if (!natsrun_have()) {
        fprintf(stderr, "nats-server is not installed (apt-get install nats-server): skipped\n");
        return 77;
    }
    if (!natsrun_begin("replica"))
        return 1;
    snprintf(tmp, sizeof tmp, "%s/stores", tmp_root);
    mkdir(tmp, 0700);
    int ports[2];
    if (!free_ports(2, ports))
        return 1;
    nsrv_init(&one, "one", ports[0], ports[1]);
    if (!nsrv_start(&one, NULL))
        return 1;
    static const akt_case cases[] = { AKT_REG(apply), AKT_REG(trimmed), AKT_REG(outage),
                                      AKT_REG(cluster) };
    int rc = akt_run(cases, sizeof cases / sizeof *cases, argc, argv);
    natsrun_end(rc);
    free(logged.s);
    return rc;
}
