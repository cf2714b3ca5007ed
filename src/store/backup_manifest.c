/*
 * backup_manifest.c - the bucket copy's object names, SHA-256 digests and
 * manifest (JSON, written and parsed) for backup.c; the format is in
 * docs/FORMAT.md ("Bucket").
 */
#include "store/backup_int.h"

#include "common/fileio.h"
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- names, digests ------------------------------------------------------------ */

void bk_snap_name(char *buf, size_t cap, uint64_t lsn)
{
    snprintf(buf, cap, "snap-%016llx.akdb", (unsigned long long)lsn);
}

void bk_obj_name(char *buf, size_t cap, int snap, uint64_t lsn)
{
    if (snap == BK_SEG)
        snprintf(buf, cap, "seg-%016llx.akseg", (unsigned long long)lsn);
    else if (snap)
        bk_snap_name(buf, cap, lsn);
    else
        ak_wal_segment_name(buf, lsn);
}

void bk_obj_key(const ak_backup *b, char *buf, size_t cap, int snap, uint64_t lsn)
{
    char name[40];
    bk_obj_name(name, sizeof name, snap, lsn);
    snprintf(buf, cap, "%s%s", b->prefix, name);
}

static void sha_final(EVP_MD_CTX *c, char out[65])
{
    unsigned char d[32];
    unsigned dl = 0;
    EVP_DigestFinal_ex(c, d, &dl);
    ak_hex_encode(d, 32, out);
    out[64] = 0;
}

akidb_status bk_sha_buf(const void *p, size_t n, char out[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return ak_fail(AKIDB_ENOMEM, "backup: out of memory (SHA-256)");
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, p, n);
    sha_final(c, out);
    EVP_MD_CTX_free(c);
    return AKIDB_OK;
}

/* Size and SHA-256 of the first limit bytes of a file (all of it when it
 * is shorter), streamed. */
