/*
 * json_scan.c - the validating scanner that finds model.vocab and
 * model.merges in a tokenizer.json, and the cursor that reads them (see
 * json_scan.h for why).
 *
 * The scanner accepts exactly what jansson's json_loadb accepts with flags 0
 * (duplicate keys aside, which the loader leaves to jansson on the rest of
 * the document): RFC 8259 grammar, whitespace " \t\n\r", strings of valid
 * UTF-8 (no overlongs, no surrogates, at most U+10FFFF) with the escapes
 * \" \\ \/ \b \f \n \r \t \uXXXX, a \u escape of a high surrogate followed
 * by one of a low surrogate, no \u0000, integers that fit a long long, reals
 * that do not overflow a double, values at most 2048 deep, an object or
 * array at the top and nothing but whitespace after it - and one quirk of
 * jansson's lexer: a NUL byte right after a number or literal is skipped.
 * fuzz_tok_scan and test_tok_json check the two against each other.  It is
 * iterative
 * (an explicit stack) and looks at every byte once; strings are searched 16
 * bytes at a time for the bytes that need a look ('"', '\\', controls,
 * non-ASCII).
 */
#include "json_scan.h"

#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define IS_WS(c) ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')
#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10u)

#if defined(__SSE2__)
/* Bit k set when p[k] is whitespace (and, with nul, when it is NUL). */
static inline unsigned ws_mask16(const unsigned char *p, bool nul)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')),
                                          _mm_cmpeq_epi8(x, _mm_set1_epi8('\n'))),
                             _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\r')),
                                          _mm_cmpeq_epi8(x, _mm_set1_epi8('\t'))));
    if (nul)
        m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_setzero_si128()));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Index of the first byte of s[i..n) that is not whitespace (nor NUL, with
 * nul).  Pretty-printed files are more than half whitespace (Gemma 3's:
 * 19 of 33 MB), in runs of a newline and indentation. */
static inline size_t skip_space(const unsigned char *s, size_t n, size_t i, bool nul)
{
#define IS_SP(c) (IS_WS(c) || (nul && (c) == 0))
    if (i >= n || !IS_SP(s[i]))
        return i;
#if defined(__SSE2__)
    while (i + 16 <= n) {
        unsigned m = ~ws_mask16(s + i, nul) & 0xFFFFu;
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < n && IS_SP(s[i]))
        i++;
    return i;
#undef IS_SP
}

static size_t skip_ws(const unsigned char *s, size_t n, size_t i)
{
    return skip_space(s, n, i, false);
}

/* Length of the valid UTF-8 sequence at p (avail bytes readable), 0 if
 * invalid (jansson's utf8_check_first / utf8_check_full rules). */
static int utf8_seq(const unsigned char *p, size_t avail)
{
    unsigned c = p[0];
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0;                       /* overlong; surrogate */
        return 3;
    }
    if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
        (p[3] & 0xC0) != 0x80)
        return 0;
    if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
        return 0;                           /* overlong; above U+10FFFF */
    return 4;
}

static int hex_val(unsigned c)
{
    if (IS_DIGIT(c))
        return (int)(c - '0');
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : -1;
}

/* The 4 hex digits at p (avail bytes readable) as a number, -1 if not. */
static long hex4(const unsigned char *p, size_t avail)
{
    if (avail < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_val(p[k]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Index of the first byte of s[i..n) that is '"', '\\', below 0x20 or
 * above 0x7F (n when none). */
static size_t find_special(const unsigned char *s, size_t n, size_t i)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
    while (i + 16 <= n) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
                                 _mm_cmplt_epi8(x, sp));   /* signed: also >= 0x80 */
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < n && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 && s[i] < 0x80)
        i++;
    return i;
}

/* ---- line and column ------------------------------------------------------ */

void ak_js_line_col(const char *text, size_t len, size_t off, int *line, int *col)
{
    const unsigned char *s = (const unsigned char *)text;
    if (off > len)
        off = len;
    long ln = 1, cl = 1;
    for (size_t i = 0; i < off; i++) {
        if (s[i] == '\n') {
            ln++;
            cl = 1;
        } else if ((s[i] & 0xC0) != 0x80) {
            cl++;
        }
    }
    *line = ln > INT32_MAX ? INT32_MAX : (int)ln;
    *col = cl > INT32_MAX ? INT32_MAX : (int)cl;
}

