/*
 * backup.c - the object-storage tier of the store: snapshots and WAL
 * segments copied to an S3-compatible bucket (src/objstore, libcurl with
 * SigV4), and the restore of an empty store folder from it.  The public
 * contract is in akidb_store.h (akidb_backup_opts), the bucket layout and
 * the manifest in docs/FORMAT.md.
 *
 * The bucket holds, under the prefix:
 *   snap-<L>.akdb   a snapshot file as the store wrote it;
 *   wal-<X>.log     a WAL segment, whole once closed, else the valid records
 *                   of the open segment as of the last tail shipped;
 *   seg-<N>.akseg   a sealed segment file (immutable: uploaded the first time
 *                   a round finds it, never again);
 *   MANIFEST        JSON naming the snapshot, the segment files and the WAL
 *                   segments (from the one holding record L on) with their
 *                   sizes and SHA-256.
 * A round of the shipping thread compares the folder with the manifest it
 * last wrote: uploads the newest snapshot if the manifest names another,
 * every segment from the snapshot on whose size changed (the open one only
 * when tails are shipped), then replaces MANIFEST, and only then deletes
 * the snapshot and segment objects the new manifest does not name.  A
 * reader of MANIFEST therefore always finds what it names.  Files read
 * here are never rewritten in place by the store (a snapshot is renamed
 * into place whole, a segment only grows), so a file that vanishes meanwhile
 * (a newer snapshot removed it) just makes the round start again.
 *
 * The thread runs a round when a snapshot was written (ak_backup_kick),
 * every tail_interval_ms, and once more at close.  A failed round is logged
 * and kept for the statistics, and the next one waits 0.5 s, doubling to
 * 30 s; kicks do not shorten that wait.  No write of the store waits for any
 * of it.
 *
 * Restore (at open, before recovery): only into a folder without snapshot
 * and WAL files.  A marker file RESTORING is made durable first; every
 * object is downloaded to its file (atomic replace) and checked against the
 * manifest's size and SHA-256 (a segment object may have grown since the
 * manifest was read: its first size bytes must match, and the file is cut
 * there); then the marker is removed.  A failure removes what was
 * downloaded; an object the manifest names but the bucket no longer has (a
 * newer manifest replaced it meanwhile) makes the restore read the manifest
 * again.  An open that finds the marker (a crash during a restore) removes
 * the snapshot and WAL files and restores again.  With read_only the
 * thread is never started: the store restores but never writes the bucket.
 */
#include "store/backup_int.h"

#include "common/fileio.h"
#include "objstore/objstore.h"
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Reads the bucket's manifest; ENOENT if there is none. */
static akidb_status manifest_get(ak_backup *b, bk_manifest *m)
{
    char key[1100];
    snprintf(key, sizeof key, "%sMANIFEST", b->prefix);
    void *data = NULL;
    size_t len = 0;
    akidb_status st = ak_s3_get(b->s3, key, BK_MANIFEST_MAX, &data, &len);
    if (st == AKIDB_OK)
        st = bk_manifest_parse(b, data, len, m);
    ak_free(data);
    return st;
}

/* ---- opening -------------------------------------------------------------------- */

void ak_backup_s3_config(const akidb_backup_opts *o, ak_s3_config *c)
{
    *c = (ak_s3_config)AK_S3_CONFIG_INIT;
    c->bucket = o->bucket;
    c->endpoint = o->endpoint;
    c->region = o->region;
    c->profile = o->profile;
    c->access_key = o->access_key;
    c->secret_key = o->secret_key;
    c->max_attempts = 3;
}

