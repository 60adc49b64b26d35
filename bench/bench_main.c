/*
 * bench_main.c — allsource-bench: the engine's benchmarks.
 *
 * Part 1 reproduces every row of the seed's benchmark table (AllSource Core
 * v0.6, Criterion, in-process, Apple Silicon; seed-api-contract.md §12) with
 * the same workload and prints ours beside the seed's published figure and
 * the ratio (how many times faster we are; > 1 is better).  Part 2 measures
 * what the seed never did: append throughput per durability mode, the
 * group-commit curve of durable single-event appends, memory per event, and
 * whether append cost stays flat as the store grows.
 *
 * Usage: allsource-bench [--tsv] [--quick] [--only SUBSTR] [--scale N]
 *                        [--dir DIR]
 *   --tsv     print "scenario value unit seed_value ratio" lines ('-' where
 *             the seed has no figure)
 *   --quick   fewer iterations (for smoke tests)
 *   --scale N also append N events and report throughput per million
 *   --dir     where durable stores are created (default $TMPDIR or /tmp)
 */
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "allsource.h"
#include "engine/as_db_int.h"
#include "io/as_io.h"
#include "services/as_analytics.h"
#include "storage/as_parquet.h"

static int g_tsv, g_quick;
static const char *g_only;
static const char *g_dir;

/* --- Helpers ------------------------------------------------------------ */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef void (*body_fn)(void *ctx);

/* Median seconds per call of body over >= min_iters calls and >= min_s. */
static double measure(body_fn body, void *ctx, int min_iters, double min_s) {
  enum { MAXS = 20000 };
  static double samples[MAXS];
  if (g_quick) {
    min_iters = min_iters > 3 ? 3 : min_iters;
    min_s = 0.05;
  }
  body(ctx); /* warm-up */
  int n = 0;
  double start = now_s();
  while (n < MAXS && (n < min_iters || now_s() - start < min_s)) {
    double t0 = now_s();
    body(ctx);
    samples[n++] = now_s() - t0;
  }
  qsort(samples, (size_t)n, sizeof *samples, cmp_d);
  return samples[n / 2];
}

static const char *g_section; /* printed before its first row */

static void row(const char *scenario, double value, const char *unit,
                double seed, int higher_better, const char *note) {
  char ratio[32] = "-", seedbuf[32] = "-";
  if (g_section && !g_tsv)
    printf("\n%s\n\n| %-52s | %22s | %12s | %7s | notes\n|%s|%s|%s|%s|------\n",
           g_section, "scenario", "ours", "seed", "ratio",
           "------------------------------------------------------",
           "------------------------", "--------------", "---------");
  g_section = NULL;
  if (seed > 0) {
    snprintf(ratio, sizeof ratio, "%.1f", higher_better ? value / seed : seed / value);
    snprintf(seedbuf, sizeof seedbuf, "%.6g", seed);
  }
  if (g_tsv) {
    printf("%s\t%.6g\t%s\t%s\t%s\n", scenario, value, unit, seedbuf, ratio);
  } else {
    char v[32];
    snprintf(v, sizeof v, "%.4g", value);
    printf("| %-52s | %12s %-9s | %12s | %6s%s | %s\n", scenario, v, unit, seedbuf,
           ratio, seed > 0 ? "x" : " ", note ? note : "");
  }
  fflush(stdout);
}

static void section(const char *title) { g_section = title; }

static int wanted(const char *name) { return !g_only || strstr(name, g_only); }

static as_db *open_mem(uint32_t snap_every) {
  as_options o;
  as_options_init(&o);
  o.durability = AS_DURABILITY_NONE;
  o.snapshot_every_events = snap_every;
  o.log_level = AS_LOG_WARN;
  as_db *db = NULL;
  as_error err;
  if (as_db_open(NULL, &o, &db, &err)) {
    fprintf(stderr, "open: %s\n", err.message);
    exit(1);
  }
  return db;
}

