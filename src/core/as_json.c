/*
 * as_json.c — strict single-pass JSON validation and span navigation.
 *
 * The validator is an explicit-stack state machine (no recursion), so the
 * depth limit costs one bit per level and hostile input cannot overflow the
 * C stack.  The navigation functions trust their input: they must only see
 * documents the validator accepted.
 */
#include "core/as_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "core/as_swar.h"
#include "core/as_uuid.h"

const char *as_json_kind_name(as_json_kind k) {
  switch (k) {
    case AS_JSON_NULL: return "null";
    case AS_JSON_FALSE:
    case AS_JSON_TRUE: return "boolean";
    case AS_JSON_NUMBER: return "number";
    case AS_JSON_STRING: return "string";
    case AS_JSON_ARRAY: return "array";
    case AS_JSON_OBJECT: return "object";
    case AS_JSON_INVALID: break;
  }
  return "invalid";
}

#define is_ws as_json__is_ws

/* Length of the valid UTF-8 sequence starting at p (lead byte >= 0x80), or 0
 * if invalid or truncated. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t avail = (size_t)(end - p);
  if (c >= 0xc2 && c <= 0xdf) {
    return (avail >= 2 && (p[1] & 0xc0) == 0x80) ? 2 : 0;
  }
  if (c >= 0xe0 && c <= 0xef) {
    if (avail < 3 || (p[2] & 0xc0) != 0x80) return 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f; /* no UTF-16 surrogates */
    return (p[1] >= lo && p[1] <= hi) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (avail < 4 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80) return 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f; /* <= U+10FFFF */
    return (p[1] >= lo && p[1] <= hi) ? 4 : 0;
  }
  return 0;
}

size_t as_utf8_check(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    while (end - p >= 8 && !as_swar_has_high(as_swar_load8(p))) p += 8; /* ASCII */
    if (p >= end) break;
    if (*p < 0x80) {
      p++;
      continue;
    }
    size_t n = utf8_seq(p, end);
    if (!n) return (size_t)(p - (const unsigned char *)s);
    p += n;
  }
  return len;
}

static int hex4(const unsigned char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = p[i], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v << 4 | d;
  }
  *out = v;
  return 0;
}

/* Nonzero if some byte is '"' or '\\'. */
static inline uint64_t has_quote_or_bs(uint64_t x) {
  return as_swar_has_byte(x, '"') | as_swar_has_byte(x, '\\');
}

/* Nonzero if some byte is '"', '\\', a control character or non-ASCII. */
static inline uint64_t has_special(uint64_t x) {
  return has_quote_or_bs(x) | as_swar_has_below(x, 0x20) | as_swar_has_high(x);
}

/* Scans a string starting at the opening quote.  Returns the offset just past
 * the closing quote, or 0 with *msg and *at set on error. */
static size_t scan_string(const unsigned char *s, size_t len, size_t pos,
                          const char **msg, size_t *at) {
  const unsigned char *end = s + len;
  const unsigned char *p = s + pos + 1;
  for (;;) {
    /* Fast path over plain ASCII: eight bytes at a time, then one. */
    while (end - p >= 8 && !has_special(as_swar_load8(p))) p += 8;
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') p++;
    if (p >= end) {
      *msg = "unterminated string";
      *at = len;
      return 0;
    }
    unsigned char c = *p;
    if (c == '"') return (size_t)(p - s) + 1;
    if (c < 0x20) {
      *msg = "control character in string";
      *at = (size_t)(p - s);
      return 0;
    }
    if (c == '\\') {
      if (p + 1 >= end) {
        *msg = "unterminated string";
        *at = len;
        return 0;
      }
      unsigned char e = p[1];
      if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' ||
          e == 'n' || e == 'r' || e == 't') {
        p += 2;
        continue;
      }
      if (e != 'u') {
        *msg = "invalid escape sequence";
        *at = (size_t)(p - s);
        return 0;
      }
      unsigned u;
      if (end - p < 6 || hex4(p + 2, &u)) {
        *msg = "invalid \\u escape";
        *at = (size_t)(p - s);
        return 0;
      }
      if (u >= 0xdc00 && u <= 0xdfff) {
        *msg = "lone low surrogate in \\u escape";
        *at = (size_t)(p - s);
        return 0;
      }
      if (u >= 0xd800 && u <= 0xdbff) {
        unsigned lo;
        if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &lo) ||
            lo < 0xdc00 || lo > 0xdfff) {
          *msg = "lone high surrogate in \\u escape";
          *at = (size_t)(p - s);
          return 0;
        }
        p += 12;
        continue;
      }
      p += 6;
      continue;
    }
    size_t n = utf8_seq(p, end);
    if (!n) {
      *msg = "invalid UTF-8";
      *at = (size_t)(p - s);
      return 0;
    }
    p += n;
  }
}

