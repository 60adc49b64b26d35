/*
 * as_db.c — opening, recovering, closing a store; the append entry points;
 * lookups shared by the other engine files; statistics.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "core/as_uuid.h"
#include "engine/as_db_int.h"
#include "storage/as_parquet.h"

void as_options_init(as_options *o) {
  memset(o, 0, sizeof *o);
  o->durability = AS_DURABILITY_SYNC;
  o->sync_interval_ms = 10;
  o->segment_bytes = (uint64_t)64 << 20;
  o->max_payload_bytes = AS_DEFAULT_MAX_PAYLOAD;
  o->max_metadata_bytes = AS_DEFAULT_MAX_METADATA;
  o->max_json_depth = AS_DEFAULT_MAX_DEPTH;
  o->max_batch_events = AS_DEFAULT_MAX_BATCH_EVENTS;
  o->max_batch_bytes = AS_DEFAULT_MAX_BATCH_BYTES;
  o->max_queue_requests = 65536;
  o->seal = true;
  o->compaction.min_files_to_compact = 3;
  o->compaction.target_file_size = (uint64_t)128 << 20;
  o->compaction.max_file_size = (uint64_t)256 << 20;
  o->compaction.small_file_threshold = (uint64_t)10 << 20;
  o->compaction.compaction_interval_seconds = 3600;
  o->compaction.auto_compact = true;
  o->compaction.strategy = AS_COMPACT_SIZE_BASED;
  o->snapshot_every_events = 100;
  o->snapshot_every_seconds = 3600;
  o->snapshot_max_per_entity = 10;
  o->log_level = AS_LOG_INFO;
}

const char *as_durability_name(as_durability d) {
  switch (d) {
    case AS_DURABILITY_SYNC: return "sync";
    case AS_DURABILITY_INTERVAL: return "interval";
    case AS_DURABILITY_NONE: return "none";
  }
  return "?";
}

void as_db_options(as_db *db, as_options *out) { *out = db->opt; }

void as_event_in_init(as_event_in *ev) {
  memset(ev, 0, sizeof *ev);
  ev->expected_version = AS_EXPECT_ANY;
}

/* --- Lookups ------------------------------------------------------------ */

typedef struct str_key {
  const char *s;
  size_t len;
} str_key;

static bool entity_eq(const void *obj, const void *key) {
  const as_entity *e = obj;
  const str_key *k = key;
  return e->id_len == k->len && memcmp(e->id, k->s, k->len) == 0;
}

static bool type_eq(const void *obj, const void *key) {
  const as_etype *t = obj;
  const str_key *k = key;
  return t->name_len == k->len && memcmp(t->name, k->s, k->len) == 0;
}

static bool id_eq(const void *obj, const void *key) {
  return memcmp(((const as_frame *)obj)->id, key, 16) == 0;
}

static uint64_t entity_hash_of(const void *obj, const void *ctx) {
  return ((const as_entity *)obj)->hash;
}

static uint64_t type_hash_of(const void *obj, const void *ctx) {
  return ((const as_etype *)obj)->hash;
}

static uint64_t id_hash_of(const void *obj, const void *ctx) {
  return as_hash(ctx, ((const as_frame *)obj)->id, 16);
}

as_entity *as__entity_find(as_db *db, const char *id, size_t len) {
  return as__entity_find_h(db, id, len, as_hash(&db->hkey, id, len));
}

as_entity *as__entity_find_h(as_db *db, const char *id, size_t len,
                             uint64_t h) {
  str_key k = {id, len};
  return as_swmap_find(&db->entities, h, entity_eq, &k);
}

as_etype *as__type_find(as_db *db, const char *name, size_t len) {
  str_key k = {name, len};
  return as_swmap_find(&db->types, as_hash(&db->hkey, name, len), type_eq, &k);
}

as_frame *as__id_find(as_db *db, const uint8_t id[16], uint64_t limit) {
  uint64_t p = as_uuid_v7_seq_of(id);
  if (p && p <= limit) {
    as_frame *f = as__frame_at(db, p);
    if (memcmp(f->id, id, 16) == 0) return f;
  }
  return as__id_map_find(db, id);
}

as_frame *as__id_map_find(as_db *db, const uint8_t id[16]) {
  return as_swmap_find(&db->ids, as_hash(&db->hkey, id, 16), id_eq, id);
}

bool as__id_is_positional(const as_frame *f) {
  return as_uuid_v7_seq_of(f->id) == f->position;
}

