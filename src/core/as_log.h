/*
 * as_log.h — the engine's logger: a sink callback, its context and a level,
 * owned by each as_db (no global logger state).
 */
#ifndef AS_LOG_H
#define AS_LOG_H

#include "allsource.h"

typedef struct as_logger {
  as_log_fn fn;  /* NULL = write to stderr */
  void *ctx;
  as_log_level level;
} as_logger;

/** Formats one line and hands it to the sink if `level` is enabled. */
void as__log(const as_logger *lg, as_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* AS_LOG_H */
