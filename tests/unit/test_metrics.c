/* test_metrics.c — the HTTP layer's request accounting and exposition
 * helpers (src/http/as_metrics.c, included: the unit tests link only the
 * engine): bucket boundaries (inclusive upper bounds), status classes,
 * started/finished, cumulative reads, exact totals under concurrent
 * observers, escaping and histogram lines.  Also prints the cost of one
 * observation (not asserted: a benchmark, never a timed test). */
#include <pthread.h>
#include <time.h>

#include "as_test.h"
#include "core/as_common.h"
#include "http/as_metrics.c"

AS_TEST(buckets_have_inclusive_upper_bounds) {
  as_metrics m;
  REQUIRE(as_metrics_init(&m, 3) == AS_OK);
  as_metrics_observe(&m, 1, 200, 0, 0);        /* <= 0.0001 */
  as_metrics_observe(&m, 1, 200, 100, 0);      /* <= 0.0001 (inclusive) */
  as_metrics_observe(&m, 1, 200, 101, 0);      /* <= 0.00025 */
  as_metrics_observe(&m, 1, 200, 10000000, 0); /* <= 10 */
  as_metrics_observe(&m, 1, 200, 10000001, 0); /* +Inf only */
  as_metrics_snapshot s;
  as_metrics_read(&m, 1, &s);
  CHECK_EQ_INT(s.cumulative[0], 2);
  CHECK_EQ_INT(s.cumulative[1], 3);
  CHECK_EQ_INT(s.cumulative[AS_METRICS_BUCKETS - 2], 3);
  CHECK_EQ_INT(s.cumulative[AS_METRICS_BUCKETS - 1], 4);
  CHECK_EQ_INT(s.cumulative[AS_METRICS_BUCKETS], 5);
  for (size_t i = 1; i <= AS_METRICS_BUCKETS; i++) CHECK(s.cumulative[i] >= s.cumulative[i - 1]);
  CHECK_EQ_INT(s.sum_us, 0 + 100 + 101 + 10000000 + 10000001);
  /* other slots untouched */
  as_metrics_read(&m, 0, &s);
  CHECK_EQ_INT(s.cumulative[AS_METRICS_BUCKETS], 0);
  as_metrics_free(&m);
}

AS_TEST(bounds_text_matches_bounds) {
  for (size_t i = 0; i < AS_METRICS_BUCKETS; i++) {
    double v = strtod(as_metrics_bounds_text[i], NULL);
    CHECK((uint64_t)(v * 1e6 + 0.5) == as_metrics_bounds_us[i]);
    if (i) CHECK(as_metrics_bounds_us[i] > as_metrics_bounds_us[i - 1]);
  }
}

AS_TEST(status_classes_and_requests_without_a_response) {
  as_metrics m;
  REQUIRE(as_metrics_init(&m, 2) == AS_OK);
  unsigned codes[] = {101, 200, 204, 304, 400, 404, 429, 500, 599, 0, 600, 99};
  for (size_t i = 0; i < AS_ARRAY_LEN(codes); i++) {
    as_metrics_start(&m, 0);
    as_metrics_observe(&m, 0, codes[i], 5, 10);
  }
  as_metrics_start(&m, 0); /* still in flight */
  as_metrics_start(&m, 7); /* out of range: ignored */
  as_metrics_observe(&m, 7, 200, 5, 10);
  as_metrics_snapshot s;
  as_metrics_read(&m, 0, &s);
  CHECK_EQ_INT(s.status[0], 1);
  CHECK_EQ_INT(s.status[1], 2);
  CHECK_EQ_INT(s.status[2], 1);
  CHECK_EQ_INT(s.status[3], 3);
  CHECK_EQ_INT(s.status[4], 2);
  CHECK_EQ_INT(s.cumulative[AS_METRICS_BUCKETS], 9); /* only answered requests */
  CHECK_EQ_INT(s.bytes_in, 90);
  CHECK_EQ_INT(s.started, 13);
  CHECK_EQ_INT(s.finished, 12);
  as_metrics_free(&m);
}

