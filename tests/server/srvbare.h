/*
 * srvbare.h - the fixture of the tests of the HTTP layer: an `akidb serve`
 * server started in-process without models, on an ephemeral loopback port,
 * over a data folder of its own, its log sent to /dev/null; and a raw
 * socket to it (st_conn_open, st_send_all) for the tests that speak HTTP
 * byte by byte.  Header-only,
 * like srvtest.h (which it uses).
 *
 *   ak_server_config c;
 *   st_srv_config(&c);             the common settings ...
 *   c.idle_timeout_s = 3;          ... and the test's own
 *   st_srv f;
 *   if (!st_srv_start(&f, "tag", NULL, &c)) ...
 *   st_srv_down(&f);               stops it and removes the folder
 */
#ifndef AKIDB_SRVBARE_H
#define AKIDB_SRVBARE_H

#include "akt.h"
#include "akidb.h"
#include "server/server.h"
#include "server/srvtest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct st_srv {
    char *data;
    ak_server *s;
    int port;
} st_srv;

static inline FILE *st_quiet_log(void)
{
    static FILE *f;
    if (!f)
        f = fopen("/dev/null", "w");
    return f;
}

/* The defaults with what every test of this kind sets: no model folder
 * scan, no fsync, a quiet log, a 5 s drain.  data_dir and port are
 * st_srv_start's. */
static inline void st_srv_config(ak_server_config *c)
{
    ak_server_config_defaults(c);
    c->port = 0;
    c->scan_models_dir = 0;
    c->sync_none = 1;
    c->log = st_quiet_log();
    c->drain_timeout_s = 5;
}

/* Starts c over data (a new folder named after tag when NULL; the fixture
 * owns it either way and removes it in st_srv_down). */
static inline bool st_srv_start(st_srv *f, const char *tag, char *data, ak_server_config *c)
{
    memset(f, 0, sizeof *f);
    f->data = data ? data : st_tmpdir(tag);
    c->data_dir = f->data;
    c->port = 0;
    if (ak_server_start(c, &f->s) != AKIDB_OK) {
        fprintf(stderr, "  server start: %s\n", akidb_last_error());
        return false;
    }
    f->port = ak_server_port(f->s);
    return true;
}

static inline void st_srv_down(st_srv *f)
{
    AKT_OK(ak_server_stop(f->s));
    st_rmtree(f->data);
}

/* A TCP connection to the loopback port, or -1. */
static inline int st_conn_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends all n bytes of p on fd; false when the peer is gone. */
static inline bool st_send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

#endif /* AKIDB_SRVBARE_H */
