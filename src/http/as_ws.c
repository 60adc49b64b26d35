/*
 * as_ws.c — the subscription hub: one epoll thread for every WebSocket
 * connection (framing by wslay's frame API) and every parked NDJSON
 * subscription.  See as_ws.h for the delivery model.
 *
 * PER CONNECTION
 *   read  -> bytes -> wslay_frame_recv -> frames -> messages
 *            text message: a JSON filter {entity_id?, event_type?,
 *            from_position?} that replaces the current one
 *            ping -> pong; close -> close reply, then shutdown
 *   fill  -> events from the cursor (query API) -> one text frame each,
 *            appended to the send buffer (serialized once per position in
 *            a shared cache when near the tail)
 *   write -> the send buffer, non-blocking; EPOLLOUT while it is not empty
 *
 * Wake-ups: the store's commit listener writes the hub's eventfd only when
 * the hub is asleep in epoll_wait, so a busy hub costs the writer nothing.
 */
#include "http/as_ws.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "core/as_alloc.h"
#include "core/as_buf.h"
#include "core/as_common.h"
#include "core/as_json.h"
#include "core/as_log.h"
#include "core/as_sha1.h"
#include "http/as_http_int.h"

#define CACHE_SLOTS 8192u            /* shared serializations near the tail */
#define FILL_SLICE (256u << 10)      /* bytes per connection per round */
#define READ_CHUNK 16384

typedef struct ws_conn {
  struct ws_conn *next, *prev;
  as_ws_hub *hub;
  int fd;
  struct MHD_UpgradeResponseHandle *urh;
  wslay_frame_context_ptr fc;
  /* input */
  uint8_t *in;
  size_t in_len, in_off, in_cap;
  bool in_frame;
  uint64_t frame_got;
  uint8_t frame_opcode;
  bool frame_fin;
  as_buf msg;           /* a data message being reassembled */
  uint8_t msg_opcode;
  bool in_msg;
  as_buf ctl;           /* a control frame's payload */
  /* output */
  as_buf out;
  size_t out_off;
  bool want_write;
  /* subscription */
  char *entity, *type;  /* owned; NULL = any */
  uint64_t cursor;      /* next position to consider */
  /* lifecycle */
  int64_t last_recv_us, last_ping_us, last_progress_us;
  bool closing;         /* a close frame was queued: flush, then drop */
  bool dead;
} ws_conn;

typedef struct parked {
  struct MHD_Connection *c;
  uint64_t position;
  int64_t deadline_us;
} parked;

typedef struct cache_slot {
  uint64_t pos;
  as_buf text;
} cache_slot;

struct as_ws_hub {
  as_db *db;
  const as_logger *log;
  int ep, efd;
  pthread_t thread;
  _Atomic bool stop;
  _Atomic int sleeping;
  pthread_mutex_t mu;   /* guards incoming and parked */
  ws_conn *incoming;
  parked *parked;
  size_t nparked, parked_cap;
  ws_conn *conns;       /* hub thread only */
  size_t nconns;
  cache_slot *cache;    /* hub thread only */
  _Atomic uint64_t st_active, st_total, st_sent, st_errors, st_slow;
};

/* --- Utilities ---------------------------------------------------------- */

void as_ws_accept_key(const char *key, char out[29]) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  uint8_t h[20];
  as_sha1(buf, strlen(buf), h);
  as_base64(h, 20, out);
}

static void wake(as_ws_hub *h) {
  uint64_t one = 1;
  ssize_t r = write(h->efd, &one, sizeof one);
  (void)r;
}

static void on_commit(void *arg, uint64_t committed) {
  as_ws_hub *h = arg;
  if (atomic_load(&h->sleeping)) wake(h);
}

/* --- Framing (wslay frame API over our buffers) ------------------------ */

static ssize_t send_cb(const uint8_t *data, size_t len, int flags, void *user) {
  ws_conn *c = user;
  return as_buf_append(&c->out, data, len) == AS_OK ? (ssize_t)len : -1;
}

static ssize_t recv_cb(uint8_t *buf, size_t len, int flags, void *user) {
  ws_conn *c = user;
  size_t avail = c->in_len - c->in_off;
  if (!avail) {
    errno = EAGAIN;
    return -1; /* wslay: WANT_READ */
  }
  size_t n = avail < len ? avail : len;
  memcpy(buf, c->in + c->in_off, n);
  c->in_off += n;
  return (ssize_t)n;
}

