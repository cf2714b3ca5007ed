/*
 * auth.c - API keys of the REST server.
 *
 * A key is "ak_" followed by 48 hex digits (192 bits from getrandom).  Only
 * its SHA-256 is kept: the keys are long random secrets, not passwords, so a
 * slow password hash (argon2) would add milliseconds of CPU to every request
 * without making a 192-bit secret any harder to guess, and a per-key salt
 * buys nothing against a preimage search over 2^192 inputs.  Lookups hash
 * the presented key once and compare against every stored hash with
 * CRYPTO_memcmp, so timing does not reveal near misses.
 *
 * Each key carries a tenant and a role (reader < writer < admin).  Stored
 * keys live in <data>/auth.json, rewritten atomically with mode 0600
 * (ak_io_replace_*, src/common/fileio.c: temporary file, fsync, rename,
 * fsync of the folder).  The key given by
 * AKIDB_ADMIN_KEY is held in memory only (id "admin-env"), so unsetting the
 * variable revokes it at the next start.
 */
#include "server/internal.h"

#include "common/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define KEY_RANDOM_BYTES 24
#define LABEL_MAX 128

typedef struct key_rec {
    char id[32];
    unsigned char hash[32];
    char tenant[AK_TENANT_MAX + 1];
    ak_role role;
    char label[LABEL_MAX + 1];
    char prefix[16];              /* "ak_" + 4 characters, for display       */
    long long created;
    bool env;                     /* AKIDB_ADMIN_KEY: never written to disk  */
} key_rec;

struct ak_auth {
    pthread_rwlock_t lock;
    char *path;                   /* <data>/auth.json or NULL                */
    key_rec *keys;
    size_t n, cap;
};

const char *ak_role_name(ak_role r)
{
    switch (r) {
    case AK_ROLE_READER: return "reader";
    case AK_ROLE_WRITER: return "writer";
    case AK_ROLE_ADMIN: return "admin";
    default: return "none";
    }
}

ak_role ak_role_parse(const char *s)
{
    if (!s)
        return AK_ROLE_NONE;
    if (strcmp(s, "reader") == 0) return AK_ROLE_READER;
    if (strcmp(s, "writer") == 0) return AK_ROLE_WRITER;
    if (strcmp(s, "admin") == 0) return AK_ROLE_ADMIN;
    return AK_ROLE_NONE;
}

static void sha256(const char *s, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    if (!EVP_Digest(s, n, out, &len, EVP_sha256(), NULL))
        AK_ASSERT(!"EVP_Digest(sha256) failed");
}

static bool from_hex(const char *s, unsigned char *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0'
              : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
              : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return true;
}

static akidb_status random_bytes(unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return ak_fail(AKIDB_EIO, "getrandom: %s", strerror(errno));
        }
        got += (size_t)r;
    }
    return AKIDB_OK;
}

static key_rec *push_key(ak_auth *a)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        key_rec *k = ak_realloc(a->keys, cap * sizeof *k);
        if (!k)
            return NULL;
        a->keys = k;
        a->cap = cap;
    }
    key_rec *k = &a->keys[a->n++];
    memset(k, 0, sizeof *k);
    return k;
}

/* Writes the stored (non-env) keys atomically.  Caller holds the write
 * lock. */
static akidb_status save(ak_auth *a)
{
    if (!a->path)
        return AKIDB_OK;
    json_t *root = json_object();
    json_t *arr = json_array();
    if (!root || !arr) {
        json_decref(root);
        json_decref(arr);
        return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
    }
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "keys", arr);
    for (size_t i = 0; i < a->n; i++) {
        key_rec *k = &a->keys[i];
        if (k->env)
            continue;
        char hex[65];
        ak_hex_encode(k->hash, 32, hex);
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "id", k->id, "sha256", hex,
                              "tenant", k->tenant, "role", ak_role_name(k->role),
                              "label", k->label, "prefix", k->prefix, "created",
                              (json_int_t)k->created);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(root);
            return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
        }
    }
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
    /* Once the new file is renamed into place it is what the next start
     * reads, so a failing fsync of the folder after that is not reported:
     * the callers would undo in memory a change the file already has. */
    ak_io_replace r;
    akidb_status st = ak_io_replace_begin(&r, a->path, 0600);
    if (st == AKIDB_OK) {
        st = ak_io_write_all(r.fd, text, strlen(text), r.tmp);
        if (st != AKIDB_OK)
            ak_io_replace_abort(&r);
        else if ((st = ak_io_replace_commit(&r, true)) != AKIDB_OK && r.renamed)
            st = AKIDB_OK;
    }
    ak_json_free_str(text);
    return st;
}

