/*
 * as_wal.h — the write-ahead log: segment files of checksummed event frames.
 *
 * FILES.  data/wal/wal-<first position, 16 hex digits>.log.  Each segment
 * starts with a 64-byte header:
 *
 *    0  "ALLSRCWL"            magic
 *    8  u32 format version    (1)
 *   12  u32 header size       (64)
 *   16  u64 first position    of the segment's first frame
 *   24  i64 created           (microseconds since the epoch)
 *   32  u64 sync generation   at creation
 *   40  zero padding
 *   60  u32 CRC-32C           of bytes 0..59
 *
 * FRAMES.  After the header come frames, each 8-byte aligned, little-endian.
 * A frame is also the in-memory record of the event (see as_frame), so
 * recovery reads a segment into memory and indexes its frames in place.
 *
 *    0  u32 CRC-32C of bytes 4 .. 8+body_len (length and body)
 *    4  u32 body_len
 *    8  u8 type (1 = event)     9  u8 flags
 *   10  u16 tenant_len  12 u16 entity_len  14 u16 type_len
 *   16  u32 payload_len 20 u32 metadata_len
 *   24  u64 position    32 u64 version     40 i64 timestamp (µs)
 *   48  u64 sync generation                56 16-byte id
 *   72  tenant NUL entity NUL type NUL payload NUL [metadata NUL]
 *       zero padding to a multiple of 8
 *
 * INVARIANTS.
 *   1. Positions are consecutive across frames and segments (gap-free).
 *   2. An atomic batch is a run of frames whose last one has BATCH_END; a
 *      batch never spans two segments.
 *   3. `gen` of a frame = number of fdatasync calls completed on the log
 *      when the frame was written; the first frame written after a sync has
 *      WINDOW_FIRST.  So a frame with WINDOW_FIRST proves that everything
 *      before it was synced.
 *   4. A segment is synced before the next one is created, and a new
 *      segment's header is synced (and the directory fsync'd) before frames
 *      go into it.
 *
 * RECOVERY RULE.  A bad frame in any segment but the last is corruption:
 * open fails with AS_ECORRUPT naming the file and offset.  In the last
 * segment, a bad frame at offset X is a torn tail (cut off and logged)
 * unless a valid frame after X proves X was synced: the first valid frame
 * after X has WINDOW_FIRST, or a later valid frame has a higher generation.
 * An incomplete batch at the tail is cut off as a whole.
 */
#ifndef AS_WAL_H
#define AS_WAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "allsource.h"
#include "core/as_log.h"
#include "io/as_io.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "AllSource's record format assumes a little-endian host"
#endif

#define AS_WAL_MAGIC "ALLSRCWL"
#define AS_WAL_VERSION 1u
#define AS_WAL_HDR_SIZE 64u
#define AS_FRAME_HDR_SIZE 72u
#define AS_FRAME_MAX_BODY (24u << 20)

enum { AS_FRAME_TYPE_EVENT = 1 };
enum {
  AS_FF_BATCH_END = 1,
  AS_FF_WINDOW_FIRST = 2,
  AS_FF_METADATA = 4,
  AS_FF_ALL = 7
};

/** The frame header as laid out in memory and on disk. */
typedef struct as_frame {
  uint32_t crc;
  uint32_t body_len;
  uint8_t type;
  uint8_t flags;
  uint16_t tenant_len;
  uint16_t entity_len;
  uint16_t type_len;
  uint32_t payload_len;
  uint32_t metadata_len;
  uint64_t position;
  uint64_t version;
  int64_t timestamp_us;
  uint64_t gen;
  uint8_t id[16];
  char data[];
} as_frame;

_Static_assert(sizeof(as_frame) == AS_FRAME_HDR_SIZE, "frame header layout");

