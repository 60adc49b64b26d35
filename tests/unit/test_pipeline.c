/* test_pipeline.c — stream-processing pipelines (src/services/as_pipeline*.c):
 * values and field paths, exact number comparison, every operator (filter,
 * map, reduce, window, enrich, branch), windows at their boundaries, reduce
 * functions and limits, config errors naming their field, kept outputs,
 * allocation failures, and the service: start positions, read-your-writes,
 * reset and delete, persistence across reopen with the state rebuilt
 * identically from the log, and changes racing appends from several
 * threads. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "allsource.h"
#include "as_test.h"
#include "core/as_common.h"
#include "services/as_pipeline.h"
#include "services/as_pipeline_int.h"
#include "test_util.h"

static const uint8_t GEN[16] = {0x01, 0x90, 0, 0, 0, 0, 0x70, 0, 0x80};

#define CFG(ops) "{\"name\":\"t\",\"source_event_types\":[],\"operators\":[" ops "],\"enabled\":true}"
#define SEC 1000000LL

/* --- Helpers ---------------------------------------------------------------- */

static as_pdef *def_of(const char *json) {
  as_pdef *d = NULL;
  as_pipeline_error e;
  if (as_pdef_parse(json, strlen(json), GEN, &d, &e) != AS_OK) {
    fprintf(stderr, "  config refused: %s: %s\n", e.field, e.message);
    return NULL;
  }
  return d;
}

typedef struct prun {
  as_pdef *d;
  as_pstate *s;
  uint64_t pos;
} prun;

static bool run_open(prun *r, const char *json) {
  memset(r, 0, sizeof *r);
  r->d = def_of(json);
  if (!r->d) return false;
  if (as_pstate_new(r->d, &r->s)) {
    as_pdef_free(r->d);
    return false;
  }
  return true;
}

static void run_close(prun *r) {
  as_pstate_free(r->s);
  as_pdef_free(r->d);
}

/* Feeds one event of type `type` with timestamp t_us. */
static void feed_t(prun *r, const char *type, int64_t t_us, const char *payload) {
  as_event ev;
  memset(&ev, 0, sizeof ev);
  ev.position = ++r->pos;
  ev.version = 1;
  ev.timestamp_us = t_us;
  ev.entity_id = "e";
  ev.entity_id_len = 1;
  ev.tenant_id = "default";
  ev.tenant_id_len = 7;
  ev.event_type = type;
  ev.event_type_len = (uint32_t)strlen(type);
  ev.payload = payload;
  ev.payload_len = (uint32_t)strlen(payload);
  as_pstate_apply(r->s, &ev);
}

static void feed(prun *r, const char *payload) { feed_t(r, "t", (int64_t)r->pos * SEC, payload); }

static json_t *results(const prun *r) {
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_putc(&b, '{');
  as_pstate_results(r->s, &b);
  as_buf_putc(&b, '}');
  json_error_t je;
  json_t *j = as_buf_error(&b) ? NULL : json_loadb(b.data, b.len, 0, &je);
  if (!j) fprintf(stderr, "  results do not parse: %s\n", b.data ? b.data : "(oom)");
  as_buf_free(&b);
  return j;
}

static as_pipeline_stats stats_of(const prun *r) {
  as_pipeline_stats st;
  memset(&st, 0, sizeof st);
  as_pstate_stats(r->s, &st);
  return st;
}

static json_t *op_at(json_t *res, size_t i) {
  return json_array_get(json_object_get(res, "operators"), i);
}

/* The value of `group` in a "groups" array (NULL if absent). */
static json_t *group_val(json_t *groups, const char *group) {
  size_t i;
  json_t *g;
  json_array_foreach(groups, i, g) {
    if (!strcmp(json_string_value(json_object_get(g, "group")), group))
      return json_object_get(g, "value");
  }
  return NULL;
}

