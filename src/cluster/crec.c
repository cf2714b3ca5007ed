/*
 * crec.c - the cluster log's records (crec.h): encoding, bounds-checked
 * decoding and idempotent application to a store.  The byte layout is in
 * docs/FORMAT.md, "Cluster log records".
 *
 * Everything multi-byte is little-endian whatever the host, so a record
 * written on one machine reads the same on any other.  The decoder checks
 * every length against the bytes left before it reads or allocates, and
 * names the offset of the first field that does not fit or makes no sense.
 */
#include "cluster/crec.h"

#include <string.h>

#define CREC_MAGIC "AKCL"
#define CREC_VERSION 1
#define CREC_MAX ((size_t)1 << 20) /* ak_jlog's record limit */
#define FLAG_TEXT 1u
#define FLAG_PAYLOAD 2u

static const char *kind_name(ak_crec_kind k)
{
    switch (k) {
    case AK_CREC_TENANT_CREATE: return "tenant create";
    case AK_CREC_TENANT_DELETE: return "tenant delete";
    case AK_CREC_COLL_CREATE: return "collection create";
    case AK_CREC_COLL_DELETE: return "collection delete";
    case AK_CREC_UPSERT: return "upsert";
    case AK_CREC_DELETE: return "delete";
    }
    return "unknown";
}

static bool has_collection(ak_crec_kind k)
{
    return k == AK_CREC_COLL_CREATE || k == AK_CREC_COLL_DELETE || k == AK_CREC_UPSERT ||
           k == AK_CREC_DELETE;
}

unsigned ak_crec_shard_of(const char *id, unsigned shards)
{
    AK_ASSERT(id && shards > 0);
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return (unsigned)(h % shards);
}

/* ---- encoding ------------------------------------------------------------ */

typedef struct wbuf {
    unsigned char *p;
    size_t at;
} wbuf;

static void put_u8(wbuf *w, unsigned v)
{
    w->p[w->at++] = (unsigned char)v;
}

static void put_u16(wbuf *w, unsigned v)
{
    put_u8(w, v & 0xff);
    put_u8(w, (v >> 8) & 0xff);
}

static void put_u32(wbuf *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        put_u8(w, (v >> (8 * i)) & 0xff);
}

static void put_bytes(wbuf *w, const void *s, size_t n)
{
    if (n)
        memcpy(w->p + w->at, s, n);
    w->at += n;
}

static void put_str8(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    put_u8(w, (unsigned)n);
    put_bytes(w, s, n);
}

static void put_f32(wbuf *w, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put_u32(w, u);
}

/* A name field (tenant, collection, point id): 1..max bytes. */
static akidb_status check_name(const char *what, const char *s, size_t max)
{
    if (!s)
        return ak_fail(AKIDB_EINVAL, "log record: %s missing", what);
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return ak_fail(AKIDB_EINVAL, "log record: %s '%.64s' of %zu bytes: must be 1..%zu", what,
                       s, n, max);
    return AKIDB_OK;
}

/* Checks r and adds up its encoded size into *size (saturating past the
 * limit, so no sum overflows). */
