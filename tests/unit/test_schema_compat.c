/*
 * test_schema_compat.c — schema compatibility (Confluent semantics).
 *
 * A table of (old, new) schema pairs with the expected BACKWARD and
 * FORWARD verdicts; FULL must be their conjunction and NONE always passes.
 * Where given, the first issue of the failing direction must have exactly
 * the expected JSON-pointer path and contain the expected message text.
 * Transitive modes are checked separately with version histories.
 */
#include <string.h>

#include "as_test.h"
#include "core/as_buf.h"
#include "services/as_schema_compat.h"

typedef struct compat_case {
  const char *name;
  const char *old_s, *new_s;
  bool back, fwd;       /* expected verdicts */
  const char *path;     /* path of the first issue (failing direction) */
  const char *msg;      /* substring of its message */
} compat_case;

#define OBJ(p) "{\"type\":\"object\",\"properties\":" p "}"
#define D7 "\"$schema\":\"http://json-schema.org/draft-07/schema#\","

static const compat_case k_cases[] = {
    {"identical", OBJ("{\"a\":{\"type\":\"string\"}}"),
     OBJ("{\"a\":{\"type\":\"string\"}}"), true, true, NULL, NULL},
    {"add required property",
     OBJ("{\"a\":{\"type\":\"string\"}}"),
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},"
     "\"b\":{}},\"required\":[\"b\"]}",
     false, true, "/required", "property \"b\" became required"},
    {"remove required property",
     "{\"properties\":{\"a\":{}},\"required\":[\"a\"]}",
     "{\"properties\":{\"a\":{}}}", true, false, "/required", "\"a\""},
    {"number to integer", "{\"type\":\"number\"}", "{\"type\":\"integer\"}",
     false, true, "/type", "type narrowed from number to integer"},
    {"integer to number", "{\"type\":\"integer\"}", "{\"type\":\"number\"}",
     true, false, "/type", "narrowed from number to integer"},
    {"nullable string to string", "{\"type\":[\"string\",\"null\"]}",
     "{\"type\":\"string\"}", false, true, "/type",
     "type narrowed from [null, string] to string"},
    {"lower maximum", "{\"type\":\"number\",\"maximum\":100}",
     "{\"type\":\"number\",\"maximum\":50}", false, true, "/maximum",
     "maximum lowered from 100 to 50"},
    {"raise maximum", "{\"maximum\":50}", "{\"maximum\":100}", true, false,
     "/maximum", "lowered from 100 to 50"},
    {"raise minimum", "{\"minimum\":1}", "{\"minimum\":2.5}", false, true,
     "/minimum", "minimum raised from 1 to 2.5"},
    {"exclusive minimum added", "{\"type\":\"integer\"}",
     "{\"type\":\"integer\",\"exclusiveMinimum\":0}", false, true,
     "/exclusiveMinimum", "exclusiveMinimum 0 added"},
    {"maximum to same exclusive maximum", "{\"maximum\":10}",
     "{\"exclusiveMaximum\":10}", false, true, "/exclusiveMaximum", NULL},
    {"maxLength tightened", "{\"type\":\"string\",\"maxLength\":10}",
     "{\"type\":\"string\",\"maxLength\":5}", false, true, "/maxLength",
     "maxLength lowered from 10 to 5"},
    {"minLength raised", "{\"type\":\"string\"}",
     "{\"type\":\"string\",\"minLength\":3}", false, true, "/minLength",
     "minLength raised from 0 to 3"},
    {"maxItems tightened", "{\"type\":\"array\",\"maxItems\":4}",
     "{\"type\":\"array\",\"maxItems\":3}", false, true, "/maxItems", NULL},
    {"minItems raised", "{\"type\":\"array\"}",
     "{\"type\":\"array\",\"minItems\":1}", false, true, "/minItems", NULL},
    {"pattern changed", "{\"type\":\"string\",\"pattern\":\"^a\"}",
     "{\"type\":\"string\",\"pattern\":\"^b\"}", false, false, "/pattern",
     "pattern changed"},
    {"pattern added", "{\"type\":\"string\"}",
     "{\"type\":\"string\",\"pattern\":\"^a\"}", false, true, "/pattern",
     "pattern added"},
    {"pattern ignored for non-strings", "{\"type\":\"integer\"}",
     "{\"type\":\"integer\",\"pattern\":\"^a\"}", true, true, NULL, NULL},
    {"enum value removed", "{\"enum\":[\"a\",\"b\",\"c\"]}",
     "{\"enum\":[\"a\",\"b\"]}", false, true, "/enum",
     "value \"c\" is no longer allowed"},
    {"enum value added", "{\"enum\":[\"a\"]}", "{\"enum\":[\"a\",\"b\"]}",
     true, false, "/enum", NULL},
    {"enum to type", "{\"enum\":[\"a\",\"b\"]}", "{\"type\":\"string\"}", true,
     false, "/enum", "enum added"},
    {"const added", "{\"type\":\"string\"}", "{\"const\":\"x\"}", false, true,
     "/const", "const added"},
    {"additionalProperties false where open",
     OBJ("{\"a\":{\"type\":\"string\"}}"),
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     false, true, "/additionalProperties",
     "additional properties are no longer allowed"},
    {"open a closed object",
     "{\"type\":\"object\",\"additionalProperties\":false}",
     "{\"type\":\"object\"}", true, false, "/additionalProperties", NULL},
    {"typed property added to open object",
     OBJ("{\"a\":{\"type\":\"string\"}}"),
     OBJ("{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"integer\"}}"), false,
     true, "/properties/b", "added with constraints"},
    {"unconstrained property added to open object",
     OBJ("{\"a\":{\"type\":\"string\"}}"),
     OBJ("{\"a\":{\"type\":\"string\"},\"b\":{\"description\":\"x\"}}"), true,
     true, NULL, NULL},
    {"optional property added to closed object",
     "{\"properties\":{\"a\":{}},\"additionalProperties\":false}",
     "{\"properties\":{\"a\":{},\"b\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     true, false, "/properties/b", "removed while additional properties"},
    {"property removed from closed object",
     "{\"properties\":{\"a\":{},\"b\":{}},\"additionalProperties\":false}",
     "{\"properties\":{\"a\":{}},\"additionalProperties\":false}", false,
     true, "/properties/b", "property \"b\" removed"},
    {"property removed from open object",
     OBJ("{\"a\":{},\"b\":{\"type\":\"string\"}}"), OBJ("{\"a\":{}}"),
     true, false, "/properties/b", "added with constraints"},
    {"unconstrained property removed from open object",
     OBJ("{\"a\":{},\"b\":{}}"), OBJ("{\"a\":{}}"), true, true, NULL, NULL},
    {"property type changed", OBJ("{\"age\":{\"type\":\"string\"}}"),
     OBJ("{\"age\":{\"type\":\"integer\"}}"), false, false,
     "/properties/age/type", "type narrowed from string to integer"},
    {"nested property narrowed",
     OBJ("{\"addr\":" OBJ("{\"zip\":{\"type\":\"number\"}}") "}"),
     OBJ("{\"addr\":" OBJ("{\"zip\":{\"type\":\"integer\"}}") "}"), false,
     true, "/properties/addr/properties/zip/type", "number to integer"},
    {"nested required added",
     OBJ("{\"addr\":{\"type\":\"object\"}}"),
     OBJ("{\"addr\":{\"type\":\"object\",\"required\":[\"zip\"]}}"), false,
     true, "/properties/addr/required", "\"zip\""},
    {"items narrowed", "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}",
     "{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}", false, true,
     "/items/type", NULL},
    {"draft-07 tuple item added to closed tuple",
     "{" D7 "\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}",
     "{" D7 "\"items\":[{\"type\":\"string\"},{\"type\":\"integer\"}],"
     "\"additionalItems\":false}",
     true, false, "/additionalItems", "schema became false"},
    {"2020-12 prefixItems narrowed",
     "{\"prefixItems\":[{\"type\":\"number\"}]}",
     "{\"prefixItems\":[{\"type\":\"integer\"}]}", false, true,
     "/prefixItems/0/type", NULL},
    {"2020-12 items closed", "{\"prefixItems\":[{}]}",
     "{\"prefixItems\":[{}],\"items\":false}", false, true, "/items",
     "schema became false"},
    {"local $ref target narrowed",
     "{\"$defs\":{\"n\":{\"type\":\"number\"}},"
     "\"properties\":{\"a\":{\"$ref\":\"#/$defs/n\"}}}",
     "{\"$defs\":{\"n\":{\"type\":\"integer\"}},"
     "\"properties\":{\"a\":{\"$ref\":\"#/$defs/n\"}}}",
     false, true, "/properties/a/type", "number to integer"},
    {"recursive $ref unchanged",
     "{\"$defs\":{\"t\":{\"type\":\"object\",\"properties\":{\"kids\":{"
     "\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/t\"}}}}},"
     "\"$ref\":\"#/$defs/t\"}",
     "{\"$defs\":{\"t\":{\"type\":\"object\",\"properties\":{\"kids\":{"
     "\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/t\"}}}}},"
     "\"$ref\":\"#/$defs/t\"}",
     true, true, NULL, NULL},
    {"recursive $ref narrowed deep inside",
     "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"number\"},"
     "\"next\":{\"$ref\":\"#\"}}}",
     "{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
     "\"next\":{\"$ref\":\"#\"}}}",
     false, true, "/properties/v/type", NULL},
    {"remote $ref changed", "{\"$ref\":\"https://example.com/a.json\"}",
     "{\"$ref\":\"https://example.com/b.json\"}", false, false, "/$ref",
     "differs or cannot be resolved"},
    {"remote $ref unchanged", "{\"$ref\":\"https://example.com/a.json\"}",
     "{\"$ref\":\"https://example.com/a.json\"}", true, true, NULL, NULL},
    {"not added", "{\"type\":\"string\"}",
     "{\"type\":\"string\",\"not\":{\"const\":\"x\"}}", false, true, "/not",
     "cannot be proven"},
    {"not changed", "{\"not\":{\"const\":\"x\"}}",
     "{\"not\":{\"const\":\"y\"}}", false, false, "/not", NULL},
    {"unknown keyword changed", "{\"x-unit\":\"cm\"}", "{\"x-unit\":\"mm\"}",
     false, false, "/x-unit", "unknown keyword"},
    {"unknown keyword unchanged", "{\"x-unit\":\"cm\"}",
     "{\"x-unit\":\"cm\"}", true, true, NULL, NULL},
    {"anyOf widened",
     "{\"anyOf\":[{\"type\":\"string\"}]}",
     "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", true, false,
     "/anyOf", "alternative 1"},
    {"oneOf with disjoint types widened",
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}",
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"},"
     "{\"type\":\"integer\"}]}",
     true, false, "/oneOf", NULL},
    {"oneOf with overlapping alternatives changed",
     "{\"oneOf\":[{\"minimum\":1},{\"maximum\":0}]}",
     "{\"oneOf\":[{\"minimum\":1},{\"maximum\":5}]}", false, false, "/oneOf",
     "not disjoint"},
    {"multipleOf relaxed", "{\"multipleOf\":10}", "{\"multipleOf\":5}", true,
     false, "/multipleOf", "multipleOf changed from 5 to 10"},
    {"multipleOf decimal", "{\"multipleOf\":0.5}", "{\"multipleOf\":0.1}",
     true, false, "/multipleOf", NULL},
    {"true to false", "true", "false", false, true, "",
     "schema became false"},
    {"anything accepted by new", "{\"type\":\"string\",\"maxLength\":3}",
     "{}", true, false, "/type", "narrowed from any to string"},
    {"dependentRequired added", "{\"type\":\"object\"}",
     "{\"type\":\"object\",\"dependentRequired\":{\"a\":[\"b\"]}}", false,
     true, "/dependentRequired/a", "\"b\" became required when \"a\""},
    {"uniqueItems added", "{\"type\":\"array\"}",
     "{\"type\":\"array\",\"uniqueItems\":true}", false, true, "/uniqueItems",
     NULL},
    {"format added", "{\"type\":\"string\"}",
     "{\"type\":\"string\",\"format\":\"email\"}", false, true, "/format",
     "format added"},
    {"if/then added", "{}",
     "{\"if\":{\"required\":[\"a\"]},\"then\":{\"required\":[\"b\"]}}", false,
     true, "/if", NULL},
    {"allOf narrowed", "{\"allOf\":[{\"type\":\"number\"}]}",
     "{\"allOf\":[{\"type\":\"integer\"}]}", false, true, "/allOf/0/type",
     NULL},
    {"patternProperties narrowed",
     "{\"patternProperties\":{\"^x_\":{\"type\":\"number\"}}}",
     "{\"patternProperties\":{\"^x_\":{\"type\":\"integer\"}}}", false, true,
     "/patternProperties/^x_/type", NULL},
    {"draft-07 dependencies added", "{" D7 "\"type\":\"object\"}",
     "{" D7 "\"type\":\"object\",\"dependencies\":{\"a\":[\"b\"]}}", false,
     true, "/dependencies/a", NULL},
    {"contains added", "{\"type\":\"array\"}",
     "{\"type\":\"array\",\"contains\":{\"type\":\"string\"}}", false, true,
     "/contains", NULL},
};

