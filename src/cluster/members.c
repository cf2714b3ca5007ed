/*
 * members.c - cluster membership in a JetStream key-value bucket
 * (members.h says what the keys hold).
 *
 * One thread per handle does two things: it rewrites this node's key every
 * ttl/3 seconds (the heartbeat, with the applied numbers opts.progress
 * reports just before), and between heartbeats it reads the
 * bucket's watcher, keeping a local map of node keys that ak_members_list
 * serves without a round trip (join fills the map first by reading each
 * key, without a consumer).  The watcher is an ordered push consumer; a
 * consumer that went down with a server can stall without an error, so
 * the thread checks that every heartbeat it wrote comes back through its
 * own watcher, and makes the watcher again (reading every key anew) when
 * one does not within WATCH_STALE_S.  A node's liveness is its key's
 * "time" (unix seconds of its last heartbeat) against the caller's ttl, so
 * a node that died without leaving drops out of the list after ttl even
 * though its key stays in the bucket.
 */
#include "cluster/members.h"
#include "cluster/natsconn.h"

#include <jansson.h>
#include <math.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NAME_MAX_ 32
#define TRY_MS 2000        /* longest wait of one request before it is sent again */
#define PAUSE_MS 100       /* between two tries                                    */
#define POLL_MS 200        /* longest wait of the thread for the watcher          */
#define WATCH_STALE_S 3.0  /* a heartbeat not seen back by then: a new watcher    */
#define WATCH_TRY_MS 300   /* wait of a watcher's creation (every fourth try: TRY_MS) */

typedef struct mnode {
    char id[AK_MEMBERS_ID_MAX + 1];
    char url[AK_MEMBERS_URL_MAX + 1];
    unsigned *shards;
    uint64_t *applied;
    size_t n;
    double time;           /* unix seconds of its last heartbeat */
    unsigned gen;          /* the watcher generation that last saw it */
} mnode;

struct ak_members {
    natsConnection *nc;
    jsCtx *js;
    kvStore *kv;
    jsCtx *js_fast;        /* requests with the short wait WATCH_TRY_MS */
    kvStore *kv_fast;      /* the bucket through js_fast: watchers */
    unsigned watch_fails;  /* watcher creations in a row that timed out */
    kvWatcher *w;          /* the heartbeat thread's alone once it runs */
    char bucket[NAME_MAX_ + 8];
    char key[AK_MEMBERS_ID_MAX + 8];
    char id[AK_MEMBERS_ID_MAX + 1];
    char url[AK_MEMBERS_URL_MAX + 1];
    unsigned shards, replicas;
    unsigned *held;
    size_t n_held;
    double ttl_s;
    int64_t wait_ms;
    ak_members_progress_fn progress;
    void *progress_ctx;
    unsigned gen;          /* of the current watcher */
    uint64_t echo_rev;     /* the last heartbeat not yet seen back (0: none) */
    double echo_at;
    pthread_t thread;
    bool thread_started;
    atomic_int stop;
    pthread_mutex_t mu;    /* guards what follows */
    uint64_t *applied;     /* n_held, as last set */
    mnode *nodes;          /* the map, sorted by id */
    size_t n_nodes, cap_nodes;
};

/* ---- errors ----------------------------------------------------------------------- */

/* The client library's text for s, without the "(file.c:123): " prefix. */
static const char *nats_text(natsStatus s)
{
    const char *last = nats_GetLastError(NULL);
    if (last && last[0] == '(' && strstr(last, "): "))
        last = strstr(last, "): ") + 3;
    return last && *last ? last : natsStatus_GetText(s);
}

/* A failure worth another try while the cluster recovers. */
static bool transient(natsStatus s)
{
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED)
        return true;
    if (s != NATS_ERR)
        return false;
    const char *t = nats_text(s);
    return strstr(t, "temporarily unavailable") || strstr(t, "not available") ||
           strstr(t, "no suitable peers") || strstr(t, "insufficient resources");
}

static akidb_status kfail(const ak_members *m, natsStatus s, const char *op, const char *key)
{
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED)
        return ak_fail(AKIDB_EIO,
                       "%s key '%s' of JetStream bucket %s: no answer in %.1f s (%s); is a "
                       "quorum of the bucket's servers up?",
                       op, key, m->bucket, (double)m->wait_ms / 1000.0, natsStatus_GetText(s));
    return ak_fail(AKIDB_EIO, "%s key '%s' of JetStream bucket %s: %s", op, key, m->bucket,
                   nats_text(s));
}

