/*
 * as_replay.c — replays into isolated projection instances (the contract
 * is in as_replay.h).
 *
 * DESIGN
 *
 * 1. Selection is fixed at start.  The committed position C is read once;
 *    time bounds become a position range by binary search (timestamps are
 *    non-decreasing in position order), clamped to C; the worker's query
 *    uses that position range plus the entity/type filters, so it sees
 *    exactly the events counted in total_events, however many appends
 *    arrive meanwhile.  Readers never block the writer, so a replay does
 *    not slow ingestion beyond the CPU it uses (throttle it with
 *    max_events_per_second).
 *
 * 2. Records.  `mu` guards the record list, the job queue, every record's
 *    status fields and the counters; processed/failed counts are atomics
 *    the worker publishes after each batch.  A record is freed only when
 *    it is finished and not pinned (a cancel waiting for it pins it), so a
 *    worker or a waiter never sees a freed record.
 *
 * 3. Workers.  A pool grows up to max_running threads; a job is accepted
 *    only while fewer than max_running replays run, so every queued job
 *    gets a thread.  A worker checks the record's cancel flag before each
 *    batch and while throttled (a condition variable wakes it at once).
 *    Close cancels everything and joins every worker; the store's
 *    iterators are all closed by then.
 */
#include "services/as_replay.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/as_time.h"
#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "core/as_log.h"
#include "core/as_rand.h"
#include "core/as_uuid.h"

const double as_replay_duration_bounds[AS_REPLAY_DURATION_BUCKETS] = {
    0.01, 0.1, 1, 10, 60, 300, 1800, 3600};

#define THROTTLE_SLICE_NS 100000000L /* longest single throttle wait */

typedef struct target {
  char name[AS_REPLAY_MAX_NAME + 1];
  as_replay_factory factory;
  void *arg;
} target;

typedef struct rec {
  struct rec *next;  /* the record list, start order */
  struct rec *qnext; /* the job queue */
  as_replay_info info; /* status fields under mu; counts are below */
  _Atomic uint64_t processed, failed;
  atomic_bool cancel;
  unsigned pins; /* waiters holding a pointer (under mu) */
  int64_t mono_start_us, mono_end_us;
  as_projection_ops inst[AS_REPLAY_MAX_TARGETS];
  const char *inst_name[AS_REPLAY_MAX_TARGETS]; /* the targets' names */
  size_t ninst;
  as_query q;
  bool empty; /* nothing selected */
} rec;

struct as_replay_mgr {
  as_db *db; /* borrowed */
  as_logger log;
  as_replay_config cfg;
  pthread_mutex_t mu;
  pthread_cond_t job_cv;      /* idle workers wait for a job */
  pthread_cond_t done_cv;     /* a record finished */
  pthread_cond_t throttle_cv; /* a cancel (throttled workers wake) */
  target targets[AS_REPLAY_MAX_TARGETS];
  size_t ntargets;
  rec *head, *tail;
  size_t nrecords, running;
  rec *qhead, *qtail;
  size_t queued, idle;
  pthread_t threads[AS_REPLAY_MAX_RUNNING_LIMIT];
  size_t nthreads;
  bool closing;
  as_rand rng;
  /* counters (under mu, except events) */
  uint64_t started, completed, failed, cancelled;
  _Atomic uint64_t events;
  uint64_t dur_count;
  double dur_sum;
  uint64_t dur_buckets[AS_REPLAY_DURATION_BUCKETS];
};

static const char *const status_names[] = {"running", "completed", "failed", "cancelled"};

const char *as_replay_status_name(as_replay_status s) {
  return (unsigned)s < 4 ? status_names[s] : "?";
}


void as_replay_config_init(as_replay_config *c) {
  memset(c, 0, sizeof *c);
  c->max_running = AS_REPLAY_DEFAULT_MAX_RUNNING;
  c->max_records = AS_REPLAY_DEFAULT_MAX_RECORDS;
  c->log_level = AS_LOG_INFO;
}

void as_replay_request_init(as_replay_request *rq) {
  memset(rq, 0, sizeof *rq);
  rq->from_us = AS_TIME_MIN;
  rq->to_us = AS_TIME_MAX;
  rq->batch_size = AS_REPLAY_DEFAULT_BATCH;
  rq->workers = AS_REPLAY_DEFAULT_WORKERS;
  rq->emit_progress = true;
  rq->progress_interval = AS_REPLAY_DEFAULT_PROGRESS_INTERVAL;
}

