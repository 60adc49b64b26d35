/*
 * as_analytics.c — frequency, summary and correlation (see as_analytics.h).
 */
#include "services/as_analytics.h"

#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "core/as_map.h"

/* --- Helpers ------------------------------------------------------------ */

typedef struct name_list {
  char **v;
  uint64_t *counts;
  size_t n, cap;
  const char *prefix;
  size_t plen;
  as_err rc;
} name_list;

static int collect_name(void *arg, const char *name, size_t len, uint64_t count) {
  name_list *l = arg;
  if (l->prefix && (len < l->plen || memcmp(name, l->prefix, l->plen))) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **v = as_realloc(l->v, sizeof *v * cap);
    uint64_t *c = v ? as_realloc(l->counts, sizeof *c * cap) : NULL;
    if (v) l->v = v;
    if (!v || !c) {
      l->rc = AS_ENOMEM;
      return 1;
    }
    l->counts = c;
    l->cap = cap;
  }
  l->v[l->n] = as_strndup(name, len);
  if (!l->v[l->n]) {
    l->rc = AS_ENOMEM;
    return 1;
  }
  l->counts[l->n++] = count;
  return 0;
}

static void name_list_free(name_list *l) {
  for (size_t i = 0; i < l->n; i++) as_free(l->v[i]);
  as_free(l->v);
  as_free(l->counts);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_prefix(const char *type) {
  size_t n = type ? strlen(type) : 0;
  return n >= 2 && type[n - 1] == '*' && type[n - 2] == '.';
}

static void set_query(as_query *q, const as_an_filter *f) {
  as_query_init(q);
  if (f->entity_id) q->entity_id = f->entity_id, q->entity_id_len = strlen(f->entity_id);
  if (f->event_type) q->event_type = f->event_type, q->event_type_len = strlen(f->event_type);
  q->since_us = f->since_us;
  q->until_us = f->until_us;
}

/* --- Frequency ------------------------------------------------------- */

void as_freq_result_free(as_freq_result *r) {
  as_free(r->starts);
  as_free(r->counts);
  for (size_t i = 0; i < r->ntypes; i++) as_free(r->types[i]);
  as_free(r->types);
  as_free(r->type_counts);
  memset(r, 0, sizeof *r);
}

static ssize_t find_type(char **types, size_t n, const char *t, size_t len) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strncmp(types[mid], t, len);
    if (c == 0 && types[mid][len] != 0) c = 1;
    if (c == 0) return (ssize_t)mid;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

as_err as_analytics_frequency(as_db *db, const as_an_filter *f, as_window w,
                              as_freq_result *out, as_error *err) {
  as_err rc = AS_OK;
  memset(out, 0, sizeof *out);
  out->window = w;
  name_list types = {0};
  int64_t until = f->until_us == AS_TIME_MAX ? as_time_now_us() : f->until_us;
  int64_t first = as_time_trunc(f->since_us, w), last = as_time_trunc(until, w);
  if (until < f->since_us) return AS_OK;

  /* The windows. */
  size_t nb = 0;
  for (int64_t t = first; t <= last; t = as_time_next(t, w))
    if (++nb > AS_ANALYTICS_MAX_BUCKETS)
      return as__error_set(err, AS_ELIMIT, 0, "window",
                           "the range holds more than %u %s windows; use a larger "
                           "window or a shorter range",
                           AS_ANALYTICS_MAX_BUCKETS, as_window_name(w));

  /* The candidate event types. */
  if (f->event_type && !is_prefix(f->event_type)) {
    collect_name(&types, f->event_type, strlen(f->event_type), 0);
  } else {
    if (f->event_type) {
      types.prefix = f->event_type;
      types.plen = strlen(f->event_type) - 1; /* keep the '.' */
    }
    as_event_types(db, collect_name, &types);
  }
  if (types.rc) AS_FAIL(types.rc);
  qsort(types.v, types.n, sizeof *types.v, cmp_str);

  out->nbuckets = nb;
  out->ntypes = types.n;
  out->starts = as_calloc(nb, sizeof *out->starts);
  out->counts = as_calloc(nb, sizeof *out->counts);
  out->type_counts = as_calloc(nb * (types.n ? types.n : 1), sizeof *out->type_counts);
  if (!out->starts || !out->counts || !out->type_counts) AS_FAIL(AS_ENOMEM);
  size_t b = 0;
  for (int64_t t = first; b < nb; t = as_time_next(t, w)) out->starts[b++] = t;

  if (!f->entity_id && types.n * nb <= 2000000) {
    /* Index path: positions of the window boundaries, then per type two
     * binary searches per window. */
    uint64_t *bound = as_malloc(sizeof *bound * (nb + 1));
    if (!bound) AS_FAIL(AS_ENOMEM);
    /* bound[b] = the first position of window b (within the range);
     * bound[nb] = one past the last position <= until */
    bound[0] = f->since_us == AS_TIME_MIN ? 1 : as_position_at_time(db, f->since_us - 1) + 1;
    for (b = 1; b < nb; b++) bound[b] = as_position_at_time(db, out->starts[b] - 1) + 1;
    bound[nb] = as_position_at_time(db, until) + 1;
    for (size_t k = 0; k < types.n && !rc; k++) {
      for (b = 0; b < nb; b++) {
        if (bound[b + 1] <= bound[b]) continue;
        as_query q;
        as_query_init(&q);
        q.event_type = types.v[k];
        q.event_type_len = strlen(types.v[k]);
        q.from_position = bound[b];
        q.to_position = bound[b + 1] - 1;
        uint64_t n;
        rc = as_query_count(db, &q, &n);
        if (rc) break;
        out->type_counts[b * types.n + k] = n;
      }
    }
    as_free(bound);
    if (rc) goto out;
  } else {
    /* Scan path: the events in order, windows advancing with them. */
    as_query q;
    set_query(&q, f);
    q.until_us = until;
    as_iter *it;
    AS_CHECK(as_query_open(db, &q, &it));
    as_event ev;
    b = 0;
    int64_t end = nb ? as_time_next(out->starts[0], w) : 0;
    while (as_iter_next(it, &ev) == AS_OK) {
      while (b + 1 < nb && ev.timestamp_us >= end) {
        b++;
        end = as_time_next(out->starts[b], w);
      }
      ssize_t k = find_type(types.v, types.n, ev.event_type, ev.event_type_len);
      if (k >= 0) out->type_counts[b * types.n + (size_t)k]++;
    }
    as_iter_close(it);
  }
  for (b = 0; b < nb; b++)
    for (size_t k = 0; k < types.n; k++) out->counts[b] += out->type_counts[b * types.n + k];
  for (b = 0; b < nb; b++) out->total += out->counts[b];
  out->types = types.v;
  types.v = NULL;
  types.n = 0;
  if (out->total == 0) { /* the seed's shape: no events, no buckets */
    out->nbuckets = 0;
  }
out:
  name_list_free(&types);
  if (rc) as_freq_result_free(out);
  return rc;
}

/* --- Summary --------------------------------------------------------- */

void as_summary_result_free(as_summary_result *r) {
  for (size_t i = 0; i < r->ntop_types; i++) as_free(r->top_types[i].name);
  for (size_t i = 0; i < r->ntop_entities; i++) as_free(r->top_entities[i].name);
  memset(r, 0, sizeof *r);
}

/* Bytewise order of a NUL-terminated name and name[0..len). */
static int cmp_name(const char *a, const char *b, size_t blen) {
  size_t alen = strlen(a);
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c ? c : (alen > blen) - (alen < blen);
}

/* Keeps the ten largest (count desc, then name asc) in top[0..*n). */
static as_err top_offer(as_an_top *top, size_t *n, const char *name, size_t len,
                        uint64_t count) {
  size_t pos = *n;
  while (pos > 0 && (top[pos - 1].count < count ||
                     (top[pos - 1].count == count && cmp_name(top[pos - 1].name, name, len) > 0)))
    pos--;
  if (pos >= 10) return AS_OK;
  char *copy = as_strndup(name, len);
  if (!copy) return AS_ENOMEM;
  if (*n == 10) as_free(top[9].name);
  else (*n)++;
  memmove(top + pos + 1, top + pos, sizeof *top * (*n - 1 - pos));
  top[pos].name = copy;
  top[pos].count = count;
  return AS_OK;
}

typedef struct top_ctx {
  as_an_top *top;
  size_t *n;
  uint64_t unique;
  as_err rc;
} top_ctx;

static int offer_cb(void *arg, const char *name, size_t len, uint64_t count) {
  top_ctx *c = arg;
  c->unique++;
  c->rc = top_offer(c->top, c->n, name, len, count);
  return c->rc != AS_OK;
}

as_err as_analytics_summary(as_db *db, const as_an_filter *f,
                            as_summary_result *out, as_error *err) {
  as_err rc = AS_OK;
  memset(out, 0, sizeof *out);
  as_map by_type, by_entity;
  as_map_init(&by_type);
  as_map_init(&by_entity);
  bool unfiltered = !f->entity_id && !f->event_type && f->since_us == AS_TIME_MIN &&
                    f->until_us == AS_TIME_MAX;
  if (unfiltered) {
    /* Everything comes from the indexes. */
    uint64_t committed = as_db_committed_position(db);
    if (!committed) AS_FAIL(AS_ENOTFOUND);
    out->total = committed;
    as_event ev;
    as_get_by_position(db, 1, &ev);
    out->first_us = ev.timestamp_us;
    as_get_by_position(db, committed, &ev);
    out->last_us = ev.timestamp_us;
    top_ctx t = {out->top_types, &out->ntop_types, 0, AS_OK};
    as_event_types(db, offer_cb, &t);
    out->unique_types = t.unique;
    top_ctx e = {out->top_entities, &out->ntop_entities, 0, AS_OK};
    if (!t.rc) as_entities(db, offer_cb, &e);
    out->unique_entities = e.unique;
    AS_CHECK(t.rc ? t.rc : e.rc);
    goto out;
  }
  as_query q;
  set_query(&q, f);
  as_iter *it;
  AS_CHECK(as_query_open(db, &q, &it));
  as_event ev;
  while (as_iter_next(it, &ev) == AS_OK) {
    if (!out->total) out->first_us = ev.timestamp_us;
    out->last_us = ev.timestamp_us;
    out->total++;
    uintptr_t n = (uintptr_t)as_map_get(&by_type, ev.event_type, ev.event_type_len);
    rc = as_map_put(&by_type, ev.event_type, ev.event_type_len, (void *)(n + 1), NULL);
    if (!rc) {
      n = (uintptr_t)as_map_get(&by_entity, ev.entity_id, ev.entity_id_len);
      rc = as_map_put(&by_entity, ev.entity_id, ev.entity_id_len, (void *)(n + 1), NULL);
    }
    if (rc) break;
  }
  as_iter_close(it);
  if (rc) goto out;
  if (!out->total) AS_FAIL(AS_ENOTFOUND);
  out->unique_types = as_map_count(&by_type);
  out->unique_entities = as_map_count(&by_entity);
  size_t i = 0;
  const as_map_slot *s;
  while (!rc && (s = as_map_next(&by_type, &i)))
    rc = top_offer(out->top_types, &out->ntop_types, s->key, s->key_len, (uintptr_t)s->val);
  i = 0;
  while (!rc && (s = as_map_next(&by_entity, &i)))
    rc = top_offer(out->top_entities, &out->ntop_entities, s->key, s->key_len,
                   (uintptr_t)s->val);
out:
  as_map_destroy(&by_type, NULL);
  as_map_destroy(&by_entity, NULL);
  if (rc) {
    as_summary_result_free(out);
    if (rc == AS_ENOTFOUND)
      as__error_set(err, rc, 0, "", "no events match the criteria");
  }
  return rc;
}

/* --- Correlation ----------------------------------------------------- */

typedef struct tp {
  int64_t ts;
  uint64_t pos;
} tp;

typedef struct tp_vec {
  tp *v;
  size_t n, cap;
} tp_vec;

static void vec_free(void *p) {
  tp_vec *v = p;
  as_free(v->v);
  as_free(v);
}

void as_corr_result_free(as_corr_result *r) {
  for (size_t i = 0; i < r->nexamples; i++) as_free(r->examples[i].entity_id);
  memset(r, 0, sizeof *r);
}

/* First index in v with ts >= t. */
static size_t lower_ts(const tp_vec *v, int64_t t) {
  size_t lo = 0, hi = v->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v->v[mid].ts < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

as_err as_analytics_correlation(as_db *db, const char *type_a,
                                const char *type_b, int64_t window_us,
                                int64_t since_us, int64_t until_us,
                                bool directional, as_corr_result *out,
                                as_error *err) {
  as_err rc = AS_OK;
  memset(out, 0, sizeof *out);
  as_map groups;
  as_map_init(&groups);
  as_query q;
  as_iter *it = NULL;
  as_event ev;
  /* B events grouped by entity, in position (= time) order. */
  as_query_init(&q);
  q.event_type = type_b;
  q.event_type_len = strlen(type_b);
  q.since_us = since_us;
  q.until_us = until_us;
  AS_CHECK(as_query_open(db, &q, &it));
  while (as_iter_next(it, &ev) == AS_OK) {
    out->total_b++;
    tp_vec *v = as_map_get(&groups, ev.entity_id, ev.entity_id_len);
    if (!v) {
      v = as_calloc(1, sizeof *v);
      if (!v || (rc = as_map_put(&groups, ev.entity_id, ev.entity_id_len, v, NULL))) {
        as_free(v);
        rc = rc ? rc : AS_ENOMEM;
        break;
      }
    }
    if (v->n == v->cap) {
      size_t cap = v->cap ? v->cap * 2 : 4;
      tp *nv = as_realloc(v->v, sizeof *nv * cap);
      if (!nv) {
        rc = AS_ENOMEM;
        break;
      }
      v->v = nv;
      v->cap = cap;
    }
    v->v[v->n++] = (tp){ev.timestamp_us, ev.position};
  }
  as_iter_close(it);
  it = NULL;
  if (rc) goto out;

  /* Each A in position order finds its partner. */
  q.event_type = type_a;
  q.event_type_len = strlen(type_a);
  AS_CHECK(as_query_open(db, &q, &it));
  double gap_sum = 0;
  while (as_iter_next(it, &ev) == AS_OK) {
    out->total_a++;
    tp_vec *v = as_map_get(&groups, ev.entity_id, ev.entity_id_len);
    if (!v) continue;
    const tp *best = NULL;
    int64_t best_gap = 0;
    size_t i = lower_ts(v, ev.timestamp_us);
    if (directional) {
      /* the first B after A in the log (skipping A itself and earlier
       * events with the same timestamp) */
      while (i < v->n && v->v[i].pos <= ev.position) i++;
      if (i < v->n) {
        best = &v->v[i];
        best_gap = best->ts - ev.timestamp_us;
      }
    } else {
      /* nearest in time: look at the neighbours around A's timestamp,
       * skipping A itself; ties go to the earlier event */
      size_t cand[4];
      size_t nc = 0;
      for (size_t k = i; k < v->n && nc < 2; k++)
        if (v->v[k].pos != ev.position) cand[nc++] = k;
      size_t before = nc;
      for (size_t k = i; k-- > 0 && nc < before + 2;)
        if (v->v[k].pos != ev.position) cand[nc++] = k;
      for (size_t c = 0; c < nc; c++) {
        const tp *t = &v->v[cand[c]];
        int64_t g = t->ts - ev.timestamp_us;
        if (g < 0) g = -g;
        if (!best || g < best_gap || (g == best_gap && t->pos < best->pos)) {
          best = t;
          best_gap = g;
        }
      }
    }
    if (!best || best_gap > window_us) continue;
    out->pairs++;
    gap_sum += (double)best_gap / 1e6;
    if (out->nexamples < 5) {
      as_corr_example *x = &out->examples[out->nexamples];
      x->entity_id = as_strndup(ev.entity_id, ev.entity_id_len);
      if (!x->entity_id) {
        rc = AS_ENOMEM;
        break;
      }
      x->a_us = ev.timestamp_us;
      x->b_us = best->ts;
      out->nexamples++;
    }
  }
  out->avg_gap_s = out->pairs ? gap_sum / (double)out->pairs : 0;
out:
  as_iter_close(it);
  as_map_destroy(&groups, vec_free);
  if (rc) {
    as_corr_result_free(out);
    as__error_set(err, rc, 0, "", "%s", as_strerror(rc));
  }
  return rc;
}
