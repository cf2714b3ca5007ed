/*
 * cmd_bench.c - `akidb bench embed`: measures the embedding engine on a file
 * of texts (one per line) and prints ONE JSON object on stdout.
 *
 * What it measures, in this order (the ONNX Runtime peer in
 * bench/embed/ort_bench.mjs follows the same steps, so the two are compared
 * like for like):
 *   1. load the model folder (timed; resident memory before/after);
 *   2. one tokenisation pass over all texts (timed, single thread), which
 *      gives the token counts (after truncation to the model's max length);
 *   3. warm-up: --warmup single-text akidb_embed calls, texts taken in file
 *      order (wrapping around), not measured;
 *   4. latency: every text once, one text per akidb_embed call; each call is
 *      timed with the monotonic clock.  Percentiles p50/p95/p99 use linear
 *      interpolation between order statistics (rank p/100 * (n - 1)).  The
 *      tokenisation of the same text is timed just before the call, so a
 *      model-only latency (call minus its tokenisation) is also reported;
 *   5. throughput: one unmeasured batch (the first), then the whole file in
 *      file order, --batch texts per akidb_embed call; texts/s and tokens/s
 *      over the sum of the call times.  Model-only throughput subtracts the
 *      time of pass 2 (tokenising all texts).
 * Useful FLOPs per text of t tokens are counted as
 *   layers * (2 * t * (4 H^2 + 2 H I) + 4 * t^2 * H)
 * (the linear layers plus the two attention products; padding, embeddings,
 * layer norms, softmax and pooling are not counted) and reported as GFLOP/s.
 * cpu_cores_used = process CPU time / wall time of a pass: how many of the
 * --threads the engine kept busy (other processes do not count).
 *
 * `akidb bench rerank` measures a cross-encoder the same way: the first line
 * of the file is the query, the next --passages lines the passages; --warmup
 * unmeasured and --repeat measured akidb_rerank calls, each scoring every
 * passage; pairs/s over the measured calls, and the scores of the last call
 * so that the peer (bench/families/ort_rerank.mjs) can check it computes the
 * same.
 */
#include "akidb.h"
#include "cli/cli.h"
#include "cli/lines.h"
#include "common/common.h"
#include "common/cpu.h"

#include <jansson.h>

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers ------------------------------------------------------ */

static void bench_usage(FILE *f)
{
    fprintf(f,
            "usage: akidb bench embed --model DIR --input FILE [options]\n"
            "\n"
            "Measures embedding speed on a file with one text per line and prints one\n"
            "JSON object: single-text latency percentiles (one text per call, after\n"
            "warm-up, every text of the file once), batch throughput over the whole\n"
            "file, tokenisation time, GFLOP/s and memory.\n"
            "\n"
            "options:\n"
            "  --model DIR        model folder (config.json, model.safetensors, tokenizer)\n"
            "  --input FILE       texts, one per line (UTF-8); '-' reads stdin\n"
            "  --threads N        threads per akidb_embed call (default 1)\n"
            "  --batch N          texts per call in the throughput pass (default 32)\n"
            "  --warmup N         unmeasured single-text calls first (default 20)\n"
            "  --max-texts N      use only the first N texts of the file (default all)\n"
            "  --kernels PATH     scalar|avx2|avx512|neon (default: best the CPU has)\n"
            "  --dtype f32|bf16|int8  compute precision of the linear layers (default:\n"
            "                     $AKIDB_DTYPE, else f32, the exact one)\n"
            "  --no-latency       skip the single-text latency pass\n"
            "  --no-throughput    skip the batch throughput pass\n"
            "  -h, --help         this text\n");
}

static int parse_count(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "akidb: %s: expected an integer in %ld..%ld, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Resident set size now, in bytes (0 if /proc is unavailable). */
static long long rss_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    long long size = 0, resident = 0;
    int ok = fscanf(f, "%lld %lld", &size, &resident) == 2;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? resident * page : 0;
}

