/*
 * qdrant_filter.c - Qdrant filter JSON to AkiDB filter JSON (the mapping
 * and what is refused are in qdrant_filter.h).  Works on jansson trees
 * only; the store validates and compiles the result like any other filter.
 */
#include "server/qdrant_filter.h"
#include "server/qdrant_ids.h"

#include <float.h>
#include <stdio.h>
#include <string.h>

#define QF_MAX_DEPTH 32

static akidb_status oom(void)
{
    return ak_fail(AKIDB_ENOMEM, "filter: out of memory");
}

/* where + suffix into buf (truncated when long). */
static const char *sub(char *buf, size_t cap, const char *where, const char *fmt, size_t i)
{
    char tail[48];
    snprintf(tail, sizeof tail, fmt, i);
    snprintf(buf, cap, "%.200s%s", where, tail);
    return buf;
}

/* Appends j (stolen) to arr; ENOMEM when j is NULL or the append fails. */
static akidb_status push(json_t *arr, json_t *j)
{
    if (!j || json_array_append_new(arr, j) != 0)
        return oom();
    return AKIDB_OK;
}

/* {K: v}: steals v. */
static json_t *field(const char *key, json_t *v)
{
    json_t *o = v ? json_object() : NULL;
    if (!o || json_object_set_new(o, key, v) != 0) {
        json_decref(o);
        if (!o)
            json_decref(v);
        return NULL;
    }
    return o;
}

/* Checks a payload key: a dotted path AkiDB can read. */
static akidb_status check_key(const json_t *k, const char *where)
{
    if (!json_is_string(k) || json_string_length(k) == 0)
        return ak_fail(AKIDB_EINVAL, "%s.key must be a non-empty string", where);
    const char *s = json_string_value(k);
    if (strlen(s) != json_string_length(k))
        return ak_fail(AKIDB_EINVAL, "%s.key contains a NUL byte", where);
    if (strchr(s, '['))
        return ak_fail(AKIDB_EINVAL,
                       "%s.key '%s': array projections (\"[]\") cannot be translated", where, s);
    size_t head = strcspn(s, ".");
    if ((head == 3 && (strncmp(s, "and", 3) == 0 || strncmp(s, "not", 3) == 0 ||
                       strncmp(s, "$id", 3) == 0)) ||
        (head == 2 && strncmp(s, "or", 2) == 0))
        return ak_fail(AKIDB_EINVAL,
                       "%s.key '%s': a top-level payload field named and / or / not / $id "
                       "cannot be filtered on", where, s);
    return AKIDB_OK;
}

/* Copies the values of "any" / "except": all strings or all integers (a
 * mixed list is no list Qdrant reads). */
static akidb_status match_list(const json_t *v, const char *where, const char *what,
                               json_t **out)
{
    if (!json_is_array(v))
        return ak_fail(AKIDB_EINVAL, "%s.match.%s must be an array of strings or integers",
                       where, what);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        if (!json_is_string(x) && !json_is_integer(x))
            return ak_fail(AKIDB_EINVAL, "%s.match.%s[%zu] must be a string or an integer",
                           where, what, i);
        if (i > 0 && json_is_string(x) != json_is_string(json_array_get(v, 0)))
            return ak_fail(AKIDB_EINVAL, "%s.match.%s[%zu]: the values must be all strings "
                           "or all integers", where, what, i);
    }
    if (!(*out = json_deep_copy(v)))
        return oom();
    return AKIDB_OK;
}

