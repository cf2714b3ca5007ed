/*
 * status.c - status names and strings generated from AKIDB_STATUS_MAP, the
 * per-thread failure message behind akidb_last_error(), and the contract
 * assertion handler.
 */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AK_ERRMSG_MAX 1024

static _Thread_local char tls_msg[AK_ERRMSG_MAX];

const char *akidb_strerror(akidb_status st)
{
    switch (st) {
#define AK_CASE_(name, code, str) case AKIDB_##name: return str;
        AKIDB_STATUS_MAP(AK_CASE_)
#undef AK_CASE_
    }
    return "unknown status";
}

const char *akidb_status_name(akidb_status st)
{
    switch (st) {
#define AK_CASE_(name, code, str) case AKIDB_##name: return #name;
        AKIDB_STATUS_MAP(AK_CASE_)
#undef AK_CASE_
    }
    return "UNKNOWN";
}

const char *akidb_last_error(void)
{
    return tls_msg;
}

void ak_clear_error(void)
{
    tls_msg[0] = '\0';
}

akidb_status ak_vfail(akidb_status st, const char *fmt, va_list ap)
{
    vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
    return st;
}

akidb_status ak_fail(akidb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ak_vfail(st, fmt, ap);
    va_end(ap);
    return st;
}

akidb_status ak_fail_prefix(akidb_status st, const char *fmt, ...)
{
    char old[AK_ERRMSG_MAX];
    char prefix[AK_ERRMSG_MAX / 2];
    va_list ap;

    memcpy(old, tls_msg, sizeof old);
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    const char *rest = old[0] != '\0' ? old : akidb_strerror(st);
    size_t n = strlen(prefix);
    memcpy(tls_msg, prefix, n);
    tls_msg[n++] = ':';
    tls_msg[n++] = ' ';
    size_t m = strlen(rest);
    if (m > sizeof tls_msg - n - 1)
        m = sizeof tls_msg - n - 1;
    memcpy(tls_msg + n, rest, m);
    tls_msg[n + m] = '\0';
    return st;
}

_Noreturn void ak_assert_fail(const char *expr, const char *file, int line,
                              const char *func)
{
    fprintf(stderr, "akidb: contract violated: %s (%s:%d, %s)\n", expr, file,
            line, func);
    fflush(stderr);
    abort();
}
