/*
 * akidb.h - public C API of AkiDB.
 *
 * AkiDB turns text into the embeddings a Hugging Face sentence-transformers
 * model would give, and stores and searches the vectors.  This header is the
 * only one a program embedding AkiDB includes.
 *
 * Conventions
 *   - Every symbol starts with akidb_ / AKIDB_.
 *   - Handles are opaque; each *_load / *_open has a matching *_free / *_close.
 *   - A function that can fail at run time returns an akidb_status.  On failure
 *     a human-readable message naming what was wrong (file, offset, field ...)
 *     is available from akidb_last_error() on the same thread until the next
 *     failing call on that thread.
 *   - Passing NULL where the contract requires a pointer, or otherwise breaking
 *     a documented precondition, is a programming error and aborts with an
 *     assertion message; it is not reported through a status.
 *   - Loaded models and tokenizers are immutable: any number of threads may use
 *     one handle at the same time without locking.
 */
#ifndef AKIDB_H
#define AKIDB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AKIDB_VERSION_MAJOR 0
#define AKIDB_VERSION_MINOR 1
#define AKIDB_VERSION_PATCH 0
#define AKIDB_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------ */
/* Status codes.  One list generates the enum and akidb_strerror().          */
/* ------------------------------------------------------------------------ */

#define AKIDB_STATUS_MAP(X)                                                   \
    X(OK,          0,  "success")                                             \
    X(EINVAL,     -1,  "invalid argument")                                    \
    X(ENOMEM,     -2,  "out of memory")                                       \
    X(EIO,        -3,  "input/output error")                                  \
    X(ENOENT,     -4,  "not found")                                           \
    X(EFORMAT,    -5,  "malformed data")                                      \
    X(EUNSUPPORTED, -6, "unsupported model or feature")                       \
    X(EUTF8,      -7,  "invalid UTF-8")                                       \
    X(ETOOLONG,   -8,  "input too long")                                      \
    X(EDIM,       -9,  "dimension mismatch")                                  \
    X(EEXIST,     -10, "already exists")                                      \
    X(ECORRUPT,   -11, "corrupt data on disk")                                \
    X(EBUSY,      -12, "resource busy")                                       \
    X(EAUTH,      -13, "authentication required")                             \
    X(EPERM,      -14, "permission denied")                                   \
    X(ERANGE,     -15, "value out of range")                                  \
    X(EINTERNAL,  -16, "internal error")                                      \
    X(ENOSPC,     -17, "no space left on device")

typedef enum akidb_status {
#define AKIDB_STATUS_ENUM_(name, code, str) AKIDB_##name = code,
    AKIDB_STATUS_MAP(AKIDB_STATUS_ENUM_)
#undef AKIDB_STATUS_ENUM_
} akidb_status;

/* Static description of a status, e.g. "invalid UTF-8".  Never NULL; unknown
 * codes give "unknown status". */
const char *akidb_strerror(akidb_status st);

/* Symbolic name of a status without the prefix, e.g. "EUTF8".  Never NULL. */
const char *akidb_status_name(akidb_status st);

/* Message of the most recent failure on the calling thread, e.g.
 * "models/x/model.safetensors: tensor 'pooler.dense.weight': data offsets
 * [10, 8] are reversed".  Empty string if no failure has been recorded. */
const char *akidb_last_error(void);

/* ------------------------------------------------------------------------ */
/* CPU kernels                                                               */
/* ------------------------------------------------------------------------ */

typedef enum akidb_kernel_path {
    AKIDB_KERNELS_AUTO = 0,   /* best path the CPU supports                */
    AKIDB_KERNELS_SCALAR,     /* portable C, every machine                 */
    AKIDB_KERNELS_AVX2,       /* x86-64 AVX2 + FMA                         */
    AKIDB_KERNELS_AVX512,     /* x86-64 AVX-512F                           */
    AKIDB_KERNELS_NEON        /* AArch64 Advanced SIMD                     */
} akidb_kernel_path;

