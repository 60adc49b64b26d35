"""Helpers of the replay and /metrics tests: starting and waiting for
replays, error-body checks, an independent computation of the built-in
projections from the query API, and a strict parser of the Prometheus text
exposition format 0.0.4."""

import json
import math
import os
import re
import time

REPLAY = "/api/v1/replay"


def load_scale():
    """ALLSOURCE_REPLAY_LOAD scales the big-store tests (default 1.0)."""
    try:
        return max(0.05, float(os.environ.get("ALLSOURCE_REPLAY_LOAD", "1")))
    except ValueError:
        return 1.0

PROGRESS_KEYS = {"replay_id", "status", "started_at", "updated_at", "completed_at",
                 "total_events", "processed_events", "failed_events",
                 "progress_percentage", "events_per_second", "error_message"}


def check_error(resp, status, code, kind=None, field=None):
    """Asserts our error format: status, JSON {"error": "<Kind>: ...", "code"}."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == code, body
    assert re.match(r"^[A-Z][A-Za-z ]+: .+", body["error"]), body
    if kind:
        assert body["error"].startswith(kind + ": "), body
    if field is not None:
        assert body.get("field") == field, body
    return body


def start(server, body=None, **kw):
    """POST /api/v1/replay; asserts 200 and returns the JSON answer."""
    r = server.post(REPLAY, json={} if body is None else body, **kw)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def progress(server, rid):
    r = server.get("%s/%s" % (REPLAY, rid))
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def wait_done(server, rid, timeout=60.0):
    """Polls until the replay is no longer running; returns its progress."""
    deadline = time.monotonic() + timeout
    while True:
        p = progress(server, rid)
        if p["status"] != "running":
            return p
        assert time.monotonic() < deadline, "replay %s still running: %s" % (rid, p)
        time.sleep(0.01)


def state(server, rid, key, projection=None):
    params = {"key": key}
    if projection:
        params["projection"] = projection
    return server.get("%s/%s/state" % (REPLAY, rid), params=params)


def ingest_many(server, n, entities=5, types=("order.placed", "order.paid",
                                               "user.created", "user.renamed"),
                batch=10000, offset=0):
    """Appends n events in batches; entity e-(i % entities), type
    types[(i // 3) % len(types)], object payloads with overlapping keys."""
    done = 0
    while done < n:
        k = min(batch, n - done)
        evs = []
        for j in range(done, done + k):
            i = j + offset
            evs.append({"entity_id": "e-%d" % (i % entities),
                        "event_type": types[(i // 3) % len(types)],
                        "payload": {"i": i, "k%d" % (i % 7): "v%d" % i}})
        server.batch(evs)
        done += k


# --- Independent computation over the query API -------------------------------

def query_all(server, **params):
    """Every event matching the query parameters (NDJSON, no limit)."""
    r = server.get("/api/v1/events/query", params=params,
                   headers={"Accept": "application/x-ndjson"})
    assert r.status_code == 200, (r.status_code, r.text)
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def counters_of(events):
    out = {}
    for e in events:
        out[e["event_type"]] = out.get(e["event_type"], 0) + 1
    return out


def snapshots_of(events):
    """entity_snapshots semantics (docs/api.md): the first payload, then later
    object payloads shallow-merged while the state is an object."""
    out = {}
    for e in events:
        ent, p = e["entity_id"], e["payload"]
        if ent not in out:
            out[ent] = dict(p) if isinstance(p, dict) else p
        elif isinstance(out[ent], dict) and isinstance(p, dict):
            out[ent].update(p)
    return out


# --- Prometheus text exposition format 0.0.4 -------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
LABELS = r"\{(?:%s=%s(?:,%s=%s)*,?)?\}" % (LABEL_NAME, LABEL_VALUE, LABEL_NAME, LABEL_VALUE)
VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)"
SAMPLE_RE = re.compile(r"^(%s)(%s)? (%s)(?: -?\d+)?$" % (NAME, LABELS, VALUE))
HELP_RE = re.compile(r"^# HELP (%s) (.*)$" % NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % NAME)
LABEL_PAIR_RE = re.compile(r"(%s)=(%s)" % (LABEL_NAME, LABEL_VALUE))


def _unescape(v):
    out, i = [], 1
    while i < len(v) - 1:
        c = v[i]
        if c == "\\":
            n = v[i + 1]
            out.append({"\\": "\\", '"': '"', "n": "\n"}[n])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text):
    if not text:
        return ()
    inner = text[1:-1]
    pairs = [(m.group(1), _unescape(m.group(2))) for m in LABEL_PAIR_RE.finditer(inner)]
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), "duplicate label name in %s" % text
    return tuple(sorted(pairs))


class Family:
    def __init__(self, name):
        self.name, self.help, self.type = name, None, None
        self.samples = []  # (sample name, labels tuple, float value)


def parse_exposition(text):
    """Parses the whole text strictly; returns {family name: Family}.
    Raises AssertionError on any deviation from the format: unknown line
    shape, a sample before its family's TYPE, a sample whose name does not
    belong to the current family, duplicate HELP/TYPE or series, a missing
    final newline."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    fams, current, seen = {}, None, set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        assert line == line.strip() and line, "line %d: blank or padded: %r" % (n, line)
        m = HELP_RE.match(line)
        if m:
            name = m.group(1)
            assert name not in fams, "line %d: second HELP for %s" % (n, name)
            fams[name] = current = Family(name)
            current.help = m.group(2)
            continue
        m = TYPE_RE.match(line)
        if m:
            name = m.group(1)
            assert current is not None and current.name == name and current.type is None, \
                "line %d: TYPE %s without its HELP right before" % (n, name)
            current.type = m.group(2)
            continue
        assert not line.startswith("#"), "line %d: unknown comment %r" % (n, line)
        m = SAMPLE_RE.match(line)
        assert m, "line %d: not a sample line: %r" % (n, line)
        sname, labels, value = m.group(1), parse_labels(m.group(2)), m.group(3)
        assert current is not None and current.type is not None, "line %d: no family" % n
        allowed = {current.name}
        if current.type == "histogram":
            allowed = {current.name + s for s in ("_bucket", "_sum", "_count")}
        assert sname in allowed, "line %d: %s does not belong to %s" % (n, sname, current.name)
        key = (sname, labels)
        assert key not in seen, "line %d: duplicate series %s%s" % (n, sname, labels)
        seen.add(key)
        v = float(value.replace("Inf", "inf"))
        current.samples.append((sname, labels, v))
    for f in fams.values():
        assert f.type is not None, "%s has HELP but no TYPE" % f.name
        if f.type == "counter":
            for s in f.samples:
                assert s[2] >= 0 and math.isfinite(s[2]), s
        if f.type == "histogram":
            check_histogram(f)
    return fams


def check_histogram(f):
    """Buckets per label set: le strictly increasing ending at +Inf,
    counts cumulative (non-decreasing), +Inf == _count, a _sum."""
    groups = {}
    for sname, labels, v in f.samples:
        base = tuple(kv for kv in labels if kv[0] != "le")
        g = groups.setdefault(base, {"buckets": [], "sum": None, "count": None})
        if sname.endswith("_bucket"):
            le = dict(labels).get("le")
            assert le is not None, "bucket without le in %s" % f.name
            g["buckets"].append((float(le.replace("Inf", "inf")), v))
        elif sname.endswith("_sum"):
            g["sum"] = v
        else:
            g["count"] = v
    for base, g in groups.items():
        b = g["buckets"]
        assert b, "%s%s: no buckets" % (f.name, base)
        les = [x[0] for x in b]
        assert les == sorted(les) and len(set(les)) == len(les), (f.name, les)
        assert les[-1] == math.inf, "%s: last bucket is not +Inf" % f.name
        counts = [x[1] for x in b]
        assert all(a <= c for a, c in zip(counts, counts[1:])), (f.name, base, counts)
        assert g["count"] is not None and g["sum"] is not None, (f.name, base)
        assert counts[-1] == g["count"], (f.name, base, counts[-1], g["count"])
        assert g["sum"] >= 0


def value(fams, name, **labels):
    """The value of one series (0.0 when the family has no such series: a
    labelled counter that never moved is left out, as in the seed)."""
    fam_name = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name[:-len(suffix)] in fams \
                and fams[name[:-len(suffix)]].type == "histogram":
            fam_name = name[:-len(suffix)]
    assert fam_name in fams, "no metric family %s" % fam_name
    want = tuple(sorted(labels.items()))
    for sname, lbl, v in fams[fam_name].samples:
        if sname == name and lbl == want:
            return v
    return 0.0
