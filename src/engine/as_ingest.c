/*
 * as_ingest.c — validation of events to append and preparation of their
 * frames, done by the appending thread (in parallel with other appenders)
 * so the writer only assigns positions and copies.
 *
 * Limits enforced here (documented in docs/api.md):
 *   entity_id   1..256 bytes of UTF-8, no control characters, no leading or
 *               trailing space
 *   event_type  1..128 bytes of UTF-8, no control characters, no space, no
 *               '*' (reserved for prefix filters)
 *   tenant_id   1..64 bytes of [A-Za-z0-9_-] (default "default")
 *   payload     strict JSON, at most max_payload_bytes, nesting at most
 *               max_json_depth
 *   metadata    a JSON object (JSON null = absent), at most
 *               max_metadata_bytes
 *   id          any 16 bytes but all zeros; unique within the batch
 *   batch       1..max_batch_events events, at most max_batch_bytes
 */
#include <stddef.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "core/as_hash.h"
#include "core/as_json.h"
#include "core/as_swar.h"
#include "engine/as_db_int.h"

static const char DEFAULT_TENANT[] = "default";

/* Characters an id may not hold.  Control characters are C0, DEL and C1
 * (U+0080..U+009F, i.e. 0xC2 0x80..0x9F); the table covers ASCII, the C1
 * pairs are checked in bad_chars(). */
enum { BAD_CONTROL = 1, BAD_SPACE = 2, BAD_STAR = 4 };

#define C4 BAD_CONTROL, BAD_CONTROL, BAD_CONTROL, BAD_CONTROL
static const unsigned char k_bad[128] = {
    [0x00] = C4, C4, C4, C4, C4, C4, C4, C4, /* 0x00..0x1f */
    [' '] = BAD_SPACE, ['*'] = BAD_STAR, [0x7f] = BAD_CONTROL};
#undef C4

/* The union of the BAD_* classes found in s (one pass; ASCII words are
 * checked 8 bytes at a time, the rest byte by byte). */
static unsigned bad_chars(const char *s, size_t len) {
  unsigned bad = 0;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w = as_swar_load8(s + i);
    if (as_swar_has_high(w)) break; /* multi-byte: byte by byte from here */
    if (as_swar_has_below(w, 0x20) | as_swar_has_byte(w, 0x7f)) bad |= BAD_CONTROL;
    if (as_swar_has_byte(w, ' ')) bad |= BAD_SPACE;
    if (as_swar_has_byte(w, '*')) bad |= BAD_STAR;
  }
  for (; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) bad |= k_bad[c];
    else if (c == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] <= 0x9f)
      bad |= BAD_CONTROL; /* U+0080..U+009F */
  }
  return bad;
}

static as_err check_entity_id(const char *s, size_t len, uint32_t i,
                              as_error *err) {
  if (!s || len == 0)
    return as__error_set(err, AS_EINVAL, i, "entity_id",
                         "entity_id cannot be empty");
  if (len > AS_MAX_ENTITY_ID_LEN)
    return as__error_set(err, AS_ELIMIT, i, "entity_id",
                         "entity_id is %zu bytes; the limit is %u", len,
                         AS_MAX_ENTITY_ID_LEN);
  if (as_utf8_check(s, len) != len)
    return as__error_set(err, AS_EINVAL, i, "entity_id",
                         "entity_id is not valid UTF-8");
  if (bad_chars(s, len) & BAD_CONTROL)
    return as__error_set(err, AS_EINVAL, i, "entity_id",
                         "entity_id contains a control character");
  if (s[0] == ' ' || s[len - 1] == ' ')
    return as__error_set(err, AS_EINVAL, i, "entity_id",
                         "entity_id has leading or trailing whitespace");
  return AS_OK;
}

static as_err check_event_type(const char *s, size_t len, uint32_t i,
                               as_error *err) {
  if (!s || len == 0)
    return as__error_set(err, AS_EINVAL, i, "event_type",
                         "event_type cannot be empty");
  if (len > AS_MAX_EVENT_TYPE_LEN)
    return as__error_set(err, AS_ELIMIT, i, "event_type",
                         "event_type is %zu bytes; the limit is %u", len,
                         AS_MAX_EVENT_TYPE_LEN);
  if (as_utf8_check(s, len) != len)
    return as__error_set(err, AS_EINVAL, i, "event_type",
                         "event_type is not valid UTF-8");
  if (bad_chars(s, len))
    return as__error_set(err, AS_EINVAL, i, "event_type",
                         "event_type may not contain spaces, control "
                         "characters or '*'");
  return AS_OK;
}

static as_err check_tenant(const char *s, size_t len, uint32_t i,
                           as_error *err) {
  if (len == 0 || len > AS_MAX_TENANT_ID_LEN)
    return as__error_set(err, len ? AS_ELIMIT : AS_EINVAL, i, "tenant_id",
                         "tenant_id must be 1-%u bytes", AS_MAX_TENANT_ID_LEN);
  for (size_t k = 0; k < len; k++) {
    char c = s[k];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return as__error_set(err, AS_EINVAL, i, "tenant_id",
                           "tenant_id may contain only letters, digits, "
                           "'-' and '_'");
  }
  return AS_OK;
}

