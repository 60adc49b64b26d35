/* test_parquet.c — the Parquet writer and reader: round trips, statistics,
 * key-value metadata, CRCs, truncation and bit flips, other writers' files
 * (testdata/parquet/data), malformed files (testdata/parquet/bad_data),
 * I/O and allocation failures. */
#include <inttypes.h>

#include "as_mem_io.h"
#include "as_test.h"
#include "core/as_common.h"
#include "core/as_rand.h"
#include "storage/as_crc32.h"
#include "storage/as_parquet.h"
#include "storage/as_parquet_int.h"

#define TESTDATA AS_SOURCE_DIR "/../shared/testdata/parquet"

/* ---------------------------------------------------------------------- */
/* Event generation                                                       */
/* ---------------------------------------------------------------------- */

typedef struct evset {
  as_event *ev;
  char **strs; /* 5 per event, as_malloc'd (metadata may be NULL) */
  size_t n;
} evset;

static char *sdup(const char *s, size_t n) { return as_strndup(s, n); }

static void evset_free(evset *s) {
  for (size_t i = 0; i < s->n * 5; i++) as_free(s->strs[i]);
  as_free(s->strs);
  as_free(s->ev);
}

static char *rand_str(as_rand *r, size_t maxlen) {
  static const char *pieces[] = {"a", "b", "z", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                 "-", "0", "\xce\xa9", "\\\"", " "};
  char buf[512];
  size_t n = 0, want = (size_t)as_rand_below(r, maxlen + 1);
  while (n < want && n + 8 < sizeof buf) {
    const char *p = pieces[as_rand_below(r, AS_ARRAY_LEN(pieces))];
    memcpy(buf + n, p, strlen(p));
    n += strlen(p);
  }
  return sdup(buf, n);
}

/* Random events: unicode, empty strings, absent metadata, some large
 * payloads (every `big_every` rows, 0 = none), repeated entities. */
static void make_events(evset *s, size_t n, uint64_t seed, size_t big_every) {
  as_rand r;
  as_rand_seed_u64(&r, seed);
  s->n = n;
  s->ev = as_calloc(n ? n : 1, sizeof *s->ev);
  s->strs = as_calloc(n ? n * 5 : 1, sizeof *s->strs);
  for (size_t i = 0; i < n; i++) {
    as_event *e = &s->ev[i];
    char **st = &s->strs[i * 5];
    e->position = 1 + i;
    e->version = 1 + as_rand_below(&r, 50);
    e->timestamp_us = (int64_t)as_rand_next(&r) >> (as_rand_below(&r, 2) ? 1 : 12);
    for (int k = 0; k < 16; k++) e->id[k] = (uint8_t)as_rand_next(&r);
    char tmp[64];
    int tl = snprintf(tmp, sizeof tmp, "entity-%" PRIu64, as_rand_below(&r, 40));
    st[0] = as_rand_below(&r, 10) == 0 ? rand_str(&r, 20) : sdup(tmp, (size_t)tl);
    st[1] = as_rand_below(&r, 3) == 0 ? rand_str(&r, 8) : sdup("order.created", 13);
    st[2] = sdup(i % 7 ? "default" : "", i % 7 ? 7 : 0);
    if (big_every && i % big_every == big_every - 1) {
      size_t len = 200000 + (size_t)as_rand_below(&r, 1000);
      st[3] = as_malloc(len + 1);
      for (size_t k = 0; k < len; k++) st[3][k] = (char)('a' + (k * 7 + i) % 26);
      st[3][len] = '\0';
    } else {
      char *x = rand_str(&r, 60);
      as_buf b;
      as_buf_init(&b, 0);
      as_buf_printf(&b, "{\"i\":%zu,\"s\":\"%s\"}", i, x);
      as_free(x);
      size_t len;
      st[3] = as_buf_detach(&b, &len);
    }
    switch (as_rand_below(&r, 3)) {
    case 0: st[4] = NULL; break;
    case 1: st[4] = sdup("", 0); break;
    default: st[4] = rand_str(&r, 30);
    }
    e->entity_id = st[0], e->entity_id_len = (uint32_t)strlen(st[0]);
    e->event_type = st[1], e->event_type_len = (uint32_t)strlen(st[1]);
    e->tenant_id = st[2], e->tenant_id_len = (uint32_t)strlen(st[2]);
    e->payload = st[3], e->payload_len = (uint32_t)strlen(st[3]);
    e->metadata = st[4], e->metadata_len = st[4] ? (uint32_t)strlen(st[4]) : 0;
  }
}

static bool str_eq(const char *a, uint32_t al, const char *b, uint32_t bl) {
  return al == bl && (al == 0 || memcmp(a, b, al) == 0) && a && a[al] == '\0';
}

static bool event_eq(const as_event *a, const as_event *b) {
  return a->position == b->position && a->version == b->version &&
         a->timestamp_us == b->timestamp_us && memcmp(a->id, b->id, 16) == 0 &&
         str_eq(a->entity_id, a->entity_id_len, b->entity_id, b->entity_id_len) &&
         str_eq(a->event_type, a->event_type_len, b->event_type, b->event_type_len) &&
         str_eq(a->tenant_id, a->tenant_id_len, b->tenant_id, b->tenant_id_len) &&
         str_eq(a->payload, a->payload_len, b->payload, b->payload_len) &&
         (b->metadata == NULL ? a->metadata == NULL && a->metadata_len == 0
                              : str_eq(a->metadata, a->metadata_len, b->metadata, b->metadata_len));
}

/* Reads every event of `path` and compares with s. Returns rows read. */
static size_t read_back(const as_io *io, const char *path, const evset *s) {
  as_pq_events *e;
  as_error err;
  as_err rc = as_pq_events_open(io, path, NULL, &e, &err);
  if (rc) {
    fprintf(stderr, "  open: %s\n", err.message);
    CHECK_OK(rc);
    return 0;
  }
  size_t i = 0;
  as_event ev;
  while ((rc = as_pq_events_next(e, &ev, &err)) == AS_OK) {
    if (i >= s->n || !event_eq(&ev, &s->ev[i])) {
      fprintf(stderr, "  row %zu differs\n", i);
      CHECK(!"row differs");
      break;
    }
    i++;
  }
  if (rc != AS_OK && rc != AS_DONE) fprintf(stderr, "  next: %s\n", err.message);
  CHECK(rc == AS_DONE || rc == AS_OK);
  as_pq_events_close(e);
  return i;
}

static as_pq_write_options small_opts(as_pq_codec codec) {
  as_pq_write_options o;
  as_pq_write_options_init(&o);
  o.codec = codec;
  o.row_group_rows = 700;
  o.page_bytes = 2048;
  o.sync = true;
  return o;
}

/* ---------------------------------------------------------------------- */
/* Round trips                                                            */
/* ---------------------------------------------------------------------- */

