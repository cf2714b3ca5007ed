/*
 * test_embed_ref.c - proof of exactness: AkiDB's embeddings against an
 * independent engine.
 *
 * tests/ref/make_models.py builds random-weight BERT model folders of real
 * shapes (MiniLM-L6, BGE-base, small ones; F32/F16/BF16; "bert." prefix;
 * sharded) and their reference embeddings from a PyTorch BERT written after
 * Hugging Face's and sentence-transformers' definitions, on padded batches,
 * from token ids of an independent tokenizer (tests/golden/
 * embed_corpus_ids.jsonl).  This test loads each model with akidb_model_load,
 * embeds the corpus through the public API - all texts in one call, one text
 * per call, 1 and 2 threads, every kernel path the CPU has, pooling and
 * normalize overrides - and requires for every text
 *     cosine >= 0.99999  and  max |diff| <= 1e-4 * max(1, max |ref|)
 * (the scale only matters for un-normalised max / mean_sqrt_len outputs).
 * It prints the worst cosine and worst difference of each model and path.
 *
 * Tests (./test_embed_ref NAME runs one):
 *   tiny_golden   the committed tests/golden/tiny model; needs no Python
 *   tokens_golden AkiDB's tokenizer gives the golden ids (else embedding
 *                 differences would be the tokenizer's; those texts are then
 *                 left out of the embedding checks and named here)
 *   ref_models    every generated model (AKIDB_REF_MODELS, default
 *                 $AKIDB_BUILD/ref_models, made by the embed_ref_models
 *                 ctest fixture)
 *   ref_kernels   the generated models flagged "kernels" on each kernel path
 * AKIDB_REF_QUICK=1 (sanitizer runs) limits the generated models to the
 * "quick" ones and their quick text subset.
 */
#include "akidb.h"
#include "akt.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* snprintf into a char array, failing the test if the path does not fit. */
#define PATHF(buf, ...)                                                       \
    do {                                                                      \
        int r_ = snprintf(buf, sizeof buf, __VA_ARGS__);                      \
        if (r_ < 0 || (size_t)r_ >= sizeof buf) AKT_FAIL_("path too long: %s", buf); \
    } while (0)

#define COS_MIN 0.99999
#define DIFF_MAX 1e-4
#define MAX_TEXTS 256
#define MAX_MODELS 32
#define MAX_REFS 16

/* ---- corpus -------------------------------------------------------------- */

typedef struct {
    char *text;
    size_t len;
    int32_t *ids;
    size_t n_ids;
    int tok_differs;   /* AkiDB's tokenizer gave other ids for a model */
} corpus_text;

static corpus_text corpus[MAX_TEXTS];
static size_t n_corpus;

static const char *src_dir(void)
{
    const char *s = getenv("AKIDB_SRC");
    return s && *s ? s : ".";
}

static const char *build_dir(void)
{
    const char *s = getenv("AKIDB_BUILD");
    return s && *s ? s : "/tmp";
}

static int quick_mode(void)
{
    const char *s = getenv("AKIDB_REF_QUICK");
    return s && *s && strcmp(s, "0") != 0;
}

static void load_corpus(void)
{
    if (n_corpus) return;
    char path[PATH_MAX];
    PATHF(path, "%s/tests/golden/embed_corpus_ids.jsonl", src_dir());
    FILE *f = fopen(path, "r");
    if (!f) AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        if (got <= 1) continue;
        json_error_t err;
        json_t *o = json_loadb(line, (size_t)got, 0, &err);
        if (!o) AKT_FAIL_("%s: %s", path, err.text);
        json_t *t = json_object_get(o, "text"), *ids = json_object_get(o, "ids");
        if (!json_is_string(t) || !json_is_array(ids) || n_corpus >= MAX_TEXTS)
            AKT_FAIL_("%s: bad line %zu", path, n_corpus);
        corpus_text *c = &corpus[n_corpus++];
        c->len = json_string_length(t);
        c->text = malloc(c->len + 1);
        memcpy(c->text, json_string_value(t), c->len + 1);
        c->n_ids = json_array_size(ids);
        c->ids = malloc(c->n_ids * sizeof *c->ids);
        for (size_t i = 0; i < c->n_ids; i++)
            c->ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
        json_decref(o);
    }
    free(line);
    fclose(f);
    AKT_TRUE(n_corpus > 0);
}

