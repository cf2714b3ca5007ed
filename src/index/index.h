/*
 * index.h - AkiDB's vector index layer (private API, not installed).
 *
 * What lives here
 *   - Distance kernels (dot, squared L2) with runtime SIMD dispatch: AVX-512F,
 *     AVX2+FMA, NEON (AArch64) and a portable scalar path.  Each SIMD path is
 *     compiled with per-function target attributes, so the binary stays
 *     portable; the path is chosen once at first use from the CPU (or forced
 *     by ak_dist_select() / the environment variable AKIDB_KERNELS, which
 *     picks the embedding kernels' path too; see common/cpu.h).  The int8
 *     kernel of quantised search follows the same path (VNNI where the CPU
 *     has it on the avx512 path; sq8_kernels.c).
 *   - Index kinds: every index type is one member of a method table
 *     (ak_index_kind, the table in kinds.c) used through an ak_index handle,
 *     so the store never names a type.  Members:
 *       "hnsw"  a Hierarchical Navigable Small World graph over float32
 *               vectors of one dimension and metric, with caller-chosen
 *               uint32 labels (the store's dense internal ids), deletion
 *               with real reclamation, filtered search, exact (brute-force)
 *               search over the same vectors, a graph validator, and a
 *               checksummed binary serialisation (hnsw.c, hnsw_alloc.c,
 *               hnsw_io.c, hnsw_kind.c, sq8.c),
 *               optionally with int8 scalar quantisation (SQ8, below);
 *       "flat"  the vectors in one array, exact search only: the reference
 *               that recall is measured against and the index for data too
 *               small for a graph (flat.c).
 *     Adding a kind is one file with its ak_index_kind and one line in
 *     kinds.c (docs/ARCHITECTURE.md, "Adding an index kind").
 *
 * Why a private header: the store (src/store/) is the only user; the public
 * API in include/akidb.h talks about collections and points, not graphs.
 *
 * Scores (what ak_hit.score means; results are always sorted best first,
 * ties broken by smaller label first)
 *   AK_METRIC_COSINE  cosine similarity in [-1, 1], higher is better.  Vectors
 *                     are normalised to unit length when added (and queries
 *                     when searched); internally the dot product is used.  A
 *                     zero vector stays zero (similarity 0 to everything).
 *   AK_METRIC_DOT     inner product, higher is better.  Vectors are stored as
 *                     given.
 *   AK_METRIC_L2      SQUARED Euclidean distance, lower is better (take sqrtf
 *                     yourself for the plain distance).
 *
 * Quantisation (SQ8: ak_index_params.quant = AK_QUANT_SQ8, "hnsw" only;
 * sq8.c, sq8_kernels.c)
 *   The index keeps, next to each float vector, a row of dim one-byte codes:
 *   x[i] ~ lo + step * u[i], u in 0..255, with one (lo, step) for the whole
 *   index.  The bounds are fixed once, when the index first holds
 *   AK_SQ8_TRAIN_N vectors: lo and hi = lo + 255 * step are the
 *   (1 - quantile) / 2 and (1 + quantile) / 2 quantiles of every component
 *   of the vectors present then (normalised for cosine); values outside are
 *   clamped.  After that the bounds never change, so a code, once written,
 *   never changes either (a vector added later gets its code when it is
 *   added).  Before that point there are no codes and every search is a
 *   float search.  A query is coded with its own scale as two rows, s0 =
 *   round(q / b0) with b0 = max|q| / 127, and s1 = round((q - b0 s0) / b1)
 *   with b1 = b0 / 254 (the first row's rounding error, coded), so q' = b0
 *   s0 + b1 s1 is within b0 / 508 of q and  q.x ~ lo * sum(q') + step * (b0
 *   * sum(u * s0) + b1 * sum(u * s1))  with both integer sums from one pass
 *   of the SQ8 kernel over u: what is left is the error of the stored
 *   codes.  For L2  |q - x|^2 ~ |q|^2 + |x|^2 - 2 q.x  with |x|^2 of the
 *   float vector kept per slot.
 *   The graph is built with float distances (so it is the graph a float
 *   index builds from the same adds; building on codes too was measured to
 *   save no build time and to cost recall, docs/PERFORMANCE.md); a search
 *   walks it with the int8
 *   distances (greedy descent and the ef-wide beam), then rescores the
 *   beam's candidates (all ef, or the best ceil(oversampling x k)) with the
 *   float vectors, so the scores it returns are exact float scores, the
 *   same ak_hnsw_search_ex returns for the same label without SQ8.  With
 *   quant_no_rescore the best k by int8 distance come back with their
 *   approximate scores (L2 clamped at 0).  Exact scans (AK_SEARCH_EXACT, an
 *   AUTO filtered search that chose a scan, candidate labels) always use the
 *   float vectors.  The float vectors stay in memory for rescoring: SQ8 adds
 *   dim bytes (codes) plus 4 bytes (|x|^2, L2 only) per slot to the index.
 *
 * Concurrency (one ak_hnsw shared by many threads)
 *   - Any number of ak_hnsw_search / ak_exact_search* / ak_hnsw_count / ...
 *     run in parallel: they take the index's read lock (a pthread rwlock that
 *     prefers writers, so a writer is not starved) and never block each other.
 *   - ak_hnsw_add runs under the READ lock too, so searches and other adds go
 *     on in parallel with it.  Its link updates are guarded by striped
 *     per-node mutexes (one node lock held at a time, so no deadlock); link
 *     words are published with release stores and read with acquire loads, so
 *     a reader sees either the old or the new neighbour id, each valid, and
 *     the vector of any node it reaches.  The write (exclusive) lock is taken
 *     only for short structural changes: growing the arrays (amortised
 *     doubling), and the rare insert whose level exceeds the current top
 *     level (it replaces the entry point).
 *   - ak_hnsw_remove / ak_hnsw_remove_batch take the write lock for the
 *     unlink-and-repair pass (O(nodes x M) scan + local repairs): prefer
 *     ak_hnsw_remove_batch for bulk deletes.
 *   - ak_hnsw_save_* block adds (not searches) while they write.
 *   - SQ8: the add that brings the index to AK_SQ8_TRAIN_N vectors fixes
 *     the bounds and codes every vector present under the write lock, once;
 *     later adds code their own vector before linking it, under the read
 *     lock, so a search sees either no codes or a code for every node.
 *   - ak_hnsw_free must not race with anything.
 *
 * Memory layout (lean): vectors contiguous float32 (slot-major), level-0
 * links in a fixed array of 1 + 2M uint32 per slot (count + ids), upper
 * levels in one small allocation per node that has them, 1 byte of level and
 * 1 byte of state per slot, and label<->slot maps (4 bytes each way per
 * label/slot).  Large vector / link arrays are 2 MiB-aligned and advised
 * for transparent huge pages (madvise; a no-op where THP is off).  Each
 * pooled search scratch holds a visited bitset of cap / 8 bytes.
 *
 * Serialised format (version 1, all integers little-endian)
 *   off  size  field
 *     0     8  magic "AKHNSW\0\1"
 *     8     4  version (1)
 *    12     4  header size in bytes (96)
 *    16     8  total size in bytes, header + body + 8-byte checksum
 *    24     4  dim            28  4  metric (0 cosine, 1 l2, 2 dot)
 *    32     4  M              36  4  ef_construction
 *    40     8  rng state      48  4  n_slots (used slots incl. free ones)
 *    52     4  count (live)   56  4  entry slot (0xFFFFFFFF if empty)
 *    60     4  max level (int32, -1 if empty)
 *    64     4  label_cap (label map size = max label + 1, or 0)
 *    68     4  quantisation flags: bit 0 SQ8, bit 1 SQ8 codes present
 *              (bounds fixed); other bits zero
 *    72     4  SQ8 quantile (f32)   76  4  SQ8 lo (f32)   80  4  SQ8 step
 *              (f32); all three zero without SQ8, lo and step zero until
 *              the codes are present
 *    84    12  reserved, zero
 *   (an index without SQ8 writes zeros at 68..95, so its image is the one
 *   written before quantisation existed, and such images load unchanged)
 *   body
 *     n_slots x u32  label (0xFFFFFFFF for a free slot)
 *     n_slots x u8   level (0 for a free slot)
 *     pad to 4
 *     n_slots x dim x f32   vectors (zeros for a free slot)
 *     n_slots x (1+2M) x u32  level-0 links: count, then ids
 *     for each used slot with level L > 0, for l = 1..L:
 *            (1+M) x u32  links: count, then ids
 *     SQ8 codes present only: n_slots x dim u8  codes (zeros for a free
 *            slot), as written when each vector was coded
 *   (words of a link list past its count are written as zeros, so the same
 *   graph always gives the same image; readers ignore them)
 *   trailer: u64 checksum = ak_index_hash64 of all bytes before it.
 * The loader validates every field (sizes, counts <= max, link targets are
 * used slots of sufficient level, labels unique, entry point at max level,
 * free-slot consistency, finite vectors) and fails cleanly with
 * AKIDB_ECORRUPT (never crashes, never trusts a count before checking it
 * against the remaining bytes).
 */
