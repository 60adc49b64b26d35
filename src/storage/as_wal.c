/*
 * as_wal.c — WAL frames, segment files, appending and recovery.
 * The format and the recovery rule are described in as_wal.h.
 */
#include "storage/as_wal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_common.h"
#include "core/as_time.h"
#include "core/as_crc32c.h"
#include "core/as_err.h"

/* --- Frames ------------------------------------------------------------ */

void as_frame_view(const as_frame *f, as_event *ev) {
  const char *p = f->data;
  ev->position = f->position;
  ev->version = f->version;
  ev->timestamp_us = f->timestamp_us;
  memcpy(ev->id, f->id, 16);
  ev->tenant_id = p;
  ev->tenant_id_len = f->tenant_len;
  p += f->tenant_len + 1;
  ev->entity_id = p;
  ev->entity_id_len = f->entity_len;
  p += f->entity_len + 1;
  ev->event_type = p;
  ev->event_type_len = f->type_len;
  p += f->type_len + 1;
  ev->payload = p;
  ev->payload_len = f->payload_len;
  p += f->payload_len + 1;
  if (f->flags & AS_FF_METADATA) {
    ev->metadata = p;
    ev->metadata_len = f->metadata_len;
  } else {
    ev->metadata = NULL;
    ev->metadata_len = 0;
  }
}

void as_frame_seal(as_frame *f) {
  f->crc = as_crc32c(0, (const unsigned char *)f + 4, 4 + (size_t)f->body_len);
}

as_frame_status as_frame_check(const unsigned char *buf, size_t avail,
                               size_t *frame_len, const char **why) {
  if (avail < 8) {
    *why = "truncated frame header";
    return AS_FRAME_SHORT;
  }
  uint32_t body_len = as_get_u32(buf + 4);
  if (body_len < AS_FRAME_HDR_SIZE - 8 || body_len > AS_FRAME_MAX_BODY) {
    *why = "impossible frame length";
    return AS_FRAME_BAD;
  }
  size_t len = ((size_t)8 + body_len + 7) & ~(size_t)7;
  if (len > avail) {
    *why = "frame extends past the end of the file";
    return AS_FRAME_SHORT;
  }
  if (buf[8] != AS_FRAME_TYPE_EVENT) {
    *why = "unknown frame type";
    return AS_FRAME_BAD;
  }
  unsigned flags = buf[9];
  if (flags & ~(unsigned)AS_FF_ALL) {
    *why = "unknown frame flags";
    return AS_FRAME_BAD;
  }
  uint64_t tl = as_get_u16(buf + 10), el = as_get_u16(buf + 12),
           yl = as_get_u16(buf + 14), pl = as_get_u32(buf + 16),
           ml = as_get_u32(buf + 20);
  bool meta = flags & AS_FF_METADATA;
  if (!meta && ml != 0) {
    *why = "metadata length without metadata flag";
    return AS_FRAME_BAD;
  }
  uint64_t want = AS_FRAME_HDR_SIZE - 8 + tl + 1 + el + 1 + yl + 1 + pl + 1 +
                  (meta ? ml + 1 : 0);
  if (want != body_len || tl == 0 || el == 0 || yl == 0 || pl == 0) {
    *why = "inconsistent field lengths";
    return AS_FRAME_BAD;
  }
  uint32_t crc = as_crc32c(0, buf + 4, 4 + (size_t)body_len);
  if (crc != as_get_u32(buf)) {
    *why = "checksum mismatch";
    return AS_FRAME_BAD;
  }
  const unsigned char *d = buf + AS_FRAME_HDR_SIZE;
  size_t o = tl;
  if (d[o] != 0 || d[o += el + 1] != 0 || d[o += yl + 1] != 0 ||
      d[o += pl + 1] != 0 || (meta && d[o += ml + 1] != 0)) {
    *why = "missing string terminator";
    return AS_FRAME_BAD;
  }
  if (as_get_u64(buf + 24) == 0 || as_get_u64(buf + 32) == 0) {
    *why = "zero position or version";
    return AS_FRAME_BAD;
  }
  *frame_len = len;
  return AS_FRAME_OK;
}

/* --- Segment headers ------------------------------------------------- */

