/*
 * as_snapshot.c — entity snapshots: creation (on request, or automatically
 * by the "$snapshots" projection in the background), lookup for state
 * reconstruction, listing and pruning.
 *
 * Per entity, snapshots are kept in a vector sorted by position (oldest
 * first) and pruned to the newest `snapshot_max_per_entity`.  Records are
 * immutable and reference counted, so a reader that found one can use it
 * after the lock is dropped even if it gets pruned meanwhile.
 */
#include <inttypes.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_buf.h"
#include "core/as_json.h"
#include "core/as_uuid.h"
#include "engine/as_db_int.h"

typedef struct as_snapvec {
  as_snap **v;
  uint32_t n, cap;
} as_snapvec;

const char *as_snapshot_kind_name(as_snapshot_kind k) {
  switch (k) {
    case AS_SNAPSHOT_MANUAL: return "manual";
    case AS_SNAPSHOT_AUTOMATIC: return "automatic";
    case AS_SNAPSHOT_ONDEMAND: return "ondemand";
  }
  return "?";
}

void as__snap_release(as_snap *s) {
  if (s && atomic_fetch_sub(&s->refs, 1) == 1) as_free(s);
}

static void vec_free(void *p) {
  as_snapvec *v = p;
  for (uint32_t i = 0; i < v->n; i++) as__snap_release(v->v[i]);
  as_free(v->v);
  as_free(v);
}

void as__snapstore_init(as_db *db) {
  pthread_mutex_init(&db->snaps.mu, NULL);
  as_map_init(&db->snaps.by_entity);
  as_rand_seed_from(&db->snaps.rng, &db->rng); /* seeded at open */
  pthread_mutex_init(&db->snaps.due_mu, NULL);
  atomic_init(&db->snaps.next_due, UINT64_MAX);
}

void as__snapstore_destroy(as_db *db) {
  as_map_destroy(&db->snaps.by_entity, vec_free);
  pthread_mutex_destroy(&db->snaps.mu);
  pthread_mutex_destroy(&db->snaps.due_mu);
  as_free(db->snaps.due);
}

as_snap *as__snap_find(as_db *db, const char *id, size_t len, uint64_t bound) {
  as_snapstore *st = &db->snaps;
  as_snap *found = NULL;
  pthread_mutex_lock(&st->mu);
  as_snapvec *v = as_map_get(&st->by_entity, id, len);
  for (uint32_t i = v ? v->n : 0; i-- > 0;) {
    if (v->v[i]->info.position <= bound) {
      found = v->v[i];
      atomic_fetch_add(&found->refs, 1);
      break;
    }
  }
  pthread_mutex_unlock(&st->mu);
  return found;
}

/* Inserts s (taking the caller's reference) in position order and prunes
 * the oldest beyond the limit. */
static as_err store_add(as_db *db, as_entity *e, as_snap *s) {
  as_snapstore *st = &db->snaps;
  const char *id = e->id;
  size_t len = e->id_len;
  as_err rc = AS_OK;
  pthread_mutex_lock(&st->mu);
  as_snapvec *v = as_map_get(&st->by_entity, id, len);
  if (!v) {
    v = as_calloc(1, sizeof *v);
    if (!v || (rc = as_map_put(&st->by_entity, id, len, v, NULL))) {
      as_free(v);
      rc = rc ? rc : AS_ENOMEM;
      goto out;
    }
  }
  if (v->n == v->cap) {
    uint32_t cap = v->cap ? v->cap * 2 : 4;
    as_snap **nv = as_realloc(v->v, sizeof *nv * cap);
    if (!nv) AS_FAIL(AS_ENOMEM);
    v->v = nv;
    v->cap = cap;
  }
  uint32_t at = v->n;
  while (at > 0 && v->v[at - 1]->info.position > s->info.position) at--;
  memmove(v->v + at + 1, v->v + at, sizeof *v->v * (v->n - at));
  v->v[at] = s;
  v->n++;
  st->count++;
  st->bytes += s->json_len;
  uint32_t max = db->opt.snapshot_max_per_entity ? db->opt.snapshot_max_per_entity : 1;
  while (v->n > max) {
    as_snap *old = v->v[0];
    st->count--;
    st->bytes -= old->json_len;
    memmove(v->v, v->v + 1, sizeof *v->v * (v->n - 1));
    v->n--;
    as__snap_release(old);
  }
  /* The writer's view of the latest snapshot (as__snapshots_mark). */
  atomic_store_explicit(&e->snap_as_of_us, v->v[v->n - 1]->info.as_of_us,
                        memory_order_relaxed);
  atomic_store_explicit(&e->snap_count, v->v[v->n - 1]->info.event_count,
                        memory_order_relaxed);
  s = NULL;
out:
  pthread_mutex_unlock(&st->mu);
  as__snap_release(s);
  return rc;
}

