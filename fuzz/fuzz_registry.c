/*
 * fuzz_registry.c — the schema registry driven by a script of operations
 * against a memory-only store with the registry installed as its ingest
 * validator.
 *
 * Input: records separated by NUL bytes; each starts with an operation
 * byte, then a subject byte (subject "s<byte % 3>", event type the same),
 * then data:
 *   'R' register the data as a schema     'E' append the data as a payload
 *   'V' validate the data (latest)        'D' delete the latest version
 *   'X' delete the subject                'C' compatibility mode data[0] % 7
 *   'F' enforcement mode data[0] % 3      (others are skipped)
 * Invariants: no crash, leak or hang; results are among the documented
 * codes; registering an accepted schema again returns the same version;
 * live versions ascend; in enforce mode an append is refused exactly when
 * as_registry_validate() finds the payload invalid, and the refusal is
 * recognised by as_registry_is_rejection(); in warn and off modes nothing
 * is refused.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "allsource.h"
#include "fuzz.h"
#include "services/as_registry.h"

static void quiet(void *ctx, as_log_level level, const char *msg) {}

static void check_versions(as_registry *r, const char *subject) {
  uint32_t *v;
  size_t n;
  if (as_registry_versions(r, subject, 2, &v, &n) != AS_OK) return;
  for (size_t i = 1; i < n; i++)
    if (v[i] <= v[i - 1]) abort();
  as_free(v);
}

static void op_register(as_registry *r, const char *subject, const char *d, size_t len) {
  as_registry_result res, again;
  as_err rc = as_registry_register(r, subject, 2, d, len, NULL, 0, NULL, 0, &res, NULL);
  if (rc != AS_OK && rc != AS_EINVAL && rc != AS_EJSON && rc != AS_ELIMIT &&
      rc != AS_ECONFLICT)
    abort();
  if (rc == AS_ECONFLICT && (res.report.compatible || res.report.n_issues == 0)) abort();
  if (rc == AS_OK) {
    if (as_registry_register(r, subject, 2, d, len, NULL, 0, NULL, 0, &again, NULL) != AS_OK ||
        !again.existing || again.version != res.version ||
        memcmp(again.id, res.id, 16) != 0)
      abort();
    as_registry_result_free(&again);
  }
  as_registry_result_free(&res);
}

static void op_append(as_db *db, as_registry *r, const char *subject, const char *d,
                      size_t len) {
  if (len == 0) return;
  as_event_in ev;
  as_event_in_init(&ev);
  ev.entity_id = "e";
  ev.entity_id_len = 1;
  ev.event_type = subject;
  ev.event_type_len = 2;
  ev.payload = d;
  ev.payload_len = len;
  as_subject_info info;
  as_registry_subject_info(r, subject, 2, &info);
  as_error err;
  as_err rc = as_append(db, &ev, 1, NULL, &err);
  if (rc == AS_EJSON || rc == AS_ELIMIT) return; /* the engine's own checks */
  if (rc != AS_OK && rc != AS_EINVAL) abort();
  if (rc == AS_EINVAL && !as_registry_is_rejection(&err)) abort();
  if (info.latest == 0 || info.enforcement != AS_ENFORCE_ENFORCE) {
    if (rc != AS_OK) abort();
    return;
  }
  as_jsonschema_result res;
  uint32_t used;
  as_err vrc = as_registry_validate(r, subject, 2, 0, d, len, &used, &res, NULL, NULL);
  /* Payloads jansson cannot read are refused at ingest, reported as
   * AS_EJSON by validate. */
  if (vrc == AS_EJSON) {
    if (rc != AS_EINVAL) abort();
  } else if (vrc == AS_OK) {
    if (used != info.latest) abort();
    if (res.valid != (rc == AS_OK)) abort();
  }
  as_jsonschema_result_free(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  as_options o;
  as_options_init(&o);
  o.durability = AS_DURABILITY_NONE;
  o.snapshot_every_events = 0;
  o.snapshot_every_seconds = 0;
  o.log_fn = quiet;
  as_db *db;
  if (as_db_open(NULL, &o, &db, NULL) != AS_OK) abort();
  as_registry_config c;
  as_registry_config_init(&c);
  c.log_fn = quiet;
  as_registry *r;
  if (as_registry_open(db, &c, &r, NULL) != AS_OK) abort();
  as_db_set_validator(db, as_registry_check_event, r);

  const char *p = (const char *)data, *end = p + size;
  int ops = 0;
  while (p < end && ops++ < 64) {
    const char *nul = memchr(p, 0, (size_t)(end - p));
    const char *rec_end = nul ? nul : end;
    size_t len = (size_t)(rec_end - p);
    if (len >= 2) {
      char subject[3] = {'s', (char)('0' + (unsigned char)p[1] % 3), 0};
      const char *d = p + 2;
      size_t dl = len - 2;
      unsigned arg = dl ? (unsigned char)d[0] : 0;
      switch (p[0]) {
        case 'R': op_register(r, subject, d, dl); break;
        case 'E': op_append(db, r, subject, d, dl); break;
        case 'V': {
          as_jsonschema_result res;
          uint32_t used;
          as_err rc = as_registry_validate(r, subject, 2, 0, d, dl, &used, &res, NULL, NULL);
          if (rc != AS_OK && rc != AS_ENOTFOUND && rc != AS_EJSON) abort();
          as_jsonschema_result_free(&res);
          break;
        }
        case 'D': as_registry_delete_version(r, subject, 2, 0, NULL, NULL); break;
        case 'X': as_registry_delete_subject(r, subject, 2, NULL, NULL, NULL); break;
        case 'C':
          if (as_registry_set_compatibility(r, subject, 2, (as_compat_mode)(arg % 7), NULL))
            abort();
          break;
        case 'F':
          if (as_registry_set_enforcement(r, subject, 2, (as_enforce_mode)(arg % 3), NULL))
            abort();
          break;
        default: break;
      }
      check_versions(r, subject);
    }
    p = rec_end + 1;
  }
  as_db_close(db);
  as_registry_free(r);
  return 0;
}
