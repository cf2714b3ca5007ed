/*
 * test_jlog.c - the sharded write log (src/cluster/jlog.c) against real
 * nats-server processes with JetStream on loopback:
 *
 *   single     one server: dense per-shard sequence numbers, reads from any
 *              number in order, the duplicate window, a reader that stops
 *   restart    the server goes away (appends fail naming the stream) and
 *              comes back on the same store: the client reconnects, a retry
 *              with a message id lands once, every record is still there
 *   shape      bad names and counts, a missing stream, an existing stream of
 *              another shape, no server at the address: each a clear error
 *   cluster    three clustered servers, a shard of three replicas: its
 *              stream leader is killed (SIGKILL) while a writer appends;
 *              every acknowledged record is read back once and in order
 *              through a survivor; the killed server restarts, catches up
 *              and, made the leader, serves the same records; without a
 *              quorum appends and reads fail in bounded time, naming why
 *
 * `test_jlog bench` (not run by ctest; bench/cluster/run.sh) measures the
 * append rate with 1 and 3 replicas and the stall of appends when the
 * stream leader is killed, over several kills.
 *
 * The nats-server processes come from natsrun.h (each dies with the test
 * however it ends: a failed check, a crash, ctest's time-out).  Exits 77 (skip) when nats-server is not installed (deps.sh --test
 * installs it).
 */
#include "akt.h"
#include "cluster/jlog.h"
#include "natsrun.h"

#include <pthread.h>

/* Opens the log o, retrying while the servers start (JetStream answers
 * "temporarily unavailable" until its cluster has a leader). */
static ak_jlog *open_retry(const ak_jlog_opts *o, double wait_s)
{
    double until = ak_now() + wait_s;
    ak_jlog *l = NULL;
    akidb_status st;
    while ((st = ak_jlog_open(o, &l)) != AKIDB_OK && ak_now() < until)
        usleep(200 * 1000);
    if (st != AKIDB_OK)
        fprintf(stderr, "  open: %s\n", akidb_last_error());
    return l;
}


/* ---- a reader that checks what it is given ----------------------------------------- */

typedef struct seen {
    unsigned shard;
    uint64_t expect;   /* the next sequence number */
    size_t n, stop_after;
    bool bad;
} seen;

static void record_text(char *buf, size_t cap, unsigned shard, uint64_t seq)
{
    snprintf(buf, cap, "shard %u record %llu", shard, (unsigned long long)seq);
}

static akidb_status check_record(void *arg, unsigned shard, uint64_t seq, const void *data,
                                 size_t len)
{
    seen *s = arg;
    char want[64];
    record_text(want, sizeof want, shard, seq);
    if (shard != s->shard || seq != s->expect || len != strlen(want) ||
        memcmp(data, want, len) != 0)
        s->bad = true;
    s->expect = seq + 1;
    s->n++;
    if (s->stop_after && s->n == s->stop_after)
        return ak_fail(AKIDB_EBUSY, "stopped by the reader");
    return AKIDB_OK;
}

/* Appends records first .. last of shard (their text names them). */
static bool append_range(ak_jlog *l, unsigned shard, uint64_t first, uint64_t last,
                         bool with_ids)
{
    for (uint64_t q = first; q <= last; q++) {
        char text[64], id[64];
        record_text(text, sizeof text, shard, q);
        snprintf(id, sizeof id, "s%u-%llu", shard, (unsigned long long)q);
        uint64_t seq = 0;
        int dup = 0;
        if (ak_jlog_append(l, shard, text, strlen(text), with_ids ? id : NULL, &seq, &dup) !=
                AKIDB_OK) {
            fprintf(stderr, "  append %s: %s\n", id, akidb_last_error());
            return false;
        }
        if (seq != q || dup) {
            fprintf(stderr, "  append %s: sequence %llu%s\n", id, (unsigned long long)seq,
                    dup ? " (duplicate)" : "");
            return false;
        }
    }
    return true;
}

