"""Every pipeline route: shapes (the seed's, plus documented additions),
errors with their codes and fields, limits, and routing quirks."""

import uuid

import pytest

from pipeutil import (JSON, P, TS_RE, UUID_RE, config, error, register, results,
                      stats)

SEED_EXAMPLE = {
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e", "name": "us_revenue", "description": None,
    "source_event_types": ["order.placed"],
    "operators": [{"type": "filter", "field": "country", "op": "eq", "value": "US"},
                  {"type": "reduce", "field": "amount", "function": "sum", "group_by": "plan"}],
    "enabled": True, "output": "us_revenue_view"}

STATS_KEYS = {"pipeline_id", "events_processed", "events_filtered", "events_failed",
              "last_processed"}


def test_seed_example_round_trip(module_server):
    s = module_server
    body = register(s, SEED_EXAMPLE)
    assert body["pipeline_id"] == SEED_EXAMPLE["id"]
    assert body["name"] == "us_revenue" and body["enabled"] is True
    assert body["replaced"] is False and body["start_position"] >= 1
    got = s.get("%s/%s" % (P, SEED_EXAMPLE["id"])).json()
    for k, v in SEED_EXAMPLE.items():
        assert got[k] == v, k
    assert got["start_from"] == "now" and got["max_outputs"] == 10
    assert got["start_position"] == body["start_position"]
    listed = s.get(P).json()
    assert listed["total"] == len(listed["pipelines"]) >= 1
    assert any(p["id"] == SEED_EXAMPLE["id"] for p in listed["pipelines"])
    st = stats(s, SEED_EXAMPLE["id"])
    assert STATS_KEYS <= set(st)
    assert st["events_processed"] == 0 and st["last_processed"] is None
    all_stats = s.get(P + "/stats").json()
    assert all_stats["total"] == len(all_stats["stats"])
    assert any(x["pipeline_id"] == SEED_EXAMPLE["id"] for x in all_stats["stats"])


def test_register_generates_an_id_and_output_is_optional(server):
    cfg = config()
    del cfg["output"]
    body = register(server, cfg)
    assert UUID_RE.match(body["pipeline_id"])
    got = server.get("%s/%s" % (P, body["pipeline_id"])).json()
    assert got["output"] == ""


def test_stats_count_processed_filtered_and_last_processed(server):
    pid = register(server, SEED_EXAMPLE)["pipeline_id"]
    server.ingest("o1", "order.placed", {"country": "US", "amount": 5, "plan": "pro"})
    server.ingest("o2", "order.placed", {"country": "DE", "amount": 7, "plan": "pro"})
    last = server.ingest("u1", "user.created", {"country": "US"})
    st = stats(server, pid)
    assert st["events_processed"] == 2 and st["events_filtered"] == 1
    assert st["events_failed"] == 0 and st["last_error"] is None
    assert TS_RE.match(st["last_processed"])
    assert st["position"] == last["position"] and st["lag"] == 0
    res = results(server, pid)
    assert res["operators"][1]["groups"] == [{"group": "pro", "value": 5.0, "count": 1}]


def test_reset_clears_state_and_counts_only_later_events(server):
    pid = register(server, SEED_EXAMPLE)["pipeline_id"]
    server.ingest("o1", "order.placed", {"country": "US", "amount": 5, "plan": "pro"})
    r = server.request("PUT", "%s/%s/reset" % (P, pid))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pipeline_id"] == pid and body["reset"] is True
    st = stats(server, pid)
    assert st["events_processed"] == 0 and st["last_processed"] is None
    assert st["start_position"] == body["start_position"] == 2
    server.ingest("o2", "order.placed", {"country": "US", "amount": 2, "plan": "pro"})
    assert results(server, pid)["operators"][1]["groups"] == [
        {"group": "pro", "value": 2.0, "count": 1}]


def test_replace_resets_state(server):
    pid = register(server, SEED_EXAMPLE)["pipeline_id"]
    server.ingest("o1", "order.placed", {"country": "US", "amount": 5, "plan": "pro"})
    cfg = dict(SEED_EXAMPLE, name="renamed", start_from="beginning")
    body = register(server, cfg)
    assert body["replaced"] is True and body["start_position"] == 1
    assert stats(server, pid)["events_processed"] == 1
    assert server.get("%s/%s" % (P, pid)).json()["name"] == "renamed"
    assert server.get(P).json()["total"] == 1


def test_delete_then_404_everywhere(server):
    pid = register(server, SEED_EXAMPLE)["pipeline_id"]
    r = server.request("DELETE", "%s/%s" % (P, pid))
    assert r.status_code == 200 and r.json() == {"pipeline_id": pid, "removed": True}
    body = error(server.request("DELETE", "%s/%s" % (P, pid)), 404, "pipeline_not_found")
    assert body["removed"] is False and body["pipeline_id"] == pid
    for method, suffix in (("GET", ""), ("GET", "/stats"), ("PUT", "/reset"),
                           ("GET", "/results")):
        error(server.request(method, "%s/%s%s" % (P, pid, suffix)), 404, "pipeline_not_found")
    assert server.get(P).json() == {"pipelines": [], "total": 0}
    assert server.get(P + "/stats").json() == {"stats": [], "total": 0}


