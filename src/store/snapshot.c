/*
 * snapshot.c - snapshots of the store and the thread that takes them.  A
 * snapshot file holds every tenant, every collection's point table and its
 * serialised index (an image of the index's kind, index.h), so that a
 * restart loads the graph instead of rebuilding it and replays only the WAL
 * written after the snapshot.  Written to a temporary file, fsync'ed,
 * renamed into place and the directory fsync'ed (ak_io_replace_*,
 * src/common/fileio.c), so a crash leaves either the old or the new
 * snapshot, never a mix.  Format: docs/FORMAT.md.
 *
 * Taking a snapshot (snapshot_run), and why no acknowledged write is lost:
 *   1. under cat_wmu (no catalog change in flight) the WAL is rotated: every
 *      record before LSN L is in the old segments (synced), every record
 *      appended from now on goes to the new segment wal-L;
 *   2. still under cat_wmu, the catalog is copied (tenant names and a
 *      reference to each collection); catalog writes go on once it is
 *      released;
 *   3. each collection is written under its writer mutex, so its table and
 *      index are those after some whole number of its writes: every record
 *      before L and perhaps some after.  Replaying the records from L on
 *      top gives the same state again - upserts replace by id, deletes of
 *      absent ids do nothing, a collection created at or after L is not in
 *      the copy, one deleted after L is removed again by its record;
 *   4. the file is made durable and renamed to snap-L.akdb; only then are
 *      older snapshots and WAL segments (all records < L) removed, and the
 *      object-storage tier (backup.c), when configured, woken to ship it.
 * A crash at any point leaves the previous snapshot and every WAL segment
 * after it, or the new snapshot and the segments from L (open removes the
 * temporary file).  A write never waits for the file: writers of one
 * collection wait only while that collection is copied into the file
 * (page cache; the fsync comes after), catalog writers only during steps
 * 1-2.
 *
 * Before the file is written, each collection's segment step runs
 * (segment.c): a tail past the seal size is sealed into a segment, segments
 * are compacted, and segment files not yet on disk are written and fsynced;
 * the snapshot then names them (SEGMENTS section) and holds only the
 * tail's points, and segment files it does not name are removed once it is
 * durable.
 *
 * The snapshot thread: one per store, asleep on bg_cv until a write finds
 * the WAL past opts.snapshot_wal_bytes (ak_store_maybe_snapshot) or a
 * collection's tail past its seal size (ak_store_maybe_seal), then
 * takes the snapshot itself, so the write that crossed the line returns at
 * once.  A failure is logged, kept for akidb_store_get_stats (status,
 * message, count) until a snapshot succeeds, and retried after a back-off
 * (1 s doubling to 64 s) when writes ask again; nothing is lost meanwhile,
 * the WAL keeps every record.  Close stops the thread (after the snapshot
 * in progress, if any) and then writes its own final snapshot.
 */
#include "store/store_int.h"

#include "common/fileio.h"
#include "store/backup.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void (*ak_store_snapshot_hook)(akidb_store *s, const char *stage);

static void hook(akidb_store *s, const char *stage)
{
    if (s->bg_in_snapshot && ak_store_snapshot_hook)
        ak_store_snapshot_hook(s, stage);
}

/* ---- the copy of the catalog a snapshot writes --------------------------------- */

typedef struct plan_tenant {
    char name[AKIDB_STORE_NAME_MAX + 1];
    ak_coll **colls;             /* each with a reference */
    size_t n;
} plan_tenant;

typedef struct plan {
    plan_tenant *t;
    size_t n_tenants, n_colls;
} plan;

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n_tenants; i++) {
        for (size_t j = 0; j < p->t[i].n; j++)
            ak_coll_unref(p->t[i].colls[j]);
        ak_free(p->t[i].colls);
    }
    ak_free(p->t);
    memset(p, 0, sizeof *p);
}

