/*
 * as_db_int.h — the store's internals, shared by the engine's .c files
 * (as_db.c, as_ingest.c, as_writer.c, as_query.c, as_state.c,
 * as_projection.c).  Nothing outside src/engine includes it.
 *
 * THREADS AND OWNERSHIP
 *   - The writer role is held by exactly one thread at a time (the flag
 *     `leader` under `qmu`): either the writer thread or a thread inside
 *     as_append() that found no leader.  Only the role holder touches the
 *     fields marked [W].
 *   - Readers (any thread) touch only fields marked [R]: the committed
 *     position, the position index, position lists, the maps and the event
 *     records, all published with release/acquire ordering.  A reader never
 *     looks past the committed position it loaded.
 *   - [Q] fields are guarded by `qmu`.
 *
 * COMMIT ORDER (group commit)
 *   1. The role holder takes every queued request (up to a byte budget);
 *      in sync mode it may first wait a little for the previous cycle's
 *      appenders to queue again (gather_locked in as_writer.c).
 *   2. It checks ids and expected versions, assigns positions, versions and
 *      timestamps, copies frames into the arena and indexes them (readers do
 *      not see them yet: their positions are above `committed`).
 *   3. It writes all frames with one pwritev, then fdatasync (sync mode).
 *   4. It publishes `committed` (release), then completes every request.
 */
#ifndef AS_DB_INT_H
#define AS_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "allsource.h"
#include "core/as_hash.h"
#include "core/as_log.h"
#include "core/as_map.h"
#include "core/as_rand.h"
#include "core/as_rcu.h"
#include "index/as_arena.h"
#include "index/as_plist.h"
#include "index/as_posidx.h"
#include "index/as_swmap.h"
#include "storage/as_manifest.h"
#include "storage/as_wal.h"

/* An entity (stream): its id and the positions of its events. */
typedef struct as_entity {
  uint64_t hash;
  as_plist list;     /* [R] positions in version order */
  uint64_t wversion; /* [W] version including uncommitted events */
  /* Automatic snapshots (as_snapshot.c): the latest snapshot's event count
   * and event time (0: none; written under snaps.mu, read by the writer
   * and by the automatic-snapshot check), and the version of the last event
   * the writer marked as due (reset to 0 when that mark is rejected). */
  _Atomic uint64_t snap_count;
  _Atomic int64_t snap_as_of_us;
  _Atomic uint64_t snap_hint;
  uint32_t id_len;
  char id[];         /* NUL-terminated */
} as_entity;

/* An event type and the positions of its events. */
typedef struct as_etype {
  uint64_t hash;
  as_plist list; /* [R] */
  uint32_t name_len;
  char name[];
} as_etype;

/* Per-event extras of a request that are not part of the frame. */
typedef struct as_req_ev {
  uint64_t expected;
  bool client_id;
} as_req_ev;

/* Request states (futex word): PENDING, DONE or LEAD (you may take the
 * writer role), plus the SLEEPING bit a waiter sets before futex_wait so
 * that wakers skip the system call when nobody sleeps. */
enum {
  AS_REQ_PENDING = 0,
  AS_REQ_DONE = 1,
  AS_REQ_LEAD = 2,
  AS_REQ_SLEEPING = 4
};

/* One append call: a batch of prepared frames (one allocation). */
typedef struct as_req {
  struct as_req *next;
  uint32_t n;
  size_t frames_len;
  unsigned char *frames;   /* n frames, consecutive, unsealed */
  as_req_ev *ev;
  as_append_result *res;
  as_err rc;
  as_append_cb cb;         /* async completion, or NULL */
  void *cb_arg;
  bool waiter;             /* a thread in as_append() waits on `state` */
  bool assigned;           /* [W] its events got positions this cycle */
  bool force_rotate;       /* as_db_seal(): close the current segment */
  bool force_sync;         /* as_db_sync(): fdatasync after this cycle */
  bool borrowed;           /* lives in the caller's buffer: not freed */
  _Atomic uint32_t state;  /* AS_REQ_* (futex word) */
  as_error err;            /* last: as__req_prepare zeroes what precedes it
                              and clears it (its 256-byte message stays
                              unwritten until an error) */
} as_req;

