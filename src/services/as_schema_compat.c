/*
 * as_schema_compat.c — schema compatibility as an inclusion proof.
 *
 * Everything reduces to sub(W, R): "every instance valid under the writer
 * schema W is valid under the reader schema R".  BACKWARD checks
 * sub(old, new), FORWARD sub(new, old).  sub() compares keyword by keyword
 * and records an issue (JSON pointer + message) for each constraint of R
 * that W does not already imply.  It errs on the safe side: a constraint
 * it cannot reason about (not, if/then/else, dependentSchemas, changed
 * unknown keywords, different patterns, unresolvable $refs) is an issue.
 *
 * Absent subschemas are `true`.  Kinds of values are tracked as bits, with
 * integers and non-integer numbers apart ("integer" = K_INT, "number" =
 * K_INT|K_FRAC), so number -> integer is a narrowing and the reverse a
 * widening.  Local "$ref"s ("#", "#/json/pointer") are followed in each
 * schema's own document; pairs already under comparison are assumed to
 * hold (recursive schemas terminate).  Trials (anyOf alternatives, a $ref
 * with siblings) run against a scratch report that is dropped.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "services/as_jsonschema_int.h"
#include "services/as_schema_compat.h"

#define K_NULL 0x01u
#define K_BOOL 0x02u
#define K_OBJ 0x04u
#define K_ARR 0x08u
#define K_STR 0x10u
#define K_INT 0x20u
#define K_FRAC 0x40u
#define K_NUM (K_INT | K_FRAC)
#define K_ALL 0x7fu

#define SKIP_REF_R 0x1u

typedef struct cmp_side {
  const json_t *root;
  bool d7; /* draft-07 items/additionalItems/dependencies semantics */
} cmp_side;

typedef struct cmp_ctx {
  cmp_side w, r;
  as_compat_report *rep;
  as_compat_direction dir;
  size_t version;
  const json_t *stack[2 * AS_COMPAT_MAX_DEPTH];
  uint32_t depth;
  bool oom;
} cmp_ctx;

static const char *const k_ignored[] = {
    "$schema", "$id", "$anchor", "$dynamicAnchor", "$comment", "$defs",
    "definitions", "$vocabulary", "title", "description", "default",
    "examples", "deprecated", "readOnly", "writeOnly", "contentMediaType",
    "contentEncoding", "contentSchema", "$recursiveAnchor"};

static const char *const k_known[] = {
    "$ref", "$dynamicRef", "type", "enum", "const", "multipleOf", "maximum",
    "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength",
    "minLength", "pattern", "format", "maxItems", "minItems", "uniqueItems",
    "maxContains", "minContains", "contains", "items", "prefixItems",
    "additionalItems", "unevaluatedItems", "maxProperties", "minProperties",
    "required", "properties", "patternProperties", "additionalProperties",
    "unevaluatedProperties", "propertyNames", "dependentRequired",
    "dependentSchemas", "dependencies", "allOf", "anyOf", "oneOf", "not",
    "if", "then", "else"};

static bool in_list(const char *k, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(k, list[i]) == 0) return true;
  return false;
}

static bool is_ignored(const char *k) {
  return in_list(k, k_ignored, AS_ARRAY_LEN(k_ignored));
}

/* True if `s` accepts every instance (true, {} or annotations only);
 * `also` is one more keyword to disregard (e.g. "$ref"), or NULL. */
static bool trivial_but(const json_t *s, const char *also) {
  if (!s || json_is_true(s)) return true;
  if (!json_is_object(s)) return false;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)s, k, v) {
    if (is_ignored(k)) continue;
    if (also && strcmp(k, also) == 0) continue;
    return false;
  }
  return true;
}

static const json_t *get(const json_t *s, const char *k) {
  return json_is_object(s) ? json_object_get(s, k) : NULL;
}

/* --- Issues ------------------------------------------------------------- */

