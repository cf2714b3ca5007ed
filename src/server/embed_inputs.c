/*
 * embed_inputs.c - the embedding inputs of the compatibility APIs (see
 * embed_inputs.h): parsing strings and token-id arrays out of a request,
 * and embedding them.  Plain texts go through the model's shared batcher
 * (embedq.c); a prompt name goes to akidb_embed, which knows the model's
 * prompts; token ids, and texts cut at their start, go to akidb_embed_ids.
 * Those two are direct model calls under the batcher's bounds
 * (ak_emodel_enter).
 */
#include "server/embed_inputs.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void ak_inputs_free(ak_einputs *in)
{
    ak_free(in->v);
    ak_free(in->ids);
    memset(in, 0, sizeof *in);
}

/* Copies the token ids of array a into dst; replies and returns false when
 * one is not an integer in 0..INT32_MAX.  where names a ("\"input\"[2]"). */
static bool read_ids(ak_ctx *c, json_t *a, const char *where, int32_t *dst)
{
    for (size_t j = 0; j < json_array_size(a); j++) {
        json_t *x = json_array_get(a, j);
        json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;
        if (v < 0 || v > INT32_MAX) {
            ak_reply_error(c, 400, "invalid_request",
                           "%s[%zu] must be a token id (an integer from 0 to %d)", where, j,
                           INT32_MAX);
            return false;
        }
        dst[j] = (int32_t)v;
    }
    return true;
}

bool ak_inputs_parse(ak_ctx *c, json_t *v, const char *field, ak_einputs *in)
{
    memset(in, 0, sizeof *in);
    if (!v || json_is_null(v)) {
        ak_reply_error(c, 400, "invalid_request", "\"%s\" is required", field);
        return false;
    }
    if (!json_is_string(v) && !json_is_array(v)) {
        ak_reply_error(c, 400, "invalid_request",
                       "\"%s\" must be a string, an array of strings, an array of token ids "
                       "or an array of arrays of token ids", field);
        return false;
    }
    if (json_is_array(v) && json_array_size(v) == 0) {
        ak_reply_error(c, 400, "empty", "\"%s\" must not be empty", field);
        return false;
    }
    /* [1, 2, 3] is one input of token ids; ["a", [1, 2]] two inputs */
    bool one_ids = json_is_array(v) && json_is_integer(json_array_get(v, 0));
    size_t n = json_is_array(v) && !one_ids ? json_array_size(v) : 1, total = 0;
    if (n > c->srv->cfg.max_request_texts) {
        ak_reply_error(c, 413, "too_many_texts", "%zu inputs in one request; the limit is %zu",
                       n, c->srv->cfg.max_request_texts);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = one_ids || !json_is_array(v) ? v : json_array_get(v, i);
        if (json_is_array(e))
            total += json_array_size(e);
    }
    in->v = ak_calloc(n, sizeof *in->v);
    in->ids = total ? ak_malloc(total * sizeof *in->ids) : NULL;
    if (!in->v || (total && !in->ids)) {
        ak_reply_error(c, 503, "overloaded", "out of memory for %zu inputs", n);
        return false;
    }
    in->n = n;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = one_ids || !json_is_array(v) ? v : json_array_get(v, i);
        char where[64];
        if (one_ids || !json_is_array(v))
            snprintf(where, sizeof where, "\"%s\"", field);
        else
            snprintf(where, sizeof where, "\"%s\"[%zu]", field, i);
        if (json_is_string(e)) {
            in->v[i].text = json_string_value(e);
            in->v[i].len = json_string_length(e);
        } else if (json_is_array(e)) {
            if (json_array_size(e) == 0) {
                ak_reply_error(c, 400, "empty", "%s must not be empty", where);
                return false;
            }
            if (!read_ids(c, e, where, in->ids + w))
                return false;
            in->v[i].ids = in->ids + w;
            in->v[i].n_ids = json_array_size(e);
            w += in->v[i].n_ids;
            in->any_ids = true;
        } else {
            ak_reply_error(c, 400, "invalid_request",
                           "%s must be a string or an array of token ids", where);
            return false;
        }
    }
    return true;
}

