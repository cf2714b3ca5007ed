/*
 * test_server.c - end-to-end tests of the REST server: a server started
 * in-process on 127.0.0.1 with an ephemeral port and a temporary data
 * folder, driven over real HTTP by libcurl.  Covers every route, the error
 * answers (malformed JSON and UTF-8, wrong dimension, unknown collection and
 * model, body limit, too many texts, overlong text), the auth matrix, a
 * restart that keeps data and keys, concurrent clients and the dynamic
 * batcher.  Embeddings are checked against akidb_embed on the same model.
 * AKIDB_TEST_QUICK=1 shrinks the loops.
 */
#include "akt.h"
#include "akidb.h"
#include "server/server.h"
#include "server/srvtest.h"

#include <math.h>
#include <pthread.h>

static char *g_root, *g_m1, *g_m2;

static void cleanup_models(void)
{
    st_rmtree(g_root);
}

/* Stages two models once: "tiny" (128 tokens) and "short" (16 tokens). */
static void stage_models(void)
{
    if (g_root)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_root = st_tmpdir("srvmodels");
    g_m1 = malloc(1024);
    g_m2 = malloc(1024);
    snprintf(g_m1, 1024, "%s/tiny", g_root);
    snprintf(g_m2, 1024, "%s/short", g_root);
    if (st_stage_model(g_m1, 0) != 0 || st_stage_model(g_m2, 16) != 0) {
        fprintf(stderr, "cannot stage the test models\n");
        abort();
    }
    atexit(cleanup_models);
}

static ak_model_spec g_specs[2];

static void base_cfg(ak_server_config *c, const char *data)
{
    stage_models();
    ak_server_config_defaults(c);
    g_specs[0].name = "tiny";
    g_specs[0].dir = g_m1;
    g_specs[1].name = "short";
    g_specs[1].dir = g_m2;
    c->data_dir = data;
    c->port = 0;
    c->models = g_specs;
    c->n_models = 2;
    c->scan_models_dir = 0;
    c->auth = 0;
    c->sync_none = 1;
    c->embed_threads = 1;
    c->drain_timeout_s = 10;
}

static ak_server *start(const ak_server_config *c)
{
    ak_server *s = NULL;
    akidb_status st = ak_server_start(c, &s);
    if (st != AKIDB_OK) {
        fprintf(stderr, "ak_server_start: %s\n", akidb_last_error());
        return NULL;
    }
    return s;
}

#define REQ(port, m, p, key, body) st_http(port, m, p, key, body, -1)

/* Embeds texts directly with the model folder for comparison. */
static float *direct_embed(const char *dir, const char *const *texts, size_t n,
                           akidb_pooling pool, int normalize)
{
    akidb_model *m = NULL;
    if (akidb_model_load(dir, NULL, &m) != AKIDB_OK)
        return NULL;
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    float *out = malloc(n * info.dim * sizeof *out);
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.pooling = pool;
    o.normalize = normalize;
    o.n_threads = 1;
    akidb_status st = akidb_embed(m, texts, NULL, n, out, &o);
    akidb_model_free(m);
    if (st != AKIDB_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static double max_diff_row(json_t *row, const float *want, size_t dim)
{
    double md = 0;
    if (json_array_size(row) != dim)
        return 1e9;
    for (size_t k = 0; k < dim; k++) {
        double d = fabs(json_number_value(json_array_get(row, k)) - want[k]);
        if (d > md)
            md = d;
    }
    return md;
}

/* ---- operational routes ------------------------------------------------------ */

AKT_TEST(health_ready_metrics)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    AKT_TRUE(port > 0);
    st_resp r = REQ(port, "GET", "/health", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "status")), "ok");
    st_resp_free(&r);
    r = REQ(port, "GET", "/ready", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "models")), 2);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/embed", NULL, "{\"texts\":[\"hello\"]}");
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"m\",\"dimension\":3}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "GET", "/metrics", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_CONTAINS(r.ctype, "text/plain");
    AKT_CONTAINS(r.body, "akidb_http_requests_total{route=\"/api/v1/embed\",method=\"POST\",status=\"200\"} 1");
    AKT_CONTAINS(r.body, "akidb_http_request_duration_seconds_bucket{route=\"/api/v1/embed\"");
    AKT_CONTAINS(r.body, "akidb_embed_queue_depth{model=\"tiny\"} 0");
    AKT_CONTAINS(r.body, "akidb_embed_batch_texts_bucket{model=\"tiny\"");
    AKT_CONTAINS(r.body, "akidb_embed_batch_tokens_count{model=\"tiny\"} 1");
    AKT_CONTAINS(r.body, "akidb_embed_tokens_total{model=\"tiny\"}");
    AKT_CONTAINS(r.body, "akidb_collections 1");
    AKT_CONTAINS(r.body, "akidb_points 0");
    st_resp_free(&r);
    r = REQ(port, "GET", "/nope", NULL, NULL);
    AKT_EQ_INT(r.status, 404);
    AKT_EQ_STR(st_err_code(&r), "not_found");
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/health", NULL, NULL);
    AKT_EQ_INT(r.status, 405);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* ---- embeddings ---------------------------------------------------------------- */

