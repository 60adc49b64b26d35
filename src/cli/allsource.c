/*
 * allsource.c — the command-line tool.
 *
 *   allsource export  (--data-dir DIR | --url URL) [--format ndjson|parquet]
 *                     [--output FILE] [--entity-id ID] [--event-type T]
 *                     [--since TS] [--until TS] [--codec zstd|snappy|lz4|none]
 *   allsource inspect FILE.parquet
 *   allsource verify  --data-dir DIR
 *   allsource version | help
 *
 * export and verify open a data directory read-only (nothing on disk is
 * changed; the server must be stopped, as it holds the directory's lock);
 * export --url reads from a running server instead (NDJSON streaming of
 * GET /api/v1/events/query).  A progress line is drawn when stderr is a
 * terminal.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allsource.h"
#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "core/as_json.h"
#include "storage/as_parquet.h"

typedef struct cli {
  const char *data_dir, *url, *format, *output, *entity, *type, *since, *until;
  const char *codec;
  int progress;
} cli;

static void usage(FILE *f) {
  fprintf(f,
          "usage:\n"
          "  allsource export (--data-dir DIR | --url URL) [--format ndjson|parquet]\n"
          "                   [--output FILE] [--entity-id ID] [--event-type TYPE]\n"
          "                   [--since RFC3339] [--until RFC3339]\n"
          "                   [--codec zstd|snappy|lz4|none]\n"
          "  allsource inspect FILE.parquet\n"
          "  allsource verify --data-dir DIR\n"
          "  allsource version\n");
}

static void quiet_log(void *ctx, as_log_level l, const char *msg) {
  if (l <= AS_LOG_WARN) fprintf(stderr, "allsource: %s\n", msg);
}

static as_db *open_ro(const char *dir) {
  as_options o;
  as_options_init(&o);
  o.read_only = true;
  o.snapshot_every_events = 0;
  o.log_fn = quiet_log;
  as_db *db;
  as_error err;
  as_err rc = as_db_open(dir, &o, &db, &err);
  if (rc) {
    fprintf(stderr, "allsource: cannot open %s: %s%s\n", dir, err.message,
            rc == AS_EBUSY ? " (stop the server, or use --url)" : "");
    return NULL;
  }
  return db;
}

/* --- Output sinks ------------------------------------------------------ */

typedef struct sink {
  FILE *f;                /* ndjson */
  as_pq_writer *pq;       /* parquet */
  as_buf line;
  uint64_t n, total;
  int progress;
  int64_t last_draw;
} sink;

static void draw(sink *s, int final) {
  if (!s->progress) return;
  int64_t now = as_time_now_us();
  if (!final && now - s->last_draw < 100000) return;
  s->last_draw = now;
  if (s->total)
    fprintf(stderr, "\r  exported %" PRIu64 " / %" PRIu64 " events (%.0f%%)", s->n,
            s->total, 100.0 * (double)s->n / (double)s->total);
  else
    fprintf(stderr, "\r  exported %" PRIu64 " events", s->n);
  if (final) fputc('\n', stderr);
  fflush(stderr);
}

static int sink_put(sink *s, const as_event *ev) {
  if (s->pq) {
    as_error err;
    if (as_pq_writer_add(s->pq, ev, &err)) {
      fprintf(stderr, "\nallsource: %s\n", err.message);
      return -1;
    }
  } else {
    as_buf_reset(&s->line);
    as_buf_puts(&s->line, "{\"id\":\"");
    char id[37];
    as_uuid_format(ev->id, id);
    as_buf_puts(&s->line, id);
    as_buf_puts(&s->line, "\",\"event_type\":");
    as_json_put_str(&s->line, ev->event_type, ev->event_type_len);
    as_buf_puts(&s->line, ",\"entity_id\":");
    as_json_put_str(&s->line, ev->entity_id, ev->entity_id_len);
    as_buf_puts(&s->line, ",\"tenant_id\":");
    as_json_put_str(&s->line, ev->tenant_id, ev->tenant_id_len);
    as_buf_puts(&s->line, ",\"payload\":");
    as_json_put_one_line(&s->line, ev->payload, ev->payload_len);
    char ts[32];
    as_time_format(ev->timestamp_us, ts);
    as_buf_printf(&s->line, ",\"timestamp\":\"%s\",\"metadata\":", ts);
    if (ev->metadata)
      as_json_put_one_line(&s->line, ev->metadata, ev->metadata_len);
    else
      as_buf_puts(&s->line, "null");
    as_buf_printf(&s->line, ",\"version\":%" PRIu64 ",\"position\":%" PRIu64 "}\n",
                  ev->version, ev->position);
    if (as_buf_error(&s->line) ||
        fwrite(s->line.data, 1, s->line.len, s->f) != s->line.len) {
      perror("\nallsource: write");
      return -1;
    }
  }
  s->n++;
  draw(s, 0);
  return 0;
}

