/*
 * cpu.c - CPU detection for the whole program (see cpu.h): cpuid + XCR0 on
 * x86-64, the auxiliary vector on AArch64 Linux, /proc/cpuinfo for a model
 * name where cpuid has no brand string.  Runs once; the result is
 * immutable afterwards.
 */
#include "common/cpu.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static ak_cpu g_cpu;
static char g_features[256];
static char g_summary[512];

/* name -> field, in the order features are listed */
#define F(name) { #name, offsetof(ak_cpu, name) }
static const struct {
    const char *name;
    size_t off;
} features[] = {
    F(sse42), F(avx2), F(fma), F(f16c), F(avx512f), F(avx512bw), F(avx512vl), F(avx512dq),
    F(avx512_vnni), F(avx512_bf16), F(avx512_fp16), F(amx_tile), F(amx_bf16), F(amx_int8),
    F(neon), F(dotprod), F(i8mm), { "bf16", offsetof(ak_cpu, arm_bf16) },
};
#undef F

static bool has(const ak_cpu *c, size_t i)
{
    return *(const bool *)((const char *)c + features[i].off);
}

/* The "model name" line of /proc/cpuinfo (or "Hardware" / "CPU part"). */
static void cpuinfo_name(char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0 && strncmp(line, "Hardware", 8) != 0)
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            continue;
        for (v++; *v == ' ' || *v == '\t'; v++) {
        }
        snprintf(out, cap, "%.*s", (int)strcspn(v, "\n"), v);
        break;
    }
    fclose(f);
}

#if defined(__x86_64__)
static uint64_t xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect_x86(ak_cpu *c)
{
    snprintf(c->arch, sizeof c->arch, "x86_64");
    unsigned a, b, cx, d;
    unsigned max = (unsigned)__get_cpuid_max(0, NULL);
    if (max == 0)
        return;
    __cpuid(0, a, b, cx, d);
    memcpy(c->vendor, &b, 4);
    memcpy(c->vendor + 4, &d, 4);
    memcpy(c->vendor + 8, &cx, 4);
    c->vendor[12] = '\0';
    __cpuid(1, a, b, cx, d);
    int fam = (a >> 8) & 15, mod = (a >> 4) & 15;
    c->stepping = a & 15;
    c->family = fam == 15 ? fam + (int)((a >> 20) & 255) : fam;
    c->model = fam == 6 || fam == 15 ? mod | (int)((a >> 12) & 0xf0) : mod;
    bool osxsave = (cx >> 27) & 1, avx = (cx >> 28) & 1, fma = (cx >> 12) & 1;
    bool f16c = (cx >> 29) & 1;
    c->sse42 = (cx >> 20) & 1;
    uint64_t x = osxsave && avx ? xcr0() : 0;
    bool ymm = (x & 0x6) == 0x6;               /* SSE + AVX state */
    bool zmm = (x & 0xe6) == 0xe6;             /* + opmask, ZMM_Hi256, Hi16_ZMM */
    bool tiles = (x & 0x60000) == 0x60000;     /* XTILECFG + XTILEDATA */
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, cx, d);
        c->avx2 = ymm && fma && ((b >> 5) & 1);
        c->fma = ymm && fma;
        c->f16c = ymm && f16c;
        c->avx512f = zmm && c->avx2 && ((b >> 16) & 1);
        c->avx512dq = c->avx512f && ((b >> 17) & 1);
        c->avx512bw = c->avx512f && ((b >> 30) & 1);
        c->avx512vl = c->avx512f && ((b >> 31) & 1);
        c->avx512_vnni = c->avx512f && ((cx >> 11) & 1);
        c->avx512_fp16 = c->avx512f && ((d >> 23) & 1);
        c->amx_bf16 = tiles && ((d >> 22) & 1);
        c->amx_tile = tiles && ((d >> 24) & 1);
        c->amx_int8 = tiles && ((d >> 25) & 1);
        unsigned sub = a;
        if (sub >= 1) {
            __cpuid_count(7, 1, a, b, cx, d);
            c->avx512_bf16 = c->avx512f && ((a >> 5) & 1);
        }
    }
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++)
            __cpuid(0x80000002u + i, r[4 * i], r[4 * i + 1], r[4 * i + 2], r[4 * i + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = '\0';
        const char *p = s;
        while (*p == ' ')
            p++;
        snprintf(c->brand, sizeof c->brand, "%s", p);
    }
}
#endif

#if defined(__aarch64__)
static void detect_arm(ak_cpu *c)
{
    snprintf(c->arch, sizeof c->arch, "aarch64");
    c->family = c->model = c->stepping = -1;
    c->neon = true;   /* Advanced SIMD is mandatory in AArch64 */
#if defined(__linux__)
    unsigned long h1 = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
    c->dotprod = (h1 >> 20) & 1;   /* HWCAP_ASIMDDP */
    c->i8mm = (h2 >> 13) & 1;      /* HWCAP2_I8MM */
    c->arm_bf16 = (h2 >> 14) & 1;  /* HWCAP2_BF16 */
#endif
}
#endif

