/*
 * qdrant_ids.c - Qdrant point ids (unsigned integers, UUIDs) to AkiDB
 * string ids and back; the rules are in qdrant_ids.h.
 */
#include "server/qdrant_ids.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Parses one UUID spelling (hyphenated, 32 hex digits, braced, urn:uuid:)
 * into canonical hyphenated lower-case text in buf.  False when s is none. */
static bool uuid_canon(const char *s, char *buf)
{
    size_t n = strlen(s);
    if (n > 9 && strncasecmp(s, "urn:uuid:", 9) == 0) {
        s += 9;
        n -= 9;
    } else if (n > 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }
    bool hyph;
    if (n == 36)
        hyph = true;
    else if (n == 32)
        hyph = false;
    else
        return false;
    static const char digits[] = "0123456789abcdef";
    size_t w = 0, nd = 0;
    for (size_t i = 0; i < n; i++) {
        if (hyph && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int h = hexval((unsigned char)s[i]);
        if (h < 0)
            return false;
        if (nd == 8 || nd == 12 || nd == 16 || nd == 20)
            buf[w++] = '-';
        buf[w++] = digits[h];
        nd++;
    }
    buf[w] = '\0';
    return nd == 32;
}

bool ak_qdrant_id_from_text(const char *s, char *buf, char *err, size_t errcap)
{
    size_t n = strlen(s);
    bool digits = n > 0 && n <= 20;
    for (size_t i = 0; digits && i < n; i++)
        digits = s[i] >= '0' && s[i] <= '9';
    if (digits) {
        /* canonical decimal within the JSON integer range */
        uint64_t v = 0;
        bool over = false;
        for (size_t i = 0; i < n; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                over = true;
            v = v * 10 + d;
        }
        if (!over && v <= (uint64_t)INT64_MAX) {
            snprintf(buf, AK_QDRANT_ID_CAP, "%llu", (unsigned long long)v);
            return true;
        }
    }
    if (uuid_canon(s, buf))
        return true;
    snprintf(err, errcap,
             "Unable to parse point id '%.64s%s': an id is an unsigned integer or a UUID", s,
             n > 64 ? "..." : "");
    return false;
}

bool ak_qdrant_id_from_json(const json_t *v, char *buf, char *err, size_t errcap)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0) {
            snprintf(err, errcap,
                     "Unable to parse point id %lld: an id is an unsigned integer or a UUID",
                     (long long)i);
            return false;
        }
        snprintf(buf, AK_QDRANT_ID_CAP, "%llu", (unsigned long long)i);
        return true;
    }
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(err, errcap, "Unable to parse point id: it contains a NUL byte");
            return false;
        }
        if (uuid_canon(json_string_value(v), buf))
            return true;
        snprintf(err, errcap, "Unable to parse UUID '%.64s': a string id must be a UUID",
                 json_string_value(v));
        return false;
    }
    snprintf(err, errcap, "Unable to parse point id: expected an unsigned integer or a UUID "
             "string, got %s", json_is_real(v) ? "a fractional number"
                               : json_is_boolean(v) ? "a boolean"
                               : json_is_null(v) ? "null"
                               : json_is_array(v) ? "an array" : "an object");
    return false;
}

json_t *ak_qdrant_id_to_json(const char *id)
{
    size_t n = strlen(id);
    bool dec = n > 0 && n <= 19 && (id[0] != '0' || n == 1);
    for (size_t i = 0; dec && i < n; i++)
        dec = id[i] >= '0' && id[i] <= '9';
    if (dec) {
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++)
            v = v * 10 + (uint64_t)(id[i] - '0');
        if (v <= (uint64_t)INT64_MAX)
            return json_integer((json_int_t)v);
    }
    return json_string(id);
}
