/*
 * as_parquet_read.c — the generic Parquet reader: footer validation and
 * flat column decoding.
 *
 * Invariants (hostile input):
 *   1. Nothing is read outside [0, file_size): the footer length and every
 *      column chunk range are checked against the file size at open.
 *   2. Inside a chunk, every page header, page body, level run and value is
 *      bounds-checked against the bytes that remain; counts are checked
 *      against what the page can hold before anything is allocated.
 *   3. Allocations are bounded by the chunk's size, the declared value count
 *      (<= max_chunk_values) and max_page_bytes / max_chunk_bytes.
 *   4. Every loop consumes input or ends: pages advance by header + body,
 *      runs advance by at least their header byte.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_err.h"
#include "storage/as_crc32.h"
#include "storage/as_parquet_int.h"

void as_pq_read_options_init(as_pq_read_options *o) {
  o->max_footer_bytes = 64u << 20;
  o->max_page_bytes = 256u << 20;
  o->max_chunk_bytes = 1u << 30;
  o->max_chunk_values = 16u << 20;
}

/* ---------------------------------------------------------------------- */
/* Open / close / inspect                                                 */
/* ---------------------------------------------------------------------- */

static int64_t chunk_start(const as_pq_chunk_desc *ch) {
  if (ch->dictionary_page_offset > 0 &&
      ch->dictionary_page_offset < ch->data_page_offset)
    return ch->dictionary_page_offset;
  return ch->data_page_offset;
}

static as_err check_ranges(as_pq_reader *r, uint64_t data_end, as_error *err) {
  const as_pq_file_desc *fd = &r->desc;
  for (size_t g = 0; g < fd->num_row_groups; g++) {
    for (size_t i = 0; i < fd->num_columns; i++) {
      const as_pq_chunk_desc *ch = &fd->row_groups[g].chunks[i];
      if (ch->file_path) continue; /* refused when read */
      int64_t s = chunk_start(ch);
      const char *name = fd->columns[i].path;
      if (s < 4 || (uint64_t)s >= data_end || ch->data_page_offset < s ||
          (uint64_t)ch->data_page_offset >= data_end)
        return as__error_set(err, AS_ECORRUPT, 0, name,
                             "parquet '%s': row group %zu, column '%s': page offset %" PRId64
                             " outside the data area [4, %" PRIu64 ")",
                             r->path, g, name, ch->data_page_offset, data_end);
      if (ch->total_compressed_size <= 0 ||
          (uint64_t)ch->total_compressed_size > data_end - (uint64_t)s)
        return as__error_set(err, AS_ECORRUPT, 0, name,
                             "parquet '%s': row group %zu, column '%s': chunk of %" PRId64
                             " bytes at offset %" PRId64 " runs past the data area (ends at %" PRIu64 ")",
                             r->path, g, name, ch->total_compressed_size, s, data_end);
    }
  }
  return AS_OK;
}

