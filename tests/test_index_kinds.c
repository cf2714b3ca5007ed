/*
 * test_index_kinds.c - the index kind table (src/index/kinds.c) and the
 * contract every member must keep, run over every kind in the table: adds,
 * removals, lookups, exact search (plain, filtered, over candidate labels)
 * against a float64 brute force written here, the image round trip through
 * a file and ak_index_load_buf (which picks the kind by magic), and damaged
 * images refused.  Then "flat" against the "hnsw" member's exact entry (two
 * separate scans: the same hits and bit-identical scores) and against
 * ak_exact_search_array, and flat's removal bookkeeping against a model.
 */
#include "akt.h"
#include "index/index.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DIM 12
#define N 300
#define K 10

static uint64_t rng_s = 0x1234567;

static uint64_t rnd(void)
{
    uint64_t x = rng_s += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static float frand(void)
{
    return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const ak_metric metrics[3] = { AK_METRIC_L2, AK_METRIC_COSINE, AK_METRIC_DOT };

/* Score of v for q in float64, as index.h defines it. */
static double ref_score(ak_metric m, const float *q, const float *v)
{
    double d = 0, nq = 0, nv = 0;
    for (int i = 0; i < DIM; i++) {
        if (m == AK_METRIC_L2)
            d += ((double)q[i] - v[i]) * ((double)q[i] - v[i]);
        else
            d += (double)q[i] * v[i];
        nq += (double)q[i] * q[i];
        nv += (double)v[i] * v[i];
    }
    if (m == AK_METRIC_COSINE)
        d = nq > 0 && nv > 0 ? d / sqrt(nq * nv) : 0;
    return d;
}

/* Checks hits (n) against the float64 brute force over the vectors of
 * labels lab[0..nl) with live[] true: same count, each score right for its
 * label, order right, and the k-th best score the reference's. */
static void check_exact(ak_metric m, const float *q, const float *vecs, const uint32_t *lab,
                        const bool *live, size_t nl, const ak_hit *h, size_t n)
{
    double *all = malloc(nl * sizeof *all);
    size_t na = 0;
    for (size_t i = 0; i < nl; i++)
        if (live[i])
            all[na++] = ref_score(m, q, vecs + i * DIM);
    /* sort best first */
    for (size_t i = 1; i < na; i++)
        for (size_t j = i; j > 0; j--) {
            bool better = m == AK_METRIC_L2 ? all[j] < all[j - 1] : all[j] > all[j - 1];
            if (!better)
                break;
            double t = all[j];
            all[j] = all[j - 1];
            all[j - 1] = t;
        }
    AKT_EQ_INT(n, na < K ? na : K);
    for (size_t r = 0; r < n; r++) {
        size_t i = 0;
        while (i < nl && !(lab[i] == h[r].label && live[i]))
            i++;
        AKT_TRUE(i < nl);   /* a live label */
        if (i == nl)
            continue;
        double want = ref_score(m, q, vecs + i * DIM);
        AKT_NEAR(h[r].score, want, 1e-4 * (1 + fabs(want)));
        AKT_NEAR(h[r].score, all[r], 1e-4 * (1 + fabs(all[r])));
        if (r)
            AKT_TRUE(m == AK_METRIC_L2 ? h[r].score >= h[r - 1].score
                                       : h[r].score <= h[r - 1].score);
    }
    free(all);
}

static bool accept_even(uint32_t label, void *ctx)
{
    (void)ctx;
    return (label / 3) % 2 == 0;
}

AKT_TEST(kind_table)
{
    AKT_TRUE(ak_index_kinds[0] == &ak_index_hnsw);   /* the default */
    size_t n = 0;
    for (; ak_index_kinds[n]; n++) {
        const ak_index_kind *k = ak_index_kinds[n];
        AKT_TRUE(ak_index_kind_find(k->name) == k);
        AKT_TRUE(ak_index_kind_of_image(k->magic, 8) == k);
        AKT_TRUE(ak_index_kind_of_image(k->magic, 7) == NULL);
        for (size_t j = 0; j < n; j++)
            AKT_TRUE(memcmp(k->magic, ak_index_kinds[j]->magic, 8) != 0);
    }
    AKT_EQ_INT(n, 2);
    AKT_TRUE(ak_index_kind_find("flat") == &ak_index_flat);
    AKT_TRUE(ak_index_kind_find("ivf") == NULL);
    AKT_TRUE(ak_index_kind_find(NULL) == NULL);
    ak_index ix = { 0 };
    uint8_t junk[64] = "NOTANIDX";
    AKT_STATUS(ak_index_load_buf(junk, sizeof junk, &ix, NULL), AKIDB_ECORRUPT);
    AKT_CONTAINS(akidb_last_error(), "no known kind");
    AKT_TRUE(ix.kind == NULL);
    ak_index_free(&ix);   /* a zero handle is fine */
    ak_index_params bad = { .dim = 0, .metric = AK_METRIC_L2 };
    for (size_t i = 0; ak_index_kinds[i]; i++) {
        AKT_STATUS(ak_index_create(ak_index_kinds[i], &bad, &ix), AKIDB_EINVAL);
        AKT_CONTAINS(akidb_last_error(), ak_index_kinds[i]->name);
    }
}

/* Writes ix to a temporary file and reads the bytes back. */
static uint8_t *image_of(const ak_index *ix, size_t *len)
{
    char path[] = "/tmp/akidb-kind-XXXXXX";
    int fd = mkstemp(path);
    AKT_TRUE(fd >= 0);
    AKT_OK(ak_index_save_fd(ix, fd));
    off_t end = lseek(fd, 0, SEEK_END);
    AKT_EQ_INT((size_t)end, ak_index_serialized_size(ix));
    uint8_t *b = malloc((size_t)end + 16);
    AKT_EQ_INT(pread(fd, b, (size_t)end, 0), end);
    memset(b + end, 0xEE, 16);   /* trailing bytes are ignored */
    close(fd);
    unlink(path);
    *len = (size_t)end;
    return b;
}

static void contract(const ak_index_kind *kind, ak_metric m)
{
    float *v = malloc((size_t)N * DIM * sizeof *v);
    uint32_t lab[N];
    bool live[N];
    for (size_t i = 0; i < (size_t)N * DIM; i++)
        v[i] = frand();
    ak_index_params p = { .dim = DIM, .metric = m, .M = 8, .ef_construction = 64, .seed = 7 };
    ak_index ix;
    AKT_OK(ak_index_create(kind, &p, &ix));
    AKT_TRUE(ix.kind == kind);
    for (uint32_t i = 0; i < N; i++) {
        lab[i] = 3 * i + 1;   /* sparse labels */
        live[i] = true;
        AKT_OK(ak_index_add(&ix, lab[i], v + (size_t)i * DIM));
    }
    AKT_STATUS(ak_index_add(&ix, lab[5], v), AKIDB_EEXIST);
    float bad[DIM] = { 0 };
    bad[3] = NAN;
    AKT_STATUS(ak_index_add(&ix, 2, bad), AKIDB_EINVAL);
    AKT_STATUS(ak_index_add(&ix, 0xFFFFFFFFu, v), AKIDB_EINVAL);
    AKT_EQ_INT(ak_index_count(&ix), N);
    AKT_TRUE(ak_index_contains(&ix, lab[17]));
    AKT_FALSE(ak_index_contains(&ix, 2));
    float got[DIM];
    AKT_OK(ak_index_get_vector(&ix, lab[17], got));
    double nn = 0;
    for (int j = 0; j < DIM; j++)
        nn += (double)v[17 * DIM + j] * v[17 * DIM + j];
    for (int j = 0; j < DIM; j++)
        AKT_NEAR(got[j], m == AK_METRIC_COSINE ? v[17 * DIM + j] / sqrt(nn) : v[17 * DIM + j], 1e-6);
    AKT_STATUS(ak_index_get_vector(&ix, 2, got), AKIDB_ENOENT);
    /* removals: absent and repeated labels are skipped */
    uint32_t rm[40];
    for (int i = 0; i < 36; i++) {
        rm[i] = lab[i * 7];
        live[i * 7] = false;
    }
    rm[36] = 2;
    rm[37] = lab[0];
    rm[38] = 100000;
    rm[39] = lab[7];
    size_t nr = 0;
    AKT_OK(ak_index_remove_batch(&ix, rm, 40, &nr));
    AKT_EQ_INT(nr, 36);
    AKT_EQ_INT(ak_index_count(&ix), N - 36);
    AKT_FALSE(ak_index_contains(&ix, lab[7]));
    AKT_OK(ak_index_validate(&ix, false));
    /* a removed label comes back */
    AKT_OK(ak_index_add(&ix, lab[14], v + 14 * DIM));
    live[14] = true;

    ak_hit h[K];
    size_t n;
    for (int t = 0; t < 20; t++) {
        float q[DIM];
        for (int j = 0; j < DIM; j++)
            q[j] = frand();
        ak_search_opts o = { .strategy = AK_SEARCH_EXACT };
        AKT_OK(ak_index_search(&ix, q, K, &o, h, &n));
        check_exact(m, q, v, lab, live, N, h, n);
        /* filtered */
        bool fl[N];
        for (int i = 0; i < N; i++)
            fl[i] = live[i] && accept_even(lab[i], NULL);
        o.accept = accept_even;
        AKT_OK(ak_index_search(&ix, q, K, &o, h, &n));
        check_exact(m, q, v, lab, fl, N, h, n);
        /* candidates: 25 labels, some absent or removed, some twice */
        uint32_t cand[30];
        bool cl[N] = { false };
        for (int i = 0; i < 25; i++) {
            uint32_t r = (uint32_t)(rnd() % N);
            cand[i] = lab[r];
            cl[r] = live[r];
        }
        cand[25] = 2;
        cand[26] = cand[0];
        cand[27] = cand[1];
        cand[28] = 99999;
        cand[29] = cand[2];
        ak_search_opts oc = { .labels = cand, .n_labels = 30, .accept = accept_even };
        AKT_OK(ak_index_search(&ix, q, K, &oc, h, &n));   /* accept ignored */
        check_exact(m, q, v, lab, cl, N, h, n);
    }
    float nanq[DIM] = { 0 };
    nanq[0] = NAN;
    AKT_STATUS(ak_index_search(&ix, nanq, K, NULL, h, &n), AKIDB_EINVAL);
    AKT_OK(ak_index_search(&ix, v, 0, NULL, h, &n));
    AKT_EQ_INT(n, 0);

    /* image round trip: the loader finds the kind by its magic */
    size_t len;
    uint8_t *img = image_of(&ix, &len);
    AKT_TRUE(memcmp(img, kind->magic, 8) == 0);
    ak_index back;
    size_t used = 0;
    AKT_OK(ak_index_load_buf(img, len + 16, &back, &used));
    AKT_EQ_INT(used, len);
    AKT_TRUE(back.kind == kind);
    AKT_EQ_INT(ak_index_count(&back), ak_index_count(&ix));
    AKT_OK(ak_index_validate(&back, false));
    ak_index_params bp = ak_index_get_params(&back);
    AKT_EQ_INT(bp.dim, DIM);
    AKT_EQ_INT(bp.metric, m);
    for (int t = 0; t < 5; t++) {
        ak_hit a[K], b[K];
        size_t na, nb;
        ak_search_opts o = { .strategy = AK_SEARCH_EXACT };
        AKT_OK(ak_index_search(&ix, v + t * DIM, K, &o, a, &na));
        AKT_OK(ak_index_search(&back, v + t * DIM, K, &o, b, &nb));
        AKT_EQ_INT(na, nb);
        AKT_TRUE(memcmp(a, b, na * sizeof *a) == 0);
    }
    size_t len2;
    uint8_t *img2 = image_of(&back, &len2);
    AKT_EQ_INT(len2, len);
    AKT_TRUE(memcmp(img, img2, len) == 0);   /* same index, same bytes */
    free(img2);
    /* damage: every cut, and flipped bytes, are refused */
    ak_index dmg;
    for (size_t cut = 0; cut < len; cut += cut < 200 ? 1 : 97) {
        AKT_STATUS(ak_index_load_buf(img, cut, &dmg, NULL), AKIDB_ECORRUPT);
    }
    for (size_t at = 8; at < len; at += 37) {
        img[at] ^= 0x41;
        akidb_status st = ak_index_load_buf(img, len, &dmg, NULL);
        img[at] ^= 0x41;
        if (st == AKIDB_OK) {   /* only if the flip left a valid image */
            AKT_OK(ak_index_validate(&dmg, false));
            ak_index_free(&dmg);
            AKT_TRUE(false);
        }
        AKT_EQ_INT(st, AKIDB_ECORRUPT);
    }
    free(img);
    ak_index_free(&back);
    ak_index_free(&ix);
    AKT_TRUE(ix.kind == NULL && ix.impl == NULL);
    free(v);
}

AKT_TEST(every_kind_keeps_the_contract)
{
    for (size_t k = 0; ak_index_kinds[k]; k++)
        for (int m = 0; m < 3; m++)
            contract(ak_index_kinds[k], metrics[m]);
}

/* "flat" and the "hnsw" member's exact entry are separate scans of the same
 * vectors: same labels, same float scores. */
AKT_TEST(flat_equals_hnsw_exact)
{
    for (int mi = 0; mi < 3; mi++) {
        ak_metric m = metrics[mi];
        float *v = malloc((size_t)N * DIM * sizeof *v);
        for (size_t i = 0; i < (size_t)N * DIM; i++)
            v[i] = frand();
        ak_index_params p = { .dim = DIM, .metric = m, .seed = 3 };
        ak_index hn, fl;
        AKT_OK(ak_index_create(&ak_index_hnsw, &p, &hn));
        AKT_OK(ak_index_create(&ak_index_flat, &p, &fl));
        for (uint32_t i = 0; i < N; i++) {
            AKT_OK(ak_index_add(&hn, i, v + (size_t)i * DIM));
            AKT_OK(ak_index_add(&fl, i, v + (size_t)i * DIM));
        }
        uint32_t rm[30];
        for (int i = 0; i < 30; i++)
            rm[i] = (uint32_t)(i * 9);
        AKT_OK(ak_index_remove_batch(&hn, rm, 30, NULL));
        AKT_OK(ak_index_remove_batch(&fl, rm, 30, NULL));
        uint32_t cand[50];
        for (int i = 0; i < 50; i++)
            cand[i] = (uint32_t)(rnd() % N);
        for (int t = 0; t < 30; t++) {
            float q[DIM];
            for (int j = 0; j < DIM; j++)
                q[j] = frand();
            ak_search_opts os[3] = { { .strategy = AK_SEARCH_EXACT },
                                     { .strategy = AK_SEARCH_EXACT, .accept = accept_even },
                                     { .labels = cand, .n_labels = 50 } };
            for (int o = 0; o < 3; o++) {
                ak_hit a[K], b[K];
                size_t na, nb;
                AKT_OK(ak_index_search(&hn, q, K, &os[o], a, &na));
                AKT_OK(ak_index_search(&fl, q, K, &os[o], b, &nb));
                AKT_EQ_INT(na, nb);
                for (size_t i = 0; i < na && i < nb; i++) {
                    AKT_EQ_INT(a[i].label, b[i].label);
                    AKT_TRUE(a[i].score == b[i].score);
                }
            }
        }
        /* and the array scan: rows are labels */
        if (m == AK_METRIC_L2) {
            ak_index fa;
            AKT_OK(ak_index_create(&ak_index_flat, &p, &fa));
            for (uint32_t i = 0; i < N; i++)
                AKT_OK(ak_index_add(&fa, i, v + (size_t)i * DIM));
            for (int t = 0; t < 10; t++) {
                ak_hit a[K], b[K];
                size_t na, nb;
                AKT_OK(ak_exact_search_array(v, N, DIM, m, v + t * 5 * DIM, K, a, &na));
                AKT_OK(ak_index_search(&fa, v + t * 5 * DIM, K, NULL, b, &nb));
                AKT_EQ_INT(na, nb);
                AKT_TRUE(memcmp(a, b, na * sizeof *a) == 0);
                AKT_EQ_INT(a[0].label, t * 5);
            }
            ak_index_free(&fa);
        }
        ak_index_free(&hn);
        ak_index_free(&fl);
        free(v);
    }
}

/* Random adds and removals against a model: the last row moves into every
 * hole, so the label map must follow. */
AKT_TEST(flat_bookkeeping)
{
    enum { L = 500 };
    static float vec[L][DIM];
    static bool in[L];
    ak_index_params p = { .dim = DIM, .metric = AK_METRIC_L2 };
    ak_index fl;
    AKT_OK(ak_index_create(&ak_index_flat, &p, &fl));
    size_t live = 0;
    for (int step = 0; step < 4000; step++) {
        uint32_t l = (uint32_t)(rnd() % L);
        if (!in[l]) {
            for (int j = 0; j < DIM; j++)
                vec[l][j] = frand();
            AKT_OK(ak_index_add(&fl, l * 1000003u % 0xFFFFFFF0u, vec[l]));
            in[l] = true;
            live++;
        } else {
            uint32_t x = l * 1000003u % 0xFFFFFFF0u;
            size_t nr;
            AKT_OK(ak_index_remove_batch(&fl, &x, 1, &nr));
            AKT_EQ_INT(nr, 1);
            in[l] = false;
            live--;
        }
        if (step % 500 == 0) {
            AKT_OK(ak_index_validate(&fl, true));
            for (uint32_t k = 0; k < L; k++) {
                uint32_t x = k * 1000003u % 0xFFFFFFF0u;
                AKT_EQ_INT(ak_index_contains(&fl, x), in[k]);
                float g[DIM];
                if (in[k]) {
                    AKT_OK(ak_index_get_vector(&fl, x, g));
                    AKT_TRUE(memcmp(g, vec[k], sizeof g) == 0);
                }
            }
        }
    }
    AKT_EQ_INT(ak_index_count(&fl), live);
    AKT_OK(ak_index_validate(&fl, true));
    AKT_TRUE(ak_index_memory(&fl) > live * DIM * sizeof(float));
    ak_index_free(&fl);
}

AKT_MAIN(AKT_REG(kind_table), AKT_REG(every_kind_keeps_the_contract),
         AKT_REG(flat_equals_hnsw_exact), AKT_REG(flat_bookkeeping))
