/*
 * as_parquet_write.c — the streaming events-v1 Parquet writer.
 *
 * File layout:  "PAR1" | row group 0 | ... | FileMetaData | u32 len | "PAR1"
 * Row group:    one column chunk per column, in schema order.
 * Column chunk: [dictionary page] data page v1 ...; each page is a thrift
 *               PageHeader followed by the page body compressed as one
 *               unit by the chosen codec.
 *
 * Invariants:
 *   1. Memory is bounded by one row group: rows are buffered per column
 *      (values, offsets, dictionary) and cleared after each flush.
 *   2. `off` is always the file size written so far; page headers, chunk
 *      offsets and sizes are computed from it, never re-read.
 *   3. Any failure poisons the writer (`failed`): only abort/finish (which
 *      then unlinks) remain.
 *   4. Statistics are computed from exactly the values written, with the
 *      type's order (signed INT64, unsigned bytewise byte arrays).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_err.h"
#include "core/as_hash.h"
#include "core/as_rand.h"
#include "storage/as_crc32.h"
#include "storage/as_parquet_int.h"

enum { C_POSITION, C_ID, C_ENTITY, C_TYPE, C_TENANT, C_TIMESTAMP, C_VERSION,
       C_PAYLOAD, C_METADATA, NCOLS };

const char *const as_pq_event_column_names[AS_PQ_EVENT_COLUMNS] = {
    "position", "id", "entity_id", "event_type", "tenant_id",
    "timestamp", "version", "payload", "metadata"};

/* The schema we write (also what the event reader checks). */
static const as_pq_column_desc k_cols[NCOLS] = {
    {.name = "position", .path = "position", .type = AS_PQ_INT64, .converted_type = -1},
    {.name = "id", .path = "id", .type = AS_PQ_FIXED_LEN_BYTE_ARRAY, .type_length = 16,
     .converted_type = -1, .logical = AS_PQ_LT_UUID},
    {.name = "entity_id", .path = "entity_id", .type = AS_PQ_BYTE_ARRAY,
     .converted_type = AS_PQ_CT_UTF8, .logical = AS_PQ_LT_STRING},
    {.name = "event_type", .path = "event_type", .type = AS_PQ_BYTE_ARRAY,
     .converted_type = AS_PQ_CT_UTF8, .logical = AS_PQ_LT_STRING},
    {.name = "tenant_id", .path = "tenant_id", .type = AS_PQ_BYTE_ARRAY,
     .converted_type = AS_PQ_CT_UTF8, .logical = AS_PQ_LT_STRING},
    {.name = "timestamp", .path = "timestamp", .type = AS_PQ_INT64,
     .converted_type = AS_PQ_CT_TIMESTAMP_MICROS, .logical = AS_PQ_LT_TIMESTAMP,
     .ts_utc = true, .ts_unit = AS_PQ_MICROS},
    {.name = "version", .path = "version", .type = AS_PQ_INT64, .converted_type = -1},
    {.name = "payload", .path = "payload", .type = AS_PQ_BYTE_ARRAY,
     .converted_type = AS_PQ_CT_JSON, .logical = AS_PQ_LT_JSON},
    {.name = "metadata", .path = "metadata", .type = AS_PQ_BYTE_ARRAY,
     .repetition = AS_PQ_OPTIONAL, .max_def = 1,
     .converted_type = AS_PQ_CT_JSON, .logical = AS_PQ_LT_JSON},
};

/* A byte-array column of the current row group. */
typedef struct bytes_col {
  as_buf data;       /* values, concatenated */
  size_t *off;       /* cap + 1 offsets; value i is data[off[i]..off[i+1]) */
  bool use_dict;     /* this column is dictionary-encoded when possible */
  bool dict_ok;      /* the dictionary stayed within dict_max_bytes */
  uint32_t *idx;     /* per row: dictionary index */
  size_t *dict_row;  /* per dictionary entry: a row holding its value */
  uint32_t ndict;
  uint64_t dict_bytes; /* PLAIN size of the dictionary */
  uint32_t *table;   /* open addressing: entry + 1, 0 = empty */
  size_t tcap;
} bytes_col;

/* A writer's buffers sized by the row group (`cap` rows): what a scratch
 * keeps between writers. */
typedef struct pq_bufs {
  int64_t *i64[3]; /* position, timestamp, version */
  uint8_t *ids;
  bytes_col bc[5]; /* entity, type, tenant, payload, metadata */
  uint8_t *has_meta;
  as_buf page, comp, hdr;
  uint32_t *tmp_idx; /* cap entries */
  void *zctx;        /* ZSTD context, reused for every page */
} pq_bufs;

