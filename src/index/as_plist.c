/*
 * as_plist.c — append-only position lists.
 */
#include "index/as_plist.h"

#include "core/as_alloc.h"

#define MAX_CHUNK 65536u

void as_plist_init(as_plist *l) {
  atomic_init(&l->count, 0);
  atomic_init(&l->first, NULL);
  l->last = NULL;
}

void as_plist_destroy(as_plist *l) {
  as_plist_chunk *c = atomic_load_explicit(&l->first, memory_order_relaxed);
  while (c) {
    as_plist_chunk *n = atomic_load_explicit(&c->next, memory_order_relaxed);
    as_free(c);
    c = n;
  }
  atomic_store_explicit(&l->first, NULL, memory_order_relaxed);
  l->last = NULL;
}

/* Chunk capacities are fixed (4, 8, ..., MAX_CHUNK, MAX_CHUNK, ...), so
 * the offset of list index n in its chunk follows from n alone; the writer
 * need not read the last chunk's header (a cache miss of its own when the
 * list is cold).  Returns the offset; 0 means n starts a new chunk. */
#define FIRST_FULL (4u * (MAX_CHUNK / 4u - 1u)) /* entries before the first MAX_CHUNK chunk */
static inline uint64_t chunk_offset(uint64_t n) {
  uint64_t m = n - AS_PLIST_INLINE;
  if (m >= FIRST_FULL) return (m - FIRST_FULL) % MAX_CHUNK;
  /* chunk k holds m in [4(2^k - 1), 4(2^(k+1) - 1)) */
  unsigned k = 63u - (unsigned)__builtin_clzll(m / 4 + 1);
  return m - 4 * ((UINT64_C(1) << k) - 1);
}

as_err as_plist_append(as_plist *l, uint64_t pos) {
  uint64_t n = atomic_load_explicit(&l->count, memory_order_relaxed);
  if (n < AS_PLIST_INLINE) {
    l->inl[n] = pos;
  } else {
    uint64_t off = chunk_offset(n);
    as_plist_chunk *c = l->last;
    if (off == 0) {
      uint32_t cap = c ? (c->cap * 2 > MAX_CHUNK ? MAX_CHUNK : c->cap * 2) : 4;
      as_plist_chunk *nc = as_malloc(sizeof *nc + sizeof(uint64_t) * cap);
      if (!nc) return AS_ENOMEM;
      atomic_init(&nc->next, NULL);
      nc->prev = c;
      nc->base = n;
      nc->cap = cap;
      if (c)
        atomic_store_explicit(&c->next, nc, memory_order_release);
      else
        atomic_store_explicit(&l->first, nc, memory_order_release);
      l->last = c = nc;
    }
    c->v[off] = pos;
  }
  atomic_store_explicit(&l->count, n + 1, memory_order_release);
  return AS_OK;
}

void as_plist_prefetch_tail(const as_plist *l) {
  uint64_t n = atomic_load_explicit(&l->count, memory_order_relaxed);
  if (n < AS_PLIST_INLINE) return;
  uint64_t off = chunk_offset(n);
  if (off) __builtin_prefetch(&l->last->v[off], 1);
}

uint64_t as_plist_bytes(const as_plist *l) {
  uint64_t b = 0;
  for (const as_plist_chunk *c = l->last; c; c = c->prev)
    b += sizeof *c + sizeof(uint64_t) * c->cap;
  return b;
}

void as_plist_seek(as_plist_cur *cur, const as_plist *l, uint64_t idx) {
  cur->l = l;
  cur->idx = idx;
  cur->c = NULL;
  if (idx < AS_PLIST_INLINE) return;
  const as_plist_chunk *c = atomic_load_explicit(&l->first, memory_order_acquire);
  while (idx - c->base >= c->cap)
    c = atomic_load_explicit(&c->next, memory_order_acquire);
  cur->c = c;
}

uint64_t as_plist_cur_get(const as_plist_cur *cur) {
  if (cur->idx < AS_PLIST_INLINE) return cur->l->inl[cur->idx];
  return cur->c->v[cur->idx - cur->c->base];
}

void as_plist_cur_next(as_plist_cur *cur) {
  cur->idx++;
  if (cur->idx < AS_PLIST_INLINE) return;
  if (!cur->c) {
    cur->c = atomic_load_explicit(&cur->l->first, memory_order_acquire);
    return;
  }
  if (cur->idx - cur->c->base >= cur->c->cap)
    cur->c = atomic_load_explicit(&cur->c->next, memory_order_acquire);
}

void as_plist_cur_prev(as_plist_cur *cur) {
  if (cur->idx == 0) return;
  cur->idx--;
  if (cur->idx < AS_PLIST_INLINE) {
    cur->c = NULL;
    return;
  }
  if (cur->idx < cur->c->base) cur->c = cur->c->prev;
}

uint64_t as_plist_lower_bound(const as_plist *l, uint64_t n, uint64_t pos) {
  uint64_t i = 0;
  for (; i < n && i < AS_PLIST_INLINE; i++)
    if (l->inl[i] >= pos) return i;
  if (i >= n) return n;
  const as_plist_chunk *c = atomic_load_explicit(&l->first, memory_order_acquire);
  for (;;) {
    uint64_t end = c->base + c->cap < n ? c->base + c->cap : n;
    if (c->v[end - 1 - c->base] >= pos) {
      uint64_t lo = c->base, hi = end - 1; /* answer in [lo, hi] */
      while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (c->v[mid - c->base] >= pos)
          hi = mid;
        else
          lo = mid + 1;
      }
      return lo;
    }
    if (end == n) return n;
    c = atomic_load_explicit(&c->next, memory_order_acquire);
  }
}
