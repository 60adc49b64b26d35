/*
 * as_pipeline_value.c — pipeline values: spans of the original JSON text
 * until an operator changes them, field paths, exact number comparison,
 * JSON equality and float formatting (see as_pipeline_value.h).
 */
#include "services/as_pipeline_value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"

#define CHUNK_BYTES (16u << 10)
#define KEEP_CHUNK_MAX (64u << 10) /* a reset keeps a first chunk up to this */
#define EQ_MAX_DEPTH 64

/* --- Arena --------------------------------------------------------------- */

struct as_pv_chunk {
  as_pv_chunk *next;
  size_t cap;
  _Alignas(16) char data[];
};

void as_pv_arena_init(as_pv_arena *a) {
  a->head = NULL;
  a->used = 0;
}

void as_pv_arena_reset(as_pv_arena *a) {
  as_pv_chunk *c = a->head, *keep = NULL;
  while (c) {
    as_pv_chunk *n = c->next;
    if (!n && c->cap <= KEEP_CHUNK_MAX) {
      keep = c; /* the oldest chunk, of the default size */
      keep->next = NULL;
    } else {
      as_free(c);
    }
    c = n;
  }
  a->head = keep;
  a->used = 0;
}

void as_pv_arena_free(as_pv_arena *a) {
  for (as_pv_chunk *c = a->head; c;) {
    as_pv_chunk *n = c->next;
    as_free(c);
    c = n;
  }
  a->head = NULL;
  a->used = 0;
}

void *as_pv_alloc(as_pv_arena *a, size_t n) {
  n = AS_ALIGN_UP(n ? n : 1, (size_t)16);
  if (a->head && a->head->cap - a->used >= n) {
    void *p = a->head->data + a->used;
    a->used += n;
    return p;
  }
  size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
  as_pv_chunk *c = as_malloc(sizeof *c + cap);
  if (!c) return NULL;
  c->cap = cap;
  c->next = a->head;
  a->head = c;
  a->used = n;
  return c->data;
}

static char *arena_dup(as_pv_arena *a, const char *s, size_t len) {
  char *p = as_pv_alloc(a, len + 1);
  if (!p) return NULL;
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

/* --- Field paths ------------------------------------------------------- */

as_err as_ppath_parse(const char *s, size_t len, as_ppath *out, const char **why) {
  memset(out, 0, sizeof *out);
  if (len == 0) {
    *why = "must not be empty";
    return AS_EINVAL;
  }
  if (len > AS_PIPELINE_MAX_PATH_LEN) {
    *why = "is longer than 256 bytes";
    return AS_EINVAL;
  }
  if (memchr(s, '\0', len)) {
    *why = "must not contain a NUL character";
    return AS_EINVAL;
  }
  char *t = as_strndup(s, len);
  if (!t) return AS_ENOMEM;
  uint32_t n = 0;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && t[i] != '.') continue;
    if (i == start) {
      as_free(t);
      *why = "has an empty segment (paths are keys separated by single dots)";
      return AS_EINVAL;
    }
    if (n == AS_PIPELINE_MAX_PATH_DEPTH) {
      as_free(t);
      *why = "has more than 16 segments";
      return AS_EINVAL;
    }
    t[i] = '\0';
    out->seg[n] = t + start;
    out->seg_len[n] = (uint32_t)(i - start);
    n++;
    start = i + 1;
  }
  out->text = t;
  out->len = len;
  out->n = n;
  return AS_OK;
}

void as_ppath_free(as_ppath *p) {
  as_free(p->text);
  p->text = NULL;
  p->n = 0;
}

/* --- Values ------------------------------------------------------------- */

typedef struct pv_member {
  as_json_val key; /* the key as a JSON string literal (quotes included) */
  as_pv *val;
} pv_member;

struct as_pv {
  as_json_val raw; /* raw.p != NULL: the value is this span */
  pv_member *m;    /* raw.p == NULL: a materialized object */
  uint32_t n, cap;
};

static as_pv *node_raw(as_pv_arena *a, as_json_val v) {
  as_pv *n = as_pv_alloc(a, sizeof *n);
  if (!n) return NULL;
  memset(n, 0, sizeof *n);
  n->raw = v;
  return n;
}