static akidb_status load(ak_auth *a)
{
    char *data;
    size_t len;
    akidb_status st = ak_read_file(a->path, 64u << 20, &data, &len);
    if (st == AKIDB_ENOENT)
        return AKIDB_OK;
    if (st != AKIDB_OK)
        return st;
    json_error_t err;
    json_t *root = json_loadb(data, len, 0, &err);
    ak_free(data);
    if (!root)
        return ak_fail(AKIDB_ECORRUPT, "%s: line %d: %s", a->path, err.line, err.text);
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys)) {
        json_decref(root);
        return ak_fail(AKIDB_ECORRUPT, "%s: no \"keys\" array", a->path);
    }
    size_t i;
    json_t *o;
    json_array_foreach(keys, i, o) {
        const char *id = NULL, *hex = NULL, *tenant = NULL, *role = NULL,
                   *label = "", *prefix = "";
        json_int_t created = 0;
        if (json_unpack(o, "{s:s,s:s,s:s,s:s,s?s,s?s,s?I}", "id", &id, "sha256", &hex,
                        "tenant", &tenant, "role", &role, "label", &label, "prefix",
                        &prefix, "created", &created) != 0 ||
            strlen(id) >= sizeof(((key_rec *)0)->id) || strlen(tenant) > AK_TENANT_MAX ||
            ak_role_parse(role) == AK_ROLE_NONE) {
            json_decref(root);
            return ak_fail(AKIDB_ECORRUPT, "%s: key %zu is malformed", a->path, i);
        }
        key_rec *k = push_key(a);
        if (!k) {
            json_decref(root);
            return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
        }
        if (!from_hex(hex, k->hash, 32)) {
            json_decref(root);
            return ak_fail(AKIDB_ECORRUPT, "%s: key %zu: bad sha256", a->path, i);
        }
        snprintf(k->id, sizeof k->id, "%s", id);
        snprintf(k->tenant, sizeof k->tenant, "%s", tenant);
        snprintf(k->label, sizeof k->label, "%s", label);
        snprintf(k->prefix, sizeof k->prefix, "%s", prefix);
        k->role = ak_role_parse(role);
        k->created = created;
    }
    json_decref(root);
    return AKIDB_OK;
}

akidb_status ak_auth_open(const char *data_dir, ak_auth **out)
{
    *out = NULL;
    ak_auth *a = ak_calloc(1, sizeof *a);
    if (!a)
        return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
    pthread_rwlock_init(&a->lock, NULL);
    if (data_dir) {
        a->path = ak_path_join(data_dir, "auth.json");
        if (!a->path) {
            ak_auth_close(a);
            return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
        }
        akidb_status st = load(a);
        if (st != AKIDB_OK) {
            ak_auth_close(a);
            return st;
        }
    }
    *out = a;
    return AKIDB_OK;
}

void ak_auth_close(ak_auth *a)
{
    if (!a)
        return;
    if (a->keys)
        OPENSSL_cleanse(a->keys, a->cap * sizeof *a->keys);
    ak_free(a->keys);
    ak_free(a->path);
    pthread_rwlock_destroy(&a->lock);
    ak_free(a);
}

/* Makes a new secret key into buf (4 + 2*KEY_RANDOM_BYTES bytes). */
static akidb_status new_secret(char *buf)
{
    unsigned char rnd[KEY_RANDOM_BYTES];
    akidb_status st = random_bytes(rnd, sizeof rnd);
    if (st != AKIDB_OK)
        return st;
    memcpy(buf, "ak_", 3);
    ak_hex_encode(rnd, sizeof rnd, buf + 3);
    OPENSSL_cleanse(rnd, sizeof rnd);
    return AKIDB_OK;
}

