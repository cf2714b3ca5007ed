/*
 * test_rerank_families.c - the sequence-classification heads of the newer
 * encoder families (ModernBERT, MPNet, GTE "new", NomicBERT; classify.c)
 * and causal-LM rerankers marked by a CrossEncoder's LogitScore module
 * (rerank_lm.c), on the folders of tests/ref/make_rerank_families.py
 * ($AKIDB_RERANK_MODELS, default <build>/ref_rerank_families) and edited
 * copies of them:
 *
 *   heads          each folder loads as a reranker: num_labels and label
 *                  names, token types fed or not, the row the head reads
 *                  (ModernBERT's classifier_pooling), the default activation
 *   config         ModernBERT's classifier_pooling / classifier_activation /
 *                  classifier_bias refused with the field named; a class of
 *                  another model_type; the pooling and the activation change
 *                  the scores
 *   tensors        a missing head tensor names the tensor and the class; a
 *                  head tensor whose shape does not chain names the tensor
 *                  and both shapes; each family
 *   logit_score    a LogitScore folder is a causal-LM reranker without the
 *                  reranker load option, scores with the module's token ids
 *                  (swapped: negated), its activation_fn; bad module configs
 *                  named
 *   qwen3_pad      Qwen3ForSequenceClassification's pad_token_id refused when
 *                  out of range; trailing pad ids dropped, as transformers'
 *                  last non-pad row makes them irrelevant
 *   module_names   modules.json as each sentence-transformers version names
 *                  its classes: a classifier listing its Transformer alone
 *                  scores as without modules.json, a non-classifier so
 *                  listed is refused; CausalScoreHead / LogitScore under
 *                  each path; a class of another package refused
 *   out_of_memory  every allocation of a load and a rerank failing once
 * The exactness against the float64 PyTorch reference is
 * test_rerank_families_ref's (test_rerank_ref's checker over the same
 * folders).
 */
#include "akt_model.h"
#include "model/classify.h"

#include <dirent.h>
#include <jansson.h>

/* ---- the generated folders and edited copies ------------------------------------ */

static const char *models_dir(void)
{
    static char buf[PATH_MAX];
    const char *e = getenv("AKIDB_RERANK_MODELS");
    if (e && *e)
        return e;
    const char *b = getenv("AKIDB_BUILD");
    snprintf(buf, sizeof buf, "%s/ref_rerank_families", b && *b ? b : ".");
    return buf;
}

static const char *src_of(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int slot;
    char *d = bufs[slot++ % 4];
    snprintf(d, PATH_MAX, "%.3000s/%.200s", models_dir(), name);
    struct stat sb;
    if (stat(d, &sb) != 0)
        AKT_FAIL_("no reference reranker %s (%s): the ctest fixture "
                  "rerank_families_ref_models makes them (tests/ref/make_rerank_families.py, "
                  "/usr/bin/python3 with python3-torch); or set AKIDB_RERANK_MODELS", d,
                  strerror(errno));
    return d;
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    if (!a || !b)
        AKT_FAIL_("copy %s -> %s: %s", from, to, strerror(errno));
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
}

/* Copies the files of from (and of its subfolders, one level) into to. */
static void copy_tree(const char *from, const char *to, int depth)
{
    mkdir(to, 0700);
    DIR *dp = opendir(from);
    if (!dp)
        AKT_FAIL_("opendir %s: %s", from, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char a[PATH_MAX * 2], b[PATH_MAX * 2];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        struct stat sb;
        if (stat(a, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            if (depth > 0)
                copy_tree(a, b, depth - 1);
        } else {
            copy_file(a, b);
        }
    }
    closedir(dp);
}

/* tmp/<tag>: a copy of the generated folder name. */
static const char *copy_model(const char *name, const char *tag)
{
    static char dirs[8][PATH_MAX];
    static int slot;
    char *d = dirs[slot++ % 8];
    snprintf(d, PATH_MAX, "%s/%s", akt_tmpdir("akidb_rrf_"), tag);
    copy_tree(src_of(name), d, 1);
    return d;
}

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        AKT_FAIL_("%s: %s", path, e.text);
    return j;
}

