/*
 * as_route_metrics.c — GET /metrics: Prometheus text exposition format
 * 0.0.4 (seed-api-contract §9).  The seed's metric names are kept where
 * they mean the same thing here; the reference is docs/metrics.md.
 *
 * Everything is read at scrape time from counters that already exist
 * (as_db_stats, projection stats, the schema registry, the replay manager,
 * the WebSocket hub, the HTTP layer's as_metrics slots): a scrape costs
 * the requests nothing, and nothing is counted twice.
 */
#include <stdio.h>
#include <string.h>

#include "core/as_common.h"
#include "http/as_http_int.h"
#include "services/as_registry.h"
#include "services/as_replay.h"

#define GAUGE "gauge"
#define COUNTER "counter"

/* One unlabelled sample with its HELP/TYPE header. */
static void one(as_buf *b, const char *name, const char *type, const char *help, uint64_t v) {
  as_prom_header(b, name, type, help);
  as_prom_u64(b, name, NULL, v);
}

#define MAX_BOUNDS 32
_Static_assert(AS_SYNC_HIST_N <= MAX_BOUNDS && AS_REPLAY_DURATION_BUCKETS <= MAX_BOUNDS,
               "histogram bounds fit");

/* A histogram from per-bucket counts: counts[i] for values <= bounds_s[i]
 * (seconds; and above the bound before), counts[n] above every bound. */
static void histogram(as_buf *b, const char *name, const char *help, const double *bounds_s,
                      size_t n, const uint64_t *counts, double sum_s) {
  char text[MAX_BOUNDS][24];
  const char *labels[MAX_BOUNDS];
  uint64_t cum[MAX_BOUNDS + 1], acc = 0;
  if (n > MAX_BOUNDS) n = MAX_BOUNDS;
  for (size_t i = 0; i < n; i++) {
    snprintf(text[i], sizeof text[i], "%g", bounds_s[i]);
    labels[i] = text[i];
    cum[i] = acc += counts[i];
  }
  cum[n] = acc + counts[n];
  as_prom_header(b, name, "histogram", help);
  as_prom_histogram(b, name, NULL, labels, n, cum, sum_s);
}

static void engine_metrics(as_buf *b, as_server *s) {
  as_stats st;
  as_db_stats(s->db, &st);
  uint64_t appended = st.total_events > st.recovered_events ? st.total_events - st.recovered_events : 0;
  one(b, "allsource_events_ingested_total", COUNTER,
      "Events committed by this process since it started (events recovered at start-up "
      "excluded).",
      appended);
  one(b, "allsource_append_requests_total", COUNTER,
      "Append requests committed since start (a batch is one request).", st.appends_total);
  one(b, "allsource_fsyncs_total", COUNTER, "fdatasync calls of the write-ahead log since start.",
      st.syncs_total);
  {
    static const uint64_t bounds_us[AS_SYNC_HIST_N] = AS_SYNC_HIST_BOUNDS_US;
    double bounds_s[AS_SYNC_HIST_N];
    for (size_t i = 0; i < AS_SYNC_HIST_N; i++) bounds_s[i] = (double)bounds_us[i] / 1e6;
    histogram(b, "allsource_fsync_duration_seconds", "Duration of the WAL's fdatasync calls.",
              bounds_s, AS_SYNC_HIST_N, st.sync_hist, (double)st.sync_us_total / 1e6);
  }
  one(b, "allsource_storage_events_total", GAUGE, "Committed events in the store.",
      st.total_events);
  one(b, "allsource_storage_entities_total", GAUGE, "Entities with at least one event.",
      st.total_entities);
  one(b, "allsource_storage_event_types", GAUGE, "Distinct event types.",
      st.total_event_types);
  one(b, "allsource_committed_position", GAUGE, "The committed (visible, durable) position.",
      st.committed_position);
  one(b, "allsource_sealed_position", GAUGE, "Positions up to this one live in Parquet files.",
      st.sealed_position);
  one(b, "allsource_recovered_events", GAUGE, "Events recovered when the store was opened.",
      st.recovered_events);
  one(b, "allsource_storage_size_bytes", GAUGE, "Bytes on disk: WAL segments plus Parquet files.",
      st.storage_bytes + st.parquet_bytes);
  one(b, "allsource_wal_bytes", GAUGE, "Bytes in WAL segments.", st.storage_bytes);
  one(b, "allsource_wal_segments_total", GAUGE, "WAL segment files.", st.wal_segments);
  one(b, "allsource_parquet_bytes", GAUGE, "Bytes in sealed Parquet files.", st.parquet_bytes);
  one(b, "allsource_parquet_files_total", GAUGE, "Sealed Parquet files.", st.parquet_files);
  one(b, "allsource_memory_bytes", GAUGE, "Bytes allocated by the engine.", st.memory_bytes);
  one(b, "allsource_uptime_seconds", GAUGE, "Seconds since the server started.",
      (uint64_t)((as_time_now_us() - s->started_us) / 1000000));
  as_prom_header(b, "allsource_build_info", GAUGE, "Version and durability mode (always 1).");
  as_buf_printf(b, "allsource_build_info{version=\"%s\",durability=\"%s\"} 1\n",
                AS_VERSION_STRING, as_durability_name(st.durability));
}

