/*
 * coll_req.c - request readers and JSON writers of akidb's collection
 * routes (coll_req.h says what each does and why they are shared).
 */
#include "server/coll_req.h"

#ifdef AK_HAVE_STORE

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ak_coll_store_err(ak_ctx *c, akidb_status st, const char *name)
{
    if (st == AKIDB_ENOENT) {
        ak_reply_error(c, 404, "collection_not_found", "%s",
                       akidb_last_error()[0] ? akidb_last_error() : "no such collection");
        return;
    }
    (void)name;
    ak_reply_status(c, st);
}

json_t *ak_coll_info_json(const akidb_collection_info *in)
{
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:o,s:I,s:{s:I,s:I},s:o}", "id", in->name,
                     "collection_id", in->name, "name", in->name, "dimension",
                     (json_int_t)in->dim, "metric", akidb_metric_name(in->metric), "model",
                     in->model[0] ? json_string(in->model) : json_null(), "points",
                     (json_int_t)in->n_points, "hnsw", "m", (json_int_t)in->hnsw_m,
                     "ef_construction", (json_int_t)in->hnsw_ef_construction, "quantization",
                     ak_quant_config_json(in, false));
}

/* ---- quantisation ------------------------------------------------------------ */

#define QERR(...) (snprintf(err, cap, __VA_ARGS__), false)

/* Each key of object v is one of the NULL-terminated names. */
static bool known_keys(const json_t *v, const char *field, const char *const *names,
                       const char *list, char *err, size_t cap)
{
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        size_t i = 0;
        while (names[i] && strcmp(names[i], k) != 0)
            i++;
        if (!names[i])
            return QERR("%s.%s is not supported (%s)", field, k, list);
    }
    return true;
}

bool ak_quant_config_read(const json_t *v, bool qdrant, const char *field,
                          akidb_collection_opts *o, char *err, size_t cap)
{
    o->quantization = AKIDB_QUANT_NONE;
    o->quantile = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return QERR("%s must be an object", field);
    char sub[96];
    const json_t *cfg = v;
    if (qdrant) {
        static const char *const kinds[] = { "scalar", NULL };
        if (!known_keys(v, field, kinds, "only \"scalar\" int8 quantization is", err, cap))
            return false;
        cfg = json_object_get(v, "scalar");
        if (!json_is_object(cfg))
            return QERR("%s.scalar must be an object", field);
        snprintf(sub, sizeof sub, "%s.scalar", field);
        field = sub;
    }
    static const char *const q_keys[] = { "type", "quantile", "always_ram", NULL };
    static const char *const a_keys[] = { "type", "quantile", NULL };
    if (!known_keys(cfg, field, qdrant ? q_keys : a_keys,
                    qdrant ? "type, quantile, always_ram" : "type, quantile", err, cap))
        return false;
    const char *t = json_string_value(json_object_get(cfg, "type"));
    if (t && strcmp(t, "int8") == 0)
        o->quantization = AKIDB_QUANT_SQ8;
    else if (t && !qdrant && strcmp(t, "sq8") == 0)
        o->quantization = AKIDB_QUANT_SQ8;
    else if (t && !qdrant && strcmp(t, "none") == 0)
        o->quantization = AKIDB_QUANT_NONE;
    else
        return QERR("%s.type must be %s", field,
                    qdrant ? "\"int8\"" : "\"sq8\" (or \"int8\") or \"none\"");
    const json_t *q = json_object_get(cfg, "quantile");
    if (q && !json_is_null(q)) {
        double x = json_number_value(q);
        if (!json_is_number(q) || !(x >= 0.5 && x <= 1.0))
            return QERR("%s.quantile must be a number from 0.5 to 1", field);
        if (o->quantization == AKIDB_QUANT_NONE)
            return QERR("%s.quantile is set without quantization", field);
        o->quantile = (float)x;
    }
    const json_t *ar = json_object_get(cfg, "always_ram");
    if (ar && !json_is_null(ar) && !json_is_boolean(ar))
        return QERR("%s.always_ram must be true or false", field);
    return true;
}

bool ak_quant_search_read(const json_t *v, const char *field, akidb_search_req *req, char *err,
                          size_t cap)
{
    req->quant_ignore = req->quant_no_rescore = false;
    req->quant_oversampling = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_object(v))
        return QERR("%s must be an object", field);
    static const char *const keys[] = { "ignore", "rescore", "oversampling", NULL };
    if (!known_keys(v, field, keys, "ignore, rescore, oversampling", err, cap))
        return false;
    const json_t *ig = json_object_get(v, "ignore"), *rs = json_object_get(v, "rescore");
    const json_t *os = json_object_get(v, "oversampling");
    if (ig && !json_is_null(ig) && !json_is_boolean(ig))
        return QERR("%s.ignore must be true or false", field);
    if (rs && !json_is_null(rs) && !json_is_boolean(rs))
        return QERR("%s.rescore must be true or false", field);
    if (os && !json_is_null(os)) {
        double x = json_number_value(os);
        if (!json_is_number(os) || !(x >= 1 && x <= 100))
            return QERR("%s.oversampling must be a number from 1 to 100", field);
        req->quant_oversampling = x;
    }
    req->quant_ignore = json_is_true(ig);
    req->quant_no_rescore = json_is_false(rs);
    return true;
}

json_t *ak_quant_config_json(const akidb_collection_info *in, bool qdrant)
{
    if (in->quantization != AKIDB_QUANT_SQ8)
        return json_null();
    char b[32];   /* the float as it was written (0.99, not 0.9900000095) */
    snprintf(b, sizeof b, "%.6g", (double)in->quantile);
    double q = strtod(b, NULL);
    if (qdrant)
        return json_pack("{s:{s:s,s:f,s:b}}", "scalar", "type", "int8", "quantile", q,
                         "always_ram", 1);
    return json_pack("{s:s,s:f}", "type", "sq8", "quantile", q);
}

bool ak_coll_get_id(ak_ctx *c, json_t *v, const char *field, char *buf, size_t cap)
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

float *ak_coll_get_vector(ak_ctx *c, json_t *v, const char *field, uint32_t *dim)
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

bool ak_coll_get_info(ak_ctx *c, const char *name, akidb_collection_info *info)
{
    akidb_status st = akidb_collection_get_info(c->srv->store, c->id.tenant, name, info);
    if (st != AKIDB_OK) {
        if (st == AKIDB_EINVAL)
            ak_reply_error(c, 404, "collection_not_found", "no collection named '%s' (%s)",
                           name, akidb_last_error());
        else
            ak_coll_store_err(c, st, name);
        return false;
    }
    return true;
}

bool ak_coll_get_filter(ak_ctx *c, json_t *body, char **out)
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

bool ak_coll_get_include(ak_ctx *c, json_t *v, unsigned def, unsigned *out)
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

bool ak_coll_get_include_query(ak_ctx *c, unsigned def, unsigned *out)
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

bool ak_coll_get_size(ak_ctx *c, json_t *body, const char *key, size_t def, size_t lo,
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

json_t *ak_coll_float_array(const float *v, size_t n)
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

json_t *ak_coll_point_json(const akidb_point *p, unsigned with, bool hit)
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
        json_object_set_new(o, "vector", ak_coll_float_array(p->vector, p->dim));
    return o;
}

json_t *ak_coll_points_json(const akidb_points *pts, unsigned with, bool hit)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < pts->n; i++)
        if (json_array_append_new(a, ak_coll_point_json(&pts->items[i], with, hit)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

ak_emodel *ak_coll_bound_model(ak_ctx *c, const akidb_collection_info *info)
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

#endif /* AK_HAVE_STORE */