static json_t *J(const char *s) {
  json_error_t e;
  json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
  if (!v) fprintf(stderr, "  bad JSON in test: %s (%s)\n", s, e.text);
  return v;
}

static bool verdict(as_compat_mode mode, json_t *old_s, json_t *new_s,
                    as_compat_report *r) {
  const json_t *prev[1] = {old_s};
  as_err rc = as_schema_compat_check(mode, new_s, prev, 1, r);
  CHECK_EQ_INT(rc, AS_OK);
  return r->compatible;
}

AS_TEST(compat_table) {
  CHECK(sizeof k_cases / sizeof k_cases[0] >= 40);
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
    const compat_case *t = &k_cases[i];
    json_t *o = J(t->old_s), *n = J(t->new_s);
    REQUIRE(o && n);
    as_compat_report r;
    bool b = verdict(AS_COMPAT_BACKWARD, o, n, &r);
    if (b != t->back) {
      fprintf(stderr, "  case \"%s\": BACKWARD %s, want %s\n", t->name,
              b ? "ok" : "broken", t->back ? "ok" : "broken");
      for (size_t k = 0; k < r.n_issues; k++)
        fprintf(stderr, "    %s: %s\n", r.issues[k].path, r.issues[k].message);
      as_test_failed_checks++;
    }
    if (!t->back && t->path && r.n_issues > 0) {
      CHECK_EQ_STR(r.issues[0].path, t->path);
      if (t->msg && !strstr(r.issues[0].message, t->msg)) {
        fprintf(stderr, "  case \"%s\": message \"%s\" lacks \"%s\"\n",
                t->name, r.issues[0].message, t->msg);
        as_test_failed_checks++;
      }
      CHECK_EQ_INT(r.issues[0].direction, AS_COMPAT_DIR_BACKWARD);
    }
    as_compat_report_free(&r);
    bool f = verdict(AS_COMPAT_FORWARD, o, n, &r);
    if (f != t->fwd) {
      fprintf(stderr, "  case \"%s\": FORWARD %s, want %s\n", t->name,
              f ? "ok" : "broken", t->fwd ? "ok" : "broken");
      for (size_t k = 0; k < r.n_issues; k++)
        fprintf(stderr, "    %s: %s\n", r.issues[k].path, r.issues[k].message);
      as_test_failed_checks++;
    }
    if (t->back && !t->fwd && t->path && r.n_issues > 0) {
      CHECK_EQ_STR(r.issues[0].path, t->path);
      if (t->msg && !strstr(r.issues[0].message, t->msg)) {
        fprintf(stderr, "  case \"%s\": message \"%s\" lacks \"%s\"\n",
                t->name, r.issues[0].message, t->msg);
        as_test_failed_checks++;
      }
      CHECK_EQ_INT(r.issues[0].direction, AS_COMPAT_DIR_FORWARD);
    }
    as_compat_report_free(&r);
    CHECK_EQ_INT(verdict(AS_COMPAT_FULL, o, n, &r), t->back && t->fwd);
    /* FULL lists backward issues first, then forward ones. */
    for (size_t k = 1; k < r.n_issues; k++)
      CHECK(r.issues[k].direction >= r.issues[k - 1].direction);
    as_compat_report_free(&r);
    CHECK(verdict(AS_COMPAT_NONE, o, n, &r));
    as_compat_report_free(&r);
    json_decref(o);
    json_decref(n);
  }
}