static as_err builtin_factory(void *arg, as_projection_ops *out) {
  return as_projection_builtin_new(arg, out);
}

/* --- Open and close ------------------------------------------------------ */

as_err as_replay_open(as_db *db, const as_replay_config *cfg, as_replay_mgr **out) {
  *out = NULL;
  as_replay_config c;
  if (cfg)
    c = *cfg;
  else
    as_replay_config_init(&c);
  if (!db || c.max_running < 1 || c.max_running > AS_REPLAY_MAX_RUNNING_LIMIT ||
      c.max_records < c.max_running || c.max_records > AS_REPLAY_MAX_RECORDS_LIMIT)
    return AS_EINVAL;
  as_replay_mgr *m = as_calloc(1, sizeof *m);
  if (!m) return AS_ENOMEM;
  m->db = db;
  m->cfg = c;
  m->log = (as_logger){c.log_fn, c.log_ctx, c.log_level};
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->job_cv, NULL);
  pthread_cond_init(&m->done_cv, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&m->throttle_cv, &ca);
  pthread_condattr_destroy(&ca);
  as_rand_seed(&m->rng);
  /* The names are string literals: the factory argument stays valid. */
  static const char *const builtins[] = {"entity_snapshots", "event_counters"};
  for (size_t i = 0; i < AS_ARRAY_LEN(builtins); i++)
    as_replay_add_projection(m, builtins[i], builtin_factory, (void *)builtins[i]);
  *out = m;
  return AS_OK;
}

static void rec_free(rec *r) {
  if (!r) return;
  for (size_t i = 0; i < r->ninst; i++)
    if (r->inst[i].destroy) r->inst[i].destroy(r->inst[i].ctx);
  as_free(r);
}

void as_replay_close(as_replay_mgr *m) {
  if (!m) return;
  pthread_mutex_lock(&m->mu);
  m->closing = true;
  for (rec *r = m->head; r; r = r->next)
    if (r->info.status == AS_REPLAY_RUNNING) atomic_store(&r->cancel, true);
  pthread_cond_broadcast(&m->job_cv);
  pthread_cond_broadcast(&m->throttle_cv);
  size_t n = m->nthreads;
  pthread_mutex_unlock(&m->mu);
  for (size_t i = 0; i < n; i++) pthread_join(m->threads[i], NULL);
  for (rec *r = m->head; r;) {
    rec *next = r->next;
    rec_free(r);
    r = next;
  }
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->job_cv);
  pthread_cond_destroy(&m->done_cv);
  pthread_cond_destroy(&m->throttle_cv);
  as_free(m);
}

as_err as_replay_add_projection(as_replay_mgr *m, const char *name,
                                as_replay_factory factory, void *arg) {
  size_t len = name ? strlen(name) : 0;
  if (len == 0 || len > AS_REPLAY_MAX_NAME || !factory) return AS_EINVAL;
  as_err rc = AS_OK;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->ntargets; i++)
    if (strcmp(m->targets[i].name, name) == 0) rc = AS_EEXIST;
  if (!rc && m->ntargets == AS_REPLAY_MAX_TARGETS) rc = AS_ELIMIT;
  if (!rc) {
    target *t = &m->targets[m->ntargets++];
    memcpy(t->name, name, len + 1);
    t->factory = factory;
    t->arg = arg;
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

/* --- Records ------------------------------------------------------------ */

/* Copies r's state into *out (under mu). */
static void copy_info(const rec *r, as_replay_info *out) {
  *out = r->info;
  out->processed_events = atomic_load(&r->processed);
  out->failed_events = atomic_load(&r->failed);
  int64_t end = r->info.status == AS_REPLAY_RUNNING ? as_time_mono_us() : r->mono_end_us;
  int64_t elapsed = end - r->mono_start_us;
  out->events_per_second =
      elapsed > 0 ? (double)out->processed_events * 1e6 / (double)elapsed : 0.0;
  if (out->total_events)
    out->progress_percentage =
        (double)out->processed_events * 100.0 / (double)out->total_events;
  else
    out->progress_percentage = r->info.status == AS_REPLAY_COMPLETED ? 100.0 : 0.0;
}

static rec *find_locked(as_replay_mgr *m, const uint8_t id[16]) {
  for (rec *r = m->head; r; r = r->next)
    if (memcmp(r->info.id, id, 16) == 0) return r;
  return NULL;
}

static void unlink_locked(as_replay_mgr *m, rec *victim) {
  rec *prev = NULL;
  for (rec *r = m->head; r; prev = r, r = r->next) {
    if (r != victim) continue;
    if (prev)
      prev->next = r->next;
    else
      m->head = r->next;
    if (m->tail == r) m->tail = prev;
    m->nrecords--;
    return;
  }
}

/* --- The worker ----------------------------------------------------------- */

/* Sleeps until `processed` events are due at `rate` per second since the
 * start, or the replay is cancelled. */
static void throttle(as_replay_mgr *m, rec *r, uint64_t processed, uint64_t rate) {
  int64_t due = r->mono_start_us + (int64_t)((double)processed * 1e6 / (double)rate);
  pthread_mutex_lock(&m->mu);
  for (;;) {
    int64_t now = as_time_mono_us();
    if (atomic_load(&r->cancel) || now >= due) break;
    int64_t wait_ns = AS_MIN((due - now) * 1000, (int64_t)THROTTLE_SLICE_NS);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + wait_ns;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&m->throttle_cv, &m->mu, &ts);
  }
  pthread_mutex_unlock(&m->mu);
}

