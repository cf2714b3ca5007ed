/*
 * decoders.c - the decoders of Hugging Face tokenizers (Rust), which turn the
 * token strings of decoded ids back into text: ByteLevel, Metaspace,
 * WordPiece, ByteFallback, Fuse, Strip, Replace, BPEDecoder and CTC.
 *
 * Each kind's decode is Rust's decode_chain: it rewrites the token list,
 * possibly merging entries (ByteLevel, Fuse and CTC return fewer, ByteFallback
 * joins runs of <0xNN> tokens).  The tokenizer joins the final list.  Sequence
 * is flattened by the loader into the kinds below, applied in order.
 *
 * Rust behaviours kept on purpose (tests/ref/decode_ref.mjs records them from
 * the Rust library itself):
 *   - str::replace with an empty pattern inserts the replacement at every
 *     character boundary, both ends included ("ab" -> "XaXbX");
 *   - Replace turns an empty token into an empty string even for an empty
 *     pattern (its find_matches reports no match in "");
 *   - Metaspace drops EVERY replacement character of the first token (not
 *     only a leading one) unless prepend_scheme is "never";
 *   - ByteLevel maps a token byte by byte only when all its characters are in
 *     the GPT-2 byte alphabet, otherwise keeps its UTF-8 as is, then decodes
 *     the whole byte string with from_utf8_lossy (one U+FFFD per maximal
 *     invalid subpart) into ONE token, even for an empty list;
 *   - ByteFallback turns a run of <0xNN> tokens that is not valid UTF-8 into
 *     one U+FFFD token PER BYTE; NN is parsed as u8::from_str_radix, which
 *     also takes "+F";
 *   - Strip panics in Rust when the cuts overlap (a token made only of
 *     `content`, shorter than start + stop); here it gives "".
 * A Regex pattern of Replace goes through regex.h (Oniguruma's semantics on
 * PCRE2).  Tokens are C strings: a decoded U+0000 ends its token.
 */
#include "tok_parts.h"
#include "regex.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

extern const ak_decoder_kind ak_dec_bytelevel, ak_dec_metaspace, ak_dec_wordpiece,
    ak_dec_byte_fallback, ak_dec_fuse, ak_dec_strip, ak_dec_replace, ak_dec_bpe, ak_dec_ctc;

static akidb_status oom(void)
{
    return ak_fail(AKIDB_ENOMEM, "out of memory decoding tokens");
}

/* ---- token lists ----------------------------------------------------------- */

akidb_status ak_strs_push(ak_strs *s, const char *str, size_t len)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16, bytes;
        if (ak_mul_overflow(nc, sizeof *s->v, &bytes))
            return oom();
        char **nv = ak_realloc(s->v, bytes);
        if (!nv)
            return oom();
        s->v = nv;
        s->cap = nc;
    }
    char *copy = ak_strndup(str, len);
    if (!copy)
        return oom();
    s->v[s->n++] = copy;
    return AKIDB_OK;
}

void ak_strs_free(ak_strs *s)
{
    for (size_t i = 0; i < s->n; i++)
        ak_free(s->v[i]);
    ak_free(s->v);
    memset(s, 0, sizeof *s);
}

/* Replaces *toks by *out (the new list), freeing the old one. */
static void strs_move(ak_strs *toks, ak_strs *out)
{
    ak_strs_free(toks);
    *toks = *out;
    memset(out, 0, sizeof *out);
}

/* ---- a growable byte string ------------------------------------------------ */

typedef struct sbuf {
    char *v;
    size_t n, cap;
} sbuf;

static akidb_status sb_put(sbuf *b, const char *s, size_t n)
{
    if (n >= b->cap - b->n || !b->v) {
        if (n > SIZE_MAX / 2 - b->n)
            return oom();
        size_t nc = b->cap ? b->cap : 64;
        while (nc - b->n <= n)
            nc *= 2;
        char *nv = ak_realloc(b->v, nc);
        if (!nv)
            return oom();
        b->v = nv;
        b->cap = nc;
    }
    if (n)
        memcpy(b->v + b->n, s, n);
    b->n += n;
    b->v[b->n] = 0;
    return AKIDB_OK;
}

