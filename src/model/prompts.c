/*
 * prompts.c - the prompts of a sentence-transformers folder
 * (config_sentence_transformers.json "prompts" and "default_prompt_name")
 * and the choice of one per embedding call.
 *
 * Why: instruction-tuned embedding models (Qwen3-Embedding, E5 / BGE
 * variants, EmbeddingGemma) expect a prefix such as "Instruct: ...\nQuery:"
 * on queries; sentence-transformers' encode(prompt_name=...) prepends it to
 * the text and tokenises the two together, so the prompt's tokens count
 * toward the length limit.  The choice follows SentenceTransformer.encode:
 * an explicit prompt wins, then a prompt name (unknown names fail, listing
 * the available ones), then the folder's default_prompt_name.  A default
 * naming no prompt fails at load as SentenceTransformer's constructor does.
 * Applies to every family: it happens before tokenisation (model.c).
 */
#include "model/family.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define PROMPTS_JSON_MAX ((size_t)4 << 20)

void ak_prompts_free(ak_prompts *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        ak_free(p->names[i]);
        ak_free(p->texts[i]);
    }
    ak_free(p->names);
    ak_free(p->texts);
    memset(p, 0, sizeof *p);
}

/* Copies the prompts object o (strings only) into p. */
static akidb_status copy_prompts(const char *path, json_t *o, ak_prompts *p)
{
    size_t n = json_object_size(o);
    p->names = ak_calloc(n ? n : 1, sizeof *p->names);
    p->texts = ak_calloc(n ? n : 1, sizeof *p->texts);
    if (!p->names || !p->texts)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (!json_is_string(v))
            return ak_fail(AKIDB_EFORMAT, "%s: prompt \"%.60s\" is not a string", path, key);
        p->names[p->n] = ak_strdup(key);
        p->texts[p->n] = ak_strndup(json_string_value(v), json_string_length(v));
        if (!p->names[p->n] || !p->texts[p->n]) {
            ak_free(p->names[p->n]);
            ak_free(p->texts[p->n]);
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
        }
        p->n++;
    }
    return AKIDB_OK;
}

/* The text of prompt name, or NULL. */
static const char *find(const ak_prompts *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0)
            return p->texts[i];
    return NULL;
}

static akidb_status parse(const char *path, json_t *root, ak_prompts *p)
{
    if (!json_is_object(root))
        return ak_fail(AKIDB_EFORMAT, "%s: top level is not a JSON object", path);
    json_t *pr = json_object_get(root, "prompts"), *dn = json_object_get(root,
                                                                       "default_prompt_name");
    if (pr && !json_is_null(pr)) {
        if (!json_is_object(pr))
            return ak_fail(AKIDB_EFORMAT, "%s: \"prompts\" is not an object", path);
        akidb_status st = copy_prompts(path, pr, p);
        if (st != AKIDB_OK)
            return st;
    }
    if (dn && !json_is_null(dn)) {
        if (!json_is_string(dn))
            return ak_fail(AKIDB_EFORMAT, "%s: \"default_prompt_name\" is not a string", path);
        if (!(p->def = find(p, json_string_value(dn))))
            return ak_fail(AKIDB_EFORMAT,
                           "%s: default_prompt_name '%.60s' is not one of the \"prompts\"",
                           path, json_string_value(dn));
    }
    return AKIDB_OK;
}

akidb_status ak_prompts_load(const char *dir, ak_prompts *p)
{
    memset(p, 0, sizeof *p);
    char *path = ak_path_join(dir, "config_sentence_transformers.json");
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    akidb_status st = AKIDB_OK;
    if (ak_file_exists(path)) {
        char *text = NULL;
        size_t len = 0;
        st = ak_read_file(path, PROMPTS_JSON_MAX, &text, &len);
        if (st == AKIDB_OK) {
            json_t *root = NULL;
            st = ak_json_parse(text, len, 0, path, &root);
            ak_free(text);
            if (st == AKIDB_OK)
                st = parse(path, root, p);
            json_decref(root);
        }
    }
    if (st != AKIDB_OK)
        ak_prompts_free(p);
    ak_free(path);
    return st;
}

akidb_status ak_prompts_pick(const ak_prompts *p, const char *name, const char *prompt,
                             const char **out)
{
    *out = NULL;
    if (prompt) {
        *out = prompt;
        return AKIDB_OK;
    }
    if (!name) {
        *out = p->def;
        return AKIDB_OK;
    }
    if ((*out = find(p, name)))
        return AKIDB_OK;
    if (p->n == 0)
        return ak_fail(AKIDB_EINVAL, "unknown prompt name '%.60s' (the model has no prompts)",
                       name);
    char list[512];
    size_t k = 0;
    list[0] = 0;
    for (size_t i = 0; i < p->n && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s'%.60s'", i ? ", " : "",
                              p->names[i]);
    return ak_fail(AKIDB_EINVAL, "unknown prompt name '%.60s' (available: %s)", name, list);
}
