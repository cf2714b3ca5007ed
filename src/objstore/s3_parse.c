/*
 * s3_parse.c - the parts of the S3 client that need no network: the AWS
 * CLI's INI files, URL building with S3's percent-encoding, and the XML of
 * ListObjectsV2 pages and error bodies.
 *
 * The XML reader knows only what S3 sends: elements without nesting of the
 * same name, text with the five named entities and numeric character
 * references.  It never reads past the given length, needs no NUL, and a
 * body it does not understand (a '<' inside a text, an unknown entity, an
 * unclosed element) is an EFORMAT naming what was wrong, never a guess.
 */
#include "objstore/objstore.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- INI files ---------------------------------------------------------- */

static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static bool span_eq(const char *b, const char *e, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(e - b) == n && memcmp(b, s, n) == 0;
}

akidb_status ak_s3_ini_get(const char *text, size_t len, const char *section,
                           const char *key, char **out)
{
    *out = NULL;
    const char *p = text, *end = text + len;
    bool in_section = false;
    char parent[64] = "";           /* the key of an open nested block */
    while (p < end) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le)
            le = end;
        const char *b = p, *e = le;
        p = le < end ? le + 1 : end;
        bool indented = b < e && (*b == ' ' || *b == '\t');
        trim(&b, &e);
        if (b == e || *b == '#' || *b == ';')
            continue;
        if (*b == '[') {
            const char *c = memchr(b, ']', (size_t)(e - b));
            if (!c)
                continue;
            const char *nb = b + 1, *ne = c;
            trim(&nb, &ne);
            in_section = span_eq(nb, ne, section);
            parent[0] = '\0';
            continue;
        }
        if (!in_section)
            continue;
        const char *eq = memchr(b, '=', (size_t)(e - b));
        if (!eq)
            continue;
        const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
        trim(&kb, &ke);
        trim(&vb, &ve);
        char name[192];
        size_t kn = (size_t)(ke - kb);
        if (!indented)
            parent[0] = '\0';
        if (indented && parent[0]) {
            if (strlen(parent) + 1 + kn >= sizeof name)
                continue;
            snprintf(name, sizeof name, "%s.%.*s", parent, (int)kn, kb);
        } else {
            if (kn >= sizeof name)
                continue;
            memcpy(name, kb, kn);
            name[kn] = '\0';
            if (vb == ve && kn < sizeof parent) {   /* "s3 =" opens a block */
                memcpy(parent, name, kn + 1);
                continue;
            }
        }
        if (strcmp(name, key) == 0) {
            *out = ak_strndup(vb, (size_t)(ve - vb));
            return *out ? AKIDB_OK : ak_fail(AKIDB_ENOMEM, "aws config: out of memory");
        }
    }
    return AKIDB_ENOENT;
}

/* ---- URLs --------------------------------------------------------------- */

bool ak_s3_uri_encode(const char *s, bool keep_slash, char *buf, size_t cap, size_t *n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        bool keep = isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~' ||
                    (keep_slash && *c == '/');
        if (keep) {
            if (*n + 1 >= cap)
                return false;
            buf[(*n)++] = (char)*c;
        } else {
            if (*n + 3 >= cap)
                return false;
            buf[(*n)++] = '%';
            buf[(*n)++] = hex[*c >> 4];
            buf[(*n)++] = hex[*c & 15];
        }
    }
    buf[*n] = '\0';
    return true;
}

akidb_status ak_s3_build_url(const char *endpoint, const char *bucket, bool path_style,
                             const char *key, const char *query, char **out)
{
    *out = NULL;
    const char *hs = strstr(endpoint, "://");
    if (!hs || hs == endpoint)
        return ak_fail(AKIDB_EINVAL, "s3 endpoint '%s': not a URL (want http://host[:port])",
                       endpoint);
    hs += 3;
    size_t elen = strlen(endpoint);
    while (elen > 0 && endpoint[elen - 1] == '/')
        elen--;
    size_t cap = elen + strlen(bucket) + (key ? 3 * strlen(key) : 0) +
                 (query ? strlen(query) : 0) + 8;
    char *u = ak_malloc(cap);
    if (!u)
        return ak_fail(AKIDB_ENOMEM, "s3 url: out of memory");
    size_t n;
    if (path_style) {
        n = (size_t)snprintf(u, cap, "%.*s/%s", (int)elen, endpoint, bucket);
    } else {    /* scheme://bucket.host[:port][/base] */
        size_t scheme = (size_t)(hs - endpoint);
        n = (size_t)snprintf(u, cap, "%.*s%s.%.*s", (int)scheme, endpoint, bucket,
                             (int)(elen - scheme), hs);
    }
    if (key && *key) {
        u[n++] = '/';
        ak_s3_uri_encode(key, true, u, cap, &n);
    } else if (!path_style) {
        u[n++] = '/';
    }
    u[n] = '\0';
    if (query && *query)
        snprintf(u + n, cap - n, "?%s", query);
    *out = u;
    return AKIDB_OK;
}

