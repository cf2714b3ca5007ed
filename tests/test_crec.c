/*
 * test_crec.c - the cluster log's records (src/cluster/crec.c):
 *
 *   roundtrip  every kind encoded and decoded back field by field, with and
 *              without text, payload and model; vectors bit for bit
 *   layout     the exact bytes of a few records (docs/FORMAT.md), so the
 *              format cannot change by accident
 *   truncated  every prefix of every kind's record is AKIDB_EFORMAT naming
 *              an offset; a byte too many too; every byte damaged in turn
 *              decodes or fails, never reads outside the record
 *   version    magic, version (newer: AKIDB_EUNSUPPORTED) and kind checks
 *   encode     what cannot be encoded: unknown kind, missing names, no
 *              vector lengths, over the log's 1 MiB (AKIDB_ERANGE)
 *   shard_of   fixed values of the id hash (FNV-1a 64): a change moves
 *              every point of every cluster
 *   apply      idempotence on a real store: a sequence of records applied,
 *              then again from each point in the middle, gives the same
 *              content as once; creates of existing things, deletes of
 *              missing ones; a create with other options is AKIDB_EEXIST
 */
#include "akt.h"
#include "cluster/crec.h"
#include "crec_util.h"

static akidb_point_in pts[3];
static float v0[3] = { 1.5f, -0.0f, 3.0e-39f }, v1[1] = { -2.25f }, v2[5] = { 1, 2, 3, 4, 5 };
static uint32_t dims[3] = { 3, 1, 5 };
static const char *del_ids[2] = { "a", "0123456789" };

/* One record of each kind; UPSERT's points with text and payload, neither,
 * and only a payload. */
static void records(ak_crec r[7])
{
    pts[0] = (akidb_point_in){ "p1", v0, "héllo", "{\"a\":1}" };
    pts[1] = (akidb_point_in){ "p2", v1, NULL, NULL };
    pts[2] = (akidb_point_in){ "p3", v2, NULL, "{}" };
    memset(r, 0, 7 * sizeof *r);
    r[0] = (ak_crec){ .kind = AK_CREC_TENANT_CREATE, .tenant = "acme" };
    r[1] = (ak_crec){ .kind = AK_CREC_TENANT_DELETE, .tenant = "acme" };
    r[2] = (ak_crec){ .kind = AK_CREC_COLL_CREATE, .tenant = "acme", .collection = "docs" };
    r[2].copts = (akidb_collection_opts){.dim = 384,
                                         .metric = AKIDB_METRIC_DOT,
                                         .model = "intfloat/e5-small",
                                         .hnsw_m = 24,
                                         .hnsw_ef_construction = 300};
    r[3] = (ak_crec){ .kind = AK_CREC_COLL_CREATE, .tenant = "acme", .collection = "raw" };
    r[3].copts = (akidb_collection_opts){.dim = 3, .metric = AKIDB_METRIC_COSINE};
    r[4] = (ak_crec){ .kind = AK_CREC_COLL_DELETE, .tenant = "acme", .collection = "docs" };
    r[5] = (ak_crec){ .kind = AK_CREC_UPSERT, .tenant = "acme", .collection = "docs",
                      .points = pts, .dims = dims, .n = 3 };
    r[6] = (ak_crec){ .kind = AK_CREC_DELETE, .tenant = "acme", .collection = "docs",
                      .ids = del_ids, .n = 2 };
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

AKT_TEST(roundtrip)
{
    ak_crec r[7];
    records(r);
    for (int k = 0; k < 7; k++) {
        void *buf = NULL;
        size_t len = 0;
        AKT_OK(ak_crec_encode(&r[k], &buf, &len));
        ak_arena a;
        ak_arena_init(&a, 0);
        ak_crec d;
        AKT_OK(ak_crec_decode(buf, len, &a, &d));
        AKT_EQ_INT(d.kind, r[k].kind);
        AKT_EQ_STR(d.tenant, r[k].tenant);
        AKT_TRUE(str_eq(d.collection, r[k].collection));
        AKT_EQ_INT(d.n, r[k].n);
        if (r[k].kind == AK_CREC_COLL_CREATE) {
            AKT_EQ_INT(d.copts.dim, r[k].copts.dim);
            AKT_EQ_INT(d.copts.metric, r[k].copts.metric);
            AKT_EQ_INT(d.copts.hnsw_m, r[k].copts.hnsw_m);
            AKT_EQ_INT(d.copts.hnsw_ef_construction, r[k].copts.hnsw_ef_construction);
            AKT_TRUE(str_eq(d.copts.model, r[k].copts.model));
        }
        for (size_t i = 0; r[k].kind == AK_CREC_UPSERT && i < d.n; i++) {
            AKT_EQ_STR(d.points[i].id, pts[i].id);
            AKT_EQ_INT(d.dims[i], dims[i]);
            AKT_EQ_INT(memcmp(d.points[i].vector, pts[i].vector, dims[i] * 4), 0);
            AKT_TRUE(str_eq(d.points[i].text, pts[i].text));
            AKT_TRUE(str_eq(d.points[i].payload, pts[i].payload));
        }
        for (size_t i = 0; r[k].kind == AK_CREC_DELETE && i < d.n; i++)
            AKT_EQ_STR(d.ids[i], del_ids[i]);
        ak_arena_free(&a);
        ak_free(buf);
    }
    /* an empty text and payload are not absent ones; an empty model is none */
    akidb_point_in p = { "e", v1, "", "" };
    ak_crec u = { .kind = AK_CREC_UPSERT, .tenant = "t", .collection = "c", .points = &p,
                  .dims = &dims[1], .n = 1 };
    cu_rec e = cu_encode(&u);
    ak_arena a;
    ak_arena_init(&a, 0);
    ak_crec d;
    AKT_OK(ak_crec_decode(e.buf, e.len, &a, &d));
    AKT_EQ_STR(d.points[0].text, "");
    AKT_EQ_STR(d.points[0].payload, "");
    ak_free(e.buf);
    e = cu_coll(AK_CREC_COLL_CREATE, "t", "c", 4, "");
    AKT_OK(ak_crec_decode(e.buf, e.len, &a, &d));
    AKT_TRUE(d.copts.model == NULL);
    ak_free(e.buf);
    ak_arena_free(&a);
}

static void expect_bytes(const cu_rec *e, const char *want, size_t n)
{
    AKT_EQ_INT(e->len, n);
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)e->buf)[i] != (unsigned char)want[i])
            AKT_FAIL_("byte %zu: %02x, want %02x", i, ((const unsigned char *)e->buf)[i],
                      (unsigned char)want[i]);
}