#ifndef AKIDB_INDEX_H
#define AKIDB_INDEX_H

#include "common/common.h"
#include "common/cpu.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Metrics and distance kernels                                              */
/* ------------------------------------------------------------------------ */

typedef enum ak_metric {
    AK_METRIC_COSINE = 0,
    AK_METRIC_L2 = 1,
    AK_METRIC_DOT = 2
} ak_metric;

/* "cosine" / "l2" / "dot"; NULL for an unknown value. */
const char *ak_metric_name(ak_metric m);
/* Parses "cosine", "l2" (also "euclid"), "dot" (also "ip").  Returns false
 * for anything else. */
bool ak_metric_parse(const char *s, ak_metric *out);

/* Float kernel: a and b hold n floats each (any alignment, n >= 0). */
typedef float (*ak_dist_fn)(const float *a, const float *b, size_t n);

/* Instruction-set paths are the kernels' (akidb_kernel_path; whether this
 * CPU can run one: ak_cpu_path_usable, common/cpu.h).  ak_dist_select forces
 * the path used by ak_dot / ak_l2sq and every index created or loaded
 * afterwards (existing indexes keep the kernels they picked).  AUTO selects
 * what ak_cpu_auto_path says (the environment variable AKIDB_KERNELS, else
 * the best path), which is also the path at first use.  Returns
 * AKIDB_EUNSUPPORTED if the path is not usable here. */
