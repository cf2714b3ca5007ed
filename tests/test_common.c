/* test_common.c - status list, error messages, allocation hook, arena, UTF-8. */
#include "akt.h"
#include "common/common.h"
#include "common/cpu.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

AKT_TEST(status_strings)
{
    AKT_EQ_STR(akidb_strerror(AKIDB_OK), "success");
    AKT_EQ_STR(akidb_strerror(AKIDB_EUTF8), "invalid UTF-8");
    AKT_EQ_STR(akidb_status_name(AKIDB_ECORRUPT), "ECORRUPT");
    AKT_EQ_STR(akidb_strerror((akidb_status)12345), "unknown status");
}

AKT_TEST(error_message_and_prefix)
{
    ak_clear_error();
    AKT_EQ_STR(akidb_last_error(), "");
    AKT_EQ_INT(ak_fail(AKIDB_EFORMAT, "bad %s at %d", "thing", 7), AKIDB_EFORMAT);
    AKT_EQ_STR(akidb_last_error(), "bad thing at 7");
    ak_fail_prefix(AKIDB_EFORMAT, "file %s", "x.json");
    AKT_EQ_STR(akidb_last_error(), "file x.json: bad thing at 7");
}

AKT_TEST(alloc_injection)
{
    ak_alloc_fail_after(2);
    void *a = ak_malloc(8), *b = ak_malloc(8), *c = ak_malloc(8);
    AKT_TRUE(a != NULL);
    AKT_TRUE(b != NULL);
    AKT_TRUE(c == NULL);
    AKT_EQ_INT(ak_alloc_injected_failures(), 1);
    ak_alloc_fail_after(-1);
    void *d = ak_malloc(8);
    AKT_TRUE(d != NULL);
    ak_free(a); ak_free(b); ak_free(d);
}

AKT_TEST(arena_alignment_and_reset)
{
    ak_arena ar;
    ak_arena_init(&ar, 4096);
    for (int i = 0; i < 100; i++) {
        char *p = ak_arena_alloc(&ar, (size_t)i * 37 + 1);
        AKT_TRUE(p != NULL);
        AKT_EQ_INT((uintptr_t)p % 64, 0);
        memset(p, 0xAB, (size_t)i * 37 + 1);
    }
    char *big = ak_arena_alloc(&ar, 1 << 20);
    AKT_TRUE(big != NULL);
    ak_arena_reset(&ar);
    AKT_TRUE(ak_arena_alloc(&ar, 100) != NULL);
    ak_arena_free(&ar);
}

AKT_TEST(utf8_validation)
{
    size_t off = 0;
    AKT_TRUE(ak_utf8_valid("h\xc3\xa9llo \xe4\xb8\xad \xf0\x9f\x98\x80", 15, &off));
    AKT_FALSE(ak_utf8_valid("ab\xff", 3, &off));
    AKT_EQ_INT(off, 2);
    AKT_FALSE(ak_utf8_valid("\xc0\xaf", 2, &off));          /* overlong */
    AKT_FALSE(ak_utf8_valid("\xed\xa0\x80", 3, &off));      /* surrogate */
    AKT_FALSE(ak_utf8_valid("\xf4\x90\x80\x80", 4, &off));  /* > U+10FFFF */
    AKT_FALSE(ak_utf8_valid("\xe4\xb8", 2, &off));          /* truncated */
    char buf[4];
    uint32_t cp;
    for (uint32_t c = 0; c < 0x110000; c += 97) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        int n = ak_utf8_encode(c, buf);
        AKT_TRUE(ak_utf8_valid(buf, (size_t)n, NULL));
        AKT_EQ_INT(ak_utf8_decode((unsigned char *)buf, &cp), n);
        AKT_EQ_INT(cp, c);
    }
}

/* The CPU-feature layer: a consistent table, path names both ways, and
 * AKIDB_KERNELS honoured when usable, reported when not. */
