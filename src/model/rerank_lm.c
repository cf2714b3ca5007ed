/*
 * rerank_lm.c - the causal-LM kind of reranker head (ak_rerank_lm,
 * classify.h): a language model asked whether a document meets a query,
 * scored by how much more it would answer "yes" than "no".  Qwen3-Reranker
 * 0.6B / 4B / 8B (Qwen3ForCausalLM) as its model card runs it:
 *
 *   prompt  <|im_start|>system\nJudge whether the Document meets the
 *           requirements based on the Query and the Instruct provided. Note
 *           that the answer can only be "yes" or "no".<|im_end|>\n
 *           <|im_start|>user\n  +  "<Instruct>: {instruction}\n<Query>:
 *           {query}\n<Document>: {doc}"  +  <|im_end|>\n<|im_start|>
 *           assistant\n<think>\n\n</think>\n\n
 *           The prefix and suffix are tokenised alone, the middle as one
 *           text cut at its end to max_tokens minus their lengths (the
 *           card's tokenizer(truncation='longest_first') on one sequence);
 *   score   at the prompt's last token, the LM head's logits of the tokens
 *           "yes" and "no" (the tokenizer's convert_tokens_to_ids), only
 *           those two rows of lm_head (embed_tokens when tie_word_embeddings
 *           is true): raw = logit(yes) - logit(no), the log-odds, so that
 *           sigmoid(raw) = softmax(no, yes)[yes] = P(yes), the card's score.
 *           One output per pair, named "yes"; the default activation is
 *           sigmoid.
 *
 * When a folder is one: config.json's "architectures" names
 * Qwen3ForCausalLM and the folder is loaded as a reranker
 * (akidb_model_opts.reranker; `akidb rerank` does).  The same class serves
 * Qwen3 LLMs and Qwen3-Embedding folders, so the class alone cannot say it.
 * A CrossEncoder folder of sentence-transformers 5.4+ says it itself: its
 * modules.json lists a LogitScore module (sentence_transformers.
 * cross_encoder.modules.logit_score.LogitScore, config.json
 * {"true_token_id", "false_token_id", "module_input_name"}) after the
 * Transformer; such a folder is a reranker without the load option, its
 * score logit(true_token_id) - logit(false_token_id) (the true token's
 * logit alone when false_token_id is null), named after the true token,
 * and its default activation config_sentence_transformers.json's
 * "activation_fn" (a torch Sigmoid or Identity; sigmoid when absent), as
 * CrossEncoder.predict applies them.  The prompt stays the card's.
 * The default pair length is the card's max_length, 8192, capped by the
 * positions; the max_seq_length load option overrides it.
 *
 * Why only two rows: the full vocabulary's logits (151669 x hidden) would
 * cost more than the rest of the head for two numbers; the rows are copied
 * out of the mapping at load and the dot products run in float64.
 */
#include "model/blocks.h"
#include "model/classify.h"

#include <string.h>

#define LM_DEFAULT_MAX 8192
#define LM_DEFAULT_INSTRUCTION \
    "Given a web search query, retrieve relevant passages that answer the query"

static const char lm_prefix[] =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the "
    "Query and the Instruct provided. Note that the answer can only be \"yes\" or "
    "\"no\".<|im_end|>\n<|im_start|>user\n";
static const char lm_suffix[] = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

/* The classes served, with their family. */
static const struct { const char *arch; const ak_family *fam; } lm_archs[] = {
    { "Qwen3ForCausalLM", &ak_family_qwen3 },
};

typedef struct lm_head {
    const char *arch;
    size_t H;
    float *rows;                  /* [2 x H]: "yes", then "no" (zeros when a
                                     LogitScore has no false token) */
    char *label;                  /* the true token's text */
    akidb_rerank_activation act;  /* default activation; DEFAULT: act_name */
    char *act_name;               /* an activation_fn not supported */
    int32_t *pre, *suf;           /* the prompt's prefix / suffix ids */
    size_t npre, nsuf;
    size_t max_tokens;
} lm_head;

