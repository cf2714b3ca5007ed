/*
 * coll_req.h - what akidb's own collection routes share (routes_coll.c:
 * collections and the compatibility document shape; routes_points.c: the
 * text-native point shape): reading ids, vectors, filters, sizes and
 * "include" from a request, each replying 400 with the field named when it
 * is wrong, and writing collections and points as JSON.
 *
 * Every reader returns false (or NULL) after it has replied; the handler
 * then only frees what it holds and returns.
 */
#ifndef AKIDB_SERVER_COLL_REQ_H
#define AKIDB_SERVER_COLL_REQ_H

#include "server/route.h"

/* Replies for a failed store call on collection name (404 for a missing
 * collection, the status's own answer otherwise). */
void ak_coll_store_err(ak_ctx *c, akidb_status st, const char *name);
/* *info of the caller's collection name; replies 404 when there is none. */
bool ak_coll_get_info(ak_ctx *c, const char *name, akidb_collection_info *info);
/* The loaded model a collection is bound to; replies and returns NULL when
 * there is none. */
ak_emodel *ak_coll_bound_model(ak_ctx *c, const akidb_collection_info *info);

/* Point id from a JSON string or integer into buf (named field in errors). */
bool ak_coll_get_id(ak_ctx *c, json_t *v, const char *field, char *buf, size_t cap);
/* A numeric array as a new float array (ak_free) of *dim floats. */
float *ak_coll_get_vector(ak_ctx *c, json_t *v, const char *field, uint32_t *dim);
/* body's "filter" as compact, validated JSON text in *out (ak_free; NULL
 * when absent). */
bool ak_coll_get_filter(ak_ctx *c, json_t *body, char **out);
/* "include" (an array of "payload", "text", "vector"; def when absent) as
 * an AKIDB_WITH_* mask ... */
bool ak_coll_get_include(ak_ctx *c, json_t *v, unsigned def, unsigned *out);
/* ... and the same from the comma-separated query argument include=. */
bool ak_coll_get_include_query(ak_ctx *c, unsigned def, unsigned *out);
/* body's integer key in [lo, hi] (def when absent). */
bool ak_coll_get_size(ak_ctx *c, json_t *body, const char *key, size_t def, size_t lo,
                      size_t hi, size_t *out);

/* Quantisation, shared with the Qdrant routes: each reader returns false
 * with a message naming the field (under the name `field`) in err.
 *   ak_quant_config_read: a collection's setting, AkiDB's {"type": "sq8" |
 *   "int8" | "none", "quantile"?} or (qdrant) Qdrant's {"scalar": {"type":
 *   "int8", "quantile"?, "always_ram"?}}; JSON null is "none".
 *   ak_quant_search_read: a search's {"ignore"?, "rescore"? (true),
 *   "oversampling"? (1..100)} (the same in both APIs).
 *   ak_quant_config_json: the setting of in as the reader takes it (JSON
 *   null without quantisation). */
bool ak_quant_config_read(const json_t *v, bool qdrant, const char *field,
                          akidb_collection_opts *o, char *err, size_t cap);
bool ak_quant_search_read(const json_t *v, const char *field, akidb_search_req *req, char *err,
                          size_t cap);
json_t *ak_quant_config_json(const akidb_collection_info *in, bool qdrant);

/* JSON of a collection's settings and counts. */
json_t *ak_coll_info_json(const akidb_collection_info *in);
/* JSON array of n floats (NULL when out of memory); the Qdrant routes write
 * vectors with it too. */
json_t *ak_coll_float_array(const float *v, size_t n);
/* A point (a hit, with its score, when hit) with the fields of with ... */
json_t *ak_coll_point_json(const akidb_point *p, unsigned with, bool hit);
/* ... and an array of them. */
json_t *ak_coll_points_json(const akidb_points *pts, unsigned with, bool hit);

#endif /* AKIDB_SERVER_COLL_REQ_H */
