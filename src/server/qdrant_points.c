/*
 * qdrant_points.c - the point routes of the Qdrant API (routes_qdrant.c
 * lists them): upsert (points list or batch; Documents embedded with the
 * collection's model; the last write of an id wins), retrieve by ids, one
 * point, scroll with Qdrant's inclusive offset, count, delete by ids or
 * filter, set / overwrite payload.  Writes by filter go page by page, one
 * atomic upsert or delete per page.
 */
#include "server/route.h"
#include "server/dataplane.h"

#ifdef AK_HAVE_STORE

#include "server/qdrant_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- upsert ---------------------------------------------------------------------- */

typedef struct upin {
    size_t n;
    char (*ids)[AK_QDRANT_ID_CAP];
    float *vecs;
    char **payloads;          /* compact JSON text (jansson's allocator) or NULL */
    const json_t **docs;      /* the Document of point i, or NULL                */
    const json_t *qd_doc_model;  /* "model" of the first Document                   */
    bool *keep;
    akidb_point_in *pts;
} upin;

static void upin_free(upin *u)
{
    for (size_t i = 0; u->payloads && i < u->n; i++)
        ak_json_free_str(u->payloads[i]);
    ak_free(u->ids);
    ak_free(u->vecs);
    ak_free(u->payloads);
    ak_free(u->docs);
    ak_free(u->keep);
    ak_free(u->pts);
}

static bool upin_alloc(ak_ctx *c, upin *u, size_t n, uint32_t dim)
{
    memset(u, 0, sizeof *u);
    u->n = n;
    u->ids = ak_calloc(n, sizeof *u->ids);
    u->vecs = ak_calloc(n * dim, sizeof *u->vecs);
    u->payloads = ak_calloc(n, sizeof *u->payloads);
    u->docs = ak_calloc(n, sizeof *u->docs);
    u->keep = ak_calloc(n, sizeof *u->keep);
    u->pts = ak_calloc(n, sizeof *u->pts);
    if (u->ids && u->vecs && u->payloads && u->docs && u->keep && u->pts)
        return true;
    qd_oom(c);
    return false;
}

/* Point i from its id, vector (or Document) and payload JSON. */
static bool upin_set(ak_ctx *c, upin *u, size_t i, uint32_t dim, const json_t *id,
                     const json_t *vec, const json_t *payload)
{
    char what[48];
    snprintf(what, sizeof what, "points[%zu].vector", i);
    if (!id) {
        QD_BAD(c, "Format error in JSON body: points[%zu].id is required", i);
        return false;
    }
    if (!qd_id(c, id, u->ids[i]))
        return false;
    if (qd_doc_text(vec)) {
        u->docs[i] = vec;
        if (!u->qd_doc_model)
            u->qd_doc_model = json_object_get(vec, "model");
    } else if (!vec) {
        QD_BAD(c, "Format error in JSON body: %s is required", what);
        return false;
    } else if (!qd_vec(c, vec, what, dim, u->vecs + i * dim)) {
        return false;
    }
    if (payload && !json_is_null(payload)) {
        if (!json_is_object(payload)) {
            QD_BAD(c, "Format error in JSON body: points[%zu].payload must be an object", i);
            return false;
        }
        if (!(u->payloads[i] = json_dumps(payload, JSON_COMPACT))) {
            qd_oom(c);
            return false;
        }
    }
    return true;
}

