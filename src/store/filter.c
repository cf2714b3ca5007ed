/*
 * filter.c - the payload filter language: parser/compiler from JSON to a
 * small tree, and the matcher run against point payloads during count,
 * scroll and (filtered) search.  Compiling once keeps per-point matching free
 * of allocation and string parsing.
 *
 * Filter syntax
 * -------------
 * A filter is a JSON object.  Every key of the object is one condition and
 * all conditions of one object must hold (implicit AND); {} matches every
 * point.
 *
 *   {"and": [F, ...]}      all of the filters F hold   ([] is true)
 *   {"or":  [F, ...]}      at least one holds           ([] is false)
 *   {"not": F}             F does not hold
 *   {"PATH": V}            equality: V is a string, number, true/false or
 *                          null; shorthand for {"PATH": {"eq": V}}
 *   {"PATH": {OP: ARG, ...}}  all the operators hold:
 *       "eq":  V           equal to the scalar V
 *       "in":  [V, ...]    equal to one of the scalars (at most 1024)
 *       "gt", "gte", "lt", "lte": N   numeric comparison with number N
 *       "exists": true|false          the field is present (any value,
 *                                      null included) / absent
 *       "empty": true|false           the field is absent, null or [] /
 *                                      holds anything else
 *       "except": [V, ...]            the field holds a value that is not
 *                                      null and equals none of the scalars
 *                                      (at most 1024); absent, null and []
 *                                      fail it
 *   {"$id": ID} or {"$id": {"in": [ID, ...]}}
 *                          the point's id is ID / one of the ids (strings,
 *                          at most 100000); "$id" is reserved like "and"
 *
 * PATH names a payload field; dots descend into nested objects
 * ("meta.lang" is payload["meta"]["lang"]).  The keys "and", "or" and "not"
 * are reserved at filter level, so top-level payload fields with those names
 * cannot be tested (nested ones can: "x.and").
 *
 * Matching rules
 *   - Numbers compare by value (1 equals 1.0); strings byte-wise; a string
 *     never equals a number; true/false only equal themselves; null only
 *     equals null.
 *   - Range operators match numbers only; a missing or non-numeric field
 *     fails them.
 *   - When the field holds an array, eq / in / range / except match if any
 *     element matches (tags: {"tags": "red"} matches {"tags": ["red", "big"]};
 *     {"tags": {"except": ["red"]}} too, through "big").
 *   - A point without payload has no fields: only "exists": false and
 *     negations match it.
 *   - Nesting depth is limited to 32 levels, paths to 16 segments and 256
 *     bytes, a filter to 4096 clauses (object keys: conditions and
 *     and / or / not), checked before anything is compiled, so the cost of
 *     refusing a huge filter is one walk of it.
 *
 * Examples
 *   {"lang": "en", "year": {"gte": 2020, "lt": 2024}}
 *   {"or": [{"tags": {"in": ["red", "blue"]}}, {"not": {"draft": true}}]}
 *   {"meta.source": {"exists": true}}
 */
#include "store/filter.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_MAX_DEPTH 32
#define FILTER_MAX_PATH 16
#define FILTER_MAX_PATH_BYTES 256
#define FILTER_MAX_IN 1024
#define FILTER_MAX_IDS 100000
#define FILTER_MAX_CLAUSES 4096

typedef enum {
    V_NULL,
    V_BOOL,
    V_NUM,
    V_STR
} vkind;

typedef struct fval {
    vkind kind;
    bool b;
    double num;
    char *str;
    size_t len;
} fval;

typedef enum {
    N_TRUE,
    N_AND,
    N_OR,
    N_NOT,
    N_FIELD,
    N_ID              /* "$id": cond.vals holds the ids, sorted (ids_cmp)   */
} nkind;

typedef struct fnode fnode;

/* One field condition: a path and the operators given for it. */
typedef struct fcond {
    char **seg;
    size_t nseg;
    fval *vals;           /* eq (one value) or in (several)                 */
    size_t nvals;
    bool has_vals;        /* eq/in given: must match one of vals            */
    bool has_lo, lo_incl, has_hi, hi_incl;
    double lo, hi;
    int exists;           /* -1: not given, 0: must be absent, 1: present   */
    int empty;            /* -1: not given, 0: must hold something, 1: absent,
                             null or []                                      */
    fval *exc;            /* except: a non-null value none of these         */
    size_t nexc;
    bool has_exc;
} fcond;

