/*
 * test_rerank_ref.c - proof of exactness for rerankers: AkiDB's scores
 * against an independent float64 PyTorch reference.
 *
 * tests/ref/make_rerankers.py builds random-weight reranker folders of real
 * configs at small dims (ms-marco-MiniLM-L-6-v2's BertForSequenceClassification,
 * bge-reranker-base's XLMRobertaForSequenceClassification, a three-label
 * DistilBertForSequenceClassification in BF16) and their reference logits on
 * token ids that are not AkiDB's: the Rust tokenizers library's pair ids
 * (tests/golden/rerank_pairs_minilm.jsonl, tests/ref/rerank_pairs_ref.mjs),
 * truncation included.  For each model and every kernel path the CPU has:
 *   - the id path (ak_model_rerank_ids): all pairs in one call on 2 threads,
 *     on the first path also on 1 thread and one pair per call: raw logits
 *     and the default activation's scores within 1e-4 * max(1, |ref|);
 *   - the text path (akidb_rerank) for models with a tokenizer: the texts of
 *     tests/data/rerank_pairs.json with each case's max_tokens (the model's
 *     default for 512) and truncation strategy, one call per query and case.
 * And once: AkiDB's pair ids equal the golden ids (or fail where Rust's
 * truncation fails), so a text-path difference is the model's, not the
 * tokenizer's.  AKIDB_REF_QUICK=1: the id path, all pairs in one call only.
 * AKIDB_RERANK_MODELS overrides $AKIDB_BUILD/ref_rerankers.
 */
#include "akt.h"
#include "model/classify.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>

#define DIFF_MAX 1e-4
#define MAX_MODELS 32
#define MAX_LABELS 4

typedef struct rpair {
    int g, q, d;                   /* golden line, query, doc (-1: ids only) */
    size_t max, n;
    akidb_truncation how;
    int32_t *ids;
    uint32_t *types;
    double logits[MAX_LABELS], scores[MAX_LABELS];
} rpair;

typedef struct rmodel {
    char name[64], dir[PATH_MAX], arch[96], dtype[16], act[16];
    size_t labels, hidden, max_tokens;
    int text, types;
    rpair *pairs;
    size_t n;
} rmodel;

typedef struct texts {
    char **q, **d;
    size_t nq, nd;
} texts;

static const char *env_or(const char *name, const char *def)
{
    const char *s = getenv(name);
    return s && *s ? s : def;
}

static json_t *load_json(const char *path)
{
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j)
        AKT_FAIL_("%s: %s (line %d)", path, e.text, e.line);
    return j;
}

static akidb_truncation how_of(const char *s)
{
    if (!strcmp(s, "only_first"))
        return AKIDB_TRUNC_ONLY_FIRST;
    if (!strcmp(s, "only_second"))
        return AKIDB_TRUNC_ONLY_SECOND;
    return AKIDB_TRUNC_LONGEST_FIRST;   /* longest_first, and "ids" pairs */
}

/* ---- inputs ------------------------------------------------------------------ */

static char *text_of(json_t *t)
{
    if (json_is_string(t))
        return strdup(json_string_value(t));
    const char *unit = json_string_value(json_object_get(t, "repeat"));
    size_t n = (size_t)json_integer_value(json_object_get(t, "n")), u = unit ? strlen(unit) : 0;
    if (!unit)
        AKT_FAIL_("rerank_pairs.json: a text is neither a string nor {repeat, n}");
    char *s = malloc(u * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, unit, u);
    s[u * n] = 0;
    return s;
}

static void read_texts(texts *t)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/data/rerank_pairs.json", env_or("AKIDB_SRC", "."));
    json_t *j = load_json(path), *q = json_object_get(j, "queries"), *d = json_object_get(j, "docs");
    t->nq = json_array_size(q);
    t->nd = json_array_size(d);
    t->q = calloc(t->nq, sizeof *t->q);
    t->d = calloc(t->nd, sizeof *t->d);
    for (size_t i = 0; i < t->nq; i++)
        t->q[i] = text_of(json_array_get(q, i));
    for (size_t i = 0; i < t->nd; i++)
        t->d[i] = text_of(json_array_get(d, i));
    json_decref(j);
}

/* An array of integers into a fresh buffer of *n elements of size esz. */
static void *int_array(json_t *a, size_t esz, size_t *n)
{
    *n = json_array_size(a);
    void *v = calloc(*n ? *n : 1, esz);
    for (size_t i = 0; i < *n; i++) {
        long long x = json_integer_value(json_array_get(a, i));
        if (esz == 4)
            ((int32_t *)v)[i] = (int32_t)x;
    }
    return v;
}

