/*
 * test_store.c - the store's public API: catalog, point validation, upsert /
 * get / delete / count / scroll against an in-memory model across close and
 * reopen, HNSW recall against exact search (random and clustered data,
 * unfiltered and filtered at 50/10/1 % selectivity), allocation failures, and
 * batch ingest throughput.
 */
#include "akt.h"
#include "common/common.h"
#include "test_store_util.h"

#include <math.h>

static akidb_store *open_store(const char *dir)
{
    akidb_store_opts o = tsu_fast_opts();
    o.log = tsu_quiet_log;
    akidb_store *s = NULL;
    if (akidb_store_open(dir, &o, &s) != AKIDB_OK) {
        fprintf(stderr, "open %s: %s\n", dir, akidb_last_error());
        abort();
    }
    return s;
}

static void make_coll(akidb_store *s, const char *t, const char *c, uint32_t dim, akidb_metric m)
{
    akidb_collection_opts o = { 0 };
    o.dim = dim;
    o.metric = m;
    if (akidb_collection_create(s, t, c, &o) != AKIDB_OK) {
        fprintf(stderr, "create %s/%s: %s\n", t, c, akidb_last_error());
        abort();
    }
}

AKT_TEST(catalog)
{
    char *dir = tsu_tmpdir("cat");
    akidb_store *s = open_store(dir);
    AKT_OK(akidb_tenant_create(s, "acme"));
    AKT_OK(akidb_tenant_create(s, "beta"));
    AKT_STATUS(akidb_tenant_create(s, "acme"), AKIDB_EEXIST);
    AKT_STATUS(akidb_tenant_create(s, "bad name"), AKIDB_EINVAL);
    AKT_STATUS(akidb_tenant_create(s, ""), AKIDB_EINVAL);
    AKT_STATUS(akidb_tenant_create(s, ".hidden"), AKIDB_EINVAL);
    akidb_names nm;
    AKT_OK(akidb_tenant_list(s, &nm));
    AKT_EQ_INT(nm.n, 2);
    AKT_EQ_STR(nm.names[0], "acme");
    akidb_names_free(&nm);

    akidb_collection_opts o = { 0 };
    o.dim = 8;
    o.metric = AKIDB_METRIC_DOT;
    o.model = "all-MiniLM-L6-v2";
    AKT_OK(akidb_collection_create(s, "acme", "docs", &o));
    AKT_STATUS(akidb_collection_create(s, "acme", "docs", &o), AKIDB_EEXIST);
    AKT_OK(akidb_collection_create(s, "beta", "docs", &o));
    AKT_STATUS(akidb_collection_create(s, "nope", "docs", &o), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "nope");
    o.dim = 0;
    AKT_STATUS(akidb_collection_create(s, "acme", "d0", &o), AKIDB_ERANGE);
    o.dim = 4097;
    AKT_STATUS(akidb_collection_create(s, "acme", "d1", &o), AKIDB_ERANGE);
    o.dim = 4096;
    AKT_OK(akidb_collection_create(s, "acme", "big", &o));
    o.dim = 4;
    o.hnsw_m = 1;
    AKT_STATUS(akidb_collection_create(s, "acme", "m1", &o), AKIDB_ERANGE);

    akidb_collection_info info;
    AKT_OK(akidb_collection_get_info(s, "acme", "docs", &info));
    AKT_EQ_INT(info.dim, 8);
    AKT_EQ_INT(info.metric, AKIDB_METRIC_DOT);
    AKT_EQ_STR(info.model, "all-MiniLM-L6-v2");
    AKT_EQ_INT(info.hnsw_m, 16);
    AKT_EQ_INT(info.hnsw_ef_construction, 200);
    AKT_STATUS(akidb_collection_get_info(s, "acme", "zzz", &info), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "zzz");
    AKT_OK(akidb_collection_list(s, "acme", &nm));
    AKT_EQ_INT(nm.n, 2);
    AKT_EQ_STR(nm.names[0], "big");
    AKT_EQ_STR(nm.names[1], "docs");
    akidb_names_free(&nm);

    AKT_OK(akidb_collection_delete(s, "acme", "big"));
    AKT_STATUS(akidb_collection_delete(s, "acme", "big"), AKIDB_ENOENT);
    AKT_OK(akidb_tenant_delete(s, "beta"));
    AKT_STATUS(akidb_collection_get_info(s, "beta", "docs", &info), AKIDB_ENOENT);
    AKT_OK(akidb_store_close(s));

    /* Catalog survives reopen, from the snapshot and from the WAL. */
    for (int round = 0; round < 2; round++) {
        akidb_store_opts so = tsu_fast_opts();
        so.log = tsu_quiet_log;
        so.no_snapshot_on_close = true;
        AKT_OK(akidb_store_open(dir, &so, &s));
        AKT_OK(akidb_tenant_list(s, &nm));
        AKT_EQ_INT(nm.n, 1);
        AKT_EQ_STR(nm.names[0], "acme");
        akidb_names_free(&nm);
        AKT_OK(akidb_collection_get_info(s, "acme", "docs", &info));
        AKT_EQ_STR(info.model, "all-MiniLM-L6-v2");
        AKT_STATUS(akidb_collection_get_info(s, "acme", "big", &info), AKIDB_ENOENT);
        AKT_OK(akidb_tenant_create(s, round ? "r1" : "r0"));
        AKT_OK(akidb_tenant_delete(s, round ? "r1" : "r0"));
        AKT_OK(akidb_store_close(s));
    }
    /* A second open of the same directory is refused. */
    akidb_store *s2;
    s = open_store(dir);
    AKT_STATUS(akidb_store_open(dir, NULL, &s2), AKIDB_EBUSY);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(point_validation)
{
    char *dir = tsu_tmpdir("val");
    akidb_store *s = open_store(dir);
    AKT_OK(akidb_tenant_create(s, "t"));
    make_coll(s, "t", "c", 4, AKIDB_METRIC_COSINE);
    float ok[4] = { 1, 2, 3, 4 }, zero[4] = { 0 }, nan4[4] = { 1, NAN, 0, 0 }, inf4[4] = { INFINITY, 0, 0, 0 };
    akidb_point_in p = { "a", ok, "hello", "{\"k\": 1}" };
    AKT_OK(akidb_points_upsert(s, "t", "c", &p, NULL, 1));
    uint32_t d3 = 3;
    p.id = "dimbad";
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, &d3, 1), AKIDB_EDIM);
    AKT_CONTAINS(akidb_last_error(), "dimbad");
    p.id = "nanpoint";
    p.vector = nan4;
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, NULL, 1), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "nanpoint");
    AKT_CONTAINS(akidb_last_error(), "NaN");
    p.id = "infpoint";
    p.vector = inf4;
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, NULL, 1), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "infpoint");
    p.id = "zeropoint";
    p.vector = zero;
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, NULL, 1), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "zeropoint");
    p.vector = ok;
    p.id = "badjson";
    p.payload = "{\"k\": ";
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, NULL, 1), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "badjson");
    p.payload = "[1,2]";
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, NULL, 1), AKIDB_EINVAL);
    p.payload = NULL;
    char longid[200];
    memset(longid, 'x', 129);
    longid[129] = 0;
    p.id = longid;
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, NULL, 1), AKIDB_EINVAL);
    longid[128] = 0;
    AKT_OK(akidb_points_upsert(s, "t", "c", &p, NULL, 1));   /* 128 bytes is fine */
    p.id = "";
    AKT_STATUS(akidb_points_upsert(s, "t", "c", &p, NULL, 1), AKIDB_EINVAL);
    akidb_point_in two[2] = { { "dup", ok, NULL, NULL }, { "dup", ok, NULL, NULL } };
    AKT_STATUS(akidb_points_upsert(s, "t", "c", two, NULL, 2), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "dup");
    /* A failed batch applies nothing. */
    akidb_point_in mixed[2] = { { "good", ok, NULL, NULL }, { "bad", nan4, NULL, NULL } };
    AKT_STATUS(akidb_points_upsert(s, "t", "c", mixed, NULL, 2), AKIDB_EINVAL);
    uint64_t n;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &n));
    AKT_EQ_INT(n, 2);
    AKT_STATUS(akidb_points_upsert(s, "t", "nope", &p, NULL, 1), AKIDB_ENOENT);

    /* Search validation. */
    akidb_search_req q = { 0 };
    q.vector = ok;
    q.dim = 3;
    q.top_k = 5;
    akidb_points res;
    AKT_STATUS(akidb_search(s, "t", "c", &q, &res), AKIDB_EDIM);
    q.dim = 4;
    q.top_k = 0;
    AKT_STATUS(akidb_search(s, "t", "c", &q, &res), AKIDB_EINVAL);
    q.top_k = 5;
    q.filter_json = "{\"k\": {\"between\": 1}}";
    AKT_STATUS(akidb_search(s, "t", "c", &q, &res), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "between");
    q.filter_json = NULL;
    q.with = AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT | AKIDB_WITH_VECTOR;
    AKT_OK(akidb_search(s, "t", "c", &q, &res));
    AKT_EQ_INT(res.n, 2);
    AKT_EQ_STR(res.items[0].id, "a");
    AKT_NEAR(res.items[0].score, 1.0, 1e-5);
    AKT_EQ_STR(res.items[0].text, "hello");
    AKT_EQ_STR(res.items[0].payload, "{\"k\":1}");
    /* cosine: the stored vector is the unit-length one */
    AKT_NEAR(res.items[0].vector[3], 4 / sqrt(30.0), 1e-5);
    akidb_points_free(&res);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(scores_per_metric)
{
    char *dir = tsu_tmpdir("metric");
    akidb_store *s = open_store(dir);
    AKT_OK(akidb_tenant_create(s, "t"));
    make_coll(s, "t", "l2", 2, AKIDB_METRIC_L2);
    make_coll(s, "t", "dot", 2, AKIDB_METRIC_DOT);
    float a[2] = { 1, 0 }, b[2] = { 3, 0 }, q[2] = { 2, 0 }, z[2] = { 0, 0 };
    akidb_point_in p[3] = { { "a", a, NULL, NULL }, { "b", b, NULL, NULL }, { "z", z, NULL, NULL } };
    AKT_OK(akidb_points_upsert(s, "t", "l2", p, NULL, 3));   /* zero vector fine for l2 */
    AKT_OK(akidb_points_upsert(s, "t", "dot", p, NULL, 3));
    akidb_search_req r = {.vector = q, .dim = 2, .top_k = 3};
    akidb_points res;
    AKT_OK(akidb_search(s, "t", "l2", &r, &res));
    AKT_EQ_INT(res.n, 3);
    AKT_NEAR(res.items[0].score, -1.0, 1e-6);   /* negated squared distance */
    AKT_NEAR(res.items[2].score, -4.0, 1e-6);
    AKT_EQ_STR(res.items[2].id, "z");
    akidb_points_free(&res);
    AKT_OK(akidb_search(s, "t", "dot", &r, &res));
    AKT_EQ_STR(res.items[0].id, "b");
    AKT_NEAR(res.items[0].score, 6.0, 1e-6);
    akidb_points_free(&res);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

/* ---- property test against a model --------------------------------------- */

#define PM_IDS 300
#define PM_DIM 6

typedef struct model_pt {
    bool present;
    uint32_t ver;          /* determines vector, text and payload */
    bool has_text, has_payload;
} model_pt;

static void pm_id(int k, char *buf) { snprintf(buf, 32, "id-%04d-%s", k, (k % 3) ? "x" : "long-suffix"); }

static void pm_vec(int k, uint32_t ver, float *v)
{
    tsu_rng r = { (uint64_t)k * 1000003u + ver };
    tsu_vec(&r, v, PM_DIM);
}

static void pm_payload(int k, uint32_t ver, char *buf)
{
    snprintf(buf, 128, "{\"k\":%d,\"ver\":%u,\"even\":%s}", k, ver, (k % 2) ? "false" : "true");
}

static void pm_text(int k, uint32_t ver, char *buf) { snprintf(buf, 64, "text %d v%u", k, ver); }

static void check_model(akidb_store *s, const model_pt *m)
{
    size_t live = 0;
    for (int k = 0; k < PM_IDS; k++)
        live += m[k].present;
    uint64_t n;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &n));
    AKT_EQ_INT(n, live);
    uint64_t n_even;
    size_t live_even = 0;
    for (int k = 0; k < PM_IDS; k += 2)
        live_even += m[k].present && m[k].has_payload;
    AKT_OK(akidb_points_count(s, "t", "c", "{\"even\": true}", &n_even));
    AKT_EQ_INT(n_even, live_even);
    /* get every id */
    for (int k = 0; k < PM_IDS; k++) {
        char id[32];
        pm_id(k, id);
        const char *ids[1] = { id };
        akidb_points r;
        AKT_OK(akidb_points_get(s, "t", "c", ids, 1, AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT | AKIDB_WITH_VECTOR, &r));
        AKT_EQ_INT(r.n, m[k].present);
        if (r.n) {
            float v[PM_DIM];
            pm_vec(k, m[k].ver, v);
            for (int i = 0; i < PM_DIM; i++)
                AKT_TRUE(r.items[0].vector[i] == v[i]);
            char buf[128];
            if (m[k].has_payload) {
                pm_payload(k, m[k].ver, buf);
                AKT_EQ_STR(r.items[0].payload, buf);
            } else {
                AKT_TRUE(r.items[0].payload == NULL);
            }
            if (m[k].has_text) {
                pm_text(k, m[k].ver, buf);
                AKT_EQ_STR(r.items[0].text, buf);
            } else {
                AKT_TRUE(r.items[0].text == NULL);
            }
        }
        akidb_points_free(&r);
    }
    /* scroll through everything in pages of 17: sorted, complete, no dups */
    char *cursor = NULL;
    size_t seen = 0;
    char prev[200] = "";
    for (;;) {
        akidb_points r;
        AKT_OK(akidb_points_scroll(s, "t", "c", cursor, 17, NULL, 0, &r));
        for (size_t i = 0; i < r.n; i++) {
            AKT_TRUE(strcmp(prev, r.items[i].id) < 0);
            snprintf(prev, sizeof prev, "%s", r.items[i].id);
            seen++;
        }
        free(cursor);
        cursor = r.next_cursor ? strdup(r.next_cursor) : NULL;
        akidb_points_free(&r);
        if (!cursor)
            break;
    }
    AKT_EQ_INT(seen, live);
    /* search never returns a deleted point and returns min(k, live) */
    float q[PM_DIM];
    tsu_rng r = { 99 };
    tsu_vec(&r, q, PM_DIM);
    akidb_search_req req = {.vector = q, .dim = PM_DIM, .top_k = 10};
    akidb_points res;
    AKT_OK(akidb_search(s, "t", "c", &req, &res));
    AKT_EQ_INT(res.n, live < 10 ? live : 10);
    for (size_t i = 0; i < res.n; i++) {
        int k = atoi(res.items[i].id + 3);
        AKT_TRUE(m[k].present);
    }
    akidb_points_free(&res);
}

