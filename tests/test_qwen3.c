/*
 * test_qwen3.c - the Qwen3 family (decoder.c, fam_qwen3.c), last-token
 * pooling and prompts.
 *
 * Without Python (small models written here):
 *   config        Qwen3Config's fields and defaults; refused: heads that do
 *                 not divide into key/value heads, a missing
 *                 num_key_value_heads, rope_scaling types other than
 *                 default, attention_bias, sliding windows, other
 *                 activations, odd head_dim; lookup by architectures
 *   tensors       with and without "model.", F32 = BF16 = F16 stored,
 *                 missing and misshapen tensors named
 *   forward       thread counts and grouping bit-identical; causality: the
 *                 hidden state of token i of a text equals the last one of
 *                 its prefix 0..i, bit for bit
 *   reduced       bf16 / int8 compute on every kernel path vs f32
 *   out_of_memory every allocation of a load + embed failing once
 *   pooling       lasttoken in the Pooling config and the public names
 *   prompts       config_sentence_transformers.json prompts: by name, by
 *                 text, the default, "" for none, unknown names listed, a
 *                 bad default refused, include_prompt false refused
 * With the reference models of tests/ref/make_qwen3.py (ctest fixture
 * qwen3_ref_models; AKIDB_QWEN3_MODELS, default $AKIDB_BUILD/ref_qwen3):
 *   text_ref      qwen3_text, the real Qwen3 tokenizer with Qwen3-Embedding's
 *                 <|endoftext|> template: every text of
 *                 tests/data/tok_multilingual.txt through akidb_embed
 *                 (tokenised here, truncated at max_seq_length) against the
 *                 float64 PyTorch reference on every kernel path
 *                 (cosine >= 0.99999, max |diff| <= 1e-4); the query prompt
 *                 equals the prompt written before each text.
 * (The id-level references of the same script run in test_families'
 * families_ref, test qwen3_ref.)
 */
#include "akt_textref.h"

enum { H_ = 32, NQ_ = 4, NKV_ = 2, HD_ = 24, I_ = 48, L_ = 2, V_ = 30522 };

/* ---- small models written here ---------------------------------------------- */

/* Deterministic value k of tensor t, exact in bf16 and in f16. */
static float value(const akt_tensor *t, size_t ti, size_t k, const void *ctx)
{
    (void)ctx;
    float u = akt_unit(ti, k), v;
    if (!t->d1)
        v = 1.0f + 0.25f * u;
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
    static const akt_qwen3_shape q = {H_, NQ_, NKV_, HD_, I_, L_, V_};
    akt_write_weights(dir, t, akt_qwen3_tensors(t, &q), o, value, NULL);
}

#define QCFG_HEAD "{\"model_type\":\"qwen3\",\"hidden_size\":32,\"num_hidden_layers\":2,"
static const char *qwen3_cfg =
    QCFG_HEAD "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":24,"
    "\"intermediate_size\":48,\"vocab_size\":30522,\"max_position_embeddings\":64,"
    "\"rms_norm_eps\":1e-06,\"rope_theta\":1000000,\"rope_scaling\":null,"
    "\"attention_bias\":false,\"use_sliding_window\":false,\"sliding_window\":null,"
    "\"hidden_act\":\"silu\",\"tie_word_embeddings\":true,"
    "\"architectures\":[\"Qwen3ForCausalLM\"]}";

/* Makes tmp/<name> with config text cfg and, if o, weights. */
static const char *make_model(const char *name, const char *cfg, const wopts *o)
{
    const char *d = akt_model_dir("akidb_qwen3_", name, cfg);
    if (o)
        write_weights(d, o);
    return d;
}

/* Adds the sentence-transformers files of Qwen3-Embedding (last-token
 * pooling, Normalize, prompts) and BERT's WordPiece tokenizer to dir. */
