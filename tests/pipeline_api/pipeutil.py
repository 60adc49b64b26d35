"""Helpers of the pipeline black-box tests, and an independent model of
what a pipeline computes (docs/pipelines.md), written from the documented
semantics in plain Python over the events read back through
/api/v1/events/query.  Tests compare the server's /results with it."""

import copy
import datetime
import json
import re

P = "/api/v1/pipelines"
JSON = {"Content-Type": "application/json"}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")

KINDS = {
    "pipeline_not_found": "Not found: Pipeline not found: ",
    "invalid_id": "Invalid id: ",
    "validation_error": "Validation error: ",
    "limit_exceeded": "Validation error: ",
    "invalid_json": "Invalid JSON: ",
    "unsupported_media_type": "Unsupported media type: ",
    "method_not_allowed": "Method not allowed: ",
    "config_too_large": "Payload too large: ",
    "unavailable": "Unavailable: ",
}


def error(resp, status, code, field=None):
    """Asserts an error response (status, "code", "<Kind>: " prefix, and
    the "field" when given); returns the body."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == code, body
    assert body["error"].startswith(KINDS[code]), body
    if field is not None:
        assert body.get("field") == field, body
    return body


def config(name="p", types=(), ops=(), enabled=True, **extra):
    c = {"name": name, "source_event_types": list(types), "operators": list(ops),
         "enabled": enabled, "output": name + "_out"}
    c.update(extra)
    return c


def register(server, cfg, status=200):
    r = server.post(P, json=cfg)
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def stats(server, pid):
    r = server.get("%s/%s/stats" % (P, pid))
    assert r.status_code == 200, r.text
    return r.json()


def results(server, pid):
    r = server.get("%s/%s/results" % (P, pid))
    assert r.status_code == 200, r.text
    return r.json()


def ts_us(s):
    """RFC 3339 UTC with microseconds -> integer microseconds."""
    d = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return (d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // \
        datetime.timedelta(microseconds=1)


def fmt_us(us):
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=us)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log(server):
    """Every committed event, in position order."""
    return server.query()


# --- The model ----------------------------------------------------------------

def _is_num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def json_eq(a, b):
    if _is_num(a) and _is_num(b):
        return a == b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_eq(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_eq(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


_MISSING = object()


def get_path(v, path):
    for seg in path.split("."):
        if not isinstance(v, dict) or seg not in v:
            return _MISSING
        v = v[seg]
    return v


def set_path(v, path, value):
    if not isinstance(v, dict):
        return
    segs = path.split(".")
    node = v
    for seg in segs[:-1]:
        if seg not in node:
            node[seg] = {}
        node = node[seg]
        if not isinstance(node, dict):
            return
    node[segs[-1]] = value


def group_of(cur, group_by):
    if not group_by:
        return "default"
    g = get_path(cur, group_by)
    if isinstance(g, str):
        return g
    if isinstance(g, bool):
        return "true" if g else "false"
    if isinstance(g, int):
        return str(g)
    return "default"


class Cell:
    def __init__(self):
        self.count, self.n, self.sum, self.min, self.max = 0, 0, 0.0, None, None

    def add(self, x):
        self.count += 1
        if x is not None:
            self.n += 1
            self.sum += x
            self.min = x if self.min is None else min(self.min, x)
            self.max = x if self.max is None else max(self.max, x)

    def value(self, fn):
        if fn == "count":
            return self.count
        if fn == "sum":
            return self.sum
        if fn == "avg":
            return self.sum / self.n if self.n else None
        return (self.min if fn == "min" else self.max) if self.n else None


def reduce_input(cur, op):
    if op["function"] == "count":
        return None
    x = get_path(cur, op["field"])
    return float(x) if _is_num(x) else None


def type_matches(types, t):
    if not types:
        return True
    for s in types:
        if s == t or (s.endswith(".*") and t.startswith(s[:-1])):
            return True
    return False


class Model:
    """Runs the documented semantics over events (dicts from the query
    API) from `start` on."""

    def __init__(self, cfg, start=1):
        self.cfg = cfg
        self.start = start
        self.ops = []
        for op in cfg["operators"]:
            st = {"in": 0, "out": 0}
            if op["type"] == "reduce":
                st["groups"] = {}
            if op["type"] == "window":
                st["wins"] = []  # dicts: start, end, last, events, group, cells
                st["sessions"] = {}
            if op["type"] == "branch":
                st["routes"] = {k: 0 for k in op["branches"]}
                st["unrouted"] = 0
            self.ops.append(st)
        self.processed = self.filtered = self.failed = 0
        self.watermark = None
        self.outputs = []

    def feed_all(self, events):
        for ev in events:
            if ev["position"] >= self.start:
                self.feed(ev)
        return self

    def feed(self, ev):
        t = ts_us(ev["timestamp"])
        self.watermark = t
        if not self.cfg["enabled"] or not type_matches(self.cfg["source_event_types"],
                                                        ev["event_type"]):
            return
        cur = copy.deepcopy(ev["payload"])
        for op, st in zip(self.cfg["operators"], self.ops):
            st["in"] += 1
            kind = op["type"]
            if kind == "filter":
                if not self._filter(op, cur):
                    self.processed += 1
                    self.filtered += 1
                    return
            elif kind == "map":
                cur = self._map(op, cur)
            elif kind == "reduce":
                g = group_of(cur, op.get("group_by"))
                cell = st["groups"].setdefault(g, Cell())
                cell.add(reduce_input(cur, op))
                cur = {"group": g, "function": op["function"],
                       "value": cell.value(op["function"])}
            elif kind == "window":
                cur = self._window(op, st, cur, t)
            elif kind == "branch":
                v = get_path(cur, op["field"])
                if isinstance(cur, dict) and isinstance(v, str) and v in op["branches"]:
                    st["routes"][v] += 1
                    cur["_route"] = op["branches"][v]
                else:
                    st["unrouted"] += 1
            elif kind == "enrich":
                if isinstance(cur, dict):
                    for f in op["fields"]:
                        if op["source"] == "event":
                            set_path(cur, f, ev[f])
                        else:
                            v = get_path(ev.get("metadata") or {}, f)
                            if v is not _MISSING:
                                set_path(cur, f, v)
            st["out"] += 1
        self.processed += 1
        self.outputs.append({"position": ev["position"], "value": cur})

    @staticmethod
    def _filter(op, cur):
        v = get_path(cur, op["field"])
        want, o = op["value"], op["op"]
        if o == "eq":
            return v is not _MISSING and json_eq(v, want)
        if o == "ne":
            return v is _MISSING or not json_eq(v, want)
        if o in ("gt", "lt", "gte", "lte"):
            if v is _MISSING or not _is_num(v) or not _is_num(want):
                return False
            return {"gt": v > want, "lt": v < want, "gte": v >= want, "lte": v <= want}[o]
        if o == "contains":
            return isinstance(v, str) and isinstance(want, str) and want in v
        raise AssertionError(o)

    @staticmethod
    def _map(op, cur):
        v = get_path(cur, op["field"])
        tr = op["transform"]
        if v is _MISSING:
            return cur
        if tr in ("uppercase", "lowercase", "trim"):
            if isinstance(v, str):
                v = v.upper() if tr == "uppercase" else v.lower() if tr == "lowercase" else v.strip()
                set_path(cur, op["field"], v)
        elif _is_num(v):
            name, arg = tr.split(":")
            v = float(v) * float(arg) if name == "multiply" else float(v) + float(arg)
            set_path(cur, op["field"], v)
        return cur

    @staticmethod
    def _window(op, st, cur, t):
        c = op["config"]
        agg = op["aggregation"]
        g = group_of(cur, agg.get("group_by"))
        x = reduce_input(cur, agg)
        wt = c["window_type"]
        if wt == "session":
            timeout = c.get("session_timeout_seconds", 300) * 10**6
            w = st["sessions"].get(g)
            if w is None or t >= w["end"]:
                w = {"start": t, "end": t + timeout, "events": 0, "cells": {}}
                st["wins"].append(w)
                st["sessions"][g] = w
            touched = [w]
            w["end"] = t + timeout
        else:
            size = c["size_seconds"] * 10**6
            slide = (c.get("slide_seconds") or c["size_seconds"]) * 10**6 \
                if wt == "sliding" else size
            touched = []
            for j in range((t - size) // slide + 1, t // slide + 1):
                s = j * slide
                w = next((w for w in st["wins"] if w["start"] == s), None)
                if w is None:
                    w = {"start": s, "end": s + size, "events": 0, "cells": {}}
                    st["wins"].append(w)
                touched.append(w)
        for w in touched:
            w["events"] += 1
            w["cells"].setdefault(g, Cell()).add(x)
        w = touched[0]
        return {"window_type": wt, "window_size_seconds": c.get("size_seconds", 0),
                "window_start": fmt_us(w["start"]), "window_end": fmt_us(w["end"]),
                "events_in_window": w["events"],
                "aggregation": {"group": g, "function": agg["function"],
                                "value": w["cells"][g].value(agg["function"])}}

    # --- expected pieces of /results ---------------------------------------

    def groups(self, i):
        fn = self.cfg["operators"][i]["function"]
        return {g: c.value(fn) for g, c in self.ops[i]["groups"].items()}

    def windows(self, i):
        fn = self.cfg["operators"][i]["aggregation"]["function"]
        out = []
        for w in sorted(self.ops[i]["wins"], key=lambda w: w["start"]):
            out.append({"start": fmt_us(w["start"]), "end": fmt_us(w["end"]),
                        "closed": self.watermark >= w["end"],
                        "events_in_window": w["events"],
                        "groups": {g: c.value(fn) for g, c in w["cells"].items()}})
        return out


def server_groups(res, i):
    return {g["group"]: g["value"] for g in res["operators"][i]["groups"]}


def server_windows(res, i):
    return [{"start": w["start"], "end": w["end"], "closed": w["closed"],
             "events_in_window": w["events_in_window"],
             "groups": {g["group"]: g["value"] for g in w["groups"]}}
            for w in res["operators"][i]["windows"]]


def dumps(x):
    return json.dumps(x, sort_keys=True)
