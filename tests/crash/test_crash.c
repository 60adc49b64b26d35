/*
 * test_crash.c — the crash harness.  Runs a concurrent append workload on
 * the simulated file system, crashes it at every mutating operation in turn
 * (and makes fdatasync fail), loses power (unsynced data dropped or torn),
 * reopens, and checks:
 *   1. recovery succeeds (a crash never looks like corruption);
 *   2. sync mode: every acknowledged event is present exactly once, at its
 *      acknowledged position, with identical bytes;
 *   3. batches are atomic: all of a batch's events are present or none;
 *   4. positions are gap-free, versions run 1..n per entity in position
 *      order, and nothing unknown appears;
 *   5. the store accepts appends after recovery, and they survive too —
 *      also when the first crash was a kill -9 (page cache kept, so the
 *      recovered tail was never synced by the dead process) and the power
 *      fails after the new appends.
 * AS_CRASH_STEP (default 1) samples every n-th crash point; AS_CRASH_SEEDS
 * (default 3) sets the power-loss seeds per crash point.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allsource.h"
#include "as_test.h"
#include "core/as_rand.h"
#include "sim_io.h"

#define THREADS 3
#define BATCHES 25
#define MAX_BATCH 3
#define ENTITIES 4

typedef struct batch {
  int n;
  uint8_t ids[MAX_BATCH][16];
  char entity[MAX_BATCH][32];
  char payload[MAX_BATCH][160];
  bool acked;
  uint64_t pos[MAX_BATCH];
} batch;

typedef struct worker {
  as_db *db;
  int t;
  uint64_t seed;
  batch b[BATCHES];
  int submitted;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  as_rand r;
  as_rand_seed_u64(&r, w->seed * 131 + (uint64_t)w->t);
  uint64_t versions[ENTITIES] = {0};
  for (int k = 0; k < BATCHES; k++) {
    batch *b = &w->b[k];
    b->n = 1 + (int)as_rand_below(&r, MAX_BATCH);
    as_event_in ev[MAX_BATCH];
    int ent = (int)as_rand_below(&r, ENTITIES);
    for (int i = 0; i < b->n; i++) {
      snprintf(b->entity[i], sizeof b->entity[i], "t%d-e%d", w->t, ent);
      int plen = (int)as_rand_below(&r, 60);
      snprintf(b->payload[i], sizeof b->payload[i],
               "{\"t\":%d,\"k\":%d,\"i\":%d,\"pad\":\"%.*s\"}", w->t, k, i, plen,
               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
      for (int j = 0; j < 16; j++) b->ids[i][j] = (uint8_t)as_rand_next(&r);
      b->ids[i][0] = (uint8_t)(w->t + 1);
      as_event_in_init(&ev[i]);
      ev[i].entity_id = b->entity[i];
      ev[i].entity_id_len = strlen(b->entity[i]);
      ev[i].event_type = "crash.test";
      ev[i].event_type_len = 10;
      ev[i].payload = b->payload[i];
      ev[i].payload_len = strlen(b->payload[i]);
      ev[i].id = b->ids[i];
    }
    /* the thread owns its entities, so it knows their versions */
    ev[0].expected_version = versions[ent];
    as_append_result res[MAX_BATCH];
    w->submitted = k + 1;
    if (as_append(w->db, ev, (size_t)b->n, res, NULL) != AS_OK) break;
    b->acked = true;
    for (int i = 0; i < b->n; i++) b->pos[i] = res[i].position;
    versions[ent] += (uint64_t)b->n;
  }
  return NULL;
}

static as_options opts(as_durability d, sim_fs *fs) {
  as_options o;
  as_options_init(&o);
  o.durability = d;
  o.sync_interval_ms = 1;
  o.segment_bytes = 8192; /* rotate often */
  o.io = sim_fs_io(fs);
  o.log_level = AS_LOG_ERROR;
  o.log_fn = NULL;
  return o;
}

static void quiet(void *ctx, as_log_level l, const char *m) {}

