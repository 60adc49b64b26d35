/*
 * as_jsonschema_compile.c — schema documents to the compiled node graph.
 *
 * Compilation has two passes per document:
 *   1. Index: walk every subschema (by the applicator keywords of its
 *      draft), record its schema resource (the nearest "$id"), and register
 *      resource URIs, "$anchor"s and "$dynamicAnchor"s in a URI table.
 *   2. Compile, lazily from the root: each subschema becomes one node
 *      (memoized by json_t pointer, so shared targets and cycles are one
 *      node); "$ref" targets are looked up in the URI table, loading
 *      documents on demand (built-in meta-schemas, then the resolver), and
 *      JSON-pointer fragments are followed in the raw document.
 * Finally every "$dynamicAnchor" of every resource that was used is
 * compiled, so "$dynamicRef" can pick among them at validation time.
 *
 * Invariants: nodes are referred to by index (the node array grows while
 * compiling); nothing in the compiled schema changes after
 * as_jsonschema_compile() returns.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_err.h"
#include "services/as_jsonschema_int.h"

#define K_DRAFT7_URI "http://json-schema.org/draft-07/schema"
#define K_2020_URI "https://json-schema.org/draft/2020-12/schema"
#define K_VOCAB_PREFIX "https://json-schema.org/draft/2020-12/vocab/"
#define PCRE_MATCH_LIMIT 1000000u
#define PCRE_DEPTH_LIMIT 10000u
#define PCRE_HEAP_LIMIT_KIB 20000u
#define DIALECT_MAX_CHAIN 4

/* --- A small open-addressing map: 64-bit key -> 32-bit value ------------- */

typedef struct js_map {
  uint64_t *keys; /* 0 = empty */
  uint32_t *vals;
  size_t cap, n;  /* cap: power of two */
} js_map;

static void map_free(js_map *m) {
  as_free(m->keys);
  as_free(m->vals);
  memset(m, 0, sizeof *m);
}

static as_err map_grow(js_map *m) {
  size_t ncap = m->cap ? m->cap * 2 : 64;
  uint64_t *nk = as_calloc(ncap, sizeof *nk);
  uint32_t *nv = as_calloc(ncap, sizeof *nv);
  if (!nk || !nv) {
    as_free(nk);
    as_free(nv);
    return AS_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = (size_t)(m->keys[i] * 0x9E3779B97F4A7C15ull >> 7) & (ncap - 1);
    while (nk[j]) j = (j + 1) & (ncap - 1);
    nk[j] = m->keys[i];
    nv[j] = m->vals[i];
  }
  as_free(m->keys);
  as_free(m->vals);
  m->keys = nk;
  m->vals = nv;
  m->cap = ncap;
  return AS_OK;
}

/* Inserts (duplicates allowed). */
static as_err map_put(js_map *m, uint64_t key, uint32_t val) {
  if ((m->n + 1) * 2 > m->cap) {
    as_err rc = map_grow(m);
    if (rc < 0) return rc;
  }
  size_t j = (size_t)(key * 0x9E3779B97F4A7C15ull >> 7) & (m->cap - 1);
  while (m->keys[j]) j = (j + 1) & (m->cap - 1);
  m->keys[j] = key;
  m->vals[j] = val;
  m->n++;
  return AS_OK;
}

/* Iterates the values stored under `key`: start with *pos = SIZE_MAX. */
static bool map_next(const js_map *m, uint64_t key, size_t *pos,
                     uint32_t *val) {
  if (!m->cap) return false;
  size_t j = *pos == SIZE_MAX
                 ? (size_t)(key * 0x9E3779B97F4A7C15ull >> 7) & (m->cap - 1)
                 : (*pos + 1) & (m->cap - 1);
  while (m->keys[j]) {
    if (m->keys[j] == key) {
      *pos = j;
      *val = m->vals[j];
      return true;
    }
    j = (j + 1) & (m->cap - 1);
  }
  return false;
}

static uint64_t ptr_key(const void *p) { return (uint64_t)(uintptr_t)p; }
static uint64_t str_key(const char *s) {
  return as__js_strhash(s, strlen(s)) | 1u;
}

/* --- Compile state ------------------------------------------------------ */

typedef struct js_uri_ent {
  char *key;          /* "uri" or "uri#anchor" */
  const json_t *node;
  uint32_t resource;
} js_uri_ent;

typedef struct js_rinfo {
  const json_t *root;
  as_jsonschema_draft draft;
  uint32_t vocab;
  char **dyn_names; /* $dynamicAnchor names, pending compile */
  const json_t **dyn_nodes;
  uint32_t n_dyn, cap_dyn;
  bool used, dyn_done;
} js_rinfo;

typedef struct js_cc {
  as_jsonschema *s;
  const as_jsonschema_opts *opts;
  as_error *err;
  js_uri_ent *uris;
  size_t n_uris, cap_uris;
  js_map uri_map;  /* str_key(key) -> index in uris */
  js_map res_of;   /* json_t* -> resource (set by the index pass) */
  js_map memo;     /* json_t* -> node */
  js_rinfo *ri;    /* parallel to s->res */
  uint32_t depth;
  uint32_t max_nodes;
} js_cc;

