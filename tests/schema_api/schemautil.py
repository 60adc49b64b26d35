"""Helpers of the schema registry's black-box tests."""

import re

S = "/api/v1/schemas"
JSON = {"Content-Type": "application/json"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

# Error codes and the "<Kind>: " their messages start with.
KINDS = {
    "subject_not_found": "Not found: Subject not found: ",
    "version_not_found": "Not found: Schema version ",
    "invalid_schema": "Invalid schema: ",
    "invalid_subject": "Validation error: ",
    "incompatible_schema": "Incompatible schema: ",
    "schema_validation_failed": "Validation error: payload does not match schema ",
    "schema_too_large": "Payload too large: ",
    "limit_exceeded": "Validation error: ",
    "validation_error": "Validation error: ",
    "invalid_json": "Invalid JSON: ",
    "unsupported_media_type": "Unsupported media type: ",
    "method_not_allowed": "Method not allowed: ",
}


def error(resp, status, code):
    """Asserts an error response: status, JSON body with "error" starting
    with the code's kind and "code"; returns the body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == code, body
    assert body["error"].startswith(KINDS[code]), body
    return body


def register(server, subject, schema, status=200, **extra):
    """POST /api/v1/schemas; asserts `status` and returns the body."""
    body = {"subject": subject, "schema": schema}
    body.update(extra)
    r = server.post(S, json=body)
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def versions(server, subject):
    r = server.get("%s/%s/versions" % (S, subject))
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return r.json()["versions"]


def set_mode(server, subject, key, value, path=None):
    """PUT .../{subject}/compatibility or /enforcement; asserts 200."""
    field = "compatibility" if key == "compatibility" else "mode"
    r = server.request("PUT", "%s/%s/%s" % (S, subject, key), json={field: value})
    assert r.status_code == 200, r.text
    return r.json()


def config(server, **settings):
    """GET (no settings) or PUT /api/v1/schemas/config; asserts 200."""
    if settings:
        r = server.request("PUT", S + "/config", json=settings)
    else:
        r = server.get(S + "/config")
    assert r.status_code == 200, r.text
    return r.json()


def count_events(server):
    return server.stats()["total_events"]


OBJ_A_INT = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
OBJ_A_NUM = {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}
OBJ_A_OPT = {"type": "object", "properties": {"a": {"type": "number"}}}
OBJ_A_B = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a", "b"]}
