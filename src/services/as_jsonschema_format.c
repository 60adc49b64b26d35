/*
 * as_jsonschema_format.c — the "format" checks used in assertion mode.
 *
 * Each check is a hand-written recognizer of the RFC grammar named in the
 * JSON Schema validation spec (RFC 3339 date/time/duration, RFC 5321
 * mailbox, RFC 1123 host names, RFC 2673/4291 addresses, RFC 3986/3987
 * URIs and IRIs, RFC 4122 UUIDs, RFC 6901 pointers, RFC 6570 templates,
 * ECMA-262 regular expressions).  All work on a byte span without
 * allocating (except "regex", which compiles the pattern).
 */
#include <string.h>

#include "services/as_jsonschema_int.h"

enum {
  F_DATE_TIME, F_DATE, F_TIME, F_DURATION, F_EMAIL, F_IDN_EMAIL,
  F_HOSTNAME, F_IDN_HOSTNAME, F_IPV4, F_IPV6, F_URI, F_URI_REFERENCE,
  F_IRI, F_IRI_REFERENCE, F_UUID, F_REGEX, F_JSON_POINTER,
  F_REL_JSON_POINTER, F_URI_TEMPLATE, F_COUNT
};

static const char *const k_names[F_COUNT] = {
    "date-time", "date", "time", "duration", "email", "idn-email",
    "hostname", "idn-hostname", "ipv4", "ipv6", "uri", "uri-reference",
    "iri", "iri-reference", "uuid", "regex", "json-pointer",
    "relative-json-pointer", "uri-template"};

int as__js_format_id(const char *name) {
  for (int i = 0; i < F_COUNT; i++)
    if (strcmp(name, k_names[i]) == 0) return i;
  return -1;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* n digits at s -> value, or -1. */
static int digits(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static bool check_date(const char *s, size_t len) {
  if (len != 10 || s[4] != '-' || s[7] != '-') return false;
  int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
  if (y < 0 || m < 1 || m > 12 || d < 1) return false;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int max = mdays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) max = 29;
  return d <= max;
}

static bool check_time(const char *s, size_t len) {
  if (len < 9 || s[2] != ':' || s[5] != ':') return false;
  int h = digits(s, 2), mi = digits(s + 3, 2), se = digits(s + 6, 2);
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60) return false;
  size_t i = 8;
  if (i < len && s[i] == '.') {
    i++;
    size_t st = i;
    while (i < len && is_digit(s[i])) i++;
    if (i == st) return false;
  }
  if (i >= len) return false;
  int off = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    if (i + 1 != len) return false;
  } else if (s[i] == '+' || s[i] == '-') {
    if (len - i != 6 || s[i + 3] != ':') return false;
    int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return false;
    off = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
  } else {
    return false;
  }
  if (se == 60) {
    int utc = ((h * 60 + mi - off) % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) return false;
  }
  return true;
}

static bool check_date_time(const char *s, size_t len) {
  if (len < 20 || (s[10] != 'T' && s[10] != 't')) return false;
  return check_date(s, 10) && check_time(s + 11, len - 11);
}

/* Parses `<digits><unit>` runs up to `stop` (or the end), with units taken
 * in order from `units` without gaps ("YMD" or "HMS"). */
static bool dur_part(const char *s, size_t len, size_t *pos, const char *units,
                     char stop, int *count) {
  size_t i = *pos;
  int next = 0;
  bool started = false;
  while (i < len && s[i] != stop) {
    size_t j = i;
    while (j < len && is_digit(s[j])) j++;
    if (j == i || j >= len || s[j] == '\0') return false;
    const char *u = strchr(units + next, s[j]);
    if (!u) return false;
    int idx = (int)(u - units);
    if (started && idx != next) return false; /* no gaps */
    started = true;
    next = idx + 1;
    (*count)++;
    i = j + 1;
  }
  *pos = i;
  return true;
}

/* RFC 3339 appendix A. */
static bool check_duration(const char *s, size_t len) {
  if (len < 3 || s[0] != 'P') return false;
  size_t i = 1, j = 1;
  while (j < len && is_digit(s[j])) j++;
  if (j > i && j + 1 == len && s[j] == 'W') return true; /* weeks alone */
  int count = 0;
  if (!dur_part(s, len, &i, "YMD", 'T', &count)) return false;
  if (i < len) { /* 'T' */
    i++;
    if (i >= len || !dur_part(s, len, &i, "HMS", '\0', &count)) return false;
  }
  return count > 0;
}

