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

With a ``devstack.traces.Recorder``, each request is traced as an invocation
of the ``api`` handler (kind ``http``, outcome its status code): the log
records and EMF lines of the thread that serves it, from the request line
until its response is sent (authorizer included, as API Gateway's one request).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from devstack.traces import MAX_TEXT, Recorder

_patched = False
_local = threading.local()
BACKLOG = 1024  # listen queue of the API server (socketserver's default: 5)
HTTP_HANDLER = "api"  # the traces' name of the REST API's function


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
            # As Lambda's runtime reports it: through the app's log handlers.
            logging.getLogger("lambda.runtime").exception("authorizer failed")
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


# Never kept, not even to search ids in.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-amz-security-token"}
)


def _header_text(headers: Any) -> str:
    """``name: value`` lines of the headers that hold no credentials."""
    return "".join(
        f"{k}: {v}\n" for k, v in (headers or {}).items() if str(k).lower() not in SECRET_HEADERS
    )


def _body_text(body: Any) -> str:
    if isinstance(body, bytes | bytearray):
        return bytes(body[:MAX_TEXT]).decode("utf-8", "replace")
    return "" if body is None else str(body)[:MAX_TEXT]


def traced_handler(recorder: Recorder) -> type:
    """``chalice local``'s request handler, each request a trace: its path,
    headers (credentials left out: ``SECRET_HEADERS``) and response headers
    and body are what trace ids are searched in. The trace ends just before
    the response is written, so a client that has the response finds it."""
    from chalice import local

    log = logging.getLogger("devstack.api")

    def done(trace: Any) -> None:
        """End ``trace`` (once) and print its line, what it logged under it."""
        if trace.done:
            return
        recorder.finish(trace)
        if recorder.console is not None:
            log.info(
                "request %-6s %-40s %s %.1fms%s",
                trace.detail.get("method"),
                trace.detail.get("path"),
                trace.outcome,
                trace.duration_ms,
                recorder.console.block([trace]),
            )

    class Handler(local.ChaliceRequestHandler):
        _trace: Any = None

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if recorder.console is None:  # else each request has its line (``done``)
                super().log_request(code, size)

        def _traced(self) -> None:
            trace = recorder.start(
                "http",
                HTTP_HANDLER,
                f"{self.command} {self.path}\n{_header_text(self.headers)}",
                method=self.command,
                path=self.path,
            )
            self._trace = trace
            try:
                self._generic_handle()
            except BaseException:
                if not trace.done:
                    trace.outcome = "error"
                raise
            finally:
                self._trace = None
                done(trace)

        def _send_http_response(self, code: int, headers: Any, body: Any) -> None:
            trace, self._trace = self._trace, None
            if trace is not None:
                trace.outcome = code
                trace.text += f"\n{code}\n{_header_text(headers)}\n{_body_text(body)}"
                done(trace)
            super()._send_http_response(code, headers, body)

        # chalice local binds every do_* to its _generic_handle: rebind them.
        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _traced  # noqa: N815

    return Handler


def name_the_api_function() -> None:
    """The context each request gets names its function as `chalice deploy`
    names the REST API's (``<app>-<stage>``), not chalice local's "api_handler"."""
    from chalice import local

    original = local.LocalGateway._generate_lambda_context
    if getattr(original, "devstack", False):
        return

    def lambda_context(self: Any) -> Any:
        context = original(self)
        context.function_name = f"{self._config.app_name}-{self._config.chalice_stage}"
        return context

    lambda_context.devstack = True  # type: ignore[attr-defined]
    local.LocalGateway._generate_lambda_context = lambda_context  # type: ignore[method-assign]


def start_server(config: Any, host: str, port: int, recorder: Recorder | None = None) -> Any:
    """Serve the app's routes in a background thread; returns the server
    (``recorder``: trace every request)."""
    from chalice import local
    from chalice.deploy.validate import validate_routes

    validate_routes(config.chalice_app.routes)
    name_the_api_function()
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
    handler_cls = traced_handler(recorder) if recorder is not None else local.ChaliceRequestHandler
    server = local.LocalDevServer(
        app, config, host, port, handler_cls=handler_cls, server_cls=Server
    )
    threading.Thread(target=server.server.serve_forever, name="api", daemon=True).start()
    return server.server