void as_wal_header_encode(unsigned char out[AS_WAL_HDR_SIZE],
                          uint64_t first_position, int64_t created_us,
                          uint64_t gen) {
  memset(out, 0, AS_WAL_HDR_SIZE);
  memcpy(out, AS_WAL_MAGIC, 8);
  as_put_u32(out + 8, AS_WAL_VERSION);
  as_put_u32(out + 12, AS_WAL_HDR_SIZE);
  as_put_u64(out + 16, first_position);
  as_put_u64(out + 24, (uint64_t)created_us);
  as_put_u64(out + 32, gen);
  as_put_u32(out + 60, as_crc32c(0, out, 60));
}

as_err as_wal_header_decode(const unsigned char *buf, size_t len,
                            uint64_t *first_position, uint64_t *gen) {
  if (len < AS_WAL_HDR_SIZE) return AS_ECORRUPT;
  if (as_crc32c(0, buf, 60) != as_get_u32(buf + 60)) return AS_ECORRUPT;
  if (memcmp(buf, AS_WAL_MAGIC, 8) != 0) return AS_EFORMAT;
  if (as_get_u32(buf + 8) != AS_WAL_VERSION ||
      as_get_u32(buf + 12) != AS_WAL_HDR_SIZE)
    return AS_EFORMAT;
  *first_position = as_get_u64(buf + 16);
  *gen = as_get_u64(buf + 32);
  return AS_OK;
}

void as_wal_segment_name(uint64_t first_position, char out[64]) {
  snprintf(out, 64, "wal-%016" PRIx64 ".log", first_position);
}

/* --- Recovery -------------------------------------------------------- */

typedef struct seg_ent {
  uint64_t first;
  char name[64];
} seg_ent;

typedef struct seg_list {
  seg_ent *v;
  size_t n, cap;
  as_err rc;
} seg_list;

static int parse_segment_name(const char *name, uint64_t *first) {
  size_t len = strlen(name);
  if (len != 24 || strncmp(name, "wal-", 4) != 0 ||
      strcmp(name + 20, ".log") != 0)
    return -1;
  uint64_t v = 0;
  for (int i = 4; i < 20; i++) {
    char c = name[i];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (uint64_t)d;
  }
  *first = v;
  return 0;
}

static int collect_segment(void *arg, const char *name) {
  seg_list *l = arg;
  uint64_t first;
  if (parse_segment_name(name, &first)) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    seg_ent *v = as_realloc(l->v, cap * sizeof *v);
    if (!v) {
      l->rc = AS_ENOMEM;
      return 1;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n].first = first;
  snprintf(l->v[l->n].name, sizeof l->v[l->n].name, "%s", name);
  l->n++;
  return 0;
}

static int cmp_seg(const void *a, const void *b) {
  const seg_ent *x = a, *y = b;
  return x->first < y->first ? -1 : x->first > y->first;
}

/* Looks for valid frames after offset x (8-aligned) in the last segment.
 * Returns the first one found (or NULL) and the highest generation seen. */
static const as_frame *scan_after(const unsigned char *buf, size_t size,
                                  size_t x, uint64_t *max_gen) {
  const as_frame *first = NULL;
  *max_gen = 0;
  size_t y = x + 8;
  while (y + 8 <= size) {
    size_t flen;
    const char *why;
    if (as_frame_check(buf + y, size - y, &flen, &why) == AS_FRAME_OK) {
      const as_frame *f = (const as_frame *)(const void *)(buf + y);
      if (!first) first = f;
      if (f->gen > *max_gen) *max_gen = f->gen;
      y += flen;
    } else {
      y += 8;
    }
  }
  return first;
}

static bool all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

static as_err add_seg(as_wal_recovery *out, size_t *cap, uint64_t first,
                      uint64_t last, uint64_t bytes, bool closed) {
  if (out->nsegs == *cap) {
    size_t nc = *cap ? *cap * 2 : 16;
    as_wal_seg *v = as_realloc(out->segs, sizeof *v * nc);
    if (!v) return AS_ENOMEM;
    out->segs = v;
    *cap = nc;
  }
  out->segs[out->nsegs++] = (as_wal_seg){first, last, bytes, closed};
  return AS_OK;
}

