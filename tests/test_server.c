/*
 * test_server.c - end-to-end tests of the REST server's routes: a server
 * started in-process (tests/server/srvrun.h) driven over real HTTP by
 * libcurl.  Covers the operational routes, embeddings (akidb's and
 * OpenAI's) with their error answers (malformed JSON and UTF-8, wrong
 * dimension, unknown collection and model, body limit, too many texts,
 * overlong text), both collection shapes and a restart that keeps data and
 * keys.  Embeddings are checked against akidb_embed on the same model.  Auth,
 * configuration checks and concurrency are test_server_access.c's.
 * AKIDB_TEST_QUICK=1 shrinks the loops.
 */
#include "common/cpu.h"
#include "server/srvrun.h"

/* ---- operational routes ------------------------------------------------------ */

AKT_TEST(health_ready_metrics)
{
    srv f;
    AKT_TRUE(srv_up(&f));
    AKT_TRUE(f.port > 0);
    st_resp r;
    EXPECT_RESP(&r, f.port, "GET", "/health", NULL, NULL, 200, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "status")), "ok");
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "GET", "/ready", NULL, NULL, 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "models")), 2);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", NULL, "{\"texts\":[\"hello\"]}", 200, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", NULL,
                  "{\"name\":\"m\",\"dimension\":3}", 201, NULL);
    EXPECT_RESP(&r, f.port, "GET", "/metrics", NULL, NULL, 200, NULL);
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
    /* /info: the CPU table of common/cpu.h and the paths in use */
    EXPECT_RESP(&r, f.port, "GET", "/info", NULL, NULL, 200, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "version")), AKIDB_VERSION_STRING);
    json_t *cpu = json_object_get(r.json, "cpu");
    AKT_EQ_STR(json_string_value(json_object_get(cpu, "arch")), ak_cpu_get()->arch);
    AKT_TRUE(json_is_array(json_object_get(cpu, "features")));
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "kernels")),
               akidb_kernels_name(akidb_kernels_active()));
    AKT_TRUE(json_string_value(json_object_get(r.json, "index")) != NULL);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "POST", "/info", NULL, "{}", 405, NULL);
    EXPECT_STATUS(f.port, "GET", "/nope", NULL, NULL, 404, "not_found");
    EXPECT_STATUS(f.port, "DELETE", "/health", NULL, NULL, 405, NULL);
    AKT_OK(srv_close(&f));
}

/* ---- embeddings ---------------------------------------------------------------- */

AKT_TEST(embed_route)
{
    srv f;
    AKT_TRUE(srv_up(&f));
    const char *texts[] = {"The quick brown fox.", "Ünïcödé text — ok", "a"};
    float *want = direct_embed(g_m1, texts, 3, AKIDB_POOL_DEFAULT, -1);
    AKT_TRUE(want != NULL);
    st_resp r;
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL,
                "{\"texts\":[\"The quick brown fox.\",\"Ünïcödé text — ok\",\"a\"]}",
                200, NULL);
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
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL,
                "{\"texts\":\"The quick brown fox.\",\"model\":\"short\",\"pooling\":\"cls\","
                "\"normalize\":false}", 200, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "short");
    AKT_LE(max_diff_row(json_array_get(json_object_get(r.json, "embeddings"), 0), want, 32), 1e-6);
    st_resp_free(&r);
    free(want);
    /* org/name form matches the last part */
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", NULL,
                  "{\"texts\":[\"x\"],\"model\":\"sentence-transformers/tiny\"}", 200, NULL);
    /* dimensions: the first values of the model's output (truncate_dim),
     * re-normalised only with "normalize": true */
    want = direct_embed(g_m1, texts, 1, AKIDB_POOL_DEFAULT, -1);
    AKT_TRUE(want != NULL);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL,
                "{\"texts\":[\"The quick brown fox.\"],\"dimensions\":8}", 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 8);
    AKT_EQ_INT(json_array_size(json_array_get(json_object_get(r.json, "embeddings"), 0)), 8);
    AKT_LE(max_diff_row(json_array_get(json_object_get(r.json, "embeddings"), 0), want, 8), 1e-6);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL,
                "{\"texts\":[\"The quick brown fox.\"],\"dimensions\":8,\"normalize\":true}",
                200, NULL);
    double ss = 0;
    for (size_t k = 0; k < 8; k++) {
        double v = json_number_value(json_array_get(json_array_get(
            json_object_get(r.json, "embeddings"), 0), k));
        ss += v * v;
    }
    AKT_NEAR(ss, 1.0, 1e-5);
    st_resp_free(&r);
    free(want);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL,
                "{\"texts\":[\"x\"],\"dimensions\":0}", 400, "invalid_request");
    AKT_CONTAINS(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
                 "got 0");
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", NULL,
                  "{\"texts\":[\"x\"],\"dimensions\":33}", 400, "invalid_request");
    AKT_OK(srv_close(&f));
}

