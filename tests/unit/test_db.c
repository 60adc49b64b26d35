/* test_db.c — the store through its public API: appends, concurrency
 * control, idempotency, validation, queries, state, projections, recovery. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "allsource.h"
#include "as_test.h"
#include "core/as_uuid.h"
#include "test_util.h"

static as_db *open_mem(void) {
  as_options o;
  as_options_init(&o);
  o.durability = AS_DURABILITY_NONE;
  as_db *db = NULL;
  as_error err;
  if (as_db_open(NULL, &o, &db, &err)) {
    fprintf(stderr, "open: %s\n", err.message);
    return NULL;
  }
  return db;
}

static as_err put(as_db *db, const char *entity, const char *type,
                  const char *payload, as_append_result *res) {
  as_event_in e;
  ev_init(&e, entity, type, payload);
  return as_append(db, &e, 1, res, NULL);
}

AS_TEST(append_assigns_positions_versions_ids) {
  as_db *db = open_mem();
  REQUIRE(db);
  as_append_result r1, r2, r3;
  CHECK_OK(put(db, "user-1", "user.created", "{\"name\":\"Alice\"}", &r1));
  CHECK_OK(put(db, "user-2", "user.created", "{\"name\":\"Bob\"}", &r2));
  CHECK_OK(put(db, "user-1", "user.renamed", "{\"name\":\"Alicia\"}", &r3));
  CHECK_EQ_INT(r1.position, 1);
  CHECK_EQ_INT(r2.position, 2);
  CHECK_EQ_INT(r3.position, 3);
  CHECK_EQ_INT(r1.version, 1);
  CHECK_EQ_INT(r2.version, 1);
  CHECK_EQ_INT(r3.version, 2);
  CHECK(r1.timestamp_us <= r2.timestamp_us && r2.timestamp_us <= r3.timestamp_us);
  CHECK(memcmp(r1.id, r2.id, 16) != 0);
  CHECK_EQ_INT(r1.id[6] >> 4, 7); /* UUIDv7 */
  as_event ev;
  CHECK_OK(as_get_by_id(db, r3.id, &ev));
  CHECK_EQ_INT(ev.position, 3);
  CHECK_EQ_STR(ev.entity_id, "user-1");
  CHECK_EQ_STR(ev.event_type, "user.renamed");
  CHECK_EQ_STR(ev.payload, "{\"name\":\"Alicia\"}");
  CHECK_EQ_STR(ev.tenant_id, "default");
  CHECK(ev.metadata == NULL);
  CHECK_OK(as_get_by_position(db, 2, &ev));
  CHECK_EQ_STR(ev.entity_id, "user-2");
  CHECK_EQ_INT(as_get_by_position(db, 4, &ev), AS_ENOTFOUND);
  uint64_t v;
  CHECK_OK(as_entity_version(db, "user-1", 6, &v));
  CHECK_EQ_INT(v, 2);
  CHECK_EQ_INT(as_entity_version(db, "nobody", 6, &v), AS_ENOTFOUND);
  as_stats st;
  as_db_stats(db, &st);
  CHECK_EQ_INT(st.total_events, 3);
  CHECK_EQ_INT(st.total_entities, 2);
  CHECK_EQ_INT(st.total_event_types, 2);
  as_db_close(db);
}

AS_TEST(payload_bytes_are_kept_exactly) {
  as_db *db = open_mem();
  REQUIRE(db);
  const char *p = "{ \"b\" : 0.1, \"a\":12345678901234567890123, \"u\":\"\\u00e9\" }";
  as_append_result r;
  as_event_in e;
  ev_init(&e, "x", "t", p);
  e.metadata = "{\"trace\": \"1\"}";
  e.metadata_len = strlen(e.metadata);
  CHECK_OK(as_append(db, &e, 1, &r, NULL));
  as_event ev;
  CHECK_OK(as_get_by_position(db, r.position, &ev));
  CHECK_EQ_INT(ev.payload_len, strlen(p));
  CHECK(memcmp(ev.payload, p, strlen(p)) == 0);
  CHECK_EQ_STR(ev.metadata, "{\"trace\": \"1\"}");
  /* JSON null metadata means "absent" */
  e.metadata = " null ";
  e.metadata_len = 6;
  CHECK_OK(as_append(db, &e, 1, &r, NULL));
  CHECK_OK(as_get_by_position(db, r.position, &ev));
  CHECK(ev.metadata == NULL);
  as_db_close(db);
}

