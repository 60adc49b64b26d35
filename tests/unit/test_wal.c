/* test_wal.c — WAL frames, segment headers, and recovery from torn tails and
 * corruption, on real files. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "as_test.h"
#include "core/as_crc32c.h"
#include "storage/as_wal.h"
#include "test_util.h"

static as_options quiet_opts(void) {
  as_options o;
  as_options_init(&o);
  o.log_level = AS_LOG_ERROR;
  o.seal = false; /* these tests are about the WAL alone */
  return o;
}

static const char *seg_path(const char *dir, int n, char *out, size_t cap) {
  /* n-th segment file (0-based) in name order */
  char wal[300];
  snprintf(wal, sizeof wal, "%s/wal", dir);
  struct dirent **names;
  int k = scandir(wal, &names, NULL, alphasort), seen = 0;
  out[0] = 0;
  for (int i = 0; i < k; i++) {
    if (strncmp(names[i]->d_name, "wal-", 4) == 0 && seen++ == n)
      snprintf(out, cap, "%s/%s", wal, names[i]->d_name);
    free(names[i]);
  }
  free(names);
  return out;
}

static int nsegs(const char *dir) {
  char p[1024];
  int n = 0;
  while (seg_path(dir, n, p, sizeof p)[0]) n++;
  return n;
}

/* Offsets of the frames in a segment file. */
static int frame_offsets(const char *path, long *offs, int max, long *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static unsigned char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  *size = (long)n;
  int k = 0;
  size_t off = AS_WAL_HDR_SIZE;
  while (off < n && k < max) {
    size_t len;
    const char *why;
    if (as_frame_check(buf + off, n - off, &len, &why) != AS_FRAME_OK) break;
    offs[k++] = (long)off;
    off += len;
  }
  return k;
}

static void flip_byte(const char *path, long off) {
  int fd = open(path, O_RDWR);
  unsigned char c;
  pread(fd, &c, 1, off);
  c ^= 0x5a;
  pwrite(fd, &c, 1, off);
  close(fd);
}

static void append_n(as_db *db, int n, int batch) {
  for (int i = 0; i < n; i += batch) {
    as_event_in e[8];
    char payload[8][64];
    for (int j = 0; j < batch; j++) {
      snprintf(payload[j], sizeof payload[j], "{\"i\":%d,\"pad\":\"%040d\"}", i + j, i + j);
      ev_init(&e[j], "ent", "t", payload[j]);
    }
    if (as_append(db, e, (size_t)batch, NULL, NULL)) CHECK(0);
  }
}

static as_err reopen(const char *dir, as_db **db, as_error *err) {
  as_options o = quiet_opts();
  return as_db_open(dir, &o, db, err);
}

static void setup(char *dir, size_t cap, int n, int batch, uint64_t seg_bytes) {
  make_tmpdir(dir, cap);
  as_options o = quiet_opts();
  if (seg_bytes) o.segment_bytes = seg_bytes;
  o.seal = false;
  as_db *db;
  if (as_db_open(dir, &o, &db, NULL)) return;
  append_n(db, n, batch);
  as_db_close(db);
}

AS_TEST(frame_and_header_checks) {
  unsigned char hdr[AS_WAL_HDR_SIZE];
  as_wal_header_encode(hdr, 42, 1, 7);
  uint64_t first, gen;
  CHECK_OK(as_wal_header_decode(hdr, sizeof hdr, &first, &gen));
  CHECK_EQ_INT(first, 42);
  CHECK_EQ_INT(gen, 7);
  hdr[20] ^= 1;
  CHECK_EQ_INT(as_wal_header_decode(hdr, sizeof hdr, &first, &gen), AS_ECORRUPT);
  as_wal_header_encode(hdr, 42, 1, 7);
  hdr[8] = 9; /* version 9, CRC fixed up */
  uint32_t crc = as_crc32c(0, hdr, 60);
  memcpy(hdr + 60, &crc, 4);
  CHECK_EQ_INT(as_wal_header_decode(hdr, sizeof hdr, &first, &gen), AS_EFORMAT);
  char name[64];
  as_wal_segment_name(255, name);
  CHECK_EQ_STR(name, "wal-00000000000000ff.log");
}

