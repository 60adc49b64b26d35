/*
 * as_jsonschema.h — a JSON Schema validator (draft-07 and draft 2020-12).
 *
 * A schema (a jansson json_t) is compiled once into an immutable
 * as_jsonschema; the compiled form may then validate instances from any
 * number of threads at once (it is never modified after compilation; every
 * per-validation state lives on the caller's stack or in the result).
 *
 * Drafts: "$schema" selects the draft of the root schema and of embedded
 * resources: draft-07 ("http://json-schema.org/draft-07/schema#") or 2020-12
 * ("https://json-schema.org/draft/2020-12/schema").  A "$schema" naming a
 * custom meta-schema is looked up like a "$ref" (registered documents, then
 * the resolver); its own "$schema" gives the draft and its "$vocabulary"
 * switches keyword vocabularies on or off.  Without "$schema" the draft is
 * opts->default_draft (2020-12 unless set).  Anything else is an error.
 *
 * References: "$ref", "$dynamicRef", "$id", "$anchor", "$dynamicAnchor" and
 * JSON-pointer fragments resolve inside the schema, among the documents
 * registered up-front (opts->docs), the built-in meta-schemas of both
 * drafts, and last through opts->resolve.  The network is never used.
 *
 * Numbers: jansson integers are int64 and reals are doubles.  Callers that
 * parse untrusted text should use as_jsonschema_parse(), which falls back
 * to reading every integer as a double when one does not fit in int64, so
 * such instances are still validated (approximately, as doubles).  A real
 * with no fractional part counts as an integer (1.0 is an integer).
 *
 * Limits (see docs/jsonschema.md): evaluation depth (opts->max_depth),
 * evaluation steps (opts->max_steps), errors collected (opts->max_errors),
 * schema nodes (opts->max_nodes) and schema nesting (AS_JSONSCHEMA_MAX_NESTING).
 */
#ifndef AS_JSONSCHEMA_H
#define AS_JSONSCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"

typedef enum as_jsonschema_draft {
  AS_JSONSCHEMA_DRAFT_DEFAULT = 0, /* = 2020-12 */
  AS_JSONSCHEMA_DRAFT_07 = 7,
  AS_JSONSCHEMA_DRAFT_2020_12 = 2020
} as_jsonschema_draft;

/* Option flags. */
#define AS_JSONSCHEMA_FORMAT_ASSERT 0x1u /* "format" fails invalid values */

#define AS_JSONSCHEMA_DEFAULT_MAX_ERRORS 100u
#define AS_JSONSCHEMA_DEFAULT_MAX_DEPTH 256u     /* nested schema evaluations */
#define AS_JSONSCHEMA_HARD_MAX_DEPTH 2048u
#define AS_JSONSCHEMA_DEFAULT_MAX_STEPS 10000000u /* schema evaluations/call */
#define AS_JSONSCHEMA_DEFAULT_MAX_NODES 100000u   /* compiled subschemas */
#define AS_JSONSCHEMA_MAX_NESTING 256u            /* schema JSON nesting */

/** Resolver of remote references.  `uri` is absolute and has no fragment.
 *  Returns a NEW reference to the document (the validator takes it over and
 *  releases it with json_decref()), or NULL when the URI is unknown.  Called
 *  only from as_jsonschema_compile(), on the compiling thread. */
typedef json_t *(*as_jsonschema_resolve_fn)(void *ctx, const char *uri);

/** A document registered up-front under an absolute URI (no fragment). */
typedef struct as_jsonschema_doc {
  const char *uri;     /* borrowed for the duration of compile */
  const json_t *json;  /* borrowed; the compiled schema keeps a reference */
} as_jsonschema_doc;

