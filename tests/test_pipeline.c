/*
 * test_pipeline.c - the sentence-transformers pipeline around the
 * transformer: Pooling modes, Dense and Normalize modules, truncate_dim.
 *
 * Without Python (folders built here from the committed tiny golden,
 * tests/golden/tiny/tiny_f16, and the tokenizer of tests/data/minilm):
 *   dense_errors   a Dense that does not chain, a missing / misshapen
 *                  linear.weight, an unknown activation, weights only in
 *                  pytorch_model.bin, a Dense before Pooling: each named
 *   dense_math     a Tanh Dense + Normalize against the plain model's pooled
 *                  vectors and the weights written here
 *   truncate       truncate_dim: a prefix of the full embedding (after the
 *                  Normalize module), normalize 1 re-normalises, out of
 *                  range values named, the folder's default
 *   pooling        weightedmean's name, include_prompt false with a prompt
 *   cli            akidb embed --truncate-dim: the library's values, bad
 *                  values named
 *   out_of_memory  every allocation of a load + embed (Dense, Normalize,
 *                  a default truncate_dim, a prompt left out of pooling)
 *                  failing once: ENOMEM, then the same values
 * With the reference models of tests/ref/make_pipeline.py (ctest fixture
 * pipeline_ref_models; AKIDB_PIPELINE_MODELS, default
 * $AKIDB_BUILD/ref_pipeline):
 *   pipeline_ref   every reference (each pooling mode, Dense chains,
 *                  normalize -1 / 0 / 1, truncate_dim, prompts with
 *                  include_prompt false) through akidb_embed on every
 *                  kernel path: cosine >= 0.99999 and max |diff| <= 1e-4 *
 *                  max(1, max |ref|) per text; the prompt's token ids are
 *                  checked against the reference's first.
 */
#include "akt.h"
#include "model/family.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define COS_MIN 0.99999
#define DIFF_MAX 1e-4
#define H_ 32   /* the tiny golden's hidden size */

static const char *src_dir(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, len, f) != len)
        AKT_FAIL_("cannot write %s: %s", p, strerror(errno));
    fclose(f);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    write_file(dir, name, text, strlen(text));
}

static void copy_file(const char *from, const char *dir, const char *name)
{
    FILE *f = fopen(from, "rb");
    if (!f)
        AKT_FAIL_("cannot open %s: %s", from, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)n + 1);
    if (fread(d, 1, (size_t)n, f) != (size_t)n)
        AKT_FAIL_("cannot read %s", from);
    fclose(f);
    write_file(dir, name, d, (size_t)n);
    free(d);
}

/* A new folder tmp/<name> with the tiny model, its tokenizer and mean
 * pooling; modules.json (NULL: none) as given. */
static const char *make_base(const char *name, const char *modules)
{
    static char dirs[16][PATH_MAX];
    static int slot;
    char *d = dirs[slot++ % 16];
    snprintf(d, PATH_MAX, "%s/%s", akt_tmpdir("akidb_pipe_"), name);
    mkdir(d, 0755);
    char p[PATH_MAX * 2], q[PATH_MAX];
    static const char *model_files[] = { "config.json", "model.safetensors" };
    static const char *tok_files[] = { "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                                       "special_tokens_map.json" };
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/tests/golden/tiny/tiny_f16/%s", src_dir(), model_files[i]);
        copy_file(p, d, model_files[i]);
    }
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/tests/data/minilm/%s", src_dir(), tok_files[i]);
        copy_file(p, d, tok_files[i]);
    }
    snprintf(q, sizeof q, "%s/1_Pooling", d);
    mkdir(q, 0755);
    write_text(q, "config.json", "{\"word_embedding_dimension\":32,"
                                 "\"pooling_mode_mean_tokens\":true}");
    if (modules)
        write_text(d, "modules.json", modules);
    return d;
}

/* Deterministic weight value i of a Dense module (seed s). */
static float wval(unsigned s, size_t i)
{
    uint64_t x = (s + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0) * 0.3f;
}

/* dir/<sub>/ with a Dense config and F32 weights [out x in] (+ bias).
 * act NULL: no activation_function field; weight_rows != out: a misshapen
 * weight; no_weight: linear.weight left out. */
