/*
 * classify.c - the sequence-classification kind of reranker head
 * (ak_rerank_seqcls, classify.h): cross-encoders as Hugging Face's
 * *ForSequenceClassification classes compute them in eval mode (dropout
 * off) on one pooled row x of the last hidden states:
 *
 *   BertForSequenceClassification      classifier(tanh(bert.pooler.dense(x)))
 *   RobertaForSequenceClassification,  classifier.out_proj(tanh(
 *   XLMRobertaForSequenceClassification,   classifier.dense(x)))
 *   Camembert..., MPNetForSequenceClassification
 *   DistilBertForSequenceClassification classifier(relu(pre_classifier(x)))
 *   NewForSequenceClassification       classifier(tanh(new.pooler.dense(x)))
 *     (GTE v1.5 / mGTE, gte-multilingual-reranker-base; Alibaba-NLP/new-impl)
 *   NomicBertForSequenceClassification classifier(tanh(bert.pooler.dense(x)))
 *     (the nomic-ai/nomic-bert-2048 model code)
 *   ModernBertForSequenceClassification classifier(head.norm(act(head.dense(x))))
 *     act: config.json's classifier_activation (gelu); head.dense has a bias
 *     only with classifier_bias, head.norm (eps norm_eps) only with
 *     norm_bias; x after model.final_norm, of the first token
 *     (classifier_pooling "cls") or the mean over the pair's tokens ("mean")
 *   Qwen3ForSequenceClassification     score(x), no bias: x after model.norm
 *     at the last token that is not pad_token_id (the causal mask makes the
 *     tokens after it irrelevant, so they are dropped: the kind's used_len);
 *     the last token when config.json has no pad_token_id.  The Qwen3-
 *     Reranker "seq-cls" conversions (tomaarsen/Qwen3-Reranker-*-seq-cls):
 *     the pair is the tokenizer's, so the caller writes the card's prompt
 *     into the query and the document, as with CrossEncoder and TEI.
 *
 * x is the first token's state except for ModernBERT's mean, which the
 * model's own mean pooling gives (the kind's row_of), and Qwen3's last.
 *
 * A folder is a reranker when config.json's "architectures" names one of
 * these classes (CrossEncoder's own test: a class ending in
 * ForSequenceClassification).  Its outputs are num_labels: the size of
 * id2label when present (it wins over num_labels, as in PretrainedConfig),
 * else "num_labels", else 2 (PretrainedConfig's default).  The default
 * activation is CrossEncoder's: config.json's sentence_transformers
 * "activation_fn" (or the older sbert_ce_default_activation_function) when
 * it is a torch class, else sigmoid for one label and the raw logits for
 * more.  The pair length defaults as CrossEncoder's tokenizer limits it:
 * tokenizer_config.json's model_max_length, capped by the positions.
 * Token types reach the model where its tokenizer returns them: BERT's
 * always, GTE's and NomicBERT's (BERT tokenizers, or XLM-R's with one type)
 * when the model has more than one type.
 *
 * Why float64 and plain loops: the head is one [H x H] and one [L x H]
 * product per pair, noise next to the encoder; accumulating in double keeps
 * it exact on every kernel path.  Its tensors are copied out of the
 * mapping at load, so nothing stays mapped for them.
 */
#include "model/classify.h"
#include "model/blocks.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 65536

/* The dense layer's activation. */
typedef enum dense_act { DA_TANH, DA_RELU, DA_GELU, DA_GELU_TANH, DA_SILU } dense_act;

/* When the model sees the pair's token types. */
enum { TYPES_NO, TYPES_YES, TYPES_TABLE /* when type_vocab_size > 1 */ };

typedef struct head_spec {
    const char *arch;                 /* the architectures class name */
    const ak_family *fam;             /* the family its base model is */
    const char *prefix;               /* Hub prefix of the base model */
    const char *w1, *b1, *w2, *b2;    /* dense [H x H], then [L x H] */
    dense_act act;                    /* after the dense */
    int types;                        /* TYPES_* */
    int modern;                       /* ModernBERT's head: classifier_* fields,
                                         head.norm after the activation */
    int last;                         /* a decoder's: no dense (w1, b1 NULL),
                                         the last non-pad token's row */
} head_spec;

