/*
 * dense.c - the sentence-transformers modules after Pooling (dense.h):
 * Dense (nn.Linear + an activation) and Normalize, run in modules.json
 * order over a batch of pooled vectors, then SentenceTransformer.encode's
 * truncation to truncate_dim and its optional re-normalisation.
 *
 * A Dense module's weight is packed once into the f32 GEMM panels of the
 * kernels (ak_pack_nt) and applied with the active path's packed GEMM, one
 * call per module for the whole batch; every element's value is independent
 * of the batch, so results do not depend on the grouping of texts.  The
 * activations are few and elementwise: written here in double where the
 * kernels have none (Tanh, Sigmoid).
 *
 * Why strict: a Dense whose in_features does not follow the previous width,
 * a missing tensor or an activation not implemented here gives a wrong
 * embedding width or silently wrong numbers, so each is refused naming the
 * file.
 */
#include "model/dense.h"

#include "model/blocks.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

typedef enum dense_act {
    DACT_IDENTITY, DACT_TANH, DACT_RELU, DACT_SIGMOID, DACT_GELU, DACT_SILU
} dense_act;

struct ak_dense {
    size_t in, out;
    float *wp;        /* packed [out x in], ak_pack_floats(out, in) floats */
    float *bias;      /* [out] or NULL */
    dense_act act;
};

size_t ak_dense_out(const ak_dense *d)
{
    return d->out;
}

void ak_dense_free(ak_dense *d)
{
    if (!d)
        return;
    ak_free_aligned(d->wp);
    ak_free(d->bias);
    ak_free(d);
}

/* The torch.nn activation class of "activation_function". */
static akidb_status parse_act(const char *path, const char *name, dense_act *out)
{
    static const struct { const char *cls; dense_act a; } acts[] = {
        { "Identity", DACT_IDENTITY }, { "Tanh", DACT_TANH }, { "ReLU", DACT_RELU },
        { "Sigmoid", DACT_SIGMOID }, { "GELU", DACT_GELU }, { "SiLU", DACT_SILU },
    };
    const char *dot = strrchr(name, '.');
    if (strncmp(name, "torch.nn.", 9) == 0 && dot)
        for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
            if (strcmp(dot + 1, acts[i].cls) == 0) {
                *out = acts[i].a;
                return AKIDB_OK;
            }
    return ak_fail(AKIDB_EUNSUPPORTED,
                   "%s: activation_function '%.100s' is not supported (torch.nn Identity, "
                   "Tanh, ReLU, Sigmoid, GELU, SiLU)", path, name);
}

/* in_features, out_features, bias, activation_function of dir/config.json. */
static akidb_status read_config(const char *dir, size_t in_dim, ak_dense *d, int *has_bias)
{
    char *path = ak_path_join(dir, "config.json");
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    akidb_status st;
    ak_cfg *c = NULL;
    const char *act = NULL;
    if (!ak_file_exists(path)) {
        st = ak_fail(AKIDB_ENOENT, "%s: missing (a Dense module's configuration)", path);
        goto done;
    }
    if ((st = ak_cfg_open(path, &c)) != AKIDB_OK ||
        (st = ak_cfg_size(c, "in_features", 0, (size_t)1 << 20, &d->in)) != AKIDB_OK ||
        (st = ak_cfg_size(c, "out_features", 0, (size_t)1 << 20, &d->out)) != AKIDB_OK ||
        (st = ak_cfg_bool(c, "bias", 1, has_bias)) != AKIDB_OK ||
        (st = ak_cfg_str(c, "activation_function", NULL, &act)) != AKIDB_OK)
        goto done;
    if (!act) {
        st = ak_fail(AKIDB_EFORMAT, "%s: missing \"activation_function\"", path);
        goto done;
    }
    if ((st = parse_act(path, act, &d->act)) != AKIDB_OK)
        goto done;
    if (d->in != in_dim)
        st = ak_fail(AKIDB_EFORMAT,
                     "%s: in_features %zu does not match the %zu values the module before "
                     "it gives", path, d->in, in_dim);
done:
    ak_cfg_close(c);
    ak_free(path);
    return st;
}

/* linear.weight / linear.bias of dir's safetensors, packed into d. */
static akidb_status read_weights(const char *dir, ak_dense *d, int has_bias)
{
    char *st_path = ak_path_join(dir, "model.safetensors");
    char *bin_path = ak_path_join(dir, "pytorch_model.bin");
    char *idx_path = ak_path_join(dir, "model.safetensors.index.json");
    akidb_status st = AKIDB_OK;
    if (!st_path || !bin_path || !idx_path) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    } else if (!ak_file_exists(st_path) && !ak_file_exists(idx_path)) {
        if (ak_file_exists(bin_path))
            st = ak_fail(AKIDB_EUNSUPPORTED,
                         "%s: only pytorch_model.bin; AkiDB reads safetensors weights only "
                         "(convert it to model.safetensors)", dir);
        else
            st = ak_fail(AKIDB_ENOENT, "%s: missing model.safetensors (the Dense module's "
                         "weights)", dir);
    }
    ak_free(st_path);
    ak_free(bin_path);
    ak_free(idx_path);
    if (st != AKIDB_OK)
        return st;
    ak_weights w;
    if ((st = ak_weights_open(&w, dir, NULL, 2)) != AKIDB_OK)
        return st;
    const float *wt = NULL, *b = NULL;
    if ((st = ak_weights_get(&w, "linear.weight", d->out, d->in, &wt)) == AKIDB_OK &&
        (!has_bias || (st = ak_weights_get(&w, "linear.bias", d->out, 0, &b)) == AKIDB_OK)) {
        d->wp = ak_malloc_aligned(ak_pack_floats(d->out, d->in) * sizeof(float), 64);
        d->bias = b ? ak_malloc(d->out * sizeof(float)) : NULL;
        if (!d->wp || (b && !d->bias)) {
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
        } else {
            ak_pack_nt(d->out, d->in, wt, d->in, d->wp);
            if (b)
                memcpy(d->bias, b, d->out * sizeof(float));
        }
    }
    ak_weights_close(&w);
    return st;
}

