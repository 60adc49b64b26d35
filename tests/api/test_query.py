"""GET /api/v1/events/query: every filter and combination against a model of
a few thousand events, order, limit, from_position paging in both orders,
and NDJSON streaming."""

import json
import random

import pytest

from conftest import load_scale
from apiutil import check_event_shape, strict_json, utf8

TYPES = ["order.created", "order.paid", "order.item.added", "orders.archived", "order",
         "user.created", "user.deleted"]
TENANTS = ["default", "acme", "globex"]
N_EVENTS = max(300, int(3000 * load_scale()))


@pytest.fixture(scope="module")
def data(module_server):
    """Ingests N_EVENTS events in batches; returns (server, model) where the
    model is the list of expected events in position order."""
    s = module_server
    rng = random.Random(7)
    model = []
    pending = []
    for i in range(N_EVENTS):
        e = {"entity_id": "ent-%d" % rng.randrange(12), "event_type": rng.choice(TYPES),
             "tenant_id": rng.choice(TENANTS), "payload": {"i": i, "r": rng.random()}}
        pending.append(e)
        if len(pending) == 1000 or i == N_EVENTS - 1:
            res = s.batch(pending)
            for e2, r in zip(pending, res["events"]):
                model.append(dict(e2, position=r["position"], version=r["version"],
                                  id=r["event_id"], timestamp=r["timestamp"]))
            pending = []
    assert [m["position"] for m in model] == list(range(1, N_EVENTS + 1))
    return s, model


def expect(model, entity_id=None, event_type=None, tenant_id=None, order="asc",
           limit=None, from_position=None):
    out = []
    for m in model:
        if entity_id is not None and m["entity_id"] != entity_id:
            continue
        if event_type is not None:
            if event_type.endswith(".*"):
                if not m["event_type"].startswith(event_type[:-1]):
                    continue
            elif m["event_type"] != event_type:
                continue
        if tenant_id is not None and m["tenant_id"] != tenant_id:
            continue
        if from_position:
            if order == "asc" and m["position"] < from_position:
                continue
            if order == "desc" and m["position"] > from_position:
                continue
        out.append(m["position"])
    if order == "desc":
        out.reverse()
    if limit is not None:
        out = out[:limit]
    return out


FILTERS = [
    {},
    {"entity_id": "ent-3"},
    {"entity_id": "nobody"},
    {"entity_id": ""},
    {"event_type": "order.created"},
    {"event_type": "order"},
    {"event_type": "order.*"},
    {"event_type": "order.item.*"},
    {"event_type": "orders.*"},
    {"event_type": "user.*"},
    {"event_type": "none.*"},
    {"event_type": "order*"},
    {"event_type": "ORDER.created"},
    {"tenant_id": "acme"},
    {"tenant_id": "nobody"},
    {"entity_id": "ent-5", "event_type": "user.created"},
    {"entity_id": "ent-5", "event_type": "order.*"},
    {"entity_id": "ent-1", "tenant_id": "globex"},
    {"event_type": "order.*", "tenant_id": "acme"},
    {"event_type": "order.paid", "tenant_id": "default"},
    {"entity_id": "ent-7", "event_type": "order.*", "tenant_id": "acme"},
]


def _ids(f):
    return ",".join("%s=%s" % kv for kv in f.items()) or "all"


@pytest.mark.parametrize("order", ["asc", "desc", None])
@pytest.mark.parametrize("f", FILTERS, ids=[_ids(f) for f in FILTERS])
def test_filters(data, f, order):
    s, model = data
    params = dict(f)
    if order:
        params["order"] = order
    got = s.query(**params)
    want = expect(model, order=order or "asc", **f)
    assert [g["position"] for g in got] == want
    if f.get("entity_id") == "ent-3" and order is None:
        assert len(want) > 100
    # content is right, not just positions
    for g in got[:50]:
        m = model[g["position"] - 1]
        assert (g["id"], g["entity_id"], g["event_type"], g["tenant_id"], g["payload"],
                g["version"], g["timestamp"]) == \
            (m["id"], m["entity_id"], m["event_type"], m["tenant_id"], m["payload"],
             m["version"], m["timestamp"])


