/*
 * test_kernels.c - every kernel path this CPU supports, forced one at a time,
 * against naive double-precision references: the linear GEMM on odd shapes
 * (1x1x1 up to BERT-sized 33 x 1536 x 384), strided operands, bias or none,
 * the prepacked GEMM (both packings, column ranges as threads split them,
 * k beyond one cache block, results independent of the split), the
 * vectorised layer norm, activation and softmax of each path (tails shorter
 * than a vector included), attention, the thread pool, and the bf16 / int8
 * GEMMs (AVX512_BF16 / VNNI and portable) on their rounded operands; the
 * decoder pieces: masked (causal, sliding-window) blocked attention, RMSNorm,
 * SiLU and gated products.
 */
#include "akt.h"
#include "kernels/kernels.h"

#include <stdatomic.h>

static const akidb_kernel_path all_paths[] = {
    AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2, AKIDB_KERNELS_AVX512,
    AKIDB_KERNELS_NEON,
};
#define N_PATHS (sizeof all_paths / sizeof all_paths[0])

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)   /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_buf(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
    return p;
}

AKT_TEST(select_and_names)
{
    AKT_EQ_STR(akidb_kernels_name(AKIDB_KERNELS_SCALAR), "scalar");
    AKT_EQ_STR(akidb_kernels_name(AKIDB_KERNELS_AVX512), "avx512");
    AKT_EQ_STR(akidb_kernels_name(AKIDB_KERNELS_NEON), "neon");
    AKT_TRUE(akidb_kernels_active() != AKIDB_KERNELS_AUTO);
    int n_ok = 0;
    for (size_t i = 0; i < N_PATHS; i++) {
        akidb_status st = akidb_kernels_select(all_paths[i]);
        if (ak_kernels_for(all_paths[i])) {
            AKT_OK(st);
            AKT_EQ_INT(akidb_kernels_active(), all_paths[i]);
            n_ok++;
        } else {
            AKT_STATUS(st, AKIDB_EUNSUPPORTED);
            AKT_CONTAINS(akidb_last_error(), akidb_kernels_name(all_paths[i]));
        }
    }
    AKT_TRUE(n_ok >= 1);
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    AKT_EQ_INT(akidb_kernels_active(), ak_kernels_best());
    fprintf(stderr, "  best path here: %s\n", akidb_kernels_name(ak_kernels_best()));
}

AKT_TEST(env_override)
{
    setenv("AKIDB_KERNELS", "scalar", 1);
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    AKT_EQ_INT(akidb_kernels_active(), AKIDB_KERNELS_SCALAR);
    setenv("AKIDB_KERNELS", "bogus", 1);
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    AKT_EQ_INT(akidb_kernels_active(), ak_kernels_best());
    unsetenv("AKIDB_KERNELS");
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
}

/* Checks one GEMM shape on one path; ld* add padding to every operand. */
static void check_gemm(const ak_kernels *kt, size_t m, size_t n, size_t k,
                       size_t pad, int with_bias)
{
    size_t ldx = k + pad, ldw = k + pad * 2, ldy = n + pad;
    float *x = rand_buf(m * ldx), *w = rand_buf(n * ldw), *b = rand_buf(n);
    float *y = malloc((m * ldy > 0 ? m * ldy : 1) * sizeof *y);
    for (size_t i = 0; i < m * ldy; i++)
        y[i] = 12345.0f;   /* padding must survive */
    kt->gemm_nt(m, n, k, x, ldx, w, ldw, with_bias ? b : NULL, y, ldy);
    double worst = 0.0;
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double ref = with_bias ? b[j] : 0.0, mag = fabs(ref);
            for (size_t p = 0; p < k; p++) {
                ref += (double)x[i * ldx + p] * w[j * ldw + p];
                mag += fabs((double)x[i * ldx + p] * w[j * ldw + p]);
            }
            double err = fabs(y[i * ldy + j] - ref);
            double tol = 8.0 * sqrt((double)k + 1.0) * 1.1920929e-7 * mag + 1e-30;
            if (err / (mag + 1e-30) > worst)
                worst = err / (mag + 1e-30);
            if (!(err <= tol))
                AKT_FAIL_("%s gemm %zux%zux%zu pad %zu bias %d: y[%zu][%zu] = %.9g, ref %.9g",
                          kt->name, m, n, k, pad, with_bias, i, j, y[i * ldy + j], ref);
        }
        for (size_t j = n; j < ldy; j++)
            if (y[i * ldy + j] != 12345.0f)
                AKT_FAIL_("%s gemm wrote into padding at row %zu col %zu", kt->name, i, j);
    }
    akt_checks++;
    free(x); free(w); free(b); free(y);
}

