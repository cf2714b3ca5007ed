/*
 * objstore.h - the object-storage client: a small S3 client over libcurl
 * that the storage tier uses to keep segments and segment lists in an
 * S3-compatible bucket (AWS S3, MinIO, Ceph RGW, s3rver).
 *
 * A handle (ak_s3) holds one bucket's endpoint, region, addressing style and
 * credentials, and one curl handle whose connection is kept alive between
 * requests.  Requests are signed with AWS Signature Version 4 by libcurl
 * (CURLOPT_AWS_SIGV4 "aws:amz:<region>:s3"); the payload hash sent in
 * x-amz-content-sha256 and signed is the real SHA-256 of the body (of the
 * empty string for requests without one), so the server rejects a body that
 * was changed or cut on the way even over plain HTTP.  An upload from a file
 * reads the file twice (hash, then send) for that.
 *
 * Configuration comes from the caller, else as the AWS CLI finds it:
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_REGION
 * (then AWS_DEFAULT_REGION), AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, then the
 * profile named by AWS_PROFILE (or "default") in ~/.aws/credentials
 * ([name]) and ~/.aws/config ([default] / [profile name]; keys region,
 * endpoint_url, aws_access_key_id, aws_secret_access_key,
 * aws_session_token, s3 = addressing_style); AWS_SHARED_CREDENTIALS_FILE
 * and AWS_CONFIG_FILE move the files.
 *
 * Errors: every failure returns a status and a message naming the
 * operation, the bucket/key and the reason: the S3 error Code and Message
 * of the response body, or curl's error.  NoSuchKey / NoSuchBucket / 404
 * give AKIDB_ENOENT; AccessDenied, SignatureDoesNotMatch,
 * InvalidAccessKeyId and other 401 / 403 give AKIDB_EPERM; 412
 * (PreconditionFailed) gives AKIDB_EEXIST; network failures and 5xx give
 * AKIDB_EIO.  5xx, 429 and network failures are retried with exponential
 * backoff (max_attempts in all) by the idempotent operations: get, head,
 * delete, list, and put unless it is conditional.
 *
 * A handle is used by one thread at a time.
 */
#ifndef AKIDB_OBJSTORE_H
#define AKIDB_OBJSTORE_H

#include "common/common.h"

typedef struct ak_s3 ak_s3;

typedef struct ak_s3_config {
    const char *endpoint;       /* "http://127.0.0.1:9000"; NULL: environment
                                 * / profile, else https://s3.<region>.amazonaws.com */
    const char *region;         /* NULL: environment / profile, else us-east-1 */
    const char *bucket;         /* required */
    int path_style;             /* 1: <endpoint>/<bucket>/<key>;
                                 * 0: <bucket>.<endpoint host>/<key>;
                                 * -1: the profile's s3 addressing_style, else
                                 * path style for any endpoint but AWS's */
    const char *access_key;     /* NULL: environment, then the profile */
    const char *secret_key;
    const char *session_token;  /* NULL: environment / profile; "" none */
    const char *profile;        /* NULL: $AWS_PROFILE, else "default" */
    int max_attempts;           /* 0: 4 */
    int retry_base_ms;          /* first backoff; doubles per attempt; 0: 200 */
    long connect_timeout_s;     /* 0: 10 */
    long stall_timeout_s;       /* a transfer slower than 1 byte/s for this
                                 * long fails; 0: 60 */
} ak_s3_config;

#define AK_S3_CONFIG_INIT { NULL, NULL, NULL, -1, NULL, NULL, NULL, NULL, 0, 0, 0, 0 }

/* Resolves the configuration (see above) and opens a handle.  EINVAL names
 * what is missing (bucket, credentials). */
akidb_status ak_s3_open(const ak_s3_config *cfg, ak_s3 **out);
void ak_s3_close(ak_s3 *s);

/* put flags */
#define AK_S3_IF_NONE_MATCH 1u  /* If-None-Match: *: fail with AKIDB_EEXIST if
                                 * the key exists (AWS S3 and MinIO honour it;
                                 * s3rver ignores it); never retried */

