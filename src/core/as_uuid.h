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

#endif /* AS_UUID_H */
