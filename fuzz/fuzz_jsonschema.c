/*
 * fuzz_jsonschema.c — JSON Schema compile + validate + compatibility.
 *
 * Input: a schema document, a NUL byte, an instance document.  The schema
 * is compiled (every URI it references resolves to the schema itself, so
 * remote-reference code runs too), the instance validated twice, and the
 * compatibility checker run for the schema against itself and against the
 * instance taken as another schema version.
 * Invariants checked: no crash, leak or hang (limits keep each run small);
 * a completed validation agrees with the verdict-only check and reports
 * errors exactly when the instance is invalid; a schema is always FULL
 * compatible with itself when the check reports no error of its own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "services/as_jsonschema.h"
#include "services/as_schema_compat.h"

static json_t *self_resolve(void *ctx, const char *uri) {
  (void)uri;
  return json_incref((json_t *)ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *nul = memchr(data, 0, size);
  size_t slen = nul ? (size_t)(nul - data) : size;
  json_t *schema = as_jsonschema_parse((const char *)data, slen, NULL);
  json_t *inst = nul ? as_jsonschema_parse((const char *)nul + 1,
                                           size - slen - 1, NULL)
                     : NULL;
  if (!schema) goto out;
  as_jsonschema_opts o;
  as_jsonschema_opts_init(&o);
  o.resolve = self_resolve;
  o.resolve_ctx = schema;
  o.max_steps = 20000;
  o.max_nodes = 5000;
  o.max_errors = 20;
  o.flags = (size & 1) ? AS_JSONSCHEMA_FORMAT_ASSERT : 0;
  as_jsonschema *s = NULL;
  if (as_jsonschema_compile(schema, &o, &s, NULL) == AS_OK && inst) {
    as_jsonschema_result r;
    bool quick = false;
    as_err a = as_jsonschema_validate(s, inst, &r);
    as_err b = as_jsonschema_check(s, inst, &quick);
    if (a == AS_OK && b == AS_OK && !r.aborted) {
      if (quick != r.valid) abort();
      if (r.valid != (r.n_errors == 0)) abort();
    }
    for (size_t i = 0; i < r.n_errors; i++)
      if (!r.errors[i].instance_path || !r.errors[i].message) abort();
    as_jsonschema_result_free(&r);
  }
  as_jsonschema_free(s);

  as_compat_report rep;
  const json_t *prev[2] = {schema, inst};
  if (as_schema_compat_check(AS_COMPAT_FULL, schema, prev, 1, &rep) == AS_OK &&
      !rep.compatible) {
    /* Self-comparison may only fail on what cannot be proven at all. */
    for (size_t i = 0; i < rep.n_issues; i++)
      if (!strstr(rep.issues[i].message, "cannot") &&
          !strstr(rep.issues[i].message, "too deeply") &&
          !strstr(rep.issues[i].message, "not a schema"))
        abort();
  }
  as_compat_report_free(&rep);
  if (inst) {
    as_schema_compat_check(AS_COMPAT_FULL_TRANSITIVE, inst, prev, 1, &rep);
    as_compat_report_free(&rep);
    as_schema_compat_check(AS_COMPAT_BACKWARD, schema, prev + 1, 1, &rep);
    as_compat_report_free(&rep);
  }
out:
  json_decref(schema);
  json_decref(inst);
  return 0;
}
