/*
 * model.c - the public "Embedding models" API: loading a model folder
 * (configuration, weights, tokenizer), reporting its properties, and
 * embedding texts.  One akidb_model handle serves every architecture: the
 * family of config.json (families.c) loads and runs the transformer, and
 * nothing here depends on which one it is.
 *
 * Prompts (config_sentence_transformers.json, prompts.c) are prepended to
 * each text before tokenising, as sentence-transformers' encode does.  After
 * pooling, the Dense / Normalize modules and the truncation to truncate_dim
 * (dense.c) run over each group's pooled vectors.
 *
 * Thread safety: a loaded model is immutable apart from its thread pool
 * cache.  An akidb_embed call tokenises its texts on the calling thread,
 * groups them (up to the family's batch_rows tokens per group) and runs each
 * group's forward pass with all its token rows in one GEMM M dimension, on
 * n_threads threads of the model's persistent pool (the caller is thread 0).
 * The pool serves one call at a time: a call that finds it busy runs on its
 * own thread alone, so any number of threads may embed with one model at
 * once.  Results do not depend on the thread count or on the grouping.
 */
#include "model/blocks.h"
#include "model/classify.h"
#include "model/dense.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct akidb_model {
    char *name;
    char *dir;
    const ak_family *fam;
    ak_hparams hp;
    void *impl;                /* the family's loaded model */
    ak_head *head;             /* a reranker's head (classify.h), or NULL */
    ak_dtype dtype;            /* of the stored word embeddings */
    akidb_tokenizer *tok;      /* NULL when loaded for token ids only */
    size_t max_tokens;
    akidb_pooling pooling;
    int normalize;
    ak_prompts prompts;        /* config_sentence_transformers.json's */
    int include_prompt;        /* 0: the Pooling module would skip the prompt */
    ak_post post;              /* Dense / Normalize modules after Pooling */
    size_t dim;                /* default output width (truncate_dim or full) */
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
    case AKIDB_POOL_LAST_TOKEN: return "lasttoken";
    case AKIDB_POOL_WEIGHTED_MEAN: return "weightedmean";
    }
    return "unknown";
}

akidb_status akidb_pooling_parse(const char *name, akidb_pooling *out)
{
    AK_ASSERT(name && out);
    static const akidb_pooling all[] = { AKIDB_POOL_DEFAULT, AKIDB_POOL_MEAN,
                                         AKIDB_POOL_CLS, AKIDB_POOL_MAX,
                                         AKIDB_POOL_MEAN_SQRT_LEN, AKIDB_POOL_LAST_TOKEN,
                                         AKIDB_POOL_WEIGHTED_MEAN };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(name, akidb_pooling_name(all[i])) == 0) {
            *out = all[i];
            return AKIDB_OK;
        }
    }
    return ak_fail(AKIDB_EINVAL,
                   "unknown pooling '%.60s' (mean, cls, max, mean_sqrt_len, lasttoken, "
                   "weightedmean, default)", name);
}

