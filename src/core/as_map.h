/*
 * as_map.h — a byte-string-keyed hash map for state touched by one thread
 * at a time (projection state, registries, per-request scratch).  Callers
 * lock it themselves when they share it.
 *
 * Keys are copied into the map (and freed with it); values are opaque
 * pointers the caller owns unless it passes a free function to
 * as_map_destroy().  Open addressing with linear probing and backward-shift
 * deletion; keyed SipHash so client-chosen keys cannot degrade it.
 */
#ifndef AS_MAP_H
#define AS_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_hash.h"

typedef struct as_map_slot {
  char *key; /* owned, NUL-terminated copy; NULL = empty */
  uint32_t key_len;
  uint64_t hash;
  void *val;
} as_map_slot;

typedef struct as_map {
  as_map_slot *slots; /* owned */
  size_t cap, count;
  as_hash_key hk;
} as_map;

/** Initializes an empty map (allocates nothing). */
void as_map_init(as_map *m);
/** Frees keys and the table; calls free_val(val) on each value if given. */
void as_map_destroy(as_map *m, void (*free_val)(void *));
/** The value for key, or NULL if absent. */
void *as_map_get(const as_map *m, const char *key, size_t len);
/** The slot for key (to read the stored key), or NULL. */
const as_map_slot *as_map_find(const as_map *m, const char *key, size_t len);
/** Sets key -> val.  If the key exists, stores the old value in *old (if
 *  old is non-NULL) and replaces it; else *old = NULL. */
as_err as_map_put(as_map *m, const char *key, size_t len, void *val,
                  void **old);
/** The value slot for key, inserting key with value NULL when absent (one
 *  lookup instead of get + put).  NULL when out of memory.  The slot stays
 *  valid until the next insertion or deletion. */
void **as_map_slot_of(as_map *m, const char *key, size_t len);

/** Removes key; returns its value or NULL. */
void *as_map_del(as_map *m, const char *key, size_t len);
/** Iteration: *i starts at 0; returns the next occupied slot or NULL. */
const as_map_slot *as_map_next(const as_map *m, size_t *i);

static inline size_t as_map_count(const as_map *m) { return m->count; }

#endif /* AS_MAP_H */
