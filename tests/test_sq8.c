/*
 * test_sq8.c - int8 scalar quantisation of the HNSW index (src/index/sq8.c,
 * sq8_kernels.c): every variant of the integer kernel the CPU can run,
 * single and group form, against the portable one and an int64 reference; the rule that fixes the
 * bounds (no codes before AK_SQ8_TRAIN_N vectors, codes that never change
 * after, the quantile); recall@10 with rescoring against the float index
 * at the same ef on clustered data, with the returned scores bit-equal to
 * the float kernels' and the float walk (quant_ignore) giving the float
 * index's hits exactly; oversampling and no-rescore; save/load round trips
 * and damaged quantisation headers; concurrent adds across the training
 * point with searches running; removals; allocation failures.
 * AKIDB_TEST_QUICK=1 shrinks the data sets.
 */
#include "akt.h"
#include "index/hnsw_internal.h"

#include <pthread.h>
#include <stdbool.h>

static int quick(void)
{
    const char *e = getenv("AKIDB_TEST_QUICK");
    return e && *e && *e != '0';
}

static uint64_t rs = 0x5eed5eedull;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)(rs >> 11);
}
static float frand(void) { return (float)((double)rnd() / 2147483648.0 - 1.0); }

/* n points around nclust centres (spread 0.35 per component, centres in
 * [-1, 1]). */
static float *clustered(size_t n, size_t dim, size_t nclust, const float *c)
{
    float *v = malloc(n * dim * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        size_t k = rnd() % nclust;
        for (size_t j = 0; j < dim; j++) {
            float g = (frand() + frand() + frand()) * 0.35f;
            v[i * dim + j] = c[k * dim + j] + g;
        }
    }
    return v;
}

static float *uniform(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = frand();
    return v;
}

static ak_hnsw *build(const float *v, size_t n, size_t dim, ak_metric m, ak_quant qt,
                      float quantile)
{
    ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = m, .M = 16, .ef_construction = 100,
                         .seed = 7, .capacity = n, .quant = qt, .quantile = quantile };
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

/* The code row an index with bounds (lo, step) must hold for x. */
static void expect_codes(const ak_hnsw *h, const float *x, uint8_t *u)
{
    for (uint32_t i = 0; i < h->dim; i++) {
        double t = ((double)x[i] - h->sq.lo) / h->sq.step;
        u[i] = t <= 0 ? 0 : t >= 255 ? 255 : (uint8_t)(t + 0.5);
    }
}

/* Every live slot's code row is the code of its stored vector (within one
 * step of rounding: expect_codes divides where the index multiplies by
 * the inverse). */
static void check_all_codes(const ak_hnsw *h)
{
    uint8_t *u = malloc(h->dim);
    float *x = malloc(h->dim * sizeof *x);
    for (uint32_t s = 0; s < h->n_slots; s++) {
        const uint8_t *row = h->sq.codes + (size_t)s * h->dim;
        if (h->state[s] != SLOT_LIVE) {
            for (uint32_t i = 0; i < h->dim; i++)
                AKT_EQ_INT(row[i], 0);
            continue;
        }
        AKT_OK(ak_hnsw_get_vector(h, h->slot_label[s], x));
        expect_codes(h, x, u);
        for (uint32_t i = 0; i < h->dim; i++)
            AKT_LE_INT(abs((int)row[i] - (int)u[i]), 1);
    }
    free(u);
    free(x);
}

/* ---- the integer kernel -------------------------------------------------- */

static int64_t ref_dot(const uint8_t *u, const int8_t *s, size_t n)
{
    int64_t r = 0;
    for (size_t i = 0; i < n; i++)
        r += (int64_t)u[i] * s[i];
    return r;
}

