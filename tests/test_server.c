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
#include "common/cpu.h"
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

/* One server under test: a new data folder, the configuration it starts
 * with and, while it runs, the server and its port. */
typedef struct srv {
    char *data;
    ak_server_config cfg;
    ak_server *s;
    int port;
} srv;

/* Makes the data folder and fills f->cfg with base_cfg; starts nothing, so
 * a test may change f->cfg before srv_start. */
static void srv_init(srv *f)
{
    memset(f, 0, sizeof *f);
    f->data = st_tmpdir("srv");
    base_cfg(&f->cfg, f->data);
}

/* Starts a server with f->cfg (none may be running) and records it and its
 * port.  Returns 1, or 0 with the reason on stderr. */
static int srv_start(srv *f)
{
    f->s = NULL;
    f->port = 0;
    if (ak_server_start(&f->cfg, &f->s) != AKIDB_OK) {
        fprintf(stderr, "ak_server_start: %s\n", akidb_last_error());
        f->s = NULL;
        return 0;
    }
    f->port = ak_server_port(f->s);
    return 1;
}

/* srv_init then srv_start: a server on the base configuration. */
static int srv_up(srv *f)
{
    srv_init(f);
    return srv_start(f);
}

/* Stops the server if one runs; the data folder stays for a restart.
 * Returns ak_server_stop's status (AKIDB_OK when none ran). */
static akidb_status srv_stop(srv *f)
{
    ak_server *s = f->s;
    f->s = NULL;
    f->port = 0;
    return s ? ak_server_stop(s) : AKIDB_OK;
}

/* srv_stop, then removes the data folder.  Returns srv_stop's status. */
static akidb_status srv_close(srv *f)
{
    akidb_status st = srv_stop(f);
    st_rmtree(f->data);
    f->data = NULL;
    return st;
}

#define REQ(port, m, p, key, body) st_http(port, m, p, key, body, -1)

/* Sends one request.  When the answer's status is not want, or want_code is
 * not NULL and differs from its error code, prints the request and the
 * answer on stderr, above the FAIL line of the check that follows. */
static st_resp req_noted(int port, const char *m, const char *p, const char *key,
                         const char *body, long want, const char *want_code)
{
    st_resp r = REQ(port, m, p, key, body);
    if (r.status != want || (want_code && strcmp(st_err_code(&r), want_code) != 0))
        fprintf(stderr, "  %s %s%s%s -> %ld %s\n", m, p, body ? " " : "", body ? body : "",
                r.status, r.body ? r.body : "");
    return r;
}

/* Sends one request into *rp and checks its status is want and, unless
 * want_code is NULL, that its error code is want_code; the caller may check
 * more and frees *rp.  A failed check reports the line of the call. */
#define EXPECT_RESP(rp, port, m, p, key, body, want, want_code)               \
    do {                                                                      \
        st_resp *got_ = (rp);                                                 \
        const char *wc_ = (want_code);                                        \
        *got_ = req_noted(port, m, p, key, body, want, wc_);                  \
        AKT_EQ_INT(got_->status, want);                                       \
        if (wc_)                                                              \
            AKT_EQ_STR(st_err_code(got_), wc_);                               \
    } while (0)

/* EXPECT_RESP for a request whose answer needs no other check. */
#define EXPECT_STATUS(port, m, p, key, body, want, want_code)                 \
    do {                                                                      \
        st_resp er_;                                                          \
        EXPECT_RESP(&er_, port, m, p, key, body, want, want_code);            \
        st_resp_free(&er_);                                                   \
    } while (0)

/* A request body for one route and the answer it must get. */
typedef struct body_case {
    const char *body;
    long status;
    const char *code;   /* the error code, or NULL for any */
} body_case;

