/* test_replay.c — the replay manager (src/services/as_replay.c): request
 * validation, results of isolated replays checked against brute-force
 * computations over the whole log (counts per type, entity state through
 * as_entity_state), filters and time bounds on every replay, live
 * projections untouched (no double counting), cancel mid-replay (a gated
 * projection makes it deterministic), state/delete rules, limits (running,
 * records), failed events, throttling, close while running, and replays
 * racing appenders on several threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "allsource.h"
#include "as_test.h"
#include "core/as_common.h"
#include "services/as_replay.h"
#include "test_util.h"

/* --- Fixture ------------------------------------------------------------ */

static as_db *open_mem(void) {
  as_options o;
  as_options_init(&o);
  o.durability = AS_DURABILITY_NONE;
  o.log_level = AS_LOG_ERROR;
  as_db *db = NULL;
  as_error err;
  if (as_db_open(NULL, &o, &db, &err)) fprintf(stderr, "open: %s\n", err.message);
  return db;
}

static as_replay_mgr *open_mgr(as_db *db, uint32_t max_running, uint32_t max_records) {
  as_replay_config c;
  as_replay_config_init(&c);
  c.log_level = AS_LOG_ERROR;
  if (max_running) c.max_running = max_running;
  if (max_records) c.max_records = max_records;
  as_replay_mgr *m = NULL;
  if (as_replay_open(db, &c, &m)) return NULL;
  return m;
}

/* Declares `db` (memory-only) and `m` (its replay manager) in a test case;
 * FX_CLOSE() closes both (the manager first, as the contract requires). */
#define FX_OPEN(max_running, max_records)                            \
  as_db *db = open_mem();                                            \
  REQUIRE(db);                                                       \
  as_replay_mgr *m = open_mgr(db, max_running, max_records);         \
  if (!m) as_db_close(db);                                           \
  REQUIRE(m)
#define FX_CLOSE()      \
  do {                  \
    as_replay_close(m); \
    as_db_close(db);    \
  } while (0)

static void append1(as_db *db, const char *entity, const char *type, const char *payload) {
  as_event_in e;
  ev_init(&e, entity, type, payload);
  as_err rc = as_append(db, &e, 1, NULL, NULL);
  if (rc) fprintf(stderr, "append: %s\n", as_strerror(rc));
}

static const char *const TYPES[] = {"order.placed", "order.paid", "user.created", "user.renamed"};
static const char *const ENTITIES[] = {"e-0", "e-1", "e-2", "e-3", "e-4"};

/* n events over 5 entities and 4 types, object payloads; a pause every
 * `group` events so timestamps differ between groups. */
static void fill(as_db *db, int n, int group) {
  for (int i = 0; i < n; i++) {
    char p[96];
    snprintf(p, sizeof p, "{\"i\":%d,\"k%d\":\"v%d\"}", i, i % 7, i);
    append1(db, ENTITIES[i % 5], TYPES[(i / 3) % 4], p);
    if (group && (i + 1) % group == 0) usleep(3000);
  }
}

static void start_default(as_replay_request *rq) { as_replay_request_init(rq); }

/* Waits until the replay is no longer running (5 s at most). */
static as_replay_status wait_done(as_replay_mgr *m, const uint8_t id[16], as_replay_info *out) {
  for (int i = 0; i < 5000; i++) {
    if (as_replay_get(m, id, out)) return (as_replay_status)-1;
    if (out->status != AS_REPLAY_RUNNING) return out->status;
    usleep(1000);
  }
  return AS_REPLAY_RUNNING;
}

/* Brute force: events whose filters hold, over the whole log. */
typedef struct sel {
  const char *entity, *type; /* NULL = any; type may end in ".*" */
  int64_t from_us, to_us;
} sel;

static bool matches(const sel *s, const as_event *ev) {
  if (s->entity && strcmp(s->entity, ev->entity_id)) return false;
  if (s->type) {
    size_t n = strlen(s->type);
    if (n >= 2 && s->type[n - 1] == '*') {
      if (ev->event_type_len < n - 1 || memcmp(ev->event_type, s->type, n - 1)) return false;
    } else if (strcmp(s->type, ev->event_type)) {
      return false;
    }
  }
  return ev->timestamp_us >= s->from_us && ev->timestamp_us <= s->to_us;
}