AKT_TEST(embed_route)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    const char *texts[] = {"The quick brown fox.", "Ünïcödé text — ok", "a"};
    float *want = direct_embed(g_m1, texts, 3, AKIDB_POOL_DEFAULT, -1);
    AKT_TRUE(want != NULL);
    st_resp r = REQ(port, "POST", "/api/v1/embed", NULL,
                    "{\"texts\":[\"The quick brown fox.\",\"Ünïcödé text — ok\",\"a\"]}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "tiny");
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 32);
    json_t *emb = json_object_get(r.json, "embeddings");
    AKT_EQ_INT(json_array_size(emb), 3);
    for (size_t i = 0; i < 3; i++)
        AKT_LE(max_diff_row(json_array_get(emb, i), want + i * 32, 32), 1e-6);
    json_t *usage = json_object_get(r.json, "usage");
    AKT_TRUE(json_integer_value(json_object_get(usage, "total_tokens")) >= 9);
    AKT_TRUE(json_is_number(json_object_get(usage, "duration_ms")));
    st_resp_free(&r);
    free(want);

    /* pooling + normalize honoured, model by name, single string */
    want = direct_embed(g_m2, texts, 1, AKIDB_POOL_CLS, 0);
    AKT_TRUE(want != NULL);
    r = REQ(port, "POST", "/api/v1/embed", NULL,
            "{\"texts\":\"The quick brown fox.\",\"model\":\"short\",\"pooling\":\"cls\","
            "\"normalize\":false}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "short");
    AKT_LE(max_diff_row(json_array_get(json_object_get(r.json, "embeddings"), 0), want, 32), 1e-6);
    st_resp_free(&r);
    free(want);
    /* org/name form matches the last part */
    r = REQ(port, "POST", "/api/v1/embed", NULL,
            "{\"texts\":[\"x\"],\"model\":\"sentence-transformers/tiny\"}");
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

AKT_TEST(embed_errors)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    c.max_request_texts = 4;
    c.body_limit = 64 * 1024;
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    static const struct {
        const char *body;
        long status;
        const char *code;
    } cases[] = {
        {"{\"texts\":[\"a\"", 400, "invalid_json"},
        {"[1,2]", 400, "invalid_json"},
        {"", 400, "invalid_json"},
        {"{\"texts\":[\"a\"],\"texts\":[\"b\"]}", 400, "invalid_json"},
        {"{\"texts\":5}", 400, "invalid_request"},
        {"{\"texts\":[]}", 400, "invalid_request"},
        {"{\"texts\":[1]}", 400, "unsupported"},
        {"{}", 400, "invalid_request"},
        {"{\"texts\":[\"a\"],\"model\":\"nope\"}", 404, "model_not_found"},
        {"{\"texts\":[\"a\"],\"model\":7}", 400, "invalid_request"},
        {"{\"texts\":[\"a\"],\"pooling\":\"median\"}", 400, "invalid_request"},
        {"{\"texts\":[\"a\"],\"normalize\":\"yes\"}", 400, "invalid_request"},
        {"{\"texts\":[\"a\"],\"bogus\":1}", 400, "invalid_request"},
        {"{\"texts\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 413, "too_many_texts"},
        {"{\"texts\":[\"a \\u0000 b\"]}", 400, "invalid_json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        st_resp r = REQ(port, "POST", "/api/v1/embed", NULL, cases[i].body);
        if (r.status != cases[i].status || strcmp(st_err_code(&r), cases[i].code) != 0)
            fprintf(stderr, "  case %zu: %s -> %ld %s\n", i, cases[i].body, r.status,
                    r.body ? r.body : "");
        AKT_EQ_INT(r.status, cases[i].status);
        AKT_EQ_STR(st_err_code(&r), cases[i].code);
        AKT_TRUE(json_is_string(json_object_get(json_object_get(r.json, "error"), "message")));
        st_resp_free(&r);
    }
    /* malformed UTF-8 in the body */
    st_resp r = st_http(port, "POST", "/api/v1/embed", NULL, "{\"texts\":[\"a\xff\xfe\"]}", -1);
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "invalid_utf8");
    st_resp_free(&r);
    /* overlong (CESU-style surrogate) sequence */
    r = st_http(port, "POST", "/api/v1/embed", NULL, "{\"texts\":[\"\xed\xa0\x80\"]}", -1);
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "invalid_utf8");
    st_resp_free(&r);
    /* text over the model's limit: "short" takes 16 tokens */
    const char *longtxt = "{\"model\":\"short\",\"truncate\":false,\"texts\":[\"one two three four "
                          "five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                          "sixteen seventeen eighteen\"]}";
    r = REQ(port, "POST", "/api/v1/embed", NULL, longtxt);
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "text_too_long");
    AKT_CONTAINS(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
                 "truncate");
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/embed", NULL,
            "{\"model\":\"short\",\"texts\":[\"one two three four five six seven eight nine ten "
            "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen\"]}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "usage"), "total_tokens")), 16);
    st_resp_free(&r);
    /* body over the limit: 413 before the body is read */
    size_t big = 100 * 1024;
    char *body = malloc(big + 1);
    memset(body, ' ', big);
    memcpy(body, "{\"texts\":[\"", 11);
    memset(body + 11, 'a', big - 20);
    memcpy(body + big - 9, "\"]}      ", 9);
    body[big] = '\0';
    r = st_http(port, "POST", "/api/v1/embed", NULL, body, (long)big);
    AKT_EQ_INT(r.status, 413);
    AKT_EQ_STR(st_err_code(&r), "payload_too_large");
    st_resp_free(&r);
    free(body);
    /* the server still works afterwards */
    r = REQ(port, "GET", "/v1/embeddings", NULL, NULL);
    AKT_EQ_INT(r.status, 405);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/embed", NULL, "{\"texts\":[\"still fine\"]}");
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

static int b64v(char ch)
{
    const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(t, ch);
    return p && ch ? (int)(p - t) : -1;
}

