/*
 * cpu.c - CPU feature detection and the run-time choice of kernel path.
 *
 * Why: the default build must run on any x86-64 (or AArch64) machine, yet use
 * the widest vector unit present.  On x86-64 a path is usable only if the CPU
 * reports the instructions (cpuid) AND the OS saves the register state
 * (OSXSAVE + xgetbv/XCR0); otherwise AVX code would fault.  AArch64 always has
 * NEON.  The active path is resolved once, at first use, from the environment
 * variable AKIDB_KERNELS (scalar|avx2|avx512|neon; an unknown or unsupported
 * value falls back to the best path) and can be changed by
 * akidb_kernels_select() for tests and benchmarks.
 */
#include "kernels/kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#define AK_X86 1
#include <cpuid.h>
#endif

static const ak_kernels k_scalar = { AKIDB_KERNELS_SCALAR, "scalar", ak_gemm_nt_scalar, &ak_ops_scalar };
#ifdef AK_X86
static const ak_kernels k_avx2 = { AKIDB_KERNELS_AVX2, "avx2", ak_gemm_nt_avx2, &ak_ops_avx2 };
static const ak_kernels k_avx512 = { AKIDB_KERNELS_AVX512, "avx512", ak_gemm_nt_avx512, &ak_ops_avx512 };
#endif
#ifdef __aarch64__
static const ak_kernels k_neon = { AKIDB_KERNELS_NEON, "neon", ak_gemm_nt_neon, &ak_ops_neon };
#endif

#ifdef AK_X86
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* bit 0: AVX2+FMA usable, bit 1: AVX-512F usable */
static int x86_features(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx)
        return 0;
    uint64_t xcr0 = read_xcr0();
    int ymm_ok = (xcr0 & 0x6) == 0x6;          /* SSE + AVX state */
    int zmm_ok = (xcr0 & 0xE6) == 0xE6;        /* + opmask, ZMM_Hi256, Hi16_ZMM */
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    int f = 0;
    if (ymm_ok && avx2 && fma)
        f |= 1;
    if (zmm_ok && avx512f && fma && (f & 1))
        f |= 2;
    return f;
}
#endif

int ak_cpu_has_avx512bf16(void)
{
#ifdef AK_X86
    if (!(x86_features() & 2) || __get_cpuid_max(0, NULL) < 7)
        return 0;
    unsigned a, b, c, d;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 5) & 1;
#else
    return 0;
#endif
}

int ak_cpu_has_avx512vnni(void)
{
#ifdef AK_X86
    if (!(x86_features() & 2))
        return 0;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
    return (c >> 11) & 1;
#else
    return 0;
#endif
}

const ak_kernels *ak_kernels_for(akidb_kernel_path path)
{
    if (path == AKIDB_KERNELS_AUTO)
        path = ak_kernels_best();
    switch (path) {
    case AKIDB_KERNELS_SCALAR:
        return &k_scalar;
#ifdef AK_X86
    case AKIDB_KERNELS_AVX2:
        return (x86_features() & 1) ? &k_avx2 : NULL;
    case AKIDB_KERNELS_AVX512:
        return (x86_features() & 2) ? &k_avx512 : NULL;
#endif
#ifdef __aarch64__
    case AKIDB_KERNELS_NEON:
        return &k_neon;
#endif
    default:
        return NULL;
    }
}

akidb_kernel_path ak_kernels_best(void)
{
#ifdef AK_X86
    int f = x86_features();
    if (f & 2)
        return AKIDB_KERNELS_AVX512;
    if (f & 1)
        return AKIDB_KERNELS_AVX2;
#endif
#ifdef __aarch64__
    return AKIDB_KERNELS_NEON;
#endif
    return AKIDB_KERNELS_SCALAR;
}

static _Atomic(const ak_kernels *) active;

/* The path AUTO means: AKIDB_KERNELS if it names a usable path, else best. */
static const ak_kernels *auto_table(void)
{
    const char *env = getenv("AKIDB_KERNELS");
    if (env && *env) {
        static const struct { const char *name; akidb_kernel_path p; } names[] = {
            { "scalar", AKIDB_KERNELS_SCALAR }, { "avx2", AKIDB_KERNELS_AVX2 },
            { "avx512", AKIDB_KERNELS_AVX512 }, { "neon", AKIDB_KERNELS_NEON },
            { "auto", AKIDB_KERNELS_AUTO },
        };
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strcmp(env, names[i].name) == 0) {
                const ak_kernels *t = ak_kernels_for(names[i].p);
                if (t)
                    return t;
                break;
            }
        }
    }
    return ak_kernels_for(ak_kernels_best());
}

const ak_kernels *ak_kernels_get(void)
{
    const ak_kernels *t = atomic_load_explicit(&active, memory_order_acquire);
    if (AK_LIKELY(t != NULL))
        return t;
    t = auto_table();
    const ak_kernels *expected = NULL;
    /* a concurrent first use or select() may have won; keep theirs */
    if (!atomic_compare_exchange_strong(&active, &expected, t))
        t = expected;
    return t;
}

void ak_gemm_nt(size_t m, size_t n, size_t k, const float *x, size_t ldx,
                const float *w, size_t ldw, const float *bias, float *y,
                size_t ldy)
{
    ak_kernels_get()->gemm_nt(m, n, k, x, ldx, w, ldw, bias, y, ldy);
}

akidb_status akidb_kernels_select(akidb_kernel_path path)
{
    const ak_kernels *t = path == AKIDB_KERNELS_AUTO ? auto_table()
                                                     : ak_kernels_for(path);
    if (!t)
        return ak_fail(AKIDB_EUNSUPPORTED,
                       "kernel path '%s' is not supported by this CPU or build",
                       akidb_kernels_name(path));
    atomic_store_explicit(&active, t, memory_order_release);
    return AKIDB_OK;
}

akidb_kernel_path akidb_kernels_active(void)
{
    return ak_kernels_get()->path;
}

const char *akidb_kernels_name(akidb_kernel_path path)
{
    switch (path) {
    case AKIDB_KERNELS_AUTO: return "auto";
    case AKIDB_KERNELS_SCALAR: return "scalar";
    case AKIDB_KERNELS_AVX2: return "avx2";
    case AKIDB_KERNELS_AVX512: return "avx512";
    case AKIDB_KERNELS_NEON: return "neon";
    }
    return "unknown";
}
