/*
 * test_s3_live.h - part of test_s3.c: the client against s3rver on loopback
 * (tests/s3rver.h), and the AWS CLI against the same server.  s3rver
 * accepts the access key id S3RVER only and does not check SigV4 signatures
 * (the unit cases do that).
 */

#define LIVE_BUCKET "akidb-test"

static akt_s3rver live_srv = { -1, 0, -1, "" };
static int live_port;

/* NULL when the case can run, else why not. */
static const char *live_prereq(bool cli)
{
    const char *why = akt_s3rver_missing(&live_srv);
    if (!why && cli && system("aws --version > /dev/null 2>&1") != 0)
        why = "the AWS CLI (`aws`, Debian awscli) is not installed";
    return why;
}

/* Starts s3rver; false (with a message) if it does not come up. */
static bool live_start(void)
{
    if (!akt_s3rver_start(&live_srv, LIVE_BUCKET, "akidb_s3_"))
        return false;
    live_port = live_srv.port;
    return true;
}

static void live_stop(void)
{
    akt_s3rver_stop(&live_srv);
}

static ak_s3 *live_client(const char *bucket, const char *akid)
{
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", live_port);
    ak_s3_config c = AK_S3_CONFIG_INIT;
    c.endpoint = ep;
    c.region = "us-east-1";
    c.bucket = bucket;
    c.access_key = akid;
    c.secret_key = "S3RVER";
    c.retry_base_ms = 5;
    ak_s3 *s = NULL;
    AKT_OK(ak_s3_open(&c, &s));
    return s;
}

static void md5_hex(const void *data, size_t n, char out[33])
{
    unsigned char d[16];
    unsigned dl = 0;
    AKT_TRUE(EVP_Digest(data, n, d, &dl, EVP_md5(), NULL) == 1);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static unsigned char *random_bytes(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[i] = (unsigned char)x;
    }
    return b;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    AKT_TRUE(f != NULL);
    AKT_EQ_INT(fwrite(b, 1, n, f), n);
    fclose(f);
}

AKT_TEST(ops)
{
    ak_s3 *s = live_client(LIVE_BUCKET, "S3RVER");
    static const char key[] = "coll/seg 1+é=x.bin";
    static const char body[] = "the segment list, version 1\n";
    AKT_OK(ak_s3_put(s, key, body, strlen(body), 0));
    void *data;
    size_t len;
    AKT_OK(ak_s3_get(s, key, 1 << 20, &data, &len));
    AKT_EQ_INT(len, strlen(body));
    AKT_TRUE(memcmp(data, body, len) == 0);
    ak_free(data);
    ak_s3_stat hs;
    AKT_OK(ak_s3_head(s, key, &hs));
    AKT_EQ_INT(hs.size, strlen(body));
    char md5[33];
    md5_hex(body, strlen(body), md5);
    AKT_EQ_STR(hs.etag, md5);                  /* a single-part ETag is the MD5 */
    AKT_OK(ak_s3_put(s, "coll/empty", "", 0, 0));
    AKT_OK(ak_s3_get(s, "coll/empty", 10, &data, &len));
    AKT_EQ_INT(len, 0);
    ak_free(data);
    ak_s3_list l = {0};
    AKT_OK(ak_s3_list_keys(s, "coll/", 0, &l));
    AKT_EQ_INT(l.n, 2);
    AKT_EQ_STR(l.v[0].key, "coll/empty");
    AKT_EQ_INT(l.v[0].size, 0);
    AKT_EQ_STR(l.v[1].key, key);
    AKT_EQ_INT(l.v[1].size, strlen(body));
    AKT_EQ_STR(l.v[1].etag, md5);
    ak_s3_list_free(&l);
    AKT_OK(ak_s3_delete(s, key));
    AKT_OK(ak_s3_delete(s, key));              /* gone already: still fine */
    AKT_STATUS(ak_s3_get(s, key, 100, &data, &len), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "s3 get akidb-test/coll/seg 1+é=x.bin: HTTP 404 NoSuchKey");
    AKT_OK(ak_s3_list_keys(s, "coll/", 0, &l));
    AKT_EQ_INT(l.n, 1);
    ak_s3_list_free(&l);
    AKT_OK(ak_s3_delete(s, "coll/empty"));
    ak_s3_close(s);
}

/* More keys than a page: continuation tokens followed, order kept; also
 * over 1000 keys with the server's own page size. */
