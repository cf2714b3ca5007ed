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
 * --quant sq8 builds the index with int8 scalar quantisation (src/index/
 * sq8.c).  Its graph is built on the float vectors, so walking it with
 * float distances (quant_ignore) is the float index's search; the sweep
 * then measures, for each ef in the same round-robin, three modes on the
 * one graph: "float" (that float walk), "sq8" (walk on the int8 codes,
 * rescore the ef candidates with the floats: exact scores) and
 * "sq8_norescore" (the int8 walk's own top k).  Each sweep entry names its
 * "mode"; "quant_bytes" is what the codes add to "memory_bytes".
 *
 * Usage: akidb bench ann --base F.fvecs --query F.fvecs [--gt F.ivecs]
 *        [--write-gt F.ivecs] [--M 16] [--efc 200] [--threads 2]
 *        [--metric l2|cosine|dot] [--ef 10,20,40,...] [--k 10] [--nq N]
 *        [--seed S] [--rounds R] [--save-index F] [--load-index F]
 *        [--quant sq8] [--quantile Q]
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
            "       [--seed S] [--rounds R] [--save-index F] [--load-index F]\n"
            "       [--quant sq8] [--quantile 0.99]\n");
    return 2;
}

/* The options of `akidb bench ann`. */
typedef struct ann_args {
    const char *base_path, *query_path, *gt_path, *write_gt, *save_index, *load_index;
    const char *ef_list;
    long rounds, M, efc, threads, k, nq_limit;
    unsigned long long seed;
    ak_metric metric;
    ak_quant quant;
    float quantile;
} ann_args;

/* Reads argv into *a; returns -1 to go on, else the exit code. */
static int ann_parse(int argc, char **argv, ann_args *a)
{
    *a = (ann_args){ .ef_list = "10,20,40,80,120,200,400", .rounds = 1, .M = 16, .efc = 200,
                     .threads = 2, .k = 10, .seed = 100, .metric = AK_METRIC_L2 };
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (strcmp(o, "--base") == 0) a->base_path = v;
        else if (strcmp(o, "--query") == 0) a->query_path = v;
        else if (strcmp(o, "--gt") == 0) a->gt_path = v;
        else if (strcmp(o, "--write-gt") == 0) a->write_gt = v;
        else if (strcmp(o, "--M") == 0) a->M = strtol(v, NULL, 10);
        else if (strcmp(o, "--efc") == 0) a->efc = strtol(v, NULL, 10);
        else if (strcmp(o, "--threads") == 0) a->threads = strtol(v, NULL, 10);
        else if (strcmp(o, "--k") == 0) a->k = strtol(v, NULL, 10);
        else if (strcmp(o, "--nq") == 0) a->nq_limit = strtol(v, NULL, 10);
        else if (strcmp(o, "--seed") == 0) a->seed = strtoull(v, NULL, 10);
        else if (strcmp(o, "--ef") == 0) a->ef_list = v;
        else if (strcmp(o, "--rounds") == 0) a->rounds = strtol(v, NULL, 10);
        else if (strcmp(o, "--save-index") == 0) a->save_index = v;
        else if (strcmp(o, "--load-index") == 0) a->load_index = v;
        else if (strcmp(o, "--quantile") == 0) a->quantile = strtof(v, NULL);
        else if (strcmp(o, "--quant") == 0) {
            if (strcmp(v, "sq8") != 0 && strcmp(v, "none") != 0) {
                fprintf(stderr, "bench ann: unknown --quant '%s' (sq8, none)\n", v);
                return 2;
            }
            a->quant = strcmp(v, "sq8") == 0 ? AK_QUANT_SQ8 : AK_QUANT_NONE;
        }
        else if (strcmp(o, "--metric") == 0) {
            if (!ak_metric_parse(v, &a->metric)) {
                fprintf(stderr, "bench ann: unknown metric '%s'\n", v);
                return 2;
            }
        } else
            return usage();
        i++;
    }
    if (!a->base_path || !a->query_path || a->M < 2 || a->M > (long)AK_HNSW_MAX_M ||
        a->efc < 1 || a->threads < 1 || a->threads > 256 || a->k < 1 || a->k > 1000 ||
        a->rounds < 1 || a->rounds > 1000)
        return usage();
    return -1;
}

