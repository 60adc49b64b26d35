/*
 * as_http.c — libmicrohttpd glue: daemon start/stop, routing, request
 * bodies, responses (buffered and streamed), CORS, and asynchronous appends
 * that suspend the connection instead of blocking an HTTP thread.
 *
 * MHD runs in poll mode with a thread pool (its epoll modes stall when 128
 * connections are ready at once; see docs/architecture.md).
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/as_time.h"
#include "core/as_alloc.h"
#include "core/as_common.h"
#include "http/as_http_int.h"

/* --- Routes ------------------------------------------------------------ */

/* Static segments are matched before parameters by ordering: a route whose
 * pattern matches is taken in table order, and the tables list static forms
 * first (e.g. /events/query and /events/batch before /events/{id}). */
static const as_route g_routes[] = {
    {"GET", "/health", as_route_health, 0},
    {"GET", "/api/v1/stats", as_route_stats, 0},
    {"POST", "/api/v1/events", as_route_ingest, AS_ROUTE_BODY},
    {"POST", "/api/v1/events/batch", as_route_ingest_batch, AS_ROUTE_BODY},
    {"GET", "/api/v1/events/query", as_route_query, 0},
    {"GET", "/api/v1/events/stream", as_route_stream, 0},
    {"GET", "/api/v1/events/subscribe", as_route_subscribe, 0},
    {"GET", "/api/v1/events/{id}", as_route_event_by_id, 0},
    {"GET", "/api/v1/entities/{entity_id+}/state", as_route_entity_state, 0},
    {"GET", "/api/v1/entities/{entity_id+}/snapshot", as_route_entity_snapshot, 0},
    {"GET", "/api/v1/analytics/frequency", as_route_analytics_frequency, 0},
    {"GET", "/api/v1/analytics/summary", as_route_analytics_summary, 0},
    {"GET", "/api/v1/analytics/correlation", as_route_analytics_correlation, 0},
    {"POST", "/api/v1/snapshots", as_route_snapshot_create, AS_ROUTE_BODY},
    {"GET", "/api/v1/snapshots", as_route_snapshot_list, 0},
    {"GET", "/api/v1/snapshots/{entity_id+}/latest", as_route_snapshot_latest, 0},
    {"POST", "/api/v1/compaction/trigger", as_route_compaction_trigger, 0},
    {"GET", "/api/v1/compaction/stats", as_route_compaction_stats, 0},
    /* schema registry (as_route_schemas.c) */
    {"POST", "/api/v1/schemas", as_route_schema_register, AS_ROUTE_BODY},
    {"GET", "/api/v1/schemas", as_route_schema_list, 0},
    {"POST", "/api/v1/schemas/validate", as_route_schema_validate, AS_ROUTE_BODY},
    {"GET", "/api/v1/schemas/config", as_route_schema_config_get, 0},
    {"PUT", "/api/v1/schemas/config", as_route_schema_config_put, AS_ROUTE_BODY},
    {"GET", "/api/v1/schemas/{subject}", as_route_schema_get, 0},
    {"DELETE", "/api/v1/schemas/{subject}", as_route_schema_delete_subject, 0},
    {"GET", "/api/v1/schemas/{subject}/versions", as_route_schema_versions, 0},
    {"GET", "/api/v1/schemas/{subject}/versions/{version}", as_route_schema_version_get, 0},
    {"DELETE", "/api/v1/schemas/{subject}/versions/{version}", as_route_schema_version_delete, 0},
    {"PUT", "/api/v1/schemas/{subject}/compatibility", as_route_schema_compat_put, AS_ROUTE_BODY},
    {"PUT", "/api/v1/schemas/{subject}/enforcement", as_route_schema_enforce_put, AS_ROUTE_BODY},
    /* stream-processing pipelines (as_route_pipelines.c) */
    {"POST", "/api/v1/pipelines", as_route_pipeline_register, AS_ROUTE_BODY},
    {"GET", "/api/v1/pipelines", as_route_pipeline_list, 0},
    {"GET", "/api/v1/pipelines/stats", as_route_pipeline_stats_all, 0},
    {"GET", "/api/v1/pipelines/{id}", as_route_pipeline_get, 0},
    {"DELETE", "/api/v1/pipelines/{id}", as_route_pipeline_delete, 0},
    {"GET", "/api/v1/pipelines/{id}/stats", as_route_pipeline_stats, 0},
    {"PUT", "/api/v1/pipelines/{id}/reset", as_route_pipeline_reset, 0},
    {"GET", "/api/v1/pipelines/{id}/results", as_route_pipeline_results, 0},
    /* replay (as_route_replay.c, docs/replay.md) and Prometheus metrics
     * (as_route_metrics.c, docs/metrics.md) */
    {"POST", "/api/v1/replay", as_route_replay_start, AS_ROUTE_BODY},
    {"GET", "/api/v1/replay", as_route_replay_list, 0},
    {"GET", "/api/v1/replay/{id}", as_route_replay_get, 0},
    {"DELETE", "/api/v1/replay/{id}", as_route_replay_delete, 0},
    {"POST", "/api/v1/replay/{id}/cancel", as_route_replay_cancel, 0},
    {"GET", "/api/v1/replay/{id}/state", as_route_replay_state, 0},
    {"GET", "/metrics", as_route_metrics, 0},
};

