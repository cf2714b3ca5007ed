/*
 * blocks.c - the building blocks every model family shares (see blocks.h):
 * weight lookup, packed linear layers, the forward context and its
 * attention, pooling, and the batch driver around a family's forward.
 *
 * Why here and not per family: these are where the speed and the exactness
 * live (prepacked GEMM panels, bf16/int8 modes, one arena per call, threads
 * that split either the texts or the operations), and a copy per family
 * would drift.  A family's forward composes them.
 */
#include "model/blocks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* ---- weights ---------------------------------------------------------------- */

akidb_status ak_weights_open(ak_weights *w, const char *dir, const char *prefix,
                             size_t max_owned)
{
    memset(w, 0, sizeof *w);
    w->dir = dir;
    w->prefix = prefix;
    akidb_status st = ak_st_set_open(dir, &w->set);
    if (st != AKIDB_OK)
        return st;
    w->cap = max_owned;
    w->owned = ak_calloc(max_owned ? max_owned : 1, sizeof *w->owned);
    w->src = ak_calloc(max_owned ? max_owned : 1, sizeof *w->src);
    if (!w->owned || !w->src) {
        ak_free(w->owned);
        ak_free(w->src);
        ak_st_set_close(&w->set);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    }
    return AKIDB_OK;
}

/* Finds name under each accepted spelling: bare, prefixed, and with
 * LayerNorm.gamma/beta (TensorFlow-converted checkpoints) for
 * LayerNorm.weight/bias. */
static const ak_st_tensor *find_tensor(const ak_weights *w, const char *name,
                                       const ak_st_file **f)
{
    char cand[4][256];
    int nc = 0;
    const char *pre = w->prefix ? w->prefix : "";
    snprintf(cand[nc++], sizeof cand[0], "%s", name);
    if (*pre)
        snprintf(cand[nc++], sizeof cand[0], "%s%s", pre, name);
    size_t n = strlen(name);
    const char *alt = NULL;
    if (n > 16 && strcmp(name + n - 16, "LayerNorm.weight") == 0)
        alt = "gamma";
    else if (n > 14 && strcmp(name + n - 14, "LayerNorm.bias") == 0)
        alt = "beta";
    if (alt) {
        int base = (int)(strrchr(name, '.') - name);
        snprintf(cand[nc++], sizeof cand[0], "%.*s.%s", base, name, alt);
        if (*pre)
            snprintf(cand[nc++], sizeof cand[0], "%s%.*s.%s", pre, base, name, alt);
    }
    const ak_st_tensor *t = NULL;
    for (int i = 0; i < nc && !t; i++)
        t = ak_st_set_find(&w->set, cand[i], f);
    return t;
}

static void shape_str(char *buf, size_t cap, const size_t *shape, int nd)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < nd && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%zu", i ? ", " : "", shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* Tensor name of shape [d0] (d1 == 0) or [d0, d1], with its file. */
static akidb_status lookup(const ak_weights *w, const char *name, size_t d0, size_t d1,
                           const ak_st_tensor **tp, const ak_st_file **fp)
{
    const ak_st_file *f = NULL;
    const ak_st_tensor *t = find_tensor(w, name, &f);
    if (!t) {
        if (w->prefix && *w->prefix)
            return ak_fail(AKIDB_EFORMAT, "%s: weights lack tensor '%s' (also tried '%s%s')",
                           w->dir, name, w->prefix, name);
        return ak_fail(AKIDB_EFORMAT, "%s: weights lack tensor '%s'", w->dir, name);
    }
    int want_nd = d1 ? 2 : 1;
    if (t->ndim != want_nd || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[128], want[64];
        size_t ws[2] = { d0, d1 };
        shape_str(got, sizeof got, t->shape, t->ndim);
        shape_str(want, sizeof want, ws, want_nd);
        return ak_fail(AKIDB_EDIM, "%s: tensor '%s': shape %s, but config.json implies %s",
                       f->path ? f->path : w->dir, t->name, got, want);
    }
    *tp = t;
    *fp = f;
    return AKIDB_OK;
}

