/*
 * test_qdrant_sq8.c - int8 quantisation (SQ8) over REST, on a server started
 * in-process (no models) and driven by libcurl:
 *
 *   qdrant   PUT /collections/{name} with quantization_config {"scalar":
 *            {"type": "int8", "quantile", "always_ram"}} (at the top and
 *            inside "vectors"), reported back by GET; unknown kinds and
 *            types, bad quantiles refused with 400 naming the field; 3000
 *            points upserted (past the exact-scan threshold, so searches
 *            walk the graph); /points/search and /points/query with
 *            params.quantization {ignore, rescore, oversampling}: rescored
 *            scores equal float64 dot products, rescore false gives the
 *            approximate ones (near, not all equal), bad values 400 naming
 *            the field; after a restart the setting is still reported
 *   native   POST /api/v1/collections with "quantization": {"type": "sq8",
 *            "quantile"}, reported in the collection; a bad type refused
 *            naming quantization.type; POST .../search with "quantization"
 */
#include "akt.h"
#include "akidb.h"
#include "server/server.h"
#include "server/srvtest.h"
#include "server/srvbare.h"

#include <math.h>

#define DIM 16
#define NPTS 3000

typedef st_srv srv;

/* Starts a server without models on an ephemeral port over data (a new
 * folder when NULL). */
static bool srv_up(srv *f, char *data)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ak_server_config c;
    st_srv_config(&c);
    c.auth = 0;
    return st_srv_start(f, "qsq8", data, &c);
}

/* Sends a request and checks the status; the caller frees the answer. */
static st_resp call(const srv *f, const char *m, const char *path, const char *body, long want)
{
    st_resp r = st_http(f->port, m, path, NULL, body, -1);
    if (r.status != want)
        fprintf(stderr, "  %s %s %.200s -> %ld %s\n", m, path, body ? body : "", r.status,
                r.body ? r.body : "");
    AKT_EQ_INT(r.status, want);
    return r;
}

/* A 400 whose message contains what. */
static void refused(const srv *f, const char *m, const char *path, const char *body,
                    const char *what)
{
    st_resp r = call(f, m, path, body, 400);
    AKT_CONTAINS(r.body, what);
    st_resp_free(&r);
}

static float g_vec[NPTS * DIM];

static void make_points(void)
{
    uint64_t x = 0x51u;
    float centre[8][DIM];
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < DIM; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            centre[k][j] = (float)((double)(x >> 11) / 9007199254740992.0 * 2 - 1);
        }
    for (int i = 0; i < NPTS; i++)
        for (int j = 0; j < DIM; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            float g = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5) * 0.6f;
            g_vec[i * DIM + j] = centre[i % 8][j] + g;
        }
}

