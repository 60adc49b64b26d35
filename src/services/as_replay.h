/*
 * as_replay.h — replays (seed-api-contract §7): fold a selected range of the
 * log into fresh, isolated instances of projections, on background worker
 * threads, with progress, cancellation and bounded resources.
 *
 * Semantics.  A replay selects, when it starts, the committed events that
 * match its filters (entity, type or type prefix "x.*", inclusive time
 * bounds applied to every replay) up to the committed position at that
 * moment; events appended later are never part of it.  It feeds them, in
 * position order, to a NEW, EMPTY instance of each target projection
 * (created by the projection's factory), never to the store's live
 * projections: the engine keeps those exact from every committed event, so
 * a replay neither double-counts nor leaves a live projection half-built.
 * The result of a finished replay is read per key with as_replay_state().
 *
 * Lifecycle of a record (the state machine):
 *
 *     start ---> RUNNING ---all events applied---> COMPLETED
 *                   |  \---read or apply-setup error--> FAILED
 *                   \---cancel (checked before each batch) or close--> CANCELLED
 *
 *   Cancel and delete follow these rules: cancel only while RUNNING (it
 *   waits until the worker has stopped, at most one batch); delete only
 *   when not RUNNING.  A projection whose apply() fails on an event counts
 *   that event in `failed_events`; the replay goes on.
 *
 * Limits.  At most `max_running` replays run at once (more: AS_EAGAIN);
 * at most `max_records` records are kept — starting one more drops the
 * oldest finished record (and its result).  Records live in memory only: a
 * restart forgets them (a replay is a derived computation; run it again).
 *
 * Threads.  Every function may be called from any thread.  Each running
 * replay has a worker thread from a pool that grows up to `max_running`;
 * as_replay_close() cancels what runs and joins every worker; it must be
 * called before the store is closed and must not race with other calls on
 * the same manager (stop the HTTP server first).
 *
 * Ownership.  The manager borrows the store (it must outlive the manager).
 * Infos are copied out; strings in them are the caller's buffers.  JSON
 * returned by as_replay_state() is the caller's (free with as_free()).
 */
#ifndef AS_REPLAY_H
#define AS_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"

/* Limits (docs/replay.md). */
#define AS_REPLAY_DEFAULT_MAX_RUNNING 4u
#define AS_REPLAY_MAX_RUNNING_LIMIT 64u
#define AS_REPLAY_DEFAULT_MAX_RECORDS 100u
#define AS_REPLAY_MAX_RECORDS_LIMIT 100000u
#define AS_REPLAY_DEFAULT_BATCH 1000u
#define AS_REPLAY_MAX_BATCH 100000u
#define AS_REPLAY_DEFAULT_PROGRESS_INTERVAL 1000u
#define AS_REPLAY_MAX_PROGRESS_INTERVAL 1000000000u
#define AS_REPLAY_DEFAULT_WORKERS 4u
#define AS_REPLAY_MAX_WORKERS 64u
#define AS_REPLAY_MAX_TARGETS 16u /* projections a manager knows */
#define AS_REPLAY_MAX_NAME 64u    /* bytes of a projection name */

/* Upper bounds (seconds) of the replay-duration histogram buckets. */
#define AS_REPLAY_DURATION_BUCKETS 8
extern const double as_replay_duration_bounds[AS_REPLAY_DURATION_BUCKETS];

typedef enum as_replay_status {
  AS_REPLAY_RUNNING = 0,
  AS_REPLAY_COMPLETED = 1,
  AS_REPLAY_FAILED = 2,
  AS_REPLAY_CANCELLED = 3
} as_replay_status;

/** "running", "completed", "failed", "cancelled" (the seed's names). */
const char *as_replay_status_name(as_replay_status s);

typedef struct as_replay_config {
  uint32_t max_running; /* default AS_REPLAY_DEFAULT_MAX_RUNNING (1..64) */
  uint32_t max_records; /* default AS_REPLAY_DEFAULT_MAX_RECORDS; must be
                           >= max_running (..AS_REPLAY_MAX_RECORDS_LIMIT) */
  as_log_fn log_fn;     /* NULL = stderr */
  void *log_ctx;
  as_log_level log_level; /* default AS_LOG_INFO */
} as_replay_config;

void as_replay_config_init(as_replay_config *c);

typedef struct as_replay_mgr as_replay_mgr;

/** Creates the replay manager of `db` (borrowed) with the built-in
 *  projections entity_snapshots and event_counters as targets.  `cfg` may
 *  be NULL; it is copied.  AS_EINVAL for limits out of range.  Free with
 *  as_replay_close(). */
as_err as_replay_open(as_db *db, const as_replay_config *cfg, as_replay_mgr **out);

/** Cancels every running replay, joins the workers and frees everything.
 *  Call it before as_db_close().  Accepts NULL. */
void as_replay_close(as_replay_mgr *m);

/** Makes a fresh, empty instance of a projection in *out (its ctx owned by
 *  the caller of the factory, released with out->destroy). */
typedef as_err (*as_replay_factory)(void *arg, as_projection_ops *out);

/** Adds a replay target `name` (copied, 1..AS_REPLAY_MAX_NAME bytes) made
 *  by `factory` (arg borrowed; must outlive the manager).  AS_EEXIST if
 *  the name is taken, AS_ELIMIT beyond AS_REPLAY_MAX_TARGETS. */
as_err as_replay_add_projection(as_replay_mgr *m, const char *name,
                                as_replay_factory factory, void *arg);

