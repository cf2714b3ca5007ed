/*
 * test_rotenc.c - the rotary post-norm encoders (rotenc.c): GTE v1.5 / mGTE
 * (fam_gte.c, model_type "new") and NomicBERT (fam_nomic.c, "nomic_bert").
 *
 * Without Python (small models written here):
 *   config        each family's fields, defaults and derived sizes (NTK
 *                 factor, NomicBERT's MLP width rounded up to 256, vocab
 *                 padded to pad_vocab_size_multiple, the rotated part of a
 *                 head, biases); refused with the field named: heads that
 *                 do not divide, rope_scaling types other than ntk, a factor
 *                 below 1, mixed_b, absolute positions, RMSNorm, separate
 *                 q / k / v, logn scaling; prenorm, interleaved rotation,
 *                 dynamic NTK, a zero or odd rotary fraction, other
 *                 activations, grouped heads, mixture of experts; lookup by
 *                 architectures
 *   tensors       with and without "new." / "bert.", F32 = BF16 = F16
 *                 stored, missing and misshapen tensors named, a bias the
 *                 config announces but the file lacks named
 *   forward       thread counts and grouping bit-identical; positions
 *                 matter (RoPE), texts past max_position_embeddings refused
 *   reduced       bf16 / int8 compute on every kernel path vs f32
 *   out_of_memory every allocation of a load + embed failing once
 * The float64 PyTorch references (tests/ref/make_rotenc.py) run through
 * test_families' families_ref checker: ctest test_rotenc_ref.
 */
#include "akt_model.h"

#include <jansson.h>

enum { H_ = 32, NH_ = 2, GI_ = 48, NI_ = 256, L_ = 2, V_ = 30528, P_ = 64 };

/* ---- small models written here ---------------------------------------------- */

typedef struct wopts {
    int fam;              /* 'g' GTE, 'n' NomicBERT */
    int dt;               /* 0 F32, 1 BF16, 2 F16 */
    int types;            /* rows of the token-type table (0: none) */
    int biases;           /* NomicBERT: write Wqkv / out_proj / fc11 / fc12 / fc2 biases */
    const char *prefix;   /* Hub prefix of every name, or NULL */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor with one row too many */
} wopts;

static size_t list_tensors(const wopts *o, akt_tensor *t)
{
    size_t n = 0;
#define T_(a, b, ...) AKT_TENSOR(t, n, a, b, __VA_ARGS__)
    T_(V_, H_, "embeddings.word_embeddings.weight");
    if (o->types)
        T_((size_t)o->types, H_, "embeddings.token_type_embeddings.weight");
    if (o->fam == 'g') {
        T_(H_, 0, "embeddings.LayerNorm.weight");
        T_(H_, 0, "embeddings.LayerNorm.bias");
        for (int l = 0; l < L_; l++) {
            T_(3 * H_, H_, "encoder.layer.%d.attention.qkv_proj.weight", l);
            T_(3 * H_, 0, "encoder.layer.%d.attention.qkv_proj.bias", l);
            T_(H_, H_, "encoder.layer.%d.attention.o_proj.weight", l);
            T_(H_, 0, "encoder.layer.%d.attention.o_proj.bias", l);
            T_(H_, 0, "encoder.layer.%d.attn_ln.weight", l);
            T_(H_, 0, "encoder.layer.%d.attn_ln.bias", l);
            T_(2 * GI_, H_, "encoder.layer.%d.mlp.up_gate_proj.weight", l);
            T_(H_, GI_, "encoder.layer.%d.mlp.down_proj.weight", l);
            T_(H_, 0, "encoder.layer.%d.mlp.down_proj.bias", l);
            T_(H_, 0, "encoder.layer.%d.mlp_ln.weight", l);
            T_(H_, 0, "encoder.layer.%d.mlp_ln.bias", l);
        }
    } else {
        T_(H_, 0, "emb_ln.weight");
        T_(H_, 0, "emb_ln.bias");
        for (int l = 0; l < L_; l++) {
            T_(3 * H_, H_, "encoder.layers.%d.attn.Wqkv.weight", l);
            T_(H_, H_, "encoder.layers.%d.attn.out_proj.weight", l);
            T_(H_, 0, "encoder.layers.%d.norm1.weight", l);
            T_(H_, 0, "encoder.layers.%d.norm1.bias", l);
            T_(NI_, H_, "encoder.layers.%d.mlp.fc11.weight", l);
            T_(NI_, H_, "encoder.layers.%d.mlp.fc12.weight", l);
            T_(H_, NI_, "encoder.layers.%d.mlp.fc2.weight", l);
            T_(H_, 0, "encoder.layers.%d.norm2.weight", l);
            T_(H_, 0, "encoder.layers.%d.norm2.bias", l);
            if (o->biases) {
                T_(3 * H_, 0, "encoder.layers.%d.attn.Wqkv.bias", l);
                T_(H_, 0, "encoder.layers.%d.attn.out_proj.bias", l);
                T_(NI_, 0, "encoder.layers.%d.mlp.fc11.bias", l);
                T_(NI_, 0, "encoder.layers.%d.mlp.fc12.bias", l);
                T_(H_, 0, "encoder.layers.%d.mlp.fc2.bias", l);
            }
        }
    }
#undef T_
    return n;
}