static const char *const BUILTIN_PROJECTIONS[] = {"entity_snapshots", "event_counters"};

static void projection_metrics(as_buf *b, as_server *s) {
  uint64_t committed = as_db_committed_position(s->db);
  as_projection_stats ps[AS_ARRAY_LEN(BUILTIN_PROJECTIONS)];
  bool ok[AS_ARRAY_LEN(BUILTIN_PROJECTIONS)];
  size_t n = 0;
  for (size_t i = 0; i < AS_ARRAY_LEN(BUILTIN_PROJECTIONS); i++) {
    ok[i] = as_projection_stats_get(s->db, BUILTIN_PROJECTIONS[i], &ps[i]) == AS_OK;
    n += ok[i];
  }
  one(b, "allsource_projections_total", GAUGE, "Built-in projections maintained by the store.", n);
  static const struct {
    const char *name, *type, *help;
  } fam[] = {
      {"allsource_projection_position", GAUGE, "Last position applied to the projection."},
      {"allsource_projection_lag_events", GAUGE,
       "Committed events the projection has not applied yet."},
      {"allsource_projection_events_processed", COUNTER, "Events applied to the projection."},
      {"allsource_projection_errors_total", COUNTER, "Events the projection failed to apply."},
  };
  for (size_t f = 0; f < AS_ARRAY_LEN(fam); f++) {
    as_prom_header(b, fam[f].name, fam[f].type, fam[f].help);
    for (size_t i = 0; i < AS_ARRAY_LEN(BUILTIN_PROJECTIONS); i++) {
      if (!ok[i]) continue;
      char labels[96];
      snprintf(labels, sizeof labels, "projection_name=\"%s\"", BUILTIN_PROJECTIONS[i]);
      uint64_t v = f == 0   ? ps[i].position
                   : f == 1 ? (committed > ps[i].position ? committed - ps[i].position : 0)
                   : f == 2 ? ps[i].events_processed
                            : ps[i].errors;
      as_prom_u64(b, fam[f].name, labels, v);
    }
  }
}

static void registry_metrics(as_buf *b, as_server *s) {
  if (!s->registry) return;
  as_registry_settings rs;
  as_registry_settings_get(s->registry, &rs);
  one(b, "allsource_schema_subjects", GAUGE, "Schema subjects with live versions.", rs.subjects);
  const char *name = "allsource_schema_validations_total";
  as_prom_header(b, name, COUNTER,
                 "Events checked against a schema at ingest, by result (valid, rejected in "
                 "enforce mode, warned: accepted although invalid).");
  uint64_t invalid = rs.rejected + rs.warned;
  as_prom_u64(b, name, "result=\"valid\"", rs.validated > invalid ? rs.validated - invalid : 0);
  as_prom_u64(b, name, "result=\"rejected\"", rs.rejected);
  as_prom_u64(b, name, "result=\"warned\"", rs.warned);
}

static void replay_metrics(as_buf *b, as_server *s) {
  if (!s->replay) return;
  as_replay_stats rs;
  as_replay_stats_get(s->replay, &rs);
  one(b, "allsource_replays_started_total", COUNTER, "Replays started.", rs.started);
  one(b, "allsource_replays_completed_total", COUNTER, "Replays that processed every event.",
      rs.completed);
  one(b, "allsource_replays_failed_total", COUNTER, "Replays that failed.", rs.failed);
  one(b, "allsource_replays_cancelled_total", COUNTER, "Replays cancelled (by a client or at "
      "shutdown).", rs.cancelled);
  one(b, "allsource_replays_running", GAUGE, "Replays running now.", rs.running);
  one(b, "allsource_replay_records", GAUGE, "Replay records kept (running and finished).",
      rs.records);
  one(b, "allsource_replay_events_processed", COUNTER, "Events applied by replays.",
      rs.events_processed);
  uint64_t counts[AS_REPLAY_DURATION_BUCKETS + 1], in_bounds = 0;
  for (size_t i = 0; i < AS_REPLAY_DURATION_BUCKETS; i++)
    in_bounds += counts[i] = rs.duration_buckets[i];
  counts[AS_REPLAY_DURATION_BUCKETS] =
      rs.duration_count > in_bounds ? rs.duration_count - in_bounds : 0;
  histogram(b, "allsource_replay_duration_seconds", "Duration of finished replays.",
            as_replay_duration_bounds, AS_REPLAY_DURATION_BUCKETS, counts, rs.duration_sum);
}

