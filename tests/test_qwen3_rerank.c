/*
 * test_qwen3_rerank.c - causal-LM rerankers (Qwen3-Reranker: a
 * Qwen3ForCausalLM folder scored by its LM head's "yes" / "no" logits,
 * src/model/rerank_lm.c).
 *
 *   load   which folders are causal-LM rerankers (Qwen3ForCausalLM loaded
 *          with akidb_model_opts.reranker), one output "yes", default
 *          sigmoid, raw = the log-odds of the LM head's two rows at the last
 *          token (checked against the forward's last hidden state), the
 *          instruction option, the ids-only load; needs no Python
 *   cli    `akidb rerank` loads the folder as a reranker, --instruction
 *   bad    a missing lm_head.weight when untied, a tokenizer without a
 *          "yes" token, a tokenizer whose template adds tokens, max_tokens
 *          below the prompt, an instruction for a sequence-classification
 *          model: clear errors naming what is wrong
 *   out_of_memory  every allocation of the load and the text path failed
 *          in turn: ENOMEM, never a crash or a leak
 *   ref    the models of tests/ref/make_qwen3_reranker.py ($AKIDB_QRR_MODELS,
 *          default <build>/ref_qwen3_rerank): every case through akidb_rerank
 *          (the real Qwen3 tokenizer and the card's prompt and truncation)
 *          and through the id path on the independent engine's prompt ids,
 *          raw and sigmoid scores against the float64 PyTorch reference
 *          within 1e-4, on every kernel path; skipped when the generator
 *          had no tokenizer (AKIDB_TOKREF_DIR empty)
 */
#include "akidb.h"
#include "akt.h"
#include "common/common.h"
#include "model/classify.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small model folders ------------------------------------------------------ */

enum { HID = 16, LAYERS = 1, HEADS = 2, KV = 1, HD = 8, INTER = 24, VOCAB = 12 };

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        AKT_FAIL_("fopen %s: %s", p, strerror(errno));
    fputs(text, f);
    fclose(f);
}

typedef struct tensor { char name[96]; size_t d0, d1; } tensor;

/* Qwen3ForCausalLM's tensors; lm_head.weight when with_head. */
static size_t list_tensors(tensor *t, int with_head)
{
    size_t n = 0;
#define T(nm, a, b) (snprintf(t[n].name, sizeof t[n].name, "%s", nm), t[n].d0 = (a), \
                     t[n++].d1 = (b))
    T("model.embed_tokens.weight", VOCAB, HID);
    T("model.norm.weight", HID, 0);
    for (int l = 0; l < LAYERS; l++) {
        static const struct { const char *s; size_t a, b; } lw[] = {
            { "self_attn.q_proj.weight", HEADS * HD, HID },
            { "self_attn.k_proj.weight", KV * HD, HID },
            { "self_attn.v_proj.weight", KV * HD, HID },
            { "self_attn.o_proj.weight", HID, HEADS * HD },
            { "self_attn.q_norm.weight", HD, 0 }, { "self_attn.k_norm.weight", HD, 0 },
            { "input_layernorm.weight", HID, 0 }, { "post_attention_layernorm.weight", HID, 0 },
            { "mlp.gate_proj.weight", INTER, HID }, { "mlp.up_proj.weight", INTER, HID },
            { "mlp.down_proj.weight", HID, INTER },
        };
        for (size_t k = 0; k < sizeof lw / sizeof lw[0]; k++) {
            char nm[96];
            snprintf(nm, sizeof nm, "model.layers.%d.%s", l, lw[k].s);
            T(nm, lw[k].a, lw[k].b);
        }
    }
    if (with_head)
        T("lm_head.weight", VOCAB, HID);
#undef T
    return n;
}

