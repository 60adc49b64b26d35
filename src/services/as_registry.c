/*
 * as_registry.c — the schema registry (see as_registry.h for the contract).
 *
 * DESIGN
 *
 * 1. Master state: `subjects` maps a name to a reg_subject holding every
 *    version ever registered (v[i] is version i + 1; deleted versions stay,
 *    flagged, so numbers are never reused) and the subject's own settings.
 *    Only a writer holding `wmu` changes it, and only while also holding
 *    `mu`; lookups hold `mu`.  The writer reads without `mu` (it is the only
 *    one changing anything).  Subjects and versions are freed only with the
 *    registry.
 *
 * 2. Persist, then apply.  A change is appended to the meta store
 *    (as_append: durable when it returns, in the store's durability mode)
 *    while `wmu` is held and before it touches memory, so an acknowledged
 *    change survives kill -9 and a change that could not be persisted never
 *    shows.  Allocations the apply step needs are made before persisting,
 *    so applying cannot fail.  Records, in the meta store's "schema.*"
 *    event types (entity = the subject, or "$global"):
 *
 *      schema.registered  {"version","id","created_us","schema",
 *                          "description"?, "tags"?}
 *      schema.deleted     {"versions":[n, ...]}
 *      schema.config      {"compatibility"?, "enforcement"?}
 *
 *    as_registry_open() replays them in log order; one it cannot read stops
 *    the open with AS_ECORRUPT (a registry is not a cache: skipping a record
 *    would silently change what is enforced).
 *
 * 3. The ingest hot path takes no lock.  After each change the writer
 *    builds an immutable view — subject name -> (compiled latest live
 *    schema, its version, effective enforcement mode) — publishes it with
 *    an atomic exchange, waits for an RCU grace period (as_rcu), then frees
 *    the old view and the compiled schemas only it used.  A validation runs
 *    inside one RCU read section, so what it uses cannot be freed under it;
 *    a writer waits at most for the validations in flight.  Only the
 *    latest live version of each subject is kept compiled; other versions
 *    are compiled on demand by as_registry_validate().
 */
#include "services/as_registry.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "core/as_json.h"
#include "core/as_log.h"
#include "core/as_map.h"
#include "core/as_rand.h"
#include "core/as_rcu.h"
#include "core/as_uuid.h"

#define REJECT_PREFIX "payload does not match schema "
#define GLOBAL_ENTITY "$global"
#define T_PREFIX "schema.*"
#define T_REGISTERED "schema.registered"
#define T_DELETED "schema.deleted"
#define T_CONFIG "schema.config"
/* Warn mode logs the first few invalid events of a subject, then one in
 * WARN_LOG_EVERY (the counters see all of them). */
#define WARN_LOG_FIRST 10u
#define WARN_LOG_EVERY 1000u

typedef struct reg_version {
  uint32_t version;
  bool deleted;
  bool broken; /* failed to compile when it became the latest (logged) */
  uint8_t id[16];
  int64_t created_us;
  char *text; /* the schema's JSON text as registered */
  size_t text_len;
  json_t *schema; /* parsed; immutable once stored */
  char *description; /* NULL = none */
  size_t description_len;
  char *tags; /* compact JSON array; NULL = none */
  size_t tags_len;
  as_jsonschema *compiled; /* writer-only; see DESIGN 3 */
  uint64_t view_gen;       /* last view that used `compiled` */
} reg_version;

typedef struct reg_subject {
  char *name;
  size_t len;
  reg_version **v; /* v[i] = version i + 1 */
  uint32_t n, cap;
  bool compat_set, enforce_set;
  as_compat_mode compat;
  as_enforce_mode enforce;
  _Atomic uint64_t validated, rejected, warned;
} reg_subject;

/* One subject of a view.  Immutable; `subj` is used only for its name and
 * its atomic counters. */
typedef struct reg_entry {
  reg_subject *subj;
  reg_version *ver; /* writer-only (freeing compiled schemas) */
  const as_jsonschema *compiled;
  uint32_t version;
  as_enforce_mode mode;
} reg_entry;

typedef struct reg_view {
  as_map by_subject; /* name -> reg_entry* */
  reg_entry *entries;
  size_t n;
  size_t enforced; /* entries whose mode is not off */
} reg_view;

struct as_registry {
  as_db *meta; /* borrowed; NULL = memory only */
  as_logger log;
  char suffix[AS_REGISTRY_MAX_SUBJECT_LEN + 1];
  size_t suffix_len;
  as_jsonschema_opts jsopts;
  pthread_mutex_t wmu; /* one change at a time, held while persisting */
  pthread_mutex_t mu;  /* the master state */
  as_map subjects;     /* name -> reg_subject* */
  as_compat_mode compat;
  as_enforce_mode enforce;
  bool pin_enforce;
  as_rand rng;   /* schema ids; writer only */
  uint64_t gen;  /* views built; writer only */
  bool stale;    /* the last view could not be built; writer only */
  as_rcu rcu;
  reg_view *_Atomic view;
};

/* --- Names ------------------------------------------------------------ */

static const char *const enforce_names[] = {"off", "warn", "enforce"};

as_err as_enforce_mode_parse(const char *name, size_t len, as_enforce_mode *out) {
  for (int i = 0; i < 3; i++)
    if (name && strlen(enforce_names[i]) == len && memcmp(name, enforce_names[i], len) == 0) {
      *out = (as_enforce_mode)i;
      return AS_OK;
    }
  return AS_EINVAL;
}

const char *as_enforce_mode_name(as_enforce_mode m) {
  return (unsigned)m < 3 ? enforce_names[m] : "?";
}

static bool name_chars_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

static bool name_is(const char *s, size_t len, const char *word) {
  return strlen(word) == len && memcmp(s, word, len) == 0;
}

bool as_registry_subject_valid(const char *s, size_t len) {
  return s && len > 0 && len <= AS_REGISTRY_MAX_SUBJECT_LEN && name_chars_ok(s, len) &&
         !name_is(s, len, ".") && !name_is(s, len, "..") && !name_is(s, len, "config") &&
         !name_is(s, len, "validate");
}

