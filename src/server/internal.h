/*
 * internal.h - pieces of the REST server shared between its files: the
 * server object, response helpers, the key/tenant registry (auth.c), the
 * model registry with its dynamic batcher (embedq.c), Prometheus metrics
 * (metrics.c) and the route handlers (routes_*.c).  Not used outside
 * src/server except by the server's own tests and fuzz targets.
 */
#ifndef AKIDB_SERVER_INTERNAL_H
#define AKIDB_SERVER_INTERNAL_H

#include "server/server.h"
#include "common/common.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#ifdef AK_HAVE_STORE
#include "akidb_store.h"
#else
typedef struct akidb_store akidb_store;
#endif

/* Frees a string returned by json_dumps with jansson's current allocator
 * (the store may route jansson through ak_malloc). */
static inline void ak_json_free_str(char *s)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (s)
        f(s);
}

/* ---- identities and roles -------------------------------------------- */

typedef enum ak_role {
    AK_ROLE_NONE = 0,
    AK_ROLE_READER = 1,
    AK_ROLE_WRITER = 2,
    AK_ROLE_ADMIN = 3
} ak_role;

#define AK_TENANT_MAX 64
#define AK_DEFAULT_TENANT "default"

typedef struct ak_ident {
    char tenant[AK_TENANT_MAX + 1];
    ak_role role;
    char key_id[32];             /* "" when auth is off                       */
} ak_ident;

/* "reader", "writer", "admin"; parse returns AK_ROLE_NONE for others. */
const char *ak_role_name(ak_role r);
ak_role ak_role_parse(const char *s);

/* ---- key registry (auth.c) -------------------------------------------- */

typedef struct ak_auth ak_auth;

/* Opens the registry kept in <data_dir>/auth.json (created on first write).
 * AKIDB_ECORRUPT if the file exists but cannot be read as a registry. */
akidb_status ak_auth_open(const char *data_dir, ak_auth **out);
void ak_auth_close(ak_auth *a);

/* Installs env_key (may be NULL) as an in-memory admin key of tenant
 * "default" with id "admin-env".  When env_key is NULL and no admin key is
 * stored, generates one, stores its hash and returns it in *generated
 * (ak_free it); otherwise *generated is NULL.  EINVAL for an env key shorter
 * than 16 bytes. */
akidb_status ak_auth_bootstrap(ak_auth *a, const char *env_key, char **generated);

/* Looks up a presented key.  AKIDB_EAUTH if no key matches. */
akidb_status ak_auth_check(ak_auth *a, const char *key, ak_ident *out);

/* Creates a key for tenant with role and an optional label; *key_out gets
 * the secret (ak_free it; it is not kept), *info its public description. */
akidb_status ak_auth_key_create(ak_auth *a, const char *tenant, ak_role role,
                                const char *label, char **key_out, json_t **info);

/* Public descriptions of the keys (all, or of one tenant when tenant is not
 * NULL), as a new JSON array; NULL on ENOMEM. */
json_t *ak_auth_key_list(ak_auth *a, const char *tenant);

/* Deletes a stored key by id (ENOENT if absent, EPERM for "admin-env"). */
akidb_status ak_auth_key_delete(ak_auth *a, const char *id);

/* Deletes every stored key of tenant; returns how many through *n. */
akidb_status ak_auth_delete_tenant_keys(ak_auth *a, const char *tenant, size_t *n);

/* Number of keys (stored and in-memory). */
size_t ak_auth_key_count(ak_auth *a);

/* ---- metrics (metrics.c) ------------------------------------------------ */

typedef struct ak_metrics ak_metrics;
typedef struct ak_hist ak_hist;

ak_metrics *ak_metrics_new(void);
void ak_metrics_free(ak_metrics *m);
/* Records one finished HTTP request. */
void ak_metrics_request(ak_metrics *m, const char *route, const char *method,
                        int status, double seconds);
/* Counts connections closed by the HTTP deadlines (deadline.c): header
 * covers the first request's headers and a keep-alive connection's next. */
void ak_metrics_deadline_drops(ak_metrics *m, uint64_t header, uint64_t body);
/* A histogram with the given upper bounds (copied); owned by m. */
ak_hist *ak_metrics_hist(ak_metrics *m, const char *name, const char *help,
                         const char *labels, const double *bounds, size_t n);