/* Sets (v not NULL) or deletes member key of the JSON object in dir/file. */
static void json_edit(const char *dir, const char *file, const char *key, json_t *v)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    json_t *j = load_json(p);
    if (v)
        json_object_set_new(j, key, v);
    else
        json_object_del(j, key);
    if (json_dump_file(j, p, JSON_INDENT(1)) != 0)
        AKT_FAIL_("cannot write %s", p);
    json_decref(j);
}

static void cfg_set(const char *dir, const char *key, json_t *v)
{
    json_edit(dir, "config.json", key, v);
}

/* Rewrites the header of dir/model.safetensors: tensor name renamed to
 * rename (if not NULL; its data stays where it is) and / or given the shape
 * [d0, d1] (d0 not 0; the same number of elements). */
static void st_edit(const char *dir, const char *name, const char *rename, size_t d0, size_t d1)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "rb");
    if (!f)
        AKT_FAIL_("fopen %s: %s", p, strerror(errno));
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(size);
    AKT_TRUE(fread(buf, 1, size, f) == size);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | buf[i];
    json_error_t e;
    json_t *h = json_loadb((const char *)buf + 8, (size_t)hl, 0, &e);
    json_t *t = h ? json_object_get(h, name) : NULL;
    if (!t)
        AKT_FAIL_("%s: no tensor %s to edit", p, name);
    json_incref(t);
    if (d0)
        json_object_set_new(t, "shape", json_pack("[II]", (json_int_t)d0, (json_int_t)d1));
    if (rename) {
        json_object_del(h, name);
        json_object_set(h, rename, t);
    }
    json_decref(t);
    char *text = json_dumps(h, JSON_COMPACT);
    size_t nl = strlen(text), padded = (nl + 7) / 8 * 8;
    f = fopen(p, "wb");
    for (int i = 0; i < 8; i++)
        fputc((int)(((uint64_t)padded >> (8 * i)) & 0xff), f);
    fwrite(text, 1, nl, f);
    for (size_t i = nl; i < padded; i++)
        fputc(' ', f);
    fwrite(buf + 8 + hl, 1, size - 8 - (size_t)hl, f);
    fclose(f);
    free(text);
    json_decref(h);
    free(buf);
}

/* ---- pairs --------------------------------------------------------------------- */

enum { NP = 4 };

/* Fixed pairs of ids below lo + span (lo: the lowest plain id), first id
 * first, the others spread. */
typedef struct pairs {
    int32_t ids[NP][40];
    uint32_t types[NP][40];
    const int32_t *pi[NP];
    const uint32_t *pt[NP];
    size_t lens[NP];
} pairs;

static void make_pairs(pairs *p, int32_t first, int32_t lo, int32_t span)
{
    static const size_t lens[NP] = { 5, 17, 29, 40 };
    for (size_t i = 0; i < NP; i++) {
        p->lens[i] = lens[i];
        p->ids[i][0] = first;
        p->types[i][0] = 0;
        for (size_t k = 1; k < lens[i]; k++) {
            p->ids[i][k] = lo + (int32_t)((i * 7919 + k * 104729) % (size_t)span);
            p->types[i][k] = k > lens[i] / 3;
        }
        p->pi[i] = p->ids[i];
        p->pt[i] = p->types[i];
    }
}

static void score(const akidb_model *m, const pairs *p, akidb_rerank_activation act,
                  float *out)
{
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = act;
    o.n_threads = 2;
    AKT_OK(ak_model_rerank_ids(m, NP, p->pi, p->pt, p->lens, &o, out));
}

static akidb_pooling row_of(const akidb_model *m)
{
    const ak_head *h = ak_model_head(m);
    AKT_TRUE(h != NULL);
    return h->kind->row_of ? h->kind->row_of(h->impl) : h->kind->row;
}

/* ---- heads --------------------------------------------------------------------- */

