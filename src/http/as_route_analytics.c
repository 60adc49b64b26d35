/*
 * as_route_analytics.c — GET /api/v1/analytics/{frequency,summary,
 * correlation} with the seed's parameters and response shapes
 * (seed-api-contract §5.1–5.3), computed correctly (as_analytics.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "http/as_http_int.h"
#include "services/as_analytics.h"

static bool filters(as_hreq *r, as_an_filter *f, bool since_required) {
  memset(f, 0, sizeof *f);
  f->entity_id = as_hreq_arg(r, "entity_id");
  f->event_type = as_hreq_arg(r, "event_type");
  bool p;
  f->since_us = AS_TIME_MIN;
  f->until_us = AS_TIME_MAX;
  if (!as_http_time_arg(r, "since", &f->since_us, &p)) return false;
  if (!p) {
    f->since_us = AS_TIME_MIN;
    if (since_required) {
      as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                    "since is required (an RFC 3339 timestamp)");
      return false;
    }
  }
  if (!as_http_time_arg(r, "until", &f->until_us, &p)) return false;
  if (!p) f->until_us = AS_TIME_MAX;
  return true;
}

static void time_range(as_buf *b, int64_t from, int64_t to) {
  as_buf_puts(b, "\"time_range\":{\"from\":");
  as_json_put_time(b, from);
  as_buf_puts(b, ",\"to\":");
  as_json_put_time(b, to);
  as_buf_putc(b, '}');
}

void as_route_analytics_frequency(as_hreq *r) {
  as_an_filter f;
  if (!filters(r, &f, true)) return;
  const char *w = as_hreq_arg(r, "window");
  int win = w ? as_window_parse(w) : -1;
  if (win < 0) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "window is required: minute, hour, day, week or month");
    return;
  }
  if (f.until_us == AS_TIME_MAX) f.until_us = as_time_now_us();
  as_freq_result fr;
  as_error err;
  as_err rc = as_analytics_frequency(r->srv->db, &f, (as_window)win, &fr, &err);
  if (rc == AS_ELIMIT) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL, "%s", err.message);
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, &err);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"buckets\":[");
  for (size_t i = 0; i < fr.nbuckets; i++) {
    if (i) as_buf_putc(&b, ',');
    as_buf_puts(&b, "{\"timestamp\":");
    as_json_put_time(&b, fr.starts[i]);
    as_buf_printf(&b, ",\"count\":%llu,\"event_types\":{", (unsigned long long)fr.counts[i]);
    bool first = true;
    for (size_t k = 0; k < fr.ntypes; k++) {
      uint64_t n = fr.type_counts[i * fr.ntypes + k];
      if (!n) continue;
      if (!first) as_buf_putc(&b, ',');
      first = false;
      as_json_put_str(&b, fr.types[k], strlen(fr.types[k]));
      as_buf_printf(&b, ":%llu", (unsigned long long)n);
    }
    as_buf_puts(&b, "}}");
  }
  as_buf_printf(&b, "],\"total_events\":%llu,\"window\":\"%s\",",
                (unsigned long long)fr.total, as_window_name((as_window)win));
  time_range(&b, f.since_us, f.until_us);
  as_buf_putc(&b, '}');
  as_freq_result_free(&fr);
  as_hreq_respond(r, 200, "application/json", &b);
}

static void put_top(as_buf *b, const char *key, const as_an_top *t, size_t n,
                    uint64_t total) {
  for (size_t i = 0; i < n; i++) {
    if (i) as_buf_putc(b, ',');
    as_buf_printf(b, "{\"%s\":", key);
    as_json_put_str(b, t[i].name, strlen(t[i].name));
    as_buf_printf(b, ",\"count\":%llu,\"percentage\":%.6g}", (unsigned long long)t[i].count,
                  100.0 * (double)t[i].count / (double)total);
  }
}

void as_route_analytics_summary(as_hreq *r) {
  as_an_filter f;
  if (!filters(r, &f, false)) return;
  as_summary_result sr;
  as_error err;
  as_err rc = as_analytics_summary(r->srv->db, &f, &sr, &err);
  if (rc == AS_ENOTFOUND) {
    as_hreq_error(r, 404, "not_found", "Not found", NULL,
                  "no events found for the specified criteria");
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, &err);
    return;
  }
  uint64_t days = (uint64_t)((sr.last_us - sr.first_us) / 86400000000LL);
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_printf(&b,
                "{\"total_events\":%llu,\"unique_entities\":%llu,\"unique_event_types\":%llu,",
                (unsigned long long)sr.total, (unsigned long long)sr.unique_entities,
                (unsigned long long)sr.unique_types);
  time_range(&b, sr.first_us, sr.last_us);
  as_buf_printf(&b, ",\"events_per_day\":%.6g,\"top_event_types\":[",
                (double)sr.total / (double)(days ? days : 1));
  put_top(&b, "event_type", sr.top_types, sr.ntop_types, sr.total);
  as_buf_puts(&b, "],\"top_entities\":[");
  put_top(&b, "entity_id", sr.top_entities, sr.ntop_entities, sr.total);
  as_buf_puts(&b, "],\"first_event\":");
  as_json_put_time(&b, sr.first_us);
  as_buf_puts(&b, ",\"last_event\":");
  as_json_put_time(&b, sr.last_us);
  as_buf_putc(&b, '}');
  as_summary_result_free(&sr);
  as_hreq_respond(r, 200, "application/json", &b);
}

void as_route_analytics_correlation(as_hreq *r) {
  const char *a = as_hreq_arg(r, "event_type_a"), *bt = as_hreq_arg(r, "event_type_b");
  const char *win = as_hreq_arg(r, "time_window_seconds");
  if (!a || !bt || !win || !*a || !*bt) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "event_type_a, event_type_b and time_window_seconds are required");
    return;
  }
  char *end;
  errno = 0;
  long long ws = strtoll(win, &end, 10);
  if (!*win || *end || errno || ws < 0 || ws > 10LL * 366 * 86400) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "time_window_seconds must be an integer from 0 to 316224000");
    return;
  }
  as_an_filter f;
  if (!filters(r, &f, false)) return;
  const char *d = as_hreq_arg(r, "directional");
  bool directional = d && (!strcmp(d, "true") || !strcmp(d, "1"));
  if (d && !directional && strcmp(d, "false") && strcmp(d, "0")) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "directional must be true or false");
    return;
  }
  as_corr_result cr;
  as_error err;
  as_err rc = as_analytics_correlation(r->srv->db, a, bt, (int64_t)ws * 1000000,
                                       f.since_us, f.until_us, directional, &cr, &err);
  if (rc) {
    as_hreq_engine_error(r, rc, &err);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"event_type_a\":");
  as_json_put_str(&b, a, strlen(a));
  as_buf_puts(&b, ",\"event_type_b\":");
  as_json_put_str(&b, bt, strlen(bt));
  as_buf_printf(&b,
                ",\"total_a\":%llu,\"total_b\":%llu,\"correlated_pairs\":%llu,"
                "\"correlation_percentage\":%.6g,\"avg_time_between_seconds\":%.6g,"
                "\"pairing\":\"%s\",\"examples\":[",
                (unsigned long long)cr.total_a, (unsigned long long)cr.total_b,
                (unsigned long long)cr.pairs,
                cr.total_a ? 100.0 * (double)cr.pairs / (double)cr.total_a : 0.0, cr.avg_gap_s,
                directional ? "directional" : "nearest");
  for (size_t i = 0; i < cr.nexamples; i++) {
    if (i) as_buf_putc(&b, ',');
    as_buf_puts(&b, "{\"entity_id\":");
    as_json_put_str(&b, cr.examples[i].entity_id, strlen(cr.examples[i].entity_id));
    as_buf_puts(&b, ",\"event_a_timestamp\":");
    as_json_put_time(&b, cr.examples[i].a_us);
    as_buf_puts(&b, ",\"event_b_timestamp\":");
    as_json_put_time(&b, cr.examples[i].b_us);
    int64_t g = cr.examples[i].b_us - cr.examples[i].a_us;
    as_buf_printf(&b, ",\"time_between_seconds\":%.6g}", (double)(g < 0 ? -g : g) / 1e6);
  }
  as_buf_puts(&b, "]}");
  as_corr_result_free(&cr);
  as_hreq_respond(r, 200, "application/json", &b);
}
