/*
 * routes_points.c - akidb's text-native point routes on one collection of
 * the caller's tenant: POST .../{name}/points (batch upsert; texts embedded
 * with the collection's bound model), POST .../search (text or vector),
 * POST .../scroll, GET/POST .../count, POST .../points/get and
 * .../points/delete (by ids), GET/DELETE .../points/{point_id}.
 * Collections themselves and the compatibility document shape are
 * routes_coll.c's; the request readers both use are coll_req.c's.  Writes
 * searches and gets by id go through the data plane (dataplane.h); scroll
 * and count read the local store where the data plane allows it.
 */
#include "server/coll_req.h"
#include "server/dataplane.h"

#ifdef AK_HAVE_STORE

#include <stdio.h>
#include <string.h>

/* ---- upsert ------------------------------------------------------------------- */

/* One upsert request's points as they are read; texts[k] (lens[k] bytes) is
 * embedded into emb row k for point which[k]. */
typedef struct upsert_batch {
    size_t n, n_embed;
    akidb_point_in *pts;
    uint32_t *dims;
    char (*ids)[AKIDB_POINT_ID_MAX + 1];
    char **payloads;
    float **vecs;
    const char **texts;
    size_t *lens;
    size_t *which;
    float *emb;
} upsert_batch;

static bool batch_alloc(upsert_batch *u, size_t n)
{
    memset(u, 0, sizeof *u);
    u->n = n;
    u->pts = ak_calloc(n, sizeof *u->pts);
    u->dims = ak_calloc(n, sizeof *u->dims);
    u->ids = ak_malloc(n * sizeof *u->ids);
    u->payloads = ak_calloc(n, sizeof *u->payloads);
    u->vecs = ak_calloc(n, sizeof *u->vecs);
    u->texts = ak_malloc(n * sizeof *u->texts);
    u->lens = ak_malloc(n * sizeof *u->lens);
    u->which = ak_malloc(n * sizeof *u->which);
    return u->pts && u->dims && u->ids && u->payloads && u->vecs && u->texts && u->lens &&
           u->which;
}

static void batch_free(upsert_batch *u)
{
    for (size_t i = 0; i < u->n; i++) {
        if (u->payloads)
            ak_free(u->payloads[i]);
        if (u->vecs)
            ak_free(u->vecs[i]);
    }
    ak_free(u->emb);
    ak_free(u->pts);
    ak_free(u->dims);
    ak_free(u->ids);
    ak_free(u->payloads);
    ak_free(u->vecs);
    ak_free(u->texts);
    ak_free(u->lens);
    ak_free(u->which);
}

