/* test_json.c — the strict JSON validator and span navigation. */
#include "as_test.h"
#include "core/as_json.h"

static int valid(const char *s) {
  return as_json_validate(s, strlen(s), 64, NULL, NULL) == AS_OK;
}

AS_TEST(accepts_valid_documents) {
  const char *ok[] = {
      "{}", "[]", "0", "-0", "1.5e10", "-12.25E-3", "\"x\"", "true", "false",
      "null", " { \"a\" : [1, 2, {\"b\": null}] } ", "[\"\\u00e9\\ud83d\\ude00\"]",
      "\"caf\xc3\xa9\"", "\"\xf0\x9f\x98\x80\"", "{\"a\":{\"b\":{\"c\":[]}}}",
      "123456789012345678901234567890", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
      "\"\\u0000\""};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    if (!valid(ok[i])) fprintf(stderr, "  rejected: %s\n", ok[i]);
    CHECK(valid(ok[i]));
  }
}

AS_TEST(rejects_invalid_documents) {
  const char *bad[] = {
      "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\"}", "{a:1}", "01", "1.",
      ".5", "1e", "+1", "NaN", "Infinity", "'a'", "[1 2]", "{} x", "{}{}",
      "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"",
      "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\xff\"", "\"\xc0\xaf\"",
      "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"a\nb\"", "[1]]", "//",
      "/* c */ 1", "\xef\xbb\xbf{}", "-", "--1", "[-]", "1.0e+", "\"\xe2\x82\""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (valid(bad[i])) fprintf(stderr, "  accepted: %s\n", bad[i]);
    CHECK(!valid(bad[i]));
  }
}

AS_TEST(reports_kind_and_offset) {
  as_json_kind k;
  as_json_error e;
  CHECK_OK(as_json_validate("  [1]", 5, 8, &k, &e));
  CHECK_EQ_INT(k, AS_JSON_ARRAY);
  CHECK_OK(as_json_validate("\"s\"", 3, 8, &k, &e));
  CHECK_EQ_INT(k, AS_JSON_STRING);
  CHECK_EQ_INT(as_json_validate("{\"a\": tru}", 10, 8, &k, &e), AS_EJSON);
  CHECK_EQ_INT(e.offset, 6);
  CHECK_EQ_STR(e.msg, "invalid literal");
}

AS_TEST(enforces_depth_limit) {
  char deep[300];
  for (int i = 0; i < 100; i++) deep[i] = '[';
  for (int i = 0; i < 100; i++) deep[100 + i] = ']';
  CHECK_OK(as_json_validate(deep, 200, 100, NULL, NULL));
  as_json_error e;
  CHECK_EQ_INT(as_json_validate(deep, 200, 99, NULL, &e), AS_EJSON);
  CHECK_EQ_STR(e.msg, "nesting too deep");
  CHECK_EQ_INT(e.offset, 99);
  /* The hard cap holds even if the caller asks for more. */
  static char huge[5000];
  for (int i = 0; i < 2500; i++) huge[i] = '[';
  for (int i = 0; i < 2500; i++) huge[2500 + i] = ']';
  CHECK_EQ_INT(as_json_validate(huge, 5000, 100000, NULL, NULL), AS_EJSON);
}

AS_TEST(reports_the_deepest_nesting) {
  static const struct { const char *doc; uint32_t deepest; } cases[] = {
      {"1", 0}, {"\"[[[\"", 0}, {"[]", 1}, {"{}", 1}, {"[1,[2],3]", 2},
      {"{\"a\":[{}],\"b\":1}", 3}, {"[[[]],[[[[]]]],[]]", 5}, {" [ [ ] ] ", 2},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint32_t d = 99;
    CHECK_OK(as_json_validate_depth(cases[i].doc, strlen(cases[i].doc), 64, NULL, &d, NULL));
    CHECK_EQ_INT(d, cases[i].deepest);
  }
  uint32_t d = 7;
  CHECK_EQ_INT(as_json_validate_depth("[[1]", 4, 64, NULL, &d, NULL), AS_EJSON);
  CHECK_EQ_INT(d, 7); /* untouched on failure */
}

AS_TEST(navigates_objects_and_arrays) {
  const char *doc = " {\"a\": 1, \"b\\u0063\" : [true, \"x,}\", {\"n\": null}], \"c\": -2.5 } ";
  REQUIRE(valid(doc));
  as_json_val root = as_json_root(doc, strlen(doc));
  CHECK_EQ_INT(root.kind, AS_JSON_OBJECT);
  as_json_val v;
  REQUIRE(as_json_obj_get(root, "bc", &v));
  CHECK_EQ_INT(v.kind, AS_JSON_ARRAY);
  as_json_iter it;
  as_json_iter_init(&it, v);
  as_json_val e;
  int n = 0;
  as_json_kind kinds[3];
  while (as_json_arr_next(&it, &e)) kinds[n++ < 3 ? n - 1 : 2] = e.kind;
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_INT(kinds[0], AS_JSON_TRUE);
  CHECK_EQ_INT(kinds[1], AS_JSON_STRING);
  CHECK_EQ_INT(kinds[2], AS_JSON_OBJECT);
  REQUIRE(as_json_obj_get(root, "c", &v));
  double d;
  CHECK_OK(as_json_to_double(v, &d));
  CHECK(d == -2.5);
  CHECK(!as_json_obj_get(root, "zz", &v));
  REQUIRE(as_json_obj_get(root, "a", &v));
  uint64_t u;
  CHECK_OK(as_json_to_u64(v, &u));
  CHECK_EQ_INT(u, 1);
}

