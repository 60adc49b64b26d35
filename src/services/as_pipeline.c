/*
 * as_pipeline.c — the pipeline service: the registry of pipelines, their
 * persistence in the meta store, and the worker that feeds them (see
 * as_pipeline.h for the contract).
 *
 * DESIGN
 *
 * 1. Cursors.  Each pipeline has `next`, the next log position it will look
 *    at, from its start position on.  The worker feeds one pipeline at a
 *    time a chunk of up to CHUNK events (as_get_by_position, every position
 *    in order; as_pstate_apply skips the types it does not select), round
 *    robin, so a pipeline replaying a long history does not hold up the
 *    others.  Appends never wait for any of this: the commit listener only
 *    wakes the worker.
 *
 * 2. Locks.  `mu` guards the list and every pipeline's `next`, `start`,
 *    `busy`, `hold`, `refs` and, while `busy` is false, its state.  The
 *    worker sets `busy` under `mu`, applies a chunk without `mu`, then
 *    clears it under `mu`; so whoever holds `mu` and sees busy false may
 *    read or change the pipeline.  A reader that needs the state waits for
 *    busy to clear with `hold` raised, which keeps the worker from starting
 *    another chunk of that pipeline first (no starvation).  `wmu`
 *    serializes changes (persist, then apply), held without `mu` while
 *    appending to the meta store.  `wake_mu` only pairs with `wake_cv`; lock
 *    order: wmu -> mu -> wake_mu.
 *
 * 3. Lifetime.  A pipeline is freed when its last reference goes: the list
 *    holds one, the worker one while busy, each reader one.  Deleting or
 *    replacing takes it off the list (`doomed`) and drops the list's.
 *
 * 4. Wake-up.  The worker sets `sleeping` (seq_cst) before it looks for
 *    work; the commit listener runs a seq_cst fence after the engine has
 *    published the new committed position, then reads `sleeping` and, if
 *    set, signals (at most once per NOTIFY_GAP_US under a stream of small
 *    commits; the worker's timed wait, reset to IDLE_WAIT_MIN_US after any
 *    work, bounds the lag of a skipped signal).  `kicked` (under wake_mu)
 *    keeps a signal sent between the look and the wait from being lost.
 *    Readers kick the worker themselves before they wait for it.
 *
 * 5. Persistence.  Records in the meta store, entity = the pipeline id,
 *    replayed in log order at open:
 *
 *      pipeline.registered  {"config":<config JSON>,"start_position":n}
 *      pipeline.reset       {"start_position":n}
 *      pipeline.deleted     {}
 *
 *    The state is never persisted: it is a function of the log from
 *    start_position on, rebuilt by the worker after a restart.
 */
#include "services/as_pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_log.h"
#include "core/as_rand.h"
#include "core/as_uuid.h"
#include "services/as_pipeline_int.h"

#define CHUNK 256u
#define NOTIFY_GAP_US 200
#define IDLE_WAIT_MIN_US 5000
#define IDLE_WAIT_MAX_US 1000000
#define T_PREFIX "pipeline.*"
#define T_REGISTERED "pipeline.registered"
#define T_RESET "pipeline.reset"
#define T_DELETED "pipeline.deleted"

typedef struct pipe {
  as_pdef *def;     /* owned, immutable */
  as_pstate *state; /* owned */
  uint64_t start;   /* first position of the current state */
  uint64_t next;    /* next position to look at */
  int refs;
  int hold;
  bool busy;
  bool doomed;
} pipe;

struct as_pipelines {
  as_db *db;
  as_db *meta; /* NULL = memory only */
  as_logger log;
  uint32_t max;
  pthread_mutex_t wmu;
  pthread_mutex_t mu;
  pthread_cond_t progress_cv;
  int waiters;
  pipe **list; /* sorted by id */
  uint32_t n, cap;
  uint32_t rr;
  bool stop;
  pthread_mutex_t wake_mu;
  pthread_cond_t wake_cv;
  bool kicked;
  _Atomic int sleeping;
  _Atomic int64_t last_notify_us;
  pthread_t thread;
  bool running;
  bool listening;
  as_rand rng; /* ids of configs without one; under wmu */
};

