/*
 * sq8.h - int8 scalar quantisation of an HNSW index (SQ8): the state kept
 * in the index and the calls hnsw.c, hnsw_alloc.c and hnsw_io.c make into
 * sq8.c.  What SQ8 is and the rule that fixes its bounds are in index.h
 * ("Quantisation"); the integer kernel is in sq8_kernels.c.
 *
 * Why a separate header: the quantiser touches the index at a few points
 * only (an add codes its vector, a search may walk on codes and rescore,
 * save/load carry the codes), and keeping its state and calls here keeps
 * the graph code readable with or without it.
 */
#ifndef AKIDB_SQ8_H
#define AKIDB_SQ8_H

#include "index/index.h"

/* The SQ8 state of one index. */
typedef struct ak_sq8 {
    bool on;              /* the index quantises (params.quant == SQ8)      */
    bool trained;         /* bounds fixed: every used slot has its code.
                             Set once, under the index's write lock      */
    float quantile;       /* 0.5..1                                       */
    float lo, step;       /* x ~ lo + step * u (step > 0 once trained)    */
    uint8_t *codes;       /* cap x dim; rows of free slots are zero       */
    float *sqn;           /* L2 only: cap floats, |x|^2 of each slot's
                             float vector (NULL for cosine / dot)         */
    ak_sq8_dot_fn dot;    /* the kernel of the path in force at creation  */
    ak_sq8_dotm_fn dotm;  /* its group form                               */
} ak_sq8;

/* A query coded for int8 distances (ak_sq8_query; index.h has the
 * formula). */
typedef struct ak_sq8q {
    const int8_t *s0, *s1; /* dim codes each, -127..127: the coarse row and
                              the row of its rounding error (both in the
                              search scratch)                             */
    float k0, k1;         /* step x each row's scale                       */
    float c0;             /* lo x sum(q') (q' the coded query)             */
    float qn;             /* |q|^2 (L2)                                    */
} ak_sq8q;

struct ak_scratch;

/* Reads params' quant / quantile into h->sq (EINVAL naming the field for
 * an unknown kind or a quantile outside 0.5..1) and picks the kernel. */
akidb_status ak_sq8_init(ak_hnsw *h, const ak_index_params *p);
/* Grows the code (and |x|^2) arrays from h->cap to new_cap slots, new rows
 * zero; nothing happens without SQ8. */
akidb_status ak_sq8_grow(ak_hnsw *h, uint32_t new_cap);
void ak_sq8_free(ak_hnsw *h);
/* Bytes the SQ8 arrays take (0 without SQ8). */
size_t ak_sq8_memory(const ak_hnsw *h);

/* An add: |x|^2 of slot's (stored, normalised) vector, and its code row
 * when the bounds are fixed.  Read lock held. */
void ak_sq8_code_slot(ak_hnsw *h, uint32_t slot);
/* Clears slot's row (a removed or rolled-back slot). */
void ak_sq8_wipe_slot(ak_hnsw *h, uint32_t slot);
/* After an add, no lock held: when the index holds AK_SQ8_TRAIN_N vectors
 * and has no bounds yet, takes the write lock, fixes them and codes every
 * used slot.  Out of memory leaves it untrained (the next add retries). */
void ak_sq8_maybe_train(ak_hnsw *h);

/* Codes the (normalised) float query q into s's buffer and *out.  Read
 * lock held, h->sq.trained. */
void ak_sq8_query(const ak_hnsw *h, struct ak_scratch *s, const float *q, ak_sq8q *out);
/* Rescoring: the best k of the n candidates in s->res by float distance
 * to q (ties by smaller label) as hits into out, *n_out their number; the
 * scores are the float kernels' (those of a search without SQ8).  Uses
 * s->res and s->cand (room for k, as after a walk with ef >= k). */
void ak_sq8_rescore(const ak_hnsw *h, struct ak_scratch *s, const float *q, size_t n,
                    size_t k, ak_hit *out, size_t *n_out);
/* After a load: |x|^2 of every live slot (L2). */
void ak_sq8_after_load(ak_hnsw *h);

#endif /* AKIDB_SQ8_H */