struct as_pq_writer {
  const as_io *io;
  int fd;
  char *path;
  as_pq_write_options opt;
  uint64_t off;
  bool failed;
  as_hash_key hkey;
  /* current row group */
  size_t n, cap;
  pq_bufs b;
  bool bufs_complete;     /* every buffer in `b` exists */
  as_pq_scratch *scratch; /* lent to this writer (`b` goes back), or NULL */
  /* finished row groups */
  as_pq_chunk_desc *chunks; /* NCOLS per row group */
  int64_t *rg_rows, *rg_bytes;
  size_t nrg, rg_cap;
  uint64_t rows;
  uint64_t first_pos, last_pos;
};

struct as_pq_scratch {
  bool in_use, have; /* lent to a writer; `b` holds buffers for `cap` rows */
  size_t cap;
  pq_bufs b;
};

static void bufs_init(pq_bufs *b) {
  memset(b, 0, sizeof *b);
  for (int i = 0; i < 5; i++) as_buf_init(&b->bc[i].data, 0);
  as_buf_init(&b->page, 0);
  as_buf_init(&b->comp, 0);
  as_buf_init(&b->hdr, 0);
}

static void bufs_free(pq_bufs *b);

as_pq_scratch *as_pq_scratch_new(void) {
  as_pq_scratch *s = as_calloc(1, sizeof *s);
  if (s) bufs_init(&s->b);
  return s;
}

void as_pq_scratch_free(as_pq_scratch *s) {
  if (!s) return;
  bufs_free(&s->b);
  as_free(s);
}

