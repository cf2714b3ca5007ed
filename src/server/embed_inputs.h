/*
 * embed_inputs.h - embedding inputs as the compatibility APIs send them
 * (OpenAI's /v1/embeddings, TEI's /embed and /similarity): a string, an
 * array of strings, an array of token ids, or an array mixing strings and
 * arrays of token ids; embedded through the model's batcher when they are
 * plain texts, or through the model directly when they carry token ids, a
 * prompt name or a cut from the left.
 */
#ifndef AKIDB_SERVER_EMBED_INPUTS_H
#define AKIDB_SERVER_EMBED_INPUTS_H

#include "server/internal.h"

/* The loaded model behind a registry entry (embedq.c). */
const akidb_model *ak_emodel_model(const ak_emodel *em);

typedef struct ak_einput {
    const char *text;            /* a text (borrowed from the JSON), or NULL  */
    size_t len;                  /* its bytes                                 */
    const int32_t *ids;          /* token ids (text NULL), in ak_einputs.ids  */
    size_t n_ids;
} ak_einput;

typedef struct ak_einputs {
    ak_einput *v;
    size_t n;
    int32_t *ids;                /* every token id input, back to back        */
    bool any_ids;
} ak_einputs;

/* Reads field's value v (NULL: absent) into *in.  Replies (400 / 413, code
 * "invalid_request", "empty" or "too_many_texts") and returns false on
 * error.  Free with ak_inputs_free, also after a failure. */
bool ak_inputs_parse(ak_ctx *c, json_t *v, const char *field, ak_einputs *in);
void ak_inputs_free(ak_einputs *in);

typedef struct ak_embed_how {
    int normalize;               /* -1 the model's, 0, 1                      */
    int truncate;                /* 0: a text over the limit is refused       */
    int left;                    /* 1: cut texts at their start (TEI's
                                    truncation_direction "Left")            */
    const char *prompt_name;     /* one of the model's prompts, or NULL      */
} ak_embed_how;

/* Embeds in->n inputs with em into out (n * the model's dim floats) and
 * counts the tokens into *tokens.  Replies with the error and returns false
 * on failure.  Token id inputs are taken as they are (the template's
 * special tokens included); longer than the model's limit they are refused
 * whatever truncate says. */
bool ak_inputs_embed(ak_ctx *c, ak_emodel *em, const ak_einputs *in, const ak_embed_how *how,
                     float *out, size_t *tokens);

/* The token ids of every input: texts tokenised with the template and cut
 * as how says (truncate, left; normalize and prompt_name are not read),
 * token id inputs as they are. */
typedef struct ak_inids {
    const int32_t **ids;         /* ids[i][0..lens[i])                        */
    size_t *lens;
    size_t n;
    int32_t **own;               /* the arrays made here                      */
} ak_inids;

/* Fills *out; replies (text_too_long, overloaded, ...) and returns false on
 * error.  Free with ak_inputs_ids_free, also after a failure. */
bool ak_inputs_ids(ak_ctx *c, ak_emodel *em, const ak_einputs *in, const ak_embed_how *how,
                   ak_inids *out);
void ak_inputs_ids_free(ak_inids *x);

/* Splits a text's ids toks (encoded with the template, untruncated) into
 * the template's leading and trailing special tokens, using tmpl (the ids
 * of the empty text): *pre ids lead, *post ids trail. */
void ak_template_split(const akidb_tokens *toks, const akidb_tokens *tmpl, size_t *pre,
                       size_t *post);

#endif /* AKIDB_SERVER_EMBED_INPUTS_H */