typedef struct as_proj as_proj;

/* The storage tier: sealing closed WAL segments into Parquet files and
 * compacting those files (as_seal.c).  One background thread does both, so
 * manifest updates are serialized. */
typedef struct as_storage {
  char *pq_dir;            /* data/parquet */
  pthread_mutex_t mu;      /* guards everything below but the atomics */
  pthread_cond_t cv;       /* wakes the sealer */
  pthread_cond_t done_cv;  /* wakes as_db_seal()/as_compact() callers */
  as_manifest manifest;    /* the current manifest */
  bool stop, started;
  pthread_t thread;
  uint64_t compact_req, compact_done; /* request tickets */
  as_err compact_rc;
  as_compaction_result compact_res;
  as_compaction_stats stats;
  int64_t last_compaction_us;
  as_err seal_error;       /* last sealing failure (retried) */
  struct as_pq_scratch *pq_scratch; /* the sealer thread's Parquet writer
                              buffers, kept between files (created at the
                              first file; NULL = each writer allocates) */
  _Atomic uint64_t files, bytes, sealed_through;
} as_storage;

/* A snapshot: an entity's state at one of its events (immutable, shared by
 * reference count). */
typedef struct as_snap {
  _Atomic uint32_t refs;
  as_snapshot_info info;
  uint32_t json_len;
  char json[]; /* the state object, NUL-terminated */
} as_snap;

typedef struct as_snapstore {
  pthread_mutex_t mu;
  as_map by_entity; /* entity_id -> as_snapvec*, guarded by mu */
  as_rand rng;      /* snapshot ids, guarded by mu */
  uint64_t count, bytes;
  /* Automatic snapshots: the writer marks the events that may be due
   * (as__snapshots_mark) in `due`, positions in increasing order, and the
   * "$snapshots" projection checks only those — a map lookup per event had
   * cost ~15 % of a 2-CPU server's time.  Events below `auto_from` (the
   * recovered log) are checked one by one. */
  bool auto_on;              /* set before the first append, then read-only */
  uint64_t auto_from;
  pthread_mutex_t due_mu;
  uint64_t *due;             /* [due_head, due_n) pending, guarded by due_mu */
  size_t due_head, due_n, due_cap;
  _Atomic uint64_t next_due; /* due[due_head], or UINT64_MAX when empty */
} as_snapstore;

typedef struct as_projmgr {
  pthread_mutex_t mu;
  pthread_cond_t work_cv;     /* wakes the worker */
  pthread_cond_t progress_cv; /* wakes readers waiting for catch-up */
  as_proj *list;              /* head set under mu; append-only list */
  _Atomic int sleeping;
  _Atomic int64_t last_notify_us;
  int waiters;
  bool stop;
  bool initialized;       /* mutex and condition variables exist */
  bool builtins_done;     /* later registrations are the user's */
  uint32_t user_projections;
  _Atomic bool running;   /* the worker thread exists (started lazily) */
  int64_t opened_us;
  pthread_t thread;
} as_projmgr;

struct as_db {
  as_options opt;
  as_logger log;
  const as_io *io;
  char *dir;     /* NULL in memory-only mode */
  char *wal_dir;
  int lock_fd;
  as_hash_key hkey;
  as_rcu rcu;

  /* [R] published state */
  _Atomic uint64_t committed;
  _Atomic uint64_t n_entities, n_types;
  _Atomic uint64_t appends_total;
  as_posidx pos;
  /* ids: only events whose id does not carry their own position (client
   * ids, ids written by versions before 0.7); generated ids are found
   * through the position they carry (as_uuid_v7_seq; as__id_find). */
  as_swmap entities, types, ids;

  /* [W] writer state */
  as_arena arena;
  as_wal wal;
  bool has_wal;
  as_err failed;        /* sticky: the store is read-only */
  uint64_t next_pos;
  int64_t last_ts;
  as_rand rng;
  uint64_t cyc_new_entities, cyc_new_types;
  struct iovec *iov;
  size_t iov_cap;
  uint64_t rotations_seen; /* to notify the sealer after a rotation */
  int64_t sync_ewma_us;    /* recent fdatasync time (sync mode) */
  as_etype *last_type;     /* one-entry cache of the writer's type lookups */

