/*
 * routes_embed.c - the embedding routes: POST /api/v1/embed (AkiDB's own
 * shape), and the OpenAI-compatible POST /v1/embeddings and GET /v1/models.
 * Texts go through the model's shared batcher (embedq.c); token-id inputs
 * of /v1/embeddings go to akidb_embed_ids (embed_inputs.c).
 */
#include "server/route.h"
#include "server/embed_inputs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

bool ak_embed_for_route(ak_ctx *c, ak_emodel *em, const char *const *texts,
                        const size_t *lens, size_t n, akidb_pooling pooling,
                        int normalize, int truncate, float *out, size_t *total_tokens)
{
    ak_embed_job job = {texts, lens, n, pooling, normalize, truncate, out, 0};
    akidb_status st = ak_embed_run(em, &job);
    *total_tokens = job.total_tokens;
    if (st == AKIDB_OK)
        return true;
    if (st == AKIDB_ENOMEM)
        ak_reply_error(c, 503, "overloaded", "out of memory: %s", akidb_last_error());
    else
        ak_reply_status(c, st);
    return false;
}

/* Reads texts from v: an array of strings, or (allow_one) one string.
 * Replies 400/413 and returns false on error.  The pointers borrow v. */
static bool get_texts(ak_ctx *c, json_t *v, const char *field, bool allow_one,
                      const char ***texts, size_t **lens, size_t *n)
{
    *texts = NULL;
    *lens = NULL;
    *n = 0;
    if (!v) {
        ak_reply_error(c, 400, "invalid_request", "\"%s\" is required", field);
        return false;
    }
    size_t cnt;
    if (json_is_string(v) && allow_one) {
        cnt = 1;
    } else if (json_is_array(v)) {
        cnt = json_array_size(v);
    } else {
        ak_reply_error(c, 400, "invalid_request", "\"%s\" must be %s", field,
                       allow_one ? "a string or an array of strings" : "an array of strings");
        return false;
    }
    if (cnt == 0) {
        ak_reply_error(c, 400, "invalid_request", "\"%s\" must not be empty", field);
        return false;
    }
    if (cnt > c->srv->cfg.max_request_texts) {
        ak_reply_error(c, 413, "too_many_texts",
                       "%zu texts in one request; the limit is %zu", cnt,
                       c->srv->cfg.max_request_texts);
        return false;
    }
    const char **t = ak_malloc(cnt * sizeof *t);
    size_t *l = ak_malloc(cnt * sizeof *l);
    if (!t || !l) {
        ak_free(t);
        ak_free(l);
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    for (size_t i = 0; i < cnt; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s)) {
            ak_free(t);
            ak_free(l);
            if (json_is_integer(s) || json_is_array(s))
                ak_reply_error(c, 400, "unsupported",
                               "\"%s\"[%zu]: token-id input is not supported; send text",
                               field, i);
            else
                ak_reply_error(c, 400, "invalid_request", "\"%s\"[%zu] must be a string",
                               field, i);
            return false;
        }
        t[i] = json_string_value(s);
        l[i] = json_string_length(s);
    }
    *texts = t;
    *lens = l;
    *n = cnt;
    return true;
}

/* Optional "model" field -> model; replies 400/404 on error. */
static ak_emodel *get_model(ak_ctx *c, json_t *body)
{
    json_t *m = json_object_get(body, "model");
    const char *name = NULL;
    if (m && !json_is_null(m)) {
        if (!json_is_string(m)) {
            ak_reply_error(c, 400, "invalid_request", "\"model\" must be a string");
            return NULL;
        }
        name = json_string_value(m);
    }
    ak_emodel *em = ak_models_find(c->srv->models, name);
    if (!em) {
        if (ak_models_count(c->srv->models) == 0)
            ak_reply_error(c, 404, "model_not_found",
                           "no embedding model is loaded (start with --model NAME=DIR)");
        else
            ak_reply_error(c, 404, "model_not_found", "no model named '%s' is loaded",
                           name);
    }
    return em;
}

static bool get_pooling(ak_ctx *c, json_t *body, akidb_pooling *out)
{
    *out = AKIDB_POOL_DEFAULT;
    json_t *p = json_object_get(body, "pooling");
    if (!p || json_is_null(p))
        return true;
    if (!json_is_string(p) || akidb_pooling_parse(json_string_value(p), out) != AKIDB_OK) {
        ak_reply_error(c, 400, "invalid_request",
                       "\"pooling\" must be one of \"mean\", \"cls\", \"max\", \"mean_sqrt_len\", "
                       "\"lasttoken\", \"weightedmean\"");
        return false;
    }
    return true;
}

