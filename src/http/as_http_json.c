/*
 * as_http_json.c — JSON rendering of events and parsing of request inputs
 * (event objects, query parameters) for the HTTP routes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "http/as_http_int.h"

void as_json_put_event(as_buf *b, const as_event *ev) { as_json_put_event_ex(b, ev, false); }

void as_json_put_event_ex(as_buf *b, const as_event *ev, bool one_line) {
  as_buf_puts(b, "{\"id\":");
  as_json_put_uuid(b, ev->id);
  as_buf_puts(b, ",\"event_type\":");
  as_json_put_str(b, ev->event_type, ev->event_type_len);
  as_buf_puts(b, ",\"entity_id\":");
  as_json_put_str(b, ev->entity_id, ev->entity_id_len);
  as_buf_puts(b, ",\"tenant_id\":");
  as_json_put_str(b, ev->tenant_id, ev->tenant_id_len);
  as_buf_puts(b, ",\"payload\":");
  if (one_line)
    as_json_put_one_line(b, ev->payload, ev->payload_len);
  else
    as_buf_append(b, ev->payload, ev->payload_len);
  as_buf_puts(b, ",\"timestamp\":");
  as_json_put_time(b, ev->timestamp_us);
  as_buf_puts(b, ",\"metadata\":");
  if (ev->metadata && one_line)
    as_json_put_one_line(b, ev->metadata, ev->metadata_len);
  else if (ev->metadata)
    as_buf_append(b, ev->metadata, ev->metadata_len);
  else
    as_buf_puts(b, "null");
  as_buf_puts(b, ",\"version\":");
  as_buf_put_u64(b, ev->version);
  as_buf_puts(b, ",\"position\":");
  as_buf_put_u64(b, ev->position);
  as_buf_putc(b, '}');
}

const char *as_http_str(as_hreq *r, as_json_val v, size_t *len) {
  if (!memchr(v.p, '\\', v.len)) {
    *len = v.len - 2;
    return v.p + 1;
  }
  char *out = as_hreq_alloc(r, v.len);
  if (!out) return NULL;
  as_json_str_decode(v, out, len);
  return out;
}

/* Responds 400 "<field> <what>" naming the field and the batch index. */
static bool field_error(as_hreq *r, uint32_t index, const char *field,
                        const char *what) {
  char extra[128];
  snprintf(extra, sizeof extra, ",\"field\":\"%s\",\"index\":%u", field, index);
  as_hreq_error(r, 400, "validation_error", "Validation error", extra, "%s %s",
                field, what);
  return false;
}

#define EXPECTED_MSG \
  "must be a non-negative integer, \"any\", \"no_stream\" or \"exists\""

bool as_http_parse_event(as_hreq *r, as_json_val obj, uint32_t index,
                         as_event_in *ev, size_t *used) {
  as_event_in_init(ev);
  if (obj.kind != AS_JSON_OBJECT)
    return field_error(r, index, "event", "must be a JSON object");
  as_json_iter it;
  as_json_val k, v;
  bool has_payload = false;
  as_json_iter_init(&it, obj);
  while (as_json_obj_next(&it, &k, &v)) {
    const char *name;
    size_t nlen;
    char kb[32];
    if (k.len - 2 < sizeof kb && !memchr(k.p, '\\', k.len)) {
      name = k.p + 1;
      nlen = k.len - 2;
    } else if (k.len <= sizeof kb) {
      as_json_str_decode(k, kb, &nlen);
      name = kb;
    } else {
      continue; /* longer than any field we know */
    }
#define IS(s) (nlen == sizeof(s) - 1 && memcmp(name, s, nlen) == 0)
    if (IS("entity_id") || IS("event_type") || IS("tenant_id")) {
      const char *fname = IS("entity_id") ? "entity_id" : IS("event_type") ? "event_type" : "tenant_id";
      if (v.kind == AS_JSON_NULL && IS("tenant_id")) continue;
      if (v.kind != AS_JSON_STRING)
        return field_error(r, index, fname, "must be a string");
      size_t len;
      const char *s = as_http_str(r, v, &len);
      if (!s) return field_error(r, index, fname, ": out of memory");
      if (IS("entity_id")) {
        ev->entity_id = s;
        ev->entity_id_len = len;
      } else if (IS("event_type")) {
        ev->event_type = s;
        ev->event_type_len = len;
      } else {
        ev->tenant_id = s;
        ev->tenant_id_len = len;
      }
    } else if (IS("payload")) {
      ev->payload = v.p;
      ev->payload_len = v.len;
      has_payload = true;
    } else if (IS("metadata")) {
      if (v.kind == AS_JSON_NULL) continue;
      ev->metadata = v.p;
      ev->metadata_len = v.len;
    } else if (IS("id")) {
      if (v.kind == AS_JSON_NULL) continue;
      uint8_t *id = as_hreq_alloc(r, 16);
      if (!id) return field_error(r, index, "id", ": out of memory");
      if (v.kind != AS_JSON_STRING || as_uuid_parse(v.p + 1, v.len - 2, id))
        return field_error(r, index, "id", "must be a UUID string");
      ev->id = id;
    } else if (IS("expected_version")) {
      if (v.kind == AS_JSON_NULL) continue;
      if (v.kind == AS_JSON_NUMBER) {
        uint64_t n;
        if (as_json_to_u64(v, &n) || n >= AS_EXPECT_EXISTS)
          return field_error(r, index, "expected_version", EXPECTED_MSG);
        ev->expected_version = n;
      } else if (as_json_str_eq(v, "any", 3)) {
        ev->expected_version = AS_EXPECT_ANY;
      } else if (as_json_str_eq(v, "no_stream", 9)) {
        ev->expected_version = AS_EXPECT_NO_STREAM;
      } else if (as_json_str_eq(v, "exists", 6)) {
        ev->expected_version = AS_EXPECT_EXISTS;
      } else {
        return field_error(r, index, "expected_version", EXPECTED_MSG);
      }
    }
#undef IS
  }
  if (!ev->entity_id)
    return field_error(r, index, "entity_id", "is required");
  if (!ev->event_type)
    return field_error(r, index, "event_type", "is required");
  if (!has_payload)
    return field_error(r, index, "payload", "is required");
  if (used) *used = as_json_iter_used(&it);
  return true;
}