/* Reads points[i] (p) of a batch for collection info into u. */
static bool read_point(ak_ctx *c, json_t *p, size_t i, const akidb_collection_info *info,
                       upsert_batch *u)
{
    char field[48];
    if (!json_is_object(p)) {
        ak_reply_error(c, 400, "invalid_request", "points[%zu] must be an object", i);
        return false;
    }
    const char *key;
    json_t *val;
    json_object_foreach(p, key, val) {
        if (strcmp(key, "id") && strcmp(key, "text") && strcmp(key, "vector") &&
            strcmp(key, "payload")) {
            ak_reply_error(c, 400, "invalid_request", "points[%zu]: unknown field \"%s\"", i,
                           key);
            return false;
        }
    }
    snprintf(field, sizeof field, "points[%zu].id", i);
    json_t *idj = json_object_get(p, "id");
    if (!idj) {
        ak_reply_error(c, 400, "invalid_request", "points[%zu]: \"id\" is required", i);
        return false;
    }
    if (!ak_coll_get_id(c, idj, field, u->ids[i], sizeof u->ids[i]))
        return false;
    u->pts[i].id = u->ids[i];
    json_t *tj = json_object_get(p, "text");
    if (tj && !json_is_null(tj)) {
        if (!json_is_string(tj) || json_string_length(tj) > AKIDB_TEXT_MAX) {
            ak_reply_error(c, 400, "invalid_request",
                           "points[%zu].text must be a string of at most %u bytes", i,
                           AKIDB_TEXT_MAX);
            return false;
        }
        u->pts[i].text = json_string_value(tj);
    }
    json_t *vj = json_object_get(p, "vector");
    if (vj && !json_is_null(vj)) {
        snprintf(field, sizeof field, "points[%zu].vector", i);
        if (!(u->vecs[i] = ak_coll_get_vector(c, vj, field, &u->dims[i])))
            return false;
        if (u->dims[i] != info->dim) {
            ak_reply_error(c, 400, "dimension_mismatch",
                           "points[%zu].vector has %u dimensions; collection '%s' has %u", i,
                           u->dims[i], info->name, info->dim);
            return false;
        }
        u->pts[i].vector = u->vecs[i];
    } else if (u->pts[i].text) {
        u->texts[u->n_embed] = u->pts[i].text;
        u->lens[u->n_embed] = json_string_length(tj);
        u->which[u->n_embed++] = i;
        u->dims[i] = info->dim;
    } else {
        ak_reply_error(c, 400, "invalid_request", "points[%zu] needs \"text\" or \"vector\"",
                       i);
        return false;
    }
    json_t *pl = json_object_get(p, "payload");
    if (!pl || json_is_null(pl))
        return true;
    if (!json_is_object(pl)) {
        ak_reply_error(c, 400, "invalid_request", "points[%zu].payload must be a JSON object",
                       i);
        return false;
    }
    char *txt = json_dumps(pl, JSON_COMPACT);
    u->payloads[i] = txt ? ak_strdup(txt) : NULL;
    ak_json_free_str(txt);
    if (!u->payloads[i]) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    if (strlen(u->payloads[i]) > AKIDB_PAYLOAD_MAX) {
        ak_reply_error(c, 400, "invalid_request", "points[%zu].payload is over %u bytes", i,
                       AKIDB_PAYLOAD_MAX);
        return false;
    }
    u->pts[i].payload = u->payloads[i];
    return true;
}

/* Embeds the batch's texts with the collection's model into their points. */
static bool embed_texts(ak_ctx *c, const akidb_collection_info *info, int truncate,
                        upsert_batch *u, size_t *tokens)
{
    if (u->n_embed > c->srv->cfg.max_request_texts) {
        ak_reply_error(c, 413, "too_many_texts",
                       "%zu texts to embed in one request; the limit is %zu", u->n_embed,
                       c->srv->cfg.max_request_texts);
        return false;
    }
    ak_emodel *em = ak_coll_bound_model(c, info);
    if (!em)
        return false;
    if (ak_emodel_info(em)->dim != info->dim) {
        ak_reply_error(c, 500, "internal", "model '%s' gives %zu dimensions; collection has %u",
                       info->model, ak_emodel_info(em)->dim, info->dim);
        return false;
    }
    if (!(u->emb = ak_malloc(u->n_embed * info->dim * sizeof *u->emb))) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    if (!ak_embed_for_route(c, em, u->texts, u->lens, u->n_embed, AKIDB_POOL_DEFAULT, -1,
                            truncate, u->emb, tokens))
        return false;   /* the message names the index among the texts */
    for (size_t k = 0; k < u->n_embed; k++)
        u->pts[u->which[k]].vector = u->emb + k * info->dim;
    return true;
}