static int failures;
#define VERIFY(cond, ...)                                                   \
  do {                                                                      \
    if (!(cond)) {                                                          \
      if (failures++ < 20) {                                                \
        fprintf(stderr, "  crash check failed (%s): ", #cond);              \
        fprintf(stderr, __VA_ARGS__);                                       \
        fprintf(stderr, "\n");                                              \
      }                                                                     \
      CHECK(cond);                                                          \
    }                                                                       \
  } while (0)

/* Checks the recovered store against what the workers did. */
static void verify(as_db *db, worker *ws, bool durable, const char *ctx) {
  uint64_t committed = as_db_committed_position(db);
  uint64_t present_events = 0;
  for (int t = 0; t < THREADS; t++) {
    for (int k = 0; k < ws[t].submitted; k++) {
      batch *b = &ws[t].b[k];
      int present = 0;
      for (int i = 0; i < b->n; i++) {
        as_event ev;
        if (as_get_by_id(db, b->ids[i], &ev) != AS_OK) continue;
        present++;
        VERIFY(strcmp(ev.payload, b->payload[i]) == 0 &&
                   strcmp(ev.entity_id, b->entity[i]) == 0,
               "%s: bytes differ for thread %d batch %d", ctx, t, k);
        if (b->acked)
          VERIFY(ev.position == b->pos[i], "%s: acked position %" PRIu64
                 " now %" PRIu64, ctx, b->pos[i], ev.position);
      }
      VERIFY(present == 0 || present == b->n,
             "%s: batch torn: %d of %d events present", ctx, present, b->n);
      if (durable && b->acked)
        VERIFY(present == b->n, "%s: acknowledged batch lost (thread %d "
               "batch %d, position %" PRIu64 ")", ctx, t, k, b->pos[0]);
      present_events += (uint64_t)present;
    }
  }
  VERIFY(present_events == committed,
         "%s: %" PRIu64 " events committed but %" PRIu64 " known", ctx,
         committed, present_events);
  /* gap-free positions and per-entity versions in position order */
  uint64_t next_version[THREADS][ENTITIES] = {{0}};
  for (uint64_t p = 1; p <= committed; p++) {
    as_event ev;
    if (as_get_by_position(db, p, &ev) != AS_OK) {
      VERIFY(0, "%s: position %" PRIu64 " missing", ctx, p);
      break;
    }
    int t, e;
    if (sscanf(ev.entity_id, "t%d-e%d", &t, &e) != 2) continue;
    VERIFY(ev.version == ++next_version[t][e],
           "%s: entity %s version %" PRIu64 " at position %" PRIu64, ctx,
           ev.entity_id, ev.version, p);
  }
}

static void run_once(as_durability mode, uint64_t crash_at, uint64_t fail_sync,
                     uint64_t seed, uint64_t *ops_out) {
  sim_fs *fs = sim_fs_new();
  as_options o = opts(mode, fs);
  o.log_fn = quiet;
  as_db *db;
  if (as_db_open("/db", &o, &db, NULL) != AS_OK) {
    CHECK(0);
    sim_fs_free(fs);
    return;
  }
  sim_fs_crash_at(fs, crash_at);
  sim_fs_fail_sync_at(fs, fail_sync);
  worker *ws = calloc(THREADS, sizeof *ws);
  pthread_t th[THREADS];
  for (int t = 0; t < THREADS; t++) {
    ws[t].db = db;
    ws[t].t = t;
    ws[t].seed = seed;
    pthread_create(&th[t], NULL, work, &ws[t]);
  }
  for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
  as_db_close(db);
  if (ops_out) *ops_out = sim_fs_ops(fs);
  /* Odd seeds: the process dies but the machine stays up (kill -9), so the
   * page cache survives; the power fails later, after new appends. */
  bool kill9 = seed % 2;
  if (kill9)
    sim_fs_restart(fs);
  else
    sim_fs_power_loss(fs, seed);

  char ctx[128];
  snprintf(ctx, sizeof ctx, "%s crash_at=%" PRIu64 " fail_sync=%" PRIu64
           " seed=%" PRIu64 "%s", as_durability_name(mode), crash_at, fail_sync,
           seed, kill9 ? " (kill -9)" : "");
  as_options o2 = opts(AS_DURABILITY_SYNC, fs);
  o2.log_fn = quiet;
  as_error err;
  as_err rc = as_db_open("/db", &o2, &db, &err);
  VERIFY(rc == AS_OK, "%s: reopen failed: %s", ctx, err.message);
  if (rc == AS_OK) {
    verify(db, ws, mode == AS_DURABILITY_SYNC || kill9, ctx);
    /* the recovered log takes appends, and they survive a power loss */
    uint64_t before = as_db_committed_position(db);
    as_event_in e;
    as_event_in_init(&e);
    e.entity_id = "after";
    e.entity_id_len = 5;
    e.event_type = "x";
    e.event_type_len = 1;
    e.payload = "{}";
    e.payload_len = 2;
    VERIFY(as_append(db, &e, 1, NULL, NULL) == AS_OK, "%s: append after recovery", ctx);
    as_db_close(db);
    sim_fs_power_loss(fs, seed + 1);
    rc = as_db_open("/db", &o2, &db, &err);
    VERIFY(rc == AS_OK, "%s: second reopen failed: %s", ctx, err.message);
    if (rc == AS_OK) {
      VERIFY(as_db_committed_position(db) == before + 1,
             "%s: post-recovery append lost", ctx);
      as_db_close(db);
    }
  }
  free(ws);
  sim_fs_free(fs);
}

static uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  return v && *v ? strtoull(v, NULL, 10) : dflt;
}