static as_err subject_error(as_error *err, const char *s, size_t len) {
  if (!s || len == 0 || len > AS_REGISTRY_MAX_SUBJECT_LEN)
    return as__error_set(err, AS_EINVAL, 0, "subject",
                         "subject must be 1-%u bytes (got %zu)",
                         AS_REGISTRY_MAX_SUBJECT_LEN, s ? len : 0);
  if (!name_chars_ok(s, len))
    return as__error_set(err, AS_EINVAL, 0, "subject",
                         "subject may contain only letters, digits, '.', '_' and '-'");
  return as__error_set(err, AS_EINVAL, 0, "subject", "subject name \"%.*s\" is reserved",
                       (int)len, s);
}

void as_registry_config_init(as_registry_config *c) {
  memset(c, 0, sizeof *c);
  c->compatibility = AS_COMPAT_BACKWARD;
  c->enforcement = AS_ENFORCE_ENFORCE;
  c->log_level = AS_LOG_INFO;
}

size_t as_registry_subject_of(const as_registry *r, const char *type, size_t len,
                              char *out, size_t cap) {
  size_t n = len + r->suffix_len;
  if (n + 1 > cap || n > AS_REGISTRY_MAX_SUBJECT_LEN) return 0;
  memcpy(out, type, len);
  memcpy(out + len, r->suffix, r->suffix_len);
  out[n] = '\0';
  return as_registry_subject_valid(out, n) ? n : 0;
}

/* --- Master state ------------------------------------------------------- */

static void version_free(reg_version *v) {
  if (!v) return;
  as_free(v->text);
  json_decref(v->schema);
  as_free(v->description);
  as_free(v->tags);
  as_jsonschema_free(v->compiled);
  as_free(v);
}

static void subject_free(void *p) {
  reg_subject *s = p;
  for (uint32_t i = 0; i < s->n; i++) version_free(s->v[i]);
  as_free(s->v);
  as_free(s->name);
  as_free(s);
}

static reg_version *latest_live(const reg_subject *s) {
  for (uint32_t i = s ? s->n : 0; i-- > 0;)
    if (!s->v[i]->deleted) return s->v[i];
  return NULL;
}

static uint32_t live_count(const reg_subject *s) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < s->n; i++) n += !s->v[i]->deleted;
  return n;
}

static as_compat_mode eff_compat(const as_registry *r, const reg_subject *s) {
  return s && s->compat_set ? s->compat : r->compat;
}

static as_enforce_mode eff_enforce(const as_registry *r, const reg_subject *s) {
  return s && s->enforce_set ? s->enforce : r->enforce;
}

/* Finds or adds (under mu) the subject; an added subject has no versions
 * and is invisible until one is registered.  Writer only. */
static as_err subject_get_or_add(as_registry *r, const char *name, size_t len,
                                 bool limit, reg_subject **out, as_error *err) {
  reg_subject *s = as_map_get(&r->subjects, name, len);
  if (s) {
    *out = s;
    return AS_OK;
  }
  if (limit && as_map_count(&r->subjects) >= AS_REGISTRY_MAX_SUBJECTS)
    return as__error_set(err, AS_ELIMIT, 0, "subject",
                         "the registry holds %u subjects, the limit",
                         AS_REGISTRY_MAX_SUBJECTS);
  s = as_calloc(1, sizeof *s);
  if (!s || !(s->name = as_strndup(name, len))) {
    as_free(s);
    return as__error_set(err, AS_ENOMEM, 0, "", "out of memory");
  }
  s->len = len;
  pthread_mutex_lock(&r->mu);
  as_err rc = as_map_put(&r->subjects, name, len, s, NULL);
  pthread_mutex_unlock(&r->mu);
  if (rc) {
    subject_free(s);
    return as__error_set(err, rc, 0, "", "out of memory");
  }
  *out = s;
  return AS_OK;
}

/* Makes room for one more version (under mu: lookups read s->v). */
static as_err subject_reserve(as_registry *r, reg_subject *s) {
  if (s->n < s->cap) return AS_OK;
  uint32_t cap = s->cap ? s->cap * 2 : 4;
  pthread_mutex_lock(&r->mu);
  reg_version **nv = as_realloc(s->v, sizeof *nv * cap);
  if (nv) {
    s->v = nv;
    s->cap = cap;
  }
  pthread_mutex_unlock(&r->mu);
  return nv ? AS_OK : AS_ENOMEM;
}

/* --- Views (DESIGN 3) ----------------------------------------------------- */

static void view_free(reg_view *v) {
  if (!v) return;
  as_map_destroy(&v->by_subject, NULL);
  as_free(v->entries);
  as_free(v);
}

/* Builds and publishes a view of the master state.  Writer only. */
static as_err publish(as_registry *r) {
  as_err rc = AS_OK;
  reg_view *nv = as_calloc(1, sizeof *nv);
  if (!nv) AS_FAIL(AS_ENOMEM);
  as_map_init(&nv->by_subject);
  size_t cap = as_map_count(&r->subjects);
  nv->entries = as_calloc(cap ? cap : 1, sizeof *nv->entries);
  if (!nv->entries) AS_FAIL(AS_ENOMEM);
  uint64_t gen = r->gen + 1;
  size_t it = 0;
  const as_map_slot *slot;
  while ((slot = as_map_next(&r->subjects, &it))) {
    reg_subject *s = slot->val;
    reg_version *v = latest_live(s);
    if (!v || v->broken) continue;
    if (!v->compiled) {
      as_error ce;
      as_err crc = as_jsonschema_compile(v->schema, &r->jsopts, &v->compiled, &ce);
      if (crc == AS_ENOMEM) AS_FAIL(crc);
      if (crc) {
        v->broken = true;
        as__log(&r->log, AS_LOG_ERROR,
                "schema registry: version %" PRIu32 " of subject %s does not compile "
                "(%s); its events are not checked",
                v->version, s->name, ce.message);
        continue;
      }
    }
    reg_entry *e = &nv->entries[nv->n];
    e->subj = s;
    e->ver = v;
    e->compiled = v->compiled;
    e->version = v->version;
    e->mode = eff_enforce(r, s);
    AS_CHECK(as_map_put(&nv->by_subject, s->name, s->len, e, NULL));
    nv->n++;
    nv->enforced += e->mode != AS_ENFORCE_OFF;
  }
  for (size_t i = 0; i < nv->n; i++) nv->entries[i].ver->view_gen = gen;
  r->gen = gen;
  reg_view *old = atomic_exchange(&r->view, nv);
  nv = NULL;
  as_rcu_synchronize(&r->rcu);
  for (size_t i = 0; old && i < old->n; i++) {
    reg_version *v = old->entries[i].ver;
    if (v->view_gen != gen && v->compiled) {
      as_jsonschema_free(v->compiled);
      v->compiled = NULL;
    }
  }
  view_free(old);
  r->stale = false;
out:
  if (rc) {
    r->stale = true;
    as__log(&r->log, AS_LOG_ERROR,
            "schema registry: cannot rebuild the enforcement view (%s); the "
            "previous one stays in force until the next change",
            as_strerror(rc));
  }
  view_free(nv);
  return rc;
}

