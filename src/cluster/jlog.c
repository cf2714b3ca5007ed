/*
 * jlog.c - the sharded write log on NATS JetStream (jlog.h says what it
 * guarantees and why JetStream).
 *
 * Every call keeps trying, for up to the log's time-out, while the cluster
 * recovers from a lost server: the stream elects a new leader (4..9 s on
 * nats-server 2.9), the client reconnects to another server, the JetStream
 * meta leader is re-elected.  Each try waits at most TRY_MS (PUB_TRY_MS for
 * a publish), so a request that went to a server that died is given up
 * early and sent again.
 *
 * Appends are synchronous publishes that wait for the stream's
 * acknowledgement (stored on a quorum); with a message id they are retried,
 * which the duplicate window makes safe.  Reads stop at the last sequence
 * number the stream had when the read began.  A short backlog (up to
 * DIRECT_MAX records: what a replica that keeps up sees) is read record by
 * record from the stream's leader (the stream's "get message" request), so
 * no consumer is made.  A longer one uses an ordered consumer (the client
 * library's flow-controlled, gap-checked push consumer) starting at the
 * wanted sequence number.  A consumer that does not come up or stops
 * delivering is dropped and made again from the next number wanted:
 * nats-server before 2.9.12 places a one-replica consumer on any of the
 * stream's servers, a dead one included, and its creation then never
 * answers; each new try draws the server again, the first after
 * OPEN_TRY_MS (doubling up to TRY_MS).  Reading through consumers only
 * made every read after a server died wait 1 s per unlucky draw: writes
 * that wait for the local replica took 1.1 to 5 s.
 *
 * Watches are ordered push consumers too, from the records stored after
 * they began, delivering headers only (the sequence number is in the
 * reply subject), with a callback on the library's delivery thread.
 */
#include "cluster/jlog.h"
#include "cluster/natsconn.h"

#include <nats/nats.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_ 32
#define RECORD_MAX ((size_t)1 << 20)
#define TRY_MS 1000        /* longest wait of one API request before it is sent again
                              (a consumer is made in milliseconds when its server is up) */
#define PUB_TRY_MS 2000    /* the same for a publish waiting for its quorum            */
#define PAUSE_MS 100       /* between two tries                                        */
#define OPEN_TRY_MS 200    /* first wait for a reading consumer, doubled up to TRY_MS  */
#define DIRECT_MAX 64      /* a backlog up to this many records is read record by record
                              from the stream's leader, without a consumer              */

struct ak_jlog {
    natsConnection *nc;
    jsCtx *js;
    char name[NAME_MAX_ + 1];
    unsigned shards;
    int64_t wait_ms;       /* how long one call keeps trying */
};

/* Fails with st, the message fmt ... and what the client library said
 * (the JetStream error code and text when the server sent one). */
static akidb_status nfail(akidb_status st, natsStatus s, jsErrCode je, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the library's text, without the "(file.c:123): " it starts with */
    const char *last = nats_GetLastError(NULL);
    if (last && last[0] == '(' && strstr(last, "): "))
        last = strstr(last, "): ") + 3;
    if (!last || !*last)
        last = natsStatus_GetText(s);
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED)
        return ak_fail(st, "%s: no answer in time (%s); is a quorum of the stream's servers up?",
                       msg, natsStatus_GetText(s));
    if (je)
        return ak_fail(st, "%s: JetStream error %d: %s", msg, (int)je, last);
    return ak_fail(st, "%s: %s", msg, last);
}

/* A failure worth another try: no server answered, the connection is
 * being re-made (a write to the socket of a server that just died fails
 * with an I/O error), or JetStream says it is between leaders. */
static bool transient(natsStatus s, jsErrCode je)
{
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
        s == NATS_IO_ERROR)
        return true;
    return je == JSClusterNotAvailErr || je == JSClusterNotLeaderErr ||
           je == JSStreamOfflineErr || je == JSInsufficientResourcesErr ||
           je == JSClusterNoPeersErr || je == JSClusterPeerNotMemberErr;
}

/* The wait of the next try, at most cap_ms, when a call that started trying
 * at t0 may go on until t0 + wait_ms; 0 when its time is up. */
