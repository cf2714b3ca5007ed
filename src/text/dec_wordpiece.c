/*
 * dec_wordpiece.c - the WordPiece decoder of Hugging Face tokenizers (Rust),
 * BERT's: a token starting with the continuation prefix ("##") is glued to
 * the previous one, any other token after the first gets a leading space;
 * with cleanup, Rust's wordpiece::cleanup removes the spaces before
 * punctuation and English contractions (also used by CTC, dec_misc.c).
 */
#include "dec_common.h"

#include <string.h>

extern const ak_decoder_kind ak_dec_wordpiece;

akidb_status ak_dec_wordpiece_cleanup(ak_dbuf *s, ak_dbuf *tmp)
{
    /* the same replacements as Rust, in the same order */
    static const char *const R[][2] = {
        {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"},
        {" 've", "'ve"}, {" 're", "'re"},
    };
    akidb_status st = AKIDB_OK;
    for (size_t r = 0; r < sizeof R / sizeof R[0] && st == AKIDB_OK; r++) {
        if ((st = ak_dbuf_reset(tmp)) == AKIDB_OK &&
            (st = ak_dec_str_replace(tmp, s->v, s->n, R[r][0], strlen(R[r][0]), R[r][1],
                                     strlen(R[r][1]))) == AKIDB_OK) {
            ak_dbuf x = *s;
            *s = *tmp;
            *tmp = x;
        }
    }
    return st;
}

typedef struct dec_wordpiece {
    ak_decoder base;
    char *prefix;
    size_t prefix_len;
    bool cleanup;
} dec_wordpiece;

static akidb_status wp_decode(const ak_decoder *d, ak_strs *toks)
{
    const dec_wordpiece *wp = (const dec_wordpiece *)d;
    size_t pn = wp->prefix_len;
    ak_dbuf b = {0}, tmp = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < toks->n && st == AKIDB_OK; i++) {
        const char *s = toks->v[i];
        size_t n = toks->len[i];
        if ((st = ak_dbuf_reset(&b)) != AKIDB_OK)
            break;
        if (i == 0)
            st = ak_dbuf_put(&b, s, n);
        else if (n >= pn && memcmp(s, wp->prefix, pn) == 0)
            st = ak_dbuf_put(&b, s + pn, n - pn);
        else if ((st = ak_dbuf_put(&b, " ", 1)) == AKIDB_OK)
            st = ak_dbuf_put(&b, s, n);
        if (st == AKIDB_OK && wp->cleanup)
            st = ak_dec_wordpiece_cleanup(&b, &tmp);
        if (st == AKIDB_OK)
            st = ak_strs_set(toks, i, b.v, b.n);
    }
    ak_dbuf_free(&b);
    ak_dbuf_free(&tmp);
    return st;
}

static akidb_status wp_from_json(const json_t *j, const ak_tok_load *ld, ak_decoder **out)
{
    char *prefix = NULL;
    size_t plen = 0;
    bool cleanup;
    akidb_status st;
    if ((st = ak_dec_need_object(j, ld)) ||
        (st = ak_dec_req_str(j, "prefix", ld, &prefix, &plen)) ||
        (st = ak_dec_req_bool(j, "cleanup", ld, &cleanup))) {
        ak_free(prefix);
        return st;
    }
    dec_wordpiece *d = ak_calloc(1, sizeof *d);
    if (!d) {
        ak_free(prefix);
        return ak_dec_oom();
    }
    d->base.kind = &ak_dec_wordpiece;
    d->prefix = prefix;
    d->prefix_len = plen;
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

const ak_decoder_kind ak_dec_wordpiece = {"WordPiece", wp_from_json, wp_decode, wp_free};
