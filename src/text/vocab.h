/*
 * vocab.h - the token -> id map of a tokenizer: one string pool and an
 * open-addressing hash table (linear probing, power-of-two size, load <=
 * 2/3) of 16-byte slots.  A slot holds the key's head (its first 7 bytes and
 * its length), its id and its place in the pool, so that looking up a key of
 * up to 7 bytes - most lookups: 72% of those loading Gemma 3's merges - reads
 * one slot and nothing else, and a longer key one slot and one string.
 * WordPiece looks up "##" + substring many times per word and BPE's loader
 * looks up left + right, so lookups take the key in two parts and never
 * build the concatenation; the loader of 515k merges (Gemma 3) hashes a batch
 * of keys first and prefetches their slots (ak_vocab_hash2,
 * ak_vocab_prefetch, ak_vocab_find).
 *
 * The pool holds each key as [uint32 length][int32 id][bytes][NUL], in the
 * order the keys were added (ak_vocab_next walks it); pointers to the bytes
 * are C strings.
 */
#ifndef AK_TEXT_VOCAB_H
#define AK_TEXT_VOCAB_H

#include "common/common.h"

#include <string.h>

typedef struct ak_vocab_slot {
    uint64_t head;       /* the key's first 7 bytes (zero-padded) and, in the
                          * top byte, its length: n when n <= 7, else
                          * 0x80 | min(n, 127)                               */
    int32_t id;          /* -1: empty slot                                   */
    uint32_t off;        /* the key's bytes: pool + off                      */
} ak_vocab_slot;

typedef struct ak_vocab {
    char *pool;          /* [length][id][bytes][NUL] per key, in order added */
    size_t pool_len, pool_cap;
    ak_vocab_slot *slots;
    size_t mask;         /* slots - 1                                        */
    size_t n, max_n;     /* keys / at most                                   */
    size_t max_len;      /* longest key in bytes                             */
} ak_vocab;

/* Bytes the pool spends on each key besides its text. */
#define AK_VOCAB_KEY_OVERHEAD 9

/* Prepares an empty map for at most max_entries keys with pool_hint bytes of
 * text (overhead not counted).  Returns AKIDB_OK, or ENOMEM / ETOOLONG with a
 * message (the map is then safe to free). */
akidb_status ak_vocab_init(ak_vocab *v, size_t max_entries, size_t pool_hint);

/* Maps the string s (n bytes) to id (>= 0), replacing the id of an existing
 * equal key (the later definition wins, as in a Python dict).  AK_ASSERTs
 * that no more than max_entries distinct keys are added.  Returns OK or
 * ENOMEM / ETOOLONG. */
akidb_status ak_vocab_put(ak_vocab *v, const char *s, size_t n, int32_t id);

/* Adds s -> id unless s is a key already: then nothing changes and *old is
 * its id (-1 when s was added). */
akidb_status ak_vocab_add(ak_vocab *v, const char *s, size_t n, int32_t id, int32_t *old);
/* ak_vocab_add with h = ak_vocab_hash2(s, n, "", 0) already computed (a
 * loader hashes a batch of keys and prefetches their slots first). */
akidb_status ak_vocab_add_hashed(ak_vocab *v, uint64_t h, const char *s, size_t n,
                                 int32_t id, int32_t *old);

/* Id of the key a (an bytes) followed by b (bn bytes), or -1 if absent. */
int32_t ak_vocab_get2(const ak_vocab *v, const char *a, size_t an, const char *b,
                      size_t bn);

/* The hash of a followed by b, for ak_vocab_find / ak_vocab_prefetch. */
uint64_t ak_vocab_hash2(const char *a, size_t an, const char *b, size_t bn);
/* ak_vocab_get2 with the hash h of a + b already computed. */
int32_t ak_vocab_find(const ak_vocab *v, uint64_t h, const char *a, size_t an,
                      const char *b, size_t bn);

/* Prefetches the slot of hash h. */
static inline void ak_vocab_prefetch(const ak_vocab *v, uint64_t h)
{
    __builtin_prefetch(&v->slots[h & v->mask]);
}

/* For a key of n bytes and hash h: prefetches the pool bytes a lookup will
 * compare (keys longer than 7 bytes only; call once the slot has arrived). */
static inline void ak_vocab_prefetch_key(const ak_vocab *v, uint64_t h, size_t n)
{
    const ak_vocab_slot *s = &v->slots[h & v->mask];
    if (n > 7 && s->id >= 0)
        __builtin_prefetch(v->pool + s->off);
}

/* Walks the keys in the order they were added: *pos starts at 0; false at
 * the end.  *key is a C string of *len bytes in the pool. */
static inline bool ak_vocab_next(const ak_vocab *v, size_t *pos, const char **key,
                                 size_t *len, int32_t *id)
{
    if (*pos >= v->pool_len)
        return false;
    uint32_t l;
    memcpy(&l, v->pool + *pos, 4);
    memcpy(id, v->pool + *pos + 4, 4);
    *key = v->pool + *pos + 8;
    *len = l;
    *pos += AK_VOCAB_KEY_OVERHEAD + l;
    return true;
}

/* Releases everything; the map is left zeroed. */
void ak_vocab_free(ak_vocab *v);

/* Memory for a large table that is filled at once (a vocabulary's slots, a
 * merge table): from 2 MiB up it is 2 MiB-aligned and advised for
 * transparent huge pages, so that filling it costs a few page faults instead
 * of one per 4 KiB (page faults dominate loading on virtual machines).
 * fill >= 0: every byte set to it.  NULL on ENOMEM (no message).  Free with
 * ak_table_free. */
void *ak_table_alloc(size_t bytes, int fill);
void ak_table_free(void *p);

#endif /* AK_TEXT_VOCAB_H */