/* ---- the scanner ------------------------------------------------------------ */

typedef struct scanner {
    const unsigned char *s;
    size_t n;
    const char *origin;
    ak_tok_spans *out;
    size_t depth;                        /* open containers                   */
    bool key_model;                      /* the last key at depth 1: "model"  */
    bool in_model;                       /* inside the model object (depth 2) */
    ak_js_span *target;                  /* the last key in model names it    */
    ak_js_span *span;                    /* the span being scanned, or NULL   */
    uint32_t shape;                      /* shape of the current element      */
    size_t elem_n;                       /* its elements, when an array       */
    unsigned char stack[AK_JS_MAX_DEPTH];
} scanner;

/* Depth of the values directly inside the span container. */
#define SPAN_DEPTH 3

static akidb_status scan_fail(const scanner *sc, size_t at, const char *what)
{
    int line, col;
    ak_js_line_col((const char *)sc->s, sc->n, at, &line, &col);
    return ak_fail(AKIDB_EFORMAT, "%s: malformed JSON at line %d column %d: %s", sc->origin,
                   line, col, what);
}

/* Checks the escape whose backslash is at s[*pi] and moves past it. */
static akidb_status scan_escape(const scanner *sc, size_t *pi)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, i = *pi + 1;
    if (i >= n)
        return scan_fail(sc, n, "premature end of input in a string");
    unsigned c = s[i];
    if (c != 'u') {
        if (!strchr("\"\\/bfnrt", (int)c) || c == 0)
            return scan_fail(sc, *pi, "invalid escape");
        *pi = i + 1;
        return AKIDB_OK;
    }
    long cp = hex4(s + i + 1, n - i - 1);
    if (cp < 0)
        return scan_fail(sc, *pi, "invalid \\u escape");
    if (cp == 0)
        return scan_fail(sc, *pi, "\\u0000 is not allowed");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return scan_fail(sc, *pi, "invalid Unicode escape (a lone low surrogate)");
    i += 5;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long lo = i + 1 < n && s[i] == '\\' && s[i + 1] == 'u' ? hex4(s + i + 2, n - i - 2) : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return scan_fail(sc, *pi, "invalid Unicode escape (a high surrogate without "
                             "its low surrogate)");
        i += 6;
    }
    *pi = i;
    return AKIDB_OK;
}

/* Checks the string whose quote is at s[*pi] and moves past it; *esc tells
 * whether it has escapes. */
static akidb_status scan_string(const scanner *sc, size_t *pi, bool *esc)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, i = *pi + 1;
    akidb_status st;
    *esc = false;
    for (;;) {
        i = find_special(s, n, i);
        if (i >= n)
            return scan_fail(sc, n, "premature end of input in a string");
        unsigned c = s[i];
        if (c == '"')
            break;
        if (c == '\\') {
            *esc = true;
            if ((st = scan_escape(sc, &i)) != AKIDB_OK)
                return st;
        } else if (c < 0x20) {
            return scan_fail(sc, i, "control character in a string");
        } else {
            do {                            /* a run of non-ASCII characters */
                int k = utf8_seq(s + i, n - i);
                if (!k)
                    return scan_fail(sc, i, "invalid UTF-8");
                i += (size_t)k;
            } while (i < n && s[i] >= 0x80);
        }
    }
    if (sc->span)
        sc->span->str_bytes += i - *pi - 1;
    *pi = i + 1;
    return AKIDB_OK;
}

/* A real overflows a double: decided by the position of its first non-zero
 * digit and its exponent, and by strtod near the limit. */