static void put(as_db *db, const char *ent, size_t el, const char *type,
                const char *payload, size_t pl) {
  as_event_in e;
  as_event_in_init(&e);
  e.entity_id = ent;
  e.entity_id_len = el;
  e.event_type = type;
  e.event_type_len = strlen(type);
  e.payload = payload;
  e.payload_len = pl;
  as_error err;
  if (as_append(db, &e, 1, NULL, &err)) {
    fprintf(stderr, "append: %s\n", err.message);
    exit(1);
  }
}

static void wait_projections(as_db *db) {
  char *json;
  size_t len;
  /* as_projection_get waits until that projection caught up; "$snapshots"
   * is fed by the same worker right after it. */
  as_projection_get(db, "event_counters", "", 0, &json, &len);
  as_projection_stats ps;
  while (as_projection_stats_get(db, "$snapshots", &ps) == AS_OK &&
         ps.position < as_db_committed_position(db))
    usleep(100);
}

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w) {
  return remove(p);
}

static void tmpdir(char *out, size_t n) {
  snprintf(out, n, "%s/as-bench-XXXXXX", g_dir);
  if (!mkdtemp(out)) {
    perror("mkdtemp");
    exit(1);
  }
}

/* --- Seed scenarios ---------------------------------------------------- */

typedef struct ingest_ctx {
  int n;
} ingest_ctx;

/* ingestion_throughput/N: new store, N ingests of entity-{i%100}, type
 * benchmark.event, payload {"index":i,"data":"payload"}; create and drop
 * timed, as in the seed. */
static void ingest_body(void *p) {
  ingest_ctx *c = p;
  as_db *db = open_mem(100);
  char ent[32], payload[64];
  for (int i = 0; i < c->n; i++) {
    int el = snprintf(ent, sizeof ent, "entity-%d", i % 100);
    int pl = snprintf(payload, sizeof payload, "{\"index\":%d,\"data\":\"payload\"}", i);
    put(db, ent, (size_t)el, "benchmark.event", payload, (size_t)pl);
  }
  as_db_close(db);
}

typedef struct query_ctx {
  as_db *db;
  as_query q;
  uint64_t sink;
} query_ctx;

static void query_body(void *p) {
  query_ctx *c = p;
  as_iter *it;
  if (as_query_open(c->db, &c->q, &it)) exit(1);
  as_event ev;
  while (as_iter_next(it, &ev) == AS_OK) c->sink += ev.payload_len + ev.position;
  as_iter_close(it);
}

typedef struct state_ctx {
  as_db *db;
  const char *entity;
  int64_t as_of;
  uint64_t sink;
} state_ctx;

static void state_body(void *p) {
  state_ctx *c = p;
  char *json;
  size_t len;
  as_state_info info;
  if (as_entity_state(c->db, c->entity, strlen(c->entity), c->as_of, &json, &len,
                      &info))
    exit(1);
  c->sink += len + info.event_count;
  as_free(json);
}

typedef struct conc_ctx {
  int threads;
} conc_ctx;

typedef struct conc_arg {
  as_db *db;
  int t;
} conc_arg;

static void *conc_thread(void *p) {
  conc_arg *a = p;
  char ent[64], payload[64];
  for (int i = 0; i < 250; i++) {
    int el = snprintf(ent, sizeof ent, "thread-%d-entity-%d", a->t, i);
    int pl = snprintf(payload, sizeof payload, "{\"thread\":%d,\"index\":%d}", a->t, i);
    put(a->db, ent, (size_t)el, "concurrent.write", payload, (size_t)pl);
  }
  return NULL;
}

/* concurrent_writes/T: new store, T OS threads x 250 ingests of a unique
 * entity each; spawn, join, create and drop timed. */
static void conc_body(void *p) {
  conc_ctx *c = p;
  as_db *db = open_mem(100);
  pthread_t th[8];
  conc_arg args[8];
  for (int t = 0; t < c->threads; t++) {
    args[t] = (conc_arg){db, t};
    pthread_create(&th[t], NULL, conc_thread, &args[t]);
  }
  for (int t = 0; t < c->threads; t++) pthread_join(th[t], NULL);
  as_db_close(db);
}

/* wal_writes/wal_sync_writes_100: new durable store (fdatasync per append,
 * no group partner), 100 ingests of wal-entity; create, drop and directory
 * removal timed. */
