/*
 * fuzz_wal.c - libFuzzer target for WAL recovery: the input is written as the
 * only WAL segment of an empty store directory, which is then opened (scan,
 * CRC/LSN checks, record decoding, replay into collections, tail cut) and
 * closed.  Inputs whose checksums are wrong exercise the scanner; the seed
 * corpus holds real segments so mutations also reach the record decoders.
 * Open may fail with a status; it must never crash or leak.
 */
#include "akidb_store.h"
#include "store/wal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void quiet(void *ctx, akidb_log_level l, const char *m)
{
    (void)ctx; (void)l; (void)m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/akidb-fuzz-wal-%d", (int)getpid());
        mkdir(dir, 0755);
    }
    /* Fresh directory contents each run. */
    char p[512];
    snprintf(p, sizeof p, "rm -f %s/*", dir);
    if (system(p) != 0)
        return 0;
    snprintf(p, sizeof p, "%s/wal-0000000000000001.log", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 0;
    /* Inputs without a header get a valid one, so mutations of record bytes
     * are not all rejected at the magic check. */
    if (size < 8 || memcmp(data, AK_WAL_MAGIC, 8) != 0) {
        uint8_t h[AK_WAL_HEADER_SIZE];
        ak_wal_encode_header(h, 1);
        if (write(fd, h, sizeof h) != (ssize_t)sizeof h) {
            close(fd);
            return 0;
        }
    }
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    close(fd);
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.sync = AKIDB_SYNC_NONE;
    o.no_snapshot_on_close = (size & 1) != 0;
    o.wal_cut_on_corruption = (size & 2) != 0;
    o.log = quiet;
    akidb_store *s = NULL;
    if (akidb_store_open(dir, &o, &s) == AKIDB_OK)
        akidb_store_close(s);
    return 0;
}
