"""Analytics (frequency, summary, correlation) against brute-force answers
computed here from the events the test wrote (their server-assigned
timestamps are read back from the store)."""

import calendar
import datetime
import os
import random
import time

import pytest

TYPES = ["order.created", "order.paid", "order.shipped", "user.created", "user.seen",
         "audit", "t.a", "t.b", "t.c", "t.d", "t.e", "t.f", "zeta", "Zeta",
         "r.1", "r.2", "r.3", "r.4", "r.5", "r.6", "r.7", "r.8"]
ENTITIES = ["e%02d" % i for i in range(22)] + ["ü-1", "a b", "A"]


# --- Time helpers (UTC, microseconds) ---------------------------------------------


def us_of(ts):
    """RFC 3339 (Z or offset) -> µs since the epoch."""
    if ts.endswith("Z"):
        ts = ts[:-1] + "+00:00"
    date, rest = ts.split("T")
    for sep in ("+", "-"):
        if sep in rest:
            clock, off = rest.rsplit(sep, 1)
            sign = 1 if sep == "+" else -1
            break
    hh, mm = off.split(":")
    frac = 0
    if "." in clock:
        clock, f = clock.split(".")
        frac = int((f + "000000")[:6])
    y, mo, d = map(int, date.split("-"))
    h, mi, s = map(int, clock.split(":"))
    secs = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    secs -= sign * (int(hh) * 3600 + int(mm) * 60)
    return secs * 1000000 + frac


def ts_of(us):
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trunc(us, window):
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    if window == "minute":
        dt = dt.replace(second=0, microsecond=0)
    elif window == "hour":
        dt = dt.replace(minute=0, second=0, microsecond=0)
    elif window == "day":
        dt = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    elif window == "week":
        dt = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        dt -= datetime.timedelta(days=dt.weekday())  # Monday
    elif window == "month":
        dt = dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (dt - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)