/* History where the latest version narrowed what the first allowed. */
AS_TEST(compat_transitive) {
  json_t *v1 = J("{\"type\":\"string\"}");
  json_t *v2 = J("{\"type\":\"string\",\"minLength\":5}");
  json_t *nw = J("{\"type\":\"string\",\"minLength\":3}");
  const json_t *prev[2] = {v1, v2};
  as_compat_report r;
  CHECK_OK(as_schema_compat_check(AS_COMPAT_BACKWARD, nw, prev, 2, &r));
  CHECK(r.compatible); /* only the latest (v2) counts */
  as_compat_report_free(&r);
  CHECK_OK(as_schema_compat_check(AS_COMPAT_BACKWARD_TRANSITIVE, nw, prev, 2, &r));
  CHECK(!r.compatible);
  REQUIRE(r.n_issues == 1);
  CHECK_EQ_INT(r.issues[0].version, 0);
  CHECK_EQ_STR(r.issues[0].path, "/minLength");
  as_compat_report_free(&r);
  /* FORWARD: new data must satisfy old readers; nw allows length 3 < 5. */
  CHECK_OK(as_schema_compat_check(AS_COMPAT_FORWARD, nw, prev, 2, &r));
  CHECK(!r.compatible);
  CHECK_EQ_INT(r.issues[0].version, 1);
  as_compat_report_free(&r);
  json_t *nw2 = J("{\"type\":\"string\",\"minLength\":6}");
  CHECK_OK(as_schema_compat_check(AS_COMPAT_FORWARD_TRANSITIVE, nw2, prev, 2, &r));
  CHECK(r.compatible);
  as_compat_report_free(&r);
  CHECK_OK(as_schema_compat_check(AS_COMPAT_FULL_TRANSITIVE, nw2, prev, 2, &r));
  CHECK(!r.compatible); /* backward vs v1 and v2 both fail */
  bool v0 = false, v1seen = false;
  for (size_t i = 0; i < r.n_issues; i++) {
    CHECK_EQ_INT(r.issues[i].direction, AS_COMPAT_DIR_BACKWARD);
    if (r.issues[i].version == 0) v0 = true;
    if (r.issues[i].version == 1) v1seen = true;
  }
  CHECK(v0 && v1seen);
  as_compat_report_free(&r);
  CHECK_OK(as_schema_compat_check(AS_COMPAT_FULL, v2, prev, 2, &r));
  CHECK(r.compatible); /* identical to the latest */
  as_compat_report_free(&r);
  json_decref(v1);
  json_decref(v2);
  json_decref(nw);
  json_decref(nw2);
}