static akidb_status measure(const ak_crec *r, size_t *size)
{
    size_t n = 4 + 1 + 1;
    akidb_status st = check_name("tenant", r->tenant, AKIDB_STORE_NAME_MAX);
    if (st != AKIDB_OK)
        return st;
    n += 1 + strlen(r->tenant);
    if (has_collection(r->kind)) {
        if ((st = check_name("collection", r->collection, AKIDB_STORE_NAME_MAX)) != AKIDB_OK)
            return st;
        n += 1 + strlen(r->collection);
    }
    if (r->kind == AK_CREC_COLL_CREATE) {
        size_t ml = r->copts.model ? strlen(r->copts.model) : 0;
        if (ml > AKIDB_MODEL_NAME_MAX)
            return ak_fail(AKIDB_EINVAL, "log record: model name of %zu bytes: at most %d", ml,
                           AKIDB_MODEL_NAME_MAX);
        n += 4 + 1 + 4 + 4 + 2 + ml;
    } else if (r->kind == AK_CREC_UPSERT || r->kind == AK_CREC_DELETE) {
        if (r->n < 1 || r->n > UINT32_MAX)
            return ak_fail(AKIDB_EINVAL, "log record: %s of %zu points", kind_name(r->kind), r->n);
        if (r->kind == AK_CREC_UPSERT && (!r->points || !r->dims))
            return ak_fail(AKIDB_EINVAL, "log record: upsert without %s",
                           r->points ? "vector lengths" : "points");
        if (r->kind == AK_CREC_DELETE && !r->ids)
            return ak_fail(AKIDB_EINVAL, "log record: delete without ids");
        n += 4;
        for (size_t i = 0; i < r->n && n <= CREC_MAX; i++) {
            const char *id = r->kind == AK_CREC_UPSERT ? r->points[i].id : r->ids[i];
            if ((st = check_name("point id", id, AKIDB_POINT_ID_MAX)) != AKIDB_OK)
                return ak_fail_prefix(st, "point %zu", i);
            n += 1 + strlen(id);
            if (r->kind == AK_CREC_DELETE)
                continue;
            const akidb_point_in *p = &r->points[i];
            if (r->dims[i] < 1 || r->dims[i] > AKIDB_DIM_MAX || !p->vector)
                return ak_fail(AKIDB_EINVAL, "log record: point '%s': vector of %u floats",
                               p->id, p->vector ? r->dims[i] : 0);
            n += 4 + (size_t)r->dims[i] * 4 + 1;
            if (p->text)
                n += 4 + strnlen(p->text, CREC_MAX + 1);
            if (p->payload)
                n += 4 + strnlen(p->payload, CREC_MAX + 1);
        }
    }
    *size = n;
    return AKIDB_OK;
}

static void put_str32(wbuf *w, const char *s)
{
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put_bytes(w, s, n);
}

static void encode_body(const ak_crec *r, wbuf *w)
{
    put_bytes(w, CREC_MAGIC, 4);
    put_u8(w, CREC_VERSION);
    put_u8(w, (unsigned)r->kind);
    put_str8(w, r->tenant);
    if (has_collection(r->kind))
        put_str8(w, r->collection);
    if (r->kind == AK_CREC_COLL_CREATE) {
        const char *model = r->copts.model ? r->copts.model : "";
        put_u32(w, r->copts.dim);
        put_u8(w, (unsigned)r->copts.metric);
        put_u32(w, r->copts.hnsw_m);
        put_u32(w, r->copts.hnsw_ef_construction);
        put_u16(w, (unsigned)strlen(model));
        put_bytes(w, model, strlen(model));
    } else if (r->kind == AK_CREC_UPSERT) {
        put_u32(w, (uint32_t)r->n);
        for (size_t i = 0; i < r->n; i++) {
            const akidb_point_in *p = &r->points[i];
            put_str8(w, p->id);
            put_u32(w, r->dims[i]);
            for (uint32_t j = 0; j < r->dims[i]; j++)
                put_f32(w, p->vector[j]);
            put_u8(w, (p->text ? FLAG_TEXT : 0) | (p->payload ? FLAG_PAYLOAD : 0));
            if (p->text)
                put_str32(w, p->text);
            if (p->payload)
                put_str32(w, p->payload);
        }
    } else if (r->kind == AK_CREC_DELETE) {
        put_u32(w, (uint32_t)r->n);
        for (size_t i = 0; i < r->n; i++)
            put_str8(w, r->ids[i]);
    }
}

akidb_status ak_crec_encode(const ak_crec *r, void **buf, size_t *len)
{
    AK_ASSERT(r && buf && len);
    *buf = NULL;
    *len = 0;
    if (r->kind < AK_CREC_TENANT_CREATE || r->kind > AK_CREC_DELETE)
        return ak_fail(AKIDB_EINVAL, "log record of unknown kind %d", (int)r->kind);
    size_t size = 0;
    akidb_status st = measure(r, &size);
    if (st != AKIDB_OK)
        return st;
    if (size > CREC_MAX)
        return ak_fail(AKIDB_ERANGE,
                       "log record (%s of %zu points in '%s/%s'): %zu bytes or more, the log "
                       "takes at most %zu: split the batch",
                       kind_name(r->kind), r->n, r->tenant, r->collection ? r->collection : "",
                       size, CREC_MAX);
    wbuf w = { ak_malloc(size), 0 };
    if (!w.p)
        return ak_fail(AKIDB_ENOMEM, "out of memory encoding a log record of %zu bytes", size);
    encode_body(r, &w);
    AK_ASSERT(w.at == size);
    *buf = w.p;
    *len = size;
    return AKIDB_OK;
}

