/*
 * test_embedq.c - the bounds of a model's embedding queue (embedq.c) on the
 * paths the batcher cannot merge: direct model calls (token ids, prompts,
 * TEI /embed_all, reranking) take a slot with ak_emodel_enter.
 *
 *   direct_bounds  n texts over the queue capacity: EBUSY naming it; with
 *                  one worker a second direct call waits (its texts counted
 *                  in the queue depth) until the first leaves; a call that
 *                  would overfill the queue meanwhile is EBUSY at once; a
 *                  batched job still runs beside them
 */
#include "akt.h"
#include "server/srvtest.h"

#include "server/internal.h"

#include <pthread.h>
#include <time.h>

static char *model_dir;

/* Models of the staged tiny model with one worker and a queue of 4 texts. */
static ak_models *open_models(ak_metrics **met)
{
    static char *root;
    if (!root) {
        root = st_tmpdir("embedq");
        model_dir = malloc(strlen(root) + 8);
        sprintf(model_dir, "%s/tiny", root);
        AKT_TRUE(st_stage_model(model_dir, 0) == 0);
    }
    ak_server_config cfg;
    ak_server_config_defaults(&cfg);
    static ak_model_spec spec;
    spec = (ak_model_spec){ "tiny", model_dir };
    cfg.data_dir = root;
    cfg.models = &spec;
    cfg.n_models = 1;
    cfg.scan_models_dir = 0;
    cfg.embed_workers = 1;
    cfg.embed_threads = 1;
    cfg.max_queue_texts = 4;
    *met = ak_metrics_new();
    AKT_TRUE(*met != NULL);
    ak_models *ms = NULL;
    AKT_OK(ak_models_open(&cfg, *met, &ms));
    return ms;
}

typedef struct waiter {
    ak_emodel *em;
    size_t n;
    akidb_status st;
    atomic_int done;
    int leave;            /* leave at once after entering */
} waiter;

static void *wait_main(void *arg)
{
    waiter *w = arg;
    w->st = ak_emodel_enter(w->em, w->n);
    if (w->st == AKIDB_OK && w->leave)
        ak_emodel_leave(w->em);
    atomic_store(&w->done, 1);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Waits up to 10 s for the queue depth of em to reach want. */
static bool depth_reaches(ak_emodel *em, size_t want)
{
    for (int i = 0; i < 1000; i++) {
        if (ak_emodel_queue_depth(em) == want)
            return true;
        sleep_ms(10);
    }
    return false;
}

AKT_TEST(direct_bounds)
{
    ak_metrics *met;
    ak_models *ms = open_models(&met);
    ak_emodel *em = ak_models_find(ms, "tiny");
    AKT_TRUE(em != NULL);

    AKT_STATUS(ak_emodel_enter(em, 5), AKIDB_EBUSY);
    AKT_CONTAINS(akidb_last_error(), "queue capacity of 4");

    AKT_OK(ak_emodel_enter(em, 2));          /* the one slot of one worker */
    waiter w = { em, 2, AKIDB_OK, 0, 1 };
    pthread_t th;
    AKT_TRUE(pthread_create(&th, NULL, wait_main, &w) == 0);
    AKT_TRUE(depth_reaches(em, 2));          /* its texts wait in the queue */
    sleep_ms(50);
    AKT_FALSE(atomic_load(&w.done));         /* ... and it does not run */
    AKT_STATUS(ak_emodel_enter(em, 3), AKIDB_EBUSY);   /* 2 waiting + 3 > 4 */
    AKT_CONTAINS(akidb_last_error(), "is full");

    /* the batcher still serves a job meanwhile */
    const char *texts[] = { "a direct call holds a slot", "batched" };
    const size_t lens[] = { strlen(texts[0]), strlen(texts[1]) };
    float out[2 * 32];
    ak_embed_job job = { texts, lens, 2, AKIDB_POOL_DEFAULT, -1, 1, out, 0 };
    AKT_OK(ak_embed_run(em, &job));
    AKT_TRUE(job.total_tokens > 0);

    ak_emodel_leave(em);                     /* the waiter goes on */
    pthread_join(th, NULL);
    AKT_OK(w.st);
    AKT_EQ_INT(ak_emodel_queue_depth(em), 0);
    AKT_OK(ak_emodel_enter(em, 4));          /* the whole queue, once free */
    ak_emodel_leave(em);
    ak_models_close(ms);
    ak_metrics_free(met);
}

AKT_MAIN(AKT_REG(direct_bounds))
