/*
 * unicode.c - binary searches over the generated Unicode tables, the
 * algorithmic Hangul decomposition (not tabulated, as Unicode defines it by
 * formula), extended grapheme clusters (UAX #29) and the Script property.
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

/* Packed grapheme byte of cp: Grapheme_Cluster_Break in the low bits,
 * AKU_GB_EXTPICT, Indic_Conjunct_Break above AKU_INCB_SHIFT. */
static unsigned gb_props(uint32_t cp)
{
    if (cp < 0x7F)
        return cp >= 0x20 ? AKU_GB_OTHER
               : cp == '\r' ? AKU_GB_CR : cp == '\n' ? AKU_GB_LF : AKU_GB_CONTROL;
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SN)
        return (cp - HANGUL_S) % HANGUL_TN == 0 ? AKU_GB_LV : AKU_GB_LVT;
    return range_lookup(aku_gb_ranges, aku_gb_ranges_n, cp);
}

static bool gb_is_control(unsigned g)
{
    return g == AKU_GB_CONTROL || g == AKU_GB_CR || g == AKU_GB_LF;
}

/* State carried along one cluster for the rules that look back further than
 * one code point (GB9c, GB11, GB12/13). */
typedef struct gb_state {
    unsigned emoji;    /* 1: ExtPict Extend*; 2: that followed by ZWJ        */
    unsigned incb;     /* 1: Consonant [Extend Linker]*; 2: one Linker seen   */
    size_t ri;         /* Regional_Indicators just before                    */
} gb_state;

static void gb_advance(gb_state *st, unsigned p)
{
    unsigned g = p & AKU_GB_MASK, ib = (p >> AKU_INCB_SHIFT) & 3;
    if (p & AKU_GB_EXTPICT)
        st->emoji = 1;
    else if (st->emoji == 1 && g == AKU_GB_EXTEND)
        st->emoji = 1;
    else if (st->emoji == 1 && g == AKU_GB_ZWJ)
        st->emoji = 2;
    else
        st->emoji = 0;
    if (ib == AKU_INCB_CONSONANT)
        st->incb = 1;
    else if (ib == AKU_INCB_LINKER && st->incb)
        st->incb = 2;
    else if (ib != AKU_INCB_EXTEND)
        st->incb = 0;
    st->ri = g == AKU_GB_RI ? st->ri + 1 : 0;
}

/* True when UAX #29 puts a boundary between a code point of break value
 * `prev` and the next one, `cur` (packed bytes), given the state so far. */
static bool gb_break(unsigned prev, unsigned cur, const gb_state *st)
{
    unsigned a = prev & AKU_GB_MASK, b = cur & AKU_GB_MASK;
    if (a == AKU_GB_CR && b == AKU_GB_LF)
        return false;                                           /* GB3   */
    if (gb_is_control(a) || gb_is_control(b))
        return true;                                            /* GB4/5 */
    if (a == AKU_GB_L && (b == AKU_GB_L || b == AKU_GB_V || b == AKU_GB_LV ||
                          b == AKU_GB_LVT))
        return false;                                           /* GB6   */
    if ((a == AKU_GB_LV || a == AKU_GB_V) && (b == AKU_GB_V || b == AKU_GB_T))
        return false;                                           /* GB7   */
    if ((a == AKU_GB_LVT || a == AKU_GB_T) && b == AKU_GB_T)
        return false;                                           /* GB8   */
    if (b == AKU_GB_EXTEND || b == AKU_GB_ZWJ || b == AKU_GB_SPACINGMARK ||
        a == AKU_GB_PREPEND)
        return false;                                           /* GB9-9b */
    if (st->incb == 2 && ((cur >> AKU_INCB_SHIFT) & 3) == AKU_INCB_CONSONANT)
        return false;                                           /* GB9c  */
    if (st->emoji == 2 && (cur & AKU_GB_EXTPICT))
        return false;                                           /* GB11  */
    if (a == AKU_GB_RI && b == AKU_GB_RI && st->ri % 2 == 1)
        return false;                                           /* GB12/13 */
    return true;                                                /* GB999 */
}

size_t aku_grapheme_end(const uint32_t *s, size_t n, size_t i)
{
    if (i >= n)
        return n;
    /* Printable ASCII followed by printable ASCII: a one-code-point cluster. */
    if (s[i] >= 0x20 && s[i] < 0x7F &&
        (i + 1 == n || (s[i + 1] >= 0x20 && s[i + 1] < 0x7F)))
        return i + 1;
    unsigned prev = gb_props(s[i]);
    gb_state st = {0, 0, 0};
    gb_advance(&st, prev);
    for (size_t j = i + 1; j < n; j++) {
        unsigned cur = gb_props(s[j]);
        if (gb_break(prev, cur, &st))
            return j;
        gb_advance(&st, cur);
        prev = cur;
    }
    return n;
}

int aku_script(uint32_t cp)
{
    if (cp < 0x80)
        return ((cp | 32) >= 'a' && (cp | 32) <= 'z') ? AKU_SCRIPT_LATIN : AKU_SCRIPT_COMMON;
    return (int)range_lookup(aku_script_ranges, aku_script_ranges_n, cp);
}
