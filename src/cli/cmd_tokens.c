/*
 * cmd_tokens.c - `akidb tokenize` and `akidb detokenize`: the token ids of
 * texts and the texts of token ids, one per line, through a model folder's
 * tokenizer (the same folder `akidb embed` takes).  Their formats are a
 * contract that other tools parse:
 *   tokenize:         one JSON array of token ids per input line,
 *                     e.g. [101,7592,102]
 *   tokenize --pair:  input lines "A<TAB>B" (split at the first tab); one
 *                     JSON object per line, {"ids":[...],"type_ids":[...]}
 *   detokenize:       input lines as tokenize prints them (a JSON array of
 *                     ids, or an object with "ids"); one JSON string per
 *                     line, the decoded text (a U+0000 in it as \u0000)
 */
#include "akidb.h"
#include "cli/cli.h"
#include "cli/lines.h"
#include "common/common.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Loads the model folder (for its tokenizer and truncation length); prints
 * the error and returns NULL on failure. */
static akidb_model *load_model(const char *dir)
{
    akidb_model *model = NULL;
    if (akidb_model_load(dir, NULL, &model) != AKIDB_OK) {
        fprintf(stderr, "akidb: %s\n", akidb_last_error());
        return NULL;
    }
    return model;
}

static void print_ids(const char *prefix, const int32_t *ids, size_t n)
{
    fputs(prefix, stdout);
    putchar('[');
    for (size_t i = 0; i < n; i++)
        printf(i ? ",%d" : "%d", (int)ids[i]);
    putchar(']');
}

/* ---- tokenize ----------------------------------------------------------------- */

static void tokenize_usage(FILE *f)
{
    fprintf(f, "usage: akidb tokenize --model DIR [--input FILE] [--pair]\n"
               "Prints the token ids of each input line (stdin by default) as a JSON\n"
               "array, truncated to the model's maximum sequence length.  With --pair,\n"
               "each line is a text pair A<TAB>B (a query and a passage), printed as\n"
               "{\"ids\":[...],\"type_ids\":[...]} and truncated longest first.\n");
}

/* Encodes one input line (a text, or with pair a tab-separated pair). */
static akidb_status encode_line(const akidb_tokenizer *tok, const cli_lines *in, bool pair,
                                size_t max_tokens, akidb_tokens *toks)
{
    if (!pair)
        return akidb_tokenizer_encode(tok, in->buf, in->len, max_tokens, toks);
    const char *tab = memchr(in->buf, '\t', in->len);
    if (!tab)
        return ak_fail(AKIDB_EINVAL, "no tab: --pair expects each line to be A<TAB>B");
    size_t a_len = (size_t)(tab - in->buf);
    return akidb_tokenizer_encode_pair(tok, in->buf, a_len, tab + 1, in->len - a_len - 1,
                                       max_tokens, AKIDB_TRUNC_LONGEST_FIRST, toks);
}

int akidb_cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"pair", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_dir = NULL, *input = NULL;
    bool pair = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'i': input = optarg; break;
        case 'p': pair = true; break;
        case 'h': tokenize_usage(stdout); return 0;
        default: tokenize_usage(stderr); return 2;
        }
    }
    if (model_dir == NULL || optind != argc) {
        tokenize_usage(stderr);
        return 2;
    }
    akidb_model *model = load_model(model_dir);
    if (!model)
        return 1;
    akidb_model_info info;
    akidb_model_get_info(model, &info);
    const akidb_tokenizer *tok = akidb_model_tokenizer(model);
    cli_lines in;
    if (cli_lines_open(&in, input) != AKIDB_OK) {
        akidb_model_free(model);
        return 1;
    }
    akidb_tokens toks = {0};
    int rc = 0, r;
    while ((r = cli_lines_next(&in)) > 0) {
        if (encode_line(tok, &in, pair, info.max_tokens, &toks) != AKIDB_OK) {
            fprintf(stderr, "akidb: %s:%zu: %s\n", in.name, in.lineno, akidb_last_error());
            rc = 1;
            break;
        }
        if (pair) {
            print_ids("{\"ids\":", toks.ids, toks.n);
            fputs(",\"type_ids\":[", stdout);
            for (size_t i = 0; i < toks.n; i++)
                printf(i ? ",%u" : "%u", (unsigned)toks.type_ids[i]);
            fputs("]}\n", stdout);
        } else {
            print_ids("", toks.ids, toks.n);
            putchar('\n');
        }
    }
    if (r < 0)
        rc = 1;
    if (cli_output_close(stdout, NULL) != 0)
        rc = 1;
    akidb_tokens_free(&toks);
    cli_lines_close(&in);
    akidb_model_free(model);
    return rc;
}