static int64_t try_wait(const ak_jlog *l, double t0, int64_t cap_ms)
{
    double left_ms = (t0 + (double)l->wait_ms / 1000.0 - ak_now()) * 1000.0;
    if (left_ms < 1)
        return 0;
    return left_ms < (double)cap_ms ? (int64_t)left_ms : cap_ms;
}

static void stream_of(const ak_jlog *l, unsigned shard, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s_%u", l->name, shard);
}

static void subject_of(const ak_jlog *l, unsigned shard, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%u", l->name, shard);
}

/* js_GetStreamInfo, tried again while the cluster is between leaders. */
static natsStatus stream_info(ak_jlog *l, const char *stream, jsStreamInfo **si, jsErrCode *je)
{
    double t0 = ak_now();
    for (;;) {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = try_wait(l, t0, TRY_MS);
        *je = 0;
        natsStatus s = js_GetStreamInfo(si, l->js, stream, &jo, je);
        if (s == NATS_OK || !transient(s, *je) || try_wait(l, t0, TRY_MS) == 0)
            return s;
        nats_Sleep(PAUSE_MS);
    }
}

/* The stream's trimming limits from the options (0: none). */
static void set_limits(jsStreamConfig *sc, const ak_jlog_opts *o)
{
    sc->MaxAge = o->max_age_s > 0 ? (int64_t)(o->max_age_s * 1e9) : 0;
    sc->MaxBytes = o->max_bytes > 0 ? o->max_bytes : -1;
    /* JetStream's rule: the duplicate window fits in the age limit */
    if (sc->MaxAge > 0 && sc->Duplicates > sc->MaxAge)
        sc->Duplicates = sc->MaxAge;
}

/* Gives an existing stream the options' trimming limits when they differ. */
static akidb_status update_limits(ak_jlog *l, const ak_jlog_opts *o, const char *stream,
                                  const jsStreamConfig *c)
{
    jsStreamConfig nc = *c;
    set_limits(&nc, o);
    bool same_bytes = nc.MaxBytes == c->MaxBytes || (nc.MaxBytes < 0 && c->MaxBytes <= 0);
    if (nc.MaxAge == c->MaxAge && same_bytes && nc.Duplicates == c->Duplicates)
        return AKIDB_OK;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = l->wait_ms;
    jsErrCode je = 0;
    jsStreamInfo *si = NULL;
    natsStatus s = js_UpdateStream(&si, l->js, &nc, &jo, &je);
    jsStreamInfo_Destroy(si);
    if (s != NATS_OK)
        return nfail(AKIDB_EIO, s, je, "setting the limits of JetStream stream %s", stream);
    return AKIDB_OK;
}

/* Checks shard's stream against the wanted shape, creating it when it is
 * missing and o->create says so. */
static akidb_status ensure_stream(ak_jlog *l, const ak_jlog_opts *o, unsigned shard)
{
    char stream[NAME_MAX_ + 16], subject[NAME_MAX_ + 16];
    stream_of(l, shard, stream, sizeof stream);
    subject_of(l, shard, subject, sizeof subject);
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = stream_info(l, stream, &si, &je);
    if (s == NATS_NOT_FOUND || je == JSStreamNotFoundErr) {
        if (!o->create)
            return ak_fail(AKIDB_ENOENT, "JetStream stream %s does not exist", stream);
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        const char *subjects[1] = { subject };
        sc.Name = stream;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = js_FileStorage;
        sc.Replicas = o->replicas;
        sc.Duplicates = (int64_t)((o->dup_window_s > 0 ? o->dup_window_s : 120.0) * 1e9);
        set_limits(&sc, o);
        jsOptions jo;   /* one try, as long as a call may take: the new stream's
                           servers elect its first leader before it answers */
        jsOptions_Init(&jo);
        jo.Wait = l->wait_ms;
        je = 0;
        s = js_AddStream(&si, l->js, &sc, &jo, &je);
        if (s != NATS_OK)
            return nfail(AKIDB_EIO, s, je, "creating JetStream stream %s (%u replicas)", stream,
                         o->replicas);
        jsStreamInfo_Destroy(si);
        return AKIDB_OK;
    }
    if (s != NATS_OK)
        return nfail(AKIDB_EIO, s, je, "reading JetStream stream %s", stream);
    akidb_status st = AKIDB_OK;
    const jsStreamConfig *c = si->Config;
    if (c->SubjectsLen != 1 || strcmp(c->Subjects[0], subject) != 0)
        st = ak_fail(AKIDB_EEXIST, "JetStream stream %s exists with other subjects than %s",
                     stream, subject);
    else if (c->Replicas != (int64_t)o->replicas)
        st = ak_fail(AKIDB_EEXIST, "JetStream stream %s has %lld replicas; %u wanted", stream,
                     (long long)c->Replicas, o->replicas);
    else if (c->Storage != js_FileStorage)
        st = ak_fail(AKIDB_EEXIST, "JetStream stream %s keeps its messages in memory", stream);
    else if (o->create)
        st = update_limits(l, o, stream, c);
    jsStreamInfo_Destroy(si);
    return st;
}

