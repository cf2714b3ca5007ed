/*
 * cmd_pull.c - `akidb pull ORG/NAME`: downloads a sentence-transformers
 * model folder from the Hugging Face Hub into DATA/models/NAME (where
 * `akidb serve` finds it) or into --dir.  The work is in src/pull/pull.c.
 */
#include "cli/cli.h"
#include "pull/pull.h"
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pull_usage(FILE *f)
{
    fprintf(f,
        "usage: akidb pull ORG/NAME [options]\n"
        "\n"
        "Downloads the files of a sentence-transformers model that AkiDB reads\n"
        "(config, tokenizer, safetensors weights, pooling settings), resuming\n"
        "interrupted downloads and checking sizes and sha256 sums.\n"
        "\n"
        "  --revision R     branch, tag or commit            [main]\n"
        "  --dir D          destination folder               [DATA/models/NAME]\n"
        "  --data DIR       data folder of `akidb serve`     [AKIDB_DATA, ./akidb-data]\n"
        "  --endpoint URL   Hub address                      [HF_ENDPOINT, https://huggingface.co]\n"
        "  --quiet          no progress output\n"
        "  -h, --help       this text\n"
        "\n"
        "HF_TOKEN is sent as a bearer token for private or gated repositories.\n");
}

int akidb_cmd_pull(int argc, char **argv)
{
    ak_pull_opts o;
    memset(&o, 0, sizeof o);
    o.progress = stderr;
    const char *data = getenv("AKIDB_DATA");
    if (!data || !*data)
        data = "./akidb-data";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            pull_usage(stdout);
            return 0;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o.progress = NULL;
            continue;
        } else if (strcmp(a, "--revision") == 0) {
            slot = &o.revision;
        } else if (strcmp(a, "--dir") == 0) {
            slot = &o.dir;
        } else if (strcmp(a, "--data") == 0) {
            slot = &data;
        } else if (strcmp(a, "--endpoint") == 0) {
            slot = &o.endpoint;
        } else if (a[0] == '-') {
            fprintf(stderr, "akidb pull: unknown option %s (see --help)\n", a);
            return 2;
        } else if (!o.repo) {
            o.repo = a;
            continue;
        } else {
            fprintf(stderr, "akidb pull: unexpected argument '%s'\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "akidb pull: %s needs a value\n", a);
            return 2;
        }
        *slot = argv[++i];
    }
    if (!o.repo) {
        pull_usage(stderr);
        return 2;
    }
    char *dir = NULL;
    if (!o.dir) {
        const char *name = strrchr(o.repo, '/');
        name = name ? name + 1 : o.repo;
        char *models = ak_path_join(data, "models");
        dir = models ? ak_path_join(models, name) : NULL;
        ak_free(models);
        if (!dir) {
            fprintf(stderr, "akidb pull: out of memory\n");
            return 1;
        }
        o.dir = dir;
    }
    akidb_status st = ak_pull(&o);
    if (st != AKIDB_OK)
        fprintf(stderr, "akidb pull: %s\n", akidb_last_error());
    else if (o.progress)
        fprintf(stderr, "akidb pull: done; serve it with: akidb serve --model %s=%s\n",
                strrchr(o.dir, '/') ? strrchr(o.dir, '/') + 1 : o.dir, o.dir);
    ak_free(dir);
    return st == AKIDB_OK ? 0 : (st == AKIDB_EINVAL ? 2 : 1);
}
