"""Time filters (as_of, since, until) on entity, type, type-prefix, tenant and
full-scan queries, and as_of on entity state.  Events are separated by small
sleeps; every expectation is computed from the timestamps the server
returned, so the tests do not depend on timing beyond "a few ms apart"."""

import datetime as dt
import time

import pytest

from apiutil import strict_json

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
US = dt.timedelta(microseconds=1)


def to_us(ts):
    d = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return (d - EPOCH) // US


def fmt(us, style="z6"):
    d = EPOCH + us * US
    if style == "z6":
        return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if style == "z9":  # nanoseconds: truncated to microseconds by the server
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "999Z"
    if style == "z3":  # milliseconds: only exact when us % 1000 == 0
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if style == "plus2":
        d2 = d.astimezone(dt.timezone(dt.timedelta(hours=2)))
        return d2.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+02:00"
    if style == "minus0530":
        d2 = d.astimezone(dt.timezone(-dt.timedelta(hours=5, minutes=30)))
        return d2.strftime("%Y-%m-%dT%H:%M:%S.%f") + "-05:30"
    raise ValueError(style)


# 12 events: entity a/b alternating, types step.even/step.odd/other.x, two tenants
PLAN = [("tt-a", "step.even", "default"), ("tt-b", "step.odd", "default"),
        ("tt-a", "step.even", "acme"), ("tt-c", "other.x", "default"),
        ("tt-a", "step.odd", "default"), ("tt-b", "step.odd", "acme"),
        ("tt-a", "step.even", "default"), ("tt-c", "other.x", "acme"),
        ("tt-b", "step.even", "default"), ("tt-a", "step.odd", "default"),
        ("tt-b", "step.odd", "default"), ("tt-a", "step.even", "acme")]


@pytest.fixture(scope="module")
def timeline(module_server):
    s = module_server
    model = []
    for i, (ent, typ, ten) in enumerate(PLAN):
        if i:
            time.sleep(0.003)
        r = s.ingest(ent, typ, {"step": i, ent: i}, tenant_id=ten)
        model.append({"position": r["position"], "entity_id": ent, "event_type": typ,
                      "tenant_id": ten, "ts": to_us(r["timestamp"]), "version": r["version"],
                      "payload": {"step": i, ent: i}})
    ts = [m["ts"] for m in model]
    assert ts == sorted(ts) and len(set(ts)) == len(ts), \
        "timestamps must increase between events sent 3 ms apart"
    return s, model


def expected(model, since=None, until=None, as_of=None, entity_id=None, event_type=None,
             tenant_id=None, order="asc"):
    out = []
    for m in model:
        if since is not None and m["ts"] < since:
            continue
        if until is not None and m["ts"] > until:
            continue
        if as_of is not None and m["ts"] > as_of:
            continue
        if entity_id and m["entity_id"] != entity_id:
            continue
        if event_type:
            if event_type.endswith(".*"):
                if not m["event_type"].startswith(event_type[:-1]):
                    continue
            elif m["event_type"] != event_type:
                continue
        if tenant_id and m["tenant_id"] != tenant_id:
            continue
        out.append(m["position"])
    return out[::-1] if order == "desc" else out


SOURCES = [{}, {"entity_id": "tt-a"}, {"event_type": "step.odd"}, {"event_type": "step.*"},
           {"tenant_id": "acme"}, {"entity_id": "tt-b", "event_type": "step.odd"}]
SOURCE_IDS = ["full-scan", "entity", "type", "prefix", "tenant", "entity+type"]


def bounds(model):
    """Interesting instants: each event's timestamp, +-1 us, and outside."""
    pts = []
    for m in model:
        pts += [m["ts"] - 1, m["ts"], m["ts"] + 1]
    return [model[0]["ts"] - 10 ** 7] + pts + [model[-1]["ts"] + 10 ** 7]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
@pytest.mark.parametrize("param", ["since", "until", "as_of"])
def test_single_bound(timeline, param, src, order):
    s, model = timeline
    for b in bounds(model):
        got = s.query(**{param: fmt(b)}, order=order, **src)
        want = expected(model, order=order, **{param: b}, **src)
        assert [g["position"] for g in got] == want, (param, fmt(b), src)


@pytest.mark.parametrize("src", SOURCES, ids=SOURCE_IDS)
def test_since_and_until_window(timeline, src):
    s, model = timeline
    ts = [m["ts"] for m in model]
    for lo, hi in [(2, 5), (0, 11), (4, 4), (7, 3), (1, 10)]:
        got = s.query(since=fmt(ts[lo]), until=fmt(ts[hi]), **src)
        assert [g["position"] for g in got] == expected(model, since=ts[lo], until=ts[hi], **src)
        # as_of narrows like until; both together: the earlier wins
        got = s.query(since=fmt(ts[lo]), as_of=fmt(ts[hi]), until=fmt(ts[-1]), **src)
        assert [g["position"] for g in got] == expected(model, since=ts[lo], until=ts[hi], **src)
        got = s.query(since=fmt(ts[lo]), until=fmt(ts[hi]), as_of=fmt(ts[-1]), **src)
        assert [g["position"] for g in got] == expected(model, since=ts[lo], until=ts[hi], **src)


