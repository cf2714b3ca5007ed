/*
 * cpu.h - the one CPU-feature layer of the program: what this CPU is, what
 * its vector units can do that the OS lets a process use, and which
 * instruction-set path (akidb_kernel_path) runs.
 *
 * Why one: the embedding kernels (src/kernels) and the index's distance
 * functions (src/index/distance.c) both pick a path at run time.  They ask
 * here, so they agree on what the CPU has, they honour one environment
 * variable (AKIDB_KERNELS=scalar|avx2|avx512|neon|auto), and `akidb
 * version`, the server's GET /info and every benchmark's JSON show the same
 * table (ak_cpu_json).  Adding a feature: one field, its detection in
 * cpu.c's x86 or ARM part, one name in the table of cpu.c.
 *
 * A feature counts only when the CPU reports it AND the OS saves the
 * registers it uses (x86: OSXSAVE and XCR0).
 */
#ifndef AKIDB_CPU_H
#define AKIDB_CPU_H

#include "common/common.h"

typedef struct ak_cpu {
    char arch[16];          /* "x86_64", "aarch64", or what the build targets */
    char vendor[16];        /* "GenuineIntel", "AuthenticAMD", "" if unknown */
    char brand[64];         /* cpuid brand string / /proc/cpuinfo model name */
    int family, model, stepping;   /* x86 display family / model; -1 elsewhere */
    int ncpu;               /* processors online */
    /* x86-64 */
    bool sse42;             /* CRC32C of the WAL (src/store/wal.c) */
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq;
    bool avx512_vnni, avx512_bf16, avx512_fp16;
    bool amx_tile, amx_bf16, amx_int8;   /* reported, and XCR0 has tile state */
    /* AArch64 */
    bool neon, dotprod, i8mm, arm_bf16;
} ak_cpu;

/* The CPU of this process, detected once (thread-safe). */
const ak_cpu *ak_cpu_get(void);

/* True if this CPU and build can run path (AUTO: true). */
bool ak_cpu_path_usable(akidb_kernel_path path);

/* The widest usable path: avx512 > avx2 > scalar on x86-64, neon on AArch64. */
akidb_kernel_path ak_cpu_best_path(void);

/* The path AUTO means here: AKIDB_KERNELS when it names a usable path, else
 * ak_cpu_best_path().  *ignored (if not NULL) gets the variable's value when
 * it was set but not usable (unknown name, or a path this CPU lacks), else
 * NULL. */
akidb_kernel_path ak_cpu_auto_path(const char **ignored);

/* Parses a path name ("scalar", "avx2", "avx512", "neon", "auto");
 * false if unknown. */
bool ak_cpu_path_parse(const char *name, akidb_kernel_path *out);

/* The usable features as names, space separated ("avx2 fma avx512f ..."). */
const char *ak_cpu_features(void);

/* One line for people: "<brand> (<vendor> family F model M, N cpus):
 * <features>". */
const char *ak_cpu_summary(void);

/* The CPU as a new JSON object: arch, vendor, brand, family, model,
 * stepping, cpus, features (array of names).  NULL when out of memory. */
struct json_t;
struct json_t *ak_cpu_json(void);

#endif /* AKIDB_CPU_H */
