/*
 * test_gemma3.c - the Gemma 3 text family (fam_gemma3.c on decoder.c):
 * EmbeddingGemma's configuration, tensors and attention masks.
 *
 * Without Python (small models written here):
 *   config        Gemma3TextConfig's fields and defaults; the bidirectional
 *                 window (sliding_window / 2 + 1) and the causal one; local
 *                 layers from layer_types or sliding_window_pattern; the
 *                 attention scale; rope_parameters' bases.  Refused, named:
 *                 heads that do not divide, a missing num_key_value_heads,
 *                 a bad sliding_window, bad layer_types, attn_logit_softcapping,
 *                 attention_bias, rope types other than default, odd head_dim
 *   tensors       with and without "model.", F32 = BF16 = F16 stored (hidden
 *                 64: sqrt 8 is exact in every dtype), missing and
 *                 misshapen tensors named
 *   forward       thread counts and grouping bit-identical; the windows,
 *                 bit for bit: bidirectional, a token's state does not move
 *                 when a token past the reach of the local layers changes,
 *                 and does at the edge of it, on both sides; causal, the
 *                 state of token i is the last one of its prefix and the
 *                 window cuts the past
 *   reduced       bf16 / int8 compute on every kernel path vs f32
 *   out_of_memory every allocation of a load + embed failing once
 * With the reference models of tests/ref/make_gemma3.py (ctest fixture
 * gemma3_ref_models; AKIDB_GEMMA3_MODELS, default $AKIDB_BUILD/ref_gemma3):
 *   text_ref      gemma3_text, the real Gemma 3 tokenizer with
 *                 EmbeddingGemma's <bos> $A <eos> template: every text of
 *                 tests/data/tok_multilingual.txt through akidb_embed against
 *                 the float64 PyTorch reference on every kernel path
 *                 (cosine >= 0.99999, max |diff| <= 1e-4).
 * (The id-level references of the same script run in test_families'
 * families_ref, test gemma3_ref.)
 */
#include "akt_textref.h"

enum { H_ = 64, NQ_ = 4, NKV_ = 2, HD_ = 16, I_ = 96, L_ = 2, V_ = 1000 };

/* ---- small models written here ---------------------------------------------- */


static size_t list_tensors(akt_tensor *t)
{
    static const char *norms[] = { "input_layernorm", "post_attention_layernorm",
                                   "pre_feedforward_layernorm", "post_feedforward_layernorm" };
    size_t n = 0;
#define T_(a, b, ...) AKT_TENSOR(t, n, a, b, __VA_ARGS__)
    T_(V_, H_, "embed_tokens.weight");
    T_(H_, 0, "norm.weight");
    for (int l = 0; l < L_; l++) {
        T_(NQ_ * HD_, H_, "layers.%d.self_attn.q_proj.weight", l);
        T_(NKV_ * HD_, H_, "layers.%d.self_attn.k_proj.weight", l);
        T_(NKV_ * HD_, H_, "layers.%d.self_attn.v_proj.weight", l);
        T_(H_, NQ_ * HD_, "layers.%d.self_attn.o_proj.weight", l);
        T_(HD_, 0, "layers.%d.self_attn.q_norm.weight", l);
        T_(HD_, 0, "layers.%d.self_attn.k_norm.weight", l);
        for (int k = 0; k < 4; k++)
            T_(H_, 0, "layers.%d.%s.weight", l, norms[k]);
        T_(I_, H_, "layers.%d.mlp.gate_proj.weight", l);
        T_(I_, H_, "layers.%d.mlp.up_proj.weight", l);
        T_(H_, I_, "layers.%d.mlp.down_proj.weight", l);
    }
#undef T_
    return n;
}

/* Deterministic value k of tensor t: multiples of 1/128 in [-1, 1], exact
 * in bf16 and in f16.  Norm weights w near 0 (gains 1 + w). */
static float value(const akt_tensor *t, size_t ti, size_t k, const void *ctx)
{
    (void)ctx;
    float u = akt_unit(ti, k), v;
    if (!t->d1)
        v = 0.25f * u;
    else if (strcmp(t->name, "embed_tokens.weight") == 0)
        v = u;
    else
        v = u * (float)(1.7 / sqrt((double)t->d1));
    return akt_grid128(v);
}

typedef akt_wopts wopts;

