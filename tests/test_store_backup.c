/*
 * test_store_backup.c - the store's object-storage tier (src/store/backup.c)
 * against s3rver on loopback (tests/ref/s3rver_run.mjs): snapshots and the
 * manifest in the bucket, a store restored on an empty folder with every
 * point and the same search results, WAL tails shipped between snapshots,
 * damaged objects refused by key, a bucket that is down and comes back, a
 * folder with data never overwritten, and restores under injected
 * allocation and file-system failures.  Exits 77 (skipped) without node or
 * s3rver.
 */
#include "akt.h"
#include "test_store_util.h"
#include "s3rver.h"

#include "common/common.h"
#include "common/fileio.h"
#include "objstore/objstore.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define SKIP_CODE 77
#define BUCKET "akidb-test"
#define DIM 8

/* ---- s3rver (tests/s3rver.h) ---------------------------------------------------- */

static akt_s3rver s3 = { -1, 0, -1, "" };
static int srv_port;

/* ---- a loopback TCP forwarder: the bucket "down" (nothing listens on its
 * port) and "back" (it forwards to s3rver) --------------------------------------- */

static atomic_int fwd_listen = -1;

static void *fwd_pump(void *arg)
{
    int a = (int)(intptr_t)arg;
    int b = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)srv_port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(b, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    struct pollfd p[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };
    char buf[65536];
    for (;;) {
        if (poll(p, 2, 30000) <= 0)
            break;
        int from = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 0 : 1;
        ssize_t k = read(p[from].fd, buf, sizeof buf);
        if (k <= 0)
            break;
        int to = p[1 - from].fd;
        for (ssize_t o = 0; o < k;) {
            ssize_t w = write(to, buf + o, (size_t)(k - o));
            if (w <= 0)
                goto out;
            o += w;
        }
    }
out:
    close(a);
    close(b);
    return NULL;
}

static void *fwd_accept(void *arg)
{
    (void)arg;
    for (;;) {
        int l = atomic_load(&fwd_listen);
        if (l < 0)
            break;
        int c = accept(l, NULL, NULL);
        if (c < 0)
            break;
        pthread_t t;
        pthread_create(&t, NULL, fwd_pump, (void *)(intptr_t)c);
        pthread_detach(t);
    }
    return NULL;
}

/* A loopback port that nothing listens on (yet). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    AKT_TRUE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    AKT_TRUE(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* Starts forwarding port to s3rver. */
static void fwd_start(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    AKT_TRUE(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    AKT_TRUE(listen(fd, 16) == 0);
    atomic_store(&fwd_listen, fd);
    pthread_t t;
    pthread_create(&t, NULL, fwd_accept, NULL);
    pthread_detach(t);
}

/* ---- helpers ------------------------------------------------------------------- */

static char ep_buf[64];

static akidb_backup_opts bk_opts(const char *prefix, int port, int interval_ms)
{
    snprintf(ep_buf, sizeof ep_buf, "http://127.0.0.1:%d", port);
    akidb_backup_opts b = AKIDB_BACKUP_OPTS_INIT;
    b.bucket = BUCKET;
    b.prefix = prefix;
    b.endpoint = ep_buf;
    b.region = "us-east-1";
    b.access_key = "S3RVER";
    b.secret_key = "S3RVER";
    b.tail_interval_ms = interval_ms;
    return b;
}

static char *new_dir(const char *tag)
{
    char p[PATH_MAX];
    static int seq;
    snprintf(p, sizeof p, "%s/%s-%d", akt_tmpdir("akidb_bk_"), tag, seq++);
    return strdup(p);
}

static akidb_status open_with(const char *dir, const akidb_backup_opts *b, akidb_store **out)
{
    akidb_store_opts o = tsu_fast_opts();
    o.snapshot_wal_bytes = UINT64_MAX;
    o.log = tsu_quiet_log;
    o.backup = b;
    return akidb_store_open(dir, &o, out);
}

static ak_s3 *client(void)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", srv_port);
    ak_s3_config c = AK_S3_CONFIG_INIT;
    c.endpoint = ep;
    c.region = "us-east-1";
    c.bucket = BUCKET;
    c.access_key = "S3RVER";
    c.secret_key = "S3RVER";
    ak_s3 *s = NULL;
    AKT_OK(ak_s3_open(&c, &s));
    return s;
}

