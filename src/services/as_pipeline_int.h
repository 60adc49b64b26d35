/*
 * as_pipeline_int.h — internals of the pipeline module, shared by
 * as_pipeline_config.c (parsing a config into a compiled definition and
 * rendering it back), as_pipeline_exec.c (running events through a
 * definition and keeping its state) and as_pipeline.c (the service).
 *
 * Ownership: an as_pdef owns everything it points to and is immutable once
 * parsed (shared by the service and the state that runs it); an as_pstate
 * owns its state and borrows its definition, which must outlive it.
 */
#ifndef AS_PIPELINE_INT_H
#define AS_PIPELINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_buf.h"
#include "core/as_json.h"
#include "services/as_pipeline.h"
#include "services/as_pipeline_value.h"

/* Config limits (docs/pipelines.md, "Limits"). */
#define AS_PCFG_MAX_BYTES AS_PIPELINE_MAX_CONFIG_BYTES
#define AS_PCFG_MAX_DEPTH 32u          /* JSON nesting of a config */
#define AS_PCFG_MAX_NAME 256u          /* bytes of UTF-8 */
#define AS_PCFG_MAX_DESCRIPTION 4096u
#define AS_PCFG_MAX_OUTPUT 256u
#define AS_PCFG_MAX_TYPES 64u          /* source_event_types entries */
#define AS_PCFG_MAX_OPERATORS 32u
#define AS_PCFG_MAX_VALUE 4096u        /* bytes of a filter's value */
#define AS_PCFG_MAX_BRANCHES 64u
#define AS_PCFG_MAX_ENRICH 32u
#define AS_PCFG_MAX_SECONDS 31622400u  /* window sizes: 366 days */
#define AS_PCFG_MAX_WINDOW_STEPS 1000u /* sliding windows per event */
#define AS_PCFG_DEFAULT_GROUPS 10000u
#define AS_PCFG_MAX_GROUPS 100000u
#define AS_PCFG_DEFAULT_WINDOWS 100u
#define AS_PCFG_MAX_WINDOWS 10000u
#define AS_PCFG_DEFAULT_OUTPUTS 10u
#define AS_PCFG_MAX_OUTPUTS 1000u
#define AS_PCFG_DEFAULT_SESSION 300u   /* session timeout, seconds (seed) */
/* State limits. */
#define AS_PSTATE_MAX_CELLS 100000u    /* groups of every reduce and window
                                          operator of one pipeline together */
#define AS_PSTATE_MAX_GROUP_KEY 256u   /* bytes of a group value */
#define AS_PSTATE_MAX_OUTPUT_BYTES (1u << 20) /* kept outputs, all together */

typedef enum as_pop_type {
  AS_POP_FILTER,
  AS_POP_MAP,
  AS_POP_REDUCE,
  AS_POP_WINDOW,
  AS_POP_ENRICH,
  AS_POP_BRANCH
} as_pop_type;

typedef enum as_pfilter_op {
  AS_PF_EQ, AS_PF_NE, AS_PF_GT, AS_PF_LT, AS_PF_GTE, AS_PF_LTE, AS_PF_CONTAINS
} as_pfilter_op;

typedef enum as_pmap_fn {
  AS_PM_UPPERCASE, AS_PM_LOWERCASE, AS_PM_TRIM, AS_PM_MULTIPLY, AS_PM_ADD
} as_pmap_fn;

typedef enum as_preduce_fn {
  AS_PR_COUNT, AS_PR_SUM, AS_PR_AVG, AS_PR_MIN, AS_PR_MAX
} as_preduce_fn;

typedef enum as_pwindow_type {
  AS_PW_TUMBLING, AS_PW_SLIDING, AS_PW_SESSION
} as_pwindow_type;

typedef enum as_penrich_source { AS_PE_EVENT, AS_PE_METADATA } as_penrich_source;

