/*
 * segment.c - sealed segments of a collection: the immutable part of its
 * points, so that a snapshot rewrites only the small mutable tail
 * (docs/ARCHITECTURE.md, "Segments"; file layout in docs/FORMAT.md).
 *
 * A segment is the table and index the tail held when it was sealed (or
 * that a compaction built), frozen: nothing in it is written again except
 * its tombstone bitmap, which marks points replaced or deleted since.  Its
 * file, seg-<seq>.akseg, is written once by the snapshot thread, fsynced,
 * and only then named by a snapshot (which also records each segment's
 * tombstones); files no durable snapshot names are removed.
 *
 * Sealing (ak_seg_prepare, on the snapshot thread, snap_mu held): with the
 * collection's writer mutex and then briefly its rw write lock held, the
 * tail's fields are swapped with those of a new empty table - pointer
 * moves, no I/O - and the old ones become a segment; writes then go on
 * into the new tail while the file is written.  Compaction builds a merged
 * segment from a copy of the sources' tombstones off the locks, writes its
 * file, and swaps it in under the locks, carrying over the tombstones set
 * meanwhile.
 */
#include "store/store_int.h"

#include "common/fileio.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void (*ak_store_segment_hook)(akidb_store *s, const char *stage);

static void seg_hook(akidb_store *s, const char *stage)
{
    if (s->bg_in_snapshot && ak_store_segment_hook)
        ak_store_segment_hook(s, stage);
}

void ak_segment_unref(ak_segment *g)
{
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1)
        return;
    ak_coll_unref(g->t);
    ak_free(g->tomb);
    ak_free(g);
}

static ak_segment *seg_new(ak_coll *t, uint64_t seq)
{
    ak_segment *g = ak_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (!(g->tomb = ak_calloc(t->n_slots ? t->n_slots : 1, 1))) {
        ak_free(g);
        return NULL;
    }
    atomic_init(&g->refs, 1);
    g->seq = seq;
    g->t = t;
    return g;
}

static size_t seg_live(const ak_segment *g)
{
    return g->t->n_live - g->n_tomb;
}

bool ak_seg_find(const ak_coll *c, const char *id, size_t len, size_t *seg, uint32_t *label)
{
    for (size_t i = c->n_segs; i-- > 0;) {
        const ak_segment *g = c->segs[i];
        uint32_t l = ak_coll_find(g->t, id, len);
        if (l != AK_NO_LABEL && !g->tomb[l]) {
            *seg = i;
            *label = l;
            return true;
        }
    }
    return false;
}

bool ak_seg_tombstone(ak_coll *c, const char *id, size_t len)
{
    size_t i;
    uint32_t l;
    if (!ak_seg_find(c, id, len, &i, &l))
        return false;
    c->segs[i]->tomb[l] = 1;
    c->segs[i]->n_tomb++;
    c->seg_live--;
    return true;
}

/* ---- thresholds
 * ---------------------------------------------------------------- */

static uint64_t seal_points(const akidb_store *s)
{
    return s->opts.seal_points ? s->opts.seal_points : 262144;
}

static uint64_t seal_bytes(const akidb_store *s)
{
    return s->opts.seal_bytes ? s->opts.seal_bytes : (256ull << 20);
}

static bool tail_full(const akidb_store *s, const ak_coll *c)
{
    if (seal_points(s) == UINT64_MAX || c->n_live == 0)
        return false;
    return c->n_live >= seal_points(s) || c->tail_bytes >= seal_bytes(s);
}

void ak_store_maybe_seal(akidb_store *s, ak_coll *c)
{
    pthread_rwlock_rdlock(&c->rw);
    bool full = tail_full(s, c);
    pthread_rwlock_unlock(&c->rw);
    if (!full)
        return;
    pthread_mutex_lock(&s->bg_mu);
    s->bg_seal = true;
    if (!s->bg_wanted && !s->bg_running) {
        s->bg_wanted = true;
        pthread_cond_broadcast(&s->bg_cv);
    }
    pthread_mutex_unlock(&s->bg_mu);
}