/* Deterministic value k of tensor t, exact in bf16 and in f16. */
static float value(const akt_tensor *t, size_t ti, size_t k, const void *ctx)
{
    (void)ctx;
    float u = akt_unit(ti, k), v;
    if (!t->d1)
        v = (strstr(t->name, "ln") || strstr(t->name, "norm") || strstr(t->name, "LayerNorm")) &&
                    strstr(t->name, "weight")
                ? 1.0f + 0.25f * u
                : 0.25f * u;
    else if (strstr(t->name, "embeddings"))
        v = u;
    else
        v = u * (float)(1.7 / sqrt((double)t->d1));
    return akt_grid128(v);
}

static void write_weights(const char *dir, const wopts *o)
{
    static akt_tensor t[128];
    akt_wopts w = { .dt = o->dt, .prefix = o->prefix, .skip = o->skip, .bad = o->bad };
    akt_write_weights(dir, t, list_tensors(o, t), &w, value, NULL);
}

/* gte-base-en-v1.5's config at small dims (no token types, NTK factor 2). */
static const char *gbase =
    "{\"model_type\":\"new\",\"architectures\":[\"NewModel\"],\"hidden_size\":32,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":48,"
    "\"vocab_size\":30528,\"max_position_embeddings\":64,\"type_vocab_size\":0,"
    "\"layer_norm_eps\":1e-12,\"hidden_act\":\"gelu\",\"layer_norm_type\":\"layer_norm\","
    "\"position_embedding_type\":\"rope\",\"rope_theta\":500000,\"pack_qkv\":true,"
    "\"unpad_inputs\":true,\"use_memory_efficient_attention\":true,"
    "\"logn_attention_scale\":false,\"logn_attention_clip1\":false,"
    "\"rope_scaling\":{\"factor\":2.0,\"type\":\"ntk\"}}";

/* nomic-embed-text-v1.5's config at small dims (no biases, swiglu, whole
 * heads rotated). */
static const char *nbase =
    "{\"model_type\":\"nomic_bert\",\"architectures\":[\"NomicBertModel\"],"
    "\"n_embd\":32,\"n_layer\":2,\"n_head\":2,\"n_inner\":200,\"n_positions\":64,"
    "\"vocab_size\":30528,\"pad_vocab_size_multiple\":64,\"type_vocab_size\":2,"
    "\"layer_norm_epsilon\":1e-12,\"activation_function\":\"swiglu\","
    "\"rotary_emb_fraction\":1.0,\"rotary_emb_base\":1000,"
    "\"rotary_emb_interleaved\":false,\"rotary_emb_scale_base\":null,"
    "\"rotary_scaling_factor\":null,\"max_trained_positions\":2048,\"prenorm\":false,"
    "\"causal\":false,\"qkv_proj_bias\":false,\"mlp_fc1_bias\":false,"
    "\"mlp_fc2_bias\":false}";

