/*
 * qdrant_search.c - Qdrant's search routes on the one store API (searched
 * through the data plane, dataplane.h):
 *
 *   POST .../points/search         {"vector", "limit", "offset", "filter",
 *                                  "params": {"hnsw_ef", "exact",
 *                                  "quantization": {"ignore", "rescore",
 *                                  "oversampling"}},
 *                                  "score_threshold", "with_payload",
 *                                  "with_vector"} -> [ScoredPoint]
 *   POST .../points/query          the same with "query": a vector,
 *                                  {"nearest": vector}, a point id (that
 *                                  point's vector, the point left out) or a
 *                                  text / {"text"} that the collection's
 *                                  model embeds -> {"points": [ScoredPoint]}
 *   POST .../points/search/batch,  {"searches": [request, ...]} -> one result
 *   POST .../points/query/batch    per request, in order; a bad request
 *                                  fails the whole batch, as in Qdrant
 *
 * Named vectors, prefetch and lookup_from are refused (collections here
 * have one unnamed vector).  Scores as qd_score converts them.
 */
#include "server/coll_req.h"
#include "server/dataplane.h"

#ifdef AK_HAVE_STORE

#include "server/qdrant_int.h"

#include <string.h>

/* Adds "the point is not id" to the selection's filter text (a query by
 * point id leaves that point out, as Qdrant does). */
static akidb_status exclude_id(qd_selection *s, const char *id)
{
    json_t *not = json_pack("{s:{s:s}}", "not", "$id", id);
    json_t *f = not && s->qf.filter ? json_pack("{s:[O,O]}", "and", not, s->qf.filter)
                                    : json_incref(not);
    char *t = f ? json_dumps(f, JSON_COMPACT) : NULL;
    json_decref(not);
    json_decref(f);
    if (!t)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    ak_json_free_str(s->text);
    s->text = t;
    return AKIDB_OK;
}

/* Searches with vec under the request b's limit, offset, score_threshold,
 * params, filter and with_*, leaving out the point skip (not NULL: a query
 * by id); returns the ScoredPoints or NULL after a reply. */
