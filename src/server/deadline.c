/*
 * deadline.c - header and body deadlines of the HTTP connections (see
 * deadline.h): a list of the open connections with the time each must
 * leave its phase by, and a sweeper thread that shuts down the sockets of
 * those past it.  One mutex guards the list; the HTTP layer takes it three
 * times per request (headers in, body in, completed), a few additions each.
 * The sweeper walks the list a few times per shortest deadline (at most
 * once a second), so a connection is cut at most that late.
 */
#include "server/deadline.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { DL_HEADERS, DL_BODY, DL_HANDLED, DL_NEXT, DL_CUT };

struct ak_dl_conn {
    ak_dl_conn *prev, *next;
    int fd;
    int phase;                   /* DL_*                                      */
    double until;                /* ak_now() deadline of the phase; 0: none   */
};

struct ak_deadlines {
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* wakes the sweeper to stop                 */
    ak_dl_conn *head;
    double header_s, body_s, next_s;
    double tick_s;
    bool stopping;
    ak_metrics *metrics;
    pthread_t thread;
};

/* The deadline of phase from now (0: none). */
static double until_of(const ak_deadlines *d, int phase)
{
    double s = phase == DL_HEADERS ? d->header_s
               : phase == DL_BODY  ? d->body_s
               : phase == DL_NEXT  ? d->next_s
                                   : 0;
    return s > 0 ? ak_now() + s : 0;
}

/* Shuts down every connection past its deadline; counts them by phase. */
static void sweep(ak_deadlines *d, uint64_t *header, uint64_t *body)
{
    double now = ak_now();
    for (ak_dl_conn *c = d->head; c; c = c->next) {
        if (c->until <= 0 || now < c->until)
            continue;
        /* Under d->mu: the record is alive, so libmicrohttpd has not
         * closed c->fd yet (ak_dl_close runs first). */
        shutdown(c->fd, SHUT_RDWR);
        if (c->phase == DL_BODY)
            (*body)++;
        else
            (*header)++;
        c->phase = DL_CUT;
        c->until = 0;
    }
}

static void *sweeper(void *arg)
{
    ak_deadlines *d = arg;
    pthread_mutex_lock(&d->mu);
    while (!d->stopping) {
        uint64_t header = 0, body = 0;
        sweep(d, &header, &body);
        if (header || body) {
            pthread_mutex_unlock(&d->mu);
            ak_metrics_deadline_drops(d->metrics, header, body);
            pthread_mutex_lock(&d->mu);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = ts.tv_nsec + (long)(d->tick_s * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        while (!d->stopping && pthread_cond_timedwait(&d->cv, &d->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

akidb_status ak_deadlines_start(double header_s, double body_s, double next_s, ak_metrics *m,
                                ak_deadlines **out)
{
    *out = NULL;
    if (header_s <= 0 && body_s <= 0)
        return AKIDB_OK;
    ak_deadlines *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    d->header_s = header_s > 0 ? header_s : 0;
    d->body_s = body_s > 0 ? body_s : 0;
    d->next_s = header_s > 0 && next_s > 0 ? next_s : 0;
    /* a quarter of the shortest deadline, from 50 ms to 1 s */
    double shortest = d->header_s > 0 && (d->body_s <= 0 || d->header_s < d->body_s)
                          ? d->header_s
                          : d->body_s;
    d->tick_s = shortest / 4 < 0.05 ? 0.05 : shortest / 4 > 1 ? 1 : shortest / 4;
    d->metrics = m;
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&d->thread, NULL, sweeper, d);
    if (rc != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        ak_free(d);
        return ak_fail(AKIDB_EIO, "cannot start the HTTP deadline thread: %s", strerror(rc));
    }
    *out = d;
    return AKIDB_OK;
}

void ak_deadlines_stop(ak_deadlines *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    /* The listener has closed every connection; whatever is left was never
     * reported closed (not expected), and is only freed. */
    for (ak_dl_conn *c = d->head, *n; c; c = n) {
        n = c->next;
        ak_free(c);
    }
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    ak_free(d);
}

ak_dl_conn *ak_dl_open(ak_deadlines *d, int fd)
{
    if (!d)
        return NULL;
    ak_dl_conn *c = ak_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->phase = DL_HEADERS;
    pthread_mutex_lock(&d->mu);
    c->until = until_of(d, DL_HEADERS);
    c->next = d->head;
    if (d->head)
        d->head->prev = c;
    d->head = c;
    pthread_mutex_unlock(&d->mu);
    return c;
}

void ak_dl_close(ak_deadlines *d, ak_dl_conn *c)
{
    if (!d || !c)
        return;
    pthread_mutex_lock(&d->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        d->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&d->mu);
    ak_free(c);
}

/* Moves c into phase (a cut connection stays cut). */
static void set_phase(ak_deadlines *d, ak_dl_conn *c, int phase)
{
    if (!d || !c)
        return;
    pthread_mutex_lock(&d->mu);
    if (c->phase != DL_CUT && c->phase != phase) {
        c->phase = phase;
        c->until = until_of(d, phase);
    }
    pthread_mutex_unlock(&d->mu);
}

void ak_dl_body(ak_deadlines *d, ak_dl_conn *c) { set_phase(d, c, DL_BODY); }
void ak_dl_handled(ak_deadlines *d, ak_dl_conn *c) { set_phase(d, c, DL_HANDLED); }
void ak_dl_next(ak_deadlines *d, ak_dl_conn *c) { set_phase(d, c, DL_NEXT); }
