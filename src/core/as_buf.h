/*
 * as_buf.h — a binary-safe, NUL-terminated, growable byte buffer with a hard
 * maximum size.
 *
 * Errors are sticky: once an append fails (out of memory, or the buffer would
 * pass `max`), later appends do nothing and as_buf_error() reports the first
 * failure.  Builders can therefore append freely and check once at the end.
 * Nothing grows without bound because of network input.
 */
#ifndef AS_BUF_H
#define AS_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"

typedef struct as_buf {
  char *data;  /* owned; NUL-terminated when non-NULL */
  size_t len;  /* bytes used, excluding the NUL */
  size_t cap;  /* bytes allocated */
  size_t max;  /* hard limit on len; SIZE_MAX for none */
  as_err err;  /* first failure, sticky */
} as_buf;

/** Initializes an empty buffer that may hold at most `max` bytes (0 = no
 *  limit).  Allocates nothing. */
void as_buf_init(as_buf *b, size_t max);
/** Frees the data; the buffer is empty and usable again. */
void as_buf_free(as_buf *b);
/** Empties the buffer and clears its error, keeping the allocation. */
void as_buf_reset(as_buf *b);
/** Makes room for `extra` more bytes. */
as_err as_buf_reserve(as_buf *b, size_t extra);
as_err as_buf_append(as_buf *b, const void *p, size_t n);
as_err as_buf_puts(as_buf *b, const char *s);
as_err as_buf_putc(as_buf *b, char c);
as_err as_buf_printf(as_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
as_err as_buf_put_u64(as_buf *b, uint64_t v);
as_err as_buf_put_i64(as_buf *b, int64_t v);
/** The sticky error (AS_OK if every append succeeded). */
static inline as_err as_buf_error(const as_buf *b) { return b->err; }
/** Hands the data to the caller (free with as_free()); the buffer is left
 *  empty.  Returns an empty allocated string for an empty buffer, NULL only
 *  on allocation failure. */
char *as_buf_detach(as_buf *b, size_t *len);

#endif /* AS_BUF_H */
