/* test_registry.c — the schema registry (src/services/as_registry.c):
 * versions, dedupe, compatibility modes (plain and transitive), soft
 * deletes, bounds, persistence across reopen, enforcement at ingest through
 * the engine's validator hook (single events and batches, off/warn/enforce,
 * subject suffix), validation on request, allocation failures, and
 * registrations racing appends from several threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "allsource.h"
#include "as_test.h"
#include "core/as_common.h"
#include "services/as_registry.h"
#include "test_util.h"

/* --- Fixture ------------------------------------------------------------ */

typedef struct fx {
  as_db *db;
  as_registry *reg;
} fx;

/* Opens a store (memory-only when dir is NULL) and its registry, with the
 * registry installed as the ingest validator. */
static bool fx_open(fx *f, const char *dir, const as_registry_config *cfg, as_err *rc_out) {
  as_options o;
  as_options_init(&o);
  o.durability = dir ? AS_DURABILITY_SYNC : AS_DURABILITY_NONE;
  o.log_level = AS_LOG_ERROR;
  as_error err;
  memset(f, 0, sizeof *f);
  if (as_db_open(dir, &o, &f->db, &err)) {
    fprintf(stderr, "open: %s\n", err.message);
    return false;
  }
  as_registry_config c;
  if (cfg) {
    c = *cfg;
  } else {
    as_registry_config_init(&c);
  }
  c.log_level = AS_LOG_ERROR;
  as_err rc = as_registry_open(f->db, &c, &f->reg, &err);
  if (rc_out) *rc_out = rc;
  if (rc) {
    if (!rc_out) fprintf(stderr, "registry: %s\n", err.message);
    as_db_close(f->db);
    f->db = NULL;
    return false;
  }
  as_db_set_validator(f->db, as_registry_check_event, f->reg);
  return true;
}

static void fx_close(fx *f) {
  as_db_close(f->db);
  as_registry_free(f->reg);
}

static as_err reg(fx *f, const char *subject, const char *schema, as_registry_result *res) {
  as_registry_result local;
  as_registry_result *r = res ? res : &local;
  as_err rc = as_registry_register(f->reg, subject, strlen(subject), schema, strlen(schema),
                                   NULL, 0, NULL, 0, r, NULL);
  if (!res) as_registry_result_free(&local);
  return rc;
}

static uint32_t reg_version(fx *f, const char *subject, const char *schema) {
  as_registry_result res;
  as_err rc = reg(f, subject, schema, &res);
  as_registry_result_free(&res);
  return rc ? 0 : res.version;
}

static as_err put(fx *f, const char *type, const char *payload, as_error *err) {
  as_event_in e;
  ev_init(&e, "ent", type, payload);
  return as_append(f->db, &e, 1, NULL, err);
}

/* Versions list as "1,2,3" (or "-" when not found). */
static const char *versions_str(fx *f, const char *subject, char *out, size_t cap) {
  uint32_t *v;
  size_t n;
  if (as_registry_versions(f->reg, subject, strlen(subject), &v, &n)) {
    snprintf(out, cap, "-");
    return out;
  }
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < n && o < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, "%s%u", i ? "," : "", v[i]);
  as_free(v);
  return out;
}

typedef struct got {
  uint32_t version;
  uint8_t id[16];
  int64_t created_us;
  char schema[512];
  char description[64];
  char tags[128];
  bool has_description, has_tags;
  as_subject_info info;
} got;

static void got_cb(void *arg, const as_schema_version *v, const as_subject_info *s) {
  got *g = arg;
  g->version = v->version;
  memcpy(g->id, v->id, 16);
  g->created_us = v->created_us;
  snprintf(g->schema, sizeof g->schema, "%.*s", (int)v->schema_len, v->schema);
  g->has_description = v->description != NULL;
  if (v->description)
    snprintf(g->description, sizeof g->description, "%.*s", (int)v->description_len,
             v->description);
  g->has_tags = v->tags != NULL;
  if (v->tags) snprintf(g->tags, sizeof g->tags, "%.*s", (int)v->tags_len, v->tags);
  g->info = *s;
}

static as_err get(fx *f, const char *subject, uint32_t version, got *g, bool *found) {
  memset(g, 0, sizeof *g);
  return as_registry_get(f->reg, subject, strlen(subject), version, got_cb, g, found);
}

#define S_INT "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]}"
#define S_NUM "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"}},\"required\":[\"a\"]}"
#define S_OPT "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"number\"}}}"
#define S_REQ_B \
  "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\",\"b\"]}"

/* --- Versions, dedupe, compatibility ----------------------------------- */

AS_TEST(versions_start_at_one_and_dedupe_returns_the_existing_one) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  as_registry_result r1, r2, r3;
  CHECK_OK(reg(&f, "user.created", S_INT, &r1));
  CHECK_EQ_INT(r1.version, 1);
  CHECK(!r1.existing);
  CHECK_EQ_INT(r1.mode, AS_COMPAT_BACKWARD);
  CHECK_EQ_INT(r1.id[6] >> 4, 7); /* UUIDv7 */
  /* Equal JSON (other whitespace and key order) is the same schema. */
  CHECK_OK(reg(&f, "user.created",
               " { \"required\" : [\"a\"], \"properties\":{\"a\":{\"type\":\"integer\"}},"
               "\"type\":\"object\"} ",
               &r2));
  CHECK_EQ_INT(r2.version, 1);
  CHECK(r2.existing);
  CHECK(memcmp(r1.id, r2.id, 16) == 0);
  CHECK_EQ_INT(r1.created_us, r2.created_us);
  CHECK_EQ_INT(reg_version(&f, "user.created", S_NUM), 2);
  CHECK_EQ_INT(reg_version(&f, "user.created", S_OPT), 3);
  /* An older live version is found too; nothing is added. */
  CHECK_OK(reg(&f, "user.created", S_INT, &r3));
  CHECK(r3.existing);
  CHECK_EQ_INT(r3.version, 1);
  char buf[64];
  CHECK_EQ_STR(versions_str(&f, "user.created", buf, sizeof buf), "1,2,3");
  got g;
  CHECK_OK(get(&f, "user.created", 0, &g, NULL));
  CHECK_EQ_INT(g.version, 3);
  CHECK_EQ_STR(g.schema, S_OPT);
  CHECK_EQ_INT(g.info.latest, 3);
  CHECK_EQ_INT(g.info.live_versions, 3);
  CHECK_OK(get(&f, "user.created", 1, &g, NULL));
  CHECK_EQ_STR(g.schema, S_INT);
  CHECK(!g.has_description && !g.has_tags);
  bool found = false;
  CHECK_EQ_INT(get(&f, "user.created", 4, &g, &found), AS_ENOTFOUND);
  CHECK(found);
  CHECK_EQ_INT(get(&f, "nope", 0, &g, &found), AS_ENOTFOUND);
  CHECK(!found);
  as_registry_result_free(&r1);
  as_registry_result_free(&r2);
  as_registry_result_free(&r3);
  fx_close(&f);
}

