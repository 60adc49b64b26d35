/*
 * as_swmap.c — single-writer open-addressing map.
 */
#include "index/as_swmap.h"

#include "core/as_alloc.h"

#define PTR_MASK (((uintptr_t)1 << 48) - 1)

static uintptr_t tag_of(uint64_t hash) {
  return (uintptr_t)((hash >> 48) | 1) << 48;
}

static uintptr_t make_slot(void *obj, uint64_t hash) {
  uintptr_t p = (uintptr_t)obj;
  if (p & ~PTR_MASK) return p; /* pointer uses the top bits: no tag */
  return p | tag_of(hash);
}

static as_swmap_tab *tab_new(size_t cap) {
  as_swmap_tab *t = as_malloc(sizeof *t + sizeof(uintptr_t) * cap);
  if (!t) return NULL;
  t->mask = cap - 1;
  for (size_t i = 0; i < cap; i++) atomic_init(&t->slot[i], 0);
  return t;
}

as_err as_swmap_init(as_swmap *m, as_rcu *rcu, as_swmap_hash_fn hash_of,
                     const void *hash_ctx, size_t initial_capacity) {
  size_t cap = 16;
  while (cap < initial_capacity) cap *= 2;
  as_swmap_tab *t = tab_new(cap);
  if (!t) return AS_ENOMEM;
  atomic_init(&m->tab, t);
  atomic_init(&m->old, NULL);
  atomic_init(&m->cursor, 0);
  m->count = 0;
  m->rcu = rcu;
  m->hash_of = hash_of;
  m->hash_ctx = hash_ctx;
  return AS_OK;
}

void as_swmap_destroy(as_swmap *m) {
  as_free(atomic_load_explicit(&m->tab, memory_order_relaxed));
  as_free(atomic_load_explicit(&m->old, memory_order_relaxed));
  atomic_store_explicit(&m->tab, NULL, memory_order_relaxed);
  atomic_store_explicit(&m->old, NULL, memory_order_relaxed);
}

static inline void *obj_of(uintptr_t s) {
  return (void *)((s >> 48) ? (s & PTR_MASK) : s);
}

/* The slot index of `hash`'s object in t (matched by eq, or by pointer when
 * eq is NULL), or SIZE_MAX. */
static size_t probe(as_swmap_tab *t, uint64_t hash, as_swmap_eq_fn eq,
                    const void *key) {
  uintptr_t want = tag_of(hash) >> 48;
  for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
    uintptr_t s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
    if (!s) return SIZE_MAX;
    uintptr_t tag = s >> 48;
    void *obj = obj_of(s);
    if (eq ? (!tag || tag == want) && eq(obj, key) : obj == key) return i;
  }
}

void *as_swmap_find(as_swmap *m, uint64_t hash, as_swmap_eq_fn eq,
                    const void *key) {
  as_rcu_token tok = as_rcu_read_lock(m->rcu);
  /* tab, then old, then the probes: if old is NULL here, every move into
   * tab happened before (release/acquire), so tab alone is complete. */
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_acquire);
  as_swmap_tab *o = atomic_load_explicit(&m->old, memory_order_acquire);
  void *found = NULL;
  size_t i = probe(t, hash, eq, key);
  if (i != SIZE_MAX) {
    found = obj_of(atomic_load_explicit(&t->slot[i], memory_order_relaxed));
  } else if (o) {
    i = probe(o, hash, eq, key);
    if (i != SIZE_MAX)
      found = obj_of(atomic_load_explicit(&o->slot[i], memory_order_relaxed));
  }
  as_rcu_read_unlock(m->rcu, tok);
  return found;
}

void as_swmap_prefetch(const as_swmap *m, uint64_t hash) {
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
  __builtin_prefetch(&t->slot[hash & t->mask]);
}

void *as_swmap_peek(const as_swmap *m, uint64_t hash) {
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
  uintptr_t s = atomic_load_explicit(&t->slot[hash & t->mask], memory_order_relaxed);
  uintptr_t tag = s >> 48;
  return s && (!tag || tag == tag_of(hash) >> 48) ? obj_of(s) : NULL;
}

