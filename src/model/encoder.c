/*
 * encoder.c - the post-LayerNorm Transformer encoder shared by BERT,
 * DistilBERT and RoBERTa-style families, with the exact eval-mode semantics
 * of Hugging Face's BertModel (and its relatives, which differ only in
 * tensor names, config fields and position ids: the family tells those
 * through an ak_enc_spec, as it tells MPNet's relative position bias, one
 * [buckets x heads] table for all layers, expanded at load into a table per
 * head over the relative positions j - i and added to the scaled scores).
 *
 * Each sequence runs at its own length: no padding, hence no attention mask
 * and no wasted work.  Token types are 0 (sentence-transformers gives a
 * single text one segment) unless the caller passes them (ak_seqs.types: a
 * cross-encoder's pair is 0 for the query, 1 for the passage, as BERT's
 * tokenizer marks it).  Operation order follows PyTorch's (embeddings:
 * (word + type) + position; residuals added before LayerNorm) so results
 * stay within float rounding of the reference.
 *
 * Speed: every weight matrix is packed once at load (Q, K, V fused into one
 * [3H x H] matrix) for the compute precision; the token rows of all
 * sequences of a forward are one GEMM M dimension; threads split GEMMs by
 * output columns, attention by (sequence, head) and row operations by rows.
 */
#include "model/blocks.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct enc_layer {
    ak_lin qkv, o, i, out;                   /* [3H x H], [H x H], [I x H], [H x I] */
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
} enc_layer;

typedef struct ak_enc {
    ak_hparams hp;
    const ak_enc_spec *spec;
    int prec;                                 /* 0 f32, 1 bf16, 2 int8 */
    ak_weights w;
    const float *word, *pos, *type;           /* [V x H], [P x H], [T x H] or NULL */
    const float *emb_ln_g, *emb_ln_b;
    float *rel;                               /* [n_heads x (2 max_tokens - 1)], or NULL */
    enc_layer *layers;
    void *packed;                             /* one aligned block for all layers */
} ak_enc;

/* ---- loading ------------------------------------------------------------------ */

/* Bytes of one layer's packed matrices and fused QKV bias. */
static size_t layer_bytes(const ak_hparams *hp, int prec)
{
    const size_t H = hp->hidden, I = hp->intermediate;
    return ak_lin_bytes(prec, 3 * H, H) + ak_lin_bytes(prec, H, H) + ak_lin_bytes(prec, I, H) +
           ak_lin_bytes(prec, H, I) + (3 * H * sizeof(float) + 63) / 64 * 64;
}

/* Loads layer l's tensors, packs its matrices into mem (layer_bytes) and
 * frees the converted copies the packed ones replace. */
