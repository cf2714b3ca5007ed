/*
 * test_mpnet.c - the MPNet family (fam_mpnet.c): config fields, tensor
 * names, the relative position bias of the shared encoder and its
 * attention kernel (ak_attention_biased).
 *
 * Without Python (small models written here):
 *   config         MPNetConfig's fields and defaults; max_tokens from the
 *                  514-row position table; refused: heads that do not
 *                  divide, fewer than 32 relative_attention_num_buckets, a
 *                  position table with no room after padding_idx 1; lookup
 *                  by architectures
 *   tensors        with and without "mpnet.", F32 = BF16 = F16 stored; a
 *                  missing relative_attention_bias (or other tensor) named;
 *                  a bucket count that does not match the table named
 *   attention      ak_attention_biased on every kernel path, fp32 and bf16,
 *                  against a naive double reference with a bias that is not
 *                  symmetric in j - i, lengths past one block of rows;
 *                  bias NULL is ak_attention_masked bit for bit
 *   bias           the model's bias reaches the scores: a bias constant per
 *                  head (a shift of every score of a row) leaves the output
 *                  as with none, a bias per bucket changes it
 *   forward        thread counts and grouping bit-identical; the padding id
 *                  mid-text; length limit max_position_embeddings - 2
 *   reduced        bf16 / int8 compute on every kernel path vs f32
 *   out_of_memory  every allocation of a load + embed failing once
 * The PyTorch references (tests/ref/make_mpnet.py) run in test_families'
 * families_ref checker, test mpnet_ref.
 */
#include "akt_model.h"

enum { H_ = 32, NH_ = 4, I_ = 64, L_ = 2, V_ = 1000, P_ = 130, NB_ = 32 };

/* ---- small models written here ---------------------------------------------- */

#define REL_NAME "encoder.relative_attention_bias.weight"

static size_t list_tensors(size_t buckets, akt_tensor *t)
{
    size_t n = 0;
#define T_(a, b, ...) AKT_TENSOR(t, n, a, b, __VA_ARGS__)
    T_(V_, H_, "embeddings.word_embeddings.weight");
    T_(P_, H_, "embeddings.position_embeddings.weight");
    T_(H_, 0, "embeddings.LayerNorm.weight");
    T_(H_, 0, "embeddings.LayerNorm.bias");
    T_(buckets, NH_, REL_NAME);
    for (int l = 0; l < L_; l++) {
        static const char *qkvo[] = { "q", "k", "v", "o" };
        for (int k = 0; k < 4; k++) {
            T_(H_, H_, "encoder.layer.%d.attention.attn.%s.weight", l, qkvo[k]);
            T_(H_, 0, "encoder.layer.%d.attention.attn.%s.bias", l, qkvo[k]);
        }
        T_(H_, 0, "encoder.layer.%d.attention.LayerNorm.weight", l);
        T_(H_, 0, "encoder.layer.%d.attention.LayerNorm.bias", l);
        T_(I_, H_, "encoder.layer.%d.intermediate.dense.weight", l);
        T_(I_, 0, "encoder.layer.%d.intermediate.dense.bias", l);
        T_(H_, I_, "encoder.layer.%d.output.dense.weight", l);
        T_(H_, 0, "encoder.layer.%d.output.dense.bias", l);
        T_(H_, 0, "encoder.layer.%d.output.LayerNorm.weight", l);
        T_(H_, 0, "encoder.layer.%d.output.LayerNorm.bias", l);
    }
#undef T_
    return n;
}

typedef struct wopts {
    int dt;               /* 0 F32, 1 BF16, 2 F16 */
    const char *prefix;   /* Hub prefix of every name, or NULL */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor with one row too many */
    size_t buckets;       /* rows of the relative bias (0: 32) */
    int rel;              /* relative bias: 0 random, 1 constant per head, 2 zero */
} wopts;

/* Deterministic value k of tensor t, exact in bf16 and in f16; the
 * relative bias as wopts ctx says. */
static float value(const akt_tensor *t, size_t ti, size_t k, const void *ctx)
{
    int rel = ((const wopts *)ctx)->rel;
    if (strcmp(t->name, REL_NAME) == 0 && rel)
        return rel == 2 ? 0.0f : 0.75f * (float)(k % NH_) - 1.0f;
    float u = akt_unit(ti, k), v;
    if (!t->d1)
        v = strstr(t->name, "LayerNorm.weight") ? 1.0f + 0.25f * u : 0.2f * u;
    else if (strcmp(t->name, REL_NAME) == 0)
        v = 1.5f * u;
    else if (strncmp(t->name, "embeddings.", 11) == 0)
        v = u;
    else
        v = u * (float)(1.7 / sqrt((double)t->d1));
    return akt_grid128(v);
}

