/*
 * rotenc.c - the post-LayerNorm rotary encoder shared by GTE v1.5 / mGTE
 * and NomicBERT (see rotenc.h), with the eval-mode semantics of their
 * reference implementations (NewModel of Alibaba-NLP/new-impl,
 * NomicBertModel of nomic-ai/nomic-bert-2048).
 *
 * As encoder.c and decoder.c: each sequence runs at its own length (no
 * padding, no mask), the token rows of a forward are one GEMM M dimension,
 * weights are packed once at load for the compute precision (Q, K and V
 * already fused in the checkpoints; GTE's up_gate_proj split into its up and
 * gate halves), threads split GEMMs by columns, attention by (sequence,
 * head) and row operations (RoPE, gates, LayerNorm) by rows, so results are
 * bit-identical for every thread count.  Positions restart at 0 for every
 * sequence, as both models number a text's tokens.
 *
 * Operation order follows PyTorch's: embeddings word + type, then LayerNorm;
 * x * cos + rotate_half(x) * sin on the rotated dims (rope.c); residual
 * added before each LayerNorm; act(gate) * up.
 */
#include "model/rotenc.h"

#include "model/rope.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct renc_layer {
    ak_lin qkv, o, up, gate, down;
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;
} renc_layer;

typedef struct ak_renc {
    ak_hparams hp;
    ak_renc_spec spec;
    int prec;                  /* 0 f32, 1 bf16, 2 int8 */
    size_t hd;                 /* head width */
    ak_weights w;
    const float *word, *type;  /* [V x H], [T x H] or NULL */
    const float *emb_ln_g, *emb_ln_b;
    ak_rope rope;              /* over the first rope.dim dims of a head */
    renc_layer *layers;
    void *packed;              /* one aligned block for all layers */
} ak_renc;

/* ---- loading ------------------------------------------------------------------ */

/* Bytes of one layer's packed matrices. */
static size_t layer_bytes(const ak_renc *e)
{
    const size_t H = e->hp.hidden, I = e->hp.intermediate;
    return ak_lin_bytes(e->prec, 3 * H, H) + ak_lin_bytes(e->prec, H, H) +
           2 * ak_lin_bytes(e->prec, I, H) + ak_lin_bytes(e->prec, H, I);
}

/* Shapes of the per-layer tensors, in the order of ak_renc_spec.lw. */
static void layer_shapes(const ak_renc *e, size_t *d0, size_t *d1)
{
    const size_t H = e->hp.hidden, I = e->hp.intermediate;
    const size_t a[AK_RENC_NAMES] = { 3 * H, 3 * H, H, H, H, H, I, I, I, I, H, H, H, H };
    const size_t b[AK_RENC_NAMES] = { H, 0, H, 0, 0, 0, H, 0, H, 0, I, 0, 0, 0 };
    memcpy(d0, a, sizeof a);
    memcpy(d1, b, sizeof b);
    if (e->spec.up_gate)
        d0[AK_RENC_UP] = 2 * I;
}

/* Loads layer l's tensors, packs its matrices into mem (layer_bytes) and
 * frees the converted copies the packed ones replace. */
