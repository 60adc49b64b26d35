/*
 * as_seal.c — the storage tier: sealing closed WAL segments into Parquet
 * files, recovery from the manifest + Parquet files, and compaction.
 *
 * DESIGN.  Every committed event stays in memory (the arena) for the life of
 * the store; Parquet files are the compact, durable, columnar form of the
 * sealed prefix of the log, and WAL segments hold only the unsealed tail.
 * Reads are served from memory whatever tier an event is in; recovery
 * rebuilds memory from the files in the manifest plus the WAL tail.
 *
 * SEALING ONE SEGMENT [first, last] (background thread, never blocks the
 * writer):
 *   1. write parquet/<name>.tmp from the in-memory events, fdatasync it;
 *   2. rename it to parquet/<name>, fsync the directory;
 *   3. write the new manifest (file added, sealed_through = last) atomically;
 *   4. delete the WAL segment(s) <= last, fsync the directory.
 * A crash before 3 leaves a file the manifest does not list: it is deleted
 * at the next open and the events are recovered from the WAL.  A crash
 * after 3 leaves WAL segments that hold only sealed positions: they are
 * deleted at the next open.  So nothing is lost and nothing is duplicated.
 *
 * COMPACTION rewrites a run of adjacent files as one file the same way:
 * write the new file, swap the manifest, delete the old files.  Readers
 * never read the files, so they are unaffected.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_err.h"
#include "engine/as_db_int.h"
#include "storage/as_parquet.h"

#define RETRY_US 1000000

const char *as_compaction_strategy_name(as_compaction_strategy s) {
  switch (s) {
    case AS_COMPACT_SIZE_BASED: return "sizebased";
    case AS_COMPACT_TIME_BASED: return "timebased";
    case AS_COMPACT_FULL: return "fullcompaction";
  }
  return "?";
}

/* --- Records from files ------------------------------------------------ */

as_frame *as__frame_from_event(as_db *db, const as_event *ev) {
  bool meta = ev->metadata != NULL;
  size_t len = as_frame_size(ev->tenant_id_len, ev->entity_id_len,
                             ev->event_type_len, ev->payload_len, meta,
                             meta ? ev->metadata_len : 0);
  as_frame *f = as_arena_alloc(&db->arena, len);
  if (!f) return NULL;
  memset(f, 0, AS_FRAME_HDR_SIZE);
  f->body_len = (uint32_t)(AS_FRAME_HDR_SIZE - 8 + ev->tenant_id_len + 1 +
                           ev->entity_id_len + 1 + ev->event_type_len + 1 +
                           ev->payload_len + 1 + (meta ? ev->metadata_len + 1 : 0));
  f->type = AS_FRAME_TYPE_EVENT;
  f->flags = (meta ? AS_FF_METADATA : 0) | AS_FF_BATCH_END;
  f->tenant_len = (uint16_t)ev->tenant_id_len;
  f->entity_len = (uint16_t)ev->entity_id_len;
  f->type_len = (uint16_t)ev->event_type_len;
  f->payload_len = ev->payload_len;
  f->metadata_len = meta ? ev->metadata_len : 0;
  f->position = ev->position;
  f->version = ev->version;
  f->timestamp_us = ev->timestamp_us;
  memcpy(f->id, ev->id, 16);
  char *d = f->data;
#define PUT(p, n)                   \
  do {                              \
    if (n) memcpy(d, (p), (n));     \
    d[n] = '\0';                    \
    d += (n) + 1;                   \
  } while (0)
  PUT(ev->tenant_id, ev->tenant_id_len);
  PUT(ev->entity_id, ev->entity_id_len);
  PUT(ev->event_type, ev->event_type_len);
  PUT(ev->payload, ev->payload_len);
  if (meta) PUT(ev->metadata, ev->metadata_len);
#undef PUT
  memset(d, 0, (size_t)((char *)f + len - d));
  return f;
}

static void path_of(as_db *db, const char *name, char *out, size_t n) {
  snprintf(out, n, "%s/%s", db->storage.pq_dir, name);
}

static bool listed(const as_manifest *m, const char *name) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->files[i].name, name) == 0) return true;
  return false;
}

typedef struct orphan_ctx {
  as_db *db;
  char **names;
  size_t n, cap;
} orphan_ctx;

