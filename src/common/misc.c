/*
 * misc.c - small helpers shared by several modules: hex encoding and the
 * process-wide jansson allocator hook.
 */
#include "common.h"

#include <jansson.h>
#include <pthread.h>

void ak_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* jansson reports some allocation failures as syntax errors; parsers that
 * must tell them apart consult ak_alloc_injected_failures() in tests. */
static void *json_malloc_hook(size_t n) { return ak_malloc(n); }
static void json_free_hook(void *p) { ak_free(p); }
static void json_init_once(void) { json_set_alloc_funcs(json_malloc_hook, json_free_hook); }

void ak_json_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_init_once);
}
