/*
 * as_parquet_events.c — reads AllSource events back from events-v1 Parquet
 * files, one row group in memory at a time.
 */
#include <inttypes.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_err.h"
#include "storage/as_parquet_int.h"

struct as_pq_events {
  as_pq_reader *r;
  size_t next_rg;  /* row group to load next */
  size_t rg;       /* row group loaded */
  size_t row, nrows;
  as_pq_column_data *cols[AS_PQ_EVENT_COLUMNS];
};

as_err as_pq_check_events_schema(const as_pq_reader *r, as_error *err) {
  static const as_pq_type types[AS_PQ_EVENT_COLUMNS] = {
      AS_PQ_INT64, AS_PQ_FIXED_LEN_BYTE_ARRAY, AS_PQ_BYTE_ARRAY, AS_PQ_BYTE_ARRAY,
      AS_PQ_BYTE_ARRAY, AS_PQ_INT64, AS_PQ_INT64, AS_PQ_BYTE_ARRAY, AS_PQ_BYTE_ARRAY};
  const as_pq_file_desc *fd = &r->desc;
  uint32_t flen;
  const char *fmt = as_pq_kv_find(r, "allsource.format", &flen);
  if (fmt && (flen != strlen(AS_PQ_EVENTS_FORMAT) || memcmp(fmt, AS_PQ_EVENTS_FORMAT, flen) != 0))
    return as__error_set(err, AS_EFORMAT, 0, NULL,
                         "parquet '%s': allsource.format is '%.40s', expected '%s'", r->path, fmt,
                         AS_PQ_EVENTS_FORMAT);
  if (fd->num_columns != AS_PQ_EVENT_COLUMNS)
    return as__error_set(err, AS_EFORMAT, 0, NULL,
                         "parquet '%s': not an events file: %zu columns, expected %d", r->path,
                         fd->num_columns, AS_PQ_EVENT_COLUMNS);
  for (size_t i = 0; i < AS_PQ_EVENT_COLUMNS; i++) {
    const as_pq_column_desc *c = &fd->columns[i];
    as_pq_repetition rep = i == AS_PQ_EVENT_COLUMNS - 1 ? AS_PQ_OPTIONAL : AS_PQ_REQUIRED;
    if (strcmp(c->path, as_pq_event_column_names[i]) != 0 || c->type != types[i] ||
        c->repetition != rep || c->nested ||
        (c->type == AS_PQ_FIXED_LEN_BYTE_ARRAY && c->type_length != 16))
      return as__error_set(err, AS_EFORMAT, 0, as_pq_event_column_names[i],
                           "parquet '%s': not an events file: column %zu is '%s' %s %s, expected "
                           "'%s' %s %s",
                           r->path, i, c->path, as_pq_type_name(c->type),
                           c->repetition == AS_PQ_REQUIRED ? "required" : "optional",
                           as_pq_event_column_names[i], as_pq_type_name(types[i]),
                           rep == AS_PQ_REQUIRED ? "required" : "optional");
  }
  return AS_OK;
}

static void free_cols(as_pq_events *e) {
  for (size_t i = 0; i < AS_PQ_EVENT_COLUMNS; i++) {
    as_pq_column_data_free(e->cols[i]);
    e->cols[i] = NULL;
  }
}

as_err as_pq_events_open(const as_io *io, const char *path, const as_pq_read_options *opt,
                         as_pq_events **out, as_error *err) {
  as_err rc = AS_OK;
  as_pq_events *e = NULL;
  as_pq_reader *r = NULL;
  *out = NULL;
  AS_CHECK(as_pq_open(io, path, opt, &r, err));
  AS_CHECK(as_pq_check_events_schema(r, err));
  e = as_calloc(1, sizeof *e);
  if (!e) AS_FAIL(as__error_set(err, AS_ENOMEM, 0, NULL, "parquet '%s': out of memory", path));
  e->r = r;
  r = NULL;
  *out = e;
out:
  as_pq_close(r);
  return rc;
}

static as_err load_row_group(as_pq_events *e, as_error *err) {
  as_err rc = AS_OK;
  free_cols(e);
  e->rg = e->next_rg++;
  e->row = 0;
  e->nrows = (size_t)e->r->desc.row_groups[e->rg].num_rows;
  for (size_t i = 0; i < AS_PQ_EVENT_COLUMNS; i++) {
    AS_CHECK(as_pq_read_column(e->r, e->rg, i, &e->cols[i], err));
    if (e->cols[i]->num_rows != e->nrows)
      AS_FAIL(as__error_set(err, AS_ECORRUPT, (uint32_t)e->rg, as_pq_event_column_names[i],
                            "parquet '%s': row group %zu: column '%s' has %zu rows, expected %zu",
                            e->r->path, e->rg, as_pq_event_column_names[i],
                            e->cols[i]->num_rows, e->nrows));
  }
out:
  if (rc) {
    free_cols(e);
    e->nrows = 0;
  }
  return rc;
}

as_err as_pq_events_next(as_pq_events *e, as_event *ev, as_error *err) {
  as_err rc;
  while (e->row >= e->nrows) {
    if (e->next_rg >= e->r->desc.num_row_groups) {
      free_cols(e);
      e->nrows = e->row = 0;
      return AS_DONE;
    }
    if ((rc = load_row_group(e, err))) return rc;
  }
  size_t i = e->row;
  const int64_t *pos = e->cols[0]->values, *ts = e->cols[5]->values, *ver = e->cols[6]->values;
  if (pos[i] < 0 || ver[i] < 0)
    return as__error_set(err, AS_ECORRUPT, (uint32_t)e->rg, pos[i] < 0 ? "position" : "version",
                         "parquet '%s': row group %zu, row %zu: negative %s", e->r->path, e->rg, i,
                         pos[i] < 0 ? "position" : "version");
  memset(ev, 0, sizeof *ev);
  ev->position = (uint64_t)pos[i];
  ev->timestamp_us = ts[i];
  ev->version = (uint64_t)ver[i];
  memcpy(ev->id, (const uint8_t *)e->cols[1]->values + i * 16, 16);
  const as_pq_bytes *s;
  s = (const as_pq_bytes *)e->cols[2]->values + i;
  ev->entity_id = s->ptr, ev->entity_id_len = s->len;
  s = (const as_pq_bytes *)e->cols[3]->values + i;
  ev->event_type = s->ptr, ev->event_type_len = s->len;
  s = (const as_pq_bytes *)e->cols[4]->values + i;
  ev->tenant_id = s->ptr, ev->tenant_id_len = s->len;
  s = (const as_pq_bytes *)e->cols[7]->values + i;
  ev->payload = s->ptr, ev->payload_len = s->len;
  if (e->cols[8]->defined[i]) {
    s = (const as_pq_bytes *)e->cols[8]->values + i;
    ev->metadata = s->ptr, ev->metadata_len = s->len;
  }
  e->row++;
  return AS_OK;
}

as_pq_reader *as_pq_events_reader(as_pq_events *e) { return e->r; }

void as_pq_events_close(as_pq_events *e) {
  if (!e) return;
  free_cols(e);
  as_pq_close(e->r);
  as_free(e);
}
