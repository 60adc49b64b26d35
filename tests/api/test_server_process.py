"""The allsourced process: --help/--version, flags and ALLSOURCE_* variables
(flags win), bad values, log lines, graceful shutdown (SIGTERM/SIGINT, with
requests in flight), and the durability modes."""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from apiutil import clean_env, free_port, new_id, sanitizer_report
from conftest import SANITIZED

FLAGS = ["--listen", "--data-dir", "--durability", "--threads", "--max-body",
         "--log-level", "--help", "--version"]


def run(binary, args, env=None, cwd=None, timeout=30):
    """Runs allsourced expecting it to exit by itself; fails if it keeps
    running (e.g. it accepted a bad value and started serving)."""
    e = clean_env()
    e.update(env or {})
    p = subprocess.Popen([binary] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("allsourced %s kept running (should have exited)\n%s"
                             % (args, err.decode(errors="replace")))
    err = err.decode(errors="replace")
    assert not sanitizer_report(err), err
    return p.returncode, out.decode(errors="replace"), err


def test_help(allsourced_bin, tmp_path):
    rc, out, err = run(allsourced_bin, ["--help"], cwd=tmp_path)
    assert rc == 0
    assert out.startswith("usage: allsourced")
    for f in FLAGS:
        assert f in out, f
    for v in ("ALLSOURCE_LISTEN", "ALLSOURCE_DATA_DIR", "ALLSOURCE_DURABILITY",
              "ALLSOURCE_THREADS", "ALLSOURCE_MAX_BODY"):
        assert v in out, v
    assert err == ""
    assert os.listdir(tmp_path) == []  # --help opens no store


def test_version(allsourced_bin, tmp_path):
    rc, out, err = run(allsourced_bin, ["--version"], cwd=tmp_path)
    assert rc == 0
    assert re.fullmatch(r"allsourced \d+\.\d+\.\d+\n", out), out
    assert err == ""
    assert os.listdir(tmp_path) == []


BAD = [
    (["--durability", "fast"], {}, "durability"),
    (["--durability", "interval=0"], {}, "durability"),
    (["--durability", "interval=abc"], {}, "durability"),
    (["--durability", "interval=60001"], {}, "durability"),
    (["--durability", "interval=-5"], {}, "durability"),
    (["--durability", "intervals"], {}, "durability"),
    (["--durability", ""], {}, "durability"),
    (["--threads", "0"], {}, "thread"),
    (["--threads", "257"], {}, "thread"),
    (["--threads", "two"], {}, "thread"),
    (["--threads", "-1"], {}, "thread"),
    (["--threads", "2x"], {}, "thread"),
    (["--max-body", "100"], {}, "body"),
    (["--max-body", "abc"], {}, "body"),
    (["--max-body", "99999999999999"], {}, "body"),
    (["--max-body", "-1"], {}, "body"),
    (["--segment-size", "1"], {}, "segment"),
    (["--segment-size", "big"], {}, "segment"),
    (["--log-level", "loud"], {}, "log level"),
    (["--bogus-flag"], {}, "usage"),
    (["--listen"], {}, "usage"),
    (["stray-argument"], {}, "stray-argument"),
    ([], {"ALLSOURCE_DURABILITY": "fast"}, "durability"),
    ([], {"ALLSOURCE_THREADS": "0"}, "thread"),
    ([], {"ALLSOURCE_MAX_BODY": "12"}, "body"),
    ([], {"ALLSOURCE_LOG_LEVEL": "chatty"}, "log level"),
]


@pytest.mark.parametrize("args,env,word", BAD,
                         ids=[" ".join(a) + ",".join("%s=%s" % kv for kv in e.items())
                              for a, e, _ in BAD])
def test_bad_values_exit_2_with_message(allsourced_bin, tmp_path, args, env, word):
    data = tmp_path / "data"
    base = ["--listen", "127.0.0.1:%d" % free_port(), "--data-dir", str(data)]
    rc, out, err = run(allsourced_bin, base + args, env=env, cwd=tmp_path)
    assert rc == 2, (rc, err)
    assert word in err.lower() or word in err, err
    assert not data.exists()  # bad arguments are refused before opening the store


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1", "127.0.0.1:99999",
                                    "256.0.0.1:8080", "127.0.0.1:port", "[::1:80"])