static akidb_status new_id(char *buf, size_t cap)
{
    unsigned char rnd[6];
    akidb_status st = random_bytes(rnd, sizeof rnd);
    if (st != AKIDB_OK)
        return st;
    char hex[13];
    ak_hex_encode(rnd, sizeof rnd, hex);
    snprintf(buf, cap, "key_%s", hex);
    return AKIDB_OK;
}

static json_t *describe(const key_rec *k)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s}", "id", k->id, "tenant", k->tenant,
                     "role", ak_role_name(k->role), "label", k->label, "prefix",
                     k->prefix, "created", (json_int_t)k->created, "source",
                     k->env ? "env" : "stored");
}

/* Adds a key record for secret; caller holds the write lock. */
static akidb_status add_key(ak_auth *a, const char *secret, const char *tenant,
                            ak_role role, const char *label, bool env, key_rec **rec)
{
    key_rec *k = push_key(a);
    if (!k)
        return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
    if (env) {
        snprintf(k->id, sizeof k->id, "admin-env");
    } else {
        akidb_status st = new_id(k->id, sizeof k->id);
        if (st != AKIDB_OK) {
            a->n--;
            return st;
        }
    }
    sha256(secret, strlen(secret), k->hash);
    snprintf(k->tenant, sizeof k->tenant, "%s", tenant);
    snprintf(k->label, sizeof k->label, "%s", label ? label : "");
    snprintf(k->prefix, sizeof k->prefix, "%.7s", secret);
    k->role = role;
    k->created = (long long)time(NULL);
    k->env = env;
    if (rec)
        *rec = k;
    return AKIDB_OK;
}

