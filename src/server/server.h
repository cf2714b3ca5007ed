/*
 * server.h - the AkiDB REST server as a library: configure, start on a host
 * and port, stop with a drain.  `akidb serve` (src/cli/cmd_serve.c) is a thin
 * wrapper that fills the configuration from flags and AKIDB_* variables; the
 * end-to-end tests start servers in-process through the same calls, and the
 * fuzz target drives ak_server_dispatch() without a socket.
 */
#ifndef AKIDB_SERVER_H
#define AKIDB_SERVER_H

#include "akidb.h"

#include <stddef.h>
#include <stdio.h>

typedef struct ak_server ak_server;

/* One --model NAME=DIR. */
typedef struct ak_model_spec {
    const char *name;
    const char *dir;
} ak_model_spec;

typedef struct ak_server_config {
    const char *data_dir;        /* required: store/, auth.json, models/        */
    const char *host;            /* bind address; default "127.0.0.1"          */
    int port;                    /* 0: an ephemeral port (see ak_server_port)  */
    const ak_model_spec *models; /* --model specs; the first is the default    */
    size_t n_models;
    int scan_models_dir;         /* 1: also load every <data>/models/<NAME>/   */
    int auth;                    /* -1 auto, 0 off, 1 on                       */
    const char *admin_key;       /* AKIDB_ADMIN_KEY or NULL                    */
    size_t body_limit;           /* request body bytes; larger gives 413      */
    size_t query_body_limit;     /* the same for routes other than upserts,
                                    inserts and embeddings (searches, filters,
                                    management); 0: body_limit                */
    size_t max_batch_tokens;     /* token budget of one embedding batch        */
    size_t max_batch_texts;      /* texts in one embedding batch               */
    size_t max_request_texts;    /* texts in one request (more: 413)           */
    size_t max_queue_texts;      /* texts waiting per model (more: 503)        */
    size_t max_connections;      /* concurrent HTTP connections                */
    size_t max_connections_per_ip; /* per client address; 0: no cap          */
    unsigned idle_timeout_s;     /* a connection silent this long is closed   */
    unsigned header_timeout_s;   /* a request's headers must be complete this
                                    long after the connection opened (on a
                                    keep-alive connection: after the previous
                                    request, at least idle_timeout_s); bytes
                                    trickling in do not extend it; 0: none    */
    unsigned body_timeout_s;     /* its body must be complete this long after
                                    its headers; 0: none (http.c, deadline.c) */
    size_t handler_threads;      /* request workers (a blocked request holds
                                    one; connections hold none)               */
    size_t max_pending;          /* requests waiting for a worker (more: 503) */
    size_t search_budget;        /* points one search may examine (the
                                    store's opts.search_budget); 0: its
                                    default                                  */
    /* Sealed segments, the store's options of the same names
     * (akidb_store.h); 0: the store's defaults (262144 points, 256 MiB, 8
     * segments, 0.3); seal_points UINT64_MAX: never seal. */
    uint64_t seal_points;
    uint64_t seal_bytes;
    size_t compact_max_segments;
    double compact_tomb_share;
    int http_threads;            /* event threads; 0: one per core, up to 4   */
    int embed_workers;           /* batch workers per model                    */
    const struct akidb_backup_opts *store_backup;   /* the store's copy in an
                                    S3 bucket (akidb_store.h); NULL: none     */
    int embed_threads;           /* threads of one akidb_embed call; 0: cores  */
    double drain_timeout_s;      /* how long stop waits for in-flight requests */
    int sync_none;               /* 1: store without fsync (tests only)        */
    /* Cluster mode (docs/CLUSTER.md; needs a build with libnats): */
    const char *cluster;         /* NATS URLs "nats://h1:4222,...": writes go
                                    through the cluster's write log; NULL: a
                                    single node                               */
    const char *cluster_name;    /* NULL: "akidb"                              */
    unsigned cluster_shards;     /* 0: 1; fixed when the cluster is created    */
    unsigned cluster_replicas;   /* copies of each shard's stream; 0: 1        */
    const char *node_id;         /* NULL: the host name                        */
    const char *advertise;       /* URL peers reach this node at; NULL:
                                    http://HOST:PORT of the listen address     */
    const char *hold_shards;     /* "all" (NULL) or a list "0,2,5"             */
    const char *bootstrap_from;  /* cluster + bucket: an empty data folder is
                                    restored from this node's copy          */
    double cluster_log_max_age_s;   /* streams drop records older than this; 0: kept */
    int64_t cluster_log_max_bytes;  /* ... and the oldest past this size; 0: kept   */
    int listen;                  /* 0: no socket (fuzzing); default 1          */
    FILE *log;                   /* NULL: stderr                               */
} ak_server_config;