/* ---- sealing
 * --------------------------------------------------------------------- */

#define SWAP(a, b)                                                                                 \
    do {                                                                                           \
        __typeof__(a) t_ = (a);                                                                    \
        (a) = (b);                                                                                 \
        (b) = t_;                                                                                  \
    } while (0)

/* Swaps the tail fields of a and b (both locked or private). */
static void swap_tail(ak_coll *a, ak_coll *b)
{
    SWAP(a->index, b->index);
    SWAP(a->slots, b->slots);
    SWAP(a->n_slots, b->n_slots);
    SWAP(a->cap_slots, b->cap_slots);
    SWAP(a->free_labels, b->free_labels);
    SWAP(a->n_free, b->n_free);
    SWAP(a->cap_free, b->cap_free);
    SWAP(a->ht, b->ht);
    SWAP(a->ht_cap, b->ht_cap);
    SWAP(a->ht_used, b->ht_used);
    SWAP(a->n_live, b->n_live);
    SWAP(a->zombies, b->zombies);
    SWAP(a->n_zombies, b->n_zombies);
    SWAP(a->cap_zombies, b->cap_zombies);
}

static ak_coll *empty_table(const ak_coll *c)
{
    ak_coll *t = ak_coll_new(c->tenant, c->name, c->dim, c->metric, c->model, c->M, c->efc);
    if (t) {   /* a sealed or merged segment is quantised as its collection */
        t->quant = c->quant;
        t->quantile = c->quantile;
    }
    if (t && ak_coll_make_index(t) != AKIDB_OK) {
        ak_coll_unref(t);
        return NULL;
    }
    return t;
}

/* Room for one more segment (writer mutex and rw write lock held). */
static akidb_status segs_room(ak_coll *c)
{
    if (c->n_segs < c->cap_segs)
        return AKIDB_OK;
    size_t cap = c->cap_segs ? c->cap_segs * 2 : 4;
    ak_segment **v = ak_realloc(c->segs, cap * sizeof *v);
    if (!v)
        return ak_coll_oom(c);
    c->segs = v;
    c->cap_segs = cap;
    return AKIDB_OK;
}

/* Seals c's tail when it has passed the seal size (writer mutex held). */
static akidb_status seal_tail(akidb_store *s, ak_coll *c, bool *sealed)
{
    *sealed = false;
    if (c->dead || !tail_full(s, c))
        return AKIDB_OK;
    ak_coll *fresh = empty_table(c);
    if (!fresh)
        return ak_coll_oom(c);
    ak_segment *g = NULL;
    pthread_rwlock_wrlock(&c->rw);
    akidb_status st = segs_room(c);
    if (st == AKIDB_OK) {
        swap_tail(c, fresh); /* fresh now holds the sealed points */
        if (!(g = seg_new(fresh, atomic_fetch_add(&s->seg_seq, 1)))) {
            swap_tail(c, fresh);
            st = ak_coll_oom(c);
        } else {
            c->segs[c->n_segs++] = g;
            c->seg_live += fresh->n_live;
            c->tail_bytes = 0;
            *sealed = true;
        }
    }
    pthread_rwlock_unlock(&c->rw);
    if (!g)
        ak_coll_unref(fresh);
    return st;
}

/* ---- segment files
 * --------------------------------------------------------------- */

static char *seg_path(const akidb_store *s, uint64_t seq)
{
    char name[64];
    snprintf(name, sizeof name, "seg-%016llx.akseg", (unsigned long long)seq);
    return ak_path_join(s->dir, name);
}

/* Writes g's file (g is frozen: no lock needed), fsynced and renamed into
 * place. */