AKT_TEST(kernel_variants)
{
    static const size_t lens[] = { 0, 1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
                                   255, 384, 768, 1000, 4099 };
    ak_sq8_dot_fn port = ak_sq8_dot_get(AK_SQ8_PORTABLE);
    AKT_TRUE(port != NULL);
    const ak_cpu *cpu = ak_cpu_get();
    int ran = 0;
    size_t big = AK_HNSW_MAX_DIM;
    uint8_t *u = malloc(big + 1);
    int8_t *s0 = malloc(big + 1), *s1 = malloc(big + 1);
    for (int isa = 0; isa < AK_SQ8_NISA; isa++) {
        ak_sq8_dot_fn f = ak_sq8_dot_get((ak_sq8_isa)isa);
        AKT_TRUE(ak_sq8_isa_name((ak_sq8_isa)isa) != NULL);
        bool expect = isa == AK_SQ8_PORTABLE;
#if defined(__x86_64__)
        expect |= (isa == AK_SQ8_AVX2 && cpu->avx2) || (isa == AK_SQ8_AVX512BW && cpu->avx512bw) ||
                  (isa == AK_SQ8_AVX512VNNI && cpu->avx512bw && cpu->avx512_vnni);
#elif defined(__aarch64__)
        expect |= isa == AK_SQ8_NEON;
#endif
        (void)cpu;
        AKT_EQ_INT(f != NULL, expect);
        if (!f)
            continue;
        ran++;
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            size_t n = lens[li];
            for (int rep = 0; rep < 4; rep++) {
                for (size_t i = 0; i <= n; i++) {
                    u[i] = (uint8_t)rnd();
                    s0[i] = (int8_t)rnd();
                    s1[i] = (int8_t)rnd();
                }
                /* offset by one byte: unaligned rows */
                int32_t a[2] = { 7, 7 }, b[2] = { 9, 9 };
                f(u + 1, s0 + 1, s1 + 1, n, a);
                port(u + 1, s0 + 1, s1 + 1, n, b);
                AKT_EQ_INT(a[0], b[0]);
                AKT_EQ_INT(a[1], b[1]);
                AKT_EQ_INT(b[0], ref_dot(u + 1, s0 + 1, n));
                AKT_EQ_INT(b[1], ref_dot(u + 1, s1 + 1, n));
            }
        }
        /* the group form: each row's sums those of the single kernel */
        ak_sq8_dotm_fn fm = ak_sq8_dotm_get((ak_sq8_isa)isa);
        AKT_TRUE(fm != NULL);
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
            size_t n = lens[li];
            uint8_t *rows = malloc(8 * (n + 1));
            for (size_t i = 0; i < 8 * (n + 1); i++)
                rows[i] = (uint8_t)rnd();
            for (size_t i = 0; i <= n; i++) {
                s0[i] = (int8_t)rnd();
                s1[i] = (int8_t)rnd();
            }
            for (size_t m = 1; m <= 8; m++) {
                const uint8_t *rp[8];
                for (size_t j = 0; j < m; j++)
                    rp[j] = rows + j * (n + 1) + 1;
                int32_t got[16], want[2];
                fm(rp, m, s0 + 1, s1 + 1, n, got);
                for (size_t j = 0; j < m; j++) {
                    port(rp[j], s0 + 1, s1 + 1, n, want);
                    AKT_EQ_INT(got[2 * j], want[0]);
                    AKT_EQ_INT(got[2 * j + 1], want[1]);
                }
            }
            free(rows);
        }
        /* extremes at the largest dimension: |sum| near 2^31 without overflow */
        memset(u, 255, big);
        memset(s0, -128, big);
        memset(s1, 127, big);
        int32_t a[2], b[2];
        f(u, s0, s1, big, a);
        port(u, s0, s1, big, b);
        AKT_EQ_INT(a[0], ref_dot(u, s0, big));
        AKT_EQ_INT(a[1], ref_dot(u, s1, big));
        AKT_EQ_INT(b[0], a[0]);
        AKT_EQ_INT(b[1], a[1]);
        fprintf(stderr, "  %s: equal to portable\n", ak_sq8_isa_name((ak_sq8_isa)isa));
    }
    AKT_TRUE(ak_sq8_isa_name(AK_SQ8_NISA) == NULL);
    AKT_TRUE(ak_sq8_dot_get(AK_SQ8_NISA) == NULL);
    AKT_TRUE(ak_sq8_dotm_get(AK_SQ8_NISA) == NULL);
    AKT_EQ_INT(ak_sq8_isa_for(AKIDB_KERNELS_SCALAR), AK_SQ8_PORTABLE);
    AKT_TRUE(ak_sq8_dot_get(ak_sq8_isa_for(AKIDB_KERNELS_AUTO)) != NULL);
    if (cpu->avx512_vnni && cpu->avx512bw)
        AKT_EQ_INT(ak_sq8_isa_for(AKIDB_KERNELS_AVX512), AK_SQ8_AVX512VNNI);
    AKT_GE(ran, 1);
    free(u);
    free(s0);
    free(s1);
}