/* {"points": [{id, vector, payload}]} or {"batch": {ids, vectors, payloads}}. */
static bool upin_parse(ak_ctx *c, json_t *b, uint32_t dim, upin *u)
{
    json_t *pts = json_object_get(b, "points"), *batch = json_object_get(b, "batch");
    memset(u, 0, sizeof *u);
    if (json_is_array(pts)) {
        size_t n = json_array_size(pts);
        if (n == 0 || n > 100000) {
            QD_BAD(c, "Wrong input: \"points\" must hold 1 to 100000 points");
            return false;
        }
        if (!upin_alloc(c, u, n, dim))
            return false;
        for (size_t i = 0; i < n; i++) {
            json_t *p = json_array_get(pts, i);
            if (!json_is_object(p)) {
                QD_BAD(c, "Format error in JSON body: points[%zu] must be an object", i);
                return false;
            }
            json_t *v = json_object_get(p, "vector");
            if (!v)
                v = json_object_get(p, "vectors");
            if (!upin_set(c, u, i, dim, json_object_get(p, "id"), v,
                          json_object_get(p, "payload")))
                return false;
        }
        return true;
    }
    if (!json_is_object(batch)) {
        QD_BAD(c, "Format error in JSON body: send \"points\" (an array) or \"batch\"");
        return false;
    }
    json_t *ids = json_object_get(batch, "ids"), *vecs = json_object_get(batch, "vectors");
    json_t *pls = json_object_get(batch, "payloads");
    size_t n = json_array_size(ids);
    if (!json_is_array(ids) || n == 0 || n > 100000 || !json_is_array(vecs) ||
        json_array_size(vecs) != n || (pls && !json_is_null(pls) &&
                                       (!json_is_array(pls) || json_array_size(pls) != n))) {
        QD_BAD(c, "Wrong input: batch.ids (1 to 100000), batch.vectors and batch.payloads must "
            "be arrays of one length");
        return false;
    }
    if (!upin_alloc(c, u, n, dim))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!upin_set(c, u, i, dim, json_array_get(ids, i), json_array_get(vecs, i),
                      json_is_array(pls) ? json_array_get(pls, i) : NULL))
            return false;
    return true;
}

static int cmp_idptr(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int r = strcmp(x, y);
    return r ? r : (x < y ? -1 : x > y);
}

/* Marks the last occurrence of each id (Qdrant: the last write wins). */
static bool upin_dedupe(ak_ctx *c, upin *u)
{
    const char **order = ak_malloc(u->n * sizeof *order);
    if (!order) {
        qd_oom(c);
        return false;
    }
    for (size_t i = 0; i < u->n; i++)
        order[i] = u->ids[i];
    qsort(order, u->n, sizeof *order, cmp_idptr);
    for (size_t i = 0; i < u->n; i++)
        if (i + 1 == u->n || strcmp(order[i], order[i + 1]) != 0)
            u->keep[(size_t)((const char(*)[AK_QDRANT_ID_CAP])order[i] - u->ids)] = true;
    ak_free(order);
    return true;
}

/* Embeds the Documents among the points with one model. */
static bool upin_embed(ak_ctx *c, upin *u, const akidb_collection_info *in)
{
    size_t nd = 0;
    for (size_t i = 0; i < u->n; i++)
        nd += u->docs[i] != NULL;
    if (nd == 0)
        return true;
    ak_emodel *em = qd_doc_model(c, in, u->qd_doc_model);
    if (!em)
        return false;
    const char **t = ak_malloc(nd * sizeof *t);
    size_t *l = ak_malloc(nd * sizeof *l);
    float *out = ak_malloc(nd * in->dim * sizeof *out);
    bool ok = t && l && out;
    if (!ok)
        qd_oom(c);
    for (size_t i = 0, k = 0; ok && i < u->n; i++)
        if (u->docs[i]) {
            const json_t *s = qd_doc_text(u->docs[i]);
            t[k] = json_string_value(s);
            l[k++] = json_string_length(s);
        }
    size_t tokens;
    if (ok)
        ok = ak_embed_for_route(c, em, t, l, nd, AKIDB_POOL_DEFAULT, -1, 1, out, &tokens);
    for (size_t i = 0, k = 0; ok && i < u->n; i++)
        if (u->docs[i])
            memcpy(u->vecs + i * in->dim, out + in->dim * k++, in->dim * sizeof *out);
    ak_free(t);
    ak_free(l);
    ak_free(out);
    return ok;
}

