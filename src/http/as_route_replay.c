/*
 * as_route_replay.c — the seed's replay routes (seed-api-contract §7) on
 * the replay manager (src/services/as_replay.h):
 *
 *   POST   /api/v1/replay               start
 *   GET    /api/v1/replay               list, in start order
 *   GET    /api/v1/replay/{id}          progress
 *   POST   /api/v1/replay/{id}/cancel   cancel a running replay
 *   DELETE /api/v1/replay/{id}          delete a finished record
 *   GET    /api/v1/replay/{id}/state    a key of the replayed projection
 *
 * The seed's request and response fields are kept; the differences (input
 * checked up front, 404/409 instead of 400, isolated targets, ...) are in
 * docs/differences.md and the reference in docs/replay.md.
 */
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "http/as_http_int.h"
#include "services/as_replay.h"

#define BODY_DEPTH 16

static as_replay_mgr *manager(as_hreq *r) {
  if (r->srv->replay) return r->srv->replay;
  as_hreq_error(r, 503, "unavailable", "Unavailable", NULL,
                "replays are not enabled on this server");
  return NULL;
}

/* The {id} path parameter as a UUID; responds 400 invalid_id otherwise. */
static bool path_id(as_hreq *r, uint8_t id[16]) {
  if (r->param && as_uuid_parse(r->param, r->param_len, id) == AS_OK) return true;
  as_hreq_error(r, 400, "invalid_id", "Invalid request", NULL,
                "replay id must be a UUID (got \"%.*s\")", (int)AS_MIN(r->param_len, 64u),
                r->param ? r->param : "");
  return false;
}

static void not_found(as_hreq *r) {
  as_hreq_error(r, 404, "not_found", "Not found", NULL, "Replay not found: %s", r->param);
}

/* --- Rendering -------------------------------------------------------------- */

static void put_time_or_null(as_buf *b, int64_t t, bool present) {
  if (present)
    as_json_put_time(b, t);
  else
    as_buf_puts(b, "null");
}

static void put_opt_str(as_buf *b, const char *s, bool present) {
  if (present)
    as_json_put_str(b, s, strlen(s));
  else
    as_buf_puts(b, "null");
}

/* The seed's progress object plus the echoed request. */
static void put_progress(as_buf *b, const as_replay_info *i) {
  as_buf_puts(b, "{\"replay_id\":");
  as_json_put_uuid(b, i->id);
  as_buf_printf(b, ",\"status\":\"%s\",\"started_at\":", as_replay_status_name(i->status));
  as_json_put_time(b, i->started_us);
  as_buf_puts(b, ",\"updated_at\":");
  as_json_put_time(b, as_time_now_us());
  as_buf_puts(b, ",\"completed_at\":");
  put_time_or_null(b, i->completed_us, i->status != AS_REPLAY_RUNNING);
  as_buf_printf(b,
                ",\"total_events\":%llu,\"processed_events\":%llu,\"failed_events\":%llu,"
                "\"progress_percentage\":%.2f,\"events_per_second\":%.3f,\"error_message\":",
                (unsigned long long)i->total_events, (unsigned long long)i->processed_events,
                (unsigned long long)i->failed_events, i->progress_percentage,
                i->events_per_second);
  put_opt_str(b, i->error, i->status == AS_REPLAY_FAILED);
  as_buf_puts(b, ",\"projection_name\":");
  put_opt_str(b, i->projection, i->projection[0] != '\0');
  as_buf_puts(b, ",\"entity_id\":");
  put_opt_str(b, i->entity_id, i->has_entity_id);
  as_buf_puts(b, ",\"event_type\":");
  put_opt_str(b, i->event_type, i->has_event_type);
  as_buf_puts(b, ",\"from_timestamp\":");
  put_time_or_null(b, i->from_us, i->from_us != AS_TIME_MIN);
  as_buf_puts(b, ",\"to_timestamp\":");
  put_time_or_null(b, i->to_us, i->to_us != AS_TIME_MAX);
  as_buf_printf(b,
                ",\"from_position\":%llu,\"to_position\":%llu,\"config\":{\"batch_size\":%u,"
                "\"parallel\":%s,\"workers\":%u,\"emit_progress\":%s,\"progress_interval\":%u,"
                "\"max_events_per_second\":%llu}}",
                (unsigned long long)i->from_position, (unsigned long long)i->to_position,
                i->batch_size, i->parallel ? "true" : "false", i->workers,
                i->emit_progress ? "true" : "false", i->progress_interval,
                (unsigned long long)i->max_events_per_second);
}

static void respond_progress(as_hreq *r, const as_replay_info *i) {
  as_buf b;
  as_buf_init(&b, 0);
  put_progress(&b, i);
  as_hreq_respond(r, 200, "application/json", &b);
}

/* --- POST /api/v1/replay ---------------------------------------------------- */