static int genmask_cb(uint8_t *buf, size_t len, void *user) {
  memset(buf, 0, len); /* servers do not mask */
  return 0;
}

static void send_frame(ws_conn *c, uint8_t opcode, const void *data, size_t len) {
  struct wslay_frame_iocb io = {1, 0, opcode, len, 0, data, len};
  while (io.data_length || len == 0) {
    ssize_t r = wslay_frame_send(c->fc, &io);
    if (r < 0) break;
    io.data += r;
    io.data_length -= (size_t)r;
    if (len == 0) break;
  }
}

static void queue_close(ws_conn *c, uint16_t code, const char *reason) {
  if (c->closing) return;
  uint8_t p[125];
  p[0] = (uint8_t)(code >> 8);
  p[1] = (uint8_t)code;
  size_t rl = strlen(reason);
  if (rl > sizeof p - 2) rl = sizeof p - 2;
  memcpy(p + 2, reason, rl);
  send_frame(c, WSLAY_CONNECTION_CLOSE, p, rl + 2);
  c->closing = true;
}

/* --- Subscription filters ------------------------------------------- */

static void set_filter(ws_conn *c, const char *entity, size_t elen,
                       const char *type, size_t tlen) {
  as_free(c->entity);
  as_free(c->type);
  c->entity = entity ? as_strndup(entity, elen) : NULL;
  c->type = type ? as_strndup(type, tlen) : NULL;
}

/* A client message: {"entity_id": s|null, "event_type": s|null,
 * "from_position": n}.  Invalid messages are ignored, as in the seed. */
static void on_text(ws_conn *c, const char *p, size_t len) {
  as_json_kind k;
  if (as_json_validate(p, len, 16, &k, NULL) || k != AS_JSON_OBJECT) return;
  as_json_val root = as_json_root(p, len), v;
  char ebuf[AS_MAX_ENTITY_ID_LEN * 4 + 8], tbuf[AS_MAX_EVENT_TYPE_LEN * 4 + 8];
  const char *e = NULL, *t = NULL;
  size_t el = 0, tl = 0;
  /* A message replaces the filter: an absent (or null) field means "any".
   * A field of another type, or longer than any id can be, makes the whole
   * message invalid: it is ignored and the filter stays as it was (never
   * silently widened to every event). */
  if (as_json_obj_get(root, "entity_id", &v) && v.kind != AS_JSON_NULL) {
    if (v.kind != AS_JSON_STRING || v.len > sizeof ebuf) return;
    as_json_str_decode(v, ebuf, &el);
    e = ebuf;
  }
  if (as_json_obj_get(root, "event_type", &v) && v.kind != AS_JSON_NULL) {
    if (v.kind != AS_JSON_STRING || v.len > sizeof tbuf) return;
    as_json_str_decode(v, tbuf, &tl);
    t = tbuf;
  }
  if (as_json_obj_get(root, "from_position", &v) && v.kind != AS_JSON_NULL &&
      (v.kind != AS_JSON_NUMBER || as_json_to_u64(v, &(uint64_t){0}) != AS_OK))
    return;
  set_filter(c, e, el, t, tl);
  uint64_t from;
  if (as_json_obj_get(root, "from_position", &v) && as_json_to_u64(v, &from) == AS_OK)
    c->cursor = from ? from : 1;
}

