/*
 * dp_cluster.c - the cluster's data plane (dataplane.h), `akidb serve
 * --cluster`: writes become records of the shards' write log, searches
 * cover every shard through the nodes that hold them.  docs/CLUSTER.md
 * "The server in cluster mode" describes what a client sees.
 *
 * Writes.  What the local store can check is checked first (tenant and
 * collection exist, names, dimension, finite vectors, non-zero under
 * cosine, ids, text, payload JSON), so bad input is a 400 as on one node
 * and nothing is appended.  An upsert or delete batch is split by
 * ak_crec_shard_of into one record per shard (a record over the log's
 * 1 MiB limit is halved until it fits); tenant and collection creates and
 * deletes go to every shard.  Each record carries a message id of the node
 * id, this start's time and a counter, and a failed append is retried once
 * with the same id, so a retry the log already stored lands once.  The
 * write is acknowledged once JetStream stored every part; then, for the
 * shards this node holds, it waits (up to READ_YOUR_WRITES_S) until the
 * local replica applied them, so the writer reads its own writes on this
 * node.  A batch that spans shards is not atomic across them: a failure
 * after some parts were stored leaves those parts applied.
 *
 * Searches.  A node holding every shard searches its store.  Otherwise it
 * searches its store (its shards) and sends the search (fanout.h) to live
 * members covering the missing shards (greedy: the member holding the most
 * of them first), merging the top-k lists; a member that fails is replaced
 * by another holder of its shards where there is one; a shard no live
 * member holds fails the search with AKIDB_EBUSY (503) naming it.
 *
 * Other reads (get, scroll, count) are answered only by a node holding
 * every shard; elsewhere `reads` fails with a message naming the shards
 * this node holds and the nodes that hold them all.
 */
#include "server/dataplane.h"

#if defined(AK_HAVE_STORE) && defined(AKIDB_HAVE_CLUSTER)

#include "cluster/crec.h"
#include "cluster/fanout.h"
#include "cluster/jlog.h"
#include "cluster/members.h"
#include "cluster/replica.h"
#include "server/dp_cluster_bk.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_YOUR_WRITES_S 5.0   /* wait of a write for the local replica  */
#define FANOUT_TIMEOUT_S 10.0    /* one round of searches sent on          */
#define RECORD_MAX (1u << 20)    /* the log's record limit (jlog.h)        */

typedef struct dpc {
    ak_server *srv;
    akidb_store *store;
    ak_jlog *log;
    ak_members *mem;
    ak_replica *rep;
    ak_cluster_bk *bk;       /* the applied numbers' uploads (--s3-bucket)    */
    pthread_mutex_t rep_mu;  /* d->rep as the heartbeat thread reads it      */
    unsigned shards, replicas;
    unsigned *held;        /* n_held shards, increasing */
    size_t n_held;
    bool *holds;           /* [shards] */
    char name[40];
    char id[AK_MEMBERS_ID_MAX + 1];
    char url[AK_MEMBERS_URL_MAX + 1];
    uint64_t boot;         /* this start, in the message ids */
    _Atomic uint64_t counter;
} dpc;

/* ---- configuration ------------------------------------------------------- */

/* "all" / NULL: every shard; else "0,2,5" (each < shards, no repeats). */
static akidb_status parse_held(dpc *d, const char *spec)
{
    d->holds = ak_calloc(d->shards, sizeof *d->holds);
    d->held = ak_calloc(d->shards, sizeof *d->held);
    if (!d->holds || !d->held)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (!spec || !spec[0] || strcmp(spec, "all") == 0) {
        for (unsigned k = 0; k < d->shards; k++)
            d->holds[k] = true;
    } else {
        const char *p = spec;
        while (*p) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(p, &end, 10);
            if (end == p || errno || !isdigit((unsigned char)*p))
                return ak_fail(AKIDB_EINVAL, "--hold-shards '%s': expected 'all' or shard numbers "
                                             "separated by commas",
                               spec);
            if (v >= d->shards)
                return ak_fail(AKIDB_EINVAL, "--hold-shards: shard %lu is out of range (the "
                                             "cluster has %u shards: 0..%u)",
                               v, d->shards, d->shards - 1);
            if (d->holds[v])
                return ak_fail(AKIDB_EINVAL, "--hold-shards: shard %lu is listed twice", v);
            d->holds[v] = true;
            p = end;
            if (*p == ',')
                p++;
            else if (*p)
                return ak_fail(AKIDB_EINVAL, "--hold-shards '%s': unexpected '%c'", spec, *p);
        }
    }
    for (unsigned k = 0; k < d->shards; k++)
        if (d->holds[k])
            d->held[d->n_held++] = k;
    if (d->n_held == 0)
        return ak_fail(AKIDB_EINVAL, "--hold-shards: a node holds at least one shard");
    return AKIDB_OK;
}

/* --node-id, or the host name with other characters than [A-Za-z0-9_-]
 * turned into '-'. */
static akidb_status node_id(dpc *d, const char *cfg)
{
    if (cfg && cfg[0]) {
        size_t n = strlen(cfg);
        if (n > AK_MEMBERS_ID_MAX)
            return ak_fail(AKIDB_EINVAL, "--node-id '%.20s...': at most %d bytes", cfg,
                           AK_MEMBERS_ID_MAX);
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)cfg[i]) && cfg[i] != '_' && cfg[i] != '-')
                return ak_fail(AKIDB_EINVAL, "--node-id '%s': only letters, digits, '_' and '-'",
                               cfg);
        snprintf(d->id, sizeof d->id, "%s", cfg);
        return AKIDB_OK;
    }
    char h[256] = "";
    if (gethostname(h, sizeof h - 1) != 0 || !h[0])
        return ak_fail(AKIDB_EINVAL, "--node-id: the host name is unknown; pass an id");
    if (strlen(h) > AK_MEMBERS_ID_MAX)
        return ak_fail(AKIDB_EINVAL, "--node-id: the host name '%.20s...' is over %d bytes; "
                                     "pass an id",
                       h, AK_MEMBERS_ID_MAX);
    memcpy(d->id, h, strlen(h) + 1);
    for (char *p = d->id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            *p = '-';
    return AKIDB_OK;
}

