/*
 * rotenc.h - the post-LayerNorm rotary encoder shared by the BERT-like
 * families that rotate queries and keys instead of adding a position table
 * and that gate their MLP: Alibaba's GTE v1.5 / mGTE ("new", fam_gte.c) and
 * NomicBERT (fam_nomic.c).  As encoder.c is for BERT and decoder.c for the
 * pre-norm decoders, a family gives its tensor names and hyper-parameters
 * and the forward pass is shared.
 *
 * Per layer (eval mode, both reference implementations):
 *   qkv = x Wqkv^T (+ b), one fused [3H x H] matrix (Q rows, K rows, V rows);
 *   RoPE (rotate_half layout) on the first rope_dim dims of every q / k head
 *   at the token's position in its text; bidirectional attention, scale
 *   head_dim^-0.5;  h = LayerNorm(x + ctx Wo^T (+ b));
 *   x = LayerNorm(h + (act(h Wgate^T) * (h Wup^T)) Wdown^T (+ b)).
 * The embeddings are word (+ token type) then LayerNorm; there is no
 * position table.  Each text runs at its own length (no padding, no mask).
 */
#ifndef AKIDB_ROTENC_H
#define AKIDB_ROTENC_H

#include "model/blocks.h"

/* Per-layer tensors, in the order of ak_renc_spec.lw. */
enum {
    AK_RENC_QKV, AK_RENC_QKV_B, AK_RENC_O, AK_RENC_O_B, AK_RENC_LN1_W, AK_RENC_LN1_B,
    AK_RENC_UP, AK_RENC_UP_B, AK_RENC_GATE, AK_RENC_GATE_B, AK_RENC_DOWN, AK_RENC_DOWN_B,
    AK_RENC_LN2_W, AK_RENC_LN2_B, AK_RENC_NAMES
};

typedef struct ak_renc_spec {
    const char *prefix;        /* Hub prefix, also tried ("new.", "bert.") */
    const char *word;          /* word embeddings [vocab x hidden] */
    const char *type;          /* token-type table [type_vocab x hidden]; used
                                  when hp->type_vocab > 0 */
    const char *ln_w, *ln_b;   /* embedding LayerNorm */
    const char *layer;         /* prefix of layer i's names, "%zu" for i */
    /* NULL: the model has no such tensor (a bias it lacks; the gate when
     * up_gate is set) */
    const char *lw[AK_RENC_NAMES];
    /* 1: lw[AK_RENC_UP] is one [2I x H] matrix holding the up rows, then the
     * gate rows (GTE's up_gate_proj) */
    int up_gate;
} ak_renc_spec;

/* The family functions of a rotary encoder (impl is an ak_renc).  hp gives
 * hidden, n_layers, n_heads, intermediate, vocab, type_vocab, act (of the
 * gate), ln_eps, and the rotation: rope_theta, rope_dim (0: the whole head)
 * and rope_ntk.  The spec is copied: it may live on the caller's stack. */
akidb_status ak_renc_load(const char *dir, const ak_hparams *hp, int prec,
                          const ak_renc_spec *spec, void **impl, ak_dtype *dtype);
size_t ak_renc_batch_rows(const void *impl);
size_t ak_renc_scratch_bytes(const void *impl, size_t rows, size_t max_len, int nt);
akidb_status ak_renc_forward(const void *impl, const ak_seqs *s, ak_pool *pool, int nt,
                             ak_arena *ar, float **hidden);
void ak_renc_free(void *impl);

#endif /* AKIDB_ROTENC_H */
