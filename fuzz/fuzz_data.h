/*
 * fuzz_data.h - where fuzz targets find the committed test data (tokenizer
 * folders under tests/data): $AKIDB_SRC when set, else the source folder the
 * target was built from (AKIDB_SOURCE_DIR, set by fuzz/CMakeLists.txt), so a
 * target runs from any working directory.
 */
#ifndef AKIDB_FUZZ_DATA_H
#define AKIDB_FUZZ_DATA_H

#include <stdio.h>
#include <stdlib.h>

#ifndef AKIDB_SOURCE_DIR
#define AKIDB_SOURCE_DIR "."
#endif

/* Writes <source folder>/rel into buf. */
static inline void fz_data_path(char *buf, size_t n, const char *rel)
{
    const char *src = getenv("AKIDB_SRC");
    snprintf(buf, n, "%s/%s", src && *src ? src : AKIDB_SOURCE_DIR, rel);
}

#endif /* AKIDB_FUZZ_DATA_H */
