/*
 * cli.h - subcommands of the akidb command line.  Each takes the arguments
 * after the subcommand name (argv[0] is the subcommand) and returns the exit
 * status: 0 on success, 1 on runtime failure, 2 on a usage error.  Errors go
 * to stderr.
 */
#ifndef AKIDB_CLI_H
#define AKIDB_CLI_H

int akidb_cmd_tokenize(int argc, char **argv);   /* src/cli/cmd_tokens.c  */
int akidb_cmd_detokenize(int argc, char **argv); /* src/cli/cmd_tokens.c  */
int akidb_cmd_embed(int argc, char **argv);      /* src/cli/cmd_embed.c   */
int akidb_cmd_rerank(int argc, char **argv);     /* src/cli/cmd_rerank.c  */
int akidb_cmd_bench(int argc, char **argv);      /* src/cli/cmd_bench.c   */
int akidb_cmd_bench_ann(int argc, char **argv);  /* src/cli/cmd_bench_ann.c */
int akidb_cmd_bench_gemm(int argc, char **argv); /* src/cli/cmd_bench_gemm.c */
int akidb_cmd_serve(int argc, char **argv);      /* src/cli/cmd_serve.c   */
int akidb_cmd_pull(int argc, char **argv);       /* src/cli/cmd_pull.c    */

#endif
