/* test_snappy.c — Snappy round trips, known streams, malformed input. */
#include "as_test.h"
#include "core/as_common.h"
#include "core/as_rand.h"
#include "core/as_snappy.h"

static void round_trip(const uint8_t *src, size_t n, size_t *clen_out) {
  size_t cap = as_snappy_max_compressed_length(n);
  uint8_t *c = as_malloc(cap), *d = as_malloc(n + 1);
  size_t clen = 0, ulen = 0;
  CHECK_OK(as_snappy_compress(src, n, c, cap, &clen));
  CHECK(clen <= cap);
  CHECK_OK(as_snappy_uncompressed_length(c, clen, &ulen));
  CHECK_EQ_INT(ulen, n);
  CHECK_OK(as_snappy_decompress(c, clen, d, n));
  CHECK(n == 0 || memcmp(src, d, n) == 0);
  if (clen_out) *clen_out = clen;
  as_free(c);
  as_free(d);
}

AS_TEST(snappy_round_trips) {
  as_rand r;
  as_rand_seed_u64(&r, 7);
  size_t sizes[] = {0, 1, 3, 14, 15, 16, 100, 4096, 65535, 65536, 65537, 200003};
  uint8_t *buf = as_malloc(200003);
  for (size_t k = 0; k < AS_ARRAY_LEN(sizes); k++) {
    size_t n = sizes[k];
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)as_rand_next(&r); /* random */
    round_trip(buf, n, NULL);
    for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)("abcab"[i % 5]); /* periodic */
    size_t clen;
    round_trip(buf, n, &clen);
    if (n >= 4096) CHECK(clen < n / 10);
    for (size_t i = 0; i < n; i++) /* text-like, mixed */
      buf[i] = (as_rand_below(&r, 4) == 0) ? (uint8_t)('a' + as_rand_below(&r, 26)) : (uint8_t)"{\"index\":1,\"data\":\"payload\"}"[i % 28];
    round_trip(buf, n, NULL);
    memset(buf, 0, n); /* long runs: copies with overlap */
    round_trip(buf, n, &clen);
  }
  as_free(buf);
}

AS_TEST(snappy_decodes_known_stream) {
  /* "abcabcabcabcX": literal "abc" then copy1(offset 3, len 9) then "X". */
  const uint8_t s[] = {13, 0x08, 'a', 'b', 'c', 0x01 | ((9 - 4) << 2), 3, 0x00, 'X'};
  char out[13];
  CHECK_OK(as_snappy_decompress(s, sizeof s, out, sizeof out));
  CHECK(memcmp(out, "abcabcabcabcX", 13) == 0);
  /* Same with a 2-byte and a 4-byte offset copy. */
  const uint8_t s2[] = {13, 0x08, 'a', 'b', 'c', 0x02 | ((9 - 1) << 2), 3, 0, 0x00, 'X'};
  CHECK_OK(as_snappy_decompress(s2, sizeof s2, out, sizeof out));
  CHECK(memcmp(out, "abcabcabcabcX", 13) == 0);
  const uint8_t s3[] = {13, 0x08, 'a', 'b', 'c', 0x03 | ((9 - 1) << 2), 3, 0, 0, 0, 0x00, 'X'};
  CHECK_OK(as_snappy_decompress(s3, sizeof s3, out, sizeof out));
  CHECK(memcmp(out, "abcabcabcabcX", 13) == 0);
  /* A literal with a 1-byte extended length (61 bytes). */
  uint8_t s4[2 + 1 + 61];
  s4[0] = 61;
  s4[1] = 60 << 2;
  s4[2] = 60;
  memset(s4 + 3, 'z', 61);
  char out4[61];
  CHECK_OK(as_snappy_decompress(s4, sizeof s4, out4, sizeof out4));
  CHECK(out4[0] == 'z' && out4[60] == 'z');
}

AS_TEST(snappy_rejects_malformed) {
  char out[64];
  /* Declared length differs from the caller's. */
  const uint8_t a[] = {3, 0x08, 'a', 'b', 'c'};
  CHECK_EQ_INT(as_snappy_decompress(a, sizeof a, out, 4), AS_ECORRUPT);
  /* Literal longer than the input. */
  const uint8_t b[] = {5, 0x10, 'a', 'b'};
  CHECK_EQ_INT(as_snappy_decompress(b, sizeof b, out, 5), AS_ECORRUPT);
  /* Copy before the start of the output. */
  const uint8_t c[] = {8, 0x00, 'a', 0x01 | (3 << 2), 2};
  CHECK_EQ_INT(as_snappy_decompress(c, sizeof c, out, 8), AS_ECORRUPT);
  /* Zero offset. */
  const uint8_t d[] = {5, 0x00, 'a', 0x01, 0};
  CHECK_EQ_INT(as_snappy_decompress(d, sizeof d, out, 5), AS_ECORRUPT);
  /* Output overrun by a copy. */
  const uint8_t e[] = {4, 0x00, 'a', 0x02 | (20 << 2), 1, 0};
  CHECK_EQ_INT(as_snappy_decompress(e, sizeof e, out, 4), AS_ECORRUPT);
  /* Missing output (stream ends early). */
  const uint8_t f[] = {6, 0x08, 'a', 'b', 'c'};
  CHECK_EQ_INT(as_snappy_decompress(f, sizeof f, out, 6), AS_ECORRUPT);
  /* Truncated copy tags. */
  const uint8_t g[] = {6, 0x08, 'a', 'b', 'c', 0x03, 1, 0};
  CHECK_EQ_INT(as_snappy_decompress(g, sizeof g, out, 6), AS_ECORRUPT);
  /* Overlong / truncated length varint. */
  const uint8_t h[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  size_t len;
  CHECK_EQ_INT(as_snappy_uncompressed_length(h, sizeof h, &len), AS_ECORRUPT);
  CHECK_EQ_INT(as_snappy_uncompressed_length(h, 2, &len), AS_ECORRUPT);
  CHECK_EQ_INT(as_snappy_decompress(NULL, 0, out, 0), AS_ECORRUPT);
  /* Too-small output buffer for compression is refused. */
  size_t cl;
  CHECK_EQ_INT(as_snappy_compress("abc", 3, out, 3, &cl), AS_EINVAL);
}

AS_TEST(snappy_random_streams_are_safe) {
  as_rand r;
  as_rand_seed_u64(&r, 99);
  uint8_t in[48], out[256];
  int ok = 0;
  for (int iter = 0; iter < 50000; iter++) {
    size_t n = (size_t)as_rand_below(&r, sizeof in);
    for (size_t i = 0; i < n; i++) in[i] = (uint8_t)as_rand_next(&r);
    if (n) in[0] = (uint8_t)as_rand_below(&r, 200);
    size_t len;
    if (as_snappy_uncompressed_length(in, n, &len) != AS_OK || len > sizeof out) continue;
    as_err rc = as_snappy_decompress(in, n, out, len);
    CHECK(rc == AS_OK || rc == AS_ECORRUPT);
    ok += rc == AS_OK;
  }
  CHECK(ok > 0);
}

AS_TEST_MAIN()