static as_err fail(js_cc *cc, as_err code, const char *where, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static as_err fail(js_cc *cc, as_err code, const char *where, const char *fmt,
                   ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  as__error_set(cc->err, code, 0, "schema", "%s%s%s", where ? where : "",
                where ? ": " : "", msg);
  return code;
}

/* --- URI table ---------------------------------------------------------- */

static const js_uri_ent *uri_find(const js_cc *cc, const char *key) {
  size_t pos = SIZE_MAX;
  uint32_t v;
  uint64_t k = str_key(key);
  while (map_next(&cc->uri_map, k, &pos, &v))
    if (strcmp(cc->uris[v].key, key) == 0) return &cc->uris[v];
  return NULL;
}

/* Registers `key` unless present; takes ownership of `key`. */
static as_err uri_add(js_cc *cc, char *key, const json_t *node, uint32_t res) {
  if (uri_find(cc, key)) {
    as_free(key);
    return AS_OK;
  }
  if (cc->n_uris == cc->cap_uris) {
    size_t ncap = cc->cap_uris ? cc->cap_uris * 2 : 32;
    js_uri_ent *n = as_realloc(cc->uris, ncap * sizeof *n);
    if (!n) {
      as_free(key);
      return AS_ENOMEM;
    }
    cc->uris = n;
    cc->cap_uris = ncap;
  }
  as_err rc = map_put(&cc->uri_map, str_key(key), (uint32_t)cc->n_uris);
  if (rc < 0) {
    as_free(key);
    return rc;
  }
  cc->uris[cc->n_uris++] = (js_uri_ent){key, node, res};
  return AS_OK;
}

static char *join_anchor(const char *uri, const char *name) {
  size_t a = strlen(uri), b = strlen(name);
  char *k = as_malloc(a + b + 2);
  if (!k) return NULL;
  memcpy(k, uri, a);
  k[a] = '#';
  memcpy(k + a + 1, name, b + 1);
  return k;
}

static as_err add_resource(js_cc *cc, const char *uri, const json_t *root,
                           as_jsonschema_draft draft, uint32_t vocab,
                           uint32_t *out) {
  as_jsonschema *s = cc->s;
  if (s->n_res == s->cap_res) {
    uint32_t ncap = s->cap_res ? s->cap_res * 2 : 16;
    js_resource *nr = as_realloc(s->res, ncap * sizeof *nr);
    if (!nr) return AS_ENOMEM;
    s->res = nr;
    js_rinfo *ni = as_realloc(cc->ri, ncap * sizeof *ni);
    if (!ni) return AS_ENOMEM;
    cc->ri = ni;
    s->cap_res = ncap;
  }
  char *u = as_strndup(uri, strlen(uri));
  if (!u) return AS_ENOMEM;
  uint32_t idx = s->n_res++;
  memset(&s->res[idx], 0, sizeof s->res[idx]);
  memset(&cc->ri[idx], 0, sizeof cc->ri[idx]);
  s->res[idx].uri = u;
  cc->ri[idx].root = root;
  cc->ri[idx].draft = draft;
  cc->ri[idx].vocab = vocab;
  *out = idx;
  char *key = as_strndup(uri, strlen(uri));
  if (!key) return AS_ENOMEM;
  return uri_add(cc, key, root, idx);
}

static as_err add_dyn_pending(js_cc *cc, uint32_t res, const char *name,
                              const json_t *node) {
  js_rinfo *r = &cc->ri[res];
  for (uint32_t i = 0; i < r->n_dyn; i++)
    if (strcmp(r->dyn_names[i], name) == 0) return AS_OK;
  if (r->n_dyn == r->cap_dyn) {
    uint32_t ncap = r->cap_dyn ? r->cap_dyn * 2 : 4;
    char **nn = as_realloc(r->dyn_names, ncap * sizeof *nn);
    if (!nn) return AS_ENOMEM;
    r->dyn_names = nn;
    const json_t **nj = as_realloc(r->dyn_nodes, ncap * sizeof *nj);
    if (!nj) return AS_ENOMEM;
    r->dyn_nodes = nj;
    r->cap_dyn = ncap;
  }
  char *n = as_strndup(name, strlen(name));
  if (!n) return AS_ENOMEM;
  r->dyn_names[r->n_dyn] = n;
  r->dyn_nodes[r->n_dyn++] = node;
  return AS_OK;
}

/* --- Documents and dialects -------------------------------------------- */

static as_err hold_doc(js_cc *cc, json_t *doc) {
  as_jsonschema *s = cc->s;
  if (s->n_docs == s->cap_docs) {
    size_t ncap = s->cap_docs ? s->cap_docs * 2 : 8;
    json_t **nd = as_realloc(s->docs, ncap * sizeof *nd);
    if (!nd) {
      json_decref(doc);
      return AS_ENOMEM;
    }
    s->docs = nd;
    s->cap_docs = ncap;
  }
  s->docs[s->n_docs++] = doc;
  return AS_OK;
}

static as_err add_document(js_cc *cc, const char *uri, json_t *doc,
                           as_jsonschema_draft draft, uint32_t chain);
static as_err load_document(js_cc *cc, const char *uri,
                            as_jsonschema_draft draft, uint32_t chain);

static uint32_t vocab_bit(const char *name) {
  static const struct { const char *n; uint32_t bit; } k[] = {
      {"core", JS_V_CORE},
      {"applicator", JS_V_APPLICATOR},
      {"unevaluated", JS_V_UNEVALUATED},
      {"validation", JS_V_VALIDATION},
      {"format-annotation", JS_V_FORMAT_ANN},
      {"format-assertion", JS_V_FORMAT_ASSERT},
      {"content", JS_V_CONTENT},
      {"meta-data", JS_V_METADATA}};
  for (size_t i = 0; i < AS_ARRAY_LEN(k); i++)
    if (strcmp(k[i].n, name) == 0) return k[i].bit;
  return 0;
}

/* Resolves a "$schema" value to a draft and vocabulary set. */
static as_err dialect(js_cc *cc, const char *schema_uri, const char *where,
                      uint32_t chain, as_jsonschema_draft *draft,
                      uint32_t *vocab) {
  as_err rc = AS_OK;
  char *nofrag = NULL, *frag = NULL;
  AS_CHECK(as__js_uri_split(schema_uri, &nofrag, &frag));
  if (frag && frag[0]) {
    rc = fail(cc, AS_EINVAL, where, "unknown $schema \"%s\"", schema_uri);
    goto out;
  }
  if (strcmp(nofrag, K_DRAFT7_URI) == 0) {
    *draft = AS_JSONSCHEMA_DRAFT_07;
    *vocab = JS_V_ALL;
    goto out;
  }
  if (strcmp(nofrag, K_2020_URI) == 0) {
    *draft = AS_JSONSCHEMA_DRAFT_2020_12;
    *vocab = JS_V_ALL;
    goto out;
  }
  if (chain >= DIALECT_MAX_CHAIN) {
    rc = fail(cc, AS_EINVAL, where, "meta-schema chain too long at \"%s\"",
              schema_uri);
    goto out;
  }
  /* A custom meta-schema: load it; its own $schema gives the draft. */
  const js_uri_ent *e = uri_find(cc, nofrag);
  if (!e) {
    rc = load_document(cc, nofrag, AS_JSONSCHEMA_DRAFT_2020_12, chain + 1);
    if (rc == AS_ENOTFOUND)
      rc = fail(cc, AS_EINVAL, where, "unknown $schema \"%s\"", schema_uri);
    if (rc < 0) goto out;
    e = uri_find(cc, nofrag);
  }
  if (!e || !json_is_object(e->node)) {
    rc = fail(cc, AS_EINVAL, where, "unknown $schema \"%s\"", schema_uri);
    goto out;
  }
  *draft = cc->ri[e->resource].draft;
  *vocab = cc->ri[e->resource].vocab;
  json_t *voc = json_object_get(e->node, "$vocabulary");
  if (json_is_object(voc) && *draft == AS_JSONSCHEMA_DRAFT_2020_12) {
    uint32_t v = JS_V_CORE;
    const char *k;
    json_t *val;
    json_object_foreach(voc, k, val) {
      uint32_t bit = 0;
      if (strncmp(k, K_VOCAB_PREFIX, strlen(K_VOCAB_PREFIX)) == 0)
        bit = vocab_bit(k + strlen(K_VOCAB_PREFIX));
      if (bit) {
        v |= bit;
      } else if (json_is_true(val)) {
        rc = fail(cc, AS_EINVAL, where, "unsupported required vocabulary %s",
                  k);
        goto out;
      }
    }
    *vocab = v;
  }
out:
  as_free(nofrag);
  as_free(frag);
  return rc;
}

/* --- Index pass --------------------------------------------------------- */

static as_err index_schema(js_cc *cc, const json_t *j, uint32_t res,
                           uint32_t depth, bool doc_root, uint32_t chain);

static as_err index_sub(js_cc *cc, const json_t *j, uint32_t res,
                        uint32_t depth, uint32_t chain) {
  return index_schema(cc, j, res, depth + 1, false, chain);
}

static as_err index_children(js_cc *cc, const json_t *j, uint32_t res,
                             uint32_t depth, uint32_t chain) {
  as_err rc = AS_OK;
  bool d7 = cc->ri[res].draft == AS_JSONSCHEMA_DRAFT_07;
  static const char *const single[] = {
      "additionalItems", "additionalProperties", "contains", "propertyNames",
      "not", "if", "then", "else", "unevaluatedItems",
      "unevaluatedProperties", "contentSchema"};
  static const char *const arrays[] = {"allOf", "anyOf", "oneOf",
                                       "prefixItems"};
  static const char *const maps[] = {"properties", "patternProperties",
                                     "definitions", "$defs",
                                     "dependentSchemas", "dependencies"};
  for (size_t i = 0; i < AS_ARRAY_LEN(single); i++) {
    json_t *v = json_object_get(j, single[i]);
    if (v) AS_CHECK(index_sub(cc, v, res, depth, chain));
  }
  json_t *items = json_object_get(j, "items");
  if (json_is_array(items) && d7) {
    for (size_t i = 0; i < json_array_size(items); i++)
      AS_CHECK(index_sub(cc, json_array_get(items, i), res, depth, chain));
  } else if (items) {
    AS_CHECK(index_sub(cc, items, res, depth, chain));
  }
  for (size_t k = 0; k < AS_ARRAY_LEN(arrays); k++) {
    json_t *a = json_object_get(j, arrays[k]);
    if (!json_is_array(a)) continue;
    for (size_t i = 0; i < json_array_size(a); i++)
      AS_CHECK(index_sub(cc, json_array_get(a, i), res, depth, chain));
  }
  for (size_t k = 0; k < AS_ARRAY_LEN(maps); k++) {
    json_t *m = json_object_get(j, maps[k]);
    if (!json_is_object(m)) continue;
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v) {
      if (json_is_object(v) || json_is_boolean(v))
        AS_CHECK(index_sub(cc, v, res, depth, chain));
    }
  }
out:
  return rc;
}