void as_wal_recovery_free(as_wal_recovery *rec) {
  as_free(rec->segs);
  rec->segs = NULL;
  rec->nsegs = 0;
}

static as_err remove_segment(const as_io *io, const char *dir, const char *path,
                             bool read_only, as_error *err) {
  if (read_only) return AS_OK; /* reported, left in place */
  int ur = io->unlink(io->ctx, path);
  if (ur == 0) ur = io->fsync_dir(io->ctx, dir);
  if (ur < 0)
    return as__error_set(err, as_io_err(ur), 0, "", "%s: cannot remove: %s", path,
                         strerror(-ur));
  return AS_OK;
}

as_err as_wal_recover(const as_io *io, const char *dir, const as_logger *log,
                      uint64_t sealed_through, bool read_only,
                      as_wal_segment_fn on_segment, as_wal_frame_fn on_frame,
                      void *arg, as_wal_recovery *out, as_error *err) {
  as_err rc = AS_OK;
  seg_list segs = {0};
  unsigned char *buf = NULL;
  char path[4200];
  size_t segs_cap = 0;

  memset(out, 0, sizeof *out);
  out->next_position = sealed_through + 1;

  int lr = io->list_dir(io->ctx, dir, collect_segment, &segs);
  if (lr < 0) {
    rc = as__error_set(err, as_io_err(lr), 0, "", "%s: cannot list: %s", dir,
                       strerror(-lr));
    goto out;
  }
  if (segs.rc) AS_FAIL(as__error_set(err, segs.rc, 0, "", "out of memory"));
  if (segs.n > 1) qsort(segs.v, segs.n, sizeof *segs.v, cmp_seg);

  /* Segments followed by one that starts at or before sealed_through + 1
   * hold only sealed positions: a crash came between sealing and deleting. */
  size_t first_kept = 0;
  while (first_kept + 1 < segs.n && segs.v[first_kept + 1].first <= sealed_through + 1) {
    snprintf(path, sizeof path, "%s/%s", dir, segs.v[first_kept].name);
    as__log(log, AS_LOG_INFO, "wal: removing %s (already sealed)", path);
    AS_CHECK(remove_segment(io, dir, path, read_only, err));
    first_kept++;
  }

  uint64_t next = 0; /* set by the first kept segment's header */
  for (size_t i = first_kept; i < segs.n; i++) {
    bool last = i + 1 == segs.n;
    size_t size;
    snprintf(path, sizeof path, "%s/%s", dir, segs.v[i].name);
    int r = as_io_read_file(io, path, (size_t)1 << 34, (char **)&buf, &size);
    if (r < 0)
      AS_FAIL(as__error_set(err, as_io_err(r), 0, "", "%s: cannot read: %s",
                            path, strerror(-r)));
    uint64_t hfirst, hgen;
    as_err hr = as_wal_header_decode(buf, size, &hfirst, &hgen);
    if (hr == AS_ECORRUPT && last) {
      /* A segment whose creation did not finish (its header is only synced
       * before any frame goes in): nothing in it was ever acknowledged. */
      as__log(log, AS_LOG_WARN,
              "wal: removing incomplete segment %s (%zu bytes, no valid "
              "header)",
              path, size);
      AS_CHECK(remove_segment(io, dir, path, read_only, err));
      out->truncated_bytes += size;
      as_free(buf);
      buf = NULL;
      break;
    }
    if (hr)
      AS_FAIL(as__error_set(err, hr, 0, "",
                            "%s: offset 0: %s segment header", path,
                            hr == AS_EFORMAT ? "unsupported" : "corrupt"));
    if (i == first_kept) {
      if (hfirst > sealed_through + 1)
        AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "",
                              "%s: offset 16: the log starts at position %" PRIu64
                              " but positions up to %" PRIu64 " are missing",
                              path, hfirst, hfirst - 1));
      next = hfirst;
    }
    if (hfirst != next || hfirst != segs.v[i].first)
      AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "",
                            "%s: offset 16: segment starts at position %" PRIu64
                            ", expected %" PRIu64,
                            path, hfirst, next));
    if (hgen > out->max_gen) out->max_gen = hgen;

    /* Hand the bytes over first: frames point into them. */
    unsigned char *seg = buf;
    buf = NULL;
    AS_CHECK(on_segment(arg, seg, size));

    size_t off = AS_WAL_HDR_SIZE, pending = off;
    uint64_t pending_first = next;
    const char *why = NULL;
    bool pos_mismatch = false;
    while (off < size) {
      size_t flen;
      if (as_frame_check(seg + off, size - off, &flen, &why) != AS_FRAME_OK)
        break;
      as_frame *f = (as_frame *)(void *)(seg + off);
      if (f->position != next) {
        why = "position out of sequence";
        pos_mismatch = true;
        break;
      }
      next++;
      if (f->gen > out->max_gen) out->max_gen = f->gen;
      off += flen;
      if (f->flags & AS_FF_BATCH_END) {
        for (size_t o = pending; o < off;) {
          as_frame *g = (as_frame *)(void *)(seg + o);
          if (g->position > sealed_through) {
            AS_CHECK(on_frame(arg, g));
            out->events++;
          }
          o += ((size_t)8 + g->body_len + 7) & ~(size_t)7;
        }
        pending = off;
        pending_first = next;
      }
    }
    if (off < size && pending == off && all_zero(seg + off, size - off)) {
      /* The zero-filled space written ahead of the frames (as_wal_write):
       * the clean end of the segment, whatever the previous process did. */
      if (!read_only) {
        int fd = io->open(io->ctx, path, AS_IO_RDWR);
        int tr = fd < 0 ? fd : io->ftruncate(io->ctx, fd, off);
        if (tr == 0) tr = io->fdatasync(io->ctx, fd);
        if (fd >= 0) io->close(io->ctx, fd);
        if (tr < 0)
          AS_FAIL(as__error_set(err, as_io_err(tr), 0, "",
                                "%s: cannot cut the preallocated tail: %s", path,
                                strerror(-tr)));
      }
      size = off;
    }
    if (off < size || pending < off) {
      size_t x = off;
      if (!why) why = "incomplete batch at the end of the segment";
      if (!last || pos_mismatch)
        AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "",
                              "%s: offset %zu: %s", path, x, why));
      uint64_t max_after;
      const as_frame *f = scan_after(seg, size, x, &max_after);
      if (f && ((f->flags & AS_FF_WINDOW_FIRST) || max_after > f->gen))
        AS_FAIL(as__error_set(
            err, AS_ECORRUPT, 0, "",
            "%s: offset %zu: %s, and synced frames follow it (position %" PRIu64
            ")",
            path, x, why, f->position));
      as__log(log, AS_LOG_WARN,
              "wal: %s: torn tail at offset %zu (%s): cutting %zu bytes "
              "(%" PRIu64 " unacknowledged events)",
              path, pending, why, size - pending, next - pending_first);
      int fd = read_only ? 0 : io->open(io->ctx, path, AS_IO_RDWR);
      int tr = read_only || fd < 0 ? fd : io->ftruncate(io->ctx, fd, pending);
      if (!read_only && tr == 0) tr = io->fdatasync(io->ctx, fd);
      if (!read_only && fd >= 0) io->close(io->ctx, fd);
      if (tr < 0)
        AS_FAIL(as__error_set(err, as_io_err(tr), 0, "",
                              "%s: cannot truncate torn tail: %s", path,
                              strerror(-tr)));
      out->truncated_bytes += size - pending;
      size = pending;
      next = pending_first;
    }
    if (last && next <= sealed_through + 1 && next > hfirst) {
      /* The last segment holds only sealed positions: drop it, so a new
       * segment starts at sealed_through + 1. */
      as__log(log, AS_LOG_INFO, "wal: removing %s (already sealed)", path);
      AS_CHECK(remove_segment(io, dir, path, read_only, err));
      break;
    }
    if (last && next < sealed_through + 1)
      AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "",
                            "%s: the log ends at %" PRIu64
                            " before the sealed position %" PRIu64,
                            path, next - 1, sealed_through));
    AS_CHECK(add_seg(out, &segs_cap, hfirst, next - 1, size, !last));
    out->segments++;
    out->bytes += size;
    snprintf(out->last_segment, sizeof out->last_segment, "%s",
             segs.v[i].name);
    out->last_first_position = hfirst;
    out->last_size = size;
  }
  if (next > out->next_position) out->next_position = next;
  /* The newest kept segment is where appending continues. */
  if (out->nsegs) out->segs[out->nsegs - 1].closed = false;
