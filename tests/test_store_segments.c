/*
 * test_store_segments.c - sealed segments of a collection (src/store/
 * segment.c): a store whose tails are sealed into several segments must
 * answer get, count, scroll and exact search exactly as a store that never
 * seals, before and after a reopen, with points replaced and deleted in
 * sealed segments; HNSW recall over several segments stays within 0.005 of
 * one index at the same ef; compaction drops deleted points and removes the
 * files no snapshot names; a damaged segment file fails the open naming
 * it; kill points while sealing (injected I/O failures) lose nothing
 * acknowledged; a write during a sealing the snapshot thread is held in
 * returns promptly.
 */
#include "akt.h"
#include "test_store_util.h"

#include "common/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* the segment hook of the store's snapshot thread (store_int.h) */
extern void (*ak_store_segment_hook)(akidb_store *s, const char *stage);

#define DIM 16

static void point_vec(uint32_t i, uint32_t gen, float *v)
{
    tsu_rng r = { i * 7919u + gen * 104729u + 1 };
    tsu_vec(&r, v, DIM);
}

/* Upserts ids [from, to) of generation gen in batches of batch. */
static void put_range(akidb_store *s, uint32_t from, uint32_t to, uint32_t gen, uint32_t batch)
{
    float *v = malloc((size_t)batch * DIM * sizeof *v);
    akidb_point_in *in = calloc(batch, sizeof *in);
    char(*ids)[16] = malloc((size_t)batch * 16);
    char(*pl)[64] = malloc((size_t)batch * 64);
    char(*tx)[32] = malloc((size_t)batch * 32);
    for (uint32_t a = from; a < to; a += batch) {
        uint32_t n = to - a < batch ? to - a : batch;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = a + k;
            snprintf(ids[k], 16, "%u", i);
            snprintf(pl[k], 64, "{\"g\":%u,\"gen\":%u}", i % 7, gen);
            snprintf(tx[k], 32, "text %u/%u", i, gen);
            point_vec(i, gen, v + (size_t)k * DIM);
            in[k] = (akidb_point_in){ ids[k], v + (size_t)k * DIM, tx[k], pl[k] };
        }
        AKT_OK(akidb_points_upsert(s, "t", "c", in, NULL, n));
    }
    free(v);
    free(in);
    free(ids);
    free(pl);
    free(tx);
}

static akidb_store *open_store(const char *dir, uint64_t seal, size_t max_segs)
{
    akidb_store_opts o = tsu_fast_opts();
    o.seal_points = seal;
    o.compact_max_segments = max_segs;
    o.compact_tomb_share = 0.99;
    o.snapshot_wal_bytes = UINT64_MAX;
    o.log = tsu_quiet_log;
    akidb_store *s;
    AKT_OK(akidb_store_open(dir, &o, &s));
    return s;
}

static void make_coll(akidb_store *s, akidb_metric m)
{
    AKT_OK(akidb_tenant_create(s, "t"));
    akidb_collection_opts co = {.dim = DIM, .metric = m, .hnsw_m = 16, .hnsw_ef_construction = 100};
    AKT_OK(akidb_collection_create(s, "t", "c", &co));
}

/* The same writes on both: ids 0..1199 in batches of 100 (a snapshot, and
 * thus a sealing of b, after each), then replacements and deletions that
 * fall in sealed segments and in the tail. */
static void same_writes(akidb_store *a, akidb_store *b)
{
    akidb_store *st[2] = { a, b };
    for (int k = 0; k < 2; k++) {
        for (uint32_t x = 0; x < 1200; x += 100) {
            put_range(st[k], x, x + 100, 0, 100);
            AKT_OK(akidb_store_snapshot(st[k]));
        }
        put_range(st[k], 50, 90, 1, 40);   /* first segment */
        put_range(st[k], 610, 650, 1, 40); /* a middle one */
        const char *del[] = { "3", "4", "400", "401", "1199", "nope", "612" };
        size_t nd = 0;
        AKT_OK(akidb_points_delete(st[k], "t", "c", del, 7, &nd));
        AKT_EQ_INT(nd, 6);
        put_range(st[k], 1200, 1250, 0, 50); /* the tail */
    }
}

