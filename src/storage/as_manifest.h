/*
 * as_manifest.h — the list of sealed Parquet files: which files hold which
 * positions, and how far the log has been sealed.
 *
 * FILE.  data/MANIFEST, replaced atomically (write MANIFEST.tmp, fdatasync,
 * rename, fsync the directory), so after a crash it is either the old or
 * the new version.  Two lines:
 *
 *   {"format":"allsource-manifest","version":1,"generation":N,
 *    "sealed_through":P,"files":[{"name":...,"first_position":...,
 *    "last_position":...,"events":...,"bytes":...,"created_us":...}, ...]}
 *   crc32c XXXXXXXX            <- CRC-32C of the first line, in hex
 *
 * INVARIANTS.  Files are sorted by position, cover 1..sealed_through with
 * no gap and no overlap; a file not listed in the manifest is garbage (a
 * crash left it behind) and is removed at open.  File names carry their
 * position range and the manifest generation that created them, so a name
 * is never reused.
 */
#ifndef AS_MANIFEST_H
#define AS_MANIFEST_H

#include <stdint.h>

#include "allsource.h"
#include "io/as_io.h"

typedef struct as_mfile {
  char name[96];
  uint64_t first, last; /* positions */
  uint64_t events;
  uint64_t bytes;
  int64_t created_us;
} as_mfile;

typedef struct as_manifest {
  uint64_t generation;
  uint64_t sealed_through;
  as_mfile *files; /* owned, sorted by position */
  size_t n, cap;
} as_manifest;

void as_manifest_init(as_manifest *m);
void as_manifest_free(as_manifest *m);
/** Deep copy. */
as_err as_manifest_copy(as_manifest *dst, const as_manifest *src);
/** Appends a file entry (must follow the last one). */
as_err as_manifest_add(as_manifest *m, const as_mfile *f);

/** Loads dir/MANIFEST; an absent file gives an empty manifest.  A damaged
 *  or inconsistent manifest is AS_ECORRUPT with a message in err. */
as_err as_manifest_load(const as_io *io, const char *dir, as_manifest *m,
                        as_error *err);
/** Writes dir/MANIFEST atomically. */
as_err as_manifest_save(const as_io *io, const char *dir,
                        const as_manifest *m);

/** The file name for a sealed range created by manifest generation g. */
void as_manifest_file_name(uint64_t first, uint64_t last, uint64_t g,
                           char out[96]);

#endif /* AS_MANIFEST_H */
