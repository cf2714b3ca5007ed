/*
 * server.c - life cycle of the REST server and its HTTP layer on
 * configuration checks, opening the store, the key registry and the
 * models, the listener (http.c), and the drain on stop.
 */
#include "server/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef AK_HAVE_STORE
#include "server/dataplane.h"
#include "store/filter.h"
#endif
#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)
#include "server/dp_cluster_bk.h"
#endif

void ak_server_config_defaults(ak_server_config *c)
{
    memset(c, 0, sizeof *c);
    c->host = "127.0.0.1";
    c->port = 8080;
    c->scan_models_dir = 1;
    c->auth = -1;
    c->body_limit = 16u << 20;
    c->query_body_limit = 1u << 20;
    c->max_batch_tokens = 16384;
    c->max_batch_texts = 256;
    c->max_request_texts = 2048;
    c->max_queue_texts = 100000;
    c->max_connections = 10000;
    c->max_connections_per_ip = 0;
    c->idle_timeout_s = 30;
    c->header_timeout_s = 10;
    c->body_timeout_s = 60;
    c->handler_threads = 64;
    c->max_pending = 1024;
    c->http_threads = 0;
    c->embed_workers = 1;
    c->embed_threads = 0;
    c->drain_timeout_s = 30;
    c->listen = 1;
}

int ak_server_port(const ak_server *s) { return s->port; }
int ak_server_auth_on(const ak_server *s) { return s->auth_on; }
const char *ak_server_generated_key(const ak_server *s) { return s->generated_key; }

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
    return false;
}

static akidb_status resolve(const char *host, int port, struct sockaddr_storage *ss,
                            socklen_t *len)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res)
        return ak_fail(AKIDB_EINVAL, "cannot resolve host '%s': %s", host, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return AKIDB_OK;
}

static akidb_status mkdir_p(const char *dir)
{
    char *p = ak_strdup(dir);
    if (!p)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    for (char *q = p + 1; ; q++) {
        if (*q == '/' || *q == '\0') {
            char save = *q;
            *q = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST) {
                akidb_status st = ak_fail(AKIDB_EIO, "cannot create %s: %s", p, strerror(errno));
                ak_free(p);
                return st;
            }
            *q = save;
            if (!save)
                break;
        }
    }
    ak_free(p);
    return AKIDB_OK;
}

/* ---- start / stop ----------------------------------------------------------- */

#ifdef AK_HAVE_STORE
static void store_log(void *ctx, akidb_log_level level, const char *msg)
{
    ak_server *s = ctx;
    fprintf(s->log, "akidb serve: store%s: %s\n",
            level == AKIDB_LOG_ERROR ? " error" : level == AKIDB_LOG_WARN ? " warning" : "",
            msg);
}
#endif

#ifdef AK_HAVE_STORE
/* Recovery progress into the server's counters (read by /ready). */
static void store_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    ak_server *s = ctx;
    atomic_store(&s->rec_wal, phase[0] == 'w');
    atomic_store(&s->rec_total, total);
    atomic_store(&s->rec_done, done);
}
#endif

/* Opens (and recovers) <data>/store and makes sure tenant "default" exists. */
static akidb_status open_store(ak_server *s, const ak_server_config *cfg)
{
    akidb_status st = AKIDB_OK;
    (void)cfg;
#ifdef AK_HAVE_STORE
    ak_json_init();
    {
        char *sdir = ak_path_join(s->data_dir, "store");
        if (!sdir) {
            st = ak_fail(AKIDB_ENOMEM, "out of memory");
            return st;
        }
        akidb_store_opts so = AKIDB_STORE_OPTS_INIT;
        so.sync = cfg->sync_none ? AKIDB_SYNC_NONE : AKIDB_SYNC_FULL;
        so.log = store_log;
        so.log_ctx = s;
        so.progress = store_progress;
        so.progress_ctx = s;
        so.search_budget = cfg->search_budget;
        so.seal_points = cfg->seal_points;
        so.seal_bytes = cfg->seal_bytes;
        so.compact_max_segments = cfg->compact_max_segments;
        so.compact_tomb_share = cfg->compact_tomb_share;
        so.backup = cfg->store_backup;
#ifdef AKIDB_HAVE_CLUSTER
        /* a cluster node's copy lives under <prefix>/<node id>/ */
        ak_cluster_bk_opts cbk = {0};
        if (cfg->cluster && cfg->cluster[0] && cfg->store_backup) {
            st = ak_cluster_bk_prepare(s, &cbk);
            if (st != AKIDB_OK) {
                ak_free(sdir);
                ak_cluster_bk_opts_free(&cbk);
                return st;
            }
            so.backup = &cbk.o;
        }
#endif
        st = akidb_store_open(sdir, &so, &s->store);
#ifdef AKIDB_HAVE_CLUSTER
        ak_cluster_bk_opts_free(&cbk);
#endif
        ak_free(sdir);
        if (st != AKIDB_OK)
            return ak_fail_prefix(st, "store");
        /* Straight to the store, also in a cluster: every node has the
         * default tenant without a record in the write log. */
        st = akidb_tenant_create(s->store, AK_DEFAULT_TENANT);
        if (st == AKIDB_EEXIST)
            st = AKIDB_OK;
        s->dp = &ak_dp_local;
        s->dp_ctx = s->store;
    }
#endif
    return st;
}