static void detect(void)
{
    ak_cpu *c = &g_cpu;
    c->family = c->model = c->stepping = -1;
#if defined(__x86_64__)
    detect_x86(c);
#elif defined(__aarch64__)
    detect_arm(c);
#else
    snprintf(c->arch, sizeof c->arch, "other");
#endif
    if (!c->brand[0])
        cpuinfo_name(c->brand, sizeof c->brand);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->ncpu = n > 0 ? (int)n : 1;

    size_t k = 0;
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        if (has(c, i))
            k += (size_t)snprintf(g_features + k, sizeof g_features - k, "%s%s", k ? " " : "",
                                  features[i].name);
    char ident[96] = "";
    if (c->family >= 0)
        snprintf(ident, sizeof ident, "%s family %d model %d, ", c->vendor, c->family, c->model);
    snprintf(g_summary, sizeof g_summary, "%s (%s%s, %d cpus): %s",
             c->brand[0] ? c->brand : "unknown CPU", ident, c->arch, c->ncpu,
             g_features[0] ? g_features : "no vector extensions");
}

const ak_cpu *ak_cpu_get(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, detect);
    return &g_cpu;
}

const char *ak_cpu_features(void)
{
    ak_cpu_get();
    return g_features;
}

const char *ak_cpu_summary(void)
{
    ak_cpu_get();
    return g_summary;
}

bool ak_cpu_path_usable(akidb_kernel_path path)
{
    const ak_cpu *c = ak_cpu_get();
    switch (path) {
    case AKIDB_KERNELS_AUTO:
    case AKIDB_KERNELS_SCALAR:
        return true;
#if defined(__x86_64__)
    case AKIDB_KERNELS_AVX2:
        return c->avx2 && c->fma;
    case AKIDB_KERNELS_AVX512:
        return c->avx512f && c->avx2 && c->fma;
#endif
#if defined(__aarch64__)
    case AKIDB_KERNELS_NEON:
        return c->neon;
#endif
    default:
        (void)c;
        return false;
    }
}

akidb_kernel_path ak_cpu_best_path(void)
{
    static const akidb_kernel_path order[] = { AKIDB_KERNELS_AVX512, AKIDB_KERNELS_AVX2,
                                               AKIDB_KERNELS_NEON };
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        if (ak_cpu_path_usable(order[i]))
            return order[i];
    return AKIDB_KERNELS_SCALAR;
}

static const struct {
    const char *name;
    akidb_kernel_path p;
} path_names[] = {
    { "auto", AKIDB_KERNELS_AUTO }, { "scalar", AKIDB_KERNELS_SCALAR },
    { "avx2", AKIDB_KERNELS_AVX2 }, { "avx512", AKIDB_KERNELS_AVX512 },
    { "neon", AKIDB_KERNELS_NEON },
};

bool ak_cpu_path_parse(const char *name, akidb_kernel_path *out)
{
    for (size_t i = 0; name && i < sizeof path_names / sizeof *path_names; i++)
        if (strcmp(name, path_names[i].name) == 0) {
            *out = path_names[i].p;
            return true;
        }
    return false;
}

const char *akidb_kernels_name(akidb_kernel_path path)
{
    for (size_t i = 0; i < sizeof path_names / sizeof *path_names; i++)
        if (path_names[i].p == path)
            return path_names[i].name;
    return "unknown";
}

akidb_kernel_path ak_cpu_auto_path(const char **ignored)
{
    const char *env = getenv("AKIDB_KERNELS");
    akidb_kernel_path p;
    if (ignored)
        *ignored = NULL;
    if (env && *env) {
        if (ak_cpu_path_parse(env, &p) && ak_cpu_path_usable(p))
            return p == AKIDB_KERNELS_AUTO ? ak_cpu_best_path() : p;
        if (ignored)
            *ignored = env;
    }
    return ak_cpu_best_path();
}

json_t *ak_cpu_json(void)
{
    const ak_cpu *c = ak_cpu_get();
    json_t *f = json_array();
    for (size_t i = 0; f && i < sizeof features / sizeof *features; i++)
        if (has(c, i) && json_array_append_new(f, json_string(features[i].name)) != 0) {
            json_decref(f);
            return NULL;
        }
    if (!f)
        return NULL;
    return json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:o}", "arch", c->arch, "vendor", c->vendor,
                     "brand", c->brand, "family", c->family, "model", c->model, "stepping",
                     c->stepping, "cpus", c->ncpu, "features", f);
}