static void lm_free(void *impl)
{
    lm_head *h = impl;
    if (!h)
        return;
    ak_free(h->rows);
    ak_free(h->label);
    ak_free(h->act_name);
    ak_free(h->pre);
    ak_free(h->suf);
    ak_free(h);
}

static size_t lm_labels(const void *impl)
{
    (void)impl;
    return 1;
}

static const char *lm_label(const void *impl, size_t i)
{
    const lm_head *h = impl;
    return i == 0 ? h->label : NULL;
}

static size_t lm_max_tokens(const void *impl)
{
    return ((const lm_head *)impl)->max_tokens;
}

static int lm_uses_types(const void *impl)
{
    (void)impl;
    return 0;
}

static akidb_status lm_activation(const void *impl, akidb_rerank_activation *out)
{
    const lm_head *h = impl;
    *out = h->act;
    if (h->act == AKIDB_RERANK_ACT_DEFAULT)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "the model's activation_fn '%.120s' (config_sentence_transformers.json) "
                       "is not supported (torch.nn Identity or Sigmoid); choose raw, sigmoid or "
                       "softmax", h->act_name);
    return AKIDB_OK;
}

/* ---- load ---------------------------------------------------------------------- */

/* The class of config.json's architectures this kind serves, or NULL;
 * EFORMAT when it is not a class of the folder's model_type. */
static akidb_status find_arch(const ak_cfg *c, const ak_family *fam, const char **arch)
{
    *arch = NULL;
    const char *a;
    for (size_t i = 0; (a = ak_cfg_str_at(c, "architectures", i)); i++) {
        for (size_t k = 0; k < sizeof lm_archs / sizeof lm_archs[0]; k++) {
            if (strcmp(a, lm_archs[k].arch) != 0)
                continue;
            if (lm_archs[k].fam != fam)
                return ak_fail(AKIDB_EFORMAT, "%s: architecture '%s' is not a class of "
                               "the folder's model_type", ak_cfg_path(c), a);
            *arch = lm_archs[k].arch;
            return AKIDB_OK;
        }
    }
    return AKIDB_OK;
}

/* *id: the single token word ("yes" / "no"), checked against the model. */
static akidb_status answer_id(const akidb_tokenizer *tok, const char *tdir, const char *word,
                              size_t vocab, int32_t *id)
{
    *id = akidb_tokenizer_token_to_id(tok, word);
    if (*id < 0)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: the tokenizer has no single token \"%s\" (a causal-LM reranker "
                       "reads the logits of the tokens \"yes\" and \"no\")", tdir, word);
    if ((size_t)*id >= vocab)
        return ak_fail(AKIDB_EDIM,
                       "%s: the token \"%s\" has id %d, outside the model's vocabulary of %zu",
                       tdir, word, (int)*id, vocab);
    return AKIDB_OK;
}

/* text's ids without template tokens into a new array. */
static akidb_status encode_plain(const akidb_tokenizer *tok, const char *text, int32_t **ids,
                                 size_t *n)
{
    akidb_tokens tk = {0};
    akidb_status st = akidb_tokenizer_encode(tok, text, strlen(text), 0, &tk);
    if (st == AKIDB_OK) {
        *n = tk.n;
        if (!(*ids = ak_malloc((tk.n ? tk.n : 1) * sizeof **ids)))
            st = ak_fail(AKIDB_ENOMEM, "out of memory");
        else
            memcpy(*ids, tk.ids, tk.n * sizeof **ids);
    }
    akidb_tokens_free(&tk);
    return st;
}

/* The answer token ids (unless given: a LogitScore's) and the prompt's
 * prefix / suffix ids. */
