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
 *   {"key": K, "match": {"except": [V...]}} {K: {"except": [V...]}}
 *   {"key": K, "range": {"gt": N, ...}}     {K: {"gt": N, ...}}
 *   {"key": K, "match": M, "range": R}      {"or": [M', R']}
 *   {"key": K, "is_empty": B, ...}          {K: {"empty": B}} (the rest ignored)
 *   {"key": K, "is_null": B, ...}           {K: null}, negated when B is false
 *   {"is_empty": {"key": K}}                {K: {"empty": true}}
 *   {"is_null": {"key": K}}                 {K: {"eq": null, "empty": true}}
 *   {"has_id": [ids]}                       {"$id": {"in": [ids]}}; the
 *                                           top-level must's shortest also
 *                                           in out->ids
 *   a nested filter as a condition          translated recursively
 *
 * As in Qdrant, a field
 * condition holds for a value when any of its match / range parts does
 * (is_empty, then is_null, take over when given); arrays hold when an
 * element does; except holds for a value that is not null and not listed
 * (an array: some element is), never for an absent field, null or [];
 * is_empty holds for absent, null and []; the is_null condition for null
 * itself, the field condition's is_null also for an array holding null.
 * Keys are dotted paths ("meta.lang") on both sides.  Each of must, should
 * and must_not takes one condition or an array of them.  Where AkiDB still
 * differs: numbers compare by value, so the integer 1 matches a stored 1.0
 * (Qdrant: only integers stored as such).
 *
 * Refused with AKIDB_EINVAL and a message naming the clause ("filter.must[1]
 * .match: full-text match ..."): full-text match (text, phrase, text_any),
 * datetime ranges, geo conditions, values_count, nested (array-of-objects)
 * conditions, has_vector, min_should, "[]" in keys, top-level keys named
 * "and", "or", "not" or "$id", fractional match values, any / except lists
 * mixing strings and integers, unknown fields.
 */
#ifndef AKIDB_SERVER_QDRANT_FILTER_H
#define AKIDB_SERVER_QDRANT_FILTER_H

#include "common/common.h"

#include <jansson.h>

typedef struct ak_qfilter {
    json_t *filter;   /* AkiDB filter document; NULL: every point            */
    json_t *ids;      /* array of AkiDB ids every match is one of (the
                         shortest has_id of the top-level must; filter holds
                         them all); NULL: no such has_id                     */
} ak_qfilter;

/* Translates the Qdrant filter qf (an object, or NULL / JSON null for none)
 * into *out.  AKIDB_EINVAL naming the clause; AKIDB_ENOMEM.  out is empty on
 * failure; release it with ak_qfilter_clear either way. */
akidb_status ak_qdrant_filter(const json_t *qf, ak_qfilter *out);

void ak_qfilter_clear(ak_qfilter *f);

#endif /* AKIDB_SERVER_QDRANT_FILTER_H */