/* Golden ids truncated as the tokenizer does: [CLS] + first max-2 + [SEP]. */
static size_t trunc_len(const corpus_text *c, size_t max)
{
    return max && c->n_ids > max ? max : c->n_ids;
}

static int32_t trunc_id(const corpus_text *c, size_t max, size_t k)
{
    size_t n = trunc_len(c, max);
    return k + 1 == n ? c->ids[c->n_ids - 1] : c->ids[k];
}

static const char *snippet(size_t i)
{
    static char buf[64];
    size_t n = 0;
    for (size_t k = 0; k < corpus[i].len && n < 40; k++) {
        unsigned char ch = (unsigned char)corpus[i].text[k];
        buf[n++] = ch < 0x20 ? ' ' : (char)ch;
    }
    while (n && ((unsigned char)buf[n - 1] & 0xC0) == 0x80) n--;  /* whole chars */
    if (n && (unsigned char)buf[n - 1] >= 0xC0) n--;
    buf[n] = 0;
    return buf;
}

/* ---- manifest ------------------------------------------------------------ */

typedef struct {
    char file[256];
    akidb_pooling pooling;
    int normalize;
    size_t n, dim;
    uint32_t *idx;
    float *emb;
} ref_set;

typedef struct {
    char name[64];
    char dir[PATH_MAX];
    size_t dim, max_tokens, layers, hidden, heads, inter, vocab;
    akidb_pooling pooling;
    int normalize;
    char dtype[16];
    int f_kernels, f_threads, f_quick;
    uint8_t single[MAX_TEXTS], quick_text[MAX_TEXTS];
    ref_set refs[MAX_REFS];
    size_t n_refs;
} model_spec;

static akidb_pooling pool_of(const char *s)
{
    if (!strcmp(s, "mean")) return AKIDB_POOL_MEAN;
    if (!strcmp(s, "cls")) return AKIDB_POOL_CLS;
    if (!strcmp(s, "max")) return AKIDB_POOL_MAX;
    if (!strcmp(s, "mean_sqrt_len")) return AKIDB_POOL_MEAN_SQRT_LEN;
    if (!strcmp(s, "default")) return AKIDB_POOL_DEFAULT;
    AKT_FAIL_("manifest: unknown pooling '%s'", s);
}

static const char *pool_str(akidb_pooling p)
{
    switch (p) {
    case AKIDB_POOL_MEAN: return "mean";
    case AKIDB_POOL_CLS: return "cls";
    case AKIDB_POOL_MAX: return "max";
    case AKIDB_POOL_MEAN_SQRT_LEN: return "mean_sqrt_len";
    default: return "default";
    }
}

static void parse_list(const char *v, uint8_t *set)
{
    memset(set, 0, MAX_TEXTS);
    if (!strcmp(v, "-")) return;
    while (*v) {
        long i = strtol(v, (char **)&v, 10);
        if (i >= 0 && i < MAX_TEXTS) set[i] = 1;
        if (*v == ',') v++;
        else break;
    }
}

static void load_ref(const model_spec *m, ref_set *r)
{
    char path[PATH_MAX];
    PATHF(path, "%s/%s", m->dir, r->file);
    FILE *f = fopen(path, "rb");
    if (!f) AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char magic[8];
    uint32_t h[4];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "AKIDBREF", 8) != 0 ||
        fread(h, 4, 4, f) != 4 || h[0] != 1)
        AKT_FAIL_("%s: not an AKIDBREF v1 file", path);
    r->n = h[1];
    r->dim = h[2];
    r->idx = malloc(r->n * sizeof *r->idx);
    r->emb = malloc(r->n * r->dim * sizeof *r->emb);
    if (fread(r->idx, 4, r->n, f) != r->n ||
        fread(r->emb, 4, r->n * r->dim, f) != r->n * r->dim)
        AKT_FAIL_("%s: truncated", path);
    fclose(f);
    for (size_t i = 0; i < r->n; i++)
        if (r->idx[i] >= n_corpus)
            AKT_FAIL_("%s: text %u is not in the corpus (%zu texts): regenerate", path,
                      r->idx[i], n_corpus);
    AKT_EQ_INT(r->dim, m->dim);
}