struct fnode {
    nkind kind;
    fnode **kids;
    size_t nkids;
    fcond cond;
};

struct ak_filter {
    fnode *root;
};

/* ---- tree --------------------------------------------------------------- */

static void node_free(fnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    ak_free(n->kids);
    for (size_t i = 0; i < n->cond.nseg; i++)
        ak_free(n->cond.seg[i]);
    ak_free(n->cond.seg);
    for (size_t i = 0; i < n->cond.nvals; i++)
        ak_free(n->cond.vals[i].str);
    ak_free(n->cond.vals);
    for (size_t i = 0; i < n->cond.nexc; i++)
        ak_free(n->cond.exc[i].str);
    ak_free(n->cond.exc);
    ak_free(n);
}

void ak_filter_free(ak_filter *f)
{
    if (!f)
        return;
    node_free(f->root);
    ak_free(f);
}

static akidb_status oom(void)
{
    return ak_fail(AKIDB_ENOMEM, "filter: out of memory");
}

static fnode *node_new(nkind k)
{
    fnode *n = ak_calloc(1, sizeof *n);
    if (n) {
        n->kind = k;
        n->cond.exists = -1;
        n->cond.empty = -1;
    }
    return n;
}

static akidb_status add_kid(fnode *parent, fnode *kid)
{
    fnode **k = ak_realloc(parent->kids, (parent->nkids + 1) * sizeof *k);
    if (!k) {
        node_free(kid);
        return oom();
    }
    parent->kids = k;
    k[parent->nkids++] = kid;
    return AKIDB_OK;
}

static akidb_status compile_obj(const json_t *obj, int depth, const char *where,
                                fnode **out);

static akidb_status scalar_value(const json_t *v, const char *path, const char *op,
                                 fval *out)
{
    memset(out, 0, sizeof *out);
    switch (json_typeof(v)) {
    case JSON_NULL:
        out->kind = V_NULL;
        return AKIDB_OK;
    case JSON_TRUE:
    case JSON_FALSE:
        out->kind = V_BOOL;
        out->b = json_is_true(v);
        return AKIDB_OK;
    case JSON_INTEGER:
    case JSON_REAL:
        out->kind = V_NUM;
        out->num = json_number_value(v);
        return AKIDB_OK;
    case JSON_STRING:
        out->kind = V_STR;
        out->len = json_string_length(v);
        out->str = ak_strndup(json_string_value(v), out->len);
        return out->str ? AKIDB_OK : oom();
    default:
        return ak_fail(AKIDB_EINVAL,
                       "filter: field '%s': operator '%s' needs a string, number, "
                       "boolean or null, not an %s",
                       path, op, json_is_array(v) ? "array" : "object");
    }
}

static akidb_status parse_path(const char *key, fcond *c)
{
    size_t klen = strlen(key);
    if (klen == 0)
        return ak_fail(AKIDB_EINVAL, "filter: empty field name");
    if (klen > FILTER_MAX_PATH_BYTES)
        return ak_fail(AKIDB_EINVAL, "filter: field path of %zu bytes exceeds %d",
                       klen, FILTER_MAX_PATH_BYTES);
    const char *s = key;
    while (1) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n == 0)
            return ak_fail(AKIDB_EINVAL, "filter: field path '%s' has an empty segment",
                           key);
        if (c->nseg == FILTER_MAX_PATH)
            return ak_fail(AKIDB_EINVAL, "filter: field path '%s' has more than %d segments",
                           key, FILTER_MAX_PATH);
        char **seg = ak_realloc(c->seg, (c->nseg + 1) * sizeof *seg);
        if (!seg)
            return oom();
        c->seg = seg;
        if (!(seg[c->nseg] = ak_strndup(s, n)))
            return oom();
        c->nseg++;
        if (!dot)
            break;
        s = dot + 1;
    }
    return AKIDB_OK;
}

static akidb_status number_arg(const json_t *v, const char *path, const char *op,
                               double *out)
{
    if (!json_is_number(v))
        return ak_fail(AKIDB_EINVAL, "filter: field '%s': operator '%s' needs a number",
                       path, op);
    *out = json_number_value(v);
    if (!isfinite(*out))
        return ak_fail(AKIDB_EINVAL, "filter: field '%s': operator '%s' needs a finite number",
                       path, op);
    return AKIDB_OK;
}

