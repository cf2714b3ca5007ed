/*
 * test_rerank.c - cross-encoder rerankers: token types through the
 * forward, the classification heads (classify.c), akidb_rerank and
 * `akidb rerank`.
 *
 * Without Python (small model folders written here):
 *   heads          config.json -> head: which architectures make a reranker,
 *                  num_labels from id2label / num_labels / the default 2,
 *                  label names, the activation_fn rules; bad configs named
 *   tensors        head tensors with and without the Hub prefix, BF16 =
 *                  F32, a missing tensor named, shapes that do not chain
 *   types          token types reach BERT's embeddings (NULL = all 0), not
 *                  RoBERTa's / DistilBERT's; out-of-range types refused;
 *                  results independent of the thread count
 *   api            akidb_rerank = the id path on the tokenizer's pair ids;
 *                  activations, truncation, options, chunks, errors naming
 *                  the document; akidb_embed on a reranker folder embeds as
 *                  the base model
 *   cli            `akidb rerank` tsv / jsonl / --sort output = the API
 *   out_of_memory  every allocation of a load + rerank failing once
 * The exactness against an independent PyTorch reference is
 * test_rerank_ref.c's.
 */
#include "akt_model.h"
#include "model/classify.h"

#include <sys/wait.h>

/* ---- small model folders ---------------------------------------------------- */

enum { H_ = 16, I_ = 32, L_ = 2, BV_ = 30522, RV_ = 300, BP_ = 64, RP_ = 40 };

#define T_(a, b, ...) AKT_TENSOR(t, n, a, b, __VA_ARGS__)

/* Tensors of family fam ('b' BERT, 'r' RoBERTa, 'd' DistilBERT) with a head
 * of labels outputs (0: none), base names under prefix pre. */
static size_t list_tensors(int fam, size_t labels, const char *pre, akt_tensor *t)
{
    size_t n = 0;
    const size_t V = fam == 'r' ? RV_ : BV_, P = fam == 'r' ? RP_ : BP_;
    T_(V, H_, "%sembeddings.word_embeddings.weight", pre);
    T_(P, H_, "%sembeddings.position_embeddings.weight", pre);
    if (fam != 'd')
        T_(fam == 'b' ? 2 : 1, H_, "%sembeddings.token_type_embeddings.weight", pre);
    T_(H_, 0, "%sembeddings.LayerNorm.weight", pre);
    T_(H_, 0, "%sembeddings.LayerNorm.bias", pre);
    static const char *dl[] = { "attention.q_lin", "attention.k_lin", "attention.v_lin",
                                "attention.out_lin", "ffn.lin1", "ffn.lin2" };
    static const char *bl[] = { "attention.self.query", "attention.self.key",
                                "attention.self.value", "attention.output.dense",
                                "intermediate.dense", "output.dense" };
    static const char *dn[] = { "sa_layer_norm", "output_layer_norm" };
    static const char *bn[] = { "attention.output.LayerNorm", "output.LayerNorm" };
    const char *lp = fam == 'd' ? "transformer.layer" : "encoder.layer";
    for (int l = 0; l < L_; l++) {
        for (int k = 0; k < 6; k++) {
            size_t o = k == 4 ? I_ : H_, in = k == 5 ? I_ : H_;
            const char *nm = fam == 'd' ? dl[k] : bl[k];
            T_(o, in, "%s%s.%d.%s.weight", pre, lp, l, nm);
            T_(o, 0, "%s%s.%d.%s.bias", pre, lp, l, nm);
        }
        for (int k = 0; k < 2; k++) {
            T_(H_, 0, "%s%s.%d.%s.weight", pre, lp, l, fam == 'd' ? dn[k] : bn[k]);
            T_(H_, 0, "%s%s.%d.%s.bias", pre, lp, l, fam == 'd' ? dn[k] : bn[k]);
        }
    }
    if (!labels)
        return n;
    if (fam == 'b') {   /* the pooler lives in the base model */
        T_(H_, H_, "%spooler.dense.weight", pre);
        T_(H_, 0, "%spooler.dense.bias", pre);
        T_(labels, H_, "classifier.weight");
        T_(labels, 0, "classifier.bias");
    } else if (fam == 'r') {
        T_(H_, H_, "classifier.dense.weight");
        T_(H_, 0, "classifier.dense.bias");
        T_(labels, H_, "classifier.out_proj.weight");
        T_(labels, 0, "classifier.out_proj.bias");
    } else {
        T_(H_, H_, "pre_classifier.weight");
        T_(H_, 0, "pre_classifier.bias");
        T_(labels, H_, "classifier.weight");
        T_(labels, 0, "classifier.bias");
    }
    return n;
}

/* Deterministic value i of tensor t (by its name without the Hub prefix,
 * so that prefixed and bare folders hold the same model), representable in
 * bf16. */
static float value(const akt_tensor *t, size_t ti, size_t i, const void *ctx)
{
    (void)ti, (void)ctx;
    static const char *pre[] = { "bert.", "roberta.", "distilbert." };
    const char *nm = t->name;
    for (int k = 0; k < 3; k++)
        if (strncmp(nm, pre[k], strlen(pre[k])) == 0)
            nm += strlen(pre[k]);
    uint64_t x = 0xcbf29ce484222325ull;
    for (const char *p = nm; *p; p++)
        x = (x ^ (unsigned char)*p) * 0x100000001b3ull;
    x ^= (i + 1) * 0xC2B2AE3D27D4EB4Full;
    float u = akt_mix_unit(x), v;
    size_t n = strlen(nm);
    if (strcmp(nm + n - 6, "weight") == 0 && strstr(nm, "orm"))
        v = 1.0f + 0.1f * u;
    else if (!t->d1)
        v = 0.1f * u;
    else if (strncmp(nm, "embeddings.", 11) == 0)
        v = 0.5f * u;
    else
        v = u * (float)(1.7 / sqrt((double)t->d1));
    return akt_bf16_trunc(v);
}

