/*
 * as_arena.c — chunked bump allocator.
 */
#include "index/as_arena.h"

#include "core/as_alloc.h"
#include "core/as_common.h"

struct as_arena_chunk {
  as_arena_chunk *next;
  size_t cap, used;
  void *adopted; /* non-NULL: the chunk describes an adopted buffer */
  _Alignas(16) unsigned char data[];
};

void as_arena_init(as_arena *a, size_t chunk_size) {
  a->chunks = a->cur = NULL;
  a->chunk_size = chunk_size ? chunk_size : (4u << 20);
  a->used = a->reserved = 0;
}

void *as_arena_alloc(as_arena *a, size_t n) {
  n = AS_ALIGN_UP(n, (size_t)8);
  as_arena_chunk *c = a->cur;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > a->chunk_size / 4 ? n : a->chunk_size;
    c = as_malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->cap = cap;
    c->used = 0;
    c->adopted = NULL;
    c->next = a->chunks;
    a->chunks = c;
    a->reserved += cap;
    /* A dedicated chunk for one large record leaves `cur` alone so the
     * current chunk's free space is not wasted. */
    if (cap == a->chunk_size || !a->cur) a->cur = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  a->used += n;
  return p;
}

as_err as_arena_adopt(as_arena *a, void *buf, size_t len) {
  as_arena_chunk *c = as_malloc(sizeof *c);
  if (!c) return AS_ENOMEM;
  c->cap = c->used = 0;
  c->adopted = buf;
  c->next = a->chunks;
  a->chunks = c;
  a->used += len;
  a->reserved += len;
  return AS_OK;
}

void as_arena_destroy(as_arena *a) {
  as_arena_chunk *c = a->chunks;
  while (c) {
    as_arena_chunk *n = c->next;
    as_free(c->adopted);
    as_free(c);
    c = n;
  }
  a->chunks = a->cur = NULL;
  a->used = a->reserved = 0;
}
