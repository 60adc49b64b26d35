"""GET /metrics (seed-api-contract §9, docs/metrics.md): the text
exposition format 0.0.4 parsed strictly line by line (HELP/TYPE, label
escaping, histograms cumulative with +Inf == _count), promtool's verdict,
and counters that move by exactly the traffic sent."""

import json
import shutil
import subprocess
import time
import uuid

import pytest
import requests

from replayutil import (check_error, ingest_many, parse_exposition, start, value,
                        wait_done)

# The seed's names that break Prometheus' naming lint (kept so the seed's
# dashboards work, docs/metrics.md); promtool may name these and only these.
SEED_NAMES_LINT = {
    "allsource_parquet_files_total", "allsource_projection_events_processed",
    "allsource_projections_total", "allsource_replay_events_processed",
    "allsource_storage_entities_total", "allsource_storage_events_total",
    "allsource_wal_segments_total", "allsource_websocket_messages_sent",
}

EXPECTED_FAMILIES = {
    "allsource_events_ingested_total": "counter",
    "allsource_append_requests_total": "counter",
    "allsource_fsyncs_total": "counter",
    "allsource_fsync_duration_seconds": "histogram",
    "allsource_storage_events_total": "gauge",
    "allsource_storage_entities_total": "gauge",
    "allsource_storage_event_types": "gauge",
    "allsource_committed_position": "gauge",
    "allsource_storage_size_bytes": "gauge",
    "allsource_wal_bytes": "gauge",
    "allsource_wal_segments_total": "gauge",
    "allsource_parquet_bytes": "gauge",
    "allsource_parquet_files_total": "gauge",
    "allsource_projection_position": "gauge",
    "allsource_projection_lag_events": "gauge",
    "allsource_projection_events_processed": "counter",
    "allsource_schema_validations_total": "counter",
    "allsource_replays_started_total": "counter",
    "allsource_replays_completed_total": "counter",
    "allsource_replays_failed_total": "counter",
    "allsource_replay_events_processed": "counter",
    "allsource_replay_duration_seconds": "histogram",
    "allsource_websocket_connections_active": "gauge",
    "allsource_websocket_connections_total": "counter",
    "allsource_http_requests_total": "counter",
    "allsource_http_request_duration_seconds": "histogram",
    "allsource_http_requests_in_flight": "gauge",
    "allsource_http_request_bytes_total": "counter",
}


def scrape(server):
    r = server.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    return r.text, parse_exposition(r.content.decode("utf-8"))


def test_format_and_families(server):
    ingest_many(server, 20)
    text, fams = scrape(server)
    for name, typ in EXPECTED_FAMILIES.items():
        assert name in fams, name
        assert fams[name].type == typ, (name, fams[name].type)
        assert fams[name].help, name
    assert value(fams, "allsource_build_info", version="0.1.0", durability="sync") == 1
    # every sample line is one of ours
    for f in fams.values():
        assert f.name.startswith("allsource_")


def test_promtool_accepts_it(server):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (scripts/deps.sh test installs it)")
    ingest_many(server, 10)
    server.get("/nope")
    text, _ = scrape(server)
    p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode()
    problems = [line for line in out.splitlines() if line.strip()]
    # exit 0, or 3 with lint remarks on the seed's names only (1 = parse error)
    assert p.returncode in (0, 3), out
    for line in problems:
        assert line.split()[0] in SEED_NAMES_LINT, line


def test_parser_rejects_broken_expositions():
    """The strict parser itself must fail on real format errors."""
    good = ("# HELP a_total x\n# TYPE a_total counter\na_total 1\n"
            "# HELP h x\n# TYPE h histogram\n"
            'h_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n')
    parse_exposition(good)
    bad = [
        good.replace("a_total 1\n", "a_total 1"),                      # no final newline
        good.replace("# TYPE a_total counter\n", ""),                    # no TYPE
        good.replace("a_total 1", "a_total{x=\"1} 1"),                   # broken label
        good.replace("a_total 1", "b_total 1"),                          # foreign sample
        good.replace("h_count 2", "h_count 3"),                          # +Inf != count
        good.replace('h_bucket{le="1"} 1', 'h_bucket{le="1"} 5'),        # not cumulative
        good.replace('h_bucket{le="+Inf"} 2\n', ""),                     # no +Inf
        good + "a_total 1\n",                                            # duplicate series
        good.replace("a_total 1", "a_total one"),                        # bad value
    ]
    for text in bad:
        with pytest.raises(AssertionError):
            parse_exposition(text)