/* --- Persistence (the meta store) --------------------------------------
 * Each snapshot is an event of type "snapshot" in the meta store, entity =
 * the snapshot's entity, payload {"id","event_count","position","as_of_us",
 * "created_us","kind","state"}.  Requested snapshots are appended
 * synchronously (durable before the caller hears of them); automatic ones
 * asynchronously.  At open they are replayed, checked against the log and
 * pruned like live ones. */

static void persisted_cb(void *arg, as_err rc, const as_append_result *res,
                         size_t n, const as_error *err) {}

static as_err persist(as_db *db, const char *id, size_t len, const as_snap *s,
                      bool wait) {
  as_buf b;
  as_buf_init(&b, 0);
  char uuid[37], last_id[37];
  as_uuid_format(s->info.id, uuid);
  /* The id of the event the snapshot ends at identifies that event beyond
   * its position: after a lost tail a new event may take the position. */
  as_event at;
  if (as_get_by_position(db, s->info.position, &at) != AS_OK) {
    as_buf_free(&b);
    return wait ? AS_ENOTFOUND : AS_OK;
  }
  as_uuid_format(at.id, last_id);
  as_buf_printf(&b,
                "{\"id\":\"%s\",\"event_count\":%" PRIu64 ",\"position\":%" PRIu64
                ",\"event_id\":\"%s\",\"as_of_us\":%" PRId64 ",\"created_us\":%" PRId64
                ",\"kind\":\"%s\",\"state\":",
                uuid, s->info.event_count, s->info.position, last_id, s->info.as_of_us,
                s->info.created_us, as_snapshot_kind_name(s->info.kind));
  as_buf_append(&b, s->json, s->json_len);
  as_buf_putc(&b, '}');
  as_err rc = as_buf_error(&b);
  if (!rc) {
    as_event_in ev;
    as_event_in_init(&ev);
    ev.entity_id = id;
    ev.entity_id_len = len;
    ev.event_type = "snapshot";
    ev.event_type_len = 8;
    ev.payload = b.data;
    ev.payload_len = b.len;
    as_error err;
    rc = wait ? as_append(db->meta, &ev, 1, NULL, &err)
              : as_append_async(db->meta, &ev, 1, persisted_cb, NULL, &err);
    if (rc)
      as__log(&db->log, AS_LOG_WARN, "snapshots: cannot persist a snapshot of %s: %s",
              id, err.message);
  }
  as_buf_free(&b);
  return wait ? rc : AS_OK;
}

static const char *kind_names[] = {"manual", "automatic", "ondemand"};