/* Upserts points id<from..to) into t/c (created when absent). */
static void put_points(akidb_store *s, int from, int to, uint64_t seed)
{
    if (akidb_tenant_create(s, "t") != AKIDB_OK)
        ak_clear_error();
    akidb_collection_opts co = { .dim = DIM, .metric = AKIDB_METRIC_COSINE };
    if (akidb_collection_create(s, "t", "c", &co) != AKIDB_OK)
        ak_clear_error();
    tsu_rng r = { seed };
    for (int i = from; i < to; i++) {
        char id[32], pl[96], tx[32];
        float v[DIM];
        tsu_vec(&r, v, DIM);
        snprintf(id, sizeof id, "p%05d", i);
        snprintf(pl, sizeof pl, "{\"i\": %d, \"tag\": \"%s\", \"s\": %llu}", i,
                 i % 3 ? "odd" : "three", (unsigned long long)seed);
        snprintf(tx, sizeof tx, "text %d", i);
        akidb_point_in p = { id, v, tx, pl };
        AKT_OK(akidb_points_upsert(s, "t", "c", &p, NULL, 1));
    }
}

static uint64_t count(akidb_store *s)
{
    uint64_t n = 0;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &n));
    return n;
}

/* Every point (id, vector, text, payload) and search results are equal. */
static void same_content(akidb_store *a, akidb_store *b)
{
    unsigned w = AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT | AKIDB_WITH_VECTOR;
    akidb_points pa = { 0 }, pb = { 0 };
    AKT_OK(akidb_points_scroll(a, "t", "c", NULL, 10000, NULL, w, &pa));
    AKT_OK(akidb_points_scroll(b, "t", "c", NULL, 10000, NULL, w, &pb));
    AKT_TRUE(pa.n > 0);
    AKT_EQ_INT(pa.n, pb.n);
    for (size_t i = 0; i < pa.n; i++) {
        AKT_EQ_STR(pa.items[i].id, pb.items[i].id);
        AKT_EQ_STR(pa.items[i].text, pb.items[i].text);
        AKT_EQ_STR(pa.items[i].payload, pb.items[i].payload);
        AKT_EQ_INT(pa.items[i].dim, pb.items[i].dim);
        AKT_TRUE(memcmp(pa.items[i].vector, pb.items[i].vector, DIM * sizeof(float)) == 0);
    }
    akidb_points_free(&pa);
    akidb_points_free(&pb);
    tsu_rng r = { 99 };
    for (int q = 0; q < 5; q++) {
        float v[DIM];
        tsu_vec(&r, v, DIM);
        akidb_search_req req = {.vector = v,
                                .dim = DIM,
                                .top_k = 10,
                                .filter_json = q % 2 ? "{\"tag\": \"odd\"}" : NULL,
                                .with = AKIDB_WITH_PAYLOAD};
        AKT_OK(akidb_search(a, "t", "c", &req, &pa));
        AKT_OK(akidb_search(b, "t", "c", &req, &pb));
        AKT_EQ_INT(pa.n, pb.n);
        for (size_t i = 0; i < pa.n; i++) {
            AKT_EQ_STR(pa.items[i].id, pb.items[i].id);
            AKT_TRUE(pa.items[i].score == pb.items[i].score);
        }
        akidb_points_free(&pa);
        akidb_points_free(&pb);
    }
}

/* Waits until the bucket holds the store's snapshot and (want_tail) every
 * WAL record, with the last round successful. */
