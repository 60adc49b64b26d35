/*
 * as_parquet.h — our own Apache Parquet writer and reader.
 *
 * Writer: AllSource events in a fixed flat schema ("events-v1", see
 * docs/parquet.md), one row group buffered in memory at a time, data pages
 * v1, dictionary encoding for the short string columns, min/max statistics,
 * page CRCs and key-value metadata; codecs ZSTD (default), SNAPPY, LZ4_RAW
 * and UNCOMPRESSED.
 *
 * Reader, two layers:
 *   - a generic one for flat schemas (required/optional leaf columns of
 *     every physical type; PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, RLE
 *     booleans and RLE/bit-packed definition levels; data pages v1 and v2;
 *     codecs UNCOMPRESSED, SNAPPY, ZSTD, LZ4_RAW) with an inspection API
 *     (schema, row groups, column chunk metadata and statistics, key-value
 *     metadata);
 *   - an event reader that checks the events-v1 schema and yields as_event
 *     views row by row.
 *
 * Every byte goes through an as_io.  The reader treats the file as hostile:
 * every offset, length and count is checked against the file size and the
 * limits in as_pq_read_options before anything is allocated or read, and
 * every failure returns an as_err with a message in `err` naming the file
 * and, where it applies, the row group, column and page:
 *   AS_EFORMAT       not a Parquet file, or not our events schema
 *   AS_ECORRUPT      malformed metadata or page data, CRC mismatch
 *   AS_EUNSUPPORTED  a valid file using a feature we do not read (nested or
 *                    repeated columns, GZIP/BROTLI/LZO/LZ4 codecs, DELTA_*
 *                    and BYTE_STREAM_SPLIT encodings, encryption, ...)
 *   AS_EIO, AS_ENOMEM, AS_ELIMIT (a configured limit was exceeded)
 *
 * Threads: a writer or reader handle is used by one thread at a time.
 */
#ifndef AS_PARQUET_H
#define AS_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "allsource.h"
#include "io/as_io.h"

/* ------------------------------------------------------------------------ */
/* Format enums (numbered as in parquet.thrift)                             */
/* ------------------------------------------------------------------------ */

typedef enum as_pq_type {
  AS_PQ_BOOLEAN = 0,
  AS_PQ_INT32 = 1,
  AS_PQ_INT64 = 2,
  AS_PQ_INT96 = 3,
  AS_PQ_FLOAT = 4,
  AS_PQ_DOUBLE = 5,
  AS_PQ_BYTE_ARRAY = 6,
  AS_PQ_FIXED_LEN_BYTE_ARRAY = 7
} as_pq_type;

typedef enum as_pq_codec {
  AS_PQ_UNCOMPRESSED = 0,
  AS_PQ_SNAPPY = 1,
  AS_PQ_GZIP = 2,
  AS_PQ_LZO = 3,
  AS_PQ_BROTLI = 4,
  AS_PQ_LZ4 = 5,
  AS_PQ_ZSTD = 6,
  AS_PQ_LZ4_RAW = 7
} as_pq_codec;

typedef enum as_pq_encoding {
  AS_PQ_PLAIN = 0,
  AS_PQ_PLAIN_DICTIONARY = 2,
  AS_PQ_RLE = 3,
  AS_PQ_BIT_PACKED = 4,
  AS_PQ_DELTA_BINARY_PACKED = 5,
  AS_PQ_DELTA_LENGTH_BYTE_ARRAY = 6,
  AS_PQ_DELTA_BYTE_ARRAY = 7,
  AS_PQ_RLE_DICTIONARY = 8,
  AS_PQ_BYTE_STREAM_SPLIT = 9
} as_pq_encoding;

typedef enum as_pq_repetition {
  AS_PQ_REQUIRED = 0,
  AS_PQ_OPTIONAL = 1,
  AS_PQ_REPEATED = 2
} as_pq_repetition;