def test_bad_listen_address(allsourced_bin, tmp_path, listen):
    rc, out, err = run(allsourced_bin, ["--listen", listen, "--data-dir",
                                        str(tmp_path / "d")], cwd=tmp_path)
    assert rc != 0
    assert "listen" in err.lower() and listen in err, err
    rc, out, err = run(allsourced_bin, ["--data-dir", str(tmp_path / "d")],
                       env={"ALLSOURCE_LISTEN": listen}, cwd=tmp_path)
    assert rc != 0
    assert listen in err, err


def test_port_in_use(server, allsourced_bin, tmp_path):
    errf = tmp_path / "second.err"
    with open(errf, "wb") as f:
        p = subprocess.Popen([allsourced_bin, "--listen", "127.0.0.1:%d" % server.port,
                              "--data-dir", str(tmp_path / "other")],
                             stdout=subprocess.DEVNULL, stderr=f, env=clean_env())
    try:
        deadline = time.monotonic() + 30
        while p.poll() is None and time.monotonic() < deadline:
            if "listening on" in errf.read_text(errors="replace"):
                break  # it started: the bug
            time.sleep(0.02)
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    err = errf.read_text(errors="replace")
    assert "listening on" not in err, "a second server started on the same port:\n" + err
    assert p.returncode != 0
    assert "127.0.0.1:%d" % server.port in err and "in use" in err, err
    assert server.get("/health").status_code == 200


def test_data_dir_locked_by_running_server(server, allsourced_bin):
    server.ingest("e", "t", 1)
    rc, out, err = run(allsourced_bin, ["--listen", "127.0.0.1:%d" % free_port(),
                                        "--data-dir", server.data_dir])
    assert rc != 0
    assert "in use" in err, err
    assert server.ingest("e", "t", 2)["position"] == 2