static int sink_open(sink *s, const cli *c) {
  memset(s, 0, sizeof *s);
  as_buf_init(&s->line, 0);
  s->progress = c->progress;
  if (!strcmp(c->format, "parquet")) {
    if (!c->output) {
      fprintf(stderr, "allsource: --format parquet needs --output FILE\n");
      return -1;
    }
    as_pq_write_options o;
    as_pq_write_options_init(&o);
    if (c->codec) {
      if (!strcmp(c->codec, "zstd")) o.codec = AS_PQ_ZSTD;
      else if (!strcmp(c->codec, "snappy")) o.codec = AS_PQ_SNAPPY;
      else if (!strcmp(c->codec, "lz4")) o.codec = AS_PQ_LZ4_RAW;
      else if (!strcmp(c->codec, "none")) o.codec = AS_PQ_UNCOMPRESSED;
      else {
        fprintf(stderr, "allsource: unknown codec '%s'\n", c->codec);
        return -1;
      }
    }
    as_error err;
    if (as_pq_writer_open(as_io_posix(), c->output, &o, &s->pq, &err)) {
      fprintf(stderr, "allsource: %s\n", err.message);
      return -1;
    }
    return 0;
  }
  if (strcmp(c->format, "ndjson")) {
    fprintf(stderr, "allsource: unknown format '%s' (ndjson or parquet)\n", c->format);
    return -1;
  }
  s->f = c->output ? fopen(c->output, "w") : stdout;
  if (!s->f) {
    perror(c->output);
    return -1;
  }
  return 0;
}

static int sink_close(sink *s, int ok) {
  int rc = ok ? 0 : -1;
  draw(s, 1);
  if (s->pq) {
    as_error err;
    uint64_t size;
    if (!ok) {
      as_pq_writer_abort(s->pq);
    } else if (as_pq_writer_finish(s->pq, &size, &err)) {
      fprintf(stderr, "allsource: %s\n", err.message);
      rc = -1;
    }
  }
  if (s->f && s->f != stdout && fclose(s->f)) rc = -1;
  if (s->f == stdout && fflush(stdout)) rc = -1;
  as_buf_free(&s->line);
  return rc;
}

/* --- export ------------------------------------------------------------ */

static int export_dir(const cli *c, sink *s) {
  as_db *db = open_ro(c->data_dir);
  if (!db) return -1;
  as_query q;
  as_query_init(&q);
  if (c->entity) q.entity_id = c->entity, q.entity_id_len = strlen(c->entity);
  if (c->type) q.event_type = c->type, q.event_type_len = strlen(c->type);
  if (c->since && as_time_parse(c->since, strlen(c->since), &q.since_us)) goto bad_time;
  if (c->until && as_time_parse(c->until, strlen(c->until), &q.until_us)) goto bad_time;
  s->total = (!c->entity && !c->type && !c->since && !c->until)
                 ? as_db_committed_position(db)
                 : 0;
  as_iter *it;
  if (as_query_open(db, &q, &it)) {
    as_db_close(db);
    return -1;
  }
  as_event ev;
  int rc = 0;
  while (!rc && as_iter_next(it, &ev) == AS_OK) rc = sink_put(s, &ev);
  as_iter_close(it);
  as_db_close(db);
  return rc;
bad_time:
  fprintf(stderr, "allsource: --since/--until must be RFC 3339 timestamps\n");
  as_db_close(db);
  return -1;
}

/* Online export: NDJSON lines from the server are parsed back into events
 * (payload bytes kept exactly) and written to the sink. */