/* EXPECT_STATUS for each case of the array cases, in order. */
#define EXPECT_CASES(port, m, p, key, cases)                                  \
    do {                                                                      \
        for (size_t ci_ = 0; ci_ < sizeof(cases) / sizeof *(cases); ci_++)    \
            EXPECT_STATUS(port, m, p, key, (cases)[ci_].body,                 \
                          (cases)[ci_].status, (cases)[ci_].code);            \
    } while (0)

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
    srv f;
    srv_init(&f);
    f.cfg.auth = -1;
    f.cfg.admin_key = "ak_test_admin_key_0123456789";
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_auth_on(f.s));
    AKT_TRUE(ak_server_generated_key(f.s) == NULL);
    const char *admin = f.cfg.admin_key;

    /* public routes */
    EXPECT_STATUS(f.port, "GET", "/health", NULL, NULL, 200, NULL);
    /* no key / wrong key / malformed header */
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", NULL, NULL, 401, "unauthorized");
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", "ak_wrong", NULL, 401, NULL);
    EXPECT_STATUS(f.port, "POST", "/v1/embeddings", NULL, "{\"input\":\"x\"}", 401, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", "ak_test_admin_key_012345678", NULL, 401, NULL);

    /* tenants and keys */
    EXPECT_STATUS(f.port, "POST", "/api/v1/tenants", admin, "{\"name\":\"acme\"}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/tenants", admin, "{\"name\":\"acme\"}", 409, NULL);
    st_resp r;
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/tenants", admin, NULL, 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "tenants")), 2);
    st_resp_free(&r);
    char *acme_w = make_key(f.port, admin, "acme", "writer");
    char *acme_r = make_key(f.port, admin, "acme", "reader");
    char *def_w = make_key(f.port, admin, "default", "writer");
    char *acme_a = make_key(f.port, admin, "acme", "admin");
    AKT_TRUE(acme_w && acme_r && def_w && acme_a);
    AKT_EQ_INT(strncmp(acme_w, "ak_", 3), 0);
    AKT_TRUE(strlen(acme_w) >= 40);
    EXPECT_STATUS(f.port, "POST", "/api/v1/keys", admin,
                  "{\"tenant\":\"ghost\",\"role\":\"reader\"}", 404, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/keys", admin, "{\"role\":\"owner\"}", 400, NULL);
    /* the key file holds hashes, never the keys */
    char path[1024];
    snprintf(path, sizeof path, "%s/auth.json", f.data);
    FILE *kf = fopen(path, "rb");
    AKT_TRUE(kf != NULL);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, kf);
    buf[n] = '\0';
    fclose(kf);
    AKT_TRUE(strstr(buf, acme_w + 3) == NULL);
    AKT_TRUE(strstr(buf, admin) == NULL);
    AKT_CONTAINS(buf, "sha256");

    /* writer creates and fills; reader reads but cannot write */
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", acme_w,
                  "{\"name\":\"secret\",\"dimension\":2}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/secret/insert", acme_w,
                  "{\"doc_id\":\"d\",\"vector\":[1,2]}", 201, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections/secret/insert", acme_r,
                  "{\"doc_id\":\"e\",\"vector\":[1,2]}", 403, "forbidden");
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", acme_r,
                  "{\"name\":\"x\",\"dimension\":2}", 403, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/collections/secret", acme_r, NULL, 403, NULL);
    EXPECT_RESP(&r, f.port, "POST", "/api/v1/collections/secret/query", acme_r,
                "{\"query_vector\":[1,2]}", 200, NULL);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "matches")), 1);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "POST", "/api/v1/embed", acme_r, "{\"texts\":[\"x\"]}", 200, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", acme_w, NULL, 403, NULL);
    EXPECT_STATUS(f.port, "POST", "/api/v1/tenants", acme_w, "{\"name\":\"evil\"}", 403, NULL);

    /* another tenant sees nothing of acme's */
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/collections", def_w, NULL, 200, NULL);
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
        r = REQ(f.port, paths[i][0], paths[i][1], def_w, paths[i][2]);
        if (r.status != 404 && r.status != 400)
            fprintf(stderr, "  %s %s -> %ld %s\n", paths[i][0], paths[i][1], r.status, r.body);
        AKT_TRUE(r.status == 404 || r.status == 400);
        st_resp_free(&r);
    }
    /* same name in the other tenant is a different collection */
    EXPECT_STATUS(f.port, "POST", "/api/v1/collections", def_w,
                  "{\"name\":\"secret\",\"dimension\":3}", 201, NULL);
    r = REQ(f.port, "GET", "/api/v1/collections/secret", acme_r, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 2);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "points")), 1);
    st_resp_free(&r);

    /* key listing and revocation */
    EXPECT_RESP(&r, f.port, "GET", "/api/v1/keys?tenant=acme", admin, NULL, 200, NULL);
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
    EXPECT_STATUS(f.port, "DELETE", path, admin, NULL, 200, NULL);
    EXPECT_STATUS(f.port, "DELETE", path, admin, NULL, 404, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", acme_r, NULL, 401, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/keys/admin-env", admin, NULL, 403, NULL);
    /* an admin of acme manages keys but its data stays acme's */
    r = REQ(f.port, "GET", "/api/v1/collections/secret", acme_a, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "dimension")), 2);
    st_resp_free(&r);
    /* X-API-Key header works too (raw request through curl) */
    {
        CURL *cu = curl_easy_init();
        char url[256], hdr[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/collections", f.port);
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
    EXPECT_RESP(&r, f.port, "DELETE", "/api/v1/tenants/acme", admin, NULL, 200, NULL);
    AKT_EQ_INT(json_integer_value(json_object_get(r.json, "keys_deleted")), 2);
    st_resp_free(&r);
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", acme_w, NULL, 401, NULL);
    EXPECT_STATUS(f.port, "DELETE", "/api/v1/tenants/default", admin, NULL, 400, NULL);
    AKT_OK(srv_stop(&f));

    /* restart: stored keys still work, the env key only while set */
    f.cfg.admin_key = NULL;
    f.cfg.auth = 1;
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_generated_key(f.s) != NULL);   /* no stored admin key yet */
    char *gen = strdup(ak_server_generated_key(f.s));
    EXPECT_STATUS(f.port, "GET", "/api/v1/collections", def_w, NULL, 200, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", admin, NULL, 401, NULL);
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", gen, NULL, 200, NULL);
    AKT_OK(srv_stop(&f));
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_generated_key(f.s) == NULL);   /* generated only once */
    EXPECT_STATUS(f.port, "GET", "/api/v1/keys", gen, NULL, 200, NULL);
    AKT_OK(srv_close(&f));
    free(gen);
    free(acme_w);
    free(acme_r);
    free(def_w);
    free(acme_a);
}

