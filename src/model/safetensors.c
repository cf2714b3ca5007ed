/*
 * safetensors.c - validating reader of .safetensors files and sharded
 * model.safetensors.index.json sets (see safetensors.h for the format and
 * the guarantees).  The JSON header is parsed with jansson; every number is
 * checked for range and overflow before use, and tensors are checked against
 * each other for overlap, so descriptors handed out are always safe to read.
 * A loader releases each tensor's mapped pages once it has made its own copy
 * (ak_st_set_release), so a load never holds the file and the packed model
 * in memory at once.
 */
#include "model/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtypes[AK_DT_COUNT] = {
    [AK_DT_F32] = { "F32", 4 },         [AK_DT_F16] = { "F16", 2 },
    [AK_DT_BF16] = { "BF16", 2 },       [AK_DT_F64] = { "F64", 8 },
    [AK_DT_BOOL] = { "BOOL", 1 },       [AK_DT_U8] = { "U8", 1 },
    [AK_DT_I8] = { "I8", 1 },           [AK_DT_F8_E5M2] = { "F8_E5M2", 1 },
    [AK_DT_F8_E4M3] = { "F8_E4M3", 1 }, [AK_DT_I16] = { "I16", 2 },
    [AK_DT_U16] = { "U16", 2 },         [AK_DT_I32] = { "I32", 4 },
    [AK_DT_U32] = { "U32", 4 },         [AK_DT_I64] = { "I64", 8 },
    [AK_DT_U64] = { "U64", 8 },
};

const char *ak_dtype_name(ak_dtype dt)
{
    return (unsigned)dt < AK_DT_COUNT ? dtypes[dt].name : "?";
}

size_t ak_dtype_size(ak_dtype dt)
{
    return (unsigned)dt < AK_DT_COUNT ? dtypes[dt].size : 0;
}

float ak_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    float f;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        f = (float)mant * 5.9604644775390625e-8f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    memcpy(&f, &bits, 4);
    return f;
}

float ak_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Formats a shape as "[2, 3]" into buf. */
static const char *shape_str(const size_t *shape, int ndim, char *buf, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%zu", i ? ", " : "", shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    return buf;
}

/* Reads a JSON integer in [0, SIZE_MAX]; false if not such a number. */
static bool json_size(const json_t *v, size_t *out)
{
    if (!json_is_integer(v))
        return false;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (unsigned long long)i > (unsigned long long)SIZE_MAX)
        return false;
    *out = (size_t)i;
    return true;
}

static akidb_status parse_entry(const char *label, const char *name,
                                json_t *v, size_t data_size, ak_st_tensor *t)
{
    if (!json_is_object(v))
        return ak_fail(AKIDB_EFORMAT, "%s: tensor '%s': entry is not a JSON object",
                       label, name);
    json_t *jd = json_object_get(v, "dtype");
    if (!jd)
        return ak_fail(AKIDB_EFORMAT, "%s: tensor '%s': missing \"dtype\"", label, name);
    if (!json_is_string(jd))
        return ak_fail(AKIDB_EFORMAT, "%s: tensor '%s': \"dtype\" is not a string",
                       label, name);
    const char *ds = json_string_value(jd);
    int dt = -1;
    for (int i = 0; i < AK_DT_COUNT; i++)
        if (strcmp(ds, dtypes[i].name) == 0)
            dt = i;
    if (dt < 0)
        return ak_fail(AKIDB_EUNSUPPORTED, "%s: tensor '%s': unknown dtype '%.40s'",
                       label, name, ds);
    t->dtype = (ak_dtype)dt;

    json_t *js = json_object_get(v, "shape");
    if (!js)
        return ak_fail(AKIDB_EFORMAT, "%s: tensor '%s': missing \"shape\"", label, name);
    if (!json_is_array(js))
        return ak_fail(AKIDB_EFORMAT, "%s: tensor '%s': \"shape\" is not an array",
                       label, name);
    size_t nd = json_array_size(js);
    if (nd > AK_ST_MAX_DIMS)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: tensor '%s': %zu dimensions (at most %d supported)",
                       label, name, nd, AK_ST_MAX_DIMS);
    t->ndim = (int)nd;
    size_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < nd; i++) {
        if (!json_size(json_array_get(js, i), &t->shape[i]))
            return ak_fail(AKIDB_EFORMAT,
                           "%s: tensor '%s': shape entry %zu is not a non-negative integer",
                           label, name, i);
        if (!overflow && ak_mul_overflow(numel, t->shape[i], &numel))
            overflow = true;
    }
    char sb[160];
    size_t bytes = 0;
    if (overflow || ak_mul_overflow(numel, dtypes[dt].size, &bytes))
        return ak_fail(AKIDB_ERANGE, "%s: tensor '%s': shape %s of %s overflows the size type",
                       label, name, shape_str(t->shape, t->ndim, sb, sizeof sb), ds);
    t->numel = numel;

    json_t *jo = json_object_get(v, "data_offsets");
    if (!jo)
        return ak_fail(AKIDB_EFORMAT, "%s: tensor '%s': missing \"data_offsets\"",
                       label, name);
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        !json_size(json_array_get(jo, 0), &t->begin) ||
        !json_size(json_array_get(jo, 1), &t->end))
        return ak_fail(AKIDB_EFORMAT,
                       "%s: tensor '%s': \"data_offsets\" is not [begin, end] of non-negative integers",
                       label, name);
    if (t->begin > t->end)
        return ak_fail(AKIDB_EFORMAT, "%s: tensor '%s': data offsets [%zu, %zu] are reversed",
                       label, name, t->begin, t->end);
    if (t->end > data_size)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: tensor '%s': data offsets [%zu, %zu] exceed the data section of %zu bytes",
                       label, name, t->begin, t->end, data_size);
    if (t->end - t->begin != bytes)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: tensor '%s': data offsets [%zu, %zu] hold %zu bytes but shape %s of %s needs %zu",
                       label, name, t->begin, t->end, t->end - t->begin,
                       shape_str(t->shape, t->ndim, sb, sizeof sb), ds, bytes);
    return AKIDB_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const ak_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b)
{
    const ak_st_tensor *x = a, *y = b;
    return strcmp(x->name, y->name);
}