static void issue(cmp_ctx *c, const as_buf *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void issue(cmp_ctx *c, const as_buf *path, const char *fmt, ...) {
  as_compat_report *r = c->rep;
  r->compatible = false;
  if (r->n_issues >= AS_COMPAT_MAX_ISSUES) {
    r->truncated = true;
    return;
  }
  if (r->n_issues == r->_cap) {
    size_t ncap = r->_cap ? r->_cap * 2 : 8;
    as_compat_issue *ni = as_realloc(r->issues, ncap * sizeof *ni);
    if (!ni) {
      c->oom = true;
      return;
    }
    r->issues = ni;
    r->_cap = ncap;
  }
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t pl = path->len, ml = strlen(msg);
  char *mem = as_malloc(pl + ml + 2);
  if (!mem) {
    c->oom = true;
    return;
  }
  if (pl) memcpy(mem, path->data, pl);
  mem[pl] = '\0';
  memcpy(mem + pl + 1, msg, ml + 1);
  as_compat_issue *is = &r->issues[r->n_issues++];
  is->path = mem;
  is->message = mem + pl + 1;
  is->direction = c->dir;
  is->version = c->version;
}

void as_compat_report_free(as_compat_report *r) {
  if (!r) return;
  for (size_t i = 0; i < r->n_issues; i++) as_free((void *)r->issues[i].path);
  as_free(r->issues);
  memset(r, 0, sizeof *r);
}

/* Path helpers: push returns the length to restore. */
static size_t push(as_buf *p, const char *a, const char *b) {
  size_t mark = p->len;
  as__js_ptr_append(p, a, strlen(a));
  if (b) as__js_ptr_append(p, b, strlen(b));
  return mark;
}

static size_t push_idx(as_buf *p, const char *a, size_t i) {
  char n[24];
  snprintf(n, sizeof n, "%zu", i);
  return push(p, a, n);
}

static void pop(as_buf *p, size_t mark) {
  if (p->data && mark <= p->len) {
    p->len = mark;
    p->data[mark] = '\0';
  }
}

/* --- Kinds -------------------------------------------------------------- */

static uint32_t kinds_of_value(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT: return K_OBJ;
    case JSON_ARRAY: return K_ARR;
    case JSON_STRING: return K_STR;
    case JSON_INTEGER: return K_INT;
    case JSON_REAL: return (as__js_type_bits(v) & JS_T_INTEGER) ? K_INT : K_FRAC;
    case JSON_TRUE: case JSON_FALSE: return K_BOOL;
    default: return K_NULL;
  }
}

static uint32_t kind_of_name(const char *t) {
  if (!strcmp(t, "null")) return K_NULL;
  if (!strcmp(t, "boolean")) return K_BOOL;
  if (!strcmp(t, "object")) return K_OBJ;
  if (!strcmp(t, "array")) return K_ARR;
  if (!strcmp(t, "string")) return K_STR;
  if (!strcmp(t, "integer")) return K_INT;
  if (!strcmp(t, "number")) return K_NUM;
  return 0;
}

/* Kinds allowed by the "type" keyword alone (all if absent). */
static uint32_t kinds_of_type(const json_t *s) {
  if (json_is_false(s)) return 0;
  const json_t *t = get(s, "type");
  if (!t) return K_ALL;
  if (json_is_string(t)) return kind_of_name(json_string_value(t));
  uint32_t k = 0;
  size_t i;
  json_t *e;
  json_array_foreach(t, i, e) {
    if (json_is_string(e)) k |= kind_of_name(json_string_value(e));
  }
  return k;
}

static const json_t *resolve(const cmp_side *side, const json_t *ref);

/* Over-approximation of the kinds a (writer) schema admits. */
static uint32_t kinds_of(const cmp_side *side, const json_t *s, int depth) {
  if (!s || json_is_true(s)) return K_ALL;
  if (json_is_false(s) || depth > 16) return json_is_false(s) ? 0 : K_ALL;
  uint32_t k = kinds_of_type(s);
  const json_t *c = get(s, "const"), *e = get(s, "enum");
  if (c) k &= kinds_of_value(c);
  if (json_is_array(e)) {
    uint32_t ek = 0;
    size_t i;
    json_t *v;
    json_array_foreach(e, i, v) ek |= kinds_of_value(v);
    k &= ek;
  }
  const json_t *ref = get(s, "$ref");
  if (ref) {
    const json_t *t = resolve(side, ref);
    if (t) k &= kinds_of(side, t, depth + 1);
  }
  const char *alts[] = {"anyOf", "oneOf"};
  for (size_t a = 0; a < 2; a++) {
    const json_t *l = get(s, alts[a]);
    if (!json_is_array(l)) continue;
    uint32_t u = 0;
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v) u |= kinds_of(side, v, depth + 1);
    k &= u;
  }
  const json_t *all = get(s, "allOf");
  if (json_is_array(all)) {
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) k &= kinds_of(side, v, depth + 1);
  }
  return k;
}

static void kinds_str(uint32_t k, char *buf, size_t len) {
  static const struct { uint32_t b; const char *n; } t[] = {
      {K_NULL, "null"}, {K_BOOL, "boolean"}, {K_OBJ, "object"},
      {K_ARR, "array"}, {K_STR, "string"}, {K_NUM, "number"},
      {K_INT, "integer"}, {K_FRAC, "non-integer number"}};
  const char *names[8];
  size_t n = 0, o = 0;
  if (k == K_ALL) {
    snprintf(buf, len, "any");
    return;
  }
  for (size_t i = 0; i < AS_ARRAY_LEN(t); i++) {
    if ((k & t[i].b) != t[i].b) continue;
    k &= ~t[i].b;
    names[n++] = t[i].n;
  }
  buf[0] = '\0';
  for (size_t i = 0; i < n && o < len; i++) {
    int w = snprintf(buf + o, len - o, "%s%s%s%s", i == 0 && n > 1 ? "[" : "",
                     i ? ", " : "", names[i], i + 1 == n && n > 1 ? "]" : "");
    if (w < 0) break;
    o += (size_t)w;
  }
  if (n == 0) snprintf(buf, len, "nothing");
}

/* --- References --------------------------------------------------------- */