/* Connects l to servers (natsconn.h) and makes its JetStream context. */
static akidb_status open_connection(ak_jlog *l, const char *servers)
{
    natsStatus s = NATS_OK;
    akidb_status st = ak_nats_connect(servers, "akidb", l->wait_ms < TRY_MS ? l->wait_ms : TRY_MS,
                                      &l->nc, &s);
    if (st == AKIDB_EINVAL)
        return st;
    if (st != AKIDB_OK)
        return nfail(AKIDB_EIO, s, 0, "connecting to NATS at %s", servers);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = l->wait_ms < TRY_MS ? l->wait_ms : TRY_MS;
    s = natsConnection_JetStream(&l->js, l->nc, &jo);
    if (s != NATS_OK)
        return nfail(AKIDB_EIO, s, 0, "JetStream context on %s", servers);
    return AKIDB_OK;
}

akidb_status ak_jlog_open(const ak_jlog_opts *o, ak_jlog **out)
{
    AK_ASSERT(o && out);
    *out = NULL;
    if (!ak_nats_name_ok(o->name, NAME_MAX_))
        return ak_fail(AKIDB_EINVAL, "log name '%s' must be 1..%d of [A-Za-z0-9_-]",
                       o->name ? o->name : "", NAME_MAX_);
    if (o->shards < 1 || o->shards > 1024)
        return ak_fail(AKIDB_EINVAL, "shards %u: must be 1..1024", o->shards);
    if (o->replicas < 1 || o->replicas > 5)
        return ak_fail(AKIDB_EINVAL, "replicas %u: must be 1..5", o->replicas);
    if (o->max_age_s < 0 || o->max_bytes < 0)
        return ak_fail(AKIDB_EINVAL, "log limits: max age %g s, max bytes %lld: must not be "
                       "negative", o->max_age_s, (long long)o->max_bytes);
    ak_jlog *l = ak_calloc(1, sizeof *l);
    if (!l)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    memcpy(l->name, o->name, strlen(o->name) + 1);
    l->shards = o->shards;
    l->wait_ms = (int64_t)((o->timeout_s > 0 ? o->timeout_s : 15.0) * 1000);
    if (l->wait_ms < 1)
        l->wait_ms = 1;
    akidb_status st =
        open_connection(l, o->servers && *o->servers ? o->servers : "nats://127.0.0.1:4222");
    for (unsigned k = 0; st == AKIDB_OK && k < o->shards; k++)
        st = ensure_stream(l, o, k);
    if (st != AKIDB_OK) {
        ak_jlog_close(l);
        return st;
    }
    *out = l;
    return AKIDB_OK;
}

void ak_jlog_close(ak_jlog *l)
{
    if (!l)
        return;
    jsCtx_Destroy(l->js);
    if (l->nc) {
        natsConnection_Close(l->nc);
        natsConnection_Destroy(l->nc);
    }
    ak_free(l);
}

