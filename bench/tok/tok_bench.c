/*
 * tok_bench.c - akidb_bench_tok: single-threaded encode throughput of AkiDB's
 * tokenizer, the C side of bench/tok/run.sh (bench/tok/peer.mjs runs the
 * peers on the same files and prints the same JSON).
 *
 *   akidb_bench_tok --tokenizer FILE|DIR --input CORPUS [--label NAME]
 *                   [--min-seconds 2] [--embed-model DIR] [--embed-texts 100]
 *                   [--offsets 1]
 *
 * The tokenizer is a tokenizer.json (ak_tokenizer_from_json), a sentencepiece
 * .model (ak_tokenizer_from_spm) or a model folder (akidb_tokenizer_load).
 * CORPUS holds one text per line as a JSON string (the format of
 * tests/data/tok_multilingual.txt); '#' lines and blank lines are skipped.
 *
 * Measured: one unmeasured pass over every text, then whole passes until
 * --min-seconds have gone by: akidb_tokenizer_encode(text, no truncation),
 * special tokens included, one text per call, one thread.  Reported on one
 * JSON line: texts, bytes, tokens per pass, passes, wall seconds
 * (CLOCK_MONOTONIC) and process CPU seconds, tokens/s of both, and an FNV-1a
 * hash of every id of one pass (peer.mjs computes the same hash, so equal
 * hashes mean the engines gave the same ids).
 *
 * --offsets 1: akidb_tokenizer_encode_offsets instead (the token spans too;
 * the ids and their hash are the same).
 *
 * --embed-model DIR (a MiniLM-shaped model folder from bench/embed): also
 * embeds the first --embed-texts texts one per akidb_embed call on one
 * thread (after 5 warm-up calls) and reports the mean embedding time per
 * text next to the mean tokenization time of the same texts.
 */
#include "akidb.h"
#include "common/common.h"
#include "text/spm_model.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct corpus {
    char **text;
    size_t *len;
    size_t n, bytes;
} corpus;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int die(const char *what)
{
    fprintf(stderr, "akidb_bench_tok: %s: %s\n", what, akidb_last_error());
    return 1;
}

static int load_corpus(const char *path, corpus *c)
{
    char *data = NULL;
    size_t len = 0, cap = 0;
    if (ak_read_file(path, (size_t)1 << 30, &data, &len) != AKIDB_OK)
        return die(path);
    for (char *line = data, *end; line < data + len; line = end + 1) {
        end = memchr(line, '\n', (size_t)(data + len - line));
        if (!end)
            end = data + len;
        if (end == line || line[0] == '#')
            continue;
        json_error_t err;
        json_t *s = json_loadb(line, (size_t)(end - line), JSON_DECODE_ANY | JSON_ALLOW_NUL,
                               &err);
        if (!s || !json_is_string(s)) {
            fprintf(stderr, "akidb_bench_tok: %s: line %d: not a JSON string\n", path,
                    err.line);
            json_decref(s);
            ak_free(data);
            return 1;
        }
        if (c->n == cap) {
            cap = cap ? 2 * cap : 1024;
            c->text = ak_realloc(c->text, cap * sizeof *c->text);
            c->len = ak_realloc(c->len, cap * sizeof *c->len);
            if (!c->text || !c->len)
                return die("out of memory");
        }
        size_t sl = json_string_length(s);
        c->text[c->n] = ak_malloc(sl + 1);
        if (!c->text[c->n])
            return die("out of memory");
        memcpy(c->text[c->n], json_string_value(s), sl + 1);
        c->len[c->n++] = sl;
        c->bytes += sl;
        json_decref(s);
    }
    ak_free(data);
    return 0;
}

static akidb_status load_tokenizer(const char *path, akidb_tokenizer **tok)
{
    size_t pl = strlen(path);
    if (pl > 5 && strcmp(path + pl - 5, ".json") == 0) {
        char *data = NULL;
        size_t len = 0;
        akidb_status st = ak_read_file(path, AK_TOK_MAX_FILE, &data, &len);
        if (st == AKIDB_OK)
            st = ak_tokenizer_from_json(data, len, path, tok);
        ak_free(data);
        return st;
    }
    if (pl > 6 && strcmp(path + pl - 6, ".model") == 0)
        return ak_tokenizer_from_spm(path, NULL, tok);
    return akidb_tokenizer_load(path, tok);
}

/* FNV-1a over the ids' 4 little-endian bytes, chained across texts. */
static uint32_t fnv(uint32_t h, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) {
            h ^= (v >> (8 * b)) & 0xFF;
            h *= 16777619u;
        }
    }
    return h;
}

static bool g_offsets;          /* --offsets: encode with spans */
static akidb_spans g_spans;

/* One pass over the first n texts; returns the tokens, *hash their hash. */
static size_t pass(const akidb_tokenizer *tok, const corpus *c, size_t n, akidb_tokens *t,
                   uint32_t *hash)
{
    size_t total = 0;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        akidb_status st =
            g_offsets ? akidb_tokenizer_encode_offsets(tok, c->text[i], c->len[i], 0, t, &g_spans)
                      : akidb_tokenizer_encode(tok, c->text[i], c->len[i], 0, t);
        if (st != AKIDB_OK) {
            fprintf(stderr, "akidb_bench_tok: text %zu: %s\n", i, akidb_last_error());
            exit(1);
        }
        total += t->n;
        h = fnv(h, t->ids, t->n);
    }
    *hash = h;
    return total;
}

