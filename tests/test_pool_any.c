/*
 * test_pool_any.c - the thread pool's runs with optional workers
 * (ak_pool_run_any) and its shared work lists (ak_task), which the encoder
 * forward uses so that a preempted or sleeping worker does not hold up a
 * single text: every item of every step is done exactly once and a step
 * sees all of the previous one, whatever the pool size and thread count;
 * a worker that is late (held up inside the run, or asleep when the run
 * starts) leaves its items to the caller; barrier runs (ak_pool_run)
 * interleaved with such runs still get every thread.
 */
#include "akt.h"
#include "kernels/kernels.h"

#include <stdatomic.h>
#include <time.h>

#define STEPS 6
#define ITEMS 97

typedef struct chain {
    ak_task tasks[STEPS];
    int v[STEPS + 1][ITEMS];   /* step s fills row s + 1 from row s */
    _Atomic int runs[ITEMS * STEPS];
    _Atomic int by_tid[8];
    _Atomic int entered;
    _Atomic int bad_tid;       /* a tid outside 0 .. nt - 1 was seen */
    int late_tid;              /* > 0: workers sleep late_ms before working */
    int late_ms;
} chain;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void chain_fn(void *arg, int tid, int nt)
{
    chain *c = arg;
    if (tid < 0 || tid >= nt || nt > 8) {   /* no assertion off the main thread */
        atomic_store(&c->bad_tid, 1);
        return;
    }
    atomic_fetch_add(&c->entered, 1);
    if (c->late_tid && tid > 0)
        sleep_ms(c->late_ms);
    for (int s = 0; s < STEPS; s++) {
        ak_task *t = &c->tasks[s];
        for (size_t i = ak_task_next(t); i < ITEMS; i = ak_task_next(t)) {
            /* reads items of the previous step that other threads wrote */
            int a = c->v[s][i], b = c->v[s][ITEMS - 1 - i];
            c->v[s + 1][i] = a * 3 + b + s;
            atomic_fetch_add(&c->runs[s * ITEMS + i], 1);
            atomic_fetch_add(&c->by_tid[tid], 1);
            ak_task_done(t);
        }
        ak_task_wait(t, ITEMS);
    }
}

static void chain_init(chain *c)
{
    memset(c, 0, sizeof *c);
    for (int s = 0; s < STEPS; s++) {
        atomic_init(&c->tasks[s].next, 0);
        atomic_init(&c->tasks[s].done, 0);
    }
    for (int i = 0; i < ITEMS; i++)
        c->v[0][i] = i * 7 - 40;
}

/* The result of the chain computed on one thread. */
static void chain_want(int want[ITEMS])
{
    int a[ITEMS], b[ITEMS];
    for (int i = 0; i < ITEMS; i++)
        a[i] = i * 7 - 40;
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < ITEMS; i++)
            b[i] = a[i] * 3 + a[ITEMS - 1 - i] + s;
        memcpy(a, b, sizeof a);
    }
    memcpy(want, a, sizeof a);
}

static void chain_check(chain *c)
{
    int want[ITEMS];
    chain_want(want);
    AKT_EQ_INT(memcmp(c->v[STEPS], want, sizeof want), 0);
    for (int i = 0; i < ITEMS * STEPS; i++)
        AKT_EQ_INT(atomic_load(&c->runs[i]), 1);
    int total = 0;
    for (int t = 0; t < 8; t++)
        total += atomic_load(&c->by_tid[t]);
    AKT_EQ_INT(total, ITEMS * STEPS);
    AKT_EQ_INT(atomic_load(&c->bad_tid), 0);
}

AKT_TEST(every_item_once)
{
    static chain c;
    for (int size = 1; size <= 4; size++) {
        ak_pool *p = ak_pool_new(size);
        AKT_TRUE(p != NULL);
        for (int n = 1; n <= size + 1; n++)
            for (int rep = 0; rep < 20; rep++) {
                chain_init(&c);
                ak_pool_run_any(p, n, chain_fn, &c);
                chain_check(&c);
                AKT_LE_INT(atomic_load(&c.entered), n < size ? n : size);
            }
        ak_pool_free(p);
    }
    chain_init(&c);   /* no pool: the caller alone */
    ak_pool_run_any(NULL, 4, chain_fn, &c);
    chain_check(&c);
    AKT_EQ_INT(atomic_load(&c.by_tid[0]), ITEMS * STEPS);
}

AKT_TEST(late_worker_leaves_its_share)
{
    static chain c;
    ak_pool *p = ak_pool_new(2);
    AKT_TRUE(p != NULL);
    for (int rep = 0; rep < 3; rep++) {
        chain_init(&c);
        c.late_tid = 1;
        c.late_ms = 100;   /* far longer than the caller needs for all items */
        ak_pool_run_any(p, 2, chain_fn, &c);
        chain_check(&c);
        /* a worker that entered slept through the whole run: the caller did
         * every item; one that did not enter never ran */
        AKT_EQ_INT(atomic_load(&c.by_tid[0]), ITEMS * STEPS);
        AKT_EQ_INT(atomic_load(&c.by_tid[1]), 0);
    }
    ak_pool_free(p);
}

typedef struct probe {
    ak_pool *pool;
    _Atomic int count[8];
} probe;

static void barrier_fn(void *arg, int tid, int nt)
{
    probe *pr = arg;
    for (int r = 0; r < 10; r++) {
        atomic_fetch_add(&pr->count[tid], 1);
        ak_pool_barrier(pr->pool, nt);
    }
}

AKT_TEST(sleeping_workers_and_barrier_runs)
{
    static chain c;
    ak_pool *p = ak_pool_new(3);
    AKT_TRUE(p != NULL);
    for (int rep = 0; rep < 4; rep++) {
        if (rep == 2)
            sleep_ms(60);   /* past the spin window: the workers sleep */
        chain_init(&c);
        ak_pool_run_any(p, 3, chain_fn, &c);
        chain_check(&c);
        /* a run that needs every thread gets them all, in any order of
         * runs: each tid 0 .. 2 exactly once */
        probe pr;
        memset(&pr, 0, sizeof pr);
        pr.pool = p;
        ak_pool_run(p, 3, barrier_fn, &pr);
        for (int t = 0; t < 3; t++)
            AKT_EQ_INT(atomic_load(&pr.count[t]), 10);
    }
    ak_pool_free(p);
}

AKT_MAIN(AKT_REG(every_item_once), AKT_REG(late_worker_leaves_its_share),
         AKT_REG(sleeping_workers_and_barrier_runs))
