/*
 * config.c - reads the JSON files that describe a model folder: config.json
 * (through the ak_cfg_* readers the families use, and the BertConfig field
 * set they share), and the sentence-transformers files modules.json,
 * <Pooling>/config.json, sentence_bert_config.json and
 * config_sentence_transformers.json that decide pooling, the modules after
 * it, normalisation, truncation length and the default truncate_dim.
 *
 * Why strict: a silently misread field gives plausible but wrong embeddings.
 * Anything the forward pass does not implement (unknown model types, relative
 * position embeddings, combined pooling modes, Dense modules before Pooling)
 * is refused with EUNSUPPORTED naming the file and the value, never
 * approximated.  Dense modules after Pooling are listed here in order and
 * loaded by dense.c.
 *
 * Defaults when sentence-transformers files are absent (a plain Hugging Face
 * model): mean pooling, no normalisation, and max_seq_length left 0 so the
 * loader uses min(tokenizer model_max_length, max_position_embeddings), which
 * is what sentence-transformers itself does for such folders.
 */
#include "model/family.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#define AK_JSON_MAX ((size_t)16 << 20)

static akidb_status load_json(const char *path, json_t **out)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    akidb_status st = ak_read_file(path, AK_JSON_MAX, &text, &len);
    if (st != AKIDB_OK)
        return st;
    json_t *root = NULL;
    st = ak_json_parse(text, len, 0, path, &root);
    ak_free(text);
    if (st != AKIDB_OK)
        return st;
    if (!json_is_object(root)) {
        json_decref(root);
        return ak_fail(AKIDB_EFORMAT, "%s: top level is not a JSON object", path);
    }
    *out = root;
    return AKIDB_OK;
}

/* Reads integer field key in [1, max]; def (if nonzero) when absent. */
static akidb_status get_size(const char *path, json_t *o, const char *key,
                             size_t def, size_t max, size_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (def) {
            *out = def;
            return AKIDB_OK;
        }
        return ak_fail(AKIDB_EFORMAT, "%s: missing \"%s\"", path, key);
    }
    if (!json_is_integer(v) || json_integer_value(v) < 1 ||
        (unsigned long long)json_integer_value(v) > (unsigned long long)max)
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\" must be an integer in [1, %zu]",
                       path, key, max);
    *out = (size_t)json_integer_value(v);
    return AKIDB_OK;
}

static const char *get_str(json_t *o, const char *key, const char *def)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : (v && !json_is_null(v) ? NULL : def);
}

/* ---- config.json readers for the families ------------------------------------ */

struct ak_cfg {
    char *path;
    json_t *root;
    int nested;   /* an object inside config.json (ak_cfg_object) */
};

akidb_status ak_cfg_open(const char *path, ak_cfg **out)
{
    *out = NULL;
    ak_cfg *c = ak_calloc(1, sizeof *c);
    if (!c || !(c->path = ak_strdup(path))) {
        ak_free(c);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    }
    akidb_status st = load_json(path, &c->root);
    if (st != AKIDB_OK) {
        ak_cfg_close(c);
        return st;
    }
    *out = c;
    return AKIDB_OK;
}

void ak_cfg_close(ak_cfg *c)
{
    if (!c)
        return;
    json_decref(c->root);
    ak_free(c->path);
    ak_free(c);
}

const char *ak_cfg_path(const ak_cfg *c)
{
    return c->path;
}

const char *ak_cfg_str_at(const ak_cfg *c, const char *key, size_t i)
{
    json_t *a = json_object_get(c->root, key);
    json_t *v = json_is_array(a) ? json_array_get(a, i) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

akidb_status ak_cfg_size(const ak_cfg *c, const char *key, size_t def, size_t max,
                         size_t *out)
{
    return get_size(c->path, c->root, key, def, max, out);
}

akidb_status ak_cfg_int(const ak_cfg *c, const char *key, long def, long lo, long hi,
                        long *out)
{
    json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return AKIDB_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\" must be an integer in [%ld, %ld]", c->path,
                       key, lo, hi);
    *out = (long)json_integer_value(v);
    return AKIDB_OK;
}

akidb_status ak_cfg_float(const ak_cfg *c, const char *key, double def, double lo,
                          double hi, float *out)
{
    json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        *out = (float)def;
        return AKIDB_OK;
    }
    if (!json_is_number(v) || !(json_number_value(v) >= lo) || !(json_number_value(v) < hi))
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\" must be a number in [%g, %g)", c->path,
                       key, lo, hi);
    *out = (float)json_number_value(v);
    return AKIDB_OK;
}

