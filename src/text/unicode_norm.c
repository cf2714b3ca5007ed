/*
 * unicode_norm.c - NFD, NFC, NFKD and NFKC (UAX #15) over code point arrays:
 * full decomposition (canonical or compatibility), canonical ordering, then
 * for the composed forms canonical composition with the blocking rule.  Each
 * step is linear in the text: decomposition is table look-ups, ordering
 * sorts each run of non-starters (insertion sort for short runs, a counting
 * sort by combining class for long ones), and composition keeps the position
 * of the last starter and the class of the last character after it, so
 * nothing is rescanned.  The algorithm is the standard one, which is also what
 * Hugging Face tokenizers' crate does; the tables are Unicode 9.0.0 as there.
 */
#include "unicode_norm.h"

#include <string.h>

enum {
    H_SBASE = 0xAC00, H_LBASE = 0x1100, H_VBASE = 0x1161, H_TBASE = 0x11A7,
    H_LCOUNT = 19, H_VCOUNT = 21, H_TCOUNT = 28,
    H_NCOUNT = H_VCOUNT * H_TCOUNT, H_SCOUNT = H_LCOUNT * H_NCOUNT
};

/* Longest run of non-starters sorted by insertion (quadratic in the run). */
#define SHORT_RUN 32

int aku_kdecompose(uint32_t cp, uint32_t out[AKU_KDECOMP_MAX])
{
    if (cp < 0xA0) {
        out[0] = cp;
        return 1;
    }
    uint32_t lo = 0, hi = aku_kdecomps_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cp < aku_kdecomps[mid].cp) {
            hi = mid;
        } else if (cp > aku_kdecomps[mid].cp) {
            lo = mid + 1;
        } else {
            const aku_decomp *d = &aku_kdecomps[mid];
            memcpy(out, aku_kdecomp_pool + d->off, d->len * sizeof *out);
            return d->len;
        }
    }
    uint32_t tmp[AKU_DECOMP_MAX];
    int k = aku_decompose(cp, tmp);
    memcpy(out, tmp, (size_t)k * sizeof *out);
    return k;
}

uint32_t aku_compose(uint32_t a, uint32_t b)
{
    if (a - H_LBASE < H_LCOUNT && b - H_VBASE < H_VCOUNT)
        return H_SBASE + ((a - H_LBASE) * H_VCOUNT + (b - H_VBASE)) * H_TCOUNT;
    /* LV + T; U+11A7 (T index 0) is no trailing consonant. */
    if (a - H_SBASE < H_SCOUNT && (a - H_SBASE) % H_TCOUNT == 0 &&
        b - H_TBASE - 1 < H_TCOUNT - 1)
        return a + (b - H_TBASE);
    uint32_t lo = 0, hi = aku_comps_n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const aku_comp *c = &aku_comps[mid];
        if (a < c->a || (a == c->a && b < c->b))
            hi = mid;
        else if (a > c->a || b > c->b)
            lo = mid + 1;
        else
            return c->c;
    }
    return 0;
}

/* Stable sort of the run s[0..n) of non-starters by combining class. */
static void sort_run(uint32_t *s, size_t n, uint32_t *tmp)
{
    if (n <= SHORT_RUN) {
        for (size_t k = 1; k < n; k++) {
            uint32_t c = s[k];
            unsigned cc = aku_ccc(c);
            size_t j = k;
            while (j > 0 && aku_ccc(s[j - 1]) > cc) {
                s[j] = s[j - 1];
                j--;
            }
            s[j] = c;
        }
        return;
    }
    size_t start[257] = {0};
    memcpy(tmp, s, n * sizeof *s);
    for (size_t k = 0; k < n; k++)
        start[aku_ccc(tmp[k]) + 1]++;
    for (int c = 1; c < 257; c++)
        start[c] += start[c - 1];
    for (size_t k = 0; k < n; k++)
        s[start[aku_ccc(tmp[k])]++] = tmp[k];
}

void aku_canonical_order(uint32_t *s, size_t n, uint32_t *tmp)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x300 || aku_ccc(s[i]) == 0) {
            i++;
            continue;
        }
        size_t r = i;
        while (i < n && s[i] >= 0x300 && aku_ccc(s[i]) != 0)
            i++;
        if (i - r > 1)
            sort_run(s + r, i - r, tmp);
    }
}

size_t aku_compose_run(uint32_t *s, size_t n)
{
    size_t w = 0;
    size_t starter = SIZE_MAX;   /* output index of the last starter           */
    int last_cc = -1;            /* class of the last character kept after it;
                                  * -1: none, the next one is adjacent        */
    for (size_t r = 0; r < n; r++) {
        uint32_t c = s[r];
        int cc = c < 0x300 ? 0 : (int)aku_ccc(c);
        if (starter != SIZE_MAX && c >= AKU_COMP_SECOND_MIN && (last_cc < 0 || last_cc < cc)) {
            uint32_t comp = aku_compose(s[starter], c);
            if (comp) {
                s[starter] = comp;
                continue;
            }
        }
        if (cc == 0) {
            starter = w;
            last_cc = -1;
        } else {
            last_cc = cc;
        }
        s[w++] = c;
    }
    return w;
}

akidb_status aku_normalize(aku_nform form, const uint32_t *in, size_t n, ak_cpbuf *out)
{
    bool compat = form == AKU_NFKD || form == AKU_NFKC;
    size_t base = out->n;
    akidb_status st = ak_cpbuf_reserve(out, n);
    if (st != AKIDB_OK)
        return st;
    bool marks = false;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c < 0xA0) {
            if (out->n == out->cap && (st = ak_cpbuf_reserve(out, n - i)) != AKIDB_OK)
                return st;
            out->v[out->n++] = c;
            continue;
        }
        if (out->cap - out->n < AKU_KDECOMP_MAX &&
            (st = ak_cpbuf_reserve(out, (n - i) + AKU_KDECOMP_MAX)) != AKIDB_OK)
            return st;
        uint32_t *d = out->v + out->n;
        int k = compat ? aku_kdecompose(c, d) : aku_decompose(c, d);
        for (int j = 0; j < k && !marks; j++)
            marks = d[j] >= 0x300 && aku_ccc(d[j]) != 0;
        out->n += (size_t)k;
    }
    size_t len = out->n - base;
    if (marks) {
        /* Room for the counting sort's copy of a long run, past the text. */
        if ((st = ak_cpbuf_reserve(out, len)) != AKIDB_OK)
            return st;
        aku_canonical_order(out->v + base, len, out->v + out->n);
    }
    if (form == AKU_NFC || form == AKU_NFKC)
        out->n = base + aku_compose_run(out->v + base, len);
    return AKIDB_OK;
}