static bool real_overflows(const unsigned char *s, size_t b, size_t e)
{
    size_t i = b + (s[b] == '-');
    long long lead = LLONG_MIN;     /* power of ten of the first non-zero digit */
    long long intdigits = 0, exp10 = 0;
    for (; i < e && IS_DIGIT(s[i]); i++, intdigits++)
        if (lead == LLONG_MIN && s[i] != '0')
            lead = intdigits;       /* for now: its index */
    if (lead != LLONG_MIN)
        lead = intdigits - 1 - lead;
    if (i < e && s[i] == '.')
        for (long long k = 1; ++i < e && IS_DIGIT(s[i]); k++)
            if (lead == LLONG_MIN && s[i] != '0')
                lead = -k;
    if (lead == LLONG_MIN)
        return false;               /* zero */
    if (i < e && (s[i] == 'e' || s[i] == 'E')) {
        bool neg = s[++i] == '-';
        if (s[i] == '-' || s[i] == '+')
            i++;
        for (; i < e; i++)
            if (exp10 < 1000000000000LL)
                exp10 = exp10 * 10 + (s[i] - '0');
        if (neg)
            exp10 = -exp10;
    }
    long long p = lead + exp10;
    if (p <= 307)
        return false;
    if (p >= 309)
        return true;
    return isinf(ak_js_strtod((const char *)s + b, e - b));
}

/* Checks the number at s[*pi] and moves past it. */
static akidb_status scan_number(const scanner *sc, size_t *pi)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, b = *pi, i = b + (s[b] == '-');
    if (i >= n || !IS_DIGIT(s[i]))
        return scan_fail(sc, b, "invalid number");
    size_t d0 = i;
    if (s[i] == '0') {
        if (++i < n && IS_DIGIT(s[i]))
            return scan_fail(sc, b, "invalid number (a leading zero)");
    } else {
        while (i < n && IS_DIGIT(s[i]))
            i++;
    }
    size_t digits = i - d0;
    bool real = false;
    if (i < n && s[i] == '.') {
        real = true;
        if (++i >= n || !IS_DIGIT(s[i]))
            return scan_fail(sc, b, "invalid number (no digit after the point)");
        while (i < n && IS_DIGIT(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        real = true;
        if (++i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !IS_DIGIT(s[i]))
            return scan_fail(sc, b, "invalid number (no digit in the exponent)");
        while (i < n && IS_DIGIT(s[i]))
            i++;
    }
    if (i >= n)
        return scan_fail(sc, n, "premature end of input");
    if (!real && digits >= 19) {
        const char *lim = s[b] == '-' ? "9223372036854775808" : "9223372036854775807";
        if (digits > 19 || memcmp(s + d0, lim, 19) > 0)
            return scan_fail(sc, b, s[b] == '-' ? "too big negative integer"
                                                : "too big integer");
    }
    if (real && real_overflows(s, b, i))
        return scan_fail(sc, b, "real number overflow");
    *pi = i;
    return AKIDB_OK;
}

static int type_of(unsigned c)
{
    switch (c) {
    case '"': return AK_JS_STRING;
    case '{': return AK_JS_OBJECT;
    case '[': return AK_JS_ARRAY;
    case 't':
    case 'f': return AK_JS_BOOL;
    case 'n': return AK_JS_NULL;
    default: return AK_JS_NUMBER;
    }
}

/* The key s[b+1 .. e-1) (quotes at b and e-1) equals want (ASCII). */
static bool key_is(const unsigned char *s, size_t b, size_t e, bool esc, const char *want)
{
    size_t wl = strlen(want), n = e - b - 2;
    if (!esc)
        return n == wl && memcmp(s + b + 1, want, wl) == 0;
    char buf[80];                       /* decoding needs n + 4 bytes */
    if (n > 64)
        return false;
    ak_js_cur c = {(const char *)s + b, (const char *)s + e, (const char *)s, e};
    ak_js_buf tmp = {buf, 0, sizeof buf};
    ak_js_str k;
    if (ak_js_string(&c, &tmp, &k) != AKIDB_OK)   /* cannot grow: n <= cap */
        return false;
    return k.n == wl && memcmp(k.s, want, wl) == 0;
}

/* Reads the key at s[*pi] (and the colon after it) of an object at the
 * current depth. */
static akidb_status scan_key(scanner *sc, size_t *pi)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, b = *pi;
    bool esc;
    akidb_status st;
    if (b >= n || s[b] != '"')
        return scan_fail(sc, b, b >= n ? "premature end of input" : "string or '}' expected");
    if ((st = scan_string(sc, pi, &esc)) != AKIDB_OK)
        return st;
    if (sc->depth == 1) {
        sc->key_model = key_is(s, b, *pi, esc, "model");
    } else if (sc->depth == 2 && sc->in_model) {
        sc->target = key_is(s, b, *pi, esc, "vocab")    ? &sc->out->vocab
                     : key_is(s, b, *pi, esc, "merges") ? &sc->out->merges
                                                        : NULL;
    } else if (sc->span && sc->depth == SPAN_DEPTH) {
        sc->span->count++;
    }
    size_t i = skip_ws(s, n, *pi);
    if (i >= n || s[i] != ':')
        return scan_fail(sc, i, i >= n ? "premature end of input" : "':' expected");
    *pi = skip_ws(s, n, i + 1);
    return AKIDB_OK;
}

