/*
 * test_qdrant.c - the Qdrant REST API of the server.
 *
 *   ids        Qdrant point ids (unsigned integers, UUIDs in their spellings)
 *              onto AkiDB ids and back; everything else refused
 *   filters    Qdrant filters translated into AkiDB filters, each run by the
 *              store's own matcher over a fixed set of payloads and compared
 *              with the points Qdrant's rules select, worked out by hand
 *              for each case (has_id anywhere: point i has id i)
 *   filter_values  is_empty, is_null, except and multi-part field
 *              conditions over one key holding [], [null], null, nothing,
 *              arrays, scalars, an object and a nested array
 *   refusals   clauses AkiDB's filter language cannot express give
 *              AKIDB_EINVAL with a message naming the clause
 *   client     Qdrant's official JavaScript client (@qdrant/js-client-rest,
 *              tests/ref/qdrant_client.mjs) against `akidb serve` on a free
 *              port with a fresh data folder and the committed tiny model:
 *              create, upsert with UUID and integer ids (points and batch
 *              forms, Documents embedded by the bound model), search, query
 *              (vector, nearest, text), scroll to the end, count, retrieve,
 *              set / overwrite payload, delete by filter and ids, collection
 *              info, refusals; every answer compared with brute-force values
 *              computed in the script; auth on, the key in Qdrant's api-key
 *              header, a wrong key refused with 401.  Skipped, saying why, when node or
 *              the package is missing (AKIDB_TOKREF_DIR names another
 *              node_modules folder; empty skips).
 *   langchain  @langchain/qdrant's QdrantVectorStore with @langchain/openai's
 *              OpenAIEmbeddings on the server's /v1/embeddings
 *              (tests/ref/langchain_client.mjs), checked against brute-force
 *              cosine over the vectors fetched from the server; skipped
 *              likewise.
 */
#include "akt.h"

#include "akidb_store.h"
#include "server/qdrant_filter.h"
#include "server/qdrant_ids.h"
#include "store/filter.h"

#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- ids ---------------------------------------------------------------------------- */

static void id_ok(const char *json, const char *want)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    char buf[AK_QDRANT_ID_CAP], err[200];
    AKT_TRUE(v != NULL);
    if (!ak_qdrant_id_from_json(v, buf, err, sizeof err))
        AKT_FAIL_("id %s refused: %s", json, err);
    AKT_EQ_STR(buf, want);
    json_decref(v);
}

static void id_bad(const char *json, const char *msg)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    char buf[AK_QDRANT_ID_CAP], err[200];
    AKT_TRUE(v != NULL);
    AKT_FALSE(ak_qdrant_id_from_json(v, buf, err, sizeof err));
    AKT_CONTAINS(err, msg);
    json_decref(v);
}

static void id_back(const char *id, const char *want_json)
{
    json_t *j = ak_qdrant_id_to_json(id);
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    AKT_EQ_STR(s, want_json);
    free(s);
    json_decref(j);
}