/* Peak resident set size of the process, in bytes. */
static long long rss_peak(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (long long)ru.ru_maxrss * 1024;   /* Linux reports KiB */
}

/* CPU time of the whole process (all threads, user + system), in seconds. */
static double cpu_now(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Total size of the *.safetensors files of a model folder. */
static long long weights_file_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    long long total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        static const char suffix[] = ".safetensors";
        if (n < sizeof suffix || strcmp(e->d_name + n - (sizeof suffix - 1), suffix) != 0)
            continue;
        char *p = ak_path_join(dir, e->d_name);
        struct stat st;
        if (p != NULL && stat(p, &st) == 0 && S_ISREG(st.st_mode))
            total += (long long)st.st_size;
        ak_free(p);
    }
    closedir(d);
    return total;
}

static void json_str(FILE *f, const char *s)
{
    putc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            putc(*p, f);
    }
    putc('"', f);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile p (0..100) of sorted[0..n-1]: linear interpolation between the
 * order statistics at rank p/100 * (n - 1).  The peer computes it the same. */
static double percentile(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0.0;
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)rank;   /* rank >= 0: truncation is floor */
    size_t hi = lo + 1 < n ? lo + 1 : n - 1;
    double frac = rank - (double)lo;
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

/* Prints {"p50":..,"p95":..,"p99":..,"mean":..,"min":..,"max":..} of v[0..n-1]
 * scaled by `scale` (seconds -> ms or us); sorts v in place. */
static void print_stats(FILE *f, double *v, size_t n, double scale)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    qsort(v, n, sizeof *v, cmp_double);
    fprintf(f, "{\"p50\": %.4f, \"p95\": %.4f, \"p99\": %.4f, \"mean\": %.4f, \"min\": %.4f, \"max\": %.4f}",
            percentile(v, n, 50) * scale, percentile(v, n, 95) * scale,
            percentile(v, n, 99) * scale, n ? sum / (double)n * scale : 0.0,
            n ? v[0] * scale : 0.0, n ? v[n - 1] * scale : 0.0);
}

/* Useful FLOPs of a forward pass over one text of t tokens (see the header). */
static double text_flops(const akidb_model_info *mi, size_t t)
{
    double H = (double)mi->hidden, I = (double)mi->intermediate, T = (double)t;
    return (double)mi->n_layers * (2.0 * T * (4.0 * H * H + 2.0 * H * I) + 4.0 * T * T * H);
}

typedef struct bench_texts {
    char **text;
    size_t *len;
    size_t n, cap;
} bench_texts;

static void texts_free(bench_texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        ak_free(t->text[i]);
    ak_free(t->text);
    ak_free(t->len);
    memset(t, 0, sizeof *t);
}

/* Reads up to max texts (0: all) from path.  Returns 0, or -1 with the error
 * printed. */
static int texts_read(bench_texts *t, const char *path, size_t max)
{
    cli_lines in;
    if (cli_lines_open(&in, path) != AKIDB_OK)
        return -1;
    int r = 0;
    while ((max == 0 || t->n < max) && (r = cli_lines_next(&in)) > 0) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 256;
            char **nt = ak_realloc(t->text, cap * sizeof *nt);
            if (nt != NULL)
                t->text = nt;
            size_t *nl = ak_realloc(t->len, cap * sizeof *nl);
            if (nl != NULL)
                t->len = nl;
            if (nt == NULL || nl == NULL) {
                fprintf(stderr, "akidb: out of memory reading %s\n", in.name);
                cli_lines_close(&in);
                return -1;
            }
            t->cap = cap;
        }
        t->text[t->n] = ak_strndup(in.buf, in.len);
        if (t->text[t->n] == NULL) {
            fprintf(stderr, "akidb: out of memory reading %s\n", in.name);
            cli_lines_close(&in);
            return -1;
        }
        t->len[t->n++] = in.len;
    }
    int bad = (max == 0 || t->n < max) && r < 0;
    if (t->n == 0 && !bad)
        fprintf(stderr, "akidb: %s: no texts (the file is empty)\n", in.name);
    cli_lines_close(&in);
    return bad || t->n == 0 ? -1 : 0;
}

