"""Pipeline results against an independent Python model (pipeutil.Model)
over the same events read back from the store: every operator, windows by
event time, start positions, concurrent appends."""

import random
import threading
import time

from pipeutil import (Model, P, config, log, register, results, server_groups,
                      server_windows, stats)


def check_against_model(server, pid, cfg, start):
    """Asserts that the server's results and counters equal the model's
    over the whole log; returns (model, results)."""
    res = results(server, pid)
    st = stats(server, pid)
    m = Model(cfg, start).feed_all(log(server))
    assert st["events_processed"] == m.processed
    assert st["events_filtered"] == m.filtered
    assert st["events_failed"] == m.failed == 0
    for i, op in enumerate(cfg["operators"]):
        got = res["operators"][i]
        assert (got["events_in"], got["events_out"]) == (m.ops[i]["in"], m.ops[i]["out"]), i
        if op["type"] == "reduce":
            assert server_groups(res, i) == m.groups(i)
        if op["type"] == "window":
            assert server_windows(res, i) == m.windows(i)
        if op["type"] == "branch":
            routes = {b["value"]: b["count"] for b in got["branches"]}
            assert routes == m.ops[i]["routes"]
            assert got["unrouted"] == m.ops[i]["unrouted"]
    keep = cfg.get("max_outputs", 10)
    want = m.outputs[-keep:] if keep else []
    assert res["outputs"] == want
    return m, res


def random_events(rng, n):
    evs = []
    for i in range(n):
        t = rng.choice(["order.placed", "order.paid", "user.created"])
        p = {"country": rng.choice(["US", "DE", "FR", "us"]),
             "amount": rng.choice([rng.randint(-50, 500), round(rng.uniform(0, 99), 2), "12", None]),
             "plan": rng.choice(["free", "pro", "team", 3, True]),
             "user": {"name": rng.choice([" Ann ", "bob", "\u00e9lise", "Zed\t"])}}
        if rng.random() < 0.1:
            del p["amount"]
        evs.append({"entity_id": "e-%d" % rng.randint(0, 20), "event_type": t, "payload": p,
                    "metadata": {"src": {"app": rng.choice(["web", "ios"])}}})
    return evs


def test_filter_map_reduce_branch_enrich(server):
    rng = random.Random(7)
    cfgs = [
        config("revenue", ["order.*"], [
            {"type": "filter", "field": "country", "op": "ne", "value": "FR"},
            {"type": "filter", "field": "amount", "op": "gte", "value": 0},
            {"type": "reduce", "field": "amount", "function": "sum", "group_by": "plan"}],
            start_from="beginning", max_outputs=5),
        config("avgs", [], [
            {"type": "map", "field": "amount", "transform": "multiply:1.1"},
            {"type": "map", "field": "amount", "transform": "add:-0.5"},
            {"type": "reduce", "field": "amount", "function": "avg", "group_by": "country"}],
            start_from="beginning"),
        config("minmax", ["order.paid"], [
            {"type": "reduce", "field": "amount", "function": "max", "group_by": "country"},
            {"type": "filter", "field": "value", "op": "lt", "value": 400},
            {"type": "reduce", "field": "value", "function": "min"}], start_from="beginning"),
        config("names", ["user.created"], [
            {"type": "map", "field": "user.name", "transform": "trim"},
            {"type": "map", "field": "user.name", "transform": "uppercase"},
            {"type": "branch", "field": "country", "branches": {"US": "americas", "DE": "emea"}},
            {"type": "enrich", "source": "event", "fields": ["entity_id", "position"]},
            {"type": "enrich", "source": "metadata", "fields": ["src.app"]},
            {"type": "filter", "field": "user.name", "op": "contains", "value": "E"},
            {"type": "reduce", "field": "x", "function": "count", "group_by": "_route"}],
            start_from="beginning", max_outputs=1000),
    ]
    server.batch(random_events(rng, 150))
    ids = [register(server, c)["pipeline_id"] for c in cfgs]
    for chunk in range(5):
        server.batch(random_events(rng, 60))
    for pid, cfg in zip(ids, cfgs):
        check_against_model(server, pid, cfg, 1)


def test_start_now_and_position(server):
    for i in range(10):
        server.ingest("e", "t", {"v": i})
    cfg = config("now", ["t"], [{"type": "reduce", "field": "v", "function": "sum"}])
    body = register(server, cfg)
    assert body["start_position"] == 11
    cfg_at = config("at", ["t"], [{"type": "reduce", "field": "v", "function": "sum"}],
                    start_from=4)
    at = register(server, cfg_at)
    for i in range(10, 15):
        server.ingest("e", "t", {"v": i})
    check_against_model(server, body["pipeline_id"], cfg, 11)
    m, _ = check_against_model(server, at["pipeline_id"], cfg_at, 4)
    assert m.groups(0) == {"default": float(sum(range(3, 15)))}


def test_windows_use_event_time(server):
    cfgs = [
        config("tumbling", [], [{"type": "window", "config": {
            "window_type": "tumbling", "size_seconds": 1}, "aggregation": {
            "type": "reduce", "field": "v", "function": "sum", "group_by": "g"}}],
            start_from="beginning"),
        config("sliding", [], [{"type": "window", "config": {
            "window_type": "sliding", "size_seconds": 2, "slide_seconds": 1}, "aggregation": {
            "type": "reduce", "field": "v", "function": "count"}}], start_from="beginning"),
        config("session", [], [{"type": "window", "config": {
            "window_type": "session", "size_seconds": 1, "session_timeout_seconds": 1},
            "aggregation": {"type": "reduce", "field": "v", "function": "max",
                            "group_by": "g"}}], start_from="beginning"),
    ]
    ids = [register(server, c)["pipeline_id"] for c in cfgs]
    for burst in range(3):
        for i in range(8):
            server.ingest("e", "t", {"v": burst * 10 + i, "g": "ab"[i % 2]})
        time.sleep(1.3 if burst < 2 else 0)
    for pid, cfg in zip(ids, cfgs):
        m, res = check_against_model(server, pid, cfg, 1)
        assert res["operators"][0]["windows"]
    # three bursts 1.3 s apart: at least three sessions per group
    assert len(server_windows(results(server, ids[2]), 0)) >= 6


def test_concurrent_appends_are_each_seen_once(server):
    cfg = config("conc", [], [
        {"type": "filter", "field": "k", "op": "lt", "value": 1000},
        {"type": "reduce", "field": "k", "function": "sum", "group_by": "w"}],
        start_from="beginning")
    pid = register(server, cfg)["pipeline_id"]
    errors = []

    def worker(w):
        try:
            import requests
            with requests.Session() as sess:
                for i in range(60):
                    r = sess.post(server.url + "/api/v1/events",
                                  json={"entity_id": "w%d" % w, "event_type": "c",
                                        "payload": {"k": i * 37 % 1500, "w": "w%d" % w}})
                    assert r.status_code == 200, r.text
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    # reads and a second pipeline registered while appends run
    other = register(server, config("late", ["c"], [
        {"type": "reduce", "field": "k", "function": "count"}], start_from="beginning"))
    for _ in range(5):
        stats(server, pid)
    for t in threads:
        t.join()
    assert not errors, errors
    m, _ = check_against_model(server, pid, cfg, 1)
    assert m.processed == 360
    assert stats(server, other["pipeline_id"])["events_processed"] == 360