/* Selects the kernel path used by every later call in the process.  AUTO picks
 * the best one the CPU supports; the environment variable AKIDB_KERNELS
 * (scalar|avx2|avx512|neon) overrides AUTO at first use.  Returns
 * AKIDB_EUNSUPPORTED if the CPU or the build lacks the requested path.  Meant
 * for tests and benchmarks; call it before loading models. */
akidb_status akidb_kernels_select(akidb_kernel_path path);

/* The kernel path currently in use (never AUTO), and its name ("avx512"...). */
akidb_kernel_path akidb_kernels_active(void);
const char *akidb_kernels_name(akidb_kernel_path path);

/* ------------------------------------------------------------------------ */
/* Tokenizer                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct akidb_tokenizer akidb_tokenizer;

/* A growable token buffer owned by the caller.  Initialise with {0}; reuse it
 * across calls to avoid allocation; release with akidb_tokens_free(). */
typedef struct akidb_tokens {
    int32_t *ids;       /* token ids, the template's special tokens included  */
    size_t   n;         /* number of ids                                      */
    size_t   cap;       /* allocated capacity of ids and type_ids             */
    size_t   n_full;    /* ids the text gives before truncation               */
    uint32_t *type_ids; /* token type (segment) of each id, as the template
                         * assigns it: 0 for a single text; 0 / 1 for a pair
                         * under a BERT template                              */
} akidb_tokens;

void akidb_tokens_free(akidb_tokens *toks);

/* Loads the tokenizer of a Hugging Face model folder: tokenizer.json; else a
 * sentencepiece model (sentencepiece.bpe.model, spiece.model,
 * tokenizer.model), vocab.json + merges.txt, or vocab.txt (+
 * tokenizer_config.json), converted as the Hugging Face converters do. */
akidb_status akidb_tokenizer_load(const char *dir, akidb_tokenizer **out);
void akidb_tokenizer_free(akidb_tokenizer *tok);

/* Encodes one UTF-8 text of len bytes into ids exactly as Hugging Face
 * tokenizers' encode(text, add_special_tokens=True) does, with the special
 * tokens of the tokenizer's template.  max_tokens > 0 truncates the result to
 * at most max_tokens ids, special tokens included (the text's tokens are cut
 * at the end); 0 means no truncation.
 * toks->n_full receives the length the text would have without truncation
 * (it may stop counting at some bound above max_tokens for huge inputs, but
 * is then still > max_tokens).  Returns AKIDB_EUTF8 for malformed UTF-8. */
akidb_status akidb_tokenizer_encode(const akidb_tokenizer *tok, const char *text,
                                    size_t len, size_t max_tokens,
                                    akidb_tokens *toks);

/* Where a token comes from: the bytes [start, stop) of the UTF-8 text it was
 * encoded from. */
typedef struct akidb_span {
    size_t start, stop;
    int    special;     /* 1 for a special token the template added (Hugging
                         * Face's special_tokens_mask): it has no place in
                         * the text, start = stop = 0                       */
} akidb_span;

/* A growable span buffer owned by the caller, as akidb_tokens: initialise
 * with {0}, reuse, release with akidb_spans_free(). */
typedef struct akidb_spans {
    akidb_span *v;      /* one per id                                        */
    size_t      n;
    size_t      cap;
} akidb_spans;

void akidb_spans_free(akidb_spans *spans);

/* akidb_tokenizer_encode, and also the span of each id in text:
 * spans->v[i] belongs to toks->ids[i] (spans->n == toks->n).  The spans are
 * Hugging Face tokenizers' Encoding offsets in bytes (the Rust library's
 * OffsetType::Byte, which TEI's /tokenize serves): byte offsets into the
 * UTF-8 text, start inclusive, stop exclusive, always on character
 * boundaries.  They follow the Rust library through every step: a
 * character a normalizer rewrote keeps its own bytes (NFC's "é" made of "e"
 * and U+0301 spans the "e" alone), an inserted one takes the bytes of the
 * character before it, a token made of part of a character's UTF-8 bytes
 * (byte-level BPE, byte fallback) spans the whole character, an added token
 * found in the text spans its bytes, and the template's special tokens are
 * {0, 0, special = 1}.  Tracking the spans makes this slower than
 * akidb_tokenizer_encode, which the embedding path keeps using.  Errors as
 * akidb_tokenizer_encode. */