/* Scans a number; returns the offset past it or 0 on error. */
static size_t scan_number(const unsigned char *s, size_t len, size_t pos) {
  size_t i = pos;
  if (i < len && s[i] == '-') i++;
  if (i >= len) return 0;
  if (s[i] == '0') {
    i++;
  } else if (s[i] >= '1' && s[i] <= '9') {
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
  } else {
    return 0;
  }
  if (i < len && s[i] == '.') {
    i++;
    size_t st = i;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    if (i == st) return 0;
  }
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    size_t st = i;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    if (i == st) return 0;
  }
  return i;
}

#define FAIL(m, o)          \
  do {                      \
    if (e) {                \
      e->msg = (m);         \
      e->offset = (o);      \
    }                       \
    return AS_EJSON;        \
  } while (0)

as_err as_json_validate(const char *src, size_t len, uint32_t max_depth,
                        as_json_kind *kind, as_json_error *e) {
  return as_json_validate_depth(src, len, max_depth, kind, NULL, e);
}

as_err as_json_validate_depth(const char *src, size_t len, uint32_t max_depth,
                              as_json_kind *kind, uint32_t *deepest,
                              as_json_error *e) {
  const unsigned char *s = (const unsigned char *)src;
  uint64_t stack[AS_JSON_MAX_DEPTH_CAP / 64]; /* bit set = object */
  uint32_t depth = 0, max_seen = 0;
  if (max_depth > AS_JSON_MAX_DEPTH_CAP) max_depth = AS_JSON_MAX_DEPTH_CAP;
  size_t i = 0;
  as_json_kind top = AS_JSON_INVALID;
  const char *msg;
  size_t at;

  while (i < len && is_ws(s[i])) i++;

value:
  if (i >= len) FAIL(depth ? "unexpected end of input" : "empty document", i);
  {
    unsigned char c = s[i];
    as_json_kind k = AS_JSON_INVALID;
    switch (c) {
      case '{':
      case '[':
        if (depth >= max_depth) FAIL("nesting too deep", i);
        if (c == '{')
          stack[depth / 64] |= (uint64_t)1 << (depth % 64);
        else
          stack[depth / 64] &= ~((uint64_t)1 << (depth % 64));
        if (depth == 0) top = c == '{' ? AS_JSON_OBJECT : AS_JSON_ARRAY;
        depth++;
        if (depth > max_seen) max_seen = depth;
        i++;
        while (i < len && is_ws(s[i])) i++;
        if (c == '{') {
          if (i < len && s[i] == '}') {
            depth--;
            i++;
            goto after_value;
          }
          goto key;
        }
        if (i < len && s[i] == ']') {
          depth--;
          i++;
          goto after_value;
        }
        goto value;
      case '"': {
        size_t n = scan_string(s, len, i, &msg, &at);
        if (!n) FAIL(msg, at);
        i = n;
        k = AS_JSON_STRING;
        break;
      }
      case 't':
        if (len - i < 4 || memcmp(s + i, "true", 4)) FAIL("invalid literal", i);
        i += 4;
        k = AS_JSON_TRUE;
        break;
      case 'f':
        if (len - i < 5 || memcmp(s + i, "false", 5))
          FAIL("invalid literal", i);
        i += 5;
        k = AS_JSON_FALSE;
        break;
      case 'n':
        if (len - i < 4 || memcmp(s + i, "null", 4)) FAIL("invalid literal", i);
        i += 4;
        k = AS_JSON_NULL;
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          size_t n = scan_number(s, len, i);
          if (!n) FAIL("invalid number", i);
          i = n;
          k = AS_JSON_NUMBER;
          break;
        }
        if (c >= 0x80 && !utf8_seq(s + i, s + len)) FAIL("invalid UTF-8", i);
        FAIL("unexpected character", i);
    }
    if (depth == 0) top = k;
  }