/* An optional string member, decoded; false after responding 400. */
static bool opt_string(as_hreq *r, as_json_val obj, const char *name, const char **s,
                       size_t *len) {
  as_json_val v;
  bool present;
  *s = NULL;
  *len = 0;
  if (!as_http_member(r, obj, name, AS_JSON_STRING, false, &v, &present)) return false;
  if (!present) return true;
  *s = as_http_str(r, v, len);
  if (*s) return true;
  as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
  return false;
}

static bool opt_time(as_hreq *r, as_json_val obj, const char *name, int64_t *t) {
  const char *s;
  size_t len;
  if (!opt_string(r, obj, name, &s, &len)) return false;
  if (!s || as_time_parse(s, len, t) == AS_OK) return true;
  return as_http_field_error(r, name,
                             "must be an RFC 3339 timestamp (e.g. 2025-10-20T16:05:49Z)");
}

/* config.<name>: an integer in [lo, hi] (null or absent keeps *out). */
static bool config_int(as_hreq *r, as_json_val cfg, const char *name, uint64_t lo,
                       uint64_t hi, uint64_t *out) {
  as_json_val v;
  if (!as_json_obj_get(cfg, name, &v) || v.kind == AS_JSON_NULL) return true;
  uint64_t n;
  if (v.kind == AS_JSON_NUMBER && as_json_to_u64(v, &n) == AS_OK && n >= lo && n <= hi) {
    *out = n;
    return true;
  }
  char field[64], what[96];
  snprintf(field, sizeof field, "config.%s", name);
  snprintf(what, sizeof what, "must be an integer from %llu to %llu", (unsigned long long)lo,
           (unsigned long long)hi);
  return as_http_field_error(r, field, what);
}

static bool config_bool(as_hreq *r, as_json_val cfg, const char *name, bool *out) {
  as_json_val v;
  if (!as_json_obj_get(cfg, name, &v) || v.kind == AS_JSON_NULL) return true;
  if (v.kind == AS_JSON_TRUE || v.kind == AS_JSON_FALSE) {
    *out = v.kind == AS_JSON_TRUE;
    return true;
  }
  char field[64];
  snprintf(field, sizeof field, "config.%s", name);
  return as_http_field_error(r, field, "must be a boolean");
}

static bool parse_config(as_hreq *r, as_json_val root, as_replay_request *rq) {
  as_json_val cfg;
  bool present;
  if (!as_http_member(r, root, "config", AS_JSON_OBJECT, false, &cfg, &present)) return false;
  if (!present) return true;
  uint64_t batch = rq->batch_size, workers = rq->workers, interval = rq->progress_interval;
  uint64_t rate = rq->max_events_per_second;
  if (!config_int(r, cfg, "batch_size", 1, AS_REPLAY_MAX_BATCH, &batch) ||
      !config_int(r, cfg, "workers", 1, AS_REPLAY_MAX_WORKERS, &workers) ||
      !config_int(r, cfg, "progress_interval", 1, AS_REPLAY_MAX_PROGRESS_INTERVAL, &interval) ||
      !config_int(r, cfg, "max_events_per_second", 0, UINT64_MAX, &rate) ||
      !config_bool(r, cfg, "parallel", &rq->parallel) ||
      !config_bool(r, cfg, "emit_progress", &rq->emit_progress))
    return false;
  rq->batch_size = (uint32_t)batch;
  rq->workers = (uint32_t)workers;
  rq->progress_interval = (uint32_t)interval;
  rq->max_events_per_second = rate;
  return true;
}

void as_route_replay_start(as_hreq *r) {
  as_replay_mgr *m = manager(r);
  as_json_val root;
  if (!m || !as_http_object_body(r, BODY_DEPTH, &root)) return;
  as_replay_request rq;
  as_replay_request_init(&rq);
  if (!opt_string(r, root, "projection_name", &rq.projection, &rq.projection_len) ||
      !opt_string(r, root, "entity_id", &rq.entity_id, &rq.entity_id_len) ||
      !opt_string(r, root, "event_type", &rq.event_type, &rq.event_type_len) ||
      !opt_time(r, root, "from_timestamp", &rq.from_us) ||
      !opt_time(r, root, "to_timestamp", &rq.to_us) || !parse_config(r, root, &rq))
    return;
  as_replay_info info;
  as_error err;
  as_err rc = as_replay_start(m, &rq, &info, &err);
  char extra[96] = "";
  if (err.field[0]) snprintf(extra, sizeof extra, ",\"field\":\"%s\"", err.field);
  switch (rc) {
    case AS_OK:
      break;
    case AS_EINVAL:
      as_hreq_error(r, 400, "validation_error", "Validation error", extra, "%s", err.message);
      return;
    case AS_ENOTFOUND:
      as_hreq_error(r, 404, "not_found", "Not found", extra, "%s", err.message);
      return;
    case AS_EAGAIN:
      as_hreq_error(r, 429, "too_many_replays", "Too many replays", NULL, "%s", err.message);
      return;
    default:
      as_hreq_engine_error(r, rc, &err);
      return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"replay_id\":");
  as_json_put_uuid(&b, info.id);
  as_buf_printf(&b, ",\"status\":\"%s\",\"started_at\":", as_replay_status_name(info.status));
  as_json_put_time(&b, info.started_us);
  as_buf_printf(&b, ",\"total_events\":%llu,\"from_position\":%llu,\"to_position\":%llu",
                (unsigned long long)info.total_events, (unsigned long long)info.from_position,
                (unsigned long long)info.to_position);
  as_buf_puts(&b, ",\"projection_name\":");
  put_opt_str(&b, info.projection, info.projection[0] != '\0');
  as_buf_putc(&b, '}');
  as_hreq_respond(r, 200, "application/json", &b);
}