_Static_assert(AS_ARRAY_LEN(g_routes) <= AS_ROUTES_MAX, "raise AS_ROUTES_MAX");

const as_route *as__http_routes(size_t *n) {
  *n = AS_ARRAY_LEN(g_routes);
  return g_routes;
}

/* Request accounting slots (as_metrics): one per route, then these. */
#define SLOT_UNMATCHED AS_ARRAY_LEN(g_routes)
#define SLOT_PREFLIGHT (AS_ARRAY_LEN(g_routes) + 1)


/* Splits "/a/b/c" into segments (pointers into `path` and lengths); returns
 * the count, or max + 1 when there are more than `max`. */
static size_t split(const char *path, as_seg *out, size_t max) {
  size_t n = 0;
  const char *p = path;
  while (*p == '/') p++;
  while (*p) {
    if (n == max) return max + 1;
    const char *e = strchr(p, '/');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    out[n].p = p;
    out[n].len = len;
    n++;
    if (!e) break;
    p = e + 1;
  }
  return n;
}

/* Splits every pattern of g_routes once, at start-up. */
static void compile_routes(as_server *s) {
  for (size_t i = 0; i < AS_ARRAY_LEN(g_routes); i++) {
    as_route_c *rc = &s->routes[i];
    size_t np = split(g_routes[i].pattern, rc->ps, AS_ROUTE_MAX_SEGS);
    assert(np <= AS_ROUTE_MAX_SEGS);
    rc->np = (uint8_t)np;
    rc->greedy = 0xff;
    rc->has_param = strchr(g_routes[i].pattern, '{') != NULL;
    for (size_t k = 0; k < np; k++)
      if (rc->ps[k].len > 2 && rc->ps[k].p[rc->ps[k].len - 2] == '+') rc->greedy = (uint8_t)k;
  }
}