AS_TEST(pq_round_trip_all_codecs) {
  mem_io m;
  mem_io_init(&m);
  evset s;
  make_events(&s, 3000, 1, 1000);
  as_pq_codec codecs[] = {AS_PQ_ZSTD, AS_PQ_SNAPPY, AS_PQ_LZ4_RAW, AS_PQ_UNCOMPRESSED};
  for (size_t c = 0; c < AS_ARRAY_LEN(codecs); c++) {
    as_pq_write_options o = small_opts(codecs[c]);
    as_error err;
    CHECK_OK(as_pq_write_file(&m.io, "rt.parquet", s.ev, s.n, &o, &err));
    CHECK_EQ_INT(read_back(&m.io, "rt.parquet", &s), s.n);
    as_pq_reader *r;
    REQUIRE(as_pq_open(&m.io, "rt.parquet", NULL, &r, &err) == AS_OK);
    const as_pq_file_desc *d = as_pq_describe(r);
    CHECK_EQ_INT(d->num_rows, 3000);
    CHECK_EQ_INT(d->num_row_groups, 5); /* 4 x 700 + 200 */
    CHECK_EQ_INT(d->row_groups[4].num_rows, 200);
    for (size_t i = 0; i < d->num_columns; i++) CHECK_EQ_INT(d->row_groups[0].chunks[i].codec, codecs[c]);
    /* Small pages: several data pages per chunk, dictionary on entity_id. */
    as_pq_column_data *cd;
    CHECK_OK(as_pq_read_column(r, 0, 0, &cd, &err));
    CHECK(cd->pages >= 2);
    as_pq_column_data_free(cd);
    CHECK_OK(as_pq_read_column(r, 0, 2, &cd, &err));
    CHECK(cd->dictionary);
    as_pq_column_data_free(cd);
    as_pq_close(r);
  }
  evset_free(&s);
  mem_io_free(&m);
}

AS_TEST(pq_round_trip_dictionary_fallback_and_streaming) {
  mem_io m;
  mem_io_init(&m);
  evset s;
  make_events(&s, 2500, 2, 0);
  as_pq_write_options o = small_opts(AS_PQ_ZSTD);
  o.dict_max_bytes = 100; /* entity_id (40+ distinct) overflows: PLAIN */
  o.zstd_level = 3;
  as_pq_writer *w;
  as_error err;
  REQUIRE(as_pq_writer_open(&m.io, "fb.parquet", &o, &w, &err) == AS_OK);
  for (size_t i = 0; i < s.n; i += 100) /* arrays of 100 */
    CHECK_OK(as_pq_writer_add_n(w, s.ev + i, AS_MIN((size_t)100, s.n - i), &err));
  CHECK_EQ_INT(as_pq_writer_rows(w), 2500);
  uint64_t size = 0;
  CHECK_OK(as_pq_writer_finish(w, &size, &err));
  CHECK(size > 0 && size == mem_find(&m, "fb.parquet")->len);
  CHECK_EQ_INT(read_back(&m.io, "fb.parquet", &s), s.n);
  as_pq_reader *r;
  REQUIRE(as_pq_open(&m.io, "fb.parquet", NULL, &r, &err) == AS_OK);
  const as_pq_chunk_desc *ent = &as_pq_describe(r)->row_groups[0].chunks[2];
  const as_pq_chunk_desc *ten = &as_pq_describe(r)->row_groups[0].chunks[4];
  CHECK(!(ent->encodings & (1u << AS_PQ_RLE_DICTIONARY)));
  CHECK(ent->dictionary_page_offset == -1);
  CHECK(ten->encodings & (1u << AS_PQ_RLE_DICTIONARY));
  CHECK(ten->dictionary_page_offset > 0);
  as_pq_close(r);
  evset_free(&s);
  mem_io_free(&m);
}

AS_TEST(pq_empty_and_single_event_files) {
  mem_io m;
  mem_io_init(&m);
  as_error err;
  CHECK_OK(as_pq_write_file(&m.io, "empty.parquet", NULL, 0, NULL, &err));
  as_pq_events *e;
  REQUIRE(as_pq_events_open(&m.io, "empty.parquet", NULL, &e, &err) == AS_OK);
  as_event ev;
  CHECK_EQ_INT(as_pq_events_next(e, &ev, &err), AS_DONE);
  CHECK_EQ_INT(as_pq_describe(as_pq_events_reader(e))->num_rows, 0);
  as_pq_events_close(e);
  evset s;
  make_events(&s, 1, 3, 0);
  CHECK_OK(as_pq_write_file(&m.io, "one.parquet", s.ev, 1, NULL, &err));
  CHECK_EQ_INT(read_back(&m.io, "one.parquet", &s), 1);
  evset_free(&s);
  mem_io_free(&m);
}

/* ---------------------------------------------------------------------- */
/* Statistics, schema and key-value metadata                              */
/* ---------------------------------------------------------------------- */

static as_event mkev(uint64_t pos, int64_t ts, const char *entity, const char *meta,
                     const char *payload) {
  as_event e;
  memset(&e, 0, sizeof e);
  e.position = pos;
  e.version = pos * 10;
  e.timestamp_us = ts;
  e.id[0] = (uint8_t)(0xf0 - pos);
  e.entity_id = entity, e.entity_id_len = (uint32_t)strlen(entity);
  e.event_type = "t", e.event_type_len = 1;
  e.tenant_id = "default", e.tenant_id_len = 7;
  e.payload = payload, e.payload_len = (uint32_t)strlen(payload);
  e.metadata = meta, e.metadata_len = meta ? (uint32_t)strlen(meta) : 0;
  return e;
}

static int64_t le64(const uint8_t *p) { return (int64_t)as_get_u64(p); }