static akidb_status load_layer(ak_enc *e, size_t l, float *tmp, char *mem)
{
    const ak_enc_spec *sp = e->spec;
    const size_t H = e->hp.hidden, I = e->hp.intermediate;
    const size_t d0[AK_ENC_NAMES] = { H, H, H, H, H, H, H, H, H, H, I, I, H, H, H, H };
    const size_t d1[AK_ENC_NAMES] = { H, 0, H, 0, H, 0, H, 0, 0, 0, H, 0, I, 0, 0, 0 };
    const float *t[AK_ENC_NAMES];
    char pre[96], nm[320];
    snprintf(pre, sizeof pre, sp->layer, l);
    for (int k = 0; k < AK_ENC_NAMES; k++) {
        snprintf(nm, sizeof nm, "%s%s", pre, sp->lw[k]);
        akidb_status st = ak_weights_get(&e->w, nm, d0[k], d1[k], &t[k]);
        if (st != AKIDB_OK)
            return st;
    }
    enc_layer *y = &e->layers[l];
    memcpy(tmp, t[AK_ENC_QW], H * H * sizeof *tmp);
    memcpy(tmp + H * H, t[AK_ENC_KW], H * H * sizeof *tmp);
    memcpy(tmp + 2 * H * H, t[AK_ENC_VW], H * H * sizeof *tmp);
    ak_lin *lin[4] = { &y->qkv, &y->o, &y->i, &y->out };
    const float *src[4] = { tmp, t[AK_ENC_OW], t[AK_ENC_IW], t[AK_ENC_OUTW] };
    const size_t rows[4] = { 3 * H, H, I, H }, cols[4] = { H, H, H, I };
    for (int k = 0; k < 4; k++) {
        ak_lin_pack(lin[k], e->prec, rows[k], cols[k], src[k], mem);
        mem += ak_lin_bytes(e->prec, rows[k], cols[k]);
    }
    float *bqkv = (float *)mem;
    memcpy(bqkv, t[AK_ENC_QB], H * sizeof *bqkv);
    memcpy(bqkv + H, t[AK_ENC_KB], H * sizeof *bqkv);
    memcpy(bqkv + 2 * H, t[AK_ENC_VB], H * sizeof *bqkv);
    y->qkv.bias = bqkv;
    y->o.bias = t[AK_ENC_OB];
    y->i.bias = t[AK_ENC_IB];
    y->out.bias = t[AK_ENC_OUTB];
    y->ln1_g = t[AK_ENC_LN1W];
    y->ln1_b = t[AK_ENC_LN1B];
    y->ln2_g = t[AK_ENC_LN2W];
    y->ln2_b = t[AK_ENC_LN2B];
    static const int packed_away[] = { AK_ENC_QW, AK_ENC_KW, AK_ENC_VW, AK_ENC_QB, AK_ENC_KB,
                                       AK_ENC_VB, AK_ENC_OW, AK_ENC_IW, AK_ENC_OUTW };
    for (size_t k = 0; k < sizeof packed_away / sizeof packed_away[0]; k++)
        ak_weights_drop(&e->w, t[packed_away[k]]);
    return AKIDB_OK;
}

/* The relative position bias as a table per head over relative positions
 * -(max_tokens - 1) .. max_tokens - 1: attention reads it at j - i. */
static akidb_status load_rel(ak_enc *e)
{
    const ak_hparams *hp = &e->hp;
    const size_t nh = hp->n_heads, M = hp->max_tokens, w = 2 * M - 1;
    const float *t;
    akidb_status st = ak_weights_get(&e->w, e->spec->rel_bias, hp->rel_buckets, nh, &t);
    if (st != AKIDB_OK)
        return st;
    if (!(e->rel = ak_malloc(nh * w * sizeof *e->rel)))
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory for the relative position bias",
                       e->w.dir);
    for (size_t d = 0; d < w; d++) {
        size_t b = e->spec->rel_bucket((long)d - (long)(M - 1));
        AK_ASSERT(b < hp->rel_buckets);
        for (size_t h = 0; h < nh; h++)
            e->rel[h * w + d] = t[b * nh + h];
    }
    ak_weights_drop(&e->w, t);
    return AKIDB_OK;
}

void ak_enc_free(void *impl)
{
    ak_enc *e = impl;
    if (!e)
        return;
    ak_free_aligned(e->packed);
    ak_free(e->rel);
    ak_free(e->layers);
    ak_weights_close(&e->w);
    ak_free(e);
}

