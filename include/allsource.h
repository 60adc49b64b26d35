/*
 * allsource.h — the embeddable AllSource event store engine (liballsource).
 *
 * An AllSource store keeps immutable events durably and in order.  Each event
 * has a global, gap-free `position` (from 1), a per-entity `version` (from 1),
 * a 16-byte `id` (UUID), a server `timestamp` in microseconds (non-decreasing
 * in position order), an `entity_id`, an `event_type`, a `tenant_id`, a JSON
 * `payload` kept as the exact bytes received, and optional JSON `metadata`.
 *
 * Threads: every function may be called from any thread at any time, except
 * that as_db_close() must not race with other calls on the same handle.
 * Appends from many threads are grouped by a single writer (group commit);
 * readers never block the writer or each other and see every event up to the
 * committed position at the moment they start.
 *
 * Errors: every function that can fail returns an as_err (0 = AS_OK, negative
 * = failure) and writes results through out-parameters.  Functions that take
 * an `as_error *` fill it with details when they fail (it may be NULL).
 *
 * Ownership: strings and event views returned by the engine are borrowed and
 * stay valid until as_db_close() unless a function says otherwise; buffers
 * the caller must free are documented "caller frees with as_free()".
 */
#ifndef ALLSOURCE_H
#define ALLSOURCE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(AS_BUILDING_LIB)
#define AS_API __attribute__((visibility("default")))
#else
#define AS_API
#endif

#define AS_VERSION_MAJOR 0
#define AS_VERSION_MINOR 1
#define AS_VERSION_PATCH 0
#define AS_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* One list feeds the enum, as_strerror() and as_errname().  Common failures
 * are negated errno values; our own codes start at -1000. */
#define AS_ERR_MAP(X)                                                        \
  X(AS_OK, 0, "success")                                                     \
  X(AS_DONE, 1, "no more items")                                             \
  X(AS_ENOMEM, -ENOMEM, "out of memory")                                     \
  X(AS_EINVAL, -EINVAL, "invalid argument")                                  \
  X(AS_EIO, -EIO, "I/O error")                                               \
  X(AS_ENOSPC, -ENOSPC, "no space left on device")                           \
  X(AS_ENOENT, -ENOENT, "no such file or directory")                         \
  X(AS_EEXIST, -EEXIST, "already exists")                                    \
  X(AS_EBUSY, -EBUSY, "data directory is in use by another process")         \
  X(AS_EAGAIN, -EAGAIN, "resource temporarily unavailable")                  \
  X(AS_ECORRUPT, -1000, "data corruption detected")                          \
  X(AS_ECONFLICT, -1001, "expected version does not match")                  \
  X(AS_EIDCONFLICT, -1002, "event id already used with different content")   \
  X(AS_ENOTFOUND, -1003, "not found")                                        \
  X(AS_EREADONLY, -1004, "store is read-only after a storage failure")       \
  X(AS_ECLOSED, -1005, "store is closed")                                    \
  X(AS_ELIMIT, -1006, "limit exceeded")                                      \
  X(AS_EJSON, -1007, "invalid JSON")                                         \
  X(AS_EFORMAT, -1008, "unsupported file format or version")                 \
  X(AS_EUNSUPPORTED, -1009, "unsupported feature")

typedef enum as_err {
#define AS__ERR_ENUM(name, value, text) name = (value),
  AS_ERR_MAP(AS__ERR_ENUM)
#undef AS__ERR_ENUM
} as_err;

/** Human-readable text of an error code ("out of memory"). Never NULL. */
AS_API const char *as_strerror(as_err err);
/** Symbolic name of an error code ("AS_ENOMEM"). Never NULL. */
AS_API const char *as_errname(as_err err);

/** Details of a failed call.  `index` names the offending event of a batch,
 *  `field` the offending input field ("payload", "entity_id", ...). */
typedef struct as_error {
  as_err code;
  uint32_t index;            /* event index within the batch */
  uint64_t expected_version; /* AS_ECONFLICT: what the caller expected */
  uint64_t actual_version;   /* AS_ECONFLICT: the entity's version now */
  uint64_t offset;           /* AS_EJSON: byte offset of the problem */
  char field[32];
  char message[256];
} as_error;

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/** Frees memory the engine handed to the caller.  Accepts NULL. */
AS_API void as_free(void *p);