/* Rebuilds a persisted snapshot if it still matches the log. */
static as_err load_one(as_db *db, const as_event *ev) {
  as_json_val root = as_json_root(ev->payload, ev->payload_len), v;
  as_snapshot_info info;
  memset(&info, 0, sizeof info);
  int64_t t;
  if (!as_json_obj_get(root, "id", &v) || v.kind != AS_JSON_STRING ||
      as_uuid_parse(v.p + 1, v.len - 2, info.id) ||
      !as_json_obj_get(root, "event_count", &v) || as_json_to_u64(v, &info.event_count) ||
      !as_json_obj_get(root, "position", &v) || as_json_to_u64(v, &info.position) ||
      !as_json_obj_get(root, "as_of_us", &v) || as_json_to_i64(v, &info.as_of_us) ||
      !as_json_obj_get(root, "created_us", &v) || as_json_to_i64(v, &t) ||
      !as_json_obj_get(root, "state", &v) || v.kind != AS_JSON_OBJECT)
    return AS_ECORRUPT;
  info.created_us = t;
  as_json_val kv;
  info.kind = AS_SNAPSHOT_MANUAL;
  if (as_json_obj_get(root, "kind", &kv))
    for (int k = 0; k < 3; k++)
      if (as_json_str_eq(kv, kind_names[k], strlen(kind_names[k]))) info.kind = (as_snapshot_kind)k;
  /* The log must still hold the very event the snapshot ends at: a store
   * in interval mode can lose its unsynced tail (its snapshots go with it),
   * and a later event of the same entity may then take the lost position
   * and version — only the event id tells them apart.  (Records written
   * before event_id existed fall back to the event's timestamp.) */
  as_event at;
  if (as_get_by_position(db, info.position, &at) != AS_OK ||
      at.entity_id_len != ev->entity_id_len ||
      memcmp(at.entity_id, ev->entity_id, ev->entity_id_len) != 0 ||
      at.version != info.event_count)
    return AS_OK; /* stale: ignored */
  uint8_t last_id[16];
  if (as_json_obj_get(root, "event_id", &v)) {
    if (v.kind != AS_JSON_STRING || as_uuid_parse(v.p + 1, v.len - 2, last_id))
      return AS_ECORRUPT;
    if (memcmp(last_id, at.id, 16) != 0) return AS_OK; /* stale */
  } else if (at.timestamp_us != info.as_of_us) {
    return AS_OK; /* stale */
  }
  if (!as_json_obj_get(root, "state", &v)) return AS_ECORRUPT;
  as_snap *s = as_malloc(sizeof *s + v.len + 1);
  if (!s) return AS_ENOMEM;
  atomic_init(&s->refs, 1);
  memcpy(s->json, v.p, v.len);
  s->json[v.len] = '\0';
  s->json_len = (uint32_t)v.len;
  info.size_bytes = v.len;
  s->info = info;
  as_entity *e = as__entity_find(db, ev->entity_id, ev->entity_id_len);
  if (!e) { /* cannot happen: the log holds its event */
    as__snap_release(s);
    return AS_OK;
  }
  return store_add(db, e, s);
}

as_err as__snapshots_load(as_db *db) {
  as_query q;
  as_query_init(&q);
  q.event_type = "snapshot";
  q.event_type_len = 8;
  as_iter *it;
  as_err rc = as_query_open(db->meta, &q, &it);
  if (rc) return rc;
  as_event ev;
  uint64_t n = 0, bad = 0;
  while (!rc && as_iter_next(it, &ev) == AS_OK) {
    as_err r = load_one(db, &ev);
    if (r == AS_ECORRUPT) bad++;
    else rc = r;
    n++;
  }
  as_iter_close(it);
  if (bad)
    as__log(&db->log, AS_LOG_WARN, "snapshots: %" PRIu64 " malformed records ignored", bad);
  return rc;
}

/* Builds and stores a snapshot of entity e at position `bound`. */
static as_err snapshot_at(as_db *db, as_entity *e, uint64_t bound,
                          as_snapshot_kind kind, as_snapshot_info *out) {
  char *json;
  size_t jlen;
  as_state_info si;
  as_err rc = as__state_build(db, e, bound, true, &json, &jlen, &si);
  if (rc) return rc;
  as_snap *s = as_malloc(sizeof *s + jlen + 1);
  if (!s) {
    as_free(json);
    return AS_ENOMEM;
  }
  atomic_init(&s->refs, 1);
  memcpy(s->json, json, jlen + 1);
  s->json_len = (uint32_t)jlen;
  as_free(json);
  memset(&s->info, 0, sizeof s->info);
  s->info.event_count = si.event_count;
  s->info.position = si.last_position;
  s->info.as_of_us = si.last_updated_us;
  s->info.created_us = as_time_now_us();
  s->info.size_bytes = jlen;
  s->info.kind = kind;
  pthread_mutex_lock(&db->snaps.mu);
  as_uuid_v7(&db->snaps.rng, s->info.created_us, s->info.id);
  pthread_mutex_unlock(&db->snaps.mu);
  if (out) *out = s->info;
  atomic_fetch_add(&s->refs, 1); /* kept for persisting after the insert */
  rc = store_add(db, e, s);
  if (!rc && db->meta) rc = persist(db, e->id, e->id_len, s, kind != AS_SNAPSHOT_AUTOMATIC);
  as__snap_release(s);
  return rc;
}