/* ---- validation --------------------------------------------------------------------- */

/* http(s)://host..., printable ASCII without spaces, quotes or backslashes */
static bool url_ok(const char *u)
{
    size_t len = u ? strlen(u) : 0;
    size_t pre = strncmp(u ? u : "", "http://", 7) == 0    ? 7
                 : strncmp(u ? u : "", "https://", 8) == 0 ? 8
                                                           : 0;
    if (pre == 0 || len <= pre || len > AK_MEMBERS_URL_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (u[i] <= ' ' || u[i] > '~' || u[i] == '"' || u[i] == '\\')
            return false;
    return true;
}

static akidb_status check_opts(const ak_members_opts *o)
{
    if (!ak_nats_name_ok(o->name, NAME_MAX_))
        return ak_fail(AKIDB_EINVAL, "cluster name '%s' must be 1..%d of [A-Za-z0-9_-]",
                       o->name ? o->name : "", NAME_MAX_);
    if (!ak_nats_name_ok(o->node_id, AK_MEMBERS_ID_MAX))
        return ak_fail(AKIDB_EINVAL, "node id '%s' must be 1..%d of [A-Za-z0-9_-]",
                       o->node_id ? o->node_id : "", AK_MEMBERS_ID_MAX);
    if (!url_ok(o->url))
        return ak_fail(AKIDB_EINVAL,
                       "node URL '%s' must be http://host:port or https://..., at most %d "
                       "bytes without spaces or quotes",
                       o->url ? o->url : "", AK_MEMBERS_URL_MAX);
    if (o->shards < 1 || o->shards > 1024)
        return ak_fail(AKIDB_EINVAL, "shards %u: must be 1..1024", o->shards);
    if (o->replicas < 1 || o->replicas > 5)
        return ak_fail(AKIDB_EINVAL, "replicas %u: must be 1..5", o->replicas);
    if (o->n_held > o->shards || (o->n_held && !o->held))
        return ak_fail(AKIDB_EINVAL, "%zu held shards of %u", o->n_held, o->shards);
    for (size_t i = 0; i < o->n_held; i++) {
        if (o->held[i] >= o->shards)
            return ak_fail(AKIDB_EINVAL, "held shard %u: the cluster has shards 0..%u",
                           o->held[i], o->shards - 1);
        for (size_t j = 0; j < i; j++)
            if (o->held[j] == o->held[i])
                return ak_fail(AKIDB_EINVAL, "held shard %u is listed twice", o->held[i]);
    }
    if (o->ttl_s < 0 || o->timeout_s < 0)
        return ak_fail(AKIDB_EINVAL, "ttl %g s / timeout %g s: must not be negative", o->ttl_s,
                       o->timeout_s);
    return AKIDB_OK;
}

/* ---- the map of node keys ----------------------------------------------------------- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void mnode_clear(mnode *n)
{
    ak_free(n->shards);
    ak_free(n->applied);
    n->shards = NULL;
    n->applied = NULL;
    n->n = 0;
}

/* Reads a node key's JSON into n; false when it is not one. */
static bool mnode_parse(const char *data, size_t len, const char *id, mnode *n)
{
    json_t *j = NULL;
    if (ak_json_parse(data, len, 0, "node key", &j) != AKIDB_OK)
        return false;
    json_t *jid = json_object_get(j, "id"), *jurl = json_object_get(j, "url");
    json_t *js = json_object_get(j, "shards"), *ja = json_object_get(j, "applied");
    json_t *jt = json_object_get(j, "time");
    bool ok = json_is_string(jid) && strcmp(json_string_value(jid), id) == 0 &&
              json_is_string(jurl) && strlen(json_string_value(jurl)) <= AK_MEMBERS_URL_MAX &&
              json_is_array(js) && json_array_size(js) <= 1024 && json_is_number(jt);
    memset(n, 0, sizeof *n);
    if (ok) {
        snprintf(n->id, sizeof n->id, "%s", id);
        snprintf(n->url, sizeof n->url, "%s", json_string_value(jurl));
        n->time = json_number_value(jt);
        n->n = json_array_size(js);
        n->shards = ak_calloc(n->n ? n->n : 1, sizeof *n->shards);
        n->applied = ak_calloc(n->n ? n->n : 1, sizeof *n->applied);
        ok = n->shards && n->applied;
    }
    for (size_t i = 0; ok && i < n->n; i++) {
        json_t *s = json_array_get(js, i), *a = json_array_get(ja, i);
        ok = json_is_integer(s) && json_integer_value(s) >= 0 &&
             json_integer_value(s) <= 1024;
        if (ok)
            n->shards[i] = (unsigned)json_integer_value(s);
        if (ok && json_is_integer(a) && json_integer_value(a) >= 0)
            n->applied[i] = (uint64_t)json_integer_value(a);
    }
    json_decref(j);
    if (!ok)
        mnode_clear(n);
    return ok;
}

/* The map slot of id (caller holds mu); *found says whether it is there. */
static size_t map_find(const ak_members *m, const char *id, bool *found)
{
    size_t lo = 0, hi = m->n_nodes;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->nodes[mid].id, id);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void map_remove(ak_members *m, const char *id)
{
    pthread_mutex_lock(&m->mu);
    bool found;
    size_t at = map_find(m, id, &found);
    if (found) {
        mnode_clear(&m->nodes[at]);
        memmove(&m->nodes[at], &m->nodes[at + 1], (m->n_nodes - at - 1) * sizeof *m->nodes);
        m->n_nodes--;
    }
    pthread_mutex_unlock(&m->mu);
}

/* Stores n (taking its arrays) under its id. */
static void map_put(ak_members *m, mnode *n)
{
    pthread_mutex_lock(&m->mu);
    bool found;
    size_t at = map_find(m, n->id, &found);
    if (!found && m->n_nodes == m->cap_nodes) {
        size_t cap = m->cap_nodes ? 2 * m->cap_nodes : 8;
        mnode *grown = ak_realloc(m->nodes, cap * sizeof *grown);
        if (!grown) {   /* out of memory: the node stays unknown until its next key */
            pthread_mutex_unlock(&m->mu);
            mnode_clear(n);
            return;
        }
        m->nodes = grown;
        m->cap_nodes = cap;
    }
    if (found) {
        mnode_clear(&m->nodes[at]);
    } else {
        memmove(&m->nodes[at + 1], &m->nodes[at], (m->n_nodes - at) * sizeof *m->nodes);
        m->n_nodes++;
    }
    n->gen = m->gen;
    m->nodes[at] = *n;
    pthread_mutex_unlock(&m->mu);
}

/* Drops the nodes the current watcher did not report (their keys were
 * deleted while an earlier watcher was stalled). */
static void map_prune(ak_members *m)
{
    pthread_mutex_lock(&m->mu);
    size_t k = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        if (m->nodes[i].gen == m->gen)
            m->nodes[k++] = m->nodes[i];
        else
            mnode_clear(&m->nodes[i]);
    }
    m->n_nodes = k;
    pthread_mutex_unlock(&m->mu);
}

