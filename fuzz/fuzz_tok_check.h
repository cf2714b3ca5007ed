/*
 * fuzz_tok_check.h - the encoder's contract, checked by the tokenizer fuzz
 * targets (fuzz_tok_bpe.c, fuzz_tok_unigram.c) on every input, and the
 * helpers they share to load their tokenizers once.  Any violation aborts,
 * so libFuzzer records the input.
 *
 * The contract of akidb_tokenizer_encode for a text of `size` bytes:
 *   - malformed UTF-8 is AKIDB_EUTF8, anything else is AKIDB_OK;
 *   - every id has a token (id < vocab size, id_to_token not NULL);
 *   - the template wraps the text's ids: `head` special ids before, `tail`
 *     after, the same ones whatever the text (those of the empty text);
 *   - n_full == n without truncation;
 *   - with max_tokens = m >= head + tail: n == min(full, m), the head and
 *     tail are kept, the text's ids are a prefix of the full ones, and
 *     n_full is the full length when nothing was cut, or above m;
 *   - 0 < m < head + tail is AKIDB_EINVAL.
 * Pairs are only run (cut to a limit, ids in range, never over it).
 */
#ifndef AKIDB_FUZZ_TOK_CHECK_H
#define AKIDB_FUZZ_TOK_CHECK_H

#include "akidb.h"
#include "common/common.h"
#include "fuzz_data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FT_DIE(...)                                                            \
    do {                                                                       \
        fprintf(stderr, "contract: " __VA_ARGS__);                             \
        fputc('\n', stderr);                                                   \
        abort();                                                               \
    } while (0)

/* A tokenizer under test: its name (for messages), the number of template
 * ids before and after the text, and those ids (of the empty text). */
typedef struct ft_tok {
    const char *name;
    akidb_tokenizer *tok;
    size_t head, tail;
    int32_t spec[8];
} ft_tok;

/* Path of rel under $AKIDB_SRC (default: the working directory). */
static inline void ft_path(char *buf, size_t n, const char *rel)
{
    fz_data_path(buf, n, rel);
}

/* Records the template ids of t (the empty text's encoding) and checks that
 * there are head + tail of them. */
static inline void ft_setup(ft_tok *t)
{
    akidb_tokens e = {0};
    if (akidb_tokenizer_encode(t->tok, "", 0, 0, &e) != AKIDB_OK)
        FT_DIE("%s: empty text: %s", t->name, akidb_last_error());
    if (e.n != t->head + t->tail || e.n > 8)
        FT_DIE("%s: the empty text gives %zu ids, expected %zu + %zu", t->name, e.n,
               t->head, t->tail);
    memcpy(t->spec, e.ids, e.n * sizeof *e.ids);
    akidb_tokens_free(&e);
}

static inline void ft_check_ids(const ft_tok *t, const akidb_tokens *k)
{
    size_t vs = akidb_tokenizer_vocab_size(t->tok);
    for (size_t i = 0; i < k->n; i++)
        if (k->ids[i] < 0 || (size_t)k->ids[i] >= vs ||
            !akidb_tokenizer_id_to_token(t->tok, k->ids[i]))
            FT_DIE("%s: id %d at %zu has no token (vocab %zu)", t->name, k->ids[i], i, vs);
}

/* The head and tail of k are the template's. */
static inline void ft_check_frame(const ft_tok *t, const akidb_tokens *k)
{
    if (k->n < t->head + t->tail)
        FT_DIE("%s: %zu ids, fewer than the template's %zu", t->name, k->n,
               t->head + t->tail);
    if (memcmp(k->ids, t->spec, t->head * sizeof *k->ids) != 0 ||
        memcmp(k->ids + k->n - t->tail, t->spec + t->head, t->tail * sizeof *k->ids) != 0)
        FT_DIE("%s: the template's special ids are not around the text", t->name);
}

/* Truncation to m (see the header). */
static inline void ft_check_cut(const ft_tok *t, const char *text, size_t size,
                                const akidb_tokens *full, size_t m)
{
    if (m == 0)   /* no truncation: that is `full` */
        return;
    akidb_tokens cut = {0};
    akidb_status st = akidb_tokenizer_encode(t->tok, text, size, m, &cut);
    if (m < t->head + t->tail) {
        if (st != AKIDB_EINVAL)
            FT_DIE("%s: max_tokens %zu below the template: status %d", t->name, m, (int)st);
        akidb_tokens_free(&cut);
        return;
    }
    if (st != AKIDB_OK)
        FT_DIE("%s: max_tokens %zu: %s", t->name, m, akidb_last_error());
    size_t want = full->n < m ? full->n : m;
    if (cut.n != want)
        FT_DIE("%s: max_tokens %zu: %zu ids, expected %zu", t->name, m, cut.n, want);
    ft_check_frame(t, &cut);
    if (memcmp(cut.ids, full->ids, (cut.n - t->tail) * sizeof *cut.ids) != 0)
        FT_DIE("%s: max_tokens %zu: the ids kept are not a prefix", t->name, m);
    if (full->n <= m ? cut.n_full != full->n : cut.n_full <= m)
        FT_DIE("%s: max_tokens %zu: n_full %zu (full %zu)", t->name, m, cut.n_full, full->n);
    akidb_tokens_free(&cut);
}

/* Runs the whole contract on one input; returns the full encoding in *full
 * (caller frees) and true when the text was valid UTF-8. */
static inline bool ft_check(const ft_tok *t, const uint8_t *data, size_t size,
                            akidb_tokens *full)
{
    const char *text = (const char *)data;
    size_t bad;
    bool valid = ak_utf8_valid(text, size, &bad);
    akidb_status st = akidb_tokenizer_encode(t->tok, text, size, 0, full);
    if (!valid) {
        if (st != AKIDB_EUTF8)
            FT_DIE("%s: malformed UTF-8 gave status %d", t->name, (int)st);
        return false;
    }
    if (st != AKIDB_OK)
        FT_DIE("%s: %s", t->name, akidb_last_error());
    if (full->n_full != full->n)
        FT_DIE("%s: n_full %zu != n %zu", t->name, full->n_full, full->n);
    ft_check_ids(t, full);
    ft_check_frame(t, full);
    size_t spec = t->head + t->tail;
    size_t body = full->n - spec;
    ft_check_cut(t, text, size, full, spec + size % 5);
    ft_check_cut(t, text, size, full, spec + body / 2);
    if (body)
        ft_check_cut(t, text, size, full, full->n - 1);
    if (spec)
        ft_check_cut(t, text, size, full, spec - 1);

    /* a pair: the input cut in two, longest-first into a small limit */
    akidb_tokens pr = {0};
    size_t half = size / 2;
    while (half < size && (data[half] & 0xC0) == 0x80)
        half++;
    size_t lim = 2 * spec + 1 + size % 7;
    st = akidb_tokenizer_encode_pair(t->tok, text, half, text + half, size - half, lim,
                                     AKIDB_TRUNC_LONGEST_FIRST, &pr);
    if (st == AKIDB_OK) {
        if (pr.n > lim)
            FT_DIE("%s: pair: %zu ids over the limit %zu", t->name, pr.n, lim);
        ft_check_ids(t, &pr);
    } else if (st != AKIDB_EINVAL) {
        FT_DIE("%s: pair: %s", t->name, akidb_last_error());
    }
    akidb_tokens_free(&pr);
    return true;
}

#endif /* AKIDB_FUZZ_TOK_CHECK_H */
