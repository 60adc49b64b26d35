/*
 * pq_gen.c — writes Parquet files with our writer for the independent
 * checkers in tools/pq-check (DuckDB and hyparquet).
 *
 * Usage: pq_gen OUTDIR
 * Writes OUTDIR/<name>.parquet for each codec (several row groups, several
 * pages per column chunk), one file whose string dictionaries overflow (so
 * those chunks fall back to PLAIN), OUTDIR/expected.ndjson with every row
 * (64-bit integers as decimal strings, metadata null when absent) and
 * OUTDIR/manifest.json describing each file (codec, row groups, which
 * columns must be dictionary-encoded, key-value metadata).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "core/as_rand.h"
#include "storage/as_parquet.h"

#define N_EVENTS 2500
#define RG_ROWS 1000

static void json_str(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

typedef struct gen {
  as_event ev[N_EVENTS];
  char *strs[N_EVENTS][5];
} gen;

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...) {
  as_buf b;
  as_buf_init(&b, 0);
  va_list ap;
  va_start(ap, fmt);
  char tmp[256];
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  as_buf_puts(&b, tmp);
  size_t len;
  return as_buf_detach(&b, &len);
}

static void make_events(gen *g) {
  static const char *types[] = {"order.created", "order.paid", "\xc3\xbc" "n\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9.event", "", "user.signed_up"};
  as_rand r;
  as_rand_seed_u64(&r, 2024);
  for (int i = 0; i < N_EVENTS; i++) {
    as_event *e = &g->ev[i];
    memset(e, 0, sizeof *e);
    e->position = 1000 + (uint64_t)i;
    for (int k = 0; k < 16; k++) e->id[k] = (uint8_t)as_rand_next(&r);
    if (i % 211 == 7) g->strs[i][0] = dupf("%s", "");
    else if (i % 13 == 0) g->strs[i][0] = dupf("\xd0\xba\xd0\xbb\xd0\xb8\xd0\xb5\xd0\xbd\xd1\x82-\xf0\x9f\x98\x80-%d", i % 5);
    else g->strs[i][0] = dupf("entity-%d", i % 37);
    g->strs[i][1] = dupf("%s", types[i % 5]);
    g->strs[i][2] = dupf("%s", i % 4 == 0 ? "acme" : "default");
    if (i % 500 == 250) {
      as_buf b;
      as_buf_init(&b, 0);
      as_buf_puts(&b, "{\"big\":\"");
      for (int k = 0; k < 6000; k++) as_buf_puts(&b, "0123456789");
      as_buf_puts(&b, "\"}");
      size_t len;
      g->strs[i][3] = as_buf_detach(&b, &len);
    } else if (i % 97 == 0) {
      g->strs[i][3] = dupf("{}");
    } else {
      g->strs[i][3] = dupf("{\"index\":%d,\"data\":\"payload\",\"u\":\"\xe2\x82\xac \\\"q\\\"\",\"r\":%" PRIu64 "}",
                           i, as_rand_below(&r, 1000000));
    }
    if (i % 3 == 0) g->strs[i][4] = NULL;
    else if (i % 3 == 1) g->strs[i][4] = dupf("{}");
    else g->strs[i][4] = dupf("{\"source\":\"gen\",\"i\":%d}", i);
    e->entity_id = g->strs[i][0];
    e->entity_id_len = (uint32_t)strlen(e->entity_id);
    e->event_type = g->strs[i][1];
    e->event_type_len = (uint32_t)strlen(e->event_type);
    e->tenant_id = g->strs[i][2];
    e->tenant_id_len = (uint32_t)strlen(e->tenant_id);
    e->payload = g->strs[i][3];
    e->payload_len = (uint32_t)strlen(e->payload);
    e->metadata = g->strs[i][4];
    e->metadata_len = e->metadata ? (uint32_t)strlen(e->metadata) : 0;
    e->timestamp_us = i == 5 ? -123456789 : 1760976349123456LL + (int64_t)i * 1000;
    e->version = (uint64_t)(i / 37) + 1;
  }
}

static int write_expected(const gen *g, const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/expected.ndjson", dir);
  FILE *f = fopen(path, "w");
  if (!f) return perror(path), 1;
  for (int i = 0; i < N_EVENTS; i++) {
    const as_event *e = &g->ev[i];
    char uuid[37];
    as_uuid_format(e->id, uuid);
    fprintf(f, "{\"position\":\"%" PRIu64 "\",\"id\":\"%s\",\"entity_id\":", e->position, uuid);
    json_str(f, e->entity_id, e->entity_id_len);
    fputs(",\"event_type\":", f);
    json_str(f, e->event_type, e->event_type_len);
    fputs(",\"tenant_id\":", f);
    json_str(f, e->tenant_id, e->tenant_id_len);
    fprintf(f, ",\"timestamp\":\"%" PRId64 "\",\"version\":\"%" PRIu64 "\",\"payload\":",
            e->timestamp_us, e->version);
    json_str(f, e->payload, e->payload_len);
    fputs(",\"metadata\":", f);
    if (e->metadata) json_str(f, e->metadata, e->metadata_len);
    else fputs("null", f);
    fputs("}\n", f);
  }
  return fclose(f) != 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  static gen g;
  make_events(&g);
  struct {
    const char *name;
    as_pq_codec codec;
    uint32_t dict_max;
  } files[] = {{"zstd", AS_PQ_ZSTD, 1u << 20},
               {"snappy", AS_PQ_SNAPPY, 1u << 20},
               {"lz4_raw", AS_PQ_LZ4_RAW, 1u << 20},
               {"uncompressed", AS_PQ_UNCOMPRESSED, 1u << 20},
               {"plain_fallback", AS_PQ_ZSTD, 40}};
  char path[4096];
  snprintf(path, sizeof path, "%s/manifest.json", argv[1]);
  FILE *m = fopen(path, "w");
  if (!m) return perror(path), 1;
  fprintf(m, "{\"rows\":%d,\"row_group_rows\":%d,\"row_groups\":%d,\"first_position\":\"%" PRIu64
             "\",\"last_position\":\"%" PRIu64 "\",\"files\":[",
          N_EVENTS, RG_ROWS, (N_EVENTS + RG_ROWS - 1) / RG_ROWS, g.ev[0].position,
          g.ev[N_EVENTS - 1].position);
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    as_pq_write_options o;
    as_pq_write_options_init(&o);
    o.codec = files[i].codec;
    o.row_group_rows = RG_ROWS;
    o.page_bytes = 8192;
    o.dict_max_bytes = files[i].dict_max;
    o.sync = false;
    snprintf(path, sizeof path, "%s/%s.parquet", argv[1], files[i].name);
    as_error err;
    if (as_pq_write_file(as_io_posix(), path, g.ev, N_EVENTS, &o, &err) != AS_OK) {
      fprintf(stderr, "pq_gen: %s\n", err.message);
      return 1;
    }
    fprintf(m, "%s{\"file\":\"%s.parquet\",\"codec\":\"%s\",\"dictionary\":%s}", i ? "," : "",
            files[i].name, as_pq_codec_name(files[i].codec),
            files[i].dict_max > 40 ? "[\"entity_id\",\"event_type\",\"tenant_id\"]"
                                   : "[\"tenant_id\"]");
  }
  fputs("]}\n", m);
  if (fclose(m) != 0) return 1;
  if (write_expected(&g, argv[1])) return 1;
  for (int i = 0; i < N_EVENTS; i++)
    for (int k = 0; k < 5; k++) as_free(g.strs[i][k]);
  printf("pq_gen: wrote %zu files of %d events to %s\n", sizeof files / sizeof *files, N_EVENTS,
         argv[1]);
  return 0;
}