static akidb_status seg_write(akidb_store *s, ak_segment *g)
{
    char *path = seg_path(s, g->seq);
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "segment: out of memory");
    ak_io_replace rp;
    akidb_status st = ak_io_replace_begin(&rp, path, 0644);
    if (st != AKIDB_OK) {
        ak_free(path);
        return st;
    }
    uint8_t hdr[AK_SNAP_HEADER_SIZE] = { 0 };
    memcpy(hdr, AK_SEG_MAGIC, 8);
    ak_put_u32(hdr + 8, AK_SEG_VERSION);
    ak_put_u32(hdr + 12, AK_SNAP_HEADER_SIZE);
    ak_put_u64(hdr + 16, g->seq);
    ak_put_u32(hdr + 24, (uint32_t)g->t->n_live);
    ak_put_u32(hdr + 60, ak_crc32c(0, hdr, 60));
    uint64_t off = sizeof hdr;
    st = ak_io_write_all(rp.fd, hdr, sizeof hdr, rp.tmp);
    if (st == AKIDB_OK)
        st = ak_snap_write_table(rp.fd, rp.tmp, &off, g->t);
    if (st == AKIDB_OK) {
        uint8_t end[32];
        ak_put_u32(end, AK_SEC_END);
        ak_put_u64(end + 8, 16);
        ak_put_u32(end + 16, 0);
        ak_put_u32(end + 20, 1);
        ak_put_u64(end + 24, off + sizeof end);
        ak_put_u32(end + 4, ak_crc32c(0, end + 16, 16));
        st = ak_io_write_all(rp.fd, end, sizeof end, rp.tmp);
        off += sizeof end;
    }
    if (st == AKIDB_OK)
        st = ak_io_replace_commit(&rp, s->opts.sync == AKIDB_SYNC_FULL);
    else
        ak_io_replace_abort(&rp);
    if (st == AKIDB_OK) {
        g->file_size = off;
        g->durable = true;
        atomic_fetch_add(&s->seg_bytes_written, off);
    } else {
        ak_fail_prefix(st, "segment %s", path);
    }
    ak_free(path);
    return st;
}

static akidb_status seg_corrupt(const char *path, uint64_t off, const char *what)
{
    return ak_fail(AKIDB_ECORRUPT, "%s: offset %llu: %s", path, (unsigned long long)off, what);
}

/* Loads segment file seq of expected size into *out (tombstones empty). */
static akidb_status seg_load(akidb_store *s, uint64_t seq, uint64_t size, const char *snap,
                             ak_segment **out)
{
    char *path = seg_path(s, seq);
    if (!path)
        return ak_fail(AKIDB_ENOMEM, "segment: out of memory");
    ak_mmap m;
    akidb_status st = ak_mmap_open(path, &m);
    if (st != AKIDB_OK) {
        st = ak_fail(AKIDB_ECORRUPT, "%s: segment file named by %s cannot be read: %s", path, snap,
                     akidb_last_error());
        ak_free(path);
        return st;
    }
    const uint8_t *b = m.data;
    ak_coll *t = NULL;
    uint64_t next = 0;
    if (m.size != size)
        st = seg_corrupt(path, m.size, "segment file size differs from the snapshot's record");
    else if (size < AK_SNAP_HEADER_SIZE + 16 + 32 || memcmp(b, AK_SEG_MAGIC, 8) != 0)
        st = seg_corrupt(path, 0, "not a segment file (bad magic or too short)");
    else if (ak_get_u32(b + 8) != AK_SEG_VERSION || ak_get_u32(b + 12) != AK_SNAP_HEADER_SIZE ||
             ak_get_u32(b + 60) != ak_crc32c(0, b, 60) || ak_get_u64(b + 16) != seq)
        st = seg_corrupt(path, 8, "segment header checksum, version or number mismatch");
    else if (ak_get_u32(b + 64) != AK_SEC_COLLECTION || ak_get_u64(b + 72) > size - 80 ||
             ak_crc32c(0, b + 80, (size_t)ak_get_u64(b + 72)) != ak_get_u32(b + 68))
        st = seg_corrupt(path, 64, "segment table section damaged (checksum)");
    else
        st = ak_snap_load_table(path, b, (size_t)size, 80, ak_get_u64(b + 72), &t, &next);
    if (st == AKIDB_OK) {
        if (size - next != 32 || ak_get_u32(b + next) != AK_SEC_END ||
            ak_get_u32(b + next + 4) != ak_crc32c(0, b + next + 16, 16) ||
            ak_get_u64(b + next + 24) != size || t->n_live != ak_get_u32(b + 24))
            st = seg_corrupt(path, next, "segment end section does not match the contents");
    }
    if (st == AKIDB_OK && !(*out = seg_new(t, seq)))
        st = ak_fail(AKIDB_ENOMEM, "%s: out of memory", path);
    if (st == AKIDB_OK) {
        (*out)->durable = true;
        (*out)->file_size = size;
    } else if (t) {
        ak_coll_unref(t);
    }
    ak_mmap_close(&m);
    ak_free(path);
    return st;
}