/* Deterministic values: gains near 1, matrices scaled by their width. */
static float value(const tensor *t, size_t ti, size_t k)
{
    uint64_t x = (ti + 1) * 0x9E3779B97F4A7C15ull ^ (k + 7) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    double u = (double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    if (!t->d1)
        return (float)(1.0 + 0.25 * u);
    return (float)(u * 1.7 / sqrt((double)t->d1));
}

static void write_weights(const char *dir, int with_head)
{
    tensor t[64];
    size_t n = list_tensors(t, with_head), off = 0, hl = 0, cap = 1 << 15;
    char *hdr = malloc(cap);
    hl += (size_t)snprintf(hdr, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        size_t bytes = t[i].d0 * (t[i].d1 ? t[i].d1 : 1) * 4;
        char shape[64];
        if (t[i].d1)
            snprintf(shape, sizeof shape, "[%zu,%zu]", t[i].d0, t[i].d1);
        else
            snprintf(shape, sizeof shape, "[%zu]", t[i].d0);
        hl += (size_t)snprintf(hdr + hl, cap - hl,
                               ",\"%s\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":"
                               "[%zu,%zu]}", t[i].name, shape, off, off + bytes);
        off += bytes;
    }
    hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
    while (hl % 8)
        hdr[hl++] = ' ';
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "wb");
    if (!f)
        AKT_FAIL_("fopen %s: %s", p, strerror(errno));
    for (int i = 0; i < 8; i++)
        fputc((int)((uint64_t)hl >> (8 * i)) & 0xff, f);
    fwrite(hdr, 1, hl, f);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < t[i].d0 * (t[i].d1 ? t[i].d1 : 1); k++) {
            float v = value(&t[i], i, k);
            fwrite(&v, 4, 1, f);
        }
    fclose(f);
    free(hdr);
}

/* A WordPiece vocabulary over whitespace words, no post-processor: the
 * template adds nothing.  vocab: the JSON object's members. */
static void write_tokenizer(const char *dir, const char *vocab)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
             "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Whitespace\"},"
             "\"post_processor\":null,\"decoder\":null,\"model\":{\"type\":\"WordPiece\","
             "\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
             "\"max_input_chars_per_word\":100,\"vocab\":{%s}}}", vocab);
    write_text(dir, "tokenizer.json", buf);
}

static const char *full_vocab =
    "\"[UNK]\":0,\"yes\":1,\"no\":2,\"<\":3,\">\":4,\":\":5,\"Query\":6,\"Document\":7,"
    "\"tides\":8,\"moon\":9,\"the\":10,\"Instruct\":11";

/* tmp/<name>: a Qwen3ForCausalLM folder, tied or with lm_head.weight
 * (with_head), the tokenizer of vocab (NULL: none). */
static const char *make_model(const char *name, int tied, int with_head, const char *vocab)
{
    static char dirs[8][PATH_MAX];
    static int slot;
    char *d = dirs[slot++ % 8], cfg[1024];
    snprintf(d, PATH_MAX, "%s/%s", akt_tmpdir("akidb_qrr_"), name);
    mkdir(d, 0700);
    snprintf(cfg, sizeof cfg,
             "{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\","
             "\"hidden_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
             "\"num_key_value_heads\":%d,\"head_dim\":%d,\"intermediate_size\":%d,"
             "\"vocab_size\":%d,\"max_position_embeddings\":512,\"rms_norm_eps\":1e-06,"
             "\"rope_theta\":1000000,\"rope_scaling\":null,\"attention_bias\":false,"
             "\"use_sliding_window\":false,\"hidden_act\":\"silu\","
             "\"tie_word_embeddings\":%s}",
             HID, LAYERS, HEADS, KV, HD, INTER, VOCAB, tied ? "true" : "false");
    write_text(d, "config.json", cfg);
    write_weights(d, with_head);
    if (vocab)
        write_tokenizer(d, vocab);
    return d;
}

static akidb_model *load(const char *dir, int reranker)
{
    akidb_model_opts mo = {0};
    mo.reranker = reranker;
    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, &mo, &m));
    return m;
}

static void expect_load_fail(const char *dir, int ids_only, akidb_status want,
                             const char *n1, const char *n2)
{
    akidb_model_opts mo = {0};
    mo.reranker = 1;
    akidb_model *m = NULL;
    AKT_STATUS(ids_only ? ak_model_load_ids(dir, &mo, &m) : akidb_model_load(dir, &mo, &m),
               want);
    AKT_TRUE(m == NULL);
    AKT_CONTAINS(akidb_last_error(), n1);
    if (n2)
        AKT_CONTAINS(akidb_last_error(), n2);
}

