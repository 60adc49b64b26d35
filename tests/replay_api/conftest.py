"""Fixtures of the replay and /metrics black-box tests: the same as
tests/api (the real build/allsourced, or $ALLSOURCE_BIN, on a free loopback
port with a temporary data directory; stopped with SIGTERM and checked for
exit 0 and sanitizer reports), loaded from tests/api/conftest.py rather
than copied.

    server, server_factory, module_server, allsourced_bin   see tests/api
"""

import importlib.util
import pathlib
import sys

API_DIR = pathlib.Path(__file__).resolve().parents[1] / "api"
sys.path.insert(0, str(API_DIR))  # apiutil
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))  # replayutil

_spec = importlib.util.spec_from_file_location("api_conftest", API_DIR / "conftest.py")
api_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api_conftest)

allsourced_bin = api_conftest.allsourced_bin
server_factory = api_conftest.server_factory
server = api_conftest.server
module_server = api_conftest.module_server
pytest_runtest_makereport = api_conftest.pytest_runtest_makereport
SANITIZED = api_conftest.SANITIZED
