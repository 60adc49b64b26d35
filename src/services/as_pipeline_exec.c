/*
 * as_pipeline_exec.c — running events through a pipeline definition and
 * keeping its state: per-operator counters, reduce groups, event-time
 * windows, branch counts and the last outputs (docs/pipelines.md).
 *
 * DESIGN
 *
 * 1. One event at a time, in position order.  The current value starts as
 *    the payload (an as_pv over the stored bytes) and each operator reads
 *    or replaces it; everything temporary lives in the state's arena,
 *    reset per event.  A filter that drops the event ends the chain (the
 *    event counts as processed and filtered); an operator that fails ends
 *    it too (counted as failed, with the reason kept in last_error).
 *
 * 2. Reduce state is per operator (the seed shared it per pipeline across
 *    operators with the same function), one cell per group.  A cell keeps
 *    count, numeric count, sum, min and max, so every function's value is
 *    exact to define: sum/avg/min/max see only numeric values.  Updates are
 *    computed first and committed only when every new value is finite and
 *    every needed cell fits the limits, so a failed event changes nothing
 *    in the operator that failed.
 *
 * 3. Windows use event timestamps (non-decreasing in position order), never
 *    the clock at processing time.  Tumbling: [k*size, (k+1)*size) aligned
 *    to the Unix epoch.  Sliding: every [j*slide, j*slide + size) holding
 *    the timestamp.  Session (per group): an event joins its group's open
 *    session when its timestamp is before the session's end, last event +
 *    timeout; otherwise it opens a new one.  A window is closed once the
 *    pipeline has seen an event (of any type) at or after its end.  The
 *    oldest windows are evicted beyond max_windows, or to make room for
 *    cells, never one the current event falls into.
 */
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_map.h"
#include "services/as_pipeline_int.h"

typedef struct pcell {
  uint64_t count; /* events */
  uint64_t n;     /* numeric values */
  double sum, min, max;
} pcell;

typedef struct pwin {
  int64_t start, end, last;
  uint64_t events;
  as_map cells; /* group -> pcell* */
  char *group;  /* session windows: the group (owned) */
  size_t group_len;
} pwin;

typedef struct popstate {
  uint64_t in, out;
  as_map groups; /* reduce: group -> pcell* */
  pwin **wins;   /* window: by start ascending */
  uint32_t n_wins, cap_wins;
  as_map sessions; /* session windows: group -> pwin* (the latest) */
  uint64_t evicted;
  uint64_t *routes; /* branch: per entry */
  uint64_t unrouted;
} popstate;

typedef struct pout {
  uint64_t position;
  char *json;
  size_t len;
} pout;

struct as_pstate {
  const as_pdef *d;
  popstate *ops;
  uint64_t processed, filtered, failed;
  int64_t last_ts, watermark;
  uint64_t cells;
  uint64_t err_pos;
  char err[256];
  pout *outs; /* ring of max_outputs */
  uint32_t n_outs, head;
  size_t out_bytes;
  uint64_t outputs_dropped;
  as_pv_arena arena;
  as_buf scratch;
  as_ppath route_path; /* "_route" */
  locale_t loc;        /* C.UTF-8 for case mapping; 0 = ASCII only */
};

typedef enum run { RUN_PASS, RUN_DROP, RUN_FAIL } run;

/* --- Lifecycle ---------------------------------------------------------- */

static void cell_free(void *p) { as_free(p); }

static void win_free(pwin *w) {
  if (!w) return;
  as_map_destroy(&w->cells, cell_free);
  as_free(w->group);
  as_free(w);
}

static void opstate_clear(popstate *o, uint32_t n_routes) {
  as_map_destroy(&o->groups, cell_free);
  as_map_init(&o->groups);
  for (uint32_t i = 0; i < o->n_wins; i++) win_free(o->wins[i]);
  as_free(o->wins);
  o->wins = NULL;
  o->n_wins = o->cap_wins = 0;
  as_map_destroy(&o->sessions, NULL);
  as_map_init(&o->sessions);
  o->in = o->out = o->evicted = o->unrouted = 0;
  if (o->routes) memset(o->routes, 0, sizeof *o->routes * n_routes);
}

static void outputs_clear(as_pstate *s) {
  for (uint32_t i = 0; i < s->n_outs; i++)
    as_free(s->outs[(s->head + i) % s->d->max_outputs].json);
  s->n_outs = s->head = 0;
  s->out_bytes = 0;
  s->outputs_dropped = 0;
}