static int collect_orphan(void *arg, const char *name) {
  orphan_ctx *c = arg;
  if (listed(&c->db->storage.manifest, name)) return 0;
  if (c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 8;
    char **v = as_realloc(c->names, sizeof *v * cap);
    if (!v) return 1;
    c->names = v;
    c->cap = cap;
  }
  c->names[c->n] = as_strndup(name, strlen(name));
  if (c->names[c->n]) c->n++;
  return 0;
}

as_err as__storage_recover(as_db *db, uint64_t *sealed_through, as_error *err) {
  as_storage *st = &db->storage;
  as_err rc = AS_OK;
  *sealed_through = 0;
  int r = db->opt.read_only ? 0 : db->io->mkdir(db->io->ctx, st->pq_dir);
  if (r < 0)
    return as__error_set(err, as_io_err(r), 0, "", "%s: cannot create: %s",
                         st->pq_dir, strerror(-r));
  AS_CHECK(as_manifest_load(db->io, db->dir, &st->manifest, err));

  /* Files the manifest does not list were left by a crash mid-seal or
   * mid-compaction: their events are in the WAL or in listed files. */
  orphan_ctx oc = {db, NULL, 0, 0};
  db->io->list_dir(db->io->ctx, st->pq_dir, collect_orphan, &oc);
  bool ro = db->opt.read_only;
  for (size_t i = 0; i < oc.n; i++) {
    char p[4200];
    path_of(db, oc.names[i], p, sizeof p);
    as__log(&db->log, ro ? AS_LOG_WARN : AS_LOG_INFO, "storage: %s unlisted file %s",
            ro ? "found" : "removing", p);
    if (!ro) db->io->unlink(db->io->ctx, p);
    as_free(oc.names[i]);
  }
  as_free(oc.names);
  db->recovery.unlisted_files = oc.n;
  if (oc.n && !ro) db->io->fsync_dir(db->io->ctx, st->pq_dir);

  uint64_t bytes = 0;
  for (size_t i = 0; i < st->manifest.n; i++) {
    const as_mfile *mf = &st->manifest.files[i];
    char p[4200];
    path_of(db, mf->name, p, sizeof p);
    as_pq_events *pe = NULL;
    AS_CHECK(as_pq_events_open(db->io, p, NULL, &pe, err));
    uint64_t expect = mf->first;
    as_event ev;
    for (;;) {
      as_err nr = as_pq_events_next(pe, &ev, err);
      if (nr == AS_DONE) break;
      if (nr) {
        as_pq_events_close(pe);
        AS_FAIL(nr);
      }
      as_frame *f = ev.position == expect ? as__frame_from_event(db, &ev) : NULL;
      as_err ir = !f ? (ev.position == expect ? AS_ENOMEM : AS_ECORRUPT)
                     : as__index_frame(db, f, NULL, true);
      if (ir) {
        as_pq_events_close(pe);
        AS_FAIL(as__error_set(err, ir, 0, "",
                              "%s: row for position %" PRIu64 ": %s", p,
                              ev.position,
                              ir == AS_ECORRUPT ? "out of sequence or breaks an "
                                                  "invariant"
                                                : as_strerror(ir)));
      }
      expect++;
      db->next_pos = expect;
    }
    as_pq_events_close(pe);
    if (expect != mf->last + 1)
      AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "",
                            "%s: holds positions up to %" PRIu64
                            ", the manifest says %" PRIu64,
                            p, expect - 1, mf->last));
    bytes += mf->bytes;
  }
  *sealed_through = st->manifest.sealed_through;
  db->recovery.parquet_files = st->manifest.n;
  atomic_store(&st->files, st->manifest.n);
  atomic_store(&st->bytes, bytes);
  atomic_store(&st->sealed_through, st->manifest.sealed_through);
out:
  return rc;
}

/* --- Writing files -------------------------------------------------- */

/* Writes events [first, last] from memory to parquet/<name> via a .tmp file.
 * Returns the file size in *bytes. */
