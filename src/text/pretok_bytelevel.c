/*
 * pretok_bytelevel.c - Hugging Face's ByteLevel pre-tokenizer (GPT-2, Qwen,
 * Llama 3): optionally prepends a space to each split that does not start
 * with one, optionally cuts it with GPT-2's word regex, then rewrites every
 * UTF-8 byte of each piece as a printable character of GPT-2's byte alphabet,
 * which is what byte-level BPE vocabularies are written in.
 *
 * Fields as the Rust library reads them: add_prefix_space and trim_offsets
 * are required (trim_offsets only moves offsets, so it is read and ignored),
 * use_regex defaults to true.
 */
#include "regex.h"

#include <string.h>

extern const ak_pretok_kind ak_pretok_bytelevel;

/* The GPT-2 pattern the Rust library compiles for use_regex. */
static const char gpt2_re[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

typedef struct bl_pt {
    ak_pretok base;
    bool add_prefix_space;
    ak_regex *re;            /* NULL: use_regex false */
} bl_pt;

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves,
 * the other 68 bytes take U+0100.. in byte order. */
static uint32_t byte_char(unsigned b)
{
    if (b <= 0x20)
        return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0)
        return 0x100 + 33 + (b - 0x7F);
    if (b == 0xAD)
        return 0x100 + 33 + 34;
    return b;
}

typedef struct bl_call {
    const uint32_t *s;
    bool at0;
    ak_tok_scratch *scr;
    ak_splits *out;
    size_t prev;
} bl_call;

/* Appends s[a..b) with every UTF-8 byte replaced by its alphabet character. */
static akidb_status emit_bytes(bl_call *c, size_t a, size_t b)
{
    if (a == b)
        return AKIDB_OK;
    size_t bytes;
    if (ak_mul_overflow(b - a, 4 * sizeof(uint32_t), &bytes))
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
    uint32_t *w = ak_tok_scratch_get(c->scr, 1, bytes);
    if (!w)
        return AKIDB_ENOMEM;
    size_t k = 0;
    for (size_t i = a; i < b; i++) {
        char u[4];
        int len = ak_utf8_encode(c->s[i], u);
        for (int j = 0; j < len; j++)
            w[k++] = byte_char((unsigned char)u[j]);
    }
    return ak_splits_push(c->out, w, k, c->at0 && a == 0);
}

/* Isolated: every gap and every match is a piece of its own. */
static akidb_status on_match(void *ctx, size_t s, size_t e)
{
    bl_call *c = ctx;
    akidb_status st = emit_bytes(c, c->prev, s);
    if (st == AKIDB_OK)
        st = emit_bytes(c, s, e);
    c->prev = e;
    return st;
}

static akidb_status bl_split(const ak_pretok *p, const uint32_t *s, size_t n, bool at0,
                             ak_tok_scratch *scr, ak_splits *out)
{
    const bl_pt *bl = (const bl_pt *)p;
    if (bl->add_prefix_space && n > 0 && s[0] != ' ') {
        size_t bytes;
        if (ak_mul_overflow(n + 1, sizeof *s, &bytes))
            return ak_fail(AKIDB_ENOMEM, "text too large to tokenize");
        uint32_t *t = ak_tok_scratch_get(scr, 0, bytes);
        if (!t)
            return AKIDB_ENOMEM;
        t[0] = ' ';
        memcpy(t + 1, s, n * sizeof *s);
        s = t;
        n++;
    }
    bl_call c = {.s = s, .at0 = at0, .scr = scr, .out = out, .prev = 0};
    if (!bl->re)
        return emit_bytes(&c, 0, n);
    akidb_status st = ak_regex_each(bl->re, s, n, on_match, &c);
    if (st == AKIDB_OK)
        st = emit_bytes(&c, c.prev, n);
    return st;
}

static void bl_free(ak_pretok *p)
{
    bl_pt *bl = (bl_pt *)p;
    if (!bl)
        return;
    ak_regex_free(bl->re);
    ak_free(bl);
}

static akidb_status bl_from_json(const json_t *j, const ak_tok_load *ld, ak_pretok **out)
{
    bool aps, trim, use_regex;
    akidb_status st = ak_tj_require(j, "add_prefix_space", ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_bool(j, "add_prefix_space", false, &aps, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_require(j, "trim_offsets", ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_bool(j, "trim_offsets", false, &trim, ld->origin, ld->path);
    if (st == AKIDB_OK)
        st = ak_tj_bool(j, "use_regex", true, &use_regex, ld->origin, ld->path);
    if (st != AKIDB_OK)
        return st;
    bl_pt *bl = ak_calloc(1, sizeof *bl);
    if (!bl)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", ld->origin);
    bl->base.kind = &ak_pretok_bytelevel;
    bl->add_prefix_space = aps;
    if (use_regex) {
        st = ak_regex_compile(gpt2_re, sizeof gpt2_re - 1, false, ld->origin,
                              "ByteLevel regex", &bl->re);
        if (st != AKIDB_OK) {
            bl_free(&bl->base);
            return st;
        }
    }
    *out = &bl->base;
    return AKIDB_OK;
}

const ak_pretok_kind ak_pretok_bytelevel = {
    .type = "ByteLevel",
    .from_json = bl_from_json,
    .split = bl_split,
    .free = bl_free,
};