as_err as_pstate_new(const as_pdef *d, as_pstate **out) {
  const char *why;
  *out = NULL;
  as_pstate *s = as_calloc(1, sizeof *s);
  if (!s) return AS_ENOMEM;
  s->d = d;
  s->last_ts = s->watermark = AS_TIME_MIN;
  as_pv_arena_init(&s->arena);
  as_buf_init(&s->scratch, 0);
  s->ops = as_calloc(d->n_ops ? d->n_ops : 1, sizeof *s->ops);
  if (d->max_outputs) s->outs = as_calloc(d->max_outputs, sizeof *s->outs);
  if (!s->ops || (d->max_outputs && !s->outs) ||
      as_ppath_parse("_route", 6, &s->route_path, &why)) {
    as_pstate_free(s);
    return AS_ENOMEM;
  }
  for (uint32_t i = 0; i < d->n_ops; i++) {
    as_map_init(&s->ops[i].groups);
    as_map_init(&s->ops[i].sessions);
    if (d->ops[i].type == AS_POP_BRANCH &&
        !(s->ops[i].routes = as_calloc(d->ops[i].n_branches + 1, sizeof(uint64_t)))) {
      as_pstate_free(s);
      return AS_ENOMEM;
    }
  }
  s->loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
  *out = s;
  return AS_OK;
}

void as_pstate_free(as_pstate *s) {
  if (!s) return;
  if (s->ops) {
    for (uint32_t i = 0; i < s->d->n_ops; i++) {
      opstate_clear(&s->ops[i], 0);
      as_map_destroy(&s->ops[i].groups, NULL);
      as_map_destroy(&s->ops[i].sessions, NULL);
      as_free(s->ops[i].routes);
    }
    as_free(s->ops);
  }
  if (s->outs) outputs_clear(s);
  as_free(s->outs);
  as_pv_arena_free(&s->arena);
  as_buf_free(&s->scratch);
  as_ppath_free(&s->route_path);
  if (s->loc) freelocale(s->loc);
  as_free(s);
}

void as_pstate_clear(as_pstate *s) {
  for (uint32_t i = 0; i < s->d->n_ops; i++)
    opstate_clear(&s->ops[i], s->d->ops[i].n_branches + 1);
  if (s->outs) outputs_clear(s);
  s->processed = s->filtered = s->failed = 0;
  s->last_ts = s->watermark = AS_TIME_MIN;
  s->cells = 0;
  s->err_pos = 0;
  s->err[0] = '\0';
  as_pv_arena_reset(&s->arena);
}

/* --- Helpers -------------------------------------------------------------- */

typedef struct ctx {
  as_pstate *s;
  const as_event *ev;
  uint32_t index; /* operator */
  bool need_out;  /* a later operator or the kept outputs read the value */
  char why[200];
} ctx;

__attribute__((format(printf, 2, 3))) static run failf(ctx *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, sizeof c->why, fmt, ap);
  va_end(ap);
  return RUN_FAIL;
}

static run oom(ctx *c) { return failf(c, "out of memory"); }

/* Replaces *cur by the JSON text in s->scratch. */
static run replace_with_scratch(ctx *c, as_pv **cur) {
  as_pstate *s = c->s;
  if (as_buf_error(&s->scratch)) return oom(c);
  char *copy = as_pv_alloc(&s->arena, s->scratch.len + 1);
  if (!copy) return oom(c);
  memcpy(copy, s->scratch.data, s->scratch.len + 1);
  as_pv *v = as_pv_from_text(&s->arena, copy, s->scratch.len);
  if (!v) return oom(c);
  *cur = v;
  return RUN_PASS;
}

/* Sets path of *cur to the JSON in s->scratch (a non-object on the path
 * leaves the value unchanged). */
static run set_scratch(ctx *c, as_pv *cur, const as_ppath *path) {
  as_pstate *s = c->s;
  if (as_buf_error(&s->scratch)) return oom(c);
  as_err rc = as_pv_set(&s->arena, cur, path, s->scratch.data, s->scratch.len);
  return rc == AS_ENOMEM ? oom(c) : RUN_PASS;
}

/* --- filter ------------------------------------------------------------------ */

static run op_filter(ctx *c, const as_pop *op, as_pv *cur) {
  as_pv_arena *a = &c->s->arena;
  as_json_val v;
  bool no_mem = false, pass = false;
  bool has = as_pv_get(a, cur, &op->field, &v, &no_mem);
  if (no_mem) return oom(c);
  switch (op->fop) {
    case AS_PF_EQ: pass = has && as_pv_equal(a, v, op->value, &no_mem); break;
    case AS_PF_NE: pass = !has || !as_pv_equal(a, v, op->value, &no_mem); break;
    case AS_PF_GT:
    case AS_PF_LT:
    case AS_PF_GTE:
    case AS_PF_LTE:
      if (has && v.kind == AS_JSON_NUMBER && op->value.kind == AS_JSON_NUMBER) {
        int cmp = as_pv_num_cmp(v, op->value);
        pass = op->fop == AS_PF_GT ? cmp > 0 : op->fop == AS_PF_LT ? cmp < 0
               : op->fop == AS_PF_GTE ? cmp >= 0 : cmp <= 0;
      }
      break;
    case AS_PF_CONTAINS:
      if (has && v.kind == AS_JSON_STRING && op->value.kind == AS_JSON_STRING) {
        size_t hn, nn;
        char *h = as_pv_str(a, v, &hn), *n = h ? as_pv_str(a, op->value, &nn) : NULL;
        if (!n) return oom(c);
        pass = nn == 0 || (nn <= hn && memmem(h, hn, n, nn) != NULL);
      }
      break;
  }
  if (no_mem) return oom(c);
  return pass ? RUN_PASS : RUN_DROP;
}

