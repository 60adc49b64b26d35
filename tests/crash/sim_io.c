/*
 * sim_io.c — the simulated file system of the crash tests (see sim_io.h).
 */
#include "sim_io.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/as_rand.h"

#define MAX_FILES 4096
#define MAX_FDS 256
#define SECTOR 512

typedef struct pend_write {
  uint64_t off;
  size_t len;
  unsigned char *data; /* NULL for a truncation to `off` */
} pend_write;

typedef struct inode {
  unsigned char *data;
  size_t len;
  unsigned char *dur;
  size_t dur_len;
  pend_write *pend;
  size_t npend, cappend;
  int refs; /* names + fds */
} inode;

typedef struct dentry {
  char *name;
  inode *ino;
} dentry;

typedef struct ns_op {
  int kind; /* 0 create/link name->ino, 1 unlink name */
  char *name;
  inode *ino;
} ns_op;

struct sim_fs {
  pthread_mutex_t mu;
  dentry vol[MAX_FILES];
  size_t nvol;
  dentry dur[MAX_FILES];
  size_t ndur;
  ns_op *ops;
  size_t nops, capops;
  inode *fds[MAX_FDS];
  uint64_t mut_ops, crash_at, sync_ops, fail_sync_at;
  bool crashed;
  as_rand rng;
  as_io io;
};

static inode *ino_new(void) { return calloc(1, sizeof(inode)); }

static void ino_unref(inode *i) {
  if (!i || --i->refs > 0) return;
  free(i->data);
  free(i->dur);
  for (size_t k = 0; k < i->npend; k++) free(i->pend[k].data);
  free(i->pend);
  free(i);
}

static void pend_clear(inode *i) {
  for (size_t k = 0; k < i->npend; k++) free(i->pend[k].data);
  i->npend = 0;
}

static void pend_add(inode *i, uint64_t off, const void *data, size_t len) {
  if (i->npend == i->cappend) {
    i->cappend = i->cappend ? i->cappend * 2 : 16;
    i->pend = realloc(i->pend, sizeof *i->pend * i->cappend);
  }
  pend_write *p = &i->pend[i->npend++];
  p->off = off;
  p->len = len;
  p->data = NULL;
  if (data) {
    p->data = malloc(len ? len : 1);
    if (len) memcpy(p->data, data, len);
  }
}

static void ino_write(inode *i, uint64_t off, const void *data, size_t len) {
  size_t end = (size_t)off + len;
  if (end > i->len) {
    i->data = realloc(i->data, end);
    memset(i->data + i->len, 0, end - i->len);
    i->len = end;
  }
  memcpy(i->data + off, data, len);
}

static dentry *vol_find(sim_fs *fs, const char *name) {
  for (size_t k = 0; k < fs->nvol; k++)
    if (strcmp(fs->vol[k].name, name) == 0) return &fs->vol[k];
  return NULL;
}

static void vol_del(sim_fs *fs, dentry *d) {
  free(d->name);
  ino_unref(d->ino);
  *d = fs->vol[--fs->nvol];
}

static void ns_log(sim_fs *fs, int kind, const char *name, inode *ino) {
  if (fs->nops == fs->capops) {
    fs->capops = fs->capops ? fs->capops * 2 : 64;
    fs->ops = realloc(fs->ops, sizeof *fs->ops * fs->capops);
  }
  ns_op *o = &fs->ops[fs->nops++];
  o->kind = kind;
  o->name = strdup(name);
  o->ino = ino;
  if (ino) ino->refs++;
}

static void dur_apply(sim_fs *fs, ns_op *o) {
  for (size_t k = 0; k < fs->ndur; k++) {
    if (strcmp(fs->dur[k].name, o->name) == 0) {
      free(fs->dur[k].name);
      ino_unref(fs->dur[k].ino);
      fs->dur[k] = fs->dur[--fs->ndur];
      break;
    }
  }
  if (o->kind == 0) {
    fs->dur[fs->ndur].name = strdup(o->name);
    fs->dur[fs->ndur].ino = o->ino;
    o->ino->refs++;
    fs->ndur++;
  }
}

static void ns_ops_clear(sim_fs *fs) {
  for (size_t k = 0; k < fs->nops; k++) {
    free(fs->ops[k].name);
    ino_unref(fs->ops[k].ino);
  }
  fs->nops = 0;
}

/* Returns true if this mutating operation may proceed; false (with the
 * file system now crashed) if it is the crash point or after it. */
