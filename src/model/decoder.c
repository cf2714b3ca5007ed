/*
 * decoder.c - the pre-norm RoPE Transformer shared by the decoder-style
 * embedding families (see decoder.h), with the eval-mode semantics of
 * Hugging Face's Qwen3Model / LlamaModel / Gemma3TextModel.
 *
 * As in encoder.c, each sequence runs at its own length (no padding: a
 * causal mask alone), all token rows of a forward form one GEMM M
 * dimension, weights are packed once at load for the compute precision (Q,
 * K and V fused into one [(n_heads + 2 n_kv_heads) head_dim x hidden]
 * matrix), threads split GEMMs by columns, attention by (sequence, query
 * head) and row operations (RMSNorm, q/k norm, RoPE, gates) by rows, so
 * results are bit-identical for every thread count.  Positions restart at 0
 * for every sequence: with RoPE only position differences matter, which is
 * why sentence-transformers' left padding gives the same embeddings.
 *
 * Operation order follows PyTorch's: residual + sublayer output added in
 * float before the next RMSNorm, weight * (x * rstd), x * cos +
 * rotate_half(x) * sin, act(gate) * up.  Gemma's (1 + w) gains are summed
 * once at load in float32 (its RMSNorm does that sum in float32 too), so
 * the same kernel serves both conventions.
 */
#include "model/decoder.h"

#include "model/rope.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct dec_layer {
    ak_lin qkv, o, gate, up, down;
    const float *qn, *kn, *ln1, *ln2;   /* qn / kn NULL without q/k norm */
    const float *pa, *pm;      /* norms of the attention / MLP output, or NULL */
    int local;                 /* sliding-window layer (window, rope_local) */
} dec_layer;

typedef struct ak_dec {
    ak_hparams hp;
    const ak_dec_spec *spec;
    int prec;                  /* 0 f32, 1 bf16, 2 int8 */
    size_t hd, qdim, kvdim;    /* head width; n_heads * hd; n_kv_heads * hd */
    ak_weights w;
    ak_table word;             /* [vocab x hidden], in the mapping */
    const float *norm;         /* final RMSNorm */
    ak_rope rope;
    ak_rope rope_local;        /* of the local layers, when two_ropes */
    int two_ropes;
    float escale;              /* embedding scale; 0: none */
    dec_layer *layers;
    void *packed;              /* one aligned block for all layers */
    float *gains;              /* the (1 + w) gains, or NULL */
} ak_dec;

/* ---- loading ------------------------------------------------------------------ */

static size_t qkv_rows(const ak_dec *d)
{
    return d->qdim + 2 * d->kvdim;
}

/* Bytes of one layer's packed matrices. */
static size_t layer_bytes(const ak_dec *d)
{
    const size_t H = d->hp.hidden, I = d->hp.intermediate;
    return ak_lin_bytes(d->prec, qkv_rows(d), H) + ak_lin_bytes(d->prec, H, d->qdim) +
           2 * ak_lin_bytes(d->prec, I, H) + ak_lin_bytes(d->prec, H, I);
}

/* Floats of one layer's (1 + w) gains: q / k norm, four hidden-wide norms. */
static size_t gains_per_layer(const ak_dec *d)
{
    return 2 * d->hd + 4 * d->hp.hidden;
}

/* Gemma's gain 1 + w of n floats, in float32 as Gemma3RMSNorm computes it,
 * into *g (advanced past it). */
static const float *plus1(const float *w, size_t n, float **g)
{
    float *out = *g;
    for (size_t i = 0; i < n; i++)
        out[i] = 1.0f + w[i];
    *g += n;
    return out;
}

/* v rounded to bits significant bits (8: bf16, 11: f16), to nearest even;
 * v is positive and normal in both formats. */
static float round_sig(float v, int bits)
{
    int e;
    float m = frexpf(v, &e);
    return ldexpf(rintf(ldexpf(m, bits)), e - bits);
}

/* Loads layer l's tensors, packs its matrices into mem (layer_bytes) and
 * frees the converted copies the packed ones replace. */
