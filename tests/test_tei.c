/*
 * test_tei.c - the Hugging Face text-embeddings-inference (TEI) routes
 * (src/server/routes_tei.c) and the OpenAI embeddings details (base64,
 * dimensions, token-array inputs) over real HTTP against a server started
 * in-process, every answer compared with values the test computes itself
 * from the library (akidb_embed, akidb_embed_ids, akidb_rerank, the
 * tokenizer) on the same model folders, or with known literal values:
 *
 *   embed       /embed: inputs as string, strings, token ids; normalize;
 *               dimensions (cut, then normalise)
 *   embed_options  prompt_name (= the prompt's text in front); truncate with
 *               Right and Left (ids cut in the test); TEI's error shape and
 *               statuses
 *   similarity  /similarity: cosines computed here
 *   rerank      /rerank: akidb_rerank's scores, sigmoid / raw, the order,
 *               return_text, truncate, a model that is not a reranker
 *   tokenize    /tokenize and /decode: bert-base-uncased's ids and strings
 *   tokenize_offsets  /tokenize's start / stop / text / special on every text
 *               of tests/golden/offsets_minilm.jsonl (the Rust library's
 *               offsets, tests/ref/tok_offsets_ref.mjs), as TEI's
 *               into_tokens makes them of an Encoding
 *   info        TEI's /info fields
 *   embed_all   /embed_all: per input the rows of akidb_embed_tokens (that
 *               API itself is checked in test_tei_tokens.c); truncation
 *               both ways; prompt_name; TEI's errors
 *   openai      /v1/embeddings: base64 decoded back to the floats,
 *               dimensions, token-array inputs, their errors
 *   garbage     malformed bodies on every route: an answer in the family's
 *               shape, never a crash
 *   auth        with keys on: 401 in TEI's shape, a key serves
 *   clients     the npm clients `openai` and `@huggingface/inference`
 *               (tests/ref/tei_openai_client.mjs) against `akidb serve`;
 *               skipped, saying why, when node or the packages are missing
 */
#include "akt.h"
#include "akt_data.h"
#include "akidb.h"
#include "server/routes_tei.h"
#include "server/server.h"
#include "server/srvtest.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>

enum { DIM = 32 };

static char *g_root, *g_data, *g_dir[4];
static ak_server *g_srv;
static int g_port;
static akidb_model *g_m[4];   /* tiny, short, tiny_p, rr: loaded directly */
static ak_model_spec g_specs[4];
static const char *const g_names[4] = {"tiny", "short", "tiny_p", "rr"};
enum { M_TINY, M_SHORT, M_PROMPT, M_RR };

/* Appends a one-label classification head to dir's model.safetensors and
 * makes its config.json a BertForSequenceClassification. */
static void make_reranker(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "rb");
    AKT_TRUE(f != NULL);
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(size);
    AKT_EQ_INT(fread(buf, 1, size, f), size);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | buf[i];
    json_t *h = json_loadb((const char *)buf + 8, hl, 0, NULL);
    AKT_TRUE(h != NULL);
    size_t data = size - 8 - hl;
    json_object_set_new(h, "classifier.weight",
                        json_pack("{s:s,s:[i,i],s:[I,I]}", "dtype", "F32", "shape", 1, DIM,
                                  "data_offsets", (json_int_t)data, (json_int_t)data + 4 * DIM));
    json_object_set_new(h, "classifier.bias",
                        json_pack("{s:s,s:[i],s:[I,I]}", "dtype", "F32", "shape", 1,
                                  "data_offsets", (json_int_t)data + 4 * DIM,
                                  (json_int_t)data + 4 * DIM + 4));
    char *hs = json_dumps(h, JSON_COMPACT);
    size_t nl = strlen(hs), padded = (nl + 7) / 8 * 8;
    f = fopen(p, "wb");
    for (int i = 0; i < 8; i++)
        fputc((int)((padded >> (8 * i)) & 255), f);
    fputs(hs, f);
    for (size_t i = nl; i < padded; i++)
        fputc(' ', f);
    fwrite(buf + 8 + hl, 1, data, f);
    float w[DIM + 1];
    for (int k = 0; k < DIM; k++)
        w[k] = (float)(0.9 * sin(1.7 * (k + 1)));
    w[DIM] = 0.1f;
    fwrite(w, sizeof(float), DIM + 1, f);   /* little-endian host */
    fclose(f);
    free(hs);
    free(buf);
    json_decref(h);
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *cfg = json_load_file(p, 0, NULL);
    AKT_TRUE(cfg != NULL);
    json_object_set_new(cfg, "architectures", json_pack("[s]", "BertForSequenceClassification"));
    json_object_set_new(cfg, "id2label", json_pack("{s:s}", "0", "LABEL_0"));
    json_object_set_new(cfg, "label2id", json_pack("{s:i}", "LABEL_0", 0));
    AKT_EQ_INT(json_dump_file(cfg, p, JSON_INDENT(1)), 0);
    json_decref(cfg);
}