static void write_weights(const char *dir, const wopts *o)
{
    static akt_tensor t[64];
    akt_wopts w = { .dt = o->dt, .prefix = o->prefix, .skip = o->skip, .bad = o->bad };
    akt_write_weights(dir, t, list_tensors(o->buckets ? o->buckets : NB_, t), &w, value, o);
}

#define MCFG_HEAD "{\"model_type\":\"mpnet\",\"architectures\":[\"MPNetForMaskedLM\"],"
#define MCFG_BODY                                                                      \
    "\"hidden_size\":32,\"num_hidden_layers\":2,\"num_attention_heads\":4,"           \
    "\"intermediate_size\":64,\"vocab_size\":1000,\"max_position_embeddings\":130,"   \
    "\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-05,\"pad_token_id\":1,"            \
    "\"bos_token_id\":0,\"eos_token_id\":2,\"hidden_dropout_prob\":0.1,"              \
    "\"attention_probs_dropout_prob\":0.1,\"initializer_range\":0.02"
/* the test model's config with extra fields */
#define MCFG(extra) MCFG_HEAD MCFG_BODY extra "}"
static const char *mpnet_cfg = MCFG(",\"relative_attention_num_buckets\":32");

/* Makes tmp/<name> with config text cfg and, if o, weights. */
static const char *make_model(const char *name, const char *cfg, const wopts *o)
{
    const char *d = akt_model_dir("akidb_mpnet_", name, cfg);
    if (o)
        write_weights(d, o);
    return d;
}

/* ---- config ----------------------------------------------------------------- */

static void cfg_case(const char *name, const char *cfg, akidb_status want, const char *s,
                     ak_hparams *hp)
{
    akt_cfg_case(akt_model_dir("akidb_mpnet_", name, cfg), &ak_family_mpnet, want, s, hp);
}

AKT_TEST(config)
{
    ak_hparams hp;
    AKT_TRUE(ak_family_find("mpnet") == &ak_family_mpnet);
    AKT_CONTAINS(ak_family_supported(), "mpnet");
    cfg_case("c_ok", mpnet_cfg, AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.hidden, 32);
    AKT_EQ_INT(hp.n_heads, 4);
    AKT_EQ_INT(hp.n_layers, 2);
    AKT_EQ_INT(hp.intermediate, 64);
    AKT_EQ_INT(hp.max_positions, 130);
    AKT_EQ_INT(hp.max_tokens, 128);   /* positions start at padding_idx 1 + 1 */
    AKT_EQ_INT(hp.rel_buckets, 32);
    AKT_EQ_INT(hp.type_vocab, 0);
    AKT_EQ_INT(hp.pad_id, 1);
    AKT_EQ_INT(hp.act, AK_ACT_GELU);
    AKT_NEAR(hp.ln_eps, 1e-5, 1e-12);
    /* all-mpnet-base-v2's table; relative_attention_num_buckets' default;
     * padding_idx is 1 whatever pad_token_id says (the model code's) */
    cfg_case("c_base", MCFG_HEAD "\"hidden_size\":768,\"num_hidden_layers\":12,"
             "\"num_attention_heads\":12,\"intermediate_size\":3072,\"vocab_size\":30527,"
             "\"max_position_embeddings\":514,\"pad_token_id\":0}", AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.max_tokens, 512);
    AKT_EQ_INT(hp.rel_buckets, 32);
    AKT_EQ_INT(hp.pad_id, 1);
    AKT_NEAR(hp.ln_eps, 1e-12, 1e-18);
    cfg_case("c_40", MCFG(",\"relative_attention_num_buckets\":40"), AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.rel_buckets, 40);

    cfg_case("c_heads", MCFG_HEAD "\"hidden_size\":30,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":4,\"intermediate_size\":64,\"vocab_size\":1000,"
             "\"max_position_embeddings\":130}", AKIDB_EFORMAT,
             "hidden_size 30 is not a multiple of num_attention_heads 4", &hp);
    cfg_case("c_b16", MCFG(",\"relative_attention_num_buckets\":16"), AKIDB_EFORMAT,
             "relative_attention_num_buckets 16 is fewer than the 32", &hp);
    cfg_case("c_b0", MCFG(",\"relative_attention_num_buckets\":0"), AKIDB_EFORMAT,
             "relative_attention_num_buckets", &hp);
    cfg_case("c_bstr", MCFG(",\"relative_attention_num_buckets\":\"32\""), AKIDB_EFORMAT,
             "relative_attention_num_buckets", &hp);
    cfg_case("c_pos", MCFG_HEAD "\"hidden_size\":32,\"num_hidden_layers\":2,"
             "\"num_attention_heads\":4,\"intermediate_size\":64,\"vocab_size\":1000,"
             "\"max_position_embeddings\":2}", AKIDB_EFORMAT,
             "max_position_embeddings 2 leaves no position", &hp);
    cfg_case("c_nolayers", MCFG_HEAD "\"hidden_size\":32,\"num_attention_heads\":4,"
             "\"intermediate_size\":64,\"vocab_size\":1000,\"max_position_embeddings\":130}",
             AKIDB_EFORMAT, "\"num_hidden_layers\"", &hp);
    cfg_case("c_act", MCFG(",\"hidden_act\":\"swiglu\""), AKIDB_EUNSUPPORTED, "swiglu", &hp);

    /* no model_type: architectures decide */
    cfg_case("c_arch", "{\"architectures\":[\"MPNetModel\"]," MCFG_BODY "}", AKIDB_OK, NULL,
             &hp);
    cfg_case("c_arch_mlm", "{\"architectures\":[\"MPNetForSequenceClassification\"],"
             MCFG_BODY "}", AKIDB_OK, NULL, &hp);
}

