/*
 * as_parquet_codec.c — Parquet compression codecs and the RLE/bit-packing
 * hybrid encoding (definition levels, dictionary indices, RLE booleans).
 *
 * Hybrid encoding (parquet Encodings.md):
 *   run          = rle-run | bit-packed-run
 *   rle-run      = varint(count << 1), value in ceil(width / 8) bytes LE
 *   bit-packed   = varint(groups << 1 | 1), groups * 8 values packed LSB
 *                  first in groups * width bytes
 * The decoder accepts a final bit-packed run that stops right after the
 * last needed value (some writers omit the padding).
 */
#include <lz4.h>
#include <string.h>
#include <zstd.h>

#include "core/as_snappy.h"
#include "storage/as_parquet_int.h"

bool as__pq_codec_readable(int codec) {
  return codec == AS_PQ_UNCOMPRESSED || codec == AS_PQ_SNAPPY ||
         codec == AS_PQ_ZSTD || codec == AS_PQ_LZ4_RAW;
}

bool as__pq_codec_writable(int codec) { return as__pq_codec_readable(codec); }

void as__pq_compress_ctx_free(void *zctx) { ZSTD_freeCCtx(zctx); }

as_err as__pq_compress(int codec, int level, const void *src, size_t n,
                       as_buf *out, void **zctx) {
  size_t bound, got = 0;
  as_buf_reset(out);
  switch (codec) {
  case AS_PQ_UNCOMPRESSED:
    return as_buf_append(out, src, n);
  case AS_PQ_ZSTD: {
    bound = ZSTD_compressBound(n);
    if (as_buf_reserve(out, bound)) return as_buf_error(out);
    if (!*zctx && !(*zctx = ZSTD_createCCtx())) return AS_ENOMEM;
    size_t r = ZSTD_compressCCtx(*zctx, out->data, bound, src, n, level);
    if (ZSTD_isError(r)) return AS_EIO;
    got = r;
    break;
  }
  case AS_PQ_SNAPPY: {
    bound = as_snappy_max_compressed_length(n);
    if (as_buf_reserve(out, bound)) return as_buf_error(out);
    as_err rc = as_snappy_compress(src, n, out->data, bound, &got);
    if (rc) return rc;
    break;
  }
  case AS_PQ_LZ4_RAW: {
    if (n > LZ4_MAX_INPUT_SIZE) return AS_ELIMIT;
    bound = (size_t)LZ4_compressBound((int)n);
    if (as_buf_reserve(out, bound)) return as_buf_error(out);
    int r = LZ4_compress_default(src, out->data, (int)n, (int)bound);
    if (r <= 0) return AS_EIO;
    got = (size_t)r;
    break;
  }
  default:
    return AS_EUNSUPPORTED;
  }
  out->len = got;
  out->data[got] = '\0';
  return AS_OK;
}

as_err as__pq_decompress(int codec, const void *src, size_t n, void *dst,
                         size_t dst_len, const char **what) {
  switch (codec) {
  case AS_PQ_UNCOMPRESSED:
    if (n != dst_len) {
      *what = "uncompressed page sizes differ";
      return AS_ECORRUPT;
    }
    if (n) memcpy(dst, src, n);
    return AS_OK;
  case AS_PQ_ZSTD: {
    size_t r = ZSTD_decompress(dst, dst_len, src, n);
    if (ZSTD_isError(r)) {
      *what = "invalid ZSTD data";
      return AS_ECORRUPT;
    }
    if (r != dst_len) {
      *what = "ZSTD data decompresses to a different size than the page header says";
      return AS_ECORRUPT;
    }
    return AS_OK;
  }
  case AS_PQ_SNAPPY:
    if (as_snappy_decompress(src, n, dst, dst_len) != AS_OK) {
      *what = "invalid SNAPPY data (or a size different from the page header's)";
      return AS_ECORRUPT;
    }
    return AS_OK;
  case AS_PQ_LZ4_RAW: {
    if (n > LZ4_MAX_INPUT_SIZE || dst_len > (size_t)INT32_MAX) {
      *what = "LZ4_RAW page too large";
      return AS_ECORRUPT;
    }
    if (n == 0 && dst_len == 0) return AS_OK;
    int r = LZ4_decompress_safe(src, dst, (int)n, (int)dst_len);
    if (r < 0 || (size_t)r != dst_len) {
      *what = "invalid LZ4_RAW data (or a size different from the page header's)";
      return AS_ECORRUPT;
    }
    return AS_OK;
  }
  default:
    *what = "unsupported codec";
    return AS_EUNSUPPORTED;
  }
}

/* ---------------------------------------------------------------------- */
/* RLE / bit-packing hybrid                                               */
/* ---------------------------------------------------------------------- */

static void put_uvarint(as_buf *b, uint64_t v) {
  char tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = (char)(v | 0x80);
    v >>= 7;
  }
  tmp[n++] = (char)v;
  as_buf_append(b, tmp, n);
}