/** Total bytes (padded to 8) of a frame with these field lengths. */
static inline size_t as_frame_size(size_t tenant_len, size_t entity_len,
                                   size_t type_len, size_t payload_len,
                                   bool has_metadata, size_t metadata_len) {
  size_t body = AS_FRAME_HDR_SIZE - 8 + tenant_len + 1 + entity_len + 1 +
                type_len + 1 + payload_len + 1 +
                (has_metadata ? metadata_len + 1 : 0);
  return (8 + body + 7) & ~(size_t)7;
}

/** Fills the event view `ev` from frame `f` (pointers into the frame). */
void as_frame_view(const as_frame *f, as_event *ev);

/** Computes and stores the frame's CRC (after every field is final). */
void as_frame_seal(as_frame *f);

typedef enum as_frame_status {
  AS_FRAME_OK = 0,
  AS_FRAME_SHORT = 1, /* the frame would extend past the available bytes */
  AS_FRAME_BAD = 2    /* wrong checksum, sizes or structure */
} as_frame_status;

/** Checks the frame at buf[0..avail): sizes, structure and checksum.  Pure
 *  and bounded (the fuzz target exercises it).  On AS_FRAME_OK stores the
 *  padded frame length; otherwise sets *why to a static reason. */
as_frame_status as_frame_check(const unsigned char *buf, size_t avail,
                               size_t *frame_len, const char **why);

/* --- Segment headers --------------------------------------------------- */

void as_wal_header_encode(unsigned char out[AS_WAL_HDR_SIZE],
                          uint64_t first_position, int64_t created_us,
                          uint64_t gen);
/** AS_OK, or AS_EFORMAT (not a segment / other version) / AS_ECORRUPT. */
as_err as_wal_header_decode(const unsigned char *buf, size_t len,
                            uint64_t *first_position, uint64_t *gen);

/* --- Recovery -------------------------------------------------------- */

/** Receives each recovered frame, in position order, complete batches only.
 *  The frame lives in a buffer handed over by on_segment() before. */
typedef as_err (*as_wal_frame_fn)(void *arg, as_frame *f);
/** Receives each segment's bytes (allocated with as_malloc; ownership passes
 *  to the callee, who must keep them alive as long as frames are used). */
typedef as_err (*as_wal_segment_fn)(void *arg, void *buf, size_t len);

/** A segment file as the appender and the sealer see it. */
typedef struct as_wal_seg {
  uint64_t first;  /* first position */
  uint64_t last;   /* last position written (first - 1 while empty) */
  uint64_t bytes;  /* file size */
  bool closed;     /* rotated away from: immutable, synced, sealable */
} as_wal_seg;

typedef struct as_wal_recovery {
  uint64_t next_position;  /* first position to assign after recovery */
  uint64_t max_gen;        /* highest generation seen */
  uint64_t events;
  uint64_t segments;
  uint64_t bytes;
  uint64_t truncated_bytes;
  char last_segment[64];   /* file name of the last segment ("" if none) */
  uint64_t last_first_position;
  uint64_t last_size;      /* valid bytes of the last segment */
  as_wal_seg *segs;        /* every kept segment, oldest first (owned;
                              as_wal_open takes it over) */
  size_t nsegs;
} as_wal_recovery;

/** Reads every segment in `dir` in position order, verifying every header
 *  and frame, and hands complete batches to `on_frame`.  Cuts a torn tail
 *  off the last segment (ftruncate + fdatasync, logged).  `sealed_through`
 *  is the last position already stored in sealed Parquet files (0 if none):
 *  segments holding only such positions are deleted (a crash can leave them
 *  behind between sealing and deletion), frames up to it are verified but
 *  not handed over, and the log must continue at sealed_through + 1.
 *  Returns AS_ECORRUPT with `err` naming the file and offset on real
 *  corruption.  With `read_only` nothing is changed on disk: a torn tail
 *  or a leftover segment is only reported (logged and counted).  Free out->segs with as_wal_recovery_free() unless
 *  as_wal_open() took it. */