static void wait_shipped(akidb_store *s, bool want_tail, double timeout_s)
{
    double t0 = ak_now();
    akidb_store_stats st;
    for (;;) {
        akidb_store_get_stats(s, &st);
        bool snap = st.backup_snapshot_lsn == st.snapshot_lsn;
        bool tail = !want_tail || st.backup_shipped_lsn >= st.last_lsn;
        if (st.backup_status == AKIDB_OK && st.backup_manifests > 0 && snap && tail)
            return;
        if (ak_now() - t0 > timeout_s)
            break;
        usleep(20000);
    }
    fprintf(stderr, "  not shipped: snapshot %llu/%llu, records %llu/%llu, status %d '%s'\n",
            (unsigned long long)st.backup_snapshot_lsn, (unsigned long long)st.snapshot_lsn,
            (unsigned long long)st.backup_shipped_lsn, (unsigned long long)st.last_lsn,
            st.backup_status, st.backup_error);
    AKT_TRUE(!"the backup did not catch up");
}

static void sha_hex(const void *p, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned dl = 0;
    AKT_TRUE(EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL) == 1);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static json_t *get_manifest(ak_s3 *c, const char *prefix)
{
    char key[128];
    snprintf(key, sizeof key, "%s/MANIFEST", prefix);
    void *data;
    size_t len;
    AKT_OK(ak_s3_get(c, key, 1 << 20, &data, &len));
    json_error_t e;
    json_t *j = json_loadb(data, len, 0, &e);
    ak_free(data);
    AKT_TRUE(j != NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(j, "format")), 1);
    return j;
}

static bool has_file(const char *dir, const char *prefix)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "ls '%s' 2>/dev/null | grep -q '^%s'", dir, prefix);
    return system(cmd) == 0;
}

/* ---- cases --------------------------------------------------------------------- */

/* A snapshot and its manifest go up; a store on an empty folder comes back
 * with every point; writes after the snapshot are not shipped without
 * tails, and the closing snapshot ships them. */
AKT_TEST(snapshot_restore)
{
    char *da = new_dir("a"), *db = new_dir("b"), *dc = new_dir("c");
    akidb_backup_opts bo = bk_opts("snap", srv_port, 0);
    akidb_store *a, *b;
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 0, 300, 1);
    AKT_OK(akidb_points_delete(a, "t", "c", (const char *const[]){ "p00007", "p00100" }, 2, NULL));
    AKT_OK(akidb_store_snapshot(a));
    wait_shipped(a, false, 20);
    akidb_store_stats st;
    akidb_store_get_stats(a, &st);
    AKT_TRUE(st.backup_enabled);
    AKT_GE(st.backup_uploads, 1);
    /* the bucket: the manifest names the snapshot, whose bytes are the file's */
    ak_s3 *c = client();
    json_t *m = get_manifest(c, "snap");
    json_t *sn = json_object_get(m, "snapshot");
    char key[128], path[PATH_MAX];
    snprintf(key, sizeof key, "snap/snap-%016llx.akdb", (unsigned long long)st.snapshot_lsn);
    AKT_EQ_STR(json_string_value(json_object_get(sn, "key")), key);
    AKT_EQ_INT(json_integer_value(json_object_get(sn, "lsn")), st.snapshot_lsn);
    snprintf(path, sizeof path, "%s/snap-%016llx.akdb", da, (unsigned long long)st.snapshot_lsn);
    char *file = NULL;
    size_t flen = 0;
    AKT_OK(ak_read_file(path, 1u << 30, &file, &flen));
    AKT_EQ_INT(json_integer_value(json_object_get(sn, "size")), flen);
    char sha[65];
    sha_hex(file, flen, sha);
    AKT_EQ_STR(json_string_value(json_object_get(sn, "sha256")), sha);
    void *obj;
    size_t olen;
    AKT_OK(ak_s3_get(c, key, 1u << 30, &obj, &olen));
    AKT_EQ_INT(olen, flen);
    AKT_TRUE(memcmp(obj, file, flen) == 0);
    ak_free(obj);
    ak_free(file);
    json_decref(m);
    /* writes after the snapshot, no tails: not in the bucket yet */
    put_points(a, 300, 305, 2);
    AKT_OK(open_with(db, &bo, &b));
    AKT_EQ_INT(count(b), 298);
    AKT_OK(akidb_store_close(b));
    /* a second snapshot replaces the first: its object is deleted */
    AKT_OK(akidb_store_snapshot(a));
    wait_shipped(a, false, 20);
    ak_s3_stat hs;
    AKT_STATUS(ak_s3_head(c, key, &hs), AKIDB_ENOENT);
    AKT_OK(open_with(dc, &bo, &b));
    AKT_EQ_INT(count(b), 303);
    same_content(a, b);
    AKT_OK(akidb_store_close(b));
    AKT_OK(akidb_store_close(a));
    ak_s3_close(c);
    free(da);
    free(db);
    free(dc);
}

