/*
 * fam_modernbert.c - the ModernBERT family (model_type "modernbert";
 * ModernBertModel, ModernBertForMaskedLM, ...): gte-modernbert-base,
 * modernbert-embed-base and the other embedders fine-tuned from
 * answerdotai/ModernBERT-base / -large.
 *
 * A pre-norm bidirectional encoder with the eval-mode semantics of Hugging
 * Face's ModernBertModel:
 *   x = LayerNorm(tok_embeddings[ids])                   (no position table)
 *   per layer l:  h = attn_norm(x)   (identity in layer 0)
 *                 q, k, v = h Wqkv^T (+ b): one fused [3H x H] matrix
 *                 RoPE on q and k; bidirectional attention, on local layers
 *                 only over keys within local_attention / 2 positions
 *                 x = x + ctx Wo^T (+ b)
 *                 a, g = mlp_norm(x) Wi^T (+ b): [2I x H], input then gate
 *                 x = x + (act(a) * g) Wo^T (+ b)        (GeGLU)
 *   final_norm(x)
 * Layer l is global when l % global_attn_every_n_layers == 0: full
 * attention, RoPE base global_rope_theta; the others are local: a sliding
 * window and base local_rope_theta (null: the global one).  Every
 * LayerNorm has a bias only with norm_bias; the linear layers with
 * attention_bias / mlp_bias.
 *
 * Config: ModernBertConfig's fields and defaults (hidden 768, 22 layers,
 * 12 heads, intermediate 1152, 8192 positions, norm_eps 1e-5, thetas 160000
 * and 10000, local_attention 128, every 3rd layer global, gelu), also the
 * newer layer_types / rope_parameters spellings of the same pattern and
 * bases.  Refused, never approximated: rope_scaling and rope_parameters of
 * any rope_type but "default", a layer_types list that disagrees with
 * global_attn_every_n_layers, a head_dim other than hidden / heads.
 * Tensors: ModernBertModel's names, also under "model." (the *For*
 * classes, whose heads an embedder does not use).
 *
 * Each sequence runs at its own length with positions from 0 (no padding
 * enters attention), all token rows of a forward form one GEMM M
 * dimension, threads split GEMMs by columns, attention by (sequence, head)
 * and row operations by rows: results are bit-identical for every thread
 * count.  The pieces are the shared blocks: ak_lin, ak_attend_layer with an
 * ak_att_mask window, ak_rope (one per base), the kernels' LayerNorm and
 * gate.
 */
#include "model/blocks.h"

#include "model/rope.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- config ------------------------------------------------------------------- */

/* rope_type of the rope object rc ("rope_type", or the older "type"): absent
 * or "default", else EUNSUPPORTED naming it. */
static akidb_status rope_type_default(const ak_cfg *rc)
{
    const char *rt, *ty;
    akidb_status st;
    if ((st = ak_cfg_str(rc, "rope_type", NULL, &rt)) || (st = ak_cfg_str(rc, "type", NULL, &ty)))
        return st;
    const char *t = rt ? rt : ty;
    if (t && strcmp(t, "default") != 0)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: rope_type '%.40s' is not supported (only 'default')",
                       ak_cfg_path(rc), t);
    return AKIDB_OK;
}

/* rope_scaling: null or of the default type.  rope_parameters (the newer
 * spelling): per layer kind {"rope_type": "default", "rope_theta": base},
 * whose bases replace global_rope_theta / local_rope_theta. */
static akidb_status read_rope(const ak_cfg *c, ak_hparams *hp)
{
    static const char *kinds[2] = { "full_attention", "sliding_attention" };
    float *theta[2] = { &hp->rope_theta, &hp->rope_theta_local };
    ak_cfg *rs = NULL, *rp = NULL, *k = NULL;
    akidb_status st = ak_cfg_object(c, "rope_scaling", &rs);
    if (st == AKIDB_OK && rs)
        st = rope_type_default(rs);
    if (st == AKIDB_OK)
        st = ak_cfg_object(c, "rope_parameters", &rp);
    if (st == AKIDB_OK && rp && (ak_cfg_has(rp, "rope_type") || ak_cfg_has(rp, "rope_theta")))
        st = ak_fail(AKIDB_EUNSUPPORTED,
                     "%s: one set of parameters for every layer is not supported (ModernBERT "
                     "keys them by layer kind: full_attention, sliding_attention)",
                     ak_cfg_path(rp));
    for (int i = 0; i < 2 && st == AKIDB_OK && rp; i++) {
        if ((st = ak_cfg_object(rp, kinds[i], &k)) != AKIDB_OK || !k)
            continue;
        if ((st = rope_type_default(k)) == AKIDB_OK)
            st = ak_cfg_float(k, "rope_theta", *theta[i], 1.0, 1e12, theta[i]);
        ak_cfg_close(k);
        k = NULL;
    }
    ak_cfg_close(rs);
    ak_cfg_close(rp);
    return st;
}