akidb_status ak_dp_cluster_node_id(const char *cfg, char *id, size_t cap)
{
    dpc tmp;
    memset(&tmp, 0, sizeof tmp);
    akidb_status st = node_id(&tmp, cfg);
    if (st == AKIDB_OK)
        snprintf(id, cap, "%s", tmp.id);
    return st;
}

/* --advertise, or http://HOST:PORT of the listen address (the host name
 * when it listens on every address). */
static akidb_status advertise(dpc *d, const char *cfg)
{
    const ak_server *s = d->srv;
    if (cfg && cfg[0]) {
        if (strncmp(cfg, "http://", 7) != 0 && strncmp(cfg, "https://", 8) != 0)
            return ak_fail(AKIDB_EINVAL, "--advertise '%s': expected http://HOST:PORT", cfg);
        if (strlen(cfg) > AK_MEMBERS_URL_MAX)
            return ak_fail(AKIDB_EINVAL, "--advertise: at most %d bytes", AK_MEMBERS_URL_MAX);
        snprintf(d->url, sizeof d->url, "%s", cfg);
        size_t n = strlen(d->url);
        while (n > 0 && d->url[n - 1] == '/')
            d->url[--n] = '\0';
        return AKIDB_OK;
    }
    const char *host = s->host;
    char h[256] = "";
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || !host[0]) {
        if (gethostname(h, sizeof h - 1) != 0 || !h[0])
            return ak_fail(AKIDB_EINVAL, "--advertise: listening on %s and the host name is "
                                         "unknown; pass the URL peers reach this node at",
                           host);
        host = h;
    }
    bool v6 = strchr(host, ':') != NULL;
    char url[512];
    int n = snprintf(url, sizeof url, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
                     s->port);
    if (n < 0 || (size_t)n >= sizeof d->url)
        return ak_fail(AKIDB_EINVAL, "--advertise: the URL of host '%.40s' is over %d bytes; "
                                     "pass one",
                       host, AK_MEMBERS_URL_MAX);
    memcpy(d->url, url, (size_t)n + 1);
    return AKIDB_OK;
}

static void replica_log(void *ctx, akidb_log_level level, const char *msg)
{
    dpc *d = ctx;
    fprintf(d->srv->log, "akidb serve: cluster%s: %s\n",
            level == AKIDB_LOG_ERROR ? " error" : level == AKIDB_LOG_WARN ? " warning" : "", msg);
}

/* ---- life cycle ---------------------------------------------------------- */

void ak_dp_cluster_close(void *dp_ctx)
{
    dpc *d = dp_ctx;
    if (!d)
        return;
    ak_cluster_bk_stop(d->bk);
    pthread_mutex_lock(&d->rep_mu);   /* no heartbeat reads it from here on */
    ak_replica *rep = d->rep;
    d->rep = NULL;
    pthread_mutex_unlock(&d->rep_mu);
    ak_replica_stop(rep);
    if (d->mem)
        ak_members_leave(d->mem);
    ak_jlog_close(d->log);
    pthread_mutex_destroy(&d->rep_mu);
    ak_free(d->held);
    ak_free(d->holds);
    ak_free(d);
}

static akidb_status cluster_config(dpc *d, const ak_server_config *cfg)
{
    d->shards = cfg->cluster_shards ? cfg->cluster_shards : 1;
    d->replicas = cfg->cluster_replicas ? cfg->cluster_replicas : 1;
    if (d->shards > 1024)
        return ak_fail(AKIDB_EINVAL, "--shards %u: 1 to 1024", d->shards);
    if (d->replicas > 5)
        return ak_fail(AKIDB_EINVAL, "--replicas %u: 1 to 5", d->replicas);
    const char *name = cfg->cluster_name && cfg->cluster_name[0] ? cfg->cluster_name : "akidb";
    size_t nl = strlen(name);
    if (nl > 32)
        return ak_fail(AKIDB_EINVAL, "--cluster-name '%.32s...': at most 32 bytes", name);
    for (size_t i = 0; i < nl; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return ak_fail(AKIDB_EINVAL,
                           "--cluster-name '%s': only letters, digits, '_' and '-'", name);
    snprintf(d->name, sizeof d->name, "%s", name);
    akidb_status st = parse_held(d, cfg->hold_shards);
    if (st == AKIDB_OK)
        st = node_id(d, cfg->node_id);
    if (st == AKIDB_OK)
        st = advertise(d, cfg->advertise);
    return st;
}

/* The heartbeat's progress callback (members.h): how far each held shard
 * is applied, published with every heartbeat. */
static void heartbeat_progress(void *ctx, uint64_t *applied, size_t n)
{
    dpc *d = ctx;
    ak_replica_shard_stats *ss = ak_malloc((n ? n : 1) * sizeof *ss);
    if (!ss)
        return;   /* the numbers published last stay */
    pthread_mutex_lock(&d->rep_mu);
    size_t got = d->rep ? ak_replica_stats(d->rep, ss, n) : 0;
    pthread_mutex_unlock(&d->rep_mu);
    for (size_t i = 0; i < got && i < n; i++)
        applied[i] = ss[i].applied;
    ak_free(ss);
}

static void step_log(dpc *d, const char *what, double t0)
{
    fprintf(d->srv->log, "akidb serve: cluster '%s': %s in %.2f s\n", d->name, what, ak_now() - t0);
}

/* Membership first: joining checks the cluster's config key (shards,
 * replicas), so a node started with other settings is refused before the
 * write log creates any stream.  Then the log, then the replicas. */
static akidb_status cluster_join(dpc *d, const ak_server_config *cfg)
{
    double t0 = ak_now();
    ak_members_opts mo = {cfg->cluster, d->name, d->shards, d->replicas, d->id,
                          d->url,       d->held, d->n_held, 0,           0,
                          heartbeat_progress, d};
    akidb_status st = ak_members_join(&mo, &d->mem);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "--cluster %s: joining as node '%s'", cfg->cluster, d->id);
    step_log(d, "joined the membership bucket", t0);
    t0 = ak_now();
    ak_jlog_opts lo = {cfg->cluster, d->name,   d->shards,
                       d->replicas,  0,         0,
                       1,            cfg->cluster_log_max_age_s, cfg->cluster_log_max_bytes};
    st = ak_jlog_open(&lo, &d->log);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "--cluster %s: the write log", cfg->cluster);
    step_log(d, "opened the write log", t0);
    t0 = ak_now();
    ak_replica_opts ro = {d->log, d->store, d->srv->data_dir, d->held, d->n_held, replica_log, d};
    ak_replica *rep = NULL;
    st = ak_replica_start(&ro, &rep);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "cluster replicas");
    pthread_mutex_lock(&d->rep_mu);
    d->rep = rep;
    pthread_mutex_unlock(&d->rep_mu);
    step_log(d, "started the replicas", t0);
    if (cfg->store_backup && (st = ak_cluster_bk_start(d->srv, rep, d->id, &d->bk)) != AKIDB_OK)
        return ak_fail_prefix(st, "cluster copy in the bucket");
    return AKIDB_OK;
}