/* The last kept output as compact JSON text (static buffer). */
static const char *last_output(const prun *r) {
  static char buf[1024];
  json_t *res = results(r);
  json_t *outs = json_object_get(res, "outputs");
  size_t n = json_array_size(outs);
  buf[0] = '\0';
  if (n) {
    char *s = json_dumps(json_object_get(json_array_get(outs, n - 1), "value"),
                         JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    snprintf(buf, sizeof buf, "%s", s ? s : "");
    free(s);
  }
  json_decref(res);
  return buf;
}

/* --- Values and paths ---------------------------------------------------------- */

static as_json_val num(const char *s) { return (as_json_val){s, strlen(s), AS_JSON_NUMBER}; }

AS_TEST(numbers_compare_exactly) {
  CHECK_EQ_INT(as_pv_num_cmp(num("1"), num("1.0")), 0);
  CHECK_EQ_INT(as_pv_num_cmp(num("100"), num("1e2")), 0);
  CHECK_EQ_INT(as_pv_num_cmp(num("-0"), num("0.000")), 0);
  CHECK_EQ_INT(as_pv_num_cmp(num("0.1"), num("0.10000001")), -1);
  CHECK_EQ_INT(as_pv_num_cmp(num("12345678901234567891"), num("12345678901234567890")), 1);
  CHECK_EQ_INT(as_pv_num_cmp(num("9007199254740993"), num("9007199254740992")), 1);
  CHECK_EQ_INT(as_pv_num_cmp(num("-5"), num("-4.9")), -1);
  CHECK_EQ_INT(as_pv_num_cmp(num("-5"), num("3")), -1);
  CHECK_EQ_INT(as_pv_num_cmp(num("0.001"), num("1E-3")), 0);
  CHECK_EQ_INT(as_pv_num_cmp(num("25"), num("2.5e1")), 0);
  CHECK_EQ_INT(as_pv_num_cmp(num("1e400"), num("1e399")), 1);
}

AS_TEST(doubles_print_shortest_as_floats) {
  struct { double d; const char *want; } t[] = {
      {6, "6.0"}, {0.1, "0.1"}, {0.1 + 0.2, "0.30000000000000004"}, {-2.5, "-2.5"},
      {1e300, "1e+300"}, {123456789012.0, "123456789012.0"}};
  for (size_t i = 0; i < AS_ARRAY_LEN(t); i++) {
    as_buf b;
    as_buf_init(&b, 0);
    as_pv_put_double(&b, t[i].d);
    CHECK_EQ_STR(b.data, t[i].want);
    as_buf_free(&b);
  }
}

AS_TEST(paths_parse_and_refuse) {
  as_ppath p;
  const char *why;
  CHECK_OK(as_ppath_parse("a.b.c", 5, &p, &why));
  CHECK_EQ_INT(p.n, 3);
  CHECK_EQ_STR(p.seg[1], "b");
  as_ppath_free(&p);
  const char *bad[] = {"", ".a", "a.", "a..b", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q"};
  for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++)
    CHECK(as_ppath_parse(bad[i], strlen(bad[i]), &p, &why) == AS_EINVAL);
  CHECK(as_ppath_parse("a\0b", 3, &p, &why) == AS_EINVAL);
}

AS_TEST(values_get_set_and_write) {
  const char *text = "{ \"a\" : {\"b\": 1, \"c\":[1, 2]}, \"s\":\"x\\u0041\", \"a\": 9 }";
  as_pv_arena a;
  as_pv_arena_init(&a);
  as_pv *v = as_pv_from_text(&a, text, strlen(text));
  as_ppath ab, ac, s, nb, ad, xy;
  const char *why;
  REQUIRE(!as_ppath_parse("a.b", 3, &ab, &why) && !as_ppath_parse("a.c", 3, &ac, &why) &&
          !as_ppath_parse("s", 1, &s, &why) && !as_ppath_parse("n.b", 3, &nb, &why) &&
          !as_ppath_parse("a.d", 3, &ad, &why) && !as_ppath_parse("a.b.x", 5, &xy, &why));
  as_json_val out;
  bool oom = false;
  CHECK(as_pv_get(&a, v, &ab, &out, &oom) && out.len == 1 && out.p[0] == '1');
  CHECK(as_pv_get(&a, v, &ac, &out, &oom) && out.kind == AS_JSON_ARRAY);
  as_json_val want = {"\"xA\"", 4, AS_JSON_STRING};
  CHECK(as_pv_get(&a, v, &s, &out, &oom) && as_pv_equal(&a, out, want, &oom));
  /* unchanged values are written back byte for byte */
  as_buf b;
  as_buf_init(&b, 0);
  as_pv_write(v, &b);
  CHECK_EQ_STR(b.data, text);
  /* set: new nested path, replace, refuse a non-object on the path */
  CHECK_OK(as_pv_set(&a, v, &nb, "true", 4));
  CHECK_OK(as_pv_set(&a, v, &ad, "\"d\"", 3));
  CHECK(as_pv_set(&a, v, &xy, "1", 1) == AS_EINVAL);
  as_buf_reset(&b);
  as_pv_write(v, &b);
  CHECK_EQ_STR(b.data, "{\"a\":{\"b\":1,\"c\":[1, 2],\"d\":\"d\"},\"s\":\"x\\u0041\",\"a\":9,"
                       "\"n\":{\"b\":true}}");
  CHECK(as_pv_get(&a, v, &nb, &out, &oom) && out.kind == AS_JSON_TRUE);
  as_ppath a1;
  REQUIRE(!as_ppath_parse("a", 1, &a1, &why));
  CHECK(as_pv_get(&a, v, &a1, &out, &oom) && out.kind == AS_JSON_OBJECT);
  CHECK(!oom);
  as_buf_free(&b);
  as_ppath_free(&ab);
  as_ppath_free(&ac);
  as_ppath_free(&s);
  as_ppath_free(&nb);
  as_ppath_free(&ad);
  as_ppath_free(&xy);
  as_ppath_free(&a1);
  as_pv_arena_free(&a);
}

AS_TEST(json_equality) {
  as_pv_arena a;
  as_pv_arena_init(&a);
  struct { const char *x, *y; bool eq; } t[] = {
      {"{\"a\":1,\"b\":[1,2]}", "{\"b\":[1.0,2e0],\"a\":1}", true},
      {"{\"a\":1}", "{\"a\":1,\"b\":2}", false},
      {"[1,2]", "[2,1]", false},
      {"\"\\u00e9\"", "\"\xc3\xa9\"", true},
      {"null", "false", false},
      {"true", "true", true},
      {"\"1\"", "1", false}};
  for (size_t i = 0; i < AS_ARRAY_LEN(t); i++) {
    bool oom = false;
    as_json_val x = as_json_root(t[i].x, strlen(t[i].x)), y = as_json_root(t[i].y, strlen(t[i].y));
    CHECK(as_pv_equal(&a, x, y, &oom) == t[i].eq);
  }
  as_pv_arena_free(&a);
}

/* --- Operators -------------------------------------------------------------------- */

AS_TEST(filter_ops_follow_the_seed_rules_with_numeric_equality) {
  struct { const char *op, *value; int passes; } t[] = {
      /* values fed: 1, 1.0, 2, "US", "USA", {"x":1}, missing */
      {"eq", "1", 2},       {"ne", "1", 5},      {"gt", "1", 1},     {"gte", "1", 3},
      {"lt", "2", 2},       {"lte", "2", 3},     {"eq", "\"US\"", 1}, {"contains", "\"US\"", 2},
      {"contains", "\"SA\"", 1}, {"eq", "{\"x\":1.0}", 1}, {"gt", "\"A\"", 0}, {"ne", "null", 7}};
  const char *payloads[] = {"{\"f\":1}", "{\"f\":1.0}", "{\"f\":2}", "{\"f\":\"US\"}",
                            "{\"f\":\"USA\"}", "{\"f\":{\"x\":1}}", "{\"g\":1}"};
  for (size_t i = 0; i < AS_ARRAY_LEN(t); i++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, CFG("{\"type\":\"filter\",\"field\":\"f\",\"op\":\"%s\",\"value\":%s}"),
             t[i].op, t[i].value);
    prun r;
    REQUIRE(run_open(&r, cfg));
    for (size_t k = 0; k < AS_ARRAY_LEN(payloads); k++) feed(&r, payloads[k]);
    as_pipeline_stats st = stats_of(&r);
    if ((int)(st.events_processed - st.events_filtered) != t[i].passes)
      fprintf(stderr, "  filter %s %s\n", t[i].op, t[i].value);
    CHECK_EQ_INT(st.events_processed - st.events_filtered, t[i].passes);
    CHECK_EQ_INT(st.events_processed, 7);
    run_close(&r);
  }
}

AS_TEST(filter_stops_the_chain) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"filter\",\"field\":\"c\",\"op\":\"eq\",\"value\":\"US\"},"
                           "{\"type\":\"reduce\",\"field\":\"a\",\"function\":\"count\"}")));
  feed(&r, "{\"c\":\"US\"}");
  feed(&r, "{\"c\":\"DE\"}");
  feed(&r, "{\"c\":\"US\"}");
  json_t *res = results(&r);
  CHECK_EQ_INT(json_integer_value(group_val(json_object_get(op_at(res, 1), "groups"), "default")), 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(op_at(res, 0), "events_out")), 2);
  as_pipeline_stats st = stats_of(&r);
  CHECK_EQ_INT(st.events_processed, 3);
  CHECK_EQ_INT(st.events_filtered, 1);
  json_decref(res);
  run_close(&r);
}

AS_TEST(map_transforms) {
  struct { const char *transform, *in, *out; } t[] = {
      {"uppercase", "{\"f\":\"abc\",\"g\":1}", "{\"f\":\"ABC\",\"g\":1}"},
      {"lowercase", "{\"f\":\"AbC\"}", "{\"f\":\"abc\"}"},
      {"trim", "{\"f\":\" \\t x y \\n\"}", "{\"f\":\"x y\"}"},
      {"multiply:2.5", "{\"f\":4}", "{\"f\":10.0}"},
      {"add:-0.5", "{\"f\":1}", "{\"f\":0.5}"},
      {"add:1", "{\"f\":\"s\"}", "{\"f\":\"s\"}"},       /* wrong kind: unchanged */
      {"uppercase", "{\"f\":3}", "{\"f\":3}"},
      {"uppercase", "{\"g\":\"x\"}", "{\"g\":\"x\"}"},   /* missing: unchanged */
      {"multiply:1e3", "{\"f\":0.001}", "{\"f\":1.0}"}};
  for (size_t i = 0; i < AS_ARRAY_LEN(t); i++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg, CFG("{\"type\":\"map\",\"field\":\"f\",\"transform\":\"%s\"}"),
             t[i].transform);
    prun r;
    REQUIRE(run_open(&r, cfg));
    feed(&r, t[i].in);
    CHECK_EQ_STR(last_output(&r), t[i].out);
    run_close(&r);
  }
}

AS_TEST(map_unicode_case_and_nested_fields) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"map\",\"field\":\"u.name\",\"transform\":\"uppercase\"}")));
  feed(&r, "{\"u\":{\"name\":\"\xc3\xa9mile\",\"k\":[1]},\"z\":0}");
  CHECK_EQ_STR(last_output(&r), "{\"u\":{\"name\":\"\xc3\x89MILE\",\"k\":[1]},\"z\":0}");
  run_close(&r);
}