static void run(as_replay_mgr *m, rec *r) {
  const as_replay_info *in = &r->info; /* request fields: immutable */
  as_iter *it = NULL;
  as_err rc = r->empty ? AS_OK : as_query_open(m->db, &r->q, &it);
  char error[sizeof r->info.error] = "";
  if (rc) snprintf(error, sizeof error, "cannot read the log: %s", as_strerror(rc));
  uint64_t processed = 0, failed = 0, next_log = in->progress_interval;
  bool done = r->empty, cancelled = false;
  while (!rc && !done) {
    if (atomic_load(&r->cancel)) {
      cancelled = true;
      break;
    }
    uint64_t before = processed;
    for (uint32_t i = 0; i < in->batch_size; i++) {
      as_event ev;
      as_err e = as_iter_next(it, &ev);
      if (e == AS_DONE) {
        done = true;
        break;
      }
      if (e) {
        rc = e;
        snprintf(error, sizeof error, "reading the log failed at event %" PRIu64 ": %s",
                 processed + 1, as_strerror(e));
        break;
      }
      bool bad = false;
      for (size_t k = 0; k < r->ninst; k++)
        if (r->inst[k].apply(r->inst[k].ctx, &ev) != AS_OK) bad = true;
      processed++;
      if (bad) failed++;
    }
    atomic_store(&r->processed, processed);
    atomic_store(&r->failed, failed);
    atomic_fetch_add(&m->events, processed - before);
    if (in->emit_progress && processed >= next_log) {
      char pid[37];
      as_uuid_format(in->id, pid);
      as__log(&m->log, AS_LOG_INFO, "replay %s: %" PRIu64 " of %" PRIu64 " events (%" PRIu64
              " failed)", pid, processed, in->total_events, failed);
      next_log = (processed / in->progress_interval + 1) * (uint64_t)in->progress_interval;
    }
    if (!done && in->max_events_per_second)
      throttle(m, r, processed, in->max_events_per_second);
  }
  as_iter_close(it);
  char id[37]; /* for the log after r is finished (then a delete may free it) */
  as_uuid_format(in->id, id);

  pthread_mutex_lock(&m->mu);
  r->mono_end_us = as_time_mono_us();
  r->info.completed_us = as_time_now_us();
  if (rc) {
    r->info.status = AS_REPLAY_FAILED;
    memcpy(r->info.error, error, sizeof error);
    m->failed++;
  } else if (cancelled) {
    r->info.status = AS_REPLAY_CANCELLED;
    m->cancelled++;
  } else {
    r->info.status = AS_REPLAY_COMPLETED;
    m->completed++;
  }
  double secs = (double)(r->mono_end_us - r->mono_start_us) / 1e6;
  m->dur_count++;
  m->dur_sum += secs;
  for (size_t b = 0; b < AS_REPLAY_DURATION_BUCKETS; b++)
    if (secs <= as_replay_duration_bounds[b]) {
      m->dur_buckets[b]++;
      break;
    }
  m->running--;
  pthread_cond_broadcast(&m->done_cv);
  pthread_mutex_unlock(&m->mu);
  if (rc) as__log(&m->log, AS_LOG_WARN, "replay %s failed: %s", id, error);
}