#define ROBERTA_HEAD "classifier.dense.weight", "classifier.dense.bias", \
    "classifier.out_proj.weight", "classifier.out_proj.bias"
#define POOLER_HEAD "pooler.dense.weight", "pooler.dense.bias", "classifier.weight", \
    "classifier.bias"

static const head_spec heads[] = {
    { "BertForSequenceClassification", &ak_family_bert, "bert.", POOLER_HEAD, DA_TANH,
      TYPES_YES, 0, 0 },
    { "RobertaForSequenceClassification", &ak_family_roberta, "roberta.", ROBERTA_HEAD,
      DA_TANH, TYPES_NO, 0, 0 },
    { "XLMRobertaForSequenceClassification", &ak_family_roberta, "roberta.", ROBERTA_HEAD,
      DA_TANH, TYPES_NO, 0, 0 },
    { "CamembertForSequenceClassification", &ak_family_roberta, "roberta.", ROBERTA_HEAD,
      DA_TANH, TYPES_NO, 0, 0 },
    { "DistilBertForSequenceClassification", &ak_family_distilbert, "distilbert.",
      "pre_classifier.weight", "pre_classifier.bias", "classifier.weight", "classifier.bias",
      DA_RELU, TYPES_NO, 0, 0 },
    { "MPNetForSequenceClassification", &ak_family_mpnet, "mpnet.", ROBERTA_HEAD, DA_TANH,
      TYPES_NO, 0, 0 },
    { "NewForSequenceClassification", &ak_family_gte, "new.", POOLER_HEAD, DA_TANH,
      TYPES_TABLE, 0, 0 },
    { "NomicBertForSequenceClassification", &ak_family_nomic, "bert.", POOLER_HEAD, DA_TANH,
      TYPES_TABLE, 0, 0 },
    { "ModernBertForSequenceClassification", &ak_family_modernbert, "model.",
      "head.dense.weight", "head.dense.bias", "classifier.weight", "classifier.bias", DA_GELU,
      TYPES_NO, 1, 0 },
    { "Qwen3ForSequenceClassification", &ak_family_qwen3, "model.", NULL, NULL,
      "score.weight", NULL, DA_TANH, TYPES_NO, 0, 1 },
};
#define N_HEADS (sizeof heads / sizeof heads[0])

typedef struct seqcls {
    const head_spec *spec;
    size_t H, L;
    float *w1, *b1, *w2, *b2;          /* one allocation, at w1 (b1 zeros when */
    float *nw, *nb;                    /* absent); ModernBERT's head.norm */
    dense_act act_fn;
    int norm, bias1, norm_bias, types;
    long pad;                          /* pad_token_id of a last-token head, or -1 */
    double eps;
    akidb_pooling row;                 /* the row the head reads */
    char **labels;                     /* [L] */
    size_t max_tokens;
    akidb_rerank_activation act;       /* resolved default, or DEFAULT: */
    char *act_name;                    /* ...config.json names this one */
} seqcls;

static void seqcls_free(void *impl)
{
    seqcls *h = impl;
    if (!h)
        return;
    if (h->labels)
        for (size_t i = 0; i < h->L; i++)
            ak_free(h->labels[i]);
    ak_free(h->labels);
    ak_free(h->w1);
    ak_free(h->act_name);
    ak_free(h);
}

static size_t seqcls_labels(const void *impl)
{
    const seqcls *h = impl;
    return h->L;
}

static const char *seqcls_label(const void *impl, size_t i)
{
    const seqcls *h = impl;
    return i < h->L ? h->labels[i] : NULL;
}

static size_t seqcls_max_tokens(const void *impl)
{
    const seqcls *h = impl;
    return h->max_tokens;
}

static int seqcls_uses_types(const void *impl)
{
    const seqcls *h = impl;
    return h->types;
}

static akidb_pooling seqcls_row_of(const void *impl)
{
    const seqcls *h = impl;
    return h->row;
}

static akidb_status seqcls_activation(const void *impl, akidb_rerank_activation *out)
{
    const seqcls *h = impl;
    *out = h->act;
    if (h->act == AKIDB_RERANK_ACT_DEFAULT)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "the model's activation_fn '%.120s' (config.json) is not supported "
                       "(torch.nn Identity or Sigmoid); choose raw, sigmoid or softmax",
                       h->act_name);
    return AKIDB_OK;
}

