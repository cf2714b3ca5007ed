/*
 * regex.c - tokenizer.json regular expressions on PCRE2 (see regex.h).
 *
 * The Rust library compiles every Split / Replace pattern with Oniguruma
 * (onig crate, default Ruby-like syntax, no options, UTF-8).  PCRE2 is
 * compiled with UTF, UCP and MULTILINE and LF as the only newline, and the
 * pattern is rewritten where Oniguruma's meaning differs (each rewrite was
 * checked code point by code point against the Rust library):
 *
 *   \s \S   White_Space; PCRE2's \s also holds U+180E, so \s becomes an
 *           explicit class (inside a class too) and \S its complement
 *           (inside a class: \S plus U+180E).
 *   \w \W   Alphabetic, Mark, Decimal_Number, Connector_Punctuation (PCRE2:
 *           Letter, Number, '_'); outside a class Oniguruma adds ² ³ ¹ ¼ ½ ¾.
 *           \b and \B become lookarounds over that class.
 *   \h \H   a hexadecimal digit (PCRE2: horizontal space).
 *   \p{Han}  a script name is the Script property in Oniguruma, but
 *           Script_Extensions in PCRE2 >= 10.40: written \p{sc:Han}.
 *   \uHHHH  Oniguruma's code point escape; PCRE2 spells it \x{HHHH}.
 *   {,n}    {0,n}; PCRE2 10.42 reads it as literal text.
 *   (?m)    Ruby syntax: '.' matches newline, which is PCRE2's (?s).
 *   ^ $     line anchors in Ruby syntax: PCRE2_MULTILINE.
 *   [[:digit:]] [[:space:]] [[:xdigit:]]  written out (Oniguruma's Unicode
 *           meaning).
 *
 * Refused (EUNSUPPORTED), because PCRE2 would silently read them as other
 * text or a different set: class intersection `&&`, nested classes
 * `[a[b]]`, \W and \H inside a class, and the other POSIX brackets
 * (Oniguruma's [[:alpha:]], [[:punct:]], [[:upper:]] ... differ from
 * PCRE2's).  Left as they are: multi-character case folds under (?i)
 * (Oniguruma lets "ss" match "ß"), and the Unicode version of the property
 * tables (PCRE2 10.42: Unicode 14; the Rust library's Oniguruma: 16), so
 * characters assigned after 14.0 may be classed differently.
 *
 * ak_regex_each reproduces the onig crate's FindMatches iterator, including
 * its rule for empty matches (regex.h).  The subject's validity is checked
 * once per call and the searches skip PCRE2's own check, which would make
 * every search walk the rest of the text; so a call stays linear.
 */
#define PCRE2_CODE_UNIT_WIDTH 32
#include "regex.h"

#include <pcre2.h>
#include <string.h>

struct ak_regex {
    pcre2_code *code;
    pcre2_general_context *gctx;
    char *source;
};

static void *px_malloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return ak_malloc(n);
}

static void px_free(void *p, void *data)
{
    (void)data;
    ak_free(p);
}

/* ---- pattern rewriting --------------------------------------------------- */

typedef struct xlat {
    uint32_t *v;      /* rewritten pattern                                   */
    size_t *map;      /* v[i] came from pattern code point map[i]            */
    size_t n, cap;
    size_t at;        /* pattern index being rewritten                       */
    pcre2_compile_context *cctx;   /* for probing property names            */
} xlat;

static bool x_put(xlat *x, uint32_t c)
{
    if (x->n == x->cap) {
        size_t nc = x->cap ? x->cap * 2 : 64, bv, bm;
        if (ak_mul_overflow(nc, sizeof *x->v, &bv) || ak_mul_overflow(nc, sizeof *x->map, &bm))
            return false;
        uint32_t *nv = ak_realloc(x->v, bv);
        if (!nv)
            return false;
        x->v = nv;
        size_t *nm = ak_realloc(x->map, bm);
        if (!nm)
            return false;
        x->map = nm;
        x->cap = nc;
    }
    x->v[x->n] = c;
    x->map[x->n] = x->at;
    x->n++;
    return true;
}