as_err as_snapshot_create(as_db *db, const char *entity_id, size_t len,
                          as_snapshot_kind kind, as_snapshot_info *out) {
  as_entity *e = as__entity_find(db, entity_id, len);
  if (!e) return AS_ENOTFOUND;
  return snapshot_at(db, e, as__committed(db), kind, out);
}

as_err as_snapshot_latest(as_db *db, const char *entity_id, size_t len,
                          as_snapshot_info *out, char **state_json,
                          size_t *state_len) {
  as__projmgr_kick(db); /* automatic snapshots come from the worker */
  as_snap *s = as__snap_find(db, entity_id, len, UINT64_MAX);
  if (!s) return AS_ENOTFOUND;
  as_err rc = AS_OK;
  if (out) *out = s->info;
  if (state_json) {
    *state_json = as_strndup(s->json, s->json_len);
    if (!*state_json) rc = AS_ENOMEM;
    if (state_len) *state_len = s->json_len;
  }
  as__snap_release(s);
  return rc;
}

typedef struct list_item {
  char *entity;
  size_t len;
  as_snapshot_info info;
} list_item;

as_err as_snapshot_list(as_db *db, const char *entity_id, size_t len,
                        as_snapshot_cb cb, void *arg) {
  as__projmgr_kick(db);
  as_snapstore *st = &db->snaps;
  as_err rc = AS_OK;
  list_item *items = NULL;
  size_t n = 0, cap = 0;
  pthread_mutex_lock(&st->mu);
  size_t it = 0;
  const as_map_slot *slot;
  while ((slot = as_map_next(&st->by_entity, &it))) {
    if (entity_id && (slot->key_len != len || memcmp(slot->key, entity_id, len)))
      continue;
    as_snapvec *v = slot->val;
    for (uint32_t i = v->n; i-- > 0;) {
      if (n == cap) {
        cap = cap ? cap * 2 : 16;
        list_item *ni = as_realloc(items, sizeof *ni * cap);
        if (!ni) {
          rc = AS_ENOMEM;
          goto unlock;
        }
        items = ni;
      }
      items[n].entity = slot->key; /* valid while we hold a reference */
      items[n].len = slot->key_len;
      items[n].info = v->v[i]->info;
      n++;
    }
  }
  /* Copy entity names so the callback runs without the lock. */
  for (size_t i = 0; i < n; i++) {
    char *copy = as_strndup(items[i].entity, items[i].len);
    if (!copy) {
      for (size_t j = 0; j < i; j++) as_free(items[j].entity);
      n = 0;
      rc = AS_ENOMEM;
      break;
    }
    items[i].entity = copy;
  }
unlock:
  pthread_mutex_unlock(&st->mu);
  size_t i = 0;
  for (; i < n; i++)
    if (cb(arg, items[i].entity, items[i].len, &items[i].info)) break;
  for (size_t j = 0; j < n; j++) as_free(items[j].entity);
  as_free(items);
  return rc;
}

/* --- Automatic snapshots --------------------------------------------- */

/* Takes an automatic snapshot of e at ev if the rule holds against its
 * latest snapshot (read under snaps.mu, where store_add writes it).  A live
 * event may be checked after a newer snapshot was taken (a manual one, made
 * while this thread lagged behind the log): then it is judged against the
 * snapshots before it, so which automatic snapshots exist does not depend
 * on how far behind this thread was — unless it already has one. */
