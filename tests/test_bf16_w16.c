/*
 * test_bf16_w16.c - BF16 weights kept as bf16 in memory and computed in
 * fp32 (w16_tmpl.h, AK_PREC_W16), and the load that releases the file's
 * pages tensor by tensor.
 *
 *   w16_gemm     on every kernel path: the bf16-weight GEMM with fp32
 *                activations equals the path's fp32 packed GEMM on the
 *                bf16-rounded weights bit for bit, and an independent
 *                double loop within rounding; column ranges as threads
 *                split them give the same bits; nothing is written outside
 *                them; odd k, k past one block, partial tiles, bias or none
 *   w16r_gemm    the variant that rounds activations to bf16 (the bf16
 *                mode without AVX512_BF16) against the double loop on the
 *                rounded operands, and it does round
 *   bf16_default a BF16 Qwen3-shaped folder loaded without a dtype embeds
 *                bit for bit as its F32 twin (and as --dtype f32) on every
 *                kernel path (the best one under AKIDB_TEST_QUICK), the BF16
 *                file reported
 *   load_memory  that load, measured by the kernel (VmHWM after resetting
 *                it through /proc/self/clear_refs): the peak and the
 *                resident memory stay within 1.1 x the weight file + 16 MB
 *                (a load that kept the mapped file or widened the weights
 *                to f32 needs about 2 x); skipped where RSS is not the
 *                process's own (sanitizers) or the peak cannot be reset
 */
#include "akt_model.h"
#include "kernels/kernels.h"

#include <fcntl.h>