static bool x_str(xlat *x, const char *s)
{
    for (; *s; s++)
        if (!x_put(x, (unsigned char)*s))
            return false;
    return true;
}

/* Oniguruma's \w: Alphabetic, Mark, Decimal_Number, Connector_Punctuation;
 * outside a bracketed class (and for \b) also the Latin-1 digits ² ³ ¹ ¼ ½ ¾,
 * which its ctype table counts as word characters. */
#define WORD_CLASS_SET "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}"
#define WORD_SET WORD_CLASS_SET "\\x{b2}\\x{b3}\\x{b9}\\x{bc}-\\x{be}"
/* Oniguruma's \s: the White_Space property (PCRE2's \s adds U+180E). */
#define SPACE_SET "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}" \
                  "\\x{202f}\\x{205f}\\x{3000}"

static bool is_hex(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* \uHHHH at p[i] ('\\' at i)? */
static bool is_u4(const uint32_t *p, size_t m, size_t i)
{
    if (i + 6 > m || p[i + 1] != 'u')
        return false;
    for (size_t k = 2; k < 6; k++)
        if (!is_hex(p[i + k]))
            return false;
    return true;
}

static bool x_u4(xlat *x, const uint32_t *p, size_t i)
{
    if (!x_str(x, "\\x{"))
        return false;
    for (size_t k = 2; k < 6; k++)
        if (!x_put(x, p[i + k]))
            return false;
    return x_put(x, '}');
}

/* True when PCRE2 knows name[0..n) as a script: Oniguruma's \p{Han} is the
 * Script property, PCRE2's (since 10.40) Script_Extensions, so scripts are
 * written \p{sc:Han}. */
static bool is_script(const xlat *x, const uint32_t *name, size_t n)
{
    uint32_t probe[80];
    static const char pre[] = "\\p{sc:";
    size_t k = 0;
    if (n == 0 || n + sizeof pre + 1 > sizeof probe / sizeof probe[0])
        return false;
    for (const char *c = pre; *c; c++)
        probe[k++] = (unsigned char)*c;
    for (size_t i = 0; i < n; i++) {
        if (name[i] >= 128 || name[i] == '}' || name[i] == '\\')
            return false;
        probe[k++] = name[i];
    }
    probe[k++] = '}';
    int err;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)probe, k, PCRE2_UTF | PCRE2_UCP, &err, &off,
                                  x->cctx);
    pcre2_code_free(c);
    return c != NULL;
}

/* \p{NAME} or \P{NAME} (NAME may start with ^) at p[i]: copied, with "sc:"
 * before script names.  Returns consumed, 0 on ENOMEM; copies just "\p" when
 * no braces follow. */
static size_t x_property(xlat *x, const uint32_t *p, size_t m, size_t i)
{
    if (i + 2 >= m || p[i + 2] != '{')
        return x_put(x, '\\') && x_put(x, p[i + 1]) ? 2 : 0;
    size_t k = i + 3;
    while (k < m && p[k] != '}')
        k++;
    if (k >= m)   /* unterminated: PCRE2 reports it */
        return x_put(x, '\\') && x_put(x, p[i + 1]) ? 2 : 0;
    size_t name = i + 3;
    bool neg = p[name] == '^';
    if (!x_put(x, '\\') || !x_put(x, p[i + 1]) || !x_put(x, '{'))
        return 0;
    if (neg && !x_put(x, '^'))
        return 0;
    name += neg;
    if (is_script(x, p + name, k - name) && !x_str(x, "sc:"))
        return 0;
    for (size_t j = name; j <= k; j++)
        if (!x_put(x, p[j]))
            return 0;
    return k + 1 - i;
}

/* An escape outside a class at p[i] == '\\'; returns code points consumed
 * (0 on ENOMEM). */
