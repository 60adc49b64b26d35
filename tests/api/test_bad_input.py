"""Table-driven bad input: every case must give exactly the expected 4xx
status with a JSON error body {"error": "<Kind>: <message>", "code": ...}
(plus field/index/offset/expected_version/actual_version where documented),
never a 5xx, and must write NOTHING (stats unchanged, the next append gets
the next position)."""

import json
import re
import socket

import pytest

from apiutil import new_id, strict_json

SEEDED_ID = new_id()
UUID0 = "00000000-0000-0000-0000-000000000000"

KIND = {
    "invalid_json": ("Invalid JSON: ",),
    "validation_error": ("Validation error: ",),
    "invalid_query": ("Invalid query: ",),
    "invalid_id": ("Invalid request: ",),
    "unsupported_media_type": ("Unsupported media type: ",),
    "payload_too_large": ("Payload too large: ",),
    "not_found": ("Not found: ", "Entity not found: ", "Event not found: "),
    "method_not_allowed": ("Method not allowed: ",),
    "version_conflict": ("Concurrency error: ",),
    "id_conflict": ("Concurrency error: ",),
}

JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}


def E(**kw):
    d = {"entity_id": "e", "event_type": "t", "payload": {"a": 1}}
    for k, v in kw.items():
        if v is _DEL:
            d.pop(k)
        else:
            d[k] = v
    return d


_DEL = object()


def j(obj):
    return json.dumps(obj).encode()


class Case:
    def __init__(self, name, method, path, body=None, headers=None, status=400,
                 code="validation_error", field=None, index=None, extra=None,
                 msg=None):
        self.name = name
        self.method = method
        self.path = path
        self.body = body
        self.headers = JSON if headers is None and body is not None else (headers or {})
        self.status = status
        self.code = code
        self.field = field
        self.index = index
        self.extra = extra or {}
        self.msg = msg


def P(name, body, field=None, code="validation_error", status=400, headers=None,
      index=None, **kw):
    """A POST /api/v1/events case; `body` is bytes or a JSON-able object."""
    if not isinstance(body, (bytes, str)):
        body = j(body)
    if isinstance(body, str):
        body = body.encode()
    if field is not None and index is None and code == "validation_error":
        index = 0
    return Case(name, "POST", "/api/v1/events", body, headers, status, code, field,
                index, **kw)


def B(name, body, field=None, index=None, code="validation_error", status=400,
      headers=None, **kw):
    if not isinstance(body, (bytes, str)):
        body = j(body)
    if isinstance(body, str):
        body = body.encode()
    return Case(name, "POST", "/api/v1/events/batch", body, headers, status, code,
                field, index, **kw)


def Q(name, query, code="invalid_query", status=400, path="/api/v1/events/query", **kw):
    return Case(name, "GET", path + "?" + query, None, {}, status, code, **kw)


def deep(n, inner="1"):
    return "[" * n + inner + "]" * n


def deep_obj(n):
    return '{"a":' * n + "1" + "}" * n


VALID_LINE = json.dumps(E()).encode()