static size_t read_all(ak_jlog *l, unsigned shard, uint64_t from, seen *s)
{
    memset(s, 0, sizeof *s);
    s->shard = shard;
    s->expect = from;
    uint64_t next = 0;
    akidb_status st = ak_jlog_read(l, shard, from, check_record, s, &next);
    if (st != AKIDB_OK) {
        fprintf(stderr, "  read: %s\n", akidb_last_error());
        s->bad = true;
    }
    if (next != s->expect)
        s->bad = true;
    return s->n;
}

/* ---- tests ------------------------------------------------------------------------- */

static nsrv one;

AKT_TEST(single)
{
    ak_jlog_opts o = { .servers = one.url, .name = "t1", .shards = 2, .replicas = 1,
                       .create = 1 };
    ak_jlog *l = open_retry(&o, 15);
    AKT_TRUE(l != NULL);
    for (uint64_t q = 1; q <= 150; q++) {   /* interleaved: numbers stay dense per shard */
        AKT_TRUE(append_range(l, 0, q, q, q % 2));
        AKT_TRUE(append_range(l, 1, q, q, false));
    }
    seen s;
    AKT_EQ_INT(read_all(l, 0, 1, &s), 150);
    AKT_TRUE(!s.bad);
    AKT_EQ_INT(read_all(l, 1, 101, &s), 50);
    AKT_TRUE(!s.bad);
    AKT_EQ_INT(read_all(l, 1, 151, &s), 0);   /* nothing past the end; returns at once */
    AKT_TRUE(!s.bad);
    uint64_t first = 0, last = 0;
    AKT_EQ_INT(ak_jlog_bounds(l, 0, &first, &last), AKIDB_OK);
    AKT_EQ_INT(first, 1);
    AKT_EQ_INT(last, 150);
    ak_jlog_shard_info in;   /* one server: it is the stream, always current */
    AKT_EQ_INT(ak_jlog_info(l, 0, &in), AKIDB_OK);
    AKT_EQ_INT(in.last, 150);
    AKT_EQ_INT(in.replicas, 1);
    AKT_EQ_INT(in.current, 1);
    /* a retried append with the same id is stored once */
    uint64_t seq = 0;
    int dup = -1;
    AKT_EQ_INT(ak_jlog_append(l, 0, "again", 5, "retry-1", &seq, &dup), AKIDB_OK);
    AKT_EQ_INT(seq, 151);
    AKT_EQ_INT(dup, 0);
    AKT_EQ_INT(ak_jlog_append(l, 0, "again", 5, "retry-1", &seq, &dup), AKIDB_OK);
    AKT_EQ_INT(seq, 151);
    AKT_EQ_INT(dup, 1);
    AKT_EQ_INT(ak_jlog_bounds(l, 0, NULL, &last), AKIDB_OK);
    AKT_EQ_INT(last, 151);
    /* ids of records already stored (odd numbers of shard 0) are duplicates too */
    AKT_EQ_INT(ak_jlog_append(l, 0, "x", 1, "s0-7", &seq, &dup), AKIDB_OK);
    AKT_EQ_INT(seq, 7);
    AKT_EQ_INT(dup, 1);
    /* a reader that stops: its status comes back, nothing after it is read */
    memset(&s, 0, sizeof s);
    s.expect = 1;
    s.stop_after = 10;
    uint64_t next = 0;
    AKT_EQ_INT(ak_jlog_read(l, 1, 1, check_record, &s, &next), AKIDB_EBUSY);
    AKT_EQ_INT(s.n, 10);
    AKT_EQ_INT(next, 11);
    /* records of 0 bytes or over 1 MiB are refused before they are sent */
    AKT_EQ_INT(ak_jlog_append(l, 0, "", 0, NULL, NULL, NULL), AKIDB_EINVAL);
    char *big = calloc(1, ((size_t)1 << 20) + 1);
    AKT_TRUE(big != NULL);
    AKT_EQ_INT(ak_jlog_append(l, 0, big, ((size_t)1 << 20) + 1, NULL, NULL, NULL),
               AKIDB_EINVAL);
    AKT_TRUE(strstr(akidb_last_error(), "1048576") != NULL);
    free(big);
    ak_jlog_close(l);
}