akidb_status akidb_tokenizer_encode_offsets(const akidb_tokenizer *tok, const char *text,
                                            size_t len, size_t max_tokens,
                                            akidb_tokens *toks, akidb_spans *spans);

/* How a pair is cut to max_tokens (Hugging Face's TruncationStrategy). */
typedef enum akidb_truncation {
    AKIDB_TRUNC_LONGEST_FIRST = 0,  /* shorten the longer side first         */
    AKIDB_TRUNC_ONLY_FIRST,         /* only the first text                   */
    AKIDB_TRUNC_ONLY_SECOND         /* only the second text; with either
                                     * only_* strategy, AKIDB_ETOOLONG when
                                     * the cut would leave that text empty,
                                     * as the Rust library refuses           */
} akidb_truncation;

/* Encodes a text pair (a query and a passage for a cross-encoder) under the
 * template's pair form, e.g. [CLS] A [SEP] B [SEP] with type ids 0 / 1.
 * max_tokens as in akidb_tokenizer_encode; n_full counts both texts. */
akidb_status akidb_tokenizer_encode_pair(const akidb_tokenizer *tok, const char *a,
                                         size_t a_len, const char *b, size_t b_len,
                                         size_t max_tokens, akidb_truncation strategy,
                                         akidb_tokens *toks);

/* Decodes ids to text as Hugging Face's decode(ids, skip_special_tokens)
 * does: ids without a token are skipped; the tokenizer's decoders rebuild the
 * text (tokens joined by spaces when it has none).  *text is *len bytes
 * followed by a NUL; the text itself may contain U+0000 (a byte-level token
 * for byte 0, a <0x00> byte-fallback token), so read it by *len when that
 * matters (len may be NULL).  Release it with akidb_string_free. */
akidb_status akidb_tokenizer_decode(const akidb_tokenizer *tok, const int32_t *ids,
                                    size_t n, int skip_special, char **text,
                                    size_t *len);
void akidb_string_free(char *s);

/* Vocabulary size (max id + 1 over the model and the added tokens), the
 * token string of an id (NULL if out of range or a hole), and the id of a
 * token string (added tokens first; -1 if absent). */
size_t akidb_tokenizer_vocab_size(const akidb_tokenizer *tok);
const char *akidb_tokenizer_id_to_token(const akidb_tokenizer *tok, int32_t id);
int32_t akidb_tokenizer_token_to_id(const akidb_tokenizer *tok, const char *token);

/* ------------------------------------------------------------------------ */
/* Embedding models                                                          */
/* ------------------------------------------------------------------------ */

typedef struct akidb_model akidb_model;

typedef enum akidb_pooling {
    AKIDB_POOL_DEFAULT = 0,      /* what the model folder configures        */
    AKIDB_POOL_MEAN,             /* mean of token vectors                   */
    AKIDB_POOL_CLS,              /* vector of the first token               */
    AKIDB_POOL_MAX,              /* element-wise max over tokens            */
    AKIDB_POOL_MEAN_SQRT_LEN,    /* sum of token vectors / sqrt(tokens)     */
    AKIDB_POOL_LAST_TOKEN,       /* vector of the last token (decoder models:
                                  * Qwen3-Embedding's pooling_mode_lasttoken) */
    AKIDB_POOL_WEIGHTED_MEAN     /* position-weighted mean: token i (from 1)
                                  * weighs i (SGPT's weightedmean)          */
} akidb_pooling;

/* "mean", "cls", "max", "mean_sqrt_len", "lasttoken", "weightedmean"
 * (DEFAULT gives "default"). */
const char *akidb_pooling_name(akidb_pooling p);
/* Parses one of the names above; returns AKIDB_EINVAL for anything else. */
akidb_status akidb_pooling_parse(const char *name, akidb_pooling *out);

