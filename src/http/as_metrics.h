/*
 * as_metrics.h — the HTTP layer's request accounting for GET /metrics:
 * per route (and two extra slots: unmatched requests and CORS preflights)
 * the responses by status class, the request-duration histogram and the
 * request body bytes.
 *
 * Cost: one observation is a bucket search over AS_METRICS_BUCKETS bounds
 * and six relaxed atomic additions (one more when it starts) on the route's own cache lines; no
 * lock, no allocation.  Readers (the renderer) load each counter relaxed,
 * so a scrape racing requests could see a count one request ahead of the
 * buckets; as_metrics_read() therefore derives the count from the buckets
 * it read (count = the +Inf bucket), keeping every scrape self-consistent.
 *
 * Ownership: as_metrics_init() allocates the slot array; the owner frees it
 * with as_metrics_free().  Observations may come from any thread.
 */
#ifndef AS_METRICS_H
#define AS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_buf.h"

#define AS_METRICS_BUCKETS 16 /* finite bounds; the +Inf bucket is extra */

/* Bucket upper bounds in microseconds, and as text for the `le` label. */
extern const uint64_t as_metrics_bounds_us[AS_METRICS_BUCKETS];
extern const char *const as_metrics_bounds_text[AS_METRICS_BUCKETS];

/* Status classes counted: 1xx .. 5xx. */
#define AS_METRICS_CLASSES 5

typedef struct as_metrics_slot {
  _Alignas(64) _Atomic uint64_t started, finished;
  _Atomic uint64_t status[AS_METRICS_CLASSES];
  _Atomic uint64_t buckets[AS_METRICS_BUCKETS + 1]; /* last: above every bound */
  _Atomic uint64_t sum_us;
  _Atomic uint64_t bytes_in;
} as_metrics_slot;

typedef struct as_metrics {
  size_t nslots;
  as_metrics_slot *slots;
} as_metrics;

/** Allocates `nslots` zeroed slots.  AS_ENOMEM. */
as_err as_metrics_init(as_metrics *m, size_t nslots);
/** Frees the slots.  Accepts a zeroed as_metrics. */
void as_metrics_free(as_metrics *m);

/** Counts a request routed to `slot` (ignored when out of range). */
void as_metrics_start(as_metrics *m, size_t slot);

/** Counts one finished request in slot `slot` (ignored when out of range):
 *  `status` 100..599 (a request that ended without a response, status 0,
 *  counts only as finished), its duration and the body bytes received. */
void as_metrics_observe(as_metrics *m, size_t slot, unsigned status, uint64_t duration_us,
                        uint64_t bytes_in);

/** A consistent-enough copy of one slot (cumulative buckets, count = the
 *  +Inf bucket). */
typedef struct as_metrics_snapshot {
  uint64_t started, finished; /* in flight = started - finished */
  uint64_t status[AS_METRICS_CLASSES];
  uint64_t cumulative[AS_METRICS_BUCKETS + 1]; /* last = +Inf = count */
  uint64_t sum_us;
  uint64_t bytes_in;
} as_metrics_snapshot;

void as_metrics_read(const as_metrics *m, size_t slot, as_metrics_snapshot *out);

/* --- Text exposition format 0.0.4 helpers ------------------------------- */

/** "# HELP name help\n# TYPE name type\n" (help escaped per the format). */
void as_prom_header(as_buf *b, const char *name, const char *type, const char *help);
/** Appends a label value escaped per the format (\\, \", \n). */
void as_prom_label_value(as_buf *b, const char *s, size_t len);
/** "name{labels} value\n" with an unsigned value; labels may be NULL or
 *  "" (no braces), else the inside of the braces. */
void as_prom_u64(as_buf *b, const char *name, const char *labels, uint64_t v);
/** The same with a floating-point value (finite; six decimals). */
void as_prom_f64(as_buf *b, const char *name, const char *labels, double v);
/** A histogram's _bucket/_sum/_count lines from cumulative counts over
 *  `n` bounds (text) plus +Inf; `labels` as above (without "le"). */
void as_prom_histogram(as_buf *b, const char *name, const char *labels,
                       const char *const *bounds, size_t n, const uint64_t *cumulative,
                       double sum);

#endif /* AS_METRICS_H */
