/*
 * as_schema_compat.h — compatibility between versions of a JSON Schema,
 * with the meaning of Confluent's schema registry for JSON Schema.
 *
 * BACKWARD(new, old): every instance valid under the OLD schema is valid
 * under the NEW one (a consumer using the new schema reads old data).
 * FORWARD(new, old) is BACKWARD(old, new); FULL is both.  The *_TRANSITIVE
 * modes check the new schema against every previous version, the others
 * against the latest only; NONE accepts everything.
 *
 * The check is a structural "is every instance of W accepted by R" proof
 * (W = writer schema, R = reader schema), walking type, numeric/string/
 * array/object bounds, enum/const, required, properties (with open and
 * closed content models), patternProperties, additionalProperties,
 * items/prefixItems/additionalItems, contains, dependencies, allOf/anyOf/
 * oneOf, local "$ref"s (JSON pointers into each document, cycles allowed)
 * and nested schemas recursively.  Whatever it cannot prove (a changed
 * "not", "if", differing "$ref" targets it cannot resolve, changed unknown
 * keywords, changed patterns) is reported as incompatible.  The rules, with
 * examples, are in docs/jsonschema.md.
 */
#ifndef AS_SCHEMA_COMPAT_H
#define AS_SCHEMA_COMPAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "allsource.h"

typedef enum as_compat_mode {
  AS_COMPAT_NONE = 0,
  AS_COMPAT_BACKWARD,
  AS_COMPAT_FORWARD,
  AS_COMPAT_FULL,
  AS_COMPAT_BACKWARD_TRANSITIVE,
  AS_COMPAT_FORWARD_TRANSITIVE,
  AS_COMPAT_FULL_TRANSITIVE
} as_compat_mode;

/** Parses "NONE", "BACKWARD", ..., "FULL_TRANSITIVE" (upper case).
 *  Returns AS_EINVAL for anything else. */
as_err as_compat_mode_parse(const char *name, as_compat_mode *out);
/** The name of a mode ("BACKWARD_TRANSITIVE"); "?" if out of range. */
const char *as_compat_mode_name(as_compat_mode m);

typedef enum as_compat_direction {
  AS_COMPAT_DIR_BACKWARD = 0, /* old data read with the new schema */
  AS_COMPAT_DIR_FORWARD = 1   /* new data read with the old schema */
} as_compat_direction;

#define AS_COMPAT_MAX_ISSUES 100u
#define AS_COMPAT_MAX_DEPTH 64u /* nested comparisons before giving up */

/** One reason the schemas are incompatible.  Strings owned by the report. */
typedef struct as_compat_issue {
  const char *path;    /* JSON pointer into the schemas ("/properties/age") */
  const char *message; /* "type narrowed from number to integer" */
  as_compat_direction direction;
  size_t version;      /* index in `previous` of the version compared */
} as_compat_issue;

typedef struct as_compat_report {
  bool compatible;
  bool truncated; /* more than AS_COMPAT_MAX_ISSUES issues */
  size_t n_issues;
  as_compat_issue *issues; /* owned; as_compat_report_free() */
  size_t _cap;
} as_compat_report;

/** Checks `new_schema` against the previous versions `previous[0..n)`
 *  (oldest first; the non-transitive modes use only previous[n-1]) under
 *  `mode`.  All inputs are borrowed.  Fills `out` (free it with
 *  as_compat_report_free(), also on failure).  With n_previous == 0 the
 *  schema is compatible.  Returns AS_OK (out->compatible tells the verdict),
 *  AS_EINVAL for a bad mode or argument, or AS_ENOMEM. */
as_err as_schema_compat_check(as_compat_mode mode, const json_t *new_schema,
                              const json_t *const *previous, size_t n_previous,
                              as_compat_report *out);

/** Releases a report's issues; accepts a zeroed report. */
void as_compat_report_free(as_compat_report *r);

#endif /* AS_SCHEMA_COMPAT_H */