static void add_pipeline(const char *dir, const char *prompts, int include_prompt)
{
    char p[PATH_MAX];
    akt_write_text(dir, "modules.json",
                   "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":"
                   "\"sentence_transformers.models.Transformer\"},{\"idx\":1,\"name\":\"1\","
                   "\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                   "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":"
                   "\"sentence_transformers.models.Normalize\"}]");
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    mkdir(p, 0700);
    akt_write_text(p, "config.json", include_prompt
                   ? "{\"word_embedding_dimension\":32,\"pooling_mode_cls_token\":false,"
                     "\"pooling_mode_mean_tokens\":false,\"pooling_mode_lasttoken\":true,"
                     "\"include_prompt\":true}"
                   : "{\"word_embedding_dimension\":32,\"pooling_mode_mean_tokens\":true,"
                     "\"include_prompt\":false}");
    if (prompts)
        akt_write_text(dir, "config_sentence_transformers.json", prompts);
    akt_link_minilm_tokenizer(dir);
}

/* ---- config ----------------------------------------------------------------- */

/* Loads config text cfg and expects status want with s in the message. */
static void cfg_case(const char *name, const char *cfg, akidb_status want, const char *s,
                     ak_hparams *hp)
{
    akt_cfg_case(akt_model_dir("akidb_qwen3_", name, cfg), &ak_family_qwen3, want, s, hp);
}

/* QCFG_HEAD + the usual heads + extra fields. */
#define QCFG(extra)                                                                    \
    QCFG_HEAD "\"num_attention_heads\":4,\"num_key_value_heads\":2,\"head_dim\":24,"   \
              "\"intermediate_size\":48,\"vocab_size\":300" extra "}"

AKT_TEST(config)
{
    ak_hparams hp;
    cfg_case("c_ok", qwen3_cfg, AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.hidden, 32);
    AKT_EQ_INT(hp.n_heads, 4);
    AKT_EQ_INT(hp.n_kv_heads, 2);
    AKT_EQ_INT(hp.head_dim, 24);   /* not hidden / heads */
    AKT_EQ_INT(hp.max_tokens, 64);
    AKT_EQ_INT(hp.causal, 1);
    AKT_EQ_INT(hp.act, AK_ACT_SILU);
    AKT_EQ_INT(hp.type_vocab, 0);
    AKT_NEAR(hp.rope_theta, 1e6, 1e-3);
    AKT_NEAR(hp.ln_eps, 1e-6, 1e-12);
    /* Qwen3Config's defaults */
    cfg_case("c_def", QCFG_HEAD "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
             "\"intermediate_size\":48,\"vocab_size\":300}", AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.head_dim, 128);
    AKT_EQ_INT(hp.max_tokens, 32768);
    AKT_NEAR(hp.rope_theta, 1e4, 1e-3);
    AKT_NEAR(hp.ln_eps, 1e-6, 1e-12);
    cfg_case("c_dflt_rope", QCFG(",\"rope_scaling\":{\"rope_type\":\"default\"}"), AKIDB_OK,
             NULL, &hp);
    cfg_case("c_swish", QCFG(",\"hidden_act\":\"swish\",\"layer_types\":[\"full_attention\","
             "\"full_attention\"]"), AKIDB_OK, NULL, &hp);

    cfg_case("c_kv", QCFG_HEAD "\"num_attention_heads\":4,\"num_key_value_heads\":3,"
             "\"intermediate_size\":48,\"vocab_size\":300}", AKIDB_EFORMAT,
             "num_attention_heads 4 is not a multiple of num_key_value_heads 3", &hp);
    cfg_case("c_nokv", QCFG_HEAD "\"num_attention_heads\":4,\"intermediate_size\":48,"
             "\"vocab_size\":300}", AKIDB_EFORMAT, "\"num_key_value_heads\"", &hp);
    cfg_case("c_yarn", QCFG(",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4.0,"
             "\"original_max_position_embeddings\":32768}"), AKIDB_EUNSUPPORTED,
             "rope_scaling type 'yarn'", &hp);
    cfg_case("c_linear", QCFG(",\"rope_scaling\":{\"type\":\"linear\",\"factor\":2.0}"),
             AKIDB_EUNSUPPORTED, "'linear'", &hp);
    cfg_case("c_notype", QCFG(",\"rope_scaling\":{\"factor\":2.0}"), AKIDB_EFORMAT,
             "rope_type", &hp);
    cfg_case("c_rsstr", QCFG(",\"rope_scaling\":\"yarn\""), AKIDB_EFORMAT,
             "\"rope_scaling\" is not an object", &hp);
    cfg_case("c_bias", QCFG(",\"attention_bias\":true"), AKIDB_EUNSUPPORTED,
             "attention_bias", &hp);
    cfg_case("c_sw", QCFG(",\"use_sliding_window\":true,\"sliding_window\":4096"),
             AKIDB_EUNSUPPORTED, "use_sliding_window", &hp);
    cfg_case("c_lt", QCFG(",\"layer_types\":[\"full_attention\",\"sliding_attention\"]"),
             AKIDB_EUNSUPPORTED, "layer_types[1] 'sliding_attention'", &hp);
    cfg_case("c_act", QCFG(",\"hidden_act\":\"gelu\""), AKIDB_EUNSUPPORTED, "'gelu'", &hp);
    cfg_case("c_odd", QCFG_HEAD "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
             "\"head_dim\":25,\"intermediate_size\":48,\"vocab_size\":300}", AKIDB_EFORMAT,
             "head_dim 25 is odd", &hp);
    cfg_case("c_novocab", QCFG_HEAD "\"num_attention_heads\":4,\"num_key_value_heads\":2,"
             "\"intermediate_size\":48}", AKIDB_EFORMAT, "\"vocab_size\"", &hp);

    /* no model_type: architectures decide */
    cfg_case("c_arch", "{\"architectures\":[\"Qwen3Model\"],\"hidden_size\":32,"
             "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":4,"
             "\"intermediate_size\":48,\"vocab_size\":300}", AKIDB_OK, NULL, &hp);
    cfg_case("c_moe", "{\"architectures\":[\"Qwen3MoeForCausalLM\"]}", AKIDB_EUNSUPPORTED,
             "Qwen3MoeForCausalLM", &hp);
    cfg_case("c_qwen2", "{\"model_type\":\"qwen2\"}", AKIDB_EUNSUPPORTED, "qwen3", &hp);
}