/** What to replay.  Strings are borrowed for the call (need no NUL). */
typedef struct as_replay_request {
  const char *projection; size_t projection_len; /* NULL = every target */
  const char *entity_id;  size_t entity_id_len;  /* NULL = every entity */
  const char *event_type; size_t event_type_len; /* NULL = every type; "x.*"
                                                    = prefix */
  int64_t from_us;        /* timestamp >= from (AS_TIME_MIN: none) */
  int64_t to_us;          /* timestamp <= to (AS_TIME_MAX: none) */
  uint32_t batch_size;    /* events between cancel checks and progress
                             updates, 1..AS_REPLAY_MAX_BATCH */
  bool parallel;          /* accepted and echoed; replays are sequential
                             (projections need position order) */
  uint32_t workers;       /* accepted and echoed, 1..AS_REPLAY_MAX_WORKERS */
  bool emit_progress;     /* log a progress line every progress_interval */
  uint32_t progress_interval; /* 1..AS_REPLAY_MAX_PROGRESS_INTERVAL */
  uint64_t max_events_per_second; /* throttle (0 = unlimited) */
} as_replay_request;

/** Defaults: everything selected, batch 1000, workers 4, progress every
 *  1000 events, no throttle. */
void as_replay_request_init(as_replay_request *rq);

/** A copy of a record's state. */
typedef struct as_replay_info {
  uint8_t id[16];
  as_replay_status status;
  int64_t started_us;
  int64_t completed_us;     /* 0 while running */
  uint64_t total_events;    /* selected at start */
  uint64_t processed_events;
  uint64_t failed_events;   /* events some projection failed to apply */
  uint64_t from_position;   /* the selected position range (0, 0 when
                               nothing is selected) */
  uint64_t to_position;
  double events_per_second; /* processed / elapsed, elapsed measured up to
                               completion (or now while running) */
  double progress_percentage; /* processed / total x 100 (100 for a
                                 completed replay of nothing) */
  char projection[AS_REPLAY_MAX_NAME + 1]; /* "" = every target */
  char error[160];          /* FAILED: why */
  /* the request, echoed */
  char entity_id[AS_MAX_ENTITY_ID_LEN + 1];   bool has_entity_id;
  char event_type[AS_MAX_EVENT_TYPE_LEN + 1]; bool has_event_type;
  int64_t from_us, to_us;
  uint32_t batch_size, workers, progress_interval;
  bool parallel, emit_progress;
  uint64_t max_events_per_second;
} as_replay_info;

/** Starts a replay.  On success fills *out (may be NULL).  Errors (details
 *  and the offending field in `err`, which may be NULL):
 *    AS_EINVAL     a bad request field (batch_size 0, from > to, ...)
 *    AS_ENOTFOUND  an unknown projection (nothing is started)
 *    AS_EAGAIN     max_running replays are running
 *    AS_ECLOSED    the manager is closing
 *    AS_ENOMEM, or a read error of the store. */
as_err as_replay_start(as_replay_mgr *m, const as_replay_request *rq,
                       as_replay_info *out, as_error *err);

/** Copies record `id`.  AS_ENOTFOUND if unknown (or dropped). */
as_err as_replay_get(as_replay_mgr *m, const uint8_t id[16], as_replay_info *out);

/** Called once per record in start order; `info` is borrowed for the call
 *  (made under the manager's lock: do not call the manager back). */
typedef void (*as_replay_cb)(void *arg, const as_replay_info *info);

/** Lists the records in start order (cb may be NULL to count only); *n
 *  (may be NULL) gets their count. */
void as_replay_list(as_replay_mgr *m, as_replay_cb cb, void *arg, size_t *n);

/** Cancels a running replay and waits until its worker stopped (at most
 *  one batch); *out (may be NULL) gets the final record.  AS_ENOTFOUND;
 *  AS_ECONFLICT when it is not running (out then holds its state: it may
 *  have completed before the cancel was seen). */
as_err as_replay_cancel(as_replay_mgr *m, const uint8_t id[16], as_replay_info *out);

/** Deletes a finished record and its result.  AS_ENOTFOUND; AS_ECONFLICT
 *  while it runs. */
as_err as_replay_delete(as_replay_mgr *m, const uint8_t id[16]);

/** The state of `key` in the replayed instance of `projection` (NULL/0 =
 *  the replay's only target) as JSON text in *json (caller frees with
 *  as_free()).  AS_ENOTFOUND: unknown replay (*which = 0), projection not
 *  part of it (*which = 1) or key (*which = 2); AS_EINVAL: projection
 *  omitted on a replay of several targets; AS_ECONFLICT: still running. */
as_err as_replay_state(as_replay_mgr *m, const uint8_t id[16],
                       const char *projection, size_t projection_len,
                       const char *key, size_t key_len, char **json,
                       size_t *json_len, int *which);

/** Counters for /metrics. */
typedef struct as_replay_stats {
  uint64_t started, completed, failed, cancelled;
  uint64_t events_processed; /* over every replay since open */
  uint64_t running, records;
  uint64_t duration_count;
  double duration_sum; /* seconds, finished replays */
  uint64_t duration_buckets[AS_REPLAY_DURATION_BUCKETS]; /* per bucket,
                                                        not cumulative */
} as_replay_stats;

void as_replay_stats_get(as_replay_mgr *m, as_replay_stats *out);

#endif /* AS_REPLAY_H */
