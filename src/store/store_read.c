/*
 * store_read.c - the store's read side: points by id, scroll in id order,
 * count, and search through the collection's index (ak_index_search, any
 * kind) with payload filters, planned within a work budget (points
 * examined, opts.search_budget: see akidb_search); all under
 * the collection's read lock, seeing only LIVE slots (see store_points.c
 * for the write path that publishes them).
 *
 * A collection is read as parts (rpart): each sealed segment minus its
 * tombstones, and the mutable tail (segment.c).  A point id is live in at
 * most one part, so get takes the first part holding it, count and scroll
 * add up or merge the parts, and search runs each part's index (the same
 * plan, the budget shared) and merges the hits by score exactly.
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

/* ---- parts: the sealed segments and the tail ------------------------------------------ */

typedef struct rpart {
    const ak_coll *c;      /* the part's table and index                       */
    const uint8_t *tomb;   /* its tombstones (segments), NULL for the tail     */
    size_t live;           /* its live points                                  */
} rpart;

/* The parts of c, segments first (read lock held); v has n_segs + 1 room. */
static size_t parts_of(const ak_coll *c, rpart *v)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_segs; i++) {
        const ak_segment *g = c->segs[i];
        v[n++] = (rpart){ g->t, g->tomb, g->t->n_live - g->n_tomb };
    }
    v[n++] = (rpart){ c, NULL, c->n_live };
    return n;
}

static rpart *parts_alloc(const ak_coll *c)
{
    return ak_malloc((c->n_segs + 1) * sizeof(rpart));
}

/* ---- reading ------------------------------------------------------------------------- */

/* Fills one output point from a LIVE slot (read lock held). */
static akidb_status fill_point(const ak_coll *c, uint32_t l, unsigned with, float score,
                               akidb_point *o)
{
    const pslot *sl = &c->slots[l];
    memset(o, 0, sizeof *o);
    o->score = score;
    o->dim = c->dim;
    if (!(o->id = ak_strndup(sl->id, sl->id_len)))
        return ak_coll_oom(c);
    if ((with & AKIDB_WITH_TEXT) && sl->text && !(o->text = ak_strdup(sl->text)))
        return ak_coll_oom(c);
    if ((with & AKIDB_WITH_PAYLOAD) && sl->payload &&
        !(o->payload = json_dumps(sl->payload, JSON_COMPACT)))
        return ak_coll_oom(c);
    if (with & AKIDB_WITH_VECTOR) {
        if (!(o->vector = ak_malloc((size_t)c->dim * sizeof(float))))
            return ak_coll_oom(c);
        akidb_status st = ak_index_get_vector(&c->index, l, o->vector);
        if (st != AKIDB_OK)
            return ak_fail_prefix(st, "collection '%s/%s': point '%s'", c->tenant, c->name, o->id);
    }
    return AKIDB_OK;
}

static akidb_status out_alloc(const ak_coll *c, akidb_points *out, size_t n)
{
    memset(out, 0, sizeof *out);
    out->items = ak_calloc(n ? n : 1, sizeof *out->items);
    return out->items ? AKIDB_OK : ak_coll_oom(c);
}

akidb_status akidb_points_get(akidb_store *s, const char *tenant, const char *collection,
                              const char *const *ids, size_t n, unsigned with, akidb_points *out)
{
    AK_ASSERT(out && (ids || n == 0));
    memset(out, 0, sizeof *out);
    ak_coll *c;
    akidb_status st = ak_store_get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    if ((st = out_alloc(c, out, n)) != AKIDB_OK) {
        ak_coll_unref(c);
        return st;
    }
    ak_json_init();
    pthread_rwlock_rdlock(&c->rw);
    for (size_t i = 0; i < n && st == AKIDB_OK; i++) {
        AK_ASSERT(ids[i]);
        size_t len = strlen(ids[i]);
        if (len > AKIDB_POINT_ID_MAX)
            continue;
        uint32_t l = ak_coll_find(c, ids[i], len);
        size_t g;
        if (l != AK_NO_LABEL)
            st = fill_point(c, l, with, 0, &out->items[out->n++]);
        else if (ak_seg_find(c, ids[i], len, &g, &l))
            st = fill_point(c->segs[g]->t, l, with, 0, &out->items[out->n++]);
    }
    pthread_rwlock_unlock(&c->rw);
    ak_coll_unref(c);
    if (st != AKIDB_OK)
        akidb_points_free(out);
    return st;
}

