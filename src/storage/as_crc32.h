/*
 * as_crc32.h — CRC-32 (IEEE 802.3 / zlib polynomial, reflected 0xEDB88320),
 * the checksum of Parquet page headers' `crc` field.  Not CRC-32C (which is
 * core/as_crc32c.h, used by the WAL).
 */
#ifndef AS_CRC32_H
#define AS_CRC32_H

#include <stddef.h>
#include <stdint.h>

/** Extends `crc` (0 to start) over `len` bytes.  crc32("123456789") is
 *  0xcbf43926. */
uint32_t as_crc32(uint32_t crc, const void *data, size_t len);

#endif /* AS_CRC32_H */