typedef struct url_ctx {
  sink *s;
  as_buf pending;
  int failed;
  char errbuf[256];
} url_ctx;

static int take_line(url_ctx *u, const char *line, size_t len) {
  as_json_error je;
  if (len == 0) return 0;
  if (as_json_validate(line, len, 256, NULL, &je)) {
    snprintf(u->errbuf, sizeof u->errbuf, "bad line from the server: %s", je.msg);
    return -1;
  }
  as_json_val root = as_json_root(line, len), v;
  as_event ev;
  memset(&ev, 0, sizeof ev);
  char strs[3][1024];
  size_t n;
  const char *names[3] = {"entity_id", "event_type", "tenant_id"};
  for (int i = 0; i < 3; i++) {
    if (!as_json_obj_get(root, names[i], &v) || v.kind != AS_JSON_STRING ||
        v.len > sizeof strs[i]) {
      snprintf(u->errbuf, sizeof u->errbuf, "line without %s", names[i]);
      return -1;
    }
    as_json_str_decode(v, strs[i], &n);
    strs[i][n] = 0;
    if (i == 0) ev.entity_id = strs[i], ev.entity_id_len = (uint32_t)n;
    if (i == 1) ev.event_type = strs[i], ev.event_type_len = (uint32_t)n;
    if (i == 2) ev.tenant_id = strs[i], ev.tenant_id_len = (uint32_t)n;
  }
  if (!as_json_obj_get(root, "id", &v) || as_uuid_parse(v.p + 1, v.len - 2, ev.id) ||
      !as_json_obj_get(root, "timestamp", &v) ||
      as_time_parse(v.p + 1, v.len - 2, &ev.timestamp_us)) {
    snprintf(u->errbuf, sizeof u->errbuf, "line without a valid id or timestamp");
    return -1;
  }
  if (!as_json_obj_get(root, "payload", &v)) return -1;
  ev.payload = v.p;
  ev.payload_len = (uint32_t)v.len;
  if (as_json_obj_get(root, "metadata", &v) && v.kind != AS_JSON_NULL) {
    ev.metadata = v.p;
    ev.metadata_len = (uint32_t)v.len;
  }
  if (!as_json_obj_get(root, "version", &v) || as_json_to_u64(v, &ev.version) ||
      !as_json_obj_get(root, "position", &v) || as_json_to_u64(v, &ev.position)) {
    snprintf(u->errbuf, sizeof u->errbuf, "line without version or position");
    return -1;
  }
  /* NUL-terminate the payload/metadata copies the sinks may rely on */
  return sink_put(u->s, &ev);
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg) {
  url_ctx *u = arg;
  size_t len = size * nmemb;
  if (u->failed) return 0;
  as_buf_append(&u->pending, p, len);
  size_t start = 0;
  for (;;) {
    char *nl = memchr(u->pending.data + start, '\n', u->pending.len - start);
    if (!nl) break;
    size_t end = (size_t)(nl - u->pending.data);
    if (take_line(u, u->pending.data + start, end - start)) {
      u->failed = 1;
      return 0;
    }
    start = end + 1;
  }
  memmove(u->pending.data, u->pending.data + start, u->pending.len - start);
  u->pending.len -= start;
  return as_buf_error(&u->pending) ? 0 : len;
}

static void add_param(CURL *h, as_buf *b, const char *k, const char *v) {
  if (!v) return;
  char *e = curl_easy_escape(h, v, 0);
  as_buf_printf(b, "%s%s=%s", strchr(b->data, '?') ? "&" : "?", k, e);
  curl_free(e);
}