AKT_TEST(ids)
{
    static const char U[] = "936da01f-9abd-4d9d-80c7-02af85c822a8";
    id_ok("0", "0");
    id_ok("42", "42");
    id_ok("9223372036854775807", "9223372036854775807");
    id_ok("\"936DA01F-9ABD-4D9D-80C7-02AF85C822A8\"", U);
    id_ok("\"936da01f9abd4d9d80c702af85c822a8\"", U);
    id_ok("\"{936da01f-9abd-4d9d-80c7-02af85c822a8}\"", U);
    id_ok("\"urn:uuid:936DA01F-9ABD-4D9D-80C7-02AF85C822A8\"", U);
    id_bad("-1", "unsigned integer or a UUID");
    id_bad("1.5", "fractional");
    id_bad("true", "boolean");
    id_bad("null", "null");
    id_bad("[1]", "array");
    id_bad("\"42\"", "must be a UUID");                  /* Qdrant: strings are UUIDs */
    id_bad("\"abc\"", "Unable to parse UUID 'abc'");
    id_bad("\"936da01f-9abd-4d9d-80c7-02af85c822a\"", "UUID");    /* 35 characters */
    id_bad("\"936da01f-9abd-4d9d-80c7x02af85c822a8\"", "UUID");   /* hyphen moved */
    id_bad("\"g36da01f-9abd-4d9d-80c7-02af85c822a8\"", "UUID");
    id_bad("\"\"", "UUID");

    char buf[AK_QDRANT_ID_CAP], err[200];
    AKT_TRUE(ak_qdrant_id_from_text("0042", buf, err, sizeof err));
    AKT_EQ_STR(buf, "42");
    AKT_TRUE(ak_qdrant_id_from_text("936DA01F9ABD4D9D80C702AF85C822A8", buf, err, sizeof err));
    AKT_EQ_STR(buf, U);
    AKT_FALSE(ak_qdrant_id_from_text("abc", buf, err, sizeof err));
    AKT_CONTAINS(err, "'abc'");
    AKT_FALSE(ak_qdrant_id_from_text("18446744073709551616", buf, err, sizeof err));
    AKT_FALSE(ak_qdrant_id_from_text("-3", buf, err, sizeof err));
    AKT_FALSE(ak_qdrant_id_from_text("", buf, err, sizeof err));

    id_back("0", "0");
    id_back("42", "42");
    id_back("9223372036854775807", "9223372036854775807");
    id_back("9223372036854775808", "\"9223372036854775808\"");   /* past JSON integers */
    id_back("042", "\"042\"");
    id_back(U, "\"936da01f-9abd-4d9d-80c7-02af85c822a8\"");
    id_back("doc-1", "\"doc-1\"");

    /* round trips: every accepted id reads back as the id sent */
    unsigned long long x = 88172645463325252ull;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        json_t *v = i % 2 ? json_integer((json_int_t)(x >> 1)) : NULL;
        char hex[40];
        if (!v) {
            snprintf(hex, sizeof hex, "%08llx-%04llx-%04llx-%04llx-%012llx", x >> 32,
                     (x >> 16) & 0xffff, x & 0xffff, (x >> 48) & 0xffff, (x * 31) & 0xffffffffffffull);
            v = json_string(hex);
        }
        AKT_TRUE(ak_qdrant_id_from_json(v, buf, err, sizeof err));
        json_t *back = ak_qdrant_id_to_json(buf);
        AKT_TRUE(json_equal(back, v));
        json_decref(back);
        json_decref(v);
    }
}

/* ---- filters ------------------------------------------------------------------------ */

/* The payloads every filter case runs over (NULL: a point without one). */
static const char *const payloads[] = {
    "{\"a\": 1, \"s\": \"x\", \"tags\": [\"red\", \"big\"], \"m\": {\"b\": \"q\"}}",
    "{\"a\": 2, \"s\": \"y\", \"tags\": [\"blue\"], \"opt\": null}",
    "{\"a\": 3.5, \"tags\": [], \"m\": {\"b\": \"r\"}, \"opt\": \"set\"}",
    "{}",
    NULL,
    "{\"a\": -1, \"s\": \"x\", \"flag\": true, \"m\": {\"b\": null}}",
};
#define NP (sizeof payloads / sizeof *payloads)

/* Translates qf, runs the result over the points pl[0..np) (point i has
 * Qdrant id i), compares with want ("1" where the point must match). */