/* ------------------------------------------------------------------------ */
/* Limits (documented in docs/api.md; all enforced with AS_ELIMIT/AS_EINVAL) */
/* ------------------------------------------------------------------------ */

#define AS_MAX_ENTITY_ID_LEN 256u      /* bytes of UTF-8 */
#define AS_MAX_EVENT_TYPE_LEN 128u     /* bytes */
#define AS_MAX_TENANT_ID_LEN 64u       /* bytes, [A-Za-z0-9_-] */
#define AS_DEFAULT_MAX_PAYLOAD (2u << 20)  /* 2 MiB */
#define AS_DEFAULT_MAX_METADATA (64u << 10) /* 64 KiB */
#define AS_DEFAULT_MAX_DEPTH 64u       /* JSON nesting levels */
#define AS_DEFAULT_MAX_BATCH_EVENTS 10000u
#define AS_DEFAULT_MAX_BATCH_BYTES (64u << 20)
#define AS_HARD_MAX_PAYLOAD (16u << 20)

/* ------------------------------------------------------------------------ */
/* Opening a store                                                          */
/* ------------------------------------------------------------------------ */

typedef enum as_durability {
  AS_DURABILITY_SYNC = 0,     /* acknowledge after fdatasync (group commit) */
  AS_DURABILITY_INTERVAL = 1, /* acknowledge after write; fdatasync every N ms */
  AS_DURABILITY_NONE = 2      /* memory only, no files at all */
} as_durability;

/** Name of a durability mode: "sync", "interval", "none". */
AS_API const char *as_durability_name(as_durability d);

typedef enum as_log_level {
  AS_LOG_ERROR = 0,
  AS_LOG_WARN = 1,
  AS_LOG_INFO = 2,
  AS_LOG_DEBUG = 3
} as_log_level;

/** Log sink.  `msg` is one line without a trailing newline, borrowed for the
 *  duration of the call.  May be called from any engine thread. */
typedef void (*as_log_fn)(void *ctx, as_log_level level, const char *msg);

struct as_io; /* the file I/O operations table, see src/io/as_io.h */

/* Compaction of sealed Parquet files (seed-api-contract §5.5). */
typedef enum as_compaction_strategy {
  AS_COMPACT_SIZE_BASED = 0, /* merge runs of files below small_file_threshold */
  AS_COMPACT_TIME_BASED = 1, /* merge runs of files older than 24 hours */
  AS_COMPACT_FULL = 2        /* merge everything into target-sized files */
} as_compaction_strategy;

/** "sizebased", "timebased", "fullcompaction" (the seed's names). */
AS_API const char *as_compaction_strategy_name(as_compaction_strategy s);

typedef struct as_compaction_config {
  uint32_t min_files_to_compact;        /* default 3 */
  uint64_t target_file_size;            /* default 128 MiB */
  uint64_t max_file_size;               /* default 256 MiB */
  uint64_t small_file_threshold;        /* default 10 MiB */
  uint32_t compaction_interval_seconds; /* default 3600 */
  bool auto_compact;                    /* default true */
  as_compaction_strategy strategy;      /* default size-based */
} as_compaction_config;

typedef struct as_options {
  as_durability durability;  /* default AS_DURABILITY_SYNC */
  uint32_t sync_interval_ms; /* AS_DURABILITY_INTERVAL period, default 10 */
  uint64_t segment_bytes;    /* WAL segment rotation size, default 64 MiB */
  uint64_t segment_events;   /* ... or after this many events (0 = no limit,
                                the default) */
  bool seal;                 /* turn closed WAL segments into Parquet files
                                (default true; needs durability != none) */
  bool read_only;            /* open for reading only: recovery changes
                                nothing on disk (torn tails and leftover
                                files are reported, not removed), appends
                                fail with AS_EREADONLY, nothing is sealed */
  as_compaction_config compaction;
  uint32_t max_payload_bytes;  /* default AS_DEFAULT_MAX_PAYLOAD */
  uint32_t max_metadata_bytes; /* default AS_DEFAULT_MAX_METADATA */
  uint32_t max_json_depth;     /* default AS_DEFAULT_MAX_DEPTH */
  uint32_t max_batch_events;   /* default AS_DEFAULT_MAX_BATCH_EVENTS */
  uint64_t max_batch_bytes;    /* default AS_DEFAULT_MAX_BATCH_BYTES */
  uint32_t max_queue_requests; /* pending append requests before AS_EAGAIN,
                                  default 65536 */
  uint32_t snapshot_every_events;  /* automatic snapshot after this many
                                      events of an entity (default 100,
                                      0 = off) */
  uint32_t snapshot_every_seconds; /* ... or when this much event time has
                                      passed since the last one (default
                                      3600, 0 = off) */
  uint32_t snapshot_max_per_entity; /* newest snapshots kept (default 10) */
  const struct as_io *io;    /* NULL = the POSIX file system */
  as_log_fn log_fn;          /* NULL = stderr */
  void *log_ctx;
  as_log_level log_level;    /* default AS_LOG_INFO */
} as_options;

