"""Every route of the schema registry with its response shape and errors:
the seed's six (seed-api-contract §6, quirks fixed: 404 for unknown
subjects and versions), deletes, versions/{n}, enforcement, config; bad
bodies (415/400), name and size bounds, reserved names (405)."""

import json

import pytest

from schemautil import (JSON, OBJ_A_B, OBJ_A_INT, OBJ_A_NUM, OBJ_A_OPT, S, TS_RE, UUID_RE,
                        config, error, register, versions)


# --- POST /api/v1/schemas ------------------------------------------------


def test_register_shape_and_versions_from_one(server):
    b = register(server, "user.created", OBJ_A_INT, description="users", tags=["pii", "v1"])
    assert set(b) == {"schema_id", "subject", "version", "created_at", "existing"}
    assert UUID_RE.match(b["schema_id"])
    assert TS_RE.match(b["created_at"])
    assert b["subject"] == "user.created"
    assert b["version"] == 1
    assert b["existing"] is False
    b2 = register(server, "user.created", OBJ_A_NUM)
    assert b2["version"] == 2
    assert b2["schema_id"] != b["schema_id"]
    assert server.get(S + "/user.created").headers["Access-Control-Allow-Origin"] == "*"


def test_identical_schema_returns_the_existing_version(server):
    first = register(server, "s", OBJ_A_INT)
    register(server, "s", OBJ_A_NUM)
    # Same JSON, other key order and whitespace: the existing version 1.
    raw = ('{"subject":"s","schema":{ "required":["a"], "type":"object",'
           ' "properties":{"a":{"type":"integer"}} }}')
    r = server.post(S, data=raw, headers=JSON)
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["version"] == 1 and again["existing"] is True
    assert again["schema_id"] == first["schema_id"]
    assert again["created_at"] == first["created_at"]
    assert versions(server, "s") == [1, 2]
    # 1 and 1.0 are different JSON values for jansson: a new version.
    assert register(server, "n", {"const": 1})["version"] == 1
    assert register(server, "n", {"const": 1.0})["version"] == 2


@pytest.mark.parametrize("body, status, code", [
    ("{", 400, "invalid_json"),
    ("[1]", 400, "validation_error"),
    ("{}", 400, "validation_error"),
    ('{"subject":"s"}', 400, "validation_error"),
    ('{"schema":{}}', 400, "validation_error"),
    ('{"subject":5,"schema":{}}', 400, "validation_error"),
    ('{"subject":"s","schema":{},"description":5}', 400, "validation_error"),
    ('{"subject":"s","schema":{},"tags":"a"}', 400, "validation_error"),
    ('{"subject":"s","schema":{},"tags":[1]}', 400, "validation_error"),
    ('{"subject":"s","schema":{"type":5}}', 400, "invalid_schema"),
    ('{"subject":"s","schema":{"pattern":"("}}', 400, "invalid_schema"),
    ('{"subject":"s","schema":{"$ref":"#/missing"}}', 400, "invalid_schema"),
    ('{"subject":"s","schema":"not a schema"}', 400, "invalid_schema"),
    ('{"subject":"","schema":{}}', 400, "invalid_subject"),
    ('{"subject":"a b","schema":{}}', 400, "invalid_subject"),
    ('{"subject":"a/b","schema":{}}', 400, "invalid_subject"),
    ('{"subject":"..","schema":{}}', 400, "invalid_subject"),
    ('{"subject":"config","schema":{}}', 400, "invalid_subject"),
    ('{"subject":"validate","schema":{}}', 400, "invalid_subject"),
    ('{"subject":"caf\\u00e9","schema":{}}', 400, "invalid_subject"),
    ('{"subject":"%s","schema":{}}' % ("x" * 201), 400, "invalid_subject"),
])
def test_register_bad_bodies(module_server, body, status, code):
    r = module_server.post(S, data=body, headers=JSON)
    b = error(r, status, code)
    if code == "invalid_schema":
        assert b["field"] == "schema"
        assert len(b["error"]) > len("Invalid schema: ") + 5  # the compiler's message
    assert module_server.get(S + "/s").status_code == 404


def test_register_compiler_message(module_server):
    r = module_server.post(S, json={"subject": "c", "schema": {"pattern": "(unclosed"}})
    b = error(r, 400, "invalid_schema")
    assert "pattern" in b["error"]


def test_register_needs_json_content_type(module_server):
    r = module_server.post(S, data='{"subject":"s","schema":{}}',
                           headers={"Content-Type": "text/plain"})
    error(r, 415, "unsupported_media_type")
    r = module_server.post(S, data='{"subject":"s","schema":{}}')
    error(r, 415, "unsupported_media_type")


