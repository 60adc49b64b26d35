"""Replay routes (seed-api-contract §7, docs/replay.md): shapes of every
route, every error case (bad JSON, wrong types, bad bounds, unknown ids and
projections, cancel/delete/state rules, limits, flags)."""

import re
import time
import uuid

import pytest

from apiutil import TS_RE, UUID_RE
from replayutil import (PROGRESS_KEYS, REPLAY, check_error, ingest_many, progress, start,
                        state, wait_done)


@pytest.fixture(scope="module")
def srv(module_server):
    ingest_many(module_server, 60)
    return module_server


def replay_count(server):
    r = server.get(REPLAY)
    assert r.status_code == 200
    return r.json()["total"]


# --- Shapes -------------------------------------------------------------------

def test_start_answers_the_seed_shape_then_progress_completes(srv):
    body = start(srv, {"projection_name": "event_counters"})
    assert set(body) >= {"replay_id", "status", "started_at", "total_events"}
    assert UUID_RE.match(body["replay_id"])
    assert body["status"] == "running"
    assert TS_RE.match(body["started_at"])
    assert body["total_events"] == 60
    assert body["projection_name"] == "event_counters"
    assert (body["from_position"], body["to_position"]) == (1, 60)
    p = wait_done(srv, body["replay_id"])
    assert PROGRESS_KEYS <= set(p)
    assert p["status"] == "completed"
    assert p["processed_events"] == 60 and p["failed_events"] == 0
    assert p["progress_percentage"] == 100
    assert p["error_message"] is None
    assert TS_RE.match(p["completed_at"]) and TS_RE.match(p["updated_at"])
    assert p["completed_at"] >= p["started_at"]
    assert p["config"] == {"batch_size": 1000, "parallel": False, "workers": 4,
                           "emit_progress": True, "progress_interval": 1000,
                           "max_events_per_second": 0}
    assert p["entity_id"] is None and p["event_type"] is None
    assert p["from_timestamp"] is None and p["to_timestamp"] is None


def test_seed_client_body_with_full_config_is_accepted_and_echoed(srv):
    t = srv.query(limit=1)[0]["timestamp"]
    body = start(srv, {"projection_name": "entity_snapshots", "entity_id": "e-1",
                       "event_type": None, "from_timestamp": t,
                       "to_timestamp": "2999-01-01T00:00:00+02:00",
                       "config": {"batch_size": 7, "parallel": True, "workers": 2,
                                  "emit_progress": False, "progress_interval": 5}})
    p = wait_done(srv, body["replay_id"])
    assert p["status"] == "completed"
    assert p["entity_id"] == "e-1" and p["event_type"] is None
    assert p["from_timestamp"] == t
    assert p["to_timestamp"] == "2998-12-31T22:00:00.000000Z"  # offset converted to UTC
    assert p["config"]["batch_size"] == 7 and p["config"]["parallel"] is True
    assert p["config"]["workers"] == 2 and p["config"]["emit_progress"] is False
    assert p["processed_events"] == p["total_events"] == 12


def test_list_is_in_start_order_and_get_matches(srv):
    ids = [start(srv)["replay_id"] for _ in range(3)]
    for rid in ids:
        wait_done(srv, rid)
    r = srv.get(REPLAY)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(body["replays"])
    listed = [x["replay_id"] for x in body["replays"]]
    assert listed[-3:] == ids
    for x in body["replays"][-3:]:
        one = progress(srv, x["replay_id"])
        for k in ("status", "total_events", "processed_events", "started_at", "completed_at",
                  "events_per_second"):
            assert one[k] == x[k], k


def test_delete_then_everything_is_404(srv):
    rid = start(srv)["replay_id"]
    wait_done(srv, rid)
    r = srv.request("DELETE", "%s/%s" % (REPLAY, rid))
    assert r.status_code == 200, r.text
    assert r.json() == {"replay_id": rid, "deleted": True}
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/cancel")):
        body = check_error(srv.request(method, "%s/%s%s" % (REPLAY, rid, path)), 404,
                           "not_found", "Not found")
        assert body["error"] == "Not found: Replay not found: %s" % rid
    check_error(state(srv, rid, "e-1"), 404, "not_found")
    assert rid not in [x["replay_id"] for x in srv.get(REPLAY).json()["replays"]]


