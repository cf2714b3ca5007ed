/*
 * srvrun.h - the in-process server fixture of the server tests
 * (test_server.c, test_server_ops.c): two staged models ("tiny", 128 tokens;
 * "short", 16 tokens), a server on 127.0.0.1 with an ephemeral port and a
 * temporary data folder (srv_init / srv_start / srv_stop / srv_close),
 * request-and-check macros, and the direct embeddings the answers are
 * compared with.  Header-only (static functions): each test binary stays a
 * single translation unit.
 */
#ifndef AKIDB_SRVRUN_H
#define AKIDB_SRVRUN_H

#include "akt.h"
#include "akidb.h"
#include "server/server.h"
#include "server/srvtest.h"

#include <math.h>

static char *g_root, *g_m1, *g_m2;

static inline void cleanup_models(void)
{
    st_rmtree(g_root);
}

/* Stages two models once: "tiny" (128 tokens) and "short" (16 tokens). */
static inline void stage_models(void)
{
    if (g_root)
        return;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_root = st_tmpdir("srvmodels");
    g_m1 = malloc(1024);
    g_m2 = malloc(1024);
    snprintf(g_m1, 1024, "%s/tiny", g_root);
    snprintf(g_m2, 1024, "%s/short", g_root);
    if (st_stage_model(g_m1, 0) != 0 || st_stage_model(g_m2, 16) != 0) {
        fprintf(stderr, "cannot stage the test models\n");
        abort();
    }
    atexit(cleanup_models);
}

static ak_model_spec g_specs[2];

static inline void base_cfg(ak_server_config *c, const char *data)
{
    stage_models();
    ak_server_config_defaults(c);
    g_specs[0].name = "tiny";
    g_specs[0].dir = g_m1;
    g_specs[1].name = "short";
    g_specs[1].dir = g_m2;
    c->data_dir = data;
    c->port = 0;
    c->models = g_specs;
    c->n_models = 2;
    c->scan_models_dir = 0;
    c->auth = 0;
    c->sync_none = 1;
    c->embed_threads = 1;
    c->drain_timeout_s = 10;
}

/* One server under test: a new data folder, the configuration it starts
 * with and, while it runs, the server and its port. */
typedef struct srv {
    char *data;
    ak_server_config cfg;
    ak_server *s;
    int port;
} srv;

/* Makes the data folder and fills f->cfg with base_cfg; starts nothing, so
 * a test may change f->cfg before srv_start. */
static inline void srv_init(srv *f)
{
    memset(f, 0, sizeof *f);
    f->data = st_tmpdir("srv");
    base_cfg(&f->cfg, f->data);
}

/* Starts a server with f->cfg (none may be running) and records it and its
 * port.  Returns 1, or 0 with the reason on stderr. */
static inline int srv_start(srv *f)
{
    f->s = NULL;
    f->port = 0;
    if (ak_server_start(&f->cfg, &f->s) != AKIDB_OK) {
        fprintf(stderr, "ak_server_start: %s\n", akidb_last_error());
        f->s = NULL;
        return 0;
    }
    f->port = ak_server_port(f->s);
    return 1;
}

/* srv_init then srv_start: a server on the base configuration. */
static inline int srv_up(srv *f)
{
    srv_init(f);
    return srv_start(f);
}

/* Stops the server if one runs; the data folder stays for a restart.
 * Returns ak_server_stop's status (AKIDB_OK when none ran). */
static inline akidb_status srv_stop(srv *f)
{
    ak_server *s = f->s;
    f->s = NULL;
    f->port = 0;
    return s ? ak_server_stop(s) : AKIDB_OK;
}

/* srv_stop, then removes the data folder.  Returns srv_stop's status. */
static inline akidb_status srv_close(srv *f)
{
    akidb_status st = srv_stop(f);
    st_rmtree(f->data);
    f->data = NULL;
    return st;
}

#define REQ(port, m, p, key, body) st_http(port, m, p, key, body, -1)

/* Sends one request.  When the answer's status is not want, or want_code is
 * not NULL and differs from its error code, prints the request and the
 * answer on stderr, above the FAIL line of the check that follows. */
static inline st_resp req_noted(int port, const char *m, const char *p, const char *key,
                         const char *body, long want, const char *want_code)
{
    st_resp r = REQ(port, m, p, key, body);
    if (r.status != want || (want_code && strcmp(st_err_code(&r), want_code) != 0))
        fprintf(stderr, "  %s %s%s%s -> %ld %s\n", m, p, body ? " " : "", body ? body : "",
                r.status, r.body ? r.body : "");
    return r;
}

/* Sends one request into *rp and checks its status is want and, unless
 * want_code is NULL, that its error code is want_code; the caller may check
 * more and frees *rp.  A failed check reports the line of the call. */
#define EXPECT_RESP(rp, port, m, p, key, body, want, want_code)               \
    do {                                                                      \
        st_resp *got_ = (rp);                                                 \
        const char *wc_ = (want_code);                                        \
        *got_ = req_noted(port, m, p, key, body, want, wc_);                  \
        AKT_EQ_INT(got_->status, want);                                       \
        if (wc_)                                                              \
            AKT_EQ_STR(st_err_code(got_), wc_);                               \
    } while (0)

/* EXPECT_RESP for a request whose answer needs no other check. */
#define EXPECT_STATUS(port, m, p, key, body, want, want_code)                 \
    do {                                                                      \
        st_resp er_;                                                          \
        EXPECT_RESP(&er_, port, m, p, key, body, want, want_code);            \
        st_resp_free(&er_);                                                   \
    } while (0)

/* A request body for one route and the answer it must get. */
typedef struct body_case {
    const char *body;
    long status;
    const char *code;   /* the error code, or NULL for any */
} body_case;

/* EXPECT_STATUS for each case of the array cases, in order. */
#define EXPECT_CASES(port, m, p, key, cases)                                  \
    do {                                                                      \
        for (size_t ci_ = 0; ci_ < sizeof(cases) / sizeof *(cases); ci_++)    \
            EXPECT_STATUS(port, m, p, key, (cases)[ci_].body,                 \
                          (cases)[ci_].status, (cases)[ci_].code);            \
    } while (0)

/* Embeds texts directly with the model folder for comparison. */
static inline float *direct_embed(const char *dir, const char *const *texts, size_t n,
                           akidb_pooling pool, int normalize)
{
    akidb_model *m = NULL;
    if (akidb_model_load(dir, NULL, &m) != AKIDB_OK)
        return NULL;
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    float *out = malloc(n * info.dim * sizeof *out);
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.pooling = pool;
    o.normalize = normalize;
    o.n_threads = 1;
    akidb_status st = akidb_embed(m, texts, NULL, n, out, &o);
    akidb_model_free(m);
    if (st != AKIDB_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static inline double max_diff_row(json_t *row, const float *want, size_t dim)
{
    double md = 0;
    if (json_array_size(row) != dim)
        return 1e9;
    for (size_t k = 0; k < dim; k++) {
        double d = fabs(json_number_value(json_array_get(row, k)) - want[k]);
        if (d > md)
            md = d;
    }
    return md;
}

#endif /* AKIDB_SRVRUN_H */
