/*
 * teirun.h - the fixture of the TEI and OpenAI route tests (test_tei.c,
 * test_tei_compat.c): four staged models ("tiny", "short" with 16 tokens,
 * "tiny_p" with prompts, "rr" a one-label reranker), loaded here for the
 * expected values and served by one in-process server started on first use
 * (up()), plus request helpers and TEI's error-shape check.  Header-only
 * (static functions): each test binary stays a single translation unit.
 */
#ifndef AKIDB_TEIRUN_H
#define AKIDB_TEIRUN_H

#include "akt.h"
#include "akt_data.h"
#include "akidb.h"
#include "server/routes_tei.h"
#include "server/server.h"
#include "server/srvtest.h"

#include <math.h>
#include <signal.h>
#include <sys/wait.h>

enum { DIM = 32 };

static char *g_root, *g_data, *g_dir[4];
static ak_server *g_srv;
static int g_port;
static akidb_model *g_m[4];   /* tiny, short, tiny_p, rr: loaded directly */
static ak_model_spec g_specs[4];
static const char *const g_names[4] = {"tiny", "short", "tiny_p", "rr"};
enum { M_TINY, M_SHORT, M_PROMPT, M_RR };

/* Appends a one-label classification head to dir's model.safetensors and
 * makes its config.json a BertForSequenceClassification. */
static inline void make_reranker(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    FILE *f = fopen(p, "rb");
    AKT_TRUE(f != NULL);
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(size);
    AKT_EQ_INT(fread(buf, 1, size, f), size);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | buf[i];
    json_t *h = json_loadb((const char *)buf + 8, hl, 0, NULL);
    AKT_TRUE(h != NULL);
    size_t data = size - 8 - hl;
    json_object_set_new(h, "classifier.weight",
                        json_pack("{s:s,s:[i,i],s:[I,I]}", "dtype", "F32", "shape", 1, DIM,
                                  "data_offsets", (json_int_t)data, (json_int_t)data + 4 * DIM));
    json_object_set_new(h, "classifier.bias",
                        json_pack("{s:s,s:[i],s:[I,I]}", "dtype", "F32", "shape", 1,
                                  "data_offsets", (json_int_t)data + 4 * DIM,
                                  (json_int_t)data + 4 * DIM + 4));
    char *hs = json_dumps(h, JSON_COMPACT);
    size_t nl = strlen(hs), padded = (nl + 7) / 8 * 8;
    f = fopen(p, "wb");
    for (int i = 0; i < 8; i++)
        fputc((int)((padded >> (8 * i)) & 255), f);
    fputs(hs, f);
    for (size_t i = nl; i < padded; i++)
        fputc(' ', f);
    fwrite(buf + 8 + hl, 1, data, f);
    float w[DIM + 1];
    for (int k = 0; k < DIM; k++)
        w[k] = (float)(0.9 * sin(1.7 * (k + 1)));
    w[DIM] = 0.1f;
    fwrite(w, sizeof(float), DIM + 1, f);   /* little-endian host */
    fclose(f);
    free(hs);
    free(buf);
    json_decref(h);
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *cfg = json_load_file(p, 0, NULL);
    AKT_TRUE(cfg != NULL);
    json_object_set_new(cfg, "architectures", json_pack("[s]", "BertForSequenceClassification"));
    json_object_set_new(cfg, "id2label", json_pack("{s:s}", "0", "LABEL_0"));
    json_object_set_new(cfg, "label2id", json_pack("{s:i}", "LABEL_0", 0));
    AKT_EQ_INT(json_dump_file(cfg, p, JSON_INDENT(1)), 0);
    json_decref(cfg);
}

static inline void teardown(void)
{
    if (g_srv)
        ak_server_stop(g_srv);
    for (int i = 0; i < 4; i++)
        akidb_model_free(g_m[i]);
    st_rmtree(g_data);
    st_rmtree(g_root);
}