/* Reads DIR/manifest.txt; model folders are DIR/<name>. */
static size_t load_manifest(const char *dir, model_spec *models)
{
    char path[PATH_MAX];
    PATHF(path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("no reference models: cannot open %s (%s).  They are made by the "
                  "ctest fixture embed_ref_models (tests/ref/gen_models.sh -> "
                  "tests/ref/make_models.py, which needs /usr/bin/python3 with "
                  "python3-torch); run ctest without -E/-R filters, or set "
                  "AKIDB_REF_MODELS", path, strerror(errno));
    char line[8192];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *save = NULL, *kw = strtok_r(line, " ", &save);
        char *name = strtok_r(NULL, " ", &save);
        if (!kw || !name) AKT_FAIL_("%s: bad line", path);
        if (!strcmp(kw, "model")) {
            if (n >= MAX_MODELS) AKT_FAIL_("%s: too many models", path);
            model_spec *m = &models[n++];
            memset(m, 0, sizeof *m);
            snprintf(m->name, sizeof m->name, "%s", name);
            PATHF(m->dir, "%s/%s", dir, name);
            for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
                char *v = strchr(kv, '=');
                if (!v) continue;
                *v++ = 0;
                if (!strcmp(kv, "dim")) m->dim = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "max_tokens")) m->max_tokens = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "layers")) m->layers = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "hidden")) m->hidden = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "heads")) m->heads = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "inter")) m->inter = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "vocab")) m->vocab = strtoul(v, NULL, 10);
                else if (!strcmp(kv, "pooling")) m->pooling = pool_of(v);
                else if (!strcmp(kv, "normalize")) m->normalize = atoi(v);
                else if (!strcmp(kv, "dtype")) snprintf(m->dtype, sizeof m->dtype, "%s", v);
                else if (!strcmp(kv, "single")) parse_list(v, m->single);
                else if (!strcmp(kv, "quick_texts")) parse_list(v, m->quick_text);
                else if (!strcmp(kv, "flags")) {
                    m->f_kernels = strstr(v, "kernels") != NULL;
                    m->f_threads = strstr(v, "threads") != NULL;
                    m->f_quick = strstr(v, "quick") != NULL;
                }
            }
        } else if (!strcmp(kw, "ref")) {
            model_spec *m = n ? &models[n - 1] : NULL;
            if (!m || strcmp(m->name, name) != 0 || m->n_refs >= MAX_REFS)
                AKT_FAIL_("%s: ref line for '%s' out of place", path, name);
            ref_set *r = &m->refs[m->n_refs++];
            memset(r, 0, sizeof *r);
            snprintf(r->file, sizeof r->file, "%s", strtok_r(NULL, " ", &save));
            r->normalize = -1;
            for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
                char *v = strchr(kv, '=');
                if (!v) continue;
                *v++ = 0;
                if (!strcmp(kv, "pooling")) r->pooling = pool_of(v);
                else if (!strcmp(kv, "normalize")) r->normalize = atoi(v);
            }
            load_ref(m, r);
        }
    }
    fclose(f);
    AKT_TRUE(n > 0);
    return n;
}

/* A folder without tokenizer files (the committed tiny golden) gets a staging
 * folder under the build dir with links to its files and tests/data/minilm's
 * tokenizer. */
