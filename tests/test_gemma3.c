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
#include "akt.h"
#include "model/family.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

enum { H_ = 64, NQ_ = 4, NKV_ = 2, HD_ = 16, I_ = 96, L_ = 2, V_ = 1000 };

static const char *src_dir(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        AKT_FAIL_("cannot write %s: %s", p, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* ---- small models written here ---------------------------------------------- */

typedef struct tensor {
    char name[160];
    size_t d0, d1;
} tensor;

static size_t list_tensors(tensor *t)
{
    static const char *norms[] = { "input_layernorm", "post_attention_layernorm",
                                   "pre_feedforward_layernorm", "post_feedforward_layernorm" };
    size_t n = 0;
#define T_(a, b, ...)                                                              \
    do { snprintf(t[n].name, sizeof t[n].name, __VA_ARGS__); t[n].d0 = a; t[n].d1 = b; n++; } \
    while (0)
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

/* Deterministic value i of tensor t: multiples of 1/128 in [-1, 1], exact
 * in bf16 and in f16.  Norm weights w near 0 (gains 1 + w). */
static float value(const tensor *t, size_t ti, size_t i)
{
    uint64_t x = (ti + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    float u = (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0), v;
    if (!t->d1)
        v = 0.25f * u;
    else if (strcmp(t->name, "embed_tokens.weight") == 0)
        v = u;
    else
        v = u * (float)(1.7 / sqrt((double)t->d1));
    return ldexpf(roundf(ldexpf(v, 7)), -7);
}

/* IEEE half of v (exact for value()'s numbers). */
static uint16_t to_f16(float v)
{
    if (v == 0.0f)
        return 0;
    int e;
    float m = frexpf(fabsf(v), &e);   /* v = m 2^e, m in [0.5, 1) */
    uint16_t s = v < 0 ? 0x8000 : 0;
    int be = e - 1 + 15;
    if (!(be > 0 && be < 31))
        AKT_FAIL_("%g is out of the f16 test range", v);
    uint16_t man = (uint16_t)lroundf((m * 2.0f - 1.0f) * 1024.0f);
    return (uint16_t)(s | (be << 10) | man);
}

typedef struct wopts {
    int dt;               /* 0 F32, 1 BF16, 2 F16 */
    const char *prefix;   /* Hub prefix of every name, or NULL */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor with one row too many */
} wopts;

static void write_weights(const char *dir, const wopts *o)
{
    static tensor t[64];
    static const char *dts[] = { "F32", "BF16", "F16" };
    size_t n = list_tensors(t), esz = o->dt ? 2 : 4, off = 0, hl = 0, cap = 1 << 16;
    char *hdr = malloc(cap);
    hl += (size_t)snprintf(hdr, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        if (o->skip && strcmp(t[i].name, o->skip) == 0)
            continue;
        size_t d0 = t[i].d0 + (o->bad && strcmp(t[i].name, o->bad) == 0);
        size_t bytes = d0 * (t[i].d1 ? t[i].d1 : 1) * esz;
        char shape[64];
        if (t[i].d1)
            snprintf(shape, sizeof shape, "[%zu,%zu]", d0, t[i].d1);
        else
            snprintf(shape, sizeof shape, "[%zu]", d0);
        hl += (size_t)snprintf(hdr + hl, cap - hl,
                               ",\"%s%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                               o->prefix ? o->prefix : "", t[i].name, dts[o->dt], shape, off,
                               off + bytes);
        off += bytes;
    }
    hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
    while (hl % 8)
        hdr[hl++] = ' ';
    unsigned char *data = malloc(8 + hl + off), *p = data + 8 + hl;
    for (int i = 0; i < 8; i++)
        data[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(data + 8, hdr, hl);
    for (size_t i = 0; i < n; i++) {
        if (o->skip && strcmp(t[i].name, o->skip) == 0)
            continue;
        size_t d0 = t[i].d0 + (o->bad && strcmp(t[i].name, o->bad) == 0);
        for (size_t k = 0; k < d0 * (t[i].d1 ? t[i].d1 : 1); k++) {
            float v = value(&t[i], i, k);
            uint32_t b;
            memcpy(&b, &v, 4);
            uint16_t h = o->dt == 1 ? (uint16_t)(b >> 16) : to_f16(v);
            memcpy(p, o->dt ? (void *)&h : (void *)&v, esz);
            p += esz;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, 8 + hl + off, f);
    fclose(f);
    free(hdr);
    free(data);
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
    static char dirs[8][PATH_MAX];
    static int slot;
    char *d = dirs[slot++ % 8];
    snprintf(d, PATH_MAX, "%s/%s", akt_tmpdir("akidb_gemma3_"), name);
    mkdir(d, 0700);
    write_text(d, "config.json", cfg);
    if (o)
        write_weights(d, o);
    return d;
}

static akidb_model *load_ids(const char *dir, const char *dtype)
{
    akidb_model_opts mo = { .dtype = dtype };
    akidb_model *m = NULL;
    akidb_status st = ak_model_load_ids(dir, &mo, &m);
    if (st != AKIDB_OK)
        AKT_FAIL_("load %s: %s: %s", dir, akidb_status_name(st), akidb_last_error());
    return m;
}

static void expect_fail(const char *dir, akidb_status want, const char *s1, const char *s2)
{
    akidb_model *m = (akidb_model *)1;
    akidb_status st = ak_model_load_ids(dir, NULL, &m);
    if (st != want)
        AKT_FAIL_("%s: status %s, want %s (%s)", dir, akidb_status_name(st),
                  akidb_status_name(want), akidb_last_error());
    AKT_TRUE(m == NULL);
    if (s1)
        AKT_CONTAINS(akidb_last_error(), s1);
    if (s2)
        AKT_CONTAINS(akidb_last_error(), s2);
}

/* ---- config ----------------------------------------------------------------- */

static void cfg_case(const char *name, const char *cfg, akidb_status want, const char *s,
                     ak_hparams *hp)
{
    const ak_family *f;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/config.json", make_model(name, cfg, NULL));
    akidb_status st = ak_family_config_load(p, &f, hp);
    if (st != want)
        AKT_FAIL_("%s: status %s, want %s (%s)", name, akidb_status_name(st),
                  akidb_status_name(want), akidb_last_error());
    if (want == AKIDB_OK)
        AKT_TRUE(f == &ak_family_gemma3);
    if (s)
        AKT_CONTAINS(akidb_last_error(), s);
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

enum { NSEQ = 5 };
static const int32_t seq_a[] = { 2, 17, 99, 512, 1 }, seq_b[] = { 2 },
                     seq_c[] = { 2, 300, 17, 400, 999, 5, 6, 1 };
static int32_t seq_long[64];

static void fixed_seqs(const int32_t **ids, size_t *lens)
{
    for (int i = 0; i < 64; i++)
        seq_long[i] = (int32_t)((i * 7919 + 11) % V_);
    ids[0] = seq_a; lens[0] = 5;
    ids[1] = seq_b; lens[1] = 1;
    ids[2] = seq_c; lens[2] = 8;
    ids[3] = seq_long; lens[3] = 64;
    ids[4] = seq_long; lens[4] = 33;
}

static void embed_fixed(const akidb_model *m, int nt, int one_by_one, float *out)
{
    const int32_t *ids[NSEQ];
    size_t lens[NSEQ];
    fixed_seqs(ids, lens);
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.n_threads = nt;
    if (!one_by_one) {
        AKT_OK(ak_model_embed_ids(m, NSEQ, ids, lens, out, &o));
        return;
    }
    for (int i = 0; i < NSEQ; i++)
        AKT_OK(ak_model_embed_ids(m, 1, &ids[i], &lens[i], out + i * H_, &o));
}

AKT_TEST(tensors)
{
    wopts o = { 0 };
    akidb_model *ref = load_ids(make_model("t_plain", mixed_cfg, &o), NULL);
    akidb_model_info info;
    akidb_model_get_info(ref, &info);
    AKT_EQ_STR(info.weights_dtype, "F32");
    AKT_EQ_INT(info.dim, H_);
    AKT_EQ_INT(info.n_heads, NQ_);
    float r[NSEQ * H_], x[NSEQ * H_];
    embed_fixed(ref, 1, 0, r);
    for (int i = 0; i < NSEQ * H_; i++)
        AKT_TRUE(isfinite(r[i]));
    const wopts v[] = { { .prefix = "model." }, { .dt = 1 }, { .dt = 2 },
                        { .dt = 1, .prefix = "model." } };
    static const char *names[] = { "F32", "BF16", "F16", "BF16" };
    for (int i = 0; i < 4; i++) {
        akidb_model *m = load_ids(make_model("t_var", mixed_cfg, &v[i]), NULL);
        akidb_model_get_info(m, &info);
        AKT_EQ_STR(info.weights_dtype, names[i]);
        embed_fixed(m, 1, 0, x);
        if (memcmp(r, x, sizeof r) != 0)
            AKT_FAIL_("variant %d differs from the plain F32 model", i);
        akidb_model_free(m);
    }
    akidb_model_free(ref);
    static const char *miss[] = { "layers.1.post_feedforward_layernorm.weight",
                                  "layers.0.post_attention_layernorm.weight",
                                  "layers.0.pre_feedforward_layernorm.weight",
                                  "layers.1.self_attn.q_norm.weight", "embed_tokens.weight",
                                  "norm.weight" };
    for (int i = 0; i < 6; i++) {
        wopts w = { .prefix = "model.", .skip = miss[i] };
        expect_fail(make_model("t_miss", mixed_cfg, &w), AKIDB_EFORMAT, miss[i],
                    "also tried 'model.");
    }
    static const char *bad[] = { "layers.0.self_attn.k_proj.weight",
                                 "layers.1.post_attention_layernorm.weight",
                                 "layers.0.self_attn.k_norm.weight" };
    for (int i = 0; i < 3; i++) {
        wopts w = { .bad = bad[i] };
        expect_fail(make_model("t_shape", mixed_cfg, &w), AKIDB_EDIM, bad[i],
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
    akidb_model *m = load_ids(make_model("f_bf", mixed_cfg, &o), NULL);
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
    m = load_ids(make_model("f_bidir", bidir_cfg, &o), NULL);
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
    m = load_ids(make_model("f_causal", causal_cfg, &o), NULL);
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

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / sqrt(aa * bb);
}

static const akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                           AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };

AKT_TEST(reduced)
{
    wopts o = { .dt = 1 };
    const char *dir = make_model("q_bf", mixed_cfg, &o);
    akidb_model *f = load_ids(dir, NULL);
    float r[NSEQ * H_], x[NSEQ * H_], x2[NSEQ * H_];
    embed_fixed(f, 1, 0, r);
    static const char *dt[] = { "bf16", "int8" };
    for (int d = 0; d < 2; d++) {
        akidb_model *m = load_ids(dir, dt[d]);
        for (size_t p = 0; p < 4; p++) {
            if (akidb_kernels_select(paths[p]) != AKIDB_OK)
                continue;
            embed_fixed(m, 1, 0, x);
            embed_fixed(m, 2, 1, x2);
            AKT_EQ_INT(memcmp(x, x2, sizeof x), 0);
            double worst = 1;
            for (int t = 0; t < NSEQ; t++) {
                double c = cosine(r + t * H_, x + t * H_, H_);
                worst = c < worst ? c : worst;
            }
            fprintf(stderr, "  %s Gemma 3, %s: worst cosine to f32 %.6f\n", dt[d],
                    akidb_kernels_name(paths[p]), worst);
            AKT_GE(worst, 0.999);
        }
        akidb_model_free(m);
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    akidb_model_free(f);
}

AKT_TEST(out_of_memory)
{
    wopts o = { .dt = 1 };   /* converted copies: more allocations to fail */
    const char *dir = make_model("m_bf", mixed_cfg, &o);
    const int32_t *ids[NSEQ];
    size_t lens[NSEQ];
    fixed_seqs(ids, lens);
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.n_threads = 2;
    akidb_model *m = load_ids(dir, NULL);
    float want[NSEQ * H_], x[NSEQ * H_];
    AKT_OK(ak_model_embed_ids(m, NSEQ, ids, lens, want, &eo));
    akidb_model_free(m);
    int done = 0;
    long i;
    for (i = 0; i < 100000 && !done; i = akt_oom_next(i)) {
        ak_alloc_fail_after(i);
        akidb_status st = ak_model_load_ids(dir, NULL, &m);
        if (st == AKIDB_OK) {
            st = ak_model_embed_ids(m, NSEQ, ids, lens, x, &eo);
            akidb_model_free(m);
            done = st == AKIDB_OK;
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
    AKT_EQ_INT(memcmp(x, want, sizeof x), 0);
    fprintf(stderr, "  %ld allocation points checked\n", i);
}

/* ---- the text-level reference (make_gemma3.py's gemma3_text) ------------------ */

typedef struct ref {
    uint32_t n, dim;
    uint32_t *idx;
    float *emb;
} ref;

static void read_ref(const char *path, ref *r)
{
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
    r->emb = malloc((size_t)r->n * r->dim * sizeof *r->emb);
    if (fread(r->idx, 4, r->n, f) != r->n ||
        fread(r->emb, 4, (size_t)r->n * r->dim, f) != (size_t)r->n * r->dim)
        AKT_FAIL_("%s: truncated", path);
    fclose(f);
}

/* The texts of tests/data/tok_multilingual.txt (JSON strings, one a line). */
static size_t read_corpus(char ***texts, size_t **lens)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/data/tok_multilingual.txt", src_dir());
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t got;
    *texts = calloc(1024, sizeof **texts);
    *lens = calloc(1024, sizeof **lens);
    while ((got = getline(&line, &cap, f)) > 0 && n < 1024) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (got == 0 || line[0] == '#')
            continue;
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!json_is_string(j))
            AKT_FAIL_("%s: line is not a JSON string: %.60s", path, line);
        (*lens)[n] = json_string_length(j);
        (*texts)[n] = malloc((*lens)[n] + 1);
        memcpy((*texts)[n], json_string_value(j), (*lens)[n] + 1);
        json_decref(j);
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

/* ids.txt line i (untruncated) against the tokenizer's ids of text i. */
static void check_ids(const char *dir, const akidb_model *m, char **texts, size_t *lens,
                      size_t n, size_t max_tokens)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/ids.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, bad = 0;
    akidb_tokens tk = { 0 };
    static int32_t want[8192];
    for (size_t i = 0; i < n && getline(&line, &cap, f) > 0; i++) {
        size_t k = 0;
        for (char *p = line, *e; (e = p, strtol(p, &e, 10), e != p) && k < 8192; p = e)
            want[k++] = (int32_t)strtol(p, NULL, 10);
        if (k > max_tokens) {   /* first max - 1 ids, then <eos> */
            want[max_tokens - 1] = want[k - 1];
            k = max_tokens;
        }
        AKT_OK(akidb_tokenizer_encode(akidb_model_tokenizer(m), texts[i], lens[i], max_tokens,
                                      &tk));
        akt_checks++;
        if (tk.n != k || memcmp(tk.ids, want, k * sizeof *want) != 0)
            if (bad++ < 3)
                fprintf(stderr, "  text %zu: the tokenizer gives %zu ids, the golden %zu\n", i,
                        tk.n, k);
    }
    akidb_tokens_free(&tk);
    free(line);
    fclose(f);
    AKT_EQ_INT(bad, 0);
}

/* Embeds texts[0..n) in one call (nt threads) or one per call, compares
 * with r. */
static void check_texts(const akidb_model *m, const ref *r, char **texts, size_t *lens,
                        size_t n, int normalize, int nt, int one, double *worst_cos,
                        double *worst_diff)
{
    float *out = malloc(n * r->dim * sizeof *out);
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.normalize = normalize;
    o.n_threads = nt;
    if (one)
        for (size_t i = 0; i < n; i++)
            AKT_OK(akidb_embed(m, (const char *const *)&texts[i], &lens[i], 1,
                               out + i * r->dim, &o));
    else
        AKT_OK(akidb_embed(m, (const char *const *)texts, lens, n, out, &o));
    for (size_t i = 0; i < n; i++) {
        AKT_EQ_INT(r->idx[i], i);
        const float *g = out + i * r->dim, *e = r->emb + i * r->dim;
        double diff = akt_max_abs_diff(g, e, r->dim), scale = akt_max_abs_scale(e, r->dim);
        double c = cosine(g, e, r->dim);
        akt_checks++;
        if (!(c >= 0.99999) || !(diff <= 1e-4 * scale))
            AKT_FAIL_("[%s] text %zu: cosine %.9f, max |diff| %.3g",
                      akidb_kernels_name(akidb_kernels_active()), i, c, diff);
        *worst_cos = fmin(*worst_cos, c);
        *worst_diff = fmax(*worst_diff, diff);
    }
    free(out);
}

AKT_TEST(text_ref)
{
    char dir[PATH_MAX], p[PATH_MAX + 64];
    const char *base = getenv("AKIDB_GEMMA3_MODELS"), *b = getenv("AKIDB_BUILD");
    if (base && *base)
        snprintf(dir, sizeof dir, "%s/gemma3_text", base);
    else
        snprintf(dir, sizeof dir, "%s/ref_gemma3/gemma3_text", b && *b ? b : ".");
    const char *tr = getenv("AKIDB_TOKREF_DIR");
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (tr && !*tr && access(p, F_OK) != 0) {
        printf("  SKIP text_ref: AKIDB_TOKREF_DIR is empty (no real Gemma 3 tokenizer)\n");
        AKT_TRUE(1);
        return;
    }
    if (access(p, F_OK) != 0)
        AKT_FAIL_("no %s: the ctest fixture gemma3_ref_models makes it "
                  "(tests/ref/make_gemma3.py, /usr/bin/python3 with python3-torch, and the "
                  "tokenizer of scripts/tokref.sh); or set AKIDB_GEMMA3_MODELS", p);
    char **texts;
    size_t *lens, n = read_corpus(&texts, &lens);
    ref rn, rr;
    snprintf(p, sizeof p, "%s/ref/default_model.f32", dir);
    read_ref(p, &rn);
    snprintf(p, sizeof p, "%s/ref/default_raw.f32", dir);
    read_ref(p, &rr);
    AKT_EQ_INT(rn.n, n);
    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, NULL, &m));
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.pooling, AKIDB_POOL_MEAN);
    AKT_EQ_INT(info.vocab_size, 262145);
    AKT_EQ_INT(info.dim, rn.dim);
    check_ids(dir, m, texts, lens, n, info.max_tokens);
    for (size_t pi = 0; pi < 4; pi++) {
        if (akidb_kernels_select(paths[pi]) != AKIDB_OK)
            continue;
        double wc = 1, wd = 0;
        check_texts(m, &rn, texts, lens, n, -1, 2, 0, &wc, &wd);
        check_texts(m, &rr, texts, lens, n, 0, 1, 0, &wc, &wd);
        if (pi == 0)
            check_texts(m, &rn, texts, lens, n, -1, 1, 1, &wc, &wd);
        printf("  gemma3_text %-7s %zu texts (max_tokens %zu): worst cos 1-%.2e "
               "max|diff| %.3g\n", akidb_kernels_name(paths[pi]), n, info.max_tokens, 1 - wc,
               wd);
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    akidb_model_free(m);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(lens);
    free(rn.idx); free(rn.emb); free(rr.idx); free(rr.emb);
}

AKT_MAIN(AKT_REG(config), AKT_REG(tensors), AKT_REG(forward), AKT_REG(reduced),
         AKT_REG(out_of_memory), AKT_REG(text_ref))