/** Fills `opt` with the defaults listed above. */
AS_API void as_options_init(as_options *opt);

typedef struct as_db as_db;

/** Opens (creating if needed) the store in directory `dir` and recovers it
 *  from its write-ahead log.  `dir` may be NULL only with AS_DURABILITY_NONE.
 *  `opt` may be NULL for defaults; it is copied.  On success *out is a handle
 *  the caller closes with as_db_close().
 *  Returns AS_ECORRUPT (with a message naming the file and offset in `err`)
 *  when a record other than a torn tail fails its checksum, AS_EBUSY when
 *  another process has the directory open, AS_EFORMAT for unknown files. */
AS_API as_err as_db_open(const char *dir, const as_options *opt, as_db **out,
                         as_error *err);

/** Stops accepting appends, waits for queued appends, syncs, stops the
 *  engine's threads and frees everything.  Accepts NULL. */
AS_API void as_db_close(as_db *db);

/** Forces an fdatasync of the log now (useful in interval mode). */
AS_API as_err as_db_sync(as_db *db);

/** Summary of what recovery found when the store was opened. */
typedef struct as_recovery_info {
  uint64_t events;          /* events recovered */
  uint64_t parquet_files;   /* sealed files read */
  uint64_t segments;        /* WAL segments read */
  uint64_t bytes;           /* WAL bytes read */
  uint64_t truncated_bytes; /* torn tail bytes cut off (0 when clean; in
                               read-only mode: bytes that would be) */
  uint64_t unlisted_files;  /* files the manifest does not list (removed,
                               or only counted in read-only mode) */
  uint64_t duration_us;
} as_recovery_info;

AS_API void as_db_recovery_info(as_db *db, as_recovery_info *out);
/** The options the store runs with (defaults filled in). */
AS_API void as_db_options(as_db *db, as_options *out);

/* fdatasync latency histogram bounds (microseconds) of as_stats.sync_hist. */
#define AS_SYNC_HIST_N 12
#define AS_SYNC_HIST_BOUNDS_US \
  {50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 250000, 1000000}

typedef struct as_stats {
  uint64_t total_events;      /* committed events */
  uint64_t total_entities;    /* entities with at least one committed event */
  uint64_t total_event_types; /* distinct committed event types */
  uint64_t committed_position;
  uint64_t storage_bytes;     /* bytes in WAL segments on disk */
  uint64_t wal_segments;
  uint64_t memory_bytes;      /* bytes allocated by the engine */
  uint64_t appends_total;     /* append requests committed since open */
  uint64_t syncs_total;       /* fdatasync calls since open */
  /* fdatasync durations since open: sync_hist[i] counts calls that took at
   * most AS_SYNC_HIST_BOUNDS_US[i] (and more than the bound before it);
   * sync_hist[AS_SYNC_HIST_N] the longer ones.  sync_us_total: their sum. */
  uint64_t sync_hist[AS_SYNC_HIST_N + 1];
  uint64_t sync_us_total;
  uint64_t recovered_events;
  uint64_t parquet_files;     /* sealed Parquet files */
  uint64_t parquet_bytes;
  uint64_t sealed_position;   /* positions 1..this live in Parquet files */
  as_durability durability;
} as_stats;

AS_API void as_db_stats(as_db *db, as_stats *out);

/* ------------------------------------------------------------------------ */
/* Appending                                                                */
/* ------------------------------------------------------------------------ */

/* expected_version values (anything else: the exact version n >= 1). */
#define AS_EXPECT_ANY UINT64_MAX           /* no check (default) */
#define AS_EXPECT_EXISTS (UINT64_MAX - 1)  /* entity has >= 1 event */
#define AS_EXPECT_NO_STREAM 0              /* entity has no event yet */

