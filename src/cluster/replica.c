/*
 * replica.c - a node's replicas of its shards (replica.h): one thread per
 * held shard applies the shard's stream to the local store, in sequence
 * order, and DIR/cluster/applied remembers how far.
 *
 * Wake-ups: each thread watches its shard (ak_jlog_watch_start: the
 * stream's sequence number of each new record, pushed by JetStream right
 * after it stored the record) and reads from applied + 1 as soon as a
 * number past what it applied comes in.  Watches can miss records while
 * the cluster recovers, so a thread that heard nothing for IDLE_MS asks
 * the stream for its last number anyway (and makes its watch again when
 * that turned up records the watch did not announce).
 *
 * The applied file: "akidb-applied 1" then one "shard <k> <seq>" line per
 * shard ever applied on this node (shards no longer held keep their line).
 * It is replaced (temporary file, fsync, rename, fsync of the folder) at
 * most every SAVE_MS (sooner after SAVE_RECORDS records), within SAVE_MS of
 * the last record applied, when a read fails, and at stop.  It only ever names records the store
 * has made durable: a record counts as applied once akidb_points_upsert &c.
 * returned, and the store fsyncs each write before returning (its default
 * sync mode).
 *
 * Failures: a record that does not decode or apply is logged and skipped
 * (counted in the stats); a read that fails (no quorum, no server) is
 * retried with back-off (RETRY_MIN_MS doubling to RETRY_MAX_MS) and its
 * status kept in the stats; records the stream no longer holds (trimmed)
 * keep the shard where it is, with AKIDB_ENOENT in its stats and a logged
 * error (asked again every TRIMMED_RETRY_MS): such a node is rebuilt from
 * another node's copy in the bucket (src/server/dp_cluster_bk.h).
 *
 * Latency (test_replica prints it): on loopback with one nats-server a
 * record is applied about 1 ms (median) after its append was acknowledged,
 * with the store's fsync of the record included.
 */
#include "cluster/replica.h"

#include "cluster/crec.h"
#include "common/fileio.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define IDLE_MS 250         /* longest sleep without looking at the stream           */
#define SAVE_MS 200         /* the applied file is replaced at most this often ...   */
#define SAVE_RECORDS 1000   /* ... or after this many records                        */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000
#define TRIMMED_RETRY_MS 10000

typedef struct shard_rep {
    struct ak_replica *r;
    unsigned shard;
    pthread_t th;
    bool started;
    pthread_cond_t wake;     /* the thread sleeps on it                             */
    /* under r->mu: */
    uint64_t applied, last, skipped;
    uint64_t start_last;     /* the stream's last number when first asked           */
    bool start_known, caught_up;
    uint64_t heard;          /* highest number a watch announced                    */
    uint64_t watch_base;     /* the stream's last number after the watch was made   */
    bool need_base;
    akidb_status status;
    uint64_t since_save;     /* records applied since the file was saved            */
} shard_rep;

typedef struct saved_entry {
    unsigned shard;
    uint64_t seq;
} saved_entry;

struct ak_replica {
    ak_replica_opts o;
    char *path;              /* DIR/cluster/applied                                 */
    char *folder;            /* DIR/cluster                                         */
    pthread_mutex_t mu;
    pthread_cond_t progress; /* broadcast when a shard applied more                 */
    bool stop;
    shard_rep *sh;
    size_t n;
    saved_entry *saved;      /* the file's lines (held shards' kept current)        */
    size_t n_saved;
    pthread_mutex_t save_mu; /* one writer of the file at a time                    */
    double last_save;
};

/* ---- logging ------------------------------------------------------------- */

static void rlog(ak_replica *r, akidb_log_level lv, const char *fmt, ...) AK_PRINTF(3, 4);

static void rlog(ak_replica *r, akidb_log_level lv, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->o.log_fn)
        r->o.log_fn(r->o.log_ctx, lv, msg);
    else
        fprintf(stderr, "akidb: replica: %s\n", msg);
}

/* ---- time ---------------------------------------------------------------- */