static bool seg_eq(const as_seg *a, const as_seg *b) {
  return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* Matches the split path `us` against route `rc`; on success stores the
 * parameter span (if any) in *param.  With several "{x}" parameters the span
 * runs from the first to the last ("S/versions/3" for
 * "{subject}/versions/{version}"). */
static bool match(const as_route_c *rc, const as_seg *us, size_t nu, as_seg *param) {
  const as_seg *ps = rc->ps;
  size_t np = rc->np;
  param->p = NULL;
  param->len = 0;
  if (rc->greedy == 0xff) {
    if (np != nu) return false;
    for (size_t i = 0; i < np; i++) {
      if (ps[i].p[0] == '{') {
        if (us[i].len == 0) return false;
        if (param->p)
          param->len = (size_t)(us[i].p + us[i].len - param->p);
        else
          *param = us[i];
      } else if (!seg_eq(&ps[i], &us[i])) {
        return false;
      }
    }
    return true;
  }
  /* prefix, greedy middle (>= 1 segment), suffix */
  size_t greedy = rc->greedy, suffix = np - greedy - 1;
  if (nu < np) return false;
  for (size_t i = 0; i < greedy; i++)
    if (!seg_eq(&ps[i], &us[i])) return false;
  for (size_t k = 1; k <= suffix; k++)
    if (!seg_eq(&ps[np - k], &us[nu - k])) return false;
  const as_seg *first = &us[greedy], *last = &us[nu - suffix - 1];
  param->p = first->p;
  param->len = (size_t)(last->p + last->len - first->p);
  return param->len > 0;
}

/* --- Request helpers --------------------------------------------------- */

void *as_hreq_alloc(as_hreq *r, size_t n) {
  as_scratch *s = as_malloc(sizeof *s + n);
  if (!s) return NULL;
  s->next = r->scratch;
  r->scratch = s;
  return s->data;
}

const char *as_hreq_arg(as_hreq *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *as_hreq_header(as_hreq *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static bool ctype_is(as_hreq *r, const char *want) {
  const char *ct = as_hreq_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!ct) return false;
  size_t n = strlen(want);
  while (*ct == ' ') ct++;
  return strncasecmp(ct, want, n) == 0 && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

bool as_hreq_is_json(as_hreq *r) {
  if (ctype_is(r, "application/json")) return true;
  /* any application/<x>+json */
  const char *ct = as_hreq_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!ct || strncasecmp(ct, "application/", 12)) return false;
  const char *end = strchr(ct, ';');
  size_t len = end ? (size_t)(end - ct) : strlen(ct);
  return len > 5 && strncasecmp(ct + len - 5, "+json", 5) == 0;
}

bool as_hreq_is_ndjson(as_hreq *r) {
  return ctype_is(r, "application/x-ndjson") || ctype_is(r, "application/ndjson");
}

bool as_hreq_wants_ndjson(as_hreq *r) {
  const char *a = as_hreq_header(r, MHD_HTTP_HEADER_ACCEPT);
  return a && (strstr(a, "application/x-ndjson") || strstr(a, "application/ndjson"));
}

static void add_common_headers(struct MHD_Response *resp) {
  MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
  MHD_add_response_header(resp, "Access-Control-Expose-Headers", "*");
}

static void count_status(as_hreq *r, unsigned status) {
  r->status = status;
  if (status >= 500)
    atomic_fetch_add(&r->srv->responses_5xx, 1);
  else if (status >= 400)
    atomic_fetch_add(&r->srv->responses_4xx, 1);
}

static void free_buffer_cb(void *p) { as_free(p); }

void as_hreq_respond(as_hreq *r, unsigned status, const char *content_type,
                     as_buf *b) {
  if (r->responded) {
    as_buf_free(b);
    return;
  }
  r->responded = true;
  struct MHD_Response *resp;
  if (as_buf_error(b)) {
    as_buf_free(b);
    static const char oom[] =
        "{\"error\":\"Internal error: out of memory\",\"code\":\"internal_error\"}";
    resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom,
                                           MHD_RESPMEM_PERSISTENT);
    status = 500;
  } else {
    size_t len;
    char *data = as_buf_detach(b, &len);
    resp = data ? MHD_create_response_from_buffer_with_free_callback(len, data,
                                                                     free_buffer_cb)
                : NULL;
    if (!resp) as_free(data);
  }
  if (!resp) return;
  add_common_headers(resp);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (r->allow[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
  if (r->close_conn) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  count_status(r, status);
  MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
}

/* Copies s into out (cap bytes) with every invalid UTF-8 byte replaced by
 * U+FFFD, so messages quoting client input stay whole and valid. */
static void utf8_clean(const char *s, char *out, size_t cap) {
  size_t o = 0, n = strlen(s);
  for (size_t i = 0; i < n && o + 4 < cap;) {
    size_t ok = as_utf8_check(s + i, n - i);
    size_t take = ok < cap - o - 4 ? ok : cap - o - 4;
    memcpy(out + o, s + i, take);
    o += take;
    i += take;
    if (take < ok) break;
    if (i < n) { /* one invalid byte */
      memcpy(out + o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
    }
  }
  out[o] = '\0';
}

void as_hreq_error(as_hreq *r, unsigned status, const char *code,
                   const char *kind, const char *extra, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Messages may quote client input: keep the text valid UTF-8. */
  char clean[1024];
  utf8_clean(msg, clean, sizeof clean);
  as_buf b;
  as_buf_init(&b, 0);
  char full[1200];
  snprintf(full, sizeof full, "%s: %s", kind, clean);
  as_buf_puts(&b, "{\"error\":");
  as_json_put_str(&b, full, strlen(full));
  as_buf_puts(&b, ",\"code\":");
  as_json_put_str(&b, code, strlen(code));
  if (extra) as_buf_puts(&b, extra);
  as_buf_putc(&b, '}');
  as_hreq_respond(r, status, "application/json", &b);
}

void as_hreq_engine_error(as_hreq *r, as_err rc, const as_error *err) {
  const char *msg = err && err->message[0] ? err->message : as_strerror(rc);
  char extra[256] = "";
  if (err && err->field[0])
    snprintf(extra, sizeof extra, ",\"field\":\"%s\",\"index\":%u", err->field,
             err->index);
  switch (rc) {
    case AS_EINVAL:
    case AS_EJSON:
    case AS_ELIMIT:
      if (r->error_extra) { /* a schema rejection with the validator's errors */
        as_hreq_error(r, 400, "schema_validation_failed", "Validation error",
                      r->error_extra, "%s", msg);
        return;
      }
      as_hreq_error(r, 400, "validation_error", "Validation error",
                    extra[0] ? extra : NULL, "%s", msg);
      return;
    case AS_ECONFLICT: {
      char x[320];
      snprintf(x, sizeof x, "%s,\"expected_version\":%llu,\"actual_version\":%llu",
               extra, (unsigned long long)err->expected_version,
               (unsigned long long)err->actual_version);
      as_hreq_error(r, 409, "version_conflict", "Concurrency error", x, "%s", msg);
      return;
    }
    case AS_EIDCONFLICT:
      as_hreq_error(r, 409, "id_conflict", "Concurrency error",
                    extra[0] ? extra : NULL, "%s", msg);
      return;
    case AS_ENOTFOUND:
      as_hreq_error(r, 404, "not_found", "Not found", NULL, "%s", msg);
      return;
    case AS_EAGAIN:
      as_hreq_error(r, 503, "queue_full", "Queue full", NULL, "%s", msg);
      return;
    case AS_EREADONLY:
    case AS_ECLOSED:
      as_hreq_error(r, 503, "unavailable", "Storage error", NULL, "%s", msg);
      return;
    default:
      as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "%s", msg);
      return;
  }
}

/* --- Streamed responses ------------------------------------------------ */

typedef struct stream {
  as_buf buf;
  size_t off;
  bool done;
  as_stream_fill fill;
  void *state;
  void (*free_state)(void *);
} stream;

#define STREAM_CHUNK (64u << 10)
/* libmicrohttpd's per-connection pool (request line, headers, read buffer).
 * It zeroes the whole pool after every request on a keep-alive connection,
 * so its size is a per-request cost (64 connections' pools do not stay in
 * cache).  8 KiB holds a request line and headers of up to ~7.4 KiB (like
 * nginx's 8k header buffers; beyond, 431); against 16 KiB it gave 5 % more
 * single-event requests/s (9 interleaved runs, session 10). */
#define AS_HTTP_CONN_MEMORY (8u << 10)

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
  stream *s = cls;
  if (s->off == s->buf.len) {
    if (s->done) return MHD_CONTENT_READER_END_OF_STREAM;
    as_buf_reset(&s->buf);
    s->off = 0;
    while (!s->done && s->buf.len < STREAM_CHUNK) s->done = s->fill(s->state, &s->buf);
    if (as_buf_error(&s->buf)) return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->buf.len == 0) return MHD_CONTENT_READER_END_OF_STREAM;
  }
  size_t n = s->buf.len - s->off < max ? s->buf.len - s->off : max;
  memcpy(out, s->buf.data + s->off, n);
  s->off += n;
  return (ssize_t)n;
}

static void stream_free(void *cls) {
  stream *s = cls;
  if (s->free_state) s->free_state(s->state);
  as_buf_free(&s->buf);
  as_free(s);
}

void as_hreq_stream(as_hreq *r, unsigned status, const char *content_type,
                    as_stream_fill fill, void *state,
                    void (*free_state)(void *)) {
  if (r->responded) {
    if (free_state) free_state(state);
    return;
  }
  stream *s = as_calloc(1, sizeof *s);
  if (!s) {
    if (free_state) free_state(state);
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  as_buf_init(&s->buf, 0);
  /* room for a typical answer up front (growing by doubling from nothing
   * copied a 5 KiB answer seven times) */
  as_buf_reserve(&s->buf, 16u << 10);
  s->fill = fill;
  s->state = state;
  s->free_state = free_state;
  /* The first chunk is produced now.  A whole answer that fits in it (most
   * queries) goes out as one buffer with a Content-Length: no chunked
   * framing, and no zeroed STREAM_CHUNK block from libmicrohttpd (which
   * cost more than serializing ten events).  Only longer answers stream. */
  while (!s->done && s->buf.len < STREAM_CHUNK) s->done = s->fill(s->state, &s->buf);
  if (s->done || as_buf_error(&s->buf)) {
    as_buf b = s->buf;
    as_buf_init(&s->buf, 0);
    stream_free(s);
    as_hreq_respond(r, status, content_type, &b);
    return;
  }
  struct MHD_Response *resp = MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, STREAM_CHUNK, stream_read, s, stream_free);
  if (!resp) {
    stream_free(s);
    return;
  }
  r->responded = true;
  add_common_headers(resp);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  count_status(r, status);
  MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
}

/* --- Asynchronous appends ------------------------------------------- */

static void append_done_cb(void *arg, as_err rc, const as_append_result *res,
                           size_t n, const as_error *err) {
  as_hreq *r = arg;
  r->arc = rc;
  if (err) r->aerr = *err;
  if (!rc && res) {
    r->ares = as_hreq_alloc(r, sizeof *res * n);
    if (r->ares) {
      memcpy(r->ares, res, sizeof *res * n);
      r->nares = n;
    } else {
      r->arc = AS_ENOMEM;
    }
  }
  atomic_store(&r->completed, 1);
  MHD_resume_connection(r->conn); /* last touch of r on this thread */
}

void as_hreq_append(as_hreq *r, const as_event_in *ev, size_t n,
                    void (*done)(as_hreq *r)) {
  r->on_resume = done;
  r->awaiting = true;
  atomic_fetch_add(&r->srv->suspended, 1); /* until on_request sees it resumed */
  MHD_suspend_connection(r->conn);
  as_err rc = as_append_async(r->srv->db, ev, n, append_done_cb, r, &r->aerr);
  if (rc) {
    r->arc = rc;
    if (r->srv->registry) as_route_schema_rejection(r, ev, n);
    atomic_store(&r->completed, 1);
    MHD_resume_connection(r->conn);
  }
}

/* --- The access handler ------------------------------------------------ */

static void preflight(as_hreq *r) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) return;
  r->responded = true;
  add_common_headers(resp);
  MHD_add_response_header(resp, "Access-Control-Allow-Methods",
                          "GET, POST, PUT, DELETE, OPTIONS");
  const char *req = as_hreq_header(r, "Access-Control-Request-Headers");
  MHD_add_response_header(resp, "Access-Control-Allow-Headers", req ? req : "*");
  MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
  r->status = 204;
  MHD_queue_response(r->conn, 204, resp);
  MHD_destroy_response(resp);
}