akidb_status ak_dist_select(akidb_kernel_path path);
/* Path in use now (never AUTO). */
akidb_kernel_path ak_dist_path(void);

/* Kernels of one path, for tests and benchmarks: NULL if the path is not
 * supported.  kind: AK_METRIC_L2 gives squared L2, AK_METRIC_DOT and
 * AK_METRIC_COSINE give the dot product. */
ak_dist_fn ak_dist_get(akidb_kernel_path path, ak_metric kind);

/* Bounded squared-L2 kernel: when the squared distance is below bound it
 * returns exactly what the plain L2 kernel of the same path returns;
 * otherwise it may stop early and return a partial sum that is >= bound
 * (and <= the full distance).  So `k(a, b, n, bound) < bound` decides
 * "closer than bound" exactly as the plain kernel would, at a fraction of
 * the memory traffic for far vectors.  bound = INFINITY never stops. */
typedef float (*ak_dist_bounded_fn)(const float *a, const float *b, size_t n, float bound);

/* Bounded L2 kernel of one path; NULL if the path is not supported. */
ak_dist_bounded_fn ak_l2_bounded_get(akidb_kernel_path path);

/* Two bounded squared-L2 distances from a to b0 and to b1 with one bound,
 * into out[0] and out[1]; each equals what the path's ak_dist_bounded_fn
 * returns for that pair (the loads of both are interleaved, which hides
 * memory latency). */
typedef void (*ak_dist_bounded2_fn)(const float *a, const float *b0, const float *b1,
                                    size_t n, float bound, float out[2]);

/* Pair kernel of one path; NULL if the path is not supported. */
ak_dist_bounded2_fn ak_l2_bounded2_get(akidb_kernel_path path);

/* Bounded squared-L2 distances from a to each of b[0..m) (1 <= m <= 8)
 * with one bound, into out[0..m); each equals what the path's
 * ak_dist_bounded_fn returns for that pair.  The vectors are read as
 * interleaved streams (eight at once on AVX-512, four on AVX2, pairs on
 * NEON and scalar), which keeps more memory reads in flight. */
