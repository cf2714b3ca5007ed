/*
 * tok_offsets.c - the byte range of the input behind every code point of the
 * pipeline and every token, for akidb_tokenizer_encode_offsets (see
 * tok_offsets.h).  The rules are those of Hugging Face tokenizers (Rust):
 *
 * Normalizers.  Rust rewrites a NormalizedString through a stream of
 * (character, change) pairs: change 0 replaces the next input character and
 * takes its range, a negative change also removes that many input characters
 * after it, a positive one inserts a character that takes the range of the
 * input character before it (or an empty range at the piece's start).  Here
 * each normalizer gives, per output code point, the input index whose range
 * it takes:
 *   - character-wise ones (BertNormalizer, Lowercase, StripAccents): every
 *     code point a character becomes takes that character's range, removed
 *     characters leave nothing;
 *   - NFD / NFKD / NFC / NFKC: the decomposition of a character is the
 *     character (change 0) then insertions, canonical ordering moves the
 *     changes with their characters, and a character composed into a starter
 *     adds its change minus one to the starter's (so "e" + U+0301 becomes
 *     "é" with the range of the "e" alone, as in Rust);
 *   - Strip keeps the ranges of what it keeps; Prepend gives its text the
 *     range of the first character; Replace gives the replacement the range
 *     of the last character of the match; Precompiled follows the Rust
 *     crate's per-grapheme changes (norm_precompiled.c).
 *
 * Pre-tokenizers.  Their pieces are found in their input, left to right:
 * most pieces are substrings; ByteLevel's pieces are the UTF-8 bytes of
 * their characters written as GPT-2's byte characters (each takes its
 * character's range), Metaspace's replacement character stands for a space;
 * a prefix space / replacement character that the pre-tokenizer prepended
 * takes the range of the character it was put before.
 *
 * Models.  A word's tokens are laid over the word in order: a token is its
 * own text, or its text without a continuing-subword prefix or an
 * end-of-word suffix, or a byte-fallback token <0xHH> standing for one UTF-8
 * byte (it takes the range of that byte's character); an unknown token
 * covers the word when it is the word's only token, else the characters up
 * to where the next token matches (one character when the next one is
 * unknown too).
 */
#include "tok_offsets.h"
#include "unicode_norm.h"

#include <string.h>

extern const ak_norm_kind ak_norm_bert, ak_norm_nfc, ak_norm_nfd, ak_norm_nfkc, ak_norm_nfkd,
    ak_norm_lowercase, ak_norm_strip, ak_norm_strip_accents, ak_norm_prepend, ak_norm_replace,
    ak_norm_precompiled;
extern const ak_pretok_kind ak_pretok_bytelevel, ak_pretok_metaspace;

/* ---- buffers ---------------------------------------------------------------- */

akidb_status ak_spanbuf_reserve(ak_spanbuf *b, size_t total)
{
    if (total <= b->cap)
        return AKIDB_OK;
    size_t nc = b->cap > 64 ? b->cap : 64;
    while (nc < total)
        nc = nc > SIZE_MAX / 4 / sizeof *b->v ? total : nc * 2;
    size_t bytes;
    if (ak_mul_overflow(nc, sizeof *b->v, &bytes))
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize with offsets");
    ak_span *v = ak_realloc(b->v, bytes);
    if (!v)
        return ak_fail(AKIDB_ENOMEM, "out of memory for %zu token offsets", total);
    b->v = v;
    b->cap = nc;
    return AKIDB_OK;
}

akidb_status ak_spanbuf_push(ak_spanbuf *b, ak_span sp)
{
    akidb_status st = ak_spanbuf_reserve(b, b->n + 1);
    if (st == AKIDB_OK)
        b->v[b->n++] = sp;
    return st;
}

void ak_spanbuf_free(ak_spanbuf *b)
{
    ak_free(b->v);
    memset(b, 0, sizeof *b);
}

void ak_offs_free(ak_offs *o)
{
    ak_spanbuf_free(&o->raw);
    ak_spanbuf_free(&o->na);
    ak_spanbuf_free(&o->nb);
    ak_spanbuf_free(&o->sa);
    ak_spanbuf_free(&o->sb);
    ak_spanbuf_free(&o->spans);
    ak_idbuf_free(&o->src);
    ak_cpbuf_free(&o->one);
    ak_idbuf_free(&o->chg);
    ak_cpbuf_free(&o->bytes);
    ak_idbuf_free(&o->owner);
}