static void same_points(const akidb_points *x, const akidb_points *y, bool scores)
{
    AKT_EQ_INT(x->n, y->n);
    for (size_t i = 0; i < x->n; i++) {
        AKT_EQ_STR(x->items[i].id, y->items[i].id);
        if (scores)
            AKT_NEAR(x->items[i].score, y->items[i].score, 1e-5);
        if (x->items[i].payload || y->items[i].payload)
            AKT_EQ_STR(x->items[i].payload, y->items[i].payload);
        if (x->items[i].text || y->items[i].text)
            AKT_EQ_STR(x->items[i].text, y->items[i].text);
        if (x->items[i].vector) {
            AKT_TRUE(y->items[i].vector != NULL);
            AKT_LE(akt_max_abs_diff(x->items[i].vector, y->items[i].vector, DIM), 1e-6);
        }
    }
}

/* get, count, scroll and exact search give the same answers on a and b. */
static void compare_stores(akidb_store *a, akidb_store *b)
{
    const char *flt[] = { NULL, "{\"g\":3}", "{\"gen\":1}",
                          "{\"$id\":{\"in\":[\"5\",\"50\",\"3\"]}}" };
    for (size_t fi = 0; fi < 4; fi++) {
        uint64_t ca, cb;
        AKT_OK(akidb_points_count(a, "t", "c", flt[fi], &ca));
        AKT_OK(akidb_points_count(b, "t", "c", flt[fi], &cb));
        AKT_EQ_INT(ca, cb);
        AKT_TRUE(ca > 0);
        /* the whole scroll, page by page */
        char *ka = NULL, *kb = NULL;
        size_t seen = 0;
        do {
            akidb_points pa, pb;
            AKT_OK(akidb_points_scroll(a, "t", "c", ka, 37, flt[fi], AKIDB_WITH_PAYLOAD, &pa));
            AKT_OK(akidb_points_scroll(b, "t", "c", kb, 37, flt[fi], AKIDB_WITH_PAYLOAD, &pb));
            same_points(&pa, &pb, false);
            seen += pa.n;
            free(ka);
            free(kb);
            ka = pa.next_cursor ? strdup(pa.next_cursor) : NULL;
            kb = pb.next_cursor ? strdup(pb.next_cursor) : NULL;
            AKT_TRUE((ka == NULL) == (kb == NULL));
            akidb_points_free(&pa);
            akidb_points_free(&pb);
        } while (ka);
        AKT_EQ_INT(seen, ca);
        for (uint32_t q = 0; q < 10; q++) {
            float v[DIM];
            point_vec(5000 + q, 9, v);
            akidb_search_req r = {.vector = v,
                                  .dim = DIM,
                                  .top_k = 10,
                                  .filter_json = flt[fi],
                                  .exact = true,
                                  .with = AKIDB_WITH_PAYLOAD};
            akidb_points ha, hb;
            AKT_OK(akidb_search(a, "t", "c", &r, &ha));
            AKT_OK(akidb_search(b, "t", "c", &r, &hb));
            same_points(&ha, &hb, true);
            akidb_points_free(&ha);
            akidb_points_free(&hb);
        }
    }
    const char *ids[] = { "0", "3", "50", "89", "90", "400", "612", "613", "1199", "1249", "x" };
    akidb_points ga, gb;
    unsigned all = AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT | AKIDB_WITH_VECTOR;
    AKT_OK(akidb_points_get(a, "t", "c", ids, 11, all, &ga));
    AKT_OK(akidb_points_get(b, "t", "c", ids, 11, all, &gb));
    AKT_EQ_INT(ga.n, 6);
    same_points(&ga, &gb, false);
    akidb_points_free(&ga);
    akidb_points_free(&gb);
    akidb_collection_info ia, ib;
    AKT_OK(akidb_collection_get_info(a, "t", "c", &ia));
    AKT_OK(akidb_collection_get_info(b, "t", "c", &ib));
    AKT_EQ_INT(ia.n_points, ib.n_points);
    AKT_EQ_INT(ia.n_points, 1250 - 6);
}

static size_t count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

