/*
 * dense.h - what a sentence-transformers pipeline does after Pooling: its
 * Dense modules (a linear layer and an activation, e.g. embeddinggemma's
 * 768 -> 3072 -> 768 projection) and Normalize modules, in modules.json
 * order, then the Matryoshka truncation and the final re-normalisation of
 * SentenceTransformer.encode.
 *
 * Why a separate file: model.c stays the public API, config.c only reads the
 * JSON; loading a Dense folder's config.json and weights and running the
 * chain over a batch of pooled vectors (one GEMM per Dense) lives here.
 */
#ifndef AKIDB_DENSE_H
#define AKIDB_DENSE_H

#include "model/family.h"

/* One Dense module: y = act(x W^T + b), W [out x in] packed once (f32). */
typedef struct ak_dense ak_dense;

/* Loads the Dense module of folder dir (its config.json: in_features,
 * out_features, bias, activation_function; its model.safetensors:
 * linear.weight [out x in], linear.bias [out]).  in_dim is the width the
 * module receives: a different in_features is EFORMAT naming the file.
 * EUNSUPPORTED for an activation other than Identity, Tanh, ReLU, Sigmoid,
 * GELU, SiLU, or for weights only in pytorch_model.bin. */
akidb_status ak_dense_load(const char *dir, size_t in_dim, ak_dense **out);
size_t ak_dense_out(const ak_dense *d);
void ak_dense_free(ak_dense *d);

/* The modules after Pooling. */
typedef struct ak_post {
    size_t n;
    ak_dense **dense;     /* [n]; NULL marks a Normalize module */
    size_t in_dim;        /* the pooled width */
    size_t out_dim;       /* the width after the last Dense */
    size_t max_dim;       /* the widest step */
} ak_post;

/* Loads the Dense modules of p (ak_st_pipeline.post) for a pooled width
 * of hidden. */
akidb_status ak_post_load(const ak_st_pipeline *p, size_t hidden, ak_post *out);
void ak_post_free(ak_post *p);
/* True if the pipeline has a Normalize module. */
bool ak_post_normalizes(const ak_post *p);

/* Runs rows pooled vectors x [rows x in_dim] through the modules and writes
 * the first dim (<= out_dim) columns of each result to out [rows x dim]:
 * normalize -1 runs the Normalize modules where they stand; 0 skips them;
 * 1 runs them and L2-normalises again after the truncation to dim (encode's
 * normalize_embeddings=True).  scratch: ak_post_scratch(p, rows) floats.
 * x is overwritten. */
size_t ak_post_scratch(const ak_post *p, size_t rows);
void ak_post_run(const ak_post *p, size_t rows, float *x, int normalize, size_t dim,
                 float *scratch, float *out);

/* In place L2 normalisation (F.normalize: eps 1e-12, sums in double). */
void ak_l2_normalize(float *v, size_t n);

#endif /* AKIDB_DENSE_H */