void as_pipelines_config_init(as_pipelines_config *c) {
  memset(c, 0, sizeof *c);
  c->max_pipelines = AS_PIPELINE_DEFAULT_MAX;
  c->log_level = AS_LOG_INFO;
}

__attribute__((format(printf, 3, 4))) static as_err set_err(as_pipeline_error *e, as_err code,
                                                            const char *fmt, ...) {
  if (e) {
    memset(e, 0, sizeof *e);
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* --- Pipelines and the list (under mu) ------------------------------------------- */

static void pipe_free(pipe *p) {
  if (!p) return;
  as_pstate_free(p->state);
  as_pdef_free(p->def);
  as_free(p);
}

static void unref(pipe *p) {
  if (--p->refs == 0) pipe_free(p);
}

/* Index of id in the list, or where it would go (*found false). */
static uint32_t find_index(const as_pipelines *s, const uint8_t id[16], bool *found) {
  uint32_t lo = 0, hi = s->n;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    int c = memcmp(s->list[mid]->def->id, id, 16);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  *found = false;
  return lo;
}

static pipe *find(const as_pipelines *s, const uint8_t id[16]) {
  bool found;
  uint32_t i = find_index(s, id, &found);
  return found ? s->list[i] : NULL;
}

static as_err reserve(as_pipelines *s) {
  if (s->n < s->cap) return AS_OK;
  uint32_t cap = s->cap ? s->cap * 2 : 8;
  pipe **l = as_realloc(s->list, sizeof *l * cap);
  if (!l) return AS_ENOMEM;
  s->list = l;
  s->cap = cap;
  return AS_OK;
}

/* Puts p in the list (room reserved), replacing a pipeline with its id. */
static void insert(as_pipelines *s, pipe *p, bool *replaced) {
  bool found;
  uint32_t i = find_index(s, p->def->id, &found);
  if (replaced) *replaced = found;
  if (found) {
    pipe *old = s->list[i];
    old->doomed = true;
    unref(old);
    s->list[i] = p;
  } else {
    memmove(s->list + i + 1, s->list + i, sizeof *s->list * (s->n - i));
    s->list[i] = p;
    s->n++;
  }
  p->refs = 1;
}

static void remove_at(as_pipelines *s, uint32_t i) {
  pipe *p = s->list[i];
  memmove(s->list + i, s->list + i + 1, sizeof *s->list * (s->n - i - 1));
  s->n--;
  p->doomed = true;
  unref(p);
}

static as_err pipe_new(as_pdef *def, uint64_t start, pipe **out) {
  pipe *p = as_calloc(1, sizeof *p);
  if (!p) return AS_ENOMEM;
  as_err rc = as_pstate_new(def, &p->state);
  if (rc) {
    as_free(p);
    return rc;
  }
  p->def = def;
  p->start = p->next = start;
  *out = p;
  return AS_OK;
}

/* --- Worker (DESIGN 1, 4) ------------------------------------------------------------ */

static void wake(as_pipelines *s) {
  pthread_mutex_lock(&s->wake_mu);
  s->kicked = true;
  pthread_cond_signal(&s->wake_cv);
  pthread_mutex_unlock(&s->wake_mu);
}

static void on_commit(void *arg, uint64_t committed) {
  as_pipelines *s = arg;
  atomic_thread_fence(memory_order_seq_cst); /* committed is published */
  if (!atomic_load(&s->sleeping)) return;
  int64_t now = as_time_now_us();
  if (now - atomic_load_explicit(&s->last_notify_us, memory_order_relaxed) < NOTIFY_GAP_US)
    return;
  atomic_store_explicit(&s->last_notify_us, now, memory_order_relaxed);
  wake(s);
}

/* The next pipeline with work, round robin (under mu). */
static pipe *pick(as_pipelines *s, uint64_t committed) {
  for (uint32_t k = 0; k < s->n; k++) {
    uint32_t i = (s->rr + k) % s->n;
    pipe *p = s->list[i];
    if (p->busy || p->hold || p->next > committed) continue;
    s->rr = i + 1;
    return p;
  }
  return NULL;
}

/* Feeds p positions [from, to] (busy: nothing else touches its state). */
static void feed(as_pipelines *s, pipe *p, uint64_t from, uint64_t to) {
  if (!p->def->enabled) return; /* disabled: skipped, not counted */
  for (uint64_t pos = from; pos <= to; pos++) {
    as_event ev;
    if (as_get_by_position(s->db, pos, &ev) != AS_OK) {
      as__log(&s->log, AS_LOG_ERROR, "pipelines: cannot read position %" PRIu64, pos);
      continue;
    }
    as_pstate_apply(p->state, &ev);
  }
}

static void *worker_main(void *arg) {
  as_pipelines *s = arg;
  int64_t idle_us = IDLE_WAIT_MIN_US;
  for (;;) {
    atomic_store(&s->sleeping, 1);
    pthread_mutex_lock(&s->mu);
    if (s->stop) {
      pthread_mutex_unlock(&s->mu);
      break;
    }
    uint64_t committed = as_db_committed_position(s->db);
    pipe *p = pick(s, committed);
    /* With no pipeline defined a commit is no news: do not ask for
     * wake-ups (registering a pipeline kicks the worker itself). */
    if (!p && s->n == 0) atomic_store(&s->sleeping, 0);
    uint64_t from = 0, to = 0;
    if (p) {
      p->busy = true;
      p->refs++;
      from = p->next;
      to = AS_MIN(committed, from + CHUNK - 1);
    }
    pthread_mutex_unlock(&s->mu);
    if (p) {
      atomic_store(&s->sleeping, 0);
      feed(s, p, from, to);
      pthread_mutex_lock(&s->mu);
      p->busy = false;
      if (!p->doomed && p->next == from) p->next = to + 1; /* unless reset meanwhile */
      unref(p);
      if (s->waiters) pthread_cond_broadcast(&s->progress_cv);
      pthread_mutex_unlock(&s->mu);
      idle_us = IDLE_WAIT_MIN_US;
      continue;
    }
    bool timed_out = false;
    pthread_mutex_lock(&s->wake_mu);
    if (!s->kicked) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      int64_t ns = ts.tv_nsec + idle_us * 1000;
      ts.tv_sec += ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
      timed_out = pthread_cond_timedwait(&s->wake_cv, &s->wake_mu, &ts) == ETIMEDOUT;
    }
    s->kicked = false;
    pthread_mutex_unlock(&s->wake_mu);
    atomic_store(&s->sleeping, 0);
    idle_us = timed_out ? AS_MIN(idle_us * 2, IDLE_WAIT_MAX_US) : IDLE_WAIT_MIN_US;
  }
  return NULL;
}

/* --- Readers ------------------------------------------------------------------------ */

static void deadline_after(struct timespec *ts, unsigned ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  int64_t ns = ts->tv_nsec + (int64_t)ms * 1000000;
  ts->tv_sec += ns / 1000000000;
  ts->tv_nsec = ns % 1000000000;
}

/* Locks mu and returns pipeline `id` with a reference, not busy, and (with
 * a deadline) caught up with `target` or the deadline passed.  NULL (mu
 * still held) if unknown.  Undo with release(). */
static pipe *acquire_until(as_pipelines *s, const uint8_t id[16], uint64_t target,
                           const struct timespec *deadline) {
  bool catch_up = deadline != NULL;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    pipe *p = find(s, id);
    if (!p) return NULL;
    p->refs++;
    bool timed_out = false;
    while (catch_up && !timed_out && !p->doomed && !s->stop && p->next <= target) {
      wake(s);
      s->waiters++;
      timed_out = pthread_cond_timedwait(&s->progress_cv, &s->mu, deadline) == ETIMEDOUT;
      s->waiters--;
    }
    while (p->busy) {
      p->hold++;
      s->waiters++;
      pthread_cond_wait(&s->progress_cv, &s->mu);
      s->waiters--;
      p->hold--;
    }
    if (!p->doomed) return p;
    unref(p); /* deleted or replaced meanwhile: look again */
  }
}