out:
  as_free(buf);
  as_free(segs.v);
  if (rc) as_wal_recovery_free(out);
  return rc;
}

/* --- Appending -------------------------------------------------------- */

static as_err segs_push(as_wal *w, uint64_t first) {
  pthread_mutex_lock(&w->segs_mu);
  as_err rc = AS_OK;
  if (w->nsegs == w->segs_cap) {
    size_t cap = w->segs_cap ? w->segs_cap * 2 : 16;
    as_wal_seg *v = as_realloc(w->segs, sizeof *v * cap);
    if (!v) {
      rc = AS_ENOMEM;
      goto out;
    }
    w->segs = v;
    w->segs_cap = cap;
  }
  w->segs[w->nsegs++] = (as_wal_seg){first, first - 1, AS_WAL_HDR_SIZE, false};
out:
  pthread_mutex_unlock(&w->segs_mu);
  return rc;
}

static as_err create_segment(as_wal *w, uint64_t first_position) {
  char name[64], path[4200];
  as_wal_segment_name(first_position, name);
  snprintf(path, sizeof path, "%s/%s", w->dir, name);
  if (segs_push(w, first_position)) return AS_ENOMEM;
  int fd = w->io->open(w->io->ctx, path, AS_IO_RDWR | AS_IO_CREAT | AS_IO_EXCL);
  if (fd < 0) {
    as__log(w->log, AS_LOG_ERROR, "wal: cannot create %s: %s", path,
            strerror(-fd));
    return as_io_err(fd);
  }
  unsigned char hdr[AS_WAL_HDR_SIZE];
  as_wal_header_encode(hdr, first_position, as_time_now_us(), w->gen);
  int r = as_io_pwrite_all(w->io, fd, hdr, sizeof hdr, 0);
  if (r == 0) r = w->io->fdatasync(w->io->ctx, fd);
  if (r == 0) r = w->io->fsync_dir(w->io->ctx, w->dir);
  if (r < 0) {
    as__log(w->log, AS_LOG_ERROR, "wal: cannot initialize %s: %s", path,
            strerror(-r));
    w->io->close(w->io->ctx, fd);
    return as_io_err(r);
  }
  w->fd = fd;
  w->seg_first = first_position;
  w->seg_size = AS_WAL_HDR_SIZE;
  w->prealloc_end = AS_WAL_HDR_SIZE;
  w->seg_events = 0;
  atomic_fetch_add(&w->segments, 1);
  atomic_fetch_add(&w->total_bytes, AS_WAL_HDR_SIZE);
  return AS_OK;
}