static const akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                           AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
#define N_PATHS (sizeof paths / sizeof paths[0])

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void)   /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float bf16_round(float v)
{
    uint16_t h = ak_f32_to_bf16(v);
    uint32_t u = (uint32_t)h << 16;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* The path's rounding kernel (ak_gemm_bf16_for may pick AVX512_BF16). */
static ak_gemm_bf16_fn w16r_of(akidb_kernel_path p)
{
#if defined(__x86_64__) || defined(_M_X64)
    if (p == AKIDB_KERNELS_AVX512)
        return ak_gemm_w16r_avx512;
    if (p == AKIDB_KERNELS_AVX2)
        return ak_gemm_w16r_avx2;
#endif
    (void)p;
    return ak_gemm_w16r_portable;
}

static const size_t shapes[][3] = {   /* m, n, k */
    { 1, 1, 1 },    { 1, 16, 2 },  { 3, 17, 3 },    { 6, 64, 512 },  { 7, 65, 513 },
    { 13, 100, 1100 }, { 2, 48, 1030 }, { 40, 300, 77 }, { 9, 33, 1024 }, { 5, 8, 0 },
};

typedef struct gcase {
    size_t m, n, k, ldx, ldy;
    float *x, *w, *wr, *b;
    uint16_t *wh;
    float *wp;
} gcase;

static gcase gcase_make(const size_t *s)
{
    gcase g;
    memset(&g, 0, sizeof g);
    g.m = s[0];
    g.n = s[1];
    g.k = s[2];
    g.ldx = g.k + 3;
    g.ldy = g.n + 2;
    g.x = malloc((g.m * g.ldx + 1) * sizeof *g.x);
    g.w = malloc((g.n * g.k + 1) * sizeof *g.w);
    g.wr = malloc((g.n * g.k + 1) * sizeof *g.wr);
    g.b = malloc(g.n * sizeof *g.b);
    for (size_t i = 0; i < g.m * g.ldx; i++)
        g.x[i] = frand();
    for (size_t i = 0; i < g.n * g.k; i++) {
        g.w[i] = frand();
        g.wr[i] = bf16_round(g.w[i]);
    }
    for (size_t i = 0; i < g.n; i++)
        g.b[i] = frand();
    g.wh = aligned_alloc(64, (ak_pack_bf16_elems(g.n, g.k) * 2 + 63) / 64 * 64 + 64);
    g.wp = aligned_alloc(64, (ak_pack_floats(g.n, g.k) * 4 + 63) / 64 * 64 + 64);
    ak_pack_nt_bf16(g.n, g.k, g.w, g.k, g.wh);
    ak_pack_nt(g.n, g.k, g.wr, g.k, g.wp);
    return g;
}

static void gcase_free(gcase *g)
{
    free(g->x); free(g->w); free(g->wr); free(g->b); free(g->wh); free(g->wp);
}

/* y of g's GEMM through f, whole (y) and as two column ranges (y2), over
 * padding of 777. */
static void run_split(const gcase *g, ak_gemm_bf16_fn f, const float *bias, float *y, float *y2)
{
    for (size_t i = 0; i < g->m * g->ldy; i++)
        y[i] = y2[i] = 777.0f;
    size_t cut = (g->n / 2) / 16 * 16;
    f(g->m, g->n, g->k, g->x, g->ldx, g->wh, bias, y, g->ldy, 0, g->n, NULL);
    f(g->m, g->n, g->k, g->x, g->ldx, g->wh, bias, y2, g->ldy, cut, g->n, NULL);
    f(g->m, g->n, g->k, g->x, g->ldx, g->wh, bias, y2, g->ldy, 0, cut, NULL);
}

/* y against the double loop over (rounded when rnd) x and the rounded
 * weights; returns how many elements differ from the loop over unrounded x
 * by more than the tolerance. */
static size_t check_ref(const char *what, const char *path, const gcase *g, const float *bias,
                        const float *y, const float *y2, int rnd)
{
    size_t off_plain = 0;
    for (size_t i = 0; i < g->m; i++) {
        for (size_t j = 0; j < g->n; j++) {
            double ref = bias ? bias[j] : 0.0, plain = ref, mag = fabs(ref);
            for (size_t p = 0; p < g->k; p++) {
                double xv = g->x[i * g->ldx + p], wv = g->wr[j * g->k + p];
                double xr = rnd ? bf16_round((float)xv) : xv;
                ref += xr * wv;
                plain += xv * wv;
                mag += fabs(xr * wv);
            }
            double tol = 2.0 * ((double)g->k + 2.0) * 6e-8 * mag + 1e-30;
            double got = y[i * g->ldy + j];
            if (!(fabs(got - ref) <= tol))
                AKT_FAIL_("%s %s %zux%zux%zu: y[%zu][%zu] = %.9g, double %.9g", path, what,
                          g->m, g->n, g->k, i, j, got, ref);
            off_plain += !(fabs(got - plain) <= tol);
            if (memcmp(&y[i * g->ldy + j], &y2[i * g->ldy + j], sizeof(float)) != 0)
                AKT_FAIL_("%s %s %zux%zux%zu: a column split changes y[%zu][%zu]", path, what,
                          g->m, g->n, g->k, i, j);
        }
        for (size_t j = g->n; j < g->ldy; j++)
            if (y[i * g->ldy + j] != 777.0f || y2[i * g->ldy + j] != 777.0f)
                AKT_FAIL_("%s %s wrote past column %zu", path, what, g->n);
    }
    return off_plain;
}

AKT_TEST(w16_gemm)
{
    int ran = 0;
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(paths[pi]);
        if (!kt)
            continue;
        ran++;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            gcase g = gcase_make(shapes[si]);
            size_t ny = g.m * g.ldy + 1;
            float *y = malloc(ny * sizeof *y), *y2 = malloc(ny * sizeof *y2);
            float *yf = malloc(ny * sizeof *yf);
            for (int wb = 0; wb < 2; wb++) {
                const float *bias = wb ? g.b : NULL;
                run_split(&g, ak_gemm_w16_for(kt), bias, y, y2);
                check_ref("w16 gemm", kt->name, &g, bias, y, y2, 0);
                for (size_t i = 0; i < ny; i++)
                    yf[i] = 777.0f;
                kt->ops->gemm_p(g.m, g.n, g.k, g.x, g.ldx, g.wp, bias, yf, g.ldy, 0, g.n);
                for (size_t i = 0; i < g.m; i++)
                    if (memcmp(y + i * g.ldy, yf + i * g.ldy, g.n * sizeof *y) != 0)
                        AKT_FAIL_("%s w16 gemm %zux%zux%zu: row %zu differs from the f32 "
                                  "GEMM on the same weights", kt->name, g.m, g.n, g.k, i);
                akt_checks++;
            }
            free(y); free(y2); free(yf);
            gcase_free(&g);
        }
    }
    AKT_TRUE(ran >= 1);
}