/* acquire_until() with the position committed now and AS_PIPELINE_WAIT_MS
 * (catch_up), or without waiting for progress. */
static pipe *acquire(as_pipelines *s, const uint8_t id[16], bool catch_up) {
  struct timespec deadline;
  deadline_after(&deadline, AS_PIPELINE_WAIT_MS);
  return acquire_until(s, id, as_db_committed_position(s->db), catch_up ? &deadline : NULL);
}

static void release(as_pipelines *s, pipe *p) {
  if (p) unref(p);
  pthread_mutex_unlock(&s->mu);
}

static void fill_stats(as_pipelines *s, const pipe *p, as_pipeline_stats *out) {
  memset(out, 0, sizeof *out);
  memcpy(out->id, p->def->id, 16);
  snprintf(out->name, sizeof out->name, "%s", p->def->name);
  out->enabled = p->def->enabled;
  as_pstate_stats(p->state, out);
  out->start_position = p->start;
  out->position = p->next - 1;
  out->committed = as_db_committed_position(s->db);
}

as_err as_pipelines_stats(as_pipelines *s, const uint8_t id[16], as_pipeline_stats *out) {
  pipe *p = acquire(s, id, true);
  if (p) fill_stats(s, p, out);
  release(s, p);
  return p ? AS_OK : AS_ENOTFOUND;
}

