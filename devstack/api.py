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

The stack's own read-only endpoints (``devstack.same_origin``: ``GET
/_devstack/status`` and ``/_devstack/trace/{id}``) are answered before the
app, on the same origin, untraced (``serve_same_origin``).

With a ``devstack.traces.Recorder``, each request is traced as an invocation
of the ``api`` handler (kind ``http``, outcome its status code): the log
records and EMF lines of the thread that serves it, from the request line
until its response is sent (authorizer included, as API Gateway's one request).

Where ``chalice local`` answers differently from a deployed REST API, the
``Gateway`` answers as API Gateway does (docs/DEVSTACK.md lists each case):

- a path no route has, or a method its route does not define (an OPTIONS
  included, unless a view of the route has CORS: then Chalice deploys a
  preflight), is 403 ``{"message":"Missing Authentication Token"}`` with
  ``x-amzn-ErrorType: MissingAuthenticationTokenException``, never the app's
  405; with an ``Authorization`` header, Gateway reads it as a broken SigV4
  signature: 403 ``IncompleteSignatureException``, naming the header only by
  its SHA-256 (``missing_route``);
- a route with ``api_key_required=True`` answers 403 ``{"message":"Forbidden"}``
  (``ForbiddenException``) unless ``x-api-key`` holds a valid key (after the
  authorizer, as on Gateway): any non-empty key, or when ``DEVSTACK_API_KEYS``
  is set (comma-separated), only one of those (``API_KEYS_ENV``);
- a base64 (binary) response is decoded only when the request's *first*
  ``Accept`` media type is one of the app's ``api.binary_types`` (Gateway's
  binaryMediaTypes, ``*`` wildcards allowed); otherwise the client gets the
  base64 text, as from Gateway. A request body is base64-encoded for the app
  when its ``Content-Type`` is one of them (any case of the header's name).

``isolate`` makes the project being run the one its ``app`` and ``chalicelib``
are imported from, whatever this process imported before.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from chalice import local

from devstack.same_origin import SameOrigin
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


# What Chalice deploys of a project besides its vendor/ folder: app.py and
# the chalicelib package. Another project's modules by these names must not
# stand in for them.
PROJECT_MODULES = ("app", "chalicelib")


def _project_module(name: str) -> bool:
    return name.split(".", 1)[0] in PROJECT_MODULES


def _module_files(module: Any) -> list[str]:
    files = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
    return [f for f in files if f]


def _inside(module: Any, root: Path) -> bool:
    files = _module_files(module)
    return bool(files) and all(Path(f).resolve().is_relative_to(root) for f in files)


def isolate(project_dir: Path) -> list[str]:
    """Make ``project_dir`` the first place imports look, and forget every
    ``app`` and ``chalicelib*`` module this process imported from elsewhere (a
    test process that loaded eventshop, a stack started from another project's
    folder): on Lambda the function's own are the only ones. Returns the
    names it dropped."""
    root = project_dir.resolve()
    sys.path[:] = [str(root), *(p for p in sys.path if Path(p or ".").resolve() != root)]
    dropped = [
        name
        for name, module in list(sys.modules.items())
        if _project_module(name) and not _inside(module, root)
    ]
    for name in dropped:
        del sys.modules[name]
    importlib.invalidate_caches()
    return dropped


def _check_isolated(root: Path) -> None:
    """Every ``app``/``chalicelib*`` module loaded is the project's own: a
    ``chalicelib`` without ``__init__.py`` is a namespace package, which a
    regular one elsewhere on sys.path would win over."""
    for name, module in list(sys.modules.items()):
        if _project_module(name) and not _inside(module, root):
            raise RuntimeError(
                f"{name} was imported from {', '.join(_module_files(module))}, not from "
                f"{root}: give {root / name.split('.')[0]} an __init__.py"
            )


def load_app(project_dir: Path, stage: str) -> Any:
    """Import the Chalice app as ``chalice local`` does: the stage's
    environment variables from .chalice/config.json are applied first; its
    ``app`` and ``chalicelib`` come from ``project_dir`` only (``isolate``)."""
    from chalice.cli.factory import CLIFactory

    root = project_dir.resolve()
    isolate(root)
    factory = CLIFactory(project_dir=str(root), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    config.chalice_app  # noqa: B018 - imports the app now (Config loads it lazily)
    _check_isolated(root)
    return config


# --- API Gateway's answers ----------------------------------------------------------

API_KEYS_ENV = "DEVSTACK_API_KEYS"
MISSING_TOKEN = b'{"message":"Missing Authentication Token"}'
FORBIDDEN = b'{"message":"Forbidden"}'


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """``headers[name]``, whatever the case of its name."""
    name = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == name), None)


