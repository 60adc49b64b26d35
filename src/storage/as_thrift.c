/*
 * as_thrift.c — Thrift compact protocol decoder and encoder (see as_thrift.h).
 *
 * Wire format summary:
 *   field header  = (delta << 4) | type, delta 1..15 from the previous field
 *                   id of the same struct; or `type` then a zigzag varint i16
 *                   id.  Type 0 is STOP.  Bool fields carry their value in
 *                   the type (1 = true, 2 = false), no value byte follows.
 *   i16/i32/i64   = zigzag, then ULEB128 varint.   byte = 1 raw byte.
 *   double        = 8 bytes little-endian.      binary = varint len, bytes.
 *   list/set      = (count << 4) | elem_type with count < 15, else
 *                   0xF0 | elem_type then a varint count.  Bool elements are
 *                   one byte (1 = true; 0 or 2 = false).
 *   map           = varint count, then (key_type << 4 | val_type) if count>0.
 */
#include "storage/as_thrift.h"

#include <string.h>

#include "core/as_common.h"

/* ---------------------------------------------------------------------- */
/* Decoder                                                                */
/* ---------------------------------------------------------------------- */

void as_th_rd_init(as_th_rd *r, const void *p, size_t len) {
  memset(r, 0, sizeof *r);
  r->p = p;
  r->len = p ? len : 0;
}

as_err as_th_fail(as_th_rd *r, const char *what) {
  if (r->err == AS_OK) {
    r->err = AS_ECORRUPT;
    r->what = what;
  }
  return r->err;
}

static size_t left(const as_th_rd *r) { return r->len - r->pos; }

static as_err rd_u8(as_th_rd *r, uint8_t *v) {
  if (r->err) return r->err;
  if (left(r) < 1) return as_th_fail(r, "truncated thrift data");
  *v = r->p[r->pos++];
  return AS_OK;
}

static as_err rd_varint(as_th_rd *r, uint64_t *v) {
  if (r->err) return r->err;
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (left(r) < 1) return as_th_fail(r, "truncated varint");
    uint8_t b = r->p[r->pos++];
    if (shift == 63 && (b & 0x7e))
      return as_th_fail(r, "varint overflows 64 bits");
    x |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = x;
      return AS_OK;
    }
  }
  return as_th_fail(r, "varint longer than 10 bytes");
}