/* Waits on cv (r->mu held) for at most ms milliseconds. */
static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, double ms)
{
    if (ms < 0)
        ms = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long ns = (long long)ts.tv_nsec + (long long)(ms * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_cond_timedwait(cv, mu, &ts);
}

static void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

/* ---- the applied file ------------------------------------------------------ */

static akidb_status load_applied(ak_replica *r)
{
    char *data = NULL;
    size_t len = 0;
    akidb_status st = ak_read_file(r->path, (size_t)1 << 20, &data, &len);
    if (st == AKIDB_ENOENT) {
        ak_clear_error();
        return AKIDB_OK;
    }
    if (st != AKIDB_OK)
        return st;
    size_t cap = 0, line_no = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        unsigned k;
        unsigned long long seq;
        int end = 0;
        if (line_no == 1) {
            if (strcmp(line, "akidb-applied 1") != 0) {
                st = ak_fail(AKIDB_EFORMAT, "%s: line 1 is not 'akidb-applied 1'", r->path);
                break;
            }
            continue;
        }
        if (sscanf(line, "shard %u %llu%n", &k, &seq, &end) != 2 || line[end] != 0) {
            st = ak_fail(AKIDB_EFORMAT, "%s: line %zu is not 'shard <k> <seq>': '%.64s'",
                         r->path, line_no, line);
            break;
        }
        if (r->n_saved == cap) {
            cap = cap ? 2 * cap : 16;
            saved_entry *ns = ak_realloc(r->saved, cap * sizeof *ns);
            if (!ns) {
                st = ak_fail(AKIDB_ENOMEM, "out of memory reading %s", r->path);
                break;
            }
            r->saved = ns;
        }
        r->saved[r->n_saved++] = (saved_entry){ k, (uint64_t)seq };
    }
    if (st == AKIDB_OK && line_no == 0)
        st = ak_fail(AKIDB_EFORMAT, "%s is empty", r->path);
    ak_free(data);
    return st;
}

static saved_entry *saved_of(ak_replica *r, unsigned shard)
{
    for (size_t i = 0; i < r->n_saved; i++)
        if (r->saved[i].shard == shard)
            return &r->saved[i];
    return NULL;
}

/* Replaces the applied file with every shard's applied number. */
static akidb_status save_applied(ak_replica *r)
{
    pthread_mutex_lock(&r->save_mu);
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++) {
        saved_of(r, r->sh[i].shard)->seq = r->sh[i].applied;
        r->sh[i].since_save = 0;
    }
    size_t cap = 32 + r->n_saved * 40;
    char *text = ak_malloc(cap);
    size_t len = 0;
    if (text) {
        len = (size_t)snprintf(text, cap, "akidb-applied 1\n");
        for (size_t i = 0; i < r->n_saved; i++)
            len += (size_t)snprintf(text + len, cap - len, "shard %u %" PRIu64 "\n",
                                    r->saved[i].shard, r->saved[i].seq);
    }
    r->last_save = ak_now();
    pthread_mutex_unlock(&r->mu);
    akidb_status st = text ? ak_io_replace_file(r->path, text, len, 0644, true)
                           : ak_fail(AKIDB_ENOMEM, "out of memory writing %s", r->path);
    ak_free(text);
    if (st != AKIDB_OK)
        rlog(r, AKIDB_LOG_ERROR, "saving how far the shards were applied: %s",
             akidb_last_error());
    pthread_mutex_unlock(&r->save_mu);
    return st;
}

/* Saves when s applied records since the file was written and the file is
 * SAVE_MS old or SAVE_RECORDS records behind (force: whenever s has unsaved
 * records).  Returns how many ms until a save of what is still unsaved is
 * due (IDLE_MS when nothing is). */
static double maybe_save(shard_rep *s, bool force)
{
    ak_replica *r = s->r;
    pthread_mutex_lock(&r->mu);
    double age_ms = (ak_now() - r->last_save) * 1e3;
    bool due = s->since_save > 0 &&
               (force || s->since_save >= SAVE_RECORDS || age_ms >= SAVE_MS);
    bool unsaved = s->since_save > 0;
    pthread_mutex_unlock(&r->mu);
    if (due) {
        save_applied(r);
        return IDLE_MS;
    }
    return unsaved ? SAVE_MS - age_ms : IDLE_MS;
}

/* ---- applying ------------------------------------------------------------ */

typedef struct apply_ctx {
    shard_rep *s;
    ak_arena arena;
} apply_ctx;