static akidb_status parse_filter_opt(const char *json, ak_filter **f)
{
    *f = NULL;
    if (!json)
        return AKIDB_OK;
    akidb_status st = ak_filter_parse(json, strlen(json), f);
    if (st == AKIDB_OK && ak_filter_is_true(*f)) {
        ak_filter_free(*f);
        *f = NULL;
    }
    return st;
}

static inline bool slot_live(const rpart *P, uint32_t l)
{
    return l < P->c->n_slots &&
           atomic_load_explicit(&P->c->slots[l].state, memory_order_acquire) == SLOT_LIVE &&
           !(P->tomb && P->tomb[l]);
}

/* The filter on slot l: its payload, and its id for "$id" conditions. */
static inline bool slot_match(const ak_filter *f, const rpart *P, uint32_t l)
{
    const pslot *sl = &P->c->slots[l];
    return ak_filter_match_point(f, sl->id, sl->id_len, sl->payload);
}

akidb_status akidb_points_count(akidb_store *s, const char *tenant, const char *collection,
                                const char *filter_json, uint64_t *count)
{
    AK_ASSERT(count);
    *count = 0;
    ak_filter *f;
    akidb_status st = parse_filter_opt(filter_json, &f);
    if (st != AKIDB_OK)
        return st;
    ak_coll *c;
    if ((st = ak_store_get_coll(s, tenant, collection, &c)) != AKIDB_OK) {
        ak_filter_free(f);
        return st;
    }
    pthread_rwlock_rdlock(&c->rw);
    rpart *v = parts_alloc(c);
    if (!v) {
        st = ak_coll_oom(c);
    } else if (!f) {
        *count = c->n_live + c->seg_live;
    } else {
        size_t np = parts_of(c, v);
        uint64_t k = 0;
        for (size_t i = 0; i < np; i++)
            for (uint32_t l = 0; l < v[i].c->n_slots; l++)
                if (slot_live(&v[i], l) && slot_match(f, &v[i], l))
                    k++;
        *count = k;
    }
    pthread_rwlock_unlock(&c->rw);
    ak_free(v);
    ak_coll_unref(c);
    ak_filter_free(f);
    return st;
}

/* True for an id that is an unsigned decimal integer as written canonically
 * (no sign, no leading zero): Qdrant's integer point ids. */
static bool id_is_uint(const pslot *p)
{
    if (p->id_len == 0 || (p->id_len > 1 && p->id[0] == '0'))
        return false;
    for (size_t i = 0; i < p->id_len; i++)
        if (p->id[i] < '0' || p->id[i] > '9')
            return false;
    return true;
}

/* The id order of scroll: integer ids by value, then every other id in
 * byte order - Qdrant's point order (integers, then UUIDs, whose canonical
 * lower-case text sorts as their 128-bit value). */
static int id_cmp(const pslot *a, const pslot *b)
{
    bool ua = id_is_uint(a), ub = id_is_uint(b);
    if (ua != ub)
        return ua ? -1 : 1;
    if (ua && a->id_len != b->id_len)   /* no leading zeros: longer is larger */
        return a->id_len < b->id_len ? -1 : 1;
    size_t n = a->id_len < b->id_len ? a->id_len : b->id_len;
    int r = memcmp(a->id, b->id, n);
    return r ? r : (a->id_len > b->id_len) - (a->id_len < b->id_len);
}

/* A scroll entry: part << 32 | label. */
#define ENT_SLOT(v, e) (&(v)[(e) >> 32].c->slots[(uint32_t)(e)])