/* ---- bench embed ------------------------------------------------------- */

/* The options of `akidb bench embed`. */
typedef struct embed_args {
    const char *model_dir, *input, *kernels, *dtype;
    long threads, batch, warmup, max_texts;
    int do_latency, do_throughput;
} embed_args;

/* Reads argv into *a; returns -1 to go on, else the exit code. */
static int embed_parse(int argc, char **argv, embed_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"threads", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},
        {"warmup", required_argument, NULL, 'w'},
        {"max-texts", required_argument, NULL, 'n'},
        {"kernels", required_argument, NULL, 'k'},
        {"dtype", required_argument, NULL, 'd'},
        {"no-latency", no_argument, NULL, 'L'},
        {"no-throughput", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    *a = (embed_args){ NULL, NULL, NULL, NULL, 1, 32, 20, 0, 1, 1 };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:t:b:w:n:k:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model_dir = optarg; break;
        case 'i': a->input = optarg; break;
        case 't':
            if (parse_count("--threads", optarg, 1, 1024, &a->threads) != 0)
                return 2;
            break;
        case 'b':
            if (parse_count("--batch", optarg, 1, 65536, &a->batch) != 0)
                return 2;
            break;
        case 'w':
            if (parse_count("--warmup", optarg, 0, 1000000, &a->warmup) != 0)
                return 2;
            break;
        case 'n':
            if (parse_count("--max-texts", optarg, 1, 100000000, &a->max_texts) != 0)
                return 2;
            break;
        case 'k': a->kernels = optarg; break;
        case 'd':
            if (strcmp(optarg, "f32") != 0 && strcmp(optarg, "bf16") != 0 &&
                strcmp(optarg, "int8") != 0) {
                fprintf(stderr, "akidb: --dtype: expected f32, bf16 or int8, got '%s'\n", optarg);
                return 2;
            }
            a->dtype = optarg;
            break;
        case 'L': a->do_latency = 0; break;
        case 'T': a->do_throughput = 0; break;
        case 'h': bench_usage(stdout); return 0;
        default: bench_usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "akidb: bench embed: unexpected argument '%s'\n", argv[optind]);
        bench_usage(stderr);
        return 2;
    }
    if (a->model_dir == NULL || a->input == NULL) {
        fprintf(stderr, "akidb: bench embed: --model and --input are required\n");
        bench_usage(stderr);
        return 2;
    }
    return -1;
}

/* Selects the --kernels path; 0, or the exit code. */
static int select_kernels(const char *kernels)
{
    static const struct { const char *name; akidb_kernel_path path; } paths[] = {
        {"scalar", AKIDB_KERNELS_SCALAR}, {"avx2", AKIDB_KERNELS_AVX2},
        {"avx512", AKIDB_KERNELS_AVX512}, {"neon", AKIDB_KERNELS_NEON},
        {"auto", AKIDB_KERNELS_AUTO},
    };
    size_t k = 0, np = sizeof paths / sizeof paths[0];
    while (k < np && strcmp(paths[k].name, kernels) != 0)
        k++;
    if (k == np) {
        fprintf(stderr, "akidb: --kernels: expected scalar, avx2, avx512, neon or auto, got '%s'\n",
                kernels);
        return 2;
    }
    if (akidb_kernels_select(paths[k].path) != AKIDB_OK) {
        fprintf(stderr, "akidb: --kernels %s: %s\n", kernels, akidb_last_error());
        return 1;
    }
    return 0;
}

/* What one `bench embed` run measured. */
typedef struct embed_run {
    const embed_args *a;
    const bench_texts *tx;
    akidb_model *model;
    akidb_model_info mi;
    akidb_tokens toks;
    akidb_embed_opts eo;
    float *vecs;
    size_t bcap;
    double load_s, tokenize_s, flops_total;
    size_t tokens_total, truncated;
    double *lat, *lat_model, *lat_tok;   /* per text, when measured */
    double lat_sum, lat_wall, lat_cpu;
    double thr_s, thr_cpu;
    size_t thr_tokens_reported;
    long long rss_before, rss_loaded, rss_warm, wbytes;
} embed_run;

