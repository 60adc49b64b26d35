/*
 * as_route_events.c — POST /api/v1/events, POST /api/v1/events/batch,
 * GET /api/v1/events/query, GET /api/v1/events/{id}.
 */
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "http/as_http_int.h"

/* Depth the request envelope adds around a payload (batch object, events
 * array, event object); the engine enforces the payload's own limit.  The
 * body may nest up to BODY_MAX_DEPTH, so that a payload up to 64 levels
 * beyond its limit, in any envelope, is rejected by the engine with an
 * error naming it (validation_error, field and index); deeper bodies are
 * rejected whole as invalid_json. */
#define ENVELOPE_DEPTH 3
#define BODY_MAX_DEPTH (2 * AS_DEFAULT_MAX_DEPTH + ENVELOPE_DEPTH)

static bool require_json(as_hreq *r, bool ndjson_ok) {
  if (as_hreq_is_json(r) || (ndjson_ok && as_hreq_is_ndjson(r))) return true;
  const char *ct = as_hreq_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
  as_hreq_error(r, 415, "unsupported_media_type", "Unsupported media type", NULL,
                "Content-Type must be application/json%s (got %s)",
                ndjson_ok ? " or application/x-ndjson" : "", ct ? ct : "none");
  return false;
}

static bool validate_json(as_hreq *r, const char *p, size_t len, const char *what,
                          as_json_kind *kind, uint32_t *deepest) {
  as_json_error je;
  if (as_json_validate_depth(p, len, BODY_MAX_DEPTH, kind, deepest, &je) == AS_OK)
    return true;
  char extra[64];
  snprintf(extra, sizeof extra, ",\"offset\":%zu", je.offset);
  as_hreq_error(r, 400, "invalid_json", "Invalid JSON", extra, "%s: %s at byte %zu",
                what, je.msg, je.offset);
  return false;
}

/* The body was validated as a whole: if its deepest nesting, less the
 * `envelope` levels around a payload (the event object, the batch array,
 * the "events" object), is within the store's limit, every payload and
 * metadata is valid JSON within it, and the engine need not scan them
 * again (AS_EVENT_JSON_CHECKED).  Otherwise the engine checks each one and
 * names the one that is too deep. */
static void mark_checked(as_hreq *r, as_event_in *ev, size_t n, uint32_t deepest,
                         uint32_t envelope) {
  if (deepest > envelope + r->srv->max_json_depth) return;
  for (size_t i = 0; i < n; i++) ev[i].flags |= AS_EVENT_JSON_CHECKED;
}

/* The last timestamp written, as JSON text: the events of one commit
 * cycle share their timestamp, so a batch's answers mostly repeat it. */
typedef struct ts_text {
  int64_t us;
  size_t len; /* 0: none yet */
  char text[40];
} ts_text;

static void put_result(as_buf *b, const as_append_result *res, ts_text *tt) {
  as_buf_puts(b, "{\"event_id\":");
  as_json_put_uuid(b, res->id);
  as_buf_puts(b, ",\"timestamp\":");
  if (!tt->len || tt->us != res->timestamp_us) {
    tt->us = res->timestamp_us;
    tt->text[0] = '"';
    size_t n = as_time_format(res->timestamp_us, tt->text + 1);
    tt->text[n + 1] = '"';
    tt->len = n + 2;
  }
  as_buf_append(b, tt->text, tt->len);
  as_buf_puts(b, ",\"position\":");
  as_buf_put_u64(b, res->position);
  as_buf_puts(b, ",\"version\":");
  as_buf_put_u64(b, res->version);
  as_buf_puts(b, ",\"duplicate\":");
  as_buf_puts(b, res->duplicate ? "true" : "false");
  as_buf_putc(b, '}');
}