after_value:
  while (i < len && is_ws(s[i])) i++;
  if (depth == 0) {
    if (i != len) FAIL("trailing characters after the JSON value", i);
    if (kind) *kind = top;
    if (deepest) *deepest = max_seen;
    return AS_OK;
  }
  if (i >= len) FAIL("unexpected end of input", i);
  {
    bool in_obj = (stack[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
    unsigned char c = s[i];
    if (c == ',') {
      i++;
      while (i < len && is_ws(s[i])) i++;
      if (in_obj) goto key;
      goto value;
    }
    if ((c == '}' && in_obj) || (c == ']' && !in_obj)) {
      depth--;
      i++;
      goto after_value;
    }
    FAIL(in_obj ? "expected ',' or '}'" : "expected ',' or ']'", i);
  }

key:
  if (i >= len) FAIL("unexpected end of input", i);
  if (s[i] != '"') FAIL("expected a string key", i);
  {
    size_t n = scan_string(s, len, i, &msg, &at);
    if (!n) FAIL(msg, at);
    i = n;
  }
  while (i < len && is_ws(s[i])) i++;
  if (i >= len || s[i] != ':') FAIL("expected ':'", i);
  i++;
  while (i < len && is_ws(s[i])) i++;
  goto value;
}

#undef FAIL

/* --- Navigation ------------------------------------------------------- */

#define kind_of as_json__kind_of

/* End of the value starting at pos (validated input). */
/* In a validated document: the index just past the string whose opening
 * quote is at s[i]. */
static size_t skip_string(const char *s, size_t len, size_t i) {
  const unsigned char *u = (const unsigned char *)s;
  i++;
  for (;;) {
#ifdef __SSE2__
    /* 16 bytes per step (x86-64 always has SSE2): long string values
     * (payload text) are most of what state rebuilds and parses skip */
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    while (len - i >= 16) {
      __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
      unsigned m = (unsigned)_mm_movemask_epi8(
          _mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)));
      if (m) {
        i += (size_t)__builtin_ctz(m);
        goto found;
      }
      i += 16;
    }
#endif
    while (len - i >= 8 && !has_quote_or_bs(as_swar_load8(u + i))) i += 8;
    while (i < len && s[i] != '"' && s[i] != '\\') i++;
#ifdef __SSE2__
  found:
#endif
    if (i >= len) return len;
    if (s[i] == '"') return i + 1;
    i += 2; /* an escape: its next byte is never the closing quote */
    if (i >= len) return len;
  }
}

static size_t skip_value(const char *s, size_t len, size_t pos) {
  size_t i = pos;
  unsigned char c = (unsigned char)s[i];
  if (c == '"') return skip_string(s, len, i);
  if (c == '{' || c == '[') {
    size_t depth = 0;
    while (i < len) {
      c = (unsigned char)s[i];
      if (c == '"') {
        i = skip_string(s, len, i);
        continue;
      }
      if (c == '{' || c == '[') depth++;
      else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      i++;
    }
    return len;
  }
  /* literal or number: up to a delimiter */
  while (i < len) {
    c = (unsigned char)s[i];
    if (c == ',' || c == '}' || c == ']' || is_ws(c)) break;
    i++;
  }
  return i;
}