typedef void (*ak_dist_boundedm_fn)(const float *a, const float *const *b, size_t m, size_t n,
                                    float bound, float *out);

/* Group kernel of one path; NULL if the path is not supported. */
ak_dist_boundedm_fn ak_l2_bounded_multi_get(akidb_kernel_path path);

/* Two dot products of a with b0 and b1 into out[0], out[1], each equal to
 * the path's dot kernel result (loads interleaved, as above). */
typedef void (*ak_dist2_fn)(const float *a, const float *b0, const float *b1, size_t n,
                            float out[2]);

/* Pair dot kernel of one path; NULL if the path is not supported. */
ak_dist2_fn ak_dot2_get(akidb_kernel_path path);

/* Dot products of a with each of b[0..m) (1 <= m <= 8) into out[0..m),
 * each equal to the path's dot kernel result (streams interleaved, as
 * ak_dist_boundedm_fn). */
typedef void (*ak_distm_fn)(const float *a, const float *const *b, size_t m, size_t n,
                            float *out);

/* Group dot kernel of one path; NULL if the path is not supported. */
ak_distm_fn ak_dot_multi_get(akidb_kernel_path path);

/* Integer kernel of int8 scalar quantisation (SQ8, "Quantisation" below):
 * over a stored code row u (0..255) and two query code rows s0, s1
 * (-128..127), out[0] = sum of u[i] * s0[i] and out[1] = sum of u[i] *
 * s1[i], u read once.  Exact in int32 for n <= AK_HNSW_MAX_DIM, so every
 * variant returns the same values (sq8_kernels.c). */
typedef void (*ak_sq8_dot_fn)(const uint8_t *u, const int8_t *s0, const int8_t *s1, size_t n,
                              int32_t out[2]);

/* Group form: rows u[0..m) (1 <= m <= 8) against the same query rows,
 * out[2j] and out[2j+1] the sums of row j, each equal to the single
 * kernel's; the VNNI variant reads the rows as interleaved streams (more
 * memory reads in flight, the query rows loaded once), the others one row
 * after the other. */
typedef void (*ak_sq8_dotm_fn)(const uint8_t *const *u, size_t m, const int8_t *s0,
                               const int8_t *s1, size_t n, int32_t *out);

/* The variants of the SQ8 kernel. */
typedef enum ak_sq8_isa {
    AK_SQ8_PORTABLE = 0,
    AK_SQ8_AVX2,          /* widen to 16 bits, vpmaddwd                     */
    AK_SQ8_AVX512BW,      /* the same on 512-bit registers                  */
    AK_SQ8_AVX512VNNI,    /* vpdpbusd: u8 x s8, four products per lane      */
    AK_SQ8_NEON,          /* widen, multiply-accumulate long                */
    AK_SQ8_NISA
} ak_sq8_isa;

/* "portable", "avx2", "avx512bw", "avx512vnni", "neon"; NULL otherwise. */
const char *ak_sq8_isa_name(ak_sq8_isa isa);
/* The kernels of one variant; NULL if this build or CPU cannot run it. */
ak_sq8_dot_fn ak_sq8_dot_get(ak_sq8_isa isa);
ak_sq8_dotm_fn ak_sq8_dotm_get(ak_sq8_isa isa);
/* The variant an index uses under kernel path `path` (AUTO: the path in
 * force): avx512 -> VNNI where the CPU has it, else AVX-512BW, else AVX2;
 * avx2 -> AVX2; neon -> NEON; scalar -> portable. */
ak_sq8_isa ak_sq8_isa_for(akidb_kernel_path path);

/* Kernels of the active path. */
float ak_dot(const float *a, const float *b, size_t n);
float ak_l2sq(const float *a, const float *b, size_t n);

/* Scales v (n floats) to unit length in place; a zero (or non-finite norm)
 * vector is left unchanged and false is returned. */
bool ak_vec_normalize(float *v, size_t n);

/* 64-bit checksum used by the serialised format (documented in index.c). */
uint64_t ak_index_hash64(const void *data, size_t len, uint64_t seed);

/* ------------------------------------------------------------------------ */
/* Results and filters                                                       */
/* ------------------------------------------------------------------------ */

typedef struct ak_hit {
    uint32_t label;
    float score;      /* see "Scores" above */
} ak_hit;