AKT_TEST(restart)
{
    ak_jlog_opts o = { .servers = one.url, .name = "t2", .shards = 1, .replicas = 1,
                       .create = 1, .timeout_s = 1 };
    ak_jlog *l = open_retry(&o, 15);
    AKT_TRUE(l != NULL);
    AKT_TRUE(append_range(l, 0, 1, 40, true));
    nsrv_stop(&one, SIGTERM);
    /* without a message id nothing is retried: a clear failure */
    AKT_EQ_INT(ak_jlog_append(l, 0, "lost?", 5, NULL, NULL, NULL), AKIDB_EIO);
    AKT_TRUE(strstr(akidb_last_error(), "t2_0") != NULL);
    fprintf(stderr, "  server away: %s\n", akidb_last_error());
    AKT_TRUE(nsrv_start(&one, NULL));
    /* with one, the append waits for the reconnect and lands once */
    ak_jlog_close(l);
    o.timeout_s = 15;
    l = open_retry(&o, 15);
    AKT_TRUE(l != NULL);
    AKT_TRUE(append_range(l, 0, 41, 60, true));
    seen s;
    AKT_EQ_INT(read_all(l, 0, 1, &s), 60);
    AKT_TRUE(!s.bad);
    ak_jlog_close(l);
}

AKT_TEST(shape)
{
    ak_jlog *l = NULL;
    ak_jlog_opts o = { .servers = one.url, .name = "t.1", .shards = 1, .replicas = 1 };
    AKT_EQ_INT(ak_jlog_open(&o, &l), AKIDB_EINVAL);
    AKT_TRUE(strstr(akidb_last_error(), "'t.1'") != NULL);
    o.name = "t3";
    o.shards = 0;
    AKT_EQ_INT(ak_jlog_open(&o, &l), AKIDB_EINVAL);
    AKT_TRUE(strstr(akidb_last_error(), "shards 0") != NULL);
    o.shards = 1;
    o.replicas = 7;
    AKT_EQ_INT(ak_jlog_open(&o, &l), AKIDB_EINVAL);
    AKT_TRUE(strstr(akidb_last_error(), "replicas 7") != NULL);
    /* a stream that is not there, not to be created */
    o.replicas = 1;
    AKT_EQ_INT(ak_jlog_open(&o, &l), AKIDB_ENOENT);
    AKT_TRUE(strstr(akidb_last_error(), "t3_0") != NULL);
    /* t1 exists with one replica */
    o.name = "t1";
    o.shards = 2;
    o.replicas = 3;
    o.create = 1;
    AKT_EQ_INT(ak_jlog_open(&o, &l), AKIDB_EEXIST);
    AKT_TRUE(strstr(akidb_last_error(), "has 1 replicas; 3 wanted") != NULL);
    /* three replicas on a single server: the server's refusal, named */
    o.name = "t4";
    AKT_EQ_INT(ak_jlog_open(&o, &l), AKIDB_EIO);
    AKT_TRUE(strstr(akidb_last_error(), "creating JetStream stream t4_0") != NULL);
    fprintf(stderr, "  %s\n", akidb_last_error());
    /* nobody listening */
    char url[64];
    int port;
    AKT_TRUE(free_ports(1, &port));
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port);
    o.servers = url;
    o.replicas = 1;
    AKT_EQ_INT(ak_jlog_open(&o, &l), AKIDB_EIO);
    AKT_TRUE(strstr(akidb_last_error(), url) != NULL);
    AKT_TRUE(l == NULL);
}


/* Waits up to wait_s until shard has a leader and all its replicas hold
 * every record. */
static bool wait_current(ak_jlog *l, unsigned shard, double wait_s, ak_jlog_shard_info *in)
{
    double until = ak_now() + wait_s;
    do {
        if (ak_jlog_info(l, shard, in) == AKIDB_OK && in->leader[0] &&
            in->current == in->replicas)
            return true;
        usleep(200 * 1000);
    } while (ak_now() < until);
    fprintf(stderr, "  shard %u: leader '%s', %u of %u replicas current\n", shard, in->leader,
            in->current, in->replicas);
    return false;
}

/* Asks the leader of stream to step down (through url) until server name
 * leads it; up to tries times. */
