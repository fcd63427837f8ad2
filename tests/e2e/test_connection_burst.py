"""A burst of new connections is accepted, not refused or reset.

With socketserver's default listen backlog of 5, the API (chalice local's
server) and the control endpoint reset a third of 60 simultaneous new
connections. Here 200 threads each open a fresh TCP connection at the same
moment and make one request.
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

import pytest

from devstack.testing import RunningStack

CLIENTS = 200


def burst(base_url: str, path: str) -> tuple[list[int], list[str]]:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    start = threading.Barrier(CLIENTS)
    lock = threading.Lock()
    statuses: list[int] = []
    errors: list[str] = []

    def one() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            start.wait(timeout=30)
            conn.request("GET", path, headers={"Connection": "close"})
            response = conn.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=one) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    return statuses, errors


@pytest.mark.parametrize(
    "endpoint,path",
    [("api", "/health"), ("control", "/aws-calls")],
)
def test_200_simultaneous_new_connections_are_all_served(
    app_stack: RunningStack, endpoint: str, path: str
) -> None:
    base = app_stack.api_url if endpoint == "api" else app_stack.control.url
    statuses, errors = burst(base, path)
    assert errors == [], f"{len(errors)} of {CLIENTS} failed, e.g. {sorted(set(errors))[:3]}"
    assert statuses == [200] * CLIENTS