/* Applies one watcher entry to the map. */
static void apply_entry(ak_members *m, kvEntry *e)
{
    const char *key = kvEntry_Key(e);
    if (strcmp(key, m->key) == 0 && m->echo_rev && kvEntry_Revision(e) >= m->echo_rev)
        m->echo_rev = 0;
    if (strncmp(key, "node.", 5) != 0)
        return;
    const char *id = key + 5;
    kvOperation op = kvEntry_Operation(e);
    mnode n;
    if (op == kvOp_Put && ak_nats_name_ok(id, AK_MEMBERS_ID_MAX) &&
        mnode_parse(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), id, &n))
        map_put(m, &n);
    else
        map_remove(m, id);
}

/* ---- the watcher -------------------------------------------------------------------- */

static void watch_drop(ak_members *m)
{
    if (m->w) {
        kvWatcher_Destroy(m->w);
        m->w = NULL;
    }
}

/* A new watcher of every key (one try).  A watcher is a consumer, which
 * nats-server before 2.9.12 may place on a dead server (its creation then
 * never answers): tried with a short wait, every fourth try with the
 * normal one (a slow but live server). */
static natsStatus watch_start(ak_members *m)
{
    watch_drop(m);
    kvStore *kv = m->kv_fast && m->watch_fails % 4 != 3 ? m->kv_fast : m->kv;
    natsStatus s = kvStore_WatchAll(&m->w, kv, NULL);
    if (s != NATS_OK) {
        m->w = NULL;
        m->watch_fails++;
    } else {
        m->gen++;
        m->watch_fails = 0;
    }
    return s;
}