/* Max-heap of entries by id (largest on top) for scroll. */
static void heap_sift_down(const rpart *v, uint64_t *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && id_cmp(ENT_SLOT(v, h[l]), ENT_SLOT(v, h[m])) > 0)
            m = l;
        if (r < n && id_cmp(ENT_SLOT(v, h[r]), ENT_SLOT(v, h[m])) > 0)
            m = r;
        if (m == i)
            return;
        uint64_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_sift_up(const rpart *v, uint64_t *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (id_cmp(ENT_SLOT(v, h[i]), ENT_SLOT(v, h[p])) <= 0)
            return;
        uint64_t t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void sort_entries_by_id(const rpart *v, uint64_t *h, size_t n)
{
    /* Heap sort in place (ascending), avoiding qsort's global context. */
    for (size_t end = n; end > 1; end--) {
        uint64_t t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        heap_sift_down(v, h, end - 1, 0);
    }
}

/* Keeps the limit smallest ids after the cursor of part pi in the heap. */
static void scroll_part(const rpart *v, size_t pi, const pslot *cur, const ak_filter *f,
                        uint64_t *h, size_t *n, size_t limit, bool *more)
{
    const rpart *P = &v[pi];
    for (uint32_t l = 0; l < P->c->n_slots; l++) {
        if (!slot_live(P, l))
            continue;
        if (cur && id_cmp(&P->c->slots[l], cur) <= 0)
            continue;
        if (f && !slot_match(f, P, l))
            continue;
        uint64_t e = (uint64_t)pi << 32 | l;
        if (*n < limit) {
            h[(*n)++] = e;
            heap_sift_up(v, h, *n - 1);
        } else {
            *more = true;
            if (id_cmp(&P->c->slots[l], ENT_SLOT(v, h[0])) < 0) {
                h[0] = e;
                heap_sift_down(v, h, *n, 0);
            }
        }
    }
}

akidb_status akidb_points_scroll(akidb_store *s, const char *tenant, const char *collection,
                                 const char *cursor, size_t limit, const char *filter_json,
                                 unsigned with, akidb_points *out)
{
    AK_ASSERT(out);
    memset(out, 0, sizeof *out);
    if (limit < 1 || limit > AK_STORE_MAX_SCROLL)
        return ak_fail(AKIDB_EINVAL, "scroll limit %zu is outside 1..%u", limit, AK_STORE_MAX_SCROLL);
    size_t cur_len = cursor ? strlen(cursor) : 0;
    if (cursor && cur_len > AKIDB_POINT_ID_MAX)
        return ak_fail(AKIDB_EINVAL, "invalid scroll cursor");
    pslot cur = { 0 };
    cur.id = (char *)cursor;
    cur.id_len = (uint8_t)cur_len;
    ak_filter *f;
    akidb_status st = parse_filter_opt(filter_json, &f);
    if (st != AKIDB_OK)
        return st;
    ak_coll *c;
    if ((st = ak_store_get_coll(s, tenant, collection, &c)) != AKIDB_OK) {
        ak_filter_free(f);
        return st;
    }
    ak_json_init();
    uint64_t *h = ak_malloc((limit + 1) * sizeof *h);
    rpart *v = NULL;
    if (!h) {
        st = ak_coll_oom(c);
        goto done;
    }
    pthread_rwlock_rdlock(&c->rw);
    if (!(v = parts_alloc(c))) {
        pthread_rwlock_unlock(&c->rw);
        st = ak_coll_oom(c);
        goto done;
    }
    size_t np = parts_of(c, v), n = 0;
    bool more = false;
    for (size_t i = 0; i < np; i++)
        scroll_part(v, i, cursor ? &cur : NULL, f, h, &n, limit, &more);
    sort_entries_by_id(v, h, n);
    st = out_alloc(c, out, n);
    for (size_t i = 0; st == AKIDB_OK && i < n; i++)
        st = fill_point(v[h[i] >> 32].c, (uint32_t)h[i], with, 0, &out->items[out->n++]);
    if (st == AKIDB_OK && more && n) {
        const pslot *last = ENT_SLOT(v, h[n - 1]);
        if (!(out->next_cursor = ak_strndup(last->id, last->id_len)))
            st = ak_coll_oom(c);
    }
    pthread_rwlock_unlock(&c->rw);
done:
    ak_free(v);
    ak_free(h);
    ak_coll_unref(c);
    ak_filter_free(f);
    if (st != AKIDB_OK)
        akidb_points_free(out);
    return st;
}

/* ---- search ---------------------------------------------------------------------------------- */

typedef struct accept_ctx {
    const rpart *P;
    const ak_filter *f;
} accept_ctx;

static bool accept_live(uint32_t label, void *ctx)
{
    const accept_ctx *a = ctx;
    if (!slot_live(a->P, label))
        return false;
    return !a->f || slot_match(a->f, a->P, label);
}

#define FULL_EVAL_MAX 50000u     /* evaluate filters on every point below this */
#define SAMPLE_N 2000u

/* One search and its work so far against the budget (points examined:
 * vectors compared with the query, points a scan passes or tests). */
typedef struct plan {
    ak_coll *c;              /* the collection (messages)                       */
    const rpart *P;          /* the part being searched                         */
    const akidb_search_req *req;
    accept_ctx ac;
    size_t k, ef, budget, spent;
    ak_hit *hits;
    size_t nh;
} plan;

/* What is left of the budget (a walk may overshoot it by one step). */
static size_t left_of(const plan *p)
{
    return p->spent < p->budget ? p->budget - p->spent : 0;
}

static akidb_status over_budget(const plan *p, size_t need, const char *what)
{
    return ak_fail(AKIDB_ERANGE,
                   "%s would examine %zu more points after %zu, past the search budget of %zu "
                   "points per search; narrow the filter, lower top_k or ef, or raise the "
                   "budget (akidb serve --search-budget)",
                   what, need, p->spent, p->budget);
}

/* The request's quantisation settings for an HNSW walk (an SQ8 index
 * reads them; others ignore them).  The candidates oversampling asks for
 * are capped at max(AKIDB_SEARCH_EF_MAX, k). */
static void quant_opts(const plan *p, ak_search_opts *so)
{
    so->quant_ignore = p->req->quant_ignore;
    so->quant_no_rescore = p->req->quant_no_rescore;
    double os = p->req->quant_oversampling, cap = AKIDB_SEARCH_EF_MAX;
    if (os >= 1 && os * (double)p->k > cap)
        os = cap > (double)p->k ? cap / (double)p->k : 1.0;
    so->oversampling = os;
}

/* Runs one index search within what is left of the budget, at most cap
 * points (0: all that is left); AKIDB_ERANGE when it stopped there. */
static akidb_status run_index(plan *p, ak_search_opts *so, size_t cap)
{
    size_t left = left_of(p), visits = 0;
    so->max_visits = cap && cap < left ? cap : left;
    so->visits = &visits;
    p->nh = 0;
    akidb_status st = ak_index_search(&p->P->c->index, p->req->vector, p->k, so, p->hits, &p->nh);
    p->spent += visits;
    return st;
}

/* An exact scan of every live point (the filter tested on each). */
static akidb_status scan_all(plan *p)
{
    size_t live = p->P->live;
    if (live > left_of(p))
        return over_budget(p, live, p->ac.f ? "an exact scan testing the filter on every point"
                                            : "an exact scan");
    ak_search_opts so = { 0 };
    so.accept = accept_live;
    so.ctx = &p->ac;
    so.strategy = AK_SEARCH_EXACT;
    return run_index(p, &so, 0);
}

/* The labels of the live points that pass the filter (every live point
 * tested once) into *labels (ak_free), their number into *m. */
static akidb_status filter_labels(plan *p, uint32_t **labels, size_t *m)
{
    const rpart *P = p->P;
    *m = 0;
    if (P->live > left_of(p))
        return over_budget(p, P->live, "testing the filter on every point");
    ak_free(*labels);
    if (!(*labels = ak_malloc(((size_t)P->c->n_slots + 1) * sizeof **labels)))
        return ak_coll_oom(p->c);
    for (uint32_t l = 0; l < P->c->n_slots; l++)
        if (slot_live(P, l) && slot_match(p->ac.f, P, l))
            (*labels)[(*m)++] = l;
    p->spent += P->live;
    return AKIDB_OK;
}

/* The exact top k among m candidate labels. */
static akidb_status scan_labels(plan *p, const uint32_t *labels, size_t m)
{
    if (m > left_of(p))
        return over_budget(p, m, "an exact scan over the points that pass the filter");
    ak_search_opts so = { 0 };
    so.labels = labels;
    so.n_labels = m;
    return run_index(p, &so, 0);
}

/* Share of live points passing the filter from a pseudo-random sample
 * (each point sampled counts as examined). */
static double sample_selectivity(plan *p)
{
    const rpart *P = p->P;
    uint64_t x = 0x9E3779B97F4A7C15ull ^ P->live;
    size_t seen = 0, hit = 0;
    for (size_t i = 0; i < SAMPLE_N * 4 && seen < SAMPLE_N; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint32_t l = (uint32_t)(x % P->c->n_slots);
        if (!slot_live(P, l))
            continue;
        seen++;
        hit += slot_match(p->ac.f, P, l);
    }
    p->spent += seen;
    return seen ? (double)hit / (double)seen : 1.0;
}

/* A filtered search of a collection too large for a plain scan: an exact
 * scan over the matching points when few match, else a filter-aware HNSW
 * walk that stops where an exact scan over the matches becomes cheaper
 * (when the matches are known) or at the budget less what such a scan
 * needs, and then finishes as that scan. */
static akidb_status search_filtered(plan *p, size_t exact_thr, uint32_t **labels)
{
    const rpart *P = p->P;
    size_t live = P->live, m = 0;
    bool known = P->c->n_slots <= FULL_EVAL_MAX && live <= left_of(p);
    double sel = 1.0;
    if (!known) {
        sel = sample_selectivity(p);
        known = sel * (double)live <= (double)exact_thr * 4 && live <= left_of(p);
    }
    akidb_status st;
    if (known) {
        if ((st = filter_labels(p, labels, &m)) != AKIDB_OK)
            return st;
        sel = (double)m / (double)live;
        if (m <= exact_thr * 4 || sel < 0.05)
            return scan_labels(p, *labels, m);
    }
    size_t left = left_of(p), reserve = 2 * live, cap;
    if (known)
        cap = m < left ? m : left;
    else
        cap = reserve < left / 2 ? left - reserve : left;
    ak_search_opts so = { 0 };
    so.ef = p->ef;
    so.accept = accept_live;
    so.ctx = &p->ac;
    so.selectivity = sel > 0 ? sel : 1e-6;
    quant_opts(p, &so);
    so.strategy = live <= cap ? AK_SEARCH_AUTO : AK_SEARCH_GRAPH;
    st = run_index(p, &so, cap);
    if (st != AKIDB_ERANGE)
        return st;
    /* the walk reached its share: finish exactly over the matches */
    if (!known && (st = filter_labels(p, labels, &m)) != AKIDB_OK)
        return st;
    return scan_labels(p, *labels, m);
}

/* Searches one part: an exact scan when asked or when the part is small,
 * else its index (filter-aware), within what is left of the budget. */
static akidb_status search_part(plan *p, size_t exact_thr, uint32_t **labels)
{
    size_t live = p->P->live;
    if (live == 0)
        return AKIDB_OK;
    if (p->req->exact || (live < exact_thr && live <= p->budget))
        return scan_all(p);   /* (a budget below the threshold: HNSW instead) */
    if (p->ac.f)
        return search_filtered(p, exact_thr, labels);
    ak_search_opts so = { 0 };
    so.ef = p->ef;
    so.accept = accept_live;
    so.ctx = &p->ac;
    so.strategy = AK_SEARCH_GRAPH;
    quant_opts(p, &so);
    akidb_status st = run_index(p, &so, 0);
    return st == AKIDB_ERANGE ? scan_all(p) : st;
}

/* A hit of one part, its score as the API gives it (higher is better). */
typedef struct mhit {
    float score;
    uint32_t part, label;
} mhit;

/* Best first; equal scores by id, so the order does not depend on where
 * the points are. */
static int mhit_cmp(const mhit *a, const mhit *b, const rpart *v)
{
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    const pslot *x = &v[a->part].c->slots[a->label], *y = &v[b->part].c->slots[b->label];
    return id_cmp(x, y);
}

/* Sorts the merged hits (insertion into runs merged bottom-up; n is at
 * most parts x top_k). */
static void merge_sort(mhit *h, size_t n, const rpart *v)
{
    mhit *tmp = ak_malloc((n ? n : 1) * sizeof *tmp);
    if (!tmp) {   /* fall back to insertion sort */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && mhit_cmp(&h[j], &h[j - 1], v) < 0; j--) {
                mhit t = h[j];
                h[j] = h[j - 1];
                h[j - 1] = t;
            }
        return;
    }
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = mhit_cmp(&h[b], &h[a], v) < 0 ? h[b++] : h[a++];
            while (a < mid)
                tmp[k++] = h[a++];
            while (b < hi)
                tmp[k++] = h[b++];
        }
        memcpy(h, tmp, n * sizeof *h);
    }
    ak_free(tmp);
}