static void route_request(as_hreq *r, const char *url) {
  char path[4096];
  size_t len = strlen(url);
  if (len >= sizeof path) {
    as_hreq_error(r, 414, "uri_too_long", "Invalid request", NULL,
                  "the URL path is longer than %zu bytes", sizeof path - 1);
    return;
  }
  memcpy(path, url, len + 1);
  if (len > 1 && path[len - 1] == '/') path[--len] = '\0';
  if (strcmp(r->method, "OPTIONS") == 0) {
    preflight(r);
    return;
  }
  /* Static segments win over parameters (as in the seed's router): when a
   * pattern without parameters matches the path, only such patterns count,
   * so GET /api/v1/events/batch is a 405, not an event id. */
  as_seg us[64];
  size_t nu = split(path, us, 64);
  size_t nroutes = nu > 64 ? 0 : AS_ARRAY_LEN(g_routes); /* too deep: 404 */
  const as_route_c *rcs = r->srv->routes;
  bool static_hit = false;
  for (size_t i = 0; i < nroutes && !static_hit; i++) {
    as_seg param;
    if (!rcs[i].has_param && match(&rcs[i], us, nu, &param)) static_hit = true;
  }
  char allow[128] = "";
  for (size_t i = 0; i < nroutes; i++) {
    as_seg param;
    if (static_hit && rcs[i].has_param) continue;
    if (!match(&rcs[i], us, nu, &param)) continue;
    if (strcmp(g_routes[i].method, r->method) != 0) {
      if (!strstr(allow, g_routes[i].method)) {
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", g_routes[i].method);
      }
      continue;
    }
    r->route = &g_routes[i];
    if (param.p) {
      r->param = as_hreq_alloc(r, param.len + 1);
      if (!r->param) {
        as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
        return;
      }
      memcpy(r->param, param.p, param.len);
      r->param[param.len] = '\0';
      r->param_len = param.len;
    }
    return;
  }
  if (allow[0]) {
    char extra[160];
    snprintf(extra, sizeof extra, ",\"allow\":\"%s\"", allow);
    snprintf(r->allow, sizeof r->allow, "%s", allow);
    as_hreq_error(r, 405, "method_not_allowed", "Method not allowed", extra,
                  "%s is not allowed on %s (allowed: %s)", r->method, path, allow);
    return;
  }
  as_hreq_error(r, 404, "not_found", "Not found", NULL, "no route for %s %s",
                r->method, path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  as_server *s = cls;
  as_hreq *r = *con_cls;
  if (!r) {
    r = as_calloc(1, sizeof *r);
    if (!r) return MHD_NO;
    r->srv = s;
    r->conn = conn;
    r->method = method;
    r->start_us = (uint64_t)as_time_mono_us();
    as_buf_init(&r->body, s->cfg.max_body);
    *con_cls = r;
    atomic_fetch_add(&s->requests_total, 1);
    /* in_flight first, then the stopping check (both seq_cst): either
     * as_server_stop() sees this request in flight, or this request sees
     * that the server is stopping and never suspends. */
    atomic_fetch_add(&s->in_flight, 1);
    if (atomic_load(&s->stopping)) {
      r->slot = SLOT_UNMATCHED;
      as_metrics_start(&s->metrics, r->slot);
      r->close_conn = true;
      as_hreq_error(r, 503, "unavailable", "Service unavailable", NULL,
                    "the server is shutting down");
      return MHD_YES;
    }
    route_request(r, url);
    r->slot = r->route ? (size_t)(r->route - g_routes)
              : strcmp(method, "OPTIONS") == 0 ? SLOT_PREFLIGHT
                                               : SLOT_UNMATCHED;
    as_metrics_start(&s->metrics, r->slot);
    if (!r->responded && r->route) {
      const char *cl = as_hreq_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
      unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
      if (n > s->cfg.max_body)
        as_hreq_error(r, 413, "payload_too_large", "Payload too large", NULL,
                      "the request body is larger than %llu bytes",
                      (unsigned long long)s->cfg.max_body);
      else if (n)
        as_buf_reserve(&r->body, (size_t)n); /* no regrowth; a failure
                                                 shows at the append */
    }
    return MHD_YES;
  }
  if (*upload_size) {
    r->bytes_in += *upload_size;
    if (!r->responded && !r->body_too_big &&
        as_buf_append(&r->body, upload, *upload_size) != AS_OK)
      r->body_too_big = true;
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->responded) return MHD_YES;
  if (r->awaiting) {
    if (atomic_load(&r->completed)) {
      r->awaiting = false;
      atomic_fetch_sub(&s->suspended, 1);
      r->on_resume(r);
    }
    return MHD_YES;
  }
  if (r->body_too_big) {
    as_hreq_error(r, 413, "payload_too_large", "Payload too large", NULL,
                  "the request body is larger than %llu bytes",
                  (unsigned long long)s->cfg.max_body);
    return MHD_YES;
  }
  r->route->fn(r);
  if (!r->responded && !r->awaiting)
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL,
                  "the handler produced no response");
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  as_server *s = cls;
  as_hreq *r = *con_cls;
  if (!r) return;
  as_metrics_observe(&s->metrics, r->slot, r->status, (uint64_t)as_time_mono_us() - r->start_us, r->bytes_in);
  if (r->awaiting) atomic_fetch_sub(&s->suspended, 1); /* resumed, then closed */
  as_buf_free(&r->body);
  for (as_scratch *p = r->scratch; p;) {
    as_scratch *n = p->next;
    as_free(p);
    p = n;
  }
  as_free(r);
  *con_cls = NULL;
  atomic_fetch_sub(&s->in_flight, 1);
}

