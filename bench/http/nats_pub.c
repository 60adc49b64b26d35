/*
 * nats_pub.c — JetStream publish load generator for bench/http/run.sh.
 *
 * Opens CONNS connections (one thread each) to a NATS server, makes sure a
 * file-storage stream exists, then publishes ~SIZE-byte event messages for a
 * warm-up period followed by the measured period, and prints one line:
 *
 *   msgs=N secs=S msgs_per_s=R ops=O p50_us=A p99_us=B errors=E mode=M conns=C batch=K size=Z
 *
 * Modes:
 *   sync   js_Publish: one message, wait for its PubAck, repeat (one round
 *          trip per message, like one HTTP request per event).  Latency is
 *          per message.
 *   batch  js_PublishAsync of BATCH messages, then js_PublishAsyncComplete
 *          (waits for all their PubAcks), repeat: the analogue of one
 *          100-event HTTP batch request.  Latency is per batch.
 *   stream js_PublishAsync continuously with at most BATCH acks pending
 *          (jsOptions.PublishAsync.MaxPending).  No latency is reported.
 *
 * Build: gcc -O2 -pthread -o nats_pub nats_pub.c -lnats
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

enum { MODE_SYNC, MODE_BATCH, MODE_STREAM };
enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

static const char *g_url = "nats://127.0.0.1:4223";
static const char *g_stream = "BENCH";
static const char *g_subject = "bench.events";
static int g_conns = 64;
static double g_secs = 10.0;
static double g_warmup = 1.0;
static int g_mode = MODE_SYNC;
static int g_batch = 100;
static int g_size = 300;

static _Atomic int g_phase = PHASE_WARMUP;
static _Atomic int g_ready = 0;

typedef struct worker {
  pthread_t tid;
  int idx;
  uint64_t msgs;     /* messages acknowledged during the measured phase */
  uint64_t ops;      /* latency samples (messages in sync, batches in batch) */
  uint64_t errors;
  _Atomic uint64_t async_errors;
  uint32_t *lat;     /* microseconds */
  size_t nlat, cap;
  int failed;
} worker;

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void add_lat(worker *w, uint64_t us) {
  if (w->nlat == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 65536;
    uint32_t *p = realloc(w->lat, nc * sizeof *p);
    if (!p) return;
    w->lat = p;
    w->cap = nc;
  }
  w->lat[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* The same shape of event as the HTTP workloads send, padded to g_size bytes. */
static size_t make_event(char *buf, size_t cap, unsigned worker_idx, uint64_t n) {
  int len = snprintf(buf, cap,
                     "{\"event_type\":\"order.created\",\"entity_id\":\"ent-%04u-%08" PRIu64
                     "\",\"payload\":{\"order_id\":\"ord-%08" PRIu64
                     "\",\"customer\":\"cust-0042\",\"amount\":129.95,\"currency\":\"EUR\","
                     "\"items\":3,\"note\":\"",
                     worker_idx, n, n);
  if (len < 0 || (size_t)len >= cap) return 0;
  size_t l = (size_t)len;
  while (l + 3 < (size_t)g_size && l + 3 < cap) buf[l++] = 'x';
  memcpy(buf + l, "\"}}", 3);
  l += 3;
  return l;
}

static void ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
                        void *closure) {
  (void)js;
  (void)pa;
  worker *w = closure;
  if (pae) atomic_fetch_add(&w->async_errors, 1);
  natsMsg_Destroy(msg);
}

static void *run_worker(void *arg) {
  worker *w = arg;
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  jsOptions jo;
  natsStatus s = natsConnection_ConnectTo(&nc, g_url);
  if (s == NATS_OK) {
    jsOptions_Init(&jo);
    if (g_mode != MODE_SYNC) {
      jo.PublishAsync.MaxPending = g_batch;
      jo.PublishAsync.AckHandler = ack_handler;
      jo.PublishAsync.AckHandlerClosure = w;
      jo.PublishAsync.StallWait = 30000;
    }
    s = natsConnection_JetStream(&js, nc, &jo);
  }
  if (s != NATS_OK) {
    fprintf(stderr, "nats_pub: worker %d: connect: %s\n", w->idx, natsStatus_GetText(s));
    w->failed = 1;
    atomic_fetch_add(&g_ready, 1);
    natsConnection_Destroy(nc);
    return NULL;
  }
  atomic_fetch_add(&g_ready, 1);
  char buf[4096];
  uint64_t n = 0;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 30000;
  for (;;) {
    int ph = atomic_load(&g_phase);
    if (ph == PHASE_STOP) break;
    if (g_mode == MODE_SYNC) {
      size_t len = make_event(buf, sizeof buf, (unsigned)w->idx, n++);
      jsPubAck *pa = NULL;
      jsErrCode jerr = 0;
      uint64_t t0 = now_us();
      s = js_Publish(&pa, js, g_subject, buf, (int)len, NULL, &jerr);
      uint64_t t1 = now_us();
      if (pa) jsPubAck_Destroy(pa);
      if (atomic_load(&g_phase) != PHASE_MEASURE) continue;
      if (s != NATS_OK) {
        w->errors++;
        continue;
      }
      w->msgs++;
      w->ops++;
      add_lat(w, t1 - t0);
    } else if (g_mode == MODE_BATCH) {
      uint64_t t0 = now_us();
      uint64_t errs_before = atomic_load(&w->async_errors);
      int sent = 0, perr = 0;
      for (int i = 0; i < g_batch; i++) {
        size_t len = make_event(buf, sizeof buf, (unsigned)w->idx, n++);
        if (js_PublishAsync(js, g_subject, buf, (int)len, NULL) == NATS_OK)
          sent++;
        else
          perr++;
      }
      s = js_PublishAsyncComplete(js, &po);
      uint64_t t1 = now_us();
      if (atomic_load(&g_phase) != PHASE_MEASURE) continue;
      uint64_t aerr = atomic_load(&w->async_errors) - errs_before;
      if (s != NATS_OK || perr || aerr) {
        w->errors += (uint64_t)perr + aerr + (s != NATS_OK);
        continue;
      }
      w->msgs += (uint64_t)sent;
      w->ops++;
      add_lat(w, t1 - t0);
    } else { /* stream: the library blocks when MaxPending acks are outstanding */
      size_t len = make_event(buf, sizeof buf, (unsigned)w->idx, n++);
      s = js_PublishAsync(js, g_subject, buf, (int)len, NULL);
      if (atomic_load(&g_phase) != PHASE_MEASURE) continue;
      if (s != NATS_OK)
        w->errors++;
      else
        w->msgs++; /* acks that fail are subtracted below */
    }
  }
  if (g_mode == MODE_STREAM) {
    js_PublishAsyncComplete(js, &po);
    uint64_t e = atomic_load(&w->async_errors);
    w->errors += e;
    w->msgs = w->msgs > e ? w->msgs - e : 0;
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return NULL;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) && errno == EINTR) {
  }
}