/* ---- XML ---------------------------------------------------------------- */

/* Finds the first element <name> (or <name attr...>, or <name/>) in
 * [p, end); its content is [*ib, *ie) and *next points past it.  false if
 * there is none; *unclosed is set when it opens but never closes. */
static bool xml_find(const char *p, const char *end, const char *name, const char **ib,
                     const char **ie, const char **next, bool *unclosed)
{
    size_t nl = strlen(name);
    *unclosed = false;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt || (size_t)(end - lt) < nl + 2)
            return false;
        p = lt + 1;
        if (memcmp(p, name, nl) != 0)
            continue;
        char c = p[nl];
        if (c != '>' && c != '/' && c != ' ' && c != '\t' && c != '\r' && c != '\n')
            continue;
        const char *gt = memchr(p + nl, '>', (size_t)(end - (p + nl)));
        if (!gt) {
            *unclosed = true;
            return false;
        }
        if (gt[-1] == '/') {        /* <name/> */
            *ib = *ie = gt;
            *next = gt + 1;
            return true;
        }
        const char *q = gt + 1;
        while (q < end) {           /* the matching </name> */
            const char *c2 = memchr(q, '<', (size_t)(end - q));
            if (!c2 || (size_t)(end - c2) < nl + 3)
                break;
            if (c2[1] == '/' && memcmp(c2 + 2, name, nl) == 0 && c2[2 + nl] == '>') {
                *ib = gt + 1;
                *ie = c2;
                *next = c2 + 3 + nl;
                return true;
            }
            q = c2 + 1;
        }
        *unclosed = true;
        return false;
    }
    return false;
}

/* Decodes the text [b, e) (entities) into a new string at *out. */
static akidb_status xml_text(const char *b, const char *e, const char *what, char **out)
{
    char *s = ak_malloc((size_t)(e - b) + 1);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "s3 xml: out of memory");
    size_t n = 0;
    for (const char *p = b; p < e;) {
        if (*p == '<') {
            ak_free(s);
            return ak_fail(AKIDB_EFORMAT, "s3 xml: <%s> holds markup, not text", what);
        }
        if (*p != '&') {
            s[n++] = *p++;
            continue;
        }
        const char *semi = memchr(p, ';', (size_t)(e - p));
        if (!semi || semi - p > 10) {
            ak_free(s);
            return ak_fail(AKIDB_EFORMAT, "s3 xml: <%s>: unterminated entity", what);
        }
        const char *nb = p + 1;
        size_t nn = (size_t)(semi - nb);
        static const struct { const char *name; char c; } named[] = {
            {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
        };
        bool done = false;
        for (size_t i = 0; i < 5 && !done; i++)
            if (strlen(named[i].name) == nn && memcmp(nb, named[i].name, nn) == 0) {
                s[n++] = named[i].c;
                done = true;
            }
        if (!done && nn >= 2 && *nb == '#') {
            char num[12];
            memcpy(num, nb + 1, nn - 1);
            num[nn - 1] = '\0';
            char *ep;
            unsigned long cp = (num[0] == 'x' || num[0] == 'X') ? strtoul(num + 1, &ep, 16)
                                                                : strtoul(num, &ep, 10);
            if (*ep == '\0' && ep != num && cp > 0 && cp <= 0x10FFFF &&
                !(cp >= 0xD800 && cp <= 0xDFFF)) {
                n += (size_t)ak_utf8_encode((uint32_t)cp, s + n);   /* <= len of "&#..;" */
                done = true;
            }
        }
        if (!done) {
            ak_free(s);
            return ak_fail(AKIDB_EFORMAT, "s3 xml: <%s>: unknown entity '&%.*s;'", what,
                           (int)nn, nb);
        }
        p = semi + 1;
    }
    s[n] = '\0';
    *out = s;
    return AKIDB_OK;
}

/* Text of the first <name> in [b, e); ENOENT if absent. */
static akidb_status xml_get(const char *b, const char *e, const char *name, char **out)
{
    const char *ib, *ie, *next;
    bool unclosed;
    *out = NULL;
    if (!xml_find(b, e, name, &ib, &ie, &next, &unclosed))
        return unclosed ? ak_fail(AKIDB_EFORMAT, "s3 xml: <%s> is not closed", name)
                        : AKIDB_ENOENT;
    return xml_text(ib, ie, name, out);
}

static void copy_etag(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= 2 && src[0] == '"' && src[n - 1] == '"') {
        src++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static akidb_status list_push(ak_s3_list *l, char *key, uint64_t size, const char *etag)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        ak_s3_object *v = ak_realloc(l->v, cap * sizeof *v);
        if (!v)
            return ak_fail(AKIDB_ENOMEM, "s3 list: out of memory");
        l->v = v;
        l->cap = cap;
    }
    ak_s3_object *o = &l->v[l->n++];
    o->key = key;
    o->size = size;
    copy_etag(o->etag, sizeof o->etag, etag ? etag : "");
    return AKIDB_OK;
}