/* With tails, writes after the snapshot (upserts, replacements, deletes, a
 * new collection) are restored too. */
AKT_TEST(wal_tail)
{
    char *da = new_dir("a"), *db = new_dir("b");
    akidb_backup_opts bo = bk_opts("tail", srv_port, 100);
    akidb_store *a, *b;
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 0, 200, 3);
    AKT_OK(akidb_store_snapshot(a));
    put_points(a, 150, 260, 4);            /* 50 replaced, 60 new */
    AKT_OK(akidb_points_delete(a, "t", "c", (const char *const[]){ "p00001", "p00255" }, 2, NULL));
    akidb_collection_opts co = { .dim = 3, .metric = AKIDB_METRIC_L2 };
    AKT_OK(akidb_collection_create(a, "t", "other", &co));
    wait_shipped(a, true, 20);
    ak_s3 *c = client();
    json_t *m = get_manifest(c, "tail");
    json_t *wal = json_object_get(m, "wal");
    AKT_EQ_INT(json_array_size(wal), 1);
    akidb_store_stats st;
    akidb_store_get_stats(a, &st);
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(wal, 0), "lsn")),
               st.snapshot_lsn);
    AKT_EQ_INT(json_integer_value(json_object_get(m, "last_lsn")), st.last_lsn);
    json_decref(m);
    AKT_OK(open_with(db, &bo, &b));
    AKT_EQ_INT(count(b), 258);
    same_content(a, b);
    akidb_collection_info ci;
    AKT_OK(akidb_collection_get_info(b, "t", "other", &ci));
    AKT_EQ_INT(ci.dim, 3);
    /* b's closing round finds nothing new to ship */
    AKT_OK(akidb_store_close(b));
    AKT_OK(akidb_store_close(a));
    ak_s3_close(c);
    free(da);
    free(db);
}

/* A damaged or truncated snapshot object, and a damaged manifest, fail the
 * restore naming the key; the folder stays empty. */
