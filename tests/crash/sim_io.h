/*
 * sim_io.h — an in-memory file system behind the as_io table that can
 * crash and lose power.
 *
 * Model.  Each file (inode) has a volatile content (what reads see) and a
 * durable content (what survives power loss): fdatasync copies the first to
 * the second.  Writes and truncations since the last sync are remembered in
 * order.  Directory changes (create, rename, unlink) are volatile until
 * fsync_dir, which makes every pending directory change durable.
 *
 * Crash.  sim_fs_crash_at(fs, n) makes the n-th mutating operation (write,
 * truncate, sync, create, rename, unlink, fsync_dir) the last one: a write
 * at that point is torn (a random prefix of it lands in the page cache),
 * anything else does not happen, and from then on every operation fails
 * with EIO, as if the process had died.  sim_fs_fail_sync_at(fs, n) instead
 * makes the n-th fdatasync fail with EIO and forget the unsynced writes'
 * durability (Linux may drop dirty pages after a writeback error).
 *
 * Power loss.  sim_fs_power_loss(fs, seed) rebuilds every file from its
 * durable content plus each unsynced write applied fully, dropped, or torn
 * at 512-byte sector granularity (dropped writes that extended a file may
 * leave zeros), and the directory from its durable state plus a random
 * prefix of the pending changes.  Then the file system works again.
 */
#ifndef SIM_IO_H
#define SIM_IO_H

#include <stdint.h>

#include "io/as_io.h"

typedef struct sim_fs sim_fs;

sim_fs *sim_fs_new(void);
void sim_fs_free(sim_fs *fs);
/** The operations table (valid while fs lives). */
const as_io *sim_fs_io(sim_fs *fs);
/** Crash at the n-th mutating operation from now (0 = never). */
void sim_fs_crash_at(sim_fs *fs, uint64_t n);
/** Fail the n-th fdatasync from now with EIO (0 = never). */
void sim_fs_fail_sync_at(sim_fs *fs, uint64_t n);
/** Mutating operations performed so far. */
uint64_t sim_fs_ops(sim_fs *fs);
int sim_fs_crashed(sim_fs *fs);
/** Loses power: see above.  Clears the crash state. */
void sim_fs_power_loss(sim_fs *fs, uint64_t seed);
/** Kill -9 without power loss: the page cache survives. */
void sim_fs_restart(sim_fs *fs);

#endif /* SIM_IO_H */
