/*
 * pull.c - the Hugging Face Hub downloader behind `akidb pull`.
 *
 * Steps: list the files of REPO at REVISION through the Hub API, keep the
 * ones the engine reads, and fetch each through /REPO/resolve/REV/FILE with
 * libcurl (redirects followed, e.g. to the LFS CDN).  A download goes to
 * FILE.part; when a .part exists the request asks for the rest with a Range
 * header and the sha256 continues over the bytes already there, so a broken
 * transfer costs only what was missing.  A finished file is checked against
 * the listed size and the listed LFS sha256 (or the X-Linked-Etag header of
 * the resolve answer), or for small git-stored files the git blob id, then
 * renamed into place.  A file already present with the right size and hash
 * is not downloaded again.
 */
#include "pull/pull.h"
#include "common/common.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct rfile {
    char *path;
    long long size;          /* -1: unknown                                    */
    char sha256[65];         /* "" unknown                                     */
    char git_oid[41];        /* "" unknown                                     */
} rfile;

typedef struct flist {
    rfile *v;
    size_t n, cap;
} flist;

typedef struct puller {
    const ak_pull_opts *o;
    char *endpoint;
    char *rev_enc;
    char auth[512];
    int attempts;
} puller;

/* Files the engine reads, besides weight shards named by the index: at the
 * top of the repository, and (by their names) in each module folder that
 * modules.json lists (1_Pooling/, 2_Dense/, a Transformer in 0_.../). */
static const char *const wanted[] = {
    "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
    "special_tokens_map.json", "added_tokens.json", "modules.json",
    "sentence_bert_config.json", "config_sentence_transformers.json",
    "1_Pooling/config.json", "model.safetensors", "model.safetensors.index.json",
    "sentencepiece.bpe.model", "spiece.model", "tokenizer.model", "vocab.json",
    "merges.txt",
};

/* The module folders of modules.json. */
typedef struct modlist {
    char **path;      /* without a trailing '/' */
    bool *dense;      /* a sentence_transformers Dense module */
    size_t n;
} modlist;

static void modlist_free(modlist *m)
{
    for (size_t i = 0; i < m->n; i++)
        ak_free(m->path[i]);
    ak_free(m->path);
    ak_free(m->dense);
    memset(m, 0, sizeof *m);
}

static void flist_free(flist *l)
{
    for (size_t i = 0; i < l->n; i++)
        ak_free(l->v[i].path);
    ak_free(l->v);
    memset(l, 0, sizeof *l);
}

static rfile *flist_add(flist *l, const char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        rfile *v = ak_realloc(l->v, cap * sizeof *v);
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    rfile *f = &l->v[l->n];
    memset(f, 0, sizeof *f);
    f->path = ak_strdup(path);
    if (!f->path)
        return NULL;
    f->size = -1;
    l->n++;
    return f;
}

static rfile *flist_find(flist *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            return &l->v[i];
    return NULL;
}

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* A relative path without "..", empty parts, backslashes or control
 * characters: safe to join under the destination folder. */
static bool safe_path(const char *p)
{
    if (!p[0] || p[0] == '/' || strlen(p) > 512)
        return false;
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '\\')
            return false;
    const char *seg = p;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!slash)
            return true;
        seg = slash + 1;
    }
}

/* Percent-encodes s; '/' is kept when keep_slash. */
static char *url_enc(const char *s, bool keep_slash)
{
    size_t n = strlen(s);
    char *o = ak_malloc(3 * n + 1);
    if (!o)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~' || (keep_slash && ch == '/')) {
            o[w++] = (char)ch;
        } else {
            snprintf(o + w, 4, "%%%02X", ch);
            w += 3;
        }
    }
    o[w] = '\0';
    return o;
}