/* Makes the buffer hold "" (allocated), keeping its memory. */
static akidb_status sb_reset(sbuf *b)
{
    b->n = 0;
    return sb_put(b, "", 0);
}

static void sb_free(sbuf *b)
{
    ak_free(b->v);
    memset(b, 0, sizeof *b);
}

/* Length in bytes of the UTF-8 character at s[0] (s[0..n), n >= 1); a byte
 * that does not start a complete character counts as one. */
static size_t u8_len(const char *s, size_t n)
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

/* Code point of the character s[0..k) measured by u8_len (a lone byte gives
 * a value above U+10FFFF, equal to no real character). */
static uint32_t u8_cp(const char *s, size_t k)
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

/* Appends s[0..n) with every occurrence of pat replaced by rep, as Rust's
 * str::replace (leftmost, non-overlapping; an empty pat matches at every
 * character boundary, both ends included). */
static akidb_status rust_replace(sbuf *out, const char *s, size_t n, const char *pat,
                                 const char *rep)
{
    size_t pn = strlen(pat), rn = strlen(rep);
    akidb_status st = AKIDB_OK;
    if (pn == 0) {
        st = sb_put(out, rep, rn);
        for (size_t i = 0; i < n && st == AKIDB_OK;) {
            size_t k = u8_len(s + i, n - i);
            if ((st = sb_put(out, s + i, k)) == AKIDB_OK)
                st = sb_put(out, rep, rn);
            i += k;
        }
        return st;
    }
    size_t i = 0, from = 0;
    while (i + pn <= n && st == AKIDB_OK) {
        if (memcmp(s + i, pat, pn) == 0) {
            if ((st = sb_put(out, s + from, i - from)) == AKIDB_OK)
                st = sb_put(out, rep, rn);
            i += pn;
            from = i;
        } else {
            i++;
        }
    }
    return st == AKIDB_OK ? sb_put(out, s + from, n - from) : st;
}

/* Rewrites every token of *toks through fn (which appends the new text of
 * token i to out, an emptied buffer). */
typedef akidb_status (*map_fn)(const ak_decoder *d, const ak_strs *toks, size_t i, sbuf *out);

static akidb_status map_tokens(const ak_decoder *d, ak_strs *toks, map_fn fn)
{
    sbuf b = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++) {
        if ((st = sb_reset(&b)) == AKIDB_OK && (st = fn(d, toks, i, &b)) == AKIDB_OK) {
            char *copy = ak_strndup(b.v, b.n);
            if (!copy) {
                st = oom();
                break;
            }
            ak_free(toks->v[i]);
            toks->v[i] = copy;
        }
    }
    sb_free(&b);
    return st;
}

/* ---- JSON fields shared by the kinds ------------------------------------- */

static akidb_status need_object(const json_t *j, const ak_tok_load *ld)
{
    if (json_is_object(j))
        return AKIDB_OK;
    char f[160];
    snprintf(f, sizeof f, "%.*s", (int)(strlen(ld->path) ? strlen(ld->path) - 1 : 0),
             ld->path);
    return ak_tj_bad_type(ld->origin, f[0] ? f : "decoder", "an object", j);
}

static akidb_status missing(const ak_tok_load *ld, const char *key)
{
    return ak_fail(AKIDB_EFORMAT, "%s: %s%s: missing (the Rust library requires it)",
                   ld->origin, ld->path, key);
}

