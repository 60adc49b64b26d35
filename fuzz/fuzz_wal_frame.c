/*
 * fuzz_wal_frame.c — the WAL frame decoder (as_frame_check) and the segment
 * header decoder on arbitrary bytes.  Invariants: never reads out of
 * bounds; an accepted frame's length is 8-aligned, within the input, and
 * its view (as_frame_view) stays inside it with NUL-terminated strings; a
 * segment whose frames are walked one after another never loops.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "storage/as_wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t first, gen;
  as_wal_header_decode(data, size, &first, &gen);
  /* Frames are 8-aligned in memory as on disk: copy to aligned storage. */
  unsigned char *buf = malloc(size + 8);
  if (!buf) return 0;
  memcpy(buf, data, size);
  size_t off = 0;
  while (off < size) {
    size_t len;
    const char *why;
    if (as_frame_check(buf + off, size - off, &len, &why) != AS_FRAME_OK) {
      off += 8;
      continue;
    }
    if (len % 8 || len > size - off || len < AS_FRAME_HDR_SIZE) abort();
    as_frame *f = (as_frame *)(void *)(buf + off);
    as_event ev;
    as_frame_view(f, &ev);
    const char *lo = (const char *)f, *hi = lo + len;
    if (ev.payload < lo || ev.payload + ev.payload_len >= hi || ev.payload[ev.payload_len])
      abort();
    if (ev.entity_id[ev.entity_id_len] || ev.event_type[ev.event_type_len] ||
        ev.tenant_id[ev.tenant_id_len])
      abort();
    if (ev.metadata && (ev.metadata + ev.metadata_len >= hi || ev.metadata[ev.metadata_len]))
      abort();
    off += len;
  }
  free(buf);
  return 0;
}