static void stage_model(model_spec *m)
{
    char p[PATH_MAX], tokdir[PATH_MAX], stage[PATH_MAX], abs_dir[PATH_MAX];
    PATHF(p, "%s/tokenizer.json", m->dir);
    if (access(p, R_OK) == 0) return;
    PATHF(tokdir, "%s/tests/data/minilm", src_dir());
    PATHF(p, "%s/tokenizer.json", tokdir);
    if (access(p, R_OK) != 0)
        AKT_FAIL_("%s has no tokenizer files and %s is missing", m->dir, p);
    if (!realpath(m->dir, abs_dir)) AKT_FAIL_("realpath %s: %s", m->dir, strerror(errno));
    PATHF(stage, "%s/ref_stage", build_dir());
    mkdir(stage, 0777);
    PATHF(stage, "%s/ref_stage/%s", build_dir(), m->name);
    mkdir(stage, 0777);
    const char *srcs[2] = { abs_dir, tokdir };
    for (int s = 0; s < 2; s++) {
        char absrc[PATH_MAX];
        if (!realpath(srcs[s], absrc)) AKT_FAIL_("realpath %s", srcs[s]);
        DIR *d = opendir(absrc);
        if (!d) AKT_FAIL_("opendir %s: %s", absrc, strerror(errno));
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            if (s == 1 && strncmp(e->d_name, "tokenizer", 9) != 0 &&
                strcmp(e->d_name, "vocab.txt") != 0 &&
                strcmp(e->d_name, "special_tokens_map.json") != 0)
                continue;
            char from[PATH_MAX * 2], to[PATH_MAX * 2];
            PATHF(from, "%s/%s", absrc, e->d_name);
            PATHF(to, "%s/%s", stage, e->d_name);
            unlink(to);
            if (symlink(from, to) != 0) AKT_FAIL_("symlink %s: %s", to, strerror(errno));
        }
        closedir(d);
    }
    PATHF(m->dir, "%s", stage);
}

/* ---- comparison ---------------------------------------------------------- */

typedef struct {
    double worst_cos, worst_diff;   /* worst diff relative to its tolerance scale */
    size_t texts, calls;
} agree;

static void agree_init(agree *a)
{
    a->worst_cos = 1.0;
    a->worst_diff = 0.0;
    a->texts = a->calls = 0;
}

static void agree_merge(agree *into, const agree *a)
{
    if (a->worst_cos < into->worst_cos) into->worst_cos = a->worst_cos;
    if (a->worst_diff > into->worst_diff) into->worst_diff = a->worst_diff;
    into->texts += a->texts;
    into->calls += a->calls;
}

/* Compares one embedding row with the reference row; fails with the model,
 * check and text named. */
static void compare_row(const char *what, size_t text, const float *got, const float *want,
                        size_t dim, agree *a)
{
    double dot = 0, ng = 0, nw = 0, diff = 0, scale = 1.0;
    int finite = 1;
    for (size_t k = 0; k < dim; k++) {
        double g = got[k], w = want[k];
        if (!isfinite(g)) finite = 0;
        dot += g * w;
        ng += g * g;
        nw += w * w;
        if (fabs(g - w) > diff) diff = fabs(g - w);
        if (fabs(w) > scale) scale = fabs(w);
    }
    double cos = (ng > 0 && nw > 0) ? dot / sqrt(ng * nw) : (ng == nw ? 1.0 : 0.0);
    double rel = diff / scale;
    akt_checks++;
    if (!finite || !(cos >= COS_MIN) || !(rel <= DIFF_MAX))
        AKT_FAIL_("%s: text %zu \"%s\" (%zu tokens): cosine %.9f (min %g), max |diff| "
                  "%.3g (limit %.3g); got[0..2] %.6g %.6g %.6g want %.6g %.6g %.6g",
                  what, text, snippet(text), corpus[text].n_ids, cos, COS_MIN, diff,
                  DIFF_MAX * scale, got[0], dim > 1 ? got[1] : 0.0, dim > 2 ? got[2] : 0.0,
                  want[0], dim > 1 ? want[1] : 0.0, dim > 2 ? want[2] : 0.0);
    if (cos < a->worst_cos) a->worst_cos = cos;
    if (diff > a->worst_diff) a->worst_diff = diff;
    a->texts++;
}

/* ---- summary ------------------------------------------------------------- */

typedef struct {
    char model[64], path[16], check[64];
    agree a;
} summary_row;

static summary_row summary[512];
static size_t n_summary;

static void summarize(const char *model, const char *check, const agree *a)
{
    const char *path = akidb_kernels_name(akidb_kernels_active());
    for (size_t i = 0; i < n_summary; i++) {
        summary_row *r = &summary[i];
        if (!strcmp(r->model, model) && !strcmp(r->path, path) && !strcmp(r->check, check)) {
            agree_merge(&r->a, a);
            return;
        }
    }
    if (n_summary >= sizeof summary / sizeof summary[0]) return;
    summary_row *r = &summary[n_summary++];
    snprintf(r->model, sizeof r->model, "%s", model);
    snprintf(r->path, sizeof r->path, "%s", path ? path : "?");
    snprintf(r->check, sizeof r->check, "%s", check);
    r->a = *a;
}

