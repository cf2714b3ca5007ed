/*
 * model.c - the public "Embedding models" API: loading a model folder
 * (configuration, weights, tokenizer), reporting its properties, and
 * embedding texts.
 *
 * Thread safety: a loaded model is immutable apart from its thread pool
 * cache.  An akidb_embed call tokenises its texts on the calling thread,
 * groups them (up to ak_bert_batch_rows tokens per group) and runs each
 * group's forward pass with all its token rows in one GEMM M dimension, on
 * n_threads threads of the model's persistent pool (the caller is thread 0).
 * The pool serves one call at a time: a call that finds it busy runs on its
 * own thread alone, so any number of threads may embed with one model at
 * once.  Results do not depend on the thread count or on the grouping.
 */
#include "model/bert.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct akidb_model {
    char *name;
    char *dir;
    ak_bert bert;
    akidb_tokenizer *tok;
    size_t max_tokens;
    akidb_pooling pooling;
    int normalize;
    int n_threads;
    pthread_mutex_t pool_mu;   /* guards pool: one call uses it at a time */
    ak_pool *pool;             /* started by the first multi-thread call */
    ak_arena arena;            /* scratch of the call holding the pool, kept
                                  between calls (no page faults per call) */
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
    ak_pool_free(m->pool);
    ak_arena_free(&m->arena);
    pthread_mutex_destroy(&m->pool_mu);
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
    pthread_mutex_init(&m->pool_mu, NULL);
    ak_arena_init(&m->arena, 0);
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
    const char *dtype = opts && opts->dtype ? opts->dtype : getenv("AKIDB_DTYPE");
    int prec = 0;
    if (dtype && *dtype && strcmp(dtype, "f32") != 0 && strcmp(dtype, "fp32") != 0 &&
        strcmp(dtype, "float32") != 0) {
        if (strcmp(dtype, "bf16") == 0 || strcmp(dtype, "bfloat16") == 0) {
            prec = 1;
        } else if (strcmp(dtype, "int8") == 0) {
            prec = 2;
        } else {
            st = ak_fail(AKIDB_EINVAL, "%s: unknown dtype '%.40s' (f32, bf16 or int8)", dir,
                         dtype);
            goto fail;
        }
    }
    if ((st = ak_bert_load_ex(pipe.transformer_dir, &cfg, prec, &m->bert)) != AKIDB_OK)
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

/* Takes the model's thread pool for one call, (re)starting it with want
 * threads if needed.  Returns NULL (run on the calling thread alone) if
 * another call holds it or it cannot start; otherwise the caller must
 * release it with pool_release. */
static ak_pool *pool_acquire(akidb_model *m, int want)
{
    if (want <= 1 || pthread_mutex_trylock(&m->pool_mu) != 0)
        return NULL;
    if (!m->pool || ak_pool_size(m->pool) < want) {
        ak_pool_free(m->pool);
        m->pool = ak_pool_new(want);
        if (!m->pool) {
            pthread_mutex_unlock(&m->pool_mu);
            return NULL;
        }
    }
    return m->pool;
}

static void pool_release(akidb_model *m, ak_pool *p)
{
    if (p)
        pthread_mutex_unlock(&m->pool_mu);
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 && n < 1024 ? (int)n : 1;
}