void ak_st_close(ak_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        ak_free(f->tensors[i].name);
    ak_free(f->tensors);
    ak_free(f->path);
    ak_mmap_close(&f->map);
    memset(f, 0, sizeof *f);
}

akidb_status ak_st_parse(const char *label, const void *buf, size_t size,
                         ak_st_file *out)
{
    AK_ASSERT(label && out && (buf || size == 0));
    memset(out, 0, sizeof *out);
    const uint8_t *p = buf;
    if (size < 8)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: file of %zu bytes is too short for the 8-byte header length",
                       label, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | p[i];
    if (hlen > size - 8)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: header length %llu exceeds the %zu bytes after the length field",
                       label, (unsigned long long)hlen, size - 8);
    if (hlen > AK_ST_MAX_HEADER)
        return ak_fail(AKIDB_EFORMAT, "%s: header length %llu exceeds the limit of %zu bytes",
                       label, (unsigned long long)hlen, AK_ST_MAX_HEADER);
    if (hlen < 2 || p[8] != '{')
        return ak_fail(AKIDB_EFORMAT, "%s: header is not a JSON object", label);

    json_t *root = NULL;
    akidb_status st = ak_json_parse((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES,
                                    label, &root);
    if (st != AKIDB_OK)
        return st;
    if (!json_is_object(root)) {
        st = ak_fail(AKIDB_EFORMAT, "%s: header is not a JSON object", label);
        goto done;
    }
    out->data = p + 8 + hlen;
    out->data_size = size - 8 - (size_t)hlen;
    size_t cap = json_object_size(root);
    out->tensors = ak_calloc(cap ? cap : 1, sizeof *out->tensors);
    if (!out->tensors) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory for %zu tensor entries", label, cap);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(val)) {
                st = ak_fail(AKIDB_EFORMAT, "%s: \"__metadata__\" is not a JSON object", label);
                goto done;
            }
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    st = ak_fail(AKIDB_EFORMAT,
                                 "%s: \"__metadata__\" value '%.60s' is not a string", label, mk);
                    goto done;
                }
            }
            continue;
        }
        ak_st_tensor *t = &out->tensors[out->n_tensors];
        st = parse_entry(label, key, val, out->data_size, t);
        if (st != AKIDB_OK)
            goto done;
        t->name = ak_strdup(key);
        if (!t->name) {
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", label);
            goto done;
        }
        t->data = out->data + t->begin;
        out->n_tensors++;
    }
    /* no two tensors may share bytes */
    qsort(out->tensors, out->n_tensors, sizeof *out->tensors, cmp_begin);
    for (size_t i = 1; i < out->n_tensors; i++) {
        const ak_st_tensor *a = &out->tensors[i - 1], *b = &out->tensors[i];
        if (b->begin < a->end) {
            st = ak_fail(AKIDB_EFORMAT,
                         "%s: tensor '%s': data offsets [%zu, %zu] overlap tensor '%s' at [%zu, %zu]",
                         label, b->name, b->begin, b->end, a->name, a->begin, a->end);
            goto done;
        }
    }
    qsort(out->tensors, out->n_tensors, sizeof *out->tensors, cmp_name);