static void wal100_body(void *p) {
  char dir[512];
  tmpdir(dir, sizeof dir);
  as_options o;
  as_options_init(&o);
  o.log_level = AS_LOG_WARN;
  as_db *db;
  if (as_db_open(dir, &o, &db, NULL)) exit(1);
  char payload[64];
  for (int i = 0; i < 100; i++) {
    int pl = snprintf(payload, sizeof payload, "{\"index\":%d}", i);
    put(db, "wal-entity", 10, "wal.write", payload, (size_t)pl);
  }
  as_db_close(db);
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* parquet_write/batch_1000: 1000 events already in memory written as one
 * Parquet file (the seed's "Parquet Write, 1000 events batch"); writer open,
 * 1000 adds, finish (compress, footer; fdatasync in the _fdatasync row)
 * timed; the unlink is not.  The seed's writer did not sync. */
typedef struct pq_ctx {
  as_event ev[1000];
  as_pq_codec codec;
  bool sync;
  char dir[512];
} pq_ctx;

static void pq_body(void *p) {
  pq_ctx *c = p;
  char path[600];
  snprintf(path, sizeof path, "%s/batch.parquet", c->dir);
  as_pq_write_options o;
  as_pq_write_options_init(&o);
  o.codec = c->codec;
  o.sync = c->sync;
  as_pq_writer *w;
  as_error err;
  if (as_pq_writer_open(as_io_posix(), path, &o, &w, &err) ||
      as_pq_writer_add_n(w, c->ev, 1000, &err) || as_pq_writer_finish(w, NULL, &err)) {
    fprintf(stderr, "parquet: %s\n", err.message);
    exit(1);
  }
}

static void parquet_rows(void) {
  static const struct { const char *name; as_pq_codec codec; bool sync; double seed_ms; } v[] = {
      {"parquet_write/batch_1000", AS_PQ_ZSTD, false, 3.47},
      {"parquet_write/batch_1000_fdatasync", AS_PQ_ZSTD, true, 0},
      {"parquet_write/batch_1000_snappy", AS_PQ_SNAPPY, false, 0}};
  bool any = false;
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) any |= wanted(v[k].name);
  if (!any) return;
  static pq_ctx c;
  as_db *db = open_mem(0);
  char payload[96];
  for (int i = 0; i < 1000; i++) {
    char ent[32];
    int el = snprintf(ent, sizeof ent, "parquet-entity-%d", i % 100);
    int pl = snprintf(payload, sizeof payload,
                      "{\"index\":%d,\"data\":\"payload %d\",\"amount\":%d.5}", i, i, i * 3);
    put(db, ent, (size_t)el, "parquet.test", payload, (size_t)pl);
  }
  for (uint64_t pos = 1; pos <= 1000; pos++) as_frame_view(as__frame_at(db, pos), &c.ev[pos - 1]);
  tmpdir(c.dir, sizeof c.dir);
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
    if (!wanted(v[k].name)) continue;
    c.codec = v[k].codec;
    c.sync = v[k].sync;
    double t = measure(pq_body, &c, 20, 1.0);
    row(v[k].name, t * 1e3, "ms", v[k].seed_ms, 0,
        v[k].sync ? "as sealing writes: ZSTD-1, fdatasync at finish"
                  : "no fdatasync, as the seed's writer");
  }
  nftw(c.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  as_db_close(db);
}

typedef struct mem_ctx {
  int n;
  uint64_t sink;
} mem_ctx;

static void memscale_body(void *p) {
  mem_ctx *c = p;
  as_db *db = open_mem(100);
  char ent[32], payload[32];
  for (int i = 0; i < c->n; i++) {
    int el = snprintf(ent, sizeof ent, "mem-entity-%d", i % 100);
    int pl = snprintf(payload, sizeof payload, "{\"value\":%d}", i);
    put(db, ent, (size_t)el, "memory.test", payload, (size_t)pl);
  }
  as_stats st;
  as_db_stats(db, &st);
  c->sink += st.total_events;
  as_db_close(db);
}

static void seed_table(void) {
  section("Seed benchmark table (same workloads, in-process; seed = AllSource Core v0.6 "
          "published figures, Apple Silicon)");
  static const struct { int n; double seed; } ing[] = {
      {100, 442660}, {1000, 469000}, {10000, 369330}};
  for (size_t k = 0; k < 3; k++) {
    char name[64];
    snprintf(name, sizeof name, "ingestion_throughput/%d", ing[k].n);
    if (!wanted(name)) continue;
    ingest_ctx c = {ing[k].n};
    double t = measure(ingest_body, &c, 20, 1.0);
    row(name, ing[k].n / t, "events/s", ing[k].seed, 1,
        "store create+drop timed; durability none (the seed had no WAL)");
  }

  if (wanted("query_performance") || wanted("state_reconstruction") ||
      wanted("index_lookups") || wanted("time_travel")) {
    /* query_performance setup: 10,000 events over entity-{i%100}. */
    as_db *db = open_mem(100);
    char ent[32], payload[32];
    for (int i = 0; i < 10000; i++) {
      int el = snprintf(ent, sizeof ent, "entity-%d", i % 100);
      int pl = snprintf(payload, sizeof payload, "{\"value\":%d}", i);
      put(db, ent, (size_t)el, "query.test", payload, (size_t)pl);
    }
    wait_projections(db);
    query_ctx qc = {.db = db};
    if (wanted("query_performance/query_all_entity_events")) {
      as_query_init(&qc.q);
      qc.q.entity_id = "entity-42";
      qc.q.entity_id_len = 9;
      double t = measure(query_body, &qc, 1000, 1.0);
      row("query_performance/query_all_entity_events", t * 1e6, "us", 11.89, 0,
          "100 results iterated");
    }
    if (wanted("query_performance/query_by_type")) {
      as_query_init(&qc.q);
      qc.q.event_type = "query.test";
      qc.q.event_type_len = 10;
      qc.q.limit = 100;
      double t = measure(query_body, &qc, 1000, 1.0);
      row("query_performance/query_by_type", t * 1e6, "us", 2470, 0,
          "limit 100 of 10,000");
    }
    as_db_close(db);

    /* state_reconstruction: 1,000 events of one entity, default config. */
    for (int with = 0; with < 2; with++) {
      const char *name = with ? "state_reconstruction/with_snapshots_1000_events"
                              : "state_reconstruction/without_snapshot_1000_events";
      if (!wanted(name)) continue;
      db = open_mem(100);
      char now[32];
      as_time_format(as_time_now_us(), now);
      for (int i = 0; i < 1000; i++) {
        int pl = with ? snprintf(payload, sizeof payload, "{\"value\":%d}", i)
                      : snprintf(ent, sizeof ent, "x"),
            pl2 = 0;
        char big[96];
        if (!with) {
          pl2 = snprintf(big, sizeof big, "{\"value\":%d,\"timestamp\":\"%s\"}", i, now);
          put(db, "state-entity", 12, "state.change", big, (size_t)pl2);
        } else {
          put(db, "state-entity", 12, "state.change", payload, (size_t)pl);
        }
      }
      wait_projections(db);
      state_ctx sc = {db, "state-entity", AS_TIME_MAX, 0};
      double t = measure(state_body, &sc, 2000, 1.0);
      row(name, t * 1e6, "us", with ? 3.49 : 3.78, 0,
          "auto-snapshots every 100 events, as in the seed's default config");
      as_db_close(db);
    }

    /* time_travel: 1,000 events of one entity {"version":i}. */
    if (wanted("time_travel")) {
      db = open_mem(100);
      int64_t ts[1000];
      for (int i = 0; i < 1000; i++) {
        int pl = snprintf(payload, sizeof payload, "{\"version\":%d}", i);
        as_event_in e;
        as_event_in_init(&e);
        e.entity_id = "tt-entity";
        e.entity_id_len = 9;
        e.event_type = "tt.change";
        e.event_type_len = 9;
        e.payload = payload;
        e.payload_len = (size_t)pl;
        as_append_result r;
        if (as_append(db, &e, 1, &r, NULL)) exit(1);
        ts[i] = r.timestamp_us;
      }
      wait_projections(db);
      state_ctx sc = {db, "tt-entity", ts[500], 0};
      double t = measure(state_body, &sc, 2000, 1.0);
      row("time_travel/reconstruct_at_halfway", t * 1e6, "us", 0, 0, "not reported by the seed");
      sc.as_of = AS_TIME_MAX;
      t = measure(state_body, &sc, 2000, 1.0);
      row("time_travel/reconstruct_current", t * 1e6, "us", 0, 0, "not reported by the seed");
      as_db_close(db);
    }

    /* index_lookups: 100 entities x 100 events, 10 types. */
    if (wanted("index_lookups")) {
      db = open_mem(100);
      char type[32];
      for (int i = 0; i < 10000; i++) {
        int el = snprintf(ent, sizeof ent, "indexed-entity-%d", i / 100);
        snprintf(type, sizeof type, "event.type.%d", i % 10);
        int pl = snprintf(payload, sizeof payload, "{\"value\":%d}", i);
        put(db, ent, (size_t)el, type, payload, (size_t)pl);
      }
      wait_projections(db);
      qc.db = db;
      as_query_init(&qc.q);
      qc.q.entity_id = "indexed-entity-50";
      qc.q.entity_id_len = 17;
      double t = measure(query_body, &qc, 1000, 1.0);
      row("index_lookups/entity_index_lookup", t * 1e6, "us", 13.3, 0, "100 results");
      as_query_init(&qc.q);
      qc.q.event_type = "event.type.5";
      qc.q.event_type_len = 12;
      t = measure(query_body, &qc, 1000, 1.0);
      row("index_lookups/type_index_lookup", t * 1e6, "us", 141, 0, "1,000 results");
      as_db_close(db);
    }
  }

  static const struct { int t; double seed_us; } conc[] = {
      {1, 622}, {2, 1090}, {4, 2860}, {8, 7980}};
  for (size_t k = 0; k < 4; k++) {
    char name[64];
    snprintf(name, sizeof name, "concurrent_writes/%d", conc[k].t);
    if (!wanted(name)) continue;
    conc_ctx c = {conc[k].t};
    double t = measure(conc_body, &c, 20, 1.0);
    row(name, t * 1e6, "us", conc[k].seed_us, 0,
        "250 events per thread; spawn, join, store create+drop timed");
  }

  if (wanted("snapshot_operations/create_snapshot")) {
    enum { ITERS = 300 };
    static double samples[ITERS];
    int iters = g_quick ? 5 : ITERS;
    for (int k = 0; k < iters; k++) {
      as_db *db = open_mem(0); /* no prior snapshot: build from all events */
      char payload[64];
      for (int i = 0; i < 500; i++) {
        int pl = snprintf(payload, sizeof payload, "{\"value\":%d,\"data\":\"Event %d\"}", i, i);
        put(db, "snapshot-entity", 15, "snapshot.test", payload, (size_t)pl);
      }
      double t0 = now_s();
      as_snapshot_info si;
      if (as_snapshot_create(db, "snapshot-entity", 15, AS_SNAPSHOT_MANUAL, &si)) exit(1);
      samples[k] = now_s() - t0;
      as_db_close(db);
    }
    qsort(samples, (size_t)iters, sizeof *samples, cmp_d);
    row("snapshot_operations/create_snapshot", samples[iters / 2] * 1e6, "us", 130, 0,
        "merge of all 500 events, no prior snapshot");
  }

  if (wanted("wal_writes/wal_sync_writes_100")) {
    double t = measure(wal100_body, NULL, 10, 1.0);
    row("wal_writes/wal_sync_writes_100", t * 1e3, "ms", 413, 0,
        "fdatasync per append (seed: F_FULLFSYNC on macOS)");
  }

  static const struct { int n; double seed_ms; } mem[] = {
      {1000, 2.0}, {5000, 0}, {10000, 0}};
  for (size_t k = 0; k < 3; k++) {
    char name[64];
    snprintf(name, sizeof name, "memory_scaling/%d", mem[k].n);
    if (!wanted(name)) continue;
    mem_ctx c = {mem[k].n, 0};
    double t = measure(memscale_body, &c, 10, 1.0);
    row(name, t * 1e3, "ms", mem[k].seed_ms, 0, "store create + N ingests + stats");
  }
  parquet_rows();
}

/* --- Beyond the seed --------------------------------------------------- */

typedef struct load_arg {
  as_db *db;
  int t;
  int batch;
  volatile int *stop;
  uint64_t events;
} load_arg;

static void *load_thread(void *p) {
  load_arg *a = p;
  char ent[32], payload[128];
  as_event_in ev[100];
  int el = snprintf(ent, sizeof ent, "load-%d", a->t);
  int pl = snprintf(payload, sizeof payload,
                    "{\"action\":\"update\",\"data\":{\"value\":%d,\"status\":\"active\"}}",
                    a->t);
  for (int i = 0; i < a->batch; i++) {
    as_event_in_init(&ev[i]);
    ev[i].entity_id = ent;
    ev[i].entity_id_len = (size_t)el;
    ev[i].event_type = "load.event";
    ev[i].event_type_len = 10;
    ev[i].payload = payload;
    ev[i].payload_len = (size_t)pl;
  }
  while (!*a->stop) {
    if (as_append(a->db, ev, (size_t)a->batch, NULL, NULL)) break;
    a->events += (uint64_t)a->batch;
  }
  return NULL;
}

/* Runs `threads` appenders of `batch`-event appends for `secs`. */
static double run_load(as_db *db, int threads, int batch, double secs,
                       uint64_t *syncs) {
  pthread_t th[64];
  load_arg args[64];
  volatile int stop = 0;
  as_stats s0, s1;
  as_db_stats(db, &s0);
  double t0 = now_s();
  for (int t = 0; t < threads; t++) {
    args[t] = (load_arg){db, t, batch, &stop, 0};
    pthread_create(&th[t], NULL, load_thread, &args[t]);
  }
  usleep((useconds_t)(secs * 1e6));
  stop = 1;
  uint64_t total = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    total += args[t].events;
  }
  double dt = now_s() - t0;
  as_db_stats(db, &s1);
  if (syncs) *syncs = s1.syncs_total - s0.syncs_total;
  return (double)total / dt;
}

