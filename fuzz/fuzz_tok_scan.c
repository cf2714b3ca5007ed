/*
 * fuzz_tok_scan.c - libFuzzer target: the tokenizer.json scanner
 * (src/text/json_scan.c) against jansson, the reference.  For any bytes:
 *   - the scanner accepts them exactly when json_loadb (flags 0) does;
 *   - where both accept and no key repeats, the spans of model.vocab and
 *     model.merges hold the tree's values, read through the cursor (strings
 *     byte for byte, integers, reals to the bit), their counts and shapes
 *     are right;
 *   - the tokenizer built through the spans (ak_tokenizer_from_json) equals
 *     the one built from the jansson tree (ak_tokenizer_from_tree): same
 *     status, same message, same vocabulary.
 * Any disagreement aborts.
 */
#include "akidb.h"
#include "text/json_scan.h"
#include "text/tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_tok_scan: %s on %.*s\n", what, (int)(size < 300 ? size : 300),
            (const char *)data);
    abort();
}

/* The value at c reads as j (c moves past it). */
static bool same_value(ak_js_cur *c, const json_t *j)
{
    ak_js_buf b = {0};
    ak_js_str s;
    bool ok = true;
    switch (ak_js_type(c)) {
    case AK_JS_STRING:
        ok = json_is_string(j) && ak_js_string(c, &b, &s) == AKIDB_OK &&
             s.n == json_string_length(j) && memcmp(s.s, json_string_value(j), s.n) == 0;
        break;
    case AK_JS_NUMBER:
        if (ak_js_is_integer(c)) {
            ok = json_is_integer(j) && ak_js_integer(c) == json_integer_value(j);
        } else {
            double d = ak_js_number(c), e = json_real_value(j);
            ok = json_is_real(j) && memcmp(&d, &e, sizeof d) == 0;
        }
        break;
    case AK_JS_BOOL:
    case AK_JS_NULL:
        ok = (*c->p == 't' && json_is_true(j)) || (*c->p == 'f' && json_is_false(j)) ||
             (*c->p == 'n' && json_is_null(j));
        ak_js_skip(c);
        break;
    case AK_JS_ARRAY: {
        size_t i = 0;
        ok = json_is_array(j);
        ak_js_enter(c);
        while (ok && ak_js_more(c))
            ok = i < json_array_size(j) && same_value(c, json_array_get(j, i++));
        ok = ok && i == json_array_size(j);
        break;
    }
    case AK_JS_OBJECT: {
        size_t i = 0;
        ok = json_is_object(j);
        ak_js_enter(c);
        while (ok && ak_js_more(c)) {
            char key[512];
            ok = ak_js_key(c, &b, &s) == AKIDB_OK && s.n < sizeof key;
            if (ok) {
                memcpy(key, s.s, s.n);
                key[s.n] = '\0';
                const json_t *v = json_object_get(j, key);
                ok = v && same_value(c, v);
            } else if (s.n >= sizeof key) {
                ok = true;                    /* too long to look up here */
                ak_js_skip(c);
            }
            i++;
        }
        ok = ok && i == json_object_size(j);
        break;
    }
    default:
        ok = false;
    }
    ak_js_buf_free(&b);
    return ok;
}

static int type_of(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_STRING: return AK_JS_STRING;
    case JSON_INTEGER:
    case JSON_REAL: return AK_JS_NUMBER;
    case JSON_OBJECT: return AK_JS_OBJECT;
    case JSON_ARRAY: return AK_JS_ARRAY;
    case JSON_TRUE:
    case JSON_FALSE: return AK_JS_BOOL;
    default: return AK_JS_NULL;
    }
}

static uint32_t shape_of(const json_t *e)
{
    if (!json_is_array(e))
        return AK_JS_SHAPE(type_of(e), 0, 0, 0);
    size_t n = json_array_size(e);
    return AK_JS_SHAPE(AK_JS_ARRAY, n < 3 ? n : 3, n > 0 ? type_of(json_array_get(e, 0)) : 0,
                       n > 1 ? type_of(json_array_get(e, 1)) : 0);
}

static void check_span(const ak_tok_spans *t, const ak_js_span *sp, const json_t *v,
                       const uint8_t *data, size_t size)
{
    if (!v || !sp->len)
        return;
    size_t n = json_is_object(v) ? json_object_size(v) : json_array_size(v);
    if (sp->count != n)
        fail("span count", data, size);
    ak_js_cur c = {t->text + sp->off, t->text + sp->off + sp->len, t->text, t->len};
    if (!same_value(&c, v))
        fail("span contents", data, size);
    if (json_is_array(v) && n) {
        size_t other = n;
        for (size_t i = 1; i < n && other == n; i++)
            if (shape_of(json_array_get(v, i)) != shape_of(json_array_get(v, 0)))
                other = i;
        if (sp->shape0 != shape_of(json_array_get(v, 0)) || sp->other != other)
            fail("span shapes", data, size);
    }
}

/* ak_tokenizer_from_json and ak_tokenizer_from_tree agree. */
static void check_tokenizer(const char *text, size_t size, const json_t *root)
{
    akidb_tokenizer *a = NULL, *b = NULL;
    akidb_status sa = ak_tokenizer_from_json(text, size, "f.json", &a);
    char ma[4096];
    snprintf(ma, sizeof ma, "%s", sa ? akidb_last_error() : "");
    akidb_status sb = ak_tokenizer_from_tree(root, "f.json", &b);
    if (sa != sb || (sa && strncmp(ma, akidb_last_error(), sizeof ma - 1) != 0)) {
        fprintf(stderr, "spans: %d %s\ntree: %d %s\n", sa, ma, sb, sb ? akidb_last_error() : "");
        fail("tokenizers differ", (const uint8_t *)text, size);
    }
    if (sa == AKIDB_OK) {
        size_t n = akidb_tokenizer_vocab_size(a);
        if (n != akidb_tokenizer_vocab_size(b))
            fail("vocabulary sizes differ", (const uint8_t *)text, size);
        for (size_t id = 0; id < n; id++) {
            const char *x = akidb_tokenizer_id_to_token(a, (int32_t)id),
                       *y = akidb_tokenizer_id_to_token(b, (int32_t)id);
            if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
                fail("vocabularies differ", (const uint8_t *)text, size);
        }
    }
    akidb_tokenizer_free(a);
    akidb_tokenizer_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_error_t e;
    json_t *j = json_loadb(text, size, 0, &e);
    ak_tok_spans sp;
    akidb_status st = ak_js_scan_tokenizer(text, size, "f.json", &sp);
    if ((j != NULL) != (st == AKIDB_OK))
        fail(j ? "scanner refuses what jansson accepts" : "scanner accepts what jansson refuses",
             data, size);
    if (!j && st != AKIDB_EFORMAT)
        fail("not EFORMAT", data, size);
    json_decref(j);
    if (st != AKIDB_OK)
        return 0;
    json_t *strict = json_loadb(text, size, JSON_REJECT_DUPLICATES, &e);
    if (!strict)
        return 0;
    const json_t *model = json_object_get(strict, "model");
    if (json_is_object(model)) {
        check_span(&sp, &sp.vocab, json_object_get(model, "vocab"), data, size);
        check_span(&sp, &sp.merges, json_object_get(model, "merges"), data, size);
    } else if (sp.vocab.len || sp.merges.len) {
        fail("spans outside a model object", data, size);
    }
    check_tokenizer(text, size, strict);
    json_decref(strict);
    return 0;
}