akidb_status ak_backup_open(akidb_store *s)
{
    const akidb_backup_opts *o = s->opts.backup;
    s->opts.backup = NULL;   /* the caller's memory is not kept */
    if (!o)
        return AKIDB_OK;
    if (!o->bucket || !*o->bucket)
        return ak_fail(AKIDB_EINVAL, "backup: no bucket given");
    ak_backup *b = ak_calloc(1, sizeof *b);
    if (!b)
        return ak_fail(AKIDB_ENOMEM, "backup: out of memory");
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->backup = b;
    b->interval_ms = o->tail_interval_ms > 0 ? o->tail_interval_ms : 0;
    b->read_only = o->read_only;
    const char *p = o->prefix ? o->prefix : "";
    while (*p == '/')
        p++;
    size_t pl = strlen(p);
    if (pl > 900)
        return ak_fail(AKIDB_EINVAL, "backup: prefix longer than 900 bytes");
    b->bucket = ak_strdup(o->bucket);
    b->prefix = ak_malloc(pl + 2);
    if (!b->bucket || !b->prefix)
        return ak_fail(AKIDB_ENOMEM, "backup: out of memory");
    snprintf(b->prefix, pl + 2, "%s%s", p, pl && p[pl - 1] != '/' ? "/" : "");
    if (o->restore_prefix) {   /* restored from another prefix than it ships to */
        const char *r = o->restore_prefix;
        while (*r == '/')
            r++;
        size_t rl = strlen(r);
        if (rl > 900)
            return ak_fail(AKIDB_EINVAL, "backup: restore prefix longer than 900 bytes");
        if (!(b->rprefix = ak_malloc(rl + 2)))
            return ak_fail(AKIDB_ENOMEM, "backup: out of memory");
        snprintf(b->rprefix, rl + 2, "%s%s", r, rl && r[rl - 1] != '/' ? "/" : "");
    }
    ak_s3_config c;
    ak_backup_s3_config(o, &c);
    akidb_status st = ak_s3_open(&c, &b->s3);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "backup to bucket %s", o->bucket);
    return AKIDB_OK;
}

/* ---- restore -------------------------------------------------------------------- */

/* Removes the snapshot and WAL files of the folder (without allocating:
 * it cleans up after failures, out-of-memory ones included); false if one
 * could not be removed. */
static bool remove_store_files(akidb_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return false;
    bool ok = true;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        size_t l = strlen(n);
        bool snap = strncmp(n, "snap-", 5) == 0 && l > 5 && strcmp(n + l - 5, ".akdb") == 0;
        bool wal = strncmp(n, "wal-", 4) == 0 && l > 4 && strcmp(n + l - 4, ".log") == 0;
        bool seg = strncmp(n, "seg-", 4) == 0 && l > 6 && strcmp(n + l - 6, ".akseg") == 0;
        if ((snap || wal || seg) && unlinkat(dirfd(d), n, 0) != 0 && errno != ENOENT)
            ok = false;
    }
    closedir(d);
    return ok;
}

/* Number of snapshot and WAL files in the folder. */
static akidb_status count_store_files(akidb_store *s, size_t *count)
{
    ak_seg *v;
    size_t n, m;
    akidb_status st = ak_store_list_files(s->dir, "snap-", ".akdb", &v, &n);
    if (st != AKIDB_OK)
        return st;
    ak_store_free_segs(v, n);
    if ((st = ak_store_list_files(s->dir, "wal-", ".log", &v, &m)) != AKIDB_OK)
        return st;
    ak_store_free_segs(v, m);
    *count = n + m;
    return AKIDB_OK;
}

