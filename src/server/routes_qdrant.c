/*
 * routes_qdrant.c - Qdrant's REST API (the part its clients and the
 * LangChain / LlamaIndex integrations call) on the one store API (writes and
 * searches through the data plane, dataplane.h), inside the tenant of the
 * caller's key like every collection route:
 *
 *   GET /                                  {"title": "qdrant - ...", "version"}
 *   GET /collections, PUT|GET|DELETE /collections/{name},
 *   GET /collections/{name}/exists
 *   PUT /collections/{name}/index,         payload indexes: acknowledged, no
 *   DELETE .../index/{field}               effect (filters need none here)
 *   PUT /collections/{name}/points         upsert (points list or batch)
 *   POST .../points                        get by ids
 *   GET .../points/{id}
 *   POST .../points/delete                 by ids or filter
 *   POST .../points/search, .../points/query (and their /batch forms),
 *   .../points/scroll, .../points/count
 *   POST|PUT .../points/payload            set (merge) / overwrite payload
 *
 * Answers come in Qdrant's envelope {"result", "status": "ok", "time"} and
 * errors as {"status": {"error"}, "time"}.  Point ids map onto AkiDB ids by
 * qdrant_ids.h, filters into AkiDB filters by qdrant_filter.h.  Scores
 * follow Qdrant: cosine similarity (Cosine), inner product (Dot), Euclidean
 * distance, not squared, lower first (Euclid).  Only collections with one
 * unnamed vector exist here; named and sparse vectors are refused.
 *
 * This file has the envelope, the request helpers the point routes share
 * (qdrant_int.h), the collection routes and the table; search and query
 * are in qdrant_search.c, the other point routes in qdrant_points.c.
 */
#include "server/coll_req.h"
#include "server/dataplane.h"

#ifdef AK_HAVE_STORE

#include "server/qdrant_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The Qdrant API version the routes follow (clients compare it with their
 * own: same major, minor at most one apart). */
#define QDRANT_API_VERSION "1.18.0"
#define PAGE 512

static _Atomic uint64_t op_seq;

/* ---- envelope and errors ------------------------------------------------- */

static void q_error(ak_ctx *c, int status, const char *code, const char *msg)
{
    (void)code;
    ak_reply_json(c, status, json_pack("{s:{s:s},s:f}", "status", "error", msg, "time",
                                       ak_now() - c->t0));
}

void qd_ok(ak_ctx *c, json_t *result)
{
    if (!result) {
        ak_reply_json(c, 500, NULL);
        return;
    }
    ak_reply_json(c, 200, json_pack("{s:o,s:s,s:f}", "result", result, "status", "ok", "time",
                                    ak_now() - c->t0));
}

void qd_done(ak_ctx *c)
{
    qd_ok(c, json_pack("{s:I,s:s}", "operation_id", (json_int_t)++op_seq, "status",
                      "completed"));
}

void qd_oom(ak_ctx *c)
{
    ak_reply_error(c, 503, "overloaded", "out of memory");
}

const char *qd_coll(ak_ctx *c)
{
    return c->param[0];
}

void qd_store_fail(ak_ctx *c, akidb_status st)
{
    if (st == AKIDB_ENOENT)
        ak_reply_error(c, 404, "not_found", "Not found: %s", akidb_last_error());
    else if (st == AKIDB_EINVAL || st == AKIDB_EDIM || st == AKIDB_ERANGE)
        QD_BAD(c, "Wrong input: %s", akidb_last_error());   /* ERANGE: the search budget */
    else
        ak_reply_status(c, st);
}

bool qd_info(ak_ctx *c, akidb_collection_info *info)
{
    akidb_status st = akidb_collection_get_info(c->srv->store, c->id.tenant, qd_coll(c), info);
    if (st == AKIDB_ENOENT || st == AKIDB_EINVAL) {
        ak_reply_error(c, 404, "not_found", "Not found: Collection `%s` doesn't exist!",
                       qd_coll(c));
        return false;
    }
    if (st != AKIDB_OK) {
        qd_store_fail(c, st);
        return false;
    }
    return true;
}

