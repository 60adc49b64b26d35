"""Replay results against an independent computation from the query API
(counts per type, entity_snapshots merged in Python), time bounds applied to
every replay, no double counting, cancel mid-replay on a big store,
replays racing concurrent appends, and what a restart keeps (nothing: the
records are in memory; running replays are cancelled at shutdown)."""

import threading
import time

import pytest

import requests

from replayutil import (REPLAY, load_scale, check_error, counters_of, ingest_many, progress, query_all,
                        snapshots_of, start, state, wait_done)

TYPES = ("order.placed", "order.paid", "user.created", "user.renamed")


@pytest.fixture(scope="module")
def timed(module_server):
    """A store of 8 groups of 150 events, 20 ms apart, and the timestamps of
    some events to use as bounds."""
    s = module_server
    for g in range(8):
        ingest_many(s, 150, offset=g * 150, batch=150)
        time.sleep(0.02)
    evs = query_all(s)
    assert len(evs) == 1200
    return s, evs


def counts_via_replay(s, rid, types=TYPES):
    out = {}
    for t in types:
        r = state(s, rid, t, "event_counters")
        if r.status_code == 404:
            continue
        assert r.status_code == 200, r.text
        out[t] = r.json()["state"]["count"]
    return out


CASES = [
    {},
    {"entity_id": "e-3"},
    {"event_type": "order.paid"},
    {"event_type": "user.*"},
    {"entity_id": "e-1", "event_type": "order.*"},
    {"entity_id": "nobody"},
]


@pytest.mark.parametrize("filters", CASES)
@pytest.mark.parametrize("bounds", ["none", "from", "to", "both", "empty"])
def test_event_counters_match_the_query_api(timed, filters, bounds):
    s, evs = timed
    lo, hi = evs[300]["timestamp"], evs[899]["timestamp"]
    body, q = dict(filters), dict(filters)
    if bounds in ("from", "both"):
        body["from_timestamp"] = q["since"] = lo
    if bounds in ("to", "both"):
        body["to_timestamp"] = q["until"] = hi
    if bounds == "empty":  # an instant before every event
        body["to_timestamp"] = q["until"] = "2000-01-01T00:00:00Z"
    body["projection_name"] = "event_counters"
    ans = start(s, body)
    expected = query_all(s, **q)
    assert ans["total_events"] == len(expected)
    p = wait_done(s, ans["replay_id"])
    assert p["status"] == "completed"
    assert p["processed_events"] == len(expected)
    assert counts_via_replay(s, ans["replay_id"]) == counters_of(expected)
    if expected:
        assert ans["from_position"] <= expected[0]["position"]
        assert ans["to_position"] >= expected[-1]["position"]


def test_time_bounds_apply_without_filters(timed):
    """The seed ignored time bounds unless entity_id/event_type was given."""
    s, evs = timed
    lo, hi = evs[450]["timestamp"], evs[749]["timestamp"]
    ans = start(s, {"from_timestamp": lo, "to_timestamp": hi,
                    "projection_name": "event_counters"})
    exact = [e for e in evs if lo <= e["timestamp"] <= hi]
    assert 0 < ans["total_events"] == len(exact) < len(evs)
    assert ans["from_position"] == exact[0]["position"]
    assert ans["to_position"] == exact[-1]["position"]
    wait_done(s, ans["replay_id"])
    assert counts_via_replay(s, ans["replay_id"]) == counters_of(exact)


@pytest.mark.parametrize("bounds", ["none", "to"])
def test_entity_snapshots_match_a_python_merge(timed, bounds):
    s, evs = timed
    body, q = {"projection_name": "entity_snapshots"}, {}
    if bounds == "to":
        body["to_timestamp"] = q["until"] = evs[555]["timestamp"]
    rid = start(s, body)["replay_id"]
    wait_done(s, rid)
    expected = snapshots_of(query_all(s, **q))
    assert len(expected) == 5
    for ent, st in expected.items():
        r = state(s, rid, ent)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == st
        if bounds == "none":  # equals the live projection over the whole log
            live = s.get("/api/v1/entities/%s/snapshot" % ent).json()["snapshot"]
            assert live == st


def test_no_double_counting_and_live_projection_untouched(server):
    ingest_many(server, 400)
    live_before = {e: server.get("/api/v1/entities/%s/snapshot" % e).json()["snapshot"]
                   for e in ("e-0", "e-1")}
    for _ in range(3):  # replays never accumulate into one another
        rid = start(server, {"projection_name": "event_counters"})["replay_id"]
        wait_done(server, rid)
        assert counts_via_replay(server, rid) == counters_of(query_all(server))
    rid = start(server)["replay_id"]  # every projection
    wait_done(server, rid)
    for e, snap in live_before.items():
        assert server.get("/api/v1/entities/%s/snapshot" % e).json()["snapshot"] == snap
        assert state(server, rid, e, "entity_snapshots").json()["state"] == snap


