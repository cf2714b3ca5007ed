/*
 * json_scan.h - a fast validating JSON scanner for tokenizer.json, and a
 * reader for the large values it locates.
 *
 * Most of a large tokenizer.json is two values: model.vocab (token -> id, or
 * Unigram's list of [piece, score]) and model.merges.  Gemma 3's file has
 * 262k tokens and 515k merges; a jansson tree of them is about 1.3 million
 * nodes, each its own allocation.  Instead, ak_js_scan_tokenizer checks that
 * the whole text is JSON that jansson accepts (the same grammar and limits:
 * valid UTF-8, escapes, surrogate pairs, no \u0000, integers within long
 * long, finite reals, nesting up to 2048) and returns the byte spans of those
 * two values.  The loader gives jansson the text with the spans cut out (each
 * replaced by an empty container of its kind, so that type checks still see
 * the right kind) and the models read the spans with the cursor below,
 * straight into their tables, with no allocation per entry.
 *
 * The cursor trusts that its span was validated by the scanner (it never
 * reads outside the span, but it does not report syntax errors).
 */
#ifndef AK_TEXT_JSON_SCAN_H
#define AK_TEXT_JSON_SCAN_H

#include "common/common.h"

/* Nesting limit, as jansson's JSON_PARSER_MAX_DEPTH: every value counts,
 * the top-level one as depth 1, so a value inside 2048 containers is too
 * deep (an empty 2048th container is not). */
#define AK_JS_MAX_DEPTH 2048

/* Value types, for shapes and messages. */
enum { AK_JS_NONE, AK_JS_STRING, AK_JS_NUMBER, AK_JS_OBJECT, AK_JS_ARRAY, AK_JS_BOOL,
       AK_JS_NULL };

/* The shape of an array element: its type and, for an array, its size
 * (capped at 3) and the types of its first two elements (AK_JS_NONE when
 * absent).  model.merges elements are AK_JS_SHAPE(AK_JS_STRING, 0, 0, 0) or
 * AK_JS_SHAPE(AK_JS_ARRAY, 2, AK_JS_STRING, AK_JS_STRING). */
#define AK_JS_SHAPE(type, n, t0, t1)                                                  \
    ((uint32_t)(type) | (uint32_t)(n) << 4 | (uint32_t)(t0) << 8 | (uint32_t)(t1) << 12)

/* Where a container value lies in the text, and a summary of it. */
typedef struct ak_js_span {
    size_t off, len;     /* the value is text[off .. off+len); len 0: absent    */
    char open;           /* '{' or '['                                          */
    size_t count;        /* members (object) or elements (array)                */
    size_t str_bytes;    /* bytes of every string literal inside, quotes left
                          * out: an upper bound of their decoded size           */
    uint32_t shape0;     /* arrays: shape of element 0 (0 when empty)           */
    size_t other;        /* arrays: index of the first element whose shape
                          * differs from element 0's; count when none           */
} ak_js_span;

/* The spans of a tokenizer.json: model.vocab and model.merges (the values of
 * keys "vocab" and "merges" of the object that is the value of the top-level
 * key "model"), each only when it is an object or an array.  text is the
 * whole document (not necessarily NUL-terminated). */
typedef struct ak_tok_spans {
    const char *text;
    size_t len;
    ak_js_span vocab, merges;
} ak_tok_spans;

/* Validates text[0..len) as one JSON document with an object or array at the
 * top, and fills *out.  EFORMAT: "ORIGIN: malformed JSON at line L column C:
 * WHAT" (line and column 1-based, the column counted in characters). */
akidb_status ak_js_scan_tokenizer(const char *text, size_t len, const char *origin,
                                  ak_tok_spans *out);

/* Line and column (1-based; column in characters) of byte off of text. */
void ak_js_line_col(const char *text, size_t len, size_t off, int *line, int *col);

/* ---- reading a scanned span ------------------------------------------- */

typedef struct ak_js_cur {
    const char *p, *end;   /* reading position; end of the span               */
    const char *text;      /* the whole document, for line / column           */
    size_t text_len;
} ak_js_cur;

/* Decoded string bytes of values with escapes. */
typedef struct ak_js_buf {
    char *v;
    size_t n, cap;
} ak_js_buf;
void ak_js_buf_free(ak_js_buf *b);

/* One string read from a span. */
typedef struct ak_js_str {
    const char *s;       /* its bytes: in the text when it has no escapes, else
                          * in the buffer (valid until the buffer next grows)  */
    size_t n;
    size_t off;          /* in the buffer: offset of s there; SIZE_MAX: text   */
} ak_js_str;

/* Starts reading the container sp of t, just inside its bracket. */
void ak_js_open(ak_js_cur *c, const ak_tok_spans *t, const ak_js_span *sp);
/* Steps to the next element or member (skipping the comma before it): true
 * while there is one, false at the closing bracket (which it passes). */
bool ak_js_more(ak_js_cur *c);
/* Type of the value at the cursor (AK_JS_*). */
int ak_js_type(const ak_js_cur *c);
/* True when the number at the cursor is an integer (no fraction, no
 * exponent), as jansson's JSON_INTEGER. */
bool ak_js_is_integer(const ak_js_cur *c);
/* "a string", "an integer", "a number", ... of the value at the cursor, as
 * ak_tj_type_name names jansson's types. */
const char *ak_js_type_name(const ak_js_cur *c);
/* Reads the string at the cursor; decoded bytes of a string with escapes are
 * appended to *b.  Fails only with ENOMEM (message set). */
akidb_status ak_js_string(ak_js_cur *c, ak_js_buf *b, ak_js_str *out);
/* Reads a member's key and the colon after it. */
akidb_status ak_js_key(ak_js_cur *c, ak_js_buf *b, ak_js_str *out);
/* Reads the integer at the cursor (ak_js_is_integer must hold). */
long long ak_js_integer(ak_js_cur *c);
/* Reads the number at the cursor as jansson's json_number_value gives it: an
 * integer converted, a real exactly as strtod rounds it. */
double ak_js_number(ak_js_cur *c);
/* Skips the value at the cursor. */
void ak_js_skip(ak_js_cur *c);
/* Enters the array at the cursor (after its '['). */
void ak_js_enter(ak_js_cur *c);
/* Line and column of the cursor. */
void ak_js_where(const ak_js_cur *c, int *line, int *col);

/* Parses the decimal number s[0..n) (JSON grammar, validated) exactly as
 * strtod in the "C" locale does. */
double ak_js_strtod(const char *s, size_t n);

/* ---- model.vocab from its span (tok_common.c) --------------------------- */

struct ak_tok_model;
/* ak_tok_model_vocab_from_json for the object t->vocab (open '{'), read from
 * the text: same checks and messages, and a key that appears twice is
 * EFORMAT naming the token, its line and column. */
akidb_status ak_tok_model_vocab_from_span(struct ak_tok_model *m, const ak_tok_spans *t,
                                          size_t bound, const char *origin,
                                          const char *field_name);

#endif /* AK_TEXT_JSON_SCAN_H */