static void teardown(void)
{
    if (g_srv)
        ak_server_stop(g_srv);
    for (int i = 0; i < 4; i++)
        akidb_model_free(g_m[i]);
    st_rmtree(g_data);
    st_rmtree(g_root);
}

/* Stages the four models, loads them here and starts the server once. */
static void up(void)
{
    if (g_srv)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_root = st_tmpdir("teimodels");
    g_data = st_tmpdir("teidata");
    for (int i = 0; i < 4; i++) {
        g_dir[i] = malloc(1024);
        snprintf(g_dir[i], 1024, "%s/%s", g_root, g_names[i]);
        AKT_EQ_INT(st_stage_model(g_dir[i], i == M_SHORT ? 16 : 0), 0);
    }
    char p[1100];
    snprintf(p, sizeof p, "%s/config_sentence_transformers.json", g_dir[M_PROMPT]);
    AKT_EQ_INT(st_write_file(p, "{\"prompts\": {\"query\": \"query: \", \"passage\": \"\"}}\n"), 0);
    make_reranker(g_dir[M_RR]);
    for (int i = 0; i < 4; i++) {
        AKT_OK(akidb_model_load(g_dir[i], NULL, &g_m[i]));
        g_specs[i].name = g_names[i];
        g_specs[i].dir = g_dir[i];
    }
    AKT_TRUE(akidb_model_is_reranker(g_m[M_RR]));
    ak_server_config c;
    ak_server_config_defaults(&c);
    c.data_dir = g_data;
    c.port = 0;
    c.models = g_specs;
    c.n_models = 4;
    c.scan_models_dir = 0;
    c.auth = 0;
    c.sync_none = 1;
    c.embed_threads = 1;
    c.max_request_texts = 64;
    c.drain_timeout_s = 10;
    AKT_OK(ak_server_start(&c, &g_srv));
    g_port = ak_server_port(g_srv);
    atexit(teardown);
}

static st_resp post(const char *path, const char *body)
{
    return st_http(g_port, "POST", path, NULL, body, -1);
}

/* Checks TEI's error shape: status, a message, error_type. */
static void tei_err(st_resp *r, long status, const char *type)
{
    if (r->status != status)
        fprintf(stderr, "  answer %ld: %s\n", r->status, r->body ? r->body : "");
    AKT_EQ_INT(r->status, status);
    AKT_TRUE(r->json && json_is_string(json_object_get(r->json, "error")));
    AKT_TRUE(json_string_length(json_object_get(r->json, "error")) > 0);
    AKT_EQ_STR(json_string_value(json_object_get(r->json, "error_type")), type);
    st_resp_free(r);
}

static void ok200(const st_resp *r)
{
    if (r->status != 200)
        fprintf(stderr, "  answer %ld: %s\n", r->status, r->body ? r->body : "");
    AKT_EQ_INT(r->status, 200);
    AKT_TRUE(r->json != NULL);
}

/* Row i of a JSON array of float arrays equals want[0..n). */
static void row_is(json_t *rows, size_t i, const float *want, size_t n)
{
    json_t *row = json_array_get(rows, i);
    AKT_EQ_INT(json_array_size(row), n);
    for (size_t k = 0; k < n; k++)
        AKT_NEAR(json_number_value(json_array_get(row, k)), want[k], 1e-6);
}

static void embed_one(int m, const char *text, int normalize, float *out)
{
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.normalize = normalize;
    AKT_OK(akidb_embed(g_m[m], &text, NULL, 1, out, &o));
}

static void ids_of(int m, const char *text, akidb_tokens *t)
{
    AKT_OK(akidb_tokenizer_encode(akidb_model_tokenizer(g_m[m]), text, strlen(text), 0, t));
}

/* Prints ids as a JSON array into buf. */
static char *ids_json(const int32_t *ids, size_t n, char *buf, size_t cap)
{
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s%d", i ? "," : "", ids[i]);
    snprintf(buf + w, cap - w, "]");
    return buf;
}

static const char *long_text =
    "the quick brown fox jumps over the lazy dog while the small cat sleeps on the warm "
    "red chair near the old wooden door of the house by the river in the green valley";

/* ---- /embed ----------------------------------------------------------------------- */