static akidb_status load_layer(ak_dec *d, size_t l, float *tmp, char *mem)
{
    const ak_dec_spec *sp = d->spec;
    const size_t H = d->hp.hidden, I = d->hp.intermediate, hd = d->hd;
    const size_t d0[AK_DEC_NAMES] = { d->qdim, d->kvdim, d->kvdim, H, hd, hd, H, H, I, I, H,
                                      H, H };
    const size_t d1[AK_DEC_NAMES] = { H, H, H, d->qdim, 0, 0, 0, 0, H, H, I, 0, 0 };
    const float *t[AK_DEC_NAMES] = { 0 };
    char pre[96], nm[320];
    snprintf(pre, sizeof pre, sp->layer, l);
    for (int k = 0; k < AK_DEC_NAMES; k++) {
        if (!sp->lw[k])
            continue;
        snprintf(nm, sizeof nm, "%s%s", pre, sp->lw[k]);
        akidb_status st = ak_weights_get(&d->w, nm, d0[k], d1[k], &t[k]);
        if (st != AKIDB_OK)
            return st;
    }
    dec_layer *y = &d->layers[l];
    memcpy(tmp, t[AK_DEC_Q], d->qdim * H * sizeof *tmp);
    memcpy(tmp + d->qdim * H, t[AK_DEC_K], d->kvdim * H * sizeof *tmp);
    memcpy(tmp + (d->qdim + d->kvdim) * H, t[AK_DEC_V], d->kvdim * H * sizeof *tmp);
    ak_lin *lin[5] = { &y->qkv, &y->o, &y->gate, &y->up, &y->down };
    const float *src[5] = { tmp, t[AK_DEC_O], t[AK_DEC_GATE], t[AK_DEC_UP], t[AK_DEC_DOWN] };
    const size_t rows[5] = { qkv_rows(d), H, I, I, H }, cols[5] = { H, d->qdim, H, H, I };
    for (int k = 0; k < 5; k++) {
        ak_lin_pack(lin[k], d->prec, rows[k], cols[k], src[k], mem);
        lin[k]->bias = NULL;
        mem += ak_lin_bytes(d->prec, rows[k], cols[k]);
    }
    y->qn = t[AK_DEC_QNORM];
    y->kn = t[AK_DEC_KNORM];
    y->ln1 = t[AK_DEC_LN1];
    y->ln2 = t[AK_DEC_LN2];
    y->pa = t[AK_DEC_POST_ATTN];
    y->pm = t[AK_DEC_POST_MLP];
    y->local = l < AK_HP_MAX_LISTED && d->hp.window &&
               (d->hp.local_layers[l / 64] >> (l % 64) & 1);
    if (d->gains) {
        float *g = d->gains + l * gains_per_layer(d);
        const float **v[6] = { &y->qn, &y->kn, &y->ln1, &y->ln2, &y->pa, &y->pm };
        for (int k = 0; k < 6; k++) {
            const float *w = *v[k];
            if (w) {
                *v[k] = plus1(w, k < 2 ? hd : H, &g);
                ak_weights_drop(&d->w, w);
            }
        }
    }
    static const int packed_away[] = { AK_DEC_Q, AK_DEC_K, AK_DEC_V, AK_DEC_O, AK_DEC_GATE,
                                       AK_DEC_UP, AK_DEC_DOWN };
    for (size_t k = 0; k < sizeof packed_away / sizeof packed_away[0]; k++)
        ak_weights_drop(&d->w, t[packed_away[k]]);
    return AKIDB_OK;
}

void ak_dec_free(void *impl)
{
    ak_dec *d = impl;
    if (!d)
        return;
    ak_free_aligned(d->packed);
    ak_free(d->gains);
    ak_free(d->layers);
    ak_weights_close(&d->w);
    ak_free(d);
}

/* The matrices of every layer, packed into one block. */
static akidb_status load_layers(ak_dec *d, const char *dir)
{
    const size_t H = d->hp.hidden, L = d->hp.n_layers;
    size_t bytes;
    if (ak_mul_overflow(layer_bytes(d), L ? L : 1, &bytes))
        return ak_fail(AKIDB_ENOMEM, "%s: model too large", dir);
    d->layers = ak_calloc(L ? L : 1, sizeof *d->layers);
    d->packed = ak_malloc_aligned(bytes, 64);
    float *tmp = ak_malloc(qkv_rows(d) * H * sizeof *tmp);
    akidb_status st = AKIDB_OK;
    if (!d->layers || !d->packed || !tmp)
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory packing the weights", dir);
    for (size_t l = 0; l < L && st == AKIDB_OK; l++)
        st = load_layer(d, l, tmp, (char *)d->packed + l * layer_bytes(d));
    ak_free(tmp);
    return st;
}