/** One event to append.  All pointers are borrowed for the duration of the
 *  call only; the engine copies what it keeps.  Strings need not be
 *  NUL-terminated. */
typedef struct as_event_in {
  const char *entity_id;  size_t entity_id_len;
  const char *event_type; size_t event_type_len;
  const char *tenant_id;  size_t tenant_id_len;  /* NULL = "default" */
  const char *payload;    size_t payload_len;    /* any JSON value */
  const char *metadata;   size_t metadata_len;   /* JSON object; NULL = none */
  const uint8_t *id;      /* 16 bytes, or NULL for a server-generated id */
  uint64_t expected_version; /* entity version before this event; see above */
  uint32_t flags;         /* AS_EVENT_* below; 0 by default */
} as_event_in;

/** as_event_in.flags: the caller has already validated `payload` and
 *  `metadata` (when present) as strict JSON — RFC 8259, UTF-8, nothing
 *  after the value — nested at most the store's max_json_depth, so the
 *  engine does not validate them again (the HTTP server sets it for bodies
 *  it validated, saving a second pass over every payload).  Sizes, ids and
 *  the metadata's kind (object or null) are still checked.  A caller that
 *  sets it for unchecked bytes can store invalid JSON. */
#define AS_EVENT_JSON_CHECKED 1u

/** Clears `ev` (expected_version = AS_EXPECT_ANY, everything else empty). */
AS_API void as_event_in_init(as_event_in *ev);

typedef struct as_append_result {
  uint64_t position;
  uint64_t version;
  int64_t timestamp_us;
  uint8_t id[16];
  bool duplicate; /* an idempotent retry: the original event is returned */
} as_append_result;

/** Appends `n` events (1 <= n <= max_batch_events) atomically: either all
 *  are committed, in the given order with consecutive positions, or none.
 *  Blocks until the events are durable per the store's durability mode.
 *  `res` (may be NULL) receives one result per event.
 *
 *  Idempotency: an event whose `id` is already stored with the same entity,
 *  type, tenant, payload and metadata returns the original result with
 *  `duplicate` set; a batch whose ids all match such events is a no-op.  An
 *  id stored with different content, or a batch mixing new and existing ids,
 *  fails with AS_EIDCONFLICT.
 *  Returns AS_EINVAL/AS_ELIMIT/AS_EJSON for bad input, AS_ECONFLICT when an
 *  expected_version does not hold (err->actual_version says what it is),
 *  AS_EAGAIN when the queue is full, AS_EREADONLY after a storage failure. */
AS_API as_err as_append(as_db *db, const as_event_in *events, size_t n,
                        as_append_result *res, as_error *err);

/** Completion callback of as_append_async().  Called exactly once, from an
 *  engine thread, after the batch is durable (or failed).  `res` and `err`
 *  are borrowed for the duration of the call.  It must not block for long
 *  and must not call as_db_close(). */
typedef void (*as_append_cb)(void *arg, as_err rc, const as_append_result *res,
                             size_t n, const as_error *err);

/** Like as_append() but returns as soon as the batch is validated and queued.
 *  If it returns an error, the callback is never called.  Inputs are copied
 *  before it returns. */
AS_API as_err as_append_async(as_db *db, const as_event_in *events, size_t n,
                              as_append_cb cb, void *arg, as_error *err);

/** An ingest validator: called for every event of every append, on the
 *  appending thread, after the engine's own checks and before the batch is
 *  queued.  Returning an error (with `err` filled, e.g. AS_EINVAL) rejects
 *  the whole batch; nothing is written.  Must be thread-safe. */
typedef as_err (*as_validate_fn)(void *ctx, const as_event_in *ev,
                                 uint32_t index, as_error *err);

/** Installs (or with fn NULL removes) the ingest validator.  Call it before
 *  appends start; `ctx` is borrowed and must outlive the store. */
AS_API void as_db_set_validator(as_db *db, as_validate_fn fn, void *ctx);

/** The store's meta store: an internal store (data/meta) for registries
 *  kept as events and replayed at open (snapshots, schemas).  NULL in
 *  memory-only mode.  Borrowed; closed with the store. */
AS_API as_db *as_db_meta(as_db *db);

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