typedef struct wopts {
    size_t labels;        /* head outputs; 0: no head tensors */
    int bf16;             /* store BF16 */
    const char *prefix;   /* Hub prefix of the base model's names, or "" */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor with one row too many */
    const char *bad1;     /* tensor with one column too many */
} wopts;

static void write_weights(const char *dir, int fam, const wopts *o)
{
    static akt_tensor t[128];
    size_t n = list_tensors(fam, o->labels, o->prefix ? o->prefix : "", t);
    akt_wopts w = { .dt = o->bf16, .skip = o->skip, .bad = o->bad, .bad1 = o->bad1 };
    akt_write_weights(dir, t, n, &w, value, NULL);
}

/* config.json of family fam naming architecture arch, with extra fields
 * (a JSON fragment starting with ',' or ""). */
static const char *config_of(int fam, const char *arch, const char *extra)
{
    static char buf[4][2048];
    static int slot;
    char *b = buf[slot++ % 4];
    if (fam == 'd')
        snprintf(b, 2048,
                 "{\"architectures\":[\"%s\"],\"model_type\":\"distilbert\",\"dim\":16,"
                 "\"n_layers\":2,\"n_heads\":2,\"hidden_dim\":32,"
                 "\"max_position_embeddings\":64,\"vocab_size\":30522%s}", arch, extra);
    else if (fam == 'r')
        snprintf(b, 2048,
                 "{\"architectures\":[\"%s\"],\"model_type\":\"xlm-roberta\",\"hidden_size\":16,"
                 "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":32,"
                 "\"max_position_embeddings\":40,\"type_vocab_size\":1,\"vocab_size\":300,"
                 "\"pad_token_id\":1,\"layer_norm_eps\":1e-5%s}", arch, extra);
    else
        snprintf(b, 2048,
                 "{\"architectures\":[\"%s\"],\"model_type\":\"bert\",\"hidden_size\":16,"
                 "\"num_hidden_layers\":2,\"num_attention_heads\":2,\"intermediate_size\":32,"
                 "\"max_position_embeddings\":64,\"type_vocab_size\":2,\"vocab_size\":30522%s}",
                 arch, extra);
    return b;
}

/* Makes tmp/<name>: config text cfg, the weights (fam 0: none) and, when
 * tok, the MiniLM tokenizer files. */
static const char *make_model(const char *name, int fam, const char *cfg, const wopts *o,
                              int tok)
{
    const char *d = akt_model_dir("akidb_rr_", name, cfg);
    if (fam)
        write_weights(d, fam, o);
    if (tok)
        akt_link_minilm_tokenizer(d);
    return d;
}

static akidb_model *load(const char *dir, int tok)
{
    akidb_model *m = NULL;
    akidb_status st = tok ? akidb_model_load(dir, NULL, &m) : ak_model_load_ids(dir, NULL, &m);
    if (st != AKIDB_OK)
        AKT_FAIL_("load %s: %s: %s", dir, akidb_status_name(st), akidb_last_error());
    return m;
}

/* A few fixed pairs in BERT's ids (< 300 too, so RoBERTa takes them). */
enum { NPAIR = 6 };
static const int32_t pa[] = { 101, 5, 9, 102, 17, 250, 3, 102 }, pb[] = { 101, 102, 102 },
                     pc[] = { 101, 7, 1, 8, 102, 44, 45, 46, 47, 48, 102 },
                     pd[] = { 101, 33, 102, 34, 102 }, pe[] = { 101, 102, 60, 61, 102 },
                     pf[] = { 101, 290, 291, 292, 102, 12, 102 };
static const uint32_t ta[] = { 0, 0, 0, 0, 1, 1, 1, 1 }, tb[] = { 0, 0, 1 },
                      tc[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1 }, td[] = { 0, 0, 0, 1, 1 },
                      te[] = { 0, 0, 1, 1, 1 }, tf[] = { 0, 0, 0, 0, 0, 1, 1 };
static const int32_t *const pids[NPAIR] = { pa, pb, pc, pd, pe, pf };
static const uint32_t *const ptypes[NPAIR] = { ta, tb, tc, td, te, tf };
static const size_t plens[NPAIR] = { 8, 3, 11, 5, 5, 7 };

/* Scores of the fixed pairs (types: ptypes or NULL). */
static void score_fixed(const akidb_model *m, int typed, akidb_rerank_activation act, int nt,
                        float *out)
{
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = act;
    o.n_threads = nt;
    AKT_OK(ak_model_rerank_ids(m, NPAIR, pids, typed ? ptypes : NULL, plens, &o, out));
}

/* ---- heads: config.json -> head ------------------------------------------------ */

static const char *one_label = ",\"id2label\":{\"0\":\"LABEL_0\"},\"label2id\":{\"LABEL_0\":0}";