typedef enum as_pstart { AS_PSTART_NOW, AS_PSTART_BEGINNING, AS_PSTART_AT } as_pstart;

const char *as_preduce_fn_name(as_preduce_fn f);
const char *as_pwindow_type_name(as_pwindow_type t);
const char *as_pop_type_name(as_pop_type t);

typedef struct as_preduce {
  as_preduce_fn fn;
  as_ppath field; /* ignored by count */
  bool has_group;
  as_ppath group_by;
  uint32_t max_groups;
} as_preduce;

typedef struct as_pbranch {
  char *key; /* decoded; owned */
  size_t key_len;
  char *route; /* JSON string literal of the route; owned */
  size_t route_len;
} as_pbranch;

typedef struct as_pop {
  as_pop_type type;
  as_json_val raw; /* the operator's JSON text (in as_pdef.text) */
  as_ppath field;  /* filter, map, branch */
  /* filter */
  as_pfilter_op fop;
  as_json_val value; /* in as_pdef.text */
  /* map */
  as_pmap_fn mfn;
  double arg;
  /* reduce, and a window's aggregation */
  as_preduce reduce;
  /* window */
  as_pwindow_type wtype;
  uint32_t size_s, slide_s, timeout_s;
  int64_t size_us, slide_us, timeout_us;
  uint32_t max_windows;
  /* enrich */
  as_penrich_source esource;
  as_ppath *efields;
  uint32_t n_efields;
  /* branch */
  as_pbranch *branches;
  uint32_t n_branches;
} as_pop;

typedef struct as_pdef {
  uint8_t id[16];
  char *text; /* the config JSON as received; owned */
  size_t text_len;
  char *name; /* decoded, NUL-terminated; owned */
  size_t name_len;
  char *description; /* decoded; NULL = none */
  size_t description_len;
  char *output;
  size_t output_len;
  char **types; /* decoded, NUL-terminated; a trailing ".*" kept */
  size_t *type_lens;
  uint32_t n_types;
  as_pop *ops;
  uint32_t n_ops;
  bool enabled;
  as_pstart start;
  uint64_t start_at; /* AS_PSTART_AT */
  uint32_t max_outputs;
} as_pdef;

/** Parses and checks config[0..len).  `gen_id` (may be NULL) is used when
 *  the config has no "id".  On success *out (free with as_pdef_free()).
 *  Errors: AS_EJSON, AS_EINVAL, AS_ELIMIT with err->field/message. */
as_err as_pdef_parse(const char *config, size_t len, const uint8_t *gen_id, as_pdef **out,
                     as_pipeline_error *err);
void as_pdef_free(as_pdef *d);

/** Appends the config as stored and returned: the seed's fields (operators
 *  as received) plus "start_from" and "max_outputs".  With `start` non-zero
 *  "start_from" is that position (the resolved start). */
void as_pdef_render(const as_pdef *d, uint64_t start, as_buf *b);

/** True if the definition selects events of type t[0..len). */
bool as_pdef_wants_type(const as_pdef *d, const char *t, size_t len);

/* --- State (as_pipeline_exec.c) -------------------------------------------- */

typedef struct as_pstate as_pstate;

as_err as_pstate_new(const as_pdef *d, as_pstate **out);
void as_pstate_free(as_pstate *s);
/** Forgets all state and counters. */
void as_pstate_clear(as_pstate *s);
/** Runs one committed event (every position, whatever its type, in
 *  order) through the pipeline.  Never fails: errors are counted. */
void as_pstate_apply(as_pstate *s, const as_event *ev);
/** Counters into out (id, name, enabled and positions are the caller's). */
void as_pstate_stats(const as_pstate *s, as_pipeline_stats *out);
/** Appends {"operators":[...],"outputs":[...],"cells":n} members (without
 *  braces) to b. */
void as_pstate_results(const as_pstate *s, as_buf *b);

#endif /* AS_PIPELINE_INT_H */
