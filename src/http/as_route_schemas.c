/*
 * as_route_schemas.c — the schema registry over HTTP (seed-api-contract §6
 * shapes, with the seed's quirks fixed: 404 for unknown subjects and
 * versions, Confluent's compatibility meaning, 409 for incompatible
 * schemas), plus deletes, enforcement settings and the details of schema
 * rejections at ingest.  The registry itself is src/services/as_registry.c;
 * docs/jsonschema.md ("Registry") lists every route with examples.
 *
 *   POST   /api/v1/schemas                              register
 *   GET    /api/v1/schemas                              subjects
 *   POST   /api/v1/schemas/validate                     validate a payload
 *   GET    /api/v1/schemas/config                       global settings
 *   PUT    /api/v1/schemas/config
 *   GET    /api/v1/schemas/{subject}[?version=N]        one version
 *   DELETE /api/v1/schemas/{subject}                    every version (soft)
 *   GET    /api/v1/schemas/{subject}/versions           version numbers
 *   GET    /api/v1/schemas/{subject}/versions/{n}       one version
 *   DELETE /api/v1/schemas/{subject}/versions/{n}       one version (soft)
 *   PUT    /api/v1/schemas/{subject}/compatibility
 *   PUT    /api/v1/schemas/{subject}/enforcement
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "http/as_http_int.h"
#include "services/as_registry.h"

/* Nesting allowed in request bodies: the registry checks schemas against
 * its own (smaller) limit with a clearer message. */
#define BODY_DEPTH AS_JSON_MAX_DEPTH_CAP

static as_registry *registry(as_hreq *r) {
  if (r->srv->registry) return r->srv->registry;
  as_hreq_error(r, 503, "unavailable", "Unavailable", NULL,
                "the schema registry is not enabled on this server");
  return NULL;
}

/* A decoded string member (required). */
static bool string_member(as_hreq *r, as_json_val obj, const char *name, const char **s,
                          size_t *len) {
  as_json_val v;
  bool present;
  if (!as_http_member(r, obj, name, AS_JSON_STRING, true, &v, &present)) return false;
  *s = as_http_str(r, v, len);
  if (!*s) as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
  return *s != NULL;
}

/* "latest" = 0, or 1..UINT32_MAX. */
static bool parse_version(const char *s, size_t len, uint32_t *out) {
  if (len == 6 && memcmp(s, "latest", 6) == 0) {
    *out = 0;
    return true;
  }
  uint64_t v = 0;
  if (len == 0 || len > 10) return false;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (v == 0 || v > UINT32_MAX) return false;
  *out = (uint32_t)v;
  return true;
}

static void bad_version(as_hreq *r, const char *s, size_t len) {
  as_hreq_error(r, 400, "validation_error", "Validation error", ",\"field\":\"version\"",
                "version must be a positive integer or \"latest\" (got \"%.*s\")",
                (int)AS_MIN(len, 64u), s);
}

static void subject_not_found(as_hreq *r, const char *s, size_t len) {
  as_hreq_error(r, 404, "subject_not_found", "Not found", NULL, "Subject not found: %.*s",
                (int)AS_MIN(len, 256u), s);
}

static void version_not_found(as_hreq *r, uint32_t v, const char *s, size_t len) {
  if (v)
    as_hreq_error(r, 404, "version_not_found", "Not found", NULL,
                  "Schema version %u not found for subject: %.*s", v, (int)AS_MIN(len, 256u), s);
  else
    subject_not_found(r, s, len);
}

/* "validate" and "config" are static routes; other methods on them land on
 * the {subject} routes and get 405 like the seed. */
static bool reserved(as_hreq *r, const char *s, size_t len) {
  const char *allow = len == 8 && !memcmp(s, "validate", 8) ? "POST"
                      : len == 6 && !memcmp(s, "config", 6) ? "GET, PUT"
                                                            : NULL;
  if (!allow) return false;
  char extra[64];
  snprintf(extra, sizeof extra, ",\"allow\":\"%s\"", allow);
  as_hreq_error(r, 405, "method_not_allowed", "Method not allowed", extra,
                "%s is not allowed on /api/v1/schemas/%s (allowed: %s)", r->method,
                len == 8 ? "validate" : "config", allow);
  return true;
}