AKT_TEST(embed_errors)
{
    srv f;
    srv_init(&f);
    f.cfg.max_request_texts = 4;
    f.cfg.body_limit = 64 * 1024;
    AKT_TRUE(srv_start(&f));
    static const body_case cases[] = {
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
        st_resp r;
        EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL, cases[i].body, cases[i].status,
                    cases[i].code);
        AKT_TRUE(json_is_string(json_object_get(json_object_get(r.json, "error"), "message")));
        st_resp_free(&r);
    }
    /* malformed UTF-8 in the body */
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", NULL,
                  "{\"texts\":[\"a\xff\xfe\"]}", 400, "invalid_utf8");
    /* overlong (CESU-style surrogate) sequence */
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", NULL,
                  "{\"texts\":[\"\xed\xa0\x80\"]}", 400, "invalid_utf8");
    /* text over the model's limit: "short" takes 16 tokens */
    const char *longtxt = "{\"model\":\"short\",\"truncate\":false,\"texts\":[\"one two three four "
                          "five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                          "sixteen seventeen eighteen\"]}";
    st_resp r;
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL, longtxt, 400, "text_too_long");
    AKT_CONTAINS(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
                 "truncate");
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/embed", NULL,
                "{\"model\":\"short\",\"texts\":[\"one two three four five six seven eight nine ten "
                "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen\"]}",
                200, NULL);
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
    r = st_http(f.port, "POST", "/api/v1/embed", NULL, body, (long)big);
    AKT_EQ_INT(r.status, 413);
    AKT_EQ_STR(st_err_code(&r), "payload_too_large");
    st_resp_free(&r);
    free(body);
    /* the server still works afterwards */
    EXPECT_STATUS(f.port, "GET", "/v1/embeddings", NULL, NULL, 405, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", NULL, "{\"texts\":[\"still fine\"]}", 200, NULL);
    AKT_OK(srv_close(&f));
}

static int b64v(char ch)
{
    const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = strchr(t, ch);
    return p && ch ? (int)(p - t) : -1;
}

AKT_TEST(openai_routes)
{
    srv f;
    AKT_TRUE(srv_up(&f));
    const char *texts[] = {"first input", "second one"};
    float *want = direct_embed(g_m1, texts, 2, AKIDB_POOL_DEFAULT, -1);
    AKT_TRUE(want != NULL);

    st_resp r;
    EXPECT_RESP(&r, f.port, "POST", "/v1/embeddings", NULL,
                "{\"input\":[\"first input\",\"second one\"],\"model\":\"tiny\"}", 200, NULL);
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
    EXPECT_RESP(&r, f.port, "POST", "/v1/embeddings", NULL,
                "{\"input\":\"first input\",\"encoding_format\":\"base64\"}", 200, NULL);
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
        float got;
        memcpy(&got, raw + 4 * k, 4);
        AKT_EQ_INT(memcmp(&got, &want[k], 4), 0);
    }
    st_resp_free(&r);

    /* dimensions: truncation + renormalisation */
    EXPECT_RESP(&r, f.port, "POST", "/v1/embeddings", NULL,
                "{\"input\":\"first input\",\"dimensions\":8}", 200, NULL);
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
        "{\"input\":[[1,-2,3]]}", "{\"model\":\"tiny\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        EXPECT_STATUS(f.port, "POST", "/v1/embeddings", NULL, bad[i], 400, NULL);
    EXPECT_STATUS(f.port, "POST", "/v1/embeddings", NULL,
                  "{\"input\":\"x\",\"model\":\"gpt-x\"}", 404, "model_not_found");

    EXPECT_RESP(&r, f.port, "GET", "/v1/models", NULL, NULL, 200, NULL);
    d = json_object_get(r.json, "data");
    AKT_EQ_INT(json_array_size(d), 2);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(d, 0), "id")), "tiny");
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(d, 1), "id")), "short");
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(d, 1), "max_tokens")), 16);
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(d, 0), "dimension")), 32);
    st_resp_free(&r);
    free(want);
    AKT_OK(srv_close(&f));
}