void ak_hist_observe(ak_hist *h, double v);
/* Appends every metric in Prometheus text format to *out (json string
 * builder is not used; plain growable buffer). */
typedef struct ak_tbuf {
    char *p;
    size_t len, cap;
    int oom;
} ak_tbuf;
void ak_tbuf_printf(ak_tbuf *b, const char *fmt, ...) AK_PRINTF(2, 3);
void ak_tbuf_free(ak_tbuf *b);
void ak_metrics_render(ak_metrics *m, ak_tbuf *out);

/* ---- models and the embedding batcher (embedq.c) ------------------------ */

typedef struct ak_models ak_models;
typedef struct ak_emodel ak_emodel;

/* Loads every model of cfg (--model specs, then each <data>/models/NAME) and starts
 * its workers.  No models is allowed. */
akidb_status ak_models_open(const ak_server_config *cfg, ak_metrics *m,
                            ak_models **out);
/* Finishes the queued work, stops the workers, frees the models. */
void ak_models_close(ak_models *ms);
size_t ak_models_count(const ak_models *ms);
ak_emodel *ak_models_at(ak_models *ms, size_t i);
/* The model called name (also matched against the last path part of an
 * "org/name" request), or the default when name is NULL or "".  NULL when
 * absent. */
ak_emodel *ak_models_find(ak_models *ms, const char *name);
const char *ak_emodel_name(const ak_emodel *em);
const akidb_model_info *ak_emodel_info(const ak_emodel *em);
/* Appends per-model gauges and counters in Prometheus text format. */
void ak_models_render(ak_models *ms, ak_tbuf *out);
/* Texts waiting in the model's queue. */
size_t ak_emodel_queue_depth(ak_emodel *em);
/* A direct model call for n texts (work the batcher cannot merge) takes a
 * slot: EBUSY when the queue cannot hold n more texts (or the server is
 * stopping), else waits until fewer direct calls than the model has
 * workers run.  Every AKIDB_OK is paired with one ak_emodel_leave. */
akidb_status ak_emodel_enter(ak_emodel *em, size_t n);
void ak_emodel_leave(ak_emodel *em);

typedef struct ak_embed_job {
    const char *const *texts;    /* n texts of lens[i] bytes                  */
    const size_t *lens;
    size_t n;
    akidb_pooling pooling;
    int normalize;               /* -1 model's, 0, 1                          */
    int truncate;                /* 0: text over the limit is ETOOLONG        */
    float *out;                  /* n * dim floats                            */
    size_t total_tokens;         /* out: tokens processed                     */
} ak_embed_job;

/* Embeds job->n texts through the model's shared queue: validates and
 * tokenizes in the calling thread, then waits while a worker embeds them,
 * usually batched with other requests' texts.  EUTF8 / ETOOLONG name the
 * text index; EBUSY when the queue is full; ENOMEM; a model failure. */
akidb_status ak_embed_run(ak_emodel *em, ak_embed_job *job);

/* ---- the server object ---------------------------------------------------- */

/* Start-up phases: the listener runs from the first one on. */
enum { AK_PHASE_STORE = 0, AK_PHASE_MODELS, AK_PHASE_READY };

struct ak_server {
    ak_server_config cfg;
    char *data_dir;
    char *host;
    int port;
    int auth_on;
    char *generated_key;
    ak_auth *auth;
    ak_models *models;
    ak_metrics *metrics;
    akidb_store *store;
    /* The data plane the routes write and search through (dataplane.h):
     * &ak_dp_local with the store as dp_ctx, or the cluster's. */
    const struct ak_dataplane *dp;
    void *dp_ctx;
    void *daemon;                 /* struct MHD_Daemon * (http.c)              */
    struct ak_workq *workq;       /* request workers (http.c)                  */
    struct ak_deadlines *deadlines; /* header / body deadlines (deadline.c)   */
    atomic_int draining;
    atomic_int phase;             /* AK_PHASE_*; routes other than health,
                                     ready, info and metrics need READY       */
    atomic_int rec_wal;           /* recovery: 0 loading the snapshot, 1 WAL  */
    atomic_int disk_full;         /* the last write failed for lack of space  */
    _Atomic uint64_t rec_done, rec_total;   /* bytes of that phase           */
    atomic_long in_flight;
    double started;
    FILE *log;
};