static char *vec_json(const float *v)
{
    json_t *a = json_array();
    for (int j = 0; j < DIM; j++)
        json_array_append_new(a, json_real(v[j]));
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

/* Upserts every point through Qdrant's batch form, 500 at a time. */
static void upsert_all(const srv *f, const char *coll)
{
    char path[128];
    snprintf(path, sizeof path, "/collections/%s/points?wait=true", coll);
    for (int a = 0; a < NPTS; a += 500) {
        json_t *ids = json_array(), *vecs = json_array();
        for (int i = a; i < a + 500; i++) {
            json_array_append_new(ids, json_integer(i));
            json_t *v = json_array();
            for (int j = 0; j < DIM; j++)
                json_array_append_new(v, json_real(g_vec[i * DIM + j]));
            json_array_append_new(vecs, v);
        }
        json_t *b = json_pack("{s:{s:o,s:o}}", "batch", "ids", ids, "vectors", vecs);
        char *body = json_dumps(b, JSON_COMPACT);
        json_decref(b);
        st_resp r = call(f, "PUT", path, body, 200);
        st_resp_free(&r);
        free(body);
    }
}

static double dot(const float *a, const float *b)
{
    double s = 0;
    for (int j = 0; j < DIM; j++)
        s += (double)a[j] * b[j];
    return s;
}

/* Runs a search with the given params and checks every hit's score
 * against the float64 dot product: to 1e-5 when exact, to 0.25 otherwise;
 * returns how many hits were off by more than 1e-5. */
static size_t search_check(const srv *f, const char *route, const char *key, const float *q,
                           const char *params, bool exact_scores)
{
    char *vj = vec_json(q), body[1024], path[128];
    snprintf(body, sizeof body, "{\"%s\":%s,\"limit\":10%s%s}", key, vj,
             params ? ",\"params\":" : "", params ? params : "");
    free(vj);
    snprintf(path, sizeof path, "/collections/q8/points/%s", route);
    st_resp r = call(f, "POST", path, body, 200);
    json_t *res = json_object_get(r.json, "result");
    if (json_is_object(res))
        res = json_object_get(res, "points");
    AKT_EQ_INT(json_array_size(res), 10);
    size_t off = 0, i;
    json_t *h;
    double prev = INFINITY;
    json_array_foreach(res, i, h) {
        int id = (int)json_integer_value(json_object_get(h, "id"));
        double sc = json_number_value(json_object_get(h, "score"));
        AKT_TRUE(id >= 0 && id < NPTS);
        double e = dot(q, g_vec + (size_t)id * DIM);
        AKT_NEAR(sc, e, exact_scores ? 1e-5 * fabs(e) + 1e-5 : 0.25);
        off += fabs(sc - e) > 1e-5 * fabs(e) + 1e-5;
        AKT_LE(sc, prev);
        prev = sc;
    }
    st_resp_free(&r);
    return off;
}

AKT_TEST(qdrant)
{
    make_points();
    srv f;
    AKT_TRUE(srv_up(&f, NULL));
    /* refusals name the field */
    const char *vec = "\"vectors\":{\"size\":16,\"distance\":\"Dot\"";
    char b[512];
    snprintf(b, sizeof b, "{%s},\"quantization_config\":{\"scalar\":{\"type\":\"int4\"}}}", vec);
    refused(&f, "PUT", "/collections/x", b, "quantization_config.scalar.type");
    snprintf(b, sizeof b, "{%s},\"quantization_config\":{\"product\":{\"compression\":\"x16\"}}}",
             vec);
    refused(&f, "PUT", "/collections/x", b, "quantization_config.product");
    snprintf(b, sizeof b, "{%s},\"quantization_config\":{\"binary\":{}}}", vec);
    refused(&f, "PUT", "/collections/x", b, "quantization_config.binary");
    snprintf(b, sizeof b,
             "{%s,\"quantization_config\":{\"scalar\":{\"type\":\"int8\","
             "\"quantile\":0.2}}}}", vec);
    refused(&f, "PUT", "/collections/x", b, "vectors.quantization_config.scalar.quantile");
    snprintf(b, sizeof b, "{%s},\"quantization_config\":{\"scalar\":{\"type\":\"int8\","
             "\"always_ram\":3}}}", vec);
    refused(&f, "PUT", "/collections/x", b, "always_ram");
    snprintf(b, sizeof b, "{%s},\"quantization_config\":[1]}", vec);
    refused(&f, "PUT", "/collections/x", b, "quantization_config must be an object");
    st_resp r = call(&f, "GET", "/collections/x/exists", NULL, 200);
    AKT_TRUE(json_is_false(json_object_get(json_object_get(r.json, "result"), "exists")));
    st_resp_free(&r);

    /* create, and the setting reported back; a plain collection reports null */
    snprintf(b, sizeof b, "{%s},\"quantization_config\":{\"scalar\":{\"type\":\"int8\","
             "\"quantile\":0.99,\"always_ram\":true}}}", vec);
    r = call(&f, "PUT", "/collections/q8", b, 200);
    st_resp_free(&r);
    snprintf(b, sizeof b, "{%s}}", vec);
    r = call(&f, "PUT", "/collections/plain", b, 200);
    st_resp_free(&r);
    r = call(&f, "GET", "/collections/q8", NULL, 200);
    json_t *sc = json_object_get(json_object_get(json_object_get(json_object_get(r.json, "result"),
                                                                 "config"),
                                                 "quantization_config"),
                                 "scalar");
    AKT_EQ_STR(json_string_value(json_object_get(sc, "type")), "int8");
    AKT_NEAR(json_number_value(json_object_get(sc, "quantile")), 0.99, 1e-12);
    AKT_TRUE(json_is_true(json_object_get(sc, "always_ram")));
    st_resp_free(&r);
    r = call(&f, "GET", "/collections/plain", NULL, 200);
    AKT_TRUE(json_is_null(json_object_get(
        json_object_get(json_object_get(r.json, "result"), "config"), "quantization_config")));
    st_resp_free(&r);

    upsert_all(&f, "q8");
    size_t approx_off = 0, nq = st_quick() ? 10 : 30;
    for (size_t i = 0; i < nq; i++) {
        float q[DIM];
        for (int j = 0; j < DIM; j++)
            q[j] = g_vec[(i * 97 % NPTS) * DIM + j] * 0.9f + 0.05f * (float)(j % 3);
        AKT_EQ_INT(search_check(&f, "search", "vector", q, NULL, true), 0);
        AKT_EQ_INT(search_check(&f, "search", "vector", q,
                                "{\"hnsw_ef\":64,\"quantization\":{\"rescore\":true,"
                                "\"oversampling\":2.0}}", true), 0);
        AKT_EQ_INT(search_check(&f, "query", "query", q,
                                "{\"quantization\":{\"ignore\":true}}", true), 0);
        approx_off += search_check(&f, "query", "query", q,
                                   "{\"quantization\":{\"rescore\":false}}", false);
    }
    AKT_TRUE(approx_off > 0);   /* approximate scores, as the API says */
    refused(&f, "POST", "/collections/q8/points/search",
            "{\"vector\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],\"params\":{\"quantization\":"
            "{\"oversampling\":0.5}}}", "params.quantization.oversampling");
    refused(&f, "POST", "/collections/q8/points/query",
            "{\"query\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],\"params\":{\"quantization\":"
            "{\"rescor\":false}}}", "params.quantization.rescor");
    refused(&f, "POST", "/collections/q8/points/search",
            "{\"vector\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],\"params\":{\"quantization\":"
            "{\"ignore\":1}}}", "params.quantization.ignore");

    /* a restart: the setting comes back from the store */
    char *data = f.data;
    AKT_OK(ak_server_stop(f.s));
    AKT_TRUE(srv_up(&f, data));
    r = call(&f, "GET", "/collections/q8", NULL, 200);
    sc = json_object_get(json_object_get(json_object_get(json_object_get(r.json, "result"),
                                                         "config"),
                                         "quantization_config"),
                         "scalar");
    AKT_EQ_STR(json_string_value(json_object_get(sc, "type")), "int8");
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "result"),
                                                  "points_count")), NPTS);
    st_resp_free(&r);
    float q[DIM];
    memcpy(q, g_vec + 5 * DIM, sizeof q);
    AKT_EQ_INT(search_check(&f, "search", "vector", q, NULL, true), 0);
    AKT_OK(ak_server_stop(f.s));
    st_rmtree(f.data);
}