def test_filtered_results_are_not_trivial(data):
    _, model = data
    for f in FILTERS:
        n = len(expect(model, **f))
        if f.get("entity_id") in ("nobody", "") or f.get("tenant_id") == "nobody" or \
                f.get("event_type") in ("none.*", "order*", "ORDER.created"):
            assert n == 0, f
        else:
            assert 0 < n < len(model) or f == {}, f


@pytest.mark.parametrize("limit", [0, 1, 2, 99, 1000, N_EVENTS, N_EVENTS + 1, 10000000])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_limit(data, limit, order):
    s, model = data
    r = s.query_resp(limit=limit, order=order)
    assert r.status_code == 200
    body = r.json()
    want = expect(model, order=order, limit=limit)
    assert [e["position"] for e in body["events"]] == want
    assert body["count"] == len(want)
    got = s.query(limit=limit, order=order, event_type="order.*")
    assert [e["position"] for e in got] == expect(model, order=order, limit=limit,
                                                   event_type="order.*")


def test_limit_zero_is_empty(data):
    s, _ = data
    r = s.query_resp(limit=0)
    assert strict_json(r) == {"events": [], "count": 0}
    r = s.get("/api/v1/events/query", params={"limit": 0},
              headers={"Accept": "application/x-ndjson"})
    assert r.status_code == 200 and r.content == b""


@pytest.mark.parametrize("from_position", [1, 2, 500, N_EVENTS - 1, N_EVENTS, N_EVENTS + 1, 10 ** 15])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_from_position(data, from_position, order):
    s, model = data
    got = s.query(from_position=from_position, order=order)
    assert [g["position"] for g in got] == expect(model, order=order, from_position=from_position)
    got = s.query(from_position=from_position, order=order, entity_id="ent-2", limit=10)
    assert [g["position"] for g in got] == expect(model, order=order, from_position=from_position,
                                                  entity_id="ent-2", limit=10)


def test_from_position_zero_means_no_bound(data):
    s, model = data
    assert [g["position"] for g in s.query(from_position=0, limit=3)] == [1, 2, 3]
    assert [g["position"] for g in s.query(from_position=0, limit=3, order="desc")] == \
        [N_EVENTS, N_EVENTS - 1, N_EVENTS - 2]


def _page_all(s, order, page, **f):
    seen = []
    cursor = None
    for _ in range(N_EVENTS + 2):
        params = dict(f, limit=page, order=order)
        if cursor is not None:
            params["from_position"] = cursor
        got = s.query(**params)
        seen += [g["position"] for g in got]
        if len(got) < page:
            return seen
        last = got[-1]["position"]
        if order == "asc":
            cursor = last + 1
        else:
            if last == 1:
                return seen
            cursor = last - 1
    raise AssertionError("paging did not terminate")


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("f", [{}, {"entity_id": "ent-4"}, {"event_type": "order.*"},
                               {"event_type": "user.created", "tenant_id": "acme"}],
                         ids=["all", "entity", "prefix", "type+tenant"])
@pytest.mark.parametrize("page", [1000, 257])
def test_paging_covers_everything_once(data, order, f, page):
    s, model = data
    seen = _page_all(s, order, page, **f)
    assert seen == expect(model, order=order, **f)
    assert len(set(seen)) == len(seen)


def test_paging_one_by_one_small_filter(data):
    s, model = data
    want = expect(model, entity_id="ent-9", event_type="user.deleted")
    assert _page_all(s, "asc", 1, entity_id="ent-9", event_type="user.deleted") == want
    assert _page_all(s, "desc", 1, entity_id="ent-9", event_type="user.deleted") == want[::-1]


def test_event_shape_in_query(data):
    s, _ = data
    for e in s.query(limit=20):
        check_event_shape(e)
        assert e["metadata"] is None


def test_versions_per_entity_are_1_to_n(data):
    s, model = data
    for k in range(12):
        evs = s.query(entity_id="ent-%d" % k)
        assert [e["version"] for e in evs] == list(range(1, len(evs) + 1))
        positions = [e["position"] for e in evs]
        assert positions == sorted(positions)