static void read_pairs(rmodel *m)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/pairs.jsonl", m->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, room = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *j = json_loads(line, 0, &e);
        if (!j)
            AKT_FAIL_("%s: line %zu: %s", path, m->n + 1, e.text);
        if (m->n == room)
            m->pairs = realloc(m->pairs, (room = room ? 2 * room : 64) * sizeof *m->pairs);
        rpair *p = &m->pairs[m->n++];
        memset(p, 0, sizeof *p);
        p->g = (int)json_integer_value(json_object_get(j, "g"));
        p->q = (int)json_integer_value(json_object_get(j, "q"));
        p->d = (int)json_integer_value(json_object_get(j, "d"));
        p->max = (size_t)json_integer_value(json_object_get(j, "max"));
        p->how = how_of(json_string_value(json_object_get(j, "strategy")));
        size_t nt;
        p->ids = int_array(json_object_get(j, "ids"), 4, &p->n);
        int32_t *t = int_array(json_object_get(j, "type_ids"), 4, &nt);
        AKT_EQ_INT(nt, p->n);
        p->types = (uint32_t *)t;
        json_t *lg = json_object_get(j, "logits"), *sc = json_object_get(j, "scores");
        AKT_EQ_INT(json_array_size(lg), m->labels);
        for (size_t l = 0; l < m->labels; l++) {
            p->logits[l] = json_number_value(json_array_get(lg, l));
            p->scores[l] = json_number_value(json_array_get(sc, l));
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    AKT_TRUE(m->n > 0);
}

static size_t read_manifest(const char *dir, rmodel *ms)
{
    char path[PATH_MAX + 16], line[1024];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("no reference rerankers: cannot open %s (%s).  The ctest fixture "
                  "rerank_ref_models makes them (tests/ref/make_rerankers.py, which needs "
                  "/usr/bin/python3 with python3-torch); or set AKIDB_RERANK_MODELS",
                  path, strerror(errno));
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *save = NULL, *kw = strtok_r(line, " ", &save), *name = strtok_r(NULL, " ", &save);
        if (!kw || strcmp(kw, "model") != 0 || !name)
            continue;
        AKT_TRUE(n < MAX_MODELS);
        rmodel *m = &ms[n++];
        memset(m, 0, sizeof *m);
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(m->dir, sizeof m->dir, "%.3000s/%.60s", dir, name);
        for (char *kv; (kv = strtok_r(NULL, " ", &save));) {
            char *v = strchr(kv, '=');
            if (!v)
                continue;
            *v++ = 0;
            size_t u = strtoul(v, NULL, 10);
            if (!strcmp(kv, "arch")) snprintf(m->arch, sizeof m->arch, "%s", v);
            else if (!strcmp(kv, "labels")) m->labels = u;
            else if (!strcmp(kv, "hidden")) m->hidden = u;
            else if (!strcmp(kv, "max_tokens")) m->max_tokens = u;
            else if (!strcmp(kv, "dtype")) snprintf(m->dtype, sizeof m->dtype, "%s", v);
            else if (!strcmp(kv, "text")) m->text = (int)u;
            else if (!strcmp(kv, "types")) m->types = (int)u;
            else if (!strcmp(kv, "activation")) snprintf(m->act, sizeof m->act, "%s", v);
        }
        AKT_TRUE(m->labels >= 1 && m->labels <= MAX_LABELS);
        read_pairs(m);
    }
    fclose(f);
    AKT_TRUE(n > 0);
    return n;
}

/* ---- checks --------------------------------------------------------------------- */

typedef struct worst {
    double diff;
    size_t pairs;
} worst;

/* Compares out (k pairs x labels) with the reference of pairs idx[0..k). */
static void compare(const rmodel *rm, const size_t *idx, size_t k, const float *out,
                    int scores, const char *what, worst *w)
{
    for (size_t j = 0; j < k; j++) {
        const rpair *p = &rm->pairs[idx[j]];
        for (size_t l = 0; l < rm->labels; l++) {
            double ref = scores ? p->scores[l] : p->logits[l], got = out[j * rm->labels + l];
            double d = fabs(got - ref), lim = DIFF_MAX * (fabs(ref) > 1 ? fabs(ref) : 1);
            akt_checks++;
            if (!(d <= lim))
                AKT_FAIL_("%s: pair %zu (%zu tokens) label %zu: %.9g, reference %.9g "
                          "(|diff| %.3g > %.3g)", what, idx[j], p->n, l, got, ref, d, lim);
            w->diff = d > w->diff ? d : w->diff;
        }
        w->pairs++;
    }
}

