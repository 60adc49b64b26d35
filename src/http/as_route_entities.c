/*
 * as_route_entities.c — GET /api/v1/entities/{id}/state[?as_of] and
 * GET /api/v1/entities/{id}/snapshot, plus /health and /api/v1/stats.
 */
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "http/as_http_int.h"

/* --- State -------------------------------------------------------------- */

typedef struct state_stream {
  char *head;     /* everything up to "history":[ */
  size_t head_len;
  as_iter *it;    /* the history: the entity's events up to the state's */
  int phase;
  uint64_t n;
} state_stream;

static bool state_fill(void *p, as_buf *out) {
  state_stream *s = p;
  if (s->phase == 0) {
    as_buf_append(out, s->head, s->head_len);
    s->phase = 1;
  }
  if (s->phase == 1) {
    as_event ev;
    for (int i = 0; i < 256; i++) {
      if (as_iter_next(s->it, &ev) != AS_OK) {
        as_buf_puts(out, "]}");
        s->phase = 2;
        return true;
      }
      if (s->n++) as_buf_putc(out, ',');
      as_buf_puts(out, "{\"event_id\":");
      as_json_put_uuid(out, ev.id);
      as_buf_puts(out, ",\"type\":");
      as_json_put_str(out, ev.event_type, ev.event_type_len);
      as_buf_puts(out, ",\"timestamp\":");
      as_json_put_time(out, ev.timestamp_us);
      as_buf_puts(out, ",\"payload\":");
      as_buf_append(out, ev.payload, ev.payload_len);
      as_buf_puts(out, ",\"version\":");
      as_buf_put_u64(out, ev.version);
      as_buf_putc(out, '}');
    }
    return false;
  }
  return true;
}

static void state_free(void *p) {
  state_stream *s = p;
  as_iter_close(s->it);
  as_free(s->head);
  as_free(s);
}

static void not_found(as_hreq *r) {
  as_hreq_error(r, 404, "not_found", "Entity not found", NULL, "%s", r->param);
}

void as_route_entity_state(as_hreq *r) {
  bool has_as_of;
  int64_t as_of = AS_TIME_MAX;
  if (!as_http_time_arg(r, "as_of", &as_of, &has_as_of)) return;
  if (!has_as_of) as_of = AS_TIME_MAX;
  char *json;
  size_t jlen;
  as_state_info info;
  as_err rc = as_entity_state(r->srv->db, r->param, r->param_len, as_of, &json,
                              &jlen, &info);
  if (rc == AS_ENOTFOUND) {
    not_found(r);
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"entity_id\":");
  as_json_put_str(&b, r->param, r->param_len);
  as_buf_puts(&b, ",\"last_updated\":");
  as_json_put_time(&b, info.last_updated_us);
  as_buf_puts(&b, ",\"event_count\":");
  as_buf_put_u64(&b, info.event_count);
  as_buf_puts(&b, ",\"version\":");
  as_buf_put_u64(&b, info.version);
  as_buf_puts(&b, ",\"as_of\":");
  if (has_as_of)
    as_json_put_time(&b, as_of);
  else
    as_buf_puts(&b, "null");
  as_buf_puts(&b, ",\"current_state\":");
  as_buf_append(&b, json, jlen);
  as_buf_puts(&b, ",\"history\":[");
  as_free(json);
  state_stream *s = as_calloc(1, sizeof *s);
  as_query q;
  as_query_init(&q);
  q.entity_id = r->param;
  q.entity_id_len = r->param_len;
  q.to_position = info.last_position;
  if (!s || as_buf_error(&b) || as_query_open(r->srv->db, &q, &s->it)) {
    if (s) as_iter_close(s->it);
    as_free(s);
    as_buf_free(&b);
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  s->head = as_buf_detach(&b, &s->head_len);
  as_hreq_stream(r, 200, "application/json", state_fill, s, state_free);
}

void as_route_entity_snapshot(as_hreq *r) {
  char *json;
  size_t jlen;
  as_err rc = as_projection_get(r->srv->db, "entity_snapshots", r->param,
                                r->param_len, &json, &jlen);
  if (rc == AS_ENOTFOUND) {
    not_found(r);
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"entity_id\":");
  as_json_put_str(&b, r->param, r->param_len);
  as_buf_puts(&b, ",\"snapshot\":");
  as_buf_append(&b, json, jlen);
  as_buf_puts(&b, ",\"from_projection\":\"entity_snapshots\"}");
  as_free(json);
  as_hreq_respond(r, 200, "application/json", &b);
}

/* --- Health and stats -------------------------------------------------- */

void as_route_health(as_hreq *r) {
  as_buf b;
  as_buf_init(&b, 0);
  as_stats st;
  as_db_stats(r->srv->db, &st);
  as_buf_puts(&b, "{\"status\":\"healthy\",\"service\":\"allsource-core\",\"version\":\"");
  as_buf_puts(&b, AS_VERSION_STRING);
  as_buf_puts(&b, "\",\"durability\":\"");
  as_buf_puts(&b, as_durability_name(st.durability));
  as_buf_puts(&b, "\",\"uptime_seconds\":");
  as_buf_put_u64(&b, (uint64_t)((as_time_now_us() - r->srv->started_us) / 1000000));
  as_buf_putc(&b, '}');
  as_hreq_respond(r, 200, "application/json", &b);
}

void as_route_stats(as_hreq *r) {
  as_stats st;
  as_db_stats(r->srv->db, &st);
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"total_events\":");
  as_buf_put_u64(&b, st.total_events);
  as_buf_puts(&b, ",\"total_entities\":");
  as_buf_put_u64(&b, st.total_entities);
  as_buf_puts(&b, ",\"total_event_types\":");
  as_buf_put_u64(&b, st.total_event_types);
  as_buf_puts(&b, ",\"total_ingested\":");
  as_buf_put_u64(&b, st.committed_position);
  as_buf_puts(&b, ",\"last_position\":");
  as_buf_put_u64(&b, st.committed_position);
  as_buf_puts(&b, ",\"durability\":\"");
  as_buf_puts(&b, as_durability_name(st.durability));
  as_buf_puts(&b, "\",\"uptime_seconds\":");
  as_buf_put_u64(&b, (uint64_t)((as_time_now_us() - r->srv->started_us) / 1000000));
  as_buf_puts(&b, ",\"storage_bytes\":");
  as_buf_put_u64(&b, st.storage_bytes);
  as_buf_puts(&b, ",\"wal_segments\":");
  as_buf_put_u64(&b, st.wal_segments);
  as_buf_puts(&b, ",\"memory_bytes\":");
  as_buf_put_u64(&b, st.memory_bytes);
  as_buf_puts(&b, ",\"recovered_events\":");
  as_buf_put_u64(&b, st.recovered_events);
  as_buf_puts(&b, ",\"appends_total\":");
  as_buf_put_u64(&b, st.appends_total);
  as_buf_puts(&b, ",\"syncs_total\":");
  as_buf_put_u64(&b, st.syncs_total);
  as_buf_puts(&b, ",\"parquet_files\":");
  as_buf_put_u64(&b, st.parquet_files);
  as_buf_puts(&b, ",\"parquet_bytes\":");
  as_buf_put_u64(&b, st.parquet_bytes);
  as_buf_puts(&b, ",\"sealed_position\":");
  as_buf_put_u64(&b, st.sealed_position);
  as_buf_putc(&b, '}');
  as_hreq_respond(r, 200, "application/json", &b);
}