static void filter_case_on(const char *const *pl, size_t np, const char *qf, const char *want)
{
    json_error_t je;
    json_t *q = json_loads(qf, 0, &je);
    if (!q)
        AKT_FAIL_("bad test filter %s: %s", qf, je.text);
    ak_qfilter out;
    if (ak_qdrant_filter(q, &out) != AKIDB_OK)
        AKT_FAIL_("%s refused: %s", qf, akidb_last_error());
    ak_filter *f = NULL;
    char *txt = out.filter ? json_dumps(out.filter, JSON_COMPACT) : NULL;
    if (txt) {
        AKT_OK(akidb_filter_validate(txt));
        AKT_OK(ak_filter_compile(out.filter, &f));
    }
    char got[32];
    AKT_TRUE(np < sizeof got);
    for (size_t i = 0; i < np; i++) {
        json_t *p = pl[i] ? json_loads(pl[i], 0, NULL) : NULL;
        char id[24];
        snprintf(id, sizeof id, "%zu", i);
        bool in_ids = true;   /* the top-level has_id restriction */
        if (out.ids) {
            in_ids = false;
            for (size_t k = 0; k < json_array_size(out.ids); k++)
                in_ids |= strcmp(json_string_value(json_array_get(out.ids, k)), id) == 0;
        }
        got[i] = in_ids && (!f || ak_filter_match_point(f, id, strlen(id), p)) ? '1' : '0';
        json_decref(p);
    }
    got[np] = '\0';
    if (strcmp(got, want) != 0)
        AKT_FAIL_("%s -> %s: matched %s, want %s", qf, txt ? txt : "(none)", got, want);
    akt_checks++;
    free(txt);
    ak_filter_free(f);
    ak_qfilter_clear(&out);
    json_decref(q);
}

static void filter_case(const char *qf, const char *want)
{
    filter_case_on(payloads, NP, qf, want);
}

/* Values of one key "v" in the forms Qdrant's checker tells apart. */
static const char *const values[] = {
    "{\"v\": []}",          "{\"v\": [null]}",     "{\"v\": null}",     "{}",
    "{\"v\": [1, null]}",   "{\"v\": [\"a\", \"b\"]}", "{\"v\": \"a\"}",    "{\"v\": 5}",
    "{\"v\": true}",        "{\"v\": {\"x\": 1}}",  "{\"v\": [[\"a\"]]}",  "{\"v\": 2.5}",
};
#define NV (sizeof values / sizeof *values)

static void value_case(const char *qf, const char *want)
{
    filter_case_on(values, NV, qf, want);
}

/* Qdrant's rules for empty / null values, except on arrays and field
 * conditions with several parts, worked out per value from its checker:
 * is_empty: absent, null or []; the is_null condition: null itself; a field
 * condition's is_null: null or an array holding null; except: a non-null
 * value (array: some element) not listed, never absent / null / []. */
AKT_TEST(filter_values)
{
    value_case("{\"must\": [{\"is_empty\": {\"key\": \"v\"}}]}", "101100000000");
    value_case("{\"must_not\": [{\"is_empty\": {\"key\": \"v\"}}]}", "010011111111");
    value_case("{\"must\": [{\"is_null\": {\"key\": \"v\"}}]}", "001000000000");
    value_case("{\"must\": [{\"key\": \"v\", \"is_null\": true}]}", "011010000000");
    value_case("{\"must\": [{\"key\": \"v\", \"is_null\": false}]}", "100101111111");
    value_case("{\"must\": [{\"key\": \"v\", \"is_empty\": true}]}", "101100000000");
    value_case("{\"must\": [{\"key\": \"v\", \"is_empty\": false}]}", "010011111111");
    value_case("{\"must\": [{\"key\": \"v\", \"is_empty\": true, \"match\": {\"value\": \"a\"}}]}",
               "101100000000");
    value_case("{\"must\": [{\"key\": \"v\", \"match\": {\"except\": [\"a\"]}}]}", "000011011111");
    value_case("{\"must\": [{\"key\": \"v\", \"match\": {\"except\": [5]}}]}", "000011101111");
    value_case("{\"must\": [{\"key\": \"v\", \"match\": {\"except\": []}}]}", "000011111111");
    value_case("{\"must\": [{\"key\": \"v\", \"match\": {\"except\": [\"a\", \"b\"]}}]}",
               "000010011111");
    value_case("{\"must\": [{\"key\": \"v\", \"match\": {\"any\": [\"a\"]}}]}", "000001100000");
    value_case("{\"must\": [{\"key\": \"v\", \"match\": {\"value\": 5},"
               " \"range\": {\"gte\": 2}}]}", "000000010001");
    value_case("{\"must\": [{\"key\": \"v\", \"range\": {\"lt\": 2}}]}", "000010000000");
}