static bool is_null_literal(const char *s, size_t len) {
  while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
    s++;
    len--;
  }
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                 s[len - 1] == '\n' || s[len - 1] == '\r'))
    len--;
  return len == 4 && memcmp(s, "null", 4) == 0;
}

/* Validates one event; stores its (trimmed) metadata presence. */
static as_err check_event(as_db *db, const as_event_in *e, uint32_t i,
                          bool *has_meta, as_error *err) {
  as_err rc = check_entity_id(e->entity_id, e->entity_id_len, i, err);
  if (rc) return rc;
  rc = check_event_type(e->event_type, e->event_type_len, i, err);
  if (rc) return rc;
  if (e->tenant_id) {
    rc = check_tenant(e->tenant_id, e->tenant_id_len, i, err);
    if (rc) return rc;
  }
  if (!e->payload || e->payload_len == 0)
    return as__error_set(err, AS_EINVAL, i, "payload", "payload is required");
  if (e->payload_len > db->opt.max_payload_bytes)
    return as__error_set(err, AS_ELIMIT, i, "payload",
                         "payload is %zu bytes; the limit is %u",
                         e->payload_len, db->opt.max_payload_bytes);
  as_json_error je;
  bool checked = e->flags & AS_EVENT_JSON_CHECKED;
  if (!checked && as_json_validate(e->payload, e->payload_len, db->opt.max_json_depth,
                                   NULL, &je)) {
    rc = as__error_set(err, AS_EJSON, i, "payload",
                       "payload is not valid JSON: %s at byte %zu", je.msg,
                       je.offset);
    if (err) err->offset = je.offset;
    return rc;
  }
  *has_meta = e->metadata && !is_null_literal(e->metadata, e->metadata_len);
  if (*has_meta) {
    if (e->metadata_len > db->opt.max_metadata_bytes)
      return as__error_set(err, AS_ELIMIT, i, "metadata",
                           "metadata is %zu bytes; the limit is %u",
                           e->metadata_len, db->opt.max_metadata_bytes);
    as_json_kind k;
    if (checked) {
      k = as_json_root(e->metadata, e->metadata_len).kind;
    } else if (as_json_validate(e->metadata, e->metadata_len, db->opt.max_json_depth,
                                &k, &je)) {
      rc = as__error_set(err, AS_EJSON, i, "metadata",
                         "metadata is not valid JSON: %s at byte %zu", je.msg,
                         je.offset);
      if (err) err->offset = je.offset;
      return rc;
    }
    if (k != AS_JSON_OBJECT)
      return as__error_set(err, AS_EINVAL, i, "metadata",
                           "metadata must be a JSON object or null, not %s",
                           as_json_kind_name(k));
  }
  if (e->id) {
    static const uint8_t zero[16];
    if (memcmp(e->id, zero, 16) == 0)
      return as__error_set(err, AS_EINVAL, i, "id",
                           "the nil UUID cannot be an event id");
  }
  return AS_OK;
}

/* Rejects a batch that carries the same client id twice. */
static as_err check_unique_ids(as_db *db, const as_event_in *ev, size_t n,
                               as_error *err) {
  size_t with_id = 0;
  for (size_t i = 0; i < n; i++) with_id += ev[i].id != NULL;
  if (with_id < 2) return AS_OK;
  if (with_id <= 16) {
    for (size_t i = 0; i < n; i++) {
      if (!ev[i].id) continue;
      for (size_t j = 0; j < i; j++)
        if (ev[j].id && memcmp(ev[i].id, ev[j].id, 16) == 0)
          return as__error_set(err, AS_EINVAL, (uint32_t)i, "id",
                               "event id repeated within the batch (events "
                               "%zu and %zu)",
                               j, i);
    }
    return AS_OK;
  }
  size_t cap = 32;
  while (cap < with_id * 2) cap *= 2;
  uint32_t *slot = as_malloc(sizeof *slot * cap);
  if (!slot) return as__error_set(err, AS_ENOMEM, 0, "", "out of memory");
  memset(slot, 0xff, sizeof *slot * cap);
  as_err rc = AS_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    if (!ev[i].id) continue;
    size_t h = as_hash(&db->hkey, ev[i].id, 16) & (cap - 1);
    while (slot[h] != UINT32_MAX) {
      if (memcmp(ev[slot[h]].id, ev[i].id, 16) == 0) {
        rc = as__error_set(err, AS_EINVAL, (uint32_t)i, "id",
                           "event id repeated within the batch (events %u "
                           "and %zu)",
                           slot[h], i);
        break;
      }
      h = (h + 1) & (cap - 1);
    }
    slot[h] = (uint32_t)i;
  }
  as_free(slot);
  return rc;
}

static char *put_str(char *p, const char *s, size_t len) {
  if (len) memcpy(p, s, len);
  p[len] = '\0';
  return p + len + 1;
}