/* Tokenises every text twice: the token counts (after truncation) and a
 * warm-up, then the timed pass.  0 or -1 (said why). */
static int embed_tokenize(embed_run *r)
{
    const akidb_tokenizer *tok = akidb_model_tokenizer(r->model);
    const bench_texts *tx = r->tx;
    for (size_t i = 0; i < tx->n; i++) {
        if (akidb_tokenizer_encode(tok, tx->text[i], tx->len[i], r->mi.max_tokens, &r->toks) !=
            AKIDB_OK) {
            fprintf(stderr, "akidb: %s:%zu: %s\n", r->a->input, i + 1, akidb_last_error());
            return -1;
        }
        r->truncated += r->toks.n_full > r->toks.n;
        r->tokens_total += r->toks.n;
        r->flops_total += text_flops(&r->mi, r->toks.n);
    }
    double t0 = ak_now();
    for (size_t i = 0; i < tx->n; i++)
        (void)akidb_tokenizer_encode(tok, tx->text[i], tx->len[i], r->mi.max_tokens, &r->toks);
    r->tokenize_s = ak_now() - t0;
    return 0;
}

/* Warm-up, then one text per call, each timed (tokenizer and model apart).
 * 0 or -1. */
static int embed_latency(embed_run *r)
{
    const bench_texts *tx = r->tx;
    const akidb_tokenizer *tok = akidb_model_tokenizer(r->model);
    for (long w = 0; w < r->a->warmup; w++) {
        size_t i = (size_t)w % tx->n;
        if (akidb_embed(r->model, (const char *const *)&tx->text[i], &tx->len[i], 1, r->vecs,
                        &r->eo) != AKIDB_OK) {
            fprintf(stderr, "akidb: %s:%zu: %s\n", r->a->input, i + 1, akidb_last_error());
            return -1;
        }
    }
    r->rss_warm = rss_now();
    if (!r->a->do_latency)
        return 0;
    r->lat_wall = ak_now();
    r->lat_cpu = cpu_now();
    for (size_t i = 0; i < tx->n; i++) {
        double a = ak_now();
        if (akidb_tokenizer_encode(tok, tx->text[i], tx->len[i], r->mi.max_tokens, &r->toks) !=
            AKIDB_OK) {
            fprintf(stderr, "akidb: %s:%zu: %s\n", r->a->input, i + 1, akidb_last_error());
            return -1;
        }
        double b = ak_now();
        if (akidb_embed(r->model, (const char *const *)&tx->text[i], &tx->len[i], 1, r->vecs,
                        &r->eo) != AKIDB_OK) {
            fprintf(stderr, "akidb: %s:%zu: %s\n", r->a->input, i + 1, akidb_last_error());
            return -1;
        }
        double e = ak_now();
        r->lat[i] = e - b;
        r->lat_tok[i] = b - a;
        r->lat_model[i] = r->lat[i] - r->lat_tok[i] > 0 ? r->lat[i] - r->lat_tok[i] : 0;
        r->lat_sum += r->lat[i];
    }
    r->lat_wall = ak_now() - r->lat_wall;
    r->lat_cpu = cpu_now() - r->lat_cpu;
    return 0;
}

/* Batches of --batch texts in file order, after one untimed batch.  0 or
 * -1. */