/* ---- config.json ----------------------------------------------------------- */

static akidb_status read_json(const char *path, json_t **out)
{
    char *text = NULL;
    size_t len = 0;
    akidb_status st = ak_read_file(path, (size_t)16 << 20, &text, &len);
    if (st != AKIDB_OK)
        return st;
    st = ak_json_parse(text, len, 0, path, out);
    ak_free(text);
    if (st != AKIDB_OK)
        return st;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return ak_fail(AKIDB_EFORMAT, "%s: not a JSON object", path);
    }
    return AKIDB_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The head named by architectures, *spec = NULL if none names one. */
static akidb_status find_spec(const char *path, json_t *root, const ak_family *fam,
                              const head_spec **spec)
{
    *spec = NULL;
    json_t *archs = json_object_get(root, "architectures"), *a;
    size_t i;
    if (!json_is_array(archs))
        return AKIDB_OK;
    json_array_foreach(archs, i, a) {
        const char *name = json_string_value(a);
        if (!name || !ends_with(name, "ForSequenceClassification"))
            continue;
        for (size_t k = 0; k < N_HEADS; k++) {
            if (strcmp(name, heads[k].arch) != 0)
                continue;
            const char *mt = json_string_value(json_object_get(root, "model_type"));
            if (heads[k].fam != fam)
                return ak_fail(AKIDB_EFORMAT,
                               "%s: architecture '%s' is not a class of model_type '%.60s'",
                               path, name, mt ? mt : "(none)");
            *spec = &heads[k];
            return AKIDB_OK;
        }
        char list[N_HEADS * 48] = "", *p = list;
        for (size_t k = 0; k < N_HEADS; k++)
            p += snprintf(p, sizeof list - (size_t)(p - list), "%s%s", k ? ", " : "",
                          heads[k].arch);
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: architecture '%.80s' is not supported (sequence-classification "
                       "heads: %s)", path, name, list);
    }
    return AKIDB_OK;
}

/* num_labels and the label names (id2label, else num_labels, else 2). */
static akidb_status read_labels(const char *path, json_t *root, seqcls *h)
{
    json_t *id2 = json_object_get(root, "id2label");
    size_t L = 2;
    if (id2 && !json_is_null(id2)) {
        if (!json_is_object(id2))
            return ak_fail(AKIDB_EFORMAT, "%s: \"id2label\" is not an object", path);
        L = json_object_size(id2);
        if (L == 0)
            return ak_fail(AKIDB_EFORMAT, "%s: \"id2label\" is empty (num_labels 0)", path);
        if (L > MAX_LABELS)
            return ak_fail(AKIDB_EFORMAT, "%s: \"id2label\" has %zu labels (at most %d)", path,
                           L, MAX_LABELS);
    } else {
        json_t *nl = json_object_get(root, "num_labels");
        id2 = NULL;
        if (nl && !json_is_null(nl)) {
            if (!json_is_integer(nl) || json_integer_value(nl) < 1 ||
                json_integer_value(nl) > MAX_LABELS)
                return ak_fail(AKIDB_EFORMAT, "%s: \"num_labels\" must be an integer in [1, %d]",
                               path, MAX_LABELS);
            L = (size_t)json_integer_value(nl);
        }
    }
    h->labels = ak_calloc(L, sizeof *h->labels);
    if (!h->labels)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    h->L = L;
    for (size_t i = 0; i < L; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        json_t *v = id2 ? json_object_get(id2, key) : NULL;
        if (id2 && !v)
            return ak_fail(AKIDB_EFORMAT, "%s: \"id2label\" has %zu labels but no key \"%s\"",
                           path, L, key);
        if (v && !json_is_string(v))
            return ak_fail(AKIDB_EFORMAT, "%s: id2label \"%s\" is not a string", path, key);
        char name[32];
        snprintf(name, sizeof name, "LABEL_%zu", i);
        if (!(h->labels[i] = ak_strdup(v ? json_string_value(v) : name)))
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    }
    return AKIDB_OK;
}