/* Downloads one object to its file and checks it against the manifest. */
static akidb_status fetch_obj(akidb_store *s, const bk_obj *o, int snap)
{
    ak_backup *b = s->backup;
    char key[1100], name[40];
    bk_obj_key(b, key, sizeof key, snap, o->lsn);
    bk_obj_name(name, sizeof name, snap, o->lsn);
    char *path = ak_path_join(s->dir, name);
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "restore: out of memory");
    akidb_status st = ak_s3_get_file(b->s3, key, path);
    if (st != AKIDB_OK) {
        ak_fail_prefix(st, "restore");
        goto out;
    }
    /* A segment's object only grows (the open segment's tail is shipped
     * again under the same key): one longer than the manifest says was
     * replaced by a newer tail after the manifest was read, and holds the
     * manifest's bytes first. */
    uint64_t size = 0;
    char sha[65];
    if ((st = bk_sha_file(path, snap != BK_WAL ? UINT64_MAX : o->size, &size, sha)) != AKIDB_OK)
        goto out;
    struct stat sb;
    if (snap == BK_WAL && size == o->size && strcmp(sha, o->sha) == 0 && stat(path, &sb) == 0 &&
        (uint64_t)sb.st_size > o->size) {
        int fd;
        if ((st = ak_io_open(path, O_WRONLY, 0, &fd)) != AKIDB_OK)
            goto out;
        st = ak_io_truncate(fd, o->size, path);
        if (st == AKIDB_OK)
            st = ak_io_fsync(fd, path);
        close(fd);
        if (st != AKIDB_OK)
            goto out;
    }
    if (size != o->size)
        st = ak_fail(AKIDB_ECORRUPT, "restore: s3://%s/%s: object is %llu bytes, the manifest "
                     "says %llu (truncated or replaced object)", b->bucket, key,
                     (unsigned long long)size, (unsigned long long)o->size);
    else if (strcmp(sha, o->sha) != 0)
        st = ak_fail(AKIDB_ECORRUPT, "restore: s3://%s/%s: SHA-256 %s differs from the "
                     "manifest's %s (damaged object)", b->bucket, key, sha, o->sha);
out:
    ak_free(path);
    return st;
}

/* Downloads what m names into the folder (marker in place).  On failure
 * the files are removed again and *named_gone tells whether an object the
 * manifest names was missing (a newer manifest replaced it meanwhile). */
static akidb_status fetch_all(akidb_store *s, const char *marker, const bk_manifest *m,
                              bool *named_gone)
{
    *named_gone = false;
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; st == AKIDB_OK && i < m->n_wal; i++)
        st = fetch_obj(s, &m->wal[i], false);
    for (size_t i = 0; st == AKIDB_OK && i < m->n_seg; i++)
        st = fetch_obj(s, &m->seg[i], BK_SEG);
    if (st == AKIDB_OK && m->has_snap)
        st = fetch_obj(s, &m->snap, true);
    if (st == AKIDB_OK)
        st = ak_io_fsync_dir(s->dir);
    if (st != AKIDB_OK) {
        *named_gone = st == AKIDB_ENOENT && strstr(akidb_last_error(), "NoSuchKey");
        /* the marker stays if the files could not all be removed: the next
         * open then removes them and restores again */
        if (remove_store_files(s))
            ak_io_unlink(marker);
    }
    return st;
}

static akidb_status restore_from_prefix(akidb_store *s);

/* With opts.restore_prefix the restore reads that prefix: b->prefix names
 * it while the restore runs (before the shipping thread starts). */
akidb_status ak_backup_restore(akidb_store *s)
{
    ak_backup *b = s->backup;
    if (!b || !b->rprefix)
        return restore_from_prefix(s);
    char *own = b->prefix;
    b->prefix = b->rprefix;
    akidb_status st = restore_from_prefix(s);
    b->prefix = own;
    return st;
}