static akidb_status load_layer(ak_renc *e, size_t l, char *mem)
{
    const ak_renc_spec *sp = &e->spec;
    const size_t H = e->hp.hidden, I = e->hp.intermediate;
    size_t d0[AK_RENC_NAMES], d1[AK_RENC_NAMES];
    layer_shapes(e, d0, d1);
    const float *t[AK_RENC_NAMES] = { 0 };
    char pre[96], nm[320];
    snprintf(pre, sizeof pre, sp->layer, l);
    for (int k = 0; k < AK_RENC_NAMES; k++) {
        if (!sp->lw[k])
            continue;
        snprintf(nm, sizeof nm, "%s%s", pre, sp->lw[k]);
        akidb_status st = ak_weights_get(&e->w, nm, d0[k], d1[k], &t[k]);
        if (st != AKIDB_OK)
            return st;
    }
    renc_layer *y = &e->layers[l];
    const float *gate = sp->up_gate ? t[AK_RENC_UP] + I * H : t[AK_RENC_GATE];
    ak_lin *lin[5] = { &y->qkv, &y->o, &y->up, &y->gate, &y->down };
    const float *src[5] = { t[AK_RENC_QKV], t[AK_RENC_O], t[AK_RENC_UP], gate, t[AK_RENC_DOWN] };
    const float *bias[5] = { t[AK_RENC_QKV_B], t[AK_RENC_O_B], t[AK_RENC_UP_B],
                             t[AK_RENC_GATE_B], t[AK_RENC_DOWN_B] };
    const size_t rows[5] = { 3 * H, H, I, I, H }, cols[5] = { H, H, H, H, I };
    for (int k = 0; k < 5; k++) {
        ak_lin_pack(lin[k], e->prec, rows[k], cols[k], src[k], mem);
        lin[k]->bias = bias[k];
        mem += ak_lin_bytes(e->prec, rows[k], cols[k]);
    }
    y->ln1_g = t[AK_RENC_LN1_W];
    y->ln1_b = t[AK_RENC_LN1_B];
    y->ln2_g = t[AK_RENC_LN2_W];
    y->ln2_b = t[AK_RENC_LN2_B];
    static const int packed_away[] = { AK_RENC_QKV, AK_RENC_O, AK_RENC_UP, AK_RENC_GATE,
                                       AK_RENC_DOWN };
    for (size_t k = 0; k < sizeof packed_away / sizeof packed_away[0]; k++)
        if (t[packed_away[k]])
            ak_weights_drop(&e->w, t[packed_away[k]]);
    return AKIDB_OK;
}

void ak_renc_free(void *impl)
{
    ak_renc *e = impl;
    if (!e)
        return;
    ak_free_aligned(e->packed);
    ak_free(e->layers);
    ak_weights_close(&e->w);
    ak_free(e);
}

