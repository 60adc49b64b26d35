/*
 * as_thrift.h — the Thrift compact protocol, as used by Parquet footers and
 * page headers (no messages, no RPC, no IDL: callers walk structs by hand).
 *
 * Decoder: a pure cursor over a caller's bounded buffer.  It never reads
 * outside [p, p + len), rejects over-long varints, values that do not fit
 * their type, lengths and element counts larger than the bytes left, and
 * nests at most AS_TH_MAX_DEPTH structs/containers deep (also when skipping
 * unknown fields).  Errors are sticky: after the first failure every call
 * returns the same code (AS_ECORRUPT) and `what` names the problem.  Binary
 * values returned by the decoder are borrowed from the caller's buffer.
 *
 * Encoder: appends to a caller-owned as_buf (sticky errors, bounded by the
 * buffer's own maximum), tracking field-id deltas per struct level.
 */
#ifndef AS_THRIFT_H
#define AS_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_buf.h"

/* Compact protocol type ids (field headers and container element types). */
enum {
  AS_TH_STOP = 0,
  AS_TH_TRUE = 1, /* in a field header: a bool field whose value is true */
  AS_TH_FALSE = 2,
  AS_TH_BYTE = 3,
  AS_TH_I16 = 4,
  AS_TH_I32 = 5,
  AS_TH_I64 = 6,
  AS_TH_DOUBLE = 7,
  AS_TH_BINARY = 8,
  AS_TH_LIST = 9,
  AS_TH_SET = 10,
  AS_TH_MAP = 11,
  AS_TH_STRUCT = 12
};

#define AS_TH_MAX_DEPTH 32 /* nested structs and containers */

/* --- Decoder ----------------------------------------------------------- */

typedef struct as_th_rd {
  const uint8_t *p; /* borrowed */
  size_t len, pos;
  int depth;                            /* open structs */
  int16_t last_id[AS_TH_MAX_DEPTH + 1]; /* field id delta base per level */
  int bool_pending;  /* 0, or AS_TH_TRUE/AS_TH_FALSE from a field header */
  as_err err;        /* sticky */
  const char *what;  /* static text of the first error */
} as_th_rd;

/** Starts decoding p[0..len) (borrowed for the reader's life). */
void as_th_rd_init(as_th_rd *r, const void *p, size_t len);

/** Enters a struct (the top-level one too).  Fails beyond the depth limit. */
as_err as_th_struct_begin(as_th_rd *r);
/** Leaves the struct entered last (call after as_th_field() says AS_DONE). */
as_err as_th_struct_end(as_th_rd *r);

/** Reads the next field header of the current struct: its compact type
 *  (AS_TH_TRUE/AS_TH_FALSE for bool fields) and id.  Returns AS_DONE at the
 *  struct's STOP byte. */
as_err as_th_field(as_th_rd *r, int *type, int16_t *id);

/** Value readers.  Each checks the varint fits the target type. */
as_err as_th_read_bool(as_th_rd *r, bool *v); /* field (pending) or element */
as_err as_th_read_byte(as_th_rd *r, int8_t *v);
as_err as_th_read_i16(as_th_rd *r, int16_t *v);
as_err as_th_read_i32(as_th_rd *r, int32_t *v);
as_err as_th_read_i64(as_th_rd *r, int64_t *v);
as_err as_th_read_double(as_th_rd *r, double *v);
/** *p is borrowed from the input buffer; len <= bytes left. */
as_err as_th_read_binary(as_th_rd *r, const uint8_t **p, uint32_t *len);

/** Reads a list/set header: element type and count (count <= bytes left,
 *  since every element takes at least one byte). */
as_err as_th_list_begin(as_th_rd *r, int *elem_type, uint32_t *count);

/** Skips one value of compact type `type` (depth-limited). */
as_err as_th_skip(as_th_rd *r, int type);

/** Marks the reader failed (e.g. a field has the wrong type) and returns
 *  AS_ECORRUPT.  `what` must be a static string. */
as_err as_th_fail(as_th_rd *r, const char *what);

/* --- Encoder ----------------------------------------------------------- */

typedef struct as_th_wr {
  as_buf *b; /* borrowed */
  int depth;
  int16_t last_id[AS_TH_MAX_DEPTH + 1];
} as_th_wr;

void as_th_wr_init(as_th_wr *w, as_buf *b);
/** Field header (type must not be a bool type; use as_th_w_bool_field). */
void as_th_w_field(as_th_wr *w, int type, int16_t id);
void as_th_w_bool_field(as_th_wr *w, int16_t id, bool v);
/** Opens a nested struct (after its field header or as a list element). */
void as_th_w_struct_begin(as_th_wr *w);
/** Writes the STOP byte and closes the struct. */
void as_th_w_struct_end(as_th_wr *w);
void as_th_w_list_begin(as_th_wr *w, int elem_type, uint32_t count);
void as_th_w_bool_elem(as_th_wr *w, bool v);
void as_th_w_byte(as_th_wr *w, int8_t v);
void as_th_w_i16(as_th_wr *w, int16_t v);
void as_th_w_i32(as_th_wr *w, int32_t v);
void as_th_w_i64(as_th_wr *w, int64_t v);
void as_th_w_double(as_th_wr *w, double v);
void as_th_w_binary(as_th_wr *w, const void *p, size_t n);
/** Raw unsigned varint (for tests and containers). */
void as_th_w_varint(as_th_wr *w, uint64_t v);

/* Field conveniences: header plus value. */
void as_th_w_field_i32(as_th_wr *w, int16_t id, int32_t v);
void as_th_w_field_i64(as_th_wr *w, int16_t id, int64_t v);
void as_th_w_field_binary(as_th_wr *w, int16_t id, const void *p, size_t n);
void as_th_w_field_string(as_th_wr *w, int16_t id, const char *s);

#endif /* AS_THRIFT_H */
