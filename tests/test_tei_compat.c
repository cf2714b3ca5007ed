/*
 * test_tei_compat.c - the OpenAI embeddings details and the robustness of
 * the TEI / OpenAI routes over real HTTP against a server started
 * in-process (tests/server/teirun.h), answers compared with the library's
 * values on the same models:
 *
 *   openai      /v1/embeddings: base64 decoded back to the floats,
 *               dimensions, token-array inputs, their errors
 *   garbage     malformed bodies on every route: an answer in the family's
 *               shape, never a crash
 *   auth        with keys on: 401 in TEI's shape, a key serves
 *   clients     the npm clients `openai` and `@huggingface/inference`
 *               (tests/ref/tei_openai_client.mjs) against `akidb serve`;
 *               skipped, saying why, when node or the packages are missing
 */
#include "server/teirun.h"

/* ---- OpenAI: base64, dimensions, token arrays --------------------------------------------- */

/* Decodes standard base64 s into floats (little-endian float32); returns
 * how many, or -1 for a malformed string. */
static long b64_floats(const char *s, float *out, size_t cap)
{
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), w = 0;
    if (n % 4)
        return -1;
    unsigned char *raw = malloc(n / 4 * 3 + 3);
    for (size_t i = 0; i < n; i += 4) {
        uint32_t x = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *p = s[i + k] == '=' ? NULL : strchr(al, s[i + k]);
            if (!p && s[i + k] != '=') {
                free(raw);
                return -1;
            }
            pad += !p;
            x = x << 6 | (uint32_t)(p ? p - al : 0);
        }
        raw[w++] = (unsigned char)(x >> 16);
        if (pad < 2)
            raw[w++] = (unsigned char)(x >> 8);
        if (pad < 1)
            raw[w++] = (unsigned char)x;
    }
    if (w % 4 || w / 4 > cap) {
        free(raw);
        return -1;
    }
    for (size_t k = 0; k < w / 4; k++) {
        uint32_t u = (uint32_t)raw[4 * k] | (uint32_t)raw[4 * k + 1] << 8 |
                     (uint32_t)raw[4 * k + 2] << 16 | (uint32_t)raw[4 * k + 3] << 24;
        memcpy(&out[k], &u, 4);
    }
    free(raw);
    return (long)(w / 4);
}

/* data[i].embedding of an OpenAI answer equals want (base64 or floats). */
static void oai_row(json_t *ans, size_t i, const float *want, size_t n, int base64)
{
    json_t *e = json_object_get(json_array_get(json_object_get(ans, "data"), i), "embedding");
    if (!base64) {
        json_t *rows = json_pack("[O]", e);
        row_is(rows, 0, want, n);
        json_decref(rows);
        return;
    }
    AKT_TRUE(json_is_string(e));
    float got[DIM];
    AKT_EQ_INT(b64_floats(json_string_value(e), got, DIM), n);
    for (size_t k = 0; k < n; k++)
        AKT_EQ_INT(memcmp(&got[k], &want[k], 4) == 0 || fabsf(got[k] - want[k]) <= 1e-7f, 1);
}