/* Filter callback: return true to accept label as a result.  Called from the
 * searching thread, possibly many times per search, with the index's read
 * lock held: it must not call back into a writing function of the same
 * index.  NULL filter = accept everything. */
typedef bool (*ak_filter_fn)(uint32_t label, void *ctx);

/* Largest label accepted by ak_hnsw_add (and by every index kind). */
#define AK_HNSW_MAX_LABEL 0xFFFFFFFEu
#define AK_INDEX_MAX_LABEL AK_HNSW_MAX_LABEL
/* Hard limits checked by create/load. */
#define AK_HNSW_MAX_DIM 65536u
#define AK_HNSW_MAX_M 128u
#define AK_HNSW_MAX_LEVEL 31

/* Quantisation of an index's vectors (ak_index_params.quant). */
typedef enum ak_quant {
    AK_QUANT_NONE = 0,
    AK_QUANT_SQ8 = 1      /* int8 scalar quantisation ("Quantisation" above) */
} ak_quant;

/* SQ8: the default quantile (1: the codes span the smallest to the largest
 * value, as Qdrant's when no quantile is set), and how many vectors the
 * index holds when it fixes its bounds (the codes exist from then on). */
#define AK_SQ8_QUANTILE_DEFAULT 1.0f
#define AK_SQ8_TRAIN_N 1024u

/* Parameters of an index; a kind ignores the fields it has no use for
 * ("flat" reads dim, metric and capacity only). */
typedef struct ak_index_params {
    uint32_t dim;              /* 1 .. AK_HNSW_MAX_DIM                     */
    ak_metric metric;
    uint32_t M;                /* links per node on upper levels, 2..128;
                                  level 0 keeps 2*M.  0 = default 16        */
    uint32_t ef_construction;  /* candidate list while inserting; 0 = 200  */
    uint64_t seed;             /* level generator seed                     */
    size_t capacity;           /* slots to preallocate (hint; grows)       */
    ak_quant quant;            /* hnsw: AK_QUANT_SQ8 searches int8 codes    */
    float quantile;            /* SQ8: share of the values inside the code
                                  range, 0.5..1; 0 = 0.99                  */
} ak_index_params;

/* ------------------------------------------------------------------------ */
/* HNSW index                                                                */
/* ------------------------------------------------------------------------ */

typedef struct ak_hnsw ak_hnsw;

typedef ak_index_params ak_hnsw_params;

/* Creates an empty index.  AKIDB_EINVAL for dim/M/metric out of range,
 * AKIDB_ENOMEM on allocation failure.  *out is set only on success. */
akidb_status ak_hnsw_create(const ak_hnsw_params *p, ak_hnsw **out);

/* Frees the index and everything it owns.  NULL is a no-op. */
void ak_hnsw_free(ak_hnsw *h);

/* Parameters the index was created (or loaded) with. */
ak_hnsw_params ak_hnsw_get_params(const ak_hnsw *h);

/* Inserts vec (dim floats, copied; normalised for cosine) under label.
 * Reuses a slot freed by an earlier remove if there is one.
 * AKIDB_EEXIST if label is present, AKIDB_EINVAL if label >
 * AK_HNSW_MAX_LABEL or vec has a NaN/Inf, AKIDB_ENOMEM (index unchanged). */
akidb_status ak_hnsw_add(ak_hnsw *h, uint32_t label, const float *vec);

/* Removes label: it is never returned again, every link to it is removed
 * and the neighbours that lost it are repaired (re-linked to candidates
 * drawn from the removed node's neighbourhood, heuristic selection), and its
 * slot goes on the free list for later adds.  AKIDB_ENOENT if absent,
 * AKIDB_EBUSY if the label's add is still in progress on another thread. */
akidb_status ak_hnsw_remove(ak_hnsw *h, uint32_t label);

/* Removes many labels with one repair pass (much cheaper than n removes).
 * Labels that are absent are skipped; *n_removed (may be NULL) receives how
 * many were removed.  Fails only with AKIDB_ENOMEM, leaving the index valid
 * (some labels may have been removed). */
akidb_status ak_hnsw_remove_batch(ak_hnsw *h, const uint32_t *labels, size_t n,
                                  size_t *n_removed);