/* ---- decoding ------------------------------------------------------------ */

typedef struct rbuf {
    const unsigned char *p;
    size_t len, at;
    ak_arena *a;
} rbuf;

static akidb_status bad(const rbuf *r, size_t at, const char *what)
{
    return ak_fail(AKIDB_EFORMAT, "log record of %zu bytes: %s at offset %zu", r->len, what, at);
}

static akidb_status need(const rbuf *r, size_t n, const char *what)
{
    if (r->len - r->at < n)
        return ak_fail(AKIDB_EFORMAT,
                       "log record of %zu bytes: truncated: %s at offset %zu needs %zu bytes, %zu "
                       "left",
                       r->len, what, r->at, n, r->len - r->at);
    return AKIDB_OK;
}

static akidb_status get_u8(rbuf *r, const char *what, unsigned *v)
{
    akidb_status st = need(r, 1, what);
    if (st == AKIDB_OK)
        *v = r->p[r->at++];
    return st;
}

static akidb_status get_u16(rbuf *r, const char *what, unsigned *v)
{
    akidb_status st = need(r, 2, what);
    if (st == AKIDB_OK) {
        *v = (unsigned)r->p[r->at] | (unsigned)r->p[r->at + 1] << 8;
        r->at += 2;
    }
    return st;
}

static akidb_status get_u32(rbuf *r, const char *what, uint32_t *v)
{
    akidb_status st = need(r, 4, what);
    if (st == AKIDB_OK) {
        const unsigned char *b = r->p + r->at;
        *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        r->at += 4;
    }
    return st;
}

/* n bytes at the current offset as a new NUL-terminated string in the
 * arena; a NUL byte inside is damage (the store's strings are C strings). */
static akidb_status get_chars(rbuf *r, size_t n, const char *what, char **out)
{
    akidb_status st = need(r, n, what);
    if (st != AKIDB_OK)
        return st;
    const void *nul = memchr(r->p + r->at, 0, n);
    if (nul)
        return bad(r, (size_t)((const unsigned char *)nul - r->p), "NUL byte inside a string");
    char *s = ak_arena_alloc(r->a, n + 1);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "out of memory decoding a log record");
    if (n)
        memcpy(s, r->p + r->at, n);
    s[n] = 0;
    r->at += n;
    *out = s;
    return AKIDB_OK;
}

/* A str8 of 1..max bytes. */
static akidb_status get_name(rbuf *r, const char *what, size_t max, const char **out)
{
    size_t at = r->at;
    unsigned n;
    akidb_status st = get_u8(r, what, &n);
    if (st != AKIDB_OK)
        return st;
    if (n < 1 || n > max)
        return ak_fail(AKIDB_EFORMAT, "log record of %zu bytes: %s of %u bytes at offset %zu: "
                       "must be 1..%zu", r->len, what, n, at, max);
    char *s;
    st = get_chars(r, n, what, &s);
    *out = s;
    return st;
}

static akidb_status get_str32(rbuf *r, const char *what, const char **out)
{
    uint32_t n;
    akidb_status st = get_u32(r, what, &n);
    char *s = NULL;
    if (st == AKIDB_OK)
        st = get_chars(r, n, what, &s);
    *out = s;
    return st;
}

static akidb_status decode_copts(rbuf *r, ak_crec *out)
{
    akidb_collection_opts *o = &out->copts;
    unsigned metric, ml;
    akidb_status st = get_u32(r, "dimension", &o->dim);
    size_t at = r->at;
    if (st == AKIDB_OK)
        st = get_u8(r, "metric", &metric);
    if (st == AKIDB_OK && metric > AKIDB_METRIC_DOT)
        return bad(r, at, "unknown metric");
    o->metric = (akidb_metric)metric;
    if (st == AKIDB_OK)
        st = get_u32(r, "hnsw M", &o->hnsw_m);
    if (st == AKIDB_OK)
        st = get_u32(r, "hnsw ef_construction", &o->hnsw_ef_construction);
    at = r->at;
    if (st == AKIDB_OK)
        st = get_u16(r, "model name length", &ml);
    if (st == AKIDB_OK && ml > AKIDB_MODEL_NAME_MAX)
        return bad(r, at, "model name longer than 256 bytes");
    char *model = NULL;
    if (st == AKIDB_OK && ml > 0)
        st = get_chars(r, ml, "model name", &model);
    o->model = model;
    return st;
}

