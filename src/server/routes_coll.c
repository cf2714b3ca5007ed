/*
 * routes_coll.c - collection routes (writes, searches and gets by id
 * through the data plane, dataplane.h), always inside the
 * tenant of the caller's key (the tenant never comes from the request, so a
 * key cannot reach another tenant's data):
 *
 *   collections           POST/GET /api/v1/collections, GET/DELETE .../{id}
 *   compatibility shape   POST .../{id}/insert, POST .../{id}/query,
 *                         GET/DELETE .../{id}/docs/{doc_id}
 *
 * The text-native point shape (points, search, scroll, count) is
 * routes_points.c's; the request readers both use are coll_req.c's.
 */
#include "server/coll_req.h"
#include "server/dataplane.h"

#ifdef AK_HAVE_STORE

#include <math.h>
#include <stdio.h>
#include <string.h>

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
    if (!ak_coll_get_size(c, b, "hnsw_m", 0, 2, 128, &hm) ||
        !ak_coll_get_size(c, b, "ef_construction", 0, 4, 4096, &hef))
        return;
    o.hnsw_m = (uint32_t)hm;
    o.hnsw_ef_construction = (uint32_t)hef;
    char err[200];
    if (!ak_quant_config_read(json_object_get(b, "quantization"), false, "quantization", &o, err,
                              sizeof err)) {
        ak_reply_error(c, 400, "invalid_request", "%s", err);
        return;
    }
    akidb_status st = c->srv->dp->coll_create(c->srv->dp_ctx, c->id.tenant, name, &o);
    if (st == AKIDB_EEXIST) {
        ak_reply_error(c, 409, "already_exists", "collection '%s' exists", name);
        return;
    }
    if (st != AKIDB_OK) {
        ak_reply_status(c, st);
        return;
    }
    akidb_collection_info info;
    if (ak_coll_get_info(c, name, &info))
        ak_reply_json(c, 201, ak_coll_info_json(&info));
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
        if (json_array_append_new(arr, ak_coll_info_json(&info)) != 0) {
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
    if (!ak_coll_get_id(c, idj, "doc_id", id, sizeof id))
        return;
    json_t *vj = json_object_get(b, "vector");
    if (!vj) {
        ak_reply_error(c, 400, "invalid_request", "\"vector\" is required");
        return;
    }
    uint32_t dim;
    float *v = ak_coll_get_vector(c, vj, "vector", &dim);
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
    akidb_status st = c->srv->dp->upsert(c->srv->dp_ctx, c->id.tenant, coll, &pt, &dim, 1);
    ak_free(v);
    ak_free(payload);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
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
    if (!ak_coll_get_info(c, coll, &info))
        return;
    json_t *qv = json_object_get(b, "query_vector");
    if (!qv) {
        ak_reply_error(c, 400, "invalid_request", "\"query_vector\" is required");
        return;
    }
    size_t top_k, ef;
    if (!ak_coll_get_size(c, b, "top_k", 10, 1, AKIDB_SEARCH_TOPK_MAX, &top_k) ||
        !ak_coll_get_size(c, b, "ef", 0, 1, AKIDB_SEARCH_EF_MAX, &ef))
        return;
    char *filter;
    if (!ak_coll_get_filter(c, b, &filter))
        return;
    uint32_t dim;
    float *v = ak_coll_get_vector(c, qv, "query_vector", &dim);
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
    akidb_search_req sr = {.vector = v, .dim = dim, .top_k = top_k, .ef = ef,
                           .filter_json = filter, .with = AKIDB_WITH_PAYLOAD};
    akidb_points pts = {0};
    akidb_status st = ak_dp_search(c, coll, &sr, &pts);
    ak_free(v);
    ak_free(filter);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
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
    akidb_status st = ak_dp_get(c, coll, &id, 1,
                                AKIDB_WITH_PAYLOAD | AKIDB_WITH_VECTOR | AKIDB_WITH_TEXT, &pts);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
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
                          ak_coll_float_array(p->vector, p->dim));
    akidb_points_free(&pts);
    ak_reply_json(c, 200, r);
}

/* DELETE .../docs/{doc_id} */
static void doc_delete(ak_ctx *c)
{
    const char *coll = c->param[0], *id = c->param[1];
    size_t nd = 0;
    akidb_status st = c->srv->dp->del(c->srv->dp_ctx, c->id.tenant, coll, &id, 1, &nd);
    if (st != AKIDB_OK) {
        ak_coll_store_err(c, st, coll);
        return;
    }
    if (nd == 0) {
        ak_reply_error(c, 404, "doc_not_found", "no document '%s' in collection '%s'",
                       id, coll);
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:s,s:b}", "doc_id", id, "deleted", 1));
}


/* GET /api/v1/collections/{name} */
static void collection_get(ak_ctx *c)
{
    akidb_collection_info info;
    if (ak_coll_get_info(c, c->param[0], &info))
        ak_reply_json(c, 200, ak_coll_info_json(&info));
}

/* DELETE /api/v1/collections/{name} */
static void collection_delete(ak_ctx *c)
{
    const char *coll = c->param[0];
    akidb_status st = c->srv->dp->coll_delete(c->srv->dp_ctx, c->id.tenant, coll);
    if (st == AKIDB_EINVAL)
        ak_reply_error(c, 404, "collection_not_found", "no collection named '%s'", coll);
    else if (st != AKIDB_OK)
        ak_coll_store_err(c, st, coll);
    else
        ak_reply_json(c, 200, json_pack("{s:s,s:b}", "id", coll, "deleted", 1));
}

/* The handlers of one collection take its name from the pattern. */
#define ON_COLL(name, fn) \
    static void name(ak_ctx *c) { fn(c, c->param[0]); }
ON_COLL(r_insert, insert_doc)
ON_COLL(r_query, query_docs)
#undef ON_COLL

#define COLL "/api/v1/collections/{name}"
static const ak_route routes[] = {
    { "POST", "/api/v1/collections", AK_ROLE_WRITER, create_collection, AK_RT_JSON },
    { "GET", "/api/v1/collections", AK_ROLE_READER, list_collections, 0 },
    { "GET", COLL, AK_ROLE_READER, collection_get, 0 },
    { "DELETE", COLL, AK_ROLE_WRITER, collection_delete, 0 },
    { "POST", COLL "/insert", AK_ROLE_WRITER, r_insert, AK_RT_JSON },
    { "POST", COLL "/query", AK_ROLE_READER, r_query, AK_RT_JSON },
    { "GET", COLL "/docs/{doc_id}", AK_ROLE_READER, doc_get, 0 },
    { "DELETE", COLL "/docs/{doc_id}", AK_ROLE_WRITER, doc_delete, 0 },
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