def step(us, window):
    dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    if window == "month":
        dt = dt.replace(year=dt.year + dt.month // 12, month=dt.month % 12 + 1)
    else:
        dt += {"minute": datetime.timedelta(minutes=1), "hour": datetime.timedelta(hours=1),
               "day": datetime.timedelta(days=1), "week": datetime.timedelta(weeks=1)}[window]
    return (dt - datetime.datetime(1970, 1, 1)) // datetime.timedelta(microseconds=1)


# --- The history --------------------------------------------------------------------


@pytest.fixture(scope="module")
def hist(module_factory):
    """~700 events in three phases about 1.1 s apart (so that correlation
    windows of whole seconds matter), with designed counts: ties in the top
    lists, more than 10 types and entities."""
    # small segments: most events end up sealed in Parquet files, and the
    # server is restarted before the checks (recovery = manifest + Parquet +
    # WAL tail), so the analytics run over recovered, sealed storage
    s = module_factory(args=["--segment-events", "97"])
    seed = int(os.environ.get("ALLSOURCE_STREAM_SEED", "0") or 0) or 12345
    rnd = random.Random(seed)
    pairs = []
    type_counts = [60, 55, 55, 50, 40, 40, 40, 30, 20, 12, 12, 5, 3, 3] + [1] * 8
    for t, c in zip(TYPES, type_counts):
        for _ in range(c):
            pairs.append(t)
    rnd.shuffle(pairs)
    ent_weights = [1 + (i % 5 == 0) * 3 for i in range(len(ENTITIES))]
    evs = [{"entity_id": rnd.choices(ENTITIES, ent_weights)[0], "event_type": t,
            "payload": {"i": i}} for i, t in enumerate(pairs)]
    thirds = [evs[:len(evs) // 3], evs[len(evs) // 3:2 * len(evs) // 3],
              evs[2 * len(evs) // 3:]]
    for k, part in enumerate(thirds):
        i = 0
        while i < len(part):
            n = rnd.choice([1, 1, 3, 10, 25])
            chunk = part[i:i + n]
            if len(chunk) == 1:
                s.ingest(**chunk[0])
            else:
                s.batch(chunk)
            i += n
        if k < 2:
            time.sleep(1.15)
    before = s.query()
    s.restart()
    stored = s.query()
    assert stored == before
    assert len(stored) == len(evs)
    for e in stored:
        e["us"] = us_of(e["timestamp"])
    return s, stored


def matches(e, entity_id=None, event_type=None, since=None, until=None):
    if entity_id is not None and e["entity_id"] != entity_id:
        return False
    if event_type is not None:
        if event_type.endswith(".*"):
            if not e["event_type"].startswith(event_type[:-1]):
                return False
        elif e["event_type"] != event_type:
            return False
    if since is not None and e["us"] < us_of(since):
        return False
    if until is not None and e["us"] > us_of(until):
        return False
    return True


# --- Frequency ----------------------------------------------------------------------


def expected_frequency(events, since, until, window, **flt):
    sel = [e for e in events if matches(e, since=since, until=until, **flt)]
    if not sel:
        return []
    by_bucket = {}
    for e in sel:
        by_bucket.setdefault(trunc(e["us"], window), []).append(e)
    out = []
    t = trunc(us_of(since), window)
    last = trunc(us_of(until), window)
    while t <= last:
        nxt = step(t, window)
        inb = by_bucket.pop(t, [])
        assert all(t <= e["us"] < nxt for e in inb)
        types = {}
        for e in inb:
            types[e["event_type"]] = types.get(e["event_type"], 0) + 1
        out.append((t, len(inb), types))
        t = nxt
    assert not by_bucket, "events outside every bucket"
    return out


def check_frequency(server, events, since, until, window, **flt):
    params = {"since": since, "window": window}
    if until is not None:
        params["until"] = until
    params.update({k: v for k, v in flt.items() if v is not None})
    r = server.get("/api/v1/analytics/frequency", params=params)
    assert r.status_code == 200, (params, r.text)
    body = r.json()
    if until is None:
        until = body["time_range"]["to"]
    assert us_of(body["time_range"]["from"]) == us_of(since)
    assert us_of(body["time_range"]["to"]) == us_of(until)
    assert body["window"] == window
    exp = expected_frequency(events, since, until, window, **flt)
    got = [(us_of(b["timestamp"]), b["count"], b["event_types"]) for b in body["buckets"]]
    assert len(got) == len(exp), (params, len(got), len(exp))
    for g, x in zip(got, exp):
        assert g == x, (params, ts_of(g[0]), g, ts_of(x[0]), x)
    assert body["total_events"] == sum(x[1] for x in exp)
    return body


DAY = 86400 * 1000000


@pytest.mark.parametrize("window,back", [("minute", 3 * 60), ("hour", 30 * 3600),
                                         ("day", 40 * 86400), ("week", 20 * 7 * 86400),
                                         ("month", 430 * 86400)])
def test_frequency_calendar_windows(hist, window, back):
    server, events = hist
    first = events[0]["us"]
    since = ts_of(first - back * 1000000 - 123457)
    body = check_frequency(server, events, since, None, window)
    starts = [us_of(b["timestamp"]) for b in body["buckets"]]
    for s in starts:
        dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=s)
        if window == "week":
            assert dt.weekday() == 0 and dt.time() == datetime.time(0), dt
        if window == "month":
            assert dt.day == 1 and dt.time() == datetime.time(0), dt
    if window == "month":
        assert len(starts) >= 14  # 430 days: each bucket on a 1st, none skipped
    # with an explicit until and filters
    until = events[-1]["timestamp"]
    check_frequency(server, events, since, until, window)
    check_frequency(server, events, since, until, window, event_type="order.paid")
    check_frequency(server, events, since, until, window, event_type="order.*")
    check_frequency(server, events, since, until, window, entity_id="e00")
    check_frequency(server, events, since, until, window, entity_id="e05",
                    event_type="t.*")


def test_frequency_many_windows(hist):
    """~100,000 minute windows x 22 types: beyond the server's index-path
    budget (2,000,000 type-windows), so the full-store scan path answers."""
    server, events = hist
    since = ts_of(events[0]["us"] - (99990 - 5) * 60 * 10 ** 6)
    until = events[-1]["timestamp"]
    body = check_frequency(server, events, since, until, "minute")
    assert len(body["buckets"]) > 99000
    check_frequency(server, events, since, until, "minute", event_type="r.*")
    r = server.get("/api/v1/analytics/frequency",
                   params={"since": ts_of(events[0]["us"] - 100001 * 60 * 10 ** 6),
                           "until": until, "window": "minute"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_query"


def test_frequency_bounds_inclusive_and_cut(hist):
    server, events = hist
    n = len(events)
    rnd = random.Random(1)
    for _ in range(12):
        i, j = sorted(rnd.sample(range(n), 2))
        since, until = events[i]["timestamp"], events[j]["timestamp"]
        for window in ("minute", "hour", "day"):
            check_frequency(server, events, since, until, window)
        check_frequency(server, events, since, until, "minute", event_type="user.*")
        check_frequency(server, events, since, until, "minute", entity_id="e10")
    # one microsecond after the last event / before the first: no events
    r = server.get("/api/v1/analytics/frequency",
                   params={"since": ts_of(events[-1]["us"] + 1), "window": "hour"})
    assert r.status_code == 200 and r.json()["buckets"] == [] and \
        r.json()["total_events"] == 0
    check_frequency(server, events, ts_of(events[0]["us"] - 3600 * 10 ** 6),
                    ts_of(events[0]["us"] - 1), "minute")


def test_frequency_offsets_are_converted_to_utc(hist):
    server, events = hist
    first = events[0]["us"]
    # the same instant written with a +05:30 offset: hour buckets start on
    # whole UTC hours, not on half hours
    local = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=first - 5 * 3600
                                                               * 10 ** 6 + 5 * 3600 * 10 ** 6)
    shifted = local + datetime.timedelta(hours=5, minutes=30) - datetime.timedelta(hours=7)
    since = shifted.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+05:30"
    body = check_frequency(server, events, since, None, "hour")
    assert all(us_of(b["timestamp"]) % (3600 * 10 ** 6) == 0 for b in body["buckets"])


def test_frequency_bad_parameters(hist):
    server, events = hist
    now = events[-1]["timestamp"]
    for params in [{"window": "hour"}, {"since": now}, {"since": now, "window": "year"},
                   {"since": "yesterday", "window": "hour"},
                   {"since": now, "window": "hour", "until": "x"},
                   {"since": "2000-01-01T00:00:00Z", "window": "minute"}]:
        r = server.get("/api/v1/analytics/frequency", params=params)
        assert r.status_code == 400, (params, r.status_code, r.text)
        assert r.json()["code"] and ":" in r.json()["error"]


# --- Summary ------------------------------------------------------------------------


def expected_summary(events, **flt):
    sel = [e for e in events if matches(e, **flt)]
    if not sel:
        return None
    total = len(sel)
    by_t, by_e = {}, {}
    for e in sel:
        by_t[e["event_type"]] = by_t.get(e["event_type"], 0) + 1
        by_e[e["entity_id"]] = by_e.get(e["entity_id"], 0) + 1

    def top(m, key):
        items = sorted(m.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:10]
        return [{key: k, "count": c, "percentage": 100.0 * c / total} for k, c in items]

    first, last = sel[0]["us"], sel[-1]["us"]
    days = (last - first) // DAY
    return {"total_events": total, "unique_entities": len(by_e), "unique_event_types": len(by_t),
            "time_range": {"from": first, "to": last}, "first_event": first, "last_event": last,
            "events_per_day": total / max(1, days),
            "top_event_types": top(by_t, "event_type"), "top_entities": top(by_e, "entity_id")}


def check_summary(server, events, **flt):
    params = {k: v for k, v in flt.items() if v is not None}
    r = server.get("/api/v1/analytics/summary", params=params)
    exp = expected_summary(events, **flt)
    if exp is None:
        assert r.status_code == 404, (params, r.text)
        assert r.json()["code"] == "not_found"
        return
    assert r.status_code == 200, (params, r.text)
    b = r.json()
    for k in ("total_events", "unique_entities", "unique_event_types"):
        assert b[k] == exp[k], (params, k, b[k], exp[k])
    assert us_of(b["time_range"]["from"]) == exp["first_event"]
    assert us_of(b["time_range"]["to"]) == exp["last_event"]
    assert us_of(b["first_event"]) == exp["first_event"]
    assert us_of(b["last_event"]) == exp["last_event"]
    assert b["events_per_day"] == pytest.approx(exp["events_per_day"], rel=1e-5)
    for key in ("top_event_types", "top_entities"):
        name = "event_type" if key == "top_event_types" else "entity_id"
        assert [(x[name], x["count"]) for x in b[key]] == \
            [(x[name], x["count"]) for x in exp[key]], (params, key)
        for g, x in zip(b[key], exp[key]):
            assert g["percentage"] == pytest.approx(x["percentage"], rel=1e-5)
    return b


def test_summary_unfiltered(hist):
    server, events = hist
    b = check_summary(server, events)
    assert b["unique_event_types"] == len(TYPES) > 10
    assert b["unique_entities"] == len(ENTITIES) > 10
    # the designed ties: order.paid/order.shipped (55), user.seen/audit/t.a (40)
    names = [x["event_type"] for x in b["top_event_types"]]
    assert names[:3] == ["order.created", "order.paid", "order.shipped"]
    assert names[4:7] == ["audit", "t.a", "user.seen"]


@pytest.mark.parametrize("flt", [
    {"entity_id": "e00"}, {"entity_id": "ü-1"}, {"event_type": "order.paid"},
    {"event_type": "order.*"}, {"event_type": "t.*"}, {"entity_id": "e05", "event_type": "t.*"},
    {"entity_id": "nobody"}, {"event_type": "nothing"},
], ids=lambda f: "-".join("%s=%s" % kv for kv in f.items()))
def test_summary_filtered(hist, flt):
    server, events = hist
    check_summary(server, events, **flt)


def test_summary_time_ranges(hist):
    server, events = hist
    n = len(events)
    rnd = random.Random(2)
    for _ in range(8):
        i, j = sorted(rnd.sample(range(n), 2))
        check_summary(server, events, since=events[i]["timestamp"], until=events[j]["timestamp"])
        check_summary(server, events, since=events[i]["timestamp"])
        check_summary(server, events, until=events[j]["timestamp"], event_type="user.*")
    check_summary(server, events, since=ts_of(events[-1]["us"] + 1))
    check_summary(server, events, until=ts_of(events[0]["us"] - 1))


# --- Correlation ----------------------------------------------------------------------


def expected_correlation(events, a, b, window_s, directional=False, since=None, until=None):
    A = [e for e in events if matches(e, event_type=a, since=since, until=until)]
    B = [e for e in events if matches(e, event_type=b, since=since, until=until)]
    by_ent = {}
    for e in B:
        by_ent.setdefault(e["entity_id"], []).append(e)
    pairs = []
    for x in A:
        cands = [y for y in by_ent.get(x["entity_id"], []) if y["position"] != x["position"]]
        if directional:
            cands = [y for y in cands if y["position"] > x["position"]]
            best = cands[0] if cands else None
        else:
            best = min(cands, key=lambda y: (abs(y["us"] - x["us"]), y["position"]),
                       default=None)
        if best is None or abs(best["us"] - x["us"]) > window_s * 1000000:
            continue
        pairs.append((x, best))
    gaps = [abs(y["us"] - x["us"]) / 1e6 for x, y in pairs]
    return {"total_a": len(A), "total_b": len(B), "correlated_pairs": len(pairs),
            "correlation_percentage": 100.0 * len(pairs) / len(A) if A else 0.0,
            "avg_time_between_seconds": sum(gaps) / len(gaps) if gaps else 0.0,
            "examples": [(x["entity_id"], x["us"], y["us"], abs(y["us"] - x["us"]) / 1e6)
                         for x, y in pairs[:5]]}


def check_correlation(server, events, a, b, window_s, directional=None, since=None, until=None):
    params = {"event_type_a": a, "event_type_b": b, "time_window_seconds": window_s}
    if directional is not None:
        params["directional"] = "true" if directional else "false"
    if since:
        params["since"] = since
    if until:
        params["until"] = until
    r = server.get("/api/v1/analytics/correlation", params=params)
    assert r.status_code == 200, (params, r.text)
    g = r.json()
    x = expected_correlation(events, a, b, window_s, bool(directional), since, until)
    assert g["event_type_a"] == a and g["event_type_b"] == b
    for k in ("total_a", "total_b", "correlated_pairs"):
        assert g[k] == x[k], (params, k, g[k], x[k])
    assert g["correlated_pairs"] <= g["total_a"]
    assert g["correlation_percentage"] == pytest.approx(x["correlation_percentage"], rel=1e-5)
    assert g["avg_time_between_seconds"] == pytest.approx(x["avg_time_between_seconds"],
                                                          rel=1e-5, abs=1e-6)
    got_ex = [(e["entity_id"], us_of(e["event_a_timestamp"]), us_of(e["event_b_timestamp"]),
               e["time_between_seconds"]) for e in g["examples"]]
    assert [t[:3] for t in got_ex] == [t[:3] for t in x["examples"]], params
    for ge, xe in zip(got_ex, x["examples"]):
        assert ge[3] == pytest.approx(xe[3], rel=1e-5, abs=1e-6)
    return g


@pytest.mark.parametrize("a,b", [("order.created", "order.paid"),
                                 ("order.paid", "order.created"),
                                 ("user.created", "user.seen"),
                                 ("order.created", "order.created"),
                                 ("t.a", "t.a"), ("zeta", "Zeta"),
                                 ("order.created", "nothing"), ("nothing", "order.paid")])
@pytest.mark.parametrize("directional", [None, True])
def test_correlation(hist, a, b, directional):
    server, events = hist
    for w in (0, 1, 2, 3600):
        check_correlation(server, events, a, b, w, directional)


def test_correlation_time_range_and_false(hist):
    server, events = hist
    n = len(events)
    rnd = random.Random(3)
    for _ in range(6):
        i, j = sorted(rnd.sample(range(n), 2))
        for d in (False, True):
            check_correlation(server, events, "order.created", "order.shipped", 1, d,
                              since=events[i]["timestamp"], until=events[j]["timestamp"])


def test_correlation_bad_parameters(hist):
    server, _ = hist
    base = {"event_type_a": "a", "event_type_b": "b", "time_window_seconds": "5"}
    for drop in base:
        p = dict(base)
        del p[drop]
        assert server.get("/api/v1/analytics/correlation", params=p).status_code == 400
    for k, v in [("time_window_seconds", "-1"), ("time_window_seconds", "x"),
                 ("time_window_seconds", "1.5"), ("directional", "maybe"),
                 ("since", "nope"), ("event_type_a", "")]:
        p = dict(base)
        p[k] = v
        r = server.get("/api/v1/analytics/correlation", params=p)
        assert r.status_code == 400, (p, r.text)
        assert r.json()["code"]
