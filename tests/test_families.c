/*
 * test_families.c - the model families beyond BERT (DistilBERT, RoBERTa /
 * XLM-RoBERTa / CamemBERT) and the family table.
 *
 * Without Python (small models written here):
 *   lookup         model_type / architectures lookup; unknown types named
 *                  with the supported list
 *   config_errors  each family's config fields: heads that do not divide,
 *                  missing fields, unsupported values, max_tokens rules
 *   tensors        with and without the Hub prefix, F32 = BF16-stored,
 *                  a missing tensor named, a wrong shape named
 *   ids_api        ak_model_embed_ids checks; the text path of a DistilBERT
 *                  folder equals its id path
 *   reduced        bf16 / int8 compute on a RoBERTa model, every kernel path
 *   out_of_memory  every allocation of a RoBERTa load + embed failing once
 * With the reference models of tests/ref/make_families.py (ctest fixture
 * families_ref_models; AKIDB_FAMILY_MODELS, default
 * $AKIDB_BUILD/ref_families):
 *   families_ref   each model on every kernel path, all texts in one call on
 *                  2 threads, on 1 thread, one text per call, every reference
 *                  pooling: cosine >= 0.99999 and max |diff| <= 1e-4 *
 *                  max(1, max |ref|) per text, texts of 1 token to past
 *                  max_seq_length (cut as the tokenizer cuts).
 *                  AKIDB_REF_QUICK=1 (sanitizer, emulated runs): the first
 *                  reference of each model only, all texts in one call.
 */
#include "akt_model.h"

#define COS_MIN 0.99999
#define DIFF_MAX 1e-4

/* ---- small models written here ---------------------------------------------- */

enum { H_ = 16, NH_ = 2, I_ = 32, L_ = 2, P_ = 40, RV_ = 300, DV_ = 30522 };

/* Tensor list of family fam ('d' DistilBERT, 'r' RoBERTa), without prefix. */
static size_t list_tensors(int fam, akt_tensor *t)
{
    size_t n = 0;
#define T_(a, b, ...) AKT_TENSOR(t, n, a, b, __VA_ARGS__)
    T_(fam == 'd' ? DV_ : RV_, H_, "embeddings.word_embeddings.weight");
    T_(P_, H_, "embeddings.position_embeddings.weight");
    if (fam == 'r')
        T_(1, H_, "embeddings.token_type_embeddings.weight");
    T_(H_, 0, "embeddings.LayerNorm.weight");
    T_(H_, 0, "embeddings.LayerNorm.bias");
    static const char *dl[] = { "attention.q_lin", "attention.k_lin", "attention.v_lin",
                                "attention.out_lin", "ffn.lin1", "ffn.lin2" };
    static const char *rl[] = { "attention.self.query", "attention.self.key",
                                "attention.self.value", "attention.output.dense",
                                "intermediate.dense", "output.dense" };
    static const char *dn[] = { "sa_layer_norm", "output_layer_norm" };
    static const char *rn[] = { "attention.output.LayerNorm", "output.LayerNorm" };
    const char *lp = fam == 'd' ? "transformer.layer" : "encoder.layer";
    for (int l = 0; l < L_; l++) {
        for (int k = 0; k < 6; k++) {
            size_t o = k == 4 ? I_ : H_, in = k == 5 ? I_ : H_;
            const char *nm = fam == 'd' ? dl[k] : rl[k];
            T_(o, in, "%s.%d.%s.weight", lp, l, nm);
            T_(o, 0, "%s.%d.%s.bias", lp, l, nm);
        }
        for (int k = 0; k < 2; k++) {
            T_(H_, 0, "%s.%d.%s.weight", lp, l, fam == 'd' ? dn[k] : rn[k]);
            T_(H_, 0, "%s.%d.%s.bias", lp, l, fam == 'd' ? dn[k] : rn[k]);
        }
    }
#undef T_
    return n;
}

/* Deterministic value k of tensor t, already representable in bf16. */
static float value(const akt_tensor *t, size_t ti, size_t k, const void *ctx)
{
    (void)ctx;
    float u = akt_unit(ti, k), v;
    size_t n = strlen(t->name);
    int gain = strcmp(t->name + n - 6, "weight") == 0 && strstr(t->name, "orm");
    if (gain)
        v = 1.0f + 0.1f * u;
    else if (!t->d1)
        v = 0.1f * u;
    else if (strncmp(t->name, "embeddings.", 11) == 0)
        v = 0.5f * u;
    else
        v = u * (float)(1.7 / sqrt((double)t->d1));
    return akt_bf16_trunc(v);
}

