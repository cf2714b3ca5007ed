/*
 * akt.h - AkiDB's minimal test harness: typed assertions that print both
 * values, a registry of test functions, and a runner that closes with the
 * line "N passed, N failed" read by CI.
 *
 * Usage:
 *   AKT_TEST(name) { AKT_EQ_INT(1 + 1, 2); }
 *   AKT_MAIN(AKT_REG(name), AKT_REG(other))
 * A failed assertion ends the current test (longjmp) and marks it failed.
 * Run a single test with: ./test_x name
 */
#ifndef AKT_H
#define AKT_H

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The allocation point an out-of-memory loop fails after point i: every
 * one; with AKIDB_TEST_QUICK set (sanitizer and emulated runs, 50-100x
 * slower) every one of the first 256, then a sample thinning out to about
 * one in eight, which still reaches every phase of a model load.  The
 * release run checks them all. */
static inline long akt_oom_next(long i)
{
    static int quick = -1;
    if (quick < 0) {
        const char *q = getenv("AKIDB_TEST_QUICK");
        quick = q && *q && strcmp(q, "0") != 0;
    }
    if (!quick || i < 256)
        return i + 1;
    long step = 1 + (i - 256) / 64;
    return i + (step > 8 ? 8 : step);
}

/* max |a[i] - b[i]| over n floats, in double.  A compare-and-keep loop:
 * GCC 12 for aarch64 stops with an internal error vectorising the same
 * reduction written with fmax at -O3. */
static inline double akt_max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]);
        if (x > m)
            m = x;
    }
    return m;
}

/* max(1, max |a[i]|) over n floats: the scale a tolerance is relative to. */
static inline double akt_max_abs_scale(const float *a, size_t n)
{
    double m = 1;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i]);
        if (x > m)
            m = x;
    }
    return m;
}

/* The per-process scratch directory of akt_tmpdir(), removed at exit. */
static char akt_tmp_path[256];

static void akt_tmp_cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", akt_tmp_path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", akt_tmp_path);
}

/* Returns a directory /tmp/<prefix>XXXXXX made on first call and removed
 * with its contents when the process exits; exits with status 2 if it
 * cannot be made. */
static inline const char *akt_tmpdir(const char *prefix)
{
    if (akt_tmp_path[0])
        return akt_tmp_path;
    snprintf(akt_tmp_path, sizeof akt_tmp_path, "/tmp/%sXXXXXX", prefix);
    if (!mkdtemp(akt_tmp_path)) {
        perror("mkdtemp");
        exit(2);
    }
    atexit(akt_tmp_cleanup);
    return akt_tmp_path;
}

typedef void (*akt_fn)(void);
typedef struct { const char *name; akt_fn fn; } akt_case;

static jmp_buf akt_jmp;
static int akt_checks;

#define AKT_TEST(name) static void akt_test_##name(void)
#define AKT_REG(name) { #name, akt_test_##name }

#define AKT_FAIL_(...)                                                        \
    do {                                                                      \
        fprintf(stderr, "  FAIL %s:%d: ", __FILE__, __LINE__);                \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        longjmp(akt_jmp, 1);                                                  \
    } while (0)

#define AKT_TRUE(c)                                                           \
    do { akt_checks++; if (!(c)) AKT_FAIL_("expected true: %s", #c); } while (0)
#define AKT_FALSE(c)                                                          \
    do { akt_checks++; if ((c)) AKT_FAIL_("expected false: %s", #c); } while (0)
#define AKT_EQ_INT(a, b)                                                      \
    do { long long a_ = (long long)(a), b_ = (long long)(b); akt_checks++;   \
         if (a_ != b_) AKT_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_); } while (0)
#define AKT_NE_INT(a, b)                                                      \
    do { long long a_ = (long long)(a), b_ = (long long)(b); akt_checks++;   \
         if (a_ == b_) AKT_FAIL_("%s != %s: both %lld", #a, #b, a_); } while (0)
#define AKT_LE_INT(a, b)                                                      \
    do { long long a_ = (long long)(a), b_ = (long long)(b); akt_checks++;   \
         if (!(a_ <= b_)) AKT_FAIL_("%s <= %s: %lld > %lld", #a, #b, a_, b_); } while (0)
#define AKT_EQ_STR(a, b)                                                      \
    do { const char *a_ = (a), *b_ = (b); akt_checks++;                       \
         if (!a_ || !b_ || strcmp(a_, b_) != 0)                               \
             AKT_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                       b_ ? b_ : "(null)"); } while (0)
#define AKT_CONTAINS(hay, needle)                                             \
    do { const char *h_ = (hay), *n_ = (needle); akt_checks++;                \
         if (!h_ || !strstr(h_, n_))                                          \
             AKT_FAIL_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); } while (0)
#define AKT_NEAR(a, b, tol)                                                   \
    do { double a_ = (a), b_ = (b), t_ = (tol); akt_checks++;                 \
         if (!(fabs(a_ - b_) <= t_))                                          \
             AKT_FAIL_("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, t_); } while (0)
#define AKT_GE(a, b)                                                          \
    do { double a_ = (a), b_ = (b); akt_checks++;                             \
         if (!(a_ >= b_)) AKT_FAIL_("%s >= %s: %.9g < %.9g", #a, #b, a_, b_); } while (0)
#define AKT_LE(a, b)                                                          \
    do { double a_ = (a), b_ = (b); akt_checks++;                             \
         if (!(a_ <= b_)) AKT_FAIL_("%s <= %s: %.9g > %.9g", #a, #b, a_, b_); } while (0)
/* Status check that prints akidb_last_error() on failure. */
#define AKT_OK(expr)                                                          \
    do { int s_ = (int)(expr); akt_checks++;                                  \
         if (s_ != 0) AKT_FAIL_("%s: status %d: %s", #expr, s_, akidb_last_error()); } while (0)
#define AKT_STATUS(expr, want)                                                \
    do { int s_ = (int)(expr), w_ = (int)(want); akt_checks++;                \
         if (s_ != w_) AKT_FAIL_("%s: status %d, want %d (%s)", #expr, s_, w_,  \
                                 akidb_last_error()); } while (0)

static int akt_run(const akt_case *cases, size_t n, int argc, char **argv)
{
    volatile int passed = 0, failed = 0;
    for (volatile size_t i = 0; i < n; i++) {
        if (argc > 1) {
            int want = 0;
            for (int a = 1; a < argc; a++)
                if (strcmp(argv[a], cases[i].name) == 0) want = 1;
            if (!want) continue;
        }
        volatile int before = akt_checks;
        fprintf(stderr, "[ RUN  ] %s\n", cases[i].name);
        if (setjmp(akt_jmp) == 0) {
            cases[i].fn();
            if (akt_checks == before) {
                fprintf(stderr, "  FAIL %s: test made no assertion\n", cases[i].name);
                failed++;
                fprintf(stderr, "[ FAIL ] %s\n", cases[i].name);
            } else {
                passed++;
                fprintf(stderr, "[  OK  ] %s (%d checks)\n", cases[i].name,
                        akt_checks - before);
            }
        } else {
            failed++;
            fprintf(stderr, "[ FAIL ] %s\n", cases[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define AKT_MAIN(...)                                                         \
    int main(int argc, char **argv)                                           \
    {                                                                         \
        static const akt_case cases_[] = { __VA_ARGS__ };                     \
        return akt_run(cases_, sizeof cases_ / sizeof cases_[0], argc, argv); \
    }

#endif /* AKT_H */
