/*
 * as_pipeline_config.c — parsing and checking a pipeline config (the seed's
 * JSON, seed-api-contract §8.1) into an immutable as_pdef, and rendering it
 * back.  Every check happens here, at registration: a config that parses
 * cannot fail later for a reason the config itself holds (an unknown
 * operator, filter op, transform or reduce function), unlike the seed,
 * which found those only while processing events.
 *
 * Errors name the field as a path into the config ("operators[1].op",
 * "operators[2].config.size_seconds") and say what is wrong.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "services/as_pipeline_int.h"

typedef enum expect {
  X_ANY, X_STRING, X_BOOL, X_UINT, X_ARRAY, X_OBJECT
} expect;

static const char *const expect_names[] = {"any value", "a string", "a boolean",
                                           "a non-negative integer", "an array",
                                           "an object"};

typedef struct pctx {
  as_pdef *d;
  as_pipeline_error *err;
} pctx;

__attribute__((format(printf, 4, 5))) static as_err fail(pctx *c, as_err code,
                                                         const char *field,
                                                         const char *fmt, ...) {
  if (c->err) {
    c->err->code = code;
    snprintf(c->err->field, sizeof c->err->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    char msg[200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (field[0])
      snprintf(c->err->message, sizeof c->err->message, "%s %s", field, msg);
    else
      snprintf(c->err->message, sizeof c->err->message, "%s", msg);
  }
  return code;
}

/* "prefix.name" or "name" into out. */
static const char *join(char *out, size_t cap, const char *prefix, const char *name) {
  if (prefix[0])
    snprintf(out, cap, "%s.%s", prefix, name);
  else
    snprintf(out, cap, "%s", name);
  return out;
}

static bool kind_ok(as_json_val v, expect x) {
  switch (x) {
    case X_ANY: return true;
    case X_STRING: return v.kind == AS_JSON_STRING;
    case X_BOOL: return v.kind == AS_JSON_TRUE || v.kind == AS_JSON_FALSE;
    case X_UINT: {
      uint64_t u;
      return v.kind == AS_JSON_NUMBER && as_json_to_u64(v, &u) == AS_OK;
    }
    case X_ARRAY: return v.kind == AS_JSON_ARRAY;
    case X_OBJECT: return v.kind == AS_JSON_OBJECT;
  }
  return false;
}

/* Member `name` of obj.  Returns 1 if present, 0 if absent (or null and
 * optional), or an error (negative) after filling c->err. */
static int member(pctx *c, as_json_val obj, const char *prefix, const char *name, expect x,
                  bool required, as_json_val *v) {
  char field[96];
  bool present = as_json_obj_get(obj, name, v);
  if (present && v->kind == AS_JSON_NULL && !required && x != X_ANY) present = false;
  if (!present) {
    if (required)
      return fail(c, AS_EINVAL, join(field, sizeof field, prefix, name), "is required");
    return 0;
  }
  if (!kind_ok(*v, x)) {
    if (x == X_UINT && v->kind == AS_JSON_NUMBER)
      return fail(c, AS_EINVAL, join(field, sizeof field, prefix, name),
                  "must be a non-negative integer (got %.*s)", (int)AS_MIN(v->len, 40u),
                  v->p);
    return fail(c, AS_EINVAL, join(field, sizeof field, prefix, name), "must be %s, not %s",
                expect_names[x], as_json_kind_name(v->kind));
  }
  return 1;
}

/* An unsigned integer member in [lo, hi]; *out keeps its default when the
 * member is absent. */
static as_err uint_member(pctx *c, as_json_val obj, const char *prefix, const char *name,
                          bool required, uint64_t lo, uint64_t hi, uint64_t *out) {
  as_json_val v;
  char field[96];
  int r = member(c, obj, prefix, name, X_UINT, required, &v);
  if (r <= 0) return r;
  uint64_t u;
  as_json_to_u64(v, &u);
  if (u < lo || u > hi)
    return fail(c, AS_ELIMIT, join(field, sizeof field, prefix, name),
                "must be between %llu and %llu (got %llu)", (unsigned long long)lo,
                (unsigned long long)hi, (unsigned long long)u);
  *out = u;
  return AS_OK;
}

