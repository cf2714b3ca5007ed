/*
 * distance.c - dot product and squared L2 kernels for the vector index, with
 * runtime dispatch between a portable scalar path, AVX2+FMA, AVX-512F and
 * NEON.
 *
 * Why this shape: the index spends almost all of its time here (one call per
 * visited graph node), so each path keeps several independent accumulators
 * to hide FMA latency and handles the tail without a scalar loop where the
 * ISA allows it (AVX-512 masked loads).  The x86 paths are compiled with
 * per-function target attributes, so the library itself needs no -m flags
 * and runs on any x86-64; the path is picked once from the CPU (or forced
 * for tests with ak_simd_select / AKIDB_INDEX_SIMD).
 */
#include "index/index.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define AK_X86 1
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* ---- scalar ------------------------------------------------------------- */

static float dot_scalar(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++)
        s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float l2_scalar(const float *a, const float *b, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
        float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

/* ---- AVX2 + FMA ----------------------------------------------------------- */
#ifdef AK_X86
#define AK_AVX2 __attribute__((target("avx2,fma")))
#define AK_AVX512 __attribute__((target("avx512f")))

AK_AVX2 static inline float hsum256(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

AK_AVX2 static float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

AK_AVX2 static float l2_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
        __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
        s2 = _mm256_fmadd_ps(d2, d2, s2);
        s3 = _mm256_fmadd_ps(d3, d3, s3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d, d, s0);
    }
    float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

/* ---- AVX-512F ------------------------------------------------------------ */

AK_AVX512 static float dot_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
                             _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

AK_AVX512 static float l2_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}
#endif /* AK_X86 */

/* ---- NEON ---------------------------------------------------------------- */
#ifdef __aarch64__
static float dot_neon(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float l2_neon(const float *a, const float *b, size_t n)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
        s2 = vfmaq_f32(s2, d2, d2);
        s3 = vfmaq_f32(s3, d3, d3);
    }
    for (; i + 4 <= n; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        s0 = vfmaq_f32(s0, d, d);
    }
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}
#endif

/* ---- dispatch ------------------------------------------------------------ */

static ak_simd g_path = AK_SIMD_SCALAR;
static ak_dist_fn g_dot = dot_scalar, g_l2 = l2_scalar;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

bool ak_simd_supported(ak_simd path)
{
    switch (path) {
    case AK_SIMD_AUTO:
    case AK_SIMD_SCALAR:
        return true;
#ifdef AK_X86
    case AK_SIMD_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case AK_SIMD_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f");
#endif
#ifdef __aarch64__
    case AK_SIMD_NEON:
        return true;
#endif
    default:
        return false;
    }
}

static ak_simd best_path(void)
{
    if (ak_simd_supported(AK_SIMD_AVX512)) return AK_SIMD_AVX512;
    if (ak_simd_supported(AK_SIMD_AVX2)) return AK_SIMD_AVX2;
    if (ak_simd_supported(AK_SIMD_NEON)) return AK_SIMD_NEON;
    return AK_SIMD_SCALAR;
}

ak_dist_fn ak_dist_get(ak_simd path, ak_metric kind)
{
    if (path == AK_SIMD_AUTO)
        path = best_path();
    if (!ak_simd_supported(path))
        return NULL;
    bool l2 = kind == AK_METRIC_L2;
    switch (path) {
    case AK_SIMD_SCALAR: return l2 ? l2_scalar : dot_scalar;
#ifdef AK_X86
    case AK_SIMD_AVX2: return l2 ? l2_avx2 : dot_avx2;
    case AK_SIMD_AVX512: return l2 ? l2_avx512 : dot_avx512;
#endif
#ifdef __aarch64__
    case AK_SIMD_NEON: return l2 ? l2_neon : dot_neon;
#endif
    default: return NULL;
    }
}

static void set_path(ak_simd p)
{
    g_dot = ak_dist_get(p, AK_METRIC_DOT);
    g_l2 = ak_dist_get(p, AK_METRIC_L2);
    __atomic_store_n(&g_path, p, __ATOMIC_RELEASE);
}

static void init_once(void)
{
    ak_simd p = best_path();
    const char *env = getenv("AKIDB_INDEX_SIMD");
    if (env && *env) {
        ak_simd want = AK_SIMD_AUTO;
        if (strcmp(env, "scalar") == 0) want = AK_SIMD_SCALAR;
        else if (strcmp(env, "avx2") == 0) want = AK_SIMD_AVX2;
        else if (strcmp(env, "avx512") == 0) want = AK_SIMD_AVX512;
        else if (strcmp(env, "neon") == 0) want = AK_SIMD_NEON;
        if (want != AK_SIMD_AUTO && ak_simd_supported(want))
            p = want;
    }
    set_path(p);
}

akidb_status ak_simd_select(ak_simd path)
{
    pthread_once(&g_once, init_once);
    if (!ak_simd_supported(path))
        return ak_fail(AKIDB_EUNSUPPORTED, "SIMD path %s is not supported here",
                       ak_simd_name(path));
    pthread_mutex_lock(&g_mu);
    set_path(path == AK_SIMD_AUTO ? best_path() : path);
    pthread_mutex_unlock(&g_mu);
    return AKIDB_OK;
}

ak_simd ak_simd_active(void)
{
    pthread_once(&g_once, init_once);
    return __atomic_load_n(&g_path, __ATOMIC_ACQUIRE);
}

const char *ak_simd_name(ak_simd path)
{
    switch (path) {
    case AK_SIMD_AUTO: return "auto";
    case AK_SIMD_SCALAR: return "scalar";
    case AK_SIMD_AVX2: return "avx2";
    case AK_SIMD_AVX512: return "avx512";
    case AK_SIMD_NEON: return "neon";
    }
    return "unknown";
}

float ak_dot(const float *a, const float *b, size_t n)
{
    return ak_dist_get(ak_simd_active(), AK_METRIC_DOT)(a, b, n);
}

float ak_l2sq(const float *a, const float *b, size_t n)
{
    return ak_dist_get(ak_simd_active(), AK_METRIC_L2)(a, b, n);
}

bool ak_vec_normalize(float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)v[i] * v[i];
    if (!(s > 0) || !isfinite(s))
        return false;
    float inv = (float)(1.0 / sqrt(s));
    for (size_t i = 0; i < n; i++)
        v[i] *= inv;
    return true;
}

const char *ak_metric_name(ak_metric m)
{
    switch (m) {
    case AK_METRIC_COSINE: return "cosine";
    case AK_METRIC_L2: return "l2";
    case AK_METRIC_DOT: return "dot";
    }
    return NULL;
}

bool ak_metric_parse(const char *s, ak_metric *out)
{
    if (!s) return false;
    if (strcmp(s, "cosine") == 0) *out = AK_METRIC_COSINE;
    else if (strcmp(s, "l2") == 0 || strcmp(s, "euclid") == 0) *out = AK_METRIC_L2;
    else if (strcmp(s, "dot") == 0 || strcmp(s, "ip") == 0) *out = AK_METRIC_DOT;
    else return false;
    return true;
}
