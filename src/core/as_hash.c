/*
 * as_hash.c — SipHash-1-3 (Aumasson & Bernstein; 1 compression round, 3
 * finalization rounds, as used by Rust's std and CPython for hash tables).
 */
#include "core/as_hash.h"

#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND           \
  do {                     \
    v0 += v1;              \
    v1 = ROTL(v1, 13);     \
    v1 ^= v0;              \
    v0 = ROTL(v0, 32);     \
    v2 += v3;              \
    v3 = ROTL(v3, 16);     \
    v3 ^= v2;              \
    v0 += v3;              \
    v3 = ROTL(v3, 21);     \
    v3 ^= v0;              \
    v2 += v1;              \
    v1 = ROTL(v1, 17);     \
    v1 ^= v2;              \
    v2 = ROTL(v2, 32);     \
  } while (0)

uint64_t as_hash(const as_hash_key *key, const void *data, size_t len) {
  const unsigned char *in = data;
  uint64_t v0 = 0x736f6d6570736575ULL ^ key->k0;
  uint64_t v1 = 0x646f72616e646f6dULL ^ key->k1;
  uint64_t v2 = 0x6c7967656e657261ULL ^ key->k0;
  uint64_t v3 = 0x7465646279746573ULL ^ key->k1;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t m;
    memcpy(&m, in + i, 8);
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
  }
  uint64_t b = (uint64_t)len << 56;
  switch (len & 7) {
    case 7: b |= (uint64_t)in[i + 6] << 48; /* fall through */
    case 6: b |= (uint64_t)in[i + 5] << 40; /* fall through */
    case 5: b |= (uint64_t)in[i + 4] << 32; /* fall through */
    case 4: b |= (uint64_t)in[i + 3] << 24; /* fall through */
    case 3: b |= (uint64_t)in[i + 2] << 16; /* fall through */
    case 2: b |= (uint64_t)in[i + 1] << 8;  /* fall through */
    case 1: b |= (uint64_t)in[i]; break;
    default: break;
  }
  v3 ^= b;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}
