/* test_core.c — time, UUID, CRC-32C, hashing, buffers, errors, allocator. */
#include "as_test.h"
#include "core/as_buf.h"
#include "core/as_crc32c.h"
#include "core/as_hash.h"
#include "core/as_rand.h"
#include "core/as_sha1.h"
#include <time.h>

#include "core/as_time.h"
#include "core/as_uuid.h"

AS_TEST(time_round_trips) {
  char out[32];
  as_time_format(0, out);
  CHECK_EQ_STR(out, "1970-01-01T00:00:00.000000Z");
  as_time_format(1760976349123456LL, out);
  CHECK_EQ_STR(out, "2025-10-20T16:05:49.123456Z");
  int64_t t;
  CHECK_OK(as_time_parse(out, strlen(out), &t));
  CHECK(t == 1760976349123456LL);
  as_time_format(-1, out);
  CHECK_EQ_STR(out, "1969-12-31T23:59:59.999999Z");
}

/* as_time_format against gmtime_r + snprintf over pseudo-random instants
 * from 1970 to 9999, and the round trip through as_time_parse. */
AS_TEST(time_format_matches_gmtime) {
  uint64_t x = 0x2545F4914F6CDD1Dull;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int64_t t = (int64_t)(x % 253402300800000000ull); /* < 10000-01-01 */
    char out[32], ref[64];
    size_t n = as_time_format(t, out);
    time_t secs = (time_t)(t / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(ref, sizeof ref, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t % 1000000));
    CHECK_EQ_STR(out, ref);
    CHECK_EQ_INT(n, strlen(ref));
    int64_t back;
    CHECK_OK(as_time_parse(out, n, &back));
    CHECK(back == t);
  }
}

