/*
 * as_jsonschema_int.h — internals shared by the as_jsonschema_*.c files.
 *
 * Compiled form: an array of nodes (one per subschema reached from the root
 * or through references), each a list of keywords in evaluation order
 * (unevaluated* last).  Subschemas are referred to by node index, so
 * reference cycles are plain index cycles.  Everything here is written only
 * by the compiler and read-only afterwards, which is what makes concurrent
 * validation safe.
 */
#ifndef AS_JSONSCHEMA_INT_H
#define AS_JSONSCHEMA_INT_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/as_buf.h"
#include "core/as_common.h"
#include "services/as_jsonschema.h"

#define JS_NONE UINT32_MAX /* "no subschema" */

/* Vocabularies (2020-12 meta-schema "$vocabulary"; draft-07: all). */
#define JS_V_CORE 0x01u
#define JS_V_APPLICATOR 0x02u
#define JS_V_UNEVALUATED 0x04u
#define JS_V_VALIDATION 0x08u
#define JS_V_FORMAT_ANN 0x10u
#define JS_V_FORMAT_ASSERT 0x20u
#define JS_V_CONTENT 0x40u
#define JS_V_METADATA 0x80u
#define JS_V_ALL (0xffu & ~JS_V_FORMAT_ASSERT)

/* Type bits. */
#define JS_T_NULL 0x01u
#define JS_T_BOOLEAN 0x02u
#define JS_T_OBJECT 0x04u
#define JS_T_ARRAY 0x08u
#define JS_T_NUMBER 0x10u
#define JS_T_STRING 0x20u
#define JS_T_INTEGER 0x40u

/* A JSON number: an exact int64 or a double. */
typedef struct js_num {
  bool is_int;
  int64_t i;
  double d;
} js_num;

/* A number as an exact decimal m * 10^e (shortest round-trip digits). */
typedef struct js_dec {
  uint64_t m;
  int32_t e;
  bool neg;
  bool ok; /* false for non-finite */
} js_dec;

typedef enum js_kw_kind {
  JS_KW_REF,
  JS_KW_DYNREF,
  JS_KW_TYPE,
  JS_KW_ENUM,
  JS_KW_CONST,
  JS_KW_MULTIPLE_OF,
  JS_KW_MAXIMUM,
  JS_KW_EXCL_MAXIMUM,
  JS_KW_MINIMUM,
  JS_KW_EXCL_MINIMUM,
  JS_KW_MAX_LENGTH,
  JS_KW_MIN_LENGTH,
  JS_KW_PATTERN,
  JS_KW_FORMAT,
  JS_KW_MAX_ITEMS,
  JS_KW_MIN_ITEMS,
  JS_KW_UNIQUE_ITEMS,
  JS_KW_MAX_PROPERTIES,
  JS_KW_MIN_PROPERTIES,
  JS_KW_REQUIRED,
  JS_KW_DEP_REQUIRED, /* dependentRequired, or array-valued dependencies */
  JS_KW_DEP_SCHEMAS,  /* dependentSchemas, or schema-valued dependencies */
  JS_KW_OBJECT,       /* properties + patternProperties + additionalProperties */
  JS_KW_PROPERTY_NAMES,
  JS_KW_ITEMS,        /* prefixItems/items or items/additionalItems */
  JS_KW_CONTAINS,
  JS_KW_ALL_OF,
  JS_KW_ANY_OF,
  JS_KW_ONE_OF,
  JS_KW_NOT,
  JS_KW_IF,
  JS_KW_UNEVAL_PROPS,
  JS_KW_UNEVAL_ITEMS
} js_kw_kind;

typedef struct js_regex {
  pcre2_code *code; /* immutable after compile; shared by all threads */
  char *source;     /* the ECMA-262 source, NUL-terminated */
} js_regex;

typedef struct js_prop {
  char *name;
  size_t len;
  uint64_t hash;
  uint32_t node;
} js_prop;

typedef struct js_patprop {
  js_regex re;
  uint32_t node;
} js_patprop;

typedef struct js_strlist {
  char **s;
  size_t *len;
  uint32_t n;
} js_strlist;

typedef struct js_dep {
  char *name;
  size_t len;
  js_strlist req; /* JS_KW_DEP_REQUIRED */
  uint32_t node;  /* JS_KW_DEP_SCHEMAS */
} js_dep;

typedef struct js_kw {
  js_kw_kind kind;
  const char *name; /* keyword for paths: static text */
  union {
    uint32_t types;                   /* TYPE */
    const json_t *value;              /* ENUM (array), CONST; borrowed from
                                         a document the schema holds */
    struct { js_num n; js_dec dec; } num; /* numeric bounds, multipleOf */
    uint64_t count;                   /* length/size bounds */
    js_regex re;                      /* PATTERN */
    struct { int id; char *name; } fmt; /* FORMAT */
    uint32_t sub;                     /* NOT, PROPERTY_NAMES, UNEVAL_* */
    struct { uint32_t *subs; uint32_t n; } list; /* ALL/ANY/ONE_OF */
    struct { uint32_t if_, then_, else_; } cond;  /* IF */
    struct {
      uint32_t target;   /* static target node */
      char *anchor;      /* DYNREF: dynamic anchor name, or NULL */
    } ref;
    struct {
      js_prop *props;
      uint32_t n_props;
      uint32_t *table;   /* open addressing over props, size `mask + 1` */
      uint32_t mask;
      js_patprop *pats;
      uint32_t n_pats;
      uint32_t additional; /* JS_NONE if absent */
    } obj;
    struct {
      uint32_t *prefix;
      uint32_t n_prefix;
      uint32_t rest;            /* JS_NONE if absent */
      const char *prefix_name;  /* "prefixItems" or "items" */
      const char *rest_name;    /* "items" or "additionalItems" */
    } items;
    struct {
      uint32_t sub;
      uint64_t min, max;
      bool has_max;
    } contains;
    js_strlist req;                   /* REQUIRED */
    struct { js_dep *deps; uint32_t n; } dep; /* DEP_* */
  } u;
} js_kw;