/* A decoded copy of string value v (owned; NUL-terminated). */
static char *dup_str(as_json_val v, size_t *len) {
  char *s = as_malloc(v.len + 1);
  if (!s) return NULL;
  as_json_str_decode(v, s, len);
  s[*len] = '\0';
  return s;
}

/* Refuses duplicate member names in obj (they would make the config mean
 * something else to each reader). */
static as_err no_duplicates(pctx *c, as_json_val obj, const char *where) {
  as_json_iter i, j;
  as_json_val ki, vi, kj, vj;
  as_json_iter_init(&i, obj);
  size_t n = 0;
  while (as_json_obj_next(&i, &ki, &vi)) {
    n++;
    as_json_iter_init(&j, obj);
    for (size_t m = 0; m + 1 < n && as_json_obj_next(&j, &kj, &vj); m++) {
      if (ki.len != kj.len || memcmp(ki.p, kj.p, ki.len)) continue;
      char field[96];
      snprintf(field, sizeof field, "%s%s%.*s", where, where[0] ? "." : "",
               (int)AS_MIN(ki.len - 2, 40u), ki.p + 1);
      return fail(c, AS_EINVAL, field, "appears twice");
    }
  }
  return AS_OK;
}

/* A string member holding a field path. */
static as_err path_member(pctx *c, as_json_val obj, const char *prefix, const char *name,
                          bool required, as_ppath *out, bool *present) {
  as_json_val v;
  char field[96];
  int r = member(c, obj, prefix, name, X_STRING, required, &v);
  if (present) *present = r == 1;
  if (r <= 0) return r;
  size_t len;
  char *s = dup_str(v, &len);
  if (!s) return fail(c, AS_ENOMEM, "", "out of memory");
  const char *why = NULL;
  as_err rc = as_ppath_parse(s, len, out, &why);
  as_free(s);
  if (rc == AS_ENOMEM) return fail(c, AS_ENOMEM, "", "out of memory");
  if (rc)
    return fail(c, AS_EINVAL, join(field, sizeof field, prefix, name), "%s", why);
  return AS_OK;
}

/* One of `names` (NULL-terminated list); its index in *out. */
static as_err enum_member(pctx *c, as_json_val obj, const char *prefix, const char *name,
                          const char *const *names, const char *list, int *out) {
  as_json_val v;
  char field[96];
  int r = member(c, obj, prefix, name, X_STRING, true, &v);
  if (r < 0) return r;
  for (int i = 0; names[i]; i++)
    if (as_json_str_eq(v, names[i], strlen(names[i]))) {
      *out = i;
      return AS_OK;
    }
  return fail(c, AS_EINVAL, join(field, sizeof field, prefix, name),
              "must be one of %s (got %.*s)", list, (int)AS_MIN(v.len, 64u), v.p);
}

/* --- Names ------------------------------------------------------------ */

static const char *const op_names[] = {"filter", "map", "reduce", "window", "enrich",
                                       "branch", NULL};
static const char *const filter_names[] = {"eq", "ne", "gt", "lt", "gte", "lte", "contains",
                                           NULL};
static const char *const reduce_names[] = {"count", "sum", "avg", "min", "max", NULL};
static const char *const window_names[] = {"tumbling", "sliding", "session", NULL};
static const char *const enrich_names[] = {"event", "metadata", NULL};
/* Envelope fields an enrich with source "event" can copy. */
static const char *const envelope_names[] = {"entity_id", "event_type", "tenant_id",
                                             "timestamp", "position", "version", "id",
                                             NULL};

const char *as_pop_type_name(as_pop_type t) { return op_names[t]; }
const char *as_preduce_fn_name(as_preduce_fn f) { return reduce_names[f]; }
const char *as_pwindow_type_name(as_pwindow_type t) { return window_names[t]; }

