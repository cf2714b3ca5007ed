/*
 * test_filter.c - the payload filter language: parse errors name the bad
 * part; random filters over random payloads agree with a brute-force oracle
 * that interprets the filter JSON directly (both through the matcher and
 * through akidb_points_count / filtered exact search of a store).
 */
#include "akt.h"
#include "common/common.h"
#include "store/filter.h"
#include "test_store_util.h"

#include <jansson.h>

static bool matches(const char *filter, const char *payload)
{
    ak_filter *f = NULL;
    if (ak_filter_parse(filter, strlen(filter), &f) != AKIDB_OK) {
        fprintf(stderr, "parse %s: %s\n", filter, akidb_last_error());
        abort();
    }
    json_t *p = payload ? json_loads(payload, 0, NULL) : NULL;
    bool r = ak_filter_match(f, p);
    json_decref(p);
    ak_filter_free(f);
    return r;
}

AKT_TEST(basic_semantics)
{
    const char *p = "{\"lang\":\"en\",\"year\":2021,\"tags\":[\"red\",\"big\"],\"meta\":{\"src\":\"web\",\"n\":null},\"ok\":true}";
    AKT_TRUE(matches("{}", p));
    AKT_TRUE(matches("{}", NULL));
    AKT_TRUE(matches("{\"lang\": \"en\"}", p));
    AKT_FALSE(matches("{\"lang\": \"de\"}", p));
    AKT_TRUE(matches("{\"year\": 2021.0}", p));
    AKT_FALSE(matches("{\"year\": \"2021\"}", p));
    AKT_TRUE(matches("{\"year\": {\"gte\": 2020, \"lt\": 2022}}", p));
    AKT_FALSE(matches("{\"year\": {\"gt\": 2021}}", p));
    AKT_TRUE(matches("{\"year\": {\"lte\": 2021}}", p));
    AKT_FALSE(matches("{\"lang\": {\"gt\": 0}}", p));
    AKT_TRUE(matches("{\"tags\": \"red\"}", p));
    AKT_TRUE(matches("{\"tags\": {\"in\": [\"blue\", \"big\"]}}", p));
    AKT_FALSE(matches("{\"tags\": {\"in\": []}}", p));
    AKT_TRUE(matches("{\"meta.src\": \"web\"}", p));
    AKT_TRUE(matches("{\"meta.n\": null}", p));
    AKT_TRUE(matches("{\"meta.n\": {\"exists\": true}}", p));
    AKT_FALSE(matches("{\"meta.x\": {\"exists\": true}}", p));
    AKT_TRUE(matches("{\"meta.x\": {\"exists\": false}}", p));
    AKT_TRUE(matches("{\"ok\": true}", p));
    AKT_FALSE(matches("{\"ok\": 1}", p));
    AKT_TRUE(matches("{\"or\": [{\"lang\": \"de\"}, {\"year\": 2021}]}", p));
    AKT_FALSE(matches("{\"and\": [{\"lang\": \"de\"}, {\"year\": 2021}]}", p));
    AKT_TRUE(matches("{\"not\": {\"lang\": \"de\"}}", p));
    AKT_TRUE(matches("{\"and\": []}", p));
    AKT_FALSE(matches("{\"or\": []}", p));
    AKT_FALSE(matches("{\"lang\": \"en\"}", NULL));
    AKT_TRUE(matches("{\"not\": {\"lang\": \"en\"}}", NULL));
}

