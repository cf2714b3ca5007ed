/*
 * qdrant_filter.h - Qdrant's filter JSON translated into AkiDB's filter
 * language (src/store/filter.c), so the Qdrant routes filter through the
 * store's one matcher.
 *
 *   Qdrant                                  AkiDB
 *   {"must": [C...]}                        {"and": [C'...]}
 *   {"should": [C...]}                      {"or": [C'...]}   ([] is ignored)
 *   {"must_not": [C...]}                    {"not": {"or": [C'...]}}
 *   {"key": K, "match": {"value": V}}       {K: V}
 *   {"key": K, "match": {"any": [V...]}}    {K: {"in": [V...]}}
 *   {"key": K, "match": {"except": [V...]}} {"not": {K: {"in": [V...]}}}
 *   {"key": K, "range": {"gt": N, ...}}     {K: {"gt": N, ...}}
 *   {"is_empty": {"key": K}}                {"or": [{K: {"exists": false}}, {K: null}]}
 *   {"is_null": {"key": K}}                 {K: null}
 *   {"has_id": [ids]} in the top-level must an id restriction (out->ids)
 *   a nested filter as a condition          translated recursively
 *
 * Keys are dotted paths ("meta.lang") on both sides.  Each of must, should
 * and must_not takes one condition or an array of them.  Where AkiDB's
 * language differs: "except" on an array field holds when no element is
 * listed (Qdrant: when some element is not listed); is_empty does not match
 * an empty array [].
 *
 * Refused with AKIDB_EINVAL and a message naming the clause ("filter.must[1]
 * .match: full-text match ..."): full-text match (text, phrase, text_any),
 * datetime ranges, geo conditions, values_count, nested (array-of-objects)
 * conditions, has_vector, min_should, "[]" in keys, top-level keys named
 * "and", "or" or "not", has_id anywhere but the top-level must, fractional
 * match values, unknown fields.
 */
#ifndef AKIDB_SERVER_QDRANT_FILTER_H
#define AKIDB_SERVER_QDRANT_FILTER_H

#include "common/common.h"

#include <jansson.h>

typedef struct ak_qfilter {
    json_t *filter;   /* AkiDB filter document; NULL: every point            */
    json_t *ids;      /* array of AkiDB ids a match must be one of (has_id in
                         the top-level must); NULL: no restriction           */
} ak_qfilter;

/* Translates the Qdrant filter qf (an object, or NULL / JSON null for none)
 * into *out.  AKIDB_EINVAL naming the clause; AKIDB_ENOMEM.  out is empty on
 * failure; release it with ak_qfilter_clear either way. */
akidb_status ak_qdrant_filter(const json_t *qf, ak_qfilter *out);

void ak_qfilter_clear(ak_qfilter *f);

#endif /* AKIDB_SERVER_QDRANT_FILTER_H */