static void write_weights(const char *dir, const wopts *o)
{
    static akt_tensor t[64];
    akt_write_weights(dir, t, list_tensors(t), o, value, NULL);
}

/* EmbeddingGemma's config at small dims, both layers local; GCFG_TAIL
 * closes it after the attention direction. */
#define GCFG_HEAD "{\"model_type\":\"gemma3_text\",\"hidden_size\":64,\"num_hidden_layers\":2,"
#define GCFG_BODY                                                                  \
    "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":16,"          \
    "\"intermediate_size\":96,\"vocab_size\":1000,\"max_position_embeddings\":64,"  \
    "\"rms_norm_eps\":1e-06,\"query_pre_attn_scalar\":12,\"sliding_window\":8,"     \
    "\"rope_theta\":1000000.0,\"rope_local_base_freq\":10000.0,\"rope_scaling\":null," \
    "\"hidden_activation\":\"gelu_pytorch_tanh\",\"attention_bias\":false,"          \
    "\"attn_logit_softcapping\":null,\"final_logit_softcapping\":null,"              \
    "\"_sliding_window_pattern\":6,\"architectures\":[\"Gemma3TextModel\"],"
#define GCFG_LOCAL "\"layer_types\":[\"sliding_attention\",\"sliding_attention\"],"
static const char *bidir_cfg =
    GCFG_HEAD GCFG_BODY GCFG_LOCAL "\"use_bidirectional_attention\":true}";
static const char *causal_cfg =
    GCFG_HEAD GCFG_BODY GCFG_LOCAL "\"use_bidirectional_attention\":false}";
static const char *mixed_cfg =
    GCFG_HEAD GCFG_BODY "\"layer_types\":[\"sliding_attention\",\"full_attention\"],"
    "\"use_bidirectional_attention\":true}";

/* Makes tmp/<name> with config text cfg and, if o, weights. */
static const char *make_model(const char *name, const char *cfg, const wopts *o)
{
    const char *d = akt_model_dir("akidb_gemma3_", name, cfg);
    if (o)
        write_weights(d, o);
    return d;
}

/* ---- config ----------------------------------------------------------------- */

static void cfg_case(const char *name, const char *cfg, akidb_status want, const char *s,
                     ak_hparams *hp)
{
    akt_cfg_case(akt_model_dir("akidb_gemma3_", name, cfg), &ak_family_gemma3, want, s, hp);
}

static int is_local(const ak_hparams *hp, size_t l)
{
    return (int)(hp->local_layers[l / 64] >> (l % 64) & 1);
}

/* The required fields + extra ones. */
#define GCFG(extra)                                                                \
    "{\"model_type\":\"gemma3_text\",\"hidden_size\":64,\"num_hidden_layers\":7,"  \
    "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"intermediate_size\":96" extra "}"