akidb_status ak_offs_text(ak_offs *o, const char *text, size_t len)
{
    o->raw.n = 0;
    akidb_status st = ak_spanbuf_reserve(&o->raw, len + 1);
    for (size_t i = 0; st == AKIDB_OK && i < len;) {
        uint32_t cp;
        size_t k = (size_t)ak_utf8_decode((const unsigned char *)text + i, &cp);
        o->raw.v[o->raw.n++] = (ak_span){i, i + k};
        i += k;
    }
    return st;
}

/* ---- normalizers -------------------------------------------------------------- */

/* Turns Rust's changes chg[0..m) (over an input of n characters, the first
 * `initial` of them removed) into source indices. */
static akidb_status changes_to_src(const ak_idbuf *chg, size_t initial, size_t n, ak_idbuf *src)
{
    src->n = 0;
    akidb_status st = ak_idbuf_reserve(src, chg->n + 1);
    size_t pos = initial;
    for (size_t i = 0; st == AKIDB_OK && i < chg->n; i++) {
        int32_t c = chg->v[i];
        if (c > 0) {
            src->v[src->n++] = pos ? (int32_t)(pos - 1) : -1;
        } else {
            src->v[src->n++] = pos < n ? (int32_t)pos : (int32_t)n - 1;
            pos += 1 + (size_t)(-(int64_t)c);
        }
    }
    return st;
}

/* Character-wise normalizers: each character on its own. */
static akidb_status src_charwise(ak_offs *o, const ak_normalizer *nz, const uint32_t *in,
                                 size_t n, ak_tok_scratch *scr, ak_cpbuf *out)
{
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        o->one.n = 0;
        if ((st = nz->kind->apply(nz, in + i, 1, scr, &o->one)) != AKIDB_OK ||
            (st = ak_cpbuf_push(out, o->one.v, o->one.n)) != AKIDB_OK ||
            (st = ak_idbuf_reserve(&o->src, o->one.n)) != AKIDB_OK)
            break;
        for (size_t k = 0; k < o->one.n; k++)
            o->src.v[o->src.n++] = (int32_t)i;
    }
    return st;
}

typedef struct chpair {
    uint32_t c;
    int32_t chg;
} chpair;

/* Stable sort of each run of non-starters by combining class, changes kept
 * with their characters (insertion sort: runs are short in real text, and a
 * long one is cut at 64 code points, past which the order stays as it was). */
static void order_pairs(chpair *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (p[i].c < 0x300 || aku_ccc(p[i].c) == 0) {
            i++;
            continue;
        }
        size_t r = i;
        while (i < n && p[i].c >= 0x300 && aku_ccc(p[i].c) != 0 && i - r < 64)
            i++;
        for (size_t k = r + 1; k < i; k++) {
            chpair x = p[k];
            unsigned cc = aku_ccc(x.c);
            size_t j = k;
            while (j > r && aku_ccc(p[j - 1].c) > cc) {
                p[j] = p[j - 1];
                j--;
            }
            p[j] = x;
        }
    }
}

/* Canonical composition over pairs (aku_compose_run's rule); returns the new
 * length. */
static size_t compose_pairs(chpair *p, size_t n)
{
    size_t w = 0, starter = SIZE_MAX;
    int last_cc = -1;
    for (size_t r = 0; r < n; r++) {
        chpair x = p[r];
        int cc = x.c < 0x300 ? 0 : (int)aku_ccc(x.c);
        if (starter != SIZE_MAX && x.c >= AKU_COMP_SECOND_MIN && (last_cc < 0 || last_cc < cc)) {
            uint32_t comp = aku_compose(p[starter].c, x.c);
            if (comp) {
                p[starter].c = comp;
                p[starter].chg += x.chg - 1;
                continue;
            }
        }
        if (cc == 0) {
            starter = w;
            last_cc = -1;
        } else {
            last_cc = cc;
        }
        p[w++] = x;
    }
    return w;
}

