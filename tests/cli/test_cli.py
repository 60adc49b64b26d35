"""Black-box tests of the `allsource` command-line tool (export, inspect,
verify) against stores written by the real server."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest
import requests

BUILD = os.environ.get("ALLSOURCE_BUILD_DIR",
                       os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SERVER = os.path.join(BUILD, "allsourced")
CLI = os.path.join(BUILD, "allsource")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [SERVER, "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data_dir), *args],
            stderr=subprocess.PIPE)
        for _ in range(200):
            try:
                requests.get(self.url + "/health", timeout=0.2)
                return
            except requests.RequestException:
                time.sleep(0.02)
        raise RuntimeError("server did not start")

    def post(self, events):
        r = requests.post(self.url + "/api/v1/events/batch", json=events, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=20) == 0


def run(*args, check=True):
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def store(tmp_path):
    if not (os.access(SERVER, os.X_OK) and os.access(CLI, os.X_OK)):
        pytest.skip("build/allsourced and build/allsource are not built")
    data = tmp_path / "data"
    srv = Server(data, "--segment-events", "50")
    events = [{"event_type": f"t.{i % 3}", "entity_id": f"e-{i % 7}",
               "payload": {"i": i, "f": 0.1, "s": "é" * (i % 5)},
               **({"metadata": {"k": i}} if i % 4 == 0 else {})}
              for i in range(230)]
    for k in range(0, len(events), 23):
        srv.post(events[k:k + 23])
    srv.url_query = requests.get(srv.url + "/api/v1/events/query").json()["events"]
    yield srv, data
    if srv.proc.poll() is None:
        srv.stop()


def test_export_offline_equals_online_equals_query(store, tmp_path):
    srv, data = store
    online = run("export", "--url", srv.url).stdout.splitlines()
    assert [json.loads(l) for l in online] == srv.url_query
    srv.stop()
    offline = run("export", "--data-dir", str(data), "--no-progress").stdout.splitlines()
    assert offline == online
    assert len(offline) == 230
    # filters
    only = run("export", "--data-dir", str(data), "--entity-id", "e-3").stdout.splitlines()
    assert [json.loads(l)["position"] for l in only] == \
        [e["position"] for e in srv.url_query if e["entity_id"] == "e-3"]


def test_export_parquet_and_inspect(store, tmp_path):
    srv, data = store
    out = tmp_path / "online.parquet"
    run("export", "--url", srv.url, "--format", "parquet", "--output", str(out), "--codec", "snappy")
    srv.stop()
    text = run("inspect", str(out)).stdout
    assert "rows: 230" in text
    assert "SNAPPY" in text
    assert "allsource.last_position = 230" in text
    for col in ("position", "id", "entity_id", "event_type", "tenant_id", "timestamp",
                "version", "payload", "metadata"):
        assert f"\n  {col} " in text
    off = tmp_path / "offline.parquet"
    run("export", "--data-dir", str(data), "--format", "parquet", "--output", str(off))
    assert "rows: 230" in run("inspect", str(off)).stdout
    # the sealed files of the store inspect cleanly too
    sealed = sorted((data / "parquet").iterdir())
    assert len(sealed) >= 3  # 23-event batches, a new segment past 50 events
    assert "events-v1" in run("inspect", str(sealed[0])).stdout


def test_verify_clean_then_detects_corruption(store):
    srv, data = store
    p = run("verify", "--data-dir", str(data), check=False)
    assert p.returncode == 1 and "in use by another process" in p.stderr
    srv.stop()
    out = run("verify", "--data-dir", str(data)).stdout
    assert "230 events" in out and "checksums: OK" in out
    # flip a byte in the middle of a sealed Parquet file
    victim = sorted((data / "parquet").iterdir())[1]
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 3] ^= 0x40
    victim.write_bytes(bytes(blob))
    p = run("verify", "--data-dir", str(data), check=False)
    assert p.returncode == 1
    assert victim.name in p.stderr
    # the server refuses to start on it as well
    s = subprocess.run([SERVER, "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data)],
                       capture_output=True, text=True, timeout=30)
    assert s.returncode == 1 and victim.name in s.stderr


def test_verify_reports_a_torn_tail_without_changing_it(store):
    srv, data = store
    srv.stop()
    seg = sorted((data / "wal").iterdir())[-1]
    size = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(b"\x13\x37" * 50)
    out = run("verify", "--data-dir", str(data)).stdout
    assert "torn tail: 100 bytes" in out
    assert seg.stat().st_size == size + 100  # read-only: unchanged


def test_usage_errors():
    if not os.access(CLI, os.X_OK):
        pytest.skip("build/allsource is not built")
    assert run("bogus", check=False).returncode == 2
    assert run("export", check=False).returncode == 2
    assert run("inspect", "/nonexistent.parquet", check=False).returncode == 1
    assert "allsource 0.1.0" in run("version").stdout