/* The id path on pairs idx[0..k) in one call. */
static void ids_call(const rmodel *rm, const akidb_model *m, const size_t *idx, size_t k,
                     int nt, int scores, const char *what, worst *w)
{
    const int32_t **ids = calloc(k, sizeof *ids);
    const uint32_t **types = calloc(k, sizeof *types);
    size_t *lens = calloc(k, sizeof *lens);
    float *out = calloc(k * rm->labels, sizeof *out);
    for (size_t j = 0; j < k; j++) {
        ids[j] = rm->pairs[idx[j]].ids;
        types[j] = rm->pairs[idx[j]].types;
        lens[j] = rm->pairs[idx[j]].n;
    }
    akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
    o.n_threads = nt;
    o.activation = scores ? AKIDB_RERANK_ACT_DEFAULT : AKIDB_RERANK_ACT_RAW;
    AKT_OK(ak_model_rerank_ids(m, k, ids, types, lens, &o, out));
    compare(rm, idx, k, out, scores, what, w);
    free(ids);
    free(types);
    free(lens);
    free(out);
}

/* The text path: one akidb_rerank call per run of pairs with the same
 * query, max and strategy. */
static void text_calls(const rmodel *rm, const akidb_model *m, const texts *tx,
                       const char *what, worst *w)
{
    size_t *idx = calloc(rm->n, sizeof *idx);
    const char **docs = calloc(rm->n, sizeof *docs);
    float *out = calloc(rm->n * rm->labels, sizeof *out);
    for (size_t i = 0; i < rm->n;) {
        const rpair *p = &rm->pairs[i];
        size_t k = 0;
        while (i + k < rm->n && rm->pairs[i + k].q == p->q && rm->pairs[i + k].max == p->max &&
               rm->pairs[i + k].how == p->how) {
            idx[k] = i + k;
            docs[k] = tx->d[rm->pairs[i + k].d];
            k++;
        }
        akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
        o.activation = AKIDB_RERANK_ACT_RAW;
        o.max_tokens = p->max == rm->max_tokens ? 0 : p->max;
        o.truncation = p->how;
        o.n_threads = 2;
        const char *q = tx->q[p->q];
        AKT_OK(akidb_rerank(m, q, strlen(q), docs, NULL, k, &o, out));
        compare(rm, idx, k, out, 0, what, w);
        i += k;
    }
    free(idx);
    free(docs);
    free(out);
}

/* AkiDB's pair ids = the golden ids of the Rust library, errors included. */
static void check_golden(const akidb_model *m, const texts *tx)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/golden/rerank_pairs_minilm.jsonl",
             env_or("AKIDB_SRC", "."));
    FILE *f = fopen(path, "r");
    if (!f)
        AKT_FAIL_("cannot open %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, n = 0, errors = 0;
    akidb_tokens tk = { 0 };
    while (getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        AKT_TRUE(j != NULL);
        const char *q = tx->q[json_integer_value(json_object_get(j, "q"))];
        const char *d = tx->d[json_integer_value(json_object_get(j, "d"))];
        size_t max = (size_t)json_integer_value(json_object_get(j, "max"));
        akidb_truncation how = how_of(json_string_value(json_object_get(j, "strategy")));
        akidb_status st = akidb_tokenizer_encode_pair(akidb_model_tokenizer(m), q, strlen(q), d,
                                                      strlen(d), max, how, &tk);
        if (json_is_true(json_object_get(j, "error"))) {
            AKT_EQ_INT(st, AKIDB_ETOOLONG);
            akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
            o.max_tokens = max;
            o.truncation = how;
            float s[MAX_LABELS];
            AKT_STATUS(akidb_rerank(m, q, strlen(q), &d, NULL, 1, &o, s), AKIDB_ETOOLONG);
            AKT_CONTAINS(akidb_last_error(), "document 0");
            errors++;
        } else {
            size_t k, kt;
            AKT_OK(st);
            int32_t *ids = int_array(json_object_get(j, "ids"), 4, &k);
            int32_t *types = int_array(json_object_get(j, "type_ids"), 4, &kt);
            if (k != tk.n || memcmp(ids, tk.ids, k * sizeof *ids) != 0 ||
                memcmp(types, tk.type_ids, k * sizeof *types) != 0)
                AKT_FAIL_("%s line %zu: AkiDB's pair ids differ from the golden (%zu vs %zu ids)",
                          path, n + 1, tk.n, k);
            free(ids);
            free(types);
        }
        json_decref(j);
        n++;
    }
    akidb_tokens_free(&tk);
    free(line);
    fclose(f);
    printf("  pair ids: %zu golden pairs equal (%zu refused as Rust refuses)\n", n, errors);
}