/* Reads the watcher for up to wait_ms: 1 when it said every key was
 * delivered (the map is then pruned), 0 after an entry or nothing, -1
 * when the watcher failed (it is dropped). */
static int watch_pump(ak_members *m, int64_t wait_ms)
{
    kvEntry *e = NULL;
    natsStatus s = kvWatcher_Next(&e, m->w, wait_ms > 0 ? wait_ms : 1);
    if (s == NATS_TIMEOUT)
        return 0;
    if (s != NATS_OK) {
        watch_drop(m);
        return -1;
    }
    if (!e) {
        map_prune(m);
        return 1;
    }
    apply_entry(m, e);
    kvEntry_Destroy(e);
    return 0;
}

/* ---- the heartbeat ------------------------------------------------------------------ */

/* Refreshes the applied numbers from opts.progress (when there is one). */
static void ask_progress(ak_members *m)
{
    if (!m->progress || !m->n_held)
        return;
    uint64_t *ap = ak_malloc(m->n_held * sizeof *ap);
    if (!ap)
        return;
    pthread_mutex_lock(&m->mu);
    memcpy(ap, m->applied, m->n_held * sizeof *ap);
    pthread_mutex_unlock(&m->mu);
    m->progress(m->progress_ctx, ap, m->n_held);
    pthread_mutex_lock(&m->mu);
    memcpy(m->applied, ap, m->n_held * sizeof *ap);
    pthread_mutex_unlock(&m->mu);
    ak_free(ap);
}

/* This node's key (malloc'd JSON) with the applied numbers as last set. */
static char *node_json(ak_members *m)
{
    json_t *sh = json_array(), *ap = json_array();
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; sh && ap && i < m->n_held; i++) {
        json_array_append_new(sh, json_integer(m->held[i]));
        json_array_append_new(ap, json_integer((json_int_t)m->applied[i]));
    }
    pthread_mutex_unlock(&m->mu);
    json_t *j = json_pack("{s:s,s:s,s:o,s:o,s:f}", "id", m->id, "url", m->url, "shards", sh,
                          "applied", ap, "time", floor(wall_now() * 1000.0) / 1000.0);
    char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(14)) : NULL;
    json_decref(j);
    return txt;
}

/* Writes this node's key, one try of the context's wait; *rev its revision. */
static natsStatus heartbeat(ak_members *m, uint64_t *rev)
{
    char *txt = node_json(m);
    if (!txt)
        return NATS_NO_MEMORY;
    natsStatus s = kvStore_PutString(rev, m->kv, m->key, txt);
    ak_free(txt);
    return s;
}

static void *members_thread(void *arg)
{
    ak_members *m = arg;
    double period = m->ttl_s / 3.0;
    double next_hb = ak_now() + period;
    while (!atomic_load(&m->stop)) {
        double now = ak_now();
        if (now >= next_hb) {
            uint64_t rev = 0;
            ask_progress(m);
            /* a failed heartbeat is tried again soon: the cluster is recovering */
            next_hb = heartbeat(m, &rev) == NATS_OK ? now + period : now + period / 4;
            if (rev && !m->echo_rev) {
                m->echo_rev = rev;
                m->echo_at = now;
            }
        }
        if (m->w && m->echo_rev && now - m->echo_at > WATCH_STALE_S) {
            watch_drop(m);   /* stalled: the heartbeat never came back */
            m->echo_rev = 0;
        }
        int64_t wait = (int64_t)((next_hb - ak_now()) * 1000.0);
        wait = wait < 1 ? 1 : wait > POLL_MS ? POLL_MS : wait;
        if (!m->w && watch_start(m) != NATS_OK) {
            nats_Sleep(wait);
            continue;
        }
        watch_pump(m, wait);
    }
    return NULL;
}

/* ---- joining ------------------------------------------------------------------------ */