akidb_status ak_weights_get(ak_weights *w, const char *name, size_t d0, size_t d1,
                            const float **out)
{
    const ak_st_file *f = NULL;
    const ak_st_tensor *t = NULL;
    akidb_status lst = lookup(w, name, d0, d1, &t, &f);
    if (lst != AKIDB_OK)
        return lst;
    float *owned = NULL;
    akidb_status st = ak_st_get_f32(f->path ? f->path : w->dir, t, out, &owned);
    if (st != AKIDB_OK)
        return st;
    if (owned) {
        AK_ASSERT(w->n_owned < w->cap);
        w->src[w->n_owned] = t->data;
        w->owned[w->n_owned++] = owned;
    }
    return AKIDB_OK;
}

ak_dtype ak_weights_dtype(const ak_weights *w, const char *name)
{
    const ak_st_tensor *t = find_tensor(w, name, NULL);
    return t ? t->dtype : AK_DT_F32;
}

akidb_status ak_weights_table(ak_weights *w, const char *name, size_t d0, size_t d1,
                              ak_table *out)
{
    const ak_st_file *f = NULL;
    const ak_st_tensor *t = NULL;
    akidb_status st = lookup(w, name, d0, d1, &t, &f);
    if (st != AKIDB_OK)
        return st;
    if (t->dtype != AK_DT_F32 && t->dtype != AK_DT_F16 && t->dtype != AK_DT_BF16 &&
        t->dtype != AK_DT_F64)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: tensor '%s': dtype %s cannot be used as float weights",
                       f->path ? f->path : w->dir, t->name, ak_dtype_name(t->dtype));
    out->data = t->data;
    out->dtype = t->dtype;
    out->rows = d0;
    out->cols = d1 ? d1 : 1;
    return AKIDB_OK;
}

void ak_table_row(const ak_table *t, size_t r, float *dst)
{
    AK_ASSERT(r < t->rows);
    const size_t esz = ak_dtype_size(t->dtype);
    const ak_st_tensor row = { .name = (char *)"row", .dtype = t->dtype, .ndim = 1,
                               .shape = { t->cols }, .numel = t->cols,
                               .data = t->data + r * t->cols * esz };
    akidb_status st = ak_st_to_f32("table", &row, dst);   /* float dtypes: never fails */
    AK_ASSERT(st == AKIDB_OK);
}

void ak_weights_drop(ak_weights *w, const float *p)
{
    const void *data = p;   /* a view into the mapping, unless a copy */
    for (size_t i = 0; i < w->n_owned; i++) {
        if (w->owned[i] == p) {
            data = w->src[i];
            ak_free(w->owned[i]);
            w->owned[i] = w->owned[--w->n_owned];
            w->src[i] = w->src[w->n_owned];
            break;
        }
    }
    ak_st_set_release(&w->set, data);
}

void ak_weights_release(ak_weights *w)
{
    for (size_t f = 0; f < w->set.n_files; f++) {
        ak_mmap *m = &w->set.files[f].map;
        if (m->data && m->size)
            (void)madvise(m->data, m->size, MADV_DONTNEED);
    }
}

void ak_weights_close(ak_weights *w)
{
    for (size_t i = 0; i < w->n_owned; i++)
        ak_free(w->owned[i]);
    ak_free(w->owned);
    ak_free(w->src);
    ak_st_set_close(&w->set);
    memset(w, 0, sizeof *w);
}

/* ---- packed linear layers ----------------------------------------------------- */

static size_t up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

size_t ak_lin_bytes(int prec, size_t n, size_t k)
{
    if (prec == 1 || prec == AK_PREC_W16)
        return up(ak_pack_bf16_elems(n, k) * sizeof(uint16_t), 64);
    if (prec == 2)   /* weights, then scales and column sums per padded column */
        return up(ak_pack_i8_bytes(n, k), 64) + up(2 * up(n, AK_PANEL) * sizeof(float), 64);
    return up(ak_pack_floats(n, k) * sizeof(float), 64);
}

void ak_lin_pack(ak_lin *l, int prec, size_t n, size_t k, const float *w, void *mem)
{
    l->n = n;
    l->k = k;
    l->p = NULL;
    l->h = NULL;
    memset(&l->q, 0, sizeof l->q);
    if (prec == 1 || prec == AK_PREC_W16) {
        ak_pack_nt_bf16(n, k, w, k, mem);
        l->h = mem;
    } else if (prec == 2) {
        int8_t *e = mem;
        float *s = (float *)(e + up(ak_pack_i8_bytes(n, k), 64));
        int32_t *cs = (int32_t *)(s + up(n, AK_PANEL));
        ak_pack_nt_i8(n, k, w, k, e, s, cs);
        l->q.w = e;
        l->q.s = s;
        l->q.cs = cs;
    } else {
        ak_pack_nt(n, k, w, k, mem);
        l->p = mem;
    }
}