AKT_TEST(openai)
{
    up();
    float a[DIM], b[DIM];
    embed_one(M_TINY, "hello world", -1, a);
    embed_one(M_TINY, "a second text", -1, b);
    st_resp r = post("/v1/embeddings", "{\"model\": \"tiny\", \"input\": [\"hello world\", "
                                       "\"a second text\"], \"encoding_format\": \"base64\"}");
    ok200(&r);
    oai_row(r.json, 0, a, DIM, 1);
    oai_row(r.json, 1, b, DIM, 1);
    st_resp_free(&r);

    float cut[8];
    double s8 = 0;
    for (int k = 0; k < 8; k++)
        s8 += (double)a[k] * a[k];
    for (int k = 0; k < 8; k++)
        cut[k] = (float)(a[k] / sqrt(s8));
    r = post("/v1/embeddings", "{\"input\": \"hello world\", \"dimensions\": 8, "
                               "\"encoding_format\": \"base64\"}");
    ok200(&r);
    json_t *e = json_object_get(json_array_get(json_object_get(r.json, "data"), 0), "embedding");
    float got[DIM];
    AKT_EQ_INT(b64_floats(json_string_value(e), got, DIM), 8);
    for (int k = 0; k < 8; k++)
        AKT_NEAR(got[k], cut[k], 1e-6);
    st_resp_free(&r);

    /* token arrays */
    akidb_tokens t1 = {0}, t2 = {0};
    ids_of(M_TINY, "hello world", &t1);
    ids_of(M_TINY, "a second text", &t2);
    char i1[256], i2[256], body[1024];
    ids_json(t1.ids, t1.n, i1, sizeof i1);
    ids_json(t2.ids, t2.n, i2, sizeof i2);
    snprintf(body, sizeof body, "{\"input\": %s}", i1);
    r = post("/v1/embeddings", body);
    ok200(&r);
    AKT_EQ_INT(json_array_size(json_object_get(r.json, "data")), 1);
    oai_row(r.json, 0, a, DIM, 0);
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "usage"),
                                                  "prompt_tokens")), t1.n);
    st_resp_free(&r);
    snprintf(body, sizeof body, "{\"input\": [%s, %s], \"encoding_format\": \"base64\"}", i1, i2);
    r = post("/v1/embeddings", body);
    ok200(&r);
    oai_row(r.json, 0, a, DIM, 1);
    oai_row(r.json, 1, b, DIM, 1);
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(r.json, "usage"),
                                                  "total_tokens")), t1.n + t2.n);
    st_resp_free(&r);
    snprintf(body, sizeof body, "{\"input\": [\"hello world\", %s]}", i2);
    r = post("/v1/embeddings", body);
    ok200(&r);
    oai_row(r.json, 0, a, DIM, 0);
    oai_row(r.json, 1, b, DIM, 0);
    st_resp_free(&r);

    r = post("/v1/embeddings", "{\"input\": [[101, -1, 102]]}");
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "invalid_request");
    st_resp_free(&r);
    r = post("/v1/embeddings", "{\"input\": [[]]}");
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "empty");
    st_resp_free(&r);
    r = post("/v1/embeddings", "{\"input\": [[101, 999999, 102]]}");
    AKT_EQ_INT(r.status, 400);
    AKT_CONTAINS(r.body, "999999");
    st_resp_free(&r);
    akidb_tokens full = {0};
    ids_of(M_SHORT, long_text, &full);
    snprintf(body, sizeof body, "{\"model\": \"short\", \"input\": [%s]}",
             ids_json(full.ids, full.n, i1, sizeof i1));
    r = post("/v1/embeddings", body);
    AKT_EQ_INT(r.status, 400);
    AKT_EQ_STR(st_err_code(&r), "text_too_long");
    st_resp_free(&r);
    r = post("/v1/embeddings", "{\"input\": [{\"a\": 1}]}");
    AKT_EQ_INT(r.status, 400);
    st_resp_free(&r);
    akidb_tokens_free(&full);
    akidb_tokens_free(&t1);
    akidb_tokens_free(&t2);
}

/* ---- bad bodies on every route: TEI's error shape, never a crash --------------------------- */

AKT_TEST(garbage)
{
    up();
    static const char *const routes[] = {"/embed",    "/embed_all", "/similarity", "/rerank",
                                         "/tokenize", "/decode",    "/v1/embeddings"};
    static const char *const bodies[] = {
        "{}", "[]", "null", "{\"inputs\":null}", "{\"inputs\":{}}", "{\"inputs\":[null]}",
        "{\"inputs\":[[1,\"a\"]]}", "{\"inputs\":[1.5]}", "{\"inputs\":[[4294967296]]}",
        "{\"inputs\":[\"a\",[]]}", "{\"inputs\":\"a\",\"dimensions\":-1}",
        "{\"inputs\":\"a\",\"prompt_name\":5}", "{\"inputs\":\"a\",\"truncation_direction\":1}",
        "{\"ids\":[[1],[\"x\"]]}", "{\"ids\":{}}", "{\"ids\":[[]]}", "{\"ids\":[1,[2]]}",
        "{\"query\":1,\"texts\":\"a\"}", "{\"query\":\"q\",\"texts\":[1]}",
        "{\"query\":\"q\",\"texts\":[\"a\"],\"raw_scores\":3}",
        "{\"inputs\":{\"source_sentence\":[],\"sentences\":{}}}",
        "{\"parameters\":5,\"inputs\":{\"source_sentence\":\"a\",\"sentences\":[\"b\"]}}",
        "{\"input\":[[1,2],[]]}", "{\"input\":[true]}", "{\"input\":[[30521,0]]}",
        "{\"input\":\"\",\"inputs\":\"\"}", "{\"inputs\":\"\\u00e9\\ud83d\\ude00\"}",
    };
    size_t answered = 0;
    for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
        for (size_t k = 0; k < sizeof bodies / sizeof *bodies; k++) {
            st_resp r = post(routes[i], bodies[k]);
            if (!r.json || r.status < 200 || r.status > 599)
                AKT_FAIL_("%s %s: status %ld, body %s", routes[i], bodies[k], r.status,
                          r.body ? r.body : "(none)");
            if (r.status >= 400 && routes[i][1] != 'v')
                AKT_TRUE(json_is_string(json_object_get(r.json, "error_type")));
            answered += r.status == 200;
            st_resp_free(&r);
        }
    AKT_TRUE(answered > 0);   /* the valid ones among them are served */
}

/* ---- with auth on: a reader key serves, no key is TEI's 401 -------------------------------- */

