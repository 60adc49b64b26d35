/*
 * test_jsonschema_suite.c — the official JSON Schema Test Suite.
 *
 * Runs every test of every file in tests/draft7 and tests/draft2020-12
 * (the optional/ folders are not part of the requirement) against the
 * validator, resolving http://localhost:1234/... from the suite's remotes/
 * folder through the resolver callback.  Prints passed/total per file and
 * fails on any single failing test: there is no skip list.
 *
 * Each schema is validated twice: once with as_jsonschema_validate() (the
 * error list must be empty exactly when the instance is valid) and once
 * with the verdict-only as_jsonschema_check().
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as_test.h"
#include "services/as_jsonschema.h"

#define SUITE AS_SOURCE_DIR "/../shared/testdata/json-schema-test-suite"
#define REMOTE_PREFIX "http://localhost:1234/"

static json_t *load_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(n > 0 ? (size_t)n : 1);
  size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
  fclose(f);
  json_t *v = NULL;
  if (buf && got == (size_t)n) v = as_jsonschema_parse(buf, got, NULL);
  free(buf);
  return v;
}

static json_t *remote_resolve(void *ctx, const char *uri) {
  (void)ctx;
  size_t pl = strlen(REMOTE_PREFIX);
  if (strncmp(uri, REMOTE_PREFIX, pl) != 0) return NULL;
  char path[1024];
  snprintf(path, sizeof path, "%s/remotes/%s", SUITE, uri + pl);
  return load_file(path);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Runs one file; returns the number of failed tests, adds to totals. */
static int run_file(const char *draft, const char *name,
                    as_jsonschema_draft d, int *total) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/%s/%s", SUITE, draft, name);
  json_t *groups = load_file(path);
  if (!json_is_array(groups)) {
    fprintf(stderr, "  cannot load %s\n", path);
    json_decref(groups);
    (*total)++;
    return 1;
  }
  int failed = 0, count = 0;
  size_t gi;
  json_t *g;
  json_array_foreach(groups, gi, g) {
    const char *gdesc = json_string_value(json_object_get(g, "description"));
    json_t *tests = json_object_get(g, "tests");
    as_jsonschema_opts o;
    as_jsonschema_opts_init(&o);
    o.default_draft = d;
    o.resolve = remote_resolve;
    as_jsonschema *s = NULL;
    as_error err;
    as_err rc = as_jsonschema_compile(json_object_get(g, "schema"), &o, &s, &err);
    if (rc != AS_OK) {
      fprintf(stderr, "  FAIL %s/%s [%s]: compile: %s\n", draft, name, gdesc,
              err.message);
      failed += (int)json_array_size(tests);
      count += (int)json_array_size(tests);
      continue;
    }
    size_t ti;
    json_t *t;
    json_array_foreach(tests, ti, t) {
      count++;
      bool want = json_is_true(json_object_get(t, "valid"));
      json_t *data = json_object_get(t, "data");
      as_jsonschema_result r;
      bool quick = !want;
      as_err v1 = as_jsonschema_validate(s, data, &r);
      as_err v2 = as_jsonschema_check(s, data, &quick);
      bool ok = v1 == AS_OK && v2 == AS_OK && r.valid == want &&
                quick == want && (r.n_errors == 0) == want;
      if (!ok) {
        failed++;
        fprintf(stderr, "  FAIL %s/%s [%s] %s: want %s got %s/%s (%zu errors)\n",
                draft, name, gdesc,
                json_string_value(json_object_get(t, "description")),
                want ? "valid" : "invalid", r.valid ? "valid" : "invalid",
                quick ? "valid" : "invalid", r.n_errors);
        for (size_t e = 0; e < r.n_errors && e < 3; e++)
          fprintf(stderr, "       %s %s: %s\n", r.errors[e].instance_path,
                  r.errors[e].keyword_path, r.errors[e].message);
      }
      as_jsonschema_result_free(&r);
    }
    as_jsonschema_free(s);
  }
  json_decref(groups);
  printf("# %-12s %-32s %4d/%-4d\n", draft, name, count - failed, count);
  *total += count;
  return failed;
}

static void run_draft(const char *draft, as_jsonschema_draft d) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/tests/%s", SUITE, draft);
  DIR *dh = opendir(dir);
  REQUIRE(dh != NULL);
  char *names[256];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(dh)) && n < sizeof names / sizeof names[0]) {
    size_t l = strlen(de->d_name);
    if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0)
      names[n++] = strdup(de->d_name);
  }
  closedir(dh);
  qsort(names, n, sizeof names[0], cmp_str);
  int total = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    failed += run_file(draft, names[i], d, &total);
    free(names[i]);
  }
  printf("# %s: %d/%d passed in %zu files\n", draft, total - failed, total, n);
  CHECK(n > 30);
  CHECK(total > 500);
  CHECK_EQ_INT(failed, 0);
}

AS_TEST(suite_draft7) { run_draft("draft7", AS_JSONSCHEMA_DRAFT_07); }

AS_TEST(suite_draft2020_12) {
  run_draft("draft2020-12", AS_JSONSCHEMA_DRAFT_2020_12);
}

AS_TEST_MAIN()