void ak_template_split(const akidb_tokens *toks, const akidb_tokens *tmpl, size_t *pre,
                       size_t *post)
{
    size_t p = 0;
    while (p < tmpl->n && p < toks->n && toks->ids[p] == tmpl->ids[p])
        p++;
    size_t q = tmpl->n - p;
    if (p + q > toks->n)
        q = toks->n - p;
    *pre = p;
    *post = q;
}

static bool failed(ak_ctx *c, akidb_status st)
{
    if (st == AKIDB_ENOMEM)
        ak_reply_error(c, 503, "overloaded", "out of memory: %s", akidb_last_error());
    else
        ak_reply_status(c, st);
    return false;
}

static bool too_long(ak_ctx *c, ak_emodel *em, size_t i, size_t got, bool ids)
{
    ak_reply_error(c, 400, "text_too_long",
                   "input %zu has %zu %s but model '%s' takes at most %zu; shorten it%s", i,
                   got, ids ? "token ids" : "tokens", ak_emodel_name(em),
                   ak_emodel_info(em)->max_tokens, ids ? "" : " or set \"truncate\": true");
    return false;
}

/* True when some text of in has more tokens than the model takes. */
static bool any_over(ak_ctx *c, ak_emodel *em, const ak_einputs *in, bool *over)
{
    const akidb_tokenizer *tok = akidb_model_tokenizer(ak_emodel_model(em));
    size_t limit = ak_emodel_info(em)->max_tokens;
    akidb_tokens t = {0};
    akidb_status st = AKIDB_OK;
    *over = false;
    for (size_t i = 0; i < in->n && st == AKIDB_OK && !*over; i++) {
        if (!in->v[i].text)
            continue;
        st = akidb_tokenizer_encode(tok, in->v[i].text, in->v[i].len, limit, &t);
        if (st == AKIDB_OK && t.n_full > limit)
            *over = true;
        else if (st != AKIDB_OK)
            ak_fail_prefix(st, "text %zu", i);
    }
    akidb_tokens_free(&t);
    return st == AKIDB_OK ? true : failed(c, st);
}

/* The ids of text i (cut to the model's limit from the end, or with left
 * from the start, the template's special tokens kept) into a new array. */
static akidb_status text_ids(ak_emodel *em, const ak_einput *e, size_t i, bool left,
                             bool truncate, int32_t **out, size_t *n, bool *over)
{
    const akidb_tokenizer *tok = akidb_model_tokenizer(ak_emodel_model(em));
    size_t limit = ak_emodel_info(em)->max_tokens;
    akidb_tokens t = {0}, tmpl = {0};
    *over = false;
    akidb_status st = akidb_tokenizer_encode(tok, e->text, e->len, left ? 0 : limit, &t);
    if (st == AKIDB_OK && t.n_full > limit && !truncate) {
        *over = true;
        *n = t.n_full;
    } else if (st == AKIDB_OK) {
        size_t pre = 0, post = 0, keep = t.n, from = 0;
        if (left && t.n > limit) {
            st = akidb_tokenizer_encode(tok, "", 0, 0, &tmpl);
            ak_template_split(&t, &tmpl, &pre, &post);
            size_t body = t.n - pre - post, room = limit > pre + post ? limit - pre - post : 0;
            from = pre + (body > room ? body - room : 0);
            keep = pre + (body > room ? room : body) + post;
        }
        *out = st == AKIDB_OK ? ak_malloc((keep ? keep : 1) * sizeof **out) : NULL;
        if (st == AKIDB_OK && !*out)
            st = ak_fail(AKIDB_ENOMEM, "out of memory for the ids of text %zu", i);
        if (st == AKIDB_OK) {
            memcpy(*out, t.ids, pre * sizeof **out);
            memcpy(*out + pre, t.ids + from, (keep - pre) * sizeof **out);
            *n = keep;
        }
    } else {
        ak_fail_prefix(st, "text %zu", i);
    }
    akidb_tokens_free(&t);
    akidb_tokens_free(&tmpl);
    return st;
}

void ak_inputs_ids_free(ak_inids *x)
{
    for (size_t i = 0; x->own && i < x->n; i++)
        ak_free(x->own[i]);
    ak_free(x->own);
    ak_free(x->ids);
    ak_free(x->lens);
    memset(x, 0, sizeof *x);
}

