/*
 * filter.h - payload filters of the store: parse a JSON filter document into
 * a compiled tree once, then match it against many point payloads.  Kept
 * separate from the store so the fuzzer and the oracle tests can drive the
 * parser and the matcher directly.
 */
#ifndef AKIDB_STORE_FILTER_H
#define AKIDB_STORE_FILTER_H

#include "common/common.h"

#include <jansson.h>

typedef struct ak_filter ak_filter;

/* Parses the filter text json (len bytes, need not be NUL-terminated) into
 * *out.  AKIDB_EINVAL with a message naming the offending key or the JSON
 * error position; AKIDB_ENOMEM.  Free with ak_filter_free. */
akidb_status ak_filter_parse(const char *json, size_t len, ak_filter **out);

/* Compiles an already parsed filter document (borrowed). */
akidb_status ak_filter_compile(const json_t *doc, ak_filter **out);

/* True if payload (a JSON object, or NULL for a point without payload)
 * satisfies f.  Never allocates; safe from many threads at once. */
bool ak_filter_match(const ak_filter *f, const json_t *payload);

/* ak_filter_match for the point of id id (id_len bytes), which "$id"
 * conditions test; ak_filter_match fails them. */
bool ak_filter_match_point(const ak_filter *f, const char *id, size_t id_len,
                           const json_t *payload);

/* True if the filter accepts everything (e.g. {}); lets callers skip it. */
bool ak_filter_is_true(const ak_filter *f);

/* Releases f; NULL is allowed. */
void ak_filter_free(ak_filter *f);

/* Parses payload text into a JSON object (*out, caller decrefs).  what names
 * the point for messages ("point 'x'").  AKIDB_EINVAL if not a JSON object or
 * malformed, AKIDB_ENOMEM. */
akidb_status ak_payload_parse(const char *text, size_t len, const char *what,
                              json_t **out);

#endif