/* Raw, sigmoid, softmax and default scores of the fixed pairs agree. */
static void check_activations(const akidb_model *m, size_t L, akidb_rerank_activation want)
{
    float raw[NPAIR * 3], sig[NPAIR * 3], sm[NPAIR * 3], def[NPAIR * 3];
    AKT_TRUE(L <= 3);
    score_fixed(m, 1, AKIDB_RERANK_ACT_RAW, 1, raw);
    score_fixed(m, 1, AKIDB_RERANK_ACT_SIGMOID, 1, sig);
    score_fixed(m, 1, AKIDB_RERANK_ACT_SOFTMAX, 1, sm);
    score_fixed(m, 1, AKIDB_RERANK_ACT_DEFAULT, 1, def);
    for (size_t i = 0; i < NPAIR; i++) {
        double mx = raw[i * L], sum = 0;
        for (size_t l = 0; l < L; l++)
            mx = raw[i * L + l] > mx ? raw[i * L + l] : mx;
        for (size_t l = 0; l < L; l++)
            sum += exp((double)raw[i * L + l] - mx);
        for (size_t l = 0; l < L; l++) {
            size_t k = i * L + l;
            AKT_TRUE(isfinite(raw[k]));
            AKT_NEAR(sig[k], 1.0 / (1.0 + exp(-(double)raw[k])), 1e-7);
            AKT_NEAR(sm[k], exp((double)raw[k] - mx) / sum, 1e-7);
        }
    }
    const float *w = want == AKIDB_RERANK_ACT_RAW ? raw : sig;
    AKT_EQ_INT(memcmp(def, w, NPAIR * L * sizeof *def), 0);
}

static void heads_labels(void)
{
    static const struct { const char *name, *extra; size_t L; const char *l1; } ok[] = {
        { "h_nl3", ",\"num_labels\":3", 3, "LABEL_1" },
        { "h_none", "", 2, "LABEL_1" },   /* PretrainedConfig's default */
        { "h_both", ",\"num_labels\":5,\"id2label\":{\"1\":\"yes\",\"0\":\"no\"}", 2, "yes" },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        wopts o = { .labels = ok[i].L, .prefix = "bert." };
        akidb_model *m = load(make_model(ok[i].name, 'b', config_of('b',
                              "BertForSequenceClassification", ok[i].extra), &o, 0), 0);
        akidb_model_info info;
        akidb_model_get_info(m, &info);
        AKT_EQ_INT(info.num_labels, ok[i].L);
        AKT_EQ_STR(akidb_model_label(m, 1), ok[i].l1);
        AKT_TRUE(akidb_model_label(m, ok[i].L) == NULL);
        check_activations(m, ok[i].L, AKIDB_RERANK_ACT_RAW);
        akidb_model_free(m);
    }
    static const struct { const char *name, *extra, *s1, *s2; } bad[] = {
        { "h_empty", ",\"id2label\":{}", "\"id2label\" is empty", "num_labels 0" },
        { "h_nl0", ",\"num_labels\":0", "\"num_labels\"", "[1, 65536]" },
        { "h_hole", ",\"id2label\":{\"0\":\"a\",\"2\":\"b\"}", "no key \"1\"", "id2label" },
        { "h_num", ",\"id2label\":{\"0\":7}", "id2label \"0\"", "not a string" },
        { "h_arr", ",\"id2label\":[\"a\"]", "\"id2label\" is not an object", NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wopts o = { .labels = 1 };
        akt_expect_fail(make_model(bad[i].name, 'b', config_of('b', "BertForSequenceClassification",
                                                               bad[i].extra), &o, 0),
                        AKIDB_EFORMAT, bad[i].s1, bad[i].s2);
        AKT_CONTAINS(akidb_last_error(), "config.json");
    }
}

static void heads_archs(void)
{
    wopts o = { .labels = 1 }, none = { 0 };
    akt_expect_fail(make_model("h_mix", 'b', config_of('b', "XLMRobertaForSequenceClassification",
                                                       one_label), &o, 0),
                    AKIDB_EFORMAT, "'XLMRobertaForSequenceClassification' is not a class of "
                    "model_type 'bert'", NULL);
    akt_expect_fail(make_model("h_electra", 'b', config_of('b', "ElectraForSequenceClassification",
                                                           one_label), &o, 0),
                    AKIDB_EUNSUPPORTED, "'ElectraForSequenceClassification' is not supported",
                    "XLMRobertaForSequenceClassification");
    /* other heads are not rerankers; any listed class may name the head */
    akidb_model *m = load(make_model("h_mlm", 'b', config_of('b', "BertForMaskedLM", ""), &none,
                                     0), 0);
    AKT_FALSE(akidb_model_is_reranker(m));
    akidb_model_free(m);
    m = load(make_model("h_two", 'b', config_of('b', "BertModel\",\""
                                                "BertForSequenceClassification", one_label),
                        &o, 0), 0);
    AKT_TRUE(akidb_model_is_reranker(m));
    akidb_model_free(m);
}

static void heads_activation(void)
{
    static const struct { const char *name, *extra; size_t L; akidb_rerank_activation a; } c[] = {
        { "h_id", ",\"num_labels\":1,\"sentence_transformers\":{\"activation_fn\":"
          "\"torch.nn.modules.linear.Identity\",\"version\":\"4.1.0\"}", 1,
          AKIDB_RERANK_ACT_RAW },
        { "h_old", ",\"num_labels\":3,\"sbert_ce_default_activation_function\":"
          "\"torch.nn.modules.activation.Sigmoid\"", 3, AKIDB_RERANK_ACT_SIGMOID },
        { "h_short", ",\"num_labels\":1,\"sentence_transformers\":{\"activation_fn\":"
          "\"torch.nn.Identity\"}", 1,
          AKIDB_RERANK_ACT_RAW },
        /* not a torch class: CrossEncoder (without trust_remote_code) keeps its default */
        { "h_untrusted", ",\"num_labels\":1,\"sentence_transformers\":{\"activation_fn\":"
          "\"my_pkg.Act\"}", 1,
          AKIDB_RERANK_ACT_SIGMOID },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        wopts o = { .labels = c[i].L, .prefix = "bert." };
        akidb_model *m = load(make_model(c[i].name, 'b', config_of('b',
                              "BertForSequenceClassification", c[i].extra), &o, 0), 0);
        check_activations(m, c[i].L, c[i].a);
        akidb_model_free(m);
    }
    /* a torch activation not implemented: refused when the default is used */
    wopts o = { .labels = 1 };
    akidb_model *m = load(make_model("h_tanh", 'b', config_of('b',
                          "BertForSequenceClassification", ",\"num_labels\":1,"
                          "\"sentence_transformers\":{\"activation_fn\":"
                          "\"torch.nn.modules.activation.Tanh\"}"), &o, 0), 0);
    float s[NPAIR];
    akidb_rerank_opts ro = AKIDB_RERANK_OPTS_INIT;
    AKT_STATUS(ak_model_rerank_ids(m, NPAIR, pids, ptypes, plens, &ro, s), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "torch.nn.modules.activation.Tanh");
    score_fixed(m, 1, AKIDB_RERANK_ACT_RAW, 1, s);
    akidb_model_free(m);
    akt_expect_fail(make_model("h_actnum", 'b', config_of('b', "BertForSequenceClassification",
                               ",\"sentence_transformers\":{\"activation_fn\":7}"), &o, 0),
                    AKIDB_EFORMAT, "activation_fn", NULL);

    akidb_rerank_activation a;
    for (int k = 0; k <= AKIDB_RERANK_ACT_SOFTMAX; k++) {
        AKT_OK(akidb_rerank_activation_parse(
            akidb_rerank_activation_name((akidb_rerank_activation)k), &a));
        AKT_EQ_INT(a, k);
    }
    AKT_STATUS(akidb_rerank_activation_parse("relu", &a), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "'relu'");
}

AKT_TEST(heads)
{
    wopts o = { .labels = 1, .prefix = "bert." };
    akidb_model *m = load(make_model("h_b1", 'b', config_of('b',
                          "BertForSequenceClassification", one_label), &o, 0), 0);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.num_labels, 1);
    AKT_EQ_INT(info.dim, H_);
    AKT_TRUE(akidb_model_is_reranker(m));
    AKT_EQ_STR(akidb_model_label(m, 0), "LABEL_0");
    AKT_TRUE(akidb_model_label(m, 1) == NULL);
    check_activations(m, 1, AKIDB_RERANK_ACT_SIGMOID);   /* one label: sigmoid */
    akidb_model_free(m);

    /* an embedding model has no head: akidb_rerank says so */
    wopts e = { 0 };
    m = load(make_model("h_emb", 'b', config_of('b', "BertModel", ""), &e, 1), 1);
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.num_labels, 0);
    AKT_FALSE(akidb_model_is_reranker(m));
    AKT_TRUE(akidb_model_label(m, 0) == NULL);
    const char *docs[1] = { "x" };
    float s[NPAIR];
    AKT_STATUS(akidb_rerank(m, "q", 1, docs, NULL, 1, NULL, s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "h_emb is not a reranker");
    AKT_CONTAINS(akidb_last_error(), "ForSequenceClassification");
    AKT_STATUS(ak_model_rerank_ids(m, NPAIR, pids, ptypes, plens, NULL, s), AKIDB_EINVAL);
    akidb_model_free(m);

    heads_labels();
    heads_archs();
    heads_activation();
}