AKT_TEST(gemm_all_paths)
{
    static const size_t shapes[][3] = {   /* m, n, k */
        { 1, 1, 1 }, { 7, 13, 5 }, { 1, 1, 17 }, { 4, 4, 16 }, { 5, 17, 16 },
        { 3, 5, 33 }, { 2, 3, 8 }, { 9, 7, 31 }, { 16, 64, 64 }, { 1, 384, 384 },
        { 33, 384, 1536 }, { 33, 1536, 384 }, { 13, 1200, 7 }, { 6, 2, 1000 },
    };
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(all_paths[pi]);
        if (!kt)
            continue;
        fprintf(stderr, "  path %s\n", kt->name);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            check_gemm(kt, shapes[s][0], shapes[s][1], shapes[s][2], 0, 1);
            check_gemm(kt, shapes[s][0], shapes[s][1], shapes[s][2], 3, 0);
        }
    }
}

AKT_TEST(gemm_degenerate)
{
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(all_paths[pi]);
        if (!kt)
            continue;
        float b[3] = { 1.5f, -2.0f, 0.25f }, y[6];
        kt->gemm_nt(2, 3, 0, NULL, 0, NULL, 0, b, y, 3);   /* k = 0: Y = b */
        for (int i = 0; i < 6; i++)
            AKT_EQ_INT(y[i] == b[i % 3], 1);
        kt->gemm_nt(2, 3, 0, NULL, 0, NULL, 0, NULL, y, 3);
        for (int i = 0; i < 6; i++)
            AKT_EQ_INT(y[i] == 0.0f, 1);
        y[0] = 7.0f;
        kt->gemm_nt(0, 3, 4, NULL, 4, b, 4, b, y, 3);       /* m = 0: nothing */
        kt->gemm_nt(2, 0, 4, b, 4, NULL, 4, NULL, y, 3);    /* n = 0: nothing */
        AKT_EQ_INT(y[0] == 7.0f, 1);
    }
}

AKT_TEST(layernorm)
{
    size_t rows = 5, n = 37, ld = 40;
    float *x = rand_buf(rows * ld), *r = rand_buf(rows * ld);
    float *g = rand_buf(n), *b = rand_buf(n);
    for (size_t i = 0; i < rows * ld; i++)
        x[i] = x[i] * 3.0f + 10.0f;   /* offset mean to test the two passes */
    float *x0 = malloc(rows * ld * sizeof *x0);
    memcpy(x0, x, rows * ld * sizeof *x0);
    for (int add = 0; add < 2; add++) {
        memcpy(x, x0, rows * ld * sizeof *x);
        if (add)
            ak_add_layernorm(x, r, rows, n, ld, g, b, 1e-12f);
        else
            ak_layernorm(x, rows, n, ld, g, b, 1e-12f);
        for (size_t i = 0; i < rows; i++) {
            double v[64], mean = 0, var = 0;
            for (size_t j = 0; j < n; j++) {
                v[j] = (double)x0[i * ld + j] + (add ? r[i * ld + j] : 0.0f);
                if (add)   /* the kernel adds in float first, as PyTorch does */
                    v[j] = (double)(x0[i * ld + j] + r[i * ld + j]);
                mean += v[j];
            }
            mean /= n;
            for (size_t j = 0; j < n; j++)
                var += (v[j] - mean) * (v[j] - mean);
            var /= n;
            for (size_t j = 0; j < n; j++) {
                double ref = (v[j] - mean) / sqrt(var + 1e-12) * g[j] + b[j];
                AKT_NEAR(x[i * ld + j], ref, 1e-5);
            }
            AKT_EQ_INT(x[i * ld + 38] == x0[i * ld + 38], 1);   /* padding */
        }
    }
    free(x); free(r); free(g); free(b); free(x0);
}

AKT_TEST(activations)
{
    static const float vals[] = { -10.0f, -3.0f, -1.0f, -0.5f, -1e-3f, 0.0f,
                                  1e-3f, 0.5f, 1.0f, 2.5f, 8.0f };
    size_t n = sizeof vals / sizeof vals[0];
    float x[16];
    for (int a = 0; a < 3; a++) {
        memcpy(x, vals, sizeof vals);
        ak_activation(x, n, (ak_act)a);
        for (size_t i = 0; i < n; i++) {
            double v = vals[i], ref;
            if (a == AK_ACT_GELU)
                ref = v * 0.5 * (1.0 + erf(v / sqrt(2.0)));
            else if (a == AK_ACT_GELU_TANH)
                ref = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
            else
                ref = v > 0 ? v : 0;
            AKT_NEAR(x[i], ref, 2e-6 * fabs(ref) + 1e-7);
        }
    }
}

