/*
 * as_posidx.h — position -> event record, for positions 1 .. 2^32.
 *
 * Positions 1 .. AS_POSIDX_FIRST live in a small array allocated with the
 * index; beyond them, a top-level array of 65,536 block pointers, each block
 * holding 65,536 record pointers (memory straight from the kernel, touched
 * only as it fills).  The top array is mapped when the first position past
 * AS_POSIDX_FIRST is stored, so a small store (a test, a CLI run, a batch
 * job) maps and unmaps nothing: on a virtual machine an unmap after other
 * CPUs ran the process costs a TLB shootdown, tens of microseconds.
 * The top array and blocks are allocated by the writer as positions grow and
 * never move, and a position is stored before it is committed, so a reader
 * that has observed a committed position (with acquire ordering) can read
 * every slot up to it without locks.
 *
 * Ownership: the index owns its arrays and blocks, not the records.
 */
#ifndef AS_POSIDX_H
#define AS_POSIDX_H

#include <stdint.h>

#include "allsource.h"

#define AS_POSIDX_BLOCK_BITS 16
#define AS_POSIDX_FIRST 4096                  /* positions in `first` */
#define AS_POSIDX_MAX ((uint64_t)1 << 32) /* highest position + 1 */

typedef struct as_posidx {
  void **first;            /* owned; AS_POSIDX_FIRST record pointers */
  void ***top;             /* owned; 65,536 block pointers, or NULL until
                              a position past AS_POSIDX_FIRST is stored */
  uint64_t blocks;         /* blocks allocated */
} as_posidx;

as_err as_posidx_init(as_posidx *ix);
void as_posidx_destroy(as_posidx *ix);
/** Writer: stores `rec` for position `pos` (1-based).  AS_ELIMIT beyond
 *  AS_POSIDX_MAX, AS_ENOMEM if a block cannot be allocated. */
as_err as_posidx_set(as_posidx *ix, uint64_t pos, void *rec);
/** Bytes the index has allocated (writer, or any thread when quiescent). */
uint64_t as_posidx_bytes(const as_posidx *ix);

/** Reader: the record at `pos`; pos must be in 1 .. committed. */
static inline void *as_posidx_get(const as_posidx *ix, uint64_t pos) {
  uint64_t i = pos - 1;
  if (i < AS_POSIDX_FIRST) return ix->first[i];
  return ix->top[i >> AS_POSIDX_BLOCK_BITS]
                [i & (((uint64_t)1 << AS_POSIDX_BLOCK_BITS) - 1)];
}

#endif /* AS_POSIDX_H */