static as_err write_range(as_db *db, uint64_t first, uint64_t last,
                          const char *name, uint64_t *bytes) {
  char tmp[4300], dst[4200];
  path_of(db, name, dst, sizeof dst);
  snprintf(tmp, sizeof tmp, "%s.tmp", dst);
  as_pq_write_options o;
  as_pq_write_options_init(&o);
  /* Only the storage thread writes files: one scratch serves them all. */
  if (!db->storage.pq_scratch) db->storage.pq_scratch = as_pq_scratch_new();
  o.scratch = db->storage.pq_scratch;
  as_error err;
  as_pq_writer *w;
  as_err rc = as_pq_writer_open(db->io, tmp, &o, &w, &err);
  if (rc) goto fail;
  for (uint64_t p = first; p <= last && !rc; p++) {
    as_event ev;
    as_frame_view(as__frame_at(db, p), &ev);
    rc = as_pq_writer_add(w, &ev, &err);
  }
  if (rc) {
    as_pq_writer_abort(w);
    goto fail;
  }
  rc = as_pq_writer_finish(w, bytes, &err);
  if (rc) goto fail;
  int r = db->io->rename(db->io->ctx, tmp, dst);
  if (r == 0) r = db->io->fsync_dir(db->io->ctx, db->storage.pq_dir);
  if (r < 0) {
    db->io->unlink(db->io->ctx, tmp);
    rc = as_io_err(r);
    snprintf(err.message, sizeof err.message, "cannot rename the .tmp file: %s",
             strerror(-r));
    goto fail;
  }
  return AS_OK;
fail:
  as__log(&db->log, AS_LOG_ERROR, "storage: cannot write %s: %s", dst,
          err.message[0] ? err.message : as_strerror(rc));
  return rc;
}

/* Saves manifest `m` and makes it current (caller holds no lock). */
static as_err publish_manifest(as_db *db, as_manifest *m) {
  as_storage *st = &db->storage;
  as_err rc = as_manifest_save(db->io, db->dir, m);
  if (rc) {
    as__log(&db->log, AS_LOG_ERROR, "storage: cannot write the manifest: %s",
            as_strerror(rc));
    return rc;
  }
  uint64_t bytes = 0;
  for (size_t i = 0; i < m->n; i++) bytes += m->files[i].bytes;
  pthread_mutex_lock(&st->mu);
  as_manifest old = st->manifest;
  st->manifest = *m;
  pthread_mutex_unlock(&st->mu);
  as_manifest_free(&old);
  atomic_store(&st->files, m->n);
  atomic_store(&st->bytes, bytes);
  atomic_store(&st->sealed_through, m->sealed_through);
  return AS_OK;
}

static as_err seal_segment(as_db *db, const as_wal_seg *seg) {
  as_storage *st = &db->storage;
  as_manifest m;
  pthread_mutex_lock(&st->mu);
  as_err rc = as_manifest_copy(&m, &st->manifest);
  pthread_mutex_unlock(&st->mu);
  if (rc) return rc;
  uint64_t first = AS_MAX(seg->first, m.sealed_through + 1);
  if (seg->last >= first) {
    as_mfile f;
    memset(&f, 0, sizeof f);
    f.first = first;
    f.last = seg->last;
    f.events = seg->last - first + 1;
    f.created_us = as_time_now_us();
    as_manifest_file_name(first, seg->last, m.generation + 1, f.name);
    rc = write_range(db, first, seg->last, f.name, &f.bytes);
    if (!rc) rc = as_manifest_add(&m, &f);
    if (rc) {
      as_manifest_free(&m);
      return rc;
    }
    m.generation++;
    m.sealed_through = seg->last;
    rc = publish_manifest(db, &m);
    if (rc) {
      as_manifest_free(&m);
      return rc;
    }
    as__log(&db->log, AS_LOG_DEBUG,
            "storage: sealed positions %" PRIu64 "..%" PRIu64 " into %s (%" PRIu64
            " bytes)",
            first, seg->last, f.name, f.bytes);
  } else {
    as_manifest_free(&m);
  }
  return as_wal_drop_through(&db->wal, seg->last);
}

/* --- Compaction ------------------------------------------------------ */

/* Appends to `out` the groups [a, b) of file indexes to merge. */
typedef struct group {
  size_t a, b;
} group;