static void print_summary(const char *title)
{
    printf("\n%s: agreement with the reference (worst over texts)\n", title);
    printf("  %-20s %-7s %-28s %6s %6s %12s %10s\n", "model", "kernels", "check", "calls",
           "texts", "worst cos", "max|diff|");  /* diff: absolute */
    for (size_t i = 0; i < n_summary; i++) {
        summary_row *r = &summary[i];
        printf("  %-20s %-7s %-28s %6zu %6zu 1-%-10.2e %10.3g\n", r->model, r->path,
               r->check, r->a.calls, r->a.texts, 1.0 - r->a.worst_cos, r->a.worst_diff);
    }
    fflush(stdout);
    n_summary = 0;
}

/* ---- checks -------------------------------------------------------------- */

static int text_usable(const model_spec *m, size_t i, int quick)
{
    if (quick && !m->quick_text[i]) return 0;
    return !corpus[i].tok_differs;
}

static void check_info(const model_spec *m, const akidb_model *model)
{
    akidb_model_info info;
    memset(&info, 0, sizeof info);
    akidb_model_get_info(model, &info);
    AKT_EQ_INT(info.dim, m->dim);
    AKT_EQ_INT(info.max_tokens, m->max_tokens);
    AKT_EQ_INT(info.n_layers, m->layers);
    AKT_EQ_INT(info.hidden, m->hidden);
    AKT_EQ_INT(info.n_heads, m->heads);
    AKT_EQ_INT(info.intermediate, m->inter);
    AKT_EQ_INT(info.vocab_size, m->vocab);
    AKT_EQ_STR(akidb_pooling_name(info.pooling), pool_str(m->pooling));
    AKT_EQ_INT(info.normalize, m->normalize);
    AKT_EQ_STR(info.weights_dtype, m->dtype);
}

/* AkiDB's tokenizer on the model's truncation vs the golden ids; texts that
 * differ are marked and left out of the embedding checks (tokens_golden
 * fails for them). */
static void check_tokens(const model_spec *m, const akidb_model *model)
{
    const akidb_tokenizer *tok = akidb_model_tokenizer(model);
    akidb_tokens t = {0};
    for (size_t i = 0; i < n_corpus; i++) {
        corpus_text *c = &corpus[i];
        int ok = akidb_tokenizer_encode(tok, c->text, c->len, m->max_tokens, &t) == AKIDB_OK &&
                 t.n == trunc_len(c, m->max_tokens);
        for (size_t k = 0; ok && k < t.n; k++)
            if (t.ids[k] != trunc_id(c, m->max_tokens, k)) ok = 0;
        if (!ok && !c->tok_differs) {
            fprintf(stderr, "  NOTE %s: tokenizer differs from golden on text %zu \"%s\"; "
                            "left out of the embedding checks\n", m->name, i, snippet(i));
            c->tok_differs = 1;
        }
    }
    akidb_tokens_free(&t);
    akt_checks++;
}

/* Embeds texts idx[0..n) in one call and compares with ref rows rows[]. */
static void embed_and_compare(const model_spec *m, const akidb_model *model, const ref_set *r,
                              const size_t *rows, size_t n, int n_threads, const char *what,
                              agree *a)
{
    const char **texts = malloc(n * sizeof *texts);
    size_t *lens = malloc(n * sizeof *lens), want_tokens = 0, n_tokens = (size_t)-1;
    float *out = malloc(n * m->dim * sizeof *out);
    for (size_t j = 0; j < n; j++) {
        const corpus_text *c = &corpus[r->idx[rows[j]]];
        texts[j] = c->text;
        lens[j] = c->len;
        want_tokens += trunc_len(c, m->max_tokens);
    }
    for (size_t k = 0; k < n * m->dim; k++) out[k] = NAN;
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.pooling = r->pooling;
    o.normalize = r->normalize;
    o.n_threads = n_threads;
    o.n_tokens = &n_tokens;
    akidb_status st = akidb_embed(model, texts, lens, n, out, &o);
    if (st != AKIDB_OK)
        AKT_FAIL_("%s: akidb_embed of %zu texts: %s: %s", what, n, akidb_status_name(st),
                  akidb_last_error());
    if (n_tokens != want_tokens)
        AKT_FAIL_("%s: n_tokens %zu, the golden ids give %zu", what, n_tokens, want_tokens);
    for (size_t j = 0; j < n; j++)
        compare_row(what, r->idx[rows[j]], out + j * m->dim, r->emb + rows[j] * m->dim,
                    m->dim, a);
    a->calls++;
    free(texts);
    free(lens);
    free(out);
}

