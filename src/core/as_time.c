/*
 * as_time.c — wall clock and RFC 3339 formatting/parsing in microseconds.
 *
 * Civil-date conversion follows Howard Hinnant's days_from_civil algorithm,
 * valid for the proleptic Gregorian calendar.  Years are limited to
 * 0000..9999 on input so every timestamp fits RFC 3339's four-digit year.
 */
#include <string.h>
#include <time.h>

#include "allsource.h"
#include "core/as_common.h"
#include "core/as_time.h"

int64_t as_time_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t as_time_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
  return q;
}

/* Writes v as exactly n decimal digits (zero-padded). */
static void put_digits(char *o, unsigned v, int n) {
  for (int i = n - 1; i >= 0; i--) {
    o[i] = (char)('0' + v % 10);
    v /= 10;
  }
}

size_t as_time_format(int64_t t_us, char out[32]) {
  int64_t days = floor_div(t_us, 86400000000LL);
  int64_t rem = t_us - days * 86400000000LL; /* 0 .. 86399999999 */
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  if (y < 0) y = 0;
  if (y > 9999) y = 9999;
  unsigned hh = (unsigned)(rem / 3600000000LL);
  unsigned mm = (unsigned)(rem / 60000000LL % 60);
  unsigned ss = (unsigned)(rem / 1000000 % 60);
  unsigned us = (unsigned)(rem % 1000000);
  /* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" by hand: this runs for every event a
   * response or a stream serializes, and snprintf cost 10x as much. */
  put_digits(out, (unsigned)y, 4);
  out[4] = '-';
  put_digits(out + 5, m, 2);
  out[7] = '-';
  put_digits(out + 8, d, 2);
  out[10] = 'T';
  put_digits(out + 11, hh, 2);
  out[13] = ':';
  put_digits(out + 14, mm, 2);
  out[16] = ':';
  put_digits(out + 17, ss, 2);
  out[19] = '.';
  put_digits(out + 20, us, 6);
  out[26] = 'Z';
  out[27] = '\0';
  return 27;
}

static int digits(const char *s, size_t n, unsigned *v) {
  unsigned x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    x = x * 10 + (unsigned)(s[i] - '0');
  }
  *v = x;
  return 0;
}

static unsigned days_in_month(unsigned y, unsigned m) {
  static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) return 29;
  return dm[m - 1];
}

as_err as_time_parse(const char *s, size_t len, int64_t *t_us) {
  unsigned y, mo, d, h, mi, se;
  if (!s || len < 20) return AS_EINVAL;
  if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
      s[7] != '-' || digits(s + 8, 2, &d))
    return AS_EINVAL;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return AS_EINVAL;
  if (digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
      s[16] != ':' || digits(s + 17, 2, &se))
    return AS_EINVAL;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
      mi > 59 || se > 60)
    return AS_EINVAL;
  size_t i = 19;
  int64_t frac_us = 0;
  if (i < len && s[i] == '.') {
    i++;
    size_t start = i;
    int64_t scale = 100000;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      frac_us += (s[i] - '0') * scale;
      scale /= 10;
      i++;
    }
    if (i == start || i - start > 9) return AS_EINVAL;
  }
  if (i >= len) return AS_EINVAL;
  int64_t offset_s = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    i++;
  } else if (s[i] == '+' || s[i] == '-') {
    unsigned oh, om;
    if (len - i < 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
        digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
      return AS_EINVAL;
    offset_s = (int64_t)oh * 3600 + om * 60;
    if (s[i] == '-') offset_s = -offset_s;
    i += 6;
  } else {
    return AS_EINVAL;
  }
  if (i != len) return AS_EINVAL;
  if (se == 60) { /* a leap second: the last microsecond of the minute */
    se = 59;
    frac_us = 999999;
  }
  int64_t days = days_from_civil(y, mo, d);
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
  *t_us = secs * 1000000 + frac_us;
  return AS_OK;
}

/* --- Calendar windows ----------------------------------------------- */

static const char *const g_windows[] = {"minute", "hour", "day", "week", "month"};

int as_window_parse(const char *s) {
  for (int i = 0; i < 5; i++)
    if (strcmp(s, g_windows[i]) == 0) return i;
  return -1;
}

const char *as_window_name(as_window w) {
  return (unsigned)w < 5 ? g_windows[w] : "?";
}

#define US_MIN 60000000LL
#define US_HOUR 3600000000LL
#define US_DAY 86400000000LL

int64_t as_time_trunc(int64_t t, as_window w) {
  switch (w) {
    case AS_WIN_MINUTE: return floor_div(t, US_MIN) * US_MIN;
    case AS_WIN_HOUR: return floor_div(t, US_HOUR) * US_HOUR;
    case AS_WIN_DAY: return floor_div(t, US_DAY) * US_DAY;
    case AS_WIN_WEEK: {
      int64_t d = floor_div(t, US_DAY);
      int64_t weekday = ((d + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; Monday = 0 */
      return (d - weekday) * US_DAY;
    }
    case AS_WIN_MONTH: {
      int64_t y;
      unsigned m, dd;
      civil_from_days(floor_div(t, US_DAY), &y, &m, &dd);
      return days_from_civil(y, m, 1) * US_DAY;
    }
  }
  return t;
}

int64_t as_time_next(int64_t start, as_window w) {
  switch (w) {
    case AS_WIN_MINUTE: return start + US_MIN;
    case AS_WIN_HOUR: return start + US_HOUR;
    case AS_WIN_DAY: return start + US_DAY;
    case AS_WIN_WEEK: return start + 7 * US_DAY;
    case AS_WIN_MONTH: {
      int64_t y;
      unsigned m, dd;
      civil_from_days(floor_div(start, US_DAY), &y, &m, &dd);
      if (++m > 12) m = 1, y++;
      return days_from_civil(y, m, 1) * US_DAY;
    }
  }
  return start;
}
