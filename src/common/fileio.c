/*
 * fileio.c - the file-writing layer (fileio.h): whole writes, fsync of files
 * and folders, truncate, rename and atomic replacement, each failure
 * reported with the operation, the path and the system's reason, and a
 * process-wide hook that fails the layer's calls like a full disk does so
 * tests can walk every write path's failure handling.
 */
#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- test hook ------------------------------------------------------------- */

static atomic_long fail_countdown = -1;  /* <0: injection off */
static atomic_long injected = 0;
static atomic_int fail_errno = 0;
static atomic_bool fail_once = false;
static atomic_size_t max_write = 0;

static void arm(long n, int err, bool once)
{
    atomic_store(&fail_countdown, -1);
    atomic_store(&fail_errno, err);
    atomic_store(&fail_once, once);
    atomic_store(&injected, 0);
    atomic_store(&fail_countdown, n);
}

void ak_io_fail_after(long n, int err) { arm(n, err, false); }
void ak_io_fail_once(long n, int err) { arm(n, err, true); }
long ak_io_injected_failures(void) { return atomic_load(&injected); }
void ak_io_max_write(size_t max) { atomic_store(&max_write, max); }

/* True (errno set) if this counted call must fail because of the hook. */
static bool inject(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (AK_LIKELY(c < 0))
        return false;
    if (c == 0) {
        atomic_fetch_add(&injected, 1);
        if (atomic_load(&fail_once))
            atomic_store(&fail_countdown, -1);
        errno = atomic_load(&fail_errno);
        return true;
    }
    atomic_fetch_sub(&fail_countdown, 1);
    return false;
}

static size_t cap_write(size_t n)
{
    size_t m = atomic_load_explicit(&max_write, memory_order_relaxed);
    return m && n > m ? m : n;
}

/* ---- errors ---------------------------------------------------------------- */

akidb_status ak_io_status(int err)
{
    if (err == ENOSPC || err == EDQUOT)
        return AKIDB_ENOSPC;
    if (err == ENOENT)
        return AKIDB_ENOENT;
    return AKIDB_EIO;
}

static const char *name_of(const char *path) { return path ? path : "(unnamed file)"; }

/* Fails with "<op> <path>: <strerror(err)>". */
static akidb_status io_fail(int err, const char *op, const char *path)
{
    return ak_fail(ak_io_status(err), "%s %s: %s", op, name_of(path), strerror(err));
}

/* ---- calls ----------------------------------------------------------------- */

akidb_status ak_io_open(const char *path, int flags, int mode, int *fd)
{
    *fd = -1;
    if (inject())
        return io_fail(errno, (flags & O_CREAT) ? "create" : "open", path);
    int f;
    do
        f = open(path, flags | O_CLOEXEC, mode);
    while (f < 0 && errno == EINTR);
    if (f < 0)
        return io_fail(errno, (flags & O_CREAT) ? "create" : "open", path);
    *fd = f;
    return AKIDB_OK;
}

akidb_status ak_io_write_all(int fd, const void *buf, size_t n, const char *path)
{
    struct iovec v = { (void *)buf, n };
    return ak_io_writev_all(fd, &v, 1, path);
}

akidb_status ak_io_writev_all(int fd, const struct iovec *iov, int cnt, const char *path)
{
    AK_ASSERT(cnt >= 0 && cnt <= 16);
    struct iovec v[16];
    int nv = 0;
    for (int i = 0; i < cnt; i++)
        if (iov[i].iov_len)
            v[nv++] = iov[i];
    struct iovec *p = v;
    while (nv > 0) {
        /* Apply the test cap: send only a prefix of the list. */
        struct iovec cut[16];
        int nc = 0;
        size_t room = cap_write(SIZE_MAX);
        for (int i = 0; i < nv && room; i++) {
            cut[nc] = p[i];
            if (cut[nc].iov_len > room)
                cut[nc].iov_len = room;
            room -= cut[nc].iov_len;
            nc++;
        }
        ssize_t w;
        if (inject())
            w = -1;
        else
            w = nc == 1 ? write(fd, cut[0].iov_base, cut[0].iov_len) : writev(fd, cut, nc);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return io_fail(errno, "write", path);
        if (w == 0)
            return ak_fail(AKIDB_EIO, "write %s: the system wrote 0 bytes", name_of(path));
        size_t k = (size_t)w;
        while (nv > 0 && k >= p->iov_len) {
            k -= p->iov_len;
            p++;
            nv--;
        }
        if (nv > 0) {
            p->iov_base = (uint8_t *)p->iov_base + k;
            p->iov_len -= k;
        }
    }
    return AKIDB_OK;
}

akidb_status ak_io_fsync(int fd, const char *path)
{
    if (inject() || fsync(fd) != 0)
        return io_fail(errno, "fsync", path);
    return AKIDB_OK;
}

akidb_status ak_io_fdatasync(int fd, const char *path)
{
    if (inject() || fdatasync(fd) != 0)
        return io_fail(errno, "fdatasync", path);
    return AKIDB_OK;
}

