/*
 * fuzz_safetensors.c - libFuzzer target over the safetensors header parser
 * (ak_st_parse) and the float conversion of every tensor it accepts.  Any
 * accepted descriptor must stay inside the input: the conversion reads every
 * byte of every tensor, so AddressSanitizer flags an out-of-range one.
 */
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ak_st_file f;
    if (ak_st_parse("fuzz.safetensors", data, size, &f) != AKIDB_OK)
        return 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const ak_st_tensor *t = &f.tensors[i];
        AK_ASSERT(t->begin <= t->end && t->end <= f.data_size);
        AK_ASSERT(t->end - t->begin == t->numel * ak_dtype_size(t->dtype));
        AK_ASSERT(ak_st_find(&f, t->name) != NULL);
        const float *v;
        float *owned;
        if (ak_st_get_f32("fuzz.safetensors", t, &v, &owned) == AKIDB_OK) {
            volatile float sink = 0;
            for (size_t k = 0; k < t->numel; k++)
                sink += v[k];
            (void)sink;
            ak_free(owned);
        }
    }
    ak_st_close(&f);
    return 0;
}