static bool good_repo(const char *r)
{
    size_t n = strlen(r), slashes = 0;
    if (n == 0 || n > 200 || r[0] == '/' || r[n - 1] == '/' || r[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = r[i];
        if (ch == '/') {
            if (++slashes > 1 || r[i + 1] == '.')
                return false;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return strstr(r, "..") == NULL;
}

/* ---- HTTP -------------------------------------------------------------------------- */

typedef struct membuf {
    char *p;
    size_t len;
    size_t max;
} membuf;

static size_t mem_write(char *p, size_t sz, size_t n, void *ud)
{
    membuf *m = ud;
    size_t add = sz * n;
    if (m->len + add > m->max)
        return 0;
    char *q = ak_realloc(m->p, m->len + add + 1);
    if (!q)
        return 0;
    memcpy(q + m->len, p, add);
    m->p = q;
    m->len += add;
    m->p[m->len] = '\0';
    return add;
}

static struct curl_slist *base_headers(const puller *pl)
{
    struct curl_slist *h = curl_slist_append(NULL, "User-Agent: akidb/" AKIDB_VERSION_STRING);
    if (pl->auth[0])
        h = curl_slist_append(h, pl->auth);
    return h;
}

static void common_opts(CURL *c, const char *url)
{
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* Abort a transfer that stalls below 1 byte/s for 60 s; it resumes. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

static akidb_status http_status_fail(long code, const char *what)
{
    if (code == 404)
        return ak_fail(AKIDB_ENOENT, "%s: not found (HTTP 404)", what);
    if (code == 401 || code == 403)
        return ak_fail(AKIDB_EPERM,
                       "%s: access denied (HTTP %ld); the repository may be private or "
                       "gated: set HF_TOKEN", what, code);
    return ak_fail(AKIDB_EIO, "%s: HTTP %ld", what, code);
}

/* GETs url into *out (NUL-terminated). */
static akidb_status get_json(const puller *pl, const char *url, json_t **out, long *code)
{
    *out = NULL;
    *code = 0;
    CURL *c = curl_easy_init();
    if (!c)
        return ak_fail(AKIDB_ENOMEM, "curl_easy_init failed");
    membuf m = {NULL, 0, 64u << 20};
    struct curl_slist *h = base_headers(pl);
    common_opts(c, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    akidb_status st = AKIDB_OK;
    if (rc != CURLE_OK) {
        st = ak_fail(AKIDB_EIO, "%s: %s", url, curl_easy_strerror(rc));
    } else if (*code != 200) {
        st = http_status_fail(*code, url);
    } else {
        json_error_t err;
        *out = json_loadb(m.p ? m.p : "", m.len, 0, &err);
        if (!*out)
            st = ak_fail(AKIDB_EFORMAT, "%s: bad JSON: %s", url, err.text);
    }
    ak_free(m.p);
    return st;
}

/* Reads the LFS part of a Hub file entry into f: the sha256 (from key
 * first, else second; an optional "sha256:" prefix is dropped, anything but
 * 64 hex digits is ignored) and the size of the real file. */
static void read_lfs(json_t *lfs, const char *first, const char *second, rfile *f)
{
    json_t *sha = json_object_get(lfs, first);
    if (!json_is_string(sha))
        sha = json_object_get(lfs, second);
    const char *hs = json_is_string(sha) ? json_string_value(sha) : "";
    if (strncmp(hs, "sha256:", 7) == 0)
        hs += 7;
    if (is_hex(hs, 64))
        snprintf(f->sha256, sizeof f->sha256, "%s", hs);
    json_t *lsz = json_object_get(lfs, "size");
    if (json_is_integer(lsz))
        f->size = json_integer_value(lsz);
}

/* ---- listing ------------------------------------------------------------------------ */

static akidb_status list_files(puller *pl, flist *files)
{
    const ak_pull_opts *o = pl->o;
    size_t cap = strlen(pl->endpoint) + strlen(o->repo) + strlen(pl->rev_enc) + 128;
    char *url = ak_malloc(cap);
    if (!url)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    snprintf(url, cap, "%s/api/models/%s/revision/%s?blobs=true", pl->endpoint, o->repo,
             pl->rev_enc);
    json_t *j = NULL;
    long code;
    akidb_status st = get_json(pl, url, &j, &code);
    if (st == AKIDB_ENOENT || st == AKIDB_EPERM) {
        ak_fail_prefix(st, "repository '%s' at revision '%s'", o->repo,
                       o->revision ? o->revision : "main");
        ak_free(url);
        return st;
    }
    json_t *sib = j ? json_object_get(j, "siblings") : NULL;
    if (json_is_array(sib)) {
        size_t i;
        json_t *s;
        json_array_foreach(sib, i, s) {
            json_t *name = json_object_get(s, "rfilename");
            if (!json_is_string(name))
                continue;
            rfile *f = flist_add(files, json_string_value(name));
            if (!f) {
                st = ak_fail(AKIDB_ENOMEM, "out of memory");
                break;
            }
            json_t *sz = json_object_get(s, "size");
            if (json_is_integer(sz))
                f->size = json_integer_value(sz);
            json_t *blob = json_object_get(s, "blobId");
            if (json_is_string(blob) && is_hex(json_string_value(blob), 40))
                snprintf(f->git_oid, sizeof f->git_oid, "%s", json_string_value(blob));
            json_t *lfs = json_object_get(s, "lfs");
            if (json_is_object(lfs)) {
                read_lfs(lfs, "sha256", "oid", f);
                f->git_oid[0] = '\0';   /* the blob id is the pointer file's */
            }
        }
        json_decref(j);
        ak_free(url);
        return st;
    }
    json_decref(j);
    /* Fall back to the tree API. */
    snprintf(url, cap, "%s/api/models/%s/tree/%s?recursive=true", pl->endpoint, o->repo,
             pl->rev_enc);
    st = get_json(pl, url, &j, &code);
    ak_free(url);
    if (st != AKIDB_OK) {
        ak_fail_prefix(st, "listing '%s'", o->repo);
        return st;
    }
    if (!json_is_array(j)) {
        json_decref(j);
        return ak_fail(AKIDB_EFORMAT, "listing '%s': the Hub answered neither a file list "
                                      "nor a tree", o->repo);
    }
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
        json_t *type = json_object_get(e, "type"), *path = json_object_get(e, "path");
        if (!json_is_string(path) || (json_is_string(type) && strcmp(json_string_value(type), "file") != 0))
            continue;
        rfile *f = flist_add(files, json_string_value(path));
        if (!f) {
            json_decref(j);
            return ak_fail(AKIDB_ENOMEM, "out of memory");
        }
        json_t *sz = json_object_get(e, "size");
        if (json_is_integer(sz))
            f->size = json_integer_value(sz);
        json_t *oid = json_object_get(e, "oid");
        json_t *lfs = json_object_get(e, "lfs");
        if (json_is_object(lfs)) {
            read_lfs(lfs, "oid", "sha256", f);
        } else if (json_is_string(oid) && is_hex(json_string_value(oid), 40)) {
            snprintf(f->git_oid, sizeof f->git_oid, "%s", json_string_value(oid));
        }
    }
    json_decref(j);
    return AKIDB_OK;
}

/* ---- files -------------------------------------------------------------------------- */

static akidb_status mkdirs_for(const char *path)
{
    char *p = ak_strdup(path);
    if (!p)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            akidb_status st = ak_fail(AKIDB_EIO, "cannot create %s: %s", p, strerror(errno));
            ak_free(p);
            return st;
        }
        *q = '/';
    }
    ak_free(p);
    return AKIDB_OK;
}

/* Hashes a whole file: sha256 hex, and the git blob id when git != NULL. */
static akidb_status hash_file(const char *path, char sha[65], char git[41], long long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ak_fail(AKIDB_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    fstat(fileno(f), &sb);
    *size = (long long)sb.st_size;
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    unsigned char *buf = ak_malloc(1u << 20);
    if (!a || !b || !buf) {
        EVP_MD_CTX_free(a);
        EVP_MD_CTX_free(b);
        ak_free(buf);
        fclose(f);
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    EVP_DigestInit_ex(a, EVP_sha256(), NULL);
    EVP_DigestInit_ex(b, EVP_sha1(), NULL);
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "blob %lld", *size);
    EVP_DigestUpdate(b, hdr, (size_t)hl + 1);   /* with the NUL */
    size_t n;
    while ((n = fread(buf, 1, 1u << 20, f)) > 0) {
        EVP_DigestUpdate(a, buf, n);
        if (git)
            EVP_DigestUpdate(b, buf, n);
    }
    bool err = ferror(f) != 0;
    fclose(f);
    unsigned char d[32];
    unsigned int dl;
    EVP_DigestFinal_ex(a, d, &dl);
    ak_hex_encode(d, 32, sha);
    EVP_DigestFinal_ex(b, d, &dl);
    if (git)
        ak_hex_encode(d, 20, git);
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    ak_free(buf);
    return err ? ak_fail(AKIDB_EIO, "%s: read error", path) : AKIDB_OK;
}

/* Checks a local file against what the listing says.  Returns OK when it
 * matches, ECORRUPT naming the difference otherwise. */
static akidb_status verify(const rfile *rf, const char *path, const char *linked_sha,
                           bool *checked_hash)
{
    char sha[65], git[41];
    long long size = 0;
    akidb_status st = hash_file(path, sha, git, &size);
    if (st != AKIDB_OK)
        return st;
    *checked_hash = false;
    if (rf->size >= 0 && size != rf->size)
        return ak_fail(AKIDB_ECORRUPT, "%s: size %lld, but the Hub lists %lld bytes", rf->path,
                       size, rf->size);
    const char *want = rf->sha256[0] ? rf->sha256 : linked_sha;
    if (want && want[0]) {
        *checked_hash = true;
        if (strcmp(want, sha) != 0)
            return ak_fail(AKIDB_ECORRUPT, "%s: sha256 mismatch: expected %s, got %s", rf->path,
                           want, sha);
    } else if (rf->git_oid[0]) {
        *checked_hash = true;
        if (strcmp(rf->git_oid, git) != 0)
            return ak_fail(AKIDB_ECORRUPT, "%s: git blob id mismatch: expected %s, got %s",
                           rf->path, rf->git_oid, git);
    }
    return AKIDB_OK;
}

typedef struct dl {
    FILE *f;
    const char *part;
    long long offset;        /* bytes in .part before this transfer        */
    long long got;           /* bytes written by this transfer             */
    bool started;
    bool restarted;          /* server ignored Range: file truncated       */
    CURL *c;
    char linked_sha[65];
    long long linked_size;
    FILE *progress;
    const char *name;
    long long total;
    double last;
    bool tty;
} dl;

static size_t dl_header(char *p, size_t sz, size_t n, void *ud)
{
    dl *d = ud;
    size_t len = sz * n;
    char line[256];
    size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, p, l);
    line[l] = '\0';
    while (l && (line[l - 1] == '\r' || line[l - 1] == '\n'))
        line[--l] = '\0';
    if (strncasecmp(line, "X-Linked-Etag:", 14) == 0) {
        const char *v = line + 14;
        while (*v == ' ' || *v == '"' || *v == 'W' || *v == '/')
            v++;
        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s", v);
        char *q = strchr(tmp, '"');
        if (q)
            *q = '\0';
        if (is_hex(tmp, 64))
            snprintf(d->linked_sha, sizeof d->linked_sha, "%.64s", tmp);
    } else if (strncasecmp(line, "X-Linked-Size:", 14) == 0) {
        d->linked_size = atoll(line + 14);
    }
    return len;
}

static size_t dl_write(char *p, size_t sz, size_t n, void *ud)
{
    dl *d = ud;
    size_t len = sz * n;
    if (!d->started) {
        d->started = true;
        long code = 0;
        curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &code);
        if (code == 200 && d->offset > 0) {
            /* The server sent the whole file: start over. */
            if (ftruncate(fileno(d->f), 0) != 0 || fseek(d->f, 0, SEEK_SET) != 0)
                return 0;
            d->offset = 0;
            d->restarted = true;
        } else if (code != 200 && code != 206) {
            return len;   /* an error page: discard, the status is checked after */
        }
    }
    long code = 0;
    curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206)
        return len;
    if (fwrite(p, 1, len, d->f) != len)
        return 0;
    d->got += (long long)len;
    return len;
}