AS_TEST(compat_modes_and_args) {
  as_compat_mode m;
  CHECK_OK(as_compat_mode_parse("FULL_TRANSITIVE", &m));
  CHECK_EQ_INT(m, AS_COMPAT_FULL_TRANSITIVE);
  CHECK_EQ_STR(as_compat_mode_name(AS_COMPAT_BACKWARD), "BACKWARD");
  CHECK_EQ_INT(as_compat_mode_parse("backward", &m), AS_EINVAL);
  json_t *s = J("{}");
  as_compat_report r;
  CHECK_OK(as_schema_compat_check(AS_COMPAT_BACKWARD, s, NULL, 0, &r));
  CHECK(r.compatible);
  as_compat_report_free(&r);
  CHECK_EQ_INT(as_schema_compat_check((as_compat_mode)99, s, NULL, 0, &r),
               AS_EINVAL);
  as_compat_report_free(&r);
  json_decref(s);
}

/* The seed's bug: BACKWARD was reversed (removing required failed). */
AS_TEST(compat_seed_regression) {
  json_t *o = J("{\"required\":[\"a\",\"b\"]}");
  json_t *n = J("{\"required\":[\"a\"]}");
  as_compat_report r;
  CHECK(verdict(AS_COMPAT_BACKWARD, o, n, &r));
  as_compat_report_free(&r);
  CHECK(!verdict(AS_COMPAT_BACKWARD, n, o, &r));
  CHECK_EQ_INT(r.n_issues, 1);
  as_compat_report_free(&r);
  json_decref(o);
  json_decref(n);
}