def test_timestamps_non_decreasing_in_position_order(data):
    s, _ = data
    ts = [e["timestamp"] for e in s.query()]
    assert ts == sorted(ts)


# --- NDJSON -------------------------------------------------------------

def _ndjson(s, **params):
    r = s.get("/api/v1/events/query", params=params,
              headers={"Accept": "application/x-ndjson"}, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-ndjson"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    out = []
    raw = b""
    for chunk in r.iter_content(chunk_size=8192):
        raw += chunk
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n")
    for line in text.split("\n")[:-1]:
        out.append(json.loads(line))  # every line is one JSON value
    return out


def test_ndjson_stream_all(data):
    s, model = data
    evs = _ndjson(s)
    assert len(evs) == N_EVENTS
    assert [e["position"] for e in evs] == list(range(1, N_EVENTS + 1))
    for e, m in zip(evs, model):
        assert e["id"] == m["id"] and e["payload"] == m["payload"]
        check_event_shape(e)


@pytest.mark.parametrize("params", [
    {"order": "desc"},
    {"entity_id": "ent-0"},
    {"event_type": "order.*", "order": "desc", "limit": 100},
    {"from_position": 1234, "limit": 777},
    {"tenant_id": "acme", "event_type": "user.created"},
    {"entity_id": "nobody"},
])
def test_ndjson_filters_match_json(data, params):
    s, _ = data
    ndjson = _ndjson(s, **params)
    js = s.query(**params)
    assert ndjson == js


def test_ndjson_accept_variants(data):
    s, _ = data
    for accept in ("application/ndjson", "application/json, application/x-ndjson;q=0.9"):
        r = s.get("/api/v1/events/query", params={"limit": 3}, headers={"Accept": accept})
        assert r.headers["Content-Type"] == "application/x-ndjson", accept
        assert len(utf8(r).splitlines()) == 3
    r = s.get("/api/v1/events/query", params={"limit": 3}, headers={"Accept": "application/json"})
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["count"] == 3


def test_large_json_response_is_valid(data):
    s, _ = data
    r = s.query_resp()
    body = strict_json(r)
    assert body["count"] == N_EVENTS == len(body["events"])


def test_query_sees_new_events_immediately(data):
    """Read-your-writes: an acknowledged append is visible to the next query
    (run last in this module: it adds an event)."""
    s, model = data
    res = s.ingest("ent-new", "late.event", {"x": 1})
    assert res["position"] == N_EVENTS + 1
    got = s.query(entity_id="ent-new")
    assert [g["id"] for g in got] == [res["event_id"]]
    assert s.query(order="desc", limit=1)[0]["position"] == N_EVENTS + 1
    model.append(dict(entity_id="ent-new", event_type="late.event", tenant_id="default",
                      payload={"x": 1}, position=res["position"], version=1,
                      id=res["event_id"], timestamp=res["timestamp"]))


def test_query_param_with_nul_does_not_match_prefix(server):
    server.ingest("a", "t", 1)
    for q in ("entity_id=a%00b", "event_type=t%00zzz", "tenant_id=default%00x"):
        r = server.get("/api/v1/events/query?" + q)
        if r.status_code == 400:
            assert strict_json(r)["code"] == "invalid_query"
        else:
            assert r.status_code == 200
            assert strict_json(r) == {"events": [], "count": 0}, q


# --- Framing: one buffer when the answer is small, chunks when it is not ----

def test_small_answer_has_content_length_large_one_streams(data):
    s, model = data
    r = s.get("/api/v1/events/query", params={"limit": 3})
    assert r.status_code == 200
    assert r.headers.get("Content-Length") == str(len(r.content))
    assert "Transfer-Encoding" not in r.headers
    assert r.json()["count"] == 3
    # more than the first 64 KiB: streamed in chunks, never built whole
    r = s.get("/api/v1/events/query")
    assert r.status_code == 200
    assert len(r.content) > 64 * 1024, "the fixture's history must exceed one chunk"
    assert r.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in r.headers
    body = r.json()  # other tests of this module may have appended more
    assert body["count"] == len(body["events"]) >= N_EVENTS