akidb_status ak_dec_load(const char *dir, const ak_hparams *hp, int prec,
                         const ak_dec_spec *spec, void **impl, ak_dtype *dtype)
{
    *impl = NULL;
    ak_dec *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    d->hp = *hp;
    d->spec = spec;
    d->prec = prec;
    d->hd = hp->head_dim ? hp->head_dim : hp->hidden / hp->n_heads;
    d->qdim = hp->n_heads * d->hd;
    d->kvdim = hp->n_kv_heads * d->hd;
    AK_ASSERT(hp->n_kv_heads >= 1 && hp->n_heads % hp->n_kv_heads == 0);
    if (hp->rope_theta > 0)
        ak_rope_init(&d->rope, d->hd, hp->rope_theta);
    if (hp->rope_theta > 0 && hp->window && hp->rope_theta_local > 0 &&
        hp->rope_theta_local != hp->rope_theta) {
        ak_rope_init(&d->rope_local, d->hd, hp->rope_theta_local);
        d->two_ropes = 1;
    }
    akidb_status st = ak_weights_open(&d->w, dir, spec->prefix, 2 + AK_DEC_NAMES * hp->n_layers);
    if (st != AKIDB_OK) {
        ak_free(d);
        return st;
    }
    if (spec->gain_plus1 &&
        !(d->gains = ak_malloc((hp->n_layers * gains_per_layer(d) + hp->hidden) *
                               sizeof *d->gains)))
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    if (st || (st = ak_weights_table(&d->w, spec->word, hp->vocab, hp->hidden, &d->word)) ||
        (st = ak_weights_get(&d->w, spec->norm, hp->hidden, 0, &d->norm)) ||
        (st = load_layers(d, dir))) {
        ak_dec_free(d);
        return st;
    }
    if (d->gains) {
        float *g = d->gains + hp->n_layers * gains_per_layer(d);
        const float *w = d->norm;
        d->norm = plus1(w, hp->hidden, &g);
        ak_weights_drop(&d->w, w);
    }
    if (spec->embed_scale) {   /* sqrt(hidden) in float32, then in the table's dtype */
        float sc = (float)sqrt((double)hp->hidden);
        d->escale = d->word.dtype == AK_DT_BF16 ? round_sig(sc, 8)
                    : d->word.dtype == AK_DT_F16 ? round_sig(sc, 11) : sc;
    }
    *dtype = d->word.dtype;
    /* the packed copies replace the matrices: the mapping's pages can go
     * (clean; embedding rows and small vectors fault back in on use) */
    ak_weights_release(&d->w);
    d->w.dir = NULL;
    *impl = d;
    return AKIDB_OK;
}

/* ---- forward ------------------------------------------------------------------ */

/* Activation floats per token row: x, h, qkv, ctx, gate, up. */
static size_t row_floats(const ak_dec *d)
{
    return 2 * d->hp.hidden + qkv_rows(d) + d->qdim + 2 * d->hp.intermediate;
}

static size_t kmax_of(const ak_dec *d)
{
    size_t k = d->hp.hidden > d->qdim ? d->hp.hidden : d->qdim;
    return d->hp.intermediate > k ? d->hp.intermediate : k;
}

size_t ak_dec_batch_rows(const void *impl)
{
    const ak_dec *d = impl;
    /* about 16 MiB of activations, as the encoder */
    size_t rows = ((size_t)16 << 20) / (row_floats(d) * sizeof(float));
    return rows < 64 ? 64 : rows;
}

size_t ak_dec_scratch_bytes(const void *impl, size_t rows, size_t max_len, int nt)
{
    const ak_dec *d = impl;
    return rows * (row_floats(d) * sizeof(float) + 16) +
           (1 + (size_t)d->two_ropes) * max_len * d->hd * sizeof(float) +
           d->hp.n_layers * 8 + 16 * 64 +
           ak_fwd_scratch_bytes(d->prec, rows, max_len, d->hd, kmax_of(d), nt);
}

