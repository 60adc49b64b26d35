/* test_thrift.c — Thrift compact protocol: round trips, skipping, limits and
 * malformed input. */
#include "as_test.h"
#include "storage/as_thrift.h"

/* Encodes a struct exercising every type, including field-id jumps that
 * need the long header form, negative ids, long lists and nested structs. */
static void encode_sample(as_buf *b) {
  as_th_wr w;
  as_th_wr_init(&w, b);
  as_th_w_field_i32(&w, 1, -123456);
  as_th_w_field_i64(&w, 2, INT64_MIN);
  as_th_w_bool_field(&w, 3, true);
  as_th_w_bool_field(&w, 4, false);
  as_th_w_field_string(&w, 5, "hello");
  as_th_w_field(&w, AS_TH_DOUBLE, 40); /* jump of 35: long form */
  as_th_w_double(&w, 3.25);
  as_th_w_field(&w, AS_TH_LIST, 41);
  as_th_w_list_begin(&w, AS_TH_I64, 20); /* >= 15: long list header */
  for (int i = 0; i < 20; i++) as_th_w_i64(&w, (int64_t)i * -1000000007LL);
  as_th_w_field(&w, AS_TH_STRUCT, 42);
  as_th_w_struct_begin(&w);
  as_th_w_field_i32(&w, 1, 7);
  as_th_w_field(&w, AS_TH_LIST, 2);
  as_th_w_list_begin(&w, AS_TH_TRUE, 3);
  as_th_w_bool_elem(&w, true);
  as_th_w_bool_elem(&w, false);
  as_th_w_bool_elem(&w, true);
  as_th_w_struct_end(&w);
  as_th_w_field(&w, AS_TH_BYTE, 43);
  as_th_w_byte(&w, -5);
  as_th_w_field(&w, AS_TH_I16, 30); /* going backwards: long form */
  as_th_w_i16(&w, -300);
  as_th_w_field_i32(&w, 100, INT32_MAX);
  as_th_w_struct_end(&w);
}

AS_TEST(thrift_round_trip_every_type) {
  as_buf b;
  as_buf_init(&b, 0);
  encode_sample(&b);
  REQUIRE(as_buf_error(&b) == AS_OK);
  as_th_rd r;
  as_th_rd_init(&r, b.data, b.len);
  CHECK_OK(as_th_struct_begin(&r));
  int t, seen = 0;
  int16_t id;
  as_err rc;
  while ((rc = as_th_field(&r, &t, &id)) == AS_OK) {
    seen++;
    switch (id) {
    case 1: { int32_t v; CHECK_EQ_INT(t, AS_TH_I32); CHECK_OK(as_th_read_i32(&r, &v)); CHECK_EQ_INT(v, -123456); break; }
    case 2: { int64_t v; CHECK_OK(as_th_read_i64(&r, &v)); CHECK(v == INT64_MIN); break; }
    case 3: { bool v = false; CHECK_OK(as_th_read_bool(&r, &v)); CHECK(v); break; }
    case 4: { bool v = true; CHECK_OK(as_th_read_bool(&r, &v)); CHECK(!v); break; }
    case 5: { const uint8_t *p; uint32_t n; CHECK_OK(as_th_read_binary(&r, &p, &n)); CHECK(n == 5 && memcmp(p, "hello", 5) == 0); break; }
    case 40: { double d; CHECK_OK(as_th_read_double(&r, &d)); CHECK(d == 3.25); break; }
    case 41: {
      int et; uint32_t n;
      CHECK_OK(as_th_list_begin(&r, &et, &n));
      CHECK_EQ_INT(et, AS_TH_I64); CHECK_EQ_INT(n, 20);
      for (uint32_t i = 0; i < n; i++) { int64_t v; CHECK_OK(as_th_read_i64(&r, &v)); CHECK(v == (int64_t)i * -1000000007LL); }
      break;
    }
    case 42: {
      CHECK_OK(as_th_struct_begin(&r));
      int t2; int16_t id2;
      CHECK_OK(as_th_field(&r, &t2, &id2)); CHECK_EQ_INT(id2, 1);
      int32_t v; CHECK_OK(as_th_read_i32(&r, &v)); CHECK_EQ_INT(v, 7);
      CHECK_OK(as_th_field(&r, &t2, &id2)); CHECK_EQ_INT(id2, 2);
      int et; uint32_t n; CHECK_OK(as_th_list_begin(&r, &et, &n)); CHECK_EQ_INT(n, 3);
      bool bv[3]; for (int i = 0; i < 3; i++) CHECK_OK(as_th_read_bool(&r, &bv[i]));
      CHECK(bv[0] && !bv[1] && bv[2]);
      CHECK_EQ_INT(as_th_field(&r, &t2, &id2), AS_DONE);
      CHECK_OK(as_th_struct_end(&r));
      break;
    }
    case 43: { int8_t v; CHECK_OK(as_th_read_byte(&r, &v)); CHECK_EQ_INT(v, -5); break; }
    case 30: { int16_t v; CHECK_OK(as_th_read_i16(&r, &v)); CHECK_EQ_INT(v, -300); break; }
    case 100: { int32_t v; CHECK_OK(as_th_read_i32(&r, &v)); CHECK_EQ_INT(v, INT32_MAX); break; }
    default: CHECK(!"unexpected field");
    }
  }
  CHECK_EQ_INT(rc, AS_DONE);
  CHECK_EQ_INT(seen, 11);
  CHECK_OK(as_th_struct_end(&r));
  CHECK_EQ_INT(r.pos, b.len);
  as_buf_free(&b);
}

