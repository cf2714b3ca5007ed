/*
 * bert.c - BERT weights and the eval-mode forward pass with the exact
 * semantics of Hugging Face BertModel, followed by sentence-transformers
 * pooling and optional L2 normalisation.
 *
 * Each text runs at its own length: no padding, hence no attention mask and
 * no wasted work.  token_type_ids are all 0 and position ids 0..S-1, as the
 * sentence-transformers pipeline gives for a single text.  Operation order
 * follows PyTorch's (embeddings: (word + type) + position; residuals added
 * before LayerNorm) so results stay within float rounding of the reference.
 */
#include "model/bert.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* ---- loading ------------------------------------------------------------ */

typedef struct loader {
    const char *dir;
    ak_bert *b;
    size_t owned_cap;
} loader;

/* Looks up name (also "bert."+name, and LayerNorm.gamma/beta for
 * LayerNorm.weight/bias), checks its shape is [d0] (d1 == 0) or [d0, d1],
 * and returns a float view. */
static akidb_status get_w(loader *ld, const char *name, size_t d0, size_t d1,
                          const float **out)
{
    char cand[4][192];
    int nc = 0;
    snprintf(cand[nc++], sizeof cand[0], "%s", name);
    snprintf(cand[nc++], sizeof cand[0], "bert.%s", name);
    size_t n = strlen(name);
    const char *alt = NULL;
    if (n > 16 && strcmp(name + n - 16, "LayerNorm.weight") == 0)
        alt = "gamma";
    else if (n > 14 && strcmp(name + n - 14, "LayerNorm.bias") == 0)
        alt = "beta";
    if (alt) {
        size_t base = (size_t)(strrchr(name, '.') - name);
        snprintf(cand[nc++], sizeof cand[0], "%.*s.%s", (int)base, name, alt);
        snprintf(cand[nc++], sizeof cand[0], "bert.%.*s.%s", (int)base, name, alt);
    }
    const ak_st_tensor *t = NULL;
    const ak_st_file *f = NULL;
    for (int i = 0; i < nc && !t; i++)
        t = ak_st_set_find(&ld->b->weights, cand[i], &f);
    if (!t)
        return ak_fail(AKIDB_EFORMAT, "%s: weights lack tensor '%s' (also tried 'bert.%s')",
                       ld->dir, name, name);
    int want_nd = d1 ? 2 : 1;
    if (t->ndim != want_nd || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[128], want[64];
        size_t gn = 0;
        gn += (size_t)snprintf(got, sizeof got, "[");
        for (int i = 0; i < t->ndim && gn < sizeof got; i++)
            gn += (size_t)snprintf(got + gn, sizeof got - gn, "%s%zu", i ? ", " : "", t->shape[i]);
        if (gn < sizeof got)
            snprintf(got + gn, sizeof got - gn, "]");
        if (d1)
            snprintf(want, sizeof want, "[%zu, %zu]", d0, d1);
        else
            snprintf(want, sizeof want, "[%zu]", d0);
        return ak_fail(AKIDB_EDIM, "%s: tensor '%s': shape %s, but config.json implies %s",
                       f->path ? f->path : ld->dir, t->name, got, want);
    }
    float *owned = NULL;
    akidb_status st = ak_st_get_f32(f->path ? f->path : ld->dir, t, out, &owned);
    if (st != AKIDB_OK)
        return st;
    if (owned) {
        AK_ASSERT(ld->b->n_owned < ld->owned_cap);
        ld->b->owned[ld->b->n_owned++] = owned;
    }
    return AKIDB_OK;
}

/* Frees the converted copy p if the loader made one (the packed copy
 * replaces it). */
static void drop_owned(ak_bert *b, const float *p)
{
    for (size_t i = 0; i < b->n_owned; i++) {
        if (b->owned[i] == p) {
            ak_free(b->owned[i]);
            b->owned[i] = b->owned[--b->n_owned];
            return;
        }
    }
}

/* Packs every layer's matrices into one aligned block (Q, K, V fused into
 * one [3H x H] matrix), then releases what the raw views held: converted
 * copies are freed and the file mappings' pages are dropped (they are clean,
 * so this only lowers the resident size; embeddings and small vectors fault
 * back in on use). */