AKT_TEST(softmax)
{
    float x[3 * 9];
    for (int i = 0; i < 27; i++)
        x[i] = frand() * 20.0f;
    x[18] = 1000.0f;   /* huge logit must not overflow */
    float x0[27];
    memcpy(x0, x, sizeof x);
    ak_softmax_rows(x, 3, 7, 9);
    for (int r = 0; r < 3; r++) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j < 7; j++)
            mx = x0[r * 9 + j] > mx ? x0[r * 9 + j] : mx;
        for (int j = 0; j < 7; j++)
            sum += exp(x0[r * 9 + j] - mx);
        for (int j = 0; j < 7; j++)
            AKT_NEAR(x[r * 9 + j], exp(x0[r * 9 + j] - mx) / sum, 1e-6);
        AKT_EQ_INT(x[r * 9 + 7] == x0[r * 9 + 7], 1);
    }
}

AKT_TEST(attention_all_paths)
{
    static const size_t cfg[][3] = { { 1, 1, 1 }, { 7, 3, 5 }, { 19, 4, 16 }, { 40, 2, 64 } };
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        if (!ak_kernels_for(all_paths[pi]))
            continue;
        AKT_OK(akidb_kernels_select(all_paths[pi]));
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            size_t s = cfg[c][0], nh = cfg[c][1], hd = cfg[c][2], h = nh * hd;
            size_t ld = h + 2, ldc = h + 1;
            float *q = rand_buf(s * ld), *k = rand_buf(s * ld), *v = rand_buf(s * ld);
            float *ctx = calloc(s * ldc, sizeof *ctx);
            float *scr = malloc(ak_attention_scratch(s, hd) * sizeof *scr);
            float scale = 1.0f / sqrtf((float)hd);
            ak_attention(s, nh, hd, scale, q, k, v, ld, ctx, ldc, scr);
            double *p = malloc(s * sizeof *p);
            for (size_t hh = 0; hh < nh; hh++) {
                for (size_t i = 0; i < s; i++) {
                    double mx = -1e300, sum = 0;
                    for (size_t t = 0; t < s; t++) {
                        double d = 0;
                        for (size_t e = 0; e < hd; e++)
                            d += (double)q[i * ld + hh * hd + e] * k[t * ld + hh * hd + e];
                        p[t] = d * scale;
                        mx = p[t] > mx ? p[t] : mx;
                    }
                    for (size_t t = 0; t < s; t++)
                        sum += (p[t] = exp(p[t] - mx));
                    for (size_t e = 0; e < hd; e++) {
                        double ref = 0;
                        for (size_t t = 0; t < s; t++)
                            ref += p[t] / sum * v[t * ld + hh * hd + e];
                        AKT_NEAR(ctx[i * ldc + hh * hd + e], ref, 2e-6);
                    }
                }
            }
            free(q); free(k); free(v); free(ctx); free(scr); free(p);
        }
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
}

/* Packed GEMM of one shape on one path, whole and split into column ranges
 * of 16-multiples; the split result must equal the whole one bit for bit. */