static int ensure_stream(void) {
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  natsStatus s = natsConnection_ConnectTo(&nc, g_url);
  if (s == NATS_OK) s = natsConnection_JetStream(&js, nc, NULL);
  if (s != NATS_OK) {
    fprintf(stderr, "nats_pub: connect %s: %s\n", g_url, natsStatus_GetText(s));
    natsConnection_Destroy(nc);
    return -1;
  }
  char subj[256];
  snprintf(subj, sizeof subj, "%s", g_subject);
  const char *subjects[] = {subj};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = g_stream;
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  s = js_AddStream(&si, js, &sc, NULL, &jerr);
  if (si) jsStreamInfo_Destroy(si);
  int rc = 0;
  if (s != NATS_OK) {
    /* An existing stream with the same configuration is fine. */
    s = js_GetStreamInfo(&si, js, g_stream, NULL, &jerr);
    if (s == NATS_OK) {
      if (si->Config->Storage != js_FileStorage) {
        fprintf(stderr, "nats_pub: stream %s exists and is not file storage\n", g_stream);
        rc = -1;
      }
      jsStreamInfo_Destroy(si);
    } else {
      fprintf(stderr, "nats_pub: cannot create stream %s: %s (jerr %d)\n", g_stream,
              natsStatus_GetText(s), (int)jerr);
      rc = -1;
    }
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return rc;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: nats_pub [-u URL] [-n STREAM] [-t SUBJECT] [-c CONNS] [-d SECS] [-w WARMUP]\n"
          "                [-m sync|batch|stream] [-b BATCH] [-z SIZE]\n"
          "  defaults: -u nats://127.0.0.1:4223 -n BENCH -t bench.events -c 64 -d 10 -w 1\n"
          "            -m sync -b 100 -z 300\n");
}

