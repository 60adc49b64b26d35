/*
 * as_writer.c — the single writer: the append queue, the writer role, group
 * commit, and indexing of committed frames.
 *
 * THE WRITER ROLE.  Appends are queued under `qmu`.  Whoever finds the role
 * free takes it: the writer thread (for asynchronous appends and interval
 * syncs) or a thread blocked in as_append() (so a lone synchronous appender
 * never pays a thread hand-off).  The holder takes every queued request
 * (up to CYCLE_BYTES), commits them as one cycle — one pwritev and, in sync
 * mode, one fdatasync — then releases the role and hands it to the next
 * queued request's thread, or to the writer thread.  A queued appender
 * therefore waits for at most the cycle in progress plus its own.  Without
 * fdatasync an appender that finds the role free takes it by compare-and-
 * swap and commits its request without queueing it (the fast path in
 * as__submit_wait); the role is therefore always taken with take_role().
 *
 *         +--------- enqueue ----------+
 *         v                            |
 *   [queued] --take role--> [leader: resolve -> write -> sync -> publish
 *                                   -> complete] --release--> hand off
 *
 * A storage failure (write or fdatasync error, or running out of memory in
 * the middle of a cycle) makes the store read-only for good (AS_EREADONLY);
 * the events of that cycle are never published.  A later successful sync
 * cannot vouch for data whose earlier sync failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "core/as_time.h"
#include "core/as_uuid.h"
#include "engine/as_db_int.h"

#define CYCLE_BYTES ((size_t)16 << 20)
#define PRE_SPIN 1000 /* pauses an appender waits for a busy role (no sync) */
#define MAX_IOV 1024

/* A spin-wait hint to the CPU (and to a hyperthread sibling). */
static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

