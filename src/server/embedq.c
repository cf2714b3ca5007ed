/*
 * embedq.c - loaded embedding models and the dynamic batcher in front of
 * each.
 *
 * Every model has one FIFO of pending requests and a few worker threads.  A
 * request thread validates and tokenizes its texts (so bad input fails fast
 * and never poisons a batch shared with other requests), queues them and
 * waits.  A free worker takes texts from the head of the queue, across
 * requests with the same options, until the next text would push the batch
 * over the token budget (max_batch_tokens, like text-embeddings-inference's
 * --max-batch-tokens) or the text count cap, then calls akidb_embed once for
 * the whole batch.  A worker that is busy lets the queue grow, so the next
 * batch is larger: throughput rises with load while a lone request is
 * served at once.  A request larger than the budget is spread over several
 * batches; a single text over the budget forms a batch of its own.
 *
 * Work the batcher cannot merge - token-id inputs, prompts, token-level
 * states (TEI /embed_all), reranking - runs in the request thread between
 * ak_emodel_enter and ak_emodel_leave, under the same bounds: its texts
 * count against the queue capacity while they wait (a full queue is EBUSY,
 * 503 at once), and at most as many such calls run on a model as it has
 * workers, so no path lets a crowd of requests start unbounded model work.
 */
#include "server/internal.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct ejob {
    ak_embed_job *job;
    size_t *ntok;                /* tokens of each text                       */
    size_t next;                 /* next text to hand to a worker             */
    size_t done;                 /* texts finished                            */
    akidb_status st;
    char err[512];
    pthread_cond_t cv;
    struct ejob *qnext;
} ejob;

typedef struct slice {
    ejob *job;
    size_t start, count;
} slice;

struct ak_emodel {
    char *name;
    char *dir;
    akidb_model *model;
    akidb_model_info info;
    ak_models *owner;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* workers wait here for work                */
    pthread_cond_t direct_cv;    /* direct calls wait here for a slot         */
    int direct;                  /* direct calls running                      */
    ejob *head, *tail;
    size_t pending;              /* queued texts not yet handed out           */
    int stop;
    pthread_t *workers;
    int n_workers;
    ak_hist *h_texts, *h_tokens, *h_secs;
    uint64_t n_texts, n_tokens, n_batches, n_errors;   /* under mu */
};

struct ak_models {
    ak_emodel **m;
    size_t n;
    size_t budget, max_texts, max_queue;
    int n_threads;
};

static const double texts_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const double tokens_bounds[] = {16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768};
static const double secs_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25, 0.5, 1, 2.5, 5, 10};

size_t ak_models_count(const ak_models *ms) { return ms ? ms->n : 0; }
ak_emodel *ak_models_at(ak_models *ms, size_t i) { return i < ms->n ? ms->m[i] : NULL; }
const char *ak_emodel_name(const ak_emodel *em) { return em->name; }
const akidb_model_info *ak_emodel_info(const ak_emodel *em) { return &em->info; }
const akidb_model *ak_emodel_model(const ak_emodel *em) { return em->model; }

ak_emodel *ak_models_find(ak_models *ms, const char *name)
{
    if (!ms || ms->n == 0)
        return NULL;
    if (!name || !name[0])
        return ms->m[0];
    for (size_t i = 0; i < ms->n; i++)
        if (strcmp(ms->m[i]->name, name) == 0)
            return ms->m[i];
    const char *base = strrchr(name, '/');
    if (base && base[1]) {
        for (size_t i = 0; i < ms->n; i++)
            if (strcmp(ms->m[i]->name, base + 1) == 0)
                return ms->m[i];
    }
    return NULL;
}

size_t ak_emodel_queue_depth(ak_emodel *em)
{
    pthread_mutex_lock(&em->mu);
    size_t n = em->pending;
    pthread_mutex_unlock(&em->mu);
    return n;
}

static bool same_opts(const ak_embed_job *a, const ak_embed_job *b)
{
    return a->pooling == b->pooling && a->normalize == b->normalize &&
           a->truncate == b->truncate;
}

/* Runs akidb_embed for texts [0, n) of the batch arrays; on failure copies
 * the thread's message into err. */