/* ---- bounds -------------------------------------------------------------- */

AKT_TEST(bounds_rule)
{
    size_t dim = 16, n = AK_SQ8_TRAIN_N + 300;
    float *v = uniform(n * dim);
    for (size_t i = 0; i < AK_SQ8_TRAIN_N * dim; i++)   /* the first TRAIN_N: in [-1, 1) */
        if (i % 401 == 0)
            v[i] = 50.0f;                               /* 0.25% outliers */
    ak_hnsw *h = NULL;
    ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = AK_METRIC_L2, .M = 8,
                         .ef_construction = 40, .seed = 3, .quant = AK_QUANT_SQ8 };
    AKT_OK(ak_hnsw_create(&p, &h));   /* no quantile: the whole range */
    AKT_EQ_INT(ak_hnsw_get_params(h).quant, AK_QUANT_SQ8);
    AKT_NEAR(ak_hnsw_get_params(h).quantile, 1.0, 1e-7);
    ak_hnsw_free(h);
    h = NULL;
    p.quantile = 0.99f;
    AKT_OK(ak_hnsw_create(&p, &h));
    AKT_NEAR(ak_hnsw_get_params(h).quantile, 0.99, 1e-7);
    for (size_t i = 0; i + 1 < AK_SQ8_TRAIN_N; i++)
        AKT_OK(ak_hnsw_add(h, (uint32_t)i, v + i * dim));
    AKT_FALSE(h->sq.trained);   /* one short: no codes, float search */
    AKT_OK(ak_hnsw_add(h, AK_SQ8_TRAIN_N - 1, v + (AK_SQ8_TRAIN_N - 1) * dim));
    AKT_TRUE(h->sq.trained);
    /* 0.99 quantile of values in [-1, 1) with 0.25% at 50: the outliers
     * fall outside, the range is about [-0.99, 0.99] */
    float lo = h->sq.lo, step = h->sq.step;
    AKT_NEAR(lo, -0.99, 0.03);
    AKT_NEAR(lo + 255.0 * step, 0.99, 0.03);
    check_all_codes(h);
    uint8_t first[16];
    memcpy(first, h->sq.codes, dim);
    /* later adds (a wider range among them) change neither bounds nor codes */
    for (size_t i = AK_SQ8_TRAIN_N; i < n; i++) {
        float *x = v + i * dim;
        for (size_t j = 0; j < dim; j++)
            x[j] *= 3;
        AKT_OK(ak_hnsw_add(h, (uint32_t)i, x));
    }
    AKT_TRUE(h->sq.lo == lo && h->sq.step == step);
    AKT_TRUE(memcmp(first, h->sq.codes, dim) == 0);
    check_all_codes(h);
    AKT_OK(ak_hnsw_validate(h, false));
    ak_hnsw_free(h);

    /* quantile 1: the minimum and the maximum */
    p.quantile = 1.0f;
    AKT_OK(ak_hnsw_create(&p, &h));
    for (size_t i = 0; i < AK_SQ8_TRAIN_N; i++)
        AKT_OK(ak_hnsw_add(h, (uint32_t)i, v + i * dim));
    float mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < AK_SQ8_TRAIN_N * dim; i++) {
        mn = v[i] < mn ? v[i] : mn;
        mx = v[i] > mx ? v[i] : mx;
    }
    AKT_TRUE(h->sq.lo == mn);
    AKT_NEAR(h->sq.lo + 255.0 * h->sq.step, mx, 1e-4 * mx);
    ak_hnsw_free(h);

    /* parameters refused */
    p.quantile = 0.3f;
    AKT_STATUS(ak_hnsw_create(&p, &h), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "quantile");
    p.quantile = 0;
    p.quant = (ak_quant)7;
    AKT_STATUS(ak_hnsw_create(&p, &h), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "quantisation");
    free(v);
}

