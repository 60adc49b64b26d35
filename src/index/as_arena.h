/*
 * as_arena.h — append-only memory for event records.
 *
 * The writer allocates each committed event's record (its WAL frame) here.
 * Records never move and are never freed before as_arena_destroy(), so
 * readers can hold pointers to them for the life of the store without any
 * locking.  Only one thread (the writer role) may allocate at a time.
 */
#ifndef AS_ARENA_H
#define AS_ARENA_H

#include <stddef.h>
#include <stdint.h>

#include "allsource.h"

typedef struct as_arena_chunk as_arena_chunk;

typedef struct as_arena {
  as_arena_chunk *chunks; /* all chunks, newest first (owned) */
  as_arena_chunk *cur;    /* chunk being filled */
  size_t chunk_size;      /* default capacity of a new chunk */
  uint64_t used;          /* bytes handed out */
  uint64_t reserved;      /* bytes allocated from the system */
} as_arena;

void as_arena_init(as_arena *a, size_t chunk_size);
/** Returns `n` bytes aligned to 8, or NULL when out of memory. */
void *as_arena_alloc(as_arena *a, size_t n);
/** Takes ownership of `buf` (allocated with as_malloc) so it is freed with
 *  the arena; its bytes count as used. */
as_err as_arena_adopt(as_arena *a, void *buf, size_t len);
/** Frees every chunk.  Pointers into the arena become invalid. */
void as_arena_destroy(as_arena *a);

#endif /* AS_ARENA_H */
