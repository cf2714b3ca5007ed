/*
 * norm_precompiled.c - the "Precompiled" normalizer of tokenizer.json: the
 * character map compiled into a sentencepiece model (nmt_nfkc and friends),
 * carried base64-encoded in "precompiled_charsmap", applied with the
 * semantics of Hugging Face tokenizers (Rust), which differ from
 * sentencepiece's own:
 *
 *   - the text is cut into extended grapheme clusters; a cluster shorter
 *     than 6 UTF-8 bytes is looked up whole, and if ANY prefix of it is a key
 *     the SHORTEST such prefix's replacement stands for the whole cluster
 *     (so "Ａ" + U+0301 becomes "A": the accent is lost, as in Rust);
 *   - otherwise each character is looked up on its own (again the shortest
 *     matching prefix of that one character) and kept when it has no entry.
 *
 * The blob is sentencepiece's: a little-endian u32 byte size of the trie,
 * the trie as a darts-clone double array of u32 units, then the pool of
 * NUL-terminated replacement strings.  A unit holds a label (low byte, bit 31
 * set on leaf units so they never match a byte), a has-leaf flag (bit 8) and
 * an offset to its children (bits 10.., shifted left by 8 more when bit 9 is
 * set); a leaf unit's low 31 bits are a byte offset into the pool.
 *
 * Every state a lookup can reach is walked once at load, so a truncated or
 * corrupt charsmap is refused there (EFORMAT naming the field) and no lookup
 * can read outside the array or the pool later.
 */
#include "tok_offsets.h"
#include "tok_parts.h"
#include "unicode.h"

#include <stdio.h>
#include <string.h>

extern const ak_norm_kind ak_norm_precompiled;

typedef struct precompiled {
    ak_normalizer base;
    uint32_t *units;
    size_t n_units;
    char *pool;                 /* replacement strings (valid UTF-8)          */
    size_t pool_len;
    int32_t ascii[128];         /* pool offset of a lone ASCII char, or -1     */
} precompiled;

static inline bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
static inline uint32_t unit_label(uint32_t u) { return u & 0x800000FFu; }
static inline size_t unit_offset(uint32_t u)
{
    return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6);
}

/* Pool offset of the replacement of the shortest key that prefixes s[0..n),
 * or -1.  A NUL byte ends the key, as in Rust. */
static int64_t pc_lookup(const precompiled *p, const unsigned char *s, size_t n)
{
    const uint32_t *a = p->units;
    size_t pos = unit_offset(a[0]);
    for (size_t i = 0; i < n && s[i]; i++) {
        pos ^= s[i];
        uint32_t u = a[pos];
        if (unit_label(u) != s[i])
            return -1;
        pos ^= unit_offset(u);
        if (unit_has_leaf(u))
            return unit_value(a[pos]);
    }
    return -1;
}

/* ---- loading --------------------------------------------------------------- */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with canonical padding and zero trailing bits (the rules of
 * the Rust base64 crate's STANDARD engine).  *out is ak_malloc'ed. */
static akidb_status b64_decode(const char *s, size_t n, unsigned char **out, size_t *len,
                               const char *origin, const char *field)
{
    *out = NULL;
    if (n % 4 != 0)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: base64 length %zu is not a multiple of 4",
                       origin, field, n);
    unsigned char *d = ak_malloc(n / 4 * 3 + 1);
    if (!d)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    size_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            bool last = i + 4 == n;
            if (c == '=' && last && j >= 2 && (j == 3 || s[i + 3] == '=')) {
                v[j] = 0;
                pad++;
                continue;
            }
            if ((v[j] = b64_val(c)) < 0 || pad) {
                ak_free(d);
                return ak_fail(AKIDB_EFORMAT, "%s: %s: invalid base64 at byte %zu", origin,
                               field, i + (size_t)j);
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        if ((pad == 1 && (x & 0xFF)) || (pad == 2 && (x & 0xFFFF))) {
            ak_free(d);
            return ak_fail(AKIDB_EFORMAT, "%s: %s: invalid base64 (non-zero trailing bits)",
                           origin, field);
        }
        d[k++] = (unsigned char)(x >> 16);
        if (pad < 2) d[k++] = (unsigned char)(x >> 8);
        if (pad < 1) d[k++] = (unsigned char)x;
    }
    *out = d;
    *len = k;
    return AKIDB_OK;
}

/* Checks one leaf: its pool offset starts a character of the pool. */
static bool leaf_ok(const precompiled *p, uint32_t u)
{
    size_t v = unit_value(u);
    return v <= p->pool_len &&
           (v == p->pool_len || ((unsigned char)p->pool[v] & 0xC0) != 0x80);
}