/* The data of one run: base and query vectors, the ground truth (gt_k ids
 * per query), the graph. */
typedef struct ann_data {
    float *base, *query;
    size_t n, dim, nq;
    int32_t *gt;
    size_t gt_k;
    ak_hnsw *h;
    double build_s;
    bool loaded;
} ann_data;

/* The exact top k of every query, computed with a.threads threads (and
 * written to --write-gt), or read from --gt when that file exists. */
static akidb_status ann_truth(const ann_args *a, ann_data *d)
{
    akidb_status st;
    if (a->gt_path && ak_file_exists(a->gt_path)) {
        size_t gn;
        if ((st = read_vecs(a->gt_path, (void **)&d->gt, &gn, &d->gt_k)))
            return st;
        if (gn < d->nq || d->gt_k < (size_t)a->k)
            return ak_fail(AKIDB_EFORMAT, "%s: %zu rows of %zu, need %zu rows of >= %ld",
                           a->gt_path, gn, d->gt_k, d->nq, a->k);
        return AKIDB_OK;
    }
    const size_t n = d->n, nq = d->nq, dim = d->dim;
    gt_job j = { d->base, d->query, n, nq, dim, (size_t)a->k, a->metric, NULL, 0, AKIDB_OK };
    float *nb = NULL, *nqv = NULL;
    if (a->metric == AK_METRIC_COSINE) {
        nb = ak_malloc(n * dim * sizeof(float));
        nqv = ak_malloc(nq * dim * sizeof(float));
        if (!nb || !nqv) {
            ak_free(nb);
            ak_free(nqv);
            return ak_fail(AKIDB_ENOMEM, "out of memory");
        }
        memcpy(nb, d->base, n * dim * sizeof(float));
        memcpy(nqv, d->query, nq * dim * sizeof(float));
        for (size_t i = 0; i < n; i++) ak_vec_normalize(nb + i * dim, dim);
        for (size_t i = 0; i < nq; i++) ak_vec_normalize(nqv + i * dim, dim);
        j.base = nb;
        j.query = nqv;
    }
    d->gt = ak_malloc(nq * (size_t)a->k * sizeof *d->gt);
    if (!d->gt) {
        ak_free(nb);
        ak_free(nqv);
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    j.gt = d->gt;
    double t0 = ak_now();
    pthread_t tid[256];
    for (long t = 0; t < a->threads; t++)
        pthread_create(&tid[t], NULL, gt_worker, &j);
    for (long t = 0; t < a->threads; t++)
        pthread_join(tid[t], NULL);
    ak_free(nb);
    ak_free(nqv);
    fprintf(stderr, "bench ann: exact ground truth for %zu queries in %.1f s\n", nq,
            ak_now() - t0);
    if ((st = j.st))
        return st;
    d->gt_k = (size_t)a->k;
    if (a->write_gt)
        return write_ivecs(a->write_gt, d->gt, nq, d->gt_k);
    return AKIDB_OK;
}

/* The graph: loaded from --load-index when that file exists, else built
 * with a.threads threads (and saved to --save-index). */
static akidb_status ann_graph(const ann_args *a, ann_data *d)
{
    akidb_status st;
    if (a->load_index && ak_file_exists(a->load_index)) {
        int fd = open(a->load_index, O_RDONLY);
        if (fd < 0)
            return ak_fail(AKIDB_EIO, "%s: %s", a->load_index, strerror(errno));
        st = ak_hnsw_load_fd(fd, &d->h);
        close(fd);
        if (st)
            return st;
        if (ak_hnsw_count(d->h) != d->n || ak_hnsw_get_params(d->h).M != (uint32_t)a->M ||
            ak_hnsw_get_params(d->h).quant != a->quant)
            return ak_fail(AKIDB_EFORMAT, "%s: saved index does not match the base set / M / "
                           "quantisation", a->load_index);
        d->loaded = true;
        return AKIDB_OK;
    }
    ak_hnsw_params p = { .dim = (uint32_t)d->dim, .metric = a->metric, .M = (uint32_t)a->M,
                         .ef_construction = (uint32_t)a->efc, .seed = a->seed,
                         .capacity = d->n, .quant = a->quant, .quantile = a->quantile };
    if ((st = ak_hnsw_create(&p, &d->h)))
        return st;
    build_job bj = { d->h, d->base, d->n, d->dim, 0, AKIDB_OK };
    double t0 = ak_now();
    pthread_t tid[256];
    for (long t = 0; t < a->threads; t++)
        pthread_create(&tid[t], NULL, build_worker, &bj);
    for (long t = 0; t < a->threads; t++)
        pthread_join(tid[t], NULL);
    d->build_s = ak_now() - t0;
    if ((st = bj.st) || !a->save_index)
        return st;
    int fd = open(a->save_index, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return ak_fail(AKIDB_EIO, "%s: %s", a->save_index, strerror(errno));
    st = ak_hnsw_save_fd(d->h, fd);
    close(fd);
    return st;
}

/* The modes of an SQ8 index's sweep (see the file comment); an index
 * without quantisation runs the first only. */
static const char *const mode_name[3] = { "float", "sq8", "sq8_norescore" };

/* One sweep point: every query at ef in mode m; returns recall, QPS and
 * CPU QPS. */
static akidb_status sweep_point(const ann_args *a, const ann_data *d, long ef, int m,
                                ak_hit *hits, double *recall, double *qps, double *cqps)
{
    const size_t nq = d->nq, dim = d->dim, k = (size_t)a->k;
    ak_search_opts o = { .ef = (size_t)ef, .strategy = AK_SEARCH_GRAPH,
                         .quant_ignore = m == 0, .quant_no_rescore = m == 2 };
    double hit = 0, t1 = ak_now(), c1 = thread_cpu_now();
    size_t nh;
    for (size_t i = 0; i < nq; i++) {
        akidb_status st = ak_hnsw_search_ex(d->h, d->query + i * dim, k, &o, hits, &nh);
        if (st)
            return st;
        const int32_t *g = d->gt + i * d->gt_k;
        for (size_t x = 0; x < nh; x++)
            for (size_t y = 0; y < k; y++)
                if ((int32_t)hits[x].label == g[y]) {
                    hit++;
                    break;
                }
    }
    *qps = nq / (ak_now() - t1);
    *cqps = nq / (thread_cpu_now() - c1);
    *recall = hit / ((double)nq * (double)k);
    return AKIDB_OK;
}

/* The sweep, printed as the "sweep" array: single thread, all queries in
 * order after one warm-up pass, the (ef, mode) points `rounds` times
 * round-robin (so slow phases of a shared machine hit every point alike). */
static akidb_status ann_sweep(const ann_args *a, const ann_data *d)
{
    const size_t nq = d->nq, dim = d->dim, k = (size_t)a->k, rounds = (size_t)a->rounds;
    const int nm = a->quant == AK_QUANT_SQ8 ? 3 : 1;
    akidb_status st = AKIDB_OK;
    long efs[64];
    size_t nef = 0;
    for (const char *e = a->ef_list; *e && nef < 64;) {
        char *end;
        long ef = strtol(e, &end, 10);
        if (end == e || ef < 1)
            break;
        efs[nef++] = ef;
        e = *end == ',' ? end + 1 : end;
    }
    size_t np = nef * (size_t)nm;   /* point p: ef efs[p / nm], mode p % nm */
    ak_hit *hits = ak_malloc(k * sizeof *hits);
    double *qps = ak_malloc((np ? np : 1) * rounds * sizeof *qps);
    double *cqps = ak_malloc((np ? np : 1) * rounds * sizeof *cqps);
    double *recall = ak_malloc((np ? np : 1) * sizeof *recall);
    if (!hits || !qps || !cqps || !recall) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto done;
    }
    size_t nh;
    for (size_t i = 0; i < nq && i < 1000; i++)
        ak_hnsw_search(d->h, d->query + i * dim, k, 10, NULL, NULL, hits, &nh);
    for (size_t r = 0; r < rounds; r++)
        for (size_t p = 0; p < np; p++)
            if ((st = sweep_point(a, d, efs[p / nm], (int)(p % nm), hits, &recall[p],
                                  &qps[p * rounds + r], &cqps[p * rounds + r])))
                goto done;
    for (size_t p = 0; p < np; p++) {
        double *v = qps + p * rounds;
        printf("%s{\"ef\":%ld,", p ? "," : "", efs[p / nm]);
        if (nm > 1)
            printf("\"mode\":\"%s\",", mode_name[p % nm]);
        printf("\"recall\":%.4f,\"qps_all\":[", recall[p]);
        for (size_t r = 0; r < rounds; r++)
            printf("%s%.1f", r ? "," : "", v[r]);
        printf("],\"cpu_qps_all\":[");
        for (size_t r = 0; r < rounds; r++)
            printf("%s%.1f", r ? "," : "", cqps[p * rounds + r]);
        printf("],\"qps\":%.1f}", median(v, rounds));
    }
done:
    ak_free(hits);
    ak_free(qps);
    ak_free(cqps);
    ak_free(recall);
    return st;
}

int akidb_cmd_bench_ann(int argc, char **argv)
{
    ann_args a;
    int rc = ann_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    ann_data d;
    memset(&d, 0, sizeof d);
    size_t qdim;
    akidb_status st;
    if ((st = read_vecs(a.base_path, (void **)&d.base, &d.n, &d.dim)) ||
        (st = read_vecs(a.query_path, (void **)&d.query, &d.nq, &qdim)))
        goto fail;
    if (qdim != d.dim) {
        st = ak_fail(AKIDB_EDIM, "query dimension %zu != base dimension %zu", qdim, d.dim);
        goto fail;
    }
    if (a.nq_limit > 0 && (size_t)a.nq_limit < d.nq)
        d.nq = (size_t)a.nq_limit;
    if ((st = ann_truth(&a, &d)) || (st = ann_graph(&a, &d)))
        goto fail;
    size_t mem = ak_hnsw_memory(d.h), raw = ak_hnsw_raw_bytes(d.h);
    printf("{\"engine\":\"akidb\",\"simd\":\"%s\",\"metric\":\"%s\",\"n\":%zu,\"dim\":%zu,"
           "\"nq\":%zu,\"k\":%ld,\"M\":%ld,\"efc\":%ld,\"threads\":%ld,"
           "\"loaded\":%s,\"build_s\":%.3f,\"memory_bytes\":%zu,\"raw_bytes\":%zu,"
           "\"vectors_bytes\":%zu,\"rounds\":%ld,",
           akidb_kernels_name(ak_dist_path()), ak_metric_name(a.metric), d.n, d.dim, d.nq, a.k,
           a.M, a.efc, a.threads, d.loaded ? "true" : "false", d.build_s, mem, raw,
           d.n * d.dim * sizeof(float), a.rounds);
    if (a.quant == AK_QUANT_SQ8) {
        ak_hnsw_params hp = ak_hnsw_get_params(d.h);
        printf("\"quant\":\"sq8\",\"quantile\":%.4g,\"sq8_kernel\":\"%s\",\"quant_bytes\":%zu,",
               (double)hp.quantile, ak_sq8_isa_name(ak_sq8_isa_for(ak_dist_path())),
               ak_hnsw_quant_memory(d.h));
    }
    printf("\"sweep\":[");
    if ((st = ann_sweep(&a, &d)))
        goto fail;
    printf("]}\n");
    rc = 0;
    goto done;
fail:
    rc = 1;
    fprintf(stderr, "bench ann: %s\n", akidb_last_error()[0] ? akidb_last_error() : akidb_strerror(st));
done:
    ak_hnsw_free(d.h);
    ak_free(d.base);
    ak_free(d.query);
    ak_free(d.gt);
    return rc;
}