as_err as_wal_open(as_wal *w, const as_io *io, const as_logger *log,
                   const char *dir, uint64_t seg_max, uint64_t seg_max_events,
                   as_wal_recovery *rec, as_error *err) {
  memset(w, 0, sizeof *w);
  w->io = io;
  w->log = log;
  w->fd = -1;
  w->seg_max = seg_max;
  w->seg_max_events = seg_max_events;
  w->gen = rec->max_gen + 1;
  w->window_first = true;
  pthread_mutex_init(&w->segs_mu, NULL);
  snprintf(w->dir, sizeof w->dir, "%s", dir);
  atomic_init(&w->total_bytes, rec->bytes);
  atomic_init(&w->segments, rec->segments);
  atomic_init(&w->syncs, 0);
  w->segs = rec->segs;
  w->nsegs = w->segs_cap = rec->nsegs;
  rec->segs = NULL;
  rec->nsegs = 0;
  if (!rec->last_segment[0]) return AS_OK; /* created on first write */
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, rec->last_segment);
  int fd = io->open(io->ctx, path, AS_IO_RDWR);
  /* Whatever a previous process wrote but did not sync may still sit in the
   * page cache; make it durable before acknowledging anything after it. */
  int r = fd < 0 ? fd : io->fdatasync(io->ctx, fd);
  if (r == 0) r = io->fsync_dir(io->ctx, dir);
  if (r < 0) {
    if (fd >= 0) io->close(io->ctx, fd);
    return as__error_set(err, as_io_err(r), 0, "", "%s: cannot open: %s", path,
                         strerror(-r));
  }
  w->fd = fd;
  w->seg_first = rec->last_first_position;
  w->seg_size = rec->last_size;
  w->prealloc_end = rec->last_size; /* recovery cut any zero tail */
  w->seg_events = w->nsegs ? w->segs[w->nsegs - 1].last + 1 - w->seg_first : 0;
  return AS_OK;
}