/* Mean seconds per text of embedding the first n texts, one per call. */
static int embed_times(const char *dir, const akidb_tokenizer *tok, const corpus *c, size_t n,
                       double *embed_s, double *tok_s, size_t *tokens)
{
    akidb_model_opts mo = {0};
    mo.n_threads = 1;
    akidb_model *m = NULL;
    if (akidb_model_load(dir, &mo, &m) != AKIDB_OK)
        return die(dir);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    float *out = ak_malloc(info.dim * sizeof *out);
    if (!out)
        return die("out of memory");
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.n_threads = 1;
    for (size_t i = 0; i < 5 && i < n; i++)
        if (akidb_embed(m, (const char *const *)&c->text[i], &c->len[i], 1, out, &eo) !=
            AKIDB_OK)
            return die("akidb_embed");
    double t0 = ak_now();
    for (size_t i = 0; i < n; i++)
        if (akidb_embed(m, (const char *const *)&c->text[i], &c->len[i], 1, out, &eo) !=
            AKIDB_OK)
            return die("akidb_embed");
    *embed_s = (ak_now() - t0) / (double)n;
    /* the same texts' tokenization, many passes for a stable mean */
    akidb_tokens t = {0};
    uint32_t h;
    size_t reps = 0;
    t0 = ak_now();
    do {
        *tokens = pass(tok, c, n, &t, &h);
        reps++;
    } while (ak_now() - t0 < 0.5);
    *tok_s = (ak_now() - t0) / (double)(reps * n);
    akidb_tokens_free(&t);
    ak_free(out);
    akidb_model_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    const char *tok_path = NULL, *input = NULL, *label = "", *embed_dir = NULL;
    double min_s = 2.0;
    size_t embed_n = 100;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "akidb_bench_tok: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--tokenizer"))
            tok_path = v;
        else if (!strcmp(a, "--input"))
            input = v;
        else if (!strcmp(a, "--label"))
            label = v;
        else if (!strcmp(a, "--min-seconds"))
            min_s = atof(v);
        else if (!strcmp(a, "--embed-model"))
            embed_dir = v;
        else if (!strcmp(a, "--embed-texts"))
            embed_n = (size_t)atol(v);
        else if (!strcmp(a, "--offsets"))
            g_offsets = atoi(v) != 0;
        else {
            fprintf(stderr, "usage: akidb_bench_tok --tokenizer FILE|DIR --input CORPUS "
                            "[--label NAME] [--min-seconds S] [--embed-model DIR] "
                            "[--embed-texts N] [--offsets 1]\n");
            return 2;
        }
    }
    if (!tok_path || !input) {
        fprintf(stderr, "akidb_bench_tok: --tokenizer and --input are required\n");
        return 2;
    }
    ak_json_init();
    corpus c = {0};
    if (load_corpus(input, &c) != 0 || c.n == 0)
        return 1;
    akidb_tokenizer *tok = NULL;
    double t0 = ak_now();
    if (load_tokenizer(tok_path, &tok) != AKIDB_OK)
        return die(tok_path);
    double load_s = ak_now() - t0;

    akidb_tokens t = {0};
    uint32_t hash;
    size_t per_pass = pass(tok, &c, c.n, &t, &hash), passes = 0;   /* warm-up */
    double w0 = ak_now(), c0 = cpu_now(), wall, cpu;
    do {
        pass(tok, &c, c.n, &t, &hash);
        passes++;
        wall = ak_now() - w0;
    } while (wall < min_s);
    cpu = cpu_now() - c0;
    double toks = (double)per_pass * (double)passes;
    printf("{\"engine\":\"akidb\",\"label\":\"%s\",\"texts\":%zu,\"bytes\":%zu,"
           "\"tokens\":%zu,\"hash\":\"%08x\",\"passes\":%zu,\"wall_s\":%.4f,\"cpu_s\":%.4f,"
           "\"tokens_per_s\":%.1f,\"tokens_per_cpu_s\":%.1f,\"us_per_text\":%.3f,"
           "\"load_ms\":%.1f",
           label, c.n, c.bytes, per_pass, hash, passes, wall, cpu, toks / wall, toks / cpu,
           wall / (double)(passes * c.n) * 1e6, load_s * 1e3);
    if (embed_dir) {
        size_t n = embed_n < c.n ? embed_n : c.n, ntok = 0;
        double es = 0, ts = 0;
        if (embed_times(embed_dir, tok, &c, n, &es, &ts, &ntok) != 0)
            return 1;
        printf(",\"embed_texts\":%zu,\"embed_tokens\":%zu,\"embed_us_per_text\":%.1f,"
               "\"tokenize_us_per_text\":%.3f,\"tokenize_over_embed\":%.5f",
               n, ntok, es * 1e6, ts * 1e6, ts / es);
    }
    printf("}\n");
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
    for (size_t i = 0; i < c.n; i++)
        ak_free(c.text[i]);
    ak_free(c.text);
    ak_free(c.len);
    return 0;
}
