/*
 * ws_bench.c — streaming benchmark for a running allsourced (it starts
 * nothing itself): WebSocket /api/v1/events/stream and NDJSON
 * /api/v1/events/subscribe.  Raw sockets; the small WebSocket client
 * (handshake, unmasked server frames, masked client frames) is written here.
 *
 * Rows:
 *   a  catch-up over one WebSocket: from_position=1 up to the committed
 *      position P at the start (N pre-loaded events), events/s and MB/s
 *   b  the same over one NDJSON /subscribe stream
 *   c  live fan-out: S = 1, 10, 100 WebSocket subscribers (new events only)
 *      while loader threads ingest batches as fast as they can for --seconds;
 *      delivered events/s summed over subscribers (until every subscriber has
 *      the last loaded event), plus the ingest rate
 *   d  latency at a target rate (--rate, default 10,000 events/s) with
 *      --latency-subs (10) subscribers: each posted event carries
 *      CLOCK_MONOTONIC at send time in its payload ("t") and its batch number
 *      ("b"); the receiver records its arrival.  Reported: p50/p99 of
 *      send -> delivered and of append acknowledged (HTTP response of the
 *      batch read) -> delivered (negative when delivery beats the HTTP
 *      response).
 *
 * Usage:
 *   allsource-ws-bench --url 127.0.0.1:8080 [--events 1000000] [--only abcd]
 *       [--subs 1,10,100] [--seconds 5] [--rate 10000] [--latency-batch 10]
 *       [--latency-subs 10] [--latency-seconds 10] [--loaders 2]
 *       [--load-batch 1000] [--pad 64] [--tsv]
 *
 * Pre-loading: if the store holds fewer than --events events, batches of
 * --load-batch events are posted until it does (POST /api/v1/events/batch).
 * Rows c and d append more events to the same store.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* --- Options ------------------------------------------------------------ */

static char g_host[256] = "127.0.0.1";
static int g_port = 8080;
static uint64_t g_events = 1000000;
static const char *g_only = "abcd";
static int g_subs[8] = {1, 10, 100};
static int g_nsubs = 3;
static double g_seconds = 5;
static double g_rate = 10000;
static int g_lat_batch = 10;
static int g_lat_subs = 10;
static double g_lat_seconds = 10;
static int g_loaders = 2;
static int g_load_batch = 1000;
static int g_pad = 64;
static bool g_tsv = false;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#include <stdarg.h>
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "allsource-ws-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

/* A whole decimal integer in [lo, hi], or die naming `what`. */
static int int_arg(const char *v, long lo, long hi, const char *what) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) die("%s: want an integer %ld..%ld, got '%s'", what, lo, hi, v);
  return (int)n;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- Sockets and HTTP ----------------------------------------------------- */

static int tcp_connect(void) {
  struct addrinfo hints = {0}, *res;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char port[16];
  snprintf(port, sizeof port, "%d", g_port);
  int rc = getaddrinfo(g_host, port, &hints, &res);
  if (rc) die("cannot resolve %s: %s", g_host, gai_strerror(rc));
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0)
    die("cannot connect to %s:%d: %s", g_host, g_port, strerror(errno));
  freeaddrinfo(res);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("send: %s", strerror(errno));
    c += w;
    n -= (size_t)w;
  }
}

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void buf_reserve(buf *b, size_t extra) {
  if (b->len + extra + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + extra + 1) cap *= 2;
  b->p = realloc(b->p, cap);
  if (!b->p) die("out of memory");
  b->cap = cap;
}