AKT_TEST(native)
{
    srv f;
    AKT_TRUE(srv_up(&f, NULL));
    refused(&f, "POST", "/api/v1/collections",
            "{\"name\":\"n\",\"dimension\":4,\"quantization\":{\"type\":\"pq\"}}",
            "quantization.type");
    refused(&f, "POST", "/api/v1/collections",
            "{\"name\":\"n\",\"dimension\":4,\"quantization\":{\"type\":\"sq8\",\"quantile\":2}}",
            "quantization.quantile");
    refused(&f, "POST", "/api/v1/collections",
            "{\"name\":\"n\",\"dimension\":4,\"quantization\":{\"type\":\"sq8\",\"bits\":4}}",
            "quantization.bits");
    st_resp r = call(&f, "POST", "/api/v1/collections",
                     "{\"name\":\"n\",\"dimension\":4,\"metric\":\"l2\",\"quantization\":"
                     "{\"type\":\"sq8\",\"quantile\":0.95}}", 201);
    json_t *qz = json_object_get(r.json, "quantization");
    AKT_EQ_STR(json_string_value(json_object_get(qz, "type")), "sq8");
    AKT_NEAR(json_number_value(json_object_get(qz, "quantile")), 0.95, 1e-12);
    st_resp_free(&r);
    r = call(&f, "POST", "/api/v1/collections", "{\"name\":\"p\",\"dimension\":4}", 201);
    AKT_TRUE(json_is_null(json_object_get(r.json, "quantization")));
    st_resp_free(&r);
    r = call(&f, "GET", "/api/v1/collections/n", NULL, 200);
    AKT_EQ_STR(json_string_value(json_object_get(json_object_get(r.json, "quantization"), "type")),
               "sq8");
    st_resp_free(&r);
    r = call(&f, "POST", "/api/v1/collections/n/points",
             "{\"points\":[{\"id\":\"a\",\"vector\":[1,0,0,0]},"
             "{\"id\":\"b\",\"vector\":[0,2,0,0]}]}",
             200);
    st_resp_free(&r);
    r = call(&f, "POST", "/api/v1/collections/n/search",
             "{\"vector\":[1,0.1,0,0],\"top_k\":1,\"quantization\":{\"rescore\":true,"
             "\"oversampling\":3}}", 200);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "hits"), 0),
                                                 "id")), "a");
    st_resp_free(&r);
    refused(&f, "POST", "/api/v1/collections/n/search",
            "{\"vector\":[1,0,0,0],\"quantization\":{\"oversampling\":101}}",
            "quantization.oversampling");
    refused(&f, "POST", "/api/v1/collections/n/search",
            "{\"vector\":[1,0,0,0],\"quantization\":true}", "quantization must be an object");
    AKT_OK(ak_server_stop(f.s));
    st_rmtree(f.data);
}

AKT_MAIN(AKT_REG(qdrant), AKT_REG(native))
