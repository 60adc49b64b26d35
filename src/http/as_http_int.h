/*
 * as_http_int.h — internals of the HTTP layer shared by as_http.c (the
 * libmicrohttpd glue, routing, request bodies, responses) and the route
 * files (as_route_*.c).  The HTTP layer holds no storage logic: every
 * handler parses its input, calls the engine's public API and renders JSON.
 *
 * REQUEST LIFECYCLE (one as_hreq per HTTP request)
 *
 *   first call ---> route lookup, OPTIONS/404/405/413-by-length answered now
 *        |
 *   body calls ---> bytes appended to r->body (bounded by max_body)
 *        |
 *   final call ---> handler runs: it queues a response, or starts an
 *        |          asynchronous append (connection suspended; the HTTP
 *        |          thread is free again) ...
 *   resumed call -> ... and the writer's completion callback resumes the
 *                   connection; r->on_resume renders the response.
 *   completed ----> MHD's completion notifier frees the request.
 */
#ifndef AS_HTTP_INT_H
#define AS_HTTP_INT_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "allsource.h"
#include "core/as_buf.h"
#include "core/as_json.h"
#include "core/as_log.h"
#include "http/as_http.h"
#include "http/as_metrics.h"
#include "http/as_ws.h"

typedef struct as_hreq as_hreq;
typedef void (*as_handler_fn)(as_hreq *r);

enum {
  AS_ROUTE_BODY = 1 /* the route takes a request body */
};

typedef struct as_route {
  const char *method;
  const char *pattern; /* segments; "{x}" one segment, "{x+}" one or more */
  as_handler_fn fn;
  unsigned flags;
} as_route;

/* A path split into segments (pointers into the path, not copies). */
typedef struct as_seg {
  const char *p;
  size_t len;
} as_seg;

#define AS_ROUTE_MAX_SEGS 12
#define AS_ROUTES_MAX 96

/* A route pattern split once at start-up (as_http.c). */
typedef struct as_route_c {
  as_seg ps[AS_ROUTE_MAX_SEGS];
  uint8_t np;
  uint8_t greedy;   /* index of the "{x+}" segment, or 0xff */
  bool has_param;
} as_route_c;

struct as_server {
  as_route_c routes[AS_ROUTES_MAX]; /* g_routes, compiled */
  as_db *db;
  uint32_t max_json_depth; /* the store's payload nesting limit */
  as_registry *registry; /* borrowed from cfg; NULL = no schema routes */
  as_pipelines *pipelines; /* borrowed from cfg; NULL = pipelines disabled */
  as_replay_mgr *replay; /* borrowed from cfg; NULL = replay routes 503 */
  as_metrics metrics;    /* request accounting, one slot per route + 2 */
  pthread_mutex_t stats_mu; /* guards stats_hub (a scrape, not a request) */
  as_ws_hub *stats_hub;  /* the hub whose counters /metrics reads; NULL
                            once as_server_stop() begins to free it */
  struct MHD_Daemon *d;
  as_ws_hub *hub;
  as_server_config cfg;
  as_logger log;
  int64_t started_us;
  _Atomic uint64_t requests_total;
  _Atomic uint64_t responses_4xx, responses_5xx;
  _Atomic uint64_t in_flight;
  _Atomic bool stopping;       /* as_server_stop() began: new requests get 503 */
  _Atomic uint64_t suspended;  /* connections suspended by us right now
                                  (appends awaiting their commit, parked
                                  subscriptions): MHD_stop_daemon must not
                                  run while there are any */
};

/* A scratch allocation owned by the request (freed with it). */
typedef struct as_scratch {
  struct as_scratch *next;
  _Alignas(16) char data[];
} as_scratch;