/* The default activation, as CrossEncoder.get_default_activation_fn. */
static akidb_status read_activation(const char *path, json_t *root, seqcls *h)
{
    json_t *st = json_object_get(root, "sentence_transformers");
    json_t *v = json_is_object(st) ? json_object_get(st, "activation_fn") : NULL;
    if (!v || json_is_null(v))
        v = json_object_get(root, "sbert_ce_default_activation_function");
    const char *fn = json_string_value(v);
    if (v && !json_is_null(v) && !fn)
        return ak_fail(AKIDB_EFORMAT, "%s: activation_fn is not a string", path);
    h->act = h->L == 1 ? AKIDB_RERANK_ACT_SIGMOID : AKIDB_RERANK_ACT_RAW;
    /* CrossEncoder imports only torch.* paths (others need trust_remote_code
     * and fall back to the default) */
    if (!fn || strncmp(fn, "torch.", 6) != 0)
        return AKIDB_OK;
    static const struct { const char *name; akidb_rerank_activation a; } known[] = {
        { "torch.nn.modules.activation.Sigmoid", AKIDB_RERANK_ACT_SIGMOID },
        { "torch.nn.Sigmoid", AKIDB_RERANK_ACT_SIGMOID },
        { "torch.nn.modules.linear.Identity", AKIDB_RERANK_ACT_RAW },
        { "torch.nn.Identity", AKIDB_RERANK_ACT_RAW },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(fn, known[i].name) == 0) {
            h->act = known[i].a;
            return AKIDB_OK;
        }
    }
    /* refused when used (akidb_rerank's default), not at load: the folder
     * still embeds and reranks with an explicit activation */
    h->act = AKIDB_RERANK_ACT_DEFAULT;
    if (!(h->act_name = ak_strdup(fn)))
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    return AKIDB_OK;
}

/* A last-token head's pad_token_id (absent or null: none). */
static akidb_status read_pad(const char *path, json_t *root, const ak_hparams *hp, seqcls *h)
{
    json_t *v = json_object_get(root, "pad_token_id");
    if (!v || json_is_null(v))
        return AKIDB_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (size_t)json_integer_value(v) >= hp->vocab)
        return ak_fail(AKIDB_EFORMAT, "%s: \"pad_token_id\" must be an integer in [0, %zu]",
                       path, hp->vocab - 1);
    h->pad = (long)json_integer_value(v);
    return AKIDB_OK;
}

/* ---- weights ----------------------------------------------------------------- */

/* ModernBERT's head fields: classifier_activation, classifier_bias,
 * classifier_pooling; norm_bias and norm_eps as the family read them. */
static akidb_status read_modern(const char *path, json_t *root, const ak_hparams *hp,
                                seqcls *h)
{
    static const struct { const char *name; dense_act a; } acts[] = {
        { "gelu", DA_GELU }, { "gelu_new", DA_GELU_TANH }, { "gelu_pytorch_tanh", DA_GELU_TANH },
        { "relu", DA_RELU }, { "silu", DA_SILU }, { "swish", DA_SILU }, { "tanh", DA_TANH },
    };
    json_t *v = json_object_get(root, "classifier_activation");
    const char *act = v && !json_is_null(v) ? json_string_value(v) : "gelu";
    if (!act)
        return ak_fail(AKIDB_EFORMAT, "%s: \"classifier_activation\" is not a string", path);
    size_t i = 0;
    while (i < sizeof acts / sizeof acts[0] && strcmp(act, acts[i].name) != 0)
        i++;
    if (i == sizeof acts / sizeof acts[0])
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: classifier_activation '%.40s' is not supported (gelu, gelu_new, "
                       "gelu_pytorch_tanh, relu, silu, swish, tanh)", path, act);
    h->act_fn = acts[i].a;
    v = json_object_get(root, "classifier_bias");
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return ak_fail(AKIDB_EFORMAT, "%s: \"classifier_bias\" is not a boolean", path);
    h->bias1 = json_is_true(v);
    v = json_object_get(root, "classifier_pooling");
    const char *pool = v && !json_is_null(v) ? json_string_value(v) : "cls";
    if (pool && strcmp(pool, "cls") == 0)
        h->row = AKIDB_POOL_CLS;
    else if (pool && strcmp(pool, "mean") == 0)
        h->row = AKIDB_POOL_MEAN;
    else
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: classifier_pooling %s%.40s%s is not supported (\"cls\", \"mean\")",
                       path, pool ? "'" : "", pool ? pool : "(not a string)", pool ? "'" : "");
    h->norm = 1;
    h->norm_bias = hp->norm_bias;
    h->eps = hp->ln_eps;
    return AKIDB_OK;
}