static akidb_status restore_from_prefix(akidb_store *s)
{
    ak_backup *b = s->backup;
    if (!b)
        return AKIDB_OK;
    char *marker = ak_path_join(s->dir, BK_MARKER);
    if (!marker)
        return ak_fail(AKIDB_ENOMEM, "restore: out of memory");
    akidb_status st = AKIDB_OK;
    bk_manifest m = { 0 };
    if (ak_file_exists(marker)) {
        ak_store_log(s, AKIDB_LOG_WARN, "%s: an earlier restore did not finish; restoring again",
                     s->dir);
        if (!remove_store_files(s)) {
            ak_free(marker);
            return ak_fail(AKIDB_EIO, "%s: cannot remove the files of an unfinished restore",
                           s->dir);
        }
    } else {
        size_t n = 0;
        if ((st = count_store_files(s, &n)) != AKIDB_OK || n) {
            ak_free(marker);
            return st;
        }
    }
    /* A store shipping to the bucket meanwhile deletes what its older
     * manifests named: then the newer manifest is read and tried.  Damage
     * is reported after five readings that all show it. */
    for (int attempt = 0;; attempt++) {
        bk_manifest_free(&m);
        st = manifest_get(b, &m);
        if (st == AKIDB_ECORRUPT && attempt < 4) {
            /* servers that do not replace objects atomically (s3rver) can
             * show a manifest half-written: read it again */
            usleep(200000);
            continue;
        }
        if (st == AKIDB_ENOENT && strstr(akidb_last_error(), "NoSuchBucket") == NULL) {
            ak_store_log(s, AKIDB_LOG_INFO, "s3://%s/%s: no manifest; starting an empty store",
                         b->bucket, b->prefix);
            ak_io_unlink(marker);
            st = AKIDB_OK;
            goto out;
        }
        if (st != AKIDB_OK) {
            ak_fail_prefix(st, "%s: restore from the bucket", s->dir);
            goto out;
        }
        if ((st = ak_io_replace_file(marker, "", 0, 0644, true)) != AKIDB_OK)
            goto out;
        bool gone;
        if ((st = fetch_all(s, marker, &m, &gone)) == AKIDB_OK || attempt == 4)
            break;
        if (st == AKIDB_ECORRUPT)
            usleep(200000);     /* as above, for an object being replaced */
        else if (!gone)
            break;
    }
    if (st != AKIDB_OK)
        goto out;
    if ((st = ak_io_unlink(marker)) == AKIDB_OK)
        st = ak_io_fsync_dir(s->dir);
    if (st == AKIDB_OK)
        ak_store_log(s, AKIDB_LOG_INFO, "%s: restored from s3://%s/%s: snapshot %llu, %zu WAL "
                     "segment(s), records up to %llu", s->dir, b->bucket, b->prefix,
                     (unsigned long long)(m.has_snap ? m.snap.lsn : 0), m.n_wal,
                     (unsigned long long)m.last_lsn);
out:
    bk_manifest_free(&m);
    ak_free(marker);
    return st;
}

/* ---- a shipping round ------------------------------------------------------------ */

/* Uploads the newest snapshot unless the bucket has it. */
static akidb_status ship_snapshot(akidb_store *s, const ak_seg *snap, bk_manifest *m,
                                  uint64_t *uploads)
{
    ak_backup *b = s->backup;
    m->has_snap = true;
    m->snap.lsn = snap->lsn;
    if (b->have_cur && b->cur.has_snap && b->cur.snap.lsn == snap->lsn) {
        m->snap = b->cur.snap;
        return AKIDB_OK;
    }
    akidb_status st = bk_sha_file(snap->name, UINT64_MAX, &m->snap.size, m->snap.sha);
    if (st != AKIDB_OK) {
        b->again = st == AKIDB_ENOENT;
        return st;
    }
    char key[1100];
    bk_obj_key(b, key, sizeof key, true, snap->lsn);
    if ((st = ak_s3_put_file(b->s3, key, snap->name, 0)) != AKIDB_OK) {
        b->again = !ak_file_exists(snap->name);
        return st;
    }
    (*uploads)++;
    return AKIDB_OK;
}

/* Uploads the sealed segment files of the folder that the bucket lacks:
 * each once, as they never change. */
static akidb_status ship_segfiles(akidb_store *s, const ak_seg *v, size_t n, bk_manifest *m,
                                  uint64_t *uploads)
{
    ak_backup *b = s->backup;
    for (size_t i = 0; i < n; i++) {
        const bk_obj *prev = NULL;
        for (size_t j = 0; b->have_cur && j < b->cur.n_seg && !prev; j++)
            if (b->cur.seg[j].lsn == v[i].lsn)
                prev = &b->cur.seg[j];
        if (prev) {
            m->seg[m->n_seg++] = *prev;
            continue;
        }
        bk_obj o = { .lsn = v[i].lsn };
        akidb_status st = bk_sha_file(v[i].name, UINT64_MAX, &o.size, o.sha);
        char key[1100];
        bk_obj_key(b, key, sizeof key, BK_SEG, v[i].lsn);
        if (st == AKIDB_OK)
            st = ak_s3_put_file(b->s3, key, v[i].name, 0);
        if (st != AKIDB_OK) {
            b->again = !ak_file_exists(v[i].name);
            return st;
        }
        (*uploads)++;
        m->seg[m->n_seg++] = o;
    }
    return AKIDB_OK;
}

