/*
 * as_map.c — open-addressing byte-string map.
 */
#include "core/as_map.h"

#include <string.h>

#include "core/as_alloc.h"
#include "core/as_rand.h"

void as_map_init(as_map *m) {
  m->slots = NULL;
  m->cap = m->count = 0;
  m->hk.k0 = m->hk.k1 = 0; /* keyed at the first insert (grow) */
}

void as_map_destroy(as_map *m, void (*free_val)(void *)) {
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->slots[i].key) continue;
    as_free(m->slots[i].key);
    if (free_val) free_val(m->slots[i].val);
  }
  as_free(m->slots);
  m->slots = NULL;
  m->cap = m->count = 0;
}

static size_t probe(const as_map *m, const char *key, size_t len,
                    uint64_t h) {
  size_t mask = m->cap - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const as_map_slot *s = &m->slots[i];
    if (!s->key) return i;
    if (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0)
      return i;
  }
}

const as_map_slot *as_map_find(const as_map *m, const char *key, size_t len) {
  if (!m->count) return NULL;
  size_t i = probe(m, key, len, as_hash(&m->hk, key, len));
  return m->slots[i].key ? &m->slots[i] : NULL;
}

void *as_map_get(const as_map *m, const char *key, size_t len) {
  const as_map_slot *s = as_map_find(m, key, len);
  return s ? s->val : NULL;
}

static as_err grow(as_map *m) {
  if (!m->cap) {
    /* An empty map has no hashed keys yet: key its hash now, so maps that
     * never hold anything cost no getrandom system call (several per store
     * open and per analytics request before). */
    as_rand r;
    as_rand_seed(&r);
    m->hk.k0 = as_rand_next(&r);
    m->hk.k1 = as_rand_next(&r);
  }
  size_t cap = m->cap ? m->cap * 2 : 16;
  as_map_slot *ns = as_calloc(cap, sizeof *ns);
  if (!ns) return AS_ENOMEM;
  as_map_slot *old = m->slots;
  size_t ocap = m->cap;
  m->slots = ns;
  m->cap = cap;
  for (size_t i = 0; i < ocap; i++) {
    if (!old[i].key) continue;
    size_t j = old[i].hash & (cap - 1);
    while (ns[j].key) j = (j + 1) & (cap - 1);
    ns[j] = old[i];
  }
  as_free(old);
  return AS_OK;
}

as_err as_map_put(as_map *m, const char *key, size_t len, void *val,
                  void **old) {
  if (old) *old = NULL;
  if (len > UINT32_MAX) return AS_ELIMIT;
  if ((m->count + 1) * 4 > m->cap * 3) {
    as_err rc = grow(m);
    if (rc) return rc;
  }
  uint64_t h = as_hash(&m->hk, key, len);
  size_t i = probe(m, key, len, h);
  as_map_slot *s = &m->slots[i];
  if (s->key) {
    if (old) *old = s->val;
    s->val = val;
    return AS_OK;
  }
  s->key = as_malloc(len + 1);
  if (!s->key) return AS_ENOMEM;
  memcpy(s->key, key, len);
  s->key[len] = '\0';
  s->key_len = (uint32_t)len;
  s->hash = h;
  s->val = val;
  m->count++;
  return AS_OK;
}

void **as_map_slot_of(as_map *m, const char *key, size_t len) {
  if (len > UINT32_MAX) return NULL;
  if ((m->count + 1) * 4 > m->cap * 3 && grow(m)) return NULL;
  uint64_t h = as_hash(&m->hk, key, len);
  as_map_slot *s = &m->slots[probe(m, key, len, h)];
  if (!s->key) {
    s->key = as_malloc(len + 1);
    if (!s->key) return NULL;
    memcpy(s->key, key, len);
    s->key[len] = '\0';
    s->key_len = (uint32_t)len;
    s->hash = h;
    s->val = NULL;
    m->count++;
  }
  return &s->val;
}

void *as_map_del(as_map *m, const char *key, size_t len) {
  if (!m->count) return NULL;
  size_t mask = m->cap - 1;
  size_t i = probe(m, key, len, as_hash(&m->hk, key, len));
  if (!m->slots[i].key) return NULL;
  void *val = m->slots[i].val;
  as_free(m->slots[i].key);
  m->slots[i].key = NULL;
  m->count--;
  /* Backward-shift the cluster that follows. */
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->slots[j].key) break;
    size_t home = m->slots[j].hash & mask;
    bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      m->slots[i] = m->slots[j];
      m->slots[j].key = NULL;
      i = j;
    }
  }
  return val;
}

const as_map_slot *as_map_next(const as_map *m, size_t *i) {
  while (*i < m->cap) {
    const as_map_slot *s = &m->slots[(*i)++];
    if (s->key) return s;
  }
  return NULL;
}