as_err as_wal_recover(const as_io *io, const char *dir, const as_logger *log,
                      uint64_t sealed_through, bool read_only,
                      as_wal_segment_fn on_segment, as_wal_frame_fn on_frame,
                      void *arg, as_wal_recovery *out, as_error *err);
void as_wal_recovery_free(as_wal_recovery *rec);

/* --- Appending ---------------------------------------------------------- */

typedef struct as_wal {
  const as_io *io;
  const as_logger *log;
  char dir[4096];
  int fd;                  /* current segment, -1 if none */
  uint64_t seg_first;      /* first position of the current segment */
  uint64_t seg_size;       /* write offset in the current segment */
  uint64_t prealloc_end;   /* file size: seg_size plus a zero-filled tail
                              written ahead (see as_wal.c) */
  uint64_t seg_max;        /* rotation threshold (bytes) */
  uint64_t seg_max_events; /* rotation threshold (events; 0 = none) */
  uint64_t seg_events;     /* events in the current segment */
  /* The segment list, shared with the sealer (guarded by segs_mu). */
  pthread_mutex_t segs_mu;
  as_wal_seg *segs;
  size_t nsegs, segs_cap;
  uint64_t gen;            /* fdatasync calls completed */
  bool window_first;       /* next frame starts a sync window */
  bool dirty;              /* written since the last sync */
  as_err failed;           /* sticky failure: no more writes */
  uint64_t rotations;      /* segments closed so far (writer) */
  _Atomic uint64_t total_bytes; /* bytes in all segments (stats) */
  _Atomic uint64_t segments;    /* segment files (stats) */
  _Atomic uint64_t syncs;       /* fdatasync calls (stats) */
  _Atomic uint64_t sync_hist[AS_SYNC_HIST_N + 1]; /* their durations (stats) */
  _Atomic uint64_t sync_us;
  uint64_t last_sync_us;   /* duration of the last fdatasync (appender) */
} as_wal;

/** Prepares appending after recovery: continues the last segment described
 *  by `rec` (taking over rec->segs) or creates the first one on the first
 *  write.  Segments rotate at `seg_max` bytes or `seg_max_events` events
 *  (0 = no event limit).  `dir` must exist. */
as_err as_wal_open(as_wal *w, const as_io *io, const as_logger *log,
                   const char *dir, uint64_t seg_max, uint64_t seg_max_events,
                   as_wal_recovery *rec, as_error *err);

/** Called before frames of a batch starting at `first_position` and `bytes`
 *  long are sealed: rotates to a new segment if the current one would pass
 *  the size limit (syncing the old one first).  After it returns, w->gen and
 *  w->window_first are what the frames must carry. */
as_err as_wal_prepare(as_wal *w, uint64_t first_position, uint64_t bytes);

/** Writes sealed frames (iovecs) at the end of the current segment.
 *  `events` frames ending at position `last` are in them. */
as_err as_wal_write(as_wal *w, const struct iovec *iov, int iovcnt,
                    uint64_t bytes, uint64_t events, uint64_t last);

/** The oldest closed segment (sealer).  False if none. */
bool as_wal_oldest_closed(as_wal *w, as_wal_seg *out);

/** Deletes every closed segment whose last position is <= `through`
 *  (sealer, after the manifest covering them is durable). */
as_err as_wal_drop_through(as_wal *w, uint64_t through);

/** fdatasync of the current segment (no-op if nothing was written since
 *  the last sync); increments the generation. */
as_err as_wal_sync(as_wal *w);

/** Closes the current segment (after syncing it) so the sealer can take it;
 *  the next write starts a new one.  No-op when it holds no frame. */
as_err as_wal_rotate(as_wal *w);

/** Syncs if dirty and closes the current segment. */
void as_wal_close(as_wal *w);

/** Formats a segment's file name for its first position into out[64]. */
void as_wal_segment_name(uint64_t first_position, char out[64]);

#endif /* AS_WAL_H */
