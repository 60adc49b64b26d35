/*
 * pq_bench.c — Parquet writer/reader throughput, file size and compression
 * ratio for synthetic events shaped like the seed's benchmark events:
 * entity "entity-{i%100}", type "benchmark.event", tenant "default",
 * payload {"index":i,"data":"payload"}, no metadata, UUIDv7 ids and
 * increasing microsecond timestamps.
 *
 * Usage: allsource-pq-bench [--events N] [--dir DIR] [--codec NAME]
 *   Writes DIR/pq-bench-<codec>.parquet (default DIR: /tmp) for each codec
 *   (or only NAME), timing write (open .. finish, including fdatasync) and a
 *   full read back through the event reader (every column decoded), then
 *   deletes the file.  "raw" bytes are the events' field bytes (8 position +
 *   16 id + strings + 8 timestamp + 8 version + payload).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/as_rand.h"
#include "core/as_uuid.h"
#include "storage/as_parquet.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  uint64_t n = 1000000;
  const char *dir = "/tmp", *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--events") && i + 1 < argc) n = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--codec") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--events N] [--dir DIR] [--codec ZSTD|SNAPPY|LZ4_RAW|UNCOMPRESSED]\n", argv[0]);
      return 2;
    }
  }
  const as_pq_codec codecs[] = {AS_PQ_ZSTD, AS_PQ_SNAPPY, AS_PQ_LZ4_RAW, AS_PQ_UNCOMPRESSED};
  as_rand rnd;
  as_rand_seed_u64(&rnd, 1);
  printf("events: %" PRIu64 ", row group 131072 rows, page 1 MiB, ZSTD level 1\n", n);
  printf("%-13s %12s %9s %12s %9s %12s %8s %8s\n", "codec", "write ev/s", "write MB/s",
         "read ev/s", "read MB/s", "file bytes", "B/event", "ratio");
  for (size_t c = 0; c < sizeof codecs / sizeof *codecs; c++) {
    if (only && strcmp(only, as_pq_codec_name(codecs[c])) != 0) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/pq-bench-%s.parquet", dir, as_pq_codec_name(codecs[c]));
    as_pq_write_options o;
    as_pq_write_options_init(&o);
    o.codec = codecs[c];
    as_pq_writer *w;
    as_error err;
    uint64_t raw = 0, size = 0;
    char entity[32], payload[64];
    double t0 = now_s();
    if (as_pq_writer_open(as_io_posix(), path, &o, &w, &err)) {
      fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    for (uint64_t i = 0; i < n; i++) {
      as_event ev;
      memset(&ev, 0, sizeof ev);
      ev.position = i + 1;
      ev.version = i / 100 + 1;
      ev.timestamp_us = 1760976349000000LL + (int64_t)i;
      as_uuid_v7(&rnd, ev.timestamp_us, ev.id);
      ev.entity_id = entity;
      ev.entity_id_len = (uint32_t)snprintf(entity, sizeof entity, "entity-%" PRIu64, i % 100);
      ev.event_type = "benchmark.event";
      ev.event_type_len = 15;
      ev.tenant_id = "default";
      ev.tenant_id_len = 7;
      ev.payload = payload;
      ev.payload_len = (uint32_t)snprintf(payload, sizeof payload, "{\"index\":%" PRIu64 ",\"data\":\"payload\"}", i);
      raw += 8 + 16 + ev.entity_id_len + ev.event_type_len + ev.tenant_id_len + 8 + 8 + ev.payload_len;
      if (as_pq_writer_add(w, &ev, &err)) {
        fprintf(stderr, "%s\n", err.message);
        as_pq_writer_abort(w);
        return 1;
      }
    }
    if (as_pq_writer_finish(w, &size, &err)) {
      fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    double tw = now_s() - t0;
    t0 = now_s();
    as_pq_events *e;
    if (as_pq_events_open(as_io_posix(), path, NULL, &e, &err)) {
      fprintf(stderr, "%s\n", err.message);
      return 1;
    }
    as_event ev;
    uint64_t got = 0, check = 0;
    as_err rc;
    while ((rc = as_pq_events_next(e, &ev, &err)) == AS_OK) {
      got++;
      check += ev.payload_len + ev.entity_id_len;
    }
    as_pq_events_close(e);
    double tr = now_s() - t0;
    if (rc != AS_DONE || got != n) {
      fprintf(stderr, "read back failed: %s (%" PRIu64 " events)\n", err.message, got);
      return 1;
    }
    unlink(path);
    printf("%-13s %12.0f %9.1f %12.0f %9.1f %12" PRIu64 " %8.1f %8.2f\n", as_pq_codec_name(codecs[c]),
           (double)n / tw, (double)raw / tw / 1e6, (double)n / tr, (double)raw / tr / 1e6, size,
           (double)size / (double)n, (double)raw / (double)size);
    (void)check;
  }
  return 0;
}
