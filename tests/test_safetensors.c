/*
 * test_safetensors.c - the safetensors reader on hand-made files in a temp
 * directory: every malformed-header case gets its status and a message
 * naming the file and the tensor; F16/BF16 conversion is exact for all
 * 65536 inputs; F32 is used in place only when aligned; index.json shards.
 */
#include "akt.h"
#include "model/safetensors.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tmpdir;

static void setup(void)
{
    tmpdir = akt_tmpdir("akidb_st_");
}

/* Writes "<tmpdir>/<name>": 8-byte length of header, header, data. */
static const char *write_st(const char *name, const char *header,
                            const void *data, size_t dlen)
{
    static char path[512];
    setup();
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    uint64_t n = strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, n, f);
    if (dlen)
        fwrite(data, 1, dlen, f);
    fclose(f);
    return path;
}

static const char *write_raw(const char *name, const void *bytes, size_t n)
{
    static char path[512];
    setup();
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
    return path;
}

/* Opens a file made from header + zero data, expecting status want and a
 * message containing the file name and each of the given fragments. */
static void expect_bad(const char *header, size_t dlen, akidb_status want,
                       const char *frag1, const char *frag2)
{
    static unsigned char zeros[4096];
    const char *path = write_st("bad.safetensors", header, zeros, dlen);
    ak_st_file f;
    akidb_status st = ak_st_open(path, &f);
    if (st != want)
        AKT_FAIL_("header %s: status %d, want %d (%s)", header, st, want, akidb_last_error());
    AKT_CONTAINS(akidb_last_error(), "bad.safetensors");
    if (frag1)
        AKT_CONTAINS(akidb_last_error(), frag1);
    if (frag2)
        AKT_CONTAINS(akidb_last_error(), frag2);
    AKT_TRUE(f.tensors == NULL && f.n_tensors == 0);
}

AKT_TEST(valid_file)
{
    float a[6] = { 1, -2, 3.5f, 0, 1e-3f, -7 };
    unsigned char data[24 + 4 + 4 + 8];
    memcpy(data, a, 24);
    uint16_t h[2] = { 0x3C00, 0xC000 };       /* F16 1, -2 */
    uint16_t bf[2] = { 0x3F80, 0xC040 };      /* BF16 1, -3 */
    memcpy(data + 24, h, 4);
    memcpy(data + 28, bf, 4);
    int64_t pid[1] = { 5 };
    memcpy(data + 32, pid, 8);
    /* header padded with spaces to a multiple of 8 so F32 data is aligned */
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]},"
             "\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[32,40]},"
             "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[40,40]}}");
    size_t n = strlen(hdr);
    while (n % 8)
        hdr[n++] = ' ';
    hdr[n] = '\0';
    const char *path = write_st("ok.safetensors", hdr, data, sizeof data);
    ak_st_file f;
    AKT_OK(ak_st_open(path, &f));
    AKT_EQ_INT(f.n_tensors, 5);
    const ak_st_tensor *w = ak_st_find(&f, "w");
    AKT_TRUE(w != NULL);
    AKT_EQ_INT(w->ndim, 2);
    AKT_EQ_INT(w->shape[0], 2);
    AKT_EQ_INT(w->shape[1], 3);
    AKT_EQ_INT(w->numel, 6);
    const float *view;
    float *owned;
    AKT_OK(ak_st_get_f32(path, w, &view, &owned));
    AKT_TRUE(owned == NULL);                  /* aligned F32: used in place */
    AKT_TRUE((const void *)view == (const void *)w->data);
    for (int i = 0; i < 6; i++)
        AKT_EQ_INT(view[i] == a[i], 1);
    AKT_OK(ak_st_get_f32(path, ak_st_find(&f, "h"), &view, &owned));
    AKT_TRUE(owned != NULL);
    AKT_EQ_INT(view[0] == 1.0f && view[1] == -2.0f, 1);
    ak_free(owned);
    AKT_OK(ak_st_get_f32(path, ak_st_find(&f, "b"), &view, &owned));
    AKT_EQ_INT(view[0] == 1.0f && view[1] == -3.0f, 1);
    ak_free(owned);
    const ak_st_tensor *ids = ak_st_find(&f, "ids");
    AKT_EQ_INT(ids->dtype, AK_DT_I64);
    AKT_STATUS(ak_st_get_f32(path, ids, &view, &owned), AKIDB_EUNSUPPORTED);
    AKT_CONTAINS(akidb_last_error(), "'ids'");
    AKT_CONTAINS(akidb_last_error(), "I64");
    const ak_st_tensor *e = ak_st_find(&f, "empty");
    AKT_EQ_INT(e->numel, 0);
    AKT_TRUE(ak_st_find(&f, "nope") == NULL);
    AKT_TRUE(ak_st_find(&f, "__metadata__") == NULL);
    ak_st_close(&f);
    ak_st_close(&f);   /* idempotent */
}

