/*
 * test_fileio.c - the file-I/O layer (src/common/fileio.c) and the store's
 * behaviour on a full disk.
 *
 * Layer: short writes are completed, every failure names the operation and
 * the path, ENOSPC / EDQUOT give AKIDB_ENOSPC (also from the kernel, via
 * /dev/full), and an atomic replace that fails at any of its calls leaves
 * the old content and no temporary file.
 *
 * Store: the hook fails each I/O call of an upsert batch, of a snapshot and
 * of a close in turn, as a disk that fills up there would.  Each time the
 * operation must fail with AKIDB_ENOSPC, and after the disk has room again
 * every acknowledged write must still be there after a reopen; writes on the
 * same open store either succeed or say that the store must be reopened.
 * The API key registry (auth.json) keeps its old keys when a rewrite fails.
 */
#include "akt.h"
#include "common/fileio.h"
#include "server/internal.h"
#include "test_store_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

/* ---- helpers ------------------------------------------------------------------ */

static char *read_all(const char *path, size_t *len)
{
    char *d = NULL;
    size_t n = 0;
    if (ak_read_file(path, 1 << 20, &d, &n) != AKIDB_OK)
        return NULL;
    *len = n;
    return d;
}

static void put_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    AKT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static bool file_is(const char *path, const char *want)
{
    size_t n;
    char *d = read_all(path, &n);
    bool ok = d && n == strlen(want) && memcmp(d, want, n) == 0;
    ak_free(d);
    return ok;
}

