/*
 * as_json.h — strict JSON (RFC 8259) validation and zero-copy navigation.
 *
 * AllSource keeps payloads as the exact bytes received, so it never builds a
 * tree to accept an event.  as_json_validate() checks one document in a
 * single pass without allocating: grammar, UTF-8 (no overlong forms, no
 * surrogates, <= U+10FFFF), escape sequences (no lone surrogate \u escapes),
 * a nesting limit, and no trailing garbage.  The navigation functions then
 * walk an already-validated document by byte spans ("values"), which point
 * into the caller's buffer and are borrowed from it.
 */
#ifndef AS_JSON_H
#define AS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_buf.h"

#define AS_JSON_MAX_DEPTH_CAP 1024u /* hard cap on any max_depth argument */

typedef enum as_json_kind {
  AS_JSON_INVALID = 0,
  AS_JSON_NULL,
  AS_JSON_FALSE,
  AS_JSON_TRUE,
  AS_JSON_NUMBER,
  AS_JSON_STRING,
  AS_JSON_ARRAY,
  AS_JSON_OBJECT
} as_json_kind;

/** Name of a kind: "null", "boolean", "number", "string", "array",
 *  "object" ("invalid" for AS_JSON_INVALID). */
const char *as_json_kind_name(as_json_kind k);

typedef struct as_json_error {
  size_t offset;   /* byte offset of the first offending byte */
  const char *msg; /* static text, e.g. "invalid UTF-8" */
} as_json_error;

/** Validates that s[0..len) is exactly one JSON value with optional
 *  surrounding whitespace, nested at most `max_depth` levels (arrays and
 *  objects; capped at AS_JSON_MAX_DEPTH_CAP).  On success stores the kind of
 *  the top-level value (if `kind` is not NULL).  Returns AS_EJSON with `e`
 *  filled on failure. */
as_err as_json_validate(const char *s, size_t len, uint32_t max_depth,
                        as_json_kind *kind, as_json_error *e);
/** as_json_validate that also stores, on success, the deepest nesting the
 *  document reached (0 for a scalar, 1 for a flat array or object). */
as_err as_json_validate_depth(const char *s, size_t len, uint32_t max_depth,
                              as_json_kind *kind, uint32_t *deepest,
                              as_json_error *e);

/* --- Navigation of validated documents -------------------------------- */

/** A value span inside a validated document. */
typedef struct as_json_val {
  const char *p; /* first byte of the value ('{', '"', 't', '-', ...) */
  size_t len;    /* bytes of the value, without surrounding whitespace */
  as_json_kind kind;
} as_json_val;

/** Finds the top-level value of a validated document (trims whitespace). */
static inline as_json_val as_json_root(const char *s, size_t len);

/** Iterator over the members of an object or the elements of an array. */
typedef struct as_json_iter {
  const char *s;
  size_t pos, end;
  bool first;
} as_json_iter;

/** Starts iterating the object or array `v` (must be a container). */
void as_json_iter_init(as_json_iter *it, as_json_val v);

/** Next object member: the key's raw string value (with quotes) in *key and
 *  the member value in *val.  Returns false at the end. */
bool as_json_obj_next(as_json_iter *it, as_json_val *key, as_json_val *val);

/** Next array element.  Returns false at the end. */
bool as_json_arr_next(as_json_iter *it, as_json_val *val);

/** Next array element without scanning to its end when it is an object or
 *  array: then val->len runs to the end of the enclosing array (an upper
 *  bound), iterating it with as_json_iter_init stops at its own closing
 *  bracket, and the caller must move past it with as_json_iter_past(it,
 *  val, exact_len) (exact_len: as_json_iter_used of that iterator) or
 *  as_json_iter_skip(it, val) before the next call.  Scalars come with
 *  their exact length, already passed.  One scan of each element instead
 *  of two when the caller walks every element anyway. */