bool as_http_time_arg(as_hreq *r, const char *name, int64_t *out,
                      bool *present) {
  const char *v = as_hreq_arg(r, name);
  *present = v != NULL;
  if (!v) return true;
  if (as_time_parse(v, strlen(v), out)) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "%s is not an RFC 3339 timestamp (e.g. 2025-10-20T16:05:49Z; "
                  "send '+' as %%2B)",
                  name);
    return false;
  }
  return true;
}

static bool u64_arg(as_hreq *r, const char *name, uint64_t max, uint64_t *out,
                    bool *present) {
  const char *v = as_hreq_arg(r, name);
  *present = v != NULL;
  if (!v) return true;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(v, &end, 10);
  if (!*v || *end || v[0] == '-' || v[0] == '+' || v[0] == ' ' || errno || n > max) {
    as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                  "%s must be an integer from 0 to %llu", name,
                  (unsigned long long)max);
    return false;
  }
  *out = n;
  return true;
}

bool as_http_parse_query(as_hreq *r, as_query *q, bool *empty) {
  as_query_init(q);
  *empty = false;
  const char *s;
  if ((s = as_hreq_arg(r, "entity_id"))) {
    q->entity_id = s;
    q->entity_id_len = strlen(s);
  }
  if ((s = as_hreq_arg(r, "event_type"))) {
    q->event_type = s;
    q->event_type_len = strlen(s);
  }
  if ((s = as_hreq_arg(r, "tenant_id"))) {
    q->tenant_id = s;
    q->tenant_id_len = strlen(s);
  }
  bool p;
  int64_t t;
  if (!as_http_time_arg(r, "since", &t, &p)) return false;
  if (p) q->since_us = t;
  if (!as_http_time_arg(r, "until", &t, &p)) return false;
  if (p) q->until_us = t;
  if (!as_http_time_arg(r, "as_of", &t, &p)) return false;
  if (p && t < q->until_us) q->until_us = t;
  uint64_t n;
  if (!u64_arg(r, "limit", AS_HTTP_MAX_QUERY_LIMIT, &n, &p)) return false;
  if (p) {
    if (n == 0) *empty = true; /* limit=0: nothing, as in the seed */
    q->limit = n;
  }
  if (!u64_arg(r, "from_position", UINT64_MAX - 1, &n, &p)) return false;
  if (p) q->from_position = n;
  if ((s = as_hreq_arg(r, "order"))) {
    if (!strcmp(s, "desc"))
      q->descending = true;
    else if (strcmp(s, "asc")) {
      as_hreq_error(r, 400, "invalid_query", "Invalid query", NULL,
                    "order must be 'asc' or 'desc'");
      return false;
    }
  }
  return true;
}

/* --- JSON request bodies -------------------------------------------- */

/* The JSON object body of a request; responds 415/400 and returns false. */
bool as_http_object_body(as_hreq *r, uint32_t max_depth, as_json_val *root) {
  if (!as_hreq_is_json(r)) {
    const char *ct = as_hreq_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    as_hreq_error(r, 415, "unsupported_media_type", "Unsupported media type", NULL,
                  "Content-Type must be application/json (got %s)", ct ? ct : "none");
    return false;
  }
  const char *body = r->body.data ? r->body.data : "";
  as_json_kind kind;
  as_json_error je;
  if (as_json_validate(body, r->body.len, max_depth, &kind, &je)) {
    char extra[64];
    snprintf(extra, sizeof extra, ",\"offset\":%zu", je.offset);
    as_hreq_error(r, 400, "invalid_json", "Invalid JSON", extra, "request body: %s at byte %zu",
                  je.msg, je.offset);
    return false;
  }
  if (kind != AS_JSON_OBJECT) {
    as_hreq_error(r, 400, "validation_error", "Validation error", NULL,
                  "the request body must be a JSON object, not %s", as_json_kind_name(kind));
    return false;
  }
  *root = as_json_root(body, r->body.len);
  return true;
}

bool as_http_field_error(as_hreq *r, const char *field, const char *what) {
  char extra[96];
  snprintf(extra, sizeof extra, ",\"field\":\"%s\"", field);
  as_hreq_error(r, 400, "validation_error", "Validation error", extra, "%s %s", field, what);
  return false;
}

/* Member `name` of `obj` (kind AS_JSON_INVALID = any).  Absent, or null
 * when optional, leaves *present false; absent and required, or of another
 * kind, responds 400 and returns false. */
bool as_http_member(as_hreq *r, as_json_val obj, const char *name, as_json_kind kind,
                    bool required, as_json_val *v, bool *present) {
  *present = as_json_obj_get(obj, name, v) && !(v->kind == AS_JSON_NULL && !required);
  if (!*present) {
    if (required) return as_http_field_error(r, name, "is required");
    return true;
  }
  if (kind != AS_JSON_INVALID && v->kind != kind) {
    char what[64];
    snprintf(what, sizeof what, "must be a%s %s", kind == AS_JSON_ARRAY || kind == AS_JSON_OBJECT ? "n" : "",
             as_json_kind_name(kind));
    return as_http_field_error(r, name, what);
  }
  return true;
}
