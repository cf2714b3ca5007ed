/*
 * family.h - one interface for every model architecture ("family"), as
 * llama.cpp keeps one file per architecture: BERT in fam_bert.c, DistilBERT
 * in fam_distilbert.c, RoBERTa / XLM-RoBERTa / CamemBERT in fam_roberta.c.
 *
 * Why: model.c (the public API) must not grow a branch per architecture.  A
 * family says which config.json model_type / architectures it serves, reads
 * its hyper-parameters into the one ak_hparams superset, loads and packs its
 * weights, and runs a batch of token sequences to their last hidden states;
 * pooling, normalisation, grouping and threads around that are shared
 * (blocks.c).  The table in families.c lists every family, one line each.
 *
 * Adding a family: docs/ARCHITECTURE.md, "Adding a model family".
 */
#ifndef AKIDB_FAMILY_H
#define AKIDB_FAMILY_H

#include "common/common.h"
#include "kernels/kernels.h"
#include "model/safetensors.h"

/* Hyper-parameters of a loaded model: the superset of what the families
 * read (llama.cpp's llama_hparams).  A family leaves fields it has no use
 * for at 0. */
typedef struct ak_hparams {
    /* every family */
    size_t hidden;          /* width of the last hidden state (embedding dim) */
    size_t n_layers, n_heads, intermediate;
    size_t vocab;           /* token ids must be < vocab */
    size_t max_tokens;      /* longest sequence the model accepts */
    /* learned absolute positions and token types */
    size_t max_positions;   /* rows of the position table */
    size_t type_vocab;      /* rows of the token-type table (0: none) */
    int32_t pad_id;         /* padding_idx of position ids (RoBERTa), or -1 */
    ak_act act;             /* feed-forward activation */
    float ln_eps;           /* LayerNorm epsilon (RMSNorm's for decoders) */
    /* decoder-style families (Qwen3, Gemma 3) and rotary encoders */
    size_t n_kv_heads;      /* key / value heads (grouped-query attention) */
    size_t head_dim;        /* width of one head; 0: hidden / n_heads */
    float rope_theta;       /* rotary base; 0: no rotary positions */
    int causal;             /* 1: token i attends to tokens 0..i only */
    /* alternating global / local attention (ModernBERT) */
    size_t global_every;    /* layer l is global iff l % global_every == 0; 0: all */
    size_t window;          /* local layers' ak_att_mask window (|i - j| < window) */
    float rope_theta_local; /* rotary base of the local layers */
    /* optional biases (ModernBERT's norm_bias, attention_bias, mlp_bias) */
    int norm_bias, attn_bias, mlp_bias;
    /* rotary post-norm encoders (GTE, NomicBERT; rotenc.h): qkv / output
     * biases follow attn_bias */
    size_t rope_dim;        /* rotated dims of each head (even); 0: the whole head */
    float rope_ntk;         /* GTE's fixed NTK scaling factor (> 1); 0: none */
    int mlp_up_bias, mlp_down_bias;   /* biases of the up / gate and the down matrices */
    /* decoders with local layers listed one by one (Gemma 3's layer_types):
     * layer l < AK_HP_MAX_LISTED is local (window, rope_theta_local) iff bit
     * l % 64 of local_layers[l / 64] is set */
    uint64_t local_layers[4];
    float attn_scale;       /* attention scores' scale; 0: head_dim^-0.5 */
    /* a relative position bias shared by every layer (MPNet) */
    size_t rel_buckets;     /* rows of its [buckets x n_heads] table; 0: none */
} ak_hparams;
#define AK_HP_MAX_LISTED 256   /* layers local_layers can describe */

/* A parsed config.json; read it with the ak_cfg_* helpers (config.c), which
 * name the file and the field in every failure. */
typedef struct ak_cfg ak_cfg;

/* Sequences of one forward pass.  Their hidden states are concatenated:
 * sequence i has rows [sum of lens[0..i), + lens[i]). */
