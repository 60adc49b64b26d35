"""NDJSON GET /api/v1/events/subscribe: catch-up then live (no gap, no
duplicate, even under concurrent writers), heartbeats, filters, bad
parameters."""

import datetime
import json
import queue
import socket
import threading
import time
import urllib.parse

import pytest
import requests

from streamutil import Writers, assert_contiguous, scaled, store_events


def ev(entity, etype, **payload):
    return {"entity_id": entity, "event_type": etype, "payload": payload or {"k": 1}}


def parse_ts(s):
    assert s.endswith("Z")
    return datetime.datetime.strptime(s[:-1] + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z")


class Sub:
    """A subscription over a raw socket (HTTP/1.1, chunked), read by a
    thread into a queue of (arrival time, line)."""

    def __init__(self, server, **params):
        q = urllib.parse.urlencode(params)
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        self.sock.sendall(("GET /api/v1/events/subscribe%s HTTP/1.1\r\nHost: x\r\n\r\n"
                           % ("?" + q if q else "")).encode())
        self.f = self.sock.makefile("rb")
        status = self.f.readline().split()
        self.status_code = int(status[1])
        self.headers = {}
        while True:
            h = self.f.readline()
            if h in (b"\r\n", b""):
                break
            k, v = h.decode().split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        buf = b""
        try:
            while True:
                size = int(self.f.readline().split(b";")[0], 16)
                if size == 0:
                    break
                data = self.f.read(size)
                self.f.readline()
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.q.put((time.monotonic(), line.decode("utf-8")))
        except Exception as e:  # noqa: B902
            self.q.put((time.monotonic(), e))
        self.q.put((time.monotonic(), None))

    def next(self, timeout=30):
        t, line = self.q.get(timeout=timeout)
        if isinstance(line, Exception):
            raise line
        return t, line

    def events(self, n, timeout=30):
        """The next n event lines (raw), skipping heartbeats."""
        out = []
        while len(out) < n:
            _, line = self.next(timeout)
            assert line is not None, "stream ended"
            if line.startswith('{"heartbeat"'):
                continue
            out.append(line)
        return out

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def test_shape_and_catch_up_then_live(server):
    n = scaled(2000, 200)
    server.batch([ev("e-%d" % (i % 9), "c.x", i=i) for i in range(n)])
    s = Sub(server, from_position=1, heartbeat_ms=60000)
    assert s.status_code == 200
    assert s.headers["content-type"].startswith("application/x-ndjson")
    lines = s.events(n)
    _, raws = store_events(server)
    assert lines == raws
    # then a heartbeat right away (idle), with the committed position
    _, hb = s.next(10)
    hb = json.loads(hb)
    assert hb["heartbeat"] is True and hb["position"] == n
    parse_ts(hb["timestamp"])
    # then live events
    server.batch([ev("live", "c.y", i=i) for i in range(5)])
    lines = s.events(5)
    _, raws = store_events(server, from_position=n + 1)
    assert lines == raws
    s.close()


def test_no_from_position_only_new_events(server):
    server.batch([ev("old", "t", i=i) for i in range(10)])
    s = Sub(server, heartbeat_ms=60000)
    _, hb = s.next(10)  # the first heartbeat comes right away
    assert json.loads(hb) == {"heartbeat": True, "position": 10,
                              "timestamp": json.loads(hb)["timestamp"]}
    server.ingest("new", "t", {"n": 1})
    lines = s.events(1)
    assert json.loads(lines[0])["position"] == 11
    s.close()


def test_seam_under_concurrent_writers(server):
    server.batch([ev("p", "pre", i=i) for i in range(scaled(1000, 100))])
    w = Writers(server, threads=3, batch=(1, 30), prefix="n").start()
    w.wait_count(scaled(300, 30))
    frm = max(1, server.committed() - scaled(700, 70))
    s = Sub(server, from_position=frm, heartbeat_ms=60000)
    w.wait_count(scaled(1500, 150))
    w.stop()
    final = server.committed()
    got, lines = [], []
    while not got or got[-1]["position"] < final:
        line = s.events(1)[0]
        lines.append(line)
        got.append(json.loads(line))
    assert_contiguous([e["position"] for e in got], frm, final)
    _, raws = store_events(server, from_position=frm)
    assert lines == raws
    # nothing but heartbeats afterwards
    t_end = time.monotonic() + 0.3
    while time.monotonic() < t_end:
        try:
            _, line = s.next(0.3)
        except queue.Empty:
            break
        assert line.startswith('{"heartbeat"'), line
    s.close()


def test_heartbeats_at_the_interval(server):
    s = Sub(server, heartbeat_ms=200)
    beats = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 2.2:
        t, line = s.next(5)
        hb = json.loads(line)
        assert hb["heartbeat"] is True and hb["position"] == 0
        beats.append((t, parse_ts(hb["timestamp"])))
    # about 11 in 2.2 s; allow a loaded machine some slack
    assert 6 <= len(beats) <= 13, len(beats)
    gaps = [(b[1] - a[1]).total_seconds() for a, b in zip(beats, beats[1:])]
    assert all(g >= 0.19 for g in gaps), gaps
    assert sum(gaps) / len(gaps) < 0.6, gaps
    # a heartbeat reports the committed position
    server.batch([ev("h", "t")] * 3)
    lines = s.events(3)
    assert [json.loads(x)["position"] for x in lines] == [1, 2, 3]
    _, line = s.next(5)
    assert json.loads(line)["position"] == 3
    s.close()


def test_default_heartbeat_is_quiet(server):
    s = Sub(server)
    s.next(5)  # the first one
    with pytest.raises(queue.Empty):
        s.next(1.0)
    s.close()


FILTERS = [
    ({"entity_id": "a"}, lambda e: e["entity_id"] == "a"),
    ({"event_type": "order.paid"}, lambda e: e["event_type"] == "order.paid"),
    ({"event_type": "order.*"}, lambda e: e["event_type"].startswith("order.")),
    ({"entity_id": "b", "event_type": "order.*"},
     lambda e: e["entity_id"] == "b" and e["event_type"].startswith("order.")),
]


@pytest.mark.parametrize("params,pred", FILTERS, ids=[json.dumps(f[0]) for f in FILTERS])
def test_filters(server, params, pred):
    import random
    rnd = random.Random(3)
    evs = [ev(rnd.choice(["a", "b", "ab"]),
              rnd.choice(["order.paid", "order.created", "order", "orders.x", "user.x"]), i=i)
           for i in range(400)]
    server.batch(evs[:300])
    s = Sub(server, from_position=1, heartbeat_ms=60000, **params)
    all_evs, raws = store_events(server)
    expect = [r for e, r in zip(all_evs, raws) if pred(e)]
    assert s.events(len(expect)) == expect
    server.batch(evs[300:])
    all_evs, raws = store_events(server, from_position=301)
    expect = [r for e, r in zip(all_evs, raws) if pred(e)]
    assert s.events(len(expect)) == expect
    s.close()


@pytest.mark.parametrize("params", [
    {"from_position": "0"}, {"from_position": "-1"}, {"from_position": "x"},
    {"from_position": ""}, {"heartbeat_ms": "99"}, {"heartbeat_ms": "300001"},
    {"heartbeat_ms": "abc"}, {"heartbeat_ms": ""}, {"heartbeat_ms": "1e3"},
])
def test_bad_parameters_are_400(server, params):
    r = requests.get(server.url + "/api/v1/events/subscribe", params=params, timeout=10)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_query" and ":" in body["error"]


def test_heartbeat_bounds_accepted(server):
    for hb in ("100", "300000"):
        s = Sub(server, heartbeat_ms=hb)
        assert s.status_code == 200
        json.loads(s.next(5)[1])
        s.close()


def test_many_ndjson_subscribers_identical(server):
    from streamutil import Writers as W
    nsubs = 30
    subs = [Sub(server, heartbeat_ms=60000) for _ in range(nsubs)]
    for s in subs:
        s.next(10)  # the first heartbeat: subscribed
    start = server.committed() + 1
    w = W(server, threads=2, batch=(1, 20), prefix="nd").start()
    w.wait_count(scaled(1500, 150))
    acked = w.stop()
    final = server.committed()
    _, raws = store_events(server, from_position=start)
    for k, s in enumerate(subs):
        assert s.events(final - start + 1) == raws, "subscriber %d" % k
    assert max(acked) == final
    for s in subs:
        s.close()


def test_abrupt_disconnects_while_parked_and_streaming(server):
    """Clients vanish (RST) while parked, while streaming a catch-up and
    right after subscribing; the server keeps serving and shuts down
    cleanly (the fixture asserts exit 0 and no sanitizer report)."""
    import struct
    server.batch([ev("x", "t", i=i, pad="q" * 200) for i in range(scaled(5000, 500))])
    socks = []
    for k in range(scaled(40, 10)):
        params = {"heartbeat_ms": 100} if k % 2 else {"from_position": 1}
        s = Sub(server, **params)
        socks.append(s)
    time.sleep(0.3)
    for s in socks:
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sock.close()
    for _ in range(20):  # subscribe and leave at once
        c = socket.create_connection(("127.0.0.1", server.port))
        c.sendall(b"GET /api/v1/events/subscribe?from_position=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    server.batch([ev("y", "t")] * 10)
    s = Sub(server, from_position=1, heartbeat_ms=60000)
    n = server.committed()
    assert len(s.events(n)) == n
    s.close()
    assert requests.get(server.url + "/health", timeout=10).status_code == 200