static akidb_status pack_layers(const char *dir, ak_bert *b)
{
    const size_t H = b->cfg.hidden, I = b->cfg.intermediate, L = b->cfg.n_layers;
    const size_t f_qkv = ak_pack_floats(3 * H, H), f_o = ak_pack_floats(H, H),
                 f_i = ak_pack_floats(I, H), f_out = ak_pack_floats(H, I),
                 f_b = (3 * H + 15) / 16 * 16;
    const size_t h_qkv = ak_pack_bf16_elems(3 * H, H), h_o = ak_pack_bf16_elems(H, H),
                 h_i = ak_pack_bf16_elems(I, H), h_out = ak_pack_bf16_elems(H, I);
    const size_t per = b->bf16 || b->int8 ? f_b : f_qkv + f_o + f_i + f_out + f_b;
    /* int8: bytes of the four matrices, and scales + sums per column */
    const size_t q_qkv = ak_pack_i8_bytes(3 * H, H), q_o = ak_pack_i8_bytes(H, H),
                 q_i = ak_pack_i8_bytes(I, H), q_out = ak_pack_i8_bytes(H, I);
    const size_t per_q = (q_qkv + q_o + q_i + q_out + 63) / 64 * 64;
    const size_t c_qkv = (3 * H + 15) / 16 * 16, c_o = (H + 15) / 16 * 16,
                 c_i = (I + 15) / 16 * 16;
    const size_t per_qs = 2 * (c_qkv + c_o + c_i + c_o);
    if (b->int8) {
        b->packed_q = ak_malloc_aligned(per_q * (L ? L : 1), 64);
        b->packed_qs = ak_malloc_aligned(per_qs * (L ? L : 1) * sizeof(float), 64);
        if (!b->packed_q || !b->packed_qs)
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory packing the weights", dir);
    }
    const size_t per_h = (h_qkv + h_o + h_i + h_out + 31) / 32 * 32;
    size_t bytes, bytes_h = 0;
    if (ak_mul_overflow(per * sizeof(float), L ? L : 1, &bytes) ||
        ak_mul_overflow(per_h * sizeof(uint16_t), L ? L : 1, &bytes_h))
        return ak_fail(AKIDB_ENOMEM, "%s: model too large", dir);
    b->packed = ak_malloc_aligned(bytes, 64);
    if (b->bf16)
        b->packed_h = ak_malloc_aligned(bytes_h, 64);
    float *tmp = ak_malloc(3 * H * H * sizeof *tmp);
    if (!b->packed || !tmp || (b->bf16 && !b->packed_h)) {
        ak_free(tmp);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory packing the weights", dir);
    }
    for (size_t l = 0; l < L; l++) {
        ak_bert_layer *y = &b->layers[l];
        float *d = b->packed + l * per;
        memcpy(tmp, y->wq, H * H * sizeof *tmp);
        memcpy(tmp + H * H, y->wk, H * H * sizeof *tmp);
        memcpy(tmp + 2 * H * H, y->wv, H * H * sizeof *tmp);
        /* the four matrices of the layer, as [rows x cols] row-major */
        const float *src[4] = { tmp, y->wo, y->wi, y->wout };
        const size_t rows[4] = { 3 * H, H, I, H }, cols[4] = { H, H, H, I };
        if (b->int8) {
            int8_t *e = b->packed_q + l * per_q;
            float *sc = b->packed_qs + l * per_qs;
            const size_t bytes_m[4] = { q_qkv, q_o, q_i, q_out }, cn[4] = { c_qkv, c_o, c_i, c_o };
            ak_qmat *qm[4] = { &y->q_qkv, &y->q_o, &y->q_i, &y->q_out };
            for (int t = 0; t < 4; t++) {
                int32_t *cs = (int32_t *)(sc + cn[t]);
                ak_pack_nt_i8(rows[t], cols[t], src[t], cols[t], e, sc, cs);
                qm[t]->w = e;
                qm[t]->s = sc;
                qm[t]->cs = cs;
                e += bytes_m[t];
                sc += 2 * cn[t];
            }
        } else if (b->bf16) {
            uint16_t *e = b->packed_h + l * per_h;
            const uint16_t **dst[4] = { &y->h_qkv, &y->h_o, &y->h_i, &y->h_out };
            for (int t = 0; t < 4; t++) {
                ak_pack_nt_bf16(rows[t], cols[t], src[t], cols[t], e);
                *dst[t] = e;
                e += ak_pack_bf16_elems(rows[t], cols[t]);
            }
        } else {
            const float **dst[4] = { &y->p_qkv, &y->p_o, &y->p_i, &y->p_out };
            for (int t = 0; t < 4; t++) {
                ak_pack_nt(rows[t], cols[t], src[t], cols[t], d);
                *dst[t] = d;
                d += ak_pack_floats(rows[t], cols[t]);
            }
        }
        memcpy(d, y->bq, H * sizeof *d);
        memcpy(d + H, y->bk, H * sizeof *d);
        memcpy(d + 2 * H, y->bv, H * sizeof *d);
        y->b_qkv = d;
        const float *raw[6] = { y->wq, y->wk, y->wv, y->wo, y->wi, y->wout };
        for (int i = 0; i < 6; i++)
            drop_owned(b, raw[i]);
        y->wq = y->wk = y->wv = y->wo = y->wi = y->wout = NULL;
    }
    ak_free(tmp);
    for (size_t f = 0; f < b->weights.n_files; f++) {
        ak_mmap *m = &b->weights.files[f].map;
        if (m->data && m->size)
            (void)madvise(m->data, m->size, MADV_DONTNEED);
    }
    return AKIDB_OK;
}