/* One <Contents> entry. */
static akidb_status parse_contents(const char *b, const char *e, ak_s3_list *out)
{
    char *key = NULL, *size = NULL, *etag = NULL;
    akidb_status st = xml_get(b, e, "Key", &key);
    if (st == AKIDB_ENOENT)
        st = ak_fail(AKIDB_EFORMAT, "s3 list: a <Contents> entry without <Key>");
    if (st == AKIDB_OK) {
        st = xml_get(b, e, "Size", &size);
        if (st == AKIDB_ENOENT)
            st = ak_fail(AKIDB_EFORMAT, "s3 list: key '%s' has no <Size>", key);
    }
    uint64_t sz = 0;
    if (st == AKIDB_OK) {
        char *ep;
        sz = strtoull(size, &ep, 10);
        if (ep == size || *ep || size[0] == '-')
            st = ak_fail(AKIDB_EFORMAT, "s3 list: key '%s': bad <Size> '%s'", key, size);
    }
    if (st == AKIDB_OK) {
        st = xml_get(b, e, "ETag", &etag);
        if (st == AKIDB_ENOENT)
            st = AKIDB_OK;
    }
    if (st == AKIDB_OK) {
        st = list_push(out, key, sz, etag);
        if (st == AKIDB_OK)
            key = NULL;
    }
    ak_free(key);
    ak_free(size);
    ak_free(etag);
    return st;
}

akidb_status ak_s3_parse_list(const char *body, size_t len, ak_s3_list *out,
                              bool *truncated, char **next_token)
{
    *truncated = false;
    *next_token = NULL;
    const char *ib, *ie, *next, *end = body + len;
    bool unclosed;
    if (!xml_find(body, end, "ListBucketResult", &ib, &ie, &next, &unclosed))
        return ak_fail(AKIDB_EFORMAT, "s3 list: the answer is not a <ListBucketResult>%s",
                       unclosed ? " (not closed)" : "");
    const char *p = ib, *cb, *ce;
    while (xml_find(p, ie, "Contents", &cb, &ce, &next, &unclosed)) {
        akidb_status st = parse_contents(cb, ce, out);
        if (st != AKIDB_OK)
            return st;
        p = next;
    }
    if (unclosed)
        return ak_fail(AKIDB_EFORMAT, "s3 list: <Contents> is not closed");
    /* the top-level fields follow or precede the entries: look outside them */
    char *t = NULL;
    akidb_status st = xml_get(ib, ie, "IsTruncated", &t);
    if (st == AKIDB_ENOENT)
        return ak_fail(AKIDB_EFORMAT, "s3 list: no <IsTruncated>");
    if (st != AKIDB_OK)
        return st;
    if (strcmp(t, "true") == 0)
        *truncated = true;
    else if (strcmp(t, "false") != 0) {
        st = ak_fail(AKIDB_EFORMAT, "s3 list: <IsTruncated> is '%s'", t);
        ak_free(t);
        return st;
    }
    ak_free(t);
    if (!*truncated)
        return AKIDB_OK;
    st = xml_get(ib, ie, "NextContinuationToken", next_token);
    if (st == AKIDB_ENOENT || (st == AKIDB_OK && !**next_token)) {
        ak_free(*next_token);
        *next_token = NULL;
        return ak_fail(AKIDB_EFORMAT,
                       "s3 list: truncated page without a <NextContinuationToken>");
    }
    return st;
}

void ak_s3_parse_error(const char *body, size_t len, char *code, size_t code_cap,
                       char *msg, size_t msg_cap)
{
    code[0] = msg[0] = '\0';
    const char *ib, *ie, *next;
    bool unclosed;
    if (!body || !xml_find(body, body + len, "Error", &ib, &ie, &next, &unclosed))
        return;
    char *t = NULL;
    if (xml_get(ib, ie, "Code", &t) == AKIDB_OK)
        snprintf(code, code_cap, "%s", t);
    ak_free(t);
    t = NULL;
    if (xml_get(ib, ie, "Message", &t) == AKIDB_OK)
        snprintf(msg, msg_cap, "%s", t);
    ak_free(t);
    ak_clear_error();
}

akidb_status ak_s3_error_status(long http, const char *code)
{
    static const char *const perm[] = {
        "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken",
        "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled",
    };
    if (code && *code) {
        if (!strcmp(code, "NoSuchKey") || !strcmp(code, "NoSuchBucket") ||
            !strcmp(code, "NotFound"))
            return AKIDB_ENOENT;
        for (size_t i = 0; i < sizeof perm / sizeof perm[0]; i++)
            if (!strcmp(code, perm[i]))
                return AKIDB_EPERM;
        if (!strcmp(code, "PreconditionFailed"))
            return AKIDB_EEXIST;
    }
    if (http == 404)
        return AKIDB_ENOENT;
    if (http == 401 || http == 403)
        return AKIDB_EPERM;
    if (http == 412)
        return AKIDB_EEXIST;
    if (http == 400 && code && !strcmp(code, "InvalidBucketName"))
        return AKIDB_EINVAL;
    return AKIDB_EIO;
}
