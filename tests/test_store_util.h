/*
 * test_store_util.h - helpers shared by the store tests: temporary store
 * directories, deterministic random numbers and vectors, quick-mode sizing.
 */
#ifndef TEST_STORE_UTIL_H
#define TEST_STORE_UTIL_H

#include "akidb_store.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static __attribute__((unused)) int tsu_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

/* Removes a directory tree (ignores errors). */
static __attribute__((unused)) void tsu_rmrf(const char *dir)
{
    nftw(dir, tsu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates a fresh temporary directory; returns a static-free heap string. */
static char *tsu_tmpdir(const char *tag)
{
    char tmpl[256];
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpl, sizeof tmpl, "%s/akidb-%s-XXXXXX", base, tag);
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        abort();
    }
    return strdup(d);
}

static __attribute__((unused)) int tsu_quick(void)
{
    const char *q = getenv("AKIDB_TEST_QUICK");
    return q && q[0] == '1';
}

typedef struct tsu_rng {
    uint64_t s;
} tsu_rng;

static __attribute__((unused)) uint64_t tsu_next(tsu_rng *r)
{
    uint64_t x = r->s += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static __attribute__((unused)) double tsu_unif(tsu_rng *r)
{
    return (double)(tsu_next(r) >> 11) / 9007199254740992.0;
}

static __attribute__((unused)) uint32_t tsu_below(tsu_rng *r, uint32_t n)
{
    return (uint32_t)(tsu_next(r) % n);
}

static __attribute__((unused)) float tsu_gauss(tsu_rng *r)
{
    double u = tsu_unif(r), v = tsu_unif(r);
    if (u < 1e-12)
        u = 1e-12;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static __attribute__((unused)) void tsu_vec(tsu_rng *r, float *v, size_t dim)
{
    for (size_t i = 0; i < dim; i++)
        v[i] = tsu_gauss(r);
}

static __attribute__((unused)) akidb_store_opts tsu_fast_opts(void)
{
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.sync = AKIDB_SYNC_NONE;
    return o;
}

static __attribute__((unused)) void tsu_quiet_log(void *ctx, akidb_log_level lvl, const char *msg)
{
    (void)ctx; (void)lvl; (void)msg;
}

#endif