akidb_status ak_enc_load(const char *dir, const ak_hparams *hp, int prec,
                         const ak_enc_spec *spec, void **impl, ak_dtype *dtype)
{
    *impl = NULL;
    ak_enc *e = ak_calloc(1, sizeof *e);
    if (!e)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    e->hp = *hp;
    e->spec = spec;
    e->prec = prec;
    const size_t H = hp->hidden, L = hp->n_layers;
    akidb_status st = ak_weights_open(&e->w, dir, spec->prefix, 6 + AK_ENC_NAMES * L);
    if (st != AKIDB_OK) {
        ak_free(e);
        return st;
    }
    size_t bytes;
    float *tmp = NULL;
    if (ak_mul_overflow(layer_bytes(hp, prec), L ? L : 1, &bytes)) {
        st = ak_fail(AKIDB_ENOMEM, "%s: model too large", dir);
        goto fail;
    }
    e->layers = ak_calloc(L ? L : 1, sizeof *e->layers);
    e->packed = ak_malloc_aligned(bytes, 64);
    tmp = ak_malloc(3 * H * H * sizeof *tmp);
    if (!e->layers || !e->packed || !tmp) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory packing the weights", dir);
        goto fail;
    }
    if ((st = ak_weights_get(&e->w, spec->word, hp->vocab, H, &e->word)) ||
        (st = ak_weights_get(&e->w, spec->pos, hp->max_positions, H, &e->pos)) ||
        (spec->type && (st = ak_weights_get(&e->w, spec->type, hp->type_vocab, H, &e->type))) ||
        (st = ak_weights_get(&e->w, spec->ln_w, H, 0, &e->emb_ln_g)) ||
        (st = ak_weights_get(&e->w, spec->ln_b, H, 0, &e->emb_ln_b)) ||
        (spec->rel_bias && (st = load_rel(e))))
        goto fail;
    for (size_t l = 0; l < L; l++)
        if ((st = load_layer(e, l, tmp, (char *)e->packed + l * layer_bytes(hp, prec))))
            goto fail;
    ak_free(tmp);
    *dtype = ak_weights_dtype(&e->w, spec->word);
    /* the packed copies replace the matrices: the mapping's pages can go
     * (clean; embeddings and small vectors fault back in on use) */
    ak_weights_release(&e->w);
    e->w.dir = NULL;
    *impl = e;
    return AKIDB_OK;
fail:
    ak_free(tmp);
    ak_enc_free(e);
    return st;
}

/* ---- forward ------------------------------------------------------------------ */

/* The shared work lists of a forward: the embeddings, then per layer the
 * steps below, each finished before the next begins. */
enum { T_QKV, T_ATT, T_O, T_LN1, T_I, T_OUT, T_LN2, T_STEPS };

/* Activation floats per token row: x, qkv (3H), ctx, h1, intermediate. */
static size_t row_floats(const ak_hparams *hp)
{
    return 6 * hp->hidden + hp->intermediate;
}

size_t ak_enc_batch_rows(const void *impl)
{
    const ak_enc *e = impl;
    /* about 16 MiB of activations: big enough for an efficient GEMM M
     * dimension, small enough for the memory budget */
    size_t rows = ((size_t)16 << 20) / (row_floats(&e->hp) * sizeof(float));
    return rows < 64 ? 64 : rows;
}

static size_t kmax_of(const ak_hparams *hp)
{
    return hp->intermediate > hp->hidden ? hp->intermediate : hp->hidden;
}

size_t ak_enc_scratch_bytes(const void *impl, size_t rows, size_t max_len, int nt)
{
    const ak_enc *e = impl;
    const ak_hparams *hp = &e->hp;
    return rows * (row_floats(hp) * sizeof(float) + 12) + hp->n_layers * 8 + 16 * 64 +
           (1 + T_STEPS * hp->n_layers) * sizeof(ak_task) +
           ak_fwd_scratch_bytes(e->prec, rows, max_len, hp->hidden / hp->n_heads,
                                kmax_of(hp), nt);
}

typedef struct enc_ctx {
    const ak_enc *e;
    ak_fwd f;
    const ak_seqs *s;
    const int32_t *pos;        /* position id per row; NULL: row - row0 */
    float *x, *qkv, *ctx, *h1, *inter;
    ak_task *tasks;            /* [n_tasks] work lists, zeroed */
} enc_ctx;

/* Embeddings of rows [r0, r1): (word + type) + position, then LayerNorm. */
static void embed_rows(const enc_ctx *c, size_t r0, size_t r1)
{
    const ak_enc *e = c->e;
    const size_t H = e->hp.hidden;
    size_t t = ak_fwd_seq_of(&c->f, c->s, r0);
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->f.row0[t] + c->s->lens[t])
            t++;
        size_t i = r - c->f.row0[t], pos = c->pos ? (size_t)c->pos[r] : i;
        const float *we = e->word + (size_t)c->s->ids[t][i] * H, *pe = e->pos + pos * H;
        float *xr = c->x + r * H;
        if (e->type) {
            const float *te = e->type + (c->s->types ? (size_t)c->s->types[t][i] * H : 0);
            for (size_t j = 0; j < H; j++)
                xr[j] = (we[j] + te[j]) + pe[j];
        } else {
            for (size_t j = 0; j < H; j++)
                xr[j] = we[j] + pe[j];
        }
    }
    if (r1 > r0)
        c->f.ops->layernorm(c->x + r0 * H, NULL, r1 - r0, H, H, e->emb_ln_g, e->emb_ln_b,
                            e->hp.ln_eps);
}