uint64_t as__entity_committed_count(const as_entity *e, uint64_t committed) {
  uint64_t n = as_plist_count(&e->list);
  if (n == 0) return 0;
  as_plist_cur c;
  as_plist_seek(&c, &e->list, n - 1);
  /* Uncommitted entries are few and at the tail. */
  while (as_plist_cur_get(&c) > committed) {
    if (--n == 0) return 0;
    as_plist_cur_prev(&c);
  }
  return n;
}

uint64_t as_db_committed_position(as_db *db) { return as__committed(db); }

/* --- Open and close -------------------------------------------------- */

static as_err on_segment(void *arg, void *buf, size_t len) {
  as_db *db = arg;
  as_err rc = as_arena_adopt(&db->arena, buf, len);
  if (rc) as_free(buf);
  return rc;
}

static as_err on_frame(void *arg, as_frame *f) {
  as_db *db = arg;
  as_err rc = as__index_frame(db, f, NULL, true);
  if (rc == AS_ECORRUPT)
    as__log(&db->log, AS_LOG_ERROR,
            "recovery: event at position %" PRIu64
            " breaks an invariant (version, timestamp order or unique id)",
            f->position);
  db->next_pos = f->position + 1;
  return rc;
}

static int free_entity(void *arg, void *obj) {
  as_entity *e = obj;
  as_plist_destroy(&e->list);
  as_free(e);
  return 0;
}

static int free_type(void *arg, void *obj) {
  as_etype *t = obj;
  as_plist_destroy(&t->list);
  as_free(t);
  return 0;
}

static char *path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *p = as_malloc(la + lb + 2);
  if (!p) return NULL;
  memcpy(p, a, la);
  p[la] = '/';
  memcpy(p + la + 1, b, lb + 1);
  return p;
}

static void db_free(as_db *db) {
  if (db->snaps_ready) as__snapstore_destroy(db);
  if (db->storage_ready) {
    as_manifest_free(&db->storage.manifest);
    pthread_mutex_destroy(&db->storage.mu);
    pthread_cond_destroy(&db->storage.cv);
    pthread_cond_destroy(&db->storage.done_cv);
    as_free(db->storage.pq_dir);
    as_pq_scratch_free(db->storage.pq_scratch);
  }
  if (db->entities.tab) as_swmap_foreach(&db->entities, free_entity, NULL);
  if (db->types.tab) as_swmap_foreach(&db->types, free_type, NULL);
  as_swmap_destroy(&db->entities);
  as_swmap_destroy(&db->types);
  as_swmap_destroy(&db->ids);
  as_posidx_destroy(&db->pos);
  as_arena_destroy(&db->arena);
  if (db->lock_fd >= 0) db->io->close(db->io->ctx, db->lock_fd);
  pthread_mutex_destroy(&db->qmu);
  pthread_cond_destroy(&db->qcv);
  as_free(db->dir);
  as_free(db->wal_dir);
  as_free(db);
}

static as_err open_storage(as_db *db, as_error *err) {
  as_err rc = AS_OK;
  char *lock = NULL;
  int r = db->opt.read_only ? 0 : db->io->mkdir(db->io->ctx, db->dir);
  if (r < 0)
    return as__error_set(err, as_io_err(r), 0, "", "%s: cannot create: %s",
                         db->dir, strerror(-r));
  lock = path_join(db->dir, "LOCK");
  db->wal_dir = path_join(db->dir, "wal");
  if (!lock || !db->wal_dir) AS_FAIL(as__error_set(err, AS_ENOMEM, 0, "", "out of memory"));
  db->lock_fd = db->io->lock(db->io->ctx, lock);
  if (db->lock_fd < 0) {
    rc = as_io_err(db->lock_fd);
    db->lock_fd = -1;
    AS_FAIL(as__error_set(err, rc, 0, "", "%s: %s", db->dir,
                          rc == AS_EBUSY ? "in use by another process"
                                         : "cannot lock"));
  }
  r = db->opt.read_only ? 0 : db->io->mkdir(db->io->ctx, db->wal_dir);
  if (r < 0)
    AS_FAIL(as__error_set(err, as_io_err(r), 0, "", "%s: cannot create: %s",
                          db->wal_dir, strerror(-r)));

  int64_t t0 = as_time_now_us();
  db->storage.pq_dir = path_join(db->dir, "parquet");
  if (!db->storage.pq_dir) AS_FAIL(as__error_set(err, AS_ENOMEM, 0, "", "out of memory"));
  uint64_t sealed = 0;
  AS_CHECK(as__storage_recover(db, &sealed, err));
  uint64_t from_files = db->next_pos - 1;
  as_wal_recovery rec;
  rc = as_wal_recover(db->io, db->wal_dir, &db->log, sealed, db->opt.read_only,
                      on_segment, on_frame, db, &rec, err);
  if (rc == AS_ECORRUPT && err && !err->message[0])
    as__error_set(err, rc, 0, "", "%s: an event breaks the log's invariants",
                  db->wal_dir);
  if (rc) goto out;
  db->next_pos = rec.next_position;
  db->recovery.segments = rec.segments;
  db->recovery.bytes = rec.bytes;
  db->recovery.truncated_bytes = rec.truncated_bytes;
  if (db->opt.read_only) {
    db->recovery.events = rec.events + from_files;
    as_wal_recovery_free(&rec);
    goto out; /* nothing is opened for writing */
  }
  rc = as_wal_open(&db->wal, db->io, &db->log, db->wal_dir, db->opt.segment_bytes,
                   db->opt.segment_events, &rec, err);
  as_wal_recovery_free(&rec);
  if (rc) goto out;
  rec.events += from_files;
  db->has_wal = true;
  db->recovery.events = rec.events; /* files + WAL tail */
  db->recovery.duration_us = (uint64_t)(as_time_now_us() - t0);
out:
  as_free(lock);
  return rc;
}

