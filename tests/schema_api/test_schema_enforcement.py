"""Enforcement at ingest: an event whose type names a subject (type +
--schema-subject-suffix) is checked against the subject's latest live
version.  enforce: 400 schema_validation_failed with the validator's errors
(instance and keyword JSON pointers, message), atomically for batches (of
every format), nothing written; warn: accepted, counted and logged; off:
not checked.  Per subject and global; the start-up flag and variable."""

import json
import subprocess

import pytest

from apiutil import clean_env
from schemautil import JSON, S, config, count_events, error, register, set_mode

ORDER = {"type": "object",
         "properties": {"amount": {"type": "number", "minimum": 0},
                        "currency": {"enum": ["EUR", "USD"]},
                        "when": {"type": "string", "format": "date-time"}},
         "required": ["amount", "currency"]}
GOOD = {"amount": 12.5, "currency": "EUR"}


def ev(payload, type_="order.placed", entity="o-1", **kw):
    d = {"entity_id": entity, "event_type": type_, "payload": payload}
    d.update(kw)
    return d


def test_valid_events_pass_and_types_without_subject_are_unchecked(server):
    register(server, "order.placed", ORDER)
    assert server.post_event(ev(GOOD)).status_code == 200
    assert server.post_event(ev("anything", type_="order.shipped")).status_code == 200
    assert count_events(server) == 2


def test_invalid_single_event_is_rejected_with_details(server):
    register(server, "order.placed", ORDER)
    before = count_events(server)
    r = server.post_event(ev({"amount": "12", "currency": "GBP", "when": "yesterday"}))
    b = error(r, 400, "schema_validation_failed")
    assert b["field"] == "payload" and b["index"] == 0
    assert b["subject"] == "order.placed" and b["schema_version"] == 1
    assert b["error"].startswith('Validation error: payload does not match schema '
                                 '"order.placed" version 1: ')
    details = {(d["instance_path"], d["keyword_path"]) for d in b["details"]}
    assert details == {("/amount", "/properties/amount/type"),
                       ("/currency", "/properties/currency/enum"),
                       ("/when", "/properties/when/format")}, b
    for d in b["details"]:
        assert d["message"]
    assert len(b["errors"]) == 3 and all(isinstance(e, str) for e in b["errors"])
    assert count_events(server) == before
    # root errors have an empty instance pointer
    b = error(server.post_event(ev([1])), 400, "schema_validation_failed")
    assert b["details"][0]["instance_path"] == ""
    assert b["details"][0]["keyword_path"] == "/type"
    assert count_events(server) == before


BATCH_FORMATS = ["array", "object", "ndjson"]


def post_batch(server, events, fmt):
    if fmt == "array":
        return server.post("/api/v1/events/batch", json=events)
    if fmt == "object":
        return server.post("/api/v1/events/batch", json={"events": events})
    body = "\n".join(json.dumps(e) for e in events) + "\n"
    return server.post("/api/v1/events/batch", data=body,
                       headers={"Content-Type": "application/x-ndjson"})


@pytest.mark.parametrize("fmt", BATCH_FORMATS)
def test_batches_are_atomic(server, fmt):
    register(server, "order.placed", ORDER)
    batch = [ev(GOOD), ev({"x": 1}, type_="other"), ev(GOOD, entity="o-2"),
             ev({"amount": -1, "currency": "EUR"}, entity="o-3"), ev(GOOD)]
    r = post_batch(server, batch, fmt)
    b = error(r, 400, "schema_validation_failed")
    assert b["index"] == 3
    assert b["details"] == [{"instance_path": "/amount", "keyword_path":
                             "/properties/amount/minimum",
                             "message": b["details"][0]["message"]}]
    assert count_events(server) == 0
    assert server.query(entity_id="o-2") == []
    batch[3]["payload"] = GOOD
    r = post_batch(server, batch, fmt)
    assert r.status_code == 200, r.text
    assert count_events(server) == 5


def test_latest_live_version_is_enforced(server):
    register(server, "t", {"type": "object", "properties": {"n": {"type": "integer"}}})
    error(server.post_event(ev({"n": 1.5}, type_="t")), 400, "schema_validation_failed")
    register(server, "t", {"type": "object", "properties": {"n": {"type": "number"}}})
    assert server.post_event(ev({"n": 1.5}, type_="t")).status_code == 200
    assert server.request("DELETE", S + "/t/versions/2").status_code == 200
    b = error(server.post_event(ev({"n": 1.5}, type_="t")), 400, "schema_validation_failed")
    assert b["schema_version"] == 1
    assert server.request("DELETE", S + "/t").status_code == 200
    assert server.post_event(ev({"n": "no schema now"}, type_="t")).status_code == 200


def test_warn_mode_accepts_counts_and_logs(server):
    register(server, "order.placed", ORDER)
    assert set_mode(server, "order.placed", "enforcement", "warn") == {
        "subject": "order.placed", "enforcement": "warn"}
    r = server.post_event(ev({"amount": "free"}, entity="w-1"))
    assert r.status_code == 200, r.text
    assert server.post_event(ev(GOOD)).status_code == 200
    r = post_batch(server, [ev({}), ev(GOOD)], "array")
    assert r.status_code == 200
    assert count_events(server) == 4
    st = config(server)["stats"]
    assert st == {"validated": 4, "rejected": 0, "warned": 2}
    assert server.get(S + "/order.placed").json()["stats"] == st
    log = server.stderr()
    assert "does not match schema \"order.placed\" version 1" in log
    assert "(entity w-1)" in log and 'missing required property "currency"' in log