static bool check_label(const char *s, size_t n, bool idn) {
  if (n == 0 || n > 63) return false;
  if (s[0] == '-' || s[n - 1] == '-') return false;
  if (n >= 4 && s[2] == '-' && s[3] == '-' &&
      !((s[0] == 'x' || s[0] == 'X') && (s[1] == 'n' || s[1] == 'N')))
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(is_alpha((char)c) || is_digit((char)c) || c == '-' ||
          (idn && c >= 0x80)))
      return false;
  }
  return true;
}

static bool check_hostname_x(const char *s, size_t len, bool idn) {
  if (len > 0 && s[len - 1] == '.') len--;
  if (len == 0 || len > 253) return false;
  size_t st = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (!check_label(s + st, i - st, idn)) return false;
      st = i + 1;
    }
  }
  return true;
}

static bool check_ipv4(const char *s, size_t len) {
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t st = i;
    int v = 0;
    while (i < len && is_digit(s[i]) && i - st < 3) v = v * 10 + (s[i++] - '0');
    if (i == st || v > 255 || (i - st > 1 && s[st] == '0')) return false;
    parts++;
    if (parts < 4) {
      if (i >= len || s[i] != '.') return false;
      i++;
    }
  }
  return i == len;
}

static bool check_ipv6(const char *s, size_t len) {
  if (len < 2) return false;
  int groups = 0;
  bool dbl = false;
  size_t i = 0;
  if (s[0] == ':') {
    if (s[1] != ':') return false;
    dbl = true;
    i = 2;
    if (i == len) return true;
  }
  while (i < len) {
    size_t st = i;
    while (i < len && is_hex(s[i]) && i - st < 5) i++;
    if (i < len && s[i] == '.') { /* embedded IPv4 must end the address */
      if (!check_ipv4(s + st, len - st)) return false;
      groups += 2;
      i = len;
      break;
    }
    if (i == st || i - st > 4) return false;
    groups++;
    if (i == len) break;
    if (s[i] != ':') return false;
    i++;
    if (i < len && s[i] == ':') {
      if (dbl) return false;
      dbl = true;
      i++;
      if (i == len) break;
    } else if (i == len) {
      return false; /* trailing single ':' */
    }
  }
  return dbl ? groups < 8 : groups == 8;
}

static bool check_email_x(const char *s, size_t len, bool idn) {
  const char *at = NULL;
  size_t i = 0;
  if (len > 0 && s[0] == '"') { /* quoted local part */
    i = 1;
    while (i < len && s[i] != '"') {
      if (s[i] == '\\') i++;
      i++;
    }
    if (i >= len) return false;
    i++;
    if (i >= len || s[i] != '@') return false;
    at = s + i;
  } else {
    for (; i < len; i++) {
      char c = s[i];
      if (c == '@') {
        at = s + i;
        break;
      }
      bool ok = is_alpha(c) || is_digit(c) || strchr("!#$%&'*+-/=?^_`{|}~.", c) ||
                (idn && (unsigned char)c >= 0x80);
      if (!ok || c == '\0') return false;
      if (c == '.' && (i == 0 || s[i - 1] == '.')) return false;
    }
    if (!at || at == s || at[-1] == '.') return false;
  }
  const char *d = at + 1;
  size_t dlen = len - (size_t)(d - s);
  if (dlen >= 2 && d[0] == '[' && d[dlen - 1] == ']') {
    if (dlen > 7 && strncmp(d + 1, "IPv6:", 5) == 0)
      return check_ipv6(d + 6, dlen - 7);
    return check_ipv4(d + 1, dlen - 2);
  }
  return check_hostname_x(d, dlen, idn);
}

static bool check_uuid(const char *s, size_t len) {
  if (len != 36) return false;
  for (size_t i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!is_hex(s[i])) {
      return false;
    }
  }
  return true;
}

/* URI / IRI (RFC 3986 / 3987), structural check plus character classes. */
static bool uri_char_ok(unsigned char c, bool iri) {
  if (c >= 0x80) return iri;
  if (is_alpha((char)c) || is_digit((char)c)) return true;
  return strchr("-._~!$&'()*+,;=:@/?", (char)c) != NULL && c != 0;
}

