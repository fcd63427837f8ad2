"""moto's server with every request serialized.

moto is not thread-safe: two concurrent conditional writes on one DynamoDB item
can both pass their condition. AWS applies each item write atomically, so the
local stack must too, or an oversell test proves nothing. One lock around the
whole WSGI call (body included) gives that; connections are still accepted
concurrently, so a slow client cannot stall the listener.

Besides moto's AWS API it answers devstack's own ``POST /_devstack/dynamodb/ttl``
(``devstack.ttl``: DynamoDB's TTL deletions, at the stack's clock), under the
same lock, and, outside it, ``GET /_devstack/changes`` (``devstack.changes``:
the long poll that wakes the stack's pollers when a write made them work).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

WSGIApp = Any


def serialized(app: WSGIApp) -> WSGIApp:
    lock = threading.Lock()

    def call(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with lock:
            result = app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return [body]

    return call


def create_server(host: str, port: int) -> BaseWSGIServer:
    # Imported here: moto is heavy and only this process needs it.
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    from devstack.capacity import count_capacity, with_capacity_route
    from devstack.changes import Feed, with_change_feed
    from devstack.moto_patches import (
        count_rule_deliveries,
        patch_replays,
        patch_transactions,
        with_rules_route,
    )
    from devstack.sqs_fifo import patch_fifo
    from devstack.sqs_moves import patch_message_moves
    from devstack.ttl import with_ttl_route

    patch_transactions()
    patch_replays()
    count_rule_deliveries()
    count_capacity()
    patch_message_moves()
    patch_fifo()  # FIFO group order and deduplication as SQS keeps them
    # devstack's own routes (TTL, rule counts, DynamoDB capacity) sit inside
    # the lock, in front of moto's dispatcher.
    app = serialized(
        with_capacity_route(
            with_rules_route(with_ttl_route(DomainDispatcherApplication(create_backend_app)))
        )
    )
    # Outside the lock: what each write made work for, and the long poll
    # that tells the stack (devstack.changes).
    app = with_change_feed(app, Feed())
    # Headers and body leave in separate writes: without TCP_NODELAY each
    # keep-alive response can wait on a delayed ACK.
    MotoRequestHandler.disable_nagle_algorithm = True
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def serve(host: str, port: int) -> None:
    server = create_server(host, port)
    # The parent reads this line to learn the port (port 0 picks a free one).
    print(f"emulator listening on {host}:{server.server_port}", flush=True)
    server.serve_forever()