/* A value of type byte c begins at s[i], inside sc->depth containers. */
static void value_begin(scanner *sc, size_t i, unsigned c)
{
    size_t d = sc->depth;
    if (d == 1 && sc->key_model && c == '{' && sc->stack[0] == '{') {
        sc->in_model = true;
        sc->target = NULL;
    } else if (d == 2 && sc->in_model && sc->target && (c == '{' || c == '[')) {
        sc->span = sc->target;
        *sc->span = (ak_js_span){.off = i, .open = (char)c, .other = SIZE_MAX};
    } else if (sc->span && sc->span->open == '[') {
        if (d == SPAN_DEPTH) {
            sc->span->count++;
            sc->shape = (uint32_t)type_of(c);
            sc->elem_n = 0;
        } else if (d == SPAN_DEPTH + 1 && (sc->shape & 15) == AK_JS_ARRAY) {
            if (sc->elem_n < 2)
                sc->shape |= (uint32_t)type_of(c) << (8 + 4 * sc->elem_n);
            sc->elem_n++;
        }
    }
}

/* A value ended at s[i]; sc->depth containers remain open. */
static void value_end(scanner *sc, size_t i)
{
    size_t d = sc->depth;
    ak_js_span *sp = sc->span;
    if (!sp) {
        if (d == 1)
            sc->in_model = false;
        return;
    }
    if (d == SPAN_DEPTH && sp->open == '[') {
        uint32_t shape = sc->shape;
        if ((shape & 15) == AK_JS_ARRAY)
            shape |= (uint32_t)(sc->elem_n < 3 ? sc->elem_n : 3) << 4;
        if (sp->count == 1)
            sp->shape0 = shape;
        else if (shape != sp->shape0 && sp->other == SIZE_MAX)
            sp->other = sp->count - 1;
    } else if (d == SPAN_DEPTH - 1) {
        sp->len = i - sp->off;
        if (sp->other == SIZE_MAX)
            sp->other = sp->count;
        sc->span = NULL;
    }
}

/* Checks the scalar at s[*pi] (string, number, literal) and moves past it. */
static akidb_status scan_scalar(scanner *sc, size_t *pi, unsigned c)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, i = *pi;
    if (c == '"') {
        bool esc;
        return scan_string(sc, pi, &esc);
    }
    akidb_status st = AKIDB_EFORMAT;
    if (c == '-' || IS_DIGIT(c)) {
        if ((st = scan_number(sc, pi)) != AKIDB_OK)
            return st;
    } else {
        static const char *const lits[] = {"true", "false", "null"};
        for (int k = 0; k < 3 && st != AKIDB_OK; k++) {
            size_t l = strlen(lits[k]);
            if (n - i >= l && memcmp(s + i, lits[k], l) == 0 &&
                (n - i == l || !((s[i + l] | 0x20) >= 'a' && (s[i + l] | 0x20) <= 'z'))) {
                *pi = i + l;
                st = AKIDB_OK;
            }
        }
        if (st != AKIDB_OK)
            return scan_fail(sc, i, "invalid token");
    }
    /* jansson reads one character past a number or literal and puts it
     * back; a NUL put back is lost, so one NUL right after such a token is
     * skipped (the cursor takes NUL for whitespace) */
    if (*pi < n && s[*pi] == '\0')
        (*pi)++;
    return AKIDB_OK;
}

