/*
 * test_index.c - tests of the vector index layer (src/index/): distance
 * kernels on every SIMD path against a double-precision reference, HNSW
 * recall against exact search on random and clustered data, filtered
 * recall at 50/10/1% selectivity, removal with slot reuse, serialisation
 * round trips, corrupt images, concurrent search during inserts, and
 * out-of-memory handling.
 *
 * AKIDB_TEST_QUICK=1 shrinks the data sets (sanitizer builds in CI).
 */
#include "akt.h"
#include "index/index.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

static int quick(void)
{
    const char *e = getenv("AKIDB_TEST_QUICK");
    return e && *e && *e != '0';
}

static uint64_t rs = 0x1234567;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}
static float frand(void) { return (float)rnd() / 2097152.0f - 1.0f; }
static float gauss(void)
{
    float s = 0;
    for (int i = 0; i < 6; i++)
        s += frand();
    return s * 0.7f;
}

static float *random_data(size_t n, size_t dim)
{
    float *v = malloc(n * dim * sizeof *v);
    for (size_t i = 0; i < n * dim; i++)
        v[i] = frand();
    return v;
}

static float *clustered_data(size_t n, size_t dim, size_t nclust, const float *c)
{
    float *v = malloc(n * dim * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        size_t k = rnd() % nclust;
        for (size_t j = 0; j < dim; j++)
            v[i * dim + j] = c[k * dim + j] * 3 + gauss() * 0.3f;
    }
    return v;
}

static ak_hnsw *build(const float *v, size_t n, size_t dim, ak_metric m, uint32_t M)
{
    ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = m, .M = M, .ef_construction = 200,
                         .seed = 42, .capacity = n };
    ak_hnsw *h = NULL;
    if (ak_hnsw_create(&p, &h))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (ak_hnsw_add(h, (uint32_t)i, v + i * dim)) {
            ak_hnsw_free(h);
            return NULL;
        }
    return h;
}

/* recall@k of hits a against truth b */
static double overlap(const ak_hit *a, size_t na, const ak_hit *b, size_t nb)
{
    if (nb == 0)
        return 1.0;
    size_t hit = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (a[i].label == b[j].label) {
                hit++;
                break;
            }
    return (double)hit / (double)nb;
}

/* ---- distances ------------------------------------------------------------ */

AKT_TEST(distance_paths)
{
    static const size_t dims[] = { 1, 3, 17, 384, 785 };
    akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2, AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
    int tested = 0;
    for (size_t pi = 0; pi < 4; pi++) {
        if (!ak_cpu_path_usable(paths[pi])) {
            AKT_TRUE(ak_dist_get(paths[pi], AK_METRIC_L2) == NULL);
            AKT_STATUS(ak_dist_select(paths[pi]), AKIDB_EUNSUPPORTED);
            continue;
        }
        tested++;
        ak_dist_fn fd = ak_dist_get(paths[pi], AK_METRIC_DOT);
        ak_dist_fn fl = ak_dist_get(paths[pi], AK_METRIC_L2);
        AKT_TRUE(fd && fl);
        for (size_t di = 0; di < 5; di++) {
            size_t n = dims[di];
            for (int rep = 0; rep < 5; rep++) {
                /* offset by one float: unaligned inputs */
                float *a = random_data(n + 1, 1), *b = random_data(n + 1, 1);
                double rd = 0, rl = 0, mag = 0;
                for (size_t i = 0; i < n; i++) {
                    rd += (double)a[i + 1] * b[i + 1];
                    double d = (double)a[i + 1] - b[i + 1];
                    rl += d * d;
                    mag += fabs((double)a[i + 1] * b[i + 1]);
                }
                AKT_NEAR(fd(a + 1, b + 1, n), rd, 1e-5 * mag + 1e-6);
                AKT_NEAR(fl(a + 1, b + 1, n), rl, 1e-5 * rl + 1e-6);
                free(a);
                free(b);
            }
        }
        AKT_OK(ak_dist_select(paths[pi]));
        AKT_EQ_INT(ak_dist_path(), paths[pi]);
        float x[3] = { 1, 2, 3 }, y[3] = { 4, 5, 6 };
        AKT_NEAR(ak_dot(x, y, 3), 32, 1e-5);
        AKT_NEAR(ak_l2sq(x, y, 3), 27, 1e-5);
    }
    AKT_OK(ak_dist_select(AKIDB_KERNELS_AUTO));
    AKT_TRUE(tested >= 1);
    AKT_TRUE(ak_dist_path() != AKIDB_KERNELS_AUTO);
    fprintf(stderr, "  active path: %s\n", akidb_kernels_name(ak_dist_path()));
    float z[4] = { 0 };
    AKT_FALSE(ak_vec_normalize(z, 4));
    float u[2] = { 3, 4 };
    AKT_TRUE(ak_vec_normalize(u, 2));
    AKT_NEAR(u[0], 0.6, 1e-6);
    ak_metric m;
    AKT_TRUE(ak_metric_parse("ip", &m) && m == AK_METRIC_DOT);
    AKT_FALSE(ak_metric_parse("manhattan", &m));
}