static const json_t *resolve(const cmp_side *side, const json_t *ref) {
  if (!json_is_string(ref)) return NULL;
  const char *r = json_string_value(ref);
  if (r[0] != '#') return NULL;
  if (r[1] == '\0') return side->root;
  if (r[1] != '/') return NULL;
  char *frag = as__js_pct_decode(r + 1, strlen(r + 1));
  if (!frag) return NULL;
  const json_t *t = as__js_pointer_get(side->root, frag, NULL, NULL);
  as_free(frag);
  return t;
}

/* --- The comparison ----------------------------------------------------- */

static void sub(cmp_ctx *c, const json_t *w, const json_t *r, as_buf *path,
                unsigned flags);

/* Runs sub() against a scratch report; true if it found nothing. */
static bool try_sub(cmp_ctx *c, const json_t *w, const json_t *r,
                    as_buf *path, unsigned flags) {
  as_compat_report scratch = {0};
  scratch.compatible = true;
  as_compat_report *saved = c->rep;
  c->rep = &scratch;
  sub(c, w, r, path, flags);
  c->rep = saved;
  bool ok = scratch.n_issues == 0 && !scratch.truncated;
  as_compat_report_free(&scratch);
  return ok;
}

typedef struct bound {
  bool has, excl;
  js_num v;
  const char *kw;
} bound;

static bound get_bound(const json_t *s, bool upper) {
  bound b = {0};
  const char *inc = upper ? "maximum" : "minimum";
  const char *exc = upper ? "exclusiveMaximum" : "exclusiveMinimum";
  const json_t *vi = get(s, inc), *ve = get(s, exc);
  if (json_is_number(vi)) {
    b = (bound){true, false, as__js_num(vi), inc};
  }
  if (json_is_number(ve)) {
    js_num e = as__js_num(ve);
    int cmp = b.has ? as__js_num_cmp(e, b.v) : 0;
    if (!b.has || (upper ? cmp <= 0 : cmp >= 0)) b = (bound){true, true, e, exc};
  }
  return b;
}

static void num_text(js_num n, char *buf, size_t len) {
  if (n.is_int) {
    snprintf(buf, len, "%lld", (long long)n.i);
    return;
  }
  for (int p = 1; p <= 17; p++) {
    snprintf(buf, len, "%.*g", p, n.d);
    if (strtod(buf, NULL) == n.d) return;
  }
}

static void cmp_bound(cmp_ctx *c, const json_t *w, const json_t *r,
                      as_buf *path, bool upper) {
  bound bw = get_bound(w, upper), br = get_bound(r, upper);
  if (!br.has) return;
  char a[40], b[40];
  num_text(br.v, b, sizeof b);
  size_t m = push(path, br.kw, NULL);
  if (!bw.has) {
    issue(c, path, "%s %s added", br.kw, b);
  } else {
    int cmp = as__js_num_cmp(bw.v, br.v);
    bool ok = upper ? cmp < 0 : cmp > 0;
    if (cmp == 0) ok = bw.excl || !br.excl;
    if (!ok) {
      num_text(bw.v, a, sizeof a);
      issue(c, path, "%s %s from %s to %s", upper ? "maximum" : "minimum",
            upper ? "lowered" : "raised", a, b);
    }
  }
  pop(path, m);
}

static bool get_u64(const json_t *s, const char *k, uint64_t *out) {
  const json_t *v = get(s, k);
  return v && as__js_count(v, out);
}

/* max* keywords: the reader's limit must not be below the writer's. */
static void cmp_max(cmp_ctx *c, const json_t *w, const json_t *r, as_buf *path,
                    const char *kw) {
  uint64_t a, b;
  if (!get_u64(r, kw, &b)) return;
  size_t m = push(path, kw, NULL);
  if (!get_u64(w, kw, &a))
    issue(c, path, "%s %llu added", kw, (unsigned long long)b);
  else if (a > b)
    issue(c, path, "%s lowered from %llu to %llu", kw, (unsigned long long)a,
          (unsigned long long)b);
  pop(path, m);
}

/* min* keywords (absent = 0). */
static void cmp_min(cmp_ctx *c, const json_t *w, const json_t *r, as_buf *path,
                    const char *kw) {
  uint64_t a = 0, b;
  if (!get_u64(r, kw, &b) || b == 0) return;
  get_u64(w, kw, &a);
  if (a >= b) return;
  size_t m = push(path, kw, NULL);
  issue(c, path, "%s raised from %llu to %llu", kw, (unsigned long long)a,
        (unsigned long long)b);
  pop(path, m);
}

/* Keywords that must be equal when the reader has them. */
static void cmp_same(cmp_ctx *c, const json_t *w, const json_t *r,
                     as_buf *path, const char *kw, const char *what) {
  const json_t *vr = get(r, kw);
  if (!vr) return;
  const json_t *vw = get(w, kw);
  if (vw && as__js_equal(vw, vr)) return;
  size_t m = push(path, kw, NULL);
  issue(c, path, vw ? "%s changed; compatibility cannot be proven"
                    : "%s added", what);
  pop(path, m);
}

