/*
 * as_err.h — error codes (declared in allsource.h) and the helpers that fill
 * an as_error with details.
 */
#ifndef AS_ERR_H
#define AS_ERR_H

#include <stdarg.h>

#include "core/as_common.h"

/** Fills `err` (may be NULL) with `code`, the batch index and field name and a
 *  printf-style message.  Returns `code` so callers can `return
 *  as__error_set(...)`. */
as_err as__error_set(as_error *err, as_err code, uint32_t index,
                     const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/** Resets `err` (may be NULL) to AS_OK with empty texts. */
void as__error_clear(as_error *err);

#endif /* AS_ERR_H */