AKT_TEST(same_answers_as_one_table)
{
    for (int m = 0; m < 3; m++) {
        char *da = tsu_tmpdir("segA"), *db = tsu_tmpdir("segB");
        akidb_store *a = open_store(da, UINT64_MAX, 100), *b = open_store(db, 200, 100);
        make_coll(a, (akidb_metric)m);
        make_coll(b, (akidb_metric)m);
        same_writes(a, b);
        akidb_store_stats sa, sb;
        akidb_store_get_stats(a, &sa);
        akidb_store_get_stats(b, &sb);
        AKT_EQ_INT(sa.segments, 0);
        AKT_GE(sb.segments, 4);
        AKT_EQ_INT(count_files(db, "seg-"), sb.segments);
        compare_stores(a, b);
        /* reopened: the snapshot's segments and tail, and the WAL after it */
        AKT_OK(akidb_store_close(b));
        b = open_store(db, 200, 100);
        compare_stores(a, b);
        /* without a closing snapshot: the WAL replayed over segments */
        put_range(a, 100, 140, 2, 40);
        put_range(b, 100, 140, 2, 40);
        akidb_store_opts o = tsu_fast_opts();
        (void)o;
        AKT_OK(akidb_store_close(a));
        a = open_store(da, UINT64_MAX, 100);
        compare_stores(a, b);
        AKT_OK(akidb_store_close(a));
        AKT_OK(akidb_store_close(b));
        tsu_rmrf(da);
        tsu_rmrf(db);
        free(da);
        free(db);
    }
}

/* Compaction: more segments than the maximum are merged, deleted points
 * dropped, and the files of merged segments go once a snapshot no longer
 * names them. */
AKT_TEST(compaction_merges_and_drops)
{
    char *da = tsu_tmpdir("segA"), *db = tsu_tmpdir("segB");
    akidb_store *a = open_store(da, UINT64_MAX, 100), *b = open_store(db, 200, 3);
    make_coll(a, AKIDB_METRIC_L2);
    make_coll(b, AKIDB_METRIC_L2);
    same_writes(a, b);
    AKT_OK(akidb_store_snapshot(b));
    akidb_store_stats sb;
    akidb_store_get_stats(b, &sb);
    AKT_LE_INT(sb.segments, 3);
    AKT_GE(sb.segments_compacted, 1);
    AKT_EQ_INT(count_files(db, "seg-"), sb.segments);
    compare_stores(a, b);
    /* a segment mostly deleted is rewritten without its dead points */
    akidb_store_opts o = tsu_fast_opts();
    (void)o;
    char ids[300][16];
    const char *pid[300];
    for (int i = 0; i < 300; i++) {
        snprintf(ids[i], 16, "%d", 700 + i);
        pid[i] = ids[i];
    }
    size_t nd;
    AKT_OK(akidb_points_delete(a, "t", "c", pid, 300, &nd));
    AKT_OK(akidb_points_delete(b, "t", "c", pid, 300, &nd));
    AKT_OK(akidb_store_close(b));
    akidb_store_opts ob = tsu_fast_opts();
    ob.seal_points = 200;
    ob.compact_max_segments = 3;
    ob.compact_tomb_share = 0.2;
    ob.snapshot_wal_bytes = UINT64_MAX;
    ob.log = tsu_quiet_log;
    AKT_OK(akidb_store_open(db, &ob, &b));
    uint64_t before = sb.segments_compacted;
    (void)before;
    AKT_OK(akidb_store_snapshot(b));
    akidb_store_get_stats(b, &sb);
    AKT_GE(sb.segments_compacted, 1);
    AKT_EQ_INT(count_files(db, "seg-"), sb.segments);
    uint64_t ca, cb;
    AKT_OK(akidb_points_count(a, "t", "c", NULL, &ca));
    AKT_OK(akidb_points_count(b, "t", "c", NULL, &cb));
    AKT_EQ_INT(ca, cb);
    AKT_OK(akidb_store_close(a));
    AKT_OK(akidb_store_close(b));
    tsu_rmrf(da);
    tsu_rmrf(db);
    free(da);
    free(db);
}

/* ---- recall of HNSW over several segments
 * ------------------------------------------ */

#define RDIM 32

/* Clustered data: 64 centres, points around them. */
static float *clustered(size_t n, uint64_t seed)
{
    float *c = malloc(64 * RDIM * sizeof *c), *v = malloc(n * RDIM * sizeof *v);
    tsu_rng r = { 12345 };
    for (size_t i = 0; i < 64 * RDIM; i++)
        c[i] = 4.0f * tsu_gauss(&r);
    r.s = seed;
    for (size_t i = 0; i < n; i++) {
        const float *ce = c + (size_t)tsu_below(&r, 64) * RDIM;
        for (size_t d = 0; d < RDIM; d++)
            v[i * RDIM + d] = ce[d] + tsu_gauss(&r);
    }
    free(c);
    return v;
}

