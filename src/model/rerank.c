/*
 * rerank.c - the public reranker API: akidb_rerank scores documents against
 * a query as sentence-transformers' CrossEncoder.predict does (and, for
 * causal-LM rerankers, as the Qwen3-Reranker model card does), and the
 * table of reranker kinds (classify.h) behind it.
 *
 * Each (query, document) pair is encoded by the head's kind (the
 * tokenizer's pair template and truncation for a cross-encoder; the yes /
 * no prompt for a causal LM), then runs through the model's transformer
 * with the embedding machinery (groups of pairs in one GEMM, data-parallel
 * threads, the pooling of the kind's row: the first token or the last) and
 * the head, then the activation.  Pairs are tokenised and run a chunk at a
 * time, so memory stays bounded for any number of documents.
 *
 * Token types reach the model only where the model's tokenizer returns them
 * (BERT: 0 for the query, 1 for the document); RoBERTa's and DistilBERT's
 * tokenizers do not list token_type_ids among their model inputs, so those
 * models see type 0, as in Python.
 */
#include "model/classify.h"

#include <math.h>
#include <string.h>

#define RERANK_CHUNK 256   /* pairs tokenised and run per step */

/* The kinds, tried in order: the first to recognise a folder owns it. */
static const ak_rerank_kind *const kinds[] = { &ak_rerank_seqcls, &ak_rerank_lm };

akidb_status ak_head_load(const ak_rerank_src *src, ak_head **out)
{
    *out = NULL;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        void *impl = NULL;
        akidb_status st = kinds[k]->load(src, &impl);
        if (st != AKIDB_OK)
            return st;
        if (!impl)
            continue;   /* not of this kind */
        ak_head *h = ak_calloc(1, sizeof *h);
        if (!h) {
            kinds[k]->free(impl);
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory", src->tdir);
        }
        h->kind = kinds[k];
        h->impl = impl;
        *out = h;
        return AKIDB_OK;
    }
    return AKIDB_OK;
}

void ak_head_free(ak_head *h)
{
    if (!h)
        return;
    h->kind->free(h->impl);
    ak_free(h);
}

size_t ak_head_labels(const ak_head *h)
{
    return h->kind->labels(h->impl);
}

const char *ak_head_label(const ak_head *h, size_t i)
{
    return h->kind->label(h->impl, i);
}

size_t ak_head_max_tokens(const ak_head *h)
{
    return h->kind->max_tokens(h->impl);
}

int ak_head_uses_types(const ak_head *h)
{
    return h->kind->uses_types(h->impl);
}

akidb_status ak_head_activation(const ak_head *h, akidb_rerank_activation *out)
{
    return h->kind->activation(h->impl, out);
}

akidb_status ak_head_apply(const ak_head *h, size_t n, const float *rows, float *logits)
{
    return h->kind->apply(h->impl, n, rows, logits);
}

const char *akidb_rerank_activation_name(akidb_rerank_activation a)
{
    switch (a) {
    case AKIDB_RERANK_ACT_DEFAULT: return "default";
    case AKIDB_RERANK_ACT_RAW: return "raw";
    case AKIDB_RERANK_ACT_SIGMOID: return "sigmoid";
    case AKIDB_RERANK_ACT_SOFTMAX: return "softmax";
    }
    return "unknown";
}

akidb_status akidb_rerank_activation_parse(const char *name, akidb_rerank_activation *out)
{
    AK_ASSERT(name && out);
    for (int a = AKIDB_RERANK_ACT_DEFAULT; a <= AKIDB_RERANK_ACT_SOFTMAX; a++) {
        if (strcmp(name, akidb_rerank_activation_name((akidb_rerank_activation)a)) == 0) {
            *out = (akidb_rerank_activation)a;
            return AKIDB_OK;
        }
    }
    return ak_fail(AKIDB_EINVAL, "unknown activation '%.60s' (default, raw, sigmoid, softmax)",
                   name);
}

int akidb_model_is_reranker(const akidb_model *m)
{
    return ak_model_head(m) != NULL;
}

const char *akidb_model_label(const akidb_model *m, size_t i)
{
    const ak_head *h = ak_model_head(m);
    return h ? ak_head_label(h, i) : NULL;
}