static as_err open_impl(const char *dir, const as_options *opt, bool is_meta,
                        as_db **out, as_error *err);

as_err as_db_open(const char *dir, const as_options *opt, as_db **out,
                  as_error *err) {
  return open_impl(dir, opt, false, out, err);
}

/* Opens dir/meta, the store of registries. */
static as_err open_meta(as_db *db, as_error *err) {
  as_options o = db->opt;
  o.seal = false;
  o.snapshot_every_events = 0;
  o.snapshot_every_seconds = 0;
  o.segment_events = 0;
  o.compaction.auto_compact = false;
  char *mdir = path_join(db->dir, "meta");
  if (!mdir) return AS_ENOMEM;
  if (o.read_only) { /* an old data directory may have no meta store */
    char *lock = path_join(mdir, "LOCK");
    int fd = lock ? db->io->open(db->io->ctx, lock, AS_IO_RDONLY) : -1;
    as_free(lock);
    if (fd < 0) {
      as_free(mdir);
      return AS_OK;
    }
    db->io->close(db->io->ctx, fd);
  }
  as_err rc = open_impl(mdir, &o, true, &db->meta, err);
  as_free(mdir);
  return rc;
}

static as_err open_impl(const char *dir, const as_options *opt, bool is_meta,
                        as_db **out, as_error *err) {
  as_err rc = AS_OK;
  as__error_clear(err);
  *out = NULL;
  as_db *db = as_calloc(1, sizeof *db);
  if (!db) return as__error_set(err, AS_ENOMEM, 0, "", "out of memory");
  if (opt)
    db->opt = *opt;
  else
    as_options_init(&db->opt);
  db->lock_fd = -1;
  db->is_meta = is_meta;
  pthread_mutex_init(&db->qmu, NULL);
  pthread_cond_init(&db->qcv, NULL);
  db->log.fn = db->opt.log_fn;
  db->log.ctx = db->opt.log_ctx;
  db->log.level = db->opt.log_level;
  db->io = db->opt.io ? db->opt.io : as_io_posix();

  if (db->opt.durability > AS_DURABILITY_NONE)
    AS_FAIL(as__error_set(err, AS_EINVAL, 0, "", "unknown durability mode"));
  if (db->opt.max_payload_bytes == 0 ||
      db->opt.max_payload_bytes > AS_HARD_MAX_PAYLOAD ||
      db->opt.max_metadata_bytes > AS_HARD_MAX_PAYLOAD ||
      db->opt.max_json_depth == 0 || db->opt.max_batch_events == 0 ||
      db->opt.segment_bytes < 4096 || db->opt.max_queue_requests == 0 ||
      (db->opt.durability == AS_DURABILITY_INTERVAL &&
       db->opt.sync_interval_ms == 0))
    AS_FAIL(as__error_set(err, AS_EINVAL, 0, "", "invalid options"));
  if (!dir && db->opt.durability != AS_DURABILITY_NONE)
    AS_FAIL(as__error_set(err, AS_EINVAL, 0, "",
                          "a data directory is required unless durability is "
                          "none"));

  as_rand_seed(&db->rng);
  db->hkey.k0 = as_rand_next(&db->rng);
  db->hkey.k1 = as_rand_next(&db->rng);
  as_rcu_init(&db->rcu);
  as_arena_init(&db->arena, 0);
  AS_CHECK(as_posidx_init(&db->pos));
  AS_CHECK(as_swmap_init(&db->entities, &db->rcu, entity_hash_of, NULL, 1024));
  AS_CHECK(as_swmap_init(&db->types, &db->rcu, type_hash_of, NULL, 16));
  /* only client-supplied ids (generated ones carry their position) */
  AS_CHECK(as_swmap_init(&db->ids, &db->rcu, id_hash_of, &db->hkey, 16));
  db->next_pos = 1;

  pthread_mutex_init(&db->storage.mu, NULL);
  pthread_cond_init(&db->storage.cv, NULL);
  pthread_cond_init(&db->storage.done_cv, NULL);
  as_manifest_init(&db->storage.manifest);
  db->storage_ready = true;
  if (db->opt.durability != AS_DURABILITY_NONE) {
    db->dir = as_strndup(dir, strlen(dir));
    if (!db->dir) AS_FAIL(AS_ENOMEM);
    AS_CHECK(open_storage(db, err));
  }
  atomic_store(&db->committed, db->next_pos - 1);
  atomic_store(&db->n_entities, db->entities.count);
  atomic_store(&db->n_types, db->types.count);
  db->cyc_new_entities = db->cyc_new_types = 0;

  as__snapstore_init(db);
  db->snaps_ready = true;
  if (db->dir && !is_meta) {
    AS_CHECK(open_meta(db, err));
    AS_CHECK(as__snapshots_load(db));
  }
  if (db->has_wal) AS_CHECK(as__storage_start(db));
  AS_CHECK(as__projmgr_start(db));
  AS_CHECK(as__builtin_projections_register(db));
  AS_CHECK(as__snapshots_auto_register(db));
  as__projmgr_builtins_done(db);
  AS_CHECK(as__writer_start(db));
  if (db->dir && !is_meta)
    as__log(&db->log, AS_LOG_INFO,
            "recovery: %" PRIu64 " events (%" PRIu64 " Parquet files, %" PRIu64
            " WAL segments of %" PRIu64 " bytes) in %.1f ms%s",
            db->recovery.events, atomic_load(&db->storage.files),
            db->recovery.segments, db->recovery.bytes,
            (double)db->recovery.duration_us / 1000.0,
            db->recovery.truncated_bytes ? ", torn tail cut off" : "");
  *out = db;
  return AS_OK;
out:
  if (err && err->code == AS_OK)
    as__error_set(err, rc, 0, "", "cannot open store: %s", as_strerror(rc));
  as__writer_stop(db);
  as__storage_stop(db);
  as__projmgr_stop(db);
  if (db->has_wal) as_wal_close(&db->wal);
  as_db_close(db->meta);
  db_free(db);
  return rc;
}