as_pv *as_pv_from_text(as_pv_arena *a, const char *s, size_t len) {
  return node_raw(a, as_json_root(s, len));
}

as_json_kind as_pv_kind(const as_pv *v) {
  return v->raw.p ? v->raw.kind : AS_JSON_OBJECT;
}

static bool member_is(const pv_member *m, const char *name, size_t len) {
  return as_json_str_eq(m->key, name, len);
}

static pv_member *find_member(const as_pv *obj, const char *name, size_t len) {
  for (uint32_t i = 0; i < obj->n; i++)
    if (member_is(&obj->m[i], name, len)) return &obj->m[i];
  return NULL;
}

/* Turns a raw object into a member list (no-op when already done). */
static as_err materialize(as_pv_arena *a, as_pv *v) {
  if (!v->raw.p) return AS_OK;
  as_json_iter it;
  as_json_val k, val;
  uint32_t n = 0;
  as_json_iter_init(&it, v->raw);
  while (as_json_obj_next(&it, &k, &val)) n++;
  uint32_t cap = n + 4;
  pv_member *m = as_pv_alloc(a, sizeof *m * cap);
  if (!m) return AS_ENOMEM;
  uint32_t i = 0;
  as_json_iter_init(&it, v->raw);
  while (as_json_obj_next(&it, &k, &val)) {
    m[i].key = k;
    if (!(m[i].val = node_raw(a, val))) return AS_ENOMEM;
    i++;
  }
  v->m = m;
  v->n = n;
  v->cap = cap;
  v->raw.p = NULL;
  v->raw.len = 0;
  v->raw.kind = AS_JSON_OBJECT;
  return AS_OK;
}

static as_err add_member(as_pv_arena *a, as_pv *obj, const char *name, size_t len,
                         as_pv *val) {
  if (obj->n == obj->cap) {
    uint32_t cap = obj->cap ? obj->cap * 2 : 4;
    pv_member *m = as_pv_alloc(a, sizeof *m * cap);
    if (!m) return AS_ENOMEM;
    if (obj->n) memcpy(m, obj->m, sizeof *m * obj->n);
    obj->m = m;
    obj->cap = cap;
  }
  as_buf kb;
  as_buf_init(&kb, 0);
  as_json_put_str(&kb, name, len);
  char *key = as_buf_error(&kb) ? NULL : arena_dup(a, kb.data, kb.len);
  size_t klen = kb.len;
  as_buf_free(&kb);
  if (!key) return AS_ENOMEM;
  obj->m[obj->n].key = (as_json_val){key, klen, AS_JSON_STRING};
  obj->m[obj->n].val = val;
  obj->n++;
  return AS_OK;
}

void as_pv_write(const as_pv *v, as_buf *b) {
  if (v->raw.p) {
    as_buf_append(b, v->raw.p, v->raw.len);
    return;
  }
  as_buf_putc(b, '{');
  for (uint32_t i = 0; i < v->n; i++) {
    if (i) as_buf_putc(b, ',');
    as_buf_append(b, v->m[i].key.p, v->m[i].key.len);
    as_buf_putc(b, ':');
    as_pv_write(v->m[i].val, b);
  }
  as_buf_putc(b, '}');
}

bool as_pv_get(as_pv_arena *a, const as_pv *root, const as_ppath *path,
               as_json_val *out, bool *oom) {
  const as_pv *node = root;
  uint32_t i = 0;
  while (!node->raw.p && i < path->n) {
    const pv_member *m = find_member(node, path->seg[i], path->seg_len[i]);
    if (!m) return false;
    node = m->val;
    i++;
  }
  if (i == path->n && !node->raw.p) { /* a changed object: serialize it */
    as_buf b;
    as_buf_init(&b, 0);
    as_pv_write(node, &b);
    char *s = as_buf_error(&b) ? NULL : arena_dup(a, b.data, b.len);
    size_t len = b.len;
    as_buf_free(&b);
    if (!s) {
      *oom = true;
      return false;
    }
    *out = (as_json_val){s, len, AS_JSON_OBJECT};
    return true;
  }
  as_json_val span = node->raw;
  for (; i < path->n; i++)
    if (!as_json_obj_get(span, path->seg[i], &span)) return false;
  *out = span;
  return true;
}