def test_off_mode_and_global_default(server):
    register(server, "a", {"type": "integer"})
    register(server, "b", {"type": "integer"})
    set_mode(server, "a", "enforcement", "off")
    assert server.post_event(ev("x", type_="a")).status_code == 200
    error(server.post_event(ev("x", type_="b")), 400, "schema_validation_failed")
    # global off: subjects without their own mode are not checked
    assert config(server, enforcement="off")["enforcement"] == "off"
    assert server.post_event(ev("x", type_="b")).status_code == 200
    # a subject's own enforce beats the global off
    set_mode(server, "b", "enforcement", "enforce")
    error(server.post_event(ev("x", type_="b")), 400, "schema_validation_failed")
    config(server, enforcement="warn")
    set_mode(server, "c", "enforcement", "enforce")  # before it has schemas
    register(server, "c", {"type": "integer"})
    error(server.post_event(ev("x", type_="c")), 400, "schema_validation_failed")
    st = config(server)["stats"]
    assert st == {"validated": 3, "rejected": 3, "warned": 0}
    assert server.get(S + "/b").json()["stats"] == {"validated": 2, "rejected": 2, "warned": 0}
    assert server.get(S + "/a").json()["enforcement"] == "off"
    assert server.get(S + "/b").json()["enforcement"] == "enforce"


def test_validate_route_ignores_enforcement(server):
    register(server, "a", {"type": "integer"})
    set_mode(server, "a", "enforcement", "off")
    b = server.post(S + "/validate", json={"subject": "a", "payload": "x"}).json()
    assert b["valid"] is False
    assert config(server)["stats"]["validated"] == 0


def test_subject_suffix_flag(server_factory):
    s = server_factory(args=["--schema-subject-suffix", "-value"])
    assert config(s)["subject_suffix"] == "-value"
    register(s, "t-value", {"type": "integer"})
    register(s, "u", {"type": "integer"})
    b = error(s.post_event(ev("x", type_="t")), 400, "schema_validation_failed")
    assert b["subject"] == "t-value"
    assert s.post_event(ev("x", type_="u")).status_code == 200
    assert s.post_event(ev("x", type_="t-value")).status_code == 200
    s.stop()
    s2 = server_factory(env={"ALLSOURCE_SCHEMA_SUBJECT_SUFFIX": ".v"})
    assert config(s2)["subject_suffix"] == ".v"


def test_enforcement_flag_and_variable(server_factory):
    s = server_factory(args=["--schema-enforcement", "warn"])
    assert config(s)["enforcement"] == "warn"
    register(s, "a", {"type": "integer"})
    assert s.post_event(ev("x", type_="a")).status_code == 200
    # the flag wins over the saved setting at each start
    config(s, enforcement="enforce")
    error(s.post_event(ev("x", type_="a")), 400, "schema_validation_failed")
    s.restart()
    assert config(s)["enforcement"] == "warn"
    s.stop()
    s.args = []
    s.start()
    assert config(s)["enforcement"] == "enforce"  # saved through the API
    s.stop()
    s.extra_env = {"ALLSOURCE_SCHEMA_ENFORCEMENT": "off"}
    s.start()
    assert config(s)["enforcement"] == "off"
    assert s.post_event(ev("x", type_="a")).status_code == 200
    s.args = ["--schema-enforcement", "enforce"]  # flags win over variables
    s.restart()
    assert config(s)["enforcement"] == "enforce"


@pytest.mark.parametrize("args", [
    ["--schema-enforcement", "strict"],
    ["--schema-enforcement", "WARN"],
    ["--schema-subject-suffix", "a/b"],
    ["--schema-subject-suffix", "x y"],
])
def test_bad_flags_exit_2(allsourced_bin, tmp_path, args):
    p = subprocess.run([allsourced_bin, "--listen", "127.0.0.1:0", "--data-dir",
                        str(tmp_path / "d")] + args, env=clean_env(), capture_output=True,
                       timeout=60)
    assert p.returncode == 2, p.stderr
    assert b"schema" in p.stderr


def test_help_lists_the_flags(allsourced_bin):
    p = subprocess.run([allsourced_bin, "--help"], capture_output=True, timeout=60)
    out = p.stdout.decode()
    for s in ("--schema-enforcement", "--schema-subject-suffix",
              "ALLSOURCE_SCHEMA_ENFORCEMENT", "ALLSOURCE_SCHEMA_SUBJECT_SUFFIX"):
        assert s in out


def test_memory_only_mode_has_a_registry(server_factory):
    s = server_factory(durability="none")
    register(s, "a", {"type": "integer"})
    error(s.post_event(ev("x", type_="a")), 400, "schema_validation_failed")
    s.restart()  # nothing is kept without a data directory
    assert s.get(S).json() == {"subjects": [], "total": 0}
