"""Every route's happy path: /health, /api/v1/stats, POST /api/v1/events,
GET /api/v1/events/{id}, the Event JSON shape, exact payload bytes, CORS,
preflight, 404 and 405 shapes."""

import json
import re

import pytest

from apiutil import (TS_RE, UUID_RE, check_event_shape, new_id, raw_array_items, raw_events,
                     raw_members, strict_json, utf8)


def test_health(server):
    r = server.get("/health")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["status"] == "healthy"
    assert body["service"] == "allsource-core"
    assert re.match(r"^\d+\.\d+\.\d+$", body["version"])


def test_health_version_matches_binary_version(server, allsourced_bin):
    import subprocess
    out = subprocess.run([allsourced_bin, "--version"], capture_output=True,
                         text=True, timeout=30).stdout
    assert out.strip() == "allsourced " + server.get("/health").json()["version"]


def test_stats_empty_store(server):
    st = server.stats()
    for k in ("total_events", "total_entities", "total_event_types",
              "total_ingested", "last_position"):
        assert st[k] == 0, (k, st)
    assert st["durability"] == "sync"
    assert isinstance(st["uptime_seconds"], int) and st["uptime_seconds"] >= 0
    assert isinstance(st["storage_bytes"], int)


def test_stats_counts(server):
    server.ingest("a", "t.one", {"x": 1})
    server.ingest("a", "t.two", {"x": 2})
    server.ingest("b", "t.one", {"x": 3})
    server.batch([{"entity_id": "c", "event_type": "t.three", "payload": 1},
                  {"entity_id": "a", "event_type": "t.one", "payload": 2}])
    st = server.stats()
    assert st["total_events"] == 5
    assert st["total_entities"] == 3
    assert st["total_event_types"] == 3
    assert st["total_ingested"] == 5
    assert st["last_position"] == 5
    assert st["storage_bytes"] > 0


def test_ingest_response_shape(server):
    r = server.post_event({"entity_id": "user-1", "event_type": "user.created",
                           "payload": {"name": "Alice"}})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"event_id", "timestamp", "position", "version", "duplicate"}
    assert UUID_RE.match(body["event_id"])
    assert TS_RE.match(body["timestamp"])
    assert body["position"] == 1
    assert body["version"] == 1
    assert body["duplicate"] is False


def test_positions_global_versions_per_entity(server):
    got = [server.ingest(e, "t", {"i": i}) for i, e in
           enumerate(["a", "b", "a", "c", "a", "b"])]
    assert [g["position"] for g in got] == [1, 2, 3, 4, 5, 6]
    assert [g["version"] for g in got] == [1, 1, 2, 1, 3, 2]
    ts = [g["timestamp"] for g in got]
    assert ts == sorted(ts)  # fixed-width RFC 3339: string order = time order


def test_event_json_shape_and_get_by_id(server):
    res = server.ingest("user-9", "user.created", {"name": "Bob"},
                        metadata={"source": "test"}, tenant_id="acme")
    r = server.get("/api/v1/events/" + res["event_id"])
    assert r.status_code == 200
    ev = r.json()
    assert list(ev.keys()) == ["id", "event_type", "entity_id", "tenant_id", "payload",
                               "timestamp", "metadata", "version", "position"]
    check_event_shape(ev)
    assert ev == {"id": res["event_id"], "event_type": "user.created",
                  "entity_id": "user-9", "tenant_id": "acme",
                  "payload": {"name": "Bob"}, "timestamp": res["timestamp"],
                  "metadata": {"source": "test"}, "version": 1, "position": 1}


def test_defaults_tenant_and_null_metadata(server):
    res = server.ingest("e", "t", {"a": 1})
    ev = server.get("/api/v1/events/" + res["event_id"]).json()
    assert ev["tenant_id"] == "default"
    assert ev["metadata"] is None
    # explicit nulls mean the same as absent
    res2 = server.ingest("e", "t", {"a": 2}, metadata=None, tenant_id=None, id=None,
                         expected_version=None)
    ev2 = server.get("/api/v1/events/" + res2["event_id"]).json()
    assert ev2["tenant_id"] == "default" and ev2["metadata"] is None
    assert ev2["version"] == 2


def test_get_event_by_id_uppercase_and_compact_uuid(server):
    res = server.ingest("e", "t", {})
    eid = res["event_id"]
    for form in (eid.upper(), eid.replace("-", "")):
        r = server.get("/api/v1/events/" + form)
        assert r.status_code == 200, form
        assert r.json()["id"] == eid


