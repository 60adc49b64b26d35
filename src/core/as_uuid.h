/*
 * as_uuid.h — UUID generation.  Formatting and parsing are public
 * (allsource.h).  Server-generated ids are UUIDv7 (RFC 9562): 48 bits of
 * Unix milliseconds then 74 random bits, so ids sort roughly by time.
 */
#ifndef AS_UUID_H
#define AS_UUID_H

#include <stdint.h>

#include "core/as_rand.h"

/** Writes a version-7 UUID for time `t_us` using `r` for the random bits. */
void as_uuid_v7(as_rand *r, int64_t t_us, uint8_t out[16]);

/** Largest sequence number as_uuid_v7_seq can carry (2^48 - 1). */
#define AS_UUID_SEQ_MAX ((UINT64_C(1) << 48) - 1)

/** Writes a version-7 UUID for time `t_us` carrying `seq`
 *  (1 <= seq <= AS_UUID_SEQ_MAX) in the 48 bits after the timestamp and the
 *  version (a counter in the leftmost random bits, RFC 9562 section 6.2
 *  method 1), then 26 random bits; such ids sort by time, then by seq.  The
 *  store puts an event's position there, so an id names where its event is
 *  without an id index. */
void as_uuid_v7_seq(as_rand *r, int64_t t_us, uint64_t seq, uint8_t out[16]);

/** The sequence number a version-7 UUID would carry (as_uuid_v7_seq's
 *  layout), or 0 if `id` is not a version-7, RFC-variant UUID.  Any such UUID has
 *  one: the caller checks that the event at that position has this id. */
uint64_t as_uuid_v7_seq_of(const uint8_t id[16]);

#endif /* AS_UUID_H */
