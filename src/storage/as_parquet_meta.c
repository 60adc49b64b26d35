/*
 * as_parquet_meta.c — Parquet footer (FileMetaData) and PageHeader encoding
 * and decoding over the Thrift compact protocol, plus enum names.
 *
 * Decoding invariants:
 *   1. Every list count is bounded by the bytes left (as_th_list_begin) and
 *      every allocation comes from an arena with a byte budget.
 *   2. A known field with an unexpected wire type is corruption; unknown
 *      fields are skipped (depth-limited).
 *   3. Required fields (parquet.thrift "required") must be present.
 *   4. The schema tree is walked iteratively-by-recursion with a depth cap;
 *      num_children can never claim more elements than exist.
 *   5. Row group and column chunk metadata is checked against the schema
 *      (column count, physical type, path) and row counts must add up.
 *      Byte ranges are checked against the file size by the reader.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "storage/as_parquet_int.h"
#include "storage/as_thrift.h"

/* ---------------------------------------------------------------------- */
/* Names                                                                  */
/* ---------------------------------------------------------------------- */

const char *as_pq_type_name(int t) {
  static const char *const n[] = {"BOOLEAN", "INT32", "INT64", "INT96",
                                  "FLOAT", "DOUBLE", "BYTE_ARRAY",
                                  "FIXED_LEN_BYTE_ARRAY"};
  return t >= 0 && t < (int)AS_ARRAY_LEN(n) ? n[t] : "unknown";
}

const char *as_pq_codec_name(int c) {
  static const char *const n[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                  "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"};
  return c >= 0 && c < (int)AS_ARRAY_LEN(n) ? n[c] : "unknown";
}