def test_get_event_unknown_id_404(server):
    server.ingest("e", "t", {})
    r = server.get("/api/v1/events/" + new_id())
    assert r.status_code == 404
    body = strict_json(r)
    assert body["code"] == "not_found"
    assert body["error"].startswith("Event not found: ")


PAYLOADS = [
    '{"a":0.1,"b":12345678901234567890123,"c":1e400,"d":-0.0}',
    '{"z":1,"a":2,"m":{"y":[1, 2 ,3],"b":null}}',
    '{ "spaced" :  [ 1 ,\n 2 ] ,\t"s" : "x" }',
    '"just a string \\u00e9 \\ud83d\\ude00 é"',
    '12345678901234567890123456789',
    '[1,"two",{"three":3.000}]',
    'null',
    'true',
    '{}',
    '{"dup":1,"dup":2}',
    '{"unicode":"日本語","esc":"\\"\\\\\\/\\b\\f\\n\\r\\t"}',
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_bytes_returned_exactly(server, payload):
    body = ('{"entity_id":"p","event_type":"t","payload":%s,"metadata":{"k":  0.10}}'
            % payload)
    res = server.ingest_raw(body)
    # by id
    r = server.get("/api/v1/events/" + res["event_id"])
    m = dict(raw_members(utf8(r)))
    assert m["payload"] == payload
    assert m["metadata"] == '{"k":  0.10}'
    # by query (JSON and NDJSON)
    r = server.query_resp(entity_id="p")
    evs = raw_events(utf8(r))
    assert [e["payload"] for e in evs] == [payload]
    if "\n" not in payload:  # newlines in NDJSON: test_ndjson_payload_with_newline
        r = server.get("/api/v1/events/query", params={"entity_id": "p"},
                       headers={"Accept": "application/x-ndjson"})
        lines = utf8(r).splitlines()
        assert len(lines) == 1
        assert dict(raw_members(lines[0]))["payload"] == payload
    # in the state's history
    r = server.state("p")
    assert r.status_code == 200
    hist = dict(raw_members(utf8(r)))["history"]
    items = [dict(raw_members(h)) for h in raw_array_items(hist)]
    assert [h["payload"] for h in items] == [payload]


def test_ndjson_payload_with_newline(server):
    server.ingest_raw('{"entity_id":"n","event_type":"t","payload":{"a":\n1,\r\n"b":[2,\n3]}}')
    server.ingest("n", "t", {"c": 4})
    r = server.get("/api/v1/events/query", params={"entity_id": "n"},
                   headers={"Accept": "application/x-ndjson"})
    assert r.status_code == 200
    lines = [l for l in utf8(r).split("\n") if l]
    assert len(lines) == 2
    assert [json.loads(l)["payload"] for l in lines] == [{"a": 1, "b": [2, 3]}, {"c": 4}]


def test_payload_whitespace_around_value_is_not_part_of_payload(server):
    res = server.ingest_raw('{"entity_id":"w","event_type":"t","payload":   {"a": 1}   }')
    r = server.get("/api/v1/events/" + res["event_id"])
    assert dict(raw_members(utf8(r)))["payload"] == '{"a": 1}'


def test_strings_with_escapes_in_ids(server):
    # JSON escapes in entity_id / event_type are decoded before storing.
    res = server.ingest_raw('{"entity_id":"caf\\u00e9 \\"q\\"","event_type":"t\\/x",'
                            '"payload":1}')
    ev = server.get("/api/v1/events/" + res["event_id"]).json()
    assert ev["entity_id"] == 'café "q"'
    assert ev["event_type"] == "t/x"
    assert [e["position"] for e in server.query(entity_id='café "q"')] == [1]


def test_escaped_member_names(server):
    # "\u0065ntity_id" is the member name "entity_id"
    res = server.ingest_raw('{"\\u0065ntity_id":"esc","event_\\u0074ype":"t","payload":1}')
    ev = server.get("/api/v1/events/" + res["event_id"]).json()
    assert (ev["entity_id"], ev["event_type"]) == ("esc", "t")


def test_unknown_fields_are_ignored(server):
    res = server.ingest("e", "t", {"a": 1}, extra_field={"x": 1}, timestamp="1999-01-01T00:00:00Z",
                        version=42, position=99)
    ev = server.get("/api/v1/events/" + res["event_id"]).json()
    assert ev["version"] == 1 and ev["position"] == 1
    assert ev["timestamp"] == res["timestamp"] and not ev["timestamp"].startswith("1999")
    assert "extra_field" not in ev


def test_charset_and_plus_json_content_types(server):
    body = json.dumps({"entity_id": "e", "event_type": "t", "payload": 1})
    for ct in ("application/json; charset=utf-8", "Application/JSON",
               "application/vnd.allsource+json", "application/json;charset=UTF-8"):
        r = server.post("/api/v1/events", data=body, headers={"Content-Type": ct})
        assert r.status_code == 200, (ct, r.text)
    assert server.stats()["total_events"] == 4


# --- CORS ------------------------------------------------------------------

@pytest.mark.parametrize("method,path,kw", [
    ("GET", "/health", {}),
    ("GET", "/api/v1/stats", {}),
    ("GET", "/api/v1/events/query", {}),
    ("POST", "/api/v1/events", {"json": {"entity_id": "c", "event_type": "t", "payload": 1}}),
    ("POST", "/api/v1/events/batch", {"json": [{"entity_id": "c", "event_type": "t", "payload": 1}]}),
    ("GET", "/api/v1/entities/c/state", {}),
    ("GET", "/api/v1/entities/c/snapshot", {}),
    ("GET", "/api/v1/events/not-a-uuid", {}),
    ("GET", "/nope", {}),
    ("DELETE", "/api/v1/stats", {}),
    ("POST", "/api/v1/events", {"data": "{", "headers": {"Content-Type": "application/json"}}),
])
def test_cors_header_on_every_response(server, method, path, kw):
    headers = dict(kw.pop("headers", {}))
    headers["Origin"] = "http://example.com"
    r = server.request(method, path, headers=headers, **kw)
    assert r.headers.get("Access-Control-Allow-Origin") == "*", (r.status_code, r.headers)


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/batch",
                                  "/api/v1/events/query", "/health"])