as_err as_pq_open(const as_io *io, const char *path,
                  const as_pq_read_options *opt, as_pq_reader **out,
                  as_error *err) {
  as_err rc = AS_OK;
  as_pq_reader *r = NULL;
  uint64_t size = 0;
  unsigned char head[4], tail[8];
  int e;
  *out = NULL;
  if (!io || !path) return as__error_set(err, AS_EINVAL, 0, NULL, "parquet: no io or path");
  r = as_calloc(1, sizeof *r);
  if (!r) return as__error_set(err, AS_ENOMEM, 0, NULL, "parquet '%s': out of memory", path);
  r->io = io;
  r->fd = -1;
  if (opt) r->opt = *opt;
  else as_pq_read_options_init(&r->opt);
  r->path = as_strndup(path, strlen(path));
  if (!r->path) {
    rc = as__error_set(err, AS_ENOMEM, 0, NULL, "parquet '%s': out of memory", path);
    goto out;
  }
  if ((e = io->open(io->ctx, path, AS_IO_RDONLY)) < 0) {
    rc = as__error_set(err, as_io_err(e), 0, NULL, "parquet '%s': cannot open: %s", path,
                       as_strerror(as_io_err(e)));
    goto out;
  }
  r->fd = e;
  if ((e = io->fsize(io->ctx, r->fd, &size)) < 0) {
    rc = as__error_set(err, as_io_err(e), 0, NULL, "parquet '%s': %s", path, as_strerror(as_io_err(e)));
    goto out;
  }
  r->desc.file_size = size;
  if (size < 12) {
    rc = as__error_set(err, AS_EFORMAT, 0, NULL,
                       "parquet '%s': not a Parquet file (%" PRIu64 " bytes, less than magic + footer)",
                       path, size);
    goto out;
  }
  if ((e = as_io_pread_all(io, r->fd, head, 4, 0)) < 0 ||
      (e = as_io_pread_all(io, r->fd, tail, 8, size - 8)) < 0) {
    rc = as__error_set(err, as_io_err(e), 0, NULL, "parquet '%s': %s", path, as_strerror(as_io_err(e)));
    goto out;
  }
  if (memcmp(tail + 4, "PARE", 4) == 0) {
    rc = as__error_set(err, AS_EUNSUPPORTED, 0, NULL,
                       "parquet '%s': encrypted footer (PARE) is not supported", path);
    goto out;
  }
  if (memcmp(tail + 4, AS_PQ_MAGIC, 4) != 0 || memcmp(head, AS_PQ_MAGIC, 4) != 0) {
    rc = as__error_set(err, AS_EFORMAT, 0, NULL,
                       "parquet '%s': not a Parquet file (no PAR1 magic at the %s)", path,
                       memcmp(head, AS_PQ_MAGIC, 4) != 0 ? "start" : "end");
    goto out;
  }
  uint32_t flen = as_get_u32(tail);
  if (flen == 0 || flen > size - 12) {
    rc = as__error_set(err, AS_ECORRUPT, 0, NULL,
                       "parquet '%s': footer length %" PRIu32 " does not fit a %" PRIu64 "-byte file",
                       path, flen, size);
    goto out;
  }
  if (flen > r->opt.max_footer_bytes) {
    rc = as__error_set(err, AS_ELIMIT, 0, NULL,
                       "parquet '%s': footer of %" PRIu32 " bytes exceeds the limit of %" PRIu32,
                       path, flen, r->opt.max_footer_bytes);
    goto out;
  }
  r->footer = as_malloc(flen);
  if (!r->footer) {
    rc = as__error_set(err, AS_ENOMEM, 0, NULL, "parquet '%s': out of memory", path);
    goto out;
  }
  if ((e = as_io_pread_all(io, r->fd, r->footer, flen, size - 8 - flen)) < 0) {
    rc = as__error_set(err, as_io_err(e), 0, NULL, "parquet '%s': %s", path, as_strerror(as_io_err(e)));
    goto out;
  }
  as__pq_arena_init(&r->arena, AS_MIN((size_t)flen * 64 + (1u << 20), (size_t)1 << 30));
  char msg[200];
  rc = as__pq_parse_footer(r->footer, flen, &r->arena, &r->desc, msg, sizeof msg);
  r->desc.file_size = size;
  if (rc) {
    as__error_set(err, rc, 0, NULL, "parquet '%s': %s", path, msg);
    goto out;
  }
  AS_CHECK(check_ranges(r, size - 8 - flen, err));
  *out = r;
  r = NULL;
out:
  as_pq_close(r);
  return rc;
}

void as_pq_close(as_pq_reader *r) {
  if (!r) return;
  if (r->fd >= 0) r->io->close(r->io->ctx, r->fd);
  as__pq_arena_free(&r->arena);
  as_free(r->footer);
  as_free(r->path);
  as_free(r);
}

const as_pq_file_desc *as_pq_describe(const as_pq_reader *r) { return &r->desc; }