AKT_TEST(heads)
{
    static const struct {
        const char *name;
        size_t labels;
        int types;
        akidb_pooling row;
        akidb_rerank_activation act;
        const char *label1;
    } ms[] = {
        { "modernbert_cls_f32", 1, 0, AKIDB_POOL_CLS, AKIDB_RERANK_ACT_SIGMOID, NULL },
        { "modernbert_mean_bf16", 3, 0, AKIDB_POOL_MEAN, AKIDB_RERANK_ACT_RAW, "neutral" },
        { "mpnet_f16", 1, 0, AKIDB_POOL_CLS, AKIDB_RERANK_ACT_SIGMOID, NULL },
        { "gte_reranker_f32", 1, 0, AKIDB_POOL_CLS, AKIDB_RERANK_ACT_SIGMOID, NULL },
        { "gte_types_bf16", 2, 1, AKIDB_POOL_CLS, AKIDB_RERANK_ACT_RAW, "yes" },
        { "nomic_f16", 1, 1, AKIDB_POOL_CLS, AKIDB_RERANK_ACT_RAW, NULL },
        { "qwen3_seqcls_f32", 1, 0, AKIDB_POOL_LAST_TOKEN, AKIDB_RERANK_ACT_SIGMOID, NULL },
        { "qwen3_seqcls3_bf16", 3, 0, AKIDB_POOL_LAST_TOKEN, AKIDB_RERANK_ACT_RAW, "fair" },
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        akidb_model *m = akt_load_ids(src_of(ms[i].name), NULL);
        akidb_model_info info;
        akidb_model_get_info(m, &info);
        AKT_TRUE(akidb_model_is_reranker(m));
        AKT_EQ_INT(info.num_labels, ms[i].labels);
        AKT_EQ_INT(ak_head_uses_types(ak_model_head(m)), ms[i].types);
        AKT_EQ_INT(row_of(m), ms[i].row);
        akidb_rerank_activation a;
        AKT_OK(ak_head_activation(ak_model_head(m), &a));
        AKT_EQ_INT(a, ms[i].act);
        if (ms[i].label1)
            AKT_EQ_STR(akidb_model_label(m, 1), ms[i].label1);
        else
            AKT_EQ_STR(akidb_model_label(m, 0), "LABEL_0");
        AKT_TRUE(akidb_model_label(m, ms[i].labels) == NULL);
        akidb_model_free(m);
    }
}

/* ---- config fields ---------------------------------------------------------------- */

/* Raw scores of the ModernBERT folder dir on fixed pairs. */
static void modern_scores(const char *dir, float *out)
{
    pairs p;
    make_pairs(&p, 2500 - 4, 4, 2000);
    akidb_model *m = akt_load_ids(dir, NULL);
    score(m, &p, AKIDB_RERANK_ACT_RAW, out);
    akidb_model_free(m);
}

AKT_TEST(config)
{
    const char *mb = "modernbert_mean_bf16";
    const char *d = copy_model(mb, "c_pool");
    cfg_set(d, "classifier_pooling", json_string("max"));
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "classifier_pooling 'max'", "\"cls\", \"mean\"");
    cfg_set(d, "classifier_pooling", json_integer(1));
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "classifier_pooling", "not a string");
    d = copy_model(mb, "c_act");
    cfg_set(d, "classifier_activation", json_string("mish"));
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "classifier_activation 'mish'", "gelu");
    cfg_set(d, "classifier_activation", json_integer(3));
    akt_expect_fail(d, AKIDB_EFORMAT, "\"classifier_activation\" is not a string", NULL);
    d = copy_model(mb, "c_bias");
    cfg_set(d, "classifier_bias", json_string("yes"));
    akt_expect_fail(d, AKIDB_EFORMAT, "\"classifier_bias\" is not a boolean", NULL);
    /* classifier_bias true where the checkpoint has no head.dense.bias */
    d = copy_model("modernbert_cls_f32", "c_nobias");
    cfg_set(d, "classifier_bias", json_true());
    akt_expect_fail(d, AKIDB_EFORMAT, "head.dense.bias", "ModernBertForSequenceClassification");
    /* a class of another model_type */
    d = copy_model("mpnet_f16", "c_mix");
    json_t *a = json_array();
    json_array_append_new(a, json_string("ModernBertForSequenceClassification"));
    cfg_set(d, "architectures", a);
    akt_expect_fail(d, AKIDB_EFORMAT, "'ModernBertForSequenceClassification' is not a class of",
                    "mpnet");
    /* the unsupported-class message lists the new heads */
    a = json_array();
    json_array_append_new(a, json_string("ElectraForSequenceClassification"));
    cfg_set(d, "architectures", a);
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "MPNetForSequenceClassification",
                    "ModernBertForSequenceClassification");
    AKT_CONTAINS(akidb_last_error(), "NomicBertForSequenceClassification");
    AKT_CONTAINS(akidb_last_error(), "NewForSequenceClassification");

    /* the pooling, the activation and the head's LayerNorm bias each move
     * the scores (the reference proves which is right) */
    float base[NP * 3], x[NP * 3];
    modern_scores(src_of(mb), base);
    d = copy_model(mb, "c_cls");
    cfg_set(d, "classifier_pooling", json_string("cls"));
    akidb_model *m = akt_load_ids(d, NULL);
    AKT_EQ_INT(row_of(m), AKIDB_POOL_CLS);
    akidb_model_free(m);
    modern_scores(d, x);
    AKT_TRUE(akt_max_abs_diff(base, x, NP * 3) > 1e-3);
    d = copy_model(mb, "c_gelu");
    cfg_set(d, "classifier_activation", json_string("gelu"));
    modern_scores(d, x);
    AKT_TRUE(akt_max_abs_diff(base, x, NP * 3) > 1e-3);
    cfg_set(d, "classifier_activation", json_null());   /* null: the default gelu */
    float y[NP * 3];
    modern_scores(d, y);
    AKT_TRUE(memcmp(x, y, sizeof x) == 0);
}