AKT_TEST(embed)
{
    up();
    float a[DIM], b[DIM], raw[DIM];
    embed_one(M_TINY, "hello world", 1, a);
    embed_one(M_TINY, "a second text", 1, b);
    embed_one(M_TINY, "hello world", 0, raw);

    st_resp r = post("/embed", "{\"inputs\": \"hello world\"}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 1);
    row_is(r.json, 0, a, DIM);
    st_resp_free(&r);

    r = post("/embed", "{\"inputs\": [\"hello world\", \"a second text\"], \"normalize\": true}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 2);
    row_is(r.json, 0, a, DIM);
    row_is(r.json, 1, b, DIM);
    st_resp_free(&r);

    /* normalize false: the pooled vector, not unit length */
    r = post("/embed", "{\"inputs\": \"hello world\", \"normalize\": false}");
    ok200(&r);
    row_is(r.json, 0, raw, DIM);
    double ss = 0;
    for (int k = 0; k < DIM; k++)
        ss += (double)raw[k] * raw[k];
    AKT_TRUE(fabs(sqrt(ss) - 1.0) > 1e-3);
    st_resp_free(&r);

    /* dimensions: the first 8 values, normalised again (or not) */
    float cut[8];
    double s8 = 0;
    for (int k = 0; k < 8; k++)
        s8 += (double)raw[k] * raw[k];
    for (int k = 0; k < 8; k++)
        cut[k] = (float)(raw[k] / sqrt(s8));
    r = post("/embed", "{\"inputs\": \"hello world\", \"dimensions\": 8}");
    ok200(&r);
    row_is(r.json, 0, cut, 8);
    st_resp_free(&r);
    r = post("/embed", "{\"inputs\": \"hello world\", \"dimensions\": 8, \"normalize\": false}");
    ok200(&r);
    row_is(r.json, 0, raw, 8);
    st_resp_free(&r);
    r = post("/embed", "{\"inputs\": \"x\", \"dimensions\": 0}");
    tei_err(&r, 422, "Validation");
    r = post("/embed", "{\"inputs\": \"x\", \"dimensions\": 33}");
    tei_err(&r, 422, "Validation");

    /* token ids: the same embedding as the text */
    akidb_tokens t = {0};
    ids_of(M_TINY, "hello world", &t);
    char ids[256], body[512];
    ids_json(t.ids, t.n, ids, sizeof ids);
    snprintf(body, sizeof body, "{\"inputs\": %s}", ids);
    r = post("/embed", body);
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 1);
    row_is(r.json, 0, a, DIM);
    st_resp_free(&r);
    snprintf(body, sizeof body, "{\"inputs\": [%s, \"a second text\"]}", ids);
    r = post("/embed", body);
    ok200(&r);
    row_is(r.json, 0, a, DIM);
    row_is(r.json, 1, b, DIM);
    st_resp_free(&r);
    akidb_tokens_free(&t);
}

/* prompt_name, truncation (Right, Left), bad input */
AKT_TEST(embed_options)
{
    up();
    akidb_tokens t = {0};
    ids_of(M_TINY, "hello world", &t);
    char ids[256], body[512];
    ids_json(t.ids, t.n, ids, sizeof ids);
    akidb_tokens_free(&t);

    /* prompt_name: the prompt's text in front of the input */
    float q[DIM];
    st_resp r;
    embed_one(M_PROMPT, "query: hello world", 1, q);
    r = post("/embed", "{\"inputs\": \"hello world\", \"model\": \"tiny_p\", "
                       "\"prompt_name\": \"query\"}");
    ok200(&r);
    row_is(r.json, 0, q, DIM);
    st_resp_free(&r);
    r = post("/embed", "{\"inputs\": \"hello world\", \"model\": \"tiny_p\", "
                       "\"prompt_name\": \"nope\"}");
    AKT_CONTAINS(r.body, "query");
    tei_err(&r, 422, "Validation");
    snprintf(body, sizeof body, "{\"inputs\": [%s], \"model\": \"tiny_p\", "
                                "\"prompt_name\": \"query\"}", ids);
    r = post("/embed", body);
    AKT_CONTAINS(r.body, "prompt_name");
    tei_err(&r, 422, "Validation");

    /* truncation on "short" (16 tokens) */
    akidb_tokens full = {0};
    ids_of(M_SHORT, long_text, &full);
    AKT_TRUE(full.n > 20);
    AKT_EQ_INT(full.ids[0], 101);
    AKT_EQ_INT(full.ids[full.n - 1], 102);
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": \"%s\"}", long_text);
    r = post("/embed", body);
    AKT_CONTAINS(r.body, "16");
    tei_err(&r, 422, "Validation");
    float right[DIM], left[DIM];
    embed_one(M_SHORT, long_text, 1, right);   /* cut at the end */
    int32_t kept[16];
    kept[0] = 101;
    memcpy(kept + 1, full.ids + full.n - 15, 14 * sizeof *kept);   /* last 14 words */
    kept[15] = 102;
    const int32_t *kp = kept;
    size_t kl = 16;
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.normalize = 1;
    AKT_OK(akidb_embed_ids(g_m[M_SHORT], &kp, &kl, 1, left, &o));
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": \"%s\", \"truncate\": true}",
             long_text);
    r = post("/embed", body);
    ok200(&r);
    row_is(r.json, 0, right, DIM);
    st_resp_free(&r);
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": [\"%s\", \"hello world\"], "
                                "\"truncate\": true, \"truncation_direction\": \"Left\"}",
             long_text);
    r = post("/embed", body);
    ok200(&r);
    row_is(r.json, 0, left, DIM);
    float hs[DIM];
    embed_one(M_SHORT, "hello world", 1, hs);
    row_is(r.json, 1, hs, DIM);
    st_resp_free(&r);
    AKT_TRUE(fabs(left[0] - right[0]) > 1e-6);
    r = post("/embed", "{\"inputs\": \"x\", \"truncation_direction\": \"Up\"}");
    tei_err(&r, 422, "Validation");
    /* token ids over the limit are refused, whatever truncate says */
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": %s, \"truncate\": true}",
             ids_json(full.ids, full.n, ids, sizeof ids));
    r = post("/embed", body);
    AKT_CONTAINS(r.body, "token ids");
    tei_err(&r, 422, "Validation");
    akidb_tokens_free(&full);

    /* bad input */
    r = post("/embed", "{}");
    tei_err(&r, 422, "Validation");
    r = post("/embed", "{\"inputs\": []}");
    tei_err(&r, 400, "Empty");
    r = post("/embed", "{\"inputs\": 5}");
    tei_err(&r, 422, "Validation");
    r = post("/embed", "{\"inputs\": [[-1]]}");
    tei_err(&r, 422, "Validation");
    r = post("/embed", "{\"inputs\": \"x\", \"normalize\": \"yes\"}");
    tei_err(&r, 422, "Validation");
    r = post("/embed", "{\"inputs\": ");
    tei_err(&r, 400, "Validation");
    r = st_http(g_port, "GET", "/embed", NULL, NULL, -1);
    tei_err(&r, 405, "Validation");
    r = post("/embed", "{\"inputs\": \"x\", \"model\": \"absent\"}");
    tei_err(&r, 404, "Validation");
}

