/*
 * as_rcu.h — a minimal read-copy-update domain for the engine's shared maps.
 *
 * Readers bracket short lookups with as_rcu_read_lock()/unlock(); the single
 * writer, after replacing a published pointer, calls as_rcu_synchronize()
 * before freeing the old object.  Grace periods are rare (a hash-table
 * resize), reader sections are short, and no thread registration is needed,
 * so the engine can be embedded anywhere.
 *
 * Design: two generations of striped reader counters (Dekker-style, all
 * seq_cst).  A reader increments the counter of the generation it observed
 * and re-checks the generation; the writer flips the generation and waits
 * for the old generation's counters to drain.  Everything is C11 atomics,
 * so ThreadSanitizer sees the happens-before edges (liburcu's barriers are
 * invisible to it).  Reader sections must not block or nest across a
 * synchronize of the same domain on the same thread.
 */
#ifndef AS_RCU_H
#define AS_RCU_H

#include <stdatomic.h>
#include <stdint.h>

#define AS_RCU_STRIPES 8

typedef struct as_rcu {
  _Atomic uint64_t gen;
  struct {
    _Atomic uint64_t n;
    char pad[56];
  } cnt[2][AS_RCU_STRIPES];
} as_rcu;

typedef struct as_rcu_token {
  unsigned gen_bit, stripe;
} as_rcu_token;

void as_rcu_init(as_rcu *r);
as_rcu_token as_rcu_read_lock(as_rcu *r);
void as_rcu_read_unlock(as_rcu *r, as_rcu_token t);
/** Waits until every reader section that began before the call has ended.
 *  Must be called by one thread at a time (the writer). */
void as_rcu_synchronize(as_rcu *r);

#endif /* AS_RCU_H */