/* The ids of every pipeline (caller frees with as_free()). */
static uint8_t (*ids_snapshot(as_pipelines *s, size_t *n))[16] {
  pthread_mutex_lock(&s->mu);
  *n = s->n;
  uint8_t(*ids)[16] = as_malloc(sizeof *ids * (s->n ? s->n : 1));
  for (uint32_t i = 0; ids && i < s->n; i++) memcpy(ids[i], s->list[i]->def->id, 16);
  pthread_mutex_unlock(&s->mu);
  return ids;
}

void as_pipelines_stats_all(as_pipelines *s, as_pipeline_stats_cb cb, void *arg,
                            size_t *count) {
  size_t n, done = 0;
  uint8_t(*ids)[16] = ids_snapshot(s, &n);
  uint64_t target = as_db_committed_position(s->db);
  struct timespec deadline; /* one wait for the whole list */
  deadline_after(&deadline, AS_PIPELINE_WAIT_MS);
  for (size_t i = 0; ids && i < n; i++) {
    pipe *p = acquire_until(s, ids[i], target, &deadline);
    if (p) {
      as_pipeline_stats st;
      fill_stats(s, p, &st);
      cb(arg, &st);
      done++;
    }
    release(s, p);
  }
  as_free(ids);
  if (count) *count = done;
}

void as_pipelines_list(as_pipelines *s, as_pipeline_config_cb cb, void *arg, size_t *count) {
  as_buf b;
  as_buf_init(&b, 0);
  pthread_mutex_lock(&s->mu);
  for (uint32_t i = 0; i < s->n; i++) {
    as_buf_reset(&b);
    as_pdef_render(s->list[i]->def, s->list[i]->start, &b);
    if (!as_buf_error(&b)) cb(arg, b.data, b.len);
  }
  if (count) *count = s->n;
  pthread_mutex_unlock(&s->mu);
  as_buf_free(&b);
}

as_err as_pipelines_config_json(as_pipelines *s, const uint8_t id[16], as_buf *b) {
  pthread_mutex_lock(&s->mu);
  pipe *p = find(s, id);
  if (p) as_pdef_render(p->def, p->start, b);
  pthread_mutex_unlock(&s->mu);
  return p ? AS_OK : AS_ENOTFOUND;
}

as_err as_pipelines_results_json(as_pipelines *s, const uint8_t id[16], as_buf *b) {
  pipe *p = acquire(s, id, true);
  if (p) {
    char ids[37];
    as_uuid_format(p->def->id, ids);
    as_buf_printf(b, "{\"pipeline_id\":\"%s\",\"start_position\":%" PRIu64
                     ",\"position\":%" PRIu64 ",",
                  ids, p->start, p->next - 1);
    as_pstate_results(p->state, b);
    as_buf_putc(b, '}');
  }
  release(s, p);
  return p ? AS_OK : AS_ENOTFOUND;
}

size_t as_pipelines_count(as_pipelines *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->n;
  pthread_mutex_unlock(&s->mu);
  return n;
}

/* --- Changes (DESIGN 5) ------------------------------------------------------------- */