/* layer_types, when given, must be the pattern of global_attn_every_n_layers
 * (the attention window follows that number, the rotary base the list). */
static akidb_status check_layer_types(const ak_cfg *c, const ak_hparams *hp)
{
    const char *path = ak_cfg_path(c), *lt;
    if (!ak_cfg_has(c, "layer_types"))
        return AKIDB_OK;
    size_t i = 0;
    for (; (lt = ak_cfg_str_at(c, "layer_types", i)); i++) {
        const char *want = i % hp->global_every == 0 ? "full_attention" : "sliding_attention";
        if (i >= hp->n_layers || strcmp(lt, want) != 0)
            return ak_fail(AKIDB_EUNSUPPORTED,
                           "%s: layer_types[%zu] '%.40s' disagrees with "
                           "global_attn_every_n_layers %zu (want '%s')",
                           path, i, lt, hp->global_every,
                           i < hp->n_layers ? want : "no entry past num_hidden_layers");
    }
    if (i != hp->n_layers)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: layer_types has %zu string entries, num_hidden_layers is %zu", path,
                       i, hp->n_layers);
    return AKIDB_OK;
}

/* Values ModernBERT's modules could not run with, or that AkiDB does not. */
static akidb_status check_values(const ak_cfg *c, const ak_hparams *hp)
{
    const char *path = ak_cfg_path(c);
    akidb_status st;
    long pad = 0, head_dim = 0;
    if ((st = ak_cfg_heads_divide(c, "hidden_size", hp->hidden, "num_attention_heads",
                                  hp->n_heads)) ||
        (st = ak_cfg_int(c, "pad_token_id", 0, 0, (long)hp->vocab - 1, &pad)) ||
        (st = ak_cfg_int(c, "head_dim", 0, 0, 1L << 20, &head_dim)))
        return st;
    const size_t hd = hp->hidden / hp->n_heads;
    if (head_dim && (size_t)head_dim != hd)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: head_dim %ld is not supported (ModernBERT's heads are "
                       "hidden_size / num_attention_heads = %zu wide)", path, head_dim, hd);
    if (hd % 2 != 0 || hd > AK_ROPE_MAX_DIM)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: heads of hidden_size / num_attention_heads = %zu dims (RoPE "
                       "rotates pairs: even, at most %d)", path, hd, AK_ROPE_MAX_DIM);
    return AKIDB_OK;
}

static akidb_status modernbert_config(const ak_cfg *c, ak_hparams *hp)
{
    akidb_status st;
    size_t local = 0;
    if ((st = ak_cfg_size(c, "hidden_size", 768, 1 << 16, &hp->hidden)) ||
        (st = ak_cfg_size(c, "num_hidden_layers", 22, 1024, &hp->n_layers)) ||
        (st = ak_cfg_size(c, "num_attention_heads", 12, 4096, &hp->n_heads)) ||
        (st = ak_cfg_size(c, "intermediate_size", 1152, 1 << 18, &hp->intermediate)) ||
        (st = ak_cfg_size(c, "vocab_size", 50368, (size_t)1 << 24, &hp->vocab)) ||
        (st = ak_cfg_size(c, "max_position_embeddings", 8192, (size_t)1 << 24,
                          &hp->max_positions)) ||
        (st = ak_cfg_size(c, "local_attention", 128, (size_t)1 << 24, &local)) ||
        (st = ak_cfg_size(c, "global_attn_every_n_layers", 3, 1024, &hp->global_every)) ||
        (st = ak_cfg_float(c, "norm_eps", 1e-5, 0.0, 1.0, &hp->ln_eps)) ||
        (st = ak_cfg_float(c, "global_rope_theta", 160000.0, 1.0, 1e12, &hp->rope_theta)) ||
        (st = ak_cfg_bool(c, "norm_bias", 0, &hp->norm_bias)) ||
        (st = ak_cfg_bool(c, "attention_bias", 0, &hp->attn_bias)) ||
        (st = ak_cfg_bool(c, "mlp_bias", 0, &hp->mlp_bias)) ||
        (st = ak_cfg_act(c, "hidden_activation", "gelu", &hp->act)))
        return st;
    /* local_rope_theta null: the local layers rotate with the global base */
    if (ak_cfg_is_null(c, "local_rope_theta"))
        hp->rope_theta_local = hp->rope_theta;
    else if ((st = ak_cfg_float(c, "local_rope_theta", 10000.0, 1.0, 1e12,
                                &hp->rope_theta_local)))
        return st;
    if ((st = check_values(c, hp)) || (st = read_rope(c, hp)) ||
        (st = check_layer_types(c, hp)))
        return st;
    hp->window = local / 2 + 1;   /* |i - j| <= local_attention // 2 */
    hp->max_tokens = hp->max_positions;
    return AKIDB_OK;
}

