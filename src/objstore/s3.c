/*
 * s3.c - the S3 client of objstore.h: configuration as the AWS CLI resolves
 * it, one request path over libcurl (SigV4 signing by libcurl, a SHA-256
 * payload hash computed here, bounded retries with backoff for the
 * idempotent operations), and put / get / head / delete / list on top.
 *
 * Responses go to one of three sinks: a growing buffer with a limit, a file
 * opened through the file-I/O layer's atomic replace (truncated again before
 * a retry), or nothing.  An error answer (status >= 300) never reaches the
 * sink: its body is kept (up to 64 KiB) for its Code and Message.
 */
#include "objstore/objstore.h"
#include "common/fileio.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ERR_BODY_MAX (64 * 1024)

struct ak_s3 {
    char *endpoint, *region, *bucket, *access_key, *secret_key, *session_token;
    bool path_style;
    int max_attempts, retry_base_ms;
    long connect_timeout_s, stall_timeout_s;
    char *sigv4, *userpwd;
    CURL *curl;
    char *last_req;
    int last_attempts;
    unsigned jitter_seed;
};

/* ---- configuration ---------------------------------------------------------- */

/* Each lookup below stores a new string or NULL (absent) and returns false
 * only when out of memory, so that a failed allocation never falls through
 * to a different source. */
static bool dup_to(const char *v, char **out)
{
    *out = v ? ak_strdup(v) : NULL;
    return !v || *out;
}

static bool env_get(const char *name, char **out)
{
    const char *v = name ? getenv(name) : NULL;
    return dup_to(v && *v ? v : NULL, out);
}

/* The value of key for the profile in one of the AWS CLI's files (a missing
 * or unreadable file is an absent value). */
static bool profile_get(const char *profile, const char *key, bool creds, char **out)
{
    char path[4096], section[256];
    const char *home = getenv("HOME");
    const char *file = getenv(creds ? "AWS_SHARED_CREDENTIALS_FILE" : "AWS_CONFIG_FILE");
    *out = NULL;
    if (file && *file)
        snprintf(path, sizeof path, "%s", file);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.aws/%s", home, creds ? "credentials" : "config");
    else
        return true;
    if (creds || strcmp(profile, "default") == 0)
        snprintf(section, sizeof section, "%s", profile);
    else
        snprintf(section, sizeof section, "profile %s", profile);
    char *text = NULL;
    size_t len;
    akidb_status st = ak_read_file(path, 1 << 20, &text, &len);
    if (st == AKIDB_OK) {
        st = ak_s3_ini_get(text, len, section, key, out);
        ak_free(text);
    }
    if (st == AKIDB_ENOMEM)
        return false;
    ak_clear_error();
    return true;
}

/* Credentials file, then config file (the CLI reads keys from both). */
static bool profile_cred(const char *profile, const char *key, char **out)
{
    if (!profile_get(profile, key, true, out))
        return false;
    return *out || profile_get(profile, key, false, out);
}

/* explicit value, else the first variable set, else the profile's key. */
static bool lookup(const char *explicit_value, const char *env1, const char *env2,
                   const char *profile, const char *key, char **out)
{
    if (explicit_value)
        return dup_to(explicit_value, out);
    if (!env_get(env1, out))
        return false;
    if (!*out && !env_get(env2, out))
        return false;
    return *out || !key || profile_get(profile, key, false, out);
}