/* The body, or an empty object for a request without one. */
bool qd_opt_body(ak_ctx *c)
{
    if (!c->body && (!c->req->body || c->req->body_len == 0)) {
        c->body = json_object();
        if (!c->body) {
            qd_oom(c);
            return false;
        }
        return true;
    }
    return ak_need_body(c);
}

static const char *distance_name(akidb_metric m)
{
    return m == AKIDB_METRIC_DOT ? "Dot" : m == AKIDB_METRIC_L2 ? "Euclid" : "Cosine";
}

/* AkiDB's score (higher better) as Qdrant's: Euclid is the distance. */
double qd_score(akidb_metric m, float s)
{
    return m == AKIDB_METRIC_L2 ? sqrt(s < 0 ? -(double)s : 0.0) : (double)s;
}

bool qd_uint(ak_ctx *c, json_t *o, const char *key, size_t def, size_t lo, size_t hi,
                     size_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = def;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
        (uint64_t)json_integer_value(v) > hi) {
        QD_BAD(c, "Format error in JSON body: \"%s\" must be an integer from %zu to %zu", key, lo,
            hi);
        return false;
    }
    *out = (size_t)json_integer_value(v);
    return true;
}

/* ---- ids, vectors, payload selection --------------------------------------- */

bool qd_id(ak_ctx *c, const json_t *v, char *buf)
{
    char err[200];
    if (ak_qdrant_id_from_json(v, buf, err, sizeof err))
        return true;
    QD_BAD(c, "Format error in JSON body: %s", err);
    return false;
}

/* A plain vector into out[dim]; named vectors and wrong sizes refused. */
bool qd_vec(ak_ctx *c, const json_t *v, const char *what, uint32_t dim, float *out)
{
    if (json_is_object(v)) {
        QD_BAD(c, "Wrong input: %s: named vectors are not supported; collections here have one "
            "unnamed vector", what);
        return false;
    }
    if (!json_is_array(v)) {
        QD_BAD(c, "Format error in JSON body: %s must be an array of numbers", what);
        return false;
    }
    if (json_array_size(v) != dim) {
        QD_BAD(c, "Wrong input: Vector dimension error: expected dim: %u, got %zu", dim,
            json_array_size(v));
        return false;
    }
    for (size_t i = 0; i < dim; i++) {
        const json_t *x = json_array_get(v, i);
        float f = json_is_number(x) ? (float)json_number_value(x) : NAN;
        if (!isfinite(f)) {
            QD_BAD(c, "Format error in JSON body: %s[%zu] must be a finite number", what, i);
            return false;
        }
        out[i] = f;
    }
    return true;
}

bool qd_get_psel(ak_ctx *c, json_t *o, bool def, qd_payload_sel *p)
{
    json_t *v = json_object_get(o, "with_payload");
    p->on = def;
    p->keys = NULL;
    p->exclude = false;
    if (!v || json_is_null(v))
        return true;
    if (json_is_boolean(v)) {
        p->on = json_is_true(v);
        return true;
    }
    const json_t *k = v;
    if (json_is_object(v)) {
        p->exclude = json_object_get(v, "exclude") != NULL;
        k = json_object_get(v, p->exclude ? "exclude" : "include");
    }
    if (!json_is_array(k)) {
        QD_BAD(c, "Format error in JSON body: with_payload must be a boolean, an array of keys "
            "or {\"include\"|\"exclude\": [keys]}");
        return false;
    }
    p->on = true;
    p->keys = k;
    return true;
}

bool qd_wvec(ak_ctx *c, json_t *o, bool *out)
{
    json_t *v = json_object_get(o, "with_vector");
    if (!v)
        v = json_object_get(o, "with_vectors");
    *out = false;
    if (!v || json_is_null(v))
        return true;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return true;
    }
    if (json_is_array(v)) {
        *out = json_array_size(v) > 0;
        return true;
    }
    QD_BAD(c, "Format error in JSON body: with_vector must be a boolean or an array of names");
    return false;
}