AKT_TEST(config_checks)
{
    srv f;
    srv_init(&f);
    ak_server *s = NULL;
    f.cfg.host = "0.0.0.0";
    f.cfg.auth = 0;
    AKT_STATUS(ak_server_start(&f.cfg, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "auth");
    f.cfg.host = "127.0.0.1";
    f.cfg.admin_key = "ak_0123456789abcdef";
    AKT_STATUS(ak_server_start(&f.cfg, &s), AKIDB_EINVAL);
    f.cfg.auth = 1;
    f.cfg.admin_key = "short";
    AKT_STATUS(ak_server_start(&f.cfg, &s), AKIDB_EINVAL);
    f.cfg.admin_key = NULL;
    f.cfg.auth = 0;
    ak_model_spec bad = {"x", "/nonexistent/model"};
    f.cfg.models = &bad;
    f.cfg.n_models = 1;
    AKT_TRUE(ak_server_start(&f.cfg, &s) != AKIDB_OK);
    AKT_CONTAINS(akidb_last_error(), "/nonexistent/model");
    /* auto on a non-loopback address turns auth on */
    base_cfg(&f.cfg, f.data);
    f.cfg.host = "0.0.0.0";
    f.cfg.auth = -1;
    AKT_TRUE(srv_start(&f));
    AKT_TRUE(ak_server_auth_on(f.s));
    AKT_TRUE(ak_server_generated_key(f.s) != NULL);
    AKT_OK(srv_stop(&f));
    /* models found under <data>/models */
    base_cfg(&f.cfg, f.data);
    char md[1024];
    snprintf(md, sizeof md, "%s/models", f.data);
    mkdir(md, 0755);
    snprintf(md, sizeof md, "%s/models/pulled", f.data);
    AKT_EQ_INT(st_stage_model(md, 0), 0);
    f.cfg.n_models = 0;
    f.cfg.scan_models_dir = 1;
    AKT_TRUE(srv_start(&f));
    st_resp r = REQ(f.port, "GET", "/v1/models", NULL, NULL);
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "id")), "pulled");
    st_resp_free(&r);
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
    srv f;
    srv_init(&f);
    f.cfg.max_batch_tokens = 64;   /* small budget: batches split and merge */
    AKT_TRUE(srv_start(&f));
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
        args[i] = (cl_arg){f.port, i, iters, 0, want};
        pthread_create(&th[i], NULL, client_main, &args[i]);
    }
    int fails = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(th[i], NULL);
        fails += args[i].failures;
    }
    AKT_EQ_INT(fails, 0);
    st_resp r = REQ(f.port, "GET", "/metrics", NULL, NULL);
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
    AKT_OK(srv_close(&f));
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
    srv f;
    AKT_TRUE(srv_up(&f));
    busy_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].port = f.port;
        pthread_create(&th[i], NULL, busy_main, &a[i]);
    }
    usleep(300000);
    AKT_OK(srv_stop(&f));
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
    srv_close(&f);   /* stopped above: only removes the data folder */
}