static akidb_status apply_one(void *arg, unsigned shard, uint64_t seq, const void *data,
                              size_t len)
{
    apply_ctx *c = arg;
    shard_rep *s = c->s;
    ak_replica *r = s->r;
    ak_arena_reset(&c->arena);
    ak_crec rec;
    akidb_status st = ak_crec_decode(data, len, &c->arena, &rec);
    if (st == AKIDB_OK)
        st = ak_crec_apply(r->o.store, &rec);
    if (st == AKIDB_ENOMEM)   /* not the record's fault: tried again on the next read */
        return st;
    if (st != AKIDB_OK)
        rlog(r, AKIDB_LOG_WARN, "shard %u record %" PRIu64 " skipped: %s (%s)", shard, seq,
             akidb_last_error(), akidb_status_name(st));
    pthread_mutex_lock(&r->mu);
    s->applied = seq;
    if (seq > s->last)
        s->last = seq;
    s->skipped += st != AKIDB_OK;
    s->since_save++;
    if (s->start_known && seq >= s->start_last)
        s->caught_up = true;
    bool stop = r->stop;
    pthread_cond_broadcast(&r->progress);
    pthread_mutex_unlock(&r->mu);
    maybe_save(s, false);
    if (stop)
        return ak_fail(AKIDB_EBUSY, "replica stopping");
    return AKIDB_OK;
}

static void on_watch(void *arg, unsigned shard, uint64_t seq)
{
    (void)shard;
    shard_rep *s = arg;
    pthread_mutex_lock(&s->r->mu);
    if (seq > s->heard)
        s->heard = seq;
    if (seq > s->last)
        s->last = seq;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->r->mu);
}

/* Records a read failure: logged when it is new (not every retry). */
static void set_status(shard_rep *s, akidb_status st)
{
    ak_replica *r = s->r;
    pthread_mutex_lock(&r->mu);
    akidb_status was = s->status;
    s->status = st;
    pthread_mutex_unlock(&r->mu);
    if (st == was)
        return;
    if (st == AKIDB_ENOENT)
        rlog(r, AKIDB_LOG_ERROR,
             "shard %u: the stream no longer holds the records after %" PRIu64
             " (trimmed): this replica stays there, it cannot catch up from the log (a "
             "node is rebuilt from another node's copy in the bucket: akidb serve "
             "--bootstrap-from): %s",
             s->shard, s->applied, akidb_last_error());
    else if (st != AKIDB_OK)
        rlog(r, AKIDB_LOG_WARN, "shard %u: reading the log failed, retrying: %s", s->shard,
             akidb_last_error());
    else
        rlog(r, AKIDB_LOG_INFO, "shard %u: reading the log again (applied up to %" PRIu64 ")",
             s->shard, s->applied);
}

/* Asks the stream for its last number (the first time: the number the
 * shard must reach to be caught up). */
static akidb_status look(shard_rep *s)
{
    ak_replica *r = s->r;
    uint64_t last = 0;
    akidb_status st = ak_jlog_bounds(r->o.log, s->shard, NULL, &last);
    if (st != AKIDB_OK)
        return st;
    pthread_mutex_lock(&r->mu);
    /* a watch may have announced a later record while the stream's answer
     * was on its way: last only grows (else the thread, told of news, would
     * never read that record until another one came) */
    if (last > s->last)
        s->last = last;
    if (s->need_base) {
        s->watch_base = last;
        s->need_base = false;
    }
    if (!s->start_known) {
        s->start_known = true;
        s->start_last = last;
        if (s->applied >= last)
            s->caught_up = true;
        if (s->applied > last)
            rlog(r, AKIDB_LOG_WARN,
                 "shard %u: applied up to %" PRIu64 " but the stream ends at %" PRIu64
                 ": is this the same log?",
                 s->shard, s->applied, last);
    }
    pthread_mutex_unlock(&r->mu);
    return AKIDB_OK;
}

/* Sleeps until a watch announces a record past what was applied, the
 * replica stops or ms pass; true when something was announced. */
static bool sleep_for_news(shard_rep *s, double ms)
{
    ak_replica *r = s->r;
    double until = ak_now() + ms / 1e3;
    pthread_mutex_lock(&r->mu);
    while (!r->stop && s->heard <= s->applied && ak_now() < until)
        timed_wait(&s->wake, &r->mu, (until - ak_now()) * 1e3);
    bool news = s->heard > s->applied;
    pthread_mutex_unlock(&r->mu);
    return news;
}