void ak_seg_encode(const ak_coll *c, ak_buf *b)
{
    ak_buf_u32(b, (uint32_t)c->n_segs);
    for (size_t i = 0; i < c->n_segs; i++) {
        const ak_segment *g = c->segs[i];
        ak_buf_u64(b, g->seq);
        ak_buf_u64(b, g->file_size);
        ak_buf_u32(b, (uint32_t)g->n_tomb);
        for (uint32_t l = 0; l < g->t->n_slots; l++)
            if (g->tomb[l])
                ak_buf_u32(b, l);
    }
}

akidb_status ak_seg_load_section(akidb_store *s, ak_coll *c, const char *path, uint64_t off,
                                 const uint8_t *body, uint64_t len)
{
    ak_rd r = { body, (size_t)len, 0, false };
    uint32_t n = ak_rd_u32(&r);
    if (r.bad || n > len / 20)
        return seg_corrupt(path, off, "malformed segments section");
    for (uint32_t i = 0; i < n; i++) {
        uint64_t seq = ak_rd_u64(&r), size = ak_rd_u64(&r);
        uint32_t nt = ak_rd_u32(&r);
        if (r.bad || nt > (r.n - r.off) / 4)
            return seg_corrupt(path, off + r.off, "malformed segment record");
        ak_segment *g = NULL;
        akidb_status st = seg_load(s, seq, size, path, &g);
        if (st != AKIDB_OK)
            return st;
        for (uint32_t k = 0; k < nt; k++) {
            uint32_t l = ak_rd_u32(&r);
            if (l >= g->t->n_slots || atomic_load(&g->t->slots[l].state) != SLOT_LIVE ||
                g->tomb[l]) {
                ak_segment_unref(g);
                return seg_corrupt(path, off + r.off - 4, "tombstone of a point the segment lacks");
            }
            g->tomb[l] = 1;
            g->n_tomb++;
        }
        if ((st = segs_room(c)) != AKIDB_OK) {
            ak_segment_unref(g);
            return st;
        }
        c->segs[c->n_segs++] = g;
        c->seg_live += seg_live(g);
    }
    if (r.off != r.n)
        return seg_corrupt(path, off + r.off, "trailing bytes in segments section");
    return AKIDB_OK;
}

/* ---- files no snapshot names
 * ------------------------------------------------------ */

static bool named_in(const uint64_t *v, size_t n, uint64_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == seq)
            return true;
    return false;
}

void ak_seg_remove_unnamed(akidb_store *s, const uint64_t *seqs, size_t n)
{
    ak_seg *v;
    size_t nv;
    if (ak_store_list_files(s->dir, "seg-", ".akseg", &v, &nv) != AKIDB_OK)
        return;
    for (size_t i = 0; i < nv; i++)
        if (!named_in(seqs, n, v[i].lsn))
            unlink(v[i].name);
    ak_store_free_segs(v, nv);
}

