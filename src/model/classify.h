/*
 * classify.h - the sequence-classification heads of cross-encoder rerankers
 * (classify.c) and the id-level reranking entry point (rerank.c).
 *
 * Why a head apart from the families: a reranker is a family's encoder plus
 * a small head on the first token's hidden state, the same few tensors for
 * every BERT-style architecture (pooler + classifier, RoBERTa's
 * classifier.dense + out_proj, DistilBERT's pre_classifier + classifier).
 * The family runs the encoder exactly as for embeddings, through the same
 * batching and threads (pooling "cls"); the head turns those rows into
 * logits.  One table in classify.c maps each *ForSequenceClassification
 * class to its tensors, so model.c and the families know nothing of it.
 */
#ifndef AKIDB_CLASSIFY_H
#define AKIDB_CLASSIFY_H

#include "model/family.h"

/* Loads the head of the model folder tdir when its config.json
 * "architectures" names a *ForSequenceClassification class; *out = NULL
 * (and AKIDB_OK) when it names none (an embedding model).  fam and hp: the
 * base model's.  max_seq: the caller's max_seq_length option (0: none),
 * which as in CrossEncoder overrides tokenizer_config.json's
 * model_max_length.  Fails naming the file and field (num_labels 0, an
 * empty id2label, a class of another family or without a head here) or the
 * tensor (missing, or a shape that does not chain: EDIM). */
akidb_status ak_head_load(const char *tdir, const ak_family *fam, const ak_hparams *hp,
                          size_t max_seq, ak_head **out);
void ak_head_free(ak_head *h);

/* Outputs (num_labels), the name of output i (NULL past the end), the
 * default pair length, and whether the model is fed the tokenizer's token
 * type ids (BERT's tokenizers return token_type_ids; RoBERTa's and
 * DistilBERT's do not, so those models see type 0). */
size_t ak_head_labels(const ak_head *h);
const char *ak_head_label(const ak_head *h, size_t i);
size_t ak_head_max_tokens(const ak_head *h);
int ak_head_uses_types(const ak_head *h);

/* The activation akidb_rerank's DEFAULT means for this model (never
 * DEFAULT); EUNSUPPORTED naming config.json's activation_fn when it names
 * one not implemented here. */
akidb_status ak_head_activation(const ak_head *h, akidb_rerank_activation *out);

/* logits [n x num_labels] of the first-token hidden states cls
 * [n x hidden], in float64.  ENOMEM only. */
akidb_status ak_head_apply(const ak_head *h, size_t n, const float *cls, float *logits);

/* akidb_rerank on token ids (rerank.c): n pairs ids[i][0..lens[i]) with
 * the tokenizer's token types types[i] (or NULL: all 0; used only when the
 * head says so), each of 1 .. the model's max_tokens ids.  opts as for
 * akidb_rerank (max_tokens and truncation have no effect).  scores: n *
 * num_labels floats. */
akidb_status ak_model_rerank_ids(const akidb_model *m, size_t n, const int32_t *const *ids,
                                 const uint32_t *const *types, const size_t *lens,
                                 const akidb_rerank_opts *opts, float *scores);

#endif /* AKIDB_CLASSIFY_H */