bool as_json_arr_next_open(as_json_iter *it, as_json_val *val);
/** Moves past the element `val` of `it` whose exact length is `len`. */
void as_json_iter_past(as_json_iter *it, const as_json_val *val, size_t len);
/** Moves past the element `val` of `it`, scanning for its end. */
void as_json_iter_skip(as_json_iter *it, const as_json_val *val);
/** After iterating a container to its end (obj_next / arr_next returned
 *  false): its exact length, brackets included. */
static inline size_t as_json_iter_used(const as_json_iter *it) { return it->pos + 1; }

/** Looks up the first member named `name` (compared after decoding escapes)
 *  in object `obj`.  Returns false if absent. */
bool as_json_obj_get(as_json_val obj, const char *name, as_json_val *val);

/** Decodes a string value (quotes included in `v`) into `out`, which must
 *  hold at least v.len bytes; stores the decoded length.  Decoded text is
 *  valid UTF-8 and may contain NUL bytes (from \u0000). */
void as_json_str_decode(as_json_val v, char *out, size_t *out_len);

/** True if string value `v` decodes to exactly name[0..name_len). */
bool as_json_str_eq(as_json_val v, const char *name, size_t name_len);

/** Parses an integer number value: no fraction or exponent, within range.
 *  Returns AS_EINVAL otherwise. */
as_err as_json_to_u64(as_json_val v, uint64_t *out);
as_err as_json_to_i64(as_json_val v, int64_t *out);
/** Parses any number value as a double (strtod on the span). */
as_err as_json_to_double(as_json_val v, double *out);

/* --- Writing ------------------------------------------------------------ */

/** Appends `s[0..len)` (valid UTF-8) as a JSON string literal with quotes,
 *  escaping '"', '\\' and control characters. */
as_err as_json_put_str(as_buf *b, const char *s, size_t len);

/** Appends a timestamp as a quoted RFC 3339 string,
 *  "YYYY-MM-DDTHH:MM:SS.ffffffZ" (as_time_format()). */
as_err as_json_put_time(as_buf *b, int64_t t_us);

/** Appends a UUID as a quoted lowercase string. */
as_err as_json_put_uuid(as_buf *b, const uint8_t id[16]);

/** Appends validated JSON text on one line: CR and LF (which a valid
 *  document can only hold as insignificant whitespace, never inside a
 *  string) become spaces, so the value means the same. */
as_err as_json_put_one_line(as_buf *b, const char *s, size_t len);

/** Checks that s[0..len) is valid UTF-8.  Returns the offset of the first
 *  invalid byte, or len when valid. */
size_t as_utf8_check(const char *s, size_t len);

/* --- Inline definitions ----------------------------------------------
 * as_json_root is inline: returned out of line, its struct came back through
 * a stack temporary written by narrow stores and read by a wide load (a
 * store-forwarding stall, ~15 % of state reconstruction). */

static inline bool as_json__is_ws(unsigned char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline as_json_kind as_json__kind_of(unsigned char c) {
  switch (c) {
    case '{': return AS_JSON_OBJECT;
    case '[': return AS_JSON_ARRAY;
    case '"': return AS_JSON_STRING;
    case 't': return AS_JSON_TRUE;
    case 'f': return AS_JSON_FALSE;
    case 'n': return AS_JSON_NULL;
    default: return AS_JSON_NUMBER;
  }
}

static inline as_json_val as_json_root(const char *s, size_t len) {
  /* A validated document is one value between optional whitespace, so the
   * value is the trimmed span: no need to scan it. */
  as_json_val v = {s, 0, AS_JSON_INVALID};
  size_t i = 0, end = len;
  while (i < end && as_json__is_ws((unsigned char)s[i])) i++;
  while (end > i && as_json__is_ws((unsigned char)s[end - 1])) end--;
  if (i >= end) return v;
  v.p = s + i;
  v.len = end - i;
  v.kind = as_json__kind_of((unsigned char)s[i]);
  return v;
}

#endif /* AS_JSON_H */