/* --- Operators ----------------------------------------------------------- */

/* "multiply:<number>" / "add:<number>": the number in Rust's f64 grammar
 * ([+-] digits [. digits] [e [+-] digits], or a leading "."), finite. */
static bool parse_arg(const char *s, size_t len, double *out) {
  char buf[64];
  if (len == 0 || len >= sizeof buf) return false;
  size_t i = 0, digits = 0;
  if (s[i] == '+' || s[i] == '-') i++;
  while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
  if (i < len && s[i] == '.') {
    i++;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
  }
  if (!digits) return false;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) i++;
    size_t e = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, e++;
    if (!e) return false;
  }
  if (i != len) return false;
  memcpy(buf, s, len);
  buf[len] = '\0';
  *out = strtod(buf, NULL);
  return isfinite(*out);
}

static as_err parse_map(pctx *c, as_json_val o, const char *w, as_pop *op) {
  as_json_val v;
  char field[96];
  as_err rc = path_member(c, o, w, "field", true, &op->field, NULL);
  if (rc) return rc;
  int r = member(c, o, w, "transform", X_STRING, true, &v);
  if (r < 0) return r;
  static const char *const simple[] = {"uppercase", "lowercase", "trim"};
  for (int i = 0; i < 3; i++)
    if (as_json_str_eq(v, simple[i], strlen(simple[i]))) {
      op->mfn = (as_pmap_fn)i;
      return AS_OK;
    }
  const char *s = v.p + 1;
  size_t len = v.len - 2;
  if (len > 9 && !memcmp(s, "multiply:", 9) && parse_arg(s + 9, len - 9, &op->arg)) {
    op->mfn = AS_PM_MULTIPLY;
    return AS_OK;
  }
  if (len > 4 && !memcmp(s, "add:", 4) && parse_arg(s + 4, len - 4, &op->arg)) {
    op->mfn = AS_PM_ADD;
    return AS_OK;
  }
  return fail(c, AS_EINVAL, join(field, sizeof field, w, "transform"),
              "must be uppercase, lowercase, trim, multiply:<number> or add:<number> "
              "(got %.*s)",
              (int)AS_MIN(v.len, 64u), v.p);
}

static as_err parse_reduce(pctx *c, as_json_val o, const char *w, as_preduce *r) {
  int fn = 0;
  as_err rc = enum_member(c, o, w, "function", reduce_names, "count, sum, avg, min, max", &fn);
  if (rc) return rc;
  r->fn = (as_preduce_fn)fn;
  if (r->fn == AS_PR_COUNT) { /* "field" is required, and ignored */
    as_json_val v;
    int m = member(c, o, w, "field", X_STRING, true, &v);
    if (m < 0) return m;
  } else if ((rc = path_member(c, o, w, "field", true, &r->field, NULL))) {
    return rc;
  }
  if ((rc = path_member(c, o, w, "group_by", false, &r->group_by, &r->has_group))) return rc;
  uint64_t g = AS_PCFG_DEFAULT_GROUPS;
  if ((rc = uint_member(c, o, w, "max_groups", false, 1, AS_PCFG_MAX_GROUPS, &g))) return rc;
  r->max_groups = (uint32_t)g;
  return AS_OK;
}

