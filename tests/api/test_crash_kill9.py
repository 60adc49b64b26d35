"""kill -9 under concurrent load, several rounds on one data directory.

16 writer threads hammer the server with single events and small batches
(JSON array, {"events": [...]} and NDJSON), each event with a client id and
the exact expected_version of its entity.  After ~1-2 s the server is killed
with SIGKILL, restarted on the same data directory, and the store must hold:

* every acknowledged event (2xx received) exactly once, at its acknowledged
  position and version, with identical payload bytes;
* nothing that was never sent, nothing that was refused;
* positions 1..N gap-free, per-entity versions 1..n in position order;
* every batch all-or-nothing, at consecutive positions (an unacknowledged
  batch may be present, but only whole).

The writers keep going in the next round from the versions recovered, so
expected_version is exercised across crashes too.  Small WAL segments make
the engine seal segments while it is being killed.

Knobs: ALLSOURCE_API_CRASH_ROUNDS (default 3), ALLSOURCE_API_CRASH_THREADS
(default 16), ALLSOURCE_API_LOAD (scales the by-id verification sample),
ALLSOURCE_API_SEED (the random seed).
"""

import json
import os
import random
import threading
import time

import requests

from conftest import load_scale
from apiutil import utf8

ROUNDS = max(1, int(os.environ.get("ALLSOURCE_API_CRASH_ROUNDS", "3")))
THREADS = max(2, int(os.environ.get("ALLSOURCE_API_CRASH_THREADS", "16")))
ENTITIES_PER_THREAD = 3


class Model:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = {}       # id -> (entity, type, payload_raw, batch_key)
        self.batches = {}    # batch_key -> [ids]
        self.acked = {}      # id -> (position, version)
        self.acked_batches = set()
        self.refused = set()  # ids of requests answered with an error status
        self.unexpected = []  # (status, body) of errors that must not happen


def payload_for(rng, t, i):
    pad = "p" * rng.choice([0, 0, 0, 16, 200, 1500, 4000])
    # whitespace, number spellings, big integers and escapes must survive
    return ('{"t":%d,  "i":%d, "f":0.1%d ,"big":12345678901234567890%03d,'
            '"s":"caf\\u00e9 é \\"q\\"","pad":"%s" }' % (t, i, i % 10, i % 1000, pad))


def event_text(ev):
    return ('{"entity_id":"%s","event_type":"%s","payload":%s,"id":"%s","expected_version":%d}'
            % (ev["entity_id"], ev["event_type"], ev["payload"], ev["id"], ev["expected"]))


class Writer(threading.Thread):
    def __init__(self, url, t, model, versions, stop, seed):
        super().__init__(daemon=True)
        self.url = url
        self.t = t
        self.model = model
        self.versions = versions  # entity -> version known to be stored
        self.stop_ev = stop
        self.rng = random.Random(seed)
        self.i = 0

    def run(self):
        sess = requests.Session()
        try:
            while not self.stop_ev.is_set():
                if not self.one_request(sess):
                    return
        finally:
            sess.close()

    def one_request(self, sess):
        rng = self.rng
        n = 1 if rng.random() < 0.55 else rng.randint(2, 5)
        evs = []
        local = dict(self.versions)
        for _ in range(n):
            ent = "t%02d-e%d" % (self.t, rng.randrange(ENTITIES_PER_THREAD))
            eid = "%08x-%04x-4%03x-8%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                                  rng.getrandbits(12), rng.getrandbits(12),
                                                  rng.getrandbits(48))
            evs.append({"entity_id": ent, "event_type": "crash.%s" % ("one" if n == 1 else "batch"),
                        "payload": payload_for(rng, self.t, self.i), "id": eid,
                        "expected": local.get(ent, 0)})
            local[ent] = local.get(ent, 0) + 1
            self.i += 1
        key = evs[0]["id"]
        with self.model.lock:
            for e in evs:
                self.model.sent[e["id"]] = (e["entity_id"], e["event_type"], e["payload"], key)
            self.model.batches[key] = [e["id"] for e in evs]
        texts = [event_text(e) for e in evs]
        if n == 1 and rng.random() < 0.8:
            path, ctype, body = "/api/v1/events", "application/json", texts[0]
        else:
            form = rng.randrange(3)
            path = "/api/v1/events/batch"
            if form == 0:
                ctype, body = "application/json", "[" + ",".join(texts) + "]"
            elif form == 1:
                ctype, body = "application/json", '{"events":[' + ",\n".join(texts) + "]}"
            else:
                ctype, body = "application/x-ndjson", "\n".join(texts) + "\n"
        try:
            r = sess.post(self.url + path, data=body.encode(), timeout=120,
                          headers={"Content-Type": ctype})
        except requests.RequestException:
            return False  # outcome unknown: the server is gone
        if r.status_code != 200:
            with self.model.lock:
                self.model.refused.update(e["id"] for e in evs)
                if r.status_code != 503:
                    self.model.unexpected.append((r.status_code, r.text[:300]))
            return r.status_code == 503
        res = r.json()
        results = [res] if path == "/api/v1/events" else res["events"]
        with self.model.lock:
            if len(results) != len(evs):
                self.model.unexpected.append(("result count", r.text[:300]))
            for e, x in zip(evs, results):
                self.model.acked[e["id"]] = (x["position"], x["version"])
                if x["event_id"] != e["id"] or x["duplicate"] is not False:
                    self.model.unexpected.append(("result", e["id"], x))
            self.model.acked_batches.add(key)
        self.versions.update(local)
        return True


