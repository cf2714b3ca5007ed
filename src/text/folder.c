/*
 * folder.c - the tokenizer of a model folder that has no tokenizer.json.
 * Each supported layout is converted into the tokenizer.json tree the
 * Hugging Face converters would write, so every route shares one pipeline.
 * Layouts are tried in the order of the table below.
 */
#include "tokenizer.h"
#include "spm_model.h"
#include "vocab_files.h"

#include <string.h>

/* vocab.txt (+ tokenizer_config.json, special_tokens_map.json): BERT. */
static akidb_status from_vocab_txt(const char *dir, bool *found, akidb_tokenizer **out)
{
    char *p_vocab = NULL, *p_cfg = NULL, *p_map = NULL;
    char *vocab = NULL, *cfg = NULL, *map = NULL;
    size_t n_vocab, n_cfg, n_map;
    akidb_status st = ak_tok_read_optional(dir, "vocab.txt", &p_vocab, &vocab, &n_vocab);
    *found = vocab != NULL;
    if (st != AKIDB_OK || !vocab)
        goto out;
    if ((st = ak_tok_read_optional(dir, "tokenizer_config.json", &p_cfg, &cfg, &n_cfg)) ||
        (st = ak_tok_read_optional(dir, "special_tokens_map.json", &p_map, &map, &n_map)))
        goto out;
    st = ak_tokenizer_from_vocab(vocab, n_vocab, cfg, n_cfg, map, n_map, "vocab.txt", out);
    if (st != AKIDB_OK)
        ak_fail_prefix(st, "%s", dir);
out:
    ak_free(p_vocab);
    ak_free(p_cfg);
    ak_free(p_map);
    ak_free(vocab);
    ak_free(cfg);
    ak_free(map);
    return st;
}

/* A sentencepiece model under one of its usual names. */
static akidb_status from_spm_named(const char *dir, const char *name, bool *found,
                                   akidb_tokenizer **out)
{
    char *path = ak_path_join(dir, name);
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    *found = ak_file_exists(path);
    akidb_status st = *found ? ak_tokenizer_from_spm(path, dir, out) : AKIDB_OK;
    ak_free(path);
    return st;
}

static akidb_status from_spm_xlmr(const char *dir, bool *found, akidb_tokenizer **out)
{
    return from_spm_named(dir, "sentencepiece.bpe.model", found, out);
}

static akidb_status from_spm_t5(const char *dir, bool *found, akidb_tokenizer **out)
{
    return from_spm_named(dir, "spiece.model", found, out);
}

static akidb_status from_spm_llama(const char *dir, bool *found, akidb_tokenizer **out)
{
    return from_spm_named(dir, "tokenizer.model", found, out);
}

typedef akidb_status (*layout_fn)(const char *dir, bool *found, akidb_tokenizer **out);

static const struct {
    const char *files;     /* for the "none found" message */
    layout_fn load;
} LAYOUTS[] = {
    {"sentencepiece.bpe.model", from_spm_xlmr},
    {"spiece.model", from_spm_t5},
    {"tokenizer.model", from_spm_llama},
    {"vocab.json + merges.txt", ak_tokenizer_from_vocab_merges},
    {"vocab.txt", from_vocab_txt},
};

akidb_status ak_tokenizer_from_folder(const char *dir, akidb_tokenizer **out)
{
    char tried[256] = "";
    size_t o = 0;
    for (size_t i = 0; i < sizeof LAYOUTS / sizeof LAYOUTS[0]; i++) {
        bool found = false;
        akidb_status st = LAYOUTS[i].load(dir, &found, out);
        if (found || st != AKIDB_OK)
            return st;
        if (o < sizeof tried)
            o += (size_t)snprintf(tried + o, sizeof tried - o, "%s%s", o ? ", " : "",
                                  LAYOUTS[i].files);
    }
    return ak_fail(AKIDB_ENOENT, "%s: no tokenizer.json, nor any of: %s", dir, tried);
}