static bool key_listed(const json_t *keys, const char *k)
{
    size_t i;
    json_t *x;
    json_array_foreach(keys, i, x) {
        if (json_is_string(x) && strcmp(json_string_value(x), k) == 0)
            return true;
    }
    return false;
}

/* The payload of a point under selection p (a new object). */
static json_t *payload_of(const char *text, const qd_payload_sel *p)
{
    json_t *j = text ? json_loads(text, 0, NULL) : json_object();
    if (!j || !p->keys)
        return j;
    json_t *o = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) {
        if (o && key_listed(p->keys, k) != p->exclude &&
            json_object_set(o, k, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    json_decref(j);
    return o;
}

/* A Record (hit false) or ScoredPoint (hit true). */
json_t *qd_point_out(const akidb_point *p, const qd_payload_sel *ps, bool wvec, akidb_metric m,
                         bool hit)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = json_object_set_new(o, "id", ak_qdrant_id_to_json(p->id));
    if (hit) {
        bad |= json_object_set_new(o, "version", json_integer(0));
        bad |= json_object_set_new(o, "score", json_real(qd_score(m, p->score)));
    }
    bad |= json_object_set_new(o, "payload", ps->on ? payload_of(p->payload, ps) : json_null());
    bad |= json_object_set_new(o, "vector",
                               wvec && p->vector ? ak_coll_float_array(p->vector, p->dim) : json_null());
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

unsigned qd_with(const qd_payload_sel *ps, bool wvec)
{
    return (ps->on ? AKIDB_WITH_PAYLOAD : 0u) | (wvec ? AKIDB_WITH_VECTOR : 0u);
}

/* ---- filters ---------------------------------------------------------------- */

void qd_sel_clear(qd_selection *s)
{
    ak_qfilter_clear(&s->qf);
    ak_json_free_str(s->text);
    ak_filter_free(s->compiled);
    memset(s, 0, sizeof *s);
}

/* "filter" of o, translated and validated. */
bool qd_get_sel(ak_ctx *c, json_t *o, qd_selection *s)
{
    memset(s, 0, sizeof *s);
    akidb_status st = ak_qdrant_filter(json_object_get(o, "filter"), &s->qf);
    if (st == AKIDB_OK && s->qf.filter) {
        s->text = json_dumps(s->qf.filter, JSON_COMPACT);
        st = !s->text ? AKIDB_ENOMEM : akidb_filter_validate(s->text);
        if (st == AKIDB_OK && s->qf.ids)
            st = ak_filter_compile(s->qf.filter, &s->compiled);
    }
    if (st == AKIDB_OK)
        return true;
    if (st == AKIDB_ENOMEM)
        qd_oom(c);
    else
        QD_BAD(c, "Wrong input: %s", akidb_last_error());
    qd_sel_clear(s);
    return false;
}

static int cmp_point_id(const void *a, const void *b)
{
    return strcmp(((const akidb_point *)a)->id, ((const akidb_point *)b)->id);
}

/* The points of a has_id selection, sorted by id; keep[i] tells those that
 * pass the payload filter (duplicates dropped).  Always fetches payloads. */
static bool get_by_ids(ak_ctx *c, const qd_selection *s, unsigned with, akidb_points *pts, bool **keep)
{
    if (!ak_dp_reads_ok(c))   /* a node holding only some shards */
        return false;
    size_t n = json_array_size(s->qf.ids);
    const char **ids = ak_malloc((n ? n : 1) * sizeof *ids);
    *keep = NULL;
    if (!ids) {
        qd_oom(c);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        ids[i] = json_string_value(json_array_get(s->qf.ids, i));
    akidb_status st = akidb_points_get(c->srv->store, c->id.tenant, qd_coll(c), ids, n,
                                       with | AKIDB_WITH_PAYLOAD, pts);
    ak_free(ids);
    if (st != AKIDB_OK) {
        qd_store_fail(c, st);
        return false;
    }
    qsort(pts->items, pts->n, sizeof *pts->items, cmp_point_id);
    *keep = ak_calloc(pts->n ? pts->n : 1, sizeof **keep);
    if (!*keep) {
        akidb_points_free(pts);
        qd_oom(c);
        return false;
    }
    for (size_t i = 0; i < pts->n; i++) {
        if (i > 0 && strcmp(pts->items[i].id, pts->items[i - 1].id) == 0)
            continue;
        bool ok = true;
        if (s->compiled) {
            json_t *pl = NULL;
            const char *t = pts->items[i].payload;
            if (t && ak_payload_parse(t, strlen(t), "point", &pl) != AKIDB_OK) {
                akidb_points_free(pts);
                ak_free(*keep);
                *keep = NULL;
                qd_store_fail(c, AKIDB_EINVAL);
                return false;
            }
            ok = ak_filter_match_point(s->compiled, pts->items[i].id,
                                       strlen(pts->items[i].id), pl);
            json_decref(pl);
        }
        (*keep)[i] = ok;
    }
    return true;
}

bool qd_for_selected(ak_ctx *c, const qd_selection *s, unsigned with, qd_page_fn fn, void *arg)
{
    if (!ak_dp_reads_ok(c))   /* a node holding only some shards */
        return false;
    if (s->qf.ids) {
        akidb_points pts = {0};
        bool *keep;
        if (!get_by_ids(c, s, with, &pts, &keep))
            return false;
        bool ok = fn(c, &pts, keep, arg);
        akidb_points_free(&pts);
        ak_free(keep);
        return ok;
    }
    char *cursor = NULL;
    for (;;) {
        akidb_points pts = {0};
        akidb_status st = akidb_points_scroll(c->srv->store, c->id.tenant, qd_coll(c), cursor,
                                              PAGE, s->text, with, &pts);
        ak_free(cursor);
        cursor = NULL;
        if (st != AKIDB_OK) {
            qd_store_fail(c, st);
            return false;
        }
        bool ok = fn(c, &pts, NULL, arg);
        if (ok && pts.next_cursor && !(cursor = ak_strdup(pts.next_cursor))) {
            qd_oom(c);
            ok = false;
        }
        akidb_points_free(&pts);
        if (!ok)
            return false;
        if (!cursor)
            return true;
    }
}

/* ---- service and collections --------------------------------------------------- */

/* GET /: Qdrant's greeting, which clients read for the version. */
static void q_root(ak_ctx *c)
{
    ak_reply_json(c, 200, json_pack("{s:s,s:s,s:s}", "title", "qdrant - vector search engine",
                                    "version", QDRANT_API_VERSION, "akidb_version",
                                    AKIDB_VERSION_STRING));
}

static void q_list(ak_ctx *c)
{
    akidb_names names = {0};
    akidb_status st = akidb_collection_list(c->srv->store, c->id.tenant, &names);
    if (st == AKIDB_ENOENT) {   /* a tenant without collections yet */
        qd_ok(c, json_pack("{s:[]}", "collections"));
        return;
    }
    if (st != AKIDB_OK) {
        qd_store_fail(c, st);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < names.n; i++)
        if (json_array_append_new(arr, json_pack("{s:s}", "name", names.names[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    akidb_names_free(&names);
    qd_ok(c, arr ? json_pack("{s:o}", "collections", arr) : NULL);
}

static void q_exists(ak_ctx *c)
{
    akidb_collection_info info;
    akidb_status st = akidb_collection_get_info(c->srv->store, c->id.tenant, qd_coll(c), &info);
    if (st != AKIDB_OK && st != AKIDB_ENOENT && st != AKIDB_EINVAL) {
        qd_store_fail(c, st);
        return;
    }
    qd_ok(c, json_pack("{s:b}", "exists", st == AKIDB_OK));
}

static void q_info(ak_ctx *c)
{
    akidb_collection_info in;
    if (!qd_info(c, &in))
        return;
    json_t *params = json_pack(
        "{s:{s:I,s:s},s:i,s:i,s:i,s:b}", "vectors", "size", (json_int_t)in.dim, "distance",
        distance_name(in.metric), "shard_number", 1, "replication_factor", 1,
        "write_consistency_factor", 1, "on_disk_payload", 0);
    json_t *cfg = params ? json_pack(
        "{s:o,s:{s:I,s:I,s:I,s:i,s:b},s:{s:f,s:I,s:i,s:n,s:I,s:I,s:i,s:n},s:{s:I,s:I},s:o}",
        "params", params, "hnsw_config", "m", (json_int_t)in.hnsw_m, "ef_construct",
        (json_int_t)in.hnsw_ef_construction, "full_scan_threshold", (json_int_t)2048,
        "max_indexing_threads", 0, "on_disk", 0, "optimizer_config", "deleted_threshold", 0.2,
        "vacuum_min_vector_number", (json_int_t)1000, "default_segment_number", 1,
        "max_segment_size", "memmap_threshold", (json_int_t)0, "indexing_threshold",
        (json_int_t)0, "flush_interval_sec", 0, "max_optimization_threads", "wal_config",
        "wal_capacity_mb", (json_int_t)64, "wal_segments_ahead", (json_int_t)0,
        "quantization_config", ak_quant_config_json(&in, true)) : NULL;
    json_t *r = cfg ? json_pack("{s:s,s:s,s:I,s:I,s:I,s:i,s:o,s:{}}", "status", "green",
                                "optimizer_status", "ok", "vectors_count", (json_int_t)in.n_points,
                                "indexed_vectors_count", (json_int_t)in.n_points,
                                "points_count", (json_int_t)in.n_points, "segments_count", 1,
                                "config", cfg, "payload_schema")
                    : NULL;
    if (r && in.model[0])
        json_object_set_new(r, "model", json_string(in.model));
    qd_ok(c, r);
}

/* PUT /collections/{name}: {"vectors": {"size", "distance"}, "hnsw_config",
 * "quantization_config" ({"scalar": {"type": "int8", ...}}; at the top or in
 * "vectors", as Qdrant takes both), and AkiDB's "model" (the embedding
 * model that query texts use). */
static void q_create(ak_ctx *c)
{
    json_t *b = c->body;
    json_t *v = json_object_get(b, "vectors");
    if (!json_is_object(v)) {
        QD_BAD(c, "Wrong input: \"vectors\" ({\"size\", \"distance\"}) is required");
        return;
    }
    json_t *size = json_object_get(v, "size");
    if (!size) {
        QD_BAD(c, "Wrong input: named vectors are not supported; give one unnamed vector as "
            "\"vectors\": {\"size\": N, \"distance\": \"Cosine\"}");
        return;
    }
    if (json_object_get(b, "sparse_vectors") && !json_is_null(json_object_get(b, "sparse_vectors"))) {
        QD_BAD(c, "Wrong input: sparse vectors are not supported");
        return;
    }
    akidb_collection_opts o;
    memset(&o, 0, sizeof o);
    if (!json_is_integer(size) || json_integer_value(size) < 1 ||
        json_integer_value(size) > AKIDB_DIM_MAX) {
        QD_BAD(c, "Wrong input: vectors.size must be an integer from 1 to %d", AKIDB_DIM_MAX);
        return;
    }
    o.dim = (uint32_t)json_integer_value(size);
    const char *d = json_string_value(json_object_get(v, "distance"));
    if (d && strcmp(d, "Cosine") == 0) {
        o.metric = AKIDB_METRIC_COSINE;
    } else if (d && strcmp(d, "Dot") == 0) {
        o.metric = AKIDB_METRIC_DOT;
    } else if (d && strcmp(d, "Euclid") == 0) {
        o.metric = AKIDB_METRIC_L2;
    } else {
        QD_BAD(c, "Wrong input: vectors.distance must be \"Cosine\", \"Dot\" or \"Euclid\"%s",
            d && strcmp(d, "Manhattan") == 0 ? " (Manhattan is not supported)" : "");
        return;
    }
    json_t *h = json_object_get(v, "hnsw_config");
    if (!json_is_object(h))
        h = json_object_get(b, "hnsw_config");
    size_t m = 0, ef = 0;
    if (json_is_object(h) && (!qd_uint(c, h, "m", 0, 2, 128, &m) ||
                              !qd_uint(c, h, "ef_construct", 0, 4, 4096, &ef)))
        return;
    o.hnsw_m = (uint32_t)m;
    o.hnsw_ef_construction = (uint32_t)ef;
    json_t *qc = json_object_get(v, "quantization_config");
    const char *qf = "vectors.quantization_config";
    if (!qc || json_is_null(qc)) {
        qc = json_object_get(b, "quantization_config");
        qf = "quantization_config";
    }
    char err[200];
    if (!ak_quant_config_read(qc, true, qf, &o, err, sizeof err)) {
        QD_BAD(c, "Wrong input: %s", err);
        return;
    }
    json_t *mod = json_object_get(b, "model");
    if (mod && !json_is_null(mod)) {
        ak_emodel *em = json_is_string(mod) ? ak_models_find(c->srv->models,
                                                              json_string_value(mod)) : NULL;
        if (!em) {
            QD_BAD(c, "Wrong input: \"model\" must name a loaded model");
            return;
        }
        if (ak_emodel_info(em)->dim != o.dim) {
            QD_BAD(c, "Wrong input: model '%s' gives %zu dimensions; vectors.size is %u",
                ak_emodel_name(em), ak_emodel_info(em)->dim, o.dim);
            return;
        }
        o.model = ak_emodel_name(em);
    }
    akidb_status st = c->srv->dp->coll_create(c->srv->dp_ctx, c->id.tenant, qd_coll(c), &o);
    if (st == AKIDB_EEXIST) {
        ak_reply_error(c, 409, "conflict", "Wrong input: Collection `%s` already exists!",
                       qd_coll(c));
        return;
    }
    if (st != AKIDB_OK) {
        qd_store_fail(c, st);
        return;
    }
    qd_ok(c, json_true());
}

static void q_delete(ak_ctx *c)
{
    akidb_status st = c->srv->dp->coll_delete(c->srv->dp_ctx, c->id.tenant, qd_coll(c));
    if (st != AKIDB_OK && st != AKIDB_ENOENT && st != AKIDB_EINVAL) {
        qd_store_fail(c, st);
        return;
    }
    qd_ok(c, json_boolean(st == AKIDB_OK));
}

/* ---- documents: texts the collection's model embeds -------------------------- */

/* The model for a Qdrant Document ({"text", "model"}): the named one, else
 * the collection's bound model; replies and returns NULL when there is none
 * or its dimension differs. */
ak_emodel *qd_doc_model(ak_ctx *c, const akidb_collection_info *in, const json_t *name)
{
    const char *n = json_is_string(name) ? json_string_value(name) : in->model;
    if (!n[0]) {
        QD_BAD(c, "Wrong input: collection `%s` has no bound model to embed text with; send "
            "vectors, or create it with \"model\"", in->name);
        return NULL;
    }
    ak_emodel *em = ak_models_find(c->srv->models, n);
    if (!em) {
        QD_BAD(c, "Wrong input: model '%s' is not loaded by this server", n);
        return NULL;
    }
    if (ak_emodel_info(em)->dim != in->dim) {
        QD_BAD(c, "Wrong input: model '%s' gives %zu dimensions; collection `%s` has %u",
            ak_emodel_name(em), ak_emodel_info(em)->dim, in->name, in->dim);
        return NULL;
    }
    return em;
}

/* A Document's text: {"text": "..."}; NULL when v is not one. */
const json_t *qd_doc_text(const json_t *v)
{
    const json_t *t = json_is_object(v) ? json_object_get(v, "text") : NULL;
    return json_is_string(t) ? t : NULL;
}

/* ---- payload indexes ------------------------------------------------------------------------- */

/* A field_schema Qdrant takes: a type name, or {"type": name, ...}. */
static bool schema_type_ok(const json_t *v)
{
    static const char *const types[] = {"keyword", "integer", "float", "geo", "text",
                                        "bool", "datetime", "uuid"};
    if (json_is_object(v))
        v = json_object_get(v, "type");
    const char *t = json_string_value(v);
    for (size_t i = 0; t && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(t, types[i]) == 0)
            return true;
    return false;
}

/* PUT /collections/{name}/index: {"field_name", "field_schema"}.  Qdrant's
 * payload indexes speed its filters up; AkiDB's filters read every payload
 * field without one, so a valid request is acknowledged and changes
 * nothing (LlamaIndex's QdrantVectorStore sends one for "doc_id"). */
static void q_index_create(ak_ctx *c)
{
    akidb_collection_info in;
    if (!qd_info(c, &in))
        return;
    const json_t *name = json_object_get(c->body, "field_name");
    const json_t *schema = json_object_get(c->body, "field_schema");
    if (!json_is_string(name) || json_string_length(name) == 0) {
        QD_BAD(c, "Format error in JSON body: \"field_name\" must be a non-empty string");
        return;
    }
    if (schema && !json_is_null(schema) && !schema_type_ok(schema)) {
        QD_BAD(c, "Format error in JSON body: \"field_schema\" must be one of keyword, integer, "
            "float, geo, text, bool, datetime, uuid (or {\"type\": ...})");
        return;
    }
    qd_done(c);
}

/* DELETE /collections/{name}/index/{field}: acknowledged (see above). */
static void q_index_delete(ak_ctx *c)
{
    akidb_collection_info in;
    if (qd_info(c, &in))
        qd_done(c);
}

/* ---- the table ------------------------------------------------------------------------------ */

#define QC "/collections/{name}"

static const ak_route qdrant_routes[] = {
    { "GET", "/", AK_ROLE_NONE, q_root, 0 },
    { "GET", "/collections", AK_ROLE_READER, q_list, 0 },
    { "PUT", QC, AK_ROLE_WRITER, q_create, AK_RT_JSON },
    { "GET", QC, AK_ROLE_READER, q_info, 0 },
    { "DELETE", QC, AK_ROLE_WRITER, q_delete, 0 },
    { "GET", QC "/exists", AK_ROLE_READER, q_exists, 0 },
    { "PUT", QC "/index", AK_ROLE_WRITER, q_index_create, AK_RT_JSON },
    { "DELETE", QC "/index/{field}", AK_ROLE_WRITER, q_index_delete, 0 },
    { "PUT", QC "/points", AK_ROLE_WRITER, qd_upsert, AK_RT_JSON },
    { "POST", QC "/points", AK_ROLE_READER, qd_retrieve, AK_RT_JSON },
    { "POST", QC "/points/delete", AK_ROLE_WRITER, qd_delete_points, AK_RT_JSON },
    { "POST", QC "/points/search", AK_ROLE_READER, qd_search, AK_RT_JSON },
    { "POST", QC "/points/search/batch", AK_ROLE_READER, qd_search_batch, AK_RT_JSON },
    { "POST", QC "/points/query", AK_ROLE_READER, qd_query, AK_RT_JSON },
    { "POST", QC "/points/query/batch", AK_ROLE_READER, qd_query_batch, AK_RT_JSON },
    { "POST", QC "/points/scroll", AK_ROLE_READER, qd_scroll, 0 },
    { "POST", QC "/points/count", AK_ROLE_READER, qd_count, 0 },
    { "PUT|POST", QC "/points/payload", AK_ROLE_WRITER, qd_payload, AK_RT_JSON },
    { "GET", QC "/points/{id}", AK_ROLE_READER, qd_point, 0 },
};

const ak_route_family ak_routes_qdrant = { "qdrant", AK_ROUTES(qdrant_routes), q_error };

#else /* !AK_HAVE_STORE */

const ak_route_family ak_routes_qdrant = { "qdrant", NULL, 0, NULL };

#endif /* AK_HAVE_STORE */