static akidb_status tr_match(const char *key, const json_t *m, const char *where, json_t **out)
{
    *out = NULL;
    if (!json_is_object(m))
        return ak_fail(AKIDB_EINVAL, "%s.match must be an object", where);
    static const char *const fulltext[] = {"text", "phrase", "text_any"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(m, fulltext[i]))
            return ak_fail(AKIDB_EINVAL,
                           "%s.match.%s: full-text match cannot be translated (AkiDB filters "
                           "compare whole values)", where, fulltext[i]);
    const json_t *v;
    if ((v = json_object_get(m, "value")) != NULL) {
        if (!json_is_string(v) && !json_is_integer(v) && !json_is_boolean(v))
            return ak_fail(AKIDB_EINVAL,
                           "%s.match.value must be a string, an integer or a boolean", where);
        *out = field(key, json_deep_copy(v));
        return *out ? AKIDB_OK : oom();
    }
    bool any = (v = json_object_get(m, "any")) != NULL;
    if (!any && !(v = json_object_get(m, "except")))
        return ak_fail(AKIDB_EINVAL, "%s.match needs one of value, any, except", where);
    json_t *vals;
    akidb_status st = match_list(v, where, any ? "any" : "except", &vals);
    if (st != AKIDB_OK)
        return st;
    if (any && json_array_size(vals) == 0) {   /* any of nothing matches nothing */
        json_decref(vals);
        *out = json_pack("{s:[]}", "or");
        return *out ? AKIDB_OK : oom();
    }
    *out = field(key, field(any ? "in" : "except", vals));
    return *out ? AKIDB_OK : oom();
}

static akidb_status tr_range(const char *key, const json_t *r, const char *where, json_t **out)
{
    *out = NULL;
    if (!json_is_object(r))
        return ak_fail(AKIDB_EINVAL, "%s.range must be an object", where);
    json_t *ops = json_object();
    if (!ops)
        return oom();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)r, k, v) {
        bool known = strcmp(k, "gt") == 0 || strcmp(k, "gte") == 0 || strcmp(k, "lt") == 0 ||
                     strcmp(k, "lte") == 0;
        akidb_status st = AKIDB_OK;
        if (!known)
            st = ak_fail(AKIDB_EINVAL, "%s.range: unknown field '%s'", where, k);
        else if (json_is_string(v))
            st = ak_fail(AKIDB_EINVAL, "%s.range.%s: datetime ranges cannot be translated",
                         where, k);
        else if (!json_is_null(v) && !json_is_number(v))
            st = ak_fail(AKIDB_EINVAL, "%s.range.%s must be a number", where, k);
        else if (json_is_number(v) && json_object_set_new(ops, k, json_deep_copy(v)) != 0)
            st = oom();
        if (st != AKIDB_OK) {
            json_decref(ops);
            return st;
        }
    }
    /* no bound: any number */
    if (json_object_size(ops) == 0 && json_object_set_new(ops, "gte", json_real(-DBL_MAX)) != 0) {
        json_decref(ops);
        return oom();
    }
    *out = field(key, ops);
    return *out ? AKIDB_OK : oom();
}

/* {K: {"empty": want}}: absent, null or [] (Qdrant's is_empty). */
static json_t *is_empty(const char *key, bool want)
{
    return field(key, json_pack("{s:b}", "empty", want));
}

/* The field condition {"key": K, "is_null": want}: K is null or an array
 * holding null (negated: anything else, absent included). */
static json_t *is_null(const char *key, bool want)
{
    json_t *e = field(key, json_null());
    return want ? e : field("not", e);
}

/* The condition {"is_null": {"key": K}}: K itself is null, not an array
 * holding one. */
static json_t *is_null_cond(const char *key)
{
    return field(key, json_pack("{s:n,s:b}", "eq", "empty", 1));
}

/* {"key": K, "match"/"range"/"is_empty"/"is_null"...}, as Qdrant checks a
 * field condition: is_empty when given, else is_null when given, else a
 * value holds when any of match / range holds for it. */