/* ---- tensors and forward -------------------------------------------------------- */

enum { NSEQ = AKT_NSEQ };
static const int32_t seq_a[] = { 101, 7592, 2088, 999, 102 }, seq_b[] = { 102 },
                     seq_c[] = { 3000, 17, 4000, 30521, 5, 6, 102 };
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
    akidb_model *ref = akt_load_ids(make_model("t_plain", qwen3_cfg, &o), NULL);
    akidb_model_info info;
    akidb_model_get_info(ref, &info);
    AKT_EQ_STR(info.weights_dtype, "F32");
    AKT_EQ_INT(info.dim, H_);
    AKT_EQ_INT(info.n_heads, NQ_);
    AKT_EQ_INT(info.pooling, AKIDB_POOL_MEAN);   /* no sentence-transformers files */
    float r[NSEQ * H_];
    embed_fixed(ref, 1, 0, r);
    for (int i = 0; i < NSEQ * H_; i++)
        AKT_TRUE(isfinite(r[i]));
    const wopts v[] = { { .prefix = "model." }, { .dt = 1 }, { .dt = 2 },
                        { .dt = 1, .prefix = "model." } };
    static const char *names[] = { "F32", "BF16", "F16", "BF16" };
    akt_seqs q = fixed();
    for (int i = 0; i < 4; i++)
        akt_expect_same(make_model("t_var", qwen3_cfg, &v[i]), names[i], r, NSEQ, q.ids, q.lens, H_, "variant");
    akidb_model_free(ref);
    static const char *miss[] = { "layers.1.self_attn.k_norm.weight", "embed_tokens.weight",
                                  "norm.weight", "layers.0.mlp.up_proj.weight" };
    for (int i = 0; i < 4; i++) {
        wopts w = { .prefix = "model.", .skip = miss[i] };
        akt_expect_fail(make_model("t_miss", qwen3_cfg, &w), AKIDB_EFORMAT, miss[i],
                        "also tried 'model.");
    }
    static const char *bad[] = { "layers.0.self_attn.k_proj.weight", "embed_tokens.weight",
                                 "layers.1.self_attn.q_norm.weight" };
    for (int i = 0; i < 3; i++) {
        wopts w = { .bad = bad[i] };
        akt_expect_fail(make_model("t_shape", qwen3_cfg, &w), AKIDB_EDIM, bad[i],
                        "but config.json implies");
    }
}

