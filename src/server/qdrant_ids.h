/*
 * qdrant_ids.h - Qdrant point ids on AkiDB's string ids.
 *
 * Qdrant names a point by an unsigned 64-bit integer or by a UUID.  The
 * Qdrant routes store them as AkiDB ids that read back unambiguously:
 *
 *   integer 42                               "42" (decimal, no leading zeros)
 *   "936DA01F-9ABD-4D9D-80C7-02AF85C822A8"   "936da01f-9abd-4d9d-80c7-02af85c822a8"
 *
 * UUIDs are accepted hyphenated, as 32 hex digits, braced or with a
 * "urn:uuid:" prefix, in any case, and always stored hyphenated lower-case,
 * so every spelling of one UUID names one point.  Anything else (negative or
 * fractional numbers, other strings, other JSON types) is refused, as Qdrant
 * refuses it.  Integers above 2^63-1 cannot be told apart by the JSON parser
 * and are refused too.
 *
 * Going back, an AkiDB id that is canonical decimal within the JSON integer
 * range becomes a JSON number; every other id (a UUID, or an id written
 * through akidb's own routes such as "doc-1") becomes a JSON string.
 */
#ifndef AKIDB_SERVER_QDRANT_IDS_H
#define AKIDB_SERVER_QDRANT_IDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Room for any id the mapping produces (a UUID: 36 bytes). */
#define AK_QDRANT_ID_CAP 40

/* Maps a Qdrant id (JSON integer or string) into buf (AK_QDRANT_ID_CAP
 * bytes).  On failure returns false and writes a message for people into err
 * (the id as received and why it is refused). */
bool ak_qdrant_id_from_json(const json_t *v, char *buf, char *err, size_t errcap);

/* Same for text from a URL path ("42" or a UUID spelling). */
bool ak_qdrant_id_from_text(const char *s, char *buf, char *err, size_t errcap);

/* The Qdrant id of an AkiDB id: a new JSON integer or string (NULL on
 * out-of-memory). */
json_t *ak_qdrant_id_to_json(const char *id);

#endif /* AKIDB_SERVER_QDRANT_IDS_H */