static void cmp_enum(cmp_ctx *c, const json_t *w, const json_t *r,
                     as_buf *path) {
  const json_t *re = get(r, "enum"), *rc = get(r, "const");
  if (!re && !rc) return;
  const json_t *we = get(w, "enum"), *wc = get(w, "const");
  const char *kw = rc ? "const" : "enum";
  size_t m = push(path, kw, NULL);
  if (!we && !wc) {
    issue(c, path, "%s added", kw);
    pop(path, m);
    return;
  }
  /* Every writer value must be allowed by the reader's enum/const. */
  json_t *one = NULL;
  const json_t *vals = we;
  if (!vals) {
    one = json_array();
    if (!one) {
      c->oom = true;
      pop(path, m);
      return;
    }
    json_array_append(one, (json_t *)wc);
    vals = one;
  } else if (wc) {
    one = json_array(); /* const narrows the enum to one value */
    if (!one) {
      c->oom = true;
      pop(path, m);
      return;
    }
    json_array_append(one, (json_t *)wc);
    vals = one;
  }
  size_t i;
  json_t *v;
  json_array_foreach(vals, i, v) {
    bool found = false;
    if (rc) found = as__js_equal(v, rc);
    if (json_is_array(re))
      for (size_t k = 0; k < json_array_size(re) && !found; k++)
        found = as__js_equal(v, json_array_get(re, k));
    if (rc && json_is_array(re) && found)
      found = as__js_equal(v, rc);
    if (!found) {
      char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      issue(c, path, "value %s is no longer allowed (removed from %s)",
            t ? t : "?", kw);
      free(t);
    }
  }
  json_decref(one);
  pop(path, m);
}

static void cmp_multiple(cmp_ctx *c, const json_t *w, const json_t *r,
                         as_buf *path, uint32_t kw_kinds) {
  const json_t *mr = get(r, "multipleOf");
  if (!json_is_number(mr)) return;
  js_dec dr = as__js_dec(as__js_num(mr));
  const json_t *mw = get(w, "multipleOf");
  if (mw && as__js_equal(mw, mr)) return;
  bool ok = false;
  if (json_is_number(mw)) ok = as__js_multiple_of(as__js_num(mw), &dr);
  if (!ok && !(kw_kinds & K_FRAC)) /* integers only: divisor of 1 is fine */
    ok = as__js_multiple_of((js_num){true, 1, 1.0}, &dr);
  if (ok) return;
  size_t m = push(path, "multipleOf", NULL);
  char b[40];
  num_text(as__js_num(mr), b, sizeof b);
  if (mw) {
    char a[40];
    num_text(as__js_num(mw), a, sizeof a);
    issue(c, path, "multipleOf changed from %s to %s", a, b);
  } else {
    issue(c, path, "multipleOf %s added", b);
  }
  pop(path, m);
}

/* --- Arrays ------------------------------------------------------------- */

static const json_t *items_prefix(const cmp_side *s, const json_t *j) {
  const json_t *it = get(j, "items");
  if (s->d7) return json_is_array(it) ? it : NULL;
  return json_is_array(get(j, "prefixItems")) ? get(j, "prefixItems") : NULL;
}

static const json_t *items_rest(const cmp_side *s, const json_t *j,
                                const char **name) {
  const json_t *it = get(j, "items");
  const json_t *rest;
  *name = "items";
  if (s->d7 && json_is_array(it)) {
    rest = get(j, "additionalItems");
    *name = "additionalItems";
  } else {
    rest = it;
  }
  if (!rest && get(j, "unevaluatedItems") && !get(j, "allOf") &&
      !get(j, "anyOf") && !get(j, "oneOf") && !get(j, "$ref")) {
    rest = get(j, "unevaluatedItems");
    *name = "unevaluatedItems";
  }
  return rest;
}

static void cmp_arrays(cmp_ctx *c, const json_t *w, const json_t *r,
                       as_buf *path) {
  cmp_max(c, w, r, path, "maxItems");
  cmp_min(c, w, r, path, "minItems");
  if (json_is_true(get(r, "uniqueItems")) && !json_is_true(get(w, "uniqueItems"))) {
    size_t m = push(path, "uniqueItems", NULL);
    issue(c, path, "uniqueItems added");
    pop(path, m);
  }
  const json_t *pw = items_prefix(&c->w, w), *pr = items_prefix(&c->r, r);
  const char *rnw, *rnr;
  const json_t *rw = items_rest(&c->w, w, &rnw), *rr = items_rest(&c->r, r, &rnr);
  size_t nw = json_array_size(pw), nr = json_array_size(pr);
  size_t n = AS_MAX(nw, nr);
  uint64_t maxw;
  if (get_u64(w, "maxItems", &maxw) && maxw < n) n = (size_t)maxw;
  const char *prefix_name = c->r.d7 ? "items" : "prefixItems";
  for (size_t i = 0; i < n && !c->oom; i++) {
    const json_t *sw = i < nw ? json_array_get(pw, i) : rw;
    const json_t *sr = i < nr ? json_array_get(pr, i) : rr;
    size_t m = i < nr ? push_idx(path, prefix_name, i) : push(path, rnr, NULL);
    sub(c, sw, sr, path, 0);
    pop(path, m);
  }
  if (!(get_u64(w, "maxItems", &maxw) && maxw <= AS_MAX(nw, nr))) {
    size_t m = push(path, rnr, NULL);
    sub(c, rw, rr, path, 0);
    pop(path, m);
  }
  const json_t *cr = get(r, "contains");
  if (cr) {
    const json_t *cw = get(w, "contains");
    uint64_t minw = 1, minr = 1, maxr, maxw2;
    get_u64(w, "minContains", &minw);
    get_u64(r, "minContains", &minr);
    size_t m = push(path, "contains", NULL);
    if (minr > 0) {
      if (!cw || minw < minr || minw == 0)
        issue(c, path, "contains added or its minimum raised");
      else
        sub(c, cw, cr, path, 0);
    }
    if (get_u64(r, "maxContains", &maxr) &&
        !(cw && as__js_equal(cw, cr) && get_u64(w, "maxContains", &maxw2) &&
          maxw2 <= maxr))
      issue(c, path, "maxContains added or lowered");
    pop(path, m);
  }
}