typedef struct as_jsonschema_opts {
  as_jsonschema_draft default_draft; /* when the root has no "$schema" */
  uint32_t flags;                    /* AS_JSONSCHEMA_FORMAT_ASSERT */
  const char *base_uri;              /* retrieval URI of the root; NULL = "" */
  as_jsonschema_resolve_fn resolve;  /* NULL = no remote documents */
  void *resolve_ctx;
  const as_jsonschema_doc *docs;     /* extra documents; borrowed */
  size_t n_docs;
  uint32_t max_errors; /* errors kept per validation; 0 = default */
  uint32_t max_depth;  /* 0 = default; capped at the hard maximum */
  uint64_t max_steps;  /* 0 = default */
  uint32_t max_nodes;  /* 0 = default */
} as_jsonschema_opts;

/** Fills `o` with the defaults (2020-12, annotation-only formats, no
 *  resolver, default limits). */
void as_jsonschema_opts_init(as_jsonschema_opts *o);

typedef struct as_jsonschema as_jsonschema;

/** Compiles `schema` (borrowed; the compiled form keeps references to the
 *  JSON values it needs, so the caller may release its own reference right
 *  after).  `opts` may be NULL for defaults.  On success *out is owned by
 *  the caller (as_jsonschema_free()).
 *  Returns AS_EINVAL (malformed schema, unresolvable reference, invalid
 *  regular expression, unknown draft or required vocabulary; `err->message`
 *  says which, with the JSON pointer of the offending keyword), AS_ELIMIT
 *  (nesting or node limit) or AS_ENOMEM.  `err` may be NULL. */
as_err as_jsonschema_compile(const json_t *schema, const as_jsonschema_opts *opts,
                             as_jsonschema **out, as_error *err);

/** Frees a compiled schema.  Accepts NULL.  Must not race with validations
 *  of the same schema. */
void as_jsonschema_free(as_jsonschema *s);

/** The draft of the root schema. */
as_jsonschema_draft as_jsonschema_draft_of(const as_jsonschema *s);

/** One validation error.  All strings are owned by the result. */
typedef struct as_jsonschema_error {
  const char *instance_path; /* JSON pointer into the instance ("" = root) */
  const char *keyword_path;  /* JSON pointer of the failing keyword along the
                                evaluation path ("/properties/age/type");
                                "$ref" segments show references followed */
  const char *schema_uri;    /* absolute location of the keyword
                                ("<base-uri>#/properties/age/type") */
  const char *message;       /* "expected integer, got string" */
} as_jsonschema_error;

typedef struct as_jsonschema_result {
  bool valid;
  bool truncated;  /* more errors existed than max_errors */
  bool aborted;    /* a depth/step limit stopped evaluation (valid = false) */
  size_t n_errors;
  as_jsonschema_error *errors; /* owned; as_jsonschema_result_free() */
  size_t _cap;                 /* internal */
} as_jsonschema_result;

/** Validates `instance` (borrowed, not modified) against `s`.  Fills `res`
 *  (the caller frees it with as_jsonschema_result_free(), also on failure).
 *  Returns AS_OK when evaluation completed or stopped at a documented limit
 *  (res->valid tells the verdict), AS_ENOMEM otherwise. */
as_err as_jsonschema_validate(const as_jsonschema *s, const json_t *instance,
                              as_jsonschema_result *res);

/** Fast verdict without error details.  Returns AS_OK with *valid set, or
 *  AS_ENOMEM.  Limits make the instance invalid. */
as_err as_jsonschema_check(const as_jsonschema *s, const json_t *instance,
                           bool *valid);

/** Releases the errors of a result; the result is empty afterwards.
 *  Accepts a zeroed result. */
void as_jsonschema_result_free(as_jsonschema_result *res);

/** Parses JSON text for validation: integers beyond int64 make the whole
 *  document parse with every integer as a double (JSON_DECODE_INT_AS_REAL),
 *  so they are compared approximately instead of being rejected.  Strings
 *  may contain \u0000.  Returns a new reference, or NULL with `err` filled
 *  (AS_EJSON).  `err` may be NULL. */
json_t *as_jsonschema_parse(const char *text, size_t len, as_error *err);

#endif /* AS_JSONSCHEMA_H */