AS_TEST(thrift_skip_unknown_fields) {
  as_buf b;
  as_buf_init(&b, 0);
  encode_sample(&b);
  /* Skipping every field must consume exactly the whole struct. */
  as_th_rd r;
  as_th_rd_init(&r, b.data, b.len);
  CHECK_OK(as_th_struct_begin(&r));
  int t, n = 0;
  int16_t id;
  as_err rc;
  while ((rc = as_th_field(&r, &t, &id)) == AS_OK) {
    CHECK_OK(as_th_skip(&r, t));
    n++;
  }
  CHECK_EQ_INT(rc, AS_DONE);
  CHECK_EQ_INT(n, 11);
  CHECK_EQ_INT(r.pos, b.len);
  /* And as one STRUCT value. */
  as_th_rd_init(&r, b.data, b.len);
  CHECK_OK(as_th_skip(&r, AS_TH_STRUCT));
  CHECK_EQ_INT(r.pos, b.len);
  CHECK_EQ_INT(r.depth, 0);
  as_buf_free(&b);
}

AS_TEST(thrift_known_bytes) {
  /* Field 1 i32 = 1 -> 0x15 0x02; field 2 binary "ab" -> 0x18 0x02 'a' 'b';
   * field 20 (delta 18, long form) i64 = -1 -> 0x06 0x28 0x01; bool field 21
   * true -> 0x11; STOP. */
  as_buf b;
  as_buf_init(&b, 0);
  as_th_wr w;
  as_th_wr_init(&w, &b);
  as_th_w_field_i32(&w, 1, 1);
  as_th_w_field_string(&w, 2, "ab");
  as_th_w_field_i64(&w, 20, -1);
  as_th_w_bool_field(&w, 21, true);
  as_th_w_struct_end(&w);
  const uint8_t want[] = {0x15, 0x02, 0x18, 0x02, 'a', 'b', 0x06, 0x28, 0x01, 0x11, 0x00};
  CHECK_EQ_INT(b.len, sizeof want);
  CHECK(memcmp(b.data, want, sizeof want) == 0);
  as_buf_free(&b);
}

static as_err parse_all(const uint8_t *p, size_t n) {
  as_th_rd r;
  as_th_rd_init(&r, p, n);
  return as_th_skip(&r, AS_TH_STRUCT);
}