AKT_TEST(layout)
{
    cu_rec e = cu_tenant(AK_CREC_TENANT_CREATE, "t1");
    expect_bytes(&e, "AKCL\x01\x01\x02t1", 9);
    ak_free(e.buf);
    e = cu_coll(AK_CREC_COLL_CREATE, "t", "c", 0x0102, "m");
    expect_bytes(&e,
                 "AKCL\x01\x03\x01t\x01"
                 "c\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00m",
                 26);
    ak_free(e.buf);
    float v = 1.0f;   /* 0x3f800000 */
    uint32_t dim = 1;
    akidb_point_in p = { "x", &v, "ab", NULL };
    ak_crec u = { .kind = AK_CREC_UPSERT, .tenant = "t", .collection = "c", .points = &p,
                  .dims = &dim, .n = 1 };
    e = cu_encode(&u);
    expect_bytes(&e,
                 "AKCL\x01\x05\x01t\x01"
                 "c\x01\x00\x00\x00\x01x\x01\x00\x00\x00\x00\x00\x80\x3f\x01\x02\x00\x00\x00"
                 "ab",
                 31);
    ak_free(e.buf);
    e = cu_delete("t", "c", "yz");
    expect_bytes(&e, "AKCL\x01\x06\x01t\x01"
                     "c\x01\x00\x00\x00\x02yz",
                 17);
    ak_free(e.buf);
}