typedef struct js_dynanchor {
  char *name;
  uint32_t node;
} js_dynanchor;

typedef struct js_resource {
  char *uri;            /* absolute, no fragment ("" for an anonymous root) */
  js_dynanchor *dyn;    /* compiled $dynamicAnchor targets of this resource */
  uint32_t n_dyn;
} js_resource;

typedef struct js_node {
  uint8_t boolean;   /* 0: object schema, 1: true, 2: false */
  bool collect;      /* has unevaluated*: needs annotations of its keywords */
  uint32_t resource; /* resource (dynamic scope entry) containing it */
  char *location;    /* "<uri>#<pointer>", for error reports */
  js_kw *kws;
  uint32_t n_kws;
} js_node;

struct as_jsonschema {
  js_node *nodes;
  uint32_t n_nodes, cap_nodes;
  uint32_t root;
  js_resource *res;
  uint32_t n_res, cap_res;
  json_t **docs; /* held references */
  size_t n_docs, cap_docs;
  pcre2_match_context *mctx; /* shared, never changed after compile */
  pcre2_general_context *gctx;
  as_jsonschema_draft draft;
  uint32_t flags;
  uint32_t max_errors, max_depth;
  uint64_t max_steps;
};

/* --- Values (as_jsonschema_value.c) ------------------------------------- */

/** Type bits of an instance (integers have JS_T_INTEGER | JS_T_NUMBER). */
uint32_t as__js_type_bits(const json_t *v);
/** Name of the most specific type of `v` ("integer", "number", ...). */
const char *as__js_type_name(const json_t *v);
/** Reads a number value. */
js_num as__js_num(const json_t *v);
/** Compares two numbers exactly: <0, 0, >0. */
int as__js_num_cmp(js_num a, js_num b);
/** Shortest exact decimal of a number. */
js_dec as__js_dec(js_num n);
/** True if `x` is an integer multiple of `m` (m > 0), in decimal. */
bool as__js_multiple_of(js_num x, const js_dec *m);
/** JSON Schema equality (numbers by value, objects unordered). */
bool as__js_equal(const json_t *a, const json_t *b);
/** Hash consistent with as__js_equal. */
uint64_t as__js_hash(const json_t *v);
/** FNV-1a over bytes. */
uint64_t as__js_strhash(const char *s, size_t len);
/** Reads a non-negative integer (1.0 counts) that fits in uint64. */
bool as__js_count(const json_t *v, uint64_t *out);
/** Unicode code points in valid UTF-8. */
size_t as__js_utf8_len(const char *s, size_t len);

/* --- URIs and pointers (as_jsonschema_uri.c) ---------------------------- */

/** Resolves `ref` against `base` (RFC 3986 section 5.2); result owned by
 *  the caller (as_free).  An empty fragment is dropped.  NULL on OOM. */
char *as__js_uri_resolve(const char *base, const char *ref);
/** Splits `uri` at '#': returns a new string without the fragment and sets
 *  *frag (may be NULL) to a new percent-decoded fragment or NULL. */
as_err as__js_uri_split(const char *uri, char **nofrag, char **frag);
/** Percent-decodes s[0..len) into a new string. */
char *as__js_pct_decode(const char *s, size_t len);
/** Follows a JSON pointer (already percent-decoded) from `root`.  Returns
 *  the borrowed value or NULL.  `on_step(ctx, v)` (may be NULL) is called
 *  on every value passed through, the root first and the target last. */
const json_t *as__js_pointer_get(const json_t *root, const char *ptr,
                                 void (*on_step)(void *, const json_t *),
                                 void *ctx);
/** Appends a JSON pointer token (escaping ~ and /) with a leading '/'. */
void as__js_ptr_append(as_buf *b, const char *tok, size_t len);

/* --- Regular expressions (as_jsonschema_regex.c) ------------------------ */

/** Compiles an ECMA-262 pattern with PCRE2 (see docs/jsonschema.md for the
 *  translation).  Fills `re`; `msg` (may be NULL, size `msg_len`) gets an
 *  error text.  Returns AS_EINVAL for an invalid pattern. */
as_err as__js_regex_compile(js_regex *re, const char *src, size_t len,
                            pcre2_general_context *gctx, char *msg,
                            size_t msg_len);
void as__js_regex_free(js_regex *re);
/** 1 = match, 0 = no match, <0 = matching failed (resource limit). */
int as__js_regex_match(const js_regex *re, const char *s, size_t len,
                       pcre2_match_data *md, pcre2_match_context *mctx);
/** True if `src` is a valid ECMA-262 regular expression (as far as the
 *  translation tells; used by format "regex"). */
bool as__js_regex_valid(const char *src, size_t len);

/* --- Formats (as_jsonschema_format.c) ----------------------------------- */

/** Id of a known format name, or -1. */
int as__js_format_id(const char *name);
/** Checks string s[0..len) against format `id`. */
bool as__js_format_check(int id, const char *s, size_t len);

/* --- Built-in meta-schemas (as_jsonschema_meta.c) ----------------------- */

/** The text of a built-in meta-schema for an absolute URI without
 *  fragment, or NULL. */
const char *as__js_meta_text(const char *uri);

/* --- Validation entry (as_jsonschema_validate.c) ------------------------ */

/** Frees the keywords of a node (used by the compiler). */
void as__js_node_clear(js_node *n);

#endif /* AS_JSONSCHEMA_INT_H */
