/*
 * as_crc32c.c — CRC-32C with a hardware path (x86-64 SSE4.2 crc32q) and a
 * table-driven fallback.  The table is computed once (pthread_once) and is
 * read-only afterwards.
 */
#include "core/as_crc32c.h"

#include <pthread.h>
#include <string.h>

static uint32_t g_table[256];
static pthread_once_t g_table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    g_table[i] = c;
  }
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len) {
  pthread_once(&g_table_once, build_table);
  while (len--) crc = g_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc_hw(
    uint32_t crc, const unsigned char *p, size_t len) {
  uint64_t c = crc;
  while (len && ((uintptr_t)p & 7)) {
    c = _mm_crc32_u8((uint32_t)c, *p++);
    len--;
  }
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    len -= 8;
  }
  while (len--) c = _mm_crc32_u8((uint32_t)c, *p++);
  return (uint32_t)c;
}
#endif

uint32_t as_crc32c(uint32_t crc, const void *data, size_t len) {
  const unsigned char *p = data;
  crc = ~crc;
#if defined(__x86_64__)
  if (__builtin_cpu_supports("sse4.2"))
    crc = crc_hw(crc, p, len);
  else
#endif
    crc = crc_sw(crc, p, len);
  return ~crc;
}