AKT_TEST(auth)
{
    up();
    ak_server_config c;
    ak_server_config_defaults(&c);
    char *data = st_tmpdir("teiauth");
    c.data_dir = data;
    c.port = 0;
    c.models = g_specs;
    c.n_models = 1;
    c.scan_models_dir = 0;
    c.auth = 1;
    c.admin_key = "ak_tei_test_admin_key_0123456789";
    c.sync_none = 1;
    c.embed_threads = 1;
    ak_server *s = NULL;
    AKT_OK(ak_server_start(&c, &s));
    int port = ak_server_port(s);
    st_resp r = st_http(port, "POST", "/embed", NULL, "{\"inputs\":\"hello world\"}", -1);
    AKT_EQ_INT(r.status, 401);
    AKT_EQ_STR(json_string_value(json_object_get(r.json, "error_type")), "Unauthorized");
    st_resp_free(&r);
    r = st_http(port, "POST", "/embed", c.admin_key, "{\"inputs\":\"hello world\"}", -1);
    ok200(&r);
    float a[DIM];
    embed_one(M_TINY, "hello world", 1, a);
    row_is(r.json, 0, a, DIM);
    st_resp_free(&r);
    AKT_OK(ak_server_stop(s));
    st_rmtree(data);
}

/* ---- the npm clients against `akidb serve` ----------------------------------------------- */

static bool have_file(const char *rel)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", st_src_dir(), rel);
    return access(p, R_OK) == 0;
}

/* Starts `akidb serve` on a free port with the tiny model; returns its pid
 * and port, its stderr going to log. */
static pid_t serve(const char *bin, const char *data, const char *log, int *port)
{
    pid_t pid = fork();
    AKT_TRUE(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        char model[1100];
        snprintf(model, sizeof model, "tiny=%s", g_dir[M_TINY]);
        execl(bin, "akidb", "serve", "--data", data, "--model", model, "--port", "0",
              "--no-model-scan", "--auth", "off", "--threads", "1", (char *)NULL);
        _exit(127);
    }
    *port = 0;
    for (int i = 0; i < 600 && !*port; i++) {
        usleep(50000);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "listening on http://127.0.0.1:");
            if (p)
                *port = atoi(p + strlen("listening on http://127.0.0.1:"));
        }
        if (f)
            fclose(f);
    }
    return pid;
}

AKT_TEST(clients)
{
    up();
    const char *bin = getenv("AKIDB_BIN");
    if (system("node --version > /dev/null 2>&1") != 0 ||
        !have_file("tests/ref/node_modules/openai/package.json") ||
        !have_file("tests/ref/node_modules/@huggingface/inference/package.json") || !bin) {
        fprintf(stderr, "  SKIP clients: needs node, AKIDB_BIN and `npm install "
                        "--ignore-scripts` in tests/ref (openai, @huggingface/inference)\n");
        AKT_TRUE(1);
        return;
    }
    /* the values the clients must see, computed here */
    const char *texts[3] = {"hello world", "a second text", "the third one is longer"};
    float def[3][DIM], tei[3][DIM];
    json_t *x = json_object(), *jd = json_array(), *jt = json_array(), *jc = json_array();
    for (int i = 0; i < 3; i++) {
        embed_one(M_TINY, texts[i], -1, def[i]);
        embed_one(M_TINY, texts[i], 1, tei[i]);
        json_t *a = json_array(), *b = json_array(), *c8 = json_array();
        double s8 = 0;
        for (int k = 0; k < 8; k++)
            s8 += (double)def[i][k] * def[i][k];
        for (int k = 0; k < DIM; k++) {
            json_array_append_new(a, json_real(def[i][k]));
            json_array_append_new(b, json_real(tei[i][k]));
            if (k < 8)
                json_array_append_new(c8, json_real(def[i][k] / sqrt(s8)));
        }
        json_array_append_new(jd, a);
        json_array_append_new(jt, b);
        json_array_append_new(jc, c8);
    }
    akidb_tokens t = {0};
    ids_of(M_TINY, texts[0], &t);
    json_t *ids = json_array();
    for (size_t k = 0; k < t.n; k++)
        json_array_append_new(ids, json_integer(t.ids[k]));
    akidb_tokens_free(&t);
    json_object_set_new(x, "model", json_string("tiny"));
    json_object_set_new(x, "texts", json_pack("[s,s,s]", texts[0], texts[1], texts[2]));
    json_object_set_new(x, "openai", jd);
    json_object_set_new(x, "tei", jt);
    json_object_set_new(x, "dims8", jc);
    json_object_set_new(x, "ids0", ids);
    char *dir = st_tmpdir("teiclients"), xp[1100], log[1100], data[1100];
    snprintf(xp, sizeof xp, "%s/expected.json", dir);
    snprintf(log, sizeof log, "%s/serve.log", dir);
    snprintf(data, sizeof data, "%s/data", dir);
    AKT_EQ_INT(json_dump_file(x, xp, 0), 0);
    json_decref(x);
    int port;
    pid_t pid = serve(bin, data, log, &port);
    if (!port) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        AKT_FAIL_("akidb serve did not start (see %s)", log);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "node %s/tests/ref/tei_openai_client.mjs http://127.0.0.1:%d %s",
             st_src_dir(), port, xp);
    int rc = system(cmd);
    kill(pid, SIGTERM);
    int ws = 0;
    waitpid(pid, &ws, 0);
    AKT_EQ_INT(rc, 0);
    AKT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    st_rmtree(dir);
}

AKT_MAIN(AKT_REG(openai), AKT_REG(garbage), AKT_REG(auth), AKT_REG(clients))