AKT_TEST(truncated)
{
    ak_crec r[7];
    records(r);
    for (int k = 0; k < 7; k++) {
        void *buf = NULL;
        size_t len = 0;
        AKT_OK(ak_crec_encode(&r[k], &buf, &len));
        ak_arena a;
        ak_arena_init(&a, 0);
        ak_crec d;
        for (size_t cut = 0; cut < len; cut++) {
            /* a copy of exactly cut bytes, so ASan sees a read past it */
            unsigned char *c = malloc(cut ? cut : 1);
            memcpy(c, buf, cut);
            akidb_status st = ak_crec_decode(c, cut, &a, &d);
            if (st != AKIDB_EFORMAT)
                AKT_FAIL_("kind %d cut at %zu of %zu: status %d", k, cut, len, (int)st);
            AKT_CONTAINS(akidb_last_error(), "offset");
            AKT_TRUE(d.tenant == NULL);
            free(c);
            ak_arena_reset(&a);
        }
        unsigned char *longer = malloc(len + 1);
        memcpy(longer, buf, len);
        longer[len] = 0;
        AKT_STATUS(ak_crec_decode(longer, len + 1, &a, &d), AKIDB_EFORMAT);
        AKT_CONTAINS(akidb_last_error(), "after the record's end");
        /* damage: each byte replaced by a few values; decoded or refused */
        for (size_t i = 0; i < len; i++) {
            static const unsigned char vals[] = { 0x00, 0x01, 0x7f, 0x80, 0xff };
            for (size_t j = 0; j < sizeof vals; j++) {
                memcpy(longer, buf, len);
                longer[i] = vals[j];
                unsigned char *c = malloc(len);
                memcpy(c, longer, len);
                akidb_status st = ak_crec_decode(c, len, &a, &d);
                AKT_TRUE(st == AKIDB_OK || st == AKIDB_EFORMAT || st == AKIDB_EUNSUPPORTED);
                free(c);
                ak_arena_reset(&a);
            }
        }
        free(longer);
        ak_arena_free(&a);
        ak_free(buf);
    }
    /* a count no record could hold is refused before anything is allocated */
    cu_rec e = cu_delete("t", "c", "yz");
    unsigned char *c = e.buf;
    c[10] = c[11] = c[12] = 0xff;
    ak_arena a;
    ak_arena_init(&a, 0);
    ak_crec d;
    AKT_STATUS(ak_crec_decode(c, e.len, &a, &d), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "offset 10");
    ak_arena_free(&a);
    ak_free(e.buf);
}

AKT_TEST(version)
{
    cu_rec e = cu_tenant(AK_CREC_TENANT_CREATE, "t1");
    unsigned char *c = e.buf;
    ak_arena a;
    ak_arena_init(&a, 0);
    ak_crec d;
    AKT_OK(ak_crec_decode(c, e.len, &a, &d));
    c[4] = 2;
    AKT_STATUS(ak_crec_decode(c, e.len, &a, &d), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "version 2");
    c[4] = 0;
    AKT_STATUS(ak_crec_decode(c, e.len, &a, &d), AKIDB_EFORMAT);
    c[4] = 1;
    c[5] = 7;
    AKT_STATUS(ak_crec_decode(c, e.len, &a, &d), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "kind at offset 5");
    c[5] = 1;
    c[0] = 'X';
    AKT_STATUS(ak_crec_decode(c, e.len, &a, &d), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "magic");
    c[0] = 'A';
    c[7] = 0;   /* a NUL inside the tenant name */
    AKT_STATUS(ak_crec_decode(c, e.len, &a, &d), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "offset 7");
    c[6] = 0;   /* a name of 0 bytes */
    AKT_STATUS(ak_crec_decode(c, e.len, &a, &d), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "offset 6");
    ak_arena_free(&a);
    ak_free(e.buf);
}