void ak_bert_free(ak_bert *b)
{
    if (!b)
        return;
    ak_free_aligned(b->packed);
    ak_free_aligned(b->packed_h);
    ak_free_aligned(b->packed_q);
    ak_free_aligned(b->packed_qs);
    for (size_t i = 0; i < b->n_owned; i++)
        ak_free(b->owned[i]);
    ak_free(b->owned);
    ak_free(b->layers);
    ak_st_set_close(&b->weights);
    memset(b, 0, sizeof *b);
}

akidb_status ak_bert_load(const char *dir, const ak_bert_config *cfg, ak_bert *b)
{
    return ak_bert_load_ex(dir, cfg, 0, b);
}

akidb_status ak_bert_load_ex(const char *dir, const ak_bert_config *cfg, int prec,
                             ak_bert *b)
{
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
    b->bf16 = prec == 1;
    b->int8 = prec == 2;
    akidb_status st = ak_st_set_open(dir, &b->weights);
    if (st != AKIDB_OK)
        return st;
    const size_t H = cfg->hidden, I = cfg->intermediate, L = cfg->n_layers;
    loader ld = { dir, b, 5 + 16 * L };
    b->owned = ak_calloc(ld.owned_cap, sizeof *b->owned);
    b->layers = ak_calloc(L, sizeof *b->layers);
    if (!b->owned || !b->layers) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if ((st = get_w(&ld, "embeddings.word_embeddings.weight", cfg->vocab, H, &b->word)) ||
        (st = get_w(&ld, "embeddings.position_embeddings.weight", cfg->max_positions, H, &b->pos)) ||
        (st = get_w(&ld, "embeddings.token_type_embeddings.weight", cfg->type_vocab, H, &b->type)) ||
        (st = get_w(&ld, "embeddings.LayerNorm.weight", H, 0, &b->emb_ln_g)) ||
        (st = get_w(&ld, "embeddings.LayerNorm.bias", H, 0, &b->emb_ln_b)))
        goto fail;
    {
        const ak_st_tensor *t = ak_st_set_find(&b->weights, "embeddings.word_embeddings.weight", NULL);
        if (!t)
            t = ak_st_set_find(&b->weights, "bert.embeddings.word_embeddings.weight", NULL);
        b->dtype = t ? t->dtype : AK_DT_F32;
    }
    for (size_t l = 0; l < L; l++) {
        ak_bert_layer *y = &b->layers[l];
        char nm[160];
#define W_(field, suffix, d0, d1)                                               \
        snprintf(nm, sizeof nm, "encoder.layer.%zu.%s", l, suffix);             \
        if ((st = get_w(&ld, nm, d0, d1, &y->field)) != AKIDB_OK)               \
            goto fail;
        W_(wq, "attention.self.query.weight", H, H)
        W_(bq, "attention.self.query.bias", H, 0)
        W_(wk, "attention.self.key.weight", H, H)
        W_(bk, "attention.self.key.bias", H, 0)
        W_(wv, "attention.self.value.weight", H, H)
        W_(bv, "attention.self.value.bias", H, 0)
        W_(wo, "attention.output.dense.weight", H, H)
        W_(bo, "attention.output.dense.bias", H, 0)
        W_(ln1_g, "attention.output.LayerNorm.weight", H, 0)
        W_(ln1_b, "attention.output.LayerNorm.bias", H, 0)
        W_(wi, "intermediate.dense.weight", I, H)
        W_(bi, "intermediate.dense.bias", I, 0)
        W_(wout, "output.dense.weight", H, I)
        W_(bout, "output.dense.bias", H, 0)
        W_(ln2_g, "output.LayerNorm.weight", H, 0)
        W_(ln2_b, "output.LayerNorm.bias", H, 0)
#undef W_
    }
    if ((st = pack_layers(dir, b)) != AKIDB_OK)
        goto fail;
    return AKIDB_OK;
fail:
    ak_bert_free(b);
    return st;
}

