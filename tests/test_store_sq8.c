/*
 * test_store_sq8.c - int8 quantisation (SQ8) of a collection through the
 * store (src/store, src/index/sq8.c): the setting checked on create,
 * reported by get_info, carried by the WAL record of the create and by the
 * snapshot (through the index image) across a reopen; every index of the
 * collection quantised - the tail, each sealed segment and a segment that
 * compaction merged - with its bounds fixed; HNSW searches whose scores are
 * the exact float scores (compared with float64 brute force) and whose
 * hits match the float walk's, the approximate scores of a search without
 * rescoring, and the same answers after the reopen.
 */
#include "akt.h"
#include "test_store_util.h"

#include "store/store_int.h"

#define DIM 24
#define NCLUST 12

static float g_centres[NCLUST * DIM];

/* Point i's vector: a cluster centre plus noise (a fixed function of i). */
static void point_vec(uint32_t i, float *v)
{
    tsu_rng r = { i * 2654435761u + 17 };
    const float *c = g_centres + (size_t)(i % NCLUST) * DIM;
    for (size_t j = 0; j < DIM; j++)
        v[j] = c[j] + 0.3f * tsu_gauss(&r);
}

static void put_range(akidb_store *s, const char *coll, uint32_t from, uint32_t to)
{
    enum { B = 200 };
    float v[B * DIM];
    akidb_point_in in[B];
    char ids[B][16];
    for (uint32_t a = from; a < to; a += B) {
        uint32_t n = to - a < B ? to - a : B;
        for (uint32_t k = 0; k < n; k++) {
            snprintf(ids[k], 16, "%u", a + k);
            point_vec(a + k, v + (size_t)k * DIM);
            in[k] = (akidb_point_in){ .id = ids[k], .vector = v + (size_t)k * DIM };
        }
        AKT_OK(akidb_points_upsert(s, "t", coll, in, NULL, n));
    }
}

static akidb_store *open_store(const char *dir)
{
    akidb_store_opts o = tsu_fast_opts();
    o.seal_points = 1500;
    o.compact_max_segments = 2;
    o.compact_tomb_share = 0.99;
    o.exact_threshold = 200;   /* every part of 1500 points is walked */
    o.snapshot_wal_bytes = UINT64_MAX;
    o.log = tsu_quiet_log;
    akidb_store *s;
    AKT_OK(akidb_store_open(dir, &o, &s));
    return s;
}

/* Whether an index (of the "hnsw" kind, which collections use) has fixed
 * its SQ8 bounds: bit 1 of the flags at byte 68 of its image (index.h). */
static bool trained(const ak_index *ix)
{
    AKT_TRUE(ix->kind == &ak_index_hnsw);
    void *buf;
    size_t len;
    AKT_OK(ak_hnsw_save_buf(ix->impl, &buf, &len));
    uint32_t flags;
    memcpy(&flags, (const char *)buf + 68, 4);
    ak_free(buf);
    AKT_TRUE(flags & 1);
    return (flags & 2) != 0;
}

/* Every index of coll is SQ8 with the quantile q, trained when it holds
 * AK_SQ8_TRAIN_N points; returns the number of sealed segments. */
static size_t check_indexes(akidb_store *s, const char *coll, float q)
{
    ak_coll *c;
    AKT_OK(ak_store_get_coll(s, "t", coll, &c));
    pthread_rwlock_rdlock(&c->rw);
    size_t n = c->n_segs;
    for (size_t i = 0; i <= n; i++) {
        const ak_index *ix = i < n ? &c->segs[i]->t->index : &c->index;
        ak_index_params p = ak_index_get_params(ix);
        AKT_EQ_INT(p.quant, AK_QUANT_SQ8);
        AKT_NEAR(p.quantile, q, 1e-7);
        AKT_EQ_INT(trained(ix), ak_index_count(ix) >= AK_SQ8_TRAIN_N);
    }
    pthread_rwlock_unlock(&c->rw);
    ak_coll_unref(c);
    return n;
}

