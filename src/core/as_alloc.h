/*
 * as_alloc.h — every allocation of the engine goes through these functions.
 *
 * They count live bytes (for the memory-per-event benchmark and the stats
 * route) and support fault injection: tests can make the Nth allocation fail
 * to prove that every AS_ENOMEM path cleans up.  The counters and the fault
 * switch are the only process-wide mutable state of the engine (atomics).
 */
#ifndef AS_ALLOC_H
#define AS_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/** malloc/calloc/realloc that return NULL on failure (never abort). */
void *as_malloc(size_t n);
void *as_calloc(size_t count, size_t size);
void *as_realloc(void *p, size_t n);
/** Zeroed, page-aligned memory straight from the kernel (mmap) for large
 *  tables: pages cost nothing until touched, and no memset is paid even
 *  after glibc has raised its mmap threshold.  Free with as_pages_free()
 *  and the same size.  Counted and fault-injectable like as_malloc(). */
void *as_pages_alloc(size_t n);
void as_pages_free(void *p, size_t n);
/** Copies `len` bytes plus a NUL into a new allocation. */
char *as_strndup(const char *s, size_t len);
/* as_free() is public (allsource.h). */

/** Bytes currently allocated through this module. */
uint64_t as__alloc_live_bytes(void);

/** Fault injection: the `n`th allocation from now fails (n >= 1); 0 turns it
 *  off.  Subsequent allocations succeed again. */
void as__alloc_fail_after(uint64_t n);
/** Number of allocations that failed by injection since the last call. */
uint64_t as__alloc_injected_failures(void);

#endif /* AS_ALLOC_H */