/* ---- HTTP layer (http.c) ------------------------------------------------ */

struct sockaddr;
/* Starts the request workers and the listener on sa (libmicrohttpd, epoll
 * event threads, connections suspended while a worker handles them); sets
 * s->port.  EIO naming the address when it cannot listen. */
akidb_status ak_http_listen(ak_server *s, const struct sockaddr *sa);
/* Stops accepting, waits up to drain_timeout_s for requests in flight,
 * finishes the queued ones and closes every connection. */
void ak_http_close(ak_server *s);
/* Tests only: called by the request worker before each dispatch (e.g. to
 * make a request slow); NULL otherwise. */
extern void (*ak_http_dispatch_hook)(const ak_http_req *req);

/* ---- per-request context for route handlers ---------------------------- */

struct ak_route;
struct ak_route_family;

typedef struct ak_ctx {
    ak_server *srv;
    const ak_http_req *req;
    ak_http_resp *resp;
    ak_ident id;
    char *seg[8];                 /* decoded path segments                    */
    size_t nseg;
    const struct ak_route *route; /* the matched route (route.h)              */
    const struct ak_route_family *family;   /* its family: the error shape   */
    const char *param[4];         /* the pattern's {params}, in order         */
    size_t nparam;
    json_t *body;                 /* parsed JSON body (object) or NULL        */
    double t0;
} ak_ctx;

/* ---- reply helpers (reply.c) --------------------------------------------- */

/* Replaces r's body with text (ak_malloc'ed, owned by r from now on). */
void ak_reply_raw(ak_http_resp *r, int status, char *text, size_t len, const char *ctype);
/* Last-resort answer when even building an error failed: 500. */
void ak_reply_oom(ak_http_resp *r);
/* Percent-decodes s[0..n) into a new string; '+' stays '+' (paths) unless
 * plus_space.  NULL for a bad escape, a NUL byte or ENOMEM. */
char *ak_pct_decode(const char *s, size_t n, bool plus_space);
/* Splits path into decoded segments (c->seg); false for a malformed path. */
bool ak_split_path(ak_ctx *c, const char *path);

/* Response helpers.  ak_reply_json steals j (NULL means ENOMEM -> 500).
 * ak_reply_error answers in the shape of c->family (akidb's
 * {"error":{"code","message"}} by default). */
void ak_reply_json(ak_ctx *c, int status, json_t *j);
void ak_reply_error(ak_ctx *c, int status, const char *code, const char *fmt, ...)
    AK_PRINTF(4, 5);
/* Maps a failed status with akidb_last_error() to an error response. */
void ak_reply_status(ak_ctx *c, akidb_status st);
/* Parses the body as a JSON object into c->body; on failure replies 400 and
 * returns false. */
bool ak_need_body(ak_ctx *c);
/* Checks the role; replies 403 and returns false when it is too low. */
bool ak_need_role(ak_ctx *c, ak_role r);
/* Query argument by name, percent-decoded into buf; NULL if absent. */
const char *ak_query_arg(ak_ctx *c, const char *key, char *buf, size_t cap);

/* Route handlers are rows of the route table: see route.h. */

/* Store-wide gauges for /metrics (collections, points); no-ops without a
 * store. */
void ak_store_metrics(ak_server *s, ak_tbuf *out);

/* Embeds texts with em for a route, replying with the right error on
 * failure (returns false then).  out must hold n*dim floats. */
bool ak_embed_for_route(ak_ctx *c, ak_emodel *em, const char *const *texts,
                        const size_t *lens, size_t n, akidb_pooling pooling,
                        int normalize, int truncate, float *out,
                        size_t *total_tokens);

/* Reads an optional boolean field: absent -> def; wrong type -> 400. */
bool ak_json_bool(ak_ctx *c, json_t *obj, const char *key, int def, int *out);

#endif /* AKIDB_SERVER_INTERNAL_H */
