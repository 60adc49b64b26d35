/*
 * as_rand.c — xoshiro256** (Blackman & Vigna), splitmix64 seeding.
 */
#include "core/as_rand.h"

#include <sys/random.h>
#include <time.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void as_rand_seed_u64(as_rand *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

void as_rand_seed(as_rand *r) {
  uint64_t seed[4];
  if (getrandom(seed, sizeof seed, 0) == (ssize_t)sizeof seed &&
      (seed[0] | seed[1] | seed[2] | seed[3])) {
    for (int i = 0; i < 4; i++) r->s[i] = seed[i];
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  as_rand_seed_u64(r, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
                          (uint64_t)(uintptr_t)r);
}

void as_rand_seed_from(as_rand *r, as_rand *src) {
  for (int i = 0; i < 4; i++) r->s[i] = as_rand_next(src);
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1; /* never all zero */
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

uint64_t as_rand_next(as_rand *r) {
  uint64_t *s = r->s;
  const uint64_t result = rotl(s[1] * 5, 7) * 9;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t as_rand_below(as_rand *r, uint64_t n) {
  uint64_t lim = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = as_rand_next(r);
  while (x >= lim);
  return x % n;
}