static int embed_throughput(embed_run *r)
{
    const bench_texts *tx = r->tx;
    const size_t n = tx->n, batch = (size_t)r->a->batch;
    if (!r->a->do_throughput)
        return 0;
    if (akidb_embed(r->model, (const char *const *)tx->text, tx->len, r->bcap, r->vecs, &r->eo) !=
        AKIDB_OK) {
        fprintf(stderr, "akidb: %s:1: %s\n", r->a->input, akidb_last_error());
        return -1;
    }
    for (size_t i = 0; i < n; i += batch) {
        size_t m = n - i < batch ? n - i : batch;
        size_t got = 0;
        r->eo.n_tokens = &got;
        double a = ak_now(), ca = cpu_now();
        akidb_status st = akidb_embed(r->model, (const char *const *)&tx->text[i], &tx->len[i], m,
                                      r->vecs, &r->eo);
        r->thr_s += ak_now() - a;
        r->thr_cpu += cpu_now() - ca;
        r->eo.n_tokens = NULL;
        if (st != AKIDB_OK) {
            fprintf(stderr, "akidb: %s:%zu-%zu: %s\n", r->a->input, i + 1, i + m,
                    akidb_last_error());
            return -1;
        }
        r->thr_tokens_reported += got;
    }
    return 0;
}

/* The run's JSON on stdout.  0, or -1 on a write error. */
static int embed_report(const embed_run *r)
{
    const embed_args *a = r->a;
    const akidb_model_info *mi = &r->mi;
    const size_t n = r->tx->n;
    FILE *o = stdout;
    fprintf(o, "{\n  \"bench\": \"embed\",\n  \"engine\": \"akidb\",\n  \"version\": \"%s\",\n",
            AKIDB_VERSION_STRING);
    fprintf(o, "  \"model\": {\"dir\": ");
    json_str(o, a->model_dir);
    fprintf(o, ", \"name\": ");
    json_str(o, mi->name);
    fprintf(o, ", \"dim\": %zu, \"layers\": %zu, \"hidden\": %zu, \"heads\": %zu, "
               "\"intermediate\": %zu, \"vocab\": %zu, \"max_tokens\": %zu, \"pooling\": ",
            mi->dim, mi->n_layers, mi->hidden, mi->n_heads, mi->intermediate, mi->vocab_size,
            mi->max_tokens);
    json_str(o, akidb_pooling_name(mi->pooling));
    fprintf(o, ", \"normalize\": %s, \"weights_dtype\": ", mi->normalize ? "true" : "false");
    json_str(o, mi->weights_dtype);
    fprintf(o, "},\n  \"input\": {\"file\": ");
    json_str(o, a->input);
    fprintf(o, ", \"texts\": %zu, \"tokens\": %zu, \"avg_tokens\": %.2f, \"truncated\": %zu},\n",
            n, r->tokens_total, (double)r->tokens_total / (double)n, r->truncated);
    ak_json_init();   /* json_dumps then allocates with ak_malloc */
    json_t *cpu = ak_cpu_json();
    char *cpu_text = cpu ? json_dumps(cpu, JSON_COMPACT) : NULL;
    json_decref(cpu);
    fprintf(o, "  \"cpu\": %s,\n", cpu_text ? cpu_text : "null");
    ak_free(cpu_text);
    fprintf(o, "  \"threads\": %ld,\n  \"kernels\": ", a->threads);
    json_str(o, akidb_kernels_name(akidb_kernels_active()));
    fprintf(o, ",\n  \"dtype\": ");
    json_str(o, a->dtype ? a->dtype : getenv("AKIDB_DTYPE") ? getenv("AKIDB_DTYPE") : "f32");
    fprintf(o, ",\n  \"batch\": %ld,\n  \"warmup\": %ld,\n  \"load_s\": %.4f,\n", a->batch,
            a->warmup, r->load_s);
    fprintf(o, "  \"tokenize\": {\"total_s\": %.6f, \"us_per_text\": %.3f},\n", r->tokenize_s,
            r->tokenize_s / (double)n * 1e6);
    fprintf(o, "  \"flops\": {\"total\": %.6g, \"per_text_avg\": %.6g},\n", r->flops_total,
            r->flops_total / (double)n);
    if (a->do_latency) {
        fprintf(o, "  \"latency_ms\": ");
        print_stats(o, r->lat, n, 1e3);
        fprintf(o, ",\n  \"latency_model_ms\": ");
        print_stats(o, r->lat_model, n, 1e3);
        fprintf(o, ",\n  \"latency_tokenize_us\": ");
        print_stats(o, r->lat_tok, n, 1e6);
        fprintf(o, ",\n  \"latency_gflops\": %.3f,\n",
                r->lat_sum > 0 ? r->flops_total / r->lat_sum / 1e9 : 0.0);
        fprintf(o, "  \"latency_cpu_cores_used\": %.2f,\n",
                r->lat_wall > 0 ? r->lat_cpu / r->lat_wall : 0.0);
    }
    if (a->do_throughput) {
        double thr_s = r->thr_s, model_s = thr_s - r->tokenize_s;
        fprintf(o, "  \"throughput\": {\"batch\": %ld, \"seconds\": %.4f, \"texts_per_s\": %.3f, "
                   "\"tokens_per_s\": %.1f, \"gflops\": %.3f, \"model_seconds\": %.4f, "
                   "\"model_texts_per_s\": %.3f, \"model_tokens_per_s\": %.1f, "
                   "\"engine_tokens\": %zu, \"cpu_cores_used\": %.2f},\n",
                a->batch, thr_s, (double)n / thr_s, (double)r->tokens_total / thr_s,
                r->flops_total / thr_s / 1e9, model_s, model_s > 0 ? (double)n / model_s : 0.0,
                model_s > 0 ? (double)r->tokens_total / model_s : 0.0, r->thr_tokens_reported,
                thr_s > 0 ? r->thr_cpu / thr_s : 0.0);
    }
    long long over = r->rss_loaded - r->wbytes;
    fprintf(o, "  \"memory\": {\"weights_file_bytes\": %lld, \"rss_before_load_bytes\": %lld, "
               "\"rss_after_load_bytes\": %lld, \"rss_after_load_minus_weights_bytes\": %lld, "
               "\"rss_after_warmup_bytes\": %lld, \"rss_after_warmup_minus_weights_bytes\": %lld, "
               "\"rss_peak_bytes\": %lld}\n}\n",
            r->wbytes, r->rss_before, r->rss_loaded, over, r->rss_warm, r->rss_warm - r->wbytes,
            rss_peak());
    if (fflush(o) != 0 || ferror(o)) {
        fprintf(stderr, "akidb: <stdout>: write error\n");
        return -1;
    }
    return 0;
}

