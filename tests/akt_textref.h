/*
 * akt_textref.h - the text-level reference check the decoder families share
 * (test_qwen3.c, test_gemma3.c): every text of
 * tests/data/tok_multilingual.txt through the model folder's real
 * tokenizer (against the ids of its ids.txt) and akidb_embed, against the
 * float64 PyTorch embeddings of its ref/default_model.f32 (normalised) and
 * ref/default_raw.f32 on every kernel path: cosine >= 0.99999 and
 * max |diff| <= 1e-4 of the row's scale.
 */
#ifndef AKT_TEXTREF_H
#define AKT_TEXTREF_H

#include "akt_model.h"

#include <jansson.h>

/* An AKIDBREF v1 file: n rows of dim floats, row i of text idx[i]. */
typedef struct akt_ref {
    uint32_t n, dim;
    uint32_t *idx;
    float *emb;
} akt_ref;

static inline void akt_read_ref(const char *path, akt_ref *r)
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
static inline size_t akt_read_corpus(char ***texts, size_t **lens)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/data/tok_multilingual.txt", akt_src_dir());
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

/* ids.txt line i (untruncated) against the tokenizer's ids of text i: past
 * max_tokens the first max - 1 ids, then the closing one. */
static inline void akt_check_ids(const char *dir, const akidb_model *m, char **texts,
                                 size_t *lens, size_t n, size_t max_tokens)
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
        if (k > max_tokens) {
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
static inline void akt_check_texts(const akidb_model *m, const akt_ref *r, char **texts,
                                   size_t *lens, size_t n, int normalize, int nt, int one,
                                   double *worst_cos, double *worst_diff)
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
        double c = akt_cosine(g, e, r->dim);
        akt_checks++;
        if (!(c >= 0.99999) || !(diff <= 1e-4 * scale))
            AKT_FAIL_("[%s] text %zu: cosine %.9f, max |diff| %.3g",
                      akidb_kernels_name(akidb_kernels_active()), i, c, diff);
        *worst_cos = fmin(*worst_cos, c);
        *worst_diff = fmax(*worst_diff, diff);
    }
    free(out);
}

/* A text reference folder opened: its texts, references and model. */
typedef struct akt_textref {
    char dir[PATH_MAX];
    char **texts;
    size_t *lens, n;
    akt_ref rn, rr;   /* normalised, raw */
    akidb_model *m;
    akidb_model_info info;
} akt_textref;

/* Opens <$env or $AKIDB_BUILD/ref_<fam>>/<fam>_text, made by the ctest
 * fixture <fam>_ref_models (tests/ref/make_<fam>.py); 0 (the test passes
 * as skipped) when AKIDB_TOKREF_DIR is set empty and there is none, since
 * the folder needs the real tokenizer (tokenizer names it).  Checks the
 * references' size and the tokenizer's ids. */
static inline int akt_textref_open(akt_textref *tr, const char *fam, const char *env,
                                   const char *tokenizer)
{
    char p[PATH_MAX + 64];
    const char *base = getenv(env), *b = getenv("AKIDB_BUILD");
    if (base && *base)
        snprintf(tr->dir, sizeof tr->dir, "%s/%s_text", base, fam);
    else
        snprintf(tr->dir, sizeof tr->dir, "%s/ref_%s/%s_text", b && *b ? b : ".", fam, fam);
    const char *tk = getenv("AKIDB_TOKREF_DIR");
    snprintf(p, sizeof p, "%s/config.json", tr->dir);
    if (tk && !*tk && access(p, F_OK) != 0) {
        printf("  SKIP text_ref: AKIDB_TOKREF_DIR is empty (no real %s tokenizer)\n", tokenizer);
        AKT_TRUE(1);
        return 0;
    }
    if (access(p, F_OK) != 0)
        AKT_FAIL_("no %s: the ctest fixture %s_ref_models makes it "
                  "(tests/ref/make_%s.py, /usr/bin/python3 with python3-torch, and the "
                  "tokenizer of scripts/tokref.sh); or set %s", p, fam, fam, env);
    tr->n = akt_read_corpus(&tr->texts, &tr->lens);
    snprintf(p, sizeof p, "%s/ref/default_model.f32", tr->dir);
    akt_read_ref(p, &tr->rn);
    snprintf(p, sizeof p, "%s/ref/default_raw.f32", tr->dir);
    akt_read_ref(p, &tr->rr);
    AKT_EQ_INT(tr->rn.n, tr->n);
    tr->m = NULL;
    AKT_OK(akidb_model_load(tr->dir, NULL, &tr->m));
    akidb_model_get_info(tr->m, &tr->info);
    AKT_EQ_INT(tr->info.dim, tr->rn.dim);
    akt_check_ids(tr->dir, tr->m, tr->texts, tr->lens, tr->n, tr->info.max_tokens);
    return 1;
}

/* The texts against both references on every kernel path that runs here
 * (2 threads in one call normalised, 1 thread raw, and one call per text on
 * the scalar path), then each(tr) on that path when not NULL. */
static inline void akt_textref_paths(const akt_textref *tr, const char *fam,
                                     void (*each)(const akt_textref *tr))
{
    for (size_t pi = 0; pi < AKT_NPATHS; pi++) {
        if (akidb_kernels_select(akt_path(pi)) != AKIDB_OK)
            continue;
        double wc = 1, wd = 0;
        akt_check_texts(tr->m, &tr->rn, tr->texts, tr->lens, tr->n, -1, 2, 0, &wc, &wd);
        akt_check_texts(tr->m, &tr->rr, tr->texts, tr->lens, tr->n, 0, 1, 0, &wc, &wd);
        if (pi == 0)
            akt_check_texts(tr->m, &tr->rn, tr->texts, tr->lens, tr->n, -1, 1, 1, &wc, &wd);
        printf("  %s_text %-7s %zu texts (max_tokens %zu): worst cos 1-%.2e max|diff| %.3g\n",
               fam, akidb_kernels_name(akt_path(pi)), tr->n, tr->info.max_tokens, 1 - wc, wd);
        if (each)
            each(tr);
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
}

static inline void akt_textref_close(akt_textref *tr)
{
    akidb_model_free(tr->m);
    for (size_t i = 0; i < tr->n; i++)
        free(tr->texts[i]);
    free(tr->texts);
    free(tr->lens);
    free(tr->rn.idx);
    free(tr->rn.emb);
    free(tr->rr.idx);
    free(tr->rr.emb);
}

#endif /* AKT_TEXTREF_H */