static akidb_status resolve(ak_s3 *s, const ak_s3_config *c)
{
    char *prof = NULL;
    if (!lookup(c->profile, "AWS_PROFILE", NULL, NULL, NULL, &prof))
        return ak_fail(AKIDB_ENOMEM, "s3 open: out of memory");
    const char *profile = prof ? prof : "default";
    bool ok = lookup(c->region, "AWS_REGION", "AWS_DEFAULT_REGION", profile, "region",
                     &s->region);
    if (ok && !s->region)
        ok = dup_to("us-east-1", &s->region);
    ok = ok && lookup(c->endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", profile,
                      "endpoint_url", &s->endpoint);
    bool custom = s->endpoint != NULL;
    if (ok && !s->endpoint) {
        size_t n = strlen(s->region) + 32;
        if ((s->endpoint = ak_malloc(n)))
            snprintf(s->endpoint, n, "https://s3.%s.amazonaws.com", s->region);
        ok = s->endpoint != NULL;
    }

    bool env_creds = getenv("AWS_ACCESS_KEY_ID") && getenv("AWS_SECRET_ACCESS_KEY");
    if (!ok) {
        /* out of memory above */
    } else if (c->access_key || c->secret_key) {
        ok = dup_to(c->access_key, &s->access_key) && dup_to(c->secret_key, &s->secret_key) &&
             dup_to(c->session_token, &s->session_token);
    } else if (env_creds) {
        ok = env_get("AWS_ACCESS_KEY_ID", &s->access_key) &&
             env_get("AWS_SECRET_ACCESS_KEY", &s->secret_key) &&
             (c->session_token ? dup_to(c->session_token, &s->session_token)
                               : env_get("AWS_SESSION_TOKEN", &s->session_token));
    } else {
        ok = profile_cred(profile, "aws_access_key_id", &s->access_key) &&
             profile_cred(profile, "aws_secret_access_key", &s->secret_key) &&
             (c->session_token ? dup_to(c->session_token, &s->session_token)
                               : profile_cred(profile, "aws_session_token", &s->session_token));
    }
    if (s->session_token && !*s->session_token) {
        ak_free(s->session_token);
        s->session_token = NULL;
    }

    if (ok && c->path_style >= 0) {
        s->path_style = c->path_style != 0;
    } else if (ok) {
        char *style = NULL;
        ok = profile_get(profile, "s3.addressing_style", false, &style);
        if (style && strcmp(style, "path") == 0)
            s->path_style = true;
        else if (style && strcmp(style, "virtual") == 0)
            s->path_style = false;
        else
            s->path_style = custom;
        ak_free(style);
    }

    akidb_status st = AKIDB_OK;
    if (!ok)
        st = ak_fail(AKIDB_ENOMEM, "s3 open: out of memory");
    else if (!s->access_key || !s->secret_key || !*s->access_key || !*s->secret_key)
        st = ak_fail(AKIDB_EINVAL,
                     "s3 open bucket '%s': no credentials (set AWS_ACCESS_KEY_ID and "
                     "AWS_SECRET_ACCESS_KEY, or profile '%s' in ~/.aws/credentials)",
                     c->bucket, profile);
    ak_free(prof);
    return st;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

akidb_status ak_s3_open(const ak_s3_config *c, ak_s3 **out)
{
    *out = NULL;
    if (!c->bucket || !*c->bucket)
        return ak_fail(AKIDB_EINVAL, "s3 open: no bucket named");
    for (const char *p = c->bucket; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '.'))
            return ak_fail(AKIDB_EINVAL, "s3 open: bucket name '%s' has '%c' (want a-z 0-9 . -)",
                           c->bucket, *p);
    pthread_once(&curl_once, curl_init_once);
    ak_s3 *s = ak_calloc(1, sizeof *s);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "s3 open: out of memory");
    s->bucket = ak_strdup(c->bucket);
    akidb_status st = s->bucket ? resolve(s, c) : ak_fail(AKIDB_ENOMEM, "s3 open: out of memory");
    s->max_attempts = c->max_attempts > 0 ? c->max_attempts : 4;
    s->retry_base_ms = c->retry_base_ms > 0 ? c->retry_base_ms : 200;
    s->connect_timeout_s = c->connect_timeout_s > 0 ? c->connect_timeout_s : 10;
    s->stall_timeout_s = c->stall_timeout_s > 0 ? c->stall_timeout_s : 60;
    s->jitter_seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)s;
    if (st == AKIDB_OK) {
        size_t n1 = strlen(s->region) + 16, n2 = strlen(s->access_key) +
                                                 strlen(s->secret_key) + 2;
        s->sigv4 = ak_malloc(n1);
        s->userpwd = ak_malloc(n2);
        s->curl = curl_easy_init();
        if (!s->sigv4 || !s->userpwd || !s->curl) {
            st = ak_fail(AKIDB_ENOMEM, "s3 open: out of memory");
        } else {
            snprintf(s->sigv4, n1, "aws:amz:%s:s3", s->region);
            snprintf(s->userpwd, n2, "%s:%s", s->access_key, s->secret_key);
        }
    }
    if (st != AKIDB_OK) {
        ak_s3_close(s);
        return st;
    }
    *out = s;
    return AKIDB_OK;
}

