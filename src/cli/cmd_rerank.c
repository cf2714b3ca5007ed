/*
 * cmd_rerank.c - `akidb rerank`: scores documents (one per input line)
 * against a query with a reranker folder, as sentence-transformers'
 * CrossEncoder.predict does (a causal-LM reranker such as Qwen3-Reranker:
 * as its model card does; the folder is loaded as a reranker, so a
 * Qwen3ForCausalLM folder scores by "yes" / "no").  The output is a
 * contract other tools parse, one line per document:
 *   tsv (default):  INDEX<TAB>SCORE            (one column per label when
 *                                               the model has several)
 *   jsonl:          {"index":I,"score":S}      ({"index":I,"scores":[...]}
 *                                               for several labels)
 * INDEX numbers the documents from 0 in input order; lines come in input
 * order, or by decreasing score with --sort (one-label models: the scores
 * of several labels have no single order).
 */
#include "akidb.h"
#include "cli/cli.h"
#include "cli/lines.h"
#include "common/common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RERANK_CHUNK 64   /* documents per akidb_rerank call */

static void rerank_usage(FILE *f)
{
    fprintf(f,
            "usage: akidb rerank --model DIR --query TEXT [--input FILE] [--output FILE]\n"
            "                    [--format tsv|jsonl] [--sort]\n"
            "                    [--activation default|raw|sigmoid|softmax]\n"
            "                    [--max-tokens N]\n"
            "                    [--truncation longest_first|only_first|only_second]\n"
            "                    [--instruction TEXT] [--threads N] [--dtype f32|bf16|int8]\n"
            "Scores each input line (a document; stdin by default) against the query with\n"
            "a reranker: a cross-encoder (a *ForSequenceClassification model folder) or a\n"
            "causal LM asked yes / no (a Qwen3ForCausalLM folder: Qwen3-Reranker), whose\n"
            "raw score is logit(yes) - logit(no) and default sigmoid of it P(yes);\n"
            "--instruction replaces its default task line (web search).\n"
            "tsv writes INDEX<TAB>SCORE per document (one score column per label), jsonl\n"
            "{\"index\":I,\"score\":S} ({\"index\":I,\"scores\":[...]} for several labels).\n"
            "Documents keep their input order unless --sort orders them by decreasing\n"
            "score.  --activation default is the model's (sigmoid for one label, else\n"
            "raw, unless its config names another); --max-tokens defaults to the model's\n"
            "limit, and long pairs are cut by --truncation (default longest_first).\n");
}

static int parse_count(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "akidb: %s: expected an integer in %ld..%ld, got '%s'\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_truncation(const char *s, akidb_truncation *out)
{
    static const char *names[] = { "longest_first", "only_first", "only_second" };
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (akidb_truncation)i;
            return 0;
        }
    }
    fprintf(stderr, "akidb: --truncation: expected longest_first, only_first or only_second, "
                    "got '%s'\n", s);
    return -1;
}

typedef struct rr_args {
    const char *model_dir, *query, *input, *output, *dtype;
    int jsonl, sort, threads;
    akidb_rerank_opts ro;
} rr_args;

/* Parses argv into a; 0, or the exit status (0 for --help, 2 usage). */
static int parse_args(int argc, char **argv, rr_args *a, int *done)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"query", required_argument, NULL, 'q'},
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"sort", no_argument, NULL, 's'},
        {"activation", required_argument, NULL, 'a'},
        {"max-tokens", required_argument, NULL, 'x'},
        {"truncation", required_argument, NULL, 'T'},
        {"threads", required_argument, NULL, 't'},
        {"dtype", required_argument, NULL, 'd'},
        {"instruction", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->threads = 1;
    a->ro = (akidb_rerank_opts)AKIDB_RERANK_OPTS_INIT;
    *done = 0;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:q:i:o:f:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model_dir = optarg; break;
        case 'q': a->query = optarg; break;
        case 'i': a->input = optarg; break;
        case 'o': a->output = optarg; break;
        case 'd': a->dtype = optarg; break;
        case 'I': a->ro.instruction = optarg; break;
        case 's': a->sort = 1; break;
        case 'f':
            if (strcmp(optarg, "tsv") != 0 && strcmp(optarg, "jsonl") != 0) {
                fprintf(stderr, "akidb: --format: expected tsv or jsonl, got '%s'\n", optarg);
                return 2;
            }
            a->jsonl = strcmp(optarg, "jsonl") == 0;
            break;
        case 'a':
            if (akidb_rerank_activation_parse(optarg, &a->ro.activation) != AKIDB_OK) {
                fprintf(stderr, "akidb: --activation: %s\n", akidb_last_error());
                return 2;
            }
            break;
        case 'x':
            if (parse_count("--max-tokens", optarg, 1, 1L << 24, &v) != 0)
                return 2;
            a->ro.max_tokens = (size_t)v;
            break;
        case 'T':
            if (parse_truncation(optarg, &a->ro.truncation) != 0)
                return 2;
            break;
        case 't':
            if (parse_count("--threads", optarg, 1, 1024, &v) != 0)
                return 2;
            a->threads = (int)v;
            break;
        case 'h': rerank_usage(stdout); *done = 1; return 0;
        default: rerank_usage(stderr); return 2;
        }
    }
    if (!a->model_dir || !a->query || optind != argc) {
        rerank_usage(stderr);
        return 2;
    }
    a->ro.n_threads = a->threads;
    return 0;
}

