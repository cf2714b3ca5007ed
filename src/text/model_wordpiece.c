/*
 * model_wordpiece.c - the WordPiece model (BERT and its kin), as Hugging Face
 * tokenizers' models::wordpiece: greedy longest-match-first from the start of
 * the word, pieces after the first looked up with continuing_subword_prefix
 * ("##"); a word longer than max_input_chars_per_word, or one with a
 * position where nothing matches, becomes the single unk token.
 */
#include "tok_parts.h"
#include "json_scan.h"

#include <string.h>

extern const ak_tok_model_kind ak_model_wordpiece;

typedef struct wordpiece {
    ak_tok_model base;
    char *unk_token;
    char *prefix;
    size_t prefix_len;
    size_t max_chars;
} wordpiece;

static void wp_free(ak_tok_model *m)
{
    wordpiece *wp = (wordpiece *)m;
    if (!wp)
        return;
    ak_tok_model_base_free(&wp->base);
    ak_free(wp->unk_token);
    ak_free(wp->prefix);
    ak_free(wp);
}

static akidb_status wp_from_json(const json_t *j, const ak_tok_load *ld, ak_tok_model **out)
{
    const char *o = ld->origin;
    wordpiece *wp = ak_calloc(1, sizeof *wp);
    if (!wp)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", o);
    wp->base.kind = &ak_model_wordpiece;
    wp->base.unk_id = -1;
    const char *unk, *prefix;
    long long max_chars;
    const json_t *vocab = json_object_get(j, "vocab");
    const ak_tok_spans *t = ld->spans;
    bool vspan = t && t->vocab.len && t->vocab.open == '{';
    size_t n = vspan ? t->vocab.count : json_is_object(vocab) ? json_object_size(vocab) : 0;
    size_t bound = vspan || json_is_object(vocab) ? n * 2 + 4096 : 0;
    akidb_status st;
    if ((st = ak_tj_str(j, "unk_token", "[UNK]", &unk, o, "model.")) ||
        (st = ak_tj_str(j, "continuing_subword_prefix", "##", &prefix, o, "model.")) ||
        (st = ak_tj_int(j, "max_input_chars_per_word", 100, 0, INT32_MAX, &max_chars, o,
                        "model.")) ||
        (st = vspan ? ak_tok_model_vocab_from_span(&wp->base, t, bound, o, "model.vocab")
                    : ak_tok_model_vocab_from_json(&wp->base, vocab, bound, o, "model.vocab")))
        goto fail;
    wp->unk_token = ak_strdup(unk);
    wp->prefix = ak_strdup(prefix);
    if (!wp->unk_token || !wp->prefix) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory loading the tokenizer", o);
        goto fail;
    }
    wp->prefix_len = strlen(prefix);
    wp->max_chars = (size_t)max_chars;
    wp->base.unk_id = ak_tok_model_id(&wp->base, unk, strlen(unk));
    *out = &wp->base;
    return AKIDB_OK;
fail:
    wp_free(&wp->base);
    return st;
}

static akidb_status emit_unk(const wordpiece *wp, ak_idbuf *out)
{
    if (wp->base.unk_id < 0)
        return ak_fail(AKIDB_EFORMAT, "tokenizer: unk token '%s' is not in the vocabulary",
                       wp->unk_token);
    return ak_idbuf_push(out, wp->base.unk_id);
}

/* Largest end in [start, n] with bytes(start..end) + plen <= maxlen, by binary
 * search over the byte offsets (nothing longer can be in the vocabulary). */
static size_t longest_end(const size_t *woff, size_t start, size_t n, size_t plen,
                          size_t maxlen)
{
    if (plen > maxlen)
        return start;
    if (woff[n] - woff[start] + plen <= maxlen)
        return n;
    size_t lo = start, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (woff[mid] - woff[start] + plen <= maxlen)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static akidb_status wp_tokenize(const ak_tok_model *m, const uint32_t *w, size_t n,
                                ak_tok_scratch *scr, ak_idbuf *out)
{
    const wordpiece *wp = (const wordpiece *)m;
    if (n > wp->max_chars)
        return emit_unk(wp, out);
    char *u = ak_tok_scratch_get(scr, 0, n * 4 + 1);
    size_t *woff = ak_tok_scratch_get(scr, 1, (n + 1) * sizeof *woff);
    if (!u || !woff)
        return AKIDB_ENOMEM;
    size_t b = 0;
    for (size_t i = 0; i < n; i++) {
        woff[i] = b;
        b += (size_t)ak_utf8_encode(w[i], u + b);
    }
    woff[n] = b;

    size_t first = out->n, start = 0;
    while (start < n) {
        size_t plen = start ? wp->prefix_len : 0;
        size_t end = longest_end(woff, start, n, plen, m->vocab.max_len);
        int32_t id = -1;
        for (; end > start; end--) {
            id = ak_vocab_get2(&m->vocab, wp->prefix, plen, u + woff[start],
                               woff[end] - woff[start]);
            if (id >= 0)
                break;
        }
        if (id < 0) {
            out->n = first;   /* the whole word becomes unk */
            return emit_unk(wp, out);
        }
        akidb_status st = ak_idbuf_push(out, id);
        if (st != AKIDB_OK)
            return st;
        start = end;
    }
    return AKIDB_OK;
}

const ak_tok_model_kind ak_model_wordpiece = {
    .type = "WordPiece",
    .from_json = wp_from_json,
    .tokenize = wp_tokenize,
    .free = wp_free,
};