def test_subject_name_bounds(module_server):
    name = "A-z_0.9" + "x" * 193
    assert len(name) == 200
    assert register(module_server, name, True)["version"] == 1
    assert module_server.get(S + "/" + name).json()["subject"] == name


def test_schema_size_bound(server):
    # exactly 1 MiB of schema text is accepted, one byte more is 413
    head, tail = '{"description":"', '"}'
    text = head + "d" * (2**20 - len(head) - len(tail)) + tail
    assert len(text) == 2**20
    r = server.post(S, data='{"subject":"big","schema":' + text + "}", headers=JSON)
    assert r.status_code == 200, r.text[:200]
    text = head + "d" * (2**20 - len(head) - len(tail) + 1) + tail
    r = server.post(S, data='{"subject":"big2","schema":' + text + "}", headers=JSON)
    b = error(r, 413, "schema_too_large")
    assert "1048576" in b["error"]
    assert server.get(S + "/big2").status_code == 404
    assert len(server.get(S + "/big").json()["schema"]["description"]) == 2**20 - 18


def test_schema_nesting_bound(module_server):
    def nested(levels):  # a schema document nested `levels` deep
        doc = {}
        for _ in range(levels - 1):
            doc = {"not": doc}
        return doc
    assert register(module_server, "deep", nested(63))["version"] == 1
    r = module_server.post(S, json={"subject": "deeper", "schema": nested(64)})
    b = error(r, 400, "limit_exceeded")
    assert "63" in b["error"]


def test_version_limit(server):
    server.request("PUT", S + "/many/compatibility", json={"compatibility": "NONE"})
    for i in range(1, 1001):
        r = server.post(S, json={"subject": "many", "schema": {"const": i}})
        assert r.status_code == 200 and r.json()["version"] == i, r.text
    r = server.post(S, json={"subject": "many", "schema": {"const": 1001}})
    b = error(r, 400, "limit_exceeded")
    assert "1000" in b["error"]
    # deleting does not free numbers
    assert server.request("DELETE", S + "/many/versions/1000").status_code == 200
    error(server.post(S, json={"subject": "many", "schema": {"const": 1002}}), 400,
          "limit_exceeded")


# --- GET /api/v1/schemas ------------------------------------------------


def test_list_subjects_sorted_with_total(server):
    assert server.get(S).json() == {"subjects": [], "total": 0}
    for s in ["b", "a.x", "a", "Z"]:
        register(server, s, {})
    assert server.get(S).json() == {"subjects": ["Z", "a", "a.x", "b"], "total": 4}


# --- GET /api/v1/schemas/{subject}[?version=N], /versions, /versions/{n} --


def test_get_schema_shapes(server):
    schema = {"type": "object", "properties": {"big": {"const": 12345678901234567890}}}
    raw = json.dumps({"subject": "t", "schema": schema, "description": "d", "tags": ["x"]})
    v1 = server.post(S, data=raw, headers=JSON).json()
    v2 = register(server, "t", {"type": "object"})
    b = server.get(S + "/t").json()
    assert set(b) >= {"id", "subject", "version", "schema", "created_at", "description", "tags"}
    assert b["version"] == 2 and b["id"] == v2["schema_id"]
    assert b["description"] is None and b["tags"] == []
    assert b["latest_version"] == 2
    assert b["compatibility"] == "BACKWARD" and b["enforcement"] == "enforce"
    for path in ("/t?version=1", "/t/versions/1"):
        b = server.get(S + path).json()
        assert b["version"] == 1 and b["id"] == v1["schema_id"]
        assert b["created_at"] == v1["created_at"]
        assert b["description"] == "d" and b["tags"] == ["x"]
        assert b["schema"] == schema
    # the schema text comes back exactly (a big integer survives)
    assert '"const":12345678901234567890' in server.get(S + "/t?version=1").text.replace(" ", "")
    for path in ("/t?version=latest", "/t/versions/latest"):
        assert server.get(S + path).json()["version"] == 2
    assert server.get(S + "/t/versions").json() == {"subject": "t", "versions": [1, 2]}


@pytest.mark.parametrize("path, status, code", [
    ("/nope", 404, "subject_not_found"),
    ("/nope/versions", 404, "subject_not_found"),
    ("/nope/versions/1", 404, "subject_not_found"),
    ("/nope?version=1", 404, "subject_not_found"),
    ("/t?version=3", 404, "version_not_found"),
    ("/t/versions/3", 404, "version_not_found"),
    ("/t?version=0", 400, "validation_error"),
    ("/t?version=-1", 400, "validation_error"),
    ("/t?version=x", 400, "validation_error"),
    ("/t?version=99999999999", 400, "validation_error"),
    ("/t/versions/0", 400, "validation_error"),
    ("/t/versions/abc", 400, "validation_error"),
])
def test_get_errors(module_server, path, status, code):
    if module_server.get(S + "/t").status_code == 404:
        register(module_server, "t", {})
        register(module_server, "t", {"type": "object"}, status=409)  # BACKWARD
        register(module_server, "t", {"description": "v2"})
    b = error(module_server.get(S + path), status, code)
    if code == "subject_not_found":
        assert b["error"] == "Not found: Subject not found: nope"
    if code == "version_not_found":
        assert b["error"] == "Not found: Schema version 3 not found for subject: t"