static akidb_status embed_batch(ak_emodel *em, const ak_embed_job *opts_of,
                                const char *const *texts, const size_t *lens,
                                size_t n, float *out, char *err, size_t errcap)
{
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    o.pooling = opts_of->pooling;
    o.normalize = opts_of->normalize;
    o.n_threads = em->owner->n_threads;
    o.no_truncate = !opts_of->truncate;
    akidb_status st = akidb_embed(em->model, texts, lens, n, out, &o);
    if (st != AKIDB_OK)
        snprintf(err, errcap, "%s", akidb_last_error());
    return st;
}

static void *worker_main(void *arg)
{
    ak_emodel *em = arg;
    ak_models *ms = em->owner;
    size_t cap = ms->max_texts;
    size_t dim = em->info.dim;
    const char **texts = ak_malloc(cap * sizeof *texts);
    size_t *lens = ak_malloc(cap * sizeof *lens);
    slice *sl = ak_malloc(cap * sizeof *sl);
    float *out = ak_malloc_aligned(cap * dim * sizeof(float) + 64, 64);
    bool oom = !texts || !lens || !sl || !out;
    char err[512];

    pthread_mutex_lock(&em->mu);
    for (;;) {
        while (!em->head && !em->stop)
            pthread_cond_wait(&em->cv, &em->mu);
        if (!em->head)
            break;
        /* Form a batch from the head of the queue. */
        ak_embed_job key = *em->head->job;
        size_t n = 0, ns = 0, tokens = 0;
        bool full = false;
        for (ejob *j = em->head; j && !full; j = j->qnext) {
            if (!same_opts(j->job, &key) || j->next >= j->job->n)
                continue;
            size_t start = j->next;
            while (j->next < j->job->n) {
                size_t t = j->ntok[j->next];
                if (n > 0 && (tokens + t > ms->budget || n >= cap)) {
                    full = true;
                    break;
                }
                if (!oom) {
                    texts[n] = j->job->texts[j->next];
                    lens[n] = j->job->lens[j->next];
                }
                tokens += t;
                n++;
                j->next++;
                if (oom)
                    break;  /* one text at a time; it fails below anyway */
            }
            if (j->next > start && !oom) {
                sl[ns].job = j;
                sl[ns].start = start;
                sl[ns].count = j->next - start;
                ns++;
            } else if (j->next > start) {
                /* Without buffers: fail the text right here. */
                j->done += j->next - start;
                j->st = AKIDB_ENOMEM;
                snprintf(j->err, sizeof j->err, "embedding worker: out of memory");
                if (j->done == j->job->n)
                    pthread_cond_signal(&j->cv);
                full = true;
            }
        }
        em->pending -= n;
        /* Unlink requests whose texts are all handed out. */
        ejob **pp = &em->head;
        em->tail = NULL;
        while (*pp) {
            if ((*pp)->next >= (*pp)->job->n) {
                *pp = (*pp)->qnext;
            } else {
                em->tail = *pp;
                pp = &(*pp)->qnext;
            }
        }
        if (oom || ns == 0)
            continue;
        pthread_mutex_unlock(&em->mu);

        double t0 = ak_now();
        akidb_status st = embed_batch(em, &key, texts, lens, n, out, err, sizeof err);
        double secs = ak_now() - t0;
        akidb_status *sst = NULL;
        if (st != AKIDB_OK && ns > 1) {
            /* Retry request by request so one failure stays with its owner. */
            sst = ak_malloc(ns * sizeof *sst);
            size_t off = 0;
            for (size_t i = 0; i < ns; i++) {
                if (!sst)
                    break;
                sst[i] = embed_batch(em, &key, texts + off, lens + off, sl[i].count,
                                     out + off * dim, sl[i].job->err, sizeof sl[i].job->err);
                off += sl[i].count;
            }
        }
        size_t off = 0;
        for (size_t i = 0; i < ns; i++) {
            akidb_status si = sst ? sst[i] : st;
            if (si == AKIDB_OK)
                memcpy(sl[i].job->job->out + sl[i].start * dim, out + off * dim,
                       sl[i].count * dim * sizeof(float));
            off += sl[i].count;
        }
        /* histograms before the waiters wake: a caller that got its answer
         * finds its batch in /metrics */
        ak_hist_observe(em->h_texts, (double)n);
        ak_hist_observe(em->h_tokens, (double)tokens);
        ak_hist_observe(em->h_secs, secs);
        pthread_mutex_lock(&em->mu);
        for (size_t i = 0; i < ns; i++) {
            ejob *j = sl[i].job;
            akidb_status si = sst ? sst[i] : st;
            if (si != AKIDB_OK && j->st == AKIDB_OK) {
                j->st = si;
                if (!sst)
                    snprintf(j->err, sizeof j->err, "%s", err);
            }
            j->done += sl[i].count;
            if (j->done == j->job->n)
                pthread_cond_signal(&j->cv);
        }
        ak_free(sst);
        em->n_texts += n;
        em->n_tokens += tokens;
        em->n_batches++;
        if (st != AKIDB_OK)
            em->n_errors++;
    }
    pthread_mutex_unlock(&em->mu);
    ak_free(texts);
    ak_free(lens);
    ak_free(sl);
    ak_free_aligned(out);
    return NULL;
}