static size_t x_escape(xlat *x, const uint32_t *p, size_t m, size_t i)
{
    if (i + 1 >= m)
        return x_put(x, '\\') ? 1 : 0;
    const char *rep = NULL;
    switch (p[i + 1]) {
    case 's': rep = "[" SPACE_SET "]"; break;
    case 'S': rep = "[^" SPACE_SET "]"; break;
    case 'w': rep = "[" WORD_SET "]"; break;
    case 'W': rep = "[^" WORD_SET "]"; break;
    case 'h': rep = "[0-9A-Fa-f]"; break;
    case 'H': rep = "[^0-9A-Fa-f]"; break;
    case 'b':
        rep = "(?:(?<=[" WORD_SET "])(?![" WORD_SET "])|(?<![" WORD_SET "])(?=[" WORD_SET "]))";
        break;
    case 'B':
        rep = "(?:(?<=[" WORD_SET "])(?=[" WORD_SET "])|(?<![" WORD_SET "])(?![" WORD_SET "]))";
        break;
    case 'u':
        if (is_u4(p, m, i))
            return x_u4(x, p, i) ? 6 : 0;
        break;
    case 'p':
    case 'P':
        return x_property(x, p, m, i);
    default:
        break;
    }
    if (rep)
        return x_str(x, rep) ? 2 : 0;
    return x_put(x, '\\') && x_put(x, p[i + 1]) ? 2 : 0;
}

/* An escape inside a class; *why is set (and 0 returned) for escapes whose
 * Oniguruma meaning inside a class has no PCRE2 spelling. */
static size_t x_class_escape(xlat *x, const uint32_t *p, size_t m, size_t i,
                             const char **why)
{
    if (i + 1 >= m)
        return x_put(x, '\\') ? 1 : 0;
    const char *rep = NULL;
    switch (p[i + 1]) {
    case 's': rep = SPACE_SET; break;
    case 'S': rep = "\\S\\x{180e}"; break;   /* PCRE2's \S lacks U+180E */
    case 'W': *why = "\\W inside a character class"; return 0;
    case 'H': *why = "\\H inside a character class"; return 0;
    case 'p':
    case 'P':
        return x_property(x, p, m, i);
    case 'w': rep = WORD_CLASS_SET; break;
    case 'h': rep = "0-9A-Fa-f"; break;
    case 'u':
        if (is_u4(p, m, i))
            return x_u4(x, p, i) ? 6 : 0;
        break;
    default:
        break;
    }
    if (rep)
        return x_str(x, rep) ? 2 : 0;
    return x_put(x, '\\') && x_put(x, p[i + 1]) ? 2 : 0;
}

/* "(?" followed by option letters and ')' or ':' at p[i]: rewrites Ruby's m
 * (dot matches newline) as PCRE2's s.  Returns consumed, 0 if not an option
 * group (nothing written), SIZE_MAX on ENOMEM. */
static size_t x_options(xlat *x, const uint32_t *p, size_t m, size_t i)
{
    size_t k = i + 2;
    while (k < m && (p[k] == 'i' || p[k] == 'm' || p[k] == 'x' || p[k] == '-'))
        k++;
    if (k == i + 2 || k >= m || (p[k] != ')' && p[k] != ':'))
        return 0;
    for (size_t j = i; j <= k; j++) {
        x->at = j;
        if (!x_put(x, p[j] == 'm' && j >= i + 2 ? 's' : p[j]))
            return SIZE_MAX;
    }
    return k + 1 - i;
}

/* "{,n}" at p[i]? */
static bool is_brace_upto(const uint32_t *p, size_t m, size_t i)
{
    if (i + 3 >= m || p[i + 1] != ',' || !(p[i + 2] >= '0' && p[i + 2] <= '9'))
        return false;
    size_t k = i + 2;
    while (k < m && p[k] >= '0' && p[k] <= '9')
        k++;
    return k < m && p[k] == '}';
}

typedef enum { X_OK, X_NOMEM, X_UNSUPPORTED } xres;

/* A POSIX bracket [:name:] at p[*pi] inside a class.  Only the ones whose
 * Unicode meaning is the same in both engines are kept (Oniguruma's alpha,
 * alnum, punct, upper, word ... differ from PCRE2's). */