AS_TEST(map_to_infinity_fails_the_event) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"map\",\"field\":\"f\",\"transform\":\"multiply:1e308\"},"
                           "{\"type\":\"reduce\",\"field\":\"f\",\"function\":\"sum\"}")));
  feed(&r, "{\"f\":10}");
  feed(&r, "{\"f\":1}");
  as_pipeline_stats st = stats_of(&r);
  CHECK_EQ_INT(st.events_failed, 1);
  CHECK_EQ_INT(st.events_processed, 1);
  CHECK_EQ_INT(st.last_error_position, 1);
  CHECK(strstr(st.last_error, "operators[0] (map)") != NULL);
  json_t *res = results(&r);
  CHECK(json_real_value(group_val(json_object_get(op_at(res, 1), "groups"), "default")) == 1e308);
  json_decref(res);
  run_close(&r);
}

AS_TEST(reduce_functions) {
  const char *payloads[] = {"{\"g\":\"a\",\"v\":2}", "{\"g\":\"a\",\"v\":\"x\"}", "{\"g\":\"a\"}",
                            "{\"g\":\"b\",\"v\":-1.5}", "{\"g\":\"a\",\"v\":4}",
                            "{\"g\":7,\"v\":1}", "{\"g\":true,\"v\":1}", "{\"v\":3}",
                            "{\"g\":null,\"v\":3}"};
  struct { const char *fn; const char *a, *b, *seven, *def; } t[] = {
      {"count", "4", "1", "1", "2"},
      {"sum", "6.0", "-1.5", "1.0", "6.0"},
      {"avg", "3.0", "-1.5", "1.0", "3.0"},
      {"min", "2.0", "-1.5", "1.0", "3.0"},
      {"max", "4.0", "-1.5", "1.0", "3.0"}};
  for (size_t i = 0; i < AS_ARRAY_LEN(t); i++) {
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             CFG("{\"type\":\"reduce\",\"field\":\"v\",\"function\":\"%s\",\"group_by\":\"g\"}"),
             t[i].fn);
    prun r;
    REQUIRE(run_open(&r, cfg));
    for (size_t k = 0; k < AS_ARRAY_LEN(payloads); k++) feed(&r, payloads[k]);
    json_t *res = results(&r);
    json_t *groups = json_object_get(op_at(res, 0), "groups");
    const char *names[] = {"a", "b", "7", "default"};
    const char *want[] = {t[i].a, t[i].b, t[i].seven, t[i].def};
    for (int k = 0; k < 4; k++) {
      json_t *v = group_val(groups, names[k]);
      char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
      if (!s || strtod(s, NULL) != strtod(want[k], NULL))
        fprintf(stderr, "  %s group %s: %s != %s\n", t[i].fn, names[k], s ? s : "-", want[k]);
      CHECK(s && strtod(s, NULL) == strtod(want[k], NULL));
      /* count is an integer, the others floats */
      CHECK(v && (i == 0 ? json_is_integer(v) : json_is_real(v)));
      free(s);
    }
    CHECK(group_val(groups, "true") != NULL);
    CHECK_EQ_INT(json_array_size(groups), 5);
    /* groups are sorted by name */
    CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(groups, 0), "group")), "7");
    json_decref(res);
    run_close(&r);
  }
}

AS_TEST(reduce_avg_min_max_null_without_numbers_and_output_shape) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"reduce\",\"field\":\"v\",\"function\":\"avg\"}")));
  feed(&r, "{\"v\":\"no\"}");
  CHECK_EQ_STR(last_output(&r), "{\"group\":\"default\",\"function\":\"avg\",\"value\":null}");
  feed(&r, "{\"v\":1}");
  feed(&r, "{\"v\":2}");
  CHECK_EQ_STR(last_output(&r), "{\"group\":\"default\",\"function\":\"avg\",\"value\":1.5}");
  run_close(&r);
}

AS_TEST(reduce_state_is_per_operator) {
  /* the seed shared "reduce_sum_default" between these two operators */
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"reduce\",\"field\":\"v\",\"function\":\"count\"},"
                           "{\"type\":\"reduce\",\"field\":\"value\",\"function\":\"count\"}")));
  feed(&r, "{\"v\":1}");
  feed(&r, "{\"v\":1}");
  json_t *res = results(&r);
  CHECK_EQ_INT(json_integer_value(group_val(json_object_get(op_at(res, 0), "groups"), "default")), 2);
  CHECK_EQ_INT(json_integer_value(group_val(json_object_get(op_at(res, 1), "groups"), "default")), 2);
  json_decref(res);
  run_close(&r);
}

AS_TEST(reduce_group_limit_fails_new_groups_only) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"reduce\",\"field\":\"v\",\"function\":\"count\","
                           "\"group_by\":\"g\",\"max_groups\":2}")));
  feed(&r, "{\"g\":\"a\"}");
  feed(&r, "{\"g\":\"b\"}");
  feed(&r, "{\"g\":\"c\"}");
  feed(&r, "{\"g\":\"a\"}");
  as_pipeline_stats st = stats_of(&r);
  CHECK_EQ_INT(st.events_processed, 3);
  CHECK_EQ_INT(st.events_failed, 1);
  CHECK_EQ_INT(st.last_error_position, 3);
  CHECK(strstr(st.last_error, "max_groups") != NULL);
  json_t *res = results(&r);
  CHECK_EQ_INT(json_integer_value(json_object_get(op_at(res, 0), "groups_total")), 2);
  CHECK_EQ_INT(json_integer_value(group_val(json_object_get(op_at(res, 0), "groups"), "a")), 2);
  json_decref(res);
  run_close(&r);
}

AS_TEST(reduce_group_key_limit_and_float_overflow) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"reduce\",\"field\":\"v\",\"function\":\"sum\","
                           "\"group_by\":\"g\"}")));
  char big[400];
  memset(big, 'k', sizeof big);
  char p[512];
  snprintf(p, sizeof p, "{\"g\":\"%.*s\",\"v\":1}", 257, big);
  feed(&r, p);
  feed(&r, "{\"v\":1e308}");
  feed(&r, "{\"v\":1e308}"); /* the sum would be infinite */
  feed(&r, "{\"v\":1e999}"); /* does not fit a double */
  as_pipeline_stats st = stats_of(&r);
  CHECK_EQ_INT(st.events_failed, 3);
  CHECK_EQ_INT(st.events_processed, 1);
  json_t *res = results(&r);
  CHECK(json_real_value(group_val(json_object_get(op_at(res, 0), "groups"), "default")) == 1e308);
  json_decref(res);
  run_close(&r);
}

/* --- Windows -------------------------------------------------------------------------- */

static json_t *windows_of(json_t *res, size_t op) {
  return json_object_get(op_at(res, op), "windows");
}

static int64_t win_count(json_t *w) {
  return json_integer_value(json_object_get(w, "events_in_window"));
}