static void ingest_done(as_hreq *r) {
  if (r->arc) {
    as_hreq_engine_error(r, r->arc, &r->aerr);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  ts_text tt = {0};
  put_result(&b, &r->ares[0], &tt);
  as_hreq_respond(r, 200, "application/json", &b);
}

void as_route_ingest(as_hreq *r) {
  if (!require_json(r, false)) return;
  as_json_kind kind;
  uint32_t deepest;
  if (!validate_json(r, r->body.data ? r->body.data : "", r->body.len, "request body",
                     &kind, &deepest))
    return;
  as_json_val root = as_json_root(r->body.data, r->body.len);
  if (kind != AS_JSON_OBJECT) {
    as_hreq_error(r, 400, "validation_error", "Validation error", NULL,
                  "the request body must be a JSON object, not %s",
                  as_json_kind_name(kind));
    return;
  }
  as_event_in ev;
  if (!as_http_parse_event(r, root, 0, &ev, NULL)) return;
  mark_checked(r, &ev, 1, deepest, 1);
  as_hreq_append(r, &ev, 1, ingest_done);
}

static void batch_done(as_hreq *r) {
  if (r->arc) {
    as_hreq_engine_error(r, r->arc, &r->aerr);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_reserve(&b, 96 + 160 * r->nares); /* ~150 bytes per answer */
  ts_text tt = {0};
  as_buf_puts(&b, "{\"events\":[");
  for (size_t i = 0; i < r->nares; i++) {
    if (i) as_buf_putc(&b, ',');
    put_result(&b, &r->ares[i], &tt);
  }
  as_buf_puts(&b, "],\"count\":");
  as_buf_put_u64(&b, r->nares);
  as_buf_puts(&b, ",\"first_position\":");
  as_buf_put_u64(&b, r->ares[0].position);
  as_buf_puts(&b, ",\"last_position\":");
  as_buf_put_u64(&b, r->ares[r->nares - 1].position);
  as_buf_putc(&b, '}');
  as_hreq_respond(r, 200, "application/json", &b);
}

#define MAX_BATCH AS_DEFAULT_MAX_BATCH_EVENTS

void as_route_ingest_batch(as_hreq *r) {
  if (!require_json(r, true)) return;
  const char *body = r->body.data ? r->body.data : "";
  size_t len = r->body.len;
  as_json_val items[1];
  size_t n = 0;
  as_event_in *evs = NULL;
  if (as_hreq_is_ndjson(r)) {
    /* one event object per line; blank lines are skipped */
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += body[i] == '\n';
    lines++;
    if (lines > MAX_BATCH) lines = MAX_BATCH + 1;
    evs = as_hreq_alloc(r, sizeof *evs * lines);
    if (!evs) goto oom;
    size_t start = 0;
    for (size_t lineno = 1; start < len; lineno++) {
      const char *nl = memchr(body + start, '\n', len - start);
      size_t end = nl ? (size_t)(nl - body) : len;
      size_t a = start, e = end;
      while (a < e && (body[a] == ' ' || body[a] == '\t' || body[a] == '\r')) a++;
      while (e > a && (body[e - 1] == ' ' || body[e - 1] == '\t' || body[e - 1] == '\r')) e--;
      start = end + 1;
      if (a == e) continue;
      if (n == MAX_BATCH) {
        as_hreq_error(r, 400, "validation_error", "Validation error", NULL,
                      "a batch may hold at most %u events", MAX_BATCH);
        return;
      }
      as_json_kind kind;
      uint32_t deepest;
      char what[48];
      snprintf(what, sizeof what, "line %zu", lineno);
      if (!validate_json(r, body + a, e - a, what, &kind, &deepest)) return;
      if (!as_http_parse_event(r, as_json_root(body + a, e - a), (uint32_t)n, &evs[n],
                               NULL))
        return;
      mark_checked(r, &evs[n], 1, deepest, 1);
      n++;
    }
  } else {
    as_json_kind kind;
    uint32_t deepest, envelope = 2; /* [ {event} ] */
    if (!validate_json(r, body, len, "request body", &kind, &deepest)) return;
    as_json_val root = as_json_root(body, len), arr;
    if (kind == AS_JSON_ARRAY) {
      arr = root;
    } else if (kind == AS_JSON_OBJECT && as_json_obj_get(root, "events", &arr) &&
               arr.kind == AS_JSON_ARRAY) {
      envelope = 3; /* {"events": [ {event} ]} */
    } else {
      as_hreq_error(r, 400, "validation_error", "Validation error", NULL,
                    "the batch must be a JSON array of events, an object with an "
                    "\"events\" array, or NDJSON");
      return;
    }
    /* One pass: parse into a growing array, then move it into the
     * request's scratch memory.  Each event object is scanned once, by its
     * parse (as_json_arr_next_open). */
    as_json_iter it;
    as_json_val v;
    as_json_iter_init(&it, arr);
    size_t cap = 0;
    as_event_in *tmp = NULL;
    bool ok = true;
    while (ok && as_json_arr_next_open(&it, &v)) {
      if (n == MAX_BATCH) {
        size_t total = n + 1;
        as_json_iter_skip(&it, &v);
        while (as_json_arr_next(&it, &v)) total++;
        as_free(tmp);
        as_hreq_error(r, 400, "validation_error", "Validation error", NULL,
                      "a batch may hold at most %u events (got %zu)", MAX_BATCH, total);
        return;
      }
      if (n == cap) {
        cap = cap ? cap * 2 : 128;
        as_event_in *g = as_realloc(tmp, sizeof *g * cap);
        if (!g) {
          as_free(tmp);
          goto oom;
        }
        tmp = g;
      }
      size_t used;
      ok = as_http_parse_event(r, v, (uint32_t)n, &tmp[n], &used);
      if (ok) as_json_iter_past(&it, &v, used);
      n++;
    }
    if (ok && n) {
      mark_checked(r, tmp, n, deepest, envelope);
      evs = as_hreq_alloc(r, sizeof *evs * n);
      if (evs) memcpy(evs, tmp, sizeof *evs * n);
    }
    as_free(tmp);
    if (!ok) return;
    if (n && !evs) goto oom;
  }
  (void)items;
  if (n == 0) {
    as_hreq_error(r, 400, "validation_error", "Validation error", NULL,
                  "the batch holds no events");
    return;
  }
  as_hreq_append(r, evs, n, batch_done);
  return;
oom:
  as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
}

/* --- Query -------------------------------------------------------------- */

typedef struct query_stream {
  as_iter *it;
  uint64_t count;
  int phase; /* 0 head, 1 events, 2 tail, 3 done */
  bool ndjson;
} query_stream;

static bool query_fill(void *state, as_buf *out) {
  query_stream *q = state;
  if (q->phase == 0) {
    if (!q->ndjson) as_buf_puts(out, "{\"events\":[");
    q->phase = 1;
  }
  if (q->phase == 1) {
    as_event ev;
    for (int i = 0; i < 256; i++) {
      if (q->it == NULL || as_iter_next(q->it, &ev) != AS_OK) {
        q->phase = 2;
        break;
      }
      if (!q->ndjson && q->count) as_buf_putc(out, ',');
      as_json_put_event_ex(out, &ev, q->ndjson);
      if (q->ndjson) as_buf_putc(out, '\n');
      q->count++;
    }
    if (q->phase == 1) return false;
  }
  if (q->phase == 2) {
    if (!q->ndjson) {
      as_buf_puts(out, "],\"count\":");
      as_buf_put_u64(out, q->count);
      as_buf_putc(out, '}');
    }
    q->phase = 3;
  }
  return true;
}

static void query_free(void *state) {
  query_stream *q = state;
  as_iter_close(q->it);
  as_free(q);
}

void as_route_query(as_hreq *r) {
  as_query q;
  bool empty;
  if (!as_http_parse_query(r, &q, &empty)) return;
  query_stream *s = as_calloc(1, sizeof *s);
  if (!s) {
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  s->ndjson = as_hreq_wants_ndjson(r);
  as_err rc = empty ? AS_OK : as_query_open(r->srv->db, &q, &s->it);
  if (rc) {
    as_free(s);
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_hreq_stream(r, 200, s->ndjson ? "application/x-ndjson" : "application/json",
                 query_fill, s, query_free);
}

void as_route_event_by_id(as_hreq *r) {
  uint8_t id[16];
  if (as_uuid_parse(r->param, r->param_len, id)) {
    as_hreq_error(r, 400, "invalid_id", "Invalid request", NULL,
                  "event id '%s' is not a UUID", r->param);
    return;
  }
  as_event ev;
  if (as_get_by_id(r->srv->db, id, &ev)) {
    as_hreq_error(r, 404, "not_found", "Event not found", NULL, "%s", r->param);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_json_put_event(&b, &ev);
  as_hreq_respond(r, 200, "application/json", &b);
}