const char *as_pq_encoding_name(int e) {
  static const char *const n[] = {"PLAIN", "GROUP_VAR_INT", "PLAIN_DICTIONARY",
                                  "RLE", "BIT_PACKED", "DELTA_BINARY_PACKED",
                                  "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
                                  "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return e >= 0 && e < (int)AS_ARRAY_LEN(n) ? n[e] : "unknown";
}

const char *as_pq_logical_name(int l) {
  static const char *const n[] = {"NONE", "STRING", "MAP", "LIST", "ENUM",
                                  "DECIMAL", "DATE", "TIME", "TIMESTAMP",
                                  "unknown", "INTEGER", "UNKNOWN", "JSON",
                                  "BSON", "UUID", "FLOAT16"};
  return l >= 0 && l < (int)AS_ARRAY_LEN(n) ? n[l] : "unknown";
}

/* ---------------------------------------------------------------------- */
/* Arena                                                                  */
/* ---------------------------------------------------------------------- */

struct as__pq_block {
  as__pq_block *next;
  size_t cap, used;
  max_align_t data[];
};

void as__pq_arena_init(as__pq_arena *a, size_t budget) {
  memset(a, 0, sizeof *a);
  a->budget = budget;
}

void *as__pq_arena_alloc(as__pq_arena *a, size_t n) {
  n = AS_ALIGN_UP(n ? n : 1, (size_t)8);
  if (n > a->budget || a->used > a->budget - n) return NULL;
  as__pq_block *b = a->head;
  if (!b || b->cap - b->used < n) {
    size_t cap = AS_MAX(n, (size_t)16384);
    b = as_malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = (char *)b->data + b->used;
  b->used += n;
  a->used += n;
  memset(p, 0, n);
  return p;
}

char *as__pq_arena_strdup(as__pq_arena *a, const void *p, size_t n) {
  if (n == SIZE_MAX) return NULL;
  char *s = as__pq_arena_alloc(a, n + 1);
  if (s && n) memcpy(s, p, n);
  return s;
}

void as__pq_arena_free(as__pq_arena *a) {
  as__pq_block *b = a->head;
  while (b) {
    as__pq_block *next = b->next;
    as_free(b);
    b = next;
  }
  a->head = NULL;
  a->used = 0;
}

/* ---------------------------------------------------------------------- */
/* Footer decoding                                                        */
/* ---------------------------------------------------------------------- */

typedef struct raw_elem {
  const uint8_t *name;
  uint32_t name_len;
  int32_t type, type_length, repetition, num_children, converted;
  int32_t scale, precision;
  bool has_type, has_rep, has_children, has_name;
  as_pq_logical logical;
  bool ts_utc;
  as_pq_time_unit ts_unit;
} raw_elem;

typedef struct pctx {
  as_th_rd r;
  as__pq_arena *a;
  char *msg;
  size_t msgcap;
  as_err rc; /* first semantic error (other than thrift decoding) */
  bool encrypted;
  raw_elem *elems;
  uint32_t nelems;
  size_t *rg_nchunks;
} pctx;

static as_err fail(pctx *c, as_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static as_err fail(pctx *c, as_err code, const char *fmt, ...) {
  if (c->rc == AS_OK) {
    c->rc = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, c->msgcap, fmt, ap);
    va_end(ap);
  }
  return c->rc;
}

/* Reports a thrift decoding error (if any) with the struct being read. */
static as_err th_check(pctx *c, const char *where) {
  if (c->r.err && c->rc == AS_OK)
    return fail(c, AS_ECORRUPT, "malformed footer in %s: %s at byte %zu",
                where, c->r.what ? c->r.what : "thrift error", c->r.pos);
  return c->rc ? c->rc : c->r.err;
}

#define WANT(ty)                                                            \
  do {                                                                      \
    if (t != (ty)) {                                                        \
      as_th_fail(&c->r, "field has an unexpected thrift type");             \
      return th_check(c, where);                                            \
    }                                                                       \
  } while (0)

static void *alloc_n(pctx *c, size_t n, size_t size) {
  if (n && size > SIZE_MAX / n) return NULL;
  void *p = as__pq_arena_alloc(c->a, n * size);
  if (!p) fail(c, AS_ELIMIT, "footer metadata needs more memory than its size allows");
  return p;
}

static as_err rd_i32(pctx *c, int t, const char *where, int32_t *v) {
  WANT(AS_TH_I32);
  as_th_read_i32(&c->r, v);
  return th_check(c, where);
}

static as_err rd_i64(pctx *c, int t, const char *where, int64_t *v) {
  WANT(AS_TH_I64);
  as_th_read_i64(&c->r, v);
  return th_check(c, where);
}

static as_err rd_bin(pctx *c, int t, const char *where, const uint8_t **p,
                     uint32_t *n) {
  WANT(AS_TH_BINARY);
  as_th_read_binary(&c->r, p, n);
  return th_check(c, where);
}

static as_err rd_bool(pctx *c, int t, const char *where, bool *v) {
  if (t != AS_TH_TRUE && t != AS_TH_FALSE) {
    as_th_fail(&c->r, "field has an unexpected thrift type");
    return th_check(c, where);
  }
  as_th_read_bool(&c->r, v);
  return th_check(c, where);
}

static as_err skip(pctx *c, int t, const char *where) {
  as_th_skip(&c->r, t);
  return th_check(c, where);
}

/* Iterates the fields of a struct: `body` sees t and id. */
#define FOR_FIELDS(where, ...)                                              \
  do {                                                                      \
    int t;                                                                  \
    int16_t id;                                                             \
    as_err frc;                                                             \
    if (as_th_struct_begin(&c->r)) return th_check(c, where);               \
    while ((frc = as_th_field(&c->r, &t, &id)) == AS_OK) {                  \
      __VA_ARGS__                                                           \
    }                                                                       \
    if (frc != AS_DONE) return th_check(c, where);                          \
    as_th_struct_end(&c->r);                                                \
    if (th_check(c, where)) return c->rc ? c->rc : c->r.err;                \
  } while (0)

static as_err parse_time_unit(pctx *c, as_pq_time_unit *u) {
  const char *where = "TimeUnit";
  FOR_FIELDS(where, {
    if (id >= 1 && id <= 3) {
      WANT(AS_TH_STRUCT);
      *u = (as_pq_time_unit)id;
    }
    if (skip(c, t, where)) return c->rc ? c->rc : c->r.err;
  });
  return AS_OK;
}

#define TRY(x)                                    \
  do {                                            \
    if ((x) != AS_OK) return c->rc ? c->rc : c->r.err; \
  } while (0)

static as_err parse_ts(pctx *c, raw_elem *e) {
  const char *where = "TimestampType";
  FOR_FIELDS(where, {
    if (id == 1) {
      TRY(rd_bool(c, t, where, &e->ts_utc));
    } else if (id == 2) {
      WANT(AS_TH_STRUCT);
      TRY(parse_time_unit(c, &e->ts_unit));
    } else {
      TRY(skip(c, t, where));
    }
  });
  return AS_OK;
}

static as_err parse_decimal(pctx *c, raw_elem *e) {
  const char *where = "DecimalType";
  FOR_FIELDS(where, {
    if (id == 1) {
      TRY(rd_i32(c, t, where, &e->scale));
    } else if (id == 2) {
      TRY(rd_i32(c, t, where, &e->precision));
    } else {
      TRY(skip(c, t, where));
    }
  });
  return AS_OK;
}

static as_err parse_logical(pctx *c, raw_elem *e) {
  const char *where = "LogicalType";
  FOR_FIELDS(where, {
    WANT(AS_TH_STRUCT);
    e->logical = id <= 15 && id != 9 && id > 0 ? (as_pq_logical)id : AS_PQ_LT_NONE;
    if (id == AS_PQ_LT_TIMESTAMP || id == AS_PQ_LT_TIME) {
      TRY(parse_ts(c, e));
    } else if (id == AS_PQ_LT_DECIMAL) {
      TRY(parse_decimal(c, e));
    } else {
      TRY(skip(c, t, where));
    }
  });
  return AS_OK;
}


static as_err parse_schema_elem(pctx *c, raw_elem *e) {
  const char *where = "SchemaElement";
  e->converted = -1;
  FOR_FIELDS(where, {
    switch (id) {
    case 1: TRY(rd_i32(c, t, where, &e->type)); e->has_type = true; break;
    case 2: TRY(rd_i32(c, t, where, &e->type_length)); break;
    case 3: TRY(rd_i32(c, t, where, &e->repetition)); e->has_rep = true; break;
    case 4: TRY(rd_bin(c, t, where, &e->name, &e->name_len)); e->has_name = true; break;
    case 5: TRY(rd_i32(c, t, where, &e->num_children)); e->has_children = true; break;
    case 6: TRY(rd_i32(c, t, where, &e->converted)); break;
    case 7: TRY(rd_i32(c, t, where, &e->scale)); break;
    case 8: TRY(rd_i32(c, t, where, &e->precision)); break;
    case 10: WANT(AS_TH_STRUCT); TRY(parse_logical(c, e)); break;
    default: TRY(skip(c, t, where));
    }
  });
  if (!e->has_name) return fail(c, AS_ECORRUPT, "schema element without a name");
  return AS_OK;
}

static as_err parse_stats(pctx *c, as_pq_stats *s) {
  const char *where = "Statistics";
  const uint8_t *mn[2] = {NULL, NULL}, *mx[2] = {NULL, NULL}; /* [old, new] */
  uint32_t mnl[2] = {0, 0}, mxl[2] = {0, 0};
  FOR_FIELDS(where, {
    switch (id) {
    case 1: TRY(rd_bin(c, t, where, &mx[0], &mxl[0])); break;
    case 2: TRY(rd_bin(c, t, where, &mn[0], &mnl[0])); break;
    case 3: TRY(rd_i64(c, t, where, &s->null_count)); s->has_null_count = true; break;
    case 4: TRY(rd_i64(c, t, where, &s->distinct_count)); s->has_distinct_count = true; break;
    case 5: TRY(rd_bin(c, t, where, &mx[1], &mxl[1])); break;
    case 6: TRY(rd_bin(c, t, where, &mn[1], &mnl[1])); break;
    default: TRY(skip(c, t, where));
    }
  });
  /* Prefer min_value/max_value; fall back to the deprecated pair. */
  int k = (mn[1] || mx[1]) ? 1 : 0;
  s->deprecated = k == 0 && (mn[0] || mx[0]);
  s->has_min = mn[k] != NULL;
  s->min = mn[k];
  s->min_len = mnl[k];
  s->has_max = mx[k] != NULL;
  s->max = mx[k];
  s->max_len = mxl[k];
  return AS_OK;
}

static as_err parse_path(pctx *c, int t, const char *where, as_pq_chunk_desc *d) {
  WANT(AS_TH_LIST);
  int et;
  uint32_t n;
  as_th_list_begin(&c->r, &et, &n);
  TRY(th_check(c, where));
  if (n > 0 && et != AS_TH_BINARY) {
    as_th_fail(&c->r, "path_in_schema is not a list of strings");
    return th_check(c, where);
  }
  if (n > AS_PQ_MAX_SCHEMA_DEPTH)
    return fail(c, AS_ECORRUPT, "path_in_schema has %" PRIu32 " parts", n);
  const uint8_t *parts[AS_PQ_MAX_SCHEMA_DEPTH];
  uint32_t lens[AS_PQ_MAX_SCHEMA_DEPTH];
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++) {
    as_th_read_binary(&c->r, &parts[i], &lens[i]);
    TRY(th_check(c, where));
    total += lens[i] + 1;
  }
  char *s = alloc_n(c, total + 1, 1);
  if (!s) return c->rc;
  size_t o = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (i) s[o++] = '.';
    memcpy(s + o, parts[i], lens[i]);
    o += lens[i];
  }
  s[o] = '\0';
  d->path_in_schema = s;
  return AS_OK;
}