/* --- Objects ------------------------------------------------------------ */

/* The subschema `j` applies to a member named `name` that is not in its
 * "properties": first matching patternProperties, else additional/
 * unevaluatedProperties, else NULL (anything goes).  *ok = false if a
 * pattern could not be compiled. */
static const json_t *member_schema(const json_t *j, const char *name,
                                   bool *ok) {
  const json_t *pp = get(j, "patternProperties");
  if (json_is_object(pp)) {
    const char *pat;
    json_t *v;
    json_object_foreach((json_t *)pp, pat, v) {
      js_regex re;
      if (as__js_regex_compile(&re, pat, strlen(pat), NULL, NULL, 0) != AS_OK) {
        *ok = false;
        continue;
      }
      pcre2_match_data *md = pcre2_match_data_create(1, NULL);
      int m = md ? as__js_regex_match(&re, name, strlen(name), md, NULL) : -1;
      pcre2_match_data_free(md);
      as__js_regex_free(&re);
      if (m < 0) *ok = false;
      if (m == 1) return v;
    }
  }
  const json_t *add = get(j, "additionalProperties");
  if (add) return add;
  const json_t *ue = get(j, "unevaluatedProperties");
  if (ue && !get(j, "allOf") && !get(j, "anyOf") && !get(j, "oneOf") &&
      !get(j, "$ref") && !get(j, "dependentSchemas") && !get(j, "if"))
    return ue;
  return NULL;
}

static const json_t *additional_of(const json_t *j) {
  const json_t *add = get(j, "additionalProperties");
  if (add) return add;
  const json_t *ue = get(j, "unevaluatedProperties");
  if (ue && !get(j, "allOf") && !get(j, "anyOf") && !get(j, "oneOf") &&
      !get(j, "$ref") && !get(j, "dependentSchemas") && !get(j, "if"))
    return ue;
  return NULL;
}

static bool json_contains_str(const json_t *a, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return true;
  }
  return false;
}

