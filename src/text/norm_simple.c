/*
 * norm_simple.c - the small normalizers of tokenizer.json, as Hugging Face
 * tokenizers (Rust) defines them:
 *   Lowercase     each code point lowercased alone (char::to_lowercase: no
 *                 final-sigma context; U+0130 gives two code points);
 *   Strip         trims White_Space (char::is_whitespace) on the left and/or
 *                 right; "strip_left" and "strip_right" are both required;
 *   StripAccents  drops every combining mark, General_Category M (Mn, Mc,
 *                 Me) as assigned in Unicode 9.0 (the is_combining_mark of the
 *                 normalisation crate), so the text should be NFD/NFKD first;
 *   Prepend       puts "prepend" before the text, only when the text is not
 *                 empty.
 * Lowercase and StripAccents work character by character (per_char); Strip
 * and Prepend look at the ends of the whole text, which cutting it would move.
 */
#include "tok_parts.h"
#include "unicode.h"

#include <stdio.h>

extern const ak_norm_kind ak_norm_lowercase, ak_norm_strip_accents, ak_norm_strip,
    ak_norm_prepend;

/* Shared option-less objects for Lowercase and StripAccents. */
static ak_normalizer lower_obj = {&ak_norm_lowercase};
static ak_normalizer accents_obj = {&ak_norm_strip_accents};

static void shared_free(ak_normalizer *nz)
{
    (void)nz;
}

/* ---- Lowercase ----------------------------------------------------------- */

static akidb_status lower_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    (void)j, (void)ld;
    *out = &lower_obj;
    return AKIDB_OK;
}

static akidb_status lower_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                                ak_tok_scratch *scr, ak_cpbuf *out)
{
    (void)nz, (void)scr;
    akidb_status st = ak_cpbuf_reserve(out, n);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0x80) {
            out->v[out->n++] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
            continue;
        }
        /* A lowercase mapping may be longer than one code point. */
        if (out->cap - out->n < AKU_LOWER_MAX + (n - i) &&
            (st = ak_cpbuf_reserve(out, AKU_LOWER_MAX + (n - i))) != AKIDB_OK)
            return st;
        out->n += (size_t)aku_lower(c, out->v + out->n);
    }
    return AKIDB_OK;
}

const ak_norm_kind ak_norm_lowercase = {"Lowercase", lower_from_json, lower_apply,
                                        shared_free, true};

/* ---- StripAccents -------------------------------------------------------- */

static akidb_status accents_from_json(const json_t *j, const ak_tok_load *ld,
                                      ak_normalizer **out)
{
    (void)j, (void)ld;
    *out = &accents_obj;
    return AKIDB_OK;
}

static akidb_status accents_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                                  ak_tok_scratch *scr, ak_cpbuf *out)
{
    (void)nz, (void)scr;
    akidb_status st = ak_cpbuf_reserve(out, n);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (in[i] < 0x300 || !(aku_flags(in[i]) & AKU_MARK))
            out->v[out->n++] = in[i];
    return AKIDB_OK;
}

const ak_norm_kind ak_norm_strip_accents = {"StripAccents", accents_from_json, accents_apply,
                                            shared_free, true};

/* ---- Strip --------------------------------------------------------------- */

typedef struct strip_norm {
    ak_normalizer base;
    bool left, right;
} strip_norm;

/* A required boolean field (Rust's Strip has no defaults). */
static akidb_status req_bool(const json_t *j, const char *key, bool *out, const ak_tok_load *ld)
{
    const json_t *v = json_is_object(j) ? json_object_get(j, key) : NULL;
    if (!v || !json_is_boolean(v)) {
        char f[192];
        snprintf(f, sizeof f, "%s%s", ld->path ? ld->path : "", key);
        return ak_tj_bad_type(ld->origin, f, "a boolean", v);
    }
    *out = json_is_true(v);
    return AKIDB_OK;
}

static akidb_status strip_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    bool left = false, right = false;
    akidb_status st;
    if ((st = req_bool(j, "strip_left", &left, ld)) != AKIDB_OK ||
        (st = req_bool(j, "strip_right", &right, ld)) != AKIDB_OK)
        return st;
    strip_norm *s = ak_calloc(1, sizeof *s);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", ld->origin);
    *s = (strip_norm){{&ak_norm_strip}, left, right};
    *out = &s->base;
    return AKIDB_OK;
}

static akidb_status strip_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                                ak_tok_scratch *scr, ak_cpbuf *out)
{
    (void)scr;
    const strip_norm *s = (const strip_norm *)nz;
    size_t a = 0, b = n;
    if (s->left)
        while (a < b && (aku_flags(in[a]) & AKU_WSPACE))
            a++;
    if (s->right)
        while (b > a && (aku_flags(in[b - 1]) & AKU_WSPACE))
            b--;
    return ak_cpbuf_push(out, in + a, b - a);
}

static void owned_free(ak_normalizer *nz)
{
    ak_free(nz);
}

const ak_norm_kind ak_norm_strip = {"Strip", strip_from_json, strip_apply, owned_free, false};

/* ---- Prepend ------------------------------------------------------------- */

typedef struct prepend_norm {
    ak_normalizer base;
    size_t n;
    uint32_t cps[];      /* the "prepend" string as code points */
} prepend_norm;

static akidb_status prepend_from_json(const json_t *j, const ak_tok_load *ld,
                                      ak_normalizer **out)
{
    const json_t *v = json_is_object(j) ? json_object_get(j, "prepend") : NULL;
    if (!v || !json_is_string(v)) {
        char f[192];
        snprintf(f, sizeof f, "%sprepend", ld->path ? ld->path : "");
        return ak_tj_bad_type(ld->origin, f, "a string", v);
    }
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v), bytes;
    if (!ak_utf8_valid((const char *)s, len, NULL))
        return ak_fail(AKIDB_EFORMAT, "%s: %sprepend: invalid UTF-8", ld->origin,
                       ld->path ? ld->path : "");
    if (ak_mul_overflow(len, sizeof(uint32_t), &bytes) || bytes > SIZE_MAX - sizeof(prepend_norm))
        return ak_fail(AKIDB_ENOMEM, "%s: %sprepend is too long", ld->origin,
                       ld->path ? ld->path : "");
    prepend_norm *p = ak_calloc(1, sizeof *p + bytes);
    if (!p)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", ld->origin);
    p->base.kind = &ak_norm_prepend;
    for (size_t i = 0; i < len;)
        i += (size_t)ak_utf8_decode(s + i, &p->cps[p->n++]);
    *out = &p->base;
    return AKIDB_OK;
}

static akidb_status prepend_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                                  ak_tok_scratch *scr, ak_cpbuf *out)
{
    (void)scr;
    const prepend_norm *p = (const prepend_norm *)nz;
    akidb_status st;
    if (n && (st = ak_cpbuf_push(out, p->cps, p->n)) != AKIDB_OK)
        return st;
    return ak_cpbuf_push(out, in, n);
}

const ak_norm_kind ak_norm_prepend = {"Prepend", prepend_from_json, prepend_apply, owned_free,
                                      false};