AS_TEST(pq_statistics_schema_and_kv) {
  mem_io m;
  mem_io_init(&m);
  /* Signed timestamps (negative is smallest), byte-order strings ("\xce\xa9"
   * sorts after "zeta" unsigned, before it signed), absent metadata. */
  as_event ev[4] = {mkev(7, 5, "zeta", NULL, "{\"a\":1}"),
                    mkev(8, -3, "\xce\xa9mega", "{\"m\":2}", "[]"),
                    mkev(9, INT64_MAX, "alpha", NULL, "1"),
                    mkev(10, INT64_MIN + 1, "", "{}", "\"x\"")};
  as_error err;
  CHECK_OK(as_pq_write_file(&m.io, "st.parquet", ev, 4, NULL, &err));
  as_pq_reader *r;
  REQUIRE(as_pq_open(&m.io, "st.parquet", NULL, &r, &err) == AS_OK);
  const as_pq_file_desc *d = as_pq_describe(r);
  REQUIRE(d->num_columns == AS_PQ_EVENT_COLUMNS && d->num_row_groups == 1);
  CHECK_EQ_STR(d->created_by, "allsource version 0.1.0");
  CHECK_EQ_INT(d->version, 2);
  for (size_t i = 0; i < d->num_columns; i++) CHECK_EQ_STR(d->columns[i].name, as_pq_event_column_names[i]);
  CHECK_EQ_INT(d->columns[1].type, AS_PQ_FIXED_LEN_BYTE_ARRAY);
  CHECK_EQ_INT(d->columns[1].type_length, 16);
  CHECK_EQ_INT(d->columns[1].logical, AS_PQ_LT_UUID);
  CHECK_EQ_INT(d->columns[2].logical, AS_PQ_LT_STRING);
  CHECK_EQ_INT(d->columns[5].logical, AS_PQ_LT_TIMESTAMP);
  CHECK(d->columns[5].ts_utc);
  CHECK_EQ_INT(d->columns[5].ts_unit, AS_PQ_MICROS);
  CHECK_EQ_INT(d->columns[7].logical, AS_PQ_LT_JSON);
  CHECK_EQ_INT(d->columns[8].repetition, AS_PQ_OPTIONAL);
  CHECK_EQ_INT(d->columns[8].max_def, 1);
  CHECK_EQ_INT(d->columns[7].repetition, AS_PQ_REQUIRED);
  const as_pq_chunk_desc *ch = d->row_groups[0].chunks;
  /* position */
  REQUIRE(ch[0].has_stats && ch[0].stats.has_min && ch[0].stats.min_len == 8);
  CHECK_EQ_INT(le64(ch[0].stats.min), 7);
  CHECK_EQ_INT(le64(ch[0].stats.max), 10);
  CHECK(!ch[0].stats.deprecated);
  /* timestamp: signed order */
  CHECK(le64(ch[5].stats.min) == INT64_MIN + 1);
  CHECK(le64(ch[5].stats.max) == INT64_MAX);
  /* version */
  CHECK_EQ_INT(le64(ch[6].stats.min), 70);
  CHECK_EQ_INT(le64(ch[6].stats.max), 100);
  /* id: unsigned bytewise over 16 bytes; first bytes 0xe9..0xe6 */
  CHECK_EQ_INT(ch[1].stats.min_len, 16);
  CHECK_EQ_INT(ch[1].stats.min[0], 0xf0 - 10);
  CHECK_EQ_INT(ch[1].stats.max[0], 0xf0 - 7);
  /* entity_id: unsigned byte order: "" < "alpha" < "zeta" < "\xce\xa9mega" */
  CHECK_EQ_INT(ch[2].stats.min_len, 0);
  CHECK(ch[2].stats.has_min);
  CHECK(ch[2].stats.max_len == 6 && memcmp(ch[2].stats.max, "\xce\xa9mega", 6) == 0);
  CHECK_EQ_INT(ch[2].stats.null_count, 0);
  /* metadata: 2 nulls, min "{\"m\":2}" vs "{}": '"' (0x22) < '}' */
  CHECK_EQ_INT(ch[8].stats.null_count, 2);
  CHECK(ch[8].stats.min_len == 7 && memcmp(ch[8].stats.min, "{\"m\":2}", 7) == 0);
  CHECK(ch[8].stats.max_len == 2 && memcmp(ch[8].stats.max, "{}", 2) == 0);
  /* payload: "\"x\"" < "1" < "[]" < "{..." */
  CHECK(ch[7].stats.min_len == 3 && memcmp(ch[7].stats.min, "\"x\"", 3) == 0);
  CHECK(ch[7].stats.max_len == 7 && memcmp(ch[7].stats.max, "{\"a\":1}", 7) == 0);
  /* encodings */
  CHECK(ch[2].encodings == ((1u << AS_PQ_PLAIN) | (1u << AS_PQ_RLE_DICTIONARY)));
  CHECK(ch[8].encodings == ((1u << AS_PQ_PLAIN) | (1u << AS_PQ_RLE)));
  CHECK(ch[0].encodings == (1u << AS_PQ_PLAIN));
  CHECK_EQ_INT(ch[0].codec, AS_PQ_ZSTD);
  /* key-value metadata */
  uint32_t len;
  CHECK_EQ_STR(as_pq_kv_find(r, "allsource.writer", &len), "allsource 0.1.0");
  CHECK_EQ_STR(as_pq_kv_find(r, "allsource.first_position", &len), "7");
  CHECK_EQ_STR(as_pq_kv_find(r, "allsource.last_position", &len), "10");
  CHECK_EQ_STR(as_pq_kv_find(r, "allsource.format", &len), "events-v1");
  CHECK(as_pq_kv_find(r, "nope", &len) == NULL);
  CHECK_EQ_INT(d->num_kv, 4);
  CHECK_OK(as_pq_check_events_schema(r, &err));
  as_pq_close(r);
  mem_io_free(&m);
}

AS_TEST(pq_large_values_omit_min_max) {
  mem_io m;
  mem_io_init(&m);
  char *big = as_malloc(5001);
  memset(big, 'x', 5000);
  big[5000] = '\0';
  as_event ev[2] = {mkev(1, 1, "a", NULL, big), mkev(2, 2, "b", NULL, "{}")};
  as_error err;
  CHECK_OK(as_pq_write_file(&m.io, "big.parquet", ev, 2, NULL, &err));
  as_pq_reader *r;
  REQUIRE(as_pq_open(&m.io, "big.parquet", NULL, &r, &err) == AS_OK);
  const as_pq_chunk_desc *ch = as_pq_describe(r)->row_groups[0].chunks;
  CHECK(!ch[7].stats.has_min && !ch[7].stats.has_max);
  CHECK(ch[7].stats.has_null_count && ch[7].stats.null_count == 0);
  CHECK(!ch[8].stats.has_min && ch[8].stats.null_count == 2); /* all null */
  as_pq_close(r);
  as_free(big);
  mem_io_free(&m);
}

/* ---------------------------------------------------------------------- */
/* Corruption                                                             */
/* ---------------------------------------------------------------------- */

static const uint8_t *find_bytes(const uint8_t *h, size_t hl, const char *needle) {
  size_t nl = strlen(needle);
  for (size_t i = 0; i + nl <= hl; i++)
    if (memcmp(h + i, needle, nl) == 0) return h + i;
  return NULL;
}

AS_TEST(pq_crc_mismatch_is_detected) {
  mem_io m;
  mem_io_init(&m);
  as_event ev[3] = {mkev(1, 1, "a", NULL, "{\"needle\":12345}"), mkev(2, 2, "b", "{}", "{}"),
                    mkev(3, 3, "c", NULL, "{}")};
  as_pq_write_options o;
  as_pq_write_options_init(&o);
  o.codec = AS_PQ_UNCOMPRESSED;
  as_error err;
  CHECK_OK(as_pq_write_file(&m.io, "crc.parquet", ev, 3, &o, &err));
  mem_file *f = mem_find(&m, "crc.parquet");
  uint8_t *p = (uint8_t *)find_bytes(f->data, f->len, "12345");
  REQUIRE(p != NULL);
  p[0] = '9'; /* still a valid PLAIN page: only the CRC can tell */
  as_pq_events *e;
  REQUIRE(as_pq_events_open(&m.io, "crc.parquet", NULL, &e, &err) == AS_OK);
  as_event out;
  CHECK_EQ_INT(as_pq_events_next(e, &out, &err), AS_ECORRUPT);
  CHECK(strstr(err.message, "CRC") != NULL);
  CHECK(strstr(err.message, "'payload'") != NULL);
  CHECK(strstr(err.message, "crc.parquet") != NULL);
  CHECK(strstr(err.message, "page 0") != NULL);
  CHECK_EQ_STR(err.field, "payload");
  as_pq_events_close(e);
  /* Without CRCs the same change goes unnoticed (proves the CRC caught it). */
  o.page_crc = false;
  CHECK_OK(as_pq_write_file(&m.io, "nocrc.parquet", ev, 3, &o, &err));
  f = mem_find(&m, "nocrc.parquet");
  p = (uint8_t *)find_bytes(f->data, f->len, "12345");
  REQUIRE(p != NULL);
  p[0] = '9';
  REQUIRE(as_pq_events_open(&m.io, "nocrc.parquet", NULL, &e, &err) == AS_OK);
  CHECK_OK(as_pq_events_next(e, &out, &err));
  CHECK(out.payload && strstr(out.payload, "92345") != NULL);
  as_pq_events_close(e);
  CHECK_EQ_INT(as_crc32(0, "123456789", 9), 0xcbf43926u);
  mem_io_free(&m);
}

