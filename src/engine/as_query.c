/*
 * as_query.c — reads: iterators over an entity, a type, a type prefix or
 * the whole log, and point lookups.
 *
 * Every time bound becomes a position bound first: timestamps are
 * non-decreasing in position order, so "timestamp >= since" is "position >=
 * the first position at or after since" (a binary search over the position
 * index).  An iterator then walks one source — an entity's position list, a
 * type's position list, a merge of the lists of the types matching a
 * prefix, or the global position range — between those bounds, filtering
 * what the source does not imply.  Nothing is copied; each step reads the
 * next record.
 */
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "engine/as_db_int.h"

void as_query_init(as_query *q) {
  memset(q, 0, sizeof *q);
  q->since_us = AS_TIME_MIN;
  q->until_us = AS_TIME_MAX;
}

/* Last position in [1, committed] with timestamp <= t, or 0. */
static uint64_t pos_at_time(as_db *db, uint64_t committed, int64_t t) {
  uint64_t lo = 0, hi = committed; /* answer in [lo, hi] */
  while (lo < hi) {
    uint64_t mid = hi - (hi - lo) / 2;
    if (as__frame_at(db, mid)->timestamp_us <= t)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

uint64_t as_position_at_time(as_db *db, int64_t t_us) {
  return pos_at_time(db, as__committed(db), t_us);
}

enum src_kind { SRC_EMPTY, SRC_RANGE, SRC_LIST, SRC_MERGE };

/* One input of a prefix merge: a type list cursor within [idx, end). */
typedef struct merge_in {
  as_plist_cur cur;
  uint64_t end;  /* one past the last index (ascending) */
  uint64_t stop; /* first index (descending) */
  uint64_t pos;  /* current entry, valid while active */
  bool active;
} merge_in;

struct as_iter {
  as_db *db;
  uint64_t committed;
  uint64_t lo, hi; /* position bounds, inclusive */
  bool desc;
  uint64_t limit, emitted;
  enum src_kind kind;
  /* SRC_RANGE */
  uint64_t next_pos;
  /* SRC_LIST */
  as_plist_cur cur;
  uint64_t idx_lo, idx_hi; /* index bounds, inclusive; idx_lo > idx_hi: none */
  bool started;
  /* SRC_MERGE */
  merge_in *ins;
  size_t nins;
  /* filters not implied by the source */
  const char *type;
  size_t type_len;
  bool type_prefix;
  const char *tenant;
  size_t tenant_len;
  char *owned; /* copies of the filter strings */
};

/* Index bounds of entries within [lo, hi] in a list of n entries. */
static void list_bounds(const as_plist *l, uint64_t n, uint64_t lo,
                        uint64_t hi, uint64_t *ilo, uint64_t *ihi) {
  uint64_t a = as_plist_lower_bound(l, n, lo);
  uint64_t b = hi == UINT64_MAX ? n : as_plist_lower_bound(l, n, hi + 1);
  *ilo = a;
  *ihi = b; /* exclusive */
}

typedef struct prefix_ctx {
  as_iter *it;
  const char *prefix;
  size_t len;
  as_etype **types;
  size_t n, cap;
  as_err rc;
} prefix_ctx;

static int collect_prefix(void *arg, void *obj) {
  prefix_ctx *c = arg;
  as_etype *t = obj;
  if (t->name_len < c->len || memcmp(t->name, c->prefix, c->len) != 0) return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 8;
    as_etype **v = as_realloc(c->types, sizeof *v * cap);
    if (!v) {
      c->rc = AS_ENOMEM;
      return 1;
    }
    c->types = v;
    c->cap = cap;
  }
  c->types[c->n++] = t;
  return 0;
}

static void merge_load(merge_in *in, bool desc) {
  if (!desc) {
    in->active = in->cur.idx < in->end;
  } else {
    in->active = in->cur.idx != UINT64_MAX && in->cur.idx >= in->stop;
  }
  if (in->active) in->pos = as_plist_cur_get(&in->cur);
}

static as_err setup_merge(as_iter *it, const char *prefix, size_t len) {
  prefix_ctx c = {it, prefix, len, NULL, 0, 0, AS_OK};
  as_swmap_foreach(&it->db->types, collect_prefix, &c);
  if (c.rc) {
    as_free(c.types);
    return c.rc;
  }
  if (c.n == 0) {
    it->kind = SRC_EMPTY;
    as_free(c.types);
    return AS_OK;
  }
  it->ins = as_calloc(c.n, sizeof *it->ins);
  if (!it->ins) {
    as_free(c.types);
    return AS_ENOMEM;
  }
  for (size_t i = 0; i < c.n; i++) {
    as_plist *l = &c.types[i]->list;
    uint64_t n = as_plist_count(l), a, b;
    list_bounds(l, n, it->lo, it->hi, &a, &b);
    merge_in *in = &it->ins[it->nins++];
    if (a >= b) {
      in->active = false;
      continue;
    }
    in->end = b;
    in->stop = a;
    as_plist_seek(&in->cur, l, it->desc ? b - 1 : a);
    merge_load(in, it->desc);
  }
  as_free(c.types);
  it->kind = SRC_MERGE;
  return AS_OK;
}

as_err as_query_open(as_db *db, const as_query *q, as_iter **out) {
  as_err rc = AS_OK;
  *out = NULL;
  as_iter *it = as_calloc(1, sizeof *it);
  if (!it) return AS_ENOMEM;
  it->db = db;
  it->committed = as__committed(db);
  it->desc = q->descending;
  it->limit = q->limit;
  it->lo = 1;
  it->hi = it->committed;
  if (q->since_us != AS_TIME_MIN && q->since_us > INT64_MIN)
    it->lo = AS_MAX(it->lo, pos_at_time(db, it->committed, q->since_us - 1) + 1);
  if (q->until_us != AS_TIME_MAX)
    it->hi = AS_MIN(it->hi, pos_at_time(db, it->committed, q->until_us));
  if (q->from_position) {
    if (!it->desc)
      it->lo = AS_MAX(it->lo, q->from_position);
    else
      it->hi = AS_MIN(it->hi, q->from_position);
  }
  if (q->to_position) {
    if (!it->desc)
      it->hi = AS_MIN(it->hi, q->to_position);
    else
      it->lo = AS_MAX(it->lo, q->to_position);
  }

  size_t olen = (q->event_type ? q->event_type_len + 1 : 0) +
                (q->tenant_id ? q->tenant_id_len + 1 : 0);
  if (olen) {
    it->owned = as_malloc(olen);
    if (!it->owned) AS_FAIL(AS_ENOMEM);
    char *p = it->owned;
    if (q->event_type) {
      memcpy(p, q->event_type, q->event_type_len);
      p[q->event_type_len] = '\0';
      it->type = p;
      it->type_len = q->event_type_len;
      p += q->event_type_len + 1;
      if (it->type_len >= 2 && it->type[it->type_len - 1] == '*' &&
          it->type[it->type_len - 2] == '.') {
        it->type_prefix = true;
        it->type_len -= 1; /* keep the '.' */
      }
    }
    if (q->tenant_id) {
      memcpy(p, q->tenant_id, q->tenant_id_len);
      it->tenant = p;
      it->tenant_len = q->tenant_id_len;
    }
  }

  if (it->lo > it->hi || it->committed == 0) {
    it->kind = SRC_EMPTY;
  } else if (q->entity_id) {
    as_entity *e = as__entity_find(db, q->entity_id, q->entity_id_len);
    if (!e) {
      it->kind = SRC_EMPTY;
    } else {
      uint64_t n = as_plist_count(&e->list);
      list_bounds(&e->list, n, it->lo, it->hi, &it->idx_lo, &it->idx_hi);
      it->kind = it->idx_lo < it->idx_hi ? SRC_LIST : SRC_EMPTY;
      if (it->kind == SRC_LIST)
        as_plist_seek(&it->cur, &e->list, it->desc ? it->idx_hi - 1 : it->idx_lo);
    }
  } else if (it->type && !it->type_prefix) {
    as_etype *t = as__type_find(db, it->type, it->type_len);
    if (!t) {
      it->kind = SRC_EMPTY;
    } else {
      uint64_t n = as_plist_count(&t->list);
      list_bounds(&t->list, n, it->lo, it->hi, &it->idx_lo, &it->idx_hi);
      it->kind = it->idx_lo < it->idx_hi ? SRC_LIST : SRC_EMPTY;
      if (it->kind == SRC_LIST)
        as_plist_seek(&it->cur, &t->list, it->desc ? it->idx_hi - 1 : it->idx_lo);
      it->type = NULL; /* implied by the source */
    }
  } else if (it->type && it->type_prefix) {
    AS_CHECK(setup_merge(it, it->type, it->type_len));
    it->type = NULL;
  } else {
    it->kind = SRC_RANGE;
    it->next_pos = it->desc ? it->hi : it->lo;
  }
  *out = it;
  it = NULL;
out:
  as_iter_close(it);
  return rc;
}

/* Next candidate position from the source, or 0 when exhausted. */
static uint64_t source_next(as_iter *it) {
  switch (it->kind) {
    case SRC_EMPTY:
      return 0;
    case SRC_RANGE: {
      uint64_t p = it->next_pos;
      if (p == 0 || p < it->lo || p > it->hi) return 0;
      it->next_pos = it->desc ? p - 1 : p + 1;
      return p;
    }
    case SRC_LIST: {
      if (it->started) {
        if (!it->desc) {
          if (it->cur.idx + 1 >= it->idx_hi) return 0;
          as_plist_cur_next(&it->cur);
        } else {
          if (it->cur.idx <= it->idx_lo) return 0;
          as_plist_cur_prev(&it->cur);
        }
      }
      it->started = true;
      return as_plist_cur_get(&it->cur);
    }
    case SRC_MERGE: {
      merge_in *best = NULL;
      for (size_t i = 0; i < it->nins; i++) {
        merge_in *in = &it->ins[i];
        if (!in->active) continue;
        if (!best || (!it->desc ? in->pos < best->pos : in->pos > best->pos))
          best = in;
      }
      if (!best) return 0;
      uint64_t p = best->pos;
      if (!it->desc) {
        as_plist_cur_next(&best->cur);
      } else if (best->cur.idx == 0) {
        best->cur.idx = UINT64_MAX;
      } else {
        as_plist_cur_prev(&best->cur);
      }
      merge_load(best, it->desc);
      return p;
    }
  }
  return 0;
}

as_err as_iter_next(as_iter *it, as_event *ev) {
  if (it->limit && it->emitted >= it->limit) return AS_DONE;
  for (;;) {
    uint64_t p = source_next(it);
    if (!p) return AS_DONE;
    const as_frame *f = as__frame_at(it->db, p);
    as_frame_view(f, ev);
    if (it->type &&
        (it->type_prefix
             ? (ev->event_type_len < it->type_len ||
                memcmp(ev->event_type, it->type, it->type_len) != 0)
             : (ev->event_type_len != it->type_len ||
                memcmp(ev->event_type, it->type, it->type_len) != 0)))
      continue;
    if (it->tenant && (ev->tenant_id_len != it->tenant_len ||
                       memcmp(ev->tenant_id, it->tenant, it->tenant_len) != 0))
      continue;
    it->emitted++;
    return AS_OK;
  }
}

uint64_t as_iter_snapshot_position(const as_iter *it) { return it->committed; }

void as_iter_close(as_iter *it) {
  if (!it) return;
  as_free(it->ins);
  as_free(it->owned);
  as_free(it);
}

as_err as_get_by_position(as_db *db, uint64_t position, as_event *ev) {
  if (position == 0 || position > as__committed(db)) return AS_ENOTFOUND;
  as_frame_view(as__frame_at(db, position), ev);
  return AS_OK;
}

as_err as_get_by_id(as_db *db, const uint8_t id[16], as_event *ev) {
  uint64_t committed = as__committed(db);
  as_frame *f = as__id_find(db, id, committed);
  if (!f || f->position > committed) return AS_ENOTFOUND;
  as_frame_view(f, ev);
  return AS_OK;
}

as_err as_entity_version(as_db *db, const char *entity_id, size_t len,
                         uint64_t *version) {
  *version = 0;
  as_entity *e = as__entity_find(db, entity_id, len);
  if (!e) return AS_ENOTFOUND;
  *version = as__entity_committed_count(e, as__committed(db));
  return *version ? AS_OK : AS_ENOTFOUND;
}

as_err as_query_count(as_db *db, const as_query *q, uint64_t *count) {
  as_iter *it;
  *count = 0;
  as_err rc = as_query_open(db, q, &it);
  if (rc) return rc;
  uint64_t n = 0;
  if (it->kind == SRC_EMPTY) {
    n = 0;
  } else if (it->kind == SRC_LIST && !it->type && !it->tenant) {
    n = it->idx_hi - it->idx_lo;
  } else if (it->kind == SRC_RANGE && !it->type && !it->tenant) {
    n = it->hi - it->lo + 1;
  } else {
    as_event ev;
    while (as_iter_next(it, &ev) == AS_OK) n++;
    it->limit = 0;
  }
  if (q->limit && n > q->limit) n = q->limit;
  *count = n;
  as_iter_close(it);
  return AS_OK;
}

typedef struct names_ctx {
  as_name_cb cb;
  void *arg;
  uint64_t committed;
  bool types;
} names_ctx;

static int names_visit(void *arg, void *obj) {
  names_ctx *c = arg;
  if (c->types) {
    as_etype *t = obj;
    uint64_t n = as_plist_count(&t->list);
    /* uncommitted entries are at the tail */
    if (n) n = as_plist_lower_bound(&t->list, n, c->committed + 1);
    return n ? c->cb(c->arg, t->name, t->name_len, n) : 0;
  }
  as_entity *e = obj;
  uint64_t n = as__entity_committed_count(e, c->committed);
  return n ? c->cb(c->arg, e->id, e->id_len, n) : 0;
}

as_err as_event_types(as_db *db, as_name_cb cb, void *arg) {
  names_ctx c = {cb, arg, as__committed(db), true};
  as_swmap_foreach(&db->types, names_visit, &c);
  return AS_OK;
}

as_err as_entities(as_db *db, as_name_cb cb, void *arg) {
  names_ctx c = {cb, arg, as__committed(db), false};
  as_swmap_foreach(&db->entities, names_visit, &c);
  return AS_OK;
}
