/*
 * model.c - the public "Embedding models" API: loading a model folder
 * (configuration, weights, tokenizer), reporting its properties, and
 * embedding texts.
 *
 * Thread safety: a loaded model is immutable.  Every akidb_embed call keeps
 * its activations in arenas of its own and takes no lock, so any number of
 * threads may embed with one model at once.  With n_threads > 1 a call splits
 * its texts into contiguous ranges and runs each range on a thread started
 * for the call (worker 0 is the calling thread); a later persistent pool can
 * replace spawn_workers() without touching the per-range worker.
 */
#include "model/bert.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct akidb_model {
    char *name;
    char *dir;
    ak_bert bert;
    akidb_tokenizer *tok;
    size_t max_tokens;
    akidb_pooling pooling;
    int normalize;
    int n_threads;
};

const char *akidb_pooling_name(akidb_pooling p)
{
    switch (p) {
    case AKIDB_POOL_DEFAULT: return "default";
    case AKIDB_POOL_MEAN: return "mean";
    case AKIDB_POOL_CLS: return "cls";
    case AKIDB_POOL_MAX: return "max";
    case AKIDB_POOL_MEAN_SQRT_LEN: return "mean_sqrt_len";
    }
    return "unknown";
}

akidb_status akidb_pooling_parse(const char *name, akidb_pooling *out)
{
    AK_ASSERT(name && out);
    static const akidb_pooling all[] = { AKIDB_POOL_DEFAULT, AKIDB_POOL_MEAN,
                                         AKIDB_POOL_CLS, AKIDB_POOL_MAX,
                                         AKIDB_POOL_MEAN_SQRT_LEN };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, akidb_pooling_name(all[i])) == 0) {
            *out = all[i];
            return AKIDB_OK;
        }
    }
    return ak_fail(AKIDB_EINVAL,
                   "unknown pooling '%.60s' (mean, cls, max, mean_sqrt_len, default)", name);
}

void akidb_model_free(akidb_model *m)
{
    if (!m)
        return;
    ak_bert_free(&m->bert);
    if (m->tok)
        akidb_tokenizer_free(m->tok);
    ak_free(m->name);
    ak_free(m->dir);
    ak_free(m);
}

/* Last path component of dir, ignoring trailing slashes. */
static char *base_name(const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/')
        b--;
    return ak_strndup(dir + b, n - b);
}

akidb_status akidb_model_load(const char *dir, const akidb_model_opts *opts,
                              akidb_model **out)
{
    AK_ASSERT(dir && out);
    *out = NULL;
    akidb_model *m = ak_calloc(1, sizeof *m);
    if (!m)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    ak_st_pipeline pipe;
    ak_bert_config cfg;
    char *cfg_path = NULL;
    akidb_status st = ak_pipeline_load(dir, &pipe);
    if (st != AKIDB_OK)
        goto fail_nopipe;
    cfg_path = ak_path_join(pipe.transformer_dir, "config.json");
    if (!cfg_path) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if (!ak_file_exists(cfg_path)) {
        st = ak_fail(AKIDB_ENOENT, "%s: missing (not a Hugging Face model folder?)", cfg_path);
        goto fail;
    }
    if ((st = ak_bert_config_load(cfg_path, &cfg)) != AKIDB_OK)
        goto fail;
    if ((st = ak_bert_load(pipe.transformer_dir, &cfg, &m->bert)) != AKIDB_OK)
        goto fail;
    if ((st = akidb_tokenizer_load(pipe.transformer_dir, &m->tok)) != AKIDB_OK) {
        m->tok = NULL;
        goto fail;
    }
    size_t max_seq = opts && opts->max_seq_length ? opts->max_seq_length : pipe.max_seq_length;
    if (max_seq == 0) {
        if ((st = ak_tokenizer_max_length(pipe.transformer_dir, &max_seq)) != AKIDB_OK)
            goto fail;
    }
    if (max_seq == 0 || max_seq > cfg.max_positions)
        max_seq = cfg.max_positions;
    m->max_tokens = max_seq;
    m->pooling = pipe.pooling;
    m->normalize = pipe.normalize;
    m->n_threads = opts && opts->n_threads > 0 ? opts->n_threads : 1;
    m->dir = ak_strdup(dir);
    m->name = opts && opts->name ? ak_strdup(opts->name) : base_name(dir);
    if (!m->dir || !m->name) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    ak_pipeline_free(&pipe);
    ak_free(cfg_path);
    *out = m;
    return AKIDB_OK;
fail:
    ak_pipeline_free(&pipe);
fail_nopipe:
    ak_free(cfg_path);
    akidb_model_free(m);
    return st;
}

void akidb_model_get_info(const akidb_model *m, akidb_model_info *info)
{
    AK_ASSERT(m && info);
    const ak_bert_config *c = &m->bert.cfg;
    memset(info, 0, sizeof *info);
    info->name = m->name;
    info->dir = m->dir;
    info->dim = c->hidden;
    info->max_tokens = m->max_tokens;
    info->pooling = m->pooling;
    info->normalize = m->normalize;
    info->n_layers = c->n_layers;
    info->hidden = c->hidden;
    info->n_heads = c->n_heads;
    info->intermediate = c->intermediate;
    info->vocab_size = c->vocab;
    info->weights_dtype = ak_dtype_name(m->bert.dtype);
}

const ak_bert *ak_model_bert(const akidb_model *m)
{
    AK_ASSERT(m);
    return &m->bert;
}

const akidb_tokenizer *akidb_model_tokenizer(const akidb_model *m)
{
    AK_ASSERT(m);
    return m->tok;
}

/* ---- embedding ---------------------------------------------------------- */