/* Connects as jlog.c does (natsconn.h). */
static akidb_status connect_nats(ak_members *m, const char *servers)
{
    int64_t try_ms = m->wait_ms < TRY_MS ? m->wait_ms : TRY_MS;
    natsStatus s = NATS_OK;
    akidb_status st = ak_nats_connect(servers, "akidb-members", try_ms, &m->nc, &s);
    if (st == AKIDB_EINVAL)
        return st;
    if (st != AKIDB_OK)
        return ak_fail(AKIDB_EIO, "joining cluster %s (JetStream bucket %s): connecting to NATS "
                       "at %s: %s", m->bucket + 6, m->bucket, servers, nats_text(s));
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = try_ms;
    s = natsConnection_JetStream(&m->js, m->nc, &jo);
    if (s == NATS_OK) {
        jo.Wait = try_ms < WATCH_TRY_MS ? try_ms : WATCH_TRY_MS;
        s = natsConnection_JetStream(&m->js_fast, m->nc, &jo);
    }
    if (s != NATS_OK)
        return ak_fail(AKIDB_EIO, "JetStream context on %s: %s", servers, nats_text(s));
    return AKIDB_OK;
}

/* Opens the bucket, creating it when missing, trying again while the
 * cluster is between leaders. */
static akidb_status open_bucket(ak_members *m)
{
    double until = ak_now() + (double)m->wait_ms / 1000.0;
    for (;;) {
        natsStatus s = js_KeyValue(&m->kv, m->js, m->bucket);
        if (s == NATS_NOT_FOUND) {
            kvConfig kc;
            kvConfig_Init(&kc);
            kc.Bucket = m->bucket;
            kc.History = 1;
            kc.StorageType = js_FileStorage;
            kc.Replicas = (int)m->replicas;
            s = js_CreateKeyValue(&m->kv, m->js, &kc);
            if (s != NATS_OK && !transient(s)) /* made by another node meanwhile? */
                s = js_KeyValue(&m->kv, m->js, m->bucket);
        }
        if (s == NATS_OK) {
            if (js_KeyValue(&m->kv_fast, m->js_fast, m->bucket) != NATS_OK)
                m->kv_fast = NULL;   /* watchers then use kv */
            return AKIDB_OK;
        }
        m->kv = NULL;
        if (!transient(s) || ak_now() >= until)
            return ak_fail(AKIDB_EIO, "opening JetStream bucket %s (%u replicas): %s",
                           m->bucket, m->replicas, nats_text(s));
        nats_Sleep(PAUSE_MS);
    }
}

/* Compares the config key's text with this node's settings. */
static akidb_status check_config(ak_members *m, const char *data, size_t len)
{
    json_t *j = NULL;
    akidb_status st = ak_json_parse(data, len, 0, "config", &j);
    if (st != AKIDB_OK)
        return ak_fail_prefix(AKIDB_EINVAL, "key 'config' of JetStream bucket %s", m->bucket);
    json_t *js = json_object_get(j, "shards"), *jr = json_object_get(j, "replicas");
    if (!json_is_integer(js) || !json_is_integer(jr))
        st = ak_fail(AKIDB_EINVAL, "key 'config' of JetStream bucket %s: no shards/replicas "
                     "numbers in %.*s", m->bucket, (int)(len > 200 ? 200 : len), data);
    else if (json_integer_value(js) != (json_int_t)m->shards ||
             json_integer_value(jr) != (json_int_t)m->replicas)
        st = ak_fail(AKIDB_EINVAL,
                     "cluster %s (JetStream bucket %s, key 'config') has %lld shards and %lld "
                     "replicas; this node was started with %u shards and %u replicas",
                     m->bucket + 6, m->bucket, (long long)json_integer_value(js),
                     (long long)json_integer_value(jr), m->shards, m->replicas);
    json_decref(j);
    return st;
}

/* Creates the config key, or checks it against this node's settings. */
static akidb_status ensure_config(ak_members *m)
{
    char txt[64];
    snprintf(txt, sizeof txt, "{\"shards\":%u,\"replicas\":%u}", m->shards, m->replicas);
    double until = ak_now() + (double)m->wait_ms / 1000.0;
    for (;;) {
        natsStatus s = kvStore_CreateString(NULL, m->kv, "config", txt);
        if (s == NATS_OK)
            return AKIDB_OK;
        bool again = transient(s);
        if (!again) {   /* there already: what does it say? */
            kvEntry *e = NULL;
            s = kvStore_Get(&e, m->kv, "config");
            if (s == NATS_OK) {
                akidb_status st =
                    check_config(m, kvEntry_Value(e), (size_t)kvEntry_ValueLen(e));
                kvEntry_Destroy(e);
                return st;
            }
            again = s == NATS_NOT_FOUND || transient(s);
        }
        if (!again || ak_now() >= until)
            return kfail(m, s, "creating", "config");
        nats_Sleep(PAUSE_MS);
    }
}

