/*
 * as_plist.h — an append-only, sorted list of positions (one per entity and
 * one per event type) with one writer and lock-free readers.
 *
 * The first two entries live inline (an entity with one or two events costs
 * no extra allocation); the rest live in chunks whose capacity doubles from
 * 4 up to 65,536 entries.  Chunks never move or shrink.  The writer stores an
 * entry and then publishes the new count with release ordering; readers load
 * the count with acquire ordering and may read every entry below it.
 *
 * Entries are positions in ascending order (the writer appends in position
 * order), so "entries <= committed" is always a prefix.
 */
#ifndef AS_PLIST_H
#define AS_PLIST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "allsource.h"

#define AS_PLIST_INLINE 2

typedef struct as_plist_chunk as_plist_chunk;

typedef struct as_plist {
  _Atomic uint64_t count;
  _Atomic(as_plist_chunk *) first; /* chunk holding entry AS_PLIST_INLINE */
  as_plist_chunk *last;            /* writer only */
  uint64_t inl[AS_PLIST_INLINE];
} as_plist;

struct as_plist_chunk {
  _Atomic(as_plist_chunk *) next;
  as_plist_chunk *prev;
  uint64_t base; /* list index of v[0] */
  uint32_t cap;
  uint64_t v[];
};

void as_plist_init(as_plist *l);
void as_plist_destroy(as_plist *l);
/** Writer: appends `pos` (must exceed every entry).  AS_ENOMEM. */
as_err as_plist_append(as_plist *l, uint64_t pos);
/** Writer: a prefetch hint for the slot the next append writes. */
void as_plist_prefetch_tail(const as_plist *l);
/** Bytes allocated for chunks (for memory accounting; writer only). */
uint64_t as_plist_bytes(const as_plist *l);

static inline uint64_t as_plist_count(const as_plist *l) {
  return atomic_load_explicit(&l->count, memory_order_acquire);
}

/** Reader cursor: walks entries [0, limit) forward or backward. */
typedef struct as_plist_cur {
  const as_plist *l;
  const as_plist_chunk *c; /* chunk of idx, NULL while idx is inline */
  uint64_t idx;            /* current index */
} as_plist_cur;

/** Positions the cursor at index `idx` (< count observed by the caller). */
void as_plist_seek(as_plist_cur *cur, const as_plist *l, uint64_t idx);
/** The entry under the cursor. */
uint64_t as_plist_cur_get(const as_plist_cur *cur);
/** Moves forward/backward by one; the caller checks bounds. */
void as_plist_cur_next(as_plist_cur *cur);
void as_plist_cur_prev(as_plist_cur *cur);

/** Reader: the first index in [0, n) whose entry is >= pos (n if none). */
uint64_t as_plist_lower_bound(const as_plist *l, uint64_t n, uint64_t pos);

#endif /* AS_PLIST_H */