/* ---- recall and scores --------------------------------------------------- */

/* recall@k of hits a against truth b */
static double overlap(const ak_hit *a, size_t na, const ak_hit *b, size_t nb)
{
    size_t hit = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (a[i].label == b[j].label) {
                hit++;
                break;
            }
    return nb ? (double)hit / (double)nb : 1.0;
}

/* The score index.h defines for label's stored vector, with the kernel of
 * the path in force (rescored scores must equal it bit for bit). */
static float float_score(const ak_hnsw *h, const float *q, uint32_t label, float *buf)
{
    AKT_OK(ak_hnsw_get_vector(h, label, buf));
    if (h->metric == AK_METRIC_L2)
        return ak_l2sq(q, buf, h->dim);
    float *qq = malloc(h->dim * sizeof *qq);
    memcpy(qq, q, h->dim * sizeof *qq);
    if (h->metric == AK_METRIC_COSINE)
        ak_vec_normalize(qq, h->dim);
    float d = ak_dot(qq, buf, h->dim);
    free(qq);
    return d;
}

AKT_TEST(recall_against_float)
{
    size_t n = quick() ? 3000 : 12000, dim = 64, nq = quick() ? 60 : 200, K = 10;
    float *c = uniform(40 * dim);
    float *v = clustered(n, dim, 40, c), *q = clustered(nq, dim, 40, c);
    free(c);
    const ak_metric ms[3] = { AK_METRIC_L2, AK_METRIC_COSINE, AK_METRIC_DOT };
    const size_t efs[2] = { 32, 96 };
    float *buf = malloc(dim * sizeof *buf);
    for (int mi = 0; mi < 3; mi++) {
        ak_hnsw *hf = build(v, n, dim, ms[mi], AK_QUANT_NONE, 0);
        ak_hnsw *hq = build(v, n, dim, ms[mi], AK_QUANT_SQ8, 0);
        AKT_TRUE(hf && hq && hq->sq.trained);
        AKT_OK(ak_hnsw_validate(hq, false));
        for (int ei = 0; ei < 2; ei++) {
            double rf = 0, rq = 0, rn = 0, ro = 0, aerr = 0, amax = 0, escale = 0;
            size_t aerr_n = 0;
            for (size_t i = 0; i < nq; i++) {
                const float *x = q + i * dim;
                ak_hit truth[10], hf_[10], hq_[10], hi_[10], hn_[10], ho_[10];
                size_t nt, n1, n2, n3, n4, n5;
                AKT_OK(ak_exact_search(hf, x, K, NULL, NULL, truth, &nt));
                ak_search_opts o = { .ef = efs[ei] };
                AKT_OK(ak_hnsw_search_ex(hf, x, K, &o, hf_, &n1));
                AKT_OK(ak_hnsw_search_ex(hq, x, K, &o, hq_, &n2));
                ak_search_opts oi = { .ef = efs[ei], .quant_ignore = true };
                AKT_OK(ak_hnsw_search_ex(hq, x, K, &oi, hi_, &n3));
                ak_search_opts on = { .ef = efs[ei], .quant_no_rescore = true };
                AKT_OK(ak_hnsw_search_ex(hq, x, K, &on, hn_, &n4));
                ak_search_opts ov = { .ef = efs[ei], .oversampling = 2.0 };
                AKT_OK(ak_hnsw_search_ex(hq, x, K, &ov, ho_, &n5));
                AKT_EQ_INT(n1, K);
                AKT_EQ_INT(n2, K);
                AKT_EQ_INT(n4, K);
                AKT_EQ_INT(n5, K);
                /* same adds, same seed, graph built on floats: the float walk
                 * of the SQ8 index is the float index's walk */
                AKT_EQ_INT(n3, n1);
                for (size_t j = 0; j < n1; j++) {
                    AKT_EQ_INT(hi_[j].label, hf_[j].label);
                    AKT_TRUE(hi_[j].score == hf_[j].score);
                }
                /* rescored scores: exact float scores, best first */
                for (size_t j = 0; j < n2; j++) {
                    float e = float_score(hq, x, hq_[j].label, buf);
                    if (hq_[j].score != e)
                        AKT_FAIL_("label %u: rescored score %.9g, float kernel %.9g",
                                  hq_[j].label, hq_[j].score, e);
                    if (j)
                        AKT_TRUE(ms[mi] == AK_METRIC_L2 ? hq_[j - 1].score <= hq_[j].score
                                                        : hq_[j - 1].score >= hq_[j].score);
                }
                /* without rescoring: approximate scores near the exact ones */
                for (size_t j = 0; j < n4; j++) {
                    double e = float_score(hq, x, hn_[j].label, buf);
                    double err = fabs(hn_[j].score - e);
                    aerr += err;
                    aerr_n++;
                    amax = err > amax ? err : amax;
                    escale += fabs(e);
                }
                rf += overlap(hf_, n1, truth, nt);
                rq += overlap(hq_, n2, truth, nt);
                rn += overlap(hn_, n4, truth, nt);
                ro += overlap(ho_, n5, truth, nt);
            }
            rf /= nq, rq /= nq, rn /= nq, ro /= nq;
            fprintf(stderr, "  %-6s ef %3zu: recall@10 float %.4f, sq8+rescore %.4f, "
                    "sq8 oversampling 2 %.4f, sq8 no rescore %.4f\n",
                    ak_metric_name(ms[mi]), efs[ei], rf, rq, ro, rn);
            fprintf(stderr, "  %-6s ef %3zu: approximate scores: mean error %.4f (mean |score| "
                    "%.3f), largest %.4f\n", ak_metric_name(ms[mi]), efs[ei], aerr / aerr_n,
                    escale / aerr_n, amax);
            AKT_LE(aerr / aerr_n, 0.01 * escale / aerr_n + 0.01);
            AKT_GE(rq, rf - 0.01);
            AKT_GE(rn, rf - 0.15);
            AKT_GE(ro, rf - 0.05);
        }
        size_t mf = ak_hnsw_memory(hf), mq = ak_hnsw_memory(hq);
        fprintf(stderr, "  %-6s memory: float %zu bytes, sq8 %zu bytes (+%zu: codes%s)\n",
                ak_metric_name(ms[mi]), mf, mq, mq - mf,
                ms[mi] == AK_METRIC_L2 ? " and norms" : "");
        AKT_GE((double)(mq - mf), (double)n * dim);
        ak_hnsw_free(hf);
        ak_hnsw_free(hq);
    }
    free(buf);
    free(v);
    free(q);
}