as_err as__req_prepare(as_db *db, const as_event_in *ev, size_t n, void *buf,
                       size_t buf_len, as_req **out, as_error *err) {
  as_err rc = AS_OK;
  as_req *r = NULL;
  bool *meta = NULL;
  bool meta_small[64];

  if (db->opt.read_only)
    return as__error_set(err, AS_EREADONLY, 0, "", "the store was opened read-only");
  if (n == 0 || !ev)
    return as__error_set(err, AS_EINVAL, 0, "", "a batch needs at least one event");
  if (n > db->opt.max_batch_events)
    return as__error_set(err, AS_ELIMIT, 0, "",
                         "a batch may hold at most %u events (got %zu)",
                         db->opt.max_batch_events, n);
  meta = n <= 64 ? meta_small : as_malloc(sizeof *meta * n);
  if (!meta) return as__error_set(err, AS_ENOMEM, 0, "", "out of memory");

  size_t frames_len = 0;
  for (size_t i = 0; i < n; i++) {
    AS_CHECK(check_event(db, &ev[i], (uint32_t)i, &meta[i], err));
    size_t tl = ev[i].tenant_id ? ev[i].tenant_id_len : sizeof DEFAULT_TENANT - 1;
    frames_len += as_frame_size(tl, ev[i].entity_id_len, ev[i].event_type_len,
                                ev[i].payload_len, meta[i],
                                meta[i] ? ev[i].metadata_len : 0);
    if (frames_len > db->opt.max_batch_bytes)
      AS_FAIL(as__error_set(err, AS_ELIMIT, (uint32_t)i, "",
                            "the batch exceeds %llu bytes",
                            (unsigned long long)db->opt.max_batch_bytes));
  }
  AS_CHECK(check_unique_ids(db, ev, n, err));
  as_validate_fn validate = atomic_load(&db->validator);
  if (validate) {
    void *vctx = atomic_load(&db->validator_ctx);
    for (size_t i = 0; i < n; i++) AS_CHECK(validate(vctx, &ev[i], (uint32_t)i, err));
  }

  size_t head = AS_ALIGN_UP(sizeof *r, (size_t)8);
  size_t evs = AS_ALIGN_UP(sizeof(as_req_ev) * n, (size_t)8);
  size_t res = AS_ALIGN_UP(sizeof(as_append_result) * n, (size_t)8);
  size_t total = head + evs + res + frames_len;
  bool borrowed = buf && total <= buf_len;
  r = borrowed ? buf : as_malloc(total);
  if (!r) AS_FAIL(as__error_set(err, AS_ENOMEM, 0, "", "out of memory"));
  memset(r, 0, offsetof(as_req, err)); /* err last: cleared, not zeroed */
  r->borrowed = borrowed;
  as__error_clear(&r->err);
  r->n = (uint32_t)n;
  r->ev = (as_req_ev *)(void *)((char *)r + head);
  r->res = (as_append_result *)(void *)((char *)r + head + evs);
  r->frames = (unsigned char *)r + head + evs + res;
  r->frames_len = frames_len;
  atomic_init(&r->state, AS_REQ_PENDING);

  unsigned char *p = r->frames;
  for (size_t i = 0; i < n; i++) {
    const as_event_in *e = &ev[i];
    const char *tenant = e->tenant_id ? e->tenant_id : DEFAULT_TENANT;
    size_t tl = e->tenant_id ? e->tenant_id_len : sizeof DEFAULT_TENANT - 1;
    size_t ml = meta[i] ? e->metadata_len : 0;
    size_t len = as_frame_size(tl, e->entity_id_len, e->event_type_len,
                               e->payload_len, meta[i], ml);
    as_frame *f = (as_frame *)(void *)p;
    memset(f, 0, AS_FRAME_HDR_SIZE);
    f->body_len = (uint32_t)(AS_FRAME_HDR_SIZE - 8 + tl + 1 + e->entity_id_len +
                             1 + e->event_type_len + 1 + e->payload_len + 1 +
                             (meta[i] ? ml + 1 : 0));
    f->type = AS_FRAME_TYPE_EVENT;
    f->flags = meta[i] ? AS_FF_METADATA : 0;
    f->tenant_len = (uint16_t)tl;
    f->entity_len = (uint16_t)e->entity_id_len;
    f->type_len = (uint16_t)e->event_type_len;
    f->payload_len = (uint32_t)e->payload_len;
    f->metadata_len = (uint32_t)ml;
    if (e->id) memcpy(f->id, e->id, 16);
    char *d = f->data;
    d = put_str(d, tenant, tl);
    d = put_str(d, e->entity_id, e->entity_id_len);
    d = put_str(d, e->event_type, e->event_type_len);
    d = put_str(d, e->payload, e->payload_len);
    if (meta[i]) d = put_str(d, e->metadata, ml);
    memset(d, 0, (size_t)((char *)p + len - d)); /* padding */
    r->ev[i].expected = e->expected_version;
    r->ev[i].client_id = e->id != NULL;
    p += len;
  }
  *out = r;
  r = NULL;
out:
  if (meta != meta_small) as_free(meta);
  if (r) as__req_free(r);
  return rc;
}

void as__req_free(as_req *r) {
  if (r && !r->borrowed) as_free(r);
}