/* Fills c with the defaults: host 127.0.0.1, port 8080, auth auto, body limit
 * 16 MiB, batch 16384 tokens / 256 texts, 2048 texts per request, 100000
 * queued texts, 10000 connections (no per-address cap), idle timeout 30 s,
 * header deadline 10 s, body deadline 60 s, 64 request workers with 1024
 * waiting requests, event threads 0, 1 embedding worker, threads 0, drain
 * 30 s, listen 1, scan_models_dir 1; the store's segment settings 0 (its
 * defaults). */
void ak_server_config_defaults(ak_server_config *c);

/* Opens the store and the key file under cfg->data_dir, loads the models,
 * starts the embedding workers and (cfg->listen) the HTTP listener.  Fails
 * with AKIDB_EINVAL for a bad configuration (e.g. auth off on a non-loopback
 * address), AKIDB_EIO when the port cannot be bound, or whatever loading a
 * model or the store returned; the message says which.  When auth ends up on
 * with no admin key anywhere, one is generated; ak_server_generated_key()
 * returns it (the caller prints it once). */
akidb_status ak_server_start(const ak_server_config *cfg, ak_server **out);

/* The bound TCP port (useful with port 0). */
int ak_server_port(const ak_server *s);

/* Whether authentication is on. */
int ak_server_auth_on(const ak_server *s);

/* The admin key generated by this start, or NULL. */
const char *ak_server_generated_key(const ak_server *s);

/* Stops accepting connections, waits up to drain_timeout_s for in-flight
 * requests, stops the workers, closes the store (writing its snapshot) and
 * frees s.  NULL is allowed.  Returns the store close status. */
akidb_status ak_server_stop(ak_server *s);

/* A request as the dispatcher sees it; the HTTP layer (or a fuzzer) builds
 * it.  path is the raw, still percent-encoded path without the query. */
typedef struct ak_http_req {
    const char *method;
    const char *path;
    const char *query;           /* raw query string without '?', or NULL     */
    const char *authorization;   /* Authorization header or NULL             */
    const char *api_key;         /* X-API-Key (or api-key) header or NULL    */
    const char *body;
    size_t body_len;
    const char *accept;          /* Accept header or NULL                    */
} ak_http_req;

typedef struct ak_http_resp {
    int status;
    char *body;                  /* ak_malloc'ed; free with ak_http_resp_clear */
    size_t len;
    const char *content_type;    /* static string                             */
    int retry_after;             /* >0: add Retry-After                       */
    int www_authenticate;        /* 1: add WWW-Authenticate: Bearer           */
    const char *cache_control;   /* static string: Cache-Control, or NULL     */
    const char *csp;             /* static string: Content-Security-Policy
                                    (with nosniff, no referrer, no framing)   */
    int vary_accept;             /* 1: add Vary: Accept                       */
} ak_http_resp;

/* Handles one request: routing, authentication, the route itself, metrics.
 * Always fills resp (status, JSON body); never fails. */
void ak_server_dispatch(ak_server *s, const ak_http_req *req, ak_http_resp *resp);

/* Releases resp->body. */
void ak_http_resp_clear(ak_http_resp *resp);

#endif /* AKIDB_SERVER_H */