akidb_status ak_embed_run(ak_emodel *em, ak_embed_job *job)
{
    job->total_tokens = 0;
    if (job->n == 0)
        return AKIDB_OK;
    ak_models *ms = em->owner;
    if (job->n > ms->max_queue)
        return ak_fail(AKIDB_EBUSY, "%zu texts exceed the queue capacity of %zu",
                       job->n, ms->max_queue);
    ejob e;
    memset(&e, 0, sizeof e);
    e.job = job;
    e.ntok = ak_malloc(job->n * sizeof *e.ntok);
    if (!e.ntok)
        return ak_fail(AKIDB_ENOMEM, "out of memory for %zu texts", job->n);
    const akidb_tokenizer *tok = akidb_model_tokenizer(em->model);
    akidb_tokens toks = {0};
    size_t limit = em->info.max_tokens;
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < job->n && st == AKIDB_OK; i++) {
        size_t bad = 0;
        if (!ak_utf8_valid(job->texts[i], job->lens[i], &bad)) {
            st = ak_fail(AKIDB_EUTF8, "text %zu: invalid UTF-8 at byte %zu", i, bad);
            break;
        }
        st = akidb_tokenizer_encode(tok, job->texts[i], job->lens[i], limit, &toks);
        if (st != AKIDB_OK) {
            ak_fail_prefix(st, "text %zu", i);
            break;
        }
        if (!job->truncate && toks.n_full > limit) {
            st = ak_fail(AKIDB_ETOOLONG,
                         "text %zu has %zu tokens but model '%s' takes at most %zu; "
                         "shorten it or set \"truncate\": true",
                         i, toks.n_full, em->name, limit);
            break;
        }
        e.ntok[i] = toks.n ? toks.n : 1;
        job->total_tokens += toks.n;
    }
    akidb_tokens_free(&toks);
    if (st != AKIDB_OK) {
        ak_free(e.ntok);
        return st;
    }
    pthread_cond_init(&e.cv, NULL);
    pthread_mutex_lock(&em->mu);
    if (em->stop) {
        st = ak_fail(AKIDB_EBUSY, "the server is shutting down");
    } else if (em->pending + job->n > ms->max_queue) {
        st = ak_fail(AKIDB_EBUSY, "the embedding queue of model '%s' is full (%zu texts waiting)",
                     em->name, em->pending);
    } else {
        if (em->tail)
            em->tail->qnext = &e;
        else
            em->head = &e;
        em->tail = &e;
        em->pending += job->n;
        pthread_cond_broadcast(&em->cv);
        while (e.done < job->n)
            pthread_cond_wait(&e.cv, &em->mu);
        st = e.st;
    }
    pthread_mutex_unlock(&em->mu);
    pthread_cond_destroy(&e.cv);
    ak_free(e.ntok);
    if (st != AKIDB_OK && e.err[0])
        ak_fail(st, "%s", e.err);
    return st;
}

akidb_status ak_emodel_enter(ak_emodel *em, size_t n)
{
    ak_models *ms = em->owner;
    akidb_status st = AKIDB_OK;
    pthread_mutex_lock(&em->mu);
    if (em->stop) {
        st = ak_fail(AKIDB_EBUSY, "the server is shutting down");
    } else if (n > ms->max_queue) {
        st = ak_fail(AKIDB_EBUSY, "%zu texts exceed the queue capacity of %zu", n,
                     ms->max_queue);
    } else if (em->pending + n > ms->max_queue) {
        st = ak_fail(AKIDB_EBUSY, "the embedding queue of model '%s' is full (%zu texts waiting)",
                     em->name, em->pending);
    } else {
        em->pending += n;
        while (em->direct >= em->n_workers && !em->stop)
            pthread_cond_wait(&em->direct_cv, &em->mu);
        em->pending -= n;
        if (em->stop)
            st = ak_fail(AKIDB_EBUSY, "the server is shutting down");
        else
            em->direct++;
    }
    pthread_mutex_unlock(&em->mu);
    return st;
}