/* base with the members of over set (the string "-": removed), as JSON text. */
static const char *cfgx(const char *base, const char *over)
{
    static char bufs[4][4096];
    static int slot;
    json_error_t err;
    json_t *b = json_loads(base, 0, &err), *o = json_loads(over, 0, &err);
    if (!b || !o)
        AKT_FAIL_("bad test JSON: %s", err.text);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), "-") == 0)
            json_object_del(b, k);
        else
            json_object_set(b, k, v);
    }
    char *t = json_dumps(b, JSON_COMPACT);
    char *d = bufs[slot++ % 4];
    snprintf(d, sizeof bufs[0], "%s", t);
    free(t);
    json_decref(b);
    json_decref(o);
    return d;
}
#define G(over) cfgx(gbase, over)
#define N(over) cfgx(nbase, over)
/* NomicBertConfig's biases (all true) */
#define NDEFB "\"qkv_proj_bias\":\"-\",\"mlp_fc1_bias\":\"-\",\"mlp_fc2_bias\":\"-\""

/* Makes tmp/<name> with config text cfg and, if o, weights. */
static const char *make_model(const char *name, const char *cfg, const wopts *o)
{
    const char *d = akt_model_dir("akidb_rotenc_", name, cfg);
    if (o)
        write_weights(d, o);
    return d;
}

/* ---- config ----------------------------------------------------------------- */

/* Loads config text cfg and expects status want (and family fam when OK)
 * with s in the message. */
static void cfg_case(const char *name, const char *cfg, akidb_status want, const char *s,
                     const ak_family *fam, ak_hparams *hp)
{
    akt_cfg_case(akt_model_dir("akidb_rotenc_", name, cfg), fam, want, s, hp);
}

