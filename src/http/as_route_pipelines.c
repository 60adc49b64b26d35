/*
 * as_route_pipelines.c — stream-processing pipelines over HTTP (the seed's
 * routes 27-33 and shapes, seed-api-contract §8.5, with its quirks fixed:
 * 404 for unknown ids, 400 with the offending field for bad configs, and
 * the results exposed).  The service is src/services/as_pipeline.c;
 * docs/pipelines.md is the reference.
 *
 *   POST   /api/v1/pipelines                 register (or replace)
 *   GET    /api/v1/pipelines                 every config
 *   GET    /api/v1/pipelines/stats           every pipeline's stats
 *   GET    /api/v1/pipelines/{id}            one config
 *   DELETE /api/v1/pipelines/{id}            remove
 *   GET    /api/v1/pipelines/{id}/stats      one pipeline's stats
 *   PUT    /api/v1/pipelines/{id}/reset      clear state and stats
 *   GET    /api/v1/pipelines/{id}/results    state: groups, windows, outputs
 */
#include <stdio.h>
#include <string.h>

#include "core/as_common.h"
#include "http/as_http_int.h"
#include "services/as_pipeline.h"

static as_pipelines *service(as_hreq *r) {
  if (r->srv->pipelines) return r->srv->pipelines;
  as_hreq_error(r, 503, "unavailable", "Unavailable", NULL,
                "pipelines are not enabled on this server (--max-pipelines 0)");
  return NULL;
}

/* The {id} of the path ("ID" or "ID/stats"...) as a UUID; responds 400. */
static bool path_id(as_hreq *r, uint8_t id[16]) {
  const char *slash = memchr(r->param, '/', r->param_len);
  size_t len = slash ? (size_t)(slash - r->param) : r->param_len;
  if (as_uuid_parse(r->param, len, id) == AS_OK) return true;
  as_hreq_error(r, 400, "invalid_id", "Invalid id", ",\"field\":\"pipeline_id\"",
                "pipeline id \"%.*s\" is not a UUID", (int)AS_MIN(len, 64u), r->param);
  return false;
}

static void not_found(as_hreq *r, const uint8_t id[16], bool removed_member) {
  char ids[37], extra[96] = "";
  as_uuid_format(id, ids);
  if (removed_member) snprintf(extra, sizeof extra, ",\"pipeline_id\":\"%s\",\"removed\":false", ids);
  as_hreq_error(r, 404, "pipeline_not_found", "Not found", extra[0] ? extra : NULL,
                "Pipeline not found: %s", ids);
}

static void service_error(as_hreq *r, as_err rc, const as_pipeline_error *e) {
  char extra[160] = "";
  if (e->field[0]) {
    as_buf b;
    as_buf_init(&b, sizeof extra - 1);
    as_buf_puts(&b, ",\"field\":");
    as_json_put_str(&b, e->field, strlen(e->field));
    if (!as_buf_error(&b)) memcpy(extra, b.data, b.len + 1);
    as_buf_free(&b);
  }
  const char *x = extra[0] ? extra : NULL;
  switch (rc) {
    case AS_EJSON:
      as_hreq_error(r, 400, "invalid_json", "Invalid JSON", x, "request body: %s", e->message);
      return;
    case AS_EINVAL:
      as_hreq_error(r, 400, "validation_error", "Validation error", x, "%s", e->message);
      return;
    case AS_ELIMIT:
      as_hreq_error(r, 400, "limit_exceeded", "Validation error", x, "%s", e->message);
      return;
    default: {
      as_error err;
      memset(&err, 0, sizeof err);
      snprintf(err.message, sizeof err.message, "%s", e->message);
      as_hreq_engine_error(r, rc, &err);
    }
  }
}

static void respond(as_hreq *r, as_buf *b) { as_hreq_respond(r, 200, "application/json", b); }

/* --- Stats JSON ---------------------------------------------------------------- */

static void put_stats(as_buf *b, const as_pipeline_stats *st) {
  char ids[37];
  as_uuid_format(st->id, ids);
  as_buf_printf(b, "{\"pipeline_id\":\"%s\",\"name\":", ids);
  as_json_put_str(b, st->name, strlen(st->name));
  as_buf_printf(b,
                ",\"enabled\":%s,\"events_processed\":%llu,\"events_filtered\":%llu,"
                "\"events_failed\":%llu,\"last_processed\":",
                st->enabled ? "true" : "false", (unsigned long long)st->events_processed,
                (unsigned long long)st->events_filtered, (unsigned long long)st->events_failed);
  if (st->last_processed_us == AS_TIME_MIN)
    as_buf_puts(b, "null");
  else
    as_json_put_time(b, st->last_processed_us);
  uint64_t lag = st->committed > st->position ? st->committed - st->position : 0;
  as_buf_printf(b, ",\"start_position\":%llu,\"position\":%llu,\"lag\":%llu,\"last_error\":",
                (unsigned long long)st->start_position, (unsigned long long)st->position,
                (unsigned long long)lag);
  if (!st->last_error_position) {
    as_buf_puts(b, "null}");
    return;
  }
  as_buf_printf(b, "{\"position\":%llu,\"message\":",
                (unsigned long long)st->last_error_position);
  as_json_put_str(b, st->last_error, strlen(st->last_error));
  as_buf_puts(b, "}}");
}