static const akidb_kernel_path paths[] = { AKIDB_KERNELS_SCALAR, AKIDB_KERNELS_AVX2,
                                           AKIDB_KERNELS_AVX512, AKIDB_KERNELS_NEON };

/* Every check of rm on the active kernel path (first: the full set). */
static void check_model(const rmodel *rm, const texts *tx, int first, int quick)
{
    akidb_model *m = NULL;
    akidb_status st = rm->text ? akidb_model_load(rm->dir, NULL, &m)
                               : ak_model_load_ids(rm->dir, NULL, &m);
    if (st != AKIDB_OK)
        AKT_FAIL_("load %s: %s", rm->dir, akidb_last_error());
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    AKT_EQ_INT(info.num_labels, rm->labels);
    AKT_EQ_INT(info.hidden, rm->hidden);
    AKT_EQ_STR(info.weights_dtype, rm->dtype);
    AKT_EQ_INT(ak_head_max_tokens(ak_model_head(m)), rm->max_tokens);
    AKT_EQ_INT(ak_head_uses_types(ak_model_head(m)), rm->types);
    const char *kp = akidb_kernels_name(akidb_kernels_active());
    size_t *all = calloc(rm->n, sizeof *all);
    for (size_t i = 0; i < rm->n; i++)
        all[i] = i;
    char what[256];
    worst w = { 0, 0 }, ws = { 0, 0 }, wt = { 0, 0 };
    snprintf(what, sizeof what, "%.63s [%.15s] ids, all pairs, 2 threads", rm->name, kp);
    ids_call(rm, m, all, rm->n, 2, 0, what, &w);
    ids_call(rm, m, all, rm->n, 2, 1, what, &ws);
    if (first && !quick) {
        snprintf(what, sizeof what, "%.63s [%.15s] ids, all pairs, 1 thread", rm->name, kp);
        ids_call(rm, m, all, rm->n, 1, 0, what, &w);
        snprintf(what, sizeof what, "%.63s [%.15s] ids, one pair per call", rm->name, kp);
        for (size_t i = 0; i < rm->n; i++)
            ids_call(rm, m, &all[i], 1, 1 + (int)(i & 1), 0, what, &w);
    }
    if (rm->text && !quick) {
        if (first)
            check_golden(m, tx);   /* first: a tokenizer difference is named as one */
        snprintf(what, sizeof what, "%.63s [%.15s] texts", rm->name, kp);
        text_calls(rm, m, tx, what, &wt);
    }
    printf("  %-22s %-7s ids: %4zu pairs max|diff| %.3g (%s scores %.3g)", rm->name, kp,
           w.pairs, w.diff, rm->act, ws.diff);
    if (wt.pairs)
        printf("  texts: %zu pairs max|diff| %.3g", wt.pairs, wt.diff);
    printf("\n");
    fflush(stdout);
    free(all);
    akidb_model_free(m);
}

AKT_TEST(rerank_ref)
{
    static rmodel ms[MAX_MODELS];
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/ref_rerankers", env_or("AKIDB_BUILD", "."));
    size_t n = read_manifest(env_or("AKIDB_RERANK_MODELS", buf), ms);
    texts tx;
    read_texts(&tx);
    const char *q = getenv("AKIDB_REF_QUICK");
    int quick = q && *q && strcmp(q, "0") != 0, first = 1;
    for (size_t p = 0; p < 4; p++) {
        akidb_status st = akidb_kernels_select(paths[p]);
        if (st == AKIDB_EUNSUPPORTED) {
            printf("  kernel path %s not supported here: skipped\n", akidb_kernels_name(paths[p]));
            continue;
        }
        AKT_OK(st);
        for (size_t i = 0; i < n; i++)
            check_model(&ms[i], &tx, first, quick);
        first = 0;
    }
    AKT_OK(akidb_kernels_select(AKIDB_KERNELS_AUTO));
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ms[i].n; k++) {
            free(ms[i].pairs[k].ids);
            free(ms[i].pairs[k].types);
        }
        free(ms[i].pairs);
    }
    for (size_t i = 0; i < tx.nq; i++)
        free(tx.q[i]);
    for (size_t i = 0; i < tx.nd; i++)
        free(tx.d[i]);
    free(tx.q);
    free(tx.d);
}

AKT_MAIN(AKT_REG(rerank_ref))