/* --- Persistence (DESIGN 2) -------------------------------------------------- */

static as_err persist(as_registry *r, const char *type, const char *entity,
                      size_t elen, const as_buf *b, as_error *err) {
  if (as_buf_error(b)) return as__error_set(err, AS_ENOMEM, 0, "", "out of memory");
  if (!r->meta) return AS_OK;
  as_event_in ev;
  as_event_in_init(&ev);
  ev.entity_id = entity;
  ev.entity_id_len = elen;
  ev.event_type = type;
  ev.event_type_len = strlen(type);
  ev.payload = b->data;
  ev.payload_len = b->len;
  as_error e;
  as_err rc = as_append(r->meta, &ev, 1, NULL, &e);
  if (rc) {
    as__log(&r->log, AS_LOG_ERROR, "schema registry: cannot persist a change of %.*s: %s",
            (int)elen, entity, e.message);
    return as__error_set(err, rc, 0, "", "cannot persist the change: %s", e.message);
  }
  return AS_OK;
}

static void put_versions(as_buf *b, const uint32_t *v, size_t n) {
  as_buf_puts(b, "{\"versions\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) as_buf_putc(b, ',');
    as_buf_put_u64(b, v[i]);
  }
  as_buf_puts(b, "]}");
}

/* Replay of one record.  Returns AS_ECORRUPT with `why` set when the record
 * cannot be read. */
typedef struct load_ctx {
  as_registry *r;
  const char *why;
} load_ctx;

static as_err corrupt(load_ctx *c, const char *why) {
  c->why = why;
  return AS_ECORRUPT;
}

static as_err load_registered(load_ctx *c, reg_subject *s, as_json_val root) {
  as_registry *r = c->r;
  as_json_val v, sv;
  uint64_t version;
  int64_t created;
  reg_version *nv = NULL;
  as_err rc = AS_OK;
  if (!as_json_obj_get(root, "version", &v) || as_json_to_u64(v, &version) ||
      version != (uint64_t)s->n + 1)
    return corrupt(c, "version missing or out of sequence");
  if (!as_json_obj_get(root, "created_us", &v) || as_json_to_i64(v, &created))
    return corrupt(c, "created_us missing");
  if (!as_json_obj_get(root, "schema", &sv)) return corrupt(c, "schema missing");
  nv = as_calloc(1, sizeof *nv);
  if (!nv) return AS_ENOMEM;
  nv->version = (uint32_t)version;
  nv->created_us = created;
  if (!as_json_obj_get(root, "id", &v) || v.kind != AS_JSON_STRING ||
      as_uuid_parse(v.p + 1, v.len - 2, nv->id))
    AS_FAIL(corrupt(c, "id missing or malformed"));
  nv->text = as_strndup(sv.p, sv.len);
  nv->text_len = sv.len;
  if (!nv->text) AS_FAIL(AS_ENOMEM);
  nv->schema = as_jsonschema_parse(sv.p, sv.len, NULL);
  if (!nv->schema) AS_FAIL(corrupt(c, "schema does not parse"));
  if (as_json_obj_get(root, "description", &v) && v.kind == AS_JSON_STRING) {
    nv->description = as_malloc(v.len);
    if (!nv->description) AS_FAIL(AS_ENOMEM);
    as_json_str_decode(v, nv->description, &nv->description_len);
  }
  if (as_json_obj_get(root, "tags", &v) && v.kind == AS_JSON_ARRAY) {
    nv->tags = as_strndup(v.p, v.len);
    nv->tags_len = v.len;
    if (!nv->tags) AS_FAIL(AS_ENOMEM);
  }
  AS_CHECK(subject_reserve(r, s));
  s->v[s->n++] = nv;
  nv = NULL;
out:
  version_free(nv);
  return rc;
}

static as_err load_config(load_ctx *c, reg_subject *s, as_json_val root) {
  as_registry *r = c->r;
  as_json_val v;
  if (as_json_obj_get(root, "compatibility", &v)) {
    char name[32];
    as_compat_mode m;
    if (v.kind != AS_JSON_STRING || v.len >= sizeof name)
      return corrupt(c, "bad compatibility");
    memcpy(name, v.p + 1, v.len - 2);
    name[v.len - 2] = '\0';
    if (as_compat_mode_parse(name, &m)) return corrupt(c, "unknown compatibility");
    if (s) {
      s->compat = m;
      s->compat_set = true;
    } else {
      r->compat = m;
    }
  }
  if (as_json_obj_get(root, "enforcement", &v)) {
    as_enforce_mode m;
    if (v.kind != AS_JSON_STRING || as_enforce_mode_parse(v.p + 1, v.len - 2, &m))
      return corrupt(c, "bad enforcement");
    if (s) {
      s->enforce = m;
      s->enforce_set = true;
    } else if (!r->pin_enforce) {
      r->enforce = m;
    }
  }
  return AS_OK;
}