/* ---- forward ------------------------------------------------------------ */

/* Activation floats per token row: x, qkv (3H), ctx, h1, intermediate. */
static size_t row_floats(const ak_bert_config *c)
{
    return 6 * c->hidden + c->intermediate;
}

size_t ak_bert_batch_rows(const ak_bert *b)
{
    /* about 16 MiB of activations: big enough for an efficient GEMM M
     * dimension, small enough for the memory budget */
    size_t rows = ((size_t)16 << 20) / (row_floats(&b->cfg) * sizeof(float));
    return rows < 64 ? 64 : rows;
}

size_t ak_bert_scratch_bytes(const ak_bert *b, size_t s)
{
    const ak_bert_config *c = &b->cfg;
    size_t att = ak_attention_scratch(s, c->hidden / c->n_heads),
           ah = ak_attention_scratch_bf16(s, c->hidden / c->n_heads);
    size_t floats = s * row_floats(c) + (ah > att ? ah : att);
    return floats * sizeof(float) + s * 8 + 16 * 64;
}

typedef struct fwd_ctx {
    const ak_bert *b;
    const ak_ops *ops;
    ak_pool *pool;
    size_t n_texts, rows;               /* texts, total token rows */
    const int32_t *const *ids;
    const size_t *lens, *row0;          /* per text: tokens, first row */
    float *x, *qkv, *ctx, *h1, *inter;  /* activations [rows x ...] */
    float **scratch;                    /* per thread attention scratch */
    _Atomic size_t *next;               /* per layer: next attention task */
    akidb_pooling pooling;
    int normalize;
    float *out;                         /* pooled [n_texts x H] or NULL */
    ak_gemm_bf16_fn gemm_h;             /* bf16 mode: its GEMM */
    ak_gemm_i8_fn gemm_q;               /* int8 mode: its GEMM */
    ak_gemm_bf16_fn att_h;              /* bf16/int8 mode: attention GEMM */
    void **xb;                          /* bf16/int8: per thread converted rows */
} fwd_ctx;

/* Columns [n0, n1) of y [M x n] = x [M x k] * W^T + bias with the packed
 * fp32 weights pf, or the bf16 ones ph when the model runs in bf16. */
static void linear(const fwd_ctx *c, int tid, size_t n, size_t k, const float *x,
                   const float *pf, const uint16_t *ph, const ak_qmat *qm,
                   const float *bias, float *y, size_t n0, size_t n1)
{
    if (qm->w)
        c->gemm_q(c->rows, n, k, x, k, qm->w, qm->s, qm->cs, bias, y, n, n0, n1, c->xb[tid]);
    else if (ph)
        c->gemm_h(c->rows, n, k, x, k, ph, bias, y, n, n0, n1, (uint16_t *)c->xb[tid]);
    else
        c->ops->gemm_p(c->rows, n, k, x, k, pf, bias, y, n, n0, n1);
}