/* Number of directory entries whose name ends with suffix. */
static int count_suffix(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l >= sl && strcmp(e->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void reset_hooks(void)
{
    ak_io_fail_after(-1, 0);
    ak_io_max_write(0);
}

/* ---- the layer ------------------------------------------------------------------ */

AKT_TEST(status_enospc)
{
    AKT_EQ_INT(AKIDB_ENOSPC, -17);
    AKT_EQ_STR(akidb_strerror(AKIDB_ENOSPC), "no space left on device");
    AKT_EQ_STR(akidb_status_name(AKIDB_ENOSPC), "ENOSPC");
    AKT_EQ_INT(ak_io_status(ENOSPC), AKIDB_ENOSPC);
    AKT_EQ_INT(ak_io_status(EDQUOT), AKIDB_ENOSPC);
    AKT_EQ_INT(ak_io_status(EIO), AKIDB_EIO);
    AKT_EQ_INT(ak_io_status(ENOENT), AKIDB_ENOENT);
}

AKT_TEST(short_writes_completed)
{
    char *dir = tsu_tmpdir("fio");
    char *path = ak_path_join(dir, "f.bin");
    unsigned char buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    int fd;
    AKT_OK(ak_io_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd));
    ak_io_max_write(3);   /* every write(2) takes at most 3 bytes */
    AKT_OK(ak_io_write_all(fd, buf, 500, path));
    struct iovec v[3] = { { buf + 500, 1 }, { buf + 501, 0 }, { buf + 501, 499 } };
    AKT_OK(ak_io_writev_all(fd, v, 3, path));
    ak_io_max_write(0);
    AKT_OK(ak_io_fsync(fd, path));
    AKT_OK(ak_io_fdatasync(fd, path));
    close(fd);
    size_t n;
    char *d = read_all(path, &n);
    AKT_TRUE(d != NULL);
    AKT_EQ_INT(n, sizeof buf);
    AKT_TRUE(memcmp(d, buf, n) == 0);
    ak_free(d);

    /* Each write(2) counts: 100-byte writes, the tenth fails, 900 bytes
     * stay written. */
    AKT_OK(ak_io_open(path, O_WRONLY | O_TRUNC, 0, &fd));
    ak_io_max_write(100);
    ak_io_fail_after(9, ENOSPC);
    AKT_STATUS(ak_io_write_all(fd, buf, sizeof buf, path), AKIDB_ENOSPC);
    AKT_EQ_INT(ak_io_injected_failures(), 1);
    reset_hooks();
    struct stat sb;
    AKT_TRUE(fstat(fd, &sb) == 0);
    AKT_EQ_INT(sb.st_size, 900);
    AKT_OK(ak_io_truncate(fd, 10, path));
    AKT_OK(ak_io_write_all(fd, "xy", 2, path));
    close(fd);
    AKT_TRUE(stat(path, &sb) == 0);
    AKT_EQ_INT(sb.st_size, 12);
    ak_free(path);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(failures_name_op_and_path)
{
    char *dir = tsu_tmpdir("fio");
    char *path = ak_path_join(dir, "g.txt");
    int fd;
    AKT_OK(ak_io_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd));
    ak_io_fail_after(0, ENOSPC);
    AKT_STATUS(ak_io_write_all(fd, "abc", 3, path), AKIDB_ENOSPC);
    AKT_CONTAINS(akidb_last_error(), "write ");
    AKT_CONTAINS(akidb_last_error(), path);
    AKT_CONTAINS(akidb_last_error(), strerror(ENOSPC));
    /* Sticky: the disk stays full until reset. */
    AKT_STATUS(ak_io_fsync(fd, path), AKIDB_ENOSPC);
    AKT_CONTAINS(akidb_last_error(), "fsync ");
    AKT_OK(ak_io_truncate(fd, 0, path));   /* shrinking needs no space */
    AKT_STATUS(ak_io_truncate(fd, 4096, path), AKIDB_ENOSPC);
    AKT_CONTAINS(akidb_last_error(), "truncate ");
    AKT_CONTAINS(akidb_last_error(), path);
    AKT_STATUS(ak_io_fsync_dir(dir), AKIDB_ENOSPC);
    AKT_CONTAINS(akidb_last_error(), dir);
    AKT_EQ_INT(ak_io_injected_failures(), 4);
    ak_io_fail_after(0, EDQUOT);
    AKT_STATUS(ak_io_rename(path, "/nonexistent-x"), AKIDB_ENOSPC);
    AKT_CONTAINS(akidb_last_error(), "rename ");
    AKT_CONTAINS(akidb_last_error(), path);
    ak_io_fail_after(0, EIO);
    AKT_STATUS(ak_io_fdatasync(fd, path), AKIDB_EIO);
    AKT_CONTAINS(akidb_last_error(), strerror(EIO));
    /* Once: only the one call fails. */
    ak_io_fail_once(1, EIO);
    AKT_OK(ak_io_write_all(fd, "a", 1, path));
    AKT_STATUS(ak_io_write_all(fd, "b", 1, path), AKIDB_EIO);
    AKT_OK(ak_io_write_all(fd, "c", 1, path));
    AKT_EQ_INT(ak_io_injected_failures(), 1);
    reset_hooks();
    AKT_TRUE(file_is(path, "ac"));
    close(fd);

    /* Real failures from the kernel. */
    char *missing = ak_path_join(dir, "no/such/file");
    AKT_STATUS(ak_io_open(missing, O_WRONLY | O_CREAT, 0644, &fd), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), missing);
    AKT_EQ_INT(fd, -1);
    AKT_OK(ak_io_open(path, O_RDONLY, 0, &fd));
    AKT_STATUS(ak_io_write_all(fd, "z", 1, path), AKIDB_EIO);
    AKT_CONTAINS(akidb_last_error(), path);
    close(fd);
    if (ak_io_open("/dev/full", O_WRONLY, 0, &fd) == AKIDB_OK) {
        AKT_STATUS(ak_io_write_all(fd, "full", 4, "/dev/full"), AKIDB_ENOSPC);
        AKT_CONTAINS(akidb_last_error(), "write /dev/full: ");
        AKT_CONTAINS(akidb_last_error(), strerror(ENOSPC));
        close(fd);
    }
    ak_free(missing);
    ak_free(path);
    tsu_rmrf(dir);
    free(dir);
}

/* Fails each call of a replace in turn; the file keeps its old content (or
 * stays absent) unless only the folder fsync after the rename failed. */
static void replace_walk(const char *dir, bool sync, bool existed)
{
    char *path = ak_path_join(dir, existed ? "r-old.json" : "r-new.json");
    const char *oldt = "{\"old\": true}", *newt = "{\"new\": \"content, longer than before\"}";
    long k;
    for (k = 0; k < 100; k++) {
        if (existed)
            put_file(path, oldt);
        else
            unlink(path);
        ak_io_fail_after(k, ENOSPC);
        akidb_status st = ak_io_replace_file(path, newt, strlen(newt), 0600, sync);
        long inj = ak_io_injected_failures();
        reset_hooks();
        if (inj == 0) {
            AKT_OK(st);
            AKT_TRUE(file_is(path, newt));
            break;
        }
        AKT_EQ_INT(st, AKIDB_ENOSPC);
        const char *msg = akidb_last_error();
        AKT_CONTAINS(msg, dir);
        AKT_CONTAINS(msg, strerror(ENOSPC));
        if (strstr(msg, "fsync directory")) {
            AKT_TRUE(file_is(path, newt));
        } else if (existed) {
            AKT_TRUE(file_is(path, oldt));
        } else {
            AKT_FALSE(ak_file_exists(path));
        }
        AKT_EQ_INT(count_suffix(dir, ".tmp"), 0);
    }
    /* open, write, [fsync], rename, [open folder, fsync folder] */
    AKT_EQ_INT(k, sync ? 6 : 3);
    struct stat sb;
    AKT_TRUE(stat(path, &sb) == 0);
    AKT_EQ_INT(sb.st_mode & 0777, 0600);
    ak_free(path);
}

