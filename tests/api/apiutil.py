"""Helpers for the black-box API tests of build/allsourced.

* ``Server``: starts the real binary on a free loopback port with its own
  data directory, waits for ``/health``, and stops it (SIGTERM, exit code 0
  asserted), restarts it on the same data directory, or kills it with
  SIGKILL.  Its stderr goes to a file that is checked for sanitizer reports.
* ``raw_members`` / ``raw_events``: extract the exact bytes of JSON values
  from a response, so tests can check that payloads come back byte for byte
  (whitespace, key order, ``0.1``, big integers).

Only the Python standard library, ``requests`` and the binary are used.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import uuid

import requests

HTTP_TIMEOUT = float(os.environ.get("ALLSOURCE_API_HTTP_TIMEOUT", "60"))
START_TIMEOUT = float(os.environ.get("ALLSOURCE_API_START_TIMEOUT", "60"))
STOP_TIMEOUT = float(os.environ.get("ALLSOURCE_API_STOP_TIMEOUT", "60"))

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ERROR: ThreadSanitizer",
    "SUMMARY: UndefinedBehaviorSanitizer",
)

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

EVENT_KEYS = ["id", "event_type", "entity_id", "tenant_id", "payload",
              "timestamp", "metadata", "version", "position"]


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sanitizer_report(text):
    """The lines of `text` that look like a sanitizer report, or ''."""
    if not any(m in text for m in SANITIZER_MARKERS):
        return ""
    return text


def clean_env():
    """The test's environment without any ALLSOURCE_* variable (so a
    developer's shell settings cannot change what a test sees)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ALLSOURCE_")}


class ServerStartError(Exception):
    pass


