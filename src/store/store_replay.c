/*
 * store_replay.c - recovery on open: the WAL segments after the newest
 * snapshot are read in order and every record is applied with the same code
 * as a live write minus the logging (store_points.c's ak_store_apply_*), a torn tail
 * is cut, damage inside the log fails the open (or is cut on request), and
 * the log is reopened for appending.  Progress goes to
 * akidb_store_opts.progress.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- replay ------------------------------------------------------------------------------------ */

typedef struct replay_ctx {
    akidb_store *s;
    size_t applied, skipped;
    uint64_t done, total, reported;   /* bytes replayed / to replay (progress) */
} replay_ctx;

void ak_store_report(const akidb_store *s, const char *phase, uint64_t done, uint64_t total)
{
    if (s->opts.progress)
        s->opts.progress(s->opts.progress_ctx, phase, done, total);
}

static akidb_status bad_rec(const char *what)
{
    return ak_fail(AKIDB_ECORRUPT, "malformed record body: %s", what);
}

static akidb_status replay_upsert(replay_ctx *rc, ak_rd *r)
{
    size_t tl, nl;
    const char *t = ak_rd_str8(r, &tl), *nm = ak_rd_str8(r, &nl);
    uint32_t dim = ak_rd_u32(r), n = ak_rd_u32(r);
    if (r->bad || dim < 1 || dim > AKIDB_DIM_MAX || n < 1 || n > AK_STORE_MAX_BATCH)
        return bad_rec("upsert header");
    char tn[AKIDB_STORE_NAME_MAX + 1], cn[AKIDB_STORE_NAME_MAX + 1];
    if (tl > AKIDB_STORE_NAME_MAX || nl > AKIDB_STORE_NAME_MAX)
        return bad_rec("name too long");
    memcpy(tn, t, tl);
    tn[tl] = 0;
    memcpy(cn, nm, nl);
    cn[nl] = 0;
    ak_coll *c;
    if (ak_store_get_coll(rc->s, tn, cn, &c) != AKIDB_OK) {
        rc->skipped++;   /* deleted later in the log */
        return AKIDB_OK;
    }
    akidb_status st = AKIDB_OK;
    ak_prep *p = ak_calloc(n, sizeof *p);
    float *vecs = ak_malloc((size_t)n * dim * sizeof(float));
    char **strs = ak_calloc((size_t)n * 2, sizeof *strs);
    if (!p || !vecs || !strs) {
        st = ak_coll_oom(c);
        goto out;
    }
    for (uint32_t i = 0; i < n && st == AKIDB_OK; i++) {
        size_t il;
        const char *id = ak_rd_str8(r, &il);
        uint8_t flags = ak_rd_u8(r);
        const uint8_t *v = ak_rd_bytes(r, (size_t)dim * 4);
        if (r->bad || il == 0 || il > AKIDB_POINT_ID_MAX || (flags & ~3u)) {
            st = bad_rec("upsert point");
            break;
        }
        memcpy(vecs + (size_t)i * dim, v, (size_t)dim * 4);
        if (!(strs[2 * i] = ak_strndup(id, il))) {
            st = ak_coll_oom(c);
            break;
        }
        p[i].id = strs[2 * i];
        p[i].id_len = il;
        p[i].vec = vecs + (size_t)i * dim;
        if (flags & 1) {
            size_t xl;
            const char *x = ak_rd_str32(r, &xl);
            if (r->bad || xl > AKIDB_TEXT_MAX || !ak_utf8_valid(x, xl, NULL) || memchr(x, 0, xl)) {
                st = bad_rec("upsert text");
                break;
            }
            if (!(strs[2 * i + 1] = ak_strndup(x, xl))) {
                st = ak_coll_oom(c);
                break;
            }
            p[i].text = strs[2 * i + 1];
            p[i].text_len = xl;
        }
        if (flags & 2) {
            size_t pl;
            const char *pj = ak_rd_str32(r, &pl);
            if (r->bad) {
                st = bad_rec("upsert payload");
                break;
            }
            st = ak_payload_parse(pj, pl, "payload", &p[i].payload);
            if (st == AKIDB_EINVAL)
                st = bad_rec("upsert payload JSON");
        }
    }
    if (st == AKIDB_OK && r->off != r->n)
        st = bad_rec("trailing bytes after upsert");
    if (st == AKIDB_OK && dim != c->dim) {
        rc->skipped++;   /* the collection was recreated with another dimension */
        goto out;
    }
    for (uint32_t i = 0; i < n && st == AKIDB_OK; i++) {
        st = ak_store_check_vector(c, "point", p[i].id, p[i].vec, dim);
        if (st != AKIDB_OK)
            st = ak_fail_prefix(AKIDB_ECORRUPT, "invalid vector in upsert");
    }
    if (st == AKIDB_OK)
        st = ak_store_check_dups(c, p, n);
    if (st == AKIDB_EINVAL)
        st = ak_fail_prefix(AKIDB_ECORRUPT, "invalid upsert");
    if (st == AKIDB_OK) {
        pthread_mutex_lock(&c->wmu);
        st = ak_store_apply_upsert(rc->s, c, p, n, NULL);
        pthread_mutex_unlock(&c->wmu);
        rc->applied++;
    }
out:
    ak_store_free_preps(p, p ? n : 0);
    if (strs)
        for (size_t i = 0; i < (size_t)n * 2; i++)
            ak_free(strs[i]);
    ak_free(strs);
    ak_free(vecs);
    ak_coll_unref(c);
    return st;
}