/* Consumes frames from the input buffer. */
static void process_input(ws_conn *c) {
  for (;;) {
    struct wslay_frame_iocb io;
    memset(&io, 0, sizeof io);
    ssize_t r = wslay_frame_recv(c->fc, &io);
    if (r == WSLAY_ERR_WANT_READ) break;
    if (r < 0) {
      queue_close(c, 1002, "protocol error");
      return;
    }
    if (!c->in_frame) {
      c->in_frame = true;
      c->frame_got = 0;
      c->frame_opcode = io.opcode;
      c->frame_fin = io.fin;
      if (!io.mask) {
        queue_close(c, 1002, "client frames must be masked");
        return;
      }
      if (!wslay_is_ctrl_frame(io.opcode)) {
        if (io.opcode != WSLAY_CONTINUATION_FRAME) {
          if (c->in_msg) {
            queue_close(c, 1002, "new message inside a fragmented one");
            return;
          }
          c->in_msg = true;
          c->msg_opcode = io.opcode;
          as_buf_reset(&c->msg);
        } else if (!c->in_msg) {
          queue_close(c, 1002, "continuation without a message");
          return;
        }
      } else {
        as_buf_reset(&c->ctl);
      }
    }
    c->frame_got += (uint64_t)r;
    if (wslay_is_ctrl_frame(c->frame_opcode)) {
      as_buf_append(&c->ctl, io.data, io.data_length);
    } else if (as_buf_append(&c->msg, io.data, io.data_length) != AS_OK) {
      queue_close(c, 1009, "message too big");
      return;
    }
    if (c->frame_got < io.payload_length) continue;
    c->in_frame = false;
    switch (c->frame_opcode) {
      case WSLAY_PING:
        send_frame(c, WSLAY_PONG, c->ctl.data, c->ctl.len);
        break;
      case WSLAY_PONG:
        break;
      case WSLAY_CONNECTION_CLOSE: {
        uint16_t code = c->ctl.len >= 2 ? (uint16_t)((uint8_t)c->ctl.data[0] << 8 |
                                                     (uint8_t)c->ctl.data[1])
                                        : 1000;
        queue_close(c, code == 1005 || code == 1006 ? 1000 : code, "");
        break;
      }
      default:
        if (c->frame_fin) {
          if (c->msg_opcode == WSLAY_TEXT_FRAME) on_text(c, c->msg.data ? c->msg.data : "", c->msg.len);
          c->in_msg = false;
        }
        break;
    }
    if (c->closing) return;
  }
}

/* --- Delivery ------------------------------------------------------------- */

/* The serialized event at `pos`, shared through the cache near the tail. */
static const as_buf *serialized(as_ws_hub *h, const as_event *ev, uint64_t committed,
                                as_buf *scratch) {
  if (ev->position + CACHE_SLOTS > committed) {
    cache_slot *s = &h->cache[ev->position % CACHE_SLOTS];
    if (s->pos != ev->position) {
      as_buf_reset(&s->text);
      as_json_put_event(&s->text, ev);
      s->pos = as_buf_error(&s->text) ? 0 : ev->position;
    }
    if (s->pos == ev->position) return &s->text;
  }
  as_buf_reset(scratch);
  as_json_put_event(scratch, ev);
  return scratch;
}

static void fill(as_ws_hub *h, ws_conn *c, uint64_t committed) {
  if (c->closing || c->cursor > committed) return;
  if (c->out.len - c->out_off >= AS_WS_SEND_BUFFER) return;
  as_query q;
  as_query_init(&q);
  q.from_position = c->cursor;
  if (c->entity) q.entity_id = c->entity, q.entity_id_len = strlen(c->entity);
  if (c->type) q.event_type = c->type, q.event_type_len = strlen(c->type);
  as_iter *it;
  if (as_query_open(h->db, &q, &it)) return;
  uint64_t snap = as_iter_snapshot_position(it);
  size_t start = c->out.len;
  as_buf scratch;
  as_buf_init(&scratch, 0);
  as_event ev;
  bool more = false;
  uint64_t sent = 0;
  while (as_iter_next(it, &ev) == AS_OK) {
    const as_buf *text = serialized(h, &ev, snap, &scratch);
    send_frame(c, WSLAY_TEXT_FRAME, text->data, text->len);
    c->cursor = ev.position + 1;
    sent++;
    if (c->out.len - start >= FILL_SLICE ||
        c->out.len - c->out_off >= AS_WS_SEND_BUFFER) {
      more = true;
      break;
    }
  }
  if (!more) c->cursor = snap + 1;
  as_buf_free(&scratch);
  as_iter_close(it);
  atomic_fetch_add_explicit(&h->st_sent, sent, memory_order_relaxed);
}