def test_data_dir_is_a_file(allsourced_bin, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    rc, out, err = run(allsourced_bin, ["--listen", "127.0.0.1:%d" % free_port(),
                                        "--data-dir", str(f)])
    assert rc != 0
    assert str(f) in err or "data" in err.lower(), err


def test_default_data_dir_is_dot_data(server_factory, tmp_path):
    """Without --data-dir or ALLSOURCE_DATA_DIR the store is ./data."""
    s = server_factory(via_env=True, env={}, start=False)
    s.data_dir = None
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    port = free_port()
    p = subprocess.Popen([s.binary, "--listen", "127.0.0.1:%d" % port],
                         env=clean_env(), cwd=cwd, stderr=subprocess.PIPE)
    try:
        url = "http://127.0.0.1:%d" % port
        for _ in range(3000):
            try:
                if requests.get(url + "/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.02)
        r = requests.post(url + "/api/v1/events", json={"entity_id": "e", "event_type": "t",
                                                         "payload": 1}, timeout=60)
        assert r.status_code == 200
        assert (cwd / "data").is_dir() and os.listdir(cwd / "data")
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert not sanitizer_report(err.decode(errors="replace"))


# --- environment variables and flags ---------------------------------------

def test_env_listen_and_data_dir(server_factory):
    s = server_factory(via_env=True)
    s.ingest("e", "t", {"a": 1})
    assert os.listdir(s.data_dir)
    assert s.stats()["durability"] == "sync"  # the default
    s.restart()
    assert s.query()[0]["payload"] == {"a": 1}


@pytest.mark.parametrize("mode,name", [("none", "none"), ("sync", "sync"),
                                       ("interval=50", "interval"), ("interval", "interval")])
def test_env_durability(server_factory, mode, name):
    s = server_factory(via_env=True, env={"ALLSOURCE_DURABILITY": mode})
    assert s.stats()["durability"] == name
    assert s.get("/health").json()["durability"] == name


def test_env_max_body(server_factory):
    s = server_factory(env={"ALLSOURCE_MAX_BODY": "2048"})
    small = json.dumps({"entity_id": "e", "event_type": "t", "payload": "x" * 1900})
    big = json.dumps({"entity_id": "e", "event_type": "t", "payload": "x" * 3000})
    hj = {"Content-Type": "application/json"}
    assert s.post("/api/v1/events", data=small, headers=hj).status_code == 200
    r = s.post("/api/v1/events", data=big, headers=hj)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_env_threads_1_still_serves_concurrent_clients(server_factory):
    s = server_factory(env={"ALLSOURCE_THREADS": "1"})
    codes = []

    def w(i):
        for k in range(5):
            r = requests.post(s.url + "/api/v1/events", timeout=60,
                              json={"entity_id": "w%d" % i, "event_type": "t", "payload": k})
            codes.append(r.status_code)

    ts = [threading.Thread(target=w, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert codes == [200] * 40
    assert s.stats()["total_events"] == 40


def test_env_log_level_error_is_quiet(server_factory):
    s = server_factory(env={"ALLSOURCE_LOG_LEVEL": "error"})
    s.ingest("e", "t", 1)
    s.stop()
    assert s.stderr().strip() == ""


def test_flag_log_level_error_is_quiet(server_factory):
    s = server_factory(args=["--log-level", "error"])
    s.ingest("e", "t", 1)
    s.restart()
    s.stop()
    assert s.stderr(all_runs=True).strip() == ""


def test_segment_size_flag_accepted(server_factory):
    s = server_factory(args=["--segment-size", "65536"])
    s.batch([{"entity_id": "e", "event_type": "t", "payload": "x" * 2000}] * 100)
    s.restart()
    assert s.stats()["total_events"] == 100


def test_flags_beat_env(server_factory, tmp_path):
    env_dir = str(tmp_path / "env-dir")
    env_port = free_port()
    s = server_factory(args=["--threads", "2", "--max-body", "1048576",
                             "--log-level", "info"],
                       env={"ALLSOURCE_DURABILITY": "none",
                            "ALLSOURCE_LISTEN": "127.0.0.1:%d" % env_port,
                            "ALLSOURCE_DATA_DIR": env_dir,
                            "ALLSOURCE_THREADS": "not-a-number",
                            "ALLSOURCE_MAX_BODY": "1024",
                            "ALLSOURCE_LOG_LEVEL": "bogus"})
    # --durability sync (from the fixture) beat ALLSOURCE_DURABILITY=none
    assert s.stats()["durability"] == "sync"
    # --max-body beat ALLSOURCE_MAX_BODY
    assert s.ingest("e", "t", "x" * 5000)["position"] == 1
    # --data-dir beat ALLSOURCE_DATA_DIR
    assert os.listdir(s.data_dir) and not os.path.exists(env_dir)
    # --listen beat ALLSOURCE_LISTEN
    with pytest.raises(requests.ConnectionError):
        requests.get("http://127.0.0.1:%d/health" % env_port, timeout=5)
    assert "starting" in s.stderr()  # --log-level info beat the bogus variable


def test_flag_durability_beats_env_the_other_way(server_factory):
    s = server_factory(durability="none", env={"ALLSOURCE_DURABILITY": "sync"})
    assert s.stats()["durability"] == "none"


# --- log lines ---------------------------------------------------------------

def test_log_lines_start_recovery_shutdown(server):
    for i in range(5):
        server.ingest("e", "t", i)
    server.restart()
    first, second = server.stderr_paths[0], server.stderr_paths[1]
    text1 = open(first).read()
    text2 = open(second).read()
    for text, n in ((text1, 0), (text2, 5)):
        lines = text.splitlines()
        assert any("starting" in l for l in lines), text
        rec = [l for l in lines if "recover" in l.lower() and "starting" not in l]
        assert rec and re.search(r"\b%d events\b" % n, rec[0]), text
        assert any("listening" in l and str(server.port if text is text2 else "") in l
                   for l in lines), text
    assert "SIGTERM" in text1 and "shutting down" in text1 and "stopped" in text1
    assert all(l.startswith(("20", "19")) for l in text1.splitlines()), text1  # timestamped
    server.stop(signal.SIGINT)
    assert "SIGINT" in server.stderr()


# --- graceful shutdown ---------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown_exit_0_and_data_synced(server, sig):
    ids = [server.ingest("g", "t", i)["event_id"] for i in range(20)]
    assert server.stop(sig) == 0
    server.start()
    assert [e["id"] for e in server.query()] == ids


def _http_post_raw_start(port, body, split):
    """Sends a request head with Expect: 100-continue and waits for the
    100 Continue, which proves the server has taken the request in; then
    sends the first `split` bytes of the body."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = (b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    s.sendall(head)
    got = b""
    while b"\r\n\r\n" not in got:
        c = s.recv(1)
        assert c, got
        got += c
    assert got == b"HTTP/1.1 100 Continue\r\n\r\n", got
    s.sendall(body[:split])
    return s


def _refuses_connections(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return True
        c.close()
        time.sleep(0.02)
    return False


def _read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(65536)
        assert c, data
        data += c
    head, rest = data.split(b"\r\n\r\n", 1)
    m = re.search(rb"Content-Length: (\d+)", head, re.I)
    n = int(m.group(1))
    while len(rest) < n:
        c = s.recv(65536)
        assert c
        rest += c
    return int(head.split(b" ")[1]), json.loads(rest[:n])


def test_shutdown_waits_for_request_in_flight(server):
    server.ingest("x", "t", 0)
    body = json.dumps({"entity_id": "inflight", "event_type": "t",
                       "payload": {"slow": True}}).encode()
    sock = _http_post_raw_start(server.port, body, 10)
    server.send_signal(signal.SIGTERM)
    # it stops accepting new connections, but does not exit ...
    assert _refuses_connections(server.port), "still accepting after SIGTERM"
    assert server.proc.poll() is None, "exited with a request in flight\n" + server.stderr()
    # ... and the request in flight completes
    sock.sendall(body[10:])
    status, resp = _read_response(sock)
    sock.close()
    assert status == 200, resp
    assert resp["position"] == 2
    assert server.wait() == 0, server.stderr()
    server.check_sanitizers()
    server.session = None
    server.start()
    evs = server.query(entity_id="inflight")
    assert [e["id"] for e in evs] == [resp["event_id"]]


def test_shutdown_under_load_keeps_every_acknowledged_event(server):
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(t):
        sess = requests.Session()
        i = 0
        while not stop.is_set():
            eid = new_id()
            try:
                r = sess.post(server.url + "/api/v1/events", timeout=60,
                              json={"entity_id": "load-%d" % t, "event_type": "t",
                                    "payload": {"t": t, "i": i}, "id": eid})
            except requests.RequestException:
                break
            if r.status_code == 200:
                with lock:
                    acked[eid] = r.json()["position"]
            else:
                assert r.status_code == 503, r.text
                break
            i += 1
        sess.close()

    ts = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.send_signal(signal.SIGTERM)
    rc = server.wait()
    stop.set()
    for t in ts:
        t.join()
    assert rc == 0, server.stderr()
    server.check_sanitizers()
    server.session = None
    assert len(acked) >= 200
    server.start()
    evs = server.query()
    assert [e["position"] for e in evs] == list(range(1, len(evs) + 1))
    by_id = {e["id"]: e["position"] for e in evs}
    for eid, pos in acked.items():
        assert by_id.get(eid) == pos, eid


# --- durability modes ----------------------------------------------------

def test_durability_none_writes_no_files(server_factory):
    s = server_factory(durability="none")
    s.batch([{"entity_id": "e%d" % i, "event_type": "t", "payload": i} for i in range(100)])
    s.ingest("e", "t", 1)
    assert s.stats()["total_events"] == 101
    assert s.stats()["durability"] == "none"
    assert s.get("/health").json()["durability"] == "none"
    assert not os.path.exists(s.data_dir) or os.listdir(s.data_dir) == []
    s.restart()
    assert not os.path.exists(s.data_dir) or os.listdir(s.data_dir) == []
    assert s.stats()["total_events"] == 0
    assert s.query() == []


@pytest.mark.parametrize("mode", ["sync", "interval=20", "interval=1000"])
def test_durable_modes_persist_across_restart(server_factory, mode):
    s = server_factory(durability=mode)
    ids = [s.ingest("d", "t", {"i": i})["event_id"] for i in range(10)]
    ids += [e["event_id"] for e in s.batch([{"entity_id": "d", "event_type": "t",
                                              "payload": {"i": i}} for i in range(10, 20)])["events"]]
    st = s.stats()
    assert st["durability"] == mode.split("=")[0]
    s.restart()
    evs = s.query(entity_id="d")
    assert [e["id"] for e in evs] == ids
    assert [e["version"] for e in evs] == list(range(1, 21))
    assert s.ingest("d", "t", {}, expected_version=20)["position"] == 21


@pytest.mark.parametrize("mode", ["sync", "interval=1000"])
def test_acknowledged_events_survive_kill9(server_factory, mode):
    """Acknowledged after write(): a process crash cannot lose them in either
    mode (the OS still has the bytes); only power loss separates the two."""
    s = server_factory(durability=mode)
    ids = [s.ingest("k", "t", {"i": i})["event_id"] for i in range(25)]
    s.kill9()
    s.start()
    assert [e["id"] for e in s.query()] == ids