/* --- Reads and control ---------------------------------------------------- */

typedef struct list_ctx {
  as_buf *b;
  size_t n;
} list_ctx;

static void list_cb(void *arg, const as_replay_info *i) {
  list_ctx *c = arg;
  if (c->n++) as_buf_putc(c->b, ',');
  put_progress(c->b, i);
}

void as_route_replay_list(as_hreq *r) {
  as_replay_mgr *m = manager(r);
  if (!m) return;
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"replays\":[");
  list_ctx c = {&b, 0};
  as_replay_list(m, list_cb, &c, NULL);
  as_buf_printf(&b, "],\"total\":%zu}", c.n);
  as_hreq_respond(r, 200, "application/json", &b);
}

void as_route_replay_get(as_hreq *r) {
  as_replay_mgr *m = manager(r);
  uint8_t id[16];
  if (!m || !path_id(r, id)) return;
  as_replay_info info;
  if (as_replay_get(m, id, &info)) {
    not_found(r);
    return;
  }
  respond_progress(r, &info);
}

void as_route_replay_cancel(as_hreq *r) {
  as_replay_mgr *m = manager(r);
  uint8_t id[16];
  if (!m || !path_id(r, id)) return;
  as_replay_info info;
  as_err rc = as_replay_cancel(m, id, &info);
  if (rc == AS_ENOTFOUND) {
    not_found(r);
    return;
  }
  if (rc == AS_ECONFLICT) {
    as_hreq_error(r, 409, "replay_not_running", "Conflict", NULL,
                  "Cannot cancel replay in status: %s", as_replay_status_name(info.status));
    return;
  }
  respond_progress(r, &info);
}

void as_route_replay_delete(as_hreq *r) {
  as_replay_mgr *m = manager(r);
  uint8_t id[16];
  if (!m || !path_id(r, id)) return;
  as_err rc = as_replay_delete(m, id);
  if (rc == AS_ENOTFOUND) {
    not_found(r);
    return;
  }
  if (rc == AS_ECONFLICT) {
    as_hreq_error(r, 409, "replay_running", "Conflict", NULL,
                  "Cannot delete a running replay. Cancel it first.");
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"replay_id\":");
  as_json_put_uuid(&b, id);
  as_buf_puts(&b, ",\"deleted\":true}");
  as_hreq_respond(r, 200, "application/json", &b);
}

void as_route_replay_state(as_hreq *r) {
  as_replay_mgr *m = manager(r);
  uint8_t id[16];
  if (!m || !path_id(r, id)) return;
  const char *key = as_hreq_arg(r, "key"), *proj = as_hreq_arg(r, "projection");
  if (!key || !key[0]) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "key is required (an entity_id for entity_snapshots, an event_type for "
                  "event_counters)");
    return;
  }
  as_replay_info info;
  if (as_replay_get(m, id, &info)) {
    not_found(r);
    return;
  }
  char *json;
  size_t len;
  int which;
  as_err rc = as_replay_state(m, id, proj, proj ? strlen(proj) : 0, key, strlen(key), &json,
                              &len, &which);
  if (rc == AS_ENOTFOUND && which == 0) {
    not_found(r);
    return;
  }
  if (rc == AS_ENOTFOUND) {
    as_hreq_error(r, 404, "not_found", "Not found", NULL, "%s not found in replay %s: %s",
                  which == 1 ? "Projection" : "Key", r->param, which == 1 ? proj : key);
    return;
  }
  if (rc == AS_ECONFLICT) {
    as_hreq_error(r, 409, "replay_running", "Conflict", NULL,
                  "the replay is still running; its state is readable once it stops");
    return;
  }
  if (rc == AS_EINVAL) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "projection is required: this replay has several projections");
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"replay_id\":");
  as_json_put_uuid(&b, id);
  as_buf_printf(&b, ",\"status\":\"%s\",\"processed_events\":%llu",
                as_replay_status_name(info.status), (unsigned long long)info.processed_events);
  as_buf_puts(&b, ",\"projection\":");
  if (proj)
    as_json_put_str(&b, proj, strlen(proj));
  else
    as_json_put_str(&b, info.projection, strlen(info.projection));
  as_buf_puts(&b, ",\"key\":");
  as_json_put_str(&b, key, strlen(key));
  as_buf_puts(&b, ",\"state\":");
  as_buf_append(&b, json, len);
  as_buf_putc(&b, '}');
  as_free(json);
  as_hreq_respond(r, 200, "application/json", &b);
}