static void check_gemm_p(const ak_kernels *kt, size_t m, size_t n, size_t k,
                         size_t pad, int with_bias, int kn)
{
    size_t ldx = k + pad, ldy = n + pad;
    float *x = rand_buf(m * ldx), *w = rand_buf(n * k), *b = rand_buf(n);
    float *wp = aligned_alloc(64, (ak_pack_floats(n, k) * sizeof(float) + 63) / 64 * 64 + 64);
    if (kn) {   /* B = W^T stored [k x n] */
        float *bt = malloc((n && k ? n * k : 1) * sizeof *bt);
        for (size_t j = 0; j < n; j++)
            for (size_t p = 0; p < k; p++)
                bt[p * n + j] = w[j * k + p];
        ak_pack_kn(k, n, bt, n, wp);
        free(bt);
    } else {
        ak_pack_nt(n, k, w, k, wp);
    }
    size_t ny = m * ldy > 0 ? m * ldy : 1;
    float *y = malloc(ny * sizeof *y), *y2 = malloc(ny * sizeof *y2);
    for (size_t i = 0; i < m * ldy; i++)
        y[i] = y2[i] = 12345.0f;
    kt->ops->gemm_p(m, n, k, x, ldx, wp, with_bias ? b : NULL, y, ldy, 0, n);
    /* split as threads do: ranges starting at multiples of 16 */
    size_t cut1 = (n / 3) / 16 * 16, cut2 = (2 * n / 3 + 15) / 16 * 16;
    kt->ops->gemm_p(m, n, k, x, ldx, wp, with_bias ? b : NULL, y2, ldy, cut2, n + 7);
    kt->ops->gemm_p(m, n, k, x, ldx, wp, with_bias ? b : NULL, y2, ldy, 0, cut1);
    kt->ops->gemm_p(m, n, k, x, ldx, wp, with_bias ? b : NULL, y2, ldy, cut1, cut2);
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double ref = with_bias ? b[j] : 0.0, mag = fabs(ref);
            for (size_t p = 0; p < k; p++) {
                ref += (double)x[i * ldx + p] * w[j * k + p];
                mag += fabs((double)x[i * ldx + p] * w[j * k + p]);
            }
            double err = fabs(y[i * ldy + j] - ref);
            double tol = 8.0 * sqrt((double)k + 1.0) * 1.1920929e-7 * mag + 1e-30;
            if (!(err <= tol))
                AKT_FAIL_("%s gemm_p%s %zux%zux%zu pad %zu bias %d: y[%zu][%zu] = %.9g, ref %.9g",
                          kt->name, kn ? " (kn)" : "", m, n, k, pad, with_bias, i, j,
                          y[i * ldy + j], ref);
            if (memcmp(&y[i * ldy + j], &y2[i * ldy + j], sizeof(float)) != 0)
                AKT_FAIL_("%s gemm_p %zux%zux%zu: column split changes y[%zu][%zu]",
                          kt->name, m, n, k, i, j);
        }
        for (size_t j = n; j < ldy; j++)
            if (y[i * ldy + j] != 12345.0f || y2[i * ldy + j] != 12345.0f)
                AKT_FAIL_("%s gemm_p wrote into padding at row %zu col %zu", kt->name, i, j);
    }
    /* a row computed alone equals the same row inside the block */
    if (m > 2) {
        float *r = malloc((n + 1) * sizeof *r);
        kt->ops->gemm_p(1, n, k, x + (m - 2) * ldx, ldx, wp, with_bias ? b : NULL, r, n, 0, n);
        if (memcmp(r, y + (m - 2) * ldy, n * sizeof *r) != 0)
            AKT_FAIL_("%s gemm_p %zux%zux%zu: a row alone differs", kt->name, m, n, k);
        free(r);
    }
    akt_checks++;
    free(x); free(w); free(b); free(wp); free(y); free(y2);
}

AKT_TEST(gemm_packed_all_paths)
{
    static const size_t shapes[][3] = {   /* m, n, k */
        { 1, 1, 1 }, { 7, 13, 5 }, { 1, 17, 17 }, { 6, 64, 16 }, { 5, 17, 16 },
        { 13, 65, 33 }, { 2, 3, 8 }, { 9, 127, 31 }, { 16, 64, 64 }, { 1, 384, 384 },
        { 31, 384, 1536 }, { 30, 1152, 384 }, { 13, 200, 7 }, { 6, 2, 1100 },
        { 37, 48, 40 }, { 12, 272, 600 },
    };
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(all_paths[pi]);
        if (!kt)
            continue;
        fprintf(stderr, "  path %s: micro-tile %zu x %zu\n", kt->name, kt->ops->mr, kt->ops->nr);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            check_gemm_p(kt, shapes[s][0], shapes[s][1], shapes[s][2], 0, 1, 0);
            check_gemm_p(kt, shapes[s][0], shapes[s][1], shapes[s][2], 3, 0, 0);
            check_gemm_p(kt, shapes[s][0], shapes[s][1], shapes[s][2], 1, s & 1, 1);
        }
        /* k = 0: Y = bias (or 0) */
        float b[3] = { 1.5f, -2.0f, 0.25f }, y[6], wp[64];
        kt->ops->gemm_p(2, 3, 0, NULL, 0, wp, b, y, 3, 0, 3);
        for (int i = 0; i < 6; i++)
            AKT_EQ_INT(y[i] == b[i % 3], 1);
    }
}