static xres x_posix(xlat *x, const uint32_t *p, size_t m, size_t *pi, const char **why)
{
    static const struct {
        const char *name, *rep;
    } ok[] = {
        {"digit", "\\p{Nd}"},
        {"space", SPACE_SET},
        {"xdigit", "0-9A-Fa-f"},
    };
    size_t i = *pi, k = i + 2;
    while (k + 1 < m && !(p[k] == ':' && p[k + 1] == ']'))
        k++;
    if (k + 1 >= m) {   /* not a POSIX bracket after all: a nested class */
        *why = "nested character classes";
        return X_UNSUPPORTED;
    }
    for (size_t j = 0; j < sizeof ok / sizeof ok[0]; j++) {
        size_t len = strlen(ok[j].name);
        if (len != k - (i + 2))
            continue;
        bool same = true;
        for (size_t c = 0; c < len && same; c++)
            same = p[i + 2 + c] == (unsigned char)ok[j].name[c];
        if (same) {
            *pi = k + 2;
            return x_str(x, ok[j].rep) ? X_OK : X_NOMEM;
        }
    }
    *why = "a POSIX bracket other than [:digit:], [:space:], [:xdigit:]";
    return X_UNSUPPORTED;
}

/* Rewrites a class starting at p[*pi] == '['; *pi ends past its ']'. */
static xres x_class(xlat *x, const uint32_t *p, size_t m, size_t *pi, const char **why)
{
    size_t i = *pi;
    if (!x_put(x, '['))
        return X_NOMEM;
    i++;
    if (i < m && p[i] == '^') {
        x->at = i;
        if (!x_put(x, '^'))
            return X_NOMEM;
        i++;
    }
    bool first = true;
    while (i < m) {
        x->at = i;
        uint32_t c = p[i];
        if (c == ']' && !first) {
            if (!x_put(x, ']'))
                return X_NOMEM;
            *pi = i + 1;
            return X_OK;
        }
        first = false;
        if (c == '\\') {
            size_t used = x_class_escape(x, p, m, i, why);
            if (!used) {
                *pi = i;
                return *why ? X_UNSUPPORTED : X_NOMEM;
            }
            i += used;
        } else if (c == '[' && i + 1 < m && p[i + 1] == ':') {
            xres r = x_posix(x, p, m, &i, why);
            if (r != X_OK) {
                *pi = i;
                return r;
            }
        } else if (c == '[') {
            *why = "nested character classes";
            *pi = i;
            return X_UNSUPPORTED;
        } else if (c == '&' && i + 1 < m && p[i + 1] == '&') {
            *why = "character class intersection '&&'";
            *pi = i;
            return X_UNSUPPORTED;
        } else {
            if (!x_put(x, c))
                return X_NOMEM;
            i++;
        }
    }
    *pi = m;   /* unterminated: PCRE2 reports it */
    return X_OK;
}

static xres translate(xlat *x, const uint32_t *p, size_t m, size_t *bad, const char **why)
{
    size_t i = 0;
    while (i < m) {
        x->at = i;
        uint32_t c = p[i];
        if (c == '\\') {
            size_t used = x_escape(x, p, m, i);
            if (!used)
                return X_NOMEM;
            i += used;
        } else if (c == '[') {
            xres r = x_class(x, p, m, &i, why);
            if (r == X_UNSUPPORTED)
                *bad = i;
            if (r != X_OK)
                return r;
        } else if (c == '(' && i + 1 < m && p[i + 1] == '?') {
            size_t used = x_options(x, p, m, i);
            if (used == SIZE_MAX)
                return X_NOMEM;
            if (used) {
                i += used;
            } else {
                if (!x_put(x, '(') || !x_put(x, '?'))
                    return X_NOMEM;
                i += 2;
            }
        } else if (c == '{' && is_brace_upto(p, m, i)) {
            if (!x_str(x, "{0"))
                return X_NOMEM;
            i++;
        } else {
            if (!x_put(x, c))
                return X_NOMEM;
            i++;
        }
    }
    return X_OK;
}