class Server:
    """One allsourced process (and its restarts) on one data directory."""

    def __init__(self, binary, data_dir, args=(), env=None, log_dir=None,
                 durability="sync", via_env=False):
        """`via_env`: pass the listen address and data directory through
        ALLSOURCE_LISTEN / ALLSOURCE_DATA_DIR instead of flags (and no
        --durability flag)."""
        self.via_env = via_env
        self.binary = str(binary)
        self.data_dir = str(data_dir)
        self.args = list(args)
        self.durability = durability
        self.extra_env = dict(env or {})
        self.log_dir = str(log_dir or data_dir + ".logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.proc = None
        self.port = None
        self.url = None
        self.session = None
        self.starts = 0
        self.stderr_path = None
        self.stderr_paths = []
        self.returncodes = []

    # --- process control -------------------------------------------------

    def command(self, port):
        if self.via_env:
            return [self.binary] + self.args
        cmd = [self.binary, "--listen", "127.0.0.1:%d" % port,
               "--data-dir", self.data_dir]
        if self.durability is not None:
            cmd += ["--durability", self.durability]
        return cmd + self.args

    def environment(self, port):
        env = clean_env()
        if self.via_env:
            env["ALLSOURCE_LISTEN"] = "127.0.0.1:%d" % port
            env["ALLSOURCE_DATA_DIR"] = self.data_dir
        env.update(self.extra_env)
        return env

    def start(self):
        assert self.proc is None, "server already running"
        last = None
        for _attempt in range(5):
            port = free_port()
            self.starts += 1
            self.stderr_path = os.path.join(self.log_dir,
                                            "stderr.%d.log" % self.starts)
            self.stderr_paths.append(self.stderr_path)
            errf = open(self.stderr_path, "wb")
            self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=errf,
                                         env=self.environment(port))
            errf.close()
            self.port = port
            self.url = "http://127.0.0.1:%d" % port
            try:
                self._wait_healthy()
            except ServerStartError as e:
                last = e
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.proc = None
                if "ddress already in use" in self.stderr():
                    continue  # lost a race for the port: pick another one
                raise
            self.session = requests.Session()
            return self
        raise last

    def _wait_healthy(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerStartError("allsourced exited with %d during start-up:\n%s"
                                       % (rc, self.stderr()))
            try:
                r = requests.get(self.url + "/health", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise ServerStartError("allsourced did not answer /health within %.0f s:\n%s"
                               % (START_TIMEOUT, self.stderr()))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _close_session(self):
        if self.session is not None:
            self.session.close()
            self.session = None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError("allsourced did not exit within %.0f s of the "
                                 "signal\n%s" % (timeout, self.stderr()))
        self.proc = None
        self.returncodes.append(rc)
        return rc

    def stop(self, sig=signal.SIGTERM, check=True):
        """Graceful stop; asserts exit code 0 and a clean stderr."""
        self._close_session()
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        rc = self.wait()
        if check:
            assert rc == 0, ("allsourced exited with %d after %s\n%s"
                             % (rc, signal.Signals(sig).name, self.stderr()))
            self.check_sanitizers()
        return rc

    def kill9(self):
        self._close_session()
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        self.check_sanitizers()

    def restart(self):
        """Graceful stop (if running) and start again on the same data dir."""
        if self.proc is not None:
            self.stop()
        return self.start()

    def stderr(self, all_runs=False):
        paths = self.stderr_paths if all_runs else [self.stderr_path]
        out = []
        for p in paths:
            if p and os.path.exists(p):
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
        return "\n".join(out)

    def check_sanitizers(self):
        rep = sanitizer_report(self.stderr())
        assert not rep, "sanitizer report in allsourced's stderr:\n" + rep

    # --- HTTP helpers ------------------------------------------------------

    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, self.url + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def post_event(self, ev, **kw):
        return self.post("/api/v1/events", json=ev, **kw)

    def ingest(self, entity_id="e-1", event_type="test.event", payload=None, **extra):
        """POST one event; asserts 200 and returns the response JSON.  The
        payload is sent as given (None is JSON null)."""
        ev = {"entity_id": entity_id, "event_type": event_type, "payload": payload}
        ev.update(extra)
        r = self.post_event(ev)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def ingest_raw(self, body):
        """POST raw bytes as application/json; asserts 200."""
        if isinstance(body, str):
            body = body.encode()
        r = self.post("/api/v1/events", data=body,
                      headers={"Content-Type": "application/json"})
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def batch(self, events):
        r = self.post("/api/v1/events/batch", json=events)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def query_resp(self, **params):
        return self.get("/api/v1/events/query", params=params)

    def query(self, **params):
        """GET /api/v1/events/query; asserts 200 and a consistent count."""
        r = self.query_resp(**params)
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        assert body["count"] == len(body["events"])
        return body["events"]

    def stats(self):
        r = self.get("/api/v1/stats")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def state(self, entity_id, **params):
        return self.get("/api/v1/entities/%s/state" % entity_id, params=params)

    def all_events(self):
        return self.query()


# --- Raw JSON spans -------------------------------------------------------

_WS = " \t\r\n"


def _skip_ws(s, i):
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _skip_string(s, i):
    assert s[i] == '"'
    i += 1
    while True:
        c = s[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        else:
            i += 1


def _skip_value(s, i):
    """Index just past the JSON value starting at s[i] (no leading ws)."""
    c = s[i]
    if c == '"':
        return _skip_string(s, i)
    if c in "{[":
        close = "}" if c == "{" else "]"
        i = _skip_ws(s, i + 1)
        if s[i] == close:
            return i + 1
        while True:
            if c == "{":
                i = _skip_string(s, i)
                i = _skip_ws(s, i)
                assert s[i] == ":"
                i = _skip_ws(s, i + 1)
            i = _skip_value(s, i)
            i = _skip_ws(s, i)
            if s[i] == ",":
                i = _skip_ws(s, i + 1)
                continue
            assert s[i] == close, (s[i], i)
            return i + 1
    j = i
    while j < len(s) and s[j] not in ",}] \t\r\n":
        j += 1
    return j


def raw_members(s):
    """The members of the JSON object text `s` as (key, raw value text)
    pairs in document order (a list, so duplicates and order are visible)."""
    i = _skip_ws(s, 0)
    assert s[i] == "{"
    out = []
    i = _skip_ws(s, i + 1)
    if s[i] == "}":
        return out
    while True:
        j = _skip_string(s, i)
        key = json.loads(s[i:j])
        i = _skip_ws(s, j)
        assert s[i] == ":"
        i = _skip_ws(s, i + 1)
        j = _skip_value(s, i)
        out.append((key, s[i:j]))
        i = _skip_ws(s, j)
        if s[i] == ",":
            i = _skip_ws(s, i + 1)
            continue
        assert s[i] == "}"
        return out


def raw_array_items(s):
    """The raw texts of the items of the JSON array text `s`."""
    i = _skip_ws(s, 0)
    assert s[i] == "["
    out = []
    i = _skip_ws(s, i + 1)
    if s[i] == "]":
        return out
    while True:
        j = _skip_value(s, i)
        out.append(s[i:j])
        i = _skip_ws(s, j)
        if s[i] == ",":
            i = _skip_ws(s, i + 1)
            continue
        assert s[i] == "]"
        return out


def raw_events(body_text):
    """For a query response {"events":[...],"count":n}: a list of dicts
    member -> raw value text, one per event."""
    members = dict(raw_members(body_text))
    return [dict(raw_members(e)) for e in raw_array_items(members["events"])]


def strict_json(resp):
    """Decodes a response body as strict UTF-8 JSON."""
    return json.loads(resp.content.decode("utf-8"))


def utf8(resp):
    """The response body decoded as strict UTF-8 (no charset guessing)."""
    return resp.content.decode("utf-8")


def new_id():
    return str(uuid.uuid4())


def check_event_shape(ev):
    """Asserts the documented Event JSON shape of one returned event."""
    assert set(EVENT_KEYS) <= set(ev), ev
    assert UUID_RE.match(ev["id"]), ev["id"]
    assert TS_RE.match(ev["timestamp"]), ev["timestamp"]
    assert isinstance(ev["version"], int) and ev["version"] >= 1
    assert isinstance(ev["position"], int) and ev["position"] >= 1
    assert isinstance(ev["tenant_id"], str) and ev["tenant_id"]
