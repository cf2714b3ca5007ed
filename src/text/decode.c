/*
 * decode.c - akidb_tokenizer_decode: ids -> text as Hugging Face tokenizers'
 * decode(ids, skip_special_tokens).  Ids without a token are skipped; the
 * decoders (a Sequence flattened by the loader) rewrite the token list in
 * turn and the result is concatenated; with no decoder the tokens are joined
 * by single spaces.  Tokens are (bytes, length) pairs all the way: a decoded
 * U+0000 (ByteLevel's byte 0, ByteFallback's <0x00>) stays in the text,
 * which the caller receives with its length.
 */
#include "tok_internal.h"

#include <string.h>

void akidb_string_free(char *s)
{
    ak_free(s);
}

/* Concatenates toks with sep[0..seplen) between them into a new string
 * (NUL-terminated; the tokens may hold NULs of their own). */
static akidb_status join(const ak_strs *toks, const char *sep, size_t seplen, char **text,
                         size_t *len)
{
    size_t total = 1;
    for (size_t i = 0; i < toks->n; i++) {
        size_t more = toks->len[i] + (i ? seplen : 0);   /* each part is in memory */
        if (more > SIZE_MAX - total)
            return ak_fail(AKIDB_ENOMEM, "decoded text of %zu tokens too large", toks->n);
        total += more;
    }
    char *s = ak_malloc(total);
    if (!s)
        return ak_fail(AKIDB_ENOMEM, "out of memory decoding %zu tokens", toks->n);
    size_t o = 0;
    for (size_t i = 0; i < toks->n; i++) {
        if (i) {
            memcpy(s + o, sep, seplen);
            o += seplen;
        }
        memcpy(s + o, toks->v[i], toks->len[i]);
        o += toks->len[i];
    }
    s[o] = 0;
    *text = s;
    if (len)
        *len = o;
    return AKIDB_OK;
}

akidb_status akidb_tokenizer_decode(const akidb_tokenizer *tok, const int32_t *ids,
                                    size_t n, int skip_special, char **text, size_t *len)
{
    AK_ASSERT(tok && (ids || n == 0) && text);
    *text = NULL;
    if (len)
        *len = 0;
    ak_strs toks = {0};
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= tok->vocab_size || !tok->id_tok[id])
            continue;
        if (skip_special && tok->special[id])
            continue;
        st = ak_strs_push(&toks, tok->id_tok[id], strlen(tok->id_tok[id]));
    }
    for (size_t d = 0; d < tok->n_dec && st == AKIDB_OK; d++)
        st = tok->dec[d]->kind->decode(tok->dec[d], &toks);
    if (st == AKIDB_OK)
        st = tok->n_dec ? join(&toks, "", 0, text, len) : join(&toks, " ", 1, text, len);
    ak_strs_free(&toks);
    return st;
}