static void *worker_main(void *arg) {
  as_replay_mgr *m = arg;
  pthread_mutex_lock(&m->mu);
  for (;;) {
    while (!m->qhead && !m->closing) {
      m->idle++;
      pthread_cond_wait(&m->job_cv, &m->mu);
      m->idle--;
    }
    if (!m->qhead) break; /* closing, nothing queued */
    rec *r = m->qhead;
    m->qhead = r->qnext;
    if (!m->qhead) m->qtail = NULL;
    m->queued--;
    pthread_mutex_unlock(&m->mu);
    run(m, r); /* r stays alive: it is RUNNING until run() finishes it */
    pthread_mutex_lock(&m->mu);
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

/* --- Starting --------------------------------------------------------------- */

static as_err check_request(const as_replay_request *rq, as_error *err) {
  if (rq->batch_size < 1 || rq->batch_size > AS_REPLAY_MAX_BATCH)
    return as__error_set(err, AS_EINVAL, 0, "batch_size",
                         "batch_size must be an integer from 1 to %u", AS_REPLAY_MAX_BATCH);
  if (rq->workers < 1 || rq->workers > AS_REPLAY_MAX_WORKERS)
    return as__error_set(err, AS_EINVAL, 0, "workers",
                         "workers must be an integer from 1 to %u", AS_REPLAY_MAX_WORKERS);
  if (rq->progress_interval < 1 || rq->progress_interval > AS_REPLAY_MAX_PROGRESS_INTERVAL)
    return as__error_set(err, AS_EINVAL, 0, "progress_interval",
                         "progress_interval must be an integer from 1 to %u",
                         AS_REPLAY_MAX_PROGRESS_INTERVAL);
  if (rq->from_us > rq->to_us)
    return as__error_set(err, AS_EINVAL, 0, "from_timestamp",
                         "from_timestamp is later than to_timestamp");
  if (rq->entity_id && (rq->entity_id_len == 0 || rq->entity_id_len > AS_MAX_ENTITY_ID_LEN ||
                        memchr(rq->entity_id, 0, rq->entity_id_len)))
    return as__error_set(err, AS_EINVAL, 0, "entity_id",
                         "entity_id must be 1-%u bytes without NUL", AS_MAX_ENTITY_ID_LEN);
  if (rq->event_type && (rq->event_type_len == 0 || rq->event_type_len > AS_MAX_EVENT_TYPE_LEN ||
                         memchr(rq->event_type, 0, rq->event_type_len)))
    return as__error_set(err, AS_EINVAL, 0, "event_type",
                         "event_type must be 1-%u bytes without NUL", AS_MAX_EVENT_TYPE_LEN);
  return AS_OK;
}

/* Creates the target instances of r (every target, or the named one). */
static as_err make_instances(as_replay_mgr *m, const as_replay_request *rq, rec *r,
                             as_error *err) {
  target ts[AS_REPLAY_MAX_TARGETS];
  pthread_mutex_lock(&m->mu);
  size_t n = m->ntargets;
  memcpy(ts, m->targets, n * sizeof *ts);
  pthread_mutex_unlock(&m->mu);
  bool found = false;
  for (size_t i = 0; i < n; i++) {
    if (rq->projection && !(strlen(ts[i].name) == rq->projection_len &&
                            memcmp(ts[i].name, rq->projection, rq->projection_len) == 0))
      continue;
    found = true;
    as_err rc = ts[i].factory(ts[i].arg, &r->inst[r->ninst]);
    if (rc)
      return as__error_set(err, rc, 0, "projection_name",
                           "cannot create an instance of projection %s: %s", ts[i].name,
                           as_strerror(rc));
    r->inst_name[r->ninst++] = m->targets[i].name; /* stable: never removed */
  }
  if (rq->projection && !found)
    return as__error_set(err, AS_ENOTFOUND, 0, "projection_name", "Projection not found: %.*s",
                         (int)AS_MIN(rq->projection_len, (size_t)AS_REPLAY_MAX_NAME * 2),
                         rq->projection);
  return AS_OK;
}

/* Fixes the selection: the query over [from, to] positions and its count. */
static as_err select_events(as_replay_mgr *m, rec *r) {
  as_replay_info *in = &r->info;
  uint64_t committed = as_db_committed_position(m->db);
  uint64_t from = in->from_us == AS_TIME_MIN ? 1 : as_position_at_time(m->db, in->from_us - 1) + 1;
  uint64_t to = in->to_us == AS_TIME_MAX ? committed
                                         : AS_MIN(committed, as_position_at_time(m->db, in->to_us));
  as_query_init(&r->q);
  if (committed == 0 || to < from) {
    r->empty = true;
    return AS_OK;
  }
  as_query *q = &r->q;
  if (in->has_entity_id) {
    q->entity_id = in->entity_id;
    q->entity_id_len = strlen(in->entity_id);
  }
  if (in->has_event_type) {
    q->event_type = in->event_type;
    q->event_type_len = strlen(in->event_type);
  }
  q->since_us = in->from_us;
  q->until_us = in->to_us;
  q->from_position = from;
  q->to_position = to;
  in->from_position = from;
  in->to_position = to;
  if (!in->has_entity_id && !in->has_event_type) {
    in->total_events = to - from + 1;
    return AS_OK;
  }
  return as_query_count(m->db, q, &in->total_events);
}

/* Spawns a worker when the queued jobs outnumber the idle ones (under mu).
 * False if a job would have no worker at all. */
static bool ensure_worker_locked(as_replay_mgr *m) {
  if (m->queued <= m->idle || m->nthreads >= m->cfg.max_running) return true;
  if (pthread_create(&m->threads[m->nthreads], NULL, worker_main, m) == 0) {
    m->nthreads++;
    return true;
  }
  as__log(&m->log, AS_LOG_WARN, "replay: cannot start a worker thread");
  return m->nthreads > 0;
}

as_err as_replay_start(as_replay_mgr *m, const as_replay_request *rq, as_replay_info *out,
                       as_error *err) {
  as__error_clear(err);
  as_err rc = check_request(rq, err);
  if (rc) return rc;
  rec *r = as_calloc(1, sizeof *r), *evicted = NULL;
  if (!r) return AS_ENOMEM;
  as_replay_info *in = &r->info;
  if (rq->projection) {
    size_t n = AS_MIN(rq->projection_len, (size_t)AS_REPLAY_MAX_NAME);
    memcpy(in->projection, rq->projection, n);
  }
  if (rq->entity_id) {
    memcpy(in->entity_id, rq->entity_id, rq->entity_id_len);
    in->has_entity_id = true;
  }
  if (rq->event_type) {
    memcpy(in->event_type, rq->event_type, rq->event_type_len);
    in->has_event_type = true;
  }
  in->from_us = rq->from_us;
  in->to_us = rq->to_us;
  in->batch_size = rq->batch_size;
  in->workers = rq->workers;
  in->progress_interval = rq->progress_interval;
  in->parallel = rq->parallel;
  in->emit_progress = rq->emit_progress;
  in->max_events_per_second = rq->max_events_per_second;
  rc = make_instances(m, rq, r, err);
  if (!rc) {
    rc = select_events(m, r); /* outside the lock: counting may iterate */
    if (rc) as__error_set(err, rc, 0, "", "cannot select the events: %s", as_strerror(rc));
  }
  if (rc) goto fail;

  pthread_mutex_lock(&m->mu);
  if (m->closing) {
    rc = as__error_set(err, AS_ECLOSED, 0, "", "the server is shutting down");
  } else if (m->running >= m->cfg.max_running) {
    rc = as__error_set(err, AS_EAGAIN, 0, "",
                       "%u replays are running (the limit); wait for one to finish or "
                       "cancel one",
                       m->cfg.max_running);
  } else if (m->nrecords >= m->cfg.max_records) {
    for (rec *o = m->head; o && !evicted; o = o->next)
      if (o->info.status != AS_REPLAY_RUNNING && o->pins == 0) evicted = o;
    if (!evicted) rc = as__error_set(err, AS_EAGAIN, 0, "", "every kept replay record is in use");
  }
  if (!rc) {
    m->queued++;
    if (!ensure_worker_locked(m)) {
      m->queued--;
      rc = as__error_set(err, AS_EAGAIN, 0, "", "cannot start a replay worker thread");
    }
  }
  if (rc) {
    pthread_mutex_unlock(&m->mu);
    goto fail;
  }
  if (evicted) unlink_locked(m, evicted);
  as_uuid_v7(&m->rng, as_time_now_us(), in->id);
  in->status = AS_REPLAY_RUNNING;
  in->started_us = as_time_now_us();
  r->mono_start_us = as_time_mono_us();
  if (m->tail)
    m->tail->next = r;
  else
    m->head = r;
  m->tail = r;
  m->nrecords++;
  if (m->qtail)
    m->qtail->qnext = r;
  else
    m->qhead = r;
  m->qtail = r;
  m->running++;
  m->started++;
  pthread_cond_signal(&m->job_cv);
  if (out) copy_info(r, out);
  pthread_mutex_unlock(&m->mu);
  rec_free(evicted);
  return AS_OK;
fail:
  rec_free(r);
  return rc;
}

/* --- Lookups and control -------------------------------------------------- */

as_err as_replay_get(as_replay_mgr *m, const uint8_t id[16], as_replay_info *out) {
  pthread_mutex_lock(&m->mu);
  rec *r = find_locked(m, id);
  if (r) copy_info(r, out);
  pthread_mutex_unlock(&m->mu);
  return r ? AS_OK : AS_ENOTFOUND;
}

void as_replay_list(as_replay_mgr *m, as_replay_cb cb, void *arg, size_t *n) {
  as_replay_info info;
  pthread_mutex_lock(&m->mu);
  if (n) *n = m->nrecords;
  for (rec *r = m->head; r && cb; r = r->next) {
    copy_info(r, &info);
    cb(arg, &info);
  }
  pthread_mutex_unlock(&m->mu);
}

as_err as_replay_cancel(as_replay_mgr *m, const uint8_t id[16], as_replay_info *out) {
  pthread_mutex_lock(&m->mu);
  rec *r = find_locked(m, id);
  if (!r) {
    pthread_mutex_unlock(&m->mu);
    return AS_ENOTFOUND;
  }
  bool was_running = r->info.status == AS_REPLAY_RUNNING;
  if (was_running) {
    atomic_store(&r->cancel, true);
    pthread_cond_broadcast(&m->throttle_cv);
    r->pins++;
    while (r->info.status == AS_REPLAY_RUNNING) pthread_cond_wait(&m->done_cv, &m->mu);
    r->pins--;
    pthread_cond_broadcast(&m->done_cv); /* a delete may wait for the pin */
  }
  if (out) copy_info(r, out);
  as_err rc = r->info.status == AS_REPLAY_CANCELLED && was_running ? AS_OK : AS_ECONFLICT;
  pthread_mutex_unlock(&m->mu);
  return rc;
}

as_err as_replay_delete(as_replay_mgr *m, const uint8_t id[16]) {
  pthread_mutex_lock(&m->mu);
  rec *r = find_locked(m, id);
  as_err rc = !r ? AS_ENOTFOUND : r->info.status == AS_REPLAY_RUNNING ? AS_ECONFLICT : AS_OK;
  if (!rc) {
    while (r->pins) pthread_cond_wait(&m->done_cv, &m->mu);
    unlink_locked(m, r);
  }
  pthread_mutex_unlock(&m->mu);
  if (!rc) rec_free(r);
  return rc;
}

as_err as_replay_state(as_replay_mgr *m, const uint8_t id[16], const char *projection,
                       size_t projection_len, const char *key, size_t key_len, char **json,
                       size_t *json_len, int *which) {
  *json = NULL;
  *json_len = 0;
  *which = 0;
  as_err rc = AS_OK;
  pthread_mutex_lock(&m->mu);
  rec *r = find_locked(m, id);
  const as_projection_ops *p = NULL;
  if (!r) {
    rc = AS_ENOTFOUND;
  } else if (r->info.status == AS_REPLAY_RUNNING) {
    rc = AS_ECONFLICT;
  } else if (!projection) {
    if (r->ninst == 1)
      p = &r->inst[0];
    else
      rc = AS_EINVAL;
  } else {
    for (size_t i = 0; i < r->ninst && !p; i++)
      if (strlen(r->inst_name[i]) == projection_len &&
          memcmp(r->inst_name[i], projection, projection_len) == 0)
        p = &r->inst[i];
    if (!p) {
      rc = AS_ENOTFOUND;
      *which = 1;
    }
  }
  if (p) {
    rc = p->get(p->ctx, key, key_len, json, json_len);
    if (rc == AS_ENOTFOUND) *which = 2;
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

void as_replay_stats_get(as_replay_mgr *m, as_replay_stats *out) {
  pthread_mutex_lock(&m->mu);
  out->started = m->started;
  out->completed = m->completed;
  out->failed = m->failed;
  out->cancelled = m->cancelled;
  out->running = m->running;
  out->records = m->nrecords;
  out->duration_count = m->dur_count;
  out->duration_sum = m->dur_sum;
  memcpy(out->duration_buckets, m->dur_buckets, sizeof out->duration_buckets);
  out->events_processed = atomic_load(&m->events);
  pthread_mutex_unlock(&m->mu);
}