AKT_TEST(list_pages)
{
    ak_s3 *s = live_client(LIVE_BUCKET, "S3RVER");
    enum { N = 1003 };
    char key[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "many/k%05d", i);
        AKT_OK(ak_s3_put(s, key, key, strlen(key), 0));
    }
    AKT_OK(ak_s3_put(s, "manz", "x", 1, 0));      /* outside the prefix */
    int sizes[] = { 0, 7, 1000 };
    for (int t = 0; t < 3; t++) {
        ak_s3_list l = {0};
        AKT_OK(ak_s3_list_keys(s, "many/", sizes[t], &l));
        AKT_EQ_INT(l.n, N);
        for (int i = 0; i < N; i++) {
            snprintf(key, sizeof key, "many/k%05d", i);
            AKT_EQ_STR(l.v[i].key, key);
            AKT_EQ_INT(l.v[i].size, strlen(key));
        }
        ak_s3_list_free(&l);
    }
    ak_s3_list l = {0};
    AKT_OK(ak_s3_list_keys(s, NULL, 0, &l));
    AKT_EQ_INT(l.n, N + 1);
    ak_s3_list_free(&l);
    AKT_OK(ak_s3_list_keys(s, "nothing/", 3, &l));
    AKT_EQ_INT(l.n, 0);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "many/k%05d", i);
        AKT_OK(ak_s3_delete(s, key));
    }
    AKT_OK(ak_s3_delete(s, "manz"));
    ak_s3_close(s);
}

/* A few MB streamed from a file and back to a file (atomic replace). */
AKT_TEST(large)
{
    const char *tmp = akt_tmpdir("akidb_s3_");
    char src[PATH_MAX], dst[PATH_MAX];
    snprintf(src, sizeof src, "%s/big.src", tmp);
    snprintf(dst, sizeof dst, "%s/big.dst", tmp);
    size_t n = 6u << 20;
    unsigned char *b = random_bytes(n, 7);
    write_bytes(src, b, n);
    ak_s3 *s = live_client(LIVE_BUCKET, "S3RVER");
    AKT_OK(ak_s3_put_file(s, "big/seg.bin", src, 0));
    ak_s3_stat hs;
    AKT_OK(ak_s3_head(s, "big/seg.bin", &hs));
    AKT_EQ_INT(hs.size, n);
    char md5[33];
    md5_hex(b, n, md5);
    AKT_EQ_STR(hs.etag, md5);
    write_text(dst, "old content");
    AKT_OK(ak_s3_get_file(s, "big/seg.bin", dst));
    char *got = NULL;
    size_t gl = 0;
    AKT_OK(ak_read_file(dst, n + 1, &got, &gl));
    AKT_EQ_INT(gl, n);
    AKT_TRUE(memcmp(got, b, n) == 0);
    ak_free(got);
    /* a failed download leaves the file as it was, and no temporary */
    write_text(dst, "old content");
    AKT_STATUS(ak_s3_get_file(s, "big/missing.bin", dst), AKIDB_ENOENT);
    AKT_OK(ak_read_file(dst, 100, &got, &gl));
    AKT_EQ_STR(got, "old content");
    ak_free(got);
    char tmpf[PATH_MAX + 8];
    snprintf(tmpf, sizeof tmpf, "%s.tmp", dst);
    AKT_TRUE(access(tmpf, F_OK) != 0);
    /* the buffer limit */
    void *data = NULL;
    size_t len;
    AKT_STATUS(ak_s3_get(s, "big/seg.bin", n - 1, &data, &len), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "big/seg.bin: object larger than the limit");
    AKT_OK(ak_s3_get(s, "big/seg.bin", n, &data, &len));
    AKT_EQ_INT(len, n);
    AKT_TRUE(memcmp(data, b, n) == 0);
    ak_free(data);
    AKT_STATUS(ak_s3_put_file(s, "big/x", "/nonexistent/file", 0), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "open /nonexistent/file");
    AKT_OK(ak_s3_delete(s, "big/seg.bin"));
    ak_s3_close(s);
    free(b);
}

AKT_TEST(missing)
{
    ak_s3 *s = live_client("no-such-bucket", "S3RVER");
    void *data;
    size_t len;
    AKT_STATUS(ak_s3_get(s, "k", 10, &data, &len), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "s3 get no-such-bucket/k: HTTP 404 NoSuchBucket");
    ak_s3_list l = {0};
    AKT_STATUS(ak_s3_list_keys(s, NULL, 0, &l), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "s3 list no-such-bucket/: HTTP 404 NoSuchBucket");
    AKT_STATUS(ak_s3_put(s, "k", "x", 1, 0), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "NoSuchBucket");
    ak_s3_close(s);
    /* an access key s3rver does not know */
    s = live_client(LIVE_BUCKET, "AKIDUNKNOWN");
    AKT_STATUS(ak_s3_put(s, "k", "x", 1, 0), AKIDB_EPERM);
    AKT_CONTAINS(akidb_last_error(), "s3 put akidb-test/k: HTTP 403 InvalidAccessKeyId");
    ak_s3_close(s);
}