static akidb_status replay_delete(replay_ctx *rc, ak_rd *r)
{
    size_t tl, nl;
    const char *t = ak_rd_str8(r, &tl), *nm = ak_rd_str8(r, &nl);
    uint32_t n = ak_rd_u32(r);
    if (r->bad || n > AK_STORE_MAX_BATCH || tl > AKIDB_STORE_NAME_MAX || nl > AKIDB_STORE_NAME_MAX)
        return bad_rec("delete header");
    const char **ids = ak_calloc(n ? n : 1, sizeof *ids);
    size_t *lens = ak_calloc(n ? n : 1, sizeof *lens);
    akidb_status st = AKIDB_OK;
    if (!ids || !lens)
        st = ak_fail(AKIDB_ENOMEM, "replay: out of memory");
    for (uint32_t i = 0; st == AKIDB_OK && i < n; i++) {
        ids[i] = ak_rd_str8(r, &lens[i]);
        if (r->bad || lens[i] == 0)
            st = bad_rec("delete id");
    }
    if (st == AKIDB_OK && r->off != r->n)
        st = bad_rec("trailing bytes after delete");
    if (st == AKIDB_OK) {
        char tn[AKIDB_STORE_NAME_MAX + 1], cn[AKIDB_STORE_NAME_MAX + 1];
        memcpy(tn, t, tl);
        tn[tl] = 0;
        memcpy(cn, nm, nl);
        cn[nl] = 0;
        ak_coll *c;
        if (ak_store_get_coll(rc->s, tn, cn, &c) == AKIDB_OK) {
            pthread_mutex_lock(&c->wmu);
            st = ak_store_apply_delete(rc->s, c, ids, lens, n, NULL);
            pthread_mutex_unlock(&c->wmu);
            ak_coll_unref(c);
            rc->applied++;
        } else {
            rc->skipped++;
        }
    }
    ak_free(ids);
    ak_free(lens);
    return st;
}

static akidb_status read_name(ak_rd *r, char *out)
{
    size_t l;
    const char *p = ak_rd_str8(r, &l);
    if (r->bad || l == 0 || l > AKIDB_STORE_NAME_MAX || memchr(p, 0, l))
        return bad_rec("name");
    memcpy(out, p, l);
    out[l] = 0;
    return AKIDB_OK;
}