static as_err parse_col_meta(pctx *c, as_pq_chunk_desc *d) {
  const char *where = "ColumnMetaData";
  unsigned seen = 0;
  int32_t v32;
  FOR_FIELDS(where, {
    switch (id) {
    case 1: TRY(rd_i32(c, t, where, &v32)); d->type = (as_pq_type)v32; seen |= 1; break;
    case 2: {
      WANT(AS_TH_LIST);
      int et;
      uint32_t n;
      as_th_list_begin(&c->r, &et, &n);
      TRY(th_check(c, where));
      if (n > 0 && et != AS_TH_I32) {
        as_th_fail(&c->r, "encodings is not a list of i32");
        return th_check(c, where);
      }
      for (uint32_t i = 0; i < n; i++) {
        as_th_read_i32(&c->r, &v32);
        TRY(th_check(c, where));
        if (v32 >= 0 && v32 < 32) d->encodings |= 1u << v32;
      }
      seen |= 2;
      break;
    }
    case 3: TRY(parse_path(c, t, where, d)); seen |= 4; break;
    case 4: TRY(rd_i32(c, t, where, &v32)); d->codec = (as_pq_codec)v32; seen |= 8; break;
    case 5: TRY(rd_i64(c, t, where, &d->num_values)); seen |= 16; break;
    case 6: TRY(rd_i64(c, t, where, &d->total_uncompressed_size)); seen |= 32; break;
    case 7: TRY(rd_i64(c, t, where, &d->total_compressed_size)); seen |= 64; break;
    case 9: TRY(rd_i64(c, t, where, &d->data_page_offset)); seen |= 128; break;
    case 11: TRY(rd_i64(c, t, where, &d->dictionary_page_offset)); break;
    case 12: WANT(AS_TH_STRUCT); TRY(parse_stats(c, &d->stats)); d->has_stats = true; break;
    default: TRY(skip(c, t, where));
    }
  });
  if (seen != 255)
    return fail(c, AS_ECORRUPT, "column metadata lacks required fields (mask %#x)", seen);
  return AS_OK;
}