/* The matrices of every layer, packed into one block. */
static akidb_status load_layers(ak_renc *e, const char *dir)
{
    const size_t L = e->hp.n_layers;
    size_t bytes;
    if (ak_mul_overflow(layer_bytes(e), L ? L : 1, &bytes))
        return ak_fail(AKIDB_ENOMEM, "%s: model too large", dir);
    e->layers = ak_calloc(L ? L : 1, sizeof *e->layers);
    e->packed = ak_malloc_aligned(bytes, 64);
    if (!e->layers || !e->packed)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory packing the weights", dir);
    for (size_t l = 0; l < L; l++) {
        akidb_status st = load_layer(e, l, (char *)e->packed + l * layer_bytes(e));
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

akidb_status ak_renc_load(const char *dir, const ak_hparams *hp, int prec,
                          const ak_renc_spec *spec, void **impl, ak_dtype *dtype)
{
    *impl = NULL;
    AK_ASSERT(hp->n_heads >= 1 && hp->hidden % hp->n_heads == 0 && hp->rope_theta > 0);
    ak_renc *e = ak_calloc(1, sizeof *e);
    if (!e)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    e->hp = *hp;
    e->spec = *spec;
    e->prec = prec;
    e->hd = hp->hidden / hp->n_heads;
    /* the biases the configuration says the model has */
    if (!hp->attn_bias)
        e->spec.lw[AK_RENC_QKV_B] = e->spec.lw[AK_RENC_O_B] = NULL;
    if (!hp->mlp_up_bias)
        e->spec.lw[AK_RENC_UP_B] = e->spec.lw[AK_RENC_GATE_B] = NULL;
    if (!hp->mlp_down_bias)
        e->spec.lw[AK_RENC_DOWN_B] = NULL;
    if (spec->up_gate)
        e->spec.lw[AK_RENC_GATE] = e->spec.lw[AK_RENC_GATE_B] = NULL;
    size_t rd = hp->rope_dim ? hp->rope_dim : e->hd;
    AK_ASSERT(rd % 2 == 0 && rd <= e->hd && rd <= AK_ROPE_MAX_DIM);
    if (hp->rope_ntk > 0)
        ak_rope_init_ntk(&e->rope, rd, hp->rope_theta, hp->rope_ntk);
    else
        ak_rope_init(&e->rope, rd, hp->rope_theta);
    akidb_status st = ak_weights_open(&e->w, dir, spec->prefix, 5 + AK_RENC_NAMES * hp->n_layers);
    if (st != AKIDB_OK) {
        ak_free(e);
        return st;
    }
    if ((st = ak_weights_get(&e->w, spec->word, hp->vocab, hp->hidden, &e->word)) ||
        (hp->type_vocab &&
         (st = ak_weights_get(&e->w, spec->type, hp->type_vocab, hp->hidden, &e->type))) ||
        (st = ak_weights_get(&e->w, spec->ln_w, hp->hidden, 0, &e->emb_ln_g)) ||
        (st = ak_weights_get(&e->w, spec->ln_b, hp->hidden, 0, &e->emb_ln_b)) ||
        (st = load_layers(e, dir))) {
        ak_renc_free(e);
        return st;
    }
    *dtype = ak_weights_dtype(&e->w, spec->word);
    /* the packed copies replace the matrices: the mapping's pages can go
     * (clean; embeddings and small vectors fault back in on use) */
    ak_weights_release(&e->w);
    e->w.dir = NULL;
    *impl = e;
    return AKIDB_OK;
}

/* ---- forward ------------------------------------------------------------------ */

/* Activation floats per token row: x, h, qkv (3H), ctx, gate, up. */
static size_t row_floats(const ak_hparams *hp)
{
    return 6 * hp->hidden + 2 * hp->intermediate;
}

static size_t kmax_of(const ak_hparams *hp)
{
    return hp->intermediate > hp->hidden ? hp->intermediate : hp->hidden;
}

size_t ak_renc_batch_rows(const void *impl)
{
    const ak_renc *e = impl;
    /* about 16 MiB of activations, as the encoder */
    size_t rows = ((size_t)16 << 20) / (row_floats(&e->hp) * sizeof(float));
    return rows < 64 ? 64 : rows;
}

size_t ak_renc_scratch_bytes(const void *impl, size_t rows, size_t max_len, int nt)
{
    const ak_renc *e = impl;
    const ak_hparams *hp = &e->hp;
    return rows * (row_floats(hp) * sizeof(float) + 16) +
           ak_rope_table_floats(&e->rope, max_len) * sizeof(float) + hp->n_layers * 8 +
           16 * 64 + ak_fwd_scratch_bytes(e->prec, rows, max_len, e->hd, kmax_of(hp), nt);
}

typedef struct renc_ctx {
    const ak_renc *e;
    ak_fwd f;
    const ak_seqs *s;
    float *rope;               /* cos / sin of positions [0, max_len) */
    float *x, *h, *qkv, *ctx, *g, *u;
    ak_att_layout att;
} renc_ctx;

/* Embeddings of rows [r0, r1): word (+ type), then LayerNorm. */
static void embed_rows(const renc_ctx *c, size_t r0, size_t r1)
{
    const ak_renc *e = c->e;
    const size_t H = e->hp.hidden;
    size_t t = ak_fwd_seq_of(&c->f, c->s, r0);
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->f.row0[t] + c->s->lens[t])
            t++;
        size_t i = r - c->f.row0[t];
        const float *we = e->word + (size_t)c->s->ids[t][i] * H;
        float *xr = c->x + r * H;
        if (e->type) {
            const float *te = e->type + (c->s->types ? (size_t)c->s->types[t][i] * H : 0);
            for (size_t j = 0; j < H; j++)
                xr[j] = we[j] + te[j];
        } else {
            memcpy(xr, we, H * sizeof *xr);
        }
    }
    if (r1 > r0)
        c->f.ops->layernorm(c->x + r0 * H, NULL, r1 - r0, H, H, e->emb_ln_g, e->emb_ln_b,
                            e->hp.ln_eps);
}

/* RoPE on the q and k heads of rows [r0, r1) at each token's position. */
static void rope_rows(const renc_ctx *c, size_t r0, size_t r1)
{
    const ak_renc *e = c->e;
    const size_t H = e->hp.hidden, hd = e->hd, nh = e->hp.n_heads;
    size_t t = ak_fwd_seq_of(&c->f, c->s, r0);
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->f.row0[t] + c->s->lens[t])
            t++;
        const float *cs = c->rope + (r - c->f.row0[t]) * e->rope.dim;
        float *q = c->qkv + r * 3 * H;
        for (size_t h = 0; h < 2 * nh; h++)   /* q heads, then k heads */
            ak_rope_apply(&e->rope, cs, q + h * hd);
    }
}

/* Layer l by thread tid: the steps separated by barriers.  x holds the
 * layer's input and receives its output. */
