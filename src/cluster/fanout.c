/*
 * fanout.c - the cluster's internal search and get: both ends of their JSON
 * wire format, the parallel POSTs to the other nodes (libcurl multi) and the
 * merge of their top-k lists (fanout.h says what each call promises).
 *
 * Floats (scores, vector components) are written with "%.9g": nine
 * significant digits read back into the same float.  A hit's payload is
 * the store's compact JSON text and goes onto the wire as it is, not
 * re-encoded (re-encoding would print its numbers with the floats'
 * precision); read back, it is jansson's compact text of the same value,
 * which is the text the store made it with.
 */
#include "cluster/fanout.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY_MAX ((size_t)1 << 30)   /* largest reply body read from a node */
#define WITH_ALL (AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT | AKIDB_WITH_VECTOR)
#define SEARCH_REQ "cluster search request"

/* ---- a growing text buffer ---------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = ak_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

/* A float as nine significant digits (a JSON number: it is finite); -0 as
 * "-0.0", which a JSON reader takes for a real (its "-0" is the integer 0). */
static void sb_float(sbuf *b, float v)
{
    char t[32];
    if (v == 0 && signbit(v))
        snprintf(t, sizeof t, "-0.0");
    else
        snprintf(t, sizeof t, "%.9g", (double)v);
    sb_puts(b, t);
}

/* s as a JSON string (UTF-8 passes through; quotes, backslashes and
 * control characters escaped); NULL as null. */
static void sb_jstr(sbuf *b, const char *s)
{
    if (!s) {
        sb_puts(b, "null");
        return;
    }
    sb_putn(b, "\"", 1);
    const char *run = s;
    for (const char *c = s; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u >= 0x20 && u != '"' && u != '\\')
            continue;
        sb_putn(b, run, (size_t)(c - run));
        char e[8];
        if (u == '"' || u == '\\')
            snprintf(e, sizeof e, "\\%c", u);
        else
            snprintf(e, sizeof e, "\\u%04x", u);
        sb_puts(b, e);
        run = c + 1;
    }
    sb_puts(b, run);
    sb_putn(b, "\"", 1);
}

static bool floats_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return false;
    return true;
}

static void sb_floats(sbuf *b, const float *v, size_t n)
{
    sb_putn(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_putn(b, ",", 1);
        sb_float(b, v[i]);
    }
    sb_putn(b, "]", 1);
}

static akidb_status sb_finish(sbuf *b, char **out)
{
    if (b->oom) {
        ak_free(b->p);
        return ak_fail(AKIDB_ENOMEM, "out of memory encoding a cluster search");
    }
    *out = b->p;
    return AKIDB_OK;
}

/* ---- the request -------------------------------------------------------------------- */

akidb_status ak_fanout_req_json(const char *tenant, const char *collection,
                                const akidb_search_req *req, char **out)
{
    AK_ASSERT(tenant && collection && req && out && (req->vector || !req->dim));
    *out = NULL;
    if (!floats_finite(req->vector, req->dim))
        return ak_fail(AKIDB_EINVAL, "cluster search: the query vector has NaN or Inf");
    if (req->filter_json) {   /* checked here, sent as the caller wrote it */
        json_t *f = NULL;
        akidb_status st =
            ak_json_parse(req->filter_json, strlen(req->filter_json), 0, "filter", &f);
        json_decref(f);
        if (st != AKIDB_OK)
            return st == AKIDB_ENOMEM ? st : ak_fail_prefix(AKIDB_EINVAL, "cluster search");
    }
    sbuf b = { 0 };
    sb_puts(&b, "{\"tenant\":");
    sb_jstr(&b, tenant);
    sb_puts(&b, ",\"collection\":");
    sb_jstr(&b, collection);
    sb_puts(&b, ",\"vector\":");
    sb_floats(&b, req->vector, req->dim);
    char t[128];
    snprintf(t, sizeof t, ",\"top_k\":%zu,\"ef\":%zu,\"filter\":", req->top_k, req->ef);
    sb_puts(&b, t);
    sb_puts(&b, req->filter_json ? req->filter_json : "null");
    snprintf(t, sizeof t, ",\"exact\":%s,\"with\":%u}", req->exact ? "true" : "false",
             req->with);
    sb_puts(&b, t);
    return sb_finish(&b, out);
}