/* ---- forward context ------------------------------------------------------------ */

static size_t att_floats(int prec, size_t max_len, size_t hd)
{
    size_t att = ak_attention_scratch(max_len, hd);
    if (prec && prec != AK_PREC_W16) {
        size_t ah = ak_attention_scratch_bf16(max_len, hd);
        att = ah > att ? ah : att;
    }
    return att;
}

static size_t xb_bytes(int prec, size_t rows, size_t kmax)
{
    if (prec == 1)
        return rows * ((kmax + 1) & ~(size_t)1) * sizeof(uint16_t);
    return prec == 2 ? ak_gemm_i8_scratch(rows, kmax) : 0;
}

size_t ak_fwd_scratch_bytes(int prec, size_t rows, size_t max_len, size_t hd, size_t kmax,
                            int nt)
{
    size_t per = up(att_floats(prec, max_len, hd) * sizeof(float), 64) +
                 up(xb_bytes(prec, rows, kmax), 64) + 128;
    return (size_t)nt * per + 256;
}

static akidb_status fwd_init(ak_fwd *f, int prec, size_t rows, size_t max_len, size_t hd,
                             size_t kmax, ak_pool *pool, int nt, ak_arena *ar)
{
    memset(f, 0, sizeof *f);
    const ak_kernels *kt = ak_kernels_get();
    f->ops = kt->ops;
    f->pool = nt > 1 ? pool : NULL;
    f->nt = nt;
    f->rows = rows;
    size_t att = att_floats(prec, max_len, hd);
    f->att = ak_arena_alloc(ar, (size_t)nt * sizeof *f->att);
    if (!f->att)
        return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", rows);
    for (int t = 0; t < nt; t++)
        if (!(f->att[t] = ak_arena_alloc(ar, att * sizeof(float))))
            return ak_fail(AKIDB_ENOMEM, "out of memory for the attention of %zu tokens",
                           max_len);
    if (prec == AK_PREC_W16) {   /* f32 arithmetic: no scratch, f32 attention */
        f->gemm_h = ak_gemm_w16_for(kt);
    } else if (prec) {
        f->att_h = ak_gemm_bf16_for(kt);
        f->gemm_h = prec == 1 ? ak_gemm_bf16_for(kt) : NULL;
        f->gemm_q = prec == 2 ? ak_gemm_i8_for(kt) : NULL;
        f->xb = ak_arena_alloc(ar, (size_t)nt * sizeof *f->xb);
        if (!f->xb)
            return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", rows);
        for (int t = 0; t < nt; t++)
            if (!(f->xb[t] = ak_arena_alloc(ar, xb_bytes(prec, rows, kmax))))
                return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", rows);
    }
    return AKIDB_OK;
}

akidb_status ak_fwd_begin(ak_fwd *f, int prec, const ak_seqs *s, size_t n_layers, size_t hd,
                          size_t kmax, ak_pool *pool, int nt, ak_arena *ar)
{
    if (nt > ak_pool_size(pool))
        nt = ak_pool_size(pool);
    if (nt < 1)
        nt = 1;
    size_t *row0 = ak_arena_alloc(ar, (s->n ? s->n : 1) * sizeof *row0);
    _Atomic size_t *next = ak_arena_alloc(ar, (n_layers ? n_layers : 1) * sizeof *next);
    if (!row0 || !next)
        return ak_fail(AKIDB_ENOMEM, "out of memory for %zu tokens", s->rows);
    akidb_status st = fwd_init(f, prec, s->rows, s->max_len, hd, kmax, pool, nt, ar);
    if (st != AKIDB_OK)
        return st;
    size_t r = 0;
    for (size_t i = 0; i < s->n; i++) {
        row0[i] = r;
        r += s->lens[i];
    }
    AK_ASSERT(r == s->rows);
    for (size_t l = 0; l < n_layers; l++)
        atomic_init(&next[l], 0);
    f->row0 = row0;
    f->next = next;
    return AKIDB_OK;
}