AS_TEST(schema_text_description_and_tags_are_kept) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  const char *schema = "{ \"type\" : \"object\",\n  \"x-big\": 12345678901234567890 }";
  const char *tags = " [ \"pii\" , \"caf\\u00e9\" ] ";
  as_registry_result res;
  CHECK_OK(as_registry_register(f.reg, "s", 1, schema, strlen(schema), "about s", 7, tags,
                                strlen(tags), &res, NULL));
  as_registry_result_free(&res);
  got g;
  CHECK_OK(get(&f, "s", 1, &g, NULL));
  CHECK_EQ_STR(g.schema, schema);
  CHECK(g.has_description);
  CHECK_EQ_STR(g.description, "about s");
  CHECK_EQ_STR(g.tags, "[\"pii\",\"caf\xc3\xa9\"]");
  fx_close(&f);
}

AS_TEST(incompatible_schemas_are_refused_with_paths_and_versions) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "t", S_INT), 1);
  as_registry_result res;
  as_error err;
  as_err rc = as_registry_register(f.reg, "t", 1, S_REQ_B, strlen(S_REQ_B), NULL, 0, NULL, 0,
                                   &res, &err);
  CHECK_EQ_INT(rc, AS_ECONFLICT);
  CHECK(!res.report.compatible);
  REQUIRE(res.report.n_issues >= 1);
  CHECK_EQ_STR(res.report.issues[0].path, "/required");
  CHECK(strstr(res.report.issues[0].message, "\"b\"") != NULL);
  CHECK_EQ_INT(res.report.issues[0].version, 1);
  CHECK_EQ_INT(res.report.issues[0].direction, AS_COMPAT_DIR_BACKWARD);
  CHECK(strstr(err.message, "BACKWARD") != NULL);
  CHECK_EQ_STR(err.field, "schema");
  as_registry_result_free(&res);
  char buf[64];
  CHECK_EQ_STR(versions_str(&f, "t", buf, sizeof buf), "1");
  /* Narrowing a type breaks BACKWARD but not FORWARD. */
  CHECK_EQ_INT(reg_version(&f, "n", S_NUM), 1);
  CHECK_EQ_INT(reg(&f, "n", S_INT, NULL), AS_ECONFLICT);
  CHECK_OK(as_registry_set_compatibility(f.reg, "n", 1, AS_COMPAT_FORWARD, NULL));
  CHECK_EQ_INT(reg_version(&f, "n", S_INT), 2);
  /* ... and widening it back breaks FORWARD; FULL refuses both ways. */
  CHECK_EQ_INT(reg(&f, "n", S_NUM "", NULL), AS_OK); /* equal to v1: dedupe wins */
  CHECK_EQ_INT(reg(&f, "n", S_OPT, NULL), AS_ECONFLICT);
  CHECK_OK(as_registry_set_compatibility(f.reg, "n", 1, AS_COMPAT_FULL, NULL));
  CHECK_EQ_INT(reg(&f, "n", S_OPT, NULL), AS_ECONFLICT);
  CHECK_EQ_INT(reg(&f, "n", S_REQ_B, NULL), AS_ECONFLICT);
  /* NONE accepts anything. */
  CHECK_OK(as_registry_set_compatibility(f.reg, "n", 1, AS_COMPAT_NONE, NULL));
  CHECK_EQ_INT(reg_version(&f, "n", "{\"type\":\"string\"}"), 3);
  /* A subject's mode does not leak to others; the global one is the default. */
  as_subject_info info;
  as_registry_subject_info(f.reg, "t", 1, &info);
  CHECK_EQ_INT(info.compatibility, AS_COMPAT_BACKWARD);
  CHECK(!info.compatibility_set);
  CHECK_OK(as_registry_set_compatibility(f.reg, NULL, 0, AS_COMPAT_NONE, NULL));
  CHECK_EQ_INT(reg_version(&f, "t", S_REQ_B), 2);
  fx_close(&f);
}