/** A borrowed view of a stored event.  Strings are NUL-terminated; lengths
 *  exclude the NUL.  Valid until as_db_close(). */
typedef struct as_event {
  uint64_t position;
  uint64_t version;
  int64_t timestamp_us;
  uint8_t id[16];
  const char *tenant_id;  uint32_t tenant_id_len;
  const char *entity_id;  uint32_t entity_id_len;
  const char *event_type; uint32_t event_type_len;
  const char *payload;    uint32_t payload_len;
  const char *metadata;   uint32_t metadata_len; /* NULL, 0 when absent */
} as_event;

#define AS_TIME_MIN INT64_MIN
#define AS_TIME_MAX INT64_MAX

typedef struct as_query {
  const char *entity_id;  size_t entity_id_len;  /* NULL = every entity */
  const char *event_type; size_t event_type_len; /* NULL = every type; a
                                 value ending in ".*" matches the prefix
                                 before the '*' (e.g. "order.*") */
  const char *tenant_id;  size_t tenant_id_len;  /* NULL = every tenant */
  int64_t since_us;       /* timestamp >= since (AS_TIME_MIN: no bound) */
  int64_t until_us;       /* timestamp <= until (AS_TIME_MAX: no bound) */
  uint64_t from_position; /* ascending: position >= it; descending:
                             position <= it; 0 = no bound */
  uint64_t to_position;   /* ascending: position <= it; 0 = no bound */
  uint64_t limit;         /* 0 = no limit */
  bool descending;        /* position order; default ascending */
} as_query;

/** Clears `q`: no filters, ascending, no limit. */
AS_API void as_query_init(as_query *q);

typedef struct as_iter as_iter;

/** Opens an iterator over the events matching `q` (copied), as of the
 *  committed position now.  No result is materialized: each as_iter_next()
 *  walks the index.  Caller closes with as_iter_close(). */
AS_API as_err as_query_open(as_db *db, const as_query *q, as_iter **out);

/** Stores the next event in *ev and returns AS_OK, or returns AS_DONE. */
AS_API as_err as_iter_next(as_iter *it, as_event *ev);

/** The committed position the iterator reads up to. */
AS_API uint64_t as_iter_snapshot_position(const as_iter *it);

/** Closes the iterator.  Accepts NULL. */
AS_API void as_iter_close(as_iter *it);

/** Called from the writer right after new events become visible, with the
 *  new committed position.  Must be quick and must not block or call back
 *  into the store's append functions (wake another thread instead). */
typedef void (*as_commit_fn)(void *arg, uint64_t committed);

/** Adds a commit listener (at most 8).  AS_ELIMIT when the slots are
 *  taken. */
AS_API as_err as_db_on_commit(as_db *db, as_commit_fn fn, void *arg);

/** Removes a listener added with as_db_on_commit(); when it returns, fn is
 *  not running and will not be called again. */
AS_API void as_db_off_commit(as_db *db, as_commit_fn fn, void *arg);

/** Counts the events matching `q` without visiting them when the indexes
 *  can answer (an entity or exact type with any position/time bounds: two
 *  binary searches); otherwise iterates.  `limit` caps the count. */
AS_API as_err as_query_count(as_db *db, const as_query *q, uint64_t *count);

/** Called once per name with its number of committed events.  Return
 *  non-zero to stop.  `name` is borrowed for the call. */
typedef int (*as_name_cb)(void *arg, const char *name, size_t len,
                          uint64_t count);

/** Every event type with committed events (in no particular order). */
AS_API as_err as_event_types(as_db *db, as_name_cb cb, void *arg);

/** Every entity with committed events (in no particular order). */
AS_API as_err as_entities(as_db *db, as_name_cb cb, void *arg);

/** The committed (visible, durable per mode) position; 0 when empty. */
AS_API uint64_t as_db_committed_position(as_db *db);

/** Looks up an event by position (AS_ENOTFOUND beyond the committed end). */
AS_API as_err as_get_by_position(as_db *db, uint64_t position, as_event *ev);

/** Looks up an event by id. */
AS_API as_err as_get_by_id(as_db *db, const uint8_t id[16], as_event *ev);

/** The entity's committed version (0 and AS_ENOTFOUND if it has none). */
AS_API as_err as_entity_version(as_db *db, const char *entity_id, size_t len,
                                uint64_t *version);

