/*
 * as_io.c — the POSIX operations table and helpers shared by every
 * implementation.
 */
#include "io/as_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/as_alloc.h"

static int px_open(void *ctx, const char *path, int flags) {
  int f = O_CLOEXEC;
  f |= (flags & AS_IO_RDWR) ? O_RDWR : O_RDONLY;
  if (flags & AS_IO_CREAT) f |= O_CREAT;
  if (flags & AS_IO_EXCL) f |= O_EXCL;
  if (flags & AS_IO_TRUNC) f |= O_TRUNC;
  int fd;
  do fd = open(path, f, 0644);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

static int px_close(void *ctx, int fd) { return close(fd) < 0 ? -errno : 0; }

static ssize_t px_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off) {
  ssize_t r;
  do r = pread(fd, buf, n, (off_t)off);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static ssize_t px_pwritev(void *ctx, int fd, const struct iovec *iov,
                          int iovcnt, uint64_t off) {
  ssize_t r;
  do r = pwritev(fd, iov, iovcnt, (off_t)off);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static int px_fdatasync(void *ctx, int fd) {
  int r;
  do r = fdatasync(fd);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : 0;
}

static int px_ftruncate(void *ctx, int fd, uint64_t len) {
  return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

static int px_fsize(void *ctx, int fd, uint64_t *size) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  *size = (uint64_t)st.st_size;
  return 0;
}

static int px_rename(void *ctx, const char *from, const char *to) {
  return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(void *ctx, const char *path) {
  return unlink(path) < 0 ? -errno : 0;
}

static int px_mkdir(void *ctx, const char *path) {
  if (mkdir(path, 0755) == 0) return 0;
  if (errno == EEXIST) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    return -ENOTDIR;
  }
  return -errno;
}

static int px_fsync_dir(void *ctx, const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int r = fsync(fd) < 0 ? -errno : 0;
  close(fd);
  return r;
}

static int px_list_dir(void *ctx, const char *path, as_io_list_cb cb,
                       void *arg) {
  DIR *d = opendir(path);
  if (!d) return -errno;
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d)) != NULL) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (cb(arg, de->d_name)) break;
  }
  closedir(d);
  return rc;
}

static int px_lock(void *ctx, const char *path) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    int e = errno;
    close(fd);
    return e == EWOULDBLOCK ? -EBUSY : -e;
  }
  return fd;
}

static const as_io g_posix = {
    .ctx = NULL,
    .open = px_open,
    .close = px_close,
    .pread = px_pread,
    .pwritev = px_pwritev,
    .fdatasync = px_fdatasync,
    .ftruncate = px_ftruncate,
    .fsize = px_fsize,
    .rename = px_rename,
    .unlink = px_unlink,
    .mkdir = px_mkdir,
    .fsync_dir = px_fsync_dir,
    .list_dir = px_list_dir,
    .lock = px_lock,
};

const as_io *as_io_posix(void) { return &g_posix; }

int as_io_pwritev_all(const as_io *io, int fd, const struct iovec *iov_in,
                      int iovcnt, uint64_t off) {
  struct iovec small[16];
  struct iovec *iov = small;
  if (iovcnt > 16) {
    iov = as_malloc(sizeof *iov * (size_t)iovcnt);
    if (!iov) return -ENOMEM;
  }
  memcpy(iov, iov_in, sizeof *iov * (size_t)iovcnt);
  int rc = 0, i = 0;
  while (i < iovcnt) {
    ssize_t w = io->pwritev(io->ctx, fd, iov + i, iovcnt - i, off);
    if (w < 0) {
      rc = (int)w;
      break;
    }
    if (w == 0) {
      rc = -EIO;
      break;
    }
    off += (uint64_t)w;
    while (i < iovcnt && (size_t)w >= iov[i].iov_len) {
      w -= (ssize_t)iov[i].iov_len;
      i++;
    }
    if (i < iovcnt) {
      iov[i].iov_base = (char *)iov[i].iov_base + w;
      iov[i].iov_len -= (size_t)w;
    }
  }
  if (iov != small) as_free(iov);
  return rc;
}

int as_io_pwrite_all(const as_io *io, int fd, const void *buf, size_t n,
                     uint64_t off) {
  struct iovec v = {(void *)buf, n};
  return as_io_pwritev_all(io, fd, &v, 1, off);
}

int as_io_pread_all(const as_io *io, int fd, void *buf, size_t n,
                    uint64_t off) {
  char *p = buf;
  while (n) {
    ssize_t r = io->pread(io->ctx, fd, p, n, off);
    if (r < 0) return (int)r;
    if (r == 0) return -EIO;
    p += r;
    n -= (size_t)r;
    off += (uint64_t)r;
  }
  return 0;
}

int as_io_read_file(const as_io *io, const char *path, size_t max, char **data,
                    size_t *len) {
  int fd = io->open(io->ctx, path, AS_IO_RDONLY);
  if (fd < 0) return fd;
  uint64_t size;
  int rc = io->fsize(io->ctx, fd, &size);
  char *buf = NULL;
  if (rc < 0) goto out;
  if (size > max) {
    rc = -EFBIG;
    goto out;
  }
  buf = as_malloc((size_t)size + 1);
  if (!buf) {
    rc = -ENOMEM;
    goto out;
  }
  rc = as_io_pread_all(io, fd, buf, (size_t)size, 0);
  if (rc < 0) goto out;
  buf[size] = '\0';
  *data = buf;
  *len = (size_t)size;
  buf = NULL;
out:
  as_free(buf);
  io->close(io->ctx, fd);
  return rc;
}

int as_io_atomic_replace(const as_io *io, const char *dir, const char *name,
                         const void *data, size_t len) {
  char tmp[4096], dst[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name) >= sizeof tmp ||
      (size_t)snprintf(dst, sizeof dst, "%s/%s", dir, name) >= sizeof dst)
    return -ENAMETOOLONG;
  int fd = io->open(io->ctx, tmp, AS_IO_RDWR | AS_IO_CREAT | AS_IO_TRUNC);
  if (fd < 0) return fd;
  int rc = as_io_pwrite_all(io, fd, data, len, 0);
  if (rc == 0) rc = io->fdatasync(io->ctx, fd);
  int crc = io->close(io->ctx, fd);
  if (rc == 0) rc = crc;
  if (rc == 0) rc = io->rename(io->ctx, tmp, dst);
  if (rc == 0) rc = io->fsync_dir(io->ctx, dir);
  if (rc < 0) io->unlink(io->ctx, tmp);
  return rc;
}

as_err as_io_err(int e) {
  switch (e) {
    case 0: return AS_OK;
    case -ENOMEM: return AS_ENOMEM;
    case -ENOSPC:
    case -EDQUOT: return AS_ENOSPC;
    case -ENOENT: return AS_ENOENT;
    case -EEXIST: return AS_EEXIST;
    case -EBUSY: return AS_EBUSY;
    case -EINVAL: return AS_EINVAL;
    default: return AS_EIO;
  }
}
