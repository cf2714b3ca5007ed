/*
 * test_tei_tokens.c - akidb_embed_tokens, the token-level hidden states
 * behind TEI's /embed_all: for the corpus texts of the committed tiny model
 * (tests/golden/tiny/tiny_f16, within its 128-token limit), the mean of the
 * rows against float64 PyTorch's mean-pooled reference (cos >= 0.99999,
 * max |diff| <= 1e-4), the first row against its CLS reference, and the
 * rows pooled here against akidb_embed_ids's mean / cls / max / last-token
 * poolings of the same ids (1e-6); ids outside the vocabulary, no ids and
 * too many ids refused naming the problem.
 */
#include "akt.h"
#include "akidb.h"
#include "server/srvtest.h"

#include <math.h>

enum { DIM = 32 };

static akidb_model *g_m[2];   /* the tiny model; the same limited to 16 tokens */
enum { M_TINY, M_SHORT };
static char *g_root;

static void teardown(void)
{
    for (int i = 0; i < 2; i++)
        akidb_model_free(g_m[i]);
    st_rmtree(g_root);
}

static void up(void)
{
    if (g_m[0])
        return;
    g_root = st_tmpdir("teitokens");
    for (int i = 0; i < 2; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/m%d", g_root, i);
        AKT_EQ_INT(st_stage_model(dir, i == M_SHORT ? 16 : 0), 0);
        AKT_OK(akidb_model_load(dir, NULL, &g_m[i]));
    }
    atexit(teardown);
}

/* An AKIDBREF v1 file of tests/golden/tiny/tiny_f16/ref: n rows of dim
 * floats for the corpus texts idx[0..n), pooled from float64 PyTorch. */
typedef struct tref {
    uint32_t n, dim, *idx;
    float *emb;
} tref;

static void tref_load(const char *name, tref *r)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/golden/tiny/tiny_f16/ref/%s", st_src_dir(), name);
    FILE *f = fopen(p, "rb");
    char magic[8];
    uint32_t h[4];
    AKT_TRUE(f != NULL);
    AKT_TRUE(fread(magic, 1, 8, f) == 8 && memcmp(magic, "AKIDBREF", 8) == 0);
    AKT_TRUE(fread(h, 4, 4, f) == 4 && h[0] == 1 && h[2] == DIM);
    r->n = h[1];
    r->dim = h[2];
    r->idx = malloc(r->n * sizeof *r->idx);
    r->emb = malloc((size_t)r->n * r->dim * sizeof *r->emb);
    AKT_EQ_INT(fread(r->idx, 4, r->n, f), r->n);
    AKT_EQ_INT(fread(r->emb, 4, (size_t)r->n * r->dim, f), (size_t)r->n * r->dim);
    fclose(f);
}

/* The corpus ids of text i (tests/golden/embed_corpus_ids.jsonl) into t;
 * false when the file has no such line. */
static bool corpus_ids(uint32_t i, akidb_tokens *t)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/golden/embed_corpus_ids.jsonl", st_src_dir());
    FILE *f = fopen(p, "r");
    AKT_TRUE(f != NULL);
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *ids = json_object_get(o, "ids");
        if (json_integer_value(json_object_get(o, "i")) == (json_int_t)i) {
            t->n = json_array_size(ids);
            t->ids = realloc(t->ids, (t->n ? t->n : 1) * sizeof *t->ids);
            for (size_t k = 0; k < t->n; k++)
                t->ids[k] = (int32_t)json_integer_value(json_array_get(ids, k));
            found = true;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return found;
}

static double cos_df(const double *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t k = 0; k < n; k++) {
        ab += a[k] * b[k];
        aa += a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return ab / sqrt(aa * bb);
}

/* The token rows of akidb_embed_tokens against float64 PyTorch's pooled
 * references (their mean is the mean-pooled embedding, their first row the
 * CLS one), and against akidb_embed_ids's poolings of the same ids. */
