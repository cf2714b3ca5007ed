/*
 * arena.c - bump allocator for scratch memory of one call.  Each block keeps
 * a header followed by 64-byte aligned space; allocation walks no lists.
 */
#include "common.h"

#include <string.h>

struct ak_arena_block {
    ak_arena_block *next;
    size_t size;   /* usable bytes */
    size_t used;
    /* data follows, 64-byte aligned */
};

#define AK_ARENA_HDR ((sizeof(ak_arena_block) + 63) & ~(size_t)63)

void ak_arena_init(ak_arena *a, size_t block_size)
{
    AK_ASSERT(a != NULL);
    a->head = NULL;
    a->block_size = block_size ? block_size : (size_t)1 << 20;
}

void *ak_arena_alloc(ak_arena *a, size_t n)
{
    AK_ASSERT(a != NULL);
    n = (n + 63) & ~(size_t)63;
    if (n == 0)
        n = 64;
    ak_arena_block *b = a->head;
    if (b == NULL || b->size - b->used < n) {
        size_t sz = a->block_size > n ? a->block_size : n;
        ak_arena_block *nb = ak_malloc_aligned(AK_ARENA_HDR + sz, 64);
        if (nb == NULL)
            return NULL;
        nb->size = sz;
        nb->used = 0;
        nb->next = b;
        a->head = b = nb;
    }
    void *p = (char *)b + AK_ARENA_HDR + b->used;
    b->used += n;
    return p;
}

void ak_arena_reset(ak_arena *a)
{
    AK_ASSERT(a != NULL);
    ak_arena_block *b = a->head;
    if (b == NULL)
        return;
    /* keep the largest block: the last allocated is usually the biggest */
    while (b->next) {
        ak_arena_block *n = b->next;
        if (n->size > b->size) {
            ak_free_aligned(b);
            b = n;
        } else {
            b->next = n->next;
            ak_free_aligned(n);
        }
    }
    b->used = 0;
    a->head = b;
}

void ak_arena_free(ak_arena *a)
{
    AK_ASSERT(a != NULL);
    ak_arena_block *b = a->head;
    while (b) {
        ak_arena_block *n = b->next;
        ak_free_aligned(b);
        b = n;
    }
    a->head = NULL;
}
