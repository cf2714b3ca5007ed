/*
 * safetensors.h - private reader of .safetensors weight files (one file, or
 * several shards listed by model.safetensors.index.json).
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON mapping each
 * tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data section that follows the header), an optional
 * "__metadata__" object of strings, then the data section.
 *
 * Why strict: the files come from the internet.  Every field is validated
 * before any tensor byte is touched (offsets inside the data section, no
 * overlaps, size == numel x dtype size with overflow checks), so a later
 * access through a tensor descriptor can never read outside the mapping.
 * Every failure message names the file and, where there is one, the tensor.
 */
#ifndef AKIDB_SAFETENSORS_H
#define AKIDB_SAFETENSORS_H

#include "common/common.h"

#define AK_ST_MAX_DIMS 8
/* Largest JSON header accepted (the format's own limit is 100 MB). */
#define AK_ST_MAX_HEADER ((size_t)100 * 1000 * 1000)

typedef enum ak_dtype {
    AK_DT_F32 = 0, AK_DT_F16, AK_DT_BF16, AK_DT_F64,
    /* valid in the format, not convertible to float weights: */
    AK_DT_BOOL, AK_DT_U8, AK_DT_I8, AK_DT_F8_E5M2, AK_DT_F8_E4M3, AK_DT_I16,
    AK_DT_U16, AK_DT_I32, AK_DT_U32, AK_DT_I64, AK_DT_U64,
    AK_DT_COUNT
} ak_dtype;

/* "F32", "BF16" ...; bytes per element. */
const char *ak_dtype_name(ak_dtype dt);
size_t ak_dtype_size(ak_dtype dt);

typedef struct ak_st_tensor {
    char *name;
    ak_dtype dtype;
    int ndim;
    size_t shape[AK_ST_MAX_DIMS];
    size_t numel;          /* product of shape (1 for a scalar) */
    size_t begin, end;     /* byte range inside the data section */
    const uint8_t *data;   /* start of the tensor's bytes (may be unaligned) */
} ak_st_tensor;

typedef struct ak_st_file {
    char *path;            /* as given; used in messages */
    ak_mmap map;           /* zero when parsed from caller memory */
    const uint8_t *data;   /* data section */
    size_t data_size;
    ak_st_tensor *tensors; /* sorted by name */
    size_t n_tensors;
} ak_st_file;

/* Parses a safetensors image of size bytes at buf (not copied: it must stay
 * valid while out is used).  label names the file in messages.  On success
 * *out owns the tensor list; release with ak_st_close (which does not free
 * buf).  Fails with EFORMAT (malformed), EUNSUPPORTED (unknown dtype, too
 * many dimensions), ERANGE (sizes that overflow), ENOMEM. */
akidb_status ak_st_parse(const char *label, const void *buf, size_t size,
                         ak_st_file *out);

/* Memory-maps path and parses it; ENOENT/EIO for file errors. */
akidb_status ak_st_open(const char *path, ak_st_file *out);

/* Releases what ak_st_parse / ak_st_open made; safe on a zeroed struct. */
void ak_st_close(ak_st_file *f);

/* Tensor by exact name, or NULL. */
const ak_st_tensor *ak_st_find(const ak_st_file *f, const char *name);

/* Converts a tensor's elements to float32 into dst (numel floats).
 * Supports F32, F16, BF16 and F64; others give EUNSUPPORTED naming the
 * file (label) and tensor. */
akidb_status ak_st_to_f32(const char *label, const ak_st_tensor *t, float *dst);

/* Returns a float view of the tensor: a pointer into the mapping when it is
 * F32 and 4-byte aligned (*owned = NULL), else a converted copy allocated
 * with ak_malloc and also stored in *owned (caller frees). */
akidb_status ak_st_get_f32(const char *label, const ak_st_tensor *t,
                           const float **view, float **owned);

/* IEEE half / bfloat16 to float, exact for every input (subnormals, inf,
 * NaN payload kept as far as float can). */
float ak_f16_to_f32(uint16_t h);
float ak_bf16_to_f32(uint16_t h);

/* A model's weights: model.safetensors, or the shards of
 * model.safetensors.index.json. */
typedef struct ak_st_set {
    ak_st_file *files;
    size_t n_files;
} ak_st_set;

/* Opens dir/model.safetensors if present, else dir/model.safetensors.index.json
 * and every shard its weight_map names (shard names must be plain file names
 * inside dir).  Each tensor listed in weight_map must exist in its shard.
 * ENOENT naming dir when neither file exists. */
akidb_status ak_st_set_open(const char *dir, ak_st_set *out);
void ak_st_set_close(ak_st_set *s);

/* Finds a tensor in any file of the set; *file (optional) receives its file. */
const ak_st_tensor *ak_st_set_find(const ak_st_set *s, const char *name,
                                   const ak_st_file **file);

/* Drops the resident pages of the mapped file of s that hold the tensor
 * whose bytes start at data (clean pages of a read-only mapping: they fault
 * back in if read again).  No-op when data is no tensor's start in a mapped
 * file (a NULL data, a converted copy, an image parsed from memory). */
void ak_st_set_release(const ak_st_set *s, const void *data);

/* The dtype every float matrix (2-D F32 / F16 / BF16 / F64 tensor) of s
 * has, or AK_DT_COUNT when they differ or there is none. */
ak_dtype ak_st_set_matrix_dtype(const ak_st_set *s);

#endif /* AKIDB_SAFETENSORS_H */