akidb_status ak_cfg_bool(const ak_cfg *c, const char *key, int def, int *out)
{
    json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return AKIDB_OK;
    }
    if (!json_is_boolean(v))
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\" is not a boolean", c->path, key);
    *out = json_is_true(v);
    return AKIDB_OK;
}

akidb_status ak_cfg_str(const ak_cfg *c, const char *key, const char *def, const char **out)
{
    *out = get_str(c->root, key, def);
    if (!*out && json_object_get(c->root, key))
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\" is not a string", c->path, key);
    return AKIDB_OK;
}

bool ak_cfg_has(const ak_cfg *c, const char *key)
{
    json_t *v = json_object_get(c->root, key);
    return v && !json_is_null(v);
}

bool ak_cfg_present(const ak_cfg *c, const char *key)
{
    return json_object_get(c->root, key) != NULL;
}

bool ak_cfg_is_null(const ak_cfg *c, const char *key)
{
    return json_is_null(json_object_get(c->root, key));
}

akidb_status ak_cfg_member_str(const ak_cfg *c, const char *obj, const char *key,
                               const char **out)
{
    json_t *o = json_object_get(c->root, obj);
    *out = NULL;
    if (!o || json_is_null(o))
        return AKIDB_OK;
    if (!json_is_object(o))
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\" is not an object", c->path, obj);
    json_t *v = json_object_get(o, key);
    if (v && !json_is_null(v) && !json_is_string(v))
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\".\"%s\" is not a string", c->path, obj, key);
    *out = json_is_string(v) ? json_string_value(v) : NULL;
    return AKIDB_OK;
}

akidb_status ak_cfg_object(const ak_cfg *c, const char *key, ak_cfg **out)
{
    json_t *o = json_object_get(c->root, key);
    *out = NULL;
    if (!o || json_is_null(o))
        return AKIDB_OK;
    if (!json_is_object(o))
        return ak_fail(AKIDB_EFORMAT, "%s: \"%s\" is not an object", c->path, key);
    ak_cfg *s = ak_calloc(1, sizeof *s);
    size_t n = strlen(c->path) + strlen(key) + 4;
    if (!s || !(s->path = ak_malloc(n))) {
        ak_free(s);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", c->path);
    }
    snprintf(s->path, n, c->nested ? "%s.%s" : "%s: %s", c->path, key);
    s->root = json_incref(o);
    s->nested = 1;
    *out = s;
    return AKIDB_OK;
}

akidb_status ak_cfg_act(const ak_cfg *c, const char *key, const char *def, ak_act *out)
{
    const char *act;
    akidb_status st = ak_cfg_str(c, key, def, &act);
    if (st != AKIDB_OK)
        return st;
    if (strcmp(act, "gelu") == 0)
        *out = AK_ACT_GELU;
    else if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0)
        *out = AK_ACT_GELU_TANH;
    else if (strcmp(act, "relu") == 0)
        *out = AK_ACT_RELU;
    else
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: %s '%.60s' is not supported (gelu, gelu_new, gelu_pytorch_tanh, "
                       "relu)", c->path, key, act);
    return AKIDB_OK;
}

akidb_status ak_cfg_heads_divide(const ak_cfg *c, const char *hkey, size_t hidden,
                                 const char *nkey, size_t heads)
{
    if (hidden % heads != 0)
        return ak_fail(AKIDB_EFORMAT, "%s: %s %zu is not a multiple of %s %zu", c->path, hkey,
                       hidden, nkey, heads);
    return AKIDB_OK;
}

akidb_status ak_cfg_bertlike(const ak_cfg *c, ak_hparams *hp)
{
    akidb_status st;
    const char *pet;
    if ((st = ak_cfg_size(c, "hidden_size", 0, 1 << 16, &hp->hidden)) ||
        (st = ak_cfg_size(c, "num_hidden_layers", 0, 1024, &hp->n_layers)) ||
        (st = ak_cfg_size(c, "num_attention_heads", 0, 4096, &hp->n_heads)) ||
        (st = ak_cfg_size(c, "intermediate_size", 0, 1 << 18, &hp->intermediate)) ||
        (st = ak_cfg_size(c, "max_position_embeddings", 0, 1 << 20, &hp->max_positions)) ||
        (st = ak_cfg_size(c, "type_vocab_size", 2, 1 << 16, &hp->type_vocab)) ||
        (st = ak_cfg_size(c, "vocab_size", 0, (size_t)1 << 24, &hp->vocab)) ||
        (st = ak_cfg_heads_divide(c, "hidden_size", hp->hidden, "num_attention_heads",
                                  hp->n_heads)) ||
        (st = ak_cfg_act(c, "hidden_act", "gelu", &hp->act)) ||
        (st = ak_cfg_float(c, "layer_norm_eps", 1e-12, 0.0, 1.0, &hp->ln_eps)) ||
        (st = ak_cfg_str(c, "position_embedding_type", "absolute", &pet)))
        return st;
    if (strcmp(pet, "absolute") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: position_embedding_type '%.60s' is not supported (only 'absolute')",
                       c->path, pet);
    return AKIDB_OK;
}