AKT_TEST(property_model)
{
    char *dir = tsu_tmpdir("prop");
    akidb_store_opts o = tsu_fast_opts();
    o.log = tsu_quiet_log;
    o.snapshot_wal_bytes = 64 << 10;   /* exercise automatic snapshots */
    akidb_store *s;
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_OK(akidb_tenant_create(s, "t"));
    make_coll(s, "t", "c", PM_DIM, AKIDB_METRIC_L2);
    model_pt m[PM_IDS] = { { 0 } };
    tsu_rng rng = { 12345 };
    int steps = tsu_quick() ? 120 : 400;
    uint32_t ver = 1;
    for (int step = 0; step < steps; step++) {
        uint32_t op = tsu_below(&rng, 100);
        if (op < 55) {
            size_t n = 1 + tsu_below(&rng, 40);
            akidb_point_in pts[40];
            float vecs[40][PM_DIM];
            char ids[40][32], pls[40][128], txs[40][64];
            int ks[40];
            size_t cnt = 0;
            for (size_t i = 0; i < n; i++) {
                int k = (int)tsu_below(&rng, PM_IDS);
                bool dup = false;
                for (size_t j = 0; j < cnt; j++)
                    dup |= ks[j] == k;
                if (dup)
                    continue;
                ks[cnt] = k;
                uint32_t v = ver++;
                pm_id(k, ids[cnt]);
                pm_vec(k, v, vecs[cnt]);
                pm_payload(k, v, pls[cnt]);
                pm_text(k, v, txs[cnt]);
                bool ht = tsu_below(&rng, 2), hp = tsu_below(&rng, 4) != 0;
                pts[cnt] = (akidb_point_in){ ids[cnt], vecs[cnt], ht ? txs[cnt] : NULL, hp ? pls[cnt] : NULL };
                m[k] = (model_pt){ true, v, ht, hp };
                cnt++;
            }
            AKT_OK(akidb_points_upsert(s, "t", "c", pts, NULL, cnt));
        } else if (op < 80) {
            size_t n = 1 + tsu_below(&rng, 30);
            char ids[30][32];
            const char *idp[30];
            size_t expect = 0;
            for (size_t i = 0; i < n; i++) {
                int k = (int)tsu_below(&rng, PM_IDS);
                pm_id(k, ids[i]);
                idp[i] = ids[i];
                bool dup = false;
                for (size_t j = 0; j < i; j++)
                    dup |= strcmp(ids[j], ids[i]) == 0;
                if (m[k].present && !dup)
                    expect++;
                m[k].present = false;
            }
            size_t nd;
            AKT_OK(akidb_points_delete(s, "t", "c", idp, n, &nd));
            AKT_EQ_INT(nd, expect);
        } else if (op < 90) {
            check_model(s, m);
        } else {
            /* close and reopen: with a snapshot, or WAL only */
            AKT_OK(akidb_store_close(s));
            o.no_snapshot_on_close = tsu_below(&rng, 2);   /* for the next close */
            AKT_OK(akidb_store_open(dir, &o, &s));
            check_model(s, m);
        }
    }
    check_model(s, m);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

/* ---- recall ------------------------------------------------------------------ */

static double recall_run(akidb_store *s, const char *coll, uint32_t dim, const char *filter,
                         int n_queries, tsu_rng *rng, const float *centers, int n_centers)
{
    size_t found = 0, total = 0;
    float *q = malloc(dim * sizeof *q);
    for (int i = 0; i < n_queries; i++) {
        tsu_vec(rng, q, dim);
        if (centers) {
            const float *c = centers + (size_t)tsu_below(rng, (uint32_t)n_centers) * dim;
            for (uint32_t d = 0; d < dim; d++)
                q[d] = c[d] + 0.3f * q[d];
        }
        akidb_search_req r = {
            .vector = q, .dim = dim, .top_k = 10, .filter_json = filter, .exact = true};
        akidb_points ex, ap;
        if (akidb_search(s, "t", coll, &r, &ex) != AKIDB_OK)
            abort();
        r.exact = false;
        if (akidb_search(s, "t", coll, &r, &ap) != AKIDB_OK)
            abort();
        for (size_t a = 0; a < ex.n; a++)
            for (size_t b = 0; b < ap.n; b++)
                if (strcmp(ex.items[a].id, ap.items[b].id) == 0) {
                    found++;
                    break;
                }
        total += ex.n;
        akidb_points_free(&ex);
        akidb_points_free(&ap);
    }
    free(q);
    return total ? (double)found / (double)total : 1.0;
}

static void load_points(akidb_store *s, const char *coll, uint32_t dim, int n, tsu_rng *rng,
                        const float *centers, int n_centers)
{
    int batch = 500;
    akidb_point_in *pts = malloc((size_t)batch * sizeof *pts);
    float *vecs = malloc((size_t)batch * dim * sizeof *vecs);
    char (*ids)[24] = malloc((size_t)batch * 24);
    char (*pls)[64] = malloc((size_t)batch * 64);
    for (int base = 0; base < n; base += batch) {
        int m = n - base < batch ? n - base : batch;
        for (int i = 0; i < m; i++) {
            float *v = vecs + (size_t)i * dim;
            tsu_vec(rng, v, dim);
            if (centers) {
                const float *c = centers + (size_t)tsu_below(rng, (uint32_t)n_centers) * dim;
                for (uint32_t d = 0; d < dim; d++)
                    v[d] = c[d] + 0.3f * v[d];
            }
            int k = base + i;
            snprintf(ids[i], 24, "p%d", k);
            /* g: 0..99 uniformly -> selectivity by range */
            snprintf(pls[i], 64, "{\"g\":%d,\"tag\":\"%s\"}", (int)tsu_below(rng, 100),
                     k % 2 ? "odd" : "even");
            pts[i] = (akidb_point_in){ ids[i], v, NULL, pls[i] };
        }
        if (akidb_points_upsert(s, "t", coll, pts, NULL, (size_t)m) != AKIDB_OK) {
            fprintf(stderr, "%s\n", akidb_last_error());
            abort();
        }
    }
    free(pts);
    free(vecs);
    free(ids);
    free(pls);
}

AKT_TEST(recall_random_and_clustered)
{
    char *dir = tsu_tmpdir("recall");
    akidb_store *s = open_store(dir);
    AKT_OK(akidb_tenant_create(s, "t"));
    int n = tsu_quick() ? 4000 : 20000, nq = tsu_quick() ? 50 : 200;
    uint32_t dim = 32;
    make_coll(s, "t", "rand", dim, AKIDB_METRIC_COSINE);
    make_coll(s, "t", "clus", dim, AKIDB_METRIC_L2);
    tsu_rng rng = { 7 };
    load_points(s, "rand", dim, n, &rng, NULL, 0);
    float *centers = malloc(20 * dim * sizeof *centers);
    for (int i = 0; i < 20 * (int)dim; i++)
        centers[i] = 3 * tsu_gauss(&rng);
    load_points(s, "clus", dim, n, &rng, centers, 20);
    double r1 = recall_run(s, "rand", dim, NULL, nq, &rng, NULL, 0);
    double r2 = recall_run(s, "clus", dim, NULL, nq, &rng, centers, 20);
    fprintf(stderr, "  recall@10 random %.4f clustered %.4f (n=%d)\n", r1, r2, n);
    AKT_GE(r1, 0.95);
    AKT_GE(r2, 0.95);
    static const char *filters[3] = { "{\"g\": {\"lt\": 50}}", "{\"g\": {\"gte\": 90}}",
                                      "{\"g\": 42}" };
    static const char *names[3] = { "50%", "10%", "1%" };
    for (int f = 0; f < 3; f++) {
        double fr1 = recall_run(s, "rand", dim, filters[f], nq, &rng, NULL, 0);
        double fr2 = recall_run(s, "clus", dim, filters[f], nq, &rng, centers, 20);
        fprintf(stderr, "  filtered %s recall@10 random %.4f clustered %.4f\n", names[f], fr1, fr2);
        AKT_GE(fr1, 0.95);
        AKT_GE(fr2, 0.95);
    }
    /* Deleting half keeps recall and never returns deleted points. */
    const char **del = malloc((size_t)n / 2 * sizeof *del);
    char (*ids)[24] = malloc((size_t)n / 2 * 24);
    for (int i = 0; i < n / 2; i++) {
        snprintf(ids[i], 24, "p%d", 2 * i);
        del[i] = ids[i];
    }
    size_t nd;
    AKT_OK(akidb_points_delete(s, "t", "rand", del, (size_t)n / 2, &nd));
    AKT_EQ_INT(nd, n / 2);
    double r3 = recall_run(s, "rand", dim, NULL, nq, &rng, NULL, 0);
    fprintf(stderr, "  recall@10 after deleting half %.4f\n", r3);
    AKT_GE(r3, 0.95);
    uint64_t cnt;
    AKT_OK(akidb_points_count(s, "t", "rand", "{\"tag\": \"even\"}", &cnt));
    AKT_EQ_INT(cnt, 0);
    /* Reopen from the snapshot: same answers. */
    AKT_OK(akidb_store_close(s));
    s = open_store(dir);
    double r4 = recall_run(s, "rand", dim, NULL, nq, &rng, NULL, 0);
    AKT_GE(r4, 0.95);
    /* Slots are reused: re-adding as many points does not grow past the old size. */
    load_points(s, "rand", dim, n / 2, &rng, NULL, 0);
    AKT_OK(akidb_points_count(s, "t", "rand", NULL, &cnt));
    AKT_EQ_INT(cnt, n / 4 + n / 2);  /* odd upper half + p0..p(n/2-1) */
    free(del);
    free(ids);
    free(centers);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

/* ---- allocation failures ------------------------------------------------------- */

AKT_TEST(oom_open_upsert_search)
{
    char *dir = tsu_tmpdir("oom");
    akidb_store *s = open_store(dir);
    AKT_OK(akidb_tenant_create(s, "t"));
    make_coll(s, "t", "c", 8, AKIDB_METRIC_COSINE);
    tsu_rng rng = { 5 };
    load_points(s, "c", 8, 300, &rng, NULL, 0);
    AKT_OK(akidb_store_close(s));
    /* open */
    int fails = 0;
    for (long k = 0; k < 100000; k++) {
        akidb_store_opts o = tsu_fast_opts();
        o.log = tsu_quiet_log;
        o.no_snapshot_on_close = true;
        ak_alloc_fail_after(k);
        akidb_status st = akidb_store_open(dir, &o, &s);
        ak_alloc_fail_after(-1);
        if (st == AKIDB_OK) {
            uint64_t n;
            AKT_OK(akidb_points_count(s, "t", "c", NULL, &n));
            AKT_EQ_INT(n, 300);
            akidb_store_close(s);
            break;
        }
        if (st != AKIDB_ENOMEM)
            fprintf(stderr, "  open with allocation %ld failing: %s\n", k, akidb_last_error());
        AKT_EQ_INT(st, AKIDB_ENOMEM);
        fails++;
    }
    AKT_TRUE(fails > 10);
    /* upsert and search: each failure leaves the store unchanged and usable */
    s = open_store(dir);
    float vecs[4][8];
    char ids[4][16], pls[4][64];
    akidb_point_in pts[4];
    for (int i = 0; i < 4; i++) {
        tsu_vec(&rng, vecs[i], 8);
        snprintf(ids[i], 16, "%s%d", i < 2 ? "p" : "new", i);   /* 2 replace, 2 new */
        snprintf(pls[i], 64, "{\"g\": %d, \"x\": [1, 2, {\"y\": null}]}", i);
        pts[i] = (akidb_point_in){ ids[i], vecs[i], "some text", pls[i] };
    }
    int ok_at = -1;
    for (long k = 0; k < 100000; k++) {
        ak_alloc_fail_after(k);
        akidb_status st = akidb_points_upsert(s, "t", "c", pts, NULL, 4);
        ak_alloc_fail_after(-1);
        uint64_t n;
        AKT_OK(akidb_points_count(s, "t", "c", NULL, &n));
        if (st == AKIDB_OK) {
            AKT_EQ_INT(n, 302);
            ok_at = (int)k;
            break;
        }
        AKT_EQ_INT(st, AKIDB_ENOMEM);
        AKT_EQ_INT(n, 300);
        const char *g[1] = { "new2" };
        akidb_points r;
        AKT_OK(akidb_points_get(s, "t", "c", g, 1, 0, &r));
        AKT_EQ_INT(r.n, 0);
        akidb_points_free(&r);
    }
    AKT_TRUE(ok_at > 5);
    float q[8];
    tsu_vec(&rng, q, 8);
    for (long k = 0; k < 100000; k++) {
        akidb_search_req r = {.vector = q,
                              .dim = 8,
                              .top_k = 5,
                              .filter_json = "{\"g\": {\"lt\": 50}}",
                              .exact = k % 2 == 0,
                              .with = AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT | AKIDB_WITH_VECTOR};
        akidb_points res;
        ak_alloc_fail_after(k);
        akidb_status st = akidb_search(s, "t", "c", &r, &res);
        ak_alloc_fail_after(-1);
        if (st == AKIDB_OK) {
            AKT_EQ_INT(res.n, 5);
            akidb_points_free(&res);
            break;
        }
        AKT_EQ_INT(st, AKIDB_ENOMEM);
        AKT_TRUE(res.n == 0 && res.items == NULL);
    }
    /* After all that the store reopens with the batch intact. */
    AKT_OK(akidb_store_close(s));
    s = open_store(dir);
    uint64_t n;
    AKT_OK(akidb_points_count(s, "t", "c", NULL, &n));
    AKT_EQ_INT(n, 302);
    akidb_store_close(s);
    tsu_rmrf(dir);
    free(dir);
}

/* ---- ingest throughput ----------------------------------------------------------- */

AKT_TEST(ingest_throughput)
{
    char *dir = tsu_tmpdir("ingest");
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;   /* full fsync */
    o.log = tsu_quiet_log;
    akidb_store *s;
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_OK(akidb_tenant_create(s, "t"));
    uint32_t dim = 384;
    make_coll(s, "t", "c", dim, AKIDB_METRIC_COSINE);
    int batches = tsu_quick() ? 2 : 10, bs = 1000;
    float *vecs = malloc((size_t)bs * dim * sizeof *vecs);
    akidb_point_in *pts = malloc((size_t)bs * sizeof *pts);
    char (*ids)[24] = malloc((size_t)bs * 24);
    tsu_rng rng = { 3 };
    double t_total = 0;
    for (int b = 0; b < batches; b++) {
        for (int i = 0; i < bs; i++) {
            tsu_vec(&rng, vecs + (size_t)i * dim, dim);
            snprintf(ids[i], 24, "b%d-%d", b, i);
            pts[i] = (akidb_point_in){ ids[i], vecs + (size_t)i * dim, NULL, "{\"src\":\"bench\"}" };
        }
        double t0 = ak_now();
        AKT_OK(akidb_points_upsert(s, "t", "c", pts, NULL, (size_t)bs));
        t_total += ak_now() - t0;
    }
    fprintf(stderr, "  ingest: %d x %d points of %u-d, fsync per batch: %.0f points/s\n", batches,
            bs, dim, batches * bs / t_total);
    double t0 = ak_now();
    AKT_OK(akidb_store_snapshot(s));
    fprintf(stderr, "  snapshot of %d points: %.3f s\n", batches * bs, ak_now() - t0);
    AKT_OK(akidb_store_close(s));
    t0 = ak_now();
    AKT_OK(akidb_store_open(dir, &o, &s));
    fprintf(stderr, "  reopen from snapshot: %.3f s\n", ak_now() - t0);
    akidb_store_close(s);
    free(vecs);
    free(pts);
    free(ids);
    tsu_rmrf(dir);
    free(dir);
}

AKT_MAIN(AKT_REG(catalog), AKT_REG(point_validation), AKT_REG(scores_per_metric),
         AKT_REG(property_model), AKT_REG(recall_random_and_clustered),
         AKT_REG(oom_open_upsert_search), AKT_REG(ingest_throughput))