typedef struct obs_arg {
  as_metrics *m;
  int id;
} obs_arg;

#define PER_THREAD 200000

static void *observer(void *arg) {
  obs_arg *a = arg;
  for (uint64_t i = 0; i < PER_THREAD; i++) {
    as_metrics_start(a->m, (size_t)(i % 2));
    as_metrics_observe(a->m, (size_t)(i % 2), 200 + (unsigned)(i % 3) * 100, i % 20000, 3);
  }
  return NULL;
}

AS_TEST(exact_totals_under_concurrent_observers) {
  as_metrics m;
  REQUIRE(as_metrics_init(&m, 2) == AS_OK);
  pthread_t th[4];
  obs_arg args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (obs_arg){&m, i};
    REQUIRE(pthread_create(&th[i], NULL, observer, &args[i]) == 0);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  uint64_t total = 0, bytes = 0;
  for (size_t slot = 0; slot < 2; slot++) {
    as_metrics_snapshot s;
    as_metrics_read(&m, slot, &s);
    total += s.cumulative[AS_METRICS_BUCKETS];
    bytes += s.bytes_in;
    CHECK_EQ_INT(s.started, s.finished);
    CHECK_EQ_INT(s.status[1] + s.status[2] + s.status[3], s.cumulative[AS_METRICS_BUCKETS]);
  }
  CHECK_EQ_INT(total, 4 * PER_THREAD);
  CHECK_EQ_INT(bytes, 3 * 4 * PER_THREAD);
  as_metrics_free(&m);
}

AS_TEST(exposition_helpers) {
  as_buf b;
  as_buf_init(&b, 0);
  as_prom_header(&b, "x_total", "counter", "a \\ b\nc");
  as_prom_u64(&b, "x_total", NULL, 7);
  as_prom_u64(&b, "x_total", "", 8);
  as_buf_puts(&b, "y{v=\"");
  as_prom_label_value(&b, "q\"\\\n", 4);
  as_buf_puts(&b, "\"} 1\n");
  const char *bounds[2] = {"0.5", "1"};
  uint64_t cum[3] = {1, 2, 4};
  as_prom_histogram(&b, "h", "a=\"1\"", bounds, 2, cum, 2.5);
  as_prom_histogram(&b, "g", NULL, bounds, 2, cum, 0.000001);
  REQUIRE(!as_buf_error(&b));
  CHECK_EQ_STR(b.data,
               "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\n"
               "x_total 7\nx_total 8\n"
               "y{v=\"q\\\"\\\\\\n\"} 1\n"
               "h_bucket{a=\"1\",le=\"0.5\"} 1\nh_bucket{a=\"1\",le=\"1\"} 2\n"
               "h_bucket{a=\"1\",le=\"+Inf\"} 4\nh_sum{a=\"1\"} 2.500000\nh_count{a=\"1\"} 4\n"
               "g_bucket{le=\"0.5\"} 1\ng_bucket{le=\"1\"} 2\ng_bucket{le=\"+Inf\"} 4\n"
               "g_sum 0.000001\ng_count 4\n");
  as_buf_free(&b);
}

AS_TEST(cost_of_one_observation) {
  as_metrics m;
  REQUIRE(as_metrics_init(&m, 40) == AS_OK);
  struct timespec t0, t1;
  enum { N = 2000000 };
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (uint64_t i = 0; i < N; i++) {
    as_metrics_start(&m, (size_t)(i & 31));
    as_metrics_observe(&m, (size_t)(i & 31), 200, (i * 37) % 3000, 100);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
  printf("# as_metrics_start + as_metrics_observe: %.1f ns per request (one thread)\n", ns);
  as_metrics_snapshot s;
  as_metrics_read(&m, 0, &s);
  CHECK_EQ_INT(s.started, N / 32);
  as_metrics_free(&m);
}

AS_TEST_MAIN()
