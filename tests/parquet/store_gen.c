/*
 * store_gen.c OUTDIR — appends events through the store (durable, sealing
 * every 700 events), seals everything, then lays out each sealed Parquet
 * file of data/parquet as OUTDIR/fileN/{file.parquet, manifest.json,
 * expected.ndjson} for tools/pq-check/check_{duckdb,hyparquet}.mjs, so two
 * independent readers compare every value of every column of the files the
 * store wrote with what was ingested.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "allsource.h"
#include "core/as_rand.h"
#include "storage/as_manifest.h"

#define N 3000

typedef struct row {
  char entity[64], type[64], payload[512], meta[128];
  bool has_meta;
  as_append_result res;
} row;

static row rows[N];

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static int copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  if (!a || !b) return -1;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
  fclose(a);
  return fclose(b);
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/store", argv[1]);
  mkdir(argv[1], 0755);
  as_options o;
  as_options_init(&o);
  o.segment_events = 700;
  o.log_level = AS_LOG_WARN;
  as_db *db;
  as_error err;
  if (as_db_open(dir, &o, &db, &err)) {
    fprintf(stderr, "store_gen: %s\n", err.message);
    return 1;
  }
  as_rand r;
  as_rand_seed_u64(&r, 7);
  for (int i = 0; i < N; i += 10) {
    as_event_in ev[10];
    for (int k = 0; k < 10; k++) {
      row *w = &rows[i + k];
      int j = i + k;
      snprintf(w->entity, sizeof w->entity, "%s-%d", j % 7 ? "user" : "ünïcödé ✓", j % 37);
      snprintf(w->type, sizeof w->type, "type.%d", j % 5);
      snprintf(w->payload, sizeof w->payload,
               "{\"i\":%d, \"f\":0.1, \"big\":12345678901234567890123,\"s\":\"%.*s\"}", j,
               (int)as_rand_below(&r, 300),
               "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
               "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
               "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
               "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"
               "abcdefghijklmnopqrstuvwxyz0123456789");
      w->has_meta = j % 3 == 0;
      snprintf(w->meta, sizeof w->meta, "{\"trace\":\"t-%d\"}", j);
      as_event_in_init(&ev[k]);
      ev[k].entity_id = w->entity;
      ev[k].entity_id_len = strlen(w->entity);
      ev[k].event_type = w->type;
      ev[k].event_type_len = strlen(w->type);
      ev[k].payload = w->payload;
      ev[k].payload_len = strlen(w->payload);
      if (w->has_meta) {
        ev[k].metadata = w->meta;
        ev[k].metadata_len = strlen(w->meta);
      }
    }
    as_append_result res[10];
    if (as_append(db, ev, 10, res, &err)) {
      fprintf(stderr, "store_gen: append: %s\n", err.message);
      return 1;
    }
    for (int k = 0; k < 10; k++) rows[i + k].res = res[k];
  }
  if (as_db_seal(db)) {
    fprintf(stderr, "store_gen: seal failed\n");
    return 1;
  }
  as_db_close(db);

  as_manifest m;
  if (as_manifest_load(as_io_posix(), dir, &m, &err)) {
    fprintf(stderr, "store_gen: %s\n", err.message);
    return 1;
  }
  if (m.sealed_through != N || m.n < 4) {
    fprintf(stderr, "store_gen: sealed %" PRIu64 " events in %zu files\n", m.sealed_through, m.n);
    return 1;
  }
  for (size_t f = 0; f < m.n; f++) {
    char sub[4200], p[4400], src[8300];
    snprintf(sub, sizeof sub, "%s/file%zu", argv[1], f);
    mkdir(sub, 0755);
    snprintf(src, sizeof src, "%s/parquet/%s", dir, m.files[f].name);
    snprintf(p, sizeof p, "%s/file.parquet", sub);
    if (copy_file(src, p)) return 1;
    snprintf(p, sizeof p, "%s/manifest.json", sub);
    FILE *mf = fopen(p, "w");
    uint64_t n = m.files[f].last - m.files[f].first + 1;
    fprintf(mf,
            "{\"rows\":%" PRIu64 ",\"row_group_rows\":131072,\"row_groups\":1,"
            "\"first_position\":\"%" PRIu64 "\",\"last_position\":\"%" PRIu64 "\","
            "\"files\":[{\"file\":\"file.parquet\",\"codec\":\"ZSTD\","
            "\"dictionary\":[\"entity_id\",\"event_type\",\"tenant_id\"]}]}\n",
            n, m.files[f].first, m.files[f].last);
    fclose(mf);
    snprintf(p, sizeof p, "%s/expected.ndjson", sub);
    FILE *ef = fopen(p, "w");
    for (uint64_t pos = m.files[f].first; pos <= m.files[f].last; pos++) {
      row *w = &rows[pos - 1];
      char id[37];
      as_uuid_format(w->res.id, id);
      if (w->res.position != pos) return 1;
      fprintf(ef, "{\"position\":\"%" PRIu64 "\",\"id\":\"%s\",\"entity_id\":", pos, id);
      json_str(ef, w->entity);
      fputs(",\"event_type\":", ef);
      json_str(ef, w->type);
      fputs(",\"tenant_id\":\"default\"", ef);
      fprintf(ef, ",\"timestamp\":\"%" PRId64 "\",\"version\":\"%" PRIu64 "\",\"payload\":",
              w->res.timestamp_us, w->res.version);
      json_str(ef, w->payload);
      fputs(",\"metadata\":", ef);
      if (w->has_meta) json_str(ef, w->meta);
      else fputs("null", ef);
      fputs("}\n", ef);
    }
    fclose(ef);
  }
  printf("store_gen: %d events sealed into %zu files\n", N, m.n);
  as_manifest_free(&m);
  return 0;
}