static akidb_status replay_rec(void *ctx, uint64_t lsn, uint8_t type, const uint8_t *body,
                               size_t len)
{
    replay_ctx *rc = ctx;
    rc->done += AK_WAL_REC_HEADER + len;
    if (rc->done - rc->reported >= (1u << 20)) {
        rc->reported = rc->done;
        ak_store_report(rc->s, "wal", rc->done, rc->total);
    }
    ak_rd r = { body, len, 0, false };
    char t[AKIDB_STORE_NAME_MAX + 1], n[AKIDB_STORE_NAME_MAX + 1];
    akidb_status st;
    switch (type) {
    case AK_WAL_TENANT_CREATE:
    case AK_WAL_TENANT_DELETE:
        if ((st = read_name(&r, t)) != AKIDB_OK)
            return st;
        if (r.off != r.n)
            return bad_rec("trailing bytes");
        rc->applied++;
        st = type == AK_WAL_TENANT_CREATE ? ak_store_tenant_create_impl(rc->s, t, true)
                                          : ak_store_tenant_delete_impl(rc->s, t, true);
        return st == AKIDB_EINVAL ? ak_fail_prefix(AKIDB_ECORRUPT, "bad tenant") : st;
    case AK_WAL_COLL_CREATE: {
        if ((st = read_name(&r, t)) != AKIDB_OK || (st = read_name(&r, n)) != AKIDB_OK)
            return st;
        akidb_collection_opts o = { 0 };
        o.dim = ak_rd_u32(&r);
        o.metric = (akidb_metric)ak_rd_u8(&r);
        o.hnsw_m = ak_rd_u32(&r);
        o.hnsw_ef_construction = ak_rd_u32(&r);
        size_t ml = ak_rd_u16(&r);
        const uint8_t *m = ak_rd_bytes(&r, ml);
        if (!r.bad && r.off != r.n) {   /* a quantised collection: u8 kind, f32 quantile */
            o.quantization = (akidb_quantization)ak_rd_u8(&r);
            uint32_t q = ak_rd_u32(&r);
            memcpy(&o.quantile, &q, 4);
            if (o.quantization == AKIDB_QUANT_NONE)
                return bad_rec("collection create");
        }
        if (r.bad || r.off != r.n || ml > AKIDB_MODEL_NAME_MAX || (m && memchr(m, 0, ml)))
            return bad_rec("collection create");
        char model[AKIDB_MODEL_NAME_MAX + 1];
        memcpy(model, m ? (const char *)m : "", ml);
        model[ml] = 0;
        o.model = model;
        rc->applied++;
        st = ak_store_coll_create_impl(rc->s, t, n, &o, true);
        if (st == AKIDB_EINVAL || st == AKIDB_ERANGE)
            return ak_fail_prefix(AKIDB_ECORRUPT, "bad collection");
        return st;
    }
    case AK_WAL_COLL_DELETE:
        if ((st = read_name(&r, t)) != AKIDB_OK || (st = read_name(&r, n)) != AKIDB_OK)
            return st;
        if (r.off != r.n)
            return bad_rec("trailing bytes");
        rc->applied++;
        return ak_store_coll_delete_impl(rc->s, t, n, true);
    case AK_WAL_UPSERT:
        return replay_upsert(rc, &r);
    case AK_WAL_DELETE:
        return replay_delete(rc, &r);
    }
    (void)lsn;
    return bad_rec("unknown type");
}

/* ---- open / close ------------------------------------------------------------------------------- */


static int cmp_seg(const void *a, const void *b)
{
    const ak_seg *x = a, *y = b;
    return (x->lsn > y->lsn) - (x->lsn < y->lsn);
}

void ak_store_free_segs(ak_seg *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ak_free(v[i].name);
    ak_free(v);
}

/* Lists files "<prefix><16 hex><suffix>" in dir, sorted by number. */
akidb_status ak_store_list_files(const char *dir, const char *prefix, const char *suffix, ak_seg **out,
                               size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d)
        return ak_fail(AKIDB_EIO, "%s: %s", dir, strerror(errno));
    ak_seg *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    size_t pl = strlen(prefix), sl = strlen(suffix);
    akidb_status st = AKIDB_OK;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l != pl + 16 + sl || strncmp(e->d_name, prefix, pl) != 0 ||
            strcmp(e->d_name + pl + 16, suffix) != 0)
            continue;
        char hex[17];
        memcpy(hex, e->d_name + pl, 16);
        hex[16] = 0;
        char *end;
        uint64_t lsn = strtoull(hex, &end, 16);
        if (*end)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            ak_seg *nv = ak_realloc(v, cap * sizeof *v);
            if (!nv) {
                st = ak_fail(AKIDB_ENOMEM, "listing %s: out of memory", dir);
                break;
            }
            v = nv;
        }
        v[n].lsn = lsn;
        if (!(v[n].name = ak_path_join(dir, e->d_name))) {
            st = ak_fail(AKIDB_ENOMEM, "listing %s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (st != AKIDB_OK) {
        ak_store_free_segs(v, n);
        return st;
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_seg);
    *out = v;
    *n_out = n;
    return AKIDB_OK;
}

void ak_store_remove_tmp_files(akidb_store *s)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".tmp") == 0 && strncmp(e->d_name, "snap-", 5) == 0) {
            char *p = ak_path_join(s->dir, e->d_name);
            if (p) {
                unlink(p);
                ak_store_log(s, AKIDB_LOG_INFO, "%s: removed unfinished snapshot", p);
            }
            ak_free(p);
        }
    }
    closedir(d);
}