static int bench_embed(int argc, char **argv)
{
    embed_args a;
    int rc = embed_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.kernels != NULL && (rc = select_kernels(a.kernels)) != 0)
        return rc;
    bench_texts tx = {0};
    if (texts_read(&tx, a.input, (size_t)a.max_texts) != 0) {
        texts_free(&tx);
        return 1;
    }
    embed_run r;
    memset(&r, 0, sizeof r);
    r.a = &a;
    r.tx = &tx;
    r.rss_before = rss_now();
    akidb_model_opts mo = {0};
    mo.n_threads = (int)a.threads;
    mo.dtype = a.dtype;
    double t0 = ak_now();
    if (akidb_model_load(a.model_dir, &mo, &r.model) != AKIDB_OK) {
        fprintf(stderr, "akidb: %s\n", akidb_last_error());
        texts_free(&tx);
        return 1;
    }
    r.load_s = ak_now() - t0;
    r.rss_loaded = rss_now();
    r.wbytes = weights_file_bytes(a.model_dir);
    akidb_model_get_info(r.model, &r.mi);
    rc = 1;
    r.lat = ak_calloc(tx.n, sizeof *r.lat);
    r.lat_model = ak_calloc(tx.n, sizeof *r.lat_model);
    r.lat_tok = ak_calloc(tx.n, sizeof *r.lat_tok);
    r.bcap = (size_t)a.batch < tx.n ? (size_t)a.batch : tx.n;
    r.vecs = ak_malloc(r.bcap * r.mi.dim * sizeof(float));
    r.eo = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    r.eo.n_threads = (int)a.threads;
    if (!r.lat || !r.lat_model || !r.lat_tok || !r.vecs)
        fprintf(stderr, "akidb: out of memory\n");
    else if (embed_tokenize(&r) == 0 && embed_latency(&r) == 0 && embed_throughput(&r) == 0 &&
             embed_report(&r) == 0)
        rc = 0;
    akidb_tokens_free(&r.toks);
    ak_free(r.vecs);
    ak_free(r.lat_tok);
    ak_free(r.lat_model);
    ak_free(r.lat);
    akidb_model_free(r.model);
    texts_free(&tx);
    return rc;
}

