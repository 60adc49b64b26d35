/*
 * as_common.h — small macros shared by every module of the engine.
 *
 * Assertions are for invariants, never for input: AS_ASSERT is active in
 * debug and sanitizer builds; AS_NEVER(x) marks "cannot happen, but handle
 * it" and is true when x is (so release builds take the safe branch).
 */
#ifndef AS_COMMON_H
#define AS_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "allsource.h"

#define AS_LIKELY(x) __builtin_expect(!!(x), 1)
#define AS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define AS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define AS_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define AS_CONTAINER_OF(ptr, type, member) \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define AS_UNUSED(x) ((void)(x))

/* Internal (non-static, non-public) functions use the as__ prefix. */
#define AS_INTERNAL __attribute__((visibility("hidden")))

void as__assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#if defined(AS_DEBUG)
#define AS_ASSERT(x) \
  (AS_LIKELY(x) ? (void)0 : as__assert_fail(#x, __FILE__, __LINE__))
#define AS_NEVER(x) ((x) ? (as__assert_fail(#x, __FILE__, __LINE__), 1) : 0)
#else
#define AS_ASSERT(x) ((void)0)
#define AS_NEVER(x) AS_UNLIKELY(x)
#endif

/* Calling convention: one `rc`, one `out:` label. */
#define AS_CHECK(expr)                  \
  do {                                  \
    rc = (expr);                        \
    if (AS_UNLIKELY(rc < 0)) goto out;  \
  } while (0)

#define AS_FAIL(code)  \
  do {                 \
    rc = (code);       \
    goto out;          \
  } while (0)

/* Little-endian fixed-width loads and stores (the on-disk byte order). */
static inline void as_put_u16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
}
static inline void as_put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void as_put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint16_t as_get_u16(const unsigned char *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t as_get_u32(const unsigned char *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static inline uint64_t as_get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

#endif /* AS_COMMON_H */
