/*
 * dec_common.c - the helpers the decoder kinds share (declared in
 * dec_common.h): byte strings, UTF-8 stepping, Rust's str::replace, the
 * per-token rewrite loop and the required-field readers.  One definition
 * each, so every kind reads its JSON and walks its tokens the same way.
 */
#include "dec_common.h"

#include <stdio.h>
#include <string.h>

akidb_status ak_dec_oom(void)
{
    return ak_fail(AKIDB_ENOMEM, "out of memory decoding tokens");
}

/* ---- byte strings ---------------------------------------------------------- */

akidb_status ak_dbuf_put(ak_dbuf *b, const char *s, size_t n)
{
    if (!b->v || n >= b->cap - b->n) {
        if (n > SIZE_MAX / 2 - b->n)
            return ak_dec_oom();
        size_t nc = b->cap ? b->cap : 64;
        while (nc - b->n <= n)
            nc *= 2;
        char *nv = ak_realloc(b->v, nc);
        if (!nv)
            return ak_dec_oom();
        b->v = nv;
        b->cap = nc;
    }
    if (n)
        memcpy(b->v + b->n, s, n);
    b->n += n;
    b->v[b->n] = 0;
    return AKIDB_OK;
}

akidb_status ak_dbuf_reset(ak_dbuf *b)
{
    b->n = 0;
    return ak_dbuf_put(b, "", 0);
}

void ak_dbuf_free(ak_dbuf *b)
{
    ak_free(b->v);
    memset(b, 0, sizeof *b);
}

/* ---- UTF-8 ------------------------------------------------------------------ */

size_t ak_dec_u8_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (k > n)
        return 1;
    for (size_t i = 1; i < k; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return 1;
    return k;
}

uint32_t ak_dec_u8_cp(const char *s, size_t k)
{
    const unsigned char *u = (const unsigned char *)s;
    switch (k) {
    case 2: return (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
    case 3: return (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
    case 4:
        return (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
               (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
    default: return u[0] < 0x80 ? u[0] : 0x110000u + u[0];
    }
}

akidb_status ak_dec_str_replace(ak_dbuf *out, const char *s, size_t n, const char *pat,
                                size_t pn, const char *rep, size_t rn)
{
    akidb_status st = AKIDB_OK;
    if (pn == 0) {
        st = ak_dbuf_put(out, rep, rn);
        for (size_t i = 0; i < n && st == AKIDB_OK;) {
            size_t k = ak_dec_u8_len(s + i, n - i);
            if ((st = ak_dbuf_put(out, s + i, k)) == AKIDB_OK)
                st = ak_dbuf_put(out, rep, rn);
            i += k;
        }
        return st;
    }
    size_t i = 0, from = 0;
    while (i + pn <= n && st == AKIDB_OK) {
        if (memcmp(s + i, pat, pn) == 0) {
            if ((st = ak_dbuf_put(out, s + from, i - from)) == AKIDB_OK)
                st = ak_dbuf_put(out, rep, rn);
            i += pn;
            from = i;
        } else {
            i++;
        }
    }
    return st == AKIDB_OK ? ak_dbuf_put(out, s + from, n - from) : st;
}

akidb_status ak_dec_map(const ak_decoder *d, ak_strs *toks, ak_dec_map_fn fn)
{
    ak_dbuf b = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++)
        if ((st = ak_dbuf_reset(&b)) == AKIDB_OK && (st = fn(d, toks, i, &b)) == AKIDB_OK)
            st = ak_strs_set(toks, i, b.v, b.n);
    ak_dbuf_free(&b);
    return st;
}

/* ---- JSON fields ------------------------------------------------------------ */

akidb_status ak_dec_need_object(const json_t *j, const ak_tok_load *ld)
{
    if (json_is_object(j))
        return AKIDB_OK;
    char f[160];
    size_t pl = strlen(ld->path);
    snprintf(f, sizeof f, "%.*s", (int)(pl ? pl - 1 : 0), ld->path);   /* without the '.' */
    return ak_tj_bad_type(ld->origin, f[0] ? f : "decoder", "an object", j);
}

akidb_status ak_dec_missing(const ak_tok_load *ld, const char *key)
{
    return ak_fail(AKIDB_EFORMAT, "%s: %s%s: missing (the Rust library requires it)",
                   ld->origin, ld->path, key);
}

akidb_status ak_dec_req_str(const json_t *j, const char *key, const ak_tok_load *ld,
                            char **out, size_t *len)
{
    const char *s;
    akidb_status st = ak_tj_str(j, key, NULL, &s, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    if (!s)
        return ak_dec_missing(ld, key);
    *len = json_string_length(json_object_get(j, key));
    if (!(*out = ak_strndup(s, *len)))
        return ak_dec_oom();
    return AKIDB_OK;
}

akidb_status ak_dec_req_bool(const json_t *j, const char *key, const ak_tok_load *ld,
                             bool *out)
{
    const json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v))
        return ak_dec_missing(ld, key);
    return ak_tj_bool(j, key, false, out, ld->origin, ld->path);
}

akidb_status ak_dec_req_char(const json_t *j, const char *key, const ak_tok_load *ld,
                             uint32_t *cp)
{
    const char *s;
    akidb_status st = ak_tj_str(j, key, NULL, &s, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    if (!s)
        return ak_dec_missing(ld, key);
    size_t n = json_string_length(json_object_get(j, key)), k = n ? ak_dec_u8_len(s, n) : 0;
    if (n == 0 || k != n)
        return ak_fail(AKIDB_EFORMAT, "%s: %s%s: expected exactly one character, found \"%.40s\"",
                       ld->origin, ld->path, key, s);
    *cp = ak_dec_u8_cp(s, k);
    return AKIDB_OK;
}

void ak_dec_plain_free(ak_decoder *d)
{
    ak_free(d);
}