akidb_status ak_jlog_append(ak_jlog *l, unsigned shard, const void *data, size_t len,
                            const char *msg_id, uint64_t *seq, int *dup)
{
    AK_ASSERT(l && shard < l->shards && (data || !len));
    if (len == 0 || len > RECORD_MAX)
        return ak_fail(AKIDB_EINVAL, "log record of %zu bytes: must be 1..%zu", len, RECORD_MAX);
    char stream[NAME_MAX_ + 16], subject[NAME_MAX_ + 16];
    stream_of(l, shard, stream, sizeof stream);
    subject_of(l, shard, subject, sizeof subject);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    po.ExpectStream = stream;
    double t0 = ak_now();
    for (;;) {
        /* without an id a second try could store the record twice: one
         * try, as long as the call may take */
        po.MaxWait = msg_id ? try_wait(l, t0, PUB_TRY_MS) : l->wait_ms;
        jsPubAck *pa = NULL;
        jsErrCode je = 0;
        natsStatus s = js_Publish(&pa, l->js, subject, data, (int)len, &po, &je);
        if (s == NATS_OK) {
            if (seq)
                *seq = pa->Sequence;
            if (dup)
                *dup = pa->Duplicate;
            jsPubAck_Destroy(pa);
            return AKIDB_OK;
        }
        if (!msg_id || !transient(s, je) || try_wait(l, t0, PUB_TRY_MS) == 0)
            return nfail(AKIDB_EIO, s, je, "appending %zu bytes to JetStream stream %s", len,
                         stream);
        nats_Sleep(PAUSE_MS);
    }
}

akidb_status ak_jlog_info(ak_jlog *l, unsigned shard, ak_jlog_shard_info *out)
{
    AK_ASSERT(l && shard < l->shards && out);
    memset(out, 0, sizeof *out);
    char stream[NAME_MAX_ + 16];
    stream_of(l, shard, stream, sizeof stream);
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = stream_info(l, stream, &si, &je);
    if (s != NATS_OK)
        return nfail(s == NATS_NOT_FOUND || je == JSStreamNotFoundErr ? AKIDB_ENOENT : AKIDB_EIO,
                     s, je, "reading JetStream stream %s", stream);
    out->first = si->State.Msgs ? si->State.FirstSeq : si->State.LastSeq + 1;
    out->last = si->State.LastSeq;
    out->replicas = (unsigned)si->Config->Replicas;
    const jsClusterInfo *ci = si->Cluster;
    if (ci && ci->Leader) {
        snprintf(out->leader, sizeof out->leader, "%s", ci->Leader);
        out->current = 1;
    } else if (!ci || ci->ReplicasLen == 0) {
        out->current = 1;   /* a server without a cluster: it is the stream */
    }
    for (int i = 0; ci && i < ci->ReplicasLen; i++)
        if (ci->Replicas[i]->Current && !ci->Replicas[i]->Offline && ci->Replicas[i]->Lag == 0)
            out->current++;
    jsStreamInfo_Destroy(si);
    return AKIDB_OK;
}

akidb_status ak_jlog_bounds(ak_jlog *l, unsigned shard, uint64_t *first, uint64_t *last)
{
    ak_jlog_shard_info in;
    akidb_status st = ak_jlog_info(l, shard, &in);
    if (st != AKIDB_OK)
        return st;
    if (first)
        *first = in.first;
    if (last)
        *last = in.last;
    return AKIDB_OK;
}

/* An ordered consumer of stream on subject delivering from sequence number
 * from on; one try of at most wait_ms. */
static natsStatus reader_open(ak_jlog *l, const char *stream, const char *subject, uint64_t from,
                              int64_t wait_ms, natsSubscription **sub, jsErrCode *je)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = wait_ms;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from;
    *je = 0;
    return js_SubscribeSync(sub, l->js, subject, &jo, &so, je);
}

static void reader_close(natsSubscription **sub)
{
    if (*sub) {
        natsSubscription_Unsubscribe(*sub);
        natsSubscription_Destroy(*sub);
        *sub = NULL;
    }
}

/* Reads records at .. last one by one from the stream's leader (a request
 * per record, no consumer); *at is the next number wanted. */
