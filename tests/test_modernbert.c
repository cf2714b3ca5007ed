/*
 * test_modernbert.c - the ModernBERT family (fam_modernbert.c) on small
 * models written here; needs no Python.  (The float64 PyTorch references of
 * tests/ref/make_modernbert.py run in test_families' families_ref, ctest
 * test_modernbert_ref.)
 *
 *   config         ModernBertConfig's fields and defaults, the newer
 *                  layer_types / rope_parameters spelling, local_rope_theta
 *                  null; refused and named: heads that do not divide, odd
 *                  head widths, a head_dim of its own, bad local_attention /
 *                  global_attn_every_n_layers, rope_scaling and
 *                  rope_parameters types other than default, layer_types
 *                  against the pattern, other activations, pad_token_id past
 *                  the vocabulary; lookup by architectures
 *   tensors        with and without "model.", F32 = BF16 = F16 stored, the
 *                  biases of norm_bias / attention_bias / mlp_bias read;
 *                  missing and misshapen tensors named
 *   forward        thread counts and grouping bit-identical; a window wider
 *                  than every text equals global attention, a narrow one does
 *                  not; each rotary base is used; ids and lengths checked
 *   reduced        bf16 / int8 compute on every kernel path vs f32
 *   out_of_memory  every allocation of a load + embed failing once
 */
#include "akt_model.h"

enum { H_ = 32, NH_ = 4, I_ = 40, L_ = 3, V_ = 300 };

/* ---- small models written here ---------------------------------------------- */

typedef struct wopts {
    int dt;               /* 0 F32, 1 BF16, 2 F16 */
    const char *prefix;   /* Hub prefix of every name, or NULL */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor with one row too many */
    int norm_bias, attn_bias, mlp_bias;   /* tensors written */
} wopts;

static size_t list_tensors(const wopts *o, akt_tensor *t)
{
    size_t n = 0;
#define T_(a, b, ...) AKT_TENSOR(t, n, a, b, __VA_ARGS__)
#define NORM_(...)                                                                 \
    do { T_(H_, 0, __VA_ARGS__); strcat(t[n - 1].name, "weight");                   \
         if (o->norm_bias) { T_(H_, 0, __VA_ARGS__); strcat(t[n - 1].name, "bias"); } } while (0)
    T_(V_, H_, "embeddings.tok_embeddings.weight");
    NORM_("embeddings.norm.");
    for (int l = 0; l < L_; l++) {
        if (l > 0)
            NORM_("layers.%d.attn_norm.", l);
        T_(3 * H_, H_, "layers.%d.attn.Wqkv.weight", l);
        if (o->attn_bias)
            T_(3 * H_, 0, "layers.%d.attn.Wqkv.bias", l);
        T_(H_, H_, "layers.%d.attn.Wo.weight", l);
        if (o->attn_bias)
            T_(H_, 0, "layers.%d.attn.Wo.bias", l);
        NORM_("layers.%d.mlp_norm.", l);
        T_(2 * I_, H_, "layers.%d.mlp.Wi.weight", l);
        if (o->mlp_bias)
            T_(2 * I_, 0, "layers.%d.mlp.Wi.bias", l);
        T_(H_, I_, "layers.%d.mlp.Wo.weight", l);
        if (o->mlp_bias)
            T_(H_, 0, "layers.%d.mlp.Wo.bias", l);
    }
    NORM_("final_norm.");
#undef NORM_
#undef T_
    return n;
}

/* Deterministic value k of tensor t, exact in bf16 and in f16. */
static float value(const akt_tensor *t, size_t ti, size_t k, const void *ctx)
{
    (void)ctx;
    float u = akt_unit(ti, k), v;
    size_t n = strlen(t->name);
    if (n > 5 && strcmp(t->name + n - 5, ".bias") == 0)
        v = 0.2f * u;
    else if (!t->d1)
        v = 1.0f + 0.25f * u;
    else if (strstr(t->name, "tok_embeddings"))
        v = u;
    else
        v = u * (float)(2.0 / sqrt((double)t->d1));
    return akt_grid128(v);
}

static void write_weights(const char *dir, const wopts *o)
{
    static akt_tensor t[128];
    akt_wopts w = { .dt = o->dt, .prefix = o->prefix, .skip = o->skip, .bad = o->bad };
    akt_write_weights(dir, t, list_tensors(o, t), &w, value, NULL);
}

/* The config of the test model: ModernBertConfig's fields, with extra
 * fields (",\"key\":value...") replacing nothing (JSON keeps the last of a
 * repeated key in jansson; extra holds only new keys or the varied ones
 * below). */
