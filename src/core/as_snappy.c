/*
 * as_snappy.c — Snappy raw block compression (see as_snappy.h).
 */
#include "core/as_snappy.h"

#include <string.h>

#include "core/as_common.h"

#define BLOCK (1u << 16)
#define HASH_BITS 14

size_t as_snappy_max_compressed_length(size_t n) { return 32 + n + n / 6; }

static inline uint32_t load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static inline uint32_t hash32(uint32_t v) {
  return (v * 0x1e35a7bdu) >> (32 - HASH_BITS);
}

static uint8_t *put_varint(uint8_t *op, uint32_t v) {
  while (v >= 0x80) {
    *op++ = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  *op++ = (uint8_t)v;
  return op;
}

static uint8_t *emit_literal(uint8_t *op, const uint8_t *p, size_t len) {
  if (len == 0) return op;
  size_t n = len - 1;
  if (n < 60) {
    *op++ = (uint8_t)(n << 2);
  } else {
    int bytes = n < (1u << 8) ? 1 : n < (1u << 16) ? 2 : n < (1u << 24) ? 3 : 4;
    *op++ = (uint8_t)((59 + bytes) << 2);
    for (int i = 0; i < bytes; i++) *op++ = (uint8_t)(n >> (8 * i));
  }
  memcpy(op, p, len);
  return op + len;
}

static uint8_t *emit_copy2(uint8_t *op, uint32_t off, uint32_t len) {
  *op++ = (uint8_t)(2 | ((len - 1) << 2));
  *op++ = (uint8_t)off;
  *op++ = (uint8_t)(off >> 8);
  return op;
}

static uint8_t *emit_copy(uint8_t *op, uint32_t off, uint32_t len) {
  while (len >= 68) {
    op = emit_copy2(op, off, 64);
    len -= 64;
  }
  if (len > 64) {
    op = emit_copy2(op, off, 60);
    len -= 60;
  }
  if (len < 12 && off < 2048) {
    *op++ = (uint8_t)(1 | ((len - 4) << 2) | ((off >> 8) << 5));
    *op++ = (uint8_t)off;
    return op;
  }
  return emit_copy2(op, off, len);
}

static uint8_t *compress_block(const uint8_t *bs, size_t n, uint8_t *op,
                               uint16_t *table) {
  const uint8_t *be = bs + n, *ip = bs, *lit = bs;
  if (n < 15) return emit_literal(op, bs, n);
  memset(table, 0, sizeof(uint16_t) << HASH_BITS);
  uint32_t skip = 32;
  while (ip + 4 <= be) {
    uint32_t h = hash32(load32(ip));
    const uint8_t *cand = bs + table[h];
    table[h] = (uint16_t)(ip - bs);
    if (cand < ip && load32(cand) == load32(ip)) {
      op = emit_literal(op, lit, (size_t)(ip - lit));
      size_t len = 4;
      while (ip + len < be && cand[len] == ip[len]) len++;
      op = emit_copy(op, (uint32_t)(ip - cand), (uint32_t)len);
      ip += len;
      lit = ip;
      if (ip - 1 + 4 <= be) table[hash32(load32(ip - 1))] = (uint16_t)(ip - 1 - bs);
      skip = 32;
    } else {
      ip += skip++ >> 5;
    }
  }
  return emit_literal(op, lit, (size_t)(be - lit));
}

as_err as_snappy_compress(const void *src, size_t n, void *dst, size_t cap,
                          size_t *out_len) {
  if (n > UINT32_MAX || cap < as_snappy_max_compressed_length(n))
    return AS_EINVAL;
  uint16_t table[1u << HASH_BITS];
  const uint8_t *ip = src;
  uint8_t *op = put_varint(dst, (uint32_t)n);
  for (size_t pos = 0; pos < n; pos += BLOCK) {
    size_t len = AS_MIN((size_t)BLOCK, n - pos);
    op = compress_block(ip + pos, len, op, table);
  }
  *out_len = (size_t)(op - (uint8_t *)dst);
  return AS_OK;
}

static as_err read_len(const uint8_t *p, size_t n, size_t *len, size_t *used) {
  uint64_t v = 0;
  for (size_t i = 0; i < 5; i++) {
    if (i >= n) return AS_ECORRUPT;
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      if (v > UINT32_MAX) return AS_ECORRUPT;
      *len = (size_t)v;
      *used = i + 1;
      return AS_OK;
    }
  }
  return AS_ECORRUPT;
}

as_err as_snappy_uncompressed_length(const void *src, size_t n, size_t *len) {
  size_t used;
  return read_len(src, n, len, &used);
}

as_err as_snappy_decompress(const void *src, size_t n, void *dst,
                            size_t dst_len) {
  const uint8_t *ip = src, *end = ip + n;
  uint8_t *out = dst;
  size_t declared, used, op = 0;
  if (read_len(ip, n, &declared, &used) != AS_OK || declared != dst_len)
    return AS_ECORRUPT;
  ip += used;
  while (ip < end) {
    uint8_t tag = *ip++;
    size_t len, off;
    if ((tag & 3) == 0) {
      len = (size_t)(tag >> 2) + 1;
      if (len > 60) {
        size_t nb = len - 60;
        if ((size_t)(end - ip) < nb) return AS_ECORRUPT;
        len = 0;
        for (size_t i = 0; i < nb; i++) len |= (size_t)ip[i] << (8 * i);
        len += 1;
        ip += nb;
      }
      if ((size_t)(end - ip) < len || dst_len - op < len) return AS_ECORRUPT;
      memcpy(out + op, ip, len);
      ip += len;
      op += len;
      continue;
    }
    if ((tag & 3) == 1) {
      if (end - ip < 1) return AS_ECORRUPT;
      len = ((tag >> 2) & 7) + 4;
      off = ((size_t)(tag >> 5) << 8) | ip[0];
      ip += 1;
    } else if ((tag & 3) == 2) {
      if (end - ip < 2) return AS_ECORRUPT;
      len = (size_t)(tag >> 2) + 1;
      off = as_get_u16(ip);
      ip += 2;
    } else {
      if (end - ip < 4) return AS_ECORRUPT;
      len = (size_t)(tag >> 2) + 1;
      off = as_get_u32(ip);
      ip += 4;
    }
    if (off == 0 || off > op || dst_len - op < len) return AS_ECORRUPT;
    if (off >= len) {
      memcpy(out + op, out + op - off, len);
    } else {
      /* Overlapping: the last `off` bytes repeat.  Copy from a fixed
       * source in chunks that never overlap it: the span already written
       * is a whole number of periods and doubles with every chunk. */
      const uint8_t *from = out + op - off;
      size_t done = 0;
      while (done < len) {
        size_t k = AS_MIN(off + done, len - done);
        memcpy(out + op + done, from, k);
        done += k;
      }
    }
    op += len;
  }
  return op == dst_len ? AS_OK : AS_ECORRUPT;
}