static as_err auto_check(as_db *db, as_entity *e, const as_event *ev, bool live,
                         bool *made) {
  *made = false;
  pthread_mutex_lock(&db->snaps.mu);
  uint64_t count = atomic_load_explicit(&e->snap_count, memory_order_relaxed);
  int64_t as_of = atomic_load_explicit(&e->snap_as_of_us, memory_order_relaxed);
  pthread_mutex_unlock(&db->snaps.mu);
  if (live && count >= ev->version) {
    as_snap *prev = as__snap_find(db, e->id, e->id_len, ev->position);
    bool exists = prev && prev->info.event_count == ev->version;
    count = prev ? prev->info.event_count : 0;
    as_of = prev ? prev->info.as_of_us : 0;
    as__snap_release(prev);
    if (exists) return AS_OK;
  }
  if (!as__snap_due(db->opt.snapshot_every_events, db->opt.snapshot_every_seconds,
                    ev->version, ev->timestamp_us, count, as_of))
    return AS_OK;
  as_err rc = snapshot_at(db, e, ev->position, AS_SNAPSHOT_AUTOMATIC, NULL);
  *made = rc == AS_OK;
  return rc;
}

void as__snapshots_due_push(as_db *db, uint64_t pos) {
  as_snapstore *st = &db->snaps;
  pthread_mutex_lock(&st->due_mu);
  if (st->due_head == st->due_n) st->due_head = st->due_n = 0;
  if (st->due_n == st->due_cap) {
    if (st->due_head) { /* reuse the consumed front */
      memmove(st->due, st->due + st->due_head, sizeof *st->due * (st->due_n - st->due_head));
      st->due_n -= st->due_head;
      st->due_head = 0;
    }
    if (st->due_n == st->due_cap) {
      size_t cap = st->due_cap ? st->due_cap * 2 : 256;
      uint64_t *nd = as_realloc(st->due, sizeof *nd * cap);
      if (!nd) {
        pthread_mutex_unlock(&st->due_mu);
        as__log(&db->log, AS_LOG_WARN,
                "snapshots: out of memory; no automatic snapshot at position %" PRIu64, pos);
        return;
      }
      st->due = nd;
      st->due_cap = cap;
    }
  }
  st->due[st->due_n++] = pos;
  atomic_store_explicit(&st->next_due, st->due[st->due_head], memory_order_relaxed);
  pthread_mutex_unlock(&st->due_mu);
}

/* Takes the marks up to ev's position; true if ev itself was marked. */
static bool due_take(as_snapstore *st, uint64_t pos) {
  bool marked = false;
  pthread_mutex_lock(&st->due_mu);
  while (st->due_head < st->due_n && st->due[st->due_head] <= pos)
    marked |= st->due[st->due_head++] == pos;
  atomic_store_explicit(&st->next_due,
                        st->due_head < st->due_n ? st->due[st->due_head] : UINT64_MAX,
                        memory_order_relaxed);
  pthread_mutex_unlock(&st->due_mu);
  return marked;
}

/* The "$snapshots" projection.  Live events are checked only when the
 * writer marked them (the mark was queued before the event was committed,
 * and the projection sees committed events only, so a relaxed load of
 * next_due cannot miss it); the recovered log is checked event by event. */
static as_err auto_apply(void *ctx, const as_event *ev) {
  as_db *db = ctx;
  as_snapstore *st = &db->snaps;
  bool live = ev->position >= st->auto_from;
  if (live && (ev->position < atomic_load_explicit(&st->next_due, memory_order_relaxed) ||
               !due_take(st, ev->position)))
    return AS_OK;
  as_entity *e = as__entity_find(db, ev->entity_id, ev->entity_id_len);
  if (!e) return AS_ENOTFOUND;
  bool made;
  as_err rc = auto_check(db, e, ev, live, &made);
  if (live && !made) { /* rejected: let the writer mark this entity again */
    uint64_t v = ev->version;
    atomic_compare_exchange_strong(&e->snap_hint, &v, 0);
  }
  return rc;
}

static as_err auto_get(void *ctx, const char *key, size_t key_len, char **json,
                       size_t *json_len) {
  return AS_ENOTFOUND;
}

static void auto_clear(void *ctx) {}

as_err as__snapshots_auto_register(as_db *db) {
  if (!db->opt.snapshot_every_events && !db->opt.snapshot_every_seconds)
    return AS_OK;
  db->snaps.auto_from = as__committed(db) + 1;
  db->snaps.auto_on = true;
  as_projection_ops ops = {"$snapshots", db, auto_apply, auto_get, auto_clear,
                           NULL};
  return as_projection_register(db, &ops);
}