static void ws_metrics(as_buf *b, as_server *s) {
  as_ws_stats ws;
  pthread_mutex_lock(&s->stats_mu);
  as_ws_stats_get(s->stats_hub, &ws); /* zeros once the server is stopping */
  pthread_mutex_unlock(&s->stats_mu);
  one(b, "allsource_websocket_connections_active", GAUGE, "Open WebSocket connections.",
      ws.connections_active);
  one(b, "allsource_websocket_connections_total", COUNTER, "WebSocket connections accepted.",
      ws.connections_total);
  one(b, "allsource_websocket_messages_sent", COUNTER, "WebSocket messages sent.",
      ws.messages_sent);
  one(b, "allsource_websocket_errors_total", COUNTER, "WebSocket protocol or socket errors.",
      ws.errors);
  one(b, "allsource_websocket_closed_slow_total", COUNTER,
      "WebSocket connections closed because the client accepted no byte for too long.",
      ws.closed_slow);
}

/* --- HTTP -------------------------------------------------------------------- */

/* method="M",endpoint="E" of slot i into out. */
static void slot_labels(const as_route *routes, size_t nroutes, size_t i, char *out, size_t cap) {
  as_buf lb;
  as_buf_init(&lb, cap - 1);
  const char *method = i < nroutes ? routes[i].method : i == nroutes ? "any" : "OPTIONS";
  const char *endpoint = i < nroutes ? routes[i].pattern : i == nroutes ? "(unmatched)"
                                                                        : "(preflight)";
  as_buf_printf(&lb, "method=\"%s\",endpoint=\"", method);
  as_prom_label_value(&lb, endpoint, strlen(endpoint));
  as_buf_putc(&lb, '"');
  snprintf(out, cap, "%s", as_buf_error(&lb) || !lb.data ? "endpoint=\"?\"" : lb.data);
  as_buf_free(&lb);
}

static void http_metrics(as_buf *b, as_server *s) {
  size_t nroutes;
  const as_route *routes = as__http_routes(&nroutes);
  size_t nslots = s->metrics.nslots;
  one(b, "allsource_http_requests_in_flight", GAUGE,
      "HTTP requests being served (this scrape included).", atomic_load(&s->in_flight));
  static const char *const classes[AS_METRICS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  const char *req = "allsource_http_requests_total", *dur = "allsource_http_request_duration_seconds",
             *bytes = "allsource_http_request_bytes_total",
             *active = "allsource_http_requests_active";
  as_prom_header(b, req, COUNTER,
                 "HTTP requests answered, by route pattern, method and status class.");
  for (size_t i = 0; i < nslots; i++) {
    as_metrics_snapshot sn;
    as_metrics_read(&s->metrics, i, &sn);
    char labels[256], l2[300];
    slot_labels(routes, nroutes, i, labels, sizeof labels);
    for (size_t c = 0; c < AS_METRICS_CLASSES; c++) {
      if (!sn.status[c]) continue;
      snprintf(l2, sizeof l2, "%s,status=\"%s\"", labels, classes[c]);
      as_prom_u64(b, req, l2, sn.status[c]);
    }
  }
  as_prom_header(b, dur, "histogram",
                 "HTTP request duration from the request line to the end of the response, by "
                 "route pattern and method.");
  for (size_t i = 0; i < nslots; i++) {
    as_metrics_snapshot sn;
    as_metrics_read(&s->metrics, i, &sn);
    if (!sn.cumulative[AS_METRICS_BUCKETS]) continue;
    char labels[256];
    slot_labels(routes, nroutes, i, labels, sizeof labels);
    as_prom_histogram(b, dur, labels, as_metrics_bounds_text, AS_METRICS_BUCKETS, sn.cumulative,
                      (double)sn.sum_us / 1e6);
  }
  as_prom_header(b, bytes, COUNTER, "HTTP request body bytes received, by route pattern and method.");
  for (size_t i = 0; i < nslots; i++) {
    as_metrics_snapshot sn;
    as_metrics_read(&s->metrics, i, &sn);
    if (!sn.bytes_in) continue;
    char labels[256];
    slot_labels(routes, nroutes, i, labels, sizeof labels);
    as_prom_u64(b, bytes, labels, sn.bytes_in);
  }
  as_prom_header(b, active, GAUGE,
                 "HTTP requests in progress by route pattern and method (long-lived NDJSON "
                 "subscriptions included).");
  for (size_t i = 0; i < nslots; i++) {
    as_metrics_snapshot sn;
    as_metrics_read(&s->metrics, i, &sn);
    if (sn.started == sn.finished) continue;
    char labels[256];
    slot_labels(routes, nroutes, i, labels, sizeof labels);
    as_prom_u64(b, active, labels, sn.started - sn.finished);
  }
}

void as_route_metrics(as_hreq *r) {
  as_buf b;
  as_buf_init(&b, 0);
  engine_metrics(&b, r->srv);
  projection_metrics(&b, r->srv);
  registry_metrics(&b, r->srv);
  replay_metrics(&b, r->srv);
  ws_metrics(&b, r->srv);
  http_metrics(&b, r->srv);
  as_hreq_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}