void ak_s3_close(ak_s3 *s)
{
    if (!s)
        return;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    char *strs[] = { s->endpoint, s->region, s->bucket, s->access_key, s->secret_key,
                     s->session_token, s->sigv4, s->userpwd, s->last_req };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        ak_free(strs[i]);
    ak_free(s);
}

const char *ak_s3_last_request(const ak_s3 *s) { return s->last_req ? s->last_req : ""; }
int ak_s3_last_attempts(const ak_s3 *s) { return s->last_attempts; }
const char *ak_s3_endpoint(const ak_s3 *s) { return s->endpoint; }
const char *ak_s3_region(const ak_s3 *s) { return s->region; }
bool ak_s3_path_style(const ak_s3 *s) { return s->path_style; }
const char *ak_s3_access_key(const ak_s3 *s) { return s->access_key; }
const char *ak_s3_session_token(const ak_s3 *s) { return s->session_token; }

/* ---- one request -------------------------------------------------------------- */

enum sink_kind { SINK_NONE, SINK_BUF, SINK_FD };

typedef struct req {
    ak_s3 *s;
    const char *op, *method, *key, *query;
    /* body: a buffer, or a file read with pread */
    const char *body;
    int body_fd;
    uint64_t body_len, body_off;
    const char *body_path;
    char payload_sha[65];
    bool if_none_match, idempotent;
    /* response */
    enum sink_kind sink;
    char *buf;
    size_t len, cap, max;
    int fd;
    const char *fd_path;
    akidb_status sink_st;      /* a failure of the sink (too long, disk) */
    char *err;
    size_t err_len;
    long http;
    char etag[72];
} req;

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    req *r = ud;
    uint64_t left = r->body_len - r->body_off;
    size_t want = size * nmemb;
    if (want > left)
        want = (size_t)left;
    if (!want)
        return 0;
    if (r->body) {
        memcpy(dst, r->body + r->body_off, want);
    } else {
        ssize_t got;
        do
            got = pread(r->body_fd, dst, want, (off_t)r->body_off);
        while (got < 0 && errno == EINTR);
        if (got <= 0) {     /* the file shrank or failed under us */
            r->sink_st = ak_fail(AKIDB_EIO, "s3 %s %s/%s: read %s: %s", r->op, r->s->bucket,
                                 r->key, r->body_path,
                                 got < 0 ? strerror(errno) : "file shrank while sending");
            return CURL_READFUNC_ABORT;
        }
        want = (size_t)got;
    }
    r->body_off += want;
    return want;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    req *r = ud;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    r->body_off = (uint64_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    req *r = ud;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(r->s->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 300 || r->sink == SINK_NONE) {   /* error body: keep the start */
        size_t keep = r->err_len < ERR_BODY_MAX ? ERR_BODY_MAX - r->err_len : 0;
        if (keep > n)
            keep = n;
        if (keep) {
            char *e = ak_realloc(r->err, r->err_len + keep + 1);
            if (!e)
                return n;   /* the message will lack the body, nothing worse */
            memcpy(e + r->err_len, data, keep);
            r->err = e;
            r->err_len += keep;
            e[r->err_len] = '\0';
        }
        return n;
    }
    if (r->sink == SINK_FD) {
        akidb_status st = ak_io_write_all(r->fd, data, n, r->fd_path);
        if (st != AKIDB_OK) {
            r->sink_st = ak_fail_prefix(st, "s3 get %s/%s", r->s->bucket, r->key);
            return 0;
        }
        return n;
    }
    if (n > r->max - r->len) {
        r->sink_st = ak_fail(AKIDB_ETOOLONG, "s3 get %s/%s: object larger than the limit of %zu bytes",
                             r->s->bucket, r->key, r->max);
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *b = ak_realloc(r->buf, cap);
        if (!b) {
            r->sink_st = ak_fail(AKIDB_ENOMEM, "s3 get %s/%s: out of memory", r->s->bucket, r->key);
            return 0;
        }
        r->buf = b;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    req *r = ud;
    size_t n = size * nmemb;
    if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
        const char *b = data + 5, *e = data + n;
        while (b < e && (*b == ' ' || *b == '\t' || *b == '"'))
            b++;
        while (e > b && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '"'))
            e--;
        size_t k = (size_t)(e - b) < sizeof r->etag ? (size_t)(e - b) : sizeof r->etag - 1;
        memcpy(r->etag, b, k);
        r->etag[k] = '\0';
    }
    return n;
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t n, void *ud)
{
    (void)h;
    ak_s3 *s = ud;
    if (type != CURLINFO_HEADER_OUT)
        return 0;
    char *c = ak_malloc(n + 1);
    if (c) {
        memcpy(c, data, n);
        c[n] = '\0';
        ak_free(s->last_req);
        s->last_req = c;
    }
    return 0;
}

