/*
 * as_io.h — the file I/O operations table under all storage code.
 *
 * Every byte the engine writes or reads from disk goes through an as_io.  The
 * default table (as_io_posix) calls the kernel; the crash-test table
 * (tests/crash/sim_io.c) keeps files in memory, can fail or "crash" at the Nth
 * write or sync, and can then drop or tear everything not yet synced, which
 * is how the tests prove that no acknowledged event is ever lost.
 *
 * Conventions: file handles are small non-negative ints; functions return 0
 * or a byte count on success and a negated errno on failure (never set
 * errno).  Short writes are possible; use as_io_pwrite_all().
 */
#ifndef AS_IO_H
#define AS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "allsource.h"

/* open() flags understood by every implementation. */
#define AS_IO_RDONLY 0x1
#define AS_IO_RDWR 0x2
#define AS_IO_CREAT 0x4
#define AS_IO_EXCL 0x8
#define AS_IO_TRUNC 0x10

/** Called by list_dir() once per entry (not "." or ".."); return non-zero to
 *  stop early. */
typedef int (*as_io_list_cb)(void *arg, const char *name);

typedef struct as_io {
  void *ctx;
  int (*open)(void *ctx, const char *path, int flags);
  int (*close)(void *ctx, int fd);
  ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, uint64_t off);
  ssize_t (*pwritev)(void *ctx, int fd, const struct iovec *iov, int iovcnt,
                     uint64_t off);
  int (*fdatasync)(void *ctx, int fd);
  int (*ftruncate)(void *ctx, int fd, uint64_t len);
  int (*fsize)(void *ctx, int fd, uint64_t *size);
  int (*rename)(void *ctx, const char *from, const char *to);
  int (*unlink)(void *ctx, const char *path);
  int (*mkdir)(void *ctx, const char *path);
  int (*fsync_dir)(void *ctx, const char *path);
  int (*list_dir)(void *ctx, const char *path, as_io_list_cb cb, void *arg);
  /* Takes an exclusive advisory lock on `path` (created if missing) for the
   * life of the returned handle; -EBUSY if another process holds it. */
  int (*lock)(void *ctx, const char *path);
} as_io;

/** The kernel-backed table.  Static storage; never freed. */
const as_io *as_io_posix(void);

/* --- Helpers built on the table -------------------------------------- */

/** Writes all of buf at `off`, retrying short writes.  0 or -errno. */
int as_io_pwrite_all(const as_io *io, int fd, const void *buf, size_t n,
                     uint64_t off);
/** Writes all iovecs at `off`, retrying short writes.  0 or -errno. */
int as_io_pwritev_all(const as_io *io, int fd, const struct iovec *iov,
                      int iovcnt, uint64_t off);
/** Reads exactly n bytes at `off`; -EIO if the file is shorter. */
int as_io_pread_all(const as_io *io, int fd, void *buf, size_t n, uint64_t off);

/** Reads a whole file into *data (caller frees with as_free()); refuses
 *  files larger than `max` bytes with -EFBIG. */
int as_io_read_file(const as_io *io, const char *path, size_t max,
                    char **data, size_t *len);

/** Replaces dir/name atomically with `data`: writes dir/name.tmp, syncs it,
 *  renames it over dir/name and syncs the directory.  After a crash the file
 *  holds either the old or the new content, never a mix. */
int as_io_atomic_replace(const as_io *io, const char *dir, const char *name,
                         const void *data, size_t len);

/** Maps a negated errno from the table to an as_err. */
as_err as_io_err(int neg_errno);

#endif /* AS_IO_H */