AKT_TEST(openai_routes)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    const char *texts[] = {"first input", "second one"};
    float *want = direct_embed(g_m1, texts, 2, AKIDB_POOL_DEFAULT, -1);
    AKT_TRUE(want != NULL);

    st_resp r = REQ(port, "POST", "/v1/embeddings", NULL,
                    "{\"input\":[\"first input\",\"second one\"],\"model\":\"tiny\"}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "object")), "list");
    json_t *d = json_object_get(r.json, "data");
    AKT_EQ_INT(json_array_size(d), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(d, i);
        AKT_EQ_STR(json_string_value(json_object_get(e, "object")), "embedding");
        AKT_EQ_INT(json_integer_value(json_object_get(e, "index")), i);
        AKT_LE(max_diff_row(json_object_get(e, "embedding"), want + i * 32, 32), 1e-6);
    }
    json_t *u = json_object_get(r.json, "usage");
    AKT_TRUE(json_integer_value(json_object_get(u, "prompt_tokens")) > 0);
    AKT_EQ_INT(json_integer_value(json_object_get(u, "prompt_tokens")),
               json_integer_value(json_object_get(u, "total_tokens")));
    st_resp_free(&r);

    /* single string + base64 */
    r = REQ(port, "POST", "/v1/embeddings", NULL,
            "{\"input\":\"first input\",\"encoding_format\":\"base64\"}");
    AKT_EQ_INT(r.status, 200);
    const char *b = json_string_value(json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "embedding"));
    AKT_TRUE(b != NULL);
    AKT_EQ_INT(strlen(b), (32 * 4 + 2) / 3 * 4);
    unsigned char raw[128];
    size_t nr = 0;
    for (size_t i = 0; b[i] && b[i + 1] && b[i + 2] && b[i + 3]; i += 4) {
        int v0 = b64v(b[i]), v1 = b64v(b[i + 1]), v2 = b[i + 2] == '=' ? 0 : b64v(b[i + 2]),
            v3 = b[i + 3] == '=' ? 0 : b64v(b[i + 3]);
        uint32_t x = (uint32_t)v0 << 18 | (uint32_t)v1 << 12 | (uint32_t)v2 << 6 | (uint32_t)v3;
        if (nr < 128) raw[nr++] = (unsigned char)(x >> 16);
        if (nr < 128 && b[i + 2] != '=') raw[nr++] = (unsigned char)(x >> 8);
        if (nr < 128 && b[i + 3] != '=') raw[nr++] = (unsigned char)x;
    }
    AKT_EQ_INT(nr, 128);
    for (size_t k = 0; k < 32; k++) {
        float f;
        memcpy(&f, raw + 4 * k, 4);
        AKT_EQ_INT(memcmp(&f, &want[k], 4), 0);
    }
    st_resp_free(&r);

    /* dimensions: truncation + renormalisation */
    r = REQ(port, "POST", "/v1/embeddings", NULL, "{\"input\":\"first input\",\"dimensions\":8}");
    AKT_EQ_INT(r.status, 200);
    json_t *e = json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "embedding");
    AKT_EQ_INT(json_array_size(e), 8);
    double n2 = 0, w2 = 0;
    for (size_t k = 0; k < 8; k++) {
        n2 += pow(json_number_value(json_array_get(e, k)), 2);
        w2 += (double)want[k] * want[k];
    }
    AKT_NEAR(n2, 1.0, 1e-5);
    for (size_t k = 0; k < 8; k++)
        AKT_NEAR(json_number_value(json_array_get(e, k)), want[k] / sqrt(w2), 1e-6);
    st_resp_free(&r);
    static const char *bad[] = {
        "{\"input\":\"x\",\"dimensions\":0}", "{\"input\":\"x\",\"dimensions\":33}",
        "{\"input\":\"x\",\"dimensions\":\"8\"}", "{\"input\":\"x\",\"encoding_format\":\"hex\"}",
        "{\"input\":[[1,2,3]]}", "{\"model\":\"tiny\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = REQ(port, "POST", "/v1/embeddings", NULL, bad[i]);
        AKT_EQ_INT(r.status, 400);
        st_resp_free(&r);
    }
    r = REQ(port, "POST", "/v1/embeddings", NULL, "{\"input\":\"x\",\"model\":\"gpt-x\"}");
    AKT_EQ_INT(r.status, 404);
    AKT_EQ_STR(st_err_code(&r), "model_not_found");
    st_resp_free(&r);

    r = REQ(port, "GET", "/v1/models", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    d = json_object_get(r.json, "data");
    AKT_EQ_INT(json_array_size(d), 2);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(d, 0), "id")), "tiny");
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(d, 1), "id")), "short");
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(d, 1), "max_tokens")), 16);
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(d, 0), "dimension")), 32);
    st_resp_free(&r);
    free(want);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* ---- collections: compatibility shape --------------------------------------------- */