AKT_TEST(replace_file_all_or_nothing)
{
    char *dir = tsu_tmpdir("fio");
    replace_walk(dir, true, true);
    replace_walk(dir, true, false);
    replace_walk(dir, false, true);
    /* Short writes inside a replace. */
    char *path = ak_path_join(dir, "short.txt");
    ak_io_max_write(2);
    AKT_OK(ak_io_replace_file(path, "0123456789", 10, 0644, true));
    ak_io_max_write(0);
    AKT_TRUE(file_is(path, "0123456789"));
    /* The folder must exist: the error names the temporary file. */
    char *bad = ak_path_join(dir, "nodir/x.json");
    AKT_STATUS(ak_io_replace_file(bad, "x", 1, 0644, true), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "nodir/x.json.tmp");
    ak_free(bad);
    ak_free(path);
    tsu_rmrf(dir);
    free(dir);
}

/* ---- the store on a full disk ------------------------------------------------------ */

#define DIM 8

static void quiet_log(void *ctx, akidb_log_level lv, const char *msg)
{
    (void)ctx; (void)lv; (void)msg;
}

/* When set, close writes no snapshot, so a reopen must find every
 * acknowledged write in the WAL itself. */
static bool wal_only;

static akidb_status open_store(const char *dir, akidb_store **s)
{
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.snapshot_wal_bytes = UINT64_MAX;
    o.no_snapshot_on_close = wal_only;
    o.log = quiet_log;
    return akidb_store_open(dir, &o, s);
}

/* Upserts batch b: points "b<b>-0" .. "b<b>-2". */
static akidb_status put_batch(akidb_store *s, int b)
{
    char ids[3][16];
    float vec[3][DIM];
    akidb_point_in p[3];
    for (int i = 0; i < 3; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d-%d", b, i);
        for (int j = 0; j < DIM; j++)
            vec[i][j] = (float)(b * 10 + i) + (float)j * 0.25f + 1.0f;
        p[i] = (akidb_point_in){ ids[i], vec[i], "text", "{\"b\": 1}" };
    }
    return akidb_points_upsert(s, "t", "c", p, NULL, 3);
}

/* How many of batch b's points the store holds. */
static size_t batch_points(akidb_store *s, int b)
{
    char ids[3][16];
    const char *ptrs[3];
    for (int i = 0; i < 3; i++) {
        snprintf(ids[i], sizeof ids[i], "b%d-%d", b, i);
        ptrs[i] = ids[i];
    }
    akidb_points out = { 0 };
    AKT_OK(akidb_points_get(s, "t", "c", ptrs, 3, AKIDB_WITH_VECTOR, &out));
    size_t n = out.n;
    for (size_t i = 0; i < out.n; i++)
        AKT_NEAR(out.items[i].vector[DIM - 1], (float)(b * 10 + (out.items[i].id[3] - '0')) +
                 (DIM - 1) * 0.25f + 1.0f, 1e-6);
    akidb_points_free(&out);
    return n;
}

/* A store in a fresh folder holding batches 0 and 1 (acknowledged). */
static akidb_store *seeded(char **dir_out)
{
    char *dir = tsu_tmpdir("fiost");
    akidb_store *s = NULL;
    AKT_OK(open_store(dir, &s));
    AKT_OK(akidb_tenant_create(s, "t"));
    akidb_collection_opts co = { 0 };
    co.dim = DIM;
    co.metric = AKIDB_METRIC_L2;
    AKT_OK(akidb_collection_create(s, "t", "c", &co));
    AKT_OK(put_batch(s, 0));
    AKT_OK(akidb_store_snapshot(s));
    AKT_OK(put_batch(s, 1));
    *dir_out = dir;
    return s;
}

/* After a failure: a write on the same store succeeds, or fails saying the
 * store must be reopened.  Returns whether batch b was acknowledged. */
static bool write_after(akidb_store *s, int b)
{
    akidb_status st = put_batch(s, b);
    if (st == AKIDB_OK)
        return true;
    AKT_CONTAINS(akidb_last_error(), "reopen the store");
    return false;
}