/* Bounded L2 kernels stop early only when the answer is >= the bound, and
 * agree bit for bit with the plain kernel otherwise; the pair kernels give
 * exactly what two single calls give.  The graph search relies on both to
 * return the same results as one-by-one full evaluation. */
AKT_TEST(bounded_and_pair_kernels)
{
    static const size_t dims[] = { 1, 3, 17, 64, 127, 128, 129, 192, 256, 384, 785, 1000 };
    static const double fr[] = { 0.0, 0.3, 0.7, 0.99, 1.0, 1.01, 2.0, -1.0 };
    akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2, AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
    /* own random stream: the data of the tests after this one stay as they
     * were before it existed */
    uint64_t saved_rs = rs;
    rs = 0xB0B0B0B0ull;
    for (size_t pi = 0; pi < 4; pi++) {
        if (!ak_cpu_path_usable(paths[pi])) {
            AKT_TRUE(ak_l2_bounded_get(paths[pi]) == NULL);
            AKT_TRUE(ak_l2_bounded2_get(paths[pi]) == NULL);
            AKT_TRUE(ak_dot2_get(paths[pi]) == NULL);
            continue;
        }
        ak_dist_fn fl = ak_dist_get(paths[pi], AK_METRIC_L2);
        ak_dist_fn fd = ak_dist_get(paths[pi], AK_METRIC_DOT);
        ak_dist_bounded_fn fb = ak_l2_bounded_get(paths[pi]);
        ak_dist_bounded2_fn fb2 = ak_l2_bounded2_get(paths[pi]);
        ak_dist2_fn fd2 = ak_dot2_get(paths[pi]);
        AKT_TRUE(fl && fd && fb && fb2 && fd2);
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
            size_t n = dims[di];
            for (int rep = 0; rep < 4; rep++) {
                float *a = random_data(n + 1, 1), *b0 = random_data(n + 1, 1);
                float *b1 = random_data(n + 1, 1);
                /* rep 1: b1 much closer than b0, so one of a pair stops early */
                if (rep == 1)
                    for (size_t i = 0; i <= n; i++)
                        b1[i] = a[i] + 0.01f * b1[i];
                const float *bs[2] = { b0 + 1, b1 + 1 };
                float full[2] = { fl(a + 1, bs[0], n), fl(a + 1, bs[1], n) };
                float dots[2];
                fd2(a + 1, bs[0], bs[1], n, dots);
                AKT_TRUE(dots[0] == fd(a + 1, bs[0], n));
                AKT_TRUE(dots[1] == fd(a + 1, bs[1], n));
                AKT_TRUE(fb(a + 1, bs[0], n, INFINITY) == full[0]);
                for (size_t fi = 0; fi < sizeof fr / sizeof fr[0]; fi++) {
                    for (int w = 0; w < 2; w++) {
                        float bound = fr[fi] < 0 ? INFINITY : (float)(fr[fi] * full[w]);
                        float r = fb(a + 1, bs[w], n, bound);
                        if (full[w] < bound)
                            AKT_TRUE(r == full[w]);
                        else
                            AKT_TRUE(r >= bound && r <= full[w]);
                        float pr[2];
                        fb2(a + 1, bs[0], bs[1], n, bound, pr);
                        AKT_TRUE(pr[0] == fb(a + 1, bs[0], n, bound));
                        AKT_TRUE(pr[1] == fb(a + 1, bs[1], n, bound));
                    }
                }
                free(a);
                free(b0);
                free(b1);
            }
        }
    }
    rs = saved_rs;
}

/* The group kernel (1 to 8 vectors read as interleaved streams) must give,
 * for each vector, exactly the single bounded kernel's result, whatever
 * checkpoint each lane leaves at: lanes are made to stop at different
 * points by giving them different distances, and the bound sweeps from
 * "everything stops at the first check" to "nothing stops". */
