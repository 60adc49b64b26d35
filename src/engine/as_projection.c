/*
 * as_projection.c — the projection manager: one background thread feeds
 * every registered projection the committed events in position order.
 *
 * Projections run off the append path, so a slow projection never slows
 * ingestion; as_projection_get() waits until the projection has applied the
 * position committed when it was called, so readers still see their own
 * writes.  Each projection has a mutex that serializes apply/get/clear.
 *
 * Wake-up protocol: the worker sets `sleeping` under `mu`, re-checks for
 * work, then waits with a timeout; the writer publishes `committed`, then
 * reads `sleeping` (a seq_cst fence between each side's store and load)
 * and, if set, signals under `mu` — at most
 * once per NOTIFY_GAP_US, because under a stream of small commits a wake-up
 * per commit would cost more than the commit.  The worker's timeout bounds
 * the lag of a skipped signal.
 *
 * The worker thread starts lazily — when a reader needs a projection caught
 * up, or at a commit once LAZY_EVENTS are committed or LAZY_US have passed
 * since open — so a short-lived store (a test, a CLI run, a batch job) pays
 * no thread creation (~50 us, more than 100 appends cost).  Events committed
 * before it starts are simply backlog, and every read that can observe
 * projection progress (stats, snapshot list/latest) starts it too, so no
 * observer waits forever.  If it never started, close() applies
 * the backlog on the caller's thread when the result is observable (a
 * durable store persists automatic snapshots; a user projection's ctx sees
 * every event); the built-in projections of a memory-only store are dropped
 * with the store unapplied.
 */
#include <inttypes.h>
#include <errno.h>
#include <time.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "engine/as_db_int.h"

#define APPLY_CHUNK 4096
#define NOTIFY_GAP_US 1000      /* at most one wake-up per this interval */
#define IDLE_WAIT_MIN_US 5000   /* the worker's poll when just idle */
#define IDLE_WAIT_MAX_US 1000000
#define LAZY_EVENTS 1024        /* start the worker at this backlog ... */
#define LAZY_US 2000            /* ... or at a commit this long after open */

struct as_proj {
  _Atomic(struct as_proj *) next; /* written under mu; the worker reads it
                                     without mu, hence atomic */
  as_projection_ops ops;
  char *name;
  pthread_mutex_t mu;
  _Atomic uint64_t applied; /* last position applied */
  _Atomic uint64_t processed, errors;
};

static as_proj *find_locked(as_projmgr *m, const char *name) {
  for (as_proj *p = m->list; p; p = atomic_load(&p->next))
    if (strcmp(p->name, name) == 0) return p;
  return NULL;
}

static as_proj *find(as_db *db, const char *name) {
  pthread_mutex_lock(&db->proj.mu);
  as_proj *p = find_locked(&db->proj, name);
  pthread_mutex_unlock(&db->proj.mu);
  return p;
}

static bool all_caught_up(as_db *db, uint64_t committed) {
  for (as_proj *p = db->proj.list; p; p = atomic_load(&p->next))
    if (atomic_load(&p->applied) < committed) return false;
  return true;
}

/* Applies up to APPLY_CHUNK events to p; returns true if it did work. */
static bool apply_some(as_db *db, as_proj *p, uint64_t committed) {
  pthread_mutex_lock(&p->mu);
  uint64_t from = atomic_load(&p->applied) + 1;
  uint64_t to = AS_MIN(committed, from + APPLY_CHUNK - 1);
  uint64_t errors = 0;
  for (uint64_t pos = from; pos <= to; pos++) {
    as_event ev;
    as_frame_view(as__frame_at(db, pos), &ev);
    as_err rc = p->ops.apply(p->ops.ctx, &ev);
    if (rc) {
      errors++;
      if (errors <= 3)
        as__log(&db->log, AS_LOG_WARN,
                "projection %s: position %" PRIu64 ": %s", p->name, pos,
                as_strerror(rc));
    }
  }
  if (to >= from) {
    atomic_fetch_add(&p->processed, to - from + 1);
    atomic_fetch_add(&p->errors, errors);
    atomic_store(&p->applied, to);
  }
  pthread_mutex_unlock(&p->mu);
  return to >= from;
}