static akidb_status src_unicode(ak_offs *o, aku_nform form, const uint32_t *in, size_t n,
                                ak_cpbuf *out)
{
    bool compat = form == AKU_NFKD || form == AKU_NFKC;
    size_t bytes;
    if (ak_mul_overflow(n, AKU_KDECOMP_MAX * sizeof(chpair), &bytes))
        return ak_fail(AKIDB_ENOMEM, "text too large to tokenize with offsets");
    chpair *p = ak_malloc(bytes ? bytes : 1);
    if (!p)
        return ak_fail(AKIDB_ENOMEM, "out of memory normalising %zu code points", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t d[AKU_KDECOMP_MAX];
        int k = in[i] < 0xA0 ? (d[0] = in[i], 1)
                             : compat ? aku_kdecompose(in[i], d) : aku_decompose(in[i], d);
        for (int j = 0; j < k; j++)
            p[m++] = (chpair){d[j], j ? 1 : 0};
    }
    order_pairs(p, m);
    if (form == AKU_NFC || form == AKU_NFKC)
        m = compose_pairs(p, m);
    o->chg.n = 0;
    akidb_status st = ak_idbuf_reserve(&o->chg, m + 1);
    if (st == AKIDB_OK)
        st = ak_cpbuf_reserve(out, m);
    for (size_t i = 0; st == AKIDB_OK && i < m; i++) {
        out->v[out->n++] = p[i].c;
        o->chg.v[o->chg.n++] = p[i].chg;
    }
    ak_free(p);
    return st == AKIDB_OK ? changes_to_src(&o->chg, 0, n, &o->src) : st;
}

/* Strip and Prepend, from their output: Strip keeps a substring, Prepend
 * puts its text first. */
static akidb_status src_strip_prepend(ak_offs *o, const ak_normalizer *nz, const uint32_t *in,
                                      size_t n, ak_tok_scratch *scr, ak_cpbuf *out)
{
    akidb_status st = nz->kind->apply(nz, in, n, scr, out);
    if (st != AKIDB_OK || (st = ak_idbuf_reserve(&o->src, out->n + 1)) != AKIDB_OK)
        return st;
    size_t m = out->n;
    if (nz->kind == &ak_norm_prepend) {
        size_t pre = m - n;
        for (size_t i = 0; i < m; i++)
            o->src.v[o->src.n++] = (int32_t)(i < pre ? 0 : i - pre);
        return AKIDB_OK;
    }
    size_t a = 0;
    while (m && a + m <= n && memcmp(in + a, out->v, m * sizeof *in) != 0)
        a++;
    for (size_t i = 0; i < m; i++)
        o->src.v[o->src.n++] = (int32_t)(a + i);
    return AKIDB_OK;
}

/* One normalizer: output into out, source indices into o->src. */
static akidb_status norm_src(ak_offs *o, const ak_normalizer *nz, const uint32_t *in, size_t n,
                             ak_tok_scratch *scr, ak_cpbuf *out)
{
    const ak_norm_kind *k = nz->kind;
    o->src.n = 0;
    if (k == &ak_norm_bert || k == &ak_norm_lowercase || k == &ak_norm_strip_accents)
        return src_charwise(o, nz, in, n, scr, out);
    if (k == &ak_norm_nfd || k == &ak_norm_nfc || k == &ak_norm_nfkd || k == &ak_norm_nfkc) {
        aku_nform f = k == &ak_norm_nfd ? AKU_NFD : k == &ak_norm_nfc ? AKU_NFC
                    : k == &ak_norm_nfkd ? AKU_NFKD : AKU_NFKC;
        return src_unicode(o, f, in, n, out);
    }
    if (k == &ak_norm_strip || k == &ak_norm_prepend)
        return src_strip_prepend(o, nz, in, n, scr, out);
    if (k == &ak_norm_replace)
        return ak_norm_replace_src(nz, in, n, out, &o->src);
    if (k == &ak_norm_precompiled) {
        o->chg.n = 0;
        akidb_status st = ak_norm_precompiled_changes(nz, in, n, out, &o->chg);
        return st == AKIDB_OK ? changes_to_src(&o->chg, 0, n, &o->src) : st;
    }
    return ak_fail(AKIDB_EUNSUPPORTED, "token offsets: normalizer %s does not track them",
                   k->type);
}

