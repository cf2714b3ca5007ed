/*
 * lines.c - line reader and output closing of the CLI; see lines.h.  Lines
 * may be arbitrarily long (getline grows the buffer); the tokenizer
 * truncates long texts.
 */
#include "cli/lines.h"
#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

akidb_status cli_lines_open(cli_lines *r, const char *path)
{
    memset(r, 0, sizeof *r);
    if (path == NULL || strcmp(path, "-") == 0) {
        r->f = stdin;
        r->name = "<stdin>";
        return AKIDB_OK;
    }
    r->f = fopen(path, "rb");
    r->name = path;
    if (r->f == NULL) {
        int e = errno;
        fprintf(stderr, "akidb: %s: %s\n", path, strerror(e));
        return e == ENOENT ? AKIDB_ENOENT : AKIDB_EIO;
    }
    r->owned = 1;
    return AKIDB_OK;
}

int cli_lines_next(cli_lines *r)
{
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->f);
    if (n < 0) {
        if (ferror(r->f)) {
            fprintf(stderr, "akidb: %s: read error: %s\n", r->name, strerror(errno));
            return -1;
        }
        return 0;
    }
    r->lineno++;
    size_t len = (size_t)n;
    if (len > 0 && r->buf[len - 1] == '\n')
        len--;
    if (len > 0 && r->buf[len - 1] == '\r')
        len--;
    r->len = len;
    const char *nul = memchr(r->buf, '\0', len);
    if (nul != NULL) {
        fprintf(stderr, "akidb: %s:%zu: NUL byte at byte %zu; input must be UTF-8 text\n",
                r->name, r->lineno, (size_t)(nul - r->buf) + 1);
        return -1;
    }
    size_t bad = 0;
    if (!ak_utf8_valid(r->buf, len, &bad)) {
        fprintf(stderr, "akidb: %s:%zu: invalid UTF-8 at byte %zu (0x%02x)\n", r->name,
                r->lineno, bad + 1, (unsigned)(unsigned char)r->buf[bad]);
        return -1;
    }
    return 1;
}

void cli_lines_close(cli_lines *r)
{
    if (r->owned && r->f)
        fclose(r->f);
    free(r->buf);   /* allocated by getline */
    memset(r, 0, sizeof *r);
}

int cli_output_close(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "akidb: %s: write error\n", path ? path : "<stdout>");
        return -1;
    }
    return 0;
}