typedef struct dspec {
    size_t in, out;
    int bias;
    const char *act;
    size_t cfg_in;        /* in_features written; 0: in */
    size_t weight_rows;   /* 0: out */
    int no_weight, bin_only;
    unsigned seed;
} dspec;

static void make_dense(const char *dir, const char *sub, const dspec *s)
{
    char d[PATH_MAX * 2], cfg[512];
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    mkdir(d, 0755);
    int n = snprintf(cfg, sizeof cfg, "{\"in_features\":%zu,\"out_features\":%zu,\"bias\":%s",
                     s->cfg_in ? s->cfg_in : s->in, s->out, s->bias ? "true" : "false");
    if (s->act)
        n += snprintf(cfg + n, sizeof cfg - (size_t)n, ",\"activation_function\":\"%s\"",
                      s->act);
    snprintf(cfg + n, sizeof cfg - (size_t)n, "}");
    write_text(d, "config.json", cfg);
    if (s->bin_only) {
        write_text(d, "pytorch_model.bin", "not read");
        return;
    }
    size_t rows = s->weight_rows ? s->weight_rows : s->out;
    size_t wn = rows * s->in, bn = s->bias ? s->out : 0;
    char hdr[512];
    size_t hl;
    if (s->no_weight)
        hl = (size_t)snprintf(hdr, sizeof hdr,
                              "{\"linear.bias\":{\"dtype\":\"F32\",\"shape\":[%zu],"
                              "\"data_offsets\":[0,%zu]}}", s->out, s->out * 4);
    else if (bn)
        hl = (size_t)snprintf(hdr, sizeof hdr,
                              "{\"linear.weight\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],"
                              "\"data_offsets\":[0,%zu]},\"linear.bias\":{\"dtype\":\"F32\","
                              "\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}}",
                              rows, s->in, wn * 4, bn, wn * 4, (wn + bn) * 4);
    else
        hl = (size_t)snprintf(hdr, sizeof hdr,
                              "{\"linear.weight\":{\"dtype\":\"F32\",\"shape\":[%zu,%zu],"
                              "\"data_offsets\":[0,%zu]}}", rows, s->in, wn * 4);
    while (hl % 8)
        hdr[hl++] = ' ';
    size_t nf = s->no_weight ? s->out : wn + bn;
    unsigned char *buf = malloc(8 + hl + nf * 4);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    float *v = (float *)malloc(nf * 4);
    for (size_t i = 0; i < nf; i++)
        v[i] = wval(s->seed, i);
    memcpy(buf + 8 + hl, v, nf * 4);
    write_file(d, "model.safetensors", buf, 8 + hl + nf * 4);
    free(v);
    free(buf);
}

#define MOD_T "{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"}"
#define MOD_P "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"}"
#define MOD_D(dir) "{\"idx\":2,\"name\":\"2\",\"path\":\"" dir "\",\"type\":\"sentence_transformers.models.Dense\"}"
#define MOD_N "{\"idx\":4,\"name\":\"4\",\"path\":\"4_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}"

static const char *const g_texts[] = { "A man is eating food.", "Hello, world!",
                                     "The quick brown fox jumps over the lazy dog." };
#define NT 3

static akidb_model *load(const char *dir)
{
    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, NULL, &m));
    return m;
}

/* ---- bad input ------------------------------------------------------------------- */