/* Splits the parameter of ".../{subject}/versions/{n}" ("S/versions/N"). */
static bool split_versioned(as_hreq *r, size_t *slen, uint32_t *version) {
  const char *slash = memchr(r->param, '/', r->param_len);
  const char *last = strrchr(r->param, '/');
  *slen = slash ? (size_t)(slash - r->param) : r->param_len;
  size_t vlen = r->param_len - (size_t)(last + 1 - r->param);
  if (!parse_version(last + 1, vlen, version)) {
    bad_version(r, last + 1, vlen);
    return false;
  }
  return true;
}

/* Maps a registry error of a request that names `subject`. */
static void registry_error(as_hreq *r, as_err rc, const as_error *err) {
  const char *field = err->field;
  char extra[64] = "";
  if (field[0]) snprintf(extra, sizeof extra, ",\"field\":\"%s\"", field);
  if ((rc == AS_EINVAL || rc == AS_EJSON) && !strcmp(field, "schema"))
    as_hreq_error(r, 400, "invalid_schema", "Invalid schema", extra, "%s", err->message);
  else if (rc == AS_EINVAL && !strcmp(field, "subject"))
    as_hreq_error(r, 400, "invalid_subject", "Validation error", extra, "%s", err->message);
  else if (rc == AS_ELIMIT)
    as_hreq_error(r, 400, "limit_exceeded", "Validation error", extra, "%s", err->message);
  else
    as_hreq_engine_error(r, rc, err);
}

/* --- JSON pieces ---------------------------------------------------------- */

static void put_version(as_buf *b, const as_schema_version *v, const as_subject_info *s) {
  as_buf_puts(b, "{\"id\":");
  as_json_put_uuid(b, v->id);
  as_buf_puts(b, ",\"subject\":");
  as_json_put_str(b, v->subject, v->subject_len);
  as_buf_printf(b, ",\"version\":%u,\"schema\":", v->version);
  as_buf_append(b, v->schema, v->schema_len);
  as_buf_puts(b, ",\"created_at\":");
  as_json_put_time(b, v->created_us);
  as_buf_puts(b, ",\"description\":");
  if (v->description)
    as_json_put_str(b, v->description, v->description_len);
  else
    as_buf_puts(b, "null");
  as_buf_puts(b, ",\"tags\":");
  if (v->tags)
    as_buf_append(b, v->tags, v->tags_len);
  else
    as_buf_puts(b, "[]");
  as_buf_printf(b,
                ",\"latest_version\":%u,\"compatibility\":\"%s\",\"enforcement\":\"%s\","
                "\"stats\":{\"validated\":%llu,\"rejected\":%llu,\"warned\":%llu}}",
                s->latest, as_compat_mode_name(s->compatibility),
                as_enforce_mode_name(s->enforcement), (unsigned long long)s->validated,
                (unsigned long long)s->rejected, (unsigned long long)s->warned);
}

static void put_pointer_or_root(as_buf *b, const char *p) {
  as_buf_puts(b, p[0] ? p : "(root)");
}

/* "errors" (strings, like the seed) and "details" of a validation. */
static void put_errors(as_buf *b, const as_jsonschema_result *res) {
  as_buf buf;
  as_buf_init(&buf, 0);
  as_buf_puts(b, "\"errors\":[");
  for (size_t i = 0; i < res->n_errors; i++) {
    as_buf_reset(&buf);
    put_pointer_or_root(&buf, res->errors[i].instance_path);
    as_buf_puts(&buf, ": ");
    as_buf_puts(&buf, res->errors[i].message);
    if (i) as_buf_putc(b, ',');
    as_json_put_str(b, buf.data ? buf.data : "", buf.len);
  }
  as_buf_free(&buf);
  as_buf_puts(b, "],\"details\":[");
  for (size_t i = 0; i < res->n_errors; i++) {
    const as_jsonschema_error *e = &res->errors[i];
    if (i) as_buf_putc(b, ',');
    as_buf_puts(b, "{\"instance_path\":");
    as_json_put_str(b, e->instance_path, strlen(e->instance_path));
    as_buf_puts(b, ",\"keyword_path\":");
    as_json_put_str(b, e->keyword_path, strlen(e->keyword_path));
    as_buf_puts(b, ",\"message\":");
    as_json_put_str(b, e->message, strlen(e->message));
    as_buf_putc(b, '}');
  }
  as_buf_printf(b, "],\"truncated\":%s", res->truncated || res->aborted ? "true" : "false");
}

