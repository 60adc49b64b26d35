/*
 * as_route_stream.c — GET /api/v1/events/stream (WebSocket) and
 * GET /api/v1/events/subscribe (NDJSON with heartbeats), both delivered by
 * the subscription hub (as_ws.c).
 *
 * Query parameters of both: entity_id, event_type (".*" suffix = prefix),
 * from_position (catch up from there, then follow; default: new events
 * only).  /subscribe also takes heartbeat_ms (default 15000, 100..300000).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/as_alloc.h"
#include "http/as_http_int.h"
#include "http/as_ws.h"

static bool header_has(as_hreq *r, const char *name, const char *token) {
  const char *v = as_hreq_header(r, name);
  if (!v) return false;
  size_t n = strlen(token);
  for (const char *p = v; *p; p++)
    if (strncasecmp(p, token, n) == 0) return true;
  return false;
}

static bool position_arg(as_hreq *r, uint64_t *out) {
  const char *v = as_hreq_arg(r, "from_position");
  *out = 0;
  if (!v) return true;
  char *end;
  unsigned long long n = strtoull(v, &end, 10);
  if (!*v || *end || v[0] == '-' || n == 0 || n == ULLONG_MAX) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "from_position must be a positive integer");
    return false;
  }
  *out = n;
  return true;
}

static void upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
                     const char *extra, size_t extra_len, MHD_socket sock,
                     struct MHD_UpgradeResponseHandle *urh) {
  as_server *s = cls;
  as_hreq *r = con_cls;
  as_ws_filter f = {r ? as_hreq_arg(r, "entity_id") : NULL,
                    r ? as_hreq_arg(r, "event_type") : NULL, 0};
  if (r) position_arg(r, &f.from_position);
  as_ws_accept(s->hub, sock, urh, extra, extra_len, &f);
}

void as_route_stream(as_hreq *r) {
  const char *key = as_hreq_header(r, "Sec-WebSocket-Key");
  if (!header_has(r, "Upgrade", "websocket") || !header_has(r, "Connection", "upgrade") ||
      !key) {
    as_hreq_error(r, 426, "upgrade_required", "Invalid request", NULL,
                  "this route speaks WebSocket (send Upgrade: websocket); "
                  "GET /api/v1/events/subscribe streams NDJSON over plain HTTP");
    return;
  }
  const char *ver = as_hreq_header(r, "Sec-WebSocket-Version");
  if (!ver || strcmp(ver, "13") != 0) {
    as_hreq_error(r, 426, "upgrade_required", "Invalid request", NULL,
                  "only WebSocket version 13 is supported");
    return;
  }
  uint64_t from;
  if (!position_arg(r, &from)) return;
  if (strlen(key) > 64) {
    as_hreq_error(r, 400, "invalid_request", "Invalid request", NULL,
                  "Sec-WebSocket-Key is too long");
    return;
  }
  struct MHD_Response *resp = MHD_create_response_for_upgrade(upgraded, r->srv);
  if (!resp) {
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  char accept[29];
  as_ws_accept_key(key, accept);
  MHD_add_response_header(resp, "Upgrade", "websocket");
  MHD_add_response_header(resp, "Connection", "Upgrade");
  MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
  r->responded = true;
  r->status = 101;
  MHD_queue_response(r->conn, 101, resp);
  MHD_destroy_response(resp);
}

/* --- NDJSON subscription -------------------------------------------- */

typedef struct sub {
  as_server *srv;
  struct MHD_Connection *conn;
  char *entity, *type;
  uint64_t cursor;
  int64_t heartbeat_us, next_heartbeat;
  as_buf staged;
  size_t staged_off;
  bool parked; /* suspended by sub_read, counted in srv->suspended */
} sub;

static void sub_free(void *cls) {
  sub *s = cls;
  if (s->parked) atomic_fetch_sub(&s->srv->suspended, 1);
  as_free(s->entity);
  as_free(s->type);
  as_buf_free(&s->staged);
  as_free(s);
}