static void upsert_points(ak_ctx *c, const char *coll)
{
    if (!ak_need_body(c))
        return;
    json_t *b = c->body;
    json_t *pj = json_object_get(b, "points");
    if (!pj)
        pj = json_object_get(b, "documents");
    if (!json_is_array(pj) || json_array_size(pj) == 0 || json_array_size(pj) > 100000) {
        ak_reply_error(c, 400, "invalid_request",
                       "\"points\" must be an array of 1..100000 objects {id, text?, vector?, payload?}");
        return;
    }
    int truncate;
    if (!ak_json_bool(c, b, "truncate", 1, &truncate))
        return;
    akidb_collection_info info;
    if (!ak_coll_get_info(c, coll, &info))
        return;
    upsert_batch u;
    size_t tokens = 0;
    bool ok = batch_alloc(&u, json_array_size(pj));
    if (!ok)
        ak_reply_error(c, 503, "overloaded", "out of memory");
    for (size_t i = 0; ok && i < u.n; i++)
        ok = read_point(c, json_array_get(pj, i), i, &info, &u);
    if (ok && u.n_embed > 0)
        ok = embed_texts(c, &info, truncate, &u, &tokens);
    if (ok) {
        akidb_status st =
            c->srv->dp->upsert(c->srv->dp_ctx, c->id.tenant, coll, u.pts, u.dims, u.n);
        if (st != AKIDB_OK)
            ak_coll_store_err(c, st, coll);
        else
            ak_reply_json(c, 200, json_pack("{s:I,s:I,s:{s:I}}", "upserted", (json_int_t)u.n,
                                            "embedded", (json_int_t)u.n_embed, "usage",
                                            "total_tokens", (json_int_t)tokens));
    }
    batch_free(&u);
}

/* ---- search, scroll, count, points by id ------------------------------------------ */

static void search_points(ak_ctx *c, const char *coll)
{
    if (!ak_need_body(c))
        return;
    double t0 = ak_now();
    json_t *b = c->body;
    akidb_collection_info info;
    if (!ak_coll_get_info(c, coll, &info))
        return;
    size_t top_k, ef;
    int exact, truncate;
    unsigned with;
    if (!ak_coll_get_size(c, b, "top_k", 10, 1, AKIDB_SEARCH_TOPK_MAX, &top_k) ||
        !ak_coll_get_size(c, b, "ef", 0, 1, AKIDB_SEARCH_EF_MAX, &ef) ||
        !ak_json_bool(c, b, "exact", 0, &exact) ||
        !ak_json_bool(c, b, "truncate", 1, &truncate) ||
        !ak_coll_get_include(c, json_object_get(b, "include"), AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT,
                     &with))
        return;
    json_t *tj = json_object_get(b, "text");
    json_t *vj = json_object_get(b, "vector");
    if (tj && json_is_null(tj))
        tj = NULL;
    if (vj && json_is_null(vj))
        vj = NULL;
    if ((tj == NULL) == (vj == NULL)) {
        ak_reply_error(c, 400, "invalid_request", "send exactly one of \"text\" and \"vector\"");
        return;
    }
    akidb_search_req sr = {.top_k = top_k, .ef = ef, .exact = exact != 0, .with = with};
    char err[200];
    if (!ak_quant_search_read(json_object_get(b, "quantization"), "quantization", &sr, err,
                              sizeof err)) {
        ak_reply_error(c, 400, "invalid_request", "%s", err);
        return;
    }
    char *filter;
    if (!ak_coll_get_filter(c, b, &filter))
        return;
    float *v = NULL;
    uint32_t dim = 0;
    size_t tokens = 0;
    ak_emodel *em = NULL;
    if (vj) {
        v = ak_coll_get_vector(c, vj, "vector", &dim);
        if (v && dim != info.dim) {
            ak_reply_error(c, 400, "dimension_mismatch",
                           "vector has %u dimensions; collection '%s' has %u", dim, coll,
                           info.dim);
            ak_free(v);
            v = NULL;
        }
    } else if (!json_is_string(tj)) {
        ak_reply_error(c, 400, "invalid_request", "\"text\" must be a string");
    } else if ((em = ak_coll_bound_model(c, &info)) != NULL) {
        v = ak_malloc(info.dim * sizeof *v);
        const char *t = json_string_value(tj);
        size_t l = json_string_length(tj);
        if (!v) {
            ak_reply_error(c, 503, "overloaded", "out of memory");
        } else if (!ak_embed_for_route(c, em, &t, &l, 1, AKIDB_POOL_DEFAULT, -1, truncate, v,
                                       &tokens)) {
            ak_free(v);
            v = NULL;
        }
        dim = info.dim;
    }
    if (!v) {
        ak_free(filter);
        return;
    }
    sr.vector = v;
    sr.dim = dim;
    sr.filter_json = filter;
    akidb_points pts = {0};
    akidb_status st = ak_dp_search(c, coll, &sr, &pts);
    ak_free(v);
    ak_free(filter);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
        return;
    }
    json_t *hits = ak_coll_points_json(&pts, with, true);
    akidb_points_free(&pts);
    json_t *r = hits ? json_pack("{s:o,s:f}", "hits", hits, "latency_ms",
                                 (ak_now() - t0) * 1000.0)
                     : NULL;
    if (r && em) {
        json_object_set_new(r, "model", json_string(ak_emodel_name(em)));
        json_object_set_new(r, "usage", json_pack("{s:I}", "total_tokens", (json_int_t)tokens));
    }
    ak_reply_json(c, 200, r);
}

