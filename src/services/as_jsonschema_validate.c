/*
 * as_jsonschema_validate.c — evaluation of a compiled schema on an instance.
 *
 * Evaluation is a recursive walk over (node, instance) pairs.  All state of
 * one validation lives in a js_vctx and in frames on the C stack:
 *   - the instance path and the keyword (evaluation) path are linked lists
 *     of segments on the stack, turned into JSON pointers only when an
 *     error is reported, so a passing validation builds no strings;
 *   - the dynamic scope (for $dynamicRef) is a linked list of resources;
 *   - annotations for unevaluatedProperties/Items are bitsets over the
 *     instance's members/items, collected only below a node that has an
 *     unevaluated* keyword (js_ev; NULL everywhere else, so they cost
 *     nothing when unused).  A subschema's annotations reach its parent
 *     only when the subschema passed.
 * Limits: nesting depth (max_depth), total node evaluations (max_steps),
 * and a cycle check: the same node on the same instance already being
 * evaluated further up (e.g. {"$ref": "#"}) fails instead of recursing.
 * Sub-evaluations whose errors would not be reported (anyOf/oneOf/not/if
 * branches, contains) run "quiet" and stop at their first failure.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "services/as_jsonschema_int.h"

#define EV_INLINE_WORDS 4

typedef struct js_seg {
  const struct js_seg *up;
  const char *s; /* NULL: array index */
  size_t len;
  size_t idx;
} js_seg;

typedef struct js_scope {
  const struct js_scope *up;
  uint32_t res;
} js_scope;

typedef struct js_frame {
  const struct js_frame *up;
  uint32_t node;
  const json_t *inst;
} js_frame;

typedef struct js_pos {
  const js_seg *ip;      /* instance path */
  const js_seg *kp;      /* keyword path */
  const js_scope *scope; /* dynamic scope */
  const js_frame *fr;    /* evaluation stack (cycle check) */
  bool quiet;
} js_pos;

/* Evaluated members (objects) or items (arrays) of one instance. */
typedef struct js_ev {
  uint64_t *bits;
  size_t n;
  uint64_t inl[EV_INLINE_WORDS];
} js_ev;

typedef struct js_vctx {
  const as_jsonschema *s;
  as_jsonschema_result *res; /* NULL: verdict only */
  uint64_t steps;
  uint32_t depth;
  bool aborted, oom, full;
  pcre2_match_data *md;
} js_vctx;

/* --- Annotation bitsets ------------------------------------------------- */

static bool ev_init(js_vctx *c, js_ev *ev, const json_t *inst) {
  size_t n = json_is_object(inst) ? json_object_size(inst)
             : json_is_array(inst) ? json_array_size(inst)
                                   : 0;
  size_t words = (n + 63) / 64;
  ev->n = n;
  memset(ev->inl, 0, sizeof ev->inl);
  ev->bits = ev->inl;
  if (words > EV_INLINE_WORDS) {
    ev->bits = as_calloc(words, sizeof(uint64_t));
    if (!ev->bits) {
      ev->bits = ev->inl;
      ev->n = 0;
      c->oom = true;
      return false;
    }
  }
  return true;
}

static void ev_free(js_ev *ev) {
  if (ev->bits != ev->inl) as_free(ev->bits);
}

static void ev_set(js_ev *ev, size_t i) {
  if (ev && i < ev->n) ev->bits[i / 64] |= 1ull << (i % 64);
}

static bool ev_test(const js_ev *ev, size_t i) {
  return i < ev->n && (ev->bits[i / 64] >> (i % 64)) & 1u;
}

static void ev_merge(js_ev *dst, const js_ev *src) {
  size_t words = (AS_MIN(dst->n, src->n) + 63) / 64;
  for (size_t i = 0; i < words; i++) dst->bits[i] |= src->bits[i];
}

/* --- Error reporting ---------------------------------------------------- */

static void put_path(as_buf *b, const js_seg *seg) {
  const js_seg *stack[64];
  size_t n = 0, total = 0;
  for (const js_seg *s = seg; s; s = s->up) total++;
  /* Deep paths: emit the outer part recursively in chunks of 64. */
  if (total > 64) {
    const js_seg *s = seg;
    for (size_t i = 0; i < 64; i++) s = s->up;
    put_path(b, s);
  }
  for (const js_seg *s = seg; s && n < 64; s = s->up) stack[n++] = s;
  while (n--) {
    const js_seg *s = stack[n];
    if (s->s) {
      as__js_ptr_append(b, s->s, s->len);
    } else {
      as_buf_putc(b, '/');
      as_buf_put_u64(b, s->idx);
    }
  }
}

