/*
 * dec_bytes.c - the ByteFallback and Fuse decoders of Hugging Face
 * tokenizers (Rust), the two that merge tokens (sentencepiece-style BPE
 * models such as Gemma's and Llama's use both).
 *
 * ByteFallback: a run of <0xNN> tokens becomes its bytes as one token when
 * they are valid UTF-8, otherwise one U+FFFD token PER BYTE (Rust's rule,
 * recorded by tests/ref/decode_ref.mjs); NN is parsed as u8::from_str_radix,
 * which also takes "+F".  <0x00> gives a U+0000 inside the token.
 * Fuse: all tokens become one.
 * Both have no settings: every instance is one shared static object.
 */
#include "dec_common.h"

#include <string.h>

extern const ak_decoder_kind ak_dec_byte_fallback, ak_dec_fuse;

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xNN>" token s[0..n) (u8::from_str_radix(NN, 16): two hex
 * digits, or '+' and one), or -1. */
static int fallback_byte(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int a = hexval(s[3]), b = hexval(s[4]);
    if (s[3] == '+')
        return b;
    return a < 0 || b < 0 ? -1 : a * 16 + b;
}

/* Pushes a run of fallback bytes: their text when valid UTF-8, else one
 * U+FFFD token per byte. */
static akidb_status bf_flush(ak_strs *out, ak_dbuf *run)
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
    ak_dbuf run = {0};
    akidb_status st = ak_dbuf_reset(&run);
    for (size_t t = 0; t < toks->n && st == AKIDB_OK; t++) {
        int b = fallback_byte(toks->v[t], toks->len[t]);
        if (b >= 0) {
            char c = (char)b;
            st = ak_dbuf_put(&run, &c, 1);
        } else if ((st = bf_flush(&out, &run)) == AKIDB_OK) {
            st = ak_strs_push(&out, toks->v[t], toks->len[t]);
        }
    }
    if (st == AKIDB_OK && (st = bf_flush(&out, &run)) == AKIDB_OK)
        ak_strs_move(toks, &out);
    ak_strs_free(&out);
    ak_dbuf_free(&run);
    return st;
}

static akidb_status fuse_decode(const ak_decoder *d, ak_strs *toks)
{
    (void)d;
    ak_dbuf all = {0};
    ak_strs out = {0};
    akidb_status st = ak_dbuf_reset(&all);
    for (size_t t = 0; t < toks->n && st == AKIDB_OK; t++)
        st = ak_dbuf_put(&all, toks->v[t], toks->len[t]);
    if (st == AKIDB_OK && (st = ak_strs_push(&out, all.v, all.n)) == AKIDB_OK)
        ak_strs_move(toks, &out);
    ak_strs_free(&out);
    ak_dbuf_free(&all);
    return st;
}

static const ak_decoder ONE_FUSE = {&ak_dec_fuse};
static const ak_decoder ONE_BYTE_FALLBACK = {&ak_dec_byte_fallback};

static akidb_status fuse_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    akidb_status st = ak_dec_need_object(j, ld);
    *out = st == AKIDB_OK ? (ak_decoder *)&ONE_FUSE : NULL;
    return st;
}

static akidb_status bf_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    akidb_status st = ak_dec_need_object(j, ld);
    *out = st == AKIDB_OK ? (ak_decoder *)&ONE_BYTE_FALLBACK : NULL;
    return st;
}

static void static_free(ak_decoder *d)
{
    (void)d;   /* the shared static instance */
}

const ak_decoder_kind ak_dec_byte_fallback = {"ByteFallback", bf_from_json, bf_decode,
                                              static_free};
const ak_decoder_kind ak_dec_fuse = {"Fuse", fuse_from_json, fuse_decode, static_free};
