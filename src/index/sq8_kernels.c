/*
 * sq8_kernels.c - the integer kernel of int8 scalar quantisation (SQ8,
 * sq8.c): over one stored code row u (unsigned bytes, 0..255) it sums
 * u[i] * s0[i] and u[i] * s1[i] for two query code rows (signed bytes,
 * -128..127; sq8.c codes a query as a coarse row and a row for the coarse
 * one's rounding error), reading u once.  One variant per instruction set:
 * AVX-512 VNNI (vpdpbusd multiplies unsigned by signed bytes and adds four
 * products into each 32-bit lane, which is exactly this sum), AVX-512BW and
 * AVX2 (bytes widened to 16 bits, pairs multiplied and added into 32 bits
 * by vpmaddwd), NEON (bytes widened, multiply-accumulate long into 32 bits)
 * and portable C.
 *
 * Why unsigned times signed: that is the operand form of VNNI, the fastest
 * of them, and the others compute the same sums.  Every product is at most
 * 255 x 128 = 32640 in magnitude, so for n <= AK_HNSW_MAX_DIM (65536) each
 * sum and every partial sum fit in int32 with room to spare: integer
 * arithmetic has no rounding, so every variant returns exactly the portable
 * one's values, whatever order it adds in (tests/test_sq8.c checks each
 * variant the CPU has against the portable one).  Why two query rows in one
 * pass: a search is bound by the bytes it reads, and the second sum costs
 * arithmetic on a row already in registers, not another read.
 *
 * The variant in use follows the path common/cpu.h picks for the whole
 * program (ak_sq8_isa_for): avx512 runs VNNI when the CPU has it, else
 * AVX-512BW, else AVX2; avx2 runs AVX2; neon runs NEON; scalar runs the
 * portable loop.  The x86 variants are compiled with per-function target
 * attributes, as distance.c's are, so the library needs no -m flags.
 */
#include "index/index.h"

#if defined(__x86_64__) || defined(__i386__)
#define AK_SQ8_X86 1
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* ---- portable ------------------------------------------------------------ */

static void sq8_dot_portable(const uint8_t *u, const int8_t *s0, const int8_t *s1, size_t n,
                             int32_t out[2])
{
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        a0 += (int32_t)u[i] * s0[i];
        a1 += (int32_t)u[i + 1] * s0[i + 1];
        b0 += (int32_t)u[i] * s1[i];
        b1 += (int32_t)u[i + 1] * s1[i + 1];
    }
    for (; i < n; i++) {
        a0 += (int32_t)u[i] * s0[i];
        b0 += (int32_t)u[i] * s1[i];
    }
    out[0] = a0 + a1;
    out[1] = b0 + b1;
}

#ifdef AK_SQ8_X86
/* ---- AVX2 ---------------------------------------------------------------- */

#define AK_SQ8_AVX2_T __attribute__((target("avx2")))

AK_SQ8_AVX2_T static inline int32_t hsum_epi32_256(__m256i v)
{
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1));
    return _mm_cvtsi128_si32(x);
}

/* 16 bytes of the row at i, widened to 16 bits once, multiplied in pairs
 * with each query row's 16 bytes and added into 8 int32 lanes each. */
AK_SQ8_AVX2_T static inline void madd16_256(const uint8_t *u, const int8_t *s0, const int8_t *s1,
                                            size_t i, __m256i *a, __m256i *b)
{
    __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(u + i)));
    __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(s0 + i)));
    __m256i x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(s1 + i)));
    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(w, x0));
    *b = _mm256_add_epi32(*b, _mm256_madd_epi16(w, x1));
}

AK_SQ8_AVX2_T static void sq8_dot_avx2(const uint8_t *u, const int8_t *s0, const int8_t *s1,
                                       size_t n, int32_t out[2])
{
    __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
    __m256i b0 = _mm256_setzero_si256(), b1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        madd16_256(u, s0, s1, i, &a0, &b0);
        madd16_256(u, s0, s1, i + 16, &a1, &b1);
    }
    if (i + 16 <= n) {
        madd16_256(u, s0, s1, i, &a0, &b0);
        i += 16;
    }
    int32_t r0 = hsum_epi32_256(_mm256_add_epi32(a0, a1));
    int32_t r1 = hsum_epi32_256(_mm256_add_epi32(b0, b1));
    for (; i < n; i++) {
        r0 += (int32_t)u[i] * s0[i];
        r1 += (int32_t)u[i] * s1[i];
    }
    out[0] = r0;
    out[1] = r1;
}