static size_t usable_rows(const model_spec *m, const ref_set *r, int quick, size_t *rows)
{
    size_t n = 0;
    for (size_t j = 0; j < r->n; j++)
        if (text_usable(m, r->idx[j], quick)) rows[n++] = j;
    return n;
}

typedef struct {
    const model_spec *m;
    const akidb_model *model;
    const size_t *rows;
    size_t n;
    agree a;
    int failed;
    char msg[512];
} thread_job;

/* Compares without longjmp (not allowed across threads): records failure. */
static void *concurrent_job(void *arg)
{
    thread_job *j = arg;
    const ref_set *r = &j->m->refs[0];
    const char **texts = malloc(j->n * sizeof *texts);
    size_t *lens = malloc(j->n * sizeof *lens);
    float *out = malloc(j->n * j->m->dim * sizeof *out);
    for (size_t k = 0; k < j->n; k++) {
        texts[k] = corpus[r->idx[j->rows[k]]].text;
        lens[k] = corpus[r->idx[j->rows[k]]].len;
    }
    for (int rep = 0; rep < 2 && !j->failed; rep++) {
        akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
        o.n_threads = 1;
        if (akidb_embed(j->model, texts, lens, j->n, out, &o) != AKIDB_OK) {
            j->failed = 1;
            snprintf(j->msg, sizeof j->msg, "akidb_embed failed: %s", akidb_last_error());
            break;
        }
        for (size_t k = 0; k < j->n && !j->failed; k++) {
            const float *g = out + k * j->m->dim, *w = r->emb + j->rows[k] * j->m->dim;
            double dot = 0, ng = 0, nw = 0, diff = 0, scale = 1.0;
            for (size_t d = 0; d < j->m->dim; d++) {
                dot += (double)g[d] * w[d];
                ng += (double)g[d] * g[d];
                nw += (double)w[d] * w[d];
                if (fabs((double)g[d] - w[d]) > diff) diff = fabs((double)g[d] - w[d]);
                if (fabs((double)w[d]) > scale) scale = fabs((double)w[d]);
            }
            double cos = dot / sqrt(ng * nw);
            if (!(cos >= COS_MIN) || !(diff <= DIFF_MAX * scale)) {
                j->failed = 1;
                snprintf(j->msg, sizeof j->msg, "text %u: cosine %.9f, max |diff| %.3g",
                         r->idx[j->rows[k]], cos, diff);
            }
            if (cos < j->a.worst_cos) j->a.worst_cos = cos;
            if (diff > j->a.worst_diff) j->a.worst_diff = diff;
            j->a.texts++;
        }
        j->a.calls++;
    }
    free(texts);
    free(lens);
    free(out);
    return NULL;
}

/* Everything for one model on the active kernel path.  full: every ref, the
 * thread variants, single-text calls; otherwise each ref in one call (only
 * the first two for the larger models, the first in quick mode: the other
 * poolings add nothing that depends on the kernels). */