static bool lead_with(ak_jlog *l, const char *url, const char *stream, const char *name,
                      int tries)
{
    natsConnection *nc = NULL;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        return false;
    char subj[128];
    snprintf(subj, sizeof subj, "$JS.API.STREAM.LEADER.STEPDOWN.%s", stream);
    ak_jlog_shard_info in;
    bool ok = false;
    for (int t = 0; t < tries && !ok; t++) {
        if (!wait_current(l, 0, 20, &in))
            break;
        if (strcmp(in.leader, name) == 0) {
            ok = true;
            break;
        }
        natsMsg *reply = NULL;
        natsConnection_RequestString(&reply, nc, subj, "", 2000);
        natsMsg_Destroy(reply);
    }
    natsConnection_Destroy(nc);
    return ok;
}

/* Kills victim with SIGKILL once the writer has `at` records acknowledged. */
typedef struct killer {
    nsrv *victim;
    _Atomic uint64_t *acked;
    uint64_t at;
    _Atomic int stop;
    double t_kill;
} killer;

static void *killer_main(void *arg)
{
    killer *k = arg;
    while (*k->acked < k->at && !k->stop)
        usleep(500);
    if (!k->stop) {
        k->t_kill = ak_now();
        kill(k->victim->pid, SIGKILL);
    }
    return NULL;
}

typedef struct wstats {
    double max_s;      /* the longest append */
    unsigned dups;     /* retries that found their first try stored */
} wstats;

/* Appends records first .. last of shard with ids, as append_range, counting
 * them in *acked; a retry across a lost leader may find its first try
 * stored (a duplicate), with the record's own number. */
static bool append_timed(ak_jlog *l, unsigned shard, uint64_t first, uint64_t last,
                         _Atomic uint64_t *acked, wstats *ws)
{
    for (uint64_t q = first; q <= last; q++) {
        char text[64], id[64];
        record_text(text, sizeof text, shard, q);
        snprintf(id, sizeof id, "s%u-%llu", shard, (unsigned long long)q);
        uint64_t seq = 0;
        int dup = 0;
        double t0 = ak_now();
        if (ak_jlog_append(l, shard, text, strlen(text), id, &seq, &dup) != AKIDB_OK) {
            fprintf(stderr, "  append %s: %s\n", id, akidb_last_error());
            return false;
        }
        double dt = ak_now() - t0;
        if (dt > ws->max_s)
            ws->max_s = dt;
        ws->dups += dup != 0;
        if (seq != q) {
            fprintf(stderr, "  append %s: sequence %llu\n", id, (unsigned long long)seq);
            return false;
        }
        (*acked)++;
    }
    return true;
}

/* Appends first .. last while the stream leader of shard 0 of l (or, with
 * follower, another of its servers) is killed once `kill_at` records are
 * acknowledged; *victim is the killed server. */
static bool append_kill(ak_jlog *l, uint64_t first, uint64_t last, uint64_t kill_at,
                        bool follower, int *victim, wstats *ws)
{
    ak_jlog_shard_info in;
    if (!wait_current(l, 0, 30, &in) || (*victim = trio_index(in.leader)) < 0)
        return false;
    if (follower)
        *victim = (*victim + 1) % 3;
    _Atomic uint64_t acked = first - 1;
    killer k = { .victim = &trio[*victim], .acked = &acked, .at = kill_at };
    pthread_t t;
    if (pthread_create(&t, NULL, killer_main, &k) != 0)
        return false;
    memset(ws, 0, sizeof *ws);
    bool ok = append_timed(l, 0, first, last, &acked, ws);
    k.stop = 1;
    pthread_join(t, NULL);
    waitpid(trio[*victim].pid, NULL, 0);
    trio[*victim].pid = 0;
    return ok && k.t_kill > 0;
}

