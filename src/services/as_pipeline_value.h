/*
 * as_pipeline_value.h — the value a pipeline's operators work on, field
 * paths, and the comparisons and number formatting the operators need.
 *
 * A pipeline starts each event from its payload: JSON text kept exactly as
 * received (validated by the engine).  Reading a field walks the text by
 * byte spans (core/as_json.h) and allocates nothing, so a filter or a
 * reduce over an unmodified payload costs no copy.  Only when an operator
 * sets a field are the objects on that path "materialized" into member
 * lists; everything off the path stays a span of the original bytes, and
 * serializing writes those bytes back unchanged (key order, number text
 * and escapes survive).
 *
 * Every node and every string the value builds lives in an as_pv_arena,
 * which the caller resets after each event; spans returned by the
 * functions below are borrowed from the arena or from the original text
 * and valid until the next as_pv_arena_reset() (or until the text goes).
 *
 * Duplicate keys: lookups take the first member with the name (as
 * as_json_obj_get() does); a set changes that first member.
 */
#ifndef AS_PIPELINE_VALUE_H
#define AS_PIPELINE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_buf.h"
#include "core/as_json.h"

#define AS_PIPELINE_MAX_PATH_DEPTH 16u /* segments of a field path */
#define AS_PIPELINE_MAX_PATH_LEN 256u  /* bytes of a field path */

/* --- Arena --------------------------------------------------------------- */

typedef struct as_pv_chunk as_pv_chunk;

/** A bump allocator for one event's temporary values.  Owns its chunks. */
typedef struct as_pv_arena {
  as_pv_chunk *head; /* newest chunk first */
  size_t used;       /* bytes used in head */
} as_pv_arena;

void as_pv_arena_init(as_pv_arena *a);
/** Forgets every allocation; keeps the first chunk for reuse. */
void as_pv_arena_reset(as_pv_arena *a);
/** Frees every chunk. */
void as_pv_arena_free(as_pv_arena *a);
/** n bytes, 16-byte aligned, valid until the next reset; NULL when out of
 *  memory. */
void *as_pv_alloc(as_pv_arena *a, size_t n);

/* --- Field paths ------------------------------------------------------- */

/** A dot-separated path of object keys ("customer.address.city").  Owns
 *  `text` (the segments, each NUL-terminated, point into it). */
typedef struct as_ppath {
  char *text;
  size_t len; /* bytes of the path as written, dots included */
  uint32_t n; /* segments */
  const char *seg[AS_PIPELINE_MAX_PATH_DEPTH];
  uint32_t seg_len[AS_PIPELINE_MAX_PATH_DEPTH];
} as_ppath;

/** Parses s[0..len) (decoded UTF-8).  AS_EINVAL with a static reason in
 *  *why for an empty path, an empty segment ("a..b", ".a", "a."), a NUL
 *  byte, more than AS_PIPELINE_MAX_PATH_DEPTH segments or more than
 *  AS_PIPELINE_MAX_PATH_LEN bytes; AS_ENOMEM.  Free with as_ppath_free(). */
as_err as_ppath_parse(const char *s, size_t len, as_ppath *out, const char **why);
/** Frees the path's text; accepts a zeroed path. */
void as_ppath_free(as_ppath *p);

/* --- Values ------------------------------------------------------------- */

typedef struct as_pv as_pv;

/** A value over validated JSON text s[0..len) (borrowed: it must outlive
 *  the value).  NULL when out of memory. */
as_pv *as_pv_from_text(as_pv_arena *a, const char *s, size_t len);

/** The kind of a value. */
as_json_kind as_pv_kind(const as_pv *v);

/** Looks up `path` in `root`.  Returns true and the value's span in *out
 *  (a changed object is serialized into the arena first), or false when a
 *  segment is missing or lands on a non-object.  *oom is set when the
 *  arena ran out of memory (then false is returned). */
bool as_pv_get(as_pv_arena *a, const as_pv *root, const as_ppath *path,
               as_json_val *out, bool *oom);

/** Sets `path` of *root to the JSON text json[0..len) (copied into the
 *  arena), creating missing intermediate objects.  Returns AS_OK,
 *  AS_EINVAL when the root or an intermediate value exists but is not an
 *  object (nothing changes), or AS_ENOMEM. */
as_err as_pv_set(as_pv_arena *a, as_pv *root, const as_ppath *path,
                 const char *json, size_t len);

/** Appends the value's JSON text to b. */
void as_pv_write(const as_pv *v, as_buf *b);

/* --- Comparisons over spans ---------------------------------------------- */

/** Compares two JSON numbers exactly as decimals (1 == 1.0 == 1e0, and big
 *  integers keep every digit): -1, 0 or 1. */
int as_pv_num_cmp(as_json_val a, as_json_val b);

/** JSON equality: numbers by value (as_pv_num_cmp), strings by their
 *  decoded text, arrays element by element, objects by member name
 *  regardless of order.  Values nested deeper than 64 levels compare
 *  unequal.  *oom is set when decoding needed memory it could not get. */
bool as_pv_equal(as_pv_arena *a, as_json_val x, as_json_val y, bool *oom);

/** The decoded text of string value v in the arena (*len bytes; may hold
 *  NUL bytes).  NULL when out of memory. */
char *as_pv_str(as_pv_arena *a, as_json_val v, size_t *len);

/** Parses number value v as a double (correctly rounded, any length).
 *  False for a non-number. */
bool as_pv_to_double(as_pv_arena *a, as_json_val v, double *out);

/** Appends a finite double as the shortest JSON number text that reads
 *  back as the same double, with ".0" added to integral values so it reads
 *  as a float ("6.0", "0.1", "1e+300"). */
void as_pv_put_double(as_buf *b, double d);


#endif /* AS_PIPELINE_VALUE_H */
