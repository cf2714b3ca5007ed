/*
 * tok_parts.h - the interfaces of a tokenizer's parts, composed from a
 * tokenizer.json the way Hugging Face tokenizers (Rust) composes them:
 *
 *   text -> added tokens (raw) -> normalizers -> added tokens (normalized)
 *        -> pre-tokenizers -> model -> post-processor (template)
 *   ids  -> decoders -> text
 *
 * Every kind of model, normalizer, pre-tokenizer and decoder is a table of
 * functions (ak_*_kind) defined in a file of its own and listed once in
 * registry.c; the loader (tokenizer.c) finds a kind by the "type" string of
 * tokenizer.json.  Adding a kind = one file + one line in registry.c (see
 * docs/ARCHITECTURE.md, "Adding a tokenizer part").
 *
 * Text between the steps is an array of Unicode code points (uint32_t), as
 * Rust's chars; models that work on bytes convert a word to UTF-8 themselves.
 * Loaded parts are immutable and shared by concurrent callers: any per-call
 * memory lives in an ak_tok_scratch owned by the encode call.
 */
#ifndef AK_TEXT_TOK_PARTS_H
#define AK_TEXT_TOK_PARTS_H

#include "common/common.h"
#include "vocab.h"

#include <jansson.h>

/* ---- growable buffers ---------------------------------------------------- */

typedef struct ak_cpbuf {     /* code points */
    uint32_t *v;
    size_t n, cap;
} ak_cpbuf;

typedef struct ak_idbuf {     /* token ids */
    int32_t *v;
    size_t n, cap;
} ak_idbuf;

/* Makes room for `more` further elements; ENOMEM (with a message) on failure. */
akidb_status ak_cpbuf_reserve(ak_cpbuf *b, size_t more);
akidb_status ak_idbuf_reserve(ak_idbuf *b, size_t more);
akidb_status ak_cpbuf_push(ak_cpbuf *b, const uint32_t *cps, size_t n);
akidb_status ak_idbuf_push(ak_idbuf *b, int32_t id);
void ak_cpbuf_free(ak_cpbuf *b);
void ak_idbuf_free(ak_idbuf *b);

/* Per-call scratch memory: numbered slots a part may grow and reuse while one
 * encode call runs (slot numbers are private to each part's call; parts run
 * one after the other, never nested).  Released by ak_tok_scratch_free. */
#define AK_TOK_SCRATCH_SLOTS 8
typedef struct ak_tok_scratch {
    void *p[AK_TOK_SCRATCH_SLOTS];
    size_t cap[AK_TOK_SCRATCH_SLOTS];
} ak_tok_scratch;

/* Returns slot `slot` with room for at least `bytes` bytes (contents kept when
 * it grows), or NULL after ak_fail(ENOMEM). */
void *ak_tok_scratch_get(ak_tok_scratch *s, unsigned slot, size_t bytes);
void ak_tok_scratch_free(ak_tok_scratch *s);

/* ---- split lists (pre-tokenizer input and output) ------------------------ */

typedef struct ak_split {
    size_t off, len;   /* code points text.v[off .. off+len)                */
    bool at0;          /* begins at offset 0 of the original text (Rust:
                        * offsets_original().0 == 0), for prepend_scheme
                        * "first"                                            */
} ak_split;

typedef struct ak_splits {
    ak_cpbuf text;
    ak_split *v;
    size_t n, cap;
} ak_splits;

/* Appends a split holding a copy of cps[0..n) (n may be 0; empty splits are
 * dropped by the driver, as Rust drops them). */
akidb_status ak_splits_push(ak_splits *s, const uint32_t *cps, size_t n, bool at0);
void ak_splits_clear(ak_splits *s);
void ak_splits_free(ak_splits *s);

/* ---- JSON field helpers (messages: "ORIGIN: PATH.KEY: expected ...") ----- */

const char *ak_tj_type_name(const json_t *v);
akidb_status ak_tj_bad_type(const char *origin, const char *field, const char *want,
                            const json_t *got);
/* Optional fields: absent or null gives def.  path is the prefix printed
 * before key in messages ("normalizer.", "pre_tokenizer.pretokenizers[2]."). */
akidb_status ak_tj_bool(const json_t *obj, const char *key, bool def, bool *out,
                        const char *origin, const char *path);