static void layer_run(renc_ctx *c, size_t l, int tid)
{
    const ak_renc *e = c->e;
    const renc_layer *y = &e->layers[l];
    const ak_fwd *f = &c->f;
    const size_t H = e->hp.hidden, I = e->hp.intermediate;
    const float eps = e->hp.ln_eps;
    size_t n0, n1, r0, r1;
    ak_split_rows(f, f->rows, tid, &r0, &r1);

    ak_split_cols(f, 3 * H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->qkv, c->x, c->qkv, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    rope_rows(c, r0, r1);
    ak_pool_barrier(f->pool, f->nt);
    ak_attend_layer(f, tid, c->s, l, &c->att, c->qkv, c->ctx);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->o, c->ctx, c->h, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    if (r1 > r0)   /* h = LayerNorm(x + attention) */
        f->ops->layernorm(c->h + r0 * H, c->x + r0 * H, r1 - r0, H, H, y->ln1_g, y->ln1_b,
                          eps);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, I, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->gate, c->h, c->g, n0, n1);
    ak_lin_cols(f, tid, &y->up, c->h, c->u, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    for (size_t r = r0; r < r1; r++)
        f->ops->gate(c->g + r * I, c->g + r * I, c->u + r * I, I, e->hp.act);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->down, c->g, c->x, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    if (r1 > r0)   /* x = LayerNorm(h + MLP) */
        f->ops->layernorm(c->x + r0 * H, c->h + r0 * H, r1 - r0, H, H, y->ln2_g, y->ln2_b,
                          eps);
    ak_pool_barrier(f->pool, f->nt);
}

/* The whole forward, run by each of nt threads (SPMD). */
static void renc_run(void *arg, int tid, int nt)
{
    renc_ctx *c = arg;
    (void)nt;
    size_t r0, r1;
    ak_split_rows(&c->f, c->s->max_len, tid, &r0, &r1);
    ak_rope_table(&c->e->rope, r0, r1, c->rope);
    ak_split_rows(&c->f, c->f.rows, tid, &r0, &r1);
    embed_rows(c, r0, r1);
    ak_pool_barrier(c->f.pool, c->f.nt);
    for (size_t l = 0; l < c->e->hp.n_layers; l++)
        layer_run(c, l, tid);
}

#define ARENA_FLOATS(ar, n) ((float *)ak_arena_alloc((ar), (n) * sizeof(float)))

akidb_status ak_renc_forward(const void *impl, const ak_seqs *s, ak_pool *pool, int nt,
                             ak_arena *ar, float **hidden)
{
    const ak_renc *e = impl;
    const ak_hparams *hp = &e->hp;
    const size_t H = hp->hidden, I = hp->intermediate, rows = s->rows;
    renc_ctx c;
    memset(&c, 0, sizeof c);
    c.e = e;
    c.s = s;
    c.rope = ARENA_FLOATS(ar, ak_rope_table_floats(&e->rope, s->max_len));
    c.x = ARENA_FLOATS(ar, rows * H);
    c.h = ARENA_FLOATS(ar, rows * H);
    c.qkv = ARENA_FLOATS(ar, rows * 3 * H);
    c.ctx = ARENA_FLOATS(ar, rows * H);
    c.g = ARENA_FLOATS(ar, rows * I);
    c.u = ARENA_FLOATS(ar, rows * I);
    if (!c.rope || !c.x || !c.h || !c.qkv || !c.ctx || !c.g || !c.u)
        return ak_fail(AKIDB_ENOMEM, "out of memory for the activations of %zu tokens", rows);
    akidb_status st = ak_fwd_begin(&c.f, e->prec, s, hp->n_layers, e->hd, kmax_of(hp), pool,
                                   nt, ar);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; s->types && e->type && i < s->n; i++)
        for (size_t k = 0; k < s->lens[i]; k++)
            AK_ASSERT(s->types[i][k] < hp->type_vocab);
    c.att = (ak_att_layout){ .n_heads = hp->n_heads, .n_kv_heads = hp->n_heads, .hd = e->hd,
                             .ld = 3 * H, .q_off = 0, .k_off = H, .v_off = 2 * H, .ldc = H,
                             .scale = (float)(1.0 / sqrt((double)e->hd)),
                             .mask = { .causal = 0, .window = 0 } };
    ak_pool_run(c.f.pool, c.f.nt, renc_run, &c);
    *hidden = c.x;
    return AKIDB_OK;
}
