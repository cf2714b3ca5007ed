/*
 * test_store_snapshot.c - snapshots taken by the store's snapshot thread:
 * the write that crosses the WAL threshold returns while the snapshot is
 * held at each of its stages (a test hook blocks the thread), and so do
 * point writes, deletes and catalog changes made meanwhile (they go to the
 * new WAL segment and survive a reopen); SIGKILL while the snapshot is held
 * loses nothing acknowledged; a failed background snapshot is reported by
 * akidb_store_get_stats until one succeeds; and a snapshot written before
 * index kinds existed (tests/data/store/snap-v1.akdb) loads, and the same
 * writes produce that file byte for byte today.
 */
#include "akt.h"
#include "common/common.h"
#include "common/fileio.h"
#include "store/store_int.h"
#include "test_store_util.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define DIM 16
#define BATCH 20
#define WAL_LIMIT (64u << 10)

/* ---- the hook: blocks the snapshot thread at one stage ------------------------- */

static pthread_mutex_t hk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hk_cv = PTHREAD_COND_INITIALIZER;
static const char *hk_stage;     /* stage to block at                   */
static int hk_reached;
static bool hk_release;
static int hk_fd = -1;           /* child: reports reaching the stage    */

static void block_hook(akidb_store *s, const char *stage)
{
    (void)s;
    if (strcmp(stage, hk_stage) != 0)
        return;
    if (hk_fd >= 0) {
        uint32_t ev[3] = { 0, 0, 2 };
        if (write(hk_fd, ev, sizeof ev) != sizeof ev)
            _exit(7);
        for (;;)
            pause();
    }
    pthread_mutex_lock(&hk_mu);
    hk_reached++;
    pthread_cond_broadcast(&hk_cv);
    while (!hk_release)
        pthread_cond_wait(&hk_cv, &hk_mu);
    pthread_mutex_unlock(&hk_mu);
}

static bool wait_reached(int secs)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += secs;
    pthread_mutex_lock(&hk_mu);
    while (!hk_reached)
        if (pthread_cond_timedwait(&hk_cv, &hk_mu, &dl) == ETIMEDOUT)
            break;
    bool r = hk_reached > 0;
    pthread_mutex_unlock(&hk_mu);
    return r;
}

static void release_hook(void)
{
    pthread_mutex_lock(&hk_mu);
    hk_release = true;
    pthread_cond_broadcast(&hk_cv);
    pthread_mutex_unlock(&hk_mu);
}