/* The model's head, or EINVAL saying why there is none. */
static akidb_status need_head(const akidb_model *m, const ak_head **h)
{
    *h = ak_model_head(m);
    if (*h)
        return AKIDB_OK;
    akidb_model_info info;
    akidb_model_get_info(m, &info);
    return ak_fail(AKIDB_EINVAL,
                   "model %s is not a reranker: its config.json \"architectures\" names no "
                   "*ForSequenceClassification class, so it has no classification head, "
                   "and it was not loaded as a causal-LM reranker (Qwen3ForCausalLM with "
                   "the reranker load option); embed with it instead", info.name);
}

/* Options resolved against the model: the activation never DEFAULT. */
static akidb_status resolve(const ak_head *h, const akidb_rerank_opts *opts,
                            akidb_rerank_opts *o)
{
    *o = (akidb_rerank_opts)AKIDB_RERANK_OPTS_INIT;
    if (opts)
        *o = *opts;
    if (o->n_tokens)
        *o->n_tokens = 0;
    if (o->activation < AKIDB_RERANK_ACT_DEFAULT || o->activation > AKIDB_RERANK_ACT_SOFTMAX)
        return ak_fail(AKIDB_EINVAL, "unknown activation value %d", (int)o->activation);
    if (o->truncation < AKIDB_TRUNC_LONGEST_FIRST || o->truncation > AKIDB_TRUNC_ONLY_SECOND)
        return ak_fail(AKIDB_EINVAL, "unknown truncation value %d", (int)o->truncation);
    if (o->activation == AKIDB_RERANK_ACT_DEFAULT)
        return ak_head_activation(h, &o->activation);
    return AKIDB_OK;
}

/* The activation a on n rows of L logits, in place. */
static void activate(akidb_rerank_activation a, size_t n, size_t L, float *s)
{
    if (a == AKIDB_RERANK_ACT_SIGMOID) {
        for (size_t i = 0; i < n * L; i++)
            s[i] = (float)(1.0 / (1.0 + exp(-(double)s[i])));
    } else if (a == AKIDB_RERANK_ACT_SOFTMAX) {
        for (size_t r = 0; r < n; r++) {
            float *x = s + r * L;
            double mx = x[0], sum = 0;
            for (size_t l = 1; l < L; l++)
                mx = x[l] > mx ? x[l] : mx;
            for (size_t l = 0; l < L; l++)
                sum += exp((double)x[l] - mx);
            for (size_t l = 0; l < L; l++)
                x[l] = (float)(exp((double)x[l] - mx) / sum);
        }
    }
}

/* Scores of k checked pairs: the transformer's rows the head reads (the
 * first or the last token, into cls, k x hidden), the head, the activation.
 * Adds the tokens to *n_tokens. */
static akidb_status score(const akidb_model *m, const ak_head *h, const akidb_rerank_opts *o,
                          size_t k, const int32_t *const *ids, const uint32_t *const *types,
                          const size_t *lens, float *cls, float *scores)
{
    size_t nt = 0, *used = NULL;
    if (h->kind->used_len) {
        if (!(used = ak_malloc(k * sizeof *used)))
            return ak_fail(AKIDB_ENOMEM, "out of memory");
        for (size_t i = 0; i < k; i++)
            used[i] = h->kind->used_len(h->impl, ids[i], lens[i]);
        lens = used;
    }
    akidb_embed_opts eo = AKIDB_EMBED_OPTS_INIT;
    eo.pooling = h->kind->row_of ? h->kind->row_of(h->impl) : h->kind->row;
    eo.normalize = 0;
    eo.n_threads = o->n_threads;
    eo.n_tokens = &nt;
    akidb_status st = ak_model_embed_ids_typed(m, k, ids, ak_head_uses_types(h) ? types : NULL,
                                               lens, cls, &eo);
    ak_free(used);
    if (st == AKIDB_OK)
        st = ak_head_apply(h, k, cls, scores);
    if (st != AKIDB_OK)
        return st;
    activate(o->activation, k, ak_head_labels(h), scores);
    if (o->n_tokens)
        *o->n_tokens += nt;
    return AKIDB_OK;
}

akidb_status ak_model_rerank_ids(const akidb_model *m, size_t n, const int32_t *const *ids,
                                 const uint32_t *const *types, const size_t *lens,
                                 const akidb_rerank_opts *opts, float *scores)
{
    AK_ASSERT(m && (n == 0 || (ids && lens && scores)));
    const ak_head *h;
    akidb_rerank_opts o;
    akidb_status st = need_head(m, &h);
    if (st == AKIDB_OK)
        st = resolve(h, opts, &o);
    if (st != AKIDB_OK || n == 0)
        return st;
    float *cls = ak_malloc(n * ak_model_hparams(m)->hidden * sizeof *cls);
    if (!cls)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    st = score(m, h, &o, n, ids, types, lens, cls, scores);
    ak_free(cls);
    if (st != AKIDB_OK && o.n_tokens)
        *o.n_tokens = 0;
    return st;
}