void ak_pipeline_free(ak_st_pipeline *p)
{
    if (p) {
        ak_free(p->transformer_dir);
        p->transformer_dir = NULL;
        ak_free(p->score_dir);
        p->score_dir = NULL;
        for (size_t i = 0; i < p->n_post; i++)
            ak_free(p->post[i]);
        ak_free(p->post);
        p->post = NULL;
        p->n_post = 0;
    }
}

/* Parses a Pooling module's config.json: the mode, and include_prompt. */
static akidb_status load_pooling(const char *path, akidb_pooling *out, int *include_prompt)
{
    json_t *root;
    akidb_status st = load_json(path, &root);
    if (st != AKIDB_OK)
        return st;
    json_t *ip = json_object_get(root, "include_prompt");
    if (ip && !json_is_null(ip) && !json_is_boolean(ip)) {
        json_decref(root);
        return ak_fail(AKIDB_EFORMAT, "%s: \"include_prompt\" is not a boolean", path);
    }
    *include_prompt = !json_is_false(ip);
    static const struct { const char *key; akidb_pooling p; } modes[] = {
        { "pooling_mode_cls_token", AKIDB_POOL_CLS },
        { "pooling_mode_mean_tokens", AKIDB_POOL_MEAN },
        { "pooling_mode_max_tokens", AKIDB_POOL_MAX },
        { "pooling_mode_mean_sqrt_len_tokens", AKIDB_POOL_MEAN_SQRT_LEN },
        { "pooling_mode_weightedmean_tokens", AKIDB_POOL_WEIGHTED_MEAN },
        { "pooling_mode_lasttoken", AKIDB_POOL_LAST_TOKEN },
    };
    int n_true = 0, any_key = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        json_t *v = json_object_get(root, modes[i].key);
        if (!v)
            continue;
        any_key = 1;
        if (!json_is_boolean(v)) {
            st = ak_fail(AKIDB_EFORMAT, "%s: \"%s\" is not a boolean", path, modes[i].key);
            goto done;
        }
        if (json_is_true(v)) {
            n_true++;
            *out = modes[i].p;
        }
    }
    if (!any_key) {
        const char *pm = get_str(root, "pooling_mode", NULL);
        if (!pm) {
            st = ak_fail(AKIDB_EFORMAT, "%s: no pooling_mode_* flags and no \"pooling_mode\"",
                         path);
            goto done;
        }
        if (strcmp(pm, "mean") == 0 || strcmp(pm, "mean_tokens") == 0)
            *out = AKIDB_POOL_MEAN;
        else if (strcmp(pm, "cls") == 0 || strcmp(pm, "cls_token") == 0)
            *out = AKIDB_POOL_CLS;
        else if (strcmp(pm, "max") == 0 || strcmp(pm, "max_tokens") == 0)
            *out = AKIDB_POOL_MAX;
        else if (strcmp(pm, "mean_sqrt_len_tokens") == 0 || strcmp(pm, "mean_sqrt_len") == 0)
            *out = AKIDB_POOL_MEAN_SQRT_LEN;
        else if (strcmp(pm, "lasttoken") == 0)
            *out = AKIDB_POOL_LAST_TOKEN;
        else if (strcmp(pm, "weightedmean") == 0)
            *out = AKIDB_POOL_WEIGHTED_MEAN;
        else {
            st = ak_fail(AKIDB_EUNSUPPORTED, "%s: pooling_mode '%.60s' is not supported",
                         path, pm);
            goto done;
        }
    } else if (n_true == 0) {
        st = ak_fail(AKIDB_EFORMAT, "%s: no pooling mode is enabled", path);
    } else if (n_true > 1) {
        st = ak_fail(AKIDB_EUNSUPPORTED,
                     "%s: %d pooling modes are enabled; only one (no concatenation) is supported",
                     path, n_true);
    }