/* Polls the stats until n background snapshots finished (false after secs). */
static bool wait_done(akidb_store *s, uint64_t n, int secs)
{
    for (int i = 0; i < secs * 100; i++) {
        akidb_store_stats st;
        akidb_store_get_stats(s, &st);
        if (st.snapshots_background >= n)
            return true;
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return false;
}

/* ---- points ------------------------------------------------------------------------- */

static void point_id(char *buf, uint32_t b, int i)
{
    snprintf(buf, 48, "b%u-%d", b, i);
}

static void point_vec(uint32_t b, int i, float *v)
{
    tsu_rng g = { ((uint64_t)b << 16) ^ (uint64_t)i ^ 0xabcdefull };
    tsu_vec(&g, v, DIM);
}

static akidb_status upsert_batch(akidb_store *s, const char *coll, uint32_t b)
{
    akidb_point_in p[BATCH];
    float v[BATCH][DIM];
    char ids[BATCH][48];
    for (int i = 0; i < BATCH; i++) {
        point_id(ids[i], b, i);
        point_vec(b, i, v[i]);
        p[i] = (akidb_point_in){ ids[i], v[i], ids[i], NULL };
    }
    return akidb_points_upsert(s, "t", coll, p, NULL, BATCH);
}

/* Batch b is present with its exact vectors (minus the first `gone`). */
static void check_batch(akidb_store *s, const char *coll, uint32_t b, int gone)
{
    char ids[BATCH][48];
    const char *idp[BATCH];
    for (int i = 0; i < BATCH; i++) {
        point_id(ids[i], b, i);
        idp[i] = ids[i];
    }
    akidb_points got;
    AKT_OK(akidb_points_get(s, "t", coll, idp, BATCH, AKIDB_WITH_VECTOR | AKIDB_WITH_TEXT, &got));
    AKT_EQ_INT(got.n, BATCH - gone);
    for (size_t i = 0; i < got.n; i++) {
        float v[DIM];
        point_vec(b, atoi(strchr(got.items[i].id, '-') + 1), v);
        AKT_TRUE(memcmp(v, got.items[i].vector, sizeof v) == 0);
        AKT_EQ_STR(got.items[i].text, got.items[i].id);
    }
    akidb_points_free(&got);
}

static akidb_store *open_at(const char *dir, akidb_sync_mode sync)
{
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.sync = sync;
    o.log = tsu_quiet_log;
    o.snapshot_wal_bytes = WAL_LIMIT;
    o.no_snapshot_on_close = true;   /* only the thread's snapshots */
    akidb_store *s = NULL;
    if (akidb_store_open(dir, &o, &s) != AKIDB_OK) {
        fprintf(stderr, "open %s: %s\n", dir, akidb_last_error());
        abort();
    }
    return s;
}

static void make_coll(akidb_store *s, const char *name)
{
    akidb_collection_opts co = { 0 };
    co.dim = DIM;
    co.metric = AKIDB_METRIC_L2;
    co.hnsw_ef_construction = 32;
    AKT_OK(akidb_collection_create(s, "t", name, &co));
}

static int count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name), sl = strlen(suffix);
        n += l > sl && strcmp(e->d_name + l - sl, suffix) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

/* Writes batches from *b on until one crosses the WAL threshold (that
 * write wakes the snapshot thread, which may have rotated the WAL, or even
 * finished, by the time the stats are read). */
static void write_past_threshold(akidb_store *s, uint32_t *b)
{
    akidb_store_stats st;
    akidb_store_get_stats(s, &st);
    uint64_t done = st.snapshots_background;
    for (;;) {
        AKT_OK(upsert_batch(s, "c", (*b)++));
        akidb_store_get_stats(s, &st);
        if (st.wal_bytes >= WAL_LIMIT || st.snapshot_running || st.snapshots_background > done)
            return;
        AKT_TRUE(*b < 10000);
    }
}

/* ---- writes go on while the snapshot is held ---------------------------------------- */

