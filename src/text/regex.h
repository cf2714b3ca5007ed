/*
 * regex.h - the regular expressions of tokenizer.json (Split and Replace
 * patterns, the GPT-2 pattern of ByteLevel) over code point arrays, matched
 * the way Hugging Face tokenizers (Rust) matches them with Oniguruma.
 *
 * The engine is PCRE2 (32-bit code units, so a code point array is matched
 * in place, with JIT where the platform has it).  Patterns are written in
 * Oniguruma's syntax; ak_regex_compile rewrites the few constructs whose
 * meaning differs between the two engines (\s, \w, \b, \h, script
 * properties, \uHHHH, {,n}, the Ruby (?m) flag, ^ and $ as line anchors)
 * and refuses the ones it cannot express (class intersection &&, nested
 * classes, most POSIX brackets).  regex.c lists each rewrite and why.
 *
 * A compiled regex is immutable and may be matched by several threads at
 * once; every call allocates its own match state.
 */
#ifndef AK_TEXT_REGEX_H
#define AK_TEXT_REGEX_H

#include "tok_parts.h"

typedef struct ak_regex ak_regex;

/* A match: code points [s, e) of the subject (e == s for an empty match). */
typedef struct ak_span {
    size_t s, e;
} ak_span;

/* Compiles pat[0..len) (UTF-8).  literal: the pattern is a plain string (a
 * "String" pattern, which the Rust library escapes before compiling).
 * Errors: EFORMAT "ORIGIN: FIELD: bad regex at offset N: <PCRE2 message>"
 * (offset in code points of the pattern), EUNSUPPORTED for Oniguruma-only
 * syntax, EUTF8 for a pattern that is not UTF-8, ENOMEM. */
akidb_status ak_regex_compile(const char *pat, size_t len, bool literal,
                              const char *origin, const char *field, ak_regex **out);
void ak_regex_free(ak_regex *re);

/* The pattern as given, NUL-terminated (for messages). */
const char *ak_regex_source(const ak_regex *re);

/* Calls fn(ctx, s, e) for every match [s, e) of re in subj[0..n), in order,
 * as Oniguruma's find_iter (the Rust onig crate) reports them: each search
 * starts where the previous match ended; an empty match that ends where the
 * previous match ended is skipped and the search resumes one code point
 * further.  Stops at the first status fn returns other than OK and returns
 * it.  Code points must be Unicode scalar values (EINVAL otherwise); EINVAL
 * also when the engine gives up (match limit) on a pathological pattern;
 * ENOMEM.  Allocates its match state per call, so concurrent calls on one
 * regex are safe. */
typedef akidb_status (*ak_regex_fn)(void *ctx, size_t s, size_t e);
akidb_status ak_regex_each(const ak_regex *re, const uint32_t *subj, size_t n,
                           ak_regex_fn fn, void *ctx);

/* Rust's Pattern::find_matches over the matches of re: the subject cut into
 * consecutive pieces, each flagged as a match or not (an empty match is an
 * empty piece flagged true; an empty subject gives one empty unmatched
 * piece).  invert flips every flag (Rust's Invert).  The pieces are stored
 * in scratch slot `slot` (slot + 1 is reserved too); *pieces points there
 * until the slot is used again. */
typedef struct ak_piece {
    size_t s, e;
    bool match;
} ak_piece;

akidb_status ak_regex_pieces(const ak_regex *re, const uint32_t *s, size_t n, bool invert,
                             ak_tok_scratch *scr, unsigned slot, const ak_piece **pieces,
                             size_t *n_pieces);

/* ---- splitting by a delimiter (Rust's NormalizedString::split) ----------- */

typedef enum ak_split_behavior {
    AK_SPLIT_REMOVED,
    AK_SPLIT_ISOLATED,
    AK_SPLIT_MERGED_WITH_PREVIOUS,
    AK_SPLIT_MERGED_WITH_NEXT,
    AK_SPLIT_CONTIGUOUS
} ak_split_behavior;

/* Parses a behavior string of tokenizer.json ("Removed", "Isolated", ...).
 * EFORMAT naming ORIGIN, PATH and KEY for anything else. */
akidb_status ak_split_behavior_parse(const char *str, ak_split_behavior *out,
                                     const char *origin, const char *path,
                                     const char *key);

/* Combines consecutive pieces of a subject, each flagged as a delimiter
 * match or not, the way the behavior says, and appends the non-empty
 * results to out (a result starting at code point 0 inherits at0).  Pieces
 * are fed in order and cover the subject; empty pieces count (an empty
 * match between two words still separates them under Contiguous). */
typedef struct ak_splitter {
    const uint32_t *s;
    ak_split_behavior behavior;
    bool at0;
    ak_splits *out;
    bool has;            /* a piece is held back, waiting for its neighbour */
    size_t ps, pe;
    bool pmatch;
} ak_splitter;

void ak_splitter_init(ak_splitter *sp, const uint32_t *s, ak_split_behavior behavior,
                      bool at0, ak_splits *out);
akidb_status ak_splitter_feed(ak_splitter *sp, size_t s, size_t e, bool match);
akidb_status ak_splitter_end(ak_splitter *sp);

/* Rust's split(&regex, behavior) (invert: split(Invert(&regex), ...)) of
 * s[0..n) into out. */
akidb_status ak_regex_split(const ak_regex *re, const uint32_t *s, size_t n, bool invert,
                            ak_split_behavior behavior, bool at0, ak_splits *out);

/* Rust's split(predicate, behavior): each code point for which pred is true
 * is a delimiter match of its own. */
typedef bool (*ak_char_pred)(uint32_t c, const void *ctx);
akidb_status ak_char_split(const uint32_t *s, size_t n, ak_char_pred pred, const void *ctx,
                           ak_split_behavior behavior, bool at0, ak_splits *out);

/* ---- tokenizer.json fields the Rust library requires ---------------------- */

/* EFORMAT "ORIGIN: PATHKEY: missing" when obj lacks key or holds null. */
akidb_status ak_tj_require(const json_t *obj, const char *key, const char *origin,
                           const char *path);

/* A field holding exactly one character (Rust char), as a code point. */
akidb_status ak_tj_char(const json_t *obj, const char *key, uint32_t *out,
                        const char *origin, const char *path);

#endif /* AK_TEXT_REGEX_H */