AKT_TEST(config)
{
    const ak_family *FG = &ak_family_gte, *FN = &ak_family_nomic;
    ak_hparams hp;
    cfg_case("g_ok", G("{}"), AKIDB_OK, NULL, FG, &hp);
    AKT_EQ_INT(hp.hidden, 32);
    AKT_EQ_INT(hp.n_heads, 2);
    AKT_EQ_INT(hp.intermediate, 48);
    AKT_EQ_INT(hp.type_vocab, 0);
    AKT_EQ_INT(hp.max_tokens, 64);
    AKT_EQ_INT(hp.act, AK_ACT_GELU);
    AKT_EQ_INT(hp.rope_dim, 0);
    AKT_NEAR(hp.rope_theta, 5e5, 1e-3);
    AKT_NEAR(hp.rope_ntk, 2.0, 1e-9);
    AKT_EQ_INT(hp.attn_bias, 1);
    AKT_EQ_INT(hp.mlp_up_bias, 0);
    AKT_EQ_INT(hp.mlp_down_bias, 1);
    /* NewConfig's defaults; factor 1 scales nothing */
    cfg_case("g_def", "{\"model_type\":\"new\"}", AKIDB_OK, NULL, FG, &hp);
    AKT_EQ_INT(hp.hidden, 768);
    AKT_EQ_INT(hp.n_layers, 12);
    AKT_EQ_INT(hp.intermediate, 3072);
    AKT_EQ_INT(hp.vocab, 30528);
    AKT_EQ_INT(hp.type_vocab, 1);
    AKT_EQ_INT(hp.max_tokens, 2048);
    AKT_NEAR(hp.rope_theta, 1e4, 1e-3);
    AKT_NEAR(hp.ln_eps, 1e-12, 1e-18);
    AKT_NEAR(hp.rope_ntk, 0.0, 0.0);
    cfg_case("g_f1", G("{\"rope_scaling\":{\"type\":\"ntk\",\"factor\":1.0}}"), AKIDB_OK,
             NULL, FG, &hp);
    AKT_NEAR(hp.rope_ntk, 0.0, 0.0);
    cfg_case("g_arch", "{\"architectures\":[\"NewForMaskedLM\"],\"hidden_size\":32,"
             "\"num_attention_heads\":2}", AKIDB_OK, NULL, FG, &hp);

    cfg_case("g_heads", G("{\"hidden_size\":33}"), AKIDB_EFORMAT,
             "hidden_size 33 is not a multiple of num_attention_heads 2", NULL, &hp);
    cfg_case("g_odd", "{\"model_type\":\"new\",\"hidden_size\":30,\"num_attention_heads\":2}",
             AKIDB_EFORMAT, "head width 15", NULL, &hp);
    cfg_case("g_linear", G("{\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}}"),
             AKIDB_EUNSUPPORTED, "type 'linear' is not supported", NULL, &hp);
    cfg_case("g_dyn", G("{\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0}}"),
             AKIDB_EUNSUPPORTED, "rope_scaling: type 'dynamic'", NULL, &hp);
    cfg_case("g_notype", G("{\"rope_scaling\":{\"factor\":2.0}}"), AKIDB_EFORMAT,
             "rope_scaling: no \"type\"", NULL, &hp);
    cfg_case("g_nofactor", G("{\"rope_scaling\":{\"type\":\"ntk\"}}"), AKIDB_EFORMAT,
             "rope_scaling: no \"factor\"", NULL, &hp);
    cfg_case("g_small", G("{\"rope_scaling\":{\"type\":\"ntk\",\"factor\":0.5}}"),
             AKIDB_EUNSUPPORTED, "factor 0.5 below 1", NULL, &hp);
    cfg_case("g_mixed", G("{\"rope_scaling\":{\"type\":\"ntk\",\"factor\":4,\"mixed_b\":0.6}}"),
             AKIDB_EUNSUPPORTED, "mixed_b", NULL, &hp);
    cfg_case("g_rsstr", G("{\"rope_scaling\":\"ntk\"}"), AKIDB_EFORMAT,
             "\"rope_scaling\" is not an object", NULL, &hp);
    cfg_case("g_abs", G("{\"position_embedding_type\":\"absolute\"}"), AKIDB_EUNSUPPORTED,
             "position_embedding_type 'absolute'", NULL, &hp);
    cfg_case("g_rms", G("{\"layer_norm_type\":\"rms_norm\"}"), AKIDB_EUNSUPPORTED,
             "layer_norm_type 'rms_norm'", NULL, &hp);
    cfg_case("g_pack", G("{\"pack_qkv\":false}"), AKIDB_EUNSUPPORTED, "pack_qkv false",
             NULL, &hp);
    cfg_case("g_logn", G("{\"logn_attention_scale\":true}"), AKIDB_EUNSUPPORTED,
             "logn_attention_scale", NULL, &hp);
    cfg_case("g_act", G("{\"hidden_act\":\"silu\"}"), AKIDB_EUNSUPPORTED,
             "hidden_act 'silu'", NULL, &hp);

    cfg_case("n_ok", N("{}"), AKIDB_OK, NULL, FN, &hp);
    AKT_EQ_INT(hp.hidden, 32);
    AKT_EQ_INT(hp.n_heads, 2);
    AKT_EQ_INT(hp.intermediate, 256);   /* 200 rounded up to 256 */
    AKT_EQ_INT(hp.vocab, 30528);
    AKT_EQ_INT(hp.type_vocab, 2);
    AKT_EQ_INT(hp.max_tokens, 64);
    AKT_EQ_INT(hp.act, AK_ACT_SILU);
    AKT_EQ_INT(hp.rope_dim, 16);
    AKT_NEAR(hp.rope_theta, 1000.0, 1e-6);
    AKT_NEAR(hp.rope_ntk, 0.0, 0.0);
    AKT_EQ_INT(hp.attn_bias, 0);
    AKT_EQ_INT(hp.mlp_up_bias, 0);
    AKT_EQ_INT(hp.mlp_down_bias, 0);
    /* half the head rotated, geglu, n_inner from 8 n_embd / 3, vocab padded,
     * NomicBertConfig's biases */
    cfg_case("n_part", N("{\"rotary_emb_fraction\":0.5,\"activation_function\":\"geglu\","
                         "\"n_inner\":null,\"vocab_size\":30522,\"n_embd\":96," NDEFB "}"),
             AKIDB_OK, NULL, FN, &hp);
    AKT_EQ_INT(hp.rope_dim, 24);
    AKT_EQ_INT(hp.act, AK_ACT_GELU);
    AKT_EQ_INT(hp.intermediate, 256);
    AKT_EQ_INT(hp.vocab, 30528);
    AKT_EQ_INT(hp.attn_bias, 1);
    AKT_EQ_INT(hp.mlp_up_bias, 1);
    AKT_EQ_INT(hp.mlp_down_bias, 1);
    /* rotary_scaling_factor: absent means 1.0, harmless within
     * max_trained_positions */
    cfg_case("n_rsf_in", "{\"model_type\":\"nomic_bert\",\"n_embd\":32,\"n_head\":2,"
             "\"rotary_emb_fraction\":1,\"activation_function\":\"swiglu\","
             "\"n_positions\":2048}", AKIDB_OK, NULL, FN, &hp);
    AKT_EQ_INT(hp.max_tokens, 2048);
    AKT_EQ_INT(hp.vocab, 50257);   /* GPT2Config's */
    AKT_NEAR(hp.ln_eps, 1e-5, 1e-12);
    cfg_case("n_arch", "{\"architectures\":[\"NomicBertForPreTraining\"],\"n_embd\":32,"
             "\"n_head\":2,\"rotary_emb_fraction\":1,\"activation_function\":\"swiglu\","
             "\"n_positions\":512}", AKIDB_OK, NULL, FN, &hp);

    cfg_case("n_heads", N("{\"n_head\":3}"), AKIDB_EFORMAT,
             "n_embd 32 is not a multiple of n_head 3", NULL, &hp);
    cfg_case("n_rsf", N("{\"rotary_scaling_factor\":2,\"n_positions\":8192}"),
             AKIDB_EUNSUPPORTED, "rotary_scaling_factor 2", NULL, &hp);
    cfg_case("n_rsf_abs", "{\"model_type\":\"nomic_bert\",\"n_embd\":32,\"n_head\":2,"
             "\"rotary_emb_fraction\":1,\"activation_function\":\"swiglu\","
             "\"n_positions\":8192}", AKIDB_EUNSUPPORTED, "rotary_scaling_factor 1", NULL,
             &hp);
    cfg_case("n_prenorm", N("{\"prenorm\":true}"), AKIDB_EUNSUPPORTED,
             "prenorm true", NULL, &hp);
    cfg_case("n_inter", N("{\"rotary_emb_interleaved\":true}"), AKIDB_EUNSUPPORTED,
             "rotary_emb_interleaved true", NULL, &hp);
    cfg_case("n_frac0", N("{\"rotary_emb_fraction\":\"-\"}"), AKIDB_EUNSUPPORTED,
             "rotary_emb_fraction 0", NULL, &hp);
    cfg_case("n_frac3", N("{\"rotary_emb_fraction\":0.3}"), AKIDB_EFORMAT,
             "rotary_emb_fraction 0.3", NULL, &hp);
    cfg_case("n_scale", N("{\"rotary_emb_scale_base\":512}"), AKIDB_EUNSUPPORTED,
             "rotary_emb_scale_base", NULL, &hp);
    cfg_case("n_act", N("{\"activation_function\":\"gelu\"}"), AKIDB_EUNSUPPORTED,
             "activation_function 'gelu'", NULL, &hp);
    cfg_case("n_glu", N("{\"activation_function\":\"glu\"}"), AKIDB_EUNSUPPORTED,
             "activation_function 'glu'", NULL, &hp);
    cfg_case("n_kv", N("{\"num_heads_kv\":1}"), AKIDB_EUNSUPPORTED, "num_heads_kv 1",
             NULL, &hp);
    cfg_case("n_moe", N("{\"moe_every_n_layers\":2,\"num_experts\":8}"),
             AKIDB_EUNSUPPORTED, "moe_every_n_layers 2", NULL, &hp);
    cfg_case("n_normmlp", N("{\"norm_mlp\":true}"), AKIDB_EUNSUPPORTED, "norm_mlp",
             NULL, &hp);
    cfg_case("n_headbug", N("{\"rotary_head_dim\":true}"), AKIDB_EUNSUPPORTED,
             "rotary_head_dim", NULL, &hp);

    /* the table lists both */
    AKT_TRUE(ak_family_find("new") == FG);
    AKT_TRUE(ak_family_find("nomic_bert") == FN);
    AKT_CONTAINS(ak_family_supported(), "new");
    AKT_CONTAINS(ak_family_supported(), "nomic_bert");
}