CASES = [
    # --- malformed JSON ---------------------------------------------------
    P("truncated", b'{"entity_id":', code="invalid_json", extra={"offset": 13}),
    P("empty body", b"", code="invalid_json", extra={"offset": 0}),
    P("whitespace body", b"   \n", code="invalid_json"),
    P("trailing garbage", VALID_LINE + b" x", code="invalid_json"),
    P("two documents", VALID_LINE + VALID_LINE, code="invalid_json"),
    P("trailing comma", b'{"entity_id":"e","event_type":"t","payload":1,}', code="invalid_json"),
    P("single quotes", b"{'entity_id':'e'}", code="invalid_json", extra={"offset": 1}),
    P("unquoted key", b'{entity_id:"e"}', code="invalid_json"),
    P("NaN payload", b'{"entity_id":"e","event_type":"t","payload":NaN}', code="invalid_json"),
    P("Infinity payload", b'{"entity_id":"e","event_type":"t","payload":Infinity}', code="invalid_json"),
    P("leading zero", b'{"entity_id":"e","event_type":"t","payload":01}', code="invalid_json"),
    P("hex number", b'{"entity_id":"e","event_type":"t","payload":0x10}', code="invalid_json"),
    P("bare minus", b'{"entity_id":"e","event_type":"t","payload":-}', code="invalid_json"),
    P("comment", b'{"entity_id":"e",/*x*/"event_type":"t","payload":1}', code="invalid_json"),
    P("bad escape", b'{"entity_id":"e\\x","event_type":"t","payload":1}', code="invalid_json"),
    P("bad \\u escape", b'{"entity_id":"e\\u12g4","event_type":"t","payload":1}', code="invalid_json"),
    P("lone surrogate escape", b'{"entity_id":"a\\ud800","event_type":"t","payload":1}',
      code="invalid_json", extra={"offset": 15}),
    P("lone low surrogate", b'{"entity_id":"e","event_type":"t","payload":"\\udc00"}', code="invalid_json"),
    P("unterminated string", b'{"entity_id":"e', code="invalid_json"),
    P("BOM", b'\xef\xbb\xbf' + VALID_LINE, code="invalid_json", extra={"offset": 0}),
    # --- invalid UTF-8 (raw bytes) -------------------------------------------
    P("invalid utf-8 in entity_id", b'{"entity_id":"a\xffb","event_type":"t","payload":1}',
      code="invalid_json", extra={"offset": 15}),
    P("invalid utf-8 in payload", b'{"entity_id":"e","event_type":"t","payload":"\xc3\x28"}',
      code="invalid_json"),
    P("invalid utf-8 in key", b'{"entity_id":"e","event_type":"t","payload":{"\x80":1}}',
      code="invalid_json"),
    P("overlong utf-8", b'{"entity_id":"\xc0\xaf","event_type":"t","payload":1}', code="invalid_json"),
    P("utf-8 surrogate", b'{"entity_id":"\xed\xa0\x80","event_type":"t","payload":1}', code="invalid_json"),
    P("utf-8 above U+10FFFF", b'{"entity_id":"\xf4\x90\x80\x80","event_type":"t","payload":1}',
      code="invalid_json"),
    P("truncated utf-8", b'{"entity_id":"\xe6\x97","event_type":"t","payload":1}', code="invalid_json"),
    P("latin-1 body", '{"entity_id":"caf\xe9","event_type":"t","payload":1}'.encode("latin-1"),
      code="invalid_json"),
    P("raw control char in string", b'{"entity_id":"a\x01b","event_type":"t","payload":1}',
      code="invalid_json"),
    P("raw newline in string", b'{"entity_id":"a\nb","event_type":"t","payload":1}',
      code="invalid_json"),
    P("NUL byte", b'{"entity_id":"e","event_type":"t","payload":1}\x00', code="invalid_json"),
    # --- nesting ------------------------------------------------------------
    P("payload depth 65", '{"entity_id":"e","event_type":"t","payload":%s}' % deep(65), field="payload"),
    P("payload object depth 65", '{"entity_id":"e","event_type":"t","payload":%s}' % deep_obj(65),
      field="payload"),
    P("payload depth 1000", '{"entity_id":"e","event_type":"t","payload":%s}' % deep(1000),
      code="invalid_json"),
    P("payload depth 100000", '{"entity_id":"e","event_type":"t","payload":%s}' % deep(100000),
      code="invalid_json"),
    P("metadata depth 65", '{"entity_id":"e","event_type":"t","payload":1,"metadata":{"a":%s}}'
      % deep(64), field="metadata"),
    P("unclosed deep", "[" * 5000, code="invalid_json"),
    # --- body shape ----------------------------------------------------------
    P("body null", b"null"),
    P("body array", j([E()])),
    P("body string", b'"event"'),
    P("body number", b"42"),
    # --- content type --------------------------------------------------------
    P("no content type", VALID_LINE, headers={"Content-Type": ""}, status=415,
      code="unsupported_media_type"),
    P("text/plain", VALID_LINE, headers={"Content-Type": "text/plain"}, status=415,
      code="unsupported_media_type"),
    P("form", VALID_LINE, headers={"Content-Type": "application/x-www-form-urlencoded"},
      status=415, code="unsupported_media_type"),
    P("ndjson to single route", VALID_LINE, headers=NDJSON, status=415,
      code="unsupported_media_type"),
    P("application/jsonx", VALID_LINE, headers={"Content-Type": "application/jsonx"}, status=415,
      code="unsupported_media_type"),
    P("text/json", VALID_LINE, headers={"Content-Type": "text/json"}, status=415,
      code="unsupported_media_type"),
    # --- missing fields / wrong types -----------------------------------------
    P("missing entity_id", E(entity_id=_DEL), field="entity_id"),
    P("missing event_type", E(event_type=_DEL), field="event_type"),
    P("missing payload", E(payload=_DEL), field="payload"),
    P("empty object", {}, field="entity_id"),
    P("entity_id number", E(entity_id=123), field="entity_id"),
    P("entity_id null", E(entity_id=None), field="entity_id"),
    P("entity_id object", E(entity_id={"a": 1}), field="entity_id"),
    P("entity_id bool", E(entity_id=True), field="entity_id"),
    P("event_type array", E(event_type=["t"]), field="event_type"),
    P("event_type null", E(event_type=None), field="event_type"),
    P("event_type number", E(event_type=1), field="event_type"),
    P("tenant_id number", E(tenant_id=5), field="tenant_id"),
    P("tenant_id object", E(tenant_id={}), field="tenant_id"),
    P("metadata array", E(metadata=[1]), field="metadata"),
    P("metadata string", E(metadata="m"), field="metadata"),
    P("metadata number", E(metadata=1), field="metadata"),
    P("metadata bool", E(metadata=False), field="metadata"),
    P("metadata too big", E(metadata={"m": "x" * (64 * 1024)}), field="metadata"),
    # --- empty / too long / forbidden characters -------------------------------
    P("empty entity_id", E(entity_id=""), field="entity_id"),
    P("empty event_type", E(event_type=""), field="event_type"),
    P("entity_id 257 bytes", E(entity_id="x" * 257), field="entity_id"),
    P("entity_id 258 bytes of é", E(entity_id="é" * 129), field="entity_id"),
    P("entity_id 100k", E(entity_id="x" * 100000), field="entity_id"),
    P("event_type 129 bytes", E(event_type="t" * 129), field="event_type"),
    P("event_type with space", E(event_type="user created"), field="event_type"),
    P("event_type with star", E(event_type="order.*"), field="event_type"),
    P("event_type star only", E(event_type="*"), field="event_type"),
    P("event_type control", E(event_type="a\u0007"), field="event_type"),
    P("entity_id leading space", E(entity_id=" e"), field="entity_id"),
    P("entity_id trailing space", E(entity_id="e "), field="entity_id"),
    P("entity_id only space", E(entity_id=" "), field="entity_id"),
    P("entity_id control", E(entity_id="a\u0001"), field="entity_id"),
    P("entity_id NUL", E(entity_id="a\u0000b"), field="entity_id"),
    P("entity_id DEL", E(entity_id="a\u007f"), field="entity_id"),
    P("entity_id C1 control", E(entity_id="a\u0085"), field="entity_id"),
    P("entity_id newline", E(entity_id="a\nb"), field="entity_id"),
    P("tenant_id empty", E(tenant_id=""), field="tenant_id"),
    P("tenant_id space", E(tenant_id="a b"), field="tenant_id"),
    P("tenant_id dot", E(tenant_id="a.b"), field="tenant_id"),
    P("tenant_id non-ascii", E(tenant_id="ü"), field="tenant_id"),
    P("tenant_id 65", E(tenant_id="t" * 65), field="tenant_id"),
    P("payload 2 MiB + 1", '{"entity_id":"e","event_type":"t","payload":"%s"}'
      % ("a" * (2 * 1024 * 1024 - 1)), field="payload"),
    # --- ids --------------------------------------------------------------------
    P("id not a uuid", E(id="abc"), field="id"),
    P("id number", E(id=12345), field="id"),
    P("id object", E(id={}), field="id"),
    P("id empty", E(id=""), field="id"),
    P("id nil uuid", E(id=UUID0), field="id"),
    P("id bad hex", E(id="zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"), field="id"),
    P("id too long", E(id=new_id() + "0"), field="id"),
    P("id braces", E(id="{" + new_id() + "}"), field="id"),
    P("id misplaced dashes", E(id="0123456-78901-2345-6789-0123456789ab"), field="id"),
    # --- expected_version -------------------------------------------------------
    P("expected_version -1", E(expected_version=-1), field="expected_version"),
    P("expected_version 1.5", E(expected_version=1.5), field="expected_version"),
    P("expected_version 1.0", b'{"entity_id":"e","event_type":"t","payload":1,"expected_version":1.0}',
      field="expected_version"),
    P("expected_version 1e2", b'{"entity_id":"e","event_type":"t","payload":1,"expected_version":1e2}',
      field="expected_version"),
    P("expected_version string number", E(expected_version="5"), field="expected_version"),
    P("expected_version ANY", E(expected_version="ANY"), field="expected_version"),
    P("expected_version bool", E(expected_version=True), field="expected_version"),
    P("expected_version array", E(expected_version=[1]), field="expected_version"),
    P("expected_version u64 max", E(expected_version=2 ** 64 - 1), field="expected_version"),
    P("expected_version huge", E(expected_version=10 ** 30), field="expected_version"),
    # --- conflicts (409) -----------------------------------------------------------
    P("expected_version conflict", E(entity_id="seeded", expected_version=0), status=409,
      code="version_conflict", field="expected_version", index=0,
      extra={"expected_version": 0, "actual_version": 2}),
    P("expected_version ahead", E(entity_id="seeded", expected_version=5), status=409,
      code="version_conflict", field="expected_version", index=0,
      extra={"expected_version": 5, "actual_version": 2}),
    P("expected exists on new entity", E(entity_id="brand-new", expected_version="exists"),
      status=409, code="version_conflict", extra={"actual_version": 0}),
    P("reused id different payload", E(entity_id="seeded", id=SEEDED_ID, payload={"other": 1}),
      status=409, code="id_conflict"),
    P("reused id different entity", E(entity_id="elsewhere", id=SEEDED_ID, payload={"n": 2}),
      status=409, code="id_conflict"),
    # --- batches ----------------------------------------------------------------
    B("batch empty array", b"[]"),
    B("batch empty events", j({"events": []})),
    B("batch object without events", j({"event": [E()]})),
    B("batch events not array", j({"events": {"a": E()}})),
    B("batch scalar", b"7"),
    B("batch null", b"null"),
    B("batch item not object", j([E(), 1]), field="event", index=1),
    B("batch item missing payload", j([E(), E(payload=_DEL)]), field="payload", index=1),
    B("batch item bad entity", j([E(), E(), E(entity_id=" x")]), field="entity_id", index=2),
    # A payload one level too deep is named, whatever the envelope around it
    # (the server skips the engine's JSON scan only when no payload can be).
    B("batch payload depth 65", ('[%s,{"entity_id":"e","event_type":"t","payload":%s}]'
                                 % (VALID_LINE.decode(), deep(65))).encode(),
      field="payload", index=1),
    B("batch events payload depth 65",
      ('{"events":[%s,%s,{"entity_id":"e","event_type":"t","payload":%s}]}'
       % (VALID_LINE.decode(), VALID_LINE.decode(), deep_obj(65))).encode(),
      field="payload", index=2),
    B("batch metadata depth 65",
      ('[{"entity_id":"e","event_type":"t","payload":1,"metadata":{"a":%s}}]'
       % deep(64)).encode(), field="metadata", index=0),
    B("ndjson payload depth 65", ('%s\n{"entity_id":"e","event_type":"t","payload":%s}\n'
                                  % (VALID_LINE.decode(), deep(65))).encode(),
      headers={"Content-Type": "application/x-ndjson"}, field="payload", index=1),
    B("batch item bad expected_version", j([E(), E(expected_version="x")]),
      field="expected_version", index=1),
    B("batch 10001 events", j([E(entity_id="b%d" % (i % 3)) for i in range(10001)])),
    B("batch malformed", b"[" + VALID_LINE + b",", code="invalid_json"),
    B("batch invalid utf-8", b'[{"entity_id":"\xfe","event_type":"t","payload":1}]', code="invalid_json"),
    B("batch text/plain", j([E()]), headers={"Content-Type": "text/plain"}, status=415,
      code="unsupported_media_type"),
    B("batch no content type", j([E()]), headers={"Content-Type": ""}, status=415,
      code="unsupported_media_type"),
    B("batch repeated id", j([E(id="11111111-1111-4111-8111-111111111111"), E(),
                              E(id="11111111111141118111111111111111")]), field="id", index=2),
    B("batch version conflict", j([E(entity_id="x1"), E(entity_id="seeded", expected_version=1)]),
      status=409, code="version_conflict", field="expected_version", index=1,
      extra={"expected_version": 1, "actual_version": 2}),
    B("batch version conflict within batch", j([E(entity_id="x2", expected_version=0),
                                                E(entity_id="x2", expected_version=0)]),
      status=409, code="version_conflict", index=1,
      extra={"expected_version": 0, "actual_version": 1}),
    B("batch mixes stored id", j([E(entity_id="seeded", id=SEEDED_ID, payload={"v": 1}),
                                  E(entity_id="x3")]), status=409, code="id_conflict"),
    B("ndjson empty", b"", headers=NDJSON),
    B("ndjson blank lines", b"\n\n \r\n", headers=NDJSON),
    B("ndjson bad line", VALID_LINE + b"\n{bad\n" + VALID_LINE, headers=NDJSON,
      code="invalid_json", msg="line 2"),
    B("ndjson array line", VALID_LINE + b"\n[1]\n", headers=NDJSON, field="event", index=1),
    B("ndjson two values on a line", VALID_LINE + b" " + VALID_LINE, headers=NDJSON,
      code="invalid_json"),
    B("ndjson missing field", VALID_LINE + b"\n" + j(E(event_type=_DEL)), headers=NDJSON,
      field="event_type", index=1),
    B("ndjson invalid utf-8", VALID_LINE + b'\n{"entity_id":"\xff","event_type":"t","payload":1}',
      headers=NDJSON, code="invalid_json"),
    B("ndjson 10001 lines", b"\n".join([VALID_LINE] * 10001), headers=NDJSON),
    # --- query parameters -------------------------------------------------------
    Q("since garbage", "since=yesterday"),
    Q("since empty", "since="),
    Q("since date only", "since=2025-10-20"),
    Q("since no offset", "since=2025-10-20T16:05:49"),
    Q("since month 13", "since=2025-13-01T00:00:00Z"),
    Q("since feb 30", "since=2025-02-30T00:00:00Z"),
    Q("since feb 29 non-leap", "since=2025-02-29T00:00:00Z"),
    Q("since hour 24", "since=2025-10-20T24:00:00Z"),
    Q("since offset +25:00", "since=2025-10-20T10:00:00%2B25:00"),
    Q("since unencoded plus", "since=2025-10-20T10:00:00+01:00"),
    Q("since empty fraction", "since=2025-10-20T10:00:00.Z"),
    Q("since 10 fraction digits", "since=2025-10-20T10:00:00.1234567891Z"),
    Q("until garbage", "until=now"),
    Q("until epoch number", "until=1700000000"),
    Q("as_of garbage", "as_of=2025-10-20T16:05:49Q"),
    Q("as_of with entity", "entity_id=seeded&as_of=x"),
    Q("as_of with type", "event_type=t&as_of=x"),
    Q("limit negative", "limit=-1"),
    Q("limit text", "limit=ten"),
    Q("limit fraction", "limit=1.5"),
    Q("limit empty", "limit="),
    Q("limit plus sign", "limit=%2B5"),
    Q("limit leading space", "limit=%205"),
    Q("limit trailing text", "limit=5x"),
    Q("limit above max", "limit=10000001"),
    Q("limit absurd", "limit=99999999999999999999999999"),
    Q("limit exponent", "limit=1e3"),
    Q("from_position negative", "from_position=-1"),
    Q("from_position text", "from_position=first"),
    Q("from_position u64 max", "from_position=18446744073709551615"),
    Q("from_position overflow", "from_position=18446744073709551616"),
    Q("from_position fraction", "from_position=2.0"),
    Q("from_position empty", "from_position="),
    Q("order bad", "order=up"),
    Q("order empty", "order="),
    Q("order numeric", "order=1"),
    Q("state as_of garbage", "as_of=garbage", path="/api/v1/entities/seeded/state"),
    Q("state as_of date only", "as_of=2025-10-20", path="/api/v1/entities/seeded/state"),
    # --- ids in paths, unknown resources ------------------------------------------
    Case("event id not uuid", "GET", "/api/v1/events/not-a-uuid", status=400, code="invalid_id"),
    Case("event id 35 chars", "GET", "/api/v1/events/" + new_id()[:35], status=400, code="invalid_id"),
    Case("event id 37 chars", "GET", "/api/v1/events/" + new_id() + "a", status=400, code="invalid_id"),
    Case("event id bad hex", "GET", "/api/v1/events/gggggggg-gggg-gggg-gggg-gggggggggggg",
         status=400, code="invalid_id"),
    Case("event id number", "GET", "/api/v1/events/12345", status=400, code="invalid_id"),
    Case("event id invalid utf-8", "GET", "/api/v1/events/%FF%FE", status=400, code="invalid_id"),
    Case("event id unknown", "GET", "/api/v1/events/" + new_id(), status=404, code="not_found"),
    Case("state unknown entity", "GET", "/api/v1/entities/nobody/state", status=404, code="not_found"),
    Case("state before first event", "GET",
         "/api/v1/entities/seeded/state?as_of=2000-01-01T00:00:00Z", status=404, code="not_found"),
    Case("snapshot unknown entity", "GET", "/api/v1/entities/nobody/snapshot", status=404,
         code="not_found"),
    Case("unknown route", "GET", "/api/v1/nothing", status=404, code="not_found"),
    Case("unknown route POST", "POST", "/api/v1/nothing", body=VALID_LINE, status=404,
         code="not_found"),
    Case("unknown deep route", "GET", "/api/v1/events/query/more", status=404, code="not_found"),
    Case("wrong method DELETE event", "DELETE", "/api/v1/events/" + new_id(), status=405,
         code="method_not_allowed", extra={"allow": "GET"}),
    Case("wrong method GET ingest", "GET", "/api/v1/events", status=405,
         code="method_not_allowed", extra={"allow": "POST"}),
    Case("wrong method PUT ingest", "PUT", "/api/v1/events", body=VALID_LINE, status=405,
         code="method_not_allowed", extra={"allow": "POST"}),
    Case("wrong method POST query", "POST", "/api/v1/events/query", body=VALID_LINE, status=405,
         code="method_not_allowed", extra={"allow": "GET"}),
    Case("wrong method POST state", "POST", "/api/v1/entities/seeded/state", body=VALID_LINE,
         status=405, code="method_not_allowed", extra={"allow": "GET"}),
]