/* Copies the head's tensors, shapes checked against hidden and num_labels,
 * out of the folder's weights: the dense [H x H] (and its bias) where the
 * head has one, the LayerNorm's [H] where it has one, the classifier
 * [L x H] and its bias [L] where it has one (zeros where not). */
static akidb_status load_weights(const char *tdir, seqcls *h)
{
    const head_spec *sp = h->spec;
    const size_t H = h->H, L = h->L;
    ak_weights w;
    akidb_status st = ak_weights_open(&w, tdir, sp->prefix, 6);
    if (st != AKIDB_OK)
        return st;
    const float *t[6] = { 0 };
    if ((!sp->w1 || (st = ak_weights_get(&w, sp->w1, H, H, &t[0])) == AKIDB_OK) &&
        (!h->bias1 || (st = ak_weights_get(&w, sp->b1, H, 0, &t[1])) == AKIDB_OK) &&
        (!h->norm || (st = ak_weights_get(&w, "head.norm.weight", H, 0, &t[2])) == AKIDB_OK) &&
        (!h->norm_bias || (st = ak_weights_get(&w, "head.norm.bias", H, 0, &t[3])) == AKIDB_OK) &&
        (st = ak_weights_get(&w, sp->w2, L, H, &t[4])) == AKIDB_OK &&
        (!sp->b2 || (st = ak_weights_get(&w, sp->b2, L, 0, &t[5])) == AKIDB_OK)) {
        h->w1 = ak_calloc(H * H + 3 * H + L * H + L, sizeof *h->w1);
        if (!h->w1) {
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", tdir);
        } else {
            h->b1 = h->w1 + H * H;
            h->nw = h->b1 + H;
            h->nb = h->nw + H;
            h->w2 = h->nb + H;
            h->b2 = h->w2 + L * H;
            float *dst[6] = { h->w1, h->b1, h->nw, h->nb, h->w2, h->b2 };
            const size_t len[6] = { H * H, H, H, H, L * H, L };
            for (size_t i = 0; i < 6; i++)
                if (t[i])
                    memcpy(dst[i], t[i], len[i] * sizeof *dst[i]);
        }
    }
    ak_weights_close(&w);
    if (st != AKIDB_OK && st != AKIDB_ENOMEM)
        return ak_fail_prefix(st, "%s head", sp->arch);
    return st;
}

static akidb_status seqcls_load(const ak_rerank_src *src, void **out)
{
    const char *tdir = src->tdir;
    const ak_hparams *hp = src->hp;
    const size_t max_seq = src->max_seq;
    *out = NULL;
    if (src->score_dir)   /* a LogitScore folder: the causal-LM kind's */
        return AKIDB_OK;
    char *path = ak_path_join(tdir, "config.json");
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", tdir);
    json_t *root = NULL;
    seqcls *h = NULL;
    const head_spec *spec = NULL;
    akidb_status st = read_json(path, &root);
    if (st == AKIDB_OK)
        st = find_spec(path, root, src->fam, &spec);
    if (st != AKIDB_OK || !spec)
        goto done;
    if (!(h = ak_calloc(1, sizeof *h))) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    h->spec = spec;
    h->H = hp->hidden;
    h->act_fn = spec->act;
    h->row = spec->last ? AKIDB_POOL_LAST_TOKEN : AKIDB_POOL_CLS;
    h->bias1 = spec->b1 != NULL;
    h->pad = -1;
    h->types = spec->types == TYPES_YES || (spec->types == TYPES_TABLE && hp->type_vocab > 1);
    if ((spec->last && (st = read_pad(path, root, hp, h)) != AKIDB_OK) ||
        (spec->modern && (st = read_modern(path, root, hp, h)) != AKIDB_OK) ||
        (st = read_labels(path, root, h)) != AKIDB_OK ||
        (st = read_activation(path, root, h)) != AKIDB_OK ||
        (st = load_weights(tdir, h)) != AKIDB_OK)
        goto done;
    h->max_tokens = max_seq;
    if (!max_seq && (st = ak_tokenizer_max_length(tdir, &h->max_tokens)) != AKIDB_OK)
        goto done;
    if (h->max_tokens == 0 || h->max_tokens > hp->max_tokens)
        h->max_tokens = hp->max_tokens;
    *out = h;
    h = NULL;
done:
    seqcls_free(h);
    json_decref(root);
    ak_free(path);
    return st;
}