/* ---- sequences ------------------------------------------------------------------ */

enum { NSEQ = AKT_NSEQ };
static const int32_t seq_a[] = { 0, 592, 88, 999, 2 }, seq_b[] = { 0 },
                     seq_c[] = { 0, 300, 17, 1, 400, 5, 2 };   /* the padding id mid-text */
static int32_t seq_long[128];

/* The fixed sequences: a, b, c, then 128 and 33 ids of seq_long (distances
 * to 127: every bucket). */
static akt_seqs fixed(void)
{
    return akt_seqs_init(seq_a, 5, seq_b, 1, seq_c, 7, seq_long, 128, 4, V_);
}

static void embed_fixed(const akidb_model *m, int nt, int one_by_one, float *out)
{
    akt_seqs q = fixed();
    akt_embed_ids(m, NSEQ, q.ids, q.lens, H_, nt, one_by_one, out);
}

/* The worst cosine of the NSEQ embeddings a and b. */
static double worst_cos(const float *a, const float *b)
{
    return akt_worst_cosine(a, b, NSEQ, H_);
}

/* ---- tensors ------------------------------------------------------------------ */

AKT_TEST(tensors)
{
    wopts o = { 0 };
    akidb_model *ref = akt_load_ids(make_model("t_plain", mpnet_cfg, &o), NULL);
    akidb_model_info info;
    akidb_model_get_info(ref, &info);
    AKT_EQ_STR(info.weights_dtype, "F32");
    AKT_EQ_INT(info.dim, H_);
    AKT_EQ_INT(info.n_heads, NH_);
    AKT_EQ_INT(info.max_tokens, P_ - 2);
    float r[NSEQ * H_], x[NSEQ * H_];
    embed_fixed(ref, 1, 0, r);
    for (int i = 0; i < NSEQ * H_; i++)
        AKT_TRUE(isfinite(r[i]));
    const wopts v[] = { { .prefix = "mpnet." }, { .dt = 1 }, { .dt = 2 },
                        { .dt = 1, .prefix = "mpnet." } };
    static const char *names[] = { "F32", "BF16", "F16", "BF16" };
    akt_seqs q = fixed();
    for (int i = 0; i < 4; i++)
        akt_expect_same(make_model("t_var", mpnet_cfg, &v[i]), names[i], r, NSEQ, q.ids, q.lens, H_, "variant");
    /* 40 buckets in config and table: rows past 32 are never read */
    wopts o40 = { .buckets = 40 };
    akidb_model *m40 = akt_load_ids(
            make_model("t_40", MCFG(",\"relative_attention_num_buckets\":40"), &o40), NULL);
    embed_fixed(m40, 1, 0, x);
    AKT_EQ_INT(memcmp(r, x, sizeof r), 0);
    akidb_model_free(m40);
    akidb_model_free(ref);

    static const char *miss[] = { REL_NAME, "encoder.layer.1.attention.attn.o.weight",
                                  "encoder.layer.0.attention.LayerNorm.bias",
                                  "embeddings.position_embeddings.weight" };
    for (int i = 0; i < 4; i++) {
        wopts w = { .prefix = "mpnet.", .skip = miss[i] };
        akt_expect_fail(make_model("t_miss", mpnet_cfg, &w), AKIDB_EFORMAT, miss[i],
                        "also tried 'mpnet.");
    }
    /* the bias table's rows against relative_attention_num_buckets */
    wopts w33 = { .bad = REL_NAME };
    akt_expect_fail(make_model("t_b33", mpnet_cfg, &w33), AKIDB_EDIM,
                    "'" REL_NAME "': shape [33, 4], but config.json implies [32, 4]", NULL);
    wopts w32 = { 0 };
    akt_expect_fail(make_model("t_b40", MCFG(",\"relative_attention_num_buckets\":40"), &w32),
                    AKIDB_EDIM, "shape [32, 4], but config.json implies [40, 4]", REL_NAME);
    static const char *bad[] = { "encoder.layer.0.attention.attn.k.weight",
                                 "embeddings.position_embeddings.weight" };
    for (int i = 0; i < 2; i++) {
        wopts w = { .bad = bad[i] };
        akt_expect_fail(make_model("t_shape", mpnet_cfg, &w), AKIDB_EDIM, bad[i],
                        "but config.json implies");
    }
}

