/* test_util.h — helpers shared by the engine's unit tests. */
#ifndef AS_TEST_UTIL_H
#define AS_TEST_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allsource.h"

static inline void ev_init(as_event_in *e, const char *entity, const char *type,
                           const char *payload) {
  as_event_in_init(e);
  e->entity_id = entity;
  e->entity_id_len = strlen(entity);
  e->event_type = type;
  e->event_type_len = strlen(type);
  e->payload = payload;
  e->payload_len = strlen(payload);
}

static inline int make_tmpdir(char *out, size_t n) {
  const char *base = getenv("TMPDIR");
  snprintf(out, n, "%s/as-test-XXXXXX", base ? base : "/tmp");
  return mkdtemp(out) != NULL;
}

static inline int rm_cb(const char *p, const struct stat *s, int f,
                        struct FTW *w) {
  (void)s; (void)f; (void)w;
  return remove(p);
}

static inline void remove_tree(const char *dir) {
  nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