static json_t *run_search(ak_ctx *c, const akidb_collection_info *in, json_t *b,
                          const float *vec, const char *skip)
{
    size_t limit, offset, ef = 0;
    qd_payload_sel ps;
    bool wv;
    int exact = 0;
    json_t *prm = json_object_get(b, "params");
    json_t *thr = json_object_get(b, "score_threshold");
    if (!qd_uint(c, b, "limit", 10, 1, AKIDB_SEARCH_TOPK_MAX, &limit) ||
        !qd_uint(c, b, "offset", 0, 0, AKIDB_SEARCH_TOPK_MAX, &offset) ||
        !qd_get_psel(c, b, false, &ps) ||
        !qd_wvec(c, b, &wv) ||
        (json_is_object(prm) && (!qd_uint(c, prm, "hnsw_ef", 0, 1, AKIDB_SEARCH_EF_MAX, &ef) ||
                                 !ak_json_bool(c, prm, "exact", 0, &exact))))
        return NULL;
    if (thr && !json_is_null(thr) && !json_is_number(thr)) {
        QD_BAD(c, "Format error in JSON body: score_threshold must be a number");
        return NULL;
    }
    if (offset + limit > AKIDB_SEARCH_TOPK_MAX) {
        QD_BAD(c, "Wrong input: offset + limit must be at most %u (the limit of one search)",
            AKIDB_SEARCH_TOPK_MAX);
        return NULL;
    }
    qd_selection s;
    if (!qd_get_sel(c, b, &s))
        return NULL;
    if (skip && exclude_id(&s, skip) != AKIDB_OK) {
        qd_sel_clear(&s);
        qd_oom(c);
        return NULL;
    }
    akidb_search_req sr = {.vector = vec, .dim = in->dim, .top_k = offset + limit, .ef = ef,
                           .filter_json = s.text, .exact = exact != 0,
                           .with = qd_with(&ps, wv)};
    char err[200];
    if (!ak_quant_search_read(json_is_object(prm) ? json_object_get(prm, "quantization") : NULL,
                              "params.quantization", &sr, err, sizeof err)) {
        qd_sel_clear(&s);
        QD_BAD(c, "Format error in JSON body: %s", err);
        return NULL;
    }
    akidb_points pts = {0};
    akidb_status st = ak_dp_search(c, in->name, &sr, &pts);
    qd_sel_clear(&s);
    if (st != AKIDB_OK) {
        qd_store_fail(c, st);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = offset; arr && i < pts.n; i++) {
        double sc = qd_score(in->metric, pts.items[i].score);
        if (json_is_number(thr) && (in->metric == AKIDB_METRIC_L2
                                        ? sc > json_number_value(thr)
                                        : sc < json_number_value(thr)))
            break;   /* hits come best first */
        if (json_array_append_new(arr, qd_point_out(&pts.items[i], &ps, wv, in->metric, true)) !=
            0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    akidb_points_free(&pts);
    if (!arr)
        qd_oom(c);
    return arr;
}

/* The ScoredPoints of the search request b ({"vector": [...], ...}), or
 * NULL after a reply. */
static json_t *search_body(ak_ctx *c, const akidb_collection_info *in, json_t *b)
{
    json_t *v = json_object_get(b, "vector");
    if (json_is_object(v) && json_is_array(json_object_get(v, "vector"))) {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (name && name[0]) {
            QD_BAD(c, "Wrong input: Not existing vector name error: %s (collections here have one "
                "unnamed vector)", name);
            return NULL;
        }
        v = json_object_get(v, "vector");
    }
    float *vec = ak_malloc(in->dim * sizeof *vec);
    json_t *r = NULL;
    if (!vec)
        qd_oom(c);
    else if (!v)
        QD_BAD(c, "Format error in JSON body: \"vector\" is required");
    else if (qd_vec(c, v, "vector", in->dim, vec))
        r = run_search(c, in, b, vec, NULL);
    ak_free(vec);
    return r;
}

/* The vector of the point id into vec: a query by point id. */
static bool point_vector(ak_ctx *c, const akidb_collection_info *in, const char *id, float *vec)
{
    akidb_points pts = {0};
    const char *ids[1] = {id};
    akidb_status st = ak_dp_get(c, in->name, ids, 1, AKIDB_WITH_VECTOR, &pts);
    bool ok = st == AKIDB_OK && pts.n == 1 && pts.items[0].vector;
    if (ok)
        memcpy(vec, pts.items[0].vector, in->dim * sizeof *vec);
    else if (st == AKIDB_OK)
        ak_reply_error(c, 404, "not_found", "Not found: No point with id %s found", id);
    else
        qd_store_fail(c, st);
    akidb_points_free(&pts);
    return ok;
}

/* The query vector of POST .../points/query into vec; replies on error.
 * A query by point id (an integer or a UUID, plain or as "nearest") takes
 * that point's vector and names it in skip (else skip is ""). */
static bool query_vector(ak_ctx *c, const akidb_collection_info *in, const json_t *q, float *vec,
                         char skip[AK_QDRANT_ID_CAP])
{
    skip[0] = '\0';
    if (json_is_object(q) && json_object_get(q, "nearest"))
        q = json_object_get(q, "nearest");
    if (json_is_array(q))
        return qd_vec(c, q, "query", in->dim, vec);
    char err[8];
    if (json_is_integer(q) || (json_is_string(q) && ak_qdrant_id_from_json(q, skip, err, 1))) {
        if (!qd_id(c, q, skip))
            return false;
        return point_vector(c, in, skip, vec);
    }
    skip[0] = '\0';
    const json_t *t = json_is_string(q) ? q : qd_doc_text(q);
    const json_t *model = json_is_object(q) ? json_object_get(q, "model") : NULL;
    if (!t) {
        const char *k = "query";
        if (json_is_object(q) && json_object_size(q) > 0)
            k = json_object_iter_key(json_object_iter((json_t *)q));
        QD_BAD(c, "Wrong input: query.%s is not supported; send a vector, {\"nearest\": vector} or "
            "a text ({\"text\": ...})", k);
        return false;
    }
    ak_emodel *em = qd_doc_model(c, in, model);
    if (!em)
        return false;
    const char *s = json_string_value(t);
    size_t l = json_string_length(t), tokens;
    return ak_embed_for_route(c, em, &s, &l, 1, AKIDB_POOL_DEFAULT, -1, 1, vec, &tokens);
}

/* The QueryResponse ({"points": [...]}) of the query request b ({"query":
 * vector | {"nearest": ...} | point id | text, ...}), or NULL after a
 * reply. */
static json_t *query_body(ak_ctx *c, const akidb_collection_info *in, json_t *b)
{
    static const char *const refused[] = {"prefetch", "lookup_from"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(b, refused[i]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0)) {
            QD_BAD(c, "Wrong input: \"%s\" is not supported", refused[i]);
            return NULL;
        }
    }
    const char *using = json_string_value(json_object_get(b, "using"));
    if (using && using[0]) {
        QD_BAD(c, "Wrong input: Not existing vector name error: %s", using);
        return NULL;
    }
    json_t *q = json_object_get(b, "query");
    if (!q || json_is_null(q)) {
        QD_BAD(c, "Wrong input: \"query\" is required (a vector or a text)");
        return NULL;
    }
    float *vec = ak_malloc(in->dim * sizeof *vec);
    if (!vec) {
        qd_oom(c);
        return NULL;
    }
    char skip[AK_QDRANT_ID_CAP];
    json_t *r = NULL;
    if (query_vector(c, in, q, vec, skip))
        r = run_search(c, in, b, vec, skip[0] ? skip : NULL);
    ak_free(vec);
    return r ? json_pack("{s:o}", "points", r) : NULL;
}

/* Runs one of the batch's requests per element of "searches". */
static void batch(ak_ctx *c, json_t *(*one)(ak_ctx *, const akidb_collection_info *, json_t *))
{
    akidb_collection_info in;
    if (!qd_info(c, &in))
        return;
    json_t *reqs = json_object_get(c->body, "searches");
    if (!json_is_array(reqs)) {
        QD_BAD(c, "Format error in JSON body: \"searches\" must be an array of requests");
        return;
    }
    json_t *out = json_array();
    if (!out) {
        qd_oom(c);
        return;
    }
    size_t i;
    json_t *b;
    json_array_foreach(reqs, i, b) {
        if (!json_is_object(b)) {
            QD_BAD(c, "Format error in JSON body: searches[%zu] must be an object", i);
            json_decref(out);
            return;
        }
        json_t *r = one(c, &in, b);
        if (!r) {          /* replied */
            json_decref(out);
            return;
        }
        if (json_array_append_new(out, r) != 0) {
            json_decref(out);
            qd_oom(c);
            return;
        }
    }
    qd_ok(c, out);
}

/* One request: the collection, then the body's result. */
static void single(ak_ctx *c, json_t *(*one)(ak_ctx *, const akidb_collection_info *, json_t *))
{
    akidb_collection_info in;
    if (!qd_info(c, &in))
        return;
    json_t *r = one(c, &in, c->body);
    if (r)
        qd_ok(c, r);
}

void qd_search(ak_ctx *c) { single(c, search_body); }
void qd_query(ak_ctx *c) { single(c, query_body); }
void qd_search_batch(ak_ctx *c) { batch(c, search_body); }
void qd_query_batch(ak_ctx *c) { batch(c, query_body); }

#endif /* AK_HAVE_STORE */
