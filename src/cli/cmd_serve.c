/*
 * cmd_serve.c - `akidb serve`: reads flags and AKIDB_* environment variables
 * into an ak_server_config, starts the REST server, and waits for SIGTERM or
 * SIGINT, on which it drains in-flight requests and closes the store.
 * Flags win over environment variables, which win over defaults.  The
 * --s3-* flags configure the store's object-storage tier (akidb_backup_opts,
 * akidb_store.h; src/store/backup.c); --cluster and its companions the
 * cluster mode (docs/CLUSTER.md; src/server/dp_cluster.c).
 */
#include "cli/cli.h"
#include "server/server.h"
#include "common/common.h"
#include "akidb_store.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void serve_usage(FILE *f)
{
    fprintf(f,
        "usage: akidb serve [options]\n"
        "\n"
        "Runs the REST server (see docs/API.md).  Every option also reads an\n"
        "environment variable; a flag wins over the variable.\n"
        "\n"
        "  --data DIR              data folder: store/, auth.json, models/  [AKIDB_DATA, ./akidb-data]\n"
        "  --host ADDR             bind address                   [AKIDB_HOST, 127.0.0.1]\n"
        "  --port N                TCP port, 0 for any free one   [AKIDB_PORT, 8080]\n"
        "  --model NAME=DIR        load a model folder as NAME; repeatable, the first\n"
        "                          is the default model             [AKIDB_MODELS=a=DIR,b=DIR]\n"
        "                          (every DATA/models/NAME/ folder is loaded as well)\n"
        "  --no-model-scan         do not load the folders under DATA/models/\n"
        "  --auth on|off|auto      API keys; auto = on when AKIDB_ADMIN_KEY is set or\n"
        "                          the address is not loopback   [AKIDB_AUTH, auto]\n"
        "  --body-limit BYTES      largest request body (k/m/g suffix) [AKIDB_BODY_LIMIT, 16m]\n"
        "  --query-body-limit BYTES  the same for searches, filters and management\n"
        "                          (all but upserts, inserts, embeddings) [AKIDB_QUERY_BODY_LIMIT, 1m]\n"
        "  --max-batch-tokens N    token budget of one embedding batch [AKIDB_MAX_BATCH_TOKENS, 16384]\n"
        "  --max-batch-texts N     texts in one embedding batch   [AKIDB_MAX_BATCH_TEXTS, 256]\n"
        "  --max-request-texts N   texts in one request           [AKIDB_MAX_REQUEST_TEXTS, 2048]\n"
        "  --max-queue N           texts waiting per model before 503 [AKIDB_MAX_QUEUE, 100000]\n"
        "  --max-connections N     concurrent HTTP connections    [AKIDB_MAX_CONNECTIONS, 10000]\n"
        "  --max-connections-per-ip N  connections per client address, 0 = no cap\n"
        "                          [AKIDB_MAX_CONNECTIONS_PER_IP, 0]\n"
        "  --idle-timeout SEC      close a connection silent this long [AKIDB_IDLE_TIMEOUT, 30]\n"
        "  --header-timeout SEC    close a connection whose request headers are not all in\n"
        "                          this long after it opened (a keep-alive connection:\n"
        "                          after its last answer, at least the idle timeout),\n"
        "                          however slowly bytes trickle in; 0 = none\n"
        "                          [AKIDB_HEADER_TIMEOUT, 10]\n"
        "  --body-timeout SEC      ... whose request body is not all in this long after\n"
        "                          its headers; 0 = none        [AKIDB_BODY_TIMEOUT, 60]\n"
        "  --request-workers N     requests handled at once      [AKIDB_REQUEST_WORKERS, 64]\n"
        "  --max-pending N         requests waiting for a worker before 503 [AKIDB_MAX_PENDING, 1024]\n"
        "  --http-threads N        HTTP event threads, 0 = one per core up to 4 [AKIDB_HTTP_THREADS, 0]\n"
        "  --threads N             threads per embedding batch, 0 = all cores [AKIDB_THREADS, 0]\n"
        "  --workers N             embedding batch workers per model [AKIDB_WORKERS, 1]\n"
        "  --drain-timeout SEC     wait for in-flight requests on SIGTERM [AKIDB_DRAIN_TIMEOUT, 30]\n"
        "  --search-budget N       points one search may examine (vectors compared,\n"
        "                          payloads tested); past it a search finishes\n"
        "                          exactly or answers 400     [AKIDB_SEARCH_BUDGET, 1000000]\n"
        "  --seal-points N|off     seal a collection's mutable tail into an immutable\n"
        "                          segment at this many points; off = never\n"
        "                          [AKIDB_SEAL_POINTS, 262144]\n"
        "  --seal-bytes BYTES      ... or at this many ingested bytes (k/m/g suffix)\n"
        "                          [AKIDB_SEAL_BYTES, 256m]\n"
        "  --compact-max-segments N  merge the smallest segments of a collection while\n"
        "                          it has more than N          [AKIDB_COMPACT_MAX_SEGMENTS, 8]\n"
        "  --compact-tomb-share F  rewrite a segment once this share (0-1] of its points\n"
        "                          is replaced or deleted      [AKIDB_COMPACT_TOMB_SHARE, 0.3]\n"
        "  --s3-bucket NAME        copy the store's snapshots and WAL to this S3 bucket,\n"
        "                          and restore an empty store from it [AKIDB_S3_BUCKET]\n"
        "  --s3-prefix P           key prefix in the bucket, e.g. node1; in a cluster\n"
        "                          each node uses P/NODE_ID      [AKIDB_S3_PREFIX]\n"
        "  --s3-endpoint URL       S3-compatible endpoint (MinIO, ...) [AKIDB_S3_ENDPOINT,\n"
        "                          else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / profile]\n"
        "  --s3-region R           [AKIDB_S3_REGION, else AWS_REGION / profile, us-east-1]\n"
        "  --s3-tail-interval SEC  ship the open WAL segment this often; 0 = only at\n"
        "                          snapshots [AKIDB_S3_TAIL_INTERVAL, 5].  A restore lacks\n"
        "                          the writes acknowledged after the last shipped tail.\n"
        "                          Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n"
        "                          or the AWS_PROFILE of ~/.aws/credentials\n"
        "  --cluster NATS_URLS     cluster mode: writes go through the shards' write log\n"
        "                          on these nats-server -js URLs (nats://h1:4222,...);\n"
        "                          see docs/CLUSTER.md           [AKIDB_CLUSTER]\n"
        "  --cluster-name NAME     the cluster's streams and bucket [AKIDB_CLUSTER_NAME, akidb]\n"
        "  --shards N              shards, fixed when the cluster is created [AKIDB_SHARDS, 1]\n"
        "  --replicas R            copies of each shard's stream and of the membership\n"
        "                          bucket, 1..5                   [AKIDB_REPLICAS, 1]\n"
        "  --node-id ID            this node's id ([A-Za-z0-9_-]) [AKIDB_NODE_ID, host name]\n"
        "  --advertise URL         where other nodes reach this one [AKIDB_ADVERTISE,\n"
        "                          http://HOST:PORT of the listen address]\n"
        "  --hold-shards all|LIST  shards this node holds, e.g. 0,2 [AKIDB_HOLD_SHARDS, all]\n"
        "  --bootstrap-from ID     on an empty data folder, restore the store and the\n"
        "                          replicas' positions from node ID's copy in the\n"
        "                          bucket (needs --s3-bucket)    [AKIDB_BOOTSTRAP_FROM]\n"
        "  --log-max-age SEC       the shards' streams drop records older than this\n"
        "                          (a node behind them must be rebuilt) [AKIDB_LOG_MAX_AGE, kept]\n"
        "  --log-max-bytes BYTES   ... and their oldest records past this size per\n"
        "                          stream (k/m/g suffix)    [AKIDB_LOG_MAX_BYTES, kept]\n"
        "  -h, --help              this text\n"
        "\n"
        "AKIDB_ADMIN_KEY=ak_...    admin key of tenant 'default' (turns auth on).  With\n"
        "                          auth on and no admin key stored, one is generated\n"
        "                          and printed once on stderr.\n");
}

