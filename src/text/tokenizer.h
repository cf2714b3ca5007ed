/*
 * tokenizer.h - internals of AkiDB's Hugging Face compatible tokenizer
 * (src/text), shared by its source files, its tests and its fuzz
 * targets.  The public API is the tokenizer section of include/akidb.h.
 */
#ifndef AK_TEXT_TOKENIZER_H
#define AK_TEXT_TOKENIZER_H

#include "common/common.h"

#include <jansson.h>

/* Largest tokenizer.json / vocab.txt the loaders read. */
#define AK_TOK_MAX_FILE ((size_t)256 << 20)

/* Builds a tokenizer from the text of a tokenizer.json held in memory (len
 * bytes, need not be NUL-terminated).  origin names the source in error
 * messages (e.g. its path).  On success *out owns everything it needs (json
 * may be freed); free it with akidb_tokenizer_free.  Errors: EFORMAT
 * (malformed JSON, missing fields, wrong types: the message names origin and
 * the field), EUNSUPPORTED (a model / normalizer / pre-tokenizer /
 * post-processor / decoder type the registry (registry.c) does not list: the
 * message names it and the supported ones), ENOMEM.
 * *out is NULL on failure. */
akidb_status ak_tokenizer_from_json(const char *json, size_t len, const char *origin,
                                    akidb_tokenizer **out);

/* Builds a tokenizer the way transformers' BertTokenizer does from a vocab.txt
 * (one token per line, id = line index; universal newlines) held in memory,
 * and the optional texts of tokenizer_config.json and special_tokens_map.json
 * (NULL when absent).  Errors and ownership as ak_tokenizer_from_json.
 * (vocab_txt.c: builds the tree transformers' BertConverter writes.) */
akidb_status ak_tokenizer_from_vocab(const char *vocab, size_t vocab_len,
                                     const char *config_json, size_t config_len,
                                     const char *special_json, size_t special_len,
                                     const char *origin, akidb_tokenizer **out);

/* Builds a tokenizer from a parsed tokenizer.json tree.  The loaders of
 * folders without tokenizer.json (sentencepiece .model, vocab.json +
 * merges.txt) build the tree the Hugging Face converters would write and
 * call this, so both routes share one pipeline.  root is only read. */
akidb_status ak_tokenizer_from_tree(const json_t *root, const char *origin,
                                    akidb_tokenizer **out);

/* Parses tokenizer.json-like text (duplicate keys rejected); EFORMAT names
 * origin, line and column. */
akidb_status ak_tok_parse_json(const char *text, size_t len, const char *origin,
                               json_t **out);

/* Reads dir/name if it exists (*data NULL when absent; *path always set, free
 * both with ak_free). */
akidb_status ak_tok_read_optional(const char *dir, const char *name, char **path,
                                  char **data, size_t *len);

/* folder.c: a folder without tokenizer.json - sentencepiece model
 * (sentencepiece.bpe.model, spiece.model, tokenizer.model), vocab.json +
 * merges.txt, or vocab.txt, in that order. */
akidb_status ak_tokenizer_from_folder(const char *dir, akidb_tokenizer **out);

#endif /* AK_TEXT_TOKENIZER_H */