static void put(as_swmap_tab *t, uint64_t hash, uintptr_t s) {
  size_t i = hash & t->mask;
  while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
    i = (i + 1) & t->mask;
  atomic_store_explicit(&t->slot[i], s, memory_order_release);
}

/* Old slots moved per insert while growing.  The new table starts at 35 %
 * load and grows again at 70 %: 0.7 x old capacity inserts away, so moving
 * more than 1.43 slots per insert always finishes first. */
#define MIGRATE_STEP 8

/* Moves up to n old slots into the current table; frees the old table once
 * all are moved (after readers that may still look at it are done). */
static void migrate(as_swmap *m, size_t n) {
  as_swmap_tab *o = atomic_load_explicit(&m->old, memory_order_relaxed);
  if (!o) return;
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
  size_t c = atomic_load_explicit(&m->cursor, memory_order_relaxed);
  size_t end = o->mask + 1 - c > n ? c + n : o->mask + 1;
  for (; c < end; c++) {
    uintptr_t s = atomic_load_explicit(&o->slot[c], memory_order_relaxed);
    if (s) put(t, m->hash_of(obj_of(s), m->hash_ctx), s);
  }
  atomic_store_explicit(&m->cursor, end, memory_order_release);
  if (end == o->mask + 1) {
    atomic_store_explicit(&m->old, NULL, memory_order_release);
    as_rcu_synchronize(m->rcu);
    as_free(o);
  }
}

as_err as_swmap_insert(as_swmap *m, uint64_t hash, void *obj) {
  migrate(m, MIGRATE_STEP);
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
  size_t cap = t->mask + 1;
  if ((m->count + 1) * 10 > cap * 7) {
    migrate(m, SIZE_MAX); /* never needed with MIGRATE_STEP > 1.43 */
    as_swmap_tab *nt = tab_new(cap * 2);
    if (!nt) return AS_ENOMEM;
    atomic_store_explicit(&m->cursor, 0, memory_order_relaxed);
    atomic_store_explicit(&m->old, t, memory_order_release); /* before tab */
    atomic_store_explicit(&m->tab, nt, memory_order_release);
    t = nt;
  }
  put(t, hash, make_slot(obj, hash));
  m->count++;
  return AS_OK;
}

/* While growing, an object is in the new table, the old one, or both; each
 * is visited once: the old table from the cursor on, then the new table's
 * objects except those found in the old table at or past that cursor.
 * This holds for every interleaving with the writer: old slots below the
 * cursor were moved before it was stored (release/acquire); an old table
 * that finished moving holds nothing that is not in its successor, so any
 * cursor splits it correctly; and t may equal o (tab loaded just before a
 * growth), in which case each slot is visited in exactly one of the loops.
 * Tables stay allocated while we hold the RCU read lock. */
void as_swmap_foreach(as_swmap *m, int (*fn)(void *arg, void *obj),
                      void *arg) {
  as_rcu_token tok = as_rcu_read_lock(m->rcu);
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_acquire);
  as_swmap_tab *o = atomic_load_explicit(&m->old, memory_order_acquire);
  size_t c = o ? atomic_load_explicit(&m->cursor, memory_order_acquire) : 0;
  if (o) {
    for (size_t i = c; i <= o->mask; i++) {
      uintptr_t s = atomic_load_explicit(&o->slot[i], memory_order_acquire);
      if (s && fn(arg, obj_of(s))) goto out;
    }
  }
  for (size_t i = 0; i <= t->mask; i++) {
    uintptr_t s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
    if (!s) continue;
    void *obj = obj_of(s);
    if (o) {
      size_t at = probe(o, m->hash_of(obj, m->hash_ctx), NULL, obj);
      if (at != SIZE_MAX && at >= c) continue; /* visited above */
    }
    if (fn(arg, obj)) break;
  }
out:
  as_rcu_read_unlock(m->rcu, tok);
}

uint64_t as_swmap_bytes(as_swmap *m) {
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
  as_swmap_tab *o = atomic_load_explicit(&m->old, memory_order_relaxed);
  uint64_t b = sizeof *t + sizeof(uintptr_t) * (t->mask + 1);
  if (o) b += sizeof *o + sizeof(uintptr_t) * (o->mask + 1);
  return b;
}