AS_TEST(tumbling_windows_at_boundaries) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\","
                           "\"size_seconds\":60},\"aggregation\":{\"type\":\"reduce\","
                           "\"field\":\"v\",\"function\":\"sum\"}}")));
  int64_t base = 1700000040LL * SEC; /* a multiple of 60 s */
  feed_t(&r, "t", base, "{\"v\":1}");
  feed_t(&r, "t", base + 60 * SEC - 1, "{\"v\":2}"); /* last microsecond of the window */
  json_t *res = results(&r);
  json_t *w = windows_of(res, 0);
  CHECK_EQ_INT(json_array_size(w), 1);
  CHECK(json_is_false(json_object_get(json_array_get(w, 0), "closed")));
  json_decref(res);
  feed_t(&r, "t", base + 60 * SEC, "{\"v\":4}"); /* opens the next window */
  res = results(&r);
  w = windows_of(res, 0);
  REQUIRE(json_array_size(w) == 2);
  json_t *w0 = json_array_get(w, 0), *w1 = json_array_get(w, 1);
  CHECK_EQ_INT(win_count(w0), 2);
  CHECK_EQ_INT(win_count(w1), 1);
  CHECK(json_real_value(group_val(json_object_get(w0, "groups"), "default")) == 3.0);
  CHECK(json_real_value(group_val(json_object_get(w1, "groups"), "default")) == 4.0);
  CHECK_EQ_STR(json_string_value(json_object_get(w0, "start")), "2023-11-14T22:14:00.000000Z");
  CHECK_EQ_STR(json_string_value(json_object_get(w0, "end")), "2023-11-14T22:15:00.000000Z");
  CHECK(json_is_true(json_object_get(w0, "closed")));
  CHECK(json_is_false(json_object_get(w1, "closed")));
  json_decref(res);
  /* an event of another type still moves event time: the window closes */
  run_close(&r);
  REQUIRE(run_open(&r, "{\"name\":\"t\",\"source_event_types\":[\"a\"],\"operators\":["
                       "{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\","
                       "\"size_seconds\":10},\"aggregation\":{\"type\":\"reduce\","
                       "\"field\":\"v\",\"function\":\"count\"}}],\"enabled\":true}"));
  feed_t(&r, "a", 5 * SEC, "{}");
  feed_t(&r, "b", 10 * SEC, "{}");
  res = results(&r);
  CHECK(json_is_true(json_object_get(json_array_get(windows_of(res, 0), 0), "closed")));
  CHECK_EQ_INT(win_count(json_array_get(windows_of(res, 0), 0)), 1);
  json_decref(res);
  run_close(&r);
}

AS_TEST(sliding_windows_hold_every_event_size_over_slide_times) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"sliding\","
                           "\"size_seconds\":30,\"slide_seconds\":10},\"aggregation\":{"
                           "\"type\":\"reduce\",\"field\":\"v\",\"function\":\"count\"}}")));
  feed_t(&r, "t", 25 * SEC, "{}"); /* windows starting at 0, 10, 20 */
  feed_t(&r, "t", 30 * SEC, "{}"); /* 10, 20, 30 */
  feed_t(&r, "t", 39 * SEC + 999999, "{}"); /* 10, 20, 30 */
  json_t *res = results(&r);
  json_t *w = windows_of(res, 0);
  REQUIRE(json_array_size(w) == 4);
  int64_t want[] = {1, 3, 3, 2};
  for (size_t i = 0; i < 4; i++) {
    CHECK_EQ_INT(win_count(json_array_get(w, i)), want[i]);
    CHECK_EQ_INT(json_integer_value(group_val(json_object_get(json_array_get(w, i), "groups"),
                                              "default")),
                 want[i]);
  }
  /* the output is the oldest window holding the event: the last 30 s */
  CHECK(strstr(last_output(&r), "\"window_start\":\"1970-01-01T00:00:10.000000Z\"") != NULL);
  CHECK(strstr(last_output(&r), "\"events_in_window\":3") != NULL);
  json_decref(res);
  run_close(&r);
}

AS_TEST(session_windows_per_group_and_gap_boundary) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"session\","
                           "\"session_timeout_seconds\":10},\"aggregation\":{\"type\":"
                           "\"reduce\",\"field\":\"v\",\"function\":\"sum\",\"group_by\":\"u\"}}")));
  feed_t(&r, "t", 100 * SEC, "{\"u\":\"a\",\"v\":1}");
  feed_t(&r, "t", 105 * SEC, "{\"u\":\"b\",\"v\":10}");
  feed_t(&r, "t", 110 * SEC - 1, "{\"u\":\"a\",\"v\":2}"); /* just inside a's gap */
  feed_t(&r, "t", 118 * SEC, "{\"u\":\"a\",\"v\":4}"); /* inside: the end moved to 119.999999 */
  feed_t(&r, "t", 128 * SEC, "{\"u\":\"a\",\"v\":8}"); /* == last + timeout: a new session */
  json_t *res = results(&r);
  json_t *w = windows_of(res, 0);
  REQUIRE(json_array_size(w) == 3);
  json_t *a1 = json_array_get(w, 0), *b1 = json_array_get(w, 1), *a2 = json_array_get(w, 2);
  CHECK(json_real_value(group_val(json_object_get(a1, "groups"), "a")) == 7.0);
  CHECK_EQ_INT(win_count(a1), 3);
  CHECK_EQ_STR(json_string_value(json_object_get(a1, "end")), "1970-01-01T00:02:08.000000Z");
  CHECK(json_is_true(json_object_get(a1, "closed")));
  CHECK(json_real_value(group_val(json_object_get(b1, "groups"), "b")) == 10.0);
  CHECK(json_is_true(json_object_get(b1, "closed")));
  CHECK(json_real_value(group_val(json_object_get(a2, "groups"), "a")) == 8.0);
  CHECK(json_is_false(json_object_get(a2, "closed")));
  json_decref(res);
  run_close(&r);
}

AS_TEST(windows_are_bounded_by_max_windows) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\","
                           "\"size_seconds\":1},\"max_windows\":3,\"aggregation\":{"
                           "\"type\":\"reduce\",\"field\":\"v\",\"function\":\"count\"}}")));
  for (int i = 0; i < 10; i++) feed_t(&r, "t", i * SEC, "{}");
  json_t *res = results(&r);
  json_t *w = windows_of(res, 0);
  CHECK_EQ_INT(json_array_size(w), 3);
  CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(w, 0), "start")),
               "1970-01-01T00:00:07.000000Z");
  CHECK_EQ_INT(json_integer_value(json_object_get(op_at(res, 0), "windows_evicted")), 7);
  CHECK_EQ_INT(json_integer_value(json_object_get(res, "groups")), 3);
  json_decref(res);
  CHECK_EQ_INT(stats_of(&r).events_failed, 0);
  run_close(&r);
}

AS_TEST(window_sees_the_value_after_earlier_operators) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"map\",\"field\":\"v\",\"transform\":\"multiply:10\"},"
                           "{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\","
                           "\"size_seconds\":60},\"aggregation\":{\"type\":\"reduce\","
                           "\"field\":\"v\",\"function\":\"max\"}}")));
  feed_t(&r, "t", 1 * SEC, "{\"v\":2}");
  feed_t(&r, "t", 2 * SEC, "{\"v\":1}");
  json_t *res = results(&r);
  CHECK(json_real_value(group_val(json_object_get(json_array_get(windows_of(res, 1), 0), "groups"),
                                  "default")) == 20.0);
  json_decref(res);
  run_close(&r);
}

/* --- enrich, branch, outputs, types ---------------------------------------------------------- */