/* A required string field, copied into *out (ak_free it). */
static akidb_status req_str(const json_t *j, const char *key, const ak_tok_load *ld,
                            char **out)
{
    const char *s;
    akidb_status st = ak_tj_str(j, key, NULL, &s, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    if (!s)
        return missing(ld, key);
    if (!(*out = ak_strdup(s)))
        return oom();
    return AKIDB_OK;
}

static akidb_status req_bool(const json_t *j, const char *key, const ak_tok_load *ld,
                             bool *out)
{
    if (!json_object_get(j, key) || json_is_null(json_object_get(j, key)))
        return missing(ld, key);
    return ak_tj_bool(j, key, false, out, ld->origin, ld->path);
}

/* A required field holding exactly one character (Rust's char): its UTF-8 in
 * utf8[0..*len) and its code point in *cp. */
static akidb_status req_char(const json_t *j, const char *key, const ak_tok_load *ld,
                             uint32_t *cp, char utf8[5], size_t *len)
{
    const char *s;
    akidb_status st = ak_tj_str(j, key, NULL, &s, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    if (!s)
        return missing(ld, key);
    size_t n = strlen(s), k = n ? u8_len(s, n) : 0;
    if (n == 0 || k != n)
        return ak_fail(AKIDB_EFORMAT, "%s: %s%s: expected exactly one character, found \"%.40s\"",
                       ld->origin, ld->path, key, s);
    *cp = u8_cp(s, k);
    memcpy(utf8, s, k);
    utf8[k] = 0;
    *len = k;
    return AKIDB_OK;
}

/* ---- ByteLevel -------------------------------------------------------------- */

/* The GPT-2 byte alphabet maps every byte to a printable code point below
 * U+0144; BL_CPS is one past the largest. */
#define BL_CPS 0x144

typedef struct dec_bytelevel {
    ak_decoder base;
    int16_t byte_of[BL_CPS];   /* code point -> byte, -1 outside the alphabet */
} dec_bytelevel;

static void bl_table(int16_t byte_of[BL_CPS])
{
    for (int c = 0; c < BL_CPS; c++)
        byte_of[c] = -1;
    uint32_t extra = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t cp = printable ? (uint32_t)b : 256 + extra++;
        byte_of[cp] = (int16_t)b;
    }
}

/* Appends bytes[0..n) decoded as Rust's String::from_utf8_lossy: each
 * maximal ill-formed subpart becomes one U+FFFD. */
static akidb_status utf8_lossy(sbuf *out, const unsigned char *s, size_t n)
{
    static const char FFFD[] = "\xEF\xBF\xBD";
    akidb_status st = AKIDB_OK;
    size_t i = 0;
    while (i < n && st == AKIDB_OK) {
        unsigned c = s[i];
        size_t w = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                                : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
        size_t ok = 1;   /* bytes of a valid prefix of the sequence */
        if (w >= 2 && i + 1 < n) {
            unsigned d = s[i + 1];
            unsigned lo = 0x80, hi = 0xBF;
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
            else if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
            if (d >= lo && d <= hi) {
                ok = 2;
                while (ok < w && i + ok < n && (s[i + ok] & 0xC0) == 0x80)
                    ok++;
            }
        }
        if (w == 1 || (w >= 2 && ok == w))
            st = sb_put(out, (const char *)s + i, w);
        else
            st = sb_put(out, FFFD, 3);
        i += w == 1 ? 1 : w >= 2 && ok == w ? w : ok;
    }
    return st;
}

static akidb_status bl_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_bytelevel *bl = (const dec_bytelevel *)d;
    sbuf bytes = {0}, text = {0};
    ak_strs out = {0};
    akidb_status st = sb_reset(&bytes);
    for (size_t t = 0; t < toks->n && st == AKIDB_OK; t++) {
        const char *s = toks->v[t];
        size_t n = strlen(s), start = bytes.n;
        for (size_t i = 0; i < n && st == AKIDB_OK;) {
            size_t k = u8_len(s + i, n - i);
            uint32_t cp = u8_cp(s + i, k);
            if (cp >= BL_CPS || bl->byte_of[cp] < 0) {   /* not all mapped: raw UTF-8 */
                bytes.n = start;
                st = sb_put(&bytes, s, n);
                break;
            }
            char b = (char)bl->byte_of[cp];
            st = sb_put(&bytes, &b, 1);
            i += k;
        }
    }
    if (st == AKIDB_OK && (st = sb_reset(&text)) == AKIDB_OK &&
        (st = utf8_lossy(&text, (const unsigned char *)bytes.v, bytes.n)) == AKIDB_OK &&
        (st = ak_strs_push(&out, text.v, text.n)) == AKIDB_OK)
        strs_move(toks, &out);
    ak_strs_free(&out);
    sb_free(&bytes);
    sb_free(&text);
    return st;
}