AKT_TEST(dense_errors)
{
    akidb_model *m = NULL;
    const char *mods = "[" MOD_T "," MOD_P "," MOD_D("2_Dense") "]";
    /* in_features that does not follow the pooled width */
    const char *d = make_base("nochain", mods);
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, "torch.nn.modules.activation.Tanh", 16, 0, 0,
                                       0, 1 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "2_Dense/config.json");
    AKT_CONTAINS(akidb_last_error(), "in_features 16");
    /* a second Dense that does not chain to the first */
    d = make_base("nochain2", "[" MOD_T "," MOD_P "," MOD_D("2_Dense") ","
                  "{\"idx\":3,\"name\":\"3\",\"path\":\"3_Dense\","
                  "\"type\":\"sentence_transformers.models.Dense\"}]");
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, "torch.nn.modules.activation.Tanh", 0, 0, 0,
                                       0, 1 });
    make_dense(d, "3_Dense", &(dspec){ 12, 4, 1, "torch.nn.modules.linear.Identity", 0, 0, 0,
                                       0, 2 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "3_Dense/config.json");
    AKT_CONTAINS(akidb_last_error(), "in_features 12");
    /* missing linear.weight */
    d = make_base("noweight", mods);
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, "torch.nn.modules.activation.Tanh", 0, 0, 1,
                                       0, 1 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "linear.weight");
    AKT_CONTAINS(akidb_last_error(), "2_Dense");
    /* a weight of the wrong shape */
    d = make_base("badshape", mods);
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, "torch.nn.modules.activation.Tanh", 0, 9, 0,
                                       0, 1 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EDIM);
    AKT_CONTAINS(akidb_last_error(), "linear.weight");
    /* an activation not implemented */
    d = make_base("badact", mods);
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, "torch.nn.modules.activation.Softplus", 0, 0,
                                       0, 0, 1 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "torch.nn.modules.activation.Softplus");
    AKT_CONTAINS(akidb_last_error(), "2_Dense/config.json");
    /* no activation_function at all */
    d = make_base("noact", mods);
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, NULL, 0, 0, 0, 0, 1 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "activation_function");
    /* weights only in pytorch_model.bin */
    d = make_base("binonly", mods);
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, "torch.nn.modules.activation.Tanh", 0, 0, 0,
                                       1, 1 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "pytorch_model.bin");
    AKT_CONTAINS(akidb_last_error(), "2_Dense");
    /* a Dense folder without config.json */
    d = make_base("nocfg", mods);
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "2_Dense/config.json");
    /* a Dense on token embeddings (before Pooling) */
    d = make_base("early", "[" MOD_T "," MOD_D("2_Dense") "," MOD_P "]");
    make_dense(d, "2_Dense", &(dspec){ H_, 8, 1, "torch.nn.modules.activation.Tanh", 0, 0, 0,
                                       0, 1 });
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "before Pooling");
    /* truncate_dim of the folder beyond the width */
    d = make_base("bigtrunc", "[" MOD_T "," MOD_P "]");
    write_text(d, "config_sentence_transformers.json", "{\"truncate_dim\":40}");
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "config_sentence_transformers.json");
    AKT_CONTAINS(akidb_last_error(), "truncate_dim 40");
    write_text(d, "config_sentence_transformers.json", "{\"truncate_dim\":0}");
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "truncate_dim");
    AKT_TRUE(m == NULL);
}

/* ---- Dense math ---------------------------------------------------------------------- */

