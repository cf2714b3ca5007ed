/*
 * tok_offsets.h - where each token of an encoding comes from: the byte range
 * of the input text it covers, with the semantics of Hugging Face tokenizers'
 * (Rust) Encoding offsets in bytes.
 *
 * Along the pipeline every code point carries the byte range of the input it
 * stands for (Rust's NormalizedString alignments).  A normalizer's output
 * code point takes the range of one input code point, chosen as Rust's
 * transformations choose it (a replaced character keeps its own range, an
 * inserted one takes the range of the character before it, ...); a
 * pre-tokenizer's pieces are found in their input; a model's tokens are laid
 * over the word they came from.  A token's span runs from the start of its
 * first code point's range to the end of its last one's.
 *
 * Only akidb_tokenizer_encode_offsets runs this: akidb_tokenizer_encode
 * carries no ranges.
 */
#ifndef AK_TEXT_TOK_OFFSETS_H
#define AK_TEXT_TOK_OFFSETS_H

#include "regex.h"        /* ak_span: here a byte range [s, e) of the input */
#include "tok_internal.h"

typedef struct ak_spanbuf {
    ak_span *v;
    size_t n, cap;
} ak_spanbuf;

akidb_status ak_spanbuf_reserve(ak_spanbuf *b, size_t total);
akidb_status ak_spanbuf_push(ak_spanbuf *b, ak_span sp);
void ak_spanbuf_free(ak_spanbuf *b);

/* The per-call state of encoding with offsets. */
typedef struct ak_offs {
    ak_spanbuf raw;        /* per code point of the text                     */
    ak_spanbuf na, nb;     /* per normalised code point (the chain's buffers) */
    ak_spanbuf sa, sb;     /* per code point of the pre-tokenizer buffers    */
    ak_spanbuf spans;      /* per piece id of the sequence                   */
    ak_idbuf src;          /* normalizer: input index of each output         */
    ak_cpbuf one;          /* normalizer: the output of one character        */
    ak_idbuf chg;          /* normalizer: Rust's change of each output       */
    ak_cpbuf bytes;        /* pre-tokenizer / model: UTF-8 bytes of a piece  */
    ak_idbuf owner;        /* ... and the code point each byte belongs to    */
} ak_offs;

void ak_offs_free(ak_offs *o);

/* Fills o->raw with the byte range of each code point of text[0..len). */
akidb_status ak_offs_text(ak_offs *o, const char *text, size_t len);

/* Runs the normalizer chain over in[0..n) (ranges al[0..n)) as
 * ak_tok_normalize does and also gives the range of each normalised code
 * point (*out_al, in o->na or o->nb).  base: the input byte where the piece
 * starts (a code point inserted before every other one gets [base, base)). */
akidb_status ak_offs_normalize(const akidb_tokenizer *tok, ak_offs *o, const uint32_t *in,
                               const ak_span *al, size_t n, size_t base, ak_tok_scratch *scr,
                               ak_cpbuf *a, ak_cpbuf *b, const ak_cpbuf **out,
                               const ak_span **out_al);

/* After pt split s[0..n) (ranges al) into the pieces next->v[k0..next->n),
 * writes the range of each of their code points into nal (indexed as
 * next->text). */
akidb_status ak_offs_pretok(ak_offs *o, const ak_pretok *pt, const uint32_t *s,
                            const ak_span *al, size_t n, const ak_splits *next, size_t k0,
                            ak_spanbuf *nal);

/* After the model turned the word w[0..n) (ranges al) into ids[0..nids),
 * appends the span of each id to o->spans. */
akidb_status ak_offs_model(ak_offs *o, const ak_tok_model *m, const uint32_t *w,
                           const ak_span *al, size_t n, const int32_t *ids, size_t nids);

/* Kind-specific halves (norm_replace.c, norm_precompiled.c,
 * pretok_metaspace.c). */
/* Replace: writes the output to out and, per output code point, the input
 * index whose range it takes (-1: the piece start) to src. */
akidb_status ak_norm_replace_src(const ak_normalizer *nz, const uint32_t *in, size_t n,
                                 ak_cpbuf *out, ak_idbuf *src);
/* Precompiled: writes the output to out and Rust's change of each output
 * code point (0: replaces the next input character; 1: inserted; -k:
 * replaces it and removes k more) to chg. */
akidb_status ak_norm_precompiled_changes(const ak_normalizer *nz, const uint32_t *in,
                                         size_t n, ak_cpbuf *out, ak_idbuf *chg);
/* Metaspace: its replacement character. */
uint32_t ak_pretok_metaspace_repl(const ak_pretok *p);

#endif /* AK_TEXT_TOK_OFFSETS_H */
