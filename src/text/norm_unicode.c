/*
 * norm_unicode.c - the NFC, NFD, NFKC and NFKD normalizers of tokenizer.json
 * ({"type": "NFC"} ...), over unicode_norm.c.  Like Hugging Face tokenizers
 * they use the Unicode 9.0 data of its normalisation crate, and take no
 * options (any other field of the object is ignored, as serde does there).
 *
 * per_char is true: cutting the text at an ASCII whitespace character never
 * changes a normal form.  Tab, LF, VT, FF, CR and space are starters (class
 * 0) that decompose to themselves and are neither the first nor the second
 * code point of any composition pair, so canonical ordering never moves a
 * character across them and composition never reaches across them (a
 * starter in between blocks it); the forms of the pieces, joined, are the
 * form of the whole.  test_unicode checks this on random texts.
 */
#include "unicode_norm.h"

typedef struct nf_norm {
    ak_normalizer base;
    aku_nform form;
} nf_norm;

extern const ak_norm_kind ak_norm_nfc, ak_norm_nfd, ak_norm_nfkc, ak_norm_nfkd;

/* The normalizers hold no options: one shared, never-freed object each. */
static nf_norm nf_objs[4] = {
    {{&ak_norm_nfd}, AKU_NFD},
    {{&ak_norm_nfc}, AKU_NFC},
    {{&ak_norm_nfkd}, AKU_NFKD},
    {{&ak_norm_nfkc}, AKU_NFKC},
};

static akidb_status nf_load(aku_nform form, ak_normalizer **out)
{
    *out = &nf_objs[form].base;
    return AKIDB_OK;
}

static akidb_status nfd_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    (void)j, (void)ld;
    return nf_load(AKU_NFD, out);
}

static akidb_status nfc_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    (void)j, (void)ld;
    return nf_load(AKU_NFC, out);
}

static akidb_status nfkd_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    (void)j, (void)ld;
    return nf_load(AKU_NFKD, out);
}

static akidb_status nfkc_from_json(const json_t *j, const ak_tok_load *ld, ak_normalizer **out)
{
    (void)j, (void)ld;
    return nf_load(AKU_NFKC, out);
}

static akidb_status nf_apply(const ak_normalizer *nz, const uint32_t *in, size_t n,
                             ak_tok_scratch *scr, ak_cpbuf *out)
{
    (void)scr;
    return aku_normalize(((const nf_norm *)nz)->form, in, n, out);
}

static void nf_free(ak_normalizer *nz)
{
    (void)nz;
}

const ak_norm_kind ak_norm_nfd = {"NFD", nfd_from_json, nf_apply, nf_free, true};
const ak_norm_kind ak_norm_nfc = {"NFC", nfc_from_json, nf_apply, nf_free, true};
const ak_norm_kind ak_norm_nfkd = {"NFKD", nfkd_from_json, nf_apply, nf_free, true};
const ak_norm_kind ak_norm_nfkc = {"NFKC", nfkc_from_json, nf_apply, nf_free, true};