static const ak_dataplane dp_cluster;

akidb_status ak_dp_cluster_open(ak_server *s)
{
    dpc *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    pthread_mutex_init(&d->rep_mu, NULL);
    d->srv = s;
    d->store = s->store;
    d->boot = (uint64_t)(ak_now() * 1e6) ^ ((uint64_t)getpid() << 40);
    akidb_status st = cluster_config(d, &s->cfg);
    if (st == AKIDB_OK)
        st = cluster_join(d, &s->cfg);
    if (st != AKIDB_OK) {
        ak_dp_cluster_close(d);
        return st;
    }
    fprintf(s->log, "akidb serve: cluster '%s': node %s at %s, %zu of %u shards held\n", d->name,
            d->id, d->url, d->n_held, d->shards);
    s->dp = &dp_cluster;
    s->dp_ctx = d;
    return AKIDB_OK;
}

/* ---- readiness and status ------------------------------------------------ */

/* Publishes how far each held shard is applied with the next heartbeat. */
static void publish_applied(dpc *d, ak_replica_shard_stats *ss, size_t n)
{
    uint64_t *ap = ak_malloc((n ? n : 1) * sizeof *ap);
    if (!ap)
        return;
    for (size_t i = 0; i < n; i++)
        ap[i] = ss[i].applied;
    ak_members_set_applied(d->mem, ap, n);
    ak_free(ap);
}

int ak_dp_cluster_ready(void *dp_ctx, char *why, size_t cap)
{
    dpc *d = dp_ctx;
    ak_replica_shard_stats ss[8];
    size_t n = ak_replica_stats(d->rep, ss, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        if (ss[i].status == AKIDB_ENOENT) {
            snprintf(why, cap, "shard %u: the write log no longer holds the records after %llu "
                     "(trimmed): this node cannot catch up from the log; start it on an empty "
                     "data folder with --bootstrap-from NODE_ID (a node whose copy in the "
                     "bucket holds the shard)",
                     ss[i].shard, (unsigned long long)ss[i].applied);
            return -1;
        }
    if (ak_replica_caught_up(d->rep))
        return 1;
    size_t len = (size_t)snprintf(why, cap, "the replicas are applying the write log's backlog:");
    for (size_t i = 0; i < n && i < 8 && len < cap; i++)
        len += (size_t)snprintf(why + len, cap - len, " shard %u at %llu of %llu%s%s", ss[i].shard,
                                (unsigned long long)ss[i].applied, (unsigned long long)ss[i].last,
                                ss[i].status != AKIDB_OK ? " (read failing: " : "",
                                ss[i].status != AKIDB_OK ? "see the log)" : "");
    return 0;
}

static json_t *uint_array(const unsigned *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

static json_t *u64_array(const uint64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer((json_int_t)v[i]));
    return a;
}

json_t *ak_dp_cluster_status(void *dp_ctx)
{
    dpc *d = dp_ctx;
    ak_replica_shard_stats *ss = ak_calloc(d->n_held, sizeof *ss);
    if (!ss)
        return NULL;
    size_t n = ak_replica_stats(d->rep, ss, d->n_held);
    if (n > d->n_held)
        n = d->n_held;
    publish_applied(d, ss, n);
    json_t *sh = json_array();
    for (size_t i = 0; sh && i < n; i++)
        json_array_append_new(
            sh, json_pack("{s:i,s:I,s:I,s:I,s:s}", "shard", (int)ss[i].shard, "applied",
                          (json_int_t)ss[i].applied, "last", (json_int_t)ss[i].last, "skipped",
                          (json_int_t)ss[i].skipped, "status", akidb_status_name(ss[i].status)));
    ak_free(ss);
    json_t *mem = json_array();
    ak_member_list ml = {0};
    if (ak_members_list(d->mem, &ml) == AKIDB_OK) {
        for (size_t i = 0; mem && i < ml.n; i++)
            json_array_append_new(mem, json_pack("{s:s,s:s,s:o,s:o,s:f,s:b}", "id", ml.items[i].id,
                                                 "url", ml.items[i].url, "shards",
                                                 uint_array(ml.items[i].shards,
                                                            ml.items[i].n_shards),
                                                 "applied",
                                                 u64_array(ml.items[i].applied,
                                                           ml.items[i].n_shards),
                                                 "age_s", ml.items[i].age_s, "self",
                                                 ml.items[i].self));
        ak_member_list_free(&ml);
    }
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:o,s:b,s:o,s:o}", "cluster", d->name, "node", d->id,
                     "url", d->url, "shards", (int)d->shards, "replicas", (int)d->replicas,
                     "held", uint_array(d->held, d->n_held), "caught_up",
                     ak_replica_caught_up(d->rep) != 0, "applied", sh ? sh : json_array(),
                     "members", mem ? mem : json_array());
}