/* ---- tensors ------------------------------------------------------------------- */

/* Qwen3ForSequenceClassification's pad_token_id: out of the vocabulary or
 * not an integer, named; the trailing pad ids of a pair change nothing. */
AKT_TEST(qwen3_pad)
{
    const char *d = copy_model("qwen3_seqcls_f32", "q_pad");
    cfg_set(d, "pad_token_id", json_integer(400));
    akt_expect_fail(d, AKIDB_EFORMAT, "\"pad_token_id\" must be an integer in [0, 399]",
                    "config.json");
    cfg_set(d, "pad_token_id", json_string("7"));
    akt_expect_fail(d, AKIDB_EFORMAT, "pad_token_id", NULL);

    akidb_model *m = akt_load_ids(src_of("qwen3_seqcls_f32"), NULL);
    static const int32_t a[] = { 30, 31, 32, 33 }, b[] = { 30, 31, 32, 33, 7, 7 },
                         c[] = { 7, 7, 7 }, e[] = { 7 };
    const int32_t *ids[] = { a, b, c, e };
    const size_t lens[] = { 4, 6, 3, 1 };
    float x[4];
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = AKIDB_RERANK_ACT_RAW;
    AKT_OK(ak_model_rerank_ids(m, 4, ids, NULL, lens, &o, x));
    AKT_TRUE(x[0] == x[1]);   /* the pads after the last token: dropped */
    AKT_TRUE(x[2] == x[3]);   /* all pads: the first token's row */
    AKT_TRUE(x[0] != x[2]);
    akidb_model_free(m);
}

AKT_TEST(tensors)
{
    static const struct {
        const char *model, *arch, *tensor;   /* stored name */
        size_t d0, d1;                       /* a shape of as many elements */
        const char *want;                    /* the head's shape */
    } cs[] = {
        { "modernbert_cls_f32", "ModernBertForSequenceClassification", "head.dense.weight",
          24, 96, "[48, 48]" },
        { "modernbert_cls_f32", "ModernBertForSequenceClassification", "head.norm.weight",
          0, 0, NULL },
        { "modernbert_mean_bf16", "ModernBertForSequenceClassification", "head.norm.bias",
          0, 0, NULL },
        { "modernbert_mean_bf16", "ModernBertForSequenceClassification", "classifier.weight",
          4, 48, "[3, 64]" },
        { "mpnet_f16", "MPNetForSequenceClassification", "classifier.out_proj.weight", 2, 16,
          "[1, 32]" },
        { "mpnet_f16", "MPNetForSequenceClassification", "classifier.dense.weight", 16, 64,
          "[32, 32]" },
        { "gte_reranker_f32", "NewForSequenceClassification", "new.pooler.dense.weight", 24, 96,
          "[48, 48]" },
        { "gte_types_bf16", "NewForSequenceClassification", "classifier.weight", 1, 64,
          "[2, 32]" },
        { "nomic_f16", "NomicBertForSequenceClassification", "bert.pooler.dense.weight", 32,
          128, "[64, 64]" },
        { "nomic_f16", "NomicBertForSequenceClassification", "classifier.bias", 0, 0, NULL },
        { "qwen3_seqcls3_bf16", "Qwen3ForSequenceClassification", "score.weight", 4, 36,
          "[3, 48]" },
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        char tag[32], gone[160];
        /* missing: the tensor and the class named */
        snprintf(tag, sizeof tag, "t_miss%zu", i);
        const char *d = copy_model(cs[i].model, tag);
        snprintf(gone, sizeof gone, "%s_renamed", cs[i].tensor);
        st_edit(d, cs[i].tensor, gone, 0, 0);
        const char *bare = strchr(cs[i].tensor, '.') && (strncmp(cs[i].tensor, "new.", 4) == 0 ||
                                                        strncmp(cs[i].tensor, "bert.", 5) == 0)
                               ? strchr(cs[i].tensor, '.') + 1 : cs[i].tensor;
        akt_expect_fail(d, AKIDB_EFORMAT, bare, cs[i].arch);
        if (!cs[i].d0)
            continue;
        /* a shape that does not chain: the tensor and both shapes named */
        snprintf(tag, sizeof tag, "t_chain%zu", i);
        d = copy_model(cs[i].model, tag);
        st_edit(d, cs[i].tensor, NULL, cs[i].d0, cs[i].d1);
        char got[48];
        snprintf(got, sizeof got, "[%zu, %zu]", cs[i].d0, cs[i].d1);
        akt_expect_fail(d, AKIDB_EDIM, bare, got);
        AKT_CONTAINS(akidb_last_error(), cs[i].want);
    }
}