AS_TEST(enrich_from_the_event_and_its_metadata) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"enrich\",\"source\":\"event\",\"fields\":[\"entity_id\","
                           "\"position\",\"timestamp\"]},{\"type\":\"enrich\",\"source\":"
                           "\"metadata\",\"fields\":[\"src.app\",\"missing\"]}")));
  as_event ev;
  memset(&ev, 0, sizeof ev);
  ev.position = 42;
  ev.timestamp_us = 0;
  ev.entity_id = "user-1";
  ev.entity_id_len = 6;
  ev.event_type = "t";
  ev.event_type_len = 1;
  ev.payload = "{\"a\":1}";
  ev.payload_len = 7;
  ev.metadata = "{\"src\":{\"app\":\"web\"}}";
  ev.metadata_len = (uint32_t)strlen(ev.metadata);
  as_pstate_apply(r.s, &ev);
  CHECK_EQ_STR(last_output(&r), "{\"a\":1,\"entity_id\":\"user-1\",\"position\":42,"
                                "\"timestamp\":\"1970-01-01T00:00:00.000000Z\","
                                "\"src\":{\"app\":\"web\"}}");
  run_close(&r);
}

AS_TEST(branch_routes_and_counts) {
  prun r;
  REQUIRE(run_open(&r, CFG("{\"type\":\"branch\",\"field\":\"c\",\"branches\":{\"US\":\"us\","
                           "\"DE\":\"eu\",\"FR\":\"eu\"}}")));
  feed(&r, "{\"c\":\"US\"}");
  CHECK_EQ_STR(last_output(&r), "{\"c\":\"US\",\"_route\":\"us\"}");
  feed(&r, "{\"c\":\"FR\"}");
  feed(&r, "{\"c\":\"JP\"}");
  CHECK_EQ_STR(last_output(&r), "{\"c\":\"JP\"}");
  feed(&r, "[1]");
  json_t *res = results(&r);
  json_t *b = json_object_get(op_at(res, 0), "branches");
  CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(b, 0), "count")), 1);
  CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(b, 2), "count")), 1);
  CHECK_EQ_INT(json_integer_value(json_object_get(op_at(res, 0), "unrouted")), 2);
  json_decref(res);
  run_close(&r);
}

AS_TEST(outputs_are_a_bounded_ring_and_types_select_events) {
  prun r;
  REQUIRE(run_open(&r, "{\"name\":\"t\",\"source_event_types\":[\"order.*\",\"user\"],"
                       "\"operators\":[],\"enabled\":true,\"max_outputs\":2}"));
  feed_t(&r, "order.placed", 1, "1");
  feed_t(&r, "orders", 2, "2");
  feed_t(&r, "user", 3, "3");
  feed_t(&r, "user.x", 4, "4");
  feed_t(&r, "order.paid", 5, "5");
  json_t *res = results(&r);
  json_t *outs = json_object_get(res, "outputs");
  REQUIRE(json_array_size(outs) == 2);
  CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(outs, 0), "position")), 3);
  CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(outs, 1), "value")), 5);
  CHECK_EQ_INT(stats_of(&r).events_processed, 3);
  json_decref(res);
  as_pstate_clear(r.s);
  res = results(&r);
  CHECK_EQ_INT(json_array_size(json_object_get(res, "outputs")), 0);
  CHECK(json_is_null(json_object_get(res, "watermark")));
  CHECK_EQ_INT(stats_of(&r).events_processed, 0);
  json_decref(res);
  run_close(&r);
}

AS_TEST(disabled_pipelines_count_nothing) {
  prun r;
  REQUIRE(run_open(&r, "{\"name\":\"t\",\"source_event_types\":[],\"operators\":[],"
                       "\"enabled\":false}"));
  feed(&r, "{}");
  CHECK_EQ_INT(stats_of(&r).events_processed, 0);
  run_close(&r);
}

/* --- Config errors ---------------------------------------------------------------------------- */

AS_TEST(config_errors_name_the_field) {
  struct { const char *cfg, *field; as_err code; } t[] = {
      {"[]", "", AS_EINVAL},
      {"{\"name\":", "", AS_EJSON},
      {"{\"source_event_types\":[],\"operators\":[],\"enabled\":true}", "name", AS_EINVAL},
      {"{\"name\":\"\",\"source_event_types\":[],\"operators\":[],\"enabled\":true}", "name", AS_EINVAL},
      {"{\"name\":1,\"source_event_types\":[],\"operators\":[],\"enabled\":true}", "name", AS_EINVAL},
      {"{\"name\":\"n\",\"operators\":[],\"enabled\":true}", "source_event_types", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[1],\"operators\":[],\"enabled\":true}",
       "source_event_types[0]", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[\"a b\"],\"operators\":[],\"enabled\":true}",
       "source_event_types[0]", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[],\"enabled\":true}", "operators", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[],\"operators\":[]}", "enabled", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[],\"operators\":[],\"enabled\":1}", "enabled", AS_EINVAL},
      {"{\"id\":\"nope\",\"name\":\"n\",\"source_event_types\":[],\"operators\":[],\"enabled\":true}",
       "id", AS_EINVAL},
      {"{\"name\":\"n\",\"name\":\"m\",\"source_event_types\":[],\"operators\":[],\"enabled\":true}",
       "name", AS_EINVAL},
      {CFG("1"), "operators[0]", AS_EINVAL},
      {CFG("{\"type\":\"sort\"}"), "operators[0].type", AS_EINVAL},
      {CFG("{\"field\":\"a\"}"), "operators[0].type", AS_EINVAL},
      {CFG("{\"type\":\"filter\",\"field\":\"a\",\"op\":\"eq\"}"), "operators[0].value", AS_EINVAL},
      {CFG("{\"type\":\"filter\",\"field\":\"a\",\"op\":\"like\",\"value\":1}"), "operators[0].op", AS_EINVAL},
      {CFG("{\"type\":\"filter\",\"field\":\"a..b\",\"op\":\"eq\",\"value\":1}"), "operators[0].field", AS_EINVAL},
      {CFG("{\"type\":\"map\",\"field\":\"a\",\"transform\":\"multiply:x\"}"), "operators[0].transform", AS_EINVAL},
      {CFG("{\"type\":\"map\",\"field\":\"a\",\"transform\":\"reverse\"}"), "operators[0].transform", AS_EINVAL},
      {CFG("{\"type\":\"map\",\"field\":\"a\",\"transform\":\"add:inf\"}"), "operators[0].transform", AS_EINVAL},
      {CFG("{\"type\":\"reduce\",\"field\":\"a\",\"function\":\"median\"}"), "operators[0].function", AS_EINVAL},
      {CFG("{\"type\":\"reduce\",\"function\":\"sum\"}"), "operators[0].field", AS_EINVAL},
      {CFG("{\"type\":\"reduce\",\"field\":\"a\",\"function\":\"sum\",\"max_groups\":0}"),
       "operators[0].max_groups", AS_ELIMIT},
      {CFG("{\"type\":\"window\",\"aggregation\":{}}"), "operators[0].config", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"hopping\"}}"),
       "operators[0].config.window_type", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\"}}"),
       "operators[0].config.size_seconds", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\",\"size_seconds\":0}}"),
       "operators[0].config.size_seconds", AS_ELIMIT},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\",\"size_seconds\":1.5}}"),
       "operators[0].config.size_seconds", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"sliding\",\"size_seconds\":10,"
           "\"slide_seconds\":20}}"), "operators[0].config.slide_seconds", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"sliding\",\"size_seconds\":10000,"
           "\"slide_seconds\":1}}"), "operators[0].config.slide_seconds", AS_ELIMIT},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\",\"size_seconds\":10}}"),
       "operators[0].aggregation", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\",\"size_seconds\":10},"
           "\"aggregation\":{\"type\":\"filter\"}}"), "operators[0].aggregation.type", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"tumbling\",\"size_seconds\":10},"
           "\"aggregation\":{\"type\":\"reduce\",\"field\":\"a\",\"function\":\"x\"}}"),
       "operators[0].aggregation.function", AS_EINVAL},
      {CFG("{\"type\":\"window\",\"config\":{\"window_type\":\"sliding\",\"size_seconds\":100,"
           "\"slide_seconds\":1},\"max_windows\":50,\"aggregation\":{\"type\":\"reduce\","
           "\"field\":\"a\",\"function\":\"count\"}}"), "operators[0].max_windows", AS_EINVAL},
      {CFG("{\"type\":\"enrich\",\"source\":\"users\",\"fields\":[\"a\"]}"), "operators[0].source", AS_EINVAL},
      {CFG("{\"type\":\"enrich\",\"source\":\"event\",\"fields\":[\"name\"]}"), "operators[0].fields[0]", AS_EINVAL},
      {CFG("{\"type\":\"enrich\",\"source\":\"metadata\",\"fields\":[1]}"), "operators[0].fields[0]", AS_EINVAL},
      {CFG("{\"type\":\"branch\",\"field\":\"a\",\"branches\":{\"x\":1}}"), "operators[0].branches.x", AS_EINVAL},
      {CFG("{\"type\":\"branch\",\"field\":\"a\",\"branches\":[]}"), "operators[0].branches", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[],\"operators\":[],\"enabled\":true,\"start_from\":0}",
       "start_from", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[],\"operators\":[],\"enabled\":true,\"start_from\":\"later\"}",
       "start_from", AS_EINVAL},
      {"{\"name\":\"n\",\"source_event_types\":[],\"operators\":[],\"enabled\":true,\"max_outputs\":1001}",
       "max_outputs", AS_ELIMIT}};
  for (size_t i = 0; i < AS_ARRAY_LEN(t); i++) {
    as_pdef *d = NULL;
    as_pipeline_error e;
    as_err rc = as_pdef_parse(t[i].cfg, strlen(t[i].cfg), GEN, &d, &e);
    if (rc != t[i].code || strcmp(e.field, t[i].field))
      fprintf(stderr, "  case %zu: %s -> %d %s: %s\n", i, t[i].cfg, rc, e.field, e.message);
    CHECK(rc == t[i].code);
    CHECK_EQ_STR(e.field, t[i].field);
    CHECK(e.message[0] != '\0');
    CHECK(d == NULL);
  }
}

