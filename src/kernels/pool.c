/*
 * pool.c - a persistent pool of worker threads for the forward pass.
 *
 * Why: a single text takes a few milliseconds; creating threads per call
 * (tens of microseconds each) and waking them through the kernel would eat
 * a visible share of that.  The workers live as long as the pool (one per
 * model), spin for up to SPIN_WAIT_S after each run waiting for the next
 * one, then sleep on a condition variable so that an idle server burns no
 * CPU.  The window is long on purpose: a server embedding one query every
 * few milliseconds would otherwise put the workers to sleep between
 * requests, and waking a sleeping worker on an idle (virtual) CPU costs more
 * than the second thread saves - measured with single texts every 10 ms,
 * 2 threads took 5.0 ms (p50) with a 0.3 ms window against 3.7 ms on one
 * thread, and 2.4 ms with this window.
 *
 * After SPIN_YIELD_S of spinning a worker yields between checks, so that
 * on an oversubscribed machine (more runnable threads than CPUs) an idle
 * worker does not take CPU time from the thread it is waiting for.
 *
 * Model: ak_pool_run(fn) runs fn(arg, tid, nt) on nt threads at once, the
 * caller being thread 0 (SPMD, like an OpenMP parallel region); inside fn the
 * threads synchronise with ak_pool_barrier.  ak_pool_run_any is the same
 * with the workers optional: a worker enters a run only while it is open
 * (p->run counts those that did), the caller closes it when its own fn
 * returns and waits only for the workers that entered.  Its fn shares work
 * through ak_task lists (items taken from a counter, a step complete when
 * all its items are), so a worker that is asleep or preempted costs the run
 * the items it holds, not a fixed share: on 2 vCPUs shared with other work,
 * a static split with barriers made every step wait for the slower thread.
 * One run at a time per pool: the owner serialises callers (model.c uses a
 * mutex and falls back to one thread when the pool is busy).
 */
#include "kernels/kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define SPIN_WAIT_S 20e-3   /* how long an idle worker spins before sleeping */
#define SPIN_YIELD_S 200e-6 /* ... and after how long it yields between checks */

typedef struct pool_arg {
    struct ak_pool *p;
    int tid;
} pool_arg;

/* p->run: generation << 32 | RUN_CLOSED | workers that entered the run */
#define RUN_CLOSED ((uint64_t)1 << 31)
#define RUN_COUNT ((uint64_t)RUN_CLOSED - 1)

