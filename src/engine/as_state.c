/*
 * as_state.c — entity state reconstruction: the shallow merge (as_merge) of
 * the object payloads of an entity's events up to a position, in version
 * order, starting from the newest snapshot at or before that position.
 */
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "core/as_common.h"
#include "core/as_json.h"
#include "engine/as_db_int.h"
#include "engine/as_merge.h"

as_err as__state_build(as_db *db, as_entity *e, uint64_t bound,
                       bool use_snapshots, char **json, size_t *json_len,
                       as_state_info *info) {
  as_err rc = AS_OK;
  *json = NULL;
  *json_len = 0;
  memset(info, 0, sizeof *info);
  uint64_t n = as_plist_count(&e->list);
  uint64_t end = as_plist_lower_bound(&e->list, n, bound + 1);
  if (end == 0) return AS_ENOTFOUND;

  as_snap *snap = use_snapshots ? as__snap_find(db, e->id, e->id_len, bound) : NULL;
  as_merge m;
  as_buf out;
  as_merge_init(&m);
  as_buf_init(&out, 0);
  uint64_t start = 0;
  if (snap) {
    AS_CHECK(as_merge_object(&m, as_json_root(snap->json, snap->json_len)));
    start = snap->info.event_count; /* versions are list index + 1 */
    info->version = snap->info.event_count;
    info->last_position = snap->info.position;
    info->last_updated_us = snap->info.as_of_us;
  }
  if (start < end) {
    as_plist_cur cur;
    as_plist_seek(&cur, &e->list, start);
    const as_frame *f = NULL;
    for (uint64_t i = start; i < end; i++) {
      if (i > start) as_plist_cur_next(&cur);
      f = as__frame_at(db, as_plist_cur_get(&cur));
      const char *p = f->data + f->tenant_len + 1 + f->entity_len + 1 +
                      f->type_len + 1;
      as_json_val root = as_json_root(p, f->payload_len);
      if (root.kind == AS_JSON_OBJECT) AS_CHECK(as_merge_object(&m, root));
    }
    info->version = f->version;
    info->last_position = f->position;
    info->last_updated_us = f->timestamp_us;
  }
  info->event_count = end;
  AS_CHECK(as_merge_emit(&m, &out));
  *json = as_buf_detach(&out, json_len);
  if (!*json) rc = AS_ENOMEM;
out:
  as_merge_destroy(&m); /* before the snapshot: spans point into it */
  as__snap_release(snap);
  as_buf_free(&out);
  return rc;
}

as_err as_entity_state(as_db *db, const char *entity_id, size_t len,
                       int64_t as_of_us, char **json, size_t *json_len,
                       as_state_info *info) {
  uint64_t committed = as__committed(db);
  *json = NULL;
  *json_len = 0;
  memset(info, 0, sizeof *info);
  as_entity *e = as__entity_find(db, entity_id, len);
  if (!e) return AS_ENOTFOUND;
  uint64_t bound = committed;
  if (as_of_us != AS_TIME_MAX) bound = AS_MIN(bound, as_position_at_time(db, as_of_us));
  return as__state_build(db, e, bound, true, json, json_len, info);
}