static as_err load_one(load_ctx *c, const as_event *ev) {
  as_registry *r = c->r;
  as_json_val root = as_json_root(ev->payload, ev->payload_len);
  if (root.kind != AS_JSON_OBJECT) return corrupt(c, "payload is not an object");
  bool global = name_is(ev->entity_id, ev->entity_id_len, GLOBAL_ENTITY);
  reg_subject *s = NULL;
  if (!global) {
    if (!as_registry_subject_valid(ev->entity_id, ev->entity_id_len))
      return corrupt(c, "invalid subject name");
    as_err rc = subject_get_or_add(r, ev->entity_id, ev->entity_id_len, false, &s, NULL);
    if (rc) return rc;
  }
  if (name_is(ev->event_type, ev->event_type_len, T_CONFIG)) return load_config(c, s, root);
  if (global) return corrupt(c, "record of the wrong type for the global settings");
  if (name_is(ev->event_type, ev->event_type_len, T_REGISTERED))
    return load_registered(c, s, root);
  if (name_is(ev->event_type, ev->event_type_len, T_DELETED)) {
    as_json_val arr, v;
    if (!as_json_obj_get(root, "versions", &arr) || arr.kind != AS_JSON_ARRAY)
      return corrupt(c, "versions missing");
    as_json_iter it;
    as_json_iter_init(&it, arr);
    while (as_json_arr_next(&it, &v)) {
      uint64_t n;
      if (as_json_to_u64(v, &n) || n == 0 || n > s->n) return corrupt(c, "unknown version");
      s->v[n - 1]->deleted = true;
    }
    return AS_OK;
  }
  return corrupt(c, "unknown record type");
}

static as_err load(as_registry *r, as_error *err) {
  if (!r->meta) return AS_OK;
  as_query q;
  as_query_init(&q);
  q.event_type = T_PREFIX;
  q.event_type_len = strlen(T_PREFIX);
  as_iter *it;
  as_err rc = as_query_open(r->meta, &q, &it);
  if (rc) return as__error_set(err, rc, 0, "", "schema registry: cannot read the meta store");
  load_ctx c = {r, NULL};
  as_event ev;
  uint64_t n = 0;
  while (!rc && as_iter_next(it, &ev) == AS_OK) {
    rc = load_one(&c, &ev);
    n++;
  }
  as_iter_close(it);
  if (rc == AS_ECORRUPT)
    return as__error_set(err, rc, 0, "",
                         "schema registry: record at meta store position %" PRIu64
                         " (%.*s of %.*s) cannot be read: %s",
                         ev.position, (int)ev.event_type_len, ev.event_type,
                         (int)AS_MIN(ev.entity_id_len, 64u), ev.entity_id, c.why);
  if (rc) return as__error_set(err, rc, 0, "", "schema registry: %s", as_strerror(rc));
  if (n)
    as__log(&r->log, AS_LOG_INFO, "schema registry: %" PRIu64 " records replayed, %zu subjects",
            n, as_map_count(&r->subjects));
  return AS_OK;
}

/* --- Open and free ----------------------------------------------------------- */

as_err as_registry_open(as_db *db, const as_registry_config *cfg, as_registry **out,
                        as_error *err) {
  as_err rc = AS_OK;
  as__error_clear(err);
  *out = NULL;
  as_registry_config dflt;
  if (!cfg) {
    as_registry_config_init(&dflt);
    cfg = &dflt;
  }
  const char *suffix = cfg->subject_suffix ? cfg->subject_suffix : "";
  size_t slen = strlen(suffix);
  if (slen >= AS_REGISTRY_MAX_SUBJECT_LEN || !name_chars_ok(suffix, slen))
    return as__error_set(err, AS_EINVAL, 0, "subject_suffix",
                         "the subject suffix must be at most %u bytes of letters, "
                         "digits, '.', '_' and '-'",
                         AS_REGISTRY_MAX_SUBJECT_LEN - 1);
  if ((unsigned)cfg->compatibility > AS_COMPAT_FULL_TRANSITIVE ||
      (unsigned)cfg->enforcement > AS_ENFORCE_ENFORCE)
    return as__error_set(err, AS_EINVAL, 0, "", "unknown compatibility or enforcement mode");
  as_registry *r = as_calloc(1, sizeof *r);
  if (!r) return as__error_set(err, AS_ENOMEM, 0, "", "out of memory");
  r->meta = db ? as_db_meta(db) : NULL;
  r->log.fn = cfg->log_fn;
  r->log.ctx = cfg->log_ctx;
  r->log.level = cfg->log_level;
  memcpy(r->suffix, suffix, slen + 1);
  r->suffix_len = slen;
  /* Formats are assertions (as in Confluent's registry), not annotations. */
  as_jsonschema_opts_init(&r->jsopts);
  r->jsopts.flags = AS_JSONSCHEMA_FORMAT_ASSERT;
  pthread_mutex_init(&r->wmu, NULL);
  pthread_mutex_init(&r->mu, NULL);
  as_map_init(&r->subjects);
  r->compat = cfg->compatibility;
  r->enforce = cfg->enforcement;
  r->pin_enforce = cfg->pin_enforcement;
  as_rand_seed(&r->rng);
  as_rcu_init(&r->rcu);
  AS_CHECK(load(r, err));
  pthread_mutex_lock(&r->wmu);
  rc = publish(r);
  pthread_mutex_unlock(&r->wmu);
  if (rc) AS_FAIL(as__error_set(err, rc, 0, "", "out of memory"));
  *out = r;
  return AS_OK;
out:
  as_registry_free(r);
  return rc;
}

void as_registry_free(as_registry *r) {
  if (!r) return;
  view_free(atomic_load(&r->view));
  as_map_destroy(&r->subjects, subject_free);
  pthread_mutex_destroy(&r->mu);
  pthread_mutex_destroy(&r->wmu);
  as_free(r);
}

/* --- Ingest (the hot path) ------------------------------------------------------ */

/* "/age: expected integer, got string [keyword /properties/age/type]; 2
 * more errors" into out[0..cap). */
static void describe(const as_jsonschema_result *res, char *out, size_t cap) {
  if (res->n_errors == 0) {
    snprintf(out, cap, "%s", res->aborted ? "validation stopped at a limit" : "invalid");
    return;
  }
  const as_jsonschema_error *e = &res->errors[0];
  int n = snprintf(out, cap, "%s: %s [keyword %s]",
                   e->instance_path[0] ? e->instance_path : "(root)", e->message,
                   e->keyword_path[0] ? e->keyword_path : "(root)");
  if (res->n_errors > 1 && n > 0 && (size_t)n < cap)
    snprintf(out + n, cap - (size_t)n, "; %zu more error%s", res->n_errors - 1,
             res->n_errors > 2 ? "s" : "");
}