akidb_status ak_dense_load(const char *dir, size_t in_dim, ak_dense **out)
{
    *out = NULL;
    ak_dense *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    int has_bias = 1;
    akidb_status st = read_config(dir, in_dim, d, &has_bias);
    if (st == AKIDB_OK)
        st = read_weights(dir, d, has_bias);
    if (st != AKIDB_OK) {
        ak_dense_free(d);
        return st;
    }
    *out = d;
    return AKIDB_OK;
}

/* y [rows x out] = act(x [rows x in] W^T + b). */
static void dense_apply(const ak_dense *d, size_t rows, const float *x, float *y)
{
    const ak_ops *ops = ak_kernels_get()->ops;
    ops->gemm_p(rows, d->out, d->in, x, d->in, d->wp, d->bias, y, d->out, 0, d->out);
    size_t n = rows * d->out;
    switch (d->act) {
    case DACT_IDENTITY:
        break;
    case DACT_TANH:
        for (size_t i = 0; i < n; i++)
            y[i] = (float)tanh((double)y[i]);
        break;
    case DACT_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = (float)(1.0 / (1.0 + exp(-(double)y[i])));
        break;
    case DACT_RELU:
        ak_activation(y, n, AK_ACT_RELU);
        break;
    case DACT_GELU:
        ak_activation(y, n, AK_ACT_GELU);
        break;
    case DACT_SILU:
        ak_activation(y, n, AK_ACT_SILU);
        break;
    }
}

/* ---- the chain ------------------------------------------------------------------ */

void ak_post_free(ak_post *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        ak_dense_free(p->dense[i]);
    ak_free(p->dense);
    memset(p, 0, sizeof *p);
}

akidb_status ak_post_load(const ak_st_pipeline *sp, size_t hidden, ak_post *p)
{
    memset(p, 0, sizeof *p);
    p->in_dim = p->out_dim = p->max_dim = hidden;
    if (sp->n_post == 0)
        return AKIDB_OK;
    p->dense = ak_calloc(sp->n_post, sizeof *p->dense);
    if (!p->dense)
        return ak_fail(AKIDB_ENOMEM, "out of memory");
    p->n = sp->n_post;
    for (size_t i = 0; i < sp->n_post; i++) {
        if (!sp->post[i])
            continue;   /* Normalize */
        akidb_status st = ak_dense_load(sp->post[i], p->out_dim, &p->dense[i]);
        if (st != AKIDB_OK) {
            ak_post_free(p);
            return st;
        }
        p->out_dim = p->dense[i]->out;
        p->max_dim = p->out_dim > p->max_dim ? p->out_dim : p->max_dim;
    }
    return AKIDB_OK;
}

bool ak_post_normalizes(const ak_post *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->dense[i])
            return true;
    return false;
}

void ak_l2_normalize(float *v, size_t n)
{
    double nn = 0.0;
    for (size_t j = 0; j < n; j++)
        nn += (double)v[j] * v[j];
    double norm = sqrt(nn);
    double den = norm > 1e-12 ? norm : 1e-12;   /* F.normalize's eps */
    for (size_t j = 0; j < n; j++)
        v[j] = (float)((double)v[j] / den);
}

size_t ak_post_scratch(const ak_post *p, size_t rows)
{
    return rows * p->max_dim;
}

void ak_post_run(const ak_post *p, size_t rows, float *x, int normalize, size_t dim,
                 float *scratch, float *out)
{
    AK_ASSERT(dim >= 1 && dim <= p->out_dim);
    float *cur = x, *other = scratch;
    size_t w = p->in_dim;
    /* a Normalize module right before the final one would only repeat it */
    size_t last = p->n;
    if (normalize == 1 && last > 0 && !p->dense[last - 1])
        last--;
    for (size_t i = 0; i < last; i++) {
        if (p->dense[i]) {
            dense_apply(p->dense[i], rows, cur, other);
            float *t = cur;
            cur = other;
            other = t;
            w = p->dense[i]->out;
        } else if (normalize != 0) {
            for (size_t r = 0; r < rows; r++)
                ak_l2_normalize(cur + r * w, w);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        memmove(out + r * dim, cur + r * w, dim * sizeof *out);
        if (normalize == 1)
            ak_l2_normalize(out + r * dim, dim);
    }
}