static void cmp_objects(cmp_ctx *c, const json_t *w, const json_t *r,
                        as_buf *path) {
  cmp_max(c, w, r, path, "maxProperties");
  cmp_min(c, w, r, path, "minProperties");
  /* required */
  const json_t *rq = get(r, "required"), *wq = get(w, "required");
  if (json_is_array(rq)) {
    size_t i;
    json_t *v;
    json_array_foreach(rq, i, v) {
      if (!json_is_string(v) || json_contains_str(wq, json_string_value(v)))
        continue;
      size_t m = push(path, "required", NULL);
      issue(c, path, "property \"%s\" became required", json_string_value(v));
      pop(path, m);
    }
  }
  /* properties */
  const json_t *pw = get(w, "properties"), *pr = get(r, "properties");
  const char *name;
  json_t *v;
  if (json_is_object(pr)) {
    json_object_foreach((json_t *)pr, name, v) {
      const json_t *sw = get(pw, name);
      bool ok = true;
      size_t m = push(path, "properties", name);
      if (sw) {
        sub(c, sw, v, path, 0);
      } else {
        sw = member_schema(w, name, &ok);
        if (!ok)
          issue(c, path, "cannot evaluate patternProperties of the writer");
        else if (trivial_but(sw, NULL) && !trivial_but(v, NULL))
          issue(c, path,
                "property \"%s\" added with constraints while additional "
                "properties were allowed (existing data may carry it with "
                "another value)",
                name);
        else
          sub(c, sw, v, path, 0);
      }
      pop(path, m);
    }
  }
  if (json_is_object(pw)) {
    json_object_foreach((json_t *)pw, name, v) {
      if (get(pr, name)) continue;
      bool ok = true;
      const json_t *sr = member_schema(r, name, &ok);
      size_t m = push(path, "properties", name);
      if (!ok)
        issue(c, path, "cannot evaluate patternProperties of the reader");
      else if (json_is_false(sr) && !json_is_false(v))
        issue(c, path,
              "property \"%s\" removed while additional properties are not "
              "allowed",
              name);
      else
        sub(c, v, sr, path, 0);
      pop(path, m);
    }
  }
  /* patternProperties and additionalProperties, for all other names */
  const json_t *ppw = get(w, "patternProperties"), *ppr = get(r, "patternProperties");
  const json_t *aw = additional_of(w), *ar = additional_of(r);
  if (json_is_object(ppr)) {
    json_object_foreach((json_t *)ppr, name, v) {
      const json_t *sw = get(ppw, name);
      size_t m = push(path, "patternProperties", name);
      sub(c, sw ? sw : aw, v, path, 0);
      pop(path, m);
    }
  }
  if (json_is_object(ppw)) {
    json_object_foreach((json_t *)ppw, name, v) {
      if (get(ppr, name)) continue;
      size_t m = push(path, "patternProperties", name);
      if (json_is_false(ar) && !json_is_false(v))
        issue(c, path, "pattern \"%s\" removed while additional properties are "
                       "not allowed", name);
      else
        sub(c, v, ar, path, 0);
      pop(path, m);
    }
  }
  if (ar) {
    size_t m = push(path, get(r, "additionalProperties") ? "additionalProperties"
                                                         : "unevaluatedProperties",
                    NULL);
    if (json_is_false(ar) && !json_is_false(aw))
      issue(c, path, "additional properties are no longer allowed (set to "
                     "false)");
    else
      sub(c, aw, ar, path, 0);
    pop(path, m);
  } else if (get(r, "unevaluatedProperties")) {
    cmp_same(c, w, r, path, "unevaluatedProperties", "unevaluatedProperties");
  }
  /* propertyNames */
  const json_t *nr = get(r, "propertyNames");
  if (nr && !trivial_but(nr, NULL)) {
    size_t m = push(path, "propertyNames", NULL);
    const json_t *nw = get(w, "propertyNames");
    if (nw) sub(c, nw, nr, path, 0);
    else issue(c, path, "propertyNames added");
    pop(path, m);
  }
  /* dependentRequired / array-valued dependencies */
  const char *dkw = c->r.d7 ? "dependencies" : "dependentRequired";
  const json_t *dr = get(r, dkw);
  const json_t *dw = get(w, c->w.d7 ? "dependencies" : "dependentRequired");
  if (json_is_object(dr)) {
    json_object_foreach((json_t *)dr, name, v) {
      if (!json_is_array(v)) continue;
      const json_t *lw = get(dw, name);
      size_t i;
      json_t *e;
      json_array_foreach(v, i, e) {
        if (!json_is_string(e)) continue;
        const char *dep = json_string_value(e);
        if (json_contains_str(json_is_array(lw) ? lw : NULL, dep) ||
            json_contains_str(wq, dep))
          continue;
        size_t m = push(path, dkw, name);
        issue(c, path, "property \"%s\" became required when \"%s\" is present",
              dep, name);
        pop(path, m);
      }
    }
  }
  /* dependentSchemas / schema-valued dependencies: must be unchanged */
  const char *skw = c->r.d7 ? "dependencies" : "dependentSchemas";
  const json_t *sr = get(r, skw);
  const json_t *sw2 = get(w, c->w.d7 ? "dependencies" : "dependentSchemas");
  if (json_is_object(sr)) {
    json_object_foreach((json_t *)sr, name, v) {
      if (json_is_array(v) || trivial_but(v, NULL)) continue;
      const json_t *o = get(sw2, name);
      if (o && as__js_equal(o, v)) continue;
      size_t m = push(path, skw, name);
      issue(c, path, "dependent schema for \"%s\" added or changed; "
                     "compatibility cannot be proven", name);
      pop(path, m);
    }
  }
}

/* --- Combinators -------------------------------------------------------- */

static bool list_has_equal(const json_t *list, const json_t *v) {
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e) {
    if (as__js_equal(e, v)) return true;
  }
  return false;
}

/* True if the alternatives have explicit, pairwise disjoint types. */
static bool disjoint_types(const json_t *alts) {
  uint32_t seen = 0;
  size_t i;
  json_t *e;
  json_array_foreach(alts, i, e) {
    if (!get(e, "type")) return false;
    uint32_t k = kinds_of_type(e);
    if (k & seen) return false;
    seen |= k;
  }
  return true;
}

/* Writer alternatives (anyOf/oneOf of w, or w itself) must each fit some
 * reader alternative. */
static void cmp_alternatives(cmp_ctx *c, const json_t *w, const json_t *alts,
                             const char *kw, as_buf *path) {
  const json_t *walts = get(w, "anyOf");
  if (!walts) walts = get(w, "oneOf");
  size_t m = push(path, kw, NULL);
  size_t nw = json_is_array(walts) ? json_array_size(walts) : 1;
  for (size_t i = 0; i < nw && !c->oom; i++) {
    const json_t *one = json_is_array(walts) ? json_array_get(walts, i) : w;
    bool fit = false;
    for (size_t k = 0; k < json_array_size(alts) && !fit; k++)
      fit = try_sub(c, one, json_array_get(alts, k), path, 0);
    if (!fit) {
      if (json_is_array(walts))
        issue(c, path, "alternative %zu of the writer matches no alternative "
                       "of the reader", i);
      else
        issue(c, path, "values of the writer match no alternative of the "
                       "reader");
    }
  }
  pop(path, m);
}