static void writes_during_snapshot(const char *stage)
{
    char *dir = tsu_tmpdir("bgsnap");
    hk_stage = stage;
    hk_reached = 0;
    hk_release = false;
    ak_store_snapshot_hook = block_hook;
    alarm(120);   /* a write that waited for the held snapshot would hang: fail instead */
    akidb_store *s = open_at(dir, AKIDB_SYNC_FULL);
    AKT_OK(akidb_tenant_create(s, "t"));
    make_coll(s, "c");
    uint32_t b = 0;
    write_past_threshold(s, &b);   /* this write returned; the thread takes over */
    AKT_TRUE(wait_reached(30));
    akidb_store_stats st;
    akidb_store_get_stats(s, &st);
    AKT_TRUE(st.snapshot_running);
    AKT_EQ_INT(st.snapshots_background, 0);
    uint64_t first_new = st.last_lsn + 1;
    /* while it is held: point writes, deletes and catalog changes return */
    uint32_t held_from = b;
    for (int i = 0; i < 10; i++)
        AKT_OK(upsert_batch(s, "c", b++));
    char d0[48], d1[48];
    point_id(d0, held_from, 0);
    point_id(d1, held_from, 1);
    const char *del[2] = { d0, d1 };
    size_t nd = 0;
    AKT_OK(akidb_points_delete(s, "t", "c", del, 2, &nd));
    AKT_EQ_INT(nd, 2);
    make_coll(s, "c2");
    AKT_OK(upsert_batch(s, "c2", 7));
    AKT_OK(akidb_tenant_create(s, "t2"));
    akidb_store_get_stats(s, &st);
    AKT_TRUE(st.snapshot_running);
    AKT_EQ_INT(st.snapshots_background, 0);
    AKT_TRUE(st.last_lsn >= first_new + 13);
    release_hook();
    AKT_TRUE(wait_done(s, 1, 60));
    akidb_store_get_stats(s, &st);
    AKT_EQ_INT(st.snapshots_failed, 0);
    AKT_EQ_INT(st.snapshot_status, AKIDB_OK);
    AKT_EQ_STR(st.snapshot_error, "");
    /* the snapshot's LSN is the first record of the new segment */
    AKT_TRUE(st.snapshot_lsn > 1 && st.snapshot_lsn <= first_new);
    char wal[32];
    ak_wal_segment_name(wal, st.snapshot_lsn);
    char *wp = ak_path_join(dir, wal);
    struct stat sb;
    AKT_EQ_INT(stat(wp, &sb), 0);
    ak_free(wp);
    AKT_EQ_INT(count_files(dir, ".akdb"), 1);
    AKT_OK(akidb_store_close(s));
    ak_store_snapshot_hook = NULL;

    /* everything written before, during and after is there */
    s = open_at(dir, AKIDB_SYNC_FULL);
    for (uint32_t k = 0; k < b; k++)
        check_batch(s, "c", k, k == held_from ? 2 : 0);
    check_batch(s, "c2", 7, 0);
    akidb_names nm;
    AKT_OK(akidb_tenant_list(s, &nm));
    AKT_EQ_INT(nm.n, 2);
    akidb_names_free(&nm);
    uint64_t cnt;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    AKT_EQ_INT(cnt, (uint64_t)b * BATCH - 2);
    AKT_OK(akidb_store_close(s));
    alarm(0);
    fprintf(stderr, "  held at \"%s\" (WAL past %u bytes after batch %u): 13 writes made while held\n",
            stage, WAL_LIMIT, held_from - 1);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(write_does_not_wait_for_snapshot)
{
    writes_during_snapshot("rotated");
    writes_during_snapshot("written");
}

/* ---- SIGKILL while the snapshot thread is held -------------------------------------- */

static _Noreturn void kill_child(const char *dir, int fd)
{
    hk_fd = fd;
    ak_store_snapshot_hook = block_hook;
    akidb_store *s = open_at(dir, AKIDB_SYNC_FULL);
    for (uint32_t b = 0; b < 5000; b++) {
        if (upsert_batch(s, "c", b) != AKIDB_OK)
            _exit(4);
        uint32_t ev[3] = { b, 0, 0 };
        if (write(fd, ev, sizeof ev) != sizeof ev)
            _exit(5);
    }
    for (;;)
        pause();
}

static void kill_mid_snapshot(const char *stage)
{
    char *dir = tsu_tmpdir("bgkill");
    {
        akidb_store *s = open_at(dir, AKIDB_SYNC_FULL);
        AKT_OK(akidb_tenant_create(s, "t"));
        make_coll(s, "c");
        AKT_OK(akidb_store_close(s));
    }
    hk_stage = stage;
    int pfd[2];
    AKT_OK(pipe(pfd));
    pid_t pid = fork();
    AKT_TRUE(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        kill_child(dir, pfd[1]);
    }
    close(pfd[1]);
    alarm(120);
    /* acknowledged batches; kill once the snapshot is held and 20 more
     * writes were acknowledged after that */
    uint32_t acked = 0, after = 0;
    bool held = false;
    uint32_t ev[3];
    while (read(pfd[0], ev, sizeof ev) == sizeof ev) {
        if (ev[2] == 2) {
            held = true;
            continue;
        }
        AKT_EQ_INT(ev[0], acked);
        acked++;
        if (held && ++after == 20)
            break;
    }
    AKT_TRUE(held);
    AKT_EQ_INT(after, 20);
    if (strcmp(stage, "written") == 0)
        AKT_EQ_INT(count_files(dir, ".tmp"), 1);   /* killed with the file half made */
    kill(pid, SIGKILL);
    while (read(pfd[0], ev, sizeof ev) == sizeof ev)
        if (ev[2] != 2 && ev[0] == acked)
            acked++;
    close(pfd[0]);
    int wst;
    waitpid(pid, &wst, 0);
    AKT_TRUE(WIFSIGNALED(wst));
    alarm(0);

    akidb_store *s = open_at(dir, AKIDB_SYNC_FULL);
    AKT_EQ_INT(count_files(dir, ".tmp"), 0);
    for (uint32_t k = 0; k < acked; k++)
        check_batch(s, "c", k, 0);
    uint64_t cnt;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    /* at most the one batch in flight at the kill */
    AKT_TRUE(cnt == (uint64_t)acked * BATCH || cnt == (uint64_t)(acked + 1) * BATCH);
    AKT_OK(akidb_store_close(s));
    fprintf(stderr, "  killed at \"%s\": %u acknowledged batches (20 while held) intact\n",
            stage, acked);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(kill9_during_background_snapshot)
{
    kill_mid_snapshot("rotated");
    kill_mid_snapshot("written");
}

/* ---- a failed background snapshot is reported, retried, and loses nothing ----------- */

static void fail_hook(akidb_store *s, const char *stage)
{
    (void)s;
    if (strcmp(stage, "rotated") == 0)
        ak_io_fail_after(0, ENOSPC);   /* the disk is full from here on */
}

AKT_TEST(background_snapshot_failure_is_reported)
{
    char *dir = tsu_tmpdir("bgfail");
    alarm(120);
    akidb_store *s = open_at(dir, AKIDB_SYNC_NONE);
    AKT_OK(akidb_tenant_create(s, "t"));
    make_coll(s, "c");
    ak_store_snapshot_hook = fail_hook;
    uint32_t b = 0;
    write_past_threshold(s, &b);
    AKT_TRUE(wait_done(s, 1, 30));
    ak_io_fail_after(-1, 0);
    ak_store_snapshot_hook = NULL;
    akidb_store_stats st;
    akidb_store_get_stats(s, &st);
    AKT_EQ_INT(st.snapshots_failed, 1);
    AKT_EQ_INT(st.snapshot_status, AKIDB_ENOSPC);
    AKT_CONTAINS(st.snapshot_error, dir);
    AKT_EQ_INT(count_files(dir, ".tmp"), 0);
    AKT_EQ_INT(count_files(dir, ".akdb"), 0);
    /* writes go on; after the back-off the next crossing retries */
    struct timespec ts = { 1, 200 * 1000000L };
    nanosleep(&ts, NULL);
    write_past_threshold(s, &b);
    AKT_TRUE(wait_done(s, 2, 30));
    akidb_store_get_stats(s, &st);
    AKT_EQ_INT(st.snapshots_failed, 1);
    AKT_EQ_INT(st.snapshot_status, AKIDB_OK);
    AKT_EQ_STR(st.snapshot_error, "");
    AKT_EQ_INT(count_files(dir, ".akdb"), 1);
    AKT_OK(akidb_store_close(s));
    s = open_at(dir, AKIDB_SYNC_NONE);
    for (uint32_t k = 0; k < b; k++)
        check_batch(s, "c", k, 0);
    AKT_OK(akidb_store_close(s));
    alarm(0);
    tsu_rmrf(dir);
    free(dir);
}

/* ---- a snapshot from before index kinds ------------------------------------------------ */

/* The writes whose snapshot is tests/data/store/snap-v1.akdb (written by
 * the store before index kinds and background snapshots existed). */
static void golden_ops(akidb_store *s, int *bad)
{
    static const akidb_metric ms[2] = { AKIDB_METRIC_L2, AKIDB_METRIC_COSINE };
    static const char *const names[2] = { "l2c", "cosc" };
    *bad |= akidb_tenant_create(s, "old") != AKIDB_OK;
    for (int m = 0; m < 2; m++) {
        akidb_collection_opts co = { 0 };
        co.dim = 8;
        co.metric = ms[m];
        co.hnsw_m = 4;
        co.hnsw_ef_construction = 16;
        co.model = m ? "some-model" : NULL;
        *bad |= akidb_collection_create(s, "old", names[m], &co) != AKIDB_OK;
        akidb_point_in p[40];
        float v[40][8];
        char ids[40][16], pl[40][32];
        for (int i = 0; i < 40; i++) {
            snprintf(ids[i], sizeof ids[i], "p%d", i);
            for (int j = 0; j < 8; j++)
                v[i][j] = (float)((i * 7 + j * 3) % 11) - 4.5f + 0.25f * (float)m;
            snprintf(pl[i], sizeof pl[i], "{\"i\":%d,\"odd\":%s}", i, i % 2 ? "true" : "false");
            p[i] = (akidb_point_in){ ids[i], v[i], i % 3 ? ids[i] : NULL, i % 4 ? pl[i] : NULL };
        }
        *bad |= akidb_points_upsert(s, "old", names[m], p, NULL, 40) != AKIDB_OK;
        const char *del[3] = { "p3", "p17", "p30" };
        *bad |= akidb_points_delete(s, "old", names[m], del, 3, NULL) != AKIDB_OK;
        /* replace two points (their labels are reused later) */
        *bad |= akidb_points_upsert(s, "old", names[m], p + 5, NULL, 2) != AKIDB_OK;
    }
    *bad |= akidb_tenant_create(s, "empty") != AKIDB_OK;
}

/* Zeroes the words past the count of every link list in the INDEX sections
 * of snapshot image b (docs/FORMAT.md, src/index/index.h) and recomputes
 * the index checksums: those words are never read, and the store before
 * index kinds left stale ids there. */
static void zero_unused_links(uint8_t *b, size_t len)
{
    size_t off = 64;
    while (off + 16 <= len) {
        uint32_t type = ak_get_u32(b + off);
        uint64_t sl = ak_get_u64(b + off + 8);
        if (type == AK_SEC_INDEX) {
            uint8_t *ix = b + off + 16;
            uint32_t dim = ak_get_u32(ix + 24), M = ak_get_u32(ix + 32), n = ak_get_u32(ix + 48);
            size_t p = 96 + (size_t)n * 5 + ((4 - (n * 5) % 4) % 4) + (size_t)n * dim * 4;
            for (uint32_t x = 0; x < n; x++, p += (1 + 2 * M) * 4)
                memset(ix + p + 4 + ak_get_u32(ix + p) * 4, 0, (2 * M - ak_get_u32(ix + p)) * 4);
            for (uint32_t x = 0; x < n; x++) {
                if (ak_get_u32(ix + 96 + x * 4) == 0xFFFFFFFFu)
                    continue;
                for (uint8_t l = 0; l < ix[96 + n * 4 + x]; l++, p += (1 + M) * 4)
                    memset(ix + p + 4 + ak_get_u32(ix + p) * 4, 0, (M - ak_get_u32(ix + p)) * 4);
            }
            AKT_EQ_INT(p + 8, sl);
            ak_put_u64(ix + p, ak_index_hash64(ix, p, 0));   /* its checksum again */
        }
        if (type == AK_SEC_END)
            break;
        off += 16 + sl;
    }
}

#define GOLDEN "tests/data/store/snap-v1.akdb"
#define GOLDEN_NAME "snap-000000000000000b.akdb"

AKT_TEST(snapshot_from_before_index_kinds)
{
    char *golden;
    size_t glen;
    AKT_OK(ak_read_file(GOLDEN, 1 << 20, &golden, &glen));
    /* it loads: points, texts, payloads, vectors and search */
    char *dir = tsu_tmpdir("v1");
    char *p = ak_path_join(dir, GOLDEN_NAME);
    AKT_OK(ak_io_replace_file(p, golden, glen, 0644, false));
    ak_free(p);
    akidb_store *s = open_at(dir, AKIDB_SYNC_NONE);
    const char *names[2] = { "l2c", "cosc" };
    for (int m = 0; m < 2; m++) {
        uint64_t cnt;
        AKT_OK(akidb_points_count(s, "old", names[m], NULL, &cnt));
        AKT_EQ_INT(cnt, 37);
        const char *ids[3] = { "p4", "p5", "p3" };
        akidb_points got;
        AKT_OK(akidb_points_get(s, "old", names[m], ids, 3,
                                AKIDB_WITH_VECTOR | AKIDB_WITH_TEXT | AKIDB_WITH_PAYLOAD, &got));
        AKT_EQ_INT(got.n, 2);
        for (size_t i = 0; i < got.n; i++) {
            int pi = atoi(got.items[i].id + 1);
            float v[8];
            double nn = 0;
            for (int j = 0; j < 8; j++) {
                v[j] = (float)((pi * 7 + j * 3) % 11) - 4.5f + 0.25f * (float)m;
                nn += (double)v[j] * v[j];
            }
            for (int j = 0; j < 8; j++)
                AKT_NEAR(got.items[i].vector[j], m ? v[j] / sqrt(nn) : v[j], 1e-6);
            AKT_EQ_STR(got.items[i].text, got.items[i].id);
            char pl[32];
            snprintf(pl, sizeof pl, "{\"i\":%d,\"odd\":%s}", pi, pi % 2 ? "true" : "false");
            if (pi % 4)
                AKT_EQ_STR(got.items[i].payload, pl);
            else
                AKT_TRUE(got.items[i].payload == NULL);
        }
        akidb_points_free(&got);
        /* a point is its own nearest neighbour */
        float q[8];
        for (int j = 0; j < 8; j++)
            q[j] = (float)((9 * 7 + j * 3) % 11) - 4.5f + 0.25f * (float)m;
        akidb_search_req rq = { 0 };
        rq.vector = q;
        rq.dim = 8;
        rq.top_k = 1;
        AKT_OK(akidb_search(s, "old", names[m], &rq, &got));
        AKT_EQ_INT(got.n, 1);
        AKT_EQ_STR(got.items[0].id, "p9");
        akidb_points_free(&got);
    }
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(dir);
    free(dir);

    /* the same writes make the same bytes (but for words never read) */
    dir = tsu_tmpdir("v1w");
    s = open_at(dir, AKIDB_SYNC_NONE);
    int bad = 0;
    golden_ops(s, &bad);
    AKT_EQ_INT(bad, 0);
    AKT_OK(akidb_store_snapshot(s));
    AKT_OK(akidb_store_close(s));
    p = ak_path_join(dir, GOLDEN_NAME);
    char *now;
    size_t nlen;
    AKT_OK(ak_read_file(p, 1 << 20, &now, &nlen));
    AKT_EQ_INT(nlen, glen);
    zero_unused_links((uint8_t *)golden, glen);
    /* the writer zeroes them itself now; a stale id here would fail below */
    size_t diff = 0;
    while (diff < glen && diff < nlen && now[diff] == golden[diff])
        diff++;
    if (diff < glen)
        fprintf(stderr, "  first difference at byte %zu of %zu\n", diff, glen);
    AKT_EQ_INT(diff, glen);
    ak_free(now);
    ak_free(p);
    ak_free(golden);
    tsu_rmrf(dir);
    free(dir);
}

AKT_MAIN(AKT_REG(write_does_not_wait_for_snapshot), AKT_REG(kill9_during_background_snapshot),
         AKT_REG(background_snapshot_failure_is_reported),
         AKT_REG(snapshot_from_before_index_kinds))