AKT_TEST(group_kernels)
{
    static const size_t dims[] = { 1, 5, 31, 32, 33, 64, 127, 128, 129, 160, 256, 300, 784, 1000 };
    static const double fr[] = { 0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.5, -1.0 };
    static const float closeness[8] = { 1.0f, 0.05f, 0.3f, 0.6f, 0.8f, 0.2f, 0.45f, 0.1f };
    akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2, AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
    uint64_t saved_rs = rs;
    rs = 0x6A0B6A0Bull;
    size_t checked = 0;
    for (size_t pi = 0; pi < 4; pi++) {
        ak_dist_boundedm_fn fm = ak_l2_bounded_multi_get(paths[pi]);
        ak_distm_fn fdm = ak_dot_multi_get(paths[pi]);
        if (!ak_cpu_path_usable(paths[pi])) {
            AKT_TRUE(fm == NULL && fdm == NULL);
            continue;
        }
        ak_dist_bounded_fn fb = ak_l2_bounded_get(paths[pi]);
        ak_dist_bounded2_fn fb2 = ak_l2_bounded2_get(paths[pi]);
        ak_dist_fn fl = ak_dist_get(paths[pi], AK_METRIC_L2);
        ak_dist_fn fd = ak_dist_get(paths[pi], AK_METRIC_DOT);
        ak_dist2_fn fd2 = ak_dot2_get(paths[pi]);
        AKT_TRUE(fm && fdm && fb && fb2 && fl && fd && fd2);
        for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
            size_t n = dims[di];
            for (int rot = 0; rot < 8; rot += 3) {
                float *a = random_data(n, 1), *v[8];
                const float *b[8];
                for (int j = 0; j < 8; j++) {
                    v[j] = random_data(n, 1);
                    float c = closeness[(j + rot) & 7];
                    for (size_t i = 0; i < n; i++)
                        v[j][i] = a[i] + c * v[j][i];
                    b[j] = v[j];
                }
                float mid = fl(a, b[rot & 7], n);
                for (size_t fi = 0; fi < sizeof fr / sizeof fr[0]; fi++) {
                    float bound = fr[fi] < 0 ? INFINITY : (float)(fr[fi] * mid);
                    for (size_t m = 1; m <= 8; m++) {
                        float out[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
                        fm(a, b, m, n, bound, out);
                        for (size_t j = 0; j < m; j++) {
                            AKT_TRUE(out[j] == fb(a, b[j], n, bound));
                            checked++;
                        }
                        for (size_t j = m; j < 8; j++)
                            AKT_TRUE(out[j] == -1); /* nothing written past m */
                    }
                    /* and the pair kernel agrees with both */
                    float pr[2];
                    fb2(a, b[0], b[1], n, bound, pr);
                    AKT_TRUE(pr[0] == fb(a, b[0], n, bound) && pr[1] == fb(a, b[1], n, bound));
                    if (!(bound < INFINITY))
                        AKT_TRUE(fb(a, b[0], n, bound) == fl(a, b[0], n));
                }
                /* dot products: group, pair and single agree */
                for (size_t m = 1; m <= 8; m++) {
                    float out[8] = { -1, -1, -1, -1, -1, -1, -1, -1 };
                    fdm(a, b, m, n, out);
                    for (size_t j = 0; j < m; j++) {
                        AKT_TRUE(out[j] == fd(a, b[j], n));
                        checked++;
                    }
                    for (size_t j = m; j < 8; j++)
                        AKT_TRUE(out[j] == -1);
                }
                float dp[2];
                fd2(a, b[2], b[3], n, dp);
                AKT_TRUE(dp[0] == fd(a, b[2], n) && dp[1] == fd(a, b[3], n));
                free(a);
                for (int j = 0; j < 8; j++)
                    free(v[j]);
            }
        }
    }
    AKT_TRUE(checked > 5000);
    rs = saved_rs;
}

/* ---- recall --------------------------------------------------------------- */

static double measure_recall(ak_hnsw *h, const float *qs, size_t nq, size_t dim, size_t ef,
                             ak_filter_fn f, void *ctx, int strategy)
{
    double sum = 0;
    ak_hit a[10], b[10];
    for (size_t i = 0; i < nq; i++) {
        size_t na, nb;
        ak_search_opts o = { .ef = ef, .accept = f, .ctx = ctx, .strategy = strategy };
        if (ak_hnsw_search_ex(h, qs + i * dim, 10, &o, a, &na))
            return -1;
        if (ak_exact_search(h, qs + i * dim, 10, f, ctx, b, &nb))
            return -1;
        if (na != nb)
            return -2;
        for (size_t j = 1; j < na; j++) /* sorted best first */
            if (h && ak_hnsw_get_params(h).metric == AK_METRIC_L2 ? a[j].score < a[j - 1].score
                                                                  : a[j].score > a[j - 1].score)
                return -3;
        sum += overlap(a, na, b, nb);
    }
    return sum / (double)nq;
}

AKT_TEST(recall_random)
{
    size_t n = quick() ? 1500 : 5000, dim = 32, nq = quick() ? 50 : 200;
    float *v = random_data(n, dim), *q = random_data(nq, dim);
    ak_metric ms[] = { AK_METRIC_L2, AK_METRIC_COSINE, AK_METRIC_DOT };
    for (int mi = 0; mi < 3; mi++) {
        ak_hnsw *h = build(v, n, dim, ms[mi], 16);
        AKT_TRUE(h != NULL);
        AKT_EQ_INT(ak_hnsw_count(h), n);
        /* inner product is no metric: the pruned graph need not stay connected */
        AKT_OK(ak_hnsw_validate(h, ms[mi] != AK_METRIC_DOT));
        double r = measure_recall(h, q, nq, dim, 100, NULL, NULL, AK_SEARCH_AUTO);
        fprintf(stderr, "  %s recall@10 (ef 100) = %.4f\n", ak_metric_name(ms[mi]), r);
        AKT_GE(r, 0.95);
        size_t mem = ak_hnsw_memory(h), raw = ak_hnsw_raw_bytes(h);
        fprintf(stderr, "  memory %zu, raw %zu, ratio %.3f\n", mem, raw, (double)mem / raw);
        AKT_LE((double)mem, 1.2 * (double)raw + 256 * 1024);
        ak_hnsw_free(h);
    }
    free(v);
    free(q);
}

