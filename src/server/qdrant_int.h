/*
 * qdrant_int.h - what the Qdrant route files share (routes_qdrant.c: the
 * envelope, request helpers, collections, search and query, the table;
 * qdrant_points.c: upsert, retrieve, scroll, count, delete, payload).
 * Only those two files include it.
 */
#ifndef AKIDB_SERVER_QDRANT_INT_H
#define AKIDB_SERVER_QDRANT_INT_H

#include "server/route.h"
#include "server/qdrant_filter.h"
#include "server/qdrant_ids.h"
#include "store/filter.h"

/* A 400 in Qdrant's error shape. */
#define QD_BAD(c, ...) ak_reply_error((c), 400, "bad_request", __VA_ARGS__)

/* {"result": result, "status": "ok", "time"} (steals result; NULL: 500). */
void qd_ok(ak_ctx *c, json_t *result);
/* The answer of a write: {"operation_id", "status": "completed"}. */
void qd_done(ak_ctx *c);
void qd_oom(ak_ctx *c);
/* The {name} of the path. */
const char *qd_coll(ak_ctx *c);
/* Replies for a failed store call (404 for ENOENT, 400 for bad input). */
void qd_store_fail(ak_ctx *c, akidb_status st);
/* The collection of the path; replies 404 and returns false when absent. */
bool qd_info(ak_ctx *c, akidb_collection_info *info);
/* c->body, or an empty object for a request without a body. */
bool qd_opt_body(ak_ctx *c);
/* An optional unsigned field of o in [lo, hi] (def when absent). */
bool qd_uint(ak_ctx *c, json_t *o, const char *key, size_t def, size_t lo, size_t hi,
             size_t *out);
/* A Qdrant point id into buf (AK_QDRANT_ID_CAP bytes). */
bool qd_id(ak_ctx *c, const json_t *v, char *buf);
/* A plain vector of dim numbers into out; named vectors refused. */
bool qd_vec(ak_ctx *c, const json_t *v, const char *what, uint32_t dim, float *out);

/* with_payload: true / false / [keys] / {"include"|"exclude": [keys]}. */
typedef struct qd_payload_sel {
    bool on;
    const json_t *keys;   /* NULL: every key */
    bool exclude;
} qd_payload_sel;
bool qd_get_psel(ak_ctx *c, json_t *o, bool def, qd_payload_sel *p);
/* with_vector: a boolean (or a non-empty array of names). */
bool qd_wvec(ak_ctx *c, json_t *o, bool *out);
unsigned qd_with(const qd_payload_sel *ps, bool wvec);
/* A Record (hit false) or ScoredPoint (hit true) of p. */
json_t *qd_point_out(const akidb_point *p, const qd_payload_sel *ps, bool wvec, akidb_metric m,
                     bool hit);

/* The "filter" of a request, translated (qdrant_filter.h) and validated. */
typedef struct qd_selection {
    ak_qfilter qf;
    char *text;           /* AkiDB filter text, NULL: none                   */
    ak_filter *compiled;  /* for has_id selections and scroll offsets        */
} qd_selection;
bool qd_get_sel(ak_ctx *c, json_t *o, qd_selection *s);
void qd_sel_clear(qd_selection *s);

/* Calls fn on every selected point, page by page; keep (NULL: all) tells
 * which of the page are selected.  fn replies and returns false on failure. */
typedef bool (*qd_page_fn)(ak_ctx *c, akidb_points *page, const bool *keep, void *arg);
bool qd_for_selected(ak_ctx *c, const qd_selection *s, unsigned with, qd_page_fn fn, void *arg);

/* A Qdrant Document ({"text": ...}): its text, NULL when v is none. */
const json_t *qd_doc_text(const json_t *v);
/* The model that embeds Documents for the collection: the named one, else
 * the bound one; replies and returns NULL when absent or of another size. */
ak_emodel *qd_doc_model(ak_ctx *c, const akidb_collection_info *in, const json_t *name);

/* Handlers of qdrant_points.c. */
void qd_upsert(ak_ctx *c);
void qd_retrieve(ak_ctx *c);
void qd_point(ak_ctx *c);
void qd_scroll(ak_ctx *c);
void qd_count(ak_ctx *c);
void qd_delete_points(ak_ctx *c);
void qd_payload(ak_ctx *c);
/* qdrant_search.c */
void qd_search(ak_ctx *c);
void qd_query(ak_ctx *c);
void qd_search_batch(ak_ctx *c);
void qd_query_batch(ak_ctx *c);
/* AkiDB's score (higher better) as Qdrant's: Euclid is the distance. */
double qd_score(akidb_metric m, float s);

#endif /* AKIDB_SERVER_QDRANT_INT_H */
