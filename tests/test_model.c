/*
 * test_model.c - the public model API end to end on small random-weight BERT
 * folders written into a temp directory (with the real MiniLM tokenizer
 * files): load errors naming file and tensor, info and max_tokens rules,
 * pooling / normalisation / truncation options, equivalence of F32 and BF16
 * weights, "bert." prefixes, gamma/beta names and sharded weights, kernel
 * paths and thread counts, concurrent callers, allocation failures, and the
 * bf16 and int8 compute modes against f32 (small model on every path,
 * MiniLM shape).
 *
 * Exactness against PyTorch is the business of tests/test_embed_ref.c.
 */
#include "akt.h"
#include "model/family.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define H_ 32
#define L_ 2
#define NH_ 4
#define I_ 64
#define V_ 30522
#define P_ 64

static const char *tmpdir;
static char tokdir[512];

static void setup(void)
{
    if (tmpdir)
        return;
    tmpdir = akt_tmpdir("akidb_model_");
    const char *src = getenv("AKIDB_SRC");
    if (!src)
        src = ".";
    snprintf(tokdir, sizeof tokdir, "%s/tests/data/minilm", src);
    char probe[700];
    snprintf(probe, sizeof probe, "%s/vocab.txt", tokdir);
    if (access(probe, R_OK) != 0)
        snprintf(tokdir, sizeof tokdir, "%s/../shared/models/all-MiniLM-L6-v2", src);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_str(const char *dir, const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_file(p, text, strlen(text));
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb");
    if (!a)
        return;
    FILE *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
}

typedef struct mopts {
    int bf16;             /* store BF16 */
    int round_bf16;       /* F32 file holding BF16-representable values */
    int prefix;           /* "bert." names */
    int gamma_beta;       /* LayerNorm.gamma/beta names */
    int shards;           /* two shards + index.json */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor written with a wrong shape */
    const char *config;   /* config.json text instead of the default */
    const char *modules;  /* modules.json text (NULL: none) */
    const char *pooling;  /* 1_Pooling/config.json text */
    const char *sbert;    /* sentence_bert_config.json text */
} mopts;

typedef struct wt {
    char name[128];
    size_t shape[2];
    int nd;
} wt;

/* Shape of the models make_model writes (changed only by the MiniLM-sized
 * bf16 test, which restores them). */
static size_t g_h = H_, g_l = L_, g_i = I_, g_p = P_;

static size_t list_weights(wt *w, const mopts *o)
{
    size_t n = 0;
    const char *lnw = o->gamma_beta ? "gamma" : "weight", *lnb = o->gamma_beta ? "beta" : "bias";
    const char *pre = o->prefix ? "bert." : "";
#define ADD_(nd_, a, b, ...)                                                  \
    do {                                                                      \
        snprintf(w[n].name, sizeof w[n].name, __VA_ARGS__);                   \
        w[n].nd = nd_; w[n].shape[0] = a; w[n].shape[1] = b; n++;             \
    } while (0)
    ADD_(2, V_, g_h, "%sembeddings.word_embeddings.weight", pre);
    ADD_(2, g_p, g_h, "%sembeddings.position_embeddings.weight", pre);
    ADD_(2, 2, g_h, "%sembeddings.token_type_embeddings.weight", pre);
    ADD_(1, g_h, 0, "%sembeddings.LayerNorm.%s", pre, lnw);
    ADD_(1, g_h, 0, "%sembeddings.LayerNorm.%s", pre, lnb);
    for (int l = 0; l < (int)g_l; l++) {
        static const char *qkv[] = { "query", "key", "value" };
        for (int i = 0; i < 3; i++) {
            ADD_(2, g_h, g_h, "%sencoder.layer.%d.attention.self.%s.weight", pre, l, qkv[i]);
            ADD_(1, g_h, 0, "%sencoder.layer.%d.attention.self.%s.bias", pre, l, qkv[i]);
        }
        ADD_(2, g_h, g_h, "%sencoder.layer.%d.attention.output.dense.weight", pre, l);
        ADD_(1, g_h, 0, "%sencoder.layer.%d.attention.output.dense.bias", pre, l);
        ADD_(1, g_h, 0, "%sencoder.layer.%d.attention.output.LayerNorm.%s", pre, l, lnw);
        ADD_(1, g_h, 0, "%sencoder.layer.%d.attention.output.LayerNorm.%s", pre, l, lnb);
        ADD_(2, g_i, g_h, "%sencoder.layer.%d.intermediate.dense.weight", pre, l);
        ADD_(1, g_i, 0, "%sencoder.layer.%d.intermediate.dense.bias", pre, l);
        ADD_(2, g_h, g_i, "%sencoder.layer.%d.output.dense.weight", pre, l);
        ADD_(1, g_h, 0, "%sencoder.layer.%d.output.dense.bias", pre, l);
        ADD_(1, g_h, 0, "%sencoder.layer.%d.output.LayerNorm.%s", pre, l, lnw);
        ADD_(1, g_h, 0, "%sencoder.layer.%d.output.LayerNorm.%s", pre, l, lnb);
    }
    ADD_(2, g_h, g_h, "%spooler.dense.weight", pre);
#undef ADD_
    return n;
}

/* Deterministic weights: the same values whatever the naming options. */
static float weight_value(size_t t, size_t i, const wt *w)
{
    uint64_t x = (t + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 31; x *= 0xBF58476D1CE4E5B9ull; x ^= x >> 29;
    float u = (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    const char *nm = w->name;
    size_t n = strlen(nm);
    int is_ln = strstr(nm, "LayerNorm") != NULL;
    int is_gain = is_ln && (strcmp(nm + n - 6, "weight") == 0 || strcmp(nm + n - 5, "gamma") == 0);
    if (is_gain)
        return 1.0f + 0.1f * u;
    if (w->nd == 1)
        return 0.1f * u;
    if (strstr(nm, "embeddings"))
        return 0.5f * u;
    return u * (float)(1.7 / sqrt((double)w->shape[1]));
}

static uint16_t f32_to_bf16_trunc(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)(b >> 16);
}

/* Writes the tensors [from, to) of w as one safetensors file. */
static void write_st(const char *path, wt *w, size_t from, size_t to, const mopts *o)
{
    size_t cap = 1 << 16, hl = 0, off = 0, esz = o->bf16 ? 2 : 4;
    char *hdr = malloc(cap);
    hl += (size_t)snprintf(hdr + hl, cap - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t t = from; t < to; t++) {
        if (o->skip && strstr(w[t].name, o->skip))
            continue;
        size_t s0 = w[t].shape[0], s1 = w[t].shape[1];
        if (o->bad && strstr(w[t].name, o->bad))
            s0 += 1;
        size_t numel = w[t].nd == 2 ? s0 * s1 : s0, bytes = numel * esz;
        if (w[t].nd == 2)
            hl += (size_t)snprintf(hdr + hl, cap - hl,
                                   ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu,%zu],\"data_offsets\":[%zu,%zu]}",
                                   w[t].name, o->bf16 ? "BF16" : "F32", s0, s1, off, off + bytes);
        else
            hl += (size_t)snprintf(hdr + hl, cap - hl,
                                   ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}",
                                   w[t].name, o->bf16 ? "BF16" : "F32", s0, off, off + bytes);
        off += bytes;
    }
    hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
    while ((8 + hl) % 8)
        hdr[hl++] = ' ';
    unsigned char *data = malloc(8 + hl + off);
    for (int i = 0; i < 8; i++)
        data[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(data + 8, hdr, hl);
    unsigned char *p = data + 8 + hl;
    for (size_t t = from; t < to; t++) {
        if (o->skip && strstr(w[t].name, o->skip))
            continue;
        size_t s0 = w[t].shape[0] + (o->bad && strstr(w[t].name, o->bad) ? 1 : 0);
        size_t numel = w[t].nd == 2 ? s0 * w[t].shape[1] : s0;
        for (size_t i = 0; i < numel; i++) {
            float v = weight_value(t, i, &w[t]);
            uint16_t b = f32_to_bf16_trunc(v);
            if (o->bf16) {
                memcpy(p, &b, 2);
                p += 2;
            } else {
                if (o->round_bf16)
                    v = ak_bf16_to_f32(b);
                memcpy(p, &v, 4);
                p += 4;
            }
        }
    }
    write_file(path, data, 8 + hl + off);
    free(hdr);
    free(data);
}

static const char *default_config =
    "{\"model_type\":\"bert\",\"hidden_size\":32,\"num_hidden_layers\":2,"
    "\"num_attention_heads\":4,\"intermediate_size\":64,\"hidden_act\":\"gelu\","
    "\"layer_norm_eps\":1e-12,\"max_position_embeddings\":64,\"type_vocab_size\":2,"
    "\"vocab_size\":30522,\"position_embedding_type\":\"absolute\"}";

static const char *st_modules =
    "[{\"idx\":0,\"name\":\"0\",\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
    "{\"idx\":1,\"name\":\"1\",\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
    "{\"idx\":2,\"name\":\"2\",\"path\":\"2_Normalize\",\"type\":\"sentence_transformers.models.Normalize\"}]";
static const char *mean_pooling =
    "{\"word_embedding_dimension\":32,\"pooling_mode_cls_token\":false,"
    "\"pooling_mode_mean_tokens\":true,\"pooling_mode_max_tokens\":false,"
    "\"pooling_mode_mean_sqrt_len_tokens\":false}";

/* Makes <tmpdir>/<name> and returns its path (static buffer per call slot). */
static const char *make_model(const char *name, const mopts *o)
{
    static char paths[8][400];
    static int slot;
    setup();
    char *dir = paths[slot++ % 8];
    snprintf(dir, 400, "%s/%s", tmpdir, name);
    mkdir(dir, 0700);
    static const char *tokfiles[] = { "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                      "special_tokens_map.json" };
    for (size_t i = 0; i < 4; i++) {
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/%s", tokdir, tokfiles[i]);
        snprintf(b, sizeof b, "%s/%s", dir, tokfiles[i]);
        copy_file(a, b);
    }
    write_str(dir, "config.json", o->config ? o->config : default_config);
    static wt w[128];
    size_t n = list_weights(w, o);
    char p[600];
    if (o->shards) {
        snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
        write_st(p, w, 0, n / 2, o);
        snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
        write_st(p, w, n / 2, n, o);
        char *idx = malloc(1 << 16);
        size_t l = (size_t)snprintf(idx, 1 << 16, "{\"weight_map\":{");
        for (size_t t = 0; t < n; t++)
            l += (size_t)snprintf(idx + l, (1 << 16) - l, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"",
                                  t ? "," : "", w[t].name, t < n / 2 ? 1 : 2);
        snprintf(idx + l, (1 << 16) - l, "}}");
        write_str(dir, "model.safetensors.index.json", idx);
        free(idx);
    } else {
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        write_st(p, w, 0, n, o);
    }
    if (o->modules) {
        write_str(dir, "modules.json", o->modules);
        snprintf(p, sizeof p, "%s/1_Pooling", dir);
        mkdir(p, 0700);
        write_str(p, "config.json", o->pooling ? o->pooling : mean_pooling);
    }
    if (o->sbert)
        write_str(dir, "sentence_bert_config.json", o->sbert);
    return dir;
}

static void expect_load_fail(const char *dir, akidb_status want, const char *f1, const char *f2)
{
    akidb_model *m = (akidb_model *)1;
    akidb_status st = akidb_model_load(dir, NULL, &m);
    if (st != want)
        AKT_FAIL_("%s: status %s, want %s (%s)", dir, akidb_status_name(st),
                  akidb_status_name(want), akidb_last_error());
    AKT_TRUE(m == NULL);
    if (f1)
        AKT_CONTAINS(akidb_last_error(), f1);
    if (f2)
        AKT_CONTAINS(akidb_last_error(), f2);
}

AKT_TEST(load_errors)
{
    mopts o = { 0 };
    const char *d = make_model("e_ok", &o);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", d);
    unlink(p);
    expect_load_fail(d, AKIDB_ENOENT, "e_ok/config.json", NULL);

    o.config = "{\"model_type\": \"bert\", ";
    expect_load_fail(make_model("e_json", &o), AKIDB_EFORMAT, "e_json/config.json", "not valid JSON");
    o.config = "{\"model_type\":\"gpt2\",\"hidden_size\":32}";
    expect_load_fail(make_model("e_type", &o), AKIDB_EUNSUPPORTED, "config.json", "'gpt2'");
    o.config = "{\"model_type\":\"bert\",\"hidden_size\":32,\"num_hidden_layers\":2}";
    expect_load_fail(make_model("e_field", &o), AKIDB_EFORMAT, "config.json", "num_attention_heads");
    o.config = "{\"model_type\":\"bert\",\"hidden_size\":32,\"num_hidden_layers\":2,"
               "\"num_attention_heads\":5,\"intermediate_size\":64,\"max_position_embeddings\":64,"
               "\"vocab_size\":30522}";
    expect_load_fail(make_model("e_heads", &o), AKIDB_EFORMAT, "config.json", "multiple");
    o.config = "{\"model_type\":\"bert\",\"hidden_size\":32,\"num_hidden_layers\":2,"
               "\"num_attention_heads\":4,\"intermediate_size\":64,\"max_position_embeddings\":64,"
               "\"vocab_size\":30522,\"hidden_act\":\"swish\"}";
    expect_load_fail(make_model("e_act", &o), AKIDB_EUNSUPPORTED, "config.json", "'swish'");
    o.config = "{\"model_type\":\"bert\",\"hidden_size\":32,\"num_hidden_layers\":2,"
               "\"num_attention_heads\":4,\"intermediate_size\":64,\"max_position_embeddings\":64,"
               "\"vocab_size\":30522,\"position_embedding_type\":\"relative_key\"}";
    expect_load_fail(make_model("e_pos", &o), AKIDB_EUNSUPPORTED, "config.json", "relative_key");
    o.config = NULL;

    o.bad = "encoder.layer.1.attention.self.key.weight";
    expect_load_fail(make_model("e_shape", &o), AKIDB_EDIM, "e_shape/model.safetensors",
                     "tensor 'encoder.layer.1.attention.self.key.weight': shape [33, 32], but config.json implies [32, 32]");
    o.bad = NULL;
    o.skip = "encoder.layer.0.output.dense.bias";
    expect_load_fail(make_model("e_missing", &o), AKIDB_EFORMAT, "e_missing",
                     "'encoder.layer.0.output.dense.bias'");
    o.skip = NULL;

    d = make_model("e_noweights", &o);
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    unlink(p);
    expect_load_fail(d, AKIDB_ENOENT, "e_noweights", "model.safetensors");

    o.modules = "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                "{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                "{\"path\":\"2_Dense\",\"type\":\"sentence_transformers.models.Dense\"}]";
    /* a Dense module without its folder (test_pipeline.c tests Dense folders) */
    expect_load_fail(make_model("e_dense", &o), AKIDB_ENOENT, "2_Dense/config.json", NULL);
    o.modules = "[{\"path\":\"\",\"type\":\"sentence_transformers.models.Transformer\"},"
                "{\"path\":\"1_Pooling\",\"type\":\"sentence_transformers.models.Pooling\"},"
                "{\"path\":\"2_Asym\",\"type\":\"sentence_transformers.models.Asym\"}]";
    expect_load_fail(make_model("e_asym", &o), AKIDB_EUNSUPPORTED, "modules.json", "Asym");
    o.modules = st_modules;
    o.pooling = "{\"pooling_mode_cls_token\":true,\"pooling_mode_mean_tokens\":true}";
    expect_load_fail(make_model("e_pool2", &o), AKIDB_EUNSUPPORTED, "1_Pooling/config.json", "2 pooling modes");
    o.pooling = "{\"pooling_mode\":\"median\"}";
    expect_load_fail(make_model("e_poolm", &o), AKIDB_EUNSUPPORTED, "1_Pooling/config.json", "median");
    o.pooling = "not json";
    expect_load_fail(make_model("e_poolj", &o), AKIDB_EFORMAT, "1_Pooling/config.json", NULL);
    o.pooling = NULL;
    o.modules = "{\"not\":\"an array\"}";
    expect_load_fail(make_model("e_modj", &o), AKIDB_EFORMAT, "modules.json", NULL);
    o.modules = st_modules;
    o.sbert = "{\"max_seq_length\": -3}";
    expect_load_fail(make_model("e_sbert", &o), AKIDB_EFORMAT, "sentence_bert_config.json", "max_seq_length");
}

static akidb_model *load_ok(const char *dir, const akidb_model_opts *opts)
{
    akidb_model *m = NULL;
    akidb_status st = akidb_model_load(dir, opts, &m);
    if (st != AKIDB_OK)
        AKT_FAIL_("load %s: %s: %s", dir, akidb_status_name(st), akidb_last_error());
    return m;
}

AKT_TEST(info_and_max_tokens)
{
    mopts o = { 0 };
    akidb_model *m = load_ok(make_model("plain", &o), NULL);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_STR(info.name, "plain");
    AKT_EQ_INT(info.dim, 32);
    AKT_EQ_INT(info.max_tokens, 64);     /* min(tokenizer 512, positions 64) */
    AKT_EQ_INT(info.pooling, AKIDB_POOL_MEAN);
    AKT_EQ_INT(info.normalize, 0);
    AKT_EQ_INT(info.n_layers, 2);
    AKT_EQ_INT(info.hidden, 32);
    AKT_EQ_INT(info.n_heads, 4);
    AKT_EQ_INT(info.intermediate, 64);
    AKT_EQ_INT(info.vocab_size, 30522);
    AKT_EQ_STR(info.weights_dtype, "F32");
    AKT_TRUE(akidb_model_tokenizer(m) != NULL);
    akidb_model_free(m);

    o.modules = st_modules;
    o.sbert = "{\"max_seq_length\": 16, \"do_lower_case\": false}";
    o.bf16 = 1;
    o.pooling = "{\"pooling_mode\": \"cls\"}";
    akidb_model_opts mo = { .name = "tiny" };
    m = load_ok(make_model("st", &o), &mo);
    akidb_model_get_info(m, &info);
    AKT_EQ_STR(info.name, "tiny");
    AKT_EQ_INT(info.max_tokens, 16);
    AKT_EQ_INT(info.pooling, AKIDB_POOL_CLS);
    AKT_EQ_INT(info.normalize, 1);
    AKT_EQ_STR(info.weights_dtype, "BF16");
    akidb_model_free(m);
    mo.max_seq_length = 1000;            /* capped by positions */
    m = load_ok(make_model("st", &o), &mo);
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.max_tokens, 64);
    akidb_model_free(m);
    mo.max_seq_length = 10;
    m = load_ok(make_model("st", &o), &mo);
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.max_tokens, 10);
    akidb_model_free(m);
}

AKT_TEST(pooling_names)
{
    akidb_pooling p;
    static const char *names[] = { "default", "mean", "cls", "max", "mean_sqrt_len" };
    for (int i = 0; i < 5; i++) {
        AKT_OK(akidb_pooling_parse(names[i], &p));
        AKT_EQ_INT(p, i);
        AKT_EQ_STR(akidb_pooling_name(p), names[i]);
    }
    AKT_STATUS(akidb_pooling_parse("avg", &p), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "avg");
}

static const char *texts[] = {
    "Hello world!",
    "The quick brown fox jumps over the lazy dog; cafés, naïve résumé.",
    "A",
    "",
};
#define N_TEXTS 4

static double norm(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    return sqrt(s);
}

AKT_TEST(embed_matches_forward)
{
    mopts o = { 0 };
    akidb_model *m = load_ok(make_model("plain", &o), NULL);
    const akidb_model *cm = m;
    float out[N_TEXTS * H_];
    size_t ntok = 0;
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.n_tokens = &ntok;
    AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, out, &eo));
    size_t want_tok = 0;
    /* recompute each text through the tokenizer and the internal forward */
    akidb_tokens toks = { 0 };
    ak_arena ar;
    ak_arena_init(&ar, 0);
    for (int t = 0; t < N_TEXTS; t++) {
        AKT_OK(akidb_tokenizer_encode(akidb_model_tokenizer(m), texts[t], strlen(texts[t]), 64, &toks));
        want_tok += toks.n;
        float *hid;
        AKT_OK(ak_model_forward(cm, toks.ids, toks.n, &ar, &hid));
        for (size_t j = 0; j < H_; j++) {
            double mean = 0, mx = -1e30;
            for (size_t i = 0; i < toks.n; i++) {
                mean += hid[i * H_ + j];
                mx = hid[i * H_ + j] > mx ? hid[i * H_ + j] : mx;
            }
            mean /= (double)toks.n;
            AKT_NEAR(out[t * H_ + j], mean, 1e-6);
        }
        ak_arena_reset(&ar);
    }
    AKT_EQ_INT(ntok, want_tok);
    AKT_TRUE(want_tok >= 2 * N_TEXTS);

    /* explicit pooling and normalisation */
    float o2[N_TEXTS * H_];
    eo.pooling = AKIDB_POOL_MEAN;
    eo.normalize = 1;
    AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, o2, &eo));
    for (int t = 0; t < N_TEXTS; t++) {
        AKT_NEAR(norm(o2 + t * H_, H_), 1.0, 1e-6);
        double nn = norm(out + t * H_, H_);
        for (size_t j = 0; j < H_; j++)
            AKT_NEAR(o2[t * H_ + j], out[t * H_ + j] / nn, 1e-6);
    }
    eo.normalize = 0;
    for (int p = AKIDB_POOL_MEAN; p <= AKIDB_POOL_MEAN_SQRT_LEN; p++) {
        eo.pooling = (akidb_pooling)p;
        AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, o2, &eo));
        AKT_OK(akidb_tokenizer_encode(akidb_model_tokenizer(m), texts[1], strlen(texts[1]), 64, &toks));
        float *hid;
        AKT_OK(ak_model_forward(cm, toks.ids, toks.n, &ar, &hid));
        for (size_t j = 0; j < H_; j++) {
            double ref = 0;
            for (size_t i = 0; i < toks.n; i++) {
                double v = hid[i * H_ + j];
                if (p == AKIDB_POOL_CLS)
                    ref = i == 0 ? v : ref;
                else if (p == AKIDB_POOL_MAX)
                    ref = i == 0 || v > ref ? v : ref;
                else
                    ref += v;
            }
            if (p == AKIDB_POOL_MEAN)
                ref /= (double)toks.n;
            if (p == AKIDB_POOL_MEAN_SQRT_LEN)
                ref /= sqrt((double)toks.n);
            AKT_NEAR(o2[H_ + j], ref, 1e-5);
        }
        ak_arena_reset(&ar);
    }
    /* explicit lengths: a prefix of a text equals the shorter text */
    size_t lens[2] = { 5, 1 };
    const char *pre[2] = { "Hello world!", "Abc" };
    const char *plain[2] = { "Hello", "A" };
    float a[2 * H_], b[2 * H_];
    AKT_OK(akidb_embed(m, pre, lens, 2, a, NULL));
    AKT_OK(akidb_embed(m, plain, NULL, 2, b, NULL));
    AKT_EQ_INT(memcmp(a, b, sizeof a), 0);
    AKT_OK(akidb_embed(m, NULL, NULL, 0, NULL, NULL));   /* nothing to do */
    akidb_tokens_free(&toks);
    ak_arena_free(&ar);
    akidb_model_free(m);
}

