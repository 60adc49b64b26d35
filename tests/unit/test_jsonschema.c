/*
 * test_jsonschema.c — the validator beyond the official suite: error
 * locations and messages, format assertion, ECMA-262 regex semantics,
 * limits (depth, steps, errors, nesting), $ref cycles, remote resolution,
 * big numbers, allocation failures and concurrent validation.
 */
#include <pthread.h>
#include <string.h>

#include "as_test.h"
#include "core/as_buf.h"
#include "services/as_jsonschema.h"

static json_t *J(const char *s) {
  json_t *v = as_jsonschema_parse(s, strlen(s), NULL);
  if (!v) fprintf(stderr, "  bad JSON in test: %s\n", s);
  return v;
}

static as_jsonschema *C(const char *schema, const as_jsonschema_opts *o) {
  json_t *j = J(schema);
  as_jsonschema *s = NULL;
  as_error err;
  if (j && as_jsonschema_compile(j, o, &s, &err) != AS_OK)
    fprintf(stderr, "  compile failed: %s\n", err.message);
  json_decref(j);
  return s;
}

/* 1 = valid, 0 = invalid, -1 = error. */
static int V(const as_jsonschema *s, const char *inst) {
  json_t *j = J(inst);
  bool ok = false;
  int r = (j && as_jsonschema_check(s, j, &ok) == AS_OK) ? ok : -1;
  json_decref(j);
  return r;
}

static const as_jsonschema_error *find_err(const as_jsonschema_result *r,
                                           const char *kpath) {
  for (size_t i = 0; i < r->n_errors; i++)
    if (strcmp(r->errors[i].keyword_path, kpath) == 0) return &r->errors[i];
  return NULL;
}

AS_TEST(error_locations_and_messages) {
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  o.base_uri = "https://schemas.example/user";
  as_jsonschema *s = C(
      "{\"type\":\"object\",\"required\":[\"email\"],"
      "\"properties\":{\"age\":{\"type\":\"integer\",\"minimum\":0},"
      "\"email\":{\"type\":\"string\"},"
      "\"name\":{\"type\":\"string\",\"minLength\":1},"
      "\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"b\"]}}},"
      "\"additionalProperties\":false}",
      &o);
  REQUIRE(s);
  json_t *i = J("{\"age\":\"x\",\"name\":\"\",\"tags\":[\"a\",\"z\"],\"extra\":1}");
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, i, &r));
  CHECK(!r.valid);
  CHECK_EQ_INT(r.n_errors, 5);
  const as_jsonschema_error *e = find_err(&r, "/properties/age/type");
  REQUIRE(e);
  CHECK_EQ_STR(e->instance_path, "/age");
  CHECK_EQ_STR(e->message, "expected integer, got string");
  CHECK_EQ_STR(e->schema_uri,
               "https://schemas.example/user#/properties/age/type");
  e = find_err(&r, "/required");
  REQUIRE(e);
  CHECK_EQ_STR(e->instance_path, "");
  CHECK_EQ_STR(e->message, "missing required property \"email\"");
  e = find_err(&r, "/properties/name/minLength");
  REQUIRE(e);
  CHECK_EQ_STR(e->instance_path, "/name");
  CHECK_EQ_STR(e->message, "string has 0 characters, fewer than the minimum 1");
  e = find_err(&r, "/properties/tags/items/enum");
  REQUIRE(e);
  CHECK_EQ_STR(e->instance_path, "/tags/1");
  CHECK_EQ_STR(e->message, "value must be one of [\"a\",\"b\"]");
  e = find_err(&r, "/additionalProperties");
  REQUIRE(e);
  CHECK_EQ_STR(e->instance_path, "/extra");
  CHECK_EQ_STR(e->message, "additional property \"extra\" is not allowed");
  as_jsonschema_result_free(&r);
  json_decref(i);
  /* A valid instance has no errors. */
  i = J("{\"email\":\"x\",\"age\":3}");
  CHECK_OK(as_jsonschema_validate(s, i, &r));
  CHECK(r.valid);
  CHECK_EQ_INT(r.n_errors, 0);
  as_jsonschema_result_free(&r);
  json_decref(i);
  as_jsonschema_free(s);
}