AKT_TEST(ops_all_paths)
{
    /* every path's activation, softmax and layer norm against double
     * references, on lengths that leave vector tails */
    static const size_t lens[] = { 1, 3, 4, 15, 16, 17, 37, 384 };
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(all_paths[pi]);
        if (!kt)
            continue;
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li];
            float *x = rand_buf(n), *x0 = malloc(n * sizeof *x0);
            for (int a = 0; a < 3; a++) {
                for (size_t i = 0; i < n; i++)
                    x[i] = x0[i] = frand() * 12.0f;
                kt->ops->act(x, n, (ak_act)a);
                for (size_t i = 0; i < n; i++) {
                    double v = x0[i], ref;
                    if (a == AK_ACT_GELU)
                        ref = v * 0.5 * (1.0 + erf(v / sqrt(2.0)));
                    else if (a == AK_ACT_GELU_TANH)
                        ref = 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
                    else
                        ref = v > 0 ? v : 0;
                    if (!(fabs(x[i] - ref) <= 2e-6 * fabs(ref) + 1e-7))
                        AKT_FAIL_("%s act %d n %zu: f(%.9g) = %.9g, ref %.9g", kt->name, a, n,
                                  v, x[i], ref);
                }
            }
            /* softmax with a scale, two rows with a padded stride */
            size_t ld = n + 3;
            float *sm = rand_buf(2 * ld), *sm0 = malloc(2 * ld * sizeof *sm0);
            for (size_t i = 0; i < 2 * ld; i++)
                sm[i] = sm0[i] = sm[i] * 30.0f;
            kt->ops->softmax(sm, 2, n, ld, 0.125f);
            for (size_t r = 0; r < 2; r++) {
                double mx = -1e300, sum = 0;
                for (size_t j = 0; j < n; j++)
                    mx = sm0[r * ld + j] > mx ? sm0[r * ld + j] : mx;
                for (size_t j = 0; j < n; j++)
                    sum += exp(0.125 * (sm0[r * ld + j] - mx));
                for (size_t j = 0; j < n; j++)
                    AKT_NEAR(sm[r * ld + j], exp(0.125 * (sm0[r * ld + j] - mx)) / sum, 1e-6);
                for (size_t j = n; j < ld; j++)
                    AKT_EQ_INT(sm[r * ld + j] == sm0[r * ld + j], 1);
            }
            /* layer norm with and without residual */
            float *g = rand_buf(n), *bb = rand_buf(n), *res = rand_buf(n);
            for (int add = 0; add < 2 && n > 1; add++) {
                float *v = rand_buf(n);
                double d[400], mean = 0, var = 0;
                for (size_t j = 0; j < n; j++) {
                    v[j] = v[j] * 3.0f + 10.0f;
                    d[j] = add ? (double)(v[j] + res[j]) : v[j];
                    mean += d[j];
                }
                mean /= (double)n;
                for (size_t j = 0; j < n; j++)
                    var += (d[j] - mean) * (d[j] - mean);
                var /= (double)n;
                kt->ops->layernorm(v, add ? res : NULL, 1, n, n, g, bb, 1e-12f);
                for (size_t j = 0; j < n; j++)
                    AKT_NEAR(v[j], (d[j] - mean) / sqrt(var + 1e-12) * g[j] + bb[j], 1e-5);
                free(v);
            }
            free(x); free(x0); free(sm); free(sm0); free(g); free(bb); free(res);
        }
    }
}

typedef struct pool_probe {
    ak_pool *pool;
    int counts[8];
    _Atomic int total;
    int bad;
} pool_probe;

static void pool_probe_fn(void *arg, int tid, int nt)
{
    pool_probe *pp = arg;
    for (int round = 0; round < 50; round++) {
        pp->counts[tid]++;
        atomic_fetch_add(&pp->total, 1);
        ak_pool_barrier(pp->pool, nt);
        /* after the barrier every thread has counted this round */
        if (atomic_load(&pp->total) < (round + 1) * nt)
            pp->bad = 1;
        ak_pool_barrier(pp->pool, nt);
    }
}

AKT_TEST(thread_pool)
{
    for (int size = 1; size <= 4; size++) {
        ak_pool *p = ak_pool_new(size);
        AKT_TRUE(p != NULL);
        AKT_EQ_INT(ak_pool_size(p), size);
        for (int n = 1; n <= size + 1; n++) {
            for (int rep = 0; rep < 3; rep++) {
                pool_probe pp;
                memset(&pp, 0, sizeof pp);
                pp.pool = p;
                ak_pool_run(p, n, pool_probe_fn, &pp);
                int nt = n < size ? n : size;
                AKT_EQ_INT(atomic_load(&pp.total), 50 * nt);
                AKT_EQ_INT(pp.bad, 0);
                for (int t = 0; t < nt; t++)
                    AKT_EQ_INT(pp.counts[t], 50);
            }
        }
        ak_pool_free(p);
    }
    pool_probe pp;   /* no pool: the caller alone */
    memset(&pp, 0, sizeof pp);
    ak_pool_run(NULL, 4, pool_probe_fn, &pp);
    AKT_EQ_INT(atomic_load(&pp.total), 50);
}