akidb_status ak_auth_bootstrap(ak_auth *a, const char *env_key, char **generated)
{
    *generated = NULL;
    pthread_rwlock_wrlock(&a->lock);
    akidb_status st = AKIDB_OK;
    if (env_key) {
        if (strlen(env_key) < 16) {
            st = ak_fail(AKIDB_EINVAL, "AKIDB_ADMIN_KEY must be at least 16 characters");
        } else {
            st = add_key(a, env_key, AK_DEFAULT_TENANT, AK_ROLE_ADMIN, "AKIDB_ADMIN_KEY",
                         true, NULL);
        }
    } else {
        bool have_admin = false;
        for (size_t i = 0; i < a->n; i++)
            if (a->keys[i].role == AK_ROLE_ADMIN)
                have_admin = true;
        if (!have_admin) {
            char *secret = ak_malloc(4 + 2 * KEY_RANDOM_BYTES);
            if (!secret) {
                st = ak_fail(AKIDB_ENOMEM, "auth: out of memory");
            } else {
                st = new_secret(secret);
                if (st == AKIDB_OK)
                    st = add_key(a, secret, AK_DEFAULT_TENANT, AK_ROLE_ADMIN,
                                 "generated at first start", false, NULL);
                if (st == AKIDB_OK) {
                    st = save(a);
                    if (st != AKIDB_OK)
                        a->n--;
                }
                if (st == AKIDB_OK)
                    *generated = secret;
                else
                    ak_free(secret);
            }
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return st;
}

akidb_status ak_auth_check(ak_auth *a, const char *key, ak_ident *out)
{
    memset(out, 0, sizeof *out);
    if (!key || !key[0])
        return ak_fail(AKIDB_EAUTH, "an API key is required");
    unsigned char h[32];
    sha256(key, strlen(key), h);
    pthread_rwlock_rdlock(&a->lock);
    const key_rec *hit = NULL;
    for (size_t i = 0; i < a->n; i++)
        if (CRYPTO_memcmp(a->keys[i].hash, h, 32) == 0)
            hit = &a->keys[i];
    if (hit) {
        snprintf(out->tenant, sizeof out->tenant, "%s", hit->tenant);
        snprintf(out->key_id, sizeof out->key_id, "%s", hit->id);
        out->role = hit->role;
    }
    pthread_rwlock_unlock(&a->lock);
    return hit ? AKIDB_OK : ak_fail(AKIDB_EAUTH, "invalid API key");
}

akidb_status ak_auth_key_create(ak_auth *a, const char *tenant, ak_role role,
                                const char *label, char **key_out, json_t **info)
{
    *key_out = NULL;
    *info = NULL;
    if (role == AK_ROLE_NONE)
        return ak_fail(AKIDB_EINVAL, "role must be reader, writer or admin");
    if (!tenant || !tenant[0] || strlen(tenant) > AK_TENANT_MAX)
        return ak_fail(AKIDB_EINVAL, "bad tenant name");
    if (label && strlen(label) > LABEL_MAX)
        return ak_fail(AKIDB_EINVAL, "label longer than %d bytes", LABEL_MAX);
    char *secret = ak_malloc(4 + 2 * KEY_RANDOM_BYTES);
    if (!secret)
        return ak_fail(AKIDB_ENOMEM, "auth: out of memory");
    akidb_status st = new_secret(secret);
    if (st != AKIDB_OK) {
        ak_free(secret);
        return st;
    }
    pthread_rwlock_wrlock(&a->lock);
    key_rec *k = NULL;
    st = add_key(a, secret, tenant, role, label, false, &k);
    if (st == AKIDB_OK) {
        *info = describe(k);
        st = save(a);
        if (st != AKIDB_OK) {
            a->n--;
            json_decref(*info);
            *info = NULL;
        } else if (!*info) {
            st = ak_fail(AKIDB_ENOMEM, "auth: out of memory");
        }
    }
    pthread_rwlock_unlock(&a->lock);
    if (st != AKIDB_OK) {
        ak_free(secret);
        return st;
    }
    *key_out = secret;
    return AKIDB_OK;
}

json_t *ak_auth_key_list(ak_auth *a, const char *tenant)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    pthread_rwlock_rdlock(&a->lock);
    for (size_t i = 0; i < a->n; i++) {
        if (tenant && strcmp(tenant, a->keys[i].tenant) != 0)
            continue;
        if (json_array_append_new(arr, describe(&a->keys[i])) != 0) {
            json_decref(arr);
            arr = NULL;
            break;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return arr;
}

akidb_status ak_auth_key_delete(ak_auth *a, const char *id)
{
    pthread_rwlock_wrlock(&a->lock);
    akidb_status st = ak_fail(AKIDB_ENOENT, "no key with id '%s'", id);
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->keys[i].id, id) != 0)
            continue;
        if (a->keys[i].env) {
            st = ak_fail(AKIDB_EPERM, "the AKIDB_ADMIN_KEY key cannot be deleted over HTTP");
            break;
        }
        key_rec saved = a->keys[i];
        memmove(&a->keys[i], &a->keys[i + 1], (a->n - i - 1) * sizeof *a->keys);
        a->n--;
        st = save(a);
        if (st != AKIDB_OK) {
            /* Put it back: the file still has it. */
            memmove(&a->keys[i + 1], &a->keys[i], (a->n - i) * sizeof *a->keys);
            a->keys[i] = saved;
            a->n++;
        }
        break;
    }
    pthread_rwlock_unlock(&a->lock);
    return st;
}

akidb_status ak_auth_delete_tenant_keys(ak_auth *a, const char *tenant, size_t *n)
{
    *n = 0;
    pthread_rwlock_wrlock(&a->lock);
    size_t w = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (!a->keys[i].env && strcmp(a->keys[i].tenant, tenant) == 0) {
            (*n)++;
            continue;
        }
        a->keys[w++] = a->keys[i];
    }
    a->n = w;
    akidb_status st = *n ? save(a) : AKIDB_OK;
    pthread_rwlock_unlock(&a->lock);
    return st;
}

size_t ak_auth_key_count(ak_auth *a)
{
    pthread_rwlock_rdlock(&a->lock);
    size_t n = a->n;
    pthread_rwlock_unlock(&a->lock);
    return n;
}
