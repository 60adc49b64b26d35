"""Graceful shutdown (SIGTERM) while writers append, WebSocket subscribers
read and connect, and NDJSON subscriptions park and wake: exit status 0,
close frames 1001, every acknowledged event still there after the
restart.  Requests arriving on keep-alive connections after the stop began
get 503 and never suspend; the stop waits for every suspended connection
(libmicrohttpd aborts otherwise)."""

import signal
import threading
import time

import requests

from streamutil import Closed, WsClient, Writers, check_stop, scaled


def _connector(server, stop, errors):
    """Opens WebSockets and NDJSON subscriptions in a loop (some of them
    land while the server is stopping)."""
    while not stop.is_set():
        try:
            ws = WsClient(server, timeout=5)
            ws.ws.sock.settimeout(5)
            r = requests.get(server.url + "/api/v1/events/subscribe",
                             params={"heartbeat_ms": 100}, stream=True, timeout=5)
            r.close()
            ws.close()
        except Exception:  # noqa: B902 - refused/reset while stopping is fine
            time.sleep(0.005)


def test_sigterm_under_writes_and_subscriptions(server):
    rounds = scaled(8, 3)
    acked_all = []
    for rnd in range(rounds):
        w = Writers(server, threads=2, batch=(1, 10), prefix="s%d" % rnd).start()
        readers = [WsClient(server, from_position=1) for _ in range(3)]
        # NDJSON subscriptions that park and wake constantly (every commit
        # and every 100 ms)
        parked = [requests.get(server.url + "/api/v1/events/subscribe",
                               params={"heartbeat_ms": 100}, stream=True, timeout=30)
                  for _ in range(20)]
        stop = threading.Event()
        errors = []
        conn = threading.Thread(target=_connector, args=(server, stop, errors))
        conn.start()
        w.wait_count(scaled(300, 30))
        for r in readers:
            r.recv_events(50)
        rc = server.stop(signal.SIGTERM, check=False)
        stop.set()
        conn.join(30)
        acked_all += w.stop(check=False)
        check_stop(server, rc)
        for r in readers:
            try:
                while True:
                    r.recv_event(10)
            except Closed as c:
                assert c.code == 1001, (c.code, c.reason)
        for p in parked:
            p.close()
        server.start()
        evs = server.query()
        assert [e["position"] for e in evs] == list(range(1, len(evs) + 1))
        assert set(acked_all) <= {e["position"] for e in evs}