/* Resets the response state before an attempt. */
static akidb_status reset_attempt(req *r)
{
    r->len = 0;
    r->err_len = 0;
    r->body_off = 0;
    r->etag[0] = '\0';
    r->sink_st = AKIDB_OK;
    if (r->sink == SINK_FD)
        return ak_io_truncate(r->fd, 0, r->fd_path);
    return AKIDB_OK;
}

static void backoff(ak_s3 *s, int attempt)
{
    long ms = (long)s->retry_base_ms << (attempt - 1 < 10 ? attempt - 1 : 10);
    if (ms > 5000)
        ms = 5000;
    ms += rand_r(&s->jitter_seed) % (ms / 2 + 1);     /* jitter spreads clients retrying together */
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The message for a failed answer; returns its status. */
static akidb_status answer_error(req *r, int attempts)
{
    char code[128], msg[512];
    ak_s3_parse_error(r->err, r->err_len, code, sizeof code, msg, sizeof msg);
    akidb_status st = ak_s3_error_status(r->http, code);
    const char *key = r->key ? r->key : "";
    char tries[48] = "";
    if (attempts > 1)
        snprintf(tries, sizeof tries, " (after %d attempts)", attempts);
    if (!code[0] && r->http == 404 && !r->key)
        snprintf(code, sizeof code, "NoSuchBucket");
    if (!code[0])
        snprintf(code, sizeof code, "%s", r->http == 404 ? "NotFound" : "no error code");
    if (!strcmp(code, "NoSuchBucket") && !msg[0])
        snprintf(msg, sizeof msg, "bucket '%s' does not exist", r->s->bucket);
    return ak_fail(st, "s3 %s %s/%s: HTTP %ld %s%s%s%s", r->op, r->s->bucket, key, r->http,
                   code, msg[0] ? ": " : "", msg, tries);
}

static akidb_status perform(req *r)
{
    ak_s3 *s = r->s;
    char *url = NULL;
    akidb_status st = ak_s3_build_url(s->endpoint, s->bucket, s->path_style, r->key, r->query, &url);
    if (st != AKIDB_OK)
        return st;
    struct curl_slist *h = NULL, *t;
    char line[4096];
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", r->payload_sha);
    h = curl_slist_append(h, line);
    if (s->session_token) {
        int k = snprintf(line, sizeof line, "x-amz-security-token: %s", s->session_token);
        if (k > 0 && (size_t)k < sizeof line && h && (t = curl_slist_append(h, line)))
            h = t;
        else
            h = (curl_slist_free_all(h), NULL);
    }
    if (h && r->if_none_match)
        h = (t = curl_slist_append(h, "If-None-Match: *")) ? t : (curl_slist_free_all(h), NULL);
    if (!h) {
        ak_free(url);
        return ak_fail(AKIDB_ENOMEM, "s3 %s: out of memory", r->op);
    }

    CURL *c = s->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(c, CURLOPT_USERPWD, s->userpwd);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, s->connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s->stall_timeout_s);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, s);
    if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
    } else if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }

    int attempt = 0;
    for (;;) {
        attempt++;
        s->last_attempts = attempt;
        st = reset_attempt(r);
        if (st != AKIDB_OK)
            break;
        CURLcode cc = curl_easy_perform(c);
        r->http = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->http);
        if (r->sink_st != AKIDB_OK) {
            st = r->sink_st;
            break;
        }
        if (cc == CURLE_OK && r->http >= 200 && r->http < 300) {
            st = AKIDB_OK;
            break;
        }
        bool retry = cc != CURLE_OK || r->http >= 500 || r->http == 429;
        bool last = !retry || !r->idempotent || attempt >= s->max_attempts;
        if (last && cc != CURLE_OK) {
            char tries[48] = "";
            if (attempt > 1)
                snprintf(tries, sizeof tries, " (after %d attempts)", attempt);
            st = ak_fail(AKIDB_EIO, "s3 %s %s/%s: %s (%s)%s", r->op, s->bucket,
                         r->key ? r->key : "", curl_easy_strerror(cc), s->endpoint, tries);
        } else if (last) {
            st = answer_error(r, attempt);
        }
        if (last)
            break;
        backoff(s, attempt);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(h);
    ak_free(url);
    return st;
}