as_err as_pv_set(as_pv_arena *a, as_pv *root, const as_ppath *path, const char *json,
                 size_t len) {
  if (as_pv_kind(root) != AS_JSON_OBJECT) return AS_EINVAL;
  /* Check the whole path first, so a refusal changes nothing. */
  {
    as_json_val span = {0};
    const as_pv *node = root;
    uint32_t i = 0;
    bool raw = false;
    for (; i + 1 < path->n; i++) {
      if (!raw && !node->raw.p) {
        const pv_member *m = find_member(node, path->seg[i], path->seg_len[i]);
        if (!m) break; /* created from here on */
        node = m->val;
        if (as_pv_kind(node) != AS_JSON_OBJECT) return AS_EINVAL;
        continue;
      }
      if (!raw) {
        span = node->raw;
        raw = true;
      }
      if (!as_json_obj_get(span, path->seg[i], &span)) break;
      if (span.kind != AS_JSON_OBJECT) return AS_EINVAL;
    }
  }
  char *copy = arena_dup(a, json, len);
  if (!copy) return AS_ENOMEM;
  as_pv *leaf = node_raw(a, as_json_root(copy, len));
  if (!leaf) return AS_ENOMEM;
  as_pv *node = root;
  for (uint32_t i = 0; i < path->n; i++) {
    if (materialize(a, node)) return AS_ENOMEM;
    pv_member *m = find_member(node, path->seg[i], path->seg_len[i]);
    if (i + 1 == path->n) {
      if (m) {
        m->val = leaf;
        return AS_OK;
      }
      return add_member(a, node, path->seg[i], path->seg_len[i], leaf);
    }
    if (!m) {
      as_pv *obj = node_raw(a, (as_json_val){NULL, 0, AS_JSON_OBJECT});
      if (!obj || add_member(a, node, path->seg[i], path->seg_len[i], obj)) return AS_ENOMEM;
      node = obj;
    } else {
      node = m->val;
    }
  }
  return AS_OK;
}

/* --- Numbers ------------------------------------------------------------ */

/* A JSON number as 0.DIGITS x 10^e, DIGITS = the integer and fraction
 * digits after the leading zeros. */
typedef struct dnum {
  bool neg, zero;
  const char *ip, *fp;
  size_t in, fn, lead;
  int64_t e;
} dnum;

static char digit_at(const dnum *d, size_t i) {
  if (i < d->in) return d->ip[i];
  i -= d->in;
  return i < d->fn ? d->fp[i] : '0';
}

static void dnum_parse(as_json_val v, dnum *d) {
  const char *p = v.p, *end = v.p + v.len;
  memset(d, 0, sizeof *d);
  if (p < end && *p == '-') {
    d->neg = true;
    p++;
  }
  d->ip = p;
  while (p < end && *p >= '0' && *p <= '9') p++;
  d->in = (size_t)(p - d->ip);
  d->fp = p;
  if (p < end && *p == '.') {
    d->fp = ++p;
    while (p < end && *p >= '0' && *p <= '9') p++;
    d->fn = (size_t)(p - d->fp);
  }
  int64_t x = 0;
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    bool eneg = false;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    /* Saturates far beyond any exponent a payload can make meaningful. */
    for (; p < end && *p >= '0' && *p <= '9'; p++)
      if (x < ((int64_t)1 << 50)) x = x * 10 + (*p - '0');
    if (eneg) x = -x;
  }
  size_t total = d->in + d->fn, z = 0;
  while (z < total && digit_at(d, z) == '0') z++;
  d->zero = z == total;
  d->lead = z;
  d->e = (int64_t)(total - z) + x - (int64_t)d->fn;
}

