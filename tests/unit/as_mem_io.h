/*
 * as_mem_io.h — a tiny in-memory as_io for tests and fuzz targets
 * (header-only, static functions).  Files live in a fixed table of
 * MEM_IO_FILES slots, keyed by path; memory comes from plain malloc so the
 * test harness's as_malloc leak check is unaffected by files kept across
 * cases.  `fail_write_after` (0 = never) makes the Nth write fail with
 * -EIO, `fail_sync` makes fdatasync fail, for error-path tests.
 */
#ifndef AS_MEM_IO_H
#define AS_MEM_IO_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/as_io.h"

#define MEM_IO_FILES 16

typedef struct mem_file {
  char path[256];
  unsigned char *data;
  size_t len, cap;
  int used, open;
} mem_file;

typedef struct mem_io {
  as_io io;
  mem_file f[MEM_IO_FILES];
  unsigned writes, fail_write_after;
  int fail_sync;
} mem_io;

static mem_file *mem_find(mem_io *m, const char *path) {
  for (int i = 0; i < MEM_IO_FILES; i++)
    if (m->f[i].used && strcmp(m->f[i].path, path) == 0) return &m->f[i];
  return NULL;
}

static int mem_open(void *ctx, const char *path, int flags) {
  mem_io *m = ctx;
  mem_file *f = mem_find(m, path);
  if (!f) {
    if (!(flags & AS_IO_CREAT)) return -ENOENT;
    for (int i = 0; i < MEM_IO_FILES && !f; i++)
      if (!m->f[i].used) f = &m->f[i];
    if (!f) return -ENOSPC;
    memset(f, 0, sizeof *f);
    f->used = 1;
    strncpy(f->path, path, sizeof f->path - 1);
  } else if (flags & AS_IO_EXCL) {
    return -EEXIST;
  }
  if (flags & AS_IO_TRUNC) f->len = 0;
  f->open++;
  return (int)(f - m->f);
}

static mem_file *mem_fd(mem_io *m, int fd) {
  return fd >= 0 && fd < MEM_IO_FILES && m->f[fd].used ? &m->f[fd] : NULL;
}

static int mem_close(void *ctx, int fd) {
  mem_file *f = mem_fd(ctx, fd);
  if (!f) return -EBADF;
  f->open--;
  return 0;
}

static ssize_t mem_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off) {
  mem_file *f = mem_fd(ctx, fd);
  if (!f) return -EBADF;
  if (off >= f->len) return 0;
  size_t k = f->len - (size_t)off < n ? f->len - (size_t)off : n;
  memcpy(buf, f->data + off, k);
  return (ssize_t)k;
}

static ssize_t mem_pwritev(void *ctx, int fd, const struct iovec *iov, int cnt, uint64_t off) {
  mem_io *m = ctx;
  mem_file *f = mem_fd(m, fd);
  if (!f) return -EBADF;
  if (m->fail_write_after && ++m->writes >= m->fail_write_after) return -EIO;
  size_t total = 0;
  for (int i = 0; i < cnt; i++) total += iov[i].iov_len;
  if (off + total > f->cap) {
    size_t cap = f->cap ? f->cap : 4096;
    while (cap < off + total) cap *= 2;
    unsigned char *p = realloc(f->data, cap);
    if (!p) return -ENOMEM;
    f->data = p;
    f->cap = cap;
  }
  if (off > f->len) memset(f->data + f->len, 0, (size_t)off - f->len);
  size_t o = (size_t)off;
  for (int i = 0; i < cnt; i++) {
    memcpy(f->data + o, iov[i].iov_base, iov[i].iov_len);
    o += iov[i].iov_len;
  }
  if (o > f->len) f->len = o;
  return (ssize_t)total;
}

static int mem_fdatasync(void *ctx, int fd) {
  mem_io *m = ctx;
  return m->fail_sync ? -EIO : mem_fd(m, fd) ? 0 : -EBADF;
}

static int mem_ftruncate(void *ctx, int fd, uint64_t len) {
  mem_file *f = mem_fd(ctx, fd);
  if (!f) return -EBADF;
  if (len <= f->len) f->len = (size_t)len;
  return 0;
}

static int mem_fsize(void *ctx, int fd, uint64_t *size) {
  mem_file *f = mem_fd(ctx, fd);
  if (!f) return -EBADF;
  *size = f->len;
  return 0;
}

static int mem_unlink(void *ctx, const char *path) {
  mem_file *f = mem_find(ctx, path);
  if (!f) return -ENOENT;
  free(f->data);
  memset(f, 0, sizeof *f);
  return 0;
}

static int mem_rename(void *ctx, const char *from, const char *to) {
  mem_io *m = ctx;
  mem_file *f = mem_find(m, from);
  if (!f) return -ENOENT;
  mem_file *t = mem_find(m, to);
  if (t && t != f) mem_unlink(m, to);
  strncpy(f->path, to, sizeof f->path - 1);
  return 0;
}

static int mem_nop_path(void *ctx, const char *path) { return 0; }

/** Initializes an empty in-memory file system. */
static inline void mem_io_init(mem_io *m) {
  memset(m, 0, sizeof *m);
  m->io.ctx = m;
  m->io.open = mem_open;
  m->io.close = mem_close;
  m->io.pread = mem_pread;
  m->io.pwritev = mem_pwritev;
  m->io.fdatasync = mem_fdatasync;
  m->io.ftruncate = mem_ftruncate;
  m->io.fsize = mem_fsize;
  m->io.rename = mem_rename;
  m->io.unlink = mem_unlink;
  m->io.mkdir = mem_nop_path;
  m->io.fsync_dir = mem_nop_path;
}

/** Creates or replaces `path` with a copy of data[0..n). 0 or -errno. */
static inline int mem_io_put(mem_io *m, const char *path, const void *data, size_t n) {
  int fd = mem_open(m, path, AS_IO_RDWR | AS_IO_CREAT | AS_IO_TRUNC);
  if (fd < 0) return fd;
  struct iovec iov = {(void *)data, n};
  ssize_t r = n ? mem_pwritev(m, fd, &iov, 1, 0) : 0;
  mem_close(m, fd);
  return r < 0 ? (int)r : 0;
}

/** Frees every file. */
static inline void mem_io_free(mem_io *m) {
  for (int i = 0; i < MEM_IO_FILES; i++) free(m->f[i].data);
  memset(m->f, 0, sizeof m->f);
}

#endif /* AS_MEM_IO_H */