static akidb_status decode_point(rbuf *r, akidb_point_in *p, uint32_t *dim)
{
    akidb_status st = get_name(r, "point id", AKIDB_POINT_ID_MAX, &p->id);
    size_t at = r->at;
    if (st == AKIDB_OK)
        st = get_u32(r, "vector length", dim);
    if (st != AKIDB_OK)
        return st;
    if (*dim < 1 || *dim > AKIDB_DIM_MAX)
        return bad(r, at, "vector length outside 1..4096");
    if ((st = need(r, (size_t)*dim * 4, "vector")) != AKIDB_OK)
        return st;
    float *v = ak_arena_alloc(r->a, (size_t)*dim * sizeof *v);
    if (!v)
        return ak_fail(AKIDB_ENOMEM, "out of memory decoding a log record");
    for (uint32_t j = 0; j < *dim; j++) {   /* in bounds: checked above */
        const unsigned char *q = r->p + r->at + 4 * (size_t)j;
        uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                     (uint32_t)q[3] << 24;
        memcpy(&v[j], &u, sizeof u);
    }
    r->at += (size_t)*dim * 4;
    p->vector = v;
    unsigned flags;
    at = r->at;
    if ((st = get_u8(r, "point flags", &flags)) != AKIDB_OK)
        return st;
    if (flags & ~(FLAG_TEXT | FLAG_PAYLOAD))
        return bad(r, at, "unknown point flags");
    p->text = p->payload = NULL;
    if (flags & FLAG_TEXT)
        st = get_str32(r, "text", &p->text);
    if (st == AKIDB_OK && (flags & FLAG_PAYLOAD))
        st = get_str32(r, "payload", &p->payload);
    return st;
}

/* The u32 count of an UPSERT or DELETE, each item taking at least min_item
 * bytes: a count the bytes left cannot hold is damage (and is refused
 * before anything is allocated for it). */
static akidb_status get_count(rbuf *r, size_t min_item, size_t *n)
{
    size_t at = r->at;
    uint32_t v;
    akidb_status st = get_u32(r, "count", &v);
    if (st != AKIDB_OK)
        return st;
    if (v == 0)
        return bad(r, at, "count of 0");
    if ((uint64_t)v * min_item > r->len - r->at)
        return ak_fail(AKIDB_EFORMAT,
                       "log record of %zu bytes: truncated: count %u at offset %zu needs at "
                       "least %llu bytes, %zu left",
                       r->len, v, at, (unsigned long long)v * min_item, r->len - r->at);
    *n = v;
    return AKIDB_OK;
}

static akidb_status decode_items(rbuf *r, ak_crec *out)
{
    size_t n = 0;
    /* smallest point: id of 1, dim 1, one float, flags; smallest id: 2 */
    akidb_status st = get_count(r, out->kind == AK_CREC_UPSERT ? 2 + 4 + 4 + 1 : 2, &n);
    if (st != AKIDB_OK)
        return st;
    out->n = n;
    if (out->kind == AK_CREC_DELETE) {
        const char **ids = ak_arena_alloc(r->a, n * sizeof *ids);
        if (!ids)
            return ak_fail(AKIDB_ENOMEM, "out of memory decoding a log record");
        for (size_t i = 0; i < n && st == AKIDB_OK; i++)
            st = get_name(r, "point id", AKIDB_POINT_ID_MAX, &ids[i]);
        out->ids = ids;
        return st;
    }
    akidb_point_in *pts = ak_arena_alloc(r->a, n * sizeof *pts);
    uint32_t *dims = ak_arena_alloc(r->a, n * sizeof *dims);
    if (!pts || !dims)
        return ak_fail(AKIDB_ENOMEM, "out of memory decoding a log record");
    for (size_t i = 0; i < n && st == AKIDB_OK; i++)
        st = decode_point(r, &pts[i], &dims[i]);
    out->points = pts;
    out->dims = dims;
    return st;
}