void qd_upsert(ak_ctx *c)
{
    akidb_collection_info in;
    if (!qd_info(c, &in))
        return;
    upin u;
    if (upin_parse(c, c->body, in.dim, &u) && upin_dedupe(c, &u) && upin_embed(c, &u, &in)) {
        size_t m = 0;
        for (size_t i = 0; i < u.n; i++)
            if (u.keep[i]) {
                const json_t *d = u.docs[i] ? qd_doc_text(u.docs[i]) : NULL;
                akidb_point_in p = {u.ids[i], u.vecs + i * in.dim,
                                    d ? json_string_value(d) : NULL, u.payloads[i]};
                u.pts[m++] = p;
            }
        akidb_status st =
            c->srv->dp->upsert(c->srv->dp_ctx, c->id.tenant, qd_coll(c), u.pts, NULL, m);
        if (st != AKIDB_OK)
            qd_store_fail(c, st);
        else
            qd_done(c);
    }
    upin_free(&u);
}

/* ---- reading points ----------------------------------------------------------------- */

/* The ids of an array (parsed into one block); replies on error. */
static bool get_id_list(ak_ctx *c, const json_t *arr, const char *what, char (**buf)[AK_QDRANT_ID_CAP],
                        const char ***ids, size_t *n)
{
    *buf = NULL;
    *ids = NULL;
    *n = json_array_size(arr);
    if (!json_is_array(arr) || *n > 100000) {
        QD_BAD(c, "Format error in JSON body: \"%s\" must be an array of at most 100000 point ids",
            what);
        return false;
    }
    *buf = ak_calloc(*n ? *n : 1, sizeof **buf);
    *ids = ak_calloc(*n ? *n : 1, sizeof **ids);
    if (!*buf || !*ids) {
        qd_oom(c);
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        if (!qd_id(c, json_array_get(arr, i), (*buf)[i]))
            return false;
        (*ids)[i] = (*buf)[i];
    }
    return true;
}

/* POST .../points: {"ids", "with_payload" (true), "with_vector" (false)}. */
void qd_retrieve(ak_ctx *c)
{
    akidb_collection_info in;
    qd_payload_sel ps;
    bool wv;
    if (!qd_info(c, &in) || !qd_get_psel(c, c->body, true, &ps) || !qd_wvec(c, c->body, &wv))
        return;
    char(*buf)[AK_QDRANT_ID_CAP];
    const char **ids;
    size_t n;
    if (get_id_list(c, json_object_get(c->body, "ids"), "ids", &buf, &ids, &n)) {
        akidb_points pts = {0};
        akidb_status st = ak_dp_get(c, qd_coll(c), ids, n, qd_with(&ps, wv), &pts);
        if (st != AKIDB_OK) {
            qd_store_fail(c, st);
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; arr && i < pts.n; i++)
                if (json_array_append_new(arr, qd_point_out(&pts.items[i], &ps, wv, in.metric,
                                                         false)) != 0) {
                    json_decref(arr);
                    arr = NULL;
                }
            qd_ok(c, arr);
        }
        akidb_points_free(&pts);
    }
    ak_free(buf);
    ak_free(ids);
}

/* GET .../points/{id}. */
void qd_point(ak_ctx *c)
{
    akidb_collection_info in;
    if (!qd_info(c, &in))
        return;
    char id[AK_QDRANT_ID_CAP], err[200];
    if (!ak_qdrant_id_from_text(c->param[1], id, err, sizeof err)) {
        QD_BAD(c, "Format error in path: %s", err);
        return;
    }
    const char *ids[1] = {id};
    akidb_points pts = {0};
    akidb_status st = ak_dp_get(c, qd_coll(c), ids, 1, AKIDB_WITH_PAYLOAD | AKIDB_WITH_VECTOR,
                                &pts);
    qd_payload_sel ps = {true, NULL, false};
    if (st != AKIDB_OK)
        qd_store_fail(c, st);
    else if (pts.n == 0)
        ak_reply_error(c, 404, "not_found", "Not found: Point with id %s does not exists!",
                       c->param[1]);
    else
        qd_ok(c, qd_point_out(&pts.items[0], &ps, true, in.metric, false));
    akidb_points_free(&pts);
}

/* ---- scroll and count --------------------------------------------------------------- */

typedef struct page_acc {
    json_t *arr;
    json_t *next;          /* the id after the page, or NULL */
    size_t limit;
    const char *from;      /* has_id scrolls: ids before it are skipped */
    const qd_payload_sel *ps;
    bool wv;
    akidb_metric metric;
} page_acc;

