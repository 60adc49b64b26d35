/*
 * as_registry.h — the schema registry: subjects with numbered JSON Schema
 * versions, compatibility rules between versions (Confluent's meaning,
 * as_schema_compat.h), and payload validation at ingest (as_jsonschema.h).
 *
 * Subjects.  A subject is a name of 1..AS_REGISTRY_MAX_SUBJECT_LEN bytes of
 * [A-Za-z0-9._-] ("." and ".." and the reserved route words "config" and
 * "validate" excepted).  Its versions are numbered from 1; a number is never
 * reused, even after a delete.  Registering a schema equal (jansson
 * json_equal) to a live version of the subject returns that version.  A new
 * schema must compile and be compatible, under the subject's compatibility
 * mode, with the live previous version (or all live versions for the
 * *_TRANSITIVE modes).  Deletes are soft: a deleted version is hidden from
 * lists, lookups, compatibility checks and enforcement, but its number
 * stays taken.  A subject without live versions is hidden.
 *
 * Enforcement.  An event of type T is checked against the latest live
 * version of subject T + suffix (the suffix is configured, "" by default),
 * in the subject's enforcement mode, or the global one when the subject has
 * none: AS_ENFORCE_OFF (no check), AS_ENFORCE_WARN (accepted; counted and
 * logged) or AS_ENFORCE_ENFORCE (the batch is rejected).  Event types
 * without a subject are never checked.
 *
 * Persistence.  Every change is appended synchronously to the store's meta
 * store (as_db_meta) before it takes effect, and replayed at
 * as_registry_open(); without a meta store (memory-only mode) the registry
 * lives in memory only.
 *
 * Threads.  Every function may be called from any thread.  Changes are
 * serialized; lookups take a short lock; as_registry_check_event(), the
 * ingest hot path, takes no lock (it reads an immutable snapshot of the
 * latest compiled schemas under RCU).  Free the registry only when nothing
 * else uses it (after the server stopped and the store closed, or after the
 * validator was removed with as_db_set_validator(db, NULL, NULL)).
 */
#ifndef AS_REGISTRY_H
#define AS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "services/as_jsonschema.h"
#include "services/as_schema_compat.h"

/* Limits (docs/jsonschema.md, "Registry"). */
#define AS_REGISTRY_MAX_SUBJECT_LEN 200u
#define AS_REGISTRY_MAX_SCHEMA_BYTES (1u << 20) /* 1 MiB of JSON text */
/* JSON nesting of a schema document: one level below the meta store's
 * payload limit, since the record wraps the schema in an object. */
#define AS_REGISTRY_MAX_SCHEMA_DEPTH (AS_DEFAULT_MAX_DEPTH - 1u)
#define AS_REGISTRY_MAX_VERSIONS 1000u /* per subject, deleted ones included */
#define AS_REGISTRY_MAX_SUBJECTS 10000u
#define AS_REGISTRY_MAX_DESCRIPTION 4096u /* bytes of UTF-8 */
#define AS_REGISTRY_MAX_TAGS 64u
#define AS_REGISTRY_MAX_TAG_LEN 256u /* bytes of UTF-8 per tag */

typedef enum as_enforce_mode {
  AS_ENFORCE_OFF = 0,
  AS_ENFORCE_WARN = 1,
  AS_ENFORCE_ENFORCE = 2
} as_enforce_mode;

/** Parses "off", "warn" or "enforce".  AS_EINVAL for anything else. */
as_err as_enforce_mode_parse(const char *name, size_t len, as_enforce_mode *out);
/** "off", "warn", "enforce" ("?" if out of range). */
const char *as_enforce_mode_name(as_enforce_mode m);

typedef struct as_registry_config {
  const char *subject_suffix;   /* copied; NULL = "" */
  as_compat_mode compatibility; /* global default until one is set through
                                   the registry (default BACKWARD) */
  as_enforce_mode enforcement;  /* global default (default ENFORCE) */
  bool pin_enforcement;         /* true: `enforcement` replaces the
                                   persisted global setting at open (an
                                   operator's start-up flag wins) */
  as_log_fn log_fn;             /* NULL = stderr */
  void *log_ctx;
  as_log_level log_level;       /* default AS_LOG_INFO */
} as_registry_config;

/** Fills `c` with the defaults above. */
void as_registry_config_init(as_registry_config *c);

typedef struct as_registry as_registry;