akidb_status ak_crec_decode(const void *buf, size_t len, ak_arena *a, ak_crec *out)
{
    AK_ASSERT((buf || !len) && a && out);
    memset(out, 0, sizeof *out);
    rbuf r = { buf, len, 0, a };
    akidb_status st = need(&r, 6, "header");
    if (st != AKIDB_OK)
        return st;
    if (memcmp(r.p, CREC_MAGIC, 4) != 0)
        return bad(&r, 0, "not a cluster log record (magic)");
    if (r.p[4] != CREC_VERSION)
        return ak_fail(r.p[4] > CREC_VERSION ? AKIDB_EUNSUPPORTED : AKIDB_EFORMAT,
                       "log record of version %u at offset 4: this build reads version %d",
                       r.p[4], CREC_VERSION);
    if (r.p[5] < AK_CREC_TENANT_CREATE || r.p[5] > AK_CREC_DELETE)
        return bad(&r, 5, "unknown record kind");
    out->kind = (ak_crec_kind)r.p[5];
    r.at = 6;
    st = get_name(&r, "tenant", AKIDB_STORE_NAME_MAX, &out->tenant);
    if (st == AKIDB_OK && has_collection(out->kind))
        st = get_name(&r, "collection", AKIDB_STORE_NAME_MAX, &out->collection);
    if (st == AKIDB_OK && out->kind == AK_CREC_COLL_CREATE)
        st = decode_copts(&r, out);
    if (st == AKIDB_OK && (out->kind == AK_CREC_UPSERT || out->kind == AK_CREC_DELETE))
        st = decode_items(&r, out);
    if (st == AKIDB_OK && r.at != len)
        st = bad(&r, r.at, "bytes after the record's end");
    if (st != AKIDB_OK)
        memset(out, 0, sizeof *out);
    return st;
}

/* ---- applying ------------------------------------------------------------ */

/* A collection create whose name exists: a no-op when the existing one has
 * the record's options (it was this record, applied before), else EEXIST. */
static akidb_status coll_exists(akidb_store *store, const ak_crec *r)
{
    akidb_collection_info in;
    akidb_status st = akidb_collection_get_info(store, r->tenant, r->collection, &in);
    if (st != AKIDB_OK)
        return st;
    const akidb_collection_opts *o = &r->copts;
    uint32_t m = o->hnsw_m ? o->hnsw_m : 16;
    uint32_t efc = o->hnsw_ef_construction ? o->hnsw_ef_construction : 200;
    const char *model = o->model ? o->model : "";
    if (in.dim == o->dim && in.metric == o->metric && in.hnsw_m == m &&
        in.hnsw_ef_construction == efc && strcmp(in.model, model) == 0)
        return AKIDB_OK;
    return ak_fail(AKIDB_EEXIST,
                   "collection '%s/%s' exists with other options (dim %u, %s, M %u, ef %u, model "
                   "'%s') than the log record's (dim %u, %s, M %u, ef %u, model '%s')",
                   r->tenant, r->collection, in.dim, akidb_metric_name(in.metric), in.hnsw_m,
                   in.hnsw_ef_construction, in.model, o->dim, akidb_metric_name(o->metric), m,
                   efc, model);
}

akidb_status ak_crec_apply(akidb_store *store, const ak_crec *r)
{
    AK_ASSERT(store && r);
    akidb_status st = AKIDB_EINVAL;
    switch (r->kind) {
    case AK_CREC_TENANT_CREATE:
        st = akidb_tenant_create(store, r->tenant);
        if (st == AKIDB_EEXIST)
            st = AKIDB_OK;
        break;
    case AK_CREC_TENANT_DELETE:
        st = akidb_tenant_delete(store, r->tenant);
        if (st == AKIDB_ENOENT)
            st = AKIDB_OK;
        break;
    case AK_CREC_COLL_CREATE:
        st = akidb_collection_create(store, r->tenant, r->collection, &r->copts);
        if (st == AKIDB_EEXIST)
            st = coll_exists(store, r);
        break;
    case AK_CREC_COLL_DELETE:
        st = akidb_collection_delete(store, r->tenant, r->collection);
        if (st == AKIDB_ENOENT)
            st = AKIDB_OK;
        break;
    case AK_CREC_UPSERT:
        st = akidb_points_upsert(store, r->tenant, r->collection, r->points, r->dims, r->n);
        break;
    case AK_CREC_DELETE:
        st = akidb_points_delete(store, r->tenant, r->collection, r->ids, r->n, NULL);
        break;
    default:
        return ak_fail(AKIDB_EINVAL, "log record of unknown kind %d", (int)r->kind);
    }
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "applying %s in '%s%s%s'", kind_name(r->kind), r->tenant,
                              r->collection ? "/" : "", r->collection ? r->collection : "");
    return AKIDB_OK;
}