/* Below AK_SQ8_TRAIN_N vectors an SQ8 index has no codes: its searches are
 * float searches, the same hits and scores as an index without SQ8. */
AKT_TEST(untrained_is_float)
{
    size_t n = 500, dim = 24;
    float *v = uniform(n * dim);
    ak_hnsw *hf = build(v, n, dim, AK_METRIC_COSINE, AK_QUANT_NONE, 0);
    ak_hnsw *hq = build(v, n, dim, AK_METRIC_COSINE, AK_QUANT_SQ8, 0);
    AKT_TRUE(hf && hq);
    AKT_FALSE(hq->sq.trained);
    for (size_t i = 0; i < 20; i++) {
        ak_hit a[5], b[5];
        size_t na, nb;
        ak_search_opts o = { .ef = 40, .quant_no_rescore = (i & 1) != 0 };
        AKT_OK(ak_hnsw_search_ex(hf, v + i * 7 * dim, 5, &o, a, &na));
        AKT_OK(ak_hnsw_search_ex(hq, v + i * 7 * dim, 5, &o, b, &nb));
        AKT_EQ_INT(na, nb);
        for (size_t j = 0; j < na; j++)
            AKT_TRUE(a[j].label == b[j].label && a[j].score == b[j].score);
    }
    ak_hnsw_free(hf);
    ak_hnsw_free(hq);
    free(v);
}

