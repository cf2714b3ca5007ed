/*
 * routes_coll.c - collection routes on the durable store, always inside the
 * tenant of the caller's key (the tenant never comes from the request, so a
 * key cannot reach another tenant's data):
 *
 *   compatibility shape   POST/GET /api/v1/collections, GET/DELETE .../{id},
 *                         POST .../{id}/insert, POST .../{id}/query,
 *                         GET/DELETE .../{id}/docs/{doc_id}
 *   text-native shape     POST .../{id}/points (batch upsert, text embedded
 *                         with the collection's bound model), POST
 *                         .../{id}/search (text or vector), POST .../scroll,
 *                         GET/POST .../count, POST .../points/get,
 *                         POST .../points/delete, GET/DELETE .../points/{pid}
 */
#include "server/route.h"

#ifdef AK_HAVE_STORE

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Replies for a failed store call on collection name. */
static void store_err(ak_ctx *c, akidb_status st, const char *name)
{
    if (st == AKIDB_ENOENT) {
        ak_reply_error(c, 404, "collection_not_found", "%s",
                       akidb_last_error()[0] ? akidb_last_error() : "no such collection");
        return;
    }
    (void)name;
    ak_reply_status(c, st);
}

static json_t *info_json(const akidb_collection_info *in)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:o,s:I,s:{s:I,s:I}}", "id", in->name,
                     "collection_id", in->name, "name", in->name, "dimension",
                     (json_int_t)in->dim, "metric", akidb_metric_name(in->metric), "model",
                     in->model[0] ? json_string(in->model) : json_null(), "points",
                     (json_int_t)in->n_points, "hnsw", "m", (json_int_t)in->hnsw_m,
                     "ef_construction", (json_int_t)in->hnsw_ef_construction);
}

/* Point id from a JSON string or integer into buf; replies 400 on error. */
static bool get_id(ak_ctx *c, json_t *v, const char *field, char *buf, size_t cap)
{
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        if (n == 0 || n > AKIDB_POINT_ID_MAX || n >= cap) {
            ak_reply_error(c, 400, "invalid_request", "\"%s\" must be 1..%d bytes", field,
                           AKIDB_POINT_ID_MAX);
            return false;
        }
        memcpy(buf, json_string_value(v), n + 1);
        return true;
    }
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        return true;
    }
    ak_reply_error(c, 400, "invalid_request", "\"%s\" must be a string or an integer", field);
    return false;
}

/* Reads a numeric array into a new float array; replies 400 on error. */
static float *get_vector(ak_ctx *c, json_t *v, const char *field, uint32_t *dim)
{
    if (!json_is_array(v) || json_array_size(v) == 0 ||
        json_array_size(v) > AKIDB_DIM_MAX) {
        ak_reply_error(c, 400, "invalid_request", "\"%s\" must be an array of 1..%d numbers",
                       field, AKIDB_DIM_MAX);
        return NULL;
    }
    size_t n = json_array_size(v);
    float *f = ak_malloc(n * sizeof *f);
    if (!f) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        double d = json_is_number(x) ? json_number_value(x) : NAN;
        float fv = (float)d;
        if (!json_is_number(x) || !isfinite(fv)) {
            ak_free(f);
            ak_reply_error(c, 400, "invalid_request",
                           "\"%s\"[%zu] must be a finite number in float range", field, i);
            return NULL;
        }
        f[i] = fv;
    }
    *dim = (uint32_t)n;
    return f;
}

static bool get_info(ak_ctx *c, const char *name, akidb_collection_info *info)
{
    akidb_status st = akidb_collection_get_info(c->srv->store, c->id.tenant, name, info);
    if (st != AKIDB_OK) {
        if (st == AKIDB_EINVAL)
            ak_reply_error(c, 404, "collection_not_found", "no collection named '%s' (%s)",
                           name, akidb_last_error());
        else
            store_err(c, st, name);
        return false;
    }
    return true;
}

/* "filter" field as compact JSON text in *out (NULL when absent). */
static bool get_filter(ak_ctx *c, json_t *body, char **out)
{
    *out = NULL;
    json_t *f = json_object_get(body, "filter");
    if (!f || json_is_null(f))
        return true;
    if (!json_is_object(f)) {
        ak_reply_error(c, 400, "invalid_filter", "\"filter\" must be a JSON object");
        return false;
    }
    char *txt = json_dumps(f, JSON_COMPACT);
    if (!txt) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    *out = ak_strdup(txt);
    ak_json_free_str(txt);
    if (!*out) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    if (akidb_filter_validate(*out) != AKIDB_OK) {
        ak_reply_error(c, 400, "invalid_filter", "%s", akidb_last_error());
        ak_free(*out);
        *out = NULL;
        return false;
    }
    return true;
}