typedef struct wopts {
    int bf16;             /* store BF16 */
    const char *prefix;   /* Hub prefix of every name, or NULL */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor with one row too many */
} wopts;

static void write_weights(const char *dir, int fam, const wopts *o)
{
    static akt_tensor t[128];
    akt_wopts w = { .dt = o->bf16, .prefix = o->prefix, .skip = o->skip, .bad = o->bad };
    akt_write_weights(dir, t, list_tensors(fam, t), &w, value, NULL);
}

static const char *distil_cfg =
    "{\"model_type\":\"distilbert\",\"dim\":16,\"n_layers\":2,\"n_heads\":2,"
    "\"hidden_dim\":32,\"max_position_embeddings\":40,\"vocab_size\":30522,"
    "\"activation\":\"gelu\",\"sinusoidal_pos_embds\":false}";
static const char *roberta_cfg =
    "{\"model_type\":\"xlm-roberta\",\"hidden_size\":16,\"num_hidden_layers\":2,"
    "\"num_attention_heads\":2,\"intermediate_size\":32,\"max_position_embeddings\":40,"
    "\"type_vocab_size\":1,\"vocab_size\":300,\"pad_token_id\":1,\"layer_norm_eps\":1e-5,"
    "\"hidden_act\":\"gelu\"}";

/* Makes tmp/<name> with config text cfg and the weights of family fam. */
static const char *make_model(const char *name, int fam, const char *cfg, const wopts *o)
{
    const char *d = akt_model_dir("akidb_fam_", name, cfg);
    if (fam)
        write_weights(d, fam, o);
    return d;
}

/* ---- tests without Python ------------------------------------------------- */