/* Stores len bytes under key. */
akidb_status ak_s3_put(ak_s3 *s, const char *key, const void *data, size_t len,
                       unsigned flags);
/* Stores the content of the file at path, streamed. */
akidb_status ak_s3_put_file(ak_s3 *s, const char *key, const char *path, unsigned flags);

/* Reads the object into a new buffer (ak_free; NUL-terminated after len
 * bytes).  ETOOLONG if it is larger than max bytes. */
akidb_status ak_s3_get(ak_s3 *s, const char *key, size_t max, void **data, size_t *len);
/* Writes the object to path through the file-I/O layer's atomic replace:
 * path gets the whole object or keeps what it had. */
akidb_status ak_s3_get_file(ak_s3 *s, const char *key, const char *path);

typedef struct ak_s3_stat {
    uint64_t size;
    char etag[72];              /* as sent, quotes removed */
} ak_s3_stat;
akidb_status ak_s3_head(ak_s3 *s, const char *key, ak_s3_stat *st);

/* Deletes key; a missing key is not an error (S3 answers 204 either way). */
akidb_status ak_s3_delete(ak_s3 *s, const char *key);

typedef struct ak_s3_object {
    char *key;
    uint64_t size;
    char etag[72];
} ak_s3_object;

typedef struct ak_s3_list {
    ak_s3_object *v;
    size_t n, cap;
} ak_s3_list;

/* Lists every key starting with prefix (NULL: all) in key order through
 * ListObjectsV2, following continuation tokens; page_size 0 lets the server
 * choose (1000).  Appends to out (zero it first); ak_s3_list_free frees. */
akidb_status ak_s3_list_keys(ak_s3 *s, const char *prefix, int page_size, ak_s3_list *out);
void ak_s3_list_free(ak_s3_list *l);

/* ---- introspection, for tests and diagnostics ------------------------------ */

/* The request line and headers of the last request sent, as sent. */
const char *ak_s3_last_request(const ak_s3 *s);
/* Attempts the last operation made (1 unless it was retried). */
int ak_s3_last_attempts(const ak_s3 *s);
/* Resolved settings. */
const char *ak_s3_endpoint(const ak_s3 *s);
const char *ak_s3_region(const ak_s3 *s);
bool ak_s3_path_style(const ak_s3 *s);
const char *ak_s3_access_key(const ak_s3 *s);
const char *ak_s3_session_token(const ak_s3 *s);   /* NULL: none */

/* ---- pure helpers (s3_parse.c), exposed for tests --------------------------- */

/* The value of key in [section] of an INI text as the AWS CLI reads
 * ~/.aws/credentials and ~/.aws/config ("key = value" lines, '#' and ';'
 * comments, a nested block "s3 =" followed by indented lines read as
 * "s3.addressing_style").  *out is a new string; ENOENT if absent. */
akidb_status ak_s3_ini_get(const char *text, size_t len, const char *section,
                           const char *key, char **out);

/* The URL of key (NULL: the bucket) with an optional query (already
 * encoded, sorted by name) as a new string.  Keys are percent-encoded except
 * for unreserved characters and '/'. */
akidb_status ak_s3_build_url(const char *endpoint, const char *bucket, bool path_style,
                             const char *key, const char *query, char **out);

/* Appends s percent-encoded (unreserved kept; '/' kept if keep_slash) to
 * buf of cap bytes at *n; false if it does not fit. */
bool ak_s3_uri_encode(const char *s, bool keep_slash, char *buf, size_t cap, size_t *n);

/* One ListObjectsV2 page: appends its objects to out; *truncated and
 * *next_token (a new string, NULL when absent) say whether and how to go
 * on.  EFORMAT naming what is wrong for a malformed body. */
akidb_status ak_s3_parse_list(const char *body, size_t len, ak_s3_list *out,
                              bool *truncated, char **next_token);

/* Code and Message of an S3 error body, into the buffers ("" if absent). */
void ak_s3_parse_error(const char *body, size_t len, char *code, size_t code_cap,
                       char *msg, size_t msg_cap);

/* The status for an HTTP status and S3 error code (see above). */
akidb_status ak_s3_error_status(long http, const char *code);

#endif