AKT_TEST(parse_errors)
{
    static const char *bad[][2] = {
        { "[1]", "JSON object" },
        { "{\"a\": [1, 2]}", "'a'" },
        { "{\"a\": {\"between\": 1}}", "between" },
        { "{\"a\": {\"gt\": \"x\"}}", "gt" },
        { "{\"a\": {\"in\": 3}}", "in" },
        { "{\"a\": {\"exists\": 1}}", "exists" },
        { "{\"and\": {}}", "and" },
        { "{\"not\": []}", "not" },
        { "{\"a..b\": 1}", "a..b" },
        { "{\"\": 1}", "empty" },
        { "{\"a\": {}}", "empty" },
        { "{\"a\": 1", "line 1" },
        { "{\"a\": {\"gt\": 1, \"gte\": 2}}", "gt" },
        { "{\"a\": {\"in\": [[1]]}}", "array" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        AKT_STATUS(akidb_filter_validate(bad[i][0]), AKIDB_EINVAL);
        AKT_CONTAINS(akidb_last_error(), bad[i][1]);
    }
    /* deep nesting is refused, not a stack overflow */
    char deep[2000] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "{\"not\":");
    strcat(deep, "{}");
    for (int i = 0; i < 100; i++)
        strcat(deep, "}");
    AKT_STATUS(akidb_filter_validate(deep), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "deeper");
    AKT_OK(akidb_filter_validate("{\"a\": {\"gte\": 1, \"lt\": 5, \"exists\": true}}"));
    /* the clause budget: 4096 pass, one more is refused naming the limit,
     * and a 900k-clause filter is refused without compiling it */
    for (int extra = 0; extra < 2; extra++) {
        size_t n = (size_t)(extra ? 900000 : 4095);   /* + the "and" key */
        char *f = malloc(16 * n + 32);
        size_t k = (size_t)sprintf(f, "{\"and\":[");
        for (size_t i = 0; i < n; i++)
            k += (size_t)sprintf(f + k, "%s{\"a\":%zu}", i ? "," : "", i % 10);
        sprintf(f + k, "]}");
        if (extra) {
            AKT_STATUS(akidb_filter_validate(f), AKIDB_EINVAL);
            AKT_CONTAINS(akidb_last_error(), "more than 4096 clauses");
        } else {
            AKT_OK(akidb_filter_validate(f));
            f[k - 0] = '\0';
            sprintf(f + k, ",{\"b\":1}]}");
            AKT_STATUS(akidb_filter_validate(f), AKIDB_EINVAL);
            AKT_CONTAINS(akidb_last_error(), "more than 4096 clauses");
        }
        free(f);
    }
}

/* "empty", "except" and "$id" (point ids: ak_filter_match_point). */
static bool matches_id(const char *filter, const char *id, const char *payload)
{
    ak_filter *f = NULL;
    if (ak_filter_parse(filter, strlen(filter), &f) != AKIDB_OK) {
        fprintf(stderr, "parse %s: %s\n", filter, akidb_last_error());
        abort();
    }
    json_t *p = payload ? json_loads(payload, 0, NULL) : NULL;
    bool r = ak_filter_match_point(f, id, strlen(id), p);
    json_decref(p);
    ak_filter_free(f);
    return r;
}