@pytest.fixture(scope="module")
def seeded(module_server):
    s = module_server
    s.ingest("seeded", "t", {"v": 1}, id=SEEDED_ID)
    s.ingest("seeded", "t.other", {"v": 2})
    return s


def _counters(st):
    return {k: st[k] for k in ("total_events", "total_entities", "total_event_types",
                               "total_ingested", "last_position")}


def send(server, case):
    headers = dict(case.headers)
    if headers.get("Content-Type") == "":
        headers.pop("Content-Type")
        # requests adds no Content-Type for a bytes body
    return server.request(case.method, case.path, data=case.body, headers=headers)


def check_error(r, case):
    assert r.status_code == case.status, (case.name, r.status_code, r.text[:500])
    assert r.headers.get("Content-Type") == "application/json", case.name
    assert r.headers.get("Access-Control-Allow-Origin") == "*", case.name
    body = strict_json(r)
    assert isinstance(body, dict), body
    assert body["code"] == case.code, (case.name, body)
    assert isinstance(body["error"], str)
    assert body["error"].startswith(KIND[case.code]), (case.name, body)
    assert re.match(r"^[A-Z][A-Za-z ]+: \S", body["error"]), body
    if case.field is not None:
        assert body.get("field") == case.field, (case.name, body)
    if case.index is not None:
        assert body.get("index") == case.index, (case.name, body)
    for k, v in case.extra.items():
        assert body.get(k) == v, (case.name, k, body)
    if case.code == "invalid_json":
        assert isinstance(body.get("offset"), int), body
    if case.msg:
        assert case.msg in body["error"], body
    return body


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(seeded, case):
    server = seeded
    before = _counters(server.stats())
    r = send(server, case)
    check_error(r, case)
    after = _counters(server.stats())
    assert after == before, (case.name, before, after)
    assert server.get("/health").status_code == 200