static as_err parse_chunk(pctx *c, as_pq_chunk_desc *d) {
  const char *where = "ColumnChunk";
  bool has_meta = false;
  const uint8_t *p;
  uint32_t n;
  d->dictionary_page_offset = -1;
  FOR_FIELDS(where, {
    switch (id) {
    case 1:
      TRY(rd_bin(c, t, where, &p, &n));
      d->file_path = as__pq_arena_strdup(c->a, p, n);
      if (!d->file_path) return fail(c, AS_ELIMIT, "footer too large");
      break;
    case 3: WANT(AS_TH_STRUCT); TRY(parse_col_meta(c, d)); has_meta = true; break;
    case 8: case 9: c->encrypted = true; TRY(skip(c, t, where)); break;
    default: TRY(skip(c, t, where));
    }
  });
  if (!has_meta) {
    if (c->encrypted)
      return fail(c, AS_EUNSUPPORTED, "column chunk is encrypted (Parquet modular encryption is not supported)");
    return fail(c, AS_ECORRUPT, "column chunk without metadata");
  }
  return AS_OK;
}

static as_err parse_row_group(pctx *c, as_pq_row_group_desc *g, size_t *nchunks) {
  const char *where = "RowGroup";
  unsigned seen = 0;
  FOR_FIELDS(where, {
    switch (id) {
    case 1: {
      WANT(AS_TH_LIST);
      int et;
      uint32_t n;
      as_th_list_begin(&c->r, &et, &n);
      TRY(th_check(c, where));
      if (seen & 1) return fail(c, AS_ECORRUPT, "row group lists its columns twice");
      if (n > 0 && et != AS_TH_STRUCT) {
        as_th_fail(&c->r, "columns is not a list of structs");
        return th_check(c, where);
      }
      as_pq_chunk_desc *ch = alloc_n(c, n, sizeof *ch);
      if (!ch && n) return c->rc;
      for (uint32_t i = 0; i < n; i++) TRY(parse_chunk(c, &ch[i]));
      g->chunks = ch;
      *nchunks = n;
      seen |= 1;
      break;
    }
    case 2: TRY(rd_i64(c, t, where, &g->total_byte_size)); seen |= 2; break;
    case 3: TRY(rd_i64(c, t, where, &g->num_rows)); seen |= 4; break;
    default: TRY(skip(c, t, where));
    }
  });
  if ((seen & 5) != 5) return fail(c, AS_ECORRUPT, "row group lacks columns or num_rows");
  return AS_OK;
}

static as_err parse_kv(pctx *c, as_pq_kv *kv) {
  const char *where = "KeyValue";
  const uint8_t *p;
  uint32_t n;
  bool has_key = false;
  FOR_FIELDS(where, {
    if (id == 1 || id == 2) {
      TRY(rd_bin(c, t, where, &p, &n));
      char *s = as__pq_arena_strdup(c->a, p, n);
      if (!s) return fail(c, AS_ELIMIT, "footer too large");
      if (id == 1) { kv->key = s; kv->key_len = n; has_key = true; }
      else { kv->value = s; kv->value_len = n; }
    } else {
      TRY(skip(c, t, where));
    }
  });
  if (!has_key) return fail(c, AS_ECORRUPT, "key-value metadata entry without a key");
  return AS_OK;
}

/* List header of a list<struct> field, bounded. */
static as_err struct_list(pctx *c, int t, const char *where, uint32_t *n) {
  WANT(AS_TH_LIST);
  int et;
  as_th_list_begin(&c->r, &et, n);
  TRY(th_check(c, where));
  if (*n > 0 && et != AS_TH_STRUCT) {
    as_th_fail(&c->r, "expected a list of structs");
    return th_check(c, where);
  }
  return AS_OK;
}