static void set_events(as_ws_hub *h, ws_conn *c) {
  struct epoll_event e = {EPOLLIN | EPOLLRDHUP | (c->want_write ? EPOLLOUT : 0),
                          {.ptr = c}};
  epoll_ctl(h->ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void flush(as_ws_hub *h, ws_conn *c) {
  int64_t now = as_time_now_us();
  while (c->out_off < c->out.len) {
    ssize_t w = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      c->out_off += (size_t)w;
      c->last_progress_us = now;
      continue;
    }
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (w < 0 && errno == EINTR) continue;
    c->dead = true;
    return;
  }
  if (c->out_off == c->out.len) {
    as_buf_reset(&c->out);
    c->out_off = 0;
    c->last_progress_us = now;
    if (c->closing) {
      c->dead = true;
      return;
    }
  } else if (c->out_off > (256u << 10)) {
    memmove(c->out.data, c->out.data + c->out_off, c->out.len - c->out_off);
    c->out.len -= c->out_off;
    c->out_off = 0;
  }
  bool want = c->out_off < c->out.len;
  if (want != c->want_write) {
    c->want_write = want;
    set_events(h, c);
  }
}

static void on_readable(ws_conn *c) {
  for (;;) {
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
    if (c->in_cap - c->in_len < READ_CHUNK) {
      if (c->in_off) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
      }
      if (c->in_cap - c->in_len < READ_CHUNK) {
        size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
        if (cap > AS_WS_MAX_MESSAGE * 4) {
          c->dead = true;
          return;
        }
        uint8_t *n = as_realloc(c->in, cap);
        if (!n) {
          c->dead = true;
          return;
        }
        c->in = n;
        c->in_cap = cap;
      }
    }
    ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
    if (r > 0) {
      c->in_len += (size_t)r;
      c->last_recv_us = as_time_now_us();
      process_input(c);
      if (c->closing) return;
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (r < 0 && errno == EINTR) continue;
    c->dead = true; /* EOF or error */
    return;
  }
}

/* --- Connections ------------------------------------------------------ */

static void conn_free(as_ws_hub *h, ws_conn *c) {
  if (c->fd >= 0) {
    epoll_ctl(h->ep, EPOLL_CTL_DEL, c->fd, NULL);
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
  }
  if (c->fc) wslay_frame_context_free(c->fc);
  as_free(c->in);
  as_buf_free(&c->msg);
  as_buf_free(&c->ctl);
  as_buf_free(&c->out);
  as_free(c->entity);
  as_free(c->type);
  as_free(c);
}

static void unlink_conn(as_ws_hub *h, ws_conn *c) {
  if (c->prev) c->prev->next = c->next;
  else h->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  h->nconns--;
  atomic_fetch_sub(&h->st_active, 1);
}

void as_ws_accept(as_ws_hub *h, MHD_socket fd, struct MHD_UpgradeResponseHandle *urh,
                  const char *extra, size_t extra_len, const as_ws_filter *f) {
  ws_conn *c = as_calloc(1, sizeof *c);
  struct wslay_frame_callbacks cb = {send_cb, recv_cb, genmask_cb};
  if (!c || wslay_frame_context_init(&c->fc, &cb, c) != 0) {
    as_free(c);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    atomic_fetch_add(&h->st_errors, 1);
    return;
  }
  c->hub = h;
  c->fd = fd;
  c->urh = urh;
  as_buf_init(&c->msg, AS_WS_MAX_MESSAGE);
  as_buf_init(&c->ctl, 256);
  as_buf_init(&c->out, 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  if (extra_len) {
    c->in = as_malloc(extra_len + READ_CHUNK);
    if (c->in) {
      memcpy(c->in, extra, extra_len);
      c->in_len = extra_len;
      c->in_cap = extra_len + READ_CHUNK;
    }
  }
  set_filter(c, f->entity_id, f->entity_id ? strlen(f->entity_id) : 0, f->event_type,
             f->event_type ? strlen(f->event_type) : 0);
  c->cursor = f->from_position ? f->from_position : as_db_committed_position(h->db) + 1;
  c->last_recv_us = c->last_ping_us = c->last_progress_us = as_time_now_us();
  pthread_mutex_lock(&h->mu);
  bool stopped = atomic_load(&h->stop); /* stop() drains `incoming` under mu */
  if (!stopped) {
    c->next = h->incoming;
    h->incoming = c;
  }
  pthread_mutex_unlock(&h->mu);
  if (stopped) {
    conn_free(h, c);
    return;
  }
  wake(h);
}

void as_ws_park(as_ws_hub *h, struct MHD_Connection *c, uint64_t position,
                int64_t deadline_us) {
  pthread_mutex_lock(&h->mu);
  if (atomic_load(&h->stop)) { /* stop() already resumed every parked one */
    pthread_mutex_unlock(&h->mu);
    MHD_resume_connection(c);
    return;
  }
  if (h->nparked == h->parked_cap) {
    size_t cap = h->parked_cap ? h->parked_cap * 2 : 64;
    parked *p = as_realloc(h->parked, sizeof *p * cap);
    if (!p) {
      pthread_mutex_unlock(&h->mu);
      MHD_resume_connection(c);
      return;
    }
    h->parked = p;
    h->parked_cap = cap;
  }
  h->parked[h->nparked++] = (parked){c, position, deadline_us};
  pthread_mutex_unlock(&h->mu);
  wake(h);
}

/* Resumes parked HTTP subscriptions that have news or a heartbeat due. */
static int64_t service_parked(as_ws_hub *h, uint64_t committed, int64_t now, bool all) {
  int64_t next = INT64_MAX;
  pthread_mutex_lock(&h->mu);
  for (size_t i = 0; i < h->nparked;) {
    parked *p = &h->parked[i];
    if (all || committed > p->position || now >= p->deadline_us) {
      MHD_resume_connection(p->c);
      *p = h->parked[--h->nparked];
      continue;
    }
    if (p->deadline_us < next) next = p->deadline_us;
    i++;
  }
  pthread_mutex_unlock(&h->mu);
  return next;
}

static void *hub_main(void *arg) {
  as_ws_hub *h = arg;
  struct epoll_event evs[64];
  while (!atomic_load(&h->stop)) {
    /* adopt new connections */
    pthread_mutex_lock(&h->mu);
    ws_conn *in = h->incoming;
    h->incoming = NULL;
    pthread_mutex_unlock(&h->mu);
    while (in) {
      ws_conn *c = in;
      in = in->next;
      struct epoll_event e = {EPOLLIN | EPOLLRDHUP, {.ptr = c}};
      if (h->nconns >= AS_WS_MAX_CONNECTIONS || epoll_ctl(h->ep, EPOLL_CTL_ADD, c->fd, &e)) {
        queue_close(c, 1013, "too many connections");
        send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        conn_free(h, c);
        atomic_fetch_add(&h->st_errors, 1);
        continue;
      }
      c->prev = NULL;
      c->next = h->conns;
      if (h->conns) h->conns->prev = c;
      h->conns = c;
      h->nconns++;
      atomic_fetch_add(&h->st_active, 1);
      atomic_fetch_add(&h->st_total, 1);
      if (c->in_len) process_input(c);
    }

    uint64_t committed = as_db_committed_position(h->db);
    int64_t now = as_time_now_us();
    bool busy = false;
    for (ws_conn *c = h->conns; c; c = c->next) {
      fill(h, c, committed);
      if (!c->closing && c->cursor <= committed &&
          c->out.len - c->out_off < AS_WS_SEND_BUFFER)
        busy = true; /* more to deliver after this slice */
      if (now - c->last_recv_us > (int64_t)AS_WS_IDLE_TIMEOUT_MS * 1000) {
        queue_close(c, 1001, "idle timeout");
      } else if (now - c->last_recv_us > (int64_t)AS_WS_PING_MS * 1000 &&
                 now - c->last_ping_us > (int64_t)AS_WS_PING_MS * 1000) {
        send_frame(c, WSLAY_PING, "", 0);
        c->last_ping_us = now;
      }
      if (c->out_off < c->out.len &&
          now - c->last_progress_us > (int64_t)AS_WS_WRITE_TIMEOUT_MS * 1000) {
        as__log(h->log, AS_LOG_INFO, "ws: closing a subscriber that accepted no data "
                "for %d s", AS_WS_WRITE_TIMEOUT_MS / 1000);
        atomic_fetch_add(&h->st_slow, 1);
        c->dead = true;
      }
      if (!c->dead) flush(h, c);
    }
    for (ws_conn *c = h->conns; c;) {
      ws_conn *n = c->next;
      if (c->dead) {
        unlink_conn(h, c);
        conn_free(h, c);
      }
      c = n;
    }
    int64_t next_park = service_parked(h, committed, now, false);

    int timeout = busy ? 0 : 1000;
    if (next_park != INT64_MAX) {
      int64_t ms = (next_park - now) / 1000 + 1;
      if (ms < timeout) timeout = ms < 0 ? 0 : (int)ms;
    }
    /* Ask for a wake-up at every commit only when someone listens: with
     * no subscriber a commit has nothing to deliver here, and a wake-up per
     * commit costs the writer a system call and the machine a context
     * switch.  New subscribers and parked requests wake the hub themselves. */
    bool listening = h->conns != NULL || next_park != INT64_MAX;
    atomic_store(&h->sleeping, listening ? 1 : 0);
    if (listening && as_db_committed_position(h->db) != committed) timeout = 0;
    int n = epoll_wait(h->ep, evs, 64, timeout);
    atomic_store(&h->sleeping, 0);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) {
        uint64_t v;
        ssize_t r = read(h->efd, &v, sizeof v);
        (void)r;
        continue;
      }
      ws_conn *c = evs[i].data.ptr;
      if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) on_readable(c);
      if (!c->dead && (evs[i].events & EPOLLOUT)) flush(h, c);
    }
  }
  return NULL;
}