static void respond_buf(as_hreq *r, as_buf *b) {
  as_hreq_respond(r, 200, "application/json", b);
}

/* --- Registration ---------------------------------------------------------- */

static void respond_incompatible(as_hreq *r, const char *subject, size_t len,
                                 const as_registry_result *res, const as_error *err) {
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, ",\"subject\":");
  as_json_put_str(&b, subject, len);
  as_buf_printf(&b, ",\"compatibility\":\"%s\",\"incompatibilities\":[",
                as_compat_mode_name(res->mode));
  for (size_t i = 0; i < res->report.n_issues; i++) {
    const as_compat_issue *is = &res->report.issues[i];
    if (i) as_buf_putc(&b, ',');
    as_buf_puts(&b, "{\"path\":");
    as_json_put_str(&b, is->path, strlen(is->path));
    as_buf_puts(&b, ",\"message\":");
    as_json_put_str(&b, is->message, strlen(is->message));
    as_buf_printf(&b, ",\"version\":%zu,\"direction\":\"%s\"}", is->version,
                  is->direction == AS_COMPAT_DIR_BACKWARD ? "backward" : "forward");
  }
  as_buf_printf(&b, "],\"truncated\":%s", res->report.truncated ? "true" : "false");
  if (as_buf_error(&b)) {
    as_buf_free(&b);
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  as_hreq_error(r, 409, "incompatible_schema", "Incompatible schema", b.data, "%s",
                err->message);
  as_buf_free(&b);
}

void as_route_schema_register(as_hreq *r) {
  as_registry *reg = registry(r);
  as_json_val root, sv, dv, tv;
  bool present, has_desc, has_tags;
  const char *subject, *desc = NULL;
  size_t slen, dlen = 0;
  if (!reg || !as_http_object_body(r, BODY_DEPTH, &root) || !string_member(r, root, "subject", &subject, &slen) ||
      !as_http_member(r, root, "schema", AS_JSON_INVALID, true, &sv, &present) ||
      !as_http_member(r, root, "description", AS_JSON_STRING, false, &dv, &has_desc) ||
      !as_http_member(r, root, "tags", AS_JSON_ARRAY, false, &tv, &has_tags))
    return;
  if (sv.len > AS_REGISTRY_MAX_SCHEMA_BYTES) {
    as_hreq_error(r, 413, "schema_too_large", "Payload too large", ",\"field\":\"schema\"",
                  "the schema is %zu bytes; the limit is %u", sv.len,
                  AS_REGISTRY_MAX_SCHEMA_BYTES);
    return;
  }
  if (has_desc && !(desc = as_http_str(r, dv, &dlen))) {
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL, "out of memory");
    return;
  }
  as_registry_result res;
  as_error err;
  as_err rc = as_registry_register(reg, subject, slen, sv.p, sv.len, desc, dlen,
                                   has_tags ? tv.p : NULL, has_tags ? tv.len : 0, &res, &err);
  if (rc == AS_ECONFLICT) {
    respond_incompatible(r, subject, slen, &res, &err);
  } else if (rc) {
    registry_error(r, rc, &err);
  } else {
    as_buf b;
    as_buf_init(&b, 0);
    as_buf_puts(&b, "{\"schema_id\":");
    as_json_put_uuid(&b, res.id);
    as_buf_puts(&b, ",\"subject\":");
    as_json_put_str(&b, subject, slen);
    as_buf_printf(&b, ",\"version\":%u,\"created_at\":", res.version);
    as_json_put_time(&b, res.created_us);
    as_buf_printf(&b, ",\"existing\":%s}", res.existing ? "true" : "false");
    respond_buf(r, &b);
  }
  as_registry_result_free(&res);
}

/* --- Lookups ---------------------------------------------------------------- */

static void put_subject_cb(void *arg, const char *name, size_t len) {
  as_buf *b = arg;
  if (b->data[b->len - 1] != '[') as_buf_putc(b, ',');
  as_json_put_str(b, name, len);
}