/* Columns [*n0, *n1) of n for thread tid of nt, in whole micro-tiles. */
static void split_cols(const ak_ops *ops, size_t n, int tid, int nt, size_t *n0, size_t *n1)
{
    size_t units = (n + ops->nr - 1) / ops->nr;
    size_t u0 = units * (size_t)tid / (size_t)nt, u1 = units * (size_t)(tid + 1) / (size_t)nt;
    *n0 = u0 * ops->nr;
    *n1 = u1 * ops->nr < n ? u1 * ops->nr : n;
}

static void pool_text(const fwd_ctx *c, size_t t)
{
    const size_t H = c->b->cfg.hidden, s = c->lens[t];
    const float *x = c->x + c->row0[t] * H;
    float *out = c->out + t * H;
    switch (c->pooling) {
    case AKIDB_POOL_CLS:
        memcpy(out, x, H * sizeof *out);
        break;
    case AKIDB_POOL_MAX:
        memcpy(out, x, H * sizeof *out);
        for (size_t i = 1; i < s; i++)
            for (size_t j = 0; j < H; j++)
                out[j] = x[i * H + j] > out[j] ? x[i * H + j] : out[j];
        break;
    case AKIDB_POOL_MEAN:
    case AKIDB_POOL_MEAN_SQRT_LEN:
    default: {
        double div = c->pooling == AKIDB_POOL_MEAN_SQRT_LEN ? sqrt((double)s) : (double)s;
        for (size_t j = 0; j < H; j++) {
            double sum = 0.0;
            for (size_t i = 0; i < s; i++)
                sum += x[i * H + j];
            out[j] = (float)(sum / div);
        }
        break;
    }
    }
    if (c->normalize) {
        double nn = 0.0;
        for (size_t j = 0; j < H; j++)
            nn += (double)out[j] * out[j];
        double norm = sqrt(nn);
        double den = norm > 1e-12 ? norm : 1e-12;   /* F.normalize's eps */
        for (size_t j = 0; j < H; j++)
            out[j] = (float)((double)out[j] / den);
    }
}

/* The whole forward of a group of texts, run by each of nt threads (SPMD):
 * GEMMs split by output columns, attention by (text, head) tasks, row-wise
 * operations by rows, with a barrier between dependent steps. */