/* Decodes %HH escapes of the URL and query arguments like MHD's default,
 * except %00, which stays as the literal text "%00": a NUL would silently
 * cut a value short (entity_id=a%00b must not mean "a"). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s) {
  char *r = s, *w = s;
  while (*r) {
    if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
      char hex[3] = {r[1], r[2], 0};
      long v = strtol(hex, NULL, 16);
      if (v != 0) {
        *w++ = (char)v;
        r += 3;
        continue;
      }
    }
    *w++ = *r++;
  }
  *w = '\0';
  return (size_t)(w - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  as_server *s = cls;
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = 0;
  as__log(&s->log, AS_LOG_WARN, "http: %s", msg);
}

/* --- Start and stop ------------------------------------------------------ */

void as_server_config_init(as_server_config *c) {
  memset(c, 0, sizeof *c);
  c->listen = "127.0.0.1:8080";
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  /* One CPU is left to the engine's writer and background threads (one
   * HTTP thread on two CPUs served 20-30 % more single-event requests than
   * two, docs/benchmarks.md); the HTTP threads never block
   * on a sync, so they need no more than the CPUs they can use. */
  c->threads = n > 2 ? (unsigned)(n - 1) : 1;
  c->max_body = AS_HTTP_DEFAULT_MAX_BODY;
  c->max_connections = 4096;
  c->idle_timeout_s = 60;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  const char *colon = strrchr(s, ':');
  if (!colon || !colon[1]) return -1;
  char *end;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (*end || port > 65535) return -1;
  char host[128];
  size_t hl = (size_t)(colon - s);
  if (hl >= sizeof host) return -1;
  memcpy(host, s, hl);
  host[hl] = 0;
  if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    host[hl - 1] = 0;
    if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) return -1;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return 6;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  if (hl == 0) {
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
    return -1;
  }
  a4->sin_family = AF_INET;
  a4->sin_port = htons((uint16_t)port);
  return 4;
}