AKT_TEST(corrupt_object)
{
    char *da = new_dir("a"), *db = new_dir("b");
    akidb_backup_opts bo = bk_opts("bad", srv_port, 0);
    akidb_store *a, *b = NULL;
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 0, 50, 5);
    AKT_OK(akidb_store_snapshot(a));
    wait_shipped(a, false, 20);
    akidb_store_stats st;
    akidb_store_get_stats(a, &st);
    AKT_OK(akidb_store_close(a));
    ak_s3 *c = client();
    char key[128];
    snprintf(key, sizeof key, "bad/snap-%016llx.akdb", (unsigned long long)st.snapshot_lsn);
    void *obj;
    size_t len;
    AKT_OK(ak_s3_get(c, key, 1u << 30, &obj, &len));
    ((unsigned char *)obj)[len / 2] ^= 0x40;
    AKT_OK(ak_s3_put(c, key, obj, len, 0));
    AKT_STATUS(open_with(db, &bo, &b), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), key);
    AKT_CONTAINS(akidb_last_error(), "SHA-256");
    AKT_FALSE(has_file(db, "snap-"));
    AKT_FALSE(has_file(db, "RESTORING"));
    AKT_OK(ak_s3_put(c, key, obj, len - 100, 0));     /* truncated */
    AKT_STATUS(open_with(db, &bo, &b), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), key);
    AKT_CONTAINS(akidb_last_error(), "truncated");
    ((unsigned char *)obj)[len / 2] ^= 0x40;
    AKT_OK(ak_s3_put(c, key, obj, len, 0));           /* repaired: restores */
    AKT_OK(open_with(db, &bo, &b));
    AKT_EQ_INT(count(b), 50);
    AKT_OK(akidb_store_close(b));
    ak_free(obj);
    /* a damaged manifest */
    char *dc = new_dir("c");
    AKT_OK(ak_s3_put(c, "bad/MANIFEST", "{\"format\": 1, \"snap", 19, 0));
    AKT_STATUS(open_with(dc, &bo, &b), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), "bad/MANIFEST");
    const char *m7 = "{\"format\": 7, \"snapshot\": null, \"wal\": [], \"last_lsn\": 0}";
    AKT_OK(ak_s3_put(c, "bad/MANIFEST", m7, strlen(m7), 0));
    AKT_STATUS(open_with(dc, &bo, &b), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "manifest format 7");
    /* an empty prefix: an empty store */
    akidb_backup_opts none = bk_opts("nothing-here", srv_port, 0);
    AKT_OK(open_with(dc, &none, &b));
    AKT_EQ_INT(akidb_collection_list(b, "t", &(akidb_names){ 0 }), AKIDB_ENOENT);
    AKT_OK(akidb_store_close(b));
    ak_s3_close(c);
    free(da);
    free(db);
    free(dc);
}

/* The bucket is down: writes and snapshots go on, the statistics say why,
 * and once it is back the backup catches up. */
AKT_TEST(bucket_down)
{
    char *da = new_dir("a"), *db = new_dir("b");
    akidb_store *a, *b;
    AKT_OK(open_with(da, NULL, &a));          /* data first, without a bucket */
    put_points(a, 0, 100, 6);
    AKT_OK(akidb_store_close(a));
    int port = free_port();
    akidb_backup_opts bo = bk_opts("down", port, 100);
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 100, 150, 7);
    AKT_OK(akidb_store_snapshot(a));
    put_points(a, 150, 170, 8);
    akidb_store_stats st;
    double t0 = ak_now();
    do {
        usleep(20000);
        akidb_store_get_stats(a, &st);
    } while (st.backup_failures < 1 && ak_now() - t0 < 20);
    AKT_GE(st.backup_failures, 1);
    AKT_NE_INT(st.backup_status, AKIDB_OK);
    AKT_CONTAINS(st.backup_error, "backup to s3://" BUCKET "/down/");
    AKT_EQ_INT(st.backup_manifests, 0);
    AKT_EQ_INT(count(a), 170);
    fwd_start(port);
    wait_shipped(a, true, 60);
    akidb_backup_opts direct = bk_opts("down", srv_port, 0);
    AKT_OK(open_with(db, &direct, &b));
    same_content(a, b);
    AKT_OK(akidb_store_close(b));
    AKT_OK(akidb_store_close(a));
    free(da);
    free(db);
}

/* Credentials the bucket refuses: an empty folder is not opened (it would
 * otherwise start empty and later replace the bucket's copy); a folder with
 * data works and the statistics say why nothing is shipped. */