def test_counters_move_by_exactly_the_traffic(server):
    _, f0 = scrape(server)
    bodies = []
    for i in range(7):
        body = json.dumps({"entity_id": "m-%d" % i, "event_type": "m.one",
                           "payload": {"i": i}}).encode()
        bodies.append(len(body))
        r = server.post("/api/v1/events", data=body,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 200
    last = None
    for b in range(3):
        last = server.batch([{"entity_id": "m-b", "event_type": "m.two", "payload": {"k": k}}
                             for k in range(25)])
    for _ in range(4):
        assert server.get("/no/such/route").status_code == 404
    for _ in range(2):
        check_error(server.post("/api/v1/events", json={"entity_id": "x"}), 400,
                    "validation_error")
    assert requests.options(server.url + "/api/v1/events", timeout=30).status_code == 204
    _, f1 = scrape(server)

    def d(name, **labels):
        return value(f1, name, **labels) - value(f0, name, **labels)

    assert d("allsource_events_ingested_total") == 7 + 75
    assert d("allsource_append_requests_total") == 7 + 3
    assert 1 <= d("allsource_fsyncs_total") <= 10
    # every fdatasync is timed: the histogram counts exactly the same calls
    assert d("allsource_fsync_duration_seconds_count") == d("allsource_fsyncs_total")
    assert value(f1, "allsource_fsync_duration_seconds_count") == \
        value(f1, "allsource_fsyncs_total")
    assert value(f1, "allsource_committed_position") == last["last_position"]
    assert value(f1, "allsource_storage_events_total") == server.stats()["total_events"]
    st = server.stats()
    assert value(f1, "allsource_storage_entities_total") == st["total_entities"]
    assert value(f1, "allsource_storage_event_types") == st["total_event_types"]
    assert value(f1, "allsource_wal_bytes") == st["storage_bytes"] > 0
    ev = dict(method="POST", endpoint="/api/v1/events")
    assert d("allsource_http_requests_total", status="2xx", **ev) == 7
    assert d("allsource_http_requests_total", status="4xx", **ev) == 2
    assert d("allsource_http_requests_total", method="POST",
             endpoint="/api/v1/events/batch", status="2xx") == 3
    assert d("allsource_http_requests_total", method="any", endpoint="(unmatched)",
             status="4xx") == 4
    assert d("allsource_http_requests_total", method="OPTIONS", endpoint="(preflight)",
             status="2xx") == 1
    assert d("allsource_http_request_duration_seconds_count", **ev) == 9
    assert d("allsource_http_request_bytes_total", **ev) == sum(bodies) + 2 * len(
        json.dumps({"entity_id": "x"}))
    # the previous scrape is counted once it finished
    assert d("allsource_http_requests_total", method="GET", endpoint="/metrics",
             status="2xx") == 1
    assert value(f1, "allsource_http_requests_in_flight") >= 1


def test_projection_and_replay_metrics(server):
    ingest_many(server, 300)
    # the projection worker follows the log: both reach position 300
    deadline = time.monotonic() + 20
    while True:
        _, f0 = scrape(server)
        pos = [value(f0, "allsource_projection_position", projection_name=n)
               for n in ("entity_snapshots", "event_counters")]
        if pos == [300, 300]:
            break
        assert time.monotonic() < deadline, pos
        time.sleep(0.02)
    for name in ("entity_snapshots", "event_counters"):
        assert value(f0, "allsource_projection_lag_events", projection_name=name) == 0
        assert value(f0, "allsource_projection_events_processed", projection_name=name) == 300
        assert value(f0, "allsource_projection_errors_total", projection_name=name) == 0
    assert value(f0, "allsource_projections_total") == 2
    rid = start(server, {"projection_name": "event_counters"})["replay_id"]
    wait_done(server, rid)
    rid2 = start(server, {"config": {"batch_size": 1, "max_events_per_second": 100}})["replay_id"]
    time.sleep(0.05)
    _, fr = scrape(server)
    assert value(fr, "allsource_replays_running") == 1
    assert server.post("/api/v1/replay/%s/cancel" % rid2).status_code == 200
    _, f1 = scrape(server)

    def d(name, **labels):
        return value(f1, name, **labels) - value(f0, name, **labels)

    assert d("allsource_replays_started_total") == 2
    assert d("allsource_replays_completed_total") == 1
    assert d("allsource_replays_cancelled_total") == 1
    assert d("allsource_replays_failed_total") == 0
    processed2 = server.get("/api/v1/replay/%s" % rid2).json()["processed_events"]
    assert d("allsource_replay_events_processed") == 300 + processed2
    assert d("allsource_replay_duration_seconds_count") == 2
    assert value(f1, "allsource_replays_running") == 0
    assert value(f1, "allsource_replay_records") == 2


def test_schema_validation_counters(server):
    r = server.post("/api/v1/schemas", json={
        "subject": "metric.checked",
        "schema": {"type": "object", "required": ["n"],
                   "properties": {"n": {"type": "integer"}}}})
    assert r.status_code == 200, r.text
    _, f0 = scrape(server)
    server.ingest("a", "metric.checked", {"n": 1})
    server.ingest("a", "metric.checked", {"n": 2})
    assert server.post_event({"entity_id": "a", "event_type": "metric.checked",
                              "payload": {"n": "x"}}).status_code == 400
    server.ingest("a", "metric.unchecked", {"n": "x"})
    _, f1 = scrape(server)
    name = "allsource_schema_validations_total"
    assert value(f1, name, result="valid") - value(f0, name, result="valid") == 2
    assert value(f1, name, result="rejected") - value(f0, name, result="rejected") == 1
    assert value(f1, name, result="warned") == value(f0, name, result="warned")
    assert value(f1, "allsource_schema_subjects") == 1


def test_websocket_and_subscription_gauges(server):
    websocket = pytest.importorskip("websocket")
    ws = websocket.create_connection(server.url.replace("http", "ws") +
                                     "/api/v1/events/stream", timeout=30)
    sub = requests.get(server.url + "/api/v1/events/subscribe?from_position=1&heartbeat_ms=100",
                       stream=True, timeout=30)
    assert sub.status_code == 200
    next(sub.iter_lines())  # the first heartbeat: the subscription is live
    try:
        _, f = scrape(server)
        assert value(f, "allsource_websocket_connections_active") == 1
        assert value(f, "allsource_websocket_connections_total") == 1
        assert value(f, "allsource_http_requests_active", method="GET",
                     endpoint="/api/v1/events/subscribe") == 1
        assert value(f, "allsource_http_requests_active", method="GET",
                     endpoint="/api/v1/events/stream") == 1
    finally:
        ws.close()
        sub.close()
    deadline = time.monotonic() + 20
    while True:
        _, f = scrape(server)
        if value(f, "allsource_websocket_connections_active") == 0 and value(
                f, "allsource_http_requests_active", method="GET",
                endpoint="/api/v1/events/subscribe") == 0:
            break
        assert time.monotonic() < deadline, "gauges did not drop back to 0: %s" % [
            (s[0], s[1], s[2]) for fam in ("allsource_websocket_connections_active",
                                           "allsource_http_requests_active")
            for s in f[fam].samples]
        time.sleep(0.05)
    assert value(f, "allsource_websocket_connections_total") == 1
    # the upgrade is counted (101) when the connection ends
    deadline = time.monotonic() + 20
    while value(f, "allsource_http_requests_total", method="GET",
                endpoint="/api/v1/events/stream", status="1xx") != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        _, f = scrape(server)


def test_metrics_of_a_fresh_memory_only_server(server_factory):
    s = server_factory(durability="none")
    _, f = scrape(s)
    assert value(f, "allsource_build_info", version="0.1.0", durability="none") == 1
    assert value(f, "allsource_storage_events_total") == 0
    assert value(f, "allsource_events_ingested_total") == 0
    assert value(f, "allsource_replays_started_total") == 0


def test_restart_resets_process_counters_but_not_the_store(server):
    ingest_many(server, 50)
    rid = start(server)["replay_id"]
    wait_done(server, rid)
    server.restart()
    _, f = scrape(server)
    assert value(f, "allsource_events_ingested_total") == 0  # recovered, not appended
    assert value(f, "allsource_recovered_events") == 50
    assert value(f, "allsource_storage_events_total") == 50
    assert value(f, "allsource_replays_started_total") == 0


def test_label_values_are_escaped():
    """Route patterns are our own; the escaping helper is exercised through
    the exposition parser on a synthetic line to prove the regexes hold."""
    from replayutil import parse_labels
    assert parse_labels('{a="x\\\\y",b="q\\"r",c="n\\nl"}') == (
        ("a", "x\\y"), ("b", 'q"r'), ("c", "n\nl"))
    assert uuid.uuid4()  # keep the import used
