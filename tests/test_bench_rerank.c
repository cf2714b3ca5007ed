/*
 * test_bench_rerank.c - `akidb bench rerank` ($AKIDB_BIN) run as a child
 * process on the ms-marco-MiniLM-shaped cross-encoder of the reranker
 * fixture (tests/ref/make_rerankers.py, $AKIDB_BUILD/ref_rerankers): its
 * JSON names the passages and a positive pairs/s, and its scores are the
 * ones akidb_rerank gives for the same query and passages (the benchmark
 * times what the API computes); bad input (no passage, an embedding model,
 * a bad count, an unknown option) fails with a message naming it.
 */
#include "akt.h"

#include "akidb.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const lines[] = {
    "how do solar panels work",
    "Solar panels turn sunlight into electricity with photovoltaic cells.",
    "The recipe needs two eggs and a cup of flour.",
    "Photovoltaic cells free electrons when light hits the silicon.",
};
#define NP 3

static const char *env_or(const char *name, const char *def)
{
    const char *s = getenv(name);
    return s && *s ? s : def;
}

/* Runs cmd with stderr into stdout, its output into out; the exit status. */
static int run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        AKT_FAIL_("popen %s: %s", cmd, strerror(errno));
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char *write_input(size_t n_lines)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/in%zu.txt", akt_tmpdir("akidb_bench_rr_"), n_lines);
    FILE *f = fopen(path, "w");
    AKT_TRUE(f != NULL);
    for (size_t i = 0; i < n_lines; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
    return path;
}

AKT_TEST(bench_rerank)
{
    const char *bin = getenv("AKIDB_BIN");
    if (!bin || access(bin, X_OK) != 0)
        AKT_FAIL_("AKIDB_BIN (the akidb binary) is not set or not executable: '%s'", bin ? bin : "");
    char dir[PATH_MAX], cmd[PATH_MAX * 8];
    const char *models = getenv("AKIDB_RERANK_MODELS");
    if (models && *models)
        snprintf(dir, sizeof dir, "%s/msmarco_minilm_bert", models);
    else
        snprintf(dir, sizeof dir, "%s/ref_rerankers/msmarco_minilm_bert", env_or("AKIDB_BUILD", "."));
    char input[PATH_MAX];
    snprintf(input, sizeof input, "%s", write_input(NP + 1));
    static char out[1 << 16];

    snprintf(cmd, sizeof cmd, "'%s' bench rerank --model '%s' --input '%s' --passages 100 "
             "--warmup 0 --repeat 2 --threads 2 2>&1", bin, dir, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 0);
    json_error_t err;
    json_t *r = json_loads(out, 0, &err);
    if (!r)
        AKT_FAIL_("not JSON (%s): %.200s", err.text, out);
    AKT_EQ_STR(json_string_value(json_object_get(r, "bench")), "rerank");
    AKT_EQ_INT(json_integer_value(json_object_get(json_object_get(r, "input"), "passages")), NP);
    AKT_EQ_INT(json_integer_value(json_object_get(r, "repeat")), 2);
    AKT_TRUE(json_real_value(json_object_get(r, "pairs_per_s")) > 0);
    json_t *scores = json_object_get(r, "scores");
    AKT_EQ_INT(json_array_size(scores), NP);

    akidb_model *m = NULL;
    AKT_OK(akidb_model_load(dir, NULL, &m));
    float want[NP];
    AKT_OK(akidb_rerank(m, lines[0], strlen(lines[0]), lines + 1, NULL, NP, NULL, want));
    akidb_model_free(m);
    for (size_t i = 0; i < NP; i++)
        AKT_NEAR(json_number_value(json_array_get(scores, i)), want[i], 1e-6);
    json_decref(r);

    /* --passages cuts the file */
    snprintf(cmd, sizeof cmd, "'%s' bench rerank --model '%s' --input '%s' --passages 1 "
             "--warmup 0 --repeat 1 2>&1", bin, dir, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 0);
    AKT_CONTAINS(out, "\"passages\": 1}");

    /* bad input */
    snprintf(cmd, sizeof cmd, "'%s' bench rerank --model '%s' --input '%s' 2>&1", bin, dir,
             write_input(1));
    AKT_EQ_INT(run(cmd, out, sizeof out), 1);
    AKT_CONTAINS(out, "a query and at least one passage are needed");
    /* an embedding model: the committed tiny BERT with the MiniLM tokenizer */
    char emb[PATH_MAX], src[PATH_MAX];
    snprintf(emb, sizeof emb, "%s/embedder", akt_tmpdir("akidb_bench_rr_"));
    AKT_TRUE(realpath(env_or("AKIDB_SRC", "."), src) != NULL);
    snprintf(cmd, sizeof cmd, "mkdir '%s' && cp -r '%s/tests/golden/tiny/tiny_f16/'* '%s' && "
             "cp '%s/tests/data/minilm/tokenizer.json' '%s/tests/data/minilm/vocab.txt' '%s'",
             emb, src, emb, src, src, emb);
    AKT_EQ_INT(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "'%s' bench rerank --model '%s' --input '%s' 2>&1", bin, emb, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 1);
    AKT_CONTAINS(out, "is not a reranker");
    snprintf(cmd, sizeof cmd, "'%s' bench rerank --model '%s' --input '%s' --passages 0 2>&1",
             bin, dir, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 2);
    AKT_CONTAINS(out, "--passages: expected an integer in 1..100000, got '0'");
    snprintf(cmd, sizeof cmd, "'%s' bench rerank --model '%s' --input '%s' --bogus 2>&1", bin,
             dir, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "'%s' bench rerank --input '%s' 2>&1", bin, input);
    AKT_EQ_INT(run(cmd, out, sizeof out), 2);
    AKT_CONTAINS(out, "--model and --input are required");
}

AKT_MAIN(AKT_REG(bench_rerank))