AKT_TEST(cluster)
{
    char all[256];
    AKT_TRUE(trio_up(all, sizeof all));
    AKT_TRUE(meta_ready(trio[0].url, 30));
    ak_jlog_opts o = { .servers = all, .name = "c1", .shards = 1, .replicas = 3, .create = 1,
                       .timeout_s = 30 };
    ak_jlog *w = open_retry(&o, 30);
    AKT_TRUE(w != NULL);
    /* the stream leader dies half-way through the writer's appends */
    const uint64_t n = 1000;
    int v = -1;
    wstats ws;
    AKT_TRUE(append_kill(w, 1, n, n / 2, false, &v, &ws));
    fprintf(stderr, "  %llu appends acknowledged; stream leader %s killed after %llu; longest "
            "append %.2f s; %u retries found their first try stored\n", (unsigned long long)n,
            trio[v].name, (unsigned long long)n / 2, ws.max_s, ws.dups);
    /* every one of them, once and in order, through a survivor; each read
     * makes a consumer, placed by nats-server < 2.9.12 on any of the
     * stream's servers, the dead one included (then made again) */
    ak_jlog_opts ro = { .servers = trio[(v + 1) % 3].url, .name = "c1", .shards = 1,
                        .replicas = 3, .timeout_s = 30 };
    ak_jlog *r = open_retry(&ro, 30);
    AKT_TRUE(r != NULL);
    seen sn;
    const uint64_t starts[5] = { 1, 2, n / 2, n / 2 + 1, n };
    for (int i = 0; i < 5; i++) {
        double t0 = ak_now();
        AKT_EQ_INT(read_all(r, 0, starts[i], &sn), n - starts[i] + 1);
        AKT_TRUE(!sn.bad);
        fprintf(stderr, "  read from %llu through %s: %.2f s\n",
                (unsigned long long)starts[i], trio[(v + 1) % 3].name, ak_now() - t0);
    }
    ak_jlog_close(r);
    /* the killed server comes back on its store, catches up, and once it
     * leads the stream serves the same records */
    AKT_TRUE(trio_start(v));
    AKT_TRUE(append_range(w, 0, n + 1, n + 20, true));
    ak_jlog_shard_info in;
    AKT_TRUE(wait_current(w, 0, 30, &in));
    AKT_TRUE(lead_with(w, trio[v].url, "c1_0", trio[v].name, 12));
    ro.servers = trio[v].url;
    r = open_retry(&ro, 30);
    AKT_TRUE(r != NULL);
    AKT_EQ_INT(read_all(r, 0, 1, &sn), n + 20);
    AKT_TRUE(!sn.bad);
    /* without a quorum: a clear failure after the time-out, not a hang */
    ro.timeout_s = 3;
    ak_jlog *q = open_retry(&ro, 10);
    AKT_TRUE(q != NULL);
    nsrv_stop(&trio[(v + 1) % 3], SIGKILL);
    nsrv_stop(&trio[(v + 2) % 3], SIGKILL);
    double t0 = ak_now();
    AKT_EQ_INT(ak_jlog_append(q, 0, "x", 1, "no-quorum", NULL, NULL), AKIDB_EIO);
    AKT_LE(ak_now() - t0, 6);
    AKT_CONTAINS(akidb_last_error(), "c1_0");
    fprintf(stderr, "  no quorum, append: %s\n", akidb_last_error());
    t0 = ak_now();
    AKT_EQ_INT(read_all(q, 0, 1, &sn) < n + 20, 1);
    AKT_LE(ak_now() - t0, 12);
    AKT_CONTAINS(akidb_last_error(), "c1_0");
    fprintf(stderr, "  no quorum, read: %s\n", akidb_last_error());
    ak_jlog_close(q);
    ak_jlog_close(r);
    ak_jlog_close(w);
}

/* ---- bench/cluster/run.sh's measurement ----------------------------------------------- */