static as_err index_schema(js_cc *cc, const json_t *j, uint32_t res,
                           uint32_t depth, bool doc_root, uint32_t chain) {
  as_err rc = AS_OK;
  char *abs = NULL, *nofrag = NULL, *frag = NULL;
  if (!json_is_object(j)) return AS_OK;
  if (depth > AS_JSONSCHEMA_MAX_NESTING)
    return fail(cc, AS_ELIMIT, NULL, "schema nested deeper than %u levels",
                AS_JSONSCHEMA_MAX_NESTING);
  bool d7 = cc->ri[res].draft == AS_JSONSCHEMA_DRAFT_07;
  json_t *id = json_object_get(j, "$id");
  if (d7 && json_object_get(j, "$ref")) id = NULL; /* siblings ignored */
  if (json_is_string(id) && !doc_root) {
    const char *ids = json_string_value(id);
    if (d7 && ids[0] == '#') {
      char *k = join_anchor(cc->s->res[res].uri, ids + 1);
      if (!k) AS_FAIL(AS_ENOMEM);
      AS_CHECK(uri_add(cc, k, j, res));
    } else {
      abs = as__js_uri_resolve(cc->s->res[res].uri, ids);
      if (!abs) AS_FAIL(AS_ENOMEM);
      AS_CHECK(as__js_uri_split(abs, &nofrag, &frag));
      as_jsonschema_draft draft = cc->ri[res].draft;
      uint32_t vocab = cc->ri[res].vocab;
      json_t *sch = json_object_get(j, "$schema");
      if (json_is_string(sch))
        AS_CHECK(dialect(cc, json_string_value(sch), nofrag, chain, &draft,
                         &vocab));
      const js_uri_ent *e = uri_find(cc, nofrag);
      if (e && e->node == j) {
        res = e->resource;
      } else {
        AS_CHECK(add_resource(cc, nofrag, j, draft, vocab, &res));
      }
      d7 = draft == AS_JSONSCHEMA_DRAFT_07;
      if (d7 && frag && frag[0]) {
        char *k = join_anchor(nofrag, frag);
        if (!k) AS_FAIL(AS_ENOMEM);
        AS_CHECK(uri_add(cc, k, j, res));
      }
    }
  }
  AS_CHECK(map_put(&cc->res_of, ptr_key(j), res));
  if (!d7) {
    json_t *a = json_object_get(j, "$anchor");
    if (json_is_string(a)) {
      char *k = join_anchor(cc->s->res[res].uri, json_string_value(a));
      if (!k) AS_FAIL(AS_ENOMEM);
      AS_CHECK(uri_add(cc, k, j, res));
    }
    json_t *da = json_object_get(j, "$dynamicAnchor");
    if (json_is_string(da)) {
      char *k = join_anchor(cc->s->res[res].uri, json_string_value(da));
      if (!k) AS_FAIL(AS_ENOMEM);
      AS_CHECK(uri_add(cc, k, j, res));
      AS_CHECK(add_dyn_pending(cc, res, json_string_value(da), j));
    }
  }
  AS_CHECK(index_children(cc, j, res, depth, chain));
out:
  as_free(abs);
  as_free(nofrag);
  as_free(frag);
  return rc;
}

/* Registers and indexes a document; takes over `doc` (a new reference). */
static as_err add_document(js_cc *cc, const char *uri, json_t *doc,
                           as_jsonschema_draft draft, uint32_t chain) {
  as_err rc = AS_OK;
  char *canon = NULL, *nofrag = NULL, *frag = NULL;
  AS_CHECK(hold_doc(cc, doc));
  uint32_t vocab = JS_V_ALL;
  if (draft == AS_JSONSCHEMA_DRAFT_DEFAULT) draft = AS_JSONSCHEMA_DRAFT_2020_12;
  if (json_is_object(doc)) {
    json_t *sch = json_object_get(doc, "$schema");
    if (sch && !json_is_string(sch)) {
      rc = fail(cc, AS_EINVAL, uri[0] ? uri : "#", "$schema must be a string");
      goto out;
    }
    if (sch)
      AS_CHECK(dialect(cc, json_string_value(sch), uri[0] ? uri : "#", chain,
                       &draft, &vocab));
  }
  const char *resuri = uri;
  json_t *id = json_object_get(doc, "$id");
  if (draft == AS_JSONSCHEMA_DRAFT_07 && json_object_get(doc, "$ref"))
    id = NULL;
  if (json_is_string(id) && json_string_value(id)[0] != '#') {
    canon = as__js_uri_resolve(uri, json_string_value(id));
    if (!canon) AS_FAIL(AS_ENOMEM);
    AS_CHECK(as__js_uri_split(canon, &nofrag, &frag));
    resuri = nofrag;
  }
  uint32_t res;
  const js_uri_ent *e = uri_find(cc, resuri);
  if (e && e->node == doc) goto out; /* already indexed */
  AS_CHECK(add_resource(cc, resuri, doc, draft, vocab, &res));
  if (strcmp(resuri, uri) != 0) {
    char *k = as_strndup(uri, strlen(uri));
    if (!k) AS_FAIL(AS_ENOMEM);
    AS_CHECK(uri_add(cc, k, doc, res));
  }
  if (json_is_string(id) && json_string_value(id)[0] == '#' &&
      draft == AS_JSONSCHEMA_DRAFT_07) {
    char *k = join_anchor(resuri, json_string_value(id) + 1);
    if (!k) AS_FAIL(AS_ENOMEM);
    AS_CHECK(uri_add(cc, k, doc, res));
  }
  AS_CHECK(index_schema(cc, doc, res, 0, true, chain));
out:
  as_free(canon);
  as_free(nofrag);
  as_free(frag);
  return rc;
}

/* Loads a document by absolute URI (no fragment): built-in meta-schemas,
 * then the resolver.  AS_ENOTFOUND if neither knows it. */
static as_err load_document(js_cc *cc, const char *uri,
                            as_jsonschema_draft draft, uint32_t chain) {
  const char *text = as__js_meta_text(uri);
  json_t *doc = NULL;
  if (text) {
    doc = json_loads(text, 0, NULL);
    if (!doc) return AS_ENOMEM;
  } else if (cc->opts->resolve) {
    doc = cc->opts->resolve(cc->opts->resolve_ctx, uri);
  }
  if (!doc) return AS_ENOTFOUND;
  return add_document(cc, uri, doc, draft, chain);
}

/* --- Reference resolution ----------------------------------------------- */

typedef struct ptr_walk {
  const js_cc *cc;
  uint32_t res;
} ptr_walk;

static void on_ptr_step(void *ctx, const json_t *v) {
  ptr_walk *w = ctx;
  size_t pos = SIZE_MAX;
  uint32_t r;
  if (map_next(&w->cc->res_of, ptr_key(v), &pos, &r)) w->res = r;
}

/* Resolves `ref` relative to resource `res`.  On success *target is the
 * borrowed JSON value, *tres its resource and *loc (caller frees) its
 * absolute location; *dyn_anchor (if not NULL) receives a new string with
 * the anchor name when the target was named by a $dynamicAnchor. */
