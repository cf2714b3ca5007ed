/*
 * routes_tei.c - the Hugging Face text-embeddings-inference (TEI) API, so
 * that clients written against TEI (such as @huggingface/inference's
 * featureExtraction) work against AkiDB unchanged:
 *
 *   POST /embed       inputs (string, strings, token ids), normalize,
 *                     truncate, truncation_direction, prompt_name,
 *                     dimensions -> [[float]]
 *   POST /embed_all   inputs, truncate, truncation_direction, prompt_name ->
 *                     [[[float]]]: per input the last hidden state of every
 *                     token, special tokens included, before pooling
 *                     (akidb_embed_tokens)
 *   POST /rerank      query, texts, truncate, truncation_direction,
 *                     raw_scores, return_text -> [{index, text?, score}] by
 *                     decreasing score (akidb_rerank on a reranker model)
 *   POST /tokenize    inputs, add_special_tokens, prompt_name -> [[{id, text,
 *                     special, start, stop}]] as TEI: start / stop are the
 *                     token's byte offsets in the input and text those
 *                     bytes; the template's special tokens have their token
 *                     string and null start / stop
 *                     (akidb_tokenizer_encode_offsets)
 *   POST /decode      ids, skip_special_tokens -> [string]
 *   POST /similarity  inputs {source_sentence, sentences}, parameters ->
 *                     [cosine]
 *
 * and TEI's fields of GET /info (ak_tei_info).  Errors take TEI's shape
 * {"error": "...", "error_type": "Validation" | "Empty" | "Overloaded" |
 * "Backend" | "Tokenizer" | "Unhealthy"} with TEI's statuses (422, 400,
 * 429, 424, 503).  A request may name a model with "model" (AkiDB's
 * addition); otherwise /embed, /embed_all, /tokenize, /decode and
 * /similarity use the first loaded model that is not a reranker and /rerank
 * the first reranker.
 */
#include "server/route.h"
#include "server/embed_inputs.h"
#include "server/routes_tei.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- TEI's error shape ------------------------------------------------------ */

static void tei_error(ak_ctx *c, int status, const char *code, const char *msg)
{
    static const struct {
        const char *code, *type;
        int status;     /* 0: keep the one given */
    } map[] = {
        {"Validation", "Validation", 422}, {"Tokenizer", "Tokenizer", 422},
        {"Empty", "Empty", 400},           {"empty", "Empty", 400},
        {"Overloaded", "Overloaded", 429}, {"overloaded", "Overloaded", 429},
        {"Backend", "Backend", 424},       {"Unhealthy", "Unhealthy", 503},
        {"starting", "Unhealthy", 503},    {"draining", "Unhealthy", 503},
        {"invalid_request", "Validation", 422}, {"text_too_long", "Validation", 422},
        {"too_many_texts", "Validation", 422},  {"unsupported", "Validation", 422},
        {"out_of_range", "Validation", 422},    {"dimension_mismatch", "Validation", 422},
        {"invalid_utf8", "Validation", 0},      {"invalid_json", "Validation", 0},
        {"unauthorized", "Unauthorized", 0},    {"forbidden", "Unauthorized", 0},
    };
    const char *type = status >= 500 ? "Backend" : "Validation";
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strcmp(code, map[i].code) == 0) {
            type = map[i].type;
            if (map[i].status)
                status = map[i].status;
            break;
        }
    ak_reply_json(c, status, json_pack("{s:s,s:s}", "error", msg, "error_type", type));
}

/* ---- request fields ----------------------------------------------------------- */

/* "model" (AkiDB's addition) or the first model that is (reranker) or is
 * not a reranker; replies and returns NULL when there is none. */
