/*
 * test_members.c - cluster membership (src/cluster/members.c) against real
 * nats-server processes with JetStream on loopback:
 *
 *   basic     two nodes join one server: each lists both with their URLs
 *             and shards (itself marked), a node's applied numbers reach
 *             the other with its next heartbeat, a node that leaves is gone
 *             from the other's list at once
 *   dead      a node in another process (this binary, run as a child) joins
 *             and is killed with SIGKILL, never leaving: it drops out of the
 *             list once its last heartbeat is older than the ttl, while the
 *             node that lists keeps itself live by its own heartbeats
 *   progress  a node with a progress callback: every heartbeat publishes
 *             the numbers the callback gives at that moment (no
 *             ak_members_set_applied), and the other node sees them change
 *   config    a node whose shard or replica count differs from the
 *             cluster's config key: AKIDB_EINVAL naming both values
 *   bad       bad node ids, URLs, names, counts, held shards: AKIDB_EINVAL
 *   noserver  nothing listening at the address: AKIDB_EIO naming it, fast
 *   trio      three clustered servers, a bucket of three replicas: its
 *             stream leader is killed; the list still answers, and a change
 *             of applied numbers still travels from one node to the other
 *
 * Exits 77 (skip) when nats-server is not installed.
 */
#include "akt.h"
#include "cluster/members.h"
#include "natsrun.h"

#include <stdatomic.h>

static nsrv one;

/* Joins, retrying while a server starts (JetStream answers "temporarily
 * unavailable" until its cluster has a leader). */
static ak_members *join_retry(const ak_members_opts *o, double wait_s)
{
    double until = ak_now() + wait_s;
    ak_members *m = NULL;
    akidb_status st;
    while ((st = ak_members_join(o, &m)) != AKIDB_OK && ak_now() < until)
        usleep(200 * 1000);
    if (st != AKIDB_OK)
        fprintf(stderr, "  join: %s\n", akidb_last_error());
    return m;
}

/* The entry of id in l, NULL when it is not there. */
static const ak_member *find(const ak_member_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].id, id) == 0)
            return &l->items[i];
    return NULL;
}

/* What m's list says of id, polled until it is (want_present) or is not
 * there, with applied[0] == want_applied when that is not 0; false when
 * wait_s passes first. */
static bool wait_for(ak_members *m, const char *id, bool want_present, uint64_t want_applied,
                     double wait_s)
{
    double until = ak_now() + wait_s;
    do {
        ak_member_list l;
        if (ak_members_list(m, &l) != AKIDB_OK)
            return false;
        const ak_member *it = find(&l, id);
        bool ok = want_present ? it && (!want_applied ||
                                        (it->n_shards && it->applied[0] == want_applied))
                               : !it;
        ak_member_list_free(&l);
        if (ok)
            return true;
        usleep(50 * 1000);
    } while (ak_now() < until);
    return false;
}

AKT_TEST(basic)
{
    unsigned held_a[2] = { 0, 1 }, held_b[1] = { 2 };
    ak_members_opts oa = { .servers = one.url, .name = "basic", .shards = 3, .replicas = 1,
                           .node_id = "node-a", .url = "http://127.0.0.1:7001",
                           .held = held_a, .n_held = 2, .ttl_s = 3 };
    ak_members_opts ob = oa;
    ob.node_id = "node-b";
    ob.url = "http://127.0.0.1:7002";
    ob.held = held_b;
    ob.n_held = 1;
    ak_members *a = join_retry(&oa, 20), *b = join_retry(&ob, 20);
    AKT_TRUE(a && b);
    /* b saw a's key when it joined; a learns of b through its watch */
    AKT_TRUE(wait_for(a, "node-b", true, 0, 3));
    ak_member_list l;
    AKT_OK(ak_members_list(b, &l));
    AKT_EQ_INT(l.n, 2);
    AKT_EQ_STR(l.items[0].id, "node-a");   /* ordered by id */
    AKT_EQ_STR(l.items[0].url, "http://127.0.0.1:7001");
    AKT_EQ_INT(l.items[0].n_shards, 2);
    AKT_EQ_INT(l.items[0].shards[0], 0);
    AKT_EQ_INT(l.items[0].shards[1], 1);
    AKT_EQ_INT(l.items[0].self, 0);
    AKT_LE(l.items[0].age_s, 3);
    AKT_EQ_STR(l.items[1].id, "node-b");
    AKT_EQ_STR(l.items[1].url, "http://127.0.0.1:7002");
    AKT_EQ_INT(l.items[1].n_shards, 1);
    AKT_EQ_INT(l.items[1].shards[0], 2);
    AKT_EQ_INT(l.items[1].applied[0], 0);
    AKT_EQ_INT(l.items[1].self, 1);
    ak_member_list_free(&l);
    AKT_OK(ak_members_list(a, &l));
    AKT_EQ_INT(l.n, 2);
    AKT_EQ_INT(find(&l, "node-a")->self, 1);
    AKT_EQ_INT(find(&l, "node-b")->self, 0);
    ak_member_list_free(&l);
    /* applied numbers travel with the next heartbeat (every ttl/3 = 1 s) */
    uint64_t ap[1] = { 4242 };
    ak_members_set_applied(b, ap, 1);
    AKT_TRUE(wait_for(a, "node-b", true, 4242, 3));
    uint64_t ap_a[2] = { 7, 9 };
    ak_members_set_applied(a, ap_a, 2);
    AKT_TRUE(wait_for(b, "node-a", true, 7, 3));
    AKT_OK(ak_members_list(b, &l));
    AKT_EQ_INT(find(&l, "node-a")->applied[1], 9);
    ak_member_list_free(&l);
    /* leaving deletes the key: gone from a's list well before ttl */
    double t0 = ak_now();
    ak_members_leave(b);
    AKT_TRUE(wait_for(a, "node-b", false, 0, 2));
    AKT_LE(ak_now() - t0, 2);
    AKT_OK(ak_members_list(a, &l));
    AKT_EQ_INT(l.n, 1);
    AKT_EQ_STR(l.items[0].id, "node-a");
    ak_member_list_free(&l);
    ak_members_leave(a);
}