AKT_TEST(compat_collections)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    st_resp r = REQ(port, "POST", "/api/v1/collections", NULL,
                    "{\"name\":\"docs\",\"dimension\":3,\"metric\":\"cosine\"}");
    AKT_EQ_INT(r.status, 201);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "id")), "docs");
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 3);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"docs\",\"dimension\":3}");
    AKT_EQ_INT(r.status, 409);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"bad name!\",\"dimension\":3}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"x\",\"dimension\":0}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"x\",\"metric\":\"hamming\",\"dimension\":2}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"x\",\"model\":\"tiny\",\"dimension\":7}");
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "dimension_mismatch");
    st_resp_free(&r);

    static const char *ins[] = {
        "{\"doc_id\":\"a\",\"external_id\":\"ext-a\",\"vector\":[1,0,0]}",
        "{\"doc_id\":\"b\",\"vector\":[0.9,0.1,0]}",
        "{\"doc_id\":7,\"external_id\":42,\"vector\":[0,0,1]}",
    };
    for (size_t i = 0; i < 3; i++) {
        r = REQ(port, "POST", "/api/v1/collections/docs/insert", NULL, ins[i]);
        AKT_EQ_INT(r.status, 201);
        st_resp_free(&r);
    }
    r = REQ(port, "POST", "/api/v1/collections/docs/insert", NULL,
            "{\"doc_id\":\"c\",\"vector\":[1,0]}");
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "dimension_mismatch");
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/docs/insert", NULL, "{\"doc_id\":\"c\",\"vector\":[1,\"x\",0]}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/docs/insert", NULL, "{\"vector\":[1,0,0]}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/nope/insert", NULL, "{\"doc_id\":\"a\",\"vector\":[1,0,0]}");
    AKT_EQ_INT(r.status, 404);
    AKT_EQ_STR(st_err_code(&r), "collection_not_found");
    st_resp_free(&r);

    r = REQ(port, "POST", "/api/v1/collections/docs/query", NULL,
            "{\"query_vector\":[1,0,0],\"top_k\":2}");
    AKT_EQ_INT(r.status, 200);
    json_t *m = json_object_get(r.json, "matches");
    AKT_EQ_INT(json_array_size(m), 2);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(m, 0), "doc_id")), "a");
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(m, 0), "external_id")), "ext-a");
    AKT_NEAR(json_number_value(json_object_get(json_array_get(m, 0), "distance")), 0.0, 1e-6);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(m, 1), "doc_id")), "b");
    AKT_TRUE(json_is_null(json_object_get(json_array_get(m, 1), "external_id")));
    AKT_TRUE(json_number_value(json_object_get(json_array_get(m, 1), "distance")) > 0);
    AKT_TRUE(json_is_number(json_object_get(r.json, "latency_ms")));
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/docs/query", NULL, "{\"query_vector\":[1,0],\"top_k\":2}");
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "dimension_mismatch");
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/docs/query", NULL, "{\"query_vector\":[1,0,0],\"top_k\":0}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/nope/query", NULL, "{\"query_vector\":[1,0,0]}");
    AKT_EQ_INT(r.status, 404);
    AKT_EQ_STR(st_err_code(&r), "collection_not_found");
    st_resp_free(&r);

    r = REQ(port, "GET", "/api/v1/collections/docs/docs/7", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "external_id")), 42);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "vector")), 3);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/docs", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 3);
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/collections/docs/docs/7", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/docs/docs/7", NULL, NULL);
    AKT_EQ_INT(r.status, 404);
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/collections/docs/docs/7", NULL, NULL);
    AKT_EQ_INT(r.status, 404);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "collections")), 1);
    st_resp_free(&r);
    /* percent-encoded ids reach the store decoded */
    r = REQ(port, "POST", "/api/v1/collections/docs/insert", NULL, "{\"doc_id\":\"a/b c\",\"vector\":[0,1,0]}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/docs/docs/a%2Fb%20c", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "doc_id")), "a/b c");
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/docs/docs/bad%zz", NULL, NULL);
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/collections/docs", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/docs", NULL, NULL);
    AKT_EQ_INT(r.status, 404);
    AKT_EQ_STR(st_err_code(&r), "collection_not_found");
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/collections/docs", NULL, NULL);
    AKT_EQ_INT(r.status, 404);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* ---- collections: text-native shape ------------------------------------------------ */