static akidb_status bl_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    bool aps, trim, regex;
    akidb_status st;
    if ((st = need_object(j, ld)) || (st = req_bool(j, "add_prefix_space", ld, &aps)) ||
        (st = req_bool(j, "trim_offsets", ld, &trim)) ||
        (st = ak_tj_bool(j, "use_regex", true, &regex, ld->origin, ld->path)))
        return st;
    (void)aps;   /* offsets and pre-tokenizing only: decoding ignores them */
    (void)trim;
    (void)regex;
    dec_bytelevel *d = ak_calloc(1, sizeof *d);
    if (!d)
        return oom();
    d->base.kind = &ak_dec_bytelevel;
    bl_table(d->byte_of);
    *out = &d->base;
    return AKIDB_OK;
}

/* ---- ByteFallback ------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xNN>" token (u8::from_str_radix(NN, 16): two hex digits,
 * or '+' and one), or -1. */
static int fallback_byte(const char *s)
{
    if (strlen(s) != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int a = hexval(s[3]), b = hexval(s[4]);
    if (s[3] == '+')
        return b;
    return a < 0 || b < 0 ? -1 : a * 16 + b;
}

/* Pushes a run of fallback bytes: their text when valid UTF-8, else one
 * U+FFFD token per byte. */
static akidb_status bf_flush(ak_strs *out, sbuf *run)
{
    akidb_status st = AKIDB_OK;
    if (run->n == 0)
        return st;
    if (ak_utf8_valid(run->v, run->n, NULL))
        st = ak_strs_push(out, run->v, run->n);
    else
        for (size_t i = 0; i < run->n && st == AKIDB_OK; i++)
            st = ak_strs_push(out, "\xEF\xBF\xBD", 3);
    run->n = 0;
    return st;
}

static akidb_status bf_decode(const ak_decoder *d, ak_strs *toks)
{
    (void)d;
    ak_strs out = {0};
    sbuf run = {0};
    akidb_status st = sb_reset(&run);
    for (size_t t = 0; t < toks->n && st == AKIDB_OK; t++) {
        int b = fallback_byte(toks->v[t]);
        if (b >= 0) {
            char c = (char)b;
            st = sb_put(&run, &c, 1);
        } else if ((st = bf_flush(&out, &run)) == AKIDB_OK) {
            st = ak_strs_push(&out, toks->v[t], strlen(toks->v[t]));
        }
    }
    if (st == AKIDB_OK && (st = bf_flush(&out, &run)) == AKIDB_OK)
        strs_move(toks, &out);
    ak_strs_free(&out);
    sb_free(&run);
    return st;
}

/* ---- stateless kinds: ByteFallback and Fuse ---------------------------------- */

static akidb_status fuse_decode(const ak_decoder *d, ak_strs *toks)
{
    (void)d;
    sbuf all = {0};
    ak_strs out = {0};
    akidb_status st = sb_reset(&all);
    for (size_t t = 0; t < toks->n && st == AKIDB_OK; t++)
        st = sb_put(&all, toks->v[t], strlen(toks->v[t]));
    if (st == AKIDB_OK && (st = ak_strs_push(&out, all.v, all.n)) == AKIDB_OK)
        strs_move(toks, &out);
    ak_strs_free(&out);
    sb_free(&all);
    return st;
}

static const ak_decoder ONE_FUSE = {&ak_dec_fuse};
static const ak_decoder ONE_BYTE_FALLBACK = {&ak_dec_byte_fallback};

static akidb_status fuse_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    akidb_status st = need_object(j, ld);
    *out = st == AKIDB_OK ? (ak_decoder *)&ONE_FUSE : NULL;
    return st;
}

static akidb_status bf_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    akidb_status st = need_object(j, ld);
    *out = st == AKIDB_OK ? (ak_decoder *)&ONE_BYTE_FALLBACK : NULL;
    return st;
}

static void static_free(ak_decoder *d)
{
    (void)d;   /* the shared static instance */
}

/* ---- Metaspace --------------------------------------------------------------- */

typedef struct dec_metaspace {
    ak_decoder base;
    uint32_t rep;        /* the replacement character                        */
    bool drop_first;     /* prepend_scheme != "never": token 0 loses them    */
} dec_metaspace;