/* Walks the schema tree from element *idx, appending leaves. */
static as_err walk_schema(pctx *c, uint32_t *idx, int depth, const char *prefix,
                          int def, int rep, bool nested, as_pq_column_desc *cols,
                          size_t *ncols) {
  if (depth > AS_PQ_MAX_SCHEMA_DEPTH)
    return fail(c, AS_EUNSUPPORTED, "schema nested deeper than %d levels", AS_PQ_MAX_SCHEMA_DEPTH);
  if (*idx >= c->nelems) return fail(c, AS_ECORRUPT, "schema tree claims more elements than the %" PRIu32 " listed", c->nelems);
  raw_elem *e = &c->elems[(*idx)++];
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)AS_MIN(e->name_len, 60u), (const char *)e->name);
  if (depth > 0) {
    if (!e->has_rep) return fail(c, AS_ECORRUPT, "schema element '%s' has no repetition type", name);
    if (e->repetition < 0 || e->repetition > 2)
      return fail(c, AS_ECORRUPT, "schema element '%s' has invalid repetition type %" PRId32, name, e->repetition);
    def += e->repetition != AS_PQ_REQUIRED;
    rep += e->repetition == AS_PQ_REPEATED;
  }
  char *path;
  if (depth == 0) {
    path = as__pq_arena_strdup(c->a, "", 0);
  } else if (depth == 1) {
    path = as__pq_arena_strdup(c->a, e->name, e->name_len);
  } else {
    size_t pl = strlen(prefix);
    path = alloc_n(c, pl + e->name_len + 2, 1);
    if (path) {
      memcpy(path, prefix, pl);
      path[pl] = '.';
      memcpy(path + pl + 1, e->name, e->name_len);
    }
  }
  if (!path) return fail(c, AS_ELIMIT, "footer too large");
  if (e->has_children && e->num_children > 0) {
    if ((uint32_t)e->num_children > c->nelems - *idx)
      return fail(c, AS_ECORRUPT, "schema element '%s' claims %" PRId32 " children, only %" PRIu32 " elements follow",
                  name, e->num_children, c->nelems - *idx);
    for (int32_t i = 0; i < e->num_children; i++)
      TRY(walk_schema(c, idx, depth + 1, path, def, rep, depth > 0 || nested, cols, ncols));
    return AS_OK;
  }
  if (depth == 0) {
    if (e->has_children && e->num_children < 0)
      return fail(c, AS_ECORRUPT, "schema root has a negative child count");
    return AS_OK; /* a schema without columns */
  }
  if (e->has_children && e->num_children < 0)
    return fail(c, AS_ECORRUPT, "schema element '%s' has a negative child count", name);
  if (!e->has_type && e->has_children)
    return fail(c, AS_EUNSUPPORTED, "column '%s' is an empty group", name);
  if (!e->has_type) return fail(c, AS_ECORRUPT, "leaf column '%s' has no physical type", name);
  if (e->type < 0 || e->type > AS_PQ_FIXED_LEN_BYTE_ARRAY)
    return fail(c, AS_ECORRUPT, "column '%s' has invalid physical type %" PRId32, name, e->type);
  if (e->type == AS_PQ_FIXED_LEN_BYTE_ARRAY &&
      (e->type_length <= 0 || e->type_length > AS_PQ_MAX_FLBA))
    return fail(c, AS_ECORRUPT, "column '%s' has invalid FIXED_LEN_BYTE_ARRAY length %" PRId32, name, e->type_length);
  if (*ncols >= AS_PQ_MAX_COLUMNS)
    return fail(c, AS_ELIMIT, "more than %u columns", AS_PQ_MAX_COLUMNS);
  as_pq_column_desc *col = &cols[(*ncols)++];
  col->name = as__pq_arena_strdup(c->a, e->name, e->name_len);
  if (!col->name) return fail(c, AS_ELIMIT, "footer too large");
  col->path = path;
  col->type = (as_pq_type)e->type;
  col->type_length = e->type == AS_PQ_FIXED_LEN_BYTE_ARRAY ? e->type_length : 0;
  col->repetition = (as_pq_repetition)e->repetition;
  col->max_def = def;
  col->max_rep = rep;
  col->converted_type = e->converted;
  col->logical = e->logical;
  col->ts_utc = e->ts_utc;
  col->ts_unit = e->ts_unit;
  col->scale = e->scale;
  col->precision = e->precision;
  col->nested = nested || depth > 1 || rep > 0;
  return AS_OK;
}

static as_err check_row_groups(pctx *c, as_pq_file_desc *fd) {
  int64_t total = 0;
  for (size_t g = 0; g < fd->num_row_groups; g++) {
    const as_pq_row_group_desc *rg = &fd->row_groups[g];
    if (c->rg_nchunks[g] != fd->num_columns)
      return fail(c, AS_ECORRUPT, "row group %zu has %zu column chunks, the schema has %zu columns",
                  g, c->rg_nchunks[g], fd->num_columns);
    if (rg->num_rows < 0)
      return fail(c, AS_ECORRUPT, "row group %zu has a negative row count", g);
    if (rg->num_rows > INT64_MAX - total)
      return fail(c, AS_ECORRUPT, "row counts overflow");
    total += rg->num_rows;
    for (size_t i = 0; i < fd->num_columns; i++) {
      const as_pq_chunk_desc *ch = &rg->chunks[i];
      const as_pq_column_desc *col = &fd->columns[i];
      if (ch->type != col->type)
        return fail(c, AS_ECORRUPT, "row group %zu column '%s': chunk type %s differs from the schema's %s",
                    g, col->path, as_pq_type_name(ch->type), as_pq_type_name(col->type));
      if (strcmp(ch->path_in_schema, col->path) != 0)
        return fail(c, AS_ECORRUPT, "row group %zu column %zu: path_in_schema '%s' differs from the schema's '%s'",
                    g, i, ch->path_in_schema, col->path);
      if (ch->num_values < 0 || ch->total_compressed_size < 0 ||
          ch->total_uncompressed_size < 0)
        return fail(c, AS_ECORRUPT, "row group %zu column '%s': negative size or count", g, col->path);
      if (!col->nested && ch->num_values != rg->num_rows)
        return fail(c, AS_ECORRUPT, "row group %zu column '%s': %" PRId64 " values for %" PRId64 " rows",
                    g, col->path, ch->num_values, rg->num_rows);
    }
  }
  if (total != fd->num_rows)
    return fail(c, AS_ECORRUPT, "row groups hold %" PRId64 " rows, the footer says %" PRId64, total, fd->num_rows);
  return AS_OK;
}

