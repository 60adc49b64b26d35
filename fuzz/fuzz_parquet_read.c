/*
 * fuzz_parquet_read.c — the Parquet reader on arbitrary bytes.
 *
 * The input is served as a file by a read-only in-memory as_io.  The target
 * opens it, decodes every column of every row group with the generic
 * reader, then walks every row with the event reader.  Invariants checked:
 * no crash, no out-of-bounds access (sanitizers), every failure is one of
 * the documented error codes, every decoded byte string is NUL-terminated,
 * null rows are zero, and nothing leaks (as_malloc balance).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/as_mem_io.h"
#include "core/as_alloc.h"
#include "fuzz.h"
#include "storage/as_parquet.h"

static void check_rc(as_err rc) {
  if (rc != AS_OK && rc != AS_DONE && rc != AS_ECORRUPT && rc != AS_EFORMAT &&
      rc != AS_EUNSUPPORTED && rc != AS_ELIMIT)
    abort();
}

static void touch(const as_pq_column_data *cd) {
  if (cd->type != AS_PQ_BYTE_ARRAY) return;
  const as_pq_bytes *v = cd->values;
  for (size_t i = 0; i < cd->num_rows; i++) {
    if (cd->defined && !cd->defined[i]) {
      if (v[i].ptr || v[i].len) abort();
      continue;
    }
    if (!v[i].ptr || v[i].ptr[v[i].len] != '\0') abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t live = as__alloc_live_bytes();
  mem_io m;
  mem_io_init(&m);
  if (mem_io_put(&m, "f.parquet", data, size) != 0) return 0;
  as_pq_read_options ro;
  as_pq_read_options_init(&ro);
  ro.max_chunk_values = 1u << 18;
  ro.max_page_bytes = 16u << 20;
  ro.max_chunk_bytes = 64u << 20;
  as_error err;
  as_pq_reader *r;
  as_err rc = as_pq_open(&m.io, "f.parquet", &ro, &r, &err);
  check_rc(rc);
  if (rc == AS_OK) {
    const as_pq_file_desc *d = as_pq_describe(r);
    for (size_t g = 0; g < d->num_row_groups; g++)
      for (size_t c = 0; c < d->num_columns; c++) {
        as_pq_column_data *cd = NULL;
        rc = as_pq_read_column(r, g, c, &cd, &err);
        check_rc(rc);
        if (rc == AS_OK) touch(cd);
        as_pq_column_data_free(cd);
      }
    as_pq_close(r);
    as_pq_events *e;
    rc = as_pq_events_open(&m.io, "f.parquet", &ro, &e, &err);
    check_rc(rc);
    if (rc == AS_OK) {
      as_event ev;
      while ((rc = as_pq_events_next(e, &ev, &err)) == AS_OK)
        if (ev.payload[ev.payload_len] != '\0') abort();
      check_rc(rc);
      as_pq_events_close(e);
    }
  }
  mem_io_free(&m);
  if (as__alloc_live_bytes() != live) abort(); /* leak */
  return 0;
}
