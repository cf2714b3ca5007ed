/*
 * seg_wa.c - write amplification of the store's snapshots with and without
 * sealed segments: ingests N points (batches, automatic snapshots by WAL
 * size) into a fresh store and reports the bytes the process wrote
 * (/proc/self/io: wchar, the bytes handed to write(), and write_bytes, what
 * reached the block layer) per byte of point data ingested.
 *
 *   akidb_bench_segwa [--n N] [--dim D] [--batch B] [--wal-mib M]
 *                     [--seal P] [--max-segs K] [--dir DIR]
 * --seal 0 turns sealing off (every snapshot rewrites the collection);
 * --max-segs is the compaction's segment count (0: the store's default).
 */
#include "akidb_store.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void io_counts(uint64_t *wchar, uint64_t *wbytes)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    *wchar = *wbytes = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "wchar: %llu", &v) == 1)
            *wchar = v;
        else if (sscanf(line, "write_bytes: %llu", &v) == 1)
            *wbytes = v;
    }
    if (f)
        fclose(f);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, akidb_last_error());
    exit(1);
}

int main(int argc, char **argv)
{
    size_t n = 100000, dim = 64, batch = 1000, wal_mib = 8;
    uint64_t seal = 16384;
    size_t max_segs = 0;
    const char *dir = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n"))
            n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dim"))
            dim = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--batch"))
            batch = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--wal-mib"))
            wal_mib = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seal"))
            seal = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--max-segs"))
            max_segs = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
    }
    char tmpl[] = "/tmp/akidb-segwa-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmpl))) {
        perror("mkdtemp");
        return 1;
    }
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.sync = AKIDB_SYNC_NONE;
    o.snapshot_wal_bytes = (uint64_t)wal_mib << 20;
    o.seal_points = seal ? seal : UINT64_MAX;
    o.compact_max_segments = max_segs;
    akidb_store *s;
    if (akidb_store_open(dir, &o, &s) != AKIDB_OK)
        die("open");
    akidb_collection_opts co = {.dim = (uint32_t)dim,
                                .metric = AKIDB_METRIC_COSINE,
                                .hnsw_m = 16,
                                .hnsw_ef_construction = 100};
    if (akidb_tenant_create(s, "t") != AKIDB_OK || akidb_collection_create(s, "t", "c", &co))
        die("create");
    float *v = malloc(batch * dim * sizeof *v);
    akidb_point_in *in = calloc(batch, sizeof *in);
    char(*ids)[24] = malloc(batch * 24), (*pl)[48] = malloc(batch * 48);
    uint64_t seed = 42, ingested = 0, c0, b0, c1, b1;
    io_counts(&c0, &b0);
    double t0 = now_s();
    for (size_t a = 0; a < n; a += batch) {
        size_t m = n - a < batch ? n - a : batch;
        for (size_t k = 0; k < m; k++) {
            for (size_t d = 0; d < dim; d++)
                v[k * dim + d] = (float)((double)(rng(&seed) >> 11) / 9007199254740992.0 - 0.5);
            snprintf(ids[k], 24, "%zu", a + k);
            snprintf(pl[k], 48, "{\"g\":%zu}", (a + k) % 97);
            in[k] = (akidb_point_in){ ids[k], v + k * dim, NULL, pl[k] };
            ingested += dim * 4 + strlen(ids[k]) + strlen(pl[k]);
        }
        if (akidb_points_upsert(s, "t", "c", in, NULL, m) != AKIDB_OK)
            die("upsert");
    }
    double t1 = now_s();
    if (akidb_store_close(s) != AKIDB_OK) /* waits for the snapshot in progress, writes the last */
        die("close");
    io_counts(&c1, &b1);
    printf("seal=%s max-segs=%zu n=%zu dim=%zu batch=%zu wal=%zu MiB: ingested %.1f MiB in %.1f s; "
           "written %.1f MiB (wchar), %.1f MiB (write_bytes); amplification %.2f (wchar), "
           "%.2f (write_bytes)\n",
           seal ? "on" : "off", max_segs, n, dim, batch, wal_mib, ingested / 1048576.0, t1 - t0,
           (c1 - c0) / 1048576.0, (b1 - b0) / 1048576.0, (double)(c1 - c0) / (double)ingested,
           (double)(b1 - b0) / (double)ingested);
    free(v);
    free(in);
    free(ids);
    free(pl);
    if (dir == tmpl) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