AKT_TEST(tokens_vs_refs)
{
    up();
    tref mean, cls;
    tref_load("default_raw.f32", &mean);   /* mean pooling, not normalised */
    tref_load("cls_model.f32", &cls);      /* CLS pooling, normalised */
    akidb_model_info mi;
    akidb_model_get_info(g_m[M_TINY], &mi);
    AKT_EQ_INT(mi.hidden, DIM);
    akidb_tokens t = {0};
    float *rows = malloc(mi.max_tokens * DIM * sizeof *rows);
    size_t used = 0;
    for (uint32_t r = 0; r < mean.n; r++) {
        AKT_TRUE(corpus_ids(mean.idx[r], &t));
        if (t.n > mi.max_tokens)
            continue;   /* the references cut long texts; the API takes what fits */
        size_t ntok = 0;
        akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
        o.n_tokens = &ntok;
        AKT_OK(akidb_embed_tokens(g_m[M_TINY], t.ids, t.n, rows, &o));
        AKT_EQ_INT(ntok, t.n);
        double avg[DIM] = {0}, first[DIM];
        for (size_t i = 0; i < t.n; i++)
            for (int k = 0; k < DIM; k++)
                avg[k] += rows[i * DIM + k] / (double)t.n;
        for (int k = 0; k < DIM; k++) {
            first[k] = rows[k];
            AKT_NEAR(avg[k], mean.emb[r * DIM + k], 1e-4);
        }
        AKT_TRUE(cos_df(avg, mean.emb + r * DIM, DIM) >= 0.99999);
        for (uint32_t c = 0; c < cls.n; c++)
            if (cls.idx[c] == mean.idx[r])
                AKT_TRUE(cos_df(first, cls.emb + c * DIM, DIM) >= 0.99999);
        /* the library's own poolings of the same ids: exact to 1e-6 */
        const int32_t *ip = t.ids;
        size_t il = t.n;
        float pooled[DIM];
        static const akidb_pooling pools[] = {AKIDB_POOL_MEAN, AKIDB_POOL_CLS, AKIDB_POOL_MAX,
                                              AKIDB_POOL_LAST_TOKEN};
        for (size_t p = 0; p < 4; p++) {
            o.pooling = pools[p];
            o.normalize = 0;
            AKT_OK(akidb_embed_ids(g_m[M_TINY], &ip, &il, 1, pooled, &o));
            for (int k = 0; k < DIM; k++) {
                double want = pools[p] == AKIDB_POOL_MEAN ? avg[k]
                              : pools[p] == AKIDB_POOL_CLS ? rows[k]
                              : pools[p] == AKIDB_POOL_LAST_TOKEN ? rows[(t.n - 1) * DIM + k]
                              : -1e30;
                for (size_t i = 0; pools[p] == AKIDB_POOL_MAX && i < t.n; i++)
                    want = rows[i * DIM + k] > want ? rows[i * DIM + k] : want;
                AKT_NEAR(pooled[k], want, 1e-6);
            }
        }
        used++;
    }
    AKT_TRUE(used >= 30);
    /* bad input names what is wrong */
    int32_t bad[2] = {101, 999999};
    AKT_STATUS(akidb_embed_tokens(g_m[M_TINY], bad, 2, rows, NULL), AKIDB_EDIM);
    AKT_CONTAINS(akidb_last_error(), "999999");
    AKT_STATUS(akidb_embed_tokens(g_m[M_TINY], bad, 0, rows, NULL), AKIDB_EINVAL);
    int32_t many[17];
    for (int i = 0; i < 17; i++)
        many[i] = i == 0 ? 101 : i == 16 ? 102 : 1996;
    AKT_OK(akidb_embed_tokens(g_m[M_SHORT], many + 1, 16, rows, NULL));
    AKT_STATUS(akidb_embed_tokens(g_m[M_SHORT], many, 17, rows, NULL), AKIDB_ETOOLONG);
    AKT_CONTAINS(akidb_last_error(), "limit of 16");
    free(rows);
    akidb_tokens_free(&t);
    free(mean.idx);
    free(mean.emb);
    free(cls.idx);
    free(cls.emb);
}

AKT_MAIN(AKT_REG(tokens_vs_refs))