static void req_init(req *r, ak_s3 *s, const char *op, const char *method, const char *key)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->op = op;
    r->method = method;
    r->key = key;
    r->body_fd = -1;
    r->fd = -1;
    r->idempotent = true;
    memcpy(r->payload_sha, EMPTY_SHA256, sizeof EMPTY_SHA256);
}

static akidb_status check_key(const ak_s3 *s, const char *op, const char *key)
{
    if (!key || !*key || strlen(key) > 1024)
        return ak_fail(AKIDB_EINVAL, "s3 %s %s/%s: a key is 1 to 1024 bytes", op, s->bucket,
                       key ? key : "(null)");
    return AKIDB_OK;
}

/* ---- operations ------------------------------------------------------------------ */

static void sha256_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(md, d, &dl);
    ak_hex_encode(d, 32, out);
}

akidb_status ak_s3_put(ak_s3 *s, const char *key, const void *data, size_t len,
                       unsigned flags)
{
    akidb_status st = check_key(s, "put", key);
    if (st != AKIDB_OK)
        return st;
    req r;
    req_init(&r, s, "put", "PUT", key);
    r.body = len ? data : "";
    r.body_len = len;
    r.if_none_match = flags & AK_S3_IF_NONE_MATCH;
    r.idempotent = !r.if_none_match;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) || !EVP_DigestUpdate(md, r.body, len)) {
        EVP_MD_CTX_free(md);
        return ak_fail(AKIDB_ENOMEM, "s3 put %s/%s: sha256 failed", s->bucket, key);
    }
    sha256_hex(md, r.payload_sha);
    EVP_MD_CTX_free(md);
    st = perform(&r);
    ak_free(r.err);
    return st;
}

/* SHA-256 of the open file's len bytes. */
static akidb_status file_sha256(int fd, uint64_t len, const char *path, char out[65])
{
    size_t cap = 1 << 20;
    char *buf = ak_malloc(cap);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    akidb_status st = AKIDB_OK;
    if (!buf || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        st = ak_fail(AKIDB_ENOMEM, "s3 put: hashing %s: out of memory", path);
    for (uint64_t off = 0; st == AKIDB_OK && off < len;) {
        size_t want = len - off < cap ? (size_t)(len - off) : cap;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            st = ak_fail(AKIDB_EIO, "s3 put: read %s: %s", path,
                         got < 0 ? strerror(errno) : "file shrank while hashing");
        else {
            EVP_DigestUpdate(md, buf, (size_t)got);
            off += (uint64_t)got;
        }
    }
    if (st == AKIDB_OK)
        sha256_hex(md, out);
    EVP_MD_CTX_free(md);
    ak_free(buf);
    return st;
}

akidb_status ak_s3_put_file(ak_s3 *s, const char *key, const char *path, unsigned flags)
{
    akidb_status st = check_key(s, "put", key);
    if (st != AKIDB_OK)
        return st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ak_fail(ak_io_status(errno), "s3 put %s/%s: open %s: %s", s->bucket, key, path,
                       strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ak_fail(AKIDB_EINVAL, "s3 put %s/%s: %s is not a regular file", s->bucket, key,
                       path);
    }
    req r;
    req_init(&r, s, "put", "PUT", key);
    r.body_fd = fd;
    r.body_path = path;
    r.body_len = (uint64_t)sb.st_size;
    r.if_none_match = flags & AK_S3_IF_NONE_MATCH;
    r.idempotent = !r.if_none_match;
    st = file_sha256(fd, r.body_len, path, r.payload_sha);
    if (st == AKIDB_OK)
        st = perform(&r);
    ak_free(r.err);
    close(fd);
    return st;
}

akidb_status ak_s3_get(ak_s3 *s, const char *key, size_t max, void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    akidb_status st = check_key(s, "get", key);
    if (st != AKIDB_OK)
        return st;
    req r;
    req_init(&r, s, "get", "GET", key);
    r.sink = SINK_BUF;
    r.max = max;
    st = perform(&r);
    ak_free(r.err);
    if (st == AKIDB_OK && !r.buf) {      /* an empty object */
        r.buf = ak_malloc(1);
        if (!r.buf)
            st = ak_fail(AKIDB_ENOMEM, "s3 get %s/%s: out of memory", s->bucket, key);
        else
            r.buf[0] = '\0';
    }
    if (st != AKIDB_OK) {
        ak_free(r.buf);
        return st;
    }
    *data = r.buf;
    *len = r.len;
    return AKIDB_OK;
}

akidb_status ak_s3_get_file(ak_s3 *s, const char *key, const char *path)
{
    akidb_status st = check_key(s, "get", key);
    if (st != AKIDB_OK)
        return st;
    ak_io_replace rep;
    st = ak_io_replace_begin(&rep, path, 0644);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "s3 get %s/%s", s->bucket, key);
    req r;
    req_init(&r, s, "get", "GET", key);
    r.sink = SINK_FD;
    r.fd = rep.fd;
    r.fd_path = rep.tmp;
    st = perform(&r);
    ak_free(r.err);
    if (st != AKIDB_OK) {
        ak_io_replace_abort(&rep);
        return st;
    }
    st = ak_io_replace_commit(&rep, true);
    return st == AKIDB_OK ? st : ak_fail_prefix(st, "s3 get %s/%s", s->bucket, key);
}