static int export_url(const cli *c, sink *s) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURL *h = curl_easy_init();
  if (!h) return -1;
  as_buf url;
  as_buf_init(&url, 0);
  as_buf_puts(&url, c->url);
  while (url.len && url.data[url.len - 1] == '/') url.data[--url.len] = 0;
  as_buf_puts(&url, "/api/v1/events/query");
  add_param(h, &url, "entity_id", c->entity);
  add_param(h, &url, "event_type", c->type);
  add_param(h, &url, "since", c->since);
  add_param(h, &url, "until", c->until);
  url_ctx u = {s, {0}, 0, ""};
  as_buf_init(&u.pending, (size_t)64 << 20);
  struct curl_slist *hdr = curl_slist_append(NULL, "Accept: application/x-ndjson");
  curl_easy_setopt(h, CURLOPT_URL, url.data);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &u);
  curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
  CURLcode cr = curl_easy_perform(h);
  int rc = 0;
  if (u.failed) {
    fprintf(stderr, "\nallsource: %s\n", u.errbuf[0] ? u.errbuf : "export failed");
    rc = -1;
  } else if (cr != CURLE_OK) {
    fprintf(stderr, "\nallsource: %s: %s\n", url.data, curl_easy_strerror(cr));
    rc = -1;
  }
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  curl_global_cleanup();
  as_buf_free(&u.pending);
  as_buf_free(&url);
  return rc;
}

static int cmd_export(cli *c) {
  if (!!c->data_dir == !!c->url) {
    fprintf(stderr, "allsource export: give exactly one of --data-dir or --url\n");
    return 2;
  }
  if (!c->format) c->format = "ndjson";
  sink s;
  if (sink_open(&s, c)) return 1;
  int rc = c->data_dir ? export_dir(c, &s) : export_url(c, &s);
  if (sink_close(&s, rc == 0)) rc = -1;
  if (!rc && c->progress) fprintf(stderr, "  done\n");
  return rc ? 1 : 0;
}

/* --- inspect ----------------------------------------------------------- */

static void print_stat(const as_pq_column_desc *col, const uint8_t *v, uint32_t len) {
  if (col->type == AS_PQ_INT64 && len == 8) {
    int64_t x;
    memcpy(&x, v, 8);
    if (col->logical == AS_PQ_LT_TIMESTAMP && col->ts_unit == AS_PQ_MICROS) {
      char ts[32];
      as_time_format(x, ts);
      printf("%s", ts);
    } else {
      printf("%" PRId64, x);
    }
  } else if (col->type == AS_PQ_FIXED_LEN_BYTE_ARRAY && len == 16 &&
             col->logical == AS_PQ_LT_UUID) {
    char id[37];
    as_uuid_format(v, id);
    printf("%s", id);
  } else if (col->type == AS_PQ_BYTE_ARRAY) {
    printf("\"%.*s%s\"", len > 40 ? 40 : (int)len, (const char *)v, len > 40 ? "..." : "");
  } else {
    printf("(%u bytes)", len);
  }
}

static int cmd_inspect(const char *path) {
  as_pq_reader *r;
  as_error err;
  if (as_pq_open(as_io_posix(), path, NULL, &r, &err)) {
    fprintf(stderr, "allsource: %s\n", err.message);
    return 1;
  }
  const as_pq_file_desc *d = as_pq_describe(r);
  printf("file: %s\n  size: %" PRIu64 " bytes, rows: %" PRId64 ", row groups: %zu, "
         "format version %d\n  created by: %s\n",
         path, d->file_size, d->num_rows, d->num_row_groups, d->version,
         d->created_by ? d->created_by : "(unknown)");
  printf("schema:\n");
  for (size_t i = 0; i < d->num_columns; i++) {
    const as_pq_column_desc *c = &d->columns[i];
    printf("  %-12s %-22s %-9s %s%s\n", c->path, as_pq_type_name(c->type),
           c->repetition == AS_PQ_REQUIRED ? "required"
           : c->repetition == AS_PQ_OPTIONAL ? "optional" : "repeated",
           c->logical ? as_pq_logical_name(c->logical) : "",
           c->nested ? " (nested: not readable)" : "");
  }
  for (size_t g = 0; g < d->num_row_groups; g++) {
    const as_pq_row_group_desc *rg = &d->row_groups[g];
    printf("row group %zu: %" PRId64 " rows, %" PRId64 " bytes\n", g, rg->num_rows,
           rg->total_byte_size);
    for (size_t i = 0; i < d->num_columns; i++) {
      const as_pq_chunk_desc *ch = &rg->chunks[i];
      printf("  %-12s %-12s %9" PRId64 " -> %9" PRId64 " bytes", d->columns[i].path,
             as_pq_codec_name(ch->codec), ch->total_uncompressed_size,
             ch->total_compressed_size);
      if (ch->has_stats && ch->stats.has_min && ch->stats.has_max) {
        printf("  min ");
        print_stat(&d->columns[i], ch->stats.min, ch->stats.min_len);
        printf(" max ");
        print_stat(&d->columns[i], ch->stats.max, ch->stats.max_len);
      }
      if (ch->has_stats && ch->stats.has_null_count)
        printf("  nulls %" PRId64, ch->stats.null_count);
      printf("\n");
    }
  }
  if (d->num_kv) printf("key-value metadata:\n");
  for (size_t i = 0; i < d->num_kv; i++)
    printf("  %s = %s\n", d->kv[i].key, d->kv[i].value ? d->kv[i].value : "(null)");
  as_pq_close(r);
  return 0;
}