AKT_TEST(config)
{
    ak_hparams hp;
    cfg_case("c_bidir", bidir_cfg, AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.hidden, 64);
    AKT_EQ_INT(hp.n_heads, 4);
    AKT_EQ_INT(hp.n_kv_heads, 2);
    AKT_EQ_INT(hp.head_dim, 16);
    AKT_EQ_INT(hp.max_tokens, 64);
    AKT_EQ_INT(hp.causal, 0);
    AKT_EQ_INT(hp.window, 5);   /* 8 / 2 + 1: |i - j| < 5 */
    AKT_EQ_INT(hp.act, AK_ACT_GELU_TANH);
    AKT_TRUE(is_local(&hp, 0) && is_local(&hp, 1));
    AKT_NEAR(hp.attn_scale, 1.0 / sqrt(12.0), 1e-7);
    AKT_NEAR(hp.rope_theta, 1e6, 1e-3);
    AKT_NEAR(hp.rope_theta_local, 1e4, 1e-3);
    cfg_case("c_causal", causal_cfg, AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.causal, 1);
    AKT_EQ_INT(hp.window, 8);   /* i - 8 < j <= i */
    cfg_case("c_mixed", mixed_cfg, AKIDB_OK, NULL, &hp);
    AKT_TRUE(is_local(&hp, 0) && !is_local(&hp, 1));
    /* EmbeddingGemma's own numbers, and Gemma3TextConfig's defaults */
    cfg_case("c_def", GCFG(",\"sliding_window\":512,\"use_bidirectional_attention\":true"),
             AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.window, 257);
    AKT_EQ_INT(hp.head_dim, 256);
    AKT_EQ_INT(hp.vocab, 262208);
    AKT_EQ_INT(hp.max_tokens, 131072);
    AKT_NEAR(hp.attn_scale, 0.0625, 1e-9);
    AKT_NEAR(hp.rope_theta, 1e6, 1e-3);
    AKT_NEAR(hp.rope_theta_local, 1e4, 1e-3);
    AKT_NEAR(hp.ln_eps, 1e-6, 1e-12);
    for (size_t l = 0; l < 7; l++)   /* sliding_window_pattern 6: layer 5 global */
        AKT_EQ_INT(is_local(&hp, l), l != 5);
    cfg_case("c_pat", GCFG(",\"sliding_window_pattern\":3,\"sliding_window\":9"), AKIDB_OK,
             NULL, &hp);
    AKT_EQ_INT(hp.window, 9);
    AKT_EQ_INT(hp.causal, 1);
    for (size_t l = 0; l < 7; l++)
        AKT_EQ_INT(is_local(&hp, l), (l + 1) % 3 != 0);
    cfg_case("c_rp", GCFG(",\"rope_parameters\":{\"full_attention\":{\"rope_type\":\"default\","
             "\"rope_theta\":500000.0},\"sliding_attention\":{\"rope_type\":\"default\","
             "\"rope_theta\":20000.0}}"), AKIDB_OK, NULL, &hp);
    AKT_NEAR(hp.rope_theta, 5e5, 1e-3);
    AKT_NEAR(hp.rope_theta_local, 2e4, 1e-3);
    cfg_case("c_flsc", GCFG(",\"final_logit_softcapping\":30.0"), AKIDB_OK, NULL, &hp);

    /* refused, naming what is wrong */
    cfg_case("c_kv", GCFG(",\"num_key_value_heads\":3"), AKIDB_EFORMAT,
             "num_attention_heads 4 is not a multiple of num_key_value_heads 3", &hp);
    cfg_case("c_nokv", "{\"model_type\":\"gemma3_text\",\"hidden_size\":64,"
             "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":96}",
             AKIDB_EFORMAT, "\"num_key_value_heads\"", &hp);
    cfg_case("c_sw0", GCFG(",\"sliding_window\":0"), AKIDB_EFORMAT, "\"sliding_window\"", &hp);
    cfg_case("c_swneg", GCFG(",\"sliding_window\":-4"), AKIDB_EFORMAT, "\"sliding_window\"",
             &hp);
    cfg_case("c_swstr", GCFG(",\"sliding_window\":\"512\""), AKIDB_EFORMAT,
             "\"sliding_window\"", &hp);
    cfg_case("c_ltlen", GCFG(",\"layer_types\":[\"full_attention\"]"), AKIDB_EFORMAT,
             "layer_types must list 7", &hp);
    cfg_case("c_ltkind", GCFG(",\"layer_types\":[\"full_attention\",\"chunked_attention\","
             "\"full_attention\",\"full_attention\",\"full_attention\",\"full_attention\","
             "\"full_attention\"]"), AKIDB_EUNSUPPORTED, "layer_types[1] 'chunked_attention'",
             &hp);
    cfg_case("c_softcap", GCFG(",\"attn_logit_softcapping\":50.0"), AKIDB_EUNSUPPORTED,
             "attn_logit_softcapping", &hp);
    cfg_case("c_bias", GCFG(",\"attention_bias\":true"), AKIDB_EUNSUPPORTED, "attention_bias",
             &hp);
    cfg_case("c_linear", GCFG(",\"rope_scaling\":{\"rope_type\":\"linear\",\"factor\":8.0}"),
             AKIDB_EUNSUPPORTED, "'linear'", &hp);
    cfg_case("c_rplin", GCFG(",\"rope_parameters\":{\"full_attention\":{\"rope_type\":"
             "\"linear\",\"factor\":8.0,\"rope_theta\":1000000.0}}"), AKIDB_EUNSUPPORTED,
             "full_attention", &hp);
    cfg_case("c_odd", GCFG(",\"head_dim\":25"), AKIDB_EFORMAT, "head_dim 25 is odd", &hp);
    cfg_case("c_act", GCFG(",\"hidden_activation\":\"swiglu\""), AKIDB_EUNSUPPORTED, "swiglu",
             &hp);
    cfg_case("c_qpas", GCFG(",\"query_pre_attn_scalar\":0"), AKIDB_EFORMAT,
             "query_pre_attn_scalar", &hp);
    /* no model_type: architectures decide */
    cfg_case("c_arch", "{\"architectures\":[\"Gemma3TextModel\"],\"hidden_size\":64,"
             "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":4,"
             "\"intermediate_size\":96}", AKIDB_OK, NULL, &hp);
}