typedef struct akidb_model_opts {
    const char *name;        /* model name reported by info; NULL: folder name */
    size_t max_seq_length;   /* 0: sentence_bert_config.json's, else config's  */
    int n_threads;           /* default threads per akidb_embed call; 0: 1     */
    const char *dtype;       /* compute precision of the linear layers:
                                NULL: $AKIDB_DTYPE if set, else "f32" (exact)
                                on the weights as stored when every matrix
                                is BF16 (kept bf16 in memory), else on f32
                                copies; "f32" given: always f32 copies;
                                "bf16": bfloat16 weights and activations, fp32
                                sums (AVX512_BF16 where present, else the
                                weights widened to fp32 in registers);
                                "int8": per-column s8 weights, per-row u8
                                activations, int32 sums (AVX512_VNNI where
                                present).  Both reduced modes run attention
                                in bf16 and fall back to portable C on other
                                CPUs; embeddings stay within cosine ~0.9999 of
                                f32.  Other values: EINVAL at load. */
    int reranker;            /* 1: load the folder as a reranker, which
                                also makes a Qwen3ForCausalLM folder
                                (Qwen3-Reranker) one: akidb_rerank scores
                                pairs by its LM head's "yes" / "no" logits.
                                0: only *ForSequenceClassification folders
                                rerank.  Either way akidb_embed still embeds */
} akidb_model_opts;

typedef struct akidb_model_info {
    const char *name;
    const char *dir;
    size_t dim;              /* embedding dimension: the hidden size, or the
                                last Dense module's out_features, or the
                                folder's truncate_dim when smaller           */
    size_t max_tokens;       /* truncation length, special tokens included   */
    akidb_pooling pooling;   /* configured pooling                           */
    int normalize;           /* 1 if the pipeline L2-normalises              */
    size_t n_layers, hidden, n_heads, intermediate, vocab_size;
    const char *weights_dtype; /* dtype stored in the files: F32, F16, BF16  */
    size_t num_labels;       /* outputs of a reranker's classification head
                                (akidb_rerank); 0 for an embedding model     */
} akidb_model_info;

/* Loads a sentence-transformers / Hugging Face BERT model folder:
 * config.json, model.safetensors (or model.safetensors.index.json with its
 * shards), tokenizer files, and the optional sentence-transformers files
 * modules.json, 1_Pooling/config.json and sentence_bert_config.json.
 * opts may be NULL. */
akidb_status akidb_model_load(const char *dir, const akidb_model_opts *opts,
                              akidb_model **out);
void akidb_model_free(akidb_model *model);

void akidb_model_get_info(const akidb_model *model, akidb_model_info *info);
const akidb_tokenizer *akidb_model_tokenizer(const akidb_model *model);

typedef struct akidb_embed_opts {
    akidb_pooling pooling;   /* DEFAULT: the model's                          */
    int normalize;           /* -1: the model's, 0: never, 1: always          */
    int n_threads;           /* 0: the model's default                        */
    int no_truncate;         /* 1: fail with AKIDB_ETOOLONG on overlong text  */
    size_t *n_tokens;        /* out, optional: tokens processed in total      */
    /* Prompts (config_sentence_transformers.json "prompts"), prepended to
     * each text and tokenised with it, as SentenceTransformer.encode(prompt=
     * / prompt_name=) does; akidb_embed only (token id calls ignore them).
     * prompt (not NULL) is the text itself and wins over prompt_name;
     * prompt_name names one of the model's prompts (AKIDB_EINVAL listing the
     * available names if it has none of that name); both NULL: the model's
     * "default_prompt_name" if it has one, else none.  "" disables it.      */
    const char *prompt_name;
    const char *prompt;
    /* Matryoshka truncation: keep the first truncate_dim values of each
     * embedding (1..the model's full width, the last Dense module's
     * out_features or the hidden size; else AKIDB_EINVAL naming the value).
     * 0: the folder's config_sentence_transformers.json "truncate_dim" if it
     * has one, else none.  As SentenceTransformer.encode(truncate_dim=) it
     * cuts the output of the whole module pipeline, after its Normalize
     * module: with normalize -1 a truncated embedding of a normalising model
     * is not unit length (encode's default); normalize 1 L2-normalises after
     * the cut (encode's normalize_embeddings=True).                          */
    size_t truncate_dim;
} akidb_embed_opts;

