/*
 * crec.h - the records a cluster's write log carries: one store mutation
 * each (tenant and collection create / delete, point upsert, point delete),
 * encoded as bytes for ak_jlog_append and decoded by every replica that
 * applies the shard's stream (replica.h).
 *
 * Why a format of its own rather than the local WAL's: the WAL's records
 * carry local sequence numbers and the store's internal layout; the log's
 * records cross machines and versions, so they start with a magic and a
 * version, name everything by tenant / collection / point id, and hold the
 * vectors as little-endian IEEE floats.  docs/FORMAT.md "Cluster log
 * records" gives the layout.
 *
 * Applying a record is idempotent and order-independent of earlier applies
 * of the same record: an upsert replaces by id, a delete ignores missing
 * ids, a create of a collection that exists with the same options is a
 * no-op.  So a replica that applied a shard up to n and re-applies from
 * any m <= n, in order, reaches the same state (at-least-once delivery is
 * enough).
 */
#ifndef AKIDB_CLUSTER_CREC_H
#define AKIDB_CLUSTER_CREC_H

#include "common/common.h"
#include "akidb_store.h"

typedef enum ak_crec_kind {
    AK_CREC_TENANT_CREATE = 1,
    AK_CREC_TENANT_DELETE = 2,
    AK_CREC_COLL_CREATE = 3,
    AK_CREC_COLL_DELETE = 4,
    AK_CREC_UPSERT = 5,
    AK_CREC_DELETE = 6
} ak_crec_kind;

/* A decoded (or to-be-encoded) record.  Pointers stay the owner's: the
 * caller's when encoding, the arena's when decoding. */
typedef struct ak_crec {
    ak_crec_kind kind;
    const char *tenant;
    const char *collection;        /* COLL_*, UPSERT, DELETE                   */
    akidb_collection_opts copts;   /* COLL_CREATE (copts.model may be NULL)    */
    const akidb_point_in *points;  /* UPSERT: n points                         */
    const uint32_t *dims;          /* UPSERT: n vector lengths                 */
    const char *const *ids;        /* DELETE: n ids                            */
    size_t n;
} ak_crec;

/* The shard (0 .. shards-1) a point id belongs to: FNV-1a 64 of the id's
 * bytes modulo shards.  Fixed forever: changing it moves every point. */
unsigned ak_crec_shard_of(const char *id, unsigned shards);

/* Encodes r into a malloc'd buffer (*buf, *len).  UPSERT needs r->dims
 * (each vector's length).  AKIDB_EINVAL for a record that cannot be
 * encoded (unknown kind, missing names); AKIDB_ERANGE past the log's
 * 1 MiB record limit (the caller splits the batch). */
akidb_status ak_crec_encode(const ak_crec *r, void **buf, size_t *len);

/* Decodes len bytes into *out, allocating what it needs in arena a.
 * AKIDB_EFORMAT naming the offset for damaged or truncated bytes,
 * AKIDB_EUNSUPPORTED for a newer version than this build reads. */
akidb_status ak_crec_decode(const void *buf, size_t len, ak_arena *a, ak_crec *out);

/* Applies r to store, idempotently (see above): AKIDB_OK also when the
 * record was already applied.  Other failures (a collection deleted later
 * in the log, say) are returned for the caller to log and skip. */
akidb_status ak_crec_apply(akidb_store *store, const ak_crec *r);

#endif /* AKIDB_CLUSTER_CREC_H */