static akidb_status tr_field(const json_t *c, const char *where, json_t **out)
{
    akidb_status st = check_key(json_object_get(c, "key"), where);
    if (st != AKIDB_OK)
        return st;
    const char *key = json_string_value(json_object_get(c, "key"));
    json_t *parts = json_array();
    if (!parts)
        return oom();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)c, k, v) {
        json_t *p = NULL;
        if (strcmp(k, "key") == 0 || json_is_null(v))
            continue;
        if (strcmp(k, "match") == 0) {
            st = tr_match(key, v, where, &p);
        } else if (strcmp(k, "range") == 0) {
            st = tr_range(key, v, where, &p);
        } else if (strcmp(k, "is_empty") == 0 || strcmp(k, "is_null") == 0) {
            if (!json_is_boolean(v))
                st = ak_fail(AKIDB_EINVAL, "%s.%s must be true or false", where, k);
            else if (!(p = k[3] == 'e' ? is_empty(key, json_is_true(v))
                                       : is_null(key, json_is_true(v))))
                st = oom();
        } else if (strncmp(k, "geo_", 4) == 0 || strcmp(k, "values_count") == 0 ||
                   strcmp(k, "datetime_range") == 0) {
            st = ak_fail(AKIDB_EINVAL, "%s.%s: this condition cannot be translated to an "
                         "AkiDB filter", where, k);
        } else {
            st = ak_fail(AKIDB_EINVAL, "%s: unknown field '%s' in a field condition", where, k);
        }
        if (st == AKIDB_OK)
            st = push(parts, p);
        if (st != AKIDB_OK) {
            json_decref(parts);
            return st;
        }
    }
    size_t n = json_array_size(parts);
    if (n == 0) {
        json_decref(parts);
        return ak_fail(AKIDB_EINVAL, "%s: a field condition on '%s' needs match, range, "
                       "is_empty or is_null", where, key);
    }
    json_t *ie = json_object_get(c, "is_empty"), *in = json_object_get(c, "is_null");
    if (json_is_boolean(ie))
        *out = is_empty(key, json_is_true(ie));
    else if (json_is_boolean(in))
        *out = is_null(key, json_is_true(in));
    else if (n == 1)
        *out = json_incref(json_array_get(parts, 0));
    else
        *out = field("or", json_incref(parts));
    json_decref(parts);
    return *out ? AKIDB_OK : oom();
}

/* has_id: {"$id": {"in": [ids]}} into *out.  In the top-level must (ids
 * not NULL) the shortest such list also goes to *ids: the points a
 * selection can fetch by id before the filter (which holds every list)
 * runs on them. */
static akidb_status tr_has_id(const json_t *v, const char *where, json_t **out, json_t **ids)
{
    *out = NULL;
    if (!json_is_array(v))
        return ak_fail(AKIDB_EINVAL, "%s.has_id must be an array of point ids", where);
    json_t *all = json_array();
    akidb_status st = all ? AKIDB_OK : oom();
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        char id[AK_QDRANT_ID_CAP], err[160];
        if (st != AKIDB_OK)
            break;
        if (!ak_qdrant_id_from_json(x, id, err, sizeof err))
            st = ak_fail(AKIDB_EINVAL, "%s.has_id[%zu]: %s", where, i, err);
        else
            st = push(all, json_string(id));
    }
    if (st == AKIDB_OK && !(*out = field("$id", field("in", json_incref(all)))))
        st = oom();
    if (st == AKIDB_OK && ids && (!*ids || json_array_size(all) < json_array_size(*ids))) {
        json_decref(*ids);
        *ids = json_incref(all);
    }
    json_decref(all);
    return st;
}

static akidb_status tr_filter(const json_t *f, const char *where, int depth, json_t **out,
                              json_t **ids);

/* One condition; ids is non-NULL only for the top-level must. */
static akidb_status tr_cond(const json_t *c, const char *where, int depth, json_t **out,
                            json_t **ids)
{
    *out = NULL;
    if (!json_is_object(c))
        return ak_fail(AKIDB_EINVAL, "%s must be a condition object", where);
    const json_t *v;
    if ((v = json_object_get(c, "has_id")) != NULL)
        return tr_has_id(v, where, out, ids);
    if (json_object_get(c, "key"))
        return tr_field(c, where, out);
    if ((v = json_object_get(c, "is_empty")) != NULL || (v = json_object_get(c, "is_null"))) {
        bool empty = json_object_get(c, "is_empty") != NULL;
        const char *what = empty ? "is_empty" : "is_null";
        if (!json_is_object(v))
            return ak_fail(AKIDB_EINVAL, "%s.%s must be an object with \"key\"", where, what);
        char w[256];
        snprintf(w, sizeof w, "%.200s.%s", where, what);
        akidb_status st = check_key(json_object_get(v, "key"), w);
        if (st != AKIDB_OK)
            return st;
        const char *key = json_string_value(json_object_get(v, "key"));
        *out = empty ? is_empty(key, true) : is_null_cond(key);
        return *out ? AKIDB_OK : oom();
    }
    static const char *const refused[] = {"nested", "has_vector"};
    for (size_t i = 0; i < 2; i++)
        if (json_object_get(c, refused[i]))
            return ak_fail(AKIDB_EINVAL, "%s.%s: this condition cannot be translated to an "
                           "AkiDB filter", where, refused[i]);
    if (json_object_get(c, "must") || json_object_get(c, "should") ||
        json_object_get(c, "must_not") || json_object_get(c, "min_should") ||
        json_object_size(c) == 0)
        return tr_filter(c, where, depth + 1, out, NULL);
    return ak_fail(AKIDB_EINVAL, "%s: unknown condition (expected key, is_empty, is_null, "
                   "has_id or a nested filter)", where);
}