/** Creates the registry of `db` (borrowed; it must outlive the registry)
 *  and replays its persisted changes from db's meta store.  `cfg` may be
 *  NULL for defaults; it is copied.  On success *out is freed by the caller
 *  with as_registry_free().  Returns AS_EINVAL for a bad suffix, AS_ECORRUPT
 *  (message in err) for a record it cannot read, AS_ENOMEM, or a read
 *  error of the meta store.  `err` may be NULL. */
as_err as_registry_open(as_db *db, const as_registry_config *cfg,
                        as_registry **out, as_error *err);

/** Frees the registry.  Accepts NULL. */
void as_registry_free(as_registry *r);

/** True if `name[0..len)` is a valid subject name. */
bool as_registry_subject_valid(const char *name, size_t len);

/* --- Ingest -------------------------------------------------------------- */

/** The ingest validator (an as_validate_fn; `registry` is the as_registry):
 *  install it with as_db_set_validator(db, as_registry_check_event, r).
 *  Returns AS_OK when the event's subject does not exist, is off, is in warn
 *  mode, or the payload is valid; otherwise AS_EINVAL with `err` (may be
 *  NULL) naming field "payload", the batch index, and in its message the
 *  subject, version and first validation error (instance and keyword JSON
 *  pointers).  AS_ENOMEM when out of memory. */
as_err as_registry_check_event(void *registry, const as_event_in *ev,
                               uint32_t index, as_error *err);

/** True if `err` is a rejection by as_registry_check_event(). */
bool as_registry_is_rejection(const as_error *err);

/** The subject events of type `type[0..len)` are checked against (type +
 *  suffix), copied with a NUL into out[0..cap).  Returns its length, or 0
 *  when it does not fit or is not a valid subject name. */
size_t as_registry_subject_of(const as_registry *r, const char *type,
                              size_t len, char *out, size_t cap);

/* --- Registration -------------------------------------------------------- */

typedef struct as_registry_result {
  uint32_t version;   /* the registered (or existing) version */
  uint8_t id[16];     /* its schema id */
  int64_t created_us;
  bool existing;      /* an equal live version was found: nothing added */
  as_compat_mode mode; /* the mode the schema was checked under */
  /* AS_ECONFLICT: the incompatibilities.  Unlike in as_schema_compat_check,
   * each issue's `version` is the subject version number compared with. */
  as_compat_report report;
} as_registry_result;

/** Releases a result's report; accepts a zeroed result. */
void as_registry_result_free(as_registry_result *res);

/** Registers `schema[0..schema_len)` (JSON text; kept byte for byte) under
 *  `subject`.  `description` (UTF-8, may be NULL) and `tags` (JSON text of
 *  an array of strings, may be NULL) are stored with it.  Fills `out` (free
 *  it with as_registry_result_free(), also on failure).
 *  Returns AS_OK (a new version, or out->existing), AS_EINVAL (bad subject,
 *  description or tags, or a schema that does not compile: err->message has
 *  the compiler's message; err->field names the input), AS_EJSON (schema is
 *  not JSON), AS_ELIMIT (a size, nesting, version or subject limit),
 *  AS_ECONFLICT (incompatible: out->report lists why), or the meta store's
 *  error when the change cannot be made durable (then nothing changed). */
as_err as_registry_register(as_registry *r, const char *subject, size_t len,
                            const char *schema, size_t schema_len,
                            const char *description, size_t description_len,
                            const char *tags, size_t tags_len,
                            as_registry_result *out, as_error *err);

/* --- Lookups ---------------------------------------------------------------- */

/** One version, borrowed for the duration of a callback. */
typedef struct as_schema_version {
  const char *subject;
  size_t subject_len;
  uint32_t version;
  uint8_t id[16];
  int64_t created_us;
  const char *schema; /* JSON text as registered */
  size_t schema_len;
  const char *description; /* NULL = none */
  size_t description_len;
  const char *tags; /* compact JSON array of strings; NULL = none */
  size_t tags_len;
} as_schema_version;

/** A subject's settings and counters. */
typedef struct as_subject_info {
  as_compat_mode compatibility; /* effective (own, or the global one) */
  as_enforce_mode enforcement;  /* effective */
  bool compatibility_set;       /* the subject has its own setting */
  bool enforcement_set;
  uint32_t latest;              /* latest live version (0: none) */
  uint32_t live_versions;
  uint64_t validated; /* events checked at ingest */
  uint64_t rejected;  /* ... refused (enforce) */
  uint64_t warned;    /* ... accepted although invalid (warn) */
} as_subject_info;