/* ---- tensors ------------------------------------------------------------------- */

AKT_TEST(tensors)
{
    static const struct {
        int fam;
        const char *arch, *prefix, *w1, *b2, *w2, *cfg_w1;
    } fams[] = {
        { 'b', "BertForSequenceClassification", "bert.", "bert.pooler.dense.weight",
          "classifier.bias", "classifier.weight", "pooler.dense.weight" },
        { 'r', "XLMRobertaForSequenceClassification", "roberta.", "classifier.dense.weight",
          "classifier.out_proj.bias", "classifier.out_proj.weight", "classifier.dense.weight" },
        { 'd', "DistilBertForSequenceClassification", "distilbert.", "pre_classifier.weight",
          "classifier.bias", "classifier.weight", "pre_classifier.weight" },
    };
    for (int k = 0; k < 3; k++) {
        const int fam = fams[k].fam;
        const char *cfg = config_of(fam, fams[k].arch, ",\"num_labels\":2");
        wopts o = { .labels = 2 };
        akidb_model *ref = load(make_model("t_plain", fam, cfg, &o, 0), 0);
        float r[NPAIR * 2], x[NPAIR * 2];
        score_fixed(ref, 1, AKIDB_RERANK_ACT_RAW, 1, r);
        akidb_model_free(ref);
        const wopts v[] = { { .labels = 2, .prefix = fams[k].prefix }, { .labels = 2, .bf16 = 1 },
                            { .labels = 2, .bf16 = 1, .prefix = fams[k].prefix } };
        for (int i = 0; i < 3; i++) {
            akidb_model *m = load(make_model("t_var", fam, cfg, &v[i], 0), 0);
            score_fixed(m, 1, AKIDB_RERANK_ACT_RAW, 2, x);
            if (memcmp(r, x, sizeof r) != 0)
                AKT_FAIL_("%s variant %d differs from the plain F32 model", fams[k].arch, i);
            akidb_model_free(m);
        }
        /* a missing head tensor is named, with the class */
        o.prefix = fams[k].prefix;
        o.skip = fams[k].w1;
        akt_expect_fail(make_model("t_miss", fam, cfg, &o, 0), AKIDB_EFORMAT, fams[k].cfg_w1,
                        fams[k].arch);
        o.skip = fams[k].b2;
        akt_expect_fail(make_model("t_miss2", fam, cfg, &o, 0), AKIDB_EFORMAT, fams[k].b2,
                        "weights lack tensor");
        o.skip = NULL;
        /* shapes that do not chain: the output layer's input is not the
         * dense's output, the dense's input is not the hidden size, or the
         * outputs are not num_labels */
        o.bad1 = fams[k].w2;
        akt_expect_fail(make_model("t_chain", fam, cfg, &o, 0), AKIDB_EDIM, fams[k].w2, "[2, 17]");
        AKT_CONTAINS(akidb_last_error(), "implies [2, 16]");
        o.bad1 = fams[k].w1;
        akt_expect_fail(make_model("t_chain1", fam, cfg, &o, 0), AKIDB_EDIM, fams[k].w1, "[16, 17]");
        o.bad1 = NULL;
        o.bad = fams[k].w2;
        akt_expect_fail(make_model("t_labels", fam, cfg, &o, 0), AKIDB_EDIM, fams[k].w2, "[3, 16]");
        o.bad = NULL;
        /* no head tensors at all */
        o.labels = 0;
        akt_expect_fail(make_model("t_nohead", fam, cfg, &o, 0), AKIDB_EFORMAT, fams[k].cfg_w1,
                        fams[k].arch);
    }
}