/* A non-negative integer field of at most max; absent: dflt. */
static akidb_status get_count(json_t *j, const char *what, const char *name, bool required,
                              size_t dflt, size_t min, size_t max, size_t *out)
{
    json_t *v = json_object_get(j, name);
    if (!v && !required) {
        *out = dflt;
        return AKIDB_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)min ||
        json_integer_value(v) > (json_int_t)max)
        return ak_fail(AKIDB_EINVAL, "%s: \"%s\" must be an integer %zu..%zu", what, name,
                       min, max);
    *out = (size_t)json_integer_value(v);
    return AKIDB_OK;
}

/* A float array field (1..max numbers, each finite as a float) into *out. */
static akidb_status get_floats(json_t *arr, const char *what, size_t max, float **out,
                               uint32_t *n)
{
    size_t len = json_array_size(arr);
    if (!json_is_array(arr) || len == 0 || len > max)
        return ak_fail(AKIDB_EINVAL, "%s must be an array of 1..%zu numbers", what, max);
    float *v = ak_malloc(len * sizeof *v);
    if (!v)
        return ak_fail(AKIDB_ENOMEM, "out of memory reading %s", what);
    for (size_t i = 0; i < len; i++) {
        json_t *x = json_array_get(arr, i);
        v[i] = (float)json_number_value(x);
        if (!json_is_number(x) || !isfinite(v[i])) {
            ak_free(v);
            return ak_fail(AKIDB_EINVAL, "%s[%zu] is not a finite number", what, i);
        }
    }
    *out = v;
    *n = (uint32_t)len;
    return AKIDB_OK;
}

static akidb_status req_fields(json_t *j, ak_fanout_req *r)
{
    const char *names[2] = { "tenant", "collection" };
    char **dst[2] = { &r->tenant, &r->collection };
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(j, names[i]);
        if (!json_is_string(v) || json_string_length(v) == 0)
            return ak_fail(AKIDB_EINVAL, "cluster search request: \"%s\" must be a non-empty "
                           "string", names[i]);
        if (!(*dst[i] = ak_strdup(json_string_value(v))))
            return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    akidb_status st = get_floats(json_object_get(j, "vector"), "cluster search request: "
                                 "\"vector\"", AKIDB_DIM_MAX, &r->vector_buf, &r->req.dim);
    size_t with = 0;
    if (st == AKIDB_OK)
        st = get_count(j, SEARCH_REQ, "top_k", true, 0, 1, AKIDB_SEARCH_TOPK_MAX, &r->req.top_k);
    if (st == AKIDB_OK)
        st = get_count(j, SEARCH_REQ, "ef", false, 0, 0, AKIDB_SEARCH_EF_MAX, &r->req.ef);
    if (st == AKIDB_OK)
        st = get_count(j, SEARCH_REQ, "with", false, 0, 0, WITH_ALL, &with);
    if (st != AKIDB_OK)
        return st;
    r->req.vector = r->vector_buf;
    r->req.with = (unsigned)with;
    json_t *ex = json_object_get(j, "exact"), *f = json_object_get(j, "filter");
    if (ex && !json_is_boolean(ex))
        return ak_fail(AKIDB_EINVAL, "cluster search request: \"exact\" must be true or false");
    r->req.exact = json_is_true(ex);
    if (f && !json_is_null(f)) {
        if (!json_is_object(f))
            return ak_fail(AKIDB_EINVAL, "cluster search request: \"filter\" must be an "
                           "object or null");
        if (!(r->filter_buf = json_dumps(f, JSON_COMPACT)))
            return ak_fail(AKIDB_ENOMEM, "out of memory");
        r->req.filter_json = r->filter_buf;
    }
    return AKIDB_OK;
}

akidb_status ak_fanout_req_parse(const char *body, size_t len, ak_fanout_req *out)
{
    AK_ASSERT(out && (body || !len));
    memset(out, 0, sizeof *out);
    json_t *j = NULL;
    akidb_status st = ak_json_parse(body, len, 0, "cluster search request", &j);
    if (st == AKIDB_EFORMAT)
        st = AKIDB_EINVAL;
    if (st == AKIDB_OK && !json_is_object(j))
        st = ak_fail(AKIDB_EINVAL, "cluster search request: not a JSON object");
    if (st == AKIDB_OK)
        st = req_fields(j, out);
    json_decref(j);
    if (st != AKIDB_OK)
        ak_fanout_req_free(out);
    return st;
}

