/*
 * js_bench.c — JSON Schema validator throughput (build/allsource-js-bench).
 *
 * A typical event schema (8 properties: uuid and date-time formats, a
 * pattern, an enum, bounded integer and number, a nested object, an array
 * of objects; closed object) is compiled and then validated against a valid
 * and an invalid instance, in verdict-only mode (as_jsonschema_check) and
 * with error details (as_jsonschema_validate), with formats as annotations
 * and as assertions, on one thread and on all cores.  Prints a table.
 *
 * Then the cost of schema enforcement at ingest (the registry, as_registry.h):
 * in-process appends to a memory-only store (durability none) of that valid
 * instance as the payload, without a validator, with the registry installed
 * but no subject for the event type, and with the schema enforced; single
 * events and 100-event batches, on one thread and on all cores (best of three
 * runs per row, with the process CPU time per event).
 * Usage: allsource-js-bench [seconds-per-row, default 1] [validator|ingest]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "services/as_jsonschema.h"
#include "services/as_registry.h"

static const char k_schema[] =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
    "\"type\":\"object\","
    "\"required\":[\"event_id\",\"entity_id\",\"event_type\",\"occurred_at\","
    "\"customer\",\"items\"],"
    "\"additionalProperties\":false,"
    "\"properties\":{"
    "\"event_id\":{\"type\":\"string\",\"format\":\"uuid\"},"
    "\"entity_id\":{\"type\":\"string\",\"pattern\":\"^order-[0-9]{1,12}$\"},"
    "\"event_type\":{\"enum\":[\"order.created\",\"order.paid\","
    "\"order.shipped\",\"order.cancelled\",\"order.refunded\"]},"
    "\"occurred_at\":{\"type\":\"string\",\"format\":\"date-time\"},"
    "\"amount\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1000000,"
    "\"multipleOf\":0.01},"
    "\"priority\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5},"
    "\"customer\":{\"type\":\"object\",\"required\":[\"name\",\"email\"],"
    "\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,"
    "\"maxLength\":100},\"email\":{\"type\":\"string\",\"format\":\"email\"}}},"
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":50,"
    "\"items\":{\"type\":\"object\",\"required\":[\"sku\",\"qty\"],"
    "\"additionalProperties\":false,"
    "\"properties\":{\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]{4}$\"},"
    "\"qty\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000}}}}}}";

static const char k_valid[] =
    "{\"event_id\":\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\","
    "\"entity_id\":\"order-123456\",\"event_type\":\"order.paid\","
    "\"occurred_at\":\"2024-05-01T12:34:56.789Z\",\"amount\":1234.56,"
    "\"priority\":3,"
    "\"customer\":{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\"},"
    "\"items\":[{\"sku\":\"ABC-0001\",\"qty\":2},{\"sku\":\"XYZ-9999\",\"qty\":1},"
    "{\"sku\":\"QRS-1234\",\"qty\":10}]}";

static const char k_invalid[] =
    "{\"event_id\":\"not-a-uuid\","
    "\"entity_id\":\"Order-12\",\"event_type\":\"order.lost\","
    "\"occurred_at\":\"2024-13-01T12:34:56Z\",\"amount\":12.345,"
    "\"priority\":9,"
    "\"customer\":{\"name\":\"\",\"email\":\"ada@\"},"
    "\"items\":[{\"sku\":\"abc-1\",\"qty\":0},{\"sku\":\"XYZ-9999\"}],"
    "\"extra\":true}";

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct run_arg {
  const as_jsonschema *s;
  const json_t *inst;
  bool details;
  double seconds;
  unsigned long long n;
  size_t errors;
} run_arg;

static void *run(void *p) {
  run_arg *a = p;
  double end = now_s() + a->seconds;
  unsigned long long n = 0;
  while (1) {
    for (int k = 0; k < 256; k++) {
      if (a->details) {
        as_jsonschema_result r;
        if (as_jsonschema_validate(a->s, a->inst, &r) != AS_OK) exit(1);
        a->errors = r.n_errors;
        as_jsonschema_result_free(&r);
      } else {
        bool ok;
        if (as_jsonschema_check(a->s, a->inst, &ok) != AS_OK) exit(1);
        a->errors = ok ? 0 : 1;
      }
    }
    n += 256;
    if (now_s() >= end) break;
  }
  a->n = n;
  return NULL;
}

static double rate(const as_jsonschema *s, const json_t *inst, bool details,
                   int threads, double seconds, size_t *errors) {
  pthread_t th[64];
  run_arg args[64];
  double t0 = now_s();
  for (int i = 0; i < threads; i++) {
    args[i] = (run_arg){s, inst, details, seconds, 0, 0};
    pthread_create(&th[i], NULL, run, &args[i]);
  }
  unsigned long long total = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    total += args[i].n;
  }
  *errors = args[0].errors;
  return (double)total / (now_s() - t0);
}

static void cpu_model(char *buf, size_t len) {
  snprintf(buf, len, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *c = strchr(line, ':');
      if (c) {
        snprintf(buf, len, "%s", c + 2);
        buf[strcspn(buf, "\n")] = '\0';
      }
      break;
    }
  }
  fclose(f);
}

/* --- Ingest with enforcement ------------------------------------------ */