AKT_TEST(lookup)
{
    AKT_TRUE(ak_family_find("bert") == &ak_family_bert);
    AKT_TRUE(ak_family_find("distilbert") == &ak_family_distilbert);
    AKT_TRUE(ak_family_find("roberta") == &ak_family_roberta);
    AKT_TRUE(ak_family_find("xlm-roberta") == &ak_family_roberta);
    AKT_TRUE(ak_family_find("camembert") == &ak_family_roberta);
    AKT_TRUE(ak_family_find("robert") == NULL);
    AKT_TRUE(ak_family_find("roberta-prelayernorm") == NULL);
    AKT_TRUE(ak_family_find("qwen3") == &ak_family_qwen3);
    AKT_TRUE(ak_family_find("qwen2") == NULL);
    /* every model type of the table, in its order; more families follow */
    static const char first[] = "bert, distilbert, roberta, xlm-roberta, camembert, ";
    AKT_EQ_INT(strncmp(ak_family_supported(), first, sizeof first - 1), 0);
    AKT_CONTAINS(ak_family_supported(), ", mpnet");
    AKT_CONTAINS(ak_family_supported(), ", qwen3");

    const ak_family *f;
    ak_hparams hp;
    char p[PATH_MAX];
    const char *d = make_model("l_gpt2", 0, "{\"model_type\":\"gpt2\",\"n_embd\":16}", NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    AKT_STATUS(ak_family_config_load(p, &f, &hp), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "l_gpt2/config.json");
    AKT_CONTAINS(akidb_last_error(), "'gpt2'");
    AKT_CONTAINS(akidb_last_error(), "bert, distilbert, roberta, xlm-roberta, camembert");
    AKT_TRUE(f == NULL);

    /* no model_type: architectures decide */
    d = make_model("l_arch", 0,
                   "{\"architectures\":[\"XLMRobertaModel\"],\"hidden_size\":16,"
                   "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":32,"
                   "\"max_position_embeddings\":514,\"vocab_size\":300}", NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    AKT_OK(ak_family_config_load(p, &f, &hp));
    AKT_TRUE(f == &ak_family_roberta);
    AKT_EQ_INT(hp.max_tokens, 512);
    AKT_EQ_INT(hp.pad_id, 1);
    d = make_model("l_arch2", 0, "{\"architectures\":[\"DistilBertForMaskedLM\"],\"dim\":16,"
                   "\"n_layers\":1,\"n_heads\":2,\"hidden_dim\":8,"
                   "\"max_position_embeddings\":512,\"vocab_size\":30}", NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    AKT_OK(ak_family_config_load(p, &f, &hp));
    AKT_TRUE(f == &ak_family_distilbert);
    AKT_EQ_INT(hp.pad_id, -1);
    d = make_model("l_arch3", 0, "{\"architectures\":[\"RobertaPreLayerNormModel\"]}", NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    AKT_STATUS(ak_family_config_load(p, &f, &hp), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "RobertaPreLayerNormModel");
    d = make_model("l_none", 0, "{\"hidden_size\":16}", NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    AKT_STATUS(ak_family_config_load(p, &f, &hp), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "model_type");
    d = make_model("l_num", 0, "{\"model_type\":7}", NULL);
    snprintf(p, sizeof p, "%s/config.json", d);
    AKT_STATUS(ak_family_config_load(p, &f, &hp), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "model_type");
    /* through the public API */
    akidb_model *m = (akidb_model *)1;
    d = make_model("l_t5", 0, "{\"model_type\":\"t5\"}", NULL);
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "'t5'");
    AKT_CONTAINS(akidb_last_error(), "xlm-roberta");
    AKT_TRUE(m == NULL);
}

/* Loads config text cfg and expects status want with s in the message. */
static void cfg_case(const char *name, const char *cfg, akidb_status want, const char *s,
                     ak_hparams *hp)
{
    akt_cfg_case(akt_model_dir("akidb_fam_", name, cfg), NULL, want, s, hp);
}

AKT_TEST(config_errors)
{
    ak_hparams hp;
    cfg_case("c_d_ok", distil_cfg, AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.hidden, 16);
    AKT_EQ_INT(hp.intermediate, 32);
    AKT_EQ_INT(hp.type_vocab, 0);
    AKT_EQ_INT(hp.max_tokens, 40);
    AKT_NEAR(hp.ln_eps, 1e-12, 1e-18);
    cfg_case("c_d_heads", "{\"model_type\":\"distilbert\",\"dim\":16,\"n_layers\":2,"
             "\"n_heads\":5,\"hidden_dim\":32,\"max_position_embeddings\":40,"
             "\"vocab_size\":30522}", AKIDB_EFORMAT, "dim 16 is not a multiple of n_heads 5",
             &hp);
    cfg_case("c_d_field", "{\"model_type\":\"distilbert\",\"dim\":16,\"n_layers\":2,"
             "\"n_heads\":2,\"max_position_embeddings\":40,\"vocab_size\":30522}",
             AKIDB_EFORMAT, "\"hidden_dim\"", &hp);
    cfg_case("c_d_sin", "{\"model_type\":\"distilbert\",\"dim\":16,\"n_layers\":2,"
             "\"n_heads\":2,\"hidden_dim\":32,\"max_position_embeddings\":40,"
             "\"vocab_size\":30522,\"sinusoidal_pos_embds\":true}", AKIDB_EUNSUPPORTED,
             "sinusoidal_pos_embds", &hp);
    cfg_case("c_d_act", "{\"model_type\":\"distilbert\",\"dim\":16,\"n_layers\":2,"
             "\"n_heads\":2,\"hidden_dim\":32,\"max_position_embeddings\":40,"
             "\"vocab_size\":30522,\"activation\":\"silu\"}", AKIDB_EUNSUPPORTED, "'silu'", &hp);

    cfg_case("c_r_ok", roberta_cfg, AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.max_tokens, 38);       /* 40 positions - padding_idx 1 - 1 */
    AKT_EQ_INT(hp.type_vocab, 1);
    AKT_EQ_INT(hp.pad_id, 1);
    AKT_NEAR(hp.ln_eps, 1e-5, 1e-12);
    static const char *r8k =
        "{\"model_type\":\"xlm-roberta\",\"hidden_size\":16,\"num_hidden_layers\":2,"
        "\"num_attention_heads\":2,\"intermediate_size\":32,\"max_position_embeddings\":8194,"
        "\"type_vocab_size\":1,\"vocab_size\":250002}";
    cfg_case("c_r_8k", r8k, AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.max_tokens, 8192);
    AKT_EQ_INT(hp.pad_id, 1);            /* RobertaConfig's default */
    cfg_case("c_camembert", "{\"model_type\":\"camembert\",\"hidden_size\":16,"
             "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":32,"
             "\"max_position_embeddings\":514,\"type_vocab_size\":1,\"vocab_size\":32005,"
             "\"pad_token_id\":1}", AKIDB_OK, NULL, &hp);
    AKT_EQ_INT(hp.max_tokens, 512);
    cfg_case("c_r_heads", "{\"model_type\":\"roberta\",\"hidden_size\":16,"
             "\"num_hidden_layers\":2,\"num_attention_heads\":3,\"intermediate_size\":32,"
             "\"max_position_embeddings\":514,\"vocab_size\":300}", AKIDB_EFORMAT,
             "hidden_size 16 is not a multiple of num_attention_heads 3", &hp);
    cfg_case("c_r_pos", "{\"model_type\":\"roberta\",\"hidden_size\":16,"
             "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":32,"
             "\"max_position_embeddings\":2,\"vocab_size\":300}", AKIDB_EFORMAT,
             "leaves no position", &hp);
    cfg_case("c_r_pad", "{\"model_type\":\"roberta\",\"hidden_size\":16,"
             "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":32,"
             "\"max_position_embeddings\":514,\"vocab_size\":300,\"pad_token_id\":300}",
             AKIDB_EFORMAT, "pad_token_id", &hp);
    cfg_case("c_r_rel", "{\"model_type\":\"roberta\",\"hidden_size\":16,"
             "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":32,"
             "\"max_position_embeddings\":514,\"vocab_size\":300,"
             "\"position_embedding_type\":\"relative_key_query\"}", AKIDB_EUNSUPPORTED,
             "relative_key_query", &hp);
}

/* Embeddings of a few fixed id sequences. */
enum { NSEQ = 4 };
static int32_t seq_d[38];

static void fixed_seqs(const int32_t **ids, size_t *lens)
{
    static const int32_t a[] = { 0, 5, 9, 2 }, b[] = { 0, 7, 1, 8, 250, 3, 2 }, c[] = { 2 };
    for (int i = 0; i < 38; i++)
        seq_d[i] = i == 0 ? 0 : i == 37 ? 2 : 4 + (i * 37) % 290;
    ids[0] = a; lens[0] = 4;
    ids[1] = b; lens[1] = 7;
    ids[2] = c; lens[2] = 1;
    ids[3] = seq_d; lens[3] = 38;
}

static void embed_fixed(const akidb_model *m, int nt, float *out)
{
    const int32_t *ids[NSEQ];
    size_t lens[NSEQ];
    fixed_seqs(ids, lens);
    akt_embed_ids(m, NSEQ, ids, lens, H_, nt, 0, out);
}

AKT_TEST(tensors)
{
    static const struct { int fam; const char *prefix, *missing, *shape; } fams[] = {
        { 'd', "distilbert.", "transformer.layer.1.ffn.lin2.bias",
          "transformer.layer.0.attention.k_lin.weight" },
        { 'r', "roberta.", "encoder.layer.1.output.LayerNorm.weight",
          "embeddings.token_type_embeddings.weight" },
    };
    for (int k = 0; k < 2; k++) {
        int fam = fams[k].fam;
        const char *cfg = fam == 'd' ? distil_cfg : roberta_cfg;
        wopts o = { 0 };
        akidb_model *ref = akt_load_ids(make_model("t_plain", fam, cfg, &o), NULL);
        akidb_model_info info;
        akidb_model_get_info(ref, &info);
        AKT_EQ_STR(info.weights_dtype, "F32");
        AKT_EQ_INT(info.dim, H_);
        AKT_TRUE(akidb_model_tokenizer(ref) == NULL);
        float r[NSEQ * H_], x[NSEQ * H_];
        embed_fixed(ref, 1, r);
        for (int i = 0; i < NSEQ * H_; i++)
            AKT_TRUE(isfinite(r[i]));
        embed_fixed(ref, 2, x);
        AKT_EQ_INT(memcmp(r, x, sizeof r), 0);
        const wopts v[] = { { .prefix = fams[k].prefix }, { .bf16 = 1 },
                            { .bf16 = 1, .prefix = fams[k].prefix } };
        const int32_t *ids[NSEQ];
        size_t lens[NSEQ];
        fixed_seqs(ids, lens);
        for (int i = 0; i < 3; i++)
            akt_expect_same(make_model("t_var", fam, cfg, &v[i]), v[i].bf16 ? "BF16" : "F32", r,
                            NSEQ, ids, lens, H_,
                            fam == 'd' ? "DistilBERT variant" : "RoBERTa variant");
        akidb_model_free(ref);
        o.skip = fams[k].missing;
        akt_expect_fail(make_model("t_miss", fam, cfg, &o), AKIDB_EFORMAT, fams[k].missing,
                        fams[k].prefix);
        o.skip = NULL;
        o.bad = fams[k].shape;
        akt_expect_fail(make_model("t_shape", fam, cfg, &o), AKIDB_EDIM, fams[k].shape,
                        "but config.json implies");
    }
    /* the position table must have max_position_embeddings rows */
    wopts o = { 0 };
    akt_expect_fail(make_model("t_pos", 'r',
                               "{\"model_type\":\"roberta\",\"hidden_size\":16,"
                               "\"num_hidden_layers\":2,\"num_attention_heads\":2,"
                               "\"intermediate_size\":32,\"max_position_embeddings\":41,"
                               "\"type_vocab_size\":1,\"vocab_size\":300}", &o),
                    AKIDB_EDIM, "embeddings.position_embeddings.weight", "[41, 16]");
}

AKT_TEST(ids_api)
{
    wopts o = { 0 };
    const char *dir = make_model("i_r", 'r', roberta_cfg, &o);
    akidb_model *m = akt_load_ids(dir, NULL);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.max_tokens, 38);
    float out[2 * H_];
    static const int32_t ok[] = { 0, 5, 2 }, bad[] = { 0, 300, 2 };
    static int32_t longer[39];
    const int32_t *ids[2] = { ok, bad };
    size_t lens[2] = { 3, 3 };
    AKT_STATUS(ak_model_embed_ids(m, 2, ids, lens, out, NULL), AKIDB_EDIM);
    AKT_CONTAINS(akidb_last_error(), "text 1");
    AKT_CONTAINS(akidb_last_error(), "300");
    ids[1] = longer;
    lens[1] = 39;
    AKT_STATUS(ak_model_embed_ids(m, 2, ids, lens, out, NULL), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "38");
    lens[1] = 0;
    AKT_STATUS(ak_model_embed_ids(m, 2, ids, lens, out, NULL), AKIDB_EINVAL);
    lens[1] = 38;
    size_t ntok = 0;
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.n_tokens = &ntok;
    AKT_OK(ak_model_embed_ids(m, 2, ids, lens, out, &eo));
    AKT_EQ_INT(ntok, 41);
    const char *t[1] = { "hello" };
    AKT_STATUS(akidb_embed(m, t, NULL, 1, out, NULL), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "tokenizer");
    akidb_model_free(m);

    /* a DistilBERT folder with BERT's WordPiece tokenizer: the public text
     * path equals the id path on the tokenizer's ids */
    dir = make_model("i_d", 'd', distil_cfg, &o);
    static const char *tok[] = { "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                 "special_tokens_map.json" };
    for (int i = 0; i < 4; i++) {
        char a[PATH_MAX], b[PATH_MAX * 2];
        snprintf(a, sizeof a, "%s/tests/data/minilm/%s", akt_src_dir(), tok[i]);
        snprintf(b, sizeof b, "%s/%s", dir, tok[i]);
        if (symlink(a, b) != 0)
            AKT_FAIL_("symlink %s: %s", b, strerror(errno));
    }
    AKT_OK(akidb_model_load(dir, NULL, &m));
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.max_tokens, 40);
    const char *texts[3] = { "Hello world!", "", "a rather longer text that goes past the "
                             "forty positions of this tiny model, so it is cut at the end "
                             "as the tokenizer cuts it: one two three four five six seven "
                             "eight nine ten eleven twelve thirteen fourteen fifteen" };
    float a[3 * H_], b[3 * H_];
    AKT_OK(akidb_embed(m, texts, NULL, 3, a, NULL));
    akidb_tokens tk[3] = { { 0 }, { 0 }, { 0 } };
    const int32_t *tids[3];
    size_t tl[3];
    for (int i = 0; i < 3; i++) {
        AKT_OK(akidb_tokenizer_encode(akidb_model_tokenizer(m), texts[i], strlen(texts[i]),
                                      info.max_tokens, &tk[i]));
        tids[i] = tk[i].ids;
        tl[i] = tk[i].n;
    }
    AKT_EQ_INT(tl[2], 40);
    AKT_OK(ak_model_embed_ids(m, 3, tids, tl, b, NULL));
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    for (int i = 0; i < 3; i++)
        akidb_tokens_free(&tk[i]);
    akidb_model_free(m);
}

AKT_TEST(reduced)
{
    wopts o = { 0 };
    const int32_t *ids[NSEQ];
    size_t lens[NSEQ];
    fixed_seqs(ids, lens);
    akt_reduced(make_model("q_r", 'r', roberta_cfg, &o), "RoBERTa", NSEQ, ids, lens, H_);
}

AKT_TEST(out_of_memory)
{
    wopts o = { .bf16 = 1 };   /* converted copies: more allocations to fail */
    static const int32_t a[] = { 0, 5, 1, 9, 2 }, b[] = { 0, 7, 2 };
    const int32_t *ids[NSEQ] = { a, b, a, b };
    size_t lens[NSEQ] = { 5, 3, 5, 3 };
    akt_oom_load_embed(make_model("m_r", 'r', roberta_cfg, &o), NULL, NSEQ, ids, lens, H_);
}

/* ---- the reference models of make_families.py ------------------------------ */

#define MAX_FMODELS 16
#define MAX_FREFS 8

typedef struct fref {
    char file[128];
    akidb_pooling pooling;
    int normalize;
    size_t n, dim;
    uint32_t *idx;
    float *emb;
} fref;

typedef struct fmodel {
    char name[64], dir[PATH_MAX], dtype[16];
    size_t dim, max_tokens, layers, heads, inter, vocab;
    akidb_pooling pooling;
    int normalize;
    fref refs[MAX_FREFS];
    size_t n_refs;
    int32_t **ids;      /* texts as the tokenizer would cut them at max_tokens */
    size_t *lens, n_texts;
} fmodel;

static akidb_pooling pool_of(const char *s)
{
    static const char *names[] = { "default", "mean", "cls", "max", "mean_sqrt_len",
                                   "lasttoken" };
    for (int i = 0; i < 6; i++)
        if (strcmp(s, names[i]) == 0)
            return (akidb_pooling)i;
    AKT_FAIL_("manifest: unknown pooling '%s'", s);
}

static void read_ref(const fmodel *m, fref *r)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", m->dir, r->file);
    FILE *f = fopen(path, "rb");
    if (!f)
        AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char magic[8];
    uint32_t h[4];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "AKIDBREF", 8) != 0 ||
        fread(h, 4, 4, f) != 4 || h[0] != 1)
        AKT_FAIL_("%s: not an AKIDBREF v1 file", path);
    r->n = h[1];
    r->dim = h[2];
    r->idx = malloc(r->n * sizeof *r->idx);
    r->emb = malloc(r->n * r->dim * sizeof *r->emb);
    if (fread(r->idx, 4, r->n, f) != r->n || fread(r->emb, 4, r->n * r->dim, f) != r->n * r->dim)
        AKT_FAIL_("%s: truncated", path);
    fclose(f);
    AKT_EQ_INT(r->dim, m->dim);
}