static float rerank1(const akidb_model *m, const char *q, const char *d,
                     akidb_rerank_activation act, const char *ins, size_t *nt)
{
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = act;
    o.instruction = ins;
    o.n_tokens = nt;
    float s = NAN;
    AKT_OK(akidb_rerank(m, q, strlen(q), &d, NULL, 1, &o, &s));
    return s;
}

/* ---- load ----------------------------------------------------------------------- */

AKT_TEST(load)
{
    const char *tied = make_model("tied", 1, 0, full_vocab);
    /* not loaded as a reranker: an embedding model like any Qwen3 folder */
    akidb_model *m = load(tied, 0);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_FALSE(akidb_model_is_reranker(m));
    AKT_EQ_INT(info.num_labels, 0);
    const char *doc = "the moon";
    float s;
    AKT_STATUS(akidb_rerank(m, "tides", 5, &doc, NULL, 1, NULL, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "not a reranker");
    akidb_model_free(m);

    m = load(tied, 1);
    akidb_model_get_info(m, &info);
    AKT_TRUE(akidb_model_is_reranker(m));
    AKT_EQ_INT(info.num_labels, 1);
    AKT_EQ_STR(akidb_model_label(m, 0), "yes");
    AKT_TRUE(akidb_model_label(m, 1) == NULL);
    AKT_EQ_INT(ak_head_max_tokens(ak_model_head(m)), 512);   /* 8192 capped by positions */
    size_t nt = 0;
    float raw = rerank1(m, "tides", doc, AKIDB_RERANK_ACT_RAW, NULL, &nt);
    float sig = rerank1(m, "tides", doc, AKIDB_RERANK_ACT_SIGMOID, NULL, NULL);
    float def = rerank1(m, "tides", doc, AKIDB_RERANK_ACT_DEFAULT, NULL, NULL);
    float soft = rerank1(m, "tides", doc, AKIDB_RERANK_ACT_SOFTMAX, NULL, NULL);
    AKT_NEAR(sig, 1.0 / (1.0 + exp(-(double)raw)), 1e-7);
    AKT_EQ_INT(def == sig, 1);
    AKT_NEAR(soft, 1.0, 0);   /* one output */
    AKT_GE(nt, 10);
    /* the instruction is part of the prompt */
    float other = rerank1(m, "tides", doc, AKIDB_RERANK_ACT_RAW, "the moon", NULL);
    AKT_TRUE(other != raw);
    AKT_NEAR(rerank1(m, "tides", doc, AKIDB_RERANK_ACT_RAW, NULL, NULL), raw, 0);

    /* raw = (yes row - no row) . the last token's final hidden state, the
     * tied rows being embed_tokens' rows 1 and 2 */
    int32_t ids[] = { 3, 11, 4, 5, 6, 8, 2, 9, 1 };
    const int32_t *pi = ids;
    size_t len = sizeof ids / sizeof ids[0];
    float h[HID], got;
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.pooling = AKIDB_POOL_LAST_TOKEN;
    eo.normalize = 0;
    AKT_OK(ak_model_embed_ids(m, 1, &pi, &len, h, &eo));
    akidb_rerank_opts ro = AKIDB_RERANK_OPTS_INIT;
    ro.activation = AKIDB_RERANK_ACT_RAW;
    AKT_OK(ak_model_rerank_ids(m, 1, &pi, NULL, &len, &ro, &got));
    tensor t[64];
    list_tensors(t, 0);
    double want = 0;
    for (size_t k = 0; k < HID; k++)
        want += ((double)value(&t[0], 0, 1 * HID + k) - value(&t[0], 0, 2 * HID + k)) * h[k];
    AKT_NEAR(got, want, 1e-5);
    akidb_model_free(m);

    /* untied: the lm_head rows, another score */
    m = load(make_model("untied", 0, 1, full_vocab), 1);
    AKT_TRUE(rerank1(m, "tides", doc, AKIDB_RERANK_ACT_RAW, NULL, NULL) != raw);
    akidb_model_free(m);

    /* loaded for ids only: the head reads the folder's tokenizer itself */
    akidb_model_opts mo = {0};
    mo.reranker = 1;
    AKT_OK(ak_model_load_ids(tied, &mo, &m));
    AKT_TRUE(akidb_model_is_reranker(m));
    AKT_OK(ak_model_rerank_ids(m, 1, &pi, NULL, &len, &ro, &s));
    AKT_NEAR(s, got, 0);
    akidb_model_free(m);
}

/* ---- the command line ---------------------------------------------------------------- */

AKT_TEST(cli)
{
    const char *bin = getenv("AKIDB_BIN");
    if (!bin || access(bin, X_OK) != 0)
        AKT_FAIL_("AKIDB_BIN (the akidb binary) is not set or not executable: '%s'",
                  bin ? bin : "");
    const char *dir = make_model("cli", 1, 0, full_vocab);
    static const char *docs[] = { "the moon", "tides tides", "no" };
    char input[PATH_MAX], cmd[PATH_MAX * 3], out[4096];
    snprintf(input, sizeof input, "%s/docs.txt", akt_tmpdir("akidb_qrr_"));
    FILE *f = fopen(input, "w");
    for (int i = 0; i < 3; i++)
        fprintf(f, "%s\n", docs[i]);
    fclose(f);
    akidb_model *m = load(dir, 1);
    float want[3];
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = AKIDB_RERANK_ACT_RAW;
    o.instruction = "the moon";
    AKT_OK(akidb_rerank(m, "tides", 5, docs, NULL, 3, &o, want));
    akidb_model_free(m);
    /* the folder is loaded as a reranker; --instruction reaches the prompt */
    snprintf(cmd, sizeof cmd, "'%s' rerank --model '%s' --query tides --activation raw "
             "--instruction 'the moon' --input '%s'", bin, dir, input);
    FILE *p = popen(cmd, "r");
    if (!p)
        AKT_FAIL_("popen %s: %s", cmd, strerror(errno));
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    AKT_EQ_INT(pclose(p), 0);
    char *q = out;
    for (int i = 0; i < 3; i++) {
        char *end;
        AKT_EQ_INT(strtol(q, &end, 10), i);
        AKT_TRUE(*end == '\t');
        float v = strtof(end + 1, &q);
        AKT_EQ_INT(memcmp(&v, &want[i], sizeof v), 0);
        AKT_TRUE(*q == '\n');
        q++;
    }
    AKT_TRUE(*q == 0);
}

/* ---- bad input -------------------------------------------------------------------- */

AKT_TEST(bad)
{
    /* untied without lm_head.weight */
    expect_load_fail(make_model("no_head", 0, 0, full_vocab), 0, AKIDB_EFORMAT,
                     "lm_head.weight", "tie_word_embeddings false");
    /* no token "yes" / "no" */
    expect_load_fail(make_model("no_yes", 1, 0, "\"[UNK]\":0,\"no\":2,\"y\":1,\"es\":3"), 0,
                     AKIDB_EFORMAT, "no single token \"yes\"", NULL);
    expect_load_fail(make_model("no_no", 1, 0, "\"[UNK]\":0,\"yes\":1"), 1, AKIDB_EFORMAT,
                     "no single token \"no\"", NULL);
    /* "yes" past the model's vocabulary */
    expect_load_fail(make_model("big_id", 1, 0, "\"[UNK]\":0,\"yes\":40,\"no\":2"), 0,
                     AKIDB_EDIM, "\"yes\" has id 40", "vocabulary of 12");
    /* a template that adds tokens to a text (BERT's [CLS] ... [SEP]) */
    const char *bert = make_model("bert_tok", 1, 0, NULL);
    write_text(bert, "tokenizer.json",
               "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
               "\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"post_processor\":{\"type\":"
               "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\","
               "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":"
               "[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\","
               "\"type_id\":1}}],\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[3],"
               "\"tokens\":[\"[CLS]\"]}}},\"decoder\":null,\"model\":{\"type\":\"WordPiece\","
               "\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
               "\"max_input_chars_per_word\":100,\"vocab\":{\"[UNK]\":0,\"yes\":1,\"no\":2,"
               "\"[CLS]\":3}}}");
    expect_load_fail(bert, 0, AKIDB_EUNSUPPORTED, "post_processor adds 1 special token",
                     "needs a tokenizer that adds none");
    /* no tokenizer at all (ids-only load: the head needs one) */
    expect_load_fail(make_model("no_tok", 1, 0, NULL), 1, AKIDB_ENOENT, "", NULL);

    /* max_tokens that leaves no room for the pair */
    akidb_model *m = load(make_model("ok", 1, 0, full_vocab), 1);
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.max_tokens = 3;
    const char *doc = "the moon";
    float s;
    AKT_STATUS(akidb_rerank(m, "tides", 5, &doc, NULL, 1, &o, &s), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "max_tokens 3 leaves no room for the pair");
    o.max_tokens = 4096;   /* over the positions */
    AKT_STATUS(akidb_rerank(m, "tides", 5, &doc, NULL, 1, &o, &s), AKIDB_EINVAL);
    akidb_model_free(m);

    /* a Qwen3ForCausalLM class on another model_type's folder */
    const char *wrong = make_model("wrong", 1, 0, full_vocab);
    write_text(wrong, "config.json",
               "{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"bert\","
               "\"hidden_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
               "\"intermediate_size\":24,\"vocab_size\":12,\"max_position_embeddings\":64}");
    akidb_model_opts mo = {0};
    mo.reranker = 1;
    m = NULL;
    AKT_TRUE(akidb_model_load(wrong, &mo, &m) != AKIDB_OK);
    AKT_TRUE(m == NULL);
}

/* ---- out of memory ------------------------------------------------------------------ */

AKT_TEST(out_of_memory)
{
    const char *dir = make_model("oom", 0, 1, full_vocab);
    static const char *docs[] = { "the moon", "tides", "" };
    akidb_model *m = load(dir, 1);
    float want[3], got[3];
    AKT_OK(akidb_rerank(m, "tides", 5, docs, NULL, 3, NULL, want));
    akidb_model_free(m);
    akidb_model_opts mo = {0};
    mo.reranker = 1;
    int done = 0;
    long i;
    for (i = 0; i < 100000 && !done; i = akt_oom_next(i)) {
        ak_alloc_fail_after(i);
        m = NULL;
        akidb_status st = akidb_model_load(dir, &mo, &m);
        if (st == AKIDB_OK) {
            st = akidb_rerank(m, "tides", 5, docs, NULL, 3, NULL, got);
            akidb_model_free(m);
            done = st == AKIDB_OK;
        }
        long inj = ak_alloc_injected_failures();
        ak_alloc_fail_after(-1);
        /* the JSON parsers report a failed allocation as bad JSON */
        int json = st == AKIDB_EFORMAT && inj > 0 && strstr(akidb_last_error(), "JSON");
        if (!done && st != AKIDB_ENOMEM && !json)
            AKT_FAIL_("fail_after(%ld): status %s (%s), want ENOMEM", i,
                      akidb_status_name(st), akidb_last_error());
    }
    AKT_TRUE(done);
    AKT_EQ_INT(memcmp(got, want, sizeof got), 0);
    fprintf(stderr, "  %ld allocation points checked (load + rerank)\n", i);
}

/* ---- the PyTorch reference ------------------------------------------------------------ */

static const akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                           AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };

/* Every case of the manifest's cases through model mj on the active path. */
static void check_model(json_t *cases, json_t *mj, int verbose)
{
    const char *dir = json_string_value(json_object_get(mj, "dir"));
    const char *name = json_string_value(json_object_get(mj, "name"));
    json_t *raw = json_object_get(mj, "raw"), *pp = json_object_get(mj, "p");
    akidb_model *m = load(dir, 1);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.num_labels, 1);
    AKT_EQ_STR(info.weights_dtype, json_string_value(json_object_get(mj, "dtype")));
    size_t n = json_array_size(cases);
    const int32_t **ids = calloc(n, sizeof *ids);
    size_t *lens = calloc(n, sizeof *lens);
    float *by_ids = calloc(n, sizeof *by_ids);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(cases, i), *iv = json_object_get(c, "ids"), *x;
        size_t k;
        int32_t *v = calloc(json_array_size(iv), sizeof *v);
        json_array_foreach(iv, k, x)
            v[k] = (int32_t)json_integer_value(x);
        ids[i] = v;
        lens[i] = json_array_size(iv);
        const char *q = json_string_value(json_object_get(c, "query"));
        const char *d = json_string_value(json_object_get(c, "doc"));
        const char *ins = json_string_value(json_object_get(c, "instruction"));
        akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
        size_t nt = 0;
        o.max_tokens = (size_t)json_integer_value(json_object_get(c, "max"));
        o.instruction = ins;
        o.n_tokens = &nt;
        float r, p;
        o.activation = AKIDB_RERANK_ACT_RAW;
        AKT_OK(akidb_rerank(m, q, strlen(q), &d, NULL, 1, &o, &r));
        AKT_EQ_INT(nt, lens[i]);   /* the card's prompt length, truncation included */
        o.activation = AKIDB_RERANK_ACT_DEFAULT;
        AKT_OK(akidb_rerank(m, q, strlen(q), &d, NULL, 1, &o, &p));
        double wr = json_real_value(json_array_get(raw, i));
        double wp = json_real_value(json_array_get(pp, i));
        AKT_NEAR(r, wr, 1e-4);
        AKT_NEAR(p, wp, 1e-4);
        worst = fmax(worst, fmax(fabs(r - wr), fabs(p - wp)));
    }
    /* the id path: every prompt in one call on 2 threads */
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = AKIDB_RERANK_ACT_RAW;
    o.n_threads = 2;
    AKT_OK(ak_model_rerank_ids(m, n, ids, NULL, lens, &o, by_ids));
    for (size_t i = 0; i < n; i++) {
        double wr = json_real_value(json_array_get(raw, i));
        AKT_NEAR(by_ids[i], wr, 1e-4);
        worst = fmax(worst, fabs(by_ids[i] - wr));
        free((void *)ids[i]);
    }
    if (verbose)
        printf("  %-16s %-7s %zu cases, max |diff| %.3g\n", name,
               akidb_kernels_name(akidb_kernels_active()), n, worst);
    free(ids);
    free(lens);
    free(by_ids);
    akidb_model_free(m);
}