static as_err resolve_ref(js_cc *cc, const char *ref, uint32_t res,
                          const char *where, const json_t **target,
                          uint32_t *tres, char **loc, char **dyn_anchor) {
  as_err rc = AS_OK;
  char *abs = NULL, *nofrag = NULL, *frag = NULL, *key = NULL;
  *loc = NULL;
  if (dyn_anchor) *dyn_anchor = NULL;
  abs = as__js_uri_resolve(cc->s->res[res].uri, ref);
  if (!abs) AS_FAIL(AS_ENOMEM);
  AS_CHECK(as__js_uri_split(abs, &nofrag, &frag));
  const js_uri_ent *e = uri_find(cc, nofrag);
  if (!e) {
    rc = load_document(cc, nofrag, cc->ri[res].draft, 0);
    if (rc == AS_ENOTFOUND) {
      rc = fail(cc, AS_EINVAL, where, "cannot resolve reference \"%s\"", ref);
      goto out;
    }
    if (rc < 0) goto out;
    e = uri_find(cc, nofrag);
    if (!e) {
      rc = fail(cc, AS_EINVAL, where, "cannot resolve reference \"%s\"", ref);
      goto out;
    }
  }
  if (!frag || !frag[0]) {
    *target = e->node;
    *tres = e->resource;
  } else if (frag[0] == '/') {
    ptr_walk w = {cc, e->resource};
    *target = as__js_pointer_get(e->node, frag, on_ptr_step, &w);
    *tres = w.res;
    if (!*target) {
      rc = fail(cc, AS_EINVAL, where, "reference \"%s\" points nowhere", ref);
      goto out;
    }
  } else {
    key = join_anchor(cc->s->res[e->resource].uri, frag);
    if (!key) AS_FAIL(AS_ENOMEM);
    const js_uri_ent *a = uri_find(cc, key);
    if (!a) {
      rc = fail(cc, AS_EINVAL, where, "unknown anchor in reference \"%s\"",
                ref);
      goto out;
    }
    *target = a->node;
    *tres = a->resource;
    if (dyn_anchor) {
      const js_rinfo *ri = &cc->ri[a->resource];
      for (uint32_t i = 0; i < ri->n_dyn; i++) {
        if (strcmp(ri->dyn_names[i], frag) == 0 && ri->dyn_nodes[i] == a->node) {
          *dyn_anchor = as_strndup(frag, strlen(frag));
          if (!*dyn_anchor) AS_FAIL(AS_ENOMEM);
        }
      }
    }
  }
  *loc = as_strndup(abs, strlen(abs));
  if (!*loc) AS_FAIL(AS_ENOMEM);
  if (!strchr(*loc, '#')) {
    char *l2 = join_anchor(*loc, "");
    as_free(*loc);
    *loc = l2;
    if (!l2) AS_FAIL(AS_ENOMEM);
  }
out:
  as_free(abs);
  as_free(nofrag);
  as_free(frag);
  as_free(key);
  return rc;
}

/* --- Node compilation --------------------------------------------------- */

typedef struct kwvec {
  js_kw *v;
  uint32_t n, cap;
} kwvec;

static js_kw *kw_add(kwvec *k, js_kw_kind kind, const char *name) {
  if (k->n == k->cap) {
    uint32_t ncap = k->cap ? k->cap * 2 : 8;
    js_kw *nv = as_realloc(k->v, ncap * sizeof *nv);
    if (!nv) return NULL;
    k->v = nv;
    k->cap = ncap;
  }
  js_kw *kw = &k->v[k->n++];
  memset(kw, 0, sizeof *kw);
  kw->kind = kind;
  kw->name = name;
  return kw;
}

static void kw_free(js_kw *kw) {
  switch (kw->kind) {
    case JS_KW_PATTERN: as__js_regex_free(&kw->u.re); break;
    case JS_KW_FORMAT: as_free(kw->u.fmt.name); break;
    case JS_KW_ALL_OF: case JS_KW_ANY_OF: case JS_KW_ONE_OF:
      as_free(kw->u.list.subs);
      break;
    case JS_KW_REF: case JS_KW_DYNREF: as_free(kw->u.ref.anchor); break;
    case JS_KW_OBJECT:
      for (uint32_t i = 0; i < kw->u.obj.n_props; i++)
        as_free(kw->u.obj.props[i].name);
      as_free(kw->u.obj.props);
      as_free(kw->u.obj.table);
      for (uint32_t i = 0; i < kw->u.obj.n_pats; i++)
        as__js_regex_free(&kw->u.obj.pats[i].re);
      as_free(kw->u.obj.pats);
      break;
    case JS_KW_ITEMS: as_free(kw->u.items.prefix); break;
    case JS_KW_REQUIRED:
      for (uint32_t i = 0; i < kw->u.req.n; i++) as_free(kw->u.req.s[i]);
      as_free(kw->u.req.s);
      as_free(kw->u.req.len);
      break;
    case JS_KW_DEP_REQUIRED: case JS_KW_DEP_SCHEMAS:
      for (uint32_t i = 0; i < kw->u.dep.n; i++) {
        js_dep *d = &kw->u.dep.deps[i];
        as_free(d->name);
        for (uint32_t k = 0; k < d->req.n; k++) as_free(d->req.s[k]);
        as_free(d->req.s);
        as_free(d->req.len);
      }
      as_free(kw->u.dep.deps);
      break;
    default: break;
  }
}

void as__js_node_clear(js_node *n) {
  for (uint32_t i = 0; i < n->n_kws; i++) kw_free(&n->kws[i]);
  as_free(n->kws);
  as_free(n->location);
  n->kws = NULL;
  n->n_kws = 0;
  n->location = NULL;
}

static char *loc_child(const char *loc, const char *kw, const char *key) {
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_puts(&b, loc);
  if (!strchr(loc, '#')) as_buf_putc(&b, '#');
  as__js_ptr_append(&b, kw, strlen(kw));
  if (key) as__js_ptr_append(&b, key, strlen(key));
  if (as_buf_error(&b) != AS_OK) {
    as_buf_free(&b);
    return NULL;
  }
  return as_buf_detach(&b, NULL);
}

static as_err compile_node(js_cc *cc, const json_t *j, uint32_t res,
                           const char *loc, uint32_t *out);

/* Fails with AS_EINVAL at keyword `kw` of the schema at `loc`. */
static as_err fail_kw(js_cc *cc, const char *loc, const char *kw,
                      const char *msg) {
  char *w = loc_child(loc, kw, NULL);
  as_err rc = w ? fail(cc, AS_EINVAL, w, "%s", msg) : AS_ENOMEM;
  as_free(w);
  return rc;
}


/* Compiles j[kw] (or j[kw][key] / j[kw][idx] via `sub`). */
static as_err compile_sub(js_cc *cc, const json_t *sub, uint32_t res,
                          const char *loc, const char *kw, const char *key,
                          uint32_t *out) {
  as_err rc = AS_OK;
  char *cl = loc_child(loc, kw, key);
  if (!cl) return AS_ENOMEM;
  if (!json_is_object(sub) && !json_is_boolean(sub)) {
    rc = fail(cc, AS_EINVAL, cl, "a schema must be an object or a boolean");
    goto out;
  }
  rc = compile_node(cc, sub, res, cl, out);
out:
  as_free(cl);
  return rc;
}

static as_err compile_sub_idx(js_cc *cc, const json_t *sub, uint32_t res,
                              const char *loc, const char *kw, size_t idx,
                              uint32_t *out) {
  char key[24];
  snprintf(key, sizeof key, "%zu", idx);
  return compile_sub(cc, sub, res, loc, kw, key, out);
}

static as_err strlist_from(js_cc *cc, const json_t *a, js_strlist *l,
                           const char *where) {
  if (!json_is_array(a))
    return fail(cc, AS_EINVAL, where, "must be an array of strings");
  size_t n = json_array_size(a);
  l->s = as_calloc(n ? n : 1, sizeof *l->s);
  l->len = as_calloc(n ? n : 1, sizeof *l->len);
  if (!l->s || !l->len) return AS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    json_t *e = json_array_get(a, i);
    if (!json_is_string(e))
      return fail(cc, AS_EINVAL, where, "must be an array of strings");
    l->len[i] = json_string_length(e);
    l->s[i] = as_strndup(json_string_value(e), l->len[i]);
    if (!l->s[i]) return AS_ENOMEM;
    l->n = (uint32_t)(i + 1);
  }
  return AS_OK;
}

static uint32_t type_bit(const char *t) {
  static const struct { const char *n; uint32_t b; } k[] = {
      {"null", JS_T_NULL},     {"boolean", JS_T_BOOLEAN},
      {"object", JS_T_OBJECT}, {"array", JS_T_ARRAY},
      {"number", JS_T_NUMBER | JS_T_INTEGER}, {"string", JS_T_STRING},
      {"integer", JS_T_INTEGER}};
  for (size_t i = 0; i < AS_ARRAY_LEN(k); i++)
    if (strcmp(k[i].n, t) == 0) return k[i].b;
  return 0;
}

static as_err compile_regex(js_cc *cc, js_regex *re, const json_t *v,
                            const char *where) {
  char msg[160];
  if (!json_is_string(v))
    return fail(cc, AS_EINVAL, where, "pattern must be a string");
  as_err rc = as__js_regex_compile(re, json_string_value(v),
                                   json_string_length(v), cc->s->gctx, msg,
                                   sizeof msg);
  if (rc == AS_EINVAL)
    return fail(cc, AS_EINVAL, where, "invalid regular expression: %s", msg);
  return rc;
}

