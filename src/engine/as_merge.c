/*
 * as_merge.c — shallow object merge over spans.
 */
#include "engine/as_merge.h"

#include <string.h>

#include "core/as_alloc.h"

#define LINEAR_MAX 8u

void as_merge_init(as_merge *m) { memset(m, 0, sizeof *m); }

void as_merge_destroy(as_merge *m) {
  for (uint32_t i = 0; i < m->ndecoded; i++) as_free(m->decoded[i]);
  as_free(m->decoded);
  as_free(m->ents);
  as_free(m->idx);
  memset(m, 0, sizeof *m);
}

static uint32_t fnv1a(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static as_err rebuild_index(as_merge *m, uint32_t cap) {
  uint32_t *idx = as_malloc(sizeof *idx * cap);
  if (!idx) return AS_ENOMEM;
  memset(idx, 0xff, sizeof *idx * cap);
  for (uint32_t i = 0; i < m->n; i++) {
    uint32_t j = m->ents[i].hash & (cap - 1);
    while (idx[j] != UINT32_MAX) j = (j + 1) & (cap - 1);
    idx[j] = i;
  }
  as_free(m->idx);
  m->idx = idx;
  m->idx_cap = cap;
  return AS_OK;
}

static int64_t find(const as_merge *m, const char *k, uint32_t klen,
                    uint32_t h) {
  if (!m->idx) {
    for (uint32_t i = 0; i < m->n; i++)
      if (m->ents[i].hash == h && m->ents[i].kdec_len == klen &&
          memcmp(m->ents[i].kdec, k, klen) == 0)
        return i;
    return -1;
  }
  for (uint32_t j = h & (m->idx_cap - 1);; j = (j + 1) & (m->idx_cap - 1)) {
    uint32_t i = m->idx[j];
    if (i == UINT32_MAX) return -1;
    if (m->ents[i].hash == h && m->ents[i].kdec_len == klen &&
        memcmp(m->ents[i].kdec, k, klen) == 0)
      return i;
  }
}

as_err as_merge_object(as_merge *m, as_json_val obj) {
  as_json_iter it;
  as_json_val k, v;
  as_json_iter_init(&it, obj);
  /* Payloads of one entity mostly repeat their keys in the same order: the
   * entry after the previous key's is tried first, by its raw text (equal
   * raw keys decode equally), before hashing and the lookup. */
  uint32_t hint = 0;
  while (as_json_obj_next(&it, &k, &v)) {
    if (hint < m->n && m->ents[hint].kraw_len == k.len &&
        memcmp(m->ents[hint].kraw, k.p, k.len) == 0) {
      m->ents[hint].val = v.p;
      m->ents[hint].val_len = (uint32_t)v.len;
      hint++;
      continue;
    }
    const char *kdec = k.p + 1;
    uint32_t klen = (uint32_t)(k.len - 2);
    char *dec = NULL;
    if (memchr(k.p, '\\', k.len)) {
      dec = as_malloc(k.len);
      if (!dec) return AS_ENOMEM;
      size_t n;
      as_json_str_decode(k, dec, &n);
      kdec = dec;
      klen = (uint32_t)n;
    }
    uint32_t h = fnv1a(kdec, klen);
    int64_t i = find(m, kdec, klen, h);
    if (i >= 0) {
      m->ents[i].val = v.p;
      m->ents[i].val_len = (uint32_t)v.len;
      hint = (uint32_t)i + 1;
      as_free(dec);
      continue;
    }
    if (dec) {
      char **d = as_realloc(m->decoded, sizeof *d * (m->ndecoded + 1));
      if (!d) {
        as_free(dec);
        return AS_ENOMEM;
      }
      m->decoded = d;
      m->decoded[m->ndecoded++] = dec;
    }
    if (m->n == m->cap) {
      uint32_t cap = m->cap ? m->cap * 2 : 4;
      as_merge_ent *e = as_realloc(m->ents, sizeof *e * cap);
      if (!e) return AS_ENOMEM;
      m->ents = e;
      m->cap = cap;
    }
    as_merge_ent *e = &m->ents[m->n++];
    e->kraw = k.p;
    e->kraw_len = (uint32_t)k.len;
    e->kdec = kdec;
    e->kdec_len = klen;
    e->val = v.p;
    e->val_len = (uint32_t)v.len;
    e->hash = h;
    hint = m->n;
    if (m->n > LINEAR_MAX && (m->n * 2 > m->idx_cap)) {
      as_err rc = rebuild_index(m, m->idx_cap ? m->idx_cap * 2 : 32);
      if (rc) return rc;
    } else if (m->idx) {
      uint32_t j = h & (m->idx_cap - 1);
      while (m->idx[j] != UINT32_MAX) j = (j + 1) & (m->idx_cap - 1);
      m->idx[j] = m->n - 1;
    }
  }
  return AS_OK;
}

as_err as_merge_emit(const as_merge *m, as_buf *out) {
  as_buf_putc(out, '{');
  for (uint32_t i = 0; i < m->n; i++) {
    if (i) as_buf_putc(out, ',');
    as_buf_append(out, m->ents[i].kraw, m->ents[i].kraw_len);
    as_buf_putc(out, ':');
    as_buf_append(out, m->ents[i].val, m->ents[i].val_len);
  }
  return as_buf_putc(out, '}');
}