def media_type_in(media_type: str | None, patterns: Iterable[str]) -> bool:
    """Whether ``media_type`` (parameters ignored) is one of ``patterns``,
    binaryMediaTypes entries in which ``*`` stands for anything."""
    kind = (media_type or "").split(";", 1)[0].strip().lower()
    return bool(kind) and any(
        re.fullmatch(".*".join(map(re.escape, p.strip().lower().split("*"))), kind)
        for p in patterns
    )


def first_accept(headers: Mapping[str, Any]) -> str | None:
    """The first media type of the request's Accept header: the only one
    API Gateway looks at to choose binary or text."""
    accept = header(headers, "accept")
    return accept.split(",", 1)[0] if accept else None


def api_keys(environ: Mapping[str, str]) -> frozenset[str] | None:
    """The valid API keys (``DEVSTACK_API_KEYS``, comma-separated); None: any
    non-empty key is valid."""
    keys = frozenset(k.strip() for k in environ.get(API_KEYS_ENV, "").split(",") if k.strip())
    return keys or None


def _digest(value: str) -> str:
    return base64.b64encode(hashlib.sha256(value.encode()).digest()).decode()


def missing_route(headers: Mapping[str, Any], request_id: str) -> local.ForbiddenError:
    """API Gateway's answer for a path or method the API does not define.

    With an ``Authorization`` header Gateway takes the request for a SigV4 one
    and says what its signature lacks, naming the header by its SHA-256 only."""
    auth = header(headers, "authorization")
    if auth is None:
        error_type, body = "MissingAuthenticationTokenException", MISSING_TOKEN
    else:
        _, _, params = auth.strip().partition(" ")
        if any("=" not in part for part in params.split(",")):
            message = (
                "Invalid key=value pair (missing equal-sign) in Authorization header "
                f"(hashed with SHA-256 and encoded with Base64): '{_digest(auth)}'."
            )
        else:
            message = (
                "Authorization header requires 'Credential' parameter. Authorization header "
                "requires 'Signature' parameter. Authorization header requires 'SignedHeaders' "
                "parameter. Authorization header requires existence of either a 'X-Amz-Date' "
                "or a 'Date' header. (Hashed with SHA-256 and encoded with Base64) "
                f"Authorization={_digest(auth)}"
            )
        error_type = "IncompleteSignatureException"
        body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return local.ForbiddenError(
        {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error_type}, body
    )


class _EventConverter(local.LambdaEventConverter):
    def _is_binary(self, headers: dict[str, Any]) -> bool:
        return media_type_in(header(headers, "content-type"), self._binary_types)