akidb_status ak_offs_normalize(const akidb_tokenizer *tok, ak_offs *o, const uint32_t *in,
                               const ak_span *al, size_t n, size_t base, ak_tok_scratch *scr,
                               ak_cpbuf *a, ak_cpbuf *b, const ak_cpbuf **out,
                               const ak_span **out_al)
{
    if (n > (size_t)INT32_MAX)
        return ak_fail(AKIDB_ETOOLONG, "text too long for token offsets (%zu code points)", n);
    const uint32_t *src = in;
    const ak_span *sal = al;
    size_t len = n;
    akidb_status st = AKIDB_OK;
    a->n = 0;
    if (tok->n_norm == 0) {
        st = ak_cpbuf_push(a, in, n);
        if (st == AKIDB_OK && (st = ak_spanbuf_reserve(&o->na, n + 1)) == AKIDB_OK)
            memcpy(o->na.v, al, n * sizeof *al);
        o->na.n = n;
        *out = a;
        *out_al = o->na.v;
        return st;
    }
    ak_cpbuf *dst = a;
    ak_spanbuf *dal = &o->na;
    for (size_t i = 0; i < tok->n_norm && st == AKIDB_OK; i++) {
        dst = (i % 2 == 0) ? a : b;
        dal = (i % 2 == 0) ? &o->na : &o->nb;
        dst->n = 0;
        if ((st = norm_src(o, tok->norm[i], src, len, scr, dst)) != AKIDB_OK ||
            (st = ak_spanbuf_reserve(dal, dst->n + 1)) != AKIDB_OK)
            break;
        AK_ASSERT(o->src.n == dst->n);
        for (size_t j = 0; j < dst->n; j++) {
            int32_t s = o->src.v[j];
            dal->v[j] = s >= 0 && (size_t)s < len ? sal[s] : (ak_span){base, base};
        }
        dal->n = dst->n;
        src = dst->v;
        sal = dal->v;
        len = dst->n;
    }
    *out = dst;
    *out_al = dal->v;
    return st;
}

/* ---- pre-tokenizers ------------------------------------------------------------ */

/* GPT-2's byte character cp back to its byte, or -1. */
static int byte_of(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp < 0x100 || cp >= 0x100 + 68)
        return -1;
    unsigned k = cp - 0x100;
    for (unsigned b = 0; b < 256; b++) {
        bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (!printable && k-- == 0)
            return (int)b;
    }
    return -1;
}

typedef enum { M_IDENT, M_META, M_BYTE } pmode;

/* Does piece p[0..m) match s from index at (p[0] taken as prepended when
 * pre)?  On success writes the source index of each piece code point to
 * srcv and the end of the match to *end. */
static bool piece_at(const uint32_t *p, size_t m, const uint32_t *s, size_t n, size_t at,
                     pmode mode, uint32_t repl, bool pre, int32_t *srcv, size_t *end)
{
    size_t j = 0, i = at;
    if (pre) {
        if (at >= n)
            return false;
        srcv[j++] = (int32_t)at;
    }
    if (mode != M_BYTE) {
        for (; j < m; j++, i++) {
            if (i >= n)
                return false;
            if (p[j] != s[i] && !(mode == M_META && p[j] == repl && s[i] == ' '))
                return false;
            srcv[j] = (int32_t)i;
        }
        *end = i;
        return true;
    }
    while (j < m) {
        if (i >= n)
            return false;
        char u[4];
        int k = ak_utf8_encode(s[i], u);
        for (int q = 0; q < k; q++, j++)
            if (j >= m || byte_of(p[j]) != (unsigned char)u[q])
                return false;
            else
                srcv[j] = (int32_t)i;
        i++;
    }
    *end = i;
    return true;
}

akidb_status ak_offs_pretok(ak_offs *o, const ak_pretok *pt, const uint32_t *s,
                            const ak_span *al, size_t n, const ak_splits *next, size_t k0,
                            ak_spanbuf *nal)
{
    akidb_status st = ak_spanbuf_reserve(nal, next->text.n + 1);
    if (st != AKIDB_OK)
        return st;
    pmode mode = pt->kind == &ak_pretok_bytelevel ? M_BYTE
               : pt->kind == &ak_pretok_metaspace ? M_META : M_IDENT;
    uint32_t repl = mode == M_META ? ak_pretok_metaspace_repl(pt) : 0;
    uint32_t pre_c = mode == M_META ? repl : mode == M_BYTE ? 0x120 : 0;
    size_t cur = 0;
    for (size_t k = k0; k < next->n; k++) {
        const uint32_t *p = next->text.v + next->v[k].off;
        size_t m = next->v[k].len;
        ak_span *dst = nal->v + next->v[k].off;
        if (m == 0)
            continue;
        if ((st = ak_idbuf_reserve(&o->src, m)) != AKIDB_OK)
            return st;
        int32_t *srcv = o->src.v;
        size_t end = cur;
        bool found = false;
        for (size_t at = cur; at <= n && !found; at++) {
            found = piece_at(p, m, s, n, at, mode, repl, false, srcv, &end);
            if (!found && k == k0 && mode != M_IDENT && p[0] == pre_c && at == cur)
                found = piece_at(p, m, s, n, at, mode, repl, true, srcv, &end);
        }
        if (!found) {   /* not from the input: the range of where it would be */
            for (size_t j = 0; j < m; j++)
                srcv[j] = (int32_t)(cur < n ? cur : n - 1);
            end = cur;
        }
        for (size_t j = 0; j < m; j++)
            dst[j] = n ? al[srcv[j]] : (ak_span){0, 0};
        cur = end;
    }
    nal->n = next->text.n;
    return AKIDB_OK;
}