/* Writes this node's first heartbeat, trying while the cluster recovers. */
static akidb_status first_heartbeat(ak_members *m)
{
    double until = ak_now() + (double)m->wait_ms / 1000.0;
    for (;;) {
        natsStatus s = heartbeat(m, NULL);
        if (s == NATS_OK)
            return AKIDB_OK;
        if (s == NATS_NO_MEMORY)
            return ak_fail(AKIDB_ENOMEM, "out of memory writing key %s", m->key);
        if (!transient(s) || ak_now() >= until)
            return kfail(m, s, "writing", m->key);
        nats_Sleep(PAUSE_MS);
    }
}

/* Reads every node key once, each from the bucket's stream leader (the
 * stream's list of subjects, then a get per key), so the first list after
 * join already knows the other nodes.  No consumer is made: a watcher's
 * consumer can take seconds to come up after a server restarted (placed on
 * a server still catching up, or on a dead one before nats-server 2.9.12);
 * the heartbeat thread makes the watcher meanwhile. */
static akidb_status first_view(ak_members *m)
{
    char stream[NAME_MAX_ + 16], filter[NAME_MAX_ + 32];
    snprintf(stream, sizeof stream, "KV_%s", m->bucket);
    snprintf(filter, sizeof filter, "$KV.%s.node.>", m->bucket);
    size_t skip = strlen("$KV.") + strlen(m->bucket) + 1;
    double until = ak_now() + (double)m->wait_ms / 1000.0;
    for (;;) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = m->wait_ms < TRY_MS ? m->wait_ms : TRY_MS;
        jo.Stream.Info.SubjectsFilter = filter;
        jsStreamInfo *si = NULL;
        jsErrCode je = 0;
        natsStatus s = js_GetStreamInfo(&si, m->js, stream, &jo, &je);
        if (s == NATS_OK) {
            const jsStreamStateSubjects *sub = si->State.Subjects;
            for (int i = 0; sub && i < sub->Count; i++) {
                const char *subject = sub->List[i].Subject;
                kvEntry *e = NULL;
                if (strlen(subject) > skip && kvStore_Get(&e, m->kv, subject + skip) == NATS_OK)
                    apply_entry(m, e);
                kvEntry_Destroy(e);
            }
            jsStreamInfo_Destroy(si);
            return AKIDB_OK;
        }
        if (!transient(s) || ak_now() >= until)
            return ak_fail(AKIDB_EIO, "reading the keys of JetStream bucket %s: %s", m->bucket,
                           nats_text(s));
        nats_Sleep(PAUSE_MS);
    }
}

static akidb_status members_init(ak_members *m, const ak_members_opts *o)
{
    snprintf(m->bucket, sizeof m->bucket, "akidb_%s", o->name);
    snprintf(m->key, sizeof m->key, "node.%s", o->node_id);
    snprintf(m->id, sizeof m->id, "%s", o->node_id);
    snprintf(m->url, sizeof m->url, "%s", o->url);
    m->shards = o->shards;
    m->replicas = o->replicas;
    m->ttl_s = o->ttl_s > 0 ? o->ttl_s : 10.0;
    m->wait_ms = (int64_t)((o->timeout_s > 0 ? o->timeout_s : 15.0) * 1000);
    if (m->wait_ms < 1)
        m->wait_ms = 1;
    m->progress = o->progress;
    m->progress_ctx = o->progress_ctx;
    m->n_held = o->n_held;
    m->held = ak_calloc(o->n_held ? o->n_held : 1, sizeof *m->held);
    m->applied = ak_calloc(o->n_held ? o->n_held : 1, sizeof *m->applied);
    if (!m->held || !m->applied)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (o->n_held)
        memcpy(m->held, o->held, o->n_held * sizeof *m->held);
    return AKIDB_OK;
}