AKT_TEST(forward)
{
    wopts o = { .dt = 1 };
    const char *dir = make_model("f_bf", qwen3_cfg, &o);
    akidb_model *m = akt_load_ids(dir, NULL);
    float a[NSEQ * H_], b[NSEQ * H_];
    embed_fixed(m, 1, 0, a);
    static const int nts[] = { 2, 3 };
    for (int k = 0; k < 2; k++) {
        embed_fixed(m, nts[k], 0, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
        embed_fixed(m, nts[k], 1, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    }
    /* causal: the hidden state of token i is the last one of the prefix 0..i */
    ak_arena ar;
    ak_arena_init(&ar, 0);
    float *full, *pre;
    AKT_OK(ak_model_forward(m, seq_long, 64, &ar, &full));
    for (size_t i = 0; i < 64; i += 9) {
        ak_arena ar2;
        ak_arena_init(&ar2, 0);
        AKT_OK(ak_model_forward(m, seq_long, i + 1, &ar2, &pre));
        if (memcmp(full + i * H_, pre + i * H_, H_ * sizeof(float)) != 0)
            AKT_FAIL_("token %zu of 64 differs from the last of its prefix", i);
        ak_arena_free(&ar2);
    }
    ak_arena_free(&ar);
    /* ids outside the vocabulary, length past max_position_embeddings */
    static int32_t longer[65];
    const int32_t *ids[1] = { longer };
    size_t lens[1] = { 65 };
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "64");
    longer[3] = V_;
    lens[0] = 5;
    AKT_STATUS(ak_model_embed_ids(m, 1, ids, lens, a, NULL), AKIDB_EDIM);
    akidb_model_free(m);
}

AKT_TEST(reduced)
{
    wopts o = { .dt = 1 };
    akt_seqs q = fixed();
    akt_reduced(make_model("q_bf", qwen3_cfg, &o), "Qwen3", NSEQ, q.ids, q.lens, H_);
}

AKT_TEST(out_of_memory)
{
    wopts o = { .dt = 1 };   /* converted copies: more allocations to fail */
    akt_seqs q = fixed();
    akt_oom_load_embed(make_model("m_bf", qwen3_cfg, &o), NULL, NSEQ, q.ids, q.lens, H_);
}

/* ---- pooling and prompts ---------------------------------------------------------- */

AKT_TEST(pooling)
{
    akidb_pooling p;
    AKT_OK(akidb_pooling_parse("lasttoken", &p));
    AKT_EQ_INT(p, AKIDB_POOL_LAST_TOKEN);
    AKT_EQ_STR(akidb_pooling_name(AKIDB_POOL_LAST_TOKEN), "lasttoken");
    AKT_STATUS(akidb_pooling_parse("last", &p), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "lasttoken");

    wopts o = { 0 };
    const char *dir = make_model("p_last", qwen3_cfg, &o);
    add_pipeline(dir, NULL, 1);
    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, NULL, &m));
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.pooling, AKIDB_POOL_LAST_TOKEN);
    AKT_EQ_INT(info.normalize, 1);
    /* last token = the hidden state of the last row, normalised */
    akt_seqs q = fixed();
    float e[H_], *h;
    AKT_OK(ak_model_embed_ids(m, 1, &q.ids[2], &q.lens[2], e, NULL));
    ak_arena ar;
    ak_arena_init(&ar, 0);
    AKT_OK(ak_model_forward(m, q.ids[2], q.lens[2], &ar, &h));
    double nn = 0;
    for (int j = 0; j < H_; j++)
        nn += (double)h[6 * H_ + j] * h[6 * H_ + j];
    for (int j = 0; j < H_; j++)
        AKT_NEAR(e[j], h[6 * H_ + j] / sqrt(nn), 1e-6);
    ak_arena_free(&ar);
    akidb_model_free(m);

    /* pooling_mode "lasttoken"; lasttoken with another mode is refused */
    char p1[PATH_MAX];
    snprintf(p1, sizeof p1, "%s/1_Pooling", dir);
    akt_write_text(p1, "config.json", "{\"pooling_mode\":\"lasttoken\"}");
    AKT_OK(ak_model_load_ids(dir, NULL, &m));
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.pooling, AKIDB_POOL_LAST_TOKEN);
    akidb_model_free(m);
    akt_write_text(p1, "config.json",
                   "{\"pooling_mode_lasttoken\":true,\"pooling_mode_mean_tokens\":true}");
    AKT_STATUS(ak_model_load_ids(dir, NULL, &m), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "2 pooling modes");
    akt_write_text(p1, "config.json", "{\"pooling_mode_lasttoken\":true,\"include_prompt\":1}");
    AKT_STATUS(ak_model_load_ids(dir, NULL, &m), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "include_prompt");
}