akidb_status ak_tj_str(const json_t *obj, const char *key, const char *def,
                       const char **out, const char *origin, const char *path);
akidb_status ak_tj_int(const json_t *obj, const char *key, long long def, long long lo,
                       long long hi, long long *out, const char *origin, const char *path);
/* A Split / Replace "pattern": {"String": s} or {"Regex": r}.  *is_regex says
 * which; *s is the string (owned by the JSON). */
akidb_status ak_tj_pattern(const json_t *obj, const char *key, const char **s,
                           bool *is_regex, const char *origin, const char *path);

/* Everything a part's loader may need besides its own JSON object. */
typedef struct ak_tok_load {
    const char *origin;      /* file name, for messages                          */
    const char *path;        /* field path of this part ("pre_tokenizer.")       */
    /* Models only: when not NULL, model.vocab / model.merges were read from a
     * tokenizer.json text (json_scan.h) and not put in the tree; wherever
     * spans->vocab / spans->merges has a length, the tree holds an empty
     * container of the same kind in its place and the model reads the
     * entries from the span.  NULL for trees built in memory (the folder
     * converters), which hold everything. */
    const struct ak_tok_spans *spans;
} ak_tok_load;

/* ---- models -------------------------------------------------------------- */

typedef struct ak_tok_model_kind ak_tok_model_kind;

/* The part every model starts with (each kind embeds it as its first
 * member).  The vocabulary and id table are filled by the kind's loader. */
typedef struct ak_tok_model {
    const ak_tok_model_kind *kind;
    ak_vocab vocab;          /* token -> id                                      */
    const char **id_tok;     /* id -> token (into vocab.pool); NULL for holes    */
    size_t n_ids;            /* max id + 1                                       */
    int32_t unk_id;          /* -1: none                                         */
} ak_tok_model;

struct ak_tok_model_kind {
    const char *type;        /* tokenizer.json model.type: "WordPiece", "BPE"... */
    /* Builds the model from tokenizer.json's "model" object. */
    akidb_status (*from_json)(const json_t *model, const ak_tok_load *ld,
                              ak_tok_model **out);
    /* Appends the ids of one pre-tokenized word w[0..n) (n >= 1) to out. */
    akidb_status (*tokenize)(const ak_tok_model *m, const uint32_t *w, size_t n,
                             ak_tok_scratch *scr, ak_idbuf *out);
    void (*free)(ak_tok_model *m);
};

/* Fills m->vocab and m->id_tok from a JSON object token -> id (tokenizer.json
 * model.vocab of WordPiece / BPE, vocab.json).  Duplicate ids and ids < 0 or
 * >= bound are EFORMAT naming origin and field. */
akidb_status ak_tok_model_vocab_from_json(ak_tok_model *m, const json_t *vocab,
                                          size_t bound, const char *origin,
                                          const char *field);
/* Builds m->id_tok from m->vocab (after all ak_vocab_put calls). */
akidb_status ak_tok_model_index(ak_tok_model *m, const char *origin);
void ak_tok_model_base_free(ak_tok_model *m);
/* Id of a token string, or -1. */
int32_t ak_tok_model_id(const ak_tok_model *m, const char *s, size_t n);

/* ---- normalizers --------------------------------------------------------- */

typedef struct ak_norm_kind ak_norm_kind;
typedef struct ak_normalizer {
    const ak_norm_kind *kind;   /* each kind embeds this as its first member */
} ak_normalizer;

struct ak_norm_kind {
    const char *type;        /* "NFC", "BertNormalizer", "Precompiled", ...      */
    akidb_status (*from_json)(const json_t *j, const ak_tok_load *ld,
                              ak_normalizer **out);
    /* Writes the normalised form of in[0..n) to out (out->n = 0 on entry). */
    akidb_status (*apply)(const ak_normalizer *nz, const uint32_t *in, size_t n,
                          ak_tok_scratch *scr, ak_cpbuf *out);
    void (*free)(ak_normalizer *nz);
    /* True when normalising text cut at ASCII whitespace piece by piece gives
     * the same result as normalising it whole (per-character steps). */
    bool per_char;
};

/* ---- pre-tokenizers ------------------------------------------------------ */