/* The scalars of an "except" list into c->exc. */
static akidb_status except_list(const json_t *arg, const char *key, fcond *c)
{
    if (c->has_exc)
        return ak_fail(AKIDB_EINVAL, "filter: field '%s': 'except' given twice", key);
    if (!json_is_array(arg))
        return ak_fail(AKIDB_EINVAL, "filter: field '%s': 'except' needs an array", key);
    size_t m = json_array_size(arg);
    if (m > FILTER_MAX_IN)
        return ak_fail(AKIDB_EINVAL, "filter: field '%s': 'except' has %zu values, more than %d",
                       key, m, FILTER_MAX_IN);
    c->has_exc = true;
    if (!(c->exc = ak_calloc(m ? m : 1, sizeof *c->exc)))
        return oom();
    for (size_t i = 0; i < m; i++) {
        akidb_status st = scalar_value(json_array_get(arg, i), key, "except", &c->exc[i]);
        c->nexc = i + 1;
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

static int ids_cmp(const void *a, const void *b)
{
    const fval *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->str, y->str, n);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* "$id": ID or {"in": [ID, ...]}: the ids, sorted for binary search. */
static akidb_status compile_ids(const json_t *v, fnode **out)
{
    const json_t *list = v;
    if (json_is_object(v)) {
        list = json_object_get(v, "in");
        if (json_object_size(v) != 1 || !list)
            return ak_fail(AKIDB_EINVAL, "filter: '$id' takes an id or {\"in\": [ids]}");
        if (!json_is_array(list))
            return ak_fail(AKIDB_EINVAL, "filter: '$id': 'in' needs an array of ids");
    } else if (!json_is_string(v)) {
        return ak_fail(AKIDB_EINVAL, "filter: '$id' takes a string id or {\"in\": [ids]}");
    }
    size_t m = json_is_array(list) ? json_array_size(list) : 1;
    if (m > FILTER_MAX_IDS)
        return ak_fail(AKIDB_EINVAL, "filter: '$id' has %zu ids, more than %d", m,
                       FILTER_MAX_IDS);
    fnode *n = node_new(N_ID);
    if (!n || !(n->cond.vals = ak_calloc(m ? m : 1, sizeof *n->cond.vals))) {
        node_free(n);
        return oom();
    }
    akidb_status st = AKIDB_OK;
    for (size_t i = 0; i < m && st == AKIDB_OK; i++) {
        const json_t *x = json_is_array(list) ? json_array_get(list, i) : list;
        if (!json_is_string(x))
            st = ak_fail(AKIDB_EINVAL, "filter: '$id': id %zu is not a string", i);
        else
            st = scalar_value(x, "$id", "in", &n->cond.vals[i]);
        n->cond.nvals = i + 1;
    }
    if (st != AKIDB_OK) {
        node_free(n);
        return st;
    }
    qsort(n->cond.vals, m, sizeof *n->cond.vals, ids_cmp);
    *out = n;
    return AKIDB_OK;
}

static akidb_status compile_field(const char *key, const json_t *v, fnode **out)
{
    fnode *n = node_new(N_FIELD);
    if (!n)
        return oom();
    fcond *c = &n->cond;
    akidb_status st = parse_path(key, c);
    if (st != AKIDB_OK)
        goto fail;

    if (!json_is_object(v)) {
        if (json_is_array(v)) {
            st = ak_fail(AKIDB_EINVAL,
                         "filter: field '%s': an array is not a value; use {\"in\": [...]}",
                         key);
            goto fail;
        }
        if (!(c->vals = ak_calloc(1, sizeof *c->vals))) {
            st = oom();
            goto fail;
        }
        c->nvals = 1;
        c->has_vals = true;
        st = scalar_value(v, key, "eq", &c->vals[0]);
        if (st != AKIDB_OK)
            goto fail;
        *out = n;
        return AKIDB_OK;
    }
    if (json_object_size(v) == 0) {
        st = ak_fail(AKIDB_EINVAL, "filter: field '%s': empty condition object", key);
        goto fail;
    }
    const char *op;
    const json_t *arg;
    json_object_foreach((json_t *)v, op, arg) {
        if (strcmp(op, "eq") == 0 || strcmp(op, "in") == 0) {
            if (c->has_vals) {
                st = ak_fail(AKIDB_EINVAL, "filter: field '%s': give only one of 'eq' and 'in'",
                             key);
                goto fail;
            }
            c->has_vals = true;
            if (op[0] == 'e') {
                if (!(c->vals = ak_calloc(1, sizeof *c->vals))) {
                    st = oom();
                    goto fail;
                }
                c->nvals = 1;
                st = scalar_value(arg, key, op, &c->vals[0]);
                if (st != AKIDB_OK)
                    goto fail;
            } else {
                if (!json_is_array(arg)) {
                    st = ak_fail(AKIDB_EINVAL, "filter: field '%s': 'in' needs an array", key);
                    goto fail;
                }
                size_t m = json_array_size(arg);
                if (m > FILTER_MAX_IN) {
                    st = ak_fail(AKIDB_EINVAL,
                                 "filter: field '%s': 'in' has %zu values, more than %d",
                                 key, m, FILTER_MAX_IN);
                    goto fail;
                }
                if (!(c->vals = ak_calloc(m ? m : 1, sizeof *c->vals))) {
                    st = oom();
                    goto fail;
                }
                for (size_t i = 0; i < m; i++) {
                    st = scalar_value(json_array_get(arg, i), key, op, &c->vals[i]);
                    c->nvals = i + 1;
                    if (st != AKIDB_OK)
                        goto fail;
                }
            }
        } else if (strcmp(op, "gt") == 0 || strcmp(op, "gte") == 0) {
            if (c->has_lo) {
                st = ak_fail(AKIDB_EINVAL, "filter: field '%s': give only one of 'gt' and 'gte'",
                             key);
                goto fail;
            }
            if ((st = number_arg(arg, key, op, &c->lo)) != AKIDB_OK)
                goto fail;
            c->has_lo = true;
            c->lo_incl = op[2] == 'e';
        } else if (strcmp(op, "lt") == 0 || strcmp(op, "lte") == 0) {
            if (c->has_hi) {
                st = ak_fail(AKIDB_EINVAL, "filter: field '%s': give only one of 'lt' and 'lte'",
                             key);
                goto fail;
            }
            if ((st = number_arg(arg, key, op, &c->hi)) != AKIDB_OK)
                goto fail;
            c->has_hi = true;
            c->hi_incl = op[2] == 'e';
        } else if (strcmp(op, "exists") == 0) {
            if (!json_is_boolean(arg)) {
                st = ak_fail(AKIDB_EINVAL, "filter: field '%s': 'exists' needs true or false",
                             key);
                goto fail;
            }
            c->exists = json_is_true(arg) ? 1 : 0;
        } else if (strcmp(op, "empty") == 0) {
            if (!json_is_boolean(arg)) {
                st = ak_fail(AKIDB_EINVAL, "filter: field '%s': 'empty' needs true or false",
                             key);
                goto fail;
            }
            c->empty = json_is_true(arg) ? 1 : 0;
        } else if (strcmp(op, "except") == 0) {
            if ((st = except_list(arg, key, c)) != AKIDB_OK)
                goto fail;
        } else {
            st = ak_fail(AKIDB_EINVAL,
                         "filter: field '%s': unknown operator '%s' (eq, in, gt, gte, lt, "
                         "lte, exists, empty, except)",
                         key, op);
            goto fail;
        }
    }
    *out = n;
    return AKIDB_OK;
fail:
    node_free(n);
    return st;
}

static akidb_status compile_list(const json_t *arr, nkind kind, int depth, fnode **out)
{
    const char *name = kind == N_AND ? "and" : "or";
    if (!json_is_array(arr))
        return ak_fail(AKIDB_EINVAL, "filter: '%s' needs an array of filters", name);
    fnode *n = node_new(kind);
    if (!n)
        return oom();
    for (size_t i = 0; i < json_array_size(arr); i++) {
        fnode *kid = NULL;
        char where[32];
        snprintf(where, sizeof where, "%s[%zu]", name, i);
        akidb_status st = compile_obj(json_array_get(arr, i), depth + 1, where, &kid);
        if (st == AKIDB_OK)
            st = add_kid(n, kid);
        if (st != AKIDB_OK) {
            node_free(n);
            return st;
        }
    }
    *out = n;
    return AKIDB_OK;
}

/* Compiles one filter object: the AND of its keys. */
static akidb_status compile_obj(const json_t *obj, int depth, const char *where,
                                fnode **out)
{
    if (depth > FILTER_MAX_DEPTH)
        return ak_fail(AKIDB_EINVAL, "filter: nested deeper than %d levels",
                       FILTER_MAX_DEPTH);
    if (!json_is_object(obj))
        return ak_fail(AKIDB_EINVAL, "filter: %s must be a JSON object", where);
    if (json_object_size(obj) == 0)
        return (*out = node_new(N_TRUE)) ? AKIDB_OK : oom();
    fnode *n = node_new(N_AND);
    if (!n)
        return oom();
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        fnode *kid = NULL;
        akidb_status st;
        if (strcmp(key, "and") == 0) {
            st = compile_list(v, N_AND, depth, &kid);
        } else if (strcmp(key, "or") == 0) {
            st = compile_list(v, N_OR, depth, &kid);
        } else if (strcmp(key, "not") == 0) {
            fnode *inner = NULL;
            st = compile_obj(v, depth + 1, "'not'", &inner);
            if (st == AKIDB_OK) {
                if (!(kid = node_new(N_NOT))) {
                    node_free(inner);
                    st = oom();
                } else if ((st = add_kid(kid, inner)) != AKIDB_OK) {
                    node_free(kid);
                    kid = NULL;
                }
            }
        } else if (strcmp(key, "$id") == 0) {
            st = compile_ids(v, &kid);
        } else {
            st = compile_field(key, v, &kid);
        }
        if (st == AKIDB_OK)
            st = add_kid(n, kid);
        if (st != AKIDB_OK) {
            node_free(n);
            return st;
        }
    }
    /* A single condition needs no AND wrapper. */
    if (n->nkids == 1) {
        fnode *k = n->kids[0];
        n->nkids = 0;
        node_free(n);
        n = k;
    }
    *out = n;
    return AKIDB_OK;
}

/* Counts the object keys under v (stopping past limit); arrays of values
 * ('in' lists, bounded on their own) add nothing. */
static size_t count_clauses(const json_t *v, size_t limit, int depth)
{
    size_t n = 0;
    if (depth > FILTER_MAX_DEPTH + 2)
        return 0;   /* compile_obj reports the depth */
    if (json_is_object(v)) {
        const char *key;
        const json_t *x;
        json_object_foreach((json_t *)v, key, x) {
            n++;
            if (n > limit)
                return n;
            n += count_clauses(x, limit - n, depth + 1);
            if (n > limit)
                return n;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && n <= limit; i++)
            n += count_clauses(json_array_get(v, i), limit - n, depth + 1);
    }
    return n;
}

akidb_status ak_filter_compile(const json_t *doc, ak_filter **out)
{
    AK_ASSERT(doc && out);
    *out = NULL;
    if (count_clauses(doc, FILTER_MAX_CLAUSES, 0) > FILTER_MAX_CLAUSES)
        return ak_fail(AKIDB_EINVAL, "filter: more than %d clauses (the limit)",
                       FILTER_MAX_CLAUSES);
    ak_filter *f = ak_calloc(1, sizeof *f);
    if (!f)
        return oom();
    akidb_status st = compile_obj(doc, 0, "the filter", &f->root);
    if (st != AKIDB_OK) {
        ak_free(f);
        return st;
    }
    *out = f;
    return AKIDB_OK;
}

akidb_status ak_filter_parse(const char *json, size_t len, ak_filter **out)
{
    AK_ASSERT(json && out);
    *out = NULL;
    ak_json_init();
    json_error_t err;
    long injected0 = ak_alloc_injected_failures();
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!doc) {
        if (json_error_code(&err) == json_error_out_of_memory || err.text[0] == '\0' ||
            ak_alloc_injected_failures() > injected0)
            return oom();
        return ak_fail(AKIDB_EINVAL, "filter: invalid JSON at line %d column %d: %s",
                       err.line, err.column, err.text);
    }
    akidb_status st = ak_filter_compile(doc, out);
    json_decref(doc);
    return st;
}