static bool acc_add(ak_ctx *c, page_acc *a, const akidb_point *p)
{
    if (a->next)
        return true;
    if (json_array_size(a->arr) == a->limit) {
        if (!(a->next = ak_qdrant_id_to_json(p->id))) {
            qd_oom(c);
            return false;
        }
        return true;
    }
    if (json_array_append_new(a->arr, qd_point_out(p, a->ps, a->wv, a->metric, false)) != 0) {
        qd_oom(c);
        return false;
    }
    return true;
}

static bool acc_page(ak_ctx *c, akidb_points *page, const bool *keep, void *arg)
{
    page_acc *a = arg;
    for (size_t i = 0; i < page->n; i++)
        if ((!keep || keep[i]) && (!a->from || strcmp(page->items[i].id, a->from) >= 0) &&
            !acc_add(c, a, &page->items[i]))
            return false;
    return true;
}

/* The offset point itself (Qdrant's offset is inclusive) when it exists and
 * passes the filter. */
static bool scroll_head(ak_ctx *c, qd_selection *s, const char *id, unsigned with, page_acc *a)
{
    if (s->qf.filter && !s->compiled &&
        ak_filter_compile(s->qf.filter, &s->compiled) != AKIDB_OK) {
        qd_store_fail(c, AKIDB_EINVAL);
        return false;
    }
    const char *ids[1] = {id};
    akidb_points pts = {0};
    akidb_status st = akidb_points_get(c->srv->store, c->id.tenant, qd_coll(c), ids, 1,
                                       with | AKIDB_WITH_PAYLOAD, &pts);
    if (st != AKIDB_OK) {
        qd_store_fail(c, st);
        return false;
    }
    bool ok = true;
    if (pts.n == 1) {
        json_t *pl = NULL;
        const char *t = pts.items[0].payload;
        if (t)
            ak_payload_parse(t, strlen(t), "point", &pl);
        if (!s->compiled ||
            ak_filter_match_point(s->compiled, pts.items[0].id, strlen(pts.items[0].id), pl))
            ok = acc_add(c, a, &pts.items[0]);
        json_decref(pl);
    }
    akidb_points_free(&pts);
    return ok;
}

/* POST .../points/scroll: {"offset", "limit" (10), "filter", "with_payload"
 * (true), "with_vector" (false)}; points in AkiDB's id order. */
void qd_scroll(ak_ctx *c)
{
    if (!ak_dp_reads_ok(c))   /* a node holding only some shards */
        return;
    akidb_collection_info in;
    if (!qd_opt_body(c) || !qd_info(c, &in))
        return;
    json_t *b = c->body;
    size_t limit;
    qd_payload_sel ps;
    bool wv;
    char from[AK_QDRANT_ID_CAP];
    json_t *off = json_object_get(b, "offset");
    json_t *ob = json_object_get(b, "order_by");
    if (ob && !json_is_null(ob)) {
        QD_BAD(c, "Wrong input: \"order_by\" is not supported; points come in id order");
        return;
    }
    if (!qd_uint(c, b, "limit", 10, 1, 10000, &limit) || !qd_get_psel(c, b, true, &ps) ||
        !qd_wvec(c, b, &wv))
        return;
    bool has_from = off && !json_is_null(off);
    if (has_from && !qd_id(c, off, from))
        return;
    qd_selection s;
    if (!qd_get_sel(c, b, &s))
        return;
    page_acc a = {json_array(), NULL, limit, NULL, &ps, wv, in.metric};
    unsigned with = qd_with(&ps, wv);
    bool ok = a.arr != NULL;
    if (!ok) {
        qd_oom(c);
    } else if (s.qf.ids) {
        a.from = has_from ? from : NULL;
        ok = qd_for_selected(c, &s, with, acc_page, &a);
    } else {
        ok = !has_from || scroll_head(c, &s, from, with, &a);
        char *cursor = has_from ? from : NULL;
        akidb_points pts = {0};
        if (ok && !a.next) {
            akidb_status st = akidb_points_scroll(c->srv->store, c->id.tenant, qd_coll(c),
                                                  cursor, limit + 1 - json_array_size(a.arr),
                                                  s.text, with, &pts);
            if (st != AKIDB_OK) {
                qd_store_fail(c, st);
                ok = false;
            } else {
                ok = acc_page(c, &pts, NULL, &a);
            }
        }
        akidb_points_free(&pts);
    }
    qd_sel_clear(&s);
    if (ok)
        qd_ok(c, json_pack("{s:o,s:o}", "points", a.arr, "next_page_offset",
                          a.next ? a.next : json_null()));
    else {
        json_decref(a.arr);
        json_decref(a.next);
    }
}