/* Copies the catalog (cat_wmu held: it cannot change). */
static akidb_status plan_take(akidb_store *s, plan *p)
{
    memset(p, 0, sizeof *p);
    if (s->n_tenants && !(p->t = ak_calloc(s->n_tenants, sizeof *p->t)))
        return ak_fail(AKIDB_ENOMEM, "snapshot: out of memory");
    for (size_t i = 0; i < s->n_tenants; i++) {
        const ak_tenant *t = s->tenants[i];
        plan_tenant *pt = &p->t[p->n_tenants++];
        snprintf(pt->name, sizeof pt->name, "%s", t->name);
        if (t->n_colls && !(pt->colls = ak_malloc(t->n_colls * sizeof *pt->colls))) {
            plan_free(p);
            return ak_fail(AKIDB_ENOMEM, "snapshot: out of memory");
        }
        for (size_t j = 0; j < t->n_colls; j++) {
            atomic_fetch_add(&t->colls[j]->refs, 1);
            pt->colls[pt->n++] = t->colls[j];
        }
        p->n_colls += t->n_colls;
    }
    return AKIDB_OK;
}

/* ---- writing --------------------------------------------------------------- */

typedef struct wctx {
    int fd;
    const char *path;
    uint64_t off;
    uint64_t *named;             /* segment numbers the snapshot names */
    size_t n_named, cap_named;
} wctx;

static akidb_status wr(wctx *w, const void *p, size_t n)
{
    akidb_status st = ak_io_write_all(w->fd, p, n, w->path);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "snapshot section at offset %llu", (unsigned long long)w->off);
    w->off += n;
    return AKIDB_OK;
}

/* Section: u32 type, u32 CRC32C of body (0 for INDEX, self-checked), u64 length. */
static akidb_status wr_section(wctx *w, uint32_t type, const ak_buf *body)
{
    if (body->oom)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", w->path);
    uint8_t h[16];
    ak_put_u32(h, type);
    ak_put_u32(h + 4, ak_crc32c(0, body->p, body->n));
    ak_put_u64(h + 8, body->n);
    akidb_status st = wr(w, h, sizeof h);
    return st == AKIDB_OK ? wr(w, body->p, body->n) : st;
}

/* Writes a table's COLLECTION and INDEX sections (its writer mutex held, or
 * a sealed segment's frozen table: it is stable). */
static akidb_status wr_table(wctx *w, ak_coll *c)
{
    ak_buf b = { 0 };
    ak_buf_str8(&b, c->tenant, strlen(c->tenant));
    ak_buf_str8(&b, c->name, strlen(c->name));
    ak_buf_u32(&b, c->dim);
    ak_buf_u8(&b, (uint8_t)c->metric);
    ak_buf_u32(&b, c->M);
    ak_buf_u32(&b, c->efc);
    size_t ml = c->model ? strlen(c->model) : 0;
    ak_buf_u16(&b, (uint16_t)ml);
    ak_buf_put(&b, c->model, ml);
    ak_buf_u32(&b, c->n_slots);
    ak_buf_u32(&b, (uint32_t)c->n_live);
    akidb_status st = AKIDB_OK;
    for (uint32_t l = 0; l < c->n_slots; l++) {
        const pslot *s = &c->slots[l];
        if (atomic_load(&s->state) != SLOT_LIVE)
            continue;
        ak_buf_u32(&b, l);
        ak_buf_str8(&b, s->id, s->id_len);
        ak_buf_u8(&b, (uint8_t)((s->text ? 1 : 0) | (s->payload ? 2 : 0)));
        if (s->text)
            ak_buf_str32(&b, s->text, strlen(s->text));
        if (s->payload) {
            char *js = json_dumps(s->payload, JSON_COMPACT);
            if (!js) {
                st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", w->path);
                break;
            }
            ak_buf_str32(&b, js, strlen(js));
            ak_free(js);
        }
    }
    if (st == AKIDB_OK)
        st = wr_section(w, AK_SEC_COLLECTION, &b);
    ak_buf_free(&b);
    if (st != AKIDB_OK)
        return st;
    uint8_t h[16];
    ak_put_u32(h, AK_SEC_INDEX);
    ak_put_u32(h + 4, 0);
    size_t isz = ak_index_serialized_size(&c->index);
    ak_put_u64(h + 8, isz);
    if ((st = wr(w, h, sizeof h)) != AKIDB_OK)
        return st;
    st = ak_index_save_fd(&c->index, w->fd);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s: collection '%s/%s'", w->path, c->tenant, c->name);
    w->off += isz;
    return AKIDB_OK;
}

