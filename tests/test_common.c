/* test_common.c - status list, error messages, allocation hook, arena, UTF-8. */
#include "akt.h"
#include "common/common.h"

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

AKT_MAIN(AKT_REG(status_strings), AKT_REG(error_message_and_prefix),
         AKT_REG(alloc_injection), AKT_REG(arena_alignment_and_reset),
         AKT_REG(utf8_validation))