/* Initialiser giving the defaults above.  (Initialisers written before the
 * prompt and truncate_dim fields existed stay valid: omitted fields are NULL
 * or 0.) */
#define AKIDB_EMBED_OPTS_INIT { AKIDB_POOL_DEFAULT, -1, 0, 0, NULL, NULL, NULL, 0 }

/* Embeds n texts.  texts[i] has lens[i] bytes, or is NUL-terminated when lens
 * is NULL.  out receives n * dim floats, row-major (dim: opts->truncate_dim
 * when set, else akidb_model_info's dim).  opts may be NULL.  Safe to call
 * from many threads at once with one model.  On failure the message names
 * the index of the offending text.
 *
 * The pipeline is sentence-transformers': the transformer; Pooling (the
 * model's or opts->pooling; with a prompt and the Pooling module's
 * include_prompt false, the prompt's tokens, counted as the prompt alone
 * tokenises less a closing special token, are left out of every pooling
 * but cls); then the Dense and Normalize modules of modules.json in order
 * (normalize 0 skips the Normalize modules, -1 and 1 run them); then the
 * truncation to truncate_dim; then, with normalize 1, L2 normalisation. */
akidb_status akidb_embed(const akidb_model *model, const char *const *texts,
                         const size_t *lens, size_t n, float *out,
                         const akidb_embed_opts *opts);

/* Embeds n token id sequences (ids[i] holds lens[i] ids, the template's
 * special tokens included, as akidb_tokenizer_encode gives them) through
 * the same pipeline as akidb_embed after its tokenisation.  Every id must be
 * below the model's vocabulary (AKIDB_EDIM naming the sequence) and every
 * length in 1..max_tokens (AKIDB_EINVAL / AKIDB_ETOOLONG): the caller cuts.
 * opts as for akidb_embed; prompts and no_truncate have no effect. */
akidb_status akidb_embed_ids(const akidb_model *model, const int32_t *const *ids,
                             const size_t *lens, size_t n, float *out,
                             const akidb_embed_opts *opts);

/* Token-level embeddings: the transformer's last hidden states of one token
 * id sequence (ids[0..len), the template's special tokens included, as
 * akidb_tokenizer_encode gives them), before pooling and the modules after
 * it: what Hugging Face's model(...).last_hidden_state holds, the final norm
 * of the architectures that have one included.  out receives len * hidden
 * floats (akidb_model_info.hidden), row t for token t; mean pooling of the
 * rows is what akidb_embed_ids gives with AKIDB_POOL_MEAN, normalize 0 and
 * no Dense module.  Every id must be below the vocabulary (AKIDB_EDIM) and
 * len in 1..max_tokens (AKIDB_EINVAL / AKIDB_ETOOLONG).  Of opts (may be
 * NULL) only n_threads and n_tokens are read.  Thread safety as for
 * akidb_embed. */
akidb_status akidb_embed_tokens(const akidb_model *model, const int32_t *ids, size_t len,
                                float *out, const akidb_embed_opts *opts);

/* The text of one of the model's prompts (config_sentence_transformers.json
 * "prompts"), as akidb_embed_opts.prompt_name picks it: name NULL gives the
 * "default_prompt_name"'s text, or NULL when the model names none; an
 * unknown name is AKIDB_EINVAL listing the available ones.  *text lives as
 * long as the model. */
akidb_status akidb_model_prompt(const akidb_model *model, const char *name, const char **text);

/* ------------------------------------------------------------------------ */
/* Rerankers (cross-encoders)                                                */
/* ------------------------------------------------------------------------ */

/* A model folder whose config.json "architectures" names a
 * *ForSequenceClassification class (BERT, RoBERTa / XLM-RoBERTa /
 * CamemBERT, DistilBERT) loads with its classification head: it scores
 * (query, document) pairs as sentence-transformers' CrossEncoder.predict
 * does.  A Qwen3ForCausalLM folder loaded with akidb_model_opts.reranker
 * (Qwen3-Reranker 0.6B / 4B / 8B) is a causal-LM reranker: each pair goes
 * into the model card's prompt (system line, "<Instruct>: {instruction}\n
 * <Query>: {query}\n<Document>: {doc}", assistant turn with an empty think
 * block; the middle cut at its end to fit max_tokens, default 8192), and its
 * one output ("yes") is logit("yes") - logit("no") at the last token, so
 * the default sigmoid gives the card's P(yes) and raw the log-odds.
 * akidb_embed on either still embeds with the base model. */