/* A progress callback: shard held[i] is applied up to base + i, where
 * base grows by 10 on every call. */
static _Atomic uint64_t g_progress_calls;

static void fake_progress(void *ctx, uint64_t *applied, size_t n)
{
    uint64_t base = *(uint64_t *)ctx;
    uint64_t calls = ++g_progress_calls;
    for (size_t i = 0; i < n; i++)
        applied[i] = base + 10 * calls + i;
}

AKT_TEST(progress)
{
    unsigned held_a[2] = { 0, 1 }, held_b[1] = { 1 };
    uint64_t base = 1000;
    ak_members_opts oa = { .servers = one.url, .name = "prog", .shards = 2, .replicas = 1,
                           .node_id = "pa", .url = "http://127.0.0.1:7011", .held = held_a,
                           .n_held = 2, .ttl_s = 1.5, .progress = fake_progress,
                           .progress_ctx = &base };
    ak_members_opts ob = oa;
    ob.node_id = "pb";
    ob.url = "http://127.0.0.1:7012";
    ob.held = held_b;
    ob.n_held = 1;
    ob.progress = NULL;
    ak_members *a = join_retry(&oa, 20), *b = join_retry(&ob, 20);
    AKT_TRUE(a && b);
    /* b sees a's applied numbers move with a's heartbeats (every 0.5 s),
     * each one what the callback said at that heartbeat */
    uint64_t first = 0, later = 0;
    for (double until = ak_now() + 6; ak_now() < until && !later; usleep(50 * 1000)) {
        ak_member_list l;
        AKT_OK(ak_members_list(b, &l));
        const ak_member *it = find(&l, "pa");
        if (it && it->n_shards == 2 && it->applied[0] > base) {
            AKT_EQ_INT(it->applied[1], it->applied[0] + 1);
            AKT_EQ_INT((it->applied[0] - base) % 10, 0);
            if (!first)
                first = it->applied[0];
            else if (it->applied[0] > first)
                later = it->applied[0];
        }
        ak_member_list_free(&l);
    }
    AKT_TRUE(first > base);
    AKT_TRUE(later > first);
    AKT_TRUE(g_progress_calls >= 2);
    ak_members_leave(a);
    ak_members_leave(b);
}

/* A child process (this binary with --child) that joins as id and then
 * waits to be killed; *pid is its process id. */