# --- DELETE ---------------------------------------------------------------


def test_delete_version_and_subject(server):
    for i in range(3):
        register(server, "d", {"description": "v%d" % i})
    r = server.request("DELETE", S + "/d/versions/2")
    assert r.status_code == 200 and r.json() == {"subject": "d", "version": 2, "deleted": True}
    assert versions(server, "d") == [1, 3]
    error(server.get(S + "/d/versions/2"), 404, "version_not_found")
    error(server.get(S + "/d?version=2"), 404, "version_not_found")
    error(server.request("DELETE", S + "/d/versions/2"), 404, "version_not_found")
    r = server.request("DELETE", S + "/d/versions/latest")
    assert r.json()["version"] == 3
    assert server.get(S + "/d").json()["version"] == 1
    # re-registering a deleted schema gives a new number, never a reused one
    assert register(server, "d", {"description": "v2"})["version"] == 4
    r = server.request("DELETE", S + "/d")
    assert r.status_code == 200
    assert r.json() == {"subject": "d", "versions": [1, 4], "deleted": True}
    assert server.get(S).json() == {"subjects": [], "total": 0}
    error(server.get(S + "/d"), 404, "subject_not_found")
    error(server.get(S + "/d/versions"), 404, "subject_not_found")
    error(server.request("DELETE", S + "/d"), 404, "subject_not_found")
    error(server.request("DELETE", S + "/d/versions/1"), 404, "subject_not_found")
    error(server.request("DELETE", S + "/zz/versions/x"), 400, "validation_error")
    assert register(server, "d", {"type": "string"})["version"] == 5
    assert server.get(S).json() == {"subjects": ["d"], "total": 1}


# --- POST /api/v1/schemas/validate ----------------------------------------


def test_validate_valid_and_invalid(module_server):
    s = module_server
    if s.get(S + "/v").status_code == 404:
        register(s, "v", OBJ_A_INT)
        register(s, "v", OBJ_A_NUM)
    r = s.post(S + "/validate", json={"subject": "v", "payload": {"a": 1.5}})
    assert r.status_code == 200
    assert r.json() == {"valid": True, "errors": [], "details": [], "truncated": False,
                        "schema_version": 2, "subject": "v"}
    r = s.post(S + "/validate", json={"subject": "v", "version": 1, "payload": {"a": 1.5}})
    assert r.status_code == 200  # 200 even when invalid
    b = r.json()
    assert b["valid"] is False and b["schema_version"] == 1
    assert b["errors"] == ["/a: expected integer, got number"]
    assert b["details"] == [{"instance_path": "/a", "keyword_path": "/properties/a/type",
                             "message": "expected integer, got number"}]
    b = s.post(S + "/validate", json={"subject": "v", "payload": [1]}).json()
    assert b["valid"] is False
    assert b["details"][0]["instance_path"] == ""
    assert b["errors"][0].startswith("(root): ")
    b = s.post(S + "/validate", json={"subject": "v", "version": "latest", "payload": {}}).json()
    assert b["schema_version"] == 2 and b["valid"] is False
    assert b["details"][0]["keyword_path"] == "/required"


@pytest.mark.parametrize("body, status, code", [
    ({"subject": "nope", "payload": {}}, 404, "subject_not_found"),
    ({"subject": "v", "version": 9, "payload": {}}, 404, "version_not_found"),
    ({"subject": "v", "version": 0, "payload": {}}, 400, "validation_error"),
    ({"subject": "v", "version": "x", "payload": {}}, 400, "validation_error"),
    ({"subject": "v", "version": 1.5, "payload": {}}, 400, "validation_error"),
    ({"subject": "v"}, 400, "validation_error"),
    ({"payload": {}}, 400, "validation_error"),
    ({"subject": 1, "payload": {}}, 400, "validation_error"),
])
def test_validate_errors(module_server, body, status, code):
    if module_server.get(S + "/v").status_code == 404:
        register(module_server, "v", OBJ_A_INT)
    error(module_server.post(S + "/validate", json=body), status, code)


def test_validate_payload_null_is_a_value(module_server):
    if module_server.get(S + "/v").status_code == 404:
        register(module_server, "v", OBJ_A_INT)
    b = module_server.post(S + "/validate", json={"subject": "v", "payload": None}).json()
    assert b["valid"] is False and b["errors"] == ["(root): expected object, got null"]