/* ---- tensors and forward -------------------------------------------------------- */

enum { NSEQ = AKT_NSEQ };
static const int32_t seq_a[] = { 2, 17, 99, 512, 1 }, seq_b[] = { 2 },
                     seq_c[] = { 2, 300, 17, 400, 999, 5, 6, 1 };
static int32_t seq_long[64];

/* The fixed sequences: a, b, c, then 64 and 33 ids of seq_long. */
static akt_seqs fixed(void)
{
    return akt_seqs_init(seq_a, 5, seq_b, 1, seq_c, 8, seq_long, 64, 0, V_);
}

static void embed_fixed(const akidb_model *m, int nt, int one_by_one, float *out)
{
    akt_seqs q = fixed();
    akt_embed_ids(m, NSEQ, q.ids, q.lens, H_, nt, one_by_one, out);
}

AKT_TEST(tensors)
{
    wopts o = { 0 };
    akidb_model *ref = akt_load_ids(make_model("t_plain", mixed_cfg, &o), NULL);
    akidb_model_info info;
    akidb_model_get_info(ref, &info);
    AKT_EQ_STR(info.weights_dtype, "F32");
    AKT_EQ_INT(info.dim, H_);
    AKT_EQ_INT(info.n_heads, NQ_);
    float r[NSEQ * H_];
    embed_fixed(ref, 1, 0, r);
    for (int i = 0; i < NSEQ * H_; i++)
        AKT_TRUE(isfinite(r[i]));
    const wopts v[] = { { .prefix = "model." }, { .dt = 1 }, { .dt = 2 },
                        { .dt = 1, .prefix = "model." } };
    static const char *names[] = { "F32", "BF16", "F16", "BF16" };
    akt_seqs q = fixed();
    for (int i = 0; i < 4; i++)
        akt_expect_same(make_model("t_var", mixed_cfg, &v[i]), names[i], r, NSEQ, q.ids, q.lens, H_, "variant");
    akidb_model_free(ref);
    static const char *miss[] = { "layers.1.post_feedforward_layernorm.weight",
                                  "layers.0.post_attention_layernorm.weight",
                                  "layers.0.pre_feedforward_layernorm.weight",
                                  "layers.1.self_attn.q_norm.weight", "embed_tokens.weight",
                                  "norm.weight" };
    for (int i = 0; i < 6; i++) {
        wopts w = { .prefix = "model.", .skip = miss[i] };
        akt_expect_fail(make_model("t_miss", mixed_cfg, &w), AKIDB_EFORMAT, miss[i],
                        "also tried 'model.");
    }
    static const char *bad[] = { "layers.0.self_attn.k_proj.weight",
                                 "layers.1.post_attention_layernorm.weight",
                                 "layers.0.self_attn.k_norm.weight" };
    for (int i = 0; i < 3; i++) {
        wopts w = { .bad = bad[i] };
        akt_expect_fail(make_model("t_shape", mixed_cfg, &w), AKIDB_EDIM, bad[i],
                        "but config.json implies");
    }
}

/* Hidden states of seq_long[0..n) with token at changed to 5, into *out
 * (arena ar). */
static void forward_changed(const akidb_model *m, size_t n, size_t at, ak_arena *ar,
                            float **out)
{
    int32_t ids[64];
    memcpy(ids, seq_long, sizeof ids);
    if (at < n)
        ids[at] = ids[at] == 5 ? 6 : 5;
    AKT_OK(ak_model_forward(m, ids, n, ar, out));
}