static bool child_join(const char *name, const char *id, pid_t *pid)
{
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    *pid = fork();
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        execl("/proc/self/exe", "test_members", "--child", one.url, name, id, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[16] = "";
    ssize_t got = *pid > 0 ? read(fds[0], buf, sizeof buf - 1) : -1;
    close(fds[0]);
    return got > 0 && strncmp(buf, "joined", 6) == 0;
}

static int child_main(char **argv)
{
    unsigned held[1] = { 1 };
    ak_members_opts o = { .servers = argv[2], .name = argv[3], .shards = 2, .replicas = 1,
                          .node_id = argv[4], .url = "http://127.0.0.1:7100", .held = held,
                          .n_held = 1, .ttl_s = 1.5 };
    ak_members *m = join_retry(&o, 20);
    if (!m)
        return 1;
    printf("joined\n");
    fflush(stdout);
    for (;;)
        pause();
}

AKT_TEST(dead)
{
    unsigned held[1] = { 0 };
    ak_members_opts o = { .servers = one.url, .name = "dead", .shards = 2, .replicas = 1,
                          .node_id = "alive", .url = "http://127.0.0.1:7200", .held = held,
                          .n_held = 1, .ttl_s = 1.5 };
    ak_members *m = join_retry(&o, 20);
    AKT_TRUE(m);
    pid_t pid = 0;
    bool joined = child_join("dead", "doomed", &pid);
    if (!joined && pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    AKT_TRUE(joined);
    AKT_TRUE(wait_for(m, "doomed", true, 0, 2));
    /* still there a while later: its heartbeats keep it live */
    usleep(2000 * 1000);
    AKT_TRUE(wait_for(m, "doomed", true, 0, 0.1));
    double t0 = ak_now();
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    /* its key stays, but its time gets older than ttl */
    AKT_TRUE(wait_for(m, "doomed", false, 0, 1.5 + 2));
    AKT_LE(ak_now() - t0, 1.5 + 2);
    /* this node, its heartbeat running, stays live through several ttls */
    usleep(3500 * 1000);
    ak_member_list l;
    AKT_OK(ak_members_list(m, &l));
    AKT_EQ_INT(l.n, 1);
    AKT_EQ_STR(l.items[0].id, "alive");
    AKT_LE(l.items[0].age_s, 1.5);
    ak_member_list_free(&l);
    ak_members_leave(m);
}

AKT_TEST(config)
{
    ak_members_opts o = { .servers = one.url, .name = "cfg", .shards = 4, .replicas = 1,
                          .node_id = "first", .url = "http://127.0.0.1:7300" };
    ak_members *m = join_retry(&o, 20);
    AKT_TRUE(m);
    ak_members_opts o2 = o;
    o2.node_id = "second";
    o2.shards = 8;
    ak_members *m2 = NULL;
    AKT_STATUS(ak_members_join(&o2, &m2), AKIDB_EINVAL);
    AKT_TRUE(m2 == NULL);
    AKT_CONTAINS(akidb_last_error(), "has 4 shards and 1 replicas");
    AKT_CONTAINS(akidb_last_error(), "with 8 shards and 1 replicas");
    AKT_CONTAINS(akidb_last_error(), "akidb_cfg");
    o2.shards = 4;
    o2.replicas = 2;
    AKT_STATUS(ak_members_join(&o2, &m2), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "with 4 shards and 2 replicas");
    /* the same settings join */
    o2.replicas = 1;
    AKT_OK(ak_members_join(&o2, &m2));
    AKT_TRUE(wait_for(m, "second", true, 0, 3));
    ak_members_leave(m2);
    ak_members_leave(m);
}

AKT_TEST(bad)
{
    unsigned held[2] = { 0, 0 }, far[1] = { 9 };
    ak_members_opts good = { .servers = one.url, .name = "bad", .shards = 4, .replicas = 1,
                             .node_id = "n1", .url = "http://127.0.0.1:7400" };
    char long_id[AK_MEMBERS_ID_MAX + 2];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    const char *ids[] = { "", "a b", "a.b", "a/b", "n\xc3\xa9", long_id, NULL };
    ak_members *m = NULL;
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        ak_members_opts o = good;
        o.node_id = ids[i];
        AKT_STATUS(ak_members_join(&o, &m), AKIDB_EINVAL);
        AKT_CONTAINS(akidb_last_error(), "node id");
        AKT_TRUE(m == NULL);
    }
    const char *urls[] = { "", "127.0.0.1:7400", "ftp://h", "http://", "http://a b",
                           "http://a\"b", NULL };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        ak_members_opts o = good;
        o.url = urls[i];
        AKT_STATUS(ak_members_join(&o, &m), AKIDB_EINVAL);
        AKT_CONTAINS(akidb_last_error(), "node URL");
    }
    ak_members_opts o = good;
    o.name = "a.b";
    AKT_STATUS(ak_members_join(&o, &m), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "cluster name");
    o = good;
    o.shards = 0;
    AKT_STATUS(ak_members_join(&o, &m), AKIDB_EINVAL);
    o = good;
    o.replicas = 6;
    AKT_STATUS(ak_members_join(&o, &m), AKIDB_EINVAL);
    o = good;
    o.held = far;
    o.n_held = 1;
    AKT_STATUS(ak_members_join(&o, &m), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "held shard 9");
    o.held = held;
    o.n_held = 2;
    AKT_STATUS(ak_members_join(&o, &m), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "twice");
    AKT_TRUE(m == NULL);
}