AKT_TEST(unaligned_f32_is_copied)
{
    float a[3] = { 1.25f, -0.5f, 3.0f };
    /* header of odd length: data section starts at an odd address */
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
    AKT_TRUE((8 + strlen(hdr)) % 4 != 0);
    const char *path = write_st("unal.safetensors", hdr, a, sizeof a);
    ak_st_file f;
    AKT_OK(ak_st_open(path, &f));
    const float *view;
    float *owned;
    AKT_OK(ak_st_get_f32(path, ak_st_find(&f, "w"), &view, &owned));
    AKT_TRUE(owned != NULL && (const void *)view == (const void *)owned);
    AKT_EQ_INT(view[0] == 1.25f && view[1] == -0.5f && view[2] == 3.0f, 1);
    ak_free(owned);
    ak_st_close(&f);
}

AKT_TEST(bad_framing)
{
    const char *p = write_raw("bad.safetensors", "\x05\0\0", 3);
    ak_st_file f;
    AKT_STATUS(ak_st_open(p, &f), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "bad.safetensors");
    AKT_CONTAINS(akidb_last_error(), "too short");
    p = write_raw("bad.safetensors", "", 0);
    AKT_STATUS(ak_st_open(p, &f), AKIDB_EFORMAT);
    unsigned char big[16] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}' };
    p = write_raw("bad.safetensors", big, 16);
    AKT_STATUS(ak_st_open(p, &f), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "header length 65535 exceeds");
    unsigned char huge[16] = { 0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}' };
    p = write_raw("bad.safetensors", huge, 16);
    AKT_STATUS(ak_st_open(p, &f), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "exceeds");
    expect_bad("", 0, AKIDB_EFORMAT, "not a JSON object", NULL);
    expect_bad("{\"a\": ", 0, AKIDB_EFORMAT, "not valid JSON", NULL);
    expect_bad("[1, 2]", 0, AKIDB_EFORMAT, "not a JSON object", NULL);
    expect_bad("{} x", 0, AKIDB_EFORMAT, "not valid JSON", NULL);
    expect_bad("{\"a\":1,\"a\":2}", 0, AKIDB_EFORMAT, "not valid JSON", NULL);
    expect_bad("{\"__metadata__\":[1]}", 0, AKIDB_EFORMAT, "__metadata__", NULL);
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, AKIDB_EFORMAT, "__metadata__", "'k'");
    AKT_STATUS(ak_st_open("/nonexistent/dir/x.safetensors", &f), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "/nonexistent/dir/x.safetensors");
}