/* The first n vectors of an .fvecs file of dimension RDIM.. (AKIDB_SEG_FVECS,
 * e.g. bench/ann's fmnist-base.fvecs), or NULL. */
static float *fvecs(const char *path, size_t n, uint32_t *dim)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return NULL;
    int32_t d = 0;
    float *v = NULL;
    if (fread(&d, 4, 1, f) == 1 && d > 0 && d <= 4096) {
        v = malloc(n * (size_t)d * sizeof *v);
        rewind(f);
        for (size_t i = 0; i < n; i++) {
            int32_t dd;
            if (fread(&dd, 4, 1, f) != 1 || dd != d ||
                fread(v + i * (size_t)d, 4, (size_t)d, f) != (size_t)d) {
                free(v);
                v = NULL;
                break;
            }
        }
    }
    fclose(f);
    *dim = (uint32_t)d;
    return v;
}

static void load_vectors(akidb_store *s, const float *v, size_t n, uint32_t dim, size_t batch,
                         bool snap)
{
    akidb_point_in *in = calloc(batch, sizeof *in);
    char(*ids)[16] = malloc(batch * 16);
    for (size_t a = 0; a < n; a += batch) {
        size_t m = n - a < batch ? n - a : batch;
        for (size_t k = 0; k < m; k++) {
            snprintf(ids[k], 16, "%zu", a + k);
            in[k] = (akidb_point_in){ ids[k], v + (a + k) * dim, NULL, NULL };
        }
        AKT_OK(akidb_points_upsert(s, "t", "c", in, NULL, m));
        if (snap)
            AKT_OK(akidb_store_snapshot(s));
    }
    free(in);
    free(ids);
}

static double recall_at(akidb_store *s, const float *q, size_t nq, uint32_t dim, size_t ef,
                        akidb_points *truth)
{
    size_t hit = 0;
    for (size_t i = 0; i < nq; i++) {
        akidb_search_req r = {.vector = q + i * dim, .dim = dim, .top_k = 10, .ef = ef};
        akidb_points h;
        AKT_OK(akidb_search(s, "t", "c", &r, &h));
        for (size_t a = 0; a < h.n; a++)
            for (size_t b = 0; b < truth[i].n; b++)
                hit += strcmp(h.items[a].id, truth[i].items[b].id) == 0;
        akidb_points_free(&h);
    }
    return (double)hit / (double)(nq * 10);
}

