"""Fixtures for the black-box API tests of allsourced.

The binary is never built here: it is taken from $ALLSOURCE_BIN, or
<repo>/build/allsourced.  Every test that asks for `server` gets a fresh
process on a free loopback port with its own data directory under pytest's
tmp_path; it is stopped with SIGTERM at the end of the test and must exit
with status 0 (its stderr is printed when the test fails, and any sanitizer
report in it fails the test).

    server            a running Server (durability sync)
    server_factory    make more servers: server_factory(args=[...], env={...},
                      durability="none", start=True)
    module_server     one server shared by a module (read-mostly tests)

Server objects (apiutil.Server) have .url, .session, .get/.post/...,
.stop(), .restart(), .kill9(), .start(), .stderr().

Knobs (environment): ALLSOURCE_BIN, ALLSOURCE_API_LOAD (scale of the load
tests, default 1.0), ALLSOURCE_API_CRASH_ROUNDS (default 3).
"""

import os
import pathlib
import signal

import pytest

from apiutil import Server

REPO = pathlib.Path(__file__).resolve().parents[2]


def _binary():
    return os.environ.get("ALLSOURCE_BIN") or str(REPO / "build" / "allsourced")


def _is_sanitized(path):
    """True if the binary was built with ASan/UBSan/TSan (some bugs are only
    observable there: their tests are expected to fail only in such builds)."""
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
    def __init__(self, binary, base, server_cls=Server):
        self.binary = binary
        self.base = base
        self.server_cls = server_cls  # tests/stream passes its subclass
        self.servers = []

    def __call__(self, args=(), env=None, durability="sync", start=True,
                 data_dir=None, via_env=False):
        n = len(self.servers)
        d = data_dir or os.path.join(self.base, "data%d" % n)
        s = self.server_cls(self.binary, d, args=args, env=env,
                   log_dir=os.path.join(self.base, "logs%d" % n),
                   durability=durability, via_env=via_env)
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
def module_server(allsourced_bin, tmp_path_factory, request):
    f = _Factory(allsourced_bin, str(tmp_path_factory.mktemp("module")))
    s = f()
    yield s
    f.finish(request.session.testsfailed > 0)


def load_scale():
    try:
        return max(0.05, float(os.environ.get("ALLSOURCE_API_LOAD", "1")))
    except ValueError:
        return 1.0