static akidb_status ms_map(const ak_decoder *d, const ak_strs *toks, size_t t, sbuf *out)
{
    const dec_metaspace *ms = (const dec_metaspace *)d;
    const char *s = toks->v[t];
    size_t n = strlen(s);
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < n && st == AKIDB_OK;) {
        size_t k = u8_len(s + i, n - i);
        if (u8_cp(s + i, k) != ms->rep)
            st = sb_put(out, s + i, k);
        else if (!(t == 0 && ms->drop_first))
            st = sb_put(out, " ", 1);
        i += k;
    }
    return st;
}

static akidb_status ms_decode(const ak_decoder *d, ak_strs *toks)
{
    return map_tokens(d, toks, ms_map);
}

static akidb_status ms_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    uint32_t rep;
    char utf8[5];
    size_t len;
    const char *scheme;
    bool split;
    akidb_status st;
    if ((st = need_object(j, ld)) || (st = req_char(j, "replacement", ld, &rep, utf8, &len)) ||
        (st = ak_tj_str(j, "prepend_scheme", "always", &scheme, ld->origin, ld->path)) ||
        (st = ak_tj_bool(j, "split", true, &split, ld->origin, ld->path)))
        return st;
    (void)split;   /* pre-tokenizing only */
    if (strcmp(scheme, "always") != 0 && strcmp(scheme, "first") != 0 &&
        strcmp(scheme, "never") != 0)
        return ak_fail(AKIDB_EFORMAT,
                       "%s: %sprepend_scheme: '%.40s' is not one of always, first, never",
                       ld->origin, ld->path, scheme);
    const json_t *aps = json_object_get(j, "add_prefix_space");
    if (aps && !json_is_null(aps) && !json_is_boolean(aps)) {
        char f[192];
        snprintf(f, sizeof f, "%sadd_prefix_space", ld->path);
        return ak_tj_bad_type(ld->origin, f, "a boolean", aps);
    }
    if (json_is_false(aps)) {
        if (strcmp(scheme, "never") != 0)
            return ak_fail(AKIDB_EFORMAT,
                           "%s: %sadd_prefix_space: false does not match prepend_scheme '%s'",
                           ld->origin, ld->path, scheme);
    }
    dec_metaspace *d = ak_calloc(1, sizeof *d);
    if (!d)
        return oom();
    d->base.kind = &ak_dec_metaspace;
    d->rep = rep;
    d->drop_first = strcmp(scheme, "never") != 0;
    *out = &d->base;
    return AKIDB_OK;
}

/* ---- WordPiece and CTC --------------------------------------------------------- */

/* Rust's wordpiece::cleanup, the same replacements in the same order. */
static akidb_status wp_cleanup(sbuf *s, sbuf *tmp)
{
    static const char *const R[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
        {" 've", "'ve"}, {" 're", "'re"},
    };
    akidb_status st = AKIDB_OK;
    for (size_t r = 0; r < sizeof R / sizeof R[0] && st == AKIDB_OK; r++) {
        if ((st = sb_reset(tmp)) == AKIDB_OK &&
            (st = rust_replace(tmp, s->v, s->n, R[r][0], R[r][1])) == AKIDB_OK) {
            sbuf x = *s;
            *s = *tmp;
            *tmp = x;
        }
    }
    return st;
}

typedef struct dec_wordpiece {
    ak_decoder base;
    char *prefix;
    bool cleanup;
} dec_wordpiece;

static akidb_status wp_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_wordpiece *wp = (const dec_wordpiece *)d;
    size_t pn = strlen(wp->prefix);
    sbuf b = {0}, tmp = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++) {
        const char *s = toks->v[i];
        if ((st = sb_reset(&b)) != AKIDB_OK)
            break;
        if (i == 0)
            st = sb_put(&b, s, strlen(s));
        else if (strncmp(s, wp->prefix, pn) == 0)
            st = sb_put(&b, s + pn, strlen(s + pn));
        else if ((st = sb_put(&b, " ", 1)) == AKIDB_OK)
            st = sb_put(&b, s, strlen(s));
        if (st == AKIDB_OK && wp->cleanup)
            st = wp_cleanup(&b, &tmp);
        if (st == AKIDB_OK) {
            char *copy = ak_strndup(b.v, b.n);
            if (!copy) {
                st = oom();
                break;
            }
            ak_free(toks->v[i]);
            toks->v[i] = copy;
        }
    }
    sb_free(&b);
    sb_free(&tmp);
    return st;
}