AS_TEST(rejects_bad_input_with_clear_errors) {
  as_db *db = open_mem();
  REQUIRE(db);
  struct {
    const char *entity, *type, *payload, *meta;
    as_err want;
    const char *field;
  } cases[] = {
      {"", "t", "{}", NULL, AS_EINVAL, "entity_id"},
      {" x", "t", "{}", NULL, AS_EINVAL, "entity_id"},
      {"x\x01", "t", "{}", NULL, AS_EINVAL, "entity_id"},
      {"x\xff", "t", "{}", NULL, AS_EINVAL, "entity_id"},
      {"x", "", "{}", NULL, AS_EINVAL, "event_type"},
      {"x", "a b", "{}", NULL, AS_EINVAL, "event_type"},
      {"x", "order.*", "{}", NULL, AS_EINVAL, "event_type"},
      {"x\x7f", "t", "{}", NULL, AS_EINVAL, "entity_id"},          /* DEL */
      {"x\xc2\x85y", "t", "{}", NULL, AS_EINVAL, "entity_id"},     /* U+0085 */
      {"x ", "t", "{}", NULL, AS_EINVAL, "entity_id"},
      {"abcdefghijkl\x1fmnop", "t", "{}", NULL, AS_EINVAL, "entity_id"},
      {"abcdefghijklmnop\xe2\x82", "t", "{}", NULL, AS_EINVAL, "entity_id"},
      {"x", "t\x09", "{}", NULL, AS_EINVAL, "event_type"},
      {"x", "t\xc2\x9f", "{}", NULL, AS_EINVAL, "event_type"},
      {"x", "order.created.v1*", "{}", NULL, AS_EINVAL, "event_type"},
      {"x", "order.created\xff", "{}", NULL, AS_EINVAL, "event_type"},
      {"x", "t", "", NULL, AS_EINVAL, "payload"},
      {"x", "t", "{", NULL, AS_EJSON, "payload"},
      {"x", "t", "{} {}", NULL, AS_EJSON, "payload"},
      {"x", "t", "\"\xc0\xaf\"", NULL, AS_EJSON, "payload"},
      {"x", "t", "{}", "[1]", AS_EINVAL, "metadata"},
      {"x", "t", "{}", "{", AS_EJSON, "metadata"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    as_event_in e;
    ev_init(&e, cases[i].entity, cases[i].type, cases[i].payload);
    if (cases[i].meta) {
      e.metadata = cases[i].meta;
      e.metadata_len = strlen(cases[i].meta);
    }
    as_error err;
    as_err rc = as_append(db, &e, 1, NULL, &err);
    if (rc != cases[i].want) fprintf(stderr, "  case %zu: got %s\n", i, as_errname(rc));
    CHECK_EQ_INT(rc, cases[i].want);
    CHECK_EQ_STR(err.field, cases[i].field);
    CHECK(err.message[0] != '\0');
  }
  char big[300];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  as_event_in e;
  ev_init(&e, big, "t", "{}");
  CHECK_EQ_INT(as_append(db, &e, 1, NULL, NULL), AS_ELIMIT);
  char deep[200];
  for (int i = 0; i < 100; i++) deep[i] = '[', deep[100 + i] = ']';
  ev_init(&e, "x", "t", "");
  e.payload = deep;
  e.payload_len = 200;
  CHECK_EQ_INT(as_append(db, &e, 1, NULL, NULL), AS_EJSON);
  static const uint8_t nil[16];
  ev_init(&e, "x", "t", "{}");
  e.id = nil;
  CHECK_EQ_INT(as_append(db, &e, 1, NULL, NULL), AS_EINVAL);
  CHECK_EQ_INT(as_append(db, &e, 0, NULL, NULL), AS_EINVAL);
  CHECK_EQ_INT(as_db_committed_position(db), 0);
  /* Spaces inside an entity id, non-ASCII letters and NBSP (U+00A0) pass. */
  static const char *const ok_entities[] = {"a b", "caf\xc3\xa9-\xe2\x82\xac", "x\xc2\xa0y",
                                            "abcdefghijklmnopqrstuvwxyz0123456789"};
  for (size_t i = 0; i < sizeof ok_entities / sizeof *ok_entities; i++) {
    ev_init(&e, ok_entities[i], "t.\xc3\xa9", "{}");
    CHECK_OK(as_append(db, &e, 1, NULL, NULL));
  }
  CHECK_EQ_INT(as_db_committed_position(db), 4);
  as_db_close(db);
}

/* AS_EVENT_JSON_CHECKED: the engine takes the caller's word for the JSON
 * (that is the flag's whole point: the HTTP server validated the body) but
 * still checks everything else. */
AS_TEST(json_checked_flag_skips_only_the_json_scan) {
  as_db *db = open_mem();
  REQUIRE(db);
  as_event_in e;
  ev_init(&e, "x", "t", "{\"a\":[1,2]}");
  e.flags = AS_EVENT_JSON_CHECKED;
  CHECK_OK(as_append(db, &e, 1, NULL, NULL));
  ev_init(&e, "x", "t", "{not json");
  CHECK_EQ_INT(as_append(db, &e, 1, NULL, NULL), AS_EJSON); /* no flag: checked */
  e.flags = AS_EVENT_JSON_CHECKED;
  CHECK_OK(as_append(db, &e, 1, NULL, NULL)); /* flag: the caller's word */
  as_error err;
  ev_init(&e, "x", "t", "{}");
  e.flags = AS_EVENT_JSON_CHECKED;
  e.metadata = " [1] ";
  e.metadata_len = 5;
  CHECK_EQ_INT(as_append(db, &e, 1, NULL, &err), AS_EINVAL); /* kind still checked */
  CHECK_EQ_STR(err.field, "metadata");
  e.metadata = " null ";
  e.metadata_len = 6;
  CHECK_OK(as_append(db, &e, 1, NULL, NULL));
  ev_init(&e, "x\x01", "t", "{}");
  e.flags = AS_EVENT_JSON_CHECKED;
  CHECK_EQ_INT(as_append(db, &e, 1, NULL, &err), AS_EINVAL); /* ids still checked */
  CHECK_EQ_STR(err.field, "entity_id");
  CHECK_EQ_INT(as_db_committed_position(db), 3);
  as_db_close(db);
}

AS_TEST(expected_version_conflicts_write_nothing) {
  as_db *db = open_mem();
  REQUIRE(db);
  as_event_in e[3];
  ev_init(&e[0], "acct", "opened", "{}");
  e[0].expected_version = AS_EXPECT_NO_STREAM;
  CHECK_OK(as_append(db, e, 1, NULL, NULL));
  /* no-stream again: conflict, actual version reported */
  as_error err;
  CHECK_EQ_INT(as_append(db, e, 1, NULL, &err), AS_ECONFLICT);
  CHECK_EQ_INT(err.actual_version, 1);
  CHECK_EQ_INT(err.expected_version, 0);
  /* a batch: the second event's check sees the first event's version */
  ev_init(&e[0], "acct", "deposited", "{\"n\":1}");
  e[0].expected_version = 1;
  ev_init(&e[1], "acct", "deposited", "{\"n\":2}");
  e[1].expected_version = 2;
  ev_init(&e[2], "other", "x", "{}");
  e[2].expected_version = AS_EXPECT_EXISTS; /* fails: no such entity */
  CHECK_EQ_INT(as_append(db, e, 3, NULL, &err), AS_ECONFLICT);
  CHECK_EQ_INT(err.index, 2);
  CHECK_EQ_INT(as_db_committed_position(db), 1); /* nothing of the batch */
  e[2].expected_version = AS_EXPECT_ANY;
  as_append_result r[3];
  CHECK_OK(as_append(db, e, 3, r, NULL));
  CHECK_EQ_INT(r[0].version, 2);
  CHECK_EQ_INT(r[1].version, 3);
  CHECK_EQ_INT(r[2].version, 1);
  CHECK_EQ_INT(r[0].position + 1, r[1].position);
  e[0].expected_version = 2; /* stale */
  CHECK_EQ_INT(as_append(db, e, 1, NULL, &err), AS_ECONFLICT);
  CHECK_EQ_INT(err.actual_version, 3);
  as_db_close(db);
}

AS_TEST(client_ids_make_retries_idempotent) {
  as_db *db = open_mem();
  REQUIRE(db);
  uint8_t id1[16], id2[16], id3[16];
  for (int i = 0; i < 16; i++) id1[i] = (uint8_t)(i + 1), id2[i] = (uint8_t)(i + 50), id3[i] = (uint8_t)(i + 99);
  as_event_in e[2];
  ev_init(&e[0], "a", "t", "{\"x\":1}");
  e[0].id = id1;
  ev_init(&e[1], "a", "t", "{\"x\":2}");
  e[1].id = id2;
  as_append_result r[2], again[2];
  CHECK_OK(as_append(db, e, 2, r, NULL));
  CHECK(!r[0].duplicate);
  CHECK(memcmp(r[0].id, id1, 16) == 0);
  /* exact retry: same results, nothing written */
  CHECK_OK(as_append(db, e, 2, again, NULL));
  CHECK(again[0].duplicate && again[1].duplicate);
  CHECK_EQ_INT(again[0].position, r[0].position);
  CHECK_EQ_INT(again[1].version, r[1].version);
  CHECK_EQ_INT(as_db_committed_position(db), 2);
  /* retry with expected_version that no longer holds still succeeds */
  e[0].expected_version = AS_EXPECT_NO_STREAM;
  CHECK_OK(as_append(db, e, 1, again, NULL));
  CHECK(again[0].duplicate);
  e[0].expected_version = AS_EXPECT_ANY;
  /* same id, other content: conflict */
  as_event_in x;
  ev_init(&x, "a", "t", "{\"x\":99}");
  x.id = id1;
  as_error err;
  CHECK_EQ_INT(as_append(db, &x, 1, NULL, &err), AS_EIDCONFLICT);
  CHECK_EQ_STR(err.field, "id");
  /* mixing a stored id with a new one: conflict */
  e[1].id = id3;
  CHECK_EQ_INT(as_append(db, e, 2, NULL, &err), AS_EIDCONFLICT);
  /* the same id twice in one batch: invalid */
  e[1].id = id1;
  CHECK_EQ_INT(as_append(db, e, 2, NULL, &err), AS_EINVAL);
  CHECK_EQ_INT(as_db_committed_position(db), 2);
  as_db_close(db);
}

/* Generated ids carry their event's position; client ids may look like
 * such ids and carry any position.  Every id is found, exactly once, before
 * and after recovery from the WAL and from Parquet files. */
static void v7_with_seq(uint8_t id[16], uint64_t seq, uint8_t salt) {
  as_rand r;
  as_rand_seed_u64(&r, salt * 1000003u + seq);
  as_uuid_v7_seq(&r, (int64_t)salt * 86400000000LL, seq, id);
}

static void check_ids(as_db *db, uint8_t ids[][16], int n) {
  for (int i = 0; i < n; i++) {
    as_event ev;
    CHECK_OK(as_get_by_id(db, ids[i], &ev));
    CHECK_EQ_INT(ev.position, i + 1);
    CHECK(memcmp(ev.id, ids[i], 16) == 0);
  }
  /* an id carrying a stored position but not that event's id */
  uint8_t other[16];
  memcpy(other, ids[1], 16);
  other[15] ^= 1; /* a random bit: same position, another id */
  as_event ev;
  CHECK_EQ_INT(as_get_by_id(db, other, &ev), AS_ENOTFOUND);
  /* an id carrying a position not yet written */
  v7_with_seq(other, (uint64_t)n + 5, 3);
  CHECK_EQ_INT(as_get_by_id(db, other, &ev), AS_ENOTFOUND);
}

AS_TEST(ids_are_found_by_position_or_map) {
  char dir[256];
  REQUIRE(make_tmpdir(dir, sizeof dir));
  as_options o;
  as_options_init(&o);
  o.segment_bytes = 4096; /* sealed into Parquet files */
  as_db *db;
  REQUIRE(as_db_open(dir, &o, &db, NULL) == AS_OK);
  enum { N = 150 };
  uint8_t ids[N][16];
  for (int i = 0; i < N; i++) {
    as_event_in e;
    ev_init(&e, "ent", "t", "{\"k\":1}");
    uint8_t cid[16];
    switch (i % 5) {
    case 1: v7_with_seq(cid, (uint64_t)i + 1, 10); break;  /* its own position */
    case 2: v7_with_seq(cid, (uint64_t)i - 1, 20); break;  /* an earlier one */
    case 3: v7_with_seq(cid, (uint64_t)i + 3, 30); break;  /* a later one */
    case 4: /* any other id */
      for (int k = 0; k < 16; k++) cid[k] = (uint8_t)(0xa0 + k);
      cid[0] = (uint8_t)i;
      break;
    default: break;                                        /* generated */
    }
    if (i % 5) e.id = cid;
    as_append_result r;
    CHECK_OK(as_append(db, &e, 1, &r, NULL));
    CHECK_EQ_INT(r.position, i + 1);
    memcpy(ids[i], r.id, 16);
    if (i % 5 == 0) CHECK_EQ_INT(as_uuid_v7_seq_of(r.id), i + 1); /* its position */
    /* a retry is recognised whichever way the id is found */
    if (i % 5) {
      CHECK_OK(as_append(db, &e, 1, &r, NULL));
      CHECK(r.duplicate);
      CHECK_EQ_INT(r.position, i + 1);
    }
  }
  check_ids(db, ids, N);
  /* a stored generated id reused by a client with other content */
  as_event_in x;
  ev_init(&x, "ent", "t", "{\"k\":2}");
  x.id = ids[5];
  CHECK_EQ_INT(as_append(db, &x, 1, NULL, NULL), AS_EIDCONFLICT);
  as_db_close(db);
  REQUIRE(as_db_open(dir, &o, &db, NULL) == AS_OK); /* WAL and Parquet */
  as_stats st;
  as_db_stats(db, &st);
  CHECK(st.parquet_files >= 1);
  check_ids(db, ids, N);
  CHECK_EQ_INT(as_append(db, &x, 1, NULL, NULL), AS_EIDCONFLICT);
  CHECK_OK(as_db_seal(db));
  as_db_close(db);
  REQUIRE(as_db_open(dir, &o, &db, NULL) == AS_OK); /* all from Parquet */
  check_ids(db, ids, N);
  as_db_close(db);
  remove_tree(dir);
}

static int collect(as_db *db, const as_query *q, uint64_t *out, int max) {
  as_iter *it;
  if (as_query_open(db, q, &it)) return -1;
  int n = 0;
  as_event ev;
  while (as_iter_next(it, &ev) == AS_OK) {
    if (n < max) out[n] = ev.position;
    n++;
  }
  as_iter_close(it);
  return n;
}

AS_TEST(queries_filter_order_and_page) {
  as_db *db = open_mem();
  REQUIRE(db);
  /* positions 1..30: entity e{i%3}, type order.placed / order.paid /
   * user.created in turn */
  const char *types[] = {"order.placed", "order.paid", "user.created"};
  int64_t ts[31];
  for (int i = 1; i <= 30; i++) {
    char ent[16];
    snprintf(ent, sizeof ent, "e%d", i % 3);
    as_append_result r;
    CHECK_OK(put(db, ent, types[(i / 3) % 3], "{}", &r));
    ts[i] = r.timestamp_us;
    if (i % 10 == 0) usleep(2000);
  }
  as_query q;
  uint64_t got[64];
  as_query_init(&q);
  CHECK_EQ_INT(collect(db, &q, got, 64), 30);
  q.entity_id = "e1";
  q.entity_id_len = 2;
  int n = collect(db, &q, got, 64);
  CHECK_EQ_INT(n, 10);
  CHECK_EQ_INT(got[0], 1);
  CHECK_EQ_INT(got[9], 28);
  q.descending = true;
  q.limit = 3;
  n = collect(db, &q, got, 64);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_INT(got[0], 28);
  CHECK_EQ_INT(got[2], 22);
  q.from_position = 21; /* descending: positions <= 21 */
  n = collect(db, &q, got, 64);
  CHECK_EQ_INT(got[0], 19);
  /* entity + type */
  as_query_init(&q);
  q.entity_id = "e0";
  q.entity_id_len = 2;
  q.event_type = "order.paid";
  q.event_type_len = 10;
  n = collect(db, &q, got, 64);
  for (int i = 0; i < n; i++) CHECK_EQ_INT(((got[i] / 3) % 3), 1);
  CHECK(n > 0);
  /* type prefix merges order.placed and order.paid in position order */
  as_query_init(&q);
  q.event_type = "order.*";
  q.event_type_len = 7;
  n = collect(db, &q, got, 64);
  int want = 0;
  for (int i = 1; i <= 30; i++) want += ((i / 3) % 3) != 2;
  CHECK_EQ_INT(n, want);
  for (int i = 1; i < n && i < 64; i++) CHECK(got[i] > got[i - 1]);
  q.descending = true;
  uint64_t desc[64];
  CHECK_EQ_INT(collect(db, &q, desc, 64), want);
  CHECK_EQ_INT(desc[0], got[n - 1]);
  /* time filters apply to full scans too (unlike the seed) */
  as_query_init(&q);
  q.since_us = ts[11];
  q.until_us = ts[20];
  n = collect(db, &q, got, 64);
  CHECK(n >= 10);
  for (int i = 0; i < n; i++) CHECK(ts[got[i]] >= ts[11] && ts[got[i]] <= ts[20]);
  CHECK_EQ_INT(got[0], 11);
  /* from_position ascending + limit = paging */
  as_query_init(&q);
  q.from_position = 29;
  q.limit = 5;
  CHECK_EQ_INT(collect(db, &q, got, 64), 2);
  /* unknown entity and type */
  as_query_init(&q);
  q.entity_id = "zz";
  q.entity_id_len = 2;
  CHECK_EQ_INT(collect(db, &q, got, 64), 0);
  as_query_init(&q);
  q.event_type = "nope.*";
  q.event_type_len = 6;
  CHECK_EQ_INT(collect(db, &q, got, 64), 0);
  CHECK_EQ_INT(as_position_at_time(db, ts[15]), 20 >= 15 ? as_position_at_time(db, ts[15]) : 0);
  CHECK(as_position_at_time(db, ts[1] - 1) == 0);
  as_db_close(db);
}

AS_TEST(state_is_a_shallow_merge_up_to_as_of) {
  as_db *db = open_mem();
  REQUIRE(db);
  as_append_result r1, r2, r3;
  CHECK_OK(put(db, "u", "a", "{\"name\":\"A\",\"n\":{\"x\":1}}", &r1));
  usleep(1000);
  CHECK_OK(put(db, "u", "b", "[1,2]", &r2)); /* not an object: skipped */
  usleep(1000);
  CHECK_OK(put(db, "u", "c", "{\"\\u006e\":{\"y\":2},\"plan\":null}", &r3));
  char *json;
  size_t len;
  as_state_info info;
  CHECK_OK(as_entity_state(db, "u", 1, AS_TIME_MAX, &json, &len, &info));
  CHECK_EQ_STR(json, "{\"name\":\"A\",\"n\":{\"y\":2},\"plan\":null}");
  CHECK_EQ_INT(info.event_count, 3);
  CHECK_EQ_INT(info.version, 3);
  CHECK(info.last_updated_us == r3.timestamp_us);
  as_free(json);
  CHECK_OK(as_entity_state(db, "u", 1, r2.timestamp_us, &json, &len, &info));
  CHECK_EQ_STR(json, "{\"name\":\"A\",\"n\":{\"x\":1}}");
  CHECK_EQ_INT(info.event_count, 2);
  as_free(json);
  CHECK_EQ_INT(as_entity_state(db, "u", 1, r1.timestamp_us - 1, &json, &len, &info),
               AS_ENOTFOUND);
  CHECK_EQ_INT(as_entity_state(db, "v", 1, AS_TIME_MAX, &json, &len, &info),
               AS_ENOTFOUND);
  as_db_close(db);
}

AS_TEST(builtin_projections) {
  as_db *db = open_mem();
  REQUIRE(db);
  CHECK_OK(put(db, "u", "t1", "{\"a\":1}", NULL));
  CHECK_OK(put(db, "u", "t2", "{\"b\":2,\"a\":3}", NULL));
  CHECK_OK(put(db, "w", "t1", "\"scalar\"", NULL));
  CHECK_OK(put(db, "w", "t1", "{\"ignored\":1}", NULL));
  char *json;
  size_t len;
  CHECK_OK(as_projection_get(db, "entity_snapshots", "u", 1, &json, &len));
  CHECK_EQ_STR(json, "{\"a\":3,\"b\":2}");
  as_free(json);
  CHECK_OK(as_projection_get(db, "entity_snapshots", "w", 1, &json, &len));
  CHECK_EQ_STR(json, "\"scalar\"");
  as_free(json);
  CHECK_OK(as_projection_get(db, "event_counters", "t1", 2, &json, &len));
  CHECK_EQ_STR(json, "{\"count\":3}");
  as_free(json);
  CHECK_EQ_INT(as_projection_get(db, "event_counters", "t9", 2, &json, &len),
               AS_ENOTFOUND);
  CHECK_EQ_INT(as_projection_get(db, "nope", "t9", 2, &json, &len), AS_ENOTFOUND);
  CHECK_OK(as_projection_rebuild(db, "event_counters"));
  CHECK_OK(as_projection_get(db, "event_counters", "t1", 2, &json, &len));
  CHECK_EQ_STR(json, "{\"count\":3}");
  as_free(json);
  as_projection_stats ps;
  CHECK_OK(as_projection_stats_get(db, "event_counters", &ps));
  CHECK_EQ_INT(ps.position, 4);
  as_db_close(db);
}

/* A custom projection: total payload bytes per entity. */
typedef struct bytes_proj {
  uint64_t total;
  int destroyed_flag;
} bytes_proj;

static as_err bp_apply(void *ctx, const as_event *ev) {
  ((bytes_proj *)ctx)->total += ev->payload_len;
  return AS_OK;
}
static as_err bp_get(void *ctx, const char *k, size_t kl, char **json, size_t *len) {
  char *s = as_malloc_public(32);
  if (!s) return AS_ENOMEM;
  *len = (size_t)snprintf(s, 32, "%llu", (unsigned long long)((bytes_proj *)ctx)->total);
  *json = s;
  return AS_OK;
}
static void bp_clear(void *ctx) { ((bytes_proj *)ctx)->total = 0; }
static void bp_destroy(void *ctx) { free(ctx); }

AS_TEST(custom_projection_sees_history_and_new_events) {
  as_db *db = open_mem();
  REQUIRE(db);
  CHECK_OK(put(db, "a", "t", "{\"x\":1}", NULL)); /* 7 bytes */
  bytes_proj *bp = calloc(1, sizeof *bp);
  as_projection_ops ops = {"payload_bytes", bp, bp_apply, bp_get, bp_clear, bp_destroy};
  CHECK_OK(as_projection_register(db, &ops));
  bytes_proj *dup = calloc(1, sizeof *dup);
  ops.ctx = dup;
  CHECK_EQ_INT(as_projection_register(db, &ops), AS_EEXIST);
  free(dup);
  CHECK_OK(put(db, "b", "t", "[]", NULL)); /* 2 bytes */
  char *json;
  size_t len;
  CHECK_OK(as_projection_get(db, "payload_bytes", "", 0, &json, &len));
  CHECK_EQ_STR(json, "9");
  as_free(json);
  as_db_close(db);
}

typedef struct thr_arg {
  as_db *db;
  int t, n;
  int failures;
} thr_arg;

static void *appender(void *p) {
  thr_arg *a = p;
  for (int i = 0; i < a->n; i++) {
    char ent[32], payload[64];
    snprintf(ent, sizeof ent, "t%d", a->t);
    snprintf(payload, sizeof payload, "{\"i\":%d}", i);
    as_event_in e;
    ev_init(&e, ent, "x", payload);
    e.expected_version = (uint64_t)i; /* each thread owns its entity */
    if (as_append(a->db, &e, 1, NULL, NULL)) a->failures++;
  }
  return NULL;
}

static void check_entities(as_db *db, int threads, int per);

static void check_concurrent(as_db *db, int threads, int per) {
  pthread_t th[16];
  thr_arg args[16];
  for (int t = 0; t < threads; t++) {
    args[t] = (thr_arg){db, t, per, 0};
    pthread_create(&th[t], NULL, appender, &args[t]);
  }
  for (int t = 0; t < threads; t++) {
    pthread_join(th[t], NULL);
    CHECK_EQ_INT(args[t].failures, 0);
  }
  CHECK_EQ_INT(as_db_committed_position(db), (uint64_t)threads * per);
  check_entities(db, threads, per);
}

/* `entity` holds exactly `n` events, {"i":0} .. {"i":n-1} at versions 1..n. */
static void check_entity(as_db *db, const char *entity, int n) {
  as_query q;
  as_query_init(&q);
  q.entity_id = entity;
  q.entity_id_len = strlen(entity);
  as_iter *it;
  REQUIRE(as_query_open(db, &q, &it) == AS_OK);
  as_event ev;
  int i = 0;
  while (as_iter_next(it, &ev) == AS_OK) {
    char want[64];
    snprintf(want, sizeof want, "{\"i\":%d}", i);
    CHECK_EQ_STR(ev.payload, want);
    CHECK_EQ_INT(ev.version, (uint64_t)i + 1);
    i++;
  }
  as_iter_close(it);
  CHECK_EQ_INT(i, n);
}

static void check_entities(as_db *db, int threads, int per) {
  for (int t = 0; t < threads; t++) {
    char ent[32];
    snprintf(ent, sizeof ent, "t%d", t);
    check_entity(db, ent, per);
  }
}

AS_TEST(threads_concurrent_appends_memory) {
  as_db *db = open_mem();
  REQUIRE(db);
  check_concurrent(db, 8, 500);
  as_db_close(db);
}

AS_TEST(threads_concurrent_appends_sync_and_recovery) {
  char dir[256];
  REQUIRE(make_tmpdir(dir, sizeof dir));
  as_options o;
  as_options_init(&o);
  o.segment_bytes = 64 << 10; /* many rotations */
  as_db *db;
  REQUIRE(as_db_open(dir, &o, &db, NULL) == AS_OK);
  check_concurrent(db, 8, 200);
  as_stats st;
  as_db_stats(db, &st);
  CHECK(st.syncs_total > 0);
  CHECK(st.syncs_total <= 1600);
  /* closed segments are sealed into Parquet files in the background */
  CHECK_OK(as_db_seal(db));
  as_db_stats(db, &st);
  CHECK_EQ_INT(st.sealed_position, 1600);
  CHECK(st.parquet_files >= 3);
  CHECK(st.wal_segments <= 1);
  as_db_close(db);
  REQUIRE(as_db_open(dir, &o, &db, NULL) == AS_OK);
  as_recovery_info ri;
  as_db_recovery_info(db, &ri);
  CHECK_EQ_INT(ri.events, 1600); /* from the Parquet files */
  CHECK_EQ_INT(ri.truncated_bytes, 0);
  check_entities(db, 8, 200);
  /* versions continue after recovery */
  as_event_in e;
  ev_init(&e, "t3", "x", "{\"i\":200}");
  e.expected_version = 200;
  as_append_result r;
  CHECK_OK(as_append(db, &e, 1, &r, NULL));
  CHECK_EQ_INT(r.position, 1601);
  CHECK_EQ_INT(r.version, 201);
  as_db_close(db);
  /* a second process cannot open the directory while it is open */
  REQUIRE(as_db_open(dir, &o, &db, NULL) == AS_OK);
  as_db *db2 = NULL;
  CHECK_EQ_INT(as_db_open(dir, &o, &db2, NULL), AS_EBUSY);
  as_db_close(db);
  remove_tree(dir);
}

typedef struct async_ctx {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, ok;
  uint64_t last_pos;
} async_ctx;

static void on_done(void *arg, as_err rc, const as_append_result *res, size_t n,
                    const as_error *err) {
  async_ctx *c = arg;
  pthread_mutex_lock(&c->mu);
  c->done++;
  if (!rc) {
    c->ok++;
    if (res[n - 1].position > c->last_pos) c->last_pos = res[n - 1].position;
  }
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

AS_TEST(async_appends_complete_after_commit) {
  char dir[256];
  REQUIRE(make_tmpdir(dir, sizeof dir));
  as_options o;
  as_options_init(&o);
  as_db *db;
  REQUIRE(as_db_open(dir, &o, &db, NULL) == AS_OK);
  async_ctx c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
  for (int i = 0; i < 300; i++) {
    as_event_in e;
    ev_init(&e, "async", "x", "{}");
    CHECK_OK(as_append_async(db, &e, 1, on_done, &c, NULL));
  }
  pthread_mutex_lock(&c.mu);
  while (c.done < 300) pthread_cond_wait(&c.cv, &c.mu);
  pthread_mutex_unlock(&c.mu);
  CHECK_EQ_INT(c.ok, 300);
  CHECK_EQ_INT(c.last_pos, 300);
  as_stats st;
  as_db_stats(db, &st);
  CHECK(st.syncs_total < 300); /* group commit */
  /* every fdatasync is in the latency histogram, and only those */
  uint64_t timed = 0;
  for (int i = 0; i <= AS_SYNC_HIST_N; i++) timed += st.sync_hist[i];
  CHECK(st.syncs_total >= 1);
  CHECK_EQ_INT(timed, st.syncs_total);
  as_db_close(db);
  remove_tree(dir);
}

/* Synchronous appenders commit their own requests through the fast path
 * (role taken by compare-and-swap, released without the queue lock) while
 * asynchronous appends queue under it: every request completes, once, in
 * its entity's order, in `none` and `interval` mode.  A release that missed
 * a queued request would leave its callback unrun (the wait times out). */
static void fast_path_with_async(as_db *db) {
  enum { THREADS = 3, PER = 400, ASYNC = 1200 };
  pthread_t th[THREADS];
  thr_arg args[THREADS];
  for (int t = 0; t < THREADS; t++) {
    args[t] = (thr_arg){db, t, PER, 0};
    pthread_create(&th[t], NULL, appender, &args[t]);
  }
  async_ctx c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
  for (int i = 0; i < ASYNC; i++) {
    char payload[32];
    snprintf(payload, sizeof payload, "{\"i\":%d}", i);
    as_event_in e;
    ev_init(&e, "async", "x", payload);
    e.expected_version = (uint64_t)i; /* fails if two were reordered */
    as_err rc;
    while ((rc = as_append_async(db, &e, 1, on_done, &c, NULL)) == AS_EAGAIN)
      sched_yield(); /* queue full */
    CHECK_OK(rc);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(th[t], NULL);
    CHECK_EQ_INT(args[t].failures, 0);
  }
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 30;
  pthread_mutex_lock(&c.mu);
  while (c.done < ASYNC && pthread_cond_timedwait(&c.cv, &c.mu, &dl) == 0) {
  }
  pthread_mutex_unlock(&c.mu);
  CHECK_EQ_INT(c.done, ASYNC);
  CHECK_EQ_INT(c.ok, ASYNC);
  CHECK_EQ_INT(as_db_committed_position(db), (uint64_t)THREADS * PER + ASYNC);
  check_entities(db, THREADS, PER);
  check_entity(db, "async", ASYNC);
}

/* A store in `dir` (made here) in interval mode, fdatasync every `ms`. */
static as_db *open_interval(char *dir, size_t cap, uint32_t ms) {
  if (!make_tmpdir(dir, cap)) return NULL;
  as_options o;
  as_options_init(&o);
  o.durability = AS_DURABILITY_INTERVAL;
  o.sync_interval_ms = ms;
  as_db *db;
  return as_db_open(dir, &o, &db, NULL) == AS_OK ? db : NULL;
}

/* A commit listener runs inside the cycle, while its leader holds the role.
 * Here it holds the cycle open (a test may block where a real listener must
 * not) until another thread has submitted an asynchronous append, which is
 * therefore queued behind a busy role: the fast path's release must see it
 * and lead it — nothing else would, as the writer thread is not told while
 * the role is held. */
typedef struct listener_ctx {
  as_db *db;
  async_ctx *c;
  _Atomic int fired, submitted;
} listener_ctx;

static void hold_cycle(void *arg, uint64_t committed) {
  listener_ctx *l = arg;
  (void)committed;
  if (atomic_exchange(&l->fired, 1)) return;
  for (int i = 0; i < 10000 && !atomic_load(&l->submitted); i++) usleep(100);
}

static void *submit_when_fired(void *arg) {
  listener_ctx *l = arg;
  for (int i = 0; i < 10000 && !atomic_load(&l->fired); i++) usleep(100);
  as_event_in e;
  ev_init(&e, "queued", "x", "{}");
  CHECK_OK(as_append_async(l->db, &e, 1, on_done, l->c, NULL));
  atomic_store(&l->submitted, 1);
  return NULL;
}

AS_TEST(threads_fast_path_release_leads_what_queued_meanwhile) {
  for (int mode = 0; mode < 2; mode++) {
    char dir[256] = "";
    as_db *db = mode == 0 ? open_mem() : open_interval(dir, sizeof dir, 1000);
    REQUIRE(db);
    async_ctx c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    listener_ctx l = {db, &c, 0, 0};
    CHECK_OK(as_db_on_commit(db, hold_cycle, &l));
    pthread_t th;
    pthread_create(&th, NULL, submit_when_fired, &l);
    CHECK_OK(put(db, "direct", "x", "{}", NULL)); /* role free: fast path */
    pthread_join(th, NULL);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&c.mu);
    while (c.done < 1 && pthread_cond_timedwait(&c.cv, &c.mu, &dl) == 0) {
    }
    pthread_mutex_unlock(&c.mu);
    CHECK_EQ_INT(c.ok, 1);
    CHECK_EQ_INT(c.last_pos, 2);
    as_db_off_commit(db, hold_cycle, &l);
    as_db_close(db);
    if (dir[0]) remove_tree(dir);
  }
}

AS_TEST(threads_fast_path_with_async_appends) {
  as_db *db = open_mem();
  REQUIRE(db);
  fast_path_with_async(db);
  as_db_close(db);

  char dir[256];
  db = open_interval(dir, sizeof dir, 2);
  REQUIRE(db);
  fast_path_with_async(db);
  as_db_close(db);
  REQUIRE(as_db_open(dir, NULL, &db, NULL) == AS_OK); /* recovers all */
  CHECK_EQ_INT(as_db_committed_position(db), 3 * 400 + 1200);
  as_db_close(db);
  remove_tree(dir);
}

AS_TEST(interval_mode_syncs_in_background) {
  char dir[256];
  as_db *db = open_interval(dir, sizeof dir, 5);
  REQUIRE(db);
  for (int i = 0; i < 50; i++) CHECK_OK(put(db, "i", "x", "{}", NULL));
  usleep(50000);
  as_stats st;
  as_db_stats(db, &st);
  CHECK(st.syncs_total >= 1);
  CHECK_OK(as_db_sync(db));
  as_db_close(db);
  REQUIRE(as_db_open(dir, NULL, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 50);
  as_db_close(db);
  remove_tree(dir);
}

static as_err no_secrets(void *ctx, const as_event_in *ev, uint32_t index, as_error *err) {
  (*(int *)ctx)++;
  if (ev->payload_len >= 8 && memmem(ev->payload, ev->payload_len, "secret", 6)) {
    err->code = AS_EINVAL;
    err->index = index;
    snprintf(err->field, sizeof err->field, "payload");
    snprintf(err->message, sizeof err->message, "no secrets");
    return AS_EINVAL;
  }
  return AS_OK;
}

/* Appends one event whose entity id or type is `s` (len bytes). */
static as_err put_raw(as_db *db, bool as_type, const char *s, size_t len) {
  as_event_in e;
  ev_init(&e, "e", "t", "{}");
  if (as_type) {
    e.event_type = s;
    e.event_type_len = len;
  } else {
    e.entity_id = s;
    e.entity_id_len = len;
  }
  return as_append(db, &e, 1, NULL, NULL);
}

/* Every ASCII byte at every position of ids of 1-20 bytes (words of 8
 * bytes and their tails are checked differently), after an ASCII or a
 * multi-byte prefix: an entity id is refused for a control character or a
 * leading/trailing space; a type for a control character, a space or '*'.
 * Same for the C1 controls (U+0080..U+009F, two bytes). */
AS_TEST(ids_checked_for_bad_characters_at_every_position) {
  as_db *db = open_mem();
  REQUIRE(db);
  static const char *prefixes[] = {"", "\xc3\xa9"}; /* "", "é" */
  int wrong = 0;
  for (int pf = 0; pf < 2; pf++) {
    size_t pl = strlen(prefixes[pf]);
    for (size_t len = 1; len <= 20; len++) {
      for (size_t at = 0; at < len; at++) {
        for (int b = 0; b < 0x80; b++) {
          char s[32];
          memcpy(s, prefixes[pf], pl);
          memset(s + pl, 'a', len);
          s[pl + at] = (char)b;
          bool control = b < 0x20 || b == 0x7f;
          bool edge = pl + at == 0 || at == len - 1;
          bool ent_bad = control || (b == ' ' && edge);
          bool type_bad = control || b == ' ' || b == '*';
          wrong += (put_raw(db, false, s, pl + len) != AS_OK) != ent_bad;
          wrong += (put_raw(db, true, s, pl + len) != AS_OK) != type_bad;
        }
        char s[32];
        memcpy(s, prefixes[pf], pl);
        memset(s + pl, 'a', len + 1);
        memcpy(s + pl + at, "\xc2\x85", 2); /* U+0085 */
        wrong += put_raw(db, false, s, pl + len + 1) == AS_OK;
        wrong += put_raw(db, true, s, pl + len + 1) == AS_OK;
        memcpy(s + pl + at, "\xc2\xa0", 2); /* U+00A0: allowed */
        wrong += put_raw(db, false, s, pl + len + 1) != AS_OK;
        wrong += put_raw(db, true, s, pl + len + 1) != AS_OK;
      }
    }
  }
  CHECK_EQ_INT(wrong, 0);
  as_db_close(db);
}

AS_TEST(validator_hook_rejects_whole_batches) {
  as_db *db = open_mem();
  REQUIRE(db);
  int calls = 0;
  as_db_set_validator(db, no_secrets, &calls);
  as_event_in e[2];
  ev_init(&e[0], "a", "t", "{\"ok\":1}");
  ev_init(&e[1], "a", "t", "{\"secret\":1}");
  as_error err;
  CHECK_EQ_INT(as_append(db, e, 2, NULL, &err), AS_EINVAL);
  CHECK_EQ_INT(err.index, 1);
  CHECK_EQ_STR(err.message, "no secrets");
  CHECK_EQ_INT(as_db_committed_position(db), 0);
  CHECK_OK(as_append(db, e, 1, NULL, NULL));
  CHECK_EQ_INT(calls, 3);
  as_db_set_validator(db, NULL, NULL);
  CHECK_OK(as_append(db, e, 2, NULL, NULL));
  CHECK(as_db_meta(db) == NULL); /* memory-only: no meta store */
  as_db_close(db);
}

AS_TEST_MAIN()