static void buf_add(buf *b, const void *p, size_t n) {
  buf_reserve(b, n);
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  buf_reserve(b, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Reads one HTTP response (Content-Length or chunked) from a keep-alive
 * connection into body; returns the status. */
static int http_read_response(int fd, buf *body) {
  buf in = {0};
  size_t hdr_end = 0;
  for (;;) {
    buf_reserve(&in, 65536);
    ssize_t r = recv(fd, in.p + in.len, in.cap - in.len - 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) die("connection closed while reading a response");
    in.len += (size_t)r;
    in.p[in.len] = 0;
    char *e = strstr(in.p, "\r\n\r\n");
    if (e) {
      hdr_end = (size_t)(e - in.p) + 4;
      break;
    }
  }
  int status = (int)strtol(in.p + 9, NULL, 10); /* "HTTP/1.1 NNN" */
  long clen = -1;
  bool chunked = false;
  for (char *h = strstr(in.p, "\r\n") + 2; h < in.p + hdr_end - 2; h = strstr(h, "\r\n") + 2) {
    if (!strncasecmp(h, "Content-Length:", 15)) clen = atol(h + 15);
    if (!strncasecmp(h, "Transfer-Encoding:", 18) && strstr(h, "chunked") &&
        strstr(h, "chunked") < strstr(h, "\r\n"))
      chunked = true;
  }
  body->len = 0;
  size_t pos = hdr_end;
  if (!chunked) {
    if (clen < 0) die("response without length");
    while (in.len - pos < (size_t)clen) {
      buf_reserve(&in, 65536);
      ssize_t r = recv(fd, in.p + in.len, in.cap - in.len - 1, 0);
      if (r <= 0) die("connection closed inside a response body");
      in.len += (size_t)r;
    }
    buf_add(body, in.p + pos, (size_t)clen);
  } else {
    for (;;) {
      char *crlf;
      while (!(crlf = memmem(in.p + pos, in.len - pos, "\r\n", 2))) {
        buf_reserve(&in, 65536);
        ssize_t r = recv(fd, in.p + in.len, in.cap - in.len - 1, 0);
        if (r <= 0) die("connection closed inside a chunk");
        in.len += (size_t)r;
      }
      size_t n = strtoul(in.p + pos, NULL, 16);
      pos = (size_t)(crlf - in.p) + 2;
      while (in.len - pos < n + 2) {
        buf_reserve(&in, 65536);
        ssize_t r = recv(fd, in.p + in.len, in.cap - in.len - 1, 0);
        if (r <= 0) die("connection closed inside a chunk");
        in.len += (size_t)r;
      }
      if (n == 0) break;
      buf_add(body, in.p + pos, n);
      pos += n + 2;
    }
  }
  free(in.p);
  return status;
}

static int http(int fd, const char *method, const char *path, const char *body,
                size_t blen, buf *resp) {
  char head[512];
  int n = snprintf(head, sizeof head,
                   "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\n\r\n",
                   method, path, g_host, blen);
  write_all(fd, head, (size_t)n);
  if (blen) write_all(fd, body, blen);
  return http_read_response(fd, resp);
}

static uint64_t json_u64(const char *s, const char *key) {
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *p = strstr(s, k);
  return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

static uint64_t committed_position(char *durability, size_t dlen) {
  int fd = tcp_connect();
  buf r = {0};
  int st = http(fd, "GET", "/api/v1/stats", NULL, 0, &r);
  if (st != 200) die("GET /api/v1/stats: %d", st);
  uint64_t p = json_u64(r.p, "last_position");
  if (durability) {
    const char *d = strstr(r.p, "\"durability\":\"");
    snprintf(durability, dlen, "%s", d ? d + 14 : "?");
    char *q = strchr(durability, '"');
    if (q) *q = 0;
  }
  free(r.p);
  close(fd);
  return p;
}

/* A batch body of n events; payload {"b":batch,"t":ns,"seq":k,"pad":"..."}. */
static void make_batch(buf *b, int n, uint64_t batch_no, int64_t t, uint64_t seq0) {
  b->len = 0;
  buf_add(b, "[", 1);
  for (int i = 0; i < n; i++) {
    buf_printf(b,
               "%s{\"entity_id\":\"bench-%" PRIu64 "\",\"event_type\":\"bench.event\","
               "\"payload\":{\"b\":%" PRIu64 ",\"t\":%" PRId64 ",\"seq\":%" PRIu64 ",\"pad\":\"",
               i ? "," : "", (seq0 + (uint64_t)i) % 1000, batch_no, t, seq0 + (uint64_t)i);
    buf_reserve(b, (size_t)g_pad + 8);
    memset(b->p + b->len, 'x', (size_t)g_pad);
    b->len += (size_t)g_pad;
    buf_add(b, "\"}}", 3);
  }
  buf_add(b, "]", 1);
}

static void post_batch(int fd, buf *body, buf *resp) {
  int st = http(fd, "POST", "/api/v1/events/batch", body->p, body->len, resp);
  if (st != 200) die("POST /api/v1/events/batch: %d %.200s", st, resp->p);
}

/* --- WebSocket client --------------------------------------------------------- */

typedef struct sample {
  int64_t t_send, t_recv;
  uint32_t batch;
} sample;

typedef struct ws {
  int fd;
  uint8_t *in;
  size_t len, off, cap;
  uint64_t frames, bytes, last_pos, errors;
  bool closed;
  /* latency samples (row d) */
  sample *s;
  size_t ns, caps;
  bool record;
} ws;

static void ws_send_frame(int fd, int opcode, const void *data, size_t len) {
  uint8_t h[14 + 125];
  if (len > 125) len = 125;
  h[0] = (uint8_t)(0x80 | opcode);
  h[1] = (uint8_t)(0x80 | len);
  uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
  memcpy(h + 2, mask, 4);
  for (size_t i = 0; i < len; i++) h[6 + i] = ((const uint8_t *)data)[i] ^ mask[i & 3];
  write_all(fd, h, 6 + len);
}

static void ws_open(ws *w, const char *query) {
  memset(w, 0, sizeof *w);
  w->fd = tcp_connect();
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "GET /api/v1/events/stream%s%s HTTP/1.1\r\nHost: %s\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   query && *query ? "?" : "", query ? query : "", g_host);
  write_all(w->fd, req, (size_t)n);
  w->cap = 1 << 20;
  w->in = malloc(w->cap);
  if (!w->in) die("out of memory");
  for (;;) {
    ssize_t r = recv(w->fd, w->in + w->len, w->cap - w->len - 1, 0);
    if (r <= 0) die("WebSocket handshake: connection closed");
    w->len += (size_t)r;
    w->in[w->len] = 0;
    char *e = memmem(w->in, w->len, "\r\n\r\n", 4);
    if (!e) continue;
    if (strncmp((char *)w->in, "HTTP/1.1 101", 12) != 0)
      die("WebSocket handshake refused: %.200s", (char *)w->in);
    if (!strstr((char *)w->in, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
      die("WebSocket handshake: bad Sec-WebSocket-Accept");
    size_t hl = (size_t)(e - (char *)w->in) + 4;
    memmove(w->in, w->in + hl, w->len - hl);
    w->len -= hl;
    break;
  }
}

/* The position at the end of an event's JSON ("...,"position":N}"). */
static uint64_t tail_position(const uint8_t *p, size_t n) {
  size_t i = n;
  while (i > 0 && (p[i - 1] < '0' || p[i - 1] > '9')) i--;
  size_t end = i;
  while (i > 0 && p[i - 1] >= '0' && p[i - 1] <= '9') i--;
  uint64_t v = 0;
  for (size_t k = i; k < end; k++) v = v * 10 + (uint64_t)(p[k] - '0');
  return v;
}

static int64_t payload_i64(const uint8_t *p, size_t n, const char *key) {
  const uint8_t *q = memmem(p, n, key, strlen(key));
  if (!q) return -1;
  return strtoll((const char *)q + strlen(key), NULL, 10);
}

/* Parses the complete frames in w->in. */
static void ws_parse(ws *w) {
  int64_t t = 0;
  while (w->len - w->off >= 2) {
    uint8_t *p = w->in + w->off;
    size_t avail = w->len - w->off;
    int op = p[0] & 0x0f;
    uint64_t plen = p[1] & 0x7f;
    size_t hl = 2;
    if (p[1] & 0x80) die("masked frame from the server");
    if (plen == 126) {
      if (avail < 4) break;
      plen = (uint64_t)p[2] << 8 | p[3];
      hl = 4;
    } else if (plen == 127) {
      if (avail < 10) break;
      plen = 0;
      for (int i = 0; i < 8; i++) plen = plen << 8 | p[2 + i];
      hl = 10;
    }
    if (avail < hl + plen) {
      if (hl + plen > w->cap) {
        w->cap = (hl + plen) * 2;
        w->in = realloc(w->in, w->cap);
        if (!w->in) die("out of memory");
      }
      break;
    }
    const uint8_t *d = p + hl;
    if (op == 1) {
      uint64_t pos = tail_position(d, plen);
      if (w->last_pos && pos != w->last_pos + 1) w->errors++;
      w->last_pos = pos;
      w->frames++;
      w->bytes += plen;
      if (w->record) {
        if (!t) t = now_ns();
        int64_t ts = payload_i64(d, plen, "\"t\":");
        int64_t b = payload_i64(d, plen, "\"b\":");
        if (ts > 0 && b >= 0) {
          if (w->ns == w->caps) {
            w->caps = w->caps ? w->caps * 2 : 65536;
            w->s = realloc(w->s, w->caps * sizeof *w->s);
            if (!w->s) die("out of memory");
          }
          w->s[w->ns++] = (sample){ts, t, (uint32_t)b};
        }
      }
    } else if (op == 8) {
      w->closed = true;
    } else if (op == 9) {
      ws_send_frame(w->fd, 10, d, plen);
    }
    w->off += hl + plen;
  }
  if (w->off == w->len) {
    w->off = w->len = 0;
  } else if (w->off > w->cap / 2) {
    memmove(w->in, w->in + w->off, w->len - w->off);
    w->len -= w->off;
    w->off = 0;
  }
}

/* Reads what is available (blocking unless nonblock), then parses. */
static bool ws_read(ws *w) {
  if (w->cap - w->len < 65536) {
    if (w->off) {
      memmove(w->in, w->in + w->off, w->len - w->off);
      w->len -= w->off;
      w->off = 0;
    }
    if (w->cap - w->len < 65536) {
      w->cap *= 2;
      w->in = realloc(w->in, w->cap);
      if (!w->in) die("out of memory");
    }
  }
  ssize_t r = recv(w->fd, w->in + w->len, w->cap - w->len, 0);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (r <= 0) {
    w->closed = true;
    return false;
  }
  w->len += (size_t)r;
  ws_parse(w);
  return !w->closed;
}

static void ws_close(ws *w) {
  close(w->fd);
  free(w->in);
  free(w->s);
  memset(w, 0, sizeof *w);
}

/* --- Results ---------------------------------------------------------------- */

static void row(const char *name, uint64_t events, double secs, double rate, double mbs,
                const char *notes) {
  if (g_tsv)
    printf("%s\t%" PRIu64 "\t%.3f\t%.0f\t%.1f\t%s\n", name, events, secs, rate, mbs, notes);
  else
    printf("%-34s %10" PRIu64 " %9.3f %12.0f %8.1f  %s\n", name, events, secs, rate, mbs,
           notes);
  fflush(stdout);
}

/* --- Pre-loading ------------------------------------------------------------- */

static void preload(uint64_t target) {
  uint64_t have = committed_position(NULL, 0);
  if (have >= target) return;
  int fd = tcp_connect();
  buf body = {0}, resp = {0};
  int64_t t0 = now_ns();
  uint64_t n0 = have, bno = 0;
  while (have < target) {
    int n = (int)(target - have < (uint64_t)g_load_batch ? target - have : (uint64_t)g_load_batch);
    make_batch(&body, n, bno++, 0, have);
    post_batch(fd, &body, &resp);
    have = json_u64(resp.p, "last_position");
  }
  double s = (double)(now_ns() - t0) / 1e9;
  char notes[128];
  snprintf(notes, sizeof notes, "batches of %d, one connection", g_load_batch);
  row("preload (batch POST)", have - n0, s, (double)(have - n0) / s, 0, notes);
  free(body.p);
  free(resp.p);
  close(fd);
}

/* --- Row a: WebSocket catch-up --------------------------------------------- */

static void row_a(uint64_t P) {
  ws w;
  int64_t t0 = now_ns();
  ws_open(&w, "from_position=1");
  while (w.last_pos < P && ws_read(&w)) {
  }
  double s = (double)(now_ns() - t0) / 1e9;
  char notes[160];
  snprintf(notes, sizeof notes, "from_position=1 to %" PRIu64 "; order errors %" PRIu64 "%s",
           P, w.errors, w.last_pos < P ? "; CLOSED EARLY" : "");
  row("a ws catch-up, 1 stream", w.frames, s, (double)w.frames / s, (double)w.bytes / s / 1e6,
      notes);
  ws_close(&w);
}

/* --- Row b: NDJSON catch-up ------------------------------------------------ */

static void row_b(uint64_t P) {
  int fd = tcp_connect();
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET /api/v1/events/subscribe?from_position=1&heartbeat_ms=300000 "
                   "HTTP/1.1\r\nHost: %s\r\n\r\n",
                   g_host);
  int64_t t0 = now_ns();
  write_all(fd, req, (size_t)n);
  size_t cap = 1 << 20;
  char *in = malloc(cap);
  size_t len = 0;
  bool headers = true;
  enum { SIZE, DATA, CRLF } st = SIZE;
  uint64_t chunk = 0, lines = 0, bytes = 0, beats = 0;
  bool at_line_start = true;
  char sizebuf[32];
  size_t sl = 0;
  while (lines - beats < P) {
    ssize_t r = recv(fd, in, cap, 0);
    if (r <= 0) break;
    len = (size_t)r;
    size_t i = 0;
    if (headers) {
      /* the header block arrives first and is small */
      char *e = memmem(in, len, "\r\n\r\n", 4);
      if (!e) die("NDJSON: headers split across reads");
      if (strncmp(in, "HTTP/1.1 200", 12)) die("NDJSON: %.100s", in);
      i = (size_t)(e - in) + 4;
      headers = false;
    }
    while (i < len) {
      if (st == SIZE) {
        char c = in[i++];
        if (c == '\n') {
          sizebuf[sl] = 0;
          chunk = strtoull(sizebuf, NULL, 16);
          sl = 0;
          st = chunk ? DATA : CRLF;
          if (!chunk) goto done;
        } else if (c != '\r' && sl < sizeof sizebuf - 1) {
          sizebuf[sl++] = c;
        }
      } else if (st == DATA) {
        size_t take = len - i < chunk ? len - i : (size_t)chunk;
        const char *p = in + i, *end = p + take;
        if (at_line_start && take >= 12 && !memcmp(p, "{\"heartbeat\"", 12)) beats++;
        if (take) at_line_start = end[-1] == '\n';
        while ((p = memchr(p, '\n', (size_t)(end - p)))) {
          lines++;
          p++;
          /* heartbeat lines are not events (a line split across reads
           * is missed here; they come only when the stream is idle) */
          if (end - p >= 13 && !memcmp(p, "{\"heartbeat\"", 12)) beats++;
        }
        bytes += take;
        i += take;
        chunk -= take;
        if (!chunk) st = CRLF;
      } else {
        if (in[i++] == '\n') st = SIZE;
      }
    }
  }
done:;
  double s = (double)(now_ns() - t0) / 1e9;
  char notes[128];
  lines -= beats;
  snprintf(notes, sizeof notes, "from_position=1 to %" PRIu64 "%s", P,
           lines < P ? "; ENDED EARLY" : "");
  row("b ndjson catch-up, 1 stream", lines, s, (double)lines / s, (double)bytes / s / 1e6,
      notes);
  free(in);
  close(fd);
}

/* --- Loaders ----------------------------------------------------------------- */

typedef struct loader {
  pthread_t th;
  int id;
  double rate;      /* events/s for this loader; 0 = as fast as possible */
  int batch;
  int64_t until_ns;
  uint64_t events, batches;
  uint64_t last_pos;
  int64_t *ack;     /* ack time per batch number (row d) */
  size_t ack_cap;
  uint32_t bno0, bstride;
} loader;

static void *loader_main(void *arg) {
  loader *l = arg;
  int fd = tcp_connect();
  buf body = {0}, resp = {0};
  int64_t t0 = now_ns(), next = t0;
  uint32_t bno = l->bno0;
  while (now_ns() < l->until_ns) {
    if (l->rate > 0) {
      int64_t t = now_ns();
      if (t < next) {
        struct timespec ts = {0, next - t};
        nanosleep(&ts, NULL);
      }
      next += (int64_t)(1e9 * l->batch / l->rate);
    }
    make_batch(&body, l->batch, bno, now_ns(), l->events);
    post_batch(fd, &body, &resp);
    int64_t ta = now_ns();
    if (l->ack && bno < l->ack_cap) l->ack[bno] = ta;
    bno += l->bstride;
    l->events += (uint64_t)l->batch;
    l->batches++;
    uint64_t lp = json_u64(resp.p, "last_position");
    if (lp > l->last_pos) l->last_pos = lp;
  }
  free(body.p);
  free(resp.p);
  close(fd);
  return NULL;
}

/* --- Receivers: epoll threads over subsets of the subscribers ------------ */

typedef struct recv_group {
  pthread_t th;
  ws *subs;
  int n;
  _Atomic bool stop;
} recv_group;

static void *recv_main(void *arg) {
  recv_group *g = arg;
  int ep = epoll_create1(0);
  for (int i = 0; i < g->n; i++) {
    struct epoll_event e = {EPOLLIN, {.ptr = &g->subs[i]}};
    epoll_ctl(ep, EPOLL_CTL_ADD, g->subs[i].fd, &e);
  }
  struct epoll_event evs[128];
  while (!atomic_load(&g->stop)) {
    int n = epoll_wait(ep, evs, 128, 50);
    for (int i = 0; i < n; i++) {
      ws *w = evs[i].data.ptr;
      if (!ws_read(w)) epoll_ctl(ep, EPOLL_CTL_DEL, w->fd, NULL);
    }
  }
  close(ep);
  return NULL;
}

/* Runs loaders for `secs` while S subscribers read; returns when every
 * subscriber has the last loaded event (or after a 120 s drain). */
typedef struct live_result {
  double load_secs, total_secs;
  uint64_t loaded, delivered, errors, lagging;
} live_result;

static void live_run(ws *subs, int S, int nloaders, double rate, int batch, double secs,
                     int64_t *ack, size_t ack_cap, live_result *out) {
  int ngroups = S < 2 ? 1 : 2;
  recv_group groups[2];
  for (int g = 0; g < ngroups; g++) {
    groups[g].subs = subs + g * (S / ngroups);
    groups[g].n = g == ngroups - 1 ? S - g * (S / ngroups) : S / ngroups;
    atomic_init(&groups[g].stop, false);
    pthread_create(&groups[g].th, NULL, recv_main, &groups[g]);
  }
  loader L[16];
  int64_t t0 = now_ns();
  for (int i = 0; i < nloaders; i++) {
    memset(&L[i], 0, sizeof L[i]);
    L[i].id = i;
    L[i].rate = rate > 0 ? rate / nloaders : 0;
    L[i].batch = batch;
    L[i].until_ns = t0 + (int64_t)(secs * 1e9);
    L[i].ack = ack;
    L[i].ack_cap = ack_cap;
    L[i].bno0 = (uint32_t)i;
    L[i].bstride = (uint32_t)nloaders;
    pthread_create(&L[i].th, NULL, loader_main, &L[i]);
  }
  uint64_t last = 0;
  out->loaded = 0;
  for (int i = 0; i < nloaders; i++) {
    pthread_join(L[i].th, NULL);
    out->loaded += L[i].events;
    if (L[i].last_pos > last) last = L[i].last_pos;
  }
  int64_t t1 = now_ns();
  for (;;) {
    uint64_t lag = 0;
    for (int i = 0; i < S; i++)
      if (subs[i].last_pos < last && !subs[i].closed) lag++;
    out->lagging = lag;
    if (!lag || now_ns() - t1 > (int64_t)120e9) break;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  int64_t t2 = now_ns();
  for (int g = 0; g < ngroups; g++) {
    atomic_store(&groups[g].stop, true);
    pthread_join(groups[g].th, NULL);
  }
  out->load_secs = (double)(t1 - t0) / 1e9;
  out->total_secs = (double)(t2 - t0) / 1e9;
  out->delivered = out->errors = 0;
  for (int i = 0; i < S; i++) {
    out->delivered += subs[i].frames;
    out->errors += subs[i].errors;
    if (subs[i].closed) out->errors++;
  }
}

static ws *open_subs(int S, const char *query) {
  ws *subs = calloc((size_t)S, sizeof *subs);
  for (int i = 0; i < S; i++) ws_open(&subs[i], query);
  /* give the hub a moment to adopt them (their cursors start at accept) */
  struct timespec ts = {0, 200000000};
  nanosleep(&ts, NULL);
  return subs;
}

static void row_c(int S) {
  ws *subs = open_subs(S, NULL);
  live_result r;
  live_run(subs, S, g_loaders, 0, g_load_batch, g_seconds, NULL, 0, &r);
  char name[64], notes[256];
  snprintf(name, sizeof name, "c live fan-out, %d sub%s", S, S > 1 ? "s" : "");
  uint64_t bytes = 0;
  for (int i = 0; i < S; i++) bytes += subs[i].bytes;
  snprintf(notes, sizeof notes,
           "ingest %.0f ev/s (%" PRIu64 " in %.1f s, %d loaders x %d/batch); per sub %.0f ev/s;"
           " drain %.2f s; errors %" PRIu64 "%s",
           (double)r.loaded / r.load_secs, r.loaded, r.load_secs, g_loaders, g_load_batch,
           (double)r.delivered / S / r.total_secs, r.total_secs - r.load_secs, r.errors,
           r.lagging ? "; SOME SUBSCRIBERS NEVER CAUGHT UP" : "");
  row(name, r.delivered, r.total_secs, (double)r.delivered / r.total_secs,
      (double)bytes / r.total_secs / 1e6, notes);
  for (int i = 0; i < S; i++) ws_close(&subs[i]);
  free(subs);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double pct(const int64_t *v, size_t n, double p) {
  if (!n) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return (double)v[i] / 1e6; /* ms */
}

static void row_d(void) {
  int S = g_lat_subs;
  ws *subs = open_subs(S, NULL);
  for (int i = 0; i < S; i++) subs[i].record = true;
  size_t ack_cap = (size_t)(g_rate / g_lat_batch * g_lat_seconds * 2) + 1024;
  int64_t *ack = calloc(ack_cap, sizeof *ack);
  int nl = g_rate / g_lat_batch > 500 ? 4 : 2;
  live_result r;
  live_run(subs, S, nl, g_rate, g_lat_batch, g_lat_seconds, ack, ack_cap, &r);
  size_t n = 0;
  for (int i = 0; i < S; i++) n += subs[i].ns;
  int64_t *e2e = malloc((n + 1) * sizeof *e2e), *a2d = malloc((n + 1) * sizeof *a2d);
  size_t k = 0, ka = 0;
  for (int i = 0; i < S; i++)
    for (size_t j = 0; j < subs[i].ns; j++) {
      sample *s = &subs[i].s[j];
      e2e[k++] = s->t_recv - s->t_send;
      if (s->batch < ack_cap && ack[s->batch]) a2d[ka++] = s->t_recv - ack[s->batch];
    }
  qsort(e2e, k, sizeof *e2e, cmp_i64);
  qsort(a2d, ka, sizeof *a2d, cmp_i64);
  char name[64], notes[400];
  snprintf(name, sizeof name, "d latency @%.0f ev/s, %d subs", g_rate, S);
  snprintf(notes, sizeof notes,
           "send->delivered p50 %.3f ms p99 %.3f ms max %.3f ms; ack->delivered p50 %.3f ms "
           "p99 %.3f ms; achieved %.0f ev/s, batch %d; errors %" PRIu64,
           pct(e2e, k, 0.5), pct(e2e, k, 0.99), k ? (double)e2e[k - 1] / 1e6 : 0,
           pct(a2d, ka, 0.5), pct(a2d, ka, 0.99), (double)r.loaded / r.load_secs, g_lat_batch,
           r.errors);
  row(name, r.delivered, r.total_secs, (double)r.delivered / r.total_secs, 0, notes);
  if (g_tsv) {
    printf("d_p50_ms\t%.3f\nd_p99_ms\t%.3f\nd_ack_p50_ms\t%.3f\nd_ack_p99_ms\t%.3f\n",
           pct(e2e, k, 0.5), pct(e2e, k, 0.99), pct(a2d, ka, 0.5), pct(a2d, ka, 0.99));
  }
  free(e2e);
  free(a2d);
  free(ack);
  for (int i = 0; i < S; i++) ws_close(&subs[i]);
  free(subs);
}

/* --- Main ------------------------------------------------------------------ */

static void usage(FILE *f) {
  fprintf(f,
          "usage: allsource-ws-bench --url HOST:PORT [--events N] [--only abcd] "
          "[--subs 1,10,100]\n"
          "       [--seconds S] [--rate R] [--latency-batch B] [--latency-subs S]\n"
          "       [--latency-seconds S] [--loaders N] [--load-batch N] [--pad BYTES] "
          "[--tsv]\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"url", required_argument, 0, 'u'},          {"events", required_argument, 0, 'n'},
      {"only", required_argument, 0, 'o'},         {"subs", required_argument, 0, 's'},
      {"seconds", required_argument, 0, 'S'},      {"rate", required_argument, 0, 'r'},
      {"latency-batch", required_argument, 0, 'B'}, {"latency-subs", required_argument, 0, 'L'},
      {"latency-seconds", required_argument, 0, 'T'}, {"loaders", required_argument, 0, 'l'},
      {"load-batch", required_argument, 0, 'b'},   {"pad", required_argument, 0, 'p'},
      {"tsv", no_argument, 0, 't'},                {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'u': {
        const char *u = optarg;
        if (!strncmp(u, "http://", 7)) u += 7;
        if (!strncmp(u, "ws://", 5)) u += 5;
        const char *colon = strrchr(u, ':');
        if (!colon) die("--url wants HOST:PORT");
        snprintf(g_host, sizeof g_host, "%.*s", (int)(colon - u), u);
        g_port = int_arg(colon + 1, 1, 65535, "--url port");
        break;
      }
      case 'n': g_events = strtoull(optarg, NULL, 10); break;
      case 'o': g_only = optarg; break;
      case 's': {
        g_nsubs = 0;
        char *tmp = strdup(optarg), *save, *tok;
        for (tok = strtok_r(tmp, ",", &save); tok && g_nsubs < 8; tok = strtok_r(NULL, ",", &save))
          g_subs[g_nsubs++] = int_arg(tok, 1, 100000, "--subs");
        free(tmp);
        break;
      }
      case 'S': g_seconds = atof(optarg); break;
      case 'r': g_rate = atof(optarg); break;
      case 'B': g_lat_batch = int_arg(optarg, 1, 100000, "--latency-batch"); break;
      case 'L': g_lat_subs = int_arg(optarg, 0, 100000, "--latency-subs"); break;
      case 'T': g_lat_seconds = atof(optarg); break;
      case 'l': g_loaders = int_arg(optarg, 1, 16, "--loaders"); break;
      case 'b': g_load_batch = int_arg(optarg, 1, 100000, "--load-batch"); break;
      case 'p': g_pad = int_arg(optarg, 0, 1 << 20, "--pad"); break;
      case 't': g_tsv = true; break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (g_load_batch < 1 || g_lat_batch < 1 || g_pad < 0) die("bad batch or pad size");
  char dur[64];
  uint64_t start = committed_position(dur, sizeof dur);
  if (g_tsv)
    printf("row\tevents\tseconds\tevents_per_s\tMB_per_s\tnotes\n");
  else
    printf("allsource-ws-bench against %s:%d (durability %s, %" PRIu64
           " events at start)\n%-34s %10s %9s %12s %8s  %s\n",
           g_host, g_port, dur, start, "row", "events", "seconds", "events/s", "MB/s", "notes");
  if (strchr(g_only, 'a') || strchr(g_only, 'b')) {
    preload(g_events);
    uint64_t P = committed_position(NULL, 0);
    if (strchr(g_only, 'a')) row_a(P);
    if (strchr(g_only, 'b')) row_b(P);
  }
  if (strchr(g_only, 'c'))
    for (int i = 0; i < g_nsubs; i++) row_c(g_subs[i]);
  if (strchr(g_only, 'd')) row_d();
  return 0;
}