/* After a value: closes the containers whose brackets follow; *done when the
 * document ended, else *pi is at the next value. */
static akidb_status after_value(scanner *sc, size_t *pi, bool *done)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, i = *pi;
    *done = false;
    for (;;) {
        value_end(sc, i);
        i = skip_ws(s, n, i);
        if (sc->depth == 0) {
            if (i != n)
                return scan_fail(sc, i, "end of file expected");
            *done = true;
            return AKIDB_OK;
        }
        if (i >= n)
            return scan_fail(sc, n, "premature end of input");
        unsigned char top = sc->stack[sc->depth - 1];
        if (s[i] == ',') {
            *pi = skip_ws(s, n, i + 1);
            return top == '{' ? scan_key(sc, pi) : AKIDB_OK;
        }
        if (s[i] != (top == '{' ? '}' : ']'))
            return scan_fail(sc, i, top == '{' ? "',' or '}' expected" : "',' or ']' expected");
        i++;
        sc->depth--;
    }
}

static akidb_status scan_doc(scanner *sc)
{
    const unsigned char *s = sc->s;
    size_t n = sc->n, i = skip_ws(s, n, 0);
    akidb_status st;
    if (i >= n || (s[i] != '{' && s[i] != '['))
        return scan_fail(sc, i, "'[' or '{' expected");
    for (;;) {
        if (i >= n)
            return scan_fail(sc, n, "premature end of input");
        unsigned c = s[i];
        /* jansson counts every value, scalars too: a value inside 2048
         * containers is one too deep */
        if (sc->depth >= AK_JS_MAX_DEPTH)
            return scan_fail(sc, i, "maximum parsing depth reached");
        value_begin(sc, i, c);
        if (c == '{' || c == '[') {
            sc->stack[sc->depth++] = (unsigned char)c;
            i = skip_ws(s, n, i + 1);
            if (i < n && s[i] == (c == '{' ? '}' : ']')) {
                i++;
                sc->depth--;
            } else if (c == '{') {
                if ((st = scan_key(sc, &i)) != AKIDB_OK)
                    return st;
                continue;
            } else {
                continue;
            }
        } else if ((st = scan_scalar(sc, &i, c)) != AKIDB_OK) {
            return st;
        }
        bool done;
        if ((st = after_value(sc, &i, &done)) != AKIDB_OK || done)
            return st;
    }
}

akidb_status ak_js_scan_tokenizer(const char *text, size_t len, const char *origin,
                                  ak_tok_spans *out)
{
    AK_ASSERT(text && origin && out);
    memset(out, 0, sizeof *out);
    out->text = text;
    out->len = len;
    scanner *sc = ak_malloc(sizeof *sc);
    if (!sc)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory parsing JSON", origin);
    memset(sc, 0, offsetof(scanner, stack));
    sc->s = (const unsigned char *)text;
    sc->n = len;
    sc->origin = origin;
    sc->out = out;
    akidb_status st = scan_doc(sc);
    ak_free(sc);
    if (st != AKIDB_OK) {
        memset(&out->vocab, 0, sizeof out->vocab);
        memset(&out->merges, 0, sizeof out->merges);
    }
    return st;
}

/* ---- numbers ---------------------------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* strtod in the "C" locale of the number s[0..n), which is followed in
 * memory by a byte that cannot continue it. */
static double strtod_c(const char *s)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale)
        return strtod_l(s, NULL, c_locale);
    return strtod(s, NULL);
}

double ak_js_strtod(const char *s, size_t n)
{
    /* Clinger's fast path: at most 19 significant digits that make an
     * integer below 2^53, scaled by an exact power of ten (<= 10^22), is
     * one correctly rounded multiplication or division. */
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    i += neg;
    uint64_t w = 0;
    int sig = 0;
    long frac = 0;
    for (; i < n && IS_DIGIT(s[i]); i++)
        if (w || s[i] != '0') {
            if (++sig > 19)
                goto slow;
            w = w * 10 + (uint64_t)(s[i] - '0');
        }
    if (i < n && s[i] == '.')
        for (i++; i < n && IS_DIGIT(s[i]); i++) {
            frac++;
            if (w || s[i] != '0') {
                if (++sig > 19)
                    goto slow;
                w = w * 10 + (uint64_t)(s[i] - '0');
            }
        }
    long e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = s[++i] == '-';
        if (s[i] == '-' || s[i] == '+')
            i++;
        for (; i < n; i++) {
            e = e * 10 + (s[i] - '0');
            if (e > 100000)
                goto slow;
        }
        if (eneg)
            e = -e;
    }
    e -= frac;
    if (w <= ((uint64_t)1 << 53) && e >= -22 && e <= 22) {
        double d = (double)w;
        d = e < 0 ? d / p10[-e] : d * p10[e];
        return neg ? -d : d;
    }