/* ---- token types ------------------------------------------------------------------ */

/* The fixed pairs repeated reps times (rows of n = NPAIR * reps). */
static void many_pairs(size_t reps, const int32_t **ids, const uint32_t **types, size_t *lens)
{
    for (size_t i = 0; i < NPAIR * reps; i++) {
        ids[i] = pids[i % NPAIR];
        types[i] = ptypes[i % NPAIR];
        lens[i] = plens[i % NPAIR];
    }
}

static void types_bert(void)
{
    wopts o = { .labels = 1, .prefix = "bert." };
    akidb_model *m = load(make_model("y_b", 'b', config_of('b', "BertForSequenceClassification",
                                                           one_label), &o, 0), 0);
    float typed[NPAIR], untyped[NPAIR], zeros[NPAIR], x[NPAIR];
    score_fixed(m, 1, AKIDB_RERANK_ACT_RAW, 1, typed);
    score_fixed(m, 0, AKIDB_RERANK_ACT_RAW, 1, untyped);
    static const uint32_t z[16];
    const uint32_t *zt[NPAIR] = { z, z, z, z, z, z };
    akidb_rerank_opts ro = AKIDB_RERANK_OPTS_INIT;
    ro.activation = AKIDB_RERANK_ACT_RAW;
    AKT_OK(ak_model_rerank_ids(m, NPAIR, pids, zt, plens, &ro, zeros));
    AKT_EQ_INT(memcmp(zeros, untyped, sizeof zeros), 0);   /* NULL = all 0 */
    for (int i = 0; i < NPAIR; i++)                      /* the passage's type 1 counts */
        if (!(fabs((double)typed[i] - untyped[i]) > 1e-5))
            AKT_FAIL_("pair %d: token types change nothing (%g vs %g)", i, typed[i], untyped[i]);
    for (int nt = 2; nt <= 3; nt++) {
        score_fixed(m, 1, AKIDB_RERANK_ACT_RAW, nt, x);
        AKT_EQ_INT(memcmp(x, typed, sizeof x), 0);
    }
    /* many pairs: threads split the pairs (data-parallel), same bits */
    enum { REPS = 8 };
    const int32_t *ids[NPAIR * REPS];
    const uint32_t *types[NPAIR * REPS];
    size_t lens[NPAIR * REPS], ntok = 0;
    float a[NPAIR * REPS], b[NPAIR * REPS];
    many_pairs(REPS, ids, types, lens);
    ro.n_tokens = &ntok;
    AKT_OK(ak_model_rerank_ids(m, NPAIR * REPS, ids, types, lens, &ro, a));
    AKT_EQ_INT(ntok, 39 * REPS);
    ro.n_threads = 2;
    AKT_OK(ak_model_rerank_ids(m, NPAIR * REPS, ids, types, lens, &ro, b));
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    AKT_EQ_INT(memcmp(a, typed, sizeof typed), 0);
    /* the embedding path: zero types are no types */
    float e1[NPAIR * H_], e2[NPAIR * H_];
    AKT_OK(ak_model_embed_ids(m, NPAIR, pids, plens, e1, NULL));
    AKT_OK(ak_model_embed_ids_typed(m, NPAIR, pids, zt, plens, e2, NULL));
    AKT_EQ_INT(memcmp(e1, e2, sizeof e1), 0);
    /* a type past the table */
    static const uint32_t two[] = { 0, 0, 2 };
    const uint32_t *bad[NPAIR] = { ta, two, tc, td, te, tf };
    AKT_STATUS(ak_model_rerank_ids(m, NPAIR, pids, bad, plens, &ro, a), AKIDB_EDIM);
    AKT_CONTAINS(akidb_last_error(), "text 1: token type 2");
    AKT_CONTAINS(akidb_last_error(), "type_vocab_size");
    AKT_EQ_INT(ntok, 0);
    akidb_model_free(m);
}

AKT_TEST(types)
{
    types_bert();
    /* RoBERTa / DistilBERT: their tokenizers return no token_type_ids, so
     * the pair's types do not reach the model; an explicit type past their
     * table (1 row, none) is refused */
    static const struct { int fam; const char *arch, *msg; } f[] = {
        { 'r', "XLMRobertaForSequenceClassification", "model's 1 token type " },
        { 'd', "DistilBertForSequenceClassification", "model's 1 token type " },
    };
    for (int k = 0; k < 2; k++) {
        wopts o = { .labels = 1 };
        akidb_model *m = load(make_model("y_o", f[k].fam, config_of(f[k].fam, f[k].arch,
                                                                    one_label), &o, 0), 0);
        float a[NPAIR], b[NPAIR], e[NPAIR * H_];
        score_fixed(m, 1, AKIDB_RERANK_ACT_RAW, 1, a);
        score_fixed(m, 0, AKIDB_RERANK_ACT_RAW, 2, b);
        AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
        AKT_STATUS(ak_model_embed_ids_typed(m, NPAIR, pids, ptypes, plens, e, NULL),
                   AKIDB_EDIM);
        AKT_CONTAINS(akidb_last_error(), f[k].msg);
        akidb_model_free(m);
    }
}

