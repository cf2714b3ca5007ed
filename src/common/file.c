/*
 * file.c - whole-file reads and read-only memory maps, with failures that
 * name the path and the system's reason.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static akidb_status open_fail(const char *path)
{
    int e = errno;
    return ak_fail(e == ENOENT ? AKIDB_ENOENT : AKIDB_EIO, "%s: %s", path,
                   strerror(e));
}

akidb_status ak_read_file(const char *path, size_t max, char **data, size_t *len)
{
    AK_ASSERT(path && data && len);
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return open_fail(path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        akidb_status s = open_fail(path);
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ak_fail(AKIDB_EIO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return ak_fail(AKIDB_ETOOLONG, "%s: file of %lld bytes exceeds the limit of %zu",
                       path, (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    char *buf = ak_malloc(n + 1);
    if (!buf) {
        close(fd);
        return ak_fail(AKIDB_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            akidb_status s = r < 0 ? open_fail(path)
                                   : ak_fail(AKIDB_EIO, "%s: file shrank while reading", path);
            ak_free(buf);
            close(fd);
            return s;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return AKIDB_OK;
}

akidb_status ak_mmap_open(const char *path, ak_mmap *m)
{
    AK_ASSERT(path && m);
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return open_fail(path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        akidb_status s = open_fail(path);
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ak_fail(AKIDB_EIO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return AKIDB_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return ak_fail(AKIDB_EIO, "%s: mmap: %s", path, strerror(errno));
    m->data = p;
    m->size = (size_t)st.st_size;
    return AKIDB_OK;
}

void ak_mmap_close(ak_mmap *m)
{
    if (m && m->data) {
        munmap(m->data, m->size);
        m->data = NULL;
        m->size = 0;
    }
}

char *ak_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/')
        a--;
    char *p = ak_malloc(a + 1 + b + 1);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

bool ak_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

double ak_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