akidb_status ak_members_join(const ak_members_opts *o, ak_members **out)
{
    AK_ASSERT(o && out);
    *out = NULL;
    akidb_status st = check_opts(o);
    if (st != AKIDB_OK)
        return st;
    ak_json_init();
    ak_members *m = ak_calloc(1, sizeof *m);
    if (!m)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    pthread_mutex_init(&m->mu, NULL);
    atomic_init(&m->stop, 0);
    st = members_init(m, o);
    if (st == AKIDB_OK)
        st = connect_nats(m, o->servers && *o->servers ? o->servers : "nats://127.0.0.1:4222");
    if (st == AKIDB_OK)
        st = open_bucket(m);
    if (st == AKIDB_OK)
        st = ensure_config(m);
    if (st == AKIDB_OK)
        st = first_heartbeat(m);
    if (st == AKIDB_OK)
        st = first_view(m);
    if (st == AKIDB_OK && pthread_create(&m->thread, NULL, members_thread, m) != 0)
        st = ak_fail(AKIDB_ENOMEM, "no thread for the heartbeat of node %s", m->id);
    if (st != AKIDB_OK) {
        ak_members_leave(m);   /* nothing was written that outlives ttl */
        return st;
    }
    m->thread_started = true;
    *out = m;
    return AKIDB_OK;
}

void ak_members_leave(ak_members *m)
{
    if (!m)
        return;
    if (m->thread_started) {
        atomic_store(&m->stop, 1);
        pthread_join(m->thread, NULL);
        /* best effort, a few tries while the cluster recovers */
        double until = ak_now() + (double)m->wait_ms / 1000.0;
        natsStatus s;
        while ((s = kvStore_Delete(m->kv, m->key)) != NATS_OK && transient(s) &&
               ak_now() < until)
            nats_Sleep(PAUSE_MS);
    }
    watch_drop(m);
    kvStore_Destroy(m->kv_fast);
    kvStore_Destroy(m->kv);
    jsCtx_Destroy(m->js_fast);
    jsCtx_Destroy(m->js);
    if (m->nc) {
        natsConnection_Close(m->nc);
        natsConnection_Destroy(m->nc);
    }
    for (size_t i = 0; i < m->n_nodes; i++)
        mnode_clear(&m->nodes[i]);
    ak_free(m->nodes);
    ak_free(m->held);
    ak_free(m->applied);
    pthread_mutex_destroy(&m->mu);
    ak_free(m);
}

void ak_members_set_applied(ak_members *m, const uint64_t *applied, size_t n)
{
    AK_ASSERT(m && n == m->n_held && (applied || !n));
    pthread_mutex_lock(&m->mu);
    if (n)
        memcpy(m->applied, applied, n * sizeof *applied);
    pthread_mutex_unlock(&m->mu);
}

/* ---- the list ----------------------------------------------------------------------- */

akidb_status ak_members_list(ak_members *m, ak_member_list *out)
{
    AK_ASSERT(m && out);
    memset(out, 0, sizeof *out);
    double now = wall_now();
    akidb_status st = AKIDB_OK;
    pthread_mutex_lock(&m->mu);
    out->items = ak_calloc(m->n_nodes ? m->n_nodes : 1, sizeof *out->items);
    if (!out->items)
        st = ak_fail(AKIDB_ENOMEM, "out of memory listing %zu nodes", m->n_nodes);
    for (size_t i = 0; st == AKIDB_OK && i < m->n_nodes; i++) {
        const mnode *n = &m->nodes[i];
        double age = now - n->time;
        if (age > m->ttl_s)
            continue;
        ak_member *it = &out->items[out->n];
        memcpy(it->id, n->id, sizeof it->id);
        memcpy(it->url, n->url, sizeof it->url);
        it->shards = ak_calloc(n->n ? n->n : 1, sizeof *it->shards);
        it->applied = ak_calloc(n->n ? n->n : 1, sizeof *it->applied);
        out->n++;
        if (!it->shards || !it->applied) {
            st = ak_fail(AKIDB_ENOMEM, "out of memory listing %zu nodes", m->n_nodes);
            break;
        }
        if (n->n) {
            memcpy(it->shards, n->shards, n->n * sizeof *it->shards);
            memcpy(it->applied, n->applied, n->n * sizeof *it->applied);
        }
        it->n_shards = n->n;
        it->age_s = age > 0 ? age : 0;
        it->self = strcmp(n->id, m->id) == 0;
    }
    pthread_mutex_unlock(&m->mu);
    if (st != AKIDB_OK)
        ak_member_list_free(out);
    return st;
}

void ak_member_list_free(ak_member_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        ak_free(l->items[i].shards);
        ak_free(l->items[i].applied);
    }
    ak_free(l->items);
    memset(l, 0, sizeof *l);
}
