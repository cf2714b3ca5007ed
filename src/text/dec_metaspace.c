/*
 * dec_metaspace.c - the Metaspace decoder of Hugging Face tokenizers (Rust):
 * the replacement character (U+2581 '▁' for sentencepiece models) becomes a
 * space again.
 *
 * Rust's behaviour, kept on purpose (tests/ref/decode_ref.mjs records it):
 * the first token loses EVERY replacement character (not only a leading
 * one) unless prepend_scheme is "never".  The loader checks the fields as
 * Rust's deserializer does (a legacy add_prefix_space false needs "never").
 */
#include "dec_common.h"

#include <stdio.h>
#include <string.h>

extern const ak_decoder_kind ak_dec_metaspace;

typedef struct dec_metaspace {
    ak_decoder base;
    uint32_t rep;        /* the replacement character                        */
    bool drop_first;     /* prepend_scheme != "never": token 0 loses them    */
} dec_metaspace;

static akidb_status ms_map(const ak_decoder *d, const ak_strs *toks, size_t t, ak_dbuf *out)
{
    const dec_metaspace *ms = (const dec_metaspace *)d;
    const char *s = toks->v[t];
    size_t n = toks->len[t];
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < n && st == AKIDB_OK;) {
        size_t k = ak_dec_u8_len(s + i, n - i);
        if (ak_dec_u8_cp(s + i, k) != ms->rep)
            st = ak_dbuf_put(out, s + i, k);
        else if (!(t == 0 && ms->drop_first))
            st = ak_dbuf_put(out, " ", 1);
        i += k;
    }
    return st;
}

static akidb_status ms_decode(const ak_decoder *d, ak_strs *toks)
{
    return ak_dec_map(d, toks, ms_map);
}

/* prepend_scheme and the legacy add_prefix_space, checked together. */
static akidb_status ms_scheme(const json_t *j, const ak_tok_load *ld, const char **scheme)
{
    akidb_status st = ak_tj_str(j, "prepend_scheme", "always", scheme, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    if (strcmp(*scheme, "always") != 0 && strcmp(*scheme, "first") != 0 &&
        strcmp(*scheme, "never") != 0)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: %sprepend_scheme: '%.40s' is not one of always, first, never",
                       ld->origin, ld->path, *scheme);
    const json_t *aps = json_object_get(j, "add_prefix_space");
    if (aps && !json_is_null(aps) && !json_is_boolean(aps)) {
        char f[192];
        snprintf(f, sizeof f, "%sadd_prefix_space", ld->path);
        return ak_tj_bad_type(ld->origin, f, "a boolean", aps);
    }
    if (json_is_false(aps) && strcmp(*scheme, "never") != 0)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: %sadd_prefix_space: false does not match prepend_scheme '%s'",
                       ld->origin, ld->path, *scheme);
    return AKIDB_OK;
}

static akidb_status ms_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    uint32_t rep;
    const char *scheme;
    bool split;
    akidb_status st;
    if ((st = ak_dec_need_object(j, ld)) || (st = ak_dec_req_char(j, "replacement", ld, &rep)) ||
        (st = ms_scheme(j, ld, &scheme)) ||
        (st = ak_tj_bool(j, "split", true, &split, ld->origin, ld->path)))
        return st;
    (void)split;   /* pre-tokenizing only */
    dec_metaspace *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_dec_oom();
    d->base.kind = &ak_dec_metaspace;
    d->rep = rep;
    d->drop_first = strcmp(scheme, "never") != 0;
    *out = &d->base;
    return AKIDB_OK;
}

const ak_decoder_kind ak_dec_metaspace = {"Metaspace", ms_from_json, ms_decode,
                                          ak_dec_plain_free};
