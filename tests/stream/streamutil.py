"""Helpers for the black-box streaming tests of build/allsourced
(WebSocket /api/v1/events/stream, NDJSON /api/v1/events/subscribe,
snapshots, analytics).

* ``Server``: the real binary on a free loopback port with its own data
  directory; waits for ``/health``; stop (SIGTERM, exit code 0 asserted),
  restart on the same data directory, kill -9; stderr goes to a file that is
  checked for sanitizer reports.  It is tests/api's ``apiutil.Server``
  (imported, not copied) plus ``ws_base``, batches over a given session and
  ``committed()``.
* ``WsClient``: a WebSocket subscriber on top of python3-websocket
  (websocket-client 1.2.3) that returns each text frame as (event dict, raw
  frame text) and reports close frames.
* ``raw_array_items`` / ``store_events``: the exact bytes of the events the
  store returns from /events/query, to compare frames byte for byte.

Only the Python standard library, ``requests``, ``websocket`` and the binary
are used.
"""

import json
import os
import pathlib
import socket
import sys
import threading
import time

import requests
import websocket

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "api"))

import apiutil  # noqa: E402
from apiutil import (HTTP_TIMEOUT, SANITIZER_MARKERS, START_TIMEOUT,  # noqa: E402,F401
                     STOP_TIMEOUT, ServerStartError, _skip_string, _skip_value,
                     _skip_ws, clean_env, free_port, raw_array_items)


def load_scale():
    """ALLSOURCE_STREAM_LOAD scales every load test (default 1.0)."""
    try:
        return max(0.05, float(os.environ.get("ALLSOURCE_STREAM_LOAD", "1")))
    except ValueError:
        return 1.0


def scaled(n, minimum=1):
    return max(minimum, int(n * load_scale()))