AKT_TEST(empty_except_ids)
{
    const char *p = "{\"e\":[],\"z\":null,\"t\":[\"a\",\"b\"],\"s\":\"a\",\"nz\":[null],\"n\":3}";
    AKT_TRUE(matches("{\"e\": {\"empty\": true}}", p));
    AKT_TRUE(matches("{\"z\": {\"empty\": true}}", p));
    AKT_TRUE(matches("{\"missing\": {\"empty\": true}}", p));
    AKT_TRUE(matches("{\"missing\": {\"empty\": true}}", NULL));
    AKT_FALSE(matches("{\"nz\": {\"empty\": true}}", p));
    AKT_FALSE(matches("{\"s\": {\"empty\": true}}", p));
    AKT_TRUE(matches("{\"t\": {\"empty\": false}}", p));
    AKT_FALSE(matches("{\"e\": {\"empty\": false}}", p));
    AKT_TRUE(matches("{\"t\": {\"except\": [\"a\"]}}", p));        /* through "b" */
    AKT_FALSE(matches("{\"t\": {\"except\": [\"a\", \"b\"]}}", p));
    AKT_FALSE(matches("{\"s\": {\"except\": [\"a\"]}}", p));
    AKT_TRUE(matches("{\"n\": {\"except\": [\"a\"]}}", p));
    AKT_FALSE(matches("{\"n\": {\"except\": [3]}}", p));
    AKT_FALSE(matches("{\"e\": {\"except\": []}}", p));
    AKT_FALSE(matches("{\"z\": {\"except\": []}}", p));
    AKT_FALSE(matches("{\"nz\": {\"except\": []}}", p));
    AKT_FALSE(matches("{\"missing\": {\"except\": []}}", p));
    AKT_TRUE(matches("{\"n\": {\"except\": [1], \"gt\": 2}}", p));
    AKT_FALSE(matches("{\"n\": {\"except\": [1], \"gt\": 5}}", p));
    AKT_TRUE(matches_id("{\"$id\": \"p7\"}", "p7", NULL));
    AKT_FALSE(matches_id("{\"$id\": \"p7\"}", "p70", NULL));
    AKT_TRUE(matches_id("{\"$id\": {\"in\": [\"x\", \"p7\", \"a\"]}}", "p7", p));
    AKT_FALSE(matches_id("{\"$id\": {\"in\": []}}", "p7", p));
    AKT_TRUE(matches_id("{\"not\": {\"$id\": {\"in\": [\"q\"]}}, \"s\": \"a\"}", "p7", p));
    AKT_TRUE(matches_id("{\"or\": [{\"$id\": \"q\"}, {\"s\": \"b\"}]}", "q", p));
    AKT_FALSE(matches("{\"$id\": \"p7\"}", p));   /* no id: never one of them */
    static const char *bad[][2] = {
        { "{\"a\": {\"empty\": 1}}", "'empty' needs true or false" },
        { "{\"a\": {\"except\": 1}}", "'except' needs an array" },
        { "{\"a\": {\"except\": [{}]}}", "object" },
        { "{\"$id\": 5}", "'$id' takes a string id" },
        { "{\"$id\": {\"in\": [1]}}", "id 0 is not a string" },
        { "{\"$id\": {\"eq\": \"x\"}}", "'$id' takes an id or" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        AKT_STATUS(akidb_filter_validate(bad[i][0]), AKIDB_EINVAL);
        AKT_CONTAINS(akidb_last_error(), bad[i][1]);
    }
}

/* ---- oracle ------------------------------------------------------------------ */

static const json_t *lookup(const json_t *p, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = p;
    for (char *seg = strtok(buf, "."); seg && v; seg = strtok(NULL, "."))
        v = json_is_object(v) ? json_object_get(v, seg) : NULL;
    return v;
}

static bool scalar_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) || json_is_object(a))
        return false;
    return json_equal((json_t *)a, (json_t *)b);
}

static bool one_value(const char *op, const json_t *arg, const json_t *v)
{
    if (!strcmp(op, "eq"))
        return scalar_equal(v, arg);
    if (!strcmp(op, "in")) {
        for (size_t i = 0; i < json_array_size(arg); i++)
            if (scalar_equal(v, json_array_get(arg, i)))
                return true;
        return false;
    }
    if (!json_is_number(v))
        return false;
    double x = json_number_value(v), y = json_number_value(arg);
    if (!strcmp(op, "gt")) return x > y;
    if (!strcmp(op, "gte")) return x >= y;
    if (!strcmp(op, "lt")) return x < y;
    return x <= y;
}

static bool oracle(const json_t *f, const json_t *p);

static bool oracle_cond(const char *path, const json_t *c, const json_t *p)
{
    const json_t *v = p ? lookup(p, path) : NULL;
    if (!json_is_object(c)) {
        json_t *w = json_pack("{sO}", "eq", c);
        bool r = oracle_cond(path, w, p);
        json_decref(w);
        return r;
    }
    /* All value operators must hold for one and the same array element. */
    const char *op;
    json_t *arg;
    bool has_value_ops = false;
    json_object_foreach((json_t *)c, op, arg) {
        if (!strcmp(op, "exists")) {
            if ((v != NULL) != json_is_true(arg))
                return false;
        } else {
            has_value_ops = true;
        }
    }
    if (!has_value_ops)
        return true;
    if (!v)
        return false;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        bool all = true;
        json_object_foreach((json_t *)c, op, arg) {
            if (strcmp(op, "exists") && !one_value(op, arg, e))
                all = false;
        }
        if (all)
            return true;
    }
    return false;
}