size_t ak_fwd_seq_of(const ak_fwd *f, const ak_seqs *s, size_t r)
{
    size_t lo = 0, hi = s->n;   /* the last sequence starting at or before r */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->row0[mid] <= r)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void ak_split_cols(const ak_fwd *f, size_t n, int tid, size_t *n0, size_t *n1)
{
    /* whole micro-tiles, and whole AK_PANEL panels: the bf16 and int8 GEMMs
     * start a column range on a panel (the scalar path's tile is 8 wide) */
    size_t nr = (f->ops->nr + AK_PANEL - 1) / AK_PANEL * AK_PANEL, units = (n + nr - 1) / nr;
    size_t u0 = units * (size_t)tid / (size_t)f->nt,
           u1 = units * (size_t)(tid + 1) / (size_t)f->nt;
    *n0 = u0 * nr;
    *n1 = u1 * nr < n ? u1 * nr : n;
}

void ak_split_rows(const ak_fwd *f, size_t rows, int tid, size_t *r0, size_t *r1)
{
    *r0 = rows * (size_t)tid / (size_t)f->nt;
    *r1 = rows * (size_t)(tid + 1) / (size_t)f->nt;
}

void ak_lin_cols(const ak_fwd *f, int tid, const ak_lin *l, const float *x, float *y,
                 size_t n0, size_t n1)
{
    const size_t n = l->n, k = l->k;
    if (l->q.w)
        f->gemm_q(f->rows, n, k, x, k, l->q.w, l->q.s, l->q.cs, l->bias, y, n, n0, n1,
                  f->xb[tid]);
    else if (l->h)
        f->gemm_h(f->rows, n, k, x, k, l->h, l->bias, y, n, n0, n1,
                  f->xb ? (uint16_t *)f->xb[tid] : NULL);
    else
        f->ops->gemm_p(f->rows, n, k, x, k, l->p, l->bias, y, n, n0, n1);
}

void ak_attend(const ak_fwd *f, int tid, size_t s, size_t hd, float scale, const float *q,
               const float *k, const float *v, size_t ld, float *ctx, size_t ldc)
{
    if (f->att_h)   /* reduced precision: both products in bf16 */
        ak_attention_head_bf16(f->ops, f->att_h, s, hd, scale, q, k, v, ld, ctx, ldc,
                               f->att[tid]);
    else
        ak_attention_head(f->ops, s, hd, scale, q, k, v, ld, ctx, ldc, f->att[tid]);
}

void ak_attend_layer(const ak_fwd *f, int tid, const ak_seqs *s, size_t layer,
                     const ak_att_layout *a, const float *qkv, float *ctx)
{
    const size_t nh = a->n_heads, rep = nh / a->n_kv_heads, tasks = s->n * nh;
    _Atomic size_t *next = &f->next[layer];
    for (size_t t = atomic_fetch_add(next, 1); t < tasks; t = atomic_fetch_add(next, 1)) {
        size_t i = t / nh, h = t % nh, g = h / rep;
        const float *base = qkv + f->row0[i] * a->ld;
        ak_attention_masked(f->ops, f->att_h, &a->mask, s->lens[i], a->hd, a->scale,
                            base + a->q_off + h * a->hd, base + a->k_off + g * a->hd,
                            base + a->v_off + g * a->hd, a->ld,
                            ctx + f->row0[i] * a->ldc + h * a->hd, a->ldc, f->att[tid]);
    }
}

/* ---- pooling ------------------------------------------------------------------- */