static double bf16_val(float f)
{
    uint16_t h = ak_f32_to_bf16(f);
    uint32_t u = (uint32_t)h << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

/* bf16 and int8 GEMMs of each path (AVX512_BF16 / VNNI where the CPU has
 * them, the portable ones otherwise) against double references on the same
 * rounded / quantised operands, whole and split into column ranges. */
static void check_reduced(const ak_kernels *kt, size_t m, size_t n, size_t k, int with_bias)
{
    size_t ldx = k + 3, ldy = n + 2;
    float *x = rand_buf(m * ldx), *w = rand_buf(n * k), *b = rand_buf(n);
    size_t np = (n + 15) / 16 * 16;
    uint16_t *wh = aligned_alloc(64, (ak_pack_bf16_elems(n, k) * 2 + 63) / 64 * 64 + 64);
    int8_t *wq = aligned_alloc(64, (ak_pack_i8_bytes(n, k) + 63) / 64 * 64 + 64);
    float *ws = malloc(np * sizeof *ws);
    int32_t *cs = malloc(np * sizeof *cs);
    size_t scr = ak_gemm_i8_scratch(m, k) + m * ((k + 1) & ~(size_t)1) * 2;
    void *xb = aligned_alloc(64, (scr + 63) / 64 * 64 + 64);
    ak_pack_nt_bf16(n, k, w, k, wh);
    ak_pack_nt_i8(n, k, w, k, wq, ws, cs);
    float *y = malloc((m * ldy + 1) * sizeof *y), *y2 = malloc((m * ldy + 1) * sizeof *y2);
    ak_gemm_bf16_fn gh = ak_gemm_bf16_for(kt);
    ak_gemm_i8_fn gq = ak_gemm_i8_for(kt);
    size_t cut = (n / 2) / 16 * 16;
    for (int mode = 0; mode < 2; mode++) {
        for (size_t i = 0; i < m * ldy; i++)
            y[i] = y2[i] = 777.0f;
        const float *bias = with_bias ? b : NULL;
        if (mode == 0) {
            gh(m, n, k, x, ldx, wh, bias, y, ldy, 0, n, xb);
            gh(m, n, k, x, ldx, wh, bias, y2, ldy, cut, n, xb);
            gh(m, n, k, x, ldx, wh, bias, y2, ldy, 0, cut, xb);
        } else {
            gq(m, n, k, x, ldx, wq, ws, cs, bias, y, ldy, 0, n, xb);
            gq(m, n, k, x, ldx, wq, ws, cs, bias, y2, ldy, cut, n, xb);
            gq(m, n, k, x, ldx, wq, ws, cs, bias, y2, ldy, 0, cut, xb);
        }
        for (size_t i = 0; i < m; i++) {
            /* the row's quantisation as the kernels do it */
            float mn = 0, mx = 0;
            for (size_t p = 0; p < k; p++) {
                mn = x[i * ldx + p] < mn ? x[i * ldx + p] : mn;
                mx = x[i * ldx + p] > mx ? x[i * ldx + p] : mx;
            }
            for (size_t j = 0; j < n; j++) {
                double ref = bias ? bias[j] : 0.0, mag = fabs(ref), exact = ref;
                for (size_t p = 0; p < k; p++) {
                    double xv = x[i * ldx + p], wv = w[j * k + p];
                    exact += xv * wv;
                    if (mode == 0) {
                        ref += bf16_val(x[i * ldx + p]) * bf16_val(w[j * k + p]);
                        mag += fabs(bf16_val(x[i * ldx + p]) * bf16_val(w[j * k + p]));
                    } else {
                        mag += fabs(xv * wv);
                    }
                }
                double got = y[i * ldy + j];
                if (mode == 0) {
                    double tol = 8.0 * sqrt((double)k + 1.0) * 1.2e-7 * mag + 1e-30;
                    if (!(fabs(got - ref) <= tol))
                        AKT_FAIL_("%s bf16 gemm %zux%zux%zu: y[%zu][%zu] = %.9g, ref %.9g",
                                  kt->name, m, n, k, i, j, got, ref);
                } else {
                    /* quantisation error bound: half a step of each operand */
                    double sx = mx > mn ? (mx - mn) / 255.0 : 1.0, sw = ws[j];
                    double tol = 0.5 * (sx * k * 1.0 + sw * (fabs(mx) + fabs(mn)) * k) + 1e-5 * mag;
                    if (!(fabs(got - exact) <= tol))
                        AKT_FAIL_("%s int8 gemm %zux%zux%zu: y[%zu][%zu] = %.9g, exact %.9g",
                                  kt->name, m, n, k, i, j, got, exact);
                }
                if (memcmp(&y[i * ldy + j], &y2[i * ldy + j], sizeof(float)) != 0)
                    AKT_FAIL_("%s %s gemm %zux%zux%zu: column split changes y[%zu][%zu]",
                              kt->name, mode ? "int8" : "bf16", m, n, k, i, j);
            }
            for (size_t j = n; j < ldy; j++)
                if (y[i * ldy + j] != 777.0f)
                    AKT_FAIL_("%s reduced gemm wrote into padding", kt->name);
        }
        akt_checks++;
    }
    free(x); free(w); free(b); free(wh); free(wq); free(ws); free(cs); free(xb); free(y); free(y2);
}

AKT_TEST(gemm_reduced_all_paths)
{
    static const size_t shapes[][3] = {
        { 1, 1, 1 }, { 7, 13, 5 }, { 6, 64, 16 }, { 13, 65, 33 }, { 9, 127, 31 },
        { 31, 384, 384 }, { 5, 200, 1030 }, { 30, 96, 3 },
    };
    fprintf(stderr, "  cpu: %s\n", ak_cpu_summary());
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(all_paths[pi]);
        if (!kt)
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_reduced(kt, shapes[s][0], shapes[s][1], shapes[s][2], (int)(s & 1));
    }
}

