/*
 * as_posidx.h — position -> event record, for positions 1 .. 2^32.
 *
 * A fixed top-level array of 65,536 block pointers, each block holding
 * 65,536 record pointers.  Blocks are allocated by the writer as positions
 * grow and never move, so a reader that has observed a committed position
 * (with acquire ordering) can read every slot up to it without locks.
 */
#ifndef AS_POSIDX_H
#define AS_POSIDX_H

#include <stdint.h>

#include "allsource.h"

#define AS_POSIDX_BLOCK_BITS 16
#define AS_POSIDX_MAX ((uint64_t)1 << 32) /* highest position + 1 */

typedef struct as_posidx {
  void ***top;     /* owned; 65,536 block pointers */
  uint64_t blocks; /* blocks allocated */
} as_posidx;

as_err as_posidx_init(as_posidx *ix);
void as_posidx_destroy(as_posidx *ix);
/** Writer: stores `rec` for position `pos` (1-based).  AS_ELIMIT beyond
 *  AS_POSIDX_MAX, AS_ENOMEM if a block cannot be allocated. */
as_err as_posidx_set(as_posidx *ix, uint64_t pos, void *rec);

/** Reader: the record at `pos`; pos must be in 1 .. committed. */
static inline void *as_posidx_get(const as_posidx *ix, uint64_t pos) {
  uint64_t i = pos - 1;
  return ix->top[i >> AS_POSIDX_BLOCK_BITS]
                [i & (((uint64_t)1 << AS_POSIDX_BLOCK_BITS) - 1)];
}

#endif /* AS_POSIDX_H */