as_err as__pq_parse_footer(const uint8_t *p, size_t n, as__pq_arena *a,
                           as_pq_file_desc *fd, char *msg, size_t msgcap) {
  pctx ctx = {.a = a, .msg = msg, .msgcap = msgcap};
  pctx *c = &ctx;
  const char *where = "FileMetaData";
  unsigned seen = 0;
  uint32_t cnt;
  msg[0] = '\0';
  as_th_rd_init(&c->r, p, n);
  FOR_FIELDS(where, {
    switch (id) {
    case 1: TRY(rd_i32(c, t, where, &fd->version)); seen |= 1; break;
    case 2:
      TRY(struct_list(c, t, where, &cnt));
      if (seen & 2) return fail(c, AS_ECORRUPT, "schema listed twice");
      c->elems = alloc_n(c, cnt, sizeof *c->elems);
      if (!c->elems && cnt) return c->rc;
      c->nelems = cnt;
      for (uint32_t i = 0; i < cnt; i++) TRY(parse_schema_elem(c, &c->elems[i]));
      seen |= 2;
      break;
    case 3: TRY(rd_i64(c, t, where, &fd->num_rows)); seen |= 4; break;
    case 4: {
      TRY(struct_list(c, t, where, &cnt));
      if (seen & 8) return fail(c, AS_ECORRUPT, "row groups listed twice");
      as_pq_row_group_desc *g = alloc_n(c, cnt, sizeof *g);
      c->rg_nchunks = alloc_n(c, cnt, sizeof *c->rg_nchunks);
      if ((!g || !c->rg_nchunks) && cnt) return c->rc;
      for (uint32_t i = 0; i < cnt; i++) TRY(parse_row_group(c, &g[i], &c->rg_nchunks[i]));
      fd->row_groups = g;
      fd->num_row_groups = cnt;
      seen |= 8;
      break;
    }
    case 5: {
      TRY(struct_list(c, t, where, &cnt));
      as_pq_kv *kv = alloc_n(c, cnt, sizeof *kv);
      if (!kv && cnt) return c->rc;
      for (uint32_t i = 0; i < cnt; i++) TRY(parse_kv(c, &kv[i]));
      fd->kv = kv;
      fd->num_kv = cnt;
      break;
    }
    case 6: {
      const uint8_t *s;
      uint32_t sl;
      TRY(rd_bin(c, t, where, &s, &sl));
      fd->created_by = as__pq_arena_strdup(c->a, s, sl);
      if (!fd->created_by) return fail(c, AS_ELIMIT, "footer too large");
      break;
    }
    case 8: case 9: c->encrypted = true; TRY(skip(c, t, where)); break;
    default: TRY(skip(c, t, where));
    }
  });
  if ((seen & 15) != 15)
    return fail(c, AS_ECORRUPT, "footer lacks required fields (version, schema, num_rows or row_groups)");
  if (c->nelems == 0) return fail(c, AS_ECORRUPT, "empty schema");
  if (fd->num_rows < 0) return fail(c, AS_ECORRUPT, "negative num_rows");
  as_pq_column_desc *cols = alloc_n(c, c->nelems, sizeof *cols);
  if (!cols) return c->rc;
  uint32_t idx = 0;
  size_t ncols = 0;
  TRY(walk_schema(c, &idx, 0, "", 0, 0, false, cols, &ncols));
  if (idx != c->nelems)
    return fail(c, AS_ECORRUPT, "schema lists %" PRIu32 " elements but its tree has %" PRIu32, c->nelems, idx);
  fd->columns = cols;
  fd->num_columns = ncols;
  return check_row_groups(c, fd);
}

/* ---------------------------------------------------------------------- */
/* Footer encoding (flat schemas)                                         */
/* ---------------------------------------------------------------------- */

static void w_stats(as_th_wr *w, const as_pq_stats *s) {
  as_th_w_struct_begin(w);
  if (s->has_null_count) as_th_w_field_i64(w, 3, s->null_count);
  if (s->has_max) as_th_w_field_binary(w, 5, s->max, s->max_len);
  if (s->has_min) as_th_w_field_binary(w, 6, s->min, s->min_len);
  as_th_w_struct_end(w);
}

static void w_chunk(as_th_wr *w, const as_pq_chunk_desc *ch, const char *name) {
  int64_t start = ch->dictionary_page_offset >= 0 ? ch->dictionary_page_offset
                                                   : ch->data_page_offset;
  as_th_w_struct_begin(w);
  as_th_w_field_i64(w, 2, start);
  as_th_w_field(w, AS_TH_STRUCT, 3);
  as_th_w_struct_begin(w);
  as_th_w_field_i32(w, 1, ch->type);
  uint32_t nenc = (uint32_t)__builtin_popcount(ch->encodings);
  as_th_w_field(w, AS_TH_LIST, 2);
  as_th_w_list_begin(w, AS_TH_I32, nenc);
  for (int e = 0; e < 32; e++)
    if (ch->encodings & (1u << e)) as_th_w_i32(w, e);
  as_th_w_field(w, AS_TH_LIST, 3);
  as_th_w_list_begin(w, AS_TH_BINARY, 1);
  as_th_w_binary(w, name, strlen(name));
  as_th_w_field_i32(w, 4, ch->codec);
  as_th_w_field_i64(w, 5, ch->num_values);
  as_th_w_field_i64(w, 6, ch->total_uncompressed_size);
  as_th_w_field_i64(w, 7, ch->total_compressed_size);
  as_th_w_field_i64(w, 9, ch->data_page_offset);
  if (ch->dictionary_page_offset >= 0)
    as_th_w_field_i64(w, 11, ch->dictionary_page_offset);
  if (ch->has_stats) {
    as_th_w_field(w, AS_TH_STRUCT, 12);
    w_stats(w, &ch->stats);
  }
  as_th_w_struct_end(w);
  as_th_w_struct_end(w);
}