  /* [Q] the append queue and the writer role */
  pthread_mutex_t qmu;
  pthread_cond_t qcv;
  as_req *qhead, *qtail;
  _Atomic uint32_t qlen; /* written under qmu; read without it when the
                            fast path lets the role go */
  uint32_t last_cycle_reqs; /* requests the previous cycle took */
  _Atomic bool leader;   /* the writer role: taken by compare-and-swap
                            (take_role), with or without qmu */
  _Atomic int spinners; /* appenders spinning for their commit */
  int max_spinners;     /* CPUs - 1 (at least 1): more would steal the
                           leader's CPU */
  _Atomic bool closing; /* written under qmu; the fast path reads it */
  bool wal_dirty; /* interval mode: a sync is due */
  int64_t last_sync_us;
  pthread_t writer;
  bool writer_started;

  as_projmgr proj;
  struct {
    _Atomic(as_commit_fn) fn;
    void *_Atomic arg;
  } listeners[8];
  _Atomic int nlisteners;
  as_storage storage;
  bool storage_ready;
  as_snapstore snaps;
  bool snaps_ready;
  /* The meta store (data/meta): an internal store whose events are the
   * registries (snapshots, schemas), replayed at open.  NULL in memory-only
   * mode and inside the meta store itself. */
  as_db *meta;
  bool is_meta;
  _Atomic(as_validate_fn) validator;
  void *_Atomic validator_ctx;
  as_recovery_info recovery;
};

/* as_ingest.c */
/* Builds the request of an append.  It is placed in `buf` (`buf_len`
 * bytes, aligned for as_req; may be NULL) when it fits — a synchronous
 * append passes a stack buffer, since its request lives only during the
 * call — and allocated otherwise.  Free with as__req_free() either way. */
as_err as__req_prepare(as_db *db, const as_event_in *ev, size_t n, void *buf,
                       size_t buf_len, as_req **out, as_error *err);
void as__req_free(as_req *r);

/* as_writer.c */
as_err as__writer_start(as_db *db);
void as__writer_stop(as_db *db);
as_err as__submit(as_db *db, as_req *req);
as_err as__submit_wait(as_db *db, as_req *req);
/* Indexes a frame already in memory (recovery and the writer).  [W] */
as_err as__index_frame(as_db *db, as_frame *f, as_entity *e, bool recovering);

/* as_db.c */
as_entity *as__entity_find(as_db *db, const char *id, size_t len);
/** The same with the id's hash (as_hash with hkey) already computed. */
as_entity *as__entity_find_h(as_db *db, const char *id, size_t len,
                             uint64_t h);
as_etype *as__type_find(as_db *db, const char *name, size_t len);
/** The event with this id among positions 1..limit (the writer passes
 *  next_pos - 1, readers the committed position; the map may also return a
 *  later one, which readers check), or NULL. */
as_frame *as__id_find(as_db *db, const uint8_t id[16], uint64_t limit);
/** The event with this id in the id map only (see as_db.ids). */
as_frame *as__id_map_find(as_db *db, const uint8_t id[16]);
/** True if the event's id carries its own position (then it is not in the
 *  id map). */
bool as__id_is_positional(const as_frame *f);
/** Committed events of an entity (entries <= committed). */
uint64_t as__entity_committed_count(const as_entity *e, uint64_t committed);

static inline uint64_t as__committed(as_db *db) {
  return atomic_load_explicit(&db->committed, memory_order_acquire);
}
static inline as_frame *as__frame_at(as_db *db, uint64_t pos) {
  return (as_frame *)as_posidx_get(&db->pos, pos);
}

/* as_seal.c */
/** Loads the manifest, removes files it does not list, and indexes every
 *  sealed event (recovery, before the WAL).  Sets *sealed_through. */
as_err as__storage_recover(as_db *db, uint64_t *sealed_through, as_error *err);
as_err as__storage_start(as_db *db);
void as__storage_stop(as_db *db);
void as__storage_notify(as_db *db);
/** Builds an in-memory record for an event read back from a file. */
as_frame *as__frame_from_event(as_db *db, const as_event *ev);