/* The dispatcher directly: odd paths and methods never crash. */
AKT_TEST(dispatch_direct)
{
    srv f;
    srv_init(&f);
    f.cfg.listen = 0;
    f.cfg.n_models = 0;
    AKT_TRUE(srv_start(&f));
    static const char *paths[] = {
        "", "/", "//", "/api", "/api/v1", "/api/v1/", "/api/v1/collections/%", "/api/v1/collections/%0",
        "/api/v1/collections/%00x", "/api/v1/collections/a/b/c/d/e/f/g/h/i", "/v1/embeddings",
        "/api/v1/embed", "/api/v1/keys/x/y", "/metrics", "/api/v1/collections/x/points/get",
    };
    static const char *methods[] = {"GET", "POST", "DELETE", "PATCH", "FOO"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
            ak_http_req rq = {methods[m], paths[i], "include=a%2", NULL, NULL, "{\"texts\":[\"a\"]}", 15, NULL};
            ak_http_resp rs;
            ak_server_dispatch(f.s, &rq, &rs);
            AKT_TRUE(rs.status >= 200 && rs.status < 600);
            AKT_TRUE(rs.body != NULL);
            ak_http_resp_clear(&rs);
        }
    ak_http_req rq = {"POST", "/api/v1/embed", NULL, NULL, NULL, "{\"texts\":[\"a\"]}", 15, NULL};
    ak_http_resp rs;
    ak_server_dispatch(f.s, &rq, &rs);
    AKT_EQ_INT(rs.status, 404);   /* no model loaded */
    AKT_CONTAINS(rs.body, "model_not_found");
    ak_http_resp_clear(&rs);
    AKT_OK(srv_close(&f));
}

AKT_MAIN(AKT_REG(health_ready_metrics), AKT_REG(embed_route), AKT_REG(embed_errors),
         AKT_REG(openai_routes), AKT_REG(compat_collections), AKT_REG(text_native),
         AKT_REG(auth_matrix), AKT_REG(config_checks), AKT_REG(restart_keeps_data),
         AKT_REG(concurrent_clients), AKT_REG(drain_on_stop), AKT_REG(dispatch_direct))