done:
    json_decref(root);
    return st;
}

/* Integer field key (null or absent: *out unchanged) of dir/file, if the
 * file exists, in [0, max]. */
static akidb_status load_optional_size(const char *dir, const char *file, const char *key,
                                       size_t max, size_t *out)
{
    char *path = ak_path_join(dir, file);
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    akidb_status st = AKIDB_OK;
    if (ak_file_exists(path)) {
        json_t *root;
        st = load_json(path, &root);
        if (st == AKIDB_OK) {
            json_t *v = json_object_get(root, key);
            if (v && !json_is_null(v))
                st = get_size(path, root, key, 0, max, out);
            json_decref(root);
        }
    }
    ak_free(path);
    return st;
}

/* max_seq_length of a sentence_bert_config.json, if the file exists. */
static akidb_status load_sbert_config(const char *dir, size_t *out)
{
    return load_optional_size(dir, "sentence_bert_config.json", "max_seq_length",
                              (size_t)1 << 24, out);
}

/* config_sentence_transformers.json's "truncate_dim" (null or absent: 0). */
static akidb_status load_truncate_dim(const char *dir, size_t *out)
{
    return load_optional_size(dir, "config_sentence_transformers.json", "truncate_dim",
                              (size_t)1 << 20, out);
}

/* Appends a module after Pooling: the folder dir of a Dense module (owned
 * from here on, freed on failure), or NULL for Normalize; max is the
 * number of modules. */
static akidb_status add_post(ak_st_pipeline *p, const char *mpath, char *dir, size_t max)
{
    if (!p->post && !(p->post = ak_calloc(max ? max : 1, sizeof *p->post))) {
        ak_free(dir);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", mpath);
    }
    AK_ASSERT(p->n_post < max);
    p->post[p->n_post++] = dir;
    return AKIDB_OK;
}

/* The module kinds of modules.json, by the class name that ends "type":
 * sentence-transformers has written them as sentence_transformers.models.X,
 * sentence_transformers.base.models.X and ...modules.<file>.X over its
 * versions (and CausalScoreHead before it became LogitScore).  A class of
 * another package (trust_remote_code modules) is MOD_OTHER. */
typedef enum { MOD_OTHER, MOD_TRANSFORMER, MOD_POOLING, MOD_NORMALIZE, MOD_DENSE,
               MOD_SCORE } module_kind;

static module_kind module_kind_of(const char *type)
{
    static const struct { const char *name; module_kind kind; } classes[] = {
        { "Transformer", MOD_TRANSFORMER }, { "Pooling", MOD_POOLING },
        { "Normalize", MOD_NORMALIZE },     { "Dense", MOD_DENSE },
        { "LogitScore", MOD_SCORE },        { "CausalScoreHead", MOD_SCORE },
    };
    const char *dot = strrchr(type, '.');
    const char *name = dot ? dot + 1 : type;
    if (dot && strncmp(type, "sentence_transformers.", 22) != 0)
        return MOD_OTHER;
    for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++)
        if (strcmp(name, classes[k].name) == 0)
            return classes[k].kind;
    return MOD_OTHER;
}

/* A module path must stay inside the folder. */
static bool safe_subpath(const char *p)
{
    if (p[0] == '/' || strstr(p, ".."))
        return false;
    return true;
}

