/*
 * as_test.h — a tiny TAP-style unit-test harness (no dependencies).
 *
 * Each tests/unit/test_<module>.c defines cases with AS_TEST(name) and ends
 * with AS_TEST_MAIN().  Cases run in order in one process (no fork), so they
 * work unchanged under ASan, UBSan, TSan and valgrind.  A run prints TAP
 * ("ok 1 - name") and exits non-zero if any check failed.  Pass a substring
 * as argv[1] to run only matching cases.  After every case the harness checks
 * that the engine's allocator has returned to its starting level (leaks).
 */
#ifndef AS_TEST_H
#define AS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"

typedef void (*as_test_fn)(void);
typedef struct as_test_case {
  const char *name;
  as_test_fn fn;
} as_test_case;

#define AS_TEST_MAX 512
extern as_test_case as_test_cases[AS_TEST_MAX];
extern int as_test_count;
extern int as_test_failed_checks;
extern int as_test_skip_leak_check;

#define AS_TEST(tname)                                                 \
  static void tname(void);                                             \
  __attribute__((constructor)) static void tname##_register(void) {    \
    as_test_cases[as_test_count].name = #tname;                        \
    as_test_cases[as_test_count++].fn = tname;                         \
  }                                                                    \
  static void tname(void)

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      as_test_failed_checks++;                                          \
    }                                                                   \
  } while (0)

/* Stops the current case on failure. */
#define REQUIRE(cond)                                                   \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      as_test_failed_checks++;                                          \
      return;                                                           \
    }                                                                   \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                 \
  do {                                                                     \
    long long _a = (long long)(a), _b = (long long)(b);                    \
    if (_a != _b) {                                                        \
      fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, \
              __LINE__, #a, #b, _a, _b);                                   \
      as_test_failed_checks++;                                             \
    }                                                                      \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                  \
  do {                                                                      \
    const char *_a = (a), *_b = (b);                                        \
    if (!_a || !_b || strcmp(_a, _b) != 0) {                                \
      fprintf(stderr, "  FAIL %s:%d: %s == %s (\"%s\" != \"%s\")\n",        \
              __FILE__, __LINE__, #a, #b, _a ? _a : "(null)",               \
              _b ? _b : "(null)");                                          \
      as_test_failed_checks++;                                              \
    }                                                                       \
  } while (0)

#define CHECK_OK(expr)                                                      \
  do {                                                                      \
    int _rc = (int)(expr);                                                  \
    if (_rc != 0) {                                                         \
      fprintf(stderr, "  FAIL %s:%d: %s returned %d\n", __FILE__, __LINE__, \
              #expr, _rc);                                                  \
      as_test_failed_checks++;                                              \
    }                                                                       \
  } while (0)

#define AS_TEST_MAIN()                                                        \
  as_test_case as_test_cases[AS_TEST_MAX];                                    \
  int as_test_count, as_test_failed_checks, as_test_skip_leak_check;          \
  int main(int argc, char **argv) {                                           \
    int failed = 0, run = 0;                                                  \
    for (int i = 0; i < as_test_count; i++)                                   \
      if (argc < 2 || strstr(as_test_cases[i].name, argv[1])) run++;          \
    printf("1..%d\n", run);                                                   \
    int n = 0;                                                                \
    for (int i = 0; i < as_test_count; i++) {                                 \
      if (argc >= 2 && !strstr(as_test_cases[i].name, argv[1])) continue;     \
      int before = as_test_failed_checks;                                     \
      uint64_t live = as__alloc_live_bytes();                                 \
      as_test_skip_leak_check = 0;                                            \
      as_test_cases[i].fn();                                                  \
      uint64_t after = as__alloc_live_bytes();                                \
      if (!as_test_skip_leak_check && after != live) {                        \
        fprintf(stderr, "  FAIL leak: %" PRIu64 " bytes still allocated\n",   \
                after - live);                                                \
        as_test_failed_checks++;                                              \
      }                                                                       \
      int ok = as_test_failed_checks == before;                               \
      if (!ok) failed++;                                                      \
      printf("%s %d - %s\n", ok ? "ok" : "not ok", ++n, as_test_cases[i].name); \
      fflush(stdout);                                                         \
    }                                                                         \
    printf("# %d of %d failed\n", failed, run);                               \
    return failed ? 1 : 0;                                                    \
  }

#endif /* AS_TEST_H */