as_err as_ws_hub_start(as_db *db, const as_logger *log, as_ws_hub **out) {
  as_ws_hub *h = as_calloc(1, sizeof *h);
  if (!h) return AS_ENOMEM;
  h->db = db;
  h->log = log;
  pthread_mutex_init(&h->mu, NULL);
  h->cache = as_calloc(CACHE_SLOTS, sizeof *h->cache);
  h->ep = epoll_create1(EPOLL_CLOEXEC);
  h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (!h->cache || h->ep < 0 || h->efd < 0) goto fail;
  for (size_t i = 0; i < CACHE_SLOTS; i++) as_buf_init(&h->cache[i].text, 0);
  struct epoll_event e = {EPOLLIN, {.ptr = NULL}};
  if (epoll_ctl(h->ep, EPOLL_CTL_ADD, h->efd, &e)) goto fail;
  if (as_db_on_commit(db, on_commit, h)) goto fail;
  if (pthread_create(&h->thread, NULL, hub_main, h)) goto fail;
  *out = h;
  return AS_OK;
fail:
  if (h->ep >= 0) close(h->ep);
  if (h->efd >= 0) close(h->efd);
  as_free(h->cache);
  as_free(h);
  return AS_ENOMEM;
}

bool as_ws_hub_stopping(as_ws_hub *h) { return !h || atomic_load(&h->stop); }