/* ---- LogitScore ------------------------------------------------------------------ */

static akidb_model *load_text(const char *dir, int reranker)
{
    akidb_model_opts mo = { 0 };
    mo.reranker = reranker;
    akidb_model *m = NULL;
    akidb_status st = akidb_model_load(dir, &mo, &m);
    if (st != AKIDB_OK)
        AKT_FAIL_("load %s: %s: %s", dir, akidb_status_name(st), akidb_last_error());
    return m;
}

static const char *lm_docs[] = { "the moon", "Why are there tides ?", "", "yes no 1 0 moon" };

/* akidb_rerank of the fixed documents against one query, activation a. */
static akidb_status lm_scores(const akidb_model *m, akidb_rerank_activation a, float *out)
{
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.activation = a;
    const char *q = "Why are there tides ?";
    return akidb_rerank(m, q, strlen(q), lm_docs, NULL, 4, &o, out);
}

#define ST_TRANSFORMER "sentence_transformers.base.modules.transformer.Transformer"
#define ST_LOGITSCORE "sentence_transformers.cross_encoder.modules.logit_score.LogitScore"

/* dir/modules.json as sentence-transformers writes a CrossEncoder's: the
 * Transformer (of class path tr), then n score modules (of class path sc)
 * in 1_LogitScore. */
static void write_modules_as(const char *dir, const char *tr, const char *sc, int n)
{
    json_t *a = json_array();
    json_array_append_new(a, json_pack("{s:i,s:s,s:s,s:s}", "idx", 0, "name", "0", "path", "",
                                       "type", tr));
    for (int i = 1; i <= n; i++)
        json_array_append_new(a, json_pack("{s:i,s:s,s:s,s:s}", "idx", i, "name",
                                           i == 1 ? "1" : "2", "path", "1_LogitScore", "type",
                                           sc));
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/modules.json", dir);
    if (json_dump_file(a, p, JSON_INDENT(2)) != 0)
        AKT_FAIL_("cannot write %s", p);
    json_decref(a);
}

/* The Transformer and n LogitScore modules, as 5.4 names them. */
static void write_modules(const char *dir, int n)
{
    write_modules_as(dir, ST_TRANSFORMER, ST_LOGITSCORE, n);
}

static void set_score(const char *dir, json_t *t, json_t *f)
{
    char sub[PATH_MAX * 2];
    snprintf(sub, sizeof sub, "%s/1_LogitScore", dir);
    json_edit(sub, "config.json", "true_token_id", t);
    json_edit(sub, "config.json", "false_token_id", f);
}