static as_err persist(as_pipelines *s, const char *type, const uint8_t id[16], const as_buf *b,
                      as_pipeline_error *err) {
  if (as_buf_error(b)) return set_err(err, AS_ENOMEM, "out of memory");
  if (!s->meta) return AS_OK;
  char ids[37];
  as_uuid_format(id, ids);
  as_event_in ev;
  as_event_in_init(&ev);
  ev.entity_id = ids;
  ev.entity_id_len = 36;
  ev.event_type = type;
  ev.event_type_len = strlen(type);
  ev.payload = b->data;
  ev.payload_len = b->len;
  as_error e;
  as_err rc = as_append(s->meta, &ev, 1, NULL, &e);
  if (rc) {
    as__log(&s->log, AS_LOG_ERROR, "pipelines: cannot persist a change of %s: %s", ids,
            e.message);
    return set_err(err, rc, "cannot persist the change: %s", e.message);
  }
  return AS_OK;
}

static uint64_t resolve_start(const as_pdef *d, uint64_t committed) {
  switch (d->start) {
    case AS_PSTART_BEGINNING: return 1;
    case AS_PSTART_AT: return d->start_at;
    case AS_PSTART_NOW: break;
  }
  return committed + 1;
}

as_err as_pipelines_register(as_pipelines *s, const char *config, size_t len,
                             as_pipeline_registered *out, as_pipeline_error *err) {
  as_err rc = AS_OK;
  as_pdef *def = NULL;
  pipe *p = NULL;
  as_buf b;
  as_buf_init(&b, 0);
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&s->wmu);
  uint8_t gen[16];
  as_uuid_v7(&s->rng, as_time_now_us(), gen);
  AS_CHECK(as_pdef_parse(config, len, gen, &def, err));
  pthread_mutex_lock(&s->mu);
  bool exists = find(s, def->id) != NULL;
  uint32_t n = s->n;
  rc = reserve(s);
  pthread_mutex_unlock(&s->mu);
  if (rc) AS_FAIL(set_err(err, rc, "out of memory"));
  if (!exists && n >= s->max)
    AS_FAIL(set_err(err, AS_ELIMIT, "the store holds %u pipelines, the limit (--max-pipelines)",
                    s->max));
  uint64_t start = resolve_start(def, as_db_committed_position(s->db));
  if ((rc = pipe_new(def, start, &p))) AS_FAIL(set_err(err, rc, "out of memory"));
  def = NULL; /* owned by p */
  as_buf_puts(&b, "{\"config\":");
  as_pdef_render(p->def, 0, &b);
  as_buf_printf(&b, ",\"start_position\":%" PRIu64 "}", start);
  AS_CHECK(persist(s, T_REGISTERED, p->def->id, &b, err));
  memcpy(out->id, p->def->id, 16);
  out->enabled = p->def->enabled;
  out->start_position = start;
  snprintf(out->name, sizeof out->name, "%s", p->def->name);
  pthread_mutex_lock(&s->mu);
  insert(s, p, &out->replaced);
  pthread_mutex_unlock(&s->mu);
  p = NULL;
  wake(s);
out:
  pthread_mutex_unlock(&s->wmu);
  pipe_free(p);
  as_pdef_free(def);
  as_buf_free(&b);
  return rc;
}

/* True if pipeline id exists (call with wmu held, so it stays so). */
static bool known(as_pipelines *s, const uint8_t id[16]) {
  pthread_mutex_lock(&s->mu);
  bool exists = find(s, id) != NULL;
  pthread_mutex_unlock(&s->mu);
  return exists;
}

as_err as_pipelines_delete(as_pipelines *s, const uint8_t id[16], as_pipeline_error *err) {
  as_err rc;
  pthread_mutex_lock(&s->wmu);
  if (!known(s, id)) {
    rc = set_err(err, AS_ENOTFOUND, "pipeline not found");
  } else {
    as_buf b;
    as_buf_init(&b, 0);
    as_buf_puts(&b, "{}");
    rc = persist(s, T_DELETED, id, &b, err);
    as_buf_free(&b);
    if (!rc) {
      pthread_mutex_lock(&s->mu);
      bool found;
      uint32_t i = find_index(s, id, &found);
      if (found) remove_at(s, i);
      pthread_mutex_unlock(&s->mu);
    }
  }
  pthread_mutex_unlock(&s->wmu);
  return rc;
}

