/*
 * fuzz_json.c — the strict JSON validator and the span navigation.
 * Invariants checked: validation never crashes; on an accepted document the
 * navigation visits every member without reading out of bounds and every
 * decoded string is valid UTF-8; walking arrays with open elements
 * (as_json_arr_next_open) finds the same elements with the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_json.h"
#include "fuzz.h"

static void walk(as_json_val v, int depth) {
  if (depth > 80) return;
  if (v.kind == AS_JSON_STRING) {
    char *buf = malloc(v.len ? v.len : 1);
    size_t n;
    as_json_str_decode(v, buf, &n);
    if (as_utf8_check(buf, n) != n) abort();
    free(buf);
    return;
  }
  if (v.kind != AS_JSON_OBJECT && v.kind != AS_JSON_ARRAY) return;
  as_json_iter it;
  as_json_val k, e;
  as_json_iter_init(&it, v);
  if (v.kind == AS_JSON_OBJECT) {
    while (as_json_obj_next(&it, &k, &e)) {
      walk(k, depth + 1);
      walk(e, depth + 1);
    }
  } else {
    as_json_iter io;
    as_json_val o;
    as_json_iter_init(&io, v);
    for (;;) {
      bool more = as_json_arr_next(&it, &e);
      if (more != as_json_arr_next_open(&io, &o)) abort();
      if (!more) break;
      walk(e, depth + 1);
      if (o.p != e.p || o.kind != e.kind) abort();
      if (o.kind == AS_JSON_OBJECT || o.kind == AS_JSON_ARRAY) {
        as_json_iter sub;
        as_json_val k2, x;
        as_json_iter_init(&sub, o);
        if (o.kind == AS_JSON_OBJECT)
          while (as_json_obj_next(&sub, &k2, &x)) {}
        else
          while (as_json_arr_next(&sub, &x)) {}
        if (as_json_iter_used(&sub) != e.len) abort();
        as_json_iter_past(&io, &o, e.len);
      } else if (o.len != e.len) {
        abort();
      }
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  as_json_kind kind;
  if (as_json_validate((const char *)data, size, 64, &kind, NULL) != AS_OK)
    return 0;
  as_json_val root = as_json_root((const char *)data, size);
  if (root.kind == AS_JSON_INVALID) abort();
  walk(root, 0);
  return 0;
}