static double norm(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

AKT_TEST(dense_math)
{
    enum { O = 8 };
    const char *plain = make_base("plain", "[" MOD_T "," MOD_P "]");
    const char *dd = make_base("dense", "[" MOD_T "," MOD_P "," MOD_D("2_Dense") "," MOD_N "]");
    make_dense(dd, "2_Dense", &(dspec){ H_, O, 1, "torch.nn.modules.activation.Tanh", 0, 0, 0,
                                        0, 7 });
    akidb_model *mp = load(plain), *md = load(dd);
    akidb_model_info info;
    akidb_model_get_info(md, &info);
    AKT_EQ_INT(info.dim, O);
    AKT_EQ_INT(info.hidden, H_);
    AKT_EQ_INT(info.normalize, 1);
    float pooled[NT * H_], got[NT * O], raw[NT * O];
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.normalize = 0;
    AKT_OK(akidb_embed(mp, g_texts, NULL, NT, pooled, &o));
    AKT_OK(akidb_embed(md, g_texts, NULL, NT, got, NULL));
    AKT_OK(akidb_embed(md, g_texts, NULL, NT, raw, &o));   /* Normalize skipped */
    for (size_t t = 0; t < NT; t++) {
        double y[O], nn = 0;
        for (size_t r = 0; r < O; r++) {
            double s = wval(7, O * H_ + r);   /* the bias follows the weight */
            for (size_t k = 0; k < H_; k++)
                s += (double)wval(7, r * H_ + k) * pooled[t * H_ + k];
            y[r] = tanh(s);
            nn += y[r] * y[r];
        }
        for (size_t r = 0; r < O; r++) {
            AKT_NEAR(raw[t * O + r], y[r], 1e-5);
            AKT_NEAR(got[t * O + r], y[r] / sqrt(nn), 1e-5);
        }
        AKT_NEAR(norm(got + t * O, O), 1.0, 1e-6);
    }
    /* threads and one text per call do not change a bit */
    float one[O], thr[NT * O];
    o = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    o.n_threads = 2;
    AKT_OK(akidb_embed(md, g_texts, NULL, NT, thr, &o));
    AKT_TRUE(memcmp(thr, got, sizeof got) == 0);
    for (size_t t = 0; t < NT; t++) {
        AKT_OK(akidb_embed(md, &g_texts[t], NULL, 1, one, NULL));
        AKT_TRUE(memcmp(one, got + t * O, sizeof one) == 0);
    }
    /* the id path runs the same modules */
    const akidb_tokenizer *tok = akidb_model_tokenizer(md);
    akidb_tokens tk = {0};
    AKT_OK(akidb_tokenizer_encode(tok, g_texts[0], strlen(g_texts[0]), 0, &tk));
    const int32_t *ids[1] = { tk.ids };
    AKT_OK(ak_model_embed_ids(md, 1, ids, &tk.n, one, NULL));
    AKT_TRUE(memcmp(one, got, sizeof one) == 0);
    akidb_tokens_free(&tk);
    akidb_model_free(mp);
    akidb_model_free(md);
}

/* ---- truncate_dim ------------------------------------------------------------------ */

AKT_TEST(truncate)
{
    enum { O = 16 };
    const char *d = make_base("trunc", "[" MOD_T "," MOD_P "," MOD_D("2_Dense") "," MOD_N "]");
    make_dense(d, "2_Dense", &(dspec){ H_, O, 0, "torch.nn.modules.linear.Identity", 0, 0, 0,
                                       0, 3 });
    akidb_model *m = load(d);
    float full[NT * O], cut[NT * 5], cutn[NT * 5];
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, full, NULL));
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.truncate_dim = 5;
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, cut, &o));
    o.normalize = 1;
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, cutn, &o));
    for (size_t t = 0; t < NT; t++) {
        /* the cut of the normalised output: shorter than 1 */
        AKT_TRUE(memcmp(cut + t * 5, full + t * O, 5 * sizeof(float)) == 0);
        AKT_TRUE(norm(cut + t * 5, 5) < 0.999);
        double n5 = norm(full + t * O, 5);
        for (size_t k = 0; k < 5; k++)
            AKT_NEAR(cutn[t * 5 + k], full[t * O + k] / n5, 1e-6);
        AKT_NEAR(norm(cutn + t * 5, 5), 1.0, 1e-6);
    }
    o.truncate_dim = O;   /* the full width: the same */
    o.normalize = -1;
    float same[NT * O];
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, same, &o));
    AKT_TRUE(memcmp(same, full, sizeof full) == 0);
    o.truncate_dim = O + 1;
    AKT_STATUS(akidb_embed(m, g_texts, NULL, NT, same, &o), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "truncate_dim 17");
    AKT_CONTAINS(akidb_last_error(), "16");
    akidb_model_free(m);

    /* the folder's default: reported as the dimension, overridable */
    write_text(d, "config_sentence_transformers.json", "{\"truncate_dim\":12}");
    m = load(d);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.dim, 12);
    float def[NT * 12];
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, def, NULL));
    for (size_t t = 0; t < NT; t++)
        AKT_TRUE(memcmp(def + t * 12, full + t * O, 12 * sizeof(float)) == 0);
    o = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    o.truncate_dim = O;
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, same, &o));
    AKT_TRUE(memcmp(same, full, sizeof full) == 0);
    akidb_model_free(m);

    /* a model without Dense: truncation of the hidden state's pooling */
    const char *p = make_base("trunc_plain", "[" MOD_T "," MOD_P "]");
    m = load(p);
    float pf[NT * H_], pc[NT * 7];
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, pf, NULL));
    o = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    o.truncate_dim = 7;
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, pc, &o));
    for (size_t t = 0; t < NT; t++)
        AKT_TRUE(memcmp(pc + t * 7, pf + t * H_, 7 * sizeof(float)) == 0);
    o.truncate_dim = H_ + 1;
    AKT_STATUS(akidb_embed(m, g_texts, NULL, NT, pc, &o), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "truncate_dim 33");
    akidb_model_free(m);
}

/* ---- pooling ------------------------------------------------------------------------ */