/* ---- the text API ------------------------------------------------------------------ */

enum { NDOC = 5 };
static const char *query = "what is the capital of france?";
static const char *docs5[NDOC] = {
    "Paris is the capital and most populous city of France.",
    "",
    "a rather longer passage that runs past the sixty-four positions of this tiny model, so "
    "the pair is cut as the tokenizer cuts it: longest first, the passage losing its tail "
    "one word after another: one two three four five six seven eight nine ten eleven",
    "東京タワー, Ñandú café — naïve résumé",
    "   Lots\tof   WHITESPACE,,, punctuation!!!   ",
};

/* Scores of docs one by one through the id path on the tokenizer's pairs
 * (max ids, strategy how); returns the tokens. */
static size_t expected(const akidb_model *m, const char *const *docs, size_t n, size_t max,
                       akidb_truncation how, akidb_rerank_activation act, float *out)
{
    const akidb_tokenizer *tok = akidb_model_tokenizer(m);
    size_t L = 0, total = 0;
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    L = info.num_labels;
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = act;
    akidb_tokens tk = { 0 };
    for (size_t i = 0; i < n; i++) {
        AKT_OK(akidb_tokenizer_encode_pair(tok, query, strlen(query), docs[i], strlen(docs[i]),
                                           max, how, &tk));
        const int32_t *ids[1] = { tk.ids };
        const uint32_t *types[1] = { tk.type_ids };
        AKT_OK(ak_model_rerank_ids(m, 1, ids, types, &tk.n, &o, out + i * L));
        total += tk.n;
    }
    akidb_tokens_free(&tk);
    return total;
}

static void api_options(const akidb_model *m)
{
    float s[NDOC], e[NDOC];
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = AKIDB_RERANK_ACT_RAW;
    /* a shorter limit, and the only_* strategies */
    o.max_tokens = 16;
    AKT_OK(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &o, s));
    expected(m, docs5, NDOC, 16, AKIDB_TRUNC_LONGEST_FIRST, AKIDB_RERANK_ACT_RAW, e);
    AKT_EQ_INT(memcmp(s, e, sizeof s), 0);
    o.truncation = AKIDB_TRUNC_ONLY_SECOND;
    const char *two[2] = { docs5[2], docs5[0] };
    AKT_OK(akidb_rerank(m, query, strlen(query), two, NULL, 2, &o, s));
    expected(m, two, 2, 16, AKIDB_TRUNC_ONLY_SECOND, AKIDB_RERANK_ACT_RAW, e);
    AKT_EQ_INT(memcmp(s, e, 2 * sizeof *s), 0);
    /* 13 pieces fill the budget of 16 - 3 specials: "" fits, "a" cannot be cut */
    const char *q13 = "one two three four five six seven eight nine ten eleven twelve thirteen";
    const char *short2[2] = { "", "a" };
    AKT_STATUS(akidb_rerank(m, q13, strlen(q13), short2, NULL, 2, &o, s), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "document 1");
    o.truncation = AKIDB_TRUNC_ONLY_FIRST;
    AKT_STATUS(akidb_rerank(m, "", 0, docs5, NULL, NDOC, &o, s), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "document 2");
    /* bad options */
    o = (akidb_rerank_opts)AKIDB_RERANK_OPTS_INIT;
    o.max_tokens = 65;
    AKT_STATUS(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &o, s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "max_tokens 65 exceeds the model's limit of 64");
    o.max_tokens = 2;
    AKT_STATUS(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &o, s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "document 0");
    o.max_tokens = 0;
    o.activation = (akidb_rerank_activation)9;
    AKT_STATUS(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &o, s), AKIDB_EINVAL);
    o.activation = AKIDB_RERANK_ACT_RAW;
    o.truncation = (akidb_truncation)7;
    AKT_STATUS(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &o, s), AKIDB_EINVAL);
    /* invalid UTF-8 names its document */
    const char *bad[2] = { "fine", "caf\xc3" };
    AKT_STATUS(akidb_rerank(m, query, strlen(query), bad, NULL, 2, NULL, s), AKIDB_EUTF8);
    AKT_CONTAINS(akidb_last_error(), "document 1");
    /* no documents */
    size_t ntok = 7;
    o = (akidb_rerank_opts)AKIDB_RERANK_OPTS_INIT;
    o.n_tokens = &ntok;
    AKT_OK(akidb_rerank(m, query, strlen(query), NULL, NULL, 0, &o, NULL));
    AKT_EQ_INT(ntok, 0);
}

/* More documents than one chunk: each score is the one it gets alone. */
static void api_chunks(const akidb_model *m)
{
    enum { N = 300 };
    static char text[N][48];
    const char *docs[N];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "passage %d about %s", i, i % 3 ? "paris" : "tokyo");
        docs[i] = text[i];
    }
    static float all[N];
    float one;
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.n_threads = 2;
    AKT_OK(akidb_rerank(m, query, strlen(query), docs, NULL, N, &o, all));
    static const int pick[] = { 0, 1, 255, 256, 299 };
    for (size_t k = 0; k < sizeof pick / sizeof pick[0]; k++) {
        AKT_OK(akidb_rerank(m, query, strlen(query), &docs[pick[k]], NULL, 1, NULL, &one));
        AKT_EQ_INT(memcmp(&one, &all[pick[k]], sizeof one), 0);
    }
}

