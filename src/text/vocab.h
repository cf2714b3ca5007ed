/*
 * vocab.h - the token -> id map of a tokenizer: one string pool and a compact
 * open-addressing hash table (linear probing, power-of-two size, load <= 1/2).
 * WordPiece looks up "##" + substring many times per word, so lookups take
 * the key in two parts and never build the concatenation.
 */
#ifndef AK_TEXT_VOCAB_H
#define AK_TEXT_VOCAB_H

#include "common/common.h"

typedef struct ak_vocab {
    char *pool;          /* NUL-terminated token strings, back to back     */
    size_t pool_len, pool_cap;
    uint32_t *off;       /* per entry: offset of its string in pool        */
    uint32_t *len;       /* per entry: byte length                         */
    int32_t *id;         /* per entry: id                                  */
    size_t n, cap;       /* entries used / allocated                       */
    uint32_t *slots;     /* entry index + 1; 0 = empty                     */
    size_t mask;         /* slots - 1                                      */
    size_t max_len;      /* longest token in bytes                         */
} ak_vocab;

/* Prepares an empty map for at most max_entries tokens with pool_hint bytes
 * of text.  Returns AKIDB_OK or AKIDB_ENOMEM (the map is then safe to free). */
akidb_status ak_vocab_init(ak_vocab *v, size_t max_entries, size_t pool_hint);

/* Maps the string s (n bytes) to id, replacing the id of an existing equal
 * key (the later definition wins, as in a Python dict).  AK_ASSERTs that no
 * more than max_entries distinct keys are added.  Returns OK or ENOMEM. */
akidb_status ak_vocab_put(ak_vocab *v, const char *s, size_t n, int32_t id);

/* Id of the key a (an bytes) followed by b (bn bytes), or -1 if absent. */
int32_t ak_vocab_get2(const ak_vocab *v, const char *a, size_t an, const char *b,
                      size_t bn);

/* Releases everything; the map is left zeroed. */
void ak_vocab_free(ak_vocab *v);

#endif /* AK_TEXT_VOCAB_H */