typedef struct ak_pretok_kind ak_pretok_kind;
typedef struct ak_pretok {
    const ak_pretok_kind *kind;
} ak_pretok;

struct ak_pretok_kind {
    const char *type;        /* "ByteLevel", "Split", "Metaspace", ...           */
    akidb_status (*from_json)(const json_t *j, const ak_tok_load *ld, ak_pretok **out);
    /* Splits one split s[0..n) (n >= 1) further, appending the pieces (which
     * may be rewritten, as ByteLevel and Metaspace do) to out. */
    akidb_status (*split)(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                          ak_tok_scratch *scr, ak_splits *out);
    void (*free)(ak_pretok *p);
};

/* ---- decoders ------------------------------------------------------------ */

/* A list of owned byte strings (the tokens being decoded): v[i] holds len[i]
 * bytes, which may include NULs (a decoded U+0000), followed by a NUL that
 * is not part of the string. */
typedef struct ak_strs {
    char **v;
    size_t *len;
    size_t n, cap;
} ak_strs;
/* Appends a copy of str[0..len). */
akidb_status ak_strs_push(ak_strs *s, const char *str, size_t len);
/* Replaces entry i by a copy of str[0..len). */
akidb_status ak_strs_set(ak_strs *s, size_t i, const char *str, size_t len);
/* Frees *dst and moves *src into it (*src is left empty). */
void ak_strs_move(ak_strs *dst, ak_strs *src);
void ak_strs_free(ak_strs *s);

typedef struct ak_decoder_kind ak_decoder_kind;
typedef struct ak_decoder {
    const ak_decoder_kind *kind;
} ak_decoder;

struct ak_decoder_kind {
    const char *type;        /* "ByteLevel", "Metaspace", "WordPiece", ...       */
    akidb_status (*from_json)(const json_t *j, const ak_tok_load *ld, ak_decoder **out);
    /* Rust's decode_chain: rewrites the token list in place (it may merge
     * entries, as Fuse and ByteFallback do). */
    akidb_status (*decode)(const ak_decoder *d, ak_strs *toks);
    void (*free)(ak_decoder *d);
};

/* ---- post-processor: every kind reduces to a template -------------------- */

typedef struct ak_tpl_item {
    int seq;                 /* -1: special tokens `ids`; 0: sequence A; 1: B     */
    uint32_t type_id;
    int32_t *ids;            /* seq == -1 */
    size_t n_ids;
} ak_tpl_item;

typedef struct ak_template {
    ak_tpl_item *single, *pair;
    size_t n_single, n_pair;
    size_t specials_single, specials_pair;   /* special ids each adds          */
    bool trim_offsets;       /* offsets only: a ByteLevel or RobertaProcessing
                              * post-processor with trim_offsets: spans leave
                              * out a token's leading / trailing spaces      */
    bool trim_prefix_space;  /* ... and its add_prefix_space                  */
} ak_template;

/* Builds the template of tokenizer.json's "post_processor" (pp may be NULL or
 * JSON null: no special tokens).  TemplateProcessing, RobertaProcessing,
 * BertProcessing, ByteLevel (ids unchanged) and Sequence of these.  Ids are
 * checked against id_bound.  EUNSUPPORTED names an unknown type; EFORMAT a
 * malformed field (naming ld->origin and the field). */
akidb_status ak_template_from_json(const json_t *pp, const ak_tok_load *ld,
                                   size_t id_bound, ak_template *out);
void ak_template_free(ak_template *t);

/* ---- the registry (registry.c) ------------------------------------------- */

const ak_tok_model_kind *ak_tok_find_model(const char *type);
const ak_norm_kind *ak_tok_find_norm(const char *type);
const ak_pretok_kind *ak_tok_find_pretok(const char *type);
const ak_decoder_kind *ak_tok_find_decoder(const char *type);
/* Writes the comma-separated names of a table's kinds into buf (n bytes), for
 * "supported: ..." messages; returns buf. */
const char *ak_tok_model_names(char *buf, size_t n);
const char *ak_tok_norm_names(char *buf, size_t n);
const char *ak_tok_pretok_names(char *buf, size_t n);
const char *ak_tok_decoder_names(char *buf, size_t n);

#endif /* AK_TEXT_TOK_PARTS_H */