AKT_TEST(recall_clustered)
{
    size_t n = quick() ? 1500 : 5000, dim = 48, nq = quick() ? 50 : 200;
    float *c = random_data(20, dim);
    float *v = clustered_data(n, dim, 20, c), *q = clustered_data(nq, dim, 20, c);
    free(c);
    ak_hnsw *h = build(v, n, dim, AK_METRIC_L2, 16);
    AKT_TRUE(h != NULL);
    double r = measure_recall(h, q, nq, dim, 100, NULL, NULL, AK_SEARCH_AUTO);
    fprintf(stderr, "  clustered recall@10 = %.4f\n", r);
    AKT_GE(r, 0.95);
    ak_hnsw_free(h);
    free(v);
    free(q);
}

/* ---- filters --------------------------------------------------------------- */

typedef struct { uint32_t pct; long calls; } fctx;
static bool accept_pct(uint32_t label, void *ctx)
{
    fctx *c = ctx;
    __atomic_fetch_add(&c->calls, 1, __ATOMIC_RELAXED);
    uint32_t x = label * 2654435761u;
    return (x >> 8) % 1000 < c->pct * 10;
}

AKT_TEST(filtered_recall)
{
    size_t n = quick() ? 2000 : 5000, dim = 32, nq = quick() ? 40 : 100;
    float *v = random_data(n, dim), *q = random_data(nq, dim);
    ak_hnsw *h = build(v, n, dim, AK_METRIC_L2, 16);
    AKT_TRUE(h != NULL);
    uint32_t pcts[] = { 50, 10, 1 };
    for (int i = 0; i < 3; i++) {
        fctx c = { pcts[i], 0 };
        double rg = measure_recall(h, q, nq, dim, 64, accept_pct, &c, AK_SEARCH_GRAPH);
        double ra = measure_recall(h, q, nq, dim, 64, accept_pct, &c, AK_SEARCH_AUTO);
        fprintf(stderr, "  %u%%: graph recall %.4f, auto recall %.4f\n", pcts[i], rg, ra);
        AKT_GE(rg, 0.95);
        AKT_GE(ra, 0.95);
    }
    /* every returned label passes the filter */
    fctx c = { 10, 0 };
    ak_hit hits[10];
    size_t nh;
    ak_search_opts o = { .ef = 64, .accept = accept_pct, .ctx = &c, .strategy = AK_SEARCH_GRAPH };
    AKT_OK(ak_hnsw_search_ex(h, q, 10, &o, hits, &nh));
    AKT_EQ_INT(nh, 10);
    for (size_t i = 0; i < nh; i++)
        AKT_TRUE(accept_pct(hits[i].label, &c));
    /* exact over labels */
    uint32_t labels[] = { 5, 7, 7, 100000, 11, 3 };
    AKT_OK(ak_exact_search_labels(h, q, 10, labels, 6, hits, &nh));
    AKT_EQ_INT(nh, 4);
    ak_hit all[4];
    size_t na;
    fctx none = { 0, 0 };
    AKT_OK(ak_exact_search(h, q, 4, accept_pct, &none, all, &na));
    AKT_EQ_INT(na, 0);
    ak_hnsw_free(h);
    free(v);
    free(q);
}

/* ---- removal --------------------------------------------------------------- */