/* The AKIDB_WITH_* flag of one "include" name, 0 if it names none. */
static unsigned include_flag(const char *name)
{
    if (strcmp(name, "payload") == 0)
        return AKIDB_WITH_PAYLOAD;
    if (strcmp(name, "text") == 0)
        return AKIDB_WITH_TEXT;
    if (strcmp(name, "vector") == 0)
        return AKIDB_WITH_VECTOR;
    return 0;
}

/* "include" (array of "payload", "text", "vector") -> AKIDB_WITH_* mask. */
static bool get_include(ak_ctx *c, json_t *v, unsigned def, unsigned *out)
{
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_array(v)) {
        ak_reply_error(c, 400, "invalid_request",
                       "\"include\" must be an array of \"payload\", \"text\", \"vector\"");
        return false;
    }
    unsigned m = 0;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        unsigned f = include_flag(json_is_string(x) ? json_string_value(x) : "");
        if (f) {
            m |= f;
        } else {
            ak_reply_error(c, 400, "invalid_request",
                           "\"include\"[%zu] must be \"payload\", \"text\" or \"vector\"", i);
            return false;
        }
    }
    *out = m;
    return true;
}

/* Same from a comma-separated query argument. */
static bool get_include_query(ak_ctx *c, unsigned def, unsigned *out)
{
    char buf[64];
    const char *q = ak_query_arg(c, "include", buf, sizeof buf);
    *out = def;
    if (!q)
        return true;
    unsigned m = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned f = include_flag(t);
        if (f) {
            m |= f;
        } else {
            ak_reply_error(c, 400, "invalid_request",
                           "include= takes payload,text,vector; got '%s'", t);
            return false;
        }
    }
    *out = m;
    return true;
}

static bool get_size(ak_ctx *c, json_t *body, const char *key, size_t def, size_t lo,
                     size_t hi, size_t *out)
{
    json_t *v = json_object_get(body, key);
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
        (uint64_t)json_integer_value(v) > hi) {
        ak_reply_error(c, 400, "invalid_request", "\"%s\" must be an integer from %zu to %zu",
                       key, lo, hi);
        return false;
    }
    *out = (size_t)json_integer_value(v);
    return true;
}