static akidb_status wp_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    char *prefix = NULL;
    bool cleanup;
    akidb_status st;
    if ((st = need_object(j, ld)) || (st = req_str(j, "prefix", ld, &prefix)) ||
        (st = req_bool(j, "cleanup", ld, &cleanup))) {
        ak_free(prefix);
        return st;
    }
    dec_wordpiece *d = ak_calloc(1, sizeof *d);
    if (!d) {
        ak_free(prefix);
        return oom();
    }
    d->base.kind = &ak_dec_wordpiece;
    d->prefix = prefix;
    d->cleanup = cleanup;
    *out = &d->base;
    return AKIDB_OK;
}

static void wp_free(ak_decoder *d)
{
    if (!d)
        return;
    ak_free(((dec_wordpiece *)d)->prefix);
    ak_free(d);
}

typedef struct dec_ctc {
    ak_decoder base;
    char *pad, *delim;
    bool cleanup;
} dec_ctc;

/* Rust: consecutive duplicates collapse; the pad token is deleted; with
 * cleanup, WordPiece's cleanup runs and the word delimiter becomes a space;
 * tokens left empty are dropped. */
static akidb_status ctc_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_ctc *c = (const dec_ctc *)d;
    ak_strs out = {0};
    sbuf a = {0}, b = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++) {
        const char *s = toks->v[i];
        if (i > 0 && strcmp(s, toks->v[i - 1]) == 0)
            continue;
        if ((st = sb_reset(&a)) || (st = rust_replace(&a, s, strlen(s), c->pad, "")))
            break;
        if (c->cleanup) {
            if ((st = wp_cleanup(&a, &b)) || (st = sb_reset(&b)) ||
                (st = rust_replace(&b, a.v, a.n, c->delim, " ")))
                break;
            sbuf x = a;
            a = b;
            b = x;
        }
        if (a.n)
            st = ak_strs_push(&out, a.v, a.n);
    }
    if (st == AKIDB_OK)
        strs_move(toks, &out);
    ak_strs_free(&out);
    sb_free(&a);
    sb_free(&b);
    return st;
}

static akidb_status ctc_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    char *pad = NULL, *delim = NULL;
    bool cleanup = false;
    akidb_status st;
    dec_ctc *d = NULL;
    if ((st = need_object(j, ld)) || (st = req_str(j, "pad_token", ld, &pad)) ||
        (st = req_str(j, "word_delimiter_token", ld, &delim)) ||
        (st = req_bool(j, "cleanup", ld, &cleanup)))
        goto fail;
    if (!(d = ak_calloc(1, sizeof *d))) {
        st = oom();
        goto fail;
    }
    d->base.kind = &ak_dec_ctc;
    d->pad = pad;
    d->delim = delim;
    d->cleanup = cleanup;
    *out = &d->base;
    return AKIDB_OK;
fail:
    ak_free(pad);
    ak_free(delim);
    return st;
}

static void ctc_free(ak_decoder *d)
{
    if (!d)
        return;
    ak_free(((dec_ctc *)d)->pad);
    ak_free(((dec_ctc *)d)->delim);
    ak_free(d);
}

/* ---- BPEDecoder and Replace ------------------------------------------------------- */

typedef struct dec_repl {
    ak_decoder base;
    char *pat, *content;   /* Replace: pattern, content; BPEDecoder: suffix   */
    ak_regex *re;          /* Replace with a Regex pattern                    */
} dec_repl;

static akidb_status bpe_map(const ak_decoder *d, const ak_strs *toks, size_t i, sbuf *out)
{
    const dec_repl *r = (const dec_repl *)d;
    const char *s = toks->v[i];
    return rust_replace(out, s, strlen(s), r->pat, i + 1 == toks->n ? "" : " ");
}

static akidb_status bpe_decode(const ak_decoder *d, ak_strs *toks)
{
    return map_tokens(d, toks, bpe_map);
}

/* A String pattern: Rust runs the escaped string through its regex engine,
 * which finds what str::replace finds, except that an empty token stays
 * empty. */