void ak_seg_after_open(akidb_store *s)
{
    uint64_t *named = NULL, next = 1;
    size_t n = 0, cap = 0;
    bool oom = false;
    for (size_t i = 0; i < s->n_tenants; i++)
        for (size_t j = 0; j < s->tenants[i]->n_colls; j++) {
            const ak_coll *c = s->tenants[i]->colls[j];
            for (size_t k = 0; k < c->n_segs; k++) {
                if (c->segs[k]->seq >= next)
                    next = c->segs[k]->seq + 1;
                if (n == cap) {
                    cap = cap ? cap * 2 : 16;
                    uint64_t *nv = ak_realloc(named, cap * sizeof *nv);
                    if (!nv) {
                        oom = true;
                        continue;
                    }
                    named = nv;
                }
                named[n++] = c->segs[k]->seq;
            }
        }
    ak_seg *v;
    size_t nv;
    if (ak_store_list_files(s->dir, "seg-", ".akseg", &v, &nv) == AKIDB_OK) {
        for (size_t i = 0; i < nv; i++) {
            if (v[i].lsn >= next)
                next = v[i].lsn + 1;
            if (!oom && !named_in(named, n, v[i].lsn)) {
                ak_store_log(s, AKIDB_LOG_INFO, "%s: removed a segment no snapshot names",
                             v[i].name);
                unlink(v[i].name);
            }
        }
        ak_store_free_segs(v, nv);
    }
    ak_free(named);
    /* temporary files of segments an interrupted snapshot was writing */
    DIR *d = opendir(s->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 4 && strncmp(e->d_name, "seg-", 4) == 0 &&
                strcmp(e->d_name + l - 4, ".tmp") == 0) {
                char *p = ak_path_join(s->dir, e->d_name);
                if (p)
                    unlink(p);
                ak_free(p);
            }
        }
        closedir(d);
    }
    atomic_store(&s->seg_seq, next);
}

/* ---- compaction
 * ------------------------------------------------------------------- */

static size_t compact_max(const akidb_store *s)
{
    return s->opts.compact_max_segments ? s->opts.compact_max_segments : 8;
}

static double compact_share(const akidb_store *s)
{
    return s->opts.compact_tomb_share > 0 ? s->opts.compact_tomb_share : 0.3;
}

/* Marks in pick[] the segments to merge (writer mutex held): each whose
 * tombstoned share has passed the threshold, and while more than the
 * maximum would remain, the smallest others.  Only segments on disk. */
static size_t compact_pick(const akidb_store *s, const ak_coll *c, bool *pick)
{
    size_t n = 0, durable = 0;
    for (size_t i = 0; i < c->n_segs; i++) {
        const ak_segment *g = c->segs[i];
        pick[i] = false;
        if (!g->durable)
            continue;
        durable++;
        if (g->n_tomb && (double)g->n_tomb >= compact_share(s) * (double)g->t->n_live) {
            pick[i] = true;
            n++;
        }
    }
    /* merging k segments into one leaves n_segs - k + 1 */
    while (c->n_segs - (n ? n - 1 : 0) > compact_max(s) && n < durable) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < c->n_segs; i++)
            if (c->segs[i]->durable && !pick[i] &&
                (best == SIZE_MAX || seg_live(c->segs[i]) < seg_live(c->segs[best])))
                best = i;
        if (best == SIZE_MAX)
            break;
        pick[best] = true;
        n++;
    }
    return n;
}

/* Copies the id, text and payload of the point at label l of segment
 * table src into a new slot of m (private); its label into *nl. */
static akidb_status copy_slot(ak_coll *m, const ak_coll *src, uint32_t l, uint32_t *nl)
{
    const pslot *a = &src->slots[l];
    *nl = ak_coll_take_label(m);
    pslot *b = &m->slots[*nl];
    b->id = ak_strndup(a->id, a->id_len);
    b->id_len = a->id_len;
    b->text = a->text ? ak_strdup(a->text) : NULL;
    b->payload = a->payload ? json_deep_copy(a->payload) : NULL;
    if (!b->id || (a->text && !b->text) || (a->payload && !b->payload))
        return ak_coll_oom(m);
    return AKIDB_OK;
}

/* The index adds of a merge: vector i comes from label from_l[i] of table
 * from[i] and goes to label i of m. */
