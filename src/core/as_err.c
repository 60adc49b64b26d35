/*
 * as_err.c — texts of the error codes and the as_error helpers.
 */
#include "core/as_err.h"

#include <stdio.h>
#include <string.h>

const char *as_strerror(as_err err) {
  switch (err) {
#define AS__ERR_TEXT(name, value, text) \
  case name:                            \
    return text;
    AS_ERR_MAP(AS__ERR_TEXT)
#undef AS__ERR_TEXT
  }
  return "unknown error";
}

const char *as_errname(as_err err) {
  switch (err) {
#define AS__ERR_NAME(name, value, text) \
  case name:                            \
    return #name;
    AS_ERR_MAP(AS__ERR_NAME)
#undef AS__ERR_NAME
  }
  return "AS_EUNKNOWN";
}

void as__error_clear(as_error *err) {
  if (!err) return;
  /* Every field but the text buffers, which are empty strings: zeroing all
   * 330 bytes showed up at ~2 % of a small append. */
  err->code = AS_OK;
  err->index = 0;
  err->expected_version = err->actual_version = err->offset = 0;
  err->field[0] = '\0';
  err->message[0] = '\0';
}

as_err as__error_set(as_error *err, as_err code, uint32_t index,
                     const char *field, const char *fmt, ...) {
  if (!err) return code;
  err->code = code;
  err->index = index;
  snprintf(err->field, sizeof err->field, "%s", field ? field : "");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return code;
}

void as__assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "allsource: assertion failed: %s (%s:%d)\n", expr, file,
          line);
  abort();
}