AKT_TEST(text_native)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    st_resp r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"notes\",\"model\":\"tiny\"}");
    AKT_EQ_INT(r.status, 201);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "tiny");
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 32);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/notes/points", NULL,
            "{\"points\":["
            "{\"id\":\"p1\",\"text\":\"cats purr on the sofa\",\"payload\":{\"kind\":\"pet\",\"n\":1}},"
            "{\"id\":\"p2\",\"text\":\"stock markets fell today\",\"payload\":{\"kind\":\"news\",\"n\":2}},"
            "{\"id\":\"p3\",\"text\":\"dogs bark at the mailman\",\"payload\":{\"kind\":\"pet\",\"n\":3}},"
            "{\"id\":\"p4\",\"vector\":[" "1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0" "]}"
            "]}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "upserted")), 4);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "embedded")), 3);
    st_resp_free(&r);
    /* search by text: the same text is the best hit with score ~1 */
    r = REQ(port, "POST", "/api/v1/collections/notes/search", NULL,
            "{\"text\":\"stock markets fell today\",\"top_k\":3,\"include\":[\"payload\",\"text\",\"vector\"]}");
    AKT_EQ_INT(r.status, 200);
    json_t *hits = json_object_get(r.json, "hits");
    AKT_EQ_INT(json_array_size(hits), 3);
    json_t *h0 = json_array_get(hits, 0);
    AKT_EQ_STR(json_string_value(json_object_get(h0, "id")), "p2");
    AKT_NEAR(json_number_value(json_object_get(h0, "score")), 1.0, 1e-4);
    AKT_EQ_STR(json_string_value(json_object_get(h0, "text")), "stock markets fell today");
    AKT_EQ_STR(json_string_value(json_object_get(json_object_get(h0, "payload"), "kind")), "news");
    AKT_EQ_INT(json_array_size(json_object_get(h0, "vector")), 32);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "tiny");
    st_resp_free(&r);
    /* filter + default include (payload, text; no vector) */
    r = REQ(port, "POST", "/api/v1/collections/notes/search", NULL,
            "{\"text\":\"stock markets fell today\",\"top_k\":5,\"filter\":{\"kind\":\"pet\"},\"ef\":32}");
    AKT_EQ_INT(r.status, 200);
    hits = json_object_get(r.json, "hits");
    AKT_EQ_INT(json_array_size(hits), 2);
    for (size_t i = 0; i < 2; i++) {
        AKT_EQ_STR(json_string_value(json_object_get(json_object_get(json_array_get(hits, i), "payload"), "kind")), "pet");
        AKT_TRUE(json_object_get(json_array_get(hits, i), "vector") == NULL);
    }
    st_resp_free(&r);
    /* search by vector, include nothing */
    r = REQ(port, "POST", "/api/v1/collections/notes/search", NULL,
            "{\"vector\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],\"top_k\":1,\"include\":[],\"exact\":true}");
    AKT_EQ_INT(r.status, 200);
    h0 = json_array_get(json_object_get(r.json, "hits"), 0);
    AKT_EQ_STR(json_string_value(json_object_get(h0, "id")), "p4");
    AKT_TRUE(json_object_get(h0, "payload") == NULL);
    st_resp_free(&r);
    static const struct { const char *body; long status; const char *code; } bad[] = {
        {"{\"top_k\":3}", 400, "invalid_request"},
        {"{\"text\":\"a\",\"vector\":[1]}", 400, "invalid_request"},
        {"{\"vector\":[1,2]}", 400, "dimension_mismatch"},
        {"{\"text\":\"a\",\"filter\":{\"n\":{\"between\":[1,2]}}}", 400, "invalid_filter"},
        {"{\"text\":\"a\",\"filter\":[1]}", 400, "invalid_filter"},
        {"{\"text\":\"a\",\"include\":[\"everything\"]}", 400, "invalid_request"},
        {"{\"text\":\"a\",\"top_k\":-1}", 400, "invalid_request"},
        {"{\"text\":7}", 400, "invalid_request"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = REQ(port, "POST", "/api/v1/collections/notes/search", NULL, bad[i].body);
        if (r.status != bad[i].status)
            fprintf(stderr, "  case %zu: %s -> %ld %s\n", i, bad[i].body, r.status, r.body);
        AKT_EQ_INT(r.status, bad[i].status);
        AKT_EQ_STR(st_err_code(&r), bad[i].code);
        st_resp_free(&r);
    }
    /* upsert errors */
    static const struct { const char *body; long status; const char *code; } ubad[] = {
        {"{\"points\":[{\"id\":\"x\"}]}", 400, "invalid_request"},
        {"{\"points\":[{\"id\":\"x\",\"vector\":[1,2]}]}", 400, "dimension_mismatch"},
        {"{\"points\":[{\"id\":\"x\",\"text\":\"t\",\"payload\":[1]}]}", 400, "invalid_request"},
        {"{\"points\":[{\"text\":\"t\"}]}", 400, "invalid_request"},
        {"{\"points\":[]}", 400, "invalid_request"},
        {"{\"points\":[{\"id\":\"x\",\"text\":\"t\",\"color\":1}]}", 400, "invalid_request"},
        {"{\"points\":[{\"id\":\"x\",\"text\":\"t\"},{\"id\":\"x\",\"text\":\"u\"}]}", 400, "invalid_request"},
    };
    for (size_t i = 0; i < sizeof ubad / sizeof *ubad; i++) {
        r = REQ(port, "POST", "/api/v1/collections/notes/points", NULL, ubad[i].body);
        if (r.status != ubad[i].status)
            fprintf(stderr, "  case %zu: %s -> %ld %s\n", i, ubad[i].body, r.status, r.body);
        AKT_EQ_INT(r.status, ubad[i].status);
        AKT_EQ_STR(st_err_code(&r), ubad[i].code);
        st_resp_free(&r);
    }
    /* a collection without a model cannot take bare text */
    r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"raw\",\"dimension\":2}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/raw/points", NULL, "{\"points\":[{\"id\":\"x\",\"text\":\"t\"}]}");
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "no_model");
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/raw/search", NULL, "{\"text\":\"t\"}");
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "no_model");
    st_resp_free(&r);

    /* count, scroll, get, delete */
    r = REQ(port, "GET", "/api/v1/collections/notes/count", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "count")), 4);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/notes/count", NULL, "{\"filter\":{\"n\":{\"gte\":2}}}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "count")), 2);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/notes/scroll", NULL, "{\"limit\":3}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "points")), 3);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "points"), 0), "id")), "p1");
    const char *cur = json_string_value(json_object_get(r.json, "next_cursor"));
    AKT_TRUE(cur != NULL);
    char body[512];
    snprintf(body, sizeof body, "{\"limit\":3,\"cursor\":\"%s\"}", cur);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/notes/scroll", NULL, body);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "points")), 1);
    AKT_TRUE(json_is_null(json_object_get(r.json, "next_cursor")));
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/notes/points/p3?include=text,vector", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "text")), "dogs bark at the mailman");
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "vector")), 32);
    AKT_TRUE(json_object_get(r.json, "payload") == NULL);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/notes/points/get", NULL, "{\"ids\":[\"p3\",\"zz\",\"p1\"]}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "points")), 2);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/notes/points/delete", NULL, "{\"ids\":[\"p3\",\"zz\"]}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "deleted")), 1);
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/collections/notes/points/p1", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/notes/points/p1", NULL, NULL);
    AKT_EQ_INT(r.status, 404);
    AKT_EQ_STR(st_err_code(&r), "point_not_found");
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/notes/count", NULL, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "count")), 2);
    st_resp_free(&r);
    r = REQ(port, "PUT", "/api/v1/collections/notes/search", NULL, "{}");
    AKT_EQ_INT(r.status, 405);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/notes/frobnicate", NULL, "{}");
    AKT_EQ_INT(r.status, 404);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* ---- auth ------------------------------------------------------------------------ */

static char *make_key(int port, const char *admin, const char *tenant, const char *role)
{
    char body[256];
    snprintf(body, sizeof body, "{\"tenant\":\"%s\",\"role\":\"%s\",\"label\":\"t\"}", tenant, role);
    st_resp r = REQ(port, "POST", "/api/v1/keys", admin, body);
    char *k = NULL;
    if (r.status == 201 && json_is_string(json_object_get(r.json, "key")))
        k = strdup(json_string_value(json_object_get(r.json, "key")));
    else
        fprintf(stderr, "  make_key: %ld %s\n", r.status, r.body ? r.body : "");
    st_resp_free(&r);
    return k;
}