void ak_fanout_req_free(ak_fanout_req *r)
{
    if (!r)
        return;
    ak_free(r->tenant);
    ak_free(r->collection);
    ak_free(r->vector_buf);
    ak_free(r->filter_buf);
    memset(r, 0, sizeof *r);
}

/* ---- the get request ---------------------------------------------------------------- */

akidb_status ak_fanout_get_json(const char *tenant, const char *collection,
                                const char *const *ids, size_t n, unsigned with, char **out)
{
    AK_ASSERT(tenant && collection && (ids || !n) && out);
    *out = NULL;
    if (n == 0 || n > AK_FANOUT_GET_MAX)
        return ak_fail(AKIDB_EINVAL, "cluster get: 1 to %d ids, not %zu", AK_FANOUT_GET_MAX, n);
    sbuf b = { 0 };
    sb_puts(&b, "{\"tenant\":");
    sb_jstr(&b, tenant);
    sb_puts(&b, ",\"collection\":");
    sb_jstr(&b, collection);
    sb_puts(&b, ",\"ids\":[");
    for (size_t i = 0; i < n; i++) {
        AK_ASSERT(ids[i]);
        if (i)
            sb_putn(&b, ",", 1);
        sb_jstr(&b, ids[i]);
    }
    char t[64];
    snprintf(t, sizeof t, "],\"with\":%u}", with & WITH_ALL);
    sb_puts(&b, t);
    return sb_finish(&b, out);
}

static akidb_status get_fields(json_t *j, ak_fanout_get *g)
{
    const char *names[2] = { "tenant", "collection" };
    char **dst[2] = { &g->tenant, &g->collection };
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(j, names[i]);
        if (!json_is_string(v) || json_string_length(v) == 0)
            return ak_fail(AKIDB_EINVAL, "cluster get request: \"%s\" must be a non-empty "
                           "string", names[i]);
        if (!(*dst[i] = ak_strdup(json_string_value(v))))
            return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    json_t *ids = json_object_get(j, "ids");
    size_t n = json_array_size(ids), with = 0;
    if (!json_is_array(ids) || n == 0 || n > AK_FANOUT_GET_MAX)
        return ak_fail(AKIDB_EINVAL, "cluster get request: \"ids\" must be an array of 1 to "
                       "%d strings", AK_FANOUT_GET_MAX);
    akidb_status st = get_count(j, "cluster get request", "with", false, 0, 0, WITH_ALL, &with);
    if (st != AKIDB_OK)
        return st;
    g->with = (unsigned)with;
    if (!(g->ids = ak_calloc(n, sizeof *g->ids)))
        return ak_fail(AKIDB_ENOMEM, "out of memory reading %zu ids", n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_string(v))
            return ak_fail(AKIDB_EINVAL, "cluster get request: id %zu is not a string", i);
        if (!(g->ids[i] = ak_strdup(json_string_value(v))))
            return ak_fail(AKIDB_ENOMEM, "out of memory");
        g->n = i + 1;
    }
    return AKIDB_OK;
}

akidb_status ak_fanout_get_parse(const char *body, size_t len, ak_fanout_get *out)
{
    AK_ASSERT(out && (body || !len));
    memset(out, 0, sizeof *out);
    json_t *j = NULL;
    akidb_status st = ak_json_parse(body, len, 0, "cluster get request", &j);
    if (st == AKIDB_EFORMAT)
        st = AKIDB_EINVAL;
    if (st == AKIDB_OK && !json_is_object(j))
        st = ak_fail(AKIDB_EINVAL, "cluster get request: not a JSON object");
    if (st == AKIDB_OK)
        st = get_fields(j, out);
    json_decref(j);
    if (st != AKIDB_OK)
        ak_fanout_get_free(out);
    return st;
}

void ak_fanout_get_free(ak_fanout_get *g)
{
    if (!g)
        return;
    ak_free(g->tenant);
    ak_free(g->collection);
    for (size_t i = 0; g->ids && i < g->n; i++)
        ak_free(g->ids[i]);
    ak_free(g->ids);
    memset(g, 0, sizeof *g);
}

/* ---- the reply ---------------------------------------------------------------------- */

