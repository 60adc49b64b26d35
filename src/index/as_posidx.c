/*
 * as_posidx.c — two-level position index with a small first array.
 */
#include "index/as_posidx.h"

#include "core/as_alloc.h"

#define TOP_SIZE ((size_t)1 << (32 - AS_POSIDX_BLOCK_BITS))
#define BLOCK_SIZE ((size_t)1 << AS_POSIDX_BLOCK_BITS)

as_err as_posidx_init(as_posidx *ix) {
  /* not zeroed: a slot is stored before its position is committed, and
   * nothing reads past the committed position */
  ix->first = as_malloc(AS_POSIDX_FIRST * sizeof *ix->first);
  ix->top = NULL;
  ix->blocks = 0;
  return ix->first ? AS_OK : AS_ENOMEM;
}

void as_posidx_destroy(as_posidx *ix) {
  if (ix->top) {
    /* blocks are allocated in order: stop at the first hole */
    for (size_t i = 0; i < TOP_SIZE && ix->top[i]; i++)
      as_pages_free(ix->top[i], BLOCK_SIZE * sizeof(void *));
    as_pages_free(ix->top, TOP_SIZE * sizeof *ix->top);
    ix->top = NULL;
  }
  as_free(ix->first);
  ix->first = NULL;
}

as_err as_posidx_set(as_posidx *ix, uint64_t pos, void *rec) {
  if (pos == 0 || pos >= AS_POSIDX_MAX) return AS_ELIMIT;
  uint64_t i = pos - 1;
  if (i < AS_POSIDX_FIRST) {
    ix->first[i] = rec;
    return AS_OK;
  }
  if (!ix->top) {
    ix->top = as_pages_alloc(TOP_SIZE * sizeof *ix->top);
    if (!ix->top) return AS_ENOMEM;
  }
  size_t b = (size_t)(i >> AS_POSIDX_BLOCK_BITS);
  if (!ix->top[b]) {
    ix->top[b] = as_pages_alloc(BLOCK_SIZE * sizeof(void *));
    if (!ix->top[b]) return AS_ENOMEM;
    ix->blocks++;
  }
  ix->top[b][i & (BLOCK_SIZE - 1)] = rec;
  return AS_OK;
}

uint64_t as_posidx_bytes(const as_posidx *ix) {
  uint64_t b = AS_POSIDX_FIRST * sizeof(void *);
  if (ix->top) b += TOP_SIZE * sizeof *ix->top;
  return b + ix->blocks * BLOCK_SIZE * sizeof(void *);
}
