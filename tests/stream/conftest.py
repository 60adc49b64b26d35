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

The fixtures are tests/api's (loaded from tests/api/conftest.py, not
copied) with streamutil.Server, a subclass of tests/api's Server.

Knobs (environment): ALLSOURCE_BIN, ALLSOURCE_STREAM_LOAD (scale of the
load tests, default 1.0; use 0.3 or so against a sanitizer build), the
server timeouts of tests/api (ALLSOURCE_API_HTTP_TIMEOUT / _START_TIMEOUT /
_STOP_TIMEOUT, 60 s) and ALLSOURCE_STREAM_SEED (random histories).
"""

import importlib.util
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
API_DIR = HERE.parent / "api"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(API_DIR))

from streamutil import Server  # noqa: E402

# tests/api's fixtures, loaded rather than copied (as tests/schema_api does);
# only the server class differs.
_spec = importlib.util.spec_from_file_location("api_conftest", API_DIR / "conftest.py")
api_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api_conftest)

allsourced_bin = api_conftest.allsourced_bin
pytest_runtest_makereport = api_conftest.pytest_runtest_makereport


@pytest.fixture
def server_factory(allsourced_bin, tmp_path, request):
    f = api_conftest._Factory(allsourced_bin, str(tmp_path), server_cls=Server)
    yield f
    f.finish(api_conftest._failed(request))


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture(scope="module")
def module_factory(allsourced_bin, tmp_path_factory, request):
    f = api_conftest._Factory(allsourced_bin, str(tmp_path_factory.mktemp("module")),
                              server_cls=Server)
    yield f
    f.finish(request.session.testsfailed > 0)
