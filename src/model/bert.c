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
#include <stdio.h>
#include <string.h>

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

void ak_bert_free(ak_bert *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n_owned; i++)
        ak_free(b->owned[i]);
    ak_free(b->owned);
    ak_free(b->layers);
    ak_st_set_close(&b->weights);
    memset(b, 0, sizeof *b);
}

akidb_status ak_bert_load(const char *dir, const ak_bert_config *cfg, ak_bert *b)
{
    memset(b, 0, sizeof *b);
    b->cfg = *cfg;
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
    return AKIDB_OK;
fail:
    ak_bert_free(b);
    return st;
}

/* ---- forward ------------------------------------------------------------ */

size_t ak_bert_scratch_bytes(const ak_bert *b, size_t s)
{
    const ak_bert_config *c = &b->cfg;
    size_t floats = s * c->hidden * 6 + s * c->intermediate +
                    ak_attention_scratch(s, c->hidden / c->n_heads);
    return floats * sizeof(float) + 16 * 64;
}

#define ARENA_FLOATS(ar, n) ((float *)ak_arena_alloc((ar), (n) * sizeof(float)))

akidb_status ak_bert_forward(const ak_bert *b, const int32_t *ids, size_t s,
                             ak_arena *ar, float **hidden_out)
{
    const ak_bert_config *c = &b->cfg;
    const size_t H = c->hidden, I = c->intermediate, nh = c->n_heads, hd = H / nh;
    AK_ASSERT(s >= 1 && s <= c->max_positions);
    float *x = ARENA_FLOATS(ar, s * H), *q = ARENA_FLOATS(ar, s * H),
          *k = ARENA_FLOATS(ar, s * H), *v = ARENA_FLOATS(ar, s * H),
          *ctx = ARENA_FLOATS(ar, s * H), *h1 = ARENA_FLOATS(ar, s * H),
          *inter = ARENA_FLOATS(ar, s * I),
          *scr = ARENA_FLOATS(ar, ak_attention_scratch(s, hd));
    if (!x || !q || !k || !v || !ctx || !h1 || !inter || !scr)
        return ak_fail(AKIDB_ENOMEM, "out of memory for the activations of %zu tokens", s);

    for (size_t i = 0; i < s; i++) {
        AK_ASSERT(ids[i] >= 0 && (size_t)ids[i] < c->vocab);
        const float *we = b->word + (size_t)ids[i] * H, *pe = b->pos + i * H;
        float *xi = x + i * H;
        for (size_t j = 0; j < H; j++)
            xi[j] = (we[j] + b->type[j]) + pe[j];
    }
    ak_layernorm(x, s, H, H, b->emb_ln_g, b->emb_ln_b, c->ln_eps);

    const ak_kernels *kt = ak_kernels_get();
    const float scale = (float)(1.0 / sqrt((double)hd));
    for (size_t l = 0; l < c->n_layers; l++) {
        const ak_bert_layer *y = &b->layers[l];
        kt->gemm_nt(s, H, H, x, H, y->wq, H, y->bq, q, H);
        kt->gemm_nt(s, H, H, x, H, y->wk, H, y->bk, k, H);
        kt->gemm_nt(s, H, H, x, H, y->wv, H, y->bv, v, H);
        ak_attention(s, nh, hd, scale, q, k, v, H, ctx, H, scr);
        kt->gemm_nt(s, H, H, ctx, H, y->wo, H, y->bo, h1, H);
        ak_add_layernorm(h1, x, s, H, H, y->ln1_g, y->ln1_b, c->ln_eps);
        kt->gemm_nt(s, I, H, h1, H, y->wi, H, y->bi, inter, I);
        ak_activation(inter, s * I, c->act);
        kt->gemm_nt(s, H, I, inter, I, y->wout, I, y->bout, x, H);
        ak_add_layernorm(x, h1, s, H, H, y->ln2_g, y->ln2_b, c->ln_eps);
    }
    if (hidden_out)
        *hidden_out = x;
    return AKIDB_OK;
}

akidb_status ak_bert_embed(const ak_bert *b, const int32_t *ids, size_t s,
                           akidb_pooling pooling, int normalize, ak_arena *ar,
                           float *out)
{
    float *x = NULL;
    akidb_status st = ak_bert_forward(b, ids, s, ar, &x);
    if (st != AKIDB_OK)
        return st;
    const size_t H = b->cfg.hidden;
    switch (pooling) {
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
        double div = pooling == AKIDB_POOL_MEAN_SQRT_LEN ? sqrt((double)s) : (double)s;
        for (size_t j = 0; j < H; j++) {
            double sum = 0.0;
            for (size_t i = 0; i < s; i++)
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
    return AKIDB_OK;
}