AS_TEST(time_parses_rfc3339_variants) {
  int64_t t;
  const char *s1 = "2025-10-20T17:05:49+01:00";
  CHECK_OK(as_time_parse(s1, strlen(s1), &t));
  CHECK(t == 1760976349000000LL);
  const char *s2 = "2025-10-20t16:05:49.123456789z";
  CHECK_OK(as_time_parse(s2, strlen(s2), &t));
  CHECK(t == 1760976349123456LL);
  const char *s3 = "2024-02-29T00:00:00Z";
  CHECK_OK(as_time_parse(s3, strlen(s3), &t));
  const char *bad[] = {"2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z",
                       "2025-10-20T24:00:00Z", "2025-10-20T16:05:49",
                       "2025-10-20T16:05:49.Z", "2025-10-20 16:05:49 UTC",
                       "2025-10-20T16:05:49+0100", "x", "",
                       "2025-10-20T16:05:49.1234567890Z",
                       "2025-10-20T16:05:49Z junk"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    CHECK_EQ_INT(as_time_parse(bad[i], strlen(bad[i]), &t), AS_EINVAL);
}

AS_TEST(uuid_round_trips) {
  uint8_t id[16], back[16];
  as_rand r;
  as_rand_seed_u64(&r, 42);
  as_uuid_v7(&r, 1760976349123456LL, id);
  CHECK_EQ_INT(id[6] >> 4, 7);
  CHECK_EQ_INT(id[8] >> 6, 2);
  char s[37];
  as_uuid_format(id, s);
  CHECK_EQ_INT(strlen(s), 36);
  CHECK_OK(as_uuid_parse(s, 36, back));
  CHECK(memcmp(id, back, 16) == 0);
  CHECK_OK(as_uuid_parse("5B0C8F2E3A514D7E9C1A0F6A2D9B7E11", 32, back));
  as_uuid_format(back, s);
  CHECK_EQ_STR(s, "5b0c8f2e-3a51-4d7e-9c1a-0f6a2d9b7e11");
  CHECK_EQ_INT(as_uuid_parse("5b0c8f2e-3a51-4d7e-9c1a-0f6a2d9b7e1", 35, back),
               AS_EINVAL);
  CHECK_EQ_INT(as_uuid_parse("5b0c8f2e+3a51-4d7e-9c1a-0f6a2d9b7e11", 36, back),
               AS_EINVAL);
}

AS_TEST(uuid_v7_carries_a_sequence_number) {
  as_rand r;
  as_rand_seed_u64(&r, 7);
  uint8_t a[16], b[16];
  static const uint64_t seqs[] = {1, 2, 255, 256, 0x123456789abcULL, AS_UUID_SEQ_MAX};
  for (size_t i = 0; i < sizeof seqs / sizeof *seqs; i++) {
    as_uuid_v7_seq(&r, 1760976349123456LL, seqs[i], a);
    CHECK_EQ_INT(a[6] >> 4, 7);
    CHECK_EQ_INT(a[8] >> 6, 2);
    CHECK_EQ_INT(as_uuid_v7_seq_of(a), seqs[i]);
    /* the time prefix is the plain v7 one */
    as_uuid_v7(&r, 1760976349123456LL, b);
    CHECK(memcmp(a, b, 6) == 0);
  }
  /* ids sort by time, then by sequence number, whatever their random bits */
  for (uint64_t q = 1; q < 5000; q += 7) {
    as_uuid_v7_seq(&r, 1760976349123456LL, q, a);
    as_uuid_v7_seq(&r, 1760976349123456LL, q + 1, b);
    CHECK(memcmp(a, b, 16) < 0);
    as_uuid_v7_seq(&r, 1760976349124456LL, 1, b); /* the next millisecond */
    CHECK(memcmp(a, b, 16) < 0);
  }
  as_uuid_v7_seq(&r, 1760976349123456LL, AS_UUID_SEQ_MAX - 1, a);
  as_uuid_v7_seq(&r, 1760976349123456LL, AS_UUID_SEQ_MAX, b);
  CHECK(memcmp(a, b, 16) < 0);
  /* two ids for one sequence number and millisecond differ in the random bits */
  as_uuid_v7_seq(&r, 1760976349123456LL, 9, a);
  as_uuid_v7_seq(&r, 1760976349123456LL, 9, b);
  CHECK(memcmp(a, b, 16) != 0);
  /* ids of other versions or variants carry none */
  a[6] = (uint8_t)(0x40 | (a[6] & 0x0f));
  CHECK_EQ_INT(as_uuid_v7_seq_of(a), 0);
  as_uuid_v7_seq(&r, 1760976349123456LL, 9, a);
  a[8] = (uint8_t)(0xc0 | (a[8] & 0x3f));
  CHECK_EQ_INT(as_uuid_v7_seq_of(a), 0);
}

AS_TEST(crc32c_known_vector) {
  CHECK(as_crc32c(0, "123456789", 9) == 0xe3069283u);
  /* incremental == one-shot, across alignments */
  char buf[100];
  for (int i = 0; i < 100; i++) buf[i] = (char)(i * 7);
  uint32_t whole = as_crc32c(0, buf, 100);
  for (int cut = 0; cut <= 100; cut += 13)
    CHECK(as_crc32c(as_crc32c(0, buf, (size_t)cut), buf + cut,
                    (size_t)(100 - cut)) == whole);
}

AS_TEST(hash_depends_on_key_and_data) {
  as_hash_key k1 = {1, 2}, k2 = {1, 3};
  CHECK(as_hash(&k1, "abc", 3) == as_hash(&k1, "abc", 3));
  CHECK(as_hash(&k1, "abc", 3) != as_hash(&k2, "abc", 3));
  CHECK(as_hash(&k1, "abc", 3) != as_hash(&k1, "abd", 3));
  /* every length of a prefix hashes differently (all code paths: 0, 1-3,
   * 4-16, and the 16-byte blocks beyond) */
  uint64_t seen[40];
  const char *text = "0123456789abcdefghijklmnopqrstuvwxyzABCD";
  for (int n = 0; n < 40; n++) {
    seen[n] = as_hash(&k1, text, (size_t)n);
    for (int m = 0; m < n; m++) CHECK(seen[m] != seen[n]);
  }
  /* one flipped bit anywhere changes the hash, for long keys too */
  char buf[64];
  memcpy(buf, text, 40);
  uint64_t h0 = as_hash(&k1, buf, 40);
  for (int i = 0; i < 40 * 8; i++) {
    buf[i / 8] ^= (char)(1 << (i % 8));
    CHECK(as_hash(&k1, buf, 40) != h0);
    buf[i / 8] ^= (char)(1 << (i % 8));
  }
  /* low bits (the table index) are well spread over sequential keys */
  int buckets[64] = {0};
  for (int i = 0; i < 64000; i++) {
    char k[16];
    int n = snprintf(k, sizeof k, "entity-%d", i);
    buckets[as_hash(&k1, k, (size_t)n) & 63]++;
  }
  for (int b = 0; b < 64; b++) CHECK(buckets[b] > 800 && buckets[b] < 1200);
}

AS_TEST(buffer_limits_are_sticky) {
  as_buf b;
  as_buf_init(&b, 8);
  CHECK_OK(as_buf_puts(&b, "1234"));
  CHECK_OK(as_buf_put_u64(&b, 5678));
  CHECK_EQ_STR(b.data, "12345678");
  CHECK_EQ_INT(as_buf_putc(&b, 'x'), AS_ELIMIT);
  CHECK_EQ_INT(as_buf_puts(&b, ""), AS_ELIMIT);
  CHECK_EQ_INT(as_buf_error(&b), AS_ELIMIT);
  as_buf_reset(&b);
  CHECK_OK(as_buf_put_i64(&b, -42));
  CHECK_EQ_STR(b.data, "-42");
  size_t n;
  char *s = as_buf_detach(&b, &n);
  CHECK_EQ_STR(s, "-42");
  CHECK_EQ_INT(n, 3);
  as_free(s);
  as_buf_init(&b, 0);
  for (int i = 0; i < 1000; i++) as_buf_printf(&b, "%04d", i);
  CHECK_EQ_INT(b.len, 4000);
  as_buf_free(&b);
}

AS_TEST(errors_have_names_and_texts) {
  CHECK_EQ_STR(as_errname(AS_ECONFLICT), "AS_ECONFLICT");
  CHECK_EQ_STR(as_strerror(AS_ENOMEM), "out of memory");
  CHECK_EQ_STR(as_errname((as_err)-4242), "AS_EUNKNOWN");
}

AS_TEST(allocator_counts_and_injects) {
  uint64_t before = as__alloc_live_bytes();
  void *p = as_malloc(100);
  CHECK(as__alloc_live_bytes() == before + 100);
  p = as_realloc(p, 50);
  CHECK(as__alloc_live_bytes() == before + 50);
  as_free(p);
  CHECK(as__alloc_live_bytes() == before);
  as__alloc_fail_after(2);
  void *a = as_malloc(1);
  void *b = as_malloc(1);
  void *c = as_malloc(1);
  CHECK(a != NULL);
  CHECK(b == NULL);
  CHECK(c != NULL);
  CHECK(as__alloc_injected_failures() == 1);
  as_free(a);
  as_free(c);
}

AS_TEST(sha1_and_base64_known_vectors) {
  uint8_t h[20];
  char b64[64];
  as_sha1("abc", 3, h);
  static const uint8_t abc[20] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
                                  0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
  CHECK(memcmp(h, abc, 20) == 0);
  /* RFC 6455 section 1.3 handshake example */
  const char *key = "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  as_sha1(key, strlen(key), h);
  as_base64(h, 20, b64);
  CHECK_EQ_STR(b64, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  /* 56..63-byte tails take two final blocks */
  char msg[200];
  memset(msg, 'a', sizeof msg);
  as_sha1(msg, 60, h);
  as_base64(h, 20, b64);
  CHECK_EQ_STR(b64, "E9lWAz2a9Em/4sTveMF8IEacS/E="); /* python3 hashlib */
  as_base64((const uint8_t *)"ab", 2, b64);
  CHECK_EQ_STR(b64, "YWI=");
}

static int64_t ts(const char *s) {
  int64_t t = 0;
  as_time_parse(s, strlen(s), &t);
  return t;
}

AS_TEST(calendar_windows) {
  int64_t t = ts("2024-02-29T13:45:12.5Z"); /* a Thursday */
  CHECK(as_time_trunc(t, AS_WIN_MINUTE) == ts("2024-02-29T13:45:00Z"));
  CHECK(as_time_trunc(t, AS_WIN_HOUR) == ts("2024-02-29T13:00:00Z"));
  CHECK(as_time_trunc(t, AS_WIN_DAY) == ts("2024-02-29T00:00:00Z"));
  CHECK(as_time_trunc(t, AS_WIN_WEEK) == ts("2024-02-26T00:00:00Z"));
  CHECK(as_time_trunc(t, AS_WIN_MONTH) == ts("2024-02-01T00:00:00Z"));
  CHECK(as_time_next(ts("2024-01-01T00:00:00Z"), AS_WIN_MONTH) == ts("2024-02-01T00:00:00Z"));
  CHECK(as_time_next(ts("2024-02-01T00:00:00Z"), AS_WIN_MONTH) == ts("2024-03-01T00:00:00Z"));
  CHECK(as_time_next(ts("2024-12-01T00:00:00Z"), AS_WIN_MONTH) == ts("2025-01-01T00:00:00Z"));
  CHECK(as_time_trunc(ts("1969-12-31T23:59:59Z"), AS_WIN_WEEK) == ts("1969-12-29T00:00:00Z"));
  CHECK(as_time_trunc(ts("2025-10-20T00:00:00Z"), AS_WIN_WEEK) == ts("2025-10-20T00:00:00Z"));
  CHECK_EQ_INT(as_window_parse("week"), AS_WIN_WEEK);
  CHECK_EQ_INT(as_window_parse("fortnight"), -1);
}

AS_TEST_MAIN()