akidb_status ak_fanout_reply_json(const akidb_points *pts, char **out)
{
    AK_ASSERT(pts && out);
    *out = NULL;
    sbuf b = { 0 };
    sb_puts(&b, "{\"hits\":[");
    for (size_t i = 0; i < pts->n; i++) {
        const akidb_point *p = &pts->items[i];
        AK_ASSERT(p->id);
        if (!isfinite(p->score) || (p->vector && !floats_finite(p->vector, p->dim))) {
            ak_free(b.p);
            return ak_fail(AKIDB_EINVAL, "cluster search reply: hit '%s' has a NaN or Inf "
                           "score or vector", p->id);
        }
        sb_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        sb_jstr(&b, p->id);
        sb_puts(&b, ",\"score\":");
        sb_float(&b, p->score);
        sb_puts(&b, ",\"text\":");
        sb_jstr(&b, p->text);
        sb_puts(&b, ",\"payload\":");
        sb_puts(&b, p->payload ? p->payload : "null");
        sb_puts(&b, ",\"vector\":");
        if (p->vector)
            sb_floats(&b, p->vector, p->dim);
        else
            sb_puts(&b, "null");
        sb_putn(&b, "}", 1);
    }
    char t[64];
    snprintf(t, sizeof t, "],\"examined\":%zu}", pts->examined);
    sb_puts(&b, t);
    return sb_finish(&b, out);
}

static void point_clear(akidb_point *p)
{
    ak_free(p->id);
    ak_free(p->text);
    ak_free(p->payload);
    ak_free(p->vector);
    memset(p, 0, sizeof *p);
}

static void points_clear(akidb_points *pts)
{
    for (size_t i = 0; i < pts->n; i++)
        point_clear(&pts->items[i]);
    ak_free(pts->items);
    ak_free(pts->next_cursor);
    memset(pts, 0, sizeof *pts);
}

/* One hit of a reply into p. */
static akidb_status hit_parse(json_t *h, size_t i, akidb_point *p)
{
    json_t *id = json_object_get(h, "id"), *sc = json_object_get(h, "score");
    json_t *tx = json_object_get(h, "text"), *pl = json_object_get(h, "payload");
    json_t *vec = json_object_get(h, "vector");
    if (!json_is_string(id) || !json_is_number(sc) || (tx && !json_is_null(tx) &&
                                                       !json_is_string(tx)))
        return ak_fail(AKIDB_EFORMAT, "cluster search reply: hit %zu needs a string \"id\", "
                       "a number \"score\" and a string or null \"text\"", i);
    p->score = (float)json_number_value(sc);
    if (!(p->id = ak_strdup(json_string_value(id))))
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (json_is_string(tx) && !(p->text = ak_strdup(json_string_value(tx))))
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (pl && !json_is_null(pl) && !(p->payload = json_dumps(pl, JSON_COMPACT | JSON_ENCODE_ANY)))
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (vec && !json_is_null(vec)) {
        akidb_status st = get_floats(vec, "cluster search reply: a hit's \"vector\"",
                                     AKIDB_DIM_MAX, &p->vector, &p->dim);
        if (st != AKIDB_OK)
            return st == AKIDB_EINVAL ? AKIDB_EFORMAT : st;
    }
    return AKIDB_OK;
}

/* Parses a reply body into out (empty on failure). */
static akidb_status reply_parse(const char *body, size_t len, akidb_points *out)
{
    memset(out, 0, sizeof *out);
    json_t *j = NULL;
    akidb_status st = ak_json_parse(body, len, 0, "cluster search reply", &j);
    json_t *hits = json_object_get(j, "hits"), *ex = json_object_get(j, "examined");
    if (st == AKIDB_OK && (!json_is_array(hits) || (ex && !json_is_integer(ex))))
        st = ak_fail(AKIDB_EFORMAT, "cluster search reply: no \"hits\" array");
    size_t n = json_array_size(hits);
    if (st == AKIDB_OK && !(out->items = ak_calloc(n ? n : 1, sizeof *out->items)))
        st = ak_fail(AKIDB_ENOMEM, "out of memory reading %zu hits", n);
    for (size_t i = 0; st == AKIDB_OK && i < n; i++) {
        out->n = i + 1;
        json_t *h = json_array_get(hits, i);
        st = json_is_object(h) ? hit_parse(h, i, &out->items[i])
                               : ak_fail(AKIDB_EFORMAT, "cluster search reply: hit %zu is "
                                         "not an object", i);
    }
    if (st == AKIDB_OK && ex && json_integer_value(ex) > 0)
        out->examined = (size_t)json_integer_value(ex);
    json_decref(j);
    if (st != AKIDB_OK)
        points_clear(out);
    return st;
}

/* ---- merging ------------------------------------------------------------------------ */

