/*
 * as_route_snapshots.c — POST /api/v1/snapshots, GET /api/v1/snapshots
 * [?entity_id], GET /api/v1/snapshots/{entity_id}/latest (seed shapes,
 * seed-api-contract §5.4; automatic snapshots are labelled "automatic").
 */
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "http/as_http_int.h"

static void put_info(as_buf *b, const char *entity, size_t elen,
                     const as_snapshot_info *i, const char *id_key) {
  as_buf_printf(b, "{\"%s\":", id_key);
  as_json_put_uuid(b, i->id);
  as_buf_puts(b, ",\"entity_id\":");
  as_json_put_str(b, entity, elen);
  as_buf_puts(b, ",\"created_at\":");
  as_json_put_time(b, i->created_us);
  as_buf_puts(b, ",\"as_of\":");
  as_json_put_time(b, i->as_of_us);
  as_buf_printf(b, ",\"event_count\":%llu,\"size_bytes\":%llu,\"snapshot_type\":\"%s\"",
                (unsigned long long)i->event_count, (unsigned long long)i->size_bytes,
                as_snapshot_kind_name(i->kind));
}

void as_route_snapshot_create(as_hreq *r) {
  if (!as_hreq_is_json(r)) {
    as_hreq_error(r, 415, "unsupported_media_type", "Unsupported media type", NULL,
                  "Content-Type must be application/json");
    return;
  }
  as_json_kind k;
  as_json_error je;
  const char *body = r->body.data ? r->body.data : "";
  if (as_json_validate(body, r->body.len, 16, &k, &je)) {
    as_hreq_error(r, 400, "invalid_json", "Invalid JSON", NULL, "request body: %s at byte %zu",
                  je.msg, je.offset);
    return;
  }
  as_json_val v;
  if (k != AS_JSON_OBJECT || !as_json_obj_get(as_json_root(body, r->body.len), "entity_id", &v) ||
      v.kind != AS_JSON_STRING) {
    as_hreq_error(r, 400, "validation_error", "Validation error",
                  ",\"field\":\"entity_id\"", "entity_id is required (a string)");
    return;
  }
  size_t len;
  const char *id = as_http_str(r, v, &len);
  as_snapshot_info info;
  as_err rc = id ? as_snapshot_create(r->srv->db, id, len, AS_SNAPSHOT_MANUAL, &info) : AS_ENOMEM;
  if (rc == AS_ENOTFOUND) {
    as_hreq_error(r, 404, "not_found", "Entity not found", NULL, "%.*s", (int)len, id);
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  put_info(&b, id, len, &info, "snapshot_id");
  as_buf_putc(&b, '}');
  as_hreq_respond(r, 200, "application/json", &b);
}

typedef struct list_ctx {
  as_buf *b;
  uint64_t n;
} list_ctx;

static int list_cb(void *arg, const char *entity, size_t len, const as_snapshot_info *i) {
  list_ctx *c = arg;
  if (c->n++) as_buf_putc(c->b, ',');
  put_info(c->b, entity, len, i, "id");
  as_buf_putc(c->b, '}');
  return 0;
}

void as_route_snapshot_list(as_hreq *r) {
  const char *e = as_hreq_arg(r, "entity_id");
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"snapshots\":[");
  list_ctx c = {&b, 0};
  as_err rc = as_snapshot_list(r->srv->db, e, e ? strlen(e) : 0, list_cb, &c);
  if (rc) {
    as_buf_free(&b);
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf_printf(&b, "],\"total\":%llu}", (unsigned long long)c.n);
  as_hreq_respond(r, 200, "application/json", &b);
}

void as_route_snapshot_latest(as_hreq *r) {
  as_snapshot_info info;
  char *state;
  size_t slen;
  as_err rc = as_snapshot_latest(r->srv->db, r->param, r->param_len, &info, &state, &slen);
  if (rc == AS_ENOTFOUND) {
    as_hreq_error(r, 404, "not_found", "Entity not found", NULL,
                  "no snapshot of %s", r->param);
    return;
  }
  if (rc) {
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  put_info(&b, r->param, r->param_len, &info, "snapshot_id");
  as_buf_puts(&b, ",\"state\":");
  as_buf_append(&b, state, slen);
  as_buf_putc(&b, '}');
  as_free(state);
  as_hreq_respond(r, 200, "application/json", &b);
}