void ak_emodel_leave(ak_emodel *em)
{
    pthread_mutex_lock(&em->mu);
    AK_ASSERT(em->direct > 0);
    em->direct--;
    pthread_cond_signal(&em->direct_cv);
    pthread_mutex_unlock(&em->mu);
}

static bool good_model_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

static void emodel_free(ak_emodel *em)
{
    if (!em)
        return;
    if (em->workers) {
        pthread_mutex_lock(&em->mu);
        em->stop = 1;
        pthread_cond_broadcast(&em->cv);
        pthread_cond_broadcast(&em->direct_cv);
        pthread_mutex_unlock(&em->mu);
        for (int i = 0; i < em->n_workers; i++)
            pthread_join(em->workers[i], NULL);
        ak_free(em->workers);
    }
    pthread_cond_destroy(&em->cv);
    pthread_cond_destroy(&em->direct_cv);
    pthread_mutex_destroy(&em->mu);
    akidb_model_free(em->model);
    ak_free(em->name);
    ak_free(em->dir);
    ak_free(em);
}

static akidb_status add_model(ak_models *ms, const ak_server_config *cfg, ak_metrics *met,
                              const char *name, const char *dir)
{
    if (!good_model_name(name))
        return ak_fail(AKIDB_EINVAL,
                       "model name '%s': use 1..128 characters of [A-Za-z0-9._-]", name);
    if (ak_models_find(ms, name) && strcmp(ak_models_find(ms, name)->name, name) == 0)
        return ak_fail(AKIDB_EEXIST, "model name '%s' given twice", name);
    ak_emodel **grown = ak_realloc(ms->m, (ms->n + 1) * sizeof *grown);
    if (!grown)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    ms->m = grown;
    ak_emodel *em = ak_calloc(1, sizeof *em);
    if (!em)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    pthread_mutex_init(&em->mu, NULL);
    pthread_cond_init(&em->cv, NULL);
    pthread_cond_init(&em->direct_cv, NULL);
    em->owner = ms;
    em->name = ak_strdup(name);
    em->dir = ak_strdup(dir);
    if (!em->name || !em->dir) {
        emodel_free(em);
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    akidb_model_opts mo = {.name = em->name, .n_threads = ms->n_threads};
    akidb_status st = akidb_model_load(dir, &mo, &em->model);
    if (st != AKIDB_OK) {
        ak_fail_prefix(st, "model '%s' (%s)", name, dir);
        emodel_free(em);
        return st;
    }
    akidb_model_get_info(em->model, &em->info);
    char labels[200];
    snprintf(labels, sizeof labels, "model=\"%s\"", em->name);
    em->h_texts = ak_metrics_hist(met, "akidb_embed_batch_texts",
                                  "Texts per embedding batch.", labels, texts_bounds,
                                  sizeof texts_bounds / sizeof *texts_bounds);
    em->h_tokens = ak_metrics_hist(met, "akidb_embed_batch_tokens",
                                   "Tokens per embedding batch.", labels, tokens_bounds,
                                   sizeof tokens_bounds / sizeof *tokens_bounds);
    em->h_secs = ak_metrics_hist(met, "akidb_embed_batch_duration_seconds",
                                 "Time of one akidb_embed call for a batch.", labels,
                                 secs_bounds, sizeof secs_bounds / sizeof *secs_bounds);
    int nw = cfg->embed_workers > 0 ? cfg->embed_workers : 1;
    em->workers = ak_calloc((size_t)nw, sizeof *em->workers);
    if (!em->workers) {
        emodel_free(em);
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nw; i++) {
        if (pthread_create(&em->workers[i], NULL, worker_main, em) != 0) {
            em->n_workers = i;
            emodel_free(em);
            return ak_fail(AKIDB_EINTERNAL, "cannot start embedding worker threads");
        }
        em->n_workers = i + 1;
    }
    ms->m[ms->n++] = em;
    return AKIDB_OK;
}

akidb_status ak_models_open(const ak_server_config *cfg, ak_metrics *met, ak_models **out)
{
    *out = NULL;
    ak_models *ms = ak_calloc(1, sizeof *ms);
    if (!ms)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    ms->budget = cfg->max_batch_tokens ? cfg->max_batch_tokens : 16384;
    ms->max_texts = cfg->max_batch_texts ? cfg->max_batch_texts : 256;
    ms->max_queue = cfg->max_queue_texts ? cfg->max_queue_texts : 100000;
    ms->n_threads = cfg->embed_threads;
    if (ms->n_threads <= 0) {
        long nc = sysconf(_SC_NPROCESSORS_ONLN);
        ms->n_threads = nc > 0 ? (int)nc : 1;
    }
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < cfg->n_models && st == AKIDB_OK; i++)
        st = add_model(ms, cfg, met, cfg->models[i].name, cfg->models[i].dir);
    if (st == AKIDB_OK && cfg->scan_models_dir && cfg->data_dir) {
        char *mdir = ak_path_join(cfg->data_dir, "models");
        DIR *d = mdir ? opendir(mdir) : NULL;
        struct dirent *de;
        /* Sorted order, so the default model does not depend on readdir. */
        char **names = NULL;
        size_t nn = 0;
        while (d && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char **g = ak_realloc(names, (nn + 1) * sizeof *g);
            if (!g)
                break;
            names = g;
            names[nn] = ak_strdup(de->d_name);
            if (names[nn])
                nn++;
        }
        if (d)
            closedir(d);
        for (size_t i = 0; i < nn; i++)
            for (size_t j = i + 1; j < nn; j++)
                if (strcmp(names[j], names[i]) < 0) {
                    char *t = names[i];
                    names[i] = names[j];
                    names[j] = t;
                }
        for (size_t i = 0; i < nn; i++) {
            char *sub = ak_path_join(mdir, names[i]);
            char *cfgp = sub ? ak_path_join(sub, "config.json") : NULL;
            bool used = false;
            for (size_t k = 0; k < ms->n; k++)
                if (strcmp(ms->m[k]->name, names[i]) == 0)
                    used = true;
            if (st == AKIDB_OK && cfgp && ak_file_exists(cfgp) && !used &&
                good_model_name(names[i]))
                st = add_model(ms, cfg, met, names[i], sub);
            ak_free(cfgp);
            ak_free(sub);
            ak_free(names[i]);
        }
        ak_free(names);
        ak_free(mdir);
    }
    if (st != AKIDB_OK) {
        ak_models_close(ms);
        return st;
    }
    *out = ms;
    return AKIDB_OK;
}