as_err as_pipelines_reset(as_pipelines *s, const uint8_t id[16], uint64_t *start_position,
                          as_pipeline_error *err) {
  as_err rc;
  pthread_mutex_lock(&s->wmu);
  if (!known(s, id)) {
    rc = set_err(err, AS_ENOTFOUND, "pipeline not found");
  } else {
    uint64_t start = as_db_committed_position(s->db) + 1;
    as_buf b;
    as_buf_init(&b, 0);
    as_buf_printf(&b, "{\"start_position\":%" PRIu64 "}", start);
    rc = persist(s, T_RESET, id, &b, err);
    as_buf_free(&b);
    if (!rc) {
      pipe *p = acquire(s, id, false); /* not busy from here on */
      if (p) {
        as_pstate_clear(p->state);
        p->start = p->next = start;
      }
      release(s, p);
      if (start_position) *start_position = start;
    }
  }
  pthread_mutex_unlock(&s->wmu);
  return rc;
}

as_err as_pipeline_config_check(const char *config, size_t len, as_buf *canonical,
                                as_pipeline_error *err) {
  static const uint8_t gen[16] = {1};
  as_pdef *d;
  as_err rc = as_pdef_parse(config, len, gen, &d, err);
  if (rc) return rc;
  if (canonical) as_pdef_render(d, 0, canonical);
  as_pdef_free(d);
  return AS_OK;
}

/* --- Replay at open -------------------------------------------------------------------- */

static as_err load_one(as_pipelines *s, const as_event *ev, const char **why) {
  uint8_t id[16];
  if (ev->entity_id_len != 36 || as_uuid_parse(ev->entity_id, 36, id)) {
    *why = "the entity is not a pipeline id";
    return AS_ECORRUPT;
  }
  as_json_val root = as_json_root(ev->payload, ev->payload_len), v;
  if (root.kind != AS_JSON_OBJECT) {
    *why = "the payload is not an object";
    return AS_ECORRUPT;
  }
  const char *t = ev->event_type;
  size_t tl = ev->event_type_len;
  bool found;
  uint32_t i = find_index(s, id, &found);
  uint64_t start = 0;
  if ((tl == strlen(T_REGISTERED) && !memcmp(t, T_REGISTERED, tl)) ||
      (tl == strlen(T_RESET) && !memcmp(t, T_RESET, tl))) {
    if (!as_json_obj_get(root, "start_position", &v) || as_json_to_u64(v, &start) || !start) {
      *why = "start_position missing";
      return AS_ECORRUPT;
    }
  }
  if (tl == strlen(T_REGISTERED) && !memcmp(t, T_REGISTERED, tl)) {
    as_json_val cv;
    if (!as_json_obj_get(root, "config", &cv)) {
      *why = "config missing";
      return AS_ECORRUPT;
    }
    as_pdef *d;
    as_pipeline_error e;
    as_err rc = as_pdef_parse(cv.p, cv.len, NULL, &d, &e);
    if (rc == AS_ENOMEM) return rc;
    if (rc || memcmp(d->id, id, 16)) {
      if (!rc) as_pdef_free(d);
      *why = "the config does not parse";
      return AS_ECORRUPT;
    }
    pipe *p;
    if ((rc = reserve(s)) || (rc = pipe_new(d, start, &p))) {
      as_pdef_free(d);
      return rc;
    }
    insert(s, p, NULL);
    return AS_OK;
  }
  if (!found) {
    *why = "a change of an unknown pipeline";
    return AS_ECORRUPT;
  }
  if (tl == strlen(T_RESET) && !memcmp(t, T_RESET, tl)) {
    s->list[i]->start = s->list[i]->next = start;
    return AS_OK;
  }
  if (tl == strlen(T_DELETED) && !memcmp(t, T_DELETED, tl)) {
    remove_at(s, i);
    return AS_OK;
  }
  *why = "unknown record type";
  return AS_ECORRUPT;
}