AKT_TEST(remove_and_reuse)
{
    size_t n = quick() ? 1000 : 3000, dim = 16;
    float *v = random_data(2 * n, dim);
    ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = AK_METRIC_COSINE, .M = 8,
                         .ef_construction = 100, .seed = 1, .capacity = n };
    ak_hnsw *h;
    AKT_OK(ak_hnsw_create(&p, &h));
    unsigned char *present = calloc(2 * n, 1);
    size_t live = 0;
    uint32_t next = 0;
    for (size_t round = 0; round < 6 * n; round++) {
        bool add = live < n / 2 || (rnd() % 3) != 0;
        if (live >= n - 1)
            add = false;
        if (add) {
            uint32_t lab = next++ % (uint32_t)(2 * n);
            if (present[lab])
                continue;
            AKT_OK(ak_hnsw_add(h, lab, v + (size_t)lab * dim));
            present[lab] = 1;
            live++;
        } else {
            uint32_t lab = rnd() % (uint32_t)(2 * n);
            if (!present[lab]) {
                AKT_STATUS(ak_hnsw_remove(h, lab), AKIDB_ENOENT);
                continue;
            }
            AKT_OK(ak_hnsw_remove(h, lab));
            present[lab] = 0;
            live--;
        }
        if (round % (n / 2) == 0)
            AKT_OK(ak_hnsw_validate(h, false));
    }
    AKT_EQ_INT(ak_hnsw_count(h), live);
    AKT_OK(ak_hnsw_validate(h, false));
    /* slots were reused: capacity never grew past the hint */
    AKT_LE_INT(ak_hnsw_get_params(h).capacity, n);
    /* removed labels are never returned; recall stays good */
    size_t nq = 50;
    float *q = random_data(nq, dim);
    double rec = 0;
    for (size_t i = 0; i < nq; i++) {
        ak_hit a[50], b[10];
        size_t na, nb;
        AKT_OK(ak_hnsw_search(h, q + i * dim, 50, 100, NULL, NULL, a, &na));
        for (size_t j = 0; j < na; j++)
            AKT_TRUE(present[a[j].label]);
        AKT_OK(ak_exact_search(h, q + i * dim, 10, NULL, NULL, b, &nb));
        rec += overlap(a, 10, b, nb);
        float tmp[16];
        AKT_OK(ak_hnsw_get_vector(h, a[0].label, tmp));
    }
    fprintf(stderr, "  recall@10 after churn: %.4f\n", rec / nq);
    AKT_GE(rec / nq, 0.9);
    /* batch remove of everything empties the index */
    uint32_t *all = malloc(2 * n * sizeof *all);
    for (uint32_t i = 0; i < 2 * n; i++)
        all[i] = i;
    size_t nr;
    AKT_OK(ak_hnsw_remove_batch(h, all, 2 * n, &nr));
    AKT_EQ_INT(nr, live);
    AKT_EQ_INT(ak_hnsw_count(h), 0);
    AKT_OK(ak_hnsw_validate(h, true));
    ak_hit a[3];
    size_t na;
    AKT_OK(ak_hnsw_search(h, q, 3, 10, NULL, NULL, a, &na));
    AKT_EQ_INT(na, 0);
    AKT_OK(ak_hnsw_add(h, 7, q));
    AKT_OK(ak_hnsw_search(h, q, 3, 10, NULL, NULL, a, &na));
    AKT_EQ_INT(na, 1);
    AKT_NEAR(a[0].score, 1.0, 1e-5);
    AKT_OK(ak_hnsw_validate(h, true));
    free(all);
    free(q);
    free(present);
    free(v);
    ak_hnsw_free(h);
}

AKT_TEST(edge_cases)
{
    ak_hnsw_params p = { .dim = 4, .metric = AK_METRIC_DOT };
    ak_hnsw *h;
    AKT_OK(ak_hnsw_create(&p, &h));
    float a[4] = { 1, 0, 0, 0 }, b[4] = { 0, 2, 0, 0 }, nan[4] = { 0, NAN, 0, 0 };
    ak_hit hit[4];
    size_t nh = 99;
    AKT_OK(ak_hnsw_search(h, a, 3, 0, NULL, NULL, hit, &nh));
    AKT_EQ_INT(nh, 0);
    AKT_OK(ak_hnsw_add(h, 3, a));
    AKT_STATUS(ak_hnsw_add(h, 3, b), AKIDB_EEXIST);
    AKT_STATUS(ak_hnsw_add(h, 4, nan), AKIDB_EINVAL);
    AKT_STATUS(ak_hnsw_add(h, 0xFFFFFFFFu, a), AKIDB_EINVAL);
    AKT_OK(ak_hnsw_add(h, 0xFFFFFFFEu, b));
    AKT_STATUS(ak_hnsw_search(h, nan, 1, 0, NULL, NULL, hit, &nh), AKIDB_EINVAL);
    AKT_OK(ak_hnsw_search(h, b, 4, 0, NULL, NULL, hit, &nh));
    AKT_EQ_INT(nh, 2);
    AKT_EQ_INT(hit[0].label, 0xFFFFFFFEu);
    AKT_NEAR(hit[0].score, 4.0, 1e-6);
    AKT_NEAR(hit[1].score, 0.0, 1e-6);
    AKT_OK(ak_hnsw_search(h, b, 0, 0, NULL, NULL, hit, &nh));
    AKT_EQ_INT(nh, 0);
    AKT_STATUS(ak_hnsw_remove(h, 99), AKIDB_ENOENT);
    AKT_TRUE(ak_hnsw_contains(h, 3));
    AKT_FALSE(ak_hnsw_contains(h, 5));
    ak_hnsw_params bad = { .dim = 0 };
    ak_hnsw *h2;
    AKT_STATUS(ak_hnsw_create(&bad, &h2), AKIDB_EINVAL);
    bad.dim = 4;
    bad.M = 1;
    AKT_STATUS(ak_hnsw_create(&bad, &h2), AKIDB_EINVAL);
    AKT_OK(ak_hnsw_validate(h, true));
    /* exact over an array: l2 and dot */
    float arr[3 * 2] = { 0, 0, 1, 1, 3, 3 }, qq[2] = { 1, 1.2f };
    AKT_OK(ak_exact_search_array(arr, 3, 2, AK_METRIC_L2, qq, 5, hit, &nh));
    AKT_EQ_INT(nh, 3);
    AKT_EQ_INT(hit[0].label, 1);
    AKT_EQ_INT(hit[1].label, 0);
    AKT_NEAR(hit[0].score, 0.04, 1e-5);
    AKT_OK(ak_exact_search_array(arr, 3, 2, AK_METRIC_DOT, qq, 1, hit, &nh));
    AKT_EQ_INT(hit[0].label, 2);
    ak_hnsw_free(h);
    ak_hnsw_free(NULL);
}

