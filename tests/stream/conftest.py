"""Fixtures for the black-box streaming tests of allsourced (WebSocket,
NDJSON subscriptions, snapshots, analytics).

The binary is never built here: it is taken from $ALLSOURCE_BIN, or
<repo>/build/allsourced.  Every test that asks for `server` gets a fresh
process on a free loopback port with its own data directory under pytest's
tmp_path; it is stopped with SIGTERM at the end of the test and must exit
with status 0 (its stderr is printed when the test fails, and a sanitizer
report in it fails the test).

    server            a running Server (durability sync)
    server_factory    more servers: server_factory(args=[...], durability="none")

Knobs (environment): ALLSOURCE_BIN, ALLSOURCE_STREAM_LOAD (scale of the
load tests, default 1.0; use 0.3 or so against a sanitizer build), plus
ALLSOURCE_STREAM_HTTP_TIMEOUT / _START_TIMEOUT / _STOP_TIMEOUT (60 s) and
ALLSOURCE_STREAM_SEED (random histories).
"""

import os
import pathlib
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from streamutil import Server  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]


def _binary():
    return os.environ.get("ALLSOURCE_BIN") or str(REPO / "build" / "allsourced")


def _is_sanitized(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return any(m in data for m in (b"__asan_init", b"__tsan_init", b"__ubsan_handle"))


SANITIZED = _is_sanitized(_binary())


@pytest.fixture(scope="session")
def allsourced_bin():
    b = _binary()
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        pytest.skip("allsourced binary not found at %s: build it first "
                    "(cmake -S . -B build && cmake --build build) or set "
                    "ALLSOURCE_BIN" % b)
    return b


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


class _Factory:
    def __init__(self, binary, base):
        self.binary = binary
        self.base = base
        self.servers = []

    def __call__(self, args=(), durability="sync", start=True, data_dir=None):
        n = len(self.servers)
        d = data_dir or os.path.join(self.base, "data%d" % n)
        s = Server(self.binary, d, args=args,
                   log_dir=os.path.join(self.base, "logs%d" % n), durability=durability)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def finish(self, failed):
        errors = []
        for s in self.servers:
            if failed and s.stderr_paths:
                print("---- allsourced stderr (%s, %d start(s)) ----\n%s"
                      % (s.data_dir, s.starts, s.stderr(all_runs=True)))
            if s.proc is not None:
                try:
                    s.stop(signal.SIGTERM)
                except AssertionError as e:
                    errors.append(str(e))
            else:
                try:
                    s.check_sanitizers()
                except AssertionError as e:
                    errors.append(str(e))
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def server_factory(allsourced_bin, tmp_path, request):
    f = _Factory(allsourced_bin, str(tmp_path))
    yield f
    f.finish(_failed(request))


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture(scope="module")
def module_factory(allsourced_bin, tmp_path_factory, request):
    f = _Factory(allsourced_bin, str(tmp_path_factory.mktemp("module")))
    yield f
    f.finish(request.session.testsfailed > 0)