static uint64_t brute_count(as_db *db, const sel *s, const char *type_exact) {
  uint64_t n = 0, last = as_db_committed_position(db);
  for (uint64_t p = 1; p <= last; p++) {
    as_event ev;
    if (as_get_by_position(db, p, &ev)) continue;
    if (matches(s, &ev) && (!type_exact || strcmp(type_exact, ev.event_type) == 0)) n++;
  }
  return n;
}

/* The replayed {"count": n} of `type` in event_counters (0 if absent). */
static uint64_t replayed_count(as_replay_mgr *m, const uint8_t id[16], const char *type) {
  char *json;
  size_t len;
  int which;
  as_err rc = as_replay_state(m, id, "event_counters", 14, type, strlen(type), &json, &len,
                              &which);
  if (rc == AS_ENOTFOUND && which == 2) return 0;
  if (rc) return UINT64_MAX;
  unsigned long long n = 0;
  if (sscanf(json, "{\"count\":%llu}", &n) != 1) n = UINT64_MAX;
  as_free(json);
  return n;
}

static int64_t ts_at(as_db *db, uint64_t pos) {
  as_event ev;
  return as_get_by_position(db, pos, &ev) ? 0 : ev.timestamp_us;
}

/* --- Validation ----------------------------------------------------------- */

AS_TEST(rejects_bad_requests_and_records_nothing) {
  FX_OPEN(0, 0);
  fill(db, 10, 0);
  as_replay_request rq;
  as_error err;
  start_default(&rq);
  rq.batch_size = 0;
  CHECK_EQ_INT(as_replay_start(m, &rq, NULL, &err), AS_EINVAL);
  CHECK_EQ_STR(err.field, "batch_size");
  rq.batch_size = AS_REPLAY_MAX_BATCH + 1;
  CHECK_EQ_INT(as_replay_start(m, &rq, NULL, &err), AS_EINVAL);
  start_default(&rq);
  rq.progress_interval = 0;
  CHECK_EQ_INT(as_replay_start(m, &rq, NULL, &err), AS_EINVAL);
  CHECK_EQ_STR(err.field, "progress_interval");
  start_default(&rq);
  rq.workers = 0;
  CHECK_EQ_INT(as_replay_start(m, &rq, NULL, &err), AS_EINVAL);
  CHECK_EQ_STR(err.field, "workers");
  start_default(&rq);
  rq.from_us = 2000;
  rq.to_us = 1000;
  CHECK_EQ_INT(as_replay_start(m, &rq, NULL, &err), AS_EINVAL);
  CHECK_EQ_STR(err.field, "from_timestamp");
  start_default(&rq);
  rq.entity_id = "";
  rq.entity_id_len = 0;
  CHECK_EQ_INT(as_replay_start(m, &rq, NULL, &err), AS_EINVAL);
  CHECK_EQ_STR(err.field, "entity_id");
  start_default(&rq);
  rq.projection = "nope";
  rq.projection_len = 4;
  CHECK_EQ_INT(as_replay_start(m, &rq, NULL, &err), AS_ENOTFOUND);
  CHECK(strstr(err.message, "Projection not found: nope") != NULL);
  size_t n = 99;
  as_replay_stats st;
  as_replay_stats_get(m, &st);
  CHECK_EQ_INT(st.started, 0);
  as_replay_list(m, NULL, NULL, &n);
  CHECK_EQ_INT(n, 0);
  FX_CLOSE();
}

AS_TEST(config_limits_are_checked) {
  as_db *db = open_mem();
  REQUIRE(db);
  as_replay_config c;
  as_replay_mgr *m = NULL;
  as_replay_config_init(&c);
  c.max_running = 0;
  CHECK_EQ_INT(as_replay_open(db, &c, &m), AS_EINVAL);
  c.max_running = AS_REPLAY_MAX_RUNNING_LIMIT + 1;
  CHECK_EQ_INT(as_replay_open(db, &c, &m), AS_EINVAL);
  c.max_running = 4;
  c.max_records = 3;
  CHECK_EQ_INT(as_replay_open(db, &c, &m), AS_EINVAL);
  CHECK(m == NULL);
  as_db_close(db);
}