AKT_TEST(auth_matrix)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    c.auth = -1;
    c.admin_key = "ak_test_admin_key_0123456789";
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    AKT_TRUE(ak_server_auth_on(s));
    AKT_TRUE(ak_server_generated_key(s) == NULL);
    int port = ak_server_port(s);
    const char *admin = c.admin_key;

    /* public routes */
    st_resp r = REQ(port, "GET", "/health", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    /* no key / wrong key / malformed header */
    r = REQ(port, "GET", "/api/v1/collections", NULL, NULL);
    AKT_EQ_INT(r.status, 401);
    AKT_EQ_STR(st_err_code(&r), "unauthorized");
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections", "ak_wrong", NULL);
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);
    r = REQ(port, "POST", "/v1/embeddings", NULL, "{\"input\":\"x\"}");
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/keys", "ak_test_admin_key_012345678", NULL);
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);

    /* tenants and keys */
    r = REQ(port, "POST", "/api/v1/tenants", admin, "{\"name\":\"acme\"}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/tenants", admin, "{\"name\":\"acme\"}");
    AKT_EQ_INT(r.status, 409);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/tenants", admin, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "tenants")), 2);
    st_resp_free(&r);
    char *acme_w = make_key(port, admin, "acme", "writer");
    char *acme_r = make_key(port, admin, "acme", "reader");
    char *def_w = make_key(port, admin, "default", "writer");
    char *acme_a = make_key(port, admin, "acme", "admin");
    AKT_TRUE(acme_w && acme_r && def_w && acme_a);
    AKT_EQ_INT(strncmp(acme_w, "ak_", 3), 0);
    AKT_TRUE(strlen(acme_w) >= 40);
    r = REQ(port, "POST", "/api/v1/keys", admin, "{\"tenant\":\"ghost\",\"role\":\"reader\"}");
    AKT_EQ_INT(r.status, 404);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/keys", admin, "{\"role\":\"owner\"}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    /* the key file holds hashes, never the keys */
    char path[1024];
    snprintf(path, sizeof path, "%s/auth.json", data);
    FILE *f = fopen(path, "rb");
    AKT_TRUE(f != NULL);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    AKT_TRUE(strstr(buf, acme_w + 3) == NULL);
    AKT_TRUE(strstr(buf, admin) == NULL);
    AKT_CONTAINS(buf, "sha256");

    /* writer creates and fills; reader reads but cannot write */
    r = REQ(port, "POST", "/api/v1/collections", acme_w, "{\"name\":\"secret\",\"dimension\":2}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/secret/insert", acme_w, "{\"doc_id\":\"d\",\"vector\":[1,2]}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/secret/insert", acme_r, "{\"doc_id\":\"e\",\"vector\":[1,2]}");
    AKT_EQ_INT(r.status, 403);
    AKT_EQ_STR(st_err_code(&r), "forbidden");
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections", acme_r, "{\"name\":\"x\",\"dimension\":2}");
    AKT_EQ_INT(r.status, 403);
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/collections/secret", acme_r, NULL);
    AKT_EQ_INT(r.status, 403);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/secret/query", acme_r, "{\"query_vector\":[1,2]}");
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "matches")), 1);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/embed", acme_r, "{\"texts\":[\"x\"]}");
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/keys", acme_w, NULL);
    AKT_EQ_INT(r.status, 403);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/tenants", acme_w, "{\"name\":\"evil\"}");
    AKT_EQ_INT(r.status, 403);
    st_resp_free(&r);

    /* another tenant sees nothing of acme's */
    r = REQ(port, "GET", "/api/v1/collections", def_w, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "collections")), 0);
    st_resp_free(&r);
    static const char *paths[][3] = {
        {"GET", "/api/v1/collections/secret", NULL},
        {"POST", "/api/v1/collections/secret/query", "{\"query_vector\":[1,2]}"},
        {"GET", "/api/v1/collections/secret/docs/d", NULL},
        {"DELETE", "/api/v1/collections/secret/docs/d", NULL},
        {"DELETE", "/api/v1/collections/secret", NULL},
        {"POST", "/api/v1/collections/secret/insert", "{\"doc_id\":\"z\",\"vector\":[1,2]}"},
        {"POST", "/api/v1/collections/secret/scroll", "{}"},
        {"GET", "/api/v1/collections/..%2Facme%2Fsecret", NULL},
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        r = REQ(port, paths[i][0], paths[i][1], def_w, paths[i][2]);
        if (r.status != 404 && r.status != 400)
            fprintf(stderr, "  %s %s -> %ld %s\n", paths[i][0], paths[i][1], r.status, r.body);
        AKT_TRUE(r.status == 404 || r.status == 400);
        st_resp_free(&r);
    }
    /* same name in the other tenant is a different collection */
    r = REQ(port, "POST", "/api/v1/collections", def_w, "{\"name\":\"secret\",\"dimension\":3}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections/secret", acme_r, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 2);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 1);
    st_resp_free(&r);

    /* key listing and revocation */
    r = REQ(port, "GET", "/api/v1/keys?tenant=acme", admin, NULL);
    AKT_EQ_INT(r.status, 200);
    json_t *keys = json_object_get(r.json, "keys");
    AKT_EQ_INT(json_array_size(keys), 3);
    char rid[64] = "";
    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *k = json_array_get(keys, i);
        AKT_TRUE(json_object_get(k, "key") == NULL);
        AKT_TRUE(json_object_get(k, "sha256") == NULL);
        if (strcmp(json_string_value(json_object_get(k, "role")), "reader") == 0)
            snprintf(rid, sizeof rid, "%s", json_string_value(json_object_get(k, "id")));
    }
    st_resp_free(&r);
    AKT_TRUE(rid[0] != 0);
    snprintf(path, sizeof path, "/api/v1/keys/%s", rid);
    r = REQ(port, "DELETE", path, admin, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = REQ(port, "DELETE", path, admin, NULL);
    AKT_EQ_INT(r.status, 404);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections", acme_r, NULL);
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/keys/admin-env", admin, NULL);
    AKT_EQ_INT(r.status, 403);
    st_resp_free(&r);
    /* an admin of acme manages keys but its data stays acme's */
    r = REQ(port, "GET", "/api/v1/collections/secret", acme_a, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 2);
    st_resp_free(&r);
    /* X-API-Key header works too (raw request through curl) */
    {
        CURL *cu = curl_easy_init();
        char url[256], hdr[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/collections", port);
        snprintf(hdr, sizeof hdr, "X-API-Key: %s", acme_w);
        struct curl_slist *h = curl_slist_append(NULL, hdr);
        st_resp rr;
        memset(&rr, 0, sizeof rr);
        curl_easy_setopt(cu, CURLOPT_URL, url);
        curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, st_write_cb);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, &rr);
        curl_easy_perform(cu);
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &rr.status);
        AKT_EQ_INT(rr.status, 200);
        curl_slist_free_all(h);
        curl_easy_cleanup(cu);
        free(rr.body);
    }
    /* deleting the tenant drops its keys */
    r = REQ(port, "DELETE", "/api/v1/tenants/acme", admin, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "keys_deleted")), 2);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/collections", acme_w, NULL);
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);
    r = REQ(port, "DELETE", "/api/v1/tenants/default", admin, NULL);
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));

    /* restart: stored keys still work, the env key only while set */
    c.admin_key = NULL;
    c.auth = 1;
    s = start(&c);
    AKT_TRUE(s != NULL);
    AKT_TRUE(ak_server_generated_key(s) != NULL);   /* no stored admin key yet */
    char *gen = strdup(ak_server_generated_key(s));
    port = ak_server_port(s);
    r = REQ(port, "GET", "/api/v1/collections", def_w, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/keys", admin, NULL);
    AKT_EQ_INT(r.status, 401);
    st_resp_free(&r);
    r = REQ(port, "GET", "/api/v1/keys", gen, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    s = start(&c);
    AKT_TRUE(s != NULL);
    AKT_TRUE(ak_server_generated_key(s) == NULL);   /* generated only once */
    r = REQ(ak_server_port(s), "GET", "/api/v1/keys", gen, NULL);
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    free(gen);
    free(acme_w);
    free(acme_r);
    free(def_w);
    free(acme_a);
    st_rmtree(data);
}

AKT_TEST(config_checks)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    ak_server *s = NULL;
    c.host = "0.0.0.0";
    c.auth = 0;
    AKT_STATUS(ak_server_start(&c, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "auth");
    c.host = "127.0.0.1";
    c.admin_key = "ak_0123456789abcdef";
    AKT_STATUS(ak_server_start(&c, &s), AKIDB_EINVAL);
    c.auth = 1;
    c.admin_key = "short";
    AKT_STATUS(ak_server_start(&c, &s), AKIDB_EINVAL);
    c.admin_key = NULL;
    c.auth = 0;
    ak_model_spec bad = {"x", "/nonexistent/model"};
    c.models = &bad;
    c.n_models = 1;
    AKT_TRUE(ak_server_start(&c, &s) != AKIDB_OK);
    AKT_CONTAINS(akidb_last_error(), "/nonexistent/model");
    /* auto on a non-loopback address turns auth on */
    base_cfg(&c, data);
    c.host = "0.0.0.0";
    c.auth = -1;
    s = start(&c);
    AKT_TRUE(s != NULL);
    AKT_TRUE(ak_server_auth_on(s));
    AKT_TRUE(ak_server_generated_key(s) != NULL);
    AKT_OK(ak_server_stop(s));
    /* models found under <data>/models */
    base_cfg(&c, data);
    char md[1024];
    snprintf(md, sizeof md, "%s/models", data);
    mkdir(md, 0755);
    snprintf(md, sizeof md, "%s/models/pulled", data);
    AKT_EQ_INT(st_stage_model(md, 0), 0);
    c.n_models = 0;
    c.scan_models_dir = 1;
    s = start(&c);
    AKT_TRUE(s != NULL);
    st_resp r = REQ(ak_server_port(s), "GET", "/v1/models", NULL, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "id")), "pulled");
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* ---- restart keeps data ---------------------------------------------------------- */

