/*
 * as_jsonschema_value.c — JSON values as JSON Schema sees them: types
 * (1.0 is an integer), exact number comparison between int64 and double,
 * decimal multipleOf, equality where 1 == 1.0 and object order does not
 * matter, and a hash consistent with that equality (for uniqueItems).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/as_jsonschema_int.h"

#define JS_EQ_MAX_DEPTH 2048 /* deeper values compare unequal */

static bool real_is_integral(double d) {
  return isfinite(d) && floor(d) == d;
}

uint32_t as__js_type_bits(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return JS_T_OBJECT;
    case JSON_ARRAY: return JS_T_ARRAY;
    case JSON_STRING: return JS_T_STRING;
    case JSON_INTEGER: return JS_T_NUMBER | JS_T_INTEGER;
    case JSON_REAL:
      return JS_T_NUMBER |
             (real_is_integral(json_real_value(v)) ? JS_T_INTEGER : 0u);
    case JSON_TRUE:
    case JSON_FALSE: return JS_T_BOOLEAN;
    case JSON_NULL: return JS_T_NULL;
  }
  return 0;
}

const char *as__js_type_name(const json_t *v) {
  uint32_t t = as__js_type_bits(v);
  if (t & JS_T_INTEGER) return "integer";
  if (t & JS_T_NUMBER) return "number";
  if (t & JS_T_STRING) return "string";
  if (t & JS_T_OBJECT) return "object";
  if (t & JS_T_ARRAY) return "array";
  if (t & JS_T_BOOLEAN) return "boolean";
  return "null";
}

js_num as__js_num(const json_t *v) {
  js_num n = {0};
  if (json_is_integer(v)) {
    n.is_int = true;
    n.i = (int64_t)json_integer_value(v);
    n.d = (double)n.i;
  } else {
    n.d = json_real_value(v);
  }
  return n;
}

/* Compares an int64 with a double exactly. */
static int cmp_int_double(int64_t i, double d) {
  if (isnan(d)) return 0;
  if (d >= 9223372036854775808.0) return -1;
  if (d < -9223372036854775808.0) return 1;
  double t = trunc(d);
  int64_t ti = (int64_t)t;
  if (i != ti) return i < ti ? -1 : 1;
  double frac = d - t;
  if (frac > 0) return -1;
  if (frac < 0) return 1;
  return 0;
}

int as__js_num_cmp(js_num a, js_num b) {
  if (a.is_int && b.is_int) return a.i < b.i ? -1 : a.i > b.i;
  if (a.is_int) return cmp_int_double(a.i, b.d);
  if (b.is_int) return -cmp_int_double(b.i, a.d);
  return a.d < b.d ? -1 : a.d > b.d;
}

static js_dec dec_norm(js_dec d) {
  if (d.m == 0) {
    d.e = 0;
    d.neg = false;
    return d;
  }
  while (d.m % 10 == 0) {
    d.m /= 10;
    d.e++;
  }
  return d;
}

js_dec as__js_dec(js_num n) {
  js_dec d = {0};
  if (n.is_int) {
    d.ok = true;
    d.neg = n.i < 0;
    d.m = d.neg ? (uint64_t)0 - (uint64_t)n.i : (uint64_t)n.i;
    return dec_norm(d);
  }
  if (!isfinite(n.d)) return d;
  char buf[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*e", prec - 1, n.d);
    if (strtod(buf, NULL) != n.d && prec < 17) continue;
    /* buf = [-]D[.DDD]e[+-]XX */
    const char *p = buf;
    if (*p == '-') {
      d.neg = true;
      p++;
    }
    uint64_t m = 0;
    int digits_after = 0;
    bool after = false;
    for (; *p && *p != 'e'; p++) {
      if (*p == '.') {
        after = true;
        continue;
      }
      m = m * 10 + (uint64_t)(*p - '0');
      if (after) digits_after++;
    }
    /* our own %e output of a finite double: |exponent| <= 324 */
    int ex = (*p == 'e') ? (int)strtol(p + 1, NULL, 10) : 0;
    d.m = m;
    d.e = ex - digits_after;
    d.ok = true;
    return dec_norm(d);
  }
  return d;
}