AKT_TEST(logit_score)
{
    const char *lm = "qwen3_logitscore_f32";
    /* the marker alone makes a reranker: one output named after the true
     * token, the activation_fn's default (Identity: raw) */
    akidb_model *m = load_text(src_of(lm), 0);
    AKT_TRUE(akidb_model_is_reranker(m));
    AKT_EQ_STR(akidb_model_label(m, 0), "yes");
    AKT_TRUE(akidb_model_label(m, 1) == NULL);
    akidb_rerank_activation a;
    AKT_OK(ak_head_activation(ak_model_head(m), &a));
    AKT_EQ_INT(a, AKIDB_RERANK_ACT_RAW);
    float base[4], def[4], x[4];
    AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_RAW, base));
    AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_DEFAULT, def));
    AKT_TRUE(memcmp(base, def, sizeof base) == 0);
    akidb_model_free(m);

    /* = the card's reranker (the load option, "yes" / "no" of the
     * tokenizer) on the same folder without modules.json */
    const char *d = copy_model(lm, "l_card");
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/modules.json", d);
    AKT_TRUE(unlink(p) == 0);
    m = load_text(d, 0);
    AKT_FALSE(akidb_model_is_reranker(m));
    akidb_model_free(m);
    m = load_text(d, 1);
    AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_RAW, x));
    AKT_TRUE(memcmp(base, x, sizeof base) == 0);
    akidb_model_free(m);

    /* the module's ids, not "yes" / "no": swapped, the log-odds negate */
    d = copy_model(lm, "l_swap");
    set_score(d, json_integer(2), json_integer(1));
    m = load_text(d, 0);
    AKT_EQ_STR(akidb_model_label(m, 0), "no");
    AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_RAW, x));
    for (int i = 0; i < 4; i++)
        AKT_TRUE(x[i] == -base[i]);
    akidb_model_free(m);

    /* no activation_fn: sigmoid (CrossEncoder's one-label default) */
    d = copy_model(lm, "l_noact");
    json_edit(d, "config_sentence_transformers.json", "activation_fn", NULL);
    m = load_text(d, 0);
    AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_DEFAULT, x));
    for (int i = 0; i < 4; i++)
        AKT_NEAR(x[i], 1.0 / (1.0 + exp(-(double)base[i])), 1e-6);
    akidb_model_free(m);
    /* one it cannot apply: refused when used, named */
    json_edit(d, "config_sentence_transformers.json", "activation_fn",
              json_string("torch.nn.modules.activation.Tanh"));
    m = load_text(d, 0);
    AKT_STATUS(lm_scores(m, AKIDB_RERANK_ACT_DEFAULT, x), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "torch.nn.modules.activation.Tanh");
    AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_RAW, x));
    akidb_model_free(m);

    /* the true token alone (false_token_id null), as stored */
    m = load_text(src_of("qwen3_logitscore_true_bf16"), 0);
    AKT_EQ_STR(akidb_model_label(m, 0), "1");
    AKT_OK(ak_head_activation(ak_model_head(m), &a));
    AKT_EQ_INT(a, AKIDB_RERANK_ACT_SIGMOID);
    akidb_model_free(m);

    /* bad module configs, named */
    d = copy_model(lm, "l_bad");
    set_score(d, NULL, json_integer(2));
    akt_expect_fail(d, AKIDB_EFORMAT, "1_LogitScore/config.json", "no \"true_token_id\"");
    set_score(d, json_integer(400), json_integer(2));
    akt_expect_fail(d, AKIDB_EFORMAT, "\"true_token_id\" must be an integer in [0, 399]",
                    "vocabulary: 400 ids");
    set_score(d, json_integer(1), json_string("no"));
    akt_expect_fail(d, AKIDB_EFORMAT, "false_token_id", NULL);
    set_score(d, json_integer(1), json_integer(2));
    snprintf(p, sizeof p, "%s/1_LogitScore", d);
    json_edit(p, "config.json", "module_input_name", json_string("token_embeddings"));
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "module_input_name 'token_embeddings'",
                    "causal_logits");
    /* two score modules; a LogitScore over an architecture it cannot score */
    d = copy_model(lm, "l_two");
    write_modules(d, 2);
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "more than one LogitScore module", "modules.json");
    d = copy_model("gte_reranker_f32", "l_gte");
    write_modules(d, 1);
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "'NewForSequenceClassification' is not supported",
                    "Qwen3ForCausalLM");
}

/* ---- modules.json as other versions write it ------------------------------------ */