/* Replays WAL segments after the snapshot and opens the log for appending. */
akidb_status ak_store_recover_wal(akidb_store *s, uint64_t snap_lsn)
{
    ak_seg *v;
    size_t n;
    akidb_status st = ak_store_list_files(s->dir, "wal-", ".log", &v, &n);
    if (st != AKIDB_OK)
        return st;
    /* First segment to read: the last one starting at or before snap_lsn. */
    size_t first = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].lsn <= snap_lsn)
            first = i;
    uint64_t next = snap_lsn;
    const char *append_path = NULL;
    size_t append_off = 0;
    replay_ctx rc = { s, 0, 0, 0, 0, 0 };
    for (size_t j = first; j < n; j++) {
        struct stat sb;
        if (stat(v[j].name, &sb) == 0 && sb.st_size > AK_WAL_HEADER_SIZE)
            rc.total += (uint64_t)sb.st_size - AK_WAL_HEADER_SIZE;
    }
    ak_store_report(s, "wal", 0, rc.total);
    size_t i;
    for (i = first; i < n; i++) {
        bool last = i + 1 == n;
        char *data = NULL;
        size_t len = 0;
        st = ak_read_file(v[i].name, (size_t)1 << 40, &data, &len);
        if (st != AKIDB_OK)
            break;
        if (last && len < AK_WAL_HEADER_SIZE) {
            /* Crash while creating the segment: nothing was logged in it. */
            ak_store_log(s, AKIDB_LOG_WARN, "%s: incomplete segment header (%zu bytes) removed",
                         v[i].name, len);
            ak_free(data);
            unlink(v[i].name);
            break;
        }
        ak_wal_scan sc;
        st = ak_wal_scan_buf((const uint8_t *)data, len, v[i].name, snap_lsn, replay_rec, &rc, &sc);
        ak_free(data);
        if (st != AKIDB_OK)
            break;
        if (i > first && sc.start_lsn != next) {
            st = ak_fail(AKIDB_ECORRUPT, "%s: offset 16: segment starts at record %llu, expected %llu",
                         v[i].name, (unsigned long long)sc.start_lsn, (unsigned long long)next);
            break;
        }
        if (i == first && sc.start_lsn > snap_lsn) {
            st = ak_fail(AKIDB_ECORRUPT,
                         "%s: offset 16: segment starts at record %llu but records from %llu are needed",
                         v[i].name, (unsigned long long)sc.start_lsn, (unsigned long long)snap_lsn);
            break;
        }
        if (sc.next_lsn > next)
            next = sc.next_lsn;
        if (sc.damaged) {
            bool tail = last && !sc.resync;
            if (!tail && !s->opts.wal_cut_on_corruption) {
                st = ak_fail(AKIDB_ECORRUPT,
                             "%s: offset %zu: %s, and valid data follows; the log is damaged "
                             "(open with wal_cut_on_corruption to drop the rest)",
                             v[i].name, sc.valid_end, sc.why);
                break;
            }
            ak_store_log(s, AKIDB_LOG_WARN, "%s: offset %zu: %s; log cut there (%zu bytes dropped%s)",
                         v[i].name, sc.valid_end, sc.why, len - sc.valid_end,
                         last ? "" : ", later segments removed");
            if (truncate(v[i].name, (off_t)sc.valid_end) != 0) {
                st = ak_fail(AKIDB_EIO, "%s: truncate: %s", v[i].name, strerror(errno));
                break;
            }
            for (size_t j = i + 1; j < n; j++)
                unlink(v[j].name);
            append_path = v[i].name;
            append_off = sc.valid_end;
            i = n;
            break;
        }
        if (last) {
            append_path = v[i].name;
            append_off = len;
        }
    }
    if (st == AKIDB_OK) {
        if (next < snap_lsn)
            next = snap_lsn;
        if (next == 0)
            next = 1;
        if (append_path && append_off >= AK_WAL_HEADER_SIZE)
            st = ak_wal_open(s->dir, append_path, append_off, next, s->opts.sync == AKIDB_SYNC_FULL,
                             &s->wal);
        else
            st = ak_wal_open(s->dir, NULL, 0, next, s->opts.sync == AKIDB_SYNC_FULL, &s->wal);
    }
    if (st == AKIDB_OK)
        ak_store_report(s, "wal", rc.total, rc.total);
    if (st == AKIDB_OK && (rc.applied || rc.skipped))
        ak_store_log(s, AKIDB_LOG_INFO, "%s: replayed %zu WAL records (%zu for deleted collections)",
                     s->dir, rc.applied + rc.skipped, rc.skipped);
    /* Segments wholly before the snapshot are no longer needed. */
    if (st == AKIDB_OK)
        for (size_t j = 0; j < first; j++)
            unlink(v[j].name);
    ak_store_free_segs(v, n);
    return st;
}