/* A whole decimal integer in [lo, hi], or exit with a message. */
static int int_arg(const char *v, long lo, long hi, const char *what) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) {
    fprintf(stderr, "nats_pub: %s wants an integer %ld..%ld, got '%s'\n", what, lo, hi, v);
    exit(2);
  }
  return (int)n;
}

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "u:n:t:c:d:w:m:b:z:h")) != -1) {
    switch (c) {
      case 'u': g_url = optarg; break;
      case 'n': g_stream = optarg; break;
      case 't': g_subject = optarg; break;
      case 'c': g_conns = int_arg(optarg, 1, 4096, "-c"); break;
      case 'd': g_secs = atof(optarg); break;
      case 'w': g_warmup = atof(optarg); break;
      case 'b': g_batch = int_arg(optarg, 1, 1000000, "-b"); break;
      case 'z': g_size = int_arg(optarg, 1, 16777216, "-z"); break;
      case 'm':
        if (!strcmp(optarg, "sync")) g_mode = MODE_SYNC;
        else if (!strcmp(optarg, "batch")) g_mode = MODE_BATCH;
        else if (!strcmp(optarg, "stream")) g_mode = MODE_STREAM;
        else { usage(stderr); return 2; }
        break;
      case 'h': usage(stdout); return 0;
      default: usage(stderr); return 2;
    }
  }
  if (g_conns < 1 || g_conns > 4096 || g_secs <= 0 || g_batch < 1 || g_size < 100 ||
      g_size > 4000 || g_warmup < 0) {
    usage(stderr);
    return 2;
  }
  if (nats_Open(-1) != NATS_OK) {
    fprintf(stderr, "nats_pub: nats_Open failed\n");
    return 1;
  }
  if (ensure_stream()) return 1;

  worker *ws = calloc((size_t)g_conns, sizeof *ws);
  if (!ws) return 1;
  for (int i = 0; i < g_conns; i++) {
    ws[i].idx = i;
    if (pthread_create(&ws[i].tid, NULL, run_worker, &ws[i])) {
      fprintf(stderr, "nats_pub: pthread_create failed\n");
      return 1;
    }
  }
  while (atomic_load(&g_ready) < g_conns) sleep_s(0.01);
  sleep_s(g_warmup);
  uint64_t t0 = now_us();
  atomic_store(&g_phase, PHASE_MEASURE);
  sleep_s(g_secs);
  atomic_store(&g_phase, PHASE_STOP);
  uint64_t t1 = now_us();
  uint64_t msgs = 0, ops = 0, errors = 0;
  size_t nlat = 0;
  int failed = 0;
  for (int i = 0; i < g_conns; i++) {
    pthread_join(ws[i].tid, NULL);
    msgs += ws[i].msgs;
    ops += ws[i].ops;
    errors += ws[i].errors;
    nlat += ws[i].nlat;
    failed += ws[i].failed;
  }
  uint32_t *all = malloc((nlat ? nlat : 1) * sizeof *all);
  size_t k = 0;
  for (int i = 0; i < g_conns; i++) {
    if (ws[i].nlat) memcpy(all + k, ws[i].lat, ws[i].nlat * sizeof *all);
    k += ws[i].nlat;
    free(ws[i].lat);
  }
  qsort(all, nlat, sizeof *all, cmp_u32);
  double secs = (double)(t1 - t0) / 1e6;
  double p50 = nlat ? all[(size_t)(0.50 * (double)(nlat - 1))] : 0;
  double p99 = nlat ? all[(size_t)(0.99 * (double)(nlat - 1))] : 0;
  static const char *names[] = {"sync", "batch", "stream"};
  printf("msgs=%" PRIu64 " secs=%.3f msgs_per_s=%.1f ops=%" PRIu64
         " p50_us=%.0f p99_us=%.0f errors=%" PRIu64 " mode=%s conns=%d batch=%d size=%d\n",
         msgs, secs, (double)msgs / secs, ops, p50, p99, errors + (uint64_t)failed,
         names[g_mode], g_conns, g_mode == MODE_SYNC ? 1 : g_batch, g_size);
  free(all);
  free(ws);
  nats_Close();
  return failed ? 1 : 0;
}
