/*
 * workq.c - the bounded job queue and its worker threads (see workq.h).
 * A ring buffer of max_pending slots under one mutex; workers sleep on a
 * condition variable.  Jobs are short compared with the lock hold time, so
 * one lock is enough at the request rates one process serves.
 */
#include "server/workq.h"

#include <pthread.h>
#include <string.h>

struct ak_workq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void **ring;
    size_t cap, head, n;        /* ring slots, first job, jobs waiting */
    size_t running;
    bool stopping;
    void (*run)(void *job, void *ctx);
    void *ctx;
    pthread_t *threads;
    size_t n_threads;
};

static void *worker(void *arg)
{
    ak_workq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->n == 0 && !q->stopping)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->n == 0)
            break;   /* stopping and drained */
        void *job = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        q->running++;
        pthread_mutex_unlock(&q->mu);
        q->run(job, q->ctx);
        pthread_mutex_lock(&q->mu);
        q->running--;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

akidb_status ak_workq_start(size_t threads, size_t max_pending,
                            void (*run)(void *job, void *ctx), void *ctx, ak_workq **out)
{
    AK_ASSERT(threads > 0 && max_pending > 0 && run && out);
    *out = NULL;
    ak_workq *q = ak_calloc(1, sizeof *q);
    if (!q)
        return ak_fail(AKIDB_ENOMEM, "out of memory for the request queue");
    q->ring = ak_calloc(max_pending, sizeof *q->ring);
    q->threads = ak_calloc(threads, sizeof *q->threads);
    if (!q->ring || !q->threads) {
        ak_free(q->ring);
        ak_free(q->threads);
        ak_free(q);
        return ak_fail(AKIDB_ENOMEM, "out of memory for the request queue");
    }
    q->cap = max_pending;
    q->run = run;
    q->ctx = ctx;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    for (size_t i = 0; i < threads; i++) {
        int rc = pthread_create(&q->threads[i], NULL, worker, q);
        if (rc != 0) {
            ak_workq_stop(q);
            return ak_fail(AKIDB_EIO, "cannot start request worker %zu of %zu: %s", i + 1,
                           threads, strerror(rc));
        }
        q->n_threads++;
    }
    *out = q;
    return AKIDB_OK;
}

bool ak_workq_submit(ak_workq *q, void *job)
{
    pthread_mutex_lock(&q->mu);
    bool ok = !q->stopping && q->n < q->cap;
    if (ok) {
        q->ring[(q->head + q->n) % q->cap] = job;
        q->n++;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

size_t ak_workq_pending(ak_workq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

size_t ak_workq_running(ak_workq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->running;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void ak_workq_stop(ak_workq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->mu);
    q->stopping = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (size_t i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    ak_free(q->ring);
    ak_free(q->threads);
    ak_free(q);
}
