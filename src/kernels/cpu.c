/*
 * cpu.c - the kernels' run-time choice of instruction-set path.
 *
 * Why: the default build must run on any x86-64 (or AArch64) machine, yet use
 * the widest vector unit present.  What the CPU can do comes from the one
 * CPU-feature layer (common/cpu.h), which the index's distance functions ask
 * too.  The active path is resolved once, at first use, from the environment
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
#endif

static const ak_kernels k_scalar = { AKIDB_KERNELS_SCALAR, "scalar", ak_gemm_nt_scalar, &ak_ops_scalar };
#ifdef AK_X86
static const ak_kernels k_avx2 = { AKIDB_KERNELS_AVX2, "avx2", ak_gemm_nt_avx2, &ak_ops_avx2 };
static const ak_kernels k_avx512 = { AKIDB_KERNELS_AVX512, "avx512", ak_gemm_nt_avx512, &ak_ops_avx512 };
#endif
#ifdef __aarch64__
static const ak_kernels k_neon = { AKIDB_KERNELS_NEON, "neon", ak_gemm_nt_neon, &ak_ops_neon };
#endif

const ak_kernels *ak_kernels_for(akidb_kernel_path path)
{
    if (path == AKIDB_KERNELS_AUTO)
        path = ak_kernels_best();
    if (!ak_cpu_path_usable(path))
        return NULL;
    switch (path) {
    case AKIDB_KERNELS_SCALAR:
        return &k_scalar;
#ifdef AK_X86
    case AKIDB_KERNELS_AVX2:
        return &k_avx2;
    case AKIDB_KERNELS_AVX512:
        return &k_avx512;
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
    return ak_cpu_best_path();
}

static _Atomic(const ak_kernels *) active;

/* The path AUTO means: AKIDB_KERNELS if it names a usable path, else best. */
static const ak_kernels *auto_table(void)
{
    return ak_kernels_for(ak_cpu_auto_path(NULL));
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
