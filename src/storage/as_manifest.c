/*
 * as_manifest.c — reading and atomically replacing the manifest.
 */
#include "storage/as_manifest.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "core/as_crc32c.h"
#include "core/as_err.h"

#define MANIFEST "MANIFEST"
#define MAX_MANIFEST ((size_t)256 << 20)

void as_manifest_init(as_manifest *m) { memset(m, 0, sizeof *m); }

void as_manifest_free(as_manifest *m) {
  as_free(m->files);
  memset(m, 0, sizeof *m);
}

as_err as_manifest_add(as_manifest *m, const as_mfile *f) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    as_mfile *v = as_realloc(m->files, sizeof *v * cap);
    if (!v) return AS_ENOMEM;
    m->files = v;
    m->cap = cap;
  }
  m->files[m->n++] = *f;
  return AS_OK;
}

as_err as_manifest_copy(as_manifest *dst, const as_manifest *src) {
  as_manifest_init(dst);
  dst->generation = src->generation;
  dst->sealed_through = src->sealed_through;
  for (size_t i = 0; i < src->n; i++) {
    as_err rc = as_manifest_add(dst, &src->files[i]);
    if (rc) {
      as_manifest_free(dst);
      return rc;
    }
  }
  return AS_OK;
}

void as_manifest_file_name(uint64_t first, uint64_t last, uint64_t g,
                           char out[96]) {
  snprintf(out, 96, "events-%016" PRIx64 "-%016" PRIx64 "-g%" PRIu64 ".parquet",
           first, last, g);
}

static bool get_u64(json_t *o, const char *k, uint64_t *out) {
  json_t *v = json_object_get(o, k);
  if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
  *out = (uint64_t)json_integer_value(v);
  return true;
}

as_err as_manifest_load(const as_io *io, const char *dir, as_manifest *m,
                        as_error *err) {
  char path[4200];
  char *data = NULL;
  size_t len;
  json_t *root = NULL;
  as_err rc = AS_OK;
  as_manifest_init(m);
  snprintf(path, sizeof path, "%s/" MANIFEST, dir);
  int r = as_io_read_file(io, path, MAX_MANIFEST, &data, &len);
  if (r == -ENOENT) return AS_OK;
  if (r < 0)
    return as__error_set(err, as_io_err(r), 0, "", "%s: cannot read: %s", path,
                         strerror(-r));
  char *nl = memchr(data, '\n', len);
  unsigned crc;
  if (!nl || sscanf(nl + 1, "crc32c %8x", &crc) != 1 ||
      as_crc32c(0, data, (size_t)(nl - data)) != crc)
    AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "", "%s: checksum mismatch", path));
  json_error_t je;
  root = json_loadb(data, (size_t)(nl - data), 0, &je);
  json_t *files = root ? json_object_get(root, "files") : NULL;
  const char *fmt = root ? json_string_value(json_object_get(root, "format")) : NULL;
  uint64_t version = 0;
  if (!root || !fmt || strcmp(fmt, "allsource-manifest") || !get_u64(root, "version", &version) ||
      !get_u64(root, "generation", &m->generation) ||
      !get_u64(root, "sealed_through", &m->sealed_through) || !json_is_array(files))
    AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "", "%s: malformed manifest", path));
  if (version != 1)
    AS_FAIL(as__error_set(err, AS_EFORMAT, 0, "", "%s: unsupported version %" PRIu64,
                          path, version));
  uint64_t expect = 1;
  size_t i;
  json_t *f;
  json_array_foreach(files, i, f) {
    as_mfile mf;
    memset(&mf, 0, sizeof mf);
    const char *name = json_string_value(json_object_get(f, "name"));
    uint64_t created = 0;
    if (!name || strlen(name) >= sizeof mf.name || strchr(name, '/') ||
        !get_u64(f, "first_position", &mf.first) ||
        !get_u64(f, "last_position", &mf.last) || !get_u64(f, "events", &mf.events) ||
        !get_u64(f, "bytes", &mf.bytes) || !get_u64(f, "created_us", &created) ||
        mf.first != expect || mf.last < mf.first ||
        mf.events != mf.last - mf.first + 1)
      AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "",
                            "%s: file entry %zu is malformed or out of sequence",
                            path, i));
    snprintf(mf.name, sizeof mf.name, "%s", name);
    mf.created_us = (int64_t)created;
    AS_CHECK(as_manifest_add(m, &mf));
    expect = mf.last + 1;
  }
  if (expect != m->sealed_through + 1)
    AS_FAIL(as__error_set(err, AS_ECORRUPT, 0, "",
                          "%s: files end at %" PRIu64 " but sealed_through is %" PRIu64,
                          path, expect - 1, m->sealed_through));
out:
  json_decref(root);
  as_free(data);
  if (rc) as_manifest_free(m);
  return rc;
}

as_err as_manifest_save(const as_io *io, const char *dir,
                        const as_manifest *m) {
  as_buf b;
  as_buf_init(&b, MAX_MANIFEST);
  as_buf_printf(&b,
                "{\"format\":\"allsource-manifest\",\"version\":1,\"generation\":%" PRIu64
                ",\"sealed_through\":%" PRIu64 ",\"files\":[",
                m->generation, m->sealed_through);
  for (size_t i = 0; i < m->n; i++) {
    const as_mfile *f = &m->files[i];
    as_buf_printf(&b,
                  "%s{\"name\":\"%s\",\"first_position\":%" PRIu64
                  ",\"last_position\":%" PRIu64 ",\"events\":%" PRIu64
                  ",\"bytes\":%" PRIu64 ",\"created_us\":%" PRId64 "}",
                  i ? "," : "", f->name, f->first, f->last, f->events, f->bytes,
                  f->created_us);
  }
  as_buf_puts(&b, "]}");
  uint32_t crc = as_crc32c(0, b.data, b.len);
  as_buf_printf(&b, "\ncrc32c %08x\n", crc);
  as_err rc = as_buf_error(&b);
  if (!rc) rc = as_io_err(as_io_atomic_replace(io, dir, MANIFEST, b.data, b.len));
  as_buf_free(&b);
  return rc;
}