/* ---- /similarity --------------------------------------------------------------------- */

static double cosine(const float *x, const float *y)
{
    double d = 0, a = 0, b = 0;
    for (int k = 0; k < DIM; k++) {
        d += (double)x[k] * y[k];
        a += (double)x[k] * x[k];
        b += (double)y[k] * y[k];
    }
    return d / (sqrt(a) * sqrt(b));
}

AKT_TEST(similarity)
{
    up();
    const char *s[3] = {"what is deep learning?", "deep learning is a kind of machine learning",
                        "the weather is nice today"};
    float v[3][DIM];
    for (int i = 0; i < 3; i++)
        embed_one(M_TINY, s[i], 0, v[i]);
    st_resp r = post("/similarity",
                     "{\"inputs\": {\"source_sentence\": \"what is deep learning?\", "
                     "\"sentences\": [\"deep learning is a kind of machine learning\", "
                     "\"the weather is nice today\"]}, \"parameters\": {\"truncate\": true}}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 2);
    AKT_NEAR(json_number_value(json_array_get(r.json, 0)), cosine(v[0], v[1]), 1e-6);
    AKT_NEAR(json_number_value(json_array_get(r.json, 1)), cosine(v[0], v[2]), 1e-6);
    AKT_TRUE(fabs(cosine(v[0], v[1]) - cosine(v[0], v[2])) > 1e-4);
    st_resp_free(&r);
    r = post("/similarity", "{\"source_sentence\": \"what is deep learning?\", "
                            "\"sentences\": [\"the weather is nice today\"]}");
    ok200(&r);
    AKT_NEAR(json_number_value(json_array_get(r.json, 0)), cosine(v[0], v[2]), 1e-6);
    st_resp_free(&r);
    r = post("/similarity", "{\"inputs\": {\"source_sentence\": \"a\", \"sentences\": []}}");
    tei_err(&r, 400, "Empty");
    r = post("/similarity", "{\"inputs\": {\"sentences\": [\"a\"]}}");
    tei_err(&r, 422, "Validation");
    r = post("/similarity", "{\"inputs\": {\"source_sentence\": \"a\", \"sentences\": [1]}}");
    tei_err(&r, 422, "Validation");
}

/* ---- /rerank ----------------------------------------------------------------------------- */

AKT_TEST(rerank)
{
    up();
    const char *q = "what is the capital of france?";
    const char *docs[3] = {"paris is the capital of france", "berlin is in germany",
                           "the capital of france is a large city"};
    float sig[3], raw[3];
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.max_tokens = 128;
    o.activation = AKIDB_RERANK_ACT_SIGMOID;
    AKT_OK(akidb_rerank(g_m[M_RR], q, strlen(q), docs, NULL, 3, &o, sig));
    o.activation = AKIDB_RERANK_ACT_RAW;
    AKT_OK(akidb_rerank(g_m[M_RR], q, strlen(q), docs, NULL, 3, &o, raw));
    for (int i = 0; i < 3; i++)
        AKT_NEAR(sig[i], 1.0 / (1.0 + exp(-(double)raw[i])), 1e-6);
    AKT_TRUE(sig[0] != sig[1] && sig[1] != sig[2] && sig[0] != sig[2]);
    /* the order the test expects: by decreasing score */
    int ord[3] = {0, 1, 2};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (sig[ord[j]] > sig[ord[i]]) {
                int t = ord[i];
                ord[i] = ord[j];
                ord[j] = t;
            }
    static const char body[] =
        "{\"query\": \"what is the capital of france?\", \"texts\": [\"paris is the capital of "
        "france\", \"berlin is in germany\", \"the capital of france is a large city\"]%s}";
    char b[1024];
    snprintf(b, sizeof b, body, "");
    st_resp r = post("/rerank", b);
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 3);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(r.json, (size_t)i);
        AKT_EQ_INT(json_integer_value(json_object_get(e, "index")), ord[i]);
        AKT_NEAR(json_number_value(json_object_get(e, "score")), sig[ord[i]], 1e-6);
        AKT_TRUE(json_object_get(e, "text") == NULL);
    }
    st_resp_free(&r);
    snprintf(b, sizeof b, body, ", \"raw_scores\": true, \"return_text\": true");
    r = post("/rerank", b);
    ok200(&r);
    for (int i = 0; i < 3; i++) {
        json_t *e = json_array_get(r.json, (size_t)i);
        AKT_EQ_INT(json_integer_value(json_object_get(e, "index")), ord[i]);
        AKT_NEAR(json_number_value(json_object_get(e, "score")), raw[ord[i]], 1e-6);
        AKT_EQ_STR(json_string_value(json_object_get(e, "text")), docs[ord[i]]);
    }
    st_resp_free(&r);

    /* a long pair: refused unless truncate; cut like akidb_rerank at 128 */
    char longdoc[4096] = "";
    for (int i = 0; i < 6; i++)
        strcat(longdoc, long_text), strcat(longdoc, " ");
    float cut;
    const char *ld = longdoc;
    o.activation = AKIDB_RERANK_ACT_SIGMOID;
    AKT_OK(akidb_rerank(g_m[M_RR], q, strlen(q), &ld, NULL, 1, &o, &cut));
    char lb[8192];
    snprintf(lb, sizeof lb, "{\"query\": \"%s\", \"texts\": [\"%s\"]%%s}", q, longdoc);
    char lb2[8300];
    snprintf(lb2, sizeof lb2, lb, "");
    r = post("/rerank", lb2);
    AKT_CONTAINS(r.body, "truncate");
    tei_err(&r, 422, "Validation");
    snprintf(lb2, sizeof lb2, lb, ", \"truncate\": true");
    r = post("/rerank", lb2);
    ok200(&r);
    AKT_NEAR(json_number_value(json_object_get(json_array_get(r.json, 0), "score")), cut, 1e-6);
    st_resp_free(&r);
    snprintf(lb2, sizeof lb2, lb, ", \"truncate\": true, \"truncation_direction\": \"Left\"");
    r = post("/rerank", lb2);
    AKT_CONTAINS(r.body, "Left");
    tei_err(&r, 422, "Validation");

    r = post("/rerank", "{\"query\": \"q\", \"texts\": []}");
    tei_err(&r, 400, "Empty");
    r = post("/rerank", "{\"texts\": [\"a\"]}");
    tei_err(&r, 422, "Validation");
    r = post("/rerank", "{\"query\": \"q\", \"texts\": [\"a\"], \"model\": \"tiny\"}");
    AKT_CONTAINS(r.body, "re-ranker");
    tei_err(&r, 424, "Backend");
}