AKT_TEST(hnsw_recall_over_segments)
{
    size_t n = tsu_quick() ? 4000 : 12000, nq = 200;
    uint32_t dim = RDIM;
    float *v = fvecs(getenv("AKIDB_SEG_FVECS"), n + nq, &dim);
    akidb_metric metric = v ? AKIDB_METRIC_L2 : AKIDB_METRIC_COSINE;
    if (!v)
        v = clustered(n + nq, 777);
    const float *q = v + n * dim;
    char *da = tsu_tmpdir("segA"), *db = tsu_tmpdir("segB");
    akidb_store *st[2];
    for (int k = 0; k < 2; k++) {
        akidb_store_opts o = tsu_fast_opts();
        o.seal_points = k ? n / 5 : UINT64_MAX;
        o.compact_max_segments = 100;
        o.exact_threshold = 16; /* every part answered by its graph */
        o.snapshot_wal_bytes = UINT64_MAX;
        o.log = tsu_quiet_log;
        AKT_OK(akidb_store_open(k ? db : da, &o, &st[k]));
        AKT_OK(akidb_tenant_create(st[k], "t"));
        akidb_collection_opts co = {
            .dim = dim, .metric = metric, .hnsw_m = 16, .hnsw_ef_construction = 100};
        AKT_OK(akidb_collection_create(st[k], "t", "c", &co));
        load_vectors(st[k], v, n, dim, n / 10, k == 1);
    }
    akidb_store_stats sb;
    akidb_store_get_stats(st[1], &sb);
    AKT_GE(sb.segments, 4);
    akidb_points *truth = calloc(nq, sizeof *truth);
    for (size_t i = 0; i < nq; i++) {
        akidb_search_req r = {.vector = q + i * dim, .dim = dim, .top_k = 10, .exact = true};
        AKT_OK(akidb_search(st[0], "t", "c", &r, &truth[i]));
    }
    size_t efs[] = { 10, 20, 64 };
    for (size_t e = 0; e < 3; e++) {
        double r1 = recall_at(st[0], q, nq, dim, efs[e], truth);
        double rs = recall_at(st[1], q, nq, dim, efs[e], truth);
        fprintf(stderr, "  ef %zu: recall@10 one index %.4f, %llu segments %.4f\n", efs[e], r1,
                (unsigned long long)sb.segments + 1, rs);
        AKT_GE(rs, r1 - 0.005);
    }
    /* merged by compaction (the graph rebuilt on several threads): the
     * same recall */
    AKT_OK(akidb_store_close(st[1]));
    akidb_store_opts o = tsu_fast_opts();
    o.seal_points = n / 5;
    o.compact_max_segments = 2;
    o.exact_threshold = 16;
    o.snapshot_wal_bytes = UINT64_MAX;
    o.log = tsu_quiet_log;
    AKT_OK(akidb_store_open(db, &o, &st[1]));
    AKT_OK(akidb_store_snapshot(st[1]));
    akidb_store_get_stats(st[1], &sb);
    AKT_LE_INT(sb.segments, 2);
    AKT_GE(sb.segments_compacted, 1);
    for (size_t e = 0; e < 3; e++) {
        double r1 = recall_at(st[0], q, nq, dim, efs[e], truth);
        double rs = recall_at(st[1], q, nq, dim, efs[e], truth);
        fprintf(stderr, "  ef %zu: recall@10 one index %.4f, compacted to %llu segments %.4f\n",
                efs[e], r1, (unsigned long long)sb.segments, rs);
        AKT_GE(rs, r1 - 0.005);
    }
    for (size_t i = 0; i < nq; i++)
        akidb_points_free(&truth[i]);
    free(truth);
    AKT_OK(akidb_store_close(st[0]));
    AKT_OK(akidb_store_close(st[1]));
    tsu_rmrf(da);
    tsu_rmrf(db);
    free(da);
    free(db);
    free(v);
}

/* ---- damage and crashes
 * ------------------------------------------------------------- */

static char *first_seg_file(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *p = NULL;
    while (d && (e = readdir(d)))
        if (!p && strncmp(e->d_name, "seg-", 4) == 0) {
            p = malloc(strlen(dir) + strlen(e->d_name) + 2);
            sprintf(p, "%s/%s", dir, e->d_name);
        }
    if (d)
        closedir(d);
    return p;
}

AKT_TEST(damaged_segment_is_corrupt)
{
    for (int how = 0; how < 3; how++) {
        char *d = tsu_tmpdir("segD");
        akidb_store *s = open_store(d, 100, 100);
        make_coll(s, AKIDB_METRIC_COSINE);
        for (uint32_t x = 0; x < 300; x += 100) {
            put_range(s, x, x + 100, 0, 100);
            AKT_OK(akidb_store_snapshot(s));
        }
        AKT_OK(akidb_store_close(s));
        char *p = first_seg_file(d);
        AKT_TRUE(p != NULL);
        struct stat sb;
        AKT_EQ_INT(stat(p, &sb), 0);
        if (how == 2) {
            AKT_EQ_INT(unlink(p), 0);
        } else {
            int fd = open(p, O_RDWR);
            off_t at = how == 0 ? sb.st_size / 2 : 20; /* a point or the header */
            unsigned char ch;
            AKT_EQ_INT(pread(fd, &ch, 1, at), 1);
            ch ^= 0x5a;
            AKT_EQ_INT(pwrite(fd, &ch, 1, at), 1);
            close(fd);
        }
        akidb_store_opts o = tsu_fast_opts();
        o.log = tsu_quiet_log;
        AKT_STATUS(akidb_store_open(d, &o, &s), AKIDB_ECORRUPT);
        AKT_CONTAINS(akidb_last_error(), strrchr(p, '/') + 1);
        free(p);
        tsu_rmrf(d);
        free(d);
    }
}

/* put_range without assertions, for a forked child: the status. */
static akidb_status child_put(akidb_store *s, uint32_t from, uint32_t to, uint32_t gen)
{
    static float v[256 * DIM];
    static akidb_point_in in[256];
    static char ids[256][16], pl[256][64];
    uint32_t n = to - from;
    for (uint32_t k = 0; k < n && k < 256; k++) {
        snprintf(ids[k], 16, "%u", from + k);
        snprintf(pl[k], 64, "{\"g\":%u,\"gen\":%u}", (from + k) % 7, gen);
        point_vec(from + k, gen, v + (size_t)k * DIM);
        in[k] = (akidb_point_in){ ids[k], v + (size_t)k * DIM, NULL, pl[k] };
    }
    return akidb_points_upsert(s, "t", "c", in, NULL, n);
}

