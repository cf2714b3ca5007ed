/*
 * jlog.c - the sharded write log on NATS JetStream (jlog.h says what it
 * guarantees and why JetStream).
 *
 * Appends are synchronous publishes that wait for the stream's
 * acknowledgement (stored on a quorum); with a message id they are retried
 * while the cluster elects a leader (no responders, time-outs), which the
 * duplicate window makes safe.  Reads use an ordered consumer (the client
 * library's flow-controlled, gap-checked push consumer that recreates
 * itself after a reconnect) starting at the wanted sequence number, and
 * stop at the last sequence number the stream had when the read began.
 */
#include "cluster/jlog.h"

#include <nats/nats.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_ 32
#define RECORD_MAX ((size_t)1 << 20)

struct ak_jlog {
    natsConnection *nc;
    jsCtx *js;
    char name[NAME_MAX_ + 1];
    unsigned shards;
    int64_t wait_ms;
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
    if (s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS)
        return ak_fail(st, "%s: no answer in time (%s); is a quorum of the stream's servers up?",
                       msg, natsStatus_GetText(s));
    if (je)
        return ak_fail(st, "%s: JetStream error %d: %s", msg, (int)je, last);
    return ak_fail(st, "%s: %s", msg, last);
}

static bool name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > NAME_MAX_)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
              (n[i] >= '0' && n[i] <= '9') || n[i] == '_' || n[i] == '-'))
            return false;
    return true;
}

static void stream_of(const ak_jlog *l, unsigned shard, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s_%u", l->name, shard);
}

static void subject_of(const ak_jlog *l, unsigned shard, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%u", l->name, shard);
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
    natsStatus s = js_GetStreamInfo(&si, l->js, stream, NULL, &je);
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
        je = 0;
        s = js_AddStream(&si, l->js, &sc, NULL, &je);
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
    jsStreamInfo_Destroy(si);
    return st;
}

akidb_status ak_jlog_open(const ak_jlog_opts *o, ak_jlog **out)
{
    AK_ASSERT(o && out);
    *out = NULL;
    if (!name_ok(o->name))
        return ak_fail(AKIDB_EINVAL, "log name '%s' must be 1..%d of [A-Za-z0-9_-]",
                       o->name ? o->name : "", NAME_MAX_);
    if (o->shards < 1 || o->shards > 1024)
        return ak_fail(AKIDB_EINVAL, "shards %u: must be 1..1024", o->shards);
    if (o->replicas < 1 || o->replicas > 5)
        return ak_fail(AKIDB_EINVAL, "replicas %u: must be 1..5", o->replicas);
    ak_jlog *l = ak_calloc(1, sizeof *l);
    if (!l)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    memcpy(l->name, o->name, strlen(o->name) + 1);
    l->shards = o->shards;
    l->wait_ms = (int64_t)((o->timeout_s > 0 ? o->timeout_s : 5.0) * 1000);
    const char *servers = o->servers && *o->servers ? o->servers : "nats://127.0.0.1:4222";
    /* the list split into its URLs (the library's SetURL does not take a
     * list reliably; SetServers does) */
    char list[1024];
    const char *urls[16];
    int n_urls = 0;
    if (strlen(servers) >= sizeof list) {
        ak_free(l);
        return ak_fail(AKIDB_EINVAL, "NATS server list of %zu bytes: at most %zu",
                       strlen(servers), sizeof list - 1);
    }
    memcpy(list, servers, strlen(servers) + 1);
    char *save = NULL;
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (n_urls == 16) {
            ak_free(l);
            return ak_fail(AKIDB_EINVAL, "NATS server list '%s': at most 16 servers", servers);
        }
        urls[n_urls++] = t;
    }
    if (n_urls == 0) {
        ak_free(l);
        return ak_fail(AKIDB_EINVAL, "NATS server list '%s' names no server", servers);
    }
    natsOptions *no = NULL;
    natsStatus s = natsOptions_Create(&no);
    if (s == NATS_OK)
        s = natsOptions_SetServers(no, urls, n_urls);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(no, l->wait_ms);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(no, -1);   /* keep trying: the log outlives a server */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(no, 250);
    if (s == NATS_OK)
        s = natsOptions_SetName(no, "akidb");
    if (s == NATS_OK)
        s = natsConnection_Connect(&l->nc, no);
    natsOptions_Destroy(no);
    akidb_status st = AKIDB_OK;
    if (s != NATS_OK) {
        st = nfail(AKIDB_EIO, s, 0, "connecting to NATS at %s", servers);
    } else {
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.Wait = l->wait_ms;
        s = natsConnection_JetStream(&l->js, l->nc, &jo);
        if (s != NATS_OK)
            st = nfail(AKIDB_EIO, s, 0, "JetStream context on %s", servers);
    }
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

/* A publish failure worth another try with the same message id: the
 * stream has no leader for a moment (election, a server restarting). */
static bool transient(natsStatus s)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS || s == NATS_CONNECTION_DISCONNECTED ||
           s == NATS_CONNECTION_CLOSED;
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
    po.MaxWait = l->wait_ms;
    double until = ak_now() + (double)l->wait_ms / 1000.0;
    for (;;) {
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
        if (!msg_id || !transient(s) || ak_now() >= until)
            return nfail(AKIDB_EIO, s, je, "appending %zu bytes to JetStream stream %s", len,
                         stream);
        nats_Sleep(100);
    }
}

akidb_status ak_jlog_bounds(ak_jlog *l, unsigned shard, uint64_t *first, uint64_t *last)
{
    AK_ASSERT(l && shard < l->shards);
    char stream[NAME_MAX_ + 16];
    stream_of(l, shard, stream, sizeof stream);
    jsStreamInfo *si = NULL;
    jsErrCode je = 0;
    natsStatus s = js_GetStreamInfo(&si, l->js, stream, NULL, &je);
    if (s != NATS_OK)
        return nfail(s == NATS_NOT_FOUND ? AKIDB_ENOENT : AKIDB_EIO, s, je,
                     "reading JetStream stream %s", stream);
    if (first)
        *first = si->State.Msgs ? si->State.FirstSeq : si->State.LastSeq + 1;
    if (last)
        *last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return AKIDB_OK;
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
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = from;
    natsSubscription *sub = NULL;
    jsErrCode je = 0;
    natsStatus s = js_SubscribeSync(&sub, l->js, subject, NULL, &so, &je);
    if (s != NATS_OK)
        return nfail(AKIDB_EIO, s, je, "reading JetStream stream %s from %llu", stream,
                     (unsigned long long)from);
    uint64_t at = from;
    while (st == AKIDB_OK && at <= last) {
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, sub, l->wait_ms);
        if (s != NATS_OK) {
            st = nfail(AKIDB_EIO, s, 0, "reading JetStream stream %s: stalled at %llu of %llu",
                       stream, (unsigned long long)at, (unsigned long long)last);
            break;
        }
        jsMsgMetaData *md = NULL;
        s = natsMsg_GetMetaData(&md, m);
        if (s != NATS_OK) {
            st = nfail(AKIDB_EIO, s, 0, "reading JetStream stream %s: a message without its "
                       "sequence number", stream);
        } else if (md->Sequence.Stream >= at) {
            /* the ordered consumer delivers each once and in order; a
             * number past `at` is a record the stream no longer holds */
            at = md->Sequence.Stream;
            st = fn(arg, shard, at, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
            at++;
        }
        jsMsgMetaData_Destroy(md);
        natsMsg_Destroy(m);
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    if (next)
        *next = at;
    return st;
}