/* ---- loading ------------------------------------------------------------------ */

typedef struct mb_layer {
    ak_lin qkv, o, wi, wo;                 /* [3H x H], [H x H], [2I x H], [H x I] */
    const float *an_w, *an_b;              /* attn_norm; NULL in layer 0 (identity) */
    const float *mn_w, *mn_b;              /* mlp_norm */
    int local;                             /* sliding window and the local base */
} mb_layer;

typedef struct mb_model {
    ak_hparams hp;
    int prec;                              /* 0 f32, 1 bf16, 2 int8 */
    size_t hd;
    ak_weights w;
    ak_table word;                         /* [vocab x H], in the mapping */
    const float *en_w, *en_b, *fn_w, *fn_b;   /* embeddings.norm, final_norm */
    float *zeros;                          /* [H]: the bias of bias-free norms */
    ak_rope rope_g, rope_l;
    mb_layer *layers;
    void *packed;                          /* one aligned block for all layers */
} mb_model;

static size_t layer_bytes(const mb_model *m)
{
    const size_t H = m->hp.hidden, I = m->hp.intermediate;
    return ak_lin_bytes(m->prec, 3 * H, H) + ak_lin_bytes(m->prec, H, H) +
           ak_lin_bytes(m->prec, 2 * I, H) + ak_lin_bytes(m->prec, H, I);
}

/* A LayerNorm's weight and (with norm_bias) bias, named pre + "weight" /
 * "bias"; without a bias the zero vector. */
static akidb_status get_norm(mb_model *m, const char *pre, const float **w, const float **b)
{
    char nm[320];
    akidb_status st;
    snprintf(nm, sizeof nm, "%sweight", pre);
    if ((st = ak_weights_get(&m->w, nm, m->hp.hidden, 0, w)) != AKIDB_OK)
        return st;
    *b = m->zeros;
    if (!m->hp.norm_bias)
        return AKIDB_OK;
    snprintf(nm, sizeof nm, "%sbias", pre);
    return ak_weights_get(&m->w, nm, m->hp.hidden, 0, b);
}

/* Linear layer pre + name ([n x k]) packed into *mem (advanced), with its
 * bias when bias is set. */
static akidb_status get_lin(mb_model *m, const char *pre, const char *name, size_t n, size_t k,
                            int bias, ak_lin *l, char **mem)
{
    char nm[320];
    const float *w;
    snprintf(nm, sizeof nm, "%s%s.weight", pre, name);
    akidb_status st = ak_weights_get(&m->w, nm, n, k, &w);
    if (st != AKIDB_OK)
        return st;
    ak_lin_pack(l, m->prec, n, k, w, *mem);
    *mem += ak_lin_bytes(m->prec, n, k);
    ak_weights_drop(&m->w, w);
    l->bias = NULL;
    if (!bias)
        return AKIDB_OK;
    snprintf(nm, sizeof nm, "%s%s.bias", pre, name);
    return ak_weights_get(&m->w, nm, n, 0, &l->bias);
}