AKT_TEST(pooling)
{
    akidb_pooling p;
    AKT_OK(akidb_pooling_parse("weightedmean", &p));
    AKT_EQ_INT(p, AKIDB_POOL_WEIGHTED_MEAN);
    AKT_EQ_STR(akidb_pooling_name(AKIDB_POOL_WEIGHTED_MEAN), "weightedmean");
    AKT_STATUS(akidb_pooling_parse("weighted", &p), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "weightedmean");
    /* the flag and the pooling_mode string */
    const char *d = make_base("wmean", "[" MOD_T "," MOD_P "]");
    char q[PATH_MAX * 2];
    snprintf(q, sizeof q, "%s/1_Pooling", d);
    write_text(q, "config.json", "{\"pooling_mode_weightedmean_tokens\":true,"
                                 "\"pooling_mode_mean_tokens\":false,\"include_prompt\":false}");
    write_text(d, "config_sentence_transformers.json",
               "{\"prompts\":{\"query\":\"query: \"},\"default_prompt_name\":null}");
    akidb_model *m = load(d);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.pooling, AKIDB_POOL_WEIGHTED_MEAN);
    float a[H_], b[H_], c[H_];
    AKT_OK(akidb_embed(m, g_texts, NULL, 1, a, NULL));
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.prompt_name = "query";   /* include_prompt false: the prompt is no longer refused */
    AKT_OK(akidb_embed(m, g_texts, NULL, 1, b, &o));
    AKT_TRUE(memcmp(a, b, sizeof a) != 0);
    /* CLS pooling takes token 0 whether or not it is masked: the same as
     * with the prompt included */
    o.pooling = AKIDB_POOL_CLS;
    AKT_OK(akidb_embed(m, g_texts, NULL, 1, b, &o));
    akidb_model_free(m);
    write_text(q, "config.json", "{\"pooling_mode\":\"weightedmean\",\"include_prompt\":true}");
    m = load(d);
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.pooling, AKIDB_POOL_WEIGHTED_MEAN);
    AKT_OK(akidb_embed(m, g_texts, NULL, 1, c, &o));
    AKT_TRUE(memcmp(b, c, sizeof b) == 0);
    akidb_model_free(m);
    /* two modes at once (a concatenation) stay refused, named */
    write_text(q, "config.json", "{\"pooling_mode_weightedmean_tokens\":true,"
                                 "\"pooling_mode_mean_tokens\":true}");
    m = NULL;
    AKT_STATUS(akidb_model_load(d, NULL, &m), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "1_Pooling/config.json");
}

/* ---- out of memory --------------------------------------------------------------- */

AKT_TEST(out_of_memory)
{
    enum { O = 12, T = 10 };
    const char *d = make_base("oom", "[" MOD_T "," MOD_P "," MOD_D("2_Dense") "," MOD_N "]");
    make_dense(d, "2_Dense", &(dspec){ H_, O, 1, "torch.nn.modules.activation.Tanh", 0, 0, 0,
                                       0, 9 });
    char q[PATH_MAX * 2];
    snprintf(q, sizeof q, "%s/1_Pooling", d);
    write_text(q, "config.json", "{\"pooling_mode_weightedmean_tokens\":true,"
                                 "\"include_prompt\":false}");
    write_text(d, "config_sentence_transformers.json",
               "{\"prompts\":{\"query\":\"query: \"},\"default_prompt_name\":\"query\","
               "\"truncate_dim\":10}");
    float want[NT * T], x[NT * T];
    akidb_model *m = load(d);
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, want, NULL));
    akidb_model_free(m);
    int done = 0;
    long i;
    for (i = 0; i < 100000 && !done; i = akt_oom_next(i)) {
        ak_alloc_fail_after(i);
        akidb_status st = akidb_model_load(d, NULL, &m);
        if (st == AKIDB_OK) {
            st = akidb_embed(m, g_texts, NULL, NT, x, NULL);
            akidb_model_free(m);
            if (st == AKIDB_OK) {
                done = 1;
                AKT_EQ_INT(memcmp(x, want, sizeof x), 0);
            }
        }
        long inj = ak_alloc_injected_failures();
        ak_alloc_fail_after(-1);
        if (!done && st != AKIDB_ENOMEM)
            AKT_FAIL_("fail_after(%ld): status %s (%s), want ENOMEM", i,
                      akidb_status_name(st), akidb_last_error());
        if (!done)
            AKT_TRUE(inj > 0);
    }
    AKT_TRUE(done);
    fprintf(stderr, "  %ld allocation points checked\n", i);
}