void akidb_model_free(akidb_model *m)
{
    if (!m)
        return;
    ak_pool_free(m->pool);
    ak_arena_free(&m->arena);
    pthread_mutex_destroy(&m->pool_mu);
    if (m->impl)
        m->fam->free(m->impl);
    ak_head_free(m->head);
    ak_post_free(&m->post);
    ak_prompts_free(&m->prompts);
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

/* f32 arithmetic for a model loaded without a dtype: on the weights as
 * stored when every matrix is BF16 (half the memory of f32 and, with the
 * widening GEMMs, about its speed; the same results), else on f32 copies. */
static akidb_status default_prec(const char *tdir, int *prec)
{
    ak_st_set set;
    akidb_status st = ak_st_set_open(tdir, &set);   /* as the family's load opens it */
    *prec = 0;
    if (st != AKIDB_OK)   /* the family's load reports a bad file in its turn */
        return st == AKIDB_ENOMEM ? st : AKIDB_OK;
    *prec = ak_st_set_matrix_dtype(&set) == AK_DT_BF16 ? AK_PREC_W16 : 0;
    ak_st_set_close(&set);
    return AKIDB_OK;
}

/* Precision of the linear layers from dtype (NULL: $AKIDB_DTYPE, else -1:
 * default_prec). */
static akidb_status parse_dtype(const char *dir, const akidb_model_opts *opts, int *prec)
{
    const char *dtype = opts && opts->dtype ? opts->dtype : getenv("AKIDB_DTYPE");
    *prec = 0;
    if (!dtype || !*dtype)
        *prec = -1;
    if (!dtype || !*dtype || strcmp(dtype, "f32") == 0 || strcmp(dtype, "fp32") == 0 ||
        strcmp(dtype, "float32") == 0)
        return AKIDB_OK;
    if (strcmp(dtype, "bf16") == 0 || strcmp(dtype, "bfloat16") == 0)
        *prec = 1;
    else if (strcmp(dtype, "int8") == 0)
        *prec = 2;
    else
        return ak_fail(AKIDB_EINVAL, "%s: unknown dtype '%.40s' (f32, bf16 or int8)", dir,
                       dtype);
    return AKIDB_OK;
}

/* The family, hyper-parameters and weights of the transformer in tdir. */
static akidb_status load_transformer(akidb_model *m, const char *dir, const char *tdir,
                                     const akidb_model_opts *opts)
{
    char *cfg_path = ak_path_join(tdir, "config.json");
    if (!cfg_path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    akidb_status st;
    int prec = 0;
    if (!ak_file_exists(cfg_path))
        st = ak_fail(AKIDB_ENOENT, "%s: missing (not a Hugging Face model folder?)", cfg_path);
    else if ((st = ak_family_config_load(cfg_path, &m->fam, &m->hp)) == AKIDB_OK &&
             (st = parse_dtype(dir, opts, &prec)) == AKIDB_OK &&
             (prec >= 0 || (st = default_prec(tdir, &prec)) == AKIDB_OK))
        st = m->fam->load(tdir, &m->hp, prec, &m->impl, &m->dtype);
    ak_free(cfg_path);
    return st;
}

/* The Dense / Normalize modules after Pooling and the default width. */
static akidb_status load_post(akidb_model *m, const char *dir, const ak_st_pipeline *pipe)
{
    akidb_status st = ak_post_load(pipe, m->hp.hidden, &m->post);
    if (st != AKIDB_OK)
        return st;
    m->dim = m->post.out_dim;
    if (pipe->truncate_dim > m->post.out_dim)
        return ak_fail(AKIDB_EFORMAT,
                       "%s/config_sentence_transformers.json: truncate_dim %zu exceeds the "
                       "embedding dimension %zu", dir, pipe->truncate_dim, m->post.out_dim);
    if (pipe->truncate_dim)
        m->dim = pipe->truncate_dim;
    return AKIDB_OK;
}

static akidb_status model_load(const char *dir, const akidb_model_opts *opts, int with_tok,
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
    akidb_status st = ak_pipeline_load(dir, &pipe);
    if (st != AKIDB_OK) {
        akidb_model_free(m);
        return st;
    }
    const char *tdir = pipe.transformer_dir;
    if ((st = load_transformer(m, dir, tdir, opts)) != AKIDB_OK)
        goto fail;
    if (with_tok && (st = akidb_tokenizer_load(tdir, &m->tok)) != AKIDB_OK) {
        m->tok = NULL;
        goto fail;
    }
    const ak_rerank_src rsrc = { tdir, m->fam, &m->hp, opts ? opts->max_seq_length : 0,
                                 m->tok, opts ? opts->reranker : 0, dir, pipe.score_dir };
    if ((st = ak_head_load(&rsrc, &m->head)) != AKIDB_OK)
        goto fail;
    if (pipe.no_pooling && !m->head) {
        st = ak_fail(AKIDB_EUNSUPPORTED, "%s/modules.json: no Pooling module (token "
                     "embeddings are not supported)", dir);
        goto fail;
    }
    size_t max_seq = opts && opts->max_seq_length ? opts->max_seq_length : pipe.max_seq_length;
    if (max_seq == 0 && (st = ak_tokenizer_max_length(tdir, &max_seq)) != AKIDB_OK)
        goto fail;
    if (max_seq == 0 || max_seq > m->hp.max_tokens)
        max_seq = m->hp.max_tokens;
    m->max_tokens = max_seq;
    m->pooling = pipe.pooling;
    m->normalize = pipe.normalize;
    m->include_prompt = pipe.include_prompt;
    if ((st = load_post(m, dir, &pipe)) != AKIDB_OK)
        goto fail;
    if ((st = ak_prompts_load(dir, &m->prompts)) != AKIDB_OK)
        goto fail;
    m->n_threads = opts && opts->n_threads > 0 ? opts->n_threads : 1;
    m->dir = ak_strdup(dir);
    m->name = opts && opts->name ? ak_strdup(opts->name) : base_name(dir);
    if (!m->dir || !m->name) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    ak_pipeline_free(&pipe);
    *out = m;
    return AKIDB_OK;
fail:
    ak_pipeline_free(&pipe);
    akidb_model_free(m);
    return st;
}

akidb_status akidb_model_load(const char *dir, const akidb_model_opts *opts,
                              akidb_model **out)
{
    return model_load(dir, opts, 1, out);
}

akidb_status ak_model_load_ids(const char *dir, const akidb_model_opts *opts,
                               akidb_model **out)
{
    return model_load(dir, opts, 0, out);
}

void akidb_model_get_info(const akidb_model *m, akidb_model_info *info)
{
    AK_ASSERT(m && info);
    const ak_hparams *c = &m->hp;
    memset(info, 0, sizeof *info);
    info->name = m->name;
    info->dir = m->dir;
    info->dim = m->dim;
    info->max_tokens = m->max_tokens;
    info->pooling = m->pooling;
    info->normalize = m->normalize;
    info->n_layers = c->n_layers;
    info->hidden = c->hidden;
    info->n_heads = c->n_heads;
    info->intermediate = c->intermediate;
    info->vocab_size = c->vocab;
    info->weights_dtype = ak_dtype_name(m->dtype);
    info->num_labels = m->head ? ak_head_labels(m->head) : 0;
}

const ak_family *ak_model_family(const akidb_model *m)
{
    AK_ASSERT(m);
    return m->fam;
}

const ak_hparams *ak_model_hparams(const akidb_model *m)
{
    AK_ASSERT(m);
    return &m->hp;
}

const ak_head *ak_model_head(const akidb_model *m)
{
    AK_ASSERT(m);
    return m->head;
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

/* What one embedding call runs with: options resolved against the model's
 * defaults, the pool (if it got it) and the arena. */
typedef struct call {
    akidb_model *m;
    akidb_embed_opts o;
    int normalize, threads;
    ak_pool *pool;
    ak_arena local, *ar;
    const char *prompt;        /* prepended to every text (akidb_embed), or NULL */
    char *buf;                 /* prompt + text */
    size_t buf_cap;
    size_t dim;                /* floats per embedding written */
    int run_post;              /* 1: pool into pbuf, then ak_post_run */
    size_t skip;               /* prompt tokens left out of pooling */
    float *pbuf;               /* [2 x group x post.max_dim] */
    size_t pbuf_cap;           /* floats */
} call;

/* True if the model has a Dense module. */
static bool has_dense(const akidb_model *m)
{
    for (size_t i = 0; i < m->post.n; i++)
        if (m->post.dense[i])
            return true;
    return false;
}

/* Resolves the output width of a call: post 0 (a reranker's pooled
 * vectors) gives the hidden size without the modules after Pooling. */
static akidb_status call_dim(call *c, int post)
{
    const akidb_model *m = c->m;
    c->dim = m->hp.hidden;
    if (!post)
        return AKIDB_OK;
    if (c->o.truncate_dim > m->post.out_dim)
        return ak_fail(AKIDB_EINVAL,
                       "truncate_dim %zu exceeds the embedding dimension %zu of model %s",
                       c->o.truncate_dim, m->post.out_dim, m->name);
    c->dim = c->o.truncate_dim ? c->o.truncate_dim : m->dim;
    c->run_post = c->dim != m->hp.hidden || has_dense(m);
    return AKIDB_OK;
}

static akidb_status call_begin(call *c, const akidb_model *cm, const akidb_embed_opts *opts,
                               int post)
{
    memset(c, 0, sizeof *c);
    c->m = (akidb_model *)cm;   /* only the pool cache changes */
    c->o = (akidb_embed_opts)AKIDB_EMBED_OPTS_INIT;
    if (opts)
        c->o = *opts;
    if (c->o.n_tokens)
        *c->o.n_tokens = 0;
    if (c->o.pooling == AKIDB_POOL_DEFAULT)
        c->o.pooling = cm->pooling;
    ak_arena_init(&c->local, 0);
    c->ar = &c->local;
    if (c->o.pooling < AKIDB_POOL_MEAN || c->o.pooling > AKIDB_POOL_WEIGHTED_MEAN)
        return ak_fail(AKIDB_EINVAL, "unknown pooling value %d", (int)c->o.pooling);
    c->normalize = c->o.normalize < 0 ? cm->normalize : c->o.normalize != 0;
    akidb_status st = call_dim(c, post);
    if (st != AKIDB_OK)
        return st;
    int threads = c->o.n_threads > 0 ? c->o.n_threads : cm->n_threads;
    /* more threads than CPUs only add waiting (results do not depend on it) */
    int cpus = online_cpus();
    c->threads = threads > cpus ? cpus : threads < 1 ? 1 : threads;
    return AKIDB_OK;
}

/* Takes the pool (and with it the model's kept arena) for the call. */
static void call_pool(call *c)
{
    c->pool = pool_acquire(c->m, c->threads);
    if (c->pool)
        c->ar = &c->m->arena;   /* guarded by pool_mu like the pool */
}

static void call_end(call *c)
{
    if (c->pool)
        ak_arena_reset(&c->m->arena);
    pool_release(c->m, c->pool);
    ak_arena_free(&c->local);
    ak_free(c->buf);
    ak_free(c->pbuf);
}

/* Fails with EDIM if an id of sequence i is outside the vocabulary. */
static akidb_status check_ids(const akidb_model *m, size_t i, const int32_t *ids, size_t n)
{
    for (size_t p = 0; p < n; p++)
        if (ids[p] < 0 || (size_t)ids[p] >= m->hp.vocab)
            return ak_fail(AKIDB_EDIM,
                           "text %zu: token id %d is outside the model's vocabulary of %zu",
                           i, (int)ids[p], m->hp.vocab);
    return AKIDB_OK;
}

/* Embeds sequences [0, g) (texts first..; token types types[0, g), or
 * NULL) of one group into out. */
static akidb_status run_group(call *c, size_t first, size_t g, const int32_t *const *ids,
                              const uint32_t *const *types, const size_t *tl, float *out)
{
    size_t rows = 0, max_len = 0;
    for (size_t k = 0; k < g; k++) {
        rows += tl[k];
        max_len = tl[k] > max_len ? tl[k] : max_len;
    }
    /* one arena block holds the whole pass */
    size_t want = c->m->fam->scratch_bytes(c->m->impl, rows, max_len, c->threads);
    if (want > c->ar->block_size)
        c->ar->block_size = want;
    const ak_post *post = &c->m->post;
    float *dst = out;
    if (c->run_post) {   /* pooled vectors, then the modules after Pooling */
        size_t need = 2 * g * post->max_dim;
        if (need > c->pbuf_cap) {
            ak_free(c->pbuf);
            c->pbuf_cap = 0;
            if (!(c->pbuf = ak_malloc(need * sizeof *c->pbuf)))
                return ak_fail(AKIDB_ENOMEM, "texts %zu-%zu: out of memory", first,
                               first + g - 1);
            c->pbuf_cap = need;
        }
        dst = c->pbuf;
    }
    akidb_status st = ak_embed_seqs_skip(c->m->fam, c->m->impl, &c->m->hp, g, ids, types, tl,
                                         c->skip, c->o.pooling, c->run_post ? 0 : c->normalize,
                                         c->pool, c->threads, c->ar, dst);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "texts %zu-%zu", first, first + g - 1);
    if (c->run_post)
        ak_post_run(post, g, c->pbuf, c->o.normalize < 0 ? -1 : c->o.normalize != 0, c->dim,
                    c->pbuf + g * post->max_dim, out);
    if (c->o.n_tokens)
        *c->o.n_tokens += rows;
    return AKIDB_OK;
}

/* True if the tokenizer counts id as a special token (decoding it skipping
 * special tokens gives nothing, and something without skipping). */
static akidb_status is_special(const akidb_tokenizer *tok, int32_t id, bool *out)
{
    char *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    akidb_status st = akidb_tokenizer_decode(tok, &id, 1, 1, &a, &la);
    if (st == AKIDB_OK)
        st = akidb_tokenizer_decode(tok, &id, 1, 0, &b, &lb);
    *out = st == AKIDB_OK && la == 0 && lb > 0;
    akidb_string_free(a);
    akidb_string_free(b);
    return st;
}

/* The tokens of the call's prompt that a Pooling module with include_prompt
 * false leaves out, as SentenceTransformer counts them: the prompt alone
 * tokenised (truncated like the texts), less its last token if that is a
 * special one (a closing [SEP] / EOS). */
static akidb_status prompt_length(call *c)
{
    const akidb_model *m = c->m;
    akidb_tokens tk = {0};
    akidb_status st = akidb_tokenizer_encode(m->tok, c->prompt, strlen(c->prompt),
                                             m->max_tokens, &tk);
    bool sp = false;
    if (st == AKIDB_OK && tk.n > 0)
        st = is_special(m->tok, tk.ids[tk.n - 1], &sp);
    if (st == AKIDB_OK)
        c->skip = tk.n - (sp ? 1 : 0);
    akidb_tokens_free(&tk);
    return st == AKIDB_OK ? st : ak_fail_prefix(st, "the prompt");
}

/* The prompt of an akidb_embed call (ak_prompts_pick) into c->prompt,
 * NULL for none. */
static akidb_status call_prompt(call *c)
{
    const char *p;
    akidb_status st = ak_prompts_pick(&c->m->prompts, c->o.prompt_name, c->o.prompt, &p);
    if (st != AKIDB_OK)
        return st;
    c->prompt = p && *p ? p : NULL;
    if (c->prompt && !c->m->include_prompt)
        return prompt_length(c);
    return AKIDB_OK;
}

/* Tokenises text ti (after the call's prompt, as sentence-transformers
 * joins them: prompt + text, tokenised together) into tk, checking the
 * result against the model. */
static akidb_status tokenize(call *c, const char *t, size_t len, size_t ti,
                             akidb_tokens *tk)
{
    const akidb_model *m = c->m;
    if (c->prompt) {
        size_t pl = strlen(c->prompt);
        if (pl + len + 1 > c->buf_cap) {
            char *b = ak_realloc(c->buf, pl + len + 1);
            if (!b)
                return ak_fail(AKIDB_ENOMEM, "text %zu: out of memory", ti);
            c->buf = b;
            c->buf_cap = pl + len + 1;
        }
        memcpy(c->buf, c->prompt, pl);
        memcpy(c->buf + pl, t, len);
        t = c->buf;
        len += pl;
    }
    akidb_status st = akidb_tokenizer_encode(m->tok, t, len, m->max_tokens, tk);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "text %zu", ti);
    if (c->o.no_truncate && tk->n_full > m->max_tokens)
        return ak_fail(AKIDB_ETOOLONG, "text %zu: %zu tokens exceed the model's limit of %zu",
                       ti, tk->n_full, m->max_tokens);
    if (tk->n == 0 || tk->n > m->max_tokens)
        return ak_fail(AKIDB_EINTERNAL, "text %zu: tokenizer gave %zu tokens (limit %zu)", ti,
                       tk->n, m->max_tokens);
    return check_ids(m, ti, tk->ids, tk->n);
}

akidb_status akidb_embed(const akidb_model *cm, const char *const *texts,
                         const size_t *lens, size_t n, float *out,
                         const akidb_embed_opts *opts)
{
    AK_ASSERT(cm != NULL);
    AK_ASSERT(n == 0 || (texts != NULL && out != NULL));
    call c;
    akidb_status st = call_begin(&c, cm, opts, 1);
    if (st != AKIDB_OK || n == 0)
        goto end;
    if (!cm->tok) {
        st = ak_fail(AKIDB_EINVAL, "model %s was loaded without its tokenizer", cm->name);
        goto end;
    }
    if ((st = call_prompt(&c)) != AKIDB_OK)
        goto end;
    const size_t D = c.dim, cap = cm->fam->batch_rows(cm->impl);
    const size_t max_group = n < 256 ? n : 256;
    akidb_tokens *toks = ak_calloc(max_group, sizeof *toks);
    const int32_t **ids = ak_calloc(max_group, sizeof *ids);
    size_t *tl = ak_calloc(max_group, sizeof *tl);
    if (!toks || !ids || !tl) {
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto out;
    }
    call_pool(&c);
    for (size_t i = 0; i < n && st == AKIDB_OK;) {
        /* tokenise a group of texts that together fit one forward pass */
        size_t g = 0, rows = 0;
        while (i + g < n && g < max_group) {
            size_t ti = i + g;
            AK_ASSERT(texts[ti] != NULL);
            akidb_tokens *tk = &toks[g];
            st = tokenize(&c, texts[ti], lens ? lens[ti] : strlen(texts[ti]), ti, tk);
            if (st != AKIDB_OK)
                goto out;
            if (g > 0 && rows + tk->n > cap)
                break;   /* re-tokenised as the first of the next group */
            ids[g] = tk->ids;
            tl[g] = tk->n;
            rows += tk->n;
            g++;
        }
        st = run_group(&c, i, g, ids, NULL, tl, out + i * D);
        i += g;
    }
out:
    if (toks)
        for (size_t g = 0; g < max_group; g++)
            akidb_tokens_free(&toks[g]);
    ak_free(toks);
    ak_free(ids);
    ak_free(tl);
end:
    if (st != AKIDB_OK && c.o.n_tokens)
        *c.o.n_tokens = 0;
    call_end(&c);
    return st;
}

/* Fails with EDIM if a token type of sequence i is outside the model's
 * type table (only 0 for a model without one). */
static akidb_status check_types(const akidb_model *m, size_t i, const uint32_t *types, size_t n)
{
    size_t tv = m->hp.type_vocab ? m->hp.type_vocab : 1;
    for (size_t p = 0; p < n; p++)
        if (types[p] >= tv)
            return ak_fail(AKIDB_EDIM,
                           "text %zu: token type %u is outside the model's %zu token type%s "
                           "(type_vocab_size)", i, (unsigned)types[p], tv, tv == 1 ? "" : "s");
    return AKIDB_OK;
}

/* ak_model_embed_ids(_typed), lengths up to limit; post 0: the pooled
 * vectors, without the modules after Pooling. */
static akidb_status embed_ids(const akidb_model *cm, size_t n, const int32_t *const *ids,
                              const uint32_t *const *types, const size_t *lens, size_t limit,
                              int post, float *out, const akidb_embed_opts *opts)
{
    AK_ASSERT(cm != NULL);
    AK_ASSERT(n == 0 || (ids != NULL && lens != NULL && out != NULL));
    call c;
    akidb_status st = call_begin(&c, cm, opts, post);
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        if (lens[i] == 0)
            st = ak_fail(AKIDB_EINVAL, "text %zu: no token ids", i);
        else if (lens[i] > limit)
            st = ak_fail(AKIDB_ETOOLONG, "text %zu: %zu tokens exceed the model's limit of %zu",
                         i, lens[i], limit);
        else if ((st = check_ids(cm, i, ids[i], lens[i])) == AKIDB_OK && types)
            st = check_types(cm, i, types[i], lens[i]);
    }
    if (st == AKIDB_OK && n > 0) {
        const size_t D = c.dim, cap = cm->fam->batch_rows(cm->impl);
        call_pool(&c);
        for (size_t i = 0; i < n && st == AKIDB_OK;) {
            size_t g = 1, rows = lens[i];
            while (i + g < n && rows + lens[i + g] <= cap)
                rows += lens[i + g++];
            st = run_group(&c, i, g, ids + i, types ? types + i : NULL, lens + i, out + i * D);
            i += g;
        }
    }
    if (st != AKIDB_OK && c.o.n_tokens)
        *c.o.n_tokens = 0;
    call_end(&c);
    return st;
}