/* By id, then the better score first (so the first of a run of one id is kept). */
static int by_id(const void *a, const void *b)
{
    const akidb_point *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->score > y->score ? -1 : x->score < y->score ? 1 : 0;
}

/* Decreasing score, ties by id (NaN last). */
static int by_score(const void *a, const void *b)
{
    const akidb_point *x = a, *y = b;
    bool xn = isnan(x->score), yn = isnan(y->score);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->id, y->id);
}

akidb_status ak_fanout_merge(akidb_points *into, akidb_points *from, size_t top_k)
{
    AK_ASSERT(into && from && into != from && top_k > 0);
    size_t n = into->n + from->n;
    akidb_point *all = ak_malloc((n ? n : 1) * sizeof *all);
    if (!all) {
        points_clear(from);
        return ak_fail(AKIDB_ENOMEM, "out of memory merging %zu hits", n);
    }
    if (into->n)
        memcpy(all, into->items, into->n * sizeof *all);
    if (from->n)
        memcpy(all + into->n, from->items, from->n * sizeof *all);
    qsort(all, n, sizeof *all, by_id);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && strcmp(all[k - 1].id, all[i].id) == 0)
            point_clear(&all[i]);   /* the same point, a lower or equal score */
        else
            all[k++] = all[i];
    }
    qsort(all, k, sizeof *all, by_score);
    for (size_t i = top_k; i < k; i++)
        point_clear(&all[i]);
    ak_free(into->items);
    into->items = all;
    into->n = k < top_k ? k : top_k;
    into->examined += from->examined;
    ak_free(from->items);
    from->items = NULL;
    from->n = 0;
    from->examined = 0;
    ak_free(from->next_cursor);
    from->next_cursor = NULL;
    return AKIDB_OK;
}

/* ---- the fan-out -------------------------------------------------------------------- */