static as_err parse_window(pctx *c, as_json_val o, const char *w, as_pop *op) {
  as_json_val cfg, agg;
  char cw[64], field[96];
  int r = member(c, o, w, "config", X_OBJECT, true, &cfg);
  if (r < 0) return r;
  join(cw, sizeof cw, w, "config");
  as_err rc = no_duplicates(c, cfg, cw);
  if (rc) return rc;
  int t = 0;
  if ((rc = enum_member(c, cfg, cw, "window_type", window_names, "tumbling, sliding, session",
                        &t)))
    return rc;
  op->wtype = (as_pwindow_type)t;
  uint64_t size = 0, slide = 0, timeout = AS_PCFG_DEFAULT_SESSION;
  if ((rc = uint_member(c, cfg, cw, "size_seconds", op->wtype != AS_PW_SESSION, 1,
                        AS_PCFG_MAX_SECONDS, &size)))
    return rc;
  if ((rc = uint_member(c, cfg, cw, "slide_seconds", false, 1, AS_PCFG_MAX_SECONDS, &slide)))
    return rc;
  if ((rc = uint_member(c, cfg, cw, "session_timeout_seconds", false, 1, AS_PCFG_MAX_SECONDS,
                        &timeout)))
    return rc;
  if (op->wtype == AS_PW_SLIDING) {
    if (!slide) slide = size;
    if (slide > size)
      return fail(c, AS_EINVAL, join(field, sizeof field, cw, "slide_seconds"),
                  "must not be larger than size_seconds (%llu)", (unsigned long long)size);
    if ((size + slide - 1) / slide > AS_PCFG_MAX_WINDOW_STEPS)
      return fail(c, AS_ELIMIT, join(field, sizeof field, cw, "slide_seconds"),
                  "makes every event fall into more than %u windows "
                  "(size_seconds / slide_seconds)",
                  AS_PCFG_MAX_WINDOW_STEPS);
  } else {
    slide = size;
  }
  op->size_s = (uint32_t)size;
  op->slide_s = (uint32_t)slide;
  op->timeout_s = (uint32_t)timeout;
  op->size_us = (int64_t)size * 1000000;
  op->slide_us = (int64_t)slide * 1000000;
  op->timeout_us = (int64_t)timeout * 1000000;
  if ((r = member(c, o, w, "aggregation", X_OBJECT, true, &agg)) < 0) return r;
  char aw[64];
  join(aw, sizeof aw, w, "aggregation");
  if ((rc = no_duplicates(c, agg, aw))) return rc;
  as_json_val at;
  if ((r = member(c, agg, aw, "type", X_STRING, true, &at)) < 0) return r;
  if (!as_json_str_eq(at, "reduce", 6))
    return fail(c, AS_EINVAL, join(field, sizeof field, aw, "type"),
                "must be \"reduce\": a window aggregates with a reduce (got %.*s)",
                (int)AS_MIN(at.len, 64u), at.p);
  if ((rc = parse_reduce(c, agg, aw, &op->reduce))) return rc;
  uint64_t mw = AS_PCFG_DEFAULT_WINDOWS;
  if ((rc = uint_member(c, o, w, "max_windows", false, 1, AS_PCFG_MAX_WINDOWS, &mw))) return rc;
  op->max_windows = (uint32_t)mw;
  uint64_t per_event = (size + slide - 1) / (slide ? slide : 1);
  if (op->wtype == AS_PW_SLIDING && mw < per_event)
    return fail(c, AS_EINVAL, join(field, sizeof field, w, "max_windows"),
                "must be at least size_seconds / slide_seconds (%llu): every event falls "
                "into that many windows",
                (unsigned long long)per_event);
  return AS_OK;
}