static const char *mb_cfg(char *buf, size_t cap, size_t local, int every, const char *theta_l,
                          const wopts *o, const char *extra)
{
    snprintf(buf, cap,
             "{\"architectures\":[\"ModernBertModel\"],\"model_type\":\"modernbert\","
             "\"hidden_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
             "\"intermediate_size\":%d,\"vocab_size\":%d,\"max_position_embeddings\":96,"
             "\"norm_eps\":1e-05,\"layer_norm_eps\":1e-05,\"norm_bias\":%s,"
             "\"attention_bias\":%s,\"mlp_bias\":%s,\"global_rope_theta\":160000.0,"
             "\"local_rope_theta\":%s,\"local_attention\":%zu,"
             "\"global_attn_every_n_layers\":%d,\"hidden_activation\":\"gelu\","
             "\"pad_token_id\":%d,\"position_embedding_type\":\"absolute\","
             "\"classifier_pooling\":\"mean\",\"deterministic_flash_attn\":false%s}",
             H_, L_, NH_, I_, V_, o && o->norm_bias ? "true" : "false",
             o && o->attn_bias ? "true" : "false", o && o->mlp_bias ? "true" : "false",
             theta_l, local, every, V_ - 3, extra ? extra : "");
    return buf;
}

/* Makes tmp/<name> with config text cfg and, if o, weights. */
static const char *make_model(const char *name, const char *cfg, const wopts *o)
{
    const char *d = akt_model_dir("akidb_modernbert_", name, cfg);
    if (o)
        write_weights(d, o);
    return d;
}

static const char *std_model(const char *name, const wopts *o)
{
    char cfg[2048];
    return make_model(name, mb_cfg(cfg, sizeof cfg, 8, 3, "10000.0", o, NULL), o);
}

/* ---- config ----------------------------------------------------------------- */

/* Loads config text cfg and expects status want with s in the message. */
static void cfg_case(const char *name, const char *cfg, akidb_status want, const char *s,
                     ak_hparams *hp)
{
    akt_cfg_case(akt_model_dir("akidb_modernbert_", name, cfg), &ak_family_modernbert, want, s,
                 hp);
}

#define MB_(extra) "{\"model_type\":\"modernbert\",\"hidden_size\":64,\"num_attention_heads\":4," \
                   "\"num_hidden_layers\":4,\"vocab_size\":500" extra "}"

