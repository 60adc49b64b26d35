/*
 * as_alloc.c — counting allocator with fault injection.
 *
 * Each block carries a 16-byte header holding its size, so as_free() can
 * subtract it without malloc_usable_size().  16 bytes keep the user pointer
 * aligned for any type.
 */
#include "core/as_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "allsource.h"

#define HDR 16u

static _Atomic uint64_t g_live_bytes;
static _Atomic uint64_t g_fail_countdown; /* 0 = off */
static _Atomic uint64_t g_injected;

static int inject_failure(void) {
  uint64_t c = atomic_load_explicit(&g_fail_countdown, memory_order_relaxed);
  while (c != 0) {
    if (atomic_compare_exchange_weak(&g_fail_countdown, &c, c - 1)) {
      if (c == 1) {
        atomic_fetch_add(&g_injected, 1);
        return 1;
      }
      return 0;
    }
  }
  return 0;
}

void *as_malloc(size_t n) {
  if (inject_failure() || n > SIZE_MAX - HDR) return NULL;
  unsigned char *p = malloc(n + HDR);
  if (!p) return NULL;
  memcpy(p, &n, sizeof n);
  atomic_fetch_add_explicit(&g_live_bytes, n, memory_order_relaxed);
  return p + HDR;
}

void *as_calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  size_t n = count * size;
  if (inject_failure() || n > SIZE_MAX - HDR) return NULL;
  /* calloc, not malloc + memset: large blocks come from fresh zero pages,
   * which then cost nothing until they are touched */
  unsigned char *p = calloc(1, n + HDR);
  if (!p) return NULL;
  memcpy(p, &n, sizeof n);
  atomic_fetch_add_explicit(&g_live_bytes, n, memory_order_relaxed);
  return p + HDR;
}

void *as_realloc(void *p, size_t n) {
  if (!p) return as_malloc(n);
  if (inject_failure() || n > SIZE_MAX - HDR) return NULL;
  unsigned char *base = (unsigned char *)p - HDR;
  size_t old;
  memcpy(&old, base, sizeof old);
  unsigned char *q = realloc(base, n + HDR);
  if (!q) return NULL;
  memcpy(q, &n, sizeof n);
  if (n >= old)
    atomic_fetch_add_explicit(&g_live_bytes, n - old, memory_order_relaxed);
  else
    atomic_fetch_sub_explicit(&g_live_bytes, old - n, memory_order_relaxed);
  return q + HDR;
}

void as_free(void *p) {
  if (!p) return;
  unsigned char *base = (unsigned char *)p - HDR;
  size_t n;
  memcpy(&n, base, sizeof n);
  atomic_fetch_sub_explicit(&g_live_bytes, n, memory_order_relaxed);
  free(base);
}

void *as_pages_alloc(size_t n) {
  if (inject_failure() || n == 0) return NULL;
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  atomic_fetch_add_explicit(&g_live_bytes, n, memory_order_relaxed);
  return p;
}

void as_pages_free(void *p, size_t n) {
  if (!p) return;
  atomic_fetch_sub_explicit(&g_live_bytes, n, memory_order_relaxed);
  munmap(p, n);
}

void *as_malloc_public(size_t n) { return as_malloc(n); }

char *as_strndup(const char *s, size_t len) {
  char *p = as_malloc(len + 1);
  if (!p) return NULL;
  if (len) memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

uint64_t as__alloc_live_bytes(void) {
  return atomic_load_explicit(&g_live_bytes, memory_order_relaxed);
}

void as__alloc_fail_after(uint64_t n) { atomic_store(&g_fail_countdown, n); }

uint64_t as__alloc_injected_failures(void) {
  return atomic_exchange(&g_injected, 0);
}