/* Open elements: each object or array is walked once by its own iterator,
 * and the array iterator resumes right after it; the same elements, in the
 * same order and with the same exact text as as_json_arr_next gives. */
static void walk_open(as_json_iter *it, as_json_val v, as_json_val *exact) {
  as_json_iter sub;
  as_json_val k, x;
  as_json_iter_init(&sub, v);
  if (v.kind == AS_JSON_OBJECT)
    while (as_json_obj_next(&sub, &k, &x)) {}
  else
    while (as_json_arr_next(&sub, &x)) {}
  size_t used = as_json_iter_used(&sub);
  exact->p = v.p;
  exact->len = used;
  as_json_iter_past(it, &v, used);
}

AS_TEST(walks_open_array_elements_once) {
  const char *docs[] = {
      "[{\"a\":1,\"p\":{\"x\":\"]}\\\"\"}}, {} ,[],[1,[2,{}]], 7,\"s}\",{\"b\":[{}]} ]",
      "[{}]", "[ [ ] ]", "[]", "[ 1 ]", "[{\"k\":\"v\"}]"};
  for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
    REQUIRE(valid(docs[d]));
    as_json_val root = as_json_root(docs[d], strlen(docs[d])), a, b;
    as_json_iter ia, ib;
    as_json_iter_init(&ia, root);
    as_json_iter_init(&ib, root);
    int n = 0;
    for (;;) {
      bool more = as_json_arr_next(&ia, &a);
      bool more_open = as_json_arr_next_open(&ib, &b);
      CHECK_EQ_INT(more_open, more);
      if (!more || !more_open) break;
      CHECK_EQ_INT(b.kind, a.kind);
      as_json_val exact = b;
      if (b.kind == AS_JSON_OBJECT || b.kind == AS_JSON_ARRAY) {
        CHECK(b.len >= a.len);
        walk_open(&ib, b, &exact);
      }
      CHECK_EQ_INT(exact.len, a.len);
      CHECK(exact.p == a.p);
      n++;
    }
    CHECK(n <= 8);
  }
  /* skip instead of walking */
  const char *doc = "[{\"a\":[1,2]},{\"b\":\"}\"},3]";
  as_json_val root = as_json_root(doc, strlen(doc)), v;
  as_json_iter it;
  as_json_iter_init(&it, root);
  int n = 0;
  while (as_json_arr_next_open(&it, &v)) {
    if (v.kind == AS_JSON_OBJECT) as_json_iter_skip(&it, &v);
    n++;
  }
  CHECK_EQ_INT(n, 3);
}

AS_TEST(decodes_strings) {
  const char *s = "\"a\\n\\u00e9\\ud83d\\ude00\\\"\"";
  as_json_val v = as_json_root(s, strlen(s));
  char out[64];
  size_t n;
  as_json_str_decode(v, out, &n);
  CHECK_EQ_INT(n, 1 + 1 + 2 + 4 + 1);
  CHECK(memcmp(out, "a\n\xc3\xa9\xf0\x9f\x98\x80\"", n) == 0);
  CHECK(as_json_str_eq(v, out, n));
}

AS_TEST(parses_integers_strictly) {
  struct { const char *s; int ok; } cases[] = {
      {"0", 1}, {"18446744073709551615", 1}, {"18446744073709551616", 0},
      {"1.0", 0}, {"1e3", 0}, {"-1", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    as_json_val v = {cases[i].s, strlen(cases[i].s), AS_JSON_NUMBER};
    uint64_t u;
    CHECK_EQ_INT(as_json_to_u64(v, &u) == AS_OK, cases[i].ok);
  }
  int64_t x;
  as_json_val neg = {"-9223372036854775808", 20, AS_JSON_NUMBER};
  CHECK_OK(as_json_to_i64(neg, &x));
  CHECK(x == INT64_MIN);
  as_json_val over = {"9223372036854775808", 19, AS_JSON_NUMBER};
  CHECK_EQ_INT(as_json_to_i64(over, &x), AS_EINVAL);
}

AS_TEST(escapes_strings_for_output) {
  as_buf b;
  as_buf_init(&b, 0);
  as_json_put_str(&b, "a\"b\\c\n\x01\xc3\xa9", 9);
  CHECK_OK(as_buf_error(&b));
  CHECK_EQ_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
  CHECK(valid(b.data));
  as_buf_free(&b);
}

AS_TEST(checks_utf8) {
  CHECK_EQ_INT(as_utf8_check("abc", 3), 3);
  CHECK_EQ_INT(as_utf8_check("ab\xff", 3), 2);
  CHECK_EQ_INT(as_utf8_check("\xe2\x82\xac", 3), 3);
  CHECK_EQ_INT(as_utf8_check("\xe2\x82", 2), 0);
}

AS_TEST_MAIN()