static void fwd_run(void *arg, int tid, int nt)
{
    fwd_ctx *c = arg;
    const ak_bert *b = c->b;
    const ak_bert_config *cf = &b->cfg;
    const ak_ops *ops = c->ops;
    const size_t H = cf->hidden, I = cf->intermediate, nh = cf->n_heads, hd = H / nh;
    const size_t M = c->rows;
    const size_t r0 = M * (size_t)tid / (size_t)nt, r1 = M * (size_t)(tid + 1) / (size_t)nt;
    const float scale = (float)(1.0 / sqrt((double)hd));
    size_t n0, n1;

    /* embeddings: (word + type) + position, then LayerNorm, for own rows */
    size_t t = 0;
    while (t + 1 < c->n_texts && c->row0[t + 1] <= r0)
        t++;
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->row0[t] + c->lens[t])
            t++;
        size_t pos = r - c->row0[t];
        const float *we = b->word + (size_t)c->ids[t][pos] * H, *pe = b->pos + pos * H;
        float *xr = c->x + r * H;
        for (size_t j = 0; j < H; j++)
            xr[j] = (we[j] + b->type[j]) + pe[j];
    }
    if (r1 > r0)
        ops->layernorm(c->x + r0 * H, NULL, r1 - r0, H, H, b->emb_ln_g, b->emb_ln_b, cf->ln_eps);
    ak_pool_barrier(c->pool, nt);

    for (size_t l = 0; l < cf->n_layers; l++) {
        const ak_bert_layer *y = &b->layers[l];
        split_cols(ops, 3 * H, tid, nt, &n0, &n1);
        linear(c, tid, 3 * H, H, c->x, y->p_qkv, y->h_qkv, &y->q_qkv, y->b_qkv, c->qkv, n0, n1);
        ak_pool_barrier(c->pool, nt);

        const size_t tasks = c->n_texts * nh;
        for (size_t k = atomic_fetch_add(&c->next[l], 1); k < tasks;
             k = atomic_fetch_add(&c->next[l], 1)) {
            size_t tx = k / nh, h = k % nh;
            const float *q = c->qkv + c->row0[tx] * 3 * H + h * hd;
            if (c->att_h)   /* reduced precision: both products in bf16 */
                ak_attention_head_bf16(ops, c->att_h, c->lens[tx], hd, scale, q, q + H,
                                       q + 2 * H, 3 * H, c->ctx + c->row0[tx] * H + h * hd, H,
                                       c->scratch[tid]);
            else
                ak_attention_head(ops, c->lens[tx], hd, scale, q, q + H, q + 2 * H, 3 * H,
                                  c->ctx + c->row0[tx] * H + h * hd, H, c->scratch[tid]);
        }
        ak_pool_barrier(c->pool, nt);

        split_cols(ops, H, tid, nt, &n0, &n1);
        linear(c, tid, H, H, c->ctx, y->p_o, y->h_o, &y->q_o, y->bo, c->h1, n0, n1);
        ak_pool_barrier(c->pool, nt);
        if (r1 > r0)
            ops->layernorm(c->h1 + r0 * H, c->x + r0 * H, r1 - r0, H, H, y->ln1_g, y->ln1_b,
                           cf->ln_eps);
        ak_pool_barrier(c->pool, nt);

        split_cols(ops, I, tid, nt, &n0, &n1);
        linear(c, tid, I, H, c->h1, y->p_i, y->h_i, &y->q_i, y->bi, c->inter, n0, n1);
        if (n1 > n0)
            for (size_t r = 0; r < M; r++)
                ops->act(c->inter + r * I + n0, n1 - n0, cf->act);
        ak_pool_barrier(c->pool, nt);

        split_cols(ops, H, tid, nt, &n0, &n1);
        linear(c, tid, H, I, c->inter, y->p_out, y->h_out, &y->q_out, y->bout, c->x, n0, n1);
        ak_pool_barrier(c->pool, nt);
        if (r1 > r0)
            ops->layernorm(c->x + r0 * H, c->h1 + r0 * H, r1 - r0, H, H, y->ln2_g, y->ln2_b,
                           cf->ln_eps);
        ak_pool_barrier(c->pool, nt);
    }
    if (c->out)
        for (size_t tx = (size_t)tid; tx < c->n_texts; tx += (size_t)nt)
            pool_text(c, tx);
}

#define ARENA_FLOATS(ar, n) ((float *)ak_arena_alloc((ar), (n) * sizeof(float)))

/* Runs texts [0, n) (rows in total) through the encoder; on success the last
 * hidden state is in c->x and, if out, the pooled vectors in out. */
