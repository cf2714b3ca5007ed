/*
 * group_kernels.c - how fast the index's distance kernels read vectors from
 * memory when they take one, two, four or eight at a time.
 *
 * Why: an HNSW search on large vectors spends most of its time waiting for
 * vectors to come from DRAM, and the group kernels (ak_l2_bounded_multi_get)
 * exist because several interleaved streams keep more reads in flight than
 * one.  This measures exactly that, in one process, for every SIMD path the
 * CPU has: a 188 MB array of 784-float vectors (Fashion-MNIST's size, huge
 * pages asked for as the index does), the same random sequence of vectors
 * for every width, no bound (every vector read in full), and rounds that
 * cycle over the widths so a noisy machine hits all of them alike.  It
 * prints one JSON line per path: the median nanoseconds per vector for each
 * width and the ratios against width 2 (the previous pair kernels).
 *
 * Usage: akidb_bench_group [--dim 784] [--mb 188] [--n 40000] [--rounds 5]
 */
#include "common/common.h"
#include "index/index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t dim = 784, mb = 188, n = 40000, rounds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        size_t v = strtoull(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--dim") == 0) dim = v;
        else if (strcmp(argv[i], "--mb") == 0) mb = v;
        else if (strcmp(argv[i], "--n") == 0) n = v;
        else if (strcmp(argv[i], "--rounds") == 0) rounds = v;
        else {
            fprintf(stderr, "usage: akidb_bench_group [--dim D] [--mb M] [--n N] [--rounds R]\n");
            return 2;
        }
    }
    if (dim < 1 || mb < 1 || n < 8 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "akidb_bench_group: bad arguments\n");
        return 2;
    }
    size_t bytes = mb << 20, nv = bytes / (dim * sizeof(float));
    float *base = ak_malloc_aligned(bytes, (size_t)2 << 20);
    float *q = ak_malloc(dim * sizeof *q);
    uint32_t *idx = ak_malloc(n * sizeof *idx);
    if (!base || !q || !idx || nv < 8) {
        fprintf(stderr, "akidb_bench_group: out of memory\n");
        return 1;
    }
#ifdef MADV_HUGEPAGE
    (void)madvise(base, bytes, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < nv * dim; i++)
        base[i] = (float)((i * 7) & 255);
    for (size_t i = 0; i < dim; i++)
        q[i] = (float)(i % 200);
    uint64_t x = 1;
    for (size_t k = 0; k < n; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        idx[k] = (uint32_t)((x >> 33) % nv);
    }
    static const size_t widths[4] = { 1, 2, 4, 8 };
    static const akidb_kernel_path paths[4] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                                AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
    double *t = ak_malloc(4 * rounds * sizeof *t);
    if (!t)
        return 1;
    double sink = 0;
    for (size_t p = 0; p < 4; p++) {
        ak_dist_boundedm_fn fm = ak_l2_bounded_multi_get(paths[p]);
        ak_dist_bounded_fn f1 = ak_l2_bounded_get(paths[p]);
        if (!fm || !f1)
            continue;
        for (size_t r = 0; r < rounds; r++) {
            for (size_t w = 0; w < 4; w++) {
                size_t wd = widths[w];
                double t0 = ak_now();
                for (size_t k = 0; k + wd <= n; k += wd) {
                    const float *b[8];
                    float out[8];
                    for (size_t j = 0; j < wd; j++)
                        b[j] = base + (size_t)idx[k + j] * dim;
                    if (wd == 1)
                        out[0] = f1(q, b[0], dim, INFINITY);
                    else
                        fm(q, b, wd, dim, INFINITY, out);
                    for (size_t j = 0; j < wd; j++)
                        sink += out[j];
                }
                t[w * rounds + r] = (ak_now() - t0) / (double)(n / wd * wd) * 1e9;
            }
        }
        double med[4];
        for (size_t w = 0; w < 4; w++) {
            qsort(t + w * rounds, rounds, sizeof *t, cmp_double);
            med[w] = t[w * rounds + rounds / 2];
        }
        printf("{\"path\":\"%s\",\"dim\":%zu,\"vectors\":%zu,\"ns_per_vector\":{\"1\":%.1f,"
               "\"2\":%.1f,\"4\":%.1f,\"8\":%.1f},\"speedup_vs_2\":{\"4\":%.2f,\"8\":%.2f},"
               "\"speedup_2_vs_1\":%.2f}\n",
               akidb_kernels_name(paths[p]), dim, nv, med[0], med[1], med[2], med[3],
               med[1] / med[2], med[1] / med[3], med[0] / med[1]);
    }
    fprintf(stderr, "(checksum %g)\n", sink);
    ak_free(t);
    ak_free(idx);
    ak_free(q);
    ak_free_aligned(base);
    return 0;
}