AKT_TEST(w16r_gemm)
{
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(paths[pi]);
        if (!kt)
            continue;
        size_t rounded = 0;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            gcase g = gcase_make(shapes[si]);
            size_t ny = g.m * g.ldy + 1;
            float *y = malloc(ny * sizeof *y), *y2 = malloc(ny * sizeof *y2);
            run_split(&g, w16r_of(paths[pi]), g.b, y, y2);
            rounded += check_ref("w16r gemm", kt->name, &g, g.b, y, y2, 1);
            akt_checks++;
            free(y); free(y2);
            gcase_free(&g);
        }
        if (rounded == 0)   /* bf16(x) differs from x by up to 2^-9: visible */
            AKT_FAIL_("%s w16r gemm: results equal the unrounded activations'", kt->name);
    }
}

/* ---- a BF16 model folder ------------------------------------------------------ */

enum { H_ = 256, NQ_ = 4, NKV_ = 2, HD_ = 64, I_ = 1024, MAX_L_ = 16, V_ = 1000 };

/* Value k of tensor t, exact in bf16. */
static float value(const akt_tensor *t, size_t ti, size_t k, const void *ctx)
{
    (void)ctx;
    float u = akt_unit(ti, k);
    if (!t->d1)
        return akt_bf16_trunc(1.0f + 0.25f * u);
    return akt_bf16_trunc(u * (float)(1.7 / sqrt((double)t->d1)));
}

static const char *qwen3_cfg =
    "{\"model_type\":\"qwen3\",\"hidden_size\":256,\"num_hidden_layers\":%d,"
    "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":64,"
    "\"intermediate_size\":1024,\"vocab_size\":1000,\"max_position_embeddings\":64,"
    "\"rms_norm_eps\":1e-06,\"rope_theta\":1000000,\"rope_scaling\":null,"
    "\"attention_bias\":false,\"use_sliding_window\":false,\"sliding_window\":null,"
    "\"hidden_act\":\"silu\",\"tie_word_embeddings\":true,"
    "\"architectures\":[\"Qwen3ForCausalLM\"]}";

/* The folder tmp/<name>: layers layers, weights stored as dt (0 F32, 1
 * BF16). */
static const char *make_model(const char *name, int layers, int dt)
{
    static akt_tensor t[16 + 11 * MAX_L_];
    char cfg[1024];
    AKT_TRUE(layers <= MAX_L_);
    snprintf(cfg, sizeof cfg, qwen3_cfg, layers);
    const char *d = akt_model_dir("akidb_bf16_", name, cfg);
    akt_wopts o = { 0 };
    o.dt = dt;
    akt_qwen3_shape q = {H_, NQ_, NKV_, HD_, I_, layers, V_};
    akt_write_weights(d, t, akt_qwen3_tensors(t, &q), &o, value, NULL);
    return d;
}

static const int32_t ids_a[] = { 5, 17, 300, 999, 2 }, ids_b[] = { 42 };
static const int32_t ids_c[] = { 7, 7, 7, 123, 456, 789, 10, 11, 12, 13, 14, 15, 16, 17, 18 };