AS_TEST(error_paths_through_ref_and_escaping) {
  as_jsonschema *s = C(
      "{\"$defs\":{\"pos\":{\"type\":\"integer\",\"minimum\":0}},"
      "\"properties\":{\"a/b~c\":{\"$ref\":\"#/$defs/pos\"}}}",
      NULL);
  REQUIRE(s);
  json_t *i = J("{\"a/b~c\":-1}");
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, i, &r));
  REQUIRE(r.n_errors == 1);
  CHECK_EQ_STR(r.errors[0].instance_path, "/a~1b~0c");
  CHECK_EQ_STR(r.errors[0].keyword_path, "/properties/a~1b~0c/$ref/minimum");
  CHECK_EQ_STR(r.errors[0].schema_uri, "#/$defs/pos/minimum");
  CHECK_EQ_STR(r.errors[0].message, "-1 is less than the minimum 0");
  as_jsonschema_result_free(&r);
  json_decref(i);
  as_jsonschema_free(s);
}

AS_TEST(integer_type_semantics) {
  as_jsonschema *s = C("{\"type\":\"integer\"}", NULL);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "1"), 1);
  CHECK_EQ_INT(V(s, "1.0"), 1);
  CHECK_EQ_INT(V(s, "-0.0"), 1);
  CHECK_EQ_INT(V(s, "1.5"), 0);
  CHECK_EQ_INT(V(s, "\"1\""), 0);
  CHECK_EQ_INT(V(s, "1e300"), 1);
  /* Beyond int64: parsed as doubles (as_jsonschema_parse), still integers. */
  CHECK_EQ_INT(V(s, "123456789012345678901234567890"), 1);
  as_jsonschema_free(s);
  s = C("{\"maximum\":9223372036854775807}", NULL);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "9223372036854775807"), 1);
  CHECK_EQ_INT(V(s, "9223372036854775808"), 0); /* 2^63 as a double */
  CHECK_EQ_INT(V(s, "9223372036854775807.0"), 0); /* rounds to 2^63 */
  as_jsonschema_free(s);
  s = C("{\"enum\":[1, [2.0], {\"a\":3}]}", NULL);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "1.0"), 1);
  CHECK_EQ_INT(V(s, "[2]"), 1);
  CHECK_EQ_INT(V(s, "{\"a\":3.0}"), 1);
  CHECK_EQ_INT(V(s, "true"), 0);
  as_jsonschema_free(s);
}

AS_TEST(multiple_of_is_decimal) {
  struct { const char *m, *x; int want; } t[] = {
      {"0.0001", "0.0075", 1}, {"0.0001", "0.00751", 0},
      {"0.01", "19.99", 1},    {"0.1", "0.3", 1},
      {"0.123456789", "1e308", 0}, {"1e-10", "1e308", 1},
      {"3", "9007199254740993", 1}, {"2", "9223372036854775807", 0},
      {"1.5", "4.5", 1},       {"1.5", "35", 0}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "{\"multipleOf\":%s}", t[i].m);
    as_jsonschema *s = C(buf, NULL);
    REQUIRE(s);
    int got = V(s, t[i].x);
    if (got != t[i].want) {
      fprintf(stderr, "  %s multipleOf %s: got %d\n", t[i].x, t[i].m, got);
      as_test_failed_checks++;
    }
    as_jsonschema_free(s);
  }
  as_jsonschema *bad = NULL;
  json_t *j = J("{\"multipleOf\":0}");
  CHECK_EQ_INT(as_jsonschema_compile(j, NULL, &bad, NULL), AS_EINVAL);
  json_decref(j);
}

AS_TEST(string_length_counts_code_points) {
  as_jsonschema *s = C("{\"maxLength\":2,\"minLength\":2}", NULL);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "\"\\ud83d\\ude00\\ud83d\\ude00\""), 1); /* 2 emoji */
  CHECK_EQ_INT(V(s, "\"\xc3\xa9\xc3\xa9\""), 1);             /* éé */
  CHECK_EQ_INT(V(s, "\"abc\""), 0);
  CHECK_EQ_INT(V(s, "\"a\""), 0);
  as_jsonschema_free(s);
}

typedef struct re_case {
  const char *pattern, *input; /* input is a JSON string literal */
  int want;
} re_case;

