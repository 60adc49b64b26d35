/*
 * as_swmap.h — a single-writer hash map of object pointers with lock-free
 * readers (open addressing, linear probing, RCU-protected resizing).
 *
 * Growing is incremental: when the table passes 70 % load the writer
 * publishes a table twice the size and from then on moves MIGRATE_STEP slots
 * of the old table into it at every insert, so no insert ever rehashes the
 * whole map (a stop-the-world rehash of 4 M event ids held the store's
 * writer — and every appender — for about 100 ms).  Until the move is
 * complete, readers look in the new table and then in the old one, which
 * stays untouched (and complete for what it held) until it is freed after
 * an RCU grace period.
 *
 * The map stores pointers to caller-owned objects that carry their own key
 * (an entity, an event type, an event record).  Objects must outlive the map.
 * Each slot keeps 16 bits of the hash in the pointer's unused top bits, so a
 * probe rarely touches a non-matching object.  There is no deletion: the
 * engine's keys live as long as the store.
 *
 * Threads: one writer (the store's writer role) calls insert; any thread
 * calls find/foreach concurrently.
 */
#ifndef AS_SWMAP_H
#define AS_SWMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_rcu.h"

typedef struct as_swmap_tab {
  size_t mask;
  _Atomic uintptr_t slot[];
} as_swmap_tab;

/** Returns the hash of a stored object (used when the table grows). */
typedef uint64_t (*as_swmap_hash_fn)(const void *obj, const void *ctx);
/** True if the stored object has the key `key`. */
typedef bool (*as_swmap_eq_fn)(const void *obj, const void *key);

typedef struct as_swmap {
  _Atomic(as_swmap_tab *) tab; /* owned; where inserts go */
  _Atomic(as_swmap_tab *) old; /* owned; while growing: the previous table */
  _Atomic size_t cursor;       /* old slots [0, cursor) were moved to tab */
  size_t count;                /* writer only */
  as_rcu *rcu;                 /* borrowed; shared by the store's maps */
  as_swmap_hash_fn hash_of;
  const void *hash_ctx;
} as_swmap;

as_err as_swmap_init(as_swmap *m, as_rcu *rcu, as_swmap_hash_fn hash_of,
                     const void *hash_ctx, size_t initial_capacity);
void as_swmap_destroy(as_swmap *m);

/** Reader: the object with `hash` for which eq(obj, key) holds, or NULL. */
void *as_swmap_find(as_swmap *m, uint64_t hash, as_swmap_eq_fn eq,
                    const void *key);

/** Writer: inserts `obj` (the caller guarantees its key is not present). */
as_err as_swmap_insert(as_swmap *m, uint64_t hash, void *obj);

/** Writer: prefetch hints.  as_swmap_prefetch loads the slot where a probe
 *  for `hash` starts; as_swmap_peek returns the object in that slot if its
 *  hash tag matches (a candidate to prefetch, not a lookup: it may be
 *  another key's, and the key may be further along the probe). */
void as_swmap_prefetch(const as_swmap *m, uint64_t hash);
void *as_swmap_peek(const as_swmap *m, uint64_t hash);

/** Reader: calls fn(arg, obj) for every object; stops when fn returns
 *  non-zero.  Objects inserted concurrently may or may not be visited. */
void as_swmap_foreach(as_swmap *m, int (*fn)(void *arg, void *obj), void *arg);

/** Bytes used by the table (for memory accounting). */
uint64_t as_swmap_bytes(as_swmap *m);

#endif /* AS_SWMAP_H */