AKT_TEST(restart_keeps_data)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    c.sync_none = 0;
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    st_resp r = REQ(port, "POST", "/api/v1/collections", NULL, "{\"name\":\"keep\",\"model\":\"tiny\"}");
    AKT_EQ_INT(r.status, 201);
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/keep/points", NULL,
            "{\"points\":[{\"id\":\"a\",\"text\":\"persist me\",\"payload\":{\"v\":1}},{\"id\":\"b\",\"text\":\"me too\"}]}");
    AKT_EQ_INT(r.status, 200);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    s = start(&c);
    AKT_TRUE(s != NULL);
    port = ak_server_port(s);
    r = REQ(port, "GET", "/api/v1/collections/keep", NULL, NULL);
    AKT_EQ_INT(r.status, 200);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 2);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "tiny");
    st_resp_free(&r);
    r = REQ(port, "POST", "/api/v1/collections/keep/search", NULL, "{\"text\":\"persist me\",\"top_k\":1}");
    AKT_EQ_INT(r.status, 200);
    json_t *h0 = json_array_get(json_object_get(r.json, "hits"), 0);
    AKT_EQ_STR(json_string_value(json_object_get(h0, "id")), "a");
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(h0, "payload"), "v")), 1);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* ---- concurrency and batching ------------------------------------------------------ */

typedef struct cl_arg {
    int port;
    int id;
    int iters;
    int failures;
    const float *want;   /* embedding of "concurrent text N" for N = 0..7 */
} cl_arg;