AKT_TEST(cpu_layer)
{
    const ak_cpu *c = ak_cpu_get();
    AKT_TRUE(c == ak_cpu_get());
    AKT_TRUE(c->ncpu >= 1);
    AKT_TRUE(c->arch[0] != '\0');
    fprintf(stderr, "  %s\n", ak_cpu_summary());
    AKT_CONTAINS(ak_cpu_summary(), c->arch);
    /* implications every real CPU and OS keep */
    if (c->avx512f)
        AKT_TRUE(c->avx2 && c->fma);
    if (c->avx512_bf16 || c->avx512_vnni || c->avx512_fp16 || c->avx512bw)
        AKT_TRUE(c->avx512f);
    AKT_TRUE(!(c->neon && c->avx2));
#if defined(__x86_64__)
    AKT_TRUE(c->family > 0 && c->model >= 0);
    AKT_TRUE(!c->neon);
#elif defined(__aarch64__)
    AKT_TRUE(c->neon);
#endif
    /* feature names: the text list and the JSON list agree */
    json_t *j = ak_cpu_json();
    AKT_TRUE(j != NULL);
    json_t *f = json_object_get(j, "features");
    AKT_TRUE(json_is_array(f));
    char names[256] = "";
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v) {
        if (i)
            strcat(names, " ");
        strcat(names, json_string_value(v));
    }
    AKT_EQ_STR(names, ak_cpu_features());
    AKT_EQ_STR(json_string_value(json_object_get(j, "arch")), c->arch);
    AKT_EQ_INT(json_integer_value(json_object_get(j, "cpus")), c->ncpu);
    json_decref(j);
    AKT_EQ_INT(c->avx512f, strstr(ak_cpu_features(), "avx512f") != NULL);
    /* paths */
    static const akidb_kernel_path all[] = { AKIDB_KERNELS_AUTO, AKIDB_KERNELS_SCALAR,
                                             AKIDB_KERNELS_AVX2, AKIDB_KERNELS_AVX512,
                                             AKIDB_KERNELS_NEON };
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) {
        akidb_kernel_path p;
        AKT_TRUE(ak_cpu_path_parse(akidb_kernels_name(all[k]), &p));
        AKT_EQ_INT(p, all[k]);
    }
    akidb_kernel_path p = AKIDB_KERNELS_SCALAR;
    AKT_FALSE(ak_cpu_path_parse("avx1024", &p));
    AKT_FALSE(ak_cpu_path_parse(NULL, &p));
    AKT_EQ_STR(akidb_kernels_name((akidb_kernel_path)99), "unknown");
    akidb_kernel_path best = ak_cpu_best_path();
    AKT_TRUE(best != AKIDB_KERNELS_AUTO && ak_cpu_path_usable(best));
    AKT_TRUE(ak_cpu_path_usable(AKIDB_KERNELS_SCALAR));
    AKT_EQ_INT(ak_cpu_path_usable(AKIDB_KERNELS_AVX512), c->avx512f);
    AKT_EQ_INT(ak_cpu_path_usable(AKIDB_KERNELS_NEON), c->neon);
    /* AKIDB_KERNELS */
    const char *old = getenv("AKIDB_KERNELS");
    char *saved = old ? strdup(old) : NULL;
    const char *ignored = "x";
    unsetenv("AKIDB_KERNELS");
    AKT_EQ_INT(ak_cpu_auto_path(&ignored), best);
    AKT_TRUE(ignored == NULL);
    setenv("AKIDB_KERNELS", "scalar", 1);
    AKT_EQ_INT(ak_cpu_auto_path(&ignored), AKIDB_KERNELS_SCALAR);
    AKT_TRUE(ignored == NULL);
    setenv("AKIDB_KERNELS", "auto", 1);
    AKT_EQ_INT(ak_cpu_auto_path(&ignored), best);
    setenv("AKIDB_KERNELS", "bogus", 1);
    AKT_EQ_INT(ak_cpu_auto_path(&ignored), best);
    AKT_EQ_STR(ignored, "bogus");
    const char *absent = c->neon ? "avx512" : "neon";   /* a path this CPU lacks */
    setenv("AKIDB_KERNELS", absent, 1);
    AKT_EQ_INT(ak_cpu_auto_path(&ignored), best);
    AKT_EQ_STR(ignored, absent);
    if (saved)
        setenv("AKIDB_KERNELS", saved, 1);
    else
        unsetenv("AKIDB_KERNELS");
    free(saved);
}

AKT_MAIN(AKT_REG(status_strings), AKT_REG(error_message_and_prefix),
         AKT_REG(alloc_injection), AKT_REG(arena_alignment_and_reset),
         AKT_REG(utf8_validation), AKT_REG(cpu_layer))