/* ---- persistence --------------------------------------------------------- */

static void *image(const ak_hnsw *h, size_t *len)
{
    void *buf = NULL;
    AKT_OK(ak_hnsw_save_buf(h, &buf, len));
    AKT_EQ_INT(*len, ak_hnsw_serialized_size(h));
    return buf;
}

/* Sets the image's checksum after an edit. */
static void reseal(unsigned char *b, size_t len)
{
    uint64_t x = ak_index_hash64(b, len - 8, 0);
    memcpy(b + len - 8, &x, 8);
}

AKT_TEST(save_load)
{
    size_t n = AK_SQ8_TRAIN_N + 700, dim = 20;
    float *c = uniform(10 * dim);
    float *v = clustered(n, dim, 10, c);
    free(c);
    for (int mi = 0; mi < 3; mi++) {
        ak_metric m = mi == 0 ? AK_METRIC_L2 : mi == 1 ? AK_METRIC_COSINE : AK_METRIC_DOT;
        ak_hnsw *h = build(v, n, dim, m, AK_QUANT_SQ8, 0.95f);
        AKT_TRUE(h && h->sq.trained);
        uint32_t gone[50];
        for (uint32_t i = 0; i < 50; i++)
            gone[i] = i * 31;
        size_t nr;
        AKT_OK(ak_hnsw_remove_batch(h, gone, 50, &nr));
        AKT_EQ_INT(nr, 50);
        size_t len;
        unsigned char *b = image(h, &len);
        uint32_t flags;
        memcpy(&flags, b + 68, 4);
        AKT_EQ_INT(flags, 3);
        ak_hnsw *g = NULL;
        size_t used = 0;
        AKT_OK(ak_hnsw_load_buf(b, len, &g, &used));
        AKT_EQ_INT(used, len);
        AKT_OK(ak_hnsw_validate(g, false));
        ak_hnsw_params pg = ak_hnsw_get_params(g);
        AKT_EQ_INT(pg.quant, AK_QUANT_SQ8);
        AKT_NEAR(pg.quantile, 0.95, 1e-7);
        AKT_TRUE(g->sq.trained && g->sq.lo == h->sq.lo && g->sq.step == h->sq.step);
        AKT_TRUE(memcmp(g->sq.codes, h->sq.codes, (size_t)h->n_slots * dim) == 0);
        if (m == AK_METRIC_L2)
            AKT_TRUE(memcmp(g->sq.sqn, h->sq.sqn, (size_t)h->n_slots * sizeof(float)) == 0);
        /* the same answers, and the same image written again */
        for (size_t i = 0; i < 30; i++) {
            ak_hit a[8], d[8];
            size_t na, nd;
            for (int mode = 0; mode < 2; mode++) {
                ak_search_opts o = { .ef = 50, .quant_no_rescore = mode == 1 };
                AKT_OK(ak_hnsw_search_ex(h, v + i * 13 * dim, 8, &o, a, &na));
                AKT_OK(ak_hnsw_search_ex(g, v + i * 13 * dim, 8, &o, d, &nd));
                AKT_EQ_INT(na, nd);
                for (size_t j = 0; j < na; j++)
                    AKT_TRUE(a[j].label == d[j].label && a[j].score == d[j].score);
            }
        }
        size_t len2;
        unsigned char *b2 = image(g, &len2);
        AKT_TRUE(len2 == len && memcmp(b, b2, len) == 0);
        free(b2);
        /* adds after a load are coded with the loaded bounds */
        for (uint32_t i = 0; i < 50; i++)
            AKT_OK(ak_hnsw_add(g, gone[i], v + (size_t)(i + 7) * dim));
        check_all_codes(g);
        ak_hnsw_free(g);

        /* damaged quantisation fields, checksum made right: refused */
        struct { size_t off; uint32_t val; const char *msg; } bad[] = {
            { 68, 7, "flags" }, { 68, 2, "flags" }, { 68, 1, "without code rows" },
            { 72, 0x3e99999a /* 0.3f */, "quantile" }, { 80, 0, "bounds" },
            { 80, 0x7fc00000 /* NaN */, "bounds" }, { 88, 1, "reserved" },
        };
        for (size_t t = 0; t < sizeof bad / sizeof *bad; t++) {
            unsigned char *x = malloc(len);
            memcpy(x, b, len);
            memcpy(x + bad[t].off, &bad[t].val, 4);
            reseal(x, len);
            g = NULL;
            AKT_STATUS(ak_hnsw_load_buf(x, len, &g, NULL), AKIDB_ECORRUPT);
            AKT_CONTAINS(akidb_last_error(), bad[t].msg);
            free(x);
        }
        /* a free slot with codes */
        {
            unsigned char *x = malloc(len);
            memcpy(x, b, len);
            uint32_t fs = h->free_slots[0];
            x[len - 8 - (size_t)h->n_slots * dim + (size_t)fs * dim] = 9;
            reseal(x, len);
            AKT_STATUS(ak_hnsw_load_buf(x, len, &g, NULL), AKIDB_ECORRUPT);
            AKT_CONTAINS(akidb_last_error(), "free slot");
            free(x);
        }
        free(b);
        ak_hnsw_free(h);
    }
    /* an untrained SQ8 index: flag 1 and the quantile, no code rows */
    ak_hnsw *h = build(v, 100, dim, AK_METRIC_L2, AK_QUANT_SQ8, 0);
    size_t len;
    unsigned char *b = image(h, &len);
    uint32_t flags;
    memcpy(&flags, b + 68, 4);
    AKT_EQ_INT(flags, 1);
    ak_hnsw *g = NULL;
    AKT_OK(ak_hnsw_load_buf(b, len, &g, NULL));
    AKT_FALSE(g->sq.trained);
    for (size_t i = 100; i < AK_SQ8_TRAIN_N; i++)   /* trains once it holds enough */
        AKT_OK(ak_hnsw_add(g, (uint32_t)i, v + i * dim));
    AKT_TRUE(g->sq.trained);
    check_all_codes(g);
    ak_hnsw_free(g);
    ak_hnsw_free(h);
    free(b);
    /* no SQ8: bytes 68..95 zero, as images were before quantisation */
    h = build(v, 100, dim, AK_METRIC_L2, AK_QUANT_NONE, 0);
    b = image(h, &len);
    for (int i = 68; i < 96; i++)
        AKT_EQ_INT(b[i], 0);
    AKT_OK(ak_hnsw_load_buf(b, len, &g, NULL));
    AKT_EQ_INT(ak_hnsw_get_params(g).quant, AK_QUANT_NONE);
    ak_hnsw_free(g);
    ak_hnsw_free(h);
    free(b);
    free(v);
}