static akidb_status load_layer(mb_model *m, size_t l, char *mem)
{
    const ak_hparams *hp = &m->hp;
    const size_t H = hp->hidden, I = hp->intermediate;
    mb_layer *y = &m->layers[l];
    char pre[64], npre[96];
    akidb_status st;
    snprintf(pre, sizeof pre, "layers.%zu.", l);
    y->local = l % hp->global_every != 0;
    if (l > 0) {
        snprintf(npre, sizeof npre, "%sattn_norm.", pre);
        if ((st = get_norm(m, npre, &y->an_w, &y->an_b)) != AKIDB_OK)
            return st;
    }
    snprintf(npre, sizeof npre, "%smlp_norm.", pre);
    if ((st = get_norm(m, npre, &y->mn_w, &y->mn_b)) ||
        (st = get_lin(m, pre, "attn.Wqkv", 3 * H, H, hp->attn_bias, &y->qkv, &mem)) ||
        (st = get_lin(m, pre, "attn.Wo", H, H, hp->attn_bias, &y->o, &mem)) ||
        (st = get_lin(m, pre, "mlp.Wi", 2 * I, H, hp->mlp_bias, &y->wi, &mem)) ||
        (st = get_lin(m, pre, "mlp.Wo", H, I, hp->mlp_bias, &y->wo, &mem)))
        return st;
    return AKIDB_OK;
}

static void modernbert_free(void *impl)
{
    mb_model *m = impl;
    if (!m)
        return;
    ak_free_aligned(m->packed);
    ak_free(m->layers);
    ak_free(m->zeros);
    ak_weights_close(&m->w);
    ak_free(m);
}

static akidb_status load_all(mb_model *m, const char *dir)
{
    const ak_hparams *hp = &m->hp;
    const size_t L = hp->n_layers;
    size_t bytes;
    akidb_status st;
    if (ak_mul_overflow(layer_bytes(m), L ? L : 1, &bytes))
        return ak_fail(AKIDB_ENOMEM, "%s: model too large", dir);
    m->zeros = ak_calloc(hp->hidden, sizeof *m->zeros);
    m->layers = ak_calloc(L ? L : 1, sizeof *m->layers);
    m->packed = ak_malloc_aligned(bytes, 64);
    if (!m->zeros || !m->layers || !m->packed)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory packing the weights", dir);
    if ((st = ak_weights_table(&m->w, "embeddings.tok_embeddings.weight", hp->vocab,
                               hp->hidden, &m->word)) ||
        (st = get_norm(m, "embeddings.norm.", &m->en_w, &m->en_b)) ||
        (st = get_norm(m, "final_norm.", &m->fn_w, &m->fn_b)))
        return st;
    for (size_t l = 0; l < L; l++)
        if ((st = load_layer(m, l, (char *)m->packed + l * layer_bytes(m))) != AKIDB_OK)
            return st;
    return AKIDB_OK;
}

static akidb_status modernbert_load(const char *dir, const ak_hparams *hp, int prec,
                                    void **impl, ak_dtype *dtype)
{
    *impl = NULL;
    mb_model *m = ak_calloc(1, sizeof *m);
    if (!m)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    m->hp = *hp;
    m->prec = prec;
    m->hd = hp->hidden / hp->n_heads;
    AK_ASSERT(hp->global_every >= 1 && hp->window >= 1);
    ak_rope_init(&m->rope_g, m->hd, hp->rope_theta);
    ak_rope_init(&m->rope_l, m->hd, hp->rope_theta_local);
    /* converted copies: 2 per norm, the biases of 4 linear layers, 1 matrix
     * at a time (dropped once packed) */
    akidb_status st = ak_weights_open(&m->w, dir, "model.", 8 + 9 * hp->n_layers);
    if (st != AKIDB_OK) {
        ak_free(m);
        return st;
    }
    if ((st = load_all(m, dir)) != AKIDB_OK) {
        modernbert_free(m);
        return st;
    }
    *dtype = m->word.dtype;
    /* the packed copies replace the matrices: the mapping's pages can go
     * (clean; embedding rows and small vectors fault back in on use) */
    ak_weights_release(&m->w);
    m->w.dir = NULL;
    *impl = m;
    return AKIDB_OK;
}

/* ---- forward ------------------------------------------------------------------ */

/* Activation floats per token row: x, h, qkv, ctx, wi (input and gate), act. */
static size_t row_floats(const mb_model *m)
{
    return 6 * m->hp.hidden + 3 * m->hp.intermediate;
}

static size_t kmax_of(const mb_model *m)
{
    return m->hp.intermediate > m->hp.hidden ? m->hp.intermediate : m->hp.hidden;
}

static size_t modernbert_batch_rows(const void *impl)
{
    const mb_model *m = impl;
    size_t rows = ((size_t)16 << 20) / (row_floats(m) * sizeof(float));
    return rows < 64 ? 64 : rows;
}