/* ---- compile ------------------------------------------------------------- */

static akidb_status decode_pattern(const char *pat, size_t len, const char *origin,
                                   const char *field, uint32_t **cps, size_t *n)
{
    size_t bad;
    if (!ak_utf8_valid(pat, len, &bad))
        return ak_fail(AKIDB_EUTF8, "%s: %s: pattern is not valid UTF-8 (byte %zu)", origin,
                       field, bad);
    uint32_t *v = ak_malloc((len + 1) * sizeof *v);
    if (!v)
        return ak_fail(AKIDB_ENOMEM, "%s: %s: out of memory", origin, field);
    size_t k = 0;
    for (size_t i = 0; i < len;)
        i += (size_t)ak_utf8_decode((const unsigned char *)pat + i, &v[k++]);
    *cps = v;
    *n = k;
    return AKIDB_OK;
}

static akidb_status compile_error(int err, size_t off, const char *origin, const char *field,
                                  const char *pat)
{
    PCRE2_UCHAR32 buf[256];
    char msg[256];
    int ml = pcre2_get_error_message(err, buf, sizeof buf / sizeof buf[0]);
    size_t k = 0;
    for (int i = 0; i < ml && k + 1 < sizeof msg; i++)
        msg[k++] = buf[i] < 128 ? (char)buf[i] : '?';
    msg[k] = 0;
    if (err == PCRE2_ERROR_NOMEMORY || err == PCRE2_ERROR_HEAP_FAILED)
        return ak_fail(AKIDB_ENOMEM, "%s: %s: out of memory compiling the pattern", origin,
                       field);
    return ak_fail(AKIDB_EFORMAT, "%s: %s: bad regex \"%s\" at offset %zu: %s", origin, field,
                   pat, off, msg);
}

akidb_status ak_regex_compile(const char *pat, size_t len, bool literal,
                              const char *origin, const char *field, ak_regex **out)
{
    AK_ASSERT(pat && out);
    *out = NULL;
    uint32_t *cps = NULL;
    size_t m = 0;
    akidb_status st = decode_pattern(pat, len, origin, field, &cps, &m);
    if (st != AKIDB_OK)
        return st;
    ak_regex *re = ak_calloc(1, sizeof *re);
    xlat x = {0};
    pcre2_compile_context *cctx = NULL;
    if (!re || !(re->source = ak_strndup(pat, len)))
        goto nomem;
    re->gctx = pcre2_general_context_create(px_malloc, px_free, NULL);
    if (!re->gctx || !(cctx = pcre2_compile_context_create(re->gctx)))
        goto nomem;
    pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);

    const uint32_t *src = cps;
    size_t srcn = m;
    uint32_t opts = PCRE2_UTF;
    if (literal) {
        opts |= PCRE2_LITERAL;
    } else {
        opts |= PCRE2_UCP | PCRE2_MULTILINE;
        size_t bad = 0;
        const char *why = NULL;
        x.cctx = cctx;
        xres r = translate(&x, cps, m, &bad, &why);
        if (r == X_NOMEM)
            goto nomem;
        if (r == X_UNSUPPORTED) {
            st = ak_fail(AKIDB_EUNSUPPORTED, "%s: %s: regex \"%s\" uses %s (offset %zu), "
                         "which is not supported", origin, field, re->source, why, bad);
            goto fail;
        }
        src = x.v ? x.v : cps;
        srcn = x.n;
    }
    int err = 0;
    PCRE2_SIZE eoff = 0;
    re->code = pcre2_compile((PCRE2_SPTR)src, srcn, opts, &err, &eoff, cctx);
    if (!re->code) {
        size_t off = eoff;
        if (!literal)
            off = eoff < x.n ? x.map[eoff] : m;
        st = compile_error(err, off, origin, field, re->source);
        goto fail;
    }
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);   /* interpreter if no JIT */
    pcre2_compile_context_free(cctx);
    ak_free(x.v);
    ak_free(x.map);
    ak_free(cps);
    *out = re;
    return AKIDB_OK;
