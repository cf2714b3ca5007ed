/*
 * fileio.h - the library's one path for writing files: whole writes that
 * survive short writes and EINTR, fsync of files and directories, truncate,
 * rename, and atomic replacement of a file (temporary file in the same
 * folder, fsync, rename over, fsync the folder: a crash leaves the old or the
 * new content, never a mix).  The WAL, snapshots, HNSW images and the API
 * key file all write through it.
 *
 * Every failure returns a status and a message naming the operation, the
 * path and the system's reason ("write /d/wal-....log: No space left on
 * device").  ENOSPC and EDQUOT give AKIDB_ENOSPC, ENOENT gives AKIDB_ENOENT,
 * anything else AKIDB_EIO.
 *
 * Test hook: ak_io_fail_after makes the layer's calls fail as a full or
 * broken disk would.  Each system call the layer makes that can fail for
 * lack of space or a device error counts once: open, each write / writev
 * attempt, fsync / fdatasync, ftruncate, rename, and the open and fsync of a
 * directory.  lseek, close and unlink do not count (they move no data, and
 * cleaning up after a failure must work on a full disk), nor, under an
 * injected ENOSPC / EDQUOT, a truncation that does not grow the file (a full
 * disk still lets a file shrink).
 */
#ifndef AKIDB_FILEIO_H
#define AKIDB_FILEIO_H

#include "common/common.h"

#include <sys/types.h>
#include <sys/uio.h>

/* Status for an errno value (see above). */
akidb_status ak_io_status(int err);

/* open(2) with O_CLOEXEC added; flags and mode as for open(2).  *fd is -1
 * on failure. */
akidb_status ak_io_open(const char *path, int flags, int mode, int *fd);

/* Writes all n bytes at the file offset, retrying EINTR and short writes.
 * path only names the file in the message (may be NULL).  On failure some
 * prefix of the bytes may have been written. */
akidb_status ak_io_write_all(int fd, const void *buf, size_t n, const char *path);

/* Same for a gather list (at most 16 entries; iov is not modified). */
akidb_status ak_io_writev_all(int fd, const struct iovec *iov, int cnt, const char *path);

/* fsync(2) / fdatasync(2) of a file. */
akidb_status ak_io_fsync(int fd, const char *path);
akidb_status ak_io_fdatasync(int fd, const char *path);

/* fsyncs a directory so that created, renamed and removed entries in it are
 * durable (file systems that cannot fsync a directory are accepted). */
akidb_status ak_io_fsync_dir(const char *dir);

/* ftruncate(2) to len bytes, then moves the offset to len. */
akidb_status ak_io_truncate(int fd, uint64_t len, const char *path);

/* lseek(2) to an absolute offset (not counted by the hook). */
akidb_status ak_io_seek(int fd, uint64_t off, const char *path);

/* rename(2). */
akidb_status ak_io_rename(const char *from, const char *to);

/* unlink(2); a missing file is not an error (not counted by the hook). */
akidb_status ak_io_unlink(const char *path);

/* ---- atomic replacement ----------------------------------------------------
 * ak_io_replace_begin opens "<path>.tmp" (created or truncated, mode) for
 * writing into r->fd; the caller writes the new content through the layer
 * and then calls ak_io_replace_commit, which (with sync) fsyncs the file,
 * closes it, renames it over path and (with sync) fsyncs the folder; or
 * ak_io_replace_abort.  Both release r and remove the temporary file unless
 * it was renamed into place.  If commit fails before the rename, path keeps
 * its old content (or stays absent); if only the folder fsync fails, path
 * has the new content (r->renamed is true) but a crash may bring the old one
 * back. */
typedef struct ak_io_replace {
    int fd;
    char *path;
    char *tmp;
    bool renamed;      /* set by commit once path has the new content */
} ak_io_replace;

akidb_status ak_io_replace_begin(ak_io_replace *r, const char *path, int mode);
akidb_status ak_io_replace_commit(ak_io_replace *r, bool sync);
void ak_io_replace_abort(ak_io_replace *r);

/* Replaces the file at path with len bytes of data in one of the ways above. */
akidb_status ak_io_replace_file(const char *path, const void *data, size_t len, int mode,
                                bool sync);

/* ---- test hooks (process-wide; for single-threaded tests) ----------------- */

/* After n more successful counted calls, every counted call fails with errno
 * err (ENOSPC, EIO, ...) without touching the file system, until reset with
 * n < 0: a disk that fills up and stays full.  Resets the count below. */
void ak_io_fail_after(long n, int err);
/* Like ak_io_fail_after, but only the one call fails: a transient error. */
void ak_io_fail_once(long n, int err);
/* Counted calls that failed because of the hook since the last arming. */
long ak_io_injected_failures(void);
/* Caps every write / writev system call at max bytes (0: no cap), so tests
 * see the short writes that pipes and full disks produce. */
void ak_io_max_write(size_t max);

#endif
