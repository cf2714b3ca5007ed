/*
 * test_s3.c - the S3 client (src/objstore): tested in three rings.
 *
 *   unit     (no network) the AWS CLI's INI files and the configuration
 *            order (explicit, AWS_* variables, profile files), URLs for
 *            path-style and virtual-host addressing, ListObjectsV2 pages
 *            with continuation, error bodies and their statuses; a SigV4
 *            verifier written here with OpenSSL's HMAC, checked against
 *            AWS's published examples, then used on what libcurl sends to a
 *            stub HTTP server on loopback (signature, payload hash, session
 *            token); retries against scripted 5xx / 429 answers and a
 *            refused connection.
 *   server   s3rver (npm, tests/ref/s3rver_run.mjs) on loopback: put / get /
 *            head / list with continuation / delete, a few-MB object from
 *            and to files, missing key / bucket / access key.  s3rver checks
 *            the access key id but not signatures; the unit ring checks
 *            those.  Exits 77 (skip) without node or s3rver.
 *   awscli   the AWS CLI on the same s3rver reads what this client wrote
 *            and the reverse.  Exits 77 (skip) without `aws` or s3rver.
 *
 *   ./test_s3 [case...] | ./test_s3 server [case...] | ./test_s3 awscli
 */
#include "akt.h"
#include "objstore/objstore.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SKIP_CODE 77

