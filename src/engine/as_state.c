/*
 * as_state.c — entity state reconstruction: the shallow merge (as_merge) of
 * the object payloads of an entity's events up to a time, in version order.
 */
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_buf.h"
#include "core/as_json.h"
#include "engine/as_db_int.h"
#include "engine/as_merge.h"

as_err as_entity_state(as_db *db, const char *entity_id, size_t len,
                       int64_t as_of_us, char **json, size_t *json_len,
                       as_state_info *info) {
  as_err rc = AS_OK;
  uint64_t committed = as__committed(db);
  *json = NULL;
  *json_len = 0;
  memset(info, 0, sizeof *info);
  as_entity *e = as__entity_find(db, entity_id, len);
  if (!e) return AS_ENOTFOUND;
  uint64_t hi = committed;
  if (as_of_us != AS_TIME_MAX) hi = as_position_at_time(db, as_of_us);
  if (hi > committed) hi = committed;
  uint64_t n = as_plist_count(&e->list);
  uint64_t end = as_plist_lower_bound(&e->list, n, hi + 1);
  if (end == 0) return AS_ENOTFOUND;

  as_merge m;
  as_buf out;
  as_merge_init(&m);
  as_buf_init(&out, 0);
  as_plist_cur cur;
  as_plist_seek(&cur, &e->list, 0);
  const as_frame *f = NULL;
  for (uint64_t i = 0; i < end; i++) {
    if (i) as_plist_cur_next(&cur);
    f = as__frame_at(db, as_plist_cur_get(&cur));
    as_event ev;
    as_frame_view(f, &ev);
    as_json_val root = as_json_root(ev.payload, ev.payload_len);
    if (root.kind == AS_JSON_OBJECT) AS_CHECK(as_merge_object(&m, root));
  }
  AS_CHECK(as_merge_emit(&m, &out));
  info->event_count = end;
  info->version = f->version;
  info->last_position = f->position;
  info->last_updated_us = f->timestamp_us;
  *json = as_buf_detach(&out, json_len);
  if (!*json) rc = AS_ENOMEM;
out:
  as_merge_destroy(&m);
  as_buf_free(&out);
  return rc;
}