void as_route_schema_list(as_hreq *r) {
  as_registry *reg = registry(r);
  if (!reg) return;
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"subjects\":[");
  size_t n;
  as_err rc = as_buf_error(&b) ? AS_ENOMEM : as_registry_subjects(reg, put_subject_cb, &b, &n);
  if (rc) {
    as_buf_free(&b);
    as_hreq_engine_error(r, rc, NULL);
    return;
  }
  as_buf_printf(&b, "],\"total\":%zu}", n);
  respond_buf(r, &b);
}

static void version_cb(void *arg, const as_schema_version *v, const as_subject_info *s) {
  put_version(arg, v, s);
}

static void respond_version(as_hreq *r, const char *subject, size_t len, uint32_t version) {
  as_buf b;
  as_buf_init(&b, 0);
  bool found;
  as_err rc = as_registry_get(r->srv->registry, subject, len, version, version_cb, &b, &found);
  if (rc) {
    as_buf_free(&b);
    if (found)
      version_not_found(r, version, subject, len);
    else
      subject_not_found(r, subject, len);
    return;
  }
  respond_buf(r, &b);
}

void as_route_schema_get(as_hreq *r) {
  if (!registry(r) || reserved(r, r->param, r->param_len)) return;
  uint32_t version = 0;
  const char *vs = as_hreq_arg(r, "version");
  if (vs && !parse_version(vs, strlen(vs), &version)) {
    bad_version(r, vs, strlen(vs));
    return;
  }
  respond_version(r, r->param, r->param_len, version);
}

void as_route_schema_version_get(as_hreq *r) {
  size_t slen;
  uint32_t version;
  if (registry(r) && split_versioned(r, &slen, &version))
    respond_version(r, r->param, slen, version);
}

/* Answers a version list: {"subject":…,"versions":[…]} (plus
 * "deleted":true), or the error `rc`.  Frees `v`. */
static void respond_versions(as_hreq *r, as_err rc, const as_error *err, uint32_t *v,
                             size_t n, bool deleted) {
  if (rc == AS_ENOTFOUND) {
    subject_not_found(r, r->param, r->param_len);
    return;
  }
  if (rc) {
    registry_error(r, rc, err);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"subject\":");
  as_json_put_str(&b, r->param, r->param_len);
  as_buf_puts(&b, ",\"versions\":[");
  for (size_t i = 0; i < n; i++) as_buf_printf(&b, "%s%u", i ? "," : "", v[i]);
  as_buf_puts(&b, deleted ? "],\"deleted\":true}" : "]}");
  as_free(v);
  respond_buf(r, &b);
}

void as_route_schema_versions(as_hreq *r) {
  as_registry *reg = registry(r);
  if (!reg) return;
  uint32_t *v;
  size_t n;
  as_error err;
  memset(&err, 0, sizeof err);
  as_err rc = as_registry_versions(reg, r->param, r->param_len, &v, &n);
  respond_versions(r, rc, &err, v, n, false);
}

/* --- Deletes ------------------------------------------------------------------ */

void as_route_schema_delete_subject(as_hreq *r) {
  as_registry *reg = registry(r);
  if (!reg || reserved(r, r->param, r->param_len)) return;
  uint32_t *v = NULL;
  size_t n = 0;
  as_error err;
  as_err rc = as_registry_delete_subject(reg, r->param, r->param_len, &v, &n, &err);
  respond_versions(r, rc, &err, v, n, true);
}

void as_route_schema_version_delete(as_hreq *r) {
  as_registry *reg = registry(r);
  size_t slen;
  uint32_t version, deleted;
  if (!reg || !split_versioned(r, &slen, &version)) return;
  as_error err;
  as_err rc = as_registry_delete_version(reg, r->param, slen, version, &deleted, &err);
  if (rc == AS_ENOTFOUND) {
    as_subject_info info;
    as_registry_subject_info(reg, r->param, slen, &info);
    if (info.latest)
      version_not_found(r, version, r->param, slen);
    else
      subject_not_found(r, r->param, slen);
    return;
  }
  if (rc) {
    registry_error(r, rc, &err);
    return;
  }
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"subject\":");
  as_json_put_str(&b, r->param, slen);
  as_buf_printf(&b, ",\"version\":%u,\"deleted\":true}", deleted);
  respond_buf(r, &b);
}

/* --- Validation ---------------------------------------------------------------- */