nomem:
    st = ak_fail(AKIDB_ENOMEM, "%s: %s: out of memory compiling a regex", origin, field);
fail:
    pcre2_compile_context_free(cctx);
    ak_free(x.v);
    ak_free(x.map);
    ak_free(cps);
    ak_regex_free(re);
    return st;
}

void ak_regex_free(ak_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    pcre2_general_context_free(re->gctx);
    ak_free(re->source);
    ak_free(re);
}

const char *ak_regex_source(const ak_regex *re)
{
    return re->source;
}

/* ---- matching ------------------------------------------------------------ */

static bool valid_scalars(const uint32_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] > 0x10FFFF || (s[i] >= 0xD800 && s[i] <= 0xDFFF))
            return false;
    return true;
}

/* One search from `start`; 1: match in the ovector, 0: none, <0: error. */
static int search(const ak_regex *re, const uint32_t *s, size_t n, size_t start,
                  pcre2_match_data *md)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)   /* deep backtracking: the interpreter uses the heap */
        rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                         md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return rc >= 0 ? 1 : rc;   /* rc 0: more groups than the ovector holds */
}

akidb_status ak_regex_each(const ak_regex *re, const uint32_t *subj, size_t n,
                           ak_regex_fn fn, void *ctx)
{
    AK_ASSERT(re && fn && (subj || n == 0));
    if (!valid_scalars(subj, n))
        return ak_fail(AKIDB_EINVAL, "regex subject holds a value that is not a Unicode "
                       "scalar value");
    static const uint32_t empty[1] = {0};
    if (!subj)
        subj = empty;
    pcre2_match_data *md = pcre2_match_data_create(1, re->gctx);
    if (!md)
        return ak_fail(AKIDB_ENOMEM, "out of memory matching a regex");
    size_t start = 0, last_end = 0;
    bool have_last = false;
    akidb_status st = AKIDB_OK;
    while (start <= n) {
        int rc = search(re, subj, n, start, md);
        if (rc == 0)
            break;
        if (rc < 0) {
            if (rc == PCRE2_ERROR_NOMEMORY || rc == PCRE2_ERROR_HEAPLIMIT)
                st = ak_fail(AKIDB_ENOMEM, "out of memory matching regex \"%s\"", re->source);
            else
                st = ak_fail(AKIDB_EINVAL, "regex \"%s\": matching failed (PCRE2 error %d)",
                             re->source, rc);
            break;
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > me || me > n || ms < start) {   /* \K tricks: not a plain match */
            st = ak_fail(AKIDB_EINVAL, "regex \"%s\": unsupported match shape", re->source);
            break;
        }
        if (ms == me && have_last && last_end == me) {
            start++;   /* onig: skip an empty match right after the previous one */
            continue;
        }
        start = last_end = me;
        have_last = true;
        if ((st = fn(ctx, ms, me)) != AKIDB_OK)
            break;
    }
    pcre2_match_data_free(md);
    return st;
}

/* ---- pieces ---------------------------------------------------------------- */

typedef struct pcs {
    ak_tok_scratch *scr;
    unsigned slot;
    ak_piece *v;
    size_t n, cap;
    size_t prev;
    bool invert;
} pcs;

static akidb_status pcs_put(pcs *p, size_t s, size_t e, bool match)
{
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 32, bytes;
        if (ak_mul_overflow(nc, sizeof *p->v, &bytes))
            return ak_fail(AKIDB_ENOMEM, "too many regex matches");
        ak_piece *nv = ak_tok_scratch_get(p->scr, p->slot, bytes);
        if (!nv)
            return AKIDB_ENOMEM;
        p->v = nv;
        p->cap = nc;
    }
    p->v[p->n++] = (ak_piece){s, e, match != p->invert};
    return AKIDB_OK;
}

static akidb_status pcs_match(void *ctx, size_t s, size_t e)
{
    pcs *p = ctx;
    akidb_status st = AKIDB_OK;
    if (p->prev != s)
        st = pcs_put(p, p->prev, s, false);
    if (st == AKIDB_OK)
        st = pcs_put(p, s, e, true);
    p->prev = e;
    return st;
}