/* Checks one event against a view entry (inside the RCU read section). */
static as_err check_entry(as_registry *r, const reg_entry *e, const as_event_in *ev,
                          uint32_t index, as_error *err) {
  as_error perr;
  json_t *doc = as_jsonschema_parse(ev->payload, ev->payload_len, &perr);
  as_jsonschema_result res;
  memset(&res, 0, sizeof res);
  char why[200];
  bool ok = false;
  as_err rc = AS_OK;
  atomic_fetch_add_explicit(&e->subj->validated, 1, memory_order_relaxed);
  if (!doc) {
    /* The engine accepted the JSON; jansson refuses a few values (reals
     * beyond double range).  Unprovable means invalid. */
    snprintf(why, sizeof why, "payload cannot be read for validation: %.150s", perr.message);
  } else {
    rc = as_jsonschema_check(e->compiled, doc, &ok);
    if (!rc && !ok) rc = as_jsonschema_validate(e->compiled, doc, &res);
    if (!rc && !ok) describe(&res, why, sizeof why);
  }
  json_decref(doc);
  as_jsonschema_result_free(&res);
  if (rc) return as__error_set(err, rc, index, "payload", "out of memory validating the payload");
  if (ok) return AS_OK;
  const char *name = e->subj->name;
  if (e->mode == AS_ENFORCE_WARN) {
    uint64_t n = atomic_fetch_add_explicit(&e->subj->warned, 1, memory_order_relaxed) + 1;
    if (n <= WARN_LOG_FIRST || n % WARN_LOG_EVERY == 0)
      as__log(&r->log, AS_LOG_WARN,
              "schema registry: accepted an event of type %.*s (entity %.*s) that does "
              "not match schema \"%s\" version %" PRIu32 " (warn mode; %" PRIu64
              " so far): %s",
              (int)ev->event_type_len, ev->event_type, (int)AS_MIN(ev->entity_id_len, 64u),
              ev->entity_id, name, e->version, n, why);
    return AS_OK;
  }
  atomic_fetch_add_explicit(&e->subj->rejected, 1, memory_order_relaxed);
  return as__error_set(err, AS_EINVAL, index, "payload", REJECT_PREFIX "\"%s\" version %" PRIu32 ": %s",
                       name, e->version, why);
}

as_err as_registry_check_event(void *registry, const as_event_in *ev, uint32_t index,
                               as_error *err) {
  as_registry *r = registry;
  char key[AS_REGISTRY_MAX_SUBJECT_LEN];
  size_t klen = ev->event_type_len + r->suffix_len;
  if (klen > sizeof key) return AS_OK; /* no subject is that long */
  memcpy(key, ev->event_type, ev->event_type_len);
  memcpy(key + ev->event_type_len, r->suffix, r->suffix_len);
  as_err rc = AS_OK;
  as_rcu_token t = as_rcu_read_lock(&r->rcu);
  const reg_view *v = atomic_load(&r->view);
  if (v && v->enforced) {
    const reg_entry *e = as_map_get(&v->by_subject, key, klen);
    if (e && e->mode != AS_ENFORCE_OFF) rc = check_entry(r, e, ev, index, err);
  }
  as_rcu_read_unlock(&r->rcu, t);
  return rc;
}

bool as_registry_is_rejection(const as_error *err) {
  return err && err->code == AS_EINVAL && strcmp(err->field, "payload") == 0 &&
         strncmp(err->message, REJECT_PREFIX, sizeof REJECT_PREFIX - 1) == 0;
}

/* --- Registration ------------------------------------------------------------- */

void as_registry_result_free(as_registry_result *res) {
  if (res) as_compat_report_free(&res->report);
}

/* Trims and checks the schema text: JSON, size, nesting. */
static as_err check_schema_text(const char **text, size_t *len, as_error *err) {
  if (!*text) return as__error_set(err, AS_EINVAL, 0, "schema", "schema is required");
  if (*len > AS_REGISTRY_MAX_SCHEMA_BYTES)
    return as__error_set(err, AS_ELIMIT, 0, "schema",
                         "the schema is %zu bytes; the limit is %u", *len,
                         AS_REGISTRY_MAX_SCHEMA_BYTES);
  as_json_error je;
  if (as_json_validate(*text, *len, AS_JSON_MAX_DEPTH_CAP, NULL, &je))
    return as__error_set(err, AS_EJSON, 0, "schema", "schema is not valid JSON: %s at byte %zu",
                         je.msg, je.offset);
  if (as_json_validate(*text, *len, AS_REGISTRY_MAX_SCHEMA_DEPTH, NULL, &je))
    return as__error_set(err, AS_ELIMIT, 0, "schema",
                         "the schema is nested deeper than %u levels", AS_REGISTRY_MAX_SCHEMA_DEPTH);
  as_json_val root = as_json_root(*text, *len);
  *text = root.p;
  *len = root.len;
  return AS_OK;
}

/* Checks tags (a JSON array of strings) and renders them compactly. */
static as_err canonical_tags(const char *text, size_t len, as_buf *out, as_error *err) {
  as_json_kind k;
  as_json_error je;
  if (as_json_validate(text, len, 2, &k, &je) || k != AS_JSON_ARRAY)
    return as__error_set(err, AS_EINVAL, 0, "tags", "tags must be an array of strings");
  as_json_iter it;
  as_json_val v;
  size_t n = 0;
  char tag[AS_REGISTRY_MAX_TAG_LEN * 6 + 2]; /* a byte is at most 6 escaped */
  as_json_iter_init(&it, as_json_root(text, len));
  as_buf_putc(out, '[');
  while (as_json_arr_next(&it, &v)) {
    if (v.kind != AS_JSON_STRING)
      return as__error_set(err, AS_EINVAL, 0, "tags", "tags must be an array of strings");
    if (++n > AS_REGISTRY_MAX_TAGS)
      return as__error_set(err, AS_ELIMIT, 0, "tags", "at most %u tags", AS_REGISTRY_MAX_TAGS);
    if (v.len > sizeof tag)
      return as__error_set(err, AS_ELIMIT, 0, "tags", "a tag may be at most %u bytes",
                           AS_REGISTRY_MAX_TAG_LEN);
    size_t tl;
    as_json_str_decode(v, tag, &tl);
    if (tl > AS_REGISTRY_MAX_TAG_LEN)
      return as__error_set(err, AS_ELIMIT, 0, "tags", "a tag may be at most %u bytes",
                           AS_REGISTRY_MAX_TAG_LEN);
    if (n > 1) as_buf_putc(out, ',');
    as_json_put_str(out, tag, tl);
  }
  as_buf_putc(out, ']');
  return as_buf_error(out) ? as__error_set(err, AS_ENOMEM, 0, "", "out of memory") : AS_OK;
}

