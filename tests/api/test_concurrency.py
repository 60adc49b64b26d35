"""Reads during writes: every query sees a gap-free prefix of the log (the
committed position when it started), entity state is internally consistent,
and nothing a reader saw ever disappears."""

import threading

import requests

from conftest import load_scale


def test_readers_see_consistent_prefixes_while_writers_append(server):
    stop = threading.Event()
    problems = []
    acked = []
    lock = threading.Lock()
    writes = max(40, int(150 * load_scale()))

    def writer(t):
        sess = requests.Session()
        for i in range(writes):
            if i % 5 == 4:
                r = sess.post(server.url + "/api/v1/events/batch", timeout=120, json=[
                    {"entity_id": "w%d" % t, "event_type": "c.b", "payload": {"i": i, "k": k}}
                    for k in range(3)])
            else:
                r = sess.post(server.url + "/api/v1/events", timeout=120, json={
                    "entity_id": "w%d" % t, "event_type": "c.s", "payload": {"i": i}})
            if r.status_code != 200:
                problems.append(("write", r.status_code, r.text[:200]))
                return
            with lock:
                acked.append(r.json())
        sess.close()

    def reader():
        sess = requests.Session()
        seen = 0
        while not stop.is_set():
            r = sess.get(server.url + "/api/v1/events/query", timeout=120)
            evs = r.json()["events"]
            pos = [e["position"] for e in evs]
            if pos != list(range(1, len(pos) + 1)):
                problems.append(("gap", pos[:10], len(pos)))
            if len(pos) < seen:
                problems.append(("shrank", seen, len(pos)))
            seen = len(pos)
            per = {}
            for e in evs:
                per.setdefault(e["entity_id"], []).append(e["version"])
            for ent, vs in per.items():
                if vs != list(range(1, len(vs) + 1)):
                    problems.append(("versions", ent, vs[:10]))
            r = sess.get(server.url + "/api/v1/entities/w0/state", timeout=120)
            if r.status_code == 200:
                st = r.json()
                if not (st["event_count"] == st["version"] == len(st["history"])):
                    problems.append(("state", st["event_count"], st["version"],
                                     len(st["history"])))
                if [h["version"] for h in st["history"]] != list(range(1, st["version"] + 1)):
                    problems.append(("history", st["version"]))
            elif r.status_code != 404:
                problems.append(("state status", r.status_code))
        sess.close()

    writers = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert problems == [], problems[:10]
    total = sum(1 if "event_id" in a else a["count"] for a in acked)
    assert server.stats()["total_events"] == total == 4 * (writes + 2 * (writes // 5))
    evs = server.query()
    assert [e["position"] for e in evs] == list(range(1, total + 1))
