/*
 * hold.c - a crowd of idle and slow connections for the hostile-load
 * benchmark (bench/load/hostile.sh): opens --conns connections to a
 * loopback port; a --slow share of them sends the start of a request
 * header one byte per second and never finishes it ("slowloris"), the rest
 * send nothing.  It keeps them for --seconds, then prints one JSON object:
 * how many connected, how many the server closed (and how long those had
 * been open: median and longest), and how many were still open at the end.
 * With --reconnect 1 a connection the server closed is opened again at
 * once (and starts its header again), so the crowd stays at --conns
 * against a server that cuts slow clients (akidb serve --header-timeout).
 *
 *   cc -O2 -o hold bench/load/hold.c
 *   hold --port 8080 --conns 10000 --slow 0.5 --seconds 40 [--reconnect 1]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int open_conn(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int port = 8080, conns = 10000;
    double slow = 0.5, seconds = 40;
    int reconnect = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--conns")) conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--slow")) slow = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--reconnect")) reconnect = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "hold: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)conns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)conns + 64 ? rl.rlim_max : (rlim_t)conns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct pollfd *p = calloc((size_t)conns, sizeof *p);
    double *opened_at = calloc((size_t)conns, sizeof *opened_at);
    /* lifetimes of the connections the server closed (several per slot
     * with --reconnect) */
    size_t n_life = 0, cap_life = (size_t)conns;
    double *life = calloc(cap_life, sizeof *life);
    int *sent = calloc((size_t)conns, sizeof *sent);
    int reopened = 0;
    static const char head[] = "POST /api/v1/collections/c/search HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    int connected = 0, failed = 0;
    double t0 = now();
    for (int i = 0; i < conns; i++) {
        p[i].fd = open_conn(port);
        p[i].events = POLLIN;
        opened_at[i] = now();
        if (p[i].fd < 0)
            failed++;
        else
            connected++;
    }
    double opened = now() - t0;
    int n_slow = (int)(slow * conns);
    double next_tick = now();
    while (now() - t0 < seconds) {
        if (now() >= next_tick) {   /* one more byte on every slow one */
            for (int i = 0; i < n_slow; i++) {
                if (p[i].fd < 0)
                    continue;
                char c = sent[i] < (int)sizeof head - 1 ? head[sent[i]] : 'x';
                if (send(p[i].fd, &c, 1, MSG_NOSIGNAL) == 1)
                    sent[i]++;
            }
            next_tick += 1.0;
        }
        int r = poll(p, (nfds_t)conns, 100);
        if (r <= 0)
            continue;
        for (int i = 0; i < conns; i++) {
            if (p[i].fd < 0 || !p[i].revents)
                continue;
            char buf[4096];
            ssize_t k = recv(p[i].fd, buf, sizeof buf, 0);
            if (k == 0 || (k < 0 && errno != EAGAIN)) {
                if (n_life == cap_life) {
                    cap_life *= 2;
                    life = realloc(life, cap_life * sizeof *life);
                }
                life[n_life++] = now() - opened_at[i];
                close(p[i].fd);
                p[i].fd = reconnect ? open_conn(port) : -1;
                opened_at[i] = now();
                sent[i] = 0;
                reopened += p[i].fd >= 0;
            }
            p[i].revents = 0;
        }
    }
    int open_end = 0;
    for (int i = 0; i < conns; i++) {
        if (p[i].fd >= 0) {
            open_end++;
            close(p[i].fd);
        }
    }
    qsort(life, n_life, sizeof *life, cmp_d);
    printf("{\"conns\": %d, \"slow\": %d, \"connected\": %d, \"connect_failed\": %d, "
           "\"open_seconds\": %.2f, \"closed_by_server\": %zu, \"closed_median_s\": %.1f, "
           "\"closed_max_s\": %.1f, \"reopened\": %d, \"open_at_end\": %d, "
           "\"seconds\": %.0f}\n",
           conns, n_slow, connected, failed, opened, n_life,
           n_life ? life[n_life / 2] : 0.0, n_life ? life[n_life - 1] : 0.0, reopened,
           open_end, seconds);
    return 0;
}