static const char *kill_stage;

static void kill_hook(akidb_store *s, const char *stage)
{
    (void)s;
    if (kill_stage && strcmp(stage, kill_stage) == 0)
        _exit(0);
}

/* A child writes batches (each acknowledged batch reported on a pipe) with
 * sealing by the snapshot thread, and dies at a kill point: inside the
 * sealing (hook), or at the n-th file operation of a snapshot (injected
 * failure, then exit without closing).  Every acknowledged point must be
 * there after reopening. */
static void crash_case(const char *stage, long fail_at)
{
    char *d = tsu_tmpdir("segK");
    int pfd[2];
    AKT_EQ_INT(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
        o.seal_points = 150;
        o.snapshot_wal_bytes = UINT64_MAX;
        o.log = tsu_quiet_log;
        akidb_store *s;
        if (akidb_store_open(d, &o, &s) != AKIDB_OK)
            _exit(3);
        akidb_tenant_create(s, "t");
        akidb_collection_opts co = {
            .dim = DIM, .metric = AKIDB_METRIC_COSINE, .hnsw_m = 16, .hnsw_ef_construction = 100};
        akidb_collection_create(s, "t", "c", &co);
        kill_stage = stage;
        ak_store_segment_hook = kill_hook;
        for (uint32_t b = 0; b < 40; b++) {
            if (fail_at >= 0 && b == 10) /* the disk fails from the n-th call on */
                ak_io_fail_after(fail_at, EIO);
            /* batch 10 fills the tail past the seal size at once */
            uint32_t from = b * 50, to = b == 10 ? from + 200 : from + 50;
            if (b > 10)
                from += 150, to += 150;
            if (child_put(s, from, to, 0) != AKIDB_OK)
                _exit(0); /* the disk failed: not acknowledged, killed */
            if (b % 4 == 3 && child_put(s, from - 150, from - 140, 1) != AKIDB_OK)
                _exit(0); /* some replaced in sealed segments */
            if (write(pfd[1], &to, 4) != 4)
                _exit(4);
            if (fail_at >= 0 && b == 10) {
                akidb_store_snapshot(s); /* seals (or the thread does) */
                _exit(0);                /* killed in the middle */
            }
            usleep(2000);
        }
        _exit(0);
    }
    close(pfd[1]);
    uint32_t b, acked = 0;
    bool any = false;
    while (read(pfd[0], &b, 4) == 4) {
        acked = b; /* ids below it are acknowledged */
        any = true;
    }
    close(pfd[0]);
    int ws;
    waitpid(pid, &ws, 0);
    AKT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    AKT_TRUE(any);
    akidb_store_opts o = tsu_fast_opts();
    o.log = tsu_quiet_log;
    akidb_store *s;
    AKT_OK(akidb_store_open(d, &o, &s));
    for (uint32_t x = 0; x < acked; x += 7) {
        char id[16];
        snprintf(id, sizeof id, "%u", x);
        const char *ids[] = { id };
        akidb_points g;
        AKT_OK(akidb_points_get(s, "t", "c", ids, 1, AKIDB_WITH_PAYLOAD, &g));
        AKT_EQ_INT(g.n, 1);
        akidb_points_free(&g);
    }
    uint64_t cnt;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    AKT_GE(cnt, acked);
    AKT_OK(akidb_store_close(s));
    /* the store opens again after its own closing snapshot */
    AKT_OK(akidb_store_open(d, &o, &s));
    uint64_t cnt2;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt2));
    AKT_EQ_INT(cnt, cnt2);
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(d);
    free(d);
}

AKT_TEST(kill_during_sealing_loses_nothing)
{
    crash_case("sealed", -1);
    crash_case("segment-written", -1);
    for (long n = 0; n < 24; n++)
        crash_case(NULL, n);
}

/* ---- writes never wait for a sealing
 * ------------------------------------------------ */

static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static int held, release_it;