struct ak_pool {
    int size;                 /* threads including the caller */
    int n_workers;            /* started workers (size - 1 unless creation failed) */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sleeping;             /* under mu */
    _Atomic uint64_t run;     /* the current run: see RUN_CLOSED */
    _Atomic int stop;
    _Atomic int done;         /* workers that finished the current run */
    ak_pool_fn fn;
    void *arg;
    int nt;
    _Atomic unsigned bar_count, bar_gen;
    pool_arg *args;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* Waits (spinning, then yielding, then asleep) until run generation of the
 * pool differs from seen or the pool stops. */
static void worker_wait(struct ak_pool *p, uint32_t seen)
{
    double t0 = 0.0;
    for (unsigned spins = 0;; spins++) {
        if ((uint32_t)(atomic_load_explicit(&p->run, memory_order_acquire) >> 32) != seen ||
            atomic_load_explicit(&p->stop, memory_order_acquire))
            return;
        cpu_relax();
        if ((spins & 255) != 255)
            continue;
        double t = ak_now();
        if (t0 == 0.0) {
            t0 = t;
        } else if (t - t0 > SPIN_WAIT_S) {
            pthread_mutex_lock(&p->mu);
            p->sleeping++;
            while ((uint32_t)(atomic_load(&p->run) >> 32) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            p->sleeping--;
            pthread_mutex_unlock(&p->mu);
            return;
        } else if (t - t0 > SPIN_YIELD_S) {
            /* other threads want this CPU (perhaps the caller itself, on an
             * oversubscribed machine): let them run between checks */
            sched_yield();
        }
    }
}

static void *worker(void *a)
{
    struct ak_pool *p = ((pool_arg *)a)->p;
    uint32_t seen = 0;   /* the generation before the first run */
    for (;;) {
        worker_wait(p, seen);
        if (atomic_load(&p->stop))
            break;
        /* enter the run unless it is closed or has its threads already */
        uint64_t r = atomic_load_explicit(&p->run, memory_order_acquire);
        for (;;) {
            seen = (uint32_t)(r >> 32);
            if ((r & RUN_CLOSED) || (int)(r & RUN_COUNT) + 1 >= p->nt)
                break;
            if (atomic_compare_exchange_weak_explicit(&p->run, &r, r + 1, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                int tid = (int)(r & RUN_COUNT) + 1;
                p->fn(p->arg, tid, p->nt);
                atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
                break;
            }
        }
    }
    return NULL;
}

ak_pool *ak_pool_new(int n_threads)
{
    if (n_threads < 1)
        n_threads = 1;
    struct ak_pool *p = ak_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->size = 1;
    if (n_threads > 1) {
        p->tids = ak_calloc((size_t)n_threads, sizeof *p->tids);
        p->args = ak_calloc((size_t)n_threads, sizeof *p->args);
        if (!p->tids || !p->args) {
            ak_free(p->tids);
            ak_free(p->args);
            ak_free(p);
            return NULL;
        }
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int t = 1; t < n_threads; t++) {
        p->args[t].p = p;
        p->args[t].tid = t;
        if (pthread_create(&p->tids[t], NULL, worker, &p->args[t]) != 0)
            break;
        p->n_workers++;
        p->size++;
    }
    return p;
}

void ak_pool_free(ak_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t <= p->n_workers; t++)
        pthread_join(p->tids[t], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    ak_free(p->tids);
    ak_free(p->args);
    ak_free(p);
}

int ak_pool_size(const ak_pool *p)
{
    return p ? p->size : 1;
}

/* Starts a run of fn on up to nt threads, runs the caller's part, then
 * waits for the workers: every nt - 1 of them when all is set, else only
 * those that entered before the run was closed. */
static void run(ak_pool *p, int n, ak_pool_fn fn, void *arg, int all)
{
    int nt = p ? (n < p->size ? n : p->size) : 1;
    if (nt <= 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->nt = nt;
    atomic_store(&p->done, 0);
    atomic_store(&p->bar_count, 0);
    uint64_t gen = (atomic_load(&p->run) >> 32) + 1;
    atomic_store_explicit(&p->run, gen << 32, memory_order_release);
    pthread_mutex_lock(&p->mu);
    if (p->sleeping)
        pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, nt);
    /* close the run: workers that have not entered it by now stay out (a
     * run of all threads is full by the time they are done) */
    int want = nt - 1;
    if (!all)
        want = (int)(atomic_fetch_or(&p->run, RUN_CLOSED) & RUN_COUNT);
    for (unsigned spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) != want;
         spins++) {
        cpu_relax();
        if (spins > 1024 && (spins & 15) == 0)
            sched_yield();
    }
}

void ak_pool_run(ak_pool *p, int n, ak_pool_fn fn, void *arg)
{
    run(p, n, fn, arg, 1);
}

void ak_pool_run_any(ak_pool *p, int n, ak_pool_fn fn, void *arg)
{
    run(p, n, fn, arg, 0);
}

void ak_pool_barrier(ak_pool *p, int nt)
{
    if (!p || nt <= 1)
        return;
    unsigned g = atomic_load_explicit(&p->bar_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == (unsigned)nt - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_store_explicit(&p->bar_gen, g + 1, memory_order_release);
        return;
    }
    /* spin briefly, then give the CPU to whoever is runnable (on a busy
     * machine the thread we wait for may be waiting for a CPU) */
    for (unsigned spins = 0; atomic_load_explicit(&p->bar_gen, memory_order_acquire) == g; spins++) {
        cpu_relax();
        if (spins > 1024 && (spins & 15) == 0)
            sched_yield();
    }
}

/* ---- shared work lists ------------------------------------------------------ */

size_t ak_task_next(ak_task *t)
{
    return atomic_fetch_add_explicit(&t->next, 1, memory_order_relaxed);
}

void ak_task_done(ak_task *t)
{
    atomic_fetch_add_explicit(&t->done, 1, memory_order_release);
}

void ak_task_wait(ak_task *t, size_t n)
{
    /* the items left belong to threads that are running them (or were
     * preempted while doing so): spin briefly, then give the CPU away */
    for (unsigned spins = 0; atomic_load_explicit(&t->done, memory_order_acquire) < n; spins++) {
        cpu_relax();
        if (spins > 1024 && (spins & 15) == 0)
            sched_yield();
    }
}