done:
    json_decref(root);
    if (st != AKIDB_OK)
        ak_st_close(out);
    return st;
}

akidb_status ak_st_open(const char *path, ak_st_file *out)
{
    AK_ASSERT(path && out);
    memset(out, 0, sizeof *out);
    ak_mmap map;
    akidb_status st = ak_mmap_open(path, &map);
    if (st != AKIDB_OK)
        return st;
    st = ak_st_parse(path, map.data, map.size, out);
    if (st != AKIDB_OK) {
        ak_mmap_close(&map);
        return st;
    }
    out->map = map;
    out->path = ak_strdup(path);
    if (!out->path) {
        ak_st_close(out);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    }
    return AKIDB_OK;
}

const ak_st_tensor *ak_st_find(const ak_st_file *f, const char *name)
{
    AK_ASSERT(f && name);
    size_t lo = 0, hi = f->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (c == 0)
            return &f->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

akidb_status ak_st_to_f32(const char *label, const ak_st_tensor *t, float *dst)
{
    const uint8_t *s = t->data;
    size_t n = t->numel;
    switch (t->dtype) {
    case AK_DT_F32:
        if (n)
            memcpy(dst, s, n * 4);
        return AKIDB_OK;
    case AK_DT_F16:
    case AK_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(s[2 * i] | (s[2 * i + 1] << 8));
            dst[i] = t->dtype == AK_DT_F16 ? ak_f16_to_f32(h) : ak_bf16_to_f32(h);
        }
        return AKIDB_OK;
    case AK_DT_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        return AKIDB_OK;
    default:
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "%s: tensor '%s': dtype %s cannot be used as float weights",
                       label, t->name, ak_dtype_name(t->dtype));
    }
}

akidb_status ak_st_get_f32(const char *label, const ak_st_tensor *t,
                           const float **view, float **owned)
{
    *view = NULL;
    *owned = NULL;
    if (t->dtype == AK_DT_F32 && ((uintptr_t)t->data % 4) == 0 && t->numel > 0) {
        *view = (const float *)(const void *)t->data;
        return AKIDB_OK;
    }
    if (t->dtype != AK_DT_F32 && t->dtype != AK_DT_F16 &&
        t->dtype != AK_DT_BF16 && t->dtype != AK_DT_F64)
        return ak_st_to_f32(label, t, NULL);
    float *buf = ak_malloc(t->numel * sizeof(float));  /* numel*4 <= bytes*2 */
    if (!buf)
        return ak_fail(AKIDB_ENOMEM, "%s: tensor '%s': out of memory for %zu floats",
                       label, t->name, t->numel);
    akidb_status st = ak_st_to_f32(label, t, buf);
    if (st != AKIDB_OK) {
        ak_free(buf);
        return st;
    }
    *view = buf;
    *owned = buf;
    return AKIDB_OK;
}

/* ---- sets --------------------------------------------------------------- */

void ak_st_set_close(ak_st_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_files; i++)
        ak_st_close(&s->files[i]);
    ak_free(s->files);
    s->files = NULL;
    s->n_files = 0;
}

const ak_st_tensor *ak_st_set_find(const ak_st_set *s, const char *name,
                                   const ak_st_file **file)
{
    for (size_t i = 0; i < s->n_files; i++) {
        const ak_st_tensor *t = ak_st_find(&s->files[i], name);
        if (t) {
            if (file)
                *file = &s->files[i];
            return t;
        }
    }
    return NULL;
}