def test_validate_bad_bodies(module_server):
    error(module_server.post(S + "/validate", data="{"), 415, "unsupported_media_type")
    error(module_server.post(S + "/validate", data="{", headers=JSON), 400, "invalid_json")
    error(module_server.post(S + "/validate", data="[]", headers=JSON), 400, "validation_error")


# --- PUT compatibility / enforcement, GET/PUT config ----------------------


def test_put_compatibility(server):
    # works for a subject without schemas (like the seed)
    r = server.request("PUT", S + "/fresh/compatibility", json={"compatibility": "FULL"})
    assert r.status_code == 200 and r.json() == {"subject": "fresh", "compatibility": "FULL"}
    assert server.get(S).json()["total"] == 0
    register(server, "fresh", OBJ_A_INT)
    assert server.get(S + "/fresh").json()["compatibility"] == "FULL"
    for mode in ["NONE", "BACKWARD", "FORWARD", "FULL", "BACKWARD_TRANSITIVE",
                 "FORWARD_TRANSITIVE", "FULL_TRANSITIVE"]:
        r = server.request("PUT", S + "/fresh/compatibility", json={"compatibility": mode})
        assert r.json() == {"subject": "fresh", "compatibility": mode}
    for bad in ["full", "SIDEWAYS", "", 5, None]:
        r = server.request("PUT", S + "/fresh/compatibility", json={"compatibility": bad})
        b = error(r, 400, "validation_error")
        assert b["field"] == "compatibility"
    error(server.request("PUT", S + "/fresh/compatibility", json={}), 400, "validation_error")
    error(server.request("PUT", S + "/fresh/compatibility", data="x"), 415,
          "unsupported_media_type")
    error(server.request("PUT", S + "/a%20b/compatibility", json={"compatibility": "FULL"}),
          400, "invalid_subject")
    assert server.get(S + "/fresh").json()["compatibility"] == "FULL_TRANSITIVE"


def test_put_enforcement(server):
    r = server.request("PUT", S + "/e/enforcement", json={"mode": "warn"})
    assert r.status_code == 200 and r.json() == {"subject": "e", "enforcement": "warn"}
    register(server, "e", {})
    assert server.get(S + "/e").json()["enforcement"] == "warn"
    for bad in ["WARN", "strict", 1]:
        b = error(server.request("PUT", S + "/e/enforcement", json={"mode": bad}), 400,
                  "validation_error")
        assert b["field"] == "mode"
    error(server.request("PUT", S + "/e/enforcement", json={}), 400, "validation_error")


def test_config_get_and_put(server):
    b = config(server)
    assert b == {"compatibility": "BACKWARD", "enforcement": "enforce", "subject_suffix": "",
                 "subjects": 0, "stats": {"validated": 0, "rejected": 0, "warned": 0}}
    b = config(server, compatibility="FULL")
    assert b["compatibility"] == "FULL" and b["enforcement"] == "enforce"
    b = config(server, enforcement="warn")
    assert b["compatibility"] == "FULL" and b["enforcement"] == "warn"
    b = config(server, compatibility="NONE", enforcement="off")
    assert (b["compatibility"], b["enforcement"]) == ("NONE", "off")
    assert config(server) == b
    for bad in [{}, {"compatibility": "nope"}, {"enforcement": "nope"},
                {"compatibility": "FULL", "enforcement": "x"}]:
        error(server.request("PUT", S + "/config", json=bad), 400, "validation_error")
    # nothing of a refused PUT was applied
    assert (config(server)["compatibility"], config(server)["enforcement"]) == ("NONE", "off")
    # the global compatibility applies to subjects without their own
    register(server, "g", OBJ_A_INT)
    config(server, compatibility="BACKWARD")
    register(server, "g", OBJ_A_B, status=409)
    assert server.get(S + "/g").json()["compatibility"] == "BACKWARD"


# --- Routing ----------------------------------------------------------------


@pytest.mark.parametrize("method, path, allow", [
    ("GET", "/validate", "POST"),
    ("DELETE", "/validate", "POST"),
    ("DELETE", "/config", "GET, PUT"),
    ("POST", "/config", "GET, PUT"),  # static routes win over {subject}
    ("PUT", "", "POST, GET"),
    ("POST", "/x/versions", "GET"),
    ("PUT", "/x/versions/1", "GET, DELETE"),
    ("GET", "/x/compatibility", "PUT"),
    ("GET", "/x/enforcement", "PUT"),
])
def test_wrong_methods_405(module_server, method, path, allow):
    b = error(module_server.request(method, S + path), 405, "method_not_allowed")
    assert b["allow"] == allow


def test_unknown_paths_404(module_server):
    for path in ("/x/y", "/x/versions/1/z", "/x/compatibility/y"):
        r = module_server.get(S + path)
        assert r.status_code == 404, (path, r.text)
