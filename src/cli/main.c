/*
 * main.c - entry point of the akidb binary: dispatches to the subcommands
 * declared in cli.h.  Subcommands that were not built into this binary
 * report so instead of failing silently.
 */
#include "cli/cli.h"
#include "akidb.h"
#include "common/cpu.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "akidb %s - text embeddings and vector search in one binary\n"
            "\n"
            "usage: akidb <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve      run the REST server on a data folder\n"
            "  embed      embed texts (one per line) with a model folder\n"
            "  rerank     score documents (one per line) against a query with a reranker\n"
            "  tokenize   print the token ids of texts (one per line)\n"
            "  detokenize print the texts of token ids (one JSON array per line)\n"
            "  bench      benchmarks: 'bench embed', 'bench ann', 'bench gemm'\n"
            "  pull       download a model folder from the Hugging Face Hub\n"
            "  version    print the version, the CPU's features and the kernel path\n"
            "\n"
            "Run 'akidb <command> --help' for the options of a command.\n",
            AKIDB_VERSION_STRING);
}

static int __attribute__((unused)) missing(const char *cmd)
{
    fprintf(stderr, "akidb: '%s' is not available in this build\n", cmd);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int sub_argc = argc - 1;
    char **sub_argv = argv + 1;

    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("akidb %s\ncpu: %s\nkernels: %s\n", AKIDB_VERSION_STRING, ak_cpu_summary(),
               akidb_kernels_name(akidb_kernels_active()));
        return 0;
    }
    if (strcmp(cmd, "tokenize") == 0)
        return akidb_cmd_tokenize(sub_argc, sub_argv);
    if (strcmp(cmd, "detokenize") == 0)
        return akidb_cmd_detokenize(sub_argc, sub_argv);
    if (strcmp(cmd, "embed") == 0)
        return akidb_cmd_embed(sub_argc, sub_argv);
    if (strcmp(cmd, "rerank") == 0)
        return akidb_cmd_rerank(sub_argc, sub_argv);
    if (strcmp(cmd, "bench") == 0) {
        if (argc >= 3 && strcmp(argv[2], "gemm") == 0)
            return akidb_cmd_bench_gemm(argc - 2, argv + 2);
        if (argc >= 3 && strcmp(argv[2], "ann") == 0) {
#ifdef AKIDB_HAVE_BENCH_ANN
            return akidb_cmd_bench_ann(argc - 2, argv + 2);
#else
            return missing("bench ann");
#endif
        }
#ifdef AKIDB_HAVE_BENCH
        return akidb_cmd_bench(sub_argc, sub_argv);
#else
        return missing("bench");
#endif
    }
    if (strcmp(cmd, "serve") == 0) {
#ifdef AKIDB_HAVE_SERVE
        return akidb_cmd_serve(sub_argc, sub_argv);
#else
        return missing("serve");
#endif
    }
    if (strcmp(cmd, "pull") == 0) {
#ifdef AKIDB_HAVE_PULL
        return akidb_cmd_pull(sub_argc, sub_argv);
#else
        return missing("pull");
#endif
    }
    fprintf(stderr, "akidb: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
