/*
 * as_analytics.h — the seed's three analytics (seed-api-contract §5.1–5.3)
 * computed correctly: time filters always apply, frequency buckets start on
 * true calendar boundaries, unique counts are exact, and correlation has a
 * documented, deterministic pairing rule.
 *
 * Everything is computed from the engine's indexes through its public API:
 * counts per type and bucket are binary searches (as_query_count) where
 * possible; only entity-filtered or time-ranged summaries scan events, and
 * then without copying them.
 *
 * Results own their strings; free them with the matching *_free().
 */
#ifndef AS_ANALYTICS_H
#define AS_ANALYTICS_H

#include <stdbool.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_time.h"

#define AS_ANALYTICS_MAX_BUCKETS 100000u

/** Common filters: NULL = any; time bounds inclusive (AS_TIME_MIN/MAX = no
 *  bound).  event_type may end in ".*" (prefix). */
typedef struct as_an_filter {
  const char *entity_id;
  const char *event_type;
  int64_t since_us, until_us;
} as_an_filter;

typedef struct as_freq_result {
  as_window window;
  uint64_t total;
  size_t nbuckets;
  int64_t *starts;       /* bucket start times */
  uint64_t *counts;      /* events per bucket */
  size_t ntypes;
  char **types;          /* the event types that occur (sorted) */
  uint64_t *type_counts; /* [bucket * ntypes + type] */
} as_freq_result;

/** Counts events per calendar window from trunc(since) to trunc(until),
 *  with empty windows included.  AS_ELIMIT beyond AS_ANALYTICS_MAX_BUCKETS
 *  windows.  When no event matches, nbuckets is 0 (as in the seed). */
as_err as_analytics_frequency(as_db *db, const as_an_filter *f, as_window w,
                              as_freq_result *out, as_error *err);
void as_freq_result_free(as_freq_result *r);

typedef struct as_an_top {
  char *name;
  uint64_t count;
} as_an_top;

typedef struct as_summary_result {
  uint64_t total, unique_entities, unique_types;
  int64_t first_us, last_us;
  as_an_top top_types[10], top_entities[10]; /* count desc, then name */
  size_t ntop_types, ntop_entities;
} as_summary_result;

/** AS_ENOTFOUND when no event matches. */
as_err as_analytics_summary(as_db *db, const as_an_filter *f,
                            as_summary_result *out, as_error *err);
void as_summary_result_free(as_summary_result *r);

typedef struct as_corr_example {
  char *entity_id;
  int64_t a_us, b_us;
} as_corr_example;

typedef struct as_corr_result {
  uint64_t total_a, total_b;
  uint64_t pairs;       /* events of type A that found a partner */
  double avg_gap_s;     /* mean |b - a| over the pairs, in seconds */
  as_corr_example examples[5]; /* the first pairs in A's position order */
  size_t nexamples;
} as_corr_result;

/** Pairs each event A (type a, within the time filter) with one event B
 *  (type b, same entity): the nearest in time (directional = false) or the
 *  first one after it (directional = true), if within window_us.  An event
 *  is never paired with itself (a == b).  So pairs <= total_a. */
as_err as_analytics_correlation(as_db *db, const char *type_a,
                                const char *type_b, int64_t window_us,
                                int64_t since_us, int64_t until_us,
                                bool directional, as_corr_result *out,
                                as_error *err);
void as_corr_result_free(as_corr_result *r);

#endif /* AS_ANALYTICS_H */