/* Checks `doc` against the live versions of `s` under `mode`; fills
 * out->report with version numbers.  Writer only. */
static as_err check_compat(reg_subject *s, as_compat_mode mode, const json_t *doc,
                           as_compat_report *report) {
  uint32_t n = live_count(s);
  if (n == 0) {
    report->compatible = true; /* nothing live to be compatible with */
    return AS_OK;
  }
  const json_t **prev = as_malloc(sizeof *prev * n);
  uint32_t *num = as_malloc(sizeof *num * n);
  as_err rc = AS_ENOMEM;
  if (prev && num) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < s->n; i++)
      if (!s->v[i]->deleted) {
        prev[k] = s->v[i]->schema;
        num[k++] = s->v[i]->version;
      }
    rc = as_schema_compat_check(mode, doc, prev, n, report);
    for (size_t i = 0; !rc && i < report->n_issues; i++)
      report->issues[i].version = report->issues[i].version < n ? num[report->issues[i].version] : 0;
  }
  as_free(prev);
  as_free(num);
  return rc;
}

static void result_from(as_registry_result *out, const reg_version *v) {
  out->version = v->version;
  memcpy(out->id, v->id, 16);
  out->created_us = v->created_us;
}

as_err as_registry_register(as_registry *r, const char *subject, size_t len,
                            const char *schema, size_t schema_len,
                            const char *description, size_t description_len,
                            const char *tags, size_t tags_len, as_registry_result *out,
                            as_error *err) {
  as_err rc = AS_OK;
  json_t *doc = NULL;
  as_jsonschema *compiled = NULL;
  reg_version *nv = NULL;
  bool locked = false;
  as_buf tb, b;
  as_buf_init(&tb, 0);
  as_buf_init(&b, 0);
  memset(out, 0, sizeof *out);
  as__error_clear(err);

  if (!as_registry_subject_valid(subject, len)) AS_FAIL(subject_error(err, subject, len));
  AS_CHECK(check_schema_text(&schema, &schema_len, err));
  if (description && (description_len > AS_REGISTRY_MAX_DESCRIPTION ||
                      as_utf8_check(description, description_len) != description_len))
    AS_FAIL(as__error_set(err, AS_EINVAL, 0, "description",
                          "description must be valid UTF-8 of at most %u bytes",
                          AS_REGISTRY_MAX_DESCRIPTION));
  if (tags) AS_CHECK(canonical_tags(tags, tags_len, &tb, err));
  doc = as_jsonschema_parse(schema, schema_len, err);
  if (!doc) {
    if (err) snprintf(err->field, sizeof err->field, "schema");
    AS_FAIL(AS_EINVAL);
  }
  rc = as_jsonschema_compile(doc, &r->jsopts, &compiled, err);
  if (rc) {
    if (err) snprintf(err->field, sizeof err->field, "schema");
    goto out;
  }

  pthread_mutex_lock(&r->wmu);
  locked = true;
  if (r->stale) publish(r);
  reg_subject *s = as_map_get(&r->subjects, subject, len);
  for (uint32_t i = 0; s && i < s->n; i++)
    if (!s->v[i]->deleted && json_equal(s->v[i]->schema, doc)) {
      result_from(out, s->v[i]);
      out->existing = true;
      out->mode = eff_compat(r, s);
      goto out;
    }
  if (s && s->n >= AS_REGISTRY_MAX_VERSIONS)
    AS_FAIL(as__error_set(err, AS_ELIMIT, 0, "subject",
                          "subject \"%.*s\" has reached the limit of %u versions", (int)len,
                          subject, AS_REGISTRY_MAX_VERSIONS));
  out->mode = eff_compat(r, s);
  if (s) {
    AS_CHECK(check_compat(s, out->mode, doc, &out->report));
    if (!out->report.compatible) {
      const as_compat_issue *i = out->report.n_issues ? &out->report.issues[0] : NULL;
      AS_FAIL(as__error_set(err, AS_ECONFLICT, 0, "schema",
                            "schema is incompatible with subject \"%.*s\" under %s: %s%s%s",
                            (int)len, subject, as_compat_mode_name(out->mode),
                            i ? i->path : "", i ? ": " : "", i ? i->message : "?"));
    }
  }
  AS_CHECK(subject_get_or_add(r, subject, len, true, &s, err));
  if (subject_reserve(r, s)) AS_FAIL(as__error_set(err, AS_ENOMEM, 0, "", "out of memory"));
  nv = as_calloc(1, sizeof *nv);
  if (!nv || !(nv->text = as_strndup(schema, schema_len)) ||
      (description && !(nv->description = as_strndup(description, description_len))))
    AS_FAIL(as__error_set(err, AS_ENOMEM, 0, "", "out of memory"));
  nv->text_len = schema_len;
  nv->description_len = description ? description_len : 0;
  if (tags) nv->tags = as_buf_detach(&tb, &nv->tags_len);
  if (tags && !nv->tags) AS_FAIL(as__error_set(err, AS_ENOMEM, 0, "", "out of memory"));
  nv->version = s->n + 1;
  nv->created_us = as_time_now_us();
  as_uuid_v7(&r->rng, nv->created_us, nv->id);

  char uuid[37];
  as_uuid_format(nv->id, uuid);
  as_buf_printf(&b, "{\"version\":%" PRIu32 ",\"id\":\"%s\",\"created_us\":%" PRId64 ",\"schema\":",
                nv->version, uuid, nv->created_us);
  as_buf_append(&b, schema, schema_len);
  if (nv->description) {
    as_buf_puts(&b, ",\"description\":");
    as_json_put_str(&b, nv->description, nv->description_len);
  }
  if (nv->tags) {
    as_buf_puts(&b, ",\"tags\":");
    as_buf_append(&b, nv->tags, nv->tags_len);
  }
  as_buf_putc(&b, '}');
  AS_CHECK(persist(r, T_REGISTERED, subject, len, &b, err));

  nv->schema = doc;
  nv->compiled = compiled;
  doc = NULL;
  compiled = NULL;
  pthread_mutex_lock(&r->mu);
  s->v[s->n++] = nv;
  pthread_mutex_unlock(&r->mu);
  result_from(out, nv);
  nv = NULL;
  publish(r); /* on failure the change stands; enforcement catches up later */
out:
  if (locked) pthread_mutex_unlock(&r->wmu);
  version_free(nv);
  as_jsonschema_free(compiled);
  json_decref(doc);
  as_buf_free(&tb);
  as_buf_free(&b);
  return rc;
}