AS_TEST(config_limits) {
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"name\":\"n\",\"source_event_types\":[],\"enabled\":true,\"operators\":[");
  for (int i = 0; i < 33; i++)
    as_buf_printf(&b, "%s{\"type\":\"filter\",\"field\":\"a\",\"op\":\"ne\",\"value\":1}", i ? "," : "");
  as_buf_puts(&b, "]}");
  as_pdef *d = NULL;
  as_pipeline_error e;
  CHECK(as_pdef_parse(b.data, b.len, GEN, &d, &e) == AS_ELIMIT);
  CHECK_EQ_STR(e.field, "operators");
  as_buf_reset(&b);
  as_buf_puts(&b, "{\"name\":\"n\",\"source_event_types\":[],\"enabled\":true,\"operators\":["
                  "{\"type\":\"filter\",\"field\":\"a\",\"op\":\"eq\",\"value\":\"");
  for (int i = 0; i < 5000; i++) as_buf_putc(&b, 'x');
  as_buf_puts(&b, "\"}]}");
  CHECK(as_pdef_parse(b.data, b.len, GEN, &d, &e) == AS_ELIMIT);
  CHECK_EQ_STR(e.field, "operators[0].value");
  as_buf_reset(&b);
  as_buf_puts(&b, "{\"name\":\"");
  for (int i = 0; i < 70000; i++) as_buf_putc(&b, 'n');
  as_buf_puts(&b, "\"}");
  CHECK(as_pdef_parse(b.data, b.len, GEN, &d, &e) == AS_ELIMIT);
  as_buf_reset(&b);
  for (int i = 0; i < 40; i++) as_buf_puts(&b, "{\"a\":");
  as_buf_puts(&b, "1");
  for (int i = 0; i < 40; i++) as_buf_puts(&b, "}");
  CHECK(as_pdef_parse(b.data, b.len, GEN, &d, &e) == AS_EJSON);
  CHECK(strstr(e.message, "nesting") != NULL);
  as_buf_free(&b);
}

AS_TEST(canonical_config_round_trips) {
  const char *cfg =
      "{\"id\":\"0F8FAD5B-D9CB-469F-A165-70867728950E\",\"name\":\"us\\u0020rev\","
      "\"description\":\"d\",\"source_event_types\":[\"order.placed\"],\"operators\":["
      "{\"type\":\"filter\",\"field\":\"country\",\"op\":\"eq\",\"value\":\"US\",\"x\":1},\n"
      "{\"type\":\"reduce\",\"field\":\"amount\",\"function\":\"sum\",\"group_by\":\"plan\"}],"
      "\"enabled\":true,\"output\":\"v\",\"start_from\":\"beginning\",\"unknown\":[1]}";
  as_buf a, b;
  as_buf_init(&a, 0);
  as_buf_init(&b, 0);
  CHECK_OK(as_pipeline_config_check(cfg, strlen(cfg), &a, NULL));
  CHECK_OK(as_pipeline_config_check(a.data, a.len, &b, NULL));
  CHECK_EQ_STR(a.data, b.data);
  CHECK(strstr(a.data, "\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"name\":\"us rev\"") != NULL);
  CHECK(strstr(a.data, "\"start_from\":\"beginning\"") != NULL);
  CHECK(strstr(a.data, "unknown") == NULL);
  as_buf_free(&a);
  as_buf_free(&b);
}

/* --- Allocation failures ------------------------------------------------------------------------ */

AS_TEST(allocation_failures_are_clean) {
  const char *cfg = CFG(
      "{\"type\":\"map\",\"field\":\"n.x\",\"transform\":\"uppercase\"},"
      "{\"type\":\"enrich\",\"source\":\"event\",\"fields\":[\"entity_id\"]},"
      "{\"type\":\"branch\",\"field\":\"c\",\"branches\":{\"a\":\"A\"}},"
      "{\"type\":\"reduce\",\"field\":\"v\",\"function\":\"sum\",\"group_by\":\"c\"},"
      "{\"type\":\"window\",\"config\":{\"window_type\":\"sliding\",\"size_seconds\":2,"
      "\"slide_seconds\":1},\"aggregation\":{\"type\":\"reduce\",\"field\":\"value\","
      "\"function\":\"max\",\"group_by\":\"group\"}}");
  int complete = 0;
  uint64_t n;
  for (n = 1; n < 2000; n++) {
    as_pdef *d = NULL;
    as_pstate *s = NULL;
    as__alloc_fail_after(n);
    as_err rc = as_pdef_parse(cfg, strlen(cfg), GEN, &d, NULL);
    if (!rc) rc = as_pstate_new(d, &s);
    uint64_t ok_events = 0;
    if (!rc) {
      for (int k = 0; k < 4; k++) {
        as_event ev;
        memset(&ev, 0, sizeof ev);
        ev.position = (uint64_t)k + 1;
        ev.timestamp_us = k * SEC;
        ev.entity_id = "e";
        ev.entity_id_len = 1;
        ev.event_type = "t";
        ev.event_type_len = 1;
        ev.payload = k % 2 ? "{\"c\":\"a\",\"v\":1,\"n\":{\"x\":\"q\"}}" : "{\"c\":\"b\",\"v\":2}";
        ev.payload_len = (uint32_t)strlen(ev.payload);
        as_pstate_apply(s, &ev);
      }
      as_pipeline_stats st;
      as_pstate_stats(s, &st);
      ok_events = st.events_processed;
      CHECK_EQ_INT(st.events_processed + st.events_failed, 4);
      as_buf b;
      as_buf_init(&b, 0);
      as_pstate_results(s, &b);
      as_buf_free(&b);
    }
    as__alloc_fail_after(0);
    bool injected = as__alloc_injected_failures() > 0;
    CHECK(rc == AS_OK || rc == AS_ENOMEM);
    as_pstate_free(s);
    as_pdef_free(d);
    if (ok_events == 4) complete++;
    if (!injected) break;
  }
  CHECK(n < 2000);
  CHECK(complete > 0);
  printf("# allocation failures injected at %" PRIu64 " points\n", n - 1);
}