AKT_TEST(credentials_refused)
{
    char *da = new_dir("a"), *db = new_dir("b");
    akidb_backup_opts bo = bk_opts("creds", srv_port, 100);
    bo.access_key = "AKIDUNKNOWN";
    akidb_store *a;
    AKT_STATUS(open_with(db, &bo, &a), AKIDB_EPERM);
    AKT_CONTAINS(akidb_last_error(), "InvalidAccessKeyId");
    akidb_backup_opts nb = bk_opts("creds", srv_port, 100);
    nb.bucket = "no-such-bucket";           /* not "no manifest": no empty start */
    AKT_STATUS(open_with(db, &nb, &a), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "NoSuchBucket");
    AKT_OK(open_with(da, NULL, &a));
    put_points(a, 0, 10, 13);
    AKT_OK(akidb_store_close(a));
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 10, 20, 14);
    akidb_store_stats st;
    double t0 = ak_now();
    do {
        usleep(20000);
        akidb_store_get_stats(a, &st);
    } while (st.backup_failures < 1 && ak_now() - t0 < 20);
    AKT_EQ_INT(st.backup_status, AKIDB_EPERM);
    AKT_CONTAINS(st.backup_error, "InvalidAccessKeyId");
    AKT_EQ_INT(count(a), 20);
    AKT_OK(akidb_store_close(a));
    free(da);
    free(db);
}

/* A folder with data is opened as it is, whatever the bucket holds. */
AKT_TEST(keeps_local_data)
{
    char *da = new_dir("a"), *db = new_dir("b");
    akidb_backup_opts bo = bk_opts("keep", srv_port, 0);
    akidb_store *a, *b;
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 0, 40, 9);
    AKT_OK(akidb_store_close(a));            /* the closing snapshot is shipped */
    AKT_OK(open_with(db, NULL, &b));
    put_points(b, 1000, 1007, 10);
    AKT_OK(akidb_store_close(b));
    AKT_OK(open_with(db, &bo, &b));
    AKT_EQ_INT(count(b), 7);
    akidb_points got = { 0 };
    AKT_OK(akidb_points_get(b, "t", "c", (const char *const[]){ "p00000" }, 1, 0, &got));
    AKT_EQ_INT(got.n, 0);
    akidb_points_free(&got);
    AKT_OK(akidb_store_close(b));
    free(da);
    free(db);
}

/* A restore that was cut off (the marker is still there) is done again;
 * restores under failing allocations and a failing disk fail cleanly and
 * leave the folder restorable. */
AKT_TEST(restore_faults)
{
    char *da = new_dir("a");
    akidb_backup_opts bo = bk_opts("fault", srv_port, 0);
    akidb_store *a, *b;
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 0, 20, 11);
    AKT_OK(akidb_store_snapshot(a));
    put_points(a, 20, 30, 12);
    AKT_OK(akidb_store_close(a));
    /* interrupted restore: a marker and a stray segment */
    char *db = new_dir("b"), p[PATH_MAX];
    mkdir(db, 0755);
    snprintf(p, sizeof p, "%s/RESTORING", db);
    AKT_OK(ak_io_replace_file(p, "", 0, 0644, false));
    snprintf(p, sizeof p, "%s/wal-00000000000000ff.log", db);
    AKT_OK(ak_io_replace_file(p, "junk", 4, 0644, false));
    AKT_OK(open_with(db, &bo, &b));
    AKT_EQ_INT(count(b), 30);
    AKT_FALSE(has_file(db, "RESTORING"));
    AKT_OK(akidb_store_close(b));
    bo.read_only = true;      /* the loops below test the restore alone */
    /* allocation failures */
    long fails = 0, k;
    for (k = 0; k < 200000; k = akt_oom_next(k)) {
        char *d = new_dir("oom");
        ak_alloc_fail_after(k);
        akidb_status st = open_with(d, &bo, &b);
        ak_alloc_fail_after(-1);
        if (st == AKIDB_OK) {
            AKT_EQ_INT(count(b), 30);
            AKT_OK(akidb_store_close(b));
            free(d);
            break;
        }
        fails++;
        AKT_OK(open_with(d, &bo, &b));    /* the folder is restorable */
        AKT_EQ_INT(count(b), 30);
        AKT_FALSE(has_file(d, "RESTORING"));
        AKT_OK(akidb_store_close(b));
        free(d);
    }
    fprintf(stderr, "  %ld failed allocations handled, success at %ld\n", fails, k);
    AKT_GE(fails, 10);
    /* a failing disk */
    fails = 0;
    for (k = 0; k < 1000; k++) {
        char *d = new_dir("io");
        ak_io_fail_after(k, ENOSPC);
        akidb_status st = open_with(d, &bo, &b);
        ak_io_fail_after(-1, 0);
        if (st == AKIDB_OK) {
            AKT_EQ_INT(count(b), 30);
            AKT_OK(akidb_store_close(b));
            free(d);
            break;
        }
        fails++;
        AKT_EQ_INT(st, AKIDB_ENOSPC);
        AKT_OK(open_with(d, &bo, &b));
        AKT_EQ_INT(count(b), 30);
        AKT_FALSE(has_file(d, "RESTORING"));
        AKT_OK(akidb_store_close(b));
        free(d);
    }
    AKT_GE(fails, 3);
    free(da);
    free(db);
}

