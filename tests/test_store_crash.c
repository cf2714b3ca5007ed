/*
 * test_store_crash.c - durability under kill -9.  A forked writer process
 * upserts batches (and deletes some points, and snapshots now and then) with
 * full fsync, and reports each batch number on a pipe only after the call
 * returned.  The parent SIGKILLs it at a random moment, reopens the store and
 * checks that every acknowledged point is present with exactly the data
 * written (and every acknowledged delete stayed deleted).  Repeated for many
 * rounds on the same directory, so recovery of recovered stores is covered.
 */
#include "akt.h"
#include "common/common.h"
#include "test_store_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define DIM 16
#define BATCH 50

/* Event reported by the child: batch b of round r written (kind 0), or the
 * first 5 points of batch b deleted (kind 1). */
typedef struct ev {
    uint32_t round, batch, kind;
} ev;

static void point_id(char *buf, uint32_t r, uint32_t b, int i)
{
    snprintf(buf, 48, "r%u-b%u-%d", r, b, i);
}

static void point_vec(uint32_t r, uint32_t b, int i, float *v)
{
    tsu_rng g = { ((uint64_t)r << 40) ^ ((uint64_t)b << 16) ^ (uint64_t)i };
    tsu_vec(&g, v, DIM);
}

static void quiet(void *ctx, akidb_log_level l, const char *m)
{
    (void)ctx; (void)l; (void)m;
}

static _Noreturn void child(const char *dir, uint32_t round, int fd, uint64_t seed)
{
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.log = quiet;
    o.snapshot_wal_bytes = 200 << 10;   /* automatic snapshots while killed */
    akidb_store *s;
    if (akidb_store_open(dir, &o, &s) != AKIDB_OK) {
        fprintf(stderr, "child open: %s\n", akidb_last_error());
        _exit(3);
    }
    tsu_rng rng = { seed };
    for (uint32_t b = 0;; b++) {
        akidb_point_in p[BATCH];
        float v[BATCH][DIM];
        char ids[BATCH][48], pl[BATCH][64];
        for (int i = 0; i < BATCH; i++) {
            point_id(ids[i], round, b, i);
            point_vec(round, b, i, v[i]);
            snprintf(pl[i], 64, "{\"r\":%u,\"b\":%u,\"i\":%d}", round, b, i);
            p[i] = (akidb_point_in){ ids[i], v[i], ids[i], pl[i] };
        }
        if (akidb_points_upsert(s, "t", "c", p, NULL, BATCH) != AKIDB_OK) {
            fprintf(stderr, "child upsert: %s\n", akidb_last_error());
            _exit(4);
        }
        ev e = { round, b, 0 };
        if (write(fd, &e, sizeof e) != sizeof e)
            _exit(5);
        if (b % 4 == 3) {
            const char *del[5];
            char dids[5][48];
            for (int i = 0; i < 5; i++) {
                point_id(dids[i], round, b - 2, i);
                del[i] = dids[i];
            }
            if (akidb_points_delete(s, "t", "c", del, 5, NULL) != AKIDB_OK)
                _exit(6);
            ev d = { round, b - 2, 1 };
            if (write(fd, &d, sizeof d) != sizeof d)
                _exit(5);
        }
        if (tsu_below(&rng, 40) == 0)
            akidb_store_snapshot(s);
    }
}