/* --- The service ---------------------------------------------------------------------------------- */

static void quiet(void *ctx, as_log_level level, const char *msg) {}

typedef struct svc {
  as_db *db;
  as_pipelines *p;
} svc;

static bool svc_open(svc *f, const char *dir) {
  as_options o;
  as_options_init(&o);
  o.durability = dir ? AS_DURABILITY_SYNC : AS_DURABILITY_NONE;
  o.log_fn = quiet;
  o.snapshot_every_events = 0;
  o.snapshot_every_seconds = 0;
  as_error err;
  memset(f, 0, sizeof *f);
  if (as_db_open(dir, &o, &f->db, &err)) {
    fprintf(stderr, "open: %s\n", err.message);
    return false;
  }
  as_pipelines_config c;
  as_pipelines_config_init(&c);
  c.log_fn = quiet;
  c.max_pipelines = 4;
  as_pipeline_error e;
  if (as_pipelines_open(f->db, &c, &f->p, &e)) {
    fprintf(stderr, "pipelines: %s\n", e.message);
    as_db_close(f->db);
    return false;
  }
  return true;
}

static void svc_close(svc *f) {
  as_pipelines_free(f->p);
  as_db_close(f->db);
}

static void append(svc *f, const char *type, const char *payload) {
  as_event_in e;
  ev_init(&e, "ent", type, payload);
  CHECK_OK(as_append(f->db, &e, 1, NULL, NULL));
}

static as_err reg_cfg(svc *f, const char *cfg, as_pipeline_registered *out) {
  as_pipeline_registered local;
  as_pipeline_error e;
  as_err rc = as_pipelines_register(f->p, cfg, strlen(cfg), out ? out : &local, &e);
  if (rc) fprintf(stderr, "  register: %s %s\n", e.field, e.message);
  return rc;
}

static char *results_text(svc *f, const uint8_t id[16]) {
  as_buf b;
  as_buf_init(&b, 0);
  if (as_pipelines_results_json(f->p, id, &b)) {
    as_buf_free(&b);
    return NULL;
  }
  size_t n;
  return as_buf_detach(&b, &n);
}

#define SUM_CFG(id, start)                                                                  \
  "{\"id\":\"" id "\",\"name\":\"sum\",\"source_event_types\":[\"o\"],\"start_from\":" start \
  ",\"operators\":[{\"type\":\"filter\",\"field\":\"c\",\"op\":\"eq\",\"value\":\"US\"},"   \
  "{\"type\":\"reduce\",\"field\":\"a\",\"function\":\"sum\",\"group_by\":\"p\"}],"          \
  "\"enabled\":true}"
#define ID1 "11111111-1111-4111-8111-111111111111"
#define ID2 "22222222-2222-4222-8222-222222222222"

AS_TEST(service_start_positions_and_read_your_writes) {
  svc f;
  REQUIRE(svc_open(&f, NULL));
  append(&f, "o", "{\"c\":\"US\",\"a\":1,\"p\":\"x\"}");
  append(&f, "o", "{\"c\":\"US\",\"a\":2,\"p\":\"x\"}");
  as_pipeline_registered r1, r2;
  CHECK_OK(reg_cfg(&f, SUM_CFG(ID1, "\"now\""), &r1));
  CHECK_OK(reg_cfg(&f, SUM_CFG(ID2, "\"beginning\""), &r2));
  CHECK_EQ_INT(r1.start_position, 3);
  CHECK_EQ_INT(r2.start_position, 1);
  CHECK(!r1.replaced);
  append(&f, "o", "{\"c\":\"US\",\"a\":4,\"p\":\"x\"}");
  append(&f, "x", "{\"c\":\"US\",\"a\":8,\"p\":\"x\"}");
  as_pipeline_stats st;
  CHECK_OK(as_pipelines_stats(f.p, r1.id, &st));
  CHECK_EQ_INT(st.events_processed, 1);
  CHECK_EQ_INT(st.position, 4);
  CHECK_EQ_INT(st.start_position, 3);
  CHECK_OK(as_pipelines_stats(f.p, r2.id, &st));
  CHECK_EQ_INT(st.events_processed, 3);
  char *t = results_text(&f, r2.id);
  REQUIRE(t);
  CHECK(strstr(t, "{\"group\":\"x\",\"value\":7.0,\"count\":3}") != NULL);
  as_free(t);
  /* an explicit position */
  uint8_t id3[16];
  as_pipeline_registered r3;
  CHECK_OK(reg_cfg(&f, SUM_CFG("33333333-3333-4333-8333-333333333333", "2"), &r3));
  memcpy(id3, r3.id, 16);
  CHECK_OK(as_pipelines_stats(f.p, id3, &st));
  CHECK_EQ_INT(st.events_processed, 2);
  /* limits: 4 pipelines, then AS_ELIMIT; replacing still works */
  CHECK_OK(reg_cfg(&f, SUM_CFG("44444444-4444-4444-8444-444444444444", "\"now\""), NULL));
  as_pipeline_error e;
  as_pipeline_registered rr;
  const char *fifth = SUM_CFG("55555555-5555-4555-8555-555555555555", "\"now\"");
  CHECK(as_pipelines_register(f.p, fifth, strlen(fifth), &rr, &e) == AS_ELIMIT);
  CHECK_OK(reg_cfg(&f, SUM_CFG(ID2, "\"now\""), &rr));
  CHECK(rr.replaced);
  CHECK_OK(as_pipelines_stats(f.p, r2.id, &st));
  CHECK_EQ_INT(st.events_processed, 0);
  CHECK_EQ_INT(as_pipelines_count(f.p), 4);
  svc_close(&f);
}

AS_TEST(service_reset_and_delete) {
  svc f;
  REQUIRE(svc_open(&f, NULL));
  as_pipeline_registered r;
  CHECK_OK(reg_cfg(&f, SUM_CFG(ID1, "\"beginning\""), &r));
  append(&f, "o", "{\"c\":\"US\",\"a\":1,\"p\":\"x\"}");
  append(&f, "o", "{\"c\":\"DE\",\"a\":1,\"p\":\"x\"}");
  as_pipeline_stats st;
  CHECK_OK(as_pipelines_stats(f.p, r.id, &st));
  CHECK_EQ_INT(st.events_processed, 2);
  CHECK_EQ_INT(st.events_filtered, 1);
  uint64_t start = 0;
  CHECK_OK(as_pipelines_reset(f.p, r.id, &start, NULL));
  CHECK_EQ_INT(start, 3);
  CHECK_OK(as_pipelines_stats(f.p, r.id, &st));
  CHECK_EQ_INT(st.events_processed, 0);
  CHECK_EQ_INT(st.start_position, 3);
  CHECK(st.last_processed_us == AS_TIME_MIN);
  append(&f, "o", "{\"c\":\"US\",\"a\":5,\"p\":\"y\"}");
  char *t = results_text(&f, r.id);
  REQUIRE(t);
  CHECK(strstr(t, "\"groups\":[{\"group\":\"y\",\"value\":5.0,\"count\":1}]") != NULL);
  as_free(t);
  CHECK_OK(as_pipelines_delete(f.p, r.id, NULL));
  CHECK(as_pipelines_delete(f.p, r.id, NULL) == AS_ENOTFOUND);
  CHECK(as_pipelines_stats(f.p, r.id, &st) == AS_ENOTFOUND);
  CHECK(as_pipelines_reset(f.p, r.id, NULL, NULL) == AS_ENOTFOUND);
  CHECK(results_text(&f, r.id) == NULL);
  as_buf b;
  as_buf_init(&b, 0);
  CHECK(as_pipelines_config_json(f.p, r.id, &b) == AS_ENOTFOUND);
  as_buf_free(&b);
  CHECK_EQ_INT(as_pipelines_count(f.p), 0);
  svc_close(&f);
}