AS_TEST(transitive_modes_check_every_live_version) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_OK(as_registry_set_compatibility(f.reg, "h", 1, AS_COMPAT_NONE, NULL));
  CHECK_EQ_INT(reg_version(&f, "h", "{\"type\":\"integer\"}"), 1);
  CHECK_EQ_INT(reg_version(&f, "h", "{\"type\":\"string\"}"), 2);
  const char *v3 = "{\"type\":[\"string\",\"null\"]}";
  /* BACKWARD compares with v2 only: fine.  TRANSITIVE also with v1. */
  CHECK_OK(as_registry_set_compatibility(f.reg, "h", 1, AS_COMPAT_BACKWARD_TRANSITIVE, NULL));
  as_registry_result res;
  CHECK_EQ_INT(reg(&f, "h", v3, &res), AS_ECONFLICT);
  REQUIRE(res.report.n_issues >= 1);
  for (size_t i = 0; i < res.report.n_issues; i++) CHECK_EQ_INT(res.report.issues[i].version, 1);
  as_registry_result_free(&res);
  /* Deleted versions are not compared with. */
  CHECK_OK(as_registry_delete_version(f.reg, "h", 1, 1, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "h", v3), 3);
  /* FORWARD_TRANSITIVE: v4 = string must be readable by v2 and v3. */
  CHECK_OK(as_registry_set_compatibility(f.reg, "h", 1, AS_COMPAT_FORWARD_TRANSITIVE, NULL));
  CHECK_EQ_INT(reg_version(&f, "h", "{\"type\":\"string\",\"maxLength\":5}"), 4);
  CHECK_EQ_INT(reg(&f, "h", "{\"type\":[\"string\",\"null\",\"integer\"]}", NULL), AS_ECONFLICT);
  CHECK_OK(as_registry_set_compatibility(f.reg, "h", 1, AS_COMPAT_FULL_TRANSITIVE, NULL));
  CHECK_EQ_INT(reg(&f, "h", "{\"type\":\"string\",\"maxLength\":3}", NULL), AS_ECONFLICT);
  char buf[64];
  CHECK_EQ_STR(versions_str(&f, "h", buf, sizeof buf), "2,3,4");
  fx_close(&f);
}

/* --- Soft deletes ------------------------------------------------------- */

typedef struct names {
  char list[256];
} names;

static void name_cb(void *arg, const char *name, size_t len) {
  names *n = arg;
  size_t o = strlen(n->list);
  snprintf(n->list + o, sizeof n->list - o, "%s%.*s", o ? "," : "", (int)len, name);
}

static const char *subjects_str(fx *f, names *n) {
  n->list[0] = '\0';
  size_t count = 99;
  if (as_registry_subjects(f->reg, name_cb, n, &count)) return "error";
  size_t commas = 0;
  for (const char *p = n->list; *p; p++) commas += *p == ',';
  if (count != (n->list[0] ? commas + 1 : 0)) return "bad count";
  return n->list;
}

AS_TEST(soft_deletes_hide_versions_and_never_reuse_numbers) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "b", S_INT), 1);
  CHECK_EQ_INT(reg_version(&f, "a", S_INT), 1);
  CHECK_EQ_INT(reg_version(&f, "a", S_NUM), 2);
  CHECK_EQ_INT(reg_version(&f, "a.x", S_INT), 1);
  names n;
  CHECK_EQ_STR(subjects_str(&f, &n), "a,a.x,b");
  uint32_t deleted = 0;
  CHECK_OK(as_registry_delete_version(f.reg, "a", 1, 0, &deleted, NULL)); /* latest */
  CHECK_EQ_INT(deleted, 2);
  got g;
  bool found;
  CHECK_EQ_INT(get(&f, "a", 2, &g, &found), AS_ENOTFOUND);
  CHECK(found);
  CHECK_OK(get(&f, "a", 0, &g, NULL));
  CHECK_EQ_INT(g.version, 1);
  CHECK_EQ_INT(as_registry_delete_version(f.reg, "a", 1, 2, NULL, NULL), AS_ENOTFOUND);
  CHECK_EQ_INT(as_registry_delete_version(f.reg, "a", 1, 9, NULL, NULL), AS_ENOTFOUND);
  /* Re-registering the deleted schema makes a new version (3, not 2). */
  CHECK_EQ_INT(reg_version(&f, "a", S_NUM), 3);
  char buf[64];
  CHECK_EQ_STR(versions_str(&f, "a", buf, sizeof buf), "1,3");
  uint32_t *v;
  size_t nv;
  CHECK_OK(as_registry_delete_subject(f.reg, "a", 1, &v, &nv, NULL));
  CHECK_EQ_INT(nv, 2);
  if (nv == 2) CHECK(v[0] == 1 && v[1] == 3);
  as_free(v);
  CHECK_EQ_STR(subjects_str(&f, &n), "a.x,b");
  CHECK_EQ_INT(get(&f, "a", 1, &g, &found), AS_ENOTFOUND);
  CHECK(!found);
  CHECK_EQ_STR(versions_str(&f, "a", buf, sizeof buf), "-");
  CHECK_EQ_INT(as_registry_delete_subject(f.reg, "a", 1, NULL, NULL, NULL), AS_ENOTFOUND);
  /* The subject comes back with fresh numbers and no compatibility check
   * against its deleted versions. */
  CHECK_EQ_INT(reg_version(&f, "a", "{\"type\":\"string\"}"), 4);
  CHECK_EQ_STR(subjects_str(&f, &n), "a,a.x,b");
  fx_close(&f);
}

/* --- Bounds and bad input ------------------------------------------------ */