static void report(js_vctx *c, const js_pos *p, const char *kw,
                   const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void report(js_vctx *c, const js_pos *p, const char *kw,
                   const char *loc, const char *fmt, ...) {
  as_jsonschema_result *r = c->res;
  if (!r || (p->quiet && !c->aborted)) return;
  if (r->n_errors >= c->s->max_errors) {
    r->truncated = true;
    c->full = true;
    return;
  }
  if (r->n_errors == r->_cap) {
    size_t ncap = r->_cap ? r->_cap * 2 : 8;
    as_jsonschema_error *ne = as_realloc(r->errors, ncap * sizeof *ne);
    if (!ne) {
      c->oom = true;
      return;
    }
    r->errors = ne;
    r->_cap = ncap;
  }
  /* One allocation: instance_path \0 keyword_path \0 schema_uri \0 msg \0 */
  as_buf b;
  as_buf_init(&b, 1u << 16);
  size_t o_kp, o_su, o_msg;
  put_path(&b, p->ip);
  as_buf_putc(&b, '\0');
  o_kp = b.len;
  put_path(&b, p->kp);
  if (kw) as__js_ptr_append(&b, kw, strlen(kw));
  as_buf_putc(&b, '\0');
  o_su = b.len;
  as_buf_puts(&b, loc ? loc : "");
  if (kw) as__js_ptr_append(&b, kw, strlen(kw));
  as_buf_putc(&b, '\0');
  o_msg = b.len;
  va_list ap;
  va_start(ap, fmt);
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  as_buf_puts(&b, msg);
  if (as_buf_error(&b) != AS_OK) {
    /* Paths beyond the cap (absurdly long keys) drop the error. */
    if (as_buf_error(&b) == AS_ENOMEM) c->oom = true;
    else r->truncated = true;
    as_buf_free(&b);
    return;
  }
  char *mem = as_buf_detach(&b, NULL);
  if (!mem) {
    c->oom = true;
    return;
  }
  as_jsonschema_error *e = &r->errors[r->n_errors++];
  e->instance_path = mem;
  e->keyword_path = mem + o_kp;
  e->schema_uri = mem + o_su;
  e->message = mem + o_msg;
}

static void abort_eval(js_vctx *c, const js_pos *p, const char *loc,
                       const char *what, uint64_t limit) {
  if (c->aborted) return;
  c->aborted = true;
  report(c, p, NULL, loc, "%s (%" PRIu64 ") exceeded; validation stopped",
         what, limit);
}

static void num_str(js_num n, char *buf, size_t len) {
  if (n.is_int) {
    snprintf(buf, len, "%" PRId64, n.i);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, len, "%.*g", prec, n.d);
    if (strtod(buf, NULL) == n.d) return;
  }
}

static void types_str(uint32_t mask, char *buf, size_t len) {
  static const struct { uint32_t bit; const char *name; } k[] = {
      {JS_T_NULL, "null"},     {JS_T_BOOLEAN, "boolean"},
      {JS_T_OBJECT, "object"}, {JS_T_ARRAY, "array"},
      {JS_T_NUMBER, "number"}, {JS_T_INTEGER, "integer"},
      {JS_T_STRING, "string"}};
  size_t o = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < AS_ARRAY_LEN(k); i++) {
    if (!(mask & k[i].bit)) continue;
    if (k[i].bit == JS_T_INTEGER && (mask & JS_T_NUMBER)) continue;
    int w = snprintf(buf + o, len - o, "%s%s", o ? " or " : "", k[i].name);
    if (w < 0 || (size_t)w >= len - o) break;
    o += (size_t)w;
  }
}

/* Short JSON text of a value for messages (caller frees with free()). */
static char *short_json(const json_t *v) {
  char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (t && strlen(t) > 60) memcpy(t + 57, "...", 4); /* 4: with the NUL */
  return t;
}

/* --- Evaluation --------------------------------------------------------- */

static bool eval(js_vctx *c, uint32_t idx, const json_t *inst,
                 const js_pos *p, js_ev *ev);

/* Evaluates `node` on `inst`, one path segment deeper in each path.  `ik`
 * (with length `iklen`) or `ii` names the instance member/item (ik == NULL
 * and ii == SIZE_MAX: same instance); `k1`/`k2` or `ki` extend the keyword
 * path. */