AKT_TEST(bad_tensor_entries)
{
#define T_(body) "{\"t.w\":" body "}"
    expect_bad(T_("3"), 0, AKIDB_EFORMAT, "'t.w'", "not a JSON object");
    expect_bad(T_("{\"shape\":[1],\"data_offsets\":[0,4]}"), 4, AKIDB_EFORMAT, "'t.w'", "missing \"dtype\"");
    expect_bad(T_("{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, AKIDB_EFORMAT, "'t.w'", "dtype");
    expect_bad(T_("{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, AKIDB_EUNSUPPORTED, "'t.w'", "unknown dtype 'F99'");
    expect_bad(T_("{\"dtype\":\"F32\",\"data_offsets\":[0,4]}"), 4, AKIDB_EFORMAT, "'t.w'", "missing \"shape\"");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":5,\"data_offsets\":[0,4]}"), 4, AKIDB_EFORMAT, "'t.w'", "\"shape\" is not an array");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}"), 4, AKIDB_EFORMAT, "'t.w'", "shape entry 0");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}"), 4, AKIDB_EFORMAT, "'t.w'", "shape entry 0");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"), 4, AKIDB_EUNSUPPORTED, "'t.w'", "9 dimensions");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1]}"), 4, AKIDB_EFORMAT, "'t.w'", "missing \"data_offsets\"");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}"), 4, AKIDB_EFORMAT, "'t.w'", "data_offsets");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}"), 4, AKIDB_EFORMAT, "'t.w'", "data_offsets");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 4, AKIDB_EFORMAT, "'t.w'", "data_offsets");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}"), 8, AKIDB_EFORMAT, "'t.w'", "data offsets [8, 4] are reversed");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[25],\"data_offsets\":[0,100]}"), 64, AKIDB_EFORMAT, "'t.w'",
               "data offsets [0, 100] exceed the data section of 64 bytes");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}"), 64, AKIDB_EFORMAT, "'t.w'",
               "hold 20 bytes but shape [2, 3] of F32 needs 24");
    expect_bad(T_("{\"dtype\":\"F16\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}"), 4, AKIDB_ERANGE, "'t.w'", "overflows");
    expect_bad(T_("{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,4]}"), 4, AKIDB_ERANGE, "'t.w'", "overflows");
    expect_bad(T_("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}"), 4, AKIDB_EFORMAT, NULL, NULL);
#undef T_
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               16, AKIDB_EFORMAT, "'b'", "overlap tensor 'a'");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
               16, AKIDB_EFORMAT, "overlap", NULL);
}

AKT_TEST(f16_all_values_exact)
{
    for (uint32_t h = 0; h < 65536; h++) {
        int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        double ref;
        if (e == 0)
            ref = ldexp(m, -24);
        else if (e == 31)
            ref = m ? NAN : INFINITY;
        else
            ref = ldexp(1024 + m, e - 25);
        if (sign)
            ref = -ref;
        float got = ak_f16_to_f32((uint16_t)h);
        if (isnan(ref)) {
            if (!isnan(got))
                AKT_FAIL_("f16 %04x: %g, want NaN", h, got);
        } else if (got != (float)ref || !signbit(got) != !signbit(ref)) {
            AKT_FAIL_("f16 %04x: %.9g, want %.9g", h, got, ref);
        }
    }
    AKT_EQ_INT(ak_f16_to_f32(0x0001) == 5.9604644775390625e-8f, 1);   /* smallest subnormal */
    AKT_EQ_INT(ak_f16_to_f32(0x03FF) == 6.0975551605224609375e-5f, 1); /* largest subnormal */
    AKT_EQ_INT(ak_f16_to_f32(0x7BFF) == 65504.0f, 1);
    AKT_EQ_INT(isinf(ak_f16_to_f32(0xFC00)) && ak_f16_to_f32(0xFC00) < 0, 1);
    AKT_EQ_INT(signbit(ak_f16_to_f32(0x8000)) != 0, 1);
}

AKT_TEST(bf16_all_values_exact)
{
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t bits = h << 16;
        float want;
        memcpy(&want, &bits, 4);
        float got = ak_bf16_to_f32((uint16_t)h);
        if (memcmp(&got, &want, 4) != 0)
            AKT_FAIL_("bf16 %04x: %.9g, want %.9g", h, got, want);
    }
    AKT_EQ_INT(ak_bf16_to_f32(0x3F80) == 1.0f, 1);
    AKT_EQ_INT(ak_bf16_to_f32(0x0001) == ldexpf(1.0f, -133), 1);    /* subnormal */
    AKT_EQ_INT(isinf(ak_bf16_to_f32(0x7F80)), 1);
    AKT_EQ_INT(ak_bf16_to_f32(0xC040) == -3.0f, 1);
}

static void write_text(const char *name, const char *text)
{
    write_raw(name, text, strlen(text));
}