AKT_TEST(truncation)
{
    mopts o = { 0 };
    o.modules = st_modules;
    o.sbert = "{\"max_seq_length\": 16}";
    akidb_model *m = load_ok(make_model("trunc", &o), NULL);
    char longtext[2000] = "";
    for (int i = 0; i < 100; i++)
        strcat(longtext, "word ");
    const char *tx[3] = { "short one", longtext, "another" };
    float out[3 * H_];
    size_t ntok = 0;
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.n_tokens = &ntok;
    AKT_OK(akidb_embed(m, tx, NULL, 3, out, &eo));
    AKT_LE_INT(ntok, 16 * 3);
    AKT_TRUE(ntok > 16);
    AKT_NEAR(norm(out + H_, H_), 1.0, 1e-6);      /* folder has Normalize */
    eo.no_truncate = 1;
    AKT_STATUS(akidb_embed(m, tx, NULL, 3, out, &eo), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "text 1");
    AKT_CONTAINS(akidb_last_error(), "16");
    eo.n_threads = 3;
    AKT_STATUS(akidb_embed(m, tx, NULL, 3, out, &eo), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "text 1");
    const char *bad[2] = { "fine", "bad \xff utf8" };
    eo.no_truncate = 0;
    AKT_STATUS(akidb_embed(m, bad, NULL, 2, out, &eo), AKIDB_EUTF8);
    AKT_CONTAINS(akidb_last_error(), "text 1");
    akidb_model_free(m);
}