AS_TEST(pattern_ecma_semantics) {
  static const re_case t[] = {
      {"^\\\\d+$", "\"123\"", 1},
      {"^\\\\d+$", "\"\\u0661\\u0662\"", 0},   /* Arabic-Indic digits */
      {"^\\\\w+$", "\"abc_1\"", 1},
      {"^\\\\w+$", "\"\\u00e9\"", 0},          /* \w is ASCII only */
      {"^abc$", "\"abc\\n\"", 0},              /* $ only at the very end */
      {"^abc$", "\"abc\"", 1},
      {"^a.c$", "\"a\\nc\"", 0},               /* . excludes line ends */
      {"^a.c$", "\"a\\u2028c\"", 0},
      {"^a.c$", "\"a\\u00e9c\"", 1},
      {"^.$", "\"\\ud83d\\ude00\"", 1},        /* one code point */
      {"^\\\\s$", "\"\\u00a0\"", 1},           /* ECMA \s is Unicode */
      {"^\\\\s$", "\"\\ufeff\"", 1},
      {"^\\\\S$", "\"\\u00a0\"", 0},
      {"^[\\\\s]$", "\"\\u3000\"", 1},
      {"^\\\\u00e9$", "\"\\u00e9\"", 1},
      {"^\\\\ud83d\\\\ude00$", "\"\\ud83d\\ude00\"", 1}, /* surrogate pair */
      {"^\\\\u{1F600}$", "\"\\ud83d\\ude00\"", 1},
      {"^[^]$", "\"\\n\"", 1},
      {"^\\\\p{Letter}+$", "\"\\u03c0x\"", 1},
      {"^\\\\p{Script=Greek}+$", "\"\\u03c0\"", 1},
      {"^\\\\p{Script=Greek}+$", "\"x\"", 0},
      {"^\\\\cJ$", "\"\\n\"", 1},
      {"\\\\bfoo\\\\b", "\"a foo b\"", 1},
      {"^\\\\/$", "\"/\"", 1},
      {"^(?<y>\\\\d{4})-\\\\k<y>$", "\"2020-2020\"", 1},
      {"^(?:a|b)+?$", "\"abab\"", 1},
      {"(?=a)a", "\"a\"", 1},
      {"^[a-c[]+$", "\"a[b\"", 1},
      {"^\\\\v$", "\"\\u000b\"", 1},
      {"^\\\\v$", "\"\\n\"", 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char buf[256];
    snprintf(buf, sizeof buf, "{\"pattern\":\"%s\"}", t[i].pattern);
    as_jsonschema *s = C(buf, NULL);
    if (!s) {
      fprintf(stderr, "  pattern %s did not compile\n", t[i].pattern);
      as_test_failed_checks++;
      continue;
    }
    int got = V(s, t[i].input);
    if (got != t[i].want) {
      fprintf(stderr, "  pattern %s on %s: got %d want %d\n", t[i].pattern,
              t[i].input, got, t[i].want);
      as_test_failed_checks++;
    }
    as_jsonschema_free(s);
  }
  /* PCRE-only syntax is rejected, as ECMA-262 would. */
  static const char *const bad[] = {"(?i)abc", "a++", "a{2}+", "\\\\Aabc",
                                    "abc\\\\Z", "(?>a)", "\\\\Qa\\\\E", "[a",
                                    "\\\\ud800", "(?#c)a"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, "{\"pattern\":\"%s\"}", bad[i]);
    json_t *j = J(buf);
    as_jsonschema *s = NULL;
    as_error err;
    as_err rc = as_jsonschema_compile(j, NULL, &s, &err);
    if (rc != AS_EINVAL || !strstr(err.message, "/pattern")) {
      fprintf(stderr, "  pattern %s: rc %d (%s)\n", bad[i], rc, err.message);
      as_test_failed_checks++;
    }
    as_jsonschema_free(s);
    json_decref(j);
  }
}

typedef struct fmt_case {
  const char *format, *value;
  int want;
} fmt_case;

