/*
 * kinds.c - the table of index kinds and the calls that do not belong to one
 * kind: finding a kind by name or by the magic of its image, creating,
 * loading and freeing an index through its kind.
 *
 * Why a table: the store holds an ak_index (kind + object) and calls
 * through it, as SQLite reaches its operating system through a method
 * table, so a new index type is one file defining its ak_index_kind and one
 * line below - the store, the snapshot format and the tests that go over
 * every kind need no change.  A kind's image starts with its own magic,
 * which is how a snapshot records the kind without a field of its own
 * (images written before there were kinds are "hnsw" images and load as
 * such).
 */
#include "index/index.h"

#include <stdio.h>
#include <string.h>

/* First entry: the default kind. */
const ak_index_kind *const ak_index_kinds[] = {
    &ak_index_hnsw,
    &ak_index_flat,
    NULL,
};

const ak_index_kind *ak_index_kind_find(const char *name)
{
    for (size_t i = 0; name && ak_index_kinds[i]; i++)
        if (strcmp(ak_index_kinds[i]->name, name) == 0)
            return ak_index_kinds[i];
    return NULL;
}

const ak_index_kind *ak_index_kind_of_image(const void *buf, size_t len)
{
    if (len < 8)
        return NULL;
    for (size_t i = 0; ak_index_kinds[i]; i++)
        if (memcmp(buf, ak_index_kinds[i]->magic, 8) == 0)
            return ak_index_kinds[i];
    return NULL;
}

akidb_status ak_index_create(const ak_index_kind *k, const ak_index_params *p, ak_index *out)
{
    AK_ASSERT(p && out);
    if (!k)
        k = ak_index_kinds[0];
    void *impl;
    akidb_status st = k->create(p, &impl);
    if (st != AKIDB_OK)
        return ak_fail_prefix(st, "%s index", k->name);
    out->kind = k;
    out->impl = impl;
    return AKIDB_OK;
}

akidb_status ak_index_load_buf(const void *buf, size_t len, ak_index *out, size_t *used)
{
    AK_ASSERT((buf || len == 0) && out);
    const ak_index_kind *k = ak_index_kind_of_image(buf, len);
    if (!k) {
        char magic[40] = "";
        const unsigned char *p = buf;
        for (size_t i = 0; i < len && i < 8; i++)
            snprintf(magic + 3 * i, sizeof magic - 3 * i, "%02x ", p[i]);
        return ak_fail(AKIDB_ECORRUPT, "index image of no known kind (first bytes %s)", magic);
    }
    void *impl;
    akidb_status st = k->load_buf(buf, len, &impl, used);
    if (st != AKIDB_OK)
        return st;
    out->kind = k;
    out->impl = impl;
    return AKIDB_OK;
}

void ak_index_free(ak_index *ix)
{
    if (!ix || !ix->kind)
        return;
    ix->kind->free(ix->impl);
    ix->kind = NULL;
    ix->impl = NULL;
}