static akidb_status fwd_group(const ak_bert *b, size_t n, const int32_t *const *ids,
                              const size_t *lens, size_t rows, size_t max_len,
                              akidb_pooling pooling, int normalize, ak_pool *pool,
                              int nt, ak_arena *ar, float *out, float **hidden)
{
    const ak_bert_config *cf = &b->cfg;
    const size_t H = cf->hidden, I = cf->intermediate, hd = H / cf->n_heads;
    if (nt > ak_pool_size(pool))
        nt = ak_pool_size(pool);
    if (nt < 1)
        nt = 1;
    fwd_ctx c;
    memset(&c, 0, sizeof c);
    c.b = b;
    c.ops = ak_kernels_get()->ops;
    c.pool = nt > 1 ? pool : NULL;
    c.n_texts = n;
    c.rows = rows;
    c.ids = ids;
    c.lens = lens;
    c.pooling = pooling;
    c.normalize = normalize;
    c.out = out;
    size_t *row0 = ak_arena_alloc(ar, n * sizeof *row0);
    c.next = ak_arena_alloc(ar, cf->n_layers * sizeof *c.next);
    c.scratch = ak_arena_alloc(ar, (size_t)nt * sizeof *c.scratch);
    c.x = ARENA_FLOATS(ar, rows * H);
    c.qkv = ARENA_FLOATS(ar, rows * 3 * H);
    c.ctx = ARENA_FLOATS(ar, rows * H);
    c.h1 = ARENA_FLOATS(ar, rows * H);
    c.inter = ARENA_FLOATS(ar, rows * I);
    if (!row0 || !c.next || !c.scratch || !c.x || !c.qkv || !c.ctx || !c.h1 || !c.inter)
        return ak_fail(AKIDB_ENOMEM, "out of memory for the activations of %zu tokens", rows);
    size_t att = ak_attention_scratch(max_len, hd);
    if (b->bf16 || b->int8) {
        c.att_h = ak_gemm_bf16_for(ak_kernels_get());
        size_t ah = ak_attention_scratch_bf16(max_len, hd);
        att = ah > att ? ah : att;
    }
    for (int t = 0; t < nt; t++)
        if (!(c.scratch[t] = ARENA_FLOATS(ar, att)))
            return ak_fail(AKIDB_ENOMEM, "out of memory for the attention of %zu tokens",
                           max_len);
    if (b->bf16 || b->int8) {
        c.gemm_h = b->bf16 ? ak_gemm_bf16_for(ak_kernels_get()) : NULL;
        c.gemm_q = b->int8 ? ak_gemm_i8_for(ak_kernels_get()) : NULL;
        c.xb = ak_arena_alloc(ar, (size_t)nt * sizeof *c.xb);
        if (!c.xb)
            return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", rows);
        size_t kmax = H > I ? H : I;
        size_t bytes = b->bf16 ? rows * ((kmax + 1) & ~(size_t)1) * sizeof(uint16_t)
                               : ak_gemm_i8_scratch(rows, kmax);
        for (int t = 0; t < nt; t++)
            if (!(c.xb[t] = ak_arena_alloc(ar, bytes)))
                return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", rows);
    }
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        row0[i] = r;
        r += lens[i];
    }
    AK_ASSERT(r == rows);
    c.row0 = row0;
    for (size_t l = 0; l < cf->n_layers; l++)
        atomic_init(&c.next[l], 0);
    ak_pool_run(c.pool, nt, fwd_run, &c);
    if (hidden)
        *hidden = c.x;
    return AKIDB_OK;
}

/* Texts [0, n) in groups of at most cap rows, each group on nt threads. */
static akidb_status embed_groups(const ak_bert *b, size_t n, const int32_t *const *ids,
                                 const size_t *lens, size_t cap, akidb_pooling pooling,
                                 int normalize, ak_pool *pool, int nt, ak_arena *ar,
                                 float *out)
{
    const size_t H = b->cfg.hidden;
    size_t i = 0;
    while (i < n) {
        /* the largest group from i whose rows fit (at least one text) */
        size_t rows = lens[i], max_len = lens[i], j = i + 1;
        while (j < n && rows + lens[j] <= cap) {
            rows += lens[j];
            max_len = lens[j] > max_len ? lens[j] : max_len;
            j++;
        }
        for (size_t k = i; k < j; k++)
            AK_ASSERT(lens[k] >= 1 && lens[k] <= b->cfg.max_positions);
        akidb_status st = fwd_group(b, j - i, ids + i, lens + i, rows, max_len, pooling,
                                    normalize, pool, nt, ar, out + i * H, NULL);
        ak_arena_reset(ar);
        if (st != AKIDB_OK)
            return st;
        i = j;
    }
    return AKIDB_OK;
}

/* Data-parallel run: each thread embeds its own contiguous share of the
 * texts (balanced by tokens) on its own, with no synchronisation at all. */
typedef struct dp_ctx {
    const ak_bert *b;
    const int32_t *const *ids;
    const size_t *lens;
    size_t cap;
    akidb_pooling pooling;
    int normalize;
    float *out;
    const size_t *bounds;      /* [nt + 1] text ranges */
    ak_arena *arenas;          /* [nt], arenas[0] is the caller's */
    akidb_status *st;          /* [nt] */
    char (*msg)[256];          /* [nt] failure messages */
} dp_ctx;