AS_TEST(format_assertion) {
  static const fmt_case t[] = {
      {"date-time", "2024-02-29T12:30:00Z", 1},
      {"date-time", "2024-02-29t12:30:00.123+02:00", 1},
      {"date-time", "2023-02-29T12:30:00Z", 0},
      {"date-time", "2024-01-01 12:30:00Z", 0},
      {"date-time", "1998-12-31T23:59:60Z", 1},
      {"date-time", "1998-12-31T22:59:60Z", 0},
      {"date", "2020-12-31", 1}, {"date", "2020-13-01", 0},
      {"date", "2020-1-01", 0},
      {"time", "08:30:06.283185Z", 1}, {"time", "08:30:06", 0},
      {"time", "24:00:00Z", 0},
      {"email", "joe.bloggs@example.com", 1}, {"email", "joe..b@example.com", 0},
      {"email", "@example.com", 0}, {"email", "\"a b\"@example.com", 1},
      {"email", "joe@[127.0.0.1]", 1},
      {"hostname", "www.example.com", 1}, {"hostname", "-bad.example", 0},
      {"hostname", "a..b", 0}, {"hostname", "xn--bcher-kva.example", 1},
      {"ipv4", "192.168.0.1", 1}, {"ipv4", "256.0.0.1", 0},
      {"ipv4", "01.2.3.4", 0}, {"ipv4", "1.2.3", 0},
      {"ipv6", "::1", 1}, {"ipv6", "2001:db8::8a2e:370:7334", 1},
      {"ipv6", "::ffff:192.168.0.1", 1}, {"ipv6", "1:2:3:4:5:6:7:8:9", 0},
      {"ipv6", "1::2::3", 0}, {"ipv6", "12345::", 0},
      {"uri", "https://example.com/a?b=c#d", 1}, {"uri", "urn:isbn:0451450523", 1},
      {"uri", "//example.com/a", 0}, {"uri", "http://exa mple.com", 0},
      {"uri-reference", "../a/b?c", 1}, {"uri-reference", "#frag", 1},
      {"uri-reference", "a b", 0},
      {"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380", 1},
      {"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d1638", 0},
      {"regex", "^[a-z]+$", 1}, {"regex", "^[a-z+$", 0}, {"regex", "(?i)x", 0},
      {"json-pointer", "/a/b~0c", 1}, {"json-pointer", "a/b", 0},
      {"json-pointer", "/a~2", 0},
      {"duration", "P1Y2M3DT4H5M6S", 1}, {"duration", "P4W", 1},
      {"duration", "PT1H", 1}, {"duration", "P1Y2D", 0}, {"duration", "P", 0},
      {"duration", "PT", 0}, {"duration", "P1W2D", 0},
      {"relative-json-pointer", "1/a", 1}, {"relative-json-pointer", "0#", 1},
      {"relative-json-pointer", "01/a", 0},
  };
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char schema[128];
    snprintf(schema, sizeof schema, "{\"format\":\"%s\"}", t[i].format);
    json_t *v = json_string(t[i].value);
    REQUIRE(v);
    for (int mode = 0; mode < 2; mode++) {
      o.flags = mode ? AS_JSONSCHEMA_FORMAT_ASSERT : 0;
      as_jsonschema *s = C(schema, &o);
      REQUIRE(s);
      bool ok = false;
      CHECK_OK(as_jsonschema_check(s, v, &ok));
      int want = mode ? t[i].want : 1; /* annotation only by default */
      if ((int)ok != want) {
        fprintf(stderr, "  format %s \"%s\" (assert=%d): got %d\n",
                t[i].format, t[i].value, mode, ok);
        as_test_failed_checks++;
      }
      as_jsonschema_free(s);
    }
    json_decref(v);
  }
  /* Non-strings are not checked; the message names the format. */
  o.flags = AS_JSONSCHEMA_FORMAT_ASSERT;
  as_jsonschema *s = C("{\"format\":\"ipv4\"}", &o);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "12"), 1);
  json_t *i = J("\"1.2.3\"");
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, i, &r));
  REQUIRE(r.n_errors == 1);
  CHECK_EQ_STR(r.errors[0].message, "string is not a valid ipv4");
  CHECK_EQ_STR(r.errors[0].keyword_path, "/format");
  as_jsonschema_result_free(&r);
  json_decref(i);
  as_jsonschema_free(s);
}

static char *nested(const char *open, const char *leaf, const char *close,
                    int n) {
  as_buf b;
  as_buf_init(&b, 0);
  for (int i = 0; i < n; i++) as_buf_puts(&b, open);
  as_buf_puts(&b, leaf);
  for (int i = 0; i < n; i++) as_buf_puts(&b, close);
  return as_buf_detach(&b, NULL);
}

