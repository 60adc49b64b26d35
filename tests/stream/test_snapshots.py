"""Snapshots: routes and shapes, automatic labelling, pruning, persistence
across kill -9, and entity state that is the same with and without
snapshots."""

import json
import os
import random
import re
import time

import pytest
import requests

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
INFO_KEYS = {"id", "entity_id", "created_at", "as_of", "event_count", "size_bytes",
             "snapshot_type"}


def post_snapshot(server, entity_id):
    return server.post("/api/v1/snapshots", json={"entity_id": entity_id})


def snapshots(server, entity_id=None):
    r = server.get("/api/v1/snapshots", params={"entity_id": entity_id} if entity_id else None)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["snapshots"])
    for s in body["snapshots"]:
        assert set(s) == INFO_KEYS, s
    return body["snapshots"]


def latest(server, entity_id):
    return server.get("/api/v1/snapshots/%s/latest" % entity_id)


def raw_member(text, key):
    """The raw text of top-level member `key` of a JSON object text whose
    value is an object (enough for "state"/"current_state")."""
    i = text.index('"%s":' % key) + len(key) + 3
    depth = 0
    in_str = False
    j = i
    while True:
        c = text[j]
        if in_str:
            if c == "\\":
                j += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                return text[i:j + 1]
        j += 1