/* True if label is present (fully added and not removed). */
bool ak_hnsw_contains(const ak_hnsw *h, uint32_t label);

/* Copies the stored vector of label (normalised for cosine) into out (dim
 * floats).  AKIDB_ENOENT if absent. */
akidb_status ak_hnsw_get_vector(const ak_hnsw *h, uint32_t label, float *out);

/* Number of live labels. */
size_t ak_hnsw_count(const ak_hnsw *h);

/* Bytes held by the index (vectors, links, maps, locks, scratch pools). */
size_t ak_hnsw_memory(const ak_hnsw *h);
/* Bytes of the raw payload only: live vectors (count x dim x 4, plus dim
 * code bytes each with SQ8) plus the links actually stored (count words +
 * ids of all levels), for the "memory <= 1.2 x raw" comparison. */
size_t ak_hnsw_raw_bytes(const ak_hnsw *h);
/* The part of ak_hnsw_memory that SQ8 adds (code rows, and |x|^2 per slot
 * for L2); 0 without SQ8.  The float vectors are counted in both. */
size_t ak_hnsw_quant_memory(const ak_hnsw *h);

/* Search options.  Zero-initialise, then set what you need. */
typedef struct ak_search_opts {
    size_t ef;             /* candidate list size; 0 = max(k, 64); raised
                              to k when smaller                            */
    ak_filter_fn accept;   /* NULL = no filter                             */
    void *ctx;             /* passed to accept                             */
    double selectivity;    /* share of labels the filter accepts, if the
                              caller knows it (0 < s <= 1); 0 = unknown:
                              the index estimates it by probing a sample   */
    int strategy;          /* AK_SEARCH_AUTO / _GRAPH / _EXACT             */
    const uint32_t *labels;/* non-NULL: exact search among these candidate
                              labels only (absent ones skipped, duplicates
                              counted once); ef, accept and strategy are
                              then ignored                                 */
    size_t n_labels;
    size_t max_visits;     /* > 0: the work budget: the search stops once it
                              has examined this many points (each vector
                              compared with the query, on any layer, and
                              each point an exact scan passes, filtered
                              out or not) and returns AKIDB_ERANGE; the
                              caller then picks a cheaper plan            */
    size_t *visits;        /* non-NULL: receives the points examined, also
                              when the budget stopped the search          */
    /* An SQ8 index with its codes ("Quantisation" above); other indexes
     * ignore these: */
    bool quant_ignore;     /* walk the graph with float distances          */
    bool quant_no_rescore; /* return the best k by int8 distance with their
                              approximate scores (no float rescoring)     */
    double oversampling;   /* >= 1: rescore the best ceil(oversampling x k)
                              of the walk's candidates (ef raised to that
                              number); 0: rescore all ef of them           */
} ak_search_opts;

enum {
    AK_SEARCH_AUTO = 0,   /* exact scan when few labels match, else graph */
    AK_SEARCH_GRAPH = 1,  /* always graph traversal                       */
    AK_SEARCH_EXACT = 2   /* always brute force over all live vectors     */
};

/* k nearest neighbours of query (dim floats) into out (room for k hits),
 * best first; *n_out receives the number found (< k when fewer labels are
 * present / accepted).  With a filter, graph traversal walks through
 * rejected nodes but collects only accepted ones, and widens ef as the
 * selectivity drops; AUTO switches to an exact filtered scan when the
 * expected number of matches is small (recall then is exactly 1).
 * AKIDB_EINVAL for a NaN/Inf query, AKIDB_ENOMEM on allocation failure.
 * k == 0 gives *n_out = 0.  opts may be NULL (defaults). */
akidb_status ak_hnsw_search_ex(const ak_hnsw *h, const float *query, size_t k,
                               const ak_search_opts *opts, ak_hit *out,
                               size_t *n_out);

/* (With opts->labels set this is ak_exact_search_labels.) */

/* Shorthand: graph/auto search with ef and an optional filter. */
akidb_status ak_hnsw_search(const ak_hnsw *h, const float *query, size_t k,
                            size_t ef, ak_filter_fn accept, void *ctx,
                            ak_hit *out, size_t *n_out);

/* Exact (brute-force) k nearest over all live vectors passing the filter
 * (NULL = all); same scores, order and errors as ak_hnsw_search. */