/* Naive double attention of one head under mask m at query i, into out[hd]. */
static void ref_attend(const float *q, const float *k, const float *v, size_t ld, size_t s,
                       size_t hd, float scale, const ak_att_mask *m, size_t i, double *out)
{
    double *p = malloc(s * sizeof *p), mx = -1e300, sum = 0;
    for (size_t t = 0; t < s; t++) {
        int vis = (!m->causal || t <= i) &&
                  (m->window == 0 || (t > i ? t - i : i - t) < m->window);
        double d = 0;
        for (size_t e = 0; e < hd; e++)
            d += (double)q[i * ld + e] * k[t * ld + e];
        p[t] = vis ? d * scale : -INFINITY;
        mx = p[t] > mx ? p[t] : mx;
    }
    for (size_t t = 0; t < s; t++)
        sum += (p[t] = exp(p[t] - mx));
    for (size_t e = 0; e < hd; e++) {
        out[e] = 0;
        for (size_t t = 0; t < s; t++)
            out[e] += p[t] / sum * v[t * ld + e];
    }
    free(p);
}

/* Masked blocked attention (bidirectional, causal, sliding windows; lengths
 * past one block of AK_ATT_ROWS rows) on every path, fp32 and bf16, against
 * a naive double reference; a causal row equals the last row of the
 * unmasked attention of its prefix, bit for bit. */
AKT_TEST(attention_masked_all_paths)
{
    static const size_t cfg[][2] = { { 1, 8 }, { 5, 33 }, { 37, 16 }, { 130, 64 }, { 300, 24 } };
    static const ak_att_mask masks[] = { { 0, 0 }, { 1, 0 }, { 1, 7 }, { 0, 20 }, { 0, 1 },
                                         { 1, 400 }, { 0, 129 } };
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(all_paths[pi]);
        if (!kt)
            continue;
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            size_t s = cfg[c][0], hd = cfg[c][1], ld = 3 * hd + 2, ldc = hd + 3;
            float *qkv = rand_buf(s * ld), *ctx = malloc(s * ldc * sizeof *ctx);
            float *q = qkv, *k = qkv + hd, *v = qkv + 2 * hd;
            size_t nf = ak_attention_scratch(s, hd), nh = ak_attention_scratch_bf16(s, hd);
            float *scr = aligned_alloc(64, ((nf > nh ? nf : nh) * 4 + 63) / 64 * 64);
            float scale = 1.0f / sqrtf((float)hd);
            double *ref = malloc(hd * sizeof *ref);
            for (size_t mi = 0; mi < sizeof masks / sizeof masks[0]; mi++) {
                for (int bf = 0; bf < 2; bf++) {
                    ak_gemm_bf16_fn g = bf ? ak_gemm_bf16_for(kt) : NULL;
                    ak_attention_masked(kt->ops, g, &masks[mi], s, hd, scale, q, k, v, ld, ctx,
                                        ldc, scr);
                    for (size_t i = 0; i < s; i++) {
                        ref_attend(q, k, v, ld, s, hd, scale, &masks[mi], i, ref);
                        for (size_t e = 0; e < hd; e++)
                            if (!(fabs(ctx[i * ldc + e] - ref[e]) <= (bf ? 2e-2 : 2e-6)))
                                AKT_FAIL_("%s%s attention s %zu hd %zu mask {%d, %zu}: ctx[%zu]"
                                          "[%zu] = %.9g, ref %.9g", kt->name, bf ? " bf16" : "",
                                          s, hd, masks[mi].causal, masks[mi].window, i, e,
                                          ctx[i * ldc + e], ref[e]);
                    }
                    akt_checks++;
                }
            }
            /* causal row i == last row of the unmasked prefix of i + 1 tokens */
            const ak_att_mask causal = { 1, 0 };
            ak_attention_masked(kt->ops, NULL, &causal, s, hd, scale, q, k, v, ld, ctx, ldc, scr);
            float *pc = malloc(s * ldc * sizeof *pc);
            for (size_t i = 0; i < s; i += 1 + s / 7) {
                ak_attention_masked(kt->ops, NULL, NULL, i + 1, hd, scale, q, k, v, ld, pc, ldc,
                                    scr);
                if (memcmp(pc + i * ldc, ctx + i * ldc, hd * sizeof *pc) != 0)
                    AKT_FAIL_("%s causal attention s %zu: row %zu differs from its prefix's",
                              kt->name, s, i);
            }
            free(pc); free(qkv); free(ctx); free(scr); free(ref);
        }
    }
}

