/*
 * as_metrics.c — lock-free request accounting and the Prometheus text
 * exposition helpers (see as_metrics.h).
 */
#include "http/as_metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"

/* The seed's buckets (0.005 .. 10 s) plus finer ones below 5 ms, where an
 * event store's requests live. */
const uint64_t as_metrics_bounds_us[AS_METRICS_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
const char *const as_metrics_bounds_text[AS_METRICS_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};

as_err as_metrics_init(as_metrics *m, size_t nslots) {
  m->slots = as_pages_alloc(nslots * sizeof *m->slots); /* zeroed, aligned */
  if (!m->slots) {
    m->nslots = 0;
    return AS_ENOMEM;
  }
  m->nslots = nslots;
  return AS_OK;
}

void as_metrics_free(as_metrics *m) {
  if (m->slots) as_pages_free(m->slots, m->nslots * sizeof *m->slots);
  m->slots = NULL;
  m->nslots = 0;
}

#define RELAXED memory_order_relaxed

void as_metrics_start(as_metrics *m, size_t slot) {
  if (slot < m->nslots) atomic_fetch_add_explicit(&m->slots[slot].started, 1, RELAXED);
}

void as_metrics_observe(as_metrics *m, size_t slot, unsigned status, uint64_t duration_us,
                        uint64_t bytes_in) {
  if (slot >= m->nslots) return;
  as_metrics_slot *s = &m->slots[slot];
  if (status < 100 || status > 599) {
    atomic_fetch_add_explicit(&s->finished, 1, RELAXED);
    return;
  }
  size_t b = 0;
  while (b < AS_METRICS_BUCKETS && duration_us > as_metrics_bounds_us[b]) b++;
  atomic_fetch_add_explicit(&s->status[status / 100 - 1], 1, RELAXED);
  atomic_fetch_add_explicit(&s->buckets[b], 1, RELAXED);
  atomic_fetch_add_explicit(&s->sum_us, duration_us, RELAXED);
  if (bytes_in) atomic_fetch_add_explicit(&s->bytes_in, bytes_in, RELAXED);
  atomic_fetch_add_explicit(&s->finished, 1, RELAXED);
}

void as_metrics_read(const as_metrics *m, size_t slot, as_metrics_snapshot *out) {
  memset(out, 0, sizeof *out);
  if (slot >= m->nslots) return;
  as_metrics_slot *s = &m->slots[slot];
  out->finished = atomic_load_explicit(&s->finished, RELAXED);
  out->started = atomic_load_explicit(&s->started, RELAXED);
  if (out->started < out->finished) out->started = out->finished; /* relaxed reads */
  for (size_t i = 0; i < AS_METRICS_CLASSES; i++)
    out->status[i] = atomic_load_explicit(&s->status[i], RELAXED);
  uint64_t acc = 0;
  for (size_t i = 0; i <= AS_METRICS_BUCKETS; i++) {
    acc += atomic_load_explicit(&s->buckets[i], RELAXED);
    out->cumulative[i] = acc;
  }
  out->sum_us = atomic_load_explicit(&s->sum_us, RELAXED);
  out->bytes_in = atomic_load_explicit(&s->bytes_in, RELAXED);
}

/* --- Exposition format ------------------------------------------------- */

void as_prom_header(as_buf *b, const char *name, const char *type, const char *help) {
  as_buf_printf(b, "# HELP %s ", name);
  for (const char *p = help; *p; p++) {
    if (*p == '\\')
      as_buf_puts(b, "\\\\");
    else if (*p == '\n')
      as_buf_puts(b, "\\n");
    else
      as_buf_putc(b, *p);
  }
  as_buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void as_prom_label_value(as_buf *b, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\\')
      as_buf_puts(b, "\\\\");
    else if (s[i] == '"')
      as_buf_puts(b, "\\\"");
    else if (s[i] == '\n')
      as_buf_puts(b, "\\n");
    else
      as_buf_putc(b, s[i]);
  }
}

static void series(as_buf *b, const char *name, const char *labels) {
  as_buf_puts(b, name);
  if (labels && labels[0]) as_buf_printf(b, "{%s}", labels);
  as_buf_putc(b, ' ');
}

void as_prom_u64(as_buf *b, const char *name, const char *labels, uint64_t v) {
  series(b, name, labels);
  as_buf_put_u64(b, v);
  as_buf_putc(b, '\n');
}

void as_prom_f64(as_buf *b, const char *name, const char *labels, double v) {
  series(b, name, labels);
  if (!isfinite(v)) v = 0;
  as_buf_printf(b, "%.6f\n", v); /* sums: microsecond resolution */
}

void as_prom_histogram(as_buf *b, const char *name, const char *labels,
                       const char *const *bounds, size_t n, const uint64_t *cumulative,
                       double sum) {
  const char *sep = labels && labels[0] ? "," : "";
  const char *l = labels ? labels : "";
  for (size_t i = 0; i <= n; i++) {
    as_buf_printf(b, "%s_bucket{%s%sle=\"%s\"} ", name, l, sep, i < n ? bounds[i] : "+Inf");
    as_buf_put_u64(b, cumulative[i]);
    as_buf_putc(b, '\n');
  }
  char nm[128];
  snprintf(nm, sizeof nm, "%s_sum", name);
  as_prom_f64(b, nm, labels, sum);
  snprintf(nm, sizeof nm, "%s_count", name);
  as_prom_u64(b, nm, labels, cumulative[n]);
}