static as_err parse_enrich(pctx *c, as_json_val o, const char *w, as_pop *op) {
  as_json_val arr, v;
  char field[96];
  int src = 0;
  as_err rc = enum_member(c, o, w, "source", enrich_names, "event, metadata", &src);
  if (rc) return rc;
  op->esource = (as_penrich_source)src;
  int r = member(c, o, w, "fields", X_ARRAY, true, &arr);
  if (r < 0) return r;
  as_json_iter it;
  uint32_t n = 0;
  as_json_iter_init(&it, arr);
  while (as_json_arr_next(&it, &v)) n++;
  if (n > AS_PCFG_MAX_ENRICH)
    return fail(c, AS_ELIMIT, join(field, sizeof field, w, "fields"),
                "has %u entries; the limit is %u", n, AS_PCFG_MAX_ENRICH);
  op->efields = as_calloc(n ? n : 1, sizeof *op->efields);
  if (!op->efields) return fail(c, AS_ENOMEM, "", "out of memory");
  as_json_iter_init(&it, arr);
  for (uint32_t i = 0; as_json_arr_next(&it, &v); i++) {
    snprintf(field, sizeof field, "%s.fields[%u]", w, i);
    if (v.kind != AS_JSON_STRING)
      return fail(c, AS_EINVAL, field, "must be a string, not %s", as_json_kind_name(v.kind));
    size_t len;
    char *s = dup_str(v, &len);
    if (!s) return fail(c, AS_ENOMEM, "", "out of memory");
    const char *why = NULL;
    rc = as_ppath_parse(s, len, &op->efields[i], &why);
    as_free(s);
    if (rc == AS_ENOMEM) return fail(c, rc, "", "out of memory");
    if (rc) return fail(c, AS_EINVAL, field, "%s", why);
    op->n_efields = i + 1;
    if (op->esource == AS_PE_EVENT) {
      bool known = false;
      for (int k = 0; envelope_names[k] && !known; k++)
        known = op->efields[i].n == 1 && !strcmp(op->efields[i].seg[0], envelope_names[k]);
      if (!known)
        return fail(c, AS_EINVAL, field,
                    "must name an event field: entity_id, event_type, tenant_id, timestamp, "
                    "position, version or id");
    }
  }
  return AS_OK;
}

static as_err parse_branch(pctx *c, as_json_val o, const char *w, as_pop *op) {
  as_json_val obj, k, v;
  char field[96];
  as_err rc = path_member(c, o, w, "field", true, &op->field, NULL);
  if (rc) return rc;
  int r = member(c, o, w, "branches", X_OBJECT, true, &obj);
  if (r < 0) return r;
  char bw[64];
  if ((rc = no_duplicates(c, obj, join(bw, sizeof bw, w, "branches")))) return rc;
  as_json_iter it;
  uint32_t n = 0;
  as_json_iter_init(&it, obj);
  while (as_json_obj_next(&it, &k, &v)) n++;
  if (n > AS_PCFG_MAX_BRANCHES)
    return fail(c, AS_ELIMIT, bw, "has %u entries; the limit is %u", n, AS_PCFG_MAX_BRANCHES);
  op->branches = as_calloc(n ? n : 1, sizeof *op->branches);
  if (!op->branches) return fail(c, AS_ENOMEM, "", "out of memory");
  as_json_iter_init(&it, obj);
  for (uint32_t i = 0; as_json_obj_next(&it, &k, &v); i++) {
    if (v.kind != AS_JSON_STRING) {
      snprintf(field, sizeof field, "%s.%.*s", bw, (int)AS_MIN(k.len - 2, 40u), k.p + 1);
      return fail(c, AS_EINVAL, field, "must be a string, not %s", as_json_kind_name(v.kind));
    }
    as_pbranch *b = &op->branches[i];
    b->key = dup_str(k, &b->key_len);
    b->route = as_strndup(v.p, v.len);
    b->route_len = v.len;
    op->n_branches = i + 1;
    if (!b->key || !b->route) return fail(c, AS_ENOMEM, "", "out of memory");
  }
  return AS_OK;
}

static as_err parse_op(pctx *c, as_json_val o, uint32_t index, as_pop *op) {
  char w[32], field[96];
  snprintf(w, sizeof w, "operators[%u]", index);
  if (o.kind != AS_JSON_OBJECT)
    return fail(c, AS_EINVAL, w, "must be an object, not %s", as_json_kind_name(o.kind));
  op->raw = o;
  as_err rc = no_duplicates(c, o, w);
  if (rc) return rc;
  int t = 0;
  if ((rc = enum_member(c, o, w, "type", op_names,
                        "filter, map, reduce, window, enrich, branch", &t)))
    return rc;
  op->type = (as_pop_type)t;
  switch (op->type) {
    case AS_POP_FILTER: {
      if ((rc = path_member(c, o, w, "field", true, &op->field, NULL))) return rc;
      int f = 0;
      if ((rc = enum_member(c, o, w, "op", filter_names, "eq, ne, gt, lt, gte, lte, contains",
                            &f)))
        return rc;
      op->fop = (as_pfilter_op)f;
      int r = member(c, o, w, "value", X_ANY, true, &op->value);
      if (r < 0) return r;
      if (op->value.len > AS_PCFG_MAX_VALUE)
        return fail(c, AS_ELIMIT, join(field, sizeof field, w, "value"),
                    "is %zu bytes of JSON; the limit is %u", op->value.len, AS_PCFG_MAX_VALUE);
      return AS_OK;
    }
    case AS_POP_MAP: return parse_map(c, o, w, op);
    case AS_POP_REDUCE: return parse_reduce(c, o, w, &op->reduce);
    case AS_POP_WINDOW: return parse_window(c, o, w, op);
    case AS_POP_ENRICH: return parse_enrich(c, o, w, op);
    case AS_POP_BRANCH: return parse_branch(c, o, w, op);
  }
  return AS_OK;
}