/* --- Results ---------------------------------------------------------------- */

AS_TEST(full_replay_counts_exactly_and_leaves_live_projections_alone) {
  FX_OPEN(0, 0);
  fill(db, 500, 0);
  uint64_t live_before[4];
  for (int t = 0; t < 4; t++) {
    char *j;
    size_t l;
    REQUIRE(as_projection_get(db, "event_counters", TYPES[t], strlen(TYPES[t]), &j, &l) == AS_OK);
    unsigned long long n = 0;
    sscanf(j, "{\"count\":%llu}", &n);
    live_before[t] = n;
    as_free(j);
  }
  for (int round = 0; round < 2; round++) { /* twice: no accumulation */
    as_replay_request rq;
    start_default(&rq);
    rq.batch_size = 7;
    as_replay_info info;
    REQUIRE(as_replay_start(m, &rq, &info, NULL) == AS_OK);
    CHECK_EQ_INT(info.total_events, 500);
    CHECK_EQ_INT(info.from_position, 1);
    CHECK_EQ_INT(info.to_position, 500);
    CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
    CHECK_EQ_INT(info.processed_events, 500);
    CHECK_EQ_INT(info.failed_events, 0);
    CHECK(info.progress_percentage == 100.0);
    CHECK(info.completed_us >= info.started_us);
    sel all = {NULL, NULL, AS_TIME_MIN, AS_TIME_MAX};
    for (int t = 0; t < 4; t++) {
      CHECK_EQ_INT(replayed_count(m, info.id, TYPES[t]), brute_count(db, &all, TYPES[t]));
      char *j;
      size_t l;
      REQUIRE(as_projection_get(db, "event_counters", TYPES[t], strlen(TYPES[t]), &j, &l) ==
              AS_OK);
      unsigned long long n = 0;
      sscanf(j, "{\"count\":%llu}", &n);
      CHECK_EQ_INT(n, live_before[t]); /* the live projection is untouched */
      as_free(j);
    }
    /* Replayed entity_snapshots equal the live ones over the whole log. */
    for (int e = 0; e < 5; e++) {
      char *a, *b;
      size_t al, bl;
      int which;
      REQUIRE(as_replay_state(m, info.id, "entity_snapshots", 16, ENTITIES[e], 3, &a, &al,
                              &which) == AS_OK);
      REQUIRE(as_projection_get(db, "entity_snapshots", ENTITIES[e], 3, &b, &bl) == AS_OK);
      CHECK(al == bl && memcmp(a, b, al) == 0);
      as_free(a);
      as_free(b);
    }
  }
  FX_CLOSE();
}

AS_TEST(filters_and_time_bounds_select_exactly) {
  FX_OPEN(0, 0);
  fill(db, 600, 50); /* 12 groups of distinct timestamps */
  int64_t t_lo = ts_at(db, 101), t_hi = ts_at(db, 450);
  REQUIRE(t_lo && t_hi && t_lo < t_hi);
  sel cases[] = {
      {NULL, NULL, t_lo, t_hi},           /* time bounds without filters */
      {NULL, NULL, t_lo, AS_TIME_MAX},
      {NULL, NULL, AS_TIME_MIN, t_hi},
      {"e-2", NULL, AS_TIME_MIN, AS_TIME_MAX},
      {"e-3", NULL, t_lo, t_hi},
      {NULL, "order.paid", t_lo, t_hi},
      {NULL, "user.*", AS_TIME_MIN, t_hi},
      {"e-1", "order.*", t_lo, AS_TIME_MAX},
      {"nobody", NULL, AS_TIME_MIN, AS_TIME_MAX},
      {NULL, NULL, t_hi + 3600000000LL, AS_TIME_MAX}, /* after everything */
  };
  for (size_t c = 0; c < AS_ARRAY_LEN(cases); c++) {
    sel *s = &cases[c];
    as_replay_request rq;
    start_default(&rq);
    rq.projection = "event_counters";
    rq.projection_len = 14;
    if (s->entity) {
      rq.entity_id = s->entity;
      rq.entity_id_len = strlen(s->entity);
    }
    if (s->type) {
      rq.event_type = s->type;
      rq.event_type_len = strlen(s->type);
    }
    rq.from_us = s->from_us;
    rq.to_us = s->to_us;
    as_replay_info info;
    REQUIRE(as_replay_start(m, &rq, &info, NULL) == AS_OK);
    uint64_t want = brute_count(db, s, NULL);
    if (info.total_events != want) fprintf(stderr, "  case %zu\n", c);
    CHECK_EQ_INT(info.total_events, want);
    CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
    CHECK_EQ_INT(info.processed_events, want);
    for (int t = 0; t < 4; t++)
      CHECK_EQ_INT(replayed_count(m, info.id, TYPES[t]), brute_count(db, s, TYPES[t]));
    /* The only target: the projection may be omitted when reading. */
    char *j;
    size_t l;
    int which;
    as_err rc = as_replay_state(m, info.id, NULL, 0, "order.paid", 10, &j, &l, &which);
    CHECK(rc == AS_OK || (rc == AS_ENOTFOUND && which == 2));
    if (!rc) as_free(j);
  }
  FX_CLOSE();
}

