/*
 * akt_model.h - what the model-family tests share: small model folders
 * written at test time (config.json, random-weight model.safetensors in
 * F32 / BF16 / F16), loads that must succeed or fail naming the culprit,
 * the config-level check, embedding fixed id sequences, stored variants
 * that must embed bit for bit alike, reduced precision on every kernel
 * path, and the out-of-memory loop.
 *
 * Header-only (static functions): a failed check longjmps to the runner of
 * the test file that includes it (akt.h keeps its state per file).  Each
 * family's test keeps its own tensor table, values and configs.
 */
#ifndef AKT_MODEL_H
#define AKT_MODEL_H

#include "akt.h"
#include "model/family.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

/* $AKIDB_SRC, default the working directory. */
static inline const char *akt_src_dir(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

/* Writes text to dir/name. */
static inline void akt_write_text(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        AKT_FAIL_("cannot write %s: %s", p, strerror(errno));
    fputs(text, f);
    fclose(f);
}

/* ---- tensors and their values --------------------------------------------- */

typedef struct akt_tensor {
    char name[160];
    size_t d0, d1;   /* d1 0: a vector of d0 */
} akt_tensor;

/* Appends tensor d0 x d1 named by the printf arguments to t[n++]. */
#define AKT_TENSOR(t, n, a, b, ...)                                                \
    do {                                                                           \
        snprintf((t)[n].name, sizeof (t)[n].name, __VA_ARGS__);                    \
        (t)[n].d0 = (a);                                                           \
        (t)[n].d1 = (b);                                                           \
        (n)++;                                                                     \
    } while (0)

/* The shape of a small Qwen3 model (the tensors test_qwen3.c and
 * test_bf16_w16.c write). */
typedef struct akt_qwen3_shape {
    int hidden, n_q, n_kv, head_dim, inter, layers, vocab;
} akt_qwen3_shape;

/* Qwen3's tensor names (without the "model." prefix) and shapes into t:
 * 2 + 11 per layer entries. */
static inline size_t akt_qwen3_tensors(akt_tensor *t, const akt_qwen3_shape *q)
{
    size_t n = 0;
    size_t h = (size_t)q->hidden, qd = (size_t)(q->n_q * q->head_dim);
    size_t kvd = (size_t)(q->n_kv * q->head_dim), hd = (size_t)q->head_dim;
    size_t in = (size_t)q->inter;
    AKT_TENSOR(t, n, (size_t)q->vocab, h, "embed_tokens.weight");
    AKT_TENSOR(t, n, h, 0, "norm.weight");
    for (int l = 0; l < q->layers; l++) {
        AKT_TENSOR(t, n, qd, h, "layers.%d.self_attn.q_proj.weight", l);
        AKT_TENSOR(t, n, kvd, h, "layers.%d.self_attn.k_proj.weight", l);
        AKT_TENSOR(t, n, kvd, h, "layers.%d.self_attn.v_proj.weight", l);
        AKT_TENSOR(t, n, h, qd, "layers.%d.self_attn.o_proj.weight", l);
        AKT_TENSOR(t, n, hd, 0, "layers.%d.self_attn.q_norm.weight", l);
        AKT_TENSOR(t, n, hd, 0, "layers.%d.self_attn.k_norm.weight", l);
        AKT_TENSOR(t, n, h, 0, "layers.%d.input_layernorm.weight", l);
        AKT_TENSOR(t, n, h, 0, "layers.%d.post_attention_layernorm.weight", l);
        AKT_TENSOR(t, n, in, h, "layers.%d.mlp.gate_proj.weight", l);
        AKT_TENSOR(t, n, in, h, "layers.%d.mlp.up_proj.weight", l);
        AKT_TENSOR(t, n, h, in, "layers.%d.mlp.down_proj.weight", l);
    }
    return n;
}

/* A uniform number in [-1, 1) from the mixed 64-bit x. */
static inline float akt_mix_unit(uint64_t x)
{
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* The uniform number of element i of tensor number ti. */
static inline float akt_unit(size_t ti, size_t i)
{
    return akt_mix_unit((ti + 1) * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xC2B2AE3D27D4EB4Full);
}

/* v on a grid of 1/128: 8 significant bits at most, exact in bf16 and f16
 * for |v| < 2. */
static inline float akt_grid128(float v)
{
    return ldexpf(roundf(ldexpf(v, 7)), -7);
}

/* v with its low 16 bits cleared: exact in bf16. */
static inline float akt_bf16_trunc(float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    b &= 0xFFFF0000u;
    memcpy(&v, &b, 4);
    return v;
}

/* IEEE half of v (exact for 0 and normal numbers of 11 significant bits). */
static inline uint16_t akt_f16(float v)
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

/* How a weights file is written. */
typedef struct akt_wopts {
    int dt;               /* 0 F32, 1 BF16, 2 F16 */
    const char *prefix;   /* Hub prefix of every name, or NULL */
    const char *skip;     /* tensor left out */
    const char *bad;      /* tensor with one row too many */
    const char *bad1;     /* tensor with one column too many */
} akt_wopts;

/* Value k of tensor t (number ti of the table); ctx is the caller's. */
typedef float (*akt_value_fn)(const akt_tensor *t, size_t ti, size_t k, const void *ctx);

/* Writes dir/model.safetensors: the n tensors of t with the values of
 * value(), as o says. */
static inline void akt_write_weights(const char *dir, const akt_tensor *t, size_t n,
                                     const akt_wopts *o, akt_value_fn value, const void *ctx)
{
    static const char *dts[] = { "F32", "BF16", "F16" };
    size_t esz = o->dt ? 2 : 4, off = 0, hl = 0, cap = 1 << 16;
    char *hdr = malloc(cap);
    size_t *d0 = calloc(n, sizeof *d0), *d1 = calloc(n, sizeof *d1);
    hl += (size_t)snprintf(hdr, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        d0[i] = t[i].d0 + (o->bad && strcmp(t[i].name, o->bad) == 0);
        d1[i] = t[i].d1 + (o->bad1 && strcmp(t[i].name, o->bad1) == 0);
        if (o->skip && strcmp(t[i].name, o->skip) == 0)
            continue;
        size_t bytes = d0[i] * (d1[i] ? d1[i] : 1) * esz;
        char shape[64];
        if (d1[i])
            snprintf(shape, sizeof shape, "[%zu,%zu]", d0[i], d1[i]);
        else
            snprintf(shape, sizeof shape, "[%zu]", d0[i]);
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
        akt_tensor shaped = t[i];
        shaped.d1 = d1[i];
        for (size_t k = 0; k < d0[i] * (d1[i] ? d1[i] : 1); k++) {
            float v = value(&shaped, i, k, ctx);
            uint32_t b;
            memcpy(&b, &v, 4);
            uint16_t h = o->dt == 1 ? (uint16_t)(b >> 16) : o->dt == 2 ? akt_f16(v) : 0;
            memcpy(p, o->dt ? (void *)&h : (void *)&v, esz);
            p += esz;
        }
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        AKT_FAIL_("cannot write %s: %s", path, strerror(errno));
    size_t put = fwrite(data, 1, 8 + hl + off, f);
    fclose(f);
    free(hdr);
    free(data);
    free(d0);
    free(d1);
    AKT_EQ_INT(put, 8 + hl + off);
}

/* ---- model folders ---------------------------------------------------------- */

/* Makes <akt_tmpdir(tmp_prefix)>/<name> holding config.json with text cfg;
 * the path stays valid for the next 7 calls. */
static inline const char *akt_model_dir(const char *tmp_prefix, const char *name,
                                        const char *cfg)
{
    static char dirs[8][PATH_MAX];
    static int slot;
    char *d = dirs[slot++ % 8];
    snprintf(d, PATH_MAX, "%s/%s", akt_tmpdir(tmp_prefix), name);
    mkdir(d, 0700);
    akt_write_text(d, "config.json", cfg);
    return d;
}

/* Links the MiniLM WordPiece tokenizer files of tests/data/minilm into dir. */
static inline void akt_link_minilm_tokenizer(const char *dir)
{
    static const char *files[] = { "tokenizer.json", "vocab.txt", "tokenizer_config.json",
                                   "special_tokens_map.json" };
    for (int i = 0; i < 4; i++) {
        char a[PATH_MAX], b[PATH_MAX * 2];
        snprintf(a, sizeof a, "%s/tests/data/minilm/%s", akt_src_dir(), files[i]);
        snprintf(b, sizeof b, "%s/%s", dir, files[i]);
        unlink(b);
        if (symlink(a, b) != 0)
            AKT_FAIL_("symlink %s: %s", b, strerror(errno));
    }
}

/* The model of dir at token-id level, compute dtype dtype (NULL: as
 * stored); a failure ends the test. */
static inline akidb_model *akt_load_ids(const char *dir, const char *dtype)
{
    akidb_model_opts mo = { .dtype = dtype };
    akidb_model *m = NULL;
    akidb_status st = ak_model_load_ids(dir, &mo, &m);
    if (st != AKIDB_OK)
        AKT_FAIL_("load %s: %s: %s", dir, akidb_status_name(st), akidb_last_error());
    return m;
}

/* Loading dir fails with status want, no model, s1 and s2 (if not NULL) in
 * the message. */
static inline void akt_expect_fail(const char *dir, akidb_status want, const char *s1,
                                   const char *s2)
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

/* dir/config.json loads with status want (family fam when AKIDB_OK and fam
 * is not NULL), s (if not NULL) in the message; fills hp. */
static inline void akt_cfg_case(const char *dir, const ak_family *fam, akidb_status want,
                                const char *s, ak_hparams *hp)
{
    const ak_family *f;
    char p[PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/config.json", dir);
    akidb_status st = ak_family_config_load(p, &f, hp);
    if (st != want)
        AKT_FAIL_("%s: status %s, want %s (%s)", dir, akidb_status_name(st),
                  akidb_status_name(want), akidb_last_error());
    if (want == AKIDB_OK && fam)
        AKT_TRUE(f == fam);
    if (s)
        AKT_CONTAINS(akidb_last_error(), s);
}

/* ---- the id sequences of the family tests ------------------------------------ */

/* Five sequences: three short ones (a, b, c), then the first nl and the
 * first 33 ids of longs, which akt_seqs_init fills with ids spread over
 * [lo, v). */
enum { AKT_NSEQ = 5 };
typedef struct akt_seqs {
    const int32_t *ids[AKT_NSEQ];
    size_t lens[AKT_NSEQ];
} akt_seqs;

static inline akt_seqs akt_seqs_init(const int32_t *a, size_t na, const int32_t *b, size_t nb,
                                     const int32_t *c, size_t nc, int32_t *longs, size_t nl,
                                     int32_t lo, int32_t v)
{
    for (size_t i = 0; i < nl; i++)
        longs[i] = lo + (int32_t)((i * 7919 + 11) % (size_t)(v - lo));
    return (akt_seqs){ { a, b, c, longs, longs }, { na, nb, nc, nl, 33 } };
}

/* ---- embedding and comparing ------------------------------------------------ */

/* Embeds the n id sequences in one call with nt threads, or one call each
 * when one_by_one; rows of dim floats. */
static inline void akt_embed_ids(const akidb_model *m, size_t n, const int32_t *const *ids,
                                 const size_t *lens, size_t dim, int nt, int one_by_one,
                                 float *out)
{
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.n_threads = nt;
    if (!one_by_one) {
        AKT_OK(ak_model_embed_ids(m, n, (const int32_t **)ids, lens, out, &o));
        return;
    }
    for (size_t i = 0; i < n; i++)
        AKT_OK(ak_model_embed_ids(m, 1, (const int32_t **)&ids[i], &lens[i], out + i * dim,
                                  &o));
}

/* The model of dir stores its weights as dtype (a safetensors name) and
 * gives want for the n sequences (one call, 1 thread), bit for bit; what
 * names the variant in a failure. */
static inline void akt_expect_same(const char *dir, const char *dtype, const float *want,
                                   size_t n, const int32_t *const *ids, const size_t *lens,
                                   size_t dim, const char *what)
{
    akidb_model *m = akt_load_ids(dir, NULL);
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    float *x = malloc(n * dim * sizeof *x);
    akt_embed_ids(m, n, ids, lens, dim, 1, 0, x);
    int same = memcmp(want, x, n * dim * sizeof *x) == 0;
    free(x);
    akidb_model_free(m);
    AKT_EQ_STR(info.weights_dtype, dtype);
    if (!same)
        AKT_FAIL_("%s (%s) differs from the plain F32 model", what, dir);
}

static inline double akt_cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return ab / (sqrt(aa * bb) + 1e-300);
}

/* The worst cosine of n rows of dim floats, a against b. */
static inline double akt_worst_cosine(const float *a, const float *b, size_t n, size_t dim)
{
    double w = 1;
    for (size_t t = 0; t < n; t++) {
        double c = akt_cosine(a + t * dim, b + t * dim, dim);
        w = c < w ? c : w;
    }
    return w;
}

/* Kernel path i of the AKT_NPATHS there are (not every one runs here:
 * akidb_kernels_select says). */
enum { AKT_NPATHS = 4 };
static inline akidb_kernel_path akt_path(size_t i)
{
    static const akidb_kernel_path paths[AKT_NPATHS] = {
        AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2, AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON
    };
    return paths[i];
}

/* The model of dir computed in bf16 and in int8 on every kernel path that
 * runs here: 1, 2 and 3 threads, one call or one call per sequence, bit
 * for bit the same; every row within cosine 0.999 of the f32 compute. */
static inline void akt_reduced(const char *dir, const char *what, size_t n,
                               const int32_t *const *ids, const size_t *lens, size_t dim)
{
    size_t sz = n * dim * sizeof(float);
    float *r = malloc(sz), *x = malloc(sz), *x2 = malloc(sz);
    akidb_model *f = akt_load_ids(dir, NULL);
    akt_embed_ids(f, n, ids, lens, dim, 1, 0, r);
    akidb_model_free(f);
    static const char *dt[] = { "bf16", "int8" };
    for (int d = 0; d < 2; d++) {
        akidb_model *m = akt_load_ids(dir, dt[d]);
        for (size_t p = 0; p < AKT_NPATHS; p++) {
            if (akidb_kernels_select(akt_path(p)) != AKIDB_OK)
                continue;
            akt_embed_ids(m, n, ids, lens, dim, 1, 0, x);
            akt_embed_ids(m, n, ids, lens, dim, 2, 0, x2);
            AKT_EQ_INT(memcmp(x, x2, sz), 0);
            akt_embed_ids(m, n, ids, lens, dim, 2, 1, x2);   /* threads split each forward */
            AKT_EQ_INT(memcmp(x, x2, sz), 0);
            akt_embed_ids(m, n, ids, lens, dim, 3, 0, x2);
            AKT_EQ_INT(memcmp(x, x2, sz), 0);
            double worst = akt_worst_cosine(r, x, n, dim);
            fprintf(stderr, "  %s %s, %s: worst cosine to f32 %.6f\n", dt[d], what,
                    akidb_kernels_name(akt_path(p)), worst);
            AKT_GE(worst, 0.999);
        }
        akidb_model_free(m);
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    free(r);
    free(x);
    free(x2);
}

/* ---- out of memory ---------------------------------------------------------- */

/* One run of the work under test; its status. */
typedef akidb_status (*akt_oom_step)(void *ctx);

/* Runs step with allocation point i failing, i = 0, akt_oom_next(i), ...
 * until a run succeeds: every failed run must say AKIDB_ENOMEM (or be
 * accepted by ok_too, if not NULL) and, when need_injected, have had a
 * failure injected.  Returns the number of points checked. */
static inline long akt_oom_loop(akt_oom_step step, void *ctx,
                                int (*ok_too)(akidb_status st, long injected),
                                int need_injected)
{
    int done = 0;
    long i;
    for (i = 0; i < 100000 && !done; i = akt_oom_next(i)) {
        ak_alloc_fail_after(i);
        akidb_status st = step(ctx);
        long inj = ak_alloc_injected_failures();
        ak_alloc_fail_after(-1);
        done = st == AKIDB_OK;
        if (!done && st != AKIDB_ENOMEM && !(ok_too && ok_too(st, inj)))
            AKT_FAIL_("fail_after(%ld): status %s (%s), want ENOMEM", i,
                      akidb_status_name(st), akidb_last_error());
        if (!done && need_injected)
            AKT_TRUE(inj > 0);
    }
    AKT_TRUE(done);
    return i;
}

typedef struct akt_oom_embed {
    const char *dir;
    size_t n;
    const int32_t *const *ids;
    const size_t *lens;
    const akidb_embed_opts *eo;
    float *out;
} akt_oom_embed;

static inline akidb_status akt_oom_load_embed_step(void *ctx)
{
    const akt_oom_embed *c = ctx;
    akidb_model *m = NULL;
    akidb_status st = ak_model_load_ids(c->dir, NULL, &m);
    if (st == AKIDB_OK) {
        st = ak_model_embed_ids(m, c->n, (const int32_t **)c->ids, c->lens, c->out, c->eo);
        akidb_model_free(m);
    }
    return st;
}

/* Every allocation of loading dir and embedding the n sequences with 2
 * threads failing once (akt_oom_loop); the run that succeeds gives the
 * embeddings of a run without failures. */
static inline void akt_oom_load_embed(const char *dir, const char *what, size_t n,
                                      const int32_t *const *ids, const size_t *lens, size_t dim)
{
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.n_threads = 2;
    size_t sz = n * dim * sizeof(float);
    float *want = malloc(sz), *x = malloc(sz);
    akidb_model *m = akt_load_ids(dir, NULL);
    AKT_OK(ak_model_embed_ids(m, n, (const int32_t **)ids, lens, want, &eo));
    akidb_model_free(m);
    akt_oom_embed c = { dir, n, ids, lens, &eo, x };
    long i = akt_oom_loop(akt_oom_load_embed_step, &c, NULL, 1);
    int same = memcmp(x, want, sz) == 0;
    free(want);
    free(x);
    AKT_TRUE(same);
    fprintf(stderr, "  %s%s%ld allocation points checked\n", what ? what : "", what ? ": " : "",
            i);
}

#endif /* AKT_MODEL_H */