akidb_status ak_model_embed_ids(const akidb_model *cm, size_t n, const int32_t *const *ids,
                                const size_t *lens, float *out,
                                const akidb_embed_opts *opts)
{
    return embed_ids(cm, n, ids, NULL, lens, cm->max_tokens, 1, out, opts);
}

akidb_status akidb_embed_ids(const akidb_model *model, const int32_t *const *ids,
                             const size_t *lens, size_t n, float *out,
                             const akidb_embed_opts *opts)
{
    return ak_model_embed_ids(model, n, ids, lens, out, opts);
}

akidb_status ak_model_embed_ids_typed(const akidb_model *cm, size_t n,
                                      const int32_t *const *ids,
                                      const uint32_t *const *types, const size_t *lens,
                                      float *out, const akidb_embed_opts *opts)
{
    /* a reranker's pairs are cut to their own limit (akidb_rerank_opts):
     * only the positions bound them */
    return embed_ids(cm, n, ids, types, lens, cm->hp.max_tokens, 0, out, opts);
}

akidb_status akidb_model_prompt(const akidb_model *m, const char *name, const char **text)
{
    AK_ASSERT(m && text);
    return ak_prompts_pick(&m->prompts, name, NULL, text);
}

akidb_status akidb_embed_tokens(const akidb_model *cm, const int32_t *ids, size_t len,
                                float *out, const akidb_embed_opts *opts)
{
    AK_ASSERT(cm != NULL);
    AK_ASSERT(len == 0 || (ids != NULL && out != NULL));
    call c;
    akidb_status st = call_begin(&c, cm, opts, 0);
    if (st == AKIDB_OK && len == 0)
        st = ak_fail(AKIDB_EINVAL, "text 0: no token ids");
    else if (st == AKIDB_OK && len > cm->max_tokens)
        st = ak_fail(AKIDB_ETOOLONG, "text 0: %zu tokens exceed the model's limit of %zu", len,
                     cm->max_tokens);
    else if (st == AKIDB_OK)
        st = check_ids(cm, 0, ids, len);
    if (st == AKIDB_OK) {
        call_pool(&c);
        size_t want = cm->fam->scratch_bytes(cm->impl, len, len, c.threads);
        if (want > c.ar->block_size)
            c.ar->block_size = want;
        const ak_seqs seqs = { 1, &ids, &len, len, len, NULL };
        float *hidden = NULL;
        st = cm->fam->forward(cm->impl, &seqs, c.pool, c.threads, c.ar, &hidden);
        if (st == AKIDB_OK)
            memcpy(out, hidden, len * cm->hp.hidden * sizeof *out);
        else
            ak_fail_prefix(st, "text 0");
        if (st == AKIDB_OK && c.o.n_tokens)
            *c.o.n_tokens = len;
    }
    call_end(&c);
    return st;
}

akidb_status ak_model_forward(const akidb_model *m, const int32_t *ids, size_t s,
                              ak_arena *ar, float **hidden)
{
    AK_ASSERT(m && s >= 1 && s <= m->hp.max_tokens);
    const ak_seqs seqs = { 1, &ids, &s, s, s, NULL };
    return m->fam->forward(m->impl, &seqs, NULL, 1, ar, hidden);
}