AS_TEST(depth_limits) {
  as_jsonschema *s = C("{\"items\":{\"$ref\":\"#\"}}", NULL);
  REQUIRE(s);
  char *deep = nested("[", "1", "]", 600);
  json_t *i = J(deep);
  REQUIRE(i);
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, i, &r));
  CHECK(!r.valid);
  CHECK(r.aborted);
  REQUIRE(r.n_errors >= 1);
  CHECK(strstr(r.errors[r.n_errors - 1].message, "evaluation depth limit (256)"));
  as_jsonschema_result_free(&r);
  bool ok = true;
  CHECK_OK(as_jsonschema_check(s, i, &ok));
  CHECK(!ok);
  as_jsonschema_free(s);
  /* A larger limit accepts the same instance. */
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  o.max_depth = 1500; /* two nodes per level: root and its items */
  s = C("{\"items\":{\"$ref\":\"#\"}}", &o);
  REQUIRE(s);
  CHECK_OK(as_jsonschema_check(s, i, &ok));
  CHECK(ok);
  as_jsonschema_free(s);
  json_decref(i);
  as_free(deep);
  /* Schemas nested deeper than AS_JSONSCHEMA_MAX_NESTING do not compile. */
  char *ds = nested("{\"not\":", "{}", "}", 400);
  json_t *j = J(ds);
  REQUIRE(j);
  as_error err;
  CHECK_EQ_INT(as_jsonschema_compile(j, NULL, &s, &err), AS_ELIMIT);
  json_decref(j);
  as_free(ds);
}

AS_TEST(ref_cycles_terminate) {
  static const char *const schemas[] = {
      "{\"$ref\":\"#\"}",
      "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},"
      "\"$ref\":\"#/$defs/a\"}",
      "{\"anyOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}",
      "{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
      "\"definitions\":{\"a\":{\"allOf\":[{\"$ref\":\"#/definitions/a\"}]}},"
      "\"$ref\":\"#/definitions/a\"}"};
  for (size_t k = 0; k < sizeof schemas / sizeof schemas[0]; k++) {
    as_jsonschema *s = C(schemas[k], NULL);
    REQUIRE(s);
    json_t *i = J("{\"a\":[1,2,3]}");
    as_jsonschema_result r;
    CHECK_OK(as_jsonschema_validate(s, i, &r));
    CHECK(!r.valid);
    CHECK(!r.aborted);
    REQUIRE(r.n_errors >= 1);
    if (k != 2) /* anyOf branches are quiet: only the summary shows */
      CHECK(strstr(r.errors[0].message, "reference cycle") != NULL);
    as_jsonschema_result_free(&r);
    json_decref(i);
    as_jsonschema_free(s);
  }
}

AS_TEST(step_limit_stops_exponential_schemas) {
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  o.max_steps = 100000;
  as_jsonschema *s = C(
      "{\"$defs\":{\"a\":{\"anyOf\":[{\"type\":\"integer\"},"
      "{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/a\"}},"
      "{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/a\"}}]}},"
      "\"$ref\":\"#/$defs/a\"}",
      &o);
  REQUIRE(s);
  char *deep = nested("[", "\"x\"", "]", 40);
  json_t *i = J(deep);
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, i, &r));
  CHECK(!r.valid);
  CHECK(r.aborted);
  REQUIRE(r.n_errors >= 1);
  CHECK(strstr(r.errors[r.n_errors - 1].message, "step limit (100000)"));
  as_jsonschema_result_free(&r);
  json_decref(i);
  as_free(deep);
  as_jsonschema_free(s);
}

AS_TEST(error_count_is_bounded) {
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  o.max_errors = 10;
  as_jsonschema *s = C("{\"items\":{\"type\":\"string\"}}", &o);
  REQUIRE(s);
  json_t *a = json_array();
  for (int k = 0; k < 300; k++) json_array_append_new(a, json_integer(k));
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, a, &r));
  CHECK(!r.valid);
  CHECK_EQ_INT(r.n_errors, 10);
  CHECK(r.truncated);
  CHECK_EQ_STR(r.errors[9].instance_path, "/9");
  as_jsonschema_result_free(&r);
  json_decref(a);
  as_jsonschema_free(s);
  /* An error whose path would be huge is dropped, not an allocation error. */
  s = C("{\"additionalProperties\":{\"type\":\"string\"}}", NULL);
  REQUIRE(s);
  char *key = malloc(70000);
  REQUIRE(key);
  memset(key, 'k', 69999);
  key[69999] = '\0';
  json_t *obj = json_object();
  json_object_set_new(obj, key, json_integer(1));
  CHECK_OK(as_jsonschema_validate(s, obj, &r));
  CHECK(!r.valid);
  CHECK(r.truncated);
  CHECK_EQ_INT(r.n_errors, 0);
  as_jsonschema_result_free(&r);
  json_decref(obj);
  free(key);
  as_jsonschema_free(s);
}

