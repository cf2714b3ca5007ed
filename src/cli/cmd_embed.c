/*
 * cmd_embed.c - `akidb embed`: a batch tool over text files with one text
 * per line (`akidb tokenize` and `detokenize` are in cmd_tokens.c).  Its
 * output formats are a contract that other tools parse:
 *   embed --format jsonl: one JSON array of floats per input line
 *   embed --format f32:   N x D little-endian float32, no header
 */
#include "akidb.h"
#include "cli/cli.h"
#include "cli/lines.h"
#include "common/common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMBED_CHUNK 64   /* texts per akidb_embed call */

static int parse_threads(const char *s, int *out)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > 1024) {
        fprintf(stderr, "akidb: --threads: expected an integer in 1..1024, got '%s'\n", s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static FILE *open_output(const char *path)
{
    if (path == NULL || strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        perror(path);
    return f;
}

static void embed_usage(FILE *f)
{
    fprintf(f,
            "usage: akidb embed --model DIR [--input FILE] [--output FILE]\n"
            "                   [--format jsonl|f32] [--threads N]\n"
            "                   [--pooling mean|cls|max|mean_sqrt_len|lasttoken|weightedmean]\n"
            "                   [--prompt-name NAME | --prompt TEXT]\n"
            "                   [--normalize | --no-normalize] [--truncate-dim N]\n"
            "                   [--dtype f32|bf16|int8]\n"
            "Embeds each input line (stdin by default).  jsonl writes one JSON array\n"
            "per line; f32 writes N x D little-endian float32 without a header.\n"
            "--dtype picks the precision of the linear layers: f32 (default, exact),\n"
            "or the faster bf16 / int8 modes.  --prompt-name prepends one of the\n"
            "model's prompts (config_sentence_transformers.json, e.g. \"query\"),\n"
            "--prompt the given text, as sentence-transformers' encode does.\n"
            "--truncate-dim keeps the first N values of each embedding (Matryoshka\n"
            "models), after the model's Normalize module; with --normalize the cut\n"
            "vector is L2-normalised again.\n");
}

static int write_rows(FILE *out, int f32, const float *v, size_t rows, size_t dim)
{
    if (f32) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        for (size_t i = 0; i < rows * dim; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            u = __builtin_bswap32(u);
            if (fwrite(&u, 4, 1, out) != 1)
                return -1;
        }
        return 0;
#else
        return fwrite(v, sizeof(float), rows * dim, out) == rows * dim ? 0 : -1;
#endif
    }
    for (size_t r = 0; r < rows; r++) {
        putc('[', out);
        for (size_t j = 0; j < dim; j++)
            fprintf(out, j ? ",%.9g" : "%.9g", (double)v[r * dim + j]);
        if (fputs("]\n", out) == EOF)
            return -1;
    }
    return 0;
}

/* The options of `akidb embed`. */
typedef struct embed_cli {
    const char *model_dir, *input, *output, *dtype;
    int f32, threads;
    akidb_embed_opts eo;
} embed_cli;

/* Reads argv into *a; returns -1 to go on, else the exit code. */
static int embed_parse(int argc, char **argv, embed_cli *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'},
        {"threads", required_argument, NULL, 't'},
        {"pooling", required_argument, NULL, 'p'},
        {"normalize", no_argument, NULL, 'N'},
        {"no-normalize", no_argument, NULL, 'U'},
        {"dtype", required_argument, NULL, 'd'},
        {"prompt-name", required_argument, NULL, 'P'},
        {"prompt", required_argument, NULL, 'T'},
        {"truncate-dim", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->threads = 1;
    a->eo = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:o:f:t:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': a->model_dir = optarg; break;
        case 'i': a->input = optarg; break;
        case 'o': a->output = optarg; break;
        case 'f':
            if (strcmp(optarg, "jsonl") == 0) {
                a->f32 = 0;
            } else if (strcmp(optarg, "f32") == 0) {
                a->f32 = 1;
            } else {
                fprintf(stderr, "akidb: --format: expected jsonl or f32, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (parse_threads(optarg, &a->threads) != 0)
                return 2;
            break;
        case 'p':
            if (akidb_pooling_parse(optarg, &a->eo.pooling) != AKIDB_OK) {
                fprintf(stderr, "akidb: --pooling: %s\n", akidb_last_error());
                return 2;
            }
            break;
        case 'N': a->eo.normalize = 1; break;
        case 'U': a->eo.normalize = 0; break;
        case 'd': a->dtype = optarg; break;
        case 'P': a->eo.prompt_name = optarg; break;
        case 'T': a->eo.prompt = optarg; break;
        case 'D': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0' || optarg[0] == '-' || errno || v < 1 ||
                v > (1u << 20)) {
                fprintf(stderr, "akidb: --truncate-dim: expected a positive integer, got '%s'\n",
                        optarg);
                return 2;
            }
            a->eo.truncate_dim = (size_t)v;
            break;
        }
        case 'h': embed_usage(stdout); return 0;
        default: embed_usage(stderr); return 2;
        }
    }
    if (a->model_dir == NULL || optind != argc) {
        embed_usage(stderr);
        return 2;
    }
    a->eo.n_threads = a->threads;
    return -1;
}

/* A --truncate-dim past the folder's default width, up to the full one:
 * the library checks it (and names the limit) on a first, empty text.
 * True if it may be used. */
static bool truncate_dim_ok(const akidb_model *model, const akidb_embed_opts *eo, size_t dim)
{
    if (eo->truncate_dim <= dim)
        return true;
    float *probe = ak_malloc(eo->truncate_dim * sizeof *probe);
    const char *none = "";
    int have = probe != NULL;
    akidb_status pst = have ? akidb_embed(model, &none, NULL, 1, probe, eo) : AKIDB_ENOMEM;
    ak_free(probe);
    if (pst == AKIDB_OK)
        return true;
    fprintf(stderr, "akidb: --truncate-dim: %s\n", have ? akidb_last_error() : "out of memory");
    return false;
}

/* Embeds the lines of in, EMBED_CHUNK at a time, into out (rows of dim).
 * 0, or 1 after saying what failed. */
static int embed_stream(const akidb_model *model, const embed_cli *a, cli_lines *in, FILE *out,
                        size_t dim)
{
    char **texts = ak_calloc(EMBED_CHUNK, sizeof *texts);
    size_t *lens = ak_calloc(EMBED_CHUNK, sizeof *lens);
    float *vecs = ak_malloc(EMBED_CHUNK * dim * sizeof(float));
    int rc = 0;
    if (!texts || !lens || !vecs) {
        fprintf(stderr, "akidb: out of memory\n");
        rc = 1;
    }
    while (rc == 0) {
        size_t n = 0, first_line = in->lineno + 1;
        int r = 0;
        while (n < EMBED_CHUNK && (r = cli_lines_next(in)) > 0) {
            texts[n] = ak_strndup(in->buf, in->len);
            if (texts[n] == NULL) {
                fprintf(stderr, "akidb: out of memory\n");
                r = -1;
                break;
            }
            lens[n++] = in->len;
        }
        if (r < 0)
            rc = 1;
        if (rc == 0 && n > 0) {
            if (akidb_embed(model, (const char *const *)texts, lens, n, vecs, &a->eo) !=
                AKIDB_OK) {
                fprintf(stderr, "akidb: %s (lines %zu-%zu): %s\n", in->name, first_line,
                        first_line + n - 1, akidb_last_error());
                rc = 1;
            } else if (write_rows(out, a->f32, vecs, n, dim) != 0) {
                fprintf(stderr, "akidb: %s: write error\n", a->output ? a->output : "<stdout>");
                rc = 1;
            }
        }
        for (size_t i = 0; i < n; i++) {
            ak_free(texts[i]);
            texts[i] = NULL;
        }
        if (r == 0)
            break;
    }
    ak_free(vecs);
    ak_free(lens);
    ak_free(texts);
    return rc;
}

int akidb_cmd_embed(int argc, char **argv)
{
    embed_cli a;
    int rc = embed_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    akidb_model_opts mo = {0};
    mo.n_threads = a.threads;
    mo.dtype = a.dtype;   /* validated by akidb_model_load */
    akidb_model *model = NULL;
    if (akidb_model_load(a.model_dir, &mo, &model) != AKIDB_OK) {
        fprintf(stderr, "akidb: %s\n", akidb_last_error());
        return 1;
    }
    akidb_model_info info;
    akidb_model_get_info(model, &info);
    if (!truncate_dim_ok(model, &a.eo, info.dim)) {
        akidb_model_free(model);
        return 2;
    }
    size_t dim = a.eo.truncate_dim ? a.eo.truncate_dim : info.dim;
    cli_lines in;
    if (cli_lines_open(&in, a.input) != AKIDB_OK) {
        akidb_model_free(model);
        return 1;
    }
    FILE *out = open_output(a.output);
    rc = out == NULL ? 1 : embed_stream(model, &a, &in, out, dim);
    if (out != NULL && cli_output_close(out, a.output) != 0)
        rc = 1;
    cli_lines_close(&in);
    akidb_model_free(model);
    return rc;
}