static const uint64_t k_sync_bounds_us[AS_SYNC_HIST_N] = AS_SYNC_HIST_BOUNDS_US;

as_err as_wal_sync(as_wal *w) {
  if (w->failed) return w->failed;
  if (!w->dirty) return AS_OK;
  uint64_t t0 = (uint64_t)as_time_mono_us();
  int r = w->io->fdatasync(w->io->ctx, w->fd);
  uint64_t us = (uint64_t)as_time_mono_us() - t0;
  if (r < 0) {
    as__log(w->log, AS_LOG_ERROR,
            "wal: fdatasync failed: %s; the store is now read-only",
            strerror(-r));
    return w->failed = as_io_err(r);
  }
  w->gen++;
  w->window_first = true;
  w->dirty = false;
  size_t b = 0;
  while (b < AS_SYNC_HIST_N && us > k_sync_bounds_us[b]) b++;
  atomic_fetch_add_explicit(&w->sync_hist[b], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->sync_us, us, memory_order_relaxed);
  atomic_fetch_add_explicit(&w->syncs, 1, memory_order_relaxed);
  w->last_sync_us = us;
  return AS_OK;
}

/* Cuts the zero-filled tail off the current segment (before it is closed),
 * so closed segments end with their last frame.  The next sync makes the
 * new size durable; recovery accepts a zero tail in any segment anyway. */
static as_err cut_prealloc(as_wal *w) {
  if (w->prealloc_end <= w->seg_size) return AS_OK;
  int r = w->io->ftruncate(w->io->ctx, w->fd, w->seg_size);
  if (r < 0) {
    as__log(w->log, AS_LOG_ERROR, "wal: cannot truncate a segment: %s; the store is now read-only",
            strerror(-r));
    return w->failed = as_io_err(r);
  }
  w->prealloc_end = w->seg_size;
  w->dirty = true;
  return AS_OK;
}

as_err as_wal_rotate(as_wal *w) {
  if (w->failed) return w->failed;
  if (w->fd < 0 || w->seg_size <= AS_WAL_HDR_SIZE) return AS_OK;
  as_err rc = cut_prealloc(w);
  if (rc) return rc;
  rc = as_wal_sync(w);
  if (rc) return rc;
  w->io->close(w->io->ctx, w->fd);
  w->fd = -1;
  pthread_mutex_lock(&w->segs_mu);
  w->segs[w->nsegs - 1].closed = true; /* synced: the sealer may take it */
  pthread_mutex_unlock(&w->segs_mu);
  w->rotations++;
  return AS_OK;
}

as_err as_wal_prepare(as_wal *w, uint64_t first_position, uint64_t bytes) {
  if (w->failed) return w->failed;
  bool full = w->seg_size + bytes > w->seg_max ||
              (w->seg_max_events && w->seg_events >= w->seg_max_events);
  if (full) {
    as_err rc = as_wal_rotate(w);
    if (rc) return rc;
  }
  if (w->fd < 0) {
    as_err rc = create_segment(w, first_position);
    if (rc) return w->failed = rc;
  }
  return AS_OK;
}

/* Frames overwrite zeros written ahead of them rather than extend the
 * file: an fdatasync after an overwrite flushes the data blocks only, while
 * one after an append must also commit the inode's new size to the file
 * system's journal (on ext4 here: 130 us against 200 us for a 4 KiB write).
 * The zeros are written PREALLOC_CHUNK at a time (up to the rotation size);
 * the first fdatasync after each chunk pays for it once.  Recovery treats a
 * zero tail as the clean end of a segment and cuts it. */