akidb_status akidb_search(akidb_store *s, const char *tenant, const char *collection,
                          const akidb_search_req *req, akidb_points *out)
{
    AK_ASSERT(req && out && (req->vector || req->dim == 0));
    memset(out, 0, sizeof *out);
    ak_coll *c;
    akidb_status st = ak_store_get_coll(s, tenant, collection, &c);
    if (st != AKIDB_OK)
        return st;
    ak_filter *f = NULL;
    uint32_t *labels = NULL;
    rpart *v = NULL;
    mhit *mh = NULL;
    plan p = { 0 };
    if (req->top_k < 1 || req->top_k > AKIDB_SEARCH_TOPK_MAX) {
        st = ak_fail(AKIDB_EINVAL, "search in '%s/%s': top_k %zu is outside 1..%u (the limit)",
                     tenant, collection, req->top_k, AKIDB_SEARCH_TOPK_MAX);
        goto done;
    }
    if (req->ef > AKIDB_SEARCH_EF_MAX) {
        st = ak_fail(AKIDB_EINVAL, "search in '%s/%s': ef %zu is over the limit of %u", tenant,
                     collection, req->ef, AKIDB_SEARCH_EF_MAX);
        goto done;
    }
    if (req->quant_oversampling != 0 &&
        !(req->quant_oversampling >= 1 && req->quant_oversampling <= 100)) {
        st = ak_fail(AKIDB_EINVAL, "search in '%s/%s': quantization oversampling %g is outside "
                     "1..100", tenant, collection, req->quant_oversampling);
        goto done;
    }
    if ((st = ak_store_check_vector(c, "search", "query", req->vector, req->dim)) != AKIDB_OK)
        goto done;
    if ((st = parse_filter_opt(req->filter_json, &f)) != AKIDB_OK)
        goto done;
    ak_json_init();
    p.c = c;
    p.req = req;
    p.ac = (accept_ctx){ NULL, f };
    p.k = req->top_k;
    p.ef = req->ef ? req->ef : (4 * p.k > 128 ? 4 * p.k : 128);
    if (p.ef < p.k)
        p.ef = p.k;
    p.budget = s->opts.search_budget ? s->opts.search_budget : AKIDB_SEARCH_BUDGET_DEFAULT;
    if (!(p.hits = ak_malloc(p.k * sizeof *p.hits))) {
        st = ak_coll_oom(c);
        goto done;
    }
    size_t exact_thr = s->opts.exact_threshold ? s->opts.exact_threshold : 2048;
    pthread_rwlock_rdlock(&c->rw);
    size_t np = 0, nm = 0;
    if (!(v = parts_alloc(c)) || !(mh = ak_malloc((c->n_segs + 1) * p.k * sizeof *mh)))
        st = ak_coll_oom(c);
    else
        np = parts_of(c, v);
    for (size_t i = 0; st == AKIDB_OK && i < np; i++) {
        p.P = &v[i];
        p.ac.P = &v[i];
        p.nh = 0;
        st = search_part(&p, exact_thr, &labels);
        for (size_t j = 0; st == AKIDB_OK && j < p.nh; j++) {
            if (!slot_live(&v[i], p.hits[j].label))
                continue;    /* cannot happen: accept filtered it */
            float score = c->metric == AKIDB_METRIC_L2 ? -p.hits[j].score : p.hits[j].score;
            mh[nm++] = (mhit){ score, (uint32_t)i, p.hits[j].label };
        }
    }
    /* the parts' hits merged by score: the top k of their union */
    if (st == AKIDB_OK && np > 1)
        merge_sort(mh, nm, v);
    if (nm > p.k)
        nm = p.k;
    if (st == AKIDB_OK)
        st = out_alloc(c, out, nm);
    for (size_t i = 0; st == AKIDB_OK && i < nm; i++)
        st = fill_point(v[mh[i].part].c, mh[i].label, req->with, mh[i].score,
                        &out->items[out->n++]);
    out->examined = p.spent;
    pthread_rwlock_unlock(&c->rw);
    if (st != AKIDB_OK) {
        akidb_points_free(out);
        ak_fail_prefix(st, "search in '%s/%s'", tenant, collection);
    }
done:
    ak_free(v);
    ak_free(mh);
    ak_free(labels);
    ak_free(p.hits);
    ak_filter_free(f);
    ak_coll_unref(c);
    return st;
}