akidb_status bk_sha_file(const char *path, uint64_t limit, uint64_t *size, char out[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ak_fail(ak_io_status(errno), "open %s: %s", path, strerror(errno));
    size_t cap = 1u << 20;
    unsigned char *buf = ak_malloc(cap);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    akidb_status st = AKIDB_OK;
    if (!buf || !c) {
        st = ak_fail(AKIDB_ENOMEM, "backup: out of memory hashing %s", path);
        goto out;
    }
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    *size = 0;
    for (;;) {
        size_t want = limit - *size < cap ? (size_t)(limit - *size) : cap;
        ssize_t k = want ? read(fd, buf, want) : 0;
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            st = ak_fail(AKIDB_EIO, "read %s: %s", path, strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        EVP_DigestUpdate(c, buf, (size_t)k);
        *size += (uint64_t)k;
    }
    sha_final(c, out);
out:
    EVP_MD_CTX_free(c);
    ak_free(buf);
    close(fd);
    return st;
}

/* ---- the manifest ---------------------------------------------------------------- */

void bk_manifest_free(bk_manifest *m)
{
    ak_free(m->wal);
    ak_free(m->seg);
    memset(m, 0, sizeof *m);
}

bool bk_obj_equal(const bk_obj *a, const bk_obj *b)
{
    return a->lsn == b->lsn && a->size == b->size && strcmp(a->sha, b->sha) == 0;
}

bool bk_manifest_equal(const bk_manifest *a, const bk_manifest *b)
{
    if (a->has_snap != b->has_snap || (a->has_snap && !bk_obj_equal(&a->snap, &b->snap)) ||
        a->n_wal != b->n_wal || a->last_lsn != b->last_lsn || a->n_seg != b->n_seg)
        return false;
    for (size_t i = 0; i < a->n_wal; i++)
        if (!bk_obj_equal(&a->wal[i], &b->wal[i]))
            return false;
    for (size_t i = 0; i < a->n_seg; i++)
        if (!bk_obj_equal(&a->seg[i], &b->seg[i]))
            return false;
    return true;
}

json_t *bk_obj_json(const ak_backup *b, const bk_obj *o, int snap)
{
    char key[1100];
    bk_obj_key(b, key, sizeof key, snap, o->lsn);
    if (snap == BK_SEG)
        return json_pack("{s:s, s:I, s:I, s:s}", "key", key, "seq", (json_int_t)o->lsn, "size",
                         (json_int_t)o->size, "sha256", o->sha);
    if (snap)
        return json_pack("{s:s, s:I, s:I, s:s}", "key", key, "lsn", (json_int_t)o->lsn, "size",
                         (json_int_t)o->size, "sha256", o->sha);
    return json_pack("{s:s, s:I, s:I, s:I, s:s}", "key", key, "lsn", (json_int_t)o->lsn,
                     "last_lsn", (json_int_t)o->last, "size", (json_int_t)o->size, "sha256",
                     o->sha);
}

/* The manifest as JSON text (ak_free). */
akidb_status bk_manifest_dump(const ak_backup *b, const bk_manifest *m, char **out)
{
    *out = NULL;
    json_t *root = json_object(), *wal = json_array(), *seg = json_array();
    bool ok = root && wal && json_object_set_new(root, "format", json_integer(BK_FORMAT)) == 0;
    ok = ok && json_object_set_new(root, "snapshot",
                                   m->has_snap ? bk_obj_json(b, &m->snap, true) : json_null()) == 0;
    for (size_t i = 0; ok && i < m->n_wal; i++)
        ok = json_array_append_new(wal, bk_obj_json(b, &m->wal[i], false)) == 0;
    for (size_t i = 0; ok && i < m->n_seg; i++)
        ok = json_array_append_new(seg, bk_obj_json(b, &m->seg[i], BK_SEG)) == 0;
    ok = ok && (!m->n_seg || json_object_set(root, "segments", seg) == 0);
    ok = ok && json_object_set(root, "wal", wal) == 0;
    ok = ok && json_object_set_new(root, "last_lsn", json_integer((json_int_t)m->last_lsn)) == 0;
    char *txt = ok ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(wal);
    json_decref(seg);
    json_decref(root);
    if (!txt)
        return ak_fail(AKIDB_ENOMEM, "backup: out of memory writing the manifest");
    *out = txt;
    return AKIDB_OK;
}

/* Reads one object entry; false if malformed. */
bool bk_obj_parse(const ak_backup *b, json_t *j, int snap, bk_obj *o)
{
    json_t *k = json_object_get(j, "key"),
           *l = json_object_get(j, snap == BK_SEG ? "seq" : "lsn"),
           *z = json_object_get(j, "size"), *h = json_object_get(j, "sha256");
    if (!json_is_string(k) || !json_is_integer(l) || !json_is_integer(z) || !json_is_string(h) ||
        json_integer_value(l) < 1 || json_integer_value(z) < 0 || strlen(json_string_value(h)) != 64)
        return false;
    o->lsn = (uint64_t)json_integer_value(l);
    o->size = (uint64_t)json_integer_value(z);
    snprintf(o->sha, sizeof o->sha, "%s", json_string_value(h));
    if (snap == BK_WAL) {
        json_t *x = json_object_get(j, "last_lsn");
        if (!json_is_integer(x) || json_integer_value(x) < json_integer_value(l))
            return false;
        o->last = (uint64_t)json_integer_value(x);
    }
    char want[1100];
    bk_obj_key(b, want, sizeof want, snap, o->lsn);
    return strcmp(want, json_string_value(k)) == 0;
}

akidb_status bk_manifest_parse(const ak_backup *b, const char *txt, size_t len,
                                   bk_manifest *m)
{
    memset(m, 0, sizeof *m);
    char what[1200];
    snprintf(what, sizeof what, "s3://%s/%sMANIFEST", b->bucket, b->prefix);
    json_t *root;
    akidb_status st = ak_json_parse(txt, len, 0, what, &root);
    if (st != AKIDB_OK)
        return st == AKIDB_ENOMEM ? st : ak_fail_prefix(AKIDB_ECORRUPT, "backup");
    json_t *f = json_object_get(root, "format"), *sn = json_object_get(root, "snapshot"),
           *wal = json_object_get(root, "wal"), *ll = json_object_get(root, "last_lsn");
    if (!json_is_integer(f) || !json_is_array(wal) || !json_is_integer(ll) ||
        (!json_is_null(sn) && !json_is_object(sn))) {
        st = ak_fail(AKIDB_ECORRUPT, "%s: not a manifest (format, snapshot, wal or last_lsn "
                     "missing or of the wrong type)", what);
        goto out;
    }
    if (json_integer_value(f) != BK_FORMAT) {
        st = ak_fail(AKIDB_EFORMAT, "%s: manifest format %lld, this version reads %d", what,
                     (long long)json_integer_value(f), BK_FORMAT);
        goto out;
    }
    m->last_lsn = (uint64_t)json_integer_value(ll);
    if (json_is_object(sn)) {
        m->has_snap = true;
        if (!bk_obj_parse(b, sn, true, &m->snap)) {
            st = ak_fail(AKIDB_ECORRUPT, "%s: malformed snapshot entry", what);
            goto out;
        }
    }
    size_t n = json_array_size(wal);
    if (n && !(m->wal = ak_calloc(n, sizeof *m->wal))) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", what);
        goto out;
    }
    for (size_t i = 0; i < n; i++, m->n_wal++)
        if (!bk_obj_parse(b, json_array_get(wal, i), false, &m->wal[i]) ||
            (i && m->wal[i].lsn <= m->wal[i - 1].lsn)) {
            st = ak_fail(AKIDB_ECORRUPT, "%s: malformed WAL entry %zu", what, i);
            goto out;
        }
    json_t *seg = json_object_get(root, "segments");
    size_t ns = json_is_array(seg) ? json_array_size(seg) : 0;
    if (ns && !(m->seg = ak_calloc(ns, sizeof *m->seg))) {
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", what);
        goto out;
    }
    for (size_t i = 0; i < ns; i++, m->n_seg++)
        if (!bk_obj_parse(b, json_array_get(seg, i), BK_SEG, &m->seg[i])) {
            st = ak_fail(AKIDB_ECORRUPT, "%s: malformed segment entry %zu", what, i);
            goto out;
        }
out:
    json_decref(root);
    if (st != AKIDB_OK)
        bk_manifest_free(m);
    return st;
}