/* Issues are capped; deep nesting is reported, not overflowed. */
AS_TEST(compat_limits) {
  as_buf b;
  as_buf_init(&b, 0);
  for (int i = 0; i < 200; i++) as_buf_printf(&b, "\"p%d\":{\"type\":\"integer\"},", i);
  b.data[b.len - 1] = '\0';
  char *o = NULL, *n = NULL;
  size_t ol = strlen(b.data) + 64;
  o = malloc(ol);
  n = malloc(ol);
  REQUIRE(o && n);
  snprintf(o, ol, "{\"properties\":{%s}}", b.data);
  snprintf(n, ol, "{\"properties\":{%s}}", b.data);
  /* new: every property narrowed to a constant -> 200 issues */
  for (char *p = strstr(n, "integer"); p; p = strstr(p + 1, "integer"))
    memcpy(p, "boolean", 7);
  json_t *jo = J(o), *jn = J(n);
  as_compat_report r;
  CHECK(!verdict(AS_COMPAT_BACKWARD, jo, jn, &r));
  CHECK_EQ_INT(r.n_issues, AS_COMPAT_MAX_ISSUES);
  CHECK(r.truncated);
  as_compat_report_free(&r);
  json_decref(jo);
  json_decref(jn);
  free(o);
  free(n);
  as_buf_free(&b);
  /* 100 levels of nested properties */
  as_buf d;
  as_buf_init(&d, 0);
  for (int i = 0; i < 100; i++) as_buf_puts(&d, "{\"properties\":{\"x\":");
  size_t mark = d.len;
  as_buf_puts(&d, "{\"type\":\"integer\"}");
  for (int i = 0; i < 100; i++) as_buf_puts(&d, "}}");
  json_t *deep = J(d.data);
  memcpy(d.data + mark + 9, "number\"} ", 9); /* same depth, wider leaf */
  json_t *open = J(d.data);
  REQUIRE(deep && open);
  CHECK(!verdict(AS_COMPAT_BACKWARD, open, deep, &r));
  bool too_deep = false;
  for (size_t i = 0; i < r.n_issues; i++)
    if (strstr(r.issues[i].message, "too deeply")) too_deep = true;
  CHECK(too_deep);
  as_compat_report_free(&r);
  json_decref(deep);
  json_decref(open);
  as_buf_free(&d);
}

AS_TEST_MAIN()