static void check_model(model_spec *m, int quick, int full)
{
    stage_model(m);
    akidb_model *model = NULL;
    AKT_OK(akidb_model_load(m->dir, NULL, &model));
    check_info(m, model);
    check_tokens(m, model);
    size_t rows[MAX_TEXTS];
    char what[256];
    const char *kp = akidb_kernels_name(akidb_kernels_active());

    for (size_t ri = 0; ri < m->n_refs; ri++) {
        const ref_set *r = &m->refs[ri];
        if (!full && ri >= (quick ? 1u : m->hidden > 128 ? 2u : m->n_refs)) break;
        size_t n = usable_rows(m, r, quick, rows);
        if (!n) continue;
        char check[64];
        snprintf(check, sizeof check, "%s", r->file + (strncmp(r->file, "ref/", 4) ? 0 : 4));
        agree a;
        agree_init(&a);
        snprintf(what, sizeof what, "%s [%s] %s, %zu texts in one call, 2 threads", m->name,
                 kp, r->file, n);
        embed_and_compare(m, model, r, rows, n, 2, what, &a);
        summarize(m->name, check, &a);
        if (!full || ri != 0) continue;

        if (m->f_threads) {
            agree_init(&a);
            snprintf(what, sizeof what, "%s [%s] %s, %zu texts in one call, 1 thread", m->name,
                     kp, r->file, n);
            embed_and_compare(m, model, r, rows, n, 1, what, &a);
            summarize(m->name, "  same, 1 thread", &a);
        }
        agree_init(&a);
        for (size_t j = 0; j < n; j++) {
            if (!m->single[r->idx[rows[j]]]) continue;
            int th = 1 + (int)(j & 1);
            snprintf(what, sizeof what, "%s [%s] %s, text alone, %d thread(s)", m->name, kp,
                     r->file, th);
            embed_and_compare(m, model, r, &rows[j], 1, th, what, &a);
        }
        if (a.calls) summarize(m->name, "  same, one text per call", &a);
    }
    akidb_model_free(model);
}

/* Two threads embedding with one model at once (the API allows it). */
static void check_concurrent(model_spec *m)
{
    stage_model(m);
    akidb_model *model = NULL;
    AKT_OK(akidb_model_load(m->dir, NULL, &model));
    size_t rows[MAX_TEXTS];
    size_t n = usable_rows(m, &m->refs[0], 0, rows);
    thread_job jobs[2];
    pthread_t th[2];
    for (int t = 0; t < 2; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].m = m;
        jobs[t].model = model;
        jobs[t].rows = rows;
        jobs[t].n = n;
        agree_init(&jobs[t].a);
        AKT_EQ_INT(pthread_create(&th[t], NULL, concurrent_job, &jobs[t]), 0);
    }
    agree all;
    agree_init(&all);
    for (int t = 0; t < 2; t++) {
        pthread_join(th[t], NULL);
        if (jobs[t].failed) AKT_FAIL_("%s: concurrent thread %d: %s", m->name, t, jobs[t].msg);
        agree_merge(&all, &jobs[t].a);
    }
    akt_checks++;
    summarize(m->name, "  same, 2 callers at once", &all);
    akidb_model_free(model);
}

static const akidb_kernel_path kernel_paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                                  AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };

static void run_kernels(model_spec *models, size_t n, int quick, const char *title)
{
    for (size_t p = 0; p < sizeof kernel_paths / sizeof kernel_paths[0]; p++) {
        akidb_status st = akidb_kernels_select(kernel_paths[p]);
        if (st == AKIDB_EUNSUPPORTED) {
            printf("%s: kernel path %s not supported here: skipped\n", title,
                   akidb_kernels_name(kernel_paths[p]));
            continue;
        }
        AKT_OK(st);
        AKT_EQ_INT(akidb_kernels_active(), kernel_paths[p]);
        for (size_t i = 0; i < n; i++)
            if (models[i].f_kernels && (!quick || models[i].f_quick))
                check_model(&models[i], quick, 0);
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
}

static const char *ref_models_dir(char *buf, size_t cap)
{
    const char *e = getenv("AKIDB_REF_MODELS");
    if (e && *e) return e;
    snprintf(buf, cap, "%s/ref_models", build_dir());
    return buf;
}

static model_spec models_buf[MAX_MODELS];

static void free_models(model_spec *models, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < models[i].n_refs; r++) {
            free(models[i].refs[r].idx);
            free(models[i].refs[r].emb);
            models[i].refs[r].idx = NULL;
            models[i].refs[r].emb = NULL;
        }
}

/* Texts left out because AkiDB's tokenizer differs from the golden ids: the
 * embedding of such a text is not the reference's, so the test fails, after
 * the figures of the other texts have been printed. */