/* ids.txt: one text per line; kept as a tokenizer truncating at max_tokens
 * keeps it: the first max_tokens - 1 ids and the last one. */
static void read_ids(fmodel *m)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/ids.txt", m->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, n = 0;
    m->ids = calloc(512, sizeof *m->ids);
    m->lens = calloc(512, sizeof *m->lens);
    while (getline(&line, &cap, f) > 0 && n < 512) {
        size_t k = 0, room = 64;
        int32_t *v = malloc(room * sizeof *v);
        for (char *p = line, *e; (e = p, strtol(p, &e, 10), e != p); p = e) {
            if (k == room)
                v = realloc(v, (room *= 2) * sizeof *v);
            v[k++] = (int32_t)strtol(p, NULL, 10);
        }
        if (!k)
            AKT_FAIL_("%s: empty line %zu", path, n);
        if (k > m->max_tokens) {
            v[m->max_tokens - 1] = v[k - 1];
            k = m->max_tokens;
        }
        m->ids[n] = v;
        m->lens[n++] = k;
    }
    free(line);
    fclose(f);
    m->n_texts = n;
}

static size_t read_manifest(const char *dir, fmodel *ms)
{
    char path[PATH_MAX + 16], line[4096];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("no family reference models: cannot open %s (%s).  The ctest fixture "
                  "families_ref_models makes them (tests/ref/make_families.py, which needs "
                  "/usr/bin/python3 with python3-torch); or set AKIDB_FAMILY_MODELS",
                  path, strerror(errno));
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *save = NULL, *kw = strtok_r(line, " ", &save), *name = strtok_r(NULL, " ", &save);
        if (!kw || kw[0] == '#' || !name)
            continue;
        if (strcmp(kw, "model") == 0) {
            AKT_TRUE(n < MAX_FMODELS);
            fmodel *m = &ms[n++];
            memset(m, 0, sizeof *m);
            snprintf(m->name, sizeof m->name, "%s", name);
            snprintf(m->dir, sizeof m->dir, "%.3000s/%.60s", dir, name);
            for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
                char *v = strchr(kv, '=');
                if (!v)
                    continue;
                *v++ = 0;
                size_t u = strtoul(v, NULL, 10);
                if (!strcmp(kv, "dim")) m->dim = u;
                else if (!strcmp(kv, "max_tokens")) m->max_tokens = u;
                else if (!strcmp(kv, "layers")) m->layers = u;
                else if (!strcmp(kv, "heads")) m->heads = u;
                else if (!strcmp(kv, "inter")) m->inter = u;
                else if (!strcmp(kv, "vocab")) m->vocab = u;
                else if (!strcmp(kv, "pooling")) m->pooling = pool_of(v);
                else if (!strcmp(kv, "normalize")) m->normalize = (int)u;
                else if (!strcmp(kv, "dtype")) snprintf(m->dtype, sizeof m->dtype, "%s", v);
            }
            read_ids(m);
        } else if (strcmp(kw, "ref") == 0) {
            fmodel *m = n ? &ms[n - 1] : NULL;
            if (!m || strcmp(m->name, name) != 0 || m->n_refs >= MAX_FREFS)
                AKT_FAIL_("%s: ref line for '%s' out of place", path, name);
            fref *r = &m->refs[m->n_refs++];
            snprintf(r->file, sizeof r->file, "%s", strtok_r(NULL, " ", &save));
            r->normalize = -1;
            for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
                char *v = strchr(kv, '=');
                if (v && (*v++ = 0, !strcmp(kv, "pooling")))
                    r->pooling = pool_of(v);
                else if (v && !strcmp(kv, "normalize"))
                    r->normalize = atoi(v);
            }
            read_ref(m, r);
        }
    }
    fclose(f);
    AKT_TRUE(n > 0);
    return n;
}