AKT_TEST(ref)
{
    char buf[PATH_MAX];
    const char *b = getenv("AKIDB_BUILD"), *e = getenv("AKIDB_QRR_MODELS");
    snprintf(buf, sizeof buf, "%s/ref_qwen3_rerank", b ? b : ".");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/manifest.json", e ? e : buf);
    json_error_t je;
    json_t *man = json_load_file(path, 0, &je);
    if (!man)
        AKT_FAIL_("%s: %s (run the qwen3_rerank_ref_models_gen fixture)", path, je.text);
    json_t *cases = json_object_get(man, "cases"), *models = json_object_get(man, "models");
    if (json_array_size(models) == 0) {
        printf("  SKIP ref: AKIDB_TOKREF_DIR is empty (no real Qwen3 tokenizer)\n");
        AKT_TRUE(1);
        json_decref(man);
        return;
    }
    AKT_GE(json_array_size(cases), 6);
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        akidb_status st = akidb_kernels_select(paths[p]);
        if (st == AKIDB_EUNSUPPORTED) {
            printf("  kernel path %s not supported here: skipped\n", akidb_kernels_name(paths[p]));
            continue;
        }
        AKT_OK(st);
        for (size_t i = 0; i < json_array_size(models); i++)
            check_model(cases, json_array_get(models, i), 1);
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    json_decref(man);
}

AKT_MAIN(AKT_REG(load), AKT_REG(cli), AKT_REG(bad), AKT_REG(out_of_memory), AKT_REG(ref))