static size_t modernbert_scratch_bytes(const void *impl, size_t rows, size_t max_len, int nt)
{
    const mb_model *m = impl;
    return rows * (row_floats(m) * sizeof(float) + 16) + 2 * max_len * m->hd * sizeof(float) +
           m->hp.n_layers * 8 + 16 * 64 +
           ak_fwd_scratch_bytes(m->prec, rows, max_len, m->hd, kmax_of(m), nt);
}

typedef struct mb_ctx {
    const mb_model *m;
    ak_fwd f;
    const ak_seqs *s;
    float *rope_g, *rope_l;      /* cos / sin of positions [0, max_len), per base */
    float *x, *h, *qkv, *ctx, *wi, *act;
    ak_att_layout att_g, att_l;
} mb_ctx;

/* Rows [r0, r1): h = LayerNorm(x) with gain g and bias b (x kept). */
static void norm_rows(const mb_ctx *c, const float *g, const float *b, size_t r0, size_t r1)
{
    const size_t H = c->m->hp.hidden;
    if (r1 <= r0)
        return;
    memcpy(c->h + r0 * H, c->x + r0 * H, (r1 - r0) * H * sizeof(float));
    c->f.ops->layernorm(c->h + r0 * H, NULL, r1 - r0, H, H, g, b, c->m->hp.ln_eps);
}

/* Rows [r0, r1): x = x + h (a sublayer's output), then h = LayerNorm(x)
 * of what comes next. */
static void residual_norm(const mb_ctx *c, const float *g, const float *b, size_t r0,
                          size_t r1)
{
    const size_t H = c->m->hp.hidden;
    for (size_t i = r0 * H; i < r1 * H; i++)
        c->x[i] = c->x[i] + c->h[i];
    norm_rows(c, g, b, r0, r1);
}

/* Rows [r0, r1): the token embeddings, their LayerNorm into x, and h = x
 * (layer 0's attn_norm is the identity; a model without layers: the
 * final norm). */
static void embed_rows(const mb_ctx *c, size_t r0, size_t r1)
{
    const mb_model *m = c->m;
    const size_t H = m->hp.hidden;
    if (r1 <= r0)
        return;
    size_t t = ak_fwd_seq_of(&c->f, c->s, r0);
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->f.row0[t] + c->s->lens[t])
            t++;
        ak_table_row(&m->word, (size_t)c->s->ids[t][r - c->f.row0[t]], c->x + r * H);
    }
    c->f.ops->layernorm(c->x + r0 * H, NULL, r1 - r0, H, H, m->en_w, m->en_b, m->hp.ln_eps);
    if (m->hp.n_layers)
        memcpy(c->h + r0 * H, c->x + r0 * H, (r1 - r0) * H * sizeof(float));
    else
        norm_rows(c, m->fn_w, m->fn_b, r0, r1);
}

/* Rows [r0, r1) of q and k: RoPE at each token's position in its sequence,
 * with the base of the layer's kind. */
static void rope_rows(const mb_ctx *c, const mb_layer *y, size_t r0, size_t r1)
{
    const mb_model *m = c->m;
    const size_t H = m->hp.hidden, hd = m->hd;
    const ak_rope *rp = y->local ? &m->rope_l : &m->rope_g;
    const float *tab = y->local ? c->rope_l : c->rope_g;
    if (r1 <= r0)
        return;
    size_t t = ak_fwd_seq_of(&c->f, c->s, r0);
    for (size_t r = r0; r < r1; r++) {
        while (r >= c->f.row0[t] + c->s->lens[t])
            t++;
        float *q = c->qkv + r * 3 * H;
        const float *cs = tab + (r - c->f.row0[t]) * hd;
        ak_rope_apply_heads(rp, cs, q, 2 * m->hp.n_heads);   /* q, then k */
    }
}

/* Layer l by thread tid, steps separated by barriers.  On entry h holds
 * the layer's attn_norm(x); on exit the next layer's (final_norm after the
 * last). */