typedef struct worst {
    double cos, diff;
    size_t texts;
} worst;

/* Embeds texts rows[0..k) of the reference r in one call and compares. */
static void check_rows(const fmodel *fm, const akidb_model *m, const fref *r, const size_t *rows,
                       size_t k, int nt, const char *what, worst *w)
{
    const int32_t **ids = calloc(k, sizeof *ids);
    size_t *lens = calloc(k, sizeof *lens);
    float *out = malloc(k * fm->dim * sizeof *out);
    for (size_t j = 0; j < k; j++) {
        ids[j] = fm->ids[r->idx[rows[j]]];
        lens[j] = fm->lens[r->idx[rows[j]]];
    }
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.pooling = r->pooling;
    o.normalize = r->normalize;
    o.n_threads = nt;
    AKT_OK(ak_model_embed_ids(m, k, ids, lens, out, &o));
    for (size_t j = 0; j < k; j++) {
        const float *g = out + j * fm->dim, *e = r->emb + rows[j] * fm->dim;
        double diff = 0, scale = 1;
        for (size_t d = 0; d < fm->dim; d++) {
            diff = fabs((double)g[d] - e[d]) > diff ? fabs((double)g[d] - e[d]) : diff;
            scale = fabs((double)e[d]) > scale ? fabs((double)e[d]) : scale;
        }
        double c = akt_cosine(g, e, fm->dim);
        akt_checks++;
        if (!(c >= COS_MIN) || !(diff <= DIFF_MAX * scale))
            AKT_FAIL_("%s: text %u (%zu tokens): cosine %.9f, max |diff| %.3g (limit %.3g)",
                      what, r->idx[rows[j]], lens[j], c, diff, DIFF_MAX * scale);
        w->cos = c < w->cos ? c : w->cos;
        w->diff = diff > w->diff ? diff : w->diff;
        w->texts++;
    }
    free(ids);
    free(lens);
    free(out);
}