static as_err compile_object_kw(js_cc *cc, const json_t *j, uint32_t res,
                                const char *loc, kwvec *kv) {
  as_err rc = AS_OK;
  json_t *props = json_object_get(j, "properties");
  json_t *pats = json_object_get(j, "patternProperties");
  json_t *add = json_object_get(j, "additionalProperties");
  char *where = NULL;
  if (!props && !pats && !add) return AS_OK;
  js_kw *kw = kw_add(kv, JS_KW_OBJECT, "properties");
  if (!kw) return AS_ENOMEM;
  kw->u.obj.additional = JS_NONE;
  if (props) {
    where = loc_child(loc, "properties", NULL);
    if (!where) AS_FAIL(AS_ENOMEM);
    if (!json_is_object(props)) {
      rc = fail(cc, AS_EINVAL, where, "must be an object");
      goto out;
    }
    size_t n = json_object_size(props);
    kw->u.obj.props = as_calloc(n ? n : 1, sizeof *kw->u.obj.props);
    uint32_t tsz = 4;
    while (tsz < n * 2) tsz *= 2;
    kw->u.obj.table = as_calloc(tsz, sizeof *kw->u.obj.table);
    kw->u.obj.mask = tsz - 1;
    if (!kw->u.obj.props || !kw->u.obj.table) AS_FAIL(AS_ENOMEM);
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(props, k, klen, v) {
      uint32_t node;
      AS_CHECK(compile_sub(cc, v, res, loc, "properties", k, &node));
      kw = &kv->v[kv->n - 1]; /* kv->v may have moved: no, but be safe */
      js_prop *p = &kw->u.obj.props[kw->u.obj.n_props];
      p->name = as_strndup(k, klen);
      if (!p->name) AS_FAIL(AS_ENOMEM);
      p->len = klen;
      p->hash = as__js_strhash(k, klen);
      p->node = node;
      uint32_t slot = (uint32_t)p->hash & kw->u.obj.mask;
      while (kw->u.obj.table[slot]) slot = (slot + 1) & kw->u.obj.mask;
      kw->u.obj.table[slot] = ++kw->u.obj.n_props;
    }
  }
  if (pats) {
    as_free(where);
    where = loc_child(loc, "patternProperties", NULL);
    if (!where) AS_FAIL(AS_ENOMEM);
    if (!json_is_object(pats)) {
      rc = fail(cc, AS_EINVAL, where, "must be an object");
      goto out;
    }
    size_t n = json_object_size(pats);
    kw->u.obj.pats = as_calloc(n ? n : 1, sizeof *kw->u.obj.pats);
    if (!kw->u.obj.pats) AS_FAIL(AS_ENOMEM);
    const char *k;
    json_t *v;
    json_object_foreach(pats, k, v) {
      uint32_t node;
      AS_CHECK(compile_sub(cc, v, res, loc, "patternProperties", k, &node));
      kw = &kv->v[kv->n - 1];
      js_patprop *pp = &kw->u.obj.pats[kw->u.obj.n_pats];
      json_t *ks = json_string(k);
      if (!ks) AS_FAIL(AS_ENOMEM);
      rc = compile_regex(cc, &pp->re, ks, where);
      json_decref(ks);
      if (rc < 0) goto out;
      pp->node = node;
      kw->u.obj.n_pats++;
    }
  }
  if (add) {
    uint32_t node;
    AS_CHECK(compile_sub(cc, add, res, loc, "additionalProperties", NULL, &node));
    kv->v[kv->n - 1].u.obj.additional = node;
  }
out:
  as_free(where);
  return rc;
}

static as_err compile_items_kw(js_cc *cc, const json_t *j, uint32_t res,
                               const char *loc, kwvec *kv, bool d7) {
  as_err rc = AS_OK;
  const json_t *prefix = NULL, *rest = NULL;
  const char *pname = "prefixItems", *rname = "items";
  json_t *items = json_object_get(j, "items");
  if (d7) {
    pname = "items";
    if (json_is_array(items)) {
      prefix = items;
      rest = json_object_get(j, "additionalItems");
      rname = "additionalItems";
    } else {
      rest = items;
    }
  } else {
    prefix = json_object_get(j, "prefixItems");
    rest = items;
    if (json_is_array(items)) {
      return fail_kw(cc, loc, "items", "must be a schema in 2020-12 (use prefixItems)");
    }
  }
  if (!prefix && !rest) return AS_OK;
  js_kw *kw = kw_add(kv, JS_KW_ITEMS, pname);
  if (!kw) return AS_ENOMEM;
  kw->u.items.rest = JS_NONE;
  kw->u.items.prefix_name = pname;
  kw->u.items.rest_name = rname;
  if (prefix) {
    if (!json_is_array(prefix)) {
      return fail_kw(cc, loc, pname, "must be an array of schemas");
    }
    size_t n = json_array_size(prefix);
    kw->u.items.prefix = as_calloc(n ? n : 1, sizeof(uint32_t));
    if (!kw->u.items.prefix) return AS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
      uint32_t node;
      AS_CHECK(compile_sub_idx(cc, json_array_get(prefix, i), res, loc, pname,
                               i, &node));
      kw = &kv->v[kv->n - 1];
      kw->u.items.prefix[i] = node;
      kw->u.items.n_prefix = (uint32_t)(i + 1);
    }
  }
  if (rest) {
    uint32_t node;
    AS_CHECK(compile_sub(cc, rest, res, loc, rname, NULL, &node));
    kv->v[kv->n - 1].u.items.rest = node;
  }
out:
  return rc;
}

static as_err compile_list_kw(js_cc *cc, const json_t *j, uint32_t res,
                              const char *loc, kwvec *kv, const char *name,
                              js_kw_kind kind) {
  as_err rc = AS_OK;
  json_t *a = json_object_get(j, name);
  if (!a) return AS_OK;
  if (!json_is_array(a) || json_array_size(a) == 0) {
    return fail_kw(cc, loc, name, "must be a non-empty array of schemas");
  }
  js_kw *kw = kw_add(kv, kind, name);
  if (!kw) return AS_ENOMEM;
  size_t n = json_array_size(a);
  kw->u.list.subs = as_calloc(n, sizeof(uint32_t));
  if (!kw->u.list.subs) return AS_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    uint32_t node;
    AS_CHECK(compile_sub_idx(cc, json_array_get(a, i), res, loc, name, i,
                             &node));
    kw = &kv->v[kv->n - 1];
    kw->u.list.subs[i] = node;
    kw->u.list.n = (uint32_t)(i + 1);
  }
out:
  return rc;
}

static as_err compile_single_kw(js_cc *cc, const json_t *j, uint32_t res,
                                const char *loc, kwvec *kv, const char *name,
                                js_kw_kind kind) {
  json_t *v = json_object_get(j, name);
  if (!v) return AS_OK;
  js_kw *kw = kw_add(kv, kind, name);
  if (!kw) return AS_ENOMEM;
  uint32_t node;
  as_err rc = compile_sub(cc, v, res, loc, name, NULL, &node);
  if (rc < 0) return rc;
  /* kv->v is stable: subschemas use their own kwvec. */
  kv->v[kv->n - 1].u.sub = node;
  return AS_OK;
}

