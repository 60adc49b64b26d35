"""POST /api/v1/events and /api/v1/events/batch: batches in all three forms,
atomicity, optimistic concurrency (expected_version), idempotent retries with
client-supplied ids, and the accepted side of every size limit."""

import json
import threading

import pytest

from apiutil import UUID_RE, new_id, strict_json


def ev(entity="e", etype="t", payload=None, **kw):
    d = {"entity_id": entity, "event_type": etype, "payload": {} if payload is None else payload}
    d.update(kw)
    return d


# --- batches ------------------------------------------------------------------

def _check_batch_result(body, n, first):
    assert set(body) == {"events", "count", "first_position", "last_position"}
    assert body["count"] == n == len(body["events"])
    assert body["first_position"] == first
    assert body["last_position"] == first + n - 1
    assert [e["position"] for e in body["events"]] == list(range(first, first + n))
    for e in body["events"]:
        assert set(e) == {"event_id", "timestamp", "position", "version", "duplicate"}
        assert UUID_RE.match(e["event_id"]) and e["duplicate"] is False


def test_batch_json_array(server):
    server.ingest("x", "t", 0)
    body = server.batch([ev("a", payload=1), ev("b", payload=2), ev("a", payload=3)])
    _check_batch_result(body, 3, 2)
    assert [e["version"] for e in body["events"]] == [1, 1, 2]
    ts = [e["timestamp"] for e in body["events"]]
    assert ts == sorted(ts)
    got = server.query(from_position=2)
    assert [(g["entity_id"], g["payload"], g["id"]) for g in got] == [
        ("a", 1, body["events"][0]["event_id"]), ("b", 2, body["events"][1]["event_id"]),
        ("a", 3, body["events"][2]["event_id"])]


def test_batch_events_object(server):
    body = server.batch({"events": [ev("a", payload=1), ev("b", payload=2)], "other": 1})
    _check_batch_result(body, 2, 1)


def test_batch_ndjson(server):
    lines = [json.dumps(ev("n", payload={"i": i})) for i in range(5)]
    text = "\n".join(lines[:2]) + "\n\n  \r\n" + "\r\n".join(lines[2:]) + "\n"
    for ct in ("application/x-ndjson", "application/x-ndjson; charset=utf-8",
               "application/ndjson"):
        r = server.post("/api/v1/events/batch", data=text.encode(),
                        headers={"Content-Type": ct})
        assert r.status_code == 200, (ct, r.text)
    body = r.json()
    _check_batch_result(body, 5, 11)
    assert [e["payload"] for e in server.query(entity_id="n")] == [{"i": i % 5} for i in range(15)]