int as_pv_num_cmp(as_json_val a, as_json_val b) {
  dnum x, y;
  dnum_parse(a, &x);
  dnum_parse(b, &y);
  if (x.zero && y.zero) return 0;
  if (x.zero) return y.neg ? 1 : -1;
  if (y.zero) return x.neg ? -1 : 1;
  if (x.neg != y.neg) return x.neg ? -1 : 1;
  int mag = 0; /* |x| vs |y| */
  if (x.e != y.e) {
    mag = x.e < y.e ? -1 : 1;
  } else {
    size_t nx = x.in + x.fn - x.lead, ny = y.in + y.fn - y.lead;
    size_t n = nx > ny ? nx : ny;
    for (size_t i = 0; i < n && !mag; i++) {
      char cx = i < nx ? digit_at(&x, x.lead + i) : '0';
      char cy = i < ny ? digit_at(&y, y.lead + i) : '0';
      if (cx != cy) mag = cx < cy ? -1 : 1;
    }
  }
  return x.neg ? -mag : mag;
}

bool as_pv_to_double(as_pv_arena *a, as_json_val v, double *out) {
  if (v.kind != AS_JSON_NUMBER) return false;
  char small[64];
  char *s = v.len < sizeof small ? small : arena_dup(a, v.p, v.len);
  if (!s) return false;
  if (s == small) {
    memcpy(small, v.p, v.len);
    small[v.len] = '\0';
  }
  *out = strtod(s, NULL);
  return true;
}

void as_pv_put_double(as_buf *b, double d) {
  char s[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(s, sizeof s, "%.*g", prec, d);
    if (strtod(s, NULL) == d) break;
  }
  as_buf_puts(b, s);
  if (!strpbrk(s, ".eEn")) as_buf_puts(b, ".0");
}

/* --- Strings and equality ----------------------------------------------- */

char *as_pv_str(as_pv_arena *a, as_json_val v, size_t *len) {
  char *out = as_pv_alloc(a, v.len + 1);
  if (!out) return NULL;
  as_json_str_decode(v, out, len);
  out[*len] = '\0';
  return out;
}

static bool str_equal(as_pv_arena *a, as_json_val x, as_json_val y, bool *oom) {
  if (x.len == y.len && memcmp(x.p, y.p, x.len) == 0) return true;
  if (!memchr(x.p, '\\', x.len) && !memchr(y.p, '\\', y.len)) return false;
  size_t nx, ny;
  char *sx = as_pv_str(a, x, &nx), *sy = sx ? as_pv_str(a, y, &ny) : NULL;
  if (!sy) {
    *oom = true;
    return false;
  }
  return nx == ny && memcmp(sx, sy, nx) == 0;
}

static bool equal(as_pv_arena *a, as_json_val x, as_json_val y, int depth, bool *oom) {
  if (x.kind != y.kind || depth > EQ_MAX_DEPTH || *oom) return false;
  as_json_iter ix, iy;
  as_json_val kx, vx, ky, vy;
  switch (x.kind) {
    case AS_JSON_NUMBER: return as_pv_num_cmp(x, y) == 0;
    case AS_JSON_STRING: return str_equal(a, x, y, oom);
    case AS_JSON_ARRAY: {
      as_json_iter_init(&ix, x);
      as_json_iter_init(&iy, y);
      for (;;) {
        bool hx = as_json_arr_next(&ix, &vx), hy = as_json_arr_next(&iy, &vy);
        if (hx != hy) return false;
        if (!hx) return true;
        if (!equal(a, vx, vy, depth + 1, oom)) return false;
      }
    }
    case AS_JSON_OBJECT: {
      size_t nx = 0, ny = 0;
      as_json_iter_init(&ix, x);
      while (as_json_obj_next(&ix, &kx, &vx)) nx++;
      as_json_iter_init(&iy, y);
      while (as_json_obj_next(&iy, &ky, &vy)) ny++;
      if (nx != ny) return false;
      as_json_iter_init(&ix, x);
      while (as_json_obj_next(&ix, &kx, &vx)) {
        bool found = false;
        as_json_iter_init(&iy, y);
        while (!found && as_json_obj_next(&iy, &ky, &vy))
          found = str_equal(a, kx, ky, oom);
        if (!found || !equal(a, vx, vy, depth + 1, oom)) return false;
      }
      return true;
    }
    default: return true; /* null, true, false */
  }
}

bool as_pv_equal(as_pv_arena *a, as_json_val x, as_json_val y, bool *oom) {
  return equal(a, x, y, 0, oom);
}