AKT_TEST(noserver)
{
    int port[1];
    AKT_TRUE(free_ports(1, port));
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", port[0]);
    ak_members_opts o = { .servers = url, .name = "none", .shards = 1, .replicas = 1,
                          .node_id = "n1", .url = "http://127.0.0.1:7500", .timeout_s = 2 };
    ak_members *m = NULL;
    double t0 = ak_now();
    AKT_STATUS(ak_members_join(&o, &m), AKIDB_EIO);
    AKT_LE(ak_now() - t0, 5);
    AKT_TRUE(m == NULL);
    AKT_CONTAINS(akidb_last_error(), url);
    AKT_CONTAINS(akidb_last_error(), "connecting to NATS");
    AKT_CONTAINS(akidb_last_error(), "akidb_none");
}

/* The server leading stream's Raft group, -1 when none answers. */
static int stream_leader(const char *servers, const char *stream)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    int who = -1;
    natsOptions *no = NULL;
    natsOptions_Create(&no);
    natsOptions_SetURL(no, servers);
    if (natsConnection_Connect(&nc, no) == NATS_OK &&
        natsConnection_JetStream(&js, nc, NULL) == NATS_OK &&
        js_GetStreamInfo(&si, js, stream, NULL, NULL) == NATS_OK && si->Cluster &&
        si->Cluster->Leader)
        who = trio_index(si->Cluster->Leader);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(no);
    return who;
}

AKT_TEST(trio)
{
    char all[256];
    AKT_TRUE(trio_up(all, sizeof all));
    AKT_TRUE(meta_ready(trio[0].url, 30));
    char rev[256];
    snprintf(rev, sizeof rev, "%s,%s,%s", trio[2].url, trio[1].url, trio[0].url);
    unsigned held[1] = { 0 };
    /* a ttl longer than a stream leader's election: the nodes stay live
     * while their heartbeats wait for the new leader */
    ak_members_opts ox = { .servers = all, .name = "trio", .shards = 1, .replicas = 3,
                           .node_id = "x", .url = "http://127.0.0.1:7601", .held = held,
                           .n_held = 1, .ttl_s = 15, .timeout_s = 20 };
    ak_members_opts oy = ox;
    oy.servers = rev;
    oy.node_id = "y";
    oy.url = "http://127.0.0.1:7602";
    ak_members *x = join_retry(&ox, 30), *y = join_retry(&oy, 30);
    AKT_TRUE(x && y);
    AKT_TRUE(wait_for(x, "y", true, 0, 10));
    AKT_TRUE(wait_for(y, "x", true, 0, 10));
    int v = stream_leader(trio[0].url, "KV_akidb_trio");
    AKT_TRUE(v >= 0);
    nsrv_stop(&trio[v], SIGKILL);
    /* the list is local: it answers at once, both nodes in it */
    double t0 = ak_now();
    ak_member_list l;
    AKT_OK(ak_members_list(x, &l));
    AKT_LE(ak_now() - t0, 0.1);
    AKT_EQ_INT(l.n, 2);
    ak_member_list_free(&l);
    /* y's next applied numbers reach x once the bucket has a new leader */
    uint64_t ap[1] = { 77 };
    ak_members_set_applied(y, ap, 1);
    AKT_TRUE(wait_for(x, "y", true, 77, 30));
    uint64_t ap2[1] = { 78 };
    ak_members_set_applied(x, ap2, 1);
    AKT_TRUE(wait_for(y, "x", true, 78, 30));
    fprintf(stderr, "  server %s (bucket leader) killed: applied numbers travel again after "
            "%.1f s\n", trio[v].name, ak_now() - t0);
    ak_members_leave(y);
    AKT_TRUE(wait_for(x, "y", false, 0, 10));
    ak_members_leave(x);
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--child") == 0)
        return child_main(argv);
    if (!natsrun_have()) {
        fprintf(stderr, "nats-server is not installed (apt-get install nats-server): skipped\n");
        return 77;
    }
    if (!natsrun_begin("members"))
        return 1;
    int ports[2];
    if (!free_ports(2, ports))
        return 1;
    nsrv_init(&one, "one", ports[0], ports[1]);
    if (!nsrv_start(&one, NULL))
        return 1;
    static const akt_case cases[] = { AKT_REG(basic), AKT_REG(progress), AKT_REG(dead), AKT_REG(config),
                                      AKT_REG(bad),   AKT_REG(noserver), AKT_REG(trio) };
    int rc = akt_run(cases, sizeof cases / sizeof *cases, argc, argv);
    natsrun_end(rc);
    return rc;
}