def read_store(server):
    """All events as (id, entity, type, payload_raw, position, version)."""
    r = server.get("/api/v1/events/query", headers={"Accept": "application/x-ndjson"})
    assert r.status_code == 200
    out = []
    for line in utf8(r).split("\n"):
        if not line:
            continue
        ev = json.loads(line)
        start = line.index('"payload":') + len('"payload":')
        end = line.rindex(',"timestamp":"')
        out.append((ev["id"], ev["entity_id"], ev["event_type"], line[start:end],
                    ev["position"], ev["version"]))
    return out


def verify(server, model, sample_rng):
    store = read_store(server)
    n = len(store)
    st = server.stats()
    assert st["total_events"] == n and st["last_position"] == n, st
    assert [s[4] for s in store] == list(range(1, n + 1)), "positions are not 1..N gap-free"
    by_id = {}
    for s in store:
        assert s[0] not in by_id, "event %s stored twice" % s[0]
        by_id[s[0]] = s
    # nothing unknown, content identical to what was sent
    for eid, s in by_id.items():
        assert eid in model.sent, "unknown event %s in the store" % eid
        ent, typ, payload, _ = model.sent[eid]
        assert (s[1], s[2], s[3]) == (ent, typ, payload), (eid, s, model.sent[eid])
        assert eid not in model.refused, "refused event %s was stored" % eid
    # every acknowledged event, where it was acknowledged
    missing = [eid for eid in model.acked if eid not in by_id]
    assert not missing, "%d acknowledged events lost, e.g. %s" % (len(missing), missing[:5])
    for eid, (pos, ver) in model.acked.items():
        assert (by_id[eid][4], by_id[eid][5]) == (pos, ver), (eid, by_id[eid], pos, ver)
    # batches: all or nothing, consecutive positions in order
    for key, ids in model.batches.items():
        present = [by_id[i][4] for i in ids if i in by_id]
        assert len(present) in (0, len(ids)), "batch %s is partly stored" % key
        if present:
            assert present == list(range(present[0], present[0] + len(ids))), key
        if key in model.acked_batches:
            assert len(present) == len(ids)
    # per-entity versions 1..n in position order
    per = {}
    for s in store:
        per.setdefault(s[1], []).append(s[5])
    for ent, vs in per.items():
        assert vs == list(range(1, len(vs) + 1)), (ent, vs[:20])
    # by id, for a sample
    sample = sample_rng.sample(sorted(model.acked), min(len(model.acked),
                                                        int(150 * load_scale())))
    for eid in sample:
        r = server.get("/api/v1/events/" + eid)
        assert r.status_code == 200
        assert r.json()["position"] == model.acked[eid][0]
    versions = {ent: len(vs) for ent, vs in per.items()}
    return n, versions


def test_kill9_under_concurrent_load(server_factory):
    # small WAL segments: sealing and rotation happen while being killed
    server = server_factory(args=["--segment-size", "131072"])
    model = Model()
    rng = random.Random(int(os.environ.get("ALLSOURCE_API_SEED", "20251020")))
    versions_by_thread = [dict() for _ in range(THREADS)]
    totals = []
    for rnd in range(ROUNDS):
        stop = threading.Event()
        writers = [Writer(server.url, t, model, versions_by_thread[t], stop,
                          rng.getrandbits(32)) for t in range(THREADS)]
        acked_before = len(model.acked)
        for w in writers:
            w.start()
        kill_after = 1.0 + rng.random()  # ~1-2 s of load
        t0 = time.monotonic()
        while time.monotonic() - t0 < kill_after or \
                (len(model.acked) - acked_before < 20 and time.monotonic() - t0 < 60):
            time.sleep(0.02)
        server.kill9()
        stop.set()
        for w in writers:
            w.join(timeout=180)
            assert not w.is_alive(), "writer thread stuck"
        assert model.unexpected == [], model.unexpected[:5]
        server.start()
        n, versions = verify(server, model, rng)
        assert n >= len(model.acked)
        totals.append((n, len(model.acked)))
        # writers continue from what the store holds now
        for t in range(THREADS):
            for k in range(ENTITIES_PER_THREAD):
                ent = "t%02d-e%d" % (t, k)
                versions_by_thread[t][ent] = versions.get(ent, 0)
    # a crashed-and-recovered store also survives a clean restart, and takes
    # new appends at the next position with the recovered versions
    server.restart()
    n, versions = verify(server, model, rng)
    assert n == totals[-1][0]
    ent = "t00-e0"
    r = server.ingest(ent, "after.crash", {"ok": 1}, expected_version=versions.get(ent, 0))
    assert r["position"] == n + 1 and r["version"] == versions.get(ent, 0) + 1
    print("kill -9 rounds (stored, acknowledged):", totals)
