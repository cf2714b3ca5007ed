/*
 * bench_ann_main.c - standalone entry point for the ANN benchmark, so it can
 * be built and run (target akidb_bench_ann) without the full akidb binary;
 * `akidb bench ann ARGS` and `akidb_bench_ann ARGS` behave the same.
 */
#include "cli/cli.h"

/* Runs akidb_cmd_bench_ann with argv[0] as the subcommand name. */
int main(int argc, char **argv)
{
    return akidb_cmd_bench_ann(argc, argv);
}