/* The conditions of one clause (one object or an array) into arr. */
static akidb_status tr_clause(const json_t *v, const char *where, int depth, json_t *arr,
                              json_t **ids)
{
    char w[256];
    if (json_is_object(v)) {
        json_t *c;
        akidb_status st = tr_cond(v, where, depth, &c, ids);
        if (st == AKIDB_OK && c)
            st = push(arr, c);
        return st;
    }
    if (!json_is_array(v))
        return ak_fail(AKIDB_EINVAL, "%s must be a condition or an array of conditions",
                       where);
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) {
        json_t *c;
        akidb_status st = tr_cond(x, sub(w, sizeof w, where, "[%zu]", i), depth, &c, ids);
        if (st == AKIDB_OK && c)
            st = push(arr, c);
        if (st != AKIDB_OK)
            return st;
    }
    return AKIDB_OK;
}

static akidb_status tr_filter(const json_t *f, const char *where, int depth, json_t **out,
                              json_t **ids)
{
    *out = NULL;
    if (depth > QF_MAX_DEPTH)
        return ak_fail(AKIDB_EINVAL, "%s: filters nest at most %d levels", where,
                       QF_MAX_DEPTH);
    if (!json_is_object(f))
        return ak_fail(AKIDB_EINVAL, "%s must be an object", where);
    json_t *parts = json_array();
    if (!parts)
        return oom();
    akidb_status st = AKIDB_OK;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)f, k, v) {
        char w[256];
        snprintf(w, sizeof w, "%.200s.%.40s", where, k);
        if (json_is_null(v))
            continue;
        bool must = strcmp(k, "must") == 0, should = strcmp(k, "should") == 0;
        bool must_not = strcmp(k, "must_not") == 0;
        if (!must && !should && !must_not) {
            st = ak_fail(AKIDB_EINVAL, strcmp(k, "min_should") == 0
                                           ? "%s cannot be translated to an AkiDB filter"
                                           : "%s: unknown filter field", w);
            break;
        }
        json_t *arr = json_array();
        if (!arr) {
            st = oom();
            break;
        }
        st = tr_clause(v, w, depth, must ? parts : arr, must ? ids : NULL);
        if (st == AKIDB_OK && json_array_size(arr) > 0) {
            json_t *any = field("or", json_incref(arr));
            st = push(parts, should ? any : field("not", any));
        }
        json_decref(arr);
        if (st != AKIDB_OK)
            break;
    }
    if (st != AKIDB_OK) {
        json_decref(parts);
        return st;
    }
    size_t n = json_array_size(parts);
    if (n == 1) {
        *out = json_incref(json_array_get(parts, 0));
        json_decref(parts);
    } else if (n == 0) {
        *out = json_object();
        json_decref(parts);
    } else {
        *out = field("and", parts);
    }
    return *out ? AKIDB_OK : oom();
}

akidb_status ak_qdrant_filter(const json_t *qf, ak_qfilter *out)
{
    out->filter = NULL;
    out->ids = NULL;
    if (!qf || json_is_null(qf))
        return AKIDB_OK;
    json_t *f = NULL;
    akidb_status st = tr_filter(qf, "filter", 0, &f, &out->ids);
    if (st != AKIDB_OK) {
        json_decref(f);
        ak_qfilter_clear(out);
        return st;
    }
    if (json_object_size(f) == 0) {   /* {}: every point */
        json_decref(f);
        f = NULL;
    }
    out->filter = f;
    return AKIDB_OK;
}

void ak_qfilter_clear(ak_qfilter *f)
{
    json_decref(f->filter);
    json_decref(f->ids);
    f->filter = NULL;
    f->ids = NULL;
}