AKT_TEST(filters)
{
    filter_case("{\"must\": [{\"key\": \"a\", \"match\": {\"value\": 1}}]}", "100000");
    filter_case("{\"must\": {\"key\": \"a\", \"match\": {\"value\": 2}}}", "010000");
    filter_case("{\"should\": [{\"key\": \"s\", \"match\": {\"value\": \"x\"}},"
                " {\"key\": \"a\", \"match\": {\"value\": 2}}]}", "110001");
    filter_case("{\"must_not\": [{\"key\": \"s\", \"match\": {\"value\": \"x\"}}]}", "011110");
    filter_case("{\"must\": [{\"key\": \"s\", \"match\": {\"any\": [\"x\", \"y\"]}}]}",
                "110001");
    filter_case("{\"must\": [{\"key\": \"s\", \"match\": {\"except\": [\"x\"]}}]}", "010000");
    filter_case("{\"must\": [{\"key\": \"tags\", \"match\": {\"except\": [\"red\"]}}]}",
                "110000");
    filter_case("{\"must_not\": [{\"key\": \"tags\", \"match\": {\"except\": [\"red\"]}}]}",
                "001111");
    filter_case("{\"must\": [{\"is_empty\": {\"key\": \"tags\"}}]}", "001111");
    filter_case("{\"must\": [{\"key\": \"a\", \"match\": {\"any\": []}}]}", "000000");
    filter_case("{\"must\": [{\"key\": \"a\", \"match\": {\"except\": []}}]}", "111001");
    filter_case("{\"must\": [{\"key\": \"a\", \"range\": {\"gte\": 2, \"lt\": 4}}]}", "011000");
    filter_case("{\"must\": [{\"key\": \"a\", \"range\": {\"gt\": -5, \"lte\": null}}]}",
                "111001");
    filter_case("{\"must\": [{\"key\": \"a\", \"range\": {}}]}", "111001");
    filter_case("{\"must\": [{\"is_empty\": {\"key\": \"opt\"}}]}", "110111");
    filter_case("{\"must\": [{\"is_null\": {\"key\": \"opt\"}}]}", "010000");
    filter_case("{\"must\": [{\"key\": \"opt\", \"is_empty\": false}]}", "001000");
    filter_case("{\"must\": [{\"key\": \"opt\", \"is_null\": true}]}", "010000");
    filter_case("{\"must\": [{\"key\": \"m.b\", \"match\": {\"value\": \"q\"}}]}", "100000");
    filter_case("{\"must\": [{\"is_null\": {\"key\": \"m.b\"}}]}", "000001");
    filter_case("{\"must\": [{\"key\": \"tags\", \"match\": {\"value\": \"red\"}}]}", "100000");
    filter_case("{\"must\": [{\"key\": \"flag\", \"match\": {\"value\": true}}]}", "000001");
    filter_case("{\"must\": [{\"should\": [{\"key\": \"a\", \"match\": {\"value\": 1}},"
                " {\"key\": \"a\", \"match\": {\"value\": 2}}]},"
                " {\"must_not\": [{\"key\": \"s\", \"match\": {\"value\": \"y\"}}]}]}",
                "100000");
    filter_case("{\"must\": [{\"key\": \"a\", \"match\": {\"value\": 1}, \"range\": {\"lt\": 0}}]}",
                "100001");
    /* has_id anywhere (point i has id i) */
    filter_case("{\"should\": [{\"has_id\": [1, 3]}, {\"key\": \"s\", \"match\": {\"value\": \"x\"}}]}",
                "110101");
    filter_case("{\"must_not\": [{\"has_id\": [0, 5]}]}", "011110");
    filter_case("{\"must\": [{\"must\": [{\"has_id\": [2, 9]}]}]}", "001000");
    filter_case("{\"must\": [{\"has_id\": [0, 1, 2]}, {\"must_not\": {\"has_id\": [1]}}]}", "101000");
    filter_case("{\"must\": [{\"has_id\": []}]}", "000000");
    filter_case("{\"must\": [{\"has_id\": [0, 1, 2, 3]}, {\"has_id\": [2, 3, 5]}]}", "001100");
    filter_case("{\"should\": [], \"must\": null}", "111111");
    filter_case("{}", "111111");
    filter_case("{\"must\": [{}]}", "111111");

    /* has_id in the top-level must: the shortest list is also out.ids (the
     * points fetched by id), the filter holds them all */
    json_t *q = json_loads("{\"must\": [{\"has_id\": [1, \"936DA01F9ABD4D9D80C702AF85C822A8\", 7]},"
                           " {\"has_id\": [7, 1, 3]}, {\"key\": \"a\", \"match\": {\"value\": 1}}]}",
                           0, NULL);
    ak_qfilter out;
    AKT_OK(ak_qdrant_filter(q, &out));
    char *ids = json_dumps(out.ids, JSON_COMPACT), *f = json_dumps(out.filter, JSON_COMPACT);
    AKT_EQ_STR(ids, "[\"1\",\"936da01f-9abd-4d9d-80c7-02af85c822a8\",\"7\"]");
    AKT_EQ_STR(f, "{\"and\":[{\"$id\":{\"in\":[\"1\",\"936da01f-9abd-4d9d-80c7-02af85c822a8\",\"7\"]}},"
               "{\"$id\":{\"in\":[\"7\",\"1\",\"3\"]}},{\"a\":1}]}");
    free(ids);
    free(f);
    ak_qfilter_clear(&out);
    json_decref(q);
    q = json_loads("{\"must\": [{\"has_id\": [5, 6, 7]}, {\"has_id\": [6, 7]},"
                   " {\"must\": {\"has_id\": [8]}}]}", 0, NULL);
    AKT_OK(ak_qdrant_filter(q, &out));
    ids = json_dumps(out.ids, JSON_COMPACT);
    AKT_EQ_STR(ids, "[\"6\",\"7\"]");   /* a nested has_id is no top-level one */
    free(ids);
    ak_qfilter_clear(&out);
    json_decref(q);
    q = json_loads("{\"must\": {\"has_id\": [5]}}", 0, NULL);
    AKT_OK(ak_qdrant_filter(q, &out));
    AKT_TRUE(out.filter != NULL && json_array_size(out.ids) == 1);
    ak_qfilter_clear(&out);
    json_decref(q);
    AKT_OK(ak_qdrant_filter(NULL, &out));
    AKT_TRUE(out.filter == NULL && out.ids == NULL);
}