void as_db_close(as_db *db) {
  if (!db) return;
  as__writer_stop(db);
  as__storage_stop(db);
  if (db->has_wal) as_wal_close(&db->wal);
  as__projmgr_stop(db); /* may still persist automatic snapshots */
  as_db_close(db->meta);
  db_free(db);
}

void as_db_recovery_info(as_db *db, as_recovery_info *out) {
  *out = db->recovery;
}

void as_db_stats(as_db *db, as_stats *out) {
  memset(out, 0, sizeof *out);
  out->committed_position = as__committed(db);
  out->total_events = out->committed_position;
  out->total_entities = atomic_load(&db->n_entities);
  out->total_event_types = atomic_load(&db->n_types);
  if (db->has_wal) {
    out->storage_bytes = atomic_load(&db->wal.total_bytes);
    out->wal_segments = atomic_load(&db->wal.segments);
    out->syncs_total = atomic_load(&db->wal.syncs);
    for (int i = 0; i <= AS_SYNC_HIST_N; i++)
      out->sync_hist[i] = atomic_load_explicit(&db->wal.sync_hist[i], memory_order_relaxed);
    out->sync_us_total = atomic_load_explicit(&db->wal.sync_us, memory_order_relaxed);
  }
  out->memory_bytes = as__alloc_live_bytes();
  out->appends_total = atomic_load(&db->appends_total);
  out->parquet_files = atomic_load(&db->storage.files);
  out->parquet_bytes = atomic_load(&db->storage.bytes);
  out->sealed_position = atomic_load(&db->storage.sealed_through);
  out->recovered_events = db->recovery.events;
  out->durability = db->opt.durability;
}

/* --- Appending ------------------------------------------------------- */

/* Stack room for the request of a synchronous append of a few small
 * events (the request is ~450 bytes plus its frames): one malloc and free
 * fewer per call. */
#define APPEND_STACK_BYTES 2048

