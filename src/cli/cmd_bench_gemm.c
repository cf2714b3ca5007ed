/*
 * cmd_bench_gemm.c - `akidb bench gemm`: how close the packed f32 GEMM gets
 * to what this CPU can do, per instruction-set path.
 *
 * For every path this CPU and build can run (or those of --paths):
 *   1. peak: the path's FMA peak (ak_ops.fma_peak: 12 independent FMA
 *      chains) on 1 thread and on --threads threads at once, GFLOP/s;
 *   2. GEMM: Y[M x N] = X[M x K] * W^T with W packed once (the layout every
 *      model's linear layers use), at the linear-layer shapes of three
 *      models (MiniLM-L6, BGE-base, Qwen3-0.6B) and M = 8, 32, 128, 512
 *      rows (tokens in one forward): GFLOP/s (2 M N K per call) and the
 *      share of the peak, on 1 thread and on --threads threads (columns
 *      split in panel-aligned ranges, one per thread, as the forward pass
 *      splits them).
 * Each figure is the best of --rounds timings of at least --seconds each
 * (best: the machine's capability, least disturbed by other processes).
 * One-thread figures use the thread's CPU time, so time the scheduler gave
 * to other processes does not count against the core; the others use wall
 * time (what the threads achieve together).
 * Output: a table on stderr and one JSON object on stdout, with the CPU
 * table of common/cpu.h.
 */
#include "akidb.h"
#include "cli/cli.h"
#include "common/common.h"
#include "common/cpu.h"
#include "kernels/kernels.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds of CPU time of the calling thread. */
static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct shape {
    const char *model, *layer;
    size_t n, k;
} shape;

static const shape shapes[] = {
    { "minilm", "qkv", 1152, 384 },   { "minilm", "out", 384, 384 },
    { "minilm", "up", 1536, 384 },    { "minilm", "down", 384, 1536 },
    { "bge-base", "qkv", 2304, 768 }, { "bge-base", "out", 768, 768 },
    { "bge-base", "up", 3072, 768 },  { "bge-base", "down", 768, 3072 },
    { "qwen3-0.6b", "qkv", 4096, 1024 },   { "qwen3-0.6b", "o", 1024, 2048 },
    { "qwen3-0.6b", "gate+up", 6144, 1024 }, { "qwen3-0.6b", "down", 1024, 3072 },
};
static const size_t rows[] = { 8, 32, 128, 512 };

/* ---- peak --------------------------------------------------------------------- */

typedef struct peak_job {
    const ak_ops *ops;
    size_t iters;
    double secs;
    float sink;
} peak_job;

static void *peak_thread(void *arg)
{
    peak_job *j = arg;
    double t0 = thread_cpu();
    j->sink = j->ops->fma_peak(j->iters);
    j->secs = thread_cpu() - t0;
    return NULL;
}

