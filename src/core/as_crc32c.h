/*
 * as_crc32c.h — CRC-32C (Castagnoli), the checksum of every WAL record and
 * segment header.  Uses the SSE4.2 instruction when the CPU has it.
 */
#ifndef AS_CRC32C_H
#define AS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/** Extends `crc` (0 to start) over `len` bytes.  crc32c("123456789") is
 *  0xe3069283. */
uint32_t as_crc32c(uint32_t crc, const void *data, size_t len);

#endif /* AS_CRC32C_H */