/* Embeds one text with options o. */
static void embed1(const akidb_model *m, const char *text, const akidb_embed_opts *o,
                   float *out)
{
    const char *t[1] = { text };
    AKT_OK(akidb_embed(m, t, NULL, 1, out, o));
}

AKT_TEST(prompts)
{
    wopts o = { 0 };
    const char *dir = make_model("pr", qwen3_cfg, &o);
    add_pipeline(dir, "{\"prompts\":{\"query\":\"Instruct: find it\\nQuery:\","
                      "\"document\":\"\",\"passage\":\"passage: \"},"
                      "\"default_prompt_name\":\"passage\",\"similarity_fn_name\":\"cosine\"}",
                 1);
    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, NULL, &m));
    float a[H_], b[H_];
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    /* the default prompt: as if written before the text */
    embed1(m, "hello world", NULL, a);
    eo.prompt = "";
    embed1(m, "passage: hello world", &eo, b);
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    /* by name, tokenised together with the text */
    size_t nt = 0;
    eo = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    eo.prompt_name = "query";
    eo.n_tokens = &nt;
    embed1(m, "hello world", &eo, a);
    AKT_EQ_INT(nt, 11);   /* [CLS] instruct : find it query : hello world [SEP] */
    eo = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    eo.prompt = "";
    embed1(m, "Instruct: find it\nQuery:hello world", &eo, b);
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    /* the text itself wins over a name; "document" is "": no prompt */
    eo.prompt_name = "document";
    eo.prompt = "Instruct: find it\nQuery:";
    embed1(m, "hello world", &eo, b);
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    eo.prompt = NULL;
    embed1(m, "hello world", &eo, a);
    eo.prompt_name = NULL;
    eo.prompt = "";
    embed1(m, "hello world", &eo, b);
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    /* token-id calls take no prompt */
    eo.prompt = "passage: ";
    const int32_t *ids[1] = { seq_a };
    size_t lens[1] = { 5 };
    AKT_OK(ak_model_embed_ids(m, 1, ids, lens, a, &eo));
    AKT_OK(ak_model_embed_ids(m, 1, ids, lens, b, NULL));
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    /* unknown names list the available ones */
    eo = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    eo.prompt_name = "search_query";
    const char *t[1] = { "x" };
    AKT_STATUS(akidb_embed(m, t, NULL, 1, a, &eo), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "'search_query'");
    AKT_CONTAINS(akidb_last_error(), "'query', 'document', 'passage'");
    akidb_model_free(m);

    /* no prompts file: a name is an error, a text still works */
    dir = make_model("pr_none", qwen3_cfg, &o);
    add_pipeline(dir, NULL, 1);
    AKT_OK(akidb_model_load(dir, NULL, &m));
    AKT_STATUS(akidb_embed(m, t, NULL, 1, a, &eo), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "has no prompts");
    eo.prompt_name = NULL;
    eo.prompt = "a ";
    AKT_OK(akidb_embed(m, t, NULL, 1, a, &eo));
    akidb_model_free(m);

    /* a default naming no prompt, prompts not an object, bad JSON */
    static const char *bad[][2] = {
        { "{\"prompts\":{\"query\":\"q: \"},\"default_prompt_name\":\"doc\"}", "'doc'" },
        { "{\"prompts\":[\"q: \"]}", "\"prompts\" is not an object" },
        { "{\"prompts\":{\"query\":7}}", "prompt \"query\" is not a string" },
        { "{\"prompts\":", "not valid JSON" },
    };
    for (int i = 0; i < 4; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "pr_bad%d", i);
        dir = make_model(nm, qwen3_cfg, &o);
        add_pipeline(dir, bad[i][0], 1);
        m = (akidb_model *)1;
        AKT_STATUS(akidb_model_load(dir, NULL, &m), AKIDB_EFORMAT);
        AKT_CONTAINS(akidb_last_error(), "config_sentence_transformers.json");
        AKT_CONTAINS(akidb_last_error(), bad[i][1]);
        AKT_TRUE(m == NULL);
    }
    /* a (mean) Pooling module that leaves the prompt's tokens out: not the
     * mean of the prompt written before the text (test_pipeline.c checks
     * the values); the last token is the text's either way */
    dir = make_model("pr_excl", qwen3_cfg, &o);
    add_pipeline(dir, "{\"prompts\":{\"query\":\"q: \"}}", 0);
    AKT_OK(akidb_model_load(dir, NULL, &m));
    eo = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    eo.prompt_name = "query";
    embed1(m, "hello world", &eo, a);
    eo.prompt_name = NULL;
    eo.prompt = "";
    embed1(m, "q: hello world", &eo, b);
    AKT_NE_INT(memcmp(a, b, sizeof a), 0);
    eo.pooling = AKIDB_POOL_LAST_TOKEN;
    embed1(m, "q: hello world", &eo, b);
    eo.prompt = NULL;
    eo.prompt_name = "query";
    embed1(m, "hello world", &eo, a);
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    akidb_model_free(m);
}