typedef struct ak_seqs {
    size_t n;
    const int32_t *const *ids;   /* ids[i][0..lens[i]), each < vocab */
    const size_t *lens;          /* each in [1, max_tokens] */
    size_t rows;                 /* sum of lens */
    size_t max_len;              /* largest lens[i] */
    /* Token type (segment) ids, types[i][0..lens[i]) each < type_vocab (a
     * cross-encoder's pair: 0 for the query, 1 for the passage), or NULL:
     * all 0.  Families without a type table ignore them. */
    const uint32_t *const *types;
} ak_seqs;

/* One model architecture.  Every function reports failures with ak_fail,
 * naming the file and the field or tensor. */
typedef struct ak_family {
    const char *model_type;   /* config.json model_type(s), space separated */
    const char *archs;        /* "architectures" class-name stems, space
                                 separated: "Bert" serves BertModel,
                                 BertForMaskedLM, ... */
    /* Reads the family's fields of config.json into hp (zeroed by the
     * caller, pad_id -1).  EFORMAT / EUNSUPPORTED naming the field. */
    akidb_status (*config)(const ak_cfg *c, ak_hparams *hp);
    /* Opens the weights of dir, checks every tensor's shape against hp and
     * packs them for precision prec (0 f32, 1 bf16, 2 int8) into *impl;
     * *dtype: the dtype of the stored word embeddings.  A missing tensor
     * fails with EFORMAT naming it. */
    akidb_status (*load)(const char *dir, const ak_hparams *hp, int prec, void **impl,
                         ak_dtype *dtype);
    /* Token rows one forward should hold at most (longer texts run alone). */
    size_t (*batch_rows)(const void *impl);
    /* Bytes of arena scratch one forward of rows rows (longest max_len) on
     * nt threads takes at most: sizes the arena's first block. */
    size_t (*scratch_bytes)(const void *impl, size_t rows, size_t max_len, int nt);
    /* Runs the sequences on up to nt threads of pool (NULL: one); *hidden
     * receives their last hidden states [rows x hidden], from arena.
     * Results are bit-identical for every nt.  Returns ENOMEM only. */
    akidb_status (*forward)(const void *impl, const ak_seqs *s, ak_pool *pool, int nt,
                            ak_arena *arena, float **hidden);
    void (*free)(void *impl);
} ak_family;

extern const ak_family ak_family_bert, ak_family_distilbert, ak_family_roberta;
extern const ak_family ak_family_qwen3;
extern const ak_family ak_family_gte, ak_family_nomic;
extern const ak_family ak_family_modernbert;
extern const ak_family ak_family_gemma3;
extern const ak_family ak_family_mpnet;

/* Reads config.json at path, picks the family by model_type (or, when that
 * is absent, by architectures) and lets it fill *hp.  Unknown types give
 * EUNSUPPORTED naming the type and listing the supported ones. */
akidb_status ak_family_config_load(const char *path, const ak_family **fam, ak_hparams *hp);

/* The family serving model_type, or NULL. */
const ak_family *ak_family_find(const char *model_type);

/* "bert, distilbert, ..." : every model_type of the table. */
const char *ak_family_supported(void);

/* ---- config.json readers (config.c) -------------------------------------- */

/* Reads and parses path (EFORMAT naming it if not a JSON object). */
akidb_status ak_cfg_open(const char *path, ak_cfg **out);
void ak_cfg_close(ak_cfg *c);
const char *ak_cfg_path(const ak_cfg *c);
/* Element i of the string array key; NULL past its end or if not strings. */
const char *ak_cfg_str_at(const ak_cfg *c, const char *key, size_t i);
/* Integer key in [1, max]; def (if nonzero) when absent or null. */
akidb_status ak_cfg_size(const ak_cfg *c, const char *key, size_t def, size_t max,
                         size_t *out);