AKT_TEST(api)
{
    wopts o = { .labels = 1, .prefix = "bert." };
    const char *dir = make_model("a_b", 'b', config_of('b', "BertForSequenceClassification",
                                                       one_label), &o, 1);
    akidb_model *m = load(dir, 1);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.max_tokens, 64);
    float s[NDOC], e[NDOC], x[NDOC];
    size_t ntok = 0, lens[NDOC];
    akidb_rerank_opts ro = AKIDB_RERANK_OPTS_INIT;
    ro.n_tokens = &ntok;
    AKT_OK(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &ro, s));
    size_t total = expected(m, docs5, NDOC, 64, AKIDB_TRUNC_LONGEST_FIRST,
                            AKIDB_RERANK_ACT_SIGMOID, e);
    AKT_EQ_INT(memcmp(s, e, sizeof s), 0);   /* default: sigmoid, 64 tokens, longest_first */
    AKT_EQ_INT(ntok, total);
    for (int i = 0; i < NDOC; i++) {
        AKT_TRUE(s[i] > 0 && s[i] < 1);
        lens[i] = strlen(docs5[i]);
    }
    ro.n_threads = 2;
    AKT_OK(akidb_rerank(m, query, strlen(query), docs5, lens, NDOC, &ro, x));
    AKT_EQ_INT(memcmp(s, x, sizeof s), 0);
    /* an instruction is for causal-LM rerankers only */
    akidb_rerank_opts ri = AKIDB_RERANK_OPTS_INIT;
    ri.instruction = "Given a query, find the passage";
    AKT_STATUS(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &ri, x), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "instruction option is for causal-LM rerankers");
    /* loaded as a reranker: the same sequence-classification head */
    akidb_model_opts mr = { .reranker = 1 };
    akidb_model *mm = NULL;
    AKT_OK(akidb_model_load(dir, &mr, &mm));
    AKT_OK(akidb_rerank(mm, query, strlen(query), docs5, NULL, NDOC, NULL, x));
    AKT_EQ_INT(memcmp(s, x, sizeof s), 0);
    akidb_model_free(mm);
    api_options(m);
    api_chunks(m);
    /* the reduced-precision modes score through the same path */
    float raw[NDOC], red[NDOC];
    akidb_rerank_opts rr = AKIDB_RERANK_OPTS_INIT;
    rr.activation = AKIDB_RERANK_ACT_RAW;
    AKT_OK(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &rr, raw));
    static const char *dt[] = { "bf16", "int8" };
    for (int d = 0; d < 2; d++) {
        akidb_model_opts mo = { .dtype = dt[d] };
        akidb_model *q = NULL;
        AKT_OK(akidb_model_load(dir, &mo, &q));
        AKT_OK(akidb_rerank(q, query, strlen(query), docs5, NULL, NDOC, &rr, red));
        double worst = 0;
        for (int i = 0; i < NDOC; i++)
            worst = fmax(worst, fabs((double)red[i] - raw[i]));
        fprintf(stderr, "  %s: worst |logit - f32 logit| %.2g\n", dt[d], worst);
        AKT_LE(worst, 0.05);
        akidb_model_free(q);
    }

    /* the reranker folder still embeds, as its base model does */
    const char *texts[3] = { query, docs5[0], docs5[2] };
    float ea[3 * H_], eb[3 * H_];
    AKT_OK(akidb_embed(m, texts, NULL, 3, ea, NULL));
    akidb_model_free(m);
    wopts base = { .prefix = "bert." };
    m = load(make_model("a_base", 'b', config_of('b', "BertModel", ""), &base, 1), 1);
    AKT_OK(akidb_embed(m, texts, NULL, 3, eb, NULL));
    AKT_EQ_INT(memcmp(ea, eb, sizeof ea), 0);
    akidb_model_free(m);
    /* loaded without its tokenizer: ids only */
    m = load(make_model("a_ids", 'b', config_of('b', "BertForSequenceClassification",
                                                one_label), &o, 0), 0);
    AKT_STATUS(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, NULL, s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "tokenizer");
    akidb_model_free(m);
}

/* ---- the command line ------------------------------------------------------------- */

/* Runs cmd, its stdout into out (cap bytes); returns the exit status. */
static int run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        AKT_FAIL_("popen %s: %s", cmd, strerror(errno));
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