static void cmp_combinators(cmp_ctx *c, const json_t *w, const json_t *r,
                            as_buf *path) {
  const json_t *all = get(r, "allOf"), *wall = get(w, "allOf");
  if (json_is_array(all)) {
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e) {
      if (json_is_array(wall) && list_has_equal(wall, e)) continue;
      size_t m = push_idx(path, "allOf", i);
      sub(c, w, e, path, 0);
      pop(path, m);
    }
  }
  const json_t *any = get(r, "anyOf");
  if (json_is_array(any) && !(get(w, "anyOf") && as__js_equal(get(w, "anyOf"), any)))
    cmp_alternatives(c, w, any, "anyOf", path);
  const json_t *one = get(r, "oneOf");
  if (json_is_array(one) && !(get(w, "oneOf") && as__js_equal(get(w, "oneOf"), one))) {
    if (disjoint_types(one)) {
      cmp_alternatives(c, w, one, "oneOf", path);
    } else {
      size_t m = push(path, "oneOf", NULL);
      issue(c, path, "oneOf changed and its alternatives are not disjoint by "
                     "type; compatibility cannot be proven");
      pop(path, m);
    }
  }
  const json_t *nr = get(r, "not");
  if (nr && !(get(w, "not") && as__js_equal(get(w, "not"), nr))) {
    size_t m = push(path, "not", NULL);
    issue(c, path, "\"not\" added or changed; compatibility cannot be proven");
    pop(path, m);
  }
  const char *cond[] = {"if", "then", "else"};
  bool cond_differs = false;
  for (size_t i = 0; i < 3; i++) {
    const json_t *a = get(w, cond[i]), *b = get(r, cond[i]);
    if ((a || b) && !(a && b && as__js_equal(a, b))) cond_differs = true;
  }
  if (cond_differs && get(r, "if") && (get(r, "then") || get(r, "else"))) {
    size_t m = push(path, "if", NULL);
    issue(c, path, "if/then/else added or changed; compatibility cannot be "
                   "proven");
    pop(path, m);
  }
}

static void cmp_unknown(cmp_ctx *c, const json_t *w, const json_t *r,
                        as_buf *path) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)r, k, v) {
    if (is_ignored(k) || in_list(k, k_known, AS_ARRAY_LEN(k_known))) continue;
    const json_t *o = get(w, k);
    if (o && as__js_equal(o, v)) continue;
    size_t m = push(path, k, NULL);
    issue(c, path, "unknown keyword \"%s\" added or changed; compatibility "
                   "cannot be proven", k);
    pop(path, m);
  }
}

/* --- sub() -------------------------------------------------------------- */

static void sub(cmp_ctx *c, const json_t *w, const json_t *r, as_buf *path,
                unsigned flags) {
  if (c->oom) return;
  if (!w) w = json_true();
  if (json_is_false(w)) return;
  if (trivial_but(r, (flags & SKIP_REF_R) ? "$ref" : NULL)) return;
  if (json_is_false(r)) {
    issue(c, path, "schema became false (no value is accepted)");
    return;
  }
  if (!json_is_object(r) || (!json_is_object(w) && !json_is_true(w))) {
    issue(c, path, "not a schema");
    return;
  }
  for (uint32_t i = 0; i < c->depth; i++)
    if (c->stack[2 * i] == w && c->stack[2 * i + 1] == r) return; /* cycle */
  if (c->depth >= AS_COMPAT_MAX_DEPTH) {
    issue(c, path, "schemas nested too deeply to compare");
    return;
  }
  c->stack[2 * c->depth] = w;
  c->stack[2 * c->depth + 1] = r;
  c->depth++;

  /* References. */
  const json_t *refr = (flags & SKIP_REF_R) ? NULL : get(r, "$ref");
  const json_t *refw = get(w, "$ref");
  bool same_ref = refr && refw && as__js_equal(refr, refw);
  if (refw && trivial_but(w, "$ref")) { /* a pure reference: follow it */
    const json_t *tw = resolve(&c->w, refw);
    if (tw) {
      sub(c, tw, r, path, flags);
      goto out;
    }
  }
  if (refr) {
    const json_t *tr = resolve(&c->r, refr);
    const json_t *tw = refw ? resolve(&c->w, refw) : NULL;
    if (same_ref && tw && tr) {
      sub(c, tw, tr, path, 0); /* same reference: compare the targets */
    } else if (tr) {
      sub(c, w, tr, path, 0);
    } else if (!same_ref) {
      size_t m = push(path, "$ref", NULL);
      issue(c, path, "$ref target \"%s\" differs or cannot be resolved; "
                     "compatibility cannot be proven",
            json_is_string(refr) ? json_string_value(refr) : "?");
      pop(path, m);
    }
    if (trivial_but(r, "$ref")) goto out;
  }
  if (refw && !same_ref) {
    const json_t *tw = resolve(&c->w, refw);
    if (tw) {
      if (trivial_but(w, "$ref")) {
        sub(c, tw, r, path, SKIP_REF_R);
        goto out;
      }
      if (try_sub(c, tw, r, path, SKIP_REF_R)) goto out;
    }
    /* Otherwise compare w's own keywords: w implies them (sound). */
  }
  if (get(r, "$dynamicRef") &&
      !as__js_equal(get(r, "$dynamicRef"), get(w, "$dynamicRef") ? get(w, "$dynamicRef") : json_null())) {
    size_t m = push(path, "$dynamicRef", NULL);
    issue(c, path, "$dynamicRef added or changed; compatibility cannot be "
                   "proven");
    pop(path, m);
  }

  /* Types. */
  uint32_t kw = kinds_of(&c->w, w, 0);
  uint32_t kr = kinds_of_type(r);
  if (kw & ~kr) {
    char a[96], b[96];
    kinds_str(kw, a, sizeof a);
    kinds_str(kr, b, sizeof b);
    size_t m = push(path, "type", NULL);
    issue(c, path, "type narrowed from %s to %s", a, b);
    pop(path, m);
  }
  cmp_enum(c, w, r, path);
  if (kw & kr & K_NUM) {
    cmp_bound(c, w, r, path, true);
    cmp_bound(c, w, r, path, false);
    cmp_multiple(c, w, r, path, kw);
  }
  if (kw & kr & K_STR) {
    cmp_max(c, w, r, path, "maxLength");
    cmp_min(c, w, r, path, "minLength");
    cmp_same(c, w, r, path, "pattern", "pattern");
    cmp_same(c, w, r, path, "format", "format");
  }
  if (kw & kr & K_ARR) cmp_arrays(c, w, r, path);
  if (kw & kr & K_OBJ) cmp_objects(c, w, r, path);
  cmp_combinators(c, w, r, path);
  cmp_unknown(c, w, r, path);
out:
  c->depth--;
}