AKT_TEST(config)
{
    ak_hparams hp;
    char buf[2048];
    cfg_case("c_ok", mb_cfg(buf, sizeof buf, 8, 3, "10000.0", NULL, NULL), AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.hidden, H_);
    AKT_EQ_INT(hp.n_layers, L_);
    AKT_EQ_INT(hp.n_heads, NH_);
    AKT_EQ_INT(hp.intermediate, I_);
    AKT_EQ_INT(hp.vocab, V_);
    AKT_EQ_INT(hp.max_tokens, 96);
    AKT_EQ_INT(hp.global_every, 3);
    AKT_EQ_INT(hp.window, 5);   /* |i - j| <= 8 / 2 */
    AKT_EQ_INT(hp.causal, 0);
    AKT_EQ_INT(hp.type_vocab, 0);
    AKT_EQ_INT(hp.act, AK_ACT_GELU);
    AKT_EQ_INT(hp.norm_bias + hp.attn_bias + hp.mlp_bias, 0);
    AKT_NEAR(hp.rope_theta, 160000.0, 1e-3);
    AKT_NEAR(hp.rope_theta_local, 10000.0, 1e-3);
    AKT_NEAR(hp.ln_eps, 1e-5, 1e-12);

    /* ModernBertConfig's defaults (ModernBERT-base) */
    cfg_case("c_def", "{\"model_type\":\"modernbert\"}", AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.hidden, 768);
    AKT_EQ_INT(hp.n_layers, 22);
    AKT_EQ_INT(hp.n_heads, 12);
    AKT_EQ_INT(hp.intermediate, 1152);
    AKT_EQ_INT(hp.vocab, 50368);
    AKT_EQ_INT(hp.max_tokens, 8192);
    AKT_EQ_INT(hp.window, 65);
    AKT_EQ_INT(hp.global_every, 3);
    AKT_NEAR(hp.rope_theta, 160000.0, 1e-3);
    AKT_NEAR(hp.rope_theta_local, 10000.0, 1e-3);
    AKT_NEAR(hp.ln_eps, 1e-5, 1e-12);

    /* biases, odd windows, tanh GELU, local_rope_theta null: the global base */
    cfg_case("c_var", MB_(",\"norm_bias\":true,\"attention_bias\":true,\"mlp_bias\":true,"
                          "\"local_attention\":7,\"global_rope_theta\":5e4,"
                          "\"local_rope_theta\":null,\"hidden_activation\":\"gelu_pytorch_tanh\","
                          "\"norm_eps\":1e-6,\"rope_scaling\":null"),
             AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.norm_bias + hp.attn_bias + hp.mlp_bias, 3);
    AKT_EQ_INT(hp.window, 4);
    AKT_EQ_INT(hp.act, AK_ACT_GELU_TANH);
    AKT_NEAR(hp.rope_theta_local, 5e4, 1e-3);
    AKT_NEAR(hp.ln_eps, 1e-6, 1e-12);

    /* the newer spelling: layer_types and rope_parameters */
    cfg_case("c_new", MB_(",\"global_attn_every_n_layers\":2,\"layer_types\":[\"full_attention\","
                          "\"sliding_attention\",\"full_attention\",\"sliding_attention\"],"
                          "\"rope_parameters\":{\"full_attention\":{\"rope_type\":\"default\","
                          "\"rope_theta\":123456.0},\"sliding_attention\":{\"rope_type\":"
                          "\"default\",\"rope_theta\":2000.0}},"
                          "\"rope_scaling\":{\"rope_type\":\"default\"}"),
             AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.global_every, 2);
    AKT_NEAR(hp.rope_theta, 123456.0, 1e-2);
    AKT_NEAR(hp.rope_theta_local, 2000.0, 1e-3);

    /* refused, naming what is wrong */
    cfg_case("c_heads", MB_(",\"num_attention_heads\":5"), AKIDB_EFORMAT,
             "hidden_size 64 is not a multiple of num_attention_heads 5", &hp);
    cfg_case("c_oddhd", MB_(",\"hidden_size\":36"), AKIDB_EFORMAT, "9 dims", &hp);
    cfg_case("c_hd", MB_(",\"head_dim\":32"), AKIDB_EUNSUPPORTED, "head_dim 32", &hp);
    cfg_case("c_hd_ok", MB_(",\"head_dim\":16"), AKIDB_OK, NULL, &hp);
    cfg_case("c_local0", MB_(",\"local_attention\":0"), AKIDB_EFORMAT,
             "\"local_attention\" must be an integer", &hp);
    cfg_case("c_localneg", MB_(",\"local_attention\":-128"), AKIDB_EFORMAT,
             "\"local_attention\"", &hp);
    cfg_case("c_localf", MB_(",\"local_attention\":12.5"), AKIDB_EFORMAT,
             "\"local_attention\"", &hp);
    cfg_case("c_every0", MB_(",\"global_attn_every_n_layers\":0"), AKIDB_EFORMAT,
             "\"global_attn_every_n_layers\"", &hp);
    cfg_case("c_yarn", MB_(",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0}"),
             AKIDB_EUNSUPPORTED, "rope_scaling: rope_type 'yarn'", &hp);
    cfg_case("c_linear", MB_(",\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}"),
             AKIDB_EUNSUPPORTED, "'linear'", &hp);
    cfg_case("c_rsstr", MB_(",\"rope_scaling\":\"yarn\""), AKIDB_EFORMAT,
             "\"rope_scaling\" is not an object", &hp);
    cfg_case("c_rp", MB_(",\"rope_parameters\":{\"sliding_attention\":{\"rope_type\":"
                         "\"dynamic\",\"factor\":2.0}}"),
             AKIDB_EUNSUPPORTED, "rope_parameters.sliding_attention: rope_type 'dynamic'", &hp);
    cfg_case("c_rpflat", MB_(",\"rope_parameters\":{\"rope_type\":\"default\","
                             "\"rope_theta\":1e4}"),
             AKIDB_EUNSUPPORTED, "rope_parameters: one set of parameters", &hp);
    cfg_case("c_rptheta", MB_(",\"rope_parameters\":{\"full_attention\":{\"rope_theta\":\"x\"}}"),
             AKIDB_EFORMAT, "rope_parameters.full_attention: \"rope_theta\"", &hp);
    cfg_case("c_lt", MB_(",\"layer_types\":[\"full_attention\",\"full_attention\","
                         "\"full_attention\",\"full_attention\"]"),
             AKIDB_EUNSUPPORTED, "layer_types[1] 'full_attention' disagrees", &hp);
    cfg_case("c_ltn", MB_(",\"layer_types\":[\"full_attention\",\"sliding_attention\"]"),
             AKIDB_EFORMAT, "layer_types has 2", &hp);
    cfg_case("c_act", MB_(",\"hidden_activation\":\"silu\""), AKIDB_EUNSUPPORTED,
             "hidden_activation 'silu'", &hp);
    cfg_case("c_pad", MB_(",\"pad_token_id\":500"), AKIDB_EFORMAT, "\"pad_token_id\"", &hp);
    cfg_case("c_eps", MB_(",\"norm_eps\":-1"), AKIDB_EFORMAT, "\"norm_eps\"", &hp);
    cfg_case("c_bias", MB_(",\"norm_bias\":\"yes\""), AKIDB_EFORMAT,
             "\"norm_bias\" is not a boolean", &hp);
    cfg_case("c_theta", MB_(",\"local_rope_theta\":0"), AKIDB_EFORMAT,
             "\"local_rope_theta\"", &hp);

    /* no model_type: architectures decide */
    cfg_case("c_arch", "{\"architectures\":[\"ModernBertForMaskedLM\"],\"hidden_size\":32,"
             "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"intermediate_size\":48,"
             "\"vocab_size\":300}", AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.hidden, 32);
    cfg_case("c_decoder", "{\"model_type\":\"modernbert-decoder\"}", AKIDB_EUNSUPPORTED,
             "modernbert", &hp);
}