AS_TEST(entity_state_matches_as_entity_state_up_to_a_time) {
  FX_OPEN(0, 0);
  fill(db, 300, 30);
  int64_t t = ts_at(db, 170);
  for (int e = 0; e < 5; e++) {
    as_replay_request rq;
    start_default(&rq);
    rq.projection = "entity_snapshots";
    rq.projection_len = 16;
    rq.entity_id = ENTITIES[e];
    rq.entity_id_len = 3;
    rq.to_us = t;
    rq.batch_size = 1;
    as_replay_info info;
    REQUIRE(as_replay_start(m, &rq, &info, NULL) == AS_OK);
    CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
    char *a, *b;
    size_t al, bl;
    int which;
    REQUIRE(as_replay_state(m, info.id, NULL, 0, ENTITIES[e], 3, &a, &al, &which) == AS_OK);
    as_state_info si;
    REQUIRE(as_entity_state(db, ENTITIES[e], 3, t, &b, &bl, &si) == AS_OK);
    CHECK_EQ_INT(info.processed_events, si.event_count);
    CHECK(al == bl && memcmp(a, b, al) == 0);
    as_free(a);
    as_free(b);
    /* Another entity is not in this replay's result. */
    CHECK_EQ_INT(as_replay_state(m, info.id, NULL, 0, ENTITIES[(e + 1) % 5], 3, &a, &al, &which),
                 AS_ENOTFOUND);
    CHECK_EQ_INT(which, 2);
  }
  FX_CLOSE();
}

AS_TEST(empty_selection_completes_at_100_percent) {
  FX_OPEN(0, 0);
  as_replay_request rq;
  start_default(&rq);
  as_replay_info info;
  REQUIRE(as_replay_start(m, &rq, &info, NULL) == AS_OK); /* empty store */
  CHECK_EQ_INT(info.total_events, 0);
  CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
  CHECK(info.progress_percentage == 100.0);
  CHECK_EQ_INT(info.from_position, 0);
  FX_CLOSE();
}

/* --- A gated projection: apply() blocks until the test opens the gate ---- */

typedef struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t allowed; /* apply() may proceed while applied < allowed */
  uint64_t applied;
  uint64_t fail_every; /* apply() fails on every n-th event (0 = never) */
  int instances;       /* live instances */
} gate;

typedef struct gate_inst {
  gate *g;
  uint64_t seen;
} gate_inst;

static as_err gate_apply(void *ctx, const as_event *ev) {
  gate_inst *gi = ctx;
  gate *g = gi->g;
  pthread_mutex_lock(&g->mu);
  while (g->applied >= g->allowed) pthread_cond_wait(&g->cv, &g->mu);
  g->applied++;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
  gi->seen++;
  if (g->fail_every && ev->position % g->fail_every == 0) return AS_EINVAL;
  return AS_OK;
}

static as_err gate_get(void *ctx, const char *key, size_t key_len, char **json,
                       size_t *json_len) {
  gate_inst *gi = ctx;
  char buf[64];
  int n = snprintf(buf, sizeof buf, "{\"seen\":%llu}", (unsigned long long)gi->seen);
  *json = as_malloc_public((size_t)n + 1);
  if (!*json) return AS_ENOMEM;
  memcpy(*json, buf, (size_t)n + 1);
  *json_len = (size_t)n;
  return AS_OK;
}