/* Stages the four models, loads them here and starts the server once. */
static inline void up(void)
{
    if (g_srv)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_root = st_tmpdir("teimodels");
    g_data = st_tmpdir("teidata");
    for (int i = 0; i < 4; i++) {
        g_dir[i] = malloc(1024);
        snprintf(g_dir[i], 1024, "%s/%s", g_root, g_names[i]);
        AKT_EQ_INT(st_stage_model(g_dir[i], i == M_SHORT ? 16 : 0), 0);
    }
    char p[1100];
    snprintf(p, sizeof p, "%s/config_sentence_transformers.json", g_dir[M_PROMPT]);
    AKT_EQ_INT(st_write_file(p, "{\"prompts\": {\"query\": \"query: \", \"passage\": \"\"}}\n"), 0);
    make_reranker(g_dir[M_RR]);
    for (int i = 0; i < 4; i++) {
        AKT_OK(akidb_model_load(g_dir[i], NULL, &g_m[i]));
        g_specs[i].name = g_names[i];
        g_specs[i].dir = g_dir[i];
    }
    AKT_TRUE(akidb_model_is_reranker(g_m[M_RR]));
    ak_server_config c;
    ak_server_config_defaults(&c);
    c.data_dir = g_data;
    c.port = 0;
    c.models = g_specs;
    c.n_models = 4;
    c.scan_models_dir = 0;
    c.auth = 0;
    c.sync_none = 1;
    c.embed_threads = 1;
    c.max_request_texts = 64;
    c.drain_timeout_s = 10;
    AKT_OK(ak_server_start(&c, &g_srv));
    g_port = ak_server_port(g_srv);
    atexit(teardown);
}

static inline st_resp post(const char *path, const char *body)
{
    return st_http(g_port, "POST", path, NULL, body, -1);
}

/* Checks TEI's error shape: status, a message, error_type. */
static inline void tei_err(st_resp *r, long status, const char *type)
{
    if (r->status != status)
        fprintf(stderr, "  answer %ld: %s\n", r->status, r->body ? r->body : "");
    AKT_EQ_INT(r->status, status);
    AKT_TRUE(r->json && json_is_string(json_object_get(r->json, "error")));
    AKT_TRUE(json_string_length(json_object_get(r->json, "error")) > 0);
    AKT_EQ_STR(json_string_value(json_object_get(r->json, "error_type")), type);
    st_resp_free(r);
}

static inline void ok200(const st_resp *r)
{
    if (r->status != 200)
        fprintf(stderr, "  answer %ld: %s\n", r->status, r->body ? r->body : "");
    AKT_EQ_INT(r->status, 200);
    AKT_TRUE(r->json != NULL);
}

/* Row i of a JSON array of float arrays equals want[0..n). */
static inline void row_is(json_t *rows, size_t i, const float *want, size_t n)
{
    json_t *row = json_array_get(rows, i);
    AKT_EQ_INT(json_array_size(row), n);
    for (size_t k = 0; k < n; k++)
        AKT_NEAR(json_number_value(json_array_get(row, k)), want[k], 1e-6);
}

static inline void embed_one(int m, const char *text, int normalize, float *out)
{
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.normalize = normalize;
    AKT_OK(akidb_embed(g_m[m], &text, NULL, 1, out, &o));
}

static inline void ids_of(int m, const char *text, akidb_tokens *t)
{
    AKT_OK(akidb_tokenizer_encode(akidb_model_tokenizer(g_m[m]), text, strlen(text), 0, t));
}

/* Prints ids as a JSON array into buf. */
static inline char *ids_json(const int32_t *ids, size_t n, char *buf, size_t cap)
{
    size_t w = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < n; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%s%d", i ? "," : "", ids[i]);
    snprintf(buf + w, cap - w, "]");
    return buf;
}

static const char *long_text =
    "the quick brown fox jumps over the lazy dog while the small cat sleeps on the warm "
    "red chair near the old wooden door of the house by the river in the green valley";

#endif /* AKIDB_TEIRUN_H */