typedef struct merge_adds {
    ak_coll *m;
    const ak_coll **from;
    const uint32_t *from_l;
} merge_adds;

static akidb_status merge_add(void *ctx, size_t i)
{
    merge_adds *a = ctx;
    float vec[AKIDB_DIM_MAX];
    akidb_status st = ak_index_get_vector(&a->from[i]->index, a->from_l[i], vec);
    return st == AKIDB_OK ? ak_index_add(&a->m->index, (uint32_t)i, vec) : st;
}

/* Builds m's index from the sources (in order at first, then on a few
 * threads: ak_store_add_spread). */
static akidb_status merge_index(ak_coll *m, const ak_coll **from, const uint32_t *from_l, size_t n)
{
    merge_adds a = { m, from, from_l };
    return ak_store_add_spread(n, 0, merge_add, &a);
}

/* The merged table of the sources minus the tombstones in their copies:
 * the points' data copied, then the index built (labels 0..n-1). */
static akidb_status merge_tables(ak_coll *c, ak_segment **src, uint8_t **tc, size_t k,
                                 ak_coll **out)
{
    ak_coll *m = empty_table(c);
    size_t total = 0, n = 0;
    for (size_t i = 0; i < k; i++)
        total += src[i]->t->n_live;
    const ak_coll **from = ak_malloc((total ? total : 1) * sizeof *from);
    uint32_t *from_l = ak_malloc((total ? total : 1) * sizeof *from_l);
    akidb_status st = m && from && from_l ? ak_coll_reserve(m, total) : ak_coll_oom(c);
    for (size_t i = 0; st == AKIDB_OK && i < k; i++) {
        const ak_coll *t = src[i]->t;
        for (uint32_t l = 0; st == AKIDB_OK && l < t->n_slots; l++) {
            if (atomic_load(&t->slots[l].state) != SLOT_LIVE || tc[i][l])
                continue;
            uint32_t nl;
            st = copy_slot(m, t, l, &nl);
            AK_ASSERT(st != AKIDB_OK || nl == n); /* an empty table hands out 0, 1, ... */
            from[n] = t;
            from_l[n++] = l;
        }
    }
    if (st == AKIDB_OK)
        st = merge_index(m, from, from_l, n);
    for (uint32_t l = 0; st == AKIDB_OK && l < n; l++) {
        pslot *b = &m->slots[l];
        b->in_index = true;
        atomic_store(&b->state, SLOT_LIVE);
        ak_coll_ht_insert(m, l);
        m->n_live++;
    }
    ak_free(from);
    ak_free(from_l);
    if (st != AKIDB_OK) {
        ak_coll_unref(m);
        return ak_fail_prefix(st, "compacting '%s/%s'", c->tenant, c->name);
    }
    *out = m;
    return AKIDB_OK;
}

/* Puts g in place of the sources (writer mutex and rw write lock held),
 * carrying over the tombstones set since their copies were taken; a g
 * left without live points is not kept (false: the caller frees it). */
static bool compact_swap(ak_coll *c, ak_segment **src, uint8_t **tc, size_t k, ak_segment *g)
{
    for (size_t i = 0; i < k; i++) {
        const ak_coll *t = src[i]->t;
        for (uint32_t l = 0; l < t->n_slots; l++) {
            if (!src[i]->tomb[l] || tc[i][l])
                continue;
            uint32_t ml = ak_coll_find(g->t, t->slots[l].id, t->slots[l].id_len);
            if (ml != AK_NO_LABEL && !g->tomb[ml]) {
                g->tomb[ml] = 1;
                g->n_tomb++;
            }
        }
    }
    size_t w = 0;
    bool placed = seg_live(g) == 0; /* (then dropped, not placed) */
    for (size_t i = 0; i < c->n_segs; i++) {
        bool is_src = false;
        for (size_t j = 0; j < k && !is_src; j++)
            is_src = c->segs[i] == src[j];
        if (!is_src)
            c->segs[w++] = c->segs[i];
        else if (!placed) {
            c->segs[w++] = g;
            placed = true;
        }
    }
    c->n_segs = w;
    c->seg_live = 0;
    for (size_t i = 0; i < c->n_segs; i++)
        c->seg_live += seg_live(c->segs[i]);
    return seg_live(g) > 0;
}