/* Walks every state a lookup can reach (a state is the array position after
 * following a unit's offset) and checks that each probe stays inside the
 * array and each leaf points into the pool. */
static akidb_status pc_validate(const precompiled *p, const char *origin, const char *field)
{
    const size_t n = p->n_units;
    uint8_t *seen = ak_calloc(n / 8 + 1, 1);
    uint32_t *stack = ak_malloc(n * sizeof *stack);
    akidb_status st = AKIDB_OK;
    if (!seen || !stack) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
        goto done;
    }
    size_t top = 0, s0 = unit_offset(p->units[0]);
    if ((s0 | 0xFF) >= n)
        goto corrupt;
    seen[s0 / 8] |= (uint8_t)(1u << (s0 % 8));
    stack[top++] = (uint32_t)s0;
    while (top) {
        size_t s = stack[--top];
        for (unsigned c = 1; c < 256; c++) {
            uint32_t u = p->units[s ^ c];
            if (unit_label(u) != c)
                continue;
            size_t s2 = (s ^ c) ^ unit_offset(u);
            if ((s2 | 0xFF) >= n)
                goto corrupt;
            if (unit_has_leaf(u) && !leaf_ok(p, p->units[s2]))
                goto corrupt;
            if (!(seen[s2 / 8] & (1u << (s2 % 8)))) {
                seen[s2 / 8] |= (uint8_t)(1u << (s2 % 8));
                stack[top++] = (uint32_t)s2;
            }
        }
    }
    goto done;
corrupt:
    st = ak_fail(AKIDB_EFORMAT, "%s: %s: corrupt charsmap (the trie points outside itself "
                 "or its string pool)", origin, field);
done:
    ak_free(seen);
    ak_free(stack);
    return st;
}

/* Splits a decoded charsmap blob into the trie units and the string pool. */
static akidb_status pc_parse(precompiled *p, const unsigned char *b, size_t len,
                             const char *origin, const char *field)
{
    if (len < 4)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: charsmap of %zu bytes is truncated", origin,
                       field, len);
    uint32_t size = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                    (uint32_t)b[3] << 24;
    if (size % 4 != 0 || size == 0)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: charsmap trie size %u is not a positive "
                       "multiple of 4", origin, field, size);
    if (size > len - 4)
        return ak_fail(AKIDB_EFORMAT, "%s: %s: charsmap is truncated (trie of %u bytes, "
                       "%zu bytes left)", origin, field, size, len - 4);
    p->n_units = size / 4;
    p->pool_len = len - 4 - size;
    p->units = ak_malloc(p->n_units * sizeof *p->units);
    p->pool = ak_malloc(p->pool_len + 1);
    if (!p->units || !p->pool)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", origin);
    for (size_t i = 0; i < p->n_units; i++) {
        const unsigned char *q = b + 4 + 4 * i;
        p->units[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                      (uint32_t)q[3] << 24;
    }
    memcpy(p->pool, b + 4 + size, p->pool_len);
    p->pool[p->pool_len] = '\0';
    size_t bad = 0;
    if (!ak_utf8_valid(p->pool, p->pool_len, &bad))
        return ak_fail(AKIDB_EFORMAT, "%s: %s: charsmap strings are not UTF-8 (byte %zu)",
                       origin, field, bad);
    akidb_status st = pc_validate(p, origin, field);
    if (st != AKIDB_OK)
        return st;
    for (unsigned c = 0; c < 128; c++) {
        unsigned char ch = (unsigned char)c;
        p->ascii[c] = (int32_t)pc_lookup(p, &ch, 1);
    }
    return AKIDB_OK;
}

static void pc_free(ak_normalizer *nz)
{
    if (!nz)
        return;
    precompiled *p = (precompiled *)nz;
    ak_free(p->units);
    ak_free(p->pool);
    ak_free(p);
}

static akidb_status pc_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    char field[192];
    snprintf(field, sizeof field, "%sprecompiled_charsmap", ld->path ? ld->path : "");
    *out = NULL;
    const json_t *v = json_object_get(j, "precompiled_charsmap");
    if (!json_is_string(v))
        return ak_tj_bad_type(ld->origin, field, "a base64 string", v);
    precompiled *p = ak_calloc(1, sizeof *p);
    if (!p)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", ld->origin);
    p->base.kind = &ak_norm_precompiled;
    unsigned char *blob = NULL;
    size_t len = 0;
    akidb_status st = b64_decode(json_string_value(v), json_string_length(v), &blob, &len,
                                 ld->origin, field);
    if (st == AKIDB_OK) {
        st = pc_parse(p, blob, len, ld->origin, field);
        ak_free(blob);
    }
    if (st != AKIDB_OK) {
        pc_free(&p->base);
        return st;
    }
    *out = &p->base;
    return AKIDB_OK;
}