static bool oracle(const json_t *f, const json_t *p)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)f, k, v) {
        bool r;
        if (!strcmp(k, "and")) {
            r = true;
            for (size_t i = 0; i < json_array_size(v); i++)
                r = r && oracle(json_array_get(v, i), p);
        } else if (!strcmp(k, "or")) {
            r = false;
            for (size_t i = 0; i < json_array_size(v); i++)
                r = r || oracle(json_array_get(v, i), p);
        } else if (!strcmp(k, "not")) {
            r = !oracle(v, p);
        } else {
            r = oracle_cond(k, v, p);
        }
        if (!r)
            return false;
    }
    return true;
}

static const char *FIELDS[] = { "a", "b", "c", "n.x", "tags" };

static json_t *rand_scalar(tsu_rng *r)
{
    switch (tsu_below(r, 5)) {
    case 0: return json_integer(tsu_below(r, 6));
    case 1: return json_real(tsu_below(r, 6) * 0.5);
    case 2: { char s[2] = { (char)('p' + tsu_below(r, 4)), 0 }; return json_string(s); }
    case 3: return json_boolean(tsu_below(r, 2));
    default: return json_null();
    }
}

static json_t *rand_payload(tsu_rng *r)
{
    json_t *p = json_object();
    for (int i = 0; i < 3; i++)
        if (tsu_below(r, 4))
            json_object_set_new(p, FIELDS[i], rand_scalar(r));
    if (tsu_below(r, 2)) {
        json_t *n = json_object();
        if (tsu_below(r, 3))
            json_object_set_new(n, "x", rand_scalar(r));
        json_object_set_new(p, "n", n);
    }
    if (tsu_below(r, 2)) {
        json_t *a = json_array();
        for (uint32_t i = tsu_below(r, 4); i > 0; i--)
            json_array_append_new(a, rand_scalar(r));
        json_object_set_new(p, "tags", a);
    }
    return p;
}

static json_t *rand_filter(tsu_rng *r, int depth)
{
    uint32_t k = tsu_below(r, depth > 2 ? 5 : 8);
    json_t *f = json_object();
    const char *field = FIELDS[tsu_below(r, 5)];
    switch (k) {
    case 0: json_object_set_new(f, field, rand_scalar(r)); break;
    case 1: {
        json_t *a = json_array();
        for (uint32_t i = tsu_below(r, 4); i > 0; i--)
            json_array_append_new(a, rand_scalar(r));
        json_object_set_new(f, field, json_pack("{so}", "in", a));
        break;
    }
    case 2: {
        static const char *ops[] = { "gt", "gte", "lt", "lte" };
        json_t *c = json_object();
        json_object_set_new(c, ops[tsu_below(r, 2)], json_real(tsu_below(r, 7) * 0.5 - 0.5));
        if (tsu_below(r, 2))
            json_object_set_new(c, ops[2 + tsu_below(r, 2)], json_real(tsu_below(r, 7) * 0.5));
        json_object_set_new(f, field, c);
        break;
    }
    case 3: json_object_set_new(f, field, json_pack("{sb}", "exists", (int)tsu_below(r, 2))); break;
    case 4: /* two conditions in one object: implicit and */
        json_object_set_new(f, "a", rand_scalar(r));
        json_object_set_new(f, "b", json_pack("{sb}", "exists", (int)tsu_below(r, 2)));
        break;
    case 5:
    case 6: {
        json_t *a = json_array();
        for (uint32_t i = tsu_below(r, 4); i > 0; i--)
            json_array_append_new(a, rand_filter(r, depth + 1));
        json_object_set_new(f, k == 5 ? "and" : "or", a);
        break;
    }
    default: json_object_set_new(f, "not", rand_filter(r, depth + 1)); break;
    }
    return f;
}