/* --- Top level ---------------------------------------------------------- */

static bool type_ok(const char *s, size_t len) {
  if (len == 0 || len > AS_MAX_EVENT_TYPE_LEN) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7f || ch == ' ') return false;
    /* '*' only as the last character of a ".*" suffix after a prefix */
    if (ch == '*' && !(i == len - 1 && i >= 2 && s[i - 1] == '.')) return false;
  }
  return true;
}

static as_err parse_types(pctx *c, as_json_val arr) {
  as_pdef *d = c->d;
  as_json_iter it;
  as_json_val v;
  uint32_t n = 0;
  as_json_iter_init(&it, arr);
  while (as_json_arr_next(&it, &v)) n++;
  if (n > AS_PCFG_MAX_TYPES)
    return fail(c, AS_ELIMIT, "source_event_types", "has %u entries; the limit is %u", n,
                AS_PCFG_MAX_TYPES);
  d->types = as_calloc(n ? n : 1, sizeof *d->types);
  d->type_lens = as_calloc(n ? n : 1, sizeof *d->type_lens);
  if (!d->types || !d->type_lens) return fail(c, AS_ENOMEM, "", "out of memory");
  as_json_iter_init(&it, arr);
  for (uint32_t i = 0; as_json_arr_next(&it, &v); i++) {
    char field[40];
    snprintf(field, sizeof field, "source_event_types[%u]", i);
    if (v.kind != AS_JSON_STRING)
      return fail(c, AS_EINVAL, field, "must be a string, not %s", as_json_kind_name(v.kind));
    size_t len;
    char *s = dup_str(v, &len);
    if (!s) return fail(c, AS_ENOMEM, "", "out of memory");
    d->types[i] = s;
    d->type_lens[i] = len;
    d->n_types = i + 1;
    if (!type_ok(s, len) || memchr(s, '\0', len))
      return fail(c, AS_EINVAL, field,
                  "must be an event type: 1-%u bytes, no spaces or control characters, '*' "
                  "only in a trailing \".*\" (prefix match)",
                  AS_MAX_EVENT_TYPE_LEN);
  }
  return AS_OK;
}

static as_err string_field(pctx *c, as_json_val root, const char *name, bool required,
                           size_t max, bool nonempty, char **out, size_t *len) {
  as_json_val v;
  int r = member(c, root, "", name, X_STRING, required, &v);
  if (r <= 0) return r;
  *out = dup_str(v, len);
  if (!*out) return fail(c, AS_ENOMEM, "", "out of memory");
  if (*len > max)
    return fail(c, AS_ELIMIT, name, "is %zu bytes; the limit is %zu", *len, max);
  if (nonempty && *len == 0) return fail(c, AS_EINVAL, name, "must not be empty");
  return AS_OK;
}

