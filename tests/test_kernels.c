/*
 * test_kernels.c - every kernel path this CPU supports, forced one at a time,
 * against naive double-precision references: the linear GEMM on odd shapes
 * (1x1x1 up to BERT-sized 33 x 1536 x 384), strided operands, bias or none,
 * and the layer norm, activation, softmax and attention operations.
 */
#include "akt.h"
#include "kernels/kernels.h"

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

AKT_MAIN(AKT_REG(select_and_names), AKT_REG(env_override), AKT_REG(gemm_all_paths),
         AKT_REG(gemm_degenerate), AKT_REG(layernorm), AKT_REG(activations),
         AKT_REG(softmax), AKT_REG(attention_all_paths))