static akidb_status repl_map(const ak_decoder *d, const ak_strs *toks, size_t i, sbuf *out)
{
    const dec_repl *r = (const dec_repl *)d;
    const char *s = toks->v[i];
    if (!s[0])
        return AKIDB_OK;
    return rust_replace(out, s, strlen(s), r->pat, r->content);
}

/* A Regex pattern: the token's matches (Oniguruma's find_iter, through
 * regex.h) become content, the text between them is kept. */
static akidb_status regex_map(const dec_repl *r, const char *s, ak_tok_scratch *scr, sbuf *out)
{
    size_t n = strlen(s), nc = 0, b1, b2;
    if (ak_mul_overflow(n + 1, sizeof(uint32_t), &b1) ||
        ak_mul_overflow(n + 1, sizeof(size_t), &b2))
        return oom();
    /* slots 0 and 1 hold the pieces (regex.h) */
    uint32_t *cps = ak_tok_scratch_get(scr, 2, b1);
    size_t *at = ak_tok_scratch_get(scr, 3, b2);   /* byte offset of code point i */
    if (!cps || !at)
        return AKIDB_ENOMEM;
    for (size_t i = 0; i < n;) {
        size_t k = u8_len(s + i, n - i);
        at[nc] = i;
        cps[nc++] = u8_cp(s + i, k);
        i += k;
    }
    at[nc] = n;
    const ak_piece *pc;
    size_t np;
    akidb_status st = ak_regex_pieces(r->re, cps, nc, false, scr, 0, &pc, &np);
    for (size_t p = 0; p < np && st == AKIDB_OK; p++)
        st = pc[p].match ? sb_put(out, r->content, strlen(r->content))
                         : sb_put(out, s + at[pc[p].s], at[pc[p].e] - at[pc[p].s]);
    return st;
}

static akidb_status repl_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_repl *r = (const dec_repl *)d;
    if (!r->re)
        return map_tokens(d, toks, repl_map);
    ak_tok_scratch scr = {0};
    sbuf b = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++) {
        char *copy = NULL;
        if ((st = sb_reset(&b)) == AKIDB_OK &&
            (st = regex_map(r, toks->v[i], &scr, &b)) == AKIDB_OK &&
            !(copy = ak_strndup(b.v, b.n)))
            st = oom();
        if (st == AKIDB_OK) {
            ak_free(toks->v[i]);
            toks->v[i] = copy;
        }
    }
    ak_tok_scratch_free(&scr);
    sb_free(&b);
    return st;
}

static akidb_status repl_new(const ak_decoder_kind *kind, const char *pat, const char *content,
                             ak_decoder **out)
{
    dec_repl *d = ak_calloc(1, sizeof *d);
    if (!d || !(d->pat = ak_strdup(pat)) || !(d->content = ak_strdup(content))) {
        if (d)
            ak_free(d->pat);
        ak_free(d);
        return oom();
    }
    d->base.kind = kind;
    *out = &d->base;
    return AKIDB_OK;
}

static akidb_status bpe_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    const char *suffix;
    akidb_status st;
    if ((st = need_object(j, ld)) ||
        (st = ak_tj_str(j, "suffix", NULL, &suffix, ld->origin, ld->path)))
        return st;
    if (!suffix)
        return missing(ld, "suffix");
    return repl_new(&ak_dec_bpe, suffix, "", out);
}

static void repl_free(ak_decoder *d);

static akidb_status repl_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    const char *pat, *content;
    bool is_regex;
    akidb_status st;
    if ((st = need_object(j, ld)) ||
        (st = ak_tj_pattern(j, "pattern", &pat, &is_regex, ld->origin, ld->path)) ||
        (st = ak_tj_str(j, "content", NULL, &content, ld->origin, ld->path)))
        return st;
    if (!content)
        return missing(ld, "content");
    if ((st = repl_new(&ak_dec_replace, pat, content, out)) != AKIDB_OK || !is_regex)
        return st;
    char f[192];
    snprintf(f, sizeof f, "%.160spattern", ld->path);
    dec_repl *r = (dec_repl *)*out;
    if ((st = ak_regex_compile(pat, strlen(pat), false, ld->origin, f, &r->re)) != AKIDB_OK) {
        repl_free(*out);
        *out = NULL;
    }
    return st;
}