static akidb_status load_prompt(lm_head *h, const akidb_tokenizer *tok, const char *tdir,
                                size_t vocab, int given, int32_t ids[2])
{
    akidb_tokens tk = {0};
    akidb_status st = akidb_tokenizer_encode(tok, "", 0, 0, &tk);
    size_t n_spec = tk.n;
    akidb_tokens_free(&tk);
    if (st != AKIDB_OK)
        return st;
    /* the card tokenises the prefix and suffix without the template's
     * special tokens and the middle with them: the same only when there
     * are none (Qwen3's post-processor adds none) */
    if (n_spec)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: tokenizer.json's post_processor adds %zu special token%s to a "
                       "text; a causal-LM reranker's prompt needs a tokenizer that adds none",
                       tdir, n_spec, n_spec == 1 ? "" : "s");
    if ((!given && ((st = answer_id(tok, tdir, "yes", vocab, &ids[0])) != AKIDB_OK ||
                    (st = answer_id(tok, tdir, "no", vocab, &ids[1])) != AKIDB_OK)) ||
        (st = encode_plain(tok, lm_prefix, &h->pre, &h->npre)) != AKIDB_OK ||
        (st = encode_plain(tok, lm_suffix, &h->suf, &h->nsuf)) != AKIDB_OK)
        return st;
    const char *t = akidb_tokenizer_id_to_token(tok, ids[0]);
    if (!(h->label = ak_strdup(t ? t : "score")))
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", tdir);
    return AKIDB_OK;
}

/* The LM head's rows of the two answers: lm_head.weight, or embed_tokens
 * when tied. */
static akidb_status load_rows(lm_head *h, const char *tdir, const ak_hparams *hp, int tied,
                              const int32_t ids[2])
{
    ak_weights w;
    akidb_status st = ak_weights_open(&w, tdir, "model.", 0);
    if (st != AKIDB_OK)
        return st;
    ak_table t;
    const char *name = tied ? "embed_tokens.weight" : "lm_head.weight";
    if ((st = ak_weights_table(&w, name, hp->vocab, hp->hidden, &t)) != AKIDB_OK) {
        st = ak_fail_prefix(st, "%s LM head (tie_word_embeddings %s)", h->arch,
                            tied ? "true" : "false");
    } else if (!(h->rows = ak_malloc(2 * hp->hidden * sizeof *h->rows))) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", tdir);
    } else {
        ak_table_row(&t, (size_t)ids[0], h->rows);
        if (ids[1] >= 0)
            ak_table_row(&t, (size_t)ids[1], h->rows + hp->hidden);
        else
            memset(h->rows + hp->hidden, 0, hp->hidden * sizeof *h->rows);
    }
    ak_weights_close(&w);
    return st;
}

/* A LogitScore module's config.json: ids[0] its true_token_id, ids[1] its
 * false_token_id (-1 when null or absent), both checked against vocab. */
static akidb_status read_logit_score(const char *sdir, size_t vocab, int32_t ids[2])
{
    char *path = ak_path_join(sdir, "config.json");
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", sdir);
    ak_cfg *c = NULL;
    long t = 0, f = -1;
    const char *input = NULL;
    akidb_status st = ak_cfg_open(path, &c);
    if (st == AKIDB_OK && !ak_cfg_has(c, "true_token_id"))
        st = ak_fail(AKIDB_EFORMAT, "%s: the LogitScore module has no \"true_token_id\"", path);
    if (st == AKIDB_OK &&
        ((st = ak_cfg_int(c, "true_token_id", 0, 0, (long)vocab - 1, &t)) != AKIDB_OK ||
         (st = ak_cfg_int(c, "false_token_id", -1, 0, (long)vocab - 1, &f)) != AKIDB_OK ||
         (st = ak_cfg_str(c, "module_input_name", "causal_logits", &input)) != AKIDB_OK))
        st = ak_fail_prefix(st, "LogitScore (the model's vocabulary: %zu ids)", vocab);
    if (st == AKIDB_OK && strcmp(input, "causal_logits") != 0)
        st = ak_fail(AKIDB_EUNSUPPORTED, "%s: module_input_name '%.60s' is not supported "
                     "(\"causal_logits\": the LM head's logits)", path, input);
    ids[0] = (int32_t)t;
    ids[1] = (int32_t)f;
    ak_cfg_close(c);
    ak_free(path);
    return st;
}

/* The default activation of a LogitScore folder: config_sentence_transformers
 * .json's activation_fn (CrossEncoder's), sigmoid when absent. */