akidb_status ak_snap_write_table(int fd, const char *path, uint64_t *off, ak_coll *c)
{
    wctx w = { fd, path, *off, NULL, 0, 0 };
    akidb_status st = wr_table(&w, c);
    *off = w.off;
    return st;
}

/* A collection's sections: its tail, then its segments when it has any. */
static akidb_status wr_coll(wctx *w, ak_coll *c)
{
    akidb_status st = wr_table(w, c);
    if (st != AKIDB_OK || !c->n_segs)
        return st;
    if (w->n_named + c->n_segs > w->cap_named) {
        size_t cap = (w->n_named + c->n_segs) * 2;
        uint64_t *v = ak_realloc(w->named, cap * sizeof *v);
        if (!v)
            return ak_fail(AKIDB_ENOMEM, "%s: out of memory", w->path);
        w->named = v;
        w->cap_named = cap;
    }
    for (size_t i = 0; i < c->n_segs; i++)
        w->named[w->n_named++] = c->segs[i]->seq;
    ak_buf b = { 0 };
    ak_seg_encode(c, &b);
    st = wr_section(w, AK_SEC_SEGMENTS, &b);
    ak_buf_free(&b);
    return st;
}

/* Writes snap-<lsn>.akdb holding the collections of the copy p; the
 * segment numbers it names into *named (ak_free). */
static akidb_status snapshot_write(akidb_store *s, const plan *p, uint64_t lsn, uint64_t **named,
                                   size_t *n_named)
{
    *named = NULL;
    *n_named = 0;
    char name[64];
    snprintf(name, sizeof name, "snap-%016llx.akdb", (unsigned long long)lsn);
    char *path = ak_path_join(s->dir, name);
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "snapshot: out of memory");
    /* Written as "<name>.tmp", which an interrupted run leaves for the next
     * open to remove. */
    ak_io_replace rp;
    akidb_status st = ak_io_replace_begin(&rp, path, 0644);
    if (st != AKIDB_OK)
        goto out;
    wctx w = { rp.fd, rp.tmp, 0, NULL, 0, 0 };
    size_t n_colls = p->n_colls;
    uint8_t hdr[AK_SNAP_HEADER_SIZE] = { 0 };
    memcpy(hdr, AK_SNAP_MAGIC, 8);
    ak_put_u32(hdr + 8, AK_SNAP_VERSION);
    ak_put_u32(hdr + 12, AK_SNAP_HEADER_SIZE);
    ak_put_u64(hdr + 16, lsn);
    ak_put_u32(hdr + 24, (uint32_t)p->n_tenants);
    ak_put_u32(hdr + 28, (uint32_t)n_colls);
    ak_put_u32(hdr + 60, ak_crc32c(0, hdr, 60));
    st = wr(&w, hdr, sizeof hdr);
    for (size_t i = 0; st == AKIDB_OK && i < p->n_tenants; i++) {
        const plan_tenant *t = &p->t[i];
        ak_buf b = { 0 };
        ak_buf_str8(&b, t->name, strlen(t->name));
        st = wr_section(&w, AK_SEC_TENANT, &b);
        ak_buf_free(&b);
        for (size_t j = 0; st == AKIDB_OK && j < t->n; j++) {
            ak_coll *c = t->colls[j];
            pthread_mutex_lock(&c->wmu);
            st = wr_coll(&w, c);
            pthread_mutex_unlock(&c->wmu);
        }
    }
    if (st == AKIDB_OK) {
        ak_buf b = { 0 };
        ak_buf_u32(&b, (uint32_t)p->n_tenants);
        ak_buf_u32(&b, (uint32_t)n_colls);
        ak_buf_u64(&b, w.off + 16 + 16);   /* total file size */
        st = wr_section(&w, AK_SEC_END, &b);
        ak_buf_free(&b);
    }
    if (st == AKIDB_OK)
        hook(s, "written");
    /* fsync, rename into place, fsync the folder; the temporary file is
     * removed on failure. */
    if (st == AKIDB_OK)
        st = ak_io_replace_commit(&rp, s->opts.sync == AKIDB_SYNC_FULL);
    else
        ak_io_replace_abort(&rp);
    *named = w.named;
    *n_named = w.n_named;