static bool stopping(ak_replica *r)
{
    pthread_mutex_lock(&r->mu);
    bool stop = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

static void *shard_main(void *arg)
{
    shard_rep *s = arg;
    ak_replica *r = s->r;
    apply_ctx c = { .s = s };
    ak_arena_init(&c.arena, 64 << 10);
    ak_jlog_watch *w = NULL;
    double backoff = RETRY_MIN_MS;
    bool news = false;
    while (!stopping(r)) {
        if (!w) {
            if (ak_jlog_watch_start(r->o.log, s->shard, on_watch, s, &w) != AKIDB_OK)
                w = NULL;   /* reads go on; made again on the next round */
            pthread_mutex_lock(&r->mu);
            s->need_base = w != NULL;
            pthread_mutex_unlock(&r->mu);
            news = false;
        }
        akidb_status st = AKIDB_OK;
        if (!news)   /* no announcement: is there anything to read? */
            st = look(s);
        pthread_mutex_lock(&r->mu);
        uint64_t from = s->applied + 1, last = s->last;
        pthread_mutex_unlock(&r->mu);
        if (st == AKIDB_OK && last >= from)
            st = ak_jlog_read(r->o.log, s->shard, from, apply_one, &c, NULL);
        if (st == AKIDB_EBUSY && stopping(r))
            break;
        set_status(s, st);
        if (st != AKIDB_OK) {
            double ms = st == AKIDB_ENOENT ? TRIMMED_RETRY_MS : backoff;
            backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
            maybe_save(s, true);
            news = sleep_for_news(s, ms);
            continue;
        }
        backoff = RETRY_MIN_MS;
        /* records stored after the watch began that it did not announce
         * (a round woken by the clock, not by the watch): make it again */
        pthread_mutex_lock(&r->mu);
        bool missed = w && !news && !s->need_base && s->applied > s->heard &&
                      s->applied > s->watch_base;
        uint64_t known = s->heard > s->watch_base ? s->heard : s->watch_base;
        uint64_t applied = s->applied;
        pthread_mutex_unlock(&r->mu);
        if (missed) {
            rlog(r, AKIDB_LOG_INFO,
                 "shard %u: records %" PRIu64 "..%" PRIu64
                 " came unannounced; watching the stream anew",
                 s->shard, known + 1, applied);
            ak_jlog_watch_stop(w);
            w = NULL;
        }
        /* the file is saved once SAVE_MS passed, also when nothing more comes */
        double save_in = maybe_save(s, false);
        news = sleep_for_news(s, save_in < IDLE_MS ? save_in : IDLE_MS);
    }
    ak_jlog_watch_stop(w);
    ak_arena_free(&c.arena);
    return NULL;
}

/* ---- the handle ---------------------------------------------------------- */

static void replica_free(ak_replica *r)
{
    for (size_t i = 0; r->sh && i < r->n; i++)
        pthread_cond_destroy(&r->sh[i].wake);
    pthread_cond_destroy(&r->progress);
    pthread_mutex_destroy(&r->mu);
    pthread_mutex_destroy(&r->save_mu);
    ak_free(r->sh);
    ak_free(r->saved);
    ak_free(r->path);
    ak_free(r->folder);
    ak_free(r);
}

/* Reads the file, makes the folder and a shard_rep per held shard. */
static akidb_status replica_setup(ak_replica *r)
{
    const ak_replica_opts *o = &r->o;
    r->folder = ak_path_join(o->dir, "cluster");
    r->path = r->folder ? ak_path_join(r->folder, "applied") : NULL;
    r->sh = ak_calloc(o->n_shards, sizeof *r->sh);
    if (!r->path || !r->sh)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    if (mkdir(r->folder, 0755) != 0 && errno != EEXIST)
        return ak_fail(ak_io_status(errno), "mkdir %s: %s", r->folder, strerror(errno));
    akidb_status st = load_applied(r);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < o->n_shards; i++) {
        for (size_t j = 0; j < i; j++)
            if (o->shards[j] == o->shards[i])
                return ak_fail(AKIDB_EINVAL, "shard %u is listed twice", o->shards[i]);
        shard_rep *s = &r->sh[i];
        s->r = r;
        s->shard = o->shards[i];
        cond_init_mono(&s->wake);
        r->n = i + 1;
        saved_entry *e = saved_of(r, s->shard);
        if (!e) {
            saved_entry *ns = ak_realloc(r->saved, (r->n_saved + 1) * sizeof *ns);
            if (!ns)
                return ak_fail(AKIDB_ENOMEM, "out of memory");
            r->saved = ns;
            e = &r->saved[r->n_saved++];
            *e = (saved_entry){ s->shard, 0 };
        }
        s->applied = s->last = e->seq;
    }
    return AKIDB_OK;
}

