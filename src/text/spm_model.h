/*
 * spm_model.h - loading a sentencepiece model file (.model, a ModelProto
 * protobuf) as the tokenizer transformers' converters make of it.
 */
#ifndef AK_TEXT_SPM_MODEL_H
#define AK_TEXT_SPM_MODEL_H

#include "tokenizer.h"

/* Builds the tokenizer of the sentencepiece model at path, the way
 * transformers converts it to a fast tokenizer, and hands the tree to
 * ak_tokenizer_from_tree.  The converter is chosen by tokenizer_class in
 * dir/tokenizer_config.json when dir is not NULL and the file exists, else by
 * the file name:
 *   sentencepiece.bpe.model, XLMRobertaTokenizer: XLM-R (fairseq ids:
 *       <s>=0 <pad>=1 </s>=2 <unk>=3, pieces shifted by one, <mask> last;
 *       template <s> A </s> / <s> A </s></s> B </s>);
 *   spiece.model, T5Tokenizer: T5 (pieces as they are, <extra_id_N>
 *       appended, template A </s> / A </s> B </s>);
 *   a unigram tokenizer.model or any other class: the generic converter;
 *   a BPE model (tokenizer.model, LlamaTokenizer): Llama (BPE with byte
 *       fallback and merges derived from the piece scores, <s> A).
 * Errors: EFORMAT for a malformed protobuf or config (naming the file and
 * the field), EUNSUPPORTED for WORD / CHAR models, ENOMEM, and whatever
 * ak_tokenizer_from_tree reports.  *out is NULL on failure. */
akidb_status ak_tokenizer_from_spm(const char *path, const char *dir,
                                   akidb_tokenizer **out);

/* The same from a model held in memory; origin names it in messages and its
 * last path component selects the converter as above; config is the text of
 * tokenizer_config.json or NULL. */
akidb_status ak_tokenizer_from_spm_bytes(const unsigned char *data, size_t len,
                                         const char *config, size_t config_len,
                                         const char *origin, akidb_tokenizer **out);

#endif /* AK_TEXT_SPM_MODEL_H */