/* ---- matching ----------------------------------------------------------- */

static bool scalar_eq(const fval *w, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return w->kind == V_NULL;
    case JSON_TRUE:
        return w->kind == V_BOOL && w->b;
    case JSON_FALSE:
        return w->kind == V_BOOL && !w->b;
    case JSON_INTEGER:
    case JSON_REAL:
        return w->kind == V_NUM && w->num == json_number_value(v);
    case JSON_STRING:
        return w->kind == V_STR && w->len == json_string_length(v) &&
               memcmp(w->str, json_string_value(v), w->len) == 0;
    default:
        return false;
    }
}

/* Tests eq/in and range on one non-array value. */
static bool value_ok(const fcond *c, const json_t *v)
{
    if (c->has_vals) {
        bool any = false;
        for (size_t i = 0; i < c->nvals && !any; i++)
            any = scalar_eq(&c->vals[i], v);
        if (!any)
            return false;
    }
    if (c->has_exc) {
        if (json_is_null(v))
            return false;
        for (size_t i = 0; i < c->nexc; i++)
            if (scalar_eq(&c->exc[i], v))
                return false;
    }
    if (c->has_lo || c->has_hi) {
        if (!json_is_number(v))
            return false;
        double x = json_number_value(v);
        if (c->has_lo && !(c->lo_incl ? x >= c->lo : x > c->lo))
            return false;
        if (c->has_hi && !(c->hi_incl ? x <= c->hi : x < c->hi))
            return false;
    }
    return true;
}