typedef struct js_step {
  const char *ik;
  size_t iklen;
  size_t ii;
  const char *k1;
  const char *k2;
  size_t k2len;
  size_t ki; /* SIZE_MAX: none */
  bool quiet;
} js_step;

static bool eval_child(js_vctx *c, uint32_t node, const json_t *inst,
                       const js_pos *p, const js_step *st, js_ev *ev) {
  js_seg iseg, kseg1, kseg2;
  js_pos np = *p;
  if (st->ik || st->ii != SIZE_MAX) {
    iseg = (js_seg){p->ip, st->ik, st->iklen, st->ii};
    np.ip = &iseg;
  }
  kseg1 = (js_seg){p->kp, st->k1, strlen(st->k1), 0};
  np.kp = &kseg1;
  if (st->k2) {
    kseg2 = (js_seg){&kseg1, st->k2, st->k2len, 0};
    np.kp = &kseg2;
  } else if (st->ki != SIZE_MAX) {
    kseg2 = (js_seg){&kseg1, NULL, 0, st->ki};
    np.kp = &kseg2;
  }
  np.quiet = p->quiet || st->quiet;
  return eval(c, node, inst, &np, ev);
}

static js_step step_kw(const char *k1, bool quiet) {
  return (js_step){NULL, 0, SIZE_MAX, k1, NULL, 0, SIZE_MAX, quiet};
}

static bool match_re(js_vctx *c, const js_regex *re, const char *s, size_t len,
                     int *out) {
  if (!c->md) {
    c->md = pcre2_match_data_create(1, c->s->gctx);
    if (!c->md) {
      c->oom = true;
      return false;
    }
  }
  *out = as__js_regex_match(re, s, len, c->md, c->s->mctx);
  return true;
}

static const js_prop *find_prop(const js_kw *kw, const char *k, size_t klen) {
  if (!kw->u.obj.n_props) return NULL;
  uint64_t h = as__js_strhash(k, klen);
  uint32_t slot = (uint32_t)h & kw->u.obj.mask;
  while (kw->u.obj.table[slot]) {
    const js_prop *p = &kw->u.obj.props[kw->u.obj.table[slot] - 1];
    if (p->hash == h && p->len == klen && memcmp(p->name, k, klen) == 0)
      return p;
    slot = (slot + 1) & kw->u.obj.mask;
  }
  return NULL;
}

static bool kw_object(js_vctx *c, const js_node *n, const js_kw *kw,
                      const json_t *inst, const js_pos *p, js_ev *ev) {
  bool ok = true;
  size_t i = 0;
  const as_jsonschema *s = c->s;
  for (void *it = json_object_iter((json_t *)inst); it;
       it = json_object_iter_next((json_t *)inst, it), i++) {
    const char *k = json_object_iter_key(it);
    size_t klen = json_object_iter_key_len(it);
    const json_t *v = json_object_iter_value(it);
    bool matched = false;
    const js_prop *pr = find_prop(kw, k, klen);
    if (pr) {
      js_step st = {k, klen, SIZE_MAX, "properties", k, klen, SIZE_MAX, false};
      matched = true;
      if (!eval_child(c, pr->node, v, p, &st, NULL)) {
        ok = false;
        if (p->quiet || c->full || c->aborted) return false;
      }
    }
    for (uint32_t j = 0; j < kw->u.obj.n_pats; j++) {
      const js_patprop *pp = &kw->u.obj.pats[j];
      int m;
      if (!match_re(c, &pp->re, k, klen, &m)) return false;
      if (m < 0) {
        report(c, p, "patternProperties", n->location,
               "pattern \"%s\" exceeded the regex resource limit on key \"%s\"",
               pp->re.source, k);
        ok = false;
        continue;
      }
      if (!m) continue;
      matched = true;
      js_step st = {k, klen, SIZE_MAX, "patternProperties", pp->re.source,
                    strlen(pp->re.source), SIZE_MAX, false};
      if (!eval_child(c, pp->node, v, p, &st, NULL)) {
        ok = false;
        if (p->quiet || c->full || c->aborted) return false;
      }
    }
    if (!matched && kw->u.obj.additional != JS_NONE) {
      matched = true;
      const js_node *an = &s->nodes[kw->u.obj.additional];
      if (an->boolean == 2) {
        js_seg iseg = {p->ip, k, klen, 0};
        js_pos np = *p;
        np.ip = &iseg;
        report(c, &np, "additionalProperties", n->location,
               "additional property \"%s\" is not allowed", k);
        ok = false;
        if (p->quiet || c->full) return false;
      } else {
        js_step st = {k, klen, SIZE_MAX, "additionalProperties", NULL, 0,
                      SIZE_MAX, false};
        if (!eval_child(c, kw->u.obj.additional, v, p, &st, NULL)) {
          ok = false;
          if (p->quiet || c->full || c->aborted) return false;
        }
      }
    }
    if (matched) ev_set(ev, i);
  }
  return ok;
}