static void refused(const char *qf, const char *msg)
{
    json_t *q = json_loads(qf, 0, NULL);
    if (!q)
        AKT_FAIL_("bad test filter %s", qf);
    ak_qfilter out;
    AKT_STATUS(ak_qdrant_filter(q, &out), AKIDB_EINVAL);
    AKT_TRUE(out.filter == NULL && out.ids == NULL);
    AKT_CONTAINS(akidb_last_error(), msg);
    json_decref(q);
}

AKT_TEST(refusals)
{
    refused("{\"must\": [{\"key\": \"t\", \"match\": {\"text\": \"a b\"}}]}",
            "filter.must[0].match.text: full-text");
    refused("{\"should\": [{\"key\": \"t\", \"match\": {\"phrase\": \"a b\"}}]}",
            "filter.should[0].match.phrase");
    refused("{\"must\": [{\"key\": \"d\", \"range\": {\"gt\": \"2024-01-01T00:00:00Z\"}}]}",
            "filter.must[0].range.gt: datetime");
    refused("{\"must\": [{\"key\": \"g\", \"geo_radius\": {\"center\": {\"lon\": 0, \"lat\": 0},"
            " \"radius\": 1}}]}", "filter.must[0].geo_radius");
    refused("{\"must\": [{\"key\": \"g\", \"values_count\": {\"gt\": 1}}]}",
            "filter.must[0].values_count");
    refused("{\"must\": [{\"nested\": {\"key\": \"arr\", \"filter\": {}}}]}",
            "filter.must[0].nested");
    refused("{\"must\": [{\"has_vector\": \"v\"}]}", "filter.must[0].has_vector");
    refused("{\"should\": [{\"has_id\": [1, -2]}]}", "filter.should[0].has_id[1]");
    refused("{\"must\": [{\"must\": [{\"has_id\": 1}]}]}", "filter.must[0].must[0].has_id");
    refused("{\"must\": [{\"key\": \"s\", \"match\": {\"any\": [\"x\", 1]}}]}",
            "filter.must[0].match.any[1]: the values must be all strings");
    refused("{\"must\": [{\"key\": \"$id\", \"match\": {\"value\": 1}}]}", "$id");
    refused("{\"must\": [{\"has_id\": [\"nope\"]}]}", "filter.must[0].has_id[0]");
    refused("{\"min_should\": {\"conditions\": [], \"min_count\": 1}}", "filter.min_should");
    refused("{\"must\": [{\"key\": \"arr[].x\", \"match\": {\"value\": 1}}]}", "arr[].x");
    refused("{\"must\": [{\"key\": \"and\", \"match\": {\"value\": 1}}]}", "and / or / not");
    refused("{\"must\": [{\"key\": \"or.x\", \"match\": {\"value\": 1}}]}", "and / or / not");
    refused("{\"must\": [{\"key\": \"a\", \"match\": {\"value\": 1.5}}]}",
            "filter.must[0].match.value");
    refused("{\"must\": [{\"key\": \"a\", \"match\": {\"any\": [1, 2.5]}}]}",
            "filter.must[0].match.any[1]");
    refused("{\"must\": [{\"key\": \"a\"}]}", "needs match, range");
    refused("{\"must\": [{\"key\": \"a\", \"mtch\": {}}]}", "unknown field 'mtch'");
    refused("{\"must\": [{\"key\": \"\", \"match\": {\"value\": 1}}]}", "filter.must[0].key");
    refused("{\"mustnot\": []}", "filter.mustnot: unknown filter field");
    refused("{\"must\": 3}", "filter.must must be a condition or an array");
    refused("{\"must\": [{\"foo\": 1}]}", "filter.must[0]: unknown condition");

    char deep[4096] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "{\"must\": [");
    strcat(deep, "{}");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]}");
    refused(deep, "nest at most");
}