static void hold_hook(akidb_store *s, const char *stage)
{
    (void)s;
    if (strcmp(stage, "sealed") != 0)
        return;
    pthread_mutex_lock(&hold_mu);
    held = 1;
    pthread_cond_broadcast(&hold_cv);
    while (!release_it)
        pthread_cond_wait(&hold_cv, &hold_mu);
    pthread_mutex_unlock(&hold_mu);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

AKT_TEST(writes_do_not_wait_for_sealing)
{
    char *d = tsu_tmpdir("segW");
    akidb_store *s = open_store(d, 100, 100);
    make_coll(s, AKIDB_METRIC_COSINE);
    ak_store_segment_hook = hold_hook;
    put_range(s, 0, 100, 0, 100); /* the tail is full: the thread seals */
    pthread_mutex_lock(&hold_mu);
    double t0 = now_s();
    while (!held && now_s() - t0 < 20) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&hold_cv, &hold_mu, &ts);
    }
    pthread_mutex_unlock(&hold_mu);
    AKT_TRUE(held);
    /* the snapshot thread is held inside the sealing */
    double w0 = now_s();
    put_range(s, 100, 150, 0, 50);
    const char *del[] = { "5", "120" };
    AKT_OK(akidb_points_delete(s, "t", "c", del, 2, NULL));
    double took = now_s() - w0;
    fprintf(stderr, "  writes during a held sealing took %.3f ms\n", took * 1e3);
    AKT_LE(took, 2.0);
    uint64_t cnt;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    AKT_EQ_INT(cnt, 148);
    akidb_store_stats st;
    akidb_store_get_stats(s, &st);
    AKT_EQ_INT(st.segments, 1);
    AKT_TRUE(st.snapshot_running);
    pthread_mutex_lock(&hold_mu);
    release_it = 1;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mu);
    AKT_OK(akidb_store_close(s));
    ak_store_segment_hook = NULL;
    s = open_store(d, 100, 100);
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    AKT_EQ_INT(cnt, 148);
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(d);
    free(d);
}

static void hold_compact_hook(akidb_store *s, const char *stage)
{
    if (strcmp(stage, "compacting") == 0)
        hold_hook(s, "sealed");
}

static void wait_stat(akidb_store *s, uint64_t segs, uint64_t compacted)
{
    double t0 = now_s();
    akidb_store_stats st;
    do {
        usleep(2000);
        akidb_store_get_stats(s, &st);
    } while ((st.segments != segs || st.segments_compacted < compacted || st.snapshot_running) &&
             now_s() - t0 < 30);
    AKT_EQ_INT(st.segments, segs);
    AKT_GE(st.segments_compacted, compacted);
}

static void check_after_compaction(akidb_store *s)
{
    const char *ids[] = { "5", "150", "250" };
    akidb_points g;
    AKT_OK(akidb_points_get(s, "t", "c", ids, 3, AKIDB_WITH_PAYLOAD, &g));
    AKT_EQ_INT(g.n, 2);
    AKT_EQ_STR(g.items[0].id, "150");
    AKT_CONTAINS(g.items[0].payload, "\"gen\":1");
    akidb_points_free(&g);
    uint64_t cnt;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    AKT_EQ_INT(cnt, 299);
}

/* A compaction held after choosing its sources: writes replacing and
 * deleting points of those sources return at once, and the merged segment
 * carries their tombstones. */
AKT_TEST(writes_do_not_wait_for_compaction)
{
    char *d = tsu_tmpdir("segC");
    held = release_it = 0;
    akidb_store *s = open_store(d, 100, 2);
    make_coll(s, AKIDB_METRIC_COSINE);
    ak_store_segment_hook = hold_compact_hook;
    put_range(s, 0, 100, 0, 100);
    wait_stat(s, 1, 0);
    put_range(s, 100, 200, 0, 100);
    wait_stat(s, 2, 0);
    put_range(s, 200, 300, 0, 100); /* a third segment: two are merged */
    pthread_mutex_lock(&hold_mu);
    double t0 = now_s();
    while (!held && now_s() - t0 < 20) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&hold_cv, &hold_mu, &ts);
    }
    pthread_mutex_unlock(&hold_mu);
    AKT_TRUE(held);
    double w0 = now_s();
    const char *del[] = { "5" };
    AKT_OK(akidb_points_delete(s, "t", "c", del, 1, NULL));
    put_range(s, 150, 151, 1, 1);
    double took = now_s() - w0;
    fprintf(stderr, "  writes during a held compaction took %.3f ms\n", took * 1e3);
    AKT_LE(took, 2.0);
    pthread_mutex_lock(&hold_mu);
    release_it = 1;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mu);
    wait_stat(s, 2, 1);
    check_after_compaction(s);
    AKT_OK(akidb_store_close(s));
    ak_store_segment_hook = NULL;
    s = open_store(d, 100, 2);
    check_after_compaction(s);
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(d);
    free(d);
}