/* ---- collections: compatibility shape --------------------------------------------- */

AKT_TEST(compat_collections)
{
    srv f;
    AKT_TRUE(srv_up(&f));
    st_resp r;
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections", NULL,
                "{\"name\":\"docs\",\"dimension\":3,\"metric\":\"cosine\"}", 201, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "id")), "docs");
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 3);
    st_resp_free(&r);
    static const body_case creates[] = {
        {"{\"name\":\"docs\",\"dimension\":3}", 409, NULL},
        {"{\"name\":\"bad name!\",\"dimension\":3}", 400, NULL},
        {"{\"name\":\"x\",\"dimension\":0}", 400, NULL},
        {"{\"name\":\"x\",\"metric\":\"hamming\",\"dimension\":2}", 400, NULL},
        {"{\"name\":\"x\",\"model\":\"tiny\",\"dimension\":7}", 400, "dimension_mismatch"},
    };
    EXPECT_CASES(f.port, "POST", "/api/v1/collections", NULL, creates);

    static const body_case inserts[] = {
        {"{\"doc_id\":\"a\",\"external_id\":\"ext-a\",\"vector\":[1,0,0]}", 201, NULL},
        {"{\"doc_id\":\"b\",\"vector\":[0.9,0.1,0]}", 201, NULL},
        {"{\"doc_id\":7,\"external_id\":42,\"vector\":[0,0,1]}", 201, NULL},
        {"{\"doc_id\":\"c\",\"vector\":[1,0]}", 400, "dimension_mismatch"},
        {"{\"doc_id\":\"c\",\"vector\":[1,\"x\",0]}", 400, NULL},
        {"{\"vector\":[1,0,0]}", 400, NULL},
    };
    EXPECT_CASES(f.port, "POST", "/api/v1/collections/docs/insert", NULL, inserts);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/nope/insert", NULL,
                  "{\"doc_id\":\"a\",\"vector\":[1,0,0]}", 404, "collection_not_found");

    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/docs/query", NULL,
                "{\"query_vector\":[1,0,0],\"top_k\":2}", 200, NULL);
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
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/docs/query", NULL,
                  "{\"query_vector\":[1,0],\"top_k\":2}", 400, "dimension_mismatch");
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/docs/query", NULL,
                  "{\"query_vector\":[1,0,0],\"top_k\":0}", 400, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/nope/query", NULL,
                  "{\"query_vector\":[1,0,0]}", 404, "collection_not_found");

    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections/docs/docs/7", NULL, NULL, 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "external_id")), 42);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "vector")), 3);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections/docs", NULL, NULL, 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 3);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/collections/docs/docs/7", NULL, NULL, 200, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections/docs/docs/7", NULL, NULL, 404, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/collections/docs/docs/7", NULL, NULL, 404, NULL);
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections", NULL, NULL, 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "collections")), 1);
    st_resp_free(&r);
    /* percent-encoded ids reach the store decoded */
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/docs/insert", NULL,
                  "{\"doc_id\":\"a/b c\",\"vector\":[0,1,0]}", 201, NULL);
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections/docs/docs/a%2Fb%20c", NULL, NULL, 200, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "doc_id")), "a/b c");
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections/docs/docs/bad%zz", NULL, NULL, 400, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/collections/docs", NULL, NULL, 200, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections/docs", NULL, NULL, 404, "collection_not_found");
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/collections/docs", NULL, NULL, 404, NULL);
    AKT_OK(srv_close(&f));
}