AS_TEST(bad_input_and_limits) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  as_error err;
  as_registry_result res;
  char name[AS_REGISTRY_MAX_SUBJECT_LEN + 2];
  memset(name, 'x', sizeof name);
  name[AS_REGISTRY_MAX_SUBJECT_LEN] = '\0';
  CHECK_EQ_INT(reg_version(&f, name, "true"), 1); /* 200 bytes: fine */
  name[AS_REGISTRY_MAX_SUBJECT_LEN] = 'x';
  name[AS_REGISTRY_MAX_SUBJECT_LEN + 1] = '\0';
  const char *bad[] = {name, "", "a b", "a/b", "caf\xc3\xa9", ".", "..", "config", "validate",
                       "x\"y"};
  for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
    CHECK_EQ_INT(as_registry_register(f.reg, bad[i], strlen(bad[i]), "{}", 2, NULL, 0, NULL, 0,
                                      &res, &err),
                 AS_EINVAL);
    CHECK_EQ_STR(err.field, "subject");
    as_registry_result_free(&res);
    CHECK(!as_registry_subject_valid(bad[i], strlen(bad[i])));
  }
  CHECK(as_registry_subject_valid("A-z_0.9", 7));
  CHECK(as_registry_subject_valid("configs", 7));
  struct {
    const char *schema;
    as_err rc;
    const char *in_message;
  } cases[] = {
      {"{\"type\":", AS_EJSON, "not valid JSON"},
      {"{\"type\":5}", AS_EINVAL, "type"},
      {"{\"pattern\":\"(\"}", AS_EINVAL, "pattern"},
      {"{\"$ref\":\"#/nowhere\"}", AS_EINVAL, "nowhere"},
      {"42", AS_EINVAL, ""},
      {"{\"x\":1e999}", AS_EINVAL, ""},
  };
  for (size_t i = 0; i < AS_ARRAY_LEN(cases); i++) {
    as_err rc = as_registry_register(f.reg, "s", 1, cases[i].schema, strlen(cases[i].schema),
                                     NULL, 0, NULL, 0, &res, &err);
    CHECK_EQ_INT(rc, cases[i].rc);
    CHECK_EQ_STR(err.field, "schema");
    if (!strstr(err.message, cases[i].in_message))
      fprintf(stderr, "  case %zu: %s\n", i, err.message);
    CHECK(strstr(err.message, cases[i].in_message) != NULL);
    as_registry_result_free(&res);
  }
  /* Nesting: 63 levels pass, 64 do not ("deep" nests depth levels). */
  char deep[200];
  for (unsigned depth = AS_REGISTRY_MAX_SCHEMA_DEPTH - 1; depth <= AS_REGISTRY_MAX_SCHEMA_DEPTH;
       depth++) {
    size_t o = 0;
    for (unsigned i = 0; i < depth - 1; i++) deep[o++] = '[';
    deep[o++] = '{';
    deep[o++] = '}';
    for (unsigned i = 0; i < depth - 1; i++) deep[o++] = ']';
    deep[o] = '\0';
    char sch[256];
    snprintf(sch, sizeof sch, "{\"const\":%s}", deep);
    /* the wrapper object adds a level */
    as_err rc = reg(&f, "deep", sch, NULL);
    CHECK_EQ_INT(rc, depth + 1 <= AS_REGISTRY_MAX_SCHEMA_DEPTH ? AS_OK : AS_ELIMIT);
  }
  /* Size: 1 MiB passes, one byte more does not. */
  size_t big = AS_REGISTRY_MAX_SCHEMA_BYTES;
  char *text = malloc(big + 2);
  REQUIRE(text);
  const char *head = "{\"description\":\"";
  memcpy(text, head, strlen(head));
  memset(text + strlen(head), 'd', big - strlen(head) - 2);
  memcpy(text + big - 2, "\"}", 3);
  CHECK_OK(as_registry_register(f.reg, "big", 3, text, big, NULL, 0, NULL, 0, &res, NULL));
  as_registry_result_free(&res);
  memcpy(text + big - 2, "d\"}", 4);
  CHECK_EQ_INT(as_registry_register(f.reg, "big", 3, text, big + 1, NULL, 0, NULL, 0, &res, &err),
               AS_ELIMIT);
  as_registry_result_free(&res);
  free(text);
  /* Tags and description. */
  const char *bad_tags[] = {"{}", "[1]", "[[\"a\"]]", "\"a\""};
  for (size_t i = 0; i < AS_ARRAY_LEN(bad_tags); i++) {
    CHECK_EQ_INT(as_registry_register(f.reg, "s", 1, "{}", 2, NULL, 0, bad_tags[i],
                                      strlen(bad_tags[i]), &res, &err),
                 AS_EINVAL);
    CHECK_EQ_STR(err.field, "tags");
    as_registry_result_free(&res);
  }
  char many[1024];
  size_t mo = (size_t)snprintf(many, sizeof many, "[\"t\"");
  for (unsigned i = 1; i <= AS_REGISTRY_MAX_TAGS; i++)
    mo += (size_t)snprintf(many + mo, sizeof many - mo, ",\"t\"");
  snprintf(many + mo, sizeof many - mo, "]");
  CHECK_EQ_INT(as_registry_register(f.reg, "s", 1, "{}", 2, NULL, 0, many, strlen(many), &res,
                                    &err),
               AS_ELIMIT);
  as_registry_result_free(&res);
  char desc[AS_REGISTRY_MAX_DESCRIPTION + 1];
  memset(desc, 'd', sizeof desc);
  CHECK_EQ_INT(as_registry_register(f.reg, "s", 1, "{}", 2, desc, sizeof desc, NULL, 0, &res,
                                    &err),
               AS_EINVAL);
  CHECK_EQ_STR(err.field, "description");
  as_registry_result_free(&res);
  CHECK_OK(as_registry_register(f.reg, "s", 1, "{}", 2, desc, sizeof desc - 1, NULL, 0, &res,
                                NULL));
  as_registry_result_free(&res);
  CHECK_EQ_INT(as_registry_set_compatibility(f.reg, "a b", 3, AS_COMPAT_NONE, &err), AS_EINVAL);
  CHECK_EQ_INT(as_registry_set_enforcement(f.reg, "s", 1, (as_enforce_mode)7, &err), AS_EINVAL);
  as_enforce_mode m;
  CHECK_EQ_INT(as_enforce_mode_parse("ENFORCE", 7, &m), AS_EINVAL);
  CHECK_OK(as_enforce_mode_parse("warn", 4, &m));
  CHECK_EQ_INT(m, AS_ENFORCE_WARN);
  fx_close(&f);
}