static bool check_uri_x(const char *s, size_t len, bool iri, bool need_abs) {
  size_t i = 0;
  /* scheme */
  size_t j = 0;
  while (j < len && (is_alpha(s[j]) || (j > 0 && (is_digit(s[j]) ||
                                                  s[j] == '+' || s[j] == '-' ||
                                                  s[j] == '.'))))
    j++;
  bool has_scheme = j > 0 && j < len && s[j] == ':';
  if (need_abs && !has_scheme) return false;
  if (has_scheme) i = j + 1;
  /* authority */
  if (i + 1 < len && s[i] == '/' && s[i + 1] == '/') {
    i += 2;
    size_t st = i;
    while (i < len && s[i] != '/' && s[i] != '?' && s[i] != '#') i++;
    const char *a = s + st;
    size_t alen = i - st;
    const char *at = memchr(a, '@', alen);
    if (at) {
      for (const char *p = a; p < at; p++)
        if (*p == '[' || *p == ']' || !(uri_char_ok((unsigned char)*p, iri) ||
                                        *p == '%'))
          return false;
      alen -= (size_t)(at + 1 - a);
      a = at + 1;
    }
    if (alen > 0 && a[0] == '[') {
      const char *rb = memchr(a, ']', alen);
      if (!rb || !check_ipv6(a + 1, (size_t)(rb - a - 1))) return false;
      size_t rest = alen - (size_t)(rb + 1 - a);
      if (rest > 0 && rb[1] != ':') return false;
      for (size_t k = 2; k <= rest; k++)
        if (!is_digit(rb[k])) return false;
    } else {
      const char *colon = memchr(a, ':', alen);
      size_t hlen = colon ? (size_t)(colon - a) : alen;
      for (size_t k = 0; k < hlen; k++)
        if (a[k] == ':' || a[k] == '@' || a[k] == '/' ||
            !(uri_char_ok((unsigned char)a[k], iri) || a[k] == '%'))
          return false;
      if (colon)
        for (const char *p = colon + 1; p < a + alen; p++)
          if (!is_digit(*p)) return false;
    }
  } else if (!has_scheme) {
    /* relative-path reference: no ':' in the first segment */
    for (size_t k = i; k < len && s[k] != '/' && s[k] != '?' && s[k] != '#';
         k++)
      if (s[k] == ':') return false;
  }
  bool frag = false;
  for (; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (i + 2 >= len || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
      i += 2;
    } else if (c == '#') {
      if (frag) return false;
      frag = true;
    } else if (!uri_char_ok(c, iri)) {
      return false;
    }
  }
  return true;
}

static bool check_json_pointer(const char *s, size_t len) {
  if (len == 0) return true;
  if (s[0] != '/') return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
      return false;
  return true;
}

static bool check_rel_json_pointer(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && is_digit(s[i])) i++;
  if (i == 0 || (i > 1 && s[0] == '0')) return false;
  if (i == len) return true;
  if (s[i] == '#') return i + 1 == len;
  return check_json_pointer(s + i, len - i);
}

static bool check_uri_template(const char *s, size_t len) {
  bool in = false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '{') {
      if (in) return false;
      in = true;
    } else if (s[i] == '}') {
      if (!in) return false;
      in = false;
    }
  }
  return !in;
}

bool as__js_format_check(int id, const char *s, size_t len) {
  if (memchr(s, '\0', len) && id != F_REGEX) return false;
  switch (id) {
    case F_DATE_TIME: return check_date_time(s, len);
    case F_DATE: return check_date(s, len);
    case F_TIME: return check_time(s, len);
    case F_DURATION: return check_duration(s, len);
    case F_EMAIL: return check_email_x(s, len, false);
    case F_IDN_EMAIL: return check_email_x(s, len, true);
    case F_HOSTNAME: return check_hostname_x(s, len, false);
    case F_IDN_HOSTNAME: return check_hostname_x(s, len, true);
    case F_IPV4: return check_ipv4(s, len);
    case F_IPV6: return check_ipv6(s, len);
    case F_URI: return check_uri_x(s, len, false, true);
    case F_URI_REFERENCE: return check_uri_x(s, len, false, false);
    case F_IRI: return check_uri_x(s, len, true, true);
    case F_IRI_REFERENCE: return check_uri_x(s, len, true, false);
    case F_UUID: return check_uuid(s, len);
    case F_REGEX: return as__js_regex_valid(s, len);
    case F_JSON_POINTER: return check_json_pointer(s, len);
    case F_REL_JSON_POINTER: return check_rel_json_pointer(s, len);
    case F_URI_TEMPLATE: return check_uri_template(s, len);
    default: return true;
  }
}