def test_batch_ndjson_without_trailing_newline(server):
    text = json.dumps(ev("n", payload=1)) + "\n" + json.dumps(ev("n", payload=2))
    r = server.post("/api/v1/events/batch", data=text,
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200
    assert r.json()["count"] == 2


def test_payloads_at_the_depth_limit_are_stored_verbatim(server):
    # 64 levels is the limit; the same payload in every envelope the server
    # accepts (where it may skip the engine's own JSON scan) is stored byte
    # for byte, key order and number spelling included.
    deep = "[" * 62 + '{"z":1.50,"a":[]}' + "]" * 62      # 62 + 2 = 64 levels
    meta = '{"m":' + "[" * 63 + "0" + "]" * 63 + "}"      # 1 + 63 = 64 levels
    one = '{"entity_id":"d","event_type":"t","payload":%s,"metadata":%s}' % (deep, meta)
    bodies = [
        ("/api/v1/events", one, "application/json"),
        ("/api/v1/events/batch", "[%s,%s]" % (one, one), "application/json"),
        ("/api/v1/events/batch", '{"events":[%s]}' % one, "application/json"),
        ("/api/v1/events/batch", one + "\n" + one + "\n", "application/x-ndjson"),
    ]
    for path, body, ct in bodies:
        r = server.post(path, data=body.encode(), headers={"Content-Type": ct})
        assert r.status_code == 200, (path, r.text)
    r = server.get("/api/v1/events/query", params={"entity_id": "d"},
                   headers={"Accept": "application/x-ndjson"})
    lines = [l for l in r.text.split("\n") if l]
    assert len(lines) == 6
    for line in lines:
        assert '"payload":' + deep in line and '"metadata":' + meta in line


def test_batch_of_one(server):
    _check_batch_result(server.batch([ev()]), 1, 1)


def test_batch_max_size_accepted(server):
    n = 10000
    body = server.batch([ev("big%d" % (i % 7), "t.b", i) for i in range(n)])
    _check_batch_result(body, n, 1)
    st = server.stats()
    assert st["total_events"] == n and st["total_entities"] == 7


def test_batch_max_size_ndjson_accepted(server):
    line = json.dumps(ev("nd", "t.n", {"x": 1}))
    r = server.post("/api/v1/events/batch", data=("\n".join([line] * 10000) + "\n\n").encode(),
                    headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text[:300]
    _check_batch_result(r.json(), 10000, 1)


def test_batch_atomic_on_invalid_event(server):
    server.ingest("x", "t", 0)
    r = server.post("/api/v1/events/batch", json=[ev("a"), ev("b"), ev("", "t"), ev("c")])
    assert r.status_code == 400
    body = strict_json(r)
    assert body["code"] == "validation_error"
    assert body["field"] == "entity_id" and body["index"] == 2
    assert server.stats()["total_events"] == 1
    assert server.query(entity_id="a") == []
    assert server.ingest("y", "t", 0)["position"] == 2


# --- expected_version ------------------------------------------------------

def test_expected_version_sequence(server):
    assert server.ingest("acc", "t", 1, expected_version="no_stream")["version"] == 1
    assert server.ingest("acc", "t", 2, expected_version=1)["version"] == 2
    assert server.ingest("acc", "t", 3, expected_version="exists")["version"] == 3
    assert server.ingest("acc", "t", 4, expected_version="any")["version"] == 4
    assert server.ingest("new", "t", 1, expected_version=0)["version"] == 1


@pytest.mark.parametrize("expected,actual_before", [
    (0, 2), ("no_stream", 2), (1, 2), (3, 2), (5, 2), ("exists", 0), (1, 0),
])
def test_expected_version_conflict_409(server, expected, actual_before):
    entity = "acc" if actual_before else "fresh"
    for i in range(actual_before):
        server.ingest(entity, "t", i)
    before = server.stats()
    r = server.post_event(ev(entity, payload="x", expected_version=expected))
    assert r.status_code == 409
    body = strict_json(r)
    assert body["code"] == "version_conflict"
    assert body["error"].startswith("Concurrency error: ")
    want = {"no_stream": 0}.get(expected, expected)
    if expected != "exists":
        assert body["expected_version"] == want
    assert body["actual_version"] == actual_before
    assert body["field"] == "expected_version" and body["index"] == 0
    after = server.stats()
    assert after["total_events"] == before["total_events"]
    assert after["last_position"] == before["last_position"]
    assert len(server.query(entity_id=entity)) == actual_before


def test_expected_version_checked_in_order_within_batch(server):
    body = server.batch([ev("a", expected_version=0), ev("a", expected_version=1),
                         ev("b", expected_version="no_stream"), ev("a", expected_version=2),
                         ev("b", expected_version="exists")])
    assert [e["version"] for e in body["events"]] == [1, 2, 1, 3, 2]


def test_expected_version_conflict_in_batch_writes_nothing(server):
    server.ingest("a", "t", 0)
    r = server.post("/api/v1/events/batch", json=[
        ev("a", expected_version=1), ev("b", expected_version=0),
        ev("a", expected_version=1),  # a is at 2 by now
        ev("c")])
    assert r.status_code == 409
    body = strict_json(r)
    assert body["code"] == "version_conflict"
    assert body["index"] == 2
    assert body["expected_version"] == 1 and body["actual_version"] == 2
    assert server.stats()["total_events"] == 1
    assert server.query(entity_id="b") == []
    assert server.ingest("a", "t", 1, expected_version=1)["position"] == 2


def test_concurrent_writers_same_expected_version_one_wins(server):
    server.ingest("hot", "t", 0)
    results = []
    lock = threading.Lock()

    def worker(i):
        import requests
        r = requests.post(server.url + "/api/v1/events",
                          json=ev("hot", payload={"w": i}, expected_version=1), timeout=60)
        with lock:
            results.append((r.status_code, r.json()))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    codes = sorted(c for c, _ in results)
    assert codes == [200] + [409] * 7
    assert all(b["actual_version"] == 2 for c, b in results if c == 409)
    evs = server.query(entity_id="hot")
    assert [e["version"] for e in evs] == [1, 2]


# --- idempotency -----------------------------------------------------------

def test_client_id_is_used(server):
    eid = new_id()
    res = server.ingest("e", "t", {"a": 1}, id=eid)
    assert res["event_id"] == eid
    assert server.get("/api/v1/events/" + eid).json()["payload"] == {"a": 1}


def test_client_id_uppercase_is_normalised(server):
    eid = new_id()
    res = server.ingest("e", "t", 1, id=eid.upper())
    assert res["event_id"] == eid
    again = server.ingest("e", "t", 1, id=eid)
    assert again["duplicate"] is True and again["position"] == res["position"]


def test_idempotent_retry_returns_original(server):
    eid = new_id()
    body = '{"entity_id":"e","event_type":"t","payload":{"a": 1},"metadata":{"m":1},"id":"%s"}' % eid
    first = server.ingest_raw(body)
    server.ingest("other", "t", 1)
    again = server.ingest_raw(body)
    assert again == {**first, "duplicate": True}
    assert server.stats()["total_events"] == 2
    assert len(server.query(entity_id="e")) == 1


def test_idempotent_retry_ignores_expected_version(server):
    eid = new_id()
    first = server.ingest("e", "t", 1, id=eid, expected_version=0)
    again = server.ingest("e", "t", 1, id=eid, expected_version=0)  # would conflict now
    assert again == {**first, "duplicate": True}


@pytest.mark.parametrize("change", [
    {"payload": {"a": 2}}, {"payload": {"a":  1}}, {"entity_id": "other"},
    {"event_type": "t2"}, {"metadata": {"m": 1}}, {"tenant_id": "acme"},
])
def test_reused_id_with_different_content_409(server, change):
    eid = new_id()
    server.ingest("e", "t", {"a": 1}, id=eid)
    before = server.stats()["total_events"]
    d = ev("e", "t", {"a": 1}, id=eid)
    d.update(change)
    if change == {"payload": {"a":  1}}:
        r = server.post("/api/v1/events", headers={"Content-Type": "application/json"},
                        data='{"entity_id":"e","event_type":"t","payload":{"a":  1},"id":"%s"}' % eid)
    else:
        r = server.post_event(d)
    assert r.status_code == 409, r.text
    body = strict_json(r)
    assert body["code"] == "id_conflict"
    assert body["error"].startswith("Concurrency error: ")
    assert server.stats()["total_events"] == before


def test_batch_retry_is_idempotent(server):
    evs = [ev("b%d" % i, payload=i, id=new_id()) for i in range(4)]
    first = server.batch(evs)
    again = server.batch(evs)
    assert again["count"] == 4
    assert [e["duplicate"] for e in again["events"]] == [True] * 4
    assert [(e["event_id"], e["position"], e["version"], e["timestamp"]) for e in again["events"]] \
        == [(e["event_id"], e["position"], e["version"], e["timestamp"]) for e in first["events"]]
    assert again["first_position"] == 1 and again["last_position"] == 4
    assert server.stats()["total_events"] == 4


def test_batch_mixing_stored_and_new_ids_409(server):
    stored = ev("a", payload=1, id=new_id())
    server.batch([stored])
    r = server.post("/api/v1/events/batch", json=[stored, ev("a", payload=2, id=new_id())])
    assert r.status_code == 409
    assert strict_json(r)["code"] == "id_conflict"
    r = server.post("/api/v1/events/batch", json=[ev("a", payload=3), stored])
    assert r.status_code == 409
    assert strict_json(r)["code"] == "id_conflict"
    assert server.stats()["total_events"] == 1


def test_same_id_twice_in_batch_400(server):
    eid = new_id()
    r = server.post("/api/v1/events/batch", json=[ev(id=eid), ev(payload=1), ev(id=eid)])
    assert r.status_code == 400
    body = strict_json(r)
    assert body["code"] == "validation_error"
    assert body["field"] == "id" and body["index"] == 2
    assert server.stats()["total_events"] == 0


def test_concurrent_retries_of_one_id(server):
    eid = new_id()
    results = []
    lock = threading.Lock()

    def worker():
        import requests
        r = requests.post(server.url + "/api/v1/events",
                          json=ev("c", payload={"x": 1}, id=eid), timeout=60)
        with lock:
            results.append((r.status_code, r.json()))

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert [c for c, _ in results] == [200] * 8
    assert sorted(b["duplicate"] for _, b in results) == [False] + [True] * 7
    assert {(b["event_id"], b["position"], b["timestamp"]) for _, b in results} == \
        {(eid, 1, results[0][1]["timestamp"])}
    assert server.stats()["total_events"] == 1


def test_positions_stay_gap_free_after_rejections(server):
    server.ingest("a", "t", 1)
    eid = new_id()
    server.ingest("a", "t", 2, id=eid)
    assert server.post_event(ev("a", expected_version=0)).status_code == 409
    assert server.post_event(ev("a", payload=9, id=eid)).status_code == 409
    assert server.post_event(ev("", "t")).status_code == 400
    assert server.post("/api/v1/events/batch", json=[ev("z"), ev("a", expected_version=7)]).status_code == 409
    assert server.ingest("b", "t", 3)["position"] == 3
    assert [e["position"] for e in server.query()] == [1, 2, 3]
    assert [e["version"] for e in server.query(entity_id="a")] == [1, 2]


# --- accepted limits -----------------------------------------------------

def test_limits_accepted_at_the_boundary(server):
    res = server.ingest("x" * 256, "t" * 128, 1, tenant_id="T" * 64)
    got = server.get("/api/v1/events/" + res["event_id"]).json()
    assert got["entity_id"] == "x" * 256 and got["event_type"] == "t" * 128
    assert got["tenant_id"] == "T" * 64
    # byte lengths, not characters
    e2 = "é" * 128  # 256 bytes
    assert server.ingest(e2, "t", 1)["version"] == 1
    assert server.query(entity_id=e2)[0]["entity_id"] == e2


def test_entity_ids_with_special_characters(server):
    for entity in ["a b", "ünï/cödé", "a/b/c", "x?y&z=1#f", "100%", "tab\tinside", "+plus"]:
        if "\t" in entity:
            r = server.post_event(ev(entity))
            assert r.status_code == 400, entity  # control character
            continue
        res = server.ingest(entity, "t", {"k": entity})
        got = server.query(entity_id=entity)
        assert [g["id"] for g in got] == [res["event_id"]], entity
        from urllib.parse import quote
        r = server.get("/api/v1/entities/%s/state" % quote(entity, safe="/"))
        assert r.status_code == 200, (entity, r.text)
        assert r.json()["entity_id"] == entity
        assert r.json()["current_state"] == {"k": entity}
        r = server.get("/api/v1/entities/%s/snapshot" % quote(entity, safe="/"))
        assert r.status_code == 200, (entity, r.text)
        assert r.json()["snapshot"] == {"k": entity}


def test_event_type_characters(server):
    for t in ["user.created", "User-Created", "a_b.c", "ÜBER", "x:y/z", "t.1"]:
        assert server.ingest("e", t, 1)["position"] > 0, t
    assert server.stats()["total_event_types"] == 6


def test_payload_max_size_accepted(server):
    # a JSON string payload of exactly 2 MiB (quotes included)
    payload = '"' + "a" * (2 * 1024 * 1024 - 2) + '"'
    body = '{"entity_id":"big","event_type":"t","payload":%s}' % payload
    res = server.ingest_raw(body)
    r = server.get("/api/v1/events/" + res["event_id"])
    assert r.status_code == 200
    assert len(r.json()["payload"]) == 2 * 1024 * 1024 - 2


def test_payload_depth_64_accepted(server):
    payload = "[" * 64 + "]" * 64
    res = server.ingest_raw('{"entity_id":"d","event_type":"t","payload":%s}' % payload)
    assert res["position"] == 1
    payload = "{\"a\":" * 63 + "[]" + "}" * 63
    res = server.ingest_raw('{"entity_id":"d","event_type":"t","payload":%s}' % payload)
    assert res["position"] == 2


def test_metadata_object_kept(server):
    meta = {"source": "test", "trace_id": "12345", "nested": {"a": [1, 2]}}
    res = server.ingest("m", "t", 1, metadata=meta)
    assert server.get("/api/v1/events/" + res["event_id"]).json()["metadata"] == meta


def test_tenants(server):
    server.ingest("e1", "t", 1, tenant_id="acme")
    server.ingest("e2", "t", 2, tenant_id="globex-2_x")
    server.ingest("e3", "t", 3)
    assert [e["entity_id"] for e in server.query(tenant_id="acme")] == ["e1"]
    assert [e["entity_id"] for e in server.query(tenant_id="globex-2_x")] == ["e2"]
    assert [e["entity_id"] for e in server.query(tenant_id="default")] == ["e3"]
    assert server.query(tenant_id="nobody") == []
    assert [e["entity_id"] for e in server.query(tenant_id="acme", event_type="t")] == ["e1"]