AS_TEST(a_subject_holds_at_most_1000_versions) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_OK(as_registry_set_compatibility(f.reg, "v", 1, AS_COMPAT_NONE, NULL));
  char s[64];
  for (unsigned i = 1; i <= AS_REGISTRY_MAX_VERSIONS; i++) {
    snprintf(s, sizeof s, "{\"const\":%u}", i);
    if (reg_version(&f, "v", s) != i) {
      CHECK(!"registration failed");
      break;
    }
    if (i % 100 == 0) CHECK_OK(as_registry_delete_version(f.reg, "v", 1, i, NULL, NULL));
  }
  snprintf(s, sizeof s, "{\"const\":%u}", AS_REGISTRY_MAX_VERSIONS + 1);
  as_error err;
  as_registry_result res;
  CHECK_EQ_INT(as_registry_register(f.reg, "v", 1, s, strlen(s), NULL, 0, NULL, 0, &res, &err),
               AS_ELIMIT);
  as_registry_result_free(&res);
  CHECK(strstr(err.message, "1000") != NULL);
  /* An equal live schema is still found. */
  CHECK_EQ_INT(reg_version(&f, "v", "{\"const\":999}"), 999);
  fx_close(&f);
}

/* --- Enforcement at ingest ------------------------------------------------ */

AS_TEST(enforcement_rejects_invalid_events_and_whole_batches) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "order.placed",
                           "{\"type\":\"object\",\"properties\":{\"amount\":{\"type\":\"number\","
                           "\"minimum\":0},\"id\":{\"type\":\"string\",\"format\":\"uuid\"}},"
                           "\"required\":[\"amount\"]}"),
               1);
  as_error err;
  CHECK_OK(put(&f, "order.placed", "{\"amount\":12.5}", &err));
  CHECK_OK(put(&f, "other.type", "{\"amount\":\"free\"}", &err)); /* no subject */
  CHECK_EQ_INT(put(&f, "order.placed", "{\"amount\":\"12\"}", &err), AS_EINVAL);
  CHECK(as_registry_is_rejection(&err));
  CHECK_EQ_STR(err.field, "payload");
  CHECK_EQ_INT(err.index, 0);
  CHECK(strstr(err.message, "\"order.placed\" version 1") != NULL);
  CHECK(strstr(err.message, "/amount: expected number, got string") != NULL);
  CHECK(strstr(err.message, "[keyword /properties/amount/type]") != NULL);
  /* Formats are asserted. */
  CHECK_EQ_INT(put(&f, "order.placed", "{\"amount\":1,\"id\":\"not-a-uuid\"}", &err), AS_EINVAL);
  CHECK(strstr(err.message, "/id") != NULL);
  /* Several errors: the first is named, the rest counted. */
  CHECK_EQ_INT(put(&f, "order.placed", "{\"amount\":-1,\"id\":5}", &err), AS_EINVAL);
  CHECK(strstr(err.message, "1 more error") != NULL);
  /* Values jansson cannot read are refused, not waved through. */
  CHECK_EQ_INT(put(&f, "order.placed", "{\"amount\":1e999}", &err), AS_EINVAL);
  CHECK(as_registry_is_rejection(&err));
  /* A batch is all or nothing. */
  uint64_t before = as_db_committed_position(f.db);
  as_event_in b[3];
  ev_init(&b[0], "o1", "order.placed", "{\"amount\":1}");
  ev_init(&b[1], "o1", "other.type", "null");
  ev_init(&b[2], "o1", "order.placed", "{}");
  CHECK_EQ_INT(as_append(f.db, b, 3, NULL, &err), AS_EINVAL);
  CHECK_EQ_INT(err.index, 2);
  CHECK(strstr(err.message, "missing required property \"amount\"") != NULL);
  CHECK_EQ_INT(as_db_committed_position(f.db), before);
  b[2].payload = "{\"amount\":0}";
  b[2].payload_len = strlen(b[2].payload);
  CHECK_OK(as_append(f.db, b, 3, NULL, NULL));
  CHECK_EQ_INT(as_db_committed_position(f.db), before + 3);
  /* The engine's own errors are not mistaken for rejections. */
  CHECK_EQ_INT(put(&f, "order.placed", "{", &err), AS_EJSON);
  CHECK(!as_registry_is_rejection(&err));
  as_subject_info info;
  as_registry_subject_info(f.reg, "order.placed", 12, &info);
  CHECK_EQ_INT(info.rejected, 5);
  CHECK_EQ_INT(info.warned, 0);
  CHECK_EQ_INT(info.validated, 9);
  fx_close(&f);
}

AS_TEST(enforcement_modes_off_warn_enforce_per_subject_and_global) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "a", "{\"type\":\"integer\"}"), 1);
  CHECK_EQ_INT(reg_version(&f, "b", "{\"type\":\"integer\"}"), 1);
  as_error err;
  CHECK_EQ_INT(put(&f, "a", "\"x\"", &err), AS_EINVAL);
  CHECK_OK(as_registry_set_enforcement(f.reg, "a", 1, AS_ENFORCE_WARN, NULL));
  CHECK_OK(put(&f, "a", "\"x\"", &err));
  CHECK_OK(put(&f, "a", "\"y\"", &err));
  CHECK_EQ_INT(put(&f, "b", "\"x\"", &err), AS_EINVAL);
  as_subject_info info;
  as_registry_subject_info(f.reg, "a", 1, &info);
  CHECK_EQ_INT(info.warned, 2);
  CHECK_EQ_INT(info.rejected, 1);
  CHECK_EQ_INT(info.enforcement, AS_ENFORCE_WARN);
  CHECK(info.enforcement_set);
  /* Global off: b is no longer checked, a keeps its own mode. */
  CHECK_OK(as_registry_set_enforcement(f.reg, NULL, 0, AS_ENFORCE_OFF, NULL));
  CHECK_OK(put(&f, "b", "\"x\"", &err));
  as_registry_subject_info(f.reg, "b", 1, &info);
  CHECK_EQ_INT(info.validated, 1); /* only the first one was looked at */
  CHECK_OK(put(&f, "a", "\"x\"", &err));
  as_registry_subject_info(f.reg, "a", 1, &info);
  CHECK_EQ_INT(info.warned, 3);
  /* Subject enforce beats global off. */
  CHECK_OK(as_registry_set_enforcement(f.reg, "b", 1, AS_ENFORCE_ENFORCE, NULL));
  CHECK_EQ_INT(put(&f, "b", "\"x\"", &err), AS_EINVAL);
  CHECK_OK(as_registry_set_enforcement(f.reg, "a", 1, AS_ENFORCE_OFF, NULL));
  CHECK_OK(as_registry_set_enforcement(f.reg, NULL, 0, AS_ENFORCE_ENFORCE, NULL));
  CHECK_OK(put(&f, "a", "\"x\"", &err)); /* a: off */
  as_registry_settings st;
  as_registry_settings_get(f.reg, &st);
  CHECK_EQ_INT(st.enforcement, AS_ENFORCE_ENFORCE);
  CHECK_EQ_INT(st.compatibility, AS_COMPAT_BACKWARD);
  CHECK_EQ_INT(st.subjects, 2);
  CHECK_EQ_INT(st.warned, 3);
  CHECK_EQ_INT(st.rejected, 3);
  CHECK_EQ_STR(st.subject_suffix, "");
  fx_close(&f);
}