/* ---- helpers ------------------------------------------------------------------ */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    AKT_TRUE(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned dl = 0;
    AKT_TRUE(EVP_Digest(data, n, d, &dl, EVP_sha256(), NULL) == 1);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void clear_aws_env(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

/* ---- unit: configuration ------------------------------------------------------- */

AKT_TEST(ini)
{
    static const char text[] =
        "# comment\n"
        "[default]\n"
        "aws_access_key_id = AKDEFAULT\n"
        "aws_secret_access_key=SECRET/with=equals\n"
        "; another comment\n"
        "[prod]\r\n"
        "aws_access_key_id =  AKPROD  \r\n"
        "[profile dev]\n"
        "region = eu-west-3\n"
        "s3 =\n"
        "  addressing_style = path\n"
        "  max_concurrent_requests = 4\n"
        "endpoint_url = http://127.0.0.1:9000\n";
    char *v = NULL;
    AKT_OK(ak_s3_ini_get(text, strlen(text), "default", "aws_access_key_id", &v));
    AKT_EQ_STR(v, "AKDEFAULT");
    ak_free(v);
    AKT_OK(ak_s3_ini_get(text, strlen(text), "default", "aws_secret_access_key", &v));
    AKT_EQ_STR(v, "SECRET/with=equals");
    ak_free(v);
    AKT_OK(ak_s3_ini_get(text, strlen(text), "prod", "aws_access_key_id", &v));
    AKT_EQ_STR(v, "AKPROD");
    ak_free(v);
    AKT_OK(ak_s3_ini_get(text, strlen(text), "profile dev", "s3.addressing_style", &v));
    AKT_EQ_STR(v, "path");
    ak_free(v);
    AKT_OK(ak_s3_ini_get(text, strlen(text), "profile dev", "endpoint_url", &v));
    AKT_EQ_STR(v, "http://127.0.0.1:9000");
    ak_free(v);
    AKT_STATUS(ak_s3_ini_get(text, strlen(text), "prod", "region", &v), AKIDB_ENOENT);
    AKT_TRUE(v == NULL);
    AKT_STATUS(ak_s3_ini_get(text, strlen(text), "dev", "region", &v), AKIDB_ENOENT);
    /* the length bounds the text: no NUL needed, nothing read past it */
    AKT_STATUS(ak_s3_ini_get(text, 20, "default", "aws_access_key_id", &v), AKIDB_ENOENT);
}

AKT_TEST(config)
{
    const char *tmp = akt_tmpdir("akidb_s3_");
    char dir[PATH_MAX], path[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/home", tmp);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/.aws", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.aws/credentials", dir);
    write_text(path, "[default]\naws_access_key_id = AKFILE\naws_secret_access_key = SKFILE\n"
                     "[other]\naws_access_key_id = AKOTHER\naws_secret_access_key = SKOTHER\n"
                     "aws_session_token = TOKOTHER\n");
    snprintf(path, sizeof path, "%s/.aws/config", dir);
    write_text(path, "[default]\nregion = eu-central-1\n"
                     "[profile other]\nregion = ap-south-1\nendpoint_url = http://10.0.0.1:9000\n"
                     "s3 =\n  addressing_style = virtual\n");
    clear_aws_env();
    setenv("HOME", dir, 1);

    ak_s3_config c = AK_S3_CONFIG_INIT;
    c.bucket = "b1";
    ak_s3 *s = NULL;
    /* profile files, [default] */
    AKT_OK(ak_s3_open(&c, &s));
    AKT_EQ_STR(ak_s3_access_key(s), "AKFILE");
    AKT_EQ_STR(ak_s3_region(s), "eu-central-1");
    AKT_EQ_STR(ak_s3_endpoint(s), "https://s3.eu-central-1.amazonaws.com");
    AKT_FALSE(ak_s3_path_style(s));     /* AWS itself: virtual host */
    AKT_TRUE(ak_s3_session_token(s) == NULL);
    ak_s3_close(s);
    /* AWS_PROFILE picks [other] / [profile other] */
    setenv("AWS_PROFILE", "other", 1);
    AKT_OK(ak_s3_open(&c, &s));
    AKT_EQ_STR(ak_s3_access_key(s), "AKOTHER");
    AKT_EQ_STR(ak_s3_session_token(s), "TOKOTHER");
    AKT_EQ_STR(ak_s3_region(s), "ap-south-1");
    AKT_EQ_STR(ak_s3_endpoint(s), "http://10.0.0.1:9000");
    AKT_FALSE(ak_s3_path_style(s));     /* addressing_style = virtual wins */
    ak_s3_close(s);
    /* variables beat the files */
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
    setenv("AWS_REGION", "us-west-2", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4569", 1);
    unsetenv("AWS_PROFILE");
    AKT_OK(ak_s3_open(&c, &s));
    AKT_EQ_STR(ak_s3_access_key(s), "AKENV");
    AKT_EQ_STR(ak_s3_session_token(s), "TOKENV");
    AKT_EQ_STR(ak_s3_region(s), "us-west-2");
    AKT_EQ_STR(ak_s3_endpoint(s), "http://127.0.0.1:4569");
    AKT_TRUE(ak_s3_path_style(s));      /* a custom endpoint: path style */
    ak_s3_close(s);
    /* explicit settings beat everything */
    c.access_key = "AKX";
    c.secret_key = "SKX";
    c.region = "sa-east-1";
    c.endpoint = "http://h:1";
    c.path_style = 0;
    AKT_OK(ak_s3_open(&c, &s));
    AKT_EQ_STR(ak_s3_access_key(s), "AKX");
    AKT_TRUE(ak_s3_session_token(s) == NULL);
    AKT_EQ_STR(ak_s3_region(s), "sa-east-1");
    AKT_FALSE(ak_s3_path_style(s));
    ak_s3_close(s);
    /* no credentials anywhere: EINVAL saying what to set */
    clear_aws_env();
    setenv("HOME", tmp, 1);
    ak_s3_config c2 = AK_S3_CONFIG_INIT;
    c2.bucket = "b1";
    AKT_STATUS(ak_s3_open(&c2, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "no credentials");
    AKT_CONTAINS(akidb_last_error(), "AWS_ACCESS_KEY_ID");
    c2.bucket = "Bad_Bucket";
    AKT_STATUS(ak_s3_open(&c2, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "Bad_Bucket");
    c2.bucket = NULL;
    AKT_STATUS(ak_s3_open(&c2, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "no bucket");
}

AKT_TEST(url)
{
    char *u = NULL;
    AKT_OK(ak_s3_build_url("http://127.0.0.1:9000/", "bkt", true, "seg/a b+c=é~.bin", NULL, &u));
    AKT_EQ_STR(u, "http://127.0.0.1:9000/bkt/seg/a%20b%2Bc%3D%C3%A9~.bin");
    ak_free(u);
    AKT_OK(ak_s3_build_url("https://s3.eu-west-1.amazonaws.com", "bkt", false, "k/x", NULL, &u));
    AKT_EQ_STR(u, "https://bkt.s3.eu-west-1.amazonaws.com/k/x");
    ak_free(u);
    AKT_OK(ak_s3_build_url("https://s3.eu-west-1.amazonaws.com", "bkt", false, NULL,
                           "list-type=2&prefix=a%2Fb", &u));
    AKT_EQ_STR(u, "https://bkt.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=a%2Fb");
    ak_free(u);
    AKT_OK(ak_s3_build_url("http://h:1", "bkt", true, NULL, "list-type=2", &u));
    AKT_EQ_STR(u, "http://h:1/bkt?list-type=2");
    ak_free(u);
    AKT_STATUS(ak_s3_build_url("h:1", "bkt", true, "k", NULL, &u), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "not a URL");
    char buf[8];
    size_t n = 0;
    AKT_FALSE(ak_s3_uri_encode("abc/def", false, buf, sizeof buf, &n));  /* does not fit */
    n = 0;
    AKT_TRUE(ak_s3_uri_encode("a/b", false, buf, sizeof buf, &n));
    AKT_EQ_STR(buf, "a%2Fb");
}

/* ---- unit: XML ------------------------------------------------------------------- */

static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>bkt</Name><Prefix>seg/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
    "<IsTruncated>true</IsTruncated>"
    "<Contents><Key>seg/a&amp;b &lt;1&gt;</Key><LastModified>2026-01-01T00:00:00.000Z"
    "</LastModified><ETag>&quot;0123abcd&quot;</ETag><Size>12</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>seg/&#233;&#x4E2D;</Key><ETag>\"ff\"</ETag><Size>0</Size></Contents>"
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
    "</ListBucketResult>";
static const char page2[] =
    "<ListBucketResult><Name>bkt</Name><KeyCount>1</KeyCount>"
    "<Contents><Key>seg/z</Key><Size>18446744073709551615</Size></Contents>"
    "<IsTruncated>false</IsTruncated></ListBucketResult>";

AKT_TEST(list_xml)
{
    ak_s3_list l = {0};
    bool trunc;
    char *tok = NULL;
    AKT_OK(ak_s3_parse_list(page1, strlen(page1), &l, &trunc, &tok));
    AKT_TRUE(trunc);
    AKT_EQ_STR(tok, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    ak_free(tok);
    AKT_EQ_INT(l.n, 2);
    AKT_EQ_STR(l.v[0].key, "seg/a&b <1>");
    AKT_EQ_INT(l.v[0].size, 12);
    AKT_EQ_STR(l.v[0].etag, "0123abcd");
    AKT_EQ_STR(l.v[1].key, "seg/\xC3\xA9\xE4\xB8\xAD");
    AKT_EQ_STR(l.v[1].etag, "ff");
    AKT_OK(ak_s3_parse_list(page2, strlen(page2), &l, &trunc, &tok));
    AKT_FALSE(trunc);
    AKT_TRUE(tok == NULL);
    AKT_EQ_INT(l.n, 3);
    AKT_TRUE(l.v[2].size == UINT64_MAX);
    ak_s3_list_free(&l);

    /* malformed pages: each an EFORMAT naming the problem */
    static const struct { const char *body, *why; } bad[] = {
        {"<Error><Code>x</Code></Error>", "not a <ListBucketResult>"},
        {"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
         "without a <NextContinuationToken>"},
        {"<ListBucketResult><Contents><Key>a</Key></Contents>"
         "<IsTruncated>false</IsTruncated></ListBucketResult>", "has no <Size>"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents>"
         "<IsTruncated>false</IsTruncated></ListBucketResult>", "bad <Size>"},
        {"<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents>"
         "<IsTruncated>false</IsTruncated></ListBucketResult>", "unknown entity"},
        {"<ListBucketResult><Contents><Key>a<b/></Key><Size>1</Size></Contents>"
         "<IsTruncated>false</IsTruncated></ListBucketResult>", "holds markup"},
        {"<ListBucketResult><Contents><Key>a</Key><Size>1</Size>", "not closed"},
        {"<ListBucketResult></ListBucketResult>", "no <IsTruncated>"},
        {"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>", "'maybe'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ak_s3_list b = {0};
        AKT_STATUS(ak_s3_parse_list(bad[i].body, strlen(bad[i].body), &b, &trunc, &tok),
                   AKIDB_EFORMAT);
        AKT_CONTAINS(akidb_last_error(), bad[i].why);
        ak_s3_list_free(&b);
    }
    /* every prefix of a good page is an error or a shorter list, never a crash */
    for (size_t n = 0; n < strlen(page1); n++) {
        char *cut = ak_malloc(n ? n : 1);
        memcpy(cut, page1, n);
        ak_s3_list b = {0};
        akidb_status st = ak_s3_parse_list(cut, n, &b, &trunc, &tok);
        AKT_TRUE(st == AKIDB_OK || st == AKIDB_EFORMAT);
        ak_free(tok);
        tok = NULL;
        ak_s3_list_free(&b);
        ak_free(cut);
    }
}

/* Out of memory at every allocation of a page parse and of an open: ENOMEM,
 * then success once allocations stop failing (leaks show in the sanitizer
 * build). */
AKT_TEST(out_of_memory)
{
    long i = 0;
    for (;; i = akt_oom_next(i)) {
        ak_s3_list l = {0};
        bool trunc;
        char *tok = NULL;
        ak_alloc_fail_after(i);
        akidb_status st = ak_s3_parse_list(page1, strlen(page1), &l, &trunc, &tok);
        ak_alloc_fail_after(-1);
        ak_free(tok);
        ak_s3_list_free(&l);
        if (st == AKIDB_OK)
            break;
        AKT_STATUS(st, AKIDB_ENOMEM);
    }
    AKT_LE_INT(3, i);
    ak_s3_config c = AK_S3_CONFIG_INIT;
    c.bucket = "b";
    c.endpoint = "http://127.0.0.1:1";
    c.region = "r";
    c.path_style = 1;
    c.access_key = "a";
    c.secret_key = "s";
    c.session_token = "t";
    for (i = 0;; i = akt_oom_next(i)) {
        ak_s3 *s = NULL;
        ak_alloc_fail_after(i);
        akidb_status st = ak_s3_open(&c, &s);
        ak_alloc_fail_after(-1);
        if (st == AKIDB_OK) {     /* never a fallback to another source */
            AKT_EQ_STR(ak_s3_region(s), "r");
            AKT_EQ_STR(ak_s3_endpoint(s), "http://127.0.0.1:1");
            AKT_EQ_STR(ak_s3_access_key(s), "a");
            AKT_EQ_STR(ak_s3_session_token(s), "t");
            ak_s3_close(s);
            break;
        }
        AKT_STATUS(st, AKIDB_ENOMEM);
    }
    AKT_LE_INT(5, i);
}

AKT_TEST(error_xml)
{
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
        "<Message>The specified key does not exist.</Message><Key>a/b</Key>"
        "<RequestId>4442587FB7D0A2F9</RequestId></Error>";
    char code[64], msg[128];
    ak_s3_parse_error(body, strlen(body), code, sizeof code, msg, sizeof msg);
    AKT_EQ_STR(code, "NoSuchKey");
    AKT_EQ_STR(msg, "The specified key does not exist.");
    ak_s3_parse_error("garbage", 7, code, sizeof code, msg, sizeof msg);
    AKT_EQ_STR(code, "");
    AKT_EQ_STR(msg, "");
    ak_s3_parse_error(NULL, 0, code, sizeof code, msg, sizeof msg);
    AKT_EQ_STR(code, "");
    AKT_EQ_INT(ak_s3_error_status(404, "NoSuchKey"), AKIDB_ENOENT);
    AKT_EQ_INT(ak_s3_error_status(404, "NoSuchBucket"), AKIDB_ENOENT);
    AKT_EQ_INT(ak_s3_error_status(404, ""), AKIDB_ENOENT);
    AKT_EQ_INT(ak_s3_error_status(403, "AccessDenied"), AKIDB_EPERM);
    AKT_EQ_INT(ak_s3_error_status(403, "SignatureDoesNotMatch"), AKIDB_EPERM);
    AKT_EQ_INT(ak_s3_error_status(403, "InvalidAccessKeyId"), AKIDB_EPERM);
    AKT_EQ_INT(ak_s3_error_status(400, "ExpiredToken"), AKIDB_EPERM);
    AKT_EQ_INT(ak_s3_error_status(403, ""), AKIDB_EPERM);
    AKT_EQ_INT(ak_s3_error_status(412, "PreconditionFailed"), AKIDB_EEXIST);
    AKT_EQ_INT(ak_s3_error_status(503, "SlowDown"), AKIDB_EIO);
    AKT_EQ_INT(ak_s3_error_status(500, "InternalError"), AKIDB_EIO);
    AKT_EQ_INT(ak_s3_error_status(400, "InvalidBucketName"), AKIDB_EINVAL);
}

#include "test_s3_sig.h"
#include "s3rver.h"
#include "test_s3_live.h"

static const akt_case unit_cases[] = {
    AKT_REG(ini), AKT_REG(config), AKT_REG(url), AKT_REG(list_xml), AKT_REG(out_of_memory),
    AKT_REG(error_xml),
    AKT_REG(sigv4_vectors), AKT_REG(signing), AKT_REG(retry), AKT_REG(wire_errors),
};
static const akt_case server_cases[] = {
    AKT_REG(ops), AKT_REG(list_pages), AKT_REG(large), AKT_REG(missing),
    AKT_REG(conditional),
};
static const akt_case awscli_cases[] = { AKT_REG(awscli) };

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && (!strcmp(argv[1], "server") || !strcmp(argv[1], "awscli"))) {
        bool cli = !strcmp(argv[1], "awscli");
        const char *why = live_prereq(cli);
        if (why) {
            printf("SKIP %s: %s\n", argv[1], why);
            return SKIP_CODE;
        }
        if (!live_start())
            return 1;
        int rc = cli ? akt_run(awscli_cases, 1, argc - 1, argv + 1)
                     : akt_run(server_cases, sizeof server_cases / sizeof server_cases[0],
                               argc - 1, argv + 1);
        live_stop();
        return rc;
    }
    return akt_run(unit_cases, sizeof unit_cases / sizeof unit_cases[0], argc, argv);
}
