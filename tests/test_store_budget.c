/*
 * test_store_budget.c - the search work budget and the search limits of
 * the store (akidb_search, src/store/store_read.c, and the index's
 * max_visits, src/index/):
 *
 *   selective_filter_exact  a filter matching few points of a few thousand,
 *                           with a top_k the filter-aware walk cannot fill
 *                           cheaply: the answer is the exact top-k (checked
 *                           against a brute-force scan in the test) and the
 *                           points examined stay below a full walk plus an
 *                           exact scan over the matches
 *   budget_refuses          a budget smaller than the collection: an exact
 *                           scan and a filtered search that cannot finish
 *                           within it fail with AKIDB_ERANGE naming the
 *                           budget; a search that fits still answers
 *   limits                  top_k and ef past their limits are AKIDB_EINVAL
 *                           naming the limit
 *   index_budget            the index itself stops a walk at max_visits
 *                           (AKIDB_ERANGE) and reports what it examined
 */
#include "akt.h"
#include "akidb_store.h"
#include "common/common.h"
#include "index/index.h"
#include "test_store_util.h"

#include <math.h>

#define DIM 16
#define N 5000
#define NG 10          /* payload "g" = i % NG: a filter on one g matches N / NG */

static float vecs[N][DIM];

/* A store with one L2 collection of N points whose payload is
 * {"g": i % NG}; points of group 0 lie far from the origin, where the
 * queries are, so a walk filtered on g = 0 must travel. */
static akidb_store *make_store(const char *dir, size_t budget)
{
    akidb_store_opts o = tsu_fast_opts();
    o.exact_threshold = 100;
    o.search_budget = budget;
    o.log = tsu_quiet_log;
    akidb_store *s = NULL;
    AKT_OK(akidb_store_open(dir, &o, &s));
    AKT_OK(akidb_tenant_create(s, "t"));
    akidb_collection_opts co = { .dim = DIM, .metric = AKIDB_METRIC_L2 };
    AKT_OK(akidb_collection_create(s, "t", "c", &co));
    tsu_rng r = { 42 };
    static akidb_point_in pts[N];
    static char ids[N][16], pl[N][24];
    for (size_t i = 0; i < N; i++) {
        tsu_vec(&r, vecs[i], DIM);
        if (i % NG == 0)
            vecs[i][0] += 6.0f;
        snprintf(ids[i], sizeof ids[i], "p%05zu", i);
        snprintf(pl[i], sizeof pl[i], "{\"g\":%zu}", i % NG);
        pts[i] = (akidb_point_in){ ids[i], vecs[i], NULL, pl[i] };
    }
    AKT_OK(akidb_points_upsert(s, "t", "c", pts, NULL, N));
    return s;
}

static float l2(const float *a, const float *b)
{
    float d = 0;
    for (size_t j = 0; j < DIM; j++)
        d += (a[j] - b[j]) * (a[j] - b[j]);
    return d;
}

/* Brute force: the k nearest points of group g to q (indices, best first). */
static size_t brute(const float *q, size_t g, size_t k, size_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % NG != g)
            continue;
        size_t at = n < k ? n++ : k;
        if (at == k && l2(q, vecs[i]) >= l2(q, vecs[out[k - 1]]))
            continue;
        if (at == k)
            at = k - 1;
        while (at > 0 && l2(q, vecs[out[at - 1]]) > l2(q, vecs[i])) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = i;
    }
    return n;
}