AS_TEST(enforcement_follows_the_latest_live_version) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "t", S_INT), 1);
  as_error err;
  CHECK_EQ_INT(put(&f, "t", "{\"a\":1.5}", &err), AS_EINVAL);
  CHECK_EQ_INT(reg_version(&f, "t", S_NUM), 2);
  CHECK_OK(put(&f, "t", "{\"a\":1.5}", &err));
  CHECK_OK(as_registry_delete_version(f.reg, "t", 1, 2, NULL, NULL));
  CHECK_EQ_INT(put(&f, "t", "{\"a\":1.5}", &err), AS_EINVAL);
  CHECK(strstr(err.message, "version 1") != NULL);
  CHECK_OK(as_registry_delete_subject(f.reg, "t", 1, NULL, NULL, NULL));
  CHECK_OK(put(&f, "t", "{\"a\":\"anything\"}", &err)); /* deleted: not checked */
  fx_close(&f);
}

AS_TEST(subject_suffix_maps_event_types) {
  as_registry_config c;
  as_registry_config_init(&c);
  c.subject_suffix = "-value";
  fx f;
  REQUIRE(fx_open(&f, NULL, &c, NULL));
  CHECK_EQ_INT(reg_version(&f, "t-value", "{\"type\":\"integer\"}"), 1);
  CHECK_EQ_INT(reg_version(&f, "u", "{\"type\":\"integer\"}"), 1);
  as_error err;
  CHECK_EQ_INT(put(&f, "t", "\"x\"", &err), AS_EINVAL);
  CHECK(strstr(err.message, "\"t-value\"") != NULL);
  CHECK_OK(put(&f, "u", "\"x\"", &err));       /* u maps to u-value: none */
  CHECK_OK(put(&f, "t-value", "\"x\"", &err)); /* t-value-value: none */
  char out[AS_REGISTRY_MAX_SUBJECT_LEN + 1];
  CHECK_EQ_INT(as_registry_subject_of(f.reg, "config", 6, out, sizeof out), 12);
  CHECK_EQ_STR(out, "config-value");
  CHECK_EQ_INT(as_registry_subject_of(f.reg, "a b", 3, out, sizeof out), 0);
  char longtype[AS_MAX_EVENT_TYPE_LEN + 1];
  memset(longtype, 't', AS_MAX_EVENT_TYPE_LEN);
  longtype[AS_MAX_EVENT_TYPE_LEN] = '\0';
  CHECK_EQ_INT(as_registry_subject_of(f.reg, longtype, AS_MAX_EVENT_TYPE_LEN, out, sizeof out),
               AS_MAX_EVENT_TYPE_LEN + 6);
  as_registry_settings st;
  as_registry_settings_get(f.reg, &st);
  CHECK_EQ_STR(st.subject_suffix, "-value");
  fx_close(&f);
  as_registry *r;
  c.subject_suffix = "a/b";
  CHECK_EQ_INT(as_registry_open(NULL, &c, &r, NULL), AS_EINVAL);
}

/* --- Validation on request ------------------------------------------------- */

AS_TEST(validate_on_request_any_version) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "t", S_INT), 1);
  CHECK_EQ_INT(reg_version(&f, "t", S_NUM), 2);
  as_jsonschema_result res;
  uint32_t used;
  bool found;
  const char *p = "{\"a\":1.5,\"b\":{}}";
  CHECK_OK(as_registry_validate(f.reg, "t", 1, 0, p, strlen(p), &used, &res, &found, NULL));
  CHECK(res.valid);
  CHECK_EQ_INT(used, 2);
  as_jsonschema_result_free(&res);
  CHECK_OK(as_registry_validate(f.reg, "t", 1, 1, p, strlen(p), &used, &res, &found, NULL));
  CHECK(!res.valid);
  CHECK_EQ_INT(used, 1);
  REQUIRE(res.n_errors == 1);
  CHECK_EQ_STR(res.errors[0].instance_path, "/a");
  CHECK_EQ_STR(res.errors[0].keyword_path, "/properties/a/type");
  as_jsonschema_result_free(&res);
  CHECK_EQ_INT(as_registry_validate(f.reg, "t", 1, 3, p, strlen(p), &used, &res, &found, NULL),
               AS_ENOTFOUND);
  CHECK(found);
  as_jsonschema_result_free(&res);
  CHECK_EQ_INT(as_registry_validate(f.reg, "x", 1, 0, p, strlen(p), &used, &res, &found, NULL),
               AS_ENOTFOUND);
  CHECK(!found);
  as_jsonschema_result_free(&res);
  CHECK_EQ_INT(as_registry_validate(f.reg, "t", 1, 0, "{", 1, &used, &res, &found, NULL),
               AS_EJSON);
  as_jsonschema_result_free(&res);
  /* Counters are for ingest only. */
  as_subject_info info;
  as_registry_subject_info(f.reg, "t", 1, &info);
  CHECK_EQ_INT(info.validated, 0);
  fx_close(&f);
}