/* ---- serialisation ----------------------------------------------------------- */

static bool same_results(ak_hnsw *a, ak_hnsw *b, const float *q, size_t nq, size_t dim)
{
    for (size_t i = 0; i < nq; i++) {
        ak_hit x[10], y[10];
        size_t nx, ny;
        if (ak_hnsw_search(a, q + i * dim, 10, 50, NULL, NULL, x, &nx) ||
            ak_hnsw_search(b, q + i * dim, 10, 50, NULL, NULL, y, &ny) || nx != ny)
            return false;
        for (size_t j = 0; j < nx; j++)
            if (x[j].label != y[j].label || x[j].score != y[j].score)
                return false;
    }
    return true;
}

AKT_TEST(serialize_roundtrip)
{
    size_t n = 1500, dim = 24, nq = 30;
    float *v = random_data(n, dim), *q = random_data(nq, dim);
    ak_hnsw *h = build(v, n, dim, AK_METRIC_COSINE, 12);
    AKT_TRUE(h != NULL);
    for (uint32_t i = 0; i < n; i += 7)
        AKT_OK(ak_hnsw_remove(h, i));
    void *buf;
    size_t len, used;
    AKT_OK(ak_hnsw_save_buf(h, &buf, &len));
    AKT_EQ_INT(len, ak_hnsw_serialized_size(h));
    ak_hnsw *g;
    AKT_OK(ak_hnsw_load_buf(buf, len, &g, &used));
    AKT_EQ_INT(used, len);
    AKT_OK(ak_hnsw_validate(g, false));
    AKT_EQ_INT(ak_hnsw_count(g), ak_hnsw_count(h));
    AKT_TRUE(same_results(h, g, q, nq, dim));
    /* saving the loaded index gives the same bytes */
    void *buf2;
    size_t len2;
    AKT_OK(ak_hnsw_save_buf(g, &buf2, &len2));
    AKT_EQ_INT(len2, len);
    AKT_TRUE(memcmp(buf, buf2, len) == 0);
    ak_free(buf2);
    /* fd round trip, embedded after a prefix with trailing bytes */
    char path[] = "/tmp/akidb_hnsw_XXXXXX";
    int fd = mkstemp(path);
    AKT_TRUE(fd >= 0);
    AKT_EQ_INT(write(fd, "PREFIX", 6), 6);
    AKT_OK(ak_hnsw_save_fd(h, fd));
    AKT_EQ_INT(write(fd, "TAIL", 4), 4);
    AKT_EQ_INT(lseek(fd, 6, SEEK_SET), 6);
    ak_hnsw *f;
    AKT_OK(ak_hnsw_load_fd(fd, &f));
    char tail[4];
    AKT_EQ_INT(read(fd, tail, 4), 4);
    AKT_TRUE(memcmp(tail, "TAIL", 4) == 0);
    close(fd);
    unlink(path);
    AKT_TRUE(same_results(h, f, q, nq, dim));
    /* the loaded index keeps working: adds reuse free slots, removes */
    for (uint32_t i = 0; i < n; i += 7)
        AKT_OK(ak_hnsw_add(f, i, v + (size_t)i * dim));
    AKT_OK(ak_hnsw_remove(f, 1));
    AKT_OK(ak_hnsw_validate(f, false));
    AKT_LE_INT(ak_hnsw_get_params(f).capacity, n);
    /* empty index round trip */
    ak_hnsw_params p = { .dim = 3, .metric = AK_METRIC_L2 };
    ak_hnsw *e, *e2;
    AKT_OK(ak_hnsw_create(&p, &e));
    void *eb;
    size_t el;
    AKT_OK(ak_hnsw_save_buf(e, &eb, &el));
    AKT_OK(ak_hnsw_load_buf(eb, el, &e2, NULL));
    AKT_EQ_INT(ak_hnsw_count(e2), 0);
    ak_free(eb);
    ak_hnsw_free(e);
    ak_hnsw_free(e2);
    ak_hnsw_free(f);
    ak_hnsw_free(g);
    ak_hnsw_free(h);
    ak_free(buf);
    free(v);
    free(q);
}