AS_TEST(clean_log_recovers_everything) {
  char dir[256];
  setup(dir, sizeof dir, 20, 1, 0);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 20);
  as_recovery_info ri;
  as_db_recovery_info(db, &ri);
  CHECK_EQ_INT(ri.truncated_bytes, 0);
  as_db_close(db);
  remove_tree(dir);
}

AS_TEST(torn_last_frame_is_cut) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 10, 1, 0);
  seg_path(dir, 0, p, sizeof p);
  long offs[64], size;
  REQUIRE(frame_offsets(p, offs, 64, &size) == 10);
  /* cut in the middle of the last frame */
  REQUIRE(truncate(p, offs[9] + 30) == 0);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 9);
  as_recovery_info ri;
  as_db_recovery_info(db, &ri);
  CHECK_EQ_INT(ri.truncated_bytes, 30);
  /* appends continue at position 10 and survive another reopen */
  append_n(db, 1, 1);
  CHECK_EQ_INT(as_db_committed_position(db), 10);
  as_db_close(db);
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 10);
  as_db_close(db);
  remove_tree(dir);
}

AS_TEST(zero_filled_tail_is_cut) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 5, 1, 0);
  seg_path(dir, 0, p, sizeof p);
  struct stat st;
  stat(p, &st);
  REQUIRE(truncate(p, st.st_size + 4096) == 0);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 5);
  as_db_close(db);
  stat(p, &st);
  CHECK(st.st_size < 4096);
  remove_tree(dir);
}

static long file_size(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  int rc = a && b ? 0 : -1;
  char buf[1 << 16];
  size_t n;
  while (!rc && (n = fread(buf, 1, sizeof buf, a)) > 0)
    if (fwrite(buf, 1, n, b) != n) rc = -1;
  if (a) fclose(a);
  if (b && fclose(b)) rc = -1;
  return rc;
}

/* Frames overwrite zeros written ahead of them: a live segment is longer
 * than its frames, a crash leaves that zero tail, and recovery treats it as
 * the clean end (nothing truncated, nothing lost), then cuts it. */
AS_TEST(preallocated_tail_is_a_clean_end_after_a_crash) {
  char dir[256], p[1024], snap[1100];
  make_tmpdir(dir, sizeof dir);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  append_n(db, 12, 1);
  seg_path(dir, 0, p, sizeof p);
  long offs[64], size;
  REQUIRE(frame_offsets(p, offs, 64, &size) == 12);
  long frames_end = offs[11] + (offs[11] - offs[10]);
  CHECK(file_size(p) > frames_end); /* the zero tail, while open */
  /* what a kill -9 now would leave on disk */
  snprintf(snap, sizeof snap, "%s.crash", p);
  REQUIRE(copy_file(p, snap) == 0);
  as_db_close(db);
  CHECK_EQ_INT(file_size(p), frames_end); /* a clean close cuts it */
  REQUIRE(rename(snap, p) == 0);
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 12);
  as_recovery_info ri;
  as_db_recovery_info(db, &ri);
  CHECK_EQ_INT(ri.truncated_bytes, 0);
  CHECK_EQ_INT(file_size(p), frames_end);
  append_n(db, 3, 1);
  as_db_close(db);
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 15);
  as_db_close(db);
  remove_tree(dir);
}

/* Rotation cuts the zero tail: closed segments end with their last frame;
 * a zero tail left on an older segment (a crash between the cut and its
 * sync) is still a clean end, not corruption. */
AS_TEST(closed_segments_end_with_their_last_frame) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 60, 1, 4096);
  REQUIRE(nsegs(dir) >= 3);
  for (int i = 0; i + 1 < nsegs(dir); i++) {
    seg_path(dir, i, p, sizeof p);
    long offs[64], size;
    int n = frame_offsets(p, offs, 64, &size);
    REQUIRE(n > 1);
    CHECK_EQ_INT(size, offs[n - 1] + (offs[n - 1] - offs[n - 2]));
  }
  seg_path(dir, 0, p, sizeof p);
  REQUIRE(truncate(p, file_size(p) + 8192) == 0);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 60);
  as_db_close(db);
  remove_tree(dir);
}

AS_TEST(corruption_in_last_frame_is_a_torn_tail) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 10, 1, 0);
  seg_path(dir, 0, p, sizeof p);
  long offs[64], size;
  REQUIRE(frame_offsets(p, offs, 64, &size) == 10);
  flip_byte(p, offs[9] + 80);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 9);
  as_db_close(db);
  remove_tree(dir);
}