static void scroll_points(ak_ctx *c, const char *coll)
{
    if (!ak_dp_reads_ok(c))   /* a node holding only some shards */
        return;
    if (!ak_need_body(c))
        return;
    json_t *b = c->body;
    size_t limit;
    unsigned with;
    if (!ak_coll_get_size(c, b, "limit", 100, 1, 10000, &limit) ||
        !ak_coll_get_include(c, json_object_get(b, "include"), AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT,
                     &with))
        return;
    json_t *cj = json_object_get(b, "cursor");
    if (cj && !json_is_null(cj) && !json_is_string(cj)) {
        ak_reply_error(c, 400, "invalid_request", "\"cursor\" must be a string");
        return;
    }
    char *filter;
    if (!ak_coll_get_filter(c, b, &filter))
        return;
    akidb_points pts = {0};
    akidb_status st = akidb_points_scroll(c->srv->store, c->id.tenant, coll,
                                          json_is_string(cj) ? json_string_value(cj) : NULL,
                                          limit, filter, with, &pts);
    ak_free(filter);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
        return;
    }
    json_t *arr = ak_coll_points_json(&pts, with, false);
    json_t *r = arr ? json_pack("{s:o,s:o}", "points", arr, "next_cursor",
                                pts.next_cursor ? json_string(pts.next_cursor) : json_null())
                    : NULL;
    akidb_points_free(&pts);
    ak_reply_json(c, 200, r);
}

static void count_points(ak_ctx *c, const char *coll)
{
    if (!ak_dp_reads_ok(c))   /* a node holding only some shards */
        return;
    char *filter = NULL;
    if (strcmp(c->req->method, "POST") == 0 && c->req->body_len > 0) {
        if (!ak_need_body(c) || !ak_coll_get_filter(c, c->body, &filter))
            return;
    }
    uint64_t n = 0;
    akidb_status st = akidb_points_count(c->srv->store, c->id.tenant, coll, filter, &n);
    ak_free(filter);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:I}", "count", (json_int_t)n));
}

/* ids array -> borrowed C strings; replies 400 on error. */
static bool get_ids(ak_ctx *c, json_t *b, const char ***ids, size_t *n)
{
    json_t *a = json_object_get(b, "ids");
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > 100000) {
        ak_reply_error(c, 400, "invalid_request", "\"ids\" must be an array of 1..100000 strings");
        return false;
    }
    *n = json_array_size(a);
    *ids = ak_malloc(*n * sizeof **ids);
    if (!*ids) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s) || json_string_length(s) == 0 ||
            json_string_length(s) > AKIDB_POINT_ID_MAX) {
            ak_free(*ids);
            ak_reply_error(c, 400, "invalid_request", "ids[%zu] must be a string of 1..%d bytes",
                           i, AKIDB_POINT_ID_MAX);
            return false;
        }
        (*ids)[i] = json_string_value(s);
    }
    return true;
}