static int dl_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult,
                       curl_off_t ulnow)
{
    (void)ult;
    (void)ulnow;
    dl *d = ud;
    if (!d->progress || !d->tty)
        return 0;
    double now = ak_now();
    if (now - d->last < 0.2)
        return 0;
    d->last = now;
    long long total = d->total >= 0 ? d->total : (long long)dltotal + d->offset;
    long long have = d->offset + (long long)dlnow;
    if (total > 0)
        fprintf(d->progress, "\r  %-40s %8.1f / %.1f MB  %5.1f%%", d->name, have / 1e6,
                total / 1e6, 100.0 * (double)have / (double)total);
    else
        fprintf(d->progress, "\r  %-40s %8.1f MB", d->name, have / 1e6);
    fflush(d->progress);
    return 0;
}

/* One transfer attempt into part (appending from its current size). */
static akidb_status fetch_once(puller *pl, rfile *rf, const char *url, const char *part,
                               dl *d, long *code)
{
    *code = 0;
    struct stat sb;
    long long have = stat(part, &sb) == 0 ? (long long)sb.st_size : 0;
    if (rf->size >= 0 && have > rf->size)
        have = 0;   /* longer than the file: not ours */
    FILE *f = fopen(part, have > 0 ? "r+b" : "wb");
    if (!f)
        return ak_fail(AKIDB_EIO, "%s: %s", part, strerror(errno));
    if (have > 0 && fseek(f, have, SEEK_SET) != 0) {
        fclose(f);
        return ak_fail(AKIDB_EIO, "%s: seek: %s", part, strerror(errno));
    }
    if (have > 0 && rf->size >= 0 && have == rf->size) {
        fclose(f);
        *code = 206;   /* already complete: verify only */
        d->offset = have;
        return AKIDB_OK;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        fclose(f);
        return ak_fail(AKIDB_ENOMEM, "curl_easy_init failed");
    }
    d->f = f;
    d->c = c;
    d->offset = have;
    d->got = 0;
    d->started = false;
    d->restarted = false;
    struct curl_slist *h = base_headers(pl);
    common_opts(c, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, dl_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dl_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    char range[64];
    if (have > 0) {
        snprintf(range, sizeof range, "%lld-", have);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    bool werr = fflush(f) != 0 || fsync(fileno(f)) != 0;
    werr = fclose(f) != 0 || werr;
    if (d->progress && d->tty)
        fprintf(d->progress, "\r%80s\r", "");
    if (werr)
        return ak_fail(AKIDB_EIO, "%s: write error: %s", part, strerror(errno));
    if (*code == 416 && have > 0) {
        *code = 206;   /* nothing after `have`: the .part is complete */
        return AKIDB_OK;
    }
    if (rc != CURLE_OK)
        return ak_fail(AKIDB_EIO, "%s: %s after %lld bytes", rf->path, curl_easy_strerror(rc),
                       d->offset + d->got);
    if (*code != 200 && *code != 206)
        return http_status_fail(*code, rf->path);
    return AKIDB_OK;
}

static akidb_status fetch_file(puller *pl, rfile *rf)
{
    const ak_pull_opts *o = pl->o;
    char *dest = ak_path_join(o->dir, rf->path);
    size_t dl_len = dest ? strlen(dest) : 0;
    char *part = dest ? ak_malloc(dl_len + 6) : NULL;
    char *fenc = url_enc(rf->path, true);
    size_t ucap = strlen(pl->endpoint) + strlen(o->repo) + strlen(pl->rev_enc) +
                  (fenc ? strlen(fenc) : 0) + 32;
    char *url = ak_malloc(ucap);
    akidb_status st = AKIDB_OK;
    if (!dest || !part || !fenc || !url) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(part, dest, dl_len);
    memcpy(part + dl_len, ".part", 6);
    snprintf(url, ucap, "%s/%s/resolve/%s/%s", pl->endpoint, o->repo, pl->rev_enc, fenc);
    st = mkdirs_for(dest);
    if (st != AKIDB_OK)
        goto out;
    /* Up to date already? */
    if (ak_file_exists(dest) && (rf->size >= 0 || rf->sha256[0] || rf->git_oid[0])) {
        bool hashed;
        if (verify(rf, dest, NULL, &hashed) == AKIDB_OK) {
            if (o->progress)
                fprintf(o->progress, "  %-40s up to date\n", rf->path);
            goto out;
        }
    }
    dl d;
    memset(&d, 0, sizeof d);
    d.progress = o->progress;
    d.name = rf->path;
    d.total = rf->size;
    d.linked_size = -1;
    d.tty = o->progress && isatty(fileno(o->progress));
    for (int attempt = 1; attempt <= pl->attempts; attempt++) {
        long code = 0;
        st = fetch_once(pl, rf, url, part, &d, &code);
        if (st == AKIDB_OK) {
            if (rf->size < 0 && d.linked_size >= 0)
                rf->size = d.linked_size;
            bool hashed = false;
            st = verify(rf, part, d.linked_sha, &hashed);
            if (st == AKIDB_ECORRUPT && rf->size >= 0) {
                struct stat sb;
                if (stat(part, &sb) == 0 && (long long)sb.st_size < rf->size) {
                    /* Short: the connection ended early.  Resume. */
                    if (o->progress)
                        fprintf(o->progress, "  %-40s incomplete (%lld of %lld bytes), resuming\n",
                                rf->path, (long long)sb.st_size, rf->size);
                    continue;
                }
            }
            if (st != AKIDB_OK) {
                unlink(part);   /* wrong bytes: never resume from them */
                goto out;
            }
            if (rename(part, dest) != 0) {
                st = ak_fail(AKIDB_EIO, "rename %s: %s", dest, strerror(errno));
                goto out;
            }
            if (o->progress) {
                struct stat sb;
                long long sz = stat(dest, &sb) == 0 ? (long long)sb.st_size : 0;
                fprintf(o->progress, "  %-40s %10.1f MB  %s\n", rf->path, sz / 1e6,
                        hashed ? (rf->sha256[0] || d.linked_sha[0] ? "sha256 ok" : "git id ok")
                               : (rf->size >= 0 ? "size ok" : "unchecked"));
            }
            goto out;
        }
        if (st == AKIDB_ENOENT || st == AKIDB_EPERM || st == AKIDB_ENOMEM)
            goto out;
        if (code >= 400 && code < 500 && code != 408 && code != 429)
            goto out;
        if (o->progress)
            fprintf(o->progress, "  %-40s attempt %d failed: %s%s\n", rf->path, attempt,
                    akidb_last_error(), attempt < pl->attempts ? "; resuming" : "");
        if (attempt < pl->attempts)
            usleep((useconds_t)(200000 * attempt));
    }
    if (st == AKIDB_OK)
        st = ak_fail(AKIDB_EIO, "%s: still incomplete after %d attempts (the .part file is kept; "
                                "run again to resume)", rf->path, pl->attempts);
out:
    ak_free(dest);
    ak_free(part);
    ak_free(fenc);
    ak_free(url);
    return st;
}

static bool is_wanted(const char *p, const modlist *mods)
{
    for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++)
        if (strcmp(p, wanted[i]) == 0)
            return true;
    const char *slash = strrchr(p, '/');
    if (!slash)
        return false;
    size_t dlen = (size_t)(slash - p);
    for (size_t m = 0; m < mods->n; m++) {
        if (strlen(mods->path[m]) != dlen || strncmp(p, mods->path[m], dlen) != 0)
            continue;
        for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++)
            if (!strchr(wanted[i], '/') && strcmp(slash + 1, wanted[i]) == 0)
                return true;
    }
    return false;
}