struct as_hreq {
  as_server *srv;
  struct MHD_Connection *conn;
  const char *method; /* borrowed from MHD for the request's life */
  const as_route *route;
  char *param;        /* decoded path parameter, NUL-terminated, or NULL */
  char allow[128];    /* methods for a 405's Allow header */
  size_t param_len;
  as_buf body;
  bool body_too_big;
  bool responded;
  bool close_conn;    /* answer with "Connection: close" */
  bool awaiting;      /* suspended for an asynchronous append */
  _Atomic int completed;
  void (*on_resume)(as_hreq *r);
  /* result of the asynchronous append */
  as_err arc;
  as_error aerr;
  as_append_result *ares;
  size_t nares;
  as_scratch *scratch;
  /* extra members of the error response of a failed append (the details
   * of a schema rejection), in scratch; NULL = none */
  const char *error_extra;
  /* request accounting (as_metrics) */
  size_t slot;        /* as_metrics slot: route index, unmatched, preflight */
  uint64_t start_us;  /* monotonic clock at the first call */
  uint64_t bytes_in;  /* body bytes received */
  unsigned status;    /* the response's status, 0 = none queued */
};

/* --- as_http.c ------------------------------------------------------- */

/** The route table (static, in match order) and its length; slot i of the
 *  server's as_metrics counts route i, then unmatched requests, then CORS
 *  preflights. */
const as_route *as__http_routes(size_t *n);

/** Allocates n bytes freed with the request; NULL when out of memory. */
void *as_hreq_alloc(as_hreq *r, size_t n);
/** The query argument `name` (decoded by MHD), or NULL. */
const char *as_hreq_arg(as_hreq *r, const char *name);
/** A request header, or NULL. */
const char *as_hreq_header(as_hreq *r, const char *name);
/** True if the request's Content-Type is application/json or +json. */
bool as_hreq_is_json(as_hreq *r);
/** True if the request's Content-Type is application/x-ndjson. */
bool as_hreq_is_ndjson(as_hreq *r);
/** True if the client asked for NDJSON (Accept: application/x-ndjson). */
bool as_hreq_wants_ndjson(as_hreq *r);

/** Queues `b`'s content as the response (the buffer is taken over). */
void as_hreq_respond(as_hreq *r, unsigned status, const char *content_type,
                     as_buf *b);
/** Queues a JSON error: {"error":"<kind>: <message>","code":"<code>"} plus
 *  the extra members in `extra` (a JSON fragment starting with ',' or NULL). */