/* If-None-Match: * is sent; s3rver ignores it (AWS S3 and MinIO answer 412,
 * which the wire_errors case maps to EEXIST). */
AKT_TEST(conditional)
{
    ak_s3 *s = live_client(LIVE_BUCKET, "S3RVER");
    AKT_OK(ak_s3_put(s, "cond/a", "1", 1, AK_S3_IF_NONE_MATCH));
    AKT_CONTAINS(ak_s3_last_request(s), "If-None-Match: *");
    AKT_OK(ak_s3_delete(s, "cond/a"));
    ak_s3_close(s);
}

/* Runs a shell command with the AWS CLI pointed at s3rver; its exit status. */
static int aws_run(const char *args)
{
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd,
             "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1 "
             "AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null "
             "aws --endpoint-url http://127.0.0.1:%d %s", live_port, args);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "  command failed (%d): %s\n", rc, cmd);
    return rc;
}

AKT_TEST(awscli)
{
    const char *tmp = akt_tmpdir("akidb_s3_");
    char a[PATH_MAX], b[PATH_MAX], ls[PATH_MAX], args[PATH_MAX * 2 + 128];
    snprintf(a, sizeof a, "%s/from_akidb.got", tmp);
    snprintf(b, sizeof b, "%s/from_aws.src", tmp);
    snprintf(ls, sizeof ls, "%s/ls.txt", tmp);
    size_t n1 = 3u << 20, n2 = 700001;
    unsigned char *d1 = random_bytes(n1, 1), *d2 = random_bytes(n2, 2);
    ak_s3 *s = live_client(LIVE_BUCKET, "S3RVER");
    /* AkiDB writes, the CLI reads */
    AKT_OK(ak_s3_put(s, "cli/from akidb.bin", d1, n1, 0));
    snprintf(args, sizeof args, "s3 cp --only-show-errors 's3://" LIVE_BUCKET
             "/cli/from akidb.bin' '%s'", a);
    AKT_EQ_INT(aws_run(args), 0);
    char *got = NULL;
    size_t gl = 0;
    AKT_OK(ak_read_file(a, n1 + 1, &got, &gl));
    AKT_EQ_INT(gl, n1);
    AKT_TRUE(memcmp(got, d1, n1) == 0);
    ak_free(got);
    /* the CLI writes, AkiDB reads */
    write_bytes(b, d2, n2);
    snprintf(args, sizeof args, "s3 cp --only-show-errors '%s' 's3://" LIVE_BUCKET
             "/cli/from_aws.bin'", b);
    AKT_EQ_INT(aws_run(args), 0);
    void *data;
    size_t len;
    AKT_OK(ak_s3_get(s, "cli/from_aws.bin", n2, &data, &len));
    AKT_EQ_INT(len, n2);
    AKT_TRUE(memcmp(data, d2, n2) == 0);
    ak_free(data);
    ak_s3_list l = {0};
    AKT_OK(ak_s3_list_keys(s, "cli/", 0, &l));
    AKT_EQ_INT(l.n, 2);
    AKT_EQ_STR(l.v[0].key, "cli/from akidb.bin");
    AKT_EQ_STR(l.v[1].key, "cli/from_aws.bin");
    AKT_EQ_INT(l.v[1].size, n2);
    ak_s3_list_free(&l);
    /* the CLI's listing shows both with their sizes */
    snprintf(args, sizeof args, "s3 ls 's3://" LIVE_BUCKET "/cli/' > '%s'", ls);
    AKT_EQ_INT(aws_run(args), 0);
    AKT_OK(ak_read_file(ls, 1 << 16, &got, &gl));
    char want[64];
    snprintf(want, sizeof want, "%zu from akidb.bin", n1);
    AKT_CONTAINS(got, want);
    snprintf(want, sizeof want, "%zu from_aws.bin", n2);
    AKT_CONTAINS(got, want);
    ak_free(got);
    /* a delete by the CLI is seen */
    AKT_EQ_INT(aws_run("s3 rm --only-show-errors 's3://" LIVE_BUCKET "/cli/from akidb.bin'"), 0);
    ak_s3_stat hs;
    AKT_STATUS(ak_s3_head(s, "cli/from akidb.bin", &hs), AKIDB_ENOENT);
    AKT_OK(ak_s3_delete(s, "cli/from_aws.bin"));
    ak_s3_close(s);
    free(d1);
    free(d2);
}