/* ---- appending records --------------------------------------------------- */

/* Appends one encoded record to shard (retried once with the same message
 * id, so a record the first try stored lands once); *seq its number. */
static akidb_status append(dpc *d, unsigned shard, const void *buf, size_t len, uint64_t *seq)
{
    char mid[128];
    snprintf(mid, sizeof mid, "%s-%llx-%llu", d->id, (unsigned long long)d->boot,
             (unsigned long long)atomic_fetch_add(&d->counter, 1));
    akidb_status st = ak_jlog_append(d->log, shard, buf, len, mid, seq, NULL);
    if (st == AKIDB_EIO)
        st = ak_jlog_append(d->log, shard, buf, len, mid, seq, NULL);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "cluster write to shard %u", shard);
    return AKIDB_OK;
}

/* Encodes r and appends it to shard, halving an UPSERT or DELETE batch
 * that is over the record limit; *seq the last part's number. */
static akidb_status append_rec(dpc *d, unsigned shard, ak_crec *r, uint64_t *seq)
{
    void *buf = NULL;
    size_t len = 0;
    akidb_status st = ak_crec_encode(r, &buf, &len);
    if (st == AKIDB_ERANGE && r->n > 1) {
        ak_crec half = *r;
        half.n = r->n / 2;
        st = append_rec(d, shard, &half, seq);
        if (st != AKIDB_OK)
            return st;
        half.n = r->n - r->n / 2;
        if (r->points)
            half.points = r->points + r->n / 2;
        if (r->dims)
            half.dims = r->dims + r->n / 2;
        if (r->ids)
            half.ids = r->ids + r->n / 2;
        return append_rec(d, shard, &half, seq);
    }
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "cluster record for shard %u", shard);
    st = append(d, shard, buf, len, seq);
    ak_free(buf);
    return st;
}

/* Waits until this node applied seq[k] of each held shard k with
 * seq[k] > 0 (read-your-writes); a slow replica is logged, the write
 * stays acknowledged (it is stored in the log). */
static void wait_applied(dpc *d, const uint64_t *seq)
{
    double until = ak_now() + READ_YOUR_WRITES_S;
    for (size_t i = 0; i < d->n_held; i++) {
        unsigned k = d->held[i];
        if (!seq[k])
            continue;
        double left = until - ak_now();
        akidb_status st = ak_replica_wait(d->rep, k, seq[k], left > 0.05 ? left : 0.05);
        if (st != AKIDB_OK)
            fprintf(d->srv->log, "akidb serve: cluster warning: a write stored in the log is "
                                 "not applied here yet: %s\n",
                    akidb_last_error());
    }
}

/* Appends r (no points) to every shard, then waits for the held ones. */
static akidb_status append_all(dpc *d, ak_crec *r)
{
    uint64_t *seq = ak_calloc(d->shards, sizeof *seq);
    if (!seq)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    akidb_status st = AKIDB_OK;
    for (unsigned k = 0; k < d->shards && st == AKIDB_OK; k++)
        st = append_rec(d, k, r, &seq[k]);
    if (st == AKIDB_OK)
        wait_applied(d, seq);
    ak_free(seq);
    return st;
}

/* ---- catalog writes ------------------------------------------------------ */

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > AKIDB_STORE_NAME_MAX || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

static akidb_status check_name(const char *what, const char *s)
{
    if (name_ok(s))
        return AKIDB_OK;
    return ak_fail(AKIDB_EINVAL, "%s name '%.80s' is invalid: 1 to %d bytes of [A-Za-z0-9_.-], "
                                 "not starting with '.'",
                   what, s, AKIDB_STORE_NAME_MAX);
}

/* AKIDB_OK when tenant exists in the local store (every node has every
 * tenant: their records go to every shard). */
static akidb_status tenant_exists(dpc *d, const char *tenant)
{
    akidb_names names = {0};
    akidb_status st = akidb_collection_list(d->store, tenant, &names);
    akidb_names_free(&names);
    if (st == AKIDB_EINVAL)
        return check_name("tenant", tenant) == AKIDB_OK
                   ? ak_fail(AKIDB_ENOENT, "tenant '%s' not found", tenant)
                   : AKIDB_EINVAL;
    return st;
}

static akidb_status c_tenant_create(void *dp, const char *tenant)
{
    dpc *d = dp;
    akidb_status st = check_name("tenant", tenant);
    if (st != AKIDB_OK)
        return st;
    if (tenant_exists(d, tenant) == AKIDB_OK)
        return ak_fail(AKIDB_EEXIST, "tenant '%s' exists", tenant);
    ak_crec r = {.kind = AK_CREC_TENANT_CREATE, .tenant = tenant};
    return append_all(d, &r);
}

static akidb_status c_tenant_delete(void *dp, const char *tenant)
{
    dpc *d = dp;
    akidb_status st = tenant_exists(d, tenant);
    if (st != AKIDB_OK)
        return st;
    ak_crec r = {.kind = AK_CREC_TENANT_DELETE, .tenant = tenant};
    return append_all(d, &r);
}