static void futex_wait(_Atomic uint32_t *a, uint32_t v) {
  syscall(SYS_futex, (uint32_t *)a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *a) {
  syscall(SYS_futex, (uint32_t *)a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static size_t frame_len(const as_frame *f) {
  return ((size_t)8 + f->body_len + 7) & ~(size_t)7;
}

static inline const char *frame_entity(const as_frame *f) {
  return f->data + f->tenant_len + 1;
}

static inline const char *frame_type(const as_frame *f) {
  return f->data + f->tenant_len + 1 + f->entity_len + 1;
}

/* --- Entities, types, indexing --------------------------------------- */

static as_entity *entity_create(as_db *db, const char *id, size_t len,
                                uint64_t h) {
  as_entity *e = as_malloc(sizeof *e + len + 1);
  if (!e) return NULL;
  e->hash = h;
  as_plist_init(&e->list);
  e->wversion = 0;
  atomic_init(&e->snap_count, 0);
  atomic_init(&e->snap_as_of_us, 0);
  atomic_init(&e->snap_hint, 0);
  e->id_len = (uint32_t)len;
  memcpy(e->id, id, len);
  e->id[len] = '\0';
  if (as_swmap_insert(&db->entities, h, e)) {
    as_free(e);
    return NULL;
  }
  db->cyc_new_entities++;
  return e;
}

static as_etype *type_create(as_db *db, const char *name, size_t len,
                             uint64_t h) {
  as_etype *t = as_malloc(sizeof *t + len + 1);
  if (!t) return NULL;
  t->hash = h;
  as_plist_init(&t->list);
  t->name_len = (uint32_t)len;
  memcpy(t->name, name, len);
  t->name[len] = '\0';
  if (as_swmap_insert(&db->types, h, t)) {
    as_free(t);
    return NULL;
  }
  db->cyc_new_types++;
  return t;
}

/* h: the hash of the id (as_hash with the store's key). */
static as_entity *entity_get_or_create(as_db *db, const char *id,
                                       size_t len, uint64_t h) {
  as_entity *e = as__entity_find_h(db, id, len, h);
  if (e) return e;
  return entity_create(db, id, len, h);
}

/* The type of f, through a one-entry cache (most logs have few types). */
static as_etype *type_get_or_create(as_db *db, const char *typ, size_t len) {
  as_etype *t = db->last_type;
  if (t && t->name_len == len && memcmp(t->name, typ, len) == 0) return t;
  t = as__type_find(db, typ, len);
  if (!t) t = type_create(db, typ, len, as_hash(&db->hkey, typ, len));
  if (t) db->last_type = t;
  return t;
}

as_err as__index_frame(as_db *db, as_frame *f, as_entity *e, bool recovering) {
  const char *ent = frame_entity(f), *typ = frame_type(f);
  if (!e)
    e = entity_get_or_create(db, ent, f->entity_len,
                             as_hash(&db->hkey, ent, f->entity_len));
  if (!e) return AS_ENOMEM;
  if (recovering) {
    if (f->version != e->wversion + 1 || f->timestamp_us < db->last_ts ||
        as__id_find(db, f->id, db->next_pos - 1))
      return AS_ECORRUPT;
    e->wversion = f->version;
    db->last_ts = f->timestamp_us;
  }
  as_etype *t = type_get_or_create(db, typ, f->type_len);
  if (!t) return AS_ENOMEM;
  as_err rc = as_posidx_set(&db->pos, f->position, f);
  if (!rc) rc = as_plist_append(&e->list, f->position);
  if (!rc) rc = as_plist_append(&t->list, f->position);
  if (!rc && !as__id_is_positional(f))
    rc = as_swmap_insert(&db->ids, as_hash(&db->hkey, f->id, 16), f);
  return rc;
}

/* --- Resolving one request -------------------------------------------- */

/* A new event's id: UUIDv7 carrying its position, so it needs no id map
 * entry.  It differs from every positional id (one position each); the map
 * holds the other ids (client-supplied), and one of them could be equal
 * only by chance (26 random bits per millisecond), so it is looked up when
 * the map is not empty.  Beyond 2^48 positions: a random UUIDv7 (74 random
 * bits, checked against every stored id). */
static void generate_id(as_db *db, as_frame *rec) {
  bool positional = rec->position <= AS_UUID_SEQ_MAX;
  for (;;) {
    if (positional) {
      as_uuid_v7_seq(&db->rng, rec->timestamp_us, rec->position, rec->id);
      if (!db->ids.count || !as__id_map_find(db, rec->id)) return;
    } else {
      as_uuid_v7(&db->rng, rec->timestamp_us, rec->id);
      if (!as__id_find(db, rec->id, rec->position - 1)) return;
    }
  }
}

static bool same_content(const as_frame *a, const as_frame *b) {
  return a->body_len == b->body_len &&
         (a->flags & AS_FF_METADATA) == (b->flags & AS_FF_METADATA) &&
         memcmp(a->data, b->data, a->body_len - (AS_FRAME_HDR_SIZE - 8)) == 0;
}

static void fail_req(as_req *r, as_err code) { r->rc = code; }

/* Running versions of the entities of one request (expected-version
 * checks of several events of the same entity in one batch). */
typedef struct run_ent {
  const char *id;
  uint32_t len;
  uint64_t ver;
} run_ent;

static as_err check_versions(as_db *db, as_req *r) {
  uint32_t cap = 16;
  while (cap < r->n * 2) cap *= 2;
  run_ent small[64];
  run_ent *tab = cap <= 64 ? small : as_malloc(sizeof *tab * cap);
  if (!tab) return as__error_set(&r->err, AS_ENOMEM, 0, "", "out of memory");
  for (uint32_t i = 0; i < cap; i++) tab[i].id = NULL;
  as_err rc = AS_OK;
  unsigned char *p = r->frames;
  for (uint32_t i = 0; i < r->n; i++) {
    as_frame *f = (as_frame *)(void *)p;
    p += frame_len(f);
    const char *ent = frame_entity(f);
    uint64_t h = as_hash(&db->hkey, ent, f->entity_len);
    uint32_t j = (uint32_t)h & (cap - 1);
    while (tab[j].id && !(tab[j].len == f->entity_len &&
                          memcmp(tab[j].id, ent, f->entity_len) == 0))
      j = (j + 1) & (cap - 1);
    if (!tab[j].id) {
      as_entity *e = as__entity_find(db, ent, f->entity_len);
      tab[j].id = ent;
      tab[j].len = f->entity_len;
      tab[j].ver = e ? e->wversion : 0;
    }
    uint64_t cur = tab[j].ver, want = r->ev[i].expected;
    bool ok = want == AS_EXPECT_ANY || (want == AS_EXPECT_EXISTS && cur > 0) ||
              (want != AS_EXPECT_EXISTS && want == cur);
    if (!ok) {
      if (want == AS_EXPECT_EXISTS)
        rc = as__error_set(&r->err, AS_ECONFLICT, i, "expected_version",
                           "entity '%s' was expected to exist but has no "
                           "events",
                           ent);
      else
        rc = as__error_set(&r->err, AS_ECONFLICT, i, "expected_version",
                           "entity '%s' is at version %" PRIu64
                           ", expected %" PRIu64,
                           ent, cur, want);
      r->err.expected_version = want;
      r->err.actual_version = cur;
      break;
    }
    tab[j].ver = cur + 1;
  }
  if (tab != small) as_free(tab);
  return rc;
}

/* Looks up the entities of the m frames starting at p in three passes:
 * the hash of each entity id and a prefetch of its map slot, then a
 * prefetch of the entity that slot names, then the lookup itself and a
 * prefetch of the entity's list tail — so the cache misses of a group
 * overlap instead of stalling the writer one event at a time (with many
 * entities they were its largest cost).  Fills fs (frames), hs (hashes)
 * and es (entities, NULL if not found yet); returns the end of the group. */
enum { GROUP = 16 };

static unsigned char *lookup_group(as_db *db, unsigned char *p, uint32_t m,
                                   as_frame **fs, uint64_t *hs, as_entity **es) {
  for (uint32_t k = 0; k < m; k++) {
    fs[k] = (as_frame *)(void *)p;
    p += frame_len(fs[k]);
    hs[k] = as_hash(&db->hkey, frame_entity(fs[k]), fs[k]->entity_len);
    as_swmap_prefetch(&db->entities, hs[k]);
  }
  for (uint32_t k = 0; k < m; k++) {
    const char *c = as_swmap_peek(&db->entities, hs[k]);
    if (c) {
      __builtin_prefetch(c);
      __builtin_prefetch(c + 64); /* an entity spans two lines */
    }
  }
  for (uint32_t k = 0; k < m; k++) {
    es[k] = as__entity_find_h(db, frame_entity(fs[k]), fs[k]->entity_len, hs[k]);
    if (es[k]) as_plist_prefetch_tail(&es[k]->list);
  }
  return p;
}

/* Returns AS_OK with r->assigned set if the request's events were assigned
 * positions; AS_OK without it for an idempotent replay; an error if the
 * request was rejected.  Sets db->failed if the store must stop. */
static void resolve_request(as_db *db, as_req *r, int64_t now_us,
                            size_t *cyc_bytes) {
  unsigned char *p = r->frames;
  uint32_t dups = 0;
  bool checks = false;
  for (uint32_t i = 0; i < r->n; i++) {
    as_frame *f = (as_frame *)(void *)p;
    p += frame_len(f);
    if (r->ev[i].expected != AS_EXPECT_ANY) checks = true;
    if (!r->ev[i].client_id) continue;
    as_frame *old = as__id_find(db, f->id, db->next_pos - 1);
    if (!old) continue;
    if (!same_content(old, f)) {
      char ids[37];
      as_uuid_format(f->id, ids);
      as__error_set(&r->err, AS_EIDCONFLICT, i, "id",
                    "event id %s is already stored (position %" PRIu64
                    ") with different content",
                    ids, old->position);
      fail_req(r, AS_EIDCONFLICT);
      return;
    }
    dups++;
    r->res[i].position = old->position;
    r->res[i].version = old->version;
    r->res[i].timestamp_us = old->timestamp_us;
    memcpy(r->res[i].id, old->id, 16);
    r->res[i].duplicate = true;
  }
  if (dups == r->n) return; /* an idempotent retry of a stored batch */
  if (dups) {
    as__error_set(&r->err, AS_EIDCONFLICT, 0, "id",
                  "the batch mixes %u already stored event ids with new "
                  "events",
                  dups);
    fail_req(r, AS_EIDCONFLICT);
    return;
  }
  if (checks) {
    as_err rc = check_versions(db, r);
    if (rc) {
      fail_req(r, rc);
      return;
    }
  }

  /* Events go in groups of GROUP whose entities are looked up ahead
   * (lookup_group), so their cache misses overlap. */
  as_frame *fs[GROUP];
  uint64_t hs[GROUP];
  as_entity *es[GROUP];
  p = r->frames;
  for (uint32_t g = 0; g < r->n; g += GROUP) {
    uint32_t m = AS_MIN((uint32_t)GROUP, r->n - g);
    p = lookup_group(db, p, m, fs, hs, es);
    for (uint32_t k = 0; k < m; k++) {
      uint32_t i = g + k;
      as_frame *f = fs[k];
      size_t len = frame_len(f);
      as_frame *rec = as_arena_alloc(&db->arena, len);
      as_entity *e = es[k];
      /* not found above: new, or created by an earlier event of the group */
      if (rec && !e)
        e = entity_get_or_create(db, frame_entity(f), f->entity_len, hs[k]);
      if (!rec || !e) {
        db->failed = AS_ENOMEM;
        as__log(&db->log, AS_LOG_ERROR,
                "writer: out of memory in the middle of a commit; the store is "
                "now read-only");
        return;
      }
      memcpy(rec, f, len);
      rec->position = db->next_pos++;
      rec->version = ++e->wversion;
      int64_t ts = now_us; /* one clock read per cycle (process_cycle) */
      if (ts < db->last_ts) ts = db->last_ts;
      db->last_ts = ts;
      rec->timestamp_us = ts;
      if (!r->ev[i].client_id) generate_id(db, rec);
      if (i + 1 == r->n) rec->flags |= AS_FF_BATCH_END;
      r->assigned = true;
      as_err rc = as__index_frame(db, rec, e, false);
      if (rc) {
        db->failed = rc;
        as__log(&db->log, AS_LOG_ERROR,
                "writer: cannot index position %" PRIu64
                ": %s; the store is now read-only",
                rec->position, as_strerror(rc));
        return;
      }
      as__snapshots_mark(db, e, rec->position, rec->version, ts);
      *cyc_bytes += len;
      r->res[i].position = rec->position;
      r->res[i].version = rec->version;
      r->res[i].timestamp_us = ts;
      memcpy(r->res[i].id, rec->id, 16);
      r->res[i].duplicate = false;
    }
  }
}

/* --- A commit cycle ----------------------------------------------------- */

static as_err write_frames(as_db *db, uint64_t first, uint64_t last,
                           size_t bytes) {
  as_err rc = as_wal_prepare(&db->wal, first, bytes);
  if (rc) return rc;
  uint64_t gen = db->wal.gen;
  bool wf = db->wal.window_first;
  int n = 0;
  size_t chunk = 0;
  uint64_t chunk_events = 0;
  for (uint64_t pos = first; pos <= last; pos++) {
    as_frame *f = as__frame_at(db, pos);
    size_t len = frame_len(f);
    f->gen = gen;
    if (pos == first && wf) f->flags |= AS_FF_WINDOW_FIRST;
    as_frame_seal(f);
    if (n && (char *)db->iov[n - 1].iov_base + db->iov[n - 1].iov_len ==
                 (char *)f) {
      db->iov[n - 1].iov_len += len;
    } else {
      if (n == MAX_IOV) {
        rc = as_wal_write(&db->wal, db->iov, n, chunk, chunk_events, pos - 1);
        if (rc) return rc;
        n = 0;
        chunk = 0;
        chunk_events = 0;
      }
      db->iov[n].iov_base = f;
      db->iov[n].iov_len = len;
      n++;
    }
    chunk += len;
    chunk_events++;
  }
  if (n) rc = as_wal_write(&db->wal, db->iov, n, chunk, chunk_events, last);
  if (!rc && db->opt.durability == AS_DURABILITY_SYNC) {
    rc = as_wal_sync(&db->wal);
    if (!rc) /* [W] recent fdatasync time, for gather_locked() */
      db->sync_ewma_us += ((int64_t)db->wal.last_sync_us - db->sync_ewma_us) / 8;
  }
  return rc;
}

/* Futex words of sleeping appenders to wake once the role is handed on. */
#define MAX_DEFERRED_WAKES 256
typedef struct wake_list {
  int n;
  _Atomic uint32_t *w[MAX_DEFERRED_WAKES];
} wake_list;

/* Completes `r`: runs its callback (in commit order) or marks a waiting
 * appender done.  A sleeping appender's wake-up system call is deferred to
 * `wl` so the leader can hand the role on first and the next cycle's write
 * and fdatasync overlap the wake-ups.  Waking a word whose appender already
 * returned (it may see DONE before the wake) is harmless: private futex
 * wakes do not touch the memory, and every waiter re-checks its state. */
static void complete(as_req *r, wake_list *wl) {
  if (r->waiter) {
    uint32_t old = atomic_exchange_explicit(&r->state, AS_REQ_DONE,
                                            memory_order_acq_rel);
    if (old & AS_REQ_SLEEPING) {
      if (wl->n < MAX_DEFERRED_WAKES)
        wl->w[wl->n++] = &r->state;
      else
        futex_wake(&r->state);
    }
    return;
  }
  if (r->cb)
    r->cb(r->cb_arg, r->rc, r->rc ? NULL : r->res, r->n,
          r->rc ? &r->err : NULL);
  as__req_free(r);
}

/* Adds to a counter that only the role holder writes (readers load it):
 * a load and a store, not a locked read-modify-write, which would also wait
 * for every store of the cycle to leave the store buffer. */
static inline void bump(_Atomic uint64_t *c, uint64_t d) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                        memory_order_relaxed);
}

static void process_cycle(as_db *db, as_req *batch, wake_list *wl) {
  uint64_t first = db->next_pos;
  size_t bytes = 0;
  bool force_sync = false, force_rotate = false;
  uint64_t ok_requests = 0;
  db->cyc_new_entities = db->cyc_new_types = 0;
  /* The events of a cycle share one server timestamp: they are committed
   * (and acknowledged) together, and timestamps only need to be
   * non-decreasing in position order. */
  int64_t now_us = as_time_now_us();

  for (as_req *r = batch; r; r = r->next) {
    force_sync |= r->force_sync;
    force_rotate |= r->force_rotate;
    if (r->n == 0) continue;
    if (db->failed) {
      as__error_set(&r->err, AS_EREADONLY, 0, "",
                    "the store is read-only after a storage failure (%s)",
                    as_strerror(db->failed));
      r->rc = AS_EREADONLY;
      continue;
    }
    resolve_request(db, r, now_us, &bytes);
  }
  uint64_t last = db->next_pos - 1;
  as_err wrc = db->failed;
  if (!wrc && last >= first && db->has_wal) {
    wrc = write_frames(db, first, last, bytes);
    if (wrc) db->failed = wrc;
  }
  if (!wrc && force_sync && db->has_wal) {
    wrc = as_wal_sync(&db->wal);
    if (wrc) db->failed = wrc;
  }
  if (!wrc && force_rotate && db->has_wal) {
    wrc = as_wal_rotate(&db->wal);
    if (wrc) db->failed = wrc;
  }
  if (!wrc && last >= first) {
    atomic_store_explicit(&db->committed, last, memory_order_release);
    if (db->cyc_new_entities) bump(&db->n_entities, db->cyc_new_entities);
    if (db->cyc_new_types) bump(&db->n_types, db->cyc_new_types);
    as__projmgr_notify(db, now_us);
    int nl = atomic_load_explicit(&db->nlisteners, memory_order_acquire);
    for (int i = 0; i < nl; i++) {
      as_commit_fn fn = atomic_load_explicit(&db->listeners[i].fn, memory_order_acquire);
      if (fn) fn(atomic_load_explicit(&db->listeners[i].arg, memory_order_relaxed), last);
    }
  }
  if (db->has_wal && db->wal.rotations != db->rotations_seen) {
    db->rotations_seen = db->wal.rotations;
    as__storage_notify(db); /* a closed segment is ready to be sealed */
  }
  for (as_req *r = batch; r;) {
    as_req *next = r->next;
    if (wrc && (r->assigned || r->force_sync || r->force_rotate)) {
      as__error_set(&r->err, AS_EREADONLY, 0, "",
                    "storage failure while committing (%s); the store is "
                    "now read-only",
                    as_strerror(wrc));
      r->rc = AS_EREADONLY;
    }
    if (!r->rc && r->n) ok_requests++;
    complete(r, wl);
    r = next;
  }
  if (ok_requests)
    bump(&db->appends_total, ok_requests);
}

/* --- The queue and the role -------------------------------------------- */

/* Takes the queued requests of one cycle (up to CYCLE_BYTES); *taken is
 * how many. */
static as_req *take_batch(as_db *db, uint32_t *taken) {
  as_req *head = db->qhead, *r = head, *prev = NULL;
  size_t bytes = 0;
  uint32_t n = 0;
  while (r && (bytes == 0 || bytes + r->frames_len <= CYCLE_BYTES)) {
    bytes += r->frames_len;
    prev = r;
    r = r->next;
    n++;
  }
  prev->next = NULL;
  db->qhead = r;
  if (!r) db->qtail = NULL;
  atomic_store_explicit(&db->qlen, db->qlen - n, memory_order_relaxed);
  *taken = n;
  return head;
}

/* Called with qmu held by the role holder that is about to release it. */
static void release_role_locked(as_db *db) {
  db->wal_dirty = db->has_wal && db->wal.dirty && !db->wal.failed;
  db->leader = false;
  if (db->qhead) {
    if (db->qhead->waiter) {
      _Atomic uint32_t *st = &db->qhead->state;
      uint32_t old = atomic_load(st);
      while ((old & ~(uint32_t)AS_REQ_SLEEPING) == AS_REQ_PENDING &&
             !atomic_compare_exchange_weak(st, &old, AS_REQ_LEAD)) {
      }
      if ((old & ~(uint32_t)AS_REQ_SLEEPING) == AS_REQ_PENDING &&
          (old & AS_REQ_SLEEPING))
        futex_wake(st);
    } else {
      pthread_cond_signal(&db->qcv);
    }
  } else if (db->wal_dirty || db->closing) {
    pthread_cond_signal(&db->qcv);
  }
}

/* Sync mode: before taking the queue, give the appenders of the previous
 * cycle a moment to queue their next request (as PostgreSQL's commit_delay
 * does), so one fdatasync covers more of them.  Without it, on a small
 * machine each cycle took whoever had been scheduled by then, and syncs
 * were spent on small groups (4 and 16 appenders: 20-30 % more events/s
 * with it).  The wait is adaptive: only while fewer requests are queued
 * than the last cycle took, and at most half the recent fdatasync time
 * (capped at GATHER_MAX_US), so a lone appender never waits and a fast disk
 * is not slowed down. */
#define GATHER_MAX_US 100

static void gather_locked(as_db *db) {
  if (db->opt.durability != AS_DURABILITY_SYNC || !db->has_wal) return;
  uint32_t want = db->last_cycle_reqs;
  if (db->qlen >= want || db->closing) return;
  int64_t wait = AS_MIN(db->sync_ewma_us / 2, (int64_t)GATHER_MAX_US);
  int64_t deadline = as_time_mono_us() + wait;
  while (db->qlen < want && !db->closing) {
    pthread_mutex_unlock(&db->qmu);
    sched_yield();
    pthread_mutex_lock(&db->qmu);
    if (as_time_mono_us() >= deadline) break;
  }
}

/* Takes the writer role if it is free.  The role is taken by compare-and-
 * swap, not only under qmu: an appender may take it without the queue lock
 * (the fast path of as__submit_wait). */
static bool take_role(as_db *db) {
  bool expect = false;
  /* test first: a failing compare-and-swap would still take the line */
  return !atomic_load_explicit(&db->leader, memory_order_relaxed) &&
         atomic_compare_exchange_strong(&db->leader, &expect, true);
}

/* Called with qmu held and the role taken: runs one cycle as the leader.
 * Without fdatasync a cycle takes microseconds, so the leader also commits
 * what queued up meanwhile (a few rounds) instead of handing the role to a
 * thread that may not be running; with fdatasync it hands off after one
 * cycle so no appender waits for more than one sync beyond its own. */
static void lead_locked(as_db *db) {
  int rounds = db->opt.durability == AS_DURABILITY_SYNC ? 1 : 8;
  wake_list wl;
  for (;;) {
    wl.n = 0;
    gather_locked(db);
    as_req *batch = take_batch(db, &db->last_cycle_reqs);
    pthread_mutex_unlock(&db->qmu);
    process_cycle(db, batch, &wl);
    pthread_mutex_lock(&db->qmu);
    bool last = --rounds <= 0 || !db->qhead;
    if (last) release_role_locked(db);
    if (wl.n) {
      pthread_mutex_unlock(&db->qmu);
      for (int i = 0; i < wl.n; i++) futex_wake(wl.w[i]);
      pthread_mutex_lock(&db->qmu);
    }
    if (last) return;
  }
}

static as_err start_thread_locked(as_db *db);

/* Lets the role go after a fast-path cycle.  Without fdatasync or interval
 * syncs there is nothing to hand over, so qmu is taken only if someone
 * queued meanwhile: with enqueue_locked() + take_role() this is Dekker's
 * pattern on (qlen, leader), all seq_cst — an appender that queued while we
 * held the role either saw it free and took it, or is seen here and led.
 * In interval mode the release goes through release_role_locked(), which
 * tells the writer thread that a sync is due. */
static void release_role_fast(as_db *db) {
  if (db->opt.durability == AS_DURABILITY_INTERVAL) {
    pthread_mutex_lock(&db->qmu);
    if (db->qhead)
      lead_locked(db);
    else
      release_role_locked(db);
    pthread_mutex_unlock(&db->qmu);
    return;
  }
  atomic_store(&db->leader, false);
  if (atomic_load(&db->qlen) == 0) return;
  pthread_mutex_lock(&db->qmu);
  if (db->qhead && take_role(db)) lead_locked(db);
  pthread_mutex_unlock(&db->qmu);
}

static void enqueue_locked(as_db *db, as_req *r) {
  r->next = NULL;
  if (db->qtail)
    db->qtail->next = r;
  else
    db->qhead = r;
  db->qtail = r;
  /* seq_cst: release_role_fast() reads it after letting the role go */
  atomic_store(&db->qlen, db->qlen + 1);
}

static as_err admit_locked(as_db *db, as_req *r) {
  if (db->closing)
    return as__error_set(&r->err, AS_ECLOSED, 0, "", "the store is closing");
  if (db->qlen >= db->opt.max_queue_requests)
    return as__error_set(&r->err, AS_EAGAIN, 0, "",
                         "the append queue is full (%u requests)",
                         db->opt.max_queue_requests);
  return AS_OK;
}

as_err as__submit(as_db *db, as_req *r) {
  pthread_mutex_lock(&db->qmu);
  as_err rc = admit_locked(db, r);
  if (!rc) rc = start_thread_locked(db);
  if (!rc) {
    enqueue_locked(db, r);
    if (!db->leader) pthread_cond_signal(&db->qcv);
  }
  pthread_mutex_unlock(&db->qmu);
  return rc;
}

as_err as__submit_wait(as_db *db, as_req *r) {
  r->waiter = true;
  bool spin = db->opt.durability != AS_DURABILITY_SYNC;
  /* Without fdatasync a cycle takes about a microsecond: wait (briefly,
   * without the lock) for the role to be free before queueing, so the
   * appenders do not crowd the queue lock the leader needs between cycles
   * and each mostly commits its own request from its own core.  With 4-8
   * appenders on 2 CPUs this made concurrent appends about a third faster
   * (allsource-bench concurrent_writes). */
  if (spin)
    for (int i = 0; i < PRE_SPIN &&
                    atomic_load_explicit(&db->leader, memory_order_relaxed);
         i++)
      cpu_relax();
  /* Fast path: the role is free, so commit this request at once, without
   * queueing it under qmu, and let the role go (release_role_fast).  With
   * two appenders taking turns this saves two lock round trips per commit
   * and, with the small position index, made allsource-bench
   * concurrent_writes/2 about a quarter faster.  Queued requests are not
   * overtaken for long: the release leads them. */
  if (spin && !atomic_load_explicit(&db->closing, memory_order_relaxed) &&
      take_role(db)) {
    wake_list wl;
    wl.n = 0;
    r->next = NULL;
    process_cycle(db, r, &wl);
    release_role_fast(db);
    return r->rc;
  }
  pthread_mutex_lock(&db->qmu);
  as_err rc = admit_locked(db, r);
  if (rc) {
    pthread_mutex_unlock(&db->qmu);
    return rc;
  }
  enqueue_locked(db, r);
  for (;;) {
    uint32_t st = atomic_load_explicit(&r->state, memory_order_acquire);
    if (st == AS_REQ_DONE) break;
    if (take_role(db)) {
      atomic_store_explicit(&r->state, AS_REQ_PENDING, memory_order_relaxed);
      lead_locked(db);
      continue;
    }
    if (st == AS_REQ_LEAD) {
      uint32_t expect = AS_REQ_LEAD;
      atomic_compare_exchange_strong(&r->state, &expect, AS_REQ_PENDING);
      continue;
    }
    pthread_mutex_unlock(&db->qmu);
    /* Spin briefly when commits are fast (no fdatasync to wait for), then
     * sleep; the waker calls futex_wake only if we announced sleeping.
     * At most max_spinners appenders spin at once: on a small machine more
     * spinners would take the CPU the leader needs to finish their work. */
    if (spin && atomic_fetch_add_explicit(&db->spinners, 1, memory_order_relaxed) <
                    db->max_spinners) {
      for (int i = 0; i < 2000; i++) {
        if (atomic_load_explicit(&r->state, memory_order_acquire) != AS_REQ_PENDING)
          break;
        if ((i & 63) == 63) sched_yield(); else cpu_relax();
      }
    }
    if (spin) atomic_fetch_sub_explicit(&db->spinners, 1, memory_order_relaxed);
    uint32_t expect = AS_REQ_PENDING;
    if (atomic_compare_exchange_strong(&r->state, &expect,
                                       AS_REQ_PENDING | AS_REQ_SLEEPING))
      futex_wait(&r->state, AS_REQ_PENDING | AS_REQ_SLEEPING);
    expect = AS_REQ_PENDING | AS_REQ_SLEEPING;
    atomic_compare_exchange_strong(&r->state, &expect, AS_REQ_PENDING);
    /* Done (seen by the spin, or woken): the leader no longer touches r
     * (complete()), so return without retaking qmu. */
    if (atomic_load_explicit(&r->state, memory_order_acquire) == AS_REQ_DONE)
      return r->rc;
    pthread_mutex_lock(&db->qmu);
  }
  pthread_mutex_unlock(&db->qmu);
  return r->rc;
}

static void *writer_main(void *arg) {
  as_db *db = arg;
  uint64_t interval_us = (uint64_t)db->opt.sync_interval_ms * 1000;
  pthread_mutex_lock(&db->qmu);
  for (;;) {
    if (db->qhead && take_role(db)) {
      lead_locked(db);
      continue;
    }
    int64_t now = as_time_now_us();
    bool interval = db->opt.durability == AS_DURABILITY_INTERVAL;
    if (interval && db->wal_dirty && !db->leader &&
        (db->closing || now - db->last_sync_us >= (int64_t)interval_us) &&
        take_role(db)) {
      pthread_mutex_unlock(&db->qmu);
      as_err rc = as_wal_sync(&db->wal);
      if (rc && !db->failed) db->failed = rc;
      pthread_mutex_lock(&db->qmu);
      db->last_sync_us = as_time_now_us();
      release_role_locked(db);
      continue;
    }
    if (db->closing && !db->qhead && !db->leader) break;
    if (interval && db->wal_dirty) {
      int64_t due = db->last_sync_us + (int64_t)interval_us;
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      int64_t wait = due - now;
      if (wait < 0) wait = 0;
      int64_t ns = ts.tv_nsec + (wait % 1000000) * 1000;
      ts.tv_sec += wait / 1000000 + ns / 1000000000;
      ts.tv_nsec = ns % 1000000000;
      pthread_cond_timedwait(&db->qcv, &db->qmu, &ts);
    } else {
      pthread_cond_wait(&db->qcv, &db->qmu);
    }
  }
  pthread_mutex_unlock(&db->qmu);
  return NULL;
}

/* The writer thread is needed only for asynchronous appends and interval
 * syncs (synchronous appenders lead cycles themselves), so it is started
 * when the first of those needs it.  Called with qmu held. */
static as_err start_thread_locked(as_db *db) {
  if (db->writer_started) return AS_OK;
  if (pthread_create(&db->writer, NULL, writer_main, db)) return AS_ENOMEM;
  db->writer_started = true;
  return AS_OK;
}

as_err as__writer_start(as_db *db) {
  db->iov = as_malloc(sizeof *db->iov * MAX_IOV);
  if (!db->iov) return AS_ENOMEM;
  db->iov_cap = MAX_IOV;
  db->last_sync_us = as_time_now_us();
  /* sched_getaffinity: one cheap system call (sysconf reads a /sys file,
   * which cost as much as the rest of a memory-only open) */
  cpu_set_t set;
  int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 2;
  db->max_spinners = cpus > 2 ? cpus - 1 : 1;
  if (db->opt.durability != AS_DURABILITY_INTERVAL) return AS_OK;
  pthread_mutex_lock(&db->qmu);
  as_err rc = start_thread_locked(db);
  pthread_mutex_unlock(&db->qmu);
  return rc;
}

void as__writer_stop(as_db *db) {
  pthread_mutex_lock(&db->qmu);
  db->closing = true;
  bool started = db->writer_started;
  pthread_cond_signal(&db->qcv);
  pthread_mutex_unlock(&db->qmu);
  if (started) {
    pthread_join(db->writer, NULL);
    db->writer_started = false;
  }
  as_free(db->iov);
  db->iov = NULL;
}