AKT_TEST(encode)
{
    void *buf = (void *)1;
    size_t len = 1;
    ak_crec r = { .kind = (ak_crec_kind)9, .tenant = "t" };
    AKT_STATUS(ak_crec_encode(&r, &buf, &len), AKIDB_EINVAL);
    AKT_TRUE(buf == NULL && len == 0);
    r = (ak_crec){ .kind = AK_CREC_TENANT_CREATE };
    AKT_STATUS(ak_crec_encode(&r, &buf, &len), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "tenant");
    r = (ak_crec){ .kind = AK_CREC_COLL_DELETE, .tenant = "t" };
    AKT_STATUS(ak_crec_encode(&r, &buf, &len), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "collection");
    float v = 1;
    akidb_point_in p = { "x", &v, NULL, NULL };
    r = (ak_crec){ .kind = AK_CREC_UPSERT, .tenant = "t", .collection = "c", .points = &p,
                   .n = 1 };
    AKT_STATUS(ak_crec_encode(&r, &buf, &len), AKIDB_EINVAL);
    AKT_CONTAINS(akidb_last_error(), "vector lengths");
    /* 300 points of 1024 floats: 1.2 MiB, past the log's limit */
    const size_t n = 300;
    const uint32_t dim = 1024;
    float *vec = calloc(dim, sizeof *vec);
    akidb_point_in *many = calloc(n, sizeof *many);
    uint32_t *ds = calloc(n, sizeof *ds);
    char (*ids)[16] = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], sizeof ids[i], "p%zu", i);
        many[i] = (akidb_point_in){ ids[i], vec, NULL, NULL };
        ds[i] = dim;
    }
    r = (ak_crec){ .kind = AK_CREC_UPSERT, .tenant = "t", .collection = "c", .points = many,
                   .dims = ds, .n = n };
    AKT_STATUS(ak_crec_encode(&r, &buf, &len), AKIDB_ERANGE);
    AKT_CONTAINS(akidb_last_error(), "1048576");
    r.n = 200;   /* 0.8 MiB fits */
    AKT_OK(ak_crec_encode(&r, &buf, &len));
    AKT_TRUE(len < ((size_t)1 << 20));
    ak_free(buf);
    free(vec), free(many), free(ds), free(ids);
}

AKT_TEST(shard_of)
{
    /* FNV-1a 64: "a" 0xaf63dc4c8601ec8c, "foobar" 0x85944171f73967e8 */
    AKT_EQ_INT(ak_crec_shard_of("a", 16), 12);
    AKT_EQ_INT(ak_crec_shard_of("a", 1024), 140);
    AKT_EQ_INT(ak_crec_shard_of("foobar", 1024), 1000);
    AKT_EQ_INT(ak_crec_shard_of("foobar", 3), 0);
    AKT_EQ_INT(ak_crec_shard_of("p1", 3), 2);
    AKT_EQ_INT(ak_crec_shard_of("point-42", 16), 6);
    AKT_EQ_INT(ak_crec_shard_of("0", 1024), 175);
    AKT_EQ_INT(ak_crec_shard_of("550e8400-e29b-41d4-a716-446655440000", 1024), 72);
    AKT_EQ_INT(ak_crec_shard_of("anything", 1), 0);
    /* ids spread over the shards */
    unsigned count[8] = { 0 };
    for (int i = 0; i < 8000; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", i);
        count[ak_crec_shard_of(id, 8)]++;
    }
    for (int k = 0; k < 8; k++)
        AKT_TRUE(count[k] > 800 && count[k] < 1200);
}

/* ---- apply ---------------------------------------------------------------- */

#define NREC 40

/* A history: tenants and collections made and dropped, points written,
 * rewritten and deleted, a collection dropped and made again with another
 * dimension. */
static size_t history(cu_rec *h)
{
    size_t n = 0;
    h[n++] = cu_tenant(AK_CREC_TENANT_CREATE, "t");
    h[n++] = cu_coll(AK_CREC_COLL_CREATE, "t", "c", 4, "some/model");
    h[n++] = cu_coll(AK_CREC_COLL_CREATE, "t", "d", 3, NULL);
    for (int i = 0; i < 10; i++) {
        char id[8];
        snprintf(id, sizeof id, "p%d", i % 6);
        h[n++] = cu_upsert("t", "c", id, (unsigned)i, 4);
    }
    h[n++] = cu_delete("t", "c", "p2");
    h[n++] = cu_delete("t", "c", "never");
    h[n++] = cu_upsert("t", "d", "q", 1, 3);
    h[n++] = cu_coll(AK_CREC_COLL_DELETE, "t", "d", 0, NULL);
    h[n++] = cu_coll(AK_CREC_COLL_CREATE, "t", "d", 5, NULL);
    h[n++] = cu_upsert("t", "d", "q", 2, 5);
    h[n++] = cu_tenant(AK_CREC_TENANT_CREATE, "gone");
    h[n++] = cu_coll(AK_CREC_COLL_CREATE, "gone", "x", 2, NULL);
    h[n++] = cu_upsert("gone", "x", "z", 0, 2);
    h[n++] = cu_tenant(AK_CREC_TENANT_DELETE, "gone");
    h[n++] = cu_upsert("t", "c", "p3", 0, 4);   /* without text and payload */
    h[n++] = cu_delete("t", "c", "p5");
    return n;
}