static json_t *test_resolver(void *ctx, const char *uri) {
  int *calls = ctx;
  (*calls)++;
  if (strcmp(uri, "https://registry.example/orders/address/v1") == 0)
    return J("{\"type\":\"object\",\"required\":[\"zip\"],"
             "\"properties\":{\"zip\":{\"$ref\":\"#/$defs/zip\"}},"
             "\"$defs\":{\"zip\":{\"type\":\"string\",\"pattern\":\"^[0-9]{5}$\"}}}");
  return NULL;
}

AS_TEST(remote_references) {
  int calls = 0;
  json_t *user = J("{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}");
  as_jsonschema_doc docs[1] = {{"https://registry.example/user/v1", user}};
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  o.resolve = test_resolver;
  o.resolve_ctx = &calls;
  o.docs = docs;
  o.n_docs = 1;
  o.base_uri = "https://registry.example/orders/v1";
  as_jsonschema *s = C(
      "{\"properties\":{\"user\":{\"$ref\":\"../user/v1\"},"
      "\"ship\":{\"$ref\":\"address/v1\"},"
      "\"bill\":{\"$ref\":\"https://registry.example/orders/address/v1#/$defs/zip\"}}}",
      &o);
  REQUIRE(s);
  CHECK_EQ_INT(calls, 1); /* one fetch, cached for the second $ref */
  CHECK_EQ_INT(V(s, "{\"user\":{\"name\":\"a\"},\"ship\":{\"zip\":\"12345\"},\"bill\":\"54321\"}"), 1);
  CHECK_EQ_INT(V(s, "{\"user\":{\"name\":1}}"), 0);
  CHECK_EQ_INT(V(s, "{\"ship\":{\"zip\":\"1234\"}}"), 0);
  CHECK_EQ_INT(V(s, "{\"bill\":\"x\"}"), 0);
  as_jsonschema_free(s);
  /* Unknown documents fail at compile time, naming the reference. */
  json_t *j = J("{\"$ref\":\"https://elsewhere.example/x\"}");
  as_error err;
  CHECK_EQ_INT(as_jsonschema_compile(j, &o, &s, &err), AS_EINVAL);
  CHECK(strstr(err.message, "cannot resolve reference") != NULL);
  json_decref(j);
  /* Without a resolver nothing is fetched (never the network). */
  j = J("{\"$ref\":\"https://registry.example/orders/address/v1\"}");
  CHECK_EQ_INT(as_jsonschema_compile(j, NULL, &s, &err), AS_EINVAL);
  json_decref(j);
  json_decref(user);
}

AS_TEST(drafts_and_dialects) {
  as_jsonschema *s = C("{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
                       "\"items\":[{\"type\":\"integer\"}],\"additionalItems\":false}",
                       NULL);
  REQUIRE(s);
  CHECK_EQ_INT(as_jsonschema_draft_of(s), AS_JSONSCHEMA_DRAFT_07);
  CHECK_EQ_INT(V(s, "[1]"), 1);
  CHECK_EQ_INT(V(s, "[1,2]"), 0);
  as_jsonschema_free(s);
  s = C("{\"prefixItems\":[{\"type\":\"integer\"}],\"items\":false}", NULL);
  REQUIRE(s);
  CHECK_EQ_INT(as_jsonschema_draft_of(s), AS_JSONSCHEMA_DRAFT_2020_12);
  CHECK_EQ_INT(V(s, "[1]"), 1);
  CHECK_EQ_INT(V(s, "[1,2]"), 0);
  as_jsonschema_free(s);
  /* Draft-07 ignores siblings of $ref; 2020-12 applies them. */
  s = C("{\"$schema\":\"http://json-schema.org/draft-07/schema#\","
        "\"definitions\":{\"s\":{\"type\":\"string\"}},"
        "\"$ref\":\"#/definitions/s\",\"maxLength\":1}", NULL);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "\"abc\""), 1);
  as_jsonschema_free(s);
  /* Validating a schema against the built-in meta-schema. */
  s = C("{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}", NULL);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "{\"type\":\"string\",\"minLength\":1}"), 1);
  CHECK_EQ_INT(V(s, "{\"type\":\"strin\"}"), 0);
  CHECK_EQ_INT(V(s, "{\"properties\":{\"a\":{\"minLength\":-1}}}"), 0);
  as_jsonschema_free(s);
  json_t *j = J("{\"$schema\":\"https://example.com/unknown\"}");
  as_error err;
  CHECK_EQ_INT(as_jsonschema_compile(j, NULL, &s, &err), AS_EINVAL);
  CHECK(strstr(err.message, "unknown $schema") != NULL);
  json_decref(j);
  j = J("{\"type\":\"strng\"}");
  CHECK_EQ_INT(as_jsonschema_compile(j, NULL, &s, &err), AS_EINVAL);
  CHECK(strstr(err.message, "#/type") != NULL);
  json_decref(j);
  j = J("[1]");
  CHECK_EQ_INT(as_jsonschema_compile(j, NULL, &s, &err), AS_EINVAL);
  json_decref(j);
}