/* ---- AVX-512BW ----------------------------------------------------------- */

#define AK_SQ8_BW_T __attribute__((target("avx512f,avx512bw")))

/* The 32 bytes at p, or its first r < 32 (the rest zero) when r is given:
 * a masked 512-bit load, as the 256-bit form would need AVX-512VL. */
AK_SQ8_BW_T static inline __m256i load32(const void *p, size_t r)
{
    if (r >= 32)
        return _mm256_loadu_si256((const __m256i *)p);
    return _mm512_castsi512_si256(_mm512_maskz_loadu_epi8(((__mmask64)1 << r) - 1u, p));
}

/* 32 bytes (r of them) of the row at i, widened once, multiplied in pairs
 * with each query row's and added into 16 int32 lanes each. */
AK_SQ8_BW_T static inline void madd16_512(const uint8_t *u, const int8_t *s0, const int8_t *s1,
                                          size_t i, size_t r, __m512i *a, __m512i *b)
{
    __m512i w = _mm512_cvtepu8_epi16(load32(u + i, r));
    *a = _mm512_add_epi32(*a, _mm512_madd_epi16(w, _mm512_cvtepi8_epi16(load32(s0 + i, r))));
    *b = _mm512_add_epi32(*b, _mm512_madd_epi16(w, _mm512_cvtepi8_epi16(load32(s1 + i, r))));
}

AK_SQ8_BW_T static void sq8_dot_avx512bw(const uint8_t *u, const int8_t *s0, const int8_t *s1,
                                         size_t n, int32_t out[2])
{
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    __m512i b0 = _mm512_setzero_si512(), b1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        madd16_512(u, s0, s1, i, 32, &a0, &b0);
        madd16_512(u, s0, s1, i + 32, 32, &a1, &b1);
    }
    for (; i < n; i += 32)
        madd16_512(u, s0, s1, i, n - i, &a0, &b0);
    out[0] = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
    out[1] = _mm512_reduce_add_epi32(_mm512_add_epi32(b0, b1));
}

/* ---- AVX-512 VNNI -------------------------------------------------------- */

#define AK_SQ8_VNNI_T __attribute__((target("avx512f,avx512bw,avx512vnni")))

AK_SQ8_VNNI_T static void sq8_dot_avx512vnni(const uint8_t *u, const int8_t *s0,
                                             const int8_t *s1, size_t n, int32_t out[2])
{
    __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
    __m512i b0 = _mm512_setzero_si512(), b1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m512i w0 = _mm512_loadu_si512(u + i), w1 = _mm512_loadu_si512(u + i + 64);
        a0 = _mm512_dpbusd_epi32(a0, w0, _mm512_loadu_si512(s0 + i));
        b0 = _mm512_dpbusd_epi32(b0, w0, _mm512_loadu_si512(s1 + i));
        a1 = _mm512_dpbusd_epi32(a1, w1, _mm512_loadu_si512(s0 + i + 64));
        b1 = _mm512_dpbusd_epi32(b1, w1, _mm512_loadu_si512(s1 + i + 64));
    }
    for (; i < n; i += 64) {
        size_t r = n - i;
        __mmask64 k = r >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << r) - 1u);
        __m512i w = _mm512_maskz_loadu_epi8(k, u + i);
        a0 = _mm512_dpbusd_epi32(a0, w, _mm512_maskz_loadu_epi8(k, s0 + i));
        b0 = _mm512_dpbusd_epi32(b0, w, _mm512_maskz_loadu_epi8(k, s1 + i));
    }
    out[0] = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
    out[1] = _mm512_reduce_add_epi32(_mm512_add_epi32(b0, b1));
}