/* ---- bench rerank ------------------------------------------------------ */

static void rerank_usage(FILE *f)
{
    fprintf(f,
            "usage: akidb bench rerank --model DIR --input FILE [options]\n"
            "\n"
            "Measures a reranker (cross-encoder): the first line of FILE is the query,\n"
            "the next --passages lines the passages; each measured call scores all of\n"
            "them against the query (one akidb_rerank call).  Prints one JSON object:\n"
            "per-call time percentiles, pairs/s, the scores of the last call (label 0)\n"
            "and memory.\n"
            "\n"
            "options:\n"
            "  --model DIR        reranker folder (*ForSequenceClassification)\n"
            "  --input FILE       query then passages, one per line; '-' reads stdin\n"
            "  --passages N       passages per call (default 100)\n"
            "  --threads N        threads per call (default 1)\n"
            "  --warmup N         unmeasured calls first (default 1)\n"
            "  --repeat N         measured calls (default 3)\n"
            "  -h, --help         this text\n");
}

/* Times calls[0..repeat-1] of akidb_rerank(query, docs) into t; 0 or -1. */
static int rerank_calls(const akidb_model *model, const bench_texts *tx, size_t np,
                        const akidb_rerank_opts *ro, long count, double *t, float *scores)
{
    for (long r = 0; r < count; r++) {
        double a = ak_now();
        if (akidb_rerank(model, tx->text[0], tx->len[0], (const char *const *)tx->text + 1,
                         tx->len + 1, np, ro, scores) != AKIDB_OK) {
            fprintf(stderr, "akidb: bench rerank: %s\n", akidb_last_error());
            return -1;
        }
        if (t)
            t[r] = ak_now() - a;
    }
    return 0;
}