def test_state_route(srv):
    rid = start(srv, {"projection_name": "event_counters"})["replay_id"]
    wait_done(srv, rid)
    r = state(srv, rid, "order.paid")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["replay_id"] == rid and body["projection"] == "event_counters"
    assert body["key"] == "order.paid" and body["status"] == "completed"
    assert body["state"] == {"count": 15}
    assert body["processed_events"] == 60
    # explicit projection name, unknown key, unknown projection, no key
    assert state(srv, rid, "order.paid", "event_counters").json()["state"] == {"count": 15}
    check_error(state(srv, rid, "no.such.type"), 404, "not_found")
    check_error(state(srv, rid, "order.paid", "entity_snapshots"), 404, "not_found")
    check_error(srv.get("%s/%s/state" % (REPLAY, rid)), 400, "invalid_query")
    check_error(srv.get("%s/%s/state?key=" % (REPLAY, rid)), 400, "invalid_query")
    # a replay of every projection needs the projection named
    rid2 = start(srv)["replay_id"]
    wait_done(srv, rid2)
    check_error(state(srv, rid2, "e-1"), 400, "invalid_query")
    s = state(srv, rid2, "e-1", "entity_snapshots")
    assert s.status_code == 200 and s.json()["state"]["i"] == 56


# --- Bad input ------------------------------------------------------------------

def test_bad_bodies(srv):
    before = replay_count(srv)
    check_error(srv.post(REPLAY, data="{}"), 415, "unsupported_media_type")
    check_error(srv.post(REPLAY, data="{", headers={"Content-Type": "application/json"}),
                400, "invalid_json")
    check_error(srv.post(REPLAY, data="", headers={"Content-Type": "application/json"}),
                400, "invalid_json")
    check_error(srv.post(REPLAY, json=[]), 400, "validation_error")
    check_error(srv.post(REPLAY, json="x"), 400, "validation_error")
    check_error(srv.post(REPLAY, data=b'{"entity_id":"\xff"}',
                         headers={"Content-Type": "application/json"}), 400, "invalid_json")
    assert replay_count(srv) == before


@pytest.mark.parametrize("body,field", [
    ({"projection_name": 1}, "projection_name"),
    ({"projection_name": ["event_counters"]}, "projection_name"),
    ({"entity_id": 5}, "entity_id"),
    ({"entity_id": ""}, "entity_id"),
    ({"event_type": {"a": 1}}, "event_type"),
    ({"event_type": ""}, "event_type"),
    ({"entity_id": "x" * 257}, "entity_id"),
    ({"from_timestamp": 1700000000}, "from_timestamp"),
    ({"from_timestamp": "yesterday"}, "from_timestamp"),
    ({"to_timestamp": "2025-13-01T00:00:00Z"}, "to_timestamp"),
    ({"from_timestamp": "2025-01-02T00:00:00Z", "to_timestamp": "2025-01-01T00:00:00Z"},
     "from_timestamp"),
    ({"config": 3}, "config"),
    ({"config": []}, "config"),
    ({"config": {"batch_size": 0}}, "config.batch_size"),
    ({"config": {"batch_size": -1}}, "config.batch_size"),
    ({"config": {"batch_size": 1.5}}, "config.batch_size"),
    ({"config": {"batch_size": "10"}}, "config.batch_size"),
    ({"config": {"batch_size": 100001}}, "config.batch_size"),
    ({"config": {"batch_size": 18446744073709551616}}, "config.batch_size"),
    ({"config": {"progress_interval": 0}}, "config.progress_interval"),
    ({"config": {"progress_interval": 1000000001}}, "config.progress_interval"),
    ({"config": {"workers": 0}}, "config.workers"),
    ({"config": {"workers": 65}}, "config.workers"),
    ({"config": {"parallel": "yes"}}, "config.parallel"),
    ({"config": {"emit_progress": 1}}, "config.emit_progress"),
    ({"config": {"max_events_per_second": -5}}, "config.max_events_per_second"),
])
def test_bad_fields_are_400_with_the_field_and_start_nothing(srv, body, field):
    before = replay_count(srv)
    b = check_error(srv.post(REPLAY, json=body), 400, "validation_error", "Validation error",
                    field=field)
    assert field in b["error"]
    assert replay_count(srv) == before


