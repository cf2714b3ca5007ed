/*
 * crec_util.h - helpers of the tests of the cluster log's records and
 * replicas (test_crec.c, test_replica.c): a store's whole content as one
 * string (to compare two stores), and encoded records of each kind built
 * from a few arguments.  Header-only (static functions).
 */
#ifndef AKIDB_TEST_CREC_UTIL_H
#define AKIDB_TEST_CREC_UTIL_H

#include "akt.h"
#include "cluster/crec.h"

#include <stdarg.h>

/* ---- a growing string ------------------------------------------------------ */

typedef struct cu_str {
    char *s;
    size_t len, cap;
} cu_str;

static void cu_add(cu_str *b, const char *fmt, ...) AK_PRINTF(2, 3);

static void cu_add(cu_str *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            abort();
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap + (size_t)n + 1) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s)
            abort();
    }
}

/* Every tenant, collection (with its options) and point (id, text, payload,
 * the vector's bits) of store, in a fixed order; NULL when a read fails.
 * free() the result. */
static char *cu_dump(akidb_store *store)
{
    cu_str b = { 0 };
    cu_add(&b, "store\n");
    akidb_names tn;
    if (akidb_tenant_list(store, &tn) != AKIDB_OK)
        return NULL;
    for (size_t t = 0; t < tn.n; t++) {
        cu_add(&b, "tenant %s\n", tn.names[t]);
        akidb_names cn;
        if (akidb_collection_list(store, tn.names[t], &cn) != AKIDB_OK)
            return NULL;
        for (size_t c = 0; c < cn.n; c++) {
            akidb_collection_info in;
            if (akidb_collection_get_info(store, tn.names[t], cn.names[c], &in) != AKIDB_OK)
                return NULL;
            cu_add(&b, " coll %s dim %u %s m %u ef %u model '%s' n %llu\n", in.name, in.dim,
                   akidb_metric_name(in.metric), in.hnsw_m, in.hnsw_ef_construction, in.model,
                   (unsigned long long)in.n_points);
            char *cursor = NULL;
            do {
                akidb_points p;
                if (akidb_points_scroll(store, tn.names[t], cn.names[c], cursor, 1000, NULL,
                                        AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT |
                                            AKIDB_WITH_VECTOR,
                                        &p) != AKIDB_OK)
                    return NULL;
                free(cursor);
                cursor = p.next_cursor ? strdup(p.next_cursor) : NULL;
                for (size_t i = 0; i < p.n; i++) {
                    const akidb_point *q = &p.items[i];
                    cu_add(&b, "  %s text %s payload %s v", q->id, q->text ? q->text : "-",
                           q->payload ? q->payload : "-");
                    for (uint32_t j = 0; j < q->dim; j++) {
                        uint32_t u;
                        memcpy(&u, &q->vector[j], 4);
                        cu_add(&b, " %08x", u);
                    }
                    cu_add(&b, "\n");
                }
                akidb_points_free(&p);
            } while (cursor);
        }
        akidb_names_free(&cn);
    }
    akidb_names_free(&tn);
    return b.s;
}

/* ---- encoded records ------------------------------------------------------- */

typedef struct cu_rec {
    void *buf;
    size_t len;
} cu_rec;

static cu_rec cu_encode(const ak_crec *r)
{
    cu_rec e = { NULL, 0 };
    if (ak_crec_encode(r, &e.buf, &e.len) != AKIDB_OK) {
        fprintf(stderr, "encode: %s\n", akidb_last_error());
        abort();
    }
    return e;
}

static cu_rec cu_tenant(ak_crec_kind kind, const char *tenant)
{
    ak_crec r = { .kind = kind, .tenant = tenant };
    return cu_encode(&r);
}

static cu_rec cu_coll(ak_crec_kind kind, const char *tenant, const char *coll, uint32_t dim,
                      const char *model)
{
    ak_crec r = { .kind = kind, .tenant = tenant, .collection = coll };
    r.copts.dim = dim;
    r.copts.metric = AKIDB_METRIC_L2;
    r.copts.model = model;
    return cu_encode(&r);
}

/* The vector of point id in version ver: dim floats made from both. */
static void cu_vector(const char *id, unsigned ver, float *v, uint32_t dim)
{
    unsigned h = ver * 7919u;
    for (const char *p = id; *p; p++)
        h = h * 31u + (unsigned char)*p;
    for (uint32_t j = 0; j < dim; j++)
        v[j] = (float)((h >> (j % 16)) % 1000) / 100.0f - 5.0f + (float)j * 0.25f;
}

/* An upsert of one point: its vector cu_vector(id, ver), text and payload
 * naming the version (none for ver 0). */
static cu_rec cu_upsert(const char *tenant, const char *coll, const char *id, unsigned ver,
                        uint32_t dim)
{
    float v[64];
    char text[64], payload[64];
    snprintf(text, sizeof text, "text of %s v%u", id, ver);
    snprintf(payload, sizeof payload, "{\"ver\":%u}", ver);
    cu_vector(id, ver, v, dim);
    akidb_point_in p = { id, v, ver ? text : NULL, ver ? payload : NULL };
    ak_crec r = { .kind = AK_CREC_UPSERT, .tenant = tenant, .collection = coll,
                  .points = &p, .dims = &dim, .n = 1 };
    return cu_encode(&r);
}

static cu_rec cu_delete(const char *tenant, const char *coll, const char *id)
{
    const char *ids[1] = { id };
    ak_crec r = { .kind = AK_CREC_DELETE, .tenant = tenant, .collection = coll, .ids = ids,
                  .n = 1 };
    return cu_encode(&r);
}

/* Decodes e and applies it to store. */
static akidb_status cu_apply(akidb_store *store, const cu_rec *e)
{
    ak_arena a;
    ak_arena_init(&a, 0);
    ak_crec r;
    akidb_status st = ak_crec_decode(e->buf, e->len, &a, &r);
    if (st == AKIDB_OK)
        st = ak_crec_apply(store, &r);
    ak_arena_free(&a);
    return st;
}

#endif /* AKIDB_TEST_CREC_UTIL_H */