akidb_status ak_exact_search(const ak_hnsw *h, const float *query, size_t k,
                             ak_filter_fn accept, void *ctx, ak_hit *out,
                             size_t *n_out);

/* Exact k nearest among the given candidate labels (for a small matching
 * set the store computed from a payload index).  Absent labels are
 * skipped; duplicates are counted once. */
akidb_status ak_exact_search_labels(const ak_hnsw *h, const float *query,
                                    size_t k, const uint32_t *labels,
                                    size_t n_labels, ak_hit *out,
                                    size_t *n_out);

/* Exact search over a plain array of n vectors (row-major, dim floats
 * each; labels are row numbers), metric semantics as above, vectors used as
 * given (the caller normalises for cosine).  Used for ground truth; the
 * "flat" kind's scan (flat.c). */
akidb_status ak_exact_search_array(const float *vectors, size_t n, size_t dim,
                                   ak_metric metric, const float *query,
                                   size_t k, ak_hit *out, size_t *n_out);

/* Self-check of the graph (takes the read lock): every link points to a
 * used, non-free slot whose level is >= the link's level, no self links,
 * counts within limits, no link to a removed/free slot (so removed labels
 * are unreachable), the entry point is a live node at the top level (or the
 * index is empty), label maps consistent, count matches, and every live
 * node is reachable from the entry point at level 0 (reported, not failed,
 * unless strict).  Returns AKIDB_OK or AKIDB_ECORRUPT with a message naming
 * the first problem. */
akidb_status ak_hnsw_validate(const ak_hnsw *h, bool strict);

/* ---- serialisation (format in the header comment above) ---------------- */

/* Exact number of bytes ak_hnsw_save_* will write. */
size_t ak_hnsw_serialized_size(const ak_hnsw *h);

/* Writes the index into a new buffer (free with ak_free). */
akidb_status ak_hnsw_save_buf(const ak_hnsw *h, void **buf, size_t *len);

/* Writes the index to fd at its current offset (ak_io_write_all: short
 * writes and EINTR retried).  AKIDB_ENOSPC when the disk is full, AKIDB_EIO
 * for other write errors. */
akidb_status ak_hnsw_save_fd(const ak_hnsw *h, int fd);

/* Loads an index from len bytes (need not be aligned).  Trailing bytes
 * after the serialised size are ignored; the size read is returned in
 * *used if used != NULL.  AKIDB_ECORRUPT (with a message naming the field)
 * for anything malformed, AKIDB_ENOMEM on allocation failure. */
akidb_status ak_hnsw_load_buf(const void *buf, size_t len, ak_hnsw **out,
                              size_t *used);

/* Reads exactly one serialised index from fd at its current offset (the
 * header gives the total size), leaving the offset just after it. */
akidb_status ak_hnsw_load_fd(int fd, ak_hnsw **out);

/* ------------------------------------------------------------------------ */
/* Index kinds: one method table per index type                              */
/* ------------------------------------------------------------------------ */

/* The methods of one index type.  impl is the kind's own object.  Each
 * method has the contract of the ak_hnsw_* function of the same name above
 * (scores, order, errors, concurrency); search takes ak_search_opts, and a
 * kind without a graph answers every search exactly (ef and strategy do not
 * apply to it).  A serialised image starts with the kind's 8-byte magic,
 * which is how a loader tells the kinds apart (so images written before
 * there were kinds load unchanged). */
typedef struct ak_index_kind {
    const char *name;                       /* "hnsw", "flat"               */
    unsigned char magic[8];                 /* first bytes of its image     */
    akidb_status (*create)(const ak_index_params *p, void **out);
    void (*free)(void *impl);
    ak_index_params (*params)(const void *impl);
    akidb_status (*add)(void *impl, uint32_t label, const float *vec);
    akidb_status (*remove_batch)(void *impl, const uint32_t *labels, size_t n,
                                 size_t *n_removed);
    bool (*contains)(const void *impl, uint32_t label);
    akidb_status (*get_vector)(const void *impl, uint32_t label, float *out);
    size_t (*count)(const void *impl);
    size_t (*memory)(const void *impl);
    akidb_status (*search)(const void *impl, const float *query, size_t k,
                           const ak_search_opts *opts, ak_hit *out, size_t *n_out);
    size_t (*serialized_size)(const void *impl);
    akidb_status (*save_fd)(const void *impl, int fd);
    akidb_status (*load_buf)(const void *buf, size_t len, void **out, size_t *used);
    akidb_status (*validate)(const void *impl, bool strict);
} ak_index_kind;