static bool cond_match(const fcond *c, const json_t *payload)
{
    const json_t *v = payload;
    for (size_t i = 0; i < c->nseg && v; i++)
        v = json_is_object(v) ? json_object_get(v, c->seg[i]) : NULL;
    if (c->exists >= 0 && (v != NULL) != (c->exists == 1))
        return false;
    if (c->empty >= 0 &&
        (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0)) !=
            (c->empty == 1))
        return false;
    if (!c->has_vals && !c->has_lo && !c->has_hi && !c->has_exc)
        return true;
    if (!v)
        return false;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (value_ok(c, json_array_get(v, i)))
                return true;
        return false;
    }
    return value_ok(c, v);
}

/* True if id (len bytes; NULL: unknown) is one of the node's sorted ids. */
static bool id_match(const fnode *n, const char *id, size_t len)
{
    if (!id)
        return false;
    fval key = { V_STR, false, 0, (char *)id, len };
    return bsearch(&key, n->cond.vals, n->cond.nvals, sizeof key, ids_cmp) != NULL;
}

static bool node_match(const fnode *n, const char *id, size_t id_len, const json_t *payload)
{
    switch (n->kind) {
    case N_ID:
        return id_match(n, id, id_len);
    case N_TRUE:
        return true;
    case N_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!node_match(n->kids[i], id, id_len, payload))
                return false;
        return true;
    case N_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (node_match(n->kids[i], id, id_len, payload))
                return true;
        return false;
    case N_NOT:
        return !node_match(n->kids[0], id, id_len, payload);
    case N_FIELD:
        return cond_match(&n->cond, payload);
    }
    return false;
}

