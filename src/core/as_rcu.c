/*
 * as_rcu.c — two-generation counter RCU (see as_rcu.h for the argument).
 */
#include "core/as_rcu.h"

#include <sched.h>

void as_rcu_init(as_rcu *r) {
  atomic_init(&r->gen, 0);
  for (int g = 0; g < 2; g++)
    for (int s = 0; s < AS_RCU_STRIPES; s++) atomic_init(&r->cnt[g][s].n, 0);
}

static unsigned stripe_of_thread(void) {
  int probe;
  uintptr_t a = (uintptr_t)&probe >> 12; /* thread stacks differ */
  a ^= a >> 7;
  return (unsigned)(a % AS_RCU_STRIPES);
}

as_rcu_token as_rcu_read_lock(as_rcu *r) {
  as_rcu_token t;
  t.stripe = stripe_of_thread();
  for (;;) {
    uint64_t g = atomic_load(&r->gen);
    t.gen_bit = (unsigned)(g & 1);
    atomic_fetch_add(&r->cnt[t.gen_bit][t.stripe].n, 1);
    if (atomic_load(&r->gen) == g) return t;
    atomic_fetch_sub(&r->cnt[t.gen_bit][t.stripe].n, 1);
  }
}

void as_rcu_read_unlock(as_rcu *r, as_rcu_token t) {
  atomic_fetch_sub_explicit(&r->cnt[t.gen_bit][t.stripe].n, 1,
                            memory_order_release);
}

void as_rcu_synchronize(as_rcu *r) {
  uint64_t g = atomic_load(&r->gen);
  atomic_store(&r->gen, g + 1);
  unsigned bit = (unsigned)(g & 1);
  for (int s = 0; s < AS_RCU_STRIPES; s++) {
    unsigned spins = 0;
    while (atomic_load(&r->cnt[bit][s].n) != 0) {
      if (++spins > 64) sched_yield();
    }
  }
}
