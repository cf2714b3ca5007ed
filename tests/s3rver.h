/*
 * s3rver.h - an S3 server on loopback for the tests that need a bucket
 * (test_s3.c, test_store_backup.c): npm s3rver, run by
 * tests/ref/s3rver_run.mjs with a scratch folder and one bucket, found in
 * $AKIDB_TOKREF_DIR (else tests/ref/node_modules), stopped at the end.  The
 * server stops by itself when its stdin closes, so a crashed test leaves
 * none behind.  s3rver accepts the access key id S3RVER only and does not
 * check SigV4 signatures.  Header-only (static inline functions).
 */
#ifndef AKIDB_TEST_S3RVER_H
#define AKIDB_TEST_S3RVER_H

#include "akt.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct akt_s3rver {
    pid_t pid;
    int port;
    int stdin_fd;
    char modules[PATH_MAX];   /* the node_modules folder it runs from */
} akt_s3rver;

static inline const char *akt_s3rver_src(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

/* NULL when s3rver can run (s->modules set), else why not. */
static inline const char *akt_s3rver_missing(akt_s3rver *s)
{
    static char why[PATH_MAX + 128];
    const char *tr = getenv("AKIDB_TOKREF_DIR");
    if (tr && !*tr)
        return "AKIDB_TOKREF_DIR is empty";
    if (tr)
        snprintf(s->modules, sizeof s->modules, "%s", tr);
    else
        snprintf(s->modules, sizeof s->modules, "%s/tests/ref/node_modules", akt_s3rver_src());
    char pkg[PATH_MAX + 64];
    snprintf(pkg, sizeof pkg, "%s/s3rver/package.json", s->modules);
    if (system("node --version > /dev/null 2>&1") != 0)
        return "node is not installed";
    if (access(pkg, R_OK) != 0) {
        snprintf(why, sizeof why, "s3rver is not in %s (cd tests/ref && npm install "
                 "--ignore-scripts)", s->modules);
        return why;
    }
    return NULL;
}

/* Starts s3rver with bucket in a scratch folder under akt_tmpdir(tag);
 * false (with a message) if it does not come up within 20 s. */
static inline bool akt_s3rver_start(akt_s3rver *s, const char *bucket, const char *tag)
{
    char dir[PATH_MAX], script[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/s3rver", akt_tmpdir(tag));
    mkdir(dir, 0700);
    snprintf(script, sizeof script, "%s/tests/ref/s3rver_run.mjs", akt_s3rver_src());
    int in[2], out[2];
    s->pid = -1;
    s->stdin_fd = -1;
    if (pipe(in) != 0 || pipe(out) != 0)
        return false;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        /* s3rver's continuation tokens use DES, in OpenSSL 3's legacy provider */
        execlp("node", "node", "--openssl-legacy-provider", script, dir, bucket, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    char line[128] = "";
    size_t n = 0;
    struct pollfd p = { out[0], POLLIN, 0 };
    while (n + 1 < sizeof line && !strchr(line, '\n') && poll(&p, 1, 20000) > 0) {
        ssize_t k = read(out[0], line + n, sizeof line - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
        line[n] = '\0';
    }
    close(out[0]);
    if (sscanf(line, "PORT %d", &s->port) != 1) {
        fprintf(stderr, "s3rver did not start (said '%s')\n", line);
        return false;
    }
    fprintf(stderr, "s3rver on 127.0.0.1:%d\n", s->port);
    return true;
}

static inline void akt_s3rver_stop(akt_s3rver *s)
{
    if (s->stdin_fd >= 0)
        close(s->stdin_fd);
    s->stdin_fd = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = -1;
}

#endif /* AKIDB_TEST_S3RVER_H */
