"""GET /api/v1/entities/{id}/state and /snapshot: merge rules, full
event_count/history (also past 100 events, unlike the seed), exact value
bytes, key order, and the entity_snapshots projection semantics."""

import json

import pytest

from apiutil import TS_RE, UUID_RE, raw_array_items, raw_members, strict_json, utf8


def test_state_shape(server):
    a = server.ingest("u1", "user.created", {"name": "Alice"})
    b = server.ingest("u1", "user.upgraded", {"plan": "pro"})
    r = server.state("u1")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    st = r.json()
    assert list(st) == ["entity_id", "last_updated", "event_count", "version", "as_of",
                        "current_state", "history"]
    assert st == {
        "entity_id": "u1", "last_updated": b["timestamp"], "event_count": 2, "version": 2,
        "as_of": None, "current_state": {"name": "Alice", "plan": "pro"},
        "history": [
            {"event_id": a["event_id"], "type": "user.created", "timestamp": a["timestamp"],
             "payload": {"name": "Alice"}, "version": 1},
            {"event_id": b["event_id"], "type": "user.upgraded", "timestamp": b["timestamp"],
             "payload": {"plan": "pro"}, "version": 2}]}
    for h in st["history"]:
        assert list(h) == ["event_id", "type", "timestamp", "payload", "version"]
        assert UUID_RE.match(h["event_id"]) and TS_RE.match(h["timestamp"])


def test_state_merge_rules(server):
    payloads = [
        '{"a":1,"nested":{"x":1,"y":2},"keep":"k"}',
        '[1,2,3]',                       # not an object: skipped
        '{"nested":{"z":3},"b":0.1}',    # shallow: nested replaced
        '"scalar"',                       # skipped
        'null',                           # skipped
        '{"a":null,"big":12345678901234567890123}',  # null stored as null
        '{"c":[1,{"d":2}],"b":1.50}',
    ]
    for p in payloads:
        server.ingest_raw('{"entity_id":"m","event_type":"t","payload":%s}' % p)
    r = server.state("m")
    st = r.json()
    assert st["event_count"] == 7 and st["version"] == 7
    assert len(st["history"]) == 7
    members = raw_members(dict(raw_members(utf8(r)))["current_state"])
    # keys keep first-seen order; values are the exact bytes last sent
    assert members == [("a", "null"), ("nested", '{"z":3}'), ("keep", '"k"'), ("b", "1.50"),
                       ("big", "12345678901234567890123"), ("c", '[1,{"d":2}]')]


def test_state_of_only_non_object_payloads(server):
    for p in (1, "x", [1], None, True):
        server.ingest("scalars", "t", p)
    st = server.state("scalars").json()
    assert st["current_state"] == {}
    assert st["event_count"] == 5 and st["version"] == 5
    assert [h["payload"] for h in st["history"]] == [1, "x", [1], None, True]


def test_state_covers_all_events_past_100(server):
    n = 150
    server.batch([{"entity_id": "many", "event_type": "inc", "payload": {"value": i}}
                  for i in range(n)])
    server.ingest("other", "t", 1)
    st = server.state("many").json()
    assert st["event_count"] == n and st["version"] == n
    assert len(st["history"]) == n
    assert [h["version"] for h in st["history"]] == list(range(1, n + 1))
    assert st["current_state"] == {"value": n - 1}
    # and again after more events (auto snapshots must not shrink anything)
    for i in range(n, n + 10):
        server.ingest("many", "inc", {"value": i})
    st = server.state("many").json()
    assert st["event_count"] == n + 10 and len(st["history"]) == n + 10
    assert st["current_state"] == {"value": n + 9}


def test_state_other_entities_do_not_leak(server):
    server.ingest("p", "t", {"a": 1})
    server.ingest("p2", "t", {"b": 2})
    server.ingest("p/x", "t", {"c": 3})
    assert server.state("p").json()["current_state"] == {"a": 1}
    assert server.state("p2").json()["current_state"] == {"b": 2}
    assert server.state("p/x").json()["current_state"] == {"c": 3}


def test_entity_ids_that_look_like_routes(server):
    for ent in ("state", "snapshot", "a/state", "b/snapshot/state", "api/v1/stats"):
        server.ingest(ent, "t", {"id": ent})
    for ent in ("state", "snapshot", "a/state", "b/snapshot/state", "api/v1/stats"):
        r = server.get("/api/v1/entities/%s/state" % ent)
        assert r.status_code == 200, ent
        assert r.json()["entity_id"] == ent and r.json()["current_state"] == {"id": ent}
        r = server.get("/api/v1/entities/%s/snapshot" % ent)
        assert r.status_code == 200, ent
        assert r.json()["snapshot"] == {"id": ent}
    # a percent-encoded slash is the same entity as a literal one
    assert server.get("/api/v1/entities/a%2Fstate/state").json()["entity_id"] == "a/state"


def test_state_unknown_entity_404(server):
    server.ingest("known", "t", {})
    r = server.state("unknown")
    assert r.status_code == 404
    body = strict_json(r)
    assert body == {"error": "Entity not found: unknown", "code": "not_found"}


# --- snapshot (entity_snapshots projection) ---------------------------------

def test_snapshot_shape(server):
    server.ingest("s1", "t", {"a": 1, "n": {"x": 1}})
    server.ingest("s1", "t", {"b": 2, "n": {"y": 2}})
    r = server.get("/api/v1/entities/s1/snapshot")
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["entity_id", "snapshot", "from_projection"]
    assert body == {"entity_id": "s1", "snapshot": {"a": 1, "n": {"y": 2}, "b": 2},
                    "from_projection": "entity_snapshots"}
    assert body["snapshot"] == server.state("s1").json()["current_state"]


def test_snapshot_starts_from_first_payload_of_any_type(server):
    server.ingest("arr", "t", [1, 2])
    server.ingest("arr", "t", {"a": 1})   # state is not an object: ignored
    assert server.get("/api/v1/entities/arr/snapshot").json()["snapshot"] == [1, 2]
    server.ingest("nul", "t", None)
    server.ingest("nul", "t", {"a": 1})
    assert server.get("/api/v1/entities/nul/snapshot").json()["snapshot"] is None
    server.ingest("obj", "t", {"a": 1})
    server.ingest("obj", "t", "scalar")   # not an object: ignored
    server.ingest("obj", "t", {"b": 2})
    assert server.get("/api/v1/entities/obj/snapshot").json()["snapshot"] == {"a": 1, "b": 2}
    # the state route starts from {} instead
    assert server.state("arr").json()["current_state"] == {"a": 1}


def test_snapshot_is_current_right_after_append(server):
    for i in range(30):
        server.ingest("live", "t", {"i": i})
        assert server.get("/api/v1/entities/live/snapshot").json()["snapshot"] == {"i": i}


def test_snapshot_exact_number_bytes(server):
    server.ingest_raw('{"entity_id":"num","event_type":"t","payload":{"x":0.1,"y":1e400}}')
    r = server.get("/api/v1/entities/num/snapshot")
    snap = dict(raw_members(utf8(r)))["snapshot"]
    assert dict(raw_members(snap)) == {"x": "0.1", "y": "1e400"}


def test_snapshot_unknown_entity_404(server):
    r = server.get("/api/v1/entities/ghost/snapshot")
    assert r.status_code == 404
    assert strict_json(r) == {"error": "Entity not found: ghost", "code": "not_found"}