def test_cors_preflight(server, path):
    r = server.request("OPTIONS", path, headers={
        "Origin": "http://example.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-trace"})
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = r.headers["Access-Control-Allow-Headers"].lower()
    assert allowed == "*" or ("content-type" in allowed and "x-trace" in allowed)
    assert server.stats()["total_events"] == 0


# --- 404 / 405 ----------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/nope", "/api/v1", "/api/v1/events/query/extra",
                                  "/api/v2/stats", "/api/v1/entities", "/api/v1/entities/x",
                                  "/api/v1/entities/x/other", "/healthz"])
def test_unknown_route_404(server, path):
    r = server.get(path)
    assert r.status_code == 404
    assert r.headers["Content-Type"] == "application/json"
    body = strict_json(r)
    assert body["code"] == "not_found"
    assert body["error"].startswith("Not found: ")


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/api/v1/events", "POST"),
    ("GET", "/api/v1/events", "POST"),
    ("PUT", "/api/v1/events", "POST"),
    ("POST", "/health", "GET"),
    ("POST", "/api/v1/stats", "GET"),
    ("POST", "/api/v1/events/query", "GET"),
    ("DELETE", "/api/v1/events/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12, "GET"),
    ("POST", "/api/v1/entities/x/state", "GET"),
    ("PATCH", "/api/v1/entities/x/snapshot", "GET"),
])
def test_wrong_method_405(server, method, path, allow):
    r = server.request(method, path, json={"entity_id": "e", "event_type": "t", "payload": 1})
    assert r.status_code == 405, r.text
    body = strict_json(r)
    assert body["code"] == "method_not_allowed"
    assert body["error"].startswith("Method not allowed: ")
    assert body["allow"] == allow
    assert server.stats()["total_events"] == 0


def test_get_on_batch_route_is_405(server):
    r = server.get("/api/v1/events/batch")
    assert r.status_code == 405, r.text
    assert strict_json(r)["allow"] == "POST"
    r = server.request("PUT", "/api/v1/events/batch")
    assert r.status_code == 405, r.text
    assert strict_json(r)["allow"] == "POST"  # not "POST, GET"


def test_405_has_allow_header(server):
    r = server.request("DELETE", "/api/v1/events")
    assert r.status_code == 405
    assert r.headers.get("Allow") == "POST"


def test_trailing_slash_is_tolerated(server):
    server.ingest("e", "t", 1)
    assert server.get("/health/").status_code == 200
    assert server.get("/api/v1/stats/").json()["total_events"] == 1


def test_keep_alive_many_requests_on_one_connection(server):
    for i in range(50):
        assert server.ingest("k", "t", i)["position"] == i + 1
    assert server.stats()["total_events"] == 50
