/*
 * common.h - private helpers shared by every AkiDB module: error reporting,
 * contract assertions, accounted allocation with fault injection, files.
 *
 * Not installed; include "akidb.h" first for the public types.
 */
#ifndef AKIDB_COMMON_H
#define AKIDB_COMMON_H

#include "akidb.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define AK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define AK_LIKELY(x) __builtin_expect(!!(x), 1)
#define AK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define AK_PRINTF(a, b)
#define AK_LIKELY(x) (x)
#define AK_UNLIKELY(x) (x)
#endif

/* Contract check: always on (also in release builds).  A failing contract is a
 * bug in the caller, so the process aborts with the location. */
#define AK_ASSERT(cond)                                                       \
    do {                                                                      \
        if (AK_UNLIKELY(!(cond)))                                             \
            ak_assert_fail(#cond, __FILE__, __LINE__, __func__);              \
    } while (0)

_Noreturn void ak_assert_fail(const char *expr, const char *file, int line,
                              const char *func);

/* Records a failure message for akidb_last_error() on this thread and returns
 * st, so that callers can write `return ak_fail(AKIDB_EIO, "...")`. */
akidb_status ak_fail(akidb_status st, const char *fmt, ...) AK_PRINTF(2, 3);
akidb_status ak_vfail(akidb_status st, const char *fmt, va_list ap);

/* Prefixes the current thread's message with "prefix: " (e.g. a file name)
 * and returns st.  Use when re-raising a failure from a lower layer. */
akidb_status ak_fail_prefix(akidb_status st, const char *fmt, ...) AK_PRINTF(2, 3);

/* Clears the current thread's message. */
void ak_clear_error(void);

/* ---- allocation ---------------------------------------------------------
 * All heap memory of the library goes through these, so tests can make the
 * N-th allocation fail (ak_alloc_fail_after) and check every path that
 * handles out-of-memory.  ak_malloc(0) returns a unique non-NULL pointer.
 * Failures return NULL; the caller reports AKIDB_ENOMEM. */
void *ak_malloc(size_t n);
void *ak_calloc(size_t count, size_t size);
void *ak_realloc(void *p, size_t n);
void ak_free(void *p);
char *ak_strdup(const char *s);
char *ak_strndup(const char *s, size_t n);
/* Overflow-checked count*size; returns false on overflow. */
bool ak_mul_overflow(size_t a, size_t b, size_t *out);
/* Aligned allocation (align: power of two >= sizeof(void*)); free with
 * ak_free_aligned. */
void *ak_malloc_aligned(size_t n, size_t align);
void ak_free_aligned(void *p);

/* Test hook: after `n` more successful allocations, every allocation fails
 * until reset with n < 0.  Process-wide; only for single-threaded tests. */
void ak_alloc_fail_after(long n);
/* Number of allocations that failed because of the hook since last reset. */
long ak_alloc_injected_failures(void);

/* ---- files --------------------------------------------------------------- */

/* Reads a whole file into a NUL-terminated buffer (free with ak_free).
 * Fails with ENOENT / EIO naming the path, or ETOOLONG if larger than max. */
akidb_status ak_read_file(const char *path, size_t max, char **data, size_t *len);

/* Read-only memory map of a whole file.  An empty file maps to a NULL data
 * pointer with size 0. */
typedef struct ak_mmap {
    void *data;
    size_t size;
} ak_mmap;
akidb_status ak_mmap_open(const char *path, ak_mmap *m);
void ak_mmap_close(ak_mmap *m);

/* Joins dir and name with one '/', into a new string (NULL on ENOMEM). */
char *ak_path_join(const char *dir, const char *name);
bool ak_file_exists(const char *path);

/* ---- arena ---------------------------------------------------------------
 * Bump allocator for per-call scratch memory: many allocations, one free.
 * Blocks are 64-byte aligned.  Not thread-safe; use one per call/thread. */
typedef struct ak_arena_block ak_arena_block;
typedef struct ak_arena {
    ak_arena_block *head;
    size_t block_size;
} ak_arena;
void ak_arena_init(ak_arena *a, size_t block_size);
/* Returns 64-byte aligned memory of n bytes, or NULL on ENOMEM. */
void *ak_arena_alloc(ak_arena *a, size_t n);
/* Releases all but the first block and makes it empty again. */
void ak_arena_reset(ak_arena *a);
void ak_arena_free(ak_arena *a);

/* ---- misc ---------------------------------------------------------------- */

/* Validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF).  Returns true if
 * valid; otherwise stores the byte offset of the first bad sequence. */
bool ak_utf8_valid(const char *s, size_t len, size_t *bad_offset);

/* Decodes one code point from valid UTF-8; returns bytes consumed (1..4). */
int ak_utf8_decode(const unsigned char *s, uint32_t *cp);
/* Encodes cp into buf (4 bytes room); returns bytes written. */
int ak_utf8_encode(uint32_t cp, char *buf);

/* Writes n bytes as 2n lowercase hex digits plus a NUL into out. */
void ak_hex_encode(const unsigned char *in, size_t n, char *out);

/* Makes jansson allocate through ak_malloc/ak_free (process-wide, idempotent,
 * thread-safe) so that allocation-failure tests cover JSON handling too.
 * Every module that parses JSON calls it before its first jansson call. */
void ak_json_init(void);

/* Parses len bytes of JSON with jansson (jansson flags), after
 * ak_json_init().  On failure *out is NULL and the status is ENOMEM when the
 * parse ran out of memory (jansson reports some of those as syntax errors),
 * otherwise EFORMAT with "<what>: not valid JSON: <reason> (line L, column C)". */
struct json_t;
akidb_status ak_json_parse(const char *text, size_t len, size_t flags, const char *what,
                           struct json_t **out);

/* Monotonic clock in seconds. */
double ak_now(void);

#endif /* AKIDB_COMMON_H */
