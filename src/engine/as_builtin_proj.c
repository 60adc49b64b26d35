/*
 * as_builtin_proj.c — the two projections every store has, as in the seed:
 *
 *   entity_snapshots  per entity_id: the first event's payload (any JSON),
 *                     then every later object payload shallow-merged into
 *                     it while the state is an object.
 *   event_counters    per event_type: {"count": n}.
 *
 * as_projection_builtin_new() makes folds that use only the public
 * projection interface (as_projection_ops), like a user's projection would
 * (see examples/custom_projection.c); replay feeds such folds.
 *
 * A store's own entity_snapshots is not a fold but a view: its value is the
 * entity's state (as_state.c: the newest snapshot plus the events after it)
 * unless the first payload is not an object, in which case it is that
 * payload.  Folding every payload in the background cost as much CPU per
 * event as writing it and kept a second copy of every state in memory; the
 * view computes the same value on read from at most snapshot_every_events
 * events.
 */
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "core/as_json.h"
#include "core/as_map.h"
#include "engine/as_db_int.h"
#include "engine/as_merge.h"

/* --- entity_snapshots ---------------------------------------------------- */

typedef struct snap {
  bool is_object;
  as_merge merge;   /* when the first payload was an object */
  const char *raw;  /* otherwise: the first payload, borrowed */
  uint32_t raw_len;
} snap;

typedef struct snaps {
  as_map by_entity; /* entity_id -> snap* */
} snaps;

static void snap_free(void *p) {
  snap *s = p;
  if (s->is_object) as_merge_destroy(&s->merge);
  as_free(s);
}

static as_err snaps_apply(void *ctx, const as_event *ev) {
  snaps *ss = ctx;
  as_json_val root = as_json_root(ev->payload, ev->payload_len);
  snap *s = as_map_get(&ss->by_entity, ev->entity_id, ev->entity_id_len);
  if (!s) {
    s = as_calloc(1, sizeof *s);
    if (!s) return AS_ENOMEM;
    as_err rc = as_map_put(&ss->by_entity, ev->entity_id, ev->entity_id_len, s,
                           NULL);
    if (rc) {
      as_free(s);
      return rc;
    }
    if (root.kind != AS_JSON_OBJECT) {
      s->raw = root.p;
      s->raw_len = (uint32_t)root.len;
      return AS_OK;
    }
    s->is_object = true;
    as_merge_init(&s->merge);
  }
  if (!s->is_object || root.kind != AS_JSON_OBJECT) return AS_OK;
  return as_merge_object(&s->merge, root);
}

static as_err snaps_get(void *ctx, const char *key, size_t key_len,
                        char **json, size_t *json_len) {
  snaps *ss = ctx;
  snap *s = as_map_get(&ss->by_entity, key, key_len);
  if (!s) return AS_ENOTFOUND;
  as_buf b;
  as_buf_init(&b, 0);
  if (s->is_object)
    as_merge_emit(&s->merge, &b);
  else
    as_buf_append(&b, s->raw, s->raw_len);
  if (as_buf_error(&b)) {
    as_buf_free(&b);
    return AS_ENOMEM;
  }
  *json = as_buf_detach(&b, json_len);
  return *json ? AS_OK : AS_ENOMEM;
}

static void snaps_clear(void *ctx) {
  snaps *ss = ctx;
  as_map_destroy(&ss->by_entity, snap_free);
  as_map_init(&ss->by_entity);
}

static void snaps_destroy(void *ctx) {
  snaps *ss = ctx;
  as_map_destroy(&ss->by_entity, snap_free);
  as_free(ss);
}

/* --- entity_snapshots of a store: a view over the entity index --------- */

static as_err view_apply(void *ctx, const as_event *ev) {
  (void)ctx;
  (void)ev;
  return AS_OK;
}

static as_err view_get(void *ctx, const char *key, size_t key_len, char **json,
                       size_t *json_len) {
  as_db *db = ctx;
  uint64_t bound = as__committed(db);
  as_entity *e = as__entity_find(db, key, key_len);
  if (!e || as_plist_count(&e->list) == 0) return AS_ENOTFOUND;
  as_plist_cur cur;
  as_plist_seek(&cur, &e->list, 0);
  uint64_t first = as_plist_cur_get(&cur);
  if (first > bound) return AS_ENOTFOUND;
  as_event ev;
  as_frame_view(as__frame_at(db, first), &ev);
  if (as_json_root(ev.payload, ev.payload_len).kind != AS_JSON_OBJECT) {
    *json = as_strndup(ev.payload, ev.payload_len);
    *json_len = ev.payload_len;
    return *json ? AS_OK : AS_ENOMEM;
  }
  as_state_info info;
  return as__state_build(db, e, bound, true, json, json_len, &info);
}

static void view_clear(void *ctx) { (void)ctx; }

/* --- event_counters -------------------------------------------------- */

typedef struct counters {
  as_map by_type; /* event_type -> (uintptr_t) count */
} counters;

static as_err counters_apply(void *ctx, const as_event *ev) {
  counters *c = ctx;
  void **slot = as_map_slot_of(&c->by_type, ev->event_type, ev->event_type_len);
  if (!slot) return AS_ENOMEM;
  *slot = (void *)((uintptr_t)*slot + 1);
  return AS_OK;
}

static as_err counters_get(void *ctx, const char *key, size_t key_len,
                           char **json, size_t *json_len) {
  counters *c = ctx;
  uintptr_t n = (uintptr_t)as_map_get(&c->by_type, key, key_len);
  if (!n) return AS_ENOTFOUND;
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"count\":");
  as_buf_put_u64(&b, n);
  as_buf_putc(&b, '}');
  if (as_buf_error(&b)) {
    as_buf_free(&b);
    return AS_ENOMEM;
  }
  *json = as_buf_detach(&b, json_len);
  return *json ? AS_OK : AS_ENOMEM;
}

static void counters_clear(void *ctx) {
  counters *c = ctx;
  as_map_destroy(&c->by_type, NULL);
  as_map_init(&c->by_type);
}

static void counters_destroy(void *ctx) {
  counters *c = ctx;
  as_map_destroy(&c->by_type, NULL);
  as_free(c);
}

as_err as_projection_builtin_new(const char *name, as_projection_ops *out) {
  if (name && strcmp(name, "entity_snapshots") == 0) {
    snaps *ss = as_calloc(1, sizeof *ss);
    if (!ss) return AS_ENOMEM;
    as_map_init(&ss->by_entity);
    *out = (as_projection_ops){"entity_snapshots", ss, snaps_apply, snaps_get,
                               snaps_clear, snaps_destroy};
    return AS_OK;
  }
  if (name && strcmp(name, "event_counters") == 0) {
    counters *c = as_calloc(1, sizeof *c);
    if (!c) return AS_ENOMEM;
    as_map_init(&c->by_type);
    *out = (as_projection_ops){"event_counters", c, counters_apply, counters_get,
                               counters_clear, counters_destroy};
    return AS_OK;
  }
  return AS_ENOTFOUND;
}

as_err as__builtin_projections_register(as_db *db) {
  as_projection_ops view = {"entity_snapshots", db, view_apply, view_get,
                            view_clear, NULL};
  as_err rc = as_projection_register(db, &view);
  if (rc) return rc;
  as_projection_ops o;
  rc = as_projection_builtin_new("event_counters", &o);
  if (rc) return rc;
  rc = as_projection_register(db, &o);
  if (rc) o.destroy(o.ctx);
  return rc;
}