/* Up to L <= 8 rows against the same two query rows, read as interleaved
 * streams (each row's sums are exactly the single kernel's: integers);
 * rows past m repeat row 0 and are not stored.  Sixteen accumulators and
 * the two query registers fit in the 32 vector registers. */
AK_SQ8_VNNI_T static inline __attribute__((always_inline)) void
vnni_rows(const uint8_t *const *u, size_t m, const int8_t *s0, const int8_t *s1, size_t n,
          int32_t *out, const int L)
{
    const uint8_t *r[8];
    __m512i a[8], b[8];
    for (int j = 0; j < L; j++) {
        r[j] = (size_t)j < m ? u[j] : u[0];
        a[j] = _mm512_setzero_si512();
        b[j] = _mm512_setzero_si512();
    }
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i q0 = _mm512_loadu_si512(s0 + i), q1 = _mm512_loadu_si512(s1 + i);
        for (int j = 0; j < L; j++) {
            __m512i w = _mm512_loadu_si512(r[j] + i);
            a[j] = _mm512_dpbusd_epi32(a[j], w, q0);
            b[j] = _mm512_dpbusd_epi32(b[j], w, q1);
        }
    }
    if (i < n) {
        __mmask64 k = ((__mmask64)1 << (n - i)) - 1u;
        __m512i q0 = _mm512_maskz_loadu_epi8(k, s0 + i), q1 = _mm512_maskz_loadu_epi8(k, s1 + i);
        for (int j = 0; j < L; j++) {
            __m512i w = _mm512_maskz_loadu_epi8(k, r[j] + i);
            a[j] = _mm512_dpbusd_epi32(a[j], w, q0);
            b[j] = _mm512_dpbusd_epi32(b[j], w, q1);
        }
    }
    for (int j = 0; j < L && (size_t)j < m; j++) {
        out[2 * j] = _mm512_reduce_add_epi32(a[j]);
        out[2 * j + 1] = _mm512_reduce_add_epi32(b[j]);
    }
}

AK_SQ8_VNNI_T static void sq8_dotm_avx512vnni(const uint8_t *const *u, size_t m,
                                              const int8_t *s0, const int8_t *s1, size_t n,
                                              int32_t *out)
{
    if (m <= 2)
        vnni_rows(u, m, s0, s1, n, out, 2);
    else if (m <= 4)
        vnni_rows(u, m, s0, s1, n, out, 4);
    else
        vnni_rows(u, m, s0, s1, n, out, 8);
}
#endif /* AK_SQ8_X86 */

/* ---- NEON ---------------------------------------------------------------- */
#ifdef __aarch64__
/* 8 bytes of the row at i widened to 16 bits once (u fits in int16, so it
 * is read as signed), multiplied with each query row's and added long into
 * four int32 lanes each. */
static inline void mla8_neon(const uint8_t *u, const int8_t *s0, const int8_t *s1, size_t i,
                             int32x4_t *a, int32x4_t *b)
{
    int16x8_t w = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(u + i)));
    int16x8_t x0 = vmovl_s8(vld1_s8(s0 + i)), x1 = vmovl_s8(vld1_s8(s1 + i));
    *a = vmlal_s16(*a, vget_low_s16(w), vget_low_s16(x0));
    *a = vmlal_s16(*a, vget_high_s16(w), vget_high_s16(x0));
    *b = vmlal_s16(*b, vget_low_s16(w), vget_low_s16(x1));
    *b = vmlal_s16(*b, vget_high_s16(w), vget_high_s16(x1));
}

static void sq8_dot_neon(const uint8_t *u, const int8_t *s0, const int8_t *s1, size_t n,
                         int32_t out[2])
{
    int32x4_t a0 = vdupq_n_s32(0), a1 = vdupq_n_s32(0);
    int32x4_t b0 = vdupq_n_s32(0), b1 = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        mla8_neon(u, s0, s1, i, &a0, &b0);
        mla8_neon(u, s0, s1, i + 8, &a1, &b1);
    }
    if (i + 8 <= n) {
        mla8_neon(u, s0, s1, i, &a0, &b0);
        i += 8;
    }
    int32_t r0 = vaddvq_s32(vaddq_s32(a0, a1)), r1 = vaddvq_s32(vaddq_s32(b0, b1));
    for (; i < n; i++) {
        r0 += (int32_t)u[i] * s0[i];
        r1 += (int32_t)u[i] * s1[i];
    }
    out[0] = r0;
    out[1] = r1;
}
#endif