/* Parses a size with an optional k/m/g suffix (binary units). */
static bool parse_size(const char *s, size_t *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return false;
    unsigned shift = 0;
    if (*end == 'k' || *end == 'K') shift = 10, end++;
    else if (*end == 'm' || *end == 'M') shift = 20, end++;
    else if (*end == 'g' || *end == 'G') shift = 30, end++;
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end || v > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)(v << shift);
    return true;
}

static bool parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Parses a number in (lo, hi]. */
static bool parse_share(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v > lo && v <= hi))
        return false;
    *out = v;
    return true;
}

typedef struct specs {
    ak_model_spec *v;
    char **owned;
    size_t n, n_owned;
} specs;

/* Adds "NAME=DIR" to the list; false for a malformed spec. */
static bool add_spec(specs *sp, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return false;
    char *name = ak_strndup(arg, (size_t)(eq - arg));
    char *dir = ak_strdup(eq + 1);
    ak_model_spec *v = ak_realloc(sp->v, (sp->n + 1) * sizeof *v);
    char **o = ak_realloc(sp->owned, (sp->n_owned + 2) * sizeof *o);
    if (v)
        sp->v = v;
    if (o)
        sp->owned = o;
    if (!name || !dir || !v || !o) {
        ak_free(name);
        ak_free(dir);
        return false;
    }
    sp->owned[sp->n_owned++] = name;
    sp->owned[sp->n_owned++] = dir;
    sp->v[sp->n].name = name;
    sp->v[sp->n].dir = dir;
    sp->n++;
    return true;
}