static void dp_run(void *arg, int tid, int nt)
{
    dp_ctx *c = arg;
    (void)nt;
    size_t a = c->bounds[tid], e = c->bounds[tid + 1];
    c->st[tid] = a < e ? embed_groups(c->b, e - a, c->ids + a, c->lens + a, c->cap, c->pooling,
                                      c->normalize, NULL, 1, &c->arenas[tid],
                                      c->out + a * c->b->cfg.hidden)
                       : AKIDB_OK;
    if (c->st[tid] != AKIDB_OK)
        snprintf(c->msg[tid], sizeof c->msg[tid], "%s", akidb_last_error());
}

akidb_status ak_bert_embed_batch(const ak_bert *b, size_t n, const int32_t *const *ids,
                                 const size_t *lens, akidb_pooling pooling, int normalize,
                                 ak_pool *pool, int nt, ak_arena *ar, float *out)
{
    const size_t cap = ak_bert_batch_rows(b);
    if (nt > ak_pool_size(pool))
        nt = ak_pool_size(pool);
    /* enough texts for every thread: split the texts, not the operations */
    if (nt > 1 && n >= 2 * (size_t)nt) {
        size_t *bounds = ak_calloc((size_t)nt + 1, sizeof *bounds);
        ak_arena *arenas = ak_calloc((size_t)nt, sizeof *arenas);
        akidb_status *st = ak_calloc((size_t)nt, sizeof *st);
        char (*msg)[256] = ak_calloc((size_t)nt, sizeof *msg);
        if (!bounds || !arenas || !st || !msg) {
            ak_free(bounds);
            ak_free(arenas);
            ak_free(st);
            ak_free(msg);
            return ak_fail(AKIDB_ENOMEM, "out of memory");
        }
        size_t total = 0, acc = 0, t = 1;
        for (size_t i = 0; i < n; i++)
            total += lens[i];
        bounds[0] = 0;
        for (size_t i = 0; i < n && t < (size_t)nt; i++) {
            acc += lens[i];
            while (t < (size_t)nt && acc * (size_t)nt >= total * t)
                bounds[t++] = i + 1;
        }
        while (t <= (size_t)nt)
            bounds[t++] = n;
        size_t pcap = cap / (size_t)nt > 64 ? cap / (size_t)nt : 64;
        for (int k = 0; k < nt; k++)
            ak_arena_init(&arenas[k], ak_bert_scratch_bytes(b, pcap + b->cfg.max_positions) +
                          (b->bf16 || b->int8 ? (pcap + b->cfg.max_positions) *
                                     (b->cfg.intermediate + b->cfg.hidden + 4) * 2 : 0));
        dp_ctx c = { b, ids, lens, pcap, pooling, normalize, out, bounds, arenas, st, msg };
        ak_pool_run(pool, nt, dp_run, &c);
        akidb_status res = AKIDB_OK;
        for (int k = 0; k < nt; k++) {
            ak_arena_free(&arenas[k]);
            if (res == AKIDB_OK && st[k] != AKIDB_OK)
                res = ak_fail(st[k], "%s", msg[k]);
        }
        ak_free(bounds);
        ak_free(arenas);
        ak_free(st);
        ak_free(msg);
        return res;
    }
    return embed_groups(b, n, ids, lens, cap, pooling, normalize, pool, nt, ar, out);
}

akidb_status ak_bert_forward(const ak_bert *b, const int32_t *ids, size_t s,
                             ak_arena *ar, float **hidden_out)
{
    AK_ASSERT(s >= 1 && s <= b->cfg.max_positions);
    float *x = NULL;
    akidb_status st = fwd_group(b, 1, &ids, &s, s, s, AKIDB_POOL_MEAN, 0, NULL, 1, ar,
                                NULL, &x);
    if (st == AKIDB_OK && hidden_out)
        *hidden_out = x;
    return st;
}

akidb_status ak_bert_embed(const ak_bert *b, const int32_t *ids, size_t s,
                           akidb_pooling pooling, int normalize, ak_arena *ar,
                           float *out)
{
    AK_ASSERT(s >= 1 && s <= b->cfg.max_positions);
    return fwd_group(b, 1, &ids, &s, s, s, pooling, normalize, NULL, 1, ar, out, NULL);
}