bool as__js_multiple_of(js_num x, const js_dec *m) {
  if (!m->ok || m->m == 0) return false;
  js_dec xd = as__js_dec(x);
  if (!xd.ok) return false;
  if (xd.m == 0) return true;
  int64_t k = (int64_t)xd.e - (int64_t)m->e;
  if (k >= 0) {
    unsigned __int128 r = xd.m % m->m;
    for (int64_t i = 0; i < k && r != 0; i++) r = (r * 10) % m->m;
    return r == 0;
  }
  if (-k >= 20) return false; /* divisor > 10^19 > any nonzero xd.m */
  unsigned __int128 div = m->m;
  for (int64_t i = 0; i < -k; i++) {
    div *= 10;
    if (div > (unsigned __int128)UINT64_MAX) return false;
  }
  return (unsigned __int128)xd.m % div == 0;
}

static bool equal_rec(const json_t *a, const json_t *b, int depth) {
  if (a == b) return true;
  if (depth > JS_EQ_MAX_DEPTH) return false;
  if (json_is_number(a) && json_is_number(b))
    return as__js_num_cmp(as__js_num(a), as__js_num(b)) == 0;
  if (json_typeof(a) != json_typeof(b)) return false;
  switch (json_typeof(a)) {
    case JSON_STRING: {
      size_t la = json_string_length(a);
      return la == json_string_length(b) &&
             memcmp(json_string_value(a), json_string_value(b), la) == 0;
    }
    case JSON_ARRAY: {
      size_t n = json_array_size(a);
      if (n != json_array_size(b)) return false;
      for (size_t i = 0; i < n; i++)
        if (!equal_rec(json_array_get(a, i), json_array_get(b, i), depth + 1))
          return false;
      return true;
    }
    case JSON_OBJECT: {
      if (json_object_size(a) != json_object_size(b)) return false;
      const char *k;
      size_t klen;
      json_t *va;
      json_object_keylen_foreach((json_t *)a, k, klen, va) {
        json_t *vb = json_object_getn(b, k, klen);
        if (!vb || !equal_rec(va, vb, depth + 1)) return false;
      }
      return true;
    }
    default:
      return true; /* true, false, null */
  }
}

bool as__js_equal(const json_t *a, const json_t *b) {
  return equal_rec(a, b, 0);
}

uint64_t as__js_strhash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

static uint64_t hash_rec(const json_t *v, int depth) {
  if (depth > JS_EQ_MAX_DEPTH) return 0;
  switch (json_typeof(v)) {
    case JSON_INTEGER:
      return mix((uint64_t)json_integer_value(v) ^ 0x1234);
    case JSON_REAL: {
      double d = json_real_value(v);
      if (real_is_integral(d) && d >= -9223372036854775808.0 &&
          d < 9223372036854775808.0)
        return mix((uint64_t)(int64_t)d ^ 0x1234);
      if (d == 0) d = 0; /* -0.0 */
      uint64_t bits;
      memcpy(&bits, &d, sizeof bits);
      return mix(bits ^ 0x5678);
    }
    case JSON_STRING:
      return mix(as__js_strhash(json_string_value(v), json_string_length(v)) ^
                 0x9abc);
    case JSON_ARRAY: {
      uint64_t h = 0xdef0;
      for (size_t i = 0; i < json_array_size(v); i++)
        h = mix(h * 31 + hash_rec(json_array_get(v, i), depth + 1));
      return h;
    }
    case JSON_OBJECT: {
      uint64_t h = 0x1357;
      const char *k;
      size_t klen;
      json_t *e;
      json_object_keylen_foreach((json_t *)v, k, klen, e) {
        h += mix(as__js_strhash(k, klen) * 31 + hash_rec(e, depth + 1));
      }
      return mix(h);
    }
    case JSON_TRUE: return 0x11;
    case JSON_FALSE: return 0x22;
    case JSON_NULL: return 0x33;
  }
  return 0;
}

uint64_t as__js_hash(const json_t *v) { return hash_rec(v, 0); }

bool as__js_count(const json_t *v, uint64_t *out) {
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (uint64_t)json_integer_value(v);
    return true;
  }
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d >= 0 && d < 18446744073709551616.0 && floor(d) == d) {
      *out = (uint64_t)d;
      return true;
    }
  }
  return false;
}

size_t as__js_utf8_len(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (((unsigned char)s[i] & 0xC0u) != 0x80u) n++;
  return n;
}