/* GFLOP/s of nt threads running fma_peak at once (sum of the threads). */
static double peak_gflops(const ak_ops *ops, int nt, double min_s, int rounds)
{
    size_t iters = 1u << 16;
    peak_job probe = { ops, iters, 0, 0 };
    while (peak_thread(&probe), probe.secs < min_s / 8 && iters < ((size_t)1 << 40))
        probe.iters = iters *= 2;
    iters = (size_t)((double)iters * min_s / (probe.secs > 1e-9 ? probe.secs : 1e-9)) + 1;
    double flop = 2.0 * 12.0 * (double)ops->fma_lanes * (double)iters, best = 0;
    for (int r = 0; r < rounds; r++) {
        peak_job jobs[64];
        pthread_t th[64];
        double t0 = ak_now();
        for (int t = 0; t < nt; t++) {
            jobs[t] = (peak_job){ ops, iters, 0, 0 };
            pthread_create(&th[t], NULL, peak_thread, &jobs[t]);
        }
        for (int t = 0; t < nt; t++)
            pthread_join(th[t], NULL);
        /* one thread: its CPU time; several: the wall time of all of them */
        double g = nt == 1 ? flop / jobs[0].secs / 1e9 : nt * flop / (ak_now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    return best;
}

/* ---- GEMM --------------------------------------------------------------------- */

typedef struct gemm_job {
    const ak_ops *ops;
    size_t m, n, k, n0, n1, reps;
    const float *x, *wp;
    float *y;
} gemm_job;

static void *gemm_thread(void *arg)
{
    gemm_job *j = arg;
    for (size_t r = 0; r < j->reps; r++)
        j->ops->gemm_p(j->m, j->n, j->k, j->x, j->k, j->wp, NULL, j->y, j->n, j->n0, j->n1);
    return NULL;
}

/* Seconds of reps calls of the whole GEMM split over nt threads. */
static double gemm_time(const ak_ops *ops, size_t m, size_t n, size_t k, const float *x,
                        const float *wp, float *y, int nt, size_t reps)
{
    gemm_job jobs[64];
    pthread_t th[64];
    size_t panels = (n + AK_PANEL - 1) / AK_PANEL;
    double (*clock)(void) = nt == 1 ? thread_cpu : ak_now;
    double t0 = clock();
    for (int t = 0; t < nt; t++) {
        size_t p0 = panels * (size_t)t / (size_t)nt, p1 = panels * (size_t)(t + 1) / (size_t)nt;
        jobs[t] = (gemm_job){ ops, m, n, k, p0 * AK_PANEL, p1 * AK_PANEL, reps, x, wp, y };
        if (t)
            pthread_create(&th[t], NULL, gemm_thread, &jobs[t]);
    }
    gemm_thread(&jobs[0]);
    for (int t = 1; t < nt; t++)
        pthread_join(th[t], NULL);
    return clock() - t0;
}

static double gemm_gflops(const ak_ops *ops, size_t m, size_t n, size_t k, const float *x,
                          const float *wp, float *y, int nt, double min_s, int rounds)
{
    size_t reps = 1;
    double t;
    while ((t = gemm_time(ops, m, n, k, x, wp, y, nt, reps)) < min_s / 4 && reps < (1u << 24))
        reps *= 2;
    reps = (size_t)((double)reps * min_s / (t > 1e-9 ? t : 1e-9)) + 1;
    double best = 0, flop = 2.0 * (double)m * (double)n * (double)k * (double)reps;
    for (int r = 0; r < rounds; r++) {
        double g = flop / gemm_time(ops, m, n, k, x, wp, y, nt, reps) / 1e9;
        best = g > best ? g : best;
    }
    return best;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: akidb bench gemm [--paths scalar,avx2,avx512,neon] [--threads N]\n"
               "                        [--seconds S] [--rounds R]\n"
               "The packed f32 GEMM at the linear-layer shapes of MiniLM-L6, BGE-base and\n"
               "Qwen3-0.6B against each path's measured FMA peak; one JSON object on stdout.\n"
               "  --paths     paths to measure (default: every one this CPU runs)\n"
               "  --threads   threads of the second figure (default: all cores)\n"
               "  --seconds   least time of one timing (default 0.2)\n"
               "  --rounds    timings per figure, the best kept (default 3)\n");
}

/* Measures one path; adds its object to out. */
static int bench_path(akidb_kernel_path p, int nt, double secs, int rounds, json_t *out)
{
    const ak_kernels *kt = ak_kernels_for(p);
    if (!kt)
        return 0;
    const ak_ops *ops = kt->ops;
    double peak1 = peak_gflops(ops, 1, secs, rounds);
    double peakn = nt > 1 ? peak_gflops(ops, nt, secs, rounds) : peak1;
    fprintf(stderr, "%s: FMA peak %.1f GFLOP/s on 1 thread, %.1f on %d\n", kt->name, peak1,
            peakn, nt);
    fprintf(stderr, "  %-11s %-8s %5s %5s %5s  %9s %6s  %9s %6s\n", "model", "layer", "M", "N",
            "K", "1 thread", "%peak", "threads", "%peak");
    json_t *list = json_array();
    size_t kmax = 0, nmax = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        kmax = shapes[s].k > kmax ? shapes[s].k : kmax;
        nmax = shapes[s].n > nmax ? shapes[s].n : nmax;
    }
    size_t mmax = rows[sizeof rows / sizeof *rows - 1];
    float *x = ak_malloc_aligned(mmax * kmax * sizeof *x, 64);
    float *w = ak_malloc(nmax * kmax * sizeof *w);
    float *wp = ak_malloc_aligned(ak_pack_floats(nmax, kmax) * sizeof *wp, 64);
    float *y = ak_malloc_aligned(mmax * nmax * sizeof *y, 64);
    if (!x || !w || !wp || !y || !list) {
        fprintf(stderr, "akidb: bench gemm: out of memory\n");
        ak_free_aligned(x);
        ak_free(w);
        ak_free_aligned(wp);
        ak_free_aligned(y);
        json_decref(list);
        return 1;
    }
    unsigned seed = 1;
    for (size_t i = 0; i < mmax * kmax; i++)
        x[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
    for (size_t i = 0; i < nmax * kmax; i++)
        w[i] = (float)(rand_r(&seed) % 2001 - 1000) / 1000.0f;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const shape *sh = &shapes[s];
        ak_pack_nt(sh->n, sh->k, w, sh->k, wp);
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            size_t m = rows[r];
            double g1 = gemm_gflops(ops, m, sh->n, sh->k, x, wp, y, 1, secs, rounds);
            double gn = nt > 1 ? gemm_gflops(ops, m, sh->n, sh->k, x, wp, y, nt, secs, rounds)
                               : g1;
            fprintf(stderr, "  %-11s %-8s %5zu %5zu %5zu  %9.1f %5.0f%%  %9.1f %5.0f%%\n",
                    sh->model, sh->layer, m, sh->n, sh->k, g1, 100 * g1 / peak1, gn,
                    100 * gn / peakn);
            json_array_append_new(list, json_pack("{s:s,s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:f}",
                                                  "model", sh->model, "layer", sh->layer, "m",
                                                  (json_int_t)m, "n", (json_int_t)sh->n, "k",
                                                  (json_int_t)sh->k, "gflops_1", g1,
                                                  "peak_share_1", g1 / peak1, "gflops_n", gn,
                                                  "peak_share_n", gn / peakn));
        }
    }
    ak_free_aligned(x);
    ak_free(w);
    ak_free_aligned(wp);
    ak_free_aligned(y);
    json_array_append_new(out, json_pack("{s:s,s:f,s:f,s:o}", "path", kt->name,
                                         "peak_gflops_1", peak1, "peak_gflops_n", peakn,
                                         "gemm", list));
    return 0;
}