static as_db *open_mode(as_durability d, char *dir, size_t n) {
  as_options o;
  as_options_init(&o);
  o.durability = d;
  o.log_level = AS_LOG_WARN;
  as_db *db;
  dir[0] = 0;
  if (d != AS_DURABILITY_NONE) tmpdir(dir, n);
  if (as_db_open(d != AS_DURABILITY_NONE ? dir : NULL, &o, &db, NULL)) exit(1);
  return db;
}

static void open_close_body(void *p) {
  (void)p;
  as_db_close(open_mem(100));
}

static void close_mode(as_db *db, const char *dir) {
  as_db_close(db);
  if (dir[0]) nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void beyond(void) {
  double secs = g_quick ? 0.2 : 2.0;
  char dir[512];
  section("Append throughput by durability mode (one appender; payload ~70 B)");
  static const as_durability modes[] = {AS_DURABILITY_SYNC, AS_DURABILITY_INTERVAL,
                                        AS_DURABILITY_NONE};
  for (int m = 0; m < 3; m++) {
    for (int batch = 1; batch <= 100; batch *= 100) {
      char name[96];
      snprintf(name, sizeof name, "append/%s/1-appender/batch-%d",
               as_durability_name(modes[m]), batch);
      if (!wanted(name)) continue;
      as_db *db = open_mode(modes[m], dir, sizeof dir);
      double r = run_load(db, 1, batch, secs, NULL);
      row(name, r, "events/s", 0, 1,
          modes[m] == AS_DURABILITY_INTERVAL ? "fdatasync every 10 ms" : NULL);
      close_mode(db, dir);
    }
  }

  if (wanted("store/open_close_memory")) {
    /* what every seed row that creates a store pays for it */
    double t = measure(open_close_body, NULL, 1000, 1.0);
    row("store/open_close_memory", t * 1e6, "us", 0, 0,
        "memory-only as_db_open + as_db_close, no events");
  }

  section("Group commit: durable (sync) single-event appends from N threads");
  static const int threads[] = {1, 4, 16, 64};
  for (int k = 0; k < 4; k++) {
    char name[96];
    snprintf(name, sizeof name, "append/sync/%d-appenders/batch-1", threads[k]);
    if (!wanted(name)) continue;
    as_db *db = open_mode(AS_DURABILITY_SYNC, dir, sizeof dir);
    uint64_t syncs;
    double r = run_load(db, threads[k], 1, secs, &syncs);
    char note[96];
    snprintf(note, sizeof note, "%.0f fdatasync/s, %.1f events per sync",
             (double)syncs / secs, syncs ? r * secs / (double)syncs : 0);
    row(name, r, "events/s", 0, 1, note);
    close_mode(db, dir);
  }
  {
    const char *name = "append/sync/16-appenders/batch-100";
    if (wanted(name)) {
      as_db *db = open_mode(AS_DURABILITY_SYNC, dir, sizeof dir);
      double r = run_load(db, 16, 100, secs, NULL);
      row(name, r, "events/s", 0, 1, NULL);
      close_mode(db, dir);
    }
  }

  if (wanted("memory")) {
    section("Memory per event (1,000,000 events, 1,000 entities, 10 types, "
            "payload ~50 B; durability none)");
    int n = g_quick ? 100000 : 1000000;
    as_db *db = open_mem(100);
    char ent[32], type[32], payload[96];
    for (int i = 0; i < n; i++) {
      int el = snprintf(ent, sizeof ent, "entity-%d", i % 1000);
      snprintf(type, sizeof type, "bench.type.%d", i % 10);
      int pl = snprintf(payload, sizeof payload, "{\"index\":%d,\"data\":\"payload\"}", i);
      put(db, ent, (size_t)el, type, payload, (size_t)pl);
    }
    wait_projections(db);
    as_mem_report m;
    as__mem_report(db, &m);
    double idx = (double)(m.posidx + m.lists + m.maps + m.entities) / n;
    row("memory/event_record_bytes", (double)m.records / n, "B/event", 0, 0,
        "the event itself: fields, ids, payload (= its WAL frame)");
    row("memory/index_bytes", idx, "B/event", 0, 0,
        "position index + entity/type lists + id/entity/type maps");
    row("memory/snapshot_bytes", (double)m.snapshots / n, "B/event", 0, 0, NULL);
    row("memory/total_bytes", (double)m.total / n, "B/event", 0, 0,
        "everything allocated, projections included");
    as_db_close(db);
  }
}

static void scale(uint64_t n) {
  section("Flat cost as the store grows (durability none, 100-event batches)");
  as_db *db = open_mem(100);
  char ent[32], payload[96];
  as_event_in ev[100];
  uint64_t done = 0, window = 1000000;
  double t0 = now_s();
  static char ents[100][32], pays[100][96];
  while (done < n) {
    for (int i = 0; i < 100; i++) {
      uint64_t k = done + (uint64_t)i;
      int el = snprintf(ents[i], sizeof ents[i], "entity-%" PRIu64, k % 10000);
      int pl = snprintf(pays[i], sizeof pays[i], "{\"index\":%" PRIu64 ",\"data\":\"payload\"}", k);
      as_event_in_init(&ev[i]);
      ev[i].entity_id = ents[i];
      ev[i].entity_id_len = (size_t)el;
      ev[i].event_type = "scale.event";
      ev[i].event_type_len = 11;
      ev[i].payload = pays[i];
      ev[i].payload_len = (size_t)pl;
    }
    if (as_append(db, ev, 100, NULL, NULL)) exit(1);
    done += 100;
    if (done % window == 0) {
      double t1 = now_s();
      char name[64];
      snprintf(name, sizeof name, "scale/events-%" PRIu64 "M", done / window);
      row(name, (double)window / (t1 - t0), "events/s", 0, 1, NULL);
      t0 = t1;
    }
  }
  (void)ent;
  (void)payload;
  as_mem_report m;
  wait_projections(db);
  as__mem_report(db, &m);
  row("scale/index_bytes", (double)(m.posidx + m.lists + m.maps + m.entities) / n,
      "B/event", 0, 0, NULL);
  as_db_close(db);
}

/* Analytics over a 1M-event store (10,000 entities, 10 types; each entity's
 * events cycle through the types so correlation finds partners).  Each
 * call computes from the indexes through the public API, median of runs. */
typedef struct an_ctx {
  as_db *db;
  int which;
  uint64_t sink;
} an_ctx;

static void an_body(void *p) {
  an_ctx *c = p;
  as_an_filter f = {NULL, NULL, AS_TIME_MIN, AS_TIME_MAX};
  as_error err;
  switch (c->which) {
    case 0:
    case 1:
    case 2: {
      if (c->which == 1) f.event_type = "an.type3";
      if (c->which == 2) f.event_type = "an.*";
      as_freq_result r;
      if (as_analytics_frequency(c->db, &f, c->which == 0 ? AS_WIN_HOUR : AS_WIN_MINUTE,
                                 &r, &err))
        exit(1);
      c->sink += r.total;
      as_freq_result_free(&r);
      break;
    }
    case 3:
    case 4: {
      if (c->which == 4) f.entity_id = "an-entity-4242";
      as_summary_result r;
      if (as_analytics_summary(c->db, &f, &r, &err)) exit(1);
      c->sink += r.total + r.unique_entities;
      as_summary_result_free(&r);
      break;
    }
    default: {
      as_corr_result r;
      if (as_analytics_correlation(c->db, "an.type1", "an.type2", 3600 * 1000000LL,
                                   AS_TIME_MIN, AS_TIME_MAX, c->which == 6, &r, &err))
        exit(1);
      c->sink += r.pairs;
      as_corr_result_free(&r);
      break;
    }
  }
}

static void analytics(void) {
  static const struct { const char *name; const char *note; } v[] = {
      {"analytics/frequency_hour_all", "all events by hour, per-type counts"},
      {"analytics/frequency_minute_one_type", "one type of ten"},
      {"analytics/frequency_minute_type_prefix", "type prefix an.* (all ten)"},
      {"analytics/summary_all", "exact unique entities and types, top 10s"},
      {"analytics/summary_one_entity", "100 events of one entity"},
      {"analytics/correlation_nearest", "100,000 A x 100,000 B, same entity, 1 h window"},
      {"analytics/correlation_directional", "B must follow A"}};
  bool any = false;
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) any |= wanted(v[k].name);
  if (!any) return;
  int n = g_quick ? 100000 : 1000000;
  section(g_quick ? "Analytics over 100,000 events (10,000 entities, 10 types)"
                  : "Analytics over 1,000,000 events (10,000 entities, 10 types)");
  as_db *db = open_mem(0);
  char ent[32], type[16], payload[48];
  for (int i = 0; i < n; i++) {
    int el = snprintf(ent, sizeof ent, "an-entity-%d", i % 10000);
    snprintf(type, sizeof type, "an.type%d", (i / 10000) % 10);
    int pl = snprintf(payload, sizeof payload, "{\"i\":%d}", i);
    put(db, ent, (size_t)el, type, payload, (size_t)pl);
  }
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
    if (!wanted(v[k].name)) continue;
    an_ctx c = {db, (int)k, 0};
    double t = measure(an_body, &c, 5, 1.0);
    row(v[k].name, t * 1e6, "us", 0, 0, v[k].note);
  }
  as_db_close(db);
}

int main(int argc, char **argv) {
  uint64_t scale_n = 0;
  g_dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tsv")) g_tsv = 1;
    else if (!strcmp(argv[i], "--quick")) g_quick = 1;
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) g_only = argv[++i];
    else if (!strcmp(argv[i], "--scale") && i + 1 < argc) scale_n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) g_dir = argv[++i];
    else {
      fprintf(stderr,
              "usage: %s [--tsv] [--quick] [--only SUBSTR] [--scale N] [--dir DIR]\n",
              argv[0]);
      return 2;
    }
  }
  if (!g_tsv) {
    char host[256] = "?";
    gethostname(host, sizeof host);
    printf("allsource-bench %s, %ld CPUs\n", AS_VERSION_STRING, sysconf(_SC_NPROCESSORS_ONLN));
  }
  seed_table();
  beyond();
  analytics();
  if (scale_n) scale(scale_n);
  return 0;
}