/* --- Lookups ------------------------------------------------------------------ */

static void info_of(const as_registry *r, const reg_subject *s, as_subject_info *out) {
  memset(out, 0, sizeof *out);
  out->compatibility = eff_compat(r, s);
  out->enforcement = eff_enforce(r, s);
  if (!s) return;
  out->compatibility_set = s->compat_set;
  out->enforcement_set = s->enforce_set;
  const reg_version *v = latest_live(s);
  out->latest = v ? v->version : 0;
  out->live_versions = live_count(s);
  out->validated = atomic_load_explicit(&s->validated, memory_order_relaxed);
  out->rejected = atomic_load_explicit(&s->rejected, memory_order_relaxed);
  out->warned = atomic_load_explicit(&s->warned, memory_order_relaxed);
}

/* The live version `version` (0 = latest) of `s`, or NULL. */
static reg_version *find_version(const reg_subject *s, uint32_t version) {
  if (version == 0) return latest_live(s);
  if (!s || version > s->n || s->v[version - 1]->deleted) return NULL;
  return s->v[version - 1];
}

as_err as_registry_get(as_registry *r, const char *subject, size_t len, uint32_t version,
                       as_schema_version_cb cb, void *arg, bool *subject_found) {
  pthread_mutex_lock(&r->mu);
  reg_subject *s = as_map_get(&r->subjects, subject, len);
  bool found = latest_live(s) != NULL;
  reg_version *v = found ? find_version(s, version) : NULL;
  if (v) {
    as_schema_version sv = {s->name, s->len, v->version, {0}, v->created_us, v->text,
                            v->text_len, v->description, v->description_len, v->tags,
                            v->tags_len};
    memcpy(sv.id, v->id, 16);
    as_subject_info info;
    info_of(r, s, &info);
    cb(arg, &sv, &info);
  }
  pthread_mutex_unlock(&r->mu);
  if (subject_found) *subject_found = found;
  return v ? AS_OK : AS_ENOTFOUND;
}

as_err as_registry_versions(as_registry *r, const char *subject, size_t len,
                            uint32_t **versions, size_t *n) {
  as_err rc = AS_OK;
  *versions = NULL;
  *n = 0;
  pthread_mutex_lock(&r->mu);
  reg_subject *s = as_map_get(&r->subjects, subject, len);
  uint32_t live = s ? live_count(s) : 0;
  if (live == 0) AS_FAIL(AS_ENOTFOUND);
  *versions = as_malloc(sizeof **versions * live);
  if (!*versions) AS_FAIL(AS_ENOMEM);
  for (uint32_t i = 0; i < s->n; i++)
    if (!s->v[i]->deleted) (*versions)[(*n)++] = s->v[i]->version;
out:
  pthread_mutex_unlock(&r->mu);
  return rc;
}

static int cmp_subjects(const void *a, const void *b) {
  const reg_subject *x = *(reg_subject *const *)a, *y = *(reg_subject *const *)b;
  int c = memcmp(x->name, y->name, AS_MIN(x->len, y->len));
  return c ? c : (x->len > y->len) - (x->len < y->len);
}

as_err as_registry_subjects(as_registry *r, as_subject_cb cb, void *arg, size_t *count) {
  as_err rc = AS_OK;
  size_t n = 0, it = 0;
  const as_map_slot *slot;
  pthread_mutex_lock(&r->mu);
  reg_subject **list = as_malloc(sizeof *list * (as_map_count(&r->subjects) + 1));
  if (!list) AS_FAIL(AS_ENOMEM);
  while ((slot = as_map_next(&r->subjects, &it)))
    if (latest_live(slot->val)) list[n++] = slot->val;
  qsort(list, n, sizeof *list, cmp_subjects);
  for (size_t i = 0; i < n; i++) cb(arg, list[i]->name, list[i]->len);
out:
  pthread_mutex_unlock(&r->mu);
  as_free(list);
  if (count) *count = n;
  return rc;
}

void as_registry_subject_info(as_registry *r, const char *subject, size_t len,
                              as_subject_info *out) {
  pthread_mutex_lock(&r->mu);
  info_of(r, as_map_get(&r->subjects, subject, len), out);
  pthread_mutex_unlock(&r->mu);
}

void as_registry_settings_get(as_registry *r, as_registry_settings *out) {
  memset(out, 0, sizeof *out);
  out->subject_suffix = r->suffix;
  pthread_mutex_lock(&r->mu);
  out->compatibility = r->compat;
  out->enforcement = r->enforce;
  size_t it = 0;
  const as_map_slot *slot;
  while ((slot = as_map_next(&r->subjects, &it))) {
    reg_subject *s = slot->val;
    out->subjects += latest_live(s) != NULL;
    out->validated += atomic_load_explicit(&s->validated, memory_order_relaxed);
    out->rejected += atomic_load_explicit(&s->rejected, memory_order_relaxed);
    out->warned += atomic_load_explicit(&s->warned, memory_order_relaxed);
  }
  pthread_mutex_unlock(&r->mu);
}

/* --- Deletes ------------------------------------------------------------------ */

/* Persists the deletion of versions[0..n) of `s` and applies it.  Writer. */
static as_err delete_versions(as_registry *r, reg_subject *s, const uint32_t *versions,
                              size_t n, as_error *err) {
  as_buf b;
  as_buf_init(&b, 0);
  put_versions(&b, versions, n);
  as_err rc = persist(r, T_DELETED, s->name, s->len, &b, err);
  as_buf_free(&b);
  if (rc) return rc;
  pthread_mutex_lock(&r->mu);
  for (size_t i = 0; i < n; i++) s->v[versions[i] - 1]->deleted = true;
  pthread_mutex_unlock(&r->mu);
  publish(r);
  return AS_OK;
}