AKT_TEST(weight_variants_agree)
{
    mopts o = { 0 };
    o.round_bf16 = 1;
    akidb_model *ref = load_ok(make_model("v_f32", &o), NULL);
    float r[N_TEXTS * H_], x[N_TEXTS * H_];
    AKT_OK(akidb_embed(ref, texts, NULL, N_TEXTS, r, NULL));
    static const struct { const char *name; mopts o; } v[] = {
        { "v_bf16", { .bf16 = 1 } },
        { "v_prefix", { .round_bf16 = 1, .prefix = 1 } },
        { "v_gamma", { .round_bf16 = 1, .gamma_beta = 1, .prefix = 1 } },
        { "v_shards", { .round_bf16 = 1, .shards = 1 } },
        { "v_bf16_shards", { .bf16 = 1, .shards = 1, .gamma_beta = 1 } },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        akidb_model *m = load_ok(make_model(v[i].name, &v[i].o), NULL);
        AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, x, NULL));
        if (memcmp(r, x, sizeof r) != 0)
            AKT_FAIL_("variant %s differs from the F32 model", v[i].name);
        akidb_model_free(m);
    }
    akidb_model_free(ref);
}

AKT_TEST(paths_and_threads)
{
    mopts o = { 0 };
    akidb_model *m = load_ok(make_model("plain", &o), NULL);
    float r[N_TEXTS * H_], x[N_TEXTS * H_];
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_SCALAR));
    AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, r, NULL));
    static const akidb_kernel_path paths[] = { AKIDB_KERNELS_AVX2, AKIDB_KERNELS_AVX512,
                                               AKIDB_KERNELS_NEON };
    for (size_t p = 0; p < 3; p++) {
        if (akidb_kernels_select(paths[p]) != AKIDB_OK)
            continue;
        AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, x, NULL));
        for (size_t i = 0; i < N_TEXTS * H_; i++)
            AKT_NEAR(x[i], r[i], 1e-5);
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, r, NULL));
    for (int t = 2; t <= 8; t++) {
        akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
        eo.n_threads = t;
        size_t nt = 0;
        eo.n_tokens = &nt;
        AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, x, &eo));
        AKT_EQ_INT(memcmp(r, x, sizeof r), 0);
        AKT_TRUE(nt > 0);
    }
    akidb_model_free(m);
}