static akidb_status c_coll_create(void *dp, const char *tenant, const char *name,
                                  const akidb_collection_opts *o)
{
    dpc *d = dp;
    akidb_status st = tenant_exists(d, tenant);
    if (st == AKIDB_OK)
        st = check_name("collection", name);
    if (st != AKIDB_OK)
        return st;
    akidb_collection_info info;
    if (akidb_collection_get_info(d->store, tenant, name, &info) == AKIDB_OK)
        return ak_fail(AKIDB_EEXIST, "collection '%s' exists in tenant '%s'", name, tenant);
    if (o->dim < 1 || o->dim > AKIDB_DIM_MAX)
        return ak_fail(AKIDB_ERANGE, "collection '%s': dimension %u is out of range (1..%d)", name,
                       o->dim, AKIDB_DIM_MAX);
    if ((o->hnsw_m && (o->hnsw_m < 2 || o->hnsw_m > 128)) ||
        (o->hnsw_ef_construction &&
         (o->hnsw_ef_construction < 4 || o->hnsw_ef_construction > 4096)))
        return ak_fail(AKIDB_ERANGE, "collection '%s': hnsw_m 2..128, ef_construction 4..4096",
                       name);
    if (o->model && strlen(o->model) > AKIDB_MODEL_NAME_MAX)
        return ak_fail(AKIDB_EINVAL, "collection '%s': model name over %d bytes", name,
                       AKIDB_MODEL_NAME_MAX);
    if (o->quantization != AKIDB_QUANT_NONE)   /* the write log has no field for it */
        return ak_fail(AKIDB_EUNSUPPORTED, "collection '%s': quantization is not available on "
                       "a cluster yet", name);
    ak_crec r = {.kind = AK_CREC_COLL_CREATE, .tenant = tenant, .collection = name, .copts = *o};
    return append_all(d, &r);
}

static akidb_status c_coll_delete(void *dp, const char *tenant, const char *name)
{
    dpc *d = dp;
    akidb_collection_info info;
    akidb_status st = akidb_collection_get_info(d->store, tenant, name, &info);
    if (st != AKIDB_OK)
        return st;
    ak_crec r = {.kind = AK_CREC_COLL_DELETE, .tenant = tenant, .collection = name};
    return append_all(d, &r);
}

/* ---- point writes -------------------------------------------------------- */

/* The checks akidb_points_upsert makes before writing, on the local
 * collection's info; the messages name the collection and the point. */
static akidb_status check_point(const akidb_collection_info *in, const akidb_point_in *p,
                                uint32_t dim)
{
    size_t idl = strlen(p->id), bad;
    const char *t = in->tenant, *c = in->name;
    if (idl == 0 || idl > AKIDB_POINT_ID_MAX)
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': point id '%.40s' must have 1 to %d bytes",
                       t, c, p->id, AKIDB_POINT_ID_MAX);
    if (!ak_utf8_valid(p->id, idl, &bad))
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': point id is not valid UTF-8 (byte %zu)",
                       t, c, bad);
    if (dim != in->dim)
        return ak_fail(AKIDB_EDIM,
                       "collection '%s/%s': point '%s': vector has %u dimensions, "
                       "the collection %u",
                       t, c, p->id, dim, in->dim);
    double norm = 0;
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(p->vector[i]))
            return ak_fail(AKIDB_EINVAL,
                           "collection '%s/%s': point '%s': vector element %u is %s", t, c,
                           p->id, i, isnan(p->vector[i]) ? "NaN" : "infinite");
        norm += (double)p->vector[i] * p->vector[i];
    }
    if (in->metric == AKIDB_METRIC_COSINE && !(norm > 0))
        return ak_fail(AKIDB_EINVAL,
                       "collection '%s/%s': point '%s': zero vector has no direction under cosine",
                       t, c, p->id);
    size_t tl = p->text ? strlen(p->text) : 0, pl = p->payload ? strlen(p->payload) : 0;
    if (tl > AKIDB_TEXT_MAX)
        return ak_fail(AKIDB_ETOOLONG,
                       "collection '%s/%s': point '%s': text of %zu bytes exceeds %u", t, c,
                       p->id, tl, AKIDB_TEXT_MAX);
    if (p->text && !ak_utf8_valid(p->text, tl, &bad))
        return ak_fail(AKIDB_EUTF8,
                       "collection '%s/%s': point '%s': text is not valid UTF-8 at byte %zu", t, c,
                       p->id, bad);
    if (pl > AKIDB_PAYLOAD_MAX)
        return ak_fail(AKIDB_ETOOLONG,
                       "collection '%s/%s': point '%s': payload of %zu bytes exceeds %u", t, c,
                       p->id, pl, AKIDB_PAYLOAD_MAX);
    if (p->payload) {
        json_error_t e;
        json_t *j = json_loadb(p->payload, pl, JSON_REJECT_DUPLICATES, &e);
        bool obj = json_is_object(j);
        json_decref(j);
        if (!j)
            return ak_fail(AKIDB_EINVAL, "collection '%s/%s': point '%s': payload is not JSON: %s "
                                         "(byte %d)",
                           t, c, p->id, e.text, e.position);
        if (!obj)
            return ak_fail(AKIDB_EINVAL,
                           "collection '%s/%s': point '%s': payload must be a JSON object", t, c,
                           p->id);
    }
    if (idl + tl + pl + (size_t)dim * 4 + 1024 > RECORD_MAX)
        return ak_fail(AKIDB_ETOOLONG, "collection '%s/%s': point '%s' is over the cluster "
                                       "log's 1 MiB record limit",
                       t, c, p->id);
    return AKIDB_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* AKIDB_EINVAL naming a point id that occurs twice in ids[0..n). */