static as_err compile_deps(js_cc *cc, const json_t *deps, uint32_t res,
                           const char *loc, kwvec *kv, const char *name,
                           bool want_schemas, bool want_arrays) {
  as_err rc = AS_OK;
  char *where = loc_child(loc, name, NULL);
  if (!where) return AS_ENOMEM;
  if (!json_is_object(deps)) {
    rc = fail(cc, AS_EINVAL, where, "must be an object");
    goto out;
  }
  size_t n = 0;
  const char *k;
  size_t klen;
  json_t *v;
  json_object_keylen_foreach((json_t *)deps, k, klen, v) {
    if ((json_is_array(v) && want_arrays) || (!json_is_array(v) && want_schemas))
      n++;
  }
  if (n == 0) goto out;
  js_kw *kw = kw_add(kv, want_schemas ? JS_KW_DEP_SCHEMAS : JS_KW_DEP_REQUIRED,
                     name);
  if (!kw) AS_FAIL(AS_ENOMEM);
  kw->u.dep.deps = as_calloc(n, sizeof *kw->u.dep.deps);
  if (!kw->u.dep.deps) AS_FAIL(AS_ENOMEM);
  json_object_keylen_foreach((json_t *)deps, k, klen, v) {
    bool is_arr = json_is_array(v);
    if (!((is_arr && want_arrays) || (!is_arr && want_schemas))) continue;
    kw = &kv->v[kv->n - 1];
    js_dep *d = &kw->u.dep.deps[kw->u.dep.n];
    d->node = JS_NONE;
    d->name = as_strndup(k, klen);
    if (!d->name) AS_FAIL(AS_ENOMEM);
    d->len = klen;
    kw->u.dep.n++;
    if (is_arr) {
      AS_CHECK(strlist_from(cc, v, &d->req, where));
    } else {
      uint32_t node;
      AS_CHECK(compile_sub(cc, v, res, loc, name, k, &node));
      kv->v[kv->n - 1].u.dep.deps[kv->v[kv->n - 1].u.dep.n - 1].node = node;
    }
  }
out:
  as_free(where);
  return rc;
}

/* dependentRequired/dependentSchemas (2020-12) or the array/schema parts
 * of dependencies (draft-07). */
static as_err compile_deps_kw(js_cc *cc, const json_t *j, uint32_t res,
                              const char *loc, kwvec *kv, bool d7,
                              bool schemas) {
  const char *name = d7 ? "dependencies"
                     : schemas ? "dependentSchemas"
                               : "dependentRequired";
  json_t *v = json_object_get(j, name);
  if (!v) return AS_OK;
  return compile_deps(cc, v, res, loc, kv, name, schemas, !schemas);
}

static as_err compile_num_kw(js_cc *cc, const json_t *j, const char *loc,
                             kwvec *kv, const char *name, js_kw_kind kind) {
  json_t *v = json_object_get(j, name);
  if (!v) return AS_OK;
  if (!json_is_number(v)) {
    return fail_kw(cc, loc, name, "must be a number");
  }
  js_kw *kw = kw_add(kv, kind, name);
  if (!kw) return AS_ENOMEM;
  kw->u.num.n = as__js_num(v);
  kw->u.num.dec = as__js_dec(kw->u.num.n);
  if (kind == JS_KW_MULTIPLE_OF &&
      (as__js_num_cmp(kw->u.num.n, (js_num){true, 0, 0}) <= 0 ||
       !kw->u.num.dec.ok)) {
    return fail_kw(cc, loc, name, "must be greater than 0");
  }
  return AS_OK;
}

static as_err compile_count_kw(js_cc *cc, const json_t *j, const char *loc,
                               kwvec *kv, const char *name, js_kw_kind kind) {
  json_t *v = json_object_get(j, name);
  if (!v) return AS_OK;
  uint64_t c;
  if (!as__js_count(v, &c)) {
    return fail_kw(cc, loc, name, "must be a non-negative integer");
  }
  js_kw *kw = kw_add(kv, kind, name);
  if (!kw) return AS_ENOMEM;
  kw->u.count = c;
  return AS_OK;
}

static as_err compile_ref_kw(js_cc *cc, const json_t *j, uint32_t res,
                             const char *loc, kwvec *kv, const char *name,
                             bool dynamic) {
  as_err rc = AS_OK;
  json_t *v = json_object_get(j, name);
  char *where = NULL, *tloc = NULL, *anchor = NULL;
  if (!v) return AS_OK;
  where = loc_child(loc, name, NULL);
  if (!where) return AS_ENOMEM;
  if (!json_is_string(v)) {
    rc = fail(cc, AS_EINVAL, where, "must be a string");
    goto out;
  }
  const json_t *target;
  uint32_t tres = 0, node = 0;
  AS_CHECK(resolve_ref(cc, json_string_value(v), res, where, &target, &tres,
                       &tloc, dynamic ? &anchor : NULL));
  if (!json_is_object(target) && !json_is_boolean(target)) {
    rc = fail(cc, AS_EINVAL, where, "reference \"%s\" is not a schema",
              json_string_value(v));
    goto out;
  }
  AS_CHECK(compile_node(cc, target, tres, tloc, &node));
  js_kw *kw = kw_add(kv, dynamic ? JS_KW_DYNREF : JS_KW_REF, name);
  if (!kw) AS_FAIL(AS_ENOMEM);
  kw->u.ref.target = node;
  kw->u.ref.anchor = anchor;
  anchor = NULL;
out:
  as_free(where);
  as_free(tloc);
  as_free(anchor);
  return rc;
}