void ak_pool_seq_skip(const float *x, size_t s, size_t H, akidb_pooling pooling,
                      size_t skip, int normalize, float *out)
{
    /* rows [a, s) are pooled: sentence-transformers masks the prompt's
     * tokens out (attention_mask 0), as it masks padding */
    const size_t a = skip < s ? skip : s;
    switch (pooling) {
    case AKIDB_POOL_CLS:   /* the first token, masked or not */
        memcpy(out, x, H * sizeof *out);
        break;
    case AKIDB_POOL_LAST_TOKEN:   /* decoders: the only token that saw them all */
        if (a < s)
            memcpy(out, x + (s - 1) * H, H * sizeof *out);
        else
            memset(out, 0, H * sizeof *out);   /* every token masked: zeros */
        break;
    case AKIDB_POOL_MAX:
        if (a == s) {   /* every token masked: the -1e9 they are set to */
            for (size_t j = 0; j < H; j++)
                out[j] = -1e9f;
            break;
        }
        memcpy(out, x + a * H, H * sizeof *out);
        for (size_t i = a + 1; i < s; i++)
            for (size_t j = 0; j < H; j++)
                out[j] = x[i * H + j] > out[j] ? x[i * H + j] : out[j];
        break;
    case AKIDB_POOL_WEIGHTED_MEAN: {   /* token i (from 0) weighs i + 1 */
        double wsum = 0.0;
        for (size_t i = a; i < s; i++)
            wsum += (double)(i + 1);
        double den = wsum > 1e-9 ? wsum : 1e-9;
        for (size_t j = 0; j < H; j++) {
            double sum = 0.0;
            for (size_t i = a; i < s; i++)
                sum += (double)(i + 1) * x[i * H + j];
            out[j] = (float)(sum / den);
        }
        break;
    }
    case AKIDB_POOL_MEAN:
    case AKIDB_POOL_MEAN_SQRT_LEN:
    default: {
        double cnt = (double)(s - a) > 1e-9 ? (double)(s - a) : 1e-9;   /* clamp(min=1e-9) */
        double div = pooling == AKIDB_POOL_MEAN_SQRT_LEN ? sqrt(cnt) : cnt;
        for (size_t j = 0; j < H; j++) {
            double sum = 0.0;
            for (size_t i = a; i < s; i++)
                sum += x[i * H + j];
            out[j] = (float)(sum / div);
        }
        break;
    }
    }
    if (normalize) {
        double nn = 0.0;
        for (size_t j = 0; j < H; j++)
            nn += (double)out[j] * out[j];
        double norm = sqrt(nn);
        double den = norm > 1e-12 ? norm : 1e-12;   /* F.normalize's eps */
        for (size_t j = 0; j < H; j++)
            out[j] = (float)((double)out[j] / den);
    }
}

void ak_pool_seq(const float *x, size_t s, size_t H, akidb_pooling pooling, int normalize,
                 float *out)
{
    ak_pool_seq_skip(x, s, H, pooling, 0, normalize, out);
}

/* ---- the batch driver ------------------------------------------------------------ */

typedef struct model_ref {
    const ak_family *f;
    const void *impl;
    const ak_hparams *hp;
    size_t skip;   /* leading tokens of each sequence left out of pooling */
} model_ref;

/* Sequences [0, n) (token types types[0, n), or NULL) in groups of at most
 * cap rows, each group one forward on nt threads, then pooled. */
static akidb_status embed_groups(const model_ref *m, size_t n, const int32_t *const *ids,
                                 const uint32_t *const *types, const size_t *lens, size_t cap,
                                 akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                                 ak_arena *ar, float *out)
{
    const size_t H = m->hp->hidden;
    size_t i = 0;
    while (i < n) {
        /* the largest group from i whose rows fit (at least one sequence) */
        size_t rows = lens[i], max_len = lens[i], j = i + 1;
        while (j < n && rows + lens[j] <= cap) {
            rows += lens[j];
            max_len = lens[j] > max_len ? lens[j] : max_len;
            j++;
        }
        for (size_t k = i; k < j; k++)
            AK_ASSERT(lens[k] >= 1 && lens[k] <= m->hp->max_tokens);
        ak_seqs s = { j - i, ids + i, lens + i, rows, max_len, types ? types + i : NULL };
        float *hidden = NULL;
        akidb_status st = m->f->forward(m->impl, &s, pool, nt, ar, &hidden);
        if (st == AKIDB_OK) {
            size_t r = 0;
            for (size_t k = i; k < j; k++) {
                ak_pool_seq_skip(hidden + r * H, lens[k], H, pooling, m->skip, normalize,
                                 out + k * H);
                r += lens[k];
            }
        }
        ak_arena_reset(ar);
        if (st != AKIDB_OK)
            return st;
        i = j;
    }
    return AKIDB_OK;
}

/* Data-parallel run: each thread embeds its own contiguous share of the
 * sequences (balanced by tokens) alone, with no synchronisation at all. */
typedef struct dp_ctx {
    const model_ref *m;
    const int32_t *const *ids;
    const uint32_t *const *types;   /* or NULL */
    const size_t *lens;
    size_t cap;
    akidb_pooling pooling;
    int normalize;
    float *out;
    const size_t *bounds;      /* [nt + 1] sequence ranges */
    ak_arena *arenas;          /* [nt] */
    akidb_status *st;          /* [nt] */
    char (*msg)[256];          /* [nt] failure messages */
} dp_ctx;