def test_nothing_was_written_by_bad_input(seeded):
    """After the whole table, the store holds exactly the two seed events
    plus this test's probe, at gap-free positions."""
    res = seeded.ingest("probe", "t", {"ok": True})
    evs = seeded.query()
    assert [e["position"] for e in evs] == list(range(1, len(evs) + 1))
    assert res["position"] == len(evs)
    assert {e["entity_id"] for e in evs} <= {"seeded", "probe"}
    assert [e["entity_id"] for e in evs if e["entity_id"] == "seeded"] == ["seeded"] * 2


# --- body limits: a server with --max-body 4096 ------------------------------

@pytest.fixture
def small(server_factory):
    return server_factory(args=["--max-body", "4096"])


def _padded_event(size):
    base = '{"entity_id":"big","event_type":"t","payload":"%s"}'
    pad = size - len(base % "")
    body = (base % ("x" * pad)).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/batch"])
@pytest.mark.parametrize("size", [4097, 5000, 65536, 1 << 20])
def test_body_over_limit_413(small, path, size):
    body = _padded_event(size)
    if path.endswith("batch"):
        body = b"[" + body[:-2] + b"]"
    r = small.post(path, data=body, headers=JSON)
    case = Case("413", "POST", path, status=413, code="payload_too_large")
    check_error(r, case)
    assert small.stats()["total_events"] == 0