static int64_t unzigzag(uint64_t v) {
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

as_err as_th_struct_begin(as_th_rd *r) {
  if (r->err) return r->err;
  if (r->depth >= AS_TH_MAX_DEPTH) return as_th_fail(r, "thrift nesting too deep");
  r->depth++;
  r->last_id[r->depth] = 0;
  r->bool_pending = 0;
  return AS_OK;
}

as_err as_th_struct_end(as_th_rd *r) {
  if (r->err) return r->err;
  if (AS_NEVER(r->depth <= 0)) return as_th_fail(r, "unbalanced struct end");
  r->depth--;
  return AS_OK;
}

static bool valid_type(int t) { return t >= AS_TH_TRUE && t <= AS_TH_STRUCT; }

as_err as_th_field(as_th_rd *r, int *type, int16_t *id) {
  uint8_t b;
  as_err rc = rd_u8(r, &b);
  if (rc) return rc;
  if (r->bool_pending) r->bool_pending = 0; /* an unread bool is skipped */
  if (b == AS_TH_STOP) return AS_DONE;
  int t = b & 0x0f, delta = b >> 4;
  if (!valid_type(t)) return as_th_fail(r, "invalid thrift field type");
  int32_t fid;
  if (delta) {
    fid = r->last_id[r->depth] + delta;
  } else {
    int16_t v;
    if ((rc = as_th_read_i16(r, &v))) return rc;
    fid = v;
  }
  if (fid > INT16_MAX) return as_th_fail(r, "thrift field id out of range");
  r->last_id[r->depth] = (int16_t)fid;
  if (t == AS_TH_TRUE || t == AS_TH_FALSE) r->bool_pending = t;
  *type = t;
  *id = (int16_t)fid;
  return AS_OK;
}

as_err as_th_read_bool(as_th_rd *r, bool *v) {
  if (r->err) return r->err;
  if (r->bool_pending) {
    *v = r->bool_pending == AS_TH_TRUE;
    r->bool_pending = 0;
    return AS_OK;
  }
  uint8_t b;
  as_err rc = rd_u8(r, &b);
  if (rc) return rc;
  if (b > 2) return as_th_fail(r, "invalid thrift bool value");
  *v = b == 1;
  return AS_OK;
}

as_err as_th_read_byte(as_th_rd *r, int8_t *v) {
  uint8_t b;
  as_err rc = rd_u8(r, &b);
  if (!rc) *v = (int8_t)b;
  return rc;
}

static as_err rd_signed(as_th_rd *r, int64_t lo, int64_t hi, int64_t *out) {
  uint64_t u;
  as_err rc = rd_varint(r, &u);
  if (rc) return rc;
  int64_t v = unzigzag(u);
  if (v < lo || v > hi) return as_th_fail(r, "thrift integer out of range");
  *out = v;
  return AS_OK;
}

as_err as_th_read_i16(as_th_rd *r, int16_t *v) {
  int64_t x;
  as_err rc = rd_signed(r, INT16_MIN, INT16_MAX, &x);
  if (!rc) *v = (int16_t)x;
  return rc;
}

as_err as_th_read_i32(as_th_rd *r, int32_t *v) {
  int64_t x;
  as_err rc = rd_signed(r, INT32_MIN, INT32_MAX, &x);
  if (!rc) *v = (int32_t)x;
  return rc;
}

as_err as_th_read_i64(as_th_rd *r, int64_t *v) {
  return rd_signed(r, INT64_MIN, INT64_MAX, v);
}

as_err as_th_read_double(as_th_rd *r, double *v) {
  if (r->err) return r->err;
  if (left(r) < 8) return as_th_fail(r, "truncated double");
  uint64_t u = as_get_u64(r->p + r->pos);
  r->pos += 8;
  memcpy(v, &u, sizeof *v);
  return AS_OK;
}

as_err as_th_read_binary(as_th_rd *r, const uint8_t **p, uint32_t *len) {
  uint64_t n;
  as_err rc = rd_varint(r, &n);
  if (rc) return rc;
  if (n > left(r) || n > UINT32_MAX)
    return as_th_fail(r, "thrift binary length beyond the data");
  *p = r->p + r->pos;
  *len = (uint32_t)n;
  r->pos += (size_t)n;
  return AS_OK;
}

as_err as_th_list_begin(as_th_rd *r, int *elem_type, uint32_t *count) {
  uint8_t b;
  as_err rc = rd_u8(r, &b);
  if (rc) return rc;
  uint64_t n = b >> 4;
  int t = b & 0x0f;
  if (n == 15 && (rc = rd_varint(r, &n))) return rc;
  if (!valid_type(t)) return as_th_fail(r, "invalid thrift list element type");
  if (n > left(r)) return as_th_fail(r, "thrift list count beyond the data");
  *elem_type = t;
  *count = (uint32_t)n;
  return AS_OK;
}

static as_err skip_depth(as_th_rd *r, int type, int depth);

static as_err skip_elems(as_th_rd *r, int type, uint64_t n, int depth) {
  as_err rc = AS_OK;
  for (uint64_t i = 0; i < n && !rc; i++) {
    if (type == AS_TH_TRUE || type == AS_TH_FALSE) {
      bool b;
      rc = as_th_read_bool(r, &b);
    } else {
      rc = skip_depth(r, type, depth);
    }
  }
  return rc;
}

static as_err skip_depth(as_th_rd *r, int type, int depth) {
  if (r->err) return r->err;
  if (depth > AS_TH_MAX_DEPTH) return as_th_fail(r, "thrift nesting too deep");
  uint64_t u;
  const uint8_t *p;
  uint32_t n;
  int t, kt, vt;
  int16_t id;
  as_err rc;
  switch (type) {
  case AS_TH_TRUE:
  case AS_TH_FALSE: {
    bool b;
    return as_th_read_bool(r, &b);
  }
  case AS_TH_BYTE:
    return rd_u8(r, &(uint8_t){0});
  case AS_TH_I16:
  case AS_TH_I32:
  case AS_TH_I64:
    return rd_varint(r, &u);
  case AS_TH_DOUBLE: {
    double d;
    return as_th_read_double(r, &d);
  }
  case AS_TH_BINARY:
    return as_th_read_binary(r, &p, &n);
  case AS_TH_LIST:
  case AS_TH_SET:
    if ((rc = as_th_list_begin(r, &t, &n))) return rc;
    return skip_elems(r, t, n, depth + 1);
  case AS_TH_MAP: {
    if ((rc = rd_varint(r, &u))) return rc;
    if (u == 0) return AS_OK;
    uint8_t kv;
    if ((rc = rd_u8(r, &kv))) return rc;
    kt = kv >> 4;
    vt = kv & 0x0f;
    if (!valid_type(kt) || !valid_type(vt))
      return as_th_fail(r, "invalid thrift map element type");
    if (u > left(r) / 2) return as_th_fail(r, "thrift map count beyond the data");
    for (uint64_t i = 0; i < u; i++) {
      if ((rc = skip_elems(r, kt, 1, depth + 1))) return rc;
      if ((rc = skip_elems(r, vt, 1, depth + 1))) return rc;
    }
    return AS_OK;
  }
  case AS_TH_STRUCT:
    if ((rc = as_th_struct_begin(r))) return rc;
    while ((rc = as_th_field(r, &t, &id)) == AS_OK)
      if ((rc = skip_depth(r, t, depth + 1))) return rc;
    if (rc != AS_DONE) return rc;
    return as_th_struct_end(r);
  default:
    return as_th_fail(r, "invalid thrift type");
  }
}

as_err as_th_skip(as_th_rd *r, int type) { return skip_depth(r, type, r->depth); }

/* ---------------------------------------------------------------------- */
/* Encoder                                                                */
/* ---------------------------------------------------------------------- */

void as_th_wr_init(as_th_wr *w, as_buf *b) {
  memset(w, 0, sizeof *w);
  w->b = b;
}

void as_th_w_varint(as_th_wr *w, uint64_t v) {
  unsigned char tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (unsigned char)v;
  as_buf_append(w->b, tmp, n);
}

static uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }

