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
 *
 * Exits 77 (skip) when nats-server is not installed (deps.sh --test
 * installs it).
 */
#include "akt.h"
#include "cluster/jlog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- nats-server processes ------------------------------------------------------ */

typedef struct nsrv {
    pid_t pid;
    int port, cport;
    char name[16], dir[256], url[64];
} nsrv;

static char tmp_root[] = "/tmp/akt-jlog-XXXXXX";
static nsrv *started[8];   /* stopped at exit, whatever a test left running */

/* n distinct free ports: the sockets stay bound until all are chosen, so
 * the kernel cannot hand out one of them twice. */
static bool free_ports(int n, int *out)
{
    int fds[8];
    bool ok = n <= 8;
    for (int i = 0; ok && i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        ok = fds[i] >= 0 && bind(fds[i], (struct sockaddr *)&a, sizeof a) == 0 &&
             getsockname(fds[i], (struct sockaddr *)&a, &len) == 0;
        out[i] = ntohs(a.sin_port);
        if (!ok && fds[i] >= 0)
            close(fds[i]);
        if (!ok)
            n = i;
    }
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return ok;
}

/* Sets s up as server name on the client and cluster ports port and cport,
 * its store under tmp_root. */
static void nsrv_init(nsrv *s, const char *name, int port, int cport)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->dir, sizeof s->dir, "%s/%s", tmp_root, name);
    mkdir(s->dir, 0700);
    s->port = port;
    s->cport = cport;
    snprintf(s->url, sizeof s->url, "nats://127.0.0.1:%d", s->port);
}

/* Starts s; routes (NULL: no cluster) are the other servers' cluster URLs. */
static bool nsrv_start(nsrv *s, const char *routes)
{
    char port[16], cluster[64], store[300], log[300];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(cluster, sizeof cluster, "nats://127.0.0.1:%d", s->cport);
    snprintf(store, sizeof store, "%s/js", s->dir);
    snprintf(log, sizeof log, "%s/server.log", s->dir);
    for (size_t i = 0; i < sizeof started / sizeof *started; i++)
        if (!started[i] || started[i] == s) {
            started[i] = s;
            break;
        }
    s->pid = fork();
    if (s->pid < 0)
        return false;
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (routes)
            execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd",
                   store, "-n", s->name, "--cluster_name", "akt", "--cluster", cluster,
                   "--routes", routes, (char *)NULL);
        else
            execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", port, "-sd",
                   store, "-n", s->name, (char *)NULL);
        _exit(127);
    }
    return true;
}

static void nsrv_stop(nsrv *s, int sig)
{
    if (s->pid > 0) {
        kill(s->pid, sig);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

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

static bool have_nats_server(void)
{
    return system("nats-server --version >/dev/null 2>&1") == 0;
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

int main(int argc, char **argv)
{
    if (!have_nats_server()) {
        fprintf(stderr, "nats-server is not installed (apt-get install nats-server): skipped\n");
        return 77;
    }
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    int ports[2];
    if (!free_ports(2, ports))
        return 1;
    nsrv_init(&one, "one", ports[0], ports[1]);
    if (!nsrv_start(&one, NULL))
        return 1;
    static const akt_case cases[] = { AKT_REG(single), AKT_REG(restart), AKT_REG(shape) };
    int rc = akt_run(cases, sizeof cases / sizeof *cases, argc, argv);
    for (size_t i = 0; i < sizeof started / sizeof *started; i++)
        if (started[i])
            nsrv_stop(started[i], SIGTERM);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_root);
    if (rc != 0)   /* the servers' logs tell why */
        fprintf(stderr, "server logs kept in %s\n", tmp_root);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
    return rc;
}