static akidb_status read_direct(ak_jlog *l, const char *stream, unsigned shard, uint64_t *at,
                                uint64_t last, ak_jlog_fn fn, void *arg)
{
    double t0 = ak_now();   /* the last progress */
    while (*at <= last) {
        int64_t wait = try_wait(l, t0, TRY_MS);
        natsStatus s = NATS_TIMEOUT;
        jsErrCode je = 0;
        natsMsg *m = NULL;
        if (wait > 0) {
            jsOptions jo;
            jsOptions_Init(&jo);
            jo.Wait = wait;
            s = js_GetMsg(&m, l->js, stream, *at, &jo, &je);
        }
        if (s == NATS_OK) {
            akidb_status st = fn(arg, shard, *at, natsMsg_GetData(m),
                                 (size_t)natsMsg_GetDataLength(m));
            natsMsg_Destroy(m);
            if (st != AKIDB_OK)
                return st;
            (*at)++;
            t0 = ak_now();
            continue;
        }
        if (je == JSNoMessageFoundErr || s == NATS_NOT_FOUND)
            return ak_fail(AKIDB_ENOENT, "JetStream stream %s no longer holds record %llu "
                           "(trimmed)", stream, (unsigned long long)*at);
        if (!transient(s, je) || try_wait(l, t0, TRY_MS) == 0)
            return nfail(AKIDB_EIO, s, je, "reading record %llu of JetStream stream %s",
                         (unsigned long long)*at, stream);
        if (s != NATS_TIMEOUT)   /* a time-out has waited already */
            nats_Sleep(PAUSE_MS);
    }
    return AKIDB_OK;
}

/* Reads records at .. last through an ordered consumer (made again from
 * the next number wanted when it does not come up or stalls); *at is the
 * next number wanted. */
static akidb_status read_consumer(ak_jlog *l, const char *stream, const char *subject,
                                  unsigned shard, uint64_t *at, uint64_t last, ak_jlog_fn fn,
                                  void *arg)
{
    natsSubscription *sub = NULL;
    double t0 = ak_now();   /* the last progress: the call fails wait_ms without any */
    natsStatus why = NATS_OK;   /* the last try's failure */
    jsErrCode why_je = 0;
    const char *stage = "";
    int64_t open_ms = OPEN_TRY_MS;
    akidb_status st = AKIDB_OK;
    while (st == AKIDB_OK && *at <= last) {
        int64_t wait = try_wait(l, t0, TRY_MS);
        if (wait == 0) {
            st = nfail(AKIDB_EIO, why, why_je, "reading JetStream stream %s: no record for "
                       "%.1f s at %llu of %llu (%s)", stream, (double)l->wait_ms / 1000.0,
                       (unsigned long long)*at, (unsigned long long)last, stage);
            break;
        }
        jsErrCode je = 0;
        natsStatus s;
        if (!sub) {
            /* a consumer placed on a dead server never answers: given up
             * soon and made again (each try draws the server anew) */
            s = reader_open(l, stream, subject, *at, wait < open_ms ? wait : open_ms, &sub, &je);
            if (s != NATS_OK) {
                sub = NULL;
                if (!transient(s, je)) {
                    st = nfail(AKIDB_EIO, s, je, "reading JetStream stream %s from %llu",
                               stream, (unsigned long long)*at);
                    break;
                }
                why = s, why_je = je, stage = "making its consumer";
                if (s == NATS_TIMEOUT)
                    open_ms = open_ms * 2 > TRY_MS ? TRY_MS : open_ms * 2;
                else
                    nats_Sleep(PAUSE_MS);
                continue;
            }
        }
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, wait);
        if (s != NATS_OK) {   /* stalled: its consumer was on a server that went away */
            why = s, why_je = 0, stage = "waiting for its consumer";
            reader_close(&sub);
            continue;
        }
        jsMsgMetaData *md = NULL;
        s = natsMsg_GetMetaData(&md, m);
        if (s != NATS_OK) {
            st = nfail(AKIDB_EIO, s, 0, "reading JetStream stream %s: a message without its "
                       "sequence number", stream);
        } else if (md->Sequence.Stream >= *at) {
            /* the ordered consumer delivers each once and in order; a
             * number past `at` is a record the stream no longer holds */
            *at = md->Sequence.Stream;
            st = fn(arg, shard, *at, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
            (*at)++;
            t0 = ak_now();
        }
        jsMsgMetaData_Destroy(md);
        natsMsg_Destroy(m);
    }
    reader_close(&sub);
    return st;
}