static size_t run_length(const uint32_t *v, size_t i, size_t n) {
  size_t j = i + 1;
  while (j < n && v[j] == v[i]) j++;
  return j - i;
}

static void put_bitpacked(as_buf *b, const uint32_t *v, size_t start,
                          size_t n, size_t groups, unsigned width) {
  put_uvarint(b, (groups << 1) | 1);
  size_t bytes = groups * width; /* groups * 8 values * width bits / 8 */
  if (as_buf_reserve(b, bytes)) return;
  unsigned char *o = (unsigned char *)b->data + b->len;
  memset(o, 0, bytes);
  size_t bit = 0;
  for (size_t k = 0; k < groups * 8; k++, bit += width) {
    uint64_t x = start + k < n ? v[start + k] : 0;
    for (unsigned w = 0; w < width; w++)
      if (x >> w & 1) o[(bit + w) >> 3] |= (unsigned char)(1u << ((bit + w) & 7));
  }
  b->len += bytes;
  b->data[b->len] = '\0';
}

void as__pq_rle_encode(as_buf *b, const uint32_t *v, size_t n,
                       unsigned width) {
  size_t vbytes = (width + 7) / 8;
  size_t i = 0;
  while (i < n) {
    size_t run = run_length(v, i, n);
    if (run >= 8) {
      put_uvarint(b, (uint64_t)run << 1);
      unsigned char tmp[4];
      as_put_u32(tmp, v[i]);
      as_buf_append(b, tmp, vbytes);
      i += run;
      continue;
    }
    /* Bit-pack groups of 8 until a long run starts at a group boundary. */
    size_t start = i, groups = 0;
    while (i < n && groups < (1u << 20)) {
      if (groups > 0 && run_length(v, i, n) >= 8) break;
      i += 8;
      groups++;
    }
    if (i > n) i = n;
    put_bitpacked(b, v, start, n, groups, width);
  }
}

as_err as__pq_rle_decode(const uint8_t *p, size_t len, unsigned width,
                         uint32_t *out, size_t n, size_t *used,
                         const char **what) {
  size_t pos = 0, got = 0;
  size_t vbytes = (width + 7) / 8;
  uint64_t maxv = width >= 32 ? UINT32_MAX : ((uint64_t)1 << width) - 1;
  if (width > 32) {
    *what = "RLE bit width larger than 32";
    return AS_ECORRUPT;
  }
  while (got < n) {
    uint64_t h = 0;
    int shift = 0;
    for (;;) {
      if (pos >= len) {
        *what = "RLE data ends before all values";
        return AS_ECORRUPT;
      }
      uint8_t c = p[pos++];
      if (shift > 56 || (shift == 56 && (c & 0x80))) {
        *what = "RLE run header too long";
        return AS_ECORRUPT;
      }
      h |= (uint64_t)(c & 0x7f) << shift;
      shift += 7;
      if (!(c & 0x80)) break;
    }
    if (h & 1) {
      uint64_t groups = h >> 1;
      if (groups > (SIZE_MAX / 8)) groups = SIZE_MAX / 8;
      size_t count = (size_t)groups * 8;
      size_t take = AS_MIN(count, n - got);
      size_t need = (take * width + 7) / 8;
      size_t full = (size_t)AS_MIN((uint64_t)groups * width, (uint64_t)SIZE_MAX / 2);
      if (len - pos < need) {
        *what = "bit-packed run longer than the data";
        return AS_ECORRUPT;
      }
      const uint8_t *q = p + pos;
      size_t bit = 0;
      for (size_t k = 0; k < take; k++, bit += width) {
        uint64_t x = 0;
        size_t byte = bit >> 3, sh = bit & 7;
        size_t nb = AS_MIN((size_t)8, (sh + width + 7) / 8);
        for (size_t j = 0; j < nb && byte + j < need; j++)
          x |= (uint64_t)q[byte + j] << (8 * j);
        out[got + k] = (uint32_t)((x >> sh) & maxv);
      }
      got += take;
      pos += AS_MIN(full, len - pos);
    } else {
      uint64_t count = h >> 1;
      if (len - pos < vbytes) {
        *what = "RLE run value truncated";
        return AS_ECORRUPT;
      }
      uint64_t x = 0;
      for (size_t j = 0; j < vbytes; j++) x |= (uint64_t)p[pos + j] << (8 * j);
      pos += vbytes;
      if (x > maxv) {
        *what = "RLE run value wider than the bit width";
        return AS_ECORRUPT;
      }
      size_t take = (size_t)AS_MIN(count, (uint64_t)(n - got));
      for (size_t k = 0; k < take; k++) out[got + k] = (uint32_t)x;
      got += take;
    }
  }
  *used = pos;
  return AS_OK;
}