/* ---- detokenize ----------------------------------------------------------------- */

static void detokenize_usage(FILE *f)
{
    fprintf(f, "usage: akidb detokenize --model DIR [--input FILE] [--skip-special]\n"
               "Decodes each input line (stdin by default), a JSON array of token ids as\n"
               "'akidb tokenize' prints it (or an object with \"ids\"), and prints the\n"
               "text as a JSON string.  Ids without a token are skipped; --skip-special\n"
               "also drops special tokens such as [CLS] and [SEP].\n");
}

/* The ids of one input line, into *ids (grown as needed, ak_free it);
 * EINVAL with a message on anything but an array of ids in 0..INT32_MAX. */
static akidb_status parse_ids(const char *s, size_t len, int32_t **ids, size_t *cap,
                              size_t *n)
{
    json_error_t err;
    json_t *j = json_loadb(s, len, 0, &err);
    if (!j)
        return ak_fail(AKIDB_EINVAL, "not JSON: %s (column %d)", err.text, err.column);
    const json_t *arr = json_is_object(j) ? json_object_get(j, "ids") : j;
    akidb_status st = AKIDB_OK;
    if (!json_is_array(arr))
        st = ak_fail(AKIDB_EINVAL, "expected a JSON array of token ids");
    size_t k = st == AKIDB_OK ? json_array_size(arr) : 0;
    if (k > *cap) {
        int32_t *nv = ak_realloc(*ids, k * sizeof *nv);
        if (!nv) {
            st = ak_fail(AKIDB_ENOMEM, "out of memory reading %zu ids", k);
        } else {
            *ids = nv;
            *cap = k;
        }
    }
    for (size_t i = 0; i < k && st == AKIDB_OK; i++) {
        const json_t *v = json_array_get(arr, i);
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : -1;
        if (x < 0 || x > INT32_MAX)
            st = ak_fail(AKIDB_EINVAL, "element %zu: expected a token id (an integer in "
                         "0..%d)", i, INT32_MAX);
        else
            (*ids)[i] = (int32_t)x;
    }
    *n = st == AKIDB_OK ? k : 0;
    json_decref(j);
    return st;
}

/* Writes s[0..n) as a JSON string: quotes, backslashes and control
 * characters (U+0000 included) escaped, bytes that are not UTF-8 as U+FFFD. */
static void print_json_string(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n;) {
        size_t bad = n - i;
        bool ok = ak_utf8_valid(s + i, n - i, &bad);
        size_t end = ok ? n : i + bad;   /* valid UTF-8 up to here */
        for (; i < end; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c == '\\')
                printf("\\%c", c);
            else if (c == '\n')
                fputs("\\n", stdout);
            else if (c == '\t')
                fputs("\\t", stdout);
            else if (c == '\r')
                fputs("\\r", stdout);
            else if (c < 0x20 || c == 0x7F)
                printf("\\u%04x", c);
            else
                putchar(c);
        }
        if (!ok) {
            fputs("\\ufffd", stdout);
            i++;
        }
    }
    puts("\"");
}

int akidb_cmd_detokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"input", required_argument, NULL, 'i'},
        {"skip-special", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model_dir = NULL, *input = NULL;
    int skip = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'i': input = optarg; break;
        case 's': skip = 1; break;
        case 'h': detokenize_usage(stdout); return 0;
        default: detokenize_usage(stderr); return 2;
        }
    }
    if (model_dir == NULL || optind != argc) {
        detokenize_usage(stderr);
        return 2;
    }
    akidb_model *model = load_model(model_dir);
    if (!model)
        return 1;
    const akidb_tokenizer *tok = akidb_model_tokenizer(model);
    cli_lines in;
    if (cli_lines_open(&in, input) != AKIDB_OK) {
        akidb_model_free(model);
        return 1;
    }
    int32_t *ids = NULL;
    size_t cap = 0, n = 0;
    int rc = 0, r;
    while ((r = cli_lines_next(&in)) > 0) {
        char *text = NULL;
        size_t len = 0;
        if (parse_ids(in.buf, in.len, &ids, &cap, &n) != AKIDB_OK ||
            akidb_tokenizer_decode(tok, ids, n, skip, &text, &len) != AKIDB_OK) {
            fprintf(stderr, "akidb: %s:%zu: %s\n", in.name, in.lineno, akidb_last_error());
            rc = 1;
            break;
        }
        print_json_string(text, len);
        akidb_string_free(text);
    }
    if (r < 0)
        rc = 1;
    if (cli_output_close(stdout, NULL) != 0)
        rc = 1;
    ak_free(ids);
    cli_lines_close(&in);
    akidb_model_free(model);
    return rc;
}