static int bench_rerank(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'}, {"input", required_argument, NULL, 'i'},
        {"passages", required_argument, NULL, 'p'}, {"threads", required_argument, NULL, 't'},
        {"warmup", required_argument, NULL, 'w'}, {"repeat", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *model_dir = NULL, *input = NULL;
    long passages = 100, threads = 1, warmup = 1, repeat = 3;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:p:t:w:r:h", opts, NULL)) != -1) {
        long *dst = c == 'p' ? &passages : c == 't' ? &threads : c == 'w' ? &warmup
                  : c == 'r' ? &repeat : NULL;
        static const char *const names[] = {"--passages", "--threads", "--warmup", "--repeat"};
        if (dst != NULL) {
            int k = c == 'p' ? 0 : c == 't' ? 1 : c == 'w' ? 2 : 3;
            if (parse_count(names[k], optarg, k == 2 ? 0 : 1, k == 2 ? 1000000 : 100000, dst) != 0)
                return 2;
        } else if (c == 'm') {
            model_dir = optarg;
        } else if (c == 'i') {
            input = optarg;
        } else if (c == 'h') {
            rerank_usage(stdout);
            return 0;
        } else {
            rerank_usage(stderr);
            return 2;
        }
    }
    if (optind != argc || model_dir == NULL || input == NULL) {
        fprintf(stderr, "akidb: bench rerank: %s\n", optind != argc ? "unexpected argument"
                                                                    : "--model and --input are required");
        rerank_usage(stderr);
        return 2;
    }
    bench_texts tx = {0};
    if (texts_read(&tx, input, (size_t)passages + 1) != 0) {
        texts_free(&tx);
        return 1;
    }
    if (tx.n < 2) {
        fprintf(stderr, "akidb: bench rerank: %s: a query and at least one passage are needed\n", input);
        texts_free(&tx);
        return 1;
    }
    const size_t np = tx.n - 1;
    akidb_model_opts mo = {0};
    mo.n_threads = (int)threads;
    akidb_model *model = NULL;
    double t0 = ak_now();
    if (akidb_model_load(model_dir, &mo, &model) != AKIDB_OK) {
        fprintf(stderr, "akidb: %s\n", akidb_last_error());
        texts_free(&tx);
        return 1;
    }
    double load_s = ak_now() - t0;
    long long rss_loaded = rss_now();
    int rc = 1;
    akidb_model_info mi;
    akidb_model_get_info(model, &mi);
    double *t = ak_calloc((size_t)repeat, sizeof *t);
    float *scores = ak_calloc(np * (mi.num_labels ? mi.num_labels : 1), sizeof *scores);
    akidb_rerank_opts ro = AKIDB_RERANK_OPTS_INIT;
    ro.n_threads = (int)threads;
    if (!akidb_model_is_reranker(model)) {
        fprintf(stderr, "akidb: bench rerank: %s is not a reranker (no *ForSequenceClassification "
                        "head in its config.json)\n", model_dir);
    } else if (!t || !scores) {
        fprintf(stderr, "akidb: out of memory\n");
    } else if (rerank_calls(model, &tx, np, &ro, warmup, NULL, scores) == 0 &&
               rerank_calls(model, &tx, np, &ro, repeat, t, scores) == 0) {
        double sum = 0;
        for (long r = 0; r < repeat; r++)
            sum += t[r];
        FILE *o = stdout;
        fprintf(o, "{\n  \"bench\": \"rerank\",\n  \"engine\": \"akidb\",\n  \"model\": {\"dir\": ");
        json_str(o, model_dir);
        fprintf(o, ", \"layers\": %zu, \"hidden\": %zu, \"labels\": %zu},\n  \"input\": {\"file\": ",
                mi.n_layers, mi.hidden, mi.num_labels);
        json_str(o, input);
        fprintf(o, ", \"passages\": %zu},\n  \"threads\": %ld,\n  \"kernels\": ", np, threads);
        json_str(o, akidb_kernels_name(akidb_kernels_active()));
        fprintf(o, ",\n  \"warmup\": %ld,\n  \"repeat\": %ld,\n  \"load_s\": %.4f,\n  \"call_ms\": ",
                warmup, repeat, load_s);
        print_stats(o, t, (size_t)repeat, 1e3);
        fprintf(o, ",\n  \"pairs_per_s\": %.3f,\n  \"scores\": [", (double)np * (double)repeat / sum);
        size_t L = mi.num_labels ? mi.num_labels : 1;
        for (size_t i = 0; i < np; i++)
            fprintf(o, "%s%.9g", i ? ", " : "", (double)scores[i * L]);
        fprintf(o, "],\n  \"memory\": {\"weights_file_bytes\": %lld, \"rss_after_load_bytes\": %lld, "
                   "\"rss_peak_bytes\": %lld}\n}\n",
                weights_file_bytes(model_dir), rss_loaded, rss_peak());
        rc = fflush(o) != 0 || ferror(o) ? 1 : 0;
    }
    ak_free(scores);
    ak_free(t);
    akidb_model_free(model);
    texts_free(&tx);
    return rc;
}

int akidb_cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: akidb bench <benchmark> [options]\n"
                   "benchmarks:\n"
                   "  embed   embedding latency and throughput (akidb bench embed --help)\n"
                   "  rerank  reranker pairs/s, one query against N passages (akidb bench rerank --help)\n"
                   "  ann     vector search speed and recall (akidb bench ann --help)\n"
                   "  gemm    the GEMM at model shapes against the FMA peak (akidb bench gemm --help)\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "embed") == 0)
        return bench_embed(argc - 1, argv + 1);
    if (strcmp(argv[1], "rerank") == 0)
        return bench_rerank(argc - 1, argv + 1);
    fprintf(stderr, "akidb: bench: unknown benchmark '%s' (expected embed or ann)\n", argv[1]);
    return 2;
}