/* as_snapshot.c */
void as__snapstore_init(as_db *db);
void as__snapstore_destroy(as_db *db);
/** The newest snapshot of entity `id` at or before position `bound`, with a
 *  reference the caller drops with as__snap_release(); NULL if none. */
as_snap *as__snap_find(as_db *db, const char *id, size_t len, uint64_t bound);
void as__snap_release(as_snap *s);
/** Registers the automatic-snapshot projection if enabled in the options. */
as_err as__snapshots_auto_register(as_db *db);
/** Loads persisted snapshots from the meta store (at open). */
as_err as__snapshots_load(as_db *db);
/** Writer: queues position `pos` for the automatic-snapshot check. */
void as__snapshots_due_push(as_db *db, uint64_t pos);

/** The automatic-snapshot rule: is a snapshot due at version v (event time
 *  ts) of an entity whose latest snapshot covers `count` events up to event
 *  time `as_of` (count 0: none)?  `every`/`secs` 0 turn a trigger off. */
static inline bool as__snap_due(uint64_t every, uint64_t secs, uint64_t v,
                                int64_t ts, uint64_t count, int64_t as_of) {
  if (!count) return every && v >= every;
  return v > count && ((every && v - count >= every) ||
                       (secs && ts - as_of >= (int64_t)secs * 1000000));
}

/** Writer, for every appended event (entity e, its new version v, time ts):
 *  marks the event if an automatic snapshot may be due at it.  A mark is a
 *  superset of the rule at the time of the check (auto_apply in
 *  as_snapshot.c applies it again), so a stale view of the latest snapshot
 *  only adds marks; a mark pending for the entity (snap_hint above the
 *  latest snapshot) counts as a snapshot at that version, time trigger
 *  aside, so a busy entity is not marked at every event until it lands. */
static inline void as__snapshots_mark(as_db *db, as_entity *e, uint64_t pos,
                                      uint64_t v, int64_t ts) {
  if (!db->snaps.auto_on) return;
  uint64_t c = atomic_load_explicit(&e->snap_count, memory_order_relaxed);
  uint64_t h = atomic_load_explicit(&e->snap_hint, memory_order_relaxed);
  bool due = h > c
                 ? as__snap_due(db->opt.snapshot_every_events, 0, v, ts, h, 0)
                 : as__snap_due(db->opt.snapshot_every_events,
                                db->opt.snapshot_every_seconds, v, ts, c,
                                atomic_load_explicit(&e->snap_as_of_us,
                                                     memory_order_relaxed));
  if (!due) return;
  atomic_store_explicit(&e->snap_hint, v, memory_order_relaxed);
  as__snapshots_due_push(db, pos);
}

/* as_state.c */
/** State of entity `e` over its events at positions <= bound, starting from
 *  a snapshot when use_snapshots.  *json: caller frees with as_free(). */
as_err as__state_build(as_db *db, as_entity *e, uint64_t bound,
                       bool use_snapshots, char **json, size_t *json_len,
                       as_state_info *info);

/* Memory used by each part of the store (bytes; for benchmarks). */
typedef struct as_mem_report {
  uint64_t records;   /* event records (WAL frames) in the arena */
  uint64_t arena_reserved;
  uint64_t posidx;    /* position index blocks */
  uint64_t lists;     /* entity and type position lists */
  uint64_t maps;      /* entity, type and id hash tables */
  uint64_t entities;  /* entity and type structs (including their ids) */
  uint64_t snapshots; /* snapshot state bytes */
  uint64_t total;     /* everything the engine allocated */
} as_mem_report;

/** Fills `out`; must not race with appends. */
void as__mem_report(as_db *db, as_mem_report *out);

/* as_projection.c */
as_err as__projmgr_start(as_db *db);
void as__projmgr_stop(as_db *db);
void as__projmgr_notify(as_db *db, int64_t now_us);
/* Marks the end of open(): projections registered later are the user's. */
void as__projmgr_builtins_done(as_db *db);
/* Starts the worker if it has not started yet (lazy start, see
 * as_projection.c); called by reads that observe projection progress. */
void as__projmgr_kick(as_db *db);
as_err as__builtin_projections_register(as_db *db);

#endif /* AS_DB_INT_H */
