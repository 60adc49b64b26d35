/*
 * as_parquet_int.h — internals shared by the Parquet module's files:
 *   as_parquet_meta.c    footer and page header <-> thrift, names
 *   as_parquet_codec.c   compression codecs, RLE/bit-packing hybrid
 *   as_parquet_write.c   the event writer
 *   as_parquet_read.c    the generic reader
 *   as_parquet_events.c  the event reader
 */
#ifndef AS_PARQUET_INT_H
#define AS_PARQUET_INT_H

#include "core/as_buf.h"
#include "core/as_common.h"
#include "storage/as_parquet.h"

#define AS_PQ_MAGIC "PAR1"
#define AS_PQ_MAX_COLUMNS 100000u    /* leaf columns in a schema */
#define AS_PQ_MAX_SCHEMA_DEPTH 32    /* nesting levels in a schema tree */
#define AS_PQ_MAX_FLBA 1048576       /* FIXED_LEN_BYTE_ARRAY width */
#define AS_PQ_MAX_PAGE_HEADER 16777216u /* bytes of one page header */
#define AS_PQ_EVENTS_FORMAT "events-v1"
#define AS_PQ_CREATED_BY "allsource version " AS_VERSION_STRING

/* PageType */
enum {
  AS_PQ_DATA_PAGE = 0,
  AS_PQ_INDEX_PAGE = 1,
  AS_PQ_DICTIONARY_PAGE = 2,
  AS_PQ_DATA_PAGE_V2 = 3
};

/* ConvertedType values we write or check. */
enum {
  AS_PQ_CT_UTF8 = 0,
  AS_PQ_CT_TIMESTAMP_MICROS = 10,
  AS_PQ_CT_JSON = 19
};

/* --- A bump allocator with a byte budget (footer data) ----------------- */

typedef struct as__pq_block as__pq_block;
typedef struct as__pq_arena {
  as__pq_block *head;
  size_t used, budget; /* bytes handed out, and the cap */
} as__pq_arena;

void as__pq_arena_init(as__pq_arena *a, size_t budget);
/** Zeroed, 8-byte aligned memory owned by the arena; NULL when out of
 *  memory or over budget. */
void *as__pq_arena_alloc(as__pq_arena *a, size_t n);
/** Copies p[0..n) plus a NUL into the arena. */
char *as__pq_arena_strdup(as__pq_arena *a, const void *p, size_t n);
void as__pq_arena_free(as__pq_arena *a);

/* --- Footer ------------------------------------------------------------ */

/** Decodes and validates FileMetaData from p[0..n) into *fd.  Everything
 *  *fd points to lives in `a` or in p (statistics bytes), so p must stay
 *  alive as long as fd.  On failure fills msg (a full sentence fragment
 *  such as "row group 2 column 'x': num_values is negative") and returns
 *  AS_ECORRUPT, AS_EUNSUPPORTED or AS_ENOMEM/AS_ELIMIT. */
as_err as__pq_parse_footer(const uint8_t *p, size_t n, as__pq_arena *a,
                           as_pq_file_desc *fd, char *msg, size_t msgcap);

/** Encodes FileMetaData for a flat schema (root "schema" plus fd->columns
 *  as required/optional leaves), with column_orders = TYPE_ORDER. */
as_err as__pq_write_footer(as_buf *b, const as_pq_file_desc *fd);

/* --- Page headers ------------------------------------------------------ */

typedef struct as__pq_page_header {
  int32_t type;
  int32_t uncompressed_size, compressed_size;
  bool has_crc;
  uint32_t crc;
  bool has_data, has_dict, has_v2;
  /* DataPageHeader / DataPageHeaderV2 / DictionaryPageHeader */
  int32_t num_values;
  int32_t encoding;
  int32_t def_encoding, rep_encoding; /* v1 */
  int32_t num_nulls, num_rows;        /* v2 */
  int32_t def_len, rep_len;           /* v2 */
  bool is_compressed;                 /* v2, default true */
} as__pq_page_header;

/** Decodes a PageHeader at the start of p[0..n); *used = its length. */
as_err as__pq_parse_page_header(const uint8_t *p, size_t n,
                                as__pq_page_header *h, size_t *used,
                                const char **what);

/** Encodes a v1 data page or dictionary page header. */
void as__pq_write_page_header(as_buf *b, const as__pq_page_header *h);

/* --- Codecs and encodings ---------------------------------------------- */

/** Whether we can read / write a codec. */
bool as__pq_codec_readable(int codec);
bool as__pq_codec_writable(int codec);

/** Replaces out's content with src compressed by `codec`.  *zctx is the
 *  caller's ZSTD compression context, created here at first use and reused
 *  by later calls (a fresh context per page cost ~15 % of a 1,000-event
 *  file); the caller frees it with as__pq_compress_ctx_free(). */
as_err as__pq_compress(int codec, int level, const void *src, size_t n,
                       as_buf *out, void **zctx);
void as__pq_compress_ctx_free(void *zctx);

/** Decompresses src[0..n) into exactly dst_len bytes at dst.  AS_ECORRUPT
 *  with *what set on a malformed stream or a size mismatch. */
as_err as__pq_decompress(int codec, const void *src, size_t n, void *dst,
                         size_t dst_len, const char **what);

/** Number of bits needed to store v (0 for 0). */
static inline unsigned as__pq_bit_width(uint64_t v) {
  return v ? 64u - (unsigned)__builtin_clzll(v) : 0u;
}

/** Appends the RLE/bit-packing hybrid encoding of v[0..n) (each < 2^width,
 *  width <= 32) to b, without a length prefix. */
void as__pq_rle_encode(as_buf *b, const uint32_t *v, size_t n,
                       unsigned width);

/** Decodes n values of the hybrid encoding from p[0..len) into out.
 *  *used = bytes consumed.  AS_ECORRUPT (with *what) if the data ends
 *  early, a value does not fit `width`, or width > 32. */
as_err as__pq_rle_decode(const uint8_t *p, size_t len, unsigned width,
                         uint32_t *out, size_t n, size_t *used,
                         const char **what);

/* --- The reader handle (shared by read.c and events.c) ------------------ */

struct as_pq_reader {
  const as_io *io;
  int fd;
  char *path;
  as_pq_read_options opt;
  as__pq_arena arena;
  uint8_t *footer; /* owned; statistics point into it */
  as_pq_file_desc desc;
};

#endif /* AS_PARQUET_INT_H */