AKT_TEST(module_names)
{
    /* a sequence-classification CrossEncoder listing its Transformer alone
     * (sentence-transformers 5.4+) scores as the folder without modules.json */
    pairs p;
    make_pairs(&p, 2500 - 4, 4, 2000);
    float want[NP], x[NP];
    akidb_model *m = akt_load_ids(src_of("gte_reranker_f32"), NULL);
    score(m, &p, AKIDB_RERANK_ACT_RAW, want);
    akidb_model_free(m);
    static const char *const trs[] = { ST_TRANSFORMER, "sentence_transformers.base.models."
                                       "Transformer", "sentence_transformers.models.Transformer",
                                       "Transformer" };
    const char *d = copy_model("gte_reranker_f32", "m_alone");
    for (size_t i = 0; i < sizeof trs / sizeof trs[0]; i++) {
        write_modules_as(d, trs[i], ST_LOGITSCORE, 0);
        m = akt_load_ids(d, NULL);
        AKT_TRUE(akidb_model_is_reranker(m));
        score(m, &p, AKIDB_RERANK_ACT_RAW, x);
        AKT_TRUE(memcmp(want, x, sizeof x) == 0);
        akidb_model_free(m);
    }
    /* the same with a model that is not a classifier: token embeddings */
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("NewModel"));
    cfg_set(d, "architectures", arch);
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "no Pooling module", "modules.json");
    /* a class of another package is not taken for sentence-transformers' */
    d = copy_model("gte_reranker_f32", "m_other");
    write_modules_as(d, "custom_st.Transformer", ST_LOGITSCORE, 0);
    akt_expect_fail(d, AKIDB_EUNSUPPORTED, "module type 'custom_st.Transformer'", NULL);

    /* the score module under its other names: the same scores */
    const char *lm = "qwen3_logitscore_f32";
    float base[4];
    m = load_text(src_of(lm), 0);
    AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_RAW, base));
    akidb_model_free(m);
    static const char *const scs[] = { "sentence_transformers.cross_encoder.models."
                                       "CausalScoreHead", "sentence_transformers.cross_encoder."
                                       "modules.LogitScore", "LogitScore" };
    d = copy_model(lm, "m_score");
    for (size_t i = 0; i < sizeof scs / sizeof scs[0]; i++) {
        write_modules_as(d, "sentence_transformers.base.models.Transformer", scs[i], 1);
        m = load_text(d, 0);
        AKT_TRUE(akidb_model_is_reranker(m));
        AKT_OK(lm_scores(m, AKIDB_RERANK_ACT_RAW, x));
        AKT_TRUE(memcmp(base, x, sizeof base) == 0);
        akidb_model_free(m);
    }
}

/* ---- out of memory ------------------------------------------------------------ */

typedef struct oom_ctx {
    const char *dir;
    const pairs *p;
    float *out;
} oom_ctx;

static akidb_status oom_step(void *ctx)
{
    const oom_ctx *c = ctx;
    akidb_model *m = NULL;
    akidb_status st = ak_model_load_ids(c->dir, NULL, &m);
    if (st == AKIDB_OK) {
        akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
        o.n_threads = 2;
        st = ak_model_rerank_ids(m, NP, c->p->pi, c->p->pt, c->p->lens, &o, c->out);
        akidb_model_free(m);
    }
    return st;
}

AKT_TEST(out_of_memory)
{
    pairs p;
    make_pairs(&p, 2500 - 4, 4, 2000);
    float want[NP * 3], x[NP * 3];
    const char *dir = src_of("modernbert_mean_bf16");
    akidb_model *m = akt_load_ids(dir, NULL);
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.n_threads = 2;
    AKT_OK(ak_model_rerank_ids(m, NP, p.pi, p.pt, p.lens, &o, want));
    akidb_model_free(m);
    oom_ctx c = { dir, &p, x };
    long n = akt_oom_loop(oom_step, &c, NULL, 1);
    AKT_TRUE(memcmp(want, x, sizeof x) == 0);
    fprintf(stderr, "  %ld allocation points checked\n", n);
}

AKT_MAIN(AKT_REG(heads), AKT_REG(config), AKT_REG(tensors), AKT_REG(logit_score),
         AKT_REG(module_names), AKT_REG(qwen3_pad), AKT_REG(out_of_memory))