/* Integer key in [lo, hi]; def when absent or null. */
akidb_status ak_cfg_int(const ak_cfg *c, const char *key, long def, long lo, long hi,
                        long *out);
/* Number key in [lo, hi); def when absent or null. */
akidb_status ak_cfg_float(const ak_cfg *c, const char *key, double def, double lo,
                          double hi, float *out);
/* Boolean key; def when absent or null. */
akidb_status ak_cfg_bool(const ak_cfg *c, const char *key, int def, int *out);
/* String key: *out = value, or def when absent or null; EFORMAT if another type. */
akidb_status ak_cfg_str(const ak_cfg *c, const char *key, const char *def, const char **out);
/* True if key is present and not null. */
bool ak_cfg_has(const ak_cfg *c, const char *key);
/* True if key is present, even as null (a null that differs from a class
 * default: NomicBertConfig's rotary_scaling_factor). */
bool ak_cfg_present(const ak_cfg *c, const char *key);
/* True if key is present and null (where null means more than "absent"). */
bool ak_cfg_is_null(const ak_cfg *c, const char *key);
/* String member key of the object field obj (rope_scaling's rope_type):
 * *out NULL when obj is absent or null or lacks key; EFORMAT if obj is not
 * an object or the member not a string. */
akidb_status ak_cfg_member_str(const ak_cfg *c, const char *obj, const char *key,
                               const char **out);
/* The object field key as a config of its own, read with the same readers
 * (failures name "path: key" and the member); *out NULL when key is absent
 * or null, EFORMAT when it is not an object.  Close with ak_cfg_close. */
akidb_status ak_cfg_object(const ak_cfg *c, const char *key, ak_cfg **out);
/* Activation named by key (gelu, gelu_new, gelu_pytorch_tanh, relu). */
akidb_status ak_cfg_act(const ak_cfg *c, const char *key, const char *def, ak_act *out);
/* EFORMAT unless hidden (field hkey) is a multiple of heads (field nkey). */
akidb_status ak_cfg_heads_divide(const ak_cfg *c, const char *hkey, size_t hidden,
                                 const char *nkey, size_t heads);
/* The hyper-parameters of BertConfig (hidden_size, num_hidden_layers, ...,
 * hidden_act, layer_norm_eps, position_embedding_type absolute), shared by
 * the configs derived from it (RoBERTa, XLM-R, CamemBERT).  Sets every field
 * but max_tokens and pad_id. */
akidb_status ak_cfg_bertlike(const ak_cfg *c, ak_hparams *hp);

/* ---- the sentence-transformers pipeline (config.c) ----------------------- */

typedef struct ak_st_pipeline {
    char *transformer_dir;   /* folder holding config.json and weights */
    akidb_pooling pooling;   /* never DEFAULT */
    int normalize;           /* 0 or 1 */
    size_t max_seq_length;   /* 0 if no file said */
    int include_prompt;      /* 0 if the Pooling config says include_prompt
                                false (pooling would skip prompt tokens) */
    /* The modules after Pooling, in modules.json order: post[i] is the
     * folder of a Dense module, or NULL for a Normalize module (dense.h). */
    size_t n_post;
    char **post;
    size_t truncate_dim;     /* config_sentence_transformers.json's
                                "truncate_dim"; 0: none */
    char *score_dir;         /* the folder of a CrossEncoder's LogitScore
                                module (a causal-LM reranker), or NULL */
    int no_pooling;          /* modules.json lists no Pooling (and no
                                LogitScore): only a sequence-classification
                                CrossEncoder may load */
} ak_st_pipeline;

/* Reads the sentence-transformers files of dir (modules.json, the Pooling
 * module's config.json, sentence_bert_config.json).  Without modules.json:
 * transformer_dir = dir, mean pooling, no normalisation, max_seq_length 0.
 * A CrossEncoder's LogitScore module (sentence-transformers 5.4+; also
 * written CausalScoreHead) is recorded in score_dir and needs no Pooling;
 * a modules.json without Pooling sets no_pooling (a sequence-classification
 * CrossEncoder of 5.4+ lists its Transformer alone; model.c refuses it for
 * anything else).  Module kinds are told by class name under any
 * sentence_transformers package path.  Modules other than Transformer,
 * Pooling, Dense, Normalize and LogitScore give EUNSUPPORTED, as do pooling
 * modes that combine several vectors. */
