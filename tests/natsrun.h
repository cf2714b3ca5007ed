/*
 * natsrun.h - nats-server processes for the cluster tests (test_jlog.c and
 * the tests of what is built on the write log): free loopback ports, one
 * server or three clustered ones ("trio") with JetStream, each store under
 * a temporary folder, every server killed with the test however it ends
 * (PR_SET_PDEATHSIG) and stopped at natsrun_end.  Header-only (static
 * functions): each test binary stays a single translation unit.
 *
 * Use: natsrun_have() (else exit 77), natsrun_begin("name"), start servers,
 * run the cases, natsrun_end(rc) (removes the folder unless rc != 0: the
 * servers' logs tell why).
 */
#ifndef AKIDB_NATSRUN_H
#define AKIDB_NATSRUN_H

#include "akt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


typedef struct nsrv {
    pid_t pid;
    int port, cport;
    char name[16], dir[256], url[64];
} nsrv;

static char tmp_root[64] = "/tmp/akt-nats-XXXXXX"; /* natsrun_begin names it */
static nsrv *started[8];   /* stopped at exit, whatever a test left running */
static pid_t test_pid;

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
        /* killed with the test process, however it ends */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != test_pid)
            _exit(127);
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

static bool natsrun_have(void)
{
    return system("nats-server --version >/dev/null 2>&1") == 0;
}

static nsrv trio[3];

/* Starts trio[i] with routes to the other two. */
static bool trio_start(int i)
{
    char routes[128];
    snprintf(routes, sizeof routes, "nats://127.0.0.1:%d,nats://127.0.0.1:%d",
             trio[(i + 1) % 3].cport, trio[(i + 2) % 3].cport);
    return nsrv_start(&trio[i], routes);
}

/* Makes the three (n0, n1, n2) and starts them; *all is their client URLs. */
static bool trio_up(char *all, size_t cap)
{
    int ports[6];
    if (!free_ports(6, ports))
        return false;
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%d", i);
        nsrv_init(&trio[i], name, ports[i], ports[3 + i]);
        if (!trio_start(i))
            return false;
    }
    snprintf(all, cap, "%s,%s,%s", trio[0].url, trio[1].url, trio[2].url);
    return true;
}

static int trio_index(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(trio[i].name, name) == 0)
            return i;
    return -1;
}

/* Waits up to wait_s until the JetStream meta leader exists: the account's
 * JetStream information is answered by it alone. */
static bool meta_ready(const char *url, double wait_s)
{
    double until = ak_now() + wait_s;
    while (ak_now() < until) {
        natsConnection *nc = NULL;
        jsCtx *js = NULL;
        natsStatus s = natsConnection_ConnectTo(&nc, url);
        if (s == NATS_OK)
            s = natsConnection_JetStream(&js, nc, NULL);
        if (s == NATS_OK) {
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.Wait = 1000;
            jsAccountInfo *ai = NULL;
            s = js_GetAccountInfo(&ai, js, &jo, NULL);
            jsAccountInfo_Destroy(ai);
        }
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        if (s == NATS_OK)
            return true;
        usleep(200 * 1000);
    }
    return false;
}

/* Makes the temporary folder /tmp/akt-NAME-XXXXXX; false (and a message)
 * when it cannot. */
static bool natsrun_begin(const char *name)
{
    test_pid = getpid();
    snprintf(tmp_root, sizeof tmp_root, "/tmp/akt-%s-XXXXXX", name);
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return false;
    }
    return true;
}

/* Stops every server still running; removes the folder when rc is 0. */
static void natsrun_end(int rc)
{
    for (size_t i = 0; i < sizeof started / sizeof *started; i++)
        if (started[i])
            nsrv_stop(started[i], SIGTERM);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp_root);
    if (rc != 0)
        fprintf(stderr, "server logs kept in %s\n", tmp_root);
    else if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp_root);
}

#endif /* AKIDB_NATSRUN_H */
