/*
 * alloc.c - the library's only path to the heap.  Wrapping malloc lets the
 * tests inject an allocation failure at any point (ak_alloc_fail_after) and
 * check that every caller reports AKIDB_ENOMEM and leaks nothing.
 */
#include "common.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown = -1;  /* <0: injection off */
static atomic_long injected = 0;

void ak_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
    atomic_store(&injected, 0);
}

long ak_alloc_injected_failures(void)
{
    return atomic_load(&injected);
}

/* Returns true if this allocation must fail because of the test hook. */
static bool inject_failure(void)
{
    long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (AK_LIKELY(c < 0))
        return false;
    if (c == 0) {
        atomic_fetch_add(&injected, 1);
        return true;
    }
    atomic_fetch_sub(&fail_countdown, 1);
    return false;
}

void *ak_malloc(size_t n)
{
    if (inject_failure())
        return NULL;
    return malloc(n ? n : 1);
}

void *ak_calloc(size_t count, size_t size)
{
    if (inject_failure())
        return NULL;
    if (count == 0 || size == 0)
        return calloc(1, 1);
    return calloc(count, size);
}

void *ak_realloc(void *p, size_t n)
{
    if (inject_failure())
        return NULL;
    return realloc(p, n ? n : 1);
}

void ak_free(void *p)
{
    free(p);
}

char *ak_strndup(const char *s, size_t n)
{
    char *d = ak_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *ak_strdup(const char *s)
{
    return ak_strndup(s, strlen(s));
}

bool ak_mul_overflow(size_t a, size_t b, size_t *out)
{
    return __builtin_mul_overflow(a, b, out);
}

void *ak_malloc_aligned(size_t n, size_t align)
{
    void *p = NULL;
    if (inject_failure())
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    if (posix_memalign(&p, align, n ? n : align) != 0)
        return NULL;
    return p;
}

void ak_free_aligned(void *p)
{
    free(p);
}
