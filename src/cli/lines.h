/*
 * lines.h - reads text input for the CLI one line at a time ("one text per
 * line"), checking that each line is UTF-8 text, and names file and line
 * number in every error; and closes output streams, reporting write errors.
 */
#ifndef AKIDB_CLI_LINES_H
#define AKIDB_CLI_LINES_H

#include "akidb.h"

#include <stdio.h>

typedef struct cli_lines {
    FILE *f;
    const char *name;   /* file name for messages ("<stdin>" for stdin) */
    char *buf;          /* current line without its '\n'               */
    size_t cap;
    size_t len;
    size_t lineno;      /* 1-based number of the current line          */
    int owned;          /* f was opened by cli_lines_open              */
} cli_lines;

/* Opens path, or stdin when path is NULL or "-".  On failure prints the
 * reason to stderr and returns AKIDB_ENOENT/AKIDB_EIO. */
akidb_status cli_lines_open(cli_lines *r, const char *path);

/* Reads the next line into r->buf / r->len (the '\n' and one preceding '\r'
 * are not part of it).  Returns 1 for a line, 0 at end of input, -1 on an
 * error already printed to stderr: a read error, invalid UTF-8 or a NUL
 * byte, each named with file, line and byte column. */
int cli_lines_next(cli_lines *r);

void cli_lines_close(cli_lines *r);

/* Flushes (stdout) or closes (any other stream) an output stream and reports
 * write errors, e.g. a full disk, naming path ("<stdout>" when NULL).
 * Returns 0, or -1 after printing the error. */
int cli_output_close(FILE *f, const char *path);

#endif
