/*
 * cmd_bench_ann.c - `akidb bench ann`: builds an HNSW index over a base set
 * of vectors (.fvecs), sweeps the search beam width ef over a query set, and
 * prints ONE JSON object: build seconds, memory (index-reported and the raw
 * vectors + links), and for each ef the recall@k against ground truth and the
 * single-thread queries per second.
 *
 * Why: the numbers in docs/PERFORMANCE.md come from here, and
 * bench/ann/hnswlib_bench.cpp prints the same JSON shape for hnswlib so
 * bench/ann/run.sh can compare the two on the same machine in one go.
 * Ground truth comes from --gt (.ivecs); without it (or if the file does not
 * exist) it is computed with the project's exact search, and --write-gt
 * saves it for the next run.
 *
 * Noise control: --rounds R repeats the whole ef sweep R times and reports
 * the median QPS per ef (all samples in "qps_all"); --save-index /
 * --load-index keep the built graph in a file so bench/ann/run.sh can
 * alternate search-only runs of the two engines (A B A B ...) on one graph
 * each and compare medians, which is what makes numbers from a shared,
 * loaded machine usable.  Besides wall-clock QPS ("qps", the headline
 * figure) each sweep point reports "cpu_qps_all": queries per CPU-second
 * of the searching thread, which ignores time spent descheduled by other
 * jobs (it still sees their cache pressure).  A loaded index reports "loaded":true and
 * "build_s":0.
 *
 * Usage: akidb bench ann --base F.fvecs --query F.fvecs [--gt F.ivecs]
 *        [--write-gt F.ivecs] [--M 16] [--efc 200] [--threads 2]
 *        [--metric l2|cosine|dot] [--ef 10,20,40,...] [--k 10] [--nq N]
 *        [--seed S] [--rounds R] [--save-index F] [--load-index F]
 */
#include "cli/cli.h"
#include "common/common.h"
#include "index/index.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Reads an .fvecs/.ivecs file (int32 dim, then dim 4-byte values, per row)
 * into a new array of rows x dim 4-byte values. */
static akidb_status read_vecs(const char *path, void **data, size_t *rows, size_t *dim)
{
    ak_mmap m;
    akidb_status st = ak_mmap_open(path, &m);
    if (st)
        return st;
    const unsigned char *p = m.data;
    if (m.size < 4) {
        ak_mmap_close(&m);
        return ak_fail(AKIDB_EFORMAT, "%s: too short for a vecs file", path);
    }
    int32_t d;
    memcpy(&d, p, 4);
    size_t row = 4 + 4 * (size_t)(d > 0 ? d : 0);
    if (d <= 0 || d > 1 << 20 || m.size % row != 0) {
        ak_mmap_close(&m);
        return ak_fail(AKIDB_EFORMAT, "%s: bad dimension %d or size %zu", path, d, m.size);
    }
    size_t n = m.size / row;
    unsigned char *out = ak_malloc(n * (size_t)d * 4);
    if (!out) {
        ak_mmap_close(&m);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < n; i++) {
        int32_t di;
        memcpy(&di, p + i * row, 4);
        if (di != d) {
            ak_free(out);
            ak_mmap_close(&m);
            return ak_fail(AKIDB_EFORMAT, "%s: row %zu has dimension %d, not %d", path, i, di, d);
        }
        memcpy(out + i * (size_t)d * 4, p + i * row + 4, (size_t)d * 4);
    }
    ak_mmap_close(&m);
    *data = out;
    *rows = n;
    *dim = (size_t)d;
    return AKIDB_OK;
}

static akidb_status write_ivecs(const char *path, const int32_t *v, size_t rows, size_t dim)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return ak_fail(AKIDB_EIO, "%s: %s", path, strerror(errno));
    int32_t d = (int32_t)dim;
    for (size_t i = 0; i < rows; i++) {
        if (fwrite(&d, 4, 1, f) != 1 || fwrite(v + i * dim, 4, dim, f) != dim) {
            fclose(f);
            return ak_fail(AKIDB_EIO, "%s: write failed", path);
        }
    }
    if (fclose(f) != 0)
        return ak_fail(AKIDB_EIO, "%s: close failed", path);
    return AKIDB_OK;
}