static akidb_store *open_store(const char *dir)
{
    akidb_store_opts o = AKIDB_STORE_OPTS_INIT;
    o.sync = AKIDB_SYNC_NONE;
    o.no_snapshot_on_close = true;
    akidb_store *s = NULL;
    if (akidb_store_open(dir, &o, &s) != AKIDB_OK)
        fprintf(stderr, "open %s: %s\n", dir, akidb_last_error());
    return s;
}

AKT_TEST(apply)
{
    const char *tmp = akt_tmpdir("akt-crec-");
    cu_rec h[NREC];
    size_t n = history(h);
    AKT_TRUE(n <= NREC);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/once", tmp);
    akidb_store *s = open_store(dir);
    AKT_TRUE(s != NULL);
    for (size_t i = 0; i < n; i++)
        AKT_OK(cu_apply(s, &h[i]));
    char *once = cu_dump(s);
    AKT_TRUE(once != NULL);
    AKT_CONTAINS(once, "coll c dim 4 l2 m 16 ef 200 model 'some/model' n 4");
    AKT_CONTAINS(once, "coll d dim 5");
    AKT_CONTAINS(once, "  p3 text - payload - v");
    AKT_CONTAINS(once, "  p4 text text of p4 v4 payload {\"ver\":4} v");
    AKT_TRUE(strstr(once, "gone") == NULL && strstr(once, "p2 ") == NULL);
    akidb_store_close(s);
    /* again from every record m on, on top of the whole history: the same */
    for (size_t m = 0; m < n; m++) {
        snprintf(dir, sizeof dir, "%s/again%zu", tmp, m);
        s = open_store(dir);
        AKT_TRUE(s != NULL);
        for (size_t i = 0; i < n; i++)
            AKT_OK(cu_apply(s, &h[i]));
        size_t failed = 0;
        for (size_t i = m; i < n; i++) {
            akidb_status st = cu_apply(s, &h[i]);
            /* the records of things a later record dropped fail, as the log
             * goes on to drop them again */
            if (st != AKIDB_OK) {
                AKT_TRUE(st == AKIDB_ENOENT || st == AKIDB_EEXIST || st == AKIDB_EDIM);
                failed++;
            }
        }
        char *again = cu_dump(s);
        AKT_TRUE(again != NULL);
        if (strcmp(again, once) != 0)
            AKT_FAIL_("re-applied from %zu (%zu failed):\n%s\nonce:\n%s", m, failed, again,
                      once);
        free(again);
        akidb_store_close(s);
    }
    /* one record at a time applied twice in a row: no failure at all */
    snprintf(dir, sizeof dir, "%s/twice", tmp);
    s = open_store(dir);
    AKT_TRUE(s != NULL);
    for (size_t i = 0; i < n; i++) {
        AKT_OK(cu_apply(s, &h[i]));
        AKT_OK(cu_apply(s, &h[i]));
    }
    char *twice = cu_dump(s);
    AKT_EQ_STR(twice, once);
    free(twice);
    /* a create of an existing collection with other options is refused */
    cu_rec other = cu_coll(AK_CREC_COLL_CREATE, "t", "c", 4, NULL);
    AKT_STATUS(cu_apply(s, &other), AKIDB_EEXIST);
    AKT_CONTAINS(akidb_last_error(), "other options");
    AKT_CONTAINS(akidb_last_error(), "t/c");
    ak_free(other.buf);
    /* a point write into a collection that does not exist names it */
    cu_rec nowhere = cu_upsert("t", "nope", "x", 1, 4);
    AKT_STATUS(cu_apply(s, &nowhere), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "upsert in 't/nope'");
    ak_free(nowhere.buf);
    akidb_store_close(s);
    free(once);
    for (size_t i = 0; i < n; i++)
        ak_free(h[i].buf);
}

AKT_MAIN(AKT_REG(roundtrip), AKT_REG(layout), AKT_REG(truncated), AKT_REG(version),
         AKT_REG(encode), AKT_REG(shard_of), AKT_REG(apply))
