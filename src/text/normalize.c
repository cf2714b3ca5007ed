/*
 * normalize.c - the normaliser steps of Hugging Face's BertNormalizer (and the
 * NFD / Lowercase normalizers), applied to code point arrays.  The step order
 * and character classes follow the Rust tokenizers library, which is what
 * Python's transformers / sentence-transformers run:
 *   clean_text: drop U+0000, U+FFFD and "control" characters (tab, LF, CR
 *     excepted), then map White_Space to ' ';
 *   handle_chinese_chars: ' ' around each CJK ideograph;
 *   strip_accents: NFD, then drop Mn (this runs BEFORE lowercasing);
 *   lowercase: each code point on its own (no final-sigma context).
 */
#include "tok_internal.h"
#include "unicode.h"

#include <string.h>

/* Makes *buf hold at least need code points. */
static akidb_status reserve(uint32_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return AKIDB_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    size_t bytes;
    if (ak_mul_overflow(nc, sizeof(uint32_t), &bytes))
        return ak_fail(AKIDB_ENOMEM, "text too large to normalise");
    uint32_t *p = ak_realloc(*buf, bytes);
    if (!p)
        return ak_fail(AKIDB_ENOMEM, "out of memory normalising a text");
    *buf = p;
    *cap = nc;
    return AKIDB_OK;
}

/* Puts each maximal run of non-starters of s[0..n) into canonical order
 * (stable sort by combining class).  Long runs, which only pathological text
 * has, use a counting sort with a temporary buffer so the cost stays linear. */
static akidb_status canonical_order(uint32_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (aku_ccc(s[i]) == 0) {
            i++;
            continue;
        }
        size_t r = i;
        while (i < n && aku_ccc(s[i]) != 0)
            i++;
        size_t len = i - r;
        if (len < 2)
            continue;
        if (len <= 32) {
            for (size_t k = r + 1; k < i; k++) {
                uint32_t c = s[k];
                unsigned cc = aku_ccc(c);
                size_t j = k;
                while (j > r && aku_ccc(s[j - 1]) > cc) {
                    s[j] = s[j - 1];
                    j--;
                }
                s[j] = c;
            }
            continue;
        }
        uint32_t *tmp = ak_malloc(len * sizeof *tmp);
        if (!tmp)
            return ak_fail(AKIDB_ENOMEM, "out of memory normalising a text");
        memcpy(tmp, s + r, len * sizeof *tmp);
        size_t start[257] = {0};
        for (size_t k = 0; k < len; k++)
            start[aku_ccc(tmp[k]) + 1]++;
        for (int c = 1; c < 257; c++)
            start[c] += start[c - 1];
        for (size_t k = 0; k < len; k++)
            s[r + start[aku_ccc(tmp[k])]++] = tmp[k];
        ak_free(tmp);
    }
    return AKIDB_OK;
}

/* One step from src[0..n) into dst (room for 4 * n), count in *m. */
static akidb_status apply(ak_norm_op op, const uint32_t *src, size_t n, uint32_t *dst,
                          size_t *m)
{
    size_t k = 0;
    switch (op) {
    case AK_NORM_CLEAN:
        for (size_t i = 0; i < n; i++) {
            uint32_t c = src[i];
            bool keep_ws = c == '\t' || c == '\n' || c == '\r';
            unsigned f = aku_flags(c);
            if (c == 0 || c == 0xFFFD || ((f & AKU_CONTROL) && !keep_ws))
                continue;
            dst[k++] = (keep_ws || (f & AKU_WSPACE)) ? ' ' : c;
        }
        break;
    case AK_NORM_CHINESE:
        for (size_t i = 0; i < n; i++) {
            if (aku_is_chinese(src[i])) {
                dst[k++] = ' ';
                dst[k++] = src[i];
                dst[k++] = ' ';
            } else {
                dst[k++] = src[i];
            }
        }
        break;
    case AK_NORM_STRIP:
    case AK_NORM_NFD: {
        for (size_t i = 0; i < n; i++)
            k += (size_t)aku_decompose(src[i], dst + k);
        akidb_status st = canonical_order(dst, k);
        if (st != AKIDB_OK)
            return st;
        if (op == AK_NORM_STRIP) {
            size_t w = 0;
            for (size_t i = 0; i < k; i++)
                if (!(aku_flags(dst[i]) & AKU_MN))
                    dst[w++] = dst[i];
            k = w;
        }
        break;
    }
    case AK_NORM_LOWER:
        for (size_t i = 0; i < n; i++)
            k += (size_t)aku_lower(src[i], dst + k);
        break;
    }
    *m = k;
    return AKIDB_OK;
}

akidb_status ak_normalize(const akidb_tokenizer *tok, const uint32_t *in, size_t n,
                          uint32_t **a, size_t *ca, uint32_t **b, size_t *cb,
                          const uint32_t **out, size_t *n_out)
{
    const uint32_t *src = in;
    size_t len = n;
    bool into_a = true;
    for (int i = 0; i < tok->n_ops; i++) {
        uint32_t **dst = into_a ? a : b;
        size_t *cap = into_a ? ca : cb;
        if (len > SIZE_MAX / 8)
            return ak_fail(AKIDB_ENOMEM, "text too large to normalise");
        akidb_status st = reserve(dst, cap, len * AKU_DECOMP_MAX + 1);
        if (st != AKIDB_OK)
            return st;
        size_t m;
        st = apply(tok->ops[i], src, len, *dst, &m);
        if (st != AKIDB_OK)
            return st;
        src = *dst;
        len = m;
        into_a = !into_a;
    }
    *out = src;
    *n_out = len;
    return AKIDB_OK;
}