/* Every reference of fm on the active kernel path (quick: the first one);
 * full adds 1 thread and one text per call. */
static void check_fmodel(const fmodel *fm, int full, int quick)
{
    akidb_model *m = akt_load_ids(fm->dir, NULL);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.dim, fm->dim);
    AKT_EQ_INT(info.max_tokens, fm->max_tokens);
    AKT_EQ_INT(info.n_layers, fm->layers);
    AKT_EQ_INT(info.n_heads, fm->heads);
    AKT_EQ_INT(info.intermediate, fm->inter);
    AKT_EQ_INT(info.vocab_size, fm->vocab);
    AKT_EQ_INT(info.pooling, fm->pooling);
    AKT_EQ_INT(info.normalize, fm->normalize);
    AKT_EQ_STR(info.weights_dtype, fm->dtype);
    const char *kp = akidb_kernels_name(akidb_kernels_active());
    size_t rows[512];
    char what[256];
    for (size_t ri = 0; ri < (quick ? 1 : fm->n_refs); ri++) {
        const fref *r = &fm->refs[ri];
        for (size_t j = 0; j < r->n; j++)
            rows[j] = j;
        worst w = { 1, 0, 0 };
        snprintf(what, sizeof what, "%.63s [%.15s] %.127s, all texts, 2 threads", fm->name, kp,
                 r->file);
        check_rows(fm, m, r, rows, r->n, 2, what, &w);
        if (full && ri == 0) {
            snprintf(what, sizeof what, "%.63s [%.15s] %.127s, all texts, 1 thread", fm->name, kp,
                     r->file);
            check_rows(fm, m, r, rows, r->n, 1, what, &w);
            snprintf(what, sizeof what, "%.63s [%.15s] %.127s, one text per call", fm->name,
                     kp, r->file);
            for (size_t j = 0; j < r->n; j++)
                check_rows(fm, m, r, &rows[j], 1, 1 + (int)(j & 1), what, &w);
        }
        printf("  %-22s %-7s %-24s %5zu texts  worst cos 1-%-9.2e max|diff| %.3g\n", fm->name,
               kp, r->file + 4, w.texts, 1 - w.cos, w.diff);
    }
    akidb_model_free(m);
}