AKT_TEST(random_filters_vs_oracle)
{
    tsu_rng r = { 2024 };
    int n_pay = 200, n_filt = tsu_quick() ? 300 : 2000;
    json_t **pays = malloc((size_t)n_pay * sizeof *pays);
    for (int i = 0; i < n_pay; i++)
        pays[i] = rand_payload(&r);
    size_t agree = 0, hits = 0;
    for (int k = 0; k < n_filt; k++) {
        json_t *fj = rand_filter(&r, 0);
        ak_filter *f;
        AKT_OK(ak_filter_compile(fj, &f));
        for (int i = 0; i < n_pay; i++) {
            bool want = oracle(fj, pays[i]);
            bool got = ak_filter_match(f, pays[i]);
            if (want != got) {
                char *a = json_dumps(fj, JSON_COMPACT), *b = json_dumps(pays[i], JSON_COMPACT);
                fprintf(stderr, "  filter %s payload %s: oracle %d matcher %d\n", a, b, want, got);
                free(a);
                free(b);
            }
            AKT_TRUE(want == got);
            agree++;
            hits += got;
        }
        ak_filter_free(f);
        json_decref(fj);
    }
    fprintf(stderr, "  %zu filter/payload pairs agree (%zu matches)\n", agree, hits);
    AKT_TRUE(hits > agree / 20 && hits < agree - agree / 20);   /* not degenerate */
    for (int i = 0; i < n_pay; i++)
        json_decref(pays[i]);
    free(pays);
}

AKT_TEST(store_count_and_search_vs_oracle)
{
    char *dir = tsu_tmpdir("filt");
    akidb_store_opts o = tsu_fast_opts();
    o.log = tsu_quiet_log;
    akidb_store *s;
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_OK(akidb_tenant_create(s, "t"));
    akidb_collection_opts co = { 0 };
    co.dim = 4;
    co.metric = AKIDB_METRIC_L2;
    AKT_OK(akidb_collection_create(s, "t", "c", &co));
    tsu_rng r = { 77 };
    int n = 300;
    json_t **pays = malloc((size_t)n * sizeof *pays);
    for (int i = 0; i < n; i++) {
        pays[i] = rand_payload(&r);
        char id[16];
        snprintf(id, sizeof id, "p%d", i);
        float v[4];
        tsu_vec(&r, v, 4);
        char *pj = json_dumps(pays[i], JSON_COMPACT);
        akidb_point_in p = { id, v, NULL, tsu_below(&r, 10) ? pj : NULL };
        if (!p.payload) {
            json_decref(pays[i]);
            pays[i] = NULL;
        }
        AKT_OK(akidb_points_upsert(s, "t", "c", &p, NULL, 1));
        free(pj);
    }
    for (int k = 0; k < (tsu_quick() ? 50 : 200); k++) {
        json_t *fj = rand_filter(&r, 0);
        char *fs = json_dumps(fj, JSON_COMPACT);
        size_t want = 0;
        for (int i = 0; i < n; i++)
            want += oracle(fj, pays[i]);
        uint64_t got;
        AKT_OK(akidb_points_count(s, "t", "c", fs, &got));
        AKT_EQ_INT(got, want);
        float q[4] = { 0, 0, 0, 0 };
        akidb_search_req req = {.vector = q, .dim = 4, .top_k = 1000, .filter_json = fs};
        akidb_points res;
        AKT_OK(akidb_search(s, "t", "c", &req, &res));
        AKT_EQ_INT(res.n, want);
        for (size_t i = 0; i < res.n; i++)
            AKT_TRUE(oracle(fj, pays[atoi(res.items[i].id + 1)]));
        akidb_points_free(&res);
        free(fs);
        json_decref(fj);
    }
    for (int i = 0; i < n; i++)
        json_decref(pays[i]);
    free(pays);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

AKT_MAIN(AKT_REG(basic_semantics), AKT_REG(parse_errors), AKT_REG(empty_except_ids),
         AKT_REG(random_filters_vs_oracle),
         AKT_REG(store_count_and_search_vs_oracle))