static bool mutate(sim_fs *fs) {
  if (fs->crashed) return false;
  fs->mut_ops++;
  if (fs->crash_at && fs->mut_ops >= fs->crash_at) {
    fs->crashed = true;
    return false;
  }
  return true;
}

#define LOCK() pthread_mutex_lock(&fs->mu)
#define UNLOCK() pthread_mutex_unlock(&fs->mu)

static int s_open(void *ctx, const char *path, int flags) {
  sim_fs *fs = ctx;
  LOCK();
  int rc;
  if (fs->crashed) {
    rc = -EIO;
    goto out;
  }
  dentry *d = vol_find(fs, path);
  if (d && (flags & AS_IO_CREAT) && (flags & AS_IO_EXCL)) {
    rc = -EEXIST;
    goto out;
  }
  if (!d && !(flags & AS_IO_CREAT)) {
    rc = -ENOENT;
    goto out;
  }
  if (!d) {
    if (!mutate(fs)) {
      rc = -EIO;
      goto out;
    }
    inode *i = ino_new();
    i->refs = 1;
    fs->vol[fs->nvol].name = strdup(path);
    fs->vol[fs->nvol].ino = i;
    d = &fs->vol[fs->nvol++];
    ns_log(fs, 0, path, i);
  }
  if ((flags & AS_IO_TRUNC) && d->ino->len) {
    d->ino->len = 0;
    pend_add(d->ino, 0, NULL, 0);
  }
  rc = -EMFILE;
  for (int fd = 3; fd < MAX_FDS; fd++) {
    if (!fs->fds[fd]) {
      fs->fds[fd] = d->ino;
      d->ino->refs++;
      rc = fd;
      break;
    }
  }
out:
  UNLOCK();
  return rc;
}

static int s_close(void *ctx, int fd) {
  sim_fs *fs = ctx;
  LOCK();
  if (fd >= 0 && fd < MAX_FDS && fs->fds[fd]) {
    ino_unref(fs->fds[fd]);
    fs->fds[fd] = NULL;
  }
  UNLOCK();
  return 0;
}

static ssize_t s_pread(void *ctx, int fd, void *buf, size_t n, uint64_t off) {
  sim_fs *fs = ctx;
  LOCK();
  ssize_t rc;
  inode *i = fs->fds[fd];
  if (fs->crashed) rc = -EIO;
  else if (off >= i->len) rc = 0;
  else {
    size_t k = i->len - (size_t)off < n ? i->len - (size_t)off : n;
    memcpy(buf, i->data + off, k);
    rc = (ssize_t)k;
  }
  UNLOCK();
  return rc;
}

static ssize_t s_pwritev(void *ctx, int fd, const struct iovec *iov,
                         int iovcnt, uint64_t off) {
  sim_fs *fs = ctx;
  LOCK();
  ssize_t rc;
  inode *i = fs->fds[fd];
  size_t total = 0;
  for (int k = 0; k < iovcnt; k++) total += iov[k].iov_len;
  unsigned char *flat = malloc(total ? total : 1);
  size_t o = 0;
  for (int k = 0; k < iovcnt; k++) {
    if (iov[k].iov_len) memcpy(flat + o, iov[k].iov_base, iov[k].iov_len);
    o += iov[k].iov_len;
  }
  if (fs->crashed) {
    rc = -EIO;
  } else if (!mutate(fs)) {
    /* the crash tears this write: a random prefix reaches the page cache */
    size_t keep = total ? (size_t)as_rand_below(&fs->rng, total + 1) : 0;
    if (keep) {
      ino_write(i, off, flat, keep);
      pend_add(i, off, flat, keep);
    }
    rc = -EIO;
  } else {
    ino_write(i, off, flat, total);
    pend_add(i, off, flat, total);
    rc = (ssize_t)total;
  }
  free(flat);
  UNLOCK();
  return rc;
}

static void make_durable(inode *i) {
  free(i->dur);
  i->dur = malloc(i->len ? i->len : 1);
  if (i->len) memcpy(i->dur, i->data, i->len);
  i->dur_len = i->len;
  pend_clear(i);
}

static int s_fdatasync(void *ctx, int fd) {
  sim_fs *fs = ctx;
  LOCK();
  int rc = 0;
  inode *i = fs->fds[fd];
  if (!mutate(fs)) {
    rc = -EIO;
  } else {
    fs->sync_ops++;
    if (fs->fail_sync_at && fs->sync_ops == fs->fail_sync_at) {
      /* writeback error: the dirty pages' durability is lost for good */
      pend_clear(i);
      free(i->data);
      i->data = malloc(i->dur_len ? i->dur_len : 1);
      if (i->dur_len) memcpy(i->data, i->dur, i->dur_len);
      i->len = i->dur_len;
      rc = -EIO;
    } else {
      make_durable(i);
    }
  }
  UNLOCK();
  return rc;
}