/* ---- collections: text-native shape ------------------------------------------------ */

AKT_TEST(text_native)
{
    srv f;
    AKT_TRUE(srv_up(&f));
    st_resp r;
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections", NULL,
                "{\"name\":\"notes\",\"model\":\"tiny\"}", 201, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "tiny");
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 32);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/points", NULL,
                "{\"points\":["
                "{\"id\":\"p1\",\"text\":\"cats purr on the sofa\",\"payload\":{\"kind\":\"pet\",\"n\":1}},"
                "{\"id\":\"p2\",\"text\":\"stock markets fell today\",\"payload\":{\"kind\":\"news\",\"n\":2}},"
                "{\"id\":\"p3\",\"text\":\"dogs bark at the mailman\",\"payload\":{\"kind\":\"pet\",\"n\":3}},"
                "{\"id\":\"p4\",\"vector\":[" "1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0" "]}"
                "]}", 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "upserted")), 4);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "embedded")), 3);
    st_resp_free(&r);
    /* search by text: the same text is the best hit with score ~1 */
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/search", NULL,
                "{\"text\":\"stock markets fell today\",\"top_k\":3,\"include\":[\"payload\",\"text\",\"vector\"]}",
                200, NULL);
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
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/search", NULL,
                "{\"text\":\"stock markets fell today\",\"top_k\":5,\"filter\":{\"kind\":\"pet\"},\"ef\":32}",
                200, NULL);
    hits = json_object_get(r.json, "hits");
    AKT_EQ_INT(json_array_size(hits), 2);
    for (size_t i = 0; i < 2; i++) {
        AKT_EQ_STR(json_string_value(json_object_get(json_object_get(json_array_get(hits, i), "payload"), "kind")), "pet");
        AKT_TRUE(json_object_get(json_array_get(hits, i), "vector") == NULL);
    }
    st_resp_free(&r);
    /* search by vector, include nothing */
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/search", NULL,
                "{\"vector\":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0],\"top_k\":1,\"include\":[],\"exact\":true}",
                200, NULL);
    h0 = json_array_get(json_object_get(r.json, "hits"), 0);
    AKT_EQ_STR(json_string_value(json_object_get(h0, "id")), "p4");
    AKT_TRUE(json_object_get(h0, "payload") == NULL);
    st_resp_free(&r);
    static const body_case bad[] = {
        {"{\"top_k\":3}", 400, "invalid_request"},
        {"{\"text\":\"a\",\"vector\":[1]}", 400, "invalid_request"},
        {"{\"vector\":[1,2]}", 400, "dimension_mismatch"},
        {"{\"text\":\"a\",\"filter\":{\"n\":{\"between\":[1,2]}}}", 400, "invalid_filter"},
        {"{\"text\":\"a\",\"filter\":[1]}", 400, "invalid_filter"},
        {"{\"text\":\"a\",\"include\":[\"everything\"]}", 400, "invalid_request"},
        {"{\"text\":\"a\",\"top_k\":-1}", 400, "invalid_request"},
        {"{\"text\":7}", 400, "invalid_request"},
    };
    EXPECT_CASES(f.port, "POST", "/api/v1/collections/notes/search", NULL, bad);
    /* upsert errors */
    static const body_case ubad[] = {
        {"{\"points\":[{\"id\":\"x\"}]}", 400, "invalid_request"},
        {"{\"points\":[{\"id\":\"x\",\"vector\":[1,2]}]}", 400, "dimension_mismatch"},
        {"{\"points\":[{\"id\":\"x\",\"text\":\"t\",\"payload\":[1]}]}", 400, "invalid_request"},
        {"{\"points\":[{\"text\":\"t\"}]}", 400, "invalid_request"},
        {"{\"points\":[]}", 400, "invalid_request"},
        {"{\"points\":[{\"id\":\"x\",\"text\":\"t\",\"color\":1}]}", 400, "invalid_request"},
        {"{\"points\":[{\"id\":\"x\",\"text\":\"t\"},{\"id\":\"x\",\"text\":\"u\"}]}", 400, "invalid_request"},
    };
    EXPECT_CASES(f.port, "POST", "/api/v1/collections/notes/points", NULL, ubad);
    /* a collection without a model cannot take bare text */
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", NULL,
                  "{\"name\":\"raw\",\"dimension\":2}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/raw/points", NULL,
                  "{\"points\":[{\"id\":\"x\",\"text\":\"t\"}]}", 400, "no_model");
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/raw/search", NULL,
                  "{\"text\":\"t\"}", 400, "no_model");

    /* count, scroll, get, delete */
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections/notes/count", NULL, NULL, 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "count")), 4);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/count", NULL,
                "{\"filter\":{\"n\":{\"gte\":2}}}", 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "count")), 2);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/scroll", NULL,
                "{\"limit\":3}", 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "points")), 3);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "points"), 0), "id")), "p1");
    const char *cur = json_string_value(json_object_get(r.json, "next_cursor"));
    AKT_TRUE(cur != NULL);
    char body[512];
    snprintf(body, sizeof body, "{\"limit\":3,\"cursor\":\"%s\"}", cur);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/scroll", NULL, body, 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "points")), 1);
    AKT_TRUE(json_is_null(json_object_get(r.json, "next_cursor")));
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections/notes/points/p3?include=text,vector",
                NULL, NULL, 200, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "text")), "dogs bark at the mailman");
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "vector")), 32);
    AKT_TRUE(json_object_get(r.json, "payload") == NULL);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/points/get", NULL,
                "{\"ids\":[\"p3\",\"zz\",\"p1\"]}", 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "points")), 2);
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/notes/points/delete", NULL,
                "{\"ids\":[\"p3\",\"zz\"]}", 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "deleted")), 1);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/collections/notes/points/p1", NULL, NULL, 200, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections/notes/points/p1", NULL, NULL, 404, "point_not_found");
    r = REQ(f.port, "GET", "/api/v1/collections/notes/count", NULL, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "count")), 2);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "PUT", "/api/v1/collections/notes/search", NULL, "{}", 405, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/notes/frobnicate", NULL, "{}", 404, NULL);
    AKT_OK(srv_close(&f));
}