akidb_status ak_pipeline_load(const char *dir, ak_st_pipeline *p)
{
    memset(p, 0, sizeof *p);
    p->pooling = AKIDB_POOL_MEAN;
    p->include_prompt = 1;
    char *mpath = ak_path_join(dir, "modules.json");
    if (!mpath)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    akidb_status st = AKIDB_OK;
    json_t *root = NULL;
    char *pool_dir = NULL, *tdir = NULL;
    if (!ak_file_exists(mpath))
        goto defaults;

    {
        char *text = NULL;
        size_t len = 0;
        st = ak_read_file(mpath, AK_JSON_MAX, &text, &len);
        if (st != AKIDB_OK)
            goto done;
        st = ak_json_parse(text, len, 0, mpath, &root);
        ak_free(text);
        if (st != AKIDB_OK)
            goto done;
    }
    if (!json_is_array(root)) {
        st = ak_fail(AKIDB_EFORMAT, "%s: top level is not a JSON array", mpath);
        goto done;
    }
    size_t i;
    json_t *m;
    int have_pool = 0;
    json_array_foreach(root, i, m) {
        const char *type = get_str(m, "type", NULL);
        const char *path = get_str(m, "path", "");
        if (!json_is_object(m) || !type || !path) {
            st = ak_fail(AKIDB_EFORMAT, "%s: module %zu lacks string \"type\" / \"path\"",
                         mpath, i);
            goto done;
        }
        if (!safe_subpath(path)) {
            st = ak_fail(AKIDB_EFORMAT, "%s: module %zu: path '%.80s' leaves the folder",
                         mpath, i, path);
            goto done;
        }
        module_kind kind = module_kind_of(type);
        if (kind == MOD_TRANSFORMER) {
            if (tdir) {
                st = ak_fail(AKIDB_EUNSUPPORTED, "%s: more than one Transformer module", mpath);
                goto done;
            }
            tdir = path[0] ? ak_path_join(dir, path) : ak_strdup(dir);
            if (!tdir) {
                st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", mpath);
                goto done;
            }
        } else if (kind == MOD_POOLING) {
            if (have_pool) {
                st = ak_fail(AKIDB_EUNSUPPORTED, "%s: more than one Pooling module", mpath);
                goto done;
            }
            have_pool = 1;
            char *pd = path[0] ? ak_path_join(dir, path) : ak_strdup(dir);
            pool_dir = pd ? ak_path_join(pd, "config.json") : NULL;
            ak_free(pd);
            if (!pool_dir) {
                st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", mpath);
                goto done;
            }
            st = load_pooling(pool_dir, &p->pooling, &p->include_prompt);
            if (st != AKIDB_OK)
                goto done;
        } else if (kind == MOD_NORMALIZE) {
            p->normalize = 1;
            if ((st = add_post(p, mpath, NULL, json_array_size(root))) != AKIDB_OK)
                goto done;
        } else if (kind == MOD_DENSE) {
            if (!have_pool) {
                st = ak_fail(AKIDB_EUNSUPPORTED, "%s: module %zu: a Dense module before "
                             "Pooling (on token embeddings) is not supported", mpath, i);
                goto done;
            }
            char *dd = path[0] ? ak_path_join(dir, path) : ak_strdup(dir);
            if (!dd) {
                st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", mpath);
                goto done;
            }
            if ((st = add_post(p, mpath, dd, json_array_size(root))) != AKIDB_OK)
                goto done;
        } else if (kind == MOD_SCORE) {
            /* a CrossEncoder's causal-LM score head (rerank_lm.c reads it) */
            if (p->score_dir) {
                st = ak_fail(AKIDB_EUNSUPPORTED, "%s: more than one LogitScore module", mpath);
                goto done;
            }
            if (!(p->score_dir = path[0] ? ak_path_join(dir, path) : ak_strdup(dir))) {
                st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", mpath);
                goto done;
            }
        } else {
            st = ak_fail(AKIDB_EUNSUPPORTED, "%s: module type '%.80s' is not supported",
                         mpath, type);
            goto done;
        }
    }
    /* a CrossEncoder of sentence-transformers 5.4+ lists its Transformer
     * alone: whether that is one is for the head to say (model.c) */
    p->no_pooling = !have_pool && !p->score_dir;
defaults:
    if (!tdir) {
        tdir = ak_strdup(dir);
        if (!tdir) {
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
            goto done;
        }
    }
    st = load_sbert_config(tdir, &p->max_seq_length);
    if (st == AKIDB_OK && p->max_seq_length == 0 && strcmp(tdir, dir) != 0)
        st = load_sbert_config(dir, &p->max_seq_length);
    if (st == AKIDB_OK)
        st = load_truncate_dim(dir, &p->truncate_dim);
    if (st == AKIDB_OK) {
        p->transformer_dir = tdir;
        tdir = NULL;
    }
done:
    json_decref(root);
    ak_free(mpath);
    ak_free(pool_dir);
    ak_free(tdir);
    if (st != AKIDB_OK)
        ak_pipeline_free(p);
    return st;
}

akidb_status ak_tokenizer_max_length(const char *dir, size_t *out)
{
    *out = 0;
    char *path = ak_path_join(dir, "tokenizer_config.json");
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    akidb_status st = AKIDB_OK;
    if (ak_file_exists(path)) {
        json_t *root;
        st = load_json(path, &root);
        if (st == AKIDB_OK) {
            json_t *v = json_object_get(root, "model_max_length");
            /* HF writes a huge number (1e30) for "no limit" */
            if (json_is_number(v) && json_number_value(v) >= 1 &&
                json_number_value(v) <= 1e7)
                *out = (size_t)json_number_value(v);
            json_decref(root);
        }
    }
    ak_free(path);
    return st;
}