akidb_status ak_jlog_read(ak_jlog *l, unsigned shard, uint64_t from, ak_jlog_fn fn, void *arg,
                          uint64_t *next)
{
    AK_ASSERT(l && shard < l->shards && fn && from >= 1);
    if (next)
        *next = from;
    uint64_t first, last;
    akidb_status st = ak_jlog_bounds(l, shard, &first, &last);
    if (st != AKIDB_OK)
        return st;
    if (from > last)
        return AKIDB_OK;
    char stream[NAME_MAX_ + 16], subject[NAME_MAX_ + 16];
    stream_of(l, shard, stream, sizeof stream);
    subject_of(l, shard, subject, sizeof subject);
    if (from < first)
        return ak_fail(AKIDB_ENOENT,
                       "JetStream stream %s keeps records from %llu on; %llu was asked for",
                       stream, (unsigned long long)first, (unsigned long long)from);
    uint64_t at = from;
    if (last - from < DIRECT_MAX)
        st = read_direct(l, stream, shard, &at, last, fn, arg);
    else
        st = read_consumer(l, stream, subject, shard, &at, last, fn, arg);
    if (next)
        *next = at;
    return st;
}

/* ---- watches --------------------------------------------------------------------- */

struct ak_jlog_watch {
    natsSubscription *sub;
    unsigned shard;
    ak_jlog_watch_fn fn;
    void *arg;
    pthread_mutex_t mu;
    bool done;     /* the library will make no more calls (its completion callback ran) */
};

static void watch_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    (void)nc, (void)sub;
    ak_jlog_watch *w = closure;
    jsMsgMetaData *md = NULL;
    if (natsMsg_GetMetaData(&md, m) == NATS_OK)
        w->fn(w->arg, w->shard, md->Sequence.Stream);
    jsMsgMetaData_Destroy(md);
    natsMsg_Destroy(m);
}

static void watch_done(void *closure)
{
    ak_jlog_watch *w = closure;
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_mutex_unlock(&w->mu);
}

akidb_status ak_jlog_watch_start(ak_jlog *l, unsigned shard, ak_jlog_watch_fn fn, void *arg,
                                 ak_jlog_watch **out)
{
    AK_ASSERT(l && shard < l->shards && fn && out);
    *out = NULL;
    char stream[NAME_MAX_ + 16], subject[NAME_MAX_ + 16];
    stream_of(l, shard, stream, sizeof stream);
    subject_of(l, shard, subject, sizeof subject);
    ak_jlog_watch *w = ak_calloc(1, sizeof *w);
    if (!w)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    w->shard = shard;
    w->fn = fn;
    w->arg = arg;
    pthread_mutex_init(&w->mu, NULL);
    jsOptions jo;   /* short: a consumer placed on a dead server never answers, and
                       the caller (replica.c) reads on without a watch meanwhile */
    jsOptions_Init(&jo);
    jo.Wait = l->wait_ms < OPEN_TRY_MS ? l->wait_ms : OPEN_TRY_MS;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;   /* made again by the library from the last number seen */
    so.Config.DeliverPolicy = js_DeliverNew;
    so.Config.HeadersOnly = true;
    jsErrCode je = 0;
    natsStatus s = js_Subscribe(&w->sub, l->js, subject, watch_msg, w, &jo, &so, &je);
    if (s == NATS_OK)
        s = natsSubscription_SetOnCompleteCB(w->sub, watch_done, w);
    if (s != NATS_OK) {
        akidb_status st = nfail(AKIDB_EIO, s, je, "watching JetStream stream %s", stream);
        if (w->sub) {
            natsSubscription_Unsubscribe(w->sub);
            natsSubscription_Destroy(w->sub);
        }
        pthread_mutex_destroy(&w->mu);
        ak_free(w);
        return st;
    }
    *out = w;
    return AKIDB_OK;
}

void ak_jlog_watch_stop(ak_jlog_watch *w)
{
    if (!w)
        return;
    natsSubscription_Unsubscribe(w->sub);
    /* the library calls watch_done once its delivery of the subscription
     * has ended, also when the subscription had ended before */
    double until = ak_now() + 10;
    pthread_mutex_lock(&w->mu);
    while (!w->done && ak_now() < until) {
        pthread_mutex_unlock(&w->mu);
        nats_Sleep(1);
        pthread_mutex_lock(&w->mu);
    }
    bool done = w->done;
    pthread_mutex_unlock(&w->mu);
    natsSubscription_Destroy(w->sub);
    if (!done)
        return;   /* a call might still come: w is left allocated rather than freed under it */
    pthread_mutex_destroy(&w->mu);
    ak_free(w);
}