/* ---- the official client against `akidb serve` -------------------------------------------- */

static const char *src_dir(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

#define ADMIN_KEY "ak_qdrant_test_admin_key_0123456789"

/* A model folder of the committed tiny BERT with the MiniLM tokenizer. */
static void make_model(const char *dir)
{
    static const char *const tiny[] = {"config.json", "model.safetensors", "modules.json",
                                       "1_Pooling"};
    static const char *const tok[] = {"tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                      "special_tokens_map.json"};
    char src[PATH_MAX], abs_src[PATH_MAX], from[PATH_MAX * 2], to[PATH_MAX * 2];
    AKT_TRUE(mkdir(dir, 0700) == 0);
    for (int s = 0; s < 2; s++) {
        snprintf(src, sizeof src, "%s/%s", src_dir(),
                 s == 0 ? "tests/golden/tiny/tiny_f16" : "tests/data/minilm");
        AKT_TRUE(realpath(src, abs_src) != NULL);
        for (size_t i = 0; i < 4; i++) {
            snprintf(from, sizeof from, "%s/%s", abs_src, s == 0 ? tiny[i] : tok[i]);
            snprintf(to, sizeof to, "%s/%s", dir, s == 0 ? tiny[i] : tok[i]);
            AKT_TRUE(symlink(from, to) == 0);
        }
    }
}

/* Starts `akidb serve` on a free port; returns its pid, the port in *port
 * (0 when it did not start), its stderr in log. */
static pid_t serve(const char *bin, const char *data, const char *model, const char *log,
                   int *port)
{
    pid_t pid = fork();
    AKT_TRUE(pid >= 0);
    if (pid == 0) {
        if (!freopen(log, "w", stderr) || setenv("AKIDB_ADMIN_KEY", ADMIN_KEY, 1) != 0)
            _exit(126);
        execl(bin, "akidb", "serve", "--data", data, "--model", model, "--port", "0",
              "--no-model-scan", "--auth", "on", "--threads", "1", (char *)NULL);
        _exit(127);
    }
    static const char tag[] = "listening on http://127.0.0.1:";
    *port = 0;
    for (int i = 0; i < 600 && !*port; i++) {
        usleep(50000);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, tag);
            if (p)
                *port = atoi(p + sizeof tag - 1);
        }
        if (f)
            fclose(f);
    }
    return pid;
}