const char *as_pq_kv_find(const as_pq_reader *r, const char *key, uint32_t *len) {
  for (size_t i = 0; i < r->desc.num_kv; i++) {
    const as_pq_kv *kv = &r->desc.kv[i];
    if (kv->value && strcmp(kv->key, key) == 0 && strlen(key) == kv->key_len) {
      if (len) *len = kv->value_len;
      return kv->value;
    }
  }
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Column decoding                                                        */
/* ---------------------------------------------------------------------- */

typedef struct heap_block {
  struct heap_block *next;
  max_align_t data[];
} heap_block;

typedef struct cd_impl {
  as_pq_column_data pub; /* first: the public view */
  void *values;
  uint8_t *defined;
  heap_block *heap;
} cd_impl;

void as_pq_column_data_free(as_pq_column_data *cd) {
  if (!cd) return;
  cd_impl *c = (cd_impl *)cd;
  heap_block *b = c->heap;
  while (b) {
    heap_block *n = b->next;
    as_free(b);
    b = n;
  }
  as_free(c->values);
  as_free(c->defined);
  as_free(c);
}

static void *heap_alloc(cd_impl *c, size_t n) {
  if (n > SIZE_MAX - sizeof(heap_block)) return NULL;
  heap_block *b = as_malloc(sizeof *b + n);
  if (!b) return NULL;
  b->next = c->heap;
  c->heap = b;
  return b->data;
}

/* Decoding state of one column chunk. */
typedef struct col_rd {
  as_pq_reader *r;
  const as_pq_column_desc *col;
  const as_pq_chunk_desc *ch;
  size_t rg, page;
  as_error *err;
  cd_impl *cd;
  size_t esize;      /* bytes per value in cd->values */
  void *dict;        /* dictionary values (esize each) */
  size_t ndict;
  bool has_dict;
  uint32_t *levels;  /* scratch: per page levels / indices */
  size_t levels_cap;
} col_rd;

static as_err cfail(col_rd *c, as_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static as_err cfail(col_rd *c, as_err code, const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return as__error_set(c->err, code, (uint32_t)c->rg, c->col->path,
                       "parquet '%s': row group %zu, column '%s', page %zu: %s",
                       c->r->path, c->rg, c->col->path, c->page, msg);
}

static size_t elem_size(const as_pq_column_desc *col) {
  switch (col->type) {
  case AS_PQ_BOOLEAN: return 1;
  case AS_PQ_INT32: case AS_PQ_FLOAT: return 4;
  case AS_PQ_INT64: case AS_PQ_DOUBLE: return 8;
  case AS_PQ_INT96: return 12;
  case AS_PQ_BYTE_ARRAY: return sizeof(as_pq_bytes);
  case AS_PQ_FIXED_LEN_BYTE_ARRAY: return (size_t)col->type_length;
  }
  return 1;
}

/* Minimum PLAIN bytes of one value (bits for booleans are handled apart). */
static size_t plain_min(const as_pq_column_desc *col) {
  return col->type == AS_PQ_BYTE_ARRAY ? 4 : col->type == AS_PQ_BOOLEAN ? 0 : elem_size(col);
}

static as_err scratch(col_rd *c, size_t n) {
  if (n <= c->levels_cap) return AS_OK;
  uint32_t *p = as_realloc(c->levels, AS_MAX(n, (size_t)1) * sizeof *p);
  if (!p) return cfail(c, AS_ENOMEM, "out of memory");
  c->levels = p;
  c->levels_cap = n;
  return AS_OK;
}

/* Decodes k PLAIN values from p[0..n) into out[] (k slots of esize). */
static as_err decode_plain(col_rd *c, const uint8_t *p, size_t n, size_t k,
                           uint8_t *out) {
  const as_pq_column_desc *col = c->col;
  if (col->type == AS_PQ_BOOLEAN) {
    if (n < (k + 7) / 8) return cfail(c, AS_ECORRUPT, "PLAIN booleans truncated");
    for (size_t i = 0; i < k; i++) out[i] = (p[i >> 3] >> (i & 7)) & 1;
    return AS_OK;
  }
  if (col->type != AS_PQ_BYTE_ARRAY) {
    size_t es = elem_size(col);
    if (k > n / es) return cfail(c, AS_ECORRUPT, "PLAIN data holds fewer than %zu values", k);
    memcpy(out, p, k * es);
    return AS_OK;
  }
  if (k > n / 4) return cfail(c, AS_ECORRUPT, "PLAIN data holds fewer than %zu values", k);
  char *heap = heap_alloc(c->cd, n + k);
  if (!heap) return cfail(c, AS_ENOMEM, "out of memory");
  as_pq_bytes *v = (as_pq_bytes *)(void *)out;
  size_t pos = 0, hp = 0;
  for (size_t i = 0; i < k; i++) {
    if (n - pos < 4) return cfail(c, AS_ECORRUPT, "byte array %zu: length truncated", i);
    uint32_t l = as_get_u32(p + pos);
    pos += 4;
    if (l > n - pos) return cfail(c, AS_ECORRUPT, "byte array %zu: length %" PRIu32 " beyond the page", i, l);
    memcpy(heap + hp, p + pos, l);
    heap[hp + l] = '\0';
    v[i].ptr = heap + hp;
    v[i].len = l;
    hp += l + 1;
    pos += l;
  }
  return AS_OK;
}

static as_err read_dict_page(col_rd *c, const as__pq_page_header *h,
                             const uint8_t *data, size_t n) {
  if (c->has_dict) return cfail(c, AS_ECORRUPT, "second dictionary page");
  if (c->cd->pub.pages) return cfail(c, AS_ECORRUPT, "dictionary page after a data page");
  if (!h->has_dict) return cfail(c, AS_ECORRUPT, "dictionary page without a dictionary header");
  if (h->encoding != AS_PQ_PLAIN && h->encoding != AS_PQ_PLAIN_DICTIONARY)
    return cfail(c, AS_EUNSUPPORTED, "dictionary encoding %s is not supported",
                 as_pq_encoding_name(h->encoding));
  if (h->num_values < 0) return cfail(c, AS_ECORRUPT, "negative dictionary size");
  size_t k = (size_t)h->num_values, mn = plain_min(c->col);
  if (c->col->type == AS_PQ_BOOLEAN ? k > n * 8 : k > n / mn)
    return cfail(c, AS_ECORRUPT, "dictionary claims %zu values in %zu bytes", k, n);
  c->dict = heap_alloc(c->cd, AS_MAX(k, (size_t)1) * c->esize);
  if (!c->dict) return cfail(c, AS_ENOMEM, "out of memory");
  as_err rc = decode_plain(c, data, n, k, c->dict);
  if (rc) return rc;
  c->ndict = k;
  c->has_dict = true;
  c->cd->pub.dictionary = true;
  return AS_OK;
}

/* Decodes the values of a data page: `k` non-null values into the rows
 * [row, row + nv) whose defined flag is set. */
static as_err decode_values(col_rd *c, int enc, const uint8_t *p, size_t n,
                            size_t row, size_t nv, size_t k) {
  cd_impl *cd = c->cd;
  uint8_t *base = (uint8_t *)cd->values + row * c->esize;
  const uint8_t *def = cd->defined ? cd->defined + row : NULL;
  uint8_t *dense = base;
  bool scatter = def && k != nv;
  as_err rc;
  if (scatter) {
    /* Decode densely at the end of the page's slots, then spread out. */
    dense = base + (nv - k) * c->esize;
  }
  switch (enc) {
  case AS_PQ_PLAIN:
    if ((rc = decode_plain(c, p, n, k, dense))) return rc;
    break;
  case AS_PQ_PLAIN_DICTIONARY:
  case AS_PQ_RLE_DICTIONARY: {
    if (!c->has_dict) return cfail(c, AS_ECORRUPT, "dictionary-encoded page without a dictionary");
    if (k == 0) break;
    if (n < 1) return cfail(c, AS_ECORRUPT, "missing dictionary index bit width");
    unsigned width = p[0];
    if (width > 32) return cfail(c, AS_ECORRUPT, "dictionary index bit width %u > 32", width);
    if ((rc = scratch(c, k))) return rc;
    size_t used;
    const char *what = NULL;
    if ((rc = as__pq_rle_decode(p + 1, n - 1, width, c->levels, k, &used, &what)))
      return cfail(c, rc, "dictionary indices: %s", what);
    for (size_t i = 0; i < k; i++) {
      if (c->levels[i] >= c->ndict)
        return cfail(c, AS_ECORRUPT, "dictionary index %" PRIu32 " >= dictionary size %zu",
                     c->levels[i], c->ndict);
      memcpy(dense + i * c->esize, (uint8_t *)c->dict + (size_t)c->levels[i] * c->esize, c->esize);
    }
    break;
  }
  case AS_PQ_RLE: {
    if (c->col->type != AS_PQ_BOOLEAN)
      return cfail(c, AS_EUNSUPPORTED, "RLE encoding of %s values is not supported",
                   as_pq_type_name(c->col->type));
    if (n < 4) return cfail(c, AS_ECORRUPT, "RLE booleans: missing length");
    uint32_t len = as_get_u32(p);
    if (len > n - 4) return cfail(c, AS_ECORRUPT, "RLE booleans: length beyond the page");
    if ((rc = scratch(c, k))) return rc;
    size_t used;
    const char *what = NULL;
    if ((rc = as__pq_rle_decode(p + 4, len, 1, c->levels, k, &used, &what)))
      return cfail(c, rc, "RLE booleans: %s", what);
    for (size_t i = 0; i < k; i++) dense[i] = (uint8_t)c->levels[i];
    break;
  }
  default:
    return cfail(c, AS_EUNSUPPORTED, "encoding %s (%d) is not supported",
                 as_pq_encoding_name(enc), enc);
  }
  if (scatter) {
    /* Spread the dense values to their rows, front to back (the dense run
     * sits at the end, so a value never overwrites one not yet moved). */
    size_t j = nv - k;
    for (size_t i = 0; i < nv; i++) {
      uint8_t *dst = base + i * c->esize;
      if (def[i]) {
        if (dst != base + j * c->esize) memmove(dst, base + j * c->esize, c->esize);
        j++;
      } else {
        memset(dst, 0, c->esize);
      }
    }
  }
  return AS_OK;
}

static as_err read_data_page(col_rd *c, const as__pq_page_header *h,
                             const uint8_t *raw, size_t raw_len, size_t *row) {
  as_err rc = AS_OK;
  const as_pq_column_desc *col = c->col;
  bool v2 = h->type == AS_PQ_DATA_PAGE_V2;
  uint8_t *buf = NULL;
  const char *what = NULL;
  if (v2 ? !h->has_v2 : !h->has_data)
    return cfail(c, AS_ECORRUPT, "data page without its data page header");
  if (h->num_values < 0) return cfail(c, AS_ECORRUPT, "negative value count");
  size_t nv = (size_t)h->num_values;
  size_t total = (size_t)c->ch->num_values;
  if (nv > total - *row)
    return cfail(c, AS_ECORRUPT, "page holds %zu values, only %zu remain in the chunk", nv, total - *row);
  size_t ulen = (size_t)h->uncompressed_size;
  size_t lev_len = 0; /* v2: level bytes, stored uncompressed */
  if (v2) {
    if (h->def_len < 0 || h->rep_len < 0 || h->num_nulls < 0 || h->num_rows < 0)
      return cfail(c, AS_ECORRUPT, "negative v2 level length or count");
    lev_len = (size_t)h->def_len + (size_t)h->rep_len;
    if (lev_len > raw_len || lev_len > ulen)
      return cfail(c, AS_ECORRUPT, "v2 level lengths exceed the page");
    if (h->rep_len != 0)
      return cfail(c, AS_ECORRUPT, "repetition levels in a flat column");
    if ((size_t)h->num_rows != nv)
      return cfail(c, AS_ECORRUPT, "v2 page: num_rows %" PRId32 " != num_values %zu", h->num_rows, nv);
  }
  buf = as_malloc(AS_MAX(ulen, (size_t)1));
  if (!buf) return cfail(c, AS_ENOMEM, "out of memory");
  memcpy(buf, raw, lev_len);
  int codec = v2 && !h->is_compressed ? AS_PQ_UNCOMPRESSED : (int)c->ch->codec;
  rc = as__pq_decompress(codec, raw + lev_len, raw_len - lev_len, buf + lev_len,
                         ulen - lev_len, &what);
  if (rc) {
    rc = cfail(c, rc, "%s", what);
    goto out;
  }
  const uint8_t *p = buf;
  size_t n = ulen;
  size_t k = nv; /* non-null values */
  uint8_t *def = c->cd->defined ? c->cd->defined + *row : NULL;
  if (col->max_def > 0) {
    const uint8_t *lp;
    size_t ll;
    if (v2) {
      lp = p;
      ll = (size_t)h->def_len;
      p += ll;
      n -= ll;
    } else {
      if (h->def_encoding != AS_PQ_RLE) {
        rc = cfail(c, AS_EUNSUPPORTED, "definition level encoding %s is not supported",
                   as_pq_encoding_name(h->def_encoding));
        goto out;
      }
      if (n < 4) {
        rc = cfail(c, AS_ECORRUPT, "definition levels: missing length");
        goto out;
      }
      ll = as_get_u32(p);
      if (ll > n - 4) {
        rc = cfail(c, AS_ECORRUPT, "definition levels: length %zu beyond the page", ll);
        goto out;
      }
      lp = p + 4;
      p += 4 + ll;
      n -= 4 + ll;
    }
    if ((rc = scratch(c, nv))) goto out;
    size_t used;
    unsigned width = as__pq_bit_width((uint64_t)col->max_def);
    if ((rc = as__pq_rle_decode(lp, ll, width, c->levels, nv, &used, &what))) {
      rc = cfail(c, rc, "definition levels: %s", what);
      goto out;
    }
    k = 0;
    for (size_t i = 0; i < nv; i++) {
      if (c->levels[i] > (uint32_t)col->max_def) {
        rc = cfail(c, AS_ECORRUPT, "definition level %" PRIu32 " > max %d", c->levels[i], col->max_def);
        goto out;
      }
      def[i] = c->levels[i] == (uint32_t)col->max_def;
      k += def[i];
    }
    c->cd->pub.num_nulls += nv - k;
    if (v2 && (size_t)h->num_nulls != nv - k) {
      rc = cfail(c, AS_ECORRUPT, "v2 page: num_nulls %" PRId32 " but %zu null levels", h->num_nulls, nv - k);
      goto out;
    }
  } else if (v2 && (h->def_len != 0 || h->num_nulls != 0)) {
    rc = cfail(c, AS_ECORRUPT, "definition levels or nulls in a required column");
    goto out;
  }
  rc = decode_values(c, v2 || h->has_data ? h->encoding : AS_PQ_PLAIN, p, n, *row, nv, k);
  if (rc) goto out;
  *row += nv;
  c->cd->pub.pages++;
out:
  as_free(buf);
  return rc;
}

static as_err decode_chunk(col_rd *c, const uint8_t *buf, size_t len) {
  as_err rc = AS_OK;
  size_t pos = 0, row = 0, total = (size_t)c->ch->num_values;
  uint64_t decoded = 0;
  while (row < total) {
    as__pq_page_header h;
    size_t hlen;
    const char *what = NULL;
    if (pos >= len)
      return cfail(c, AS_ECORRUPT, "column chunk ends after %zu of %zu values", row, total);
    rc = as__pq_parse_page_header(buf + pos, AS_MIN(len - pos, (size_t)AS_PQ_MAX_PAGE_HEADER),
                                  &h, &hlen, &what);
    if (rc) return cfail(c, rc, "page header at chunk offset %zu: %s", pos, what);
    pos += hlen;
    if (h.compressed_size < 0 || h.uncompressed_size < 0)
      return cfail(c, AS_ECORRUPT, "negative page size");
    if ((size_t)h.compressed_size > len - pos)
      return cfail(c, AS_ECORRUPT, "page body of %" PRId32 " bytes runs past the column chunk (%zu left)",
                   h.compressed_size, len - pos);
    const uint8_t *body = buf + pos;
    size_t blen = (size_t)h.compressed_size;
    pos += blen;
    if (h.has_crc) {
      uint32_t got = as_crc32(0, body, blen);
      if (got != h.crc)
        return cfail(c, AS_ECORRUPT, "page CRC mismatch (stored %08" PRIx32 ", computed %08" PRIx32 ")",
                     h.crc, got);
    }
    if (h.type == AS_PQ_INDEX_PAGE) {
      c->page++;
      continue;
    }
    if ((uint64_t)h.uncompressed_size > c->r->opt.max_page_bytes)
      return cfail(c, AS_ELIMIT, "page of %" PRId32 " bytes exceeds the limit of %" PRIu64,
                   h.uncompressed_size, c->r->opt.max_page_bytes);
    decoded += (uint64_t)h.uncompressed_size;
    if (decoded > c->r->opt.max_chunk_bytes)
      return cfail(c, AS_ELIMIT, "column chunk decodes to more than %" PRIu64 " bytes",
                   c->r->opt.max_chunk_bytes);
    if (h.type == AS_PQ_DICTIONARY_PAGE) {
      uint8_t *d = as_malloc(AS_MAX((size_t)h.uncompressed_size, (size_t)1));
      if (!d) return cfail(c, AS_ENOMEM, "out of memory");
      rc = as__pq_decompress(c->ch->codec, body, blen, d, (size_t)h.uncompressed_size, &what);
      if (rc) rc = cfail(c, rc, "dictionary page: %s", what);
      else rc = read_dict_page(c, &h, d, (size_t)h.uncompressed_size);
      as_free(d);
    } else if (h.type == AS_PQ_DATA_PAGE || h.type == AS_PQ_DATA_PAGE_V2) {
      rc = read_data_page(c, &h, body, blen, &row);
    } else {
      rc = cfail(c, AS_ECORRUPT, "unknown page type %" PRId32, h.type);
    }
    if (rc) return rc;
    c->page++;
  }
  return AS_OK;
}

as_err as_pq_read_column(as_pq_reader *r, size_t rg, size_t col,
                         as_pq_column_data **out, as_error *err) {
  as_err rc = AS_OK;
  uint8_t *buf = NULL;
  const as_pq_file_desc *fd = &r->desc;
  col_rd c = {.r = r, .rg = rg, .err = err};
  *out = NULL;
  if (rg >= fd->num_row_groups || col >= fd->num_columns)
    return as__error_set(err, AS_EINVAL, 0, NULL, "parquet '%s': no row group %zu / column %zu",
                         r->path, rg, col);
  c.col = &fd->columns[col];
  c.ch = &fd->row_groups[rg].chunks[col];
  const char *name = c.col->path;
  if (c.col->nested)
    return as__error_set(err, AS_EUNSUPPORTED, (uint32_t)rg, name,
                         "parquet '%s': column '%s' is nested or repeated (max repetition level %d, "
                         "definition level %d); only flat columns are supported",
                         r->path, name, c.col->max_rep, c.col->max_def);
  if (c.ch->file_path)
    return as__error_set(err, AS_EUNSUPPORTED, (uint32_t)rg, name,
                         "parquet '%s': column '%s' is stored in another file ('%s')", r->path,
                         name, c.ch->file_path);
  if (!as__pq_codec_readable(c.ch->codec))
    return as__error_set(err, AS_EUNSUPPORTED, (uint32_t)rg, name,
                         "parquet '%s': row group %zu, column '%s': codec %s (%d) is not supported "
                         "(supported: UNCOMPRESSED, SNAPPY, ZSTD, LZ4_RAW)",
                         r->path, rg, name, as_pq_codec_name(c.ch->codec), (int)c.ch->codec);
  if ((uint64_t)c.ch->num_values > r->opt.max_chunk_values)
    return as__error_set(err, AS_ELIMIT, (uint32_t)rg, name,
                         "parquet '%s': row group %zu, column '%s': %" PRId64 " values exceed the limit of %" PRIu64,
                         r->path, rg, name, c.ch->num_values, r->opt.max_chunk_values);
  size_t nrows = (size_t)c.ch->num_values;
  c.esize = elem_size(c.col);
  if (nrows > r->opt.max_chunk_bytes / c.esize)
    return as__error_set(err, AS_ELIMIT, (uint32_t)rg, name,
                         "parquet '%s': row group %zu, column '%s': %zu values of %zu bytes exceed the "
                         "chunk limit of %" PRIu64 " bytes",
                         r->path, rg, name, nrows, c.esize, r->opt.max_chunk_bytes);
  c.cd = as_calloc(1, sizeof *c.cd);
  if (!c.cd) return as__error_set(err, AS_ENOMEM, 0, NULL, "parquet '%s': out of memory", r->path);
  c.cd->pub.type = c.col->type;
  c.cd->pub.type_length = c.col->type_length;
  c.cd->pub.num_rows = nrows;
  c.cd->values = as_calloc(AS_MAX(nrows, (size_t)1), c.esize);
  if (c.col->max_def > 0) c.cd->defined = as_calloc(AS_MAX(nrows, (size_t)1), 1);
  if (!c.cd->values || (c.col->max_def > 0 && !c.cd->defined)) {
    rc = as__error_set(err, AS_ENOMEM, 0, NULL, "parquet '%s': out of memory", r->path);
    goto out;
  }
  c.cd->pub.values = c.cd->values;
  c.cd->pub.defined = c.cd->defined;
  int64_t start = chunk_start(c.ch);
  size_t len = (size_t)c.ch->total_compressed_size; /* in the file: check_ranges */
  buf = as_malloc(AS_MAX(len, (size_t)1));
  if (!buf) {
    rc = as__error_set(err, AS_ENOMEM, 0, NULL, "parquet '%s': out of memory", r->path);
    goto out;
  }
  int e = as_io_pread_all(r->io, r->fd, buf, len, (uint64_t)start);
  if (e < 0) {
    rc = as__error_set(err, as_io_err(e), 0, name, "parquet '%s': reading column '%s': %s", r->path,
                       name, as_strerror(as_io_err(e)));
    goto out;
  }
  AS_CHECK(decode_chunk(&c, buf, len));
  *out = &c.cd->pub;
  c.cd = NULL;
out:
  as_free(buf);
  as_free(c.levels);
  if (c.cd) as_pq_column_data_free(&c.cd->pub);
  return rc;
}