enum { NO_VALIDATOR, NO_SUBJECT, ENFORCED };

typedef struct ingest_arg {
  as_db *db;
  int batch, thread;
  double seconds;
  unsigned long long events;
} ingest_arg;

static void *ingest_run(void *p) {
  ingest_arg *a = p;
  as_event_in ev[100];
  char ent[100][32];
  for (int i = 0; i < a->batch; i++) {
    snprintf(ent[i], sizeof ent[i], "order-%d-%d", a->thread, i);
    as_event_in_init(&ev[i]);
    ev[i].entity_id = ent[i];
    ev[i].entity_id_len = strlen(ent[i]);
    ev[i].event_type = "order.paid";
    ev[i].event_type_len = 10;
    ev[i].payload = k_valid;
    ev[i].payload_len = sizeof k_valid - 1;
  }
  double end = now_s() + a->seconds;
  unsigned long long n = 0;
  while (now_s() < end)
    for (int k = 0; k < 64; k++) {
      as_error err;
      if (as_append(a->db, ev, (size_t)a->batch, NULL, &err) != AS_OK) {
        fprintf(stderr, "append: %s\n", err.message);
        exit(1);
      }
      n += (unsigned long long)a->batch;
    }
  a->events = n;
  return NULL;
}

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Events per second appended by `threads` threads in `mode`; *cpu_us gets
 * the process CPU time per event (appenders, writer and background work). */
static double ingest_rate(int mode, int batch, int threads, double seconds, double *cpu_us) {
  as_options o;
  as_options_init(&o);
  o.durability = AS_DURABILITY_NONE;
  o.snapshot_every_events = 0; /* measure appends, not snapshots */
  o.snapshot_every_seconds = 0;
  as_db *db;
  as_registry *reg = NULL;
  as_error err;
  if (as_db_open(NULL, &o, &db, &err) ||
      (mode != NO_VALIDATOR && as_registry_open(db, NULL, &reg, &err))) {
    fprintf(stderr, "open: %s\n", err.message);
    exit(1);
  }
  if (mode == ENFORCED) {
    const char *subject = "order.paid";
    as_registry_result res;
    if (as_registry_register(reg, subject, strlen(subject), k_schema, sizeof k_schema - 1, NULL,
                             0, NULL, 0, &res, &err)) {
      fprintf(stderr, "register: %s\n", err.message);
      exit(1);
    }
    as_registry_result_free(&res);
  }
  if (reg) as_db_set_validator(db, as_registry_check_event, reg);
  pthread_t th[64];
  ingest_arg args[64];
  double t0 = now_s(), c0 = cpu_s();
  for (int i = 0; i < threads; i++) {
    args[i] = (ingest_arg){db, batch, i, seconds, 0};
    pthread_create(&th[i], NULL, ingest_run, &args[i]);
  }
  unsigned long long total = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    total += args[i].events;
  }
  double r = (double)total / (now_s() - t0);
  *cpu_us = (cpu_s() - c0) / (double)total * 1e6;
  as_db_close(db);
  as_registry_free(reg);
  return r;
}