typedef struct fnode {
    const char *url;
    CURL *h;
    sbuf body;
    bool too_big, done;
    CURLcode code;
    char err[CURL_ERROR_SIZE];
} fnode;

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
    fnode *f = arg;
    size_t n = size * nmemb;
    if (f->body.n + n > REPLY_MAX) {
        f->too_big = true;
        return 0;
    }
    sb_putn(&f->body, p, n);
    return f->body.oom ? 0 : n;
}

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The node's request: url + path, POST of body with hdrs. */
static bool node_setup(fnode *f, const char *path, const char *body, struct curl_slist *hdrs,
                       long timeout_ms)
{
    size_t ul = strlen(f->url), pl = strlen(path);
    while (ul && f->url[ul - 1] == '/')
        ul--;
    char *full = ak_malloc(ul + pl + 1);
    if (!full || !(f->h = curl_easy_init())) {
        ak_free(full);
        return false;
    }
    memcpy(full, f->url, ul);
    memcpy(full + ul, path, pl + 1);
    CURLcode c = curl_easy_setopt(f->h, CURLOPT_URL, full);   /* libcurl copies it */
    ak_free(full);
    curl_easy_setopt(f->h, CURLOPT_POST, 1L);
    curl_easy_setopt(f->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(f->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(f->h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(f->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(f->h, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->h, CURLOPT_ERRORBUFFER, f->err);
    curl_easy_setopt(f->h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(f->h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(f->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->h, CURLOPT_PRIVATE, f);
    return c == CURLE_OK;
}

/* The status a node's HTTP error maps to (the server's reply.c mapping read back). */
static akidb_status http_status(long code, const char *ecode)
{
    if (code == 400)
        return strcmp(ecode, "dimension_mismatch") == 0 ? AKIDB_EDIM
               : strcmp(ecode, "out_of_range") == 0     ? AKIDB_ERANGE
                                                        : AKIDB_EINVAL;
    return code == 401 ? AKIDB_EAUTH
           : code == 403 ? AKIDB_EPERM
           : code == 404 ? AKIDB_ENOENT
           : code == 503 ? AKIDB_EBUSY
                         : AKIDB_EIO;
}

/* What node f answered: its hits merged into merged, or a failure. */
static akidb_status node_result(fnode *f, const char *what, size_t top_k,
                                akidb_points *merged)
{
    if (f->body.oom)
        return ak_fail(AKIDB_ENOMEM, "%s on node %s: out of memory for its reply", what,
                       f->url);
    if (f->too_big)
        return ak_fail(AKIDB_EIO, "%s on node %s: its reply is over %zu bytes", what,
                       f->url, REPLY_MAX);
    if (!f->done || f->code != CURLE_OK)
        return ak_fail(AKIDB_EIO, "%s on node %s: %s", what, f->url,
                       !f->done ? "no answer in time"
                       : f->err[0] ? f->err
                                   : curl_easy_strerror(f->code));
    long http = 0;
    curl_easy_getinfo(f->h, CURLINFO_RESPONSE_CODE, &http);
    if (http != 200) {
        json_t *j = json_loadb(f->body.p ? f->body.p : "", f->body.n, 0, NULL);
        json_t *e = json_object_get(j, "error");
        const char *msg = json_string_value(json_object_get(e, "message"));
        const char *code = json_string_value(json_object_get(e, "code"));
        akidb_status st = ak_fail(http_status(http, code ? code : ""),
                                  "%s on node %s: HTTP %ld: %s", what, f->url, http,
                                  msg ? msg : "(no error message)");
        json_decref(j);
        return st;
    }
    akidb_points got;
    akidb_status st = reply_parse(f->body.p, f->body.n, &got);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s on node %s", what, f->url);
    return ak_fanout_merge(merged, &got, top_k);
}

/* Runs every transfer until all are done or deadline passes. */
static void run_all(CURLM *multi, double deadline)
{
    int running = 1;
    while (running && ak_now() < deadline) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)))
            if (msg->msg == CURLMSG_DONE) {
                fnode *f = NULL;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
                f->done = true;
                f->code = msg->data.result;
            }
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
}

akidb_status ak_fanout_search(const char *const *urls, size_t n, const char *const *headers,
                              const char *req_json, double timeout_s, size_t top_k,
                              akidb_points *merged, int *failed)
{
    return ak_fanout_post(AK_FANOUT_PATH, urls, n, headers, req_json, timeout_s, top_k, merged,
                          failed);
}

akidb_status ak_fanout_post(const char *path, const char *const *urls, size_t n,
                            const char *const *headers, const char *req_json, double timeout_s,
                            size_t top_k, akidb_points *merged, int *failed)
{
    AK_ASSERT(path && (urls || !n) && req_json && merged && top_k > 0);
    const char *what = strcmp(path, AK_FANOUT_GET_PATH) == 0 ? "cluster get" : "cluster search";
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    ak_json_init();
    if (n == 0)
        return AKIDB_OK;
    fnode *nodes = ak_calloc(n, sizeof *nodes);
    /* Expect: (none) - no 100-continue round trip before a large body */
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    bool ok = hdrs && curl_slist_append(hdrs, "Expect:");
    for (size_t i = 0; ok && headers && headers[i]; i++)
        ok = curl_slist_append(hdrs, headers[i]) != NULL;
    CURLM *multi = curl_multi_init();
    long timeout_ms = timeout_s > 0 ? (long)(timeout_s * 1000.0) : 1;
    ok = ok && nodes && multi;
    for (size_t i = 0; ok && i < n; i++) {
        AK_ASSERT(urls[i]);
        nodes[i].url = urls[i];
        ok = node_setup(&nodes[i], path, req_json, hdrs, timeout_ms) &&
             curl_multi_add_handle(multi, nodes[i].h) == CURLM_OK;
    }
    akidb_status first = AKIDB_OK;
    char first_msg[1024] = "";
    size_t n_failed = 0;
    if (ok)
        run_all(multi, ak_now() + (double)timeout_ms / 1000.0 + 1.0);
    else
        first = ak_fail(AKIDB_ENOMEM, "out of memory starting a %s of %zu nodes", what, n);
    for (size_t i = 0; i < n; i++) {
        akidb_status st = ok ? node_result(&nodes[i], what, top_k, merged) : first;
        if (failed)
            failed[i] = st != AKIDB_OK;
        if (st != AKIDB_OK && n_failed++ == 0 && ok) {
            first = st;
            snprintf(first_msg, sizeof first_msg, "%s", akidb_last_error());
        }
    }
    for (size_t i = 0; nodes && i < n; i++) {
        if (nodes[i].h) {
            curl_multi_remove_handle(multi, nodes[i].h);
            curl_easy_cleanup(nodes[i].h);
        }
        ak_free(nodes[i].body.p);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdrs);
    ak_free(nodes);
    if (first != AKIDB_OK && ok)
        return ak_fail(first, "%s (%zu of %zu nodes failed)", first_msg, n_failed, n);
    return first;
}