/* --- Persistence ------------------------------------------------------------- */

AS_TEST(everything_survives_a_reopen) {
  char dir[256];
  REQUIRE(make_tmpdir(dir, sizeof dir));
  fx f;
  REQUIRE(fx_open(&f, dir, NULL, NULL));
  as_registry_result r1;
  const char *tags = "[\"x\"]";
  CHECK_OK(as_registry_register(f.reg, "t", 1, " " S_INT "\n", strlen(S_INT) + 2, "first", 5,
                                tags, strlen(tags), &r1, NULL));
  CHECK_EQ_INT(reg_version(&f, "t", S_NUM), 2);
  CHECK_EQ_INT(reg_version(&f, "t", S_OPT), 3);
  CHECK_OK(as_registry_delete_version(f.reg, "t", 1, 2, NULL, NULL));
  CHECK_EQ_INT(reg_version(&f, "gone", S_INT), 1);
  CHECK_OK(as_registry_delete_subject(f.reg, "gone", 4, NULL, NULL, NULL));
  CHECK_OK(as_registry_set_compatibility(f.reg, "t", 1, AS_COMPAT_FULL, NULL));
  CHECK_OK(as_registry_set_compatibility(f.reg, NULL, 0, AS_COMPAT_FORWARD, NULL));
  CHECK_OK(as_registry_set_enforcement(f.reg, "w", 1, AS_ENFORCE_WARN, NULL));
  CHECK_EQ_INT(reg_version(&f, "w", "{\"type\":\"integer\"}"), 1);
  CHECK_OK(as_registry_set_enforcement(f.reg, NULL, 0, AS_ENFORCE_OFF, NULL));
  as_registry_result_free(&r1);
  fx_close(&f);

  REQUIRE(fx_open(&f, dir, NULL, NULL));
  char buf[64];
  CHECK_EQ_STR(versions_str(&f, "t", buf, sizeof buf), "1,3");
  got g;
  CHECK_OK(get(&f, "t", 1, &g, NULL));
  CHECK(memcmp(g.id, r1.id, 16) == 0);
  CHECK_EQ_INT(g.created_us, r1.created_us);
  CHECK_EQ_STR(g.schema, S_INT); /* surrounding whitespace trimmed, rest exact */
  CHECK_EQ_STR(g.description, "first");
  CHECK_EQ_STR(g.tags, tags);
  CHECK_EQ_INT(g.info.compatibility, AS_COMPAT_FULL);
  CHECK_EQ_INT(g.info.latest, 3);
  names n;
  CHECK_EQ_STR(subjects_str(&f, &n), "t,w");
  as_registry_settings st;
  as_registry_settings_get(f.reg, &st);
  CHECK_EQ_INT(st.compatibility, AS_COMPAT_FORWARD);
  CHECK_EQ_INT(st.enforcement, AS_ENFORCE_OFF);
  as_subject_info info;
  as_registry_subject_info(f.reg, "w", 1, &info);
  CHECK_EQ_INT(info.enforcement, AS_ENFORCE_WARN);
  /* Enforcement after the reopen: t is off (global), w warns. */
  as_error err;
  CHECK_OK(put(&f, "t", "{}", &err));
  CHECK_OK(put(&f, "w", "\"x\"", &err));
  as_registry_subject_info(f.reg, "w", 1, &info);
  CHECK_EQ_INT(info.warned, 1);
  CHECK_OK(as_registry_set_enforcement(f.reg, "t", 1, AS_ENFORCE_ENFORCE, NULL));
  CHECK_EQ_INT(put(&f, "t", "{\"a\":\"s\"}", &err), AS_EINVAL);
  CHECK(strstr(err.message, "version 3") != NULL);
  /* Numbers continue after deleted ones. */
  CHECK_EQ_INT(reg_version(&f, "gone", "{}"), 2);
  fx_close(&f);

  /* A start-up flag pins the global enforcement over the saved one. */
  as_registry_config c;
  as_registry_config_init(&c);
  c.enforcement = AS_ENFORCE_WARN;
  c.pin_enforcement = true;
  REQUIRE(fx_open(&f, dir, &c, NULL));
  as_registry_settings_get(f.reg, &st);
  CHECK_EQ_INT(st.enforcement, AS_ENFORCE_WARN);
  CHECK_EQ_INT(st.compatibility, AS_COMPAT_FORWARD);
  CHECK_EQ_STR(versions_str(&f, "gone", buf, sizeof buf), "2");
  fx_close(&f);
  remove_tree(dir);
}

AS_TEST(unreadable_records_stop_the_open) {
  char dir[256];
  REQUIRE(make_tmpdir(dir, sizeof dir));
  const char *bad[][3] = {
      {"schema.registered", "t", "{\"version\":2,\"id\":\"x\"}"},
      {"schema.registered", "t",
       "{\"version\":1,\"id\":\"01a21b35-f0e9-7043-8234-16baf4d93814\",\"created_us\":1}"},
      {"schema.deleted", "t", "{\"versions\":[1]}"},
      {"schema.config", "t", "{\"compatibility\":\"SIDEWAYS\"}"},
      {"schema.config", "bad name", "{}"},
      {"schema.other", "t", "{}"},
  };
  for (size_t i = 0; i < AS_ARRAY_LEN(bad); i++) {
    char sub[300];
    snprintf(sub, sizeof sub, "%s/%zu", dir, i);
    fx f;
    REQUIRE(fx_open(&f, sub, NULL, NULL));
    CHECK_EQ_INT(reg_version(&f, "ok", "{}"), 1);
    as_event_in e;
    ev_init(&e, bad[i][1], bad[i][0], bad[i][2]);
    CHECK_OK(as_append(as_db_meta(f.db), &e, 1, NULL, NULL));
    fx_close(&f);
    as_err rc = AS_OK;
    CHECK(!fx_open(&f, sub, NULL, &rc));
    CHECK_EQ_INT(rc, AS_ECORRUPT);
  }
  remove_tree(dir);
}