static void free_specs(specs *sp)
{
    for (size_t i = 0; i < sp->n_owned; i++)
        ak_free(sp->owned[i]);
    ak_free(sp->owned);
    ak_free(sp->v);
}

/* The object-storage tier from the --s3-* options (bucket NULL: none). */
static akidb_backup_opts serve_backup = AKIDB_BACKUP_OPTS_INIT;

/* Applies one option (from a flag or the environment).  Returns false and
 * prints the problem for a bad value. */
static bool apply(ak_server_config *c, specs *sp, const char *opt, const char *val)
{
    long l;
    size_t z;
    if (strcmp(opt, "s3-bucket") == 0) {
        serve_backup.bucket = val;
    } else if (strcmp(opt, "s3-prefix") == 0) {
        serve_backup.prefix = val;
    } else if (strcmp(opt, "s3-endpoint") == 0) {
        if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0)
            goto bad;
        serve_backup.endpoint = val;
    } else if (strcmp(opt, "s3-region") == 0) {
        serve_backup.region = val;
    } else if (strcmp(opt, "s3-tail-interval") == 0) {
        if (!parse_int(val, 0, 86400, &l))
            goto bad;
        serve_backup.tail_interval_ms = (int)(l * 1000);
    } else if (strcmp(opt, "cluster") == 0) {
        if (strncmp(val, "nats://", 7) != 0 && strncmp(val, "tls://", 6) != 0)
            goto bad;
        c->cluster = val;
    } else if (strcmp(opt, "cluster-name") == 0) {
        c->cluster_name = val;
    } else if (strcmp(opt, "shards") == 0) {
        if (!parse_int(val, 1, 1024, &l))
            goto bad;
        c->cluster_shards = (unsigned)l;
    } else if (strcmp(opt, "replicas") == 0) {
        if (!parse_int(val, 1, 5, &l))
            goto bad;
        c->cluster_replicas = (unsigned)l;
    } else if (strcmp(opt, "node-id") == 0) {
        c->node_id = val;
    } else if (strcmp(opt, "advertise") == 0) {
        c->advertise = val;
    } else if (strcmp(opt, "hold-shards") == 0) {
        c->hold_shards = val;
    } else if (strcmp(opt, "bootstrap-from") == 0) {
        c->bootstrap_from = val;
    } else if (strcmp(opt, "log-max-age") == 0) {
        if (!parse_int(val, 1, 100L * 365 * 86400, &l))
            goto bad;
        c->cluster_log_max_age_s = (double)l;
    } else if (strcmp(opt, "log-max-bytes") == 0) {
        if (!parse_size(val, &z) || z < 1024)
            goto bad;
        c->cluster_log_max_bytes = (int64_t)z;
    } else if (strcmp(opt, "data") == 0) {
        c->data_dir = val;
    } else if (strcmp(opt, "host") == 0) {
        c->host = val;
    } else if (strcmp(opt, "port") == 0) {
        if (!parse_int(val, 0, 65535, &l))
            goto bad;
        c->port = (int)l;
    } else if (strcmp(opt, "model") == 0) {
        if (!add_spec(sp, val))
            goto bad;
    } else if (strcmp(opt, "models") == 0) {
        char *copy = ak_strdup(val), *save = NULL;
        bool ok = copy != NULL;
        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
            ok = ok && add_spec(sp, t);
        ak_free(copy);
        if (!ok)
            goto bad;
    } else if (strcmp(opt, "auth") == 0) {
        if (strcmp(val, "on") == 0) c->auth = 1;
        else if (strcmp(val, "off") == 0) c->auth = 0;
        else if (strcmp(val, "auto") == 0) c->auth = -1;
        else goto bad;
    } else if (strcmp(opt, "body-limit") == 0) {
        if (!parse_size(val, &z) || z < 1024)
            goto bad;
        c->body_limit = z;
    } else if (strcmp(opt, "query-body-limit") == 0) {
        if (!parse_size(val, &z) || z < 1024)
            goto bad;
        c->query_body_limit = z;
    } else if (strcmp(opt, "max-batch-tokens") == 0) {
        if (!parse_int(val, 1, 1L << 30, &l))
            goto bad;
        c->max_batch_tokens = (size_t)l;
    } else if (strcmp(opt, "max-batch-texts") == 0) {
        if (!parse_int(val, 1, 1L << 20, &l))
            goto bad;
        c->max_batch_texts = (size_t)l;
    } else if (strcmp(opt, "max-request-texts") == 0) {
        if (!parse_int(val, 1, 1L << 24, &l))
            goto bad;
        c->max_request_texts = (size_t)l;
    } else if (strcmp(opt, "max-queue") == 0) {
        if (!parse_int(val, 1, 1L << 30, &l))
            goto bad;
        c->max_queue_texts = (size_t)l;
    } else if (strcmp(opt, "max-connections") == 0) {
        if (!parse_int(val, 1, 1L << 20, &l))
            goto bad;
        c->max_connections = (size_t)l;
    } else if (strcmp(opt, "max-connections-per-ip") == 0) {
        if (!parse_int(val, 0, 1L << 20, &l))
            goto bad;
        c->max_connections_per_ip = (size_t)l;
    } else if (strcmp(opt, "idle-timeout") == 0) {
        if (!parse_int(val, 1, 86400, &l))
            goto bad;
        c->idle_timeout_s = (unsigned)l;
    } else if (strcmp(opt, "header-timeout") == 0) {
        if (!parse_int(val, 0, 86400, &l))
            goto bad;
        c->header_timeout_s = (unsigned)l;
    } else if (strcmp(opt, "body-timeout") == 0) {
        if (!parse_int(val, 0, 86400, &l))
            goto bad;
        c->body_timeout_s = (unsigned)l;
    } else if (strcmp(opt, "request-workers") == 0) {
        if (!parse_int(val, 1, 4096, &l))
            goto bad;
        c->handler_threads = (size_t)l;
    } else if (strcmp(opt, "max-pending") == 0) {
        if (!parse_int(val, 1, 1L << 20, &l))
            goto bad;
        c->max_pending = (size_t)l;
    } else if (strcmp(opt, "http-threads") == 0) {
        if (!parse_int(val, 0, 256, &l))
            goto bad;
        c->http_threads = (int)l;
    } else if (strcmp(opt, "threads") == 0) {
        if (!parse_int(val, 0, 1024, &l))
            goto bad;
        c->embed_threads = (int)l;
    } else if (strcmp(opt, "workers") == 0) {
        if (!parse_int(val, 1, 256, &l))
            goto bad;
        c->embed_workers = (int)l;
    } else if (strcmp(opt, "drain-timeout") == 0) {
        if (!parse_int(val, 0, 86400, &l))
            goto bad;
        c->drain_timeout_s = (double)l;
    } else if (strcmp(opt, "search-budget") == 0) {
        if (!parse_int(val, 1000, 1L << 40, &l))
            goto bad;
        c->search_budget = (size_t)l;
    } else if (strcmp(opt, "seal-points") == 0) {
        if (strcmp(val, "off") == 0)
            c->seal_points = UINT64_MAX;
        else if (parse_int(val, 1, 1L << 40, &l))
            c->seal_points = (uint64_t)l;
        else
            goto bad;
    } else if (strcmp(opt, "seal-bytes") == 0) {
        if (!parse_size(val, &z) || z < 1024)
            goto bad;
        c->seal_bytes = z;
    } else if (strcmp(opt, "compact-max-segments") == 0) {
        if (!parse_int(val, 1, 1L << 20, &l))
            goto bad;
        c->compact_max_segments = (size_t)l;
    } else if (strcmp(opt, "compact-tomb-share") == 0) {
        if (!parse_share(val, 0, 1, &c->compact_tomb_share))
            goto bad;
    } else {
        fprintf(stderr, "akidb serve: unknown option --%s (see --help)\n", opt);
        return false;
    }
    return true;
