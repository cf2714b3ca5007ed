/*
 * srvtest.h - helpers shared by the server and pull tests: temporary
 * folders, a staged tiny model folder (the committed random-weight golden
 * model plus the real MiniLM tokenizer files), and a small libcurl HTTP
 * client that returns status, body and parsed JSON.  Header-only (static
 * functions) so each test binary stays a single translation unit.
 */
#ifndef AKIDB_SRVTEST_H
#define AKIDB_SRVTEST_H

#include <curl/curl.h>
#include <ftw.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int st_quick(void)
{
    const char *q = getenv("AKIDB_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

static inline const char *st_src_dir(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

/* A new empty folder under $TMPDIR (or /tmp); caller frees the string. */
static inline char *st_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *p = malloc(512);
    snprintf(p, 512, "%s/akidb_%s_XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        abort();
    }
    return p;
}

static inline int st_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes a folder tree and frees the string. */
static inline void st_rmtree(char *dir)
{
    if (!dir)
        return;
    nftw(dir, st_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static inline int st_copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb");
    if (!a)
        return -1;
    FILE *b = fopen(to, "wb");
    if (!b) {
        fclose(a);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        fwrite(buf, 1, n, b);
    fclose(a);
    return fclose(b);
}

static inline int st_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* The files of a staged tiny model, relative to its folder. */
static const char *const st_model_files[] = {
    "config.json", "model.safetensors", "modules.json", "sentence_bert_config.json",
    "1_Pooling/config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    "special_tokens_map.json",
};
#define ST_N_MODEL_FILES (sizeof st_model_files / sizeof st_model_files[0])

/* Stages the tiny test model (dim 32) into dir (created).  max_seq > 0
 * replaces sentence_bert_config.json's max_seq_length.  Returns 0 on
 * success. */
static inline int st_stage_model(const char *dir, int max_seq)
{
    char from[1024], to[1024];
    mkdir(dir, 0755);
    snprintf(to, sizeof to, "%s/1_Pooling", dir);
    mkdir(to, 0755);
    for (size_t i = 0; i < ST_N_MODEL_FILES; i++) {
        const char *f = st_model_files[i];
        int tok = strncmp(f, "tokenizer", 9) == 0 || strcmp(f, "vocab.txt") == 0 ||
                  strcmp(f, "special_tokens_map.json") == 0;
        snprintf(from, sizeof from, "%s/%s/%s", st_src_dir(),
                 tok ? "tests/data/minilm" : "tests/golden/tiny/tiny_f16", f);
        snprintf(to, sizeof to, "%s/%s", dir, f);
        if (st_copy_file(from, to) != 0) {
            fprintf(stderr, "cannot copy %s\n", from);
            return -1;
        }
    }
    if (max_seq > 0) {
        char txt[128];
        snprintf(txt, sizeof txt, "{\"max_seq_length\": %d, \"do_lower_case\": false}\n", max_seq);
        snprintf(to, sizeof to, "%s/sentence_bert_config.json", dir);
        if (st_write_file(to, txt) != 0)
            return -1;
    }
    return 0;
}

/* ---- HTTP client ---------------------------------------------------------- */

typedef struct st_resp {
    long status;
    char *body;
    size_t len;
    json_t *json;       /* parsed body when it is JSON, else NULL */
    char ctype[128];
    char retry_after[16];
    int curl_error;     /* CURLcode when the transfer failed */
} st_resp;

static inline size_t st_write_cb(char *p, size_t sz, size_t n, void *ud)
{
    st_resp *r = ud;
    size_t add = sz * n;
    char *b = realloc(r->body, r->len + add + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, add);
    r->body = b;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static inline size_t st_header_cb(char *p, size_t sz, size_t n, void *ud)
{
    st_resp *r = ud;
    size_t len = sz * n;
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0)
        snprintf(r->ctype, sizeof r->ctype, "%.*s", (int)(len - 13), p + 13);
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
        snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)(len - 12), p + 12);
    return len;
}

static inline void st_resp_free(st_resp *r)
{
    free(r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

/* Sends one request to http://127.0.0.1:port + path.  key (may be NULL) goes
 * in "Authorization: Bearer".  body may be NULL; len -1 means strlen. */
static inline st_resp st_http(int port, const char *method, const char *path, const char *key,
                       const char *body, long len)
{
    st_resp r;
    memset(&r, 0, sizeof r);
    CURL *c = curl_easy_init();
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    struct curl_slist *h = NULL;
    char auth[512];
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(len < 0 ? (long)strlen(body) : len));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, st_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, st_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    r.curl_error = (int)rc;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (r.body)
        r.json = json_loadb(r.body, r.len, 0, NULL);
    return r;
}

/* The "code" of an {"error":{...}} body, or "". */
static inline const char *st_err_code(const st_resp *r)
{
    json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
    json_t *c = e ? json_object_get(e, "code") : NULL;
    return json_is_string(c) ? json_string_value(c) : "";
}

#endif
