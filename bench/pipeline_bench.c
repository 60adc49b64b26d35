/*
 * pipeline_bench.c — what pipelines cost (docs/pipelines.md, "Performance").
 *
 *   1. Append rate of a memory-only store (batches of 1,000 events) with no
 *      pipeline, then with 1 and 4 filter+reduce pipelines running, and the
 *      process's CPU time per event (appending plus processing): the
 *      pipelines run on their own worker, so appends never wait for them;
 *      on a busy machine they only compete for CPU.
 *   2. Processing rate of one pipeline catching up from position 1 over a
 *      loaded store, for several operator chains: events/s through the
 *      pipeline alone.
 *
 * Usage: allsource-pipeline-bench [--events N] (default 1,000,000).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "allsource.h"
#include "services/as_pipeline.h"

#define BATCH 1000

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system) of the whole process so far. */
static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void quiet(void *ctx, as_log_level level, const char *msg) {}

static as_db *open_store(void) {
  as_options o;
  as_options_init(&o);
  o.durability = AS_DURABILITY_NONE;
  o.snapshot_every_events = 0;
  o.snapshot_every_seconds = 0;
  o.log_fn = quiet;
  as_db *db;
  as_error err;
  if (as_db_open(NULL, &o, &db, &err)) {
    fprintf(stderr, "open: %s\n", err.message);
    exit(1);
  }
  return db;
}

/* Appends n events (payloads cycle over countries, plans and amounts). */
static double load(as_db *db, uint64_t n) {
  static char payloads[BATCH][128];
  as_event_in ev[BATCH];
  static const char *countries[] = {"US", "DE", "FR", "JP"};
  double t0 = now_s();
  for (uint64_t done = 0; done < n;) {
    size_t k = n - done < BATCH ? (size_t)(n - done) : BATCH;
    for (size_t i = 0; i < k; i++) {
      uint64_t x = done + i;
      snprintf(payloads[i], sizeof payloads[i],
               "{\"country\":\"%s\",\"amount\":%" PRIu64 ".5,\"plan\":\"p%" PRIu64
               "\",\"user\":{\"name\":\"user%" PRIu64 "\"}}",
               countries[x % 4], x % 1000, x % 8, x % 100);
      as_event_in_init(&ev[i]);
      ev[i].entity_id = "bench-entity";
      ev[i].entity_id_len = 12;
      ev[i].event_type = x % 2 ? "order.placed" : "order.paid";
      ev[i].event_type_len = strlen(ev[i].event_type);
      ev[i].payload = payloads[i];
      ev[i].payload_len = strlen(payloads[i]);
    }
    as_error err;
    if (as_append(db, ev, k, NULL, &err)) {
      fprintf(stderr, "append: %s\n", err.message);
      exit(1);
    }
    done += k;
  }
  return now_s() - t0;
}

static as_pipelines *open_pipes(as_db *db) {
  as_pipelines_config c;
  as_pipelines_config_init(&c);
  c.log_fn = quiet;
  as_pipelines *p;
  as_pipeline_error e;
  if (as_pipelines_open(db, &c, &p, &e)) {
    fprintf(stderr, "pipelines: %s\n", e.message);
    exit(1);
  }
  return p;
}

static void reg(as_pipelines *p, const char *name, const char *ops, const char *start,
                uint8_t id[16]) {
  char cfg[2048];
  snprintf(cfg, sizeof cfg,
           "{\"name\":\"%s\",\"source_event_types\":[],\"operators\":[%s],\"enabled\":true,"
           "\"start_from\":%s,\"max_outputs\":0}",
           name, ops, start);
  as_pipeline_registered r;
  as_pipeline_error e;
  if (as_pipelines_register(p, cfg, strlen(cfg), &r, &e)) {
    fprintf(stderr, "register %s: %s %s\n", name, e.field, e.message);
    exit(1);
  }
  memcpy(id, r.id, 16);
}

/* Waits until pipeline id has looked at position `target`. */
static void wait_for(as_pipelines *p, const uint8_t id[16], uint64_t target,
                     as_pipeline_stats *st) {
  do {
    if (as_pipelines_stats(p, id, st)) exit(1);
  } while (st->position < target);
}

