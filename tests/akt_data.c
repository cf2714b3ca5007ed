/*
 * akt_data.c - see akt_data.h.  zlib's gz* functions read plain files as
 * they are, so one reader serves both forms.
 */
#include "akt_data.h"

#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static char *read_gz(const char *path, size_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "  cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = ak_malloc(cap);
    while (buf) {
        if (cap - n < 2) {
            char *nb = ak_realloc(buf, cap * 2);
            if (!nb) {
                ak_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int r = gzread(f, buf + n, (unsigned)((cap - n - 1) > (1u << 30) ? (1u << 30)
                                                                       : cap - n - 1));
        if (r < 0) {
            int err;
            fprintf(stderr, "  cannot read %s: %s\n", path, gzerror(f, &err));
            ak_free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

char *akt_data_read(const char *path, size_t *len)
{
    const char *src = getenv("AKIDB_SRC");
    char *full = path[0] == '/' ? ak_strdup(path)
                                : ak_path_join(src && *src ? src : ".", path);
    if (!full)
        return NULL;
    char *data = NULL;
    if (ak_file_exists(full)) {
        data = read_gz(full, len);
    } else {
        size_t l = strlen(full);
        char *gz = ak_malloc(l + 4);
        if (gz) {
            memcpy(gz, full, l);
            memcpy(gz + l, ".gz", 4);
            if (ak_file_exists(gz))
                data = read_gz(gz, len);
            else
                fprintf(stderr, "  cannot read %s: no such file (nor %s)\n", full, gz);
            ak_free(gz);
        }
    }
    ak_free(full);
    return data;
}