/* Uploads a WAL segment (its valid records) unless the bucket has it; an
 * empty one is left out.  *last_lsn: its last record. */
static akidb_status ship_segment(akidb_store *s, const ak_seg *seg, bk_manifest *m,
                                 uint64_t *uploads, uint64_t *last_lsn)
{
    ak_backup *b = s->backup;
    const bk_obj *prev = NULL;
    for (size_t i = 0; b->have_cur && i < b->cur.n_wal; i++)
        if (b->cur.wal[i].lsn == seg->lsn)
            prev = &b->cur.wal[i];
    struct stat sb;
    if (stat(seg->name, &sb) != 0) {
        b->again = errno == ENOENT;
        return ak_fail(ak_io_status(errno), "stat %s: %s", seg->name, strerror(errno));
    }
    if (prev && (uint64_t)sb.st_size == prev->size) {
        m->wal[m->n_wal++] = *prev;
        *last_lsn = prev->last;
        return AKIDB_OK;
    }
    char *data = NULL;
    size_t len = 0;
    akidb_status st = ak_read_file(seg->name, (size_t)1 << 40, &data, &len);
    if (st != AKIDB_OK) {
        b->again = st == AKIDB_ENOENT;
        return st;
    }
    ak_wal_scan sc;
    st = ak_wal_scan_buf((const uint8_t *)data, len, seg->name, UINT64_MAX, NULL, NULL, &sc);
    if (st != AKIDB_OK || sc.n_records == 0)
        goto out;
    bk_obj o = { .lsn = seg->lsn, .size = sc.valid_end, .last = sc.next_lsn - 1 };
    if ((st = bk_sha_buf(data, sc.valid_end, o.sha)) != AKIDB_OK)
        goto out;
    *last_lsn = sc.next_lsn - 1;
    if (prev && bk_obj_equal(prev, &o)) {
        m->wal[m->n_wal++] = o;
        goto out;
    }
    char key[1100];
    bk_obj_key(b, key, sizeof key, false, seg->lsn);
    if ((st = ak_s3_put(b->s3, key, data, sc.valid_end, 0)) != AKIDB_OK)
        goto out;
    (*uploads)++;
    m->wal[m->n_wal++] = o;
out:
    ak_free(data);
    return st;
}

/* Deletes the snapshot and segment objects under the prefix that m does
 * not name (objects of other names are left alone). */
static akidb_status sweep(ak_backup *b, const bk_manifest *m)
{
    ak_s3_list l = { 0 };
    akidb_status st = ak_s3_list_keys(b->s3, b->prefix, 0, &l);
    size_t pl = strlen(b->prefix);
    for (size_t i = 0; st == AKIDB_OK && i < l.n; i++) {
        const char *name = l.v[i].key + pl;
        bool snap = strncmp(name, "snap-", 5) == 0, wal = strncmp(name, "wal-", 4) == 0;
        bool seg = strncmp(name, "seg-", 4) == 0;
        if (!snap && !wal && !seg)
            continue;
        bool named = false;
        char want[40];
        if (m->has_snap) {
            bk_obj_name(want, sizeof want, true, m->snap.lsn);
            named = strcmp(want, name) == 0;
        }
        for (size_t j = 0; !named && j < m->n_wal; j++) {
            bk_obj_name(want, sizeof want, false, m->wal[j].lsn);
            named = strcmp(want, name) == 0;
        }
        for (size_t j = 0; !named && j < m->n_seg; j++) {
            bk_obj_name(want, sizeof want, BK_SEG, m->seg[j].lsn);
            named = strcmp(want, name) == 0;
        }
        if (!named)
            st = ak_s3_delete(b->s3, l.v[i].key);
    }
    ak_s3_list_free(&l);
    return st;
}