AKT_TEST(bf16_default)
{
    /* AKIDB_TEST_QUICK (sanitizers, emulated ARM): one layer, the best
     * kernel path only */
    const char *qk = getenv("AKIDB_TEST_QUICK");
    int quick = qk && *qk && strcmp(qk, "0") != 0;
    const char *df = make_model("f32", quick ? 1 : 2, 0);
    akidb_model *f = akt_load_ids(df, NULL);
    const char *dh = make_model("bf16", quick ? 1 : 2, 1);
    akidb_model *h = akt_load_ids(dh, NULL), *hf = akt_load_ids(dh, "f32");
    akidb_model_info info;
    akidb_model_get_info(h, &info);
    AKT_EQ_STR(info.weights_dtype, "BF16");
    const int32_t *ids[3] = { ids_a, ids_b, ids_c };
    const size_t lens[3] = { 5, 1, 15 };
    enum { N = 3 };
    float *r = malloc(N * H_ * sizeof *r), *x = malloc(N * H_ * sizeof *x);
    for (size_t pi = 0; pi < N_PATHS; pi++) {
        if (!ak_kernels_for(paths[pi]) || (quick && paths[pi] != ak_kernels_best()))
            continue;
        AKT_OK(akidb_kernels_select(paths[pi]));
        akt_embed_ids(f, N, ids, lens, H_, 1, 0, r);
        akt_embed_ids(h, N, ids, lens, H_, 2, 0, x);
        if (memcmp(r, x, N * H_ * sizeof *r) != 0)
            AKT_FAIL_("%s: the BF16 folder loaded by default differs from its F32 twin "
                      "(max |diff| %.3g)", akidb_kernels_name(paths[pi]),
                      akt_max_abs_diff(r, x, N * H_));
        akt_embed_ids(hf, N, ids, lens, H_, 1, 1, x);
        if (memcmp(r, x, N * H_ * sizeof *r) != 0)
            AKT_FAIL_("%s: the BF16 folder with dtype f32 differs from its F32 twin",
                      akidb_kernels_name(paths[pi]));
        akt_checks++;
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    free(r); free(x);
    akidb_model_free(hf);
    akidb_model_free(h);
    akidb_model_free(f);
}

/* VmHWM or VmRSS of this process in bytes, or 0. */
static size_t status_kb(const char *key)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0, n = strlen(key);
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            kb = strtoull(line + n + 1, NULL, 10);
    if (fp)
        fclose(fp);
    return kb * 1024;
}

/* 1 when this build's RSS is the process's own (no sanitizer shadow or
 * quarantine). */
static int rss_is_own(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
    return 0;
#endif
#endif
    return 1;
}

AKT_TEST(load_memory)
{
    const char *dh = make_model("mem", MAX_L_, 1);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/model.safetensors", dh);
    struct stat st;
    AKT_TRUE(stat(p, &st) == 0);
    size_t file = (size_t)st.st_size;
    int measure = rss_is_own();
    if (!measure)
        printf("  load_memory: not measured (sanitizer build: RSS is not the model's)\n");
    int fd = measure ? open("/proc/self/clear_refs", O_WRONLY) : -1;
    if (measure && (fd < 0 || write(fd, "5", 1) != 1 || status_kb("VmHWM") == 0)) {
        printf("  load_memory: not measured (the peak RSS cannot be reset here)\n");
        measure = 0;
    }
    if (fd >= 0)
        close(fd);
    size_t before = status_kb("VmRSS");
    akidb_model *h = akt_load_ids(dh, NULL);
    size_t peak = status_kb("VmHWM"), after = status_kb("VmRSS");
    akidb_model_info info;
    akidb_model_get_info(h, &info);
    akidb_model_free(h);
    AKT_EQ_STR(info.weights_dtype, "BF16");
    if (!measure)
        return;
    double bound = 1.1 * (double)file + 16.0 * 1024 * 1024;
    printf("  load_memory: file %.1f MB, load peak +%.1f MB, resident +%.1f MB, bound %.1f MB\n",
           file / 1048576.0, (peak - before) / 1048576.0, (after - before) / 1048576.0,
           bound / 1048576.0);
    if ((double)(peak - before) > bound)
        AKT_FAIL_("loading a %zu-byte BF16 file peaked at %zu bytes more than before",
                  file, peak - before);
    if ((double)(after - before) > bound)
        AKT_FAIL_("a %zu-byte BF16 file took %zu bytes once loaded", file, after - before);
    akt_checks++;
}

AKT_MAIN(AKT_REG(w16_gemm), AKT_REG(w16r_gemm), AKT_REG(bf16_default), AKT_REG(load_memory))