AKT_TEST(kill9_rounds)
{
    char *dir = tsu_tmpdir("crash");
    {
        akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
        o.log = quiet;
        akidb_store *s;
        AKT_OK(akidb_store_open(dir, &o, &s));
        AKT_OK(akidb_tenant_create(s, "t"));
        akidb_collection_opts co = { 0 };
        co.dim = DIM;
        co.metric = AKIDB_METRIC_L2;
        co.hnsw_ef_construction = 64;
        AKT_OK(akidb_collection_create(s, "t", "c", &co));
        AKT_OK(akidb_store_close(s));
    }
    int rounds = tsu_quick() ? 10 : 30;
    size_t cap = 1 << 16, n_ev = 0;
    ev *evs = malloc(cap * sizeof *evs);
    tsu_rng rng = { (uint64_t)time(NULL) };
    size_t total_acked = 0;
    /* per round: the batch whose delete may have been in flight at the kill */
    int64_t *inflight = malloc((size_t)rounds * sizeof *inflight);
    for (int round = 0; round < rounds; round++) {
        int pfd[2];
        AKT_OK(pipe(pfd));
        pid_t pid = fork();
        AKT_TRUE(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            child(dir, (uint32_t)round, pfd[1], tsu_next(&rng));
        }
        close(pfd[1]);
        /* 20..400 ms: kills land in upserts, fsyncs, snapshots and opens */
        struct timespec ts = { 0, (long)(20 + tsu_below(&rng, 380)) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        ev e;
        while (read(pfd[0], &e, sizeof e) == sizeof e) {
            if (n_ev == cap) {
                cap *= 2;
                evs = realloc(evs, cap * sizeof *evs);
            }
            evs[n_ev++] = e;
        }
        close(pfd[0]);
        inflight[round] = -1;
        if (n_ev && evs[n_ev - 1].round == (uint32_t)round && evs[n_ev - 1].kind == 0 &&
            evs[n_ev - 1].batch % 4 == 3)
            inflight[round] = (int64_t)evs[n_ev - 1].batch - 2;
        int wst;
        waitpid(pid, &wst, 0);
        AKT_TRUE(WIFSIGNALED(wst));   /* it did not fail on its own */

        /* Verify every acknowledged batch and delete so far. */
        akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
        o.log = quiet;
        o.no_snapshot_on_close = (round % 2) == 0;
        akidb_store *s;
        AKT_OK(akidb_store_open(dir, &o, &s));
        size_t n_acked = 0;
        for (size_t k = 0; k < n_ev; k++) {
            if (evs[k].kind != 0)
                continue;
            uint32_t r = evs[k].round, b = evs[k].batch;
            bool deleted = false;
            for (size_t j = k + 1; j < n_ev && !deleted; j++)
                deleted = evs[j].kind == 1 && evs[j].round == r && evs[j].batch == b;
            char ids[BATCH][48];
            const char *idp[BATCH];
            for (int i = 0; i < BATCH; i++) {
                point_id(ids[i], r, b, i);
                idp[i] = ids[i];
            }
            akidb_points got;
            AKT_OK(akidb_points_get(s, "t", "c", idp, BATCH,
                                    AKIDB_WITH_VECTOR | AKIDB_WITH_TEXT | AKIDB_WITH_PAYLOAD, &got));
            size_t want = deleted ? BATCH - 5 : BATCH;
            if (!deleted && inflight[r] == (int64_t)b && got.n == BATCH - 5)
                want = BATCH - 5;   /* unacknowledged delete that made it */
            AKT_EQ_INT(got.n, want);
            for (size_t i = 0; i < got.n; i++) {
                int pi = atoi(strrchr(got.items[i].id, '-') + 1);
                float v[DIM];
                point_vec(r, b, pi, v);
                AKT_TRUE(memcmp(v, got.items[i].vector, sizeof v) == 0);
                AKT_EQ_STR(got.items[i].text, got.items[i].id);
                char pl[64];
                snprintf(pl, 64, "{\"r\":%u,\"b\":%u,\"i\":%d}", r, b, pi);
                AKT_EQ_STR(got.items[i].payload, pl);
            }
            n_acked += got.n;
            akidb_points_free(&got);
        }
        uint64_t cnt;
        AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
        /* at most one unacknowledged batch per kill may have made it */
        if (!(cnt >= n_acked && cnt <= n_acked + (size_t)BATCH * (size_t)(round + 1)))
            fprintf(stderr, "  round %d: count %llu, acknowledged %zu\n", round, (unsigned long long)cnt, n_acked);
        AKT_TRUE(cnt >= n_acked && cnt <= n_acked + (size_t)BATCH * (size_t)(round + 1));
        total_acked = n_acked;
        AKT_OK(akidb_store_close(s));
    }
    fprintf(stderr, "  %d kill -9 rounds, %zu events, %zu acknowledged points all intact\n",
            rounds, n_ev, total_acked);
    free(evs);
    free(inflight);
    tsu_rmrf(dir);
    free(dir);
}

AKT_MAIN(AKT_REG(kill9_rounds))