def test_limits_are_inclusive(srv):
    rid = start(srv, {"config": {"batch_size": 100000, "progress_interval": 1000000000,
                                 "workers": 64}})["replay_id"]
    assert wait_done(srv, rid)["status"] == "completed"
    rid = start(srv, {"config": {"batch_size": 1, "progress_interval": 1, "workers": 1,
                                 "emit_progress": False}})["replay_id"]
    assert wait_done(srv, rid)["processed_events"] == 60


def test_unknown_projection_is_404_up_front(srv):
    before = replay_count(srv)
    b = check_error(srv.post(REPLAY, json={"projection_name": "nope"}), 404, "not_found",
                    "Not found", field="projection_name")
    assert b["error"] == "Not found: Projection not found: nope"
    assert replay_count(srv) == before


def test_bad_ids(srv):
    for path in ("/not-a-uuid", "/not-a-uuid/cancel", "/not-a-uuid/state?key=x"):
        method = "POST" if path.endswith("cancel") else "GET"
        check_error(srv.request(method, REPLAY + path), 400, "invalid_id")
    check_error(srv.request("DELETE", REPLAY + "/123"), 400, "invalid_id")
    unknown = str(uuid.uuid4())
    check_error(srv.get("%s/%s" % (REPLAY, unknown)), 404, "not_found")
    check_error(srv.post("%s/%s/cancel" % (REPLAY, unknown)), 404, "not_found")
    check_error(srv.request("DELETE", "%s/%s" % (REPLAY, unknown)), 404, "not_found")


def test_wrong_methods_are_405(srv):
    b = check_error(srv.request("PUT", REPLAY, json={}), 405, "method_not_allowed")
    assert set(b["allow"].split(", ")) == {"POST", "GET"}
    b = check_error(srv.get(REPLAY + "/%s/cancel" % uuid.uuid4()), 405, "method_not_allowed")
    assert b["allow"] == "POST"
    check_error(srv.request("PATCH", REPLAY + "/%s" % uuid.uuid4()), 405, "method_not_allowed")


# --- State rules -----------------------------------------------------------------

def test_cancel_and_delete_rules(server):
    ingest_many(server, 3000)
    slow = {"config": {"batch_size": 10, "max_events_per_second": 500}}  # ~6 s
    rid = start(server, slow)["replay_id"]
    time.sleep(0.3)
    p = progress(server, rid)
    assert p["status"] == "running" and 0 < p["processed_events"] < 3000
    assert p["completed_at"] is None
    # running: delete and state are refused
    b = check_error(server.request("DELETE", "%s/%s" % (REPLAY, rid)), 409, "replay_running",
                    "Conflict")
    assert b["error"] == "Conflict: Cannot delete a running replay. Cancel it first."
    check_error(state(server, rid, "e-1", "entity_snapshots"), 409, "replay_running")
    t0 = time.monotonic()
    r = server.post("%s/%s/cancel" % (REPLAY, rid))
    assert time.monotonic() - t0 < 2.0
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["replay_id"] == rid and c["status"] == "cancelled"
    assert 0 < c["processed_events"] < 3000
    assert c["processed_events"] % 10 == 0  # stopped between batches
    assert c["completed_at"] is not None
    # final: the record does not move any more
    time.sleep(0.3)
    later = progress(server, rid)
    assert later["processed_events"] == c["processed_events"]
    assert later["events_per_second"] == c["events_per_second"]
    b = check_error(server.post("%s/%s/cancel" % (REPLAY, rid)), 409, "replay_not_running")
    assert b["error"] == "Conflict: Cannot cancel replay in status: cancelled"
    # the partial state is readable, then the record can be deleted
    s = state(server, rid, "e-1", "entity_snapshots")
    assert s.status_code == 200 and s.json()["status"] == "cancelled"
    assert server.request("DELETE", "%s/%s" % (REPLAY, rid)).status_code == 200
    # a completed replay cannot be cancelled
    rid = start(server)["replay_id"]
    assert wait_done(server, rid)["status"] == "completed"
    b = check_error(server.post("%s/%s/cancel" % (REPLAY, rid)), 409, "replay_not_running")
    assert b["error"] == "Conflict: Cannot cancel replay in status: completed"