/* ---- tensors and forward -------------------------------------------------------- */

enum { NSEQ = AKT_NSEQ };
static const int32_t seq_a[] = { 101, 7592, 2088, 999, 102 }, seq_b[] = { 102 },
                     seq_c[] = { 3000, 17, 4000, 30521, 5, 6, 102 };
static int32_t seq_long[P_];

/* The fixed sequences: a, b, c, then P_ and 33 ids of seq_long. */
static akt_seqs fixed(void)
{
    return akt_seqs_init(seq_a, 5, seq_b, 1, seq_c, 7, seq_long, P_, 0, V_);
}

static void embed_fixed(const akidb_model *m, int nt, int one_by_one, float *out)
{
    akt_seqs q = fixed();
    akt_embed_ids(m, NSEQ, q.ids, q.lens, H_, nt, one_by_one, out);
}

/* The model of family fam ('g', 'n') in the variants o, then o's missing
 * and misshapen tensors. */
static void tensors_of(int fam, const char *cfg, const char *prefix, int biases)
{
    wopts o = { .fam = fam, .types = fam == 'n' ? 2 : 0, .biases = biases };
    akidb_model *ref = akt_load_ids(make_model("t_plain", cfg, &o), NULL);
    akidb_model_info info;
    akidb_model_get_info(ref, &info);
    AKT_EQ_STR(info.weights_dtype, "F32");
    AKT_EQ_INT(info.dim, H_);
    AKT_EQ_INT(info.n_heads, NH_);
    AKT_EQ_INT(info.intermediate, fam == 'g' ? GI_ : NI_);
    float r[NSEQ * H_];
    embed_fixed(ref, 1, 0, r);
    for (int i = 0; i < NSEQ * H_; i++)
        AKT_TRUE(isfinite(r[i]));
    akt_seqs q = fixed();
    static const char *names[] = { "F32", "BF16", "F16", "BF16" };
    for (int i = 0; i < 4; i++) {
        wopts v = o;
        v.dt = i == 3 ? 1 : i;
        v.prefix = i == 0 || i == 3 ? prefix : NULL;
        akt_expect_same(make_model("t_var", cfg, &v), names[i], r, NSEQ, q.ids, q.lens, H_,
                        fam == 'g' ? "GTE variant" : "NomicBERT variant");
    }
    akidb_model_free(ref);
}