void ak_models_close(ak_models *ms)
{
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++)
        emodel_free(ms->m[i]);
    ak_free(ms->m);
    ak_free(ms);
}

/* Appends the per-model counters and gauges to a /metrics answer. */
void ak_models_render(ak_models *ms, ak_tbuf *out)
{
    ak_tbuf_printf(out, "# HELP akidb_models_loaded Embedding models loaded.\n"
                       "# TYPE akidb_models_loaded gauge\nakidb_models_loaded %zu\n",
                  ak_models_count(ms));
    static const char *names[] = {"akidb_embed_queue_depth", "akidb_embed_texts_total",
                                  "akidb_embed_tokens_total", "akidb_embed_batches_total",
                                  "akidb_embed_batch_errors_total"};
    static const char *helps[] = {"Texts waiting for an embedding worker.",
                                  "Texts embedded.", "Tokens embedded.",
                                  "akidb_embed calls made for batches.",
                                  "Batches whose akidb_embed call failed."};
    for (int k = 0; k < 5; k++) {
        ak_tbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", names[k], helps[k], names[k],
                      k == 0 ? "gauge" : "counter");
        for (size_t i = 0; ms && i < ms->n; i++) {
            ak_emodel *em = ms->m[i];
            pthread_mutex_lock(&em->mu);
            uint64_t v = k == 0 ? em->pending : k == 1 ? em->n_texts : k == 2 ? em->n_tokens
                       : k == 3 ? em->n_batches : em->n_errors;
            pthread_mutex_unlock(&em->mu);
            ak_tbuf_printf(out, "%s{model=\"%s\"} %llu\n", names[k], em->name,
                          (unsigned long long)v);
        }
    }
}