/* Reopens dir and checks every acknowledged batch (ack[b]) is there in
 * full, the failed batch `torn` (if >= 0) is there in full or not at all,
 * and a new write succeeds. */
static void check_reopen(const char *dir, const bool *ack, int nb, int torn)
{
    akidb_store *s = NULL;
    AKT_OK(open_store(dir, &s));
    for (int b = 0; b < nb; b++) {
        size_t n = batch_points(s, b);
        if (ack[b])
            AKT_EQ_INT(n, 3);
        else if (b == torn)
            AKT_TRUE(n == 0 || n == 3);
        else
            AKT_EQ_INT(n, 0);
    }
    AKT_OK(put_batch(s, 9));
    AKT_EQ_INT(batch_points(s, 9), 3);
    AKT_OK(akidb_store_close(s));
}

/* Upsert of batch 2 with the n-th I/O call failing (sticky, or once); with
 * max_write set, the record is written in pieces so failures tear it. */
static void upsert_walk(bool once, size_t max_write)
{
    long k;
    for (k = 0; k < 200; k++) {
        char *dir;
        akidb_store *s = seeded(&dir);
        ak_io_max_write(max_write);
        if (once)
            ak_io_fail_once(k, ENOSPC);
        else
            ak_io_fail_after(k, ENOSPC);
        akidb_status st = put_batch(s, 2);
        long inj = ak_io_injected_failures();
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", akidb_last_error());
        reset_hooks();
        bool ack[4] = { true, true, st == AKIDB_OK, false };
        if (inj == 0) {
            AKT_OK(st);
        } else {
            AKT_EQ_INT(st, AKIDB_ENOSPC);
            AKT_CONTAINS(msg, dir);
            AKT_CONTAINS(msg, strerror(ENOSPC));
            AKT_EQ_INT(batch_points(s, 2), 0);   /* nothing published */
            ack[3] = write_after(s, 3);
            /* A write error whose partial record was cut off leaves the log
             * usable; a failed fdatasync never does. */
            if (once && !strstr(msg, "fdatasync"))
                AKT_TRUE(ack[3]);
            if (strstr(msg, "fdatasync"))
                AKT_FALSE(ack[3]);
        }
        akidb_store_close(s);
        check_reopen(dir, ack, 4, 2);
        tsu_rmrf(dir);
        free(dir);
        if (inj == 0)
            break;
    }
    /* writev (in pieces with max_write) + fdatasync */
    AKT_TRUE(k >= 2);
    AKT_TRUE(k < 200);
}

AKT_TEST(store_upsert_disk_full)
{
    wal_only = true;
    upsert_walk(false, 0);
    upsert_walk(true, 0);
    upsert_walk(false, 40);
    upsert_walk(true, 40);
    wal_only = false;
    upsert_walk(false, 40);
}

/* akidb_store_snapshot with the n-th I/O call failing (sticky, or once:
 * then the rotation removes its unfinished segment and the log stays
 * usable). */
static void snapshot_walk(bool once)
{
    long k;
    for (k = 0; k < 500; k++) {
        char *dir;
        akidb_store *s = seeded(&dir);
        if (once)
            ak_io_fail_once(k, ENOSPC);
        else
            ak_io_fail_after(k, ENOSPC);
        akidb_status st = akidb_store_snapshot(s);
        long inj = ak_io_injected_failures();
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", akidb_last_error());
        reset_hooks();
        bool ack[3] = { true, true, false };
        if (inj == 0) {
            AKT_OK(st);
        } else {
            AKT_EQ_INT(st, AKIDB_ENOSPC);
            AKT_CONTAINS(msg, dir);
            AKT_EQ_INT(count_suffix(dir, ".tmp"), 0);
            ack[2] = write_after(s, 2);
            if (once && !strstr(msg, "fdatasync"))
                AKT_TRUE(ack[2]);
        }
        akidb_store_close(s);
        check_reopen(dir, ack, 3, -1);
        tsu_rmrf(dir);
        free(dir);
        if (inj == 0)
            break;
    }
    /* rotation: fdatasync, create, write, fdatasync, fsync folder (2);
     * snapshot: create, several writes, fsync, rename, fsync folder (2) */
    AKT_TRUE(k >= 12);
    AKT_TRUE(k < 500);
}

AKT_TEST(store_snapshot_disk_full)
{
    wal_only = true;
    snapshot_walk(false);
    snapshot_walk(true);
    wal_only = false;
}

/* akidb_store_close whose final snapshot fails: ENOSPC, and the WAL still
 * holds every acknowledged write. */