bad:
    fprintf(stderr, "akidb serve: bad value for --%s: '%s'\n", opt, val);
    return false;
}

int akidb_cmd_serve(int argc, char **argv)
{
    ak_server_config cfg;
    ak_server_config_defaults(&cfg);
    cfg.data_dir = "./akidb-data";
    specs env_sp = {0}, flag_sp = {0};
    int rc = 2;

    static const struct { const char *env, *opt; } envs[] = {
        {"AKIDB_DATA", "data"}, {"AKIDB_HOST", "host"}, {"AKIDB_PORT", "port"},
        {"AKIDB_MODELS", "models"}, {"AKIDB_AUTH", "auth"},
        {"AKIDB_BODY_LIMIT", "body-limit"}, {"AKIDB_QUERY_BODY_LIMIT", "query-body-limit"},
        {"AKIDB_MAX_BATCH_TOKENS", "max-batch-tokens"},
        {"AKIDB_MAX_BATCH_TEXTS", "max-batch-texts"},
        {"AKIDB_MAX_REQUEST_TEXTS", "max-request-texts"}, {"AKIDB_MAX_QUEUE", "max-queue"},
        {"AKIDB_MAX_CONNECTIONS", "max-connections"},
        {"AKIDB_MAX_CONNECTIONS_PER_IP", "max-connections-per-ip"},
        {"AKIDB_IDLE_TIMEOUT", "idle-timeout"}, {"AKIDB_HEADER_TIMEOUT", "header-timeout"},
        {"AKIDB_BODY_TIMEOUT", "body-timeout"}, {"AKIDB_REQUEST_WORKERS", "request-workers"},
        {"AKIDB_MAX_PENDING", "max-pending"}, {"AKIDB_HTTP_THREADS", "http-threads"},
        {"AKIDB_THREADS", "threads"},
        {"AKIDB_WORKERS", "workers"}, {"AKIDB_DRAIN_TIMEOUT", "drain-timeout"},
        {"AKIDB_SEARCH_BUDGET", "search-budget"}, {"AKIDB_SEAL_POINTS", "seal-points"},
        {"AKIDB_SEAL_BYTES", "seal-bytes"}, {"AKIDB_COMPACT_MAX_SEGMENTS", "compact-max-segments"},
        {"AKIDB_COMPACT_TOMB_SHARE", "compact-tomb-share"},
        {"AKIDB_S3_BUCKET", "s3-bucket"}, {"AKIDB_S3_PREFIX", "s3-prefix"},
        {"AKIDB_S3_ENDPOINT", "s3-endpoint"}, {"AKIDB_S3_REGION", "s3-region"},
        {"AKIDB_S3_TAIL_INTERVAL", "s3-tail-interval"},
        {"AKIDB_CLUSTER", "cluster"}, {"AKIDB_CLUSTER_NAME", "cluster-name"},
        {"AKIDB_SHARDS", "shards"}, {"AKIDB_REPLICAS", "replicas"},
        {"AKIDB_NODE_ID", "node-id"}, {"AKIDB_ADVERTISE", "advertise"},
        {"AKIDB_HOLD_SHARDS", "hold-shards"}, {"AKIDB_LOG_MAX_AGE", "log-max-age"},
        {"AKIDB_LOG_MAX_BYTES", "log-max-bytes"}, {"AKIDB_BOOTSTRAP_FROM", "bootstrap-from"},
    };
    for (size_t i = 0; i < sizeof envs / sizeof *envs; i++) {
        const char *v = getenv(envs[i].env);
        if (v && *v && !apply(&cfg, &env_sp, envs[i].opt, v)) {
            fprintf(stderr, "akidb serve: (from %s)\n", envs[i].env);
            goto out;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            serve_usage(stdout);
            rc = 0;
            goto out;
        }
        if (strcmp(a, "--no-model-scan") == 0) {
            cfg.scan_models_dir = 0;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "akidb serve: unexpected argument '%s' (see --help)\n", a);
            goto out;
        }
        char opt[64];
        const char *val;
        const char *eq = strchr(a + 2, '=');
        if (eq && strncmp(a + 2, "model=", 6) != 0) {
            snprintf(opt, sizeof opt, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else if (eq && strncmp(a + 2, "model=", 6) == 0) {
            snprintf(opt, sizeof opt, "model");
            val = a + 8;
        } else {
            snprintf(opt, sizeof opt, "%s", a + 2);
            if (i + 1 >= argc) {
                fprintf(stderr, "akidb serve: --%s needs a value\n", opt);
                goto out;
            }
            val = argv[++i];
        }
        if (!apply(&cfg, &flag_sp, opt, val))
            goto out;
    }
    /* --model flags replace AKIDB_MODELS. */
    specs *sp = flag_sp.n ? &flag_sp : &env_sp;
    cfg.models = sp->v;
    cfg.n_models = sp->n;
    const char *ak = getenv("AKIDB_ADMIN_KEY");
    cfg.admin_key = ak && *ak ? ak : NULL;
    if (!serve_backup.bucket && (serve_backup.prefix || serve_backup.endpoint ||
                                 serve_backup.region)) {
        fprintf(stderr, "akidb serve: --s3-prefix, --s3-endpoint and --s3-region need "
                "--s3-bucket\n");
        goto out;
    }
    cfg.store_backup = serve_backup.bucket ? &serve_backup : NULL;
    if (cfg.bootstrap_from && (!cfg.cluster || !cfg.store_backup)) {
        fprintf(stderr, "akidb serve: --bootstrap-from needs --cluster and --s3-bucket\n");
        goto out;
    }
    if (!cfg.cluster && (cfg.cluster_name || cfg.cluster_shards || cfg.cluster_replicas ||
                         cfg.node_id || cfg.advertise || cfg.hold_shards ||
                         cfg.cluster_log_max_age_s > 0 || cfg.cluster_log_max_bytes > 0)) {
        fprintf(stderr, "akidb serve: --cluster-name, --shards, --replicas, --node-id, "
                        "--advertise, --hold-shards, --log-max-age and --log-max-bytes need "
                        "--cluster\n");
        goto out;
    }

    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    ak_server *s = NULL;
    akidb_status st = ak_server_start(&cfg, &s);
    if (st != AKIDB_OK) {
        fprintf(stderr, "akidb serve: %s\n", akidb_last_error());
        rc = st == AKIDB_EINVAL ? 2 : 1;
        goto out;
    }
    if (ak_server_generated_key(s))
        fprintf(stderr,
                "akidb serve: generated the admin key of tenant 'default'; it is shown only "
                "this once, store it now:\n\n    %s\n\n",
                ak_server_generated_key(s));
    fprintf(stderr, "akidb serve: listening on http://%s:%d (auth %s, data %s)\n",
            strchr(cfg.host, ':') ? "[ipv6]" : cfg.host, ak_server_port(s),
            ak_server_auth_on(s) ? "on" : "off", cfg.data_dir);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "akidb serve: %s received, draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    st = ak_server_stop(s);
    if (st == AKIDB_ENOSPC) {
        /* Every acknowledged write is in the fsynced write-ahead log; only
         * the snapshot that would have shortened the next start is missing. */
        fprintf(stderr,
                "akidb serve: the closing snapshot could not be written (%s); every "
                "acknowledged write is in the write-ahead log and is replayed at the next "
                "start\nakidb serve: stopped\n",
                akidb_last_error());
        rc = 0;
    } else if (st != AKIDB_OK) {
        fprintf(stderr, "akidb serve: closing the store: %s\n", akidb_last_error());
        rc = 1;
    } else {
        fprintf(stderr, "akidb serve: stopped\n");
        rc = 0;
    }
out:
    free_specs(&env_sp);
    free_specs(&flag_sp);
    return rc;
}