/** Position of the last committed event with timestamp <= t (0 if none). */
AS_API uint64_t as_position_at_time(as_db *db, int64_t t_us);

/* ------------------------------------------------------------------------ */
/* Entity state                                                             */
/* ------------------------------------------------------------------------ */

typedef struct as_state_info {
  uint64_t event_count;   /* events included (all of the entity's events up
                             to as_of, not only those after a snapshot) */
  uint64_t version;       /* version of the last included event */
  uint64_t last_position;
  int64_t last_updated_us; /* timestamp of the last included event */
} as_state_info;

/** Reconstructs the state of an entity: a shallow merge, in version order,
 *  of the top-level keys of every object payload with timestamp <= as_of_us
 *  (AS_TIME_MAX = now); non-object payloads are skipped; keys keep their
 *  first-seen order.  *json (caller frees with as_free()) receives the state
 *  object as JSON text of *json_len bytes.  AS_ENOTFOUND when the entity has
 *  no event up to as_of. */
AS_API as_err as_entity_state(as_db *db, const char *entity_id, size_t len,
                              int64_t as_of_us, char **json, size_t *json_len,
                              as_state_info *info);

/* ------------------------------------------------------------------------ */
/* Storage tier: sealing and compaction                                     */
/* ------------------------------------------------------------------------ */

/** Closes the current WAL segment and waits until every committed event is
 *  sealed into Parquet files.  AS_EUNSUPPORTED without durable storage. */
AS_API as_err as_db_seal(as_db *db);

typedef struct as_compaction_result {
  uint64_t files_compacted;
  uint64_t bytes_before;
  uint64_t bytes_after;
  uint64_t events_compacted;
  uint64_t duration_ms;
} as_compaction_result;

typedef struct as_compaction_stats {
  uint64_t total_compactions;
  uint64_t total_files_compacted;
  uint64_t total_bytes_before;
  uint64_t total_bytes_after;
  uint64_t total_events_compacted;
  uint64_t last_compaction_duration_ms;
  uint64_t space_saved_bytes;
} as_compaction_stats;

/** Runs one compaction with the configured strategy now (merging runs of
 *  adjacent files by position, atomically through the manifest).  When
 *  nothing qualifies every field of *out is zero.  AS_EUNSUPPORTED without
 *  durable storage. */
AS_API as_err as_compact(as_db *db, as_compaction_result *out);

AS_API void as_compaction_stats_get(as_db *db, as_compaction_stats *out,
                                    as_compaction_config *config);

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */
/* ------------------------------------------------------------------------ */

/* A snapshot is an entity's state (as_entity_state) at one of its events.
 * State reconstruction starts from the newest snapshot at or before the
 * requested time and merges only the events after it; the answer is the
 * same as without snapshots.  Snapshots are created on request or
 * automatically (see as_options) in the background. */

typedef enum as_snapshot_kind {
  AS_SNAPSHOT_MANUAL = 0,
  AS_SNAPSHOT_AUTOMATIC = 1,
  AS_SNAPSHOT_ONDEMAND = 2
} as_snapshot_kind;

/** "manual", "automatic", "ondemand". */
AS_API const char *as_snapshot_kind_name(as_snapshot_kind k);

typedef struct as_snapshot_info {
  uint8_t id[16];
  uint64_t event_count; /* = the entity version it covers */
  uint64_t position;    /* position of the last event included */
  int64_t as_of_us;     /* timestamp of the last event included */
  int64_t created_us;   /* wall clock at creation */
  uint64_t size_bytes;  /* bytes of the state's JSON text */
  as_snapshot_kind kind;
} as_snapshot_info;

/** Creates a snapshot of the entity's state over all its committed events.
 *  AS_ENOTFOUND if it has none.  `out` may be NULL. */
AS_API as_err as_snapshot_create(as_db *db, const char *entity_id, size_t len,
                                 as_snapshot_kind kind, as_snapshot_info *out);

/** The newest snapshot of an entity; *state_json (may be NULL) receives its
 *  state (caller frees with as_free()).  AS_ENOTFOUND if none. */
AS_API as_err as_snapshot_latest(as_db *db, const char *entity_id, size_t len,
                                 as_snapshot_info *out, char **state_json,
                                 size_t *state_len);

/** Called once per snapshot, newest first within an entity.  `entity_id`
 *  and `info` are borrowed for the call.  Return non-zero to stop. */