static as_err compile_keywords(js_cc *cc, const json_t *j, uint32_t res,
                               const char *loc, kwvec *kv, bool *collect) {
  as_err rc = AS_OK;
  const js_rinfo *ri = &cc->ri[res];
  bool d7 = ri->draft == AS_JSONSCHEMA_DRAFT_07;
  uint32_t vocab = ri->vocab;
  char *where = NULL;

  AS_CHECK(compile_ref_kw(cc, j, res, loc, kv, "$ref", false));
  if (d7 && json_object_get(j, "$ref")) goto out; /* siblings ignored */
  if (!d7) AS_CHECK(compile_ref_kw(cc, j, res, loc, kv, "$dynamicRef", true));

  if (vocab & JS_V_VALIDATION) {
    json_t *t = json_object_get(j, "type");
    if (t) {
      uint32_t mask = 0;
      bool ok = true;
      if (json_is_string(t)) {
        mask = type_bit(json_string_value(t));
        ok = mask != 0;
      } else if (json_is_array(t)) {
        for (size_t i = 0; i < json_array_size(t) && ok; i++) {
          json_t *e = json_array_get(t, i);
          uint32_t b = json_is_string(e) ? type_bit(json_string_value(e)) : 0;
          ok = b != 0;
          mask |= b;
        }
      } else {
        ok = false;
      }
      if (!ok) {
        rc = fail_kw(cc, loc, "type", "invalid type");
        goto out;
      }
      js_kw *kw = kw_add(kv, JS_KW_TYPE, "type");
      if (!kw) AS_FAIL(AS_ENOMEM);
      kw->u.types = mask;
    }
    json_t *c = json_object_get(j, "const");
    if (c) {
      js_kw *kw = kw_add(kv, JS_KW_CONST, "const");
      if (!kw) AS_FAIL(AS_ENOMEM);
      kw->u.value = c;
    }
    json_t *e = json_object_get(j, "enum");
    if (e) {
      if (!json_is_array(e)) {
        rc = fail_kw(cc, loc, "enum", "must be an array");
        goto out;
      }
      js_kw *kw = kw_add(kv, JS_KW_ENUM, "enum");
      if (!kw) AS_FAIL(AS_ENOMEM);
      kw->u.value = e;
    }
    AS_CHECK(compile_num_kw(cc, j, loc, kv, "multipleOf", JS_KW_MULTIPLE_OF));
    AS_CHECK(compile_num_kw(cc, j, loc, kv, "maximum", JS_KW_MAXIMUM));
    AS_CHECK(compile_num_kw(cc, j, loc, kv, "exclusiveMaximum",
                            JS_KW_EXCL_MAXIMUM));
    AS_CHECK(compile_num_kw(cc, j, loc, kv, "minimum", JS_KW_MINIMUM));
    AS_CHECK(compile_num_kw(cc, j, loc, kv, "exclusiveMinimum",
                            JS_KW_EXCL_MINIMUM));
    AS_CHECK(compile_count_kw(cc, j, loc, kv, "maxLength", JS_KW_MAX_LENGTH));
    AS_CHECK(compile_count_kw(cc, j, loc, kv, "minLength", JS_KW_MIN_LENGTH));
    json_t *p = json_object_get(j, "pattern");
    if (p) {
      where = loc_child(loc, "pattern", NULL);
      if (!where) AS_FAIL(AS_ENOMEM);
      js_regex re;
      AS_CHECK(compile_regex(cc, &re, p, where));
      js_kw *kw = kw_add(kv, JS_KW_PATTERN, "pattern");
      if (!kw) {
        as__js_regex_free(&re);
        AS_FAIL(AS_ENOMEM);
      }
      kw->u.re = re;
      as_free(where);
      where = NULL;
    }
    AS_CHECK(compile_count_kw(cc, j, loc, kv, "maxItems", JS_KW_MAX_ITEMS));
    AS_CHECK(compile_count_kw(cc, j, loc, kv, "minItems", JS_KW_MIN_ITEMS));
    json_t *u = json_object_get(j, "uniqueItems");
    if (json_is_true(u) && !kw_add(kv, JS_KW_UNIQUE_ITEMS, "uniqueItems"))
      AS_FAIL(AS_ENOMEM);
    AS_CHECK(compile_count_kw(cc, j, loc, kv, "maxProperties",
                              JS_KW_MAX_PROPERTIES));
    AS_CHECK(compile_count_kw(cc, j, loc, kv, "minProperties",
                              JS_KW_MIN_PROPERTIES));
    json_t *r = json_object_get(j, "required");
    if (r) {
      where = loc_child(loc, "required", NULL);
      if (!where) AS_FAIL(AS_ENOMEM);
      js_kw *kw = kw_add(kv, JS_KW_REQUIRED, "required");
      if (!kw) AS_FAIL(AS_ENOMEM);
      AS_CHECK(strlist_from(cc, r, &kw->u.req, where));
      as_free(where);
      where = NULL;
    }
    AS_CHECK(compile_deps_kw(cc, j, res, loc, kv, d7, false));
  }
  json_t *f = json_object_get(j, "format");
  bool assert_fmt = (cc->s->flags & AS_JSONSCHEMA_FORMAT_ASSERT) ||
                    (vocab & JS_V_FORMAT_ASSERT);
  if (json_is_string(f) && assert_fmt) {
    int id = as__js_format_id(json_string_value(f));
    if (id >= 0) {
      js_kw *kw = kw_add(kv, JS_KW_FORMAT, "format");
      if (!kw) AS_FAIL(AS_ENOMEM);
      kw->u.fmt.id = id;
      kw->u.fmt.name = as_strndup(json_string_value(f), json_string_length(f));
      if (!kw->u.fmt.name) AS_FAIL(AS_ENOMEM);
    }
  }
  if (vocab & JS_V_APPLICATOR) {
    AS_CHECK(compile_object_kw(cc, j, res, loc, kv));
    AS_CHECK(compile_single_kw(cc, j, res, loc, kv, "propertyNames",
                               JS_KW_PROPERTY_NAMES));
    AS_CHECK(compile_deps_kw(cc, j, res, loc, kv, d7, true));
    AS_CHECK(compile_items_kw(cc, j, res, loc, kv, d7));
    json_t *ct = json_object_get(j, "contains");
    if (ct) {
      uint64_t min = 1, max = 0;
      bool has_max = false;
      if (!d7 && (vocab & JS_V_VALIDATION)) {
        json_t *mn = json_object_get(j, "minContains");
        json_t *mx = json_object_get(j, "maxContains");
        if (mn && !as__js_count(mn, &min)) {
          rc = fail_kw(cc, loc, "minContains", "must be a non-negative integer");
        goto out;
        }
        if (mx) {
          if (!as__js_count(mx, &max)) {
            rc = fail_kw(cc, loc, "maxContains", "must be a non-negative integer");
        goto out;
          }
          has_max = true;
        }
      }
      js_kw *kw = kw_add(kv, JS_KW_CONTAINS, "contains");
      if (!kw) AS_FAIL(AS_ENOMEM);
      kw->u.contains.min = min;
      kw->u.contains.max = max;
      kw->u.contains.has_max = has_max;
      kw->u.contains.sub = JS_NONE;
      uint32_t node;
      AS_CHECK(compile_sub(cc, ct, res, loc, "contains", NULL, &node));
      kv->v[kv->n - 1].u.contains.sub = node;
    }
    AS_CHECK(compile_list_kw(cc, j, res, loc, kv, "allOf", JS_KW_ALL_OF));
    AS_CHECK(compile_list_kw(cc, j, res, loc, kv, "anyOf", JS_KW_ANY_OF));
    AS_CHECK(compile_list_kw(cc, j, res, loc, kv, "oneOf", JS_KW_ONE_OF));
    AS_CHECK(compile_single_kw(cc, j, res, loc, kv, "not", JS_KW_NOT));
    json_t *iff = json_object_get(j, "if");
    if (iff) {
      js_kw *kw = kw_add(kv, JS_KW_IF, "if");
      if (!kw) AS_FAIL(AS_ENOMEM);
      kw->u.cond.if_ = kw->u.cond.then_ = kw->u.cond.else_ = JS_NONE;
      uint32_t a = JS_NONE, b = JS_NONE, c2 = JS_NONE;
      json_t *th = json_object_get(j, "then"), *el = json_object_get(j, "else");
      AS_CHECK(compile_sub(cc, iff, res, loc, "if", NULL, &a));
      if (th) AS_CHECK(compile_sub(cc, th, res, loc, "then", NULL, &b));
      if (el) AS_CHECK(compile_sub(cc, el, res, loc, "else", NULL, &c2));
      kw = &kv->v[kv->n - 1];
      kw->u.cond.if_ = a;
      kw->u.cond.then_ = b;
      kw->u.cond.else_ = c2;
    }
  }
  if (!d7 && (vocab & JS_V_UNEVALUATED)) {
    size_t before = kv->n;
    AS_CHECK(compile_single_kw(cc, j, res, loc, kv, "unevaluatedItems",
                               JS_KW_UNEVAL_ITEMS));
    AS_CHECK(compile_single_kw(cc, j, res, loc, kv, "unevaluatedProperties",
                               JS_KW_UNEVAL_PROPS));
    if (kv->n != before) *collect = true;
  }
out:
  as_free(where);
  return rc;
}

static as_err new_node(js_cc *cc, uint32_t *out) {
  as_jsonschema *s = cc->s;
  if (s->n_nodes >= cc->max_nodes)
    return fail(cc, AS_ELIMIT, NULL, "schema has more than %u subschemas",
                cc->max_nodes);
  if (s->n_nodes == s->cap_nodes) {
    uint32_t ncap = s->cap_nodes ? s->cap_nodes * 2 : 64;
    js_node *nn = as_realloc(s->nodes, ncap * sizeof *nn);
    if (!nn) return AS_ENOMEM;
    s->nodes = nn;
    s->cap_nodes = ncap;
  }
  *out = s->n_nodes++;
  memset(&s->nodes[*out], 0, sizeof s->nodes[*out]);
  return AS_OK;
}

static as_err compile_node(js_cc *cc, const json_t *j, uint32_t res,
                           const char *loc, uint32_t *out) {
  as_err rc = AS_OK;
  kwvec kv = {0};
  size_t pos = SIZE_MAX;
  uint32_t v;
  if (map_next(&cc->memo, ptr_key(j), &pos, &v)) {
    *out = v;
    return AS_OK;
  }
  pos = SIZE_MAX;
  if (map_next(&cc->res_of, ptr_key(j), &pos, &v)) res = v;
  if (cc->depth >= AS_JSONSCHEMA_MAX_NESTING * 2)
    return fail(cc, AS_ELIMIT, loc, "schema nested too deeply");
  uint32_t idx = 0;
  AS_CHECK(new_node(cc, &idx));
  AS_CHECK(map_put(&cc->memo, ptr_key(j), idx));
  cc->ri[res].used = true;
  {
    js_node *n = &cc->s->nodes[idx];
    n->resource = res;
    n->location = as_strndup(loc, strlen(loc));
    if (!n->location) AS_FAIL(AS_ENOMEM);
    if (json_is_boolean(j)) {
      n->boolean = json_is_true(j) ? 1 : 2;
      *out = idx;
      goto out;
    }
  }
  bool collect = false;
  cc->depth++;
  rc = compile_keywords(cc, j, res, loc, &kv, &collect);
  cc->depth--;
  {
    js_node *n = &cc->s->nodes[idx]; /* the array may have moved */
    n->kws = kv.v;
    n->n_kws = kv.n;
    n->collect = collect;
    kv.v = NULL;
  }
  if (rc < 0) goto out;
  *out = idx;
out:
  for (uint32_t i = 0; kv.v && i < kv.n; i++) kw_free(&kv.v[i]);
  as_free(kv.v);
  return rc;
}