static json_t *float_array(const float *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_real((double)v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

static json_t *payload_json(const char *p)
{
    if (!p)
        return json_null();
    json_t *j = json_loads(p, 0, NULL);
    return j ? j : json_string(p);
}

/* A point (or hit) as JSON with the requested fields. */
static json_t *point_json(const akidb_point *p, unsigned with, bool hit)
{
    json_t *o = json_pack("{s:s}", "id", p->id);
    if (!o)
        return NULL;
    if (hit)
        json_object_set_new(o, "score", json_real((double)p->score));
    if (with & AKIDB_WITH_PAYLOAD)
        json_object_set_new(o, "payload", payload_json(p->payload));
    if (with & AKIDB_WITH_TEXT)
        json_object_set_new(o, "text", p->text ? json_string(p->text) : json_null());
    if ((with & AKIDB_WITH_VECTOR) && p->vector)
        json_object_set_new(o, "vector", float_array(p->vector, p->dim));
    return o;
}

static json_t *points_json(const akidb_points *pts, unsigned with, bool hit)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < pts->n; i++)
        if (json_array_append_new(a, point_json(&pts->items[i], with, hit)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The loaded model a collection is bound to; replies and returns NULL when
 * there is none. */
static ak_emodel *bound_model(ak_ctx *c, const akidb_collection_info *info)
{
    if (!info->model[0]) {
        ak_reply_error(c, 400, "no_model",
                       "collection '%s' has no bound model; send vectors, or create it "
                       "with \"model\"", info->name);
        return NULL;
    }
    ak_emodel *em = ak_models_find(c->srv->models, info->model);
    if (!em)
        ak_reply_error(c, 503, "model_not_loaded",
                       "collection '%s' is bound to model '%s', which this server has not "
                       "loaded", info->name, info->model);
    return em;
}

/* ---- collections ------------------------------------------------------------ */

static void create_collection(ak_ctx *c)
{
    if (!ak_need_body(c))
        return;
    json_t *b = c->body;
    json_t *nj = json_object_get(b, "name");
    if (!nj)
        nj = json_object_get(b, "id");
    if (!json_is_string(nj)) {
        ak_reply_error(c, 400, "invalid_request", "\"name\" (a string) is required");
        return;
    }
    const char *name = json_string_value(nj);
    akidb_collection_opts o = {0};
    json_t *dj = json_object_get(b, "dimension");
    if (!dj)
        dj = json_object_get(b, "dim");
    if (dj && !json_is_null(dj)) {
        if (!json_is_integer(dj) || json_integer_value(dj) < 1 ||
            json_integer_value(dj) > AKIDB_DIM_MAX) {
            ak_reply_error(c, 400, "invalid_request",
                           "\"dimension\" must be an integer from 1 to %d", AKIDB_DIM_MAX);
            return;
        }
        o.dim = (uint32_t)json_integer_value(dj);
    }
    json_t *mj = json_object_get(b, "metric");
    if (mj && !json_is_null(mj)) {
        if (!json_is_string(mj) || akidb_metric_parse(json_string_value(mj), &o.metric) != AKIDB_OK) {
            ak_reply_error(c, 400, "invalid_request",
                           "\"metric\" must be \"cosine\", \"l2\" or \"dot\"");
            return;
        }
    }
    json_t *mod = json_object_get(b, "model");
    if (mod && !json_is_null(mod)) {
        if (!json_is_string(mod)) {
            ak_reply_error(c, 400, "invalid_request", "\"model\" must be a string");
            return;
        }
        ak_emodel *em = ak_models_find(c->srv->models, json_string_value(mod));
        if (!em) {
            ak_reply_error(c, 404, "model_not_found", "no model named '%s' is loaded",
                           json_string_value(mod));
            return;
        }
        size_t mdim = ak_emodel_info(em)->dim;
        if (o.dim && o.dim != mdim) {
            ak_reply_error(c, 400, "dimension_mismatch",
                           "dimension %u does not match model '%s' (%zu)", o.dim,
                           ak_emodel_name(em), mdim);
            return;
        }
        o.dim = (uint32_t)mdim;
        o.model = ak_emodel_name(em);
    }
    if (!o.dim) {
        ak_reply_error(c, 400, "invalid_request", "\"dimension\" or \"model\" is required");
        return;
    }
    size_t hm, hef;
    if (!get_size(c, b, "hnsw_m", 0, 2, 128, &hm) ||
        !get_size(c, b, "ef_construction", 0, 4, 4096, &hef))
        return;
    o.hnsw_m = (uint32_t)hm;
    o.hnsw_ef_construction = (uint32_t)hef;
    akidb_status st = akidb_collection_create(c->srv->store, c->id.tenant, name, &o);
    if (st == AKIDB_EEXIST) {
        ak_reply_error(c, 409, "already_exists", "collection '%s' exists", name);
        return;
    }
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    akidb_collection_info info;
    if (get_info(c, name, &info))
        ak_reply_json(c, 201, info_json(&info));
}

static void list_collections(ak_ctx *c)
{
    akidb_names names = {0};
    akidb_status st = akidb_collection_list(c->srv->store, c->id.tenant, &names);
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < names.n; i++) {
        akidb_collection_info info;
        if (akidb_collection_get_info(c->srv->store, c->id.tenant, names.names[i], &info) !=
            AKIDB_OK)
            continue;   /* deleted meanwhile */
        if (json_array_append_new(arr, info_json(&info)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    akidb_names_free(&names);
    ak_reply_json(c, 200, arr ? json_pack("{s:o}", "collections", arr) : NULL);
}

/* ---- compatibility document routes ------------------------------------------ */

static void insert_doc(ak_ctx *c, const char *coll)
{
    if (!ak_need_body(c))
        return;
    json_t *b = c->body;
    char id[AKIDB_POINT_ID_MAX + 1];
    json_t *idj = json_object_get(b, "doc_id");
    if (!idj) {
        ak_reply_error(c, 400, "invalid_request", "\"doc_id\" is required");
        return;
    }
    if (!get_id(c, idj, "doc_id", id, sizeof id))
        return;
    json_t *vj = json_object_get(b, "vector");
    if (!vj) {
        ak_reply_error(c, 400, "invalid_request", "\"vector\" is required");
        return;
    }
    uint32_t dim;
    float *v = get_vector(c, vj, "vector", &dim);
    if (!v)
        return;
    char *payload = NULL;
    json_t *ext = json_object_get(b, "external_id");
    if (ext && !json_is_null(ext)) {
        if (!json_is_string(ext) && !json_is_integer(ext)) {
            ak_free(v);
            ak_reply_error(c, 400, "invalid_request",
                           "\"external_id\" must be a string or an integer");
            return;
        }
        json_t *p = json_pack("{s:O}", "external_id", ext);
        char *txt = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        payload = txt ? ak_strdup(txt) : NULL;
        ak_json_free_str(txt);
        if (!payload) {
            ak_free(v);
            ak_reply_error(c, 503, "overloaded", "out of memory");
            return;
        }
    }
    akidb_point_in pt = {id, v, NULL, payload};
    akidb_status st = akidb_points_upsert(c->srv->store, c->id.tenant, coll, &pt, &dim, 1);
    ak_free(v);
    ak_free(payload);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
        return;
    }
    ak_reply_json(c, 201, json_pack("{s:s,s:b}", "doc_id", id, "inserted", 1));
}

static double distance_of(akidb_metric m, float score)
{
    switch (m) {
    case AKIDB_METRIC_COSINE: return 1.0 - (double)score;
    default: return -(double)score;
    }
}

static json_t *external_id_of(const char *payload)
{
    if (!payload)
        return json_null();
    json_t *p = json_loads(payload, 0, NULL);
    json_t *e = p ? json_object_get(p, "external_id") : NULL;
    json_t *r = e ? json_incref(e) : json_null();
    json_decref(p);
    return r;
}

static void query_docs(ak_ctx *c, const char *coll)
{
    if (!ak_need_body(c))
        return;
    double t0 = ak_now();
    json_t *b = c->body;
    akidb_collection_info info;
    if (!get_info(c, coll, &info))
        return;
    json_t *qv = json_object_get(b, "query_vector");
    if (!qv) {
        ak_reply_error(c, 400, "invalid_request", "\"query_vector\" is required");
        return;
    }
    size_t top_k, ef;
    if (!get_size(c, b, "top_k", 10, 1, 10000, &top_k) || !get_size(c, b, "ef", 0, 1, 100000, &ef))
        return;
    char *filter;
    if (!get_filter(c, b, &filter))
        return;
    uint32_t dim;
    float *v = get_vector(c, qv, "query_vector", &dim);
    if (!v) {
        ak_free(filter);
        return;
    }
    if (dim != info.dim) {
        ak_free(v);
        ak_free(filter);
        ak_reply_error(c, 400, "dimension_mismatch",
                       "query_vector has %u dimensions; collection '%s' has %u", dim, coll,
                       info.dim);
        return;
    }
    akidb_search_req sr = {v, dim, top_k, ef, filter, false, AKIDB_WITH_PAYLOAD};
    akidb_points pts = {0};
    akidb_status st = akidb_search(c->srv->store, c->id.tenant, coll, &sr, &pts);
    ak_free(v);
    ak_free(filter);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < pts.n; i++) {
        akidb_point *p = &pts.items[i];
        json_t *m = json_pack("{s:s,s:o,s:f}", "doc_id", p->id, "external_id",
                              external_id_of(p->payload), "distance",
                              distance_of(info.metric, p->score));
        if (!m || json_array_append_new(arr, m) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    akidb_points_free(&pts);
    ak_reply_json(c, 200, arr ? json_pack("{s:o,s:f}", "matches", arr, "latency_ms",
                                          (ak_now() - t0) * 1000.0)
                              : NULL);
}

/* GET .../docs/{doc_id} */
static void doc_get(ak_ctx *c)
{
    const char *coll = c->param[0], *id = c->param[1];
    akidb_points pts = {0};
    akidb_status st = akidb_points_get(c->srv->store, c->id.tenant, coll, &id, 1,
                                       AKIDB_WITH_PAYLOAD | AKIDB_WITH_VECTOR |
                                           AKIDB_WITH_TEXT,
                                       &pts);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
        return;
    }
    if (pts.n == 0) {
        akidb_points_free(&pts);
        ak_reply_error(c, 404, "doc_not_found", "no document '%s' in collection '%s'",
                       id, coll);
        return;
    }
    akidb_point *p = &pts.items[0];
    json_t *r = json_pack("{s:s,s:o,s:o}", "doc_id", p->id, "external_id",
                          external_id_of(p->payload), "vector",
                          float_array(p->vector, p->dim));
    akidb_points_free(&pts);
    ak_reply_json(c, 200, r);
}

/* DELETE .../docs/{doc_id} */
static void doc_delete(ak_ctx *c)
{
    const char *coll = c->param[0], *id = c->param[1];
    size_t nd = 0;
    akidb_status st = akidb_points_delete(c->srv->store, c->id.tenant, coll, &id, 1, &nd);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
        return;
    }
    if (nd == 0) {
        ak_reply_error(c, 404, "doc_not_found", "no document '%s' in collection '%s'",
                       id, coll);
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:s,s:b}", "doc_id", id, "deleted", 1));
}

/* ---- text-native routes -------------------------------------------------------- */

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
    if (!get_info(c, coll, &info))
        return;
    size_t n = json_array_size(pj);
    akidb_point_in *pts = ak_calloc(n, sizeof *pts);
    uint32_t *dims = ak_calloc(n, sizeof *dims);
    char (*ids)[AKIDB_POINT_ID_MAX + 1] = ak_malloc(n * sizeof *ids);
    char **payloads = ak_calloc(n, sizeof *payloads);
    float **vecs = ak_calloc(n, sizeof *vecs);
    const char **texts = ak_malloc(n * sizeof *texts);
    size_t *lens = ak_malloc(n * sizeof *lens);
    size_t *which = ak_malloc(n * sizeof *which);
    float *emb = NULL;
    size_t n_embed = 0, tokens = 0;
    bool ok = pts && dims && ids && payloads && vecs && texts && lens && which;
    if (!ok)
        ak_reply_error(c, 503, "overloaded", "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        json_t *p = json_array_get(pj, i);
        char field[48];
        if (!json_is_object(p)) {
            ak_reply_error(c, 400, "invalid_request", "points[%zu] must be an object", i);
            ok = false;
            break;
        }
        const char *key;
        json_t *val;
        json_object_foreach(p, key, val) {
            if (strcmp(key, "id") && strcmp(key, "text") && strcmp(key, "vector") &&
                strcmp(key, "payload")) {
                ak_reply_error(c, 400, "invalid_request", "points[%zu]: unknown field \"%s\"",
                               i, key);
                ok = false;
                break;
            }
        }
        if (!ok)
            break;
        snprintf(field, sizeof field, "points[%zu].id", i);
        json_t *idj = json_object_get(p, "id");
        if (!idj) {
            ak_reply_error(c, 400, "invalid_request", "points[%zu]: \"id\" is required", i);
            ok = false;
            break;
        }
        if (!get_id(c, idj, field, ids[i], sizeof ids[i])) {
            ok = false;
            break;
        }
        pts[i].id = ids[i];
        json_t *tj = json_object_get(p, "text");
        if (tj && !json_is_null(tj)) {
            if (!json_is_string(tj) || json_string_length(tj) > AKIDB_TEXT_MAX) {
                ak_reply_error(c, 400, "invalid_request",
                               "points[%zu].text must be a string of at most %u bytes", i,
                               AKIDB_TEXT_MAX);
                ok = false;
                break;
            }
            pts[i].text = json_string_value(tj);
        }
        json_t *vj = json_object_get(p, "vector");
        if (vj && !json_is_null(vj)) {
            snprintf(field, sizeof field, "points[%zu].vector", i);
            vecs[i] = get_vector(c, vj, field, &dims[i]);
            if (!vecs[i]) {
                ok = false;
                break;
            }
            if (dims[i] != info.dim) {
                ak_reply_error(c, 400, "dimension_mismatch",
                               "points[%zu].vector has %u dimensions; collection '%s' has %u",
                               i, dims[i], coll, info.dim);
                ok = false;
                break;
            }
            pts[i].vector = vecs[i];
        } else if (pts[i].text) {
            texts[n_embed] = pts[i].text;
            lens[n_embed] = json_string_length(tj);
            which[n_embed++] = i;
            dims[i] = info.dim;
        } else {
            ak_reply_error(c, 400, "invalid_request",
                           "points[%zu] needs \"text\" or \"vector\"", i);
            ok = false;
            break;
        }
        json_t *pl = json_object_get(p, "payload");
        if (pl && !json_is_null(pl)) {
            if (!json_is_object(pl)) {
                ak_reply_error(c, 400, "invalid_request",
                               "points[%zu].payload must be a JSON object", i);
                ok = false;
                break;
            }
            char *txt = json_dumps(pl, JSON_COMPACT);
            payloads[i] = txt ? ak_strdup(txt) : NULL;
            ak_json_free_str(txt);
            if (!payloads[i]) {
                ak_reply_error(c, 503, "overloaded", "out of memory");
                ok = false;
                break;
            }
            if (strlen(payloads[i]) > AKIDB_PAYLOAD_MAX) {
                ak_reply_error(c, 400, "invalid_request",
                               "points[%zu].payload is over %u bytes", i, AKIDB_PAYLOAD_MAX);
                ok = false;
                break;
            }
            pts[i].payload = payloads[i];
        }
    }
    ak_emodel *em = NULL;
    if (ok && n_embed > 0) {
        if (n_embed > c->srv->cfg.max_request_texts) {
            ak_reply_error(c, 413, "too_many_texts",
                           "%zu texts to embed in one request; the limit is %zu", n_embed,
                           c->srv->cfg.max_request_texts);
            ok = false;
        }
        if (ok && !(em = bound_model(c, &info)))
            ok = false;
        if (ok && ak_emodel_info(em)->dim != info.dim) {
            ak_reply_error(c, 500, "internal", "model '%s' gives %zu dimensions; collection has %u",
                           info.model, ak_emodel_info(em)->dim, info.dim);
            ok = false;
        }
        if (ok) {
            emb = ak_malloc(n_embed * info.dim * sizeof *emb);
            if (!emb) {
                ak_reply_error(c, 503, "overloaded", "out of memory");
                ok = false;
            }
        }
        if (ok && !ak_embed_for_route(c, em, texts, lens, n_embed, AKIDB_POOL_DEFAULT, -1,
                                      truncate, emb, &tokens))
            ok = false;   /* the message names the index among the texts */
        for (size_t k = 0; ok && k < n_embed; k++)
            pts[which[k]].vector = emb + k * info.dim;
    }
    if (ok) {
        akidb_status st = akidb_points_upsert(c->srv->store, c->id.tenant, coll, pts, dims, n);
        if (st != AKIDB_OK)
            store_err(c, st, coll);
        else
            ak_reply_json(c, 200, json_pack("{s:I,s:I,s:{s:I}}", "upserted", (json_int_t)n,
                                            "embedded", (json_int_t)n_embed, "usage",
                                            "total_tokens", (json_int_t)tokens));
    }
    for (size_t i = 0; i < n; i++) {
        if (payloads)
            ak_free(payloads[i]);
        if (vecs)
            ak_free(vecs[i]);
    }
    ak_free(emb);
    ak_free(pts);
    ak_free(dims);
    ak_free(ids);
    ak_free(payloads);
    ak_free(vecs);
    ak_free(texts);
    ak_free(lens);
    ak_free(which);
}

static void search_points(ak_ctx *c, const char *coll)
{
    if (!ak_need_body(c))
        return;
    double t0 = ak_now();
    json_t *b = c->body;
    akidb_collection_info info;
    if (!get_info(c, coll, &info))
        return;
    size_t top_k, ef;
    int exact, truncate;
    unsigned with;
    if (!get_size(c, b, "top_k", 10, 1, 10000, &top_k) ||
        !get_size(c, b, "ef", 0, 1, 100000, &ef) || !ak_json_bool(c, b, "exact", 0, &exact) ||
        !ak_json_bool(c, b, "truncate", 1, &truncate) ||
        !get_include(c, json_object_get(b, "include"), AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT,
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
    char *filter;
    if (!get_filter(c, b, &filter))
        return;
    float *v = NULL;
    uint32_t dim = 0;
    size_t tokens = 0;
    ak_emodel *em = NULL;
    if (vj) {
        v = get_vector(c, vj, "vector", &dim);
        if (v && dim != info.dim) {
            ak_reply_error(c, 400, "dimension_mismatch",
                           "vector has %u dimensions; collection '%s' has %u", dim, coll,
                           info.dim);
            ak_free(v);
            v = NULL;
        }
    } else if (!json_is_string(tj)) {
        ak_reply_error(c, 400, "invalid_request", "\"text\" must be a string");
    } else if ((em = bound_model(c, &info)) != NULL) {
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
    akidb_search_req sr = {v, dim, top_k, ef, filter, exact != 0, with};
    akidb_points pts = {0};
    akidb_status st = akidb_search(c->srv->store, c->id.tenant, coll, &sr, &pts);
    ak_free(v);
    ak_free(filter);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
        return;
    }
    json_t *hits = points_json(&pts, with, true);
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
    if (!ak_need_body(c))
        return;
    json_t *b = c->body;
    size_t limit;
    unsigned with;
    if (!get_size(c, b, "limit", 100, 1, 10000, &limit) ||
        !get_include(c, json_object_get(b, "include"), AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT,
                     &with))
        return;
    json_t *cj = json_object_get(b, "cursor");
    if (cj && !json_is_null(cj) && !json_is_string(cj)) {
        ak_reply_error(c, 400, "invalid_request", "\"cursor\" must be a string");
        return;
    }
    char *filter;
    if (!get_filter(c, b, &filter))
        return;
    akidb_points pts = {0};
    akidb_status st = akidb_points_scroll(c->srv->store, c->id.tenant, coll,
                                          json_is_string(cj) ? json_string_value(cj) : NULL,
                                          limit, filter, with, &pts);
    ak_free(filter);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
        return;
    }
    json_t *arr = points_json(&pts, with, false);
    json_t *r = arr ? json_pack("{s:o,s:o}", "points", arr, "next_cursor",
                                pts.next_cursor ? json_string(pts.next_cursor) : json_null())
                    : NULL;
    akidb_points_free(&pts);
    ak_reply_json(c, 200, r);
}

static void count_points(ak_ctx *c, const char *coll)
{
    char *filter = NULL;
    if (strcmp(c->req->method, "POST") == 0 && c->req->body_len > 0) {
        if (!ak_need_body(c) || !get_filter(c, c->body, &filter))
            return;
    }
    uint64_t n = 0;
    akidb_status st = akidb_points_count(c->srv->store, c->id.tenant, coll, filter, &n);
    ak_free(filter);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
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
    akidb_status st = akidb_points_get(c->srv->store, c->id.tenant, coll, ids, n, with, &pts);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
        return;
    }
    if (single) {
        if (pts.n == 0)
            ak_reply_error(c, 404, "point_not_found", "no point '%s' in collection '%s'",
                           ids[0], coll);
        else
            ak_reply_json(c, 200, point_json(&pts.items[0], with, false));
    } else {
        json_t *arr = points_json(&pts, with, false);
        ak_reply_json(c, 200, arr ? json_pack("{s:o}", "points", arr) : NULL);
    }
    akidb_points_free(&pts);
}

static void delete_points(ak_ctx *c, const char *coll, const char *const *ids, size_t n,
                          bool single)
{
    size_t nd = 0;
    akidb_status st = akidb_points_delete(c->srv->store, c->id.tenant, coll, ids, n, &nd);
    if (st != AKIDB_OK) {
        store_err(c, st, coll);
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
    if (!del && !get_include(c, json_object_get(c->body, "include"), with, &with))
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
    if (get_include_query(c, AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT, &with))
        get_points(c, c->param[0], &c->param[1], 1, with, true);
}

/* DELETE .../points/{point_id} */
static void point_delete(ak_ctx *c)
{
    delete_points(c, c->param[0], &c->param[1], 1, true);
}

/* GET /api/v1/collections/{name} */
static void collection_get(ak_ctx *c)
{
    akidb_collection_info info;
    if (get_info(c, c->param[0], &info))
        ak_reply_json(c, 200, info_json(&info));
}

/* DELETE /api/v1/collections/{name} */
static void collection_delete(ak_ctx *c)
{
    const char *coll = c->param[0];
    akidb_status st = akidb_collection_delete(c->srv->store, c->id.tenant, coll);
    if (st == AKIDB_EINVAL)
        ak_reply_error(c, 404, "collection_not_found", "no collection named '%s'", coll);
    else if (st != AKIDB_OK)
        store_err(c, st, coll);
    else
        ak_reply_json(c, 200, json_pack("{s:s,s:b}", "id", coll, "deleted", 1));
}

/* The handlers of one collection take its name from the pattern. */
#define ON_COLL(name, fn) \
    static void name(ak_ctx *c) { fn(c, c->param[0]); }
ON_COLL(r_insert, insert_doc)
ON_COLL(r_query, query_docs)
ON_COLL(r_upsert, upsert_points)
ON_COLL(r_search, search_points)
ON_COLL(r_scroll, scroll_points)
ON_COLL(r_count, count_points)
#undef ON_COLL

#define COLL "/api/v1/collections/{name}"
static const ak_route routes[] = {
    { "POST", "/api/v1/collections", AK_ROLE_WRITER, create_collection, AK_RT_JSON },
    { "GET", "/api/v1/collections", AK_ROLE_READER, list_collections, 0 },
    { "GET", COLL, AK_ROLE_READER, collection_get, 0 },
    { "DELETE", COLL, AK_ROLE_WRITER, collection_delete, 0 },
    { "POST", COLL "/insert", AK_ROLE_WRITER, r_insert, AK_RT_JSON },
    { "POST", COLL "/query", AK_ROLE_READER, r_query, AK_RT_JSON },
    { "POST", COLL "/points", AK_ROLE_WRITER, r_upsert, AK_RT_JSON },
    { "POST", COLL "/search", AK_ROLE_READER, r_search, AK_RT_JSON },
    { "POST", COLL "/scroll", AK_ROLE_READER, r_scroll, AK_RT_JSON },
    { "GET|POST", COLL "/count", AK_ROLE_READER, r_count, 0 },
    { "GET", COLL "/docs/{doc_id}", AK_ROLE_READER, doc_get, 0 },
    { "DELETE", COLL "/docs/{doc_id}", AK_ROLE_WRITER, doc_delete, 0 },
    { "POST", COLL "/points/get", AK_ROLE_READER, points_get_ids, AK_RT_JSON },
    { "POST", COLL "/points/delete", AK_ROLE_WRITER, points_delete_ids, AK_RT_JSON },
    { "GET", COLL "/points/{point_id}", AK_ROLE_READER, point_get, 0 },
    { "DELETE", COLL "/points/{point_id}", AK_ROLE_WRITER, point_delete, 0 },
};
#undef COLL

const ak_route_family ak_routes_collections = { "collections", AK_ROUTES(routes), NULL };

void ak_store_metrics(ak_server *s, ak_tbuf *out)
{
    if (!s->store)
        return;
    akidb_store_stats stats;
    akidb_store_get_stats(s->store, &stats);
    uint64_t points = 0;
    akidb_names tenants = {0};
    if (akidb_tenant_list(s->store, &tenants) == AKIDB_OK) {
        for (size_t t = 0; t < tenants.n; t++) {
            akidb_names colls = {0};
            if (akidb_collection_list(s->store, tenants.names[t], &colls) != AKIDB_OK)
                continue;
            for (size_t i = 0; i < colls.n; i++) {
                akidb_collection_info info;
                if (akidb_collection_get_info(s->store, tenants.names[t], colls.names[i],
                                              &info) == AKIDB_OK)
                    points += info.n_points;
            }
            akidb_names_free(&colls);
        }
        akidb_names_free(&tenants);
    }
    ak_tbuf_printf(out,
                  "# HELP akidb_tenants Tenants in the store.\n# TYPE akidb_tenants gauge\n"
                  "akidb_tenants %zu\n"
                  "# HELP akidb_collections Collections in the store.\n"
                  "# TYPE akidb_collections gauge\nakidb_collections %zu\n"
                  "# HELP akidb_points Live points in all collections.\n"
                  "# TYPE akidb_points gauge\nakidb_points %llu\n"
                  "# HELP akidb_wal_bytes Bytes in the current write-ahead log segment.\n"
                  "# TYPE akidb_wal_bytes gauge\nakidb_wal_bytes %llu\n",
                  stats.n_tenants, stats.n_collections, (unsigned long long)points,
                  (unsigned long long)stats.wal_bytes);
}

#else  /* !AK_HAVE_STORE */

const ak_route_family ak_routes_collections = { "collections", NULL, 0, NULL };

void ak_store_metrics(ak_server *s, ak_tbuf *out)
{
    (void)s;
    (void)out;
}

#endif