void as_json_iter_init(as_json_iter *it, as_json_val v) {
  it->s = v.p;
  it->pos = 1;
  it->end = v.len ? v.len - 1 : 0;
  it->first = true;
}

static void iter_ws(as_json_iter *it) {
  while (it->pos < it->end && is_ws((unsigned char)it->s[it->pos])) it->pos++;
}

static bool iter_advance(as_json_iter *it) {
  iter_ws(it);
  if (it->pos >= it->end) return false;
  /* a container opened by as_json_arr_next_open ends at its bracket (its
   * end is only a bound); elsewhere a closing bracket is never reached
   * before end */
  unsigned char c = (unsigned char)it->s[it->pos];
  if (c == '}' || c == ']') return false;
  if (!it->first) {
    if (it->s[it->pos] != ',') return false;
    it->pos++;
    iter_ws(it);
  }
  it->first = false;
  return it->pos < it->end;
}

/* Writes the value at the cursor straight into *v: returning the struct
 * by value made the callers copy it from a stack temporary written by
 * narrower stores (a store-forwarding stall: most of as_json_obj_next's
 * time in state reconstruction). */
static inline void take_value(as_json_iter *it, as_json_val *v) {
  size_t start = it->pos;
  size_t end = skip_value(it->s, it->end, start);
  v->p = it->s + start;
  v->len = end - start;
  v->kind = kind_of((unsigned char)it->s[start]);
  it->pos = end;
}

bool as_json_obj_next(as_json_iter *it, as_json_val *key, as_json_val *val) {
  if (!iter_advance(it)) return false;
  take_value(it, key);
  iter_ws(it);
  it->pos++; /* ':' */
  iter_ws(it);
  take_value(it, val);
  return true;
}

bool as_json_arr_next(as_json_iter *it, as_json_val *val) {
  if (!iter_advance(it)) return false;
  take_value(it, val);
  return true;
}

bool as_json_arr_next_open(as_json_iter *it, as_json_val *val) {
  if (!iter_advance(it)) return false;
  unsigned char c = (unsigned char)it->s[it->pos];
  if (c != '{' && c != '[') {
    take_value(it, val);
    return true;
  }
  val->p = it->s + it->pos;
  val->len = it->end - it->pos;
  val->kind = kind_of(c);
  return true;
}

void as_json_iter_past(as_json_iter *it, const as_json_val *val, size_t len) {
  it->pos = (size_t)(val->p - it->s) + len;
}