typedef struct embed_job {
    const akidb_model *m;
    const char *const *texts;
    const size_t *lens;
    float *out;
    akidb_pooling pooling;
    int normalize;
    int no_truncate;
    size_t begin, end;     /* texts of this worker */
    /* results */
    akidb_status st;
    size_t n_tokens;
    char msg[512];
} embed_job;

static void embed_range(embed_job *j)
{
    const akidb_model *m = j->m;
    const size_t H = m->bert.cfg.hidden;
    akidb_tokens toks = { 0 };
    ak_arena ar;
    ak_arena_init(&ar, ak_bert_scratch_bytes(&m->bert, m->max_tokens < 128 ? m->max_tokens : 128));
    j->st = AKIDB_OK;
    for (size_t i = j->begin; i < j->end; i++) {
        const char *t = j->texts[i];
        AK_ASSERT(t != NULL);
        size_t len = j->lens ? j->lens[i] : strlen(t);
        akidb_status st = akidb_tokenizer_encode(m->tok, t, len, m->max_tokens, &toks);
        if (st != AKIDB_OK) {
            j->st = ak_fail_prefix(st, "text %zu", i);
            break;
        }
        if (j->no_truncate && toks.n_full > m->max_tokens) {
            j->st = ak_fail(AKIDB_ETOOLONG,
                            "text %zu: %zu tokens exceed the model's limit of %zu",
                            i, toks.n_full, m->max_tokens);
            break;
        }
        if (toks.n == 0 || toks.n > m->max_tokens) {
            j->st = ak_fail(AKIDB_EINTERNAL, "text %zu: tokenizer gave %zu tokens (limit %zu)",
                            i, toks.n, m->max_tokens);
            break;
        }
        for (size_t p = 0; p < toks.n; p++) {
            if (toks.ids[p] < 0 || (size_t)toks.ids[p] >= m->bert.cfg.vocab) {
                j->st = ak_fail(AKIDB_EDIM,
                                "text %zu: token id %d is outside the model's vocabulary of %zu",
                                i, (int)toks.ids[p], m->bert.cfg.vocab);
                goto out;
            }
        }
        st = ak_bert_embed(&m->bert, toks.ids, toks.n, j->pooling, j->normalize, &ar,
                           j->out + i * H);
        ak_arena_reset(&ar);
        if (st != AKIDB_OK) {
            j->st = ak_fail_prefix(st, "text %zu", i);
            break;
        }
        j->n_tokens += toks.n;
    }
out:
    if (j->st != AKIDB_OK)
        snprintf(j->msg, sizeof j->msg, "%s", akidb_last_error());
    akidb_tokens_free(&toks);
    ak_arena_free(&ar);
}

static void *embed_thread(void *arg)
{
    embed_range(arg);
    return NULL;
}

akidb_status akidb_embed(const akidb_model *m, const char *const *texts,
                         const size_t *lens, size_t n, float *out,
                         const akidb_embed_opts *opts)
{
    AK_ASSERT(m != NULL);
    AK_ASSERT(n == 0 || (texts != NULL && out != NULL));
    akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
    if (opts)
        o = *opts;
    if (o.n_tokens)
        *o.n_tokens = 0;
    if (o.pooling == AKIDB_POOL_DEFAULT)
        o.pooling = m->pooling;
    if (o.pooling < AKIDB_POOL_MEAN || o.pooling > AKIDB_POOL_MEAN_SQRT_LEN)
        return ak_fail(AKIDB_EINVAL, "unknown pooling value %d", (int)o.pooling);
    int normalize = o.normalize < 0 ? m->normalize : o.normalize != 0;
    size_t threads = (size_t)(o.n_threads > 0 ? o.n_threads : m->n_threads);
    if (threads > n)
        threads = n;
    if (threads > 256)
        threads = 256;
    if (threads < 1)
        threads = 1;
    if (n == 0)
        return AKIDB_OK;

    embed_job stack_jobs[1];
    embed_job *jobs = stack_jobs;
    pthread_t *tids = NULL;
    if (threads > 1) {
        jobs = ak_calloc(threads, sizeof *jobs);
        tids = ak_calloc(threads, sizeof *tids);
        if (!jobs || !tids) {   /* fall back to the calling thread alone */
            ak_free(jobs);
            ak_free(tids);
            jobs = stack_jobs;
            tids = NULL;
            threads = 1;
        }
    }
    for (size_t w = 0; w < threads; w++) {
        embed_job *j = &jobs[w];
        memset(j, 0, sizeof *j);
        j->m = m;
        j->texts = texts;
        j->lens = lens;
        j->out = out;
        j->pooling = o.pooling;
        j->normalize = normalize;
        j->no_truncate = o.no_truncate;
        j->begin = n * w / threads;
        j->end = n * (w + 1) / threads;
    }
    /* spawn_workers: threads 1.. run on new threads, 0 on this one; a range
     * whose thread cannot start runs here afterwards */
    unsigned char started[256] = { 0 };
    for (size_t w = 1; w < threads; w++)
        started[w] = pthread_create(&tids[w], NULL, embed_thread, &jobs[w]) == 0;
    embed_range(&jobs[0]);
    for (size_t w = 1; w < threads; w++) {
        if (started[w])
            pthread_join(tids[w], NULL);
        else
            embed_range(&jobs[w]);
    }
    akidb_status st = AKIDB_OK;
    size_t total = 0;
    for (size_t w = 0; w < threads; w++) {
        total += jobs[w].n_tokens;
        if (st == AKIDB_OK && jobs[w].st != AKIDB_OK)
            st = ak_fail(jobs[w].st, "%s", jobs[w].msg);
    }
    if (o.n_tokens)
        *o.n_tokens = total;
    if (jobs != stack_jobs) {
        ak_free(jobs);
        ak_free(tids);
    }
    return st;
}