/* ---- models ---------------------------------------------------------------------- */

/* Does t[0..len) match the word's bytes at b, ending on a character
 * boundary of the word? */
static bool bytes_at(const ak_cpbuf *wb, size_t b, const char *t, size_t len)
{
    if (len == 0 || b + len > wb->n || (b + len < wb->n && (wb->v[b + len] & 0xC0) == 0x80))
        return false;
    for (size_t i = 0; i < len; i++)
        if (wb->v[b + i] != (unsigned char)t[i])
            return false;
    return true;
}

static bool cont_byte(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Bytes token t covers at b, or 0 when it does not fit there. */
static size_t token_len_at(const ak_cpbuf *wb, size_t b, const char *t)
{
    if (!t)
        return 0;
    size_t L = strlen(t);
    if (bytes_at(wb, b, t, L))
        return L;
    if (L == 6 && t[0] == '<' && t[1] == '0' && t[2] == 'x' && t[5] == '>' && hexv(t[3]) >= 0 &&
        hexv(t[4]) >= 0 && b < wb->n && wb->v[b] == (uint32_t)(hexv(t[3]) * 16 + hexv(t[4])))
        return 1;
    for (size_t skip = 0; skip < L; skip++)
        for (size_t trim = 0; skip + trim < L; trim++)
            if ((skip || trim) && !cont_byte(t[skip]) && (!trim || !cont_byte(t[L - trim])) &&
                bytes_at(wb, b, t + skip, L - skip - trim))
                return L - skip - trim;
    return 0;
}

akidb_status ak_offs_model(ak_offs *o, const ak_tok_model *m, const uint32_t *w,
                           const ak_span *al, size_t n, const int32_t *ids, size_t nids)
{
    ak_cpbuf *wb = &o->bytes;
    ak_idbuf *own = &o->owner;
    wb->n = own->n = 0;
    akidb_status st = ak_cpbuf_reserve(wb, 4 * n + 1);
    if (st == AKIDB_OK)
        st = ak_idbuf_reserve(own, 4 * n + 1);
    if (st == AKIDB_OK)
        st = ak_spanbuf_reserve(&o->spans, o->spans.n + nids);
    if (st != AKIDB_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        int k = ak_utf8_encode(w[i], u);
        for (int q = 0; q < k; q++) {
            wb->v[wb->n++] = (unsigned char)u[q];
            own->v[own->n++] = (int32_t)i;
        }
    }
    size_t nb = wb->n, b = 0;
    for (size_t t = 0; t < nids; t++) {
        int32_t id = ids[t];
        const char *ts = id >= 0 && (size_t)id < m->n_ids ? m->id_tok[id] : NULL;
        bool unk = id == m->unk_id || !ts;
        size_t len = unk ? 0 : token_len_at(wb, b, ts);
        if (unk && nids == 1) {
            len = nb - b;
        } else if (unk || len == 0) {
            /* up to where the next token fits (one character when that one
             * is unknown too), else the rest of the word */
            size_t e = b < nb ? b + 1 : b;
            while (e < nb && own->v[e] == own->v[b])
                e++;
            const char *nx = t + 1 < nids && ids[t + 1] >= 0 &&
                                     (size_t)ids[t + 1] < m->n_ids && ids[t + 1] != m->unk_id
                                 ? m->id_tok[ids[t + 1]] : NULL;
            if (t + 1 == nids)
                e = nb;
            else if (nx)
                while (e < nb && !token_len_at(wb, e, nx))
                    e++;
            len = e - b;
        }
        size_t e = b + len;
        ak_span sp;
        if (nb == 0)
            sp = (ak_span){0, 0};
        else if (len == 0)
            sp = (ak_span){al[own->v[b < nb ? b : nb - 1]].s, al[own->v[b < nb ? b : nb - 1]].s};
        else
            sp = (ak_span){al[own->v[b]].s, al[own->v[e - 1]].e};
        o->spans.v[o->spans.n++] = sp;
        b = e;
    }
    return AKIDB_OK;
}