typedef struct dec_ctx {
    const ak_dec *d;
    ak_fwd f;
    const ak_seqs *s;
    float *rope;               /* cos / sin of positions [0, max_len) */
    float *rope_l;             /* the same for the local layers (= rope if one base) */
    float *x, *h, *qkv, *ctx, *g, *u;
    ak_att_layout att, att_l;  /* global and local layers */
} dec_ctx;

/* Rows [r0, r1): the token embeddings into x, then h = RMSNorm(x) of layer 0
 * (or the final norm for a model without layers). */
static void embed_rows(const dec_ctx *c, size_t r0, size_t r1)
{
    const ak_dec *d = c->d;
    const size_t H = d->hp.hidden;
    size_t t = ak_fwd_seq_of(&c->f, c->s, r0);
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->f.row0[t] + c->s->lens[t])
            t++;
        float *x = c->x + r * H;
        ak_table_row(&d->word, (size_t)c->s->ids[t][r - c->f.row0[t]], x);
        if (d->escale != 0)
            for (size_t i = 0; i < H; i++)
                x[i] *= d->escale;
    }
    const float *g = d->hp.n_layers ? d->layers[0].ln1 : d->norm;
    if (r1 > r0)
        c->f.ops->rmsnorm(c->h + r0 * H, c->x + r0 * H, NULL, r1 - r0, H, H, g, d->hp.ln_eps);
}

/* Rows [r0, r1) of layer y's q and k: per-head RMSNorm (q_norm, k_norm),
 * then RoPE at each token's position in its sequence. */
static void qk_rows(const dec_ctx *c, const dec_layer *y, size_t r0, size_t r1)
{
    const ak_dec *d = c->d;
    const size_t ld = qkv_rows(d), hd = d->hd, nq = d->hp.n_heads, nkv = d->hp.n_kv_heads;
    size_t t = ak_fwd_seq_of(&c->f, c->s, r0);
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->f.row0[t] + c->s->lens[t])
            t++;
        float *q = c->qkv + r * ld, *k = q + d->qdim;
        const float *tab = y->local ? c->rope_l : c->rope;
        const ak_rope *rp = y->local && d->two_ropes ? &d->rope_local : &d->rope;
        const float *cs = tab ? tab + (r - c->f.row0[t]) * hd : NULL;
        for (size_t hh = 0; hh < nq + nkv; hh++) {
            float *v = hh < nq ? q + hh * hd : k + (hh - nq) * hd;
            const float *gn = hh < nq ? y->qn : y->kn;
            if (gn)
                c->f.ops->rmsnorm(v, v, NULL, 1, hd, hd, gn, d->hp.ln_eps);
            if (cs)
                ak_rope_apply(rp, cs, v);
        }
    }
}

/* Layer l by thread tid: the steps separated by barriers.  On entry h holds
 * RMSNorm(x) of the layer's input norm; on exit that of the next layer (the
 * final norm after the last). */
