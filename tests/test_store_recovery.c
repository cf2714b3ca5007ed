/*
 * test_store_recovery.c - damaged files on disk: a torn WAL tail is cut and
 * logged; damage inside the WAL, flipped or truncated snapshots and wrong
 * magic/version fail the open cleanly with the file name and offset.
 */
#include "akt.h"
#include "common/common.h"
#include "test_store_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

static char last_log[2048];

static void capture_log(void *ctx, akidb_log_level lvl, const char *msg)
{
    (void)ctx;
    if (lvl >= AKIDB_LOG_WARN)
        snprintf(last_log, sizeof last_log, "%s", msg);
}

static akidb_store_opts opts(bool snap_on_close)
{
    akidb_store_opts o = tsu_fast_opts();
    o.log = capture_log;
    o.no_snapshot_on_close = !snap_on_close;
    return o;
}

/* Builds a store with n_batches batches of 10 points (dim 4). */
static char *build(int n_batches, bool snapshot)
{
    char *dir = tsu_tmpdir("rec");
    akidb_store_opts o = opts(snapshot);
    akidb_store *s;
    if (akidb_store_open(dir, &o, &s) != AKIDB_OK)
        abort();
    akidb_collection_opts co = { 0 };
    co.dim = 4;
    co.metric = AKIDB_METRIC_L2;
    if (akidb_tenant_create(s, "t") || akidb_collection_create(s, "t", "c", &co))
        abort();
    tsu_rng r = { 1 };
    for (int b = 0; b < n_batches; b++) {
        akidb_point_in p[10];
        float v[10][4];
        char ids[10][16];
        for (int i = 0; i < 10; i++) {
            tsu_vec(&r, v[i], 4);
            snprintf(ids[i], 16, "b%d-%d", b, i);
            p[i] = (akidb_point_in){ ids[i], v[i], NULL, "{\"a\": 1}" };
        }
        if (akidb_points_upsert(s, "t", "c", p, NULL, 10) != AKIDB_OK)
            abort();
    }
    akidb_store_close(s);
    return dir;
}

/* Path of the newest file with the given prefix. */
static char *newest(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[256] = "";
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strcmp(e->d_name, best) > 0 &&
            !strstr(e->d_name, ".tmp"))
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    if (!best[0])
        return NULL;
    char *p = malloc(strlen(dir) + strlen(best) + 2);
    sprintf(p, "%s/%s", dir, best);
    return p;
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void flip_byte(const char *p, long off)
{
    int fd = open(p, O_RDWR);
    unsigned char b;
    if (pread(fd, &b, 1, off) != 1)
        abort();
    b ^= 0x5A;
    if (pwrite(fd, &b, 1, off) != 1)
        abort();
    close(fd);
}

static uint64_t count_points(akidb_store *s)
{
    uint64_t n = 0;
    if (akidb_points_count(s, "t", "c", NULL, &n) != AKIDB_OK)
        return (uint64_t)-1;
    return n;
}