static void missing(int fam, const char *cfg, const char *prefix, int biases, const char *name,
                    akidb_status want, const char *s2)
{
    wopts o = { .fam = fam, .types = fam == 'n' ? 2 : 0, .biases = biases, .prefix = prefix,
                .skip = want == AKIDB_EFORMAT ? name : NULL,
                .bad = want == AKIDB_EDIM ? name : NULL };
    akt_expect_fail(make_model("t_bad", cfg, &o), want, name, s2);
}

AKT_TEST(tensors)
{
    tensors_of('g', G("{}"), "new.", 0);
    tensors_of('n', N("{}"), "bert.", 0);
    tensors_of('n', N("{\"rotary_emb_fraction\":0.5," NDEFB "}"), "bert.", 1);

    static const char *gmiss[] = { "encoder.layer.1.mlp.up_gate_proj.weight",
                                   "embeddings.word_embeddings.weight",
                                   "encoder.layer.0.attention.qkv_proj.bias",
                                   "encoder.layer.0.mlp_ln.bias", "embeddings.LayerNorm.weight" };
    for (int i = 0; i < 5; i++)
        missing('g', G("{}"), "new.", 0, gmiss[i], AKIDB_EFORMAT, "also tried 'new.");
    static const char *nmiss[] = { "encoder.layers.1.mlp.fc12.weight", "emb_ln.bias",
                                   "embeddings.token_type_embeddings.weight",
                                   "encoder.layers.0.attn.out_proj.weight" };
    for (int i = 0; i < 4; i++)
        missing('n', N("{}"), "bert.", 0, nmiss[i], AKIDB_EFORMAT,
                "also tried 'bert.");
    /* biases the config announces (NomicBertConfig's defaults) must be there */
    wopts nb = { .fam = 'n', .types = 2, .biases = 0 };
    akt_expect_fail(make_model("t_nobias", N("{" NDEFB "}"), &nb), AKIDB_EFORMAT,
                    "encoder.layers.0.attn.Wqkv.bias", NULL);
    missing('n', N("{" NDEFB "}"), NULL, 1, "encoder.layers.1.mlp.fc2.bias", AKIDB_EFORMAT,
            NULL);

    static const char *gbad[] = { "encoder.layer.0.mlp.up_gate_proj.weight",
                                  "encoder.layer.1.attention.qkv_proj.weight",
                                  "encoder.layer.1.mlp.down_proj.bias" };
    for (int i = 0; i < 3; i++)
        missing('g', G("{}"), NULL, 0, gbad[i], AKIDB_EDIM, "but config.json implies");
    static const char *nbad[] = { "encoder.layers.0.mlp.fc11.weight",
                                  "embeddings.word_embeddings.weight",
                                  "encoder.layers.1.attn.Wqkv.bias" };
    for (int i = 0; i < 3; i++)
        missing('n', N("{" NDEFB "}"), NULL, 1, nbad[i], AKIDB_EDIM, "but config.json implies");
}

