/*
 * as_hash.h — a keyed 64-bit hash (wyhash-style) with per-store random keys, so
 * client-chosen entity ids and event ids cannot force hash-table collisions.
 */
#ifndef AS_HASH_H
#define AS_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct as_hash_key {
  uint64_t k0, k1;
} as_hash_key;

uint64_t as_hash(const as_hash_key *key, const void *data, size_t len);

#endif /* AS_HASH_H */