typedef struct conc_arg {
    const akidb_model *m;
    const float *want;
    int ok;
} conc_arg;

static void *conc_thread(void *p)
{
    conc_arg *a = p;
    float x[N_TEXTS * H_];
    a->ok = 1;
    for (int it = 0; it < 20; it++) {
        if (akidb_embed(a->m, texts, NULL, N_TEXTS, x, NULL) != AKIDB_OK ||
            memcmp(x, a->want, sizeof x) != 0)
            a->ok = 0;
    }
    return NULL;
}

AKT_TEST(concurrent_callers)
{
    mopts o = { 0 };
    akidb_model *m = load_ok(make_model("plain", &o), NULL);
    float r[N_TEXTS * H_];
    AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, r, NULL));
    pthread_t th[4];
    conc_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (conc_arg){ m, r, 0 };
        pthread_create(&th[i], NULL, conc_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        AKT_TRUE(args[i].ok);
    }
    akidb_model_free(m);
}

AKT_TEST(out_of_memory)
{
    mopts o = { 0 };
    o.modules = st_modules;
    o.sbert = "{\"max_seq_length\": 32}";
    o.bf16 = 1;       /* converted copies: more allocations to fail */
    const char *dir = make_model("oom", &o);
    float want[N_TEXTS * H_], x[N_TEXTS * H_];
    akidb_model *m = load_ok(dir, NULL);
    AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, want, NULL));
    akidb_model_free(m);
    int done = 0;
    long i;
    for (i = 0; i < 100000 && !done; i = akt_oom_next(i)) {
        ak_alloc_fail_after(i);
        akidb_status st = akidb_model_load(dir, NULL, &m);
        if (st == AKIDB_OK) {
            akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
            eo.n_threads = 2;
            st = akidb_embed(m, texts, NULL, N_TEXTS, x, &eo);
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

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa * bb) + 1e-300);
}