/* 1 if the model has a reranker head (akidb_rerank works), else 0. */
int akidb_model_is_reranker(const akidb_model *model);

/* Name of output i of the head (config.json id2label, "LABEL_<i>" when it
 * has none); NULL for an embedding model or i >= num_labels. */
const char *akidb_model_label(const akidb_model *model, size_t i);

typedef enum akidb_rerank_activation {
    AKIDB_RERANK_ACT_DEFAULT = 0,  /* the model's, as CrossEncoder picks it:
                                    * config.json's sentence_transformers
                                    * "activation_fn" (or the older
                                    * "sbert_ce_default_activation_function"),
                                    * else sigmoid for 1 label, raw for more */
    AKIDB_RERANK_ACT_RAW,          /* the logits (torch.nn.Identity)          */
    AKIDB_RERANK_ACT_SIGMOID,      /* 1 / (1 + exp(-logit))                   */
    AKIDB_RERANK_ACT_SOFTMAX       /* softmax over each pair's labels
                                    * (predict(apply_softmax=True))           */
} akidb_rerank_activation;

/* "default", "raw", "sigmoid", "softmax"; parse returns AKIDB_EINVAL for
 * anything else. */
const char *akidb_rerank_activation_name(akidb_rerank_activation a);
akidb_status akidb_rerank_activation_parse(const char *name, akidb_rerank_activation *out);

typedef struct akidb_rerank_opts {
    akidb_rerank_activation activation;
    size_t max_tokens;             /* pair length limit, special tokens
                                    * included; 0: the model's (its
                                    * max_seq_length option, else
                                    * tokenizer_config.json model_max_length,
                                    * capped by the position table, as
                                    * CrossEncoder; a causal-LM reranker's:
                                    * the option, else 8192, capped likewise);
                                    * larger than the model's limit:
                                    * AKIDB_EINVAL                            */
    akidb_truncation truncation;   /* how a long pair is cut: LONGEST_FIRST,
                                    * CrossEncoder's truncation=True (causal-
                                    * LM rerankers cut the prompt's middle at
                                    * its end, whatever this says)           */
    int n_threads;                 /* 0: the model's default                  */
    size_t *n_tokens;              /* out, optional: tokens processed         */
    const char *instruction;       /* causal-LM rerankers: the task line of
                                    * the prompt ("<Instruct>: ..."); NULL:
                                    * "Given a web search query, retrieve
                                    * relevant passages that answer the
                                    * query".  Not NULL for a sequence-
                                    * classification model: AKIDB_EINVAL     */
} akidb_rerank_opts;

#define AKIDB_RERANK_OPTS_INIT { AKIDB_RERANK_ACT_DEFAULT, 0, AKIDB_TRUNC_LONGEST_FIRST, 0, NULL, \
                                 NULL }

/* Scores n documents against one query: each pair is encoded as the
 * tokenizer's pair template ([CLS] query [SEP] doc [SEP] with token types
 * 0 / 1 for BERT; <s> query </s></s> doc </s> for RoBERTa), cut to
 * max_tokens by the truncation strategy (a causal-LM reranker: its prompt,
 * above), run through the model and its head, then the activation.
 * query has qlen bytes and
 * docs[i] lens[i] bytes (NUL-terminated when lens is NULL).  scores
 * receives n * num_labels floats (akidb_model_info), in document order.
 * AKIDB_EINVAL for a model without a reranker head.  Thread safety
 * and threads as for akidb_embed; results do not depend on n_threads.  On
 * failure the message names the offending document. */
akidb_status akidb_rerank(const akidb_model *model, const char *query, size_t qlen,
                          const char *const *docs, const size_t *lens, size_t n,
                          const akidb_rerank_opts *opts, float *scores);

#ifdef __cplusplus
}
#endif

#endif /* AKIDB_H */