out:
    ak_free(path);
    return st;
}

/* ---- loading ----------------------------------------------------------------- */

static akidb_status corrupt(const char *path, uint64_t off, const char *what)
{
    return ak_fail(AKIDB_ECORRUPT, "%s: offset %llu: %s", path, (unsigned long long)off, what);
}

akidb_status ak_snap_load_table(const char *path, const uint8_t *base, size_t size, uint64_t off,
                                uint64_t len, ak_coll **out, uint64_t *next)
{
    ak_rd r = { base + off, (size_t)len, 0, false };
    char tn[AKIDB_STORE_NAME_MAX + 1], cn[AKIDB_STORE_NAME_MAX + 1];
    size_t l1, l2;
    const char *t = ak_rd_str8(&r, &l1), *n = ak_rd_str8(&r, &l2);
    uint32_t dim = ak_rd_u32(&r);
    uint8_t metric = ak_rd_u8(&r);
    uint32_t M = ak_rd_u32(&r), efc = ak_rd_u32(&r);
    size_t ml = ak_rd_u16(&r);
    const uint8_t *model = ak_rd_bytes(&r, ml);
    uint32_t n_slots = ak_rd_u32(&r), n_points = ak_rd_u32(&r);
    if (r.bad || l1 == 0 || l1 > AKIDB_STORE_NAME_MAX || l2 == 0 || l2 > AKIDB_STORE_NAME_MAX ||
        dim < 1 || dim > AKIDB_DIM_MAX || metric > 2 || ml > AKIDB_MODEL_NAME_MAX ||
        n_points > n_slots || memchr(t, 0, l1) || memchr(n, 0, l2) || (model && memchr(model, 0, ml)))
        return corrupt(path, off, "malformed collection header");
    memcpy(tn, t, l1);
    tn[l1] = 0;
    memcpy(cn, n, l2);
    cn[l2] = 0;
    char mname[AKIDB_MODEL_NAME_MAX + 1];
    memcpy(mname, model ? (const char *)model : "", ml);
    mname[ml] = 0;
    ak_coll *c = ak_coll_new(tn, cn, dim, (akidb_metric)metric, ml ? mname : NULL, M, efc);
    if (!c)
        return ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    akidb_status st = ak_coll_reserve(c, n_slots);
    if (st != AKIDB_OK)
        goto fail;
    c->n_slots = n_slots;
    for (uint32_t i = 0; i < n_points; i++) {
        uint64_t poff = off + r.off;
        uint32_t l = ak_rd_u32(&r);
        size_t il;
        const char *id = ak_rd_str8(&r, &il);
        uint8_t flags = ak_rd_u8(&r);
        size_t xl = 0, pl = 0;
        const char *x = (flags & 1) ? ak_rd_str32(&r, &xl) : NULL;
        const char *pj = (flags & 2) ? ak_rd_str32(&r, &pl) : NULL;
        if (r.bad || l >= n_slots || il == 0 || il > AKIDB_POINT_ID_MAX || (flags & ~3u) ||
            atomic_load(&c->slots[l].state) != SLOT_FREE || (x && memchr(x, 0, xl)) ||
            !ak_utf8_valid(id, il, NULL)) {
            st = corrupt(path, poff, "malformed point record");
            goto fail;
        }
        if (ak_coll_find(c, id, il) != AK_NO_LABEL) {
            st = corrupt(path, poff, "duplicate point id");
            goto fail;
        }
        pslot *sl = &c->slots[l];
        if (!(sl->id = ak_strndup(id, il)) || (x && !(sl->text = ak_strndup(x, xl)))) {
            st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
        sl->id_len = (uint8_t)il;
        if (pj) {
            char what[64];
            snprintf(what, sizeof what, "%s: offset %llu", path, (unsigned long long)poff);
            st = ak_payload_parse(pj, pl, what, &sl->payload);
            if (st != AKIDB_OK) {
                if (st == AKIDB_EINVAL)
                    st = ak_fail_prefix(AKIDB_ECORRUPT, "snapshot");
                goto fail;
            }
        }
        atomic_store(&sl->state, SLOT_LIVE);
        sl->in_index = true;
        ak_coll_ht_insert(c, l);
        c->n_live++;
    }
    if (r.off != r.n) {
        st = corrupt(path, off + r.off, "trailing bytes in collection section");
        goto fail;
    }
    /* Index section. */
    uint64_t ioff = off + len;
    if (size - ioff < 16 || ak_get_u32(base + ioff) != AK_SEC_INDEX) {
        st = corrupt(path, ioff, "index section missing after collection");
        goto fail;
    }
    uint64_t ilen = ak_get_u64(base + ioff + 8);
    if (ilen > size - ioff - 16) {
        st = corrupt(path, ioff + 8, "index section longer than the file");
        goto fail;
    }
    size_t used = 0;
    st = ak_index_load_buf(base + ioff + 16, (size_t)ilen, &c->index, &used);
    if (st != AKIDB_OK) {
        ak_fail_prefix(st, "%s: offset %llu: collection '%s/%s': index", path,
                       (unsigned long long)(ioff + 16), tn, cn);
        goto fail;
    }
    ak_index_params hp = ak_index_get_params(&c->index);
    if (used != ilen || hp.dim != dim || (int)hp.metric != metric) {
        st = corrupt(path, ioff, "index does not match its collection (size, dimension or metric)");
        goto fail;
    }
    /* the collection's quantisation is its index's (the section has no
     * field for it, so snapshots of collections without it are unchanged) */
    c->quant = hp.quant == AK_QUANT_SQ8 ? AKIDB_QUANT_SQ8 : AKIDB_QUANT_NONE;
    c->quantile = hp.quant == AK_QUANT_SQ8 ? hp.quantile : 0;
    /* Every point must be in the index; labels the table does not know
     * (removals that had not completed) are removed now. */
    size_t in_index_live = 0;
    for (uint32_t l = 0; l < n_slots; l++) {
        bool live = atomic_load(&c->slots[l].state) == SLOT_LIVE;
        bool has = ak_index_contains(&c->index, l);
        if (live && !has) {
            char msg[200];
            snprintf(msg, sizeof msg, "point '%s' (label %u) is missing from the index",
                     c->slots[l].id, l);
            st = corrupt(path, ioff, msg);
            goto fail;
        }
        if (live)
            in_index_live++;
        else if (has)
            c->zombies[c->n_zombies++] = l;
    }
    if (ak_index_count(&c->index) != in_index_live + c->n_zombies) {
        st = corrupt(path, ioff, "index holds labels beyond the collection's slots");
        goto fail;
    }
    if (c->n_zombies) {
        if (ak_index_remove_batch(&c->index, c->zombies, c->n_zombies, NULL) == AKIDB_OK)
            c->n_zombies = 0;
        else
            for (size_t i = 0; i < c->n_zombies; i++)
                atomic_store(&c->slots[c->zombies[i]].state, SLOT_DEAD);
    }
    for (uint32_t l = n_slots; l-- > 0;)
        if (atomic_load(&c->slots[l].state) == SLOT_FREE)
            c->free_labels[c->n_free++] = l;
    *next = ioff + 16 + ilen;
    *out = c;
    return AKIDB_OK;
fail:
    ak_coll_unref(c);
    return st;
}

/* Loads one collection: its table (body at off), the index section after
 * it, and its SEGMENTS section when one follows. */
static akidb_status load_coll(akidb_store *s, const char *path, const uint8_t *base,
                              size_t size, uint64_t off, uint64_t len, uint64_t *next)
{
    ak_coll *c;
    akidb_status st = ak_snap_load_table(path, base, size, off, len, &c, next);
    if (st != AKIDB_OK)
        return st;
    ak_tenant *ten = ak_store_find_tenant(s, c->tenant);
    if (!ten) {
        st = corrupt(path, off, "collection of an unknown tenant");
        goto fail;
    }
    for (size_t i = 0; i < ten->n_colls; i++)
        if (strcmp(ten->colls[i]->name, c->name) == 0) {
            st = corrupt(path, off, "duplicate collection");
            goto fail;
        }
    uint64_t so = *next;
    if (size - so >= 16 && ak_get_u32(base + so) == AK_SEC_SEGMENTS) {
        uint64_t sl = ak_get_u64(base + so + 8);
        if (sl > size - so - 16) {
            st = corrupt(path, so + 8, "segments section longer than the file");
            goto fail;
        }
        if (ak_crc32c(0, base + so + 16, (size_t)sl) != ak_get_u32(base + so + 4)) {
            st = corrupt(path, so, "section checksum mismatch");
            goto fail;
        }
        if ((st = ak_seg_load_section(s, c, path, so + 16, base + so + 16, sl)) != AKIDB_OK)
            goto fail;
        *next = so + 16 + sl;
    }
    if ((st = ak_tenant_add_coll(ten, c)) != AKIDB_OK)
        goto fail;
    return AKIDB_OK;
fail:
    ak_coll_unref(c);
    return st;
}

akidb_status ak_snapshot_load(akidb_store *s, const char *path, uint64_t *lsn)
{
    ak_mmap m;
    akidb_status st = ak_mmap_open(path, &m);
    if (st != AKIDB_OK)
        return st;
    const uint8_t *b = m.data;
    size_t size = m.size;
    if (size < 8 || memcmp(b, AK_SNAP_MAGIC, 8) != 0) {
        st = ak_fail(AKIDB_EFORMAT, "%s: offset 0: not an AkiDB snapshot (bad magic)", path);
        goto out;
    }
    if (size < AK_SNAP_HEADER_SIZE) {
        st = corrupt(path, size, "truncated header");
        goto out;
    }
    if (ak_get_u32(b + 8) != AK_SNAP_VERSION) {
        st = ak_fail(AKIDB_EFORMAT, "%s: offset 8: unsupported snapshot version %u (want %u)", path,
                     ak_get_u32(b + 8), AK_SNAP_VERSION);
        goto out;
    }
    if (ak_get_u32(b + 60) != ak_crc32c(0, b, 60) || ak_get_u32(b + 12) != AK_SNAP_HEADER_SIZE) {
        st = corrupt(path, 60, "header checksum mismatch");
        goto out;
    }
    *lsn = ak_get_u64(b + 16);
    uint32_t want_t = ak_get_u32(b + 24), want_c = ak_get_u32(b + 28);
    uint64_t off = AK_SNAP_HEADER_SIZE;
    size_t got_t = 0, got_c = 0;
    bool end = false;
    while (st == AKIDB_OK && !end) {
        if (size - off < 16) {
            st = corrupt(path, off, "truncated: end section missing");
            break;
        }
        uint32_t type = ak_get_u32(b + off), crc = ak_get_u32(b + off + 4);
        uint64_t len = ak_get_u64(b + off + 8);
        if (len > size - off - 16) {
            st = corrupt(path, off + 8, "section longer than the file (truncated?)");
            break;
        }
        const uint8_t *body = b + off + 16;
        if (type != AK_SEC_INDEX && ak_crc32c(0, body, (size_t)len) != crc) {
            st = corrupt(path, off, "section checksum mismatch");
            break;
        }
        if (type == AK_SEC_TENANT) {
            ak_rd r = { body, (size_t)len, 0, false };
            size_t nl;
            const char *nm = ak_rd_str8(&r, &nl);
            char name[AKIDB_STORE_NAME_MAX + 1];
            if (r.bad || r.off != r.n || nl == 0 || nl > AKIDB_STORE_NAME_MAX || memchr(nm, 0, nl)) {
                st = corrupt(path, off, "malformed tenant section");
                break;
            }
            memcpy(name, nm, nl);
            name[nl] = 0;
            if (ak_store_find_tenant(s, name)) {
                st = corrupt(path, off, "duplicate tenant");
                break;
            }
            st = ak_store_add_tenant(s, name, NULL);
            got_t++;
            off += 16 + len;
        } else if (type == AK_SEC_COLLECTION) {
            uint64_t next = size;
            st = load_coll(s, path, b, size, off + 16, len, &next);
            got_c++;
            off = next;
        } else if (type == AK_SEC_END) {
            ak_rd r = { body, (size_t)len, 0, false };
            uint32_t nt = ak_rd_u32(&r), nc = ak_rd_u32(&r);
            uint64_t total = ak_rd_u64(&r);
            if (r.bad || nt != want_t || nc != want_c || nt != got_t || nc != got_c ||
                total != off + 16 + len) {
                st = corrupt(path, off, "end section does not match the contents");
                break;
            }
            end = true;
            off += 16 + len;
        } else {
            st = corrupt(path, off, "unknown section type");
        }
    }
    if (st == AKIDB_OK && off != size)
        st = corrupt(path, off, "trailing bytes after the end section");
out:
    ak_mmap_close(&m);
    return st;
}

/* ---- taking snapshots ------------------------------------------------------------------ */

/* Removes the snapshots and WAL segments before lsn (superseded). */
static void remove_older(akidb_store *s, uint64_t lsn)
{
    static const char *const kinds[2][2] = { { "snap-", ".akdb" }, { "wal-", ".log" } };
    for (int k = 0; k < 2; k++) {
        ak_seg *v;
        size_t n;
        if (ak_store_list_files(s->dir, kinds[k][0], kinds[k][1], &v, &n) != AKIDB_OK)
            continue;
        for (size_t i = 0; i < n; i++)
            if (v[i].lsn < lsn)
                unlink(v[i].name);
        ak_store_free_segs(v, n);
    }
}

/* Steps 1-4 of the header comment; bg: run by the snapshot thread. */
static akidb_status snapshot_run(akidb_store *s, bool bg)
{
    pthread_mutex_lock(&s->snap_mu);
    s->bg_in_snapshot = bg;
    plan p = { 0 };
    uint64_t lsn;
    pthread_mutex_lock(&s->cat_wmu);
    akidb_status st = ak_wal_rotate(s->wal, &lsn);
    if (st == AKIDB_OK)
        st = plan_take(s, &p);
    pthread_mutex_unlock(&s->cat_wmu);
    if (st == AKIDB_OK)
        hook(s, "rotated");
    /* seal large tails, compact, write the segment files not yet on disk */
    for (size_t i = 0; st == AKIDB_OK && i < p.n_tenants; i++)
        for (size_t j = 0; st == AKIDB_OK && j < p.t[i].n; j++)
            st = ak_seg_prepare(s, p.t[i].colls[j]);
    uint64_t *named = NULL;
    size_t n_named = 0;
    if (st == AKIDB_OK)
        st = snapshot_write(s, &p, lsn, &named, &n_named);
    plan_free(&p);
    if (st == AKIDB_OK) {
        atomic_store(&s->snap_lsn, lsn);
        remove_older(s, lsn);
        ak_seg_remove_unnamed(s, named, n_named);
        ak_backup_kick(s);   /* ship it; never waits for the bucket */
    }
    ak_free(named);
    s->bg_in_snapshot = false;
    pthread_mutex_unlock(&s->snap_mu);
    return st;
}

akidb_status akidb_store_snapshot(akidb_store *s)
{
    AK_ASSERT(s);
    return snapshot_run(s, false);
}

static uint64_t wal_limit(const akidb_store *s)
{
    return s->opts.snapshot_wal_bytes ? s->opts.snapshot_wal_bytes : (64ull << 20);
}

void ak_store_maybe_snapshot(akidb_store *s)
{
    uint64_t lim = wal_limit(s);
    if (lim == UINT64_MAX || ak_wal_bytes(s->wal) < lim)
        return;
    pthread_mutex_lock(&s->bg_mu);
    if (!s->bg_wanted && !s->bg_running) {
        s->bg_wanted = true;
        pthread_cond_broadcast(&s->bg_cv);
    }
    pthread_mutex_unlock(&s->bg_mu);
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void *snapshot_thread(void *arg)
{
    akidb_store *s = arg;
    pthread_mutex_lock(&s->bg_mu);
    for (;;) {
        while (!s->bg_stop && !s->bg_wanted)
            pthread_cond_wait(&s->bg_cv, &s->bg_mu);
        if (s->bg_stop)
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (s->bg_err != AKIDB_OK && before(&now, &s->bg_retry_at)) {
            /* back off after a failure; a stop still ends the wait */
            pthread_cond_timedwait(&s->bg_cv, &s->bg_mu, &s->bg_retry_at);
            continue;
        }
        bool seal = s->bg_seal;
        s->bg_wanted = false;
        s->bg_seal = false;
        s->bg_running = true;
        pthread_mutex_unlock(&s->bg_mu);
        /* a snapshot taken meanwhile (akidb_store_snapshot) may have done it */
        akidb_status st = AKIDB_OK;
        if (seal || ak_wal_bytes(s->wal) >= wal_limit(s))
            st = snapshot_run(s, true);
        char msg[sizeof s->bg_msg];
        snprintf(msg, sizeof msg, "%s", st == AKIDB_OK ? "" : akidb_last_error());
        if (st != AKIDB_OK)
            ak_store_log(s, AKIDB_LOG_ERROR, "background snapshot failed (retried later): %s",
                         msg);
        pthread_mutex_lock(&s->bg_mu);
        s->bg_running = false;
        s->bg_done++;
        s->bg_err = st;
        memcpy(s->bg_msg, msg, sizeof msg);
        if (st == AKIDB_OK) {
            s->bg_backoff_ms = 0;
        } else {
            s->bg_failed++;
            s->bg_backoff_ms = s->bg_backoff_ms ? s->bg_backoff_ms * 2 : 1000;
            if (s->bg_backoff_ms > 64000)
                s->bg_backoff_ms = 64000;
            clock_gettime(CLOCK_MONOTONIC, &s->bg_retry_at);
            s->bg_retry_at.tv_sec += s->bg_backoff_ms / 1000;
        }
        pthread_cond_broadcast(&s->bg_cv);
    }
    pthread_mutex_unlock(&s->bg_mu);
    return NULL;
}

void ak_snapshot_thread_init(akidb_store *s)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->bg_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->bg_mu, NULL);
    s->bg_err = AKIDB_OK;
}

void ak_snapshot_thread_destroy(akidb_store *s)
{
    ak_snapshot_thread_stop(s);
    pthread_cond_destroy(&s->bg_cv);
    pthread_mutex_destroy(&s->bg_mu);
}

akidb_status ak_snapshot_thread_start(akidb_store *s)
{
    int e = pthread_create(&s->bg, NULL, snapshot_thread, s);
    if (e != 0)
        return ak_fail(AKIDB_ENOMEM, "%s: cannot start the snapshot thread: %s", s->dir,
                       strerror(e));
    s->bg_started = true;
    return AKIDB_OK;
}

void ak_snapshot_thread_stop(akidb_store *s)
{
    if (!s->bg_started)
        return;
    pthread_mutex_lock(&s->bg_mu);
    s->bg_stop = true;
    pthread_cond_broadcast(&s->bg_cv);
    pthread_mutex_unlock(&s->bg_mu);
    pthread_join(s->bg, NULL);
    s->bg_started = false;
}