static void repl_free(ak_decoder *d)
{
    if (!d)
        return;
    if (((dec_repl *)d)->re)
        ak_regex_free(((dec_repl *)d)->re);
    ak_free(((dec_repl *)d)->pat);
    ak_free(((dec_repl *)d)->content);
    ak_free(d);
}

/* ---- Strip -------------------------------------------------------------------- */

typedef struct dec_strip {
    ak_decoder base;
    uint32_t content;
    size_t start, stop;
} dec_strip;

static akidb_status strip_map(const ak_decoder *d, const ak_strs *toks, size_t t, sbuf *out)
{
    const dec_strip *sp = (const dec_strip *)d;
    const char *s = toks->v[t];
    size_t n = strlen(s), lead = 0, nchars = 0, i;
    /* byte offset after the leading run (at most `start` characters) */
    for (i = 0; i < n && nchars < sp->start;) {
        size_t k = u8_len(s + i, n - i);
        if (u8_cp(s + i, k) != sp->content)
            break;
        i += k;
        nchars++;
        lead = i;
    }
    /* byte offset where the trailing run (at most `stop` characters) starts */
    size_t trail = n, run = 0;
    if (sp->stop > 0) {
        for (i = 0; i < n;) {
            size_t k = u8_len(s + i, n - i);
            if (u8_cp(s + i, k) == sp->content) {
                if (run++ == 0)
                    trail = i;
            } else {
                run = 0;
                trail = n;
            }
            i += k;
        }
        /* keep only the last `stop` characters of the run */
        for (i = trail; run > sp->stop;) {
            i += u8_len(s + i, n - i);
            run--;
            trail = i;
        }
    }
    if (lead >= trail)   /* the cuts meet or overlap (Rust panics on overlap) */
        return AKIDB_OK;
    return sb_put(out, s + lead, trail - lead);
}

static akidb_status strip_decode(const ak_decoder *d, ak_strs *toks)
{
    return map_tokens(d, toks, strip_map);
}

static akidb_status strip_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    uint32_t cp;
    char utf8[5];
    size_t len;
    long long start, stop;
    akidb_status st;
    if ((st = need_object(j, ld)) || (st = req_char(j, "content", ld, &cp, utf8, &len)))
        return st;
    if (!json_object_get(j, "start"))
        return missing(ld, "start");
    if (!json_object_get(j, "stop"))
        return missing(ld, "stop");
    if ((st = ak_tj_int(j, "start", -1, 0, LLONG_MAX, &start, ld->origin, ld->path)) ||
        (st = ak_tj_int(j, "stop", -1, 0, LLONG_MAX, &stop, ld->origin, ld->path)))
        return st;
    if (start < 0 || stop < 0)
        return missing(ld, start < 0 ? "start" : "stop");
    dec_strip *d = ak_calloc(1, sizeof *d);
    if (!d)
        return oom();
    d->base.kind = &ak_dec_strip;
    d->content = cp;
    d->start = (size_t)start;
    d->stop = (size_t)stop;
    *out = &d->base;
    return AKIDB_OK;
}

static void plain_free(ak_decoder *d)
{
    ak_free(d);
}

/* ---- the kinds ------------------------------------------------------------------ */

const ak_decoder_kind ak_dec_bytelevel = {"ByteLevel", bl_from_json, bl_decode, plain_free};
const ak_decoder_kind ak_dec_metaspace = {"Metaspace", ms_from_json, ms_decode, plain_free};
const ak_decoder_kind ak_dec_wordpiece = {"WordPiece", wp_from_json, wp_decode, wp_free};
const ak_decoder_kind ak_dec_byte_fallback = {"ByteFallback", bf_from_json, bf_decode,
                                              static_free};
const ak_decoder_kind ak_dec_fuse = {"Fuse", fuse_from_json, fuse_decode, static_free};
const ak_decoder_kind ak_dec_strip = {"Strip", strip_from_json, strip_decode, plain_free};
const ak_decoder_kind ak_dec_replace = {"Replace", repl_from_json, repl_decode, repl_free};
const ak_decoder_kind ak_dec_bpe = {"BPEDecoder", bpe_from_json, bpe_decode, repl_free};
const ak_decoder_kind ak_dec_ctc = {"CTC", ctc_from_json, ctc_decode, ctc_free};