akidb_status akidb_embed(const akidb_model *cm, const char *const *texts,
                         const size_t *lens, size_t n, float *out,
                         const akidb_embed_opts *opts)
{
    AK_ASSERT(cm != NULL);
    AK_ASSERT(n == 0 || (texts != NULL && out != NULL));
    akidb_model *m = (akidb_model *)cm;   /* only the pool cache changes */
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
    int threads = o.n_threads > 0 ? o.n_threads : m->n_threads;
    if (n == 0)
        return AKIDB_OK;
    /* more threads than CPUs only add waiting (results do not depend on it) */
    int cpus = online_cpus();
    if (threads > cpus)
        threads = cpus;
    if (threads < 1)
        threads = 1;

    const ak_bert *b = &m->bert;
    const size_t H = b->cfg.hidden, cap = ak_bert_batch_rows(b);
    const size_t max_group = n < 256 ? n : 256;
    akidb_status st = AKIDB_OK;
    akidb_tokens *toks = ak_calloc(max_group, sizeof *toks);
    const int32_t **ids = ak_calloc(max_group, sizeof *ids);
    size_t *tl = ak_calloc(max_group, sizeof *tl);
    ak_arena local, *arp = &local;
    ak_arena_init(&local, 0);
    ak_pool *pool = NULL;
    if (!toks || !ids || !tl) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto out;
    }
    pool = pool_acquire(m, threads);
    if (pool)
        arp = &m->arena;   /* guarded by pool_mu like the pool */
    ak_arena *ar = arp;
    size_t total = 0;
    for (size_t i = 0; i < n && st == AKIDB_OK;) {
        /* tokenise a group of texts that together fit one forward pass */
        size_t g = 0, rows = 0;
        while (i + g < n && g < max_group) {
            size_t ti = i + g;
            const char *t = texts[ti];
            AK_ASSERT(t != NULL);
            size_t len = lens ? lens[ti] : strlen(t);
            akidb_tokens *tk = &toks[g];
            st = akidb_tokenizer_encode(m->tok, t, len, m->max_tokens, tk);
            if (st != AKIDB_OK) {
                st = ak_fail_prefix(st, "text %zu", ti);
                goto out;
            }
            if (o.no_truncate && tk->n_full > m->max_tokens) {
                st = ak_fail(AKIDB_ETOOLONG, "text %zu: %zu tokens exceed the model's limit of %zu",
                             ti, tk->n_full, m->max_tokens);
                goto out;
            }
            if (tk->n == 0 || tk->n > m->max_tokens) {
                st = ak_fail(AKIDB_EINTERNAL, "text %zu: tokenizer gave %zu tokens (limit %zu)",
                             ti, tk->n, m->max_tokens);
                goto out;
            }
            for (size_t p = 0; p < tk->n; p++) {
                if (tk->ids[p] < 0 || (size_t)tk->ids[p] >= b->cfg.vocab) {
                    st = ak_fail(AKIDB_EDIM,
                                 "text %zu: token id %d is outside the model's vocabulary of %zu",
                                 ti, (int)tk->ids[p], b->cfg.vocab);
                    goto out;
                }
            }
            if (g > 0 && rows + tk->n > cap)
                break;   /* re-tokenised as the first of the next group */
            ids[g] = tk->ids;
            tl[g] = tk->n;
            rows += tk->n;
            g++;
        }
        size_t max_len = 0;
        for (size_t k = 0; k < g; k++)
            max_len = tl[k] > max_len ? tl[k] : max_len;
        /* one arena block holds the whole pass */
        size_t kmax = (b->cfg.intermediate > H ? b->cfg.intermediate : H) + 2;
        size_t want = ak_bert_scratch_bytes(b, rows) + (size_t)threads *
                        (ak_bert_scratch_bytes(b, max_len) +
                         (b->bf16 || b->int8 ? rows * kmax * sizeof(uint16_t) + 256 : 0) + 256);
        if (want > ar->block_size)
            ar->block_size = want;
        st = ak_bert_embed_batch(b, g, ids, tl, o.pooling, normalize, pool, threads, ar,
                                 out + i * H);
        if (st != AKIDB_OK) {
            st = ak_fail_prefix(st, "texts %zu-%zu", i, i + g - 1);
            goto out;
        }
        total += rows;
        i += g;
    }
    if (o.n_tokens)
        *o.n_tokens = total;
out:
    if (pool)
        ak_arena_reset(&m->arena);
    pool_release(m, pool);
    if (toks)
        for (size_t g = 0; g < max_group; g++)
            akidb_tokens_free(&toks[g]);
    ak_free(toks);
    ak_free(ids);
    ak_free(tl);
    ak_arena_free(&local);
    return st;
}
