/*
 * backup.h - the store's object-storage tier (backup.c): its snapshots and
 * WAL segments copied to an S3-compatible bucket by a thread of the store,
 * and the restore of an empty store folder from that bucket.  The public
 * side (akidb_backup_opts, the backup_* statistics) is in akidb_store.h; the
 * bucket layout and manifest in docs/FORMAT.md.
 */
#ifndef AKIDB_STORE_BACKUP_H
#define AKIDB_STORE_BACKUP_H

#include "akidb_store.h"
#include "common/common.h"
#include "objstore/objstore.h"

typedef struct ak_backup ak_backup;

/* Opens the bucket of opts.backup (else of the process default below) into
 * s->backup; nothing when neither is set.  EINVAL names a missing bucket or
 * credentials.  Called by open before anything is read from the folder. */
akidb_status ak_backup_open(akidb_store *s);
/* The S3 client settings of backup options o (bucket, endpoint, region,
 * credentials; 3 attempts a request): the backup tier's, also for the
 * cluster's objects beside a node's copy. */
void ak_backup_s3_config(const akidb_backup_opts *o, ak_s3_config *c);
/* Restores the folder from the bucket when it holds no snapshot and no WAL
 * segment (or a restore was interrupted); a no-op otherwise. */
akidb_status ak_backup_restore(akidb_store *s);
/* Starts the shipping thread (open, after recovery). */
akidb_status ak_backup_start(akidb_store *s);
/* Wakes the thread: a snapshot was written.  Never waits. */
void ak_backup_kick(akidb_store *s);
/* Stops the thread (close), after one last round that ships the snapshot,
 * the segments and the tail as they are; idempotent. */
void ak_backup_stop(akidb_store *s);
/* Stops the thread without a last round and frees s->backup. */
void ak_backup_free(akidb_store *s);
/* The backup_* fields of the statistics. */
void ak_backup_stats(akidb_store *s, akidb_store_stats *st);

#endif