akidb_status ak_replica_start(const ak_replica_opts *o, ak_replica **out)
{
    AK_ASSERT(o && out && o->log && o->store && o->dir && (o->shards || !o->n_shards));
    *out = NULL;
    ak_replica *r = ak_calloc(1, sizeof *r);
    if (!r)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    r->o = *o;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->save_mu, NULL);
    cond_init_mono(&r->progress);
    akidb_status st = replica_setup(r);
    for (size_t i = 0; st == AKIDB_OK && i < r->n; i++) {
        if (pthread_create(&r->sh[i].th, NULL, shard_main, &r->sh[i]) != 0)
            st = ak_fail(AKIDB_EIO, "starting the thread of shard %u", r->sh[i].shard);
        else
            r->sh[i].started = true;
    }
    if (st != AKIDB_OK) {
        ak_replica_stop(r);
        return st;
    }
    *out = r;
    return AKIDB_OK;
}

void ak_replica_stop(ak_replica *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    for (size_t i = 0; i < r->n; i++)
        pthread_cond_signal(&r->sh[i].wake);
    pthread_cond_broadcast(&r->progress);
    pthread_mutex_unlock(&r->mu);
    bool any = false;
    for (size_t i = 0; i < r->n; i++)
        if (r->sh[i].started) {
            pthread_join(r->sh[i].th, NULL);
            any = true;
        }
    if (any)
        save_applied(r);
    replica_free(r);
}

static shard_rep *find_shard(ak_replica *r, unsigned shard)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->sh[i].shard == shard)
            return &r->sh[i];
    return NULL;
}

akidb_status ak_replica_wait(ak_replica *r, unsigned shard, uint64_t seq, double timeout_s)
{
    AK_ASSERT(r);
    shard_rep *s = find_shard(r, shard);
    if (!s)
        return ak_fail(AKIDB_EINVAL, "shard %u is not held by this node", shard);
    double t0 = ak_now(), until = t0 + timeout_s;
    pthread_mutex_lock(&r->mu);
    while (s->applied < seq && !r->stop && ak_now() < until)
        timed_wait(&r->progress, &r->mu, (until - ak_now()) * 1e3);
    uint64_t applied = s->applied;
    akidb_status why = s->status;
    pthread_mutex_unlock(&r->mu);
    if (applied >= seq)
        return AKIDB_OK;
    return ak_fail(AKIDB_EBUSY,
                   "shard %u: record %" PRIu64 " not applied after %.1f s: applied up to %" PRIu64
                   "%s%s",
                   shard, seq, ak_now() - t0, applied, why != AKIDB_OK ? "; log reads fail: " : "",
                   why != AKIDB_OK ? akidb_status_name(why) : "");
}

size_t ak_replica_stats(ak_replica *r, ak_replica_shard_stats *out, size_t n)
{
    AK_ASSERT(r && (out || !n));
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < n && i < r->n; i++) {
        const shard_rep *s = &r->sh[i];
        out[i] = (ak_replica_shard_stats){ .shard = s->shard, .applied = s->applied,
                                           .last = s->last, .skipped = s->skipped,
                                           .status = s->status };
    }
    size_t held = r->n;
    pthread_mutex_unlock(&r->mu);
    return held;
}

int ak_replica_caught_up(ak_replica *r)
{
    AK_ASSERT(r);
    pthread_mutex_lock(&r->mu);
    int ok = 1;
    for (size_t i = 0; i < r->n; i++)
        if (!r->sh[i].caught_up)
            ok = 0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}