/* ---- the command line ------------------------------------------------------------ */

static int run(const char *cmd, char *out, size_t cap, size_t *len)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        AKT_FAIL_("popen %s: %s", cmd, strerror(errno));
    *len = fread(out, 1, cap, p);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

AKT_TEST(cli)
{
    enum { O = 16, T = 5 };
    const char *bin = getenv("AKIDB_BIN");
    if (!bin || access(bin, X_OK) != 0)
        AKT_FAIL_("AKIDB_BIN (the akidb binary) is not set or not executable: '%s'",
                  bin ? bin : "");
    const char *d = make_base("cli", "[" MOD_T "," MOD_P "," MOD_D("2_Dense") "," MOD_N "]");
    make_dense(d, "2_Dense", &(dspec){ H_, O, 1, "torch.nn.modules.activation.Tanh", 0, 0, 0,
                                       0, 5 });
    char input[PATH_MAX * 2], cmd[PATH_MAX * 6];
    snprintf(input, sizeof input, "%s/texts.txt", d);
    FILE *f = fopen(input, "w");
    for (int i = 0; i < NT; i++)
        fprintf(f, "%s\n", g_texts[i]);
    fclose(f);
    akidb_model *m = load(d);
    float want[NT * T], got[NT * T + 1];
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.truncate_dim = T;
    o.normalize = 1;
    AKT_OK(akidb_embed(m, g_texts, NULL, NT, want, &o));
    akidb_model_free(m);
    size_t len = 0;
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --input '%s' --format f32 "
             "--truncate-dim %d --normalize", bin, d, input, T);
    AKT_EQ_INT(run(cmd, (char *)got, sizeof got, &len), 0);
    AKT_EQ_INT(len, sizeof want);
    AKT_TRUE(memcmp(got, want, sizeof want) == 0);
    static char out[4096];
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --input '%s' --truncate-dim 0 2>&1",
             bin, d, input);
    AKT_EQ_INT(run(cmd, out, sizeof out - 1, &len), 2);
    out[len] = 0;
    AKT_CONTAINS(out, "--truncate-dim");
    AKT_CONTAINS(out, "'0'");
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --input '%s' --truncate-dim 17 2>&1",
             bin, d, input);
    AKT_EQ_INT(run(cmd, out, sizeof out - 1, &len), 2);
    out[len] = 0;
    AKT_CONTAINS(out, "truncate_dim 17");
    AKT_CONTAINS(out, "16");
}

/* ---- the PyTorch references ------------------------------------------------------------ */

#define MAX_PMODELS 4
#define MAX_PREFS 24
#define MAX_TEXTS 64

typedef struct pref {
    char file[128];
    akidb_pooling pooling;
    int normalize;
    size_t truncate;
    char prompt[32];
    uint32_t n, dim, *idx;
    float *emb;
} pref;

typedef struct pmodel {
    char name[64], dir[PATH_MAX];
    size_t dim, max_tokens;
    akidb_pooling pooling;
    int normalize;
    pref refs[MAX_PREFS];
    size_t n_refs;
    int32_t *pids[MAX_TEXTS];   /* the ids of each text after the prompt */
    size_t plens[MAX_TEXTS];
} pmodel;

static akidb_pooling pool_of(const char *s)
{
    akidb_pooling p = AKIDB_POOL_DEFAULT;
    if (strcmp(s, "default") != 0 && akidb_pooling_parse(s, &p) != AKIDB_OK)
        AKT_FAIL_("manifest: unknown pooling %s", s);
    return p;
}

static void read_ref(const pmodel *m, pref *r)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", m->dir, r->file);
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint32_t h[4];
    if (!f || fread(magic, 1, 8, f) != 8 || memcmp(magic, "AKIDBREF", 8) != 0 ||
        fread(h, 4, 4, f) != 4 || h[0] != 1)
        AKT_FAIL_("%s: not an AKIDBREF v1 file", path);
    r->n = h[1];
    r->dim = h[2];
    r->idx = malloc(r->n * sizeof *r->idx);
    r->emb = malloc((size_t)r->n * r->dim * sizeof *r->emb);
    if (fread(r->idx, 4, r->n, f) != r->n ||
        fread(r->emb, 4, (size_t)r->n * r->dim, f) != (size_t)r->n * r->dim)
        AKT_FAIL_("%s: truncated", path);
    fclose(f);
    AKT_EQ_INT(r->dim, r->truncate ? r->truncate : m->dim);
}