def test_routes_and_shapes(server):
    r = post_snapshot(server, "nobody")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = latest(server, "nobody")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert snapshots(server) == []
    for body, status in [(b"{}", 400), (b'{"entity_id": 5}', 400), (b"[1]", 400),
                         (b"{", 400), (b"", 400)]:
        r = server.post("/api/v1/snapshots", data=body,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == status, (body, r.status_code, r.text)
        assert ":" in r.json()["error"] and r.json()["code"]
    r = server.post("/api/v1/snapshots", data=b'{"entity_id":"u"}',
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415

    evs = [server.ingest("u-1", "user.x", {"name": "Al", "n": i, "nested": {"i": i}})
           for i in range(3)]
    server.ingest("u-1", "user.y", [1, 2])  # not an object: ignored by the merge
    server.ingest("u-2", "user.x", {"other": True})
    r = latest(server, "u-1")
    assert r.status_code == 404  # entities exist, but no snapshot yet
    r = post_snapshot(server, "u-1")
    assert r.status_code == 200, r.text
    created = r.json()
    assert set(created) >= {"snapshot_id", "entity_id", "created_at", "event_count",
                            "size_bytes"}
    assert UUID_RE.match(created["snapshot_id"])
    assert created["entity_id"] == "u-1" and created["event_count"] == 4
    assert created["snapshot_type"] == "manual"
    assert TS_RE.match(created["created_at"]) and TS_RE.match(created["as_of"])
    last_ts = server.query(entity_id="u-1")[-1]["timestamp"]
    assert created["as_of"] == last_ts
    assert created["created_at"] >= created["as_of"]

    r = latest(server, "u-1")
    assert r.status_code == 200
    lt = r.json()
    assert lt["snapshot_id"] == created["snapshot_id"]
    assert {k: lt[k] for k in created} == created
    state_raw = raw_member(r.text, "state")
    assert lt["size_bytes"] == len(state_raw.encode())
    assert lt["state"] == {"name": "Al", "n": 2, "nested": {"i": 2}}
    st = server.state("u-1")
    assert raw_member(st.text, "current_state") == state_raw

    lst = snapshots(server)
    assert len(lst) == 1 and lst[0]["id"] == created["snapshot_id"]
    assert {k: lst[0][k] for k in INFO_KEYS - {"id"}} == \
        {k: created[k] for k in INFO_KEYS - {"id"}}
    assert snapshots(server, "u-2") == []
    assert snapshots(server, "nobody") == []

    # a second request without new events: a new snapshot, and it is the latest
    second = post_snapshot(server, "u-1").json()
    assert second["snapshot_id"] != created["snapshot_id"]
    assert latest(server, "u-1").json()["snapshot_id"] == second["snapshot_id"]
    lst = snapshots(server, "u-1")
    assert [s["id"] for s in lst] == [second["snapshot_id"], created["snapshot_id"]]

    # entity ids with characters that need escaping in paths
    server.ingest("a b/c?d", "t", {"x": 1})
    assert post_snapshot(server, "a b/c?d").status_code == 200
    r = server.get("/api/v1/snapshots/%s/latest" % requests.utils.quote("a b/c?d", safe=""))
    assert r.status_code == 200 and r.json()["entity_id"] == "a b/c?d"
    assert r.json()["state"] == {"x": 1}
    assert len(snapshots(server, "a b/c?d")) == 1


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.02)


def test_automatic_snapshots_labelled_and_pruned(server_factory):
    s = server_factory(args=["--snapshot-events", "5", "--snapshot-keep", "3",
                             "--snapshot-seconds", "0"])
    for i in range(23):
        s.ingest("auto", "t.x", {"i": i, "k%d" % (i % 4): i})
    s.ingest("small", "t.x", {"i": 0})
    lst = wait_for(lambda: [x for x in snapshots(s, "auto") if x["event_count"] == 20] and
                   snapshots(s, "auto"), what="automatic snapshot at 20 events")
    assert [x["event_count"] for x in lst] == [20, 15, 10]  # newest first, pruned to 3
    assert all(x["snapshot_type"] == "automatic" for x in lst)
    assert snapshots(s, "small") == []
    evs = s.query(entity_id="auto")
    for x in lst:
        assert x["as_of"] == evs[x["event_count"] - 1]["timestamp"]
    # the state of an automatic snapshot is the state at its last event
    lt = latest(s, "auto").json()
    assert lt["event_count"] == 20 and lt["snapshot_type"] == "automatic"
    st = s.state("auto", as_of=lt["as_of"]).json()
    assert st["current_state"] == lt["state"]
    assert st["version"] == 20
    # a manual one is labelled manual and counts against the same limit
    m = post_snapshot(s, "auto").json()
    assert m["snapshot_type"] == "manual" and m["event_count"] == 23
    lst = snapshots(s, "auto")
    assert [(x["event_count"], x["snapshot_type"]) for x in lst] == \
        [(23, "manual"), (20, "automatic"), (15, "automatic")]


def test_automatic_snapshot_after_seconds(server_factory):
    s = server_factory(args=["--snapshot-events", "0", "--snapshot-seconds", "1"])
    s.ingest("tm", "t", {"a": 1})
    s.ingest("tm", "t", {"a": 2})
    time.sleep(0.3)
    assert snapshots(s, "tm") == []  # no event threshold: nothing yet
    assert post_snapshot(s, "tm").json()["event_count"] == 2
    time.sleep(1.1)
    s.ingest("tm", "t", {"a": 3})
    lst = wait_for(lambda: len(snapshots(s, "tm")) == 2 and snapshots(s, "tm"),
                   what="time-based automatic snapshot")
    assert [(x["event_count"], x["snapshot_type"]) for x in lst] == \
        [(3, "automatic"), (2, "manual")]


def test_manual_pruning(server_factory):
    s = server_factory(args=["--snapshot-keep", "3", "--snapshot-events", "0"])
    ids = []
    for i in range(5):
        s.ingest("p", "t", {"i": i})
        ids.append(post_snapshot(s, "p").json()["snapshot_id"])
    lst = snapshots(s, "p")
    assert [x["id"] for x in lst] == ids[::-1][:3]
    assert [x["event_count"] for x in lst] == [5, 4, 3]
    # the pruned ones stay pruned after a restart
    s.restart()
    assert snapshots(s, "p") == lst
    s.kill9()
    s.start()
    assert snapshots(s, "p") == lst


def test_snapshots_persist_across_kill9(server_factory):
    s = server_factory(args=["--snapshot-events", "4", "--snapshot-keep", "5"])
    for i in range(10):
        s.ingest("k", "t", {"i": i, "s": "x" * i})
    s.ingest("k2", "t", {"z": None})
    manual = post_snapshot(s, "k").json()
    manual2 = post_snapshot(s, "k2").json()
    wait_for(lambda: len(snapshots(s, "k")) == 3, what="automatic snapshots at 4 and 8")
    before_k = latest(s, "k").text
    before_k2 = latest(s, "k2").text
    before_list = sorted(snapshots(s), key=lambda x: x["id"])
    # automatic snapshots are persisted asynchronously: give them a moment,
    # then crash
    time.sleep(0.5)
    s.kill9()
    s.start()
    assert latest(s, "k").text == before_k
    assert latest(s, "k2").text == before_k2
    assert latest(s, "k").json()["snapshot_id"] == manual["snapshot_id"]
    assert latest(s, "k2").json()["snapshot_id"] == manual2["snapshot_id"]
    assert sorted(snapshots(s), key=lambda x: x["id"]) == before_list
    # and across a graceful restart too; new snapshots keep working
    s.restart()
    assert sorted(snapshots(s), key=lambda x: x["id"]) == before_list
    s.ingest("k", "t", {"i": 10})
    assert post_snapshot(s, "k").json()["event_count"] == 11


# --- State with and without snapshots ---------------------------------------------


def _random_payload(rnd, i):
    kind = rnd.random()
    if kind < 0.08:
        return rnd.choice([None, 5, "s", [1, {"a": 2}], True])
    keys = ["a", "b", "c", "d", "e", "nested", "ünï", "x y"]
    p = {}
    for _ in range(rnd.randint(0, 4)):
        k = rnd.choice(keys)
        v = rnd.choice([None, i, -i * 1.5, "v%d" % i, [i, None], {"deep": {"i": i}}, {},
                        "\u00e9\\\"q", 12345678901234567890, 0.1])
        p[k] = v
    return p


def _merge(events):
    st = {}
    for e in events:
        if isinstance(e["payload"], dict):
            st.update(e["payload"])
    return st


def _state_key(resp_text, ent_events):
    """The comparable parts of a state response: raw current_state bytes,
    counts, history; timestamps and ids are checked against the server's
    own events of the entity and then left out."""
    body = json.loads(resp_text)
    v = body["version"]
    assert body["last_updated"] == ent_events[v - 1]["timestamp"], resp_text
    hist = []
    for h in body["history"]:
        own = ent_events[h["version"] - 1]
        assert (h["timestamp"], h["event_id"]) == (own["timestamp"], own["id"]), resp_text
        hist.append((h["type"], json.dumps(h["payload"]), h["version"]))
    return (raw_member(resp_text, "current_state"), body["event_count"], v, hist)


def test_state_same_with_and_without_snapshots(server_factory):
    seed = int(os.environ.get("ALLSOURCE_STREAM_SEED", "0") or 0) or random.randrange(1 << 30)
    rnd = random.Random(seed)
    # a: snapshots every 3 events of an entity and small Parquet segments
    a = server_factory(args=["--snapshot-events", "3", "--snapshot-keep", "4",
                             "--segment-events", "37"])
    b = server_factory(args=["--snapshot-events", "0", "--snapshot-seconds", "0"])
    ents = ["s-%d" % i for i in range(6)]
    history = []
    n = 240
    i = 0
    while i < n:
        # single events and small batches (identical on both servers)
        size = rnd.choice([1, 1, 1, 2, 5])
        batch = [{"entity_id": rnd.choice(ents), "event_type": "t.%d" % rnd.randrange(3),
                  "payload": _random_payload(rnd, i + k)} for k in range(size)]
        for srv in (a, b):
            srv.batch(batch)
        history += batch
        i += size
        if rnd.random() < 0.05:  # some manual snapshots on a as well
            assert post_snapshot(a, rnd.choice(ents)).status_code in (200, 404)
    # automatic snapshots are taken in the background: wait until they are in
    n = len(history)
    wait_for(lambda: sum(x["snapshot_type"] == "automatic" for x in snapshots(a)) >= len(ents),
             what="automatic snapshots")
    time.sleep(0.3)
    assert snapshots(b) == []
    checked = _compare_states(a, b, ents, history, n, seed)
    assert checked > n // 2, checked
    # the same after both restart (a's snapshots come back from its meta store)
    a.restart()
    b.restart()
    _compare_states(a, b, ents, history, n, seed)


def _compare_states(a, b, ents, history, n, seed):
    ta = [e["timestamp"] for e in a.query()]
    tb = [e["timestamp"] for e in b.query()]
    assert len(ta) == len(tb) == n
    checked = 0
    for ent in ents:
        ea = a.query(entity_id=ent)
        eb = b.query(entity_id=ent)
        assert [e["position"] for e in ea] == [e["position"] for e in eb]
        # as_of: no bound, every event's timestamp, and between events
        # (only where the next event's timestamp differs on both servers, so
        # that an as_of selects the same events on both)
        points = [(None, None)]
        for e in ea:
            k = e["position"] - 1
            if k + 1 == n:
                points.append((ta[k], tb[k]))
                continue
            if ta[k] < ta[k + 1] and tb[k] < tb[k + 1]:
                points.append((ta[k], tb[k]))
            pa, pb = _plus_1us(ta[k]), _plus_1us(tb[k])
            if pa < ta[k + 1] and pb < tb[k + 1]:
                points.append((pa, pb))
        points.append(("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"))
        for pa, pb in points:
            ra = a.state(ent, **({"as_of": pa} if pa else {}))
            rb = b.state(ent, **({"as_of": pb} if pb else {}))
            assert ra.status_code == rb.status_code, (ent, pa, ra.text, rb.text)
            if ra.status_code != 200:
                continue
            ka, kb = _state_key(ra.text, ea), _state_key(rb.text, eb)
            assert ka == kb, "seed %d, entity %s, as_of %s:\n%s\n%s" % (seed, ent, pa,
                                                                        ra.text, rb.text)
            # and the merge rule against a brute-force model
            upto = [h for j, h in enumerate(history)
                    if h["entity_id"] == ent and (pa is None or ta[j] <= pa)]
            assert json.loads(ka[0]) == _merge(upto), (seed, ent, pa)
            assert ka[1] == len(upto)
            checked += 1
        # each server alone at every one of its own event timestamps, shared
        # ones included (a batch can give several events one timestamp):
        # exactly the events with timestamp <= as_of
        for srv, ts, own in ((a, ta, ea), (b, tb, eb)):
            for e in own:
                t = ts[e["position"] - 1]
                r = srv.state(ent, as_of=t)
                assert r.status_code == 200, r.text
                key = _state_key(r.text, own)
                upto = [h for j, h in enumerate(history) if h["entity_id"] == ent and ts[j] <= t]
                assert json.loads(key[0]) == _merge(upto), (seed, ent, t, r.text)
                assert key[1] == key[2] == len(upto), (seed, ent, t, r.text)
    return checked


def _plus_1us(ts):
    # "YYYY-MM-DDTHH:MM:SS.ffffffZ" + 1 microsecond (the server prints 6 digits)
    import datetime
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ") + \
        datetime.timedelta(microseconds=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_snapshots_consistent_after_losing_an_unsynced_tail(server_factory):
    """After kill -9 in interval mode every snapshot matches the log
    (event_count <= the entity's events, as_of = that event's timestamp,
    state = state at as_of).  (kill -9 keeps written data in the page cache;
    the torn-tail case is the next test.)"""
    s = server_factory(args=["--snapshot-events", "3"], durability="interval=5000")
    for i in range(12):
        s.ingest("v", "t", {"i": i})
    post_snapshot(s, "v")
    wait_for(lambda: len(snapshots(s, "v")) >= 4, what="snapshots")
    s.kill9()
    s.start()
    evs = s.query(entity_id="v")
    for x in snapshots(s):
        assert x["entity_id"] == "v"
        assert 1 <= x["event_count"] <= len(evs), (x, len(evs))
        assert x["as_of"] == evs[x["event_count"] - 1]["timestamp"]
    if evs:
        st = s.state("v")
        assert st.status_code == 200
        assert st.json()["current_state"] == {"i": len(evs) - 1}
        assert st.json()["version"] == len(evs)
        lt = latest(s, "v")
        if lt.status_code == 200:
            lt = lt.json()
            assert lt["state"] == s.state("v", as_of=lt["as_of"]).json()["current_state"]
    # new events and snapshots continue consistently from there
    for i in range(4):
        s.ingest("v", "t", {"i": 100 + i})
    st = s.state("v").json()
    assert st["version"] == len(evs) + 4 and st["current_state"] == {"i": 103}


def _tear_wal_tail(data_dir, nbytes=3):
    """Cuts the last bytes of the newest WAL record (a torn last record, as
    after a power loss): recovery drops that event.  A live segment ends in
    zeros written ahead of the records (after kill -9 they stay), so those
    go first, then `nbytes` of the record itself."""
    import glob
    segs = sorted(glob.glob(os.path.join(data_dir, "wal", "wal-*.log")))
    assert segs, os.listdir(data_dir)
    with open(segs[-1], "r+b") as f:
        data = f.read()
        end = len(data.rstrip(b"\0"))
        f.truncate(end - nbytes)


def test_snapshot_of_a_lost_event_never_comes_back(server_factory):
    """A snapshot whose last event was lost (torn WAL tail, as after a power
    loss in interval mode) is ignored at start-up; it must stay ignored
    after a new event takes the lost event's position (same entity, same
    version) and the server restarts again."""
    s = server_factory(args=["--snapshot-events", "0", "--snapshot-seconds", "0"],
                       durability="interval=1000")
    for i in range(12):
        s.ingest("v", "t", {"i": i})
    snap = post_snapshot(s, "v").json()
    assert snap["event_count"] == 12
    s.kill9()
    _tear_wal_tail(s.data_dir)
    s.start()
    assert len(s.query(entity_id="v")) == 11
    assert snapshots(s, "v") == []
    assert s.state("v").json()["current_state"] == {"i": 10}
    r = s.ingest("v", "t", {"j": "new"})
    assert (r["position"], r["version"]) == (12, 12)
    s.restart()
    st = s.state("v").json()
    assert st["version"] == 12
    assert st["current_state"] == {"i": 10, "j": "new"}, st["current_state"]
    assert snap["snapshot_id"] not in [x["id"] for x in snapshots(s)]