static int s_ftruncate(void *ctx, int fd, uint64_t len) {
  sim_fs *fs = ctx;
  LOCK();
  int rc = 0;
  inode *i = fs->fds[fd];
  if (!mutate(fs)) {
    rc = -EIO;
  } else {
    if (len > i->len) {
      unsigned char z = 0;
      for (size_t k = i->len; k < len; k++) ino_write(i, k, &z, 1);
    }
    i->len = (size_t)len;
    pend_add(i, len, NULL, 0);
  }
  UNLOCK();
  return rc;
}

static int s_fsize(void *ctx, int fd, uint64_t *size) {
  sim_fs *fs = ctx;
  LOCK();
  *size = fs->fds[fd]->len;
  int rc = fs->crashed ? -EIO : 0;
  UNLOCK();
  return rc;
}

static int s_rename(void *ctx, const char *from, const char *to) {
  sim_fs *fs = ctx;
  LOCK();
  int rc = 0;
  dentry *d = vol_find(fs, from);
  if (!d) rc = -ENOENT;
  else if (!mutate(fs)) rc = -EIO;
  else {
    inode *i = d->ino;
    i->refs++;
    vol_del(fs, d);
    dentry *t = vol_find(fs, to);
    if (t) vol_del(fs, t);
    fs->vol[fs->nvol].name = strdup(to);
    fs->vol[fs->nvol].ino = i;
    fs->nvol++;
    ns_log(fs, 1, from, NULL);
    ns_log(fs, 0, to, i);
  }
  UNLOCK();
  return rc;
}

static int s_unlink(void *ctx, const char *path) {
  sim_fs *fs = ctx;
  LOCK();
  int rc = 0;
  dentry *d = vol_find(fs, path);
  if (!d) rc = -ENOENT;
  else if (!mutate(fs)) rc = -EIO;
  else {
    vol_del(fs, d);
    ns_log(fs, 1, path, NULL);
  }
  UNLOCK();
  return rc;
}

static int s_mkdir(void *ctx, const char *path) { return 0; }

static int s_fsync_dir(void *ctx, const char *path) {
  sim_fs *fs = ctx;
  LOCK();
  int rc = 0;
  if (!mutate(fs)) rc = -EIO;
  else {
    for (size_t k = 0; k < fs->nops; k++) dur_apply(fs, &fs->ops[k]);
    ns_ops_clear(fs);
  }
  UNLOCK();
  return rc;
}

static int s_list_dir(void *ctx, const char *path, as_io_list_cb cb,
                      void *arg) {
  sim_fs *fs = ctx;
  LOCK();
  size_t plen = strlen(path);
  char **names = malloc(sizeof(char *) * (fs->nvol + 1));
  size_t n = 0;
  int rc = fs->crashed ? -EIO : 0;
  for (size_t k = 0; !rc && k < fs->nvol; k++) {
    const char *nm = fs->vol[k].name;
    if (strncmp(nm, path, plen) == 0 && nm[plen] == '/' &&
        !strchr(nm + plen + 1, '/'))
      names[n++] = strdup(nm + plen + 1);
  }
  UNLOCK();
  for (size_t k = 0; k < n; k++) {
    if (cb(arg, names[k])) {
      for (; k < n; k++) free(names[k]);
      break;
    }
    free(names[k]);
  }
  free(names);
  return rc;
}

static int s_lock(void *ctx, const char *path) { return 200; }

sim_fs *sim_fs_new(void) {
  sim_fs *fs = calloc(1, sizeof *fs);
  pthread_mutex_init(&fs->mu, NULL);
  as_rand_seed_u64(&fs->rng, 1);
  fs->io = (as_io){fs,          s_open,      s_close,     s_pread,
                   s_pwritev,   s_fdatasync, s_ftruncate, s_fsize,
                   s_rename,    s_unlink,    s_mkdir,     s_fsync_dir,
                   s_list_dir,  s_lock};
  return fs;
}