class Gateway(local.LocalGateway):
    """``chalice local``'s gateway with API Gateway's routing, API keys and
    request bodies (see the module's doc)."""

    def __init__(self, app_object: Any, config: Any, keys: frozenset[str] | None) -> None:
        super().__init__(app_object, config)
        self.keys = keys
        self.event_converter = _EventConverter(
            local.RouteMatcher(list(app_object.routes)), app_object.api.binary_types
        )

    def _key_ok(self, headers: Mapping[str, Any]) -> bool:
        key = header(headers, "x-api-key")
        return bool(key) and (self.keys is None or key in self.keys)

    def handle_request(
        self, method: str, path: str, headers: dict[str, Any], body: bytes | None
    ) -> Any:
        context = self._generate_lambda_context()
        try:
            event = self._generate_lambda_event(method, path, headers, body)
        except ValueError:
            raise missing_route(headers, context.aws_request_id) from None
        views = self._app_object.routes[event["requestContext"]["resourcePath"]]
        if method not in views:
            if method == "OPTIONS" and any(v.cors is not None for v in views.values()):
                # The preflight Chalice deploys beside CORS routes.
                preflight = self._autogen_options_headers(event)
                return {
                    "statusCode": 200,
                    "headers": preflight,
                    "multiValueHeaders": {},
                    "body": None,
                }
            raise missing_route(headers, context.aws_request_id)
        event, context = self._authorizer.authorize(path, event, context)
        if views[method].api_key_required and not self._key_ok(headers):
            raise local.ForbiddenError(
                {
                    "x-amzn-RequestId": context.aws_request_id,
                    "x-amzn-ErrorType": "ForbiddenException",
                },
                FORBIDDEN,
            )
        return self._app_object(event, context)


class GatewayHandler(local.ChaliceRequestHandler):
    """``chalice local``'s request handler on the ``Gateway``, decoding a
    binary response only for a client whose first Accept type is binary."""

    keys: frozenset[str] | None = None  # set per server (``start_server``)

    def __init__(
        self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any
    ) -> None:
        self.local_gateway = Gateway(app_object, config, self.keys)
        self._app = app_object
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def _handle_binary(self, response: dict[str, Any]) -> dict[str, Any]:
        if response.get("isBase64Encoded") and media_type_in(
            first_accept(dict(self.headers)), self._app.api.binary_types
        ):
            response["body"] = base64.b64decode(response["body"])
        return response

    def _same_origin(self) -> bool:
        """Answer a path of the stack's own endpoints (``serve_same_origin``)
        before the app; False when the path is the app's."""
        endpoints: SameOrigin | None = getattr(self.server, "same_origin", None)
        reply = endpoints.answer(self.command, self.path) if endpoints is not None else None
        if reply is None:
            return False
        self._parse_payload()  # read any body: the connection stays usable
        code, body = reply
        headers: dict[str, Any] = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        if code == 405:
            headers["Allow"] = "GET"
        text = None if self.command == "HEAD" else json.dumps(body, default=str)
        self._send_http_response(code, headers, text)
        return True

    def _handle(self) -> None:
        if not self._same_origin():
            self._generic_handle()

    # chalice local binds every do_* to its _generic_handle: rebind them.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle  # noqa: N815


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

    class Handler(GatewayHandler):
        _trace: Any = None

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if recorder.console is None:  # else each request has its line (``done``)
                super().log_request(code, size)

        def _traced(self) -> None:
            if self._same_origin():  # the stack's own: no invocation of the app
                return
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
    original = local.LocalGateway._generate_lambda_context
    if getattr(original, "devstack", False):
        return

    def lambda_context(self: Any) -> Any:
        context = original(self)
        context.function_name = f"{self._config.app_name}-{self._config.chalice_stage}"
        return context

    lambda_context.devstack = True  # type: ignore[attr-defined]
    local.LocalGateway._generate_lambda_context = lambda_context  # type: ignore[method-assign]


def serve_same_origin(server: Any, endpoints: SameOrigin) -> None:
    """``server`` (``start_server``'s) answers ``devstack.same_origin``'s
    paths from now on, before the app."""
    server.same_origin = endpoints


def start_server(config: Any, host: str, port: int, recorder: Recorder | None = None) -> Any:
    """Serve the app's routes in a background thread; returns the server
    (``recorder``: trace every request; ``DEVSTACK_API_KEYS``: ``api_keys``)."""
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
    base = traced_handler(recorder) if recorder is not None else GatewayHandler
    handler_cls = type("Handler", (base,), {"keys": api_keys(os.environ)})
    server = local.LocalDevServer(
        app, config, host, port, handler_cls=handler_cls, server_cls=Server
    )
    threading.Thread(target=server.server.serve_forever, name="api", daemon=True).start()
    return server.server