/* ---- forward ------------------------------------------------------------------ */

static double dense_act_of(dense_act a, double x)
{
    switch (a) {
    case DA_TANH: return tanh(x);
    case DA_RELU: return x > 0 ? x : 0;
    case DA_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case DA_GELU_TANH:
        return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    case DA_SILU: return x / (1.0 + exp(-x));
    }
    return x;
}

static akidb_status seqcls_apply(const void *impl, size_t n, const float *rows, float *logits)
{
    const seqcls *h = impl;
    const size_t H = h->H, L = h->L;
    double *t = ak_malloc(H * sizeof *t);
    if (!t)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    for (size_t r = 0; r < n; r++) {
        const float *x = rows + r * H;
        for (size_t j = 0; j < H && !h->spec->w1; j++)
            t[j] = x[j];
        for (size_t j = 0; j < H && h->spec->w1; j++) {
            const float *wj = h->w1 + j * H;
            double acc = h->b1[j];
            for (size_t k = 0; k < H; k++)
                acc += (double)wj[k] * x[k];
            t[j] = dense_act_of(h->act_fn, acc);
        }
        if (h->norm) {   /* LayerNorm: biased variance, as torch */
            double mean = 0, var = 0;
            for (size_t j = 0; j < H; j++)
                mean += t[j];
            mean /= (double)H;
            for (size_t j = 0; j < H; j++)
                var += (t[j] - mean) * (t[j] - mean);
            double inv = 1.0 / sqrt(var / (double)H + h->eps);
            for (size_t j = 0; j < H; j++)
                t[j] = (t[j] - mean) * inv * h->nw[j] + h->nb[j];
        }
        for (size_t l = 0; l < L; l++) {
            const float *wl = h->w2 + l * H;
            double acc = h->b2[l];
            for (size_t j = 0; j < H; j++)
                acc += (double)wl[j] * t[j];
            logits[r * L + l] = (float)acc;
        }
    }
    ak_free(t);
    return AKIDB_OK;
}

/* The ids a last-token head reads: up to the last that is not the pad id
 * (at least one, as transformers' argmax over none picks the first). */
static size_t seqcls_used_len(const void *impl, const int32_t *ids, size_t n)
{
    const seqcls *h = impl;
    while (h->pad >= 0 && n > 1 && ids[n - 1] == h->pad)
        n--;
    return n;
}

/* ---- pairs ------------------------------------------------------------------- */

/* The tokenizer's pair template, cut to max by the truncation strategy, as
 * CrossEncoder's tokenizer(pairs, truncation=True) encodes them. */
static akidb_status seqcls_encode(const void *impl, const akidb_tokenizer *tok,
                                  const akidb_rerank_opts *o, size_t max, const char *q,
                                  size_t qlen, const char *d, size_t dlen, size_t di,
                                  akidb_tokens *tk)
{
    const seqcls *h = impl;
    if (o->instruction)
        return ak_fail(AKIDB_EINVAL,
                       "the instruction option is for causal-LM rerankers (Qwen3-Reranker); "
                       "%s takes the query and the document only", h->spec->arch);
    akidb_status st = akidb_tokenizer_encode_pair(tok, q, qlen, d, dlen, max, o->truncation, tk);
    return st == AKIDB_OK ? st : ak_fail_prefix(st, "document %zu", di);
}

const ak_rerank_kind ak_rerank_seqcls = {
    .name = "sequence classification",
    .load = seqcls_load,
    .free = seqcls_free,
    .labels = seqcls_labels,
    .label = seqcls_label,
    .max_tokens = seqcls_max_tokens,
    .uses_types = seqcls_uses_types,
    .activation = seqcls_activation,
    .row = AKIDB_POOL_CLS,
    .row_of = seqcls_row_of,
    .encode = seqcls_encode,
    .used_len = seqcls_used_len,
    .apply = seqcls_apply,
};