/* LogicalType union members (the thrift field ids). */
typedef enum as_pq_logical {
  AS_PQ_LT_NONE = 0,
  AS_PQ_LT_STRING = 1,
  AS_PQ_LT_MAP = 2,
  AS_PQ_LT_LIST = 3,
  AS_PQ_LT_ENUM = 4,
  AS_PQ_LT_DECIMAL = 5,
  AS_PQ_LT_DATE = 6,
  AS_PQ_LT_TIME = 7,
  AS_PQ_LT_TIMESTAMP = 8,
  AS_PQ_LT_INTEGER = 10,
  AS_PQ_LT_UNKNOWN = 11,
  AS_PQ_LT_JSON = 12,
  AS_PQ_LT_BSON = 13,
  AS_PQ_LT_UUID = 14,
  AS_PQ_LT_FLOAT16 = 15
} as_pq_logical;

typedef enum as_pq_time_unit {
  AS_PQ_UNIT_NONE = 0,
  AS_PQ_MILLIS = 1,
  AS_PQ_MICROS = 2,
  AS_PQ_NANOS = 3
} as_pq_time_unit;

/** Names ("INT64", "ZSTD", "RLE_DICTIONARY", "TIMESTAMP"); "UNKNOWN(n)" is
 *  never returned: unknown values give "unknown".  Static strings. */
const char *as_pq_type_name(int type);
const char *as_pq_codec_name(int codec);
const char *as_pq_encoding_name(int encoding);
const char *as_pq_logical_name(int logical);

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct as_pq_write_options {
  as_pq_codec codec;       /* ZSTD (default), SNAPPY, LZ4_RAW, UNCOMPRESSED */
  int zstd_level;          /* default 1 */
  uint32_t row_group_rows; /* rows per row group, default 131072 */
  uint32_t page_bytes;     /* data page size target (uncompressed),
                              default 1 MiB */
  uint32_t dict_max_bytes; /* a string column's dictionary may grow to this
                              many PLAIN bytes per row group, then the
                              chunk falls back to PLAIN; default 1 MiB */
  uint32_t max_stat_bytes; /* min/max of byte arrays longer than this are
                              omitted (null_count stays); default 4096 */
  bool page_crc;           /* write PageHeader.crc, default true */
  bool sync;               /* fdatasync the file at finish, default true */
  struct as_pq_scratch *scratch; /* optional buffers reused across writers
                              (as_pq_scratch_new); NULL = the writer's own */
} as_pq_write_options;

/** Buffers a writer borrows instead of allocating its own (row-group
 *  columns, pages, the ZSTD context: tens of MiB at the default row group
 *  size) and hands back when it ends, so a process writing file after file
 *  (the sealer) does not fault fresh pages in for every file.  One writer
 *  at a time: a second writer opened with a scratch in use allocates its
 *  own.  Owned by the caller; free it after its last writer has ended. */
typedef struct as_pq_scratch as_pq_scratch;
as_pq_scratch *as_pq_scratch_new(void);
void as_pq_scratch_free(as_pq_scratch *s);

/** Fills `o` with the defaults above. */
void as_pq_write_options_init(as_pq_write_options *o);

typedef struct as_pq_writer as_pq_writer;

/** Creates (truncating) `path` through `io` and writes the leading magic.
 *  `opt` may be NULL for defaults; it is copied.  On success *out is a
 *  handle that must be ended with as_pq_writer_finish() or
 *  as_pq_writer_abort().  AS_EINVAL for bad options (unknown codec, zero
 *  row group or page size, a codec we cannot write such as GZIP). */
as_err as_pq_writer_open(const as_io *io, const char *path,
                         const as_pq_write_options *opt, as_pq_writer **out,
                         as_error *err);

/** Buffers one event (copied; `ev` is borrowed for the call).  Flushes a
 *  row group when it is full, so memory stays bounded by one row group.
 *  AS_EINVAL when position, version or timestamp do not fit INT64 or a
 *  string is longer than 2^31 bytes.  After any failure the writer is
 *  poisoned: later calls fail and only abort is useful. */
as_err as_pq_writer_add(as_pq_writer *w, const as_event *ev, as_error *err);

/** as_pq_writer_add() for `n` events. */
as_err as_pq_writer_add_n(as_pq_writer *w, const as_event *evs, size_t n,
                          as_error *err);

/** Rows added so far. */
uint64_t as_pq_writer_rows(const as_pq_writer *w);