@pytest.mark.parametrize("method,suffix", [("GET", ""), ("DELETE", ""), ("GET", "/stats"),
                                           ("PUT", "/reset"), ("GET", "/results")])
def test_bad_ids_are_400(module_server, method, suffix):
    r = module_server.request(method, "%s/not-a-uuid%s" % (P, suffix))
    error(r, 400, "invalid_id", field="pipeline_id")


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", P + "/stats", "GET"), ("POST", P + "/stats", "GET"),
    ("PUT", P, "POST, GET"), ("POST", P + "/" + str(uuid.uuid4()), "GET, DELETE"),
    ("GET", P + "/" + str(uuid.uuid4()) + "/reset", "PUT")])
def test_wrong_methods_are_405(module_server, method, path, allow):
    body = error(module_server.request(method, path), 405, "method_not_allowed")
    assert body["allow"] == allow


def test_unknown_subroute_is_404(module_server):
    r = module_server.get("%s/%s/other" % (P, uuid.uuid4()))
    assert r.status_code == 404 and r.json()["code"] == "not_found"


BAD = [
    ({"name": "x", "source_event_types": [], "operators": []}, "enabled"),
    ({"source_event_types": [], "operators": [], "enabled": True}, "name"),
    (config(types=["a b"]), "source_event_types[0]"),
    (config(ops=[{"type": "sort"}]), "operators[0].type"),
    (config(ops=[{"type": "filter", "field": "a", "op": "like", "value": 1}]), "operators[0].op"),
    (config(ops=[{"type": "filter", "field": "a", "op": "eq"}]), "operators[0].value"),
    (config(ops=[{"type": "map", "field": "a", "transform": "reverse"}]), "operators[0].transform"),
    (config(ops=[{"type": "reduce", "field": "a", "function": "median"}]), "operators[0].function"),
    (config(ops=[{"type": "window", "config": {"window_type": "tumbling"},
                  "aggregation": {"type": "reduce", "field": "a", "function": "sum"}}]),
     "operators[0].config.size_seconds"),
    (config(ops=[{"type": "window", "config": {"window_type": "tumbling", "size_seconds": 5},
                  "aggregation": {"type": "map", "field": "a", "transform": "trim"}}]),
     "operators[0].aggregation.type"),
    (config(ops=[{"type": "enrich", "source": "crm", "fields": ["a"]}]), "operators[0].source"),
    (config(ops=[{"type": "branch", "field": "a", "branches": {"x": 1}}]),
     "operators[0].branches.x"),
    (config(id="123"), "id"),
    (config(start_from=-1), "start_from"),
]


@pytest.mark.parametrize("cfg,field", BAD)
def test_bad_configs_name_the_field_and_register_nothing(module_server, cfg, field):
    before = module_server.get(P).json()["total"]
    body = error(module_server.post(P, json=cfg), 400, "validation_error", field=field)
    assert field in body["error"]
    assert module_server.get(P).json()["total"] == before


def test_body_errors(module_server):
    s = module_server
    error(s.post(P, data=b'{"name":1}'), 415, "unsupported_media_type")
    error(s.post(P, data=b'{"name":', headers=JSON), 400, "invalid_json")
    error(s.post(P, data=b'[1]', headers=JSON), 400, "validation_error")
    error(s.post(P, data=b'\xff', headers=JSON), 400, "invalid_json")
    big = config(description="x" * 70000)
    error(s.post(P, json=big), 413, "config_too_large")
    deep = config(ops=[{"type": "filter", "field": "a", "op": "eq", "value": [[[[[[[[[[[[[[[[
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}])
    error(s.post(P, json=deep), 400, "invalid_json")
    error(s.post(P, json=config(ops=[{"type": "filter", "field": "a", "op": "eq",
                                      "value": "v" * 5000}])),
          400, "limit_exceeded", field="operators[0].value")


def test_pipeline_limit(server_factory):
    s = server_factory(args=["--max-pipelines", "2"])
    a = register(s, config("a"))["pipeline_id"]
    register(s, config("b"))
    error(s.post(P, json=config("c")), 400, "limit_exceeded")
    register(s, config("a2", id=a))  # replacing is not a new pipeline
    s.request("DELETE", "%s/%s" % (P, a))
    register(s, config("c"))


def test_pipelines_off(server_factory):
    s = server_factory(env={"ALLSOURCE_MAX_PIPELINES": "0"})
    error(s.get(P), 503, "unavailable")
    error(s.post(P, json=config()), 503, "unavailable")
    s.ingest()  # the store works without them


def test_bad_flag_is_refused(server_factory):
    s = server_factory(args=["--max-pipelines", "1001"], start=False)
    import subprocess
    p = subprocess.run(s.command(1) , capture_output=True, timeout=30)
    assert p.returncode == 2 and b"max-pipelines" in p.stderr