static size_t select_groups(const as_manifest *m, const as_compaction_config *c,
                            group *out, size_t max) {
  size_t n = 0;
  int64_t now = as_time_now_us();
  size_t i = 0;
  while (i < m->n && n < max) {
    /* the next run of eligible files */
    bool eligible;
    size_t a = i;
    for (; i < m->n; i++) {
      const as_mfile *f = &m->files[i];
      switch (c->strategy) {
        case AS_COMPACT_SIZE_BASED: eligible = f->bytes < c->small_file_threshold; break;
        case AS_COMPACT_TIME_BASED:
          eligible = now - f->created_us > (int64_t)24 * 3600 * 1000000;
          break;
        default: eligible = true; break;
      }
      if (!eligible) break;
    }
    size_t b = i;
    if (i == a) {
      i++;
      continue;
    }
    if (c->strategy != AS_COMPACT_FULL && b - a < c->min_files_to_compact) continue;
    /* split the run into groups of at most target_file_size bytes */
    size_t g = a;
    while (g < b && n < max) {
      uint64_t sum = 0;
      size_t e = g;
      uint64_t cap = AS_MIN(c->target_file_size, c->max_file_size);
      while (e < b && (e == g || sum + m->files[e].bytes <= cap)) sum += m->files[e++].bytes;
      if (e - g >= 2) out[n++] = (group){g, e};
      g = e;
    }
  }
  return n;
}

static as_err compact_now(as_db *db, as_compaction_result *res) {
  as_storage *st = &db->storage;
  memset(res, 0, sizeof *res);
  int64_t t0 = as_time_now_us();
  as_manifest m;
  pthread_mutex_lock(&st->mu);
  as_err rc = as_manifest_copy(&m, &st->manifest);
  pthread_mutex_unlock(&st->mu);
  if (rc) return rc;
  enum { MAXG = 256 };
  group groups[MAXG];
  size_t ng = select_groups(&m, &db->opt.compaction, groups, MAXG);
  for (size_t gi = ng; gi-- > 0 && !rc;) { /* from the end: indexes stay valid */
    group g = groups[gi];
    as_mfile f;
    memset(&f, 0, sizeof f);
    f.first = m.files[g.a].first;
    f.last = m.files[g.b - 1].last;
    f.events = f.last - f.first + 1;
    f.created_us = as_time_now_us();
    uint64_t before = 0;
    for (size_t k = g.a; k < g.b; k++) before += m.files[k].bytes;
    as_manifest_file_name(f.first, f.last, m.generation + 1, f.name);
    rc = write_range(db, f.first, f.last, f.name, &f.bytes);
    if (rc) break;
    /* the new manifest: files [a, b) replaced by f */
    as_manifest nm;
    as_manifest_init(&nm);
    nm.generation = m.generation + 1;
    nm.sealed_through = m.sealed_through;
    for (size_t k = 0; k < m.n && !rc; k++) {
      if (k == g.a) rc = as_manifest_add(&nm, &f);
      if (k >= g.a && k < g.b) continue;
      if (!rc) rc = as_manifest_add(&nm, &m.files[k]);
    }
    as_manifest copy;
    if (!rc) rc = as_manifest_copy(&copy, &nm);
    if (!rc) {
      rc = publish_manifest(db, &copy);
      if (rc) as_manifest_free(&copy);
    }
    if (rc) {
      as_manifest_free(&nm);
      char p[4200];
      path_of(db, f.name, p, sizeof p);
      db->io->unlink(db->io->ctx, p);
      break;
    }
    for (size_t k = g.a; k < g.b; k++) {
      char p[4200];
      path_of(db, m.files[k].name, p, sizeof p);
      db->io->unlink(db->io->ctx, p);
    }
    db->io->fsync_dir(db->io->ctx, st->pq_dir);
    res->files_compacted += g.b - g.a;
    res->bytes_before += before;
    res->bytes_after += f.bytes;
    res->events_compacted += f.events;
    as_manifest_free(&m);
    m = nm;
  }
  as_manifest_free(&m);
  res->duration_ms = (uint64_t)(as_time_now_us() - t0) / 1000;
  pthread_mutex_lock(&st->mu);
  if (res->files_compacted) {
    st->stats.total_compactions++;
    st->stats.total_files_compacted += res->files_compacted;
    st->stats.total_bytes_before += res->bytes_before;
    st->stats.total_bytes_after += res->bytes_after;
    st->stats.total_events_compacted += res->events_compacted;
    st->stats.last_compaction_duration_ms = res->duration_ms;
    if (res->bytes_before > res->bytes_after)
      st->stats.space_saved_bytes += res->bytes_before - res->bytes_after;
  }
  st->last_compaction_us = as_time_now_us();
  pthread_mutex_unlock(&st->mu);
  return rc;
}

/* --- The storage thread --------------------------------------------- */