/* ---- applying -------------------------------------------------------------- */

/* Appends the pool string at off (up to its NUL) as code points. */
static akidb_status put_pool(const precompiled *p, size_t off, ak_cpbuf *out)
{
    const char *s = p->pool + off;
    size_t n = strlen(s);                   /* the pool is NUL-terminated       */
    akidb_status st = ak_cpbuf_reserve(out, n);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        i += (size_t)ak_utf8_decode((const unsigned char *)s + i, &cp);
        out->v[out->n++] = cp;
    }
    return AKIDB_OK;
}

/* One character on its own: its replacement, or itself. */
static akidb_status put_char(const precompiled *p, uint32_t c, ak_cpbuf *out)
{
    int64_t v;
    if (c < 128) {
        v = p->ascii[c];
    } else {
        unsigned char b[4];
        int k = ak_utf8_encode(c, (char *)b);
        v = pc_lookup(p, b, (size_t)k);
    }
    if (v >= 0)
        return put_pool(p, (size_t)v, out);
    return ak_cpbuf_push(out, &c, 1);
}

static akidb_status pc_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                             ak_tok_scratch *scr, ak_cpbuf *out)
{
    const precompiled *p = (const precompiled *)nz;
    akidb_status st = ak_cpbuf_reserve(out, n);
    (void)scr;
    for (size_t i = 0; i < n && st == AKIDB_OK;) {
        size_t j = aku_grapheme_end(in, n, i);
        if (j > i + 1) {
            /* a cluster under 6 UTF-8 bytes is looked up whole first */
            unsigned char b[12];
            size_t k = 0;
            for (size_t q = i; q < j && k < 6; q++)
                k += (size_t)ak_utf8_encode(in[q], (char *)b + k);
            int64_t v = k < 6 ? pc_lookup(p, b, k) : -1;
            if (v >= 0) {
                st = put_pool(p, (size_t)v, out);
                i = j;
                continue;
            }
        }
        for (; i < j && st == AKIDB_OK; i++)
            st = put_char(p, in[i], out);
    }
    return st;
}

/* Offsets (tok_offsets.h): Rust's changes for one replaced part of `old`
 * characters that became out->v[from..out->n): the first ones replace
 * characters one for one, extra ones are insertions, and a shorter
 * replacement makes the last change recorded so far (which may belong to an
 * earlier part) remove the characters left over. */
static akidb_status part_changes(ak_idbuf *chg, size_t old, size_t from, const ak_cpbuf *out)
{
    size_t neu = out->n - from;
    akidb_status st = ak_idbuf_reserve(chg, neu);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < neu; i++)
        chg->v[chg->n++] = i < old ? 0 : 1;
    if (neu < old && chg->n)
        chg->v[chg->n - 1] -= (int32_t)(old - neu);
    return AKIDB_OK;
}

akidb_status ak_norm_precompiled_changes(const ak_normalizer *nz, const uint32_t *in,
                                         size_t n, ak_cpbuf *out, ak_idbuf *chg)
{
    const precompiled *p = (const precompiled *)nz;
    akidb_status st = ak_cpbuf_reserve(out, n);
    for (size_t i = 0; i < n && st == AKIDB_OK;) {
        size_t j = aku_grapheme_end(in, n, i);
        if (j > i + 1) {
            unsigned char b[12];
            size_t k = 0;
            for (size_t q = i; q < j && k < 6; q++)
                k += (size_t)ak_utf8_encode(in[q], (char *)b + k);
            int64_t v = k < 6 ? pc_lookup(p, b, k) : -1;
            if (v >= 0) {
                size_t from = out->n;
                if ((st = put_pool(p, (size_t)v, out)) == AKIDB_OK)
                    st = part_changes(chg, j - i, from, out);
                i = j;
                continue;
            }
        }
        for (; i < j && st == AKIDB_OK; i++) {
            size_t from = out->n;
            if ((st = put_char(p, in[i], out)) == AKIDB_OK)
                st = part_changes(chg, 1, from, out);
        }
    }
    return st;
}

const ak_norm_kind ak_norm_precompiled = {
    .type = "Precompiled",
    .from_json = pc_from_json,
    .apply = pc_apply,
    .free = pc_free,
    .per_char = false,
};