bool ak_filter_match(const ak_filter *f, const json_t *payload)
{
    return node_match(f->root, NULL, 0, payload);
}

bool ak_filter_match_point(const ak_filter *f, const char *id, size_t id_len,
                           const json_t *payload)
{
    return node_match(f->root, id, id_len, payload);
}

bool ak_filter_is_true(const ak_filter *f)
{
    return f->root->kind == N_TRUE || (f->root->kind == N_AND && f->root->nkids == 0);
}

akidb_status ak_payload_parse(const char *text, size_t len, const char *what,
                              json_t **out)
{
    *out = NULL;
    ak_json_init();
    json_error_t err;
    long injected0 = ak_alloc_injected_failures();
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!doc) {
        if (json_error_code(&err) == json_error_out_of_memory || err.text[0] == '\0' ||
            ak_alloc_injected_failures() > injected0)
            return ak_fail(AKIDB_ENOMEM, "%s: payload: out of memory", what);
        return ak_fail(AKIDB_EINVAL, "%s: payload: invalid JSON at line %d column %d: %s",
                       what, err.line, err.column, err.text);
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        return ak_fail(AKIDB_EINVAL, "%s: payload must be a JSON object", what);
    }
    *out = doc;
    return AKIDB_OK;
}

akidb_status akidb_filter_validate(const char *filter_json)
{
    AK_ASSERT(filter_json);
    ak_filter *f = NULL;
    akidb_status st = ak_filter_parse(filter_json, strlen(filter_json), &f);
    ak_filter_free(f);
    return st;
}