/* Encodes pair (query, document di) into tk, checked against the model. */
static akidb_status encode(const akidb_model *m, const ak_head *h, const akidb_rerank_opts *o,
                           size_t max, const char *q, size_t qlen, const char *d, size_t dlen,
                           size_t di, akidb_tokens *tk)
{
    const ak_hparams *hp = ak_model_hparams(m);
    akidb_status st = h->kind->encode(h->impl, akidb_model_tokenizer(m), o, max, q, qlen, d,
                                      dlen, di, tk);
    if (st != AKIDB_OK)
        return st;
    if (tk->n == 0 || tk->n > max)
        return ak_fail(AKIDB_EINTERNAL, "document %zu: tokenizer gave %zu tokens (limit %zu)",
                       di, tk->n, max);
    size_t tv = hp->type_vocab ? hp->type_vocab : 1;
    for (size_t p = 0; p < tk->n; p++) {
        if (tk->ids[p] < 0 || (size_t)tk->ids[p] >= hp->vocab)
            return ak_fail(AKIDB_EDIM,
                           "document %zu: token id %d is outside the model's vocabulary of %zu",
                           di, (int)tk->ids[p], hp->vocab);
        if (ak_head_uses_types(h) && tk->type_ids[p] >= tv)
            return ak_fail(AKIDB_EDIM,
                           "document %zu: token type %u is outside the model's %zu token "
                           "types (type_vocab_size)", di, (unsigned)tk->type_ids[p], tv);
    }
    return AKIDB_OK;
}

akidb_status akidb_rerank(const akidb_model *m, const char *query, size_t qlen,
                          const char *const *docs, const size_t *lens, size_t n,
                          const akidb_rerank_opts *opts, float *scores)
{
    AK_ASSERT(m && (query || qlen == 0) && (n == 0 || (docs && scores)));
    const ak_head *h;
    akidb_rerank_opts o;
    akidb_status st = need_head(m, &h);
    if (st == AKIDB_OK)
        st = resolve(h, opts, &o);
    if (st != AKIDB_OK || n == 0)
        return st;
    const ak_hparams *hp = ak_model_hparams(m);
    if (!akidb_model_tokenizer(m))
        return ak_fail(AKIDB_EINVAL, "the model was loaded without its tokenizer");
    if (o.max_tokens > hp->max_tokens)
        return ak_fail(AKIDB_EINVAL, "max_tokens %zu exceeds the model's limit of %zu",
                       o.max_tokens, hp->max_tokens);
    const size_t max = o.max_tokens ? o.max_tokens : ak_head_max_tokens(h);
    const size_t L = ak_head_labels(h), chunk = n < RERANK_CHUNK ? n : RERANK_CHUNK;
    akidb_tokens *tk = ak_calloc(chunk, sizeof *tk);
    const int32_t **ids = ak_calloc(chunk, sizeof *ids);
    const uint32_t **types = ak_calloc(chunk, sizeof *types);
    size_t *tl = ak_calloc(chunk, sizeof *tl);
    float *cls = ak_malloc(chunk * hp->hidden * sizeof *cls);
    if (!tk || !ids || !types || !tl || !cls)
        st = ak_fail(AKIDB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && st == AKIDB_OK; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        for (size_t j = 0; j < k && st == AKIDB_OK; j++) {
            const char *d = docs[i + j];
            AK_ASSERT(d != NULL || (lens && lens[i + j] == 0));
            st = encode(m, h, &o, max, query, qlen, d ? d : "", lens ? lens[i + j] : strlen(d),
                        i + j, &tk[j]);
            ids[j] = tk[j].ids;
            types[j] = tk[j].type_ids;
            tl[j] = tk[j].n;
        }
        if (st == AKIDB_OK && (st = score(m, h, &o, k, ids, types, tl, cls, scores + i * L)))
            st = ak_fail_prefix(st, "documents %zu-%zu", i, i + k - 1);
    }
    if (tk)
        for (size_t j = 0; j < chunk; j++)
            akidb_tokens_free(&tk[j]);
    ak_free(tk);
    ak_free(ids);
    ak_free(types);
    ak_free(tl);
    ak_free(cls);
    if (st != AKIDB_OK && o.n_tokens)
        *o.n_tokens = 0;
    return st;
}