static void layer_run(dec_ctx *c, size_t l, int tid)
{
    const ak_dec *d = c->d;
    const dec_layer *y = &d->layers[l];
    const ak_fwd *f = &c->f;
    const size_t H = d->hp.hidden, I = d->hp.intermediate;
    const float eps = d->hp.ln_eps;
    const float *next_g = l + 1 < d->hp.n_layers ? d->layers[l + 1].ln1 : d->norm;
    size_t n0, n1, r0, r1;
    ak_split_rows(f, f->rows, tid, &r0, &r1);

    ak_split_cols(f, qkv_rows(d), tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->qkv, c->h, c->qkv, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    qk_rows(c, y, r0, r1);
    ak_pool_barrier(f->pool, f->nt);
    ak_attend_layer(f, tid, c->s, l, y->local ? &c->att_l : &c->att, c->qkv, c->ctx);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->o, c->ctx, c->h, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    if (r1 > r0 && y->pa)   /* Gemma: the attention output normed first */
        f->ops->rmsnorm(c->h + r0 * H, c->h + r0 * H, NULL, r1 - r0, H, H, y->pa, eps);
    if (r1 > r0)   /* x = x + attention; h = RMSNorm(x) */
        f->ops->rmsnorm(c->h + r0 * H, c->x + r0 * H, c->h + r0 * H, r1 - r0, H, H, y->ln2,
                        eps);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, I, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->gate, c->h, c->g, n0, n1);
    ak_lin_cols(f, tid, &y->up, c->h, c->u, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    for (size_t r = r0; r < r1; r++)
        f->ops->gate(c->g + r * I, c->g + r * I, c->u + r * I, I, d->hp.act);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->down, c->g, c->h, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    if (r1 > r0 && y->pm)   /* Gemma: the MLP output normed first */
        f->ops->rmsnorm(c->h + r0 * H, c->h + r0 * H, NULL, r1 - r0, H, H, y->pm, eps);
    if (r1 > r0)   /* x = x + MLP; h = RMSNorm(x) of what comes next */
        f->ops->rmsnorm(c->h + r0 * H, c->x + r0 * H, c->h + r0 * H, r1 - r0, H, H, next_g,
                        eps);
    ak_pool_barrier(f->pool, f->nt);
}

/* The whole forward, run by each of nt threads (SPMD). */
static void dec_run(void *arg, int tid, int nt)
{
    dec_ctx *c = arg;
    (void)nt;
    size_t r0, r1;
    if (c->rope) {
        ak_split_rows(&c->f, c->s->max_len, tid, &r0, &r1);
        ak_rope_table(&c->d->rope, r0, r1, c->rope);
        if (c->d->two_ropes)
            ak_rope_table(&c->d->rope_local, r0, r1, c->rope_l);
    }
    ak_split_rows(&c->f, c->f.rows, tid, &r0, &r1);
    embed_rows(c, r0, r1);
    ak_pool_barrier(c->f.pool, c->f.nt);
    for (size_t l = 0; l < c->d->hp.n_layers; l++)
        layer_run(c, l, tid);
}

#define ARENA_FLOATS(ar, n) ((float *)ak_arena_alloc((ar), (n) * sizeof(float)))

akidb_status ak_dec_forward(const void *impl, const ak_seqs *s, ak_pool *pool, int nt,
                            ak_arena *ar, float **hidden)
{
    const ak_dec *d = impl;
    const ak_hparams *hp = &d->hp;
    const size_t H = hp->hidden, I = hp->intermediate, rows = s->rows;
    dec_ctx c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.s = s;
    c.rope = hp->rope_theta > 0 ? ARENA_FLOATS(ar, ak_rope_table_floats(&d->rope, s->max_len))
                                : NULL;
    c.rope_l = d->two_ropes ? ARENA_FLOATS(ar, ak_rope_table_floats(&d->rope, s->max_len))
                            : c.rope;
    c.x = ARENA_FLOATS(ar, rows * H);
    c.h = ARENA_FLOATS(ar, rows * H);
    c.qkv = ARENA_FLOATS(ar, rows * qkv_rows(d));
    c.ctx = ARENA_FLOATS(ar, rows * d->qdim);
    c.g = ARENA_FLOATS(ar, rows * I);
    c.u = ARENA_FLOATS(ar, rows * I);
    if ((hp->rope_theta > 0 && (!c.rope || !c.rope_l)) || !c.x || !c.h ||
        !c.qkv || !c.ctx || !c.g || !c.u)
        return ak_fail(AKIDB_ENOMEM, "out of memory for the activations of %zu tokens", rows);
    akidb_status st = ak_fwd_begin(&c.f, d->prec, s, hp->n_layers, d->hd, kmax_of(d), pool, nt,
                                   ar);
    if (st != AKIDB_OK)
        return st;
    c.att = (ak_att_layout){ .n_heads = hp->n_heads, .n_kv_heads = hp->n_kv_heads,
                             .hd = d->hd, .ld = qkv_rows(d), .q_off = 0, .k_off = d->qdim,
                             .v_off = d->qdim + d->kvdim, .ldc = d->qdim,
                             .scale = hp->attn_scale > 0 ? hp->attn_scale
                                                         : (float)(1.0 / sqrt((double)d->hd)),
                             .mask = { .causal = hp->causal, .window = 0 } };
    c.att_l = c.att;
    c.att_l.mask.window = hp->window;
    ak_pool_run(c.f.pool, c.f.nt, dec_run, &c);
    *hidden = c.h;
    return AKIDB_OK;
}