typedef struct wr_arg {
    akidb_store *s;
    int from, to;
    akidb_status st;      /* the first failure (no assertions off the main thread) */
} wr_arg;

static void *writer(void *p)
{
    wr_arg *w = p;
    tsu_rng r = { (uint64_t)w->from };
    for (int i = w->from; i < w->to && w->st == AKIDB_OK; i++) {
        char id[32], pl[64];
        float v[DIM];
        tsu_vec(&r, v, DIM);
        snprintf(id, sizeof id, "p%05d", i);
        snprintf(pl, sizeof pl, "{\"i\": %d, \"tag\": \"%s\"}", i, i % 3 ? "odd" : "three");
        char tx[32];
        snprintf(tx, sizeof tx, "text %d", i);
        akidb_point_in pt = { id, v, tx, pl };
        w->st = akidb_points_upsert(w->s, "t", "c", &pt, NULL, 1);
    }
    return NULL;
}

/* Writers, snapshots and tails shipped all at once: the bucket always
 * describes one consistent state, and in the end the whole of it. */
AKT_TEST(writes_while_shipping)
{
    char *da = new_dir("a"), *db = new_dir("b");
    akidb_backup_opts bo = bk_opts("busy", srv_port, 20);
    akidb_store *a, *b;
    AKT_OK(open_with(da, &bo, &a));
    put_points(a, 0, 1, 1);
    wr_arg w[2] = { { a, 0, 600, AKIDB_OK }, { a, 600, 1200, AKIDB_OK } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, writer, &w[i]);
    akidb_status snap_st = AKIDB_OK, mid_st = AKIDB_OK;
    for (int i = 0; i < 6 && snap_st == AKIDB_OK && mid_st == AKIDB_OK; i++) {
        usleep(30000);
        snap_st = akidb_store_snapshot(a);
        /* whatever the bucket holds now restores */
        char *d = new_dir("mid");
        akidb_backup_opts ro = bk_opts("busy", srv_port, 0);
        ro.read_only = true;
        akidb_store_opts o = tsu_fast_opts();
        o.log = tsu_quiet_log;
        o.no_snapshot_on_close = true;
        o.backup = &ro;
        akidb_store *m;
        if ((mid_st = akidb_store_open(d, &o, &m)) == AKIDB_OK)
            akidb_store_close(m);
        else
            fprintf(stderr, "  restore while shipping: %s\n", akidb_last_error());
        free(d);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    AKT_OK(snap_st);
    AKT_OK(mid_st);
    AKT_OK(w[0].st);
    AKT_OK(w[1].st);
    wait_shipped(a, true, 30);
    akidb_backup_opts ro = bo;
    ro.read_only = true;
    AKT_OK(open_with(db, &ro, &b));
    AKT_EQ_INT(count(b), 1200);
    same_content(a, b);
    AKT_OK(akidb_store_close(b));
    AKT_OK(akidb_store_close(a));
    free(da);
    free(db);
}

/* Sealed segment files go up once each (they never change) and are named
 * by the manifest; a restore brings them back with the snapshot. */
AKT_TEST(segments_shipped_once)
{
    char *da = new_dir("sa"), *db = new_dir("sb");
    akidb_backup_opts bo = bk_opts("seg", srv_port, 0);
    akidb_store_opts o = tsu_fast_opts();
    o.snapshot_wal_bytes = UINT64_MAX;
    o.seal_points = 100;
    o.log = tsu_quiet_log;
    o.backup = &bo;
    akidb_store *a, *b;
    AKT_OK(akidb_store_open(da, &o, &a));
    put_points(a, 0, 250, 1);
    AKT_OK(akidb_store_snapshot(a));
    put_points(a, 250, 400, 2);
    put_points(a, 10, 20, 3);   /* replaced in the first segment */
    AKT_OK(akidb_points_delete(a, "t", "c", (const char *const[]){ "p00007", "p00300" }, 2, NULL));
    AKT_OK(akidb_store_snapshot(a));
    wait_shipped(a, false, 20);
    akidb_store_stats st;
    akidb_store_get_stats(a, &st);
    AKT_GE(st.segments, 2);   /* the snapshot thread may seal more on its own */
    uint64_t nseg = st.segments;
    ak_s3 *c = client();
    json_t *m = get_manifest(c, "seg");
    json_t *segs = json_object_get(m, "segments");
    AKT_EQ_INT(json_array_size(segs), nseg);
    for (size_t i = 0; i < nseg; i++) {
        json_t *e = json_array_get(segs, i);
        const char *key = json_string_value(json_object_get(e, "key"));
        char path[PATH_MAX], sha[65];
        snprintf(path, sizeof path, "%s/%s", da, key + 4);
        char *file = NULL;
        size_t flen = 0;
        AKT_OK(ak_read_file(path, 1u << 30, &file, &flen));
        sha_hex(file, flen, sha);
        AKT_EQ_STR(json_string_value(json_object_get(e, "sha256")), sha);
        void *obj;
        size_t olen;
        AKT_OK(ak_s3_get(c, key, 1u << 30, &obj, &olen));
        AKT_EQ_INT(olen, flen);
        AKT_TRUE(memcmp(obj, file, flen) == 0);
        ak_free(obj);
        ak_free(file);
    }
    json_decref(m);
    /* the next round uploads the snapshot (a WAL segment, and any segment
     * sealed since), not the segments already there */
    uint64_t up0 = st.backup_uploads, made0 = st.segments_sealed + st.segments_compacted;
    put_points(a, 400, 420, 4);
    AKT_OK(akidb_store_snapshot(a));
    wait_shipped(a, false, 20);
    akidb_store_get_stats(a, &st);
    AKT_LE_INT(st.backup_uploads - up0,
               2 + (st.segments_sealed + st.segments_compacted - made0));
    AKT_GE(st.backup_uploads - up0, 1);
    nseg = st.segments;
    /* the restore */
    AKT_OK(open_with(db, &bo, &b));
    AKT_EQ_INT(count(b), 418);
    AKT_TRUE(has_file(db, "seg-"));
    same_content(a, b);
    akidb_store_get_stats(b, &st);
    AKT_EQ_INT(st.segments, nseg);
    AKT_OK(akidb_store_close(b));
    AKT_OK(akidb_store_close(a));
    ak_s3_close(c);
    free(da);
    free(db);
}

static const akt_case cases[] = {
    AKT_REG(writes_while_shipping),
    AKT_REG(snapshot_restore), AKT_REG(wal_tail), AKT_REG(corrupt_object),
    AKT_REG(bucket_down), AKT_REG(credentials_refused), AKT_REG(keeps_local_data), AKT_REG(restore_faults),
    AKT_REG(segments_shipped_once),
};

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    (void)tsu_tmpdir;
    ak_json_init();
    const char *why = akt_s3rver_missing(&s3);
    if (why) {
        printf("SKIP test_store_backup: %s\n", why);
        return SKIP_CODE;
    }
    if (!akt_s3rver_start(&s3, BUCKET, "akidb_bk_"))
        return 1;
    srv_port = s3.port;
    int rc = akt_run(cases, sizeof cases / sizeof cases[0], argc, argv);
    akt_s3rver_stop(&s3);
    return rc;
}