AKT_TEST(families_ref)
{
    static fmodel ms[MAX_FMODELS];
    char buf[PATH_MAX];
    const char *dir = getenv("AKIDB_FAMILY_MODELS");
    if (!dir || !*dir) {
        const char *b = getenv("AKIDB_BUILD");
        snprintf(buf, sizeof buf, "%s/ref_families", b && *b ? b : ".");
        dir = buf;
    }
    size_t n = read_manifest(dir, ms);
    size_t longest = 0, shortest = SIZE_MAX;
    const char *q = getenv("AKIDB_REF_QUICK");
    int quick = q && *q && strcmp(q, "0") != 0;
    for (size_t p = 0; p < AKT_NPATHS; p++) {
        akidb_status st = akidb_kernels_select(akt_path(p));
        if (st == AKIDB_EUNSUPPORTED) {
            printf("  kernel path %s not supported here: skipped\n",
                   akidb_kernels_name(akt_path(p)));
            continue;
        }
        AKT_OK(st);
        for (size_t i = 0; i < n; i++) {
            check_fmodel(&ms[i], p == 0 && !quick, quick);
            for (size_t t = 0; t < ms[i].n_texts; t++) {
                longest = ms[i].lens[t] > longest ? ms[i].lens[t] : longest;
                shortest = ms[i].lens[t] < shortest ? ms[i].lens[t] : shortest;
            }
        }
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    AKT_EQ_INT(shortest, 1);
    printf("  texts of %zu to %zu tokens\n", shortest, longest);
    fflush(stdout);
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < ms[i].n_refs; r++) {
            free(ms[i].refs[r].idx);
            free(ms[i].refs[r].emb);
        }
        for (size_t t = 0; t < ms[i].n_texts; t++)
            free(ms[i].ids[t]);
        free(ms[i].ids);
        free(ms[i].lens);
    }
}

AKT_MAIN(AKT_REG(lookup), AKT_REG(config_errors), AKT_REG(tensors), AKT_REG(ids_api),
         AKT_REG(reduced), AKT_REG(out_of_memory), AKT_REG(families_ref))