/* Fetches modules.json (when the repository has one) and lists its module
 * folders; a Dense folder with only pytorch_model.bin is refused. */
static akidb_status read_modules(puller *pl, flist *all, modlist *mods)
{
    rfile *mj = flist_find(all, "modules.json");
    if (!mj)
        return AKIDB_OK;
    akidb_status st = fetch_file(pl, mj);
    if (st != AKIDB_OK)
        return st;
    char *ip = ak_path_join(pl->o->dir, "modules.json");
    json_error_t err;
    json_t *root = ip ? json_load_file(ip, 0, &err) : NULL;
    ak_free(ip);
    if (!json_is_array(root)) {
        json_decref(root);
        return ak_fail(AKIDB_EFORMAT, "modules.json of '%s' is not a JSON array", pl->o->repo);
    }
    size_t n = json_array_size(root);
    mods->path = ak_calloc(n ? n : 1, sizeof *mods->path);
    mods->dense = ak_calloc(n ? n : 1, sizeof *mods->dense);
    if (!mods->path || !mods->dense)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    for (size_t i = 0; st == AKIDB_OK && i < n; i++) {
        json_t *m = json_array_get(root, i);
        const char *path = json_string_value(json_object_get(m, "path"));
        const char *type = json_string_value(json_object_get(m, "type"));
        if (!path || !path[0])
            continue;
        size_t len = strlen(path);
        while (len && path[len - 1] == '/')
            len--;
        char *dp = ak_strndup(path, len);
        if (!dp) {
            st = ak_fail(AKIDB_ENOMEM, "out of memory");
            break;
        }
        if (!safe_path(dp)) {
            ak_free(dp);
            st = ak_fail(AKIDB_EFORMAT, "modules.json names an unsafe module path '%s'", path);
            break;
        }
        mods->dense[mods->n] = type && strstr(type, "Dense") != NULL;
        mods->path[mods->n++] = dp;
    }
    json_decref(root);
    for (size_t i = 0; st == AKIDB_OK && i < mods->n; i++) {
        if (!mods->dense[i])
            continue;
        char f[600];
        snprintf(f, sizeof f, "%s/model.safetensors", mods->path[i]);
        if (flist_find(all, f))
            continue;
        snprintf(f, sizeof f, "%s/pytorch_model.bin", mods->path[i]);
        st = ak_fail(AKIDB_EUNSUPPORTED,
                     "'%s': the Dense module %s has no model.safetensors%s; AkiDB reads "
                     "safetensors weights only", pl->o->repo, mods->path[i],
                     flist_find(all, f) ? " (only pytorch_model.bin)" : "");
    }
    return st;
}