static akidb_status compact(akidb_store *s, ak_coll *c)
{
    pthread_mutex_lock(&c->wmu);
    size_t n = c->n_segs, k = 0;
    bool *pick = ak_calloc(n ? n : 1, sizeof *pick);
    ak_segment **src = ak_calloc(n ? n : 1, sizeof *src);
    uint8_t **tc = ak_calloc(n ? n : 1, sizeof *tc);
    akidb_status st = pick && src && tc ? AKIDB_OK : ak_coll_oom(c);
    size_t want = st == AKIDB_OK && !c->dead ? compact_pick(s, c, pick) : 0;
    for (size_t i = 0; i < n && st == AKIDB_OK && want; i++) {
        if (!pick[i])
            continue;
        ak_segment *g = c->segs[i];
        if (!(tc[k] = ak_malloc(g->t->n_slots ? g->t->n_slots : 1))) {
            st = ak_coll_oom(c);
            break;
        }
        memcpy(tc[k], g->tomb, g->t->n_slots);
        atomic_fetch_add(&g->refs, 1);
        src[k++] = g;
    }
    pthread_mutex_unlock(&c->wmu);
    ak_coll *m = NULL;
    ak_segment *g = NULL;
    if (st == AKIDB_OK && k)
        seg_hook(s, "compacting"); /* sources chosen, nothing built yet */
    if (st == AKIDB_OK && k)
        st = merge_tables(c, src, tc, k, &m);
    if (st == AKIDB_OK && m && !(g = seg_new(m, atomic_fetch_add(&s->seg_seq, 1)))) {
        ak_coll_unref(m);
        st = ak_coll_oom(c);
    }
    if (st == AKIDB_OK && g && g->t->n_live) /* an empty one is dropped */
        st = seg_write(s, g);
    if (st == AKIDB_OK && g) {
        pthread_mutex_lock(&c->wmu);
        if (!c->dead) {
            pthread_rwlock_wrlock(&c->rw);
            bool kept = compact_swap(c, src, tc, k, g);
            pthread_rwlock_unlock(&c->rw);
            for (size_t i = 0; i < k; i++)
                ak_segment_unref(src[i]); /* the collection's reference */
            if (kept)
                g = NULL;
            atomic_fetch_add(&s->seg_compacted, 1);
        }
        pthread_mutex_unlock(&c->wmu);
    }
    ak_segment_unref(g);
    for (size_t i = 0; i < k; i++) {
        ak_segment_unref(src[i]);
        ak_free(tc[i]);
    }
    ak_free(pick);
    ak_free(src);
    ak_free(tc);
    return st;
}

akidb_status ak_seg_prepare(akidb_store *s, ak_coll *c)
{
    bool sealed;
    pthread_mutex_lock(&c->wmu);
    akidb_status st = seal_tail(s, c, &sealed);
    pthread_mutex_unlock(&c->wmu);
    if (st != AKIDB_OK)
        return st;
    if (sealed) {
        atomic_fetch_add(&s->seg_sealed, 1);
        seg_hook(s, "sealed");
    }
    /* files of the segments not yet on disk (one a failed run left, too) */
    for (;;) {
        ak_segment *g = NULL;
        pthread_mutex_lock(&c->wmu);
        for (size_t i = 0; i < c->n_segs && !g; i++)
            if (!c->segs[i]->durable) {
                g = c->segs[i];
                atomic_fetch_add(&g->refs, 1);
            }
        pthread_mutex_unlock(&c->wmu);
        if (!g)
            break;
        st = seg_write(s, g);
        ak_segment_unref(g);
        if (st != AKIDB_OK)
            return st;
        seg_hook(s, "segment-written");
    }
    return compact(s, c);
}