#define PREALLOC_CHUNK ((uint64_t)1 << 20)

static int ensure_prealloc(as_wal *w, uint64_t bytes) {
  static const unsigned char zeros[64 << 10];
  uint64_t need = w->seg_size + bytes;
  if (need <= w->prealloc_end) return 0;
  uint64_t to = need + PREALLOC_CHUNK;
  if (to > w->seg_max) to = need > w->seg_max ? need : w->seg_max;
  uint64_t off = w->prealloc_end > w->seg_size ? w->prealloc_end : w->seg_size;
  while (off < to) {
    struct iovec iov[16];
    int n = 0;
    uint64_t len = 0;
    while (n < 16 && off + len < to) {
      uint64_t k = to - off - len < sizeof zeros ? to - off - len : sizeof zeros;
      iov[n].iov_base = (void *)zeros;
      iov[n].iov_len = (size_t)k;
      len += k;
      n++;
    }
    int r = as_io_pwritev_all(w->io, w->fd, iov, n, off);
    if (r < 0) return r;
    off += len;
  }
  w->prealloc_end = to;
  return 0;
}

as_err as_wal_write(as_wal *w, const struct iovec *iov, int iovcnt,
                    uint64_t bytes, uint64_t events, uint64_t last) {
  if (w->failed) return w->failed;
  int r = ensure_prealloc(w, bytes);
  if (r == 0) r = as_io_pwritev_all(w->io, w->fd, iov, iovcnt, w->seg_size);
  if (r < 0) {
    as__log(w->log, AS_LOG_ERROR,
            "wal: write failed: %s; the store is now read-only", strerror(-r));
    return w->failed = as_io_err(r);
  }
  w->seg_size += bytes;
  w->seg_events += events;
  w->dirty = true;
  w->window_first = false;
  pthread_mutex_lock(&w->segs_mu);
  w->segs[w->nsegs - 1].last = last;
  w->segs[w->nsegs - 1].bytes = w->seg_size;
  pthread_mutex_unlock(&w->segs_mu);
  atomic_fetch_add_explicit(&w->total_bytes, bytes, memory_order_relaxed);
  return AS_OK;
}

bool as_wal_oldest_closed(as_wal *w, as_wal_seg *out) {
  pthread_mutex_lock(&w->segs_mu);
  bool found = w->nsegs && w->segs[0].closed;
  if (found) *out = w->segs[0];
  pthread_mutex_unlock(&w->segs_mu);
  return found;
}

as_err as_wal_drop_through(as_wal *w, uint64_t through) {
  as_err rc = AS_OK;
  for (;;) {
    pthread_mutex_lock(&w->segs_mu);
    bool drop = w->nsegs && w->segs[0].closed && w->segs[0].last <= through;
    as_wal_seg s = drop ? w->segs[0] : (as_wal_seg){0};
    pthread_mutex_unlock(&w->segs_mu);
    if (!drop) break;
    char name[64], path[4200];
    as_wal_segment_name(s.first, name);
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    int r = w->io->unlink(w->io->ctx, path);
    if (r < 0 && r != -ENOENT) {
      as__log(w->log, AS_LOG_ERROR, "wal: cannot remove sealed %s: %s", path,
              strerror(-r));
      rc = as_io_err(r);
      break;
    }
    pthread_mutex_lock(&w->segs_mu);
    memmove(w->segs, w->segs + 1, sizeof *w->segs * (w->nsegs - 1));
    w->nsegs--;
    pthread_mutex_unlock(&w->segs_mu);
    atomic_fetch_sub(&w->segments, 1);
    atomic_fetch_sub(&w->total_bytes, s.bytes);
  }
  int r = w->io->fsync_dir(w->io->ctx, w->dir);
  if (!rc && r < 0) rc = as_io_err(r);
  return rc;
}

void as_wal_close(as_wal *w) {
  if (w->fd >= 0) {
    if (!w->failed) cut_prealloc(w);
    as_wal_sync(w);
    w->io->close(w->io->ctx, w->fd);
    w->fd = -1;
  }
  as_free(w->segs);
  w->segs = NULL;
  w->nsegs = 0;
  pthread_mutex_destroy(&w->segs_mu);
}