as_err as_server_start(as_db *db, const as_server_config *cfg, as_server **out,
                       as_error *err) {
  *out = NULL;
  as_server *s = as_calloc(1, sizeof *s);
  if (!s) return AS_ENOMEM;
  s->db = db;
  as_options dbo;
  as_db_options(db, &dbo);
  s->max_json_depth = dbo.max_json_depth;
  if (cfg)
    s->cfg = *cfg;
  else
    as_server_config_init(&s->cfg);
  s->registry = s->cfg.registry;
  s->pipelines = s->cfg.pipelines;
  s->replay = s->cfg.replay;
  if (as_metrics_init(&s->metrics, AS_ARRAY_LEN(g_routes) + 2)) {
    as_free(s);
    return AS_ENOMEM;
  }
  if (s->cfg.threads == 0) s->cfg.threads = 1;
  s->log.fn = s->cfg.log_fn;
  s->log.ctx = s->cfg.log_ctx;
  s->log.level = AS_LOG_INFO;
  s->started_us = as_time_now_us();
  compile_routes(s);
  struct sockaddr_storage ss;
  int fam = parse_listen(s->cfg.listen, &ss);
  if (fam < 0) {
    if (err) {
      err->code = AS_EINVAL;
      snprintf(err->message, sizeof err->message,
               "invalid listen address '%s' (want ADDR:PORT)", s->cfg.listen);
    }
    as_metrics_free(&s->metrics);
    as_free(s);
    return AS_EINVAL;
  }
  unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ITC |
                   MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
  if (fam == 6) flags |= MHD_USE_IPv6;
  struct MHD_OptionItem opts[16];
  int k = 0;
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
                                      (intptr_t)mhd_log, s};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED,
                                      (intptr_t)on_completed, s};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                      (intptr_t)s->cfg.max_connections, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                      (intptr_t)s->cfg.idle_timeout_s, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_UNESCAPE_CALLBACK,
                                      (intptr_t)unescape, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                      AS_HTTP_CONN_MEMORY, NULL};
  if (s->cfg.threads > 1)
    opts[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                        (intptr_t)s->cfg.threads, NULL};
  opts[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  if (as_ws_hub_start(db, &s->log, &s->hub)) {
    as_metrics_free(&s->metrics);
    as_free(s);
    return AS_ENOMEM;
  }
  pthread_mutex_init(&s->stats_mu, NULL);
  s->stats_hub = s->hub;
  s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
                          MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
  if (!s->d) {
    as_ws_hub_stop(s->hub);
    as_ws_hub_free(s->hub);
    int e = errno;
    if (err) {
      err->code = AS_EIO;
      snprintf(err->message, sizeof err->message, "cannot listen on %s: %s",
               s->cfg.listen, e ? strerror(e) : "unknown error");
    }
    as_metrics_free(&s->metrics);
    pthread_mutex_destroy(&s->stats_mu);
    as_free(s);
    return AS_EIO;
  }
  *out = s;
  return AS_OK;
}