/** Called with a version and its subject's info, both borrowed for the
 *  call (made under the registry's lock: do not call the registry back). */
typedef void (*as_schema_version_cb)(void *arg, const as_schema_version *v,
                                     const as_subject_info *s);

/** Looks up `version` (0 = the latest live one) of `subject` and calls `cb`
 *  once.  AS_ENOTFOUND when the subject has no live version, or that
 *  version does not exist or was deleted (*subject_found tells which; may
 *  be NULL). */
as_err as_registry_get(as_registry *r, const char *subject, size_t len,
                       uint32_t version, as_schema_version_cb cb, void *arg,
                       bool *subject_found);

/** The live versions of `subject`, ascending, in *versions (caller frees
 *  with as_free()).  AS_ENOTFOUND when it has none. */
as_err as_registry_versions(as_registry *r, const char *subject, size_t len,
                            uint32_t **versions, size_t *n);

/** Called once per subject with live versions, in byte order of the names
 *  (under the registry's lock: do not call the registry back). */
typedef void (*as_subject_cb)(void *arg, const char *name, size_t len);

/** Lists the subjects; *count (may be NULL) receives their number.
 *  AS_ENOMEM when the sorted list cannot be built. */
as_err as_registry_subjects(as_registry *r, as_subject_cb cb, void *arg,
                            size_t *count);

/* --- Deletes (soft) ----------------------------------------------------- */

/** Deletes live version `version` (0 = the latest live one) and stores its
 *  number in *deleted (may be NULL).  AS_ENOTFOUND if there is none such. */
as_err as_registry_delete_version(as_registry *r, const char *subject,
                                  size_t len, uint32_t version,
                                  uint32_t *deleted, as_error *err);

/** Deletes every live version of `subject`; *versions (caller frees with
 *  as_free(); may be NULL) receives their numbers.  AS_ENOTFOUND if it has
 *  none. */
as_err as_registry_delete_subject(as_registry *r, const char *subject,
                                  size_t len, uint32_t **versions, size_t *n,
                                  as_error *err);

/* --- Settings ------------------------------------------------------------ */

/** Sets the compatibility mode of `subject` (it need not have versions
 *  yet), or the global one when subject is NULL.  AS_EINVAL for a bad
 *  subject name or mode, AS_ELIMIT beyond the subject limit. */
as_err as_registry_set_compatibility(as_registry *r, const char *subject,
                                     size_t len, as_compat_mode mode,
                                     as_error *err);

/** Sets the enforcement mode of `subject`, or the global one when subject
 *  is NULL; effective for appends that start after it returns. */
as_err as_registry_set_enforcement(as_registry *r, const char *subject,
                                   size_t len, as_enforce_mode mode,
                                   as_error *err);

typedef struct as_registry_settings {
  as_compat_mode compatibility; /* global */
  as_enforce_mode enforcement;  /* global */
  const char *subject_suffix;   /* borrowed; valid until the registry is freed */
  size_t subjects;              /* with live versions */
  uint64_t validated, rejected, warned; /* totals over every subject */
} as_registry_settings;

void as_registry_settings_get(as_registry *r, as_registry_settings *out);

/** The effective settings and counters of `subject` (defaults for an
 *  unknown one). */
void as_registry_subject_info(as_registry *r, const char *subject, size_t len,
                              as_subject_info *out);

/* --- Validation on request ------------------------------------------------- */

/** Validates JSON text `payload[0..len)` against `version` (0 = latest
 *  live) of `subject`, collecting every error into `res` (free it with
 *  as_jsonschema_result_free(), also on failure); *used receives the
 *  version used.  Counters are not touched.  Returns AS_OK (res->valid
 *  tells), AS_ENOTFOUND (*subject_found tells whether the subject exists;
 *  may be NULL), AS_EJSON for a payload that is not JSON, or AS_ENOMEM. */
as_err as_registry_validate(as_registry *r, const char *subject, size_t len,
                            uint32_t version, const char *payload,
                            size_t payload_len, uint32_t *used,
                            as_jsonschema_result *res, bool *subject_found,
                            as_error *err);

#endif /* AS_REGISTRY_H */