static as_err load(as_pipelines *s, as_pipeline_error *err) {
  if (!s->meta) return AS_OK;
  as_query q;
  as_query_init(&q);
  q.event_type = T_PREFIX;
  q.event_type_len = strlen(T_PREFIX);
  as_iter *it;
  as_err rc = as_query_open(s->meta, &q, &it);
  if (rc) return set_err(err, rc, "pipelines: cannot read the meta store");
  as_event ev;
  const char *why = NULL;
  uint64_t n = 0;
  pthread_mutex_lock(&s->mu);
  while (!rc && as_iter_next(it, &ev) == AS_OK) {
    rc = load_one(s, &ev, &why);
    n++;
  }
  pthread_mutex_unlock(&s->mu);
  as_iter_close(it);
  if (rc == AS_ECORRUPT)
    return set_err(err, rc,
                   "pipelines: record at meta store position %" PRIu64 " (%.*s of %.*s) "
                   "cannot be read: %s",
                   ev.position, (int)AS_MIN(ev.event_type_len, 64u), ev.event_type,
                   (int)AS_MIN(ev.entity_id_len, 64u), ev.entity_id, why);
  if (rc) return set_err(err, rc, "pipelines: %s", as_strerror(rc));
  if (n)
    as__log(&s->log, AS_LOG_INFO,
            "pipelines: %" PRIu64 " records replayed, %u pipelines (state rebuilt from the log)",
            n, s->n);
  if (s->n > s->max)
    as__log(&s->log, AS_LOG_WARN,
            "pipelines: %u pipelines are registered, more than the limit of %u; no new one "
            "can be registered",
            s->n, s->max);
  return AS_OK;
}

/* --- Open and free ------------------------------------------------------------------------ */

as_err as_pipelines_open(as_db *db, const as_pipelines_config *cfg, as_pipelines **out,
                         as_pipeline_error *err) {
  as_err rc = AS_OK;
  *out = NULL;
  as_pipelines_config dflt;
  if (!cfg) {
    as_pipelines_config_init(&dflt);
    cfg = &dflt;
  }
  if (cfg->max_pipelines > AS_PIPELINE_HARD_MAX)
    return set_err(err, AS_EINVAL, "max_pipelines must be at most %u", AS_PIPELINE_HARD_MAX);
  as_pipelines *s = as_calloc(1, sizeof *s);
  if (!s) return set_err(err, AS_ENOMEM, "out of memory");
  s->db = db;
  s->meta = as_db_meta(db);
  s->log.fn = cfg->log_fn;
  s->log.ctx = cfg->log_ctx;
  s->log.level = cfg->log_level;
  s->max = cfg->max_pipelines;
  pthread_mutex_init(&s->wmu, NULL);
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->wake_mu, NULL);
  pthread_cond_init(&s->progress_cv, NULL);
  pthread_cond_init(&s->wake_cv, NULL);
  atomic_init(&s->sleeping, 0);
  atomic_init(&s->last_notify_us, 0);
  as_rand_seed(&s->rng);
  AS_CHECK(load(s, err));
  if ((rc = as_db_on_commit(db, on_commit, s)))
    AS_FAIL(set_err(err, rc, "pipelines: no commit listener slot is free"));
  s->listening = true;
  if (pthread_create(&s->thread, NULL, worker_main, s))
    AS_FAIL(set_err(err, AS_ENOMEM, "pipelines: cannot start the worker thread"));
  s->running = true;
  *out = s;
  return AS_OK;
out:
  as_pipelines_free(s);
  return rc;
}

void as_pipelines_free(as_pipelines *s) {
  if (!s) return;
  if (s->listening) as_db_off_commit(s->db, on_commit, s);
  pthread_mutex_lock(&s->mu);
  s->stop = true;
  pthread_cond_broadcast(&s->progress_cv);
  pthread_mutex_unlock(&s->mu);
  if (s->running) {
    wake(s);
    pthread_join(s->thread, NULL);
  }
  for (uint32_t i = 0; i < s->n; i++) unref(s->list[i]);
  as_free(s->list);
  pthread_cond_destroy(&s->progress_cv);
  pthread_cond_destroy(&s->wake_cv);
  pthread_mutex_destroy(&s->wake_mu);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->wmu);
  as_free(s);
}