def test_time_bounds_with_limit_paging_and_order(timeline):
    s, model = timeline
    ts = [m["ts"] for m in model]
    want = expected(model, since=ts[3], until=ts[9])
    assert [g["position"] for g in s.query(since=fmt(ts[3]), until=fmt(ts[9]), limit=2)] == want[:2]
    assert [g["position"] for g in s.query(since=fmt(ts[3]), until=fmt(ts[9]), limit=2,
                                           order="desc")] == want[::-1][:2]
    got = s.query(since=fmt(ts[3]), until=fmt(ts[9]), from_position=want[2])
    assert [g["position"] for g in got] == want[2:]


@pytest.mark.parametrize("style", ["z9", "plus2", "minus0530"])
def test_timestamp_formats_are_equivalent(timeline, style):
    s, model = timeline
    for m in model[::3]:
        for param in ("since", "until", "as_of"):
            a = s.query(**{param: fmt(m["ts"])})
            b = s.query(**{param: fmt(m["ts"], style)})
            assert a == b, (param, fmt(m["ts"], style))


def test_second_precision_and_lowercase(timeline):
    s, model = timeline
    t0 = model[0]["ts"]
    whole = t0 - t0 % 10 ** 6  # floor to the second
    text = (EPOCH + whole * US).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [g["position"] for g in s.query(since=text)] == expected(model, since=whole)
    assert [g["position"] for g in s.query(until=text)] == expected(model, until=whole)
    assert s.query(since=text.replace("T", "t").replace("Z", "z")) == s.query(since=text)


def test_far_past_and_future(timeline):
    s, model = timeline
    every = [m["position"] for m in model]
    assert [g["position"] for g in s.query(since="1970-01-01T00:00:00Z")] == every
    assert [g["position"] for g in s.query(until="9999-12-31T23:59:59.999999Z")] == every
    assert s.query(until="1970-01-01T00:00:00Z") == []
    assert s.query(since="9999-12-31T23:59:59Z") == []
    assert s.query(as_of="1969-07-20T20:17:40Z") == []


def test_ndjson_respects_time_filters(timeline):
    import json
    s, model = timeline
    ts = [m["ts"] for m in model]
    r = s.get("/api/v1/events/query", params={"since": fmt(ts[2]), "until": fmt(ts[8])},
              headers={"Accept": "application/x-ndjson"})
    got = [json.loads(l)["position"] for l in r.content.decode().splitlines()]
    assert got == expected(model, since=ts[2], until=ts[8])


# --- entity state as_of ------------------------------------------------------

def _merge(payloads):
    st = {}
    for p in payloads:
        if isinstance(p, dict):
            st.update(p)
    return st


@pytest.mark.parametrize("entity", ["tt-a", "tt-b", "tt-c"])
def test_state_as_of_every_instant(timeline, entity):
    s, model = timeline
    mine = [m for m in model if m["entity_id"] == entity]
    for b in bounds(model):
        inc = [m for m in mine if m["ts"] <= b]
        r = s.state(entity, as_of=fmt(b))
        if not inc:
            assert r.status_code == 404, (fmt(b), r.text)
            assert strict_json(r)["code"] == "not_found"
            continue
        assert r.status_code == 200, r.text
        st = r.json()
        assert st["entity_id"] == entity
        assert st["as_of"] == fmt(b)
        assert st["event_count"] == len(inc)
        assert st["version"] == inc[-1]["version"] == len(inc)
        assert st["last_updated"] == fmt(inc[-1]["ts"])
        assert st["current_state"] == _merge(m["payload"] for m in inc)
        assert [h["version"] for h in st["history"]] == list(range(1, len(inc) + 1))
        assert [h["payload"] for h in st["history"]] == [m["payload"] for m in inc]


def test_state_as_of_echo_is_normalised_to_utc(timeline):
    s, model = timeline
    t = model[5]["ts"]
    for style in ("plus2", "minus0530", "z9"):
        r = s.state("tt-a", as_of=fmt(t, style))
        assert r.status_code == 200
        assert r.json()["as_of"] == fmt(t)
        assert r.json()["event_count"] == len([m for m in model[:6] if m["entity_id"] == "tt-a"])


def test_state_without_as_of(timeline):
    s, model = timeline
    st = s.state("tt-b").json()
    assert st["as_of"] is None
    mine = [m for m in model if m["entity_id"] == "tt-b"]
    assert st["event_count"] == len(mine) and st["version"] == len(mine)
