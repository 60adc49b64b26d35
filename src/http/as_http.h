/*
 * as_http.h — the HTTP server of allsourced: the seed's REST API on top of
 * an open store, served by libmicrohttpd in poll mode with a thread pool.
 *
 * Ownership: the server borrows the store; close the server before the
 * store.  All functions are called from the main thread.
 */
#ifndef AS_HTTP_H
#define AS_HTTP_H

#include <stdint.h>

#include "allsource.h"

typedef struct as_registry as_registry; /* src/services/as_registry.h */
typedef struct as_pipelines as_pipelines; /* src/services/as_pipeline.h */
typedef struct as_replay_mgr as_replay_mgr; /* src/services/as_replay.h */

typedef struct as_server_config {
  const char *listen;       /* "ADDR:PORT", default "127.0.0.1:8080" */
  unsigned threads;         /* HTTP threads, default: CPUs - 1 (at least 1) */
  uint64_t max_body;        /* request body limit, default 16 MiB */
  unsigned max_connections; /* default 4096 */
  unsigned idle_timeout_s;  /* idle keep-alive timeout, default 60 */
  as_log_fn log_fn;         /* NULL = stderr */
  void *log_ctx;
  as_registry *registry;     /* schema registry (borrowed, must outlive the
                               server); NULL = no schema routes */
  as_pipelines *pipelines;   /* pipeline service (borrowed, must outlive the
                               server); NULL = pipeline routes answer 503 */
  as_replay_mgr *replay;     /* replay manager (borrowed, must outlive the
                               server); NULL = replay routes answer 503 */
} as_server_config;

#define AS_HTTP_DEFAULT_MAX_BODY ((uint64_t)16 << 20)
#define AS_HTTP_MAX_QUERY_LIMIT 10000000u

typedef struct as_server as_server;

void as_server_config_init(as_server_config *c);

/** Starts listening.  AS_EINVAL for a bad listen address, AS_EIO if the
 *  port cannot be bound (message in err). */
as_err as_server_start(as_db *db, const as_server_config *cfg,
                       as_server **out, as_error *err);

/** The port actually bound (useful with port 0). */
uint16_t as_server_port(const as_server *s);

/** Graceful stop: stops accepting, waits up to `drain_ms` for requests in
 *  flight (appends complete), then closes every connection and frees. */
void as_server_stop(as_server *s, unsigned drain_ms);

#endif /* AS_HTTP_H */