void as_ws_hub_stop(as_ws_hub *h) {
  if (!h) return;
  as_db_off_commit(h->db, on_commit, h);
  atomic_store(&h->stop, true);
  wake(h);
  pthread_join(h->thread, NULL);
  service_parked(h, 0, 0, true);
  pthread_mutex_lock(&h->mu);
  ws_conn *in = h->incoming;
  h->incoming = NULL;
  pthread_mutex_unlock(&h->mu);
  while (in) {
    ws_conn *n = in->next;
    conn_free(h, in);
    in = n;
  }
  for (ws_conn *c = h->conns; c;) {
    ws_conn *n = c->next;
    queue_close(c, 1001, "server shutting down");
    send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
         MSG_NOSIGNAL | MSG_DONTWAIT);
    conn_free(h, c);
    c = n;
  }
  h->conns = NULL;
}

void as_ws_hub_free(as_ws_hub *h) {
  if (!h) return;
  for (size_t i = 0; i < CACHE_SLOTS; i++) as_buf_free(&h->cache[i].text);
  as_free(h->cache);
  as_free(h->parked);
  close(h->ep);
  close(h->efd);
  pthread_mutex_destroy(&h->mu);
  as_free(h);
}

void as_ws_stats_get(as_ws_hub *h, as_ws_stats *out) {
  memset(out, 0, sizeof *out);
  if (!h) return;
  out->connections_active = atomic_load(&h->st_active);
  out->connections_total = atomic_load(&h->st_total);
  out->messages_sent = atomic_load(&h->st_sent);
  out->errors = atomic_load(&h->st_errors);
  out->closed_slow = atomic_load(&h->st_slow);
}