AKT_TEST(cli)
{
    const char *bin = getenv("AKIDB_BIN");
    if (!bin || access(bin, X_OK) != 0)
        AKT_FAIL_("AKIDB_BIN (the akidb binary) is not set or not executable: '%s'",
                  bin ? bin : "");
    wopts o = { .labels = 1, .prefix = "bert." };
    const char *dir = make_model("c_b", 'b', config_of('b', "BertForSequenceClassification",
                                                       one_label), &o, 1);
    char input[PATH_MAX], cmd[PATH_MAX * 3];
    snprintf(input, sizeof input, "%s/docs.txt", akt_tmpdir("akidb_rr_"));
    FILE *f = fopen(input, "w");
    for (int i = 0; i < NDOC; i++)
        fprintf(f, "%s\n", docs5[i]);
    fclose(f);
    akidb_model *m = load(dir, 1);
    float s[NDOC];
    AKT_OK(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, NULL, s));
    akidb_model_free(m);

    static char out[1 << 16];
    snprintf(cmd, sizeof cmd, "'%s' rerank --model '%s' --query '%s' --input '%s'", bin, dir,
             query, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 0);
    char *p = out;
    for (int i = 0; i < NDOC; i++) {   /* tsv, input order */
        char *end;
        AKT_EQ_INT(strtol(p, &end, 10), i);
        AKT_TRUE(*end == '\t');
        float v = strtof(end + 1, &p);
        AKT_EQ_INT(memcmp(&v, &s[i], sizeof v), 0);
        AKT_TRUE(*p == '\n');
        p++;
    }
    AKT_TRUE(*p == 0);
    snprintf(cmd, sizeof cmd, "'%s' rerank --model '%s' --query '%s' --format jsonl --sort "
             "--threads 2 < '%s'", bin, dir, query, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 0);
    p = out;
    float prev = 2;
    int seen = 0;
    for (int r = 0; r < NDOC; r++) {   /* jsonl, by decreasing score */
        int idx = -1, used = 0;
        float v = 0;
        if (sscanf(p, "{\"index\":%d,\"score\":%g}\n%n", &idx, &v, &used) != 2 || !used)
            AKT_FAIL_("bad jsonl line: %.80s", p);
        AKT_TRUE(idx >= 0 && idx < NDOC && !(seen & (1 << idx)));
        seen |= 1 << idx;
        AKT_EQ_INT(memcmp(&v, &s[idx], sizeof v), 0);
        AKT_TRUE(v <= prev);
        prev = v;
        p += used;
    }
    AKT_TRUE(*p == 0);
    /* three labels: a score column each; no single order to sort by */
    wopts o3 = { .labels = 3 };
    const char *d3 = make_model("c_d", 'd', config_of('d', "DistilBertForSequenceClassification",
                                                      ",\"num_labels\":3"), &o3, 1);
    snprintf(cmd, sizeof cmd, "'%s' rerank --model '%s' --query q --format jsonl < '%s'", bin,
             d3, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 0);
    AKT_TRUE(strncmp(out, "{\"index\":0,\"scores\":[", 21) == 0);
    snprintf(cmd, sizeof cmd, "'%s' rerank --model '%s' --query q --sort < '%s' 2>/dev/null",
             bin, d3, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 2);
    /* an embedding model, a bad flag */
    wopts e = { 0 };
    const char *de = make_model("c_e", 'b', config_of('b', "BertModel", ""), &e, 1);
    snprintf(cmd, sizeof cmd, "'%s' rerank --model '%s' --query q < '%s' 2>&1", bin, de, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 1);
    AKT_CONTAINS(out, "is not a reranker");
    snprintf(cmd, sizeof cmd, "'%s' rerank --model '%s' --query q --activation relu 2>&1", bin,
             dir);
    AKT_EQ_INT(run(cmd, out, sizeof out), 2);
    AKT_CONTAINS(out, "--activation");
}

/* ---- out of memory ------------------------------------------------------------------ */

/* jansson reports some allocation failures as syntax errors (common/misc.c):
 * once the tokenizer has hooked its allocator, a config.json that fails to
 * parse under an injected failure is one. */
static int json_oom(akidb_status st, long injected)
{
    return st == AKIDB_EFORMAT && injected > 0 && strstr(akidb_last_error(), "JSON") != NULL;
}

/* One load of the model and a rerank_ids call. */
typedef struct oom_rerank {
    const char *dir;
    const akidb_rerank_opts *ro;
    float *out;
} oom_rerank;

static akidb_status oom_rerank_ids(void *ctx)
{
    const oom_rerank *c = ctx;
    akidb_model *m = NULL;
    akidb_status st = ak_model_load_ids(c->dir, NULL, &m);
    if (st == AKIDB_OK) {
        st = ak_model_rerank_ids(m, NPAIR, pids, ptypes, plens, c->ro, c->out);
        akidb_model_free(m);
    }
    return st;
}

/* One akidb_rerank call of the loaded model. */
typedef struct oom_text {
    const akidb_model *m;
    const akidb_rerank_opts *ro;
    float *out;
} oom_text;

static akidb_status oom_rerank_text(void *ctx)
{
    const oom_text *c = ctx;
    return akidb_rerank(c->m, query, strlen(query), docs5, NULL, NDOC, c->ro, c->out);
}

AKT_TEST(out_of_memory)
{
    /* RoBERTa's vocabulary of 300: a small load per step; BF16: converted
     * copies, more allocations to fail */
    wopts o = { .labels = 2, .bf16 = 1, .prefix = "roberta." };
    const char *dir = make_model("m_r", 'r', config_of('r', "XLMRobertaForSequenceClassification",
                                                       ",\"num_labels\":2"), &o, 0);
    akidb_rerank_opts ro = AKIDB_RERANK_OPTS_INIT;
    ro.n_threads = 2;
    akidb_model *m = load(dir, 0);
    float want[NPAIR * 2], x[NPAIR * 2];
    AKT_OK(ak_model_rerank_ids(m, NPAIR, pids, ptypes, plens, &ro, want));
    akidb_model_free(m);
    oom_rerank c = { dir, &ro, x };
    long i = akt_oom_loop(oom_rerank_ids, &c, json_oom, 1);
    AKT_EQ_INT(memcmp(x, want, sizeof x), 0);
    fprintf(stderr, "  %ld allocation points checked (load + rerank_ids)\n", i);

    /* the text path's own allocations, the model loaded once */
    wopts t = { .labels = 1, .prefix = "bert." };
    m = load(make_model("m_t", 'b', config_of('b', "BertForSequenceClassification", one_label),
                        &t, 1), 1);
    float a[NDOC], b[NDOC];
    AKT_OK(akidb_rerank(m, query, strlen(query), docs5, NULL, NDOC, &ro, a));
    oom_text ct = { m, &ro, b };
    i = akt_oom_loop(oom_rerank_text, &ct, NULL, 0);
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    fprintf(stderr, "  %ld allocation points checked (akidb_rerank)\n", i);
    akidb_model_free(m);
}

AKT_MAIN(AKT_REG(heads), AKT_REG(tensors), AKT_REG(types), AKT_REG(api), AKT_REG(cli),
         AKT_REG(out_of_memory))