slow:;
    char buf[96];
    if (n < sizeof buf) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        return strtod_c(buf);
    }
    return strtod_c(s);
}

/* ---- the cursor -------------------------------------------------------------- */

void ak_js_buf_free(ak_js_buf *b)
{
    ak_free(b->v);
    memset(b, 0, sizeof *b);
}

/* Whitespace, and the NUL that may follow a number or literal (see
 * scan_scalar). */
#define IS_WS0(c) (IS_WS(c) || (c) == '\0')

static const char *cur_ws(const char *p, const char *end)
{
    return p + skip_space((const unsigned char *)p, (size_t)(end - p), 0, true);
}

void ak_js_open(ak_js_cur *c, const ak_tok_spans *t, const ak_js_span *sp)
{
    AK_ASSERT(sp->len >= 2 && sp->off + sp->len <= t->len);
    c->p = t->text + sp->off + 1;
    c->end = t->text + sp->off + sp->len;
    c->text = t->text;
    c->text_len = t->len;
}

bool ak_js_more(ak_js_cur *c)
{
    const char *p = cur_ws(c->p, c->end);
    if (p < c->end && *p == ',')
        p = cur_ws(p + 1, c->end);
    if (p >= c->end || *p == ']' || *p == '}') {
        c->p = p < c->end ? p + 1 : c->end;
        return false;
    }
    c->p = p;
    return true;
}

int ak_js_type(const ak_js_cur *c)
{
    return c->p < c->end ? type_of((unsigned char)*c->p) : AK_JS_NONE;
}

/* End of the number or literal at p. */
static const char *token_end(const char *p, const char *end)
{
    while (p < end && !IS_WS0((unsigned char)*p) && *p != ',' && *p != ']' && *p != '}')
        p++;
    return p;
}

bool ak_js_is_integer(const ak_js_cur *c)
{
    if (ak_js_type(c) != AK_JS_NUMBER)
        return false;
    for (const char *p = c->p, *e = token_end(c->p, c->end); p < e; p++)
        if (*p == '.' || *p == 'e' || *p == 'E')
            return false;
    return true;
}

const char *ak_js_type_name(const ak_js_cur *c)
{
    switch (ak_js_type(c)) {
    case AK_JS_OBJECT: return "an object";
    case AK_JS_ARRAY: return "an array";
    case AK_JS_STRING: return "a string";
    case AK_JS_NUMBER: return ak_js_is_integer(c) ? "an integer" : "a number";
    case AK_JS_BOOL: return "a boolean";
    case AK_JS_NULL: return "null";
    default: return "nothing";
    }
}

/* The closing quote of the string whose contents start at p; *esc tells
 * whether it has escapes. */
static const char *string_end(const char *p, const char *end, bool *esc)
{
    *esc = false;
    for (;;) {
#if defined(__SSE2__)
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
        while (p + 16 <= end) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
            unsigned mask = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)));
            if (mask) {
                p += __builtin_ctz(mask);
                break;
            }
            p += 16;
        }
#endif
        while (p < end && *p != '"' && *p != '\\')
            p++;
        if (p >= end || *p == '"')
            return p;
        *esc = true;
        p += p + 1 < end ? 2 : 1;        /* an escape: \" does not end it */
    }
}

static unsigned cur_hex4(const char *p, const char *end)
{
    long v = hex4((const unsigned char *)p, (size_t)(end - p));
    return v < 0 ? 0xFFFD : (unsigned)v;
}

/* Decodes the escaped string contents p..q into out (room for q - p bytes);
 * returns the decoded length. */