def test_chunked_body_over_limit_413(small):
    body = _padded_event(6000)

    def gen():
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    r = small.post("/api/v1/events", data=gen(), headers=JSON)
    assert "Content-Length" not in r.request.headers
    check_error(r, Case("413", "POST", "/", status=413, code="payload_too_large"))
    assert small.stats()["total_events"] == 0


def test_body_at_limit_accepted(small):
    r = small.post("/api/v1/events", data=_padded_event(4096), headers=JSON)
    assert r.status_code == 200, r.text
    body = _padded_event(4096)

    def gen():
        yield body[:2000]
        yield body[2000:]

    r = small.post("/api/v1/events", data=gen(), headers=JSON)
    assert r.status_code == 200, r.text
    assert small.stats()["total_events"] == 2


def test_server_still_serves_after_413(small):
    for _ in range(3):
        r = small.post("/api/v1/events", data=_padded_event(10000), headers=JSON)
        assert r.status_code == 413
    assert small.ingest("after", "t", 1)["position"] == 1


# --- requests that are not even well-formed HTTP ---------------------------

def _raw(server, data, timeout=30):
    s = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


CLOSED = None  # the server may just close the connection on garbage


@pytest.mark.parametrize("raw,statuses", [
    (b"GARBAGE\r\n\r\n", (CLOSED, 400)),
    (b"GET\r\n\r\n", (CLOSED, 400)),
    (b"\x00\x01\x02\x03" * 100, (CLOSED, 400)),
    # 505 is HTTP's own answer to an unknown protocol version
    (b"GET /health HTTP/9.9\r\n\r\n", (505,)),
    (b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", (400,)),
    (b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", (400,)),
    (b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", (400,)),
    (b"GET /api/v1/events/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
    (b"GET /api/v1/events/query?limit=\xff HTTP/1.1\r\nHost: x\r\n\r\n", (400,)),
])
def test_malformed_http(server, raw, statuses):
    resp = _raw(server, raw)
    status = int(resp.split(b" ", 2)[1]) if resp else CLOSED
    assert status in statuses, resp[:300]
    assert server.get("/health").status_code == 200
    assert server.stats()["total_events"] == 0


def test_long_url_414(server):
    r = server.get("/api/v1/entities/" + "x" * 5000 + "/state")
    assert r.status_code == 414
    assert strict_json(r)["code"] == "uri_too_long"
    # a long query string is fine (the limit is on the path)
    r = server.get("/api/v1/events/query", params={"entity_id": "x" * 3000})
    assert r.status_code == 200 and r.json() == {"events": [], "count": 0}
    assert server.get("/health").status_code == 200


def test_invalid_utf8_entity_in_path_404(seeded):
    r = seeded.get("/api/v1/entities/%FF/state")
    assert r.status_code == 404
    body = strict_json(r)  # the message stays valid UTF-8
    assert body["code"] == "not_found"
    assert body["error"].startswith("Entity not found: ")


def test_error_message_with_invalid_utf8_input_is_complete(seeded):
    body = strict_json(seeded.get("/api/v1/entities/a%FFb/state"))
    assert body["error"].startswith("Entity not found: a")
    assert body["error"].endswith("b")
    body = strict_json(seeded.get("/api/v1/events/%FF%FE"))
    assert body["error"].endswith("is not a UUID")


def test_query_param_invalid_utf8_is_just_no_match(seeded):
    r = seeded.get("/api/v1/events/query?entity_id=%FF%FE")
    assert r.status_code == 200
    assert strict_json(r) == {"events": [], "count": 0}
    r = seeded.get("/api/v1/events/query?event_type=%C0%AF")
    assert r.status_code == 200
    assert strict_json(r) == {"events": [], "count": 0}