/* --- Allocation failures ---------------------------------------------------------- */

static void quiet(void *ctx, as_log_level level, const char *msg) {}

AS_TEST(allocation_failures_leave_a_consistent_registry) {
  as_registry_config c;
  as_registry_config_init(&c);
  c.log_fn = quiet;
  uint64_t nth;
  for (nth = 1; nth < 1000; nth++) {
    fx f;
    REQUIRE(fx_open(&f, NULL, &c, NULL));
    CHECK_EQ_INT(reg_version(&f, "t", S_INT), 1);
    as__alloc_fail_after(nth);
    as_err rc1 = reg(&f, "t", S_NUM, NULL);
    as_err rc2 = as_registry_delete_version(f.reg, "t", 1, 1, NULL, NULL);
    as_err rc3 = as_registry_set_enforcement(f.reg, "t", 1, AS_ENFORCE_WARN, NULL);
    as__alloc_fail_after(0);
    bool injected = as__alloc_injected_failures() > 0;
    CHECK(rc1 == AS_OK || rc1 == AS_ENOMEM);
    CHECK(rc2 == AS_OK || rc2 == AS_ENOMEM);
    CHECK(rc3 == AS_OK || rc3 == AS_ENOMEM);
    /* Whatever failed, the registry still works and agrees with itself. */
    char buf[64];
    versions_str(&f, "t", buf, sizeof buf);
    CHECK(!strcmp(buf, "1") || !strcmp(buf, "2") || !strcmp(buf, "1,2") || !strcmp(buf, "-"));
    as_error err;
    as_err prc = put(&f, "t", "{\"a\":\"s\"}", &err);
    CHECK(prc == AS_OK || prc == AS_EINVAL);
    CHECK_EQ_INT(reg_version(&f, "t", "{}") > 0, 1);
    CHECK_OK(put(&f, "t", "{\"a\":\"s\"}", &err)); /* {} is the latest now */
    fx_close(&f);
    if (!injected) break; /* every allocation was reached */
  }
  CHECK(nth < 1000);
  printf("# allocation failures injected at %" PRIu64 " points\n", nth - 1);
}

/* --- Threads ------------------------------------------------------------------ */

typedef struct race {
  fx *f;
  int id;
  _Atomic int *stop;
  uint64_t good_ok, bad_rejected, wrong;
} race;

static void *appender(void *arg) {
  race *r = arg;
  as_event_in b[4];
  char ent[16];
  snprintf(ent, sizeof ent, "e%d", r->id);
  for (int i = 0; !atomic_load(r->stop) || i < 200; i++) {
    /* good: valid under every version; bad: invalid under every version */
    ev_init(&b[0], ent, "race", "{\"n\":1,\"s\":\"x\"}");
    ev_init(&b[1], ent, "race", i % 2 ? "{\"n\":2}" : "{\"n\":3,\"s\":\"y\"}");
    ev_init(&b[2], ent, "unchecked", "{}");
    ev_init(&b[3], ent, "race", "{\"n\":\"nope\"}");
    as_error err;
    as_err rc = as_append(r->f->db, b, i % 3 == 0 ? 4 : 3, NULL, &err);
    if (i % 3 == 0) {
      if (rc == AS_EINVAL && err.index == 3 && as_registry_is_rejection(&err))
        r->bad_rejected++;
      else
        r->wrong++;
    } else {
      if (rc == AS_OK)
        r->good_ok++;
      else
        r->wrong++;
    }
    if (i > 100000) break;
  }
  return NULL;
}

AS_TEST(registrations_race_validating_appenders) {
  fx f;
  REQUIRE(fx_open(&f, NULL, NULL, NULL));
  CHECK_OK(as_registry_set_compatibility(f.reg, "race", 4, AS_COMPAT_NONE, NULL));
  CHECK_EQ_INT(reg_version(&f, "race", "{\"properties\":{\"n\":{\"type\":\"integer\"}}}"), 1);
  _Atomic int stop = 0;
  enum { N = 3 };
  race rs[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    rs[i] = (race){&f, i, &stop, 0, 0, 0};
    REQUIRE(pthread_create(&th[i], NULL, appender, &rs[i]) == 0);
  }
  char s[160];
  for (int v = 2; v <= 60; v++) {
    snprintf(s, sizeof s,
             "{\"properties\":{\"n\":{\"type\":\"integer\",\"maximum\":%d},"
             "\"s\":{\"type\":\"string\"}}}",
             1000 + v);
    CHECK_EQ_INT(reg_version(&f, "race", s), (uint32_t)v);
    if (v % 7 == 0) CHECK_OK(as_registry_delete_version(f.reg, "race", 4, (uint32_t)v, NULL, NULL));
    if (v % 5 == 0)
      CHECK_OK(as_registry_set_enforcement(f.reg, "unchecked", 9, AS_ENFORCE_ENFORCE, NULL));
    as_jsonschema_result res;
    uint32_t used;
    CHECK_OK(as_registry_validate(f.reg, "race", 4, v % 2 ? 1 : 0, "{\"n\":1}", 7, &used,
                                  &res, NULL, NULL));
    CHECK(res.valid);
    as_jsonschema_result_free(&res);
  }
  atomic_store(&stop, 1);
  uint64_t rejected = 0;
  for (int i = 0; i < N; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ_INT(rs[i].wrong, 0);
    CHECK(rs[i].good_ok > 0 && rs[i].bad_rejected > 0);
    rejected += rs[i].bad_rejected;
  }
  as_subject_info info;
  as_registry_subject_info(f.reg, "race", 4, &info);
  CHECK_EQ_INT(info.rejected, rejected);
  fx_close(&f);
}

AS_TEST_MAIN()