static void sweep(as_durability mode) {
  uint64_t step = env_u64("AS_CRASH_STEP", 1);
  uint64_t seeds = env_u64("AS_CRASH_SEEDS", 3);
  uint64_t total = 0;
  run_once(mode, 0, 0, 1, &total); /* no crash: how many operations? */
  REQUIRE(total > 50);
  uint64_t runs = 0;
  for (uint64_t at = 1; at <= total + 5; at += step)
    for (uint64_t s = 1; s <= seeds; s++, runs++) run_once(mode, at, 0, at * 7919 + s, NULL);
  printf("# %s: %" PRIu64 " crash runs over %" PRIu64 " operations\n",
         as_durability_name(mode), runs, total);
}

AS_TEST(threads_crash_at_every_operation_sync_mode) { sweep(AS_DURABILITY_SYNC); }

AS_TEST(threads_crash_at_every_operation_interval_mode) {
  sweep(AS_DURABILITY_INTERVAL);
}

AS_TEST(threads_failed_fdatasync_never_acknowledges) {
  for (uint64_t k = 1; k <= 40; k++) run_once(AS_DURABILITY_SYNC, 0, k, k, NULL);
}

AS_TEST(kill9_without_power_loss_keeps_everything_acknowledged) {
  sim_fs *fs = sim_fs_new();
  as_options o = opts(AS_DURABILITY_SYNC, fs);
  o.log_fn = quiet;
  as_db *db;
  REQUIRE(as_db_open("/db", &o, &db, NULL) == AS_OK);
  worker w = {.db = db, .t = 0, .seed = 5};
  work(&w);
  as_db_close(db);
  sim_fs_restart(fs);
  REQUIRE(as_db_open("/db", &o, &db, NULL) == AS_OK);
  uint64_t n = 0;
  for (int k = 0; k < w.submitted; k++) n += (uint64_t)w.b[k].n;
  CHECK_EQ_INT(as_db_committed_position(db), n);
  as_db_close(db);
  sim_fs_free(fs);
}

/* --- Sealing and compaction, deterministically --------------------------- */

typedef struct acked {
  uint8_t id[16];
  uint64_t pos;
  char payload[48];
} acked;

static int seal_round(as_db *db, int round, acked *out, int *n) {
  for (int i = 0; i < 20; i++) {
    acked *a = &out[*n];
    snprintf(a->payload, sizeof a->payload, "{\"round\":%d,\"i\":%d}", round, i);
    memset(a->id, 0, 16);
    a->id[0] = (uint8_t)(round + 1);
    a->id[1] = (uint8_t)(i + 1);
    as_event_in e;
    as_event_in_init(&e);
    e.entity_id = "sealed";
    e.entity_id_len = 6;
    e.event_type = "seal.test";
    e.event_type_len = 9;
    e.payload = a->payload;
    e.payload_len = strlen(a->payload);
    e.id = a->id;
    as_append_result r;
    if (as_append(db, &e, 1, &r, NULL) != AS_OK) return -1;
    a->pos = r.position;
    (*n)++;
  }
  return as_db_seal(db) == AS_OK ? 0 : -1;
}