/* ---- the biased attention kernel --------------------------------------------------- */

static float *rand_buf(size_t n, uint64_t seed)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((double)(seed >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return p;
}

/* Naive double attention of query i with bias[j - i] added to the scaled
 * scores, into out[hd]. */
static void ref_biased(const float *q, const float *k, const float *v, size_t ld, size_t s,
                       size_t hd, float scale, const float *bias, size_t i, double *out)
{
    double *p = malloc(s * sizeof *p), mx = -1e300, sum = 0;
    for (size_t t = 0; t < s; t++) {
        double d = 0;
        for (size_t e = 0; e < hd; e++)
            d += (double)q[i * ld + e] * k[t * ld + e];
        p[t] = d * scale + bias[(ptrdiff_t)t - (ptrdiff_t)i];
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

AKT_TEST(attention)
{
    static const size_t cfg[][2] = { { 1, 8 }, { 5, 16 }, { 130, 64 }, { 300, 24 } };
    int ran = 0;
    for (size_t pi = 0; pi < AKT_NPATHS; pi++) {
        const ak_kernels *kt = ak_kernels_for(akt_path(pi));
        if (!kt)
            continue;
        ran++;
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            size_t s = cfg[c][0], hd = cfg[c][1], ld = 3 * hd + 2, ldc = hd + 3;
            float *qkv = rand_buf(s * ld, 7 + c), *ctx = malloc(s * ldc * sizeof *ctx);
            float *q = qkv, *k = qkv + hd, *v = qkv + 2 * hd;
            /* a bias over j - i in [-(s-1), s-1], larger for keys ahead, so
             * a flipped or shifted index shows */
            float *tab = rand_buf(2 * s - 1, 99 + c), *bias = tab + s - 1;
            for (size_t d = 0; d < 2 * s - 1; d++)
                tab[d] = 2.0f * tab[d] + (d >= s ? 1.5f : 0.0f);
            size_t nf = ak_attention_scratch(s, hd), nh = ak_attention_scratch_bf16(s, hd);
            float *scr = aligned_alloc(64, ((nf > nh ? nf : nh) * 4 + 63) / 64 * 64);
            float scale = 1.0f / sqrtf((float)hd);
            double *ref = malloc(hd * sizeof *ref);
            for (int bf = 0; bf < 2; bf++) {
                ak_gemm_bf16_fn g = bf ? ak_gemm_bf16_for(kt) : NULL;
                ak_attention_biased(kt->ops, g, NULL, bias, s, hd, scale, q, k, v, ld, ctx, ldc,
                                    scr);
                for (size_t i = 0; i < s; i++) {
                    ref_biased(q, k, v, ld, s, hd, scale, bias, i, ref);
                    for (size_t e = 0; e < hd; e++)
                        if (!(fabs(ctx[i * ldc + e] - ref[e]) <= (bf ? 2e-2 : 2e-6)))
                            AKT_FAIL_("%s%s biased attention s %zu hd %zu: ctx[%zu][%zu] = "
                                      "%.9g, ref %.9g", kt->name, bf ? " bf16" : "", s, hd, i,
                                      e, ctx[i * ldc + e], ref[e]);
                }
                akt_checks++;
                /* no bias: the unbiased kernel, bit for bit */
                float *c2 = malloc(s * ldc * sizeof *c2);
                ak_attention_biased(kt->ops, g, NULL, NULL, s, hd, scale, q, k, v, ld, ctx, ldc,
                                    scr);
                ak_attention_masked(kt->ops, g, NULL, s, hd, scale, q, k, v, ld, c2, ldc, scr);
                for (size_t i = 0; i < s; i++)
                    AKT_EQ_INT(memcmp(ctx + i * ldc, c2 + i * ldc, hd * sizeof *c2), 0);
                free(c2);
            }
            free(qkv); free(ctx); free(tab); free(scr); free(ref);
        }
    }
    AKT_TRUE(ran > 0);
}

/* ---- the model's bias, the forward ------------------------------------------------ */

AKT_TEST(bias)
{
    wopts o0 = { .rel = 2 }, o1 = { .rel = 1 }, o2 = { 0 };
    akidb_model *zero = akt_load_ids(make_model("b_zero", mpnet_cfg, &o0), NULL);
    akidb_model *head = akt_load_ids(make_model("b_head", mpnet_cfg, &o1), NULL);
    akidb_model *rnd = akt_load_ids(make_model("b_rand", mpnet_cfg, &o2), NULL);
    float z[NSEQ * H_], h[NSEQ * H_], r[NSEQ * H_];
    embed_fixed(zero, 1, 0, z);
    embed_fixed(head, 1, 0, h);
    embed_fixed(rnd, 1, 0, r);
    double same = worst_cos(z, h), differ = worst_cos(z, r);
    fprintf(stderr, "  constant bias per head vs none: worst cosine %.9f; bias per bucket: "
            "%.6f\n", same, differ);
    AKT_GE(same, 0.999999);
    AKT_TRUE(differ < 0.999);
    /* a one-token text sees only relative position 0: bucket 0 of each head,
     * a constant: the three models agree on it */
    AKT_GE(akt_cosine(z + H_, r + H_, H_), 0.999999);
    akidb_model_free(zero);
    akidb_model_free(head);
    akidb_model_free(rnd);
}

AKT_TEST(forward)
{
    wopts o = { .dt = 1 };
    akidb_model *m = akt_load_ids(make_model("f_bf", mpnet_cfg, &o), NULL);
    float a[NSEQ * H_], b[NSEQ * H_];
    embed_fixed(m, 1, 0, a);
    static const int nts[] = { 2, 3 };
    for (int k = 0; k < 2; k++) {
        embed_fixed(m, nts[k], 0, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
        embed_fixed(m, nts[k], 1, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    }
    /* the padding id keeps position 1 and does not advance the count: a
     * text with it differs from one with another id there */
    static const int32_t other[] = { 0, 300, 17, 5, 400, 5, 2 };
    const int32_t *ids[2] = { seq_c, other };
    size_t lens[2] = { 7, 7 };
    AKT_OK(ak_model_embed_ids(m, 2, ids, lens, b, NULL));
    AKT_TRUE(memcmp(b, b + H_, H_ * sizeof(float)) != 0);
    /* length limit: max_position_embeddings - 2; ids outside the vocabulary */
    static int32_t longer[P_];
    ids[0] = longer;
    lens[0] = P_ - 1;
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "128");
    lens[0] = P_ - 2;
    AKT_OK(ak_model_embed_ids(m, 1, ids, lens, a, NULL));
    longer[3] = V_;
    lens[0] = 5;
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_EDIM);
    akidb_model_free(m);
}

AKT_TEST(reduced)
{
    wopts o = { 0 };
    akt_seqs q = fixed();
    akt_reduced(make_model("q_r", mpnet_cfg, &o), "MPNet", NSEQ, q.ids, q.lens, H_);
}

AKT_TEST(out_of_memory)
{
    wopts o = { .dt = 1 };   /* converted copies: more allocations to fail */
    akt_seqs q = fixed();
    akt_oom_load_embed(make_model("m_bf", mpnet_cfg, &o), NULL, NSEQ, q.ids, q.lens, H_);
}

AKT_MAIN(AKT_REG(config), AKT_REG(tensors), AKT_REG(attention), AKT_REG(bias),
         AKT_REG(forward), AKT_REG(reduced), AKT_REG(out_of_memory))
