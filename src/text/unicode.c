/*
 * unicode.c - binary searches over the generated Unicode tables, plus the
 * algorithmic Hangul decomposition (not tabulated, as Unicode defines it by
 * formula).
 */
#include "unicode.h"

#include <stddef.h>

/* Value of the range holding cp in a sorted, disjoint table, or 0. */
static unsigned range_lookup(const aku_range *t, uint32_t n, uint32_t cp)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cp < t[mid].lo)
            hi = mid;
        else if (cp > t[mid].hi)
            lo = mid + 1;
        else
            return t[mid].val;
    }
    return 0;
}

unsigned aku_flags(uint32_t cp)
{
    if (cp < 128)
        return aku_ascii_flags[cp];
    return range_lookup(aku_flag_ranges, aku_flag_ranges_n, cp);
}

unsigned aku_ccc(uint32_t cp)
{
    if (cp < 0x300)
        return 0;
    return range_lookup(aku_ccc_ranges, aku_ccc_ranges_n, cp);
}

enum {
    HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
    HANGUL_VN = 21, HANGUL_TN = 28, HANGUL_SN = 19 * 21 * 28
};

int aku_decompose(uint32_t cp, uint32_t out[AKU_DECOMP_MAX])
{
    if (cp < 0xC0) {
        out[0] = cp;
        return 1;
    }
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SN) {
        uint32_t s = cp - HANGUL_S;
        out[0] = HANGUL_L + s / (HANGUL_VN * HANGUL_TN);
        out[1] = HANGUL_V + (s % (HANGUL_VN * HANGUL_TN)) / HANGUL_TN;
        if (s % HANGUL_TN == 0)
            return 2;
        out[2] = HANGUL_T + s % HANGUL_TN;
        return 3;
    }
    uint32_t lo = 0, hi = aku_decomps_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cp < aku_decomps[mid].cp) {
            hi = mid;
        } else if (cp > aku_decomps[mid].cp) {
            lo = mid + 1;
        } else {
            const aku_decomp *d = &aku_decomps[mid];
            for (int i = 0; i < d->len; i++)
                out[i] = aku_decomp_pool[d->off + i];
            return d->len;
        }
    }
    out[0] = cp;
    return 1;
}

int aku_lower(uint32_t cp, uint32_t out[AKU_LOWER_MAX])
{
    if (cp < 128) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    uint32_t lo = 0, hi = aku_lowers_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cp < aku_lowers[mid].cp) {
            hi = mid;
        } else if (cp > aku_lowers[mid].cp) {
            lo = mid + 1;
        } else {
            uint32_t to = aku_lowers[mid].to;
            if (!(to & 0x80000000u)) {
                out[0] = to;
                return 1;
            }
            int n = (int)((to >> 24) & 0x7F);
            for (int i = 0; i < n; i++)
                out[i] = aku_lower_pool[(to & 0xFFFFFF) + (uint32_t)i];
            return n;
        }
    }
    out[0] = cp;
    return 1;
}

bool aku_is_chinese(uint32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