/* Serializes the next events from the cursor into s->staged. */
static void stage_events(sub *s, uint64_t committed) {
  as_query q;
  as_query_init(&q);
  q.from_position = s->cursor;
  if (s->entity) q.entity_id = s->entity, q.entity_id_len = strlen(s->entity);
  if (s->type) q.event_type = s->type, q.event_type_len = strlen(s->type);
  q.limit = 512;
  as_iter *it;
  if (as_query_open(s->srv->db, &q, &it)) return;
  uint64_t snap = as_iter_snapshot_position(it);
  as_event ev;
  uint64_t n = 0;
  while (as_iter_next(it, &ev) == AS_OK) {
    as_json_put_event_ex(&s->staged, &ev, true);
    as_buf_putc(&s->staged, '\n');
    s->cursor = ev.position + 1;
    n++;
  }
  if (n < q.limit) s->cursor = snap + 1; /* nothing more up to snap */
  as_iter_close(it);
}

static ssize_t sub_read(void *cls, uint64_t pos, char *out, size_t max) {
  sub *s = cls;
  if (s->parked) { /* resumed */
    s->parked = false;
    atomic_fetch_sub(&s->srv->suspended, 1);
  }
  if (s->staged_off == s->staged.len) {
    as_buf_reset(&s->staged);
    s->staged_off = 0;
    if (as_ws_hub_stopping(s->srv->hub)) return MHD_CONTENT_READER_END_OF_STREAM;
    uint64_t committed = as_db_committed_position(s->srv->db);
    if (s->cursor <= committed) stage_events(s, committed);
    int64_t now = as_time_now_us();
    if (s->staged.len == 0 && now >= s->next_heartbeat) {
      as_buf_printf(&s->staged, "{\"heartbeat\":true,\"position\":%llu,\"timestamp\":",
                    (unsigned long long)committed);
      as_json_put_time(&s->staged, now);
      as_buf_puts(&s->staged, "}\n");
      s->next_heartbeat = now + s->heartbeat_us;
    }
    if (as_buf_error(&s->staged)) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->staged.len == 0) {
      /* nothing to send: sleep until a commit or the next heartbeat */
      s->parked = true;
      atomic_fetch_add(&s->srv->suspended, 1);
      MHD_suspend_connection(s->conn);
      as_ws_park(s->srv->hub, s->conn, s->cursor - 1, s->next_heartbeat);
      return 0;
    }
  }
  size_t n = s->staged.len - s->staged_off < max ? s->staged.len - s->staged_off : max;
  memcpy(out, s->staged.data + s->staged_off, n);
  s->staged_off += n;
  return (ssize_t)n;
}

void as_route_subscribe(as_hreq *r) {
  uint64_t from;
  if (!position_arg(r, &from)) return;
  const char *hb = as_hreq_arg(r, "heartbeat_ms");
  long hb_ms = 15000;
  if (hb) {
    char *end;
    hb_ms = strtol(hb, &end, 10);
    if (!*hb || *end || hb_ms < 100 || hb_ms > 300000) {
      as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                    "heartbeat_ms must be between 100 and 300000");
      return;
    }
  }
  sub *s = as_calloc(1, sizeof *s);
  if (!s) {
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  s->srv = r->srv;
  s->conn = r->conn;
  const char *e = as_hreq_arg(r, "entity_id"), *t = as_hreq_arg(r, "event_type");
  s->entity = e ? as_strndup(e, strlen(e)) : NULL;
  s->type = t ? as_strndup(t, strlen(t)) : NULL;
  s->cursor = from ? from : as_db_committed_position(r->srv->db) + 1;
  s->heartbeat_us = (int64_t)hb_ms * 1000;
  s->next_heartbeat = 0; /* a first heartbeat line right away */
  as_buf_init(&s->staged, 0);
  struct MHD_Response *resp =
      MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 << 10, sub_read, s, sub_free);
  if (!resp) {
    sub_free(s);
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  r->responded = true;
  r->status = 200;
  MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  MHD_queue_response(r->conn, 200, resp);
  MHD_destroy_response(resp);
}