void as_route_schema_validate(as_hreq *r) {
  as_registry *reg = registry(r);
  as_json_val root, vv, pv;
  bool has_version, present;
  const char *subject;
  size_t slen;
  if (!reg || !as_http_object_body(r, BODY_DEPTH, &root) || !string_member(r, root, "subject", &subject, &slen) ||
      !as_http_member(r, root, "version", AS_JSON_INVALID, false, &vv, &has_version) ||
      !as_http_member(r, root, "payload", AS_JSON_INVALID, true, &pv, &present))
    return;
  uint32_t version = 0;
  if (has_version) {
    const char *s = vv.kind == AS_JSON_STRING ? vv.p + 1 : vv.p;
    size_t len = vv.kind == AS_JSON_STRING ? vv.len - 2 : vv.len;
    if ((vv.kind != AS_JSON_NUMBER && vv.kind != AS_JSON_STRING) ||
        !parse_version(s, len, &version)) {
      bad_version(r, vv.p, vv.len);
      return;
    }
  }
  as_jsonschema_result res;
  as_error err;
  uint32_t used;
  bool found;
  as_err rc = as_registry_validate(reg, subject, slen, version, pv.p, pv.len, &used, &res,
                                   &found, &err);
  if (rc == AS_ENOTFOUND) {
    if (found)
      version_not_found(r, version, subject, slen);
    else
      subject_not_found(r, subject, slen);
  } else if (rc == AS_EJSON) {
    as_hreq_error(r, 400, "validation_error", "Validation error", ",\"field\":\"payload\"",
                  "payload cannot be read: %s", err.message);
  } else if (rc == AS_EINVAL) {
    as_hreq_error(r, 500, "internal_error", "Internal error", NULL,
                  "version %u of %.*s does not compile: %s", used, (int)AS_MIN(slen, 200u),
                  subject, err.message);
  } else if (rc) {
    as_hreq_engine_error(r, rc, NULL);
  } else {
    as_buf b;
    as_buf_init(&b, 0);
    as_buf_printf(&b, "{\"valid\":%s,", res.valid ? "true" : "false");
    put_errors(&b, &res);
    as_buf_printf(&b, ",\"schema_version\":%u,\"subject\":", used);
    as_json_put_str(&b, subject, slen);
    as_buf_putc(&b, '}');
    respond_buf(r, &b);
  }
  as_jsonschema_result_free(&res);
}

/* --- Settings ---------------------------------------------------------------- */

/* Reads member `name` as a mode: compatibility (compat) or enforcement. */
static bool mode_member(as_hreq *r, as_json_val root, const char *name, bool compat,
                        bool required, int *mode, bool *present) {
  as_json_val v;
  if (!as_http_member(r, root, name, AS_JSON_STRING, required, &v, present)) return false;
  if (!*present) return true;
  char s[32] = "";
  if (v.len - 2 < sizeof s) {
    memcpy(s, v.p + 1, v.len - 2);
    s[v.len - 2] = '\0';
  }
  as_compat_mode cm;
  as_enforce_mode em;
  if (compat ? as_compat_mode_parse(s, &cm) == AS_OK
             : as_enforce_mode_parse(s, strlen(s), &em) == AS_OK) {
    *mode = compat ? (int)cm : (int)em;
    return true;
  }
  return as_http_field_error(r, name,
                     compat ? "must be one of NONE, BACKWARD, FORWARD, FULL, "
                              "BACKWARD_TRANSITIVE, FORWARD_TRANSITIVE, FULL_TRANSITIVE"
                            : "must be one of off, warn, enforce");
}

static void respond_setting(as_hreq *r, size_t slen, const char *key, const char *value) {
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, "{\"subject\":");
  as_json_put_str(&b, r->param, slen);
  as_buf_printf(&b, ",\"%s\":\"%s\"}", key, value);
  respond_buf(r, &b);
}

/* PUT …/{subject}/compatibility {compatibility} (compat) or
 * …/{subject}/enforcement {mode}. */