/* An index of some kind.  Zero-initialised = none (ak_index_free accepts
 * it). */
typedef struct ak_index {
    const ak_index_kind *kind;
    void *impl;
} ak_index;

/* The members (kinds.c): NULL-terminated, first = default. */
extern const ak_index_kind ak_index_hnsw, ak_index_flat;
extern const ak_index_kind *const ak_index_kinds[];

/* The kind called name; NULL if there is none. */
const ak_index_kind *ak_index_kind_find(const char *name);
/* The kind whose magic starts buf (len bytes); NULL if none does. */
const ak_index_kind *ak_index_kind_of_image(const void *buf, size_t len);

/* Creates an empty index of kind k (NULL = the default, "hnsw"). */
akidb_status ak_index_create(const ak_index_kind *k, const ak_index_params *p, ak_index *out);
/* Loads an image of any kind (chosen by its magic); AKIDB_ECORRUPT naming
 * the magic when no kind has it. */
akidb_status ak_index_load_buf(const void *buf, size_t len, ak_index *out, size_t *used);
/* Frees the index and zeroes the handle. */
void ak_index_free(ak_index *ix);

/* Calls through the kind's table (one indirect call per operation, never
 * per distance). */
static inline ak_index_params ak_index_get_params(const ak_index *ix)
{
    return ix->kind->params(ix->impl);
}
static inline akidb_status ak_index_add(ak_index *ix, uint32_t label, const float *vec)
{
    return ix->kind->add(ix->impl, label, vec);
}
static inline akidb_status ak_index_remove_batch(ak_index *ix, const uint32_t *labels, size_t n,
                                                 size_t *n_removed)
{
    return ix->kind->remove_batch(ix->impl, labels, n, n_removed);
}
static inline bool ak_index_contains(const ak_index *ix, uint32_t label)
{
    return ix->kind->contains(ix->impl, label);
}
static inline akidb_status ak_index_get_vector(const ak_index *ix, uint32_t label, float *out)
{
    return ix->kind->get_vector(ix->impl, label, out);
}
static inline size_t ak_index_count(const ak_index *ix)
{
    return ix->kind->count(ix->impl);
}
static inline size_t ak_index_memory(const ak_index *ix)
{
    return ix->kind->memory(ix->impl);
}
static inline akidb_status ak_index_search(const ak_index *ix, const float *query, size_t k,
                                           const ak_search_opts *opts, ak_hit *out,
                                           size_t *n_out)
{
    return ix->kind->search(ix->impl, query, k, opts, out, n_out);
}
static inline size_t ak_index_serialized_size(const ak_index *ix)
{
    return ix->kind->serialized_size(ix->impl);
}
static inline akidb_status ak_index_save_fd(const ak_index *ix, int fd)
{
    return ix->kind->save_fd(ix->impl, fd);
}
static inline akidb_status ak_index_validate(const ak_index *ix, bool strict)
{
    return ix->kind->validate(ix->impl, strict);
}

/* ---- the "flat" kind (flat.c) ------------------------------------------- */

/* Serialised format of a flat index (version 1, little-endian):
 *     0  8  magic "AKFLAT\0\1"       8  4  version (1)
 *    12  4  header size (48)         16  8  total size incl. checksum
 *    24  4  dim                      28  4  metric (0 cosine, 1 l2, 2 dot)
 *    32  4  count                    36 12  reserved, zero
 *   body: count x u32 label, then count x dim x f32 vectors (row order)
 *   trailer: u64 checksum: ak_index_hash64 of the header (seed 0), then of
 *   the labels and of the vectors, each seeded with the hash before it (a
 *   part of 0 bytes is skipped).
 * The loader checks every field, labels unique and <= AK_INDEX_MAX_LABEL,
 * vectors finite; AKIDB_ECORRUPT naming the field otherwise. */

#ifdef __cplusplus
}
#endif

#endif /* AKIDB_INDEX_H */