AS_TEST(thrift_rejects_malformed) {
  /* Truncated varint. */
  const uint8_t a[] = {0x15, 0x80, 0x80};
  CHECK_EQ_INT(parse_all(a, sizeof a), AS_ECORRUPT);
  /* Varint longer than 10 bytes. */
  const uint8_t b[] = {0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00};
  CHECK_EQ_INT(parse_all(b, sizeof b), AS_ECORRUPT);
  /* Binary length beyond the data. */
  const uint8_t c[] = {0x18, 0x7f, 'x', 0x00};
  CHECK_EQ_INT(parse_all(c, sizeof c), AS_ECORRUPT);
  /* List count beyond the data. */
  const uint8_t d[] = {0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
  CHECK_EQ_INT(parse_all(d, sizeof d), AS_ECORRUPT);
  /* Invalid types 13, 14, 15. */
  const uint8_t e[] = {0x1d, 0x00};
  CHECK_EQ_INT(parse_all(e, sizeof e), AS_ECORRUPT);
  const uint8_t f[] = {0x19, 0x1e, 0x00, 0x00};
  CHECK_EQ_INT(parse_all(f, sizeof f), AS_ECORRUPT);
  /* Missing STOP. */
  const uint8_t g[] = {0x15, 0x02};
  CHECK_EQ_INT(parse_all(g, sizeof g), AS_ECORRUPT);
  /* Bool element that is not 0/1/2. */
  const uint8_t h[] = {0x19, 0x11, 0x07, 0x00};
  CHECK_EQ_INT(parse_all(h, sizeof h), AS_ECORRUPT);
  /* i32 out of range (zigzag of 2^32). */
  as_th_rd r;
  const uint8_t i[] = {0x80, 0x80, 0x80, 0x80, 0x20};
  as_th_rd_init(&r, i, sizeof i);
  int32_t v;
  CHECK_EQ_INT(as_th_read_i32(&r, &v), AS_ECORRUPT);
  CHECK(r.what != NULL);
  /* Errors are sticky. */
  int64_t v64;
  CHECK_EQ_INT(as_th_read_i64(&r, &v64), AS_ECORRUPT);
  /* Empty input. */
  CHECK_EQ_INT(parse_all(NULL, 0), AS_ECORRUPT);
  /* Map count beyond the data. */
  const uint8_t m[] = {0x1b, 0xff, 0xff, 0x03, 0x55, 0x00};
  CHECK_EQ_INT(parse_all(m, sizeof m), AS_ECORRUPT);
}

AS_TEST(thrift_depth_limit) {
  /* 100 nested structs (field 1 of type struct), then STOPs: rejected. */
  uint8_t buf[300];
  size_t n = 0;
  for (int i = 0; i < 100; i++) buf[n++] = 0x1c;
  for (int i = 0; i < 101; i++) buf[n++] = 0x00;
  CHECK_EQ_INT(parse_all(buf, n), AS_ECORRUPT);
  /* Nested lists of lists as well. */
  n = 0;
  buf[n++] = 0x19;
  for (int i = 0; i < 100; i++) buf[n++] = 0x19;
  buf[n++] = 0x00;
  CHECK_EQ_INT(parse_all(buf, n), AS_ECORRUPT);
  /* Within the limit it is fine. */
  n = 0;
  for (int i = 0; i < 20; i++) buf[n++] = 0x1c;
  for (int i = 0; i < 21; i++) buf[n++] = 0x00;
  CHECK_OK(parse_all(buf, n));
}

AS_TEST(thrift_random_bytes_never_overrun) {
  /* Random garbage must end in AS_OK or AS_ECORRUPT with pos <= len. */
  uint64_t s = 12345;
  uint8_t buf[64];
  for (int iter = 0; iter < 20000; iter++) {
    size_t n = (size_t)(s % sizeof buf);
    for (size_t i = 0; i < n; i++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      buf[i] = (uint8_t)(s >> 56);
    }
    as_th_rd r;
    as_th_rd_init(&r, buf, n);
    as_err rc = as_th_skip(&r, AS_TH_STRUCT);
    CHECK(rc == AS_OK || rc == AS_ECORRUPT);
    CHECK(r.pos <= n);
  }
}

AS_TEST_MAIN()