static size_t n_tasks(const ak_hparams *hp)
{
    return 1 + T_STEPS * hp->n_layers;
}

/* Columns per GEMM item: one micro-tile width in whole panels (the bf16 and
 * int8 GEMMs start a column range on a panel; the scalar tile is 8 wide). */
static size_t col_unit(const ak_fwd *f)
{
    return (f->ops->nr + AK_PANEL - 1) / AK_PANEL * AK_PANEL;
}

/* Rows per row-operation item: a few items per thread, at least 8 rows. */
static size_t row_unit(const ak_fwd *f)
{
    size_t u = (f->rows + 8 * (size_t)f->nt - 1) / (8 * (size_t)f->nt);
    return u < 8 ? 8 : u;
}

static size_t items(size_t n, size_t unit)
{
    return (n + unit - 1) / unit;
}

/* Y = act(X W^T + b) (act < 0: none) in items of whole column units. */
static void lin_step(const enc_ctx *c, ak_task *t, int tid, const ak_lin *l, const float *x,
                     float *y, int act)
{
    const ak_fwd *f = &c->f;
    const size_t u = col_unit(f), n = items(l->n, u);
    for (size_t i = ak_task_next(t); i < n; i = ak_task_next(t)) {
        size_t n0 = i * u, n1 = n0 + u < l->n ? n0 + u : l->n;
        ak_lin_cols(f, tid, l, x, y, n0, n1);
        if (act >= 0)
            for (size_t r = 0; r < f->rows; r++)
                f->ops->act(y + r * l->n + n0, n1 - n0, (ak_act)act);
        ak_task_done(t);
    }
    ak_task_wait(t, n);
}

/* x = LayerNorm(x + res) row by row, in items of rows. */
static void ln_step(const enc_ctx *c, ak_task *t, float *x, const float *res, const float *g,
                    const float *b)
{
    const ak_fwd *f = &c->f;
    const size_t H = c->e->hp.hidden, u = row_unit(f), n = items(f->rows, u);
    for (size_t i = ak_task_next(t); i < n; i = ak_task_next(t)) {
        size_t r0 = i * u, r1 = r0 + u < f->rows ? r0 + u : f->rows;
        f->ops->layernorm(x + r0 * H, res + r0 * H, r1 - r0, H, H, g, b, c->e->hp.ln_eps);
        ak_task_done(t);
    }
    ak_task_wait(t, n);
}

/* Attention of every (sequence, head) pair, one pair an item. */
static void att_step(const enc_ctx *c, ak_task *t, int tid)
{
    const ak_hparams *hp = &c->e->hp;
    const ak_fwd *f = &c->f;
    const size_t H = hp->hidden, nh = hp->n_heads, hd = H / nh, M = hp->max_tokens;
    const float scale = (float)(1.0 / sqrt((double)hd));
    const size_t n = c->s->n * nh;
    for (size_t k = ak_task_next(t); k < n; k = ak_task_next(t)) {
        size_t tx = k / nh, h = k % nh;
        const float *q = c->qkv + f->row0[tx] * 3 * H + h * hd;
        float *ctx = c->ctx + f->row0[tx] * H + h * hd;
        if (c->e->rel)   /* relative position 0 of head h's bias */
            ak_attention_biased(f->ops, f->att_h, NULL, c->e->rel + h * (2 * M - 1) + M - 1,
                                c->s->lens[tx], hd, scale, q, q + H, q + 2 * H, 3 * H, ctx, H,
                                f->att[tid]);
        else
            ak_attend(f, tid, c->s->lens[tx], hd, scale, q, q + H, q + 2 * H, 3 * H, ctx, H);
        ak_task_done(t);
    }
    ak_task_wait(t, n);
}

/* Layer l on x, by thread tid: each step a shared work list (see ak_task),
 * so a thread that is late (preempted, or not yet woken) finds the work
 * done by the others instead of holding them up. */