typedef struct build_job {
    ak_hnsw *h;
    const float *base;
    size_t n, dim;
    size_t next;          /* atomic work counter */
    akidb_status st;
} build_job;

static void *build_worker(void *arg)
{
    build_job *j = arg;
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->n)
            break;
        akidb_status st = ak_hnsw_add(j->h, (uint32_t)i, j->base + i * j->dim);
        if (st)
            j->st = st;
    }
    return NULL;
}

typedef struct gt_job {
    const float *base, *query;
    size_t n, nq, dim, k;
    ak_metric metric;
    int32_t *gt;
    size_t next;
    akidb_status st;
} gt_job;

static void *gt_worker(void *arg)
{
    gt_job *j = arg;
    ak_hit *hits = malloc(j->k * sizeof *hits);
    if (!hits) {
        j->st = AKIDB_ENOMEM;
        return NULL;
    }
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
        if (i >= j->nq)
            break;
        size_t nh;
        akidb_status st = ak_exact_search_array(j->base, j->n, j->dim, j->metric,
                                                j->query + i * j->dim, j->k, hits, &nh);
        if (st) {
            j->st = st;
            continue;
        }
        for (size_t r = 0; r < j->k; r++)
            j->gt[i * j->k + r] = r < nh ? (int32_t)hits[r].label : -1;
    }
    free(hits);
    return NULL;
}

/* CPU seconds used by the calling thread (not counting time it spent
 * descheduled, which on a shared machine is most of the noise). */
static double thread_cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (n >= 1); sorts v in place. */
static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: akidb bench ann --base F.fvecs --query F.fvecs [--gt F.ivecs]\n"
            "       [--write-gt F.ivecs] [--M 16] [--efc 200] [--threads 2]\n"
            "       [--metric l2|cosine|dot] [--ef 10,20,40,80,160] [--k 10] [--nq N]\n"
            "       [--seed S] [--rounds R] [--save-index F] [--load-index F]\n");
    return 2;
}

