/*
 * as_time.h — calendar arithmetic on microsecond UTC timestamps (the
 * public formatting/parsing functions are in allsource.h).  Buckets start
 * on true calendar boundaries: minute, hour, day (00:00), ISO week (Monday
 * 00:00) and month (the 1st, 00:00).
 */
#ifndef AS_TIME_H
#define AS_TIME_H

#include <stdint.h>

typedef enum as_window {
  AS_WIN_MINUTE = 0,
  AS_WIN_HOUR,
  AS_WIN_DAY,
  AS_WIN_WEEK,
  AS_WIN_MONTH
} as_window;

/** Microseconds on the monotonic clock (for durations and deadlines). */
int64_t as_time_mono_us(void);

/** Parses "minute", "hour", "day", "week", "month"; -1 if unknown. */
int as_window_parse(const char *s);
const char *as_window_name(as_window w);
/** Start of the window containing t. */
int64_t as_time_trunc(int64_t t_us, as_window w);
/** Start of the window after the one starting at `start`. */
int64_t as_time_next(int64_t start_us, as_window w);

#endif /* AS_TIME_H */