typedef int (*as_snapshot_cb)(void *arg, const char *entity_id, size_t len,
                              const as_snapshot_info *info);

/** Lists the snapshots of one entity (entity_id non-NULL) or of all. */
AS_API as_err as_snapshot_list(as_db *db, const char *entity_id, size_t len,
                               as_snapshot_cb cb, void *arg);

/* ------------------------------------------------------------------------ */
/* Projections                                                              */
/* ------------------------------------------------------------------------ */

/** A projection folds events into state, in position order.  The engine
 *  feeds committed events from a background thread and serializes apply(),
 *  get() and clear() calls of one projection with a lock; they never run
 *  concurrently with each other.  as_projection_get() waits until the
 *  projection has caught up with the position committed when it was called,
 *  so a reader sees its own appends. */
typedef struct as_projection_ops {
  const char *name; /* unique; copied at registration */
  void *ctx;        /* the projection's own state, passed to every call */
  /** Folds one event.  An error is counted and logged; processing goes on. */
  as_err (*apply)(void *ctx, const as_event *ev);
  /** Current state for `key` as JSON text in *json (caller of get() frees
   *  with as_free(); allocate it with as_malloc_public()).  AS_ENOTFOUND if
   *  the key is unknown. */
  as_err (*get)(void *ctx, const char *key, size_t key_len, char **json,
                size_t *json_len);
  /** Forgets all state (a rebuild starts from position 1 afterwards). */
  void (*clear)(void *ctx);
  /** Frees `ctx` when the store closes or the projection is removed. */
  void (*destroy)(void *ctx);
} as_projection_ops;

/** Allocates memory the engine may later release with as_free(). */
AS_API void *as_malloc_public(size_t n);

/** Registers a projection (ops copied, ctx owned by the store from now on:
 *  destroy() is called at close).  It receives every committed event from
 *  position 1, then new events as they commit.  AS_EEXIST if the name is
 *  taken; then ctx stays the caller's. */
AS_API as_err as_projection_register(as_db *db, const as_projection_ops *ops);

/** Reads projection `name`'s state for `key`.  *json: caller frees with
 *  as_free().  AS_ENOTFOUND for an unknown projection or key. */
AS_API as_err as_projection_get(as_db *db, const char *name, const char *key,
                                size_t key_len, char **json, size_t *json_len);

/** Clears a projection and replays every committed event into it.  Returns
 *  when the rebuild has caught up. */
AS_API as_err as_projection_rebuild(as_db *db, const char *name);

/** Creates a fresh, unregistered, empty instance of a built-in projection
 *  ("entity_snapshots" or "event_counters") in *out.  The new ctx belongs
 *  to the caller, who frees it with out->destroy(out->ctx) (or hands it to
 *  as_projection_register()).  Used to build a projection in isolation
 *  (replays).  AS_ENOTFOUND for any other name, AS_ENOMEM. */
AS_API as_err as_projection_builtin_new(const char *name, as_projection_ops *out);

typedef struct as_projection_stats {
  uint64_t events_processed;
  uint64_t errors;
  uint64_t position; /* last position applied */
} as_projection_stats;

AS_API as_err as_projection_stats_get(as_db *db, const char *name,
                                      as_projection_stats *out);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/** Formats a UUID as 36 lowercase hex characters plus NUL into out[37]. */
AS_API void as_uuid_format(const uint8_t id[16], char out[37]);
/** Parses a hyphenated (or 32-hex-digit) UUID.  AS_EINVAL if malformed. */
AS_API as_err as_uuid_parse(const char *s, size_t len, uint8_t id[16]);
/** Formats microseconds since the epoch as RFC 3339 UTC with 6 fractional
 *  digits and a 'Z' ("2025-10-20T16:05:49.123456Z") into out[32]. */
AS_API size_t as_time_format(int64_t t_us, char out[32]);
/** Parses an RFC 3339 date-time with offset (fraction optional, up to 9
 *  digits, truncated to microseconds).  AS_EINVAL if malformed. */
AS_API as_err as_time_parse(const char *s, size_t len, int64_t *t_us);
/** Current wall-clock time in microseconds since the epoch. */
AS_API int64_t as_time_now_us(void);

#ifdef __cplusplus
}
#endif
#endif /* ALLSOURCE_H */