static void w_header(as_th_wr *w, int type, int16_t id) {
  int16_t last = w->last_id[w->depth];
  if (id > last && id - last <= 15) {
    as_buf_putc(w->b, (char)(((id - last) << 4) | type));
  } else {
    as_buf_putc(w->b, (char)type);
    as_th_w_varint(w, zigzag(id));
  }
  w->last_id[w->depth] = id;
}

void as_th_w_field(as_th_wr *w, int type, int16_t id) { w_header(w, type, id); }

void as_th_w_bool_field(as_th_wr *w, int16_t id, bool v) {
  w_header(w, v ? AS_TH_TRUE : AS_TH_FALSE, id);
}

void as_th_w_struct_begin(as_th_wr *w) {
  if (AS_NEVER(w->depth >= AS_TH_MAX_DEPTH)) {
    w->b->err = AS_ELIMIT;
    return;
  }
  w->depth++;
  w->last_id[w->depth] = 0;
}

void as_th_w_struct_end(as_th_wr *w) {
  as_buf_putc(w->b, AS_TH_STOP);
  if (w->depth > 0) w->depth--;
}

void as_th_w_list_begin(as_th_wr *w, int elem_type, uint32_t count) {
  if (count < 15) {
    as_buf_putc(w->b, (char)((count << 4) | (uint32_t)elem_type));
  } else {
    as_buf_putc(w->b, (char)(0xf0 | elem_type));
    as_th_w_varint(w, count);
  }
}

void as_th_w_bool_elem(as_th_wr *w, bool v) { as_buf_putc(w->b, v ? 1 : 2); }
void as_th_w_byte(as_th_wr *w, int8_t v) { as_buf_putc(w->b, (char)v); }
void as_th_w_i16(as_th_wr *w, int16_t v) { as_th_w_varint(w, zigzag(v)); }
void as_th_w_i32(as_th_wr *w, int32_t v) { as_th_w_varint(w, zigzag(v)); }
void as_th_w_i64(as_th_wr *w, int64_t v) { as_th_w_varint(w, zigzag(v)); }

void as_th_w_double(as_th_wr *w, double v) {
  uint64_t u;
  unsigned char tmp[8];
  memcpy(&u, &v, sizeof u);
  as_put_u64(tmp, u);
  as_buf_append(w->b, tmp, 8);
}

void as_th_w_binary(as_th_wr *w, const void *p, size_t n) {
  as_th_w_varint(w, n);
  if (n) as_buf_append(w->b, p, n);
}

void as_th_w_field_i32(as_th_wr *w, int16_t id, int32_t v) {
  w_header(w, AS_TH_I32, id);
  as_th_w_i32(w, v);
}

void as_th_w_field_i64(as_th_wr *w, int16_t id, int64_t v) {
  w_header(w, AS_TH_I64, id);
  as_th_w_i64(w, v);
}

void as_th_w_field_binary(as_th_wr *w, int16_t id, const void *p, size_t n) {
  w_header(w, AS_TH_BINARY, id);
  as_th_w_binary(w, p, n);
}

void as_th_w_field_string(as_th_wr *w, int16_t id, const char *s) {
  as_th_w_field_binary(w, id, s, strlen(s));
}
