"""Compatibility verdicts over HTTP, with Confluent's meaning (the seed had
BACKWARD and FORWARD reversed and looked only at "required"): 409
incompatible_schema with an "incompatibilities" array of {path, message,
version, direction}; the *_TRANSITIVE modes check every live version."""

import pytest

from schemautil import OBJ_A_B, OBJ_A_INT, OBJ_A_NUM, OBJ_A_OPT, S, error, register, versions

OPEN_OBJ = {"type": "object"}
CLOSED = {"type": "object", "properties": {"a": {"type": "integer"}},
          "additionalProperties": False}
CLOSED_MORE = {"type": "object", "properties": {"a": {"type": "integer"},
                                                "b": {"type": "string"}},
               "additionalProperties": False}
ENUM_2 = {"enum": ["a", "b"]}
ENUM_3 = {"enum": ["a", "b", "c"]}

# (old, new, backward compatible, forward compatible, path of a backward
# issue)
CASES = [
    ("add required", OBJ_A_INT, OBJ_A_B, False, True, "/required"),
    ("remove required", OBJ_A_B, OBJ_A_INT, True, False, None),
    ("widen integer to number", OBJ_A_INT, OBJ_A_NUM, True, False, None),
    ("narrow number to integer", OBJ_A_NUM, OBJ_A_INT, False, True, "/properties/a/type"),
    ("drop required (optional)", OBJ_A_NUM, OBJ_A_OPT, True, False, None),
    ("add enum value", ENUM_2, ENUM_3, True, False, None),
    ("remove enum value", ENUM_3, ENUM_2, False, True, "/enum"),
    ("optional property added to a closed object", CLOSED, CLOSED_MORE, True, False, None),
    ("close an open object", OPEN_OBJ, CLOSED, False, True, "/additionalProperties"),
    ("annotations only", OBJ_A_INT, dict(OBJ_A_INT, title="t", description="d"), True, True,
     None),
]

MODES = {
    "NONE": lambda b, f: True,
    "BACKWARD": lambda b, f: b,
    "FORWARD": lambda b, f: f,
    "FULL": lambda b, f: b and f,
}


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("name, old, new, back, fwd, path", CASES, ids=[c[0] for c in CASES])
def test_verdicts(module_server, mode, name, old, new, back, fwd, path):
    subject = ("%s-%s" % (mode, name)).replace(" ", "_").replace("(", "").replace(")", "")
    r = module_server.request("PUT", "%s/%s/compatibility" % (S, subject),
                              json={"compatibility": mode})
    assert r.status_code == 200
    assert register(module_server, subject, old)["version"] == 1
    ok = MODES[mode](back, fwd)
    r = module_server.post(S, json={"subject": subject, "schema": new})
    if ok:
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2
        assert versions(module_server, subject) == [1, 2]
        return
    b = error(r, 409, "incompatible_schema")
    assert b["subject"] == subject and b["compatibility"] == mode
    assert b["incompatibilities"], b
    for issue in b["incompatibilities"]:
        assert set(issue) == {"path", "message", "version", "direction"}
        assert issue["version"] == 1
        assert issue["direction"] in ("backward", "forward")
        assert issue["path"].startswith("/") and issue["message"]
    dirs = {i["direction"] for i in b["incompatibilities"]}
    if mode != "FORWARD" and not back:
        assert "backward" in dirs
        paths = {i["path"] for i in b["incompatibilities"] if i["direction"] == "backward"}
        assert path in paths, b
    if mode != "BACKWARD" and not fwd:
        assert "forward" in dirs
    assert versions(module_server, subject) == [1]


def test_issue_paths_and_messages(server):
    register(server, "p", {"type": "object", "properties": {
        "age": {"type": "number", "maximum": 100}, "tags": {"type": "array", "maxItems": 10}}})
    r = server.post(S, json={"subject": "p", "schema": {"type": "object", "properties": {
        "age": {"type": "integer", "maximum": 50}, "tags": {"type": "array", "maxItems": 5}}}})
    b = error(r, 409, "incompatible_schema")
    got = {(i["path"], i["message"]) for i in b["incompatibilities"]}
    assert ("/properties/age/type", "type narrowed from number to integer") in got, got
    assert ("/properties/age/maximum", "maximum lowered from 100 to 50") in got, got
    assert ("/properties/tags/maxItems", "maxItems lowered from 10 to 5") in got, got
    assert b["error"].startswith('Incompatible schema: schema is incompatible with subject "p" '
                                 "under BACKWARD: ")


HISTORY = [{"type": "integer"}, {"type": "string"}]
V3 = {"type": ["string", "null"]}  # BACKWARD with v2, not with v1


@pytest.mark.parametrize("mode, ok", [
    ("BACKWARD", True), ("BACKWARD_TRANSITIVE", False),
    ("FULL", False), ("NONE", True),
])
def test_transitive_checks_every_version(server, mode, ok):
    server.request("PUT", S + "/h/compatibility", json={"compatibility": "NONE"})
    for s in HISTORY:
        register(server, "h", s)
    server.request("PUT", S + "/h/compatibility", json={"compatibility": mode})
    r = server.post(S, json={"subject": "h", "schema": V3})
    if ok:
        assert r.status_code == 200 and r.json()["version"] == 3, r.text
        return
    b = error(r, 409, "incompatible_schema")
    vs = {i["version"] for i in b["incompatibilities"]}
    assert vs == ({1} if mode.endswith("TRANSITIVE") else {2}), b


def test_transitive_skips_deleted_versions(server):
    server.request("PUT", S + "/h/compatibility", json={"compatibility": "NONE"})
    for s in HISTORY:
        register(server, "h", s)
    server.request("PUT", S + "/h/compatibility", json={"compatibility": "BACKWARD_TRANSITIVE"})
    error(server.post(S, json={"subject": "h", "schema": V3}), 409, "incompatible_schema")
    assert server.request("DELETE", S + "/h/versions/1").status_code == 200
    assert register(server, "h", V3)["version"] == 3
    # FORWARD_TRANSITIVE: data of the new schema must fit v2 and v3
    server.request("PUT", S + "/h/compatibility", json={"compatibility": "FORWARD_TRANSITIVE"})
    assert register(server, "h", {"type": "string", "maxLength": 4})["version"] == 4
    b = error(server.post(S, json={"subject": "h", "schema": {"type": ["string", "integer"]}}),
              409, "incompatible_schema")
    assert {i["version"] for i in b["incompatibilities"]} == {2, 3, 4}
    assert {i["direction"] for i in b["incompatibilities"]} == {"forward"}


def test_default_mode_is_backward_and_global_setting_applies(server):
    register(server, "d", OBJ_A_INT)
    error(server.post(S, json={"subject": "d", "schema": OBJ_A_B}), 409, "incompatible_schema")
    r = server.request("PUT", S + "/config", json={"compatibility": "FORWARD"})
    assert r.status_code == 200
    assert register(server, "d", OBJ_A_B)["version"] == 2
    # a subject's own mode wins over the global one
    server.request("PUT", S + "/d/compatibility", json={"compatibility": "BACKWARD"})
    error(server.post(S, json={"subject": "d", "schema": dict(OBJ_A_B, required=["a", "b", "c"])}),
          409, "incompatible_schema")