void as_json_iter_skip(as_json_iter *it, const as_json_val *val) {
  size_t start = (size_t)(val->p - it->s);
  it->pos = skip_value(it->s, it->end, start);
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

void as_json_str_decode(as_json_val v, char *out, size_t *out_len) {
  const unsigned char *p = (const unsigned char *)v.p + 1;
  const unsigned char *end = (const unsigned char *)v.p + v.len - 1;
  size_t o = 0;
  while (p < end) {
    if (*p != '\\') {
      out[o++] = (char)*p++;
      continue;
    }
    unsigned char e = p[1];
    p += 2;
    switch (e) {
      case 'b': out[o++] = '\b'; break;
      case 'f': out[o++] = '\f'; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      case 'u': {
        unsigned u = 0, lo = 0;
        hex4(p, &u);
        p += 4;
        if (u >= 0xd800 && u <= 0xdbff) {
          hex4(p + 2, &lo);
          p += 6;
          u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }
        o += put_utf8(out + o, u);
        break;
      }
      default: out[o++] = (char)e; break; /* " \ / */
    }
  }
  *out_len = o;
}

bool as_json_str_eq(as_json_val v, const char *name, size_t name_len) {
  if (v.kind != AS_JSON_STRING || v.len < 2) return false;
  /* Fast path: no escapes. */
  if (!memchr(v.p, '\\', v.len))
    return v.len - 2 == name_len && memcmp(v.p + 1, name, name_len) == 0;
  if (v.len - 2 < name_len) return false;
  char small[256];
  char *buf = v.len <= sizeof small ? small : malloc(v.len);
  if (!buf) return false;
  size_t n;
  as_json_str_decode(v, buf, &n);
  bool eq = n == name_len && memcmp(buf, name, n) == 0;
  if (buf != small) free(buf);
  return eq;
}

bool as_json_obj_get(as_json_val obj, const char *name, as_json_val *val) {
  if (obj.kind != AS_JSON_OBJECT) return false;
  as_json_iter it;
  as_json_val k, v;
  size_t nlen = strlen(name);
  as_json_iter_init(&it, obj);
  while (as_json_obj_next(&it, &k, &v)) {
    if (as_json_str_eq(k, name, nlen)) {
      *val = v;
      return true;
    }
  }
  return false;
}

as_err as_json_to_u64(as_json_val v, uint64_t *out) {
  if (v.kind != AS_JSON_NUMBER || v.len == 0 || v.len > 20) return AS_EINVAL;
  uint64_t x = 0;
  for (size_t i = 0; i < v.len; i++) {
    char c = v.p[i];
    if (c < '0' || c > '9') return AS_EINVAL;
    uint64_t d = (uint64_t)(c - '0');
    if (x > (UINT64_MAX - d) / 10) return AS_EINVAL;
    x = x * 10 + d;
  }
  *out = x;
  return AS_OK;
}

as_err as_json_to_i64(as_json_val v, int64_t *out) {
  if (v.kind != AS_JSON_NUMBER || v.len == 0) return AS_EINVAL;
  bool neg = v.p[0] == '-';
  as_json_val u = {v.p + neg, v.len - neg, AS_JSON_NUMBER};
  uint64_t x;
  if (as_json_to_u64(u, &x)) return AS_EINVAL;
  if (neg) {
    if (x > (uint64_t)INT64_MAX + 1) return AS_EINVAL;
    *out = (int64_t)(0 - x);
  } else {
    if (x > (uint64_t)INT64_MAX) return AS_EINVAL;
    *out = (int64_t)x;
  }
  return AS_OK;
}

as_err as_json_to_double(as_json_val v, double *out) {
  if (v.kind != AS_JSON_NUMBER || v.len == 0 || v.len > 400) return AS_EINVAL;
  char tmp[401];
  memcpy(tmp, v.p, v.len);
  tmp[v.len] = '\0';
  *out = strtod(tmp, NULL);
  return AS_OK;
}

/* --- Writing ---------------------------------------------------------- */

as_err as_json_put_str(as_buf *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  if (as_buf_reserve(b, len + 2)) return b->err;
  as_buf_putc(b, '"');
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    as_buf_append(b, s + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', 0};
    switch (c) {
      case '"': esc[1] = '"'; break;
      case '\\': esc[1] = '\\'; break;
      case '\n': esc[1] = 'n'; break;
      case '\r': esc[1] = 'r'; break;
      case '\t': esc[1] = 't'; break;
      case '\b': esc[1] = 'b'; break;
      case '\f': esc[1] = 'f'; break;
      default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        as_buf_append(b, esc, 6);
        continue;
    }
    as_buf_append(b, esc, 2);
  }
  as_buf_append(b, s + run, len - run);
  return as_buf_putc(b, '"');
}

as_err as_json_put_one_line(as_buf *b, const char *s, size_t len) {
  size_t start = b->len;
  if (as_buf_append(b, s, len)) return b->err;
  for (size_t i = start; i < b->len; i++)
    if (b->data[i] == '\n' || b->data[i] == '\r') b->data[i] = ' ';
  return AS_OK;
}

as_err as_json_put_time(as_buf *b, int64_t t_us) {
  char ts[32];
  size_t n = as_time_format(t_us, ts);
  as_buf_putc(b, '"');
  as_buf_append(b, ts, n);
  return as_buf_putc(b, '"');
}

as_err as_json_put_uuid(as_buf *b, const uint8_t id[16]) {
  char s[37];
  as_uuid_format(id, s);
  as_buf_putc(b, '"');
  as_buf_append(b, s, 36);
  return as_buf_putc(b, '"');
}
