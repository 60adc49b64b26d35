/*
 * as_pipeline.h — stream-processing pipelines (seed-api-contract §8, with
 * its bugs fixed; docs/pipelines.md is the reference).
 *
 * A pipeline is a named chain of operators (filter, map, reduce, window,
 * enrich, branch) that sees the committed events of a store, of the types
 * it selects, exactly once each, in position order, from a start position
 * fixed when it is registered (or reset).  Its state — reduce groups,
 * windows, counters, the last outputs — is a pure function of the log from
 * that position on, so it is rebuilt identically after a restart by
 * feeding the log again.
 *
 * Execution.  One worker thread per service feeds every pipeline, off the
 * append path: a commit listener (as_db_on_commit) only wakes it.  Each
 * pipeline has its own cursor, so a new pipeline that starts at position 1
 * catches up without holding the others back.  Readers (stats, results,
 * config) first wait until the pipeline has caught up with the position
 * committed when they were called (at most AS_PIPELINE_WAIT_MS), so a
 * client sees the effect of its own appends.
 *
 * Persistence.  Registrations, resets and deletes are appended
 * synchronously to the store's meta store (as_db_meta) before they take
 * effect and replayed at as_pipelines_open(); without a meta store
 * (memory-only mode) pipelines live in memory only.
 *
 * Threads.  Every function may be called from any thread, except that
 * as_pipelines_free() must not race with the others.  Free the service
 * before closing its store.
 */
#ifndef AS_PIPELINE_H
#define AS_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_buf.h"

/* Limits (docs/pipelines.md, "Limits"). */
#define AS_PIPELINE_DEFAULT_MAX 100u   /* pipelines per store (configurable) */
#define AS_PIPELINE_HARD_MAX 1000u
#define AS_PIPELINE_WAIT_MS 10000u     /* readers wait this long for catch-up */
#define AS_PIPELINE_MAX_CONFIG_BYTES (64u << 10) /* JSON text of a config */

typedef struct as_pipelines as_pipelines;

/** Details of a refused request: `field` names the offending config field
 *  as a path ("operators[1].config.size_seconds"), `message` says why. */
typedef struct as_pipeline_error {
  as_err code;
  char field[96];
  char message[256];
} as_pipeline_error;

typedef struct as_pipelines_config {
  uint32_t max_pipelines; /* default AS_PIPELINE_DEFAULT_MAX, at most
                             AS_PIPELINE_HARD_MAX */
  as_log_fn log_fn;       /* NULL = stderr */
  void *log_ctx;
  as_log_level log_level; /* default AS_LOG_INFO */
} as_pipelines_config;

void as_pipelines_config_init(as_pipelines_config *c);

/** Creates the pipeline service of `db` (borrowed; it must outlive the
 *  service), replays the definitions persisted in db's meta store and
 *  starts the worker.  On success *out is freed by the caller with
 *  as_pipelines_free().  AS_ECORRUPT (message in err) for a record that
 *  cannot be read, AS_ELIMIT when no commit listener slot is free,
 *  AS_EINVAL for a bad config, AS_ENOMEM. */
as_err as_pipelines_open(as_db *db, const as_pipelines_config *cfg, as_pipelines **out,
                         as_pipeline_error *err);

/** Stops the worker, removes the commit listener and frees everything.
 *  Accepts NULL. */
void as_pipelines_free(as_pipelines *s);

/* --- Changes ------------------------------------------------------------- */

typedef struct as_pipeline_registered {
  uint8_t id[16];
  bool enabled;
  bool replaced;           /* an existing pipeline with this id was replaced */
  uint64_t start_position; /* the first position the pipeline processes */
  char name[257];          /* NUL-terminated copy of the name */
} as_pipeline_registered;

/** Registers (or replaces, with fresh state) the pipeline described by the
 *  JSON text config[0..len).  AS_EJSON / AS_EINVAL / AS_ELIMIT with `err`
 *  naming the field for a bad config, AS_ELIMIT when the service holds
 *  max_pipelines already, or the meta store's error when the change cannot
 *  be made durable (then nothing changed). */
as_err as_pipelines_register(as_pipelines *s, const char *config, size_t len,
                             as_pipeline_registered *out, as_pipeline_error *err);

/** Deletes a pipeline.  AS_ENOTFOUND if unknown. */
as_err as_pipelines_delete(as_pipelines *s, const uint8_t id[16], as_pipeline_error *err);

/** Clears a pipeline's state and counters; it then processes the events
 *  committed after the call (*start_position, may be NULL, receives the
 *  first).  AS_ENOTFOUND if unknown. */
as_err as_pipelines_reset(as_pipelines *s, const uint8_t id[16], uint64_t *start_position,
                          as_pipeline_error *err);

/* --- Reads ----------------------------------------------------------------- */

typedef struct as_pipeline_stats {
  uint8_t id[16];
  char name[257];
  bool enabled;
  uint64_t events_processed; /* finished the chain (filtered ones included) */
  uint64_t events_filtered;  /* dropped by a filter */
  uint64_t events_failed;    /* an operator failed (not counted as processed) */
  int64_t last_processed_us; /* timestamp of the last processed event;
                                AS_TIME_MIN = none */
  uint64_t start_position;   /* first position of the current state */
  uint64_t position;         /* last position the pipeline has looked at */
  uint64_t committed;        /* the store's committed position when read */
  uint64_t last_error_position; /* 0 = no failure since the start */
  char last_error[256];      /* "operators[2] (reduce): ..." */
} as_pipeline_stats;

/** The stats of one pipeline, after waiting for it to catch up.
 *  AS_ENOTFOUND if unknown. */
as_err as_pipelines_stats(as_pipelines *s, const uint8_t id[16], as_pipeline_stats *out);

/** Called once per pipeline, in id order, with borrowed data (under the
 *  service's lock: do not call the service back). */
typedef void (*as_pipeline_stats_cb)(void *arg, const as_pipeline_stats *st);
typedef void (*as_pipeline_config_cb)(void *arg, const char *json, size_t len);

/** Every pipeline's stats (each caught up first); *count (may be NULL)
 *  receives their number. */
void as_pipelines_stats_all(as_pipelines *s, as_pipeline_stats_cb cb, void *arg,
                            size_t *count);

/** Every pipeline's config JSON, in id order. */
void as_pipelines_list(as_pipelines *s, as_pipeline_config_cb cb, void *arg, size_t *count);

/** Appends pipeline `id`'s config JSON to `b`.  AS_ENOTFOUND if unknown. */
as_err as_pipelines_config_json(as_pipelines *s, const uint8_t id[16], as_buf *b);

/** Appends pipeline `id`'s results (per-operator state, last outputs) as
 *  JSON to `b`, after waiting for it to catch up.  AS_ENOTFOUND if
 *  unknown. */
as_err as_pipelines_results_json(as_pipelines *s, const uint8_t id[16], as_buf *b);

/** Number of pipelines. */
size_t as_pipelines_count(as_pipelines *s);

/* --- Config checks without a store ------------------------------------------ */

/** Parses and checks a config exactly as as_pipelines_register() does,
 *  without registering it; with `canonical` non-NULL appends the config as
 *  the service would store and return it.  Used by the fuzz target. */
as_err as_pipeline_config_check(const char *config, size_t len, as_buf *canonical,
                                as_pipeline_error *err);

#endif /* AS_PIPELINE_H */