# --- Limits and flags ------------------------------------------------------------

def test_running_and_record_limits(server_factory):
    s = server_factory(args=["--max-replays", "1", "--max-replay-records", "2"])
    ingest_many(s, 500)
    slow = {"config": {"batch_size": 10, "max_events_per_second": 200}}
    a = start(s, slow)["replay_id"]
    b = check_error(s.post(REPLAY, json={}), 429, "too_many_replays", "Too many replays")
    assert "1 replays are running" in b["error"]
    assert s.post("%s/%s/cancel" % (REPLAY, a)).json()["status"] == "cancelled"
    b_id = start(s)["replay_id"]
    wait_done(s, b_id)
    c_id = start(s)["replay_id"]  # a third record: the oldest finished one goes
    wait_done(s, c_id)
    listed = [x["replay_id"] for x in s.get(REPLAY).json()["replays"]]
    assert listed == [b_id, c_id]
    check_error(s.get("%s/%s" % (REPLAY, a)), 404, "not_found")


def test_limits_from_environment(server_factory):
    s = server_factory(env={"ALLSOURCE_MAX_REPLAYS": "2"})
    ingest_many(s, 200)
    slow = {"config": {"batch_size": 1, "max_events_per_second": 50}}
    ids = [start(s, slow)["replay_id"] for _ in range(2)]
    check_error(s.post(REPLAY, json={}), 429, "too_many_replays")
    for rid in ids:
        assert s.post("%s/%s/cancel" % (REPLAY, rid)).status_code == 200
    start(s)


@pytest.mark.parametrize("args", [
    ["--max-replays", "0"], ["--max-replays", "65"], ["--max-replays", "x"],
    ["--max-replays", "8", "--max-replay-records", "4"],
    ["--max-replay-records", "100001"], ["--max-replay-records", "-1"],
])
def test_bad_flags_refuse_to_start(allsourced_bin, tmp_path, args):
    import subprocess
    p = subprocess.run([allsourced_bin, "--data-dir", str(tmp_path / "d"),
                        "--listen", "127.0.0.1:0"] + args,
                       capture_output=True, timeout=30)
    assert p.returncode == 2, p
    assert re.search(rb"max-replay", p.stderr), p.stderr


def test_help_lists_the_flags(allsourced_bin):
    import subprocess
    out = subprocess.run([allsourced_bin, "--help"], capture_output=True, timeout=30).stdout
    for flag in (b"--max-replays", b"ALLSOURCE_MAX_REPLAYS", b"--max-replay-records",
                 b"ALLSOURCE_MAX_REPLAY_RECORDS"):
        assert flag in out


def test_memory_only_server_replays_too(server_factory):
    s = server_factory(durability="none")
    ingest_many(s, 40)
    rid = start(s, {"projection_name": "event_counters"})["replay_id"]
    assert wait_done(s, rid)["processed_events"] == 40


@pytest.mark.parametrize("path,status", [
    ("/api/v1/replay/", 200),          # one trailing slash is trimmed
    ("//api/v1/replay", 200),          # leading slashes are skipped
    ("/api/v1/replay//", 200),
    ("/api//v1/replay", 404),          # an empty segment matches nothing
    ("/api/v1/replayx", 404),
    ("/api/v1/repla", 404),
    ("//metrics", 200),
    ("/metrics/", 200),
])
def test_paths_that_are_not_simple_route_as_before(srv, path, status):
    """Routing's fast prefix check applies to simple paths only; the others
    take the segment-by-segment match (as_http.c match())."""
    import requests
    r = requests.get(srv.url + path, timeout=30)
    assert r.status_code == status, (path, r.status_code, r.text)
    if status == 404:
        check_error(r, 404, "not_found")


def test_replay_id_paths_with_extra_slashes(srv):
    import requests
    rid = start(srv)["replay_id"]
    wait_done(srv, rid)
    for path in ("/api/v1/replay/%s/" % rid, "//api/v1/replay/%s" % rid):
        r = requests.get(srv.url + path, timeout=30)
        assert r.status_code == 200 and r.json()["replay_id"] == rid, path
    r = requests.get(srv.url + "/api/v1/replay//%s" % rid, timeout=30)
    check_error(r, 404, "not_found")