/* Reads every document and scores it: *scores gets n * L floats. */
static int score_all(const akidb_model *model, const rr_args *a, size_t L, float **scores,
                     size_t *n_out)
{
    cli_lines in;
    if (cli_lines_open(&in, a->input) != AKIDB_OK)
        return 1;
    char **texts = ak_calloc(RERANK_CHUNK, sizeof *texts);
    size_t *lens = ak_calloc(RERANK_CHUNK, sizeof *lens), n = 0, cap = 0;
    float *s = NULL;
    int rc = texts && lens ? 0 : 1, r = 1;
    while (rc == 0 && r > 0) {
        size_t k = 0, first_line = in.lineno + 1;
        while (k < RERANK_CHUNK && (r = cli_lines_next(&in)) > 0) {
            if (!(texts[k] = ak_strndup(in.buf, in.len))) {
                r = -1;
                break;
            }
            lens[k++] = in.len;
        }
        if (r < 0)
            rc = 1;
        if (rc == 0 && n + k > cap) {
            cap = (n + k) * 2;
            float *g = ak_realloc(s, cap * L * sizeof *s);
            rc = g ? 0 : 1;
            s = g ? g : s;
        }
        if (rc == 0 && k > 0 &&
            akidb_rerank(model, a->query, strlen(a->query), (const char *const *)texts, lens, k,
                         &a->ro, s + n * L) != AKIDB_OK) {
            fprintf(stderr, "akidb: %s (lines %zu-%zu): %s\n", in.name, first_line,
                    first_line + k - 1, akidb_last_error());
            rc = 1;
        }
        n += k;
        for (size_t i = 0; i < k; i++) {
            ak_free(texts[i]);
            texts[i] = NULL;
        }
    }
    if (!texts || !lens)
        fprintf(stderr, "akidb: out of memory\n");
    ak_free(texts);
    ak_free(lens);
    cli_lines_close(&in);
    *scores = s;
    *n_out = n;
    return rc;
}

static const float *sort_scores;

/* Decreasing score; equal scores keep input order. */
static int by_score(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    float a = sort_scores[i], b = sort_scores[j];
    return a > b ? -1 : a < b ? 1 : (i > j) - (i < j);
}

static int write_scores(FILE *out, const rr_args *a, const float *s, size_t n, size_t L)
{
    size_t *order = ak_malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        fprintf(stderr, "akidb: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    if (a->sort) {
        sort_scores = s;
        qsort(order, n, sizeof *order, by_score);
    }
    for (size_t r = 0; r < n; r++) {
        const float *v = s + order[r] * L;
        if (a->jsonl && L == 1) {
            fprintf(out, "{\"index\":%zu,\"score\":%.9g}\n", order[r], (double)v[0]);
            continue;
        }
        fprintf(out, a->jsonl ? "{\"index\":%zu,\"scores\":[" : "%zu", order[r]);
        for (size_t l = 0; l < L; l++)
            fprintf(out, a->jsonl ? (l ? ",%.9g" : "%.9g") : "\t%.9g", (double)v[l]);
        fputs(a->jsonl ? "]}\n" : "\n", out);
    }
    ak_free(order);
    return 0;
}

int akidb_cmd_rerank(int argc, char **argv)
{
    rr_args a;
    int done, rc = parse_args(argc, argv, &a, &done);
    if (rc != 0 || done)
        return rc;
    akidb_model_opts mo = {0};
    mo.n_threads = a.threads;
    mo.dtype = a.dtype;   /* validated by akidb_model_load */
    mo.reranker = 1;
    akidb_model *model = NULL;
    if (akidb_model_load(a.model_dir, &mo, &model) != AKIDB_OK) {
        fprintf(stderr, "akidb: %s\n", akidb_last_error());
        return 1;
    }
    akidb_model_info info;
    akidb_model_get_info(model, &info);
    if (!akidb_model_is_reranker(model)) {
        fprintf(stderr, "akidb: %s is not a reranker: its config.json \"architectures\" names "
                        "no *ForSequenceClassification class nor Qwen3ForCausalLM "
                        "(use 'akidb embed')\n",
                a.model_dir);
        akidb_model_free(model);
        return 1;
    }
    if (a.sort && info.num_labels != 1) {
        fprintf(stderr, "akidb: --sort needs a one-label model; %s has %zu labels\n",
                a.model_dir, info.num_labels);
        akidb_model_free(model);
        return 2;
    }
    float *scores = NULL;
    size_t n = 0;
    rc = score_all(model, &a, info.num_labels, &scores, &n);
    FILE *out = NULL;
    if (rc == 0) {
        out = a.output && strcmp(a.output, "-") != 0 ? fopen(a.output, "wb") : stdout;
        if (!out) {
            perror(a.output);
            rc = 1;
        }
    }
    if (rc == 0)
        rc = write_scores(out, &a, scores, n, info.num_labels);
    if (out) {
        int bad = ferror(out);
        bad |= (out == stdout ? fflush(out) : fclose(out)) != 0;
        if (bad) {
            fprintf(stderr, "akidb: %s: write error\n", a.output ? a.output : "<stdout>");
            rc = 1;
        }
    }
    ak_free(scores);
    akidb_model_free(model);
    return rc;
}