bool ak_inputs_ids(ak_ctx *c, ak_emodel *em, const ak_einputs *in, const ak_embed_how *how,
                   ak_inids *out)
{
    size_t limit = ak_emodel_info(em)->max_tokens, n = in->n;
    memset(out, 0, sizeof *out);
    out->ids = ak_calloc(n, sizeof *out->ids);
    out->own = ak_calloc(n, sizeof *out->own);
    out->lens = ak_calloc(n, sizeof *out->lens);
    out->n = n;
    akidb_status st = out->ids && out->own && out->lens ? AKIDB_OK
                                                        : ak_fail(AKIDB_ENOMEM, "out of memory");
    bool ok = true;
    for (size_t i = 0; i < n && st == AKIDB_OK && ok; i++) {
        const ak_einput *e = &in->v[i];
        bool over = false;
        if (e->text) {
            st = text_ids(em, e, i, how->left, how->truncate, &out->own[i], &out->lens[i],
                          &over);
            out->ids[i] = out->own[i];
            if (st == AKIDB_OK && over)
                ok = too_long(c, em, i, out->lens[i], false);
        } else if (e->n_ids > limit) {
            ok = too_long(c, em, i, e->n_ids, true);
        } else {
            out->ids[i] = e->ids;
            out->lens[i] = e->n_ids;
        }
    }
    if (!ok)
        return false;
    return st == AKIDB_OK ? true : failed(c, st);
}

/* Embeds every input as token ids (texts tokenised here). */
static bool embed_as_ids(ak_ctx *c, ak_emodel *em, const ak_einputs *in,
                         const ak_embed_how *how, float *out, size_t *tokens)
{
    ak_inids x;
    bool ok = ak_inputs_ids(c, em, in, how, &x);
    if (ok) {
        akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
        o.normalize = how->normalize;
        o.n_tokens = tokens;
        akidb_status st = ak_emodel_enter(em, x.n);
        if (st == AKIDB_OK) {
            st = akidb_embed_ids(ak_emodel_model(em), x.ids, x.lens, x.n, out, &o);
            ak_emodel_leave(em);
        }
        ok = st == AKIDB_OK ? true : failed(c, st);
    }
    ak_inputs_ids_free(&x);
    return ok;
}

bool ak_inputs_embed(ak_ctx *c, ak_emodel *em, const ak_einputs *in, const ak_embed_how *how,
                     float *out, size_t *tokens)
{
    *tokens = 0;
    bool as_ids = in->any_ids;
    if (!as_ids && how->left) {
        /* a cut from the start needs the ids; text that fits takes the
         * usual path */
        if (!any_over(c, em, in, &as_ids))
            return false;
        if (as_ids && !how->truncate)
            return embed_as_ids(c, em, in, how, out, tokens);   /* names the text */
    }
    if (as_ids && how->prompt_name) {
        ak_reply_error(c, 400, "unsupported",
                       "\"prompt_name\" cannot be combined with token-id inputs or with a cut "
                       "from the start (truncation_direction \"Left\" on a text over the "
                       "model's limit of %zu tokens)", ak_emodel_info(em)->max_tokens);
        return false;
    }
    if (as_ids)
        return embed_as_ids(c, em, in, how, out, tokens);
    const char **texts = ak_malloc(in->n * sizeof *texts);
    size_t *lens = ak_malloc(in->n * sizeof *lens);
    if (!texts || !lens) {
        ak_free(texts);
        ak_free(lens);
        ak_reply_error(c, 503, "overloaded", "out of memory");
        return false;
    }
    for (size_t i = 0; i < in->n; i++) {
        texts[i] = in->v[i].text;
        lens[i] = in->v[i].len;
    }
    bool ok;
    if (!how->prompt_name) {
        ok = ak_embed_for_route(c, em, texts, lens, in->n, AKIDB_POOL_DEFAULT, how->normalize,
                                how->truncate, out, tokens);
    } else {
        akidb_embed_opts o = AKIDB_EMBED_OPTS_INIT;
        o.normalize = how->normalize;
        o.no_truncate = !how->truncate;
        o.n_tokens = tokens;
        o.prompt_name = how->prompt_name;
        akidb_status st = ak_emodel_enter(em, in->n);
        if (st == AKIDB_OK) {
            st = akidb_embed(ak_emodel_model(em), texts, lens, in->n, out, &o);
            ak_emodel_leave(em);
        }
        ok = st == AKIDB_OK ? true : failed(c, st);
    }
    ak_free(texts);
    ak_free(lens);
    return ok;
}