static void put_subject_mode(as_hreq *r, bool compat) {
  as_registry *reg = registry(r);
  as_json_val root;
  int mode;
  bool present;
  if (!reg || !as_http_object_body(r, BODY_DEPTH, &root) ||
      !mode_member(r, root, compat ? "compatibility" : "mode", compat, true, &mode, &present))
    return;
  as_error err;
  as_err rc = compat ? as_registry_set_compatibility(reg, r->param, r->param_len,
                                                     (as_compat_mode)mode, &err)
                     : as_registry_set_enforcement(reg, r->param, r->param_len,
                                                   (as_enforce_mode)mode, &err);
  if (rc)
    registry_error(r, rc, &err);
  else if (compat)
    respond_setting(r, r->param_len, "compatibility", as_compat_mode_name((as_compat_mode)mode));
  else
    respond_setting(r, r->param_len, "enforcement", as_enforce_mode_name((as_enforce_mode)mode));
}

void as_route_schema_compat_put(as_hreq *r) { put_subject_mode(r, true); }

void as_route_schema_enforce_put(as_hreq *r) { put_subject_mode(r, false); }

static void respond_config(as_hreq *r, as_registry *reg) {
  as_registry_settings st;
  as_registry_settings_get(reg, &st);
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_printf(&b, "{\"compatibility\":\"%s\",\"enforcement\":\"%s\",\"subject_suffix\":",
                as_compat_mode_name(st.compatibility), as_enforce_mode_name(st.enforcement));
  as_json_put_str(&b, st.subject_suffix, strlen(st.subject_suffix));
  as_buf_printf(&b,
                ",\"subjects\":%zu,\"stats\":{\"validated\":%llu,\"rejected\":%llu,"
                "\"warned\":%llu}}",
                st.subjects, (unsigned long long)st.validated,
                (unsigned long long)st.rejected, (unsigned long long)st.warned);
  respond_buf(r, &b);
}

void as_route_schema_config_get(as_hreq *r) {
  as_registry *reg = registry(r);
  if (reg) respond_config(r, reg);
}

void as_route_schema_config_put(as_hreq *r) {
  as_registry *reg = registry(r);
  as_json_val root;
  int cm = 0, em = 0;
  bool has_c, has_e;
  if (!reg || !as_http_object_body(r, BODY_DEPTH, &root) ||
      !mode_member(r, root, "compatibility", true, false, &cm, &has_c) ||
      !mode_member(r, root, "enforcement", false, false, &em, &has_e))
    return;
  if (!has_c && !has_e) {
    as_hreq_error(r, 400, "validation_error", "Validation error", NULL,
                  "give \"compatibility\", \"enforcement\" or both");
    return;
  }
  as_error err;
  as_err rc = has_c ? as_registry_set_compatibility(reg, NULL, 0, (as_compat_mode)cm, &err)
                    : AS_OK;
  if (!rc && has_e) rc = as_registry_set_enforcement(reg, NULL, 0, (as_enforce_mode)em, &err);
  if (rc)
    registry_error(r, rc, &err);
  else
    respond_config(r, reg);
}

/* --- Rejections at ingest ------------------------------------------------------ */

void as_route_schema_rejection(as_hreq *r, const as_event_in *ev, size_t n) {
  as_registry *reg = r->srv->registry;
  if (!reg || !as_registry_is_rejection(&r->aerr) || r->aerr.index >= n) return;
  const as_event_in *e = &ev[r->aerr.index];
  char subject[AS_REGISTRY_MAX_SUBJECT_LEN + 1];
  size_t slen = as_registry_subject_of(reg, e->event_type, e->event_type_len, subject,
                                       sizeof subject);
  as_jsonschema_result res;
  uint32_t used;
  as_err rc = slen ? as_registry_validate(reg, subject, slen, 0, e->payload, e->payload_len,
                                          &used, &res, NULL, NULL)
                   : AS_ENOTFOUND;
  if (!rc && !res.valid) {
    as_buf b;
    as_buf_init(&b, 0);
    as_buf_printf(&b, ",\"field\":\"payload\",\"index\":%u,\"subject\":", r->aerr.index);
    as_json_put_str(&b, subject, slen);
    as_buf_printf(&b, ",\"schema_version\":%u,", used);
    put_errors(&b, &res);
    char *extra = as_buf_error(&b) ? NULL : as_hreq_alloc(r, b.len + 1);
    if (extra) {
      memcpy(extra, b.data, b.len + 1);
      r->error_extra = extra;
    }
    as_buf_free(&b);
  }
  if (slen) as_jsonschema_result_free(&res);
}