static as_err wfail(as_pq_writer *w, as_error *err, as_err code,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static as_err wfail(as_pq_writer *w, as_error *err, as_err code,
                    const char *fmt, ...) {
  w->failed = true;
  if (err) {
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    as__error_set(err, code, 0, NULL, "parquet write '%s': %s", w->path, msg);
  }
  return code;
}

void as_pq_write_options_init(as_pq_write_options *o) {
  memset(o, 0, sizeof *o);
  o->codec = AS_PQ_ZSTD;
  o->zstd_level = 1;
  o->row_group_rows = 131072;
  o->page_bytes = 1u << 20;
  o->dict_max_bytes = 1u << 20;
  o->max_stat_bytes = 4096;
  o->page_crc = true;
  o->sync = true;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                              */
/* ---------------------------------------------------------------------- */

static void bytes_col_free(bytes_col *c) {
  as_buf_free(&c->data);
  as_free(c->off);
  as_free(c->idx);
  as_free(c->dict_row);
  as_free(c->table);
}

static void free_stats(as_pq_chunk_desc *ch) {
  as_free((void *)ch->stats.min);
  as_free((void *)ch->stats.max);
}

static void bufs_free(pq_bufs *b) {
  for (int i = 0; i < 3; i++) as_free(b->i64[i]);
  as_free(b->ids);
  for (int i = 0; i < 5; i++) bytes_col_free(&b->bc[i]);
  as_free(b->has_meta);
  as_buf_free(&b->page);
  as_buf_free(&b->comp);
  as_buf_free(&b->hdr);
  as_free(b->tmp_idx);
  as__pq_compress_ctx_free(b->zctx);
}

static void writer_free(as_pq_writer *w) {
  if (!w) return;
  as_pq_scratch *s = w->scratch;
  if (s && w->bufs_complete) { /* hand the buffers back, emptied */
    for (int i = 0; i < 5; i++) as_buf_reset(&w->b.bc[i].data);
    as_buf_reset(&w->b.page);
    as_buf_reset(&w->b.comp);
    as_buf_reset(&w->b.hdr);
    pq_bufs prev = s->b; /* an empty set, or one for another row group size */
    s->b = w->b;
    w->b = prev;
    s->have = true;
    s->cap = w->cap;
  }
  if (s) s->in_use = false;
  bufs_free(&w->b);
  for (size_t i = 0; i < w->nrg * NCOLS; i++) free_stats(&w->chunks[i]);
  as_free(w->chunks);
  as_free(w->rg_rows);
  as_free(w->rg_bytes);
  as_free(w->path);
  as_free(w);
}

as_err as_pq_writer_open(const as_io *io, const char *path,
                         const as_pq_write_options *opt, as_pq_writer **out,
                         as_error *err) {
  as_err rc = AS_OK;
  as_pq_writer *w = NULL;
  as_pq_write_options o;
  if (opt) o = *opt;
  else as_pq_write_options_init(&o);
  *out = NULL;
  if (!io || !path)
    return as__error_set(err, AS_EINVAL, 0, NULL, "parquet write: no io or path");
  if (!as__pq_codec_writable(o.codec))
    return as__error_set(err, AS_EINVAL, 0, "codec",
                         "parquet write '%s': codec %s (%d) is not supported for writing "
                         "(use ZSTD, SNAPPY, LZ4_RAW or UNCOMPRESSED)",
                         path, as_pq_codec_name(o.codec), (int)o.codec);
  if (o.row_group_rows == 0 || o.row_group_rows > (1u << 24) || o.page_bytes < 64 ||
      o.page_bytes > (256u << 20))
    return as__error_set(err, AS_EINVAL, 0, "options",
                         "parquet write '%s': row_group_rows must be 1..16777216 and "
                         "page_bytes 64..256 MiB", path);
  w = as_calloc(1, sizeof *w);
  if (!w) return as__error_set(err, AS_ENOMEM, 0, NULL, "parquet write: out of memory");
  w->io = io;
  w->fd = -1;
  w->opt = o;
  w->cap = o.row_group_rows;
  w->path = as_strndup(path, strlen(path));
  as_rand rnd;
  as_rand_seed(&rnd);
  w->hkey.k0 = as_rand_next(&rnd);
  w->hkey.k1 = as_rand_next(&rnd);
  bufs_init(&w->b);
  bool ok = w->path != NULL;
  as_pq_scratch *sc = o.scratch;
  if (sc && !sc->in_use) {
    sc->in_use = true;
    w->scratch = sc;
    if (sc->have && sc->cap == w->cap) { /* borrow the previous writer's */
      w->b = sc->b;
      bufs_init(&sc->b);
      sc->have = false;
      w->bufs_complete = true;
    }
  }
  if (!w->bufs_complete) {
    for (int i = 0; i < 3; i++) w->b.i64[i] = as_malloc(w->cap * sizeof(int64_t));
    w->b.ids = as_malloc(w->cap * 16);
    w->b.has_meta = as_malloc(w->cap);
    w->b.tmp_idx = as_malloc(w->cap * sizeof(uint32_t));
    bool all = w->b.i64[0] && w->b.i64[1] && w->b.i64[2] && w->b.ids && w->b.has_meta && w->b.tmp_idx;
    for (int i = 0; i < 5; i++) {
      bytes_col *c = &w->b.bc[i];
      c->off = as_malloc((w->cap + 1) * sizeof(size_t));
      all = all && c->off;
      if (i < 3) {
        c->idx = as_malloc(w->cap * sizeof(uint32_t));
        c->dict_row = as_malloc(w->cap * sizeof(size_t));
        all = all && c->idx && c->dict_row;
      }
    }
    w->bufs_complete = all;
  }
  for (int i = 0; i < 5; i++) w->b.bc[i].use_dict = i < 3;
  ok = ok && w->bufs_complete;
  if (!ok) {
    rc = as__error_set(err, AS_ENOMEM, 0, NULL, "parquet write '%s': out of memory", path);
    goto out;
  }
  int fd = io->open(io->ctx, path, AS_IO_RDWR | AS_IO_CREAT | AS_IO_TRUNC);
  if (fd < 0) {
    rc = as__error_set(err, as_io_err(fd), 0, NULL, "parquet write '%s': cannot create: %s",
                       path, as_strerror(as_io_err(fd)));
    goto out;
  }
  w->fd = fd;
  int r = as_io_pwrite_all(io, fd, AS_PQ_MAGIC, 4, 0);
  if (r < 0) {
    rc = as__error_set(err, as_io_err(r), 0, NULL, "parquet write '%s': %s", path,
                       as_strerror(as_io_err(r)));
    goto out;
  }
  w->off = 4;
  *out = w;
  w = NULL;
out:
  if (w) as_pq_writer_abort(w);
  return rc;
}

void as_pq_writer_abort(as_pq_writer *w) {
  if (!w) return;
  if (w->fd >= 0) {
    w->io->close(w->io->ctx, w->fd);
    w->io->unlink(w->io->ctx, w->path);
  }
  writer_free(w);
}

uint64_t as_pq_writer_rows(const as_pq_writer *w) { return w->rows; }

/* ---------------------------------------------------------------------- */
/* Buffering rows                                                         */
/* ---------------------------------------------------------------------- */

static as_err dict_grow(as_pq_writer *w, bytes_col *c) {
  size_t ncap = c->tcap ? c->tcap * 2 : 1024;
  uint32_t *t = as_calloc(ncap, sizeof *t);
  if (!t) return AS_ENOMEM;
  for (uint32_t e = 0; e < c->ndict; e++) {
    size_t row = c->dict_row[e];
    uint64_t h = as_hash(&w->hkey, c->data.data + c->off[row], c->off[row + 1] - c->off[row]);
    size_t k = (size_t)h & (ncap - 1);
    while (t[k]) k = (k + 1) & (ncap - 1);
    t[k] = e + 1;
  }
  as_free(c->table);
  c->table = t;
  c->tcap = ncap;
  return AS_OK;
}

/* Appends value v of row `row` to column c (and to its dictionary). */
static as_err bytes_add(as_pq_writer *w, bytes_col *c, size_t row,
                        const char *v, size_t len) {
  if (row == 0) c->off[0] = 0;
  if (as_buf_append(&c->data, v ? v : "", len)) return as_buf_error(&c->data);
  c->off[row + 1] = c->data.len;
  if (!c->use_dict || !c->dict_ok) return AS_OK;
  if (row > 0 && c->off[row] - c->off[row - 1] == len &&
      memcmp(c->data.data + c->off[row - 1], c->data.data + c->off[row], len) == 0) {
    c->idx[row] = c->idx[row - 1]; /* the previous row's value again */
    return AS_OK;
  }
  if ((size_t)c->ndict * 2 >= c->tcap && dict_grow(w, c)) return AS_ENOMEM;
  uint64_t h = as_hash(&w->hkey, v ? v : "", len);
  size_t k = (size_t)h & (c->tcap - 1);
  while (c->table[k]) {
    uint32_t e = c->table[k] - 1;
    size_t r = c->dict_row[e];
    if (c->off[r + 1] - c->off[r] == len &&
        memcmp(c->data.data + c->off[r], c->data.data + c->off[row], len) == 0) {
      c->idx[row] = e;
      return AS_OK;
    }
    k = (k + 1) & (c->tcap - 1);
  }
  if (c->dict_bytes + 4 + len > w->opt.dict_max_bytes) {
    c->dict_ok = false; /* falls back to PLAIN for this row group */
    return AS_OK;
  }
  c->table[k] = c->ndict + 1;
  c->dict_row[c->ndict] = row;
  c->idx[row] = c->ndict++;
  c->dict_bytes += 4 + len;
  return AS_OK;
}

static void rowgroup_reset(as_pq_writer *w) {
  w->n = 0;
  for (int i = 0; i < 5; i++) {
    bytes_col *c = &w->b.bc[i];
    as_buf_reset(&c->data);
    c->dict_ok = c->use_dict;
    c->ndict = 0;
    c->dict_bytes = 0;
    if (c->table) memset(c->table, 0, c->tcap * sizeof *c->table);
  }
}

static as_err flush_row_group(as_pq_writer *w, as_error *err);

as_err as_pq_writer_add(as_pq_writer *w, const as_event *ev, as_error *err) {
  if (w->failed)
    return as__error_set(err, AS_EINVAL, 0, NULL, "parquet write '%s': writer already failed", w->path);
  if (ev->position > INT64_MAX || ev->version > INT64_MAX)
    return as__error_set(err, AS_EINVAL, 0, ev->position > INT64_MAX ? "position" : "version",
                         "parquet write '%s': position/version beyond INT64", w->path);
  const struct { const char *p; uint32_t n; } s[5] = {
      {ev->entity_id, ev->entity_id_len}, {ev->event_type, ev->event_type_len},
      {ev->tenant_id, ev->tenant_id_len}, {ev->payload, ev->payload_len},
      {ev->metadata, ev->metadata_len}};
  for (int i = 0; i < 5; i++)
    if (s[i].n > (uint32_t)INT32_MAX - 64 || (!s[i].p && s[i].n))
      return as__error_set(err, AS_EINVAL, 0, as_pq_event_column_names[i + 2],
                           "parquet write '%s': bad string", w->path);
  if (w->n == 0) rowgroup_reset(w);
  size_t r = w->n;
  w->b.i64[0][r] = (int64_t)ev->position;
  w->b.i64[1][r] = ev->timestamp_us;
  w->b.i64[2][r] = (int64_t)ev->version;
  memcpy(w->b.ids + r * 16, ev->id, 16);
  w->b.has_meta[r] = ev->metadata != NULL;
  for (int i = 0; i < 5; i++) {
    if (i == 4 && !ev->metadata) {
      if (r == 0) w->b.bc[4].off[0] = 0;
      w->b.bc[4].off[r + 1] = w->b.bc[4].data.len;
      continue;
    }
    if (bytes_add(w, &w->b.bc[i], r, s[i].p, s[i].n))
      return wfail(w, err, AS_ENOMEM, "out of memory buffering row %" PRIu64, w->rows);
  }
  if (w->rows == 0) w->first_pos = ev->position;
  w->last_pos = ev->position;
  w->rows++;
  w->n++;
  if (w->n == w->cap) return flush_row_group(w, err);
  return AS_OK;
}

as_err as_pq_writer_add_n(as_pq_writer *w, const as_event *evs, size_t n,
                          as_error *err) {
  for (size_t i = 0; i < n; i++) {
    as_err rc = as_pq_writer_add(w, &evs[i], err);
    if (rc) return rc;
  }
  return AS_OK;
}

/* ---------------------------------------------------------------------- */
/* Pages                                                                  */
/* ---------------------------------------------------------------------- */

/* Compresses w->b.page and writes header + body; accumulates chunk sizes. */
static as_err write_page(as_pq_writer *w, as_pq_chunk_desc *ch, int type,
                         int32_t num_values, int encoding, as_error *err) {
  const char *col = as_pq_event_column_names[ch - (w->chunks + w->nrg * NCOLS)];
  if (w->b.page.len > INT32_MAX)
    return wfail(w, err, AS_ELIMIT, "column '%s': page larger than 2 GiB", col);
  as_err rc = as_buf_error(&w->b.page);
  if (rc || (rc = as__pq_compress(w->opt.codec, w->opt.zstd_level, w->b.page.data,
                                  w->b.page.len, &w->b.comp, &w->b.zctx)))
    return wfail(w, err, rc, "column '%s': compressing a page: %s", col, as_strerror(rc));
  if (w->b.comp.len > INT32_MAX)
    return wfail(w, err, AS_ELIMIT, "column '%s': compressed page larger than 2 GiB", col);
  as__pq_page_header h = {
      .type = type, .uncompressed_size = (int32_t)w->b.page.len,
      .compressed_size = (int32_t)w->b.comp.len, .has_crc = w->opt.page_crc,
      .num_values = num_values, .encoding = encoding,
      .def_encoding = AS_PQ_RLE, .rep_encoding = AS_PQ_RLE};
  if (h.has_crc) h.crc = as_crc32(0, w->b.comp.data, w->b.comp.len);
  as_buf_reset(&w->b.hdr);
  as__pq_write_page_header(&w->b.hdr, &h);
  if ((rc = as_buf_error(&w->b.hdr)))
    return wfail(w, err, rc, "column '%s': page header: %s", col, as_strerror(rc));
  struct iovec iov[2] = {{w->b.hdr.data, w->b.hdr.len}, {w->b.comp.data, w->b.comp.len}};
  int r = as_io_pwritev_all(w->io, w->fd, iov, 2, w->off);
  if (r < 0)
    return wfail(w, err, as_io_err(r), "column '%s': writing at offset %" PRIu64 ": %s",
                 col, w->off, as_strerror(as_io_err(r)));
  if (type == AS_PQ_DICTIONARY_PAGE) ch->dictionary_page_offset = (int64_t)w->off;
  else if (ch->data_page_offset == 0) ch->data_page_offset = (int64_t)w->off;
  w->off += w->b.hdr.len + w->b.comp.len;
  ch->total_uncompressed_size += (int64_t)(w->b.hdr.len + w->b.page.len);
  ch->total_compressed_size += (int64_t)(w->b.hdr.len + w->b.comp.len);
  return AS_OK;
}

static void put_le32(as_buf *b, uint32_t v) {
  unsigned char t[4];
  as_put_u32(t, v);
  as_buf_append(b, t, 4);
}

static as_err set_stat(as_pq_stats *s, const void *mn, size_t mnl,
                       const void *mx, size_t mxl) {
  uint8_t *a = as_malloc(mnl ? mnl : 1), *b = as_malloc(mxl ? mxl : 1);
  if (!a || !b) {
    as_free(a);
    as_free(b);
    return AS_ENOMEM;
  }
  memcpy(a, mn, mnl);
  memcpy(b, mx, mxl);
  s->min = a;
  s->min_len = (uint32_t)mnl;
  s->max = b;
  s->max_len = (uint32_t)mxl;
  s->has_min = s->has_max = true;
  return AS_OK;
}

static int bytes_cmp(const void *a, size_t al, const void *b, size_t bl) {
  int c = memcmp(a, b, AS_MIN(al, bl));
  if (c) return c;
  return al < bl ? -1 : al > bl;
}

static as_err write_int64_col(as_pq_writer *w, as_pq_chunk_desc *ch,
                              const int64_t *v, as_error *err) {
  size_t per_page = AS_MAX((size_t)1, w->opt.page_bytes / 8);
  int64_t mn = v[0], mx = v[0];
  for (size_t r0 = 0; r0 < w->n; r0 += per_page) {
    size_t r1 = AS_MIN(w->n, r0 + per_page);
    as_buf_reset(&w->b.page);
    if (as_buf_reserve(&w->b.page, (r1 - r0) * 8) == AS_OK) {
      unsigned char *o = (unsigned char *)w->b.page.data;
      for (size_t r = r0; r < r1; r++) {
        as_put_u64(o + (r - r0) * 8, (uint64_t)v[r]);
        if (v[r] < mn) mn = v[r];
        if (v[r] > mx) mx = v[r];
      }
      w->b.page.len = (r1 - r0) * 8;
    }
    as_err rc = write_page(w, ch, AS_PQ_DATA_PAGE, (int32_t)(r1 - r0), AS_PQ_PLAIN, err);
    if (rc) return rc;
  }
  unsigned char a[8], b[8];
  as_put_u64(a, (uint64_t)mn);
  as_put_u64(b, (uint64_t)mx);
  ch->encodings = 1u << AS_PQ_PLAIN;
  return set_stat(&ch->stats, a, 8, b, 8);
}

static as_err write_id_col(as_pq_writer *w, as_pq_chunk_desc *ch, as_error *err) {
  size_t per_page = AS_MAX((size_t)1, w->opt.page_bytes / 16);
  const uint8_t *mn = w->b.ids, *mx = w->b.ids;
  for (size_t r0 = 0; r0 < w->n; r0 += per_page) {
    size_t r1 = AS_MIN(w->n, r0 + per_page);
    as_buf_reset(&w->b.page);
    as_buf_append(&w->b.page, w->b.ids + r0 * 16, (r1 - r0) * 16);
    for (size_t r = r0; r < r1; r++) {
      if (memcmp(w->b.ids + r * 16, mn, 16) < 0) mn = w->b.ids + r * 16;
      if (memcmp(w->b.ids + r * 16, mx, 16) > 0) mx = w->b.ids + r * 16;
    }
    as_err rc = write_page(w, ch, AS_PQ_DATA_PAGE, (int32_t)(r1 - r0), AS_PQ_PLAIN, err);
    if (rc) return rc;
  }
  ch->encodings = 1u << AS_PQ_PLAIN;
  return set_stat(&ch->stats, mn, 16, mx, 16);
}

/* Min/max over the present values of a byte column (rows with def[r]). */
static as_err bytes_stats(as_pq_writer *w, bytes_col *c, const uint8_t *def,
                          as_pq_stats *s) {
  const char *mn = NULL, *mx = NULL;
  size_t mnl = 0, mxl = 0;
  /* A dictionary holds every distinct value: its entries suffice. */
  bool dict = c->use_dict && c->dict_ok && !def;
  size_t n = dict ? c->ndict : w->n;
  for (size_t i = 0; i < n; i++) {
    size_t r = dict ? c->dict_row[i] : i;
    if (def && !def[r]) continue;
    const char *p = c->data.data + c->off[r];
    size_t l = c->off[r + 1] - c->off[r];
    if (!mn || bytes_cmp(p, l, mn, mnl) < 0) mn = p, mnl = l;
    if (!mx || bytes_cmp(p, l, mx, mxl) > 0) mx = p, mxl = l;
  }
  if (!mn || mnl > w->opt.max_stat_bytes || mxl > w->opt.max_stat_bytes)
    return AS_OK; /* all null, or too long to be useful: no min/max */
  return set_stat(s, mn, mnl, mx, mxl);
}

static as_err write_bytes_col(as_pq_writer *w, as_pq_chunk_desc *ch,
                              bytes_col *c, const uint8_t *def, as_error *err) {
  as_err rc;
  const char *col = as_pq_event_column_names[ch - (w->chunks + w->nrg * NCOLS)];
  bool dict = c->use_dict && c->dict_ok && w->n > 0;
  ch->encodings = 1u << AS_PQ_PLAIN;
  if (def) ch->encodings |= 1u << AS_PQ_RLE;
  if (dict) {
    ch->encodings |= 1u << AS_PQ_RLE_DICTIONARY;
    as_buf_reset(&w->b.page);
    for (uint32_t e = 0; e < c->ndict; e++) {
      size_t r = c->dict_row[e];
      size_t l = c->off[r + 1] - c->off[r];
      put_le32(&w->b.page, (uint32_t)l);
      as_buf_append(&w->b.page, c->data.data + c->off[r], l);
    }
    if ((rc = write_page(w, ch, AS_PQ_DICTIONARY_PAGE, (int32_t)c->ndict, AS_PQ_PLAIN, err)))
      return rc;
  }
  unsigned width = dict ? AS_MAX(1u, as__pq_bit_width(c->ndict - 1)) : 0;
  size_t r0 = 0;
  while (r0 < w->n) {
    /* Choose the rows of this page by their encoded size. */
    size_t r1 = r0, bytes = 0;
    while (r1 < w->n && (r1 == r0 || bytes < w->opt.page_bytes)) {
      if (dict) bytes = (r1 - r0 + 1) * width / 8 + 1;
      else if (!def || def[r1]) bytes += 4 + (c->off[r1 + 1] - c->off[r1]);
      r1++;
    }
    as_buf_reset(&w->b.page);
    if (def) {
      uint32_t *lv = w->b.tmp_idx;
      for (size_t r = r0; r < r1; r++) lv[r - r0] = def[r];
      size_t at = w->b.page.len;
      put_le32(&w->b.page, 0);
      as__pq_rle_encode(&w->b.page, lv, r1 - r0, 1);
      if (!as_buf_error(&w->b.page))
        as_put_u32((unsigned char *)w->b.page.data + at, (uint32_t)(w->b.page.len - at - 4));
    }
    if (dict) {
      as_buf_putc(&w->b.page, (char)width);
      as__pq_rle_encode(&w->b.page, c->idx + r0, r1 - r0, width);
    } else {
      for (size_t r = r0; r < r1; r++) {
        if (def && !def[r]) continue;
        size_t l = c->off[r + 1] - c->off[r];
        put_le32(&w->b.page, (uint32_t)l);
        as_buf_append(&w->b.page, c->data.data + c->off[r], l);
      }
    }
    if ((rc = write_page(w, ch, AS_PQ_DATA_PAGE, (int32_t)(r1 - r0),
                         dict ? AS_PQ_RLE_DICTIONARY : AS_PQ_PLAIN, err)))
      return rc;
    r0 = r1;
  }
  if ((rc = bytes_stats(w, c, def, &ch->stats)))
    return wfail(w, err, rc, "column '%s': statistics: out of memory", col);
  return AS_OK;
}

static as_err flush_row_group(as_pq_writer *w, as_error *err) {
  as_err rc = AS_OK;
  if (w->n == 0) return AS_OK;
  if (w->nrg == w->rg_cap) {
    size_t nc = w->rg_cap ? w->rg_cap * 2 : 8;
    as_pq_chunk_desc *ch = as_realloc(w->chunks, nc * NCOLS * sizeof *ch);
    if (ch) w->chunks = ch;
    int64_t *a = as_realloc(w->rg_rows, nc * sizeof *a);
    if (a) w->rg_rows = a;
    int64_t *b = as_realloc(w->rg_bytes, nc * sizeof *b);
    if (b) w->rg_bytes = b;
    if (!ch || !a || !b) return wfail(w, err, AS_ENOMEM, "out of memory");
    w->rg_cap = nc;
  }
  as_pq_chunk_desc *chs = w->chunks + w->nrg * NCOLS;
  memset(chs, 0, NCOLS * sizeof *chs);
  int64_t null_meta = 0;
  for (size_t r = 0; r < w->n; r++) null_meta += !w->b.has_meta[r];
  for (int i = 0; i < NCOLS && !rc; i++) {
    as_pq_chunk_desc *ch = &chs[i];
    ch->type = k_cols[i].type;
    ch->codec = w->opt.codec;
    ch->num_values = (int64_t)w->n;
    ch->dictionary_page_offset = -1;
    ch->path_in_schema = k_cols[i].path;
    ch->has_stats = true;
    ch->stats.has_null_count = true;
    ch->stats.null_count = i == C_METADATA ? null_meta : 0;
    switch (i) {
    case C_POSITION: rc = write_int64_col(w, ch, w->b.i64[0], err); break;
    case C_TIMESTAMP: rc = write_int64_col(w, ch, w->b.i64[1], err); break;
    case C_VERSION: rc = write_int64_col(w, ch, w->b.i64[2], err); break;
    case C_ID: rc = write_id_col(w, ch, err); break;
    case C_METADATA: rc = write_bytes_col(w, ch, &w->b.bc[4], w->b.has_meta, err); break;
    case C_PAYLOAD: rc = write_bytes_col(w, ch, &w->b.bc[3], NULL, err); break;
    default: rc = write_bytes_col(w, ch, &w->b.bc[i - C_ENTITY], NULL, err); break;
    }
    if (rc && !w->failed) rc = wfail(w, err, rc, "column '%s': out of memory", k_cols[i].name);
  }
  int64_t total = 0;
  for (int i = 0; i < NCOLS; i++) total += chs[i].total_uncompressed_size;
  w->rg_rows[w->nrg] = (int64_t)w->n;
  w->rg_bytes[w->nrg] = total;
  w->nrg++; /* even on failure, so the stats allocations get freed */
  w->n = 0;
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Finish                                                                 */
/* ---------------------------------------------------------------------- */

static as_err write_footer(as_pq_writer *w, as_error *err) {
  as_err rc = AS_OK;
  as_pq_row_group_desc *rgs = as_calloc(w->nrg ? w->nrg : 1, sizeof *rgs);
  if (!rgs) return wfail(w, err, AS_ENOMEM, "out of memory");
  for (size_t g = 0; g < w->nrg; g++) {
    rgs[g].num_rows = w->rg_rows[g];
    rgs[g].total_byte_size = w->rg_bytes[g];
    rgs[g].chunks = w->chunks + g * NCOLS;
  }
  char first[24], last[24];
  snprintf(first, sizeof first, "%" PRIu64, w->rows ? w->first_pos : 0);
  snprintf(last, sizeof last, "%" PRIu64, w->rows ? w->last_pos : 0);
  const char *writer = "allsource " AS_VERSION_STRING;
  as_pq_kv kv[4] = {
      {"allsource.writer", writer, 16, (uint32_t)strlen(writer)},
      {"allsource.first_position", first, 24, (uint32_t)strlen(first)},
      {"allsource.last_position", last, 23, (uint32_t)strlen(last)},
      {"allsource.format", AS_PQ_EVENTS_FORMAT, 16, (uint32_t)strlen(AS_PQ_EVENTS_FORMAT)}};
  as_pq_file_desc fd = {
      .version = 2, .num_rows = (int64_t)w->rows, .created_by = AS_PQ_CREATED_BY,
      .num_columns = NCOLS, .columns = k_cols, .num_row_groups = w->nrg,
      .row_groups = rgs, .num_kv = 4, .kv = kv};
  as_buf_reset(&w->b.page);
  rc = as__pq_write_footer(&w->b.page, &fd);
  as_free(rgs);
  if (rc) return wfail(w, err, rc, "footer: %s", as_strerror(rc));
  if (w->b.page.len > UINT32_MAX) return wfail(w, err, AS_ELIMIT, "footer larger than 4 GiB");
  put_le32(&w->b.page, (uint32_t)w->b.page.len);
  as_buf_append(&w->b.page, AS_PQ_MAGIC, 4);
  if ((rc = as_buf_error(&w->b.page))) return wfail(w, err, rc, "footer: %s", as_strerror(rc));
  int r = as_io_pwrite_all(w->io, w->fd, w->b.page.data, w->b.page.len, w->off);
  if (r < 0)
    return wfail(w, err, as_io_err(r), "writing the footer at offset %" PRIu64 ": %s", w->off,
                 as_strerror(as_io_err(r)));
  w->off += w->b.page.len;
  return AS_OK;
}

as_err as_pq_writer_finish(as_pq_writer *w, uint64_t *file_size, as_error *err) {
  as_err rc = AS_OK;
  if (w->failed) {
    rc = as__error_set(err, AS_EINVAL, 0, NULL, "parquet write '%s': writer already failed", w->path);
    goto out;
  }
  AS_CHECK(flush_row_group(w, err));
  AS_CHECK(write_footer(w, err));
  if (w->opt.sync) {
    int r = w->io->fdatasync(w->io->ctx, w->fd);
    if (r < 0) {
      rc = wfail(w, err, as_io_err(r), "fdatasync: %s", as_strerror(as_io_err(r)));
      goto out;
    }
  }
  int r = w->io->close(w->io->ctx, w->fd);
  w->fd = -1;
  if (r < 0) {
    w->io->unlink(w->io->ctx, w->path);
    rc = wfail(w, err, as_io_err(r), "close: %s", as_strerror(as_io_err(r)));
    goto out;
  }
  if (file_size) *file_size = w->off;
out:
  if (rc) as_pq_writer_abort(w);
  else writer_free(w);
  return rc;
}

as_err as_pq_write_file(const as_io *io, const char *path, const as_event *evs,
                        size_t n, const as_pq_write_options *opt, as_error *err) {
  as_pq_writer *w;
  as_err rc = as_pq_writer_open(io, path, opt, &w, err);
  if (rc) return rc;
  rc = as_pq_writer_add_n(w, evs, n, err);
  if (rc) {
    as_pq_writer_abort(w);
    return rc;
  }
  return as_pq_writer_finish(w, NULL, err);
}