/* Cluster mode (--cluster): the write log, membership and the replicas of
 * the held shards (dp_cluster.c), after the store they apply to. */
static akidb_status open_cluster(ak_server *s, const ak_server_config *cfg)
{
    if (!cfg->cluster || !cfg->cluster[0])
        return AKIDB_OK;
#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)
    return ak_dp_cluster_open(s);
#else
    (void)s;
    return ak_fail(AKIDB_EUNSUPPORTED, "--cluster: this build has no cluster support "
                                       "(build with libnats-dev installed)");
#endif
}

akidb_status ak_server_start(const ak_server_config *cfg, ak_server **out)
{
    *out = NULL;
    if (!cfg->data_dir || !cfg->data_dir[0])
        return ak_fail(AKIDB_EINVAL, "a data directory is required (--data DIR)");
    if (cfg->port < 0 || cfg->port > 65535)
        return ak_fail(AKIDB_EINVAL, "port %d is out of range", cfg->port);
    if (cfg->body_limit < 1024)
        return ak_fail(AKIDB_EINVAL, "the body limit must be at least 1024 bytes");
    if (cfg->max_connections < 1 || cfg->handler_threads < 1 || cfg->max_pending < 1 ||
        cfg->idle_timeout_s < 1)
        return ak_fail(AKIDB_EINVAL, "max_connections, handler_threads, max_pending and "
                                     "idle_timeout_s must be at least 1");
    ak_server *s = ak_calloc(1, sizeof *s);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->log = cfg->log ? cfg->log : stderr;
    s->started = ak_now();
    s->data_dir = ak_strdup(cfg->data_dir);
    s->host = ak_strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->cfg.data_dir = s->data_dir;
    s->cfg.host = s->host;
    s->cfg.models = NULL;   /* only valid during start */
    s->cfg.n_models = 0;
    s->cfg.admin_key = NULL;
    akidb_status st = AKIDB_OK;
    if (!s->data_dir || !s->host) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    st = resolve(s->host, cfg->port, &ss, &sslen);
    if (st != AKIDB_OK)
        goto fail;
    bool loop = is_loopback((struct sockaddr *)&ss);
    if (cfg->auth == 0 && cfg->admin_key) {
        st = ak_fail(AKIDB_EINVAL, "AKIDB_ADMIN_KEY is set but auth is off; "
                                   "unset it or use --auth on");
        goto fail;
    }
    if (cfg->auth == 0 && !loop) {
        st = ak_fail(AKIDB_EINVAL, "binding %s (not loopback) requires auth on", s->host);
        goto fail;
    }
    s->auth_on = cfg->auth == 1 || (cfg->auth < 0 && (cfg->admin_key || !loop));

    st = mkdir_p(s->data_dir);
    if (st != AKIDB_OK)
        goto fail;
    s->metrics = ak_metrics_new();
    if (!s->metrics) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto fail;
    }
    st = ak_auth_open(s->data_dir, &s->auth);
    if (st != AKIDB_OK)
        goto fail;
    if (s->auth_on) {
        st = ak_auth_bootstrap(s->auth, cfg->admin_key, &s->generated_key);
        if (st != AKIDB_OK)
            goto fail;
    }
    /* Listen first: while the store recovers and the models load, /health
     * answers and /ready says how far recovery is (503); every other route
     * answers 503 with Retry-After until the server is ready. */
    if (cfg->listen) {
        st = ak_http_listen(s, (struct sockaddr *)&ss);
        if (st != AKIDB_OK)
            goto fail;
    }
    st = open_store(s, cfg);
    if (st != AKIDB_OK)
        goto fail;
    st = open_cluster(s, cfg);
    if (st != AKIDB_OK)
        goto fail;
    atomic_store(&s->phase, AK_PHASE_MODELS);
    st = ak_models_open(cfg, s->metrics, &s->models);
    if (st != AKIDB_OK)
        goto fail;
    atomic_store(&s->phase, AK_PHASE_READY);
    *out = s;
    return AKIDB_OK;

fail:
    {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", akidb_last_error());
        ak_server_stop(s);
        ak_fail(st, "%s", msg);
    }
    return st;
}

akidb_status ak_server_stop(ak_server *s)
{
    if (!s)
        return AKIDB_OK;
    atomic_store(&s->draining, 1);
    ak_http_close(s);
    ak_models_close(s->models);
    akidb_status st = AKIDB_OK;
#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)
    if (s->dp && s->dp != &ak_dp_local)
        ak_dp_cluster_close(s->dp_ctx);   /* replicas, membership, log */
#endif
#ifdef AK_HAVE_STORE
    if (s->store)
        st = akidb_store_close(s->store);
#endif
    ak_auth_close(s->auth);
    ak_metrics_free(s->metrics);
    if (s->generated_key) {
        memset(s->generated_key, 0, strlen(s->generated_key));
        ak_free(s->generated_key);
    }
    ak_free(s->data_dir);
    ak_free(s->host);
    ak_free(s);
    return st;
}