AKT_TEST(torn_wal_tail_is_cut)
{
    char *dir = build(3, false);
    char *wal = newest(dir, "wal-");
    AKT_TRUE(wal != NULL);
    long sz = file_size(wal);
    AKT_OK(truncate(wal, sz - 7));   /* tear the last record */
    akidb_store_opts o = opts(false);
    akidb_store *s;
    last_log[0] = 0;
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_CONTAINS(last_log, "wal-");
    AKT_CONTAINS(last_log, "offset");
    AKT_EQ_INT(count_points(s), 20);
    /* The store keeps working after the cut, and the new write survives. */
    float v[4] = { 1, 2, 3, 4 };
    akidb_point_in p = { "after", v, NULL, NULL };
    AKT_OK(akidb_points_upsert(s, "t", "c", &p, NULL, 1));
    akidb_store_close(s);
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_EQ_INT(count_points(s), 21);
    akidb_store_close(s);
    /* Garbage appended after the last record is cut too. */
    int fd = open(wal, O_WRONLY | O_APPEND);
    AKT_EQ_INT(write(fd, "\x13\x00\x00\x00garbage-garbage", 19), 19);
    close(fd);
    last_log[0] = 0;
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_CONTAINS(last_log, "offset");
    AKT_EQ_INT(count_points(s), 21);
    akidb_store_close(s);
    free(wal);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(damage_inside_wal_fails_or_cuts)
{
    char *dir = build(3, false);
    char *wal = newest(dir, "wal-");
    /* Records: tenant, collection, then batches; flip a byte in the first
     * batch, well before the end. */
    long sz = file_size(wal);
    flip_byte(wal, 32 + 20 + 5 + 20 + 30 + 40);
    akidb_store_opts o = opts(false);
    akidb_store *s;
    AKT_STATUS(akidb_store_open(dir, &o, &s), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), "wal-");
    AKT_CONTAINS(akidb_last_error(), "offset");
    AKT_EQ_INT(file_size(wal), sz);   /* nothing was cut */
    o.wal_cut_on_corruption = true;
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_CONTAINS(last_log, "cut");
    AKT_EQ_INT(count_points(s), 0);   /* the collection exists, no batch survived */
    akidb_store_close(s);
    free(wal);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(wal_wrong_magic_and_version)
{
    char *dir = build(1, false);
    char *wal = newest(dir, "wal-");
    flip_byte(wal, 2);
    akidb_store_opts o = opts(false);
    akidb_store *s;
    AKT_STATUS(akidb_store_open(dir, &o, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "magic");
    AKT_CONTAINS(akidb_last_error(), "offset 0");
    flip_byte(wal, 2);
    flip_byte(wal, 8);   /* version */
    AKT_STATUS(akidb_store_open(dir, &o, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "version");
    free(wal);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(snapshot_damage)
{
    akidb_store_opts o = opts(false);
    akidb_store *s;
    /* flipped bytes at many positions: never a crash, never a silent load of
     * wrong data (either ECORRUPT naming the file, or identical content when
     * the byte was in padding the format ignores) */
    char *dir = build(3, true);
    char *snap = newest(dir, "snap-");
    AKT_TRUE(snap != NULL);
    long sz = file_size(snap);
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_EQ_INT(count_points(s), 30);
    akidb_store_close(s);
    int step = tsu_quick() ? 37 : 7;
    for (long off = 0; off < sz; off += step) {
        flip_byte(snap, off);
        akidb_status st = akidb_store_open(dir, &o, &s);
        if (st == AKIDB_OK) {
            /* only reserved header bytes may be ignored */
            AKT_TRUE(off >= 32 && off < 60);
            AKT_EQ_INT(count_points(s), 30);
            akidb_store_close(s);
        } else {
            AKT_TRUE(st == AKIDB_ECORRUPT || st == AKIDB_EFORMAT);
            AKT_CONTAINS(akidb_last_error(), "snap-");
            AKT_CONTAINS(akidb_last_error(), "offset");
        }
        flip_byte(snap, off);
    }
    /* truncated snapshot */
    AKT_OK(truncate(snap, sz - 100));
    AKT_STATUS(akidb_store_open(dir, &o, &s), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), "snap-");
    AKT_OK(truncate(snap, 40));
    AKT_STATUS(akidb_store_open(dir, &o, &s), AKIDB_ECORRUPT);
    AKT_OK(truncate(snap, 3));
    AKT_STATUS(akidb_store_open(dir, &o, &s), AKIDB_EFORMAT);
    free(snap);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(snapshot_wrong_version)
{
    char *dir = build(1, true);
    char *snap = newest(dir, "snap-");
    flip_byte(snap, 8);
    akidb_store_opts o = opts(false);
    akidb_store *s;
    AKT_STATUS(akidb_store_open(dir, &o, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "version");
    AKT_CONTAINS(akidb_last_error(), "offset 8");
    free(snap);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(snapshot_then_wal_tail)
{
    /* snapshot + later WAL records: restart loads the snapshot and replays
     * only the tail */
    char *dir = build(2, true);
    akidb_store_opts o = opts(false);
    akidb_store *s;
    AKT_OK(akidb_store_open(dir, &o, &s));
    float v[4] = { 1, 1, 1, 1 };
    akidb_point_in p = { "tail", v, "t", "{\"z\": true}" };
    AKT_OK(akidb_points_upsert(s, "t", "c", &p, NULL, 1));
    const char *del[1] = { "b0-0" };
    AKT_OK(akidb_points_delete(s, "t", "c", del, 1, NULL));
    akidb_store_stats st;
    akidb_store_get_stats(s, &st);
    AKT_TRUE(st.last_lsn >= st.snapshot_lsn);
    akidb_store_close(s);   /* no snapshot on close */
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_EQ_INT(count_points(s), 20);
    uint64_t n;
    AKT_OK(akidb_points_count(s, "t", "c", "{\"z\": true}", &n));
    AKT_EQ_INT(n, 1);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

AKT_MAIN(AKT_REG(torn_wal_tail_is_cut), AKT_REG(damage_inside_wal_fails_or_cuts),
         AKT_REG(wal_wrong_magic_and_version), AKT_REG(snapshot_damage),
         AKT_REG(snapshot_wrong_version), AKT_REG(snapshot_then_wal_tail))