static void *client_main(void *p)
{
    cl_arg *a = p;
    for (int i = 0; i < a->iters; i++) {
        int t = (a->id + i) % 8;
        char body[256];
        snprintf(body, sizeof body, "{\"texts\":[\"concurrent text %d\",\"concurrent text %d\"]}",
                 t, (t + 1) % 8);
        st_resp r = REQ(a->port, "POST", "/api/v1/embed", NULL, body);
        json_t *emb = json_object_get(r.json, "embeddings");
        if (r.status != 200 || json_array_size(emb) != 2 ||
            max_diff_row(json_array_get(emb, 0), a->want + t * 32, 32) > 1e-5 ||
            max_diff_row(json_array_get(emb, 1), a->want + ((t + 1) % 8) * 32, 32) > 1e-5)
            a->failures++;
        st_resp_free(&r);
        if (i % 3 == 0) {
            r = REQ(a->port, "GET", "/health", NULL, NULL);
            if (r.status != 200)
                a->failures++;
            st_resp_free(&r);
        }
    }
    return NULL;
}

AKT_TEST(concurrent_clients)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    c.max_batch_tokens = 64;   /* small budget: batches split and merge */
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    int port = ak_server_port(s);
    const char *texts[8];
    char tb[8][64];
    for (int i = 0; i < 8; i++) {
        snprintf(tb[i], sizeof tb[i], "concurrent text %d", i);
        texts[i] = tb[i];
    }
    float *want = direct_embed(g_m1, texts, 8, AKIDB_POOL_DEFAULT, -1);
    AKT_TRUE(want != NULL);
    int nthreads = st_quick() ? 4 : 12, iters = st_quick() ? 5 : 40;
    pthread_t th[12];
    cl_arg args[12];
    for (int i = 0; i < nthreads; i++) {
        args[i] = (cl_arg){port, i, iters, 0, want};
        pthread_create(&th[i], NULL, client_main, &args[i]);
    }
    int fails = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        fails += args[i].failures;
    }
    AKT_EQ_INT(fails, 0);
    st_resp r = REQ(port, "GET", "/metrics", NULL, NULL);
    const char *p = strstr(r.body, "akidb_embed_texts_total{model=\"tiny\"} ");
    AKT_TRUE(p != NULL);
    long texts_total = atol(p + strlen("akidb_embed_texts_total{model=\"tiny\"} "));
    p = strstr(r.body, "akidb_embed_batches_total{model=\"tiny\"} ");
    AKT_TRUE(p != NULL);
    long batches = atol(p + strlen("akidb_embed_batches_total{model=\"tiny\"} "));
    AKT_EQ_INT(texts_total, 2L * nthreads * iters);
    AKT_LE_INT(batches, texts_total);
    fprintf(stderr, "  %ld texts in %ld batches\n", texts_total, batches);
    st_resp_free(&r);
    free(want);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* Stop while clients are busy: in-flight requests finish, nothing crashes. */
typedef struct busy_arg {
    int port;
    volatile int stop;
    int ok, refused, bad;
} busy_arg;

static void *busy_main(void *p)
{
    busy_arg *a = p;
    while (!a->stop) {
        st_resp r = REQ(a->port, "POST", "/api/v1/embed", NULL,
                        "{\"texts\":[\"draining while busy\",\"another text to embed here\"]}");
        if (r.status == 200)
            a->ok++;
        else if (r.status == 0 || r.status == 503)
            a->refused++;
        else
            a->bad++;
        st_resp_free(&r);
    }
    return NULL;
}

AKT_TEST(drain_on_stop)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    busy_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].port = ak_server_port(s);
        pthread_create(&th[i], NULL, busy_main, &a[i]);
    }
    usleep(300000);
    AKT_OK(ak_server_stop(s));
    for (int i = 0; i < 4; i++)
        a[i].stop = 1;
    int ok = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
        bad += a[i].bad;
    }
    AKT_TRUE(ok > 0);
    AKT_EQ_INT(bad, 0);
    st_rmtree(data);
}

/* The dispatcher directly: odd paths and methods never crash. */
AKT_TEST(dispatch_direct)
{
    char *data = st_tmpdir("srv");
    ak_server_config c;
    base_cfg(&c, data);
    c.listen = 0;
    c.n_models = 0;
    ak_server *s = start(&c);
    AKT_TRUE(s != NULL);
    static const char *paths[] = {
        "", "/", "//", "/api", "/api/v1", "/api/v1/", "/api/v1/collections/%", "/api/v1/collections/%0",
        "/api/v1/collections/%00x", "/api/v1/collections/a/b/c/d/e/f/g/h/i", "/v1/embeddings",
        "/api/v1/embed", "/api/v1/keys/x/y", "/metrics", "/api/v1/collections/x/points/get",
    };
    static const char *methods[] = {"GET", "POST", "DELETE", "PATCH", "FOO"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            ak_http_req rq = {methods[m], paths[i], "include=a%2", NULL, NULL, "{\"texts\":[\"a\"]}", 15};
            ak_http_resp rs;
            ak_server_dispatch(s, &rq, &rs);
            AKT_TRUE(rs.status >= 200 && rs.status < 600);
            AKT_TRUE(rs.body != NULL);
            ak_http_resp_clear(&rs);
        }
    ak_http_req rq = {"POST", "/api/v1/embed", NULL, NULL, NULL, "{\"texts\":[\"a\"]}", 15};
    ak_http_resp rs;
    ak_server_dispatch(s, &rq, &rs);
    AKT_EQ_INT(rs.status, 404);   /* no model loaded */
    AKT_CONTAINS(rs.body, "model_not_found");
    ak_http_resp_clear(&rs);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

AKT_MAIN(AKT_REG(health_ready_metrics), AKT_REG(embed_route), AKT_REG(embed_errors),
         AKT_REG(openai_routes), AKT_REG(compat_collections), AKT_REG(text_native),
         AKT_REG(auth_matrix), AKT_REG(config_checks), AKT_REG(restart_keeps_data),
         AKT_REG(concurrent_clients), AKT_REG(drain_on_stop), AKT_REG(dispatch_direct))