/* --- map ------------------------------------------------------------------------- */

static size_t utf8_dec(const unsigned char *p, uint32_t *cp) {
  if (p[0] < 0x80) { *cp = p[0]; return 1; }
  if (p[0] < 0xe0) { *cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f); return 2; }
  if (p[0] < 0xf0) {
    *cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
    return 3;
  }
  *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
        (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
  return 4;
}

static size_t utf8_enc(uint32_t cp, char *o) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Unicode White_Space (what Rust's str::trim removes). */
static bool is_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static uint32_t map_case(const as_pstate *s, uint32_t cp, bool upper) {
  if (s->loc) {
    wint_t r = upper ? towupper_l((wint_t)cp, s->loc) : towlower_l((wint_t)cp, s->loc);
    /* a mapping must stay a valid scalar value */
    if (r < 0x110000 && !(r >= 0xd800 && r <= 0xdfff)) return (uint32_t)r;
    return cp;
  }
  if (upper && cp >= 'a' && cp <= 'z') return cp - 32;
  if (!upper && cp >= 'A' && cp <= 'Z') return cp + 32;
  return cp;
}

static run op_map(ctx *c, const as_pop *op, as_pv *cur) {
  as_pstate *s = c->s;
  as_pv_arena *a = &s->arena;
  as_json_val v;
  bool no_mem = false;
  if (!as_pv_get(a, cur, &op->field, &v, &no_mem)) return no_mem ? oom(c) : RUN_PASS;
  as_buf_reset(&s->scratch);
  if (op->mfn == AS_PM_MULTIPLY || op->mfn == AS_PM_ADD) {
    double x;
    if (!as_pv_to_double(a, v, &x)) return v.kind == AS_JSON_NUMBER ? oom(c) : RUN_PASS;
    double r = op->mfn == AS_PM_MULTIPLY ? x * op->arg : x + op->arg;
    if (!isfinite(r))
      return failf(c, "map of %s: %.*s %s %g is not a finite number", op->field.text,
                   (int)AS_MIN(v.len, 40u), v.p, op->mfn == AS_PM_MULTIPLY ? "*" : "+", op->arg);
    as_pv_put_double(&s->scratch, r);
    return set_scratch(c, cur, &op->field);
  }
  if (v.kind != AS_JSON_STRING) return RUN_PASS;
  size_t n;
  char *str = as_pv_str(a, v, &n);
  char *o = str ? as_pv_alloc(a, n * 4 + 1) : NULL;
  if (!o) return oom(c);
  size_t olen = 0;
  const unsigned char *p = (const unsigned char *)str, *end = p + n;
  if (op->mfn == AS_PM_TRIM) {
    const unsigned char *b = p, *e = end;
    uint32_t cp;
    while (b < e) {
      size_t k = utf8_dec(b, &cp);
      if (!is_space(cp)) break;
      b += k;
    }
    while (e > b) { /* step back over one UTF-8 sequence */
      const unsigned char *q = e - 1;
      while (q > b && (*q & 0xc0) == 0x80) q--;
      utf8_dec(q, &cp);
      if (!is_space(cp)) break;
      e = q;
    }
    memcpy(o, b, (size_t)(e - b));
    olen = (size_t)(e - b);
  } else {
    bool upper = op->mfn == AS_PM_UPPERCASE;
    while (p < end) {
      uint32_t cp;
      p += utf8_dec(p, &cp);
      olen += utf8_enc(map_case(s, cp, upper), o + olen);
    }
  }
  as_json_put_str(&s->scratch, o, olen);
  return set_scratch(c, cur, &op->field);
}

/* --- reduce -------------------------------------------------------------------- */

/* The group of the current value: its group_by value when a string (the
 * text), a number or a boolean (its JSON text), else "default". */
static run group_of(ctx *c, const as_preduce *r, as_pv *cur, const char **g, size_t *glen) {
  as_pv_arena *a = &c->s->arena;
  *g = "default";
  *glen = 7;
  if (!r->has_group) return RUN_PASS;
  as_json_val v;
  bool no_mem = false;
  if (!as_pv_get(a, cur, &r->group_by, &v, &no_mem)) return no_mem ? oom(c) : RUN_PASS;
  if (v.kind == AS_JSON_STRING) {
    char *s = as_pv_str(a, v, glen);
    if (!s) return oom(c);
    *g = s;
  } else if (v.kind == AS_JSON_NUMBER || v.kind == AS_JSON_TRUE || v.kind == AS_JSON_FALSE) {
    *g = v.p;
    *glen = v.len;
  }
  if (*glen > AS_PSTATE_MAX_GROUP_KEY)
    return failf(c, "the group value (%s) is %zu bytes; the limit is %u", r->group_by.text,
                 *glen, AS_PSTATE_MAX_GROUP_KEY);
  return RUN_PASS;
}

/* The numeric input of a reduce: *has is false for count, a missing or
 * non-numeric field. */
static run reduce_input(ctx *c, const as_preduce *r, as_pv *cur, bool *has, double *x) {
  as_pv_arena *a = &c->s->arena;
  *has = false;
  if (r->fn == AS_PR_COUNT) return RUN_PASS;
  as_json_val v;
  bool no_mem = false;
  if (!as_pv_get(a, cur, &r->field, &v, &no_mem)) return no_mem ? oom(c) : RUN_PASS;
  if (v.kind != AS_JSON_NUMBER) return RUN_PASS;
  if (!as_pv_to_double(a, v, x)) return oom(c);
  if (!isfinite(*x))
    return failf(c, "%s = %.*s does not fit a 64-bit float", r->field.text,
                 (int)AS_MIN(v.len, 40u), v.p);
  *has = true;
  return RUN_PASS;
}

/* The cell after adding one event to `old` (NULL = new). */
static pcell cell_next(const pcell *old, bool has, double x) {
  pcell n = old ? *old : (pcell){0, 0, 0.0, 0.0, 0.0};
  n.count++;
  if (has) {
    n.min = n.n ? fmin(n.min, x) : x;
    n.max = n.n ? fmax(n.max, x) : x;
    n.sum += x;
    n.n++;
  }
  return n;
}

static void put_group(as_buf *b, const char *g, size_t len) {
  as_json_put_str(b, g, len);
}

/* Appends the function's value of a cell. */
static void put_value(as_buf *b, as_preduce_fn fn, const pcell *cl) {
  switch (fn) {
    case AS_PR_COUNT: as_buf_put_u64(b, cl->count); return;
    case AS_PR_SUM: as_pv_put_double(b, cl->sum); return;
    case AS_PR_AVG:
      if (cl->n) as_pv_put_double(b, cl->sum / (double)cl->n);
      else as_buf_puts(b, "null");
      return;
    case AS_PR_MIN:
    case AS_PR_MAX:
      if (cl->n) as_pv_put_double(b, fn == AS_PR_MIN ? cl->min : cl->max);
      else as_buf_puts(b, "null");
      return;
  }
}

static void put_aggregation(as_buf *b, as_preduce_fn fn, const char *g, size_t glen,
                            const pcell *cl) {
  as_buf_puts(b, "{\"group\":");
  put_group(b, g, glen);
  as_buf_printf(b, ",\"function\":\"%s\",\"value\":", as_preduce_fn_name(fn));
  put_value(b, fn, cl);
  as_buf_putc(b, '}');
}

/* What a reduce (or a window's aggregation) takes from the current value. */
typedef struct rin {
  const char *g; /* group */
  size_t glen;
  bool has; /* a numeric input */
  double x;
} rin;

static run reduce_in(ctx *c, const as_preduce *r, as_pv *cur, rin *in) {
  run rr = group_of(c, r, cur, &in->g, &in->glen);
  in->x = 0;
  return rr ? rr : reduce_input(c, r, cur, &in->has, &in->x);
}

static run op_reduce(ctx *c, const as_pop *op, popstate *st, as_pv **cur) {
  as_pstate *s = c->s;
  const as_preduce *r = &op->reduce;
  rin in;
  run rr = reduce_in(c, r, *cur, &in);
  if (rr) return rr;
  pcell *cl = as_map_get(&st->groups, in.g, in.glen);
  pcell next = cell_next(cl, in.has, in.x);
  if (!isfinite(next.sum)) return failf(c, "the sum of group \"%.*s\" overflowed", (int)AS_MIN(in.glen, 64u), in.g);
  if (!cl) {
    if (as_map_count(&st->groups) >= r->max_groups)
      return failf(c, "a new group \"%.*s\" would pass max_groups (%u)", (int)AS_MIN(in.glen, 64u),
                   in.g, r->max_groups);
    if (s->cells >= AS_PSTATE_MAX_CELLS)
      return failf(c, "the pipeline holds %u groups, the limit", AS_PSTATE_MAX_CELLS);
    cl = as_malloc(sizeof *cl);
    if (!cl || as_map_put(&st->groups, in.g, in.glen, cl, NULL)) {
      as_free(cl);
      return oom(c);
    }
    s->cells++;
  }
  *cl = next;
  if (!c->need_out) return RUN_PASS;
  as_buf_reset(&s->scratch);
  put_aggregation(&s->scratch, r->fn, in.g, in.glen, cl);
  return replace_with_scratch(c, cur);
}

/* --- window ----------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void win_remove(as_pstate *s, popstate *st, uint32_t i) {
  pwin *w = st->wins[i];
  if (w->group && as_map_get(&st->sessions, w->group, w->group_len) == w)
    as_map_del(&st->sessions, w->group, w->group_len);
  s->cells -= as_map_count(&w->cells);
  win_free(w);
  memmove(st->wins + i, st->wins + i + 1, sizeof *st->wins * (st->n_wins - i - 1));
  st->n_wins--;
  st->evicted++;
}

/* Evicts the window that ends first among those the current event does
 * not fall into (index < keep_from, or not `keep`).  False if none. */
static bool evict_one(as_pstate *s, popstate *st, uint32_t keep_from, const pwin *keep) {
  uint32_t best = UINT32_MAX;
  for (uint32_t i = 0; i < st->n_wins && i < keep_from; i++) {
    if (st->wins[i] == keep) continue;
    if (best == UINT32_MAX || st->wins[i]->end < st->wins[best]->end) best = i;
  }
  if (best == UINT32_MAX) return false;
  win_remove(s, st, best);
  return true;
}

static pwin *win_new(int64_t start, int64_t end) {
  pwin *w = as_calloc(1, sizeof *w);
  if (!w) return NULL;
  w->start = start;
  w->end = end;
  w->last = start;
  as_map_init(&w->cells);
  return w;
}

static bool win_append(popstate *st, pwin *w) {
  if (st->n_wins == st->cap_wins) {
    uint32_t cap = st->cap_wins ? st->cap_wins * 2 : 8;
    pwin **n = as_realloc(st->wins, sizeof *n * cap);
    if (!n) return false;
    st->wins = n;
    st->cap_wins = cap;
  }
  st->wins[st->n_wins++] = w;
  return true;
}

static void put_window_out(as_buf *b, const as_pop *op, const pwin *w, const char *g,
                           size_t glen, const pcell *cl) {
  as_buf_printf(b, "{\"window_type\":\"%s\",\"window_size_seconds\":%u,\"window_start\":",
                as_pwindow_type_name(op->wtype), op->size_s);
  as_json_put_time(b, w->start);
  as_buf_puts(b, ",\"window_end\":");
  as_json_put_time(b, w->end);
  as_buf_printf(b, ",\"events_in_window\":%llu,\"aggregation\":",
                (unsigned long long)w->events);
  put_aggregation(b, op->reduce.fn, g, glen, cl);
  as_buf_putc(b, '}');
}

static run op_window(ctx *c, const as_pop *op, popstate *st, as_pv **cur) {
  as_pstate *s = c->s;
  const as_preduce *r = &op->reduce;
  int64_t t = c->ev->timestamp_us;
  rin in;
  run rr = reduce_in(c, r, *cur, &in);
  if (rr) return rr;
  /* 1. The windows the event falls into: one session, or wins[first ..
   *    n_wins) for tumbling/sliding (the missing ones created). */
  uint32_t first = st->n_wins;
  pwin *session = NULL;
  if (op->wtype == AS_PW_SESSION) {
    session = as_map_get(&st->sessions, in.g, in.glen);
    if (!session || t >= session->end) {
      pwin *w = win_new(t, t + op->timeout_us);
      if (!w || !(w->group = as_strndup(in.g, in.glen)) || !win_append(st, w)) {
        win_free(w);
        return oom(c);
      }
      w->group_len = in.glen;
      if (as_map_put(&st->sessions, in.g, in.glen, w, NULL)) {
        st->n_wins--;
        win_free(w);
        return oom(c);
      }
      session = w;
    }
  } else {
    int64_t jhi = floor_div(t, op->slide_us);
    int64_t jlo = floor_div(t - op->size_us, op->slide_us) + 1;
    while (first > 0 && st->wins[first - 1]->start >= jlo * op->slide_us) first--;
    int64_t from = jlo;
    if (st->n_wins) from = AS_MAX(jlo, floor_div(st->wins[st->n_wins - 1]->start, op->slide_us) + 1);
    for (int64_t j = from; j <= jhi; j++) {
      pwin *w = win_new(j * op->slide_us, j * op->slide_us + op->size_us);
      if (!w || !win_append(st, w)) {
        win_free(w);
        return oom(c);
      }
    }
  }
  /* 2. Room for the new cells, then the updates (all or nothing). */
  uint32_t lo = session ? 0 : first, hi = session ? 0 : st->n_wins;
  pwin *only = session;
  uint32_t need = 0;
  if (only) {
    need = as_map_get(&only->cells, in.g, in.glen) ? 0 : 1;
  } else {
    for (uint32_t i = lo; i < hi; i++) need += !as_map_get(&st->wins[i]->cells, in.g, in.glen);
  }
  while (st->n_wins > op->max_windows || s->cells + need > AS_PSTATE_MAX_CELLS) {
    uint32_t before = st->n_wins;
    if (!evict_one(s, st, only ? st->n_wins : lo, only)) break;
    if (!only) {
      lo -= before - st->n_wins;
      hi -= before - st->n_wins;
    }
  }
  if (s->cells + need > AS_PSTATE_MAX_CELLS)
    return failf(c, "the pipeline holds %u groups, the limit", AS_PSTATE_MAX_CELLS);
  pwin *out_w = only ? only : st->wins[lo];
  for (uint32_t i = lo; only ? i < 1 : i < hi; i++) {
    pwin *w = only ? only : st->wins[i];
    pcell *cl = as_map_get(&w->cells, in.g, in.glen);
    if (!cl && as_map_count(&w->cells) >= r->max_groups)
      return failf(c, "a new group \"%.*s\" would pass max_groups (%u) in a window",
                   (int)AS_MIN(in.glen, 64u), in.g, r->max_groups);
    pcell next = cell_next(cl, in.has, in.x);
    if (!isfinite(next.sum))
      return failf(c, "the sum of group \"%.*s\" overflowed", (int)AS_MIN(in.glen, 64u), in.g);
  }
  pcell *out_cell = NULL;
  for (uint32_t i = lo; only ? i < 1 : i < hi; i++) {
    pwin *w = only ? only : st->wins[i];
    pcell *cl = as_map_get(&w->cells, in.g, in.glen);
    if (!cl) {
      cl = as_malloc(sizeof *cl);
      if (!cl || as_map_put(&w->cells, in.g, in.glen, cl, NULL)) {
        as_free(cl);
        return oom(c);
      }
      *cl = (pcell){0, 0, 0.0, 0.0, 0.0};
      s->cells++;
    }
    *cl = cell_next(cl, in.has, in.x);
    w->events++;
    w->last = t;
    if (only) w->end = t + op->timeout_us;
    if (w == out_w) out_cell = cl;
  }
  if (!c->need_out) return RUN_PASS;
  as_buf_reset(&s->scratch);
  put_window_out(&s->scratch, op, out_w, in.g, in.glen, out_cell);
  return replace_with_scratch(c, cur);
}

/* --- enrich and branch ------------------------------------------------------------ */

static run op_enrich(ctx *c, const as_pop *op, as_pv *cur) {
  as_pstate *s = c->s;
  const as_event *ev = c->ev;
  if (as_pv_kind(cur) != AS_JSON_OBJECT) return RUN_PASS;
  for (uint32_t i = 0; i < op->n_efields; i++) {
    const as_ppath *f = &op->efields[i];
    as_buf_reset(&s->scratch);
    if (op->esource == AS_PE_METADATA) {
      if (!ev->metadata) continue;
      as_pv *meta = as_pv_from_text(&s->arena, ev->metadata, ev->metadata_len);
      as_json_val v;
      bool no_mem = !meta;
      if (no_mem || !as_pv_get(&s->arena, meta, f, &v, &no_mem)) {
        if (no_mem) return oom(c);
        continue;
      }
      as_buf_append(&s->scratch, v.p, v.len);
    } else {
      const char *k = f->seg[0];
      if (!strcmp(k, "entity_id")) as_json_put_str(&s->scratch, ev->entity_id, ev->entity_id_len);
      else if (!strcmp(k, "event_type")) as_json_put_str(&s->scratch, ev->event_type, ev->event_type_len);
      else if (!strcmp(k, "tenant_id")) as_json_put_str(&s->scratch, ev->tenant_id, ev->tenant_id_len);
      else if (!strcmp(k, "timestamp")) as_json_put_time(&s->scratch, ev->timestamp_us);
      else if (!strcmp(k, "position")) as_buf_put_u64(&s->scratch, ev->position);
      else if (!strcmp(k, "version")) as_buf_put_u64(&s->scratch, ev->version);
      else as_json_put_uuid(&s->scratch, ev->id);
    }
    if (set_scratch(c, cur, f) == RUN_FAIL) return RUN_FAIL;
  }
  return RUN_PASS;
}

static run op_branch(ctx *c, const as_pop *op, popstate *st, as_pv *cur) {
  as_pstate *s = c->s;
  as_json_val v;
  bool no_mem = false;
  if (as_pv_kind(cur) != AS_JSON_OBJECT || !as_pv_get(&s->arena, cur, &op->field, &v, &no_mem) ||
      v.kind != AS_JSON_STRING) {
    if (no_mem) return oom(c);
    st->unrouted++;
    return RUN_PASS;
  }
  for (uint32_t i = 0; i < op->n_branches; i++) {
    const as_pbranch *b = &op->branches[i];
    if (!as_json_str_eq(v, b->key, b->key_len)) continue;
    st->routes[i]++;
    as_buf_reset(&s->scratch);
    as_buf_append(&s->scratch, b->route, b->route_len);
    return set_scratch(c, cur, &s->route_path);
  }
  st->unrouted++;
  return RUN_PASS;
}

/* --- Applying an event ----------------------------------------------------------------- */

static void keep_output(as_pstate *s, const as_event *ev, const as_pv *cur) {
  const as_pdef *d = s->d;
  as_buf_reset(&s->scratch);
  as_pv_write(cur, &s->scratch);
  if (as_buf_error(&s->scratch) || s->scratch.len > AS_PSTATE_MAX_OUTPUT_BYTES) {
    s->outputs_dropped++;
    return;
  }
  char *copy = as_strndup(s->scratch.data, s->scratch.len);
  if (!copy) {
    s->outputs_dropped++;
    return;
  }
  while (s->n_outs && (s->n_outs == d->max_outputs ||
                       s->out_bytes + s->scratch.len > AS_PSTATE_MAX_OUTPUT_BYTES)) {
    pout *o = &s->outs[s->head];
    s->out_bytes -= o->len;
    as_free(o->json);
    s->head = (s->head + 1) % d->max_outputs;
    s->n_outs--;
  }
  pout *o = &s->outs[(s->head + s->n_outs) % d->max_outputs];
  o->position = ev->position;
  o->json = copy;
  o->len = s->scratch.len;
  s->out_bytes += o->len;
  s->n_outs++;
}

void as_pstate_apply(as_pstate *s, const as_event *ev) {
  const as_pdef *d = s->d;
  s->watermark = ev->timestamp_us;
  if (!d->enabled || !as_pdef_wants_type(d, ev->event_type, ev->event_type_len)) return;
  as_pv_arena_reset(&s->arena);
  ctx c = {s, ev, 0, true, ""};
  as_pv *cur = as_pv_from_text(&s->arena, ev->payload, ev->payload_len);
  run rr = cur ? RUN_PASS : oom(&c);
  for (uint32_t i = 0; i < d->n_ops && rr == RUN_PASS; i++) {
    const as_pop *op = &d->ops[i];
    popstate *st = &s->ops[i];
    c.index = i;
    c.need_out = i + 1 < d->n_ops || d->max_outputs > 0;
    st->in++;
    switch (op->type) {
      case AS_POP_FILTER: rr = op_filter(&c, op, cur); break;
      case AS_POP_MAP: rr = op_map(&c, op, cur); break;
      case AS_POP_REDUCE: rr = op_reduce(&c, op, st, &cur); break;
      case AS_POP_WINDOW: rr = op_window(&c, op, st, &cur); break;
      case AS_POP_ENRICH: rr = op_enrich(&c, op, cur); break;
      case AS_POP_BRANCH: rr = op_branch(&c, op, st, cur); break;
    }
    if (rr == RUN_PASS) st->out++;
  }
  if (rr == RUN_FAIL) {
    s->failed++;
    s->err_pos = ev->position;
    snprintf(s->err, sizeof s->err, "operators[%u] (%s): %s", c.index,
             d->n_ops ? as_pop_type_name(d->ops[c.index].type) : "payload", c.why);
    return;
  }
  s->processed++;
  s->last_ts = ev->timestamp_us;
  if (rr == RUN_DROP) {
    s->filtered++;
    return;
  }
  if (d->max_outputs) keep_output(s, ev, cur);
}

/* --- Reading ----------------------------------------------------------------------------- */

void as_pstate_stats(const as_pstate *s, as_pipeline_stats *out) {
  out->events_processed = s->processed;
  out->events_filtered = s->filtered;
  out->events_failed = s->failed;
  out->last_processed_us = s->last_ts;
  out->last_error_position = s->err_pos;
  snprintf(out->last_error, sizeof out->last_error, "%s", s->err);
}

static int slot_cmp(const void *a, const void *b) {
  const as_map_slot *x = *(const as_map_slot *const *)a, *y = *(const as_map_slot *const *)b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, n);
  return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* "groups":[{"group","value","count"}...] sorted by group. */
static void put_groups(as_buf *b, const as_map *m, as_preduce_fn fn) {
  size_t n = as_map_count(m), k = 0, it = 0;
  const as_map_slot **v = as_malloc(sizeof *v * (n ? n : 1));
  if (!v) {
    b->err = AS_ENOMEM;
    return;
  }
  const as_map_slot *sl;
  while ((sl = as_map_next(m, &it))) v[k++] = sl;
  qsort(v, n, sizeof *v, slot_cmp);
  as_buf_puts(b, "\"groups\":[");
  for (size_t i = 0; i < n; i++) {
    const pcell *cl = v[i]->val;
    if (i) as_buf_putc(b, ',');
    as_buf_puts(b, "{\"group\":");
    put_group(b, v[i]->key, v[i]->key_len);
    as_buf_puts(b, ",\"value\":");
    put_value(b, fn, cl);
    as_buf_printf(b, ",\"count\":%llu}", (unsigned long long)cl->count);
  }
  as_buf_putc(b, ']');
  as_free(v);
}

static void put_op(const as_pstate *s, uint32_t i, as_buf *b) {
  const as_pop *op = &s->d->ops[i];
  const popstate *st = &s->ops[i];
  as_buf_printf(b, "{\"index\":%u,\"type\":\"%s\",\"events_in\":%llu,\"events_out\":%llu", i,
                as_pop_type_name(op->type), (unsigned long long)st->in,
                (unsigned long long)st->out);
  if (op->type == AS_POP_REDUCE) {
    as_buf_printf(b, ",\"function\":\"%s\",\"group_by\":", as_preduce_fn_name(op->reduce.fn));
    if (op->reduce.has_group)
      as_json_put_str(b, op->reduce.group_by.text, op->reduce.group_by.len);
    else
      as_buf_puts(b, "null");
    as_buf_printf(b, ",\"groups_total\":%zu,", as_map_count(&st->groups));
    put_groups(b, &st->groups, op->reduce.fn);
  } else if (op->type == AS_POP_WINDOW) {
    as_buf_printf(b, ",\"window_type\":\"%s\",\"size_seconds\":%u",
                  as_pwindow_type_name(op->wtype), op->size_s);
    if (op->wtype == AS_PW_SLIDING) as_buf_printf(b, ",\"slide_seconds\":%u", op->slide_s);
    if (op->wtype == AS_PW_SESSION)
      as_buf_printf(b, ",\"session_timeout_seconds\":%u", op->timeout_s);
    as_buf_printf(b, ",\"function\":\"%s\",\"group_by\":", as_preduce_fn_name(op->reduce.fn));
    if (op->reduce.has_group)
      as_json_put_str(b, op->reduce.group_by.text, op->reduce.group_by.len);
    else
      as_buf_puts(b, "null");
    as_buf_printf(b, ",\"windows_evicted\":%llu,\"windows\":[", (unsigned long long)st->evicted);
    for (uint32_t k = 0; k < st->n_wins; k++) {
      const pwin *w = st->wins[k];
      if (k) as_buf_putc(b, ',');
      as_buf_puts(b, "{\"start\":");
      as_json_put_time(b, w->start);
      as_buf_puts(b, ",\"end\":");
      as_json_put_time(b, w->end);
      as_buf_printf(b, ",\"closed\":%s,\"events_in_window\":%llu,",
                    s->watermark >= w->end ? "true" : "false", (unsigned long long)w->events);
      put_groups(b, &w->cells, op->reduce.fn);
      as_buf_putc(b, '}');
    }
    as_buf_putc(b, ']');
  } else if (op->type == AS_POP_BRANCH) {
    as_buf_puts(b, ",\"branches\":[");
    for (uint32_t k = 0; k < op->n_branches; k++) {
      if (k) as_buf_putc(b, ',');
      as_buf_puts(b, "{\"value\":");
      as_json_put_str(b, op->branches[k].key, op->branches[k].key_len);
      as_buf_puts(b, ",\"route\":");
      as_buf_append(b, op->branches[k].route, op->branches[k].route_len);
      as_buf_printf(b, ",\"count\":%llu}", (unsigned long long)st->routes[k]);
    }
    as_buf_printf(b, "],\"unrouted\":%llu", (unsigned long long)st->unrouted);
  }
  as_buf_putc(b, '}');
}

void as_pstate_results(const as_pstate *s, as_buf *b) {
  as_buf_puts(b, "\"watermark\":");
  if (s->watermark == AS_TIME_MIN)
    as_buf_puts(b, "null");
  else
    as_json_put_time(b, s->watermark);
  as_buf_puts(b, ",\"operators\":[");
  for (uint32_t i = 0; i < s->d->n_ops; i++) {
    if (i) as_buf_putc(b, ',');
    put_op(s, i, b);
  }
  as_buf_puts(b, "],\"outputs\":[");
  for (uint32_t i = 0; i < s->n_outs; i++) {
    const pout *o = &s->outs[(s->head + i) % s->d->max_outputs];
    if (i) as_buf_putc(b, ',');
    as_buf_printf(b, "{\"position\":%llu,\"value\":", (unsigned long long)o->position);
    as_json_put_one_line(b, o->json, o->len);
    as_buf_putc(b, '}');
  }
  as_buf_printf(b, "],\"outputs_dropped\":%llu,\"groups\":%llu",
                (unsigned long long)s->outputs_dropped, (unsigned long long)s->cells);
}