/* Optional "dimensions" (1..dim) into *out_dim; replies 400 on error. */
static bool get_dimensions(ak_ctx *c, json_t *body, ak_emodel *em, size_t dim,
                           size_t *out_dim)
{
    json_t *dj = json_object_get(body, "dimensions");
    if (!dj || json_is_null(dj))
        return true;
    if (!json_is_integer(dj) || json_integer_value(dj) < 1 ||
        (uint64_t)json_integer_value(dj) > dim) {
        char got[48] = "not an integer";
        if (json_is_integer(dj))
            snprintf(got, sizeof got, "%lld", (long long)json_integer_value(dj));
        ak_reply_error(c, 400, "invalid_request",
                       "\"dimensions\" must be an integer from 1 to %zu (model '%s'), got %s",
                       dim, ak_emodel_name(em), got);
        return false;
    }
    *out_dim = (size_t)json_integer_value(dj);
    return true;
}

/* L2-normalises v[0..n) in place (a zero vector stays zero). */
static void renormalize(float *v, size_t n)
{
    double ss = 0;
    for (size_t k = 0; k < n; k++)
        ss += (double)v[k] * v[k];
    double den = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
    for (size_t k = 0; k < n; k++)
        v[k] = (float)((double)v[k] / den);
}

static json_t *vec_json(const float *v, size_t dim)
{
    json_t *a = json_array();
    for (size_t k = 0; a && k < dim; k++) {
        double x = isfinite(v[k]) ? (double)v[k] : 0.0;
        if (json_array_append_new(a, json_real(x)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static void route_embed(ak_ctx *c)
{
    if (!ak_need_body(c))
        return;
    json_t *b = c->body;
    static const char *const known[] = {"texts", "model", "pooling", "normalize", "truncate",
                                        "dimensions"};
    const char *key;
    json_t *val;
    json_object_foreach(b, key, val) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (strcmp(key, known[i]) == 0)
                ok = true;
        if (!ok) {
            ak_reply_error(c, 400, "invalid_request", "unknown field \"%s\"", key);
            return;
        }
    }
    ak_emodel *em = get_model(c, b);
    if (!em)
        return;
    akidb_pooling pool;
    int normalize, truncate;
    if (!get_pooling(c, b, &pool) || !ak_json_bool(c, b, "normalize", -1, &normalize) ||
        !ak_json_bool(c, b, "truncate", 1, &truncate))
        return;
    const char **texts;
    size_t *lens, n;
    if (!get_texts(c, json_object_get(b, "texts"), "texts", true, &texts, &lens, &n))
        return;
    size_t dim = ak_emodel_info(em)->dim, out_dim = dim;
    if (!get_dimensions(c, b, em, dim, &out_dim)) {
        ak_free(texts);
        ak_free(lens);
        return;
    }
    float *out = ak_malloc(n * dim * sizeof *out);
    size_t tokens = 0;
    double t0 = ak_now();
    if (!out) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
    } else if (ak_embed_for_route(c, em, texts, lens, n, pool, normalize, truncate, out,
                                  &tokens)) {
        double ms = (ak_now() - t0) * 1000.0;
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            /* truncate_dim: the first out_dim values, re-normalised only
             * when normalisation was asked for */
            if (out_dim < dim && normalize == 1)
                renormalize(out + i * dim, out_dim);
            if (json_array_append_new(arr, vec_json(out + i * dim, out_dim)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        json_t *r = arr ? json_pack("{s:o,s:s,s:I,s:{s:I,s:f}}", "embeddings", arr, "model",
                                    ak_emodel_name(em), "dimension", (json_int_t)out_dim,
                                    "usage", "total_tokens", (json_int_t)tokens,
                                    "duration_ms", ms)
                        : NULL;
        ak_reply_json(c, 200, r);
    }
    ak_free(out);
    ak_free(texts);
    ak_free(lens);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 of the little-endian float32 bytes of v (what OpenAI's
 * encoding_format=base64 returns). */
static json_t *vec_base64(const float *v, size_t dim)
{
    size_t nb = dim * 4;
    unsigned char *raw = ak_malloc(nb);
    char *txt = ak_malloc((nb + 2) / 3 * 4 + 1);
    json_t *j = NULL;
    if (raw && txt) {
        for (size_t k = 0; k < dim; k++) {
            uint32_t u;
            memcpy(&u, &v[k], 4);
            raw[4 * k] = (unsigned char)u;
            raw[4 * k + 1] = (unsigned char)(u >> 8);
            raw[4 * k + 2] = (unsigned char)(u >> 16);
            raw[4 * k + 3] = (unsigned char)(u >> 24);
        }
        size_t w = 0;
        for (size_t i = 0; i < nb; i += 3) {
            uint32_t x = (uint32_t)raw[i] << 16;
            if (i + 1 < nb) x |= (uint32_t)raw[i + 1] << 8;
            if (i + 2 < nb) x |= raw[i + 2];
            txt[w++] = b64[(x >> 18) & 63];
            txt[w++] = b64[(x >> 12) & 63];
            txt[w++] = i + 1 < nb ? b64[(x >> 6) & 63] : '=';
            txt[w++] = i + 2 < nb ? b64[x & 63] : '=';
        }
        txt[w] = '\0';
        j = json_stringn(txt, w);
    }
    ak_free(raw);
    ak_free(txt);
    return j;
}

static void route_oai_embeddings(ak_ctx *c)
{
    if (!ak_need_body(c))
        return;
    json_t *b = c->body;
    ak_emodel *em = get_model(c, b);
    if (!em)
        return;
    const akidb_model_info *info = ak_emodel_info(em);
    bool base64 = false;
    json_t *ef = json_object_get(b, "encoding_format");
    if (ef && !json_is_null(ef)) {
        const char *f = json_is_string(ef) ? json_string_value(ef) : "";
        if (strcmp(f, "base64") == 0) {
            base64 = true;
        } else if (strcmp(f, "float") != 0) {
            ak_reply_error(c, 400, "invalid_request",
                           "\"encoding_format\" must be \"float\" or \"base64\"");
            return;
        }
    }
    size_t dim = info->dim, out_dim = dim;
    json_t *dj = json_object_get(b, "dimensions");
    if (dj && !json_is_null(dj)) {
        if (!json_is_integer(dj) || json_integer_value(dj) < 1 ||
            (uint64_t)json_integer_value(dj) > dim) {
            ak_reply_error(c, 400, "invalid_request",
                           "\"dimensions\" must be an integer from 1 to %zu (model '%s'); "
                           "smaller values truncate the embedding and L2-normalise it again",
                           dim, ak_emodel_name(em));
            return;
        }
        out_dim = (size_t)json_integer_value(dj);
    }
    /* input: a string, strings, token ids or arrays of token ids */
    ak_einputs in;
    if (!ak_inputs_parse(c, json_object_get(b, "input"), "input", &in)) {
        ak_inputs_free(&in);
        return;
    }
    size_t n = in.n;
    float *out = ak_malloc(n * dim * sizeof *out);
    size_t tokens = 0;
    ak_embed_how how = {-1, 1, 0, NULL};
    if (!out) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
    } else if (ak_inputs_embed(c, em, &in, &how, out, &tokens)) {
        json_t *data = json_array();
        for (size_t i = 0; data && i < n; i++) {
            float *v = out + i * dim;
            if (out_dim < dim) {
                double ss = 0;
                for (size_t k = 0; k < out_dim; k++)
                    ss += (double)v[k] * v[k];
                float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
                for (size_t k = 0; k < out_dim; k++)
                    v[k] *= inv;
            }
            json_t *e = base64 ? vec_base64(v, out_dim) : vec_json(v, out_dim);
            json_t *item = e ? json_pack("{s:s,s:I,s:o}", "object", "embedding", "index",
                                         (json_int_t)i, "embedding", e)
                             : NULL;
            if (!item || json_array_append_new(data, item) != 0) {
                json_decref(data);
                data = NULL;
            }
        }
        json_t *r = data ? json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data",
                                     data, "model", ak_emodel_name(em), "usage",
                                     "prompt_tokens", (json_int_t)tokens, "total_tokens",
                                     (json_int_t)tokens)
                         : NULL;
        ak_reply_json(c, 200, r);
    }
    ak_free(out);
    ak_inputs_free(&in);
}

static void route_oai_models(ak_ctx *c)
{
    json_t *data = json_array();
    ak_models *ms = c->srv->models;
    for (size_t i = 0; data && i < ak_models_count(ms); i++) {
        ak_emodel *em = ak_models_at(ms, i);
        const akidb_model_info *info = ak_emodel_info(em);
        json_t *m = json_pack("{s:s,s:s,s:i,s:s,s:I,s:I,s:s,s:b,s:b}", "id", ak_emodel_name(em),
                              "object", "model", "created", 0, "owned_by", "akidb",
                              "dimension", (json_int_t)info->dim, "max_tokens",
                              (json_int_t)info->max_tokens, "pooling",
                              akidb_pooling_name(info->pooling), "normalize",
                              info->normalize != 0, "default", i == 0);
        if (!m || json_array_append_new(data, m) != 0) {
            json_decref(data);
            data = NULL;
        }
    }
    ak_reply_json(c, 200, data ? json_pack("{s:s,s:o}", "object", "list", "data", data) : NULL);
}

static const ak_route embed_routes[] = {
    { "POST", "/api/v1/embed", AK_ROLE_READER, route_embed, 0 },
};

const ak_route_family ak_routes_embed = { "akidb-embed", AK_ROUTES(embed_routes), NULL };

static const ak_route openai_routes[] = {
    { "POST", "/v1/embeddings", AK_ROLE_READER, route_oai_embeddings, 0 },
    { "GET", "/v1/models", AK_ROLE_READER, route_oai_models, 0 },
};

const ak_route_family ak_routes_openai = { "openai", AK_ROUTES(openai_routes), NULL };