static akidb_status read_st_activation(const char *dir, lm_head *h)
{
    h->act = AKIDB_RERANK_ACT_SIGMOID;
    char *path = ak_path_join(dir, "config_sentence_transformers.json");
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    ak_cfg *c = NULL;
    const char *fn = NULL;
    akidb_status st = AKIDB_OK;
    if (ak_file_exists(path) && (st = ak_cfg_open(path, &c)) == AKIDB_OK)
        st = ak_cfg_str(c, "activation_fn", NULL, &fn);
    static const struct { const char *name; akidb_rerank_activation a; } known[] = {
        { "torch.nn.modules.activation.Sigmoid", AKIDB_RERANK_ACT_SIGMOID },
        { "torch.nn.Sigmoid", AKIDB_RERANK_ACT_SIGMOID },
        { "torch.nn.modules.linear.Identity", AKIDB_RERANK_ACT_RAW },
        { "torch.nn.Identity", AKIDB_RERANK_ACT_RAW },
    };
    /* CrossEncoder imports only torch.* paths (others need
     * trust_remote_code and fall back to the default) */
    if (st == AKIDB_OK && fn && strncmp(fn, "torch.", 6) == 0) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(fn, known[i].name) != 0)
            i++;
        if (i < sizeof known / sizeof known[0]) {
            h->act = known[i].a;
        } else {   /* refused when used, as for a sequence-classification head */
            h->act = AKIDB_RERANK_ACT_DEFAULT;
            if (!(h->act_name = ak_strdup(fn)))
                st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
        }
    }
    ak_cfg_close(c);
    ak_free(path);
    return st;
}

static akidb_status lm_load(const ak_rerank_src *src, void **out)
{
    *out = NULL;
    if (!src->as_reranker && !src->score_dir)
        return AKIDB_OK;
    char *path = ak_path_join(src->tdir, "config.json");
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", src->tdir);
    ak_cfg *c = NULL;
    const char *arch = NULL;
    int tied = 0;
    akidb_tokenizer *own = NULL;
    lm_head *h = NULL;
    akidb_status st = ak_cfg_open(path, &c);
    if (st == AKIDB_OK)
        st = find_arch(c, src->fam, &arch);
    if (st == AKIDB_OK && !arch && src->score_dir) {
        const char *a0 = ak_cfg_str_at(c, "architectures", 0);
        st = ak_fail(AKIDB_EUNSUPPORTED,
                     "%s: a LogitScore (causal-LM) reranker of architecture '%.80s' is not "
                     "supported (Qwen3ForCausalLM)", path, a0 ? a0 : "(none)");
    }
    /* Qwen3Config's default: untied */
    if (st != AKIDB_OK || !arch || (st = ak_cfg_bool(c, "tie_word_embeddings", 0, &tied)))
        goto done;
    if (!(h = ak_calloc(1, sizeof *h))) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    h->arch = arch;
    h->H = src->hp->hidden;
    const akidb_tokenizer *tok = src->tok;
    if (!tok && (st = akidb_tokenizer_load(src->tdir, &own)) != AKIDB_OK) {
        own = NULL;
        goto done;
    }
    int32_t ids[2] = { 0, 0 };
    h->act = AKIDB_RERANK_ACT_SIGMOID;
    if (src->score_dir && ((st = read_logit_score(src->score_dir, src->hp->vocab, ids)) ||
                           (st = read_st_activation(src->dir, h))))
        goto done;
    if ((st = load_prompt(h, tok ? tok : own, src->tdir, src->hp->vocab, src->score_dir != NULL,
                          ids)) != AKIDB_OK ||
        (st = load_rows(h, src->tdir, src->hp, tied, ids)) != AKIDB_OK)
        goto done;
    h->max_tokens = src->max_seq ? src->max_seq : LM_DEFAULT_MAX;
    if (h->max_tokens > src->hp->max_tokens)
        h->max_tokens = src->hp->max_tokens;
    *out = h;
    h = NULL;
done:
    lm_free(h);
    if (own)
        akidb_tokenizer_free(own);
    ak_cfg_close(c);
    ak_free(path);
    return st;
}

