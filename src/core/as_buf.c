/*
 * as_buf.c — bounded growable buffer.
 */
#include "core/as_buf.h"

#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"

void as_buf_init(as_buf *b, size_t max) {
  b->data = NULL;
  b->len = b->cap = 0;
  b->max = max ? max : SIZE_MAX;
  b->err = AS_OK;
}

void as_buf_free(as_buf *b) {
  as_free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
  b->err = AS_OK;
}

void as_buf_reset(as_buf *b) {
  b->len = 0;
  b->err = AS_OK;
  if (b->data) b->data[0] = '\0';
}

as_err as_buf_reserve(as_buf *b, size_t extra) {
  if (b->err) return b->err;
  if (extra > b->max || b->len > b->max - extra) return b->err = AS_ELIMIT;
  size_t need = b->len + extra + 1;
  if (need <= b->cap) return AS_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  char *p = as_realloc(b->data, cap);
  if (!p) return b->err = AS_ENOMEM;
  b->data = p;
  b->cap = cap;
  return AS_OK;
}

as_err as_buf_append(as_buf *b, const void *p, size_t n) {
  if (as_buf_reserve(b, n)) return b->err;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return AS_OK;
}

as_err as_buf_puts(as_buf *b, const char *s) {
  return as_buf_append(b, s, strlen(s));
}

as_err as_buf_putc(as_buf *b, char c) {
  if (b->len + 1 < b->cap && !b->err && b->len < b->max) {
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return AS_OK;
  }
  return as_buf_append(b, &c, 1);
}

as_err as_buf_printf(as_buf *b, const char *fmt, ...) {
  if (b->err) return b->err;
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return b->err = AS_EINVAL;
  if ((size_t)n < sizeof tmp) return as_buf_append(b, tmp, (size_t)n);
  if (as_buf_reserve(b, (size_t)n)) return b->err;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return AS_OK;
}

as_err as_buf_put_u64(as_buf *b, uint64_t v) {
  char tmp[24];
  int i = (int)sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return as_buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

as_err as_buf_put_i64(as_buf *b, int64_t v) {
  if (v < 0) {
    as_buf_putc(b, '-');
    return as_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
  }
  return as_buf_put_u64(b, (uint64_t)v);
}

char *as_buf_detach(as_buf *b, size_t *len) {
  if (!b->data && as_buf_reserve(b, 0)) return NULL;
  char *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}