/* ---- dispatch ------------------------------------------------------------ */

/* Group form of a variant without its own: one row after the other. */
#define AK_SQ8_ROWS(name, single)                                                      \
    static void name(const uint8_t *const *u, size_t m, const int8_t *s0,              \
                     const int8_t *s1, size_t n, int32_t *out)                         \
    {                                                                                  \
        for (size_t j = 0; j < m; j++)                                                 \
            single(u[j], s0, s1, n, out + 2 * j);                                      \
    }
AK_SQ8_ROWS(sq8_dotm_portable, sq8_dot_portable)
#ifdef AK_SQ8_X86
AK_SQ8_ROWS(sq8_dotm_avx2, sq8_dot_avx2)
AK_SQ8_ROWS(sq8_dotm_avx512bw, sq8_dot_avx512bw)
#endif
#ifdef __aarch64__
AK_SQ8_ROWS(sq8_dotm_neon, sq8_dot_neon)
#endif

ak_sq8_dotm_fn ak_sq8_dotm_get(ak_sq8_isa isa)
{
    if (!ak_sq8_dot_get(isa))
        return NULL;
    switch (isa) {
    case AK_SQ8_PORTABLE: return sq8_dotm_portable;
#ifdef AK_SQ8_X86
    case AK_SQ8_AVX2: return sq8_dotm_avx2;
    case AK_SQ8_AVX512BW: return sq8_dotm_avx512bw;
    case AK_SQ8_AVX512VNNI: return sq8_dotm_avx512vnni;
#endif
#ifdef __aarch64__
    case AK_SQ8_NEON: return sq8_dotm_neon;
#endif
    default: return NULL;
    }
}

const char *ak_sq8_isa_name(ak_sq8_isa isa)
{
    switch (isa) {
    case AK_SQ8_PORTABLE: return "portable";
    case AK_SQ8_AVX2: return "avx2";
    case AK_SQ8_AVX512BW: return "avx512bw";
    case AK_SQ8_AVX512VNNI: return "avx512vnni";
    case AK_SQ8_NEON: return "neon";
    default: return NULL;
    }
}

ak_sq8_dot_fn ak_sq8_dot_get(ak_sq8_isa isa)
{
    const ak_cpu *c = ak_cpu_get();
    switch (isa) {
    case AK_SQ8_PORTABLE: return sq8_dot_portable;
#ifdef AK_SQ8_X86
    case AK_SQ8_AVX2: return c->avx2 ? sq8_dot_avx2 : NULL;
    case AK_SQ8_AVX512BW: return c->avx512bw ? sq8_dot_avx512bw : NULL;
    case AK_SQ8_AVX512VNNI:
        return c->avx512bw && c->avx512_vnni ? sq8_dot_avx512vnni : NULL;
#endif
#ifdef __aarch64__
    case AK_SQ8_NEON: return c->neon ? sq8_dot_neon : NULL;
#endif
    default: (void)c; return NULL;
    }
}

ak_sq8_isa ak_sq8_isa_for(akidb_kernel_path path)
{
    if (path == AKIDB_KERNELS_AUTO)
        path = ak_cpu_auto_path(NULL);
    const ak_sq8_isa order[] = { AK_SQ8_AVX512VNNI, AK_SQ8_AVX512BW, AK_SQ8_AVX2 };
    switch (path) {
    case AKIDB_KERNELS_AVX512:
        for (size_t i = 0; i < 3; i++)
            if (ak_sq8_dot_get(order[i]))
                return order[i];
        break;
    case AKIDB_KERNELS_AVX2:
        if (ak_sq8_dot_get(AK_SQ8_AVX2))
            return AK_SQ8_AVX2;
        break;
    case AKIDB_KERNELS_NEON:
        if (ak_sq8_dot_get(AK_SQ8_NEON))
            return AK_SQ8_NEON;
        break;
    default:
        break;
    }
    return AK_SQ8_PORTABLE;
}