static void gate_clear(void *ctx) { ((gate_inst *)ctx)->seen = 0; }

static void gate_destroy(void *ctx) {
  gate_inst *gi = ctx;
  pthread_mutex_lock(&gi->g->mu);
  gi->g->instances--;
  pthread_mutex_unlock(&gi->g->mu);
  free(gi);
}

static as_err gate_factory(void *arg, as_projection_ops *out) {
  gate *g = arg;
  gate_inst *gi = calloc(1, sizeof *gi);
  if (!gi) return AS_ENOMEM;
  gi->g = g;
  pthread_mutex_lock(&g->mu);
  g->instances++;
  pthread_mutex_unlock(&g->mu);
  *out = (as_projection_ops){"gated", gi, gate_apply, gate_get, gate_clear, gate_destroy};
  return AS_OK;
}

static void gate_init(gate *g, uint64_t allowed) {
  memset(g, 0, sizeof *g);
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
  g->allowed = allowed;
}

static void gate_open(gate *g, uint64_t allowed) {
  pthread_mutex_lock(&g->mu);
  g->allowed = allowed;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

static void gate_wait_applied(gate *g, uint64_t n) {
  pthread_mutex_lock(&g->mu);
  while (g->applied < n) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

static void gate_fini(gate *g) {
  pthread_mutex_destroy(&g->mu);
  pthread_cond_destroy(&g->cv);
}

static void start_gated(as_replay_mgr *m, uint32_t batch, as_replay_info *info, as_err *rc) {
  as_replay_request rq;
  start_default(&rq);
  rq.projection = "gated";
  rq.projection_len = 5;
  rq.batch_size = batch;
  *rc = as_replay_start(m, &rq, info, NULL);
}

/* Opens the gate from another thread after the cancel is requested (the
 * cancel waits for the worker, which is blocked in apply()). */
typedef struct opener {
  gate *g;
  uint64_t allowed;
} opener;

static void *open_later(void *arg) {
  opener *o = arg;
  usleep(50000);
  gate_open(o->g, o->allowed);
  return NULL;
}

AS_TEST(cancel_mid_replay_stops_between_batches) {
  FX_OPEN(0, 0);
  gate g;
  gate_init(&g, 25);
  REQUIRE(as_replay_add_projection(m, "gated", gate_factory, &g) == AS_OK);
  CHECK_EQ_INT(as_replay_add_projection(m, "gated", gate_factory, &g), AS_EEXIST);
  fill(db, 1000, 0);
  as_replay_info info;
  as_err rc;
  start_gated(m, 10, &info, &rc);
  REQUIRE(rc == AS_OK);
  gate_wait_applied(&g, 25); /* blocked inside the third batch */
  as_replay_info now;
  REQUIRE(as_replay_get(m, info.id, &now) == AS_OK);
  CHECK_EQ_INT(now.status, AS_REPLAY_RUNNING);
  CHECK_EQ_INT(now.processed_events, 20); /* two whole batches published */
  /* Reading a running replay's state is refused. */
  char *j;
  size_t l;
  int which;
  CHECK_EQ_INT(as_replay_state(m, info.id, NULL, 0, "x", 1, &j, &l, &which), AS_ECONFLICT);
  CHECK_EQ_INT(as_replay_delete(m, info.id), AS_ECONFLICT);
  pthread_t t;
  opener o = {&g, 1000000};
  REQUIRE(pthread_create(&t, NULL, open_later, &o) == 0);
  as_replay_info fin;
  CHECK_EQ_INT(as_replay_cancel(m, info.id, &fin), AS_OK);
  pthread_join(t, NULL);
  CHECK_EQ_INT(fin.status, AS_REPLAY_CANCELLED);
  CHECK_EQ_INT(fin.processed_events, 30); /* the batch in progress finished */
  CHECK(fin.completed_us != 0);
  CHECK_EQ_INT(as_replay_cancel(m, info.id, &fin), AS_ECONFLICT);
  CHECK_EQ_INT(fin.status, AS_REPLAY_CANCELLED);
  /* The partial result is readable once stopped. */
  REQUIRE(as_replay_state(m, info.id, "gated", 5, "x", 1, &j, &l, &which) == AS_OK);
  CHECK_EQ_STR(j, "{\"seen\":30}");
  as_free(j);
  /* A finished record: cancel conflicts, delete works, then it is gone. */
  CHECK_EQ_INT(as_replay_delete(m, info.id), AS_OK);
  CHECK_EQ_INT(as_replay_get(m, info.id, &fin), AS_ENOTFOUND);
  CHECK_EQ_INT(as_replay_cancel(m, info.id, &fin), AS_ENOTFOUND);
  CHECK_EQ_INT(as_replay_delete(m, info.id), AS_ENOTFOUND);
  CHECK_EQ_INT(g.instances, 0); /* the record's instance was destroyed */
  as_replay_stats st;
  as_replay_stats_get(m, &st);
  CHECK_EQ_INT(st.started, 1);
  CHECK_EQ_INT(st.cancelled, 1);
  CHECK_EQ_INT(st.completed, 0);
  CHECK_EQ_INT(st.events_processed, 30);
  FX_CLOSE();
  gate_fini(&g);
}

AS_TEST(failed_events_are_counted_and_the_replay_goes_on) {
  FX_OPEN(0, 0);
  gate g;
  gate_init(&g, UINT64_MAX);
  g.fail_every = 7;
  REQUIRE(as_replay_add_projection(m, "gated", gate_factory, &g) == AS_OK);
  fill(db, 100, 0);
  as_replay_info info;
  as_err rc;
  start_gated(m, 9, &info, &rc);
  REQUIRE(rc == AS_OK);
  CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
  CHECK_EQ_INT(info.processed_events, 100);
  CHECK_EQ_INT(info.failed_events, 14); /* positions 7, 14, ..., 98 */
  as_replay_close(m);
  CHECK_EQ_INT(g.instances, 0);
  as_db_close(db);
  gate_fini(&g);
}

AS_TEST(several_targets_need_a_projection_name_to_read) {
  FX_OPEN(0, 0);
  fill(db, 20, 0);
  as_replay_request rq;
  start_default(&rq);
  as_replay_info info;
  REQUIRE(as_replay_start(m, &rq, &info, NULL) == AS_OK);
  CHECK_EQ_STR(info.projection, "");
  CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
  char *j;
  size_t l;
  int which;
  CHECK_EQ_INT(as_replay_state(m, info.id, NULL, 0, "e-1", 3, &j, &l, &which), AS_EINVAL);
  CHECK_EQ_INT(as_replay_state(m, info.id, "gated", 5, "e-1", 3, &j, &l, &which), AS_ENOTFOUND);
  CHECK_EQ_INT(which, 1);
  uint8_t unknown[16] = {1};
  CHECK_EQ_INT(as_replay_state(m, unknown, NULL, 0, "e-1", 3, &j, &l, &which), AS_ENOTFOUND);
  CHECK_EQ_INT(which, 0);
  FX_CLOSE();
}

/* --- Limits -------------------------------------------------------------- */

AS_TEST(running_limit_refuses_and_records_limit_drops_the_oldest) {
  FX_OPEN(1, 2);
  gate g;
  gate_init(&g, 0);
  REQUIRE(as_replay_add_projection(m, "gated", gate_factory, &g) == AS_OK);
  fill(db, 50, 0);
  as_replay_info a, b, c, x;
  as_err rc;
  start_gated(m, 5, &a, &rc);
  REQUIRE(rc == AS_OK);
  start_gated(m, 5, &x, &rc);
  CHECK_EQ_INT(rc, AS_EAGAIN); /* one runs: the limit */
  gate_open(&g, UINT64_MAX);
  CHECK_EQ_INT(wait_done(m, a.id, &a), AS_REPLAY_COMPLETED);
  start_gated(m, 5, &b, &rc);
  REQUIRE(rc == AS_OK);
  CHECK_EQ_INT(wait_done(m, b.id, &b), AS_REPLAY_COMPLETED);
  start_gated(m, 5, &c, &rc); /* a third record: `a` is dropped */
  REQUIRE(rc == AS_OK);
  CHECK_EQ_INT(wait_done(m, c.id, &c), AS_REPLAY_COMPLETED);
  CHECK_EQ_INT(as_replay_get(m, a.id, &x), AS_ENOTFOUND);
  CHECK_EQ_INT(as_replay_get(m, b.id, &x), AS_OK);
  size_t n;
  as_replay_list(m, NULL, NULL, &n);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(g.instances, 2);
  as_replay_close(m);
  CHECK_EQ_INT(g.instances, 0);
  as_db_close(db);
  gate_fini(&g);
}

typedef struct list_acc {
  int n;
  uint8_t ids[8][16];
} list_acc;

static void list_cb(void *arg, const as_replay_info *i) {
  list_acc *a = arg;
  if (a->n < 8) memcpy(a->ids[a->n], i->id, 16);
  a->n++;
}

AS_TEST(list_is_in_start_order) {
  FX_OPEN(0, 0);
  fill(db, 10, 0);
  uint8_t ids[5][16];
  for (int i = 0; i < 5; i++) {
    as_replay_request rq;
    start_default(&rq);
    as_replay_info info;
    REQUIRE(as_replay_start(m, &rq, &info, NULL) == AS_OK);
    memcpy(ids[i], info.id, 16);
    wait_done(m, info.id, &info);
  }
  list_acc acc = {0};
  size_t n;
  as_replay_list(m, list_cb, &acc, &n);
  CHECK_EQ_INT(n, 5);
  CHECK_EQ_INT(acc.n, 5);
  for (int i = 0; i < 5; i++) CHECK(memcmp(acc.ids[i], ids[i], 16) == 0);
  FX_CLOSE();
}

/* --- Time ------------------------------------------------------------------ */

AS_TEST(throttle_bounds_the_rate_and_rate_is_measured_to_completion) {
  FX_OPEN(0, 0);
  fill(db, 400, 0);
  as_replay_request rq;
  start_default(&rq);
  rq.batch_size = 50;
  rq.max_events_per_second = 1000; /* 400 events: >= 0.35 s */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  as_replay_info info;
  REQUIRE(as_replay_start(m, &rq, &info, NULL) == AS_OK);
  CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK(secs >= 0.35);
  CHECK(info.events_per_second <= 1000.0 * 400 / 350);
  CHECK(info.events_per_second > 0);
  usleep(200000);
  as_replay_info later;
  REQUIRE(as_replay_get(m, info.id, &later) == AS_OK);
  CHECK(later.events_per_second == info.events_per_second); /* frozen at completion */
  as_replay_stats st;
  as_replay_stats_get(m, &st);
  CHECK_EQ_INT(st.duration_count, 1);
  CHECK(st.duration_sum >= 0.35);
  CHECK_EQ_INT(st.duration_buckets[2], 1); /* (0.1, 1] s */
  FX_CLOSE();
}

AS_TEST(close_cancels_running_replays_promptly) {
  FX_OPEN(0, 0);
  fill(db, 1000, 0);
  for (int i = 0; i < 3; i++) {
    as_replay_request rq;
    start_default(&rq);
    rq.batch_size = 1;
    rq.max_events_per_second = 10; /* would take 100 s */
    REQUIRE(as_replay_start(m, &rq, NULL, NULL) == AS_OK);
  }
  usleep(20000);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  as_replay_close(m);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  CHECK(secs < 1.0);
  as_db_close(db);
}

/* --- Concurrency ------------------------------------------------------------ */

typedef struct appender {
  as_db *db;
  int id;
  atomic_bool *stop;
  uint64_t done;
} appender;

static void *append_loop(void *arg) {
  appender *a = arg;
  char ent[16];
  snprintf(ent, sizeof ent, "w-%d", a->id);
  while (!atomic_load(a->stop) && a->done < 20000) {
    as_event_in ev[4];
    for (int k = 0; k < 4; k++) ev_init(&ev[k], ent, TYPES[k], "{\"x\":1}");
    if (as_append(a->db, ev, 4, NULL, NULL) == AS_OK) a->done += 4;
  }
  return NULL;
}

AS_TEST(replays_racing_appenders_see_exactly_their_selection) {
  FX_OPEN(4, 64);
  fill(db, 2000, 0);
  atomic_bool stop = false;
  appender ap[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    ap[i] = (appender){db, i, &stop, 0};
    REQUIRE(pthread_create(&th[i], NULL, append_loop, &ap[i]) == 0);
  }
  for (int round = 0; round < 12; round++) {
    as_replay_request rq;
    start_default(&rq);
    rq.projection = "event_counters";
    rq.projection_len = 14;
    rq.batch_size = 64;
    if (round % 3 == 1) {
      rq.event_type = "order.*";
      rq.event_type_len = 7;
    } else if (round % 3 == 2) {
      rq.entity_id = "w-1";
      rq.entity_id_len = 3;
    }
    as_replay_info info;
    as_err rc = as_replay_start(m, &rq, &info, NULL);
    if (rc == AS_EAGAIN) {
      usleep(2000);
      continue;
    }
    REQUIRE(rc == AS_OK);
    CHECK_EQ_INT(wait_done(m, info.id, &info), AS_REPLAY_COMPLETED);
    CHECK_EQ_INT(info.processed_events, info.total_events);
    /* Independent count over the fixed position range. */
    sel s = {rq.entity_id, rq.event_type, AS_TIME_MIN, AS_TIME_MAX};
    uint64_t want = 0, per_type[4] = {0};
    for (uint64_t p = info.from_position; p <= info.to_position && p; p++) {
      as_event ev;
      REQUIRE(as_get_by_position(db, p, &ev) == AS_OK);
      if (!matches(&s, &ev)) continue;
      want++;
      for (int t = 0; t < 4; t++)
        if (strcmp(ev.event_type, TYPES[t]) == 0) per_type[t]++;
    }
    CHECK_EQ_INT(info.total_events, want);
    for (int t = 0; t < 4; t++)
      CHECK_EQ_INT(replayed_count(m, info.id, TYPES[t]), per_type[t]);
    as_replay_delete(m, info.id);
  }
  atomic_store(&stop, true);
  for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
  FX_CLOSE();
}

typedef struct chaos {
  as_replay_mgr *m;
  unsigned seed;
  int started;
} chaos;

/* Random starts, reads, lists, cancels and deletes, by id of the replays
 * this thread started. */
static void *chaos_loop(void *arg) {
  chaos *c = arg;
  uint8_t ids[16][16];
  int n = 0;
  for (int i = 0; i < 300; i++) {
    int op = rand_r(&c->seed) % 5;
    as_replay_info info;
    if (op == 0 || n == 0) {
      as_replay_request rq;
      start_default(&rq);
      rq.batch_size = 1 + rand_r(&c->seed) % 200;
      if (as_replay_start(c->m, &rq, &info, NULL) == AS_OK) {
        memcpy(ids[n % 16], info.id, 16);
        n++;
        c->started++;
      }
      continue;
    }
    const uint8_t *id = ids[rand_r(&c->seed) % (n < 16 ? n : 16)];
    as_err rc;
    switch (op) {
      case 1:
        rc = as_replay_get(c->m, id, &info);
        if (!rc && info.status == AS_REPLAY_COMPLETED && info.processed_events != info.total_events)
          c->started = -1000000; /* a completed replay must have processed all */
        break;
      case 2:
        rc = as_replay_cancel(c->m, id, &info);
        if (rc == AS_OK && info.status != AS_REPLAY_CANCELLED) c->started = -1000000;
        break;
      case 3:
        rc = as_replay_delete(c->m, id);
        break;
      default: {
        size_t cnt;
        as_replay_list(c->m, NULL, NULL, &cnt);
        if (cnt > 8) c->started = -1000000; /* max_records */
        break;
      }
    }
  }
  return NULL;
}

AS_TEST(concurrent_api_calls_from_many_threads) {
  FX_OPEN(3, 8);
  fill(db, 3000, 0);
  chaos c[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    c[i] = (chaos){m, 17u + (unsigned)i, 0};
    REQUIRE(pthread_create(&th[i], NULL, chaos_loop, &c[i]) == 0);
  }
  int started = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    CHECK(c[i].started >= 0);
    started += c[i].started;
  }
  CHECK(started > 0);
  as_replay_stats st;
  as_replay_stats_get(m, &st);
  CHECK_EQ_INT(st.started, started);
  CHECK(st.records <= 8);
  FX_CLOSE();
}

AS_TEST_MAIN()
