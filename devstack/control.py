"""The stack's control endpoint: drain, status, clock and faults, traces and
metrics, over HTTP on loopback, for tests and tools in other processes.

``GET /traces/{id}``: every kept handler invocation about ``id`` (a log record
attribute equal to it, or the event payload / request path and headers /
response headers and body containing it), in the order they started; ``GET /metrics`` and
``POST /metrics/reset``: the EMF metrics the app printed (``devstack.traces``)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from devstack.eventsources import DrainTimeout, Emulator
from devstack.faults import AwsCalls

log = logging.getLogger("devstack.control")


class Server(ThreadingHTTPServer):
    """One thread per connection, and a listen backlog for bursts: with
    socketserver's default of 5, a test opening dozens of connections at
    once sees some refused, reset or stalled before the server accepts them."""

    request_queue_size = 1024
    daemon_threads = True


def _names(body: dict[str, Any], key: str) -> list[str] | None:
    """``null`` or absent: unchanged; a list of strings: the new targets."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return value


Reply = tuple[int, Any]


def _drain(emulator: Emulator, calls: AwsCalls, body: dict[str, Any]) -> Reply:
    try:
        return 200, {"idle": True, **emulator.drain(float(body.get("timeout", 30)))}
    except DrainTimeout as exc:
        return 504, {"idle": False, "pending": exc.pending}


def _advance(emulator: Emulator, calls: AwsCalls, body: dict[str, Any]) -> Reply:
    emulator.rt.clock.advance(float(body.get("seconds", 0)))
    emulator.kick()
    return 200, {"clock": emulator.rt.clock.now().isoformat()}


def _faults(emulator: Emulator, calls: AwsCalls, body: dict[str, Any]) -> Reply:
    try:
        services = _names(body, "awsErrorServices")
        operations = _names(body, "awsErrorOperations")
        rate = float(body["awsErrorRate"]) if "awsErrorRate" in body else None
    except (TypeError, ValueError) as exc:
        return 400, {"message": str(exc)}
    faults = emulator.rt.faults
    if "duplicateDeliveries" in body:
        faults.duplicate_deliveries = bool(body["duplicateDeliveries"])
    calls.set_faults(rate, services, operations)
    return 200, {**faults.__dict__, **calls.faults()}


def _reset_calls(emulator: Emulator, calls: AwsCalls, body: dict[str, Any]) -> Reply:
    calls.reset()
    return 200, calls.snapshot()


def _reset_metrics(emulator: Emulator, calls: AwsCalls, body: dict[str, Any]) -> Reply:
    emulator.rt.recorder.metrics.reset()
    return 200, emulator.rt.recorder.metrics.snapshot()


_POSTS = {
    "/drain": _drain,
    "/clock/advance": _advance,
    "/faults": _faults,
    "/aws-calls/reset": _reset_calls,
    "/metrics/reset": _reset_metrics,
}

TRACES = "/traces/"


def _get(emulator: Emulator, calls: AwsCalls, target: str) -> Reply:
    path = urlsplit(target).path
    if path.startswith(TRACES):
        return 200, {"items": emulator.rt.recorder.select(unquote(path[len(TRACES) :]))}
    if path == "/metrics":
        return 200, emulator.rt.recorder.metrics.snapshot()
    if path == "/aws-calls":
        return 200, calls.snapshot()
    if path.startswith("/deliveries"):
        return 200, {"items": [d.as_dict() for d in emulator.rt.deliveries]}
    return 404, {"message": "not found"}


def full_status(emulator: Emulator, parts: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """``GET /status``: the emulator's, and each of ``parts`` by name (what a
    stack feature adds: devstack.reload); also the API's ``/_devstack/status``."""
    return {**emulator.status(), **{name: part() for name, part in parts.items()}}


def serve(
    emulator: Emulator,
    calls: AwsCalls,
    host: str,
    port: int,
    status: dict[str, Callable[[], Any]] | None = None,
    posts: dict[str, Callable[[dict[str, Any]], Reply]] | None = None,
) -> ThreadingHTTPServer:
    """``status``: more parts of ``GET /status`` by name, ``posts``: more POST
    routes taking the JSON body (what a stack feature adds: devstack.reload)."""
    extra_status, extra_posts = status or {}, posts or {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            value = json.loads(raw or b"{}")
            return value if isinstance(value, dict) else {}

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/status":
                self._reply(200, full_status(emulator, extra_status))
                return
            self._reply(*_get(emulator, calls, self.path))

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError:
                self._reply(400, {"message": "body must be JSON"})
                return
            path = urlsplit(self.path).path
            if path in extra_posts:
                self._reply(*extra_posts[path](body))
                return
            route = _POSTS.get(path)
            if route is None:
                self._reply(404, {"message": "not found"})
                return
            self._reply(*route(emulator, calls, body))

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server