static long env_long(const char *name, long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : dflt;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Appends n records with ids to shard 0 of l, one at a time, and prints
 * the rate and the latency quantiles under label. */
static bool bench_appends(ak_jlog *l, const char *label, uint64_t n)
{
    double *lat = malloc(n * sizeof *lat);
    if (!lat)
        return false;
    double t0 = ak_now();
    for (uint64_t q = 1; q <= n; q++) {
        char text[64], id[64];
        record_text(text, sizeof text, 0, q);
        snprintf(id, sizeof id, "s0-%llu", (unsigned long long)q);
        double t = ak_now();
        if (ak_jlog_append(l, 0, text, strlen(text), id, NULL, NULL) != AKIDB_OK) {
            fprintf(stderr, "  append %s: %s\n", id, akidb_last_error());
            free(lat);
            return false;
        }
        lat[q - 1] = ak_now() - t;
    }
    double dt = ak_now() - t0;
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("bench: %s: %llu appends in %.2f s = %.0f/s; latency p50 %.2f ms, p99 %.2f ms, "
           "max %.2f ms\n", label, (unsigned long long)n, dt, (double)n / dt,
           lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3, lat[n - 1] * 1e3);
    free(lat);
    return true;
}

AKT_TEST(bench)
{
    uint64_t n = (uint64_t)env_long("AKIDB_JLOG_BENCH_N", 5000);
    int kills = (int)env_long("AKIDB_JLOG_BENCH_KILLS", 5);
    char all[256];
    AKT_TRUE(n >= 100 && kills >= 0 && kills <= 50);
    AKT_TRUE(trio_up(all, sizeof all));
    AKT_TRUE(meta_ready(trio[0].url, 30));
    ak_jlog *w[2] = { NULL, NULL };
    for (int i = 0; i < 2; i++) {
        ak_jlog_opts o = { .servers = all, .name = i ? "b3" : "b1", .shards = 1,
                           .replicas = i ? 3 : 1, .create = 1, .timeout_s = 30 };
        w[i] = open_retry(&o, 30);
        AKT_TRUE(w[i] != NULL);
        AKT_TRUE(bench_appends(w[i], i ? "3 replicas" : "1 replica", n));
    }
    seen sn;
    double t0 = ak_now();
    AKT_EQ_INT(read_all(w[1], 0, 1, &sn), n);
    AKT_TRUE(!sn.bad);
    printf("bench: read of 3 replicas: %llu records in %.3f s = %.0f/s\n",
           (unsigned long long)n, ak_now() - t0, (double)n / (ak_now() - t0));
    /* the stream leader killed under the writer, restarted, caught up */
    double stall[51];
    uint64_t at = n, step = 400;
    for (int k = 0; k <= kills; k++) {   /* the last round kills a follower */
        int v = -1;
        wstats ws;
        AKT_TRUE(append_kill(w[1], at + 1, at + step, at + step / 2, k == kills, &v, &ws));
        at += step;
        stall[k] = ws.max_s;
        printf("bench: kill %d: %s %s, longest append %.2f s, %u retries found their first "
               "try stored\n", k + 1, k == kills ? "follower" : "stream leader",
               trio[v].name, ws.max_s, ws.dups);
        fflush(stdout);
        AKT_TRUE(trio_start(v));
        ak_jlog_shard_info in;
        AKT_TRUE(wait_current(w[1], 0, 60, &in));
    }
    t0 = ak_now();
    AKT_EQ_INT(read_all(w[1], 0, 1, &sn), at);
    AKT_TRUE(!sn.bad);
    printf("bench: all %llu records read back once and in order (%.2f s)\n",
           (unsigned long long)at, ak_now() - t0);
    if (kills > 0) {
        qsort(stall, (size_t)kills, sizeof *stall, cmp_double);
        printf("bench: stall at a leader kill over %d kills: min %.2f s, median %.2f s, "
               "max %.2f s\n", kills, stall[0], stall[kills / 2], stall[kills - 1]);
    }
    ak_jlog_close(w[0]);
    ak_jlog_close(w[1]);
}

int main(int argc, char **argv)
{
    if (!natsrun_have()) {
        fprintf(stderr, "nats-server is not installed (apt-get install nats-server): skipped\n");
        return 77;
    }
    if (!natsrun_begin("jlog"))
        return 1;
    int ports[2];
    if (!free_ports(2, ports))
        return 1;
    nsrv_init(&one, "one", ports[0], ports[1]);
    if (!nsrv_start(&one, NULL))
        return 1;
    static const akt_case cases[] = { AKT_REG(single), AKT_REG(restart), AKT_REG(shape),
                                      AKT_REG(cluster) };
    static const akt_case bench[] = { AKT_REG(bench) };
    int rc = argc > 1 && strcmp(argv[1], "bench") == 0 ? akt_run(bench, 1, argc, argv)
                                                       : akt_run(cases, sizeof cases /
                                                                 sizeof *cases, argc, argv);
    natsrun_end(rc);
    return rc;
}