static bool same_keys(const bk_manifest *a, const bk_manifest *b)
{
    if (a->has_snap != b->has_snap || (a->has_snap && a->snap.lsn != b->snap.lsn) ||
        a->n_wal != b->n_wal || a->n_seg != b->n_seg)
        return false;
    for (size_t i = 0; i < a->n_seg; i++)
        if (a->seg[i].lsn != b->seg[i].lsn)
            return false;
    for (size_t i = 0; i < a->n_wal; i++)
        if (a->wal[i].lsn != b->wal[i].lsn)
            return false;
    return true;
}

/* Writes m as the bucket's manifest (m is moved into b->cur). */
static akidb_status put_manifest(akidb_store *s, bk_manifest *m)
{
    ak_backup *b = s->backup;
    char *txt;
    akidb_status st = bk_manifest_dump(b, m, &txt);
    if (st != AKIDB_OK)
        return st;
    char key[1100];
    snprintf(key, sizeof key, "%sMANIFEST", b->prefix);
    st = ak_s3_put(b->s3, key, txt, strlen(txt), 0);
    ak_free(txt);
    if (st != AKIDB_OK)
        return st;
    if (!b->have_cur || !same_keys(&b->cur, m))
        b->swept = false;        /* objects to delete once it is in place */
    bk_manifest_free(&b->cur);
    b->cur = *m;
    memset(m, 0, sizeof *m);
    b->have_cur = true;
    pthread_mutex_lock(&b->mu);
    b->manifests++;
    pthread_mutex_unlock(&b->mu);
    return AKIDB_OK;
}

/* One attempt at a round; b->again when a file vanished under it. */
static akidb_status round_once(akidb_store *s, bool tail)
{
    ak_backup *b = s->backup;
    ak_seg *snaps = NULL, *wals = NULL, *segs = NULL, *again = NULL;
    size_t n_snaps = 0, n_wals = 0, n_segs = 0, n_again = 0;
    bk_manifest m = { 0 };
    uint64_t uploads = 0, last = 0;
    akidb_status st = ak_store_list_files(s->dir, "snap-", ".akdb", &snaps, &n_snaps);
    if (st == AKIDB_OK)
        st = ak_store_list_files(s->dir, "wal-", ".log", &wals, &n_wals);
    if (st == AKIDB_OK)
        st = ak_store_list_files(s->dir, "seg-", ".akseg", &segs, &n_segs);
    /* the segment files the snapshot names are all listed unless a newer
     * snapshot (which may have removed some) finished meanwhile */
    if (st == AKIDB_OK)
        st = ak_store_list_files(s->dir, "snap-", ".akdb", &again, &n_again);
    if (st == AKIDB_OK && n_again && (!n_snaps || again[n_again - 1].lsn != snaps[n_snaps - 1].lsn)) {
        b->again = true;
        st = ak_fail(AKIDB_ENOENT, "%s: a snapshot finished during the round", s->dir);
    }
    if (st != AKIDB_OK)
        goto out;
    uint64_t snap_lsn = n_snaps ? snaps[n_snaps - 1].lsn : 0;
    /* the segments recovery would read: from the last one starting at or
     * before the snapshot */
    size_t first = 0;
    for (size_t i = 0; i < n_wals; i++)
        if (wals[i].lsn <= snap_lsn)
            first = i;
    /* Snapshots are listed first: a snapshot finishing in between may have
     * removed the segments that follow the one listed; then start again. */
    if (n_snaps && (!n_wals || wals[first].lsn > snap_lsn)) {
        b->again = true;
        st = ak_fail(AKIDB_ENOENT, "%s: the segment holding record %llu is gone", s->dir,
                     (unsigned long long)snap_lsn);
        goto out;
    }
    if (n_wals && !(m.wal = ak_calloc(n_wals, sizeof *m.wal))) {
        st = ak_fail(AKIDB_ENOMEM, "backup: out of memory");
        goto out;
    }
    if (n_segs && !(m.seg = ak_calloc(n_segs, sizeof *m.seg))) {
        st = ak_fail(AKIDB_ENOMEM, "backup: out of memory");
        goto out;
    }
    if (n_snaps)
        st = ship_segfiles(s, segs, n_segs, &m, &uploads);
    if (n_snaps && st == AKIDB_OK)
        st = ship_snapshot(s, &snaps[n_snaps - 1], &m, &uploads);
    if (snap_lsn)
        last = snap_lsn - 1;
    for (size_t i = first; st == AKIDB_OK && i < n_wals; i++) {
        if (i + 1 == n_wals && !tail)
            break;
        st = ship_segment(s, &wals[i], &m, &uploads, &last);
    }
    m.last_lsn = last;
    if (st == AKIDB_OK && !(b->have_cur && bk_manifest_equal(&b->cur, &m)))
        st = put_manifest(s, &m);
    if (st == AKIDB_OK && !b->swept && (st = sweep(b, &b->cur)) == AKIDB_OK)
        b->swept = true;
    if (st == AKIDB_OK) {
        pthread_mutex_lock(&b->mu);
        b->snap_lsn = b->cur.has_snap ? b->cur.snap.lsn : 0;
        b->shipped_lsn = b->cur.last_lsn;
        pthread_mutex_unlock(&b->mu);
    }
out:
    pthread_mutex_lock(&b->mu);
    b->uploads += uploads;
    pthread_mutex_unlock(&b->mu);
    bk_manifest_free(&m);
    ak_store_free_segs(snaps, n_snaps);
    ak_store_free_segs(wals, n_wals);
    ak_store_free_segs(segs, n_segs);
    ak_store_free_segs(again, n_again);
    return st;
}