/* Embeds the small texts with m (a reduced-precision load of the small
 * model) on every kernel path this CPU has: worst cosine to the f32
 * embeddings ref >= 0.999, and 2 threads bit-identical to 1. */
static void reduced_on_every_path(akidb_model *m, const char *dtype, const float *ref)
{
    static const akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                               AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };
    float x[N_TEXTS * H_], x2[N_TEXTS * H_];
    for (size_t p = 0; p < 4; p++) {
        if (akidb_kernels_select(paths[p]) != AKIDB_OK)
            continue;
        AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, x, NULL));
        double worst = 1.0;
        for (int t = 0; t < N_TEXTS; t++) {
            double c = cosine(ref + t * H_, x + t * H_, H_);
            worst = c < worst ? c : worst;
        }
        fprintf(stderr, "  %s small model, %s: worst cosine to f32 %.6f\n", dtype,
                akidb_kernels_name(paths[p]), worst);
        AKT_TRUE(worst >= 0.999);
        akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
        eo.n_threads = 2;
        AKT_OK(akidb_embed(m, texts, NULL, N_TEXTS, x2, &eo));
        AKT_EQ_INT(memcmp(x, x2, sizeof x), 0);
    }
}

AKT_TEST(bf16_small)
{
    /* reduced precision (bf16, then int8) on the small model: every kernel path (the scalar
     * path uses the portable bf16 GEMM, AVX-512 the AVX512_BF16 one where the
     * CPU has it), threads bit-identical, unknown dtypes refused */
    mopts o = { 0 };
    const char *dir = make_model("plain", &o);
    akidb_model *f = load_ok(dir, NULL);
    akidb_model_opts mo = { 0 };
    mo.dtype = "bf16";
    akidb_model *h = load_ok(dir, &mo);
    float r[N_TEXTS * H_], x[N_TEXTS * H_];
    AKT_OK(akidb_embed(f, texts, NULL, N_TEXTS, r, NULL));
    reduced_on_every_path(h, "bf16", r);
    mo.dtype = "int8";
    akidb_model *q = load_ok(dir, &mo);
    reduced_on_every_path(q, "int8", r);
    akidb_model_free(q);
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    mo.dtype = "int4";
    akidb_model *bad = (akidb_model *)1;
    AKT_STATUS(akidb_model_load(dir, &mo, &bad), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "int4");
    AKT_TRUE(bad == NULL);
    mo.dtype = "f32";
    akidb_model *f2 = load_ok(dir, &mo);
    AKT_OK(akidb_embed(f2, texts, NULL, N_TEXTS, x, NULL));
    AKT_EQ_INT(memcmp(r, x, sizeof r), 0);
    akidb_model_free(f2);
    akidb_model_free(h);
    akidb_model_free(f);
}