AS_TEST(unevaluated_properties_across_applicators) {
  as_jsonschema *s = C(
      "{\"type\":\"object\",\"properties\":{\"kind\":{\"enum\":[\"a\",\"b\"]}},"
      "\"allOf\":[{\"if\":{\"properties\":{\"kind\":{\"const\":\"a\"}}},"
      "\"then\":{\"properties\":{\"x\":{\"type\":\"integer\"}}},"
      "\"else\":{\"properties\":{\"y\":{\"type\":\"string\"}}}}],"
      "\"unevaluatedProperties\":false}",
      NULL);
  REQUIRE(s);
  CHECK_EQ_INT(V(s, "{\"kind\":\"a\",\"x\":1}"), 1);
  CHECK_EQ_INT(V(s, "{\"kind\":\"a\",\"y\":\"s\"}"), 0);
  CHECK_EQ_INT(V(s, "{\"kind\":\"b\",\"y\":\"s\"}"), 1);
  CHECK_EQ_INT(V(s, "{\"kind\":\"b\",\"x\":1}"), 0);
  json_t *i = J("{\"kind\":\"b\",\"x\":1}");
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, i, &r));
  REQUIRE(r.n_errors == 1);
  CHECK_EQ_STR(r.errors[0].keyword_path, "/unevaluatedProperties");
  CHECK_EQ_STR(r.errors[0].instance_path, "/x");
  CHECK_EQ_STR(r.errors[0].message, "unevaluated property \"x\" is not allowed");
  as_jsonschema_result_free(&r);
  json_decref(i);
  as_jsonschema_free(s);
  /* Large objects and arrays (bitsets beyond the inline words). */
  s = C("{\"patternProperties\":{\"^p\":true},\"unevaluatedProperties\":false,"
        "\"properties\":{\"list\":{\"prefixItems\":[true],\"contains\":{\"type\":\"string\"},"
        "\"unevaluatedItems\":{\"type\":\"integer\"}}}}", NULL);
  REQUIRE(s);
  json_t *o = json_object();
  json_t *l = json_array();
  for (int k = 0; k < 500; k++) {
    char key[16];
    snprintf(key, sizeof key, "p%d", k);
    json_object_set_new(o, key, json_integer(k));
    json_array_append_new(l, k % 2 ? json_integer(k) : json_string("s"));
  }
  json_object_set_new(o, "list", l);
  bool ok = false;
  CHECK_OK(as_jsonschema_check(s, o, &ok));
  CHECK(ok);
  json_array_append_new(l, json_real(1.5));
  CHECK_OK(as_jsonschema_check(s, o, &ok));
  CHECK(!ok);
  json_object_set_new(o, "q", json_true());
  CHECK_OK(as_jsonschema_validate(s, o, &r));
  CHECK_EQ_INT(r.n_errors, 2);
  as_jsonschema_result_free(&r);
  json_decref(o);
  as_jsonschema_free(s);
}