/** Flushes the last row group, writes the footer, fdatasyncs (per options)
 *  and closes.  Always frees `w`; on failure the partial file is unlinked.
 *  *file_size (may be NULL) receives the size of the finished file. */
as_err as_pq_writer_finish(as_pq_writer *w, uint64_t *file_size,
                           as_error *err);

/** Closes and unlinks the partial file and frees `w`.  Accepts NULL. */
void as_pq_writer_abort(as_pq_writer *w);

/** Writes `n` events to a new file at `path` (open, add, finish). */
as_err as_pq_write_file(const as_io *io, const char *path,
                        const as_event *evs, size_t n,
                        const as_pq_write_options *opt, as_error *err);

/* ------------------------------------------------------------------------ */
/* Reader: limits and inspection                                            */
/* ------------------------------------------------------------------------ */

typedef struct as_pq_read_options {
  uint32_t max_footer_bytes;  /* default 64 MiB */
  uint64_t max_page_bytes;    /* uncompressed size of one page, 256 MiB */
  uint64_t max_chunk_bytes;   /* sum of uncompressed page sizes of one
                                 column chunk, default 1 GiB */
  uint64_t max_chunk_values;  /* values of one column chunk (so rows of a
                                 row group), default 64 Mi */
} as_pq_read_options;

void as_pq_read_options_init(as_pq_read_options *o);

/** One leaf column of the schema. */
typedef struct as_pq_column_desc {
  const char *name;         /* leaf name */
  const char *path;         /* dotted path from the root ("a.b.c") */
  as_pq_type type;
  int32_t type_length;      /* FIXED_LEN_BYTE_ARRAY width, else 0 */
  as_pq_repetition repetition;
  int max_def, max_rep;     /* definition / repetition level maxima */
  int32_t converted_type;   /* -1 when absent */
  as_pq_logical logical;    /* AS_PQ_LT_NONE when absent */
  bool ts_utc;              /* TIMESTAMP/TIME isAdjustedToUTC */
  as_pq_time_unit ts_unit;  /* TIMESTAMP/TIME unit */
  int32_t scale, precision; /* DECIMAL */
  bool nested;              /* under a group or repeated: not readable */
} as_pq_column_desc;

/** Column chunk statistics.  Byte strings are borrowed from the reader. */
typedef struct as_pq_stats {
  bool has_min, has_max;
  const uint8_t *min, *max; /* min_value/max_value, else deprecated min/max */
  uint32_t min_len, max_len;
  bool deprecated;          /* min/max came from the deprecated fields */
  bool has_null_count;
  int64_t null_count;
  bool has_distinct_count;
  int64_t distinct_count;
} as_pq_stats;

typedef struct as_pq_chunk_desc {
  as_pq_type type;
  as_pq_codec codec;
  uint32_t encodings;        /* bit (1u << encoding) per listed encoding */
  int64_t num_values;
  int64_t total_uncompressed_size, total_compressed_size;
  int64_t data_page_offset;
  int64_t dictionary_page_offset; /* -1 when absent */
  const char *file_path;          /* NULL (the chunk is in this file) */
  const char *path_in_schema;     /* dotted */
  as_pq_stats stats;
  bool has_stats;
} as_pq_chunk_desc;

typedef struct as_pq_row_group_desc {
  int64_t num_rows;
  int64_t total_byte_size;
  const as_pq_chunk_desc *chunks; /* num_columns, in schema leaf order */
} as_pq_row_group_desc;

typedef struct as_pq_kv {
  const char *key;   /* NUL-terminated */
  const char *value; /* NUL-terminated; NULL when the value is absent */
  uint32_t key_len, value_len;
} as_pq_kv;

/** Everything the footer says.  Borrowed from the reader (valid until
 *  as_pq_close()). */
typedef struct as_pq_file_desc {
  uint64_t file_size;
  int32_t version;
  int64_t num_rows;
  const char *created_by; /* NULL when absent */
  size_t num_columns;
  const as_pq_column_desc *columns;
  size_t num_row_groups;
  const as_pq_row_group_desc *row_groups;
  size_t num_kv;
  const as_pq_kv *kv;
} as_pq_file_desc;

typedef struct as_pq_reader as_pq_reader;