uint16_t as_server_port(const as_server *s) {
  const union MHD_DaemonInfo *i =
      MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  return i ? i->port : 0;
}

void as_server_stop(as_server *s, unsigned drain_ms) {
  if (!s) return;
  MHD_socket fd = MHD_quiesce_daemon(s->d);
  if (fd != MHD_INVALID_SOCKET) close(fd);
  /* /metrics stops reading the hub's counters before the hub is freed. */
  pthread_mutex_lock(&s->stats_mu);
  s->stats_hub = NULL;
  pthread_mutex_unlock(&s->stats_mu);
  /* WebSockets get a close frame; parked subscriptions resume and end. */
  atomic_store(&s->stopping, true); /* new requests, keep-alive ones too: 503 */
  as_ws_hub_stop(s->hub); /* stays allocated: HTTP threads may still use it */
  for (unsigned waited = 0; waited < drain_ms; waited += 10) {
    const union MHD_DaemonInfo *i =
        MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (!i || i->num_connections == 0 || atomic_load(&s->in_flight) == 0) break;
    usleep(10000);
  }
  /* libmicrohttpd aborts the process if it is stopped with a suspended
   * connection.  Ours are appends waiting for their commit (the writer
   * completes every one) and parked subscriptions (the hub resumed them
   * all), so this wait ends; past drain_ms it is logged. */
  for (unsigned waited = 0; atomic_load(&s->suspended) > 0; waited += 10) {
    if (waited == drain_ms)
      as__log(&s->log, AS_LOG_WARN, "shutdown: waiting for %llu suspended connections",
              (unsigned long long)atomic_load(&s->suspended));
    usleep(10000);
  }
  MHD_stop_daemon(s->d);
  as_ws_hub_free(s->hub);
  s->hub = NULL;
  as_metrics_free(&s->metrics);
  pthread_mutex_destroy(&s->stats_mu);
  as_free(s);
}
