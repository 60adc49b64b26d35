"""The registry is durable: every acknowledged change (registrations,
deletes, compatibility and enforcement settings, global config) survives
kill -9, with the same ids, numbers and schema bytes, and enforcement works
right after the restart.  Registrations racing a kill -9 are all-or-nothing:
each acknowledged one is there after the restart."""

import threading

import requests

from schemautil import JSON, OBJ_A_INT, OBJ_A_NUM, S, config, error, register


def snapshot(server):
    """Everything the registry shows, except the in-memory counters."""
    out = {"config": {k: v for k, v in config(server).items() if k != "stats"}}
    for subject in server.get(S).json()["subjects"]:
        vs = server.get("%s/%s/versions" % (S, subject)).json()["versions"]
        out[subject] = []
        for v in vs:
            text = server.get("%s/%s/versions/%d" % (S, subject, v)).text
            out[subject].append(text[:text.index(',"stats":')])
    return out


def test_register_kill9_restart_still_there(server):
    raw = '{"subject":"t","schema":{ "type" : "object", "default": 1.50 },"description":"d"}'
    v1 = server.post(S, data=raw, headers=JSON).json()
    register(server, "t", {"type": "object", "default": 2})
    register(server, "t", {"type": "object", "default": 3})
    server.request("DELETE", S + "/t/versions/2")
    register(server, "u", OBJ_A_INT)
    server.request("PUT", S + "/u/compatibility", json={"compatibility": "FULL"})
    server.request("PUT", S + "/u/enforcement", json={"mode": "warn"})
    register(server, "gone", {})
    server.request("DELETE", S + "/gone")
    config(server, compatibility="FORWARD", enforcement="off")
    register(server, "e", {"type": "integer"})
    server.request("PUT", S + "/e/enforcement", json={"mode": "enforce"})
    before = snapshot(server)
    server.kill9()
    server.start()
    assert snapshot(server) == before
    b = server.get(S + "/t/versions/1").json()
    assert b["id"] == v1["schema_id"] and b["created_at"] == v1["created_at"]
    assert '{ "type" : "object", "default": 1.50 }' in server.get(S + "/t/versions/1").text
    assert server.get(S + "/t/versions").json()["versions"] == [1, 3]
    u = server.get(S + "/u").json()
    assert (u["compatibility"], u["enforcement"]) == ("FULL", "warn")
    # enforcement right after the restart
    error(server.post_event({"entity_id": "x", "event_type": "e", "payload": "s"}), 400,
          "schema_validation_failed")
    assert server.post_event({"entity_id": "x", "event_type": "u", "payload": {}}).status_code == 200
    assert server.post_event({"entity_id": "x", "event_type": "t", "payload": 1}).status_code == 200
    # numbers continue after deleted ones, compatibility mode survived
    assert register(server, "gone", {"type": "string"})["version"] == 2
    error(server.post(S, json={"subject": "u", "schema": OBJ_A_NUM}), 409, "incompatible_schema")
    # and once more, with a graceful restart
    after = snapshot(server)
    server.restart()
    assert snapshot(server) == after


def test_registrations_racing_kill9(server):
    """Three threads register versions (mode NONE) until the server is
    killed; every acknowledged version is there after the restart, with
    the schema it was acknowledged with, and numbers stay gap-free."""
    config(server, compatibility="NONE")
    acked = {}  # (subject, version) -> const value
    lock = threading.Lock()
    stop = threading.Event()

    def worker(t):
        sess = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = sess.post(server.url + S, json={"subject": "r%d" % t,
                                                    "schema": {"const": i}}, timeout=10)
            except requests.RequestException:
                return
            if r.status_code != 200:
                return
            with lock:
                acked[("r%d" % t, r.json()["version"])] = i

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(3)]
    for t in threads:
        t.start()
    deadline = threading.Event()
    deadline.wait(1.0)
    server.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 10
    server.start()
    for t in range(3):
        vs = server.get("%s/r%d/versions" % (S, t)).json()["versions"]
        assert vs == list(range(1, len(vs) + 1))
        mine = [v for (s, v) in acked if s == "r%d" % t]
        assert set(mine) <= set(vs)
    for (s, v), i in acked.items():
        assert server.get("%s/%s/versions/%d" % (S, s, v)).json()["schema"] == {"const": i}