/* A segment whose points are all deleted is dropped by the compaction,
 * and its file with it. */
AKT_TEST(fully_deleted_segment_dropped)
{
    char *d = tsu_tmpdir("segE");
    akidb_store *s = open_store(d, 100, 100);
    make_coll(s, AKIDB_METRIC_DOT);
    put_range(s, 0, 100, 0, 100);
    AKT_OK(akidb_store_snapshot(s));
    put_range(s, 100, 200, 0, 100);
    AKT_OK(akidb_store_snapshot(s));
    akidb_store_stats st;
    akidb_store_get_stats(s, &st);
    AKT_EQ_INT(st.segments, 2);
    AKT_EQ_INT(count_files(d, "seg-"), 2);
    char ids[100][8];
    const char *pid[100];
    for (int i = 0; i < 100; i++) {
        snprintf(ids[i], sizeof ids[i], "%d", i);
        pid[i] = ids[i];
    }
    size_t nd;
    AKT_OK(akidb_points_delete(s, "t", "c", pid, 100, &nd));
    AKT_EQ_INT(nd, 100);
    AKT_OK(akidb_store_snapshot(s));
    akidb_store_get_stats(s, &st);
    AKT_EQ_INT(st.segments, 1);
    AKT_EQ_INT(count_files(d, "seg-"), 1);
    uint64_t cnt;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    AKT_EQ_INT(cnt, 100);
    AKT_OK(akidb_store_close(s));
    s = open_store(d, 100, 100);
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
    AKT_EQ_INT(cnt, 100);
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(d);
    free(d);
}

/* seal_bytes alone (seal_points far off) seals a tail once it holds that
 * many ingested bytes (~93 per point here: 16 KiB is about 180 points);
 * with the default (256 MiB) the same writes seal nothing. */
AKT_TEST(seal_bytes_option)
{
    for (int k = 0; k < 2; k++) {
        char *d = tsu_tmpdir("segB");
        akidb_store_opts o = tsu_fast_opts();
        o.seal_points = 1u << 30;
        o.seal_bytes = k ? 16u << 10 : 0;
        o.snapshot_wal_bytes = UINT64_MAX;
        o.log = tsu_quiet_log;
        akidb_store *s;
        AKT_OK(akidb_store_open(d, &o, &s));
        make_coll(s, AKIDB_METRIC_L2);
        for (uint32_t x = 0; x < 1000; x += 100) {
            put_range(s, x, x + 100, 0, 100);
            AKT_OK(akidb_store_snapshot(s));
        }
        akidb_store_stats st;
        akidb_store_get_stats(s, &st);
        fprintf(stderr, "  seal_bytes %llu: %llu tails sealed, %llu segments\n",
                (unsigned long long)o.seal_bytes, (unsigned long long)st.segments_sealed,
                (unsigned long long)st.segments);
        if (k) {
            AKT_GE(st.segments_sealed, 3);
            AKT_GE(count_files(d, "seg-"), 1);
        } else {
            AKT_EQ_INT(st.segments_sealed, 0);
            AKT_EQ_INT(count_files(d, "seg-"), 0);
        }
        uint64_t cnt;
        AKT_OK(akidb_points_count(s, "t", "c", NULL, &cnt));
        AKT_EQ_INT(cnt, 1000);
        AKT_OK(akidb_store_close(s));
        tsu_rmrf(d);
        free(d);
    }
}

AKT_MAIN(AKT_REG(same_answers_as_one_table), AKT_REG(compaction_merges_and_drops),
         AKT_REG(hnsw_recall_over_segments), AKT_REG(damaged_segment_is_corrupt),
         AKT_REG(kill_during_sealing_loses_nothing), AKT_REG(writes_do_not_wait_for_sealing),
         AKT_REG(writes_do_not_wait_for_compaction), AKT_REG(fully_deleted_segment_dropped),
         AKT_REG(seal_bytes_option))