/* ---- concurrency --------------------------------------------------------- */

typedef struct cjob {
    ak_hnsw *h;
    const float *v;
    size_t dim, from, to, step;
    int searcher;
    volatile int *stop;
    akidb_status st;
} cjob;

static void *cworker(void *arg)
{
    cjob *j = arg;
    if (j->searcher) {
        ak_hit hits[10];
        size_t nh, i = 0;
        while (!*j->stop && j->st == AKIDB_OK) {
            ak_search_opts o = { .ef = 32, .quant_no_rescore = (i & 1) != 0 };
            j->st = ak_hnsw_search_ex(j->h, j->v + (i++ % 100) * j->dim, 10, &o, hits, &nh);
        }
        return NULL;
    }
    for (size_t i = j->from; i < j->to && j->st == AKIDB_OK; i += j->step)
        j->st = ak_hnsw_add(j->h, (uint32_t)i, j->v + i * j->dim);
    return NULL;
}

/* Adds on three threads cross the training point while two threads
 * search: afterwards every vector has its code (none was missed or coded
 * with other bounds) and the graph is whole. */
AKT_TEST(concurrent_training)
{
    size_t n = AK_SQ8_TRAIN_N * 3, dim = 32;
    float *v = uniform(n * dim);
    ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = AK_METRIC_L2, .M = 8,
                         .ef_construction = 40, .seed = 11, .quant = AK_QUANT_SQ8 };
    ak_hnsw *h = NULL;
    AKT_OK(ak_hnsw_create(&p, &h));
    for (size_t i = 0; i < 200; i++)
        AKT_OK(ak_hnsw_add(h, (uint32_t)i, v + i * dim));
    volatile int stop = 0;
    cjob jobs[5];
    pthread_t th[5];
    for (int t = 0; t < 5; t++) {
        jobs[t] = (cjob){ h, v, dim, 200 + (size_t)t, n, 3, t >= 3, &stop, AKIDB_OK };
        pthread_create(&th[t], NULL, cworker, &jobs[t]);
    }
    for (int t = 0; t < 3; t++)
        pthread_join(th[t], NULL);
    stop = 1;
    for (int t = 3; t < 5; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < 5; t++)
        AKT_OK(jobs[t].st);
    AKT_EQ_INT(ak_hnsw_count(h), n);
    AKT_TRUE(h->sq.trained);
    check_all_codes(h);
    AKT_OK(ak_hnsw_validate(h, false));
    ak_hnsw_free(h);
    free(v);
}