AS_TEST(corruption_before_a_synced_window_refuses_to_open) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 10, 1, 0);
  seg_path(dir, 0, p, sizeof p);
  long offs[64], size;
  REQUIRE(frame_offsets(p, offs, 64, &size) == 10);
  flip_byte(p, offs[4] + 80);
  as_db *db = NULL;
  as_error err;
  CHECK_EQ_INT(reopen(dir, &db, &err), AS_ECORRUPT);
  CHECK(db == NULL);
  char want[64];
  snprintf(want, sizeof want, "offset %ld", offs[4]);
  CHECK(strstr(err.message, want) != NULL);
  CHECK(strstr(err.message, "wal-0000000000000001.log") != NULL);
  /* nothing was modified: still refuses */
  CHECK_EQ_INT(reopen(dir, &db, &err), AS_ECORRUPT);
  remove_tree(dir);
}

AS_TEST(torn_batch_is_dropped_whole) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 12, 3, 0); /* 4 batches of 3 */
  seg_path(dir, 0, p, sizeof p);
  long offs[64], size;
  REQUIRE(frame_offsets(p, offs, 64, &size) == 12);
  /* damage the middle frame of the last batch */
  flip_byte(p, offs[10] + 90);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 9);
  as_recovery_info ri;
  as_db_recovery_info(db, &ri);
  CHECK_EQ_INT(ri.truncated_bytes, size - offs[9]);
  as_db_close(db);
  remove_tree(dir);
}

AS_TEST(corruption_in_an_older_segment_refuses_to_open) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 60, 1, 4096);
  REQUIRE(nsegs(dir) >= 3);
  seg_path(dir, 0, p, sizeof p);
  long offs[64], size;
  int n = frame_offsets(p, offs, 64, &size);
  REQUIRE(n > 2);
  /* even the last frame of a non-last segment is corruption */
  flip_byte(p, offs[n - 1] + 80);
  as_db *db = NULL;
  as_error err;
  CHECK_EQ_INT(reopen(dir, &db, &err), AS_ECORRUPT);
  CHECK(strstr(err.message, "checksum") != NULL);
  remove_tree(dir);
}

AS_TEST(missing_middle_segment_is_detected) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 60, 1, 4096);
  REQUIRE(nsegs(dir) >= 3);
  seg_path(dir, 1, p, sizeof p);
  REQUIRE(unlink(p) == 0);
  as_db *db = NULL;
  as_error err;
  CHECK_EQ_INT(reopen(dir, &db, &err), AS_ECORRUPT);
  CHECK(strstr(err.message, "expected") != NULL);
  remove_tree(dir);
}

AS_TEST(half_created_last_segment_is_removed) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 20, 1, 4096);
  int before = nsegs(dir);
  /* a new segment whose header never reached the disk */
  char path[600];
  snprintf(path, sizeof path, "%s/wal/wal-00000000000000ff.log", dir);
  int fd = open(path, O_CREAT | O_WRONLY, 0644);
  write(fd, "ALLS", 4);
  close(fd);
  as_db *db;
  REQUIRE(reopen(dir, &db, NULL) == AS_OK);
  CHECK_EQ_INT(as_db_committed_position(db), 20);
  as_db_close(db);
  CHECK_EQ_INT(nsegs(dir), before);
  (void)p;
  remove_tree(dir);
}

AS_TEST(unknown_segment_version_refuses_to_open) {
  char dir[256], p[1024];
  setup(dir, sizeof dir, 3, 1, 0);
  seg_path(dir, 0, p, sizeof p);
  unsigned char hdr[AS_WAL_HDR_SIZE];
  as_wal_header_encode(hdr, 1, 0, 0);
  hdr[8] = 2;
  uint32_t crc = as_crc32c(0, hdr, 60);
  memcpy(hdr + 60, &crc, 4);
  int fd = open(p, O_WRONLY);
  pwrite(fd, hdr, sizeof hdr, 0);
  close(fd);
  as_db *db = NULL;
  as_error err;
  CHECK_EQ_INT(reopen(dir, &db, &err), AS_EFORMAT);
  remove_tree(dir);
}

AS_TEST_MAIN()