akidb_status ak_pipeline_load(const char *dir, ak_st_pipeline *p);
void ak_pipeline_free(ak_st_pipeline *p);

/* model_max_length of dir/tokenizer_config.json into *out; 0 if the file or
 * the field is absent or says "unlimited".  Fails on unreadable/bad JSON. */
akidb_status ak_tokenizer_max_length(const char *dir, size_t *out);

/* The prompts of config_sentence_transformers.json (prompts.c). */
typedef struct ak_prompts {
    size_t n;
    char **names, **texts;   /* [n] */
    const char *def;         /* the text of default_prompt_name, or NULL */
} ak_prompts;

/* Reads dir/config_sentence_transformers.json's "prompts" (an object of
 * strings) and "default_prompt_name" (null, or one of them: else EFORMAT,
 * as SentenceTransformer refuses it).  No file or no prompts: n = 0. */
akidb_status ak_prompts_load(const char *dir, ak_prompts *p);
void ak_prompts_free(ak_prompts *p);

/* The prompt text of one call, as SentenceTransformer.encode picks it:
 * prompt if not NULL; else the prompt named name (EINVAL naming it and
 * listing the available ones when there is none of that name); else the
 * default.  *out NULL or "": no prompt. */
akidb_status ak_prompts_pick(const ak_prompts *p, const char *name, const char *prompt,
                             const char **out);

/* ---- model internals for tests and tools (model.c) ----------------------- */

/* akidb_model_load without the tokenizer: the model embeds token ids only
 * (ak_model_embed_ids); akidb_embed on it fails with EINVAL. */
akidb_status ak_model_load_ids(const char *dir, const akidb_model_opts *opts,
                               akidb_model **out);

/* Embeds n token id sequences (ids[i] of lens[i] ids) as akidb_embed embeds
 * texts after tokenising: out receives n * dim floats.  Every id must be <
 * vocab (EDIM) and every length in [1, max_tokens] (EINVAL / ETOOLONG):
 * truncation is the tokenizer's business.  Options as for akidb_embed
 * (no_truncate has no effect). */
akidb_status ak_model_embed_ids(const akidb_model *m, size_t n, const int32_t *const *ids,
                                const size_t *lens, float *out,
                                const akidb_embed_opts *opts);

/* The last hidden state [s x hidden] of one sequence (1 <= s <= max_tokens,
 * ids < vocab), from arena. */
akidb_status ak_model_forward(const akidb_model *m, const int32_t *ids, size_t s,
                              ak_arena *arena, float **hidden);

/* The family and hyper-parameters of a loaded model. */
const ak_family *ak_model_family(const akidb_model *m);
const ak_hparams *ak_model_hparams(const akidb_model *m);

/* ak_model_embed_ids with token types: types[i][0..lens[i]) (EDIM naming
 * the text if one is >= the model's type_vocab, or not 0 for a model
 * without a type table), or types NULL: all 0.  Lengths may reach the
 * positions' limit (hp.max_tokens), not just the embedding max_tokens: a
 * reranker's pairs have their own limit. */
akidb_status ak_model_embed_ids_typed(const akidb_model *m, size_t n,
                                      const int32_t *const *ids,
                                      const uint32_t *const *types, const size_t *lens,
                                      float *out, const akidb_embed_opts *opts);

/* The head of a reranker folder (classify.h: sequence classification or
 * causal-LM yes / no), or NULL for an embedding model. */
typedef struct ak_head ak_head;
const ak_head *ak_model_head(const akidb_model *m);

#endif /* AKIDB_FAMILY_H */
