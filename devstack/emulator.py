"""moto's server with every request serialized.

moto is not thread-safe: two concurrent conditional writes on one DynamoDB item
can both pass their condition. AWS applies each item write atomically, so the
local stack must too, or an oversell test proves nothing. One lock around the
whole WSGI call (body included) gives that; connections are still accepted
concurrently, so a slow client cannot stall the listener.

Besides moto's AWS API it answers devstack's own ``POST /_devstack/dynamodb/ttl``
(``devstack.ttl``: DynamoDB's TTL deletions, at the stack's clock) and ``GET
/_devstack/backlog`` (every queue's messages and stream's head, what a drain
reads), under the same lock, and, outside it, ``GET /_devstack/changes``
(``devstack.changes``: the long poll that wakes the stack's pollers when a
write made them work). Connections stay open between requests
(``devstack.keepalive``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from devstack.persist import Journal
from devstack.wsgi import call as wsgi_call

WSGIApp = Any


def serialized(app: WSGIApp, journal: Journal | None = None) -> WSGIApp:
    """``app`` under one lock; with a ``journal``, each request that changed
    state also goes to its write-ahead log (``devstack.persist``)."""
    lock = journal.lock if journal is not None else threading.Lock()

    def call(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with lock:
            if journal is not None:
                return [journal.call(environ, start_response)]
            return [wsgi_call(app, environ, start_response)]

    return call


def create_server(host: str, port: int, journal: Journal | None = None) -> BaseWSGIServer:
    """The emulator's server; with a ``journal``, every change is logged in
    its folder (``serve`` restores the folder's state before serving)."""
    # Imported here: moto is heavy and only this process needs it.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from devstack.capacity import count_capacity, with_capacity_route
    from devstack.changes import Feed, track_work, with_change_feed
    from devstack.keepalive import KeepAliveRequestHandler
    from devstack.moto_patches import (
        count_rule_deliveries,
        patch_item_size_checks,
        patch_replays,
        patch_transactions,
        speed_up_dispatch,
        speed_up_sqs_and_rules,
        with_backlog_route,
        with_rules_route,
    )
    from devstack.sqs_fifo import patch_fifo
    from devstack.sqs_moves import patch_message_moves
    from devstack.ttl import with_ttl_route

    patch_transactions()
    speed_up_dispatch()
    patch_item_size_checks()
    speed_up_sqs_and_rules()
    patch_replays()
    count_rule_deliveries()
    count_capacity()
    patch_message_moves()
    patch_fifo()  # FIFO group order and deduplication as SQS keeps them
    track_work()  # which queue or stream each request put work in (wake-ups)
    # devstack's own routes (TTL, rule counts, queue backlogs, DynamoDB capacity) sit inside
    # the lock, in front of moto's dispatcher.
    inner = with_capacity_route(
        with_backlog_route(
            with_rules_route(with_ttl_route(DomainDispatcherApplication(create_backend_app)))
        )
    )
    if journal is not None:
        journal.bind(inner)
    app = serialized(inner, journal)
    # Outside the lock: what each write made work for, and the long poll
    # that tells the stack (devstack.changes).
    app = with_change_feed(app, Feed())
    # Connections kept open between requests (devstack.keepalive). Headers and
    # body leave in separate writes: without TCP_NODELAY each keep-alive
    # response could wait on a delayed ACK.
    KeepAliveRequestHandler.disable_nagle_algorithm = True
    return make_server(host, port, app, threaded=True, request_handler=KeepAliveRequestHandler)


def serve(host: str, port: int, state: Path | None = None, fsync: bool = False) -> None:
    """Serve until SIGTERM; with ``state``, the emulator's state is kept in
    that folder (and a SIGTERM ends with a snapshot)."""
    journal = Journal(state, fsync=fsync) if state is not None else None
    server = create_server(host, port, journal)

    def stop(*_: Any) -> None:
        # serve_forever's loop ends; the snapshot is taken below, after it.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    # The parent reads this line to learn the port (port 0 picks a free one).
    print(f"emulator listening on {host}:{server.server_port}", flush=True)
    if journal is not None:
        # After the line: the stack starts its own work (importing the app)
        # meanwhile; its first request waits in the listen queue until the
        # state is back and the server serves.
        restored = journal.restore()
        if restored["snapshot"] or restored["replayed"]:
            print(
                "emulator state restored: snapshot={snapshot} backends={backends} "
                "replayed={replayed} diverged={diverged} in {seconds}s".format(**restored),
                flush=True,
            )
        journal.start_idle_snapshots()
    try:
        server.serve_forever()
    finally:
        if journal is not None:
            journal.close()