static as_options seal_opts(sim_fs *fs) {
  as_options o = opts(AS_DURABILITY_SYNC, fs);
  o.segment_bytes = 1 << 20; /* only explicit seals rotate */
  o.compaction.auto_compact = false;
  o.compaction.strategy = AS_COMPACT_FULL;
  o.log_fn = quiet;
  return o;
}

/* Returns the number of mutating operations of the crash window. */
static uint64_t seal_run(uint64_t crash_at, uint64_t seed) {
  sim_fs *fs = sim_fs_new();
  as_options o = seal_opts(fs);
  as_db *db;
  acked acks[201];
  int n = 0;
  uint64_t window = 0;
  if (as_db_open("/db", &o, &db, NULL) != AS_OK) {
    CHECK(0);
    goto done;
  }
  for (int round = 0; round < 3; round++) {
    if (seal_round(db, round, acks, &n) != 0) {
      CHECK(0);
      as_db_close(db);
      goto done;
    }
  }
  uint64_t before = sim_fs_ops(fs);
  sim_fs_crash_at(fs, crash_at);
  /* the window: one more sealed round, then a full compaction */
  if (seal_round(db, 3, acks, &n) == 0) {
    as_compaction_result cr;
    as_compact(db, &cr);
  }
  as_db_close(db);
  window = sim_fs_ops(fs) - before;
  if (seed % 2)
    sim_fs_restart(fs);
  else
    sim_fs_power_loss(fs, seed);
  as_error err;
  as_err rc = as_db_open("/db", &o, &db, &err);
  VERIFY(rc == AS_OK, "seal crash_at=%" PRIu64 ": reopen failed: %s", crash_at,
         err.message);
  if (rc == AS_OK) {
    /* every acknowledged event exactly once, at its position, same bytes */
    uint64_t committed = as_db_committed_position(db);
    /* the one append in flight at the crash may or may not have survived;
     * if it did, it is whole and where it was going to be */
    VERIFY(committed == (uint64_t)n || committed == (uint64_t)n + 1,
           "seal crash_at=%" PRIu64 ": %" PRIu64 " events, %d acknowledged",
           crash_at, committed, n);
    if (committed == (uint64_t)n + 1) {
      as_event ev;
      VERIFY(as_get_by_id(db, acks[n].id, &ev) == AS_OK &&
                 ev.position == (uint64_t)n + 1 &&
                 strcmp(ev.payload, acks[n].payload) == 0,
             "seal crash_at=%" PRIu64 ": an unknown event appeared", crash_at);
    }
    for (int i = 0; i < n; i++) {
      as_event ev;
      as_err g = as_get_by_id(db, acks[i].id, &ev);
      VERIFY(g == AS_OK && ev.position == acks[i].pos &&
                 strcmp(ev.payload, acks[i].payload) == 0 && ev.version == acks[i].pos,
             "seal crash_at=%" PRIu64 ": event %d lost or changed", crash_at, i);
    }
    /* sealing and compaction work again after recovery */
    VERIFY(as_db_seal(db) == AS_OK, "seal crash_at=%" PRIu64 ": seal after recovery",
           crash_at);
    as_db_close(db);
    rc = as_db_open("/db", &o, &db, &err);
    VERIFY(rc == AS_OK && as_db_committed_position(db) == committed,
           "seal crash_at=%" PRIu64 ": reopen after reseal", crash_at);
    if (rc == AS_OK) as_db_close(db);
  }
done:
  sim_fs_free(fs);
  return window;
}

AS_TEST(crash_at_every_step_of_sealing_and_compaction) {
  uint64_t window = seal_run(0, 2);
  REQUIRE(window > 10);
  for (uint64_t at = 1; at <= window + 1; at++)
    for (uint64_t s = 1; s <= 2; s++) seal_run(at, at * 31 + s);
  printf("# sealing+compaction: %" PRIu64 " crash points x 2 (kill -9, power loss)\n",
         window + 1);
}

AS_TEST_MAIN()