/* ---- failures ------------------------------------------------------------ */

AKT_TEST(out_of_memory)
{
    size_t n = AK_SQ8_TRAIN_N + 40, dim = 8;
    float *v = uniform(n * dim);
    int trained_runs = 0;
    for (long fail = 0; fail < 600; fail += fail < 40 ? 1 : 23) {
        ak_hnsw_params p = { .dim = (uint32_t)dim, .metric = AK_METRIC_L2, .M = 4,
                             .ef_construction = 16, .seed = 9, .capacity = 10,
                             .quant = AK_QUANT_SQ8 };
        ak_hnsw *h = NULL;
        ak_alloc_fail_after(fail);
        akidb_status st = ak_hnsw_create(&p, &h);
        if (st) {
            ak_alloc_fail_after(-1);
            AKT_EQ_INT(st, AKIDB_ENOMEM);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            st = ak_hnsw_add(h, (uint32_t)i, v + i * dim);
            AKT_TRUE(st == AKIDB_OK || st == AKIDB_ENOMEM);
        }
        ak_hit hits[5];
        size_t nh;
        st = ak_hnsw_search(h, v, 5, 16, NULL, NULL, hits, &nh);
        AKT_TRUE(st == AKIDB_OK || st == AKIDB_ENOMEM);
        ak_alloc_fail_after(-1);
        AKT_OK(ak_hnsw_validate(h, false));
        /* training that ran out of memory is retried by a later add */
        AKT_OK(ak_hnsw_add(h, (uint32_t)n + 5, v));
        if (ak_hnsw_count(h) >= AK_SQ8_TRAIN_N) {
            AKT_TRUE(h->sq.trained);
            check_all_codes(h);
            trained_runs++;
        }
        ak_hnsw_free(h);
    }
    AKT_GE(trained_runs, 1);
    free(v);
}

AKT_MAIN(AKT_REG(kernel_variants), AKT_REG(bounds_rule), AKT_REG(recall_against_float),
         AKT_REG(untrained_is_float), AKT_REG(save_load), AKT_REG(concurrent_training),
         AKT_REG(out_of_memory))
