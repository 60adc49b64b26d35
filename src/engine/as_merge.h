/*
 * as_merge.h — the shallow merge of JSON object payloads that defines an
 * entity's state: each top-level key of each merged object overwrites the
 * previous value of that key; keys keep the order in which they first
 * appeared; a null value is kept as null (keys are never deleted).
 *
 * Zero-copy: the state holds spans (key text, value text) that point into
 * the merged payloads, so those payloads must outlive the state (event
 * records do: they live as long as the store).  Keys are compared after
 * decoding escapes, so "a" and "\u0061" are the same key.
 */
#ifndef AS_MERGE_H
#define AS_MERGE_H

#include <stdint.h>

#include "allsource.h"
#include "core/as_buf.h"
#include "core/as_json.h"

typedef struct as_merge_ent {
  const char *kraw;  /* the key as written, with quotes */
  const char *kdec;  /* decoded key (== kraw + 1 when it has no escapes) */
  const char *val;   /* the value text */
  uint32_t kraw_len, kdec_len, val_len;
  uint32_t hash;
} as_merge_ent;

typedef struct as_merge {
  as_merge_ent *ents; /* owned */
  uint32_t n, cap;
  uint32_t *idx;      /* owned open-addressing index, built past 8 keys */
  uint32_t idx_cap;
  char **decoded;     /* owned copies of decoded escaped keys */
  uint32_t ndecoded;
} as_merge;

void as_merge_init(as_merge *m);
void as_merge_destroy(as_merge *m);
/** Merges the members of object `obj` (from a validated document). */
as_err as_merge_object(as_merge *m, as_json_val obj);
/** Appends the state as a JSON object. */
as_err as_merge_emit(const as_merge *m, as_buf *out);

#endif /* AS_MERGE_H */