class Server(apiutil.Server):
    """apiutil.Server plus what the streaming tests need."""

    def __init__(self, binary, data_dir, args=(), log_dir=None, durability="sync",
                 env=None, via_env=False):
        super().__init__(binary, data_dir, args=args, env=env, log_dir=log_dir,
                         durability=durability, via_env=via_env)
        self.ws_base = None

    def start(self):
        super().start()
        self.ws_base = "ws://127.0.0.1:%d" % self.port
        return self

    def batch(self, events, session=None):
        """POST a batch, over `session` (another connection) if given."""
        if session is None:
            return super().batch(events)
        r = session.post(self.url + "/api/v1/events/batch", json=events,
                         timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def committed(self):
        """The last position (0 when the store is empty)."""
        evs = self.query(order="desc", limit=1)
        return evs[0]["position"] if evs else 0


# --- Graceful stop ---------------------------------------------------------------


def check_stop(server, rc):
    """Asserts a graceful stop's exit status 0 and a clean sanitizer log.
    (SIGTERM under load once aborted in MHD_stop_daemon with a suspended
    connection; as_server_stop() now refuses new requests and waits for
    every suspended connection first.)"""
    if rc == 0:
        server.check_sanitizers()
        return
    raise AssertionError("allsourced exited with %d after SIGTERM\n%s" % (rc, server.stderr()))


# --- Raw JSON ---------------------------------------------------------------

def store_events(server, **params):
    """(parsed events, raw event texts) from /events/query, in order; the
    raw texts come from the NDJSON form, byte for byte."""
    r = server.get("/api/v1/events/query", params=params,
                   headers={"Accept": "application/x-ndjson"})
    assert r.status_code == 200, (r.status_code, r.text)
    text = r.content.decode("utf-8")
    raws = [line for line in text.split("\n") if line]
    return [json.loads(x) for x in raws], raws


# --- WebSocket --------------------------------------------------------------


class Closed(Exception):
    """The server sent a close frame (code, reason) or the socket ended."""

    def __init__(self, code, reason):
        super().__init__("closed: %r %r" % (code, reason))
        self.code = code
        self.reason = reason


class _PongSeen(Exception):
    pass


class WsClient:
    """A subscriber of /api/v1/events/stream."""

    def __init__(self, server, timeout=30, rcvbuf=None, **params):
        q = "&".join("%s=%s" % (k, requests.utils.quote(str(v), safe=".*"))
                     for k, v in params.items() if v is not None)
        self.url = server.ws_base + "/api/v1/events/stream" + ("?" + q if q else "")
        opts = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        if rcvbuf:
            opts.append((socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf))
        self.ws = websocket.create_connection(self.url, timeout=timeout,
                                              enable_multithread=True,
                                              sockopt=tuple(opts))
        self.last_position = 0
        self._sync_tag = None
        self._ping_seq = 0

    def settimeout(self, t):
        self.ws.settimeout(t)

    def recv_raw(self, timeout=None):
        """The next text message (str); raises Closed on a close frame or EOF,
        websocket.WebSocketTimeoutException on timeout."""
        # the timeout is a deadline for the next text message: pings (sent by
        # the server after 20 s of client silence, and answered here) do not
        # extend it
        if timeout is None:
            timeout = self.ws.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise websocket.WebSocketTimeoutException("no message within %s s" % timeout)
                self.ws.settimeout(left)
            try:
                op, frame = self.ws.recv_data_frame(True)
            except websocket.WebSocketConnectionClosedException:
                raise Closed(None, "connection closed without a close frame")
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(None, "socket error: %s" % e)
            if op == websocket.ABNF.OPCODE_TEXT:
                return frame.data.decode("utf-8")
            if op == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data or b""
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                raise Closed(code, data[2:].decode("utf-8", "replace"))
            if op == websocket.ABNF.OPCODE_BINARY:
                raise AssertionError("unexpected binary frame from the server")
            if op == websocket.ABNF.OPCODE_PONG and self._sync_tag is not None \
                    and bytes(frame.data) == self._sync_tag:
                raise _PongSeen()
            # pings are answered by the library; other pongs ignored

    def sync(self, timeout=30):
        """Sends a ping and reads until its pong: every message sent before
        it has been processed by the server.  Returns the events (parsed,
        raw) that arrived meanwhile."""
        self._ping_seq += 1
        self._sync_tag = b"sync-%d" % self._ping_seq
        self.ws.ping(self._sync_tag)
        evs, raws = [], []
        try:
            while True:
                ev, raw = self.recv_event(timeout)
                evs.append(ev)
                raws.append(raw)
                self.last_position = ev["position"]
        except _PongSeen:
            pass
        finally:
            self._sync_tag = None
        return evs, raws

    def recv_event(self, timeout=None):
        raw = self.recv_raw(timeout)
        return json.loads(raw), raw

    def recv_events(self, n, timeout=30):
        """n events (parsed, raw); fails if they do not arrive within
        `timeout` seconds of silence."""
        evs, raws = [], []
        for _ in range(n):
            ev, raw = self.recv_event(timeout)
            evs.append(ev)
            raws.append(raw)
            self.last_position = ev["position"]
        return evs, raws

    def recv_until(self, pred, timeout=30, limit=10 ** 7):
        """Events up to and including the first one that satisfies pred."""
        evs, raws = [], []
        while len(evs) < limit:
            ev, raw = self.recv_event(timeout)
            evs.append(ev)
            raws.append(raw)
            self.last_position = ev["position"]
            if pred(ev):
                return evs, raws
        raise AssertionError("limit reached")

    def expect_silence(self, seconds):
        """Asserts that no message arrives within `seconds`."""
        try:
            raw = self.recv_raw(seconds)
        except websocket.WebSocketTimeoutException:
            return
        raise AssertionError("unexpected message: %s" % raw[:300])

    def send(self, text):
        self.ws.send(text)

    def send_json(self, obj):
        self.ws.send(json.dumps(obj))

    def close(self):
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass


def assert_contiguous(positions, first, last=None):
    """positions == [first, first+1, ..., last] (no gap, no duplicate)."""
    if last is None:
        last = first + len(positions) - 1
    expect = list(range(first, last + 1))
    if positions != expect:
        seen = set()
        dups = sorted({p for p in positions if p in seen or seen.add(p)})
        missing = sorted(set(expect) - set(positions))[:20]
        extra = sorted(set(positions) - set(expect))[:20]
        disorder = next((i for i in range(1, len(positions))
                         if positions[i] <= positions[i - 1]), None)
        raise AssertionError(
            "positions are not exactly %d..%d: got %d positions, duplicates %s, "
            "missing (first 20) %s, unexpected %s, first disorder at index %s"
            % (first, last, len(positions), dups[:20], missing, extra, disorder))


class Writers:
    """Background threads posting events (single POSTs and batches) until
    stopped; records every acknowledged position."""

    def __init__(self, server, threads=3, batch=(1, 20), entities=20,
                 types=("order.created", "order.paid", "user.created", "user.seen"),
                 prefix="w", rate_sleep=0.0):
        self.server = server
        self.n = threads
        self.batch = batch
        self.entities = entities
        self.types = types
        self.prefix = prefix
        self.rate_sleep = rate_sleep
        self.stop_flag = threading.Event()
        self.acked = []
        self.errors = []
        self.lock = threading.Lock()
        self.threads = []
        self.count = 0

    def _run(self, k):
        import random
        rnd = random.Random(k * 7919 + 1)
        s = requests.Session()
        seq = 0
        try:
            while not self.stop_flag.is_set():
                size = rnd.randint(*self.batch)
                evs = []
                for _ in range(size):
                    seq += 1
                    evs.append({"entity_id": "%s-%d" % (self.prefix, rnd.randrange(self.entities)),
                                "event_type": rnd.choice(self.types),
                                "payload": {"w": k, "seq": seq, "pad": "x" * rnd.randrange(40)}})
                try:
                    if size == 1:
                        r = s.post(self.server.url + "/api/v1/events", json=evs[0],
                                   timeout=HTTP_TIMEOUT)
                        ok = r.status_code == 200
                        pos = [r.json()["position"]] if ok else []
                    else:
                        r = s.post(self.server.url + "/api/v1/events/batch", json=evs,
                                   timeout=HTTP_TIMEOUT)
                        ok = r.status_code == 200
                        pos = [e["position"] for e in r.json()["events"]] if ok else []
                except requests.RequestException as e:
                    if self.stop_flag.is_set():
                        break
                    self.errors.append(repr(e))
                    break
                if not ok:
                    self.errors.append("%d %s" % (r.status_code, r.text[:200]))
                    break
                with self.lock:
                    self.acked.extend(pos)
                    self.count += len(pos)
                if self.rate_sleep:
                    time.sleep(self.rate_sleep)
        finally:
            s.close()

    def start(self):
        for k in range(self.n):
            t = threading.Thread(target=self._run, args=(k,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def wait_count(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while self.count < n:
            assert not self.errors, self.errors
            assert time.monotonic() < deadline, "writers wrote only %d of %d" % (self.count, n)
            time.sleep(0.01)

    def stop(self, check=True):
        self.stop_flag.set()
        for t in self.threads:
            t.join(HTTP_TIMEOUT + 5)
        if check:
            assert not self.errors, self.errors
        return sorted(self.acked)


def http_stream_lines(server, path, params, timeout=30):
    """An iterator over the lines of a streaming GET (requests, stream=True)."""
    r = requests.get(server.url + path, params=params, stream=True, timeout=timeout)
    return r