/* Thread counts and grouping give the same bits; swapping two tokens moves
 * the others' states (positions are rotated in); past max_tokens refused. */
static void forward_of(int fam, const char *cfg)
{
    wopts o = { .fam = fam, .dt = 1, .types = fam == 'n' ? 2 : 0, .biases = 1 };
    akidb_model *m = akt_load_ids(make_model("f_bf", cfg, &o), NULL);
    float a[NSEQ * H_], b[NSEQ * H_];
    embed_fixed(m, 1, 0, a);
    static const int nts[] = { 2, 3 };
    for (int k = 0; k < 2; k++) {
        embed_fixed(m, nts[k], 0, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
        embed_fixed(m, nts[k], 1, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    }
    ak_arena ar;
    ak_arena_init(&ar, 0);
    float *h1, *h2;
    int32_t sw[7];
    memcpy(sw, seq_c, sizeof sw);
    sw[1] = seq_c[2];
    sw[2] = seq_c[1];
    AKT_OK(ak_model_forward(m, seq_c, 7, &ar, &h1));
    AKT_OK(ak_model_forward(m, sw, 7, &ar, &h2));
    double d = akt_max_abs_diff(h1, h2, H_);   /* token 0 sees the same tokens */
    AKT_GE(d, 1e-3);
    ak_arena_free(&ar);
    static int32_t longer[P_ + 1];
    const int32_t *ids[1] = { longer };
    size_t lens[1] = { P_ + 1 };
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_ETOOLONG);
    longer[3] = V_;
    lens[0] = 5;
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_EDIM);
    akidb_model_free(m);
}

AKT_TEST(forward)
{
    forward_of('g', G("{}"));
    forward_of('n', N("{\"rotary_emb_fraction\":0.5," NDEFB "}"));
}

static void reduced_of(int fam, const char *cfg)
{
    wopts o = { .fam = fam, .dt = 1, .types = fam == 'n' ? 2 : 0, .biases = 1 };
    akt_seqs q = fixed();
    akt_reduced(make_model("q_bf", cfg, &o), fam == 'g' ? "GTE" : "NomicBERT", NSEQ, q.ids, q.lens,
                H_);
}

AKT_TEST(reduced)
{
    reduced_of('g', G("{}"));
    reduced_of('n', N("{\"rotary_emb_fraction\":0.5," NDEFB "}"));
}

static void oom_of(int fam, const char *cfg)
{
    wopts o = { .fam = fam, .dt = 1, .types = fam == 'n' ? 2 : 0, .biases = 1 };
    akt_seqs q = fixed();
    akt_oom_load_embed(make_model("m_bf", cfg, &o), fam == 'g' ? "g" : "n", NSEQ, q.ids, q.lens,
                       H_);
}

AKT_TEST(out_of_memory)
{
    oom_of('g', G("{}"));
    oom_of('n', N("{\"rotary_emb_fraction\":0.5," NDEFB "}"));
}

AKT_MAIN(AKT_REG(config), AKT_REG(tensors), AKT_REG(forward), AKT_REG(reduced),
         AKT_REG(out_of_memory))