akidb_status ak_regex_pieces(const ak_regex *re, const uint32_t *s, size_t n, bool invert,
                             ak_tok_scratch *scr, unsigned slot, const ak_piece **pieces,
                             size_t *n_pieces)
{
    AK_ASSERT(scr && pieces && n_pieces);
    pcs p = {.scr = scr, .slot = slot, .invert = invert};
    akidb_status st;
    if (n == 0) {
        st = pcs_put(&p, 0, 0, false);
    } else {
        st = ak_regex_each(re, s, n, pcs_match, &p);
        if (st == AKIDB_OK && p.prev != n)
            st = pcs_put(&p, p.prev, n, false);
    }
    *pieces = p.v;
    *n_pieces = st == AKIDB_OK ? p.n : 0;
    return st;
}

/* ---- split behaviours ---------------------------------------------------- */

static const struct {
    const char *name;
    ak_split_behavior b;
} behaviors[] = {
    {"Removed", AK_SPLIT_REMOVED},
    {"Isolated", AK_SPLIT_ISOLATED},
    {"MergedWithPrevious", AK_SPLIT_MERGED_WITH_PREVIOUS},
    {"MergedWithNext", AK_SPLIT_MERGED_WITH_NEXT},
    {"Contiguous", AK_SPLIT_CONTIGUOUS},
};

akidb_status ak_split_behavior_parse(const char *str, ak_split_behavior *out,
                                     const char *origin, const char *path, const char *key)
{
    for (size_t i = 0; i < sizeof behaviors / sizeof behaviors[0]; i++)
        if (strcmp(str, behaviors[i].name) == 0) {
            *out = behaviors[i].b;
            return AKIDB_OK;
        }
    return ak_fail(AKIDB_EFORMAT, "%s: %s%s: unknown behavior \"%s\" (expected Removed, "
                   "Isolated, MergedWithPrevious, MergedWithNext or Contiguous)", origin, path,
                   key, str);
}

void ak_splitter_init(ak_splitter *sp, const uint32_t *s, ak_split_behavior behavior,
                      bool at0, ak_splits *out)
{
    *sp = (ak_splitter){.s = s, .behavior = behavior, .at0 = at0, .out = out};
}

static akidb_status emit(const ak_splitter *sp, size_t a, size_t b)
{
    if (a == b)
        return AKIDB_OK;
    return ak_splits_push(sp->out, sp->s + a, b - a, sp->at0 && a == 0);
}

/* Emits the held piece, if any. */
static akidb_status flush(ak_splitter *sp)
{
    if (!sp->has)
        return AKIDB_OK;
    sp->has = false;
    return emit(sp, sp->ps, sp->pe);
}

static void hold(ak_splitter *sp, size_t s, size_t e, bool match)
{
    sp->has = true;
    sp->ps = s;
    sp->pe = e;
    sp->pmatch = match;
}

/* The Rust folds, read forward: under MergedWithPrevious a match joins the
 * piece before it when that one is not a match; under MergedWithNext a
 * match joins the piece after it when that one is not a match; under
 * Contiguous runs of pieces with the same flag join. */
akidb_status ak_splitter_feed(ak_splitter *sp, size_t s, size_t e, bool match)
{
    akidb_status st;
    switch (sp->behavior) {
    case AK_SPLIT_ISOLATED:
        return emit(sp, s, e);
    case AK_SPLIT_REMOVED:
        return match ? AKIDB_OK : emit(sp, s, e);
    case AK_SPLIT_MERGED_WITH_PREVIOUS:
        if (sp->has && match) {   /* the held piece is never a match */
            sp->has = false;
            return emit(sp, sp->ps, e);
        }
        if ((st = flush(sp)) != AKIDB_OK)
            return st;
        if (match)
            return emit(sp, s, e);
        hold(sp, s, e, match);
        return AKIDB_OK;
    case AK_SPLIT_MERGED_WITH_NEXT:
        if (sp->has && !match) {  /* the held piece is always a match */
            sp->has = false;
            return emit(sp, sp->ps, e);
        }
        if ((st = flush(sp)) != AKIDB_OK)
            return st;
        if (!match)
            return emit(sp, s, e);
        hold(sp, s, e, match);
        return AKIDB_OK;
    case AK_SPLIT_CONTIGUOUS:
        if (sp->has && sp->pmatch == match) {
            sp->pe = e;
            return AKIDB_OK;
        }
        if ((st = flush(sp)) != AKIDB_OK)
            return st;
        hold(sp, s, e, match);
        return AKIDB_OK;
    }
    AK_ASSERT(!"unknown split behavior");
    return AKIDB_EINVAL;
}