/** Opens `path` through `io`, reads and validates the footer (magic, footer
 *  length, thrift metadata, schema tree, row counts, every column chunk's
 *  byte range inside the file).  `opt` may be NULL for defaults (copied).
 *  `path` is copied; `io` is borrowed and must outlive the reader.  Caller
 *  closes with as_pq_close(). */
as_err as_pq_open(const as_io *io, const char *path,
                  const as_pq_read_options *opt, as_pq_reader **out,
                  as_error *err);

/** Closes the file and frees the reader and its footer data.  Column data
 *  returned by as_pq_read_column() is independent and freed separately.
 *  Accepts NULL. */
void as_pq_close(as_pq_reader *r);

/** The footer, borrowed until as_pq_close(). */
const as_pq_file_desc *as_pq_describe(const as_pq_reader *r);

/** Value of key-value metadata `key`, or NULL (borrowed until close). */
const char *as_pq_kv_find(const as_pq_reader *r, const char *key,
                          uint32_t *len);

/* ------------------------------------------------------------------------ */
/* Reader: generic column data                                              */
/* ------------------------------------------------------------------------ */

typedef struct as_pq_bytes {
  const char *ptr; /* NUL-terminated; NULL for a null value */
  uint32_t len;
} as_pq_bytes;

/** The decoded values of one column chunk, one entry per row.  Null rows
 *  are zero-filled and have defined[i] == 0.  Element types of `values`:
 *  BOOLEAN uint8_t (0/1), INT32 int32_t, INT64 int64_t, INT96 12 bytes,
 *  FLOAT float, DOUBLE double, BYTE_ARRAY as_pq_bytes, FIXED_LEN_BYTE_ARRAY
 *  `type_length` bytes. */
typedef struct as_pq_column_data {
  as_pq_type type;
  int32_t type_length;
  size_t num_rows;
  size_t num_nulls;
  const uint8_t *defined; /* NULL for a required column (all defined) */
  const void *values;
  size_t pages;           /* data pages decoded */
  bool dictionary;        /* the chunk had a dictionary page */
} as_pq_column_data;

/** Decodes column `col` of row group `rg`.  *out is owned by the caller
 *  (as_pq_column_data_free()) and independent of the reader.  Verifies page
 *  CRCs when present.  AS_EUNSUPPORTED (message names the column and the
 *  feature) for nested columns, codecs and encodings we do not read. */
as_err as_pq_read_column(as_pq_reader *r, size_t rg, size_t col,
                         as_pq_column_data **out, as_error *err);

/** Frees column data.  Accepts NULL. */
void as_pq_column_data_free(as_pq_column_data *cd);

/* ------------------------------------------------------------------------ */
/* Reader: AllSource events                                                 */
/* ------------------------------------------------------------------------ */

/** Column names of the events-v1 schema, in file order. */
#define AS_PQ_EVENT_COLUMNS 9
extern const char *const as_pq_event_column_names[AS_PQ_EVENT_COLUMNS];

/** AS_OK when the open file has exactly our events-v1 schema (names, order,
 *  physical types, repetition), else AS_EFORMAT naming the mismatch. */
as_err as_pq_check_events_schema(const as_pq_reader *r, as_error *err);

typedef struct as_pq_events as_pq_events;

/** Opens `path` and checks it holds events-v1.  Caller closes with
 *  as_pq_events_close(). */
as_err as_pq_events_open(const as_io *io, const char *path,
                         const as_pq_read_options *opt, as_pq_events **out,
                         as_error *err);

/** Stores the next event in *ev (AS_OK) or returns AS_DONE after the last.
 *  The strings of *ev are NUL-terminated and borrowed from the current row
 *  group's buffers: valid until the next as_pq_events_next() call that
 *  loads another row group (i.e. at most until the row group's last row
 *  has been returned and next is called again), or as_pq_events_close().
 *  metadata is NULL (len 0) when the row has none. */
as_err as_pq_events_next(as_pq_events *e, as_event *ev, as_error *err);

/** The underlying reader (for inspection), borrowed. */
as_pq_reader *as_pq_events_reader(as_pq_events *e);

/** Closes.  Accepts NULL. */
void as_pq_events_close(as_pq_events *e);

#endif /* AS_PARQUET_H */