/* ---- tensors and forward -------------------------------------------------------- */

enum { NSEQ = AKT_NSEQ };
static const int32_t seq_a[] = { 297, 17, 42, 99, 298 }, seq_b[] = { 298 },
                     seq_c[] = { 297, 17, 200, 299, 5, 6, 298 };
static int32_t seq_long[64];

/* The fixed sequences: a, b, c, then 64 and 33 ids of seq_long. */
static akt_seqs fixed(void)
{
    return akt_seqs_init(seq_a, 5, seq_b, 1, seq_c, 7, seq_long, 64, 0, V_);
}

static void embed_fixed(const akidb_model *m, int nt, int one_by_one, float *out)
{
    akt_seqs q = fixed();
    akt_embed_ids(m, NSEQ, q.ids, q.lens, H_, nt, one_by_one, out);
}

AKT_TEST(tensors)
{
    wopts o = { 0 };
    akidb_model *ref = akt_load_ids(std_model("t_plain", &o), NULL);
    akidb_model_info info;
    akidb_model_get_info(ref, &info);
    AKT_EQ_STR(info.weights_dtype, "F32");
    AKT_EQ_INT(info.dim, H_);
    AKT_EQ_INT(info.n_heads, NH_);
    AKT_EQ_INT(info.n_layers, L_);
    AKT_EQ_INT(info.max_tokens, 96);
    float r[NSEQ * H_], x[NSEQ * H_];
    embed_fixed(ref, 1, 0, r);
    for (int i = 0; i < NSEQ * H_; i++)
        AKT_TRUE(isfinite(r[i]));
    const wopts v[] = { { .prefix = "model." }, { .dt = 1 }, { .dt = 2 },
                        { .dt = 1, .prefix = "model." } };
    static const char *names[] = { "F32", "BF16", "F16", "BF16" };
    akt_seqs q = fixed();
    for (int i = 0; i < 4; i++)
        akt_expect_same(std_model("t_var", &v[i]), names[i], r, NSEQ, q.ids, q.lens, H_, "variant");
    /* each bias flag reads its tensors, and they change the output */
    const wopts bv[] = { { .norm_bias = 1 }, { .attn_bias = 1 }, { .mlp_bias = 1 },
                         { .norm_bias = 1, .attn_bias = 1, .mlp_bias = 1, .prefix = "model." } };
    for (int i = 0; i < 4; i++) {
        akidb_model *m = akt_load_ids(std_model("t_bias", &bv[i]), NULL);
        embed_fixed(m, 1, 0, x);
        if (akt_max_abs_diff(r, x, NSEQ * H_) < 1e-3)
            AKT_FAIL_("bias variant %d equals the bias-free model", i);
        akidb_model_free(m);
    }
    akidb_model_free(ref);
    /* a bias flag without its tensors: named */
    wopts nb = { .prefix = "model." };
    char cfg[2048];
    wopts flags = { .norm_bias = 1 };
    const char *d = make_model("t_nobias", mb_cfg(cfg, sizeof cfg, 8, 3, "1e4", &flags, NULL), &nb);
    akt_expect_fail(d, AKIDB_EFORMAT, "'embeddings.norm.bias'", "also tried 'model.");
    static const char *miss[] = { "layers.1.attn_norm.weight", "embeddings.tok_embeddings.weight",
                                  "final_norm.weight", "layers.2.mlp.Wi.weight",
                                  "layers.0.attn.Wqkv.weight", "embeddings.norm.weight" };
    for (int i = 0; i < 6; i++) {
        wopts w = { .prefix = "model.", .skip = miss[i] };
        akt_expect_fail(std_model("t_miss", &w), AKIDB_EFORMAT, miss[i], "also tried 'model.");
    }
    static const char *bad[] = { "layers.0.attn.Wqkv.weight", "embeddings.tok_embeddings.weight",
                                 "layers.1.mlp.Wi.weight", "layers.2.mlp_norm.weight",
                                 "layers.1.attn.Wo.bias" };
    for (int i = 0; i < 5; i++) {
        wopts w = { .bad = bad[i], .attn_bias = 1 };
        akt_expect_fail(std_model("t_shape", &w), AKIDB_EDIM, bad[i], "but config.json implies");
    }
}