AKT_TEST(bf16_minilm)
{
    /* MiniLM-L6 shape (6 x 384, 12 heads, 1536) with random weights: bf16
     * and int8 against f32 on texts from 3 to 256 tokens, cosine >= 0.999
     * each */
    g_h = 384; g_l = 6; g_i = 1536; g_p = 512;
    mopts o = { 0 };
    o.config = "{\"model_type\":\"bert\",\"hidden_size\":384,\"num_hidden_layers\":6,"
               "\"num_attention_heads\":12,\"intermediate_size\":1536,\"hidden_act\":\"gelu\","
               "\"layer_norm_eps\":1e-12,\"max_position_embeddings\":512,\"type_vocab_size\":2,"
               "\"vocab_size\":30522,\"position_embedding_type\":\"absolute\"}";
    o.modules = st_modules;
    o.pooling = "{\"word_embedding_dimension\":384,\"pooling_mode_mean_tokens\":true}";
    o.sbert = "{\"max_seq_length\": 256}";
    const char *dir = make_model("minilm_shape", &o);
    g_h = H_; g_l = L_; g_i = I_; g_p = P_;
    akidb_model *f = load_ok(dir, NULL);
    akidb_model_opts mo = { 0 };
    mo.dtype = "bf16";
    akidb_model *h = load_ok(dir, &mo);
    enum { NT = 12, D = 384 };
    static char longtext[4000];
    longtext[0] = 0;
    for (int i = 0; i < 300; i++)
        strcat(longtext, i % 7 ? "token " : "another sentence. ");
    const char *tx[NT] = {
        "hi", "The quick brown fox jumps over the lazy dog.",
        "Embeddings map text to vectors so that similar meanings lie close together.",
        "Résumé of naïve café owners, 42 years of ☕ and 日本語 text.",
        "A", "What is the capital of France? Paris is the capital and largest city.",
        "Short texts of about thirty tokens are the common case for semantic search "
        "queries, so their latency matters most of all.",
        longtext, "1 2 3 4 5 6 7 8 9 10", "UPPER lower MiXeD",
        "Line one.\nLine two.\tTabbed.", "!!! ??? ... ---",
    };
    static float r[NT * D], x[NT * D];
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.n_threads = 2;
    AKT_OK(akidb_embed(f, tx, NULL, NT, r, &eo));
    AKT_OK(akidb_embed(h, tx, NULL, NT, x, &eo));
    double worst = 1.0;
    for (int t = 0; t < NT; t++) {
        double c = cosine(r + t * D, x + t * D, D);
        worst = c < worst ? c : worst;
    }
    fprintf(stderr, "  bf16 MiniLM shape (%s): worst cosine to f32 over %d texts %.6f\n",
            akidb_kernels_name(akidb_kernels_active()), NT, worst);
    AKT_TRUE(worst >= 0.999);
    akidb_model_free(h);
    mo.dtype = "int8";
    h = load_ok(dir, &mo);
    AKT_OK(akidb_embed(h, tx, NULL, NT, x, &eo));
    worst = 1.0;
    for (int t = 0; t < NT; t++) {
        double c = cosine(r + t * D, x + t * D, D);
        worst = c < worst ? c : worst;
    }
    fprintf(stderr, "  int8 MiniLM shape (%s): worst cosine to f32 over %d texts %.6f\n",
            akidb_kernels_name(akidb_kernels_active()), NT, worst);
    AKT_TRUE(worst >= 0.999);
    akidb_model_free(h);
    akidb_model_free(f);
}

AKT_MAIN(AKT_REG(load_errors), AKT_REG(info_and_max_tokens), AKT_REG(pooling_names),
         AKT_REG(embed_matches_forward), AKT_REG(truncation), AKT_REG(weight_variants_agree),
         AKT_REG(paths_and_threads), AKT_REG(concurrent_callers), AKT_REG(out_of_memory),
         AKT_REG(bf16_small), AKT_REG(bf16_minilm))
