/*
 * as_ws.h — live subscriptions: WebSocket connections (after MHD's upgrade)
 * and parked NDJSON subscriptions, served by one "hub" thread.
 *
 * Every subscriber is a cursor over the log: the hub reads events from the
 * cursor up to the committed position through the engine's query API
 * (entity, type, type-prefix filters), so catching up on history and
 * following live events are the same loop and the seam between them can
 * have neither a gap nor a duplicate.  A subscriber's send buffer is
 * bounded; when it is full the hub simply stops reading the log for it
 * (the subscriber falls back to catching up later) — events are never
 * dropped.  Only a client that accepts no byte for `write_timeout` while
 * data is waiting is closed (close code 1008, reason "too slow").
 *
 * The hub owns every upgraded socket; MHD threads only hand them over.
 */
#ifndef AS_WS_H
#define AS_WS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_log.h"

typedef struct as_ws_hub as_ws_hub;

/* Limits (documented in docs/api.md). */
#define AS_WS_MAX_CONNECTIONS 10000
#define AS_WS_SEND_BUFFER (1u << 20)      /* queued bytes per connection */
#define AS_WS_MAX_MESSAGE (64u << 10)     /* client message size */
#define AS_WS_PING_MS 20000               /* ping after this much silence */
#define AS_WS_IDLE_TIMEOUT_MS 60000       /* close after this much silence */
#define AS_WS_WRITE_TIMEOUT_MS 60000      /* close when no byte is accepted */

/** A subscription filter: NULL strings mean "any".  A type ending in ".*"
 *  matches by prefix.  from_position 0 means "only new events". */
typedef struct as_ws_filter {
  const char *entity_id;
  const char *event_type;
  uint64_t from_position;
} as_ws_filter;

/** Starts the hub thread for `db`.  Registers a commit listener. */
as_err as_ws_hub_start(as_db *db, const as_logger *log, as_ws_hub **out);

/** Closes every WebSocket (close code 1001), resumes every parked
 *  subscription (which then ends) and stops the thread.  Accepts NULL.
 *  Called before MHD_stop_daemon: HTTP threads may still call into the hub
 *  (as_ws_park resumes at once, as_ws_accept closes), so it stays allocated
 *  until as_ws_hub_free(). */
void as_ws_hub_stop(as_ws_hub *h);

/** Frees a stopped hub.  Called after MHD_stop_daemon.  Accepts NULL. */
void as_ws_hub_free(as_ws_hub *h);

/** True once as_ws_hub_stop() has begun (streams must end). */
bool as_ws_hub_stopping(as_ws_hub *h);

/** Takes over an upgraded socket (from MHD's upgrade handler). */
void as_ws_accept(as_ws_hub *h, MHD_socket fd,
                  struct MHD_UpgradeResponseHandle *urh, const char *extra,
                  size_t extra_len, const as_ws_filter *f);

/** Parks a suspended HTTP connection: the hub resumes it when events are
 *  committed after `position`, or at `deadline_us` (heartbeat). */
void as_ws_park(as_ws_hub *h, struct MHD_Connection *c, uint64_t position,
                int64_t deadline_us);

/** Counters for /metrics and /stats. */
typedef struct as_ws_stats {
  uint64_t connections_active, connections_total, messages_sent, errors;
  uint64_t closed_slow;
} as_ws_stats;

void as_ws_stats_get(as_ws_hub *h, as_ws_stats *out);

/** Sec-WebSocket-Accept for a client key into out[29]. */
void as_ws_accept_key(const char *key, char out[29]);

#endif /* AS_WS_H */