static size_t read_manifest(const char *dir, pmodel *ms)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("no pipeline reference models: cannot open %s (%s).  The ctest fixture "
                  "pipeline_ref_models makes them (tests/ref/make_pipeline.py, which needs "
                  "/usr/bin/python3 with python3-torch); or set AKIDB_PIPELINE_MODELS",
                  path, strerror(errno));
    size_t n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\r\n")] = 0;
        char *save = NULL, *kw = strtok_r(line, " ", &save), *name = strtok_r(NULL, " ", &save);
        if (!kw || kw[0] == '#' || !name)
            continue;
        pmodel *m = n ? &ms[n - 1] : NULL;
        if (strcmp(kw, "model") == 0) {
            AKT_TRUE(n < MAX_PMODELS);
            m = &ms[n++];
            memset(m, 0, sizeof *m);
            snprintf(m->name, sizeof m->name, "%s", name);
            snprintf(m->dir, sizeof m->dir, "%.3000s/%.60s", dir, name);
            for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
                char *v = strchr(kv, '=');
                if (!v)
                    continue;
                *v++ = 0;
                if (!strcmp(kv, "dim")) m->dim = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "max_tokens")) m->max_tokens = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "pooling")) m->pooling = pool_of(v);
                else if (!strcmp(kv, "normalize")) m->normalize = atoi(v);
            }
            continue;
        }
        if (!m || strcmp(m->name, name) != 0)
            AKT_FAIL_("%s: '%s' line for '%s' out of place", path, kw, name);
        if (strcmp(kw, "ref") == 0) {
            AKT_TRUE(m->n_refs < MAX_PREFS);
            pref *r = &m->refs[m->n_refs++];
            snprintf(r->file, sizeof r->file, "%s", strtok_r(NULL, " ", &save));
            for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
                char *v = strchr(kv, '=');
                if (!v)
                    continue;
                *v++ = 0;
                if (!strcmp(kv, "pooling")) r->pooling = pool_of(v);
                else if (!strcmp(kv, "normalize")) r->normalize = atoi(v);
                else if (!strcmp(kv, "truncate")) r->truncate = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "prompt")) snprintf(r->prompt, sizeof r->prompt, "%s",
                                                         strcmp(v, "-") ? v : "");
            }
            read_ref(m, r);
        } else if (strcmp(kw, "ids") == 0) {
            strtok_r(NULL, " ", &save);   /* the prompt name: "query" */
            size_t i = strtoul(strtok_r(NULL, " ", &save), NULL, 10);
            char *list = strtok_r(NULL, " ", &save);
            AKT_TRUE(i < MAX_TEXTS && list);
            m->pids[i] = malloc((strlen(list) / 2 + 2) * sizeof(int32_t));
            for (char *p = list, *e; *p; p = *e ? e + 1 : e) {
                m->pids[i][m->plens[i]++] = (int32_t)strtol(p, &e, 10);
                if (e == p)
                    AKT_FAIL_("%s: bad ids line", path);
            }
        }
    }
    free(line);
    fclose(f);
    AKT_TRUE(n > 0);
    return n;
}

static char **read_texts(const char *dir, size_t *n)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/texts.json", dir);
    json_error_t err;
    json_t *a = json_load_file(path, 0, &err);
    if (!json_is_array(a))
        AKT_FAIL_("%s: %s", path, err.text);
    *n = json_array_size(a);
    AKT_TRUE(*n <= MAX_TEXTS);
    char **t = calloc(*n, sizeof *t);
    for (size_t i = 0; i < *n; i++)
        t[i] = strdup(json_string_value(json_array_get(a, i)));
    json_decref(a);
    return t;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

/* The ids akidb gives "query: " + text i equal the reference's. */
static void check_prompt_ids(const pmodel *pm, const akidb_model *m, char **texts, size_t nt)
{
    const akidb_tokenizer *tok = akidb_model_tokenizer(m);
    akidb_tokens tk = {0};
    for (size_t i = 0; i < nt; i++) {
        char buf[4096];
        snprintf(buf, sizeof buf, "query: %s", texts[i]);
        AKT_OK(akidb_tokenizer_encode(tok, buf, strlen(buf), pm->max_tokens, &tk));
        if (tk.n != pm->plens[i] || memcmp(tk.ids, pm->pids[i], tk.n * sizeof *tk.ids) != 0)
            AKT_FAIL_("%s: text %zu: the prompt's ids differ from the reference's", pm->name, i);
    }
    akidb_tokens_free(&tk);
}