static akidb_status check_dups(const akidb_collection_info *in, const akidb_point_in *pts,
                               size_t n)
{
    const char **ids = ak_malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = pts[i].id;
    qsort(ids, n, sizeof *ids, cmp_str);
    akidb_status st = AKIDB_OK;
    for (size_t i = 1; i < n && st == AKIDB_OK; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            st = ak_fail(AKIDB_EINVAL,
                         "collection '%s/%s': point id '%s' occurs twice in the batch",
                         in->tenant, in->name, ids[i]);
    ak_free(ids);
    return st;
}

/* Groups the n items into order[] by shard: order[start[k] .. start[k+1])
 * are the indexes of shard k's items. */
static void group(dpc *d, const char *(*id_of)(const void *, size_t), const void *items, size_t n,
                  size_t *order, size_t *start)
{
    memset(start, 0, (d->shards + 1) * sizeof *start);
    for (size_t i = 0; i < n; i++)
        start[ak_crec_shard_of(id_of(items, i), d->shards) + 1]++;
    for (unsigned k = 0; k < d->shards; k++)
        start[k + 1] += start[k];
    size_t *fill = start + d->shards + 1;   /* the caller gave room */
    memcpy(fill, start, d->shards * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        order[fill[ak_crec_shard_of(id_of(items, i), d->shards)]++] = i;
}

static const char *point_id(const void *items, size_t i)
{
    return ((const akidb_point_in *)items)[i].id;
}

static const char *id_at(const void *items, size_t i)
{
    return ((const char *const *)items)[i];
}

/* Appends one log record per shard holding some of the n items (see group)
 * and waits until this node has applied what it holds of them.  part builds
 * and appends shard k's record from the indexes idx[0 .. m). */
typedef akidb_status (*part_fn)(dpc *d, unsigned k, const size_t *idx, size_t m, void *ctx,
                                uint64_t *seq);

static akidb_status route(dpc *d, const char *(*id_of)(const void *, size_t), const void *items,
                          size_t n, part_fn part, void *ctx)
{
    akidb_status st = AKIDB_OK;
    size_t *order = ak_malloc(n * sizeof *order);
    size_t *start = ak_malloc((2 * (size_t)d->shards + 1) * sizeof *start);
    uint64_t *seq = ak_calloc(d->shards, sizeof *seq);
    if (!order || !start || !seq)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    if (st == AKIDB_OK)
        group(d, id_of, items, n, order, start);
    for (unsigned k = 0; st == AKIDB_OK && k < d->shards; k++) {
        size_t m = start[k + 1] - start[k];
        if (m)
            st = part(d, k, order + start[k], m, ctx, &seq[k]);
    }
    if (st == AKIDB_OK)
        wait_applied(d, seq);
    ak_free(order);
    ak_free(start);
    ak_free(seq);
    return st;
}

typedef struct {
    const char *tenant, *coll;
    const akidb_point_in *pts;
    uint32_t dim;
    akidb_point_in *part;   /* room for every point */
    uint32_t *dims;
} upsert_parts;

static akidb_status upsert_part(dpc *d, unsigned k, const size_t *idx, size_t m, void *ctx,
                                uint64_t *seq)
{
    upsert_parts *u = ctx;
    for (size_t j = 0; j < m; j++) {
        u->part[j] = u->pts[idx[j]];
        u->dims[j] = u->dim;
    }
    ak_crec r = {.kind = AK_CREC_UPSERT, .tenant = u->tenant, .collection = u->coll,
                 .points = u->part, .dims = u->dims, .n = m};
    return append_rec(d, k, &r, seq);
}

static akidb_status c_upsert(void *dp, const char *tenant, const char *coll,
                             const akidb_point_in *pts, const uint32_t *dims, size_t n)
{
    dpc *d = dp;
    akidb_collection_info in;
    akidb_status st = akidb_collection_get_info(d->store, tenant, coll, &in);
    if (st != AKIDB_OK)
        return st;
    if (n == 0 || n > 100000)
        return ak_fail(AKIDB_EINVAL, "collection '%s/%s': a batch must have 1 to 100000 points, "
                                     "not %zu",
                       tenant, coll, n);
    for (size_t i = 0; i < n && st == AKIDB_OK; i++)
        st = check_point(&in, &pts[i], dims ? dims[i] : in.dim);
    if (st == AKIDB_OK)
        st = check_dups(&in, pts, n);
    if (st != AKIDB_OK)
        return st;
    upsert_parts u = {.tenant = tenant, .coll = coll, .pts = pts, .dim = in.dim,
                      .part = ak_malloc(n * sizeof *u.part), .dims = ak_malloc(n * sizeof *u.dims)};
    if (!u.part || !u.dims)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    else
        st = route(d, point_id, pts, n, upsert_part, &u);
    ak_free(u.part);
    ak_free(u.dims);
    return st;
}

/* How many of ids exist: counted in the local store for the shards this
 * node holds; ids of other shards are counted as existing. */
static size_t count_existing(dpc *d, const char *tenant, const char *coll, const char *const *ids,
                             size_t n)
{
    size_t other = 0, m = 0;
    const char **mine = ak_malloc((n ? n : 1) * sizeof *mine);
    if (!mine)
        return n;
    for (size_t i = 0; i < n; i++) {
        if (d->holds[ak_crec_shard_of(ids[i], d->shards)])
            mine[m++] = ids[i];
        else
            other++;
    }
    akidb_points got = {0};
    size_t found = m;
    if (m && akidb_points_get(d->store, tenant, coll, mine, m, 0, &got) == AKIDB_OK)
        found = got.n;
    akidb_points_free(&got);
    ak_free(mine);
    return found + other;
}

typedef struct {
    const char *tenant, *coll;
    const char *const *ids;
    const char **part;   /* room for every id */
} delete_parts;

static akidb_status delete_part(dpc *d, unsigned k, const size_t *idx, size_t m, void *ctx,
                                uint64_t *seq)
{
    delete_parts *x = ctx;
    for (size_t j = 0; j < m; j++)
        x->part[j] = x->ids[idx[j]];
    ak_crec r = {.kind = AK_CREC_DELETE, .tenant = x->tenant, .collection = x->coll,
                 .ids = x->part, .n = m};
    return append_rec(d, k, &r, seq);
}

static akidb_status c_del(void *dp, const char *tenant, const char *coll, const char *const *ids,
                          size_t n, size_t *n_deleted)
{
    dpc *d = dp;
    akidb_collection_info in;
    akidb_status st = akidb_collection_get_info(d->store, tenant, coll, &in);
    if (st != AKIDB_OK)
        return st;
    if (n_deleted)
        *n_deleted = count_existing(d, tenant, coll, ids, n);
    if (n == 0)
        return AKIDB_OK;
    delete_parts x = {.tenant = tenant, .coll = coll, .ids = ids,
                      .part = ak_malloc(n * sizeof *x.part)};
    if (!x.part)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    else
        st = route(d, id_at, ids, n, delete_part, &x);
    ak_free(x.part);
    return st;
}

/* ---- searches ------------------------------------------------------------ */

/* Chooses live members (not this node, not excluded) covering the shards
 * with need[k]: the one holding most of them first.  Their indexes go to
 * pick[*n_pick]; need[k] stays true for a shard no member covers. */
static void cover(const ak_member_list *ml, const bool *excluded, bool *need, unsigned shards,
                  size_t *pick, size_t *n_pick)
{
    *n_pick = 0;
    for (;;) {
        size_t best = SIZE_MAX, best_n = 0;
        for (size_t i = 0; i < ml->n; i++) {
            if (ml->items[i].self || excluded[i])
                continue;
            size_t c = 0;
            for (size_t j = 0; j < ml->items[i].n_shards; j++)
                c += ml->items[i].shards[j] < shards && need[ml->items[i].shards[j]];
            if (c > best_n)
                best = i, best_n = c;
        }
        if (best == SIZE_MAX)
            return;
        pick[(*n_pick)++] = best;
        for (size_t j = 0; j < ml->items[best].n_shards; j++)
            if (ml->items[best].shards[j] < shards)
                need[ml->items[best].shards[j]] = false;
    }
}

/* The first shard with need[k] as an error naming it (AKIDB_EBUSY: 503). */
static akidb_status missing_shard(dpc *d, const bool *need, const char *what, const char *why)
{
    for (unsigned k = 0; k < d->shards; k++) {
        if (!need[k])
            continue;
        if (why[0])
            return ak_fail(AKIDB_EBUSY, "%s: no node answered for shard %u (this node, '%s', "
                                        "does not hold it): %s",
                           what, k, d->id, why);
        return ak_fail(AKIDB_EBUSY, "%s: shard %u has no live node (this node, '%s', does not "
                                    "hold it)",
                       what, k, d->id);
    }
    return AKIDB_OK;
}

/* Sends req_json to path (fanout.h) of members covering the shards this
 * node lacks (those with want[k], every one when want is NULL) and merges
 * their answers into out, replacing a member that fails by another holder
 * of its shards while there is one. */
static akidb_status fan_out(dpc *d, const char *path, const bool *want, const char *auth,
                            const char *req_json, size_t top_k, akidb_points *out)
{
    const char *what = strcmp(path, AK_FANOUT_GET_PATH) == 0 ? "cluster get" : "cluster search";
    ak_member_list ml = {0};
    akidb_status st = ak_members_list(d->mem, &ml);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s: the member list", what);
    bool *excluded = ak_calloc(ml.n + 1, sizeof *excluded);
    bool *need = ak_calloc(d->shards, sizeof *need);
    size_t *pick = ak_calloc(ml.n + 1, sizeof *pick);
    const char **urls = ak_calloc(ml.n + 1, sizeof *urls);
    int *failed = ak_calloc(ml.n + 1, sizeof *failed);
    if (!excluded || !need || !pick || !urls || !failed)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    for (unsigned k = 0; st == AKIDB_OK && k < d->shards; k++)
        need[k] = !d->holds[k] && (!want || want[k]);
    char why[512] = "";
    const char *headers[2] = {auth, NULL};
    while (st == AKIDB_OK) {
        size_t np = 0;
        cover(&ml, excluded, need, d->shards, pick, &np);
        st = missing_shard(d, need, what, why);
        if (st != AKIDB_OK || np == 0)
            break;
        for (size_t i = 0; i < np; i++) {
            urls[i] = ml.items[pick[i]].url;
            failed[i] = 0;
        }
        akidb_points got = {0};
        akidb_status fs = ak_fanout_post(path, urls, np, auth ? headers : NULL, req_json,
                                         FANOUT_TIMEOUT_S, top_k, &got, failed);
        st = ak_fanout_merge(out, &got, top_k);
        akidb_points_free(&got);
        if (fs == AKIDB_OK || st != AKIDB_OK)
            break;
        snprintf(why, sizeof why, "%s", akidb_last_error());
        /* the failed members' shards are needed again, from other holders */
        size_t n_failed = 0;
        for (size_t i = 0; i < np; i++)
            n_failed += failed[i] != 0;
        if (n_failed == 0) {   /* a failure of no one node: not retried */
            st = ak_fail(fs, "%s", why);
            break;
        }
        for (size_t i = 0; i < np; i++) {
            if (!failed[i])
                continue;
            const ak_member *m = &ml.items[pick[i]];
            excluded[pick[i]] = true;
            for (size_t j = 0; j < m->n_shards; j++)
                if (m->shards[j] < d->shards && !d->holds[m->shards[j]] &&
                    (!want || want[m->shards[j]]))
                    need[m->shards[j]] = true;
        }
    }
    ak_member_list_free(&ml);
    ak_free(excluded);
    ak_free(need);
    ak_free(pick);
    ak_free(urls);
    ak_free(failed);
    return st;
}

static akidb_status c_search(void *dp, const char *auth, const char *tenant, const char *coll,
                             const akidb_search_req *req, akidb_points *out)
{
    dpc *d = dp;
    akidb_status st = akidb_search(d->store, tenant, coll, req, out);
    if (st != AKIDB_OK || d->n_held == d->shards)
        return st;
    char *json = NULL;
    st = ak_fanout_req_json(tenant, coll, req, &json);
    if (st == AKIDB_OK)
        st = fan_out(d, AK_FANOUT_PATH, NULL, auth, json, req->top_k, out);
    ak_free(json);
    if (st != AKIDB_OK)
        akidb_points_free(out);
    return st;
}

/* Where each id stands in the request, to put the merged points back in
 * the request's order. */
typedef struct {
    const char *id;
    size_t at;
} id_pos;

static int by_id_pos(const void *a, const void *b)
{
    return strcmp(((const id_pos *)a)->id, ((const id_pos *)b)->id);
}

static size_t pos_of(const id_pos *pos, size_t n, const char *id)
{
    id_pos key = {id, 0};
    const id_pos *p = bsearch(&key, pos, n, sizeof *pos, by_id_pos);
    return p ? p->at : SIZE_MAX;
}

typedef struct {
    size_t at;
    akidb_point p;
} placed;

static int by_at(const void *a, const void *b)
{
    size_t x = ((const placed *)a)->at, y = ((const placed *)b)->at;
    return x < y ? -1 : x > y;
}

/* Puts pts in the order of ids (the first place an id stands). */
static akidb_status request_order(const char *const *ids, size_t n, akidb_points *pts)
{
    id_pos *pos = ak_malloc((n ? n : 1) * sizeof *pos);
    placed *pl = ak_malloc((pts->n ? pts->n : 1) * sizeof *pl);
    if (!pos || !pl) {
        ak_free(pos);
        ak_free(pl);
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        pos[i] = (id_pos){ids[i], i};
    qsort(pos, n, sizeof *pos, by_id_pos);
    size_t k = 0;   /* one entry per id: the smallest place */
    for (size_t i = 0; i < n; i++) {
        if (k && strcmp(pos[k - 1].id, pos[i].id) == 0) {
            if (pos[i].at < pos[k - 1].at)
                pos[k - 1].at = pos[i].at;
        } else {
            pos[k++] = pos[i];
        }
    }
    for (size_t i = 0; i < pts->n; i++)
        pl[i] = (placed){pos_of(pos, k, pts->items[i].id), pts->items[i]};
    qsort(pl, pts->n, sizeof *pl, by_at);
    for (size_t i = 0; i < pts->n; i++)
        pts->items[i] = pl[i].p;
    ak_free(pos);
    ak_free(pl);
    return AKIDB_OK;
}

/* Gets the ids of held shards from the local store and asks members
 * holding the others for theirs, then puts the points in request order. */
static akidb_status c_get(void *dp, const char *auth, const char *tenant, const char *coll,
                          const char *const *ids, size_t n, unsigned with, akidb_points *out)
{
    dpc *d = dp;
    memset(out, 0, sizeof *out);
    if (d->n_held == d->shards || n == 0)
        return akidb_points_get(d->store, tenant, coll, ids, n, with, out);
    akidb_collection_info in;   /* an unknown collection: 404 here, not from a peer */
    akidb_status st = akidb_collection_get_info(d->store, tenant, coll, &in);
    if (st != AKIDB_OK)
        return st;
    const char **mine = ak_malloc(n * sizeof *mine), **theirs = ak_malloc(n * sizeof *theirs);
    bool *want = ak_calloc(d->shards, sizeof *want);
    size_t nm = 0, nt = 0;
    if (!mine || !theirs || !want)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    for (size_t i = 0; st == AKIDB_OK && i < n; i++) {
        unsigned k = ak_crec_shard_of(ids[i], d->shards);
        if (d->holds[k]) {
            mine[nm++] = ids[i];
        } else {
            theirs[nt++] = ids[i];
            want[k] = true;
        }
    }
    if (st == AKIDB_OK && nm)
        st = akidb_points_get(d->store, tenant, coll, mine, nm, with, out);
    char *json = NULL;
    if (st == AKIDB_OK && nt)
        st = ak_fanout_get_json(tenant, coll, theirs, nt, with, &json);
    if (st == AKIDB_OK && nt)
        st = fan_out(d, AK_FANOUT_GET_PATH, want, auth, json, n, out);
    if (st == AKIDB_OK)
        st = request_order(ids, n, out);
    ak_free(json);
    ak_free(mine);
    ak_free(theirs);
    ak_free(want);
    if (st != AKIDB_OK)
        akidb_points_free(out);
    return st;
}

static akidb_status c_reads(void *dp)
{
    dpc *d = dp;
    if (d->n_held == d->shards)
        return AKIDB_OK;
    char held[256] = "", full[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < d->n_held && len < sizeof held; i++)
        len += (size_t)snprintf(held + len, sizeof held - len, "%s%u", i ? "," : "", d->held[i]);
    ak_member_list ml = {0};
    len = 0;
    if (ak_members_list(d->mem, &ml) == AKIDB_OK)
        for (size_t i = 0; i < ml.n && len < sizeof full; i++)
            if (ml.items[i].n_shards == d->shards)
                len += (size_t)snprintf(full + len, sizeof full - len, "%s%s", len ? ", " : "",
                                        ml.items[i].url);
    ak_member_list_free(&ml);
    return ak_fail(AKIDB_EUNSUPPORTED,
                   "node '%s' holds shards %s of %u: scroll and count are answered only by a "
                   "node holding every shard (%s%s); search and get by id work on any node",
                   d->id, held, d->shards, full[0] ? "live ones: " : "none is live",
                   full);
}

static const ak_dataplane dp_cluster = {
    "cluster",     c_tenant_create, c_tenant_delete, c_coll_create, c_coll_delete,
    c_upsert,      c_del,           c_search,        c_get,           c_reads,
};

#endif /* AK_HAVE_STORE && AKIDB_HAVE_CLUSTER */