AKT_TEST(store_close_disk_full)
{
    long k;
    for (k = 0; k < 500; k++) {
        char *dir;
        akidb_store *s = seeded(&dir);
        AKT_OK(put_batch(s, 2));
        ak_io_fail_after(k, ENOSPC);
        akidb_status st = akidb_store_close(s);
        long inj = ak_io_injected_failures();
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", akidb_last_error());
        reset_hooks();
        /* The last counted call is the WAL's own fdatasync at close, whose
         * failure is not reported: every acknowledged record is durable. */
        if (st != AKIDB_OK) {
            AKT_EQ_INT(st, AKIDB_ENOSPC);
            AKT_CONTAINS(msg, dir);
            AKT_CONTAINS(msg, strerror(ENOSPC));
        } else {
            AKT_TRUE(inj == 0 || !strstr(msg, "ENOSPC"));
        }
        bool ack[3] = { true, true, true };
        check_reopen(dir, ack, 3, -1);
        tsu_rmrf(dir);
        free(dir);
        if (inj == 0)
            break;
    }
    AKT_TRUE(k >= 12);
    AKT_TRUE(k < 500);
}

/* ---- the key registry on a full disk ------------------------------------------------ */

/* Creating and deleting a key with each call of the auth.json rewrite
 * failing: the call fails with AKIDB_ENOSPC and changes nothing, in memory
 * or in the file. */
AKT_TEST(auth_keys_disk_full)
{
    char *dir = tsu_tmpdir("fioauth");
    ak_auth *a = NULL;
    AKT_OK(ak_auth_open(dir, &a));
    char *key = NULL;
    json_t *info = NULL;
    AKT_OK(ak_auth_key_create(a, "default", AK_ROLE_ADMIN, "first", &key, &info));
    const char *id = json_string_value(json_object_get(info, "id"));
    AKT_TRUE(id != NULL);
    char first_id[64];
    snprintf(first_id, sizeof first_id, "%s", id);
    json_decref(info);
    ak_free(key);
    long k;
    for (k = 0; k < 50; k++) {
        ak_io_fail_after(k, ENOSPC);
        key = NULL;
        info = NULL;
        akidb_status st = ak_auth_key_create(a, "default", AK_ROLE_READER, "second", &key, &info);
        long inj = ak_io_injected_failures();
        reset_hooks();
        if (st == AKIDB_OK) {
            json_decref(info);
            ak_free(key);
            AKT_EQ_INT(ak_auth_key_count(a), 2);
            if (inj == 0)
                break;
            /* Only the folder fsync after the rename failed: the file has
             * the key, so it was kept.  Undo for the next round. */
            json_t *l = ak_auth_key_list(a, NULL);
            for (size_t i = 0; i < json_array_size(l); i++) {
                const char *kid = json_string_value(json_object_get(json_array_get(l, i), "id"));
                if (strcmp(kid, first_id) != 0)
                    AKT_OK(ak_auth_key_delete(a, kid));
            }
            json_decref(l);
            continue;
        }
        AKT_EQ_INT(st, AKIDB_ENOSPC);
        AKT_CONTAINS(akidb_last_error(), "auth.json");
        AKT_EQ_INT(ak_auth_key_count(a), 1);
        AKT_EQ_INT(count_suffix(dir, ".tmp"), 0);
        ak_auth *b = NULL;
        AKT_OK(ak_auth_open(dir, &b));
        AKT_EQ_INT(ak_auth_key_count(b), 1);
        ak_auth_close(b);
    }
    AKT_TRUE(k >= 4 && k < 50);   /* create, write, fsync, rename, folder */
    /* Deleting on a full disk keeps the key. */
    ak_io_fail_after(0, ENOSPC);
    AKT_STATUS(ak_auth_key_delete(a, first_id), AKIDB_ENOSPC);
    reset_hooks();
    AKT_EQ_INT(ak_auth_key_count(a), 2);
    ak_auth_close(a);
    AKT_OK(ak_auth_open(dir, &a));
    AKT_EQ_INT(ak_auth_key_count(a), 2);
    AKT_OK(ak_auth_key_delete(a, first_id));
    AKT_EQ_INT(ak_auth_key_count(a), 1);
    ak_auth_close(a);
    tsu_rmrf(dir);
    free(dir);
}

AKT_MAIN(AKT_REG(status_enospc), AKT_REG(short_writes_completed),
         AKT_REG(failures_name_op_and_path), AKT_REG(replace_file_all_or_nothing),
         AKT_REG(store_upsert_disk_full), AKT_REG(store_snapshot_disk_full),
         AKT_REG(store_close_disk_full), AKT_REG(auth_keys_disk_full))