akidb_status ak_io_fsync_dir(const char *dir)
{
    const char *d = dir && dir[0] ? dir : "/";
    int fd;
    akidb_status st = ak_io_open(d, O_RDONLY | O_DIRECTORY, 0, &fd);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "fsync directory");
    if (inject() || (fsync(fd) != 0 && errno != EINVAL)) {
        st = io_fail(errno, "fsync directory", d);
        close(fd);
        return st;
    }
    close(fd);
    return AKIDB_OK;
}

/* A full disk does not stop a file from shrinking: an injected ENOSPC /
 * EDQUOT spares truncations to at most the current size, as a real full
 * disk does (so cutting a torn WAL record still works, as it would). */
static bool inject_truncate(int fd, uint64_t len)
{
    int err = atomic_load(&fail_errno);
    struct stat sb;
    if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) >= 0 &&
        (err == ENOSPC || err == EDQUOT) && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size >= len)
        return false;
    return inject();
}

akidb_status ak_io_truncate(int fd, uint64_t len, const char *path)
{
    int r;
    if (inject_truncate(fd, len))
        r = -1;
    else
        do
            r = ftruncate(fd, (off_t)len);
        while (r != 0 && errno == EINTR);
    if (r != 0) {
        int e = errno;
        return ak_fail(ak_io_status(e), "truncate %s to %llu bytes: %s", name_of(path),
                       (unsigned long long)len, strerror(e));
    }
    return ak_io_seek(fd, len, path);
}

akidb_status ak_io_seek(int fd, uint64_t off, const char *path)
{
    if (lseek(fd, (off_t)off, SEEK_SET) < 0) {
        int e = errno;
        return ak_fail(AKIDB_EIO, "seek %s to offset %llu: %s", name_of(path),
                       (unsigned long long)off, strerror(e));
    }
    return AKIDB_OK;
}

akidb_status ak_io_rename(const char *from, const char *to)
{
    if (inject() || rename(from, to) != 0) {
        int e = errno;
        return ak_fail(ak_io_status(e), "rename %s to %s: %s", name_of(from), name_of(to),
                       strerror(e));
    }
    return AKIDB_OK;
}

akidb_status ak_io_unlink(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return io_fail(errno, "remove", path);
    return AKIDB_OK;
}

/* ---- atomic replacement ------------------------------------------------------ */

static void replace_free(ak_io_replace *r)
{
    ak_free(r->path);
    ak_free(r->tmp);
    r->path = r->tmp = NULL;
    r->fd = -1;
}

akidb_status ak_io_replace_begin(ak_io_replace *r, const char *path, int mode)
{
    r->fd = -1;
    r->renamed = false;
    size_t n = strlen(path);
    r->path = ak_strdup(path);
    r->tmp = ak_malloc(n + 5);
    if (!r->path || !r->tmp) {
        replace_free(r);
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    }
    memcpy(r->tmp, path, n);
    memcpy(r->tmp + n, ".tmp", 5);
    akidb_status st = ak_io_open(r->tmp, O_WRONLY | O_CREAT | O_TRUNC, mode, &r->fd);
    if (st != AKIDB_OK) {
        ak_io_unlink(r->tmp);   /* a full disk may fail after creating it */
        replace_free(r);
    }
    return st;
}

void ak_io_replace_abort(ak_io_replace *r)
{
    if (r->fd >= 0)
        close(r->fd);
    if (r->tmp)
        ak_io_unlink(r->tmp);
    replace_free(r);
}

akidb_status ak_io_replace_commit(ak_io_replace *r, bool sync)
{
    akidb_status st = sync ? ak_io_fsync(r->fd, r->tmp) : AKIDB_OK;
    if (st == AKIDB_OK && close(r->fd) != 0 && errno != EINTR)
        st = io_fail(errno, "close", r->tmp);   /* NFS reports write errors here */
    else if (st != AKIDB_OK)
        close(r->fd);
    r->fd = -1;
    if (st == AKIDB_OK)
        st = ak_io_rename(r->tmp, r->path);
    if (st != AKIDB_OK) {
        ak_io_replace_abort(r);
        return st;
    }
    r->renamed = true;
    if (sync) {
        char *slash = strrchr(r->path, '/');
        char *dir = slash ? ak_strndup(r->path, (size_t)(slash - r->path)) : ak_strdup(".");
        if (!dir)
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", r->path);
        else
            st = ak_io_fsync_dir(dir);
        ak_free(dir);
    }
    replace_free(r);
    return st;
}

akidb_status ak_io_replace_file(const char *path, const void *data, size_t len, int mode,
                                bool sync)
{
    ak_io_replace r;
    akidb_status st = ak_io_replace_begin(&r, path, mode);
    if (st != AKIDB_OK)
        return st;
    st = ak_io_write_all(r.fd, data, len, r.tmp);
    if (st != AKIDB_OK) {
        ak_io_replace_abort(&r);
        return st;
    }
    return ak_io_replace_commit(&r, sync);
}