static void put_stats_cb(void *arg, const as_pipeline_stats *st) {
  as_buf *b = arg;
  if (b->data[b->len - 1] != '[') as_buf_putc(b, ',');
  put_stats(b, st);
}

static void put_config_cb(void *arg, const char *json, size_t len) {
  as_buf *b = arg;
  if (b->data[b->len - 1] != '[') as_buf_putc(b, ',');
  as_buf_append(b, json, len);
}

/* --- Handlers ------------------------------------------------------------------- */

void as_route_pipeline_register(as_hreq *r) {
  as_pipelines *s = service(r);
  if (!s) return;
  if (!as_hreq_is_json(r)) {
    const char *ct = as_hreq_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    as_hreq_error(r, 415, "unsupported_media_type", "Unsupported media type", NULL,
                  "Content-Type must be application/json (got %s)", ct ? ct : "none");
    return;
  }
  if (r->body.len > AS_PIPELINE_MAX_CONFIG_BYTES) {
    as_hreq_error(r, 413, "config_too_large", "Payload too large", NULL,
                  "the pipeline config is %zu bytes; the limit is %u", r->body.len,
                  AS_PIPELINE_MAX_CONFIG_BYTES);
    return;
  }
  as_pipeline_registered res;
  as_pipeline_error e;
  memset(&e, 0, sizeof e);
  as_err rc = as_pipelines_register(s, r->body.data ? r->body.data : "", r->body.len, &res, &e);
  if (rc) {
    service_error(r, rc, &e);
    return;
  }
  char ids[37];
  as_uuid_format(res.id, ids);
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_printf(&b, "{\"pipeline_id\":\"%s\",\"name\":", ids);
  as_json_put_str(&b, res.name, strlen(res.name));
  as_buf_printf(&b, ",\"enabled\":%s,\"start_position\":%llu,\"replaced\":%s}",
                res.enabled ? "true" : "false", (unsigned long long)res.start_position,
                res.replaced ? "true" : "false");
  respond(r, &b);
}

/* {"<key>":[...],"total":n} with the items `all` appends. */
static void respond_all(as_hreq *r, const char *key,
                        void (*all)(as_pipelines *s, as_buf *b, size_t *n)) {
  as_pipelines *s = service(r);
  if (!s) return;
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_printf(&b, "{\"%s\":[", key);
  size_t n = 0;
  if (!as_buf_error(&b)) all(s, &b, &n);
  as_buf_printf(&b, "],\"total\":%zu}", n);
  respond(r, &b);
}

static void all_configs(as_pipelines *s, as_buf *b, size_t *n) {
  as_pipelines_list(s, put_config_cb, b, n);
}

static void all_stats(as_pipelines *s, as_buf *b, size_t *n) {
  as_pipelines_stats_all(s, put_stats_cb, b, n);
}

void as_route_pipeline_list(as_hreq *r) { respond_all(r, "pipelines", all_configs); }

void as_route_pipeline_stats_all(as_hreq *r) { respond_all(r, "stats", all_stats); }

/* Answers one pipeline's JSON document (its config, or its results). */
static void respond_doc(as_hreq *r, as_err (*doc)(as_pipelines *, const uint8_t *, as_buf *)) {
  as_pipelines *s = service(r);
  uint8_t id[16];
  if (!s || !path_id(r, id)) return;
  as_buf b;
  as_buf_init(&b, 0);
  if (doc(s, id, &b) == AS_ENOTFOUND) {
    as_buf_free(&b);
    not_found(r, id, false);
    return;
  }
  respond(r, &b);
}

void as_route_pipeline_get(as_hreq *r) { respond_doc(r, as_pipelines_config_json); }

/* Runs a change of pipeline {id} (delete, or reset with *start), then
 * answers {"pipeline_id":..., <tail>} or the error. */
static void change(as_hreq *r, bool is_delete) {
  as_pipelines *s = service(r);
  uint8_t id[16];
  if (!s || !path_id(r, id)) return;
  uint64_t start = 0;
  as_pipeline_error e;
  memset(&e, 0, sizeof e);
  as_err rc = is_delete ? as_pipelines_delete(s, id, &e) : as_pipelines_reset(s, id, &start, &e);
  if (rc == AS_ENOTFOUND) {
    not_found(r, id, is_delete);
    return;
  }
  if (rc) {
    service_error(r, rc, &e);
    return;
  }
  char ids[37];
  as_uuid_format(id, ids);
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_printf(&b, "{\"pipeline_id\":\"%s\",", ids);
  if (is_delete)
    as_buf_puts(&b, "\"removed\":true}");
  else
    as_buf_printf(&b, "\"reset\":true,\"start_position\":%llu}", (unsigned long long)start);
  respond(r, &b);
}

void as_route_pipeline_delete(as_hreq *r) { change(r, true); }

void as_route_pipeline_stats(as_hreq *r) {
  as_pipelines *s = service(r);
  uint8_t id[16];
  if (!s || !path_id(r, id)) return;
  as_pipeline_stats st;
  if (as_pipelines_stats(s, id, &st) == AS_ENOTFOUND) {
    not_found(r, id, false);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  put_stats(&b, &st);
  respond(r, &b);
}

void as_route_pipeline_reset(as_hreq *r) { change(r, false); }

void as_route_pipeline_results(as_hreq *r) { respond_doc(r, as_pipelines_results_json); }