as_err as_registry_delete_version(as_registry *r, const char *subject, size_t len,
                                  uint32_t version, uint32_t *deleted, as_error *err) {
  as__error_clear(err);
  pthread_mutex_lock(&r->wmu);
  reg_subject *s = as_map_get(&r->subjects, subject, len);
  reg_version *v = find_version(s, version);
  uint32_t n = v ? v->version : 0;
  as_err rc = v ? delete_versions(r, s, &n, 1, err)
                : as__error_set(err, AS_ENOTFOUND, 0, "version", "no such version");
  pthread_mutex_unlock(&r->wmu);
  if (!rc && deleted) *deleted = n;
  return rc;
}

as_err as_registry_delete_subject(as_registry *r, const char *subject, size_t len,
                                  uint32_t **versions, size_t *n, as_error *err) {
  as__error_clear(err);
  uint32_t *list = NULL;
  size_t k = 0;
  as_err rc = AS_OK;
  pthread_mutex_lock(&r->wmu);
  reg_subject *s = as_map_get(&r->subjects, subject, len);
  uint32_t live = s ? live_count(s) : 0;
  if (live == 0) AS_FAIL(as__error_set(err, AS_ENOTFOUND, 0, "subject", "no such subject"));
  list = as_malloc(sizeof *list * live);
  if (!list) AS_FAIL(as__error_set(err, AS_ENOMEM, 0, "", "out of memory"));
  for (uint32_t i = 0; i < s->n; i++)
    if (!s->v[i]->deleted) list[k++] = s->v[i]->version;
  AS_CHECK(delete_versions(r, s, list, k, err));
out:
  pthread_mutex_unlock(&r->wmu);
  if (!rc && versions) {
    *versions = list;
    *n = k;
    list = NULL;
  }
  as_free(list);
  return rc;
}

/* --- Settings ------------------------------------------------------------------ */

/* Persists and applies the compatibility (compat) or enforcement mode of
 * `subject` (NULL = global). */
static as_err set_mode(as_registry *r, const char *subject, size_t len, bool compat,
                       int mode, as_error *err) {
  as__error_clear(err);
  const char *what = compat ? "compatibility" : "enforcement";
  if (subject && !as_registry_subject_valid(subject, len)) return subject_error(err, subject, len);
  if (compat ? (unsigned)mode > AS_COMPAT_FULL_TRANSITIVE : (unsigned)mode > AS_ENFORCE_ENFORCE)
    return as__error_set(err, AS_EINVAL, 0, what, "unknown %s mode", what);
  const char *name = compat ? as_compat_mode_name((as_compat_mode)mode)
                            : as_enforce_mode_name((as_enforce_mode)mode);
  as_buf b;
  as_buf_init(&b, 0);
  as_buf_printf(&b, "{\"%s\":\"%s\"}", what, name);
  reg_subject *s = NULL;
  as_err rc = AS_OK;
  pthread_mutex_lock(&r->wmu);
  if (subject) AS_CHECK(subject_get_or_add(r, subject, len, true, &s, err));
  AS_CHECK(persist(r, T_CONFIG, subject ? subject : GLOBAL_ENTITY,
                   subject ? len : strlen(GLOBAL_ENTITY), &b, err));
  pthread_mutex_lock(&r->mu);
  if (compat && s) {
    s->compat = (as_compat_mode)mode;
    s->compat_set = true;
  } else if (compat) {
    r->compat = (as_compat_mode)mode;
  } else if (s) {
    s->enforce = (as_enforce_mode)mode;
    s->enforce_set = true;
  } else {
    r->enforce = (as_enforce_mode)mode;
  }
  pthread_mutex_unlock(&r->mu);
  if (!compat || r->stale) publish(r);
out:
  pthread_mutex_unlock(&r->wmu);
  as_buf_free(&b);
  return rc;
}

as_err as_registry_set_compatibility(as_registry *r, const char *subject, size_t len,
                                     as_compat_mode mode, as_error *err) {
  return set_mode(r, subject, len, true, (int)mode, err);
}

as_err as_registry_set_enforcement(as_registry *r, const char *subject, size_t len,
                                   as_enforce_mode mode, as_error *err) {
  return set_mode(r, subject, len, false, (int)mode, err);
}

/* --- Validation on request -------------------------------------------------------- */

as_err as_registry_validate(as_registry *r, const char *subject, size_t len,
                            uint32_t version, const char *payload, size_t payload_len,
                            uint32_t *used, as_jsonschema_result *res, bool *subject_found,
                            as_error *err) {
  memset(res, 0, sizeof *res);
  as__error_clear(err);
  if (subject_found) *subject_found = false;
  *used = 0;
  json_t *doc = as_jsonschema_parse(payload, payload_len, err);
  if (!doc) {
    if (err) snprintf(err->field, sizeof err->field, "payload");
    return AS_EJSON;
  }
  as_err rc = AS_ENOTFOUND;
  /* The latest version: its compiled form in the current view. */
  as_rcu_token t = as_rcu_read_lock(&r->rcu);
  const reg_view *view = atomic_load(&r->view);
  const reg_entry *e = view ? as_map_get(&view->by_subject, subject, len) : NULL;
  if (e && (version == 0 || version == e->version)) {
    *used = e->version;
    if (subject_found) *subject_found = true;
    rc = as_jsonschema_validate(e->compiled, doc, res);
  }
  as_rcu_read_unlock(&r->rcu, t);
  if (rc != AS_ENOTFOUND) goto out;
  /* Any other version: compiled for this call. */
  json_t *schema = NULL;
  pthread_mutex_lock(&r->mu);
  reg_subject *s = as_map_get(&r->subjects, subject, len);
  reg_version *v = latest_live(s) ? find_version(s, version) : NULL;
  if (subject_found) *subject_found = latest_live(s) != NULL;
  if (v) {
    schema = json_incref(v->schema);
    *used = v->version;
  }
  pthread_mutex_unlock(&r->mu);
  if (!schema) {
    as__error_set(err, AS_ENOTFOUND, 0, "version", "no such version");
    goto out;
  }
  as_jsonschema *c;
  rc = as_jsonschema_compile(schema, &r->jsopts, &c, err);
  if (!rc) {
    rc = as_jsonschema_validate(c, doc, res);
    as_jsonschema_free(c);
  }
  json_decref(schema);
out:
  json_decref(doc);
  return rc;
}