static void w_logical(as_th_wr *w, const as_pq_column_desc *col) {
  as_th_w_field(w, AS_TH_STRUCT, 10);
  as_th_w_struct_begin(w);
  as_th_w_field(w, AS_TH_STRUCT, (int16_t)col->logical);
  as_th_w_struct_begin(w);
  if (col->logical == AS_PQ_LT_TIMESTAMP || col->logical == AS_PQ_LT_TIME) {
    as_th_w_bool_field(w, 1, col->ts_utc);
    as_th_w_field(w, AS_TH_STRUCT, 2);
    as_th_w_struct_begin(w);
    as_th_w_field(w, AS_TH_STRUCT, (int16_t)col->ts_unit);
    as_th_w_struct_begin(w);
    as_th_w_struct_end(w);
    as_th_w_struct_end(w);
  }
  as_th_w_struct_end(w);
  as_th_w_struct_end(w);
}

as_err as__pq_write_footer(as_buf *b, const as_pq_file_desc *fd) {
  as_th_wr w;
  as_th_wr_init(&w, b);
  as_th_w_struct_begin(&w);
  as_th_w_field_i32(&w, 1, fd->version);
  as_th_w_field(&w, AS_TH_LIST, 2);
  as_th_w_list_begin(&w, AS_TH_STRUCT, (uint32_t)fd->num_columns + 1);
  as_th_w_struct_begin(&w);
  as_th_w_field_string(&w, 4, "schema");
  as_th_w_field_i32(&w, 5, (int32_t)fd->num_columns);
  as_th_w_struct_end(&w);
  for (size_t i = 0; i < fd->num_columns; i++) {
    const as_pq_column_desc *col = &fd->columns[i];
    as_th_w_struct_begin(&w);
    as_th_w_field_i32(&w, 1, col->type);
    if (col->type == AS_PQ_FIXED_LEN_BYTE_ARRAY)
      as_th_w_field_i32(&w, 2, col->type_length);
    as_th_w_field_i32(&w, 3, col->repetition);
    as_th_w_field_string(&w, 4, col->name);
    if (col->converted_type >= 0) as_th_w_field_i32(&w, 6, col->converted_type);
    if (col->logical != AS_PQ_LT_NONE) w_logical(&w, col);
    as_th_w_struct_end(&w);
  }
  as_th_w_field_i64(&w, 3, fd->num_rows);
  as_th_w_field(&w, AS_TH_LIST, 4);
  as_th_w_list_begin(&w, AS_TH_STRUCT, (uint32_t)fd->num_row_groups);
  for (size_t g = 0; g < fd->num_row_groups; g++) {
    const as_pq_row_group_desc *rg = &fd->row_groups[g];
    int64_t compressed = 0, first = -1;
    as_th_w_struct_begin(&w);
    as_th_w_field(&w, AS_TH_LIST, 1);
    as_th_w_list_begin(&w, AS_TH_STRUCT, (uint32_t)fd->num_columns);
    for (size_t i = 0; i < fd->num_columns; i++) {
      const as_pq_chunk_desc *ch = &rg->chunks[i];
      w_chunk(&w, ch, fd->columns[i].name);
      compressed += ch->total_compressed_size;
      if (i == 0)
        first = ch->dictionary_page_offset >= 0 ? ch->dictionary_page_offset
                                                : ch->data_page_offset;
    }
    as_th_w_field_i64(&w, 2, rg->total_byte_size);
    as_th_w_field_i64(&w, 3, rg->num_rows);
    if (first >= 0) as_th_w_field_i64(&w, 5, first);
    as_th_w_field_i64(&w, 6, compressed);
    as_th_w_field(&w, AS_TH_I16, 7);
    as_th_w_i16(&w, (int16_t)AS_MIN(g, (size_t)INT16_MAX));
    as_th_w_struct_end(&w);
  }
  if (fd->num_kv) {
    as_th_w_field(&w, AS_TH_LIST, 5);
    as_th_w_list_begin(&w, AS_TH_STRUCT, (uint32_t)fd->num_kv);
    for (size_t i = 0; i < fd->num_kv; i++) {
      as_th_w_struct_begin(&w);
      as_th_w_field_binary(&w, 1, fd->kv[i].key, fd->kv[i].key_len);
      if (fd->kv[i].value)
        as_th_w_field_binary(&w, 2, fd->kv[i].value, fd->kv[i].value_len);
      as_th_w_struct_end(&w);
    }
  }
  if (fd->created_by) as_th_w_field_string(&w, 6, fd->created_by);
  /* column_orders: TYPE_ORDER for every column (min/max use the type's
   * order: signed for INT64, unsigned bytewise for byte arrays). */
  as_th_w_field(&w, AS_TH_LIST, 7);
  as_th_w_list_begin(&w, AS_TH_STRUCT, (uint32_t)fd->num_columns);
  for (size_t i = 0; i < fd->num_columns; i++) {
    as_th_w_struct_begin(&w);
    as_th_w_field(&w, AS_TH_STRUCT, 1);
    as_th_w_struct_begin(&w);
    as_th_w_struct_end(&w);
    as_th_w_struct_end(&w);
  }
  as_th_w_struct_end(&w);
  return as_buf_error(b);
}

