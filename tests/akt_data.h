/*
 * akt_data.h - reading the tests' data files (tests/akt_data.c).  Goldens
 * are committed gzip-compressed when large (NAME.gz): akt_data_read("NAME")
 * finds either form, so tests and reference scripts speak of NAME only.
 */
#ifndef AKT_DATA_H
#define AKT_DATA_H

#include <stddef.h>

/* The contents of path (relative paths are taken from $AKIDB_SRC, default
 * the working directory), or of path.gz decompressed, NUL-terminated, *len
 * bytes (len may be NULL); release with ak_free.  NULL when neither exists
 * or cannot be read (the reason is printed to stderr). */
char *akt_data_read(const char *path, size_t *len);

#endif /* AKT_DATA_H */