static void *worker_main(void *arg) {
  as_db *db = arg;
  as_projmgr *m = &db->proj;
  int64_t idle_wait_us = IDLE_WAIT_MIN_US;
  pthread_mutex_lock(&m->mu);
  for (;;) {
    uint64_t committed = as__committed(db);
    if (all_caught_up(db, committed)) {
      if (m->waiters) pthread_cond_broadcast(&m->progress_cv);
      if (m->stop) break;
      atomic_store(&m->sleeping, 1);
      atomic_thread_fence(memory_order_seq_cst);
      if (all_caught_up(db, as__committed(db))) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + idle_wait_us * 1000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        bool timed_out =
            pthread_cond_timedwait(&m->work_cv, &m->mu, &ts) == ETIMEDOUT;
        /* Idle: back off (5 ms .. 1 s); busy: wake up often. */
        if (timed_out && all_caught_up(db, as__committed(db)))
          idle_wait_us = AS_MIN(idle_wait_us * 2, IDLE_WAIT_MAX_US);
        else
          idle_wait_us = IDLE_WAIT_MIN_US;
      }
      atomic_store(&m->sleeping, 0);
      continue;
    }
    as_proj *list = m->list;
    pthread_mutex_unlock(&m->mu);
    for (as_proj *p = list; p; p = atomic_load_explicit(&p->next, memory_order_acquire))
      apply_some(db, p, committed);
    pthread_mutex_lock(&m->mu);
    if (m->waiters) pthread_cond_broadcast(&m->progress_cv);
  }
  pthread_mutex_unlock(&m->mu);
  return NULL;
}

static void start_thread_locked(as_db *db) {
  as_projmgr *m = &db->proj;
  if (atomic_load(&m->running) || m->stop) return;
  if (pthread_create(&m->thread, NULL, worker_main, db)) {
    /* No thread: readers apply on their own thread instead; the next
     * trigger tries again. */
    as__log(&db->log, AS_LOG_WARN, "projections: cannot start the worker thread");
    return;
  }
  atomic_store(&m->running, true);
}

/* Catches every projection up on the calling thread (no worker running). */
static void apply_inline(as_db *db) {
  uint64_t committed = as__committed(db);
  for (as_proj *p = db->proj.list; p; p = atomic_load(&p->next))
    while (apply_some(db, p, committed)) {
    }
}

/* Called by the writer after publishing.  Waking the worker costs a system
 * call (and a cross-CPU interrupt), so under a stream of small commits it
 * is woken at most once per NOTIFY_GAP_US; its own timed wait bounds the lag
 * otherwise, and readers that need it caught up wake it themselves. */
void as__projmgr_notify(as_db *db, int64_t now) {
  as_projmgr *m = &db->proj;
  if (!atomic_load_explicit(&m->running, memory_order_relaxed)) {
    if (as__committed(db) < LAZY_EVENTS && now - m->opened_us < LAZY_US)
      return;
    pthread_mutex_lock(&m->mu);
    start_thread_locked(db);
    pthread_mutex_unlock(&m->mu);
    return;
  }
  /* Dekker with the worker: `committed` (stored by the writer before this
   * call) is ordered before reading `sleeping`; the worker stores
   * `sleeping` and then reads `committed` behind the same fence. */
  atomic_thread_fence(memory_order_seq_cst);
  if (!atomic_load_explicit(&m->sleeping, memory_order_relaxed)) return;
  if (now - atomic_load_explicit(&m->last_notify_us, memory_order_relaxed) <
      NOTIFY_GAP_US)
    return;
  atomic_store_explicit(&m->last_notify_us, now, memory_order_relaxed);
  pthread_mutex_lock(&m->mu);
  pthread_cond_signal(&m->work_cv);
  pthread_mutex_unlock(&m->mu);
}

as_err as__projmgr_start(as_db *db) {
  as_projmgr *m = &db->proj;
  pthread_mutex_init(&m->mu, NULL);
  pthread_cond_init(&m->work_cv, NULL);
  pthread_cond_init(&m->progress_cv, NULL);
  atomic_init(&m->sleeping, 0);
  atomic_init(&m->last_notify_us, 0);
  atomic_init(&m->running, false);
  m->opened_us = as_time_now_us();
  m->initialized = true;
  /* A recovered store has a backlog worth a thread right away. */
  if (as__committed(db) >= LAZY_EVENTS) start_thread_locked(db);
  return AS_OK;
}

void as__projmgr_builtins_done(as_db *db) { db->proj.builtins_done = true; }

void as__projmgr_kick(as_db *db) {
  as_projmgr *m = &db->proj;
  if (atomic_load_explicit(&m->running, memory_order_relaxed)) return;
  pthread_mutex_lock(&m->mu);
  start_thread_locked(db);
  pthread_mutex_unlock(&m->mu);
}

