/*
 * families.c - the table of model families, one line each, and the lookup
 * of a config.json's family.
 *
 * Why model_type first: it is what Hugging Face's AutoConfig dispatches on,
 * and two architectures can share class-name stems but not model types
 * (roberta vs roberta-prelayernorm).  "architectures" is only a fallback for
 * configs written without model_type.  Anything unknown is refused, naming
 * the type and every supported one, never approximated by a near relative.
 */
#include "model/family.h"

#include <stdio.h>
#include <string.h>

static const ak_family *const families[] = {
    &ak_family_bert,         /* fam_bert.c: bert */
    &ak_family_distilbert,   /* fam_distilbert.c: distilbert */
    &ak_family_roberta,      /* fam_roberta.c: roberta, xlm-roberta, camembert */
    &ak_family_mpnet,        /* fam_mpnet.c: mpnet */
    &ak_family_qwen3,        /* fam_qwen3.c: qwen3 (decoder.c) */
    &ak_family_gte,          /* fam_gte.c: new (GTE v1.5 / mGTE; rotenc.c) */
    &ak_family_nomic,        /* fam_nomic.c: nomic_bert (rotenc.c) */
    &ak_family_gemma3,       /* fam_gemma3.c: gemma3_text (decoder.c) */
    &ak_family_modernbert,   /* fam_modernbert.c: modernbert */
};
#define N_FAMILIES (sizeof families / sizeof families[0])

/* True if word is one of the space-separated words of list. */
static bool in_list(const char *list, const char *word, size_t n)
{
    for (const char *p = list; *p;) {
        size_t k = strcspn(p, " ");
        if (k == n && strncmp(p, word, n) == 0)
            return true;
        p += k;
        p += *p == ' ';
    }
    return false;
}

const ak_family *ak_family_find(const char *model_type)
{
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (in_list(families[i]->model_type, model_type, strlen(model_type)))
            return families[i];
    return NULL;
}

/* The family whose class-name stem starts arch and is followed by "Model"
 * or "For..." (BertModel, XLMRobertaForMaskedLM), or NULL. */
static const ak_family *find_arch(const char *arch)
{
    for (size_t i = 0; i < N_FAMILIES; i++) {
        for (const char *p = families[i]->archs; *p;) {
            size_t k = strcspn(p, " ");
            if (strncmp(arch, p, k) == 0 &&
                (strcmp(arch + k, "Model") == 0 || strncmp(arch + k, "For", 3) == 0))
                return families[i];
            p += k;
            p += *p == ' ';
        }
    }
    return NULL;
}

const char *ak_family_supported(void)
{
    static _Thread_local char buf[256];
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < N_FAMILIES && n < sizeof buf; i++) {
        for (const char *p = families[i]->model_type; *p && n < sizeof buf;) {
            size_t k = strcspn(p, " ");
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%.*s", n ? ", " : "", (int)k, p);
            p += k;
            p += *p == ' ';
        }
    }
    return buf;
}

/* The family of the config c, by model_type or else architectures. */
static akidb_status pick(const ak_cfg *c, const ak_family **fam)
{
    const char *path = ak_cfg_path(c), *mt;
    akidb_status st = ak_cfg_str(c, "model_type", NULL, &mt);
    if (st != AKIDB_OK)
        return st;
    if (mt) {
        if (!(*fam = ak_family_find(mt)))
            return ak_fail(AKIDB_EUNSUPPORTED,
                           "%s: model_type '%.60s' is not supported (supported: %s)", path, mt,
                           ak_family_supported());
        return AKIDB_OK;
    }
    const char *a0 = ak_cfg_str_at(c, "architectures", 0), *a;
    for (size_t i = 0; (a = ak_cfg_str_at(c, "architectures", i)); i++)
        if ((*fam = find_arch(a)))
            return AKIDB_OK;
    if (a0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: no \"model_type\", and architecture '%.60s' is not supported "
                       "(supported model types: %s)", path, a0, ak_family_supported());
    return ak_fail(AKIDB_EFORMAT, "%s: missing \"model_type\" (and no \"architectures\")",
                   path);
}

akidb_status ak_family_config_load(const char *path, const ak_family **fam, ak_hparams *hp)
{
    *fam = NULL;
    memset(hp, 0, sizeof *hp);
    hp->pad_id = -1;
    ak_cfg *c;
    akidb_status st = ak_cfg_open(path, &c);
    if (st != AKIDB_OK)
        return st;
    const ak_family *f = NULL;
    if ((st = pick(c, &f)) == AKIDB_OK && (st = f->config(c, hp)) == AKIDB_OK) {
        AK_ASSERT(hp->hidden >= 1 && hp->n_heads >= 1 &&
                  (hp->head_dim || hp->hidden % hp->n_heads == 0));
        AK_ASSERT(hp->vocab >= 1 && hp->max_tokens >= 1);
        *fam = f;
    }
    ak_cfg_close(c);
    return st;
}