static void layer_run(mb_ctx *c, size_t l, int tid)
{
    const mb_model *m = c->m;
    const mb_layer *y = &m->layers[l];
    const ak_fwd *f = &c->f;
    const size_t H = m->hp.hidden, I = m->hp.intermediate;
    const int last = l + 1 == m->hp.n_layers;
    size_t n0, n1, r0, r1;
    ak_split_rows(f, f->rows, tid, &r0, &r1);

    ak_split_cols(f, 3 * H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->qkv, c->h, c->qkv, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    rope_rows(c, y, r0, r1);
    ak_pool_barrier(f->pool, f->nt);
    ak_attend_layer(f, tid, c->s, l, y->local ? &c->att_l : &c->att_g, c->qkv, c->ctx);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->o, c->ctx, c->h, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    residual_norm(c, y->mn_w, y->mn_b, r0, r1);   /* x += attention; h = mlp_norm(x) */
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, 2 * I, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->wi, c->h, c->wi, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    for (size_t r = r0; r < r1; r++)   /* act(input) * gate */
        f->ops->gate(c->act + r * I, c->wi + r * 2 * I, c->wi + r * 2 * I + I, I, m->hp.act);
    ak_pool_barrier(f->pool, f->nt);

    ak_split_cols(f, H, tid, &n0, &n1);
    ak_lin_cols(f, tid, &y->wo, c->act, c->h, n0, n1);
    ak_pool_barrier(f->pool, f->nt);
    if (last)   /* x += MLP; h = final_norm(x) or the next attn_norm(x) */
        residual_norm(c, m->fn_w, m->fn_b, r0, r1);
    else
        residual_norm(c, m->layers[l + 1].an_w, m->layers[l + 1].an_b, r0, r1);
    ak_pool_barrier(f->pool, f->nt);
}

/* The whole forward, run by each of nt threads (SPMD). */
static void mb_run(void *arg, int tid, int nt)
{
    mb_ctx *c = arg;
    (void)nt;
    size_t r0, r1;
    ak_split_rows(&c->f, c->s->max_len, tid, &r0, &r1);
    ak_rope_table(&c->m->rope_g, r0, r1, c->rope_g);
    ak_rope_table(&c->m->rope_l, r0, r1, c->rope_l);
    ak_split_rows(&c->f, c->f.rows, tid, &r0, &r1);
    embed_rows(c, r0, r1);
    ak_pool_barrier(c->f.pool, c->f.nt);
    for (size_t l = 0; l < c->m->hp.n_layers; l++)
        layer_run(c, l, tid);
}

#define ARENA_FLOATS(ar, n) ((float *)ak_arena_alloc((ar), (n) * sizeof(float)))

static akidb_status modernbert_forward(const void *impl, const ak_seqs *s, ak_pool *pool,
                                       int nt, ak_arena *ar, float **hidden)
{
    const mb_model *m = impl;
    const ak_hparams *hp = &m->hp;
    const size_t H = hp->hidden, I = hp->intermediate, rows = s->rows;
    mb_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.s = s;
    c.rope_g = ARENA_FLOATS(ar, ak_rope_table_floats(&m->rope_g, s->max_len));
    c.rope_l = ARENA_FLOATS(ar, ak_rope_table_floats(&m->rope_l, s->max_len));
    c.x = ARENA_FLOATS(ar, rows * H);
    c.h = ARENA_FLOATS(ar, rows * H);
    c.qkv = ARENA_FLOATS(ar, rows * 3 * H);
    c.ctx = ARENA_FLOATS(ar, rows * H);
    c.wi = ARENA_FLOATS(ar, rows * 2 * I);
    c.act = ARENA_FLOATS(ar, rows * I);
    if (!c.rope_g || !c.rope_l || !c.x || !c.h || !c.qkv || !c.ctx ||
        !c.wi || !c.act)
        return ak_fail(AKIDB_ENOMEM, "out of memory for the activations of %zu tokens", rows);
    akidb_status st = ak_fwd_begin(&c.f, m->prec, s, hp->n_layers, m->hd, kmax_of(m), pool, nt,
                                   ar);
    if (st != AKIDB_OK)
        return st;
    c.att_g = (ak_att_layout){ .n_heads = hp->n_heads, .n_kv_heads = hp->n_heads,
                               .hd = m->hd, .ld = 3 * H, .q_off = 0, .k_off = H,
                               .v_off = 2 * H, .ldc = H,
                               .scale = (float)(1.0 / sqrt((double)m->hd)),
                               .mask = { .causal = 0, .window = 0 } };
    c.att_l = c.att_g;
    c.att_l.mask.window = hp->window;
    ak_pool_run(c.f.pool, c.f.nt, mb_run, &c);
    *hidden = c.h;
    return AKIDB_OK;
}

const ak_family ak_family_modernbert = {
    .model_type = "modernbert",
    .archs = "ModernBert",
    .config = modernbert_config,
    .load = modernbert_load,
    .batch_rows = modernbert_batch_rows,
    .scratch_bytes = modernbert_scratch_bytes,
    .forward = modernbert_forward,
    .free = modernbert_free,
};