void as_hreq_error(as_hreq *r, unsigned status, const char *code,
                   const char *kind, const char *extra, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/** Maps an engine error to an HTTP error response. */
void as_hreq_engine_error(as_hreq *r, as_err rc, const as_error *err);

/** Streams a response produced piece by piece: fill() appends to `out`
 *  and returns true when the response is complete.  `state` is freed with
 *  free_state() when MHD is done with it. */
typedef bool (*as_stream_fill)(void *state, as_buf *out);
void as_hreq_stream(as_hreq *r, unsigned status, const char *content_type,
                    as_stream_fill fill, void *state,
                    void (*free_state)(void *));

/** Starts an asynchronous append; `done` renders the response once the
 *  writer has committed (r->arc, r->aerr, r->ares hold the outcome). */
void as_hreq_append(as_hreq *r, const as_event_in *ev, size_t n,
                    void (*done)(as_hreq *r));

/* --- as_http_json.c -------------------------------------------------- */

/** Appends the event as the seed's Event JSON plus "position". */
void as_json_put_event(as_buf *b, const as_event *ev);
/** The same; with one_line, line breaks in payload and metadata (which can
 *  only be whitespace) become spaces, for NDJSON. */
void as_json_put_event_ex(as_buf *b, const as_event *ev, bool one_line);

/** Parses one event object of an append body into `ev` (strings decoded
 *  into request scratch).  On failure responds 400 and returns false.  On
 *  success, if `used` is not NULL, stores the object's exact length (obj
 *  may come from as_json_arr_next_open, its length only a bound). */
bool as_http_parse_event(as_hreq *r, as_json_val obj, uint32_t index,
                         as_event_in *ev, size_t *used);

/** Decodes a JSON string value into request scratch. */
const char *as_http_str(as_hreq *r, as_json_val v, size_t *len);

/** Parses the common query parameters (entity_id, event_type, tenant_id,
 *  since, until, as_of, from_position, limit, order) into q; *empty is
 *  set for limit=0.  On failure responds 400 and returns false. */
bool as_http_parse_query(as_hreq *r, as_query *q, bool *empty);

/** Parses an optional RFC 3339 query parameter; responds 400 on failure. */
bool as_http_time_arg(as_hreq *r, const char *name, int64_t *out, bool *present);

/** The request body as a JSON object nested at most max_depth levels in
 *  *root (borrowed from r->body); otherwise responds 415 or 400 and
 *  returns false. */
bool as_http_object_body(as_hreq *r, uint32_t max_depth, as_json_val *root);
/** Responds 400 validation_error "<field> <what>" with "field"; returns
 *  false. */
bool as_http_field_error(as_hreq *r, const char *field, const char *what);
/** Member `name` of `obj` (kind AS_JSON_INVALID = any).  Absent, or null
 *  when optional, leaves *present false; absent and required, or of
 *  another kind, responds 400 and returns false. */
bool as_http_member(as_hreq *r, as_json_val obj, const char *name, as_json_kind kind,
                    bool required, as_json_val *v, bool *present);

/* --- routes ------------------------------------------------------------ */

void as_route_health(as_hreq *r);
void as_route_stats(as_hreq *r);
void as_route_ingest(as_hreq *r);
void as_route_ingest_batch(as_hreq *r);
void as_route_query(as_hreq *r);
void as_route_event_by_id(as_hreq *r);
void as_route_entity_state(as_hreq *r);
void as_route_entity_snapshot(as_hreq *r);
void as_route_compaction_trigger(as_hreq *r);
void as_route_compaction_stats(as_hreq *r);
void as_route_stream(as_hreq *r);
void as_route_analytics_frequency(as_hreq *r);
void as_route_analytics_summary(as_hreq *r);
void as_route_analytics_correlation(as_hreq *r);
void as_route_snapshot_create(as_hreq *r);
void as_route_snapshot_list(as_hreq *r);
void as_route_snapshot_latest(as_hreq *r);
void as_route_subscribe(as_hreq *r);

/* as_route_schemas.c: the schema registry */
void as_route_schema_register(as_hreq *r);
void as_route_schema_list(as_hreq *r);
void as_route_schema_validate(as_hreq *r);
void as_route_schema_config_get(as_hreq *r);
void as_route_schema_config_put(as_hreq *r);
void as_route_schema_get(as_hreq *r);
void as_route_schema_delete_subject(as_hreq *r);
void as_route_schema_versions(as_hreq *r);
void as_route_schema_version_get(as_hreq *r);
void as_route_schema_version_delete(as_hreq *r);
void as_route_schema_compat_put(as_hreq *r);
void as_route_schema_enforce_put(as_hreq *r);
/* as_route_replay.c: replays (docs/replay.md) */
void as_route_replay_start(as_hreq *r);
void as_route_replay_list(as_hreq *r);
void as_route_replay_get(as_hreq *r);
void as_route_replay_delete(as_hreq *r);
void as_route_replay_cancel(as_hreq *r);
void as_route_replay_state(as_hreq *r);

/* as_route_metrics.c: GET /metrics (docs/metrics.md) */
void as_route_metrics(as_hreq *r);

/** After an append failed before queueing: if the schema registry refused
 *  it, keeps the validator's errors for the response (r->error_extra). */
void as_route_schema_rejection(as_hreq *r, const as_event_in *ev, size_t n);

/* as_route_pipelines.c: stream-processing pipelines */
void as_route_pipeline_register(as_hreq *r);
void as_route_pipeline_list(as_hreq *r);
void as_route_pipeline_stats_all(as_hreq *r);
void as_route_pipeline_get(as_hreq *r);
void as_route_pipeline_delete(as_hreq *r);
void as_route_pipeline_stats(as_hreq *r);
void as_route_pipeline_reset(as_hreq *r);
void as_route_pipeline_results(as_hreq *r);

#endif /* AS_HTTP_INT_H */