/* Runs tests/ref/SCRIPT with node against `akidb serve` (auth on, the tiny
 * model as "tiny"), skipped when node or the npm package pkg is missing. */
static void run_client(const char *script, const char *pkg_name)
{
    const char *bin = getenv("AKIDB_BIN");
    const char *tr = getenv("AKIDB_TOKREF_DIR");
    char mods[PATH_MAX], pkg[PATH_MAX + 64];
    if (tr && !*tr) {
        printf("  SKIP %s: AKIDB_TOKREF_DIR is empty\n", script);
        AKT_TRUE(1);
        return;
    }
    snprintf(mods, sizeof mods, "%s", tr ? tr : "");
    if (!tr)
        snprintf(mods, sizeof mods, "%s/tests/ref/node_modules", src_dir());
    snprintf(pkg, sizeof pkg, "%s/%s/package.json", mods, pkg_name);
    if (!bin || system("node --version > /dev/null 2>&1") != 0 || access(pkg, R_OK) != 0) {
        printf("  SKIP %s: needs node, AKIDB_BIN and %s in %s "
               "(cd tests/ref && npm install --ignore-scripts)\n", script, pkg_name, mods);
        AKT_TRUE(1);
        return;
    }
    /* the script runs from a scratch folder whose node_modules is mods */
    char tmp[PATH_MAX];   /* a folder of its own per script */
    snprintf(tmp, sizeof tmp, "%s/%.*s", akt_tmpdir("akidb_qdrant_"),
             (int)strcspn(script, "."), script);
    AKT_TRUE(mkdir(tmp, 0700) == 0);
    char model[PATH_MAX + 8], data[PATH_MAX + 8], log[PATH_MAX + 16], link[PATH_MAX + 16];
    char abs_mods[PATH_MAX], cmd[PATH_MAX * 4];
    snprintf(model, sizeof model, "%s/tiny", tmp);
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(log, sizeof log, "%s/serve.log", tmp);
    snprintf(link, sizeof link, "%s/node_modules", tmp);
    AKT_TRUE(realpath(mods, abs_mods) != NULL);
    AKT_TRUE(symlink(abs_mods, link) == 0);
    snprintf(cmd, sizeof cmd, "cp '%s/tests/ref/%s' '%s/'", src_dir(), script, tmp);
    AKT_EQ_INT(system(cmd), 0);
    make_model(model);
    char spec[PATH_MAX + 16];
    snprintf(spec, sizeof spec, "tiny=%s", model);
    int port;
    pid_t pid = serve(bin, data, spec, log, &port);
    if (!port) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        AKT_FAIL_("akidb serve did not start (see %s)", log);
    }
    snprintf(cmd, sizeof cmd, "QDRANT_API_KEY=%s node '%s/%s' http://127.0.0.1:%d tiny",
             ADMIN_KEY, tmp, script, port);
    int rc = system(cmd);
    kill(pid, SIGTERM);
    int ws = 0;
    waitpid(pid, &ws, 0);
    AKT_EQ_INT(rc, 0);
    AKT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

AKT_TEST(client)
{
    run_client("qdrant_client.mjs", "@qdrant/js-client-rest");
}

/* LangChain's QdrantVectorStore with OpenAIEmbeddings pointed at the
 * server's /v1/embeddings (tests/ref/langchain_client.mjs): fromTexts,
 * similaritySearch with and without filters, delete by ids and by filter,
 * each answer compared with brute-force cosine over the server's vectors. */
AKT_TEST(langchain)
{
    run_client("langchain_client.mjs", "@langchain/qdrant");
}

AKT_MAIN(AKT_REG(ids), AKT_REG(filters), AKT_REG(filter_values), AKT_REG(refusals),
         AKT_REG(client), AKT_REG(langchain))