/* ---- restart keeps data ---------------------------------------------------------- */

AKT_TEST(restart_keeps_data)
{
    srv f;
    srv_init(&f);
    f.cfg.sync_none = 0;
    AKT_TRUE(srv_start(&f));
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", NULL,
                  "{\"name\":\"keep\",\"model\":\"tiny\"}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/keep/points", NULL,
                  "{\"points\":[{\"id\":\"a\",\"text\":\"persist me\",\"payload\":{\"v\":1}},{\"id\":\"b\",\"text\":\"me too\"}]}",
                  200, NULL);
    AKT_OK(srv_stop(&f));
    AKT_TRUE(srv_start(&f));
    st_resp r;
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections/keep", NULL, NULL, 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 2);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "model")), "tiny");
    st_resp_free(&r);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/keep/search", NULL,
                "{\"text\":\"persist me\",\"top_k\":1}", 200, NULL);
    json_t *h0 = json_array_get(json_object_get(r.json, "hits"), 0);
    AKT_EQ_STR(json_string_value(json_object_get(h0, "id")), "a");
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(h0, "payload"), "v")), 1);
    st_resp_free(&r);
    AKT_OK(srv_close(&f));
}

AKT_MAIN(AKT_REG(health_ready_metrics), AKT_REG(embed_route), AKT_REG(embed_errors),
         AKT_REG(openai_routes), AKT_REG(compat_collections), AKT_REG(text_native),
         AKT_REG(restart_keeps_data))