AS_TEST(unique_items_large) {
  as_jsonschema *s = C("{\"uniqueItems\":true}", NULL);
  REQUIRE(s);
  json_t *a = json_array();
  for (int k = 0; k < 1000; k++) json_array_append_new(a, json_integer(k));
  bool ok = false;
  CHECK_OK(as_jsonschema_check(s, a, &ok));
  CHECK(ok);
  json_array_append_new(a, json_real(500.0)); /* equal to 500 */
  as_jsonschema_result r;
  CHECK_OK(as_jsonschema_validate(s, a, &r));
  REQUIRE(r.n_errors == 1);
  CHECK_EQ_STR(r.errors[0].message, "items at index 500 and 1000 are equal");
  as_jsonschema_result_free(&r);
  json_decref(a);
  as_jsonschema_free(s);
}

/* Every allocation failure during compile and validate is clean. */
AS_TEST(allocation_failures) {
  const char *schema =
      "{\"$defs\":{\"n\":{\"type\":\"integer\",\"minimum\":0}},"
      "\"properties\":{\"a\":{\"$ref\":\"#/$defs/n\"},\"b\":{\"pattern\":\"^x\"}},"
      "\"patternProperties\":{\"^z\":{\"type\":\"string\"}},"
      "\"required\":[\"a\"],\"unevaluatedProperties\":false}";
  json_t *j = J(schema);
  json_t *i = J("{\"a\":-1,\"b\":\"y\",\"zz\":1,\"c\":2}");
  REQUIRE(j && i);
  int compiled = 0, validated = 0;
  for (uint64_t n = 1; n < 400; n++) {
    as_jsonschema *s = NULL;
    as__alloc_fail_after(n);
    as_err rc = as_jsonschema_compile(j, NULL, &s, NULL);
    as__alloc_fail_after(0);
    if (rc != AS_OK) {
      CHECK(rc == AS_ENOMEM);
      CHECK(s == NULL);
      continue;
    }
    compiled++;
    for (uint64_t m = 1; m < 40; m++) {
      as_jsonschema_result r;
      as__alloc_fail_after(m);
      rc = as_jsonschema_validate(s, i, &r);
      as__alloc_fail_after(0);
      CHECK(rc == AS_OK || rc == AS_ENOMEM);
      if (rc == AS_OK) {
        CHECK(!r.valid);
        validated++;
      }
      as_jsonschema_result_free(&r);
    }
    as_jsonschema_free(s);
  }
  CHECK(compiled > 0);
  CHECK(validated > 0);
  json_decref(j);
  json_decref(i);
}

/* --- Threads ------------------------------------------------------------ */

typedef struct thr_arg {
  const as_jsonschema *s;
  json_t *good, *bad;
  int failures;
} thr_arg;

static void *thr_main(void *p) {
  thr_arg *a = p;
  for (int k = 0; k < 2000; k++) {
    bool ok = false;
    if (as_jsonschema_check(a->s, a->good, &ok) != AS_OK || !ok) a->failures++;
    as_jsonschema_result r;
    if (as_jsonschema_validate(a->s, a->bad, &r) != AS_OK || r.valid ||
        r.n_errors != 3)
      a->failures++;
    as_jsonschema_result_free(&r);
  }
  return NULL;
}

AS_TEST(concurrent_validation) {
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  o.flags = AS_JSONSCHEMA_FORMAT_ASSERT;
  as_jsonschema *s = C(
      "{\"type\":\"object\",\"properties\":{"
      "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
      "\"code\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-\\\\d+$\"},"
      "\"n\":{\"type\":\"integer\",\"maximum\":10}},"
      "\"$defs\":{\"x\":{\"$dynamicAnchor\":\"x\"}},"
      "\"unevaluatedProperties\":false}",
      &o);
  REQUIRE(s);
  json_t *good = J("{\"id\":\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\","
                   "\"code\":\"ABC-12\",\"n\":3}");
  json_t *bad = J("{\"id\":\"nope\",\"code\":\"abc\",\"n\":3,\"zz\":1}");
  thr_arg args[4];
  pthread_t th[4];
  for (int k = 0; k < 4; k++) {
    args[k] = (thr_arg){s, good, bad, 0};
    CHECK_EQ_INT(pthread_create(&th[k], NULL, thr_main, &args[k]), 0);
  }
  for (int k = 0; k < 4; k++) {
    pthread_join(th[k], NULL);
    CHECK_EQ_INT(args[k].failures, 0);
  }
  json_decref(good);
  json_decref(bad);
  as_jsonschema_free(s);
}

AS_TEST_MAIN()