static akidb_status run_round(akidb_store *s, bool tail)
{
    akidb_status st = AKIDB_OK;
    for (int i = 0; i < 4; i++) {
        s->backup->again = false;
        if ((st = round_once(s, tail)) == AKIDB_OK || !s->backup->again)
            break;
    }
    if (st != AKIDB_OK)
        ak_fail_prefix(st, "backup to s3://%s/%s", s->backup->bucket, s->backup->prefix);
    return st;
}

/* ---- the thread ------------------------------------------------------------------ */

/* Takes the bucket's manifest as the starting point where the folder's
 * files match it (a restart, or the store was just restored from it). */
static void adopt(akidb_store *s)
{
    ak_backup *b = s->backup;
    bk_manifest m;
    if (manifest_get(b, &m) != AKIDB_OK)
        return;
    char name[40];
    if (m.has_snap) {
        bk_snap_name(name, sizeof name, m.snap.lsn);
        char *p = ak_path_join(s->dir, name);
        uint64_t size = 0;
        char sha[65] = "";
        if (!p || bk_sha_file(p, UINT64_MAX, &size, sha) != AKIDB_OK || size != m.snap.size ||
            strcmp(sha, m.snap.sha) != 0)
            m.has_snap = false;
        ak_free(p);
    }
    size_t keep = 0;
    for (size_t i = 0; i < m.n_wal; i++) {
        ak_wal_segment_name(name, m.wal[i].lsn);
        char *p = ak_path_join(s->dir, name), *data = NULL, sha[65] = "";
        size_t len = 0;
        if (p && ak_read_file(p, (size_t)1 << 40, &data, &len) == AKIDB_OK &&
            len >= m.wal[i].size && bk_sha_buf(data, (size_t)m.wal[i].size, sha) == AKIDB_OK &&
            strcmp(sha, m.wal[i].sha) == 0)
            m.wal[keep++] = m.wal[i];
        ak_free(data);
        ak_free(p);
    }
    m.n_wal = keep;
    keep = 0;
    for (size_t i = 0; i < m.n_seg; i++) {
        bk_obj_name(name, sizeof name, BK_SEG, m.seg[i].lsn);
        char *p = ak_path_join(s->dir, name);
        struct stat sb;
        if (p && stat(p, &sb) == 0 && (uint64_t)sb.st_size == m.seg[i].size)
            m.seg[keep++] = m.seg[i];   /* segment files never change */
        ak_free(p);
    }
    m.n_seg = keep;
    b->cur = m;
    b->have_cur = true;
    b->swept = false;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void add_ms(struct timespec *t, unsigned ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* Keeps a round's outcome for the statistics (b->mu held). */
static void record(akidb_store *s, akidb_status st)
{
    ak_backup *b = s->backup;
    b->err = st;
    snprintf(b->msg, sizeof b->msg, "%s", st == AKIDB_OK ? "" : akidb_last_error());
    if (st == AKIDB_OK) {
        b->backoff_ms = 0;
        return;
    }
    b->failures++;
    b->backoff_ms = b->backoff_ms ? b->backoff_ms * 2 : BK_BACKOFF_FIRST_MS;
    if (b->backoff_ms > BK_BACKOFF_MAX_MS)
        b->backoff_ms = BK_BACKOFF_MAX_MS;
    clock_gettime(CLOCK_MONOTONIC, &b->retry_at);
    add_ms(&b->retry_at, b->backoff_ms);
    ak_store_log(s, AKIDB_LOG_ERROR, "%s (retried in %u ms)", b->msg, b->backoff_ms);
}

static void *backup_thread(void *arg)
{
    akidb_store *s = arg;
    ak_backup *b = s->backup;
    adopt(s);
    pthread_mutex_lock(&b->mu);
    b->kick = true;
    for (;;) {
        if (b->stop)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        const struct timespec *until = NULL;
        if (b->err != AKIDB_OK)
            until = &b->retry_at;
        else if (!b->kick && b->interval_ms > 0)
            until = &b->next_tail;
        if ((b->err != AKIDB_OK || !b->kick) && (!until || before(&now, until))) {
            if (until)
                pthread_cond_timedwait(&b->cv, &b->mu, until);
            else
                pthread_cond_wait(&b->cv, &b->mu);
            continue;
        }
        b->kick = false;
        pthread_mutex_unlock(&b->mu);
        akidb_status st = run_round(s, b->interval_ms > 0);
        pthread_mutex_lock(&b->mu);
        record(s, st);
        clock_gettime(CLOCK_MONOTONIC, &b->next_tail);
        add_ms(&b->next_tail, (unsigned)b->interval_ms);
    }
    bool final = b->final;
    pthread_mutex_unlock(&b->mu);
    if (final) {
        akidb_status st = run_round(s, true);
        pthread_mutex_lock(&b->mu);
        record(s, st);
        pthread_mutex_unlock(&b->mu);
    }
    return NULL;
}

akidb_status ak_backup_start(akidb_store *s)
{
    ak_backup *b = s->backup;
    if (!b || b->read_only)
        return AKIDB_OK;
    int e = pthread_create(&b->th, NULL, backup_thread, s);
    if (e != 0)
        return ak_fail(AKIDB_ENOMEM, "%s: cannot start the backup thread: %s", s->dir,
                       strerror(e));
    b->started = true;
    return AKIDB_OK;
}

void ak_backup_kick(akidb_store *s)
{
    ak_backup *b = s->backup;
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->kick = true;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void stop_thread(ak_backup *b, bool final)
{
    if (!b || !b->started)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = true;
    b->final = final;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    b->started = false;
}

void ak_backup_stop(akidb_store *s)
{
    stop_thread(s->backup, true);
}

void ak_backup_free(akidb_store *s)
{
    ak_backup *b = s->backup;
    if (!b)
        return;
    stop_thread(b, false);
    ak_s3_close(b->s3);
    bk_manifest_free(&b->cur);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    ak_free(b->bucket);
    ak_free(b->prefix);
    ak_free(b->rprefix);
    ak_free(b);
    s->backup = NULL;
}

void ak_backup_stats(akidb_store *s, akidb_store_stats *st)
{
    ak_backup *b = s->backup;
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    st->backup_enabled = true;
    st->backup_snapshot_lsn = b->snap_lsn;
    st->backup_shipped_lsn = b->shipped_lsn;
    st->backup_uploads = b->uploads;
    st->backup_manifests = b->manifests;
    st->backup_failures = b->failures;
    st->backup_status = b->err;
    snprintf(st->backup_error, sizeof st->backup_error, "%s", b->msg);
    pthread_mutex_unlock(&b->mu);
}