static as_err parse_start(pctx *c, as_json_val root) {
  as_json_val v;
  as_pdef *d = c->d;
  d->start = AS_PSTART_NOW;
  int r = member(c, root, "", "start_from", X_ANY, false, &v);
  if (r < 0) return r;
  if (r == 0 || v.kind == AS_JSON_NULL) return AS_OK;
  if (as_json_str_eq(v, "now", 3)) return AS_OK;
  if (as_json_str_eq(v, "beginning", 9)) {
    d->start = AS_PSTART_BEGINNING;
    return AS_OK;
  }
  uint64_t u;
  if (v.kind == AS_JSON_NUMBER && as_json_to_u64(v, &u) == AS_OK && u >= 1) {
    d->start = AS_PSTART_AT;
    d->start_at = u;
    return AS_OK;
  }
  return fail(c, AS_EINVAL, "start_from",
              "must be \"now\", \"beginning\" or a position (an integer >= 1)");
}

as_err as_pdef_parse(const char *config, size_t len, const uint8_t *gen_id, as_pdef **out,
                     as_pipeline_error *err) {
  as_err rc = AS_OK;
  *out = NULL;
  if (err) memset(err, 0, sizeof *err);
  pctx c = {NULL, err};
  if (len > AS_PCFG_MAX_BYTES)
    return fail(&c, AS_ELIMIT, "", "the config is %zu bytes of JSON; the limit is %u", len,
                AS_PCFG_MAX_BYTES);
  as_json_kind kind;
  as_json_error je;
  if (as_json_validate(config, len, AS_PCFG_MAX_DEPTH, &kind, &je))
    return fail(&c, AS_EJSON, "", "%s at byte %zu (nesting is limited to %u levels)", je.msg,
                je.offset, AS_PCFG_MAX_DEPTH);
  if (kind != AS_JSON_OBJECT)
    return fail(&c, AS_EINVAL, "", "the config must be a JSON object, not %s",
                as_json_kind_name(kind));
  as_pdef *d = c.d = as_calloc(1, sizeof *d);
  if (!d || !(d->text = as_strndup(config, len))) AS_FAIL(fail(&c, AS_ENOMEM, "", "out of memory"));
  d->text_len = len;
  as_json_val root = as_json_root(d->text, len), v, arr;
  AS_CHECK(no_duplicates(&c, root, ""));
  int r = member(&c, root, "", "id", X_STRING, !gen_id, &v);
  if (r < 0) AS_FAIL(r);
  if (r == 0) {
    memcpy(d->id, gen_id, 16);
  } else if (as_uuid_parse(v.p + 1, v.len - 2, d->id)) {
    AS_FAIL(fail(&c, AS_EINVAL, "id", "must be a UUID (got %.*s)", (int)AS_MIN(v.len, 64u), v.p));
  }
  AS_CHECK(string_field(&c, root, "name", true, AS_PCFG_MAX_NAME, true, &d->name, &d->name_len));
  AS_CHECK(string_field(&c, root, "description", false, AS_PCFG_MAX_DESCRIPTION, false,
                        &d->description, &d->description_len));
  if ((r = member(&c, root, "", "source_event_types", X_ARRAY, true, &arr)) < 0) AS_FAIL(r);
  AS_CHECK(parse_types(&c, arr));
  if ((r = member(&c, root, "", "operators", X_ARRAY, true, &arr)) < 0) AS_FAIL(r);
  {
    as_json_iter it;
    uint32_t n = 0;
    as_json_iter_init(&it, arr);
    while (as_json_arr_next(&it, &v)) n++;
    if (n > AS_PCFG_MAX_OPERATORS)
      AS_FAIL(fail(&c, AS_ELIMIT, "operators", "has %u entries; the limit is %u", n,
                   AS_PCFG_MAX_OPERATORS));
    d->ops = as_calloc(n ? n : 1, sizeof *d->ops);
    if (!d->ops) AS_FAIL(fail(&c, AS_ENOMEM, "", "out of memory"));
    as_json_iter_init(&it, arr);
    for (uint32_t i = 0; as_json_arr_next(&it, &v); i++) {
      d->n_ops = i + 1;
      AS_CHECK(parse_op(&c, v, i, &d->ops[i]));
    }
  }
  if ((r = member(&c, root, "", "enabled", X_BOOL, true, &v)) < 0) AS_FAIL(r);
  d->enabled = v.kind == AS_JSON_TRUE;
  AS_CHECK(string_field(&c, root, "output", false, AS_PCFG_MAX_OUTPUT, false, &d->output,
                        &d->output_len));
  AS_CHECK(parse_start(&c, root));
  uint64_t mo = AS_PCFG_DEFAULT_OUTPUTS;
  AS_CHECK(uint_member(&c, root, "", "max_outputs", false, 0, AS_PCFG_MAX_OUTPUTS, &mo));
  d->max_outputs = (uint32_t)mo;
  *out = d;
  return AS_OK;
out:
  as_pdef_free(d);
  return rc;
}

