/*
 * as_rand.h — xoshiro256** pseudo-random generator, seeded from getrandom().
 * Not thread-safe: each owner (the writer, a test) keeps its own state.
 */
#ifndef AS_RAND_H
#define AS_RAND_H

#include <stdint.h>

typedef struct as_rand {
  uint64_t s[4];
} as_rand;

/** Seeds from the kernel's CSPRNG (falls back to time and address bits). */
void as_rand_seed(as_rand *r);
/** Seeds deterministically (tests). */
void as_rand_seed_u64(as_rand *r, uint64_t seed);
/** Seeds r from four outputs of src (no system call; for a second
 *  generator of an object whose first one was seeded by as_rand_seed). */
void as_rand_seed_from(as_rand *r, as_rand *src);
uint64_t as_rand_next(as_rand *r);
/** Uniform in [0, n) for n > 0. */
uint64_t as_rand_below(as_rand *r, uint64_t n);

#endif /* AS_RAND_H */