akidb_status ak_pull(const ak_pull_opts *o)
{
    AK_ASSERT(o && o->repo && o->dir);
    if (!good_repo(o->repo))
        return ak_fail(AKIDB_EINVAL, "bad repository name '%s' (expected ORG/NAME)", o->repo);
    const char *rev = o->revision && o->revision[0] ? o->revision : "main";
    if (strstr(rev, "..") || strlen(rev) > 255)
        return ak_fail(AKIDB_EINVAL, "bad revision '%s'", rev);
    puller pl;
    memset(&pl, 0, sizeof pl);
    pl.o = o;
    pl.attempts = o->attempts > 0 ? o->attempts : 4;
    const char *ep = o->endpoint;
    if (!ep || !ep[0])
        ep = getenv("HF_ENDPOINT");
    if (!ep || !ep[0])
        ep = "https://huggingface.co";
    pl.endpoint = ak_strdup(ep);
    pl.rev_enc = url_enc(rev, false);
    if (!pl.endpoint || !pl.rev_enc) {
        ak_free(pl.endpoint);
        ak_free(pl.rev_enc);
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    size_t el = strlen(pl.endpoint);
    while (el && pl.endpoint[el - 1] == '/')
        pl.endpoint[--el] = '\0';
    const char *tok = o->token ? o->token : getenv("HF_TOKEN");
    if (tok && tok[0])
        snprintf(pl.auth, sizeof pl.auth, "Authorization: Bearer %s", tok);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    flist all = {0}, get = {0};
    akidb_status st = list_files(&pl, &all);
    if (st == AKIDB_OK && mkdirs_for(o->dir) == AKIDB_OK && mkdir(o->dir, 0755) != 0 &&
        errno != EEXIST)
        st = ak_fail(AKIDB_EIO, "cannot create %s: %s", o->dir, strerror(errno));
    if (st == AKIDB_OK && !flist_find(&all, "config.json"))
        st = ak_fail(AKIDB_EUNSUPPORTED, "'%s' has no config.json: not a transformers model",
                     o->repo);
    bool sharded = st == AKIDB_OK && flist_find(&all, "model.safetensors.index.json") != NULL;
    if (st == AKIDB_OK && !sharded && !flist_find(&all, "model.safetensors"))
        st = ak_fail(AKIDB_EUNSUPPORTED,
                     "'%s' has no model.safetensors%s; AkiDB reads safetensors weights only",
                     o->repo, flist_find(&all, "pytorch_model.bin") ? " (only pytorch_model.bin)" : "");
    modlist mods = {0};
    if (st == AKIDB_OK)
        st = read_modules(&pl, &all, &mods);
    for (size_t i = 0; st == AKIDB_OK && i < all.n; i++) {
        if (!is_wanted(all.v[i].path, &mods))
            continue;
        if (sharded && strcmp(all.v[i].path, "model.safetensors") == 0)
            continue;   /* the index names what to load */
        rfile *f = flist_add(&get, all.v[i].path);
        if (!f) {
            st = ak_fail(AKIDB_ENOMEM, "out of memory");
            break;
        }
        char *p = f->path;
        *f = all.v[i];
        f->path = p;
    }
    if (st == AKIDB_OK && o->progress)
        fprintf(o->progress, "akidb pull: %s@%s from %s\n", o->repo, rev, pl.endpoint);
    /* The index first: it names the shards. */
    for (size_t i = 0; st == AKIDB_OK && i < get.n; i++) {
        if (strcmp(get.v[i].path, "model.safetensors.index.json") != 0)
            continue;
        st = fetch_file(&pl, &get.v[i]);
        if (st != AKIDB_OK)
            break;
        char *ip = ak_path_join(o->dir, "model.safetensors.index.json");
        json_error_t err;
        json_t *idx = ip ? json_load_file(ip, 0, &err) : NULL;
        ak_free(ip);
        json_t *wm = idx ? json_object_get(idx, "weight_map") : NULL;
        if (!json_is_object(wm)) {
            json_decref(idx);
            st = ak_fail(AKIDB_EFORMAT, "model.safetensors.index.json has no weight_map");
            break;
        }
        const char *k;
        json_t *v;
        json_object_foreach(wm, k, v) {
            const char *shard = json_is_string(v) ? json_string_value(v) : "";
            if (!safe_path(shard)) {
                st = ak_fail(AKIDB_EFORMAT, "index names an unsafe shard path '%s'", shard);
                break;
            }
            if (flist_find(&get, shard))
                continue;
            rfile *src = flist_find(&all, shard);
            if (!src) {
                st = ak_fail(AKIDB_ENOENT, "index names shard '%s', which the repository lacks",
                             shard);
                break;
            }
            rfile *f = flist_add(&get, shard);
            if (!f) {
                st = ak_fail(AKIDB_ENOMEM, "out of memory");
                break;
            }
            char *p = f->path;
            *f = *src;
            f->path = p;
        }
        json_decref(idx);
        break;
    }
    for (size_t i = 0; st == AKIDB_OK && i < get.n; i++) {
        if (strcmp(get.v[i].path, "model.safetensors.index.json") == 0)
            continue;
        if (!safe_path(get.v[i].path)) {
            st = ak_fail(AKIDB_EFORMAT, "unsafe file path '%s'", get.v[i].path);
            break;
        }
        st = fetch_file(&pl, &get.v[i]);
    }
    if (st == AKIDB_OK && o->progress)
        fprintf(o->progress, "akidb pull: %zu files in %s\n", get.n, o->dir);
    modlist_free(&mods);
    flist_free(&all);
    flist_free(&get);
    ak_free(pl.endpoint);
    ak_free(pl.rev_enc);
    return st;
}