void sim_fs_free(sim_fs *fs) {
  if (!fs) return;
  for (size_t k = 0; k < fs->nvol; k++) {
    free(fs->vol[k].name);
    ino_unref(fs->vol[k].ino);
  }
  for (size_t k = 0; k < fs->ndur; k++) {
    free(fs->dur[k].name);
    ino_unref(fs->dur[k].ino);
  }
  ns_ops_clear(fs);
  free(fs->ops);
  for (int fd = 0; fd < MAX_FDS; fd++) ino_unref(fs->fds[fd]);
  pthread_mutex_destroy(&fs->mu);
  free(fs);
}

const as_io *sim_fs_io(sim_fs *fs) { return &fs->io; }

void sim_fs_crash_at(sim_fs *fs, uint64_t n) {
  LOCK();
  fs->crash_at = n ? fs->mut_ops + n : 0;
  UNLOCK();
}

void sim_fs_fail_sync_at(sim_fs *fs, uint64_t n) {
  LOCK();
  fs->fail_sync_at = n ? fs->sync_ops + n : 0;
  UNLOCK();
}

uint64_t sim_fs_ops(sim_fs *fs) {
  LOCK();
  uint64_t n = fs->mut_ops;
  UNLOCK();
  return n;
}

int sim_fs_crashed(sim_fs *fs) {
  LOCK();
  int c = fs->crashed;
  UNLOCK();
  return c;
}

/* Rebuilds an inode's content after power loss. */
static void lose_power(sim_fs *fs, inode *i) {
  unsigned char *d = malloc(i->dur_len ? i->dur_len : 1);
  if (i->dur_len) memcpy(d, i->dur, i->dur_len);
  size_t len = i->dur_len;
  for (size_t k = 0; k < i->npend; k++) {
    pend_write *p = &i->pend[k];
    uint64_t r = as_rand_below(&fs->rng, 10);
    if (!p->data) { /* truncation: happened or not */
      if (r < 5) len = len < p->off ? len : (size_t)p->off;
      continue;
    }
    size_t end = (size_t)p->off + p->len;
    if (r < 3) { /* dropped; maybe the size change survived as zeros */
      if (r == 0 && end > len) {
        d = realloc(d, end);
        memset(d + len, 0, end - len);
        len = end;
      }
      continue;
    }
    if (end > len) {
      d = realloc(d, end);
      memset(d + len, 0, end - len);
      len = end;
    }
    if (r < 7) {
      memcpy(d + p->off, p->data, p->len);
    } else { /* torn: each sector lands or not */
      for (size_t s = 0; s < p->len; s += SECTOR) {
        size_t n = p->len - s < SECTOR ? p->len - s : SECTOR;
        if (as_rand_below(&fs->rng, 2)) memcpy(d + p->off + s, p->data + s, n);
      }
    }
  }
  free(i->data);
  free(i->dur);
  i->data = d;
  i->len = len;
  i->dur = malloc(len ? len : 1);
  if (len) memcpy(i->dur, d, len);
  i->dur_len = len;
  pend_clear(i);
}

void sim_fs_power_loss(sim_fs *fs, uint64_t seed) {
  LOCK();
  as_rand_seed_u64(&fs->rng, seed);
  size_t keep = fs->nops ? (size_t)as_rand_below(&fs->rng, fs->nops + 1) : 0;
  for (size_t k = 0; k < keep; k++) dur_apply(fs, &fs->ops[k]);
  ns_ops_clear(fs);
  for (size_t k = 0; k < fs->nvol; k++) {
    free(fs->vol[k].name);
    ino_unref(fs->vol[k].ino);
  }
  fs->nvol = 0;
  for (size_t k = 0; k < fs->ndur; k++) {
    fs->vol[k].name = strdup(fs->dur[k].name);
    fs->vol[k].ino = fs->dur[k].ino;
    fs->dur[k].ino->refs++;
    fs->nvol++;
  }
  for (size_t k = 0; k < fs->ndur; k++) {
    inode *i = fs->dur[k].ino;
    if (i->npend || i->len != i->dur_len) lose_power(fs, i);
  }
  for (int fd = 0; fd < MAX_FDS; fd++) {
    ino_unref(fs->fds[fd]);
    fs->fds[fd] = NULL;
  }
  fs->crashed = false;
  fs->crash_at = 0;
  fs->fail_sync_at = 0;
  UNLOCK();
}

void sim_fs_restart(sim_fs *fs) {
  LOCK();
  for (int fd = 0; fd < MAX_FDS; fd++) {
    ino_unref(fs->fds[fd]);
    fs->fds[fd] = NULL;
  }
  fs->crashed = false;
  fs->crash_at = 0;
  fs->fail_sync_at = 0;
  UNLOCK();
}