akidb_status ak_s3_head(ak_s3 *s, const char *key, ak_s3_stat *out)
{
    memset(out, 0, sizeof *out);
    akidb_status st = check_key(s, "head", key);
    if (st != AKIDB_OK)
        return st;
    req r;
    req_init(&r, s, "head", "HEAD", key);
    st = perform(&r);
    ak_free(r.err);
    if (st != AKIDB_OK)
        return st;
    curl_off_t cl = -1;
    curl_easy_getinfo(s->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl < 0)
        return ak_fail(AKIDB_EFORMAT, "s3 head %s/%s: the answer has no Content-Length",
                       s->bucket, key);
    out->size = (uint64_t)cl;
    memcpy(out->etag, r.etag, sizeof out->etag);
    return AKIDB_OK;
}

akidb_status ak_s3_delete(ak_s3 *s, const char *key)
{
    akidb_status st = check_key(s, "delete", key);
    if (st != AKIDB_OK)
        return st;
    req r;
    req_init(&r, s, "delete", "DELETE", key);
    st = perform(&r);
    ak_free(r.err);
    return st;
}

akidb_status ak_s3_list_keys(ak_s3 *s, const char *prefix, int page_size, ak_s3_list *out)
{
    char *token = NULL;
    akidb_status st = AKIDB_OK;
    char *q = NULL;
    for (;;) {
        /* query parameters sorted by name, values encoded (the canonical form) */
        size_t qcap = 96 + 3 * (token ? strlen(token) : 0) + 3 * (prefix ? strlen(prefix) : 0);
        ak_free(q);
        q = ak_malloc(qcap);
        if (!q) {
            st = ak_fail(AKIDB_ENOMEM, "s3 list %s: out of memory", s->bucket);
            break;
        }
        size_t n = 0;
        if (token) {
            n = (size_t)snprintf(q, qcap, "continuation-token=");
            ak_s3_uri_encode(token, false, q, qcap, &n);
            q[n++] = '&';
        }
        n += (size_t)snprintf(q + n, qcap - n, "list-type=2");
        if (page_size > 0)
            n += (size_t)snprintf(q + n, qcap - n, "&max-keys=%d", page_size);
        if (prefix && *prefix) {
            n += (size_t)snprintf(q + n, qcap - n, "&prefix=");
            ak_s3_uri_encode(prefix, false, q, qcap, &n);
        }
        req r;
        req_init(&r, s, "list", "GET", NULL);
        r.query = q;
        r.sink = SINK_BUF;
        r.max = 64u << 20;
        st = perform(&r);
        ak_free(r.err);
        bool truncated = false;
        ak_free(token);
        token = NULL;
        if (st == AKIDB_OK)
            st = ak_s3_parse_list(r.buf ? r.buf : "", r.len, out, &truncated, &token);
        ak_free(r.buf);
        if (st != AKIDB_OK) {
            if (st == AKIDB_EFORMAT)
                ak_fail_prefix(st, "s3 list %s", s->bucket);
            break;
        }
        if (!truncated)
            break;
    }
    ak_free(token);
    ak_free(q);
    return st;
}

void ak_s3_list_free(ak_s3_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        ak_free(l->v[i].key);
    ak_free(l->v);
    memset(l, 0, sizeof *l);
}