/* ---- /tokenize, /decode ------------------------------------------------------------------- */

/* One golden line of offsets_minilm.jsonl against /tokenize; true if equal. */
static bool tokenize_line(json_t *g, size_t *shown)
{
    json_t *jt = json_object_get(g, "t"), *ids = json_object_get(g, "ids"),
           *off = json_object_get(g, "off"), *sp = json_object_get(g, "sp");
    json_t *req = json_pack("{s:O}", "inputs", jt);
    char *body = json_dumps(req, JSON_COMPACT);
    st_resp r = post("/tokenize", body);
    free(body);
    json_decref(req);
    if (strlen(json_string_value(jt)) != json_string_length(jt)) {
        /* the server's JSON reader refuses \u0000 in a body */
        AKT_EQ_INT(r.status, 400);
        st_resp_free(&r);
        return true;
    }
    ok200(&r);
    json_t *toks = json_array_get(r.json, 0);
    const char *text = json_string_value(jt);
    size_t n = json_array_size(ids);
    bool ok = json_array_size(toks) == n;
    for (size_t i = 0; ok && i < n; i++) {
        json_t *t = json_array_get(toks, i), *o = json_array_get(off, i);
        bool special = false;
        for (size_t k = 0; k < json_array_size(sp); k++)
            special |= (size_t)json_integer_value(json_array_get(sp, k)) == i;
        size_t s0 = (size_t)json_integer_value(json_array_get(o, 0)),
               s1 = (size_t)json_integer_value(json_array_get(o, 1));
        json_t *txt = json_object_get(t, "text");
        ok = json_integer_value(json_object_get(t, "id")) ==
                 json_integer_value(json_array_get(ids, i)) &&
             json_is_true(json_object_get(t, "special")) == special && json_is_string(txt);
        if (ok && special)
            ok = json_is_null(json_object_get(t, "start")) &&
                 json_is_null(json_object_get(t, "stop"));
        else if (ok)
            ok = (size_t)json_integer_value(json_object_get(t, "start")) == s0 &&
                 (size_t)json_integer_value(json_object_get(t, "stop")) == s1 &&
                 json_string_length(txt) == s1 - s0 &&
                 memcmp(json_string_value(txt), text + s0, s1 - s0) == 0;
    }
    if (!ok && (*shown)++ < 5)
        fprintf(stderr, "  /tokenize differs on %.200s:\n    %.600s\n", text, r.body);
    st_resp_free(&r);
    return ok;
}

