"""Definitions survive kill -9 and restarts; state is rebuilt from the log
identically; resets and deletes survive too."""

from pipeutil import P, config, register, results, stats


def snapshot(server):
    """Everything a client can observe of the pipelines."""
    out = {"list": server.get(P).json()}
    for p in out["list"]["pipelines"]:
        st = stats(server, p["id"])
        st.pop("lag")
        out[p["id"]] = {"stats": st, "results": results(server, p["id"])}
    return out


def load(server, n, base=0):
    server.batch([{"entity_id": "e%d" % (i % 4), "event_type": "order.placed" if i % 3 else "x",
                   "payload": {"amount": (base + i) * 1.5, "plan": "p%d" % (i % 3),
                               "country": "US" if i % 2 else "DE"}} for i in range(n)])


CFG_SUM = config("sum", ["order.placed"], [
    {"type": "filter", "field": "country", "op": "eq", "value": "US"},
    {"type": "reduce", "field": "amount", "function": "sum", "group_by": "plan"}],
    start_from="beginning")
CFG_WIN = config("win", [], [{"type": "window", "config": {
    "window_type": "sliding", "size_seconds": 60, "slide_seconds": 20},
    "aggregation": {"type": "reduce", "field": "amount", "function": "avg",
                    "group_by": "plan"}}])


def test_kill9_keeps_definitions_and_rebuilds_state(server):
    load(server, 30)
    a = register(server, CFG_SUM)["pipeline_id"]
    b = register(server, CFG_WIN)["pipeline_id"]
    c = register(server, config("gone", [], []))["pipeline_id"]
    load(server, 30, 100)
    r = server.request("PUT", "%s/%s/reset" % (P, a))
    assert r.status_code == 200
    load(server, 20, 200)
    assert server.request("DELETE", "%s/%s" % (P, c)).status_code == 200
    before = snapshot(server)
    assert before[a]["stats"]["events_processed"] > 0
    assert before[b]["stats"]["start_position"] == 31
    server.kill9()
    server.start()
    after = snapshot(server)
    assert after == before
    assert server.get("%s/%s" % (P, c)).status_code == 404
    # and it keeps going the same way
    load(server, 10, 300)
    st = stats(server, a)
    assert st["position"] == 90 and st["events_processed"] > before[a]["stats"]["events_processed"]


def test_graceful_restart_and_replace(server):
    a = register(server, CFG_SUM)["pipeline_id"]
    load(server, 12)
    register(server, dict(CFG_SUM, id=a, name="sum2", start_from="now"))
    load(server, 12, 50)
    before = snapshot(server)
    server.restart()
    assert snapshot(server) == before
    assert before[a]["stats"]["start_position"] == 13


def test_registration_racing_kill9_is_all_or_nothing(server):
    import threading
    import requests
    ids = []

    def reg():
        with requests.Session() as s:
            for i in range(40):
                try:
                    r = s.post(server.url + P, json=config("r%d" % i), timeout=10)
                except requests.RequestException:
                    return
                if r.status_code == 200:
                    ids.append(r.json()["pipeline_id"])

    t = threading.Thread(target=reg)
    t.start()
    import time
    time.sleep(0.05)
    server.kill9()
    t.join()
    server.start()
    listed = {p["id"] for p in server.get(P).json()["pipelines"]}
    assert set(ids) <= listed  # every acknowledged registration survived
    for pid in listed:
        assert stats(server, pid)["events_processed"] == 0
