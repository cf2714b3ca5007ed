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
 * The OpenAI details, bad bodies, auth and the npm clients are
 * test_tei_compat.c's; the fixture is tests/server/teirun.h.
 */
#include "server/teirun.h"

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

AKT_MAIN(AKT_REG(embed), AKT_REG(embed_options), AKT_REG(similarity), AKT_REG(rerank),
         AKT_REG(tokenize), AKT_REG(tokenize_offsets), AKT_REG(info), AKT_REG(embed_all))