AKT_TEST(tokenize_offsets)
{
    up();
    size_t len, lines = 0, bad = 0, shown = 0;
    char *data = akt_data_read("tests/golden/offsets_minilm.jsonl", &len);
    AKT_TRUE(data != NULL);
    for (size_t start = 0, i = 0; data && i <= len; i++) {
        if (i < len && data[i] != '\n')
            continue;
        json_error_t err;
        json_t *g = i > start ? json_loadb(data + start, i - start, JSON_ALLOW_NUL, &err) : NULL;
        if (g) {
            lines++;
            bad += !tokenize_line(g, &shown);
            json_decref(g);
        }
        start = i + 1;
    }
    printf("/tokenize: %zu of %zu golden texts differ\n", bad, lines);
    AKT_TRUE(lines >= 300);
    AKT_EQ_INT(bad, 0);
    ak_free(data);
}

AKT_TEST(tokenize)
{
    up();
    /* bert-base-uncased's vocabulary: hello 7592, world 2088; as TEI, text is
     * the input's bytes [start, stop) (the template's tokens: their string,
     * start / stop null) */
    static const int ids[4] = {101, 7592, 2088, 102};
    static const char *const txt[4] = {"[CLS]", "Hello", "world", "[SEP]"};
    static const int span[4][2] = {{-1, -1}, {0, 5}, {6, 11}, {-1, -1}};
    st_resp r = post("/tokenize", "{\"inputs\": \"Hello world\"}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 1);
    json_t *toks = json_array_get(r.json, 0);
    AKT_EQ_INT(json_array_size(toks), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *t = json_array_get(toks, i);
        AKT_EQ_INT(json_integer_value(json_object_get(t, "id")), ids[i]);
        AKT_EQ_STR(json_string_value(json_object_get(t, "text")), txt[i]);
        AKT_EQ_INT(json_is_true(json_object_get(t, "special")), i == 0 || i == 3);
        if (span[i][0] < 0) {
            AKT_TRUE(json_is_null(json_object_get(t, "start")));
            AKT_TRUE(json_is_null(json_object_get(t, "stop")));
        } else {
            AKT_EQ_INT(json_integer_value(json_object_get(t, "start")), span[i][0]);
            AKT_EQ_INT(json_integer_value(json_object_get(t, "stop")), span[i][1]);
        }
    }
    st_resp_free(&r);
    r = post("/tokenize", "{\"inputs\": [\"Hello world\", \"[CLS] hello\"], "
                          "\"add_special_tokens\": false}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 2);
    toks = json_array_get(r.json, 0);
    AKT_EQ_INT(json_array_size(toks), 2);
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(toks, 0), "id")), 7592);
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(toks, 1), "id")), 2088);
    toks = json_array_get(r.json, 1);   /* a special token in the text stays */
    AKT_EQ_INT(json_array_size(toks), 2);
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(toks, 0), "id")), 101);
    /* ... as a token of the text (TEI: special_tokens_mask is 0 for it) */
    AKT_FALSE(json_is_true(json_object_get(json_array_get(toks, 0), "special")));
    AKT_EQ_STR(json_string_value(json_object_get(json_array_get(toks, 0), "text")), "[CLS]");
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(toks, 1), "start")), 6);
    AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(toks, 1), "stop")), 11);
    st_resp_free(&r);
    /* prompt_name: the prompt's text in front ("query: " is 2 tokens) */
    r = post("/tokenize", "{\"inputs\": \"Hello world\", \"model\": \"tiny_p\", "
                          "\"prompt_name\": \"query\"}");
    ok200(&r);
    akidb_tokens pt = {0};
    ids_of(M_PROMPT, "query: Hello world", &pt);
    toks = json_array_get(r.json, 0);
    AKT_EQ_INT(json_array_size(toks), pt.n);
    AKT_EQ_INT(pt.n, 6);
    for (size_t i = 0; i < pt.n && i < json_array_size(toks); i++)
        AKT_EQ_INT(json_integer_value(json_object_get(json_array_get(toks, i), "id")), pt.ids[i]);
    st_resp_free(&r);
    akidb_tokens_free(&pt);
    r = post("/tokenize", "{\"inputs\": \"x\", \"prompt_name\": \"query\"}");   /* tiny: none */
    AKT_CONTAINS(r.body, "no prompts");
    tei_err(&r, 422, "Validation");
    r = post("/tokenize", "{\"inputs\": \"x\", \"model\": \"tiny_p\", \"prompt_name\": \"qq\"}");
    AKT_CONTAINS(r.body, "'query'");
    tei_err(&r, 422, "Validation");
    r = post("/tokenize", "{\"inputs\": []}");
    tei_err(&r, 400, "Empty");

    r = post("/decode", "{\"ids\": [101, 7592, 2088, 102]}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 1);
    AKT_EQ_STR(json_string_value(json_array_get(r.json, 0)), "hello world");
    st_resp_free(&r);
    r = post("/decode", "{\"ids\": [[101, 7592, 2088, 102], [2088]], "
                        "\"skip_special_tokens\": false}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 2);
    AKT_EQ_STR(json_string_value(json_array_get(r.json, 0)), "[CLS] hello world [SEP]");
    AKT_EQ_STR(json_string_value(json_array_get(r.json, 1)), "world");
    st_resp_free(&r);
    r = post("/decode", "{\"ids\": [101, -3]}");
    tei_err(&r, 422, "Validation");
    r = post("/decode", "{\"ids\": []}");
    tei_err(&r, 400, "Empty");
}

/* ---- /info, /embed_all ------------------------------------------------------------------ */

AKT_TEST(info)
{
    up();
    json_t *j = ak_tei_info(g_srv);
    AKT_TRUE(j != NULL);
    AKT_EQ_STR(json_string_value(json_object_get(j, "model_id")), "tiny");
    AKT_EQ_STR(json_string_value(json_object_get(j, "model_dtype")), "float16");
    json_t *emb = json_object_get(json_object_get(j, "model_type"), "embedding");
    AKT_EQ_STR(json_string_value(json_object_get(emb, "pooling")), "mean");
    AKT_EQ_INT(json_integer_value(json_object_get(j, "max_input_length")), 128);
    AKT_EQ_INT(json_integer_value(json_object_get(j, "max_client_batch_size")), 64);
    AKT_EQ_INT(json_integer_value(json_object_get(j, "max_batch_tokens")), 16384);
    AKT_TRUE(json_is_false(json_object_get(j, "auto_truncate")));
    AKT_TRUE(json_is_string(json_object_get(j, "version")));
    /* GET /info carries these fields once routes_ops.c merges them */
    st_resp r = st_http(g_port, "GET", "/info", NULL, NULL, -1);
    ok200(&r);
    if (json_object_get(r.json, "model_id")) {
        json_t *k;
        const char *key;
        json_object_foreach(j, key, k) {
            AKT_TRUE(json_equal(k, json_object_get(r.json, key)));
        }
    } else {
        fprintf(stderr, "  note: GET /info does not carry TEI's fields yet\n");
    }
    st_resp_free(&r);
    json_decref(j);

}

/* ---- /embed_all: token-level hidden states ----------------------------------------------- */

/* Entry i of an /embed_all answer equals akidb_embed_tokens of ids. */
static void tokens_are(json_t *all, size_t i, int m, const int32_t *ids, size_t n)
{
    float *want = malloc(n * DIM * sizeof *want);
    AKT_OK(akidb_embed_tokens(g_m[m], ids, n, want, NULL));
    json_t *rows = json_array_get(all, i);
    AKT_EQ_INT(json_array_size(rows), n);
    for (size_t t = 0; t < n && t < json_array_size(rows); t++)
        row_is(rows, t, want + t * DIM, DIM);
    free(want);
}

AKT_TEST(embed_all)
{
    up();
    akidb_tokens hw = {0}, full = {0};
    ids_of(M_TINY, "hello world", &hw);
    st_resp r = post("/embed_all", "{\"inputs\": \"hello world\"}");
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 1);   /* [[[f32]]] also for one string */
    tokens_are(r.json, 0, M_TINY, hw.ids, hw.n);
    st_resp_free(&r);
    char ids[2048], body[4096];
    snprintf(body, sizeof body, "{\"inputs\": [\"hello world\", %s, \"a second text\"]}",
             ids_json(hw.ids, hw.n, ids, sizeof ids));
    r = post("/embed_all", body);
    ok200(&r);
    AKT_EQ_INT(json_array_size(r.json), 3);
    tokens_are(r.json, 0, M_TINY, hw.ids, hw.n);
    tokens_are(r.json, 1, M_TINY, hw.ids, hw.n);
    akidb_tokens t2 = {0};
    ids_of(M_TINY, "a second text", &t2);
    tokens_are(r.json, 2, M_TINY, t2.ids, t2.n);
    akidb_tokens_free(&t2);
    st_resp_free(&r);

    /* truncation on "short" (16 tokens): Right keeps the start, Left the end */
    ids_of(M_SHORT, long_text, &full);
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": \"%s\"}", long_text);
    r = post("/embed_all", body);
    AKT_CONTAINS(r.body, "16");
    tei_err(&r, 422, "Validation");
    int32_t kept[16];
    kept[0] = 101;
    memcpy(kept + 1, full.ids + 1, 14 * sizeof *kept);
    kept[15] = 102;
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": \"%s\", \"truncate\": true}",
             long_text);
    r = post("/embed_all", body);
    ok200(&r);
    tokens_are(r.json, 0, M_SHORT, kept, 16);
    st_resp_free(&r);
    memcpy(kept + 1, full.ids + full.n - 15, 14 * sizeof *kept);
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": \"%s\", \"truncate\": true, "
             "\"truncation_direction\": \"Left\"}", long_text);
    r = post("/embed_all", body);
    ok200(&r);
    tokens_are(r.json, 0, M_SHORT, kept, 16);
    st_resp_free(&r);
    snprintf(body, sizeof body, "{\"model\": \"short\", \"inputs\": %s, \"truncate\": true}",
             ids_json(full.ids, full.n, ids, sizeof ids));
    r = post("/embed_all", body);
    AKT_CONTAINS(r.body, "token ids");
    tei_err(&r, 422, "Validation");

    /* bad input */
    r = post("/embed_all", "{\"inputs\": []}");
    tei_err(&r, 400, "Empty");
    r = post("/embed_all", "{\"inputs\": 5}");
    tei_err(&r, 422, "Validation");
    r = post("/embed_all", "{\"inputs\": [[1, 99999999]]}");
    tei_err(&r, 422, "Validation");
    /* prompt_name: the prompt's text in front, tokenised with the text */
    akidb_tokens pq = {0};
    ids_of(M_PROMPT, "query: hello world", &pq);
    r = post("/embed_all", "{\"inputs\": [\"hello world\"], \"model\": \"tiny_p\", "
                           "\"prompt_name\": \"query\"}");
    ok200(&r);
    tokens_are(r.json, 0, M_PROMPT, pq.ids, pq.n);
    st_resp_free(&r);
    akidb_tokens_free(&pq);
    r = post("/embed_all", "{\"inputs\": \"x\", \"prompt_name\": \"query\"}");   /* tiny: none */
    AKT_CONTAINS(r.body, "prompt");
    tei_err(&r, 422, "Validation");
    snprintf(body, sizeof body, "{\"inputs\": [%s], \"model\": \"tiny_p\", "
             "\"prompt_name\": \"query\"}", ids_json(hw.ids, hw.n, ids, sizeof ids));
    r = post("/embed_all", body);
    AKT_CONTAINS(r.body, "token id");
    tei_err(&r, 422, "Validation");
    r = post("/embed_all", "{\"inputs\": \"x\", \"model\": \"nope\"}");
    AKT_EQ_INT(r.status, 404);
    st_resp_free(&r);
    akidb_tokens_free(&hw);
    akidb_tokens_free(&full);
}

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

AKT_MAIN(AKT_REG(embed), AKT_REG(embed_options), AKT_REG(similarity), AKT_REG(rerank),
         AKT_REG(tokenize), AKT_REG(tokenize_offsets), AKT_REG(info), AKT_REG(embed_all), AKT_REG(openai), AKT_REG(garbage), AKT_REG(auth),
         AKT_REG(clients))