static const char *FILTER_REDUCE =
    "{\"type\":\"filter\",\"field\":\"country\",\"op\":\"eq\",\"value\":\"US\"},"
    "{\"type\":\"reduce\",\"field\":\"amount\",\"function\":\"sum\",\"group_by\":\"plan\"}";

int main(int argc, char **argv) {
  uint64_t n = 1000000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--events") && i + 1 < argc) {
      char *end;
      n = strtoull(argv[++i], &end, 10);
      if (*end || n == 0) {
        fprintf(stderr, "bad --events\n");
        return 2;
      }
    } else {
      fprintf(stderr, "usage: %s [--events N]\n", argv[0]);
      return 2;
    }
  }
  printf("# allsource-pipeline-bench: %" PRIu64 " events, durability none, batches of %d\n", n,
         BATCH);
  printf("\n## 1. append rate with pipelines running (worker caught up after)\n");
  printf("%-28s %12s %14s %16s\n", "pipelines", "appends/s", "catch-up (ms)",
         "CPU us/event");
  for (int np = 0; np <= 4; np += np ? 3 : 1) {
    as_db *db = open_store();
    as_pipelines *p = open_pipes(db);
    uint8_t ids[4][16];
    for (int k = 0; k < np; k++) {
      char name[16];
      snprintf(name, sizeof name, "fr%d", k);
      reg(p, name, FILTER_REDUCE, "\"now\"", ids[k]);
    }
    double cpu0 = cpu_s();
    double secs = load(db, n);
    double t0 = now_s();
    as_pipeline_stats st;
    for (int k = 0; k < np; k++) wait_for(p, ids[k], n, &st);
    double lag_ms = (now_s() - t0) * 1e3;
    double cpu_us = (cpu_s() - cpu0) * 1e6 / (double)n; /* appends + pipelines */
    char label[40];
    snprintf(label, sizeof label, "%d x filter+reduce", np);
    printf("%-28s %12.0f %14.1f %16.3f\n", np ? label : "none", (double)n / secs, lag_ms,
           cpu_us);
    as_pipelines_free(p);
    as_db_close(db);
  }

  printf("\n## 2. one pipeline catching up from position 1\n");
  printf("%-28s %12s %12s %10s\n", "operators", "events/s", "processed", "filtered");
  struct { const char *name, *ops; } chains[] = {
      {"none (pass-through)", ""},
      {"filter", "{\"type\":\"filter\",\"field\":\"country\",\"op\":\"eq\",\"value\":\"US\"}"},
      {"filter+reduce", NULL},
      {"reduce count by plan",
       "{\"type\":\"reduce\",\"field\":\"amount\",\"function\":\"count\",\"group_by\":\"plan\"}"},
      {"map+reduce avg",
       "{\"type\":\"map\",\"field\":\"amount\",\"transform\":\"multiply:1.1\"},"
       "{\"type\":\"reduce\",\"field\":\"amount\",\"function\":\"avg\",\"group_by\":\"country\"}"},
      {"tumbling 60s sum",
       "{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\",\"size_seconds\":60},"
       "\"aggregation\":{\"type\":\"reduce\",\"field\":\"amount\",\"function\":\"sum\","
       "\"group_by\":\"plan\"}}"},
      {"map upper+branch",
       "{\"type\":\"map\",\"field\":\"user.name\",\"transform\":\"uppercase\"},"
       "{\"type\":\"branch\",\"field\":\"country\",\"branches\":{\"US\":\"a\",\"DE\":\"e\"}}"}};
  as_db *db = open_store();
  load(db, n);
  as_pipelines *p = open_pipes(db);
  for (size_t i = 0; i < sizeof chains / sizeof *chains; i++) {
    uint8_t id[16];
    double t0 = now_s();
    reg(p, "c", chains[i].ops ? chains[i].ops : FILTER_REDUCE, "\"beginning\"", id);
    as_pipeline_stats st;
    wait_for(p, id, n, &st);
    double secs = now_s() - t0;
    printf("%-28s %12.0f %12" PRIu64 " %10" PRIu64 "\n", chains[i].name, (double)n / secs,
           st.events_processed, st.events_filtered);
    as_pipelines_delete(p, id, NULL);
  }
  as_pipelines_free(p);
  as_db_close(db);
  return 0;
}
