/*
 * dec_bytelevel.c - the ByteLevel decoder of Hugging Face tokenizers (Rust):
 * GPT-2's byte alphabet back to bytes, then to text.
 *
 * Rust's behaviour, kept on purpose (tests/ref/decode_ref.mjs records it
 * from the Rust library itself): a token is mapped byte by byte only when
 * all its characters are in the alphabet, otherwise its UTF-8 is kept as is;
 * the whole byte string is then decoded with from_utf8_lossy (one U+FFFD per
 * maximal ill-formed subpart) into ONE token, even for an empty list.  Byte 0
 * ('Ā') gives a U+0000 inside the token, as in Rust.
 */
#include "dec_common.h"

extern const ak_decoder_kind ak_dec_bytelevel;

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
static akidb_status utf8_lossy(ak_dbuf *out, const unsigned char *s, size_t n)
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
            st = ak_dbuf_put(out, (const char *)s + i, w);
        else
            st = ak_dbuf_put(out, FFFD, 3);
        i += w == 1 ? 1 : w >= 2 && ok == w ? w : ok;
    }
    return st;
}

/* Appends the bytes of token s[0..n): mapped through the alphabet, or its
 * UTF-8 as is when a character falls outside it. */
static akidb_status bl_token(const dec_bytelevel *bl, const char *s, size_t n, ak_dbuf *bytes)
{
    size_t start = bytes->n;
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < n && st == AKIDB_OK;) {
        size_t k = ak_dec_u8_len(s + i, n - i);
        uint32_t cp = ak_dec_u8_cp(s + i, k);
        if (cp >= BL_CPS || bl->byte_of[cp] < 0) {   /* not all mapped: raw UTF-8 */
            bytes->n = start;
            return ak_dbuf_put(bytes, s, n);
        }
        char b = (char)bl->byte_of[cp];
        st = ak_dbuf_put(bytes, &b, 1);
        i += k;
    }
    return st;
}

static akidb_status bl_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_bytelevel *bl = (const dec_bytelevel *)d;
    ak_dbuf bytes = {0}, text = {0};
    ak_strs out = {0};
    akidb_status st = ak_dbuf_reset(&bytes);
    for (size_t t = 0; t < toks->n && st == AKIDB_OK; t++)
        st = bl_token(bl, toks->v[t], toks->len[t], &bytes);
    if (st == AKIDB_OK && (st = ak_dbuf_reset(&text)) == AKIDB_OK &&
        (st = utf8_lossy(&text, (const unsigned char *)bytes.v, bytes.n)) == AKIDB_OK &&
        (st = ak_strs_push(&out, text.v, text.n)) == AKIDB_OK)
        ak_strs_move(toks, &out);
    ak_strs_free(&out);
    ak_dbuf_free(&bytes);
    ak_dbuf_free(&text);
    return st;
}

static akidb_status bl_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    bool aps, trim, regex;
    akidb_status st;
    if ((st = ak_dec_need_object(j, ld)) ||
        (st = ak_dec_req_bool(j, "add_prefix_space", ld, &aps)) ||
        (st = ak_dec_req_bool(j, "trim_offsets", ld, &trim)) ||
        (st = ak_tj_bool(j, "use_regex", true, &regex, ld->origin, ld->path)))
        return st;
    (void)aps;   /* offsets and pre-tokenizing only: decoding ignores them */
    (void)trim;
    (void)regex;
    dec_bytelevel *d = ak_calloc(1, sizeof *d);
    if (!d)
        return ak_dec_oom();
    d->base.kind = &ak_dec_bytelevel;
    bl_table(d->byte_of);
    *out = &d->base;
    return AKIDB_OK;
}

const ak_decoder_kind ak_dec_bytelevel = {"ByteLevel", bl_from_json, bl_decode,
                                          ak_dec_plain_free};