/* ---- pairs and scores ---------------------------------------------------------- */

static akidb_status grow(akidb_tokens *tk, size_t need)
{
    if (need <= tk->cap && tk->ids && tk->type_ids)
        return AKIDB_OK;
    int32_t *ids = ak_realloc(tk->ids, need * sizeof *ids);
    if (ids)
        tk->ids = ids;
    uint32_t *types = ak_realloc(tk->type_ids, need * sizeof *types);
    if (types)
        tk->type_ids = types;
    if (!ids || !types)
        return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", need);
    tk->cap = need;
    return AKIDB_OK;
}

static akidb_status lm_encode(const void *impl, const akidb_tokenizer *tok,
                              const akidb_rerank_opts *o, size_t max, const char *q, size_t qlen,
                              const char *d, size_t dlen, size_t di, akidb_tokens *tk)
{
    const lm_head *h = impl;
    const size_t fixed = h->npre + h->nsuf;
    if (max <= fixed)
        return ak_fail(AKIDB_EINVAL,
                       "max_tokens %zu leaves no room for the pair: the prompt's prefix and "
                       "suffix take %zu tokens", max, fixed);
    const char *ins = o->instruction ? o->instruction : LM_DEFAULT_INSTRUCTION;
    static const char k_ins[] = "<Instruct>: ", k_q[] = "\n<Query>: ", k_d[] = "\n<Document>: ";
    const size_t il = strlen(ins), len = sizeof k_ins - 1 + il + sizeof k_q - 1 + qlen +
                                          sizeof k_d - 1 + dlen;
    char *buf = ak_malloc(len + 1), *p = buf;
    if (!buf)
        return ak_fail(AKIDB_ENOMEM, "document %zu: out of memory", di);
    memcpy(p, k_ins, sizeof k_ins - 1);
    p += sizeof k_ins - 1;
    memcpy(p, ins, il);
    p += il;
    memcpy(p, k_q, sizeof k_q - 1);
    p += sizeof k_q - 1;
    if (qlen)
        memcpy(p, q, qlen);
    p += qlen;
    memcpy(p, k_d, sizeof k_d - 1);
    p += sizeof k_d - 1;
    if (dlen)
        memcpy(p, d, dlen);
    akidb_status st = akidb_tokenizer_encode(tok, buf, len, max - fixed, tk);
    ak_free(buf);
    if (st == AKIDB_OK)
        st = grow(tk, tk->n + fixed);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "document %zu", di);
    memmove(tk->ids + h->npre, tk->ids, tk->n * sizeof *tk->ids);
    memcpy(tk->ids, h->pre, h->npre * sizeof *tk->ids);
    memcpy(tk->ids + h->npre + tk->n, h->suf, h->nsuf * sizeof *tk->ids);
    tk->n += fixed;
    tk->n_full += fixed;
    memset(tk->type_ids, 0, tk->n * sizeof *tk->type_ids);
    return AKIDB_OK;
}

static akidb_status lm_apply(const void *impl, size_t n, const float *rows, float *logits)
{
    const lm_head *h = impl;
    const size_t H = h->H;
    const float *wy = h->rows, *wn = h->rows + H;
    for (size_t r = 0; r < n; r++) {
        const float *x = rows + r * H;
        double y = 0, no = 0;
        for (size_t k = 0; k < H; k++) {
            y += (double)wy[k] * x[k];
            no += (double)wn[k] * x[k];
        }
        logits[r] = (float)(y - no);
    }
    return AKIDB_OK;
}

const ak_rerank_kind ak_rerank_lm = {
    .name = "causal-LM yes / no",
    .load = lm_load,
    .free = lm_free,
    .labels = lm_labels,
    .label = lm_label,
    .max_tokens = lm_max_tokens,
    .uses_types = lm_uses_types,
    .activation = lm_activation,
    .row = AKIDB_POOL_LAST_TOKEN,
    .encode = lm_encode,
    .apply = lm_apply,
};