static void dp_run(void *arg, int tid, int nt)
{
    dp_ctx *c = arg;
    (void)nt;
    size_t a = c->bounds[tid], e = c->bounds[tid + 1];
    c->st[tid] = a < e ? embed_groups(c->m, e - a, c->ids + a, c->types ? c->types + a : NULL,
                                      c->lens + a, c->cap, c->pooling, c->normalize, NULL, 1,
                                      &c->arenas[tid], c->out + a * c->m->hp->hidden)
                       : AKIDB_OK;
    if (c->st[tid] != AKIDB_OK)
        snprintf(c->msg[tid], sizeof c->msg[tid], "%s", akidb_last_error());
}

/* Splits [0, n) into nt contiguous ranges of about equal tokens. */
static void balance(size_t n, const size_t *lens, int nt, size_t *bounds)
{
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
}

static akidb_status embed_parallel(const model_ref *m, size_t n, const int32_t *const *ids,
                                   const uint32_t *const *types, const size_t *lens, size_t cap,
                                   akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                                   float *out)
{
    size_t *bounds = ak_calloc((size_t)nt + 1, sizeof *bounds);
    ak_arena *arenas = ak_calloc((size_t)nt, sizeof *arenas);
    akidb_status *st = ak_calloc((size_t)nt, sizeof *st);
    char (*msg)[256] = ak_calloc((size_t)nt, sizeof *msg);
    akidb_status res = AKIDB_OK;
    if (!bounds || !arenas || !st || !msg) {
        res = ak_fail(AKIDB_ENOMEM, "out of memory");
        goto done;
    }
    balance(n, lens, nt, bounds);
    size_t pcap = cap / (size_t)nt > 64 ? cap / (size_t)nt : 64, P = 0;
    for (size_t i = 0; i < n; i++)   /* the longest text here, not the positions' limit
                                        (32768 for Qwen3: gigabytes of arena) */
        P = lens[i] > P ? lens[i] : P;
    for (int k = 0; k < nt; k++)
        ak_arena_init(&arenas[k], m->f->scratch_bytes(m->impl, pcap + P, P, 1));
    dp_ctx c = { m, ids, types, lens, pcap, pooling, normalize, out, bounds, arenas, st, msg };
    ak_pool_run(pool, nt, dp_run, &c);
    for (int k = 0; k < nt; k++) {
        ak_arena_free(&arenas[k]);
        if (res == AKIDB_OK && st[k] != AKIDB_OK)
            res = ak_fail(st[k], "%s", msg[k]);
    }
done:
    ak_free(bounds);
    ak_free(arenas);
    ak_free(st);
    ak_free(msg);
    return res;
}

akidb_status ak_embed_seqs(const ak_family *f, const void *impl, const ak_hparams *hp,
                           size_t n, const int32_t *const *ids, const size_t *lens,
                           akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                           ak_arena *ar, float *out)
{
    return ak_embed_seqs_typed(f, impl, hp, n, ids, NULL, lens, pooling, normalize, pool, nt,
                               ar, out);
}

akidb_status ak_embed_seqs_typed(const ak_family *f, const void *impl, const ak_hparams *hp,
                                 size_t n, const int32_t *const *ids,
                                 const uint32_t *const *types, const size_t *lens,
                                 akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                                 ak_arena *ar, float *out)
{
    return ak_embed_seqs_skip(f, impl, hp, n, ids, types, lens, 0, pooling, normalize, pool,
                              nt, ar, out);
}

akidb_status ak_embed_seqs_skip(const ak_family *f, const void *impl, const ak_hparams *hp,
                                size_t n, const int32_t *const *ids,
                                const uint32_t *const *types, const size_t *lens, size_t skip,
                                akidb_pooling pooling, int normalize, ak_pool *pool, int nt,
                                ak_arena *ar, float *out)
{
    const model_ref m = { f, impl, hp, skip };
    const size_t cap = f->batch_rows(impl);
    if (nt > ak_pool_size(pool))
        nt = ak_pool_size(pool);
    if (nt < 1)
        nt = 1;
    /* enough sequences for every thread: split the sequences, not the operations */
    if (nt > 1 && n >= 2 * (size_t)nt)
        return embed_parallel(&m, n, ids, types, lens, cap, pooling, normalize, pool, nt, out);
    return embed_groups(&m, n, ids, types, lens, cap, pooling, normalize, pool, nt, ar, out);
}