/* Whether row i of the forward with token `at` changed equals row i of base. */
static int row_same(const akidb_model *m, const float *base, size_t n, size_t at, size_t i)
{
    ak_arena ar;
    ak_arena_init(&ar, 0);
    float *h;
    forward_changed(m, n, at, &ar, &h);
    int same = memcmp(base + i * H_, h + i * H_, H_ * sizeof(float)) == 0;
    ak_arena_free(&ar);
    return same;
}

AKT_TEST(forward)
{
    wopts o = { .dt = 1 };
    akidb_model *m = akt_load_ids(make_model("f_bf", mixed_cfg, &o), NULL);
    float a[NSEQ * H_], b[NSEQ * H_];
    embed_fixed(m, 1, 0, a);
    static const int nts[] = { 2, 3 };
    for (int k = 0; k < 2; k++) {
        embed_fixed(m, nts[k], 0, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
        embed_fixed(m, nts[k], 1, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    }
    akidb_model_free(m);

    /* bidirectional, two local layers of |i - j| < 5: token 30 sees tokens
     * 30 +- 8 through them, and nothing further */
    m = akt_load_ids(make_model("f_bidir", bidir_cfg, &o), NULL);
    ak_arena ar;
    ak_arena_init(&ar, 0);
    float *base;
    forward_changed(m, 64, 64, &ar, &base);
    AKT_TRUE(row_same(m, base, 64, 21, 30));
    AKT_TRUE(!row_same(m, base, 64, 22, 30));
    AKT_TRUE(!row_same(m, base, 64, 38, 30));
    AKT_TRUE(row_same(m, base, 64, 39, 30));
    AKT_TRUE(!row_same(m, base, 64, 63, 55));   /* later tokens are seen */
    ak_arena_free(&ar);
    akidb_model_free(m);

    /* causal, local layers of i - 8 < j <= i: token i is the last of its
     * prefix, and token 30 sees tokens 16..30 */
    m = akt_load_ids(make_model("f_causal", causal_cfg, &o), NULL);
    ak_arena_init(&ar, 0);
    forward_changed(m, 64, 64, &ar, &base);
    for (size_t i = 0; i < 64; i += 9) {
        ak_arena ar2;
        ak_arena_init(&ar2, 0);
        float *pre;
        AKT_OK(ak_model_forward(m, seq_long, i + 1, &ar2, &pre));
        if (memcmp(base + i * H_, pre + i * H_, H_ * sizeof(float)) != 0)
            AKT_FAIL_("token %zu of 64 differs from the last of its prefix", i);
        ak_arena_free(&ar2);
    }
    AKT_TRUE(row_same(m, base, 64, 15, 30));
    AKT_TRUE(!row_same(m, base, 64, 16, 30));
    AKT_TRUE(row_same(m, base, 64, 31, 30));
    ak_arena_free(&ar);
    /* ids outside the vocabulary, length past max_position_embeddings */
    static int32_t longer[65];
    const int32_t *ids[1] = { longer };
    size_t lens[1] = { 65 };
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_ETOOLONG);
    longer[3] = V_;
    lens[0] = 5;
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_EDIM);
    akidb_model_free(m);
}

AKT_TEST(reduced)
{
    wopts o = { .dt = 1 };
    akt_seqs q = fixed();
    akt_reduced(make_model("q_bf", mixed_cfg, &o), "Gemma 3", NSEQ, q.ids, q.lens, H_);
}

AKT_TEST(out_of_memory)
{
    wopts o = { .dt = 1 };   /* converted copies: more allocations to fail */
    akt_seqs q = fixed();
    akt_oom_load_embed(make_model("m_bf", mixed_cfg, &o), NULL, NSEQ, q.ids, q.lens, H_);
}

/* ---- the text-level reference (make_gemma3.py's gemma3_text) ------------------ */

AKT_TEST(text_ref)
{
    akt_textref tr;
    if (!akt_textref_open(&tr, "gemma3", "AKIDB_GEMMA3_MODELS", "Gemma 3"))
        return;
    AKT_EQ_INT(tr.info.pooling, AKIDB_POOL_MEAN);
    AKT_EQ_INT(tr.info.vocab_size, 262145);
    akt_textref_paths(&tr, "gemma3", NULL);
    akt_textref_close(&tr);
}

AKT_MAIN(AKT_REG(config), AKT_REG(tensors), AKT_REG(forward), AKT_REG(reduced),
         AKT_REG(out_of_memory), AKT_REG(text_ref))