/* RMSNorm (residual or not, gain or none, in place or not), SiLU and the
 * gated products of every path against double references. */
AKT_TEST(decoder_ops_all_paths)
{
    static const size_t lens[] = { 1, 3, 4, 15, 16, 17, 37, 128, 384 };
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(all_paths[pi]);
        if (!kt)
            continue;
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            size_t n = lens[li], ld = n + 5, rows = 3;
            float *x0 = rand_buf(rows * ld), *res = rand_buf(rows * ld), *g = rand_buf(n);
            float *x = malloc(rows * ld * sizeof *x), *y = malloc(rows * ld * sizeof *y);
            for (int mode = 0; mode < 4; mode++) {   /* bit 0: residual, bit 1: in place */
                int add = mode & 1, inplace = mode >> 1;
                memcpy(x, x0, rows * ld * sizeof *x);
                const float *gg = mode == 2 ? NULL : g;
                kt->ops->rmsnorm(inplace ? x : y, x, add ? res : NULL, rows, n, ld, gg, 1e-6f);
                for (size_t r = 0; r < rows; r++) {
                    double d[400], ss = 0;
                    for (size_t j = 0; j < n; j++) {
                        d[j] = add ? (double)(x0[r * ld + j] + res[r * ld + j]) : x0[r * ld + j];
                        ss += d[j] * d[j];
                        if (add && !inplace)   /* the residual stream keeps the sum */
                            AKT_EQ_INT(x[r * ld + j] == (float)d[j], 1);
                    }
                    double rstd = 1.0 / sqrt(ss / (double)n + 1e-6);
                    for (size_t j = 0; j < n; j++) {
                        double want = d[j] * rstd * (gg ? gg[j] : 1.0);
                        float got = (inplace ? x : y)[r * ld + j];
                        if (!(fabs(got - want) <= 2e-6 * (fabs(want) + 1)))
                            AKT_FAIL_("%s rmsnorm n %zu mode %d: y[%zu][%zu] = %.9g, ref %.9g",
                                      kt->name, n, mode, r, j, got, want);
                    }
                }
            }
            /* SiLU and the gates of every activation */
            float *a = rand_buf(n), *u = rand_buf(n), *o = malloc(n * sizeof *o);
            for (size_t i = 0; i < n; i++)
                a[i] *= 12.0f;
            a[0] = n > 1 ? -120.0f : a[0];   /* far tail: ~0, no overflow */
            memcpy(o, a, n * sizeof *o);
            kt->ops->act(o, n, AK_ACT_SILU);
            for (size_t i = 0; i < n; i++) {
                double want = a[i] / (1.0 + exp(-(double)a[i]));
                if (!(fabs(o[i] - want) <= 2e-6 * fabs(want) + 1e-7))
                    AKT_FAIL_("%s silu(%.9g) = %.9g, ref %.9g", kt->name, a[i], o[i], want);
            }
            for (int act = 0; act <= AK_ACT_SILU; act++) {
                float *want = malloc(n * sizeof *want);
                memcpy(want, a, n * sizeof *want);
                kt->ops->act(want, n, (ak_act)act);
                kt->ops->gate(o, a, u, n, (ak_act)act);
                for (size_t i = 0; i < n; i++)
                    AKT_EQ_INT(o[i] == want[i] * u[i], 1);
                memcpy(o, a, n * sizeof *o);
                kt->ops->gate(o, o, u, n, (ak_act)act);   /* y aliasing g */
                for (size_t i = 0; i < n; i++)
                    AKT_EQ_INT(o[i] == want[i] * u[i], 1);
                free(want);
            }
            akt_checks++;
            free(x0); free(res); free(g); free(x); free(y); free(a); free(u); free(o);
        }
    }
}

AKT_MAIN(AKT_REG(select_and_names), AKT_REG(env_override), AKT_REG(gemm_all_paths),
         AKT_REG(gemm_degenerate), AKT_REG(layernorm), AKT_REG(activations),
         AKT_REG(softmax), AKT_REG(attention_all_paths),
         AKT_REG(gemm_packed_all_paths), AKT_REG(ops_all_paths), AKT_REG(thread_pool),
         AKT_REG(gemm_reduced_all_paths), AKT_REG(attention_masked_all_paths),
         AKT_REG(decoder_ops_all_paths))
