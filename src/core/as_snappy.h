/*
 * as_snappy.h — a small Snappy (raw block format) compressor and a strict
 * decompressor, for Parquet's SNAPPY codec.  No libsnappy: it is C++.
 *
 * Format: a varint of the uncompressed length, then tagged elements —
 * literals (tag & 3 == 0) and copies with 1-, 2- or 4-byte offsets back into
 * the output.  The compressor is a greedy hash-chain-free LZ77 over 64 KiB
 * blocks (like the reference), so every copy offset fits in 16 bits.
 *
 * The decompressor never writes outside dst[0..dst_len), never reads past
 * src[0..n), and rejects a stream whose declared length differs from
 * dst_len, a copy reaching before the start of the output, a zero offset,
 * and trailing or missing bytes (AS_ECORRUPT).
 */
#ifndef AS_SNAPPY_H
#define AS_SNAPPY_H

#include <stddef.h>
#include <stdint.h>

#include "allsource.h"

/** Worst-case compressed size of n input bytes. */
size_t as_snappy_max_compressed_length(size_t n);

/** Compresses src[0..n) (n <= UINT32_MAX) into dst, which must hold
 *  `cap` >= as_snappy_max_compressed_length(n) bytes.  Stores the compressed
 *  size in *out_len.  AS_EINVAL if n or cap is out of range. */
as_err as_snappy_compress(const void *src, size_t n, void *dst, size_t cap,
                          size_t *out_len);

/** Reads the uncompressed length declared by a compressed stream. */
as_err as_snappy_uncompressed_length(const void *src, size_t n, size_t *len);

/** Decompresses src[0..n) into dst, which must be exactly the declared
 *  uncompressed length `dst_len`.  AS_ECORRUPT on any malformed input. */
as_err as_snappy_decompress(const void *src, size_t n, void *dst,
                            size_t dst_len);

#endif /* AS_SNAPPY_H */
