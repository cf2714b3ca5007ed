/*
 * regex_bench.c - throughput of the tokenizer's regex layer (src/text/regex.c,
 * PCRE2 with JIT) on the pre-tokenization patterns of Qwen3, Llama 3 and
 * GPT-2, over multilingual text: the texts of tests/data/tok_multilingual.txt
 * repeated to about 8 MB.  Reports MB/s of UTF-8 input for
 *   whole   - one ak_regex_each call over the whole text (find-all);
 *   lines   - one call per text, as the encoder calls it (per-call setup
 *             included);
 *   interp  - the pattern as written (not rewritten for Oniguruma's
 *             meanings) on PCRE2's interpreter, JIT off, whole text, for
 *             comparison.
 *
 * Usage (from the source root):
 *   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release
 *   cmake --build build/release --target akidb_bench_regex
 *   build/release/bench/akidb_bench_regex [tests/data/tok_multilingual.txt] [megabytes]
 */
#define PCRE2_CODE_UNIT_WIDTH 32
#include "common/common.h"
#include "text/regex.h"

#include <jansson.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name, *pat;
} pats[] = {
    {"qwen3", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}"
              "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"llama3", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s"
               "\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
    {"gpt2", "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
};

typedef struct text {
    uint32_t *v;
    size_t n;             /* code points                         */
    size_t *line_end;     /* end of each text (code points)      */
    size_t lines;
    size_t bytes;         /* UTF-8 bytes                         */
} text;

static akidb_status count(void *ctx, size_t s, size_t e)
{
    (void)s;
    (void)e;
    (*(size_t *)ctx)++;
    return AKIDB_OK;
}

static int load(const char *path, size_t want_bytes, text *t)
{
    char *data = NULL;
    size_t len;
    if (ak_read_file(path, (size_t)1 << 26, &data, &len) != AKIDB_OK) {
        fprintf(stderr, "regex_bench: %s\n", akidb_last_error());
        return -1;
    }
    size_t cap = want_bytes + (1 << 16), lcap = want_bytes / 8 + 1024;
    t->v = malloc(cap * sizeof *t->v);
    t->line_end = malloc(lcap * sizeof *t->line_end);
    while (t->bytes < want_bytes) {
        for (char *line = data, *end; line < data + len; line = end + 1) {
            end = memchr(line, '\n', (size_t)(data + len - line));
            if (!end)
                end = data + len;
            if (end == line || line[0] == '#')
                continue;
            json_t *s = json_loadb(line, (size_t)(end - line), JSON_DECODE_ANY, NULL);
            if (!s || !json_is_string(s) || json_string_length(s) == 0) {
                json_decref(s);
                continue;
            }
            const unsigned char *u = (const unsigned char *)json_string_value(s);
            size_t ul = json_string_length(s);
            if (t->n + ul + 1 > cap || t->lines + 1 > lcap) {
                json_decref(s);
                break;
            }
            for (size_t i = 0; i < ul;)
                i += (size_t)ak_utf8_decode(u + i, &t->v[t->n++]);
            t->v[t->n++] = '\n';
            t->line_end[t->lines++] = t->n;
            t->bytes += ul + 1;
            json_decref(s);
        }
        if (t->n + 8192 > cap || t->lines + 1 > lcap)
            break;
    }
    ak_free(data);
    return 0;
}

static double interp_mbs(const char *pat, const text *t)
{
    int err;
    PCRE2_SIZE off;
    size_t pl = strlen(pat);
    uint32_t *p = malloc(pl * sizeof *p);
    for (size_t i = 0; i < pl; i++)
        p[i] = (unsigned char)pat[i];
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)p, pl, PCRE2_UTF | PCRE2_UCP, &err, &off,
                                     NULL);
    free(p);
    if (!code)
        return 0;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    double t0 = ak_now();
    size_t start = 0;
    while (start < t->n) {
        int rc = pcre2_match(code, (PCRE2_SPTR)t->v, t->n, start,
                             PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        start = ov[1] > start ? ov[1] : start + 1;
    }
    double dt = ak_now() - t0;
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return (double)t->bytes / 1e6 / dt;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "tests/data/tok_multilingual.txt";
    size_t mb = argc > 2 ? (size_t)atol(argv[2]) : 8;
    text t = {0};
    if (load(path, mb << 20, &t) != 0)
        return 1;
    uint32_t jit = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit);
    printf("text: %.1f MB UTF-8, %zu code points, %zu texts; PCRE2 JIT %s\n",
           (double)t.bytes / 1e6, t.n, t.lines, jit ? "available" : "not available");
    printf("%-8s %10s %10s %10s %12s\n", "pattern", "whole", "lines", "interp", "matches");
    for (size_t k = 0; k < sizeof pats / sizeof pats[0]; k++) {
        ak_regex *re = NULL;
        if (ak_regex_compile(pats[k].pat, strlen(pats[k].pat), false, "bench", "pattern",
                             &re) != AKIDB_OK) {
            fprintf(stderr, "regex_bench: %s\n", akidb_last_error());
            return 1;
        }
        size_t matches = 0, m2 = 0;
        double best = 1e9, best_l = 1e9;
        for (int rep = 0; rep < 3; rep++) {
            matches = 0;
            double t0 = ak_now();
            ak_regex_each(re, t.v, t.n, count, &matches);
            double dt = ak_now() - t0;
            best = dt < best ? dt : best;
            m2 = 0;
            t0 = ak_now();
            for (size_t i = 0, s = 0; i < t.lines; s = t.line_end[i++])
                ak_regex_each(re, t.v + s, t.line_end[i] - s, count, &m2);
            dt = ak_now() - t0;
            best_l = dt < best_l ? dt : best_l;
        }
        printf("%-8s %7.1f MB/s %5.1f MB/s %5.1f MB/s %12zu\n", pats[k].name,
               (double)t.bytes / 1e6 / best, (double)t.bytes / 1e6 / best_l,
               interp_mbs(pats[k].pat, &t), matches);
        ak_regex_free(re);
    }
    free(t.v);
    free(t.line_end);
    return 0;
}