static ak_emodel *pick_model(ak_ctx *c, bool reranker)
{
    ak_models *ms = c->srv->models;
    json_t *m = c->body ? json_object_get(c->body, "model") : NULL;
    ak_emodel *em = NULL;
    if (m && !json_is_null(m)) {
        if (!json_is_string(m)) {
            ak_reply_error(c, 422, "Validation", "`model` must be a string");
            return NULL;
        }
        em = ak_models_find(ms, json_string_value(m));
        if (!em) {
            ak_reply_error(c, 404, "model_not_found", "no model named '%s' is loaded",
                           json_string_value(m));
            return NULL;
        }
        if (reranker && !akidb_model_is_reranker(ak_emodel_model(em))) {
            ak_reply_error(c, 424, "Backend", "model '%s' is not a re-ranker model",
                           ak_emodel_name(em));
            return NULL;
        }
        return em;
    }
    for (size_t i = 0; i < ak_models_count(ms); i++) {
        ak_emodel *e = ak_models_at(ms, i);
        if ((akidb_model_is_reranker(ak_emodel_model(e)) != 0) == reranker)
            return e;
    }
    if (!reranker && ak_models_count(ms) > 0)
        return ak_models_at(ms, 0);
    if (reranker)
        ak_reply_error(c, 424, "Backend",
                       "model is not a re-ranker model: no reranker is loaded (start with "
                       "--model NAME=DIR naming a *ForSequenceClassification folder)");
    else
        ak_reply_error(c, 424, "Backend",
                       "no embedding model is loaded (start with --model NAME=DIR)");
    return NULL;
}

/* "truncation_direction": "Right" (default) or "Left" (either case). */
static bool get_direction(ak_ctx *c, json_t *o, int *left)
{
    json_t *v = json_object_get(o, "truncation_direction");
    *left = 0;
    if (!v || json_is_null(v))
        return true;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(s, "Left") == 0 || strcmp(s, "left") == 0) {
        *left = 1;
        return true;
    }
    if (strcmp(s, "Right") == 0 || strcmp(s, "right") == 0)
        return true;
    ak_reply_error(c, 422, "Validation", "`truncation_direction` must be \"Right\" or \"Left\"");
    return false;
}

/* "prompt_name": a string or null. */
static bool get_prompt(ak_ctx *c, json_t *o, const char **out)
{
    json_t *v = json_object_get(o, "prompt_name");
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v)) {
        ak_reply_error(c, 422, "Validation", "`prompt_name` must be a string");
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* The text of em's prompt name (not NULL) into *text; replies 422 naming
 * the available prompts when the model has none of that name. */
static bool prompt_text(ak_ctx *c, ak_emodel *em, const char *name, const char **text)
{
    akidb_status st = akidb_model_prompt(ak_emodel_model(em), name, text);
    if (st != AKIDB_OK) {
        ak_reply_error(c, 422, "Validation", "`prompt_name`: %s", akidb_last_error());
        return false;
    }
    return true;
}

/* p followed by the n bytes of t, in a new NUL-terminated string (*len
 * bytes); NULL when out of memory. */
static char *joined(const char *p, const char *t, size_t n, size_t *len)
{
    size_t pl = strlen(p);
    char *s = ak_malloc(pl + n + 1);
    if (s) {
        memcpy(s, p, pl);
        memcpy(s + pl, t, n);
        s[pl + n] = '\0';
        *len = pl + n;
    }
    return s;
}

/* "dimensions": 1..dim or null (0 in *out). */
static bool get_dimensions(ak_ctx *c, json_t *o, size_t dim, size_t *out)
{
    json_t *v = json_object_get(o, "dimensions");
    *out = 0;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        ak_reply_error(c, 422, "Validation", "`dimensions` should be a positive integer");
        return false;
    }
    if ((uint64_t)json_integer_value(v) > dim) {
        ak_reply_error(c, 422, "Validation",
                       "`dimensions` should be at most the embedding dimension %zu, got %lld",
                       dim, (long long)json_integer_value(v));
        return false;
    }
    *out = (size_t)json_integer_value(v);
    return true;
}