/* ---------------------------------------------------------------------- */
/* Page headers                                                           */
/* ---------------------------------------------------------------------- */

as_err as__pq_parse_page_header(const uint8_t *p, size_t n,
                                as__pq_page_header *h, size_t *used,
                                const char **what) {
  as_th_rd rd, *r = &rd;
  int t, t2;
  int16_t id, id2;
  as_err rc;
  unsigned seen = 0;
  int32_t crc;
  memset(h, 0, sizeof *h);
  h->is_compressed = true;
  as_th_rd_init(r, p, n);
#define PH_I32(dst)                                                         \
  do {                                                                      \
    if (t2 != AS_TH_I32) return *what = "page header field has the wrong type", AS_ECORRUPT; \
    if (as_th_read_i32(r, &(dst))) goto thrift_err;                         \
  } while (0)
  if (as_th_struct_begin(r)) goto thrift_err;
  while ((rc = as_th_field(r, &t, &id)) == AS_OK) {
    t2 = t;
    switch (id) {
    case 1: PH_I32(h->type); seen |= 1; break;
    case 2: PH_I32(h->uncompressed_size); seen |= 2; break;
    case 3: PH_I32(h->compressed_size); seen |= 4; break;
    case 4: PH_I32(crc); h->has_crc = true; h->crc = (uint32_t)crc; break;
    case 5: case 7: case 8: {
      if (t != AS_TH_STRUCT) return *what = "page header field has the wrong type", AS_ECORRUPT;
      if (id == 5) h->has_data = true;
      if (id == 7) h->has_dict = true;
      if (id == 8) h->has_v2 = true;
      unsigned sub = 0;
      if (as_th_struct_begin(r)) goto thrift_err;
      while ((rc = as_th_field(r, &t2, &id2)) == AS_OK) {
        if (id == 5 && id2 >= 1 && id2 <= 4) {
          int32_t *dst[] = {&h->num_values, &h->encoding, &h->def_encoding, &h->rep_encoding};
          PH_I32(*dst[id2 - 1]);
          sub |= 1u << id2;
        } else if (id == 7 && id2 >= 1 && id2 <= 2) {
          int32_t *dst[] = {&h->num_values, &h->encoding};
          PH_I32(*dst[id2 - 1]);
          sub |= 1u << id2;
        } else if (id == 8 && id2 >= 1 && id2 <= 6) {
          int32_t *dst[] = {&h->num_values, &h->num_nulls, &h->num_rows,
                            &h->encoding, &h->def_len, &h->rep_len};
          PH_I32(*dst[id2 - 1]);
          sub |= 1u << id2;
        } else if (id == 8 && id2 == 7) {
          if (t2 != AS_TH_TRUE && t2 != AS_TH_FALSE)
            return *what = "page header field has the wrong type", AS_ECORRUPT;
          if (as_th_read_bool(r, &h->is_compressed)) goto thrift_err;
        } else if (as_th_skip(r, t2)) {
          goto thrift_err;
        }
      }
      if (rc != AS_DONE || as_th_struct_end(r)) goto thrift_err;
      unsigned need = id == 5 ? 0x1e : id == 7 ? 0x6 : 0x7e;
      if ((sub & need) != need) return *what = "page header lacks required fields", AS_ECORRUPT;
      break;
    }
    default:
      if (as_th_skip(r, t)) goto thrift_err;
    }
  }
  if (rc != AS_DONE || as_th_struct_end(r)) goto thrift_err;
#undef PH_I32
  if (seen != 7) return *what = "page header lacks type or sizes", AS_ECORRUPT;
  *used = r->pos;
  return AS_OK;
thrift_err:
  *what = r->what ? r->what : "malformed page header";
  return AS_ECORRUPT;
}

void as__pq_write_page_header(as_buf *b, const as__pq_page_header *h) {
  as_th_wr w;
  as_th_wr_init(&w, b);
  as_th_w_struct_begin(&w);
  as_th_w_field_i32(&w, 1, h->type);
  as_th_w_field_i32(&w, 2, h->uncompressed_size);
  as_th_w_field_i32(&w, 3, h->compressed_size);
  if (h->has_crc) as_th_w_field_i32(&w, 4, (int32_t)h->crc);
  if (h->type == AS_PQ_DICTIONARY_PAGE) {
    as_th_w_field(&w, AS_TH_STRUCT, 7);
    as_th_w_struct_begin(&w);
    as_th_w_field_i32(&w, 1, h->num_values);
    as_th_w_field_i32(&w, 2, h->encoding);
    as_th_w_struct_end(&w);
  } else {
    as_th_w_field(&w, AS_TH_STRUCT, 5);
    as_th_w_struct_begin(&w);
    as_th_w_field_i32(&w, 1, h->num_values);
    as_th_w_field_i32(&w, 2, h->encoding);
    as_th_w_field_i32(&w, 3, h->def_encoding);
    as_th_w_field_i32(&w, 4, h->rep_encoding);
    as_th_w_struct_end(&w);
  }
  as_th_w_struct_end(&w);
}