void ak_st_set_release(const ak_st_set *s, const void *data)
{
    const uint8_t *p = data;
    for (size_t i = 0; p && i < s->n_files; i++) {
        const ak_st_file *f = &s->files[i];
        if (!f->map.data || p < f->data || p >= f->data + f->data_size)
            continue;
        for (size_t j = 0; j < f->n_tensors; j++) {
            const ak_st_tensor *t = &f->tensors[j];
            if (t->data != p || t->end == t->begin)
                continue;
            /* every page holding a byte of the tensor (a neighbour sharing
             * an edge page faults it back in when read) */
            uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
            uintptr_t lo = (uintptr_t)p & ~(pg - 1);
            uintptr_t hi = ((uintptr_t)p + (t->end - t->begin) + pg - 1) & ~(pg - 1);
            uintptr_t m0 = (uintptr_t)f->map.data, m1 = m0 + f->map.size;
            lo = lo < m0 ? m0 : lo;
            hi = hi > m1 ? m1 : hi;
            if (hi > lo)
                (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
            return;
        }
        return;
    }
}

ak_dtype ak_st_set_matrix_dtype(const ak_st_set *s)
{
    ak_dtype dt = AK_DT_COUNT;
    for (size_t i = 0; i < s->n_files; i++) {
        for (size_t j = 0; j < s->files[i].n_tensors; j++) {
            const ak_st_tensor *t = &s->files[i].tensors[j];
            if (t->ndim != 2 || t->dtype > AK_DT_F64)
                continue;
            if (dt != AK_DT_COUNT && t->dtype != dt)
                return AK_DT_COUNT;
            dt = t->dtype;
        }
    }
    return dt;
}

/* Opens every shard named in weight_map (once each) and checks each listed
 * tensor is in its shard. */
static akidb_status open_index(const char *dir, const char *ipath, ak_st_set *out)
{
    char *text = NULL;
    size_t len = 0;
    akidb_status st = ak_read_file(ipath, (size_t)64 << 20, &text, &len);
    if (st != AKIDB_OK)
        return st;
    json_t *root = NULL;
    st = ak_json_parse(text, len, JSON_REJECT_DUPLICATES, ipath, &root);
    ak_free(text);
    if (st != AKIDB_OK)
        return st;
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(root) || !json_is_object(wm)) {
        json_decref(root);
        return ak_fail(AKIDB_EFORMAT, "%s: missing object \"weight_map\"", ipath);
    }
    size_t cap = json_object_size(wm);
    out->files = ak_calloc(cap ? cap : 1, sizeof *out->files);
    if (!out->files) {
        json_decref(root);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", ipath);
    }
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val) {
        if (!json_is_string(val)) {
            st = ak_fail(AKIDB_EFORMAT, "%s: weight_map entry '%s' is not a string", ipath, key);
            goto fail;
        }
        const char *shard = json_string_value(val);
        if (shard[0] == '\0' || strchr(shard, '/') || strcmp(shard, ".") == 0 ||
            strcmp(shard, "..") == 0) {
            st = ak_fail(AKIDB_EFORMAT,
                         "%s: weight_map entry '%s': shard '%.80s' is not a plain file name",
                         ipath, key, shard);
            goto fail;
        }
        char *path = ak_path_join(dir, shard);
        if (!path) {
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", ipath);
            goto fail;
        }
        ak_st_file *f = NULL;
        for (size_t i = 0; i < out->n_files; i++)
            if (strcmp(out->files[i].path, path) == 0)
                f = &out->files[i];
        if (!f) {
            st = ak_st_open(path, &out->files[out->n_files]);
            if (st != AKIDB_OK) {
                ak_free(path);
                ak_fail_prefix(st, "%s: shard of tensor '%s'", ipath, key);
                goto fail;
            }
            f = &out->files[out->n_files++];
        }
        ak_free(path);
        if (!ak_st_find(f, key)) {
            st = ak_fail(AKIDB_EFORMAT, "%s: tensor '%s' listed in %s is not in the shard",
                         f->path, key, ipath);
            goto fail;
        }
    }
    json_decref(root);
    return AKIDB_OK;
fail:
    json_decref(root);
    ak_st_set_close(out);
    return st;
}

akidb_status ak_st_set_open(const char *dir, ak_st_set *out)
{
    AK_ASSERT(dir && out);
    out->files = NULL;
    out->n_files = 0;
    char *single = ak_path_join(dir, "model.safetensors");
    char *index = ak_path_join(dir, "model.safetensors.index.json");
    akidb_status st;
    if (!single || !index) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", dir);
    } else if (ak_file_exists(single)) {
        out->files = ak_calloc(1, sizeof *out->files);
        if (!out->files) {
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", single);
        } else {
            st = ak_st_open(single, &out->files[0]);
            if (st == AKIDB_OK)
                out->n_files = 1;
            else
                ak_st_set_close(out);
        }
    } else if (ak_file_exists(index)) {
        st = open_index(dir, index, out);
    } else {
        st = ak_fail(AKIDB_ENOENT,
                     "%s: no model.safetensors or model.safetensors.index.json "
                     "(only safetensors weights are supported)", dir);
    }
    ak_free(single);
    ak_free(index);
    return st;
}