static void put32le(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void reseal(unsigned char *b, size_t len)
{
    uint64_t s = ak_index_hash64(b, len - 8, 0);
    memcpy(b + len - 8, &s, 8);
}

AKT_TEST(corrupt_images)
{
    size_t n = 300, dim = 8;
    float *v = random_data(n, dim);
    ak_hnsw *h = build(v, n, dim, AK_METRIC_L2, 4);
    AKT_TRUE(h != NULL);
    AKT_OK(ak_hnsw_remove(h, 17));
    unsigned char *buf;
    size_t len;
    AKT_OK(ak_hnsw_save_buf(h, (void **)&buf, &len));
    ak_hnsw *g = NULL;
    /* truncations */
    for (size_t cut = 0; cut < len; cut += (cut < 200 ? 1 : 97))
        AKT_STATUS(ak_hnsw_load_buf(buf, cut, &g, NULL), AKIDB_ECORRUPT);
    /* flipped bytes anywhere: checksum catches them */
    unsigned char *c = malloc(len);
    for (size_t pos = 0; pos < len; pos += (pos < 128 ? 1 : 31)) {
        memcpy(c, buf, len);
        c[pos] ^= 0x5A;
        AKT_STATUS(ak_hnsw_load_buf(c, len, &g, NULL), AKIDB_ECORRUPT);
    }
    /* structurally wrong but correctly sealed images */
    uint32_t n_slots;
    memcpy(&n_slots, buf + 48, 4);
    size_t lab = 96, lev = lab + 4 * (size_t)n_slots;
    size_t vec = lev + n_slots + ((4 - (n_slots & 3)) & 3);
    size_t l0 = vec + (size_t)n_slots * dim * 4;
    struct { size_t off; uint32_t val; const char *what; } cases[] = {
        { 24, 0, "dim" }, { 28, 9, "metric" }, { 32, 1, "M" }, { 52, 1, "count" },
        { 56, 5000, "entry" }, { l0 + 4, 100000, "link target" },
        { l0 + 4, 0, "self link" }, { l0, 99, "link count" },
        { lab + 4, 0, "duplicate label" }, { vec, 0x7FC00000u, "NaN vector" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(c, buf, len);
        put32le(c + cases[i].off, cases[i].val);
        reseal(c, len);
        akidb_status st = ak_hnsw_load_buf(c, len, &g, NULL);
        if (st != AKIDB_ECORRUPT)
            fprintf(stderr, "  case %s loaded\n", cases[i].what);
        AKT_STATUS(st, AKIDB_ECORRUPT);
    }
    /* link to the removed (free) slot */
    memcpy(c, buf, len);
    uint32_t slot17 = AK_HNSW_MAX_LABEL;
    for (uint32_t s = 0; s < n_slots; s++) {
        uint32_t l;
        memcpy(&l, buf + lab + 4 * s, 4);
        if (l == 0xFFFFFFFFu) slot17 = s;
    }
    AKT_TRUE(slot17 < n_slots);
    put32le(c + l0 + 4, slot17);
    reseal(c, len);
    AKT_STATUS(ak_hnsw_load_buf(c, len, &g, NULL), AKIDB_ECORRUPT);
    /* fd loader on a truncated file */
    char path[] = "/tmp/akidb_hnsw_XXXXXX";
    int fd = mkstemp(path);
    AKT_EQ_INT(write(fd, buf, len / 2), (long long)(len / 2));
    lseek(fd, 0, SEEK_SET);
    AKT_STATUS(ak_hnsw_load_fd(fd, &g), AKIDB_ECORRUPT);
    close(fd);
    unlink(path);
    free(c);
    ak_free(buf);
    ak_hnsw_free(h);
    free(v);
}

/* ---- concurrency ------------------------------------------------------------- */

typedef struct {
    ak_hnsw *h;
    const float *v;
    size_t dim, from, to;
    volatile int *stop;
    long searches;
    int err;
} tctx;

static void *adder(void *arg)
{
    tctx *t = arg;
    for (size_t i = t->from; i < t->to; i++)
        if (ak_hnsw_add(t->h, (uint32_t)i, t->v + i * t->dim))
            t->err = 1;
    return NULL;
}

static void *searcher(void *arg)
{
    tctx *t = arg;
    fctx c = { 50, 0 };
    size_t i = 0;
    while (!__atomic_load_n(t->stop, __ATOMIC_ACQUIRE)) {
        ak_hit hits[10];
        size_t nh;
        ak_filter_fn f = (i & 1) ? accept_pct : NULL;
        if (ak_hnsw_search(t->h, t->v + (i % 500) * t->dim, 10, 32, f, &c, hits, &nh))
            t->err = 1;
        for (size_t j = 0; j < nh; j++)
            if (hits[j].label >= t->to)
                t->err = 2;
        i++;
        t->searches++;
    }
    return NULL;
}

static void *remover(void *arg)
{
    tctx *t = arg;
    for (size_t i = t->from; i < t->to; i += 3) {
        akidb_status st = ak_hnsw_remove(t->h, (uint32_t)i);
        if (st != AKIDB_OK && st != AKIDB_ENOENT && st != AKIDB_EBUSY)
            t->err = 1;
    }
    return NULL;
}

AKT_TEST(concurrent_search_during_inserts)
{
    size_t n = quick() ? 2000 : 8000, dim = 32;
    float *v = random_data(n, dim);
    ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = AK_METRIC_L2, .M = 12,
                         .ef_construction = 64, .seed = 3, .capacity = 100 };
    ak_hnsw *h;
    AKT_OK(ak_hnsw_create(&p, &h));
    volatile int stop = 0;
    tctx add[2], srch[3], rem;
    pthread_t ta[2], ts[3], tr;
    for (int i = 0; i < 3; i++) {
        srch[i] = (tctx){ h, v, dim, 0, n, &stop, 0, 0 };
        pthread_create(&ts[i], NULL, searcher, &srch[i]);
    }
    for (int i = 0; i < 2; i++) {
        add[i] = (tctx){ h, v, dim, i * n / 2, (i + 1) * n / 2, &stop, 0, 0 };
        pthread_create(&ta[i], NULL, adder, &add[i]);
    }
    rem = (tctx){ h, v, dim, 0, n / 4, &stop, 0, 0 };
    pthread_create(&tr, NULL, remover, &rem);
    for (int i = 0; i < 2; i++)
        pthread_join(ta[i], NULL);
    pthread_join(tr, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    long total = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(ts[i], NULL);
        AKT_EQ_INT(srch[i].err, 0);
        total += srch[i].searches;
    }
    AKT_EQ_INT(add[0].err, 0);
    AKT_EQ_INT(add[1].err, 0);
    AKT_EQ_INT(rem.err, 0);
    fprintf(stderr, "  %ld searches ran during the build; count %zu\n", total, ak_hnsw_count(h));
    AKT_TRUE(total > 0);
    AKT_OK(ak_hnsw_validate(h, false));
    float *q = random_data(50, dim);
    double r = measure_recall(h, q, 50, dim, 100, NULL, NULL, AK_SEARCH_GRAPH);
    fprintf(stderr, "  recall@10 of the concurrently built graph: %.4f\n", r);
    AKT_GE(r, 0.9);
    free(q);
    ak_hnsw_free(h);
    free(v);
}

/* ---- out of memory ---------------------------------------------------------- */

AKT_TEST(out_of_memory)
{
    size_t n = 120, dim = 8;
    float *v = random_data(n, dim);
    int ok_runs = 0;
    for (long fail = 0; fail < 400; fail += (fail < 60 ? 1 : 7)) {
        ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = AK_METRIC_COSINE, .M = 4,
                             .ef_construction = 20, .seed = 9, .capacity = 10 };
        ak_hnsw *h = NULL;
        ak_alloc_fail_after(fail);
        akidb_status st = ak_hnsw_create(&p, &h);
        if (st) {
            ak_alloc_fail_after(-1);
            AKT_EQ_INT(st, AKIDB_ENOMEM);
            continue;
        }
        size_t added = 0;
        for (size_t i = 0; i < n; i++) {
            st = ak_hnsw_add(h, (uint32_t)i, v + i * dim);
            if (st == AKIDB_OK) added++;
            else AKT_EQ_INT(st, AKIDB_ENOMEM);
        }
        ak_hit hits[5];
        size_t nh;
        st = ak_hnsw_search(h, v, 5, 16, NULL, NULL, hits, &nh);
        AKT_TRUE(st == AKIDB_OK || st == AKIDB_ENOMEM);
        void *buf = NULL;
        size_t len;
        st = ak_hnsw_save_buf(h, &buf, &len);
        AKT_TRUE(st == AKIDB_OK || st == AKIDB_ENOMEM);
        ak_hnsw *g = NULL;
        if (buf) {
            st = ak_hnsw_load_buf(buf, len, &g, NULL);
            AKT_TRUE(st == AKIDB_OK || st == AKIDB_ENOMEM);
            ak_free(buf);
        }
        st = ak_hnsw_remove(h, 3);
        AKT_TRUE(st == AKIDB_OK || st == AKIDB_ENOMEM || st == AKIDB_ENOENT);
        ak_alloc_fail_after(-1);
        AKT_EQ_INT(ak_hnsw_count(h) + (st == AKIDB_OK), added);
        AKT_OK(ak_hnsw_validate(h, false));
        if (added == n) ok_runs++;
        ak_hnsw_free(g);
        ak_hnsw_free(h);
    }
    AKT_TRUE(ok_runs > 0);
    free(v);
}

AKT_MAIN(AKT_REG(distance_paths), AKT_REG(bounded_and_pair_kernels), AKT_REG(group_kernels),
         AKT_REG(recall_random), AKT_REG(recall_clustered),
         AKT_REG(filtered_recall), AKT_REG(remove_and_reuse), AKT_REG(edge_cases),
         AKT_REG(serialize_roundtrip), AKT_REG(corrupt_images),
         AKT_REG(concurrent_search_during_inserts), AKT_REG(out_of_memory))