typedef struct js_hi {
  uint64_t h;
  size_t i;
} js_hi;

static int hi_cmp(const void *x, const void *y) {
  const js_hi *a = x, *b = y;
  if (a->h != b->h) return a->h < b->h ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

/* Finds two equal items: O(n^2) for short arrays, hash + sort otherwise. */
static bool kw_unique(js_vctx *c, const js_node *n, const json_t *inst,
                      const js_pos *p) {
  size_t cnt = json_array_size(inst);
  size_t a = 0, b = 0;
  bool dup = false;
  if (cnt < 2) return true;
  if (cnt <= 16) {
    for (size_t x = 0; x < cnt && !dup; x++)
      for (size_t y = x + 1; y < cnt; y++)
        if (as__js_equal(json_array_get(inst, x), json_array_get(inst, y))) {
          dup = true;
          a = x;
          b = y;
          break;
        }
  } else {
    js_hi *v = as_malloc(cnt * sizeof *v);
    if (!v) {
      c->oom = true;
      return false;
    }
    for (size_t i = 0; i < cnt; i++)
      v[i] = (js_hi){as__js_hash(json_array_get(inst, i)), i};
    qsort(v, cnt, sizeof *v, hi_cmp);
    for (size_t x = 0; x < cnt && !dup; x++)
      for (size_t y = x + 1; y < cnt && v[y].h == v[x].h; y++)
        if (as__js_equal(json_array_get(inst, v[x].i),
                         json_array_get(inst, v[y].i))) {
          dup = true;
          a = AS_MIN(v[x].i, v[y].i);
          b = AS_MAX(v[x].i, v[y].i);
          break;
        }
    as_free(v);
  }
  if (dup) {
    report(c, p, "uniqueItems", n->location,
           "items at index %zu and %zu are equal", a, b);
    return false;
  }
  return true;
}

static bool eval_kw(js_vctx *c, const js_node *n, const js_kw *kw,
                    const json_t *inst, const js_pos *p, js_ev *ev,
                    uint32_t tbits) {
  const as_jsonschema *s = c->s;
  char b1[64], b2[64];
  switch (kw->kind) {
    case JS_KW_TYPE:
      if (kw->u.types & tbits) return true;
      types_str(kw->u.types, b1, sizeof b1);
      report(c, p, "type", n->location, "expected %s, got %s", b1,
             as__js_type_name(inst));
      return false;

    case JS_KW_CONST:
      if (as__js_equal(inst, kw->u.value)) return true;
      if (c->res && !p->quiet) {
        char *t = short_json(kw->u.value);
        report(c, p, "const", n->location, "value must be %s", t ? t : "?");
        free(t);
      }
      return false;

    case JS_KW_ENUM:
      for (size_t i = 0; i < json_array_size(kw->u.value); i++)
        if (as__js_equal(inst, json_array_get(kw->u.value, i))) return true;
      if (c->res && !p->quiet) {
        char *t = short_json(kw->u.value);
        report(c, p, "enum", n->location, "value must be one of %s",
               t ? t : "?");
        free(t);
      }
      return false;

    case JS_KW_MULTIPLE_OF:
    case JS_KW_MAXIMUM:
    case JS_KW_EXCL_MAXIMUM:
    case JS_KW_MINIMUM:
    case JS_KW_EXCL_MINIMUM: {
      if (!(tbits & JS_T_NUMBER)) return true;
      js_num x = as__js_num(inst);
      bool ok;
      const char *what;
      if (kw->kind == JS_KW_MULTIPLE_OF) {
        ok = as__js_multiple_of(x, &kw->u.num.dec);
        what = "is not a multiple of";
      } else {
        int r = as__js_num_cmp(x, kw->u.num.n);
        switch (kw->kind) {
          case JS_KW_MAXIMUM: ok = r <= 0; what = "is greater than the maximum"; break;
          case JS_KW_EXCL_MAXIMUM: ok = r < 0; what = "is not less than the exclusive maximum"; break;
          case JS_KW_MINIMUM: ok = r >= 0; what = "is less than the minimum"; break;
          default: ok = r > 0; what = "is not greater than the exclusive minimum"; break;
        }
      }
      if (ok) return true;
      num_str(x, b1, sizeof b1);
      num_str(kw->u.num.n, b2, sizeof b2);
      report(c, p, kw->name, n->location, "%s %s %s", b1, what, b2);
      return false;
    }

    case JS_KW_MAX_LENGTH:
    case JS_KW_MIN_LENGTH: {
      if (!(tbits & JS_T_STRING)) return true;
      size_t len = as__js_utf8_len(json_string_value(inst),
                                   json_string_length(inst));
      if (kw->kind == JS_KW_MAX_LENGTH ? len <= kw->u.count : len >= kw->u.count)
        return true;
      report(c, p, kw->name, n->location,
             "string has %zu characters, %s %" PRIu64, len,
             kw->kind == JS_KW_MAX_LENGTH ? "more than the maximum"
                                          : "fewer than the minimum",
             kw->u.count);
      return false;
    }

    case JS_KW_PATTERN: {
      if (!(tbits & JS_T_STRING)) return true;
      int m;
      if (!match_re(c, &kw->u.re, json_string_value(inst),
                    json_string_length(inst), &m))
        return false;
      if (m == 1) return true;
      if (m < 0)
        report(c, p, "pattern", n->location,
               "pattern \"%s\" exceeded the regex resource limit",
               kw->u.re.source);
      else
        report(c, p, "pattern", n->location,
               "string does not match pattern \"%s\"", kw->u.re.source);
      return false;
    }

    case JS_KW_FORMAT:
      if (!(tbits & JS_T_STRING)) return true;
      if (as__js_format_check(kw->u.fmt.id, json_string_value(inst),
                              json_string_length(inst)))
        return true;
      report(c, p, "format", n->location, "string is not a valid %s",
             kw->u.fmt.name);
      return false;

    case JS_KW_MAX_ITEMS:
    case JS_KW_MIN_ITEMS:
    case JS_KW_MAX_PROPERTIES:
    case JS_KW_MIN_PROPERTIES: {
      bool arr = kw->kind == JS_KW_MAX_ITEMS || kw->kind == JS_KW_MIN_ITEMS;
      if (!(tbits & (arr ? JS_T_ARRAY : JS_T_OBJECT))) return true;
      size_t cnt = arr ? json_array_size(inst) : json_object_size(inst);
      bool max = kw->kind == JS_KW_MAX_ITEMS || kw->kind == JS_KW_MAX_PROPERTIES;
      if (max ? cnt <= kw->u.count : cnt >= kw->u.count) return true;
      report(c, p, kw->name, n->location, "%s has %zu %s, %s %" PRIu64,
             arr ? "array" : "object", cnt, arr ? "items" : "properties",
             max ? "more than the maximum" : "fewer than the minimum",
             kw->u.count);
      return false;
    }

    case JS_KW_UNIQUE_ITEMS:
      if (!(tbits & JS_T_ARRAY)) return true;
      return kw_unique(c, n, inst, p);

    case JS_KW_REQUIRED: {
      if (!(tbits & JS_T_OBJECT)) return true;
      bool ok = true;
      for (uint32_t i = 0; i < kw->u.req.n; i++) {
        if (json_object_getn(inst, kw->u.req.s[i], kw->u.req.len[i])) continue;
        ok = false;
        if (p->quiet) break;
        report(c, p, "required", n->location,
               "missing required property \"%s\"", kw->u.req.s[i]);
      }
      return ok;
    }

    case JS_KW_DEP_REQUIRED: {
      if (!(tbits & JS_T_OBJECT)) return true;
      bool ok = true;
      for (uint32_t i = 0; i < kw->u.dep.n; i++) {
        const js_dep *d = &kw->u.dep.deps[i];
        if (!json_object_getn(inst, d->name, d->len)) continue;
        for (uint32_t k = 0; k < d->req.n; k++) {
          if (json_object_getn(inst, d->req.s[k], d->req.len[k])) continue;
          ok = false;
          if (p->quiet) return false;
          report(c, p, kw->name, n->location,
                 "property \"%s\" is required when \"%s\" is present",
                 d->req.s[k], d->name);
        }
      }
      return ok;
    }

    case JS_KW_DEP_SCHEMAS: {
      if (!(tbits & JS_T_OBJECT)) return true;
      bool ok = true;
      for (uint32_t i = 0; i < kw->u.dep.n; i++) {
        const js_dep *d = &kw->u.dep.deps[i];
        if (!json_object_getn(inst, d->name, d->len)) continue;
        js_step st = {NULL, 0, SIZE_MAX, kw->name, d->name, d->len, SIZE_MAX,
                      false};
        if (!eval_child(c, d->node, inst, p, &st, ev)) {
          ok = false;
          if (p->quiet || c->full || c->aborted) return false;
        }
      }
      return ok;
    }

    case JS_KW_OBJECT:
      if (!(tbits & JS_T_OBJECT)) return true;
      return kw_object(c, n, kw, inst, p, ev);

    case JS_KW_PROPERTY_NAMES: {
      if (!(tbits & JS_T_OBJECT)) return true;
      bool ok = true;
      for (void *it = json_object_iter((json_t *)inst); it;
           it = json_object_iter_next((json_t *)inst, it)) {
        const char *k = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        json_t *ks = json_stringn_nocheck(k, klen);
        if (!ks) {
          c->oom = true;
          return false;
        }
        js_step st = {k, klen, SIZE_MAX, "propertyNames", NULL, 0, SIZE_MAX,
                      false};
        bool r = eval_child(c, kw->u.sub, ks, p, &st, NULL);
        json_decref(ks);
        if (!r) {
          ok = false;
          if (p->quiet || c->full || c->aborted) return false;
        }
      }
      return ok;
    }

    case JS_KW_ITEMS: {
      if (!(tbits & JS_T_ARRAY)) return true;
      bool ok = true;
      size_t cnt = json_array_size(inst);
      for (size_t i = 0; i < cnt; i++) {
        uint32_t node;
        js_step st = {NULL, 0, i, NULL, NULL, 0, SIZE_MAX, false};
        if (i < kw->u.items.n_prefix) {
          node = kw->u.items.prefix[i];
          st.k1 = kw->u.items.prefix_name;
          st.ki = i;
        } else {
          node = kw->u.items.rest;
          st.k1 = kw->u.items.rest_name;
        }
        if (node == JS_NONE) break;
        ev_set(ev, i);
        if (!eval_child(c, node, json_array_get(inst, i), p, &st, NULL)) {
          ok = false;
          if (p->quiet || c->full || c->aborted) return false;
        }
      }
      return ok;
    }

    case JS_KW_CONTAINS: {
      if (!(tbits & JS_T_ARRAY)) return true;
      size_t cnt = json_array_size(inst);
      uint64_t found = 0;
      for (size_t i = 0; i < cnt; i++) {
        js_step st = {NULL, 0, i, "contains", NULL, 0, SIZE_MAX, true};
        if (eval_child(c, kw->u.contains.sub, json_array_get(inst, i), p, &st,
                       NULL)) {
          found++;
          ev_set(ev, i);
          if (!ev && !kw->u.contains.has_max && found >= kw->u.contains.min)
            break;
        }
        if (c->aborted || c->oom) return false;
      }
      if (found < kw->u.contains.min) {
        report(c, p, "contains", n->location,
               "array has %" PRIu64 " items matching \"contains\", fewer than "
               "the minimum %" PRIu64,
               found, kw->u.contains.min);
        return false;
      }
      if (kw->u.contains.has_max && found > kw->u.contains.max) {
        report(c, p, "contains", n->location,
               "array has %" PRIu64 " items matching \"contains\", more than "
               "the maximum %" PRIu64,
               found, kw->u.contains.max);
        return false;
      }
      return true;
    }

    case JS_KW_ALL_OF: {
      bool ok = true;
      for (uint32_t i = 0; i < kw->u.list.n; i++) {
        js_step st = {NULL, 0, SIZE_MAX, "allOf", NULL, 0, i, false};
        if (!eval_child(c, kw->u.list.subs[i], inst, p, &st, ev)) {
          ok = false;
          if (p->quiet || c->full || c->aborted) return false;
        }
      }
      return ok;
    }

    case JS_KW_ANY_OF:
    case JS_KW_ONE_OF: {
      bool one = kw->kind == JS_KW_ONE_OF;
      uint32_t valid = 0, first = 0, second = 0;
      for (uint32_t i = 0; i < kw->u.list.n; i++) {
        js_ev sub;
        js_ev *sp = NULL;
        if (ev) {
          if (!ev_init(c, &sub, inst)) return false;
          sp = &sub;
        }
        js_step st = {NULL, 0, SIZE_MAX, kw->name, NULL, 0, i, true};
        bool r = eval_child(c, kw->u.list.subs[i], inst, p, &st, sp);
        if (r) {
          if (valid == 0) first = i;
          else if (valid == 1) second = i;
          valid++;
          if (sp) ev_merge(ev, sp);
        }
        if (sp) ev_free(sp);
        if (c->aborted || c->oom) return false;
        if (r && !ev && !one) break;
        if (one && valid > 1) break;
      }
      if (!one && valid > 0) return true;
      if (one && valid == 1) return true;
      if (valid == 0)
        report(c, p, kw->name, n->location,
               "value does not match any of the %u schemas in %s",
               kw->u.list.n, kw->name);
      else
        report(c, p, kw->name, n->location,
               "value matches more than one schema in oneOf (%u and %u)",
               first, second);
      return false;
    }

    case JS_KW_NOT: {
      js_step st = step_kw("not", true);
      bool r = eval_child(c, kw->u.sub, inst, p, &st, NULL);
      if (c->aborted || c->oom) return false;
      if (!r) return true;
      report(c, p, "not", n->location,
             "value must not match the schema in \"not\"");
      return false;
    }

    case JS_KW_IF: {
      js_ev sub;
      js_ev *sp = NULL;
      if (ev) {
        if (!ev_init(c, &sub, inst)) return false;
        sp = &sub;
      }
      js_step st = step_kw("if", true);
      bool r = eval_child(c, kw->u.cond.if_, inst, p, &st, sp);
      if (sp) {
        if (r) ev_merge(ev, sp);
        ev_free(sp);
      }
      if (c->aborted || c->oom) return false;
      uint32_t next = r ? kw->u.cond.then_ : kw->u.cond.else_;
      if (next == JS_NONE) return true;
      js_step st2 = step_kw(r ? "then" : "else", false);
      return eval_child(c, next, inst, p, &st2, ev);
    }

    case JS_KW_REF:
    case JS_KW_DYNREF: {
      uint32_t target = kw->u.ref.target;
      if (kw->u.ref.anchor) {
        for (const js_scope *sc = p->scope; sc; sc = sc->up) {
          const js_resource *r = &s->res[sc->res];
          for (uint32_t i = 0; i < r->n_dyn; i++)
            if (strcmp(r->dyn[i].name, kw->u.ref.anchor) == 0) {
              target = r->dyn[i].node; /* keep going: outermost wins */
              break;
            }
        }
      }
      for (const js_frame *f = p->fr; f && f->inst == inst; f = f->up) {
        if (f->node == target) {
          report(c, p, kw->name, n->location,
                 "reference cycle: %s loops back to %s without consuming the "
                 "instance",
                 kw->name, s->nodes[target].location);
          return false;
        }
      }
      js_step st = step_kw(kw->name, false);
      return eval_child(c, target, inst, p, &st, ev);
    }

    case JS_KW_UNEVAL_PROPS:
    case JS_KW_UNEVAL_ITEMS: {
      bool props = kw->kind == JS_KW_UNEVAL_PROPS;
      if (!(tbits & (props ? JS_T_OBJECT : JS_T_ARRAY))) return true;
      if (!ev) return true; /* cannot happen: nodes with these collect */
      bool ok = true;
      const js_node *sn = &s->nodes[kw->u.sub];
      size_t i = 0;
      if (props) {
        for (void *it = json_object_iter((json_t *)inst); it;
             it = json_object_iter_next((json_t *)inst, it), i++) {
          if (ev_test(ev, i)) continue;
          const char *k = json_object_iter_key(it);
          size_t klen = json_object_iter_key_len(it);
          if (sn->boolean == 2) {
            js_seg iseg = {p->ip, k, klen, 0};
            js_pos np = *p;
            np.ip = &iseg;
            report(c, &np, kw->name, n->location,
                   "unevaluated property \"%s\" is not allowed", k);
            ok = false;
          } else {
            js_step st = {k, klen, SIZE_MAX, kw->name, NULL, 0, SIZE_MAX,
                          false};
            if (!eval_child(c, kw->u.sub, json_object_iter_value(it), p, &st,
                            NULL))
              ok = false;
          }
          if (!ok && (p->quiet || c->full || c->aborted)) return false;
          ev_set(ev, i);
        }
      } else {
        size_t cnt = json_array_size(inst);
        for (i = 0; i < cnt; i++) {
          if (ev_test(ev, i)) continue;
          js_step st = {NULL, 0, i, kw->name, NULL, 0, SIZE_MAX, false};
          if (!eval_child(c, kw->u.sub, json_array_get(inst, i), p, &st, NULL)) {
            ok = false;
            if (p->quiet || c->full || c->aborted) return false;
          }
          ev_set(ev, i);
        }
      }
      return ok;
    }
  }
  return true;
}

static bool eval(js_vctx *c, uint32_t idx, const json_t *inst,
                 const js_pos *p, js_ev *ev) {
  const as_jsonschema *s = c->s;
  const js_node *n = &s->nodes[idx];
  if (c->aborted || c->oom) return false;
  if (n->boolean == 1) return true;
  if (n->boolean == 2) {
    report(c, p, NULL, n->location, "no value is allowed here (schema false)");
    return false;
  }
  if (++c->steps > s->max_steps) {
    abort_eval(c, p, n->location, "evaluation step limit", s->max_steps);
    return false;
  }
  if (c->depth >= s->max_depth) {
    abort_eval(c, p, n->location, "evaluation depth limit", s->max_depth);
    return false;
  }
  c->depth++;
  js_scope scope;
  js_frame fr = {p->fr, idx, inst};
  js_pos np = *p;
  np.fr = &fr;
  if (!p->scope || p->scope->res != n->resource) {
    scope = (js_scope){p->scope, n->resource};
    np.scope = &scope;
  }
  /* A node with unevaluated* sees only its own subschemas' annotations,
   * so it collects into a fresh set and hands it up when it passes. */
  js_ev local;
  js_ev *my = ev;
  if (n->collect) {
    if (!ev_init(c, &local, inst)) {
      c->depth--;
      return false;
    }
    my = &local;
  }
  uint32_t tbits = as__js_type_bits(inst);
  bool ok = true;
  for (uint32_t i = 0; i < n->n_kws; i++) {
    if (!eval_kw(c, n, &n->kws[i], inst, &np, my, tbits)) {
      ok = false;
      if (np.quiet || c->full || c->aborted || c->oom) break;
    }
  }
  if (my == &local) {
    if (ok && ev) ev_merge(ev, &local);
    ev_free(&local);
  }
  c->depth--;
  return ok && !c->aborted && !c->oom;
}

static as_err run(const as_jsonschema *s, const json_t *instance,
                  as_jsonschema_result *res, bool *valid) {
  js_vctx c = {.s = s, .res = res};
  js_pos p = {NULL, NULL, NULL, NULL, res == NULL};
  bool ok = eval(&c, s->root, instance, &p, NULL);
  pcre2_match_data_free(c.md);
  if (c.oom) return AS_ENOMEM;
  *valid = ok && !c.aborted;
  if (res) {
    res->valid = *valid;
    res->aborted = c.aborted;
  }
  return AS_OK;
}

as_err as_jsonschema_validate(const as_jsonschema *s, const json_t *instance,
                              as_jsonschema_result *res) {
  bool valid;
  memset(res, 0, sizeof *res);
  if (!s || !instance) return AS_EINVAL;
  return run(s, instance, res, &valid);
}

as_err as_jsonschema_check(const as_jsonschema *s, const json_t *instance,
                           bool *valid) {
  *valid = false;
  if (!s || !instance) return AS_EINVAL;
  return run(s, instance, NULL, valid);
}

void as_jsonschema_result_free(as_jsonschema_result *res) {
  if (!res) return;
  for (size_t i = 0; i < res->n_errors; i++)
    as_free((void *)res->errors[i].instance_path);
  as_free(res->errors);
  memset(res, 0, sizeof *res);
}

json_t *as_jsonschema_parse(const char *text, size_t len, as_error *err) {
  json_error_t je;
  json_t *v = json_loadb(text, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
  if (!v && json_error_code(&je) == json_error_numeric_overflow)
    v = json_loadb(text, len,
                   JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL,
                   &je);
  if (!v && err) {
    memset(err, 0, sizeof *err);
    err->code = AS_EJSON;
    err->offset = (uint64_t)je.position;
    snprintf(err->field, sizeof err->field, "json");
    snprintf(err->message, sizeof err->message, "%s (line %d, column %d)",
             je.text, je.line, je.column);
  }
  return v;
}