static size_t decode(const char *p, const char *q, char *out)
{
    size_t k = 0;
    while (p < q) {
        if (*p != '\\') {
            out[k++] = *p++;
            continue;
        }
        if (++p >= q)
            break;
        char e = *p++;
        switch (e) {
        case 'b': out[k++] = '\b'; break;
        case 'f': out[k++] = '\f'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 't': out[k++] = '\t'; break;
        case 'u': {
            unsigned cp = cur_hex4(p, q);
            p += q - p < 4 ? q - p : 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && q - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = cur_hex4(p + 2, q);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF)
                cp = 0xFFFD;                /* not in a scanned span */
            k += (size_t)ak_utf8_encode(cp, out + k);
            break;
        }
        default: out[k++] = e; break;       /* \" \\ \/ */
        }
    }
    return k;
}

akidb_status ak_js_string(ak_js_cur *c, ak_js_buf *b, ak_js_str *out)
{
    AK_ASSERT(c->p < c->end && *c->p == '"');
    bool esc;
    const char *p = c->p + 1, *q = string_end(p, c->end, &esc);
    c->p = q < c->end ? q + 1 : c->end;
    if (!esc) {
        *out = (ak_js_str){p, (size_t)(q - p), SIZE_MAX};
        return AKIDB_OK;
    }
    size_t need = (size_t)(q - p) + 4;   /* a bad \u in an unscanned text: 3 -> 3 */
    if (b->cap - b->n < need) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc - b->n < need)
            nc *= 2;
        char *nv = ak_realloc(b->v, nc);
        if (!nv)
            return ak_fail(AKIDB_ENOMEM, "out of memory reading a JSON string");
        b->v = nv;
        b->cap = nc;
    }
    size_t off = b->n;
    const char *bs = memchr(p, '\\', (size_t)(q - p));
    memcpy(b->v + off, p, (size_t)(bs - p));
    size_t k = (size_t)(bs - p) + decode(bs, q, b->v + off + (bs - p));
    b->n = off + k;
    *out = (ak_js_str){b->v + off, k, off};
    return AKIDB_OK;
}

akidb_status ak_js_key(ak_js_cur *c, ak_js_buf *b, ak_js_str *out)
{
    akidb_status st = ak_js_string(c, b, out);
    if (st != AKIDB_OK)
        return st;
    const char *p = cur_ws(c->p, c->end);
    if (p < c->end && *p == ':')
        p++;
    c->p = cur_ws(p, c->end);
    return AKIDB_OK;
}

long long ak_js_integer(ak_js_cur *c)
{
    const char *p = c->p, *e = token_end(p, c->end);
    bool neg = p < e && *p == '-';
    unsigned long long v = 0;
    for (p += neg; p < e && IS_DIGIT(*p); p++)
        v = v * 10 + (unsigned)(*p - '0');  /* within range: the scanner checked */
    c->p = e;
    return neg ? (long long)(0 - v) : (long long)v;
}

double ak_js_number(ak_js_cur *c)
{
    if (ak_js_is_integer(c))
        return (double)ak_js_integer(c);
    const char *p = c->p, *e = token_end(p, c->end);
    c->p = e;
    return ak_js_strtod(p, (size_t)(e - p));
}

void ak_js_skip(ak_js_cur *c)
{
    const char *p = c->p, *end = c->end;
    size_t depth = 0;
    do {
        p = cur_ws(p, end);
        if (p >= end)
            break;
        char ch = *p;
        if (ch == '"') {
            bool esc;
            p = string_end(p + 1, end, &esc);
            p += p < end;
        } else if (ch == '{' || ch == '[') {
            depth++;
            p++;
        } else if (ch == '}' || ch == ']') {
            if (depth)
                depth--;
            p++;
        } else if (ch == ',' || ch == ':') {
            p++;
        } else {
            p = token_end(p, end);
        }
    } while (depth);
    c->p = p;
}

void ak_js_enter(ak_js_cur *c)
{
    if (c->p < c->end)
        c->p++;
}

void ak_js_where(const ak_js_cur *c, int *line, int *col)
{
    ak_js_line_col(c->text, c->text_len, (size_t)(c->p - c->text), line, col);
}