/* Each row is the best of three runs (the machine may be shared). */
static void ingest_bench(double secs, int ncpu) {
  static const char *names[] = {"no validator", "no subject", "enforced"};
  printf("\nIngest with schema enforcement (in-process as_append, durability none,\n"
         "payload: the valid instance above, %zu bytes; best of 3 runs)\n\n",
         sizeof k_valid - 1);
  printf("%-13s %-6s %-8s %12s %8s %14s\n", "schema", "batch", "threads", "events/s",
         "vs none", "CPU us/event");
  int batches[2] = {1, 100}, tcounts[2] = {1, ncpu};
  for (int b = 0; b < 2; b++)
    for (int t = 0; t < (ncpu > 1 ? 2 : 1); t++) {
      double base = 0;
      for (int m = NO_VALIDATOR; m <= ENFORCED; m++) {
        double best = 0, best_cpu = 0;
        for (int rep = 0; rep < 3; rep++) {
          double cpu, r = ingest_rate(m, batches[b], tcounts[t], secs, &cpu);
          if (r > best) {
            best = r;
            best_cpu = cpu;
          }
        }
        if (m == NO_VALIDATOR) base = best;
        printf("%-13s %-6d %-8d %12.0f %7.0f%% %14.2f\n", names[m], batches[b], tcounts[t],
               best, 100.0 * best / base, best_cpu);
      }
    }
}

int main(int argc, char **argv) {
  double secs = argc > 1 ? atof(argv[1]) : 1.0;
  const char *only = argc > 2 ? argv[2] : NULL;
  if (secs <= 0) secs = 1.0;
  int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu < 1) ncpu = 1;
  if (ncpu > 64) ncpu = 64;
  char cpu[256];
  cpu_model(cpu, sizeof cpu);
  if (only && !strcmp(only, "ingest")) {
    printf("JSON Schema enforcement benchmark (%d CPUs: %s)\n", ncpu, cpu);
    ingest_bench(secs, ncpu);
    return 0;
  }
  json_t *schema = json_loads(k_schema, 0, NULL);
  json_t *good = json_loads(k_valid, 0, NULL);
  json_t *bad = json_loads(k_invalid, 0, NULL);
  if (!schema || !good || !bad) return 1;

  /* Compile time. */
  as_jsonschema_opts o[2];
  as_jsonschema *s[2];
  for (int m = 0; m < 2; m++) {
    as_jsonschema_opts_init(&o[m]);
    o[m].flags = m ? AS_JSONSCHEMA_FORMAT_ASSERT : 0;
  }
  int compiles = 0;
  double t0 = now_s();
  while (now_s() - t0 < secs / 2 || compiles < 10) {
    as_jsonschema *tmp = NULL;
    if (as_jsonschema_compile(schema, &o[1], &tmp, NULL) != AS_OK) return 1;
    as_jsonschema_free(tmp);
    compiles++;
  }
  double compile_us = (now_s() - t0) / compiles * 1e6;
  for (int m = 0; m < 2; m++)
    if (as_jsonschema_compile(schema, &o[m], &s[m], NULL) != AS_OK) return 1;

  printf("JSON Schema validator benchmark (%d CPUs: %s)\n", ncpu, cpu);
  printf("schema: 8 properties, nested object, array of objects, 3 formats, "
         "2 patterns\n");
  printf("compile (format assertion on): %.1f us per schema (%d runs)\n\n",
         compile_us, compiles);
  printf("%-9s %-8s %-8s %-8s %14s %8s\n", "instance", "formats", "mode",
         "threads", "validations/s", "errors");
  const char *names[2] = {"valid", "invalid"};
  const json_t *insts[2] = {good, bad};
  for (int m = 0; m < 2; m++)
    for (int k = 0; k < 2; k++)
      for (int d = 0; d < 2; d++) {
        int tcounts[2] = {1, ncpu};
        for (int t = 0; t < (ncpu > 1 ? 2 : 1); t++) {
          size_t errs = 0;
          double r = rate(s[m], insts[k], d == 1, tcounts[t], secs, &errs);
          printf("%-9s %-8s %-8s %-8d %14.0f %8zu\n", names[k],
                 m ? "assert" : "annotate", d ? "errors" : "verdict",
                 tcounts[t], r, errs);
        }
      }
  for (int m = 0; m < 2; m++) as_jsonschema_free(s[m]);
  json_decref(schema);
  json_decref(good);
  json_decref(bad);
  if (!only) ingest_bench(secs, ncpu);
  return 0;
}