def test_cancel_mid_replay_on_a_big_store(server):
    n = int(100000 * min(1.0, load_scale()))
    ingest_many(server, n)
    # unthrottled: the biggest batch; cancel as soon as it runs
    rid = start(server, {"config": {"batch_size": 100}})["replay_id"]
    r = server.post("%s/%s/cancel" % (REPLAY, rid))
    p = progress(server, rid)
    if r.status_code == 409:  # it finished first: then it really processed all
        assert p["status"] == "completed" and p["processed_events"] == n
    else:
        assert r.status_code == 200 and p["status"] == "cancelled"
        assert p["processed_events"] % 100 == 0 and p["processed_events"] <= n
    # throttled: certainly mid-way
    rid = start(server, {"config": {"batch_size": 50,
                                    "max_events_per_second": 20000}})["replay_id"]
    time.sleep(0.5)
    mid = progress(server, rid)
    assert mid["status"] == "running" and 0 < mid["processed_events"] < n
    t0 = time.monotonic()
    c = server.post("%s/%s/cancel" % (REPLAY, rid))
    assert c.status_code == 200 and time.monotonic() - t0 < 2
    done = c.json()
    assert done["status"] == "cancelled"
    assert mid["processed_events"] <= done["processed_events"] < n
    assert done["progress_percentage"] < 100
    assert done["events_per_second"] <= 20000 * 1.1


def test_replays_racing_concurrent_appends(server):
    ingest_many(server, 3000)
    stop = threading.Event()
    errors = []

    def writer(k):
        i = 0
        try:
            while not stop.is_set() and i < 400:
                evs = [{"entity_id": "w-%d" % k, "event_type": TYPES[j % 4],
                        "payload": {"w": k, "i": i + j}} for j in range(20)]
                # its own connection: requests.Session is not thread-safe
                r = requests.post(server.url + "/api/v1/events/batch", json=evs, timeout=60)
                if r.status_code != 200:
                    errors.append(r.text)
                i += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        checked = 0
        for body in ({"projection_name": "event_counters"},
                     {"projection_name": "event_counters", "event_type": "order.*"},
                     {"projection_name": "event_counters", "entity_id": "w-1"},
                     {"projection_name": "event_counters", "config": {"batch_size": 3}}) * 2:
            ans = start(server, body)
            p = wait_done(server, ans["replay_id"])
            assert p["status"] == "completed"
            assert p["processed_events"] == ans["total_events"]
            q = {k: v for k, v in body.items() if k in ("entity_id", "event_type")}
            expected = [e for e in query_all(server, from_position=ans["from_position"], **q)
                        if e["position"] <= ans["to_position"]] if ans["to_position"] else []
            assert ans["total_events"] == len(expected)
            assert counts_via_replay(server, ans["replay_id"]) == counters_of(expected)
            checked += 1
        assert checked == 8
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    assert server.stats()["total_events"] > 3000


def test_restart_forgets_records_and_shutdown_cancels_running_replays(server):
    ingest_many(server, 2000)
    done_id = start(server)["replay_id"]
    wait_done(server, done_id)
    running = start(server, {"config": {"batch_size": 1, "max_events_per_second": 20}})
    time.sleep(0.1)
    t0 = time.monotonic()
    server.stop()  # SIGTERM: exit 0 (asserted), the running replay is cancelled
    assert time.monotonic() - t0 < 10
    assert " failed: " not in server.stderr()
    server.start()
    for rid in (done_id, running["replay_id"]):
        check_error(server.get("%s/%s" % (REPLAY, rid)), 404, "not_found")
    assert server.get(REPLAY).json() == {"replays": [], "total": 0}
    # the events are durable, so the same replay gives the same answer again
    ans = start(server, {"projection_name": "event_counters"})
    wait_done(server, ans["replay_id"])
    assert ans["total_events"] == 2000
    assert counts_via_replay(server, ans["replay_id"]) == counters_of(query_all(server))


def test_kill9_during_a_replay_loses_no_event(server):
    ingest_many(server, 1000)
    start(server, {"config": {"batch_size": 1, "max_events_per_second": 100}})
    time.sleep(0.1)
    server.kill9()
    server.start()
    assert server.stats()["total_events"] == 1000
    assert server.get(REPLAY).json()["total"] == 0