static void layer_run(enc_ctx *c, size_t l, int tid)
{
    const ak_hparams *hp = &c->e->hp;
    const enc_layer *y = &c->e->layers[l];
    ak_task *t = c->tasks + 1 + l * T_STEPS;
    lin_step(c, &t[T_QKV], tid, &y->qkv, c->x, c->qkv, -1);
    att_step(c, &t[T_ATT], tid);
    lin_step(c, &t[T_O], tid, &y->o, c->ctx, c->h1, -1);
    ln_step(c, &t[T_LN1], c->h1, c->x, y->ln1_g, y->ln1_b);
    lin_step(c, &t[T_I], tid, &y->i, c->h1, c->inter, (int)hp->act);
    lin_step(c, &t[T_OUT], tid, &y->out, c->inter, c->x, -1);
    ln_step(c, &t[T_LN2], c->x, c->h1, y->ln2_g, y->ln2_b);
}

/* The whole forward, run by each thread that joins (SPMD). */
static void enc_run(void *arg, int tid, int nt)
{
    enc_ctx *c = arg;
    (void)nt;
    const size_t u = row_unit(&c->f), n = items(c->f.rows, u);
    for (size_t i = ak_task_next(&c->tasks[0]); i < n; i = ak_task_next(&c->tasks[0])) {
        size_t r0 = i * u, r1 = r0 + u < c->f.rows ? r0 + u : c->f.rows;
        embed_rows(c, r0, r1);
        ak_task_done(&c->tasks[0]);
    }
    ak_task_wait(&c->tasks[0], n);
    for (size_t l = 0; l < c->e->hp.n_layers; l++)
        layer_run(c, l, tid);
}

#define ARENA_FLOATS(ar, n) ((float *)ak_arena_alloc((ar), (n) * sizeof(float)))

akidb_status ak_enc_forward(const void *impl, const ak_seqs *s, ak_pool *pool, int nt,
                            ak_arena *ar, float **hidden)
{
    const ak_enc *e = impl;
    const ak_hparams *hp = &e->hp;
    const size_t H = hp->hidden, I = hp->intermediate, rows = s->rows;
    enc_ctx c;
    memset(&c, 0, sizeof c);
    c.e = e;
    c.s = s;
    int32_t *pos = e->spec->positions ? ak_arena_alloc(ar, rows * sizeof *pos) : NULL;
    c.x = ARENA_FLOATS(ar, rows * H);
    c.qkv = ARENA_FLOATS(ar, rows * 3 * H);
    c.ctx = ARENA_FLOATS(ar, rows * H);
    c.h1 = ARENA_FLOATS(ar, rows * H);
    c.inter = ARENA_FLOATS(ar, rows * I);
    c.tasks = ak_arena_alloc(ar, n_tasks(hp) * sizeof *c.tasks);
    if ((e->spec->positions && !pos) || !c.x || !c.qkv || !c.ctx ||
        !c.h1 || !c.inter || !c.tasks)
        return ak_fail(AKIDB_ENOMEM, "out of memory for the activations of %zu tokens", rows);
    akidb_status st = ak_fwd_begin(&c.f, e->prec, s, hp->n_layers, H / hp->n_heads, kmax_of(hp),
                                   pool, nt, ar);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < s->n; i++) {
        size_t r = c.f.row0[i];
        AK_ASSERT(!e->rel || s->lens[i] <= hp->max_tokens);   /* the bias table's reach */
        if (pos) {
            e->spec->positions(hp, s->ids[i], s->lens[i], pos + r);
            for (size_t k = 0; k < s->lens[i]; k++)
                AK_ASSERT(pos[r + k] >= 0 && (size_t)pos[r + k] < hp->max_positions);
        }
        for (size_t k = 0; s->types && e->type && k < s->lens[i]; k++)
            AK_ASSERT(s->types[i][k] < hp->type_vocab);
    }
    c.pos = pos;
    for (size_t i = 0; i < n_tasks(hp); i++) {
        atomic_init(&c.tasks[i].next, 0);
        atomic_init(&c.tasks[i].done, 0);
    }
    ak_pool_run_any(c.f.pool, c.f.nt, enc_run, &c);
    *hidden = c.x;
    return AKIDB_OK;
}