int akidb_cmd_bench_gemm(int argc, char **argv)
{
    static const struct option opts[] = {
        { "paths", required_argument, NULL, 'p' }, { "threads", required_argument, NULL, 't' },
        { "seconds", required_argument, NULL, 's' }, { "rounds", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    const char *paths = NULL;
    int nt = ak_cpu_get()->ncpu, rounds = 3, c;
    double secs = 0.2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'p': paths = optarg; break;
        case 't': nt = atoi(optarg); break;
        case 's': secs = atof(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || nt < 1 || nt > 64 || !(secs > 0 && secs <= 60) || rounds < 1 ||
        rounds > 100) {
        usage(stderr);
        return 2;
    }
    ak_json_init();
    json_t *out = json_array();
    static const akidb_kernel_path all[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                             AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
    int rc = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all && rc == 0; i++) {
        const char *name = akidb_kernels_name(all[i]);
        if (paths) {
            char list[256];
            snprintf(list, sizeof list, ",%s,", paths);
            char want[32];
            snprintf(want, sizeof want, ",%s,", name);
            if (!strstr(list, want))
                continue;
        }
        if (!ak_cpu_path_usable(all[i])) {
            if (paths)
                fprintf(stderr, "%s: not available on this CPU or build\n", name);
            continue;
        }
        rc = bench_path(all[i], nt, secs, rounds, out);
    }
    json_t *doc = json_pack("{s:o,s:i,s:f,s:i,s:o}", "cpu", ak_cpu_json(), "threads", nt,
                            "seconds", secs, "rounds", rounds, "paths", out);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text)
        printf("%s\n", text);
    ak_free(text);
    json_decref(doc);
    return rc;
}