/* --- verify ------------------------------------------------------------ */

static int cmd_verify(const cli *c) {
  if (!c->data_dir) {
    fprintf(stderr, "allsource verify: --data-dir is required\n");
    return 2;
  }
  /* Opening read-only checks every WAL frame's CRC, the manifest's CRC and
   * consistency, and decodes every column of every Parquet file (page CRCs
   * included) while rebuilding the indexes. */
  as_db *db = open_ro(c->data_dir);
  if (!db) return 1;
  as_recovery_info ri;
  as_db_recovery_info(db, &ri);
  as_stats st;
  as_db_stats(db, &st);
  printf("%s: %" PRIu64 " events (positions 1..%" PRIu64 "), %" PRIu64
         " Parquet files, %" PRIu64 " WAL segments (%" PRIu64 " bytes), %" PRIu64
         " entities, %" PRIu64 " event types\n",
         c->data_dir, ri.events, st.committed_position, ri.parquet_files, ri.segments,
         ri.bytes, st.total_entities, st.total_event_types);
  int rc = 0;
  if (ri.truncated_bytes) {
    printf("  torn tail: %" PRIu64 " bytes of unacknowledged writes at the end of "
           "the WAL (the server cuts them off at its next start)\n",
           ri.truncated_bytes);
  }
  if (ri.unlisted_files)
    printf("  %" PRIu64 " Parquet file(s) not in the manifest (left by a crash; "
           "removed at the next start)\n",
           ri.unlisted_files);
  printf("  checksums: OK\n");
  as_db_close(db);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("allsource %s\n", AS_VERSION_STRING);
    return 0;
  }
  cli c;
  memset(&c, 0, sizeof c);
  c.progress = isatty(STDERR_FILENO);
  static const struct option longopts[] = {
      {"data-dir", required_argument, 0, 'd'}, {"url", required_argument, 0, 'u'},
      {"format", required_argument, 0, 'f'},   {"output", required_argument, 0, 'o'},
      {"entity-id", required_argument, 0, 'e'}, {"event-type", required_argument, 0, 't'},
      {"since", required_argument, 0, 's'},    {"until", required_argument, 0, 'U'},
      {"codec", required_argument, 0, 'c'},    {"no-progress", no_argument, 0, 'n'},
      {0, 0, 0, 0}};
  int o;
  optind = 2;
  while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (o) {
      case 'd': c.data_dir = optarg; break;
      case 'u': c.url = optarg; break;
      case 'f': c.format = optarg; break;
      case 'o': c.output = optarg; break;
      case 'e': c.entity = optarg; break;
      case 't': c.type = optarg; break;
      case 's': c.since = optarg; break;
      case 'U': c.until = optarg; break;
      case 'c': c.codec = optarg; break;
      case 'n': c.progress = 0; break;
      default: usage(stderr); return 2;
    }
  }
  if (!strcmp(cmd, "export")) return cmd_export(&c);
  if (!strcmp(cmd, "verify")) return cmd_verify(&c);
  if (!strcmp(cmd, "inspect")) {
    if (optind >= argc) {
      fprintf(stderr, "allsource inspect: which file?\n");
      return 2;
    }
    int rc = 0;
    for (int i = optind; i < argc; i++) rc |= cmd_inspect(argv[i]);
    return rc;
  }
  fprintf(stderr, "allsource: unknown command '%s'\n", cmd);
  usage(stderr);
  return 2;
}