akidb_status ak_splitter_end(ak_splitter *sp)
{
    return flush(sp);
}

/* Rust's Pattern::find_matches for a regex: the gaps between matches are
 * unmatched pieces. */
typedef struct rsplit {
    ak_splitter sp;
    size_t prev;
    bool invert;
} rsplit;

static akidb_status rsplit_match(void *ctx, size_t s, size_t e)
{
    rsplit *r = ctx;
    akidb_status st = AKIDB_OK;
    if (r->prev != s)
        st = ak_splitter_feed(&r->sp, r->prev, s, r->invert);
    if (st == AKIDB_OK)
        st = ak_splitter_feed(&r->sp, s, e, !r->invert);
    r->prev = e;
    return st;
}

akidb_status ak_regex_split(const ak_regex *re, const uint32_t *s, size_t n, bool invert,
                            ak_split_behavior behavior, bool at0, ak_splits *out)
{
    if (n == 0)
        return AKIDB_OK;   /* one empty piece: nothing to emit */
    rsplit r = {.prev = 0, .invert = invert};
    ak_splitter_init(&r.sp, s, behavior, at0, out);
    akidb_status st = ak_regex_each(re, s, n, rsplit_match, &r);
    if (st == AKIDB_OK && r.prev != n)
        st = ak_splitter_feed(&r.sp, r.prev, n, invert);
    if (st == AKIDB_OK)
        st = ak_splitter_end(&r.sp);
    return st;
}

akidb_status ak_char_split(const uint32_t *s, size_t n, ak_char_pred pred, const void *ctx,
                           ak_split_behavior behavior, bool at0, ak_splits *out)
{
    ak_splitter sp;
    ak_splitter_init(&sp, s, behavior, at0, out);
    akidb_status st = AKIDB_OK;
    size_t last = 0;
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        if (!pred(s[i], ctx))
            continue;
        if (last < i)
            st = ak_splitter_feed(&sp, last, i, false);
        if (st == AKIDB_OK)
            st = ak_splitter_feed(&sp, i, i + 1, true);
        last = i + 1;
    }
    if (st == AKIDB_OK && last < n)
        st = ak_splitter_feed(&sp, last, n, false);
    if (st == AKIDB_OK)
        st = ak_splitter_end(&sp);
    return st;
}

/* ---- fields ----------------------------------------------------------------- */

akidb_status ak_tj_require(const json_t *obj, const char *key, const char *origin,
                           const char *path)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return ak_fail(AKIDB_EFORMAT, "%s: %s%s: missing", origin, path ? path : "", key);
    return AKIDB_OK;
}

akidb_status ak_tj_char(const json_t *obj, const char *key, uint32_t *out,
                        const char *origin, const char *path)
{
    akidb_status st = ak_tj_require(obj, key, origin, path);
    const char *str;
    if (st == AKIDB_OK)
        st = ak_tj_str(obj, key, NULL, &str, origin, path);
    if (st != AKIDB_OK)
        return st;
    size_t len = json_string_length(json_object_get(obj, key)), bad;
    if (len == 0 || len > 4 || !ak_utf8_valid(str, len, &bad) ||
        (size_t)ak_utf8_decode((const unsigned char *)str, out) != len)
        return ak_fail(AKIDB_EFORMAT, "%s: %s%s: expected a single character, found \"%s\"",
                       origin, path ? path : "", key, str);
    return AKIDB_OK;
}