static void check_pmodel(const pmodel *pm, char **texts, size_t nt, int nthreads)
{
    akidb_model *m = load(pm->dir);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.dim, pm->dim);
    AKT_EQ_INT(info.max_tokens, pm->max_tokens);
    AKT_EQ_INT(info.pooling, pm->pooling);
    AKT_EQ_INT(info.normalize, pm->normalize);
    check_prompt_ids(pm, m, texts, nt);
    const char *kp = akidb_kernels_name(akidb_kernels_active());
    for (size_t ri = 0; ri < pm->n_refs; ri++) {
        const pref *r = &pm->refs[ri];
        AKT_EQ_INT(r->n, nt);
        float *out = malloc((size_t)nt * r->dim * sizeof *out);
        akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
        o.pooling = r->pooling;
        o.normalize = r->normalize;
        o.truncate_dim = r->truncate;
        o.prompt_name = r->prompt[0] ? r->prompt : NULL;
        o.n_threads = nthreads;
        AKT_OK(akidb_embed(m, (const char *const *)texts, NULL, nt, out, &o));
        double worst_cos = 1, worst_diff = 0;
        for (size_t j = 0; j < nt; j++) {
            AKT_EQ_INT(r->idx[j], j);
            const float *g = out + j * r->dim, *e = r->emb + j * r->dim;
            double diff = 0, scale = 1;
            for (size_t d = 0; d < r->dim; d++) {
                double x = fabs((double)g[d] - e[d]);
                diff = x > diff ? x : diff;
                scale = fabs((double)e[d]) > scale ? fabs((double)e[d]) : scale;
            }
            double c = cosine(g, e, r->dim);
            akt_checks++;
            if (!(c >= COS_MIN) || !(diff <= DIFF_MAX * scale))
                AKT_FAIL_("%s [%s] %s: text %zu: cosine %.9f, max |diff| %.3g (limit %.3g)",
                          pm->name, kp, r->file, j, c, diff, DIFF_MAX * scale);
            worst_cos = c < worst_cos ? c : worst_cos;
            worst_diff = diff > worst_diff ? diff : worst_diff;
        }
        printf("  %-14s %-7s %-34s %3zu texts  worst cos 1-%-9.2e max|diff| %.3g\n", pm->name,
               kp, r->file + 4, nt, 1 - worst_cos, worst_diff);
        free(out);
    }
    akidb_model_free(m);
}

AKT_TEST(pipeline_ref)
{
    static pmodel ms[MAX_PMODELS];
    char buf[PATH_MAX];
    const char *dir = getenv("AKIDB_PIPELINE_MODELS");
    if (!dir || !*dir) {
        const char *b = getenv("AKIDB_BUILD");
        snprintf(buf, sizeof buf, "%s/ref_pipeline", b && *b ? b : ".");
        dir = buf;
    }
    size_t n = read_manifest(dir, ms), nt = 0;
    char **texts = read_texts(dir, &nt);
    static const akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                               AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
    for (size_t p = 0; p < 4; p++) {
        akidb_status st = akidb_kernels_select(paths[p]);
        if (st == AKIDB_EUNSUPPORTED) {
            printf("  kernel path %s not supported here: skipped\n", akidb_kernels_name(paths[p]));
            continue;
        }
        AKT_OK(st);
        for (size_t i = 0; i < n; i++)
            check_pmodel(&ms[i], texts, nt, 1 + (int)(p & 1));
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < ms[i].n_refs; r++) {
            free(ms[i].refs[r].idx);
            free(ms[i].refs[r].emb);
        }
        for (size_t t = 0; t < MAX_TEXTS; t++)
            free(ms[i].pids[t]);
    }
    for (size_t i = 0; i < nt; i++)
        free(texts[i]);
    free(texts);
}

AKT_MAIN(AKT_REG(dense_errors), AKT_REG(dense_math), AKT_REG(truncate), AKT_REG(pooling),
         AKT_REG(cli), AKT_REG(out_of_memory), AKT_REG(pipeline_ref))
