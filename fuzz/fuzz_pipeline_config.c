/*
 * fuzz_pipeline_config.c — the pipeline config parser (as_pdef_parse) and
 * the operators it compiles, over arbitrary bytes.
 *
 * Invariants: no crash, leak or hang; the result is one of the documented
 * codes, and a refusal carries a message; an accepted config renders to a
 * canonical form that parses again and renders identically; running a few
 * fixed events (objects, scalars, arrays, nested values, metadata, every
 * event type of the seed example) through the compiled pipeline never
 * fails for a reason other than the documented runtime ones, counts every
 * selected event exactly once, and its results are valid JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "allsource.h"
#include "core/as_json.h"
#include "fuzz.h"
#include "services/as_pipeline.h"
#include "services/as_pipeline_int.h"

static const char *const payloads[] = {
    "{\"country\":\"US\",\"amount\":12.5,\"plan\":\"pro\",\"user\":{\"name\":\" Ann \"}}",
    "{\"country\":\"DE\",\"amount\":\"7\",\"plan\":3,\"v\":1e308}",
    "[1,2,3]",
    "\"text\"",
    "{\"a\":{\"b\":{\"c\":-0.0}},\"a\":null,\"_route\":true}",
    "{}",
};

static void run_events(const as_pdef *d) {
  as_pstate *s;
  if (as_pstate_new(d, &s) != AS_OK) return;
  uint64_t selected = 0;
  for (size_t i = 0; i < 3 * sizeof payloads / sizeof *payloads; i++) {
    const char *p = payloads[i % (sizeof payloads / sizeof *payloads)];
    as_event ev;
    memset(&ev, 0, sizeof ev);
    ev.position = i + 1;
    ev.version = 1;
    ev.timestamp_us = (int64_t)i * 7000000;
    ev.entity_id = "e-1";
    ev.entity_id_len = 3;
    ev.tenant_id = "default";
    ev.tenant_id_len = 7;
    ev.event_type = i % 2 ? "order.placed" : "user.created";
    ev.event_type_len = (uint32_t)strlen(ev.event_type);
    ev.payload = p;
    ev.payload_len = (uint32_t)strlen(p);
    ev.metadata = "{\"src\":{\"app\":\"web\"}}";
    ev.metadata_len = (uint32_t)strlen(ev.metadata);
    if (d->enabled && as_pdef_wants_type(d, ev.event_type, ev.event_type_len)) selected++;
    as_pstate_apply(s, &ev);
  }
  as_pipeline_stats st;
  as_pstate_stats(s, &st);
  if (st.events_processed + st.events_failed != selected) abort();
  if (st.events_filtered > st.events_processed) abort();
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_putc(&b, '{');
  as_pstate_results(s, &b);
  as_buf_putc(&b, '}');
  if (!as_buf_error(&b) && as_json_validate(b.data, b.len, 1024, NULL, NULL) != AS_OK) abort();
  as_buf_free(&b);
  as_pstate_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t gen[16] = {1};
  as_pdef *d = NULL;
  as_pipeline_error err;
  as_err rc = as_pdef_parse((const char *)data, size, gen, &d, &err);
  if (rc != AS_OK) {
    if (rc != AS_EJSON && rc != AS_EINVAL && rc != AS_ELIMIT && rc != AS_ENOMEM) abort();
    if (!err.message[0] || d) abort();
    return 0;
  }
  as_buf a, b;
  as_buf_init(&a, 0);
  as_buf_init(&b, 0);
  as_pdef_render(d, 0, &a);
  if (as_buf_error(&a)) abort();
  if (as_pipeline_config_check(a.data, a.len, &b, &err) != AS_OK) abort();
  if (a.len != b.len || memcmp(a.data, b.data, a.len)) abort();
  as_buf_free(&a);
  as_buf_free(&b);
  run_events(d);
  as_pdef_free(d);
  return 0;
}
