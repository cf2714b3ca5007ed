/*
 * norm_bert.c - Hugging Face's BertNormalizer, applied to code points.  The
 * step order and character classes follow the Rust tokenizers library:
 *   clean_text: drop U+0000, U+FFFD and "control" characters (tab, LF, CR
 *     excepted), then map White_Space to ' ';
 *   handle_chinese_chars: ' ' around each CJK ideograph;
 *   strip_accents: NFD, then drop Mn (this runs BEFORE lowercasing; null
 *     follows lowercase);
 *   lowercase: each code point on its own (no final-sigma context).
 * Every step works character by character (per_char).
 */
#include "unicode_norm.h"

extern const ak_norm_kind ak_norm_lowercase;   /* norm_simple.c */
extern const ak_norm_kind ak_norm_bert;

typedef struct bert_norm {
    ak_normalizer base;
    bool clean, chinese, strip, lower;
} bert_norm;

static akidb_status bn_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    bool clean, chinese, lower, strip;
    akidb_status st;
    if ((st = ak_tj_bool(j, "clean_text", true, &clean, ld->origin, ld->path)) ||
        (st = ak_tj_bool(j, "handle_chinese_chars", true, &chinese, ld->origin, ld->path)) ||
        (st = ak_tj_bool(j, "lowercase", true, &lower, ld->origin, ld->path)) ||
        (st = ak_tj_bool(j, "strip_accents", lower, &strip, ld->origin, ld->path)))
        return st;
    bert_norm *b = ak_calloc(1, sizeof *b);
    if (!b)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", ld->origin);
    *b = (bert_norm){.base = {&ak_norm_bert}, .clean = clean, .chinese = chinese, .strip = strip, .lower = lower};
    *out = &b->base;
    return AKIDB_OK;
}

static akidb_status clean_text(const uint32_t *in, size_t n, ak_cpbuf *out)
{
    akidb_status st = ak_cpbuf_reserve(out, n);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        bool keep_ws = c == '\t' || c == '\n' || c == '\r';
        unsigned f = aku_flags(c);
        if (c == 0 || c == 0xFFFD || ((f & AKU_CONTROL) && !keep_ws))
            continue;
        out->v[out->n++] = (keep_ws || (f & AKU_WSPACE)) ? ' ' : c;
    }
    return AKIDB_OK;
}

static akidb_status pad_chinese(const uint32_t *in, size_t n, ak_cpbuf *out)
{
    if (n > SIZE_MAX / 12)
        return ak_fail(AKIDB_ENOMEM, "text too large to normalise");
    akidb_status st = ak_cpbuf_reserve(out, 3 * n);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        bool cjk = aku_is_chinese(in[i]);
        if (cjk)
            out->v[out->n++] = ' ';
        out->v[out->n++] = in[i];
        if (cjk)
            out->v[out->n++] = ' ';
    }
    return AKIDB_OK;
}

static akidb_status lowercase(const uint32_t *in, size_t n, ak_cpbuf *out)
{
    return ak_norm_lowercase.apply(NULL, in, n, NULL, out);
}

static akidb_status strip_accents(const uint32_t *in, size_t n, ak_cpbuf *out)
{
    size_t from = out->n;
    akidb_status st = aku_normalize(AKU_NFD, in, n, out);
    if (st != AKIDB_OK)
        return st;
    size_t w = from;
    for (size_t i = from; i < out->n; i++)
        if (!(aku_flags(out->v[i]) & AKU_MN))
            out->v[w++] = out->v[i];
    out->n = w;
    return AKIDB_OK;
}

/* Runs the enabled steps in order, ping-ponging between out and a scratch
 * buffer (slot 0) so that the result ends in out. */
static akidb_status bn_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                             ak_tok_scratch *scr, ak_cpbuf *out)
{
    const bert_norm *b = (const bert_norm *)nz;
    typedef akidb_status (*step_fn)(const uint32_t *, size_t, ak_cpbuf *);
    step_fn steps[4];
    int k = 0;
    if (b->clean)
        steps[k++] = clean_text;
    if (b->chinese)
        steps[k++] = pad_chinese;
    if (b->strip)
        steps[k++] = strip_accents;
    if (b->lower)
        steps[k++] = lowercase;
    if (k == 0)
        return ak_cpbuf_push(out, in, n);
    /* The scratch buffer is borrowed as a cpbuf for the intermediate steps. */
    ak_cpbuf tmp = {0};
    akidb_status st = AKIDB_OK;
    const uint32_t *src = in;
    size_t len = n;
    for (int i = 0; i < k && st == AKIDB_OK; i++) {
        ak_cpbuf *dst = ((k - 1 - i) % 2 == 0) ? out : &tmp;
        dst->n = 0;
        st = steps[i](src, len, dst);
        src = dst->v;
        len = dst->n;
    }
    (void)scr;
    ak_cpbuf_free(&tmp);
    return st;
}

static void bn_free(ak_normalizer *nz)
{
    ak_free(nz);
}

const ak_norm_kind ak_norm_bert = {
    .type = "BertNormalizer",
    .from_json = bn_from_json,
    .apply = bn_apply,
    .free = bn_free,
    .per_char = true,
};