AS_TEST(service_persists_definitions_and_rebuilds_state) {
  char dir[256];
  REQUIRE(make_tmpdir(dir, sizeof dir));
  svc f;
  REQUIRE(svc_open(&f, dir));
  as_pipeline_registered r1, r2, r3;
  for (int i = 0; i < 20; i++) {
    char p[96];
    snprintf(p, sizeof p, "{\"c\":\"%s\",\"a\":%d.25,\"p\":\"g%d\"}", i % 3 ? "US" : "DE", i, i % 4);
    append(&f, "o", p);
    if (i == 4) CHECK_OK(reg_cfg(&f, SUM_CFG(ID1, "\"now\""), &r1));
    if (i == 9) CHECK_OK(reg_cfg(&f, SUM_CFG(ID2, "\"beginning\""), &r2));
    if (i == 11) CHECK_OK(reg_cfg(&f, SUM_CFG("33333333-3333-4333-8333-333333333333", "\"now\""), &r3));
    if (i == 14) CHECK_OK(as_pipelines_reset(f.p, r2.id, NULL, NULL));
    if (i == 16) CHECK_OK(as_pipelines_delete(f.p, r3.id, NULL));
  }
  char *a1 = results_text(&f, r1.id), *a2 = results_text(&f, r2.id);
  as_buf c1;
  as_buf_init(&c1, 0);
  CHECK_OK(as_pipelines_config_json(f.p, r2.id, &c1));
  svc_close(&f);
  REQUIRE(svc_open(&f, dir));
  CHECK_EQ_INT(as_pipelines_count(f.p), 2);
  char *b1 = results_text(&f, r1.id), *b2 = results_text(&f, r2.id);
  REQUIRE(a1 && a2 && b1 && b2);
  CHECK_EQ_STR(a1, b1);
  CHECK_EQ_STR(a2, b2);
  CHECK(strstr(b2, "\"start_position\":16") != NULL);
  as_buf c2;
  as_buf_init(&c2, 0);
  CHECK_OK(as_pipelines_config_json(f.p, r2.id, &c2));
  CHECK_EQ_STR(c1.data, c2.data);
  CHECK(results_text(&f, r3.id) == NULL);
  as_free(a1);
  as_free(a2);
  as_free(b1);
  as_free(b2);
  as_buf_free(&c1);
  as_buf_free(&c2);
  svc_close(&f);
  remove_tree(dir);
}

/* --- Threads --------------------------------------------------------------------------------------- */

typedef struct thr {
  svc *f;
  int n;
  _Atomic int *stop;
} thr;

static void *appender(void *arg) {
  thr *t = arg;
  for (int i = 0; i < t->n; i++) {
    as_event_in e;
    char p[96];
    snprintf(p, sizeof p, "{\"c\":\"US\",\"a\":%d,\"p\":\"g%d\"}", i % 7, i % 5);
    ev_init(&e, "ent", "o", p);
    as_append(t->f->db, &e, 1, NULL, NULL);
  }
  return NULL;
}

static void *changer(void *arg) {
  thr *t = arg;
  int k = 0;
  while (!atomic_load(t->stop)) {
    const char *cfg = SUM_CFG(ID2, "\"beginning\"");
    as_pipeline_registered r;
    as_pipelines_register(t->f->p, cfg, strlen(cfg), &r, NULL);
    as_pipeline_stats st;
    as_pipelines_stats(t->f->p, r.id, &st);
    if (k % 3 == 0) as_pipelines_reset(t->f->p, r.id, NULL, NULL);
    if (k % 5 == 0) as_pipelines_delete(t->f->p, r.id, NULL);
    char *s = results_text(t->f, r.id);
    as_free(s);
    k++;
  }
  return NULL;
}

AS_TEST(changes_race_appends_safely_and_counts_stay_exact) {
  svc f;
  REQUIRE(svc_open(&f, NULL));
  as_pipeline_registered r;
  CHECK_OK(reg_cfg(&f, SUM_CFG(ID1, "\"beginning\""), &r));
  _Atomic int stop = 0;
  thr ta = {&f, 3000, &stop}, tb = {&f, 3000, &stop}, tc = {&f, 0, &stop};
  pthread_t a, b, c;
  REQUIRE(pthread_create(&a, NULL, appender, &ta) == 0);
  REQUIRE(pthread_create(&b, NULL, appender, &tb) == 0);
  REQUIRE(pthread_create(&c, NULL, changer, &tc) == 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  atomic_store(&stop, 1);
  pthread_join(c, NULL);
  /* ID1 saw every event exactly once: its sums equal a direct computation */
  as_pipeline_stats st;
  CHECK_OK(as_pipelines_stats(f.p, r.id, &st));
  CHECK_EQ_INT(st.events_processed, 6000);
  CHECK_EQ_INT(st.position, 6000);
  char *t = results_text(&f, r.id);
  REQUIRE(t);
  double want[5] = {0};
  for (int i = 0; i < 3000; i++) want[i % 5] += 2.0 * (i % 7);
  for (int g = 0; g < 5; g++) {
    char needle[96];
    as_buf b2;
    as_buf_init(&b2, 0);
    as_pv_put_double(&b2, want[g]);
    snprintf(needle, sizeof needle, "{\"group\":\"g%d\",\"value\":%s,\"count\":1200}", g, b2.data);
    as_buf_free(&b2);
    CHECK(strstr(t, needle) != NULL);
  }
  as_free(t);
  svc_close(&f);
}

AS_TEST(free_while_catching_up_and_appending) {
  svc f;
  REQUIRE(svc_open(&f, NULL));
  as_event_in ev[500];
  for (int i = 0; i < 500; i++) ev_init(&ev[i], "ent", "o", "{\"c\":\"US\",\"a\":1,\"p\":\"x\"}");
  for (int k = 0; k < 40; k++) CHECK_OK(as_append(f.db, ev, 500, NULL, NULL));
  CHECK_OK(reg_cfg(&f, SUM_CFG(ID1, "\"beginning\""), NULL));
  CHECK_OK(reg_cfg(&f, SUM_CFG(ID2, "\"beginning\""), NULL));
  _Atomic int stop = 0;
  thr ta = {&f, 2000, &stop};
  pthread_t a;
  REQUIRE(pthread_create(&a, NULL, appender, &ta) == 0);
  usleep(1000);
  /* the worker is mid-history: freeing stops it after its current chunk */
  as_pipelines_free(f.p);
  pthread_join(a, NULL);
  as_db_close(f.db);
}

AS_TEST_MAIN()