/* ---- the text-level reference (make_qwen3.py's qwen3_text) ------------------- */

/* Query prompt by name = the prompt written before each text, bit for bit;
 * the empty "document" prompt = none (on the kernel path selected). */
static void check_prompts(const akt_textref *tr)
{
    const akidb_model *m = tr->m;
    char **texts = tr->texts;
    size_t *lens = tr->lens, n = tr->n, dim = tr->info.dim;
    static const char *qp = "Instruct: Given a web search query, retrieve relevant passages "
                             "that answer the query\nQuery:";
    size_t k = n < 40 ? n : 40, ql = strlen(qp);
    float *a = malloc(k * dim * sizeof *a), *b = malloc(k * dim * sizeof *b);
    char **joined = calloc(k, sizeof *joined);
    size_t *jl = calloc(k, sizeof *jl);
    for (size_t i = 0; i < k; i++) {
        jl[i] = ql + lens[i];
        joined[i] = malloc(jl[i] + 1);
        memcpy(joined[i], qp, ql);
        memcpy(joined[i] + ql, texts[i], lens[i] + 1);
    }
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.prompt_name = "query";
    AKT_OK(akidb_embed(m, (const char *const *)texts, lens, k, a, &o));
    AKT_OK(akidb_embed(m, (const char *const *)joined, jl, k, b, NULL));
    AKT_EQ_INT(memcmp(a, b, k * dim * sizeof *a), 0);
    o.prompt_name = "document";
    AKT_OK(akidb_embed(m, (const char *const *)texts, lens, k, a, &o));
    AKT_OK(akidb_embed(m, (const char *const *)texts, lens, k, b, NULL));
    AKT_EQ_INT(memcmp(a, b, k * dim * sizeof *a), 0);
    for (size_t i = 0; i < k; i++)
        free(joined[i]);
    free(joined); free(jl); free(a); free(b);
}

AKT_TEST(text_ref)
{
    akt_textref tr;
    if (!akt_textref_open(&tr, "qwen3", "AKIDB_QWEN3_MODELS", "Qwen3"))
        return;
    AKT_EQ_INT(tr.info.pooling, AKIDB_POOL_LAST_TOKEN);
    AKT_EQ_INT(tr.info.vocab_size, 151669);
    akt_textref_paths(&tr, "qwen3", check_prompts);
    akt_textref_close(&tr);
}

AKT_MAIN(AKT_REG(config), AKT_REG(tensors), AKT_REG(forward), AKT_REG(reduced),
         AKT_REG(out_of_memory), AKT_REG(pooling), AKT_REG(prompts), AKT_REG(text_ref))
