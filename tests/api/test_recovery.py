"""What must survive a restart (graceful or kill -9), including events in
sealed WAL segments: ids (get by id, idempotent retries, id conflicts),
per-entity versions (expected_version), positions, time order, state."""

import time

import pytest

from apiutil import new_id


def _fill(server, rounds=4, per=60, pad=1500):
    """Writes enough to roll several 64 KiB segments; returns the events
    sent as (id, entity, payload, result)."""
    out = []
    for r in range(rounds):
        evs = [{"entity_id": "r-%d" % (i % 4), "event_type": "rec.t",
                "payload": {"r": r, "i": i, "pad": "x" * pad}, "id": new_id()}
               for i in range(per)]
        for i, e in enumerate(evs):
            if i % 2 == 0:
                e["metadata"] = {"trace": "%d-%d" % (r, i), "n": 0.10}
            if i % 3 == 0:
                e["tenant_id"] = "tenant-%d" % (i % 2)
        res = server.batch(evs)
        out += [(e, x) for e, x in zip(evs, res["events"])]
    return out


@pytest.mark.parametrize("how", ["graceful", "kill9"])
def test_ids_versions_positions_survive_restart(server_factory, how):
    s = server_factory(args=["--segment-size", "65536"])
    sent = _fill(s)
    last_ts = sent[-1][1]["timestamp"]
    if how == "graceful":
        s.restart()
    else:
        s.kill9()
        s.start()
    n = len(sent)
    assert s.stats()["total_events"] == n
    # every event by id, also those in the oldest (sealed) segments
    for e, x in sent[:5] + sent[n // 2:n // 2 + 5] + sent[-5:]:
        r = s.get("/api/v1/events/" + e["id"])
        assert r.status_code == 200
        got = r.json()
        assert (got["position"], got["version"], got["timestamp"], got["payload"]) == \
            (x["position"], x["version"], x["timestamp"], e["payload"])
        assert got["metadata"] == e.get("metadata")
        assert got["tenant_id"] == e.get("tenant_id", "default")
    for t in ("tenant-0", "tenant-1", "default"):
        assert [q["id"] for q in s.query(tenant_id=t)] == \
            [e["id"] for e, _ in sent if e.get("tenant_id", "default") == t]
    assert [q["metadata"] for q in s.query()] == [e.get("metadata") for e, _ in sent]
    # an idempotent retry of the newest event (still in the WAL) returns it
    e, x = sent[-1]
    assert s.ingest(**e) == {**x, "duplicate": True}
    # an old id with new content is a conflict
    e0 = dict(sent[0][0], payload={"changed": True})
    r = s.post_event(e0)
    assert r.status_code == 409 and r.json()["code"] == "id_conflict"
    assert s.stats()["total_events"] == n
    # versions continue; positions continue; time does not go backwards
    v = len([1 for e, _ in sent if e["entity_id"] == "r-1"])
    r = s.post_event({"entity_id": "r-1", "event_type": "rec.t", "payload": {},
                      "expected_version": v - 1})
    assert r.status_code == 409 and r.json()["actual_version"] == v
    res = s.ingest("r-1", "rec.t", {"after": True}, expected_version=v)
    assert res["position"] == n + 1 and res["version"] == v + 1
    assert res["timestamp"] >= last_ts
    st = s.state("r-1").json()
    assert st["event_count"] == v + 1 and len(st["history"]) == v + 1
    # the whole log, in order, with time filters still working
    evs = s.query()
    assert [e["position"] for e in evs] == list(range(1, n + 2))
    mid = sent[n // 2][1]["timestamp"]
    assert [e["position"] for e in s.query(since=mid)] == \
        [e["position"] for e in evs if e["timestamp"] >= mid]
    assert [e["position"] for e in s.query(until=mid, event_type="rec.*")] == \
        [e["position"] for e in evs if e["timestamp"] <= mid]


def wait_sealed(s, position, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = s.stats()
        assert "sealed_position" in st, st
        if st["sealed_position"] >= position:
            return
        time.sleep(0.02)
    raise AssertionError("position %d not sealed within %d s: %s" % (position, timeout, st))


@pytest.mark.parametrize("how", ["graceful", "kill9"])
def test_idempotent_retry_of_sealed_events_after_restart(server_factory, how):
    s = server_factory(args=["--segment-size", "65536"])
    sent = _fill(s)
    n = len(sent)
    for e, x in (sent[0], sent[n // 2]):  # before the restart: fine
        assert s.ingest(**e) == {**x, "duplicate": True}
    wait_sealed(s, sent[n // 2][1]["position"])
    if how == "graceful":
        s.restart()
    else:
        s.kill9()
        s.start()
    for e, x in (sent[0], sent[n // 2]):
        r = s.post_event(e)
        if r.status_code != 200 or r.json() != {**x, "duplicate": True}:
            raise AssertionError(r.text)
    again = s.post("/api/v1/events/batch", json=[e for e, _ in sent[:10]])
    if again.status_code != 200:
        raise AssertionError(again.text)
    again = again.json()
    assert [a["position"] for a in again["events"]] == [x["position"] for _, x in sent[:10]]
    assert all(a["duplicate"] for a in again["events"])
    assert s.stats()["total_events"] == n


def test_repeated_restarts_are_stable(server_factory):
    s = server_factory(args=["--segment-size", "65536"])
    ids = []
    for k in range(4):
        ids += [x["event_id"] for _, x in _fill(s, rounds=1, per=50)]
        if k % 2:
            s.kill9()
            s.start()
        else:
            s.restart()
        assert [e["id"] for e in s.query()] == ids
        assert s.stats()["recovered_events"] == len(ids)