/* --- Compaction (seed-api-contract §5.5) ------------------------------- */

static void put_compaction_result(as_buf *b, const as_compaction_result *r) {
  as_buf_printf(b,
                "{\"files_compacted\":%llu,\"bytes_before\":%llu,\"bytes_after\":%llu,"
                "\"events_compacted\":%llu,\"duration_ms\":%llu}",
                (unsigned long long)r->files_compacted,
                (unsigned long long)r->bytes_before,
                (unsigned long long)r->bytes_after,
                (unsigned long long)r->events_compacted,
                (unsigned long long)r->duration_ms);
}

void as_route_compaction_trigger(as_hreq *r) {
  as_compaction_result res;
  as_err rc = as_compact(r->srv->db, &res);
  if (rc == AS_EUNSUPPORTED) {
    as_hreq_error(r, 409, "compaction_disabled", "Invalid request", NULL,
                  "compaction needs durable storage (this server runs with "
                  "--durability none)");
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  put_compaction_result(&b, &res);
  as_hreq_respond(r, 200, "application/json", &b);
}

void as_route_compaction_stats(as_hreq *r) {
  as_compaction_stats s;
  as_compaction_config c;
  as_compaction_stats_get(r->srv->db, &s, &c);
  as_stats st;
  as_db_stats(r->srv->db, &st);
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_printf(&b,
                "{\"stats\":{\"total_compactions\":%llu,\"total_files_compacted\":%llu,"
                "\"total_bytes_before\":%llu,\"total_bytes_after\":%llu,"
                "\"total_events_compacted\":%llu,\"last_compaction_duration_ms\":%llu,"
                "\"space_saved_bytes\":%llu},",
                (unsigned long long)s.total_compactions,
                (unsigned long long)s.total_files_compacted,
                (unsigned long long)s.total_bytes_before,
                (unsigned long long)s.total_bytes_after,
                (unsigned long long)s.total_events_compacted,
                (unsigned long long)s.last_compaction_duration_ms,
                (unsigned long long)s.space_saved_bytes);
  as_buf_printf(&b,
                "\"config\":{\"min_files_to_compact\":%u,\"target_file_size\":%llu,"
                "\"max_file_size\":%llu,\"small_file_threshold\":%llu,"
                "\"compaction_interval_seconds\":%u,\"auto_compact\":%s,"
                "\"strategy\":\"%s\"},",
                c.min_files_to_compact, (unsigned long long)c.target_file_size,
                (unsigned long long)c.max_file_size,
                (unsigned long long)c.small_file_threshold,
                c.compaction_interval_seconds, c.auto_compact ? "true" : "false",
                as_compaction_strategy_name(c.strategy));
  as_buf_printf(&b,
                "\"storage\":{\"parquet_files\":%llu,\"parquet_bytes\":%llu,"
                "\"sealed_position\":%llu,\"wal_segments\":%llu,\"wal_bytes\":%llu}}",
                (unsigned long long)st.parquet_files,
                (unsigned long long)st.parquet_bytes,
                (unsigned long long)st.sealed_position,
                (unsigned long long)st.wal_segments,
                (unsigned long long)st.storage_bytes);
  as_hreq_respond(r, 200, "application/json", &b);
}