static void reduce_free(as_preduce *r) {
  as_ppath_free(&r->field);
  as_ppath_free(&r->group_by);
}

void as_pdef_free(as_pdef *d) {
  if (!d) return;
  for (uint32_t i = 0; i < d->n_ops; i++) {
    as_pop *op = &d->ops[i];
    as_ppath_free(&op->field);
    reduce_free(&op->reduce);
    for (uint32_t k = 0; k < op->n_efields; k++) as_ppath_free(&op->efields[k]);
    as_free(op->efields);
    for (uint32_t k = 0; k < op->n_branches; k++) {
      as_free(op->branches[k].key);
      as_free(op->branches[k].route);
    }
    as_free(op->branches);
  }
  as_free(d->ops);
  for (uint32_t i = 0; i < d->n_types; i++) as_free(d->types[i]);
  as_free(d->types);
  as_free(d->type_lens);
  as_free(d->text);
  as_free(d->name);
  as_free(d->description);
  as_free(d->output);
  as_free(d);
}

bool as_pdef_wants_type(const as_pdef *d, const char *t, size_t len) {
  if (d->n_types == 0) return true;
  for (uint32_t i = 0; i < d->n_types; i++) {
    size_t n = d->type_lens[i];
    const char *s = d->types[i];
    if (n == len && memcmp(s, t, len) == 0) return true;
    /* "order.*" matches "order.placed": the prefix up to and with the dot */
    if (n >= 2 && s[n - 1] == '*' && len >= n - 1 && memcmp(s, t, n - 1) == 0) return true;
  }
  return false;
}

void as_pdef_render(const as_pdef *d, uint64_t start, as_buf *b) {
  char id[37];
  as_uuid_format(d->id, id);
  as_buf_printf(b, "{\"id\":\"%s\",\"name\":", id);
  as_json_put_str(b, d->name, d->name_len);
  as_buf_puts(b, ",\"description\":");
  if (d->description)
    as_json_put_str(b, d->description, d->description_len);
  else
    as_buf_puts(b, "null");
  as_buf_puts(b, ",\"source_event_types\":[");
  for (uint32_t i = 0; i < d->n_types; i++) {
    if (i) as_buf_putc(b, ',');
    as_json_put_str(b, d->types[i], d->type_lens[i]);
  }
  as_buf_puts(b, "],\"operators\":[");
  for (uint32_t i = 0; i < d->n_ops; i++) {
    if (i) as_buf_putc(b, ',');
    as_json_put_one_line(b, d->ops[i].raw.p, d->ops[i].raw.len);
  }
  as_buf_printf(b, "],\"enabled\":%s,\"output\":", d->enabled ? "true" : "false");
  as_json_put_str(b, d->output ? d->output : "", d->output_len);
  as_buf_puts(b, ",\"start_from\":");
  if (d->start == AS_PSTART_AT)
    as_buf_put_u64(b, d->start_at);
  else
    as_buf_puts(b, d->start == AS_PSTART_BEGINNING ? "\"beginning\"" : "\"now\"");
  as_buf_printf(b, ",\"max_outputs\":%u", d->max_outputs);
  if (start) as_buf_printf(b, ",\"start_position\":%llu", (unsigned long long)start);
  as_buf_putc(b, '}');
}
