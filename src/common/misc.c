/*
 * misc.c - small helpers shared by several modules: hex encoding and the
 * process-wide jansson allocator hook and the one JSON parse entry that
 * tells out-of-memory from malformed text.
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

static void *json_malloc_hook(size_t n) { return ak_malloc(n); }
static void json_free_hook(void *p) { ak_free(p); }
static void json_init_once(void) { json_set_alloc_funcs(json_malloc_hook, json_free_hook); }

void ak_json_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_init_once);
}

/* jansson reports an allocation failure inside its lexer as a syntax error
 * with an empty text; in tests the failure counter tells them apart too. */
akidb_status ak_json_parse(const char *text, size_t len, size_t flags, const char *what,
                           json_t **out)
{
    AK_ASSERT(out && what);
    ak_json_init();
    json_error_t err;
    long injected = ak_alloc_injected_failures();
    *out = json_loadb(text ? text : "", text ? len : 0, flags, &err);
    if (*out)
        return AKIDB_OK;
    if (json_error_code(&err) == json_error_out_of_memory || err.text[0] == '\0' ||
        ak_alloc_injected_failures() > injected)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory parsing JSON", what);
    return ak_fail(AKIDB_EFORMAT, "%s: not valid JSON: %s (line %d, column %d)", what,
                   err.text, err.line, err.column);
}