/* The fixed texts' embeddings of the F32 model with config (local, every,
 * theta_l), on nt threads. */
static void embed_cfg(size_t local, int every, const char *theta_l, float *out)
{
    char cfg[2048];
    wopts o = { 0 };
    akidb_model *m = akt_load_ids(make_model("f_cfg", mb_cfg(cfg, sizeof cfg, local, every, theta_l,
                                                             &o, NULL), &o), NULL);
    embed_fixed(m, 2, 0, out);
    akidb_model_free(m);
}

AKT_TEST(forward)
{
    wopts o = { .dt = 1, .norm_bias = 1, .attn_bias = 1, .mlp_bias = 1 };
    akidb_model *m = akt_load_ids(std_model("f_bf", &o), NULL);
    float a[NSEQ * H_], b[NSEQ * H_];
    embed_fixed(m, 1, 0, a);
    static const int nts[] = { 2, 3 };
    for (int k = 0; k < 2; k++) {
        embed_fixed(m, nts[k], 0, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
        embed_fixed(m, nts[k], 1, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    }
    /* ids outside the vocabulary, length past max_position_embeddings */
    static int32_t longer[97];
    const int32_t *ids[1] = { longer };
    size_t lens[1] = { 97 };
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "96");
    longer[3] = V_;
    lens[0] = 5;
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_EDIM);
    akidb_model_free(m);

    /* the window: local layers with a window wider than every text (and the
     * global base) are global layers; a narrow window changes the long texts
     * only (the 1- and 5-token ones fit in it); the local base counts */
    float g[NSEQ * H_], w[NSEQ * H_], n[NSEQ * H_], t[NSEQ * H_];
    embed_cfg(8, 1, "160000.0", g);      /* every layer global */
    embed_cfg(200, 3, "160000.0", w);    /* windows of +-100 */
    AKT_EQ_INT(memcmp(g, w, sizeof g), 0);
    embed_cfg(8, 3, "160000.0", n);      /* windows of +-4 */
    AKT_EQ_INT(memcmp(g, n, 2 * H_ * sizeof(float)), 0);
    AKT_GE(akt_max_abs_diff(g + 3 * H_, n + 3 * H_, 2 * H_), 1e-3);
    embed_cfg(200, 3, "10000.0", t);     /* only the local base differs */
    AKT_GE(akt_max_abs_diff(g + 3 * H_, t + 3 * H_, 2 * H_), 1e-4);
    AKT_EQ_INT(memcmp(g + H_, t + H_, H_ * sizeof(float)), 0);   /* 1 token: no rotation */
    embed_cfg(200, 3, "null", t);        /* null: the global base */
    AKT_EQ_INT(memcmp(g, t, sizeof g), 0);
}

AKT_TEST(reduced)
{
    wopts o = { .dt = 1, .attn_bias = 1 };
    akt_seqs q = fixed();
    akt_reduced(std_model("q_bf", &o), "ModernBERT", NSEQ, q.ids, q.lens, H_);
}

AKT_TEST(out_of_memory)
{
    wopts o = { .dt = 1, .norm_bias = 1, .mlp_bias = 1 };   /* converted copies */
    akt_seqs q = fixed();
    akt_oom_load_embed(std_model("m_bf", &o), NULL, NSEQ, q.ids, q.lens, H_);
}

AKT_MAIN(AKT_REG(config), AKT_REG(tensors), AKT_REG(forward), AKT_REG(reduced),
         AKT_REG(out_of_memory))