static void fail_on_left_out(const char *title)
{
    size_t left = 0;
    for (size_t i = 0; i < n_corpus; i++)
        if (corpus[i].tok_differs) left++;
    if (left)
        AKT_FAIL_("%s: %zu text(s) left out because AkiDB's tokenizer differs from the "
                  "golden ids (see the NOTE lines and tokens_golden)", title, left);
}

/* ---- tests --------------------------------------------------------------- */

AKT_TEST(tokens_golden)
{
    load_corpus();
    char dir[PATH_MAX];
    PATHF(dir, "%s/tests/data/minilm", src_dir());
    akidb_tokenizer *tok = NULL;
    AKT_OK(akidb_tokenizer_load(dir, &tok));
    static const size_t maxes[] = { 0, 512, 256, 128 };
    akidb_tokens t = {0};
    int bad = 0;
    for (size_t mi = 0; mi < 4; mi++) {
        for (size_t i = 0; i < n_corpus; i++) {
            corpus_text *c = &corpus[i];
            akidb_status st = akidb_tokenizer_encode(tok, c->text, c->len, maxes[mi], &t);
            int ok = st == AKIDB_OK && t.n == trunc_len(c, maxes[mi]) &&
                     (t.n_full == c->n_ids || (maxes[mi] && t.n_full > maxes[mi] &&
                                               c->n_ids > maxes[mi]));
            size_t k = 0;
            for (; ok && k < t.n; k++)
                if (t.ids[k] != trunc_id(c, maxes[mi], k)) ok = 0;
            akt_checks++;
            if (!ok) {
                bad++;
                fprintf(stderr, "  FAIL text %zu \"%s\", max_tokens %zu: %s; got %zu ids "
                                "(n_full %zu), golden %zu of %zu",
                        i, snippet(i), maxes[mi], akidb_status_name(st), t.n, t.n_full,
                        trunc_len(c, maxes[mi]), c->n_ids);
                if (st == AKIDB_OK && k > 0 && k <= t.n)
                    fprintf(stderr, "; first difference at %zu: %d vs %d", k - 1, t.ids[k - 1],
                            trunc_id(c, maxes[mi], k - 1));
                fputc('\n', stderr);
            }
        }
    }
    akidb_tokens_free(&t);
    akidb_tokenizer_free(tok);
    AKT_EQ_INT(bad, 0);
}

AKT_TEST(tiny_golden)
{
    load_corpus();
    char dir[PATH_MAX];
    PATHF(dir, "%s/tests/golden/tiny", src_dir());
    size_t n = load_manifest(dir, models_buf);
    for (size_t i = 0; i < n; i++) {
        check_model(&models_buf[i], 0, 1);
        check_concurrent(&models_buf[i]);
    }
    print_summary("tiny_golden (default kernels)");
    run_kernels(models_buf, n, 0, "tiny_golden");
    print_summary("tiny_golden (each kernel path)");
    free_models(models_buf, n);
    fail_on_left_out("tiny_golden");
}

AKT_TEST(ref_models)
{
    load_corpus();
    char buf[PATH_MAX];
    const char *dir = ref_models_dir(buf, sizeof buf);
    size_t n = load_manifest(dir, models_buf);
    int quick = quick_mode();
    for (size_t i = 0; i < n; i++) {
        if (quick && !models_buf[i].f_quick) continue;
        double t0 = (double)time(NULL);
        check_model(&models_buf[i], quick, 1);
        fprintf(stderr, "  %s checked (%.0f s)\n", models_buf[i].name,
                (double)time(NULL) - t0);
    }
    print_summary(quick ? "ref_models (AKIDB_REF_QUICK)" : "ref_models (default kernels)");
    free_models(models_buf, n);
    fail_on_left_out("ref_models");
}

AKT_TEST(ref_kernels)
{
    load_corpus();
    char buf[PATH_MAX];
    const char *dir = ref_models_dir(buf, sizeof buf);
    size_t n = load_manifest(dir, models_buf);
    run_kernels(models_buf, n, quick_mode(), "ref_kernels");
    print_summary("ref_kernels (each kernel path)");
    free_models(models_buf, n);
    fail_on_left_out("ref_kernels");
}

AKT_MAIN(AKT_REG(tokens_golden), AKT_REG(tiny_golden), AKT_REG(ref_models),
         AKT_REG(ref_kernels))