static void get_points(ak_ctx *c, const char *coll, const char *const *ids, size_t n,
                       unsigned with, bool single)
{
    akidb_points pts = {0};
    akidb_status st = ak_dp_get(c, coll, ids, n, with, &pts);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
        return;
    }
    if (single) {
        if (pts.n == 0)
            ak_reply_error(c, 404, "point_not_found", "no point '%s' in collection '%s'",
                           ids[0], coll);
        else
            ak_reply_json(c, 200, ak_coll_point_json(&pts.items[0], with, false));
    } else {
        json_t *arr = ak_coll_points_json(&pts, with, false);
        ak_reply_json(c, 200, arr ? json_pack("{s:o}", "points", arr) : NULL);
    }
    akidb_points_free(&pts);
}

static void delete_points(ak_ctx *c, const char *coll, const char *const *ids, size_t n,
                          bool single)
{
    size_t nd = 0;
    akidb_status st = c->srv->dp->del(c->srv->dp_ctx, c->id.tenant, coll, ids, n, &nd);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
        return;
    }
    if (single && nd == 0) {
        ak_reply_error(c, 404, "point_not_found", "no point '%s' in collection '%s'", ids[0],
                       coll);
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:I}", "deleted", (json_int_t)nd));
}

/* POST .../points/get and .../points/delete: points by ids. */
static void points_by_ids(ak_ctx *c, bool del)
{
    const char *coll = c->param[0];
    const char **ids;
    size_t n;
    unsigned with = AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT;
    if (!del && !ak_coll_get_include(c, json_object_get(c->body, "include"), with, &with))
        return;
    if (!get_ids(c, c->body, &ids, &n))
        return;
    if (del)
        delete_points(c, coll, ids, n, false);
    else
        get_points(c, coll, ids, n, with, false);
    ak_free(ids);
}

static void points_get_ids(ak_ctx *c) { points_by_ids(c, false); }
static void points_delete_ids(ak_ctx *c) { points_by_ids(c, true); }

/* GET .../points/{point_id} */
static void point_get(ak_ctx *c)
{
    unsigned with;
    if (ak_coll_get_include_query(c, AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT, &with))
        get_points(c, c->param[0], &c->param[1], 1, with, true);
}

/* DELETE .../points/{point_id} */
static void point_delete(ak_ctx *c)
{
    delete_points(c, c->param[0], &c->param[1], 1, true);
}

/* The handlers of one collection take its name from the pattern. */
#define ON_COLL(name, fn) \
    static void name(ak_ctx *c) { fn(c, c->param[0]); }
ON_COLL(r_upsert, upsert_points)
ON_COLL(r_search, search_points)
ON_COLL(r_scroll, scroll_points)
ON_COLL(r_count, count_points)
#undef ON_COLL

#define COLL "/api/v1/collections/{name}"
static const ak_route routes[] = {
    { "POST", COLL "/points", AK_ROLE_WRITER, r_upsert, AK_RT_JSON },
    { "POST", COLL "/search", AK_ROLE_READER, r_search, AK_RT_JSON },
    { "POST", COLL "/scroll", AK_ROLE_READER, r_scroll, AK_RT_JSON },
    { "GET|POST", COLL "/count", AK_ROLE_READER, r_count, 0 },
    { "POST", COLL "/points/get", AK_ROLE_READER, points_get_ids, AK_RT_JSON },
    { "POST", COLL "/points/delete", AK_ROLE_WRITER, points_delete_ids, AK_RT_JSON },
    { "GET", COLL "/points/{point_id}", AK_ROLE_READER, point_get, 0 },
    { "DELETE", COLL "/points/{point_id}", AK_ROLE_WRITER, point_delete, 0 },
};
#undef COLL

const ak_route_family ak_routes_points = { "points", AK_ROUTES(routes), NULL };

#else  /* !AK_HAVE_STORE */

const ak_route_family ak_routes_points = { "points", NULL, 0, NULL };

#endif
