/*
 * workq.h - a fixed pool of threads running jobs from a bounded FIFO.
 *
 * Why: the HTTP layer's event threads must never block (each serves
 * thousands of connections), while a request may block for a while (an
 * embedding waits for its batch, a write waits for fsync).  The event
 * thread suspends the connection and submits the request here; a worker
 * runs it and resumes the connection.  The bound makes overload visible at
 * once (submit fails: the caller answers 503) instead of a queue that grows
 * without limit.
 */
#ifndef AKIDB_SERVER_WORKQ_H
#define AKIDB_SERVER_WORKQ_H

#include "common/common.h"

typedef struct ak_workq ak_workq;

/* run(job, ctx) is called on one of `threads` workers for every submitted
 * job, in submission order.  At most max_pending jobs wait
 * (running ones not counted).  ENOMEM / EIO (thread creation) with a message. */
akidb_status ak_workq_start(size_t threads, size_t max_pending,
                            void (*run)(void *job, void *ctx), void *ctx, ak_workq **out);

/* Queues job; false (nothing queued) when max_pending jobs already wait or
 * the queue is stopping. */
bool ak_workq_submit(ak_workq *q, void *job);

/* Jobs waiting, and jobs running now. */
size_t ak_workq_pending(ak_workq *q);
size_t ak_workq_running(ak_workq *q);

/* Runs every job already queued, then joins the workers and frees q.
 * NULL is allowed. */
void ak_workq_stop(ak_workq *q);

#endif /* AKIDB_SERVER_WORKQ_H */