/* --- Public ------------------------------------------------------------- */

static const char *const k_modes[] = {
    "NONE", "BACKWARD", "FORWARD", "FULL", "BACKWARD_TRANSITIVE",
    "FORWARD_TRANSITIVE", "FULL_TRANSITIVE"};

as_err as_compat_mode_parse(const char *name, as_compat_mode *out) {
  for (size_t i = 0; name && i < AS_ARRAY_LEN(k_modes); i++)
    if (strcmp(name, k_modes[i]) == 0) {
      *out = (as_compat_mode)i;
      return AS_OK;
    }
  return AS_EINVAL;
}

const char *as_compat_mode_name(as_compat_mode m) {
  return (unsigned)m < AS_ARRAY_LEN(k_modes) ? k_modes[m] : "?";
}

static bool is_draft7(const json_t *root) {
  const json_t *s = get(root, "$schema");
  return json_is_string(s) &&
         strncmp(json_string_value(s), "http://json-schema.org/draft-07/", 32) ==
             0;
}

as_err as_schema_compat_check(as_compat_mode mode, const json_t *new_schema,
                              const json_t *const *previous, size_t n_previous,
                              as_compat_report *out) {
  as_err rc = AS_OK;
  as_buf path;
  memset(out, 0, sizeof *out);
  out->compatible = true;
  if ((unsigned)mode >= AS_ARRAY_LEN(k_modes) || !new_schema ||
      (n_previous && !previous))
    return AS_EINVAL;
  if (mode == AS_COMPAT_NONE || n_previous == 0) return AS_OK;
  bool transitive = mode >= AS_COMPAT_BACKWARD_TRANSITIVE;
  bool back = mode == AS_COMPAT_BACKWARD || mode == AS_COMPAT_FULL ||
              mode == AS_COMPAT_BACKWARD_TRANSITIVE ||
              mode == AS_COMPAT_FULL_TRANSITIVE;
  bool fwd = mode == AS_COMPAT_FORWARD || mode == AS_COMPAT_FULL ||
             mode == AS_COMPAT_FORWARD_TRANSITIVE ||
             mode == AS_COMPAT_FULL_TRANSITIVE;
  as_buf_init(&path, 1u << 16);
  as_buf_puts(&path, ""); /* allocate so data is never NULL */
  cmp_ctx c;
  for (size_t v = transitive ? 0 : n_previous - 1; v < n_previous; v++) {
    const json_t *old = previous[v];
    if (!old) AS_FAIL(AS_EINVAL);
    for (int d = 0; d < 2; d++) {
      if ((d == 0 && !back) || (d == 1 && !fwd)) continue;
      memset(&c, 0, sizeof c);
      c.rep = out;
      c.version = v;
      c.dir = d == 0 ? AS_COMPAT_DIR_BACKWARD : AS_COMPAT_DIR_FORWARD;
      const json_t *w = d == 0 ? old : new_schema;
      const json_t *r = d == 0 ? new_schema : old;
      c.w = (cmp_side){w, is_draft7(w)};
      c.r = (cmp_side){r, is_draft7(r)};
      pop(&path, 0);
      sub(&c, w, r, &path, 0);
      if (c.oom) AS_FAIL(AS_ENOMEM);
    }
  }
out:
  as_buf_free(&path);
  if (rc < 0) as_compat_report_free(out);
  return rc;
}