AKT_TEST(sharded_index)
{
    setup();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/sharded", tmpdir);
    mkdir(dir, 0700);
    float a[2] = { 1, 2 }, b[3] = { 3, 4, 5 };
    write_st("sharded/model-00001-of-00002.safetensors",
             "{\"x.a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", a, 8);
    write_st("sharded/model-00002-of-00002.safetensors",
             "{\"x.b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", b, 12);
    write_text("sharded/model.safetensors.index.json",
               "{\"metadata\":{\"total_size\":20},\"weight_map\":{"
               "\"x.a\":\"model-00001-of-00002.safetensors\","
               "\"x.b\":\"model-00002-of-00002.safetensors\"}}");
    ak_st_set s;
    AKT_OK(ak_st_set_open(dir, &s));
    AKT_EQ_INT(s.n_files, 2);
    const ak_st_file *f;
    const ak_st_tensor *t = ak_st_set_find(&s, "x.b", &f);
    AKT_TRUE(t != NULL);
    AKT_CONTAINS(f->path, "model-00002-of-00002");
    AKT_EQ_INT(t->numel, 3);
    AKT_TRUE(ak_st_set_find(&s, "x.a", NULL) != NULL);
    AKT_TRUE(ak_st_set_find(&s, "x.c", NULL) == NULL);
    ak_st_set_close(&s);

    /* tensor listed for the wrong shard */
    write_text("sharded/model.safetensors.index.json",
               "{\"weight_map\":{\"x.a\":\"model-00002-of-00002.safetensors\"}}");
    AKT_STATUS(ak_st_set_open(dir, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "'x.a'");
    AKT_CONTAINS(akidb_last_error(), "model-00002-of-00002.safetensors");
    /* missing shard */
    write_text("sharded/model.safetensors.index.json",
               "{\"weight_map\":{\"x.a\":\"model-00009.safetensors\"}}");
    AKT_STATUS(ak_st_set_open(dir, &s), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "model-00009.safetensors");
    AKT_CONTAINS(akidb_last_error(), "'x.a'");
    /* path escaping the folder */
    write_text("sharded/model.safetensors.index.json",
               "{\"weight_map\":{\"x.a\":\"../ok.safetensors\"}}");
    AKT_STATUS(ak_st_set_open(dir, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "plain file name");
    write_text("sharded/model.safetensors.index.json", "{\"weight_map\": 3}");
    AKT_STATUS(ak_st_set_open(dir, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "weight_map");
    write_text("sharded/model.safetensors.index.json", "{oops");
    AKT_STATUS(ak_st_set_open(dir, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "model.safetensors.index.json");
    /* a bad shard names the shard and the index */
    write_st("sharded/model-00001-of-00002.safetensors", "{\"x.a\":7}", a, 8);
    write_text("sharded/model.safetensors.index.json",
               "{\"weight_map\":{\"x.a\":\"model-00001-of-00002.safetensors\"}}");
    AKT_STATUS(ak_st_set_open(dir, &s), AKIDB_EFORMAT);
    AKT_CONTAINS(akidb_last_error(), "model-00001-of-00002.safetensors: tensor 'x.a'");

    char empty[300];
    snprintf(empty, sizeof empty, "%s/empty", tmpdir);
    mkdir(empty, 0700);
    AKT_STATUS(ak_st_set_open(empty, &s), AKIDB_ENOENT);
    AKT_CONTAINS(akidb_last_error(), "model.safetensors");
}

AKT_TEST(oom_paths)
{
    const char *hdr = "{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    uint16_t d[4] = { 0x3C00, 0x3C00, 0, 0 };
    const char *path = write_st("oom.safetensors", hdr, d, 8);
    int ok = 0;
    for (long i = 0; i < 50 && !ok; i++) {
        ak_alloc_fail_after(i);
        ak_st_file f;
        akidb_status st = ak_st_open(path, &f);
        if (st == AKIDB_OK) {
            const float *v;
            float *owned;
            st = ak_st_get_f32(path, ak_st_find(&f, "a"), &v, &owned);
            if (st == AKIDB_OK) {
                ak_free(owned);
                ok = 1;
            }
            ak_st_close(&f);
        }
        long inj = ak_alloc_injected_failures();
        ak_alloc_fail_after(-1);
        if (!ok) {
            AKT_EQ_INT(st, AKIDB_ENOMEM);
            AKT_TRUE(inj > 0);
        }
    }
    AKT_TRUE(ok);
}

AKT_MAIN(AKT_REG(valid_file), AKT_REG(unaligned_f32_is_copied), AKT_REG(bad_framing),
         AKT_REG(bad_tensor_entries), AKT_REG(f16_all_values_exact),
         AKT_REG(bf16_all_values_exact), AKT_REG(sharded_index), AKT_REG(oom_paths))
