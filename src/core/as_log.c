/*
 * as_log.c — formatting and dispatch of log lines.
 */
#include "core/as_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static const char *level_name(as_log_level l) {
  switch (l) {
    case AS_LOG_ERROR: return "error";
    case AS_LOG_WARN: return "warn";
    case AS_LOG_INFO: return "info";
    case AS_LOG_DEBUG: return "debug";
  }
  return "?";
}

void as__log(const as_logger *lg, as_log_level level, const char *fmt, ...) {
  if (lg && level > lg->level) return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (lg && lg->fn) {
    lg->fn(lg->ctx, level, msg);
    return;
  }
  char ts[32];
  as_time_format(as_time_now_us(), ts);
  fprintf(stderr, "%s %s %s\n", ts, level_name(level), msg);
}