/* Compiles the $dynamicAnchor targets of every used resource. */
static as_err compile_dynamic(js_cc *cc) {
  as_err rc = AS_OK;
  bool again = true;
  char *loc = NULL;
  while (again) {
    again = false;
    for (uint32_t r = 0; r < cc->s->n_res; r++) {
      js_rinfo *ri = &cc->ri[r];
      if (!ri->used || ri->dyn_done) continue;
      ri->dyn_done = true;
      again = true;
      if (!ri->n_dyn) continue;
      js_dynanchor *d = as_calloc(ri->n_dyn, sizeof *d);
      if (!d) AS_FAIL(AS_ENOMEM);
      cc->s->res[r].dyn = d;
      for (uint32_t i = 0; i < ri->n_dyn; i++) {
        loc = join_anchor(cc->s->res[r].uri, ri->dyn_names[i]);
        if (!loc) AS_FAIL(AS_ENOMEM);
        uint32_t node;
        AS_CHECK(compile_node(cc, cc->ri[r].dyn_nodes[i], r, loc, &node));
        as_free(loc);
        loc = NULL;
        js_dynanchor *dd = &cc->s->res[r].dyn[i];
        dd->name = as_strndup(cc->ri[r].dyn_names[i],
                              strlen(cc->ri[r].dyn_names[i]));
        if (!dd->name) AS_FAIL(AS_ENOMEM);
        dd->node = node;
        cc->s->res[r].n_dyn = i + 1;
      }
    }
  }
out:
  as_free(loc);
  return rc;
}

/* --- PCRE2 allocation through as_malloc --------------------------------- */

static void *pcre_alloc(size_t n, void *ctx) {
  (void)ctx;
  return as_malloc(n);
}
static void pcre_dealloc(void *p, void *ctx) {
  (void)ctx;
  as_free(p);
}

/* --- Public ------------------------------------------------------------- */

void as_jsonschema_opts_init(as_jsonschema_opts *o) {
  memset(o, 0, sizeof *o);
  o->default_draft = AS_JSONSCHEMA_DRAFT_2020_12;
  o->max_errors = AS_JSONSCHEMA_DEFAULT_MAX_ERRORS;
  o->max_depth = AS_JSONSCHEMA_DEFAULT_MAX_DEPTH;
  o->max_steps = AS_JSONSCHEMA_DEFAULT_MAX_STEPS;
  o->max_nodes = AS_JSONSCHEMA_DEFAULT_MAX_NODES;
}

void as_jsonschema_free(as_jsonschema *s) {
  if (!s) return;
  for (uint32_t i = 0; i < s->n_nodes; i++) as__js_node_clear(&s->nodes[i]);
  as_free(s->nodes);
  for (uint32_t i = 0; i < s->n_res; i++) {
    for (uint32_t k = 0; k < s->res[i].n_dyn; k++) as_free(s->res[i].dyn[k].name);
    as_free(s->res[i].dyn);
    as_free(s->res[i].uri);
  }
  as_free(s->res);
  for (size_t i = 0; i < s->n_docs; i++) json_decref(s->docs[i]);
  as_free(s->docs);
  pcre2_match_context_free(s->mctx);
  pcre2_general_context_free(s->gctx);
  as_free(s);
}

as_jsonschema_draft as_jsonschema_draft_of(const as_jsonschema *s) {
  return s->draft;
}

as_err as_jsonschema_compile(const json_t *schema, const as_jsonschema_opts *opts,
                             as_jsonschema **out, as_error *err) {
  as_err rc = AS_OK;
  as_jsonschema_opts defaults;
  js_cc cc;
  memset(&cc, 0, sizeof cc);
  *out = NULL;
  as__error_clear(err);
  if (!opts) {
    as_jsonschema_opts_init(&defaults);
    opts = &defaults;
  }
  cc.opts = opts;
  cc.err = err;
  cc.max_nodes = opts->max_nodes ? opts->max_nodes
                                 : AS_JSONSCHEMA_DEFAULT_MAX_NODES;
  if (!schema || (!json_is_object(schema) && !json_is_boolean(schema)))
    return as__error_set(err, AS_EINVAL, 0, "schema",
                         "a schema must be an object or a boolean");
  as_jsonschema *s = as_calloc(1, sizeof *s);
  if (!s) return AS_ENOMEM;
  cc.s = s;
  s->flags = opts->flags;
  s->max_errors = opts->max_errors ? opts->max_errors
                                   : AS_JSONSCHEMA_DEFAULT_MAX_ERRORS;
  s->max_depth = opts->max_depth ? opts->max_depth
                                 : AS_JSONSCHEMA_DEFAULT_MAX_DEPTH;
  if (s->max_depth > AS_JSONSCHEMA_HARD_MAX_DEPTH)
    s->max_depth = AS_JSONSCHEMA_HARD_MAX_DEPTH;
  s->max_steps = opts->max_steps ? opts->max_steps
                                 : AS_JSONSCHEMA_DEFAULT_MAX_STEPS;
  s->gctx = pcre2_general_context_create(pcre_alloc, pcre_dealloc, NULL);
  if (!s->gctx) AS_FAIL(AS_ENOMEM);
  s->mctx = pcre2_match_context_create(s->gctx);
  if (!s->mctx) AS_FAIL(AS_ENOMEM);
  pcre2_set_match_limit(s->mctx, PCRE_MATCH_LIMIT);
  pcre2_set_depth_limit(s->mctx, PCRE_DEPTH_LIMIT);
  pcre2_set_heap_limit(s->mctx, PCRE_HEAP_LIMIT_KIB);

  as_jsonschema_draft draft = opts->default_draft;
  if (draft == AS_JSONSCHEMA_DRAFT_DEFAULT) draft = AS_JSONSCHEMA_DRAFT_2020_12;
  if (draft != AS_JSONSCHEMA_DRAFT_07 && draft != AS_JSONSCHEMA_DRAFT_2020_12) {
    rc = as__error_set(err, AS_EINVAL, 0, "schema", "unknown default draft");
    goto out;
  }
  for (size_t i = 0; i < opts->n_docs; i++) {
    const as_jsonschema_doc *d = &opts->docs[i];
    if (!d->uri || !d->json) {
      rc = as__error_set(err, AS_EINVAL, 0, "schema", "document %zu is empty",
                         i);
      goto out;
    }
    AS_CHECK(add_document(&cc, d->uri, json_incref((json_t *)d->json), draft,
                          0));
  }
  const char *base = opts->base_uri ? opts->base_uri : "";
  uint32_t before = s->n_res;
  AS_CHECK(add_document(&cc, base, json_incref((json_t *)schema), draft, 0));
  uint32_t root_res = before;
  if (s->n_res == before) { /* same document registered up-front */
    size_t pos = SIZE_MAX;
    uint32_t v = 0;
    map_next(&cc.res_of, ptr_key(schema), &pos, &v);
    root_res = v;
  }
  s->draft = cc.ri[root_res].draft;
  char *loc = join_anchor(s->res[root_res].uri, "");
  if (!loc) AS_FAIL(AS_ENOMEM);
  rc = compile_node(&cc, schema, root_res, loc, &s->root);
  as_free(loc);
  if (rc < 0) goto out;
  AS_CHECK(compile_dynamic(&cc));
out:
  for (size_t i = 0; i < cc.n_uris; i++) as_free(cc.uris[i].key);
  as_free(cc.uris);
  map_free(&cc.uri_map);
  map_free(&cc.res_of);
  map_free(&cc.memo);
  for (uint32_t r = 0; cc.ri && r < s->n_res; r++) {
    for (uint32_t i = 0; i < cc.ri[r].n_dyn; i++) as_free(cc.ri[r].dyn_names[i]);
    as_free(cc.ri[r].dyn_names);
    as_free(cc.ri[r].dyn_nodes);
  }
  as_free(cc.ri);
  if (rc < 0) {
    if (rc == AS_ENOMEM)
      as__error_set(err, AS_ENOMEM, 0, "schema", "out of memory");
    as_jsonschema_free(s);
    return rc;
  }
  *out = s;
  return AS_OK;
}