/* The bitwise definition of CRC-32 (IEEE, reflected 0xEDB88320). */
static uint32_t crc32_bitwise(uint32_t crc, const unsigned char *p, size_t n) {
  crc = ~crc;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

AS_TEST(crc32_matches_the_bitwise_definition) {
  unsigned char buf[1100];
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (size_t i = 0; i < sizeof buf; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (unsigned char)x;
  }
  CHECK_EQ_INT(as_crc32(0, "", 0), 0);
  CHECK_EQ_INT(as_crc32(0, "a", 1), 0xe8b7be43u);
  CHECK_EQ_INT(as_crc32(0, "The quick brown fox jumps over the lazy dog", 43), 0x414fa339u);
  /* every length and alignment around the 8-byte step, and chaining */
  for (size_t off = 0; off < 9; off++)
    for (size_t n = 0; n + off <= 80; n++)
      CHECK_EQ_INT(as_crc32(0, buf + off, n), crc32_bitwise(0, buf + off, n));
  uint32_t whole = as_crc32(0, buf, sizeof buf);
  CHECK_EQ_INT(whole, crc32_bitwise(0, buf, sizeof buf));
  for (size_t cut = 0; cut <= sizeof buf; cut += 37)
    CHECK_EQ_INT(as_crc32(as_crc32(0, buf, cut), buf + cut, sizeof buf - cut), whole);
}

/* Reads everything: every column generically, then every event.  Returns
 * the first error (AS_OK when all of it decoded). */
static as_err read_all(const as_io *io, const char *path, const as_pq_read_options *ro,
                       as_error *err) {
  as_pq_reader *r;
  as_err rc = as_pq_open(io, path, ro, &r, err);
  if (rc) return rc;
  const as_pq_file_desc *d = as_pq_describe(r);
  as_err first = AS_OK;
  for (size_t g = 0; g < d->num_row_groups; g++)
    for (size_t c = 0; c < d->num_columns; c++) {
      as_pq_column_data *cd;
      rc = as_pq_read_column(r, g, c, &cd, err);
      if (rc && !first) first = rc;
      as_pq_column_data_free(cd);
    }
  as_pq_close(r);
  if (first) return first;
  as_pq_events *e;
  if ((rc = as_pq_events_open(io, path, ro, &e, err))) return rc;
  as_event ev;
  while ((rc = as_pq_events_next(e, &ev, err)) == AS_OK) {
  }
  as_pq_events_close(e);
  return rc == AS_DONE ? AS_OK : rc;
}

static bool clean_error(as_err rc) {
  return rc == AS_ECORRUPT || rc == AS_EFORMAT || rc == AS_EUNSUPPORTED || rc == AS_ELIMIT;
}

static void small_file(mem_io *m, const char *name, as_pq_codec codec, bool crc) {
  evset s;
  make_events(&s, 12, 9, 0);
  as_pq_write_options o;
  as_pq_write_options_init(&o);
  o.codec = codec;
  o.row_group_rows = 5;
  o.page_crc = crc;
  as_error err;
  CHECK_OK(as_pq_write_file(&m->io, name, s.ev, s.n, &o, &err));
  evset_free(&s);
}

AS_TEST(pq_truncation_at_every_length) {
  mem_io m;
  mem_io_init(&m);
  small_file(&m, "full.parquet", AS_PQ_SNAPPY, true);
  mem_file *f = mem_find(&m, "full.parquet");
  size_t n = f->len;
  uint8_t *copy = malloc(n);
  memcpy(copy, f->data, n);
  as_error err;
  CHECK_OK(read_all(&m.io, "full.parquet", NULL, &err));
  for (size_t len = 0; len < n; len++) {
    mem_io_put(&m, "cut.parquet", copy, len);
    as_err rc = read_all(&m.io, "cut.parquet", NULL, &err);
    if (!clean_error(rc)) {
      fprintf(stderr, "  truncated to %zu: %s\n", len, as_errname(rc));
      CHECK(clean_error(rc));
      break;
    }
  }
  /* Also cut the data but keep the footer: chunk ranges beyond the file. */
  uint32_t flen = as_get_u32(copy + n - 8);
  for (size_t cut = 1; cut < 64 && cut < n - flen - 12; cut++) {
    size_t keep = n - flen - 8 - cut;
    uint8_t *b = malloc(n - cut);
    memcpy(b, copy, keep);
    memcpy(b + keep, copy + n - flen - 8, flen + 8);
    mem_io_put(&m, "hole.parquet", b, n - cut);
    free(b);
    as_err rc = read_all(&m.io, "hole.parquet", NULL, &err);
    CHECK(clean_error(rc));
  }
  free(copy);
  mem_io_free(&m);
}

AS_TEST(pq_bit_flips_give_clean_errors) {
  mem_io m;
  mem_io_init(&m);
  as_pq_read_options ro;
  as_pq_read_options_init(&ro);
  ro.max_chunk_values = 1u << 16; /* keep hostile counts cheap */
  ro.max_page_bytes = 1u << 22;
  const struct { as_pq_codec codec; bool crc; } cases[] = {
      {AS_PQ_UNCOMPRESSED, false}, {AS_PQ_SNAPPY, false}, {AS_PQ_ZSTD, true}};
  size_t detected = 0, total = 0;
  for (size_t k = 0; k < AS_ARRAY_LEN(cases); k++) {
    small_file(&m, "orig.parquet", cases[k].codec, cases[k].crc);
    mem_file *f = mem_find(&m, "orig.parquet");
    size_t n = f->len;
    uint8_t *copy = malloc(n);
    memcpy(copy, f->data, n);
    for (size_t off = 0; off < n; off++) {
      for (int bit = 0; bit < 8; bit += 3) {
        copy[off] ^= (uint8_t)(1u << bit);
        mem_io_put(&m, "flip.parquet", copy, n);
        copy[off] ^= (uint8_t)(1u << bit);
        as_error err;
        as_err rc = read_all(&m.io, "flip.parquet", &ro, &err);
        total++;
        if (rc != AS_OK) {
          detected++;
          if (!clean_error(rc)) {
            fprintf(stderr, "  flip at %zu bit %d: %s %s\n", off, bit, as_errname(rc), err.message);
            CHECK(clean_error(rc));
          }
        }
      }
    }
    free(copy);
  }
  /* Most flips land in page data; with CRCs and strict decoding the large
   * majority must be detected. */
  fprintf(stderr, "  # bit flips: %zu of %zu detected\n", detected, total);
  CHECK(detected > total / 2);
  mem_io_free(&m);
}

AS_TEST(pq_not_parquet_and_wrong_schema) {
  mem_io m;
  mem_io_init(&m);
  as_error err;
  as_pq_reader *r;
  mem_io_put(&m, "text.parquet", "hello, this is not parquet at all", 33);
  CHECK_EQ_INT(as_pq_open(&m.io, "text.parquet", NULL, &r, &err), AS_EFORMAT);
  CHECK(strstr(err.message, "text.parquet") && strstr(err.message, "magic"));
  mem_io_put(&m, "tiny.parquet", "PAR1PAR1", 8);
  CHECK_EQ_INT(as_pq_open(&m.io, "tiny.parquet", NULL, &r, &err), AS_EFORMAT);
  const uint8_t bad_len[] = {'P', 'A', 'R', '1', 0, 0, 0, 0, 0xff, 0xff, 0, 0, 'P', 'A', 'R', '1'};
  mem_io_put(&m, "len.parquet", bad_len, sizeof bad_len);
  CHECK_EQ_INT(as_pq_open(&m.io, "len.parquet", NULL, &r, &err), AS_ECORRUPT);
  CHECK(strstr(err.message, "footer length") != NULL);
  const uint8_t enc[] = {'P', 'A', 'R', 'E', 0, 0, 0, 0, 1, 0, 0, 0, 'P', 'A', 'R', 'E'};
  mem_io_put(&m, "enc.parquet", enc, sizeof enc);
  CHECK_EQ_INT(as_pq_open(&m.io, "enc.parquet", NULL, &r, &err), AS_EUNSUPPORTED);
  CHECK_EQ_INT(as_pq_open(&m.io, "missing.parquet", NULL, &r, &err), AS_ENOENT);
  as_pq_events *e;
  CHECK_EQ_INT(as_pq_events_open(as_io_posix(), TESTDATA "/data/alltypes_plain.parquet", NULL, &e, &err),
               AS_EFORMAT);
  CHECK(strstr(err.message, "not an events file") != NULL);
  mem_io_free(&m);
}

/* ---------------------------------------------------------------------- */
/* Other writers' files                                                   */
/* ---------------------------------------------------------------------- */

static as_pq_column_data *col_by_name(as_pq_reader *r, size_t rg, const char *name, as_err *rc,
                                      as_error *err) {
  const as_pq_file_desc *d = as_pq_describe(r);
  for (size_t i = 0; i < d->num_columns; i++)
    if (strcmp(d->columns[i].path, name) == 0) {
      as_pq_column_data *cd = NULL;
      *rc = as_pq_read_column(r, rg, i, &cd, err);
      return cd;
    }
  *rc = AS_ENOTFOUND;
  return NULL;
}

AS_TEST(pq_reads_alltypes_files) {
  static const struct { const char *file; size_t rows; int32_t ids[8]; as_pq_codec codec; } f[] = {
      {"alltypes_plain.parquet", 8, {4, 5, 6, 7, 2, 3, 0, 1}, AS_PQ_UNCOMPRESSED},
      {"alltypes_dictionary.parquet", 2, {0, 1}, AS_PQ_UNCOMPRESSED},
      {"alltypes_plain.snappy.parquet", 2, {6, 7}, AS_PQ_SNAPPY}};
  for (size_t k = 0; k < AS_ARRAY_LEN(f); k++) {
    char path[512];
    snprintf(path, sizeof path, TESTDATA "/data/%s", f[k].file);
    as_error err;
    as_pq_reader *r;
    CHECK_OK(read_all(as_io_posix(), path, NULL, &err) == AS_EFORMAT ? AS_OK : AS_EINVAL);
    REQUIRE(as_pq_open(as_io_posix(), path, NULL, &r, &err) == AS_OK);
    const as_pq_file_desc *d = as_pq_describe(r);
    CHECK_EQ_INT(d->num_rows, f[k].rows);
    CHECK_EQ_INT(d->num_columns, 11);
    CHECK_EQ_INT(d->row_groups[0].chunks[0].codec, f[k].codec);
    CHECK(d->created_by && strncmp(d->created_by, "impala", 6) == 0);
    as_err rc;
    as_pq_column_data *id = col_by_name(r, 0, "id", &rc, &err);
    REQUIRE(rc == AS_OK);
    CHECK_EQ_INT(id->type, AS_PQ_INT32);
    for (size_t i = 0; i < f[k].rows; i++) CHECK_EQ_INT(((const int32_t *)id->values)[i], f[k].ids[i]);
    CHECK(id->defined && id->defined[0] == 1 && id->num_nulls == 0);
    as_pq_column_data_free(id);
    as_pq_column_data *b = col_by_name(r, 0, "bool_col", &rc, &err);
    REQUIRE(rc == AS_OK);
    for (size_t i = 0; i < f[k].rows; i++) CHECK_EQ_INT(((const uint8_t *)b->values)[i], (f[k].ids[i] + 1) % 2);
    as_pq_column_data_free(b);
    as_pq_column_data *dbl = col_by_name(r, 0, "double_col", &rc, &err);
    REQUIRE(rc == AS_OK);
    for (size_t i = 0; i < f[k].rows; i++)
      CHECK(((const double *)dbl->values)[i] == (f[k].ids[i] % 2 ? 10.1 : 0.0));
    as_pq_column_data_free(dbl);
    as_pq_column_data *s = col_by_name(r, 0, "string_col", &rc, &err);
    REQUIRE(rc == AS_OK);
    for (size_t i = 0; i < f[k].rows; i++) {
      const as_pq_bytes *v = (const as_pq_bytes *)s->values + i;
      CHECK(v->len == 1 && v->ptr[0] == '0' + f[k].ids[i] % 2 && v->ptr[1] == '\0');
    }
    as_pq_column_data_free(s);
    as_pq_column_data *ts = col_by_name(r, 0, "timestamp_col", &rc, &err);
    REQUIRE(rc == AS_OK);
    CHECK_EQ_INT(ts->type, AS_PQ_INT96);
    as_pq_column_data_free(ts);
    as_pq_close(r);
  }
}

AS_TEST(pq_reads_checksum_and_binary_files) {
  as_error err;
  as_pq_reader *r;
  as_err rc;
  /* datapage v1 with CRCs: two INT32 columns, 5120 rows, 2 pages each. */
  REQUIRE(as_pq_open(as_io_posix(), TESTDATA "/data/datapage_v1-uncompressed-checksum.parquet", NULL, &r, &err) == AS_OK);
  as_pq_column_data *a = col_by_name(r, 0, "a", &rc, &err);
  REQUIRE(rc == AS_OK);
  CHECK_EQ_INT(a->num_rows, 5120);
  CHECK_EQ_INT(a->pages, 2);
  CHECK(a->defined == NULL);
  CHECK_EQ_INT(((const int32_t *)a->values)[0], 0x03020100);
  as_pq_column_data_free(a);
  as_pq_close(r);
  /* The same data with corrupted page bodies. */
  static const char *corrupt[] = {"datapage_v1-corrupt-checksum.parquet",
                                  "rle-dict-uncompressed-corrupt-checksum.parquet"};
  for (size_t k = 0; k < 2; k++) {
    char path[512];
    snprintf(path, sizeof path, TESTDATA "/data/%s", corrupt[k]);
    REQUIRE(as_pq_open(as_io_posix(), path, NULL, &r, &err) == AS_OK);
    as_pq_column_data *cd;
    CHECK_EQ_INT(as_pq_read_column(r, 0, 0, &cd, &err), AS_ECORRUPT);
    CHECK(strstr(err.message, "CRC mismatch") && strstr(err.message, corrupt[k]) &&
          strstr(err.message, "row group 0"));
    as_pq_close(r);
  }
  /* Dictionary pages with CRCs. */
  REQUIRE(as_pq_open(as_io_posix(), TESTDATA "/data/plain-dict-uncompressed-checksum.parquet", NULL, &r, &err) == AS_OK);
  as_pq_column_data *l = col_by_name(r, 0, "long_field", &rc, &err);
  as_pq_column_data *bf = col_by_name(r, 0, "binary_field", &rc, &err);
  REQUIRE(l && bf);
  CHECK_EQ_INT(l->num_rows, 1000);
  CHECK(l->dictionary && bf->dictionary);
  const as_pq_bytes *v = bf->values;
  CHECK(v[0].len == 36 && strncmp(v[0].ptr, "a655fd0e-9949-4059-b", 20) == 0);
  as_pq_column_data_free(l);
  as_pq_column_data_free(bf);
  as_pq_close(r);
  /* binary.parquet: 12 one-byte values 0x00..0x0b. */
  REQUIRE(as_pq_open(as_io_posix(), TESTDATA "/data/binary.parquet", NULL, &r, &err) == AS_OK);
  as_pq_column_data *foo = col_by_name(r, 0, "foo", &rc, &err);
  REQUIRE(rc == AS_OK);
  CHECK_EQ_INT(foo->num_rows, 12);
  for (size_t i = 0; i < 12; i++) {
    const as_pq_bytes *x = (const as_pq_bytes *)foo->values + i;
    CHECK(x->len == 1 && (size_t)(unsigned char)x->ptr[0] == i);
  }
  as_pq_column_data_free(foo);
  as_pq_close(r);
  /* nulls.snappy.parquet: a struct column — unsupported, clearly. */
  REQUIRE(as_pq_open(as_io_posix(), TESTDATA "/data/nulls.snappy.parquet", NULL, &r, &err) == AS_OK);
  as_pq_column_data *cd;
  CHECK_EQ_INT(as_pq_read_column(r, 0, 0, &cd, &err), AS_EUNSUPPORTED);
  CHECK(strstr(err.message, "b_struct.b_c_int") && strstr(err.message, "nested"));
  as_pq_close(r);
}

AS_TEST(pq_testdata_data_directory_outcomes) {
  /* Every file of data/: which read fully and which fail, and how. */
  static const struct { const char *file; as_err want; } f[] = {
      {"alltypes_dictionary.parquet", AS_OK},
      {"alltypes_plain.parquet", AS_OK},
      {"alltypes_plain.snappy.parquet", AS_OK},
      {"binary.parquet", AS_OK},
      {"datapage_v1-corrupt-checksum.parquet", AS_ECORRUPT},
      {"datapage_v1-uncompressed-checksum.parquet", AS_OK},
      {"nulls.snappy.parquet", AS_EUNSUPPORTED},
      {"plain-dict-uncompressed-checksum.parquet", AS_OK},
      {"rle-dict-uncompressed-corrupt-checksum.parquet", AS_ECORRUPT}};
  for (size_t k = 0; k < AS_ARRAY_LEN(f); k++) {
    char path[512];
    snprintf(path, sizeof path, TESTDATA "/data/%s", f[k].file);
    as_pq_reader *r;
    as_error err;
    REQUIRE(as_pq_open(as_io_posix(), path, NULL, &r, &err) == AS_OK);
    const as_pq_file_desc *d = as_pq_describe(r);
    as_err got = AS_OK;
    for (size_t g = 0; g < d->num_row_groups && !got; g++)
      for (size_t c = 0; c < d->num_columns && !got; c++) {
        as_pq_column_data *cd;
        got = as_pq_read_column(r, g, c, &cd, &err);
        as_pq_column_data_free(cd);
      }
    if (got != f[k].want) fprintf(stderr, "  %s: %s %s\n", f[k].file, as_errname(got), err.message);
    CHECK_EQ_INT(got, f[k].want);
    as_pq_close(r);
  }
}

AS_TEST(pq_bad_data_files_are_rejected) {
  static const struct { const char *file; as_err want; const char *msg; } f[] = {
      {"ARROW-GH-41317.parquet", AS_ECORRUPT, "malformed footer"},
      {"ARROW-GH-41321.parquet", AS_ECORRUPT, "definition levels"},
      {"ARROW-GH-45185.parquet", AS_EUNSUPPORTED, "nested or repeated"},
      {"ARROW-GH-47662.parquet", AS_ECORRUPT, "fewer than"},
      {"ARROW-RS-GH-6229-DICTHEADER.parquet", AS_ECORRUPT, "runs past"},
      {"ARROW-RS-GH-6229-LEVELS.parquet", AS_EUNSUPPORTED, "nested or repeated"},
      {"PARQUET-1481.parquet", AS_ECORRUPT, "invalid physical type"}};
  for (size_t k = 0; k < AS_ARRAY_LEN(f); k++) {
    char path[512];
    snprintf(path, sizeof path, TESTDATA "/bad_data/%s", f[k].file);
    as_error err;
    memset(&err, 0, sizeof err);
    as_pq_reader *r;
    as_err got = as_pq_open(as_io_posix(), path, NULL, &r, &err);
    if (got == AS_OK) {
      const as_pq_file_desc *d = as_pq_describe(r);
      /* Prefer a real corruption over "unsupported": read every column. */
      as_err first_unsup = AS_OK;
      as_error unsup_err;
      for (size_t g = 0; g < d->num_row_groups && got != AS_ECORRUPT; g++)
        for (size_t c = 0; c < d->num_columns && got != AS_ECORRUPT; c++) {
          as_pq_column_data *cd;
          as_err rc = as_pq_read_column(r, g, c, &cd, &err);
          as_pq_column_data_free(cd);
          if (rc == AS_EUNSUPPORTED && !first_unsup) first_unsup = rc, unsup_err = err;
          else if (rc) got = rc;
        }
      if (got == AS_OK && first_unsup) got = first_unsup, err = unsup_err;
      as_pq_close(r);
    }
    if (got != f[k].want || !strstr(err.message, f[k].msg))
      fprintf(stderr, "  %s: %s %s\n", f[k].file, as_errname(got), err.message);
    CHECK_EQ_INT(got, f[k].want);
    CHECK(strstr(err.message, f[k].msg) != NULL);
    CHECK(strstr(err.message, f[k].file) != NULL);
  }
}

AS_TEST(pq_reads_data_page_v2_with_zero_bit_width) {
  /* bad_data/ARROW-GH-43605.parquet is a valid file (it crashed the Go
   * reader): DATA_PAGE_V2, ZSTD, RLE_DICTIONARY with index bit width 0
   * over a one-entry dictionary, an optional column.  DuckDB reads it as
   * 21186 zeros; so do we. */
  as_pq_reader *r;
  as_error err;
  REQUIRE(as_pq_open(as_io_posix(), TESTDATA "/bad_data/ARROW-GH-43605.parquet", NULL, &r, &err) == AS_OK);
  as_pq_column_data *cd;
  REQUIRE(as_pq_read_column(r, 0, 0, &cd, &err) == AS_OK);
  CHECK_EQ_INT(cd->num_rows, 21186);
  CHECK_EQ_INT(cd->num_nulls, 0);
  CHECK(cd->dictionary);
  size_t zeros = 0;
  for (size_t i = 0; i < cd->num_rows; i++) zeros += ((const int32_t *)cd->values)[i] == 0 && cd->defined[i];
  CHECK_EQ_INT(zeros, 21186);
  as_pq_column_data_free(cd);
  as_pq_close(r);
}

/* ---------------------------------------------------------------------- */
/* Encodings                                                              */
/* ---------------------------------------------------------------------- */

AS_TEST(pq_rle_hybrid_round_trip) {
  as_rand r;
  as_rand_seed_u64(&r, 5);
  uint32_t v[3000], back[3000];
  for (unsigned width = 0; width <= 32; width++) {
    for (int pattern = 0; pattern < 3; pattern++) {
      size_t n = 1 + (size_t)as_rand_below(&r, 3000);
      uint64_t maxv = width == 32 ? UINT32_MAX : ((1ull << width) - 1);
      for (size_t i = 0; i < n; i++) {
        uint64_t x = pattern == 0 ? as_rand_next(&r) : pattern == 1 ? (i / 50) * 7919 : (i % 9 == 0 ? 1 : 0);
        v[i] = (uint32_t)(x & maxv);
      }
      as_buf b;
      as_buf_init(&b, 0);
      as__pq_rle_encode(&b, v, n, width);
      size_t used = 0;
      const char *what = NULL;
      CHECK_OK(as__pq_rle_decode((const uint8_t *)b.data, b.len, width, back, n, &used, &what));
      CHECK(memcmp(v, back, n * sizeof *v) == 0);
      CHECK_EQ_INT(used, b.len);
      /* Truncated encodings fail cleanly. */
      if (b.len > 1 && width > 0)
        CHECK_EQ_INT(as__pq_rle_decode((const uint8_t *)b.data, b.len / 2, width, back, n, &used, &what),
                     AS_ECORRUPT);
      as_buf_free(&b);
    }
  }
  /* Known bytes: RLE run of 8 x value 5 at width 3 = header 0x10, value 0x05. */
  const uint8_t k[] = {0x10, 0x05};
  CHECK_OK(as__pq_rle_decode(k, 2, 3, back, 8, &(size_t){0}, &(const char *){NULL}));
  CHECK(back[0] == 5 && back[7] == 5);
  /* Bit-packed group: header 0x03, values 0..7 at width 3 = 0x88 0xc6 0xfa. */
  const uint8_t bp[] = {0x03, 0x88, 0xc6, 0xfa};
  CHECK_OK(as__pq_rle_decode(bp, 4, 3, back, 8, &(size_t){0}, &(const char *){NULL}));
  for (uint32_t i = 0; i < 8; i++) CHECK_EQ_INT(back[i], i);
  /* A run value wider than the bit width is corrupt. */
  const uint8_t wide[] = {0x10, 0x09};
  CHECK_EQ_INT(as__pq_rle_decode(wide, 2, 3, back, 8, &(size_t){0}, &(const char *){NULL}), AS_ECORRUPT);
}

/* ---------------------------------------------------------------------- */
/* Writer errors, I/O and allocation failures                             */
/* ---------------------------------------------------------------------- */

AS_TEST(pq_writer_rejects_bad_options_and_events) {
  mem_io m;
  mem_io_init(&m);
  as_pq_write_options o;
  as_pq_write_options_init(&o);
  as_pq_writer *w;
  as_error err;
  o.codec = AS_PQ_GZIP;
  CHECK_EQ_INT(as_pq_writer_open(&m.io, "x.parquet", &o, &w, &err), AS_EINVAL);
  CHECK(strstr(err.message, "GZIP") != NULL);
  o.codec = AS_PQ_BROTLI;
  CHECK_EQ_INT(as_pq_writer_open(&m.io, "x.parquet", &o, &w, &err), AS_EINVAL);
  o.codec = AS_PQ_ZSTD;
  o.row_group_rows = 0;
  CHECK_EQ_INT(as_pq_writer_open(&m.io, "x.parquet", &o, &w, &err), AS_EINVAL);
  CHECK(mem_find(&m, "x.parquet") == NULL);
  REQUIRE(as_pq_writer_open(&m.io, "x.parquet", NULL, &w, &err) == AS_OK);
  as_event e = mkev(1, 1, "a", NULL, "{}");
  e.position = (uint64_t)INT64_MAX + 1;
  CHECK_EQ_INT(as_pq_writer_add(w, &e, &err), AS_EINVAL);
  e = mkev(1, 1, "a", NULL, "{}");
  e.entity_id = NULL; /* length 1 with no bytes */
  CHECK_EQ_INT(as_pq_writer_add(w, &e, &err), AS_EINVAL);
  as_pq_writer_abort(w);
  CHECK(mem_find(&m, "x.parquet") == NULL);
  as_pq_writer_abort(NULL);
  mem_io_free(&m);
}

AS_TEST(pq_writer_io_failures_unlink) {
  evset s;
  make_events(&s, 300, 11, 0);
  as_pq_write_options o = small_opts(AS_PQ_SNAPPY);
  o.row_group_rows = 100;
  int failures = 0;
  for (unsigned k = 1; k < 400; k++) {
    mem_io m;
    mem_io_init(&m);
    m.fail_write_after = k;
    as_error err;
    as_err rc = as_pq_write_file(&m.io, "io.parquet", s.ev, s.n, &o, &err);
    if (rc == AS_OK) {
      mem_io_free(&m);
      break;
    }
    failures++;
    CHECK_EQ_INT(rc, AS_EIO);
    CHECK(strstr(err.message, "io.parquet") != NULL);
    CHECK(mem_find(&m, "io.parquet") == NULL);
    mem_io_free(&m);
  }
  CHECK(failures > 20);
  mem_io m;
  mem_io_init(&m);
  m.fail_sync = 1;
  as_error err;
  CHECK_EQ_INT(as_pq_write_file(&m.io, "sync.parquet", s.ev, s.n, &o, &err), AS_EIO);
  CHECK(strstr(err.message, "fdatasync") != NULL);
  CHECK(mem_find(&m, "sync.parquet") == NULL);
  mem_io_free(&m);
  evset_free(&s);
}

AS_TEST(pq_allocation_failures_clean_up) {
  mem_io m;
  mem_io_init(&m);
  evset s;
  make_events(&s, 40, 12, 0);
  as_pq_write_options o = small_opts(AS_PQ_ZSTD);
  o.row_group_rows = 16;
  as_error err;
  int failed = 0;
  for (uint64_t n = 1; n < 5000; n++) {
    as__alloc_fail_after(n);
    as_err rc = as_pq_write_file(&m.io, "a.parquet", s.ev, s.n, &o, &err);
    as__alloc_fail_after(0);
    if (rc == AS_OK) break;
    failed++;
    CHECK(rc == AS_ENOMEM);
  }
  CHECK(failed > 5);
  CHECK_EQ_INT(read_back(&m.io, "a.parquet", &s), s.n);
  failed = 0;
  for (uint64_t n = 1; n < 5000; n++) {
    as__alloc_fail_after(n);
    as_err rc = read_all(&m.io, "a.parquet", NULL, &err);
    as__alloc_fail_after(0);
    if (rc == AS_OK) break;
    failed++;
    CHECK(rc == AS_ENOMEM || rc == AS_ELIMIT);
  }
  CHECK(failed > 5);
  as__alloc_injected_failures();
  evset_free(&s);
  mem_io_free(&m);
}

/* Allocations a whole write of s needs (the first budget that succeeds). */
static uint64_t allocs_needed(mem_io *m, const evset *s, const as_pq_write_options *o) {
  for (uint64_t n = 1; n < 10000; n++) {
    as_error err;
    as__alloc_fail_after(n);
    as_err rc = as_pq_write_file(&m->io, "n.parquet", s->ev, s->n, o, &err);
    as__alloc_fail_after(0);
    if (rc == AS_OK) return n;
  }
  return 0;
}

/* One scratch lent to writer after writer: every file reads back exactly
 * (no stale dictionary, offsets or pages from the previous file), whether
 * the previous writer finished, aborted or failed, and a writer opened
 * while the scratch is lent allocates its own. */
AS_TEST(pq_scratch_reuse_across_files) {
  mem_io m;
  mem_io_init(&m);
  evset big, small, other;
  make_events(&big, 2100, 21, 500);
  make_events(&small, 7, 22, 0);
  make_events(&other, 900, 23, 0);
  as_pq_scratch *sc = as_pq_scratch_new();
  REQUIRE(sc);
  as_pq_write_options o = small_opts(AS_PQ_ZSTD);
  o.scratch = sc;
  as_error err;
  CHECK_OK(as_pq_write_file(&m.io, "1.parquet", big.ev, big.n, &o, &err));
  CHECK_OK(as_pq_write_file(&m.io, "2.parquet", small.ev, small.n, &o, &err));
  /* an aborted writer hands its buffers back too */
  as_pq_writer *w;
  REQUIRE(as_pq_writer_open(&m.io, "x.parquet", &o, &w, &err) == AS_OK);
  CHECK_OK(as_pq_writer_add_n(w, other.ev, 650, &err));
  as_pq_writer_abort(w);
  CHECK(mem_find(&m, "x.parquet") == NULL);
  /* lent: a second writer at the same time gets its own buffers */
  as_pq_writer *w1, *w2;
  REQUIRE(as_pq_writer_open(&m.io, "3.parquet", &o, &w1, &err) == AS_OK);
  REQUIRE(as_pq_writer_open(&m.io, "4.parquet", &o, &w2, &err) == AS_OK);
  CHECK_OK(as_pq_writer_add_n(w2, small.ev, small.n, &err));
  CHECK_OK(as_pq_writer_add_n(w1, other.ev, other.n, &err));
  CHECK_OK(as_pq_writer_finish(w2, NULL, &err));
  CHECK_OK(as_pq_writer_finish(w1, NULL, &err));
  /* a different row group size: the scratch's buffers do not fit */
  as_pq_write_options o2 = o;
  o2.row_group_rows = 64;
  CHECK_OK(as_pq_write_file(&m.io, "5.parquet", other.ev, other.n, &o2, &err));
  CHECK_OK(as_pq_write_file(&m.io, "6.parquet", big.ev, big.n, &o, &err));
  /* allocation failures while the scratch is used leave it usable */
  for (uint64_t n = 1; n < 400; n += 7) {
    as__alloc_fail_after(n);
    as_err rc = as_pq_write_file(&m.io, "7.parquet", small.ev, small.n, &o2, &err);
    as__alloc_fail_after(0);
    CHECK(rc == AS_OK || rc == AS_ENOMEM);
  }
  as__alloc_injected_failures();
  CHECK_OK(as_pq_write_file(&m.io, "8.parquet", other.ev, other.n, &o, &err));
  /* the point of it: a warm scratch spares the row-group buffers
   * (3 integer columns, ids, flags, indexes, 5 offset arrays, 3 dictionary
   * index arrays and row maps, pages, the ZSTD context) */
  as_pq_write_options own = o;
  own.scratch = NULL;
  uint64_t with = allocs_needed(&m, &small, &o), without = allocs_needed(&m, &small, &own);
  as__alloc_injected_failures();
  printf("# allocations for a 7-event file: %llu with a warm scratch, %llu without\n",
         (unsigned long long)with, (unsigned long long)without);
  CHECK(with > 0 && without > 0 && with + 15 <= without);
  CHECK_EQ_INT(read_back(&m.io, "1.parquet", &big), big.n);
  CHECK_EQ_INT(read_back(&m.io, "2.parquet", &small), small.n);
  CHECK_EQ_INT(read_back(&m.io, "3.parquet", &other), other.n);
  CHECK_EQ_INT(read_back(&m.io, "4.parquet", &small), small.n);
  CHECK_EQ_INT(read_back(&m.io, "5.parquet", &other), other.n);
  CHECK_EQ_INT(read_back(&m.io, "6.parquet", &big), big.n);
  CHECK_EQ_INT(read_back(&m.io, "8.parquet", &other), other.n);
  as_pq_scratch_free(sc);
  as_pq_scratch_free(NULL);
  evset_free(&big);
  evset_free(&small);
  evset_free(&other);
  mem_io_free(&m);
}

AS_TEST(pq_reader_limits) {
  mem_io m;
  mem_io_init(&m);
  small_file(&m, "lim.parquet", AS_PQ_ZSTD, true);
  as_pq_read_options ro;
  as_error err;
  as_pq_read_options_init(&ro);
  ro.max_chunk_values = 3;
  CHECK_EQ_INT(read_all(&m.io, "lim.parquet", &ro, &err), AS_ELIMIT);
  CHECK(strstr(err.message, "limit") != NULL);
  as_pq_read_options_init(&ro);
  ro.max_footer_bytes = 16;
  CHECK_EQ_INT(read_all(&m.io, "lim.parquet", &ro, &err), AS_ELIMIT);
  as_pq_read_options_init(&ro);
  ro.max_page_bytes = 8;
  CHECK_EQ_INT(read_all(&m.io, "lim.parquet", &ro, &err), AS_ELIMIT);
  mem_io_free(&m);
}

AS_TEST_MAIN()