int akidb_cmd_bench_ann(int argc, char **argv)
{
    const char *base_path = NULL, *query_path = NULL, *gt_path = NULL, *write_gt = NULL;
    const char *save_index = NULL, *load_index = NULL;
    long rounds = 1;
    const char *ef_list = "10,20,40,80,120,200,400";
    long M = 16, efc = 200, threads = 2, k = 10, nq_limit = 0;
    unsigned long long seed = 100;
    ak_metric metric = AK_METRIC_L2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (strcmp(a, "--base") == 0) base_path = v;
        else if (strcmp(a, "--query") == 0) query_path = v;
        else if (strcmp(a, "--gt") == 0) gt_path = v;
        else if (strcmp(a, "--write-gt") == 0) write_gt = v;
        else if (strcmp(a, "--M") == 0) M = strtol(v, NULL, 10);
        else if (strcmp(a, "--efc") == 0) efc = strtol(v, NULL, 10);
        else if (strcmp(a, "--threads") == 0) threads = strtol(v, NULL, 10);
        else if (strcmp(a, "--k") == 0) k = strtol(v, NULL, 10);
        else if (strcmp(a, "--nq") == 0) nq_limit = strtol(v, NULL, 10);
        else if (strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--ef") == 0) ef_list = v;
        else if (strcmp(a, "--rounds") == 0) rounds = strtol(v, NULL, 10);
        else if (strcmp(a, "--save-index") == 0) save_index = v;
        else if (strcmp(a, "--load-index") == 0) load_index = v;
        else if (strcmp(a, "--metric") == 0) {
            if (!ak_metric_parse(v, &metric)) {
                fprintf(stderr, "bench ann: unknown metric '%s'\n", v);
                return 2;
            }
        } else
            return usage();
        i++;
    }
    if (!base_path || !query_path || M < 2 || M > (long)AK_HNSW_MAX_M || efc < 1 ||
        threads < 1 || threads > 256 || k < 1 || k > 1000 || rounds < 1 || rounds > 1000)
        return usage();

    int rc = 1;
    float *base = NULL, *query = NULL;
    int32_t *gt = NULL;
    ak_hnsw *h = NULL;
    ak_hit *hits = NULL;
    size_t n, dim, nq, qdim, gt_k = 0;
    akidb_status st;
    if ((st = read_vecs(base_path, (void **)&base, &n, &dim)) ||
        (st = read_vecs(query_path, (void **)&query, &nq, &qdim)))
        goto fail;
    if (qdim != dim) {
        st = ak_fail(AKIDB_EDIM, "query dimension %zu != base dimension %zu", qdim, dim);
        goto fail;
    }
    if (nq_limit > 0 && (size_t)nq_limit < nq)
        nq = (size_t)nq_limit;

    /* ground truth */
    if (gt_path && ak_file_exists(gt_path)) {
        size_t gn;
        if ((st = read_vecs(gt_path, (void **)&gt, &gn, &gt_k)))
            goto fail;
        if (gn < nq || gt_k < (size_t)k) {
            st = ak_fail(AKIDB_EFORMAT, "%s: %zu rows of %zu, need %zu rows of >= %ld",
                         gt_path, gn, gt_k, nq, k);
            goto fail;
        }
    } else {
        gt_job j = { base, query, n, nq, dim, (size_t)k, metric, NULL, 0, AKIDB_OK };
        float *nb = NULL, *nqv = NULL;
        if (metric == AK_METRIC_COSINE) {
            nb = ak_malloc(n * dim * sizeof(float));
            nqv = ak_malloc(nq * dim * sizeof(float));
            if (!nb || !nqv) {
                ak_free(nb);
                ak_free(nqv);
                st = ak_fail(AKIDB_ENOMEM, "out of memory");
                goto fail;
            }
            memcpy(nb, base, n * dim * sizeof(float));
            memcpy(nqv, query, nq * dim * sizeof(float));
            for (size_t i = 0; i < n; i++) ak_vec_normalize(nb + i * dim, dim);
            for (size_t i = 0; i < nq; i++) ak_vec_normalize(nqv + i * dim, dim);
            j.base = nb;
            j.query = nqv;
        }
        gt = ak_malloc(nq * (size_t)k * sizeof *gt);
        if (!gt) {
            st = ak_fail(AKIDB_ENOMEM, "out of memory");
            goto fail;
        }
        j.gt = gt;
        double t0 = ak_now();
        pthread_t tid[256];
        for (long t = 0; t < threads; t++)
            pthread_create(&tid[t], NULL, gt_worker, &j);
        for (long t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        ak_free(nb);
        ak_free(nqv);
        fprintf(stderr, "bench ann: exact ground truth for %zu queries in %.1f s\n", nq,
                ak_now() - t0);
        if ((st = j.st))
            goto fail;
        gt_k = (size_t)k;
        if (write_gt && (st = write_ivecs(write_gt, gt, nq, gt_k)))
            goto fail;
    }

    /* build (or load a saved graph) */
    double build_s = 0;
    bool loaded = false;
    if (load_index && ak_file_exists(load_index)) {
        int fd = open(load_index, O_RDONLY);
        if (fd < 0) {
            st = ak_fail(AKIDB_EIO, "%s: %s", load_index, strerror(errno));
            goto fail;
        }
        st = ak_hnsw_load_fd(fd, &h);
        close(fd);
        if (st)
            goto fail;
        if (ak_hnsw_count(h) != n || ak_hnsw_get_params(h).M != (uint32_t)M) {
            st = ak_fail(AKIDB_EFORMAT, "%s: saved index does not match the base set / M",
                         load_index);
            goto fail;
        }
        loaded = true;
    } else {
        ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = metric, .M = (uint32_t)M,
                             .ef_construction = (uint32_t)efc, .seed = seed, .capacity = n };
        if ((st = ak_hnsw_create(&p, &h)))
            goto fail;
        build_job bj = { h, base, n, dim, 0, AKIDB_OK };
        double t0 = ak_now();
        pthread_t tid[256];
        for (long t = 0; t < threads; t++)
            pthread_create(&tid[t], NULL, build_worker, &bj);
        for (long t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
        build_s = ak_now() - t0;
        if ((st = bj.st))
            goto fail;
        if (save_index) {
            int fd = open(save_index, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) {
                st = ak_fail(AKIDB_EIO, "%s: %s", save_index, strerror(errno));
                goto fail;
            }
            st = ak_hnsw_save_fd(h, fd);
            close(fd);
            if (st)
                goto fail;
        }
    }

    size_t mem = ak_hnsw_memory(h), raw = ak_hnsw_raw_bytes(h);
    printf("{\"engine\":\"akidb\",\"simd\":\"%s\",\"metric\":\"%s\",\"n\":%zu,\"dim\":%zu,"
           "\"nq\":%zu,\"k\":%ld,\"M\":%ld,\"efc\":%ld,\"threads\":%ld,"
           "\"loaded\":%s,\"build_s\":%.3f,\"memory_bytes\":%zu,\"raw_bytes\":%zu,"
           "\"vectors_bytes\":%zu,\"rounds\":%ld,\"sweep\":[",
           akidb_kernels_name(ak_dist_path()), ak_metric_name(metric), n, dim, nq, k, M, efc,
           threads, loaded ? "true" : "false", build_s, mem, raw, n * dim * sizeof(float),
           rounds);

    /* sweep: single thread, all queries in order, after one warm-up pass */
    hits = ak_malloc((size_t)k * sizeof *hits);
    if (!hits) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto fail;
    }
    {
        size_t nh;
        for (size_t i = 0; i < nq && i < 1000; i++)
            ak_hnsw_search(h, query + i * dim, (size_t)k, 10, NULL, NULL, hits, &nh);
    }
    /* the ef list, then `rounds` passes over it (round-robin, so slow
     * phases of a shared machine hit every ef alike) */
    long efs[64];
    size_t nef = 0;
    for (const char *e = ef_list; *e && nef < 64;) {
        char *end;
        long ef = strtol(e, &end, 10);
        if (end == e || ef < 1)
            break;
        efs[nef++] = ef;
        e = *end == ',' ? end + 1 : end;
    }
    double *qps = ak_malloc((nef ? nef : 1) * (size_t)rounds * sizeof *qps);
    double *cqps = ak_malloc((nef ? nef : 1) * (size_t)rounds * sizeof *cqps);
    double *recall = ak_malloc((nef ? nef : 1) * sizeof *recall);
    if (!qps || !cqps || !recall) {
        ak_free(qps);
        ak_free(cqps);
        ak_free(recall);
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto fail;
    }
    for (long r = 0; r < rounds; r++) {
        for (size_t e = 0; e < nef; e++) {
            double hit = 0;
            double t1 = ak_now(), c1 = thread_cpu_now();
            for (size_t i = 0; i < nq; i++) {
                size_t nh;
                if ((st = ak_hnsw_search(h, query + i * dim, (size_t)k, (size_t)efs[e], NULL,
                                         NULL, hits, &nh))) {
                    ak_free(qps);
                    ak_free(cqps);
                    ak_free(recall);
                    goto fail;
                }
                const int32_t *g = gt + i * gt_k;
                for (size_t a = 0; a < nh; a++)
                    for (long b = 0; b < k; b++)
                        if ((int32_t)hits[a].label == g[b]) {
                            hit++;
                            break;
                        }
            }
            qps[e * (size_t)rounds + (size_t)r] = nq / (ak_now() - t1);
            cqps[e * (size_t)rounds + (size_t)r] = nq / (thread_cpu_now() - c1);
            recall[e] = hit / ((double)nq * k);
        }
    }
    for (size_t e = 0; e < nef; e++) {
        double *v = qps + e * (size_t)rounds;
        printf("%s{\"ef\":%ld,\"recall\":%.4f,\"qps_all\":[", e ? "," : "", efs[e], recall[e]);
        for (long r = 0; r < rounds; r++)
            printf("%s%.1f", r ? "," : "", v[r]);
        printf("],\"cpu_qps_all\":[");
        for (long r = 0; r < rounds; r++)
            printf("%s%.1f", r ? "," : "", cqps[e * (size_t)rounds + (size_t)r]);
        printf("],\"qps\":%.1f}", median(v, (size_t)rounds));
    }
    ak_free(qps);
    ak_free(cqps);
    ak_free(recall);
    printf("]}\n");
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench ann: %s\n", akidb_last_error()[0] ? akidb_last_error() : akidb_strerror(st));
done:
    ak_free(hits);
    ak_hnsw_free(h);
    ak_free(base);
    ak_free(query);
    ak_free(gt);
    return rc;
}