static bool count_page(ak_ctx *c, akidb_points *page, const bool *keep, void *arg)
{
    (void)c;
    for (size_t i = 0; i < page->n; i++)
        *(uint64_t *)arg += !keep || keep[i];
    return true;
}

/* POST .../points/count: {"filter", "exact"}; counts are always exact. */
void qd_count(ak_ctx *c)
{
    if (!ak_dp_reads_ok(c))   /* a node holding only some shards */
        return;
    akidb_collection_info in;
    qd_selection s;
    if (!qd_opt_body(c) || !qd_info(c, &in) || !qd_get_sel(c, c->body, &s))
        return;
    uint64_t n = 0;
    bool ok = true;
    if (s.qf.ids) {
        ok = qd_for_selected(c, &s, 0, count_page, &n);
    } else {
        akidb_status st = akidb_points_count(c->srv->store, c->id.tenant, qd_coll(c), s.text,
                                             &n);
        if (st != AKIDB_OK) {
            qd_store_fail(c, st);
            ok = false;
        }
    }
    qd_sel_clear(&s);
    if (ok)
        qd_ok(c, json_pack("{s:I}", "count", (json_int_t)n));
}

/* ---- delete and payload --------------------------------------------------------------- */

static bool delete_page(ak_ctx *c, akidb_points *page, const bool *keep, void *arg)
{
    (void)arg;
    const char **ids = ak_malloc((page->n ? page->n : 1) * sizeof *ids);
    if (!ids) {
        qd_oom(c);
        return false;
    }
    size_t m = 0;
    for (size_t i = 0; i < page->n; i++)
        if (!keep || keep[i])
            ids[m++] = page->items[i].id;
    akidb_status st =
        m ? c->srv->dp->del(c->srv->dp_ctx, c->id.tenant, qd_coll(c), ids, m, NULL) : AKIDB_OK;
    ak_free(ids);
    if (st != AKIDB_OK)
        qd_store_fail(c, st);
    return st == AKIDB_OK;
}

/* The selector of delete and payload bodies: "points" (ids) or "filter". */
static bool get_selector(ak_ctx *c, json_t *b, qd_selection *s, char (**buf)[AK_QDRANT_ID_CAP],
                         const char ***ids, size_t *n)
{
    json_t *pts = json_object_get(b, "points");
    *buf = NULL;
    *ids = NULL;
    *n = 0;
    memset(s, 0, sizeof *s);
    if (pts && !json_is_null(pts))
        return get_id_list(c, pts, "points", buf, ids, n);
    json_t *f = json_object_get(b, "filter");
    if (!f || json_is_null(f)) {
        QD_BAD(c, "Format error in JSON body: send \"points\" (ids) or \"filter\"");
        return false;
    }
    return qd_get_sel(c, b, s);
}

/* POST .../points/delete: {"points": [ids]} or {"filter": ...}. */
void qd_delete_points(ak_ctx *c)
{
    akidb_collection_info in;
    qd_selection s;
    char(*buf)[AK_QDRANT_ID_CAP];
    const char **ids;
    size_t n;
    if (!qd_info(c, &in))
        return;
    if (get_selector(c, c->body, &s, &buf, &ids, &n)) {
        akidb_status st = AKIDB_OK;
        bool ok = true;
        if (ids && n)
            st = c->srv->dp->del(c->srv->dp_ctx, c->id.tenant, qd_coll(c), ids, n, NULL);
        else if (!ids)
            ok = qd_for_selected(c, &s, 0, delete_page, NULL);
        if (st != AKIDB_OK)
            qd_store_fail(c, st);
        else if (ok)
            qd_done(c);
    }
    qd_sel_clear(&s);
    ak_free(buf);
    ak_free(ids);
}

