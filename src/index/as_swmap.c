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
  m->count = 0;
  m->rcu = rcu;
  m->hash_of = hash_of;
  m->hash_ctx = hash_ctx;
  return AS_OK;
}

void as_swmap_destroy(as_swmap *m) {
  as_free(atomic_load_explicit(&m->tab, memory_order_relaxed));
  atomic_store_explicit(&m->tab, NULL, memory_order_relaxed);
}

void *as_swmap_find(as_swmap *m, uint64_t hash, as_swmap_eq_fn eq,
                    const void *key) {
  as_rcu_token tok = as_rcu_read_lock(m->rcu);
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_acquire);
  uintptr_t want = tag_of(hash) >> 48;
  void *found = NULL;
  for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
    uintptr_t s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
    if (!s) break;
    uintptr_t tag = s >> 48;
    void *obj = (void *)(tag ? (s & PTR_MASK) : s);
    if ((!tag || tag == want) && eq(obj, key)) {
      found = obj;
      break;
    }
  }
  as_rcu_read_unlock(m->rcu, tok);
  return found;
}

static void put(as_swmap_tab *t, uint64_t hash, uintptr_t s) {
  size_t i = hash & t->mask;
  while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
    i = (i + 1) & t->mask;
  atomic_store_explicit(&t->slot[i], s, memory_order_release);
}

as_err as_swmap_insert(as_swmap *m, uint64_t hash, void *obj) {
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
  size_t cap = t->mask + 1;
  if ((m->count + 1) * 10 > cap * 7) {
    as_swmap_tab *nt = tab_new(cap * 2);
    if (!nt) return AS_ENOMEM;
    for (size_t i = 0; i < cap; i++) {
      uintptr_t s = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
      if (!s) continue;
      void *o = (void *)((s >> 48) ? (s & PTR_MASK) : s);
      put(nt, m->hash_of(o, m->hash_ctx), s);
    }
    atomic_store_explicit(&m->tab, nt, memory_order_release);
    as_rcu_synchronize(m->rcu);
    as_free(t);
    t = nt;
  }
  put(t, hash, make_slot(obj, hash));
  m->count++;
  return AS_OK;
}

void as_swmap_foreach(as_swmap *m, int (*fn)(void *arg, void *obj),
                      void *arg) {
  as_rcu_token tok = as_rcu_read_lock(m->rcu);
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_acquire);
  for (size_t i = 0; i <= t->mask; i++) {
    uintptr_t s = atomic_load_explicit(&t->slot[i], memory_order_acquire);
    if (!s) continue;
    void *o = (void *)((s >> 48) ? (s & PTR_MASK) : s);
    if (fn(arg, o)) break;
  }
  as_rcu_read_unlock(m->rcu, tok);
}

uint64_t as_swmap_bytes(as_swmap *m) {
  as_swmap_tab *t = atomic_load_explicit(&m->tab, memory_order_relaxed);
  return sizeof *t + sizeof(uintptr_t) * (t->mask + 1);
}