static json_t *floats_json(const float *v, size_t n)
{
    json_t *a = json_array();
    for (size_t k = 0; a && k < n; k++)
        if (json_array_append_new(a, json_real(isfinite(v[k]) ? (double)v[k] : 0.0)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- POST /embed, /embed_all, /similarity ----------------------------------- */

static void route_embed(ak_ctx *c)
{
    json_t *b = c->body;
    ak_emodel *em = pick_model(c, false);
    if (!em)
        return;
    size_t dim = ak_emodel_info(em)->dim, dims;
    int normalize, truncate, left;
    const char *prompt;
    if (!ak_json_bool(c, b, "normalize", 1, &normalize) ||
        !ak_json_bool(c, b, "truncate", 0, &truncate) || !get_direction(c, b, &left) ||
        !get_prompt(c, b, &prompt) || !get_dimensions(c, b, dim, &dims))
        return;
    ak_einputs in;
    if (!ak_inputs_parse(c, json_object_get(b, "inputs"), "inputs", &in)) {
        ak_inputs_free(&in);
        return;
    }
    size_t out_dim = dims ? dims : dim, tokens;
    float *out = ak_malloc(in.n * dim * sizeof *out);
    ak_embed_how how = {normalize, truncate, left, prompt};
    if (!out) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
    } else if (ak_inputs_embed(c, em, &in, &how, out, &tokens)) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < in.n; i++) {
            float *v = out + i * dim;
            if (out_dim < dim && normalize) {   /* TEI: cut, then normalise */
                double ss = 0;
                for (size_t k = 0; k < out_dim; k++)
                    ss += (double)v[k] * v[k];
                for (size_t k = 0; ss > 0 && k < out_dim; k++)
                    v[k] = (float)(v[k] / sqrt(ss));
            }
            if (json_array_append_new(arr, floats_json(v, out_dim)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        ak_reply_json(c, 200, arr);
    }
    ak_free(out);
    ak_inputs_free(&in);
}

/* The hidden states of one input: [[float] per token]. */
static json_t *rows_json(const float *h, size_t rows, size_t hidden)
{
    json_t *a = json_array();
    for (size_t t = 0; a && t < rows; t++)
        if (json_array_append_new(a, floats_json(h + t * hidden, hidden)) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

/* Puts the prompt ptext in front of every text of in (the joined strings
 * in *own, n of them); replies and returns false for token id inputs or
 * when out of memory. */
static bool prompt_inputs(ak_ctx *c, ak_einputs *in, const char *ptext, char ***own)
{
    *own = ak_calloc(in->n, sizeof **own);
    if (!*own) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    for (size_t i = 0; i < in->n; i++) {
        if (!in->v[i].text) {
            ak_reply_error(c, 422, "Validation", "`prompt_name` cannot be combined with token "
                           "id inputs (input %zu)", i);
            return false;
        }
        if (!((*own)[i] = joined(ptext, in->v[i].text, in->v[i].len, &in->v[i].len))) {
            ak_reply_error(c, 503, "overloaded", "out of memory");
            return false;
        }
        in->v[i].text = (*own)[i];
    }
    return true;
}

/* POST /embed_all: {"inputs", "truncate"?, "truncation_direction"?,
 * "prompt_name"?} -> [[[float]]]: per input, the last hidden state of every
 * token (special tokens included), before pooling; a prompt goes in front
 * of each text and is tokenised and cut with it. */
static void route_embed_all(ak_ctx *c)
{
    json_t *b = c->body;
    ak_emodel *em = pick_model(c, false);
    if (!em)
        return;
    int truncate, left;
    const char *prompt, *ptext = NULL;
    if (!ak_json_bool(c, b, "truncate", 0, &truncate) || !get_direction(c, b, &left) ||
        !get_prompt(c, b, &prompt) || (prompt && !prompt_text(c, em, prompt, &ptext)))
        return;
    ak_einputs in;
    ak_inids x = {0};
    char **own = NULL;
    ak_embed_how how = {0, truncate, left, NULL};
    const akidb_model *m = ak_emodel_model(em);
    size_t hidden = ak_emodel_info(em)->hidden;
    float *h = NULL;
    json_t *arr = NULL;
    if (ak_inputs_parse(c, json_object_get(b, "inputs"), "inputs", &in) &&
        (!ptext || !*ptext || prompt_inputs(c, &in, ptext, &own)) &&
        ak_inputs_ids(c, em, &in, &how, &x)) {
        size_t longest = 1;
        for (size_t i = 0; i < x.n; i++)
            longest = x.lens[i] > longest ? x.lens[i] : longest;
        arr = json_array();
        h = ak_malloc(longest * hidden * sizeof *h);
        akidb_status st = arr && h ? ak_emodel_enter(em, x.n)
                                   : ak_fail(AKIDB_ENOMEM, "out of memory");
        bool entered = st == AKIDB_OK;
        for (size_t i = 0; i < x.n && st == AKIDB_OK; i++) {
            st = akidb_embed_tokens(m, x.ids[i], x.lens[i], h, NULL);
            if (st != AKIDB_OK)
                ak_fail_prefix(st, "input %zu", i);
            else if (json_array_append_new(arr, rows_json(h, x.lens[i], hidden)) != 0)
                st = ak_fail(AKIDB_ENOMEM, "out of memory for the answer");
        }
        if (entered)
            ak_emodel_leave(em);
        if (st == AKIDB_OK)
            ak_reply_json(c, 200, json_incref(arr));
        else if (st == AKIDB_ENOMEM)
            ak_reply_error(c, 503, "overloaded", "%s", akidb_last_error());
        else
            ak_reply_status(c, st);
    }
    json_decref(arr);
    ak_free(h);
    ak_inputs_ids_free(&x);
    for (size_t i = 0; own && i < in.n; i++)
        ak_free(own[i]);
    ak_free(own);
    ak_inputs_free(&in);
}

static void route_similarity(ak_ctx *c)
{
    json_t *b = c->body, *inputs = json_object_get(b, "inputs");
    json_t *src = json_object_get(json_is_object(inputs) ? inputs : b, "source_sentence");
    json_t *sents = json_object_get(json_is_object(inputs) ? inputs : b, "sentences");
    json_t *par = json_object_get(b, "parameters");
    if (!json_is_string(src) || !json_is_array(sents)) {
        ak_reply_error(c, 422, "Validation",
                       "the body needs `inputs`: {\"source_sentence\": string, \"sentences\": "
                       "[string]}");
        return;
    }
    size_t n = json_array_size(sents);
    if (n == 0) {
        ak_reply_error(c, 400, "Empty", "`inputs.sentences` cannot be empty");
        return;
    }
    if (n + 1 > c->srv->cfg.max_request_texts) {
        ak_reply_error(c, 422, "Validation", "batch size %zu > maximum allowed batch size %zu",
                       n + 1, c->srv->cfg.max_request_texts);
        return;
    }
    if (par && !json_is_null(par) && !json_is_object(par)) {
        ak_reply_error(c, 422, "Validation", "`parameters` must be an object");
        return;
    }
    json_t *p = json_is_object(par) ? par : NULL;
    int truncate = 0, left = 0;
    const char *prompt = NULL;
    if (p && (!ak_json_bool(c, p, "truncate", 0, &truncate) || !get_direction(c, p, &left) ||
              !get_prompt(c, p, &prompt)))
        return;
    ak_emodel *em = pick_model(c, false);
    if (!em)
        return;
    ak_einputs in = {0};
    in.n = n + 1;
    in.v = ak_calloc(n + 1, sizeof *in.v);
    size_t dim = ak_emodel_info(em)->dim, tokens;
    float *out = ak_malloc((n + 1) * dim * sizeof *out);
    ak_embed_how how = {0, truncate, left, prompt};
    for (size_t i = 0; in.v && i <= n; i++) {
        json_t *s = i ? json_array_get(sents, i - 1) : src;
        if (!json_is_string(s)) {
            ak_reply_error(c, 422, "Validation", "`inputs.sentences`[%zu] must be a string",
                           i - 1);
            goto done;
        }
        in.v[i].text = json_string_value(s);
        in.v[i].len = json_string_length(s);
    }
    if (!in.v || !out) {
        ak_reply_error(c, 503, "overloaded", "out of memory");
    } else if (ak_inputs_embed(c, em, &in, &how, out, &tokens)) {
        json_t *arr = json_array();
        for (size_t i = 1; arr && i <= n; i++) {
            double dot = 0, aa = 0, bb = 0;
            for (size_t k = 0; k < dim; k++) {
                dot += (double)out[k] * out[i * dim + k];
                aa += (double)out[k] * out[k];
                bb += (double)out[i * dim + k] * out[i * dim + k];
            }
            double cs = aa > 0 && bb > 0 ? dot / (sqrt(aa) * sqrt(bb)) : 0.0;
            if (json_array_append_new(arr, json_real(cs)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        ak_reply_json(c, 200, arr);
    }
done:
    ak_free(out);
    ak_inputs_free(&in);
}

/* ---- POST /rerank ------------------------------------------------------------ */

typedef struct rank {
    size_t index;
    float score;
} rank;

/* By decreasing score; ties: the later text first (TEI sorts ascending,
 * then reverses). */
static int rank_cmp(const void *a, const void *b)
{
    const rank *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->index < y->index ? 1 : -1;
}

/* Checks every (query, text) pair against limit; replies and returns false
 * when one is over it and may not be cut (truncate false, or a cut from the
 * start). */
static bool pairs_fit(ak_ctx *c, const akidb_model *m, json_t *q, json_t *texts, size_t limit,
                      int truncate, int left)
{
    akidb_tokens t = {0};
    bool ok = true;
    for (size_t i = 0; ok && i < json_array_size(texts); i++) {
        json_t *s = json_array_get(texts, i);
        akidb_status st = akidb_tokenizer_encode_pair(
            akidb_model_tokenizer(m), json_string_value(q), json_string_length(q),
            json_string_value(s), json_string_length(s), 0, AKIDB_TRUNC_LONGEST_FIRST, &t);
        if (st != AKIDB_OK) {
            ak_reply_error(c, 422, "Tokenizer", "text %zu: %s", i, akidb_last_error());
            ok = false;
        } else if (t.n_full > limit && !truncate) {
            ak_reply_error(c, 422, "Validation",
                           "`query` and `texts`[%zu] have %zu tokens together; the model takes "
                           "at most %zu (set \"truncate\": true to cut them)", i, t.n_full, limit);
            ok = false;
        } else if (t.n_full > limit && left) {
            ak_reply_error(c, 422, "Validation",
                           "`truncation_direction` \"Left\" is not available for /rerank: "
                           "`query` and `texts`[%zu] have %zu tokens, over the model's %zu, and "
                           "pairs are cut at their end (longest first)", i, t.n_full, limit);
            ok = false;
        }
    }
    akidb_tokens_free(&t);
    return ok;
}

static void route_rerank(ak_ctx *c)
{
    json_t *b = c->body, *q = json_object_get(b, "query"), *texts = json_object_get(b, "texts");
    if (!json_is_string(q)) {
        ak_reply_error(c, 422, "Validation", "`query` must be a string");
        return;
    }
    if (!json_is_array(texts)) {
        ak_reply_error(c, 422, "Validation", "`texts` must be an array of strings");
        return;
    }
    size_t n = json_array_size(texts);
    if (n == 0) {
        ak_reply_error(c, 400, "Empty", "`texts` cannot be empty");
        return;
    }
    if (n > c->srv->cfg.max_request_texts) {
        ak_reply_error(c, 422, "Validation", "batch size %zu > maximum allowed batch size %zu",
                       n, c->srv->cfg.max_request_texts);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!json_is_string(json_array_get(texts, i))) {
            ak_reply_error(c, 422, "Validation", "`texts`[%zu] must be a string", i);
            return;
        }
    int truncate, raw, ret_text, left;
    if (!ak_json_bool(c, b, "truncate", 0, &truncate) ||
        !ak_json_bool(c, b, "raw_scores", 0, &raw) ||
        !ak_json_bool(c, b, "return_text", 0, &ret_text) || !get_direction(c, b, &left))
        return;
    ak_emodel *em = pick_model(c, true);
    if (!em)
        return;
    const akidb_model *m = ak_emodel_model(em);
    const akidb_model_info *info = ak_emodel_info(em);
    if (info->num_labels != 1) {
        ak_reply_error(c, 424, "Backend",
                       "model '%s' has %zu labels; /rerank needs a reranker with one score",
                       ak_emodel_name(em), info->num_labels);
        return;
    }
    if (!pairs_fit(c, m, q, texts, info->max_tokens, truncate, left))
        return;
    const char **docs = ak_malloc(n * sizeof *docs);
    size_t *lens = ak_malloc(n * sizeof *lens), tokens = 0;
    float *scores = ak_malloc(n * sizeof *scores);
    rank *rk = ak_malloc(n * sizeof *rk);
    akidb_status st = docs && lens && scores && rk ? AKIDB_OK
                                                   : ak_fail(AKIDB_ENOMEM, "out of memory");
    for (size_t i = 0; st == AKIDB_OK && i < n; i++) {
        docs[i] = json_string_value(json_array_get(texts, i));
        lens[i] = json_string_length(json_array_get(texts, i));
    }
    if (st == AKIDB_OK) {
        akidb_rerank_opts o = AKIDB_RERANK_OPTS_INIT;
        o.activation = raw ? AKIDB_RERANK_ACT_RAW : AKIDB_RERANK_ACT_SIGMOID;
        o.max_tokens = info->max_tokens;
        o.n_tokens = &tokens;
        if ((st = ak_emodel_enter(em, n)) == AKIDB_OK) {
            st = akidb_rerank(m, json_string_value(q), json_string_length(q), docs, lens, n,
                              &o, scores);
            ak_emodel_leave(em);
        }
    }
    if (st == AKIDB_ENOMEM || st == AKIDB_EBUSY) {
        ak_reply_error(c, 429, "Overloaded", "out of memory: %s", akidb_last_error());
    } else if (st != AKIDB_OK) {
        ak_reply_error(c, 424, "Backend", "%s", akidb_last_error());
    } else {
        for (size_t i = 0; i < n; i++)
            rk[i] = (rank){i, scores[i]};
        qsort(rk, n, sizeof *rk, rank_cmp);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            json_t *r = json_pack("{s:I,s:f}", "index", (json_int_t)rk[i].index, "score",
                                  isfinite(rk[i].score) ? (double)rk[i].score : 0.0);
            if (r && ret_text)
                json_object_set(r, "text", json_array_get(texts, rk[i].index));
            if (!r || json_array_append_new(arr, r) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        ak_reply_json(c, 200, arr);
    }
    ak_free(docs);
    ak_free(lens);
    ak_free(scores);
    ak_free(rk);
}

/* ---- POST /tokenize, /decode ---------------------------------------------------- */

/* s[0..n) as a JSON string, the way Rust's String::from_utf8_lossy reads it:
 * each maximal ill-formed subpart becomes U+FFFD.  Spans are whole
 * characters except where a trim_offsets post-processor moved one inside a
 * character (the Rust library counts the spaces it trims as one byte each). */
static json_t *lossy_string(const char *s, size_t n)
{
    if (ak_utf8_valid(s, n, NULL))
        return json_stringn(s, n);
    char *buf = ak_malloc(3 * n + 1);
    if (!buf)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        size_t w = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                                : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        size_t ok = 1;   /* bytes of the valid prefix of the sequence at i */
        if (w >= 2 && i + 1 < n) {
            unsigned d = u[i + 1], lo = 0x80, hi = 0xBF;
            lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : lo;
            hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : hi;
            if (d >= lo && d <= hi)
                for (ok = 2; ok < w && i + ok < n && (u[i + ok] & 0xC0) == 0x80; ok++)
                    ;
        }
        if (w == 1 || (w >= 2 && ok == w)) {
            memcpy(buf + k, s + i, w);
            k += w;
            i += w;
        } else {
            memcpy(buf + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i += ok;
        }
    }
    json_t *j = json_stringn(buf, k);
    ak_free(buf);
    return j;
}

/* TEI's token objects of the ids t->ids[k] of text (the encoded input, len
 * bytes), as TEI's into_tokens: a special token of the template has its
 * token string as text and null start / stop; any other token has the bytes
 * [start, stop) of text its span names (akidb_tokenizer_encode_offsets).
 * with_special: false leaves the template's tokens out. */
static json_t *token_objects(const akidb_tokenizer *tok, const akidb_tokens *t,
                             const akidb_spans *sp, const char *text, size_t len,
                             bool with_special)
{
    json_t *a = json_array();
    for (size_t k = 0; a && k < t->n; k++) {
        const akidb_span *x = &sp->v[k];
        if (x->special && !with_special)
            continue;
        json_t *o;
        if (x->special) {
            const char *s = akidb_tokenizer_id_to_token(tok, t->ids[k]);
            o = json_pack("{s:I,s:s,s:b,s:n,s:n}", "id", (json_int_t)t->ids[k], "text",
                          s ? s : "", "special", 1, "start", "stop");
        } else {
            size_t s0 = x->start < len ? x->start : len, s1 = x->stop < len ? x->stop : len;
            o = json_pack("{s:I,s:o,s:b,s:I,s:I}", "id", (json_int_t)t->ids[k], "text",
                          lossy_string(text + s0, s1 > s0 ? s1 - s0 : 0), "special", 0,
                          "start", (json_int_t)x->start, "stop", (json_int_t)x->stop);
        }
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static void route_tokenize(ak_ctx *c)
{
    json_t *b = c->body, *v = json_object_get(b, "inputs");
    int add_special;
    const char *prompt, *ptext = NULL;
    if (!ak_json_bool(c, b, "add_special_tokens", 1, &add_special) || !get_prompt(c, b, &prompt))
        return;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !json_is_array(v)) {
        ak_reply_error(c, 422, "Validation", "`inputs` must be a string or an array of strings");
        return;
    }
    if (n == 0) {
        ak_reply_error(c, 400, "Empty", "`inputs` cannot be empty");
        return;
    }
    if (n > c->srv->cfg.max_request_texts) {
        ak_reply_error(c, 422, "Validation", "batch size %zu > maximum allowed batch size %zu",
                       n, c->srv->cfg.max_request_texts);
        return;
    }
    ak_emodel *em = pick_model(c, false);
    if (!em || (prompt && !prompt_text(c, em, prompt, &ptext)))
        return;
    const akidb_tokenizer *tok = akidb_model_tokenizer(ak_emodel_model(em));
    akidb_tokens t = {0};
    akidb_spans sp = {0};
    akidb_status st = AKIDB_OK;
    json_t *arr = json_array();
    for (size_t i = 0; arr && st == AKIDB_OK && i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s)) {
            ak_reply_error(c, 422, "Validation", "`inputs`[%zu] must be a string", i);
            json_decref(arr);
            akidb_tokens_free(&t);
            akidb_spans_free(&sp);
            return;
        }
        size_t len = json_string_length(s);
        char *pt = ptext && *ptext ? joined(ptext, json_string_value(s), len, &len) : NULL;
        const char *text = pt ? pt : json_string_value(s);
        if (ptext && *ptext && !pt)
            st = ak_fail(AKIDB_ENOMEM, "out of memory");
        else
            st = akidb_tokenizer_encode_offsets(tok, text, len, 0, &t, &sp);
        json_t *one = st == AKIDB_OK ? token_objects(tok, &t, &sp, text, len, add_special) : NULL;
        ak_free(pt);
        if (st == AKIDB_OK && (!one || json_array_append_new(arr, one) != 0)) {
            json_decref(arr);
            arr = NULL;
        }
        if (st != AKIDB_OK)
            ak_fail_prefix(st, "input %zu", i);
    }
    akidb_tokens_free(&t);
    akidb_spans_free(&sp);
    if (st != AKIDB_OK) {
        json_decref(arr);
        ak_reply_error(c, 422, "Tokenizer", "%s", akidb_last_error());
        return;
    }
    ak_reply_json(c, 200, arr);
}

static void route_decode(ak_ctx *c)
{
    json_t *b = c->body, *v = json_object_get(b, "ids");
    int skip;
    if (!ak_json_bool(c, b, "skip_special_tokens", 1, &skip))
        return;
    if (!json_is_array(v) || json_array_size(v) == 0) {
        ak_reply_error(c, json_is_array(v) ? 400 : 422, json_is_array(v) ? "Empty" : "Validation",
                       "`ids` must be a non-empty array of token ids or of arrays of them");
        return;
    }
    bool one = !json_is_array(json_array_get(v, 0));
    size_t n = one ? 1 : json_array_size(v);
    if (n > c->srv->cfg.max_request_texts) {
        ak_reply_error(c, 422, "Validation", "batch size %zu > maximum allowed batch size %zu",
                       n, c->srv->cfg.max_request_texts);
        return;
    }
    ak_emodel *em = pick_model(c, false);
    if (!em)
        return;
    const akidb_tokenizer *tok = akidb_model_tokenizer(ak_emodel_model(em));
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *seq = one ? v : json_array_get(v, i);
        size_t k = json_is_array(seq) ? json_array_size(seq) : 0;
        int32_t *ids = ak_malloc((k ? k : 1) * sizeof *ids);
        bool ok = ids && json_is_array(seq);
        for (size_t j = 0; ok && j < k; j++) {
            json_t *x = json_array_get(seq, j);
            ok = json_is_integer(x) && json_integer_value(x) >= 0 &&
                 json_integer_value(x) <= INT32_MAX;
            if (ok)
                ids[j] = (int32_t)json_integer_value(x);
        }
        char *text = NULL;
        size_t len = 0;
        akidb_status st = ok ? akidb_tokenizer_decode(tok, ids, k, skip, &text, &len) : AKIDB_OK;
        ak_free(ids);
        if (!ok || st != AKIDB_OK) {
            if (!ok && !ids)
                ak_reply_error(c, 503, "overloaded", "out of memory");
            else if (!ok)
                ak_reply_error(c, 422, "Validation",
                               "`ids`%s must hold token ids (integers from 0 to %d)",
                               one ? "" : "[i]", INT32_MAX);
            else
                ak_reply_error(c, 422, "Tokenizer", "%s", akidb_last_error());
            json_decref(arr);
            return;
        }
        if (json_array_append_new(arr, json_stringn(text, len)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
        akidb_string_free(text);
    }
    ak_reply_json(c, 200, arr);
}

/* ---- GET /info's TEI fields ----------------------------------------------------- */

json_t *ak_tei_info(ak_server *s)
{
    ak_emodel *em = NULL;
    for (size_t i = 0; !em && i < ak_models_count(s->models); i++)
        if (!akidb_model_is_reranker(ak_emodel_model(ak_models_at(s->models, i))))
            em = ak_models_at(s->models, i);
    if (!em && ak_models_count(s->models) > 0)
        em = ak_models_at(s->models, 0);
    const ak_server_config *cfg = &s->cfg;
    json_t *j = json_pack("{s:n,s:I,s:I,s:I,s:I,s:b,s:I,s:s,s:n,s:n}", "model_sha",
                          "max_concurrent_requests",
                          (json_int_t)(cfg->handler_threads + cfg->max_pending),
                          "max_batch_tokens", (json_int_t)cfg->max_batch_tokens,
                          "max_batch_requests", (json_int_t)cfg->max_batch_texts,
                          "max_client_batch_size", (json_int_t)cfg->max_request_texts,
                          "auto_truncate", 0, "tokenization_workers",
                          (json_int_t)cfg->handler_threads, "version", AKIDB_VERSION_STRING,
                          "sha", "docker_label");
    if (!j || !em)
        return j;
    const akidb_model_info *info = ak_emodel_info(em);
    const char *dt = info->weights_dtype ? info->weights_dtype : "F32";
    const char *dtype = strcmp(dt, "F16") == 0 ? "float16" : strcmp(dt, "BF16") == 0 ? "bfloat16"
                                                                                    : "float32";
    json_t *type;
    if (akidb_model_is_reranker(ak_emodel_model(em))) {
        json_t *i2l = json_object(), *l2i = json_object();
        for (size_t k = 0; i2l && l2i && k < info->num_labels; k++) {
            const char *lab = akidb_model_label(ak_emodel_model(em), k);
            char key[24];
            snprintf(key, sizeof key, "%zu", k);
            json_object_set_new(i2l, key, json_string(lab ? lab : ""));
            json_object_set_new(l2i, lab ? lab : "", json_integer((json_int_t)k));
        }
        type = json_pack("{s:{s:o,s:o}}", "reranker", "id2label", i2l, "label2id", l2i);
    } else {
        const char *pool = info->pooling == AKIDB_POOL_LAST_TOKEN
                               ? "last_token"
                               : akidb_pooling_name(info->pooling);
        type = json_pack("{s:{s:s}}", "embedding", "pooling", pool);
    }
    if (json_object_set_new(j, "model_id", json_string(ak_emodel_name(em))) != 0 ||
        json_object_set_new(j, "served_model_name", json_string(ak_emodel_name(em))) != 0 ||
        json_object_set_new(j, "model_dtype", json_string(dtype)) != 0 ||
        json_object_set_new(j, "model_type", type) != 0 ||
        json_object_set_new(j, "max_input_length", json_integer((json_int_t)info->max_tokens)))
    {
        json_decref(j);
        return NULL;
    }
    return j;
}

static const ak_route routes[] = {
    { "POST", "/embed", AK_ROLE_READER, route_embed, AK_RT_JSON },
    { "POST", "/embed_all", AK_ROLE_READER, route_embed_all, AK_RT_JSON },
    { "POST", "/similarity", AK_ROLE_READER, route_similarity, AK_RT_JSON },
    { "POST", "/rerank", AK_ROLE_READER, route_rerank, AK_RT_JSON },
    { "POST", "/tokenize", AK_ROLE_READER, route_tokenize, AK_RT_JSON },
    { "POST", "/decode", AK_ROLE_READER, route_decode, AK_RT_JSON },
};

const ak_route_family ak_routes_tei = { "tei", AK_ROUTES(routes), tei_error };