static void *storage_main(void *arg) {
  as_db *db = arg;
  as_storage *st = &db->storage;
  int64_t retry_at = 0;
  pthread_mutex_lock(&st->mu);
  for (;;) {
    if (st->compact_req != st->compact_done) {
      uint64_t ticket = st->compact_req;
      pthread_mutex_unlock(&st->mu);
      as_compaction_result res;
      as_err rc = compact_now(db, &res);
      pthread_mutex_lock(&st->mu);
      st->compact_rc = rc;
      st->compact_res = res;
      st->compact_done = ticket;
      pthread_cond_broadcast(&st->done_cv);
      continue;
    }
    as_wal_seg seg;
    int64_t now = as_time_now_us();
    if (db->opt.seal && now >= retry_at && as_wal_oldest_closed(&db->wal, &seg)) {
      pthread_mutex_unlock(&st->mu);
      as_err rc = seal_segment(db, &seg);
      pthread_mutex_lock(&st->mu);
      st->seal_error = rc;
      retry_at = rc ? as_time_now_us() + RETRY_US : 0;
      pthread_cond_broadcast(&st->done_cv);
      continue;
    }
    if (st->stop) break;
    const as_compaction_config *c = &db->opt.compaction;
    int64_t interval = (int64_t)c->compaction_interval_seconds * 1000000;
    if (c->auto_compact && interval > 0 && now - st->last_compaction_us >= interval) {
      pthread_mutex_unlock(&st->mu);
      as_compaction_result res;
      compact_now(db, &res);
      pthread_mutex_lock(&st->mu);
      continue;
    }
    int64_t wait = c->auto_compact && interval > 0
                       ? st->last_compaction_us + interval - now
                       : 3600 * (int64_t)1000000;
    if (retry_at && retry_at - now < wait) wait = retry_at - now;
    if (wait < 1000) wait = 1000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (wait % 1000000) * 1000;
    ts.tv_sec += wait / 1000000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&st->cv, &st->mu, &ts);
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

as_err as__storage_start(as_db *db) {
  as_storage *st = &db->storage;
  st->last_compaction_us = as_time_now_us();
  if (pthread_create(&st->thread, NULL, storage_main, db)) return AS_ENOMEM;
  st->started = true;
  return AS_OK;
}

void as__storage_stop(as_db *db) {
  as_storage *st = &db->storage;
  if (st->started) {
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    st->started = false;
  }
}

void as__storage_notify(as_db *db) {
  if (!db->storage_ready) return;
  pthread_mutex_lock(&db->storage.mu);
  pthread_cond_signal(&db->storage.cv);
  pthread_mutex_unlock(&db->storage.mu);
}

/* --- Public API -------------------------------------------------------- */

as_err as_db_seal(as_db *db) {
  if (!db->has_wal || !db->opt.seal) return AS_EUNSUPPORTED;
  uint64_t target = as__committed(db);
  as_req *r = as_calloc(1, sizeof *r);
  if (!r) return AS_ENOMEM;
  r->force_rotate = true;
  atomic_init(&r->state, AS_REQ_PENDING);
  as_err rc = as__submit_wait(db, r);
  as__req_free(r);
  if (rc) return rc;
  as_storage *st = &db->storage;
  pthread_mutex_lock(&st->mu);
  pthread_cond_signal(&st->cv);
  while (atomic_load(&st->sealed_through) < target && !st->seal_error)
    pthread_cond_wait(&st->done_cv, &st->mu);
  rc = atomic_load(&st->sealed_through) >= target ? AS_OK : st->seal_error;
  pthread_mutex_unlock(&st->mu);
  return rc;
}

as_err as_compact(as_db *db, as_compaction_result *out) {
  memset(out, 0, sizeof *out);
  if (!db->has_wal) return AS_EUNSUPPORTED;
  as_storage *st = &db->storage;
  pthread_mutex_lock(&st->mu);
  uint64_t ticket = ++st->compact_req;
  pthread_cond_signal(&st->cv);
  while (st->compact_done < ticket) pthread_cond_wait(&st->done_cv, &st->mu);
  as_err rc = st->compact_rc;
  *out = st->compact_res;
  pthread_mutex_unlock(&st->mu);
  return rc;
}

void as_compaction_stats_get(as_db *db, as_compaction_stats *out,
                             as_compaction_config *config) {
  memset(out, 0, sizeof *out);
  if (config) *config = db->opt.compaction;
  if (!db->has_wal) return;
  pthread_mutex_lock(&db->storage.mu);
  *out = db->storage.stats;
  pthread_mutex_unlock(&db->storage.mu);
}