as_err as_append(as_db *db, const as_event_in *events, size_t n,
                 as_append_result *res, as_error *err) {
  _Alignas(max_align_t) unsigned char buf[APPEND_STACK_BYTES];
  as_req *r;
  as__error_clear(err);
  as_err rc = as__req_prepare(db, events, n, buf, sizeof buf, &r, err);
  if (rc) return rc;
  rc = as__submit_wait(db, r);
  if (rc) {
    if (err) *err = r->err;
    if (err && err->code == AS_OK) err->code = rc;
  } else if (res) {
    memcpy(res, r->res, sizeof *res * n);
  }
  as__req_free(r);
  return rc;
}

as_err as_append_async(as_db *db, const as_event_in *events, size_t n,
                       as_append_cb cb, void *arg, as_error *err) {
  as_req *r;
  as__error_clear(err);
  if (!cb) return as__error_set(err, AS_EINVAL, 0, "", "a callback is required");
  as_err rc = as__req_prepare(db, events, n, NULL, 0, &r, err);
  if (rc) return rc;
  r->cb = cb;
  r->cb_arg = arg;
  rc = as__submit(db, r);
  if (rc) {
    if (err) *err = r->err;
    as__req_free(r);
  }
  return rc;
}

as_err as_db_sync(as_db *db) {
  as_req *r = as_calloc(1, sizeof *r);
  if (!r) return AS_ENOMEM;
  r->force_sync = true;
  atomic_init(&r->state, AS_REQ_PENDING);
  as_err rc = as__submit_wait(db, r);
  as__req_free(r);
  return rc;
}

/* --- Memory accounting (benchmarks) ----------------------------------- */

static int sum_entity(void *arg, void *obj) {
  as_mem_report *m = arg;
  as_entity *e = obj;
  m->lists += as_plist_bytes(&e->list);
  m->entities += sizeof *e + e->id_len + 1 + 16; /* + allocator header */
  return 0;
}

static int sum_type(void *arg, void *obj) {
  as_mem_report *m = arg;
  as_etype *t = obj;
  m->lists += as_plist_bytes(&t->list);
  m->entities += sizeof *t + t->name_len + 1 + 16;
  return 0;
}

void as__mem_report(as_db *db, as_mem_report *out) {
  memset(out, 0, sizeof *out);
  out->records = db->arena.used;
  out->arena_reserved = db->arena.reserved;
  out->posidx = as_posidx_bytes(&db->pos);
  as_swmap_foreach(&db->entities, sum_entity, out);
  as_swmap_foreach(&db->types, sum_type, out);
  out->maps = as_swmap_bytes(&db->entities) + as_swmap_bytes(&db->types) +
              as_swmap_bytes(&db->ids);
  pthread_mutex_lock(&db->snaps.mu);
  out->snapshots = db->snaps.bytes;
  pthread_mutex_unlock(&db->snaps.mu);
  out->total = as__alloc_live_bytes();
}

as_err as_db_on_commit(as_db *db, as_commit_fn fn, void *arg) {
  pthread_mutex_lock(&db->qmu);
  int n = atomic_load(&db->nlisteners);
  as_err rc = AS_ELIMIT;
  for (int i = 0; i < n; i++) { /* reuse a removed slot */
    if (!atomic_load(&db->listeners[i].fn)) {
      atomic_store(&db->listeners[i].arg, arg);
      atomic_store(&db->listeners[i].fn, fn);
      pthread_mutex_unlock(&db->qmu);
      return AS_OK;
    }
  }
  if (n < (int)AS_ARRAY_LEN(db->listeners)) {
    atomic_store(&db->listeners[n].arg, arg);
    atomic_store(&db->listeners[n].fn, fn);
    atomic_store_explicit(&db->nlisteners, n + 1, memory_order_release);
    rc = AS_OK;
  }
  pthread_mutex_unlock(&db->qmu);
  return rc;
}

void as_db_off_commit(as_db *db, as_commit_fn fn, void *arg) {
  pthread_mutex_lock(&db->qmu);
  int n = atomic_load(&db->nlisteners);
  for (int i = 0; i < n; i++)
    if (atomic_load(&db->listeners[i].fn) == fn &&
        atomic_load(&db->listeners[i].arg) == arg)
      atomic_store(&db->listeners[i].fn, NULL);
  /* Listeners run inside a commit cycle, under the writer role: once the
   * role is free, no cycle can still be calling the removed one. */
  while (db->leader) {
    pthread_mutex_unlock(&db->qmu);
    sched_yield();
    pthread_mutex_lock(&db->qmu);
  }
  pthread_mutex_unlock(&db->qmu);
}

void as_db_set_validator(as_db *db, as_validate_fn fn, void *ctx) {
  atomic_store(&db->validator_ctx, ctx);
  atomic_store(&db->validator, fn);
}

as_db *as_db_meta(as_db *db) { return db->meta; }