/* Cosine similarity in float64. */
static double cosine(const float *a, const float *b)
{
    double d = 0, na = 0, nb = 0;
    for (size_t i = 0; i < DIM; i++) {
        d += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    return d / sqrt(na * nb);
}

/* Searches n_q queries three ways (rescored, float walk, no rescoring) and
 * checks them against float64 cosine over ids [0, n): rescored scores
 * exact, recall near the float walk's, approximate scores near but not all
 * exact.  The rescored answers go into keep (n_q x 10 ids and scores). */
static void check_search(akidb_store *s, const char *coll, uint32_t n, size_t n_q,
                         char (*keep_id)[16], float *keep_sc)
{
    float q[DIM], v[DIM];
    double rq = 0, rf = 0;
    size_t approx_differs = 0;
    for (size_t i = 0; i < n_q; i++) {
        point_vec(100000 + (uint32_t)i, q);
        akidb_search_req r = { .vector = q, .dim = DIM, .top_k = 10, .ef = 48 };
        akidb_points a, f, x, e;
        AKT_OK(akidb_search(s, "t", coll, &r, &a));
        r.quant_ignore = true;
        AKT_OK(akidb_search(s, "t", coll, &r, &f));
        r.quant_ignore = false;
        r.quant_no_rescore = true;
        AKT_OK(akidb_search(s, "t", coll, &r, &x));
        r.quant_no_rescore = false;
        r.exact = true;
        AKT_OK(akidb_search(s, "t", coll, &r, &e));
        AKT_EQ_INT(a.n, 10);
        AKT_EQ_INT(x.n, 10);
        for (size_t j = 0; j < a.n; j++) {
            point_vec((uint32_t)atoi(a.items[j].id), v);
            AKT_NEAR(a.items[j].score, cosine(q, v), 2e-6);
            point_vec((uint32_t)atoi(x.items[j].id), v);
            double ex = cosine(q, v);
            AKT_NEAR(x.items[j].score, ex, 0.1);   /* clamped values cost most */
            approx_differs += fabs(x.items[j].score - ex) > 1e-5;
            if (keep_id) {
                snprintf(keep_id[i * 10 + j], 16, "%s", a.items[j].id);
                keep_sc[i * 10 + j] = a.items[j].score;
            }
        }
        for (size_t j = 0; j < e.n; j++)
            for (size_t k = 0; k < a.n; k++)
                if (strcmp(e.items[j].id, a.items[k].id) == 0)
                    rq += 0.1;
        for (size_t j = 0; j < e.n; j++)
            for (size_t k = 0; k < f.n; k++)
                if (strcmp(e.items[j].id, f.items[k].id) == 0)
                    rf += 0.1;
        akidb_points_free(&a);
        akidb_points_free(&f);
        akidb_points_free(&x);
        akidb_points_free(&e);
    }
    rq /= (double)n_q;
    rf /= (double)n_q;
    fprintf(stderr, "  %s (%u points): recall@10 sq8+rescore %.4f, float walk %.4f\n", coll, n,
            rq, rf);
    AKT_GE(rq, rf - 0.02);
    AKT_TRUE(approx_differs > 0);   /* no rescoring: int8 approximations */
}

AKT_TEST(collection_lifecycle)
{
    tsu_rng cr = { 99 };
    for (size_t i = 0; i < NCLUST * DIM; i++)
        g_centres[i] = (float)(2 * tsu_unif(&cr) - 1);
    char *dir = tsu_tmpdir("sq8store");
    akidb_store *s = open_store(dir);
    AKT_OK(akidb_tenant_create(s, "t"));

    /* settings refused, each naming what was wrong */
    akidb_collection_opts co = { .dim = DIM, .metric = AKIDB_METRIC_COSINE };
    co.quantization = (akidb_quantization)5;
    AKT_STATUS(akidb_collection_create(s, "t", "bad", &co), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "quantization");
    co.quantization = AKIDB_QUANT_SQ8;
    co.quantile = 0.3f;
    AKT_STATUS(akidb_collection_create(s, "t", "bad", &co), AKIDB_ERANGE);
    AKT_CONTAINS(akidb_last_error(), "quantile");
    co.quantization = AKIDB_QUANT_NONE;
    co.quantile = 0.9f;
    AKT_STATUS(akidb_collection_create(s, "t", "bad", &co), AKIDB_ERANGE);
    AKT_CONTAINS(akidb_last_error(), "without quantization");
    AKT_EQ_STR(akidb_quantization_name(AKIDB_QUANT_SQ8), "sq8");
    AKT_TRUE(akidb_quantization_name((akidb_quantization)9) == NULL);

    co.quantization = AKIDB_QUANT_SQ8;
    co.quantile = 0.98f;
    AKT_OK(akidb_collection_create(s, "t", "q", &co));
    co.quantile = 0;
    co.metric = AKIDB_METRIC_L2;
    AKT_OK(akidb_collection_create(s, "t", "d", &co));   /* default quantile */
    akidb_collection_info in;
    AKT_OK(akidb_collection_get_info(s, "t", "q", &in));
    AKT_EQ_INT(in.quantization, AKIDB_QUANT_SQ8);
    AKT_NEAR(in.quantile, 0.98, 1e-7);
    AKT_OK(akidb_collection_get_info(s, "t", "d", &in));
    AKT_NEAR(in.quantile, 1.0, 1e-7);

    /* three sealings of 1600 points; the third leaves three segments, past
     * the maximum of two, so two are merged */
    uint32_t n = 0;
    for (int r = 0; r < 3; r++) {
        put_range(s, "q", n, n + 1600);
        n += 1600;
        AKT_OK(akidb_store_snapshot(s));
    }
    put_range(s, "q", n, n + 1100);   /* the tail, past AK_SQ8_TRAIN_N */
    n += 1100;
    akidb_store_stats stt;
    akidb_store_get_stats(s, &stt);
    AKT_GE((double)stt.segments_compacted, 1);
    AKT_EQ_INT(check_indexes(s, "q", 0.98f), 2);
    put_range(s, "d", 0, 1300);

    akidb_search_req bad = { .vector = g_centres, .dim = DIM, .top_k = 5,
                             .quant_oversampling = 0.5 };
    akidb_points none;
    AKT_STATUS(akidb_search(s, "t", "q", &bad, &none), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "oversampling");

    size_t nq = tsu_quick() ? 20 : 60;
    char(*ids)[16] = calloc(nq * 10, 16);
    float *sc = calloc(nq * 10, sizeof *sc);
    check_search(s, "q", n, nq, ids, sc);

    /* a collection created after the last snapshot: only its WAL record */
    co.metric = AKIDB_METRIC_DOT;
    co.quantile = 0.95f;
    AKT_OK(akidb_collection_create(s, "t", "w", &co));
    AKT_OK(akidb_store_close(s));

    s = open_store(dir);
    AKT_OK(akidb_collection_get_info(s, "t", "w", &in));
    AKT_EQ_INT(in.quantization, AKIDB_QUANT_SQ8);
    AKT_NEAR(in.quantile, 0.95, 1e-7);
    AKT_OK(akidb_collection_get_info(s, "t", "q", &in));
    AKT_EQ_INT(in.quantization, AKIDB_QUANT_SQ8);
    AKT_NEAR(in.quantile, 0.98, 1e-7);
    AKT_EQ_INT(in.n_points, n);
    AKT_EQ_INT(check_indexes(s, "q", 0.98f), 2);
    check_indexes(s, "d", 1.0f);
    check_indexes(s, "w", 0.95f);
    /* the same answers as before the reopen */
    for (size_t i = 0; i < nq; i++) {
        float q[DIM];
        point_vec(100000 + (uint32_t)i, q);
        akidb_search_req r = { .vector = q, .dim = DIM, .top_k = 10, .ef = 48 };
        akidb_points a;
        AKT_OK(akidb_search(s, "t", "q", &r, &a));
        AKT_EQ_INT(a.n, 10);
        for (size_t j = 0; j < a.n; j++) {
            AKT_EQ_STR(a.items[j].id, ids[i * 10 + j]);
            AKT_TRUE(a.items[j].score == sc[i * 10 + j]);
        }
        akidb_points_free(&a);
    }
    /* adds after the reopen are coded with the loaded bounds; another
     * sealing keeps the quantisation */
    put_range(s, "q", n, n + 1600);
    n += 1600;
    AKT_OK(akidb_store_snapshot(s));
    check_indexes(s, "q", 0.98f);
    check_search(s, "q", n, nq, NULL, NULL);
    AKT_OK(akidb_store_close(s));
    free(ids);
    free(sc);
    tsu_rmrf(dir);
    free(dir);
}

AKT_MAIN(AKT_REG(collection_lifecycle))
