"""The REST API on ``chalice local``'s server, made faithful to API Gateway.

It runs in the stack's process, beside the event sources, so fault injection
and request counting see every AWS call the app makes.

``chalice local`` keeps ``app.current_request`` in one attribute shared by its
request threads; on Lambda each request has its container to itself.
``thread_local_requests`` gives each thread its own, as Lambda effectively does.

API Gateway answers 401 when a token authorizer raises ``Exception("Unauthorized")``
(and 500 for any other exception); ``chalice local`` and ``chalice.test`` let the
exception escape as a 500. ``patch_authorizer`` gives both Gateway's behaviour,
so the app's authorizer is written once, for AWS.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

_patched = False
_local = threading.local()
BACKLOG = 1024  # listen queue of the API server (socketserver's default: 5)


def thread_local_requests() -> None:
    from chalice import app as chalice_app

    def attr(name: str) -> property:
        def get(self: Any) -> Any:
            return getattr(_local, f"{name}-{id(self)}", None)

        def set_(self: Any, value: Any) -> None:
            setattr(_local, f"{name}-{id(self)}", value)

        return property(get, set_)

    # A data descriptor on the class wins over the instance attribute that
    # Chalice assigns in __init__ and on every request.
    chalice_app.Chalice.current_request = attr("current_request")  # type: ignore[assignment]
    chalice_app.Chalice.lambda_context = attr("lambda_context")  # type: ignore[assignment]


def patch_authorizer() -> None:
    global _patched
    if _patched:
        return
    from chalice import local

    original = local.LocalGatewayAuthorizer.authorize

    def authorize(self: Any, raw_path: str, event: Any, context: Any) -> Any:
        try:
            return original(self, raw_path, event, context)
        except local.LocalGatewayException:
            raise
        except Exception as exc:
            headers = {"x-amzn-RequestId": context.aws_request_id}
            if str(exc) == "Unauthorized":
                raise local.NotAuthorizedError(
                    {**headers, "x-amzn-ErrorType": "UnauthorizedException"},
                    b'{"message":"Unauthorized"}',
                ) from None
            logging.getLogger("devstack.api").exception("authorizer failed")
            raise local.InvalidAuthorizerError(
                {**headers, "x-amzn-ErrorType": "AuthorizerConfigurationException"},
                b'{"message":null}',
            ) from None

    local.LocalGatewayAuthorizer.authorize = authorize  # type: ignore[method-assign,assignment]
    _patched = True


def load_app(project_dir: Path, stage: str) -> Any:
    """Import the Chalice app as ``chalice local`` does: the stage's
    environment variables from .chalice/config.json are applied first."""
    from chalice.cli.factory import CLIFactory

    factory = CLIFactory(project_dir=str(project_dir), environ=os.environ)
    return factory.create_config_obj(chalice_stage_name=stage)


def start_server(config: Any, host: str, port: int) -> Any:
    """Serve the app's routes in a background thread; returns the server."""
    from chalice import local
    from chalice.deploy.validate import validate_routes

    validate_routes(config.chalice_app.routes)
    # http.server writes headers and body in separate segments; with Nagle's
    # algorithm and delayed ACKs every keep-alive response then waits ~40 ms.
    local.ChaliceRequestHandler.disable_nagle_algorithm = True

    class Server(local.ThreadedHTTPServer):
        # chalice local's server keeps socketserver's listen backlog of 5: a
        # burst of new connections gets some refused or reset before they are
        # accepted. One thread per connection (daemons: they never hold up exit).
        request_queue_size = BACKLOG
        daemon_threads = True

    # As chalice.local.create_local_server, with our server class (that
    # function has no parameter for it): the app gets chalice local's mixin.
    app = config.chalice_app
    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app.__class__)
    app.__class__ = local.CustomLocalChalice
    server = local.LocalDevServer(app, config, host, port, server_cls=Server)
    threading.Thread(target=server.server.serve_forever, name="api", daemon=True).start()
    return server.server
