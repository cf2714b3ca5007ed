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
 * Model: ak_pool_run(fn) runs fn(arg, tid, nt) on nt threads at once, the
 * caller being thread 0 (SPMD, like an OpenMP parallel region); inside fn the
 * threads synchronise with ak_pool_barrier.  One run at a time per pool: the
 * owner serialises callers (model.c uses a mutex and falls back to one thread
 * when the pool is busy).
 */
#include "kernels/kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define SPIN_WAIT_S 20e-3   /* how long an idle worker spins before sleeping */

typedef struct pool_arg {
    struct ak_pool *p;
    int tid;
} pool_arg;

struct ak_pool {
    int size;                 /* threads including the caller */
    int n_workers;            /* started workers (size - 1 unless creation failed) */
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sleeping;             /* under mu */
    _Atomic unsigned gen;     /* run generation */
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

static void *worker(void *a)
{
    struct ak_pool *p = ((pool_arg *)a)->p;
    int tid = ((pool_arg *)a)->tid;
    unsigned seen = 0;
    for (;;) {
        double t0 = 0.0;
        for (unsigned spins = 0;; spins++) {
            if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen ||
                atomic_load_explicit(&p->stop, memory_order_acquire))
                break;
            cpu_relax();
            if ((spins & 255) == 255) {
                double t = ak_now();
                if (t0 == 0.0)
                    t0 = t;
                else if (t - t0 > SPIN_WAIT_S) {
                    pthread_mutex_lock(&p->mu);
                    p->sleeping++;
                    while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                        pthread_cond_wait(&p->cv, &p->mu);
                    p->sleeping--;
                    pthread_mutex_unlock(&p->mu);
                    break;
                }
            }
        }
        if (atomic_load(&p->stop))
            break;
        seen = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (tid < p->nt)
            p->fn(p->arg, tid, p->nt);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
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

void ak_pool_run(ak_pool *p, int n, ak_pool_fn fn, void *arg)
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
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    if (p->sleeping)
        pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, nt);
    for (unsigned spins = 0;
         atomic_load_explicit(&p->done, memory_order_acquire) != p->n_workers; spins++) {
        cpu_relax();
        if (spins > 1024 && (spins & 15) == 0)
            sched_yield();
    }
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