void as__projmgr_stop(as_db *db) {
  as_projmgr *m = &db->proj;
  if (!m->initialized) return;
  pthread_mutex_lock(&m->mu);
  m->stop = true;
  pthread_cond_signal(&m->work_cv);
  pthread_mutex_unlock(&m->mu);
  if (atomic_load(&m->running)) {
    pthread_join(m->thread, NULL); /* the worker drains the backlog first */
    atomic_store(&m->running, false);
  } else if (db->dir || m->user_projections) {
    apply_inline(db);
  }
  m->initialized = false;
  for (as_proj *p = m->list; p;) {
    as_proj *n = atomic_load(&p->next);
    if (p->ops.destroy) p->ops.destroy(p->ops.ctx);
    pthread_mutex_destroy(&p->mu);
    as_free(p->name);
    as_free(p);
    p = n;
  }
  m->list = NULL;
  pthread_mutex_destroy(&m->mu);
  pthread_cond_destroy(&m->work_cv);
  pthread_cond_destroy(&m->progress_cv);
}

as_err as_projection_register(as_db *db, const as_projection_ops *ops) {
  if (!ops || !ops->name || !ops->name[0] || !ops->apply || !ops->get ||
      !ops->clear)
    return AS_EINVAL;
  as_proj *p = as_calloc(1, sizeof *p);
  if (!p) return AS_ENOMEM;
  p->name = as_strndup(ops->name, strlen(ops->name));
  if (!p->name) {
    as_free(p);
    return AS_ENOMEM;
  }
  p->ops = *ops;
  p->ops.name = p->name;
  pthread_mutex_init(&p->mu, NULL);
  as_projmgr *m = &db->proj;
  pthread_mutex_lock(&m->mu);
  if (find_locked(m, p->name)) {
    pthread_mutex_unlock(&m->mu);
    pthread_mutex_destroy(&p->mu);
    as_free(p->name);
    as_free(p);
    return AS_EEXIST;
  }
  if (m->builtins_done) m->user_projections++;
  if (!m->list) {
    m->list = p;
  } else {
    as_proj *last = m->list;
    while (atomic_load(&last->next)) last = atomic_load(&last->next);
    atomic_store_explicit(&last->next, p, memory_order_release);
  }
  pthread_cond_signal(&m->work_cv);
  pthread_mutex_unlock(&m->mu);
  return AS_OK;
}

/* Waits until p has applied every event up to `target`. */
static void wait_caught_up(as_db *db, as_proj *p, uint64_t target) {
  as_projmgr *m = &db->proj;
  if (atomic_load(&p->applied) >= target) return;
  pthread_mutex_lock(&m->mu);
  start_thread_locked(db);
  if (!atomic_load(&m->running)) { /* no thread to wait for */
    pthread_mutex_unlock(&m->mu);
    while (apply_some(db, p, target)) {
    }
    return;
  }
  m->waiters++;
  pthread_cond_signal(&m->work_cv);
  while (atomic_load(&p->applied) < target)
    pthread_cond_wait(&m->progress_cv, &m->mu);
  m->waiters--;
  pthread_mutex_unlock(&m->mu);
}

as_err as_projection_get(as_db *db, const char *name, const char *key,
                         size_t key_len, char **json, size_t *json_len) {
  *json = NULL;
  *json_len = 0;
  as_proj *p = find(db, name);
  if (!p) return AS_ENOTFOUND;
  wait_caught_up(db, p, as__committed(db));
  pthread_mutex_lock(&p->mu);
  as_err rc = p->ops.get(p->ops.ctx, key, key_len, json, json_len);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

as_err as_projection_rebuild(as_db *db, const char *name) {
  as_proj *p = find(db, name);
  if (!p) return AS_ENOTFOUND;
  uint64_t target = as__committed(db);
  pthread_mutex_lock(&p->mu);
  p->ops.clear(p->ops.ctx);
  atomic_store(&p->applied, 0);
  pthread_mutex_unlock(&p->mu);
  wait_caught_up(db, p, target);
  return AS_OK;
}

as_err as_projection_stats_get(as_db *db, const char *name,
                               as_projection_stats *out) {
  as_proj *p = find(db, name);
  if (!p) return AS_ENOTFOUND;
  as__projmgr_kick(db); /* whoever watches progress will see some */
  out->events_processed = atomic_load(&p->processed);
  out->errors = atomic_load(&p->errors);
  out->position = atomic_load(&p->applied);
  return AS_OK;
}