typedef struct pl_arg {
    const json_t *payload;
    bool overwrite;
} pl_arg;

/* Rewrites the payloads of a page (merged or replaced) and upserts it. */
static bool payload_page(ak_ctx *c, akidb_points *page, const bool *keep, void *arg)
{
    const pl_arg *a = arg;
    akidb_point_in *in = ak_calloc(page->n ? page->n : 1, sizeof *in);
    char **txt = ak_calloc(page->n ? page->n : 1, sizeof *txt);
    bool ok = in && txt;
    size_t m = 0;
    for (size_t i = 0; ok && i < page->n; i++) {
        const akidb_point *p = &page->items[i];
        if (keep && !keep[i])
            continue;
        json_t *pl = a->overwrite || !p->payload ? json_object() : json_loads(p->payload, 0, NULL);
        ok = pl && json_object_update(pl, (json_t *)a->payload) == 0 &&
             (txt[m] = json_dumps(pl, JSON_COMPACT)) != NULL;
        json_decref(pl);
        akidb_point_in pi = {p->id, p->vector, p->text, txt[m]};
        in[m++] = pi;
    }
    akidb_status st = !ok ? AKIDB_ENOMEM
                    : m   ? c->srv->dp->upsert(c->srv->dp_ctx, c->id.tenant, qd_coll(c), in,
                                               NULL, m)
                          : AKIDB_OK;
    for (size_t i = 0; txt && i < m; i++)
        ak_json_free_str(txt[i]);
    ak_free(in);
    ak_free(txt);
    if (st == AKIDB_ENOMEM)
        qd_oom(c);
    else if (st != AKIDB_OK)
        qd_store_fail(c, st);
    return st == AKIDB_OK;
}

/* POST (merge) / PUT (replace) .../points/payload: {"payload", "points" |
 * "filter"}.  Each page is one atomic upsert. */
void qd_payload(ak_ctx *c)
{
    if (!ak_dp_reads_ok(c))   /* a node holding only some shards */
        return;
    akidb_collection_info in;
    if (!qd_info(c, &in))
        return;
    json_t *b = c->body;
    pl_arg a = {json_object_get(b, "payload"), strcmp(c->req->method, "PUT") == 0};
    if (!json_is_object(a.payload)) {
        QD_BAD(c, "Format error in JSON body: \"payload\" must be an object");
        return;
    }
    json_t *key = json_object_get(b, "key");
    if (key && !json_is_null(key)) {
        QD_BAD(c, "Wrong input: \"key\" (setting a nested payload path) is not supported");
        return;
    }
    qd_selection s;
    char(*buf)[AK_QDRANT_ID_CAP];
    const char **ids;
    size_t n;
    unsigned all = AKIDB_WITH_PAYLOAD | AKIDB_WITH_TEXT | AKIDB_WITH_VECTOR;
    if (get_selector(c, b, &s, &buf, &ids, &n)) {
        bool ok;
        if (ids) {
            akidb_points pts = {0};
            akidb_status st = akidb_points_get(c->srv->store, c->id.tenant, qd_coll(c), ids,
                                               n, all, &pts);
            ok = st == AKIDB_OK;
            if (!ok)
                qd_store_fail(c, st);
            else if (pts.n < n) {
                ok = false;
                ak_reply_error(c, 404, "not_found", "Not found: %zu of the %zu points do not "
                               "exist", n - pts.n, n);
            } else {
                ok = payload_page(c, &pts, NULL, &a);
            }
            akidb_points_free(&pts);
        } else {
            ok = qd_for_selected(c, &s, all, payload_page, &a);
        }
        if (ok)
            qd_done(c);
    }
    qd_sel_clear(&s);
    ak_free(buf);
    ak_free(ids);
}


#endif /* AK_HAVE_STORE */