AKT_TEST(selective_filter_exact)
{
    char *dir = tsu_tmpdir("budget");
    akidb_store *s = make_store(dir, 0);
    tsu_rng r = { 7 };
    static const size_t ks[] = { 10, 300 };
    for (int qi = 0; qi < 6; qi++) {
        float q[DIM];
        tsu_vec(&r, q, DIM);
        size_t k = ks[qi % 2];
        akidb_search_req req = {.vector = q, .dim = DIM, .top_k = k, .filter_json = "{\"g\":0}"};
        akidb_points out;
        AKT_OK(akidb_search(s, "t", "c", &req, &out));
        size_t want[300];
        size_t nw = brute(q, 0, k, want);
        AKT_EQ_INT(out.n, nw);
        for (size_t i = 0; i < out.n && i < nw; i++) {
            char id[16];
            snprintf(id, sizeof id, "p%05zu", want[i]);
            if (strcmp(out.items[i].id, id) != 0 &&
                fabsf(out.items[i].score + l2(q, vecs[want[i]])) > 1e-4f)
                AKT_EQ_STR(out.items[i].id, id);
            akt_checks++;
        }
        /* a filter pass over every point, a walk no longer than the exact
         * scan over the N / NG matches (plus one step), then that scan */
        AKT_TRUE(out.examined > 0);
        AKT_LE(out.examined, N + 2 * (N / NG) + 64);
        if (qi < 2)
            fprintf(stderr, "  top_k %zu, filter on 1/%d of %d points: %zu examined\n", k, NG,
                    N, out.examined);
        akidb_points_free(&out);
    }
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(budget_refuses)
{
    char *dir = tsu_tmpdir("budget2");
    akidb_store *s = make_store(dir, 3000);
    float q[DIM] = { 0 };
    akidb_points out;
    akidb_search_req ex = {.vector = q, .dim = DIM, .top_k = 10, .exact = true};
    AKT_STATUS(akidb_search(s, "t", "c", &ex, &out), AKIDB_ERANGE);
    AKT_CONTAINS(akidb_last_error(), "search budget of 3000 points");
    AKT_CONTAINS(akidb_last_error(), "t/c");
    AKT_EQ_INT(out.n, 0);
    /* a selective filter with a large top_k: the walk cannot fill it within
     * the budget, and an exact scan needs the whole collection tested */
    akidb_search_req fr = {.vector = q, .dim = DIM, .top_k = 300, .filter_json = "{\"g\":0}"};
    AKT_STATUS(akidb_search(s, "t", "c", &fr, &out), AKIDB_ERANGE);
    AKT_CONTAINS(akidb_last_error(), "search budget of 3000 points");
    /* an unfiltered search fits */
    akidb_search_req ok = {.vector = q, .dim = DIM, .top_k = 5, .ef = 32};
    AKT_OK(akidb_search(s, "t", "c", &ok, &out));
    AKT_EQ_INT(out.n, 5);
    AKT_LE(out.examined, 3000);
    akidb_points_free(&out);
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(dir);
    free(dir);
}

AKT_TEST(limits)
{
    char *dir = tsu_tmpdir("budget3");
    akidb_store *s = make_store(dir, 0);
    float q[DIM] = { 0 };
    akidb_points out;
    akidb_search_req a = {.vector = q, .dim = DIM, .top_k = AKIDB_SEARCH_TOPK_MAX + 1};
    AKT_STATUS(akidb_search(s, "t", "c", &a, &out), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "top_k 10001 is outside 1..10000 (the limit)");
    akidb_search_req b = {.vector = q, .dim = DIM, .top_k = 10, .ef = AKIDB_SEARCH_EF_MAX + 1};
    AKT_STATUS(akidb_search(s, "t", "c", &b, &out), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "ef 10001 is over the limit of 10000");
    akidb_search_req c = {
        .vector = q, .dim = DIM, .top_k = AKIDB_SEARCH_TOPK_MAX, .ef = AKIDB_SEARCH_EF_MAX};
    AKT_OK(akidb_search(s, "t", "c", &c, &out));
    AKT_TRUE(out.n > N / 2);
    akidb_points_free(&out);
    AKT_OK(akidb_store_close(s));
    tsu_rmrf(dir);
    free(dir);
}

static bool accept_g0(uint32_t label, void *ctx)
{
    (void)ctx;
    return label % NG == 0;
}

AKT_TEST(index_budget)
{
    ak_index_params p = { .dim = DIM, .metric = AK_METRIC_L2, .seed = 3 };
    ak_index ix;
    AKT_OK(ak_index_create(NULL, &p, &ix));
    tsu_rng r = { 9 };
    for (uint32_t i = 0; i < 2000; i++) {
        float v[DIM];
        tsu_vec(&r, v, DIM);
        AKT_OK(ak_index_add(&ix, i, v));
    }
    float q[DIM] = { 0 };
    ak_hit hits[200];
    size_t n = 0, visits = 0;
    /* unbounded: what a filtered walk with a wide beam examines */
    ak_search_opts o = { .ef = 200, .accept = accept_g0, .strategy = AK_SEARCH_GRAPH,
                         .visits = &visits };
    AKT_OK(ak_index_search(&ix, q, 200, &o, hits, &n));
    size_t full = visits;
    AKT_TRUE(full > 500);
    /* bounded: stops just past the budget */
    o.max_visits = 300;
    AKT_STATUS(ak_index_search(&ix, q, 200, &o, hits, &n), AKIDB_ERANGE);
    AKT_CONTAINS(akidb_last_error(), "budget of 300");
    AKT_TRUE(visits > 300);
    AKT_LE(visits, 300 + 2 * AK_HNSW_MAX_M);
    fprintf(stderr, "  filtered walk: %zu points examined unbounded, %zu with a budget of 300\n",
            full, visits);
    /* an exact scan counts every point it passes */
    o.strategy = AK_SEARCH_EXACT;
    o.max_visits = 0;
    AKT_OK(ak_index_search(&ix, q, 10, &o, hits, &n));
    AKT_EQ_INT(visits, 2000);
    o.max_visits = 1999;
    AKT_STATUS(ak_index_search(&ix, q, 10, &o, hits, &n), AKIDB_ERANGE);
    ak_index_free(&ix);
}

AKT_MAIN(AKT_REG(selective_filter_exact), AKT_REG(budget_refuses), AKT_REG(limits),
         AKT_REG(index_budget))
