/*
 * vocab_files.h - a byte-level BPE folder without tokenizer.json: vocab.json
 * + merges.txt, with the optional tokenizer_config.json,
 * special_tokens_map.json and config.json.
 *
 * The tokenizer.json tree built is the one transformers 4.x writes when it
 * converts the slow tokenizer to a fast one (convert_slow_tokenizer.py):
 *   GPT2Tokenizer (tokenizer_class GPT2Tokenizer[Fast], or model_type gpt2):
 *       GPT2Converter - ByteLevel pre-tokenizer (add_prefix_space from the
 *       config) and decoder, BPE with "" prefix / suffix and no unk_token,
 *       post-processor ByteLevel, or the template "<bos> $A" when
 *       add_bos_token is set; merges.txt read as GPT2Tokenizer reads it
 *       (split on newlines, first line and last piece dropped).
 *   Qwen2Tokenizer (tokenizer_class Qwen2Tokenizer[Fast], or model_type
 *       qwen2 / qwen2_moe / qwen3 / qwen3_moe): Qwen2Converter - NFC
 *       normalizer, Split(Qwen's regex, Isolated) + ByteLevel(use_regex
 *       false) pre-tokenizer, as in the Hub's Qwen3 tokenizer.json; merges.txt
 *       read as Qwen2Tokenizer reads it (stripped lines, a first "#version:"
 *       line and empty lines skipped).
 * A merge line splits on Python whitespace into exactly two tokens; a pair
 * seen twice keeps its first place (as the slow tokenizer's dict does).
 * Added tokens are those PreTrainedTokenizerFast adds after conversion:
 * tokenizer_config.json's added_tokens_decoder in id order, then the special
 * tokens (bos, eos, unk, sep, pad, cls, mask, additional_special_tokens;
 * special_tokens_map.json overriding tokenizer_config.json, the class
 * defaults where neither names one) not yet added, each given its vocab.json
 * id or the next free id as Hugging Face tokenizers' AddedVocabulary does.
 * Other tokenizer classes are EUNSUPPORTED (named in the message).
 */
#ifndef AK_TEXT_VOCAB_FILES_H
#define AK_TEXT_VOCAB_FILES_H

#include "tokenizer.h"

/* Loader of folder.c's layout table.  *found is set when dir/vocab.json
 * exists (then a missing merges.txt is ENOENT).  Errors: those of
 * ak_bpe_files_tree and ak_tokenizer_from_tree, prefixed with dir. */
akidb_status ak_tokenizer_from_vocab_merges(const char *dir, bool *found,
                                            akidb_tokenizer **out);

/* Builds the tokenizer.json tree of the texts of vocab.json and merges.txt
 * and of the optional tokenizer_config.json, special_tokens_map.json and
 * config.json (NULL when absent).  origin names the folder in messages.
 * Errors: EUTF8 (merges.txt), EFORMAT (malformed JSON, a merge line that is
 * not two tokens, a malformed config field: the message names the file and
 * the line or field), EUNSUPPORTED (a tokenizer class other than GPT-2 /
 * Qwen2, or none named), ENOMEM.  *tree is NULL on failure. */
akidb_status ak_bpe_files_tree(const char *vocab, size_t vocab_len, const char *merges,
                               size_t merges_len, const char *config, size_t config_len,
                               const char *smap, size_t smap_len, const char *model_config,
                               size_t model_config_len, const char *origin, json_t **tree);

#endif /* AK_TEXT_VOCAB_FILES_H */
