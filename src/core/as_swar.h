/*
 * as_swar.h — byte tests on 8 bytes at a time ("SIMD within a register").
 *
 * Each test says whether some byte of a word matches (little or big endian
 * alike); a byte loop then finds which.  Exact as to whether such a byte
 * exists: the classic (x - 0x01..) & ~x & 0x80.. test can mark a byte above
 * a true match, never one in a word without a match.  Used by the JSON
 * scanner (as_json.c) and the id checks (as_ingest.c).  No state.
 */
#ifndef AS_SWAR_H
#define AS_SWAR_H

#include <stdint.h>
#include <string.h>

#define AS_SWAR_ONES UINT64_C(0x0101010101010101)
#define AS_SWAR_HIGHS UINT64_C(0x8080808080808080)

/** The 8 bytes at p (any alignment). */
static inline uint64_t as_swar_load8(const void *p) {
  uint64_t x;
  memcpy(&x, p, 8);
  return x;
}

/** Nonzero if some byte of x is zero. */
static inline uint64_t as_swar_has_zero(uint64_t x) {
  return (x - AS_SWAR_ONES) & ~x & AS_SWAR_HIGHS;
}

/** Nonzero if some byte of x equals c. */
static inline uint64_t as_swar_has_byte(uint64_t x, unsigned char c) {
  return as_swar_has_zero(x ^ (AS_SWAR_ONES * c));
}

/** Nonzero if some byte of x is below n (n <= 0x80), for a word whose
 *  bytes are all below 0x80 (see as_swar_has_high). */
static inline uint64_t as_swar_has_below(uint64_t x, unsigned n) {
  return (x - AS_SWAR_ONES * n) & ~x & AS_SWAR_HIGHS;
}

/** Nonzero if some byte of x is 0x80 or above (not ASCII). */
static inline uint64_t as_swar_has_high(uint64_t x) { return x & AS_SWAR_HIGHS; }

#endif /* AS_SWAR_H */
